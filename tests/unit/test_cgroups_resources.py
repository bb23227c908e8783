"""OCI linux.resources -> control files, v1 and v2, against a recording stand-in for a cgroup."""

import errno
import re

import pytest

from skiff.cgroups import devices_bpf, v1_resources, v2_resources
from skiff.cgroups.devices import DeviceRule
from skiff.cgroups.files import CgroupDir, WriteError
from skiff.errors import InvalidArgument

V2_CONTROLLERS = "cpuset cpu io memory hugetlb pids rdma"


class RecordingDir(CgroupDir):
    """A cgroup directory whose files live in a dict; writes are logged in order.

    ``fail`` maps (file, value) to an errno raised once, as a kernel refusing a value would.
    """

    def __init__(self, files: dict[str, str], fail: dict[tuple[str, str], int] | None = None):
        super().__init__("/fake")
        self.files = dict(files)
        self.fail = dict(fail or {})
        self.writes: list[tuple[str, str]] = []

    def has(self, name: str) -> bool:
        return name in self.files

    def read(self, name: str) -> str:
        if name not in self.files:
            raise FileNotFoundError(name)
        return self.files[name]

    def write(self, name: str, value: str, field: str) -> None:
        self.write_lines(name, [value], field)

    def write_lines(self, name: str, lines: list[str], field: str) -> None:
        if name not in self.files:
            raise WriteError(f"{field}: {name} not available in {self.path}", None)
        for line in lines:
            if (name, line) in self.fail:
                raise WriteError(f"{field}: refused {line}", self.fail.pop((name, line)))
            self.writes.append((name, line))
            self.files[name] = line


def v1_dirs(**dirs: RecordingDir):
    """A dir_for over the given controllers, failing as V1Cgroup does for the others."""

    def dir_for(controller: str, field: str) -> CgroupDir:
        if controller not in dirs:
            raise InvalidArgument(f"{field}: {controller} cgroup controller not available")
        return dirs[controller]

    return dir_for


def v2_dir(*names: str, controllers: str = V2_CONTROLLERS, **values: str) -> RecordingDir:
    files = dict.fromkeys(names, "")
    files.update({k.replace("__", "."): v for k, v in values.items()})
    files["cgroup.controllers"] = controllers
    return RecordingDir(files)


MEMORY_V1 = [
    "memory.limit_in_bytes",
    "memory.memsw.limit_in_bytes",
    "memory.soft_limit_in_bytes",
    "memory.kmem.limit_in_bytes",
    "memory.kmem.tcp.limit_in_bytes",
    "memory.swappiness",
    "memory.oom_control",
    "memory.use_hierarchy",
    "memory.usage_in_bytes",
]


def memory_v1(limit: str = "9223372036854771712") -> RecordingDir:
    files = dict.fromkeys(MEMORY_V1, "0")
    files["memory.limit_in_bytes"] = limit
    return RecordingDir(files)


# --- v1 ---------------------------------------------------------------------------------


def test_v1_defaults_touch_no_controller():
    def dir_for(controller: str, field: str) -> CgroupDir:
        raise AssertionError(f"looked up {controller} for {field}")

    v1_resources.apply(
        {
            "memory": {"limit": 0, "disableOOMKiller": False},
            "cpu": {"shares": 0, "quota": 0, "cpus": ""},
            "pids": {"limit": 0},
            "blockIO": {},
            "devices": [],
            "hugepageLimits": [],
            "network": {"classID": 0, "priorities": []},
            "rdma": {},
            "unified": {},
        },
        dir_for,
    )


def test_v1_memory_raised_swap_goes_first():
    d = memory_v1(limit="100")
    v1_resources.apply({"memory": {"limit": 200, "swap": 400}}, v1_dirs(memory=d))
    assert d.writes == [("memory.memsw.limit_in_bytes", "400"), ("memory.limit_in_bytes", "200")]


def test_v1_memory_lowered_limit_goes_first():
    d = memory_v1(limit="1000")
    v1_resources.apply({"memory": {"limit": 100, "swap": 200}}, v1_dirs(memory=d))
    assert d.writes == [("memory.limit_in_bytes", "100"), ("memory.memsw.limit_in_bytes", "200")]


def test_v1_unlimited_memory_makes_swap_unlimited():
    d = memory_v1(limit="100")
    v1_resources.apply({"memory": {"limit": -1}}, v1_dirs(memory=d))
    assert d.writes == [("memory.memsw.limit_in_bytes", "-1"), ("memory.limit_in_bytes", "-1")]


