"""The channel.k8s.io WebSocket subprotocols: every message starts with the number of
the channel it belongs to. Binary forms (``channel.k8s.io``, ``v4.channel.k8s.io``,
``v5.channel.k8s.io``) carry the number as a byte and the data as is; base64 forms
(``base64.channel.k8s.io``, ``v4.base64.channel.k8s.io``) are text messages, the number
as a digit character and the data in base64. v5 adds a message on channel 255 whose data
is the number of a channel the client will send nothing more on (stdin's end of file)."""

from __future__ import annotations

import base64
import binascii

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiohttp import web

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
V1 = "channel.k8s.io"
V1_BASE64 = "base64.channel.k8s.io"
REMOTE_COMMAND_PROTOCOLS = (V5, V4, V4_BASE64, V1, V1_BASE64)
PORT_FORWARD_PROTOCOLS = (V4, V4_BASE64)


def is_base64(protocol: str | None) -> bool:
    return bool(protocol) and "base64" in str(protocol)


def structured_status(protocol: str | None) -> bool:
    """Whether the error channel carries a JSON metav1.Status (v4 and later)."""
    return bool(protocol) and str(protocol).startswith(("v4.", "v5."))


def encode(protocol: str | None, channel: int, data: bytes) -> bytes | str:
    """A message: bytes to send as a binary message, str as a text one."""
    if is_base64(protocol):
        return chr(ord("0") + channel) + base64.b64encode(data).decode()
    return bytes((channel,)) + data


async def received(ws: web.WebSocketResponse) -> AsyncIterator[tuple[int, bytes]]:
    """(channel, data) of each message the client sends, until it closes (control and
    malformed messages left out)."""
    from aiohttp import WSMsgType

    async for message in ws:
        if message.type in (WSMsgType.BINARY, WSMsgType.TEXT):
            decoded = decode(ws.ws_protocol, message.data)
            if decoded is not None:
                yield decoded


def decode(protocol: str | None, message: bytes | str) -> tuple[int, bytes] | None:
    """(channel, data) of a message; None for an empty or malformed one."""
    if not message:
        return None
    if isinstance(message, str):
        if not is_base64(protocol):
            return None
        try:
            return ord(message[0]) - ord("0"), base64.b64decode(message[1:], validate=True)
        except (binascii.Error, ValueError):
            return None
    return message[0], bytes(message[1:])
