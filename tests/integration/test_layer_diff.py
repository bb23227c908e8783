"""write_diff: changes made in a mounted overlay become a layer that reproduces them."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tarfile

import pytest

from skiff.errors import EngineError
from skiff.images.layer import apply_layer
from skiff.storage.diff import write_diff
from tests.integration.test_layer_apply import apply_bytes, make_tar, member, overlay, snapshot


def _lower(tmp_path):
    lower = tmp_path / "l1"
    apply_bytes(
        make_tar(
            member("etc", "dir"),
            member("etc/config", data=b"v1"),
            member("etc/keep", data=b"keep"),
            member("bin", "dir"),
            member("bin/tool", data=b"#!/bin/sh\n", mode=0o755),
            member("data", "dir", mode=0o750, uid=1000, gid=1000),
            member("data/old", "dir"),
            member("data/old/a", data=b"a"),
            member("data/old/b", data=b"b"),
            member("data/gone", "dir"),
            member("data/gone/x", data=b"x"),
            member("todelete.txt", data=b"bye"),
            member("chmodme", data=b"c"),
            member("lowerlink", "symlink", linkname="etc/config"),
        ),
        lower,
    )
    return lower


def _change(merged):
    """A container's changes, made through the overlay mount."""
    (merged / "newdir").mkdir()
    (merged / "newdir/newfile").write_bytes(b"new")
    os.link(merged / "newdir/newfile", merged / "newdir/hardlink")
    (merged / "etc/config").write_bytes(b"v2")  # modify a lower file
    os.unlink(merged / "todelete.txt")  # delete a lower file: a whiteout
    shutil.rmtree(merged / "data/gone")  # delete a lower directory: a whiteout
    shutil.rmtree(merged / "data/old")  # replace a lower directory: opaque
    (merged / "data/old").mkdir(mode=0o700)
    (merged / "data/old/c").write_bytes(b"c")
    os.chown(merged / "chmodme", 1000, 1000)
    os.chmod(merged / "chmodme", 0o4755)
    os.setxattr(merged / "etc/keep", "user.note", b"hello")
    os.setxattr(merged / "etc/keep", "trusted.skiff", b"\x00\x01binary")
    os.symlink("../etc/config", merged / "newdir/sym")
    os.mkfifo(merged / "newdir/fifo", 0o640)
    os.mknod(merged / "newdir/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.unlink(merged / "bin/tool")  # a file replaced by a directory
    (merged / "bin/tool").mkdir()
    (merged / "bin/tool/inside").write_bytes(b"i")
    long_dir = merged / ("long" * 30) / ("name" * 30)
    long_dir.mkdir(parents=True)
    (long_dir / ("file" * 20)).write_bytes(b"long")


def _upper_order(name):
    """Entries come in the upper directory's order: sorted names, a directory before its
    contents, a whiteout where the name it hides is, an opaque marker first in its dir."""
    parts = name.encode().split(b"/")
    last = parts[-1]
    if last == b".wh..wh..opq":
        parts[-1] = b""
    elif last.startswith(b".wh."):
        parts[-1] = last[4:]
    return parts


def test_diff_round_trip(tmp_path):
    lower = _lower(tmp_path)
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    with overlay(tmp_path / "m1", [lower], upper, work) as merged:
        _change(merged)
        expected = snapshot(merged)
        ino = os.lstat(merged / "newdir/newfile").st_ino
        assert os.lstat(merged / "newdir/hardlink").st_ino == ino
    assert os.getxattr(upper / "data/old", "trusted.overlay.opaque") == b"y"

    out = io.BytesIO()
    result = write_diff(str(upper), out)
    tar = out.getvalue()
    assert result.size == len(tar)
    assert result.digest == "sha256:" + hashlib.sha256(tar).hexdigest()
    # whiteouts: todelete.txt, data/gone; opaque: data/old, and bin/tool (a directory
    # made where overlay had a whiteout of the file)
    assert result.whiteouts == 2 and result.opaque_dirs == 2

    again = io.BytesIO()
    assert write_diff(str(upper), again).digest == result.digest  # deterministic
    assert again.getvalue() == tar

    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        members = tf.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names, key=_upper_order)
    assert ".wh.todelete.txt" in names and "data/.wh.gone" in names
    assert "bin/tool/.wh..wh..opq" in names
    assert names.index("data/old/.wh..wh..opq") == names.index("data/old") + 1
    assert all("trusted.overlay" not in k for m in members for k in m.pax_headers)
    assert all(m.uname == "" and m.gname == "" for m in members)
    links = [m for m in members if m.islnk()]
    assert [(m.name, m.linkname) for m in links] == [("newdir/newfile", "newdir/hardlink")]

    layer2 = tmp_path / "l2"
    layer2.mkdir()
    apply_layer(io.BytesIO(tar), str(layer2))
    with overlay(tmp_path / "m2", [layer2, lower]) as merged:
        got = snapshot(merged)
        assert (
            os.lstat(merged / "newdir/hardlink").st_ino
            == os.lstat(merged / "newdir/newfile").st_ino
        )
    assert got == expected


def test_diff_keeps_whole_second_mtimes(tmp_path):
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "f").write_bytes(b"x")
    os.utime(upper / "f", ns=(0, 1_600_000_000_999_999_999))
    out = io.BytesIO()
    write_diff(str(upper), out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        (m,) = tf.getmembers()
    assert m.mtime == 1_600_000_000 and "mtime" not in m.pax_headers


def test_xattr_whiteouts_are_whiteouts(tmp_path):
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "gone").write_bytes(b"")
    os.setxattr(upper / "gone", "trusted.overlay.whiteout", b"y")
    out = io.BytesIO()
    result = write_diff(str(upper), out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        assert tf.getnames() == [".wh.gone"]
    assert result.whiteouts == 1


def test_sockets_are_skipped(tmp_path):
    import socket

    upper = tmp_path / "upper"
    upper.mkdir()
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(upper / "sock"))
        (upper / "f").write_bytes(b"x")
        out = io.BytesIO()
        write_diff(str(upper), out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        assert tf.getnames() == ["f"]


@pytest.mark.parametrize("key", ["trusted.overlay.redirect", "trusted.overlay.metacopy"])
def test_upper_dirs_that_need_lower_data_are_refused(tmp_path, key):
    upper = tmp_path / "upper"
    (upper / "d").mkdir(parents=True)
    (upper / "f").write_bytes(b"")
    os.setxattr(upper / ("d" if key.endswith("redirect") else "f"), key, b"/x")
    with pytest.raises(EngineError, match="lower layer"):
        write_diff(str(upper), io.BytesIO())


def test_empty_upper_is_an_empty_layer(tmp_path):
    upper = tmp_path / "upper"
    upper.mkdir()
    out = io.BytesIO()
    result = write_diff(str(upper), out)
    assert out.getvalue() == bytes(1024) and result.entries == 0
