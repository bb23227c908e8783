"""Reading conmon's k8s-file log: seeking by time and from the end, joining pieces of a
line, following a file that grows and is rotated."""

import os
import random
import threading
import time
from pathlib import Path

import pytest

from skiff.engine import logs

BASE = 1_700_000_000 * 1_000_000_000  # 2023-11-14T22:13:20Z in nanoseconds


def stamp(nanos: int, offset_minutes: int = 0) -> str:
    """An RFC 3339 time as conmon writes it (local time with a numeric offset)."""
    local = nanos + offset_minutes * 60 * 1_000_000_000
    seconds, fraction = divmod(local, 1_000_000_000)
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        + f".{fraction:09d}{sign}{hours:02d}:{minutes:02d}"
    )


def write_log(path: Path, records: list[tuple[int, str, str, str]]) -> None:
    """(nanoseconds, stream, F or P, text) records, in order."""
    with open(path, "w") as f:
        for nanos, stream, flag, text in records:
            f.write(f"{stamp(nanos)} {stream} {flag} {text}\n")


def steady(count: int, step: int = 10_000_000) -> list[tuple[int, str, str, str]]:
    """``count`` whole lines ``step`` ns apart, every fifth on stderr."""
    return [
        (BASE + i * step, "stderr" if i % 5 == 0 else "stdout", "F", f"line {i}")
        for i in range(count)
    ]


def texts(path: Path, **kwargs: object) -> list[tuple[str, bytes]]:
    return [(line.stream, line.text) for line in logs.lines(str(path), **kwargs)]  # type: ignore[arg-type]


def brute_force(records: list[tuple[int, str, str, str]], since: int | None, until: int | None):
    """What a scan of every line gives (lines of whole records only)."""
    return [
        (stream, text.encode() + b"\n")
        for nanos, stream, _, text in records
        if (since is None or nanos >= since) and (until is None or nanos <= until)
    ]


def test_parse_line_and_time() -> None:
    record = logs.parse_line(b"2023-11-14T23:13:20.5+01:00 stderr P some text here\n")
    assert record is not None
    assert (record.stream, record.partial, record.text) == ("stderr", True, b"some text here")
    assert logs.nanos(record.time) == BASE + 500_000_000
    assert logs.nanos(stamp(BASE + 7, -330).encode()) == BASE + 7
    assert logs.parse_line(b"2023-11-14T22:13:20Z stdout F") is not None  # an empty line
    assert logs.parse_line(b"garbage") is None
    assert logs.parse_line(b"2023-11-14T22:13:20Z stdout X text") is None


def test_docker_timestamp_is_utc_with_nine_digits() -> None:
    local = logs.Line("stdout", b"x\n", stamp(BASE + 1_000, 120).encode())
    utc = logs.Line("stdout", b"x\n", stamp(BASE + 1_000).encode())
    assert local.timestamp() == utc.timestamp() == "2023-11-14T22:13:20.000001000Z"


