"""Applying layer tars (made by Python's tarfile) into per-layer dirs, seen through overlayfs."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from skiff.images import layer as layer_module
from skiff.images.layer import (
    LayerError,
    apply_layer,
    apply_layer_file,
    region_digest,
)
from skiff.linux.mount import MNT_DETACH, mount, umount

T0 = 1_600_000_000


# -- helpers (also used by test_layer_diff) ----------------------------------------------


def member(name, kind="file", data=b"", **attrs):
    """A (TarInfo, data) pair; ``kind``: file dir symlink link chr blk fifo."""
    ti = tarfile.TarInfo(name)
    ti.type = {
        "file": tarfile.REGTYPE,
        "dir": tarfile.DIRTYPE,
        "symlink": tarfile.SYMTYPE,
        "link": tarfile.LNKTYPE,
        "chr": tarfile.CHRTYPE,
        "blk": tarfile.BLKTYPE,
        "fifo": tarfile.FIFOTYPE,
    }[kind]
    ti.mtime = T0
    ti.mode = 0o755 if kind == "dir" else 0o644
    if kind == "file":
        ti.size = len(data)
    pax = attrs.pop("pax", None)
    for key, value in attrs.items():
        setattr(ti, key, value)
    if pax:
        ti.pax_headers = pax
    return ti, (data if kind == "file" else None)


def make_tar(*members, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def apply_bytes(data, target, **kwargs):
    os.makedirs(target, exist_ok=True)
    return apply_layer(io.BytesIO(data), str(target), **kwargs)


@contextlib.contextmanager
def overlay(target, lowers, upper=None, work=None):
    """Mount overlayfs (lowers top first); always unmounted, even on failure."""
    options = "lowerdir=" + ":".join(str(p) for p in lowers)
    if upper is not None:
        options += f",upperdir={upper},workdir={work}"
    options += ",redirect_dir=off,metacopy=off,index=off"
    os.makedirs(target, exist_ok=True)
    mount("overlay", str(target), "overlay", 0, options)
    try:
        yield Path(target)
    finally:
        try:
            umount(str(target))
        except OSError:
            umount(str(target), MNT_DETACH)


def snapshot(root):
    """path -> (kind, mode, uid, gid, content digest / link target / device, user+trusted
    xattrs) for everything below ``root``."""
    found = {}
    root = str(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            mode = st.st_mode
            if stat.S_ISREG(mode):
                with open(path, "rb") as f:
                    what = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(mode):
                what = os.readlink(path)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                what = (os.major(st.st_rdev), os.minor(st.st_rdev))
            else:
                what = None
            xattrs = {}
            if not stat.S_ISLNK(mode):
                for key in os.listxattr(path, follow_symlinks=False):
                    if not key.startswith("trusted.overlay."):
                        xattrs[key] = os.getxattr(path, key, follow_symlinks=False)
            found[os.path.relpath(path, root)] = (
                stat.S_IFMT(mode),
                stat.S_IMODE(mode),
                st.st_uid,
                st.st_gid,
                what,
                tuple(sorted(xattrs.items())),
            )
    return found


def listing(path):
    """Everything below ``path`` with kind and content, to prove nothing was written."""
    return snapshot(path) | {".": os.listdir(path)}


# -- every kind of member ----------------------------------------------------------------


def test_file_kinds_ownership_modes_times_xattrs(tmp_path):
    long_pax = "deep/" + "/".join(["p" * 60] * 5) + "/file"  # > 256 bytes: PAX path
    data = make_tar(
        member("dir", "dir", mode=0o750, uid=1000, gid=1001, mtime=T0 + 1),
        member("dir/setuid", data=b"#!/bin/sh\n", mode=0o4755, uid=1000, gid=1000),
        member("dir/setgid", data=b"x", mode=0o2711, uid=0, gid=50),
        member("sticky", "dir", mode=0o1777),
        member("sticky/private", data=b"secret", mode=0o600, uid=33, gid=33),
        member("abs-link", "symlink", linkname="/etc/passwd", uid=7, gid=8, mtime=T0 + 2),
        member("rel-link", "symlink", linkname="dir/setuid"),
        member("hard", "link", linkname="dir/setuid"),
        member("null", "chr", devmajor=1, devminor=3, mode=0o666),
        member("loop", "blk", devmajor=7, devminor=0, mode=0o660, gid=6),
        member("fifo", "fifo", mode=0o620),
        member(
            "xattrs",
            data=b"caps",
            mode=0o755,
            pax={
                "SCHILY.xattr.user.comment": "hello",
                "SCHILY.xattr.trusted.skiff": "t",
                "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00"
                "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
                "SCHILY.xattr.trusted.overlay.opaque": "y",  # dropped: would steer overlayfs
            },
        ),
        member(
            "times",
            data=b"t",
            pax={"mtime": f"{T0}.123456789", "atime": f"{T0 + 100}.5"},
        ),
        member(long_pax, data=b"long"),
        member("empty", data=b""),
    )
    target = tmp_path / "layer"
    result = apply_bytes(data, target)

    def st(name):
        return os.lstat(target / name)

    assert stat.S_IMODE(st("dir").st_mode) == 0o750
    assert (st("dir").st_uid, st("dir").st_gid) == (1000, 1001)
    assert st("dir").st_mtime == T0 + 1  # restored after its contents were written
    assert stat.S_IMODE(st("dir/setuid").st_mode) == 0o4755  # chmod after chown
    assert (st("dir/setuid").st_uid, st("dir/setuid").st_gid) == (1000, 1000)
    assert stat.S_IMODE(st("dir/setgid").st_mode) == 0o2711 and st("dir/setgid").st_gid == 50
    assert stat.S_IMODE(st("sticky").st_mode) == 0o1777
    assert (target / "sticky/private").read_bytes() == b"secret"
    assert st("sticky/private").st_uid == 33
    assert os.readlink(target / "abs-link") == "/etc/passwd"
    assert (st("abs-link").st_uid, st("abs-link").st_gid) == (7, 8)
    assert st("abs-link").st_mtime == T0 + 2  # lutimes
    assert os.readlink(target / "rel-link") == "dir/setuid"
    assert st("hard").st_ino == st("dir/setuid").st_ino and st("hard").st_nlink == 2
    assert stat.S_ISCHR(st("null").st_mode) and st("null").st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(st("null").st_mode) == 0o666
    assert stat.S_ISBLK(st("loop").st_mode) and st("loop").st_rdev == os.makedev(7, 0)
    assert stat.S_ISFIFO(st("fifo").st_mode) and stat.S_IMODE(st("fifo").st_mode) == 0o620
    x = str(target / "xattrs")
    assert os.getxattr(x, "user.comment") == b"hello"
    assert os.getxattr(x, "trusted.skiff") == b"t"
    assert os.getxattr(x, "security.capability")[:4] == b"\x01\x00\x00\x02"
    assert "trusted.overlay.opaque" not in os.listxattr(x)
    assert st("times").st_mtime_ns == T0 * 10**9 + 123456789
    assert st("times").st_atime_ns == (T0 + 100) * 10**9 + 500_000_000
    assert (target / long_pax).read_bytes() == b"long"
    assert st("empty").st_size == 0
    assert result.files == 7 and result.hardlinks == 1 and result.symlinks == 2
    assert result.devices == 3
    assert result.dirs == 2 + 6  # dir, sticky + the implied parents of the long name
    assert result.data_bytes == len(b"#!/bin/sh\n" + b"x" + b"secret" + b"caps" + b"t" + b"long")
    assert result.xattrs_skipped == 1
    assert result.tar_size <= len(data)
    du = subprocess.run(
        ["du", "-s", "--block-size=1", str(target)], capture_output=True, text=True, check=True
    )
    assert result.disk_usage == int(du.stdout.split()[0])


def _tree_with_times(root):
    """snapshot() plus link counts and the modification times of non-directories (GNU tar
    restores a directory's time when it leaves it, so a later file written in it, in a tar
    that is not in directory order, changes it again)."""
    found = snapshot(root)
    for path in list(found):
        st = os.lstat(os.path.join(root, path))
        found[path] += (None if stat.S_ISDIR(st.st_mode) else st.st_mtime_ns, st.st_nlink)
    return found


@pytest.mark.parametrize("without_openat2", [False, True])
def test_many_directories_in_random_order_match_gnu_tar(tmp_path, monkeypatch, without_openat2):
    """More directories than the descriptor cache holds, their files in random order:
    the same tree as GNU tar extracts (owners, modes, contents, times, links)."""
    if without_openat2:
        monkeypatch.setattr(layer_module, "_openat2_missing", True)
    rnd = random.Random(7)
    dirs = [f"d{i // 30:02}/s{i:03}" for i in range(700)]
    members = [member(f"d{i:02}", "dir", mode=0o751, mtime=T0 + i) for i in range(24)]
    members += [
        member(d, "dir", mode=rnd.choice([0o700, 0o755, 0o2775]), uid=i % 5, mtime=T0 + i)
        for i, d in enumerate(dirs)
    ]
    files = [(rnd.choice(dirs), n) for n in range(3000)]
    rnd.shuffle(files)
    for d, n in files:
        members.append(
            member(
                f"{d}/f{n}",
                data=rnd.randbytes(rnd.randint(0, 3000)),
                mode=rnd.choice([0o644, 0o600, 0o4755, 0o640]),
                uid=n % 3,
                gid=n % 4,
                mtime=T0 - n,
            )
        )
    d, n = files[0]
    members.append(member("hardlink", "link", linkname=f"{d}/f{n}"))
    members.append(member("symlink", "symlink", linkname=f"{d}/f{n}", mtime=T0 + 9))
    data = make_tar(*members)
    blob = tmp_path / "layer.tar"
    blob.write_bytes(data)
    ours = tmp_path / "ours"
    result = apply_bytes(data, ours)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    subprocess.run(["tar", "-xf", str(blob), "-C", str(theirs)], check=True)
    assert _tree_with_times(ours) == _tree_with_times(theirs)
    for i, d in enumerate(dirs):  # restored at the end, after every file was written
        assert os.stat(ours / d).st_mtime == T0 + i
    assert result.files == 3000 and result.dirs == 724
    du = subprocess.run(
        ["du", "-s", "--block-size=1", str(ours)], capture_output=True, text=True, check=True
    )
    assert result.disk_usage == int(du.stdout.split()[0])


def test_gnu_format_long_names_and_base256_ids(tmp_path):
    long_name = "g" * 120 + "/" + "h" * 120
    data = make_tar(
        member(long_name, data=b"gnu", uid=3_000_000, gid=2_500_000),
        member("l" * 130, "symlink", linkname="t" * 200),
        member("hl", "link", linkname=long_name),
        fmt=tarfile.GNU_FORMAT,
    )
    target = tmp_path / "layer"
    apply_bytes(data, target)
    st = os.lstat(target / long_name)
    assert (st.st_uid, st.st_gid) == (3_000_000, 2_500_000)
    assert (target / long_name).read_bytes() == b"gnu"
    assert os.readlink(target / ("l" * 130)) == "t" * 200
    assert os.lstat(target / "hl").st_ino == st.st_ino


def test_absolute_names_are_made_relative(tmp_path):
    data = make_tar(member("/etc/", "dir"), member("/etc/skiff-layer-test", data=b"inside"))
    target = tmp_path / "layer"
    apply_bytes(data, target)
    assert (target / "etc/skiff-layer-test").read_bytes() == b"inside"
    assert not os.path.exists("/etc/skiff-layer-test")


def test_missing_parents_are_created(tmp_path):
    target = tmp_path / "layer"
    apply_bytes(make_tar(member("a/b/c/file", data=b"x")), target)
    assert (target / "a/b/c/file").read_bytes() == b"x"
    assert stat.S_IMODE(os.stat(target / "a/b").st_mode) == 0o755


def test_root_entry_sets_the_layer_root(tmp_path):
    target = tmp_path / "layer"
    apply_bytes(make_tar(member("./", "dir", mode=0o711, mtime=T0 + 5), member("f")), target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o711
    assert os.stat(target).st_mtime == T0 + 5


def test_later_member_replaces_earlier(tmp_path):
    data = make_tar(
        member("a", data=b"file first"),
        member("a", "dir", mode=0o700),  # a directory replaces the file
        member("a/inside", data=b"1"),
        member("b", "dir"),
        member("b/child", data=b"c"),
        member("b", data=b"file over dir"),  # a file replaces the directory tree
        member("c", "symlink", linkname="/etc"),
        member("c", "dir"),  # a directory replaces the symlink: nothing written in /etc
        member("c/x", data=b"in c"),
        member("d", "dir", mode=0o700),
        member("d/keep", data=b"k"),
        member("d", "dir", mode=0o755, uid=5),  # a directory over a directory: kept
        member("e", data=b"old"),
        member("e", data=b"new"),
    )
    target = tmp_path / "layer"
    result = apply_bytes(data, target)
    assert (target / "a/inside").read_bytes() == b"1"
    assert (target / "b").read_bytes() == b"file over dir"
    assert (target / "c/x").read_bytes() == b"in c" and not os.path.islink(target / "c")
    assert (target / "d/keep").read_bytes() == b"k"
    assert stat.S_IMODE(os.stat(target / "d").st_mode) == 0o755
    assert os.stat(target / "d").st_uid == 5
    assert (target / "e").read_bytes() == b"new"
    du = subprocess.run(
        ["du", "-s", "--block-size=1", str(target)], capture_output=True, text=True, check=True
    )
    assert result.disk_usage == int(du.stdout.split()[0])


# -- whiteouts, seen through overlayfs ---------------------------------------------------


def test_whiteouts_and_opaque_directories_in_the_merged_view(tmp_path):
    l1 = tmp_path / "l1"
    l2 = tmp_path / "l2"
    apply_bytes(
        make_tar(
            member("a", "dir"),
            member("a/x", data=b"x"),
            member("a/y", data=b"y"),
            member("d", "dir"),
            member("d/1", data=b"1"),
            member("d/2", data=b"2"),
            member("gone", "dir"),
            member("gone/deep", data=b"deep"),
            member("keep", data=b"keep"),
        ),
        l1,
    )
    result = apply_bytes(
        make_tar(
            member("a", "dir"),
            member("a/.wh.x", data=b""),
            member("d", "dir"),
            member("d/.wh..wh..opq", data=b""),
            member("d/3", data=b"3"),
            member(".wh.gone", data=b""),
        ),
        l2,
    )
    assert result.whiteouts == 2 and result.opaque_dirs == 1
    wh = os.lstat(l2 / "a/x")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    assert os.getxattr(l2 / "d", "trusted.overlay.opaque") == b"y"
    assert not (l2 / "a/.wh.x").exists()
    with overlay(tmp_path / "merged", [l2, l1]) as merged:
        assert sorted(os.listdir(merged / "a")) == ["y"]
        assert sorted(os.listdir(merged / "d")) == ["3"]
        assert not (merged / "gone").exists()
        assert (merged / "keep").read_bytes() == b"keep"


def test_whiteout_and_name_in_the_same_layer(tmp_path):
    """OCI: a whiteout hides lower layers only; the same layer's entry stays. A directory of
    this layer over a whiteout (either order) hides the lower directory's contents."""
    l1 = tmp_path / "l1"
    l2 = tmp_path / "l2"
    apply_bytes(
        make_tar(
            member("f1", data=b"lower"),
            member("f2", data=b"lower"),
            member("d1", "dir"),
            member("d1/old", data=b"o"),
            member("d2", "dir"),
            member("d2/old", data=b"o"),
        ),
        l1,
    )
    apply_bytes(
        make_tar(
            member(".wh.f1", data=b""),
            member("f1", data=b"upper"),
            member("f2", data=b"upper"),
            member(".wh.f2", data=b""),
            member(".wh.d1", data=b""),
            member("d1", "dir"),
            member("d1/new", data=b"n"),
            member("d2", "dir"),
            member("d2/new", data=b"n"),
            member(".wh.d2", data=b""),
        ),
        l2,
    )
    with overlay(tmp_path / "merged", [l2, l1]) as merged:
        assert (merged / "f1").read_bytes() == b"upper"
        assert (merged / "f2").read_bytes() == b"upper"
        assert os.listdir(merged / "d1") == ["new"]
        assert os.listdir(merged / "d2") == ["new"]


