"""Events (the table, Docker's filters, the reader), stats arithmetic and file parsing,
``top``'s reading of ps output."""

import json
import threading
import time
from pathlib import Path

import pytest

from skiff import db
from skiff.cli.observe import bytes_size, event_line, stats_record
from skiff.engine import events, stats
from skiff.engine.top import check_ps_args, parse_ps_output
from skiff.errors import EngineError, InvalidArgument


@pytest.fixture
def conn(tmp_path: Path):
    connection = db.connect(str(tmp_path / "skiff.db"))
    yield connection
    connection.close()


def all_events(conn) -> list[events.Event]:
    return list(events.read(conn, since=0, until=time.time_ns()))


def test_record_and_message(conn) -> None:
    events.record(
        conn, "container", "die", "c" * 64, {"name": "x", "image": "busybox", "exitCode": "3"}
    )
    (event,) = all_events(conn)
    message = event.message()
    assert list(message) == [
        "status",
        "id",
        "from",
        "Type",
        "Action",
        "Actor",
        "scope",
        "time",
        "timeNano",
    ]
    assert message["Actor"] == {
        "ID": "c" * 64,
        "Attributes": {"exitCode": "3", "image": "busybox", "name": "x"},
    }
    assert message["from"] == "busybox" and message["scope"] == "local"
    assert message["time"] == message["timeNano"] // 10**9
    line = event_line(event)
    assert line.endswith(f" container die {'c' * 64} (exitCode=3, image=busybox, name=x)\n")


def test_the_table_keeps_the_last_events(conn) -> None:
    for i in range(events.KEEP + 250):
        events.record(conn, "container", "start", str(i))
    count, first = conn.execute(
        "SELECT COUNT(*), MIN(CAST(actor AS INTEGER)) FROM events"
    ).fetchone()
    assert events.KEEP <= count < events.KEEP + 100
    assert first == events.KEEP + 250 - count


def test_filters_as_the_daemon_applies_them(conn) -> None:
    def add(action: str, actor: str, **attributes: str) -> None:
        events.record(conn, "container", action, actor, attributes)

    add("create", "aaa111", name="web", image="nginx:1.25", tier="front")
    add("start", "aaa111", name="web", image="nginx:1.25", tier="front")
    add("die", "bbb222", name="db", image="docker.io/library/postgres:16", exitCode="1")
    add("health_status: healthy", "aaa111", name="web", image="nginx:1.25")
    add("exec_start: sh -c true", "bbb222", name="db", image="postgres")

    def actions(**filters: list[str]) -> list[str]:
        found = events.read(conn, since=0, until=time.time_ns(), filters=filters)
        return [e.action for e in found]

    assert actions(container=["web"]) == ["create", "start", "health_status: healthy"]
    assert actions(container=["bbb"]) == ["die", "exec_start: sh -c true"]  # an ID prefix
    assert actions(container=["we"]) == [
        "create",
        "start",
        "health_status: healthy",
    ]  # a name prefix
    assert actions(event=["start", "die"]) == ["start", "die"]
    assert actions(event=["health_status"]) == ["health_status: healthy"]
    assert actions(event=["exec_start"]) == ["exec_start: sh -c true"]
    assert actions(image=["nginx"]) == ["create", "start", "health_status: healthy"]
    assert actions(image=["postgres"]) == ["die", "exec_start: sh -c true"]
    assert actions(image=["nginx:1.25"]) == ["create", "start", "health_status: healthy"]
    assert actions(label=["tier"]) == ["create", "start"]
    assert actions(label=["tier=front", "name=web"]) == ["create", "start"]
    assert actions(label=["tier=back"]) == []
    assert actions(type=["image"]) == []
    assert actions(type=["container"], event=["die"], container=["db"]) == ["die"]
    assert actions(unknown=["x"]) == actions()  # the daemon ignores keys it does not know


def test_read_windows_and_following(conn) -> None:
    events.record(conn, "container", "create", "old")
    middle = time.time_ns()
    events.record(conn, "container", "start", "old")
    assert [e.action for e in events.read(conn, since=middle, until=time.time_ns())] == ["start"]
    assert [e.action for e in events.read(conn, until=middle)] == ["create"]

    # without since/until: only events recorded from now on, until told to stop
    stop = threading.Event()
    found: list[str] = []

    def follow() -> None:
        for event in events.read(conn, follow=lambda: not stop.is_set()):
            found.append(event.actor)

    thread = threading.Thread(target=follow)
    thread.start()
    time.sleep(0.3)
    writer = db.connect(conn.execute("PRAGMA database_list").fetchone()[2])
    events.record(writer, "container", "create", "new")
    deadline = time.monotonic() + 5
    while not found and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join()
    writer.close()
    assert found == ["new"]


def test_read_until_in_the_future_stops_by_itself(conn) -> None:
    started = time.monotonic()
    assert list(events.read(conn, until=time.time_ns() + 300_000_000)) == []
    assert 0.25 < time.monotonic() - started < 3


def test_signal_numbers() -> None:
    assert events.signal_number("SIGTERM") == "15"
    assert events.signal_number("KILL") == "9"
    assert events.signal_number("9") == "9"