def test_v1_memory_knobs():
    d = memory_v1()
    memory = {
        "reservation": 1 << 20,
        "kernel": 1 << 24,
        "kernelTCP": 1 << 22,
        "swappiness": 10,
        "disableOOMKiller": True,
        "useHierarchy": True,
    }
    v1_resources.apply({"memory": memory}, v1_dirs(memory=d))
    assert d.writes == [
        ("memory.soft_limit_in_bytes", "1048576"),
        ("memory.kmem.limit_in_bytes", "16777216"),
        ("memory.kmem.tcp.limit_in_bytes", "4194304"),
        ("memory.swappiness", "10"),
        ("memory.oom_control", "1"),
        ("memory.use_hierarchy", "1"),
    ]


def test_v1_swappiness():
    d = memory_v1()
    v1_resources.apply({"memory": {"swappiness": -1}}, v1_dirs(memory=d))
    assert d.writes == []
    with pytest.raises(InvalidArgument, match=r"memory\.swappiness: 101 is not in 0\.\.100"):
        v1_resources.apply({"memory": {"swappiness": 101}}, v1_dirs(memory=d))


def test_v1_check_before_update():
    d = memory_v1()
    d.files["memory.usage_in_bytes"] = "5000"
    memory = {"limit": 4000, "checkBeforeUpdate": True}
    with pytest.raises(
        InvalidArgument, match=r"memory\.limit: 4000 is not above the current usage"
    ):
        v1_resources.apply({"memory": memory}, v1_dirs(memory=d))
    assert d.writes == []


CPU_V1 = [
    "cpu.shares",
    "cpu.cfs_period_us",
    "cpu.cfs_quota_us",
    "cpu.cfs_burst_us",
    "cpu.rt_period_us",
    "cpu.rt_runtime_us",
    "cpu.idle",
]


def test_v1_cpu():
    d = RecordingDir(dict.fromkeys(CPU_V1, "0"))
    cpuset = RecordingDir({"cpuset.cpus": "0-1", "cpuset.mems": "0"})
    cpu = {
        "shares": 512,
        "period": 100000,
        "quota": 50000,
        "burst": 1000,
        "realtimePeriod": 1000000,
        "realtimeRuntime": 950000,
        "idle": 0,
        "cpus": "1",
        "mems": "0",
    }
    v1_resources.apply({"cpu": cpu}, v1_dirs(cpu=d, cpuset=cpuset))
    assert d.writes == [
        ("cpu.shares", "512"),
        ("cpu.cfs_period_us", "100000"),
        ("cpu.cfs_quota_us", "50000"),
        ("cpu.cfs_burst_us", "1000"),
        ("cpu.rt_period_us", "1000000"),
        ("cpu.rt_runtime_us", "950000"),
        ("cpu.idle", "0"),
    ]
    assert cpuset.writes == [("cpuset.cpus", "1"), ("cpuset.mems", "0")]


def test_v1_period_refused_is_retried_after_the_quota():
    d = RecordingDir(
        dict.fromkeys(CPU_V1, "0"), fail={("cpu.cfs_period_us", "10000"): errno.EINVAL}
    )
    v1_resources.apply({"cpu": {"period": 10000, "quota": 5000}}, v1_dirs(cpu=d))
    assert d.writes == [("cpu.cfs_quota_us", "5000"), ("cpu.cfs_period_us", "10000")]
    d = RecordingDir(
        dict.fromkeys(CPU_V1, "0"), fail={("cpu.cfs_period_us", "10000"): errno.EINVAL}
    )
    with pytest.raises(InvalidArgument, match="refused 10000"):
        v1_resources.apply({"cpu": {"period": 10000}}, v1_dirs(cpu=d))


def test_v1_shares_clamped_by_the_kernel_is_an_error():
    class Clamping(RecordingDir):
        def read(self, name: str) -> str:
            return "262144" if name == "cpu.shares" else super().read(name)

    d = Clamping(dict.fromkeys(CPU_V1, "0"))
    with pytest.raises(InvalidArgument, match=r"cpu\.shares: the kernel set 262144 for 999999"):
        v1_resources.apply({"cpu": {"shares": 999999}}, v1_dirs(cpu=d))


def test_v1_pids():
    d = RecordingDir({"pids.max": "max"})
    v1_resources.apply({"pids": {"limit": 100}}, v1_dirs(pids=d))
    v1_resources.apply({"pids": {"limit": -1}}, v1_dirs(pids=d))
    assert d.writes == [("pids.max", "100"), ("pids.max", "max")]


