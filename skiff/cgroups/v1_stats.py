"""runc's ``events --stats`` data from cgroup v1 files (see ``skiff.cgroups.stats``)."""

from __future__ import annotations

import os

from skiff.cgroups import stats
from skiff.cgroups.files import CgroupDir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    DirOf = Callable[[str], CgroupDir | None]
    """controller -> the cgroup's directory in its hierarchy, or None when not mounted."""

# blkio files and runc's keys for them; the first set that has data wins (CFQ, then BFQ,
# then the throttling layer, which counts IO under any scheduler).
_BLKIO_CFQ = {
    "ioServiceBytesRecursive": "blkio.io_service_bytes_recursive",
    "ioServicedRecursive": "blkio.io_serviced_recursive",
    "ioQueueRecursive": "blkio.io_queued_recursive",
    "ioServiceTimeRecursive": "blkio.io_service_time_recursive",
    "ioWaitTimeRecursive": "blkio.io_wait_time_recursive",
    "ioMergedRecursive": "blkio.io_merged_recursive",
    "ioTimeRecursive": "blkio.time_recursive",
    "sectorsRecursive": "blkio.sectors_recursive",
}
_BLKIO_BFQ = {
    "ioServiceBytesRecursive": "blkio.bfq.io_service_bytes_recursive",
    "ioServicedRecursive": "blkio.bfq.io_serviced_recursive",
}
_BLKIO_THROTTLE = {
    "ioServiceBytesRecursive": "blkio.throttle.io_service_bytes_recursive",
    "ioServicedRecursive": "blkio.throttle.io_serviced_recursive",
}


def read(dir_of: DirOf) -> dict[str, Any]:
    result = stats.empty()
    if d := dir_of("cpuacct"):
        result["cpu"]["usage"] = _cpuacct(d)
    if d := dir_of("cpu"):
        _throttling(d, result["cpu"]["throttling"])
    if d := dir_of("cpuset"):
        result["cpuset"] = stats.cpuset(
            stats.read_cpu_list(d, "cpuset.cpus"),
            stats.read_cpu_list(d, "cpuset.mems"),
            stats.cpuset_flags(d),
        )
    if d := dir_of("memory"):
        result["memory"] = _memory(d)
    if d := dir_of("pids"):
        stats.put(result["pids"], "current", d.read_int("pids.current"))
        stats.put(result["pids"], "limit", d.read_int("pids.max"))
    if d := dir_of("blkio"):
        result["blkio"] = _blkio(d)
    if d := dir_of("hugetlb"):
        result["hugetlb"] = _hugetlb(d)
    return result


def _cpuacct(d: CgroupDir) -> dict[str, Any]:
    # cpuacct.usage_all: a "cpu user system" header, then one row of nanoseconds per CPU.
    rows = [r.split() for r in _read_or_empty(d, "cpuacct.usage_all").splitlines()[1:]]
    rows = [r for r in rows if len(r) == 3]
    # cpuacct.stat counts clock ticks.
    ticks = d.read_keyed("cpuacct.stat")
    per_tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return stats.cpu_usage(
        d.read_int("cpuacct.usage"),
        stats.read_numbers(d, "cpuacct.usage_percpu"),
        [int(r[2]) for r in rows],
        [int(r[1]) for r in rows],
        ticks.get("system", 0) * per_tick,
        ticks.get("user", 0) * per_tick,
    )


def _throttling(d: CgroupDir, throttling: dict[str, Any]) -> None:
    cpu_stat = d.read_keyed("cpu.stat")
    stats.put(throttling, "periods", cpu_stat.get("nr_periods", 0))
    stats.put(throttling, "throttledPeriods", cpu_stat.get("nr_throttled", 0))
    stats.put(throttling, "throttledTime", cpu_stat.get("throttled_time", 0))


def _memory_entry(d: CgroupDir, prefix: str) -> dict[str, Any]:
    return stats.memory_entry(
        d.read_int(f"{prefix}.limit_in_bytes"),
        d.read_int(f"{prefix}.usage_in_bytes"),
        d.read_int(f"{prefix}.max_usage_in_bytes"),
        d.read_int(f"{prefix}.failcnt"),
    )


def _memory(d: CgroupDir) -> dict[str, Any]:
    raw = d.read_keyed("memory.stat")
    memory: dict[str, Any] = {}
    stats.put(memory, "cache", raw.get("cache", 0))
    memory["usage"] = _memory_entry(d, "memory")
    # As runc: v1's "swap" is memory plus swap (memsw).
    memory["swap"] = _memory_entry(d, "memory.memsw")
    memory["kernel"] = _memory_entry(d, "memory.kmem")
    memory["kernelTCP"] = _memory_entry(d, "memory.kmem.tcp")
    stats.put(memory, "raw", dict(sorted(raw.items())))  # Go writes map keys sorted
    return memory


def _read_or_empty(d: CgroupDir, name: str) -> str:
    try:
        return d.read(name)
    except FileNotFoundError:
        return ""


def _blkio_entries(text: str) -> list[dict[str, Any]]:
    """Lines ``MAJOR:MINOR [OP] VALUE``; the ``Total`` line is left out, as runc does."""
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) not in (2, 3) or ":" not in fields[0]:
            continue
        major, _, minor = fields[0].partition(":")
        op = fields[1] if len(fields) == 3 else ""
        entries.append(stats.blkio_entry(int(major), int(minor), op, int(fields[-1])))
    return entries


def _blkio(d: CgroupDir) -> dict[str, Any]:
    for files in (_BLKIO_CFQ, _BLKIO_BFQ, _BLKIO_THROTTLE):
        blkio: dict[str, Any] = {}
        for key, name in files.items():
            stats.put(blkio, key, _blkio_entries(_read_or_empty(d, name)))
        if blkio:
            return blkio
    return {}


def _hugetlb(d: CgroupDir) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for size in stats.page_sizes(d, ".limit_in_bytes"):
        entry: dict[str, Any] = {}
        stats.put(entry, "usage", d.read_int(f"hugetlb.{size}.usage_in_bytes"))
        stats.put(entry, "max", d.read_int(f"hugetlb.{size}.max_usage_in_bytes"))
        entry["failcnt"] = d.read_int(f"hugetlb.{size}.failcnt")
        result[size] = entry
    return result
