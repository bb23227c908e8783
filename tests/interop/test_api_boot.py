"""As dockerd when it starts: skiff serve brings back the containers whose restart policy
says so, here one whose monitor and process were killed while no server ran (what a
reboot or a crash leaves), and leaves a running one alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.support.cli import SKIFF, Skiff


def _container(skiff: Skiff, name: str) -> dict:
    return json.loads(skiff.ok("container", "inspect", name))[0]


def _kill_monitor_and_process(skiff: Skiff, name: str) -> int:
    """SIGKILL the container's conmon, then its process; the process's old pid."""
    container = _container(skiff, name)
    directory = skiff.root / "containers" / container["Id"]
    conmon = int((directory / "conmon.pid").read_text())
    os.kill(conmon, signal.SIGKILL)
    pid = int(container["State"]["Pid"])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid


def test_serve_brings_back_always_containers(skiff: Skiff, busybox: str, tmp_path: Path):
    skiff.ok("run", "-d", "--name", "keeper", "--restart", "always", "busybox", "sleep", "300")
    skiff.ok("run", "-d", "--name", "alive", "--restart", "always", "busybox", "sleep", "300")
    skiff.ok("run", "-d", "--name", "plain", "busybox", "sleep", "300")
    alive_pid = _container(skiff, "alive")["State"]["Pid"]
    old = _kill_monitor_and_process(skiff, "keeper")
    _kill_monitor_and_process(skiff, "plain")
    assert _container(skiff, "keeper")["State"]["Running"]  # nobody saw it die

    socket = tmp_path / "api.sock"
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [SKIFF, "serve", "-H", f"unix://{socket}"],
            env=skiff.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while b"listening" not in log.read_bytes():
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        listed = subprocess.run(
            ["docker", "-H", f"unix://{socket}", "inspect", "keeper", "alive", "plain"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed
        keeper, alive, plain = json.loads(listed.stdout)
        assert keeper["State"]["Running"] and keeper["State"]["Pid"] not in (0, old)
        assert keeper["RestartCount"] == 0  # a fresh start, as dockerd's
        assert alive["State"]["Pid"] == alive_pid  # left alone
        assert not plain["State"]["Running"]
        assert plain["State"]["ExitCode"] == 255  # an end nobody saw
    finally:
        server.terminate()
        assert server.wait(20) == 0, log.read_text()