def test_lower_layer_symlink_is_not_followed(tmp_path):
    """A symlink planted by a lower layer is not in this layer's directory: a later layer's
    file under its name lands in the layer (under an implied directory), never through the
    symlink; overlayfs then shows that directory in place of the symlink."""
    outside = tmp_path / "outside"
    outside.mkdir()
    l1 = tmp_path / "l1"
    l2 = tmp_path / "l2"
    apply_bytes(make_tar(member("link", "symlink", linkname=str(outside))), l1)
    apply_bytes(make_tar(member("link/file", data=b"in layer")), l2)
    assert os.listdir(outside) == []
    assert (l2 / "link/file").read_bytes() == b"in layer"
    with overlay(tmp_path / "merged", [l2, l1]) as merged:
        assert not os.path.islink(merged / "link")
        assert os.listdir(merged / "link") == ["file"]


# -- refusals ----------------------------------------------------------------------------

OUTSIDE = "@OUTSIDE@"  # replaced by the absolute path of the directory next to the target


def _malicious(name):
    cases = {
        "dotdot": [member("../x", data=b"evil")],
        "dotdot-deep": [member("a/../../x", data=b"evil")],
        "dotdot-dir": [member("../newdir", "dir")],
        "symlink-then-file": [
            member("link", "symlink", linkname="../outside"),
            member("link/x", data=b"evil"),
        ],
        "abs-symlink-then-file": [
            member("link", "symlink", linkname=OUTSIDE),
            member("link/x", data=b"evil"),
        ],
        "abs-symlink-then-dir": [
            member("link", "symlink", linkname=OUTSIDE),
            member("link/sub", "dir"),
        ],
        "symlink-then-deep-file": [
            member("d", "dir"),
            member("d/up", "symlink", linkname="../.."),
            member("d/up/outside/x", data=b"evil"),
        ],
        "symlink-then-whiteout": [
            member("link", "symlink", linkname=OUTSIDE),
            member("link/.wh.secret", data=b""),
        ],
        "symlink-then-opaque": [
            member("link", "symlink", linkname=OUTSIDE),
            member("link/.wh..wh..opq", data=b""),
        ],
        "symlink-then-device": [
            member("link", "symlink", linkname=OUTSIDE),
            member("link/null", "chr", devmajor=1, devminor=3),
        ],
        "hardlink-escape": [member("h", "link", linkname="../outside/secret")],
        "hardlink-absolute-escape": [member("h", "link", linkname="/../outside/secret")],
        "hardlink-missing": [member("h", "link", linkname="not/there")],
        "hardlink-missing-file": [member("h", "link", linkname="nothere")],
        "hardlink-through-symlink": [
            member("link", "symlink", linkname=OUTSIDE),
            member("h", "link", linkname="link/secret"),
        ],
        "hardlink-to-directory": [member("d", "dir"), member("h", "link", linkname="d")],
        "bad-whiteout": [member(".wh..wh.plnk", data=b"")],
        "empty-whiteout": [member("a/.wh.", data=b"")],
        "whiteout-parent": [member(".wh.x/file", data=b"")],
        "root-as-file": [member(".", data=b"x")],
        "root-as-symlink": [member("/", "symlink", linkname=OUTSIDE)],
    }
    return cases[name]


