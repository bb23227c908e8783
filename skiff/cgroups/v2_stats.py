"""runc's ``events --stats`` data from cgroup v2 files (see ``skiff.cgroups.stats``).

v2 has no per-CPU usage, no kernel-memory counters and no failcnt files: those stay zero,
except ``failcnt``, taken from the ``max`` (memory) and ``fail`` (swap) counts of the
``*.events`` files. As runc does, ``swap`` reports memory plus swap, as v1 did.
"""

from __future__ import annotations

from skiff.cgroups import stats
from skiff.cgroups.files import CgroupDir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_IO_KEYS = {
    "rbytes": ("ioServiceBytesRecursive", "Read"),
    "wbytes": ("ioServiceBytesRecursive", "Write"),
    "rios": ("ioServicedRecursive", "Read"),
    "wios": ("ioServicedRecursive", "Write"),
}


def read(d: CgroupDir) -> dict[str, Any]:
    result = stats.empty()
    _cpu(d, result["cpu"])
    result["cpuset"] = stats.cpuset(
        stats.read_cpu_list(d, "cpuset.cpus.effective"),
        stats.read_cpu_list(d, "cpuset.mems.effective"),
        {},
    )
    if d.has("memory.current"):
        result["memory"] = _memory(d)
    stats.put(result["pids"], "current", d.read_int("pids.current"))
    stats.put(result["pids"], "limit", d.read_int("pids.max"))
    result["blkio"] = _io(d)
    result["hugetlb"] = _hugetlb(d)
    return result


def _cpu(d: CgroupDir, cpu: dict[str, Any]) -> None:
    """cpu.stat counts microseconds; runc reports nanoseconds."""
    cpu_stat = d.read_keyed("cpu.stat")
    cpu["usage"] = stats.cpu_usage(
        cpu_stat.get("usage_usec", 0) * 1000,
        [],
        [],
        [],
        cpu_stat.get("system_usec", 0) * 1000,
        cpu_stat.get("user_usec", 0) * 1000,
    )
    throttling = cpu["throttling"]
    stats.put(throttling, "periods", cpu_stat.get("nr_periods", 0))
    stats.put(throttling, "throttledPeriods", cpu_stat.get("nr_throttled", 0))
    stats.put(throttling, "throttledTime", cpu_stat.get("throttled_usec", 0) * 1000)


def _memory(d: CgroupDir) -> dict[str, Any]:
    raw = d.read_keyed("memory.stat")
    usage, limit = d.read_int("memory.current"), stats.read_limit(d, "memory.max")
    swap_usage, swap_limit = (
        d.read_int("memory.swap.current"),
        stats.read_limit(d, "memory.swap.max"),
    )
    if swap_limit != stats.MAX_UINT64:
        swap_limit += limit
    memory: dict[str, Any] = {}
    stats.put(memory, "cache", raw.get("file", 0))
    memory["usage"] = stats.memory_entry(
        limit,
        usage,
        d.read_int("memory.peak"),
        d.read_keyed("memory.events").get("max", 0),
    )
    memory["swap"] = stats.memory_entry(
        min(swap_limit, stats.MAX_UINT64),
        swap_usage + usage,
        0,  # a peak of memory plus swap is not known
        d.read_keyed("memory.swap.events").get("fail", 0),
    )
    memory["kernel"] = stats.memory_entry(0, 0, 0, 0)
    memory["kernelTCP"] = stats.memory_entry(0, 0, 0, 0)
    stats.put(memory, "raw", dict(sorted(raw.items())))  # Go writes map keys sorted
    return memory


def _io(d: CgroupDir) -> dict[str, Any]:
    """io.stat lines: ``MAJOR:MINOR rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N``."""
    try:
        text = d.read("io.stat")
    except FileNotFoundError:
        return {}
    blkio: dict[str, Any] = {}
    for line in text.splitlines():
        device, *pairs = line.split() or [""]
        major, _, minor = device.partition(":")
        if not minor:
            continue
        for pair in pairs:
            key, _, value = pair.partition("=")
            if key in _IO_KEYS and value.isdigit():
                table, op = _IO_KEYS[key]
                entry = stats.blkio_entry(int(major), int(minor), op, int(value))
                blkio.setdefault(table, []).append(entry)
    return blkio


def _hugetlb(d: CgroupDir) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for size in stats.page_sizes(d, ".max"):
        entry: dict[str, Any] = {}
        stats.put(entry, "usage", d.read_int(f"hugetlb.{size}.current"))
        entry["failcnt"] = d.read_keyed(f"hugetlb.{size}.events").get("max", 0)
        result[size] = entry
    return result
