"""The shape of runc's ``events --stats`` data, and parsers shared by the v1 and v2 readers.

runc encodes Go structs with ``omitempty``: zero numbers and empty lists or maps are left out,
except the fields runc always writes (``kernel``, ``user``, ``limit``, ``failcnt``, the cpuset
flags), and nested objects are always there. ``put`` and the builders below keep that shape so
a client written against runc reads skiff's output unchanged.
"""

from __future__ import annotations

import os

from skiff.cgroups.files import CgroupDir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_UINT64 = 2**64 - 1

_CPUSET_FLAGS = (
    "cpu_exclusive",
    "mem_hardwall",
    "mem_exclusive",
    "memory_migrate",
    "memory_spread_page",
    "memory_spread_slab",
    "memory_pressure",
    "sched_load_balance",
    "sched_relax_domain_level",
)


def empty() -> dict[str, Any]:
    return {
        "cpu": {"usage": cpu_usage(0, [], [], [], 0, 0), "throttling": {}},
        "cpuset": cpuset([], [], {}),
        "memory": {
            "usage": memory_entry(0, 0, 0, 0),
            "swap": memory_entry(0, 0, 0, 0),
            "kernel": memory_entry(0, 0, 0, 0),
            "kernelTCP": memory_entry(0, 0, 0, 0),
        },
        "pids": {},
        "blkio": {},
        "hugetlb": {},
        "intel_rdt": {},
        "network_interfaces": None,
    }


def put(target: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` unless ``value`` is empty (Go's omitempty)."""
    if value:
        target[key] = value


def cpu_usage(
    total: int,
    percpu: list[int],
    percpu_kernel: list[int],
    percpu_user: list[int],
    kernel: int,
    user: int,
) -> dict[str, Any]:
    """CPU time in nanoseconds."""
    usage: dict[str, Any] = {}
    put(usage, "total", total)
    put(usage, "percpu", percpu)
    put(usage, "percpu_kernel", percpu_kernel)
    put(usage, "percpu_user", percpu_user)
    usage["kernel"] = kernel
    usage["user"] = user
    return usage


def cpuset(cpus: list[int], mems: list[int], flags: dict[str, int]) -> dict[str, Any]:
    """The cpuset object in runc's key order; flags missing from ``flags`` are 0."""
    result: dict[str, Any] = {}
    put(result, "cpus", cpus)
    result["cpu_exclusive"] = flags.get("cpu_exclusive", 0)
    put(result, "mems", mems)
    for flag in _CPUSET_FLAGS[1:]:
        result[flag] = flags.get(flag, 0)
    return result


def memory_entry(limit: int, usage: int, max_usage: int, failcnt: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"limit": limit}
    put(entry, "usage", usage)
    put(entry, "max", max_usage)
    entry["failcnt"] = failcnt
    return entry


def blkio_entry(major: int, minor: int, op: str, value: int) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    put(entry, "major", major)
    put(entry, "minor", minor)
    put(entry, "op", op)
    put(entry, "value", value)
    return entry


def read_limit(d: CgroupDir, name: str) -> int:
    """A limit file; ``max`` reads as the largest uint64, as runc reports it; missing as 0."""
    try:
        value = d.read(name)
    except FileNotFoundError:
        return 0
    return MAX_UINT64 if value == "max" else int(value or 0)


def read_numbers(d: CgroupDir, name: str) -> list[int]:
    """A file of whitespace-separated integers (cpuacct.usage_percpu); missing reads as []."""
    try:
        return [int(v) for v in d.read(name).split()]
    except FileNotFoundError:
        return []


def parse_cpu_list(text: str) -> list[int]:
    """A cpuset list (``0-3,8``) as numbers."""
    result: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        result.extend(range(int(first), int(last or first) + 1))
    return result


def read_cpu_list(d: CgroupDir, name: str) -> list[int]:
    try:
        return parse_cpu_list(d.read(name))
    except FileNotFoundError:
        return []


def page_sizes(d: CgroupDir, suffix: str) -> list[str]:
    """The huge page sizes of the ``hugetlb.<size>.<suffix>`` files (also ``<size>.rsvd``)."""
    try:
        names = os.listdir(d.path)
    except FileNotFoundError:
        return []
    return sorted(
        {n.split(".")[1] for n in names if n.startswith("hugetlb.") and n.endswith(suffix)}
    )


def cpuset_flags(d: CgroupDir) -> dict[str, int]:
    """v1's cpuset flags, each from its ``cpuset.<flag>`` file (0 when missing)."""
    return {flag: d.read_int(f"cpuset.{flag}") for flag in _CPUSET_FLAGS}