MALICIOUS = [
    "dotdot",
    "dotdot-deep",
    "dotdot-dir",
    "symlink-then-file",
    "abs-symlink-then-file",
    "abs-symlink-then-dir",
    "symlink-then-deep-file",
    "symlink-then-whiteout",
    "symlink-then-opaque",
    "symlink-then-device",
    "hardlink-escape",
    "hardlink-absolute-escape",
    "hardlink-missing",
    "hardlink-missing-file",
    "hardlink-through-symlink",
    "hardlink-to-directory",
    "bad-whiteout",
    "empty-whiteout",
    "whiteout-parent",
    "root-as-file",
    "root-as-symlink",
]


@pytest.mark.parametrize("case", MALICIOUS)
@pytest.mark.parametrize("mode", ["stream", "source_fd", "without-openat2"])
def test_malicious_layers_are_refused(tmp_path, monkeypatch, case, mode):
    """Refused, with a one-line message, and nothing written outside the target. The
    ``without-openat2`` runs take the component-by-component path used where openat2 is
    missing or filtered (ENOSYS/EPERM)."""
    if mode == "without-openat2":
        monkeypatch.setattr(layer_module, "_openat2_missing", True)
    parent = tmp_path / "parent"
    target = parent / "target"
    outside = parent / "outside"
    target.mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    members = []
    for ti, data in _malicious(case):
        if ti.linkname == OUTSIDE:
            ti.linkname = str(outside)
        members.append((ti, data))
    data = make_tar(*members)
    blob = tmp_path / "blob"
    blob.write_bytes(data)
    before_parent = listing(parent / "outside") | {"..": sorted(os.listdir(parent))}
    before_tmp = sorted(os.listdir(tmp_path))
    with pytest.raises(LayerError) as info:
        if mode != "source_fd":
            apply_layer(io.BytesIO(data), str(target))
        else:
            fd = os.open(blob, os.O_RDONLY)
            try:
                apply_layer(None, str(target), source_fd=fd)
            finally:
                os.close(fd)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("layer member '"), message
    assert listing(parent / "outside") | {"..": sorted(os.listdir(parent))} == before_parent
    assert sorted(os.listdir(tmp_path)) == before_tmp
    assert (outside / "secret").read_bytes() == b"secret"


