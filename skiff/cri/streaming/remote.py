"""What a remote command (exec, attach) sees of its client, whatever the transport: the
client's stdin and terminal sizes as queues, and the command's output and final status
going back."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    """The streams of the request (the kubelet's remotecommand.Options): with a terminal
    there is no stderr, its output is all on stdout."""

    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @classmethod
    def of(cls, stdin: bool, stdout: bool, stderr: bool, tty: bool) -> Options:
        return cls(stdin, stdout, stderr and not tty, tty)


class Remote(ABC):
    """``stdin`` yields the client's bytes, b"" at its end of file; ``resizes`` yields
    (rows, columns)."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.stdin: asyncio.Queue[bytes] = asyncio.Queue()
        self.resizes: asyncio.Queue[tuple[int, int]] = asyncio.Queue()

    @abstractmethod
    async def output(self, channel: int, data: bytes) -> None:
        """Data of the command's stdout (1) or stderr (2); dropped if not requested."""

    @abstractmethod
    def end_output(self, channel: int) -> None:
        """The command's stdout or stderr is over."""