def test_v1_devices_deny_all_then_rules_in_order():
    d = RecordingDir({"devices.allow": "", "devices.deny": ""})
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "c", "major": 136, "access": "rw"},
        {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"},
    ]
    v1_resources.apply({"devices": rules}, v1_dirs(devices=d))
    assert d.writes == [
        ("devices.deny", "a"),
        ("devices.deny", "a"),
        ("devices.allow", "c 1:3 rwm"),
        ("devices.allow", "c 136:* rw"),
        ("devices.deny", "c 1:3 w"),
    ]


def test_v1_blkio():
    files = [
        "blkio.bfq.weight",
        "blkio.bfq.weight_device",
        "blkio.leaf_weight_device",
        "blkio.throttle.read_bps_device",
        "blkio.throttle.write_iops_device",
    ]
    d = RecordingDir(dict.fromkeys(files, ""))
    blkio = {
        "weight": 300,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 200}],
        "throttleReadBpsDevice": [
            {"major": 8, "minor": 0, "rate": 1048576},
            {"major": 8, "minor": 16, "rate": 0},
        ],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
    }
    v1_resources.apply({"blockIO": blkio}, v1_dirs(blkio=d))
    assert d.writes == [
        ("blkio.bfq.weight", "300"),
        ("blkio.bfq.weight_device", "8:0 500"),
        ("blkio.leaf_weight_device", "8:0 200"),
        ("blkio.throttle.read_bps_device", "8:0 1048576"),
        ("blkio.throttle.read_bps_device", "8:16 0"),
        ("blkio.throttle.write_iops_device", "8:0 100"),
    ]


def test_v1_blkio_weight_without_a_weighted_scheduler():
    d = RecordingDir({"blkio.throttle.read_bps_device": ""})
    with pytest.raises(
        InvalidArgument, match=r"^linux\.resources\.blockIO\.weight: no IO scheduler"
    ):
        v1_resources.apply({"blockIO": {"weight": 300}}, v1_dirs(blkio=d))


def test_v1_unmounted_controller_names_the_field():
    with pytest.raises(InvalidArgument) as e:
        v1_resources.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}]}, v1_dirs())
    assert str(e.value) == (
        "linux.resources.hugepageLimits: hugetlb cgroup controller not available"
    )
    with pytest.raises(InvalidArgument, match=r"^linux\.resources\.network\.classID: net_cls"):
        v1_resources.apply({"network": {"classID": 0x100001}}, v1_dirs())
    with pytest.raises(InvalidArgument, match=r"^linux\.resources\.rdma: rdma cgroup controller"):
        v1_resources.apply({"rdma": {"mlx5_1": {"hcaHandles": 3}}}, v1_dirs())


def test_v1_hugetlb_network_rdma():
    hugetlb = RecordingDir({"hugetlb.2MB.limit_in_bytes": ""})
    net_cls = RecordingDir({"net_cls.classid": ""})
    net_prio = RecordingDir({"net_prio.ifpriomap": ""})
    rdma = RecordingDir({"rdma.max": ""})
    resources = {
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
        "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}, "mlx4_0": {"hcaObjects": 7}},
    }
    dir_for = v1_dirs(hugetlb=hugetlb, net_cls=net_cls, net_prio=net_prio, rdma=rdma)
    v1_resources.apply(resources, dir_for)
    assert hugetlb.writes == [("hugetlb.2MB.limit_in_bytes", "4194304")]
    assert net_cls.writes == [("net_cls.classid", "1048577")]
    assert net_prio.writes == [("net_prio.ifpriomap", "eth0 5")]
    assert rdma.writes == [
        ("rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"),
        ("rdma.max", "mlx4_0 hca_object=7"),
    ]
    with pytest.raises(InvalidArgument, match="page size 1GB not supported"):
        v1_resources.apply({"hugepageLimits": [{"pageSize": "1GB", "limit": 0}]}, dir_for)
    with pytest.raises(InvalidArgument, match=r"hugepageLimits\[0\]\.pageSize: expected a size"):
        v1_resources.apply({"hugepageLimits": [{"pageSize": "2M", "limit": 0}]}, dir_for)


@pytest.mark.parametrize("size", ["2M", "MB", "02MB", "2mb", "2 MB", "2TB", "-2MB", "\uff12MB", ""])
def test_bad_page_sizes(size):
    with pytest.raises(InvalidArgument, match=r"hugepageLimits\[0\]\.pageSize: expected a size"):
        v1_resources.apply({"hugepageLimits": [{"pageSize": size, "limit": 0}]}, v1_dirs())


