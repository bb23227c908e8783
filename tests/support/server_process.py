"""A long-running skiff command under test (``skiff serve``, ``skiff cri``): started until
its log says it is ready, stopped with SIGTERM as systemd stops it."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests.support.cli import Skiff

STARTUP = 30  # seconds a server may take to say it is ready
SHUTDOWN = 20  # seconds it may take to exit after SIGTERM


class ServerProcess:
    """``skiff ARGS`` with its output in ``log_path``, ready once ``ready`` is logged."""

    def __init__(self, skiff: Skiff, args: list[str], ready: str, log_path: Path) -> None:
        self.skiff = skiff
        self.args = args
        self.ready = ready
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        name = f"skiff {self.args[0]}"
        with open(self.log_path, "wb") as log:
            self.process = self.skiff.popen(
                *self.args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + STARTUP
        while self.ready not in self.log():
            assert self.process.poll() is None, f"{name} died:\n{self.log()}"
            assert time.monotonic() < deadline, f"{name} did not start:\n{self.log()}"
            time.sleep(0.05)

    def stop(self) -> int | None:
        """SIGTERM: the exit status, None if it was still there SHUTDOWN seconds later
        (then killed)."""
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(SHUTDOWN)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None
