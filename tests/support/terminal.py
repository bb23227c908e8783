"""A command run on a real pseudo-terminal, as a user's shell would run it: the pty is its
controlling terminal, so a window resize sends it SIGWINCH and raw mode is real."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time


class Terminal:
    def __init__(self, argv: list[str], env: dict[str, str], rows: int = 30, cols: int = 100):
        self.master, self.slave = os.openpty()
        self.resize(rows, cols)
        self.initial = self.settings()  # before the command changes them
        self.output = b""
        self.process = subprocess.Popen(
            argv,
            env=env,
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            preexec_fn=self._take_terminal,
        )

    def _take_terminal(self) -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    def resize(self, rows: int, cols: int) -> None:
        """As a terminal emulator does: the kernel signals the foreground process group."""
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def expect(self, pattern: bytes, timeout: float = 10) -> re.Match[bytes]:
        """Read until ``pattern`` (a regex) matches the output since the last match."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.output)
            if found:
                self.output = self.output[found.end() :]
                return found
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} in {self.output!r}"
            if not self._read(left):
                assert re.search(pattern, self.output), f"no {pattern!r} in {self.output!r}"

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the command and its children closed the terminal
            return False
        self.output += data
        return bool(data)

    def wait(self, timeout: float = 10) -> int:
        """The command's exit status (``-N``: killed by signal N); what it printed is
        read meanwhile."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            assert time.monotonic() < deadline, f"still running; output {self.output!r}"
            self._read(0.05)
        while self._read(0.05) and select.select([self.master], [], [], 0)[0]:
            pass
        return self.process.returncode

    def settings(self) -> list:
        return termios.tcgetattr(self.slave)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)
        os.close(self.slave)
