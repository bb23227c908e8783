"""Health checks of real containers through the ``skiff`` command: probes run in the
container by the shared health runner, results in State.Health as Docker records them,
``--health-on-failure``, an image's HEALTHCHECK and ``--no-healthcheck``."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from pathlib import Path

from skiff.engine.engine import Engine
from tests.support.cli import Skiff
from tests.support.engine import processes_mentioning

QUICK = ("--health-interval", "200ms")


def state(skiff: Skiff, name: str) -> dict:
    """``inspect``'s State, with its RestartCount."""
    document = json.loads(skiff.ok("inspect", name))[0]
    return {**document["State"], "RestartCount": document["RestartCount"]}


def health(skiff: Skiff, name: str) -> dict:
    return state(skiff, name).get("Health") or {}


def recorded_health(skiff: Skiff, name: str) -> dict:
    return Engine(skiff.paths).containers.get(name).state.get("Health") or {}


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def runners(skiff: Skiff) -> list[str]:
    return [p for p in processes_mentioning(str(skiff.runroot) + " ") if "health-runner" in p]


def test_a_passing_check_becomes_healthy(skiff: Skiff, busybox: str):
    skiff.ok("run", "-d", "--name", "ok", "--health-cmd", "echo fine; hostname",
             "--health-interval", "1s", "busybox", "sleep", "60")  # fmt: skip
    assert health(skiff, "ok") == {"Status": "starting", "FailingStreak": 0, "Log": []}
    wait_for(lambda: health(skiff, "ok").get("Status") == "healthy")
    listed = skiff.ok("ps", "--filter", "name=ok", "--format", "{{.Status}}")
    assert listed.endswith(" (healthy)\n")
    h = health(skiff, "ok")
    assert h["FailingStreak"] == 0
    short_id = skiff.ok("inspect", "-f", "{{.Id}}", "ok")[:12]
    assert h["Log"][0]["ExitCode"] == 0
    assert h["Log"][0]["Output"] == f"fine\n{short_id}\n"  # run inside the container
    assert h["Log"][0]["Start"] < h["Log"][0]["End"]


def test_a_failing_check_becomes_unhealthy_and_keeps_five_results(skiff: Skiff, busybox: str):
    skiff.ok("run", "-d", "--name", "bad", "--health-cmd", "echo broken >&2; exit 3",
             "--health-interval", "400ms", "--health-retries", "2",
             "busybox", "sleep", "60")  # fmt: skip
    # One failure of two: still starting (read from the store, at once: the next probe
    # is 400 ms away)
    wait_for(lambda: recorded_health(skiff, "bad").get("FailingStreak") == 1)
    assert recorded_health(skiff, "bad")["Status"] == "starting"
    wait_for(lambda: health(skiff, "bad").get("Status") == "unhealthy")
    assert health(skiff, "bad")["FailingStreak"] == 2
    wait_for(lambda: health(skiff, "bad")["FailingStreak"] >= 6)
    log = health(skiff, "bad")["Log"]
    assert len(log) == 5
    assert {(r["ExitCode"], r["Output"]) for r in log} == {(3, "broken\n")}
    assert state(skiff, "bad")["Running"]  # unhealthy is not stopped: no action asked


def test_a_probe_past_its_timeout_is_killed_and_fails(skiff: Skiff, busybox: str):
    skiff.ok("run", "-d", "--name", "slow", "--health-cmd", "sleep 7.25", *QUICK,
             "--health-timeout", "200ms", "busybox", "sleep", "60")  # fmt: skip
    wait_for(lambda: health(skiff, "slow").get("FailingStreak", 0) >= 4)
    first = health(skiff, "slow")["Log"][0]
    assert first["ExitCode"] == -1
    assert first["Output"] == "Health check exceeded timeout (200ms)"
    # Each probe's sleep was killed at its timeout: left alone, four would still run.
    sleeping = [p for p in processes_mentioning("sleep 7.25") if p.endswith(": sleep 7.25")]
    assert len(sleeping) <= 1


