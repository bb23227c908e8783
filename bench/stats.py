"""Pure helpers of the container scenarios: percentiles and the kernel's ``Key: N kB`` files."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100), interpolating linearly between the closest ranks
    (numpy's default method), so p50 of an even count is the mean of the middle two."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is not between 0 and 100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def kib_fields(text: str) -> dict[str, int]:
    """The ``Key:  N kB`` lines of /proc/meminfo or /proc/PID/smaps_rollup, in bytes.

    Other lines are left out: smaps_rollup's first line (an address range, whose
    ``00:00`` device is no field) and meminfo's counts without a unit (``HugePages_Total``).
    """
    fields = {}
    for line in text.splitlines():
        key, colon, rest = line.partition(":")
        value = rest.split()
        if colon and " " not in key and len(value) == 2 and value[1] == "kB" and value[0].isdigit():
            fields[key] = int(value[0]) * 1024
    return fields


def changes(before: dict[str, int], after: dict[str, int]) -> str:
    """``name before->after (+growth)`` of the figures that changed, then the others."""
    changed = [
        f"{name} {before.get(name, 0)}->{now} ({now - before.get(name, 0):+d})"
        for name, now in after.items()
        if now != before.get(name, 0)
    ]
    same = [f"{name} {now}" for name, now in after.items() if now == before.get(name, 0)]
    if not changed:
        return "all unchanged: " + ", ".join(same)
    return "; ".join(changed) + (" -- unchanged: " + ", ".join(same) if same else "")
