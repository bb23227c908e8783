"""--since/--until values as the docker CLI reads them, and Docker's messages for bad ones
(the messages were taken from docker 28's client)."""

import time

import pytest

from skiff.engine.timestamps import (
    TimeValueError,
    go_duration,
    parse_option,
    parse_time,
    rfc3339_nano,
)

NOW = 1_700_000_000.7  # 2023-11-14T22:13:20.7Z


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("1h30m", 5_400_000_000_000),
        ("10m", 600_000_000_000),
        ("1.5s", 1_500_000_000),
        ("-2ms", -2_000_000),
        ("3\u00b5s", 3_000),
        ("0", 0),
        (".5m", 30_000_000_000),
    ],
)
def test_go_durations(text: str, nanos: int) -> None:
    assert go_duration(text) == nanos


@pytest.mark.parametrize("text", ["", "m", "10", "1x", "1.m2", ".", "1h-5m"])
def test_not_go_durations(text: str) -> None:
    assert go_duration(text) is None


@pytest.mark.parametrize(
    ("value", "when"),
    [
        ("10m", 1_699_999_400),  # a duration before now, in whole seconds as Docker truncates
        ("-5m", 1_700_000_300),
        ("0", 0),
        ("1700000000", 1_700_000_000),
        ("1700000000.5", 1_700_000_000_500_000_000),
        ("+5", 5),
        ("2023-11-14T22:13:20Z", 1_700_000_000),
        ("2023-11-14T22:13:20.123456789123Z", 1_700_000_000_123_456_789),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000),
        ("2023-11-14Z", 1_699_920_000),
        ("2023-11-14T22Z", 1_699_999_200),
        ("2023-11-14T22:13Z", 1_699_999_980),
    ],
)
def test_values(value: str, when: int) -> None:
    """``when``: seconds, or nanoseconds where a fraction matters."""
    nanos = when if when > 10**12 else when * 1_000_000_000
    assert parse_time(value, NOW) == nanos


def test_a_value_without_a_zone_is_local_time() -> None:
    offset = time.localtime(NOW).tm_gmtoff
    assert parse_time("2023-11-14T22:13:20", NOW) == (1_700_000_000 - offset) * 10**9
    assert parse_time("2023-11-14", NOW) == (1_699_920_000 - offset) * 10**9


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("foo", 'failed to parse value as time or duration: "foo"'),
        ("1.", 'failed to parse value as time or duration: "1."'),
        ("2023-13-01", 'parsing time "2023-13-01": month out of range'),
        ("2023-02-30", 'parsing time "2023-02-30": day out of range'),
        ("2023-1-01", 'parsing time "2023-1-01" as "2006-01-02": cannot parse "1-01" as "01"'),
        ("2023-11-14 x", 'parsing time "2023-11-14 x": extra text: " x"'),
        ("2023-11-14T25:00", 'parsing time "2023-11-14T25:00": hour out of range'),
    ],
)
def test_docker_messages(value: str, message: str) -> None:
    with pytest.raises(TimeValueError) as e:
        parse_time(value, NOW)
    assert str(e.value) == message
    with pytest.raises(TimeValueError) as e:
        parse_option("since", value, NOW)
    assert str(e.value) == f'invalid value for "since": {message}'


def test_rfc3339_nano() -> None:
    assert rfc3339_nano(1_700_000_000_000_000_001) == "2023-11-14T22:13:20.000000001Z"
    assert rfc3339_nano(1_700_000_000 * 10**9).endswith(".000000000Z")
