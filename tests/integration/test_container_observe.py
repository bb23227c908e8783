"""``logs``, ``stats``, ``top`` and ``events`` of real containers, through the skiff command."""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.support.cli import Skiff

STAMP = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")


def wait_for(check, timeout: float = 10.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def run_to_end(skiff: Skiff, *args: str) -> str:
    """A detached container that has exited (and been recorded as exited); its ID."""
    container = skiff.ok("run", "-d", *args).strip()
    assert skiff("wait", container).code == 0
    return container


# --- logs -------------------------------------------------------------------------------


def test_logs_keep_stdout_and_stderr_apart(skiff: Skiff, busybox: str) -> None:
    run_to_end(
        skiff,
        "--name",
        "talk",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; printf partial; sleep 0.2; echo end",
    )
    result = skiff("logs", "talk")
    assert (result.code, result.out, result.err) == (0, "out\npartialend\n", "err\n")
    stamped = skiff("logs", "-t", "talk")
    lines = stamped.raw.splitlines(keepends=True)
    assert [STAMP.sub(b"", line) for line in lines] == [b"out\n", b"partialend\n"]
    assert all(STAMP.match(line) for line in lines)
    assert STAMP.match(stamped.err.encode()) and stamped.err.endswith(" err\n")


def test_logs_tail_since_and_until(skiff: Skiff, busybox: str) -> None:
    script = (
        # conmon stamps what it reads at once with one time: a pause between lines
        "for i in 1 2 3; do echo early$i; sleep 0.1; done; sleep 1; "
        "for i in 1 2 3; do echo late$i; sleep 0.1; done"
    )
    run_to_end(skiff, "--name", "timed", "busybox", "sh", "-c", script)
    assert skiff.ok("logs", "--tail", "2", "timed") == "late2\nlate3\n"
    assert skiff.ok("logs", "-n", "0", "timed") == ""
    assert skiff.ok("logs", "--tail", "all", "timed").count("\n") == 6
    stamps = [line.split(" ", 1)[0] for line in skiff.ok("logs", "-t", "timed").splitlines()]
    # the first late line's own time: since is inclusive, until too
    assert skiff.ok("logs", "--since", stamps[3], "timed") == "late1\nlate2\nlate3\n"
    assert skiff.ok("logs", "--until", stamps[2], "timed") == "early1\nearly2\nearly3\n"
    assert (
        skiff.ok("logs", "--since", stamps[1], "--until", stamps[3], "timed")
        == "early2\nearly3\nlate1\n"
    )
    assert skiff.ok("logs", "--since", "1h", "timed").count("\n") == 6
    assert skiff.ok("logs", "--since", str(time.time() + 60), "timed") == ""


def test_logs_follow_ends_when_the_container_exits(skiff: Skiff, busybox: str) -> None:
    script = "for i in 1 2 3; do echo tick$i; sleep 0.3; done; echo bye >&2"
    skiff.ok("run", "-d", "--name", "ticker", "busybox", "sh", "-c", script)
    started = time.monotonic()
    result = skiff("logs", "-f", "ticker", timeout=30)
    assert result.code == 0
    assert (result.out, result.err) == ("tick1\ntick2\ntick3\n", "bye\n")
    assert time.monotonic() - started < 10
    # the exit is recorded by the time logs -f returns
    assert skiff.ok("inspect", "-f", "{{.State.Status}}", "ticker").strip() == "exited"


def test_logs_follow_prints_lines_as_they_come(skiff: Skiff, busybox: str) -> None:
    skiff.ok(
        "run", "-d", "--name", "slow", "busybox", "sh", "-c", "echo first; sleep 3; echo second"
    )
    follower = skiff.popen("logs", "-f", "slow", stdout=subprocess.PIPE)
    try:
        started = time.monotonic()
        assert follower.stdout is not None
        assert follower.stdout.readline() == b"first\n"
        assert time.monotonic() - started < 2.5  # before the container wrote its second line
        assert follower.stdout.readline() == b"second\n"
        assert follower.wait(timeout=10) == 0
    finally:
        follower.kill()
        follower.wait()


def test_logs_details_show_the_log_options_attributes(skiff: Skiff, busybox: str) -> None:
    run_to_end(
        skiff, "--name", "detailed", "-l", "tier=web", "-e", "ZONE=a b", "--log-opt", "labels=tier",
        "--log-opt", "env=ZONE", "busybox", "echo", "hi",
    )  # fmt: skip
    assert skiff.ok("logs", "--details", "detailed") == "ZONE=a+b,tier=web hi\n"
    run_to_end(skiff, "--name", "plain", "busybox", "echo", "hi")
    assert skiff.ok("logs", "--details", "plain") == " hi\n"


def test_logs_errors(skiff: Skiff, busybox: str) -> None:
    result = skiff("logs", "nosuch")
    assert (result.code, result.out, result.err) == (1, "", "Error: No such container: nosuch\n")
    run_to_end(skiff, "--name", "quiet", "--log-driver", "none", "busybox", "echo", "hi")
    result = skiff("logs", "quiet")
    assert (result.code, result.err) == (
        1,
        "Error: configured logging driver does not support reading\n",
    )
    result = skiff("logs", "--since", "2023-13-01", "quiet")
    assert result.code == 1
    assert (
        result.err
        == 'Error: invalid value for "since": parsing time "2023-13-01": month out of range\n'
    )


def test_log_is_capped_by_max_size(skiff: Skiff, busybox: str) -> None:
    script = (
        'i=0; while [ $i -lt 500 ]; do echo "line $i with some padding to fill the log"; '
        "i=$((i+1)); done"
    )
    container = run_to_end(skiff, "--log-opt", "max-size=4k", "busybox", "sh", "-c", script)
    path = skiff.root / "containers" / container / "container.log"
    assert 0 < path.stat().st_size <= 4000
    lines = skiff.ok("logs", container).splitlines()
    assert lines and lines[-1] == "line 499 with some padding to fill the log"
    assert len(lines) < 500  # the start went with the rotation


# --- stats ------------------------------------------------------------------------------


def stats_of(skiff: Skiff, name: str) -> dict[str, str]:
    out = skiff.ok("stats", "--no-stream", "--format", "{{json .}}", name)
    return json.loads(out)


def to_bytes(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)([A-Za-z]+)", text).groups()  # type: ignore[union-attr]
    return float(number) * 1024 ** ["B", "KiB", "MiB", "GiB", "TiB"].index(unit)


def test_stats_follow_memory_and_processes(skiff: Skiff, busybox: str) -> None:
    # after 2 s: a second process, and 64 MiB held in a shell variable
    script = "sleep 2; sleep 1000 & x=$(head -c 67108864 /dev/zero | tr '\\0' a); wait"
    skiff.ok(
        "run", "-d", "--name", "grow", "--network", "none", "-m", "512m",
        "busybox", "sh", "-c", script,
    )  # fmt: skip
    before = stats_of(skiff, "grow")
    assert before["Name"] == "grow" and before["Container"] == "grow"
    assert len(before["ID"]) == 12 and before["PIDs"] == "2"  # sh and its sleep 2
    used, limit = (to_bytes(v) for v in before["MemUsage"].split(" / "))
    assert used < 16 << 20 and limit == 512 << 20
    assert before["NetIO"] == "0B / 0B"

    def grown() -> dict[str, str] | None:
        now = stats_of(skiff, "grow")
        return now if to_bytes(now["MemUsage"].split(" / ")[0]) > used + (60 << 20) else None

    after = wait_for(grown, 30, "the allocation")
    assert after["PIDs"] == "2"  # sh and sleep 1000 (tr and head are gone)
    assert float(after["MemPerc"].rstrip("%")) > 10


def test_stats_table_and_stopped_containers(skiff: Skiff, busybox: str) -> None:
    running = skiff.ok(
        "run", "-d", "--name", "busy", "busybox", "sh", "-c", "while :; do :; done"
    ).strip()
    run_to_end(skiff, "--name", "done", "busybox", "true")
    out = skiff.ok("stats", "--no-stream")
    header, *rows = out.splitlines()
    assert re.fullmatch(
        r"CONTAINER ID +NAME +CPU % +MEM USAGE / LIMIT +MEM % +NET I/O +BLOCK I/O +PIDS", header
    )
    assert len(rows) == 1 and rows[0].startswith(running[:12] + "   busy ")
    cpu = float(rows[0].split()[2].rstrip("%"))
    assert cpu > 50  # a busy loop takes a CPU
    everything = skiff.ok(
        "stats",
        "--no-stream",
        "-a",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Name}} {{.MemUsage}} {{.PIDs}}",
    )
    assert f"{running} busy " in everything
    assert any(line.endswith(" done 0B / 0B 0") for line in everything.splitlines())
    result = skiff("stats", "--no-stream", "nosuch")
    assert (result.code, result.err) == (1, "Error: No such container: nosuch\n")


