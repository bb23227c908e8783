"""``-u`` and ``--group-add`` against an image's passwd and group files (runc's rules)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from skiff.engine.userinfo import (
    ResolvedUser,
    read_rootfs_file,
    resolve_user,
    resolve_user_in_rootfs,
)
from skiff.errors import InvalidArgument

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
broken:x:abc:xyz::/broken
"""
GROUP = """root:x:0:
# a comment
tty:x:5:app
wheel:x:10:root,app
app:x:1000:
nogroup:x:65534:
"""


@pytest.mark.parametrize(
    ("spec", "uid", "gid", "gids", "home"),
    [
        ("", 0, 0, [0, 10], "/root"),  # root is a member of wheel
        ("root", 0, 0, [0, 10], "/root"),
        ("0", 0, 0, [0, 10], "/root"),
        ("app", 1000, 1000, [1000, 5, 10], "/home/app"),
        ("1000", 1000, 1000, [1000, 5, 10], "/home/app"),
        ("app:tty", 1000, 5, [5], "/home/app"),  # an explicit group: no supplementary ones
        ("app:4242", 1000, 4242, [4242], "/home/app"),
        ("1000:1000", 1000, 1000, [1000], "/home/app"),
        (":5", 0, 5, [5], "/root"),
        ("root:", 0, 0, [0, 10], "/root"),
        ("4242", 4242, 0, [0], "/"),  # no entry: group 0, HOME /
        ("4242:4242", 4242, 4242, [4242], "/"),
        ("nobody", 65534, 65534, [65534], "/nonexistent"),
        ("broken", 0, 0, [0], "/root"),  # bad numbers read as 0; HOME by uid (root's)
    ],
)
def test_users(spec: str, uid: int, gid: int, gids: list[int], home: str) -> None:
    assert resolve_user(spec, [], PASSWD, GROUP) == ResolvedUser(uid, gid, gids, home)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("foo", "unable to find user foo: no matching entries in passwd file"),
        ("1000:foo", "unable to find group foo: no matching entries in group file"),
        ("-1", "uids and gids must be in range 0-2147483647"),
        ("99999999999", "uids and gids must be in range 0-2147483647"),
        ("0:-5", "uids and gids must be in range 0-2147483647"),
    ],
)
def test_user_errors(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        resolve_user(spec, [], PASSWD, GROUP)
    assert str(info.value) == message


def test_group_add() -> None:
    user = resolve_user("app:app", ["tty", "1234", "wheel", "5", "10"], PASSWD, GROUP)
    assert user.additional_gids == [1000, 5, 1234, 10]
    with pytest.raises(InvalidArgument) as info:
        resolve_user("", ["foo"], PASSWD, GROUP)
    assert str(info.value) == "Unable to find group foo: no matching entries in group file"
    with pytest.raises(InvalidArgument, match="must be in range"):
        resolve_user("", ["-3"], PASSWD, GROUP)


def test_missing_files() -> None:
    assert resolve_user("", [], None, None) == ResolvedUser(0, 0, [0], "/")
    assert resolve_user("1000:1000", ["7"], None, None) == ResolvedUser(1000, 1000, [1000, 7], "/")
    with pytest.raises(InvalidArgument, match="unable to find user app"):
        resolve_user("app", [], None, None)
    with pytest.raises(InvalidArgument, match="Unable to find group tty"):
        resolve_user("", ["tty"], PASSWD, None)


def test_oci_form() -> None:
    assert ResolvedUser(1, 2, [2, 3], "/").oci() == {"uid": 1, "gid": 2, "additionalGids": [2, 3]}


def make_rootfs(tmp_path: Path) -> Path:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "passwd").write_text(PASSWD)
    (rootfs / "etc" / "group").write_text(GROUP)
    return rootfs


def test_reads_the_rootfs(tmp_path: Path) -> None:
    rootfs = make_rootfs(tmp_path)
    user = resolve_user_in_rootfs(str(rootfs), "app", ["wheel"])
    # Docker does not dedupe the supplementary groups and --group-add's.
    assert user == ResolvedUser(1000, 1000, [1000, 5, 10, 10], "/home/app")


def test_symlinks_resolve_inside_the_rootfs(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    outside = tmp_path / "host-passwd"
    outside.write_text("evil:x:0:0::/evil:/bin/sh\n")
    # An absolute link and a ../ escape both stay inside the rootfs.
    (rootfs / "etc" / "passwd").symlink_to(str(outside))
    (rootfs / "etc" / "group").symlink_to("../../../../../../../../" + str(outside))
    assert read_rootfs_file(str(rootfs), "/etc/passwd") is None
    assert read_rootfs_file(str(rootfs), "/etc/group") is None
    # A link to a file inside the rootfs is followed there.
    (rootfs / "real").write_text("x:x:7:7::/x:/bin/sh\n")
    (rootfs / "etc" / "passwd").unlink()
    (rootfs / "etc" / "passwd").symlink_to("/real")
    assert read_rootfs_file(str(rootfs), "/etc/passwd") == "x:x:7:7::/x:/bin/sh\n"
    with pytest.raises(InvalidArgument, match="unable to find user evil"):
        resolve_user_in_rootfs(str(rootfs), "evil")


def test_a_fifo_or_a_directory_is_missing(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc" / "group").mkdir(parents=True)
    os.mkfifo(rootfs / "etc" / "passwd")
    assert read_rootfs_file(str(rootfs), "/etc/passwd") is None
    assert read_rootfs_file(str(rootfs), "/etc/group") is None
    assert resolve_user_in_rootfs(str(rootfs), "") == ResolvedUser(0, 0, [0], "/")


def test_no_etc(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    assert read_rootfs_file(str(rootfs), "/etc/passwd") is None
    (rootfs / "etc").write_text("a file where a directory should be")
    assert read_rootfs_file(str(rootfs), "/etc/passwd") is None
