"""The pipe protocol between ``create`` and the processes it forks.

One line per message: a word, then an optional argument. ``error <text>`` from a child
ends the exchange; the parent raises it as the command's error.
"""

from __future__ import annotations

import os

from skiff.errors import EngineError


class Channel:
    """A pair of pipes: one end reads messages, the other writes them."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self._buffer = b""

    def send(self, word: str, argument: str = "") -> None:
        line = f"{word} {argument}".rstrip().replace("\n", " ") + "\n"
        try:
            os.write(self.write_fd, line.encode())
        except BrokenPipeError:
            pass  # the other side is gone; the next receive() says why

    def receive(self) -> tuple[str, str]:
        """The next message; ``("eof", "")`` when the other side is gone."""
        while b"\n" not in self._buffer:
            chunk = os.read(self.read_fd, 4096)
            if not chunk:
                return "eof", ""
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        word, _, argument = line.decode(errors="replace").partition(" ")
        return word, argument

    def expect(self, expected: str) -> str:
        word, argument = self.receive()
        if word == "error":
            raise EngineError(argument)
        if word != expected:
            raise EngineError(f"container init: expected {expected!r}, got {word!r}")
        return argument

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def channel_pair() -> tuple[Channel, Channel]:
    """(parent side, child side), each end close-on-exec."""
    down_r, down_w = os.pipe2(os.O_CLOEXEC)
    up_r, up_w = os.pipe2(os.O_CLOEXEC)
    return Channel(up_r, down_w), Channel(down_r, up_w)