def test_refusal_messages_name_the_member(tmp_path):
    target = tmp_path / "t"
    target.mkdir()
    with pytest.raises(LayerError, match=r"^layer member '\.\./x': path escapes the layer root$"):
        apply_layer(io.BytesIO(make_tar(member("../x"))), str(target))
    with pytest.raises(LayerError, match=r"^layer member 'link/x': path goes through a symlink$"):
        apply_layer(
            io.BytesIO(make_tar(member("link", "symlink", linkname="/"), member("link/x"))),
            str(target),
        )
    with pytest.raises(
        LayerError,
        match=r"^layer member 'h': hard link target 'nothere' does not exist in this layer$",
    ):
        apply_layer(io.BytesIO(make_tar(member("h", "link", linkname="nothere"))), str(target))


def test_symlink_to_etc_then_file_writes_nothing_in_etc(tmp_path):
    before = sorted(os.listdir("/etc"))
    data = make_tar(
        member("link", "symlink", linkname="/etc"),
        member("link/skiff-layer-escape-test", data=b"evil"),
    )
    with pytest.raises(LayerError, match="symlink"):
        apply_bytes(data, tmp_path / "layer")
    assert sorted(os.listdir("/etc")) == before


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x1f\x8b\x08\x00" + b"\0" * 2044, "checksum"),  # still compressed
        (make_tar(member("big", data=b"x" * 10000))[:3000], "unexpected end"),
        (make_tar(member("sparse", pax={"GNU.sparse.major": "1"})), "sparse"),
    ],
)
def test_malformed_tars(tmp_path, data, match):
    with pytest.raises(LayerError, match=match) as info:
        apply_bytes(data, tmp_path / "layer")
    assert "\n" not in str(info.value)


