"""runc's ``events --stats`` data from fake v1 and v2 cgroup trees."""

import json
import os
from pathlib import Path

from skiff.cgroups import stats, v1_stats, v2_stats
from skiff.cgroups.files import CgroupDir


def tree(path: Path, files: dict[str, str]) -> CgroupDir:
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return CgroupDir(str(path))


def test_empty_has_runcs_shape():
    assert json.dumps(stats.empty(), separators=(",", ":")) == (
        '{"cpu":{"usage":{"kernel":0,"user":0},"throttling":{}},'
        '"cpuset":{"cpu_exclusive":0,"mem_hardwall":0,"mem_exclusive":0,"memory_migrate":0,'
        '"memory_spread_page":0,"memory_spread_slab":0,"memory_pressure":0,'
        '"sched_load_balance":0,"sched_relax_domain_level":0},'
        '"memory":{"usage":{"limit":0,"failcnt":0},"swap":{"limit":0,"failcnt":0},'
        '"kernel":{"limit":0,"failcnt":0},"kernelTCP":{"limit":0,"failcnt":0}},'
        '"pids":{},"blkio":{},"hugetlb":{},"intel_rdt":{},"network_interfaces":null}'
    )


def test_parse_cpu_list():
    assert stats.parse_cpu_list("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11]
    assert stats.parse_cpu_list("") == []


def test_v1_stats(tmp_path):
    tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    dirs = {
        "cpuacct": tree(
            tmp_path / "cpuacct",
            {
                "cpuacct.usage": "3000\n",
                "cpuacct.usage_percpu": "1000 2000 \n",
                "cpuacct.usage_all": "cpu user system\n0 600 400\n1 1500 500\n",
                "cpuacct.stat": "user 3\nsystem 1\n",
            },
        ),
        "cpu": tree(
            tmp_path / "cpu", {"cpu.stat": "nr_periods 10\nnr_throttled 2\nthrottled_time 999\n"}
        ),
        "cpuset": tree(
            tmp_path / "cpuset",
            {"cpuset.cpus": "0-1\n", "cpuset.mems": "0\n", "cpuset.sched_load_balance": "1\n"},
        ),
        "memory": tree(
            tmp_path / "memory",
            {
                "memory.stat": "total_rss 8192\ncache 4096\nrss 8192\n",
                "memory.limit_in_bytes": "1048576\n",
                "memory.usage_in_bytes": "12288\n",
                "memory.max_usage_in_bytes": "20480\n",
                "memory.failcnt": "3\n",
                "memory.memsw.limit_in_bytes": "2097152\n",
                "memory.memsw.usage_in_bytes": "12288\n",
                "memory.kmem.limit_in_bytes": "9223372036854771712\n",
                "memory.kmem.tcp.limit_in_bytes": "9223372036854771712\n",
            },
        ),
        "pids": tree(tmp_path / "pids", {"pids.current": "2\n", "pids.max": "max\n"}),
        "blkio": tree(
            tmp_path / "blkio",
            {
                "blkio.io_serviced_recursive": "Total 0\n",
                "blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 0\n"
                "Total 4096\n",
                "blkio.throttle.io_serviced_recursive": "8:0 Read 1\nTotal 1\n",
            },
        ),
        "hugetlb": tree(
            tmp_path / "hugetlb",
            {
                "hugetlb.2MB.limit_in_bytes": "max",
                "hugetlb.2MB.rsvd.limit_in_bytes": "max",
                "hugetlb.2MB.usage_in_bytes": "2097152\n",
                "hugetlb.2MB.max_usage_in_bytes": "0\n",
                "hugetlb.2MB.failcnt": "1\n",
            },
        ),
    }
    data = v1_stats.read(dirs.get)
    assert data["cpu"] == {
        "usage": {
            "total": 3000,
            "percpu": [1000, 2000],
            "percpu_kernel": [400, 500],
            "percpu_user": [600, 1500],
            "kernel": tick_ns,
            "user": 3 * tick_ns,
        },
        "throttling": {"periods": 10, "throttledPeriods": 2, "throttledTime": 999},
    }
    assert list(data["cpuset"])[:3] == ["cpus", "cpu_exclusive", "mems"]
    assert data["cpuset"]["cpus"] == [0, 1] and data["cpuset"]["sched_load_balance"] == 1
    memory = data["memory"]
    assert memory["cache"] == 4096
    assert memory["usage"] == {"limit": 1048576, "usage": 12288, "max": 20480, "failcnt": 3}
    assert memory["swap"] == {"limit": 2097152, "usage": 12288, "failcnt": 0}
    assert memory["kernel"] == {"limit": 9223372036854771712, "failcnt": 0}
    assert list(memory["raw"]) == ["cache", "rss", "total_rss"]  # sorted, as Go writes maps
    assert data["pids"] == {"current": 2}  # "max" is no limit: left out, as runc does
    assert data["blkio"] == {
        "ioServiceBytesRecursive": [
            {"major": 8, "op": "Read", "value": 4096},
            {"major": 8, "op": "Write"},
        ],
        "ioServicedRecursive": [{"major": 8, "op": "Read", "value": 1}],
    }
    assert data["hugetlb"] == {"2MB": {"usage": 2097152, "failcnt": 1}}


def test_v1_stats_without_controllers():
    assert v1_stats.read(lambda controller: None) == stats.empty()


def test_v2_stats(tmp_path):
    d = tree(
        tmp_path,
        {
            "cpu.stat": "usage_usec 30\nuser_usec 20\nsystem_usec 10\nnr_periods 4\n"
            "nr_throttled 1\nthrottled_usec 7\n",
            "cpuset.cpus.effective": "0-2\n",
            "cpuset.mems.effective": "0\n",
            "memory.current": "4096\n",
            "memory.max": "max\n",
            "memory.peak": "8192\n",
            "memory.events": "low 0\nhigh 0\nmax 5\noom 0\noom_kill 0\n",
            "memory.swap.current": "1024\n",
            "memory.swap.max": "2048\n",
            "memory.stat": "anon 100\nfile 300\n",
            "pids.current": "3\n",
            "pids.max": "64\n",
            "io.stat": "8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
            "hugetlb.2MB.max": "max\n",
            "hugetlb.2MB.rsvd.max": "max\n",
            "hugetlb.2MB.current": "0\n",
            "hugetlb.2MB.events": "max 2\n",
        },
    )
    data = v2_stats.read(d)
    assert data["cpu"] == {
        "usage": {"total": 30000, "kernel": 10000, "user": 20000},
        "throttling": {"periods": 4, "throttledPeriods": 1, "throttledTime": 7000},
    }
    assert data["cpuset"]["cpus"] == [0, 1, 2] and data["cpuset"]["mems"] == [0]
    memory = data["memory"]
    assert memory["cache"] == 300
    assert memory["usage"] == {"limit": stats.MAX_UINT64, "usage": 4096, "max": 8192, "failcnt": 5}
    # swap as v1 reported it: memory plus swap; the limit stays "max" since memory has none
    assert memory["swap"] == {"limit": stats.MAX_UINT64, "usage": 5120, "failcnt": 0}
    assert memory["raw"] == {"anon": 100, "file": 300}
    assert data["pids"] == {"current": 3, "limit": 64}
    assert data["blkio"] == {
        "ioServiceBytesRecursive": [
            {"major": 8, "op": "Read", "value": 4096},
            {"major": 8, "op": "Write"},
        ],
        "ioServicedRecursive": [
            {"major": 8, "op": "Read", "value": 1},
            {"major": 8, "op": "Write"},
        ],
    }
    assert data["hugetlb"] == {"2MB": {"failcnt": 2}}


def test_v2_swap_limit_adds_the_memory_limit(tmp_path):
    d = tree(
        tmp_path,
        {"memory.current": "0", "memory.max": "1000", "memory.swap.max": "500", "memory.stat": ""},
    )
    assert v2_stats.read(d)["memory"]["swap"] == {"limit": 1500, "failcnt": 0}