def test_stats_stream_prints_a_table_a_second(skiff: Skiff, busybox: str) -> None:
    skiff.ok("run", "-d", "--name", "sleeper", "busybox", "sleep", "1000")
    streaming = skiff.popen(
        "stats", "--format", "{{.Name}} {{.PIDs}}", "sleeper", stdout=subprocess.PIPE
    )
    try:
        assert streaming.stdout is not None
        assert streaming.stdout.readline() == b"sleeper 1\n"
        assert streaming.stdout.readline() == b"sleeper 1\n"
    finally:
        streaming.send_signal(signal.SIGINT)
        streaming.wait(timeout=10)


# --- top --------------------------------------------------------------------------------


def test_top_lists_the_containers_processes(skiff: Skiff, busybox: str) -> None:
    skiff.ok("run", "-d", "--name", "tops", "busybox", "sh", "-c", "sleep 1234 & sleep 4321")
    pid = int(skiff.ok("inspect", "-f", "{{.State.Pid}}", "tops"))
    out = wait_for(
        lambda: (o := skiff.ok("top", "tops")).count("sleep") == 2 and o, what="both sleeps"
    )
    header, *rows = out.splitlines()
    assert header.split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    commands = {row.split()[1]: row.split(None, 7)[7] for row in rows}
    assert commands[str(pid)] == "sleep 4321"
    assert "sleep 1234" in commands.values()
    for row in rows:  # each really is a process of the host
        assert os.path.exists(f"/proc/{row.split()[1]}")
    custom = skiff.ok("top", "tops", "-o", "pid,comm")
    assert custom.splitlines()[0].split() == ["PID", "COMMAND"]
    assert {line.split()[1] for line in custom.splitlines()[1:]} == {"sleep"}


