"""skiff.cgroups against the real kernel, as root: v1 (hybrid host) and the v2 hierarchy.

The host runs cgroups v1 with a controller-less cgroup2 mounted beside it (hybrid), so the
v1 driver is tested through open_cgroup() and the v2 driver directly on that cgroup2 mount,
where the core files (cgroup.freeze, cgroup.events, cpu.stat) and device filtering by eBPF
work without controllers.
"""

import errno
import json
import os
import select
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from skiff.cgroups import Cgroup, hierarchies, open_cgroup
from skiff.cgroups.hierarchy import Hierarchy
from skiff.cgroups.v1 import V1Cgroup
from skiff.cgroups.v2 import V2Cgroup
from skiff.errors import EngineError, InvalidArgument
from skiff.linux import bpf
from tests.support.oci import Bundle, Runtime

pytestmark = pytest.mark.root

CHILD = """\
import os, sys, time
for line in sys.stdin:
    path, flags = line.split()
    if path == "burn":  # CPU time, not wall time: a busy host must not make it less
        end = time.process_time() + float(flags)
        while time.process_time() < end:
            pass
        print(0, flush=True)
        continue
    try:
        os.close(os.open(path, getattr(os, flags)))
        print(0, flush=True)
    except OSError as e:
        print(e.errno, flush=True)
"""


class Child:
    """A process that opens files when asked and answers with the errno (0: it opened)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.pid = self.proc.pid

    def ask(self, path: str, flags: str = "O_RDONLY") -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{path} {flags}\n")
        self.proc.stdin.flush()

    def answer(self, timeout: float = 10) -> int | None:
        """The errno of the last request, or None if none came within ``timeout``."""
        assert self.proc.stdout is not None
        if not select.select([self.proc.stdout], [], [], timeout)[0]:
            return None
        return int(self.proc.stdout.readline())

    def open(self, path: str, flags: str = "O_RDONLY") -> int | None:
        self.ask(path, flags)
        return self.answer()

    def state(self) -> str:
        with open(f"/proc/{self.pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def unique_path() -> str:
    return f"/skiff-test-{uuid.uuid4().hex[:12]}/c1"


def dirs_under(top: str) -> list[str]:
    """Every directory of cgroup ``top`` in every mounted hierarchy."""
    found = []
    for h in hierarchies():
        found += [root for root, _, _ in os.walk(h.dir(top))]
    return sorted(found)


def force_remove(top: str) -> None:
    for d in reversed(dirs_under(top)):
        try:
            os.rmdir(d)
        except OSError:
            pass


Fixture = tuple[Cgroup, Callable[[], Child]]


def _lifecycle(cgroup: Cgroup) -> Iterator[Fixture]:
    """The cgroup, created, and a way to start children; all removed afterwards, even on failure."""
    top = "/" + cgroup.path.split("/")[1]
    children: list[Child] = []

    def spawn() -> Child:
        child = Child()
        children.append(child)
        return child

    cgroup.create()
    try:
        yield cgroup, spawn
    finally:
        try:
            if cgroup.frozen():
                cgroup.thaw()
        finally:
            for child in children:
                child.stop()
            try:
                cgroup.destroy()
            finally:
                force_remove(top)


@pytest.fixture
def v1() -> Iterator[Fixture]:
    cgroup = open_cgroup(unique_path())
    assert isinstance(cgroup, V1Cgroup), "these tests expect a host with cgroup v1 controllers"
    yield from _lifecycle(cgroup)


def unified_hierarchy() -> Hierarchy:
    return next(h for h in hierarchies() if h.version == 2)


@pytest.fixture
def v2() -> Iterator[Fixture]:
    """A V2Cgroup on the cgroup2 mount; the root's subtree_control is restored afterwards."""
    h = unified_hierarchy()
    subtree_control = Path(h.mountpoint, "cgroup.subtree_control")
    before = set(subtree_control.read_text().split())
    try:
        yield from _lifecycle(V2Cgroup(unique_path(), h))
    finally:
        for controller in set(subtree_control.read_text().split()) - before:
            subtree_control.write_text(f"-{controller}")


def read(cgroup: Cgroup, controller: str, name: str) -> str:
    assert isinstance(cgroup, V1Cgroup)
    d = cgroup.controller_dir(controller)
    assert d is not None
    return d.read(name)


# --- v1 ---------------------------------------------------------------------------------