def test_v1_refuses_unified():
    with pytest.raises(InvalidArgument, match=r"^linux\.resources\.unified: cgroup v2 files"):
        v1_resources.apply({"unified": {"memory.high": "1G"}}, v1_dirs())


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"memory": {"limit": "1g"}}, r"^linux\.resources\.memory\.limit: expected an integer"),
        ({"memory": {"limit": True}}, r"^linux\.resources\.memory\.limit: expected an integer"),
        ({"memory": []}, r"^linux\.resources\.memory: expected an object"),
        ({"cpu": {"cpus": 3}}, r"^linux\.resources\.cpu\.cpus: expected a string"),
        ({"memory": {"disableOOMKiller": 1}}, r"disableOOMKiller: expected true or false"),
        ({"blockIO": {"weightDevice": [{"major": 8}]}}, r"weightDevice\[0\]: major and minor"),
        ({"devices": {"allow": True}}, r"^linux\.resources\.devices: expected a list"),
    ],
)
def test_bad_values_name_the_field(resources, message):
    with pytest.raises(InvalidArgument, match=message):
        v1_resources.apply(resources, v1_dirs(memory=memory_v1()))
    with pytest.raises(InvalidArgument, match=message):
        v2_resources.apply(resources, v2_dir("memory.max"))


# --- v2 ---------------------------------------------------------------------------------


def test_v2_cpu():
    d = v2_dir("cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle", "cpuset.cpus", "cpuset.mems")
    cpu = {
        "shares": 1024,
        "quota": 50000,
        "period": 100000,
        "burst": 1000,
        "idle": 1,
        "cpus": "0-1",
        "mems": "0",
    }
    v2_resources.apply({"cpu": cpu}, d)
    assert d.writes == [
        ("cpu.weight", "100"),
        ("cpu.max", "50000 100000"),
        ("cpu.max.burst", "1000"),
        ("cpu.idle", "1"),
        ("cpuset.cpus", "0-1"),
        ("cpuset.mems", "0"),
    ]


def test_v2_memory():
    d = v2_dir("memory.max", "memory.swap.max", "memory.low")
    v2_resources.apply({"memory": {"limit": 1 << 30, "swap": 3 << 29, "reservation": 1 << 28}}, d)
    assert d.writes == [
        ("memory.swap.max", str(1 << 29)),
        ("memory.max", str(1 << 30)),
        ("memory.low", str(1 << 28)),
    ]


def test_v2_memory_swap_equal_to_limit_disables_swap():
    d = v2_dir("memory.max", "memory.swap.max")
    v2_resources.apply({"memory": {"limit": 1000, "swap": 1000}}, d)
    assert d.writes == [("memory.swap.max", "0"), ("memory.max", "1000")]


def test_v2_memory_without_swap_accounting():
    d = v2_dir("memory.max")
    v2_resources.apply({"memory": {"limit": -1}}, d)  # swap "max": fine without the file
    assert d.writes == [("memory.max", "max")]
    with pytest.raises(
        InvalidArgument, match=r"^linux\.resources\.memory\.swap: memory\.swap\.max"
    ):
        v2_resources.apply({"memory": {"limit": 1000, "swap": 2000}}, d)


@pytest.mark.parametrize(
    ("resources", "field"),
    [
        ({"memory": {"kernel": 1 << 20}}, "memory.kernel"),
        ({"memory": {"kernelTCP": 0}}, "memory.kernelTCP"),
        ({"memory": {"swappiness": 60}}, "memory.swappiness"),
        ({"memory": {"disableOOMKiller": True}}, "memory.disableOOMKiller"),
        ({"cpu": {"realtimeRuntime": 950000}}, "cpu.realtimeRuntime"),
        ({"cpu": {"realtimePeriod": 1000000}}, "cpu.realtimePeriod"),
        ({"blockIO": {"leafWeight": 500}}, "blockIO.leafWeight"),
        ({"network": {"classID": 1}}, "network.classID (net_cls)"),
        (
            {"network": {"priorities": [{"name": "lo", "priority": 1}]}},
            "network.priorities (net_prio)",
        ),
    ],
)
def test_v2_refuses_v1_only_knobs(resources, field):
    pattern = rf"^linux\.resources\.{re.escape(field)}: not available on cgroup v2$"
    with pytest.raises(InvalidArgument, match=pattern):
        v2_resources.apply(resources, v2_dir())


def test_v2_defaults_of_v1_only_knobs_are_fine():
    d = v2_dir()
    memory = {"swappiness": -1, "disableOOMKiller": False, "useHierarchy": True}
    v2_resources.apply({"memory": memory, "network": {"classID": 0}}, d)
    assert d.writes == []
    with pytest.raises(InvalidArgument, match="useHierarchy: cgroup v2 is always hierarchical"):
        v2_resources.apply({"memory": {"useHierarchy": False}}, d)


