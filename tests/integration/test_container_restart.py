"""Restart policies without a daemon, through the real ``skiff`` command: conmon's exit
command restarts containers after the CLI is gone, with Docker's back-off; a user's stop,
kill or rm wins, even during the back-off; ``system boot`` after a simulated reboot."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import time

from skiff.engine.engine import Engine
from skiff.engine.filesystem import ContainerFiles
from skiff.engine.timestamps import RFC3339_NANO, go_parse
from tests.support.cli import Skiff
from tests.support.engine import processes_mentioning


def state(skiff: Skiff, name: str) -> dict:
    """``inspect``'s State, with its RestartCount."""
    document = json.loads(skiff.ok("inspect", name))[0]
    return {**document["State"], "RestartCount": document["RestartCount"]}


def container_id(skiff: Skiff, name: str) -> str:
    return skiff.ok("inspect", "-f", "{{.Id}}", name).strip()


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def running_again(skiff: Skiff, name: str, count: int) -> bool:
    s = state(skiff, name)
    return s["Running"] and not s["Restarting"] and s["RestartCount"] == count


def cmdline(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode().split("\0")[:-1]


def test_on_failure_2_restarts_twice_after_the_cli_has_exited(skiff: Skiff, busybox: str):
    result = skiff("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox",
                   "sh", "-c", "echo ran; exit 3")  # fmt: skip
    assert result.code == 0  # the CLI is gone now: only conmon and its exit command remain
    wait_for(lambda: state(skiff, "flaky")["Status"] == "exited")
    final = state(skiff, "flaky")
    assert (final["RestartCount"], final["ExitCode"], final["Restarting"]) == (2, 3, False)
    assert skiff.ok("logs", "flaky") == "ran\n" * 3  # three runs, seen from inside
    time.sleep(0.5)
    assert state(skiff, "flaky")["RestartCount"] == 2  # and no third restart
    assert processes_mentioning(container_id(skiff, "flaky")) == []


def test_wait_returns_at_the_next_exit_even_when_the_policy_restarts(skiff: Skiff, busybox: str):
    skiff.ok("run", "-d", "--name", "again", "--restart", "always", "busybox",
             "sh", "-c", "sleep 1; exit 7")  # fmt: skip
    started = time.monotonic()
    assert skiff("wait", "again").out == "7\n"  # as docker wait: the first exit's code
    assert 0.5 < time.monotonic() - started < 5
    wait_for(lambda: state(skiff, "again")["RestartCount"] >= 1)
    skiff.ok("rm", "-f", "again")


def test_always_comes_back_after_a_kill_from_outside_and_stop_keeps_it_down(
    skiff: Skiff, busybox: str
):
    skiff.ok("run", "-d", "--name", "svc", "--restart", "always", "busybox", "sleep", "60")
    first = state(skiff, "svc")["Pid"]
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: running_again(skiff, "svc", 1))
    second = state(skiff, "svc")["Pid"]
    assert second != first
    assert cmdline(second) == ["sleep", "60"]
    assert skiff.ok("stop", "-t", "0", "svc") == "svc\n"
    stopped = state(skiff, "svc")
    assert (stopped["Status"], stopped["ExitCode"], stopped["RestartCount"]) == ("exited", 137, 1)
    time.sleep(0.5)
    assert state(skiff, "svc")["Status"] == "exited"
    assert processes_mentioning(container_id(skiff, "svc")) == []


def test_kill_cancels_the_restart_only_with_the_stop_signal_or_sigkill(skiff: Skiff, busybox: str):
    skiff.ok("run", "-d", "--name", "trapper", "--restart", "always", "--stop-signal", "USR1",
             "busybox", "sh", "-c",
             'trap "exit 7" HUP; echo ready; while :; do sleep 0.05; done')  # fmt: skip
    wait_for(lambda: skiff.ok("logs", "trapper") == "ready\n")  # its trap is set
    skiff.ok("kill", "-s", "HUP", "trapper")  # not its stop signal: "always" brings it back
    wait_for(lambda: running_again(skiff, "trapper", 1))
    assert state(skiff, "trapper")["ExitCode"] == 0
    skiff.ok("kill", "trapper")  # SIGKILL: the user stopped it
    wait_for(lambda: state(skiff, "trapper")["Status"] == "exited")
    time.sleep(0.4)
    final = state(skiff, "trapper")
    assert (final["Status"], final["ExitCode"], final["RestartCount"]) == ("exited", 137, 1)