@pytest.mark.parametrize("seed", range(3))
def test_since_and_until_match_a_full_scan(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    records = []
    nanos = BASE
    for i in range(10_000):
        nanos += rng.choice([0, 0, 1, 1_000, 5_000_000])  # equal times too
        records.append(
            (nanos, rng.choice(["stdout", "stderr"]), "F", f"line {i} " + "x" * rng.randrange(200))
        )
    path = tmp_path / "log"
    write_log(path, records)
    for _ in range(20):
        since = rng.choice(
            [
                None,
                rng.randrange(BASE - 10**9, nanos + 10**9),
                records[rng.randrange(len(records))][0],
            ]
        )
        until = rng.choice(
            [None, rng.randrange(BASE, nanos + 10**9), records[rng.randrange(len(records))][0]]
        )
        assert texts(path, since=since, until=until) == brute_force(records, since, until), (
            since,
            until,
        )


def test_since_after_the_end_and_before_the_start(tmp_path: Path) -> None:
    path = tmp_path / "log"
    write_log(path, steady(1000))
    assert texts(path, since=BASE + 10**12) == []
    assert len(texts(path, since=0)) == 1000
    assert texts(path, until=BASE - 1) == []


def test_since_seeks_instead_of_reading_the_file(tmp_path: Path) -> None:
    """A binary search: a 100 MB log is found its place in with a few small reads (counted by
    the kernel in /proc/self/io)."""
    path = tmp_path / "big"
    line = " stdout F " + "y" * 90 + "\n"
    count = 1_000_000
    with open(path, "w") as f:
        for second in range(count // 1000):
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(BASE // 10**9 + second))
            f.write("".join(f"{prefix}{i * 1_000_000:09d}+00:00{line}" for i in range(1000)))
    assert path.stat().st_size > 100_000_000

    def read_bytes() -> int:
        with open("/proc/self/io") as f:
            return int(next(v for v in f if v.startswith("rchar:")).split()[1])

    before = read_bytes()
    found = texts(path, since=BASE + (count // 1000 - 2) * 10**9)
    spent = read_bytes() - before
    assert len(found) == 2000
    assert spent < 2_000_000, spent


def test_tail_reads_from_the_end(tmp_path: Path) -> None:
    path = tmp_path / "log"
    records = steady(50_000)
    write_log(path, records)
    assert texts(path, tail=3) == brute_force(records[-3:], None, None)
    assert texts(path, tail=0) == []
    assert len(texts(path, tail=49_999)) == 49_999
    assert len(texts(path, tail=10**6)) == 50_000
    assert len(texts(path, tail=-1)) == 50_000
    # tail and since together: the later start wins
    assert texts(path, tail=100, since=records[-10][0]) == brute_force(records[-10:], None, None)
    assert texts(path, tail=10, since=records[-100][0]) == brute_force(records[-10:], None, None)


def test_pieces_of_a_line_are_joined_per_stream(tmp_path: Path) -> None:
    path = tmp_path / "log"
    write_log(
        path,
        [
            (BASE, "stdout", "F", "out"),
            (BASE, "stdout", "P", "part"),
            (BASE + 1, "stderr", "F", "err"),
            (BASE + 2, "stdout", "P", "ial"),
            (BASE + 3, "stdout", "F", "done"),
            (BASE + 4, "stderr", "P", "no newline at the end"),
        ],
    )
    found = list(logs.lines(str(path)))
    assert [(x.stream, x.text) for x in found] == [
        ("stdout", b"out\n"),
        ("stderr", b"err\n"),
        ("stdout", b"partialdone\n"),
        ("stderr", b"no newline at the end"),
    ]
    assert logs.nanos(found[2].time) == BASE + 3  # a line's time is its last piece's
    assert texts(path, tail=2) == [
        ("stdout", b"partialdone\n"),
        ("stderr", b"no newline at the end"),
    ]


def test_a_line_cut_by_since_is_read_whole(tmp_path: Path) -> None:
    """since falls between the pieces of a line that ends after it: the line is in, with
    its first pieces; a line that ended before since is out."""
    path = tmp_path / "log"
    records = [(BASE + i, "stdout", "F", f"before {i}") for i in range(5000)]
    records += [
        (BASE + 10_000, "stdout", "P", "first "),
        (BASE + 10_001, "stderr", "F", "ended before"),
        (BASE + 20_000, "stdout", "P", "second "),
        (BASE + 30_000, "stdout", "F", "last"),
        (BASE + 30_001, "stderr", "F", "after"),
    ]
    write_log(path, records)
    assert texts(path, since=BASE + 20_000) == [
        ("stdout", b"first second last\n"),
        ("stderr", b"after\n"),
    ]
    assert texts(path, until=BASE + 10_001, since=BASE + 10_000) == [("stderr", b"ended before\n")]


def test_follow_reads_new_lines_until_told_to_stop_then_drains(tmp_path: Path) -> None:
    path = tmp_path / "log"
    write_log(path, steady(3))
    stop = threading.Event()
    seen: list[bytes] = []

    def writer() -> None:
        with open(path, "a") as f:
            for i in range(3, 6):
                time.sleep(0.05)
                f.write(f"{stamp(BASE + i)} stdout F line {i}\n")
                f.flush()
            f.write(f"{stamp(BASE + 6)} stdout F written just before the stop\n")
        stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    started = time.monotonic()
    for line in logs.lines(str(path), follow=lambda: not stop.is_set()):
        seen.append(line.text)
    thread.join()
    assert seen == [f"line {i}\n".encode() for i in range(6)] + [b"written just before the stop\n"]
    assert time.monotonic() - started < 5


def test_follow_goes_on_in_the_new_file_after_rotation(tmp_path: Path) -> None:
    """conmon rotates by writing LOG.tmp and renaming it over the log."""
    path = tmp_path / "container.log"
    write_log(path, steady(2))
    stop = threading.Event()

    def rotate() -> None:
        time.sleep(0.1)
        with open(path, "a") as f:
            f.write(f"{stamp(BASE + 50)} stdout F last of the old file\n")
        fresh = tmp_path / "container.log.tmp"
        write_log(fresh, [(BASE + 100, "stdout", "F", "first of the new file")])
        os.rename(fresh, path)
        time.sleep(0.1)
        with open(path, "a") as f:
            f.write(f"{stamp(BASE + 200)} stdout F second of the new file\n")
        time.sleep(0.1)
        stop.set()

    thread = threading.Thread(target=rotate)
    thread.start()
    seen = [line.text for line in logs.lines(str(path), follow=lambda: not stop.is_set())]
    thread.join()
    assert seen == [
        b"line 0\n",
        b"line 1\n",
        b"last of the old file\n",
        b"first of the new file\n",
        b"second of the new file\n",
    ]


def test_follow_with_until_in_the_past_stops_at_once(tmp_path: Path) -> None:
    path = tmp_path / "log"
    write_log(path, steady(3))
    started = time.monotonic()
    found = list(logs.lines(str(path), until=BASE + 10**9, follow=lambda: True))
    assert len(found) == 3
    assert time.monotonic() - started < 2


def test_a_missing_log_has_no_lines(tmp_path: Path) -> None:
    assert list(logs.lines(str(tmp_path / "nothing"))) == []


def test_size_limit_defaults_and_options() -> None:
    assert logs.size_limit({}) == logs.DEFAULT_MAX_SIZE * logs.DEFAULT_MAX_FILE == 100_000_000
    assert logs.size_limit({"log_opts": {"max-size": "10m"}}) == 10_000_000
    assert logs.size_limit({"log_opts": {"max-size": "1k", "max-file": "3"}}) == 3000
    assert logs.enabled({"log_driver": "json-file"}) and logs.enabled({})
    assert not logs.enabled({"log_driver": "none"})


def test_details_prefix_is_sorted_and_escaped() -> None:
    assert logs.details_prefix({}) == b" "
    assert logs.details_prefix({"b": "x y", "a": "1=2"}) == b"a=1%3D2,b=x+y "
