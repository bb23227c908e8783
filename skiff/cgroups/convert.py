"""OCI resource values (cgroup v1 units) to cgroup v2 values, the way runc and crun convert them."""

import math

from skiff.errors import InvalidArgument


def limit(value: int) -> str:
    """A limit as a v2 file takes it: negative means no limit, ``max``."""
    return "max" if value < 0 else str(value)


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144, default 1024) to cpu.weight (1..10000, default 100).

    The formula of crun >= 1.23 and runc >= 1.3.2: a quadratic in log2(shares) through
    (2, 1), (1024, 100) and (262144, 10000), so the default maps to the default (the older
    linear formula mapped 1024 to 39).
    """
    if shares <= 0:
        return 0
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    log = math.log2(shares)
    return math.ceil(10 ** ((log * log + 125 * log) / 612 - 7 / 34))


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio.weight (10..1000) to io.weight (1..10000), linearly, as runc and crun do."""
    return 1 + (weight - 10) * 9999 // 990


def swap_to_v2(swap: int | None, memory: int | None, field: str) -> int | None:
    """OCI ``memory.swap`` (memory plus swap, as v1's memsw) to memory.swap.max (swap alone).

    None leaves memory.swap.max alone; -1 is no limit. As runc: with memory unlimited and
    swap unset, swap becomes unlimited too; swap equal to memory means no swap (0).
    """
    swap, memory = swap or 0, memory or 0
    if memory == -1 and swap == 0:
        return -1
    if swap == -1:
        return -1
    if swap == 0:
        return None
    if memory <= 0:
        raise InvalidArgument(f"{field}: a swap limit needs a memory limit")
    if swap < memory:
        raise InvalidArgument(
            f"{field}: memory+swap limit {swap} is below the memory limit {memory}"
        )
    return swap - memory


def cpu_max(quota: int | None, period: int | None) -> str | None:
    """cpu.max from CFS quota and period, as runc writes it (None: leave it alone).

    Without a period the kernel keeps the current one; a quota of -1 (or unset) is ``max``.
    """
    if not quota and not period:
        return None
    value = str(quota) if quota and quota > 0 else "max"
    return f"{value} {period}" if period else value


def throttle_rate(rate: int) -> str:
    """An io.max rate: 0 removes the limit, as writing 0 to v1's blkio.throttle files does."""
    return "max" if rate <= 0 else str(rate)
