"""The remote command protocol (exec, attach) as the kubelet's streaming server speaks
it, over a WebSocket (channel.k8s.io v1 to v5) or over SPDY/3.1 (streams the client
opens, named by their ``streamType`` header; remotecommand v1 to v4)."""

from __future__ import annotations

import asyncio
import contextlib
from asyncio import FIRST_COMPLETED

from aiohttp import web

from skiff.cri.streaming import channels, status, upgrade
from skiff.cri.streaming.remote import Options, Remote
from skiff.cri.streaming.resize import ResizeDecoder

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from skiff.cri.streaming.session import Stream
    from skiff.cri.streaming.status import Status

    Command = Callable[[Remote], Awaitable[Status]]

SPDY_PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io")
STREAM_CREATION_TIMEOUT = 30.0  # seconds, the kubelet's default
LINGER = 10.0  # seconds we wait for the client to close after the end


async def serve(request: web.Request, options: Options, command: Command) -> web.StreamResponse:
    command = _guarded(command)
    if upgrade.is_websocket(request):
        return await _serve_websocket(request, options, command)
    if upgrade.is_spdy(request):
        return await _serve_spdy(request, options, command)
    raise web.HTTPBadRequest(text="expected an upgrade to websocket or SPDY/3.1")


def _guarded(command: Command) -> Command:
    """A command that could not run at all (its program missing, say) ends with an
    internal error on the error stream, not with a connection cut."""

    async def run(remote: Remote) -> Status:
        try:
            return await command(remote)
        except OSError as e:
            for channel in (channels.STDOUT, channels.STDERR):
                remote.end_output(channel)
            return status.internal_error(str(e))

    return run


# --- WebSocket -----------------------------------------------------------------------


class _WebSocketRemote(Remote):
    def __init__(self, options: Options, ws: web.WebSocketResponse) -> None:
        super().__init__(options)
        self.ws = ws
        self.protocol = ws.ws_protocol

    async def send(self, channel: int, data: bytes) -> None:
        message = channels.encode(self.protocol, channel, data)
        with contextlib.suppress(ConnectionError):
            if isinstance(message, str):
                await self.ws.send_str(message)
            else:
                await self.ws.send_bytes(message)

    async def output(self, channel: int, data: bytes) -> None:
        wanted = self.options.stdout if channel == channels.STDOUT else self.options.stderr
        if wanted:
            await self.send(channel, data)

    def end_output(self, channel: int) -> None:
        """Nothing to send: a channel of a WebSocket has no end of its own."""


async def _serve_websocket(
    request: web.Request, options: Options, command: Command
) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=channels.REMOTE_COMMAND_PROTOCOLS)
    await ws.prepare(request)
    remote = _WebSocketRemote(options, ws)
    # an empty message on the lowest channel we write: the client knows we are ready
    first = channels.STDOUT if options.stdout else channels.STDERR
    await remote.send(first if options.stdout or options.stderr else channels.ERROR, b"")
    running = asyncio.ensure_future(command(remote))
    receiving = asyncio.ensure_future(_receive(ws, remote))
    await asyncio.wait([running, receiving], return_when=FIRST_COMPLETED)
    if not running.done():  # the client went away: so does the command
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        return ws
    outcome = running.result()
    await remote.send(
        channels.ERROR, status.encode(outcome, channels.structured_status(remote.protocol))
    )
    await ws.close()
    receiving.cancel()
    return ws


async def _receive(ws: web.WebSocketResponse, remote: Remote) -> None:
    """The client's messages to stdin and the terminal, until it closes."""
    sizes = ResizeDecoder()
    protocol = ws.ws_protocol
    stdin_open = remote.options.stdin
    async for channel, data in channels.received(ws):
        if channel == channels.STDIN and stdin_open and data:
            remote.stdin.put_nowait(data)
        elif channel == channels.RESIZE:
            for size in sizes.feed(data):
                remote.resizes.put_nowait(size)
        elif channel == channels.CLOSE and _closes_stdin(protocol, data) and stdin_open:
            stdin_open = False
            remote.stdin.put_nowait(b"")
    if stdin_open:
        remote.stdin.put_nowait(b"")


def _closes_stdin(protocol: str | None, data: bytes) -> bool:
    """v5's close signal for stdin (channel 255, data: the channel closed)."""
    return protocol == channels.V5 and data[:1] == bytes((channels.STDIN,))


# --- SPDY --------------------------------------------------------------------------------


class _SpdyRemote(Remote):
    def __init__(self, options: Options, streams: dict[str, Stream]) -> None:
        super().__init__(options)
        self.streams = streams

    async def output(self, channel: int, data: bytes) -> None:
        stream = self.streams.get("stdout" if channel == channels.STDOUT else "stderr")
        if stream is not None:
            await stream.write(data)

    def end_output(self, channel: int) -> None:
        stream = self.streams.get("stdout" if channel == channels.STDOUT else "stderr")
        if stream is not None:
            stream.close()


def _expected(options: Options, protocol: str) -> set[str]:
    """The streams the client opens (the error stream always; resize from v3 on)."""
    resizes = options.tty and protocol in ("v4.channel.k8s.io", "v3.channel.k8s.io")
    opened = {
        "error": True,
        "stdin": options.stdin,
        "stdout": options.stdout,
        "stderr": options.stderr,
        "resize": resizes,
    }
    return {name for name, wanted in opened.items() if wanted}


async def _serve_spdy(
    request: web.Request, options: Options, command: Command
) -> web.StreamResponse:
    protocol = upgrade.negotiate(request, SPDY_PROTOCOLS)
    streams: dict[str, Stream] = {}
    expected = _expected(options, protocol)
    complete = asyncio.Event()

    def on_stream(stream: Stream) -> None:
        kind = stream.header("streamType")
        if kind in expected and kind not in streams:
            streams[kind] = stream
            if set(streams) == expected:
                complete.set()
        else:
            stream.reset()

    response, connection = await upgrade.upgrade(request, protocol, on_stream)
    waits = [
        asyncio.ensure_future(complete.wait()),
        asyncio.ensure_future(connection.closed.wait()),
    ]
    await asyncio.wait(waits, timeout=STREAM_CREATION_TIMEOUT, return_when=FIRST_COMPLETED)
    for waiting in waits:
        waiting.cancel()
    if not complete.is_set():  # the client left, or did not open its streams in time
        await upgrade.close(request, connection, 0)
        return response
    remote = _SpdyRemote(options, streams)
    helpers = [asyncio.ensure_future(_pump_stdin(streams.get("stdin"), remote))]
    if "resize" in streams:
        helpers.append(asyncio.ensure_future(_pump_sizes(streams["resize"], remote)))
    running = asyncio.ensure_future(command(remote))
    lost = asyncio.ensure_future(connection.closed.wait())
    await asyncio.wait([running, lost], return_when=FIRST_COMPLETED)
    for task in helpers:
        task.cancel()
    lost.cancel()
    if not running.done():
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        return response
    error = streams["error"]
    encoded = status.encode(running.result(), protocol == "v4.channel.k8s.io")
    if encoded:
        await error.write(encoded)
    for stream in streams.values():
        stream.close()
    await upgrade.close(request, connection, LINGER)
    return response


async def _pump_stdin(stream: Stream | None, remote: Remote) -> None:
    if stream is None:
        return
    while data := await stream.read():
        remote.stdin.put_nowait(data)
    remote.stdin.put_nowait(b"")


async def _pump_sizes(stream: Stream, remote: Remote) -> None:
    sizes = ResizeDecoder()
    while data := await stream.read():
        for size in sizes.feed(data):
            remote.resizes.put_nowait(size)
