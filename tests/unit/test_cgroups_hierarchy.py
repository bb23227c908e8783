"""Mounted hierarchies from mountinfo, the cgroup mode, /proc/PID/cgroup, and path resolution."""

import pytest

from skiff.cgroups.hierarchy import (
    Hierarchy,
    _unescape,
    mode,
    parse_mountinfo,
    parse_proc_cgroup,
    proc_key,
)
from skiff.cgroups.paths import resolve_path
from skiff.errors import EngineError, InvalidArgument

HYBRID = """\
22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
90 31 0:32 /docker /mnt/again rw,relatime - cgroup cgroup rw,memory
"""

UNIFIED = """\
26 21 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate
"""


def test_parse_hybrid():
    found = parse_mountinfo(HYBRID)
    cg = "/sys/fs/cgroup"
    assert found == [
        Hierarchy(f"{cg}/cpu,cpuacct", "/", 1, ("cpu", "cpuacct"), "cpu,cpuacct", "cpu,cpuacct"),
        Hierarchy(f"{cg}/cpuset", "/", 1, ("cpuset",), "cpuset", "cpuset"),
        Hierarchy(f"{cg}/memory", "/", 1, ("memory",), "memory", "memory"),
        Hierarchy(f"{cg}/systemd", "/", 1, (), "systemd", "name=systemd"),
        Hierarchy(f"{cg}/unified", "/", 2, (), "unified", ""),
    ]
    assert mode(found) == "hybrid"
    assert [proc_key(h) for h in found] == ["cpu,cpuacct", "cpuset", "memory", "name=systemd", ""]


def test_parse_unified_and_escapes():
    found = parse_mountinfo(UNIFIED + "27 1 0:99 /a\\040b /mnt/x\\040y rw - cgroup2 none rw\n")
    assert found[0] == Hierarchy("/sys/fs/cgroup", "/", 2, (), "cgroup", "")
    assert found[1].mountpoint == "/mnt/x y" and found[1].root == "/a b"
    assert mode(found[:1]) == "unified"


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("/plain", "/plain"),
        ("/a\\040b\\011c\\012d", "/a b\tc\nd"),
        ("\\134\\040", "\\ "),  # an escaped backslash, then a space
        ("\\\\040", "\\ "),  # a lone backslash stays; the next one escapes a space
        ("\\0401", " 1"),  # three digits at most
        ("\\04", "\\04"),  # fewer than three: left as is
        ("\\080", "\\080"),  # 8 is not octal
        ("end\\", "end\\"),
    ],
)
def test_unescape_octal(field, expected):
    assert _unescape(field) == expected


def test_mode_legacy_and_v1_leftovers():
    v1_only = "\n".join(line for line in HYBRID.splitlines() if "cgroup2" not in line)
    assert mode(parse_mountinfo(v1_only)) == "legacy"
    # net_cls and a named hierarchy next to a v2 mount: still a pure v2 host
    extra = (
        "50 31 0:40 / /sys/fs/cgroup/net_cls rw - cgroup cgroup rw,net_cls\n"
        "51 31 0:41 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n"
    )
    assert mode(parse_mountinfo(UNIFIED + extra)) == "unified"
    with pytest.raises(EngineError, match="no cgroup hierarchy"):
        mode([])


def test_hierarchy_dir():
    h = Hierarchy("/sys/fs/cgroup/memory", "/", 1, ("memory",))
    assert h.dir("/skiff/abc") == "/sys/fs/cgroup/memory/skiff/abc"
    assert h.dir("/") == "/sys/fs/cgroup/memory/"


def test_parse_proc_cgroup():
    text = "9:name=systemd:/user.slice\n4:memory:/process_api/x\n1:cpu,cpuacct:/\n0::/init.scope\n"
    assert parse_proc_cgroup(text) == {
        "name=systemd": "/user.slice",
        "memory": "/process_api/x",
        "cpu,cpuacct": "/",
        "": "/init.scope",
    }


def test_resolve_default_and_absolute():
    assert resolve_path(None, "abc") == "/abc"
    assert resolve_path("", "abc") == "/abc"
    assert resolve_path("/docker/abc", "abc") == "/docker/abc"
    assert resolve_path("/a/./b/../c/", "x") == "/a/c"
    assert resolve_path("/../../etc", "x") == "/etc"  # never above the hierarchy root
    for root in ("/", "/a/..", "/.."):
        with pytest.raises(InvalidArgument, match=r"^linux\.cgroupsPath: .* is the root cgroup"):
            resolve_path(root, "x")


def test_resolve_relative_on_v2_goes_under_the_parent_of_own_cgroup():
    found = parse_mountinfo(UNIFIED)
    own = {"": "/user.slice/user-0.slice/session-1.scope"}
    assert resolve_path("ctr/1", "x", found=found, own=own) == "/user.slice/user-0.slice/ctr/1"
    assert resolve_path("../../..", "x", found=found, own=own) == "/user.slice/user-0.slice"


def test_resolve_relative_on_v1_uses_the_systemd_hierarchy():
    found = parse_mountinfo(HYBRID)
    own = {"name=systemd": "/user.slice", "memory": "/process_api/x", "cpuset": "/"}
    assert resolve_path("ctr", "x", found=found, own=own) == "/user.slice/ctr"
    without_systemd = [h for h in found if h.name != "systemd"]
    assert resolve_path("ctr", "x", found=without_systemd, own={"cpu,cpuacct": "/a"}) == "/a/ctr"


def test_resolve_relative_strips_the_mount_root():
    # In a container the hierarchy is often bind-mounted from the container's own cgroup.
    found = [Hierarchy("/sys/fs/cgroup", "/docker/abc", 2)]
    own = {"": "/docker/abc/init"}
    assert resolve_path("sub", "x", found=found, own=own) == "/sub"
