"""The server's side of one SPDY/3.1 connection: streams the client opens (each answered
with a SYN_REPLY, as moby/spdystream answers them for the kubelet), their data in and
out, half-closes (FIN), resets, PINGs answered, GOAWAY.

It runs on the event loop: ``feed`` what arrives, and it writes with ``write``, a
function that sends bytes (the hijacked HTTP connection, or a WebSocket tunnel). There
is no flow control: spdystream, the peer here, neither sends WINDOW_UPDATE nor waits
for one.
"""

from __future__ import annotations

import asyncio

from skiff.cri.streaming import spdy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

CHUNK = 32768


class Stream:
    """One stream the client opened: ``read`` its data (b"" once it sent FIN or reset
    it), ``write`` ours, ``close`` our side."""

    def __init__(self, connection: Connection, stream_id: int, headers: dict[str, list[str]]):
        self.connection = connection
        self.id = stream_id
        self.headers = headers
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.remote_done = False
        self.local_done = False

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower())
        return values[0] if values else ""

    async def read(self) -> bytes:
        if self.remote_done and self.incoming.empty():
            return b""
        return await self.incoming.get()

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self.local_done:
            self.connection.send(spdy.data_frame(self.id, bytes(view[:CHUNK])))
            view = view[CHUNK:]
            await self.connection.drain()

    def close(self) -> None:
        """FIN: we send nothing more on this stream."""
        if not self.local_done:
            self.local_done = True
            self.connection.send(spdy.data_frame(self.id, b"", fin=True))
            self.connection.forget(self)

    def reset(self) -> None:
        if not (self.local_done and self.remote_done):
            self.connection.send(spdy.rst_stream(self.id, spdy.CANCEL))
        self._remote_end()
        self.local_done = True
        self.connection.forget(self)

    def _remote_end(self) -> None:
        if not self.remote_done:
            self.remote_done = True
            self.incoming.put_nowait(b"")


class Connection:
    """``on_stream`` is called with each new stream, after its reply was sent."""

    WRITE_BUFFER = 1 << 20  # bytes queued before writers wait

    def __init__(
        self,
        write: Callable[[bytes], None],
        buffered: Callable[[], int],
        on_stream: Callable[[Stream], None],
    ) -> None:
        self.write = write
        self.buffered = buffered
        self.on_stream = on_stream
        self.codec = spdy.HeaderCodec()
        self.reader = spdy.FrameReader(self.codec)
        self.streams: dict[int, Stream] = {}
        self.last_stream_id = 0
        self.closed = asyncio.Event()
        self.gone_away = False

    def send(self, frame: bytes) -> None:
        if not self.closed.is_set():
            self.write(frame)

    async def drain(self) -> None:
        while self.buffered() > self.WRITE_BUFFER and not self.closed.is_set():
            await asyncio.sleep(0.005)

    def forget(self, stream: Stream) -> None:
        if stream.local_done and stream.remote_done:
            self.streams.pop(stream.id, None)

    def feed(self, data: bytes) -> None:
        try:
            frames = self.reader.feed(data)
        except spdy.ProtocolError:
            self.send(spdy.goaway(self.last_stream_id, 1))
            self.connection_lost()
            return
        for frame in frames:
            self._handle(frame)

    def connection_lost(self) -> None:
        """The peer is gone: every stream ends."""
        for stream in list(self.streams.values()):
            stream._remote_end()
            stream.local_done = True
        self.streams.clear()
        self.closed.set()

    def goaway(self) -> None:
        if not self.gone_away:
            self.gone_away = True
            self.send(spdy.goaway(self.last_stream_id))

    def _handle(self, frame: spdy.Frame) -> None:
        if frame.kind == 0:
            stream = self.streams.get(frame.stream_id)
            if stream is None:
                return
            if frame.data and not stream.remote_done:
                stream.incoming.put_nowait(frame.data)
            if frame.flags & spdy.FLAG_FIN:
                stream._remote_end()
                self.forget(stream)
        elif frame.kind == spdy.SYN_STREAM:
            self._open(frame)
        elif frame.kind == spdy.RST_STREAM:
            stream = self.streams.pop(frame.stream_id, None)
            if stream is not None:
                stream._remote_end()
                stream.local_done = True
        elif frame.kind == spdy.HEADERS and frame.flags & spdy.FLAG_FIN:
            stream = self.streams.get(frame.stream_id)
            if stream is not None:
                stream._remote_end()
                self.forget(stream)
        elif frame.kind == spdy.PING and frame.value % 2 == 1:  # the client's: echo it
            self.send(spdy.ping(frame.value))
        elif frame.kind == spdy.GOAWAY:
            self.gone_away = True

    def _open(self, frame: spdy.Frame) -> None:
        stream_id = frame.stream_id
        if self.gone_away or stream_id % 2 == 0 or stream_id <= self.last_stream_id:
            self.send(spdy.rst_stream(stream_id, spdy.PROTOCOL_ERROR))
            return
        self.last_stream_id = stream_id
        stream = Stream(self, stream_id, frame.headers)
        self.streams[stream_id] = stream
        self.send(spdy.syn_reply(self.codec, stream_id, {}))
        if frame.flags & spdy.FLAG_FIN:
            stream._remote_end()
        if frame.flags & spdy.FLAG_UNIDIRECTIONAL:
            stream.local_done = True
        self.on_stream(stream)
