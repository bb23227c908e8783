"""v1 units to v2 values, as runc and crun convert them."""

import pytest

from skiff.cgroups import convert
from skiff.errors import InvalidArgument


@pytest.mark.parametrize(
    ("shares", "weight"),
    [(0, 0), (1, 1), (2, 1), (1024, 100), (262144, 10000), (500000, 10000), (512, 59), (4096, 303)],
)
def test_shares_to_weight(shares, weight):
    assert convert.shares_to_weight(shares) == weight


def test_shares_to_weight_is_monotonic_and_in_range():
    weights = [convert.shares_to_weight(s) for s in range(2, 262145, 97)]
    assert weights == sorted(weights)
    assert min(weights) >= 1 and max(weights) <= 10000


@pytest.mark.parametrize(("weight", "io_weight"), [(10, 1), (500, 4950), (1000, 10000)])
def test_blkio_weight_to_io_weight(weight, io_weight):
    assert convert.blkio_weight_to_io_weight(weight) == io_weight


@pytest.mark.parametrize(
    ("swap", "memory", "expected"),
    [
        (None, None, None),
        (0, 100, None),  # unset
        (None, -1, -1),  # unlimited memory, swap unset: unlimited swap (runc)
        (-1, 100, -1),
        (100, 100, 0),  # memory+swap equal to memory: no swap
        (300, 100, 200),
    ],
)
def test_swap_to_v2(swap, memory, expected):
    assert convert.swap_to_v2(swap, memory, "f") == expected


@pytest.mark.parametrize(
    ("swap", "memory", "message"),
    [(100, None, "needs a memory limit"), (100, -1, "needs a memory limit"), (50, 100, "below")],
)
def test_swap_to_v2_rejects(swap, memory, message):
    with pytest.raises(InvalidArgument, match=f"^f: .*{message}"):
        convert.swap_to_v2(swap, memory, "f")


@pytest.mark.parametrize(
    ("quota", "period", "expected"),
    [
        (None, None, None),
        (0, 0, None),
        (50000, 100000, "50000 100000"),
        (50000, None, "50000"),
        (-1, 100000, "max 100000"),
        (None, 20000, "max 20000"),
        (-1, None, "max"),
    ],
)
def test_cpu_max(quota, period, expected):
    assert convert.cpu_max(quota, period) == expected


def test_limits_and_rates():
    assert convert.limit(-1) == "max"
    assert convert.limit(0) == "0"
    assert convert.limit(4096) == "4096"
    assert convert.throttle_rate(0) == "max"
    assert convert.throttle_rate(1048576) == "1048576"
