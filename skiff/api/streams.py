"""Docker's stream formats: multiplexed frames (an 8-byte header: the stream, then the
length as a big-endian uint32) for output without a TTY, raw bytes with one; and the
hijacked connection of attach and exec (``Upgrade: tcp``, answered ``101 UPGRADED``),
after which the socket carries the container's stdin one way and its output the other.
"""

from __future__ import annotations

import asyncio
import struct

from aiohttp import web

from skiff.api.server import prepare_headers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.api.http import Call

STDIN, STDOUT, STDERR = 0, 1, 2
RAW = "application/vnd.docker.raw-stream"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


class _Input:
    """aiohttp's payload parser interface, fed the raw bytes after the upgrade."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.queue.put_nowait(b"")


class Hijacked:
    """A connection taken over: ``read`` the client's bytes (b"" once it has shut its
    side), ``write`` ours from any thread, ``close`` when done."""

    def __init__(self, response: web.StreamResponse, request: web.BaseRequest) -> None:
        self.response = response
        self.request = request
        self.loop = asyncio.get_running_loop()
        self.input = _Input()
        self.upgraded = response.status == 101
        if self.upgraded:
            request.protocol.set_parser(self.input)  # type: ignore[arg-type]
        self.closed = asyncio.Event()

    @classmethod
    async def take(cls, call: Call, content_type: str) -> Hijacked:
        """Answer 101 (or 200 to a client that did not ask to upgrade) and take over."""
        request = call.request
        upgrade = "upgrade" in request.headers.get("Connection", "").lower()
        response = web.StreamResponse(status=101 if upgrade else 200)
        response.headers["Content-Type"] = content_type
        if upgrade:
            response.headers["Connection"] = "Upgrade"
            response.headers["Upgrade"] = "tcp"
        else:
            response.force_close()  # the output ends with the connection: no chunks
        prepare_headers(response)
        await response.prepare(request)
        return cls(response, request)

    async def read(self) -> bytes:
        if not self.upgraded:
            return b""
        return await self.input.queue.get()

    def write(self, data: bytes) -> None:
        """From any thread."""
        self.loop.call_soon_threadsafe(self._write, data)

    def _write(self, data: bytes) -> None:
        transport = self.request.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def finish(self) -> None:
        """From any thread: the output is over; the connection closes."""
        self.loop.call_soon_threadsafe(self.closed.set)

    async def wait_closed(self) -> None:
        await self.closed.wait()
        transport = self.request.transport
        if transport is not None and not transport.is_closing():
            if transport.can_write_eof():
                transport.write_eof()
            transport.close()


class ThreadWriter:
    """A file-like ``write`` for a worker thread that streams into a prepared response
    (each write waits until the event loop has taken it: the client's pace)."""

    def __init__(self, response: web.StreamResponse, loop: asyncio.AbstractEventLoop) -> None:
        self.response = response
        self.loop = loop

    def write(self, data: bytes) -> int:
        if data:
            asyncio.run_coroutine_threadsafe(self.response.write(bytes(data)), self.loop).result()
        return len(data)

    def flush(self) -> None:
        pass


class ThreadReader:
    """A file-like ``read`` of a request's body for a worker thread."""

    def __init__(self, request: web.BaseRequest, loop: asyncio.AbstractEventLoop) -> None:
        self.content = request.content
        self.loop = loop

    def read(self, n: int = -1) -> bytes:
        size = n if n >= 0 else 1 << 20
        while True:
            future = asyncio.run_coroutine_threadsafe(self.content.read(size), self.loop)
            data = future.result()
            if data or n >= 0 or self.content.at_eof():
                return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
