"""SPDY/3.1 framing (the draft-3.1 specification), as much of it as Kubernetes' streams use.

A frame is an 8-byte header and a payload. Control frames start with the control bit,
the version (3) and a type; data frames with a stream id. Header blocks (in SYN_STREAM,
SYN_REPLY and HEADERS) are name/value pairs compressed with zlib, primed with the
specification's dictionary, one compression context per direction for the whole
connection: a block is only readable after every block before it on the same connection.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9

FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02

# RST_STREAM status codes
PROTOCOL_ERROR = 1
CANCEL = 5

MAX_DATA = (1 << 24) - 1
HEADER_SIZE = 8


def _dictionary() -> bytes:
    """The zlib dictionary of the SPDY/3 specification (1423 bytes): header names and
    values as length-prefixed strings, then common status lines, dates and values."""
    # fmt: off
    words = (
        "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
        "accept-encoding", "accept-language", "accept-ranges", "age", "allow",
        "authorization", "cache-control", "connection", "content-base", "content-encoding",
        "content-language", "content-length", "content-location", "content-md5",
        "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
        "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since",
        "last-modified", "location", "max-forwards", "pragma", "proxy-authenticate",
        "proxy-authorization", "range", "referer", "retry-after", "server", "te", "trailer",
        "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
        "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
        "public", "set-cookie", "keep-alive", "origin",
    )
    # fmt: on
    prefixed = b"".join(struct.pack(">I", len(w)) + w.encode() for w in words)
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417"
        "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
        "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
        "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
        "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
        "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
        "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8"
        "charset=iso-8859-1,utf-,*,enq=0."
    )
    return prefixed + tail.encode()


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3.1: the connection cannot go on."""


@dataclass
class Frame:
    """One frame: ``kind`` is a control frame's type, or 0 for a data frame."""

    kind: int
    flags: int = 0
    stream_id: int = 0
    headers: dict[str, list[str]] = field(default_factory=dict)
    data: bytes = b""
    # RST_STREAM and GOAWAY status, PING id, WINDOW_UPDATE delta
    value: int = 0
    associated: int = 0
    priority: int = 0


class HeaderCodec:
    """The two zlib contexts of one connection: ``encode`` for the blocks we send,
    ``decode`` for the peer's."""

    def __init__(self) -> None:
        self._compress = zlib.compressobj(9, zdict=DICTIONARY)
        self._decompress = zlib.decompressobj(zdict=DICTIONARY)

    def encode(self, headers: dict[str, list[str]]) -> bytes:
        block = bytearray(struct.pack(">I", len(headers)))
        for name, values in headers.items():
            value = "\0".join(values).encode()
            raw = name.lower().encode()
            block += struct.pack(">I", len(raw)) + raw + struct.pack(">I", len(value)) + value
        return self._compress.compress(bytes(block)) + self._compress.flush(zlib.Z_SYNC_FLUSH)

    def decode(self, compressed: bytes) -> dict[str, list[str]]:
        try:
            block = self._decompress.decompress(compressed)
        except zlib.error as e:
            raise ProtocolError(f"header block: {e}") from None
        try:
            (count,) = struct.unpack_from(">I", block)
            offset = 4
            headers: dict[str, list[str]] = {}
            for _ in range(count):
                (size,) = struct.unpack_from(">I", block, offset)
                name = block[offset + 4 : offset + 4 + size].decode()
                offset += 4 + size
                (size,) = struct.unpack_from(">I", block, offset)
                value = block[offset + 4 : offset + 4 + size].decode()
                offset += 4 + size
                headers.setdefault(name.lower(), []).extend(value.split("\0"))
        except (struct.error, UnicodeDecodeError) as e:
            raise ProtocolError(f"header block: {e}") from None
        return headers


def _control(kind: int, flags: int, payload: bytes) -> bytes:
    if len(payload) > MAX_DATA:
        raise ValueError("control frame too long")
    return struct.pack(">HHI", 0x8000 | VERSION, kind, flags << 24 | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    if len(data) > MAX_DATA:
        raise ValueError("data frame too long")
    flags = FLAG_FIN if fin else 0
    return struct.pack(">II", stream_id & 0x7FFFFFFF, flags << 24 | len(data)) + data


def syn_stream(
    codec: HeaderCodec, stream_id: int, headers: dict[str, list[str]], fin: bool = False
) -> bytes:
    payload = struct.pack(">IIH", stream_id, 0, 0) + codec.encode(headers)
    return _control(SYN_STREAM, FLAG_FIN if fin else 0, payload)


def syn_reply(
    codec: HeaderCodec, stream_id: int, headers: dict[str, list[str]], fin: bool = False
) -> bytes:
    payload = struct.pack(">I", stream_id) + codec.encode(headers)
    return _control(SYN_REPLY, FLAG_FIN if fin else 0, payload)


def rst_stream(stream_id: int, status: int) -> bytes:
    return _control(RST_STREAM, 0, struct.pack(">II", stream_id, status))


def ping(ping_id: int) -> bytes:
    return _control(PING, 0, struct.pack(">I", ping_id))


def goaway(last_good_stream_id: int, status: int = 0) -> bytes:
    return _control(GOAWAY, 0, struct.pack(">II", last_good_stream_id, status))


class FrameReader:
    """Frames out of a byte stream fed in pieces of any size."""

    def __init__(self, codec: HeaderCodec) -> None:
        self.codec = codec
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer += data
        frames = []
        while len(self.buffer) >= HEADER_SIZE:
            first, second = struct.unpack_from(">II", self.buffer)
            length = second & 0xFFFFFF
            if len(self.buffer) < HEADER_SIZE + length:
                break
            payload = bytes(self.buffer[HEADER_SIZE : HEADER_SIZE + length])
            del self.buffer[: HEADER_SIZE + length]
            flags = second >> 24
            if first & 0x80000000:
                frames.append(self._control(first, flags, payload))
            else:
                frames.append(Frame(0, flags, first & 0x7FFFFFFF, data=payload))
        return frames

    def _control(self, first: int, flags: int, payload: bytes) -> Frame:
        version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
        if version != VERSION:
            raise ProtocolError(f"SPDY version {version}, not {VERSION}")
        try:
            if kind == SYN_STREAM:
                stream_id, associated, priority = struct.unpack_from(">IIB", payload)
                return Frame(
                    kind, flags, stream_id & 0x7FFFFFFF,
                    headers=self.codec.decode(payload[10:]),
                    associated=associated & 0x7FFFFFFF, priority=priority >> 5,
                )  # fmt: skip
            if kind in (SYN_REPLY, HEADERS):
                (stream_id,) = struct.unpack_from(">I", payload)
                headers = self.codec.decode(payload[4:])
                return Frame(kind, flags, stream_id & 0x7FFFFFFF, headers=headers)
            if kind in (RST_STREAM, WINDOW_UPDATE):
                stream_id, value = struct.unpack_from(">II", payload)
                return Frame(kind, flags, stream_id & 0x7FFFFFFF, value=value)
            if kind == PING:
                return Frame(kind, flags, value=struct.unpack_from(">I", payload)[0])
            if kind == GOAWAY:
                last, status = struct.unpack_from(">II", payload)
                return Frame(kind, flags, last & 0x7FFFFFFF, value=status)
        except struct.error:
            raise ProtocolError(f"control frame {kind} too short") from None
        return Frame(kind, flags, data=payload)  # SETTINGS and others: nothing we act on