def test_v2_missing_controller():
    d = v2_dir("cpu.weight", controllers="cpu")
    with pytest.raises(InvalidArgument) as e:
        v2_resources.apply({"memory": {"limit": 1 << 20}}, d)
    assert str(e.value) == "linux.resources.memory: memory cgroup controller not available"
    with pytest.raises(InvalidArgument, match=r"^linux\.resources\.cpu\.cpus: cpuset cgroup"):
        v2_resources.apply({"cpu": {"cpus": "0"}}, d)


def test_v2_io_with_and_without_bfq():
    blkio = {
        "weight": 500,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 1000}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
        "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 0}],
        "throttleReadIOPSDevice": [{"major": 8, "minor": 16, "rate": 10}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 20}],
    }
    d = v2_dir("io.weight", "io.max")
    v2_resources.apply({"blockIO": blkio}, d)
    assert d.writes == [
        ("io.weight", "4950"),
        ("io.weight", "8:0 10000"),
        ("io.max", "8:0 rbps=1048576"),
        ("io.max", "8:0 wbps=max"),
        ("io.max", "8:16 riops=10"),
        ("io.max", "8:16 wiops=20"),
    ]
    d = v2_dir("io.bfq.weight", "io.weight", "io.max")
    v2_resources.apply({"blockIO": {"weight": 500, "weightDevice": blkio["weightDevice"]}}, d)
    assert d.writes == [("io.bfq.weight", "500"), ("io.bfq.weight", "8:0 1000")]
    with pytest.raises(InvalidArgument, match=r"blockIO\.weight: 5 is not in 10\.\.1000"):
        v2_resources.apply({"blockIO": {"weight": 5}}, d)


def test_v2_pids_hugetlb_rdma():
    d = v2_dir("pids.max", "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max", "hugetlb.1GB.max", "rdma.max")
    resources = {
        "pids": {"limit": -1},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 22}, {"pageSize": "1GB", "limit": 0}],
        "rdma": {"mlx5_1": {"hcaHandles": 3}},
    }
    v2_resources.apply(resources, d)
    assert d.writes == [
        ("pids.max", "max"),
        ("hugetlb.2MB.max", "4194304"),
        ("hugetlb.2MB.rsvd.max", "4194304"),
        ("hugetlb.1GB.max", "0"),
        ("rdma.max", "mlx5_1 hca_handle=3"),
    ]


def test_v2_unified_goes_last():
    d = v2_dir("memory.max", "memory.high", "cgroup.max.depth")
    unified = {"memory.max": "max", "memory.high": "1G", "cgroup.max.depth": "3"}
    v2_resources.apply({"memory": {"limit": 1000}, "unified": unified}, d)
    assert d.writes == [
        ("memory.max", "1000"),
        ("memory.max", "max"),
        ("memory.high", "1G"),
        ("cgroup.max.depth", "3"),
    ]


@pytest.mark.parametrize(
    ("unified", "message"),
    [
        ({"../memory.max": "1"}, r"unified\.\.\./memory\.max: expected a file name"),
        ({"memory.high": 5}, r"unified\.memory\.high: expected a string"),
        ({"misc.max": "x 1"}, r"^linux\.resources\.unified\.misc\.max: misc cgroup controller not"),
        ({"memory.nope": "1"}, r"^linux\.resources\.unified\.memory\.nope: memory\.nope not avail"),
    ],
)
def test_v2_unified_errors(unified, message):
    with pytest.raises(InvalidArgument, match=message):
        v2_resources.apply({"unified": unified}, v2_dir("memory.high"))


def test_v2_devices_go_to_the_bpf_filter(monkeypatch):
    installed = []
    monkeypatch.setattr(devices_bpf, "install", lambda path, rules: installed.append((path, rules)))
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3},
    ]
    v2_resources.apply({"devices": rules}, v2_dir())
    assert installed == [("/fake", [DeviceRule(False), DeviceRule(True, "c", 1, 3, "rwm")])]

    def refuse(path: str, rules: list[DeviceRule]) -> None:
        raise OSError(errno.EACCES, "BPF_PROG_LOAD: Permission denied; verifier: R0 !read_ok")

    monkeypatch.setattr(devices_bpf, "install", refuse)
    with pytest.raises(InvalidArgument) as e:
        v2_resources.apply({"devices": rules}, v2_dir())
    assert str(e.value) == (
        "linux.resources.devices: cannot attach the device filter to /fake: "
        "BPF_PROG_LOAD: Permission denied; verifier: R0 !read_ok"
    )
