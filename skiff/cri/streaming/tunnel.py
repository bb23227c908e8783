"""SPDY tunnelled in a WebSocket (subprotocol ``SPDY/3.1+portforward.k8s.io``), as
kubectl 1.30 and later forward ports by default: the WebSocket's binary messages carry
the bytes of a SPDY connection, which starts right after the WebSocket handshake (no
HTTP upgrade inside)."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSMsgType, web

from skiff.cri.streaming.session import Connection

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from skiff.cri.streaming.session import Stream

PORT_FORWARD = "SPDY/3.1+portforward.k8s.io"


def offered(request: web.BaseRequest) -> list[str]:
    """The WebSocket subprotocols the client asks for."""
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


class _Writer:
    """The connection's frames as binary messages, in order (sends are coroutines: one
    task sends them one after the other)."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.pending = 0
        self.task = asyncio.ensure_future(self._send())

    def write(self, data: bytes) -> None:
        self.pending += len(data)
        self.queue.put_nowait(data)

    def buffered(self) -> int:
        return self.pending

    async def _send(self) -> None:
        while True:
            data = await self.queue.get()
            with contextlib.suppress(ConnectionError):
                await self.ws.send_bytes(data)
            self.pending -= len(data)


async def serve(
    request: web.Request, on_stream: Callable[[Stream], None]
) -> tuple[web.WebSocketResponse, Connection]:
    """Until the client closes: the WebSocket, and the SPDY connection it carried."""
    ws = web.WebSocketResponse(protocols=(PORT_FORWARD,))
    await ws.prepare(request)
    writer = _Writer(ws)
    connection = Connection(writer.write, writer.buffered, on_stream)
    try:
        async for message in ws:
            if message.type == WSMsgType.BINARY:
                connection.feed(message.data)
                if connection.closed.is_set():
                    break
    finally:
        connection.connection_lost()
        writer.task.cancel()
        await ws.close()
    return ws, connection