# -- the source_fd path and the hashing contract -----------------------------------------


def _sample_tar():
    return make_tar(
        member("dir", "dir", mode=0o750),
        member("dir/small", data=b"s" * 3000),
        member("dir/big", data=os.urandom(5 << 20), mode=0o4755, uid=1000),
        member("dir/mid", data=os.urandom(100_000)),
        member("hard", "link", linkname="dir/big"),
        member("sym", "symlink", linkname="dir/small"),
        member("fifo", "fifo"),
    )


def test_source_fd_gives_the_same_tree_and_leaves_the_fd_alone(tmp_path):
    data = _sample_tar()
    blob = tmp_path / "blob"
    blob.write_bytes(b"prefix" * 1000 + data)
    offset = 6000
    apply_bytes(data, tmp_path / "streamed")
    fd = os.open(blob, os.O_RDONLY)
    try:
        os.lseek(fd, 123, os.SEEK_SET)
        (tmp_path / "copied").mkdir()
        result = apply_layer(None, str(tmp_path / "copied"), source_fd=fd, source_offset=offset)
        assert os.lseek(fd, 0, os.SEEK_CUR) == 123
        assert region_digest(fd, offset) == "sha256:" + hashlib.sha256(data).hexdigest()
    finally:
        os.close(fd)
    assert snapshot(tmp_path / "copied") == snapshot(tmp_path / "streamed")
    assert result.files == 3 and result.hardlinks == 1
    assert result.tar_size <= len(data)


