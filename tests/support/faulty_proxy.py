"""A fault-injecting HTTP proxy in front of a test registry (tests/support/registry.py).

``FaultyProxy(registry)`` listens on 127.0.0.1 and a free port and forwards each HTTP/1.1
request to the registry, relaying the answer; client connections are kept alive (one
thread each) and so are the proxy's own connections to the registry. Image references
name the proxy's address instead of the registry's: the repositories are the same.

Every request is logged (:class:`Logged`: method, path, Range header, the status and the
number of body bytes the proxy sent, which fault it met). Faults are set at any time, from
any thread, each for the next ``count`` requests whose path matches a regular expression:

- :meth:`FaultyProxy.fail`: answer a status (503, 500, 429 with ``Retry-After``...) with a
  registry-like JSON error body; the registry never sees the request;
- :meth:`FaultyProxy.cut`: relay the status and headers (the full ``Content-Length``) and
  only part of the body, then shut the client connection down: the client sees EOF before
  ``Content-Length``;
- :meth:`FaultyProxy.corrupt`: flip one byte in the middle of the body;
- :meth:`FaultyProxy.slow`: trickle bodies at a given rate (until :meth:`clear`).

A TLS ClientHello (skiff tries HTTPS first on loopback registries) is answered as a plain
HTTP server does: ``400 Bad Request`` and the connection closed. It is not logged.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 64 << 10

# Hop-by-hop headers (RFC 9110 7.6.1): not forwarded either way.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}

ERROR_CODES = {429: "TOOMANYREQUESTS", 500: "UNKNOWN", 502: "UNAVAILABLE", 503: "UNAVAILABLE"}


@dataclass
class Logged:
    """One request the proxy received and what it answered."""

    method: str
    path: str
    range: str | None  # the Range header, as sent
    start: float  # time.monotonic() when the request was read
    connection: int = 0  # the client connection's number: 1, 2... as they were accepted
    end: float = 0.0  # when the answer was complete (or cut); 0 while it is going on
    status: int = 0  # the status the client was sent (0: none yet)
    length: int | None = None  # the Content-Length the client was sent
    sent: int = 0  # body bytes the client was sent
    fault: str = ""  # "", "status", "cut", "corrupt" (and "slow" bodies)

    @property
    def range_start(self) -> int | None:
        """N of ``Range: bytes=N-...``; None without a Range header."""
        if self.range is None:
            return None
        match = re.fullmatch(r"\s*bytes\s*=\s*(\d+)\s*-.*", self.range)
        return int(match[1]) if match else None


@dataclass
class _Rule:
    kind: str  # "status", "cut", "corrupt", "slow"
    pattern: re.Pattern[str]
    methods: tuple[str, ...] | None  # None: any method
    remaining: int
    status: int = 0
    retry_after: str | None = None
    at: int = 0
    absolute: bool = False
    rate: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and (self.methods is None or method in self.methods)
            and self.pattern.search(path) is not None
        )


class _Request:
    def __init__(
        self, method: str, target: str, version: str, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in (self.header("connection") or "").split(",")}
        if self.version == "HTTP/1.1":
            return "close" not in tokens
        return "keep-alive" in tokens


class _BadRequest(Exception):
    pass


class FaultyProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` (a Registry, or ``host:port``)."""

    def __init__(self, upstream: object) -> None:
        address = upstream if isinstance(upstream, str) else upstream.address  # type: ignore[attr-defined]
        host, _, port = address.rpartition(":")
        self.upstream = (host, int(port))
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._log: list[Logged] = []
        self._clients: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        self._accepted = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._acceptor = threading.Thread(target=self._accept, name="faulty-proxy", daemon=True)
        self._acceptor.start()

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``: the proxy's part of an image reference."""
        return f"127.0.0.1:{self.port}"

    # --- faults --------------------------------------------------------------------------

    def fail(
        self,
        status: int,
        count: int = 1,
        path: str = r"/blobs/sha256:",
        retry_after: str | int | None = None,
        methods: tuple[str, ...] | None = None,
    ) -> None:
        """Answer ``status`` (a JSON error body; ``Retry-After`` if given) to the next
        ``count`` requests whose path matches ``path`` (of ``methods``, or any)."""
        self._add(
            _Rule(
                "status",
                re.compile(path),
                methods,
                count,
                status=status,
                retry_after=None if retry_after is None else str(retry_after),
            )
        )

    def cut(
        self, at: int, count: int = 1, path: str = r"/blobs/sha256:", absolute: bool = False
    ) -> None:
        """For the next ``count`` GETs whose path matches: relay the headers and the first
        ``at`` bytes of the body, then shut the client connection down.

        With ``absolute``, ``at`` is an offset in the whole blob: an answer to a Range
        request starting at S (a 206, per its Content-Range) is cut after ``at - S`` bytes
        (none if S >= at), so that no download gets past ``at``. A body no longer than the
        bytes to relay is not cut (but the GET counts)."""
        self._add(_Rule("cut", re.compile(path), ("GET",), count, at=at, absolute=absolute))

    def corrupt(self, count: int = 1, path: str = r"/blobs/sha256:") -> None:
        """Flip one byte (XOR 0xff) in the middle of the body of the next ``count`` GETs
        whose path matches."""
        self._add(_Rule("corrupt", re.compile(path), ("GET",), count))

    def slow(self, rate: float, path: str = r"/blobs/sha256:") -> None:
        """Relay the bodies of GETs whose path matches at about ``rate`` bytes a second,
        until :meth:`clear`."""
        self._add(_Rule("slow", re.compile(path), ("GET",), 1 << 62, rate=rate))

    def clear(self) -> None:
        """No more faults (answers in progress keep theirs)."""
        with self._lock:
            self._rules.clear()

    def _add(self, rule: _Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def _take(self, method: str, path: str) -> dict[str, _Rule]:
        """The faults of one request, by kind (the first matching rule of each); each
        counted one down."""
        taken: dict[str, _Rule] = {}
        with self._lock:
            for rule in self._rules:
                if rule.kind not in taken and rule.matches(method, path):
                    rule.remaining -= 1
                    taken[rule.kind] = rule
        return taken

    # --- the log -------------------------------------------------------------------------

    def requests(self, path: str | None = None, method: str | None = None) -> list[Logged]:
        """The requests so far, in the order they came (a copy), those whose path matches
        ``path`` and whose method is ``method`` if given."""
        with self._lock:
            return [
                Logged(**vars(entry))
                for entry in self._log
                if (path is None or re.search(path, entry.path))
                and (method is None or entry.method == method)
            ]

    def sent(self, path: str) -> int:
        """Body bytes sent so far in answers to requests whose path matches."""
        with self._lock:
            return sum(e.sent for e in self._log if re.search(path, e.path))

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    def _record(self, request: _Request, connection: int) -> Logged:
        entry = Logged(
            request.method,
            request.target,
            request.header("range"),
            time.monotonic(),
            connection,
        )
        with self._lock:
            self._log.append(entry)
        return entry

    def _update(self, entry: Logged, **changes: object) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(entry, key, value)

    # --- serving -------------------------------------------------------------------------

    def close(self) -> None:
        self._closed.set()
        self._acceptor.join(5)
        self._listener.close()
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            _shut(client)
        for thread in list(self._threads):
            thread.join(5)

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._clients.add(client)
            self._accepted += 1
            thread = threading.Thread(
                target=self._serve, args=(client, self._accepted), daemon=True
            )
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _serve(self, client: socket.socket, number: int) -> None:
        upstream: list[http.client.HTTPConnection | None] = [None]
        rfile = client.makefile("rb")
        try:
            if rfile.peek(1)[:1] == b"\x16":  # a TLS handshake record: not HTTP
                client.sendall(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                return
            while not self._closed.is_set():
                try:
                    request = _read_request(rfile)
                except _BadRequest:
                    client.sendall(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                        b"Connection: close\r\n\r\n"
                    )
                    return
                if request is None:
                    return
                if not self._handle(client, number, request, upstream):
                    return
        except OSError:
            pass  # the client went away (killed, or the proxy closes)
        finally:
            connection = upstream[0]
            if connection is not None:
                connection.close()
            rfile.close()
            _shut(client)
            with self._lock:
                self._clients.discard(client)

    def _handle(
        self,
        client: socket.socket,
        number: int,
        request: _Request,
        upstream: list[http.client.HTTPConnection | None],
    ) -> bool:
        """Answer one request; False if the client connection is to be closed."""
        entry = self._record(request, number)
        faults = self._take(request.method, request.target)
        keep = request.keep_alive
        if "status" in faults:
            rule = faults["status"]
            self._answer_error(client, entry, rule.status, rule.retry_after, keep)
            return keep
        try:
            response = self._forward(request, upstream)
        except (OSError, http.client.HTTPException) as e:
            body = json.dumps({"errors": [{"code": "UNAVAILABLE", "message": f"proxy: {e}"}]})
            self._send_head(client, 502, "Bad Gateway", _json_headers(), len(body), keep=False)
            client.sendall(body.encode())
            self._update(entry, status=502, sent=len(body), end=time.monotonic())
            return False
        try:
            return self._relay(client, request, response, entry, faults, keep, upstream)
        except BaseException:
            # the answer was not read to its end: that connection cannot be reused
            connection = upstream[0]
            if connection is not None:
                connection.close()
            upstream[0] = None
            raise

    def _forward(
        self, request: _Request, upstream: list[http.client.HTTPConnection | None]
    ) -> http.client.HTTPResponse:
        for attempt in (1, 2):  # an idle connection the registry closed is reopened once
            connection = upstream[0]
            fresh = connection is None
            if connection is None:
                connection = http.client.HTTPConnection(*self.upstream, timeout=60)
                upstream[0] = connection
            try:
                connection.putrequest(
                    request.method, request.target, skip_host=True, skip_accept_encoding=True
                )
                for name, value in request.headers:
                    if name.lower() not in HOP_BY_HOP:
                        connection.putheader(name, value)
                connection.endheaders(request.body or None)
                return connection.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                upstream[0] = None
                if fresh or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _relay(
        self,
        client: socket.socket,
        request: _Request,
        response: http.client.HTTPResponse,
        entry: Logged,
        faults: dict[str, _Rule],
        keep: bool,
        upstream: list[http.client.HTTPConnection | None],
    ) -> bool:
        headers = [
            (name, value)
            for name, value in response.getheaders()
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length"
        ]
        bodiless = request.method == "HEAD" or response.status in (204, 304)
        if bodiless:
            declared = response.getheader("Content-Length")
            response.read()
            length = int(declared) if declared is not None and declared.isdigit() else None
            self._send_head(client, response.status, response.reason, headers, length, keep)
            self._update(entry, status=response.status, length=length, end=time.monotonic())
            if response.will_close:
                upstream[0] = None
            return keep
        length = response.length
        prefetched = None
        if length is None:  # chunked or until EOF: relayed with a Content-Length
            prefetched = response.read()
            length = len(prefetched)

        cut_after = None
        if "cut" in faults:
            rule = faults["cut"]
            cut_after = rule.at
            if rule.absolute:
                cut_after = max(0, rule.at - _range_start(response.getheader("Content-Range")))
            if cut_after >= length:
                cut_after = None
        flip_at = length // 2 if "corrupt" in faults and length > 0 else None
        rate = faults["slow"].rate if "slow" in faults else 0.0
        fault = "cut" if cut_after is not None else "corrupt" if flip_at is not None else ""
        if rate and not fault:
            fault = "slow"
        chunk_size = min(CHUNK, max(1024, int(rate / 20))) if rate else CHUNK

        self._send_head(client, response.status, response.reason, headers, length, keep)
        self._update(entry, status=response.status, length=length, fault=fault)
        position = 0
        began = time.monotonic()
        while position < length:
            want = min(chunk_size, length - position)
            if cut_after is not None:
                want = min(want, cut_after - position)
                if want <= 0:
                    break
            if prefetched is not None:
                data = prefetched[position : position + want]
            else:
                data = response.read(want)
                if not data:
                    break  # the registry's answer ended early: so does the client's
            if flip_at is not None and position <= flip_at < position + len(data):
                changed = bytearray(data)
                changed[flip_at - position] ^= 0xFF
                data = bytes(changed)
            client.sendall(data)
            position += len(data)
            self._update(entry, sent=position)
            if rate:
                delay = began + position / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        if cut_after is not None or position < length:
            # EOF before Content-Length: shut down, so that the client sees it at once
            self._update(entry, end=time.monotonic())
            connection = upstream[0]
            if connection is not None:
                connection.close()
            upstream[0] = None
            _shut(client)
            return False
        self._update(entry, end=time.monotonic())
        if response.will_close:
            upstream[0] = None
        return keep

    def _answer_error(
        self, client: socket.socket, entry: Logged, status: int, retry_after: str | None, keep: bool
    ) -> None:
        reason = http.client.responses.get(status, "Error")
        code = ERROR_CODES.get(status, "UNKNOWN")
        body = json.dumps(
            {"errors": [{"code": code, "message": f"injected {status} {reason}", "detail": None}]}
        ).encode()
        headers = _json_headers()
        if retry_after is not None:
            headers.append(("Retry-After", retry_after))
        self._send_head(client, status, reason, headers, len(body), keep)
        client.sendall(body)
        self._update(
            entry,
            status=status,
            length=len(body),
            sent=len(body),
            fault="status",
            end=time.monotonic(),
        )

    @staticmethod
    def _send_head(
        client: socket.socket,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        length: int | None,
        keep: bool,
    ) -> None:
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if length is not None:
            lines.append(f"Content-Length: {length}")
        if not keep:
            lines.append("Connection: close")
        client.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


def _json_headers() -> list[tuple[str, str]]:
    return [
        ("Content-Type", "application/json; charset=utf-8"),
        ("Docker-Distribution-Api-Version", "registry/2.0"),
    ]


def _range_start(content_range: str | None) -> int:
    """S of ``Content-Range: bytes S-E/T``; 0 without one."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", content_range or "")
    return int(match[1]) if match else 0


def _read_request(rfile: BinaryIO) -> _Request | None:
    """The next request on a connection; None at EOF before one."""
    line = rfile.readline(65537)
    while line in (b"\r\n", b"\n"):  # RFC 9112 2.2: empty lines before a request
        line = rfile.readline(65537)
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise _BadRequest(line)
    method, target, version = parts
    headers: list[tuple[str, str]] = []
    while True:
        line = rfile.readline(65537)
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise _BadRequest(line)
        headers.append((name.strip(), value.strip()))
    request = _Request(method, target, version, headers, b"")
    if (request.header("transfer-encoding") or "").lower() not in ("", "identity"):
        raise _BadRequest("chunked request bodies are not supported")
    length = request.header("content-length")
    if length:
        request.body = rfile.read(int(length))
    return request


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