def test_v1_creates_in_every_hierarchy(v1):
    cgroup, _ = v1
    assert cgroup.version == 1
    parent = os.path.dirname(cgroup.path)
    # every v1 hierarchy, not hybrid mode's unified one while v1 has a freezer (see v1.py)
    v1_hierarchies = [h for h in hierarchies() if h.version == 1]
    assert sorted(cgroup.dirs()) == sorted(
        os.path.join(h.dir(parent), "c1") for h in v1_hierarchies
    )
    assert all(os.path.isdir(d) for d in cgroup.dirs())
    # A new v1 cpuset takes no task until it has cpus and mems: create() copied them down.
    assert read(cgroup, "cpuset", "cpuset.cpus") != ""
    assert read(cgroup, "cpuset", "cpuset.mems") != ""


def test_v1_limits_reach_the_kernel(v1):
    cgroup, _ = v1
    cgroup.set(
        {
            "memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20},
            "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 42},
        }
    )
    assert read(cgroup, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert read(cgroup, "memory", "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert read(cgroup, "memory", "memory.soft_limit_in_bytes") == str(32 << 20)
    assert read(cgroup, "cpu", "cpu.shares") == "512"
    assert read(cgroup, "cpu", "cpu.cfs_quota_us") == "20000"
    assert read(cgroup, "cpu", "cpu.cfs_period_us") == "100000"
    assert read(cgroup, "cpuset", "cpuset.cpus") == "0"
    assert read(cgroup, "pids", "pids.max") == "42"
    # Lowering and then raising both limits: each needs its own order of writes.
    cgroup.set({"memory": {"limit": 16 << 20, "swap": 32 << 20}})
    cgroup.set({"memory": {"limit": 256 << 20, "swap": 512 << 20}})
    assert read(cgroup, "memory", "memory.limit_in_bytes") == str(256 << 20)
    assert read(cgroup, "memory", "memory.memsw.limit_in_bytes") == str(512 << 20)
    cgroup.set({"pids": {"limit": -1}, "memory": {"limit": -1}})
    assert read(cgroup, "pids", "pids.max") == "max"
    assert int(read(cgroup, "memory", "memory.memsw.limit_in_bytes")) > 1 << 60


def test_v1_kernel_refusal_names_field_and_file(v1):
    cgroup, _ = v1
    with pytest.raises(InvalidArgument) as e:
        cgroup.set({"cpu": {"cpus": "9999"}})
    file = os.path.join(cgroup.controller_dir("cpuset").path, "cpuset.cpus")
    prefix = f"linux.resources.cpu.cpus: write '9999' to {file}: "
    assert str(e.value) in (prefix + "Numerical result out of range", prefix + "Invalid argument")


def test_v1_unmounted_controllers_are_named(v1):
    cgroup, _ = v1
    mounted = {c for h in hierarchies() for c in h.controllers}
    priorities = [{"name": "lo", "priority": 1}]
    asks = [
        ({"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}]}, "hugepageLimits", "hugetlb"),
        ({"network": {"classID": 0x100001}}, "network.classID", "net_cls"),
        ({"network": {"priorities": priorities}}, "network.priorities", "net_prio"),
        ({"rdma": {"mlx5_0": {"hcaHandles": 1}}}, "rdma", "rdma"),
    ]
    for resources, field, controller in asks:
        if controller in mounted:
            cgroup.set(resources)
            continue
        with pytest.raises(InvalidArgument) as e:
            cgroup.set(resources)
        assert str(e.value) == (
            f"linux.resources.{field}: {controller} cgroup controller not available"
        )
    with pytest.raises(InvalidArgument, match="unified: cgroup v2 files cannot be set"):
        cgroup.set({"unified": {"memory.high": "1G"}})


def test_v1_devices(v1):
    cgroup, spawn = v1
    child = spawn()
    cgroup.add(child.pid)
    assert child.open("/dev/null") == 0
    cgroup.set(
        {
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "w"},
            ]
        }
    )
    assert read(cgroup, "devices", "devices.list").splitlines() == ["c 1:5 rwm", "c 1:3 w"]
    assert child.open("/dev/null", "O_RDONLY") == errno.EPERM
    assert child.open("/dev/null", "O_WRONLY") == 0
    assert child.open("/dev/zero") == 0
    assert child.open("/dev/full") == errno.EPERM


def test_v1_freeze_and_thaw(v1):
    cgroup, spawn = v1
    child = spawn()
    cgroup.add(child.pid)
    assert child.open("/dev/zero") == 0
    cgroup.freeze()
    assert cgroup.frozen()
    assert read(cgroup, "freezer", "freezer.state") == "FROZEN"
    assert child.state() == "D"  # how /proc shows a task the v1 freezer stopped
    child.ask("/dev/zero")
    assert child.answer(timeout=0.3) is None  # frozen: no answer
    cgroup.thaw()
    assert not cgroup.frozen()
    assert read(cgroup, "freezer", "freezer.state") == "THAWED"
    assert child.answer() == 0


def test_v1_pids_and_stats(v1):
    cgroup, spawn = v1
    cgroup.set({"memory": {"limit": 256 << 20}, "pids": {"limit": 100}})
    first, second = spawn(), spawn()
    cgroup.add(first.pid)
    sub = open_cgroup(cgroup.path + "/sub")  # a cgroup the container made for itself
    sub.create()
    sub.add(second.pid)
    assert cgroup.pids() == sorted([first.pid, second.pid])
    assert sub.pids() == [second.pid]
    assert first.open("burn", "0.05") == 0
    data = cgroup.stats()
    assert list(data) == [
        "cpu",
        "cpuset",
        "memory",
        "pids",
        "blkio",
        "hugetlb",
        "intel_rdt",
        "network_interfaces",
    ]
    assert data["cpu"]["usage"]["total"] > 0
    assert len(data["cpu"]["usage"]["percpu"]) == os.cpu_count()
    assert data["memory"]["usage"]["limit"] == 256 << 20
    assert data["memory"]["usage"]["usage"] > 0
    assert "cache" in data["memory"]["raw"]
    assert data["pids"] == {"current": 2, "limit": 100}
    json.dumps(data)


def test_v1_destroy_waits_for_processes_and_leaves_nothing(v1):
    cgroup, spawn = v1
    top = "/" + cgroup.path.split("/")[1]
    child = spawn()
    cgroup.add(child.pid)
    open_cgroup(cgroup.path + "/sub").create()
    with pytest.raises(EngineError, match=r"cannot remove cgroup .*: Device or resource busy"):
        cgroup.destroy()
    child.stop()
    cgroup.destroy()
    assert dirs_under(top) == []
    assert not cgroup.exists()
    cgroup.destroy()  # again: nothing to do


def _shape(value):
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_v1_stats_have_runcs_shape(make_bundle, tmp_path):
    """Same keys, in the same order, as `runc events --stats` for the same cgroup."""
    path = unique_path()
    bundle: Bundle = make_bundle("sleep", "1000")
    bundle.spec["linux"]["cgroupsPath"] = path
    bundle.spec["linux"]["resources"] = {
        "memory": {"limit": 100 << 20, "swap": 200 << 20},
        "cpu": {"shares": 512},
        "pids": {"limit": 100},
    }
    bundle.write()
    runc = Runtime("runc", tmp_path / "runc-state")
    try:
        # Detached, the container keeps its stdio: Runtime gives it files, not pipes, or runc's
        # caller would wait on them.
        result = runc("run", "-d", "--bundle", str(bundle.path), "c1")
        assert result.returncode == 0
        theirs = json.loads(runc.ok("events", "--stats", "c1"))["data"]
        ours = open_cgroup(path).stats()
        assert _shape(ours) == _shape(theirs)
        assert json.dumps(_shape(ours)) == json.dumps(_shape(theirs))  # key order too
        assert ours["memory"]["usage"]["limit"] == theirs["memory"]["usage"]["limit"]
        assert ours["memory"]["swap"]["limit"] == theirs["memory"]["swap"]["limit"]
        assert ours["pids"] == theirs["pids"]
    finally:
        runc("delete", "--force", "c1")
        force_remove("/" + path.split("/")[1])


# --- v2 ---------------------------------------------------------------------------------


def attached_programs(cgroup: V2Cgroup) -> list[int]:
    fd = os.open(cgroup.dir.path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return bpf.prog_query(fd, bpf.BPF_CGROUP_DEVICE)
    finally:
        os.close(fd)


def test_v2_device_filter_denies_reading_dev_null(v2):
    cgroup, spawn = v2
    child = spawn()
    cgroup.add(child.pid)
    assert child.open("/dev/null") == 0
    everything_but_reading_null = [
        {"allow": True, "access": "rwm"},
        {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "r"},
    ]
    cgroup.set({"devices": everything_but_reading_null})
    assert child.open("/dev/null", "O_RDONLY") == errno.EPERM
    assert child.open("/dev/null", "O_RDWR") == errno.EPERM
    assert child.open("/dev/null", "O_WRONLY") == 0
    assert child.open("/dev/zero") == 0
    assert len(attached_programs(cgroup)) == 1


def test_v2_device_filter_is_replaced(v2):
    cgroup, spawn = v2
    child = spawn()
    cgroup.add(child.pid)
    cgroup.set({"devices": [{"allow": False, "access": "rwm"}]})
    first = attached_programs(cgroup)
    assert child.open("/dev/zero") == errno.EPERM
    only_zero = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    ]
    cgroup.set({"devices": only_zero})
    second = attached_programs(cgroup)
    assert len(second) == 1 and second != first
    assert child.open("/dev/zero") == 0
    assert child.open("/dev/null") == errno.EPERM
    assert child.open("/dev/full") == errno.EPERM


def test_v2_freeze_and_thaw(v2):
    cgroup, spawn = v2
    child = spawn()
    cgroup.add(child.pid)
    cgroup.freeze()
    assert cgroup.frozen()
    assert "frozen 1" in cgroup.dir.read("cgroup.events").splitlines()
    child.ask("/dev/zero")
    assert child.answer(timeout=0.3) is None
    cgroup.thaw()
    assert not cgroup.frozen()
    assert child.answer() == 0


def test_v2_pids_stats_and_destroy(v2):
    cgroup, spawn = v2
    top = "/" + cgroup.path.split("/")[1]
    first, second = spawn(), spawn()
    cgroup.add(first.pid)
    sub = V2Cgroup(cgroup.path + "/sub", unified_hierarchy())
    sub.create()
    sub.add(second.pid)
    assert cgroup.pids() == sorted([first.pid, second.pid])
    assert first.open("burn", "0.05") == 0
    data = cgroup.stats()
    assert data["cpu"]["usage"]["total"] >= 50_000_000 * 0.9
    assert data["cpu"]["usage"]["user"] + data["cpu"]["usage"]["kernel"] > 0
    first.stop()
    second.stop()
    cgroup.destroy()
    assert dirs_under(top) == []


def test_v2_controllers_from_the_host(v2):
    """Controllers bound to v1 are missing here and named; one left to v2 (hugetlb) works."""
    cgroup, _ = v2
    available = set(cgroup.dir.read("cgroup.controllers").split())
    if "memory" not in available:
        with pytest.raises(InvalidArgument) as e:
            cgroup.set({"memory": {"limit": 1 << 30}})
        assert str(e.value) == "linux.resources.memory: memory cgroup controller not available"
    page = "2MB"
    limits = {"hugepageLimits": [{"pageSize": page, "limit": 4 << 20}]}
    root = Path(unified_hierarchy().mountpoint, "cgroup.controllers").read_text().split()
    if "hugetlb" in root:
        assert "hugetlb" in available  # create() enabled it in every parent
        cgroup.set(limits)
        assert cgroup.dir.read(f"hugetlb.{page}.max") == str(4 << 20)
    else:
        with pytest.raises(InvalidArgument, match="hugetlb cgroup controller not available"):
            cgroup.set(limits)


# --- start-up cost ----------------------------------------------------------------------

LIFECYCLE = """\
import os, sys, time

from skiff.cgroups import hierarchies, open_cgroup, resolve_path
from skiff.cgroups.v2 import V2Cgroup


def lifecycle(cgroup, resources):
    cgroup.create()
    try:
        cgroup.set(resources)
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        try:
            cgroup.add(pid)
            assert cgroup.pids() == [pid], cgroup.pids()
            cgroup.freeze()
            assert cgroup.frozen()
            cgroup.thaw()
            assert not cgroup.frozen()
            cgroup.stats()
        finally:
            os.kill(pid, 9)  # SIGKILL
            os.waitpid(pid, 0)
    finally:
        cgroup.destroy()


devices = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
]
lifecycle(
    open_cgroup(resolve_path(sys.argv[1], "c1")),
    {
        "memory": {"limit": 256 << 20},
        "pids": {"limit": 100},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
        "devices": devices,
    },
)
unified = next(h for h in hierarchies() if h.version == 2)
lifecycle(V2Cgroup(resolve_path(sys.argv[2], "c1"), unified), {"devices": devices})
print(sorted(set(sys.modules) & {COSTLY}))
"""


def test_lifecycle_loads_no_costly_module():
    """What the runtime does with a cgroup, in a fresh interpreter (-S), v1 and v2 (devices by
    eBPF): typing, dataclasses, enum, re, json, signal, subprocess and socket stay unloaded."""
    costly = {"dataclasses", "enum", "inspect", "json", "re", "signal", "socket", "subprocess"}
    script = LIFECYCLE.replace("{COSTLY}", repr(costly | {"typing"}))
    v1_path, v2_path = unique_path(), unique_path()
    h = unified_hierarchy()
    subtree_control = Path(h.mountpoint, "cgroup.subtree_control")
    before = set(subtree_control.read_text().split())
    root = str(Path(__file__).resolve().parents[2])
    try:
        result = subprocess.run(
            [sys.executable, "-S", "-c", script, v1_path, v2_path],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": root},
            cwd=root,
            timeout=60,
            check=False,
        )
    finally:
        for path in (v1_path, v2_path):
            force_remove("/" + path.split("/")[1])
        for controller in set(subtree_control.read_text().split()) - before:
            subtree_control.write_text(f"-{controller}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