def test_source_fd_leaves_a_seekable_stream_at_its_end(tmp_path):
    data = _sample_tar()
    blob = tmp_path / "blob"
    blob.write_bytes(data)
    (tmp_path / "out").mkdir()
    with open(blob, "rb") as f:
        apply_layer(f, str(tmp_path / "out"), source_fd=f.fileno())
        assert f.read() == b""


def test_apply_layer_file_checks_the_digest(tmp_path):
    data = _sample_tar()
    blob = tmp_path / "blob"
    blob.write_bytes(data)
    good = "sha256:" + hashlib.sha256(data).hexdigest()
    fd = os.open(blob, os.O_RDONLY)
    try:
        (tmp_path / "a").mkdir()
        result, digest = apply_layer_file(fd, str(tmp_path / "a"), expected=good)
        assert digest == good and result.files == 3
        (tmp_path / "b").mkdir()
        with pytest.raises(LayerError, match="digest mismatch"):
            apply_layer_file(fd, str(tmp_path / "b"), expected="sha256:" + "0" * 64)
    finally:
        os.close(fd)


def test_stream_is_read_to_its_end_through_the_callers_hash(tmp_path):
    data = _sample_tar() + b"\0" * 4096 + b"junk after the end"

    class Hashing(io.RawIOBase):
        def __init__(self, raw):
            self.raw = raw
            self.hash = hashlib.sha256()

        def readable(self):
            return True

        def readinto(self, buffer):
            n = self.raw.readinto(buffer)
            self.hash.update(memoryview(buffer)[:n])
            return n

    stream = Hashing(io.BytesIO(data))
    (tmp_path / "out").mkdir()
    apply_layer(stream, str(tmp_path / "out"))
    assert stream.hash.hexdigest() == hashlib.sha256(data).hexdigest()


def test_copy_file_range_across_filesystems_falls_back(tmp_path):
    """A blob on another filesystem (here a tmpfs): copy_file_range fails with EXDEV and
    the data goes through the buffer instead."""
    data = _sample_tar()
    shm = tmp_path / "shm"
    shm.mkdir()
    mount("tmpfs", str(shm), "tmpfs", 0, "size=64m")
    try:
        (shm / "blob").write_bytes(data)
        fd = os.open(shm / "blob", os.O_RDONLY)
        try:
            (tmp_path / "out").mkdir()
            apply_layer(None, str(tmp_path / "out"), source_fd=fd)
        finally:
            os.close(fd)
    finally:
        umount(str(shm))
    apply_bytes(data, tmp_path / "ref")
    assert snapshot(tmp_path / "out") == snapshot(tmp_path / "ref")