# --- stats ------------------------------------------------------------------------------


def test_keyed_and_number_files(tmp_path: Path) -> None:
    stat = tmp_path / "memory.stat"
    stat.write_text("cache 4096\ninactive_file 100\ntotal_inactive_file 8192\nrss 5\n")
    assert stats._keyed(str(stat), b"total_inactive_file") == 8192
    assert stats._keyed(str(stat), b"inactive_file") == 100
    assert stats._keyed(str(stat), b"cache") == 4096
    assert stats._keyed(str(stat), b"missing") == 0
    assert stats._keyed(str(tmp_path / "none"), b"cache") == 0
    (tmp_path / "memory.max").write_text("max\n")
    assert stats._number(str(tmp_path / "memory.max")) == 0


def test_v1_blkio_sums_reads_and_writes(tmp_path: Path) -> None:
    path = tmp_path / "blkio"
    path.write_text(
        "8:0 Read 100\n8:0 Write 20\n8:0 Sync 120\n8:16 Read 1\n8:16 write 2\nTotal 123\n"
    )
    sample = stats.Sample()
    assert stats.Counters._v1_blkio(sample, str(path))
    assert (sample.block_read, sample.block_write) == (101, 22)
    empty = tmp_path / "empty"
    empty.write_text("Total 0\n")
    assert not stats.Counters._v1_blkio(stats.Sample(), str(empty))


def test_cpu_and_memory_percentages() -> None:
    before, now = stats.Sample(), stats.Sample()
    before.cpu, before.system = 1_000, 10_000
    now.cpu, now.system = 3_000, 20_000
    now.memory, now.memory_limit = 25 << 20, 100 << 20
    row = stats.Stats("web", "a" * 64, "web")
    stats.compute(row, before, now, cpus=2)
    assert row.cpu_percent == pytest.approx(40.0)  # 2000 / 10000 * 2 CPUs * 100
    assert row.memory_percent == pytest.approx(25.0)
    first = stats.Stats("web", "a" * 64, "web")
    stats.compute(first, None, now, cpus=2)
    assert first.cpu_percent == 0.0


def test_stats_row_as_the_docker_cli_prints_it() -> None:
    row = stats.Stats("web", "0123456789abcdef" * 4, "web")
    row.cpu_percent, row.memory, row.memory_limit = 1.234, 680 * 1024, int(23.54 * 2**30)
    row.memory_percent, row.net_rx, row.net_tx = 0.005, 1234, 0
    row.block_read, row.block_write, row.pids = 4_100_000, 0, 2
    record = stats_record(row, trunc=True)
    assert dict(record) == {
        "Container": "web",
        "Name": "web",
        "ID": "0123456789ab",
        "CPUPerc": "1.23%",
        "MemUsage": "680KiB / 23.54GiB",
        "MemPerc": "0.01%",
        "NetIO": "1.23kB / 0B",
        "BlockIO": "4.1MB / 0B",
        "PIDs": "2",
    }
    gone = stats_record(stats.Stats("old", "f" * 64, ""), trunc=False, invalid=True)
    assert (gone["Name"], gone["ID"], gone["MemUsage"], gone["PIDs"]) == (
        "--",
        "f" * 64,
        "-- / --",
        "--",
    )
    assert json.loads(json.dumps(dict(record)))["CPUPerc"] == "1.23%"


def test_bytes_size() -> None:
    assert bytes_size(0) == "0B"
    assert bytes_size(1023) == "1023B"
    assert bytes_size(1536) == "1.5KiB"
    assert bytes_size(5 * 2**30) == "5GiB"


# --- top --------------------------------------------------------------------------------

PS = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init splash
root        4242    4200  0 10:01 ?        00:00:00 sleep 1000
root        4243    4242  0 10:01 ?        00:00:00 sh -c echo hi; sleep 5
"""


def test_ps_output_keeps_the_containers_processes() -> None:
    titles, rows = parse_ps_output(PS, [4242, 4243])
    assert titles == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert rows == [
        ["root", "4242", "4200", "0", "10:01", "?", "00:00:00", "sleep 1000"],
        ["root", "4243", "4242", "0", "10:01", "?", "00:00:00", "sh -c echo hi; sleep 5"],
    ]


def test_ps_output_threads_follow_their_process() -> None:
    output = "USER PID TID CMD\nroot 7 - sleep\nroot - 7 -\nroot 8 - other\nroot - 8 -\n"
    assert parse_ps_output(output, [7])[1] == [["root", "7", "-", "sleep"], ["root", "-", "7", "-"]]


def test_ps_output_without_pid() -> None:
    with pytest.raises(EngineError, match="Couldn't find PID field in ps output"):
        parse_ps_output("COMMAND\nsleep\n", [1])


def test_ps_arguments_may_not_rename_pid() -> None:
    check_ps_args("-o pid,comm")
    check_ps_args("-o pid=PID")
    with pytest.raises(InvalidArgument, match='specifying "x=PID" is not allowed'):
        check_ps_args("-ef -o x=PID")
