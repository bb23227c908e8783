"""The HTTP side of a SPDY stream connection: the protocol negotiation of
``X-Stream-Protocol-Version`` (httpstream.Handshake), the ``101 Switching Protocols`` to
``Upgrade: SPDY/3.1``, and the socket taken over from aiohttp afterwards."""

from __future__ import annotations

import asyncio

from aiohttp import web

from skiff.cri.streaming.session import Connection

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from skiff.cri.streaming.session import Stream

PROTOCOL_HEADER = "X-Stream-Protocol-Version"
UPGRADE = "SPDY/3.1"


def is_spdy(request: web.BaseRequest) -> bool:
    return request.headers.get("Upgrade", "").lower() == UPGRADE.lower()


def is_websocket(request: web.BaseRequest) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


class Refused(web.HTTPForbidden):
    """No protocol both sides speak (the kubelet answers 403 too)."""

    def __init__(self, offered: list[str], accepted: tuple[str, ...]) -> None:
        super().__init__(
            text=f"unable to upgrade: unable to negotiate protocol: client supports "
            f"{offered}, server accepts {list(accepted)}",
            headers={"X-Accepted-Stream-Protocol-Versions": ", ".join(accepted)},
        )


def negotiate(request: web.BaseRequest, accepted: tuple[str, ...]) -> str:
    """The client's first protocol we accept; "" when it offered none (protocol v1)."""
    offered = [
        value.strip()
        for header in request.headers.getall(PROTOCOL_HEADER, [])
        for value in header.split(",")
        if value.strip()
    ]
    if not offered:
        return ""
    for protocol in offered:
        if protocol in accepted:
            return protocol
    raise Refused(offered, accepted)


class _Input:
    """aiohttp's payload parser interface, fed the bytes after the upgrade."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.connection.feed(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.connection.connection_lost()


async def upgrade(
    request: web.BaseRequest, protocol: str, on_stream: Callable[[Stream], None]
) -> tuple[web.StreamResponse, Connection]:
    """Answer 101 and speak SPDY on the connection from then on."""
    response = web.StreamResponse(status=101)
    response.headers["Connection"] = "Upgrade"
    response.headers["Upgrade"] = UPGRADE
    if protocol:
        response.headers[PROTOCOL_HEADER] = protocol
    await response.prepare(request)
    transport = request.transport
    assert transport is not None
    connection = Connection(transport.write, transport.get_write_buffer_size, on_stream)
    request.protocol.set_parser(_Input(connection))  # type: ignore[arg-type]
    return response, connection


async def close(request: web.BaseRequest, connection: Connection, linger: float) -> None:
    """GOAWAY, then wait up to ``linger`` seconds for the client to close the connection
    (closing ours first could reset it before the client has read our last frames)."""
    connection.goaway()
    transport = request.transport
    if transport is not None and not transport.is_closing():
        if transport.can_write_eof():
            transport.write_eof()
        try:
            await asyncio.wait_for(connection.closed.wait(), linger)
        except TimeoutError:
            pass
        transport.close()