def test_top_errors(skiff: Skiff, busybox: str) -> None:
    container = run_to_end(skiff, "busybox", "true")
    result = skiff("top", container)
    assert (result.code, result.err) == (1, f"Error: Container {container} is not running\n")
    result = skiff("top", "nosuch")
    assert (result.code, result.err) == (1, "Error: No such container: nosuch\n")
    skiff.ok("run", "-d", "--name", "up", "busybox", "sleep", "100")
    result = skiff("top", "up", "-o", "pid=")
    assert (result.code, result.err) == (1, "Error: Couldn't find PID field in ps output\n")


# --- events -----------------------------------------------------------------------------


def test_events_of_a_container_life(skiff: Skiff, busybox: str) -> None:
    since = str(time.time())
    result = skiff(
        "run", "--rm", "--name", "brief", "-l", "team=ops", "busybox", "sh", "-c", "exit 3"
    )
    assert result.code == 3
    skiff.ok("run", "-d", "--name", "other", "busybox", "true")
    until = str(time.time() + 0.5)
    wait_for(
        lambda: (
            "destroy"
            in skiff.ok(
                "events",
                "--since",
                since,
                "--until",
                str(time.time()),
                "--filter",
                "container=brief",
            )
        ),
        what="destroy",
    )
    out = skiff.ok("events", "--since", since, "--until", until, "--filter", "container=brief")
    lines = out.splitlines()
    actions = [line.split()[2] for line in lines]
    assert actions == ["create", "attach", "start", "die", "destroy"]
    container = lines[0].split()[3]
    assert len(container) == 64
    assert re.match(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) container die ", lines[3]
    )
    assert lines[3].endswith(f" {container} (exitCode=3, image=busybox, name=brief, team=ops)")
    died = skiff.ok(
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        "event=die",
        "--format",
        "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
    )
    assert sorted(died.splitlines()) == ["brief 3", "other 0"]
    labelled = skiff.ok(
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        "label=team=ops",
        "--format",
        "json",
    )
    messages = [json.loads(line) for line in labelled.splitlines()]
    assert [m["Action"] for m in messages] == ["create", "attach", "start", "die", "destroy"]
    assert messages[0]["Actor"]["ID"] == container and messages[0]["Type"] == "container"


def test_events_stream_new_events_until_interrupted(skiff: Skiff, busybox: str) -> None:
    watcher = skiff.popen(
        "events",
        "--filter",
        "event=start",
        "--format",
        "{{.Actor.Attributes.name}}",
        stdout=subprocess.PIPE,
    )
    try:
        time.sleep(0.5)
        skiff.ok("run", "--rm", "--name", "watched", "busybox", "true")
        assert watcher.stdout is not None
        assert watcher.stdout.readline() == b"watched\n"
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=10)


def test_events_with_until_ahead_stop_by_themselves(skiff: Skiff, busybox: str) -> None:
    started = time.monotonic()
    result = skiff("events", "--until", str(time.time() + 1))
    assert result.code == 0 and result.out == ""
    assert 0.8 < time.monotonic() - started < 5
    bad = skiff("events", "--since", "2", "--until", "1")
    assert bad.code == 1 and "cannot be after `until` time" in bad.err


def test_container_events_carry_the_image_labels_under_the_containers(
    skiff: Skiff, rootfs_tar: Path
) -> None:
    skiff.ok("import", "-c", "LABEL tier=image kind=base", str(rootfs_tar), "labelled:1")
    since = str(time.time() - 1)
    skiff.ok("run", "--rm", "--name", "lab", "--label", "tier=mine", "labelled:1", "true")
    out = skiff.ok(
        "events", "--since", since, "--until", str(time.time()), "--filter", "event=die",
        "--format", "{{json .Actor.Attributes}}",
    )  # fmt: skip
    assert json.loads(out) == {
        "exitCode": "0", "image": "labelled:1", "kind": "base", "name": "lab", "tier": "mine",
    }  # fmt: skip
    filtered = skiff.ok(
        "events", "--since", since, "--until", str(time.time()),
        "--filter", "label=kind=base", "--format", "{{.Action}}",
    )  # fmt: skip
    assert filtered.split() == ["create", "attach", "start", "die", "destroy"]