def test_back_off_doubles_and_a_stop_during_it_wins(skiff: Skiff, busybox: str):
    skiff.ok("run", "-d", "--name", "crashy", "--restart", "always", "busybox",
             "sh", "-c", "echo ran; exit 1")  # fmt: skip
    # Back-offs of 0.1, 0.2, 0.4, 0.8 s, then 1.6 s: catch it restarting in that one.
    wait_for(lambda: state(skiff, "crashy")["RestartCount"] == 5)
    during = state(skiff, "crashy")
    assert during["Status"] == "restarting"
    assert (during["Running"], during["Restarting"], during["Pid"]) == (True, True, 0)
    assert during["ExitCode"] == 1
    listed = skiff.ok("ps", "--filter", "name=crashy", "--format", "{{.Status}}")
    assert listed.startswith("Restarting (1) ")
    refused = skiff("rm", "crashy")
    assert (refused.code, refused.err) == (
        1,
        f"Error: You cannot remove a restarting container {container_id(skiff, 'crashy')}. "
        "Stop the container before attempting removal or force remove\n",
    )
    begun = time.monotonic()
    assert skiff.ok("stop", "crashy") == "crashy\n"
    assert time.monotonic() - begun < 2  # nothing to signal: the back-off just ends
    stopped = state(skiff, "crashy")
    assert (stopped["Status"], stopped["Running"], stopped["Restarting"]) == (
        "exited", False, False,
    )  # fmt: skip
    assert (stopped["ExitCode"], stopped["RestartCount"]) == (1, 5)
    time.sleep(1.8)  # past the back-off: the sleeping exit command gave up
    assert state(skiff, "crashy")["RestartCount"] == 5
    assert processes_mentioning(container_id(skiff, "crashy")) == []
    stamps = [line.split()[0] for line in skiff.ok("logs", "-t", "crashy").splitlines()]
    times = [go_parse(RFC3339_NANO, stamp, 0) / 1e9 for stamp in stamps]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Five runs (RestartCount counts the restart decided, not yet made): each gap is a
    # start's own time plus the back-off before it.
    for gap, backoff in zip(gaps, (0.1, 0.2, 0.4, 0.8), strict=True):
        assert gap >= backoff


def test_rm_force_during_the_back_off_leaves_nothing(skiff: Skiff, busybox: str):
    skiff.ok("run", "-d", "--name", "doomed", "--restart", "on-failure", "busybox",
             "sh", "-c", "exit 2")  # fmt: skip
    wait_for(lambda: state(skiff, "doomed")["RestartCount"] == 4)
    ident = container_id(skiff, "doomed")
    assert skiff.ok("rm", "-f", "doomed") == "doomed\n"
    wait_for(lambda: processes_mentioning(ident) == [], timeout=2)
    assert skiff.ok("ps", "-aq") == ""
    assert not os.path.exists(skiff.root / "containers" / ident)


def test_start_by_the_user_counts_afresh(skiff: Skiff, busybox: str):
    skiff.ok("run", "-d", "--name", "again", "--restart", "on-failure:1", "busybox",
             "sh", "-c", "exit 4")  # fmt: skip
    wait_for(lambda: state(skiff, "again")["Status"] == "exited")
    assert state(skiff, "again")["RestartCount"] == 1
    skiff.ok("start", "again")  # Docker resets the count: one more restart allowed
    wait_for(lambda: state(skiff, "again")["RestartCount"] == 1)
    wait_for(lambda: state(skiff, "again")["Status"] == "exited")
    assert state(skiff, "again")["RestartCount"] == 1


# --- system boot ----------------------------------------------------------------------------


def simulate_reboot(skiff: Skiff) -> None:
    """What a reboot does to a store: every process it runs dies at once (the monitors
    and the health runner first, so that no exit command sees the containers die), and
    the run root, a tmpfs, is empty. Mounts (the network namespaces' pins too) and
    cgroups stay: a crash can leave those too, and boot must cope."""
    monitors = [int(p.split(":")[0]) for p in processes_mentioning(str(skiff.runroot) + " ")]
    containers = [c.state["Pid"] for c in Engine(skiff.paths).containers.all() if c.state["Pid"]]
    for group in (monitors, containers):
        for pid in group:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(lambda group=group: not any(os.path.exists(f"/proc/{pid}") for pid in group))
    for entry in os.listdir(skiff.runroot):  # the network namespaces' pins are mounts
        if entry != "netns":
            path = skiff.runroot / entry
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def test_boot_after_a_reboot_restarts_what_the_policies_ask(skiff: Skiff, busybox: str):
    for name, policy in (("always", "always"), ("plain", "no"), ("held", "unless-stopped"),
                         ("failing", "on-failure:1"), ("back", "unless-stopped"),
                         ("stubborn", "always")):  # fmt: skip
        skiff.ok("run", "-d", "--name", name, "--restart", policy, "busybox", "sleep", "60")
    skiff.ok("stop", "-t", "0", "held", "stubborn")
    skiff.ok("create", "--name", "never", "--restart", "always", "busybox", "sleep", "60")
    plain_rootfs = ContainerFiles(skiff.paths, container_id(skiff, "plain")).rootfs
    simulate_reboot(skiff)

    assert skiff("system", "boot").code == 0
    # "always" comes back even after a user's stop: Docker's rule at daemon start
    for name in ("always", "failing", "back", "stubborn"):
        s = state(skiff, name)
        assert (s["Status"], s["Running"], s["RestartCount"]) == ("running", True, 0)
        assert cmdline(s["Pid"]) == ["sleep", "60"]
    plain = state(skiff, "plain")
    assert (plain["Status"], plain["Running"], plain["ExitCode"]) == ("exited", False, 255)
    assert not ContainerFiles(skiff.paths, container_id(skiff, "plain")).mounted()
    assert not os.path.ismount(plain_rootfs)
    assert state(skiff, "held")["Status"] == "exited"  # unless-stopped, and stopped
    assert state(skiff, "never")["Status"] == "created"  # never started: not started

    pid = state(skiff, "always")["Pid"]
    assert skiff("system", "boot").code == 0  # again: nothing changes
    assert state(skiff, "always")["Pid"] == pid
    assert state(skiff, "plain")["Status"] == "exited"


def test_boot_removes_rm_containers_that_were_running(skiff: Skiff, busybox: str):
    skiff.ok("run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "60")
    simulate_reboot(skiff)
    assert skiff.ok("system", "boot") == ""
    assert skiff.ok("ps", "-aq") == ""