def test_one_runner_for_all_and_none_once_no_check_runs(skiff: Skiff, busybox: str):
    for name in ("aa", "bb", "cc"):
        skiff.ok("run", "-d", "--name", name, "--health-cmd", "true", *QUICK,
                 "busybox", "sleep", "60")  # fmt: skip
    wait_for(lambda: all(health(skiff, n).get("Status") == "healthy" for n in ("aa", "bb", "cc")))
    assert len(runners(skiff)) == 1
    skiff.ok("rm", "-f", "aa", "bb")
    time.sleep(0.5)
    assert len(runners(skiff)) == 1  # cc still has a check
    skiff.ok("stop", "-t", "0", "cc")
    assert health(skiff, "cc")["Status"] == "unhealthy"  # Docker's, once checks stop
    wait_for(lambda: runners(skiff) == [], timeout=5)


def test_health_on_failure_restart_restarts_it(skiff: Skiff, busybox: str):
    skiff.ok("run", "-d", "--name", "sick", "--health-cmd", "test ! -e /tmp/sick", *QUICK,
             "--health-retries", "1", "--health-on-failure", "restart", "busybox",
             "sh", "-c", "touch /tmp/sick; trap 'exit 0' TERM; while :; do sleep 0.05; done",
             )  # fmt: skip
    first = state(skiff, "sick")["Pid"]
    wait_for(lambda: state(skiff, "sick")["RestartCount"] == 1)
    wait_for(lambda: state(skiff, "sick")["Running"] and state(skiff, "sick")["Pid"] != first)
    assert health(skiff, "sick")["Status"] in ("starting", "unhealthy")


def test_health_on_failure_kill_and_stop_hold_it_down(skiff: Skiff, busybox: str):
    for name, action in (("killed", "kill"), ("stopped", "stop")):
        skiff.ok("run", "-d", "--name", name, "--health-cmd", "false", *QUICK,
                 "--health-retries", "1", "--health-on-failure", action, "--restart", "always",
                 "busybox", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done",
                 )  # fmt: skip
    wait_for(lambda: state(skiff, "killed")["Status"] == "exited")
    wait_for(lambda: state(skiff, "stopped")["Status"] == "exited")
    time.sleep(0.5)
    assert (state(skiff, "killed")["ExitCode"], state(skiff, "killed")["RestartCount"]) == (137, 0)
    assert (state(skiff, "stopped")["ExitCode"], state(skiff, "stopped")["RestartCount"]) == (0, 0)


def _image_with_healthcheck(path: Path, rootfs_tar: Path) -> Path:
    """A docker-archive of busybox whose config has a HEALTHCHECK."""
    layer = rootfs_tar.read_bytes()
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Cmd": ["sleep", "60"],
            "Env": ["PATH=/bin"],
            "Healthcheck": {"Test": ["CMD", "/bin/true"], "Interval": 200_000_000},
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
    }).encode()  # fmt: skip
    manifest = [{"Config": "config.json", "RepoTags": ["checked:latest"], "Layers": ["l.tar"]}]
    with tarfile.open(path, "w") as tar:
        for name, data in (("config.json", config), ("l.tar", layer),
                           ("manifest.json", json.dumps(manifest).encode())):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_the_image_check_runs_and_no_healthcheck_disables_it(
    skiff: Skiff, busybox: str, rootfs_tar: Path, tmp_path: Path
):
    skiff.ok("load", "-i", str(_image_with_healthcheck(tmp_path / "checked.tar", rootfs_tar)))
    skiff.ok("run", "-d", "--name", "inherits", "checked")
    skiff.ok("run", "-d", "--name", "disabled", "--no-healthcheck", "checked")
    skiff.ok("run", "-d", "--name", "overrides", "--health-cmd", "exit 1", "checked")
    wait_for(lambda: health(skiff, "inherits").get("Status") == "healthy")
    # the override keeps the image's 200 ms interval: three failures come quickly
    wait_for(lambda: health(skiff, "overrides").get("Status") == "unhealthy", timeout=5)
    assert "Health" not in state(skiff, "disabled")
    assert state(skiff, "disabled")["Running"]
