"""Port forwarding as the kubelet's streaming server does it: TCP connections to ports
of the pod, from inside its network namespace.

Over SPDY (``portforward.k8s.io``) the client opens two streams per connection, an error
stream and a data stream with the same ``requestID`` and ``port`` headers; the data
stream carries the connection both ways, a failure is a message on the error stream.
The same SPDY connection may come tunnelled in a WebSocket (tunnel.py). Over a
WebSocket of its own (``v4.channel.k8s.io``) the ports are the request's, one connection
each: channel 2i is the data of the i-th port, 2i+1 its errors, and the first message
we send on each channel is the port, two bytes little-endian."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

from aiohttp import web

from skiff.cri.streaming import channels, netns, tunnel, upgrade
from skiff.errors import SkiffError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any

    from skiff.cri.streaming.session import Stream

SPDY_PROTOCOL = "portforward.k8s.io"
CHUNK = 65536


def _failure(port: int, pod: str, netns_path: str, error: Exception) -> str:
    reason = (error.strerror if isinstance(error, OSError) else None) or str(error)
    return (
        f"error forwarding port {port} to pod {pod}, uid : failed to connect to "
        f"localhost:{port} inside namespace {netns_path}: {reason}"
    )


async def serve(
    request: web.Request, pod: str, ports: list[int], netns_of: Callable[[], str]
) -> web.StreamResponse:
    if upgrade.is_websocket(request) and tunnel.PORT_FORWARD in tunnel.offered(request):
        return await _serve_tunnel(request, pod, netns_of)
    if upgrade.is_websocket(request):
        return await _serve_websocket(request, pod, ports, netns_of)
    if upgrade.is_spdy(request):
        return await _serve_spdy(request, pod, netns_of)
    raise web.HTTPBadRequest(text="expected an upgrade to websocket or SPDY/3.1")


async def _pipe(
    sock: socket.socket,
    receive: Callable[[], Awaitable[bytes]],
    send: Callable[[bytes], Awaitable[None]],
) -> None:
    """Both ways between the pod's socket and the client until the pod's side closes
    (the client's end of data half-closes the socket, as containerd's copy does)."""
    loop = asyncio.get_running_loop()

    async def inbound() -> None:
        while data := await receive():
            await loop.sock_sendall(sock, data)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)

    feeding = asyncio.ensure_future(inbound())
    try:
        while data := await loop.sock_recv(sock, CHUNK):
            await send(data)
    except OSError:
        pass
    finally:
        feeding.cancel()
        sock.close()


# --- SPDY --------------------------------------------------------------------------------


class _Pairs:
    """Streams paired by request as they come; each complete pair is forwarded."""

    def __init__(self, pod: str, netns_of: Callable[[], str]) -> None:
        self.pod = pod
        self.netns_of = netns_of
        self.pairs: dict[str, dict[str, Stream]] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def on_stream(self, stream: Stream) -> None:
        kind = stream.header("streamType")
        if kind not in ("data", "error"):
            stream.reset()
            return
        request_id = stream.header("requestID")
        if not request_id:  # clients before requestID: the error stream's id names both
            request_id = str(stream.id if kind == "error" else stream.id - 2)
        pair = self.pairs.setdefault(request_id, {})
        if kind in pair:
            stream.reset()
            return
        pair[kind] = stream
        if len(pair) == 2:
            del self.pairs[request_id]
            forward = _forward(self.pod, self.netns_of, pair["data"], pair["error"])
            task = asyncio.ensure_future(forward)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def cancel(self) -> None:
        for task in list(self.tasks):
            task.cancel()


async def _serve_spdy(
    request: web.Request, pod: str, netns_of: Callable[[], str]
) -> web.StreamResponse:
    protocol = upgrade.negotiate(request, (SPDY_PROTOCOL,))
    pairs = _Pairs(pod, netns_of)
    response, connection = await upgrade.upgrade(request, protocol, pairs.on_stream)
    try:
        await connection.closed.wait()
    finally:
        pairs.cancel()
        transport = request.transport
        if transport is not None:
            transport.close()
    return response


async def _serve_tunnel(
    request: web.Request, pod: str, netns_of: Callable[[], str]
) -> web.StreamResponse:
    pairs = _Pairs(pod, netns_of)
    try:
        ws, _ = await tunnel.serve(request, pairs.on_stream)
    finally:
        pairs.cancel()
    return ws


async def _forward(pod: str, netns_of: Callable[[], str], data: Stream, error: Stream) -> None:
    port_text = data.header("port")
    try:
        port = int(port_text)
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        await error.write(f"invalid port {port_text!r}".encode())
        error.close()
        data.reset()
        return
    path = ""
    try:
        path = netns_of()
        sock = await netns.connect(path, port)
    except (OSError, SkiffError) as e:
        await error.write(_failure(port, pod, path, e).encode())
        error.close()
        data.close()
        return
    try:
        await _pipe(sock, data.read, data.write)
    finally:
        data.close()
        error.close()


# --- WebSocket ---------------------------------------------------------------------------


async def _serve_websocket(
    request: web.Request, pod: str, ports: list[int], netns_of: Callable[[], str]
) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=channels.PORT_FORWARD_PROTOCOLS)
    await ws.prepare(request)
    protocol = ws.ws_protocol

    async def send(channel: int, data: bytes) -> None:
        message = channels.encode(protocol, channel, data)
        with contextlib.suppress(ConnectionError):
            if isinstance(message, str):
                await ws.send_str(message)
            else:
                await ws.send_bytes(message)

    inboxes: list[asyncio.Queue[bytes]] = [asyncio.Queue() for _ in ports]
    for index, port in enumerate(ports):
        for channel in (2 * index, 2 * index + 1):
            await send(channel, struct.pack("<H", port))
    forwards = [
        asyncio.ensure_future(_forward_channel(pod, netns_of, port, index, inboxes, send))
        for index, port in enumerate(ports)
    ]
    receiving = asyncio.ensure_future(_receive(ws, inboxes))
    finished: asyncio.Future[Any] = asyncio.gather(*forwards)
    await asyncio.wait([finished, receiving], return_when=asyncio.FIRST_COMPLETED)
    for task in [*forwards, receiving]:
        task.cancel()
    await ws.close()
    return ws


async def _forward_channel(
    pod: str,
    netns_of: Callable[[], str],
    port: int,
    index: int,
    inboxes: list[asyncio.Queue[bytes]],
    send: Callable[[int, bytes], Awaitable[None]],
) -> None:
    path = ""
    try:
        path = netns_of()
        sock = await netns.connect(path, port)
    except (OSError, SkiffError) as e:
        await send(2 * index + 1, _failure(port, pod, path, e).encode())
        return
    await _pipe(sock, inboxes[index].get, lambda data: send(2 * index, data))


async def _receive(ws: web.WebSocketResponse, inboxes: list[asyncio.Queue[bytes]]) -> None:
    """Data channels' messages to their connections, until the client closes."""
    async for channel, data in channels.received(ws):
        if channel % 2 == 0 and channel // 2 < len(inboxes) and data:
            inboxes[channel // 2].put_nowait(data)
    for inbox in inboxes:
        inbox.put_nowait(b"")
