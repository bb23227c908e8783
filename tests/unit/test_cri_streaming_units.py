"""The streaming server's pieces without a network: SPDY/3.1 frames and header blocks
(checked against frames built by hand from the specification and zlib used directly),
the server side of a SPDY connection, the channel.k8s.io WebSocket encoding, resize
events, error-stream statuses, one-time tokens and the protocol negotiation."""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
import zlib
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from skiff.cri.streaming import channels, spdy, status, upgrade
from skiff.cri.streaming.resize import ResizeDecoder
from skiff.cri.streaming.session import Connection, Stream
from skiff.cri.streaming.tokens import RequestCache

# --- SPDY framing ---------------------------------------------------------------------------


def test_dictionary_is_the_specifications() -> None:
    """1423 bytes, the digest of moby/spdystream's headerDictionary (Go's spdy package)."""
    assert len(spdy.DICTIONARY) == 1423
    digest = hashlib.sha256(spdy.DICTIONARY).hexdigest()
    assert digest == "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02"
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def _block(pairs: list[tuple[bytes, bytes]]) -> bytes:
    raw = struct.pack(">I", len(pairs))
    for name, value in pairs:
        raw += struct.pack(">I", len(name)) + name + struct.pack(">I", len(value)) + value
    return raw


def _hand_made_syn_stream(compressor: Any, stream_id: int, pairs: list) -> bytes:
    """SYN_STREAM as the specification lays it out, compressed with zlib directly."""
    block = compressor.compress(_block(pairs)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    payload = struct.pack(">IIBB", stream_id, 0, 0, 0) + block
    return struct.pack(">HHI", 0x8003, 1, len(payload)) + payload


def test_syn_streams_of_a_peer_are_read_byte_by_byte() -> None:
    compressor = zlib.compressobj(zdict=spdy.DICTIONARY)
    wire = _hand_made_syn_stream(compressor, 1, [(b"streamtype", b"error")])
    wire += _hand_made_syn_stream(compressor, 3, [(b"streamtype", b"stdout"), (b"x", b"a\0b")])
    reader = spdy.FrameReader(spdy.HeaderCodec())
    frames = [frame for byte in wire for frame in reader.feed(bytes((byte,)))]
    assert [(f.kind, f.stream_id) for f in frames] == [(spdy.SYN_STREAM, 1), (spdy.SYN_STREAM, 3)]
    assert frames[0].headers == {"streamtype": ["error"]}
    assert frames[1].headers == {"streamtype": ["stdout"], "x": ["a", "b"]}


def test_header_blocks_share_one_context_per_direction() -> None:
    """The second block is only readable after the first: one zlib stream each way."""
    codec = spdy.HeaderCodec()
    first = spdy.syn_reply(codec, 1, {"Port": ["80"]})
    second = spdy.syn_reply(codec, 3, {"port": ["80"]})
    decompressor = zlib.decompressobj(zdict=spdy.DICTIONARY)
    assert decompressor.decompress(first[12:]) == _block([(b"port", b"80")])
    assert decompressor.decompress(second[12:]) == _block([(b"port", b"80")])
    assert len(second) < len(first)  # the second refers back to the first
    fresh = spdy.FrameReader(spdy.HeaderCodec())
    with pytest.raises(spdy.ProtocolError):
        fresh.feed(second)


def test_frames_round_trip() -> None:
    codec = spdy.HeaderCodec()
    peer = spdy.FrameReader(spdy.HeaderCodec())
    wire = (
        spdy.syn_stream(codec, 5, {"streamType": ["data"], "port": ["8080"]})
        + spdy.data_frame(5, b"hello")
        + spdy.data_frame(5, b"", fin=True)
        + spdy.rst_stream(7, spdy.CANCEL)
        + spdy.ping(9)
        + spdy.goaway(5)
    )
    frames = peer.feed(wire)
    assert [f.kind for f in frames] == [
        spdy.SYN_STREAM,
        0,
        0,
        spdy.RST_STREAM,
        spdy.PING,
        spdy.GOAWAY,
    ]
    assert frames[0].headers == {"streamtype": ["data"], "port": ["8080"]}
    assert (frames[1].stream_id, frames[1].data, frames[1].flags) == (5, b"hello", 0)
    assert (frames[2].data, frames[2].flags) == (b"", spdy.FLAG_FIN)
    assert (frames[3].stream_id, frames[3].value) == (7, spdy.CANCEL)
    assert frames[4].value == 9
    assert (frames[5].stream_id, frames[5].value) == (5, 0)
    assert spdy.data_frame(5, b"hi") == b"\x00\x00\x00\x05\x00\x00\x00\x02hi"
    assert spdy.rst_stream(1, 5) == bytes.fromhex("80030003000000080000000100000005")


def test_other_versions_and_short_frames_are_protocol_errors() -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameReader(spdy.HeaderCodec()).feed(struct.pack(">HHI", 0x8002, 6, 4) + b"\0" * 4)
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameReader(spdy.HeaderCodec()).feed(struct.pack(">HHI", 0x8003, 3, 2) + b"\0" * 2)


def test_settings_and_window_updates_are_read_and_ignored() -> None:
    settings = struct.pack(">HHI", 0x8003, 4, 12) + struct.pack(">IBBHI", 1, 0, 0, 7, 1000)
    update = struct.pack(">HHI", 0x8003, 9, 8) + struct.pack(">II", 1, 65536)
    frames = spdy.FrameReader(spdy.HeaderCodec()).feed(settings + update)
    assert [f.kind for f in frames] == [spdy.SETTINGS, spdy.WINDOW_UPDATE]
    assert frames[1].value == 65536


# --- the server side of a SPDY connection ----------------------------------------------------


class _Client:
    """The client's side, made of the framing functions: what the server wrote, read."""

    def __init__(self) -> None:
        self.codec = spdy.HeaderCodec()
        self.reader = spdy.FrameReader(spdy.HeaderCodec())
        self.sent = bytearray()

    def frames(self) -> list[spdy.Frame]:
        frames = self.reader.feed(bytes(self.sent))
        self.sent.clear()
        return frames


def test_connection_replies_routes_and_closes_streams() -> None:
    async def scenario() -> None:
        client = _Client()
        opened: list[Stream] = []
        connection = Connection(client.sent.extend, lambda: 0, opened.append)
        connection.feed(spdy.syn_stream(client.codec, 1, {"streamType": ["stdin"]}))
        [reply] = client.frames()
        assert (reply.kind, reply.stream_id, reply.headers) == (spdy.SYN_REPLY, 1, {})
        [stream] = opened
        assert stream.header("streamType") == "stdin"
        connection.feed(spdy.data_frame(1, b"abc") + spdy.data_frame(1, b"", fin=True))
        assert await stream.read() == b"abc"
        assert await stream.read() == b""
        await stream.write(b"out")
        stream.close()
        data, fin = client.frames()
        assert (data.kind, data.data, fin.flags) == (0, b"out", spdy.FLAG_FIN)
        assert connection.streams == {}  # both sides done: forgotten

        connection.feed(spdy.ping(7) + spdy.ping(8))  # the client's odd id is echoed
        assert [(f.kind, f.value) for f in client.frames()] == [(spdy.PING, 7)]
        connection.feed(spdy.syn_stream(client.codec, 1, {}))  # not a new id: refused
        connection.feed(spdy.syn_stream(client.codec, 4, {}))  # even: the server's kind
        assert [(f.kind, f.value) for f in client.frames()] == [
            (spdy.RST_STREAM, spdy.PROTOCOL_ERROR), (spdy.RST_STREAM, spdy.PROTOCOL_ERROR)
        ]  # fmt: skip

        connection.feed(spdy.syn_stream(client.codec, 5, {}))
        client.frames()
        connection.feed(spdy.rst_stream(5, spdy.CANCEL))
        assert await opened[-1].read() == b""
        connection.goaway()
        [goaway] = client.frames()
        assert (goaway.kind, goaway.stream_id) == (spdy.GOAWAY, 5)
        connection.feed(struct.pack(">HHI", 0x8002, spdy.PING, 4) + b"\0" * 4)  # SPDY/2
        assert connection.closed.is_set()

    asyncio.run(scenario())


# --- WebSocket channels, resize, status, tokens, negotiation -----------------------------------


def test_channel_messages() -> None:
    assert channels.encode(channels.V4, channels.STDOUT, b"hi") == b"\x01hi"
    assert channels.encode(channels.V4_BASE64, channels.STDERR, b"hi") == "2aGk="
    assert channels.decode(channels.V5, b"\x00abc") == (0, b"abc")
    assert channels.decode(channels.V5, b"\xff\x00") == (channels.CLOSE, b"\x00")
    assert channels.decode(channels.V1_BASE64, "0Zm9vCg==") == (0, b"foo\n")
    assert channels.decode(channels.V1_BASE64, "0!!!") is None
    assert channels.decode(channels.V4, "0text") is None  # text on a binary protocol
    assert channels.decode(channels.V4, b"") is None
    assert channels.structured_status(channels.V5)
    assert not channels.structured_status(channels.V1)
    assert not channels.structured_status(None)


def test_resize_events_split_anywhere() -> None:
    decoder = ResizeDecoder()
    assert decoder.feed(b'{"Width":80,') == []
    assert decoder.feed(b'"Height":24}{"Width":1') == [(24, 80)]
    assert decoder.feed(b'00,"Height":50}\n{"Width":"x","Height":1}') == [(50, 100)]
    assert decoder.feed(b'garbage{"Width":2,"Height":3}') == [(3, 2)]


def test_error_stream_statuses() -> None:
    failed = status.exit_code(["sh", "-c", "exit 3"], 3)
    assert json.loads(status.encode(failed, structured=True)) == {
        "metadata": {},
        "status": "Failure",
        "message": "command terminated with non-zero exit code: error executing command "
        "[sh -c exit 3], exit code 3",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
    }
    assert status.encode(status.success(), structured=True) == b'{"metadata":{},"status":"Success"}'
    assert status.encode(status.success(), structured=False) == b""
    assert status.encode(status.internal_error("boom"), structured=False) == (
        b"Internal error occurred: boom"
    )


def test_tokens_are_one_time_and_expire() -> None:
    now = [100.0]
    cache = RequestCache(ttl=60, clock=lambda: now[0])
    token = cache.insert("exec", "request")
    assert cache.consume("attach", token) is None  # another kind: still there
    assert cache.consume("exec", token) == "request"
    assert cache.consume("exec", token) is None
    late = cache.insert("exec", "late")
    now[0] += 61
    assert cache.consume("exec", late) is None
    assert cache.consume("exec", "no-such-token") is None
    assert len({cache.insert("exec", i) for i in range(100)}) == 100


def _request(*versions: str) -> web.Request:
    headers = CIMultiDict([(upgrade.PROTOCOL_HEADER, v) for v in versions])
    return make_mocked_request("POST", "/exec/x", headers=headers)


def test_stream_protocol_negotiation() -> None:
    accepted = ("v4.channel.k8s.io", "v3.channel.k8s.io")
    assert upgrade.negotiate(_request("v4.channel.k8s.io", "v3.channel.k8s.io"), accepted) == (
        "v4.channel.k8s.io"
    )
    assert upgrade.negotiate(_request("v5.channel.k8s.io, v3.channel.k8s.io"), accepted) == (
        "v3.channel.k8s.io"
    )
    assert upgrade.negotiate(_request(), accepted) == ""
    with pytest.raises(web.HTTPForbidden) as refused:
        upgrade.negotiate(_request("v9"), accepted)
    assert refused.value.headers["X-Accepted-Stream-Protocol-Versions"] == ", ".join(accepted)


# --- the RPCs' glue ------------------------------------------------------------------------------


class _Server:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def _url(self, kind: str) -> str:
        if self.error is not None:
            raise self.error
        return f"http://127.0.0.1:1/{kind}/token"

    def exec_url(self, request: Any) -> str:
        return self._url("exec")

    def attach_url(self, request: Any) -> str:
        return self._url("attach")

    def port_forward_url(self, request: Any) -> str:
        return self._url("portforward")


def test_rpc_answers_and_errors() -> None:
    import skiff.cri.proto.api_pb2 as api_pb2
    from skiff.cri.streaming import rpc
    from skiff.errors import Conflict, InvalidArgument, NotFound

    exec_request = api_pb2.ExecRequest(container_id="c", cmd=["true"], stdout=True)
    attach_request = api_pb2.AttachRequest(container_id="c", stdout=True)
    forward_request = api_pb2.PortForwardRequest(pod_sandbox_id="p", port=[80])
    server: Any = _Server()
    assert rpc.exec_response(server, exec_request).url.endswith("/exec/token")
    assert rpc.attach_response(server, attach_request).url.endswith("/attach/token")
    assert rpc.port_forward_response(server, forward_request).url.endswith("/portforward/token")
    for error in (NotFound("no such container"), Conflict("not running")):
        failing: Any = _Server(error)
        with pytest.raises(type(error)):
            rpc.exec_response(failing, exec_request)
    with pytest.raises(InvalidArgument):
        rpc.exec_response(server, api_pb2.ExecRequest(container_id="c", cmd=["true"]))
    with pytest.raises(InvalidArgument):
        rpc.exec_response(server, api_pb2.ExecRequest(container_id="c", stdout=True))
    with pytest.raises(InvalidArgument):
        rpc.attach_response(server, api_pb2.AttachRequest(container_id="c"))
