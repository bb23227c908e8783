"""The container benchmarks' pure helpers: percentiles, /proc's kB fields, state changes."""

import pytest

from bench.stats import changes, kib_fields, percentile

SMAPS_ROLLUP = """\
5568d5dce000-7ffd7f5f8000 ---p 00000000 00:00 0                          [rollup]
Rss:                2376 kB
Pss:                1129 kB
Pss_Dirty:           328 kB
Shared_Clean:       1300 kB
Private_Dirty:       328 kB
Swap:                  0 kB
"""

MEMINFO = """\
MemTotal:       24634136 kB
MemFree:        20100000 kB
MemAvailable:   22000123 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
"""


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == 25.0
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 99) == pytest.approx(39.7)


def test_percentile_ignores_order_and_keeps_a_single_value() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([7.5], 99) == 7.5


def test_p99_of_a_hundred_is_near_the_largest() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 50) == pytest.approx(50.5)


@pytest.mark.parametrize("p", [-1, 100.5])
def test_percentile_out_of_range(p: float) -> None:
    with pytest.raises(ValueError, match="not between 0 and 100"):
        percentile([1.0], p)


def test_percentile_of_nothing() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_smaps_rollup_fields_in_bytes_without_the_address_line() -> None:
    fields = kib_fields(SMAPS_ROLLUP)
    assert fields["Pss"] == 1129 * 1024
    assert fields["Rss"] == 2376 * 1024
    assert fields["Swap"] == 0
    assert len(fields) == 6  # the "[rollup]" address line is no field


def test_meminfo_fields_skip_counts_without_a_unit() -> None:
    fields = kib_fields(MEMINFO)
    assert fields["MemAvailable"] == 22000123 * 1024
    assert "HugePages_Total" not in fields
    assert fields["Hugepagesize"] == 2048 * 1024


def test_kib_fields_of_a_process_gone() -> None:
    assert kib_fields("") == {}


def test_changes_lists_growth_first_with_its_sign() -> None:
    before = {"database bytes": 4096, "files": 3, "processes": 0}
    after = {"database bytes": 8192, "files": 2, "processes": 0}
    assert changes(before, after) == (
        "database bytes 4096->8192 (+4096); files 3->2 (-1) -- unchanged: processes 0"
    )


def test_changes_when_nothing_changed() -> None:
    figures = {"mounts": 0, "cgroups": 0}
    assert changes(figures, dict(figures)) == "all unchanged: mounts 0, cgroups 0"


def test_a_figure_new_since_before_counts_from_zero() -> None:
    assert changes({}, {"events rows": 12}) == "events rows 0->12 (+12)"
