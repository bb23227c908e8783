"""Bad input against ``skiff serve`` (issue 7, Acceptance "Bad input"), in raw HTTP on its
unix socket: malformed JSON, wrong types, unknown fields, unknown endpoints and versions,
malformed HTTP, path traversal in archive paths, an oversized body, clients that stall
mid-request or stop reading, clients that leave in the middle of a stream.

What every test holds the server to: bad input gets a 4xx with Docker's JSON error
(``{"message": ...}``; a request aiohttp cannot parse as HTTP gets its plain 400), never
a 500, never a hang; and the server goes on serving everybody else.

Containers are made with skiff's own CLI (``skiff run -d``) over the server's store.
Every test runs its own ``skiff serve`` (``conftest.skiff_api``), stopped at the end,
after which nothing of the test's containers may be left (``no_leaks``).
"""

from __future__ import annotations

import gzip
import http.client
import io
import json
import os
import socket
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from skiff.api.http import BODY_LIMIT, WORKERS
from tests.interop.conftest import SkiffApi

PROMPT = 2.0  # seconds: an answer "promptly"
PATIENCE = 10.0  # seconds: longer than this is a hang
QUIET = 3.0  # seconds: the time a server may take to notice that a client left
PAGE_NOT_FOUND = "page not found"


@pytest.fixture(autouse=True)
def _no_leaks(no_leaks: None) -> None:
    """As tests/integration: nothing of a test's containers outlives it."""


# --- helpers ----------------------------------------------------------------------------


class Answer:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def message(self) -> str | None:
        """Docker's error message: a JSON object whose ``message`` is a non-empty string."""
        if "application/json" not in self.headers.get("Content-Type", ""):
            return None
        try:
            document = self.json()
        except ValueError:
            return None
        if not isinstance(document, dict) or not isinstance(document.get("message"), str):
            return None
        return document["message"] or None

    def __repr__(self) -> str:
        body = self.body if len(self.body) < 400 else self.body[:400] + b"..."
        return f"{self.status} {body!r}"


def connect(api: SkiffApi, timeout: float = PATIENCE) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(str(api.socket))
    return sock


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, api: SkiffApi, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.api = api

    def connect(self) -> None:
        self.sock = connect(self.api, self.timeout)


def call(
    api: SkiffApi,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = PATIENCE,
) -> Answer:
    """One request; ``body`` as bytes is sent as it is (JSON's Content-Type unless
    ``headers`` say otherwise), anything else but None as JSON."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    connection = _UnixConnection(api, timeout)
    try:
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def read_answer(sock: socket.socket, method: str = "GET") -> Answer:
    response = http.client.HTTPResponse(sock, method=method)
    response.begin()
    return Answer(response.status, response.headers, response.read())


def raw(api: SkiffApi, data: bytes) -> Answer:
    """Bytes as they are on a connection of their own; the answer. A server may answer
    and close before it has read everything (a request line too long): the answer it
    wrote is still there to read after the broken pipe, as Go's client reads it."""
    with connect(api) as sock:
        try:
            sock.sendall(data)
        except BrokenPipeError:
            pass
        return read_answer(sock)


def is_docker_error(answer: Answer, *statuses: int) -> bool:
    return answer.status in statuses and answer.message() is not None


def client_errors() -> tuple[int, ...]:
    return tuple(range(400, 500))


def head(method: str, path: str, *lines: str) -> bytes:
    """A request's head: its line, Host, ``lines``, the empty line."""
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: skiff", *lines, "", ""]).encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def assert_serving(api: SkiffApi) -> None:
    """/_ping and GET /containers/json answer, and promptly."""
    started = time.monotonic()
    ping = call(api, "GET", "/_ping")
    assert (ping.status, ping.body) == (200, b"OK"), ping
    listed = call(api, "GET", "/containers/json?all=1")
    assert listed.status == 200 and isinstance(listed.json(), list), listed
    took = time.monotonic() - started
    assert took < PROMPT, f"/_ping and /containers/json took {took:.1f} s"


def counts(api: SkiffApi) -> dict[str, int]:
    """How many containers, networks and volumes the store has."""
    return {
        "containers": len(call(api, "GET", "/containers/json?all=1").json()),
        "networks": len(call(api, "GET", "/networks").json()),
        "volumes": len(call(api, "GET", "/volumes").json()["Volumes"] or []),
    }


def run(api: SkiffApi, *args: str) -> str:
    """``skiff run -d ARGS`` on the server's store: the container's ID."""
    return api.skiff.ok("run", "-d", *args).strip()


def threads(api: SkiffApi) -> int:
    assert api.process is not None
    with open(f"/proc/{api.process.pid}/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads: line")


def receive_until(sock: socket.socket, wanted: bytes, what: str) -> bytes:
    """What arrives on ``sock`` up to ``wanted``; a hang or an early close fails."""
    data = b""
    while wanted not in data:
        try:
            got = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"{what}: no {wanted!r} in {PATIENCE} s: {data!r}") from None
        if not got:
            raise AssertionError(f"{what}: the server closed the connection: {data!r}")
        data += got
    return data


def unanswered(sock: socket.socket) -> bytes | None:
    """None if nothing came on ``sock`` (the server still waits for the request), else
    what came (b"" if the server closed the connection)."""
    sock.settimeout(0.3)
    try:
        return sock.recv(65536)
    except TimeoutError:
        return None
    finally:
        sock.settimeout(PATIENCE)


def concurrently(count: int, work: Callable[[int], None]) -> list[str]:
    """``work(i)`` in ``count`` threads started together; the failures."""
    failures: list[str] = []
    barrier = threading.Barrier(count)

    def one(i: int) -> None:
        try:
            barrier.wait(PATIENCE)
            work(i)
        except Exception as e:  # reported, not raised: the other threads go on
            failures.append(f"client {i}: {type(e).__name__}: {e}")

    workers = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(PATIENCE * 3)
    return failures + [f"client {i} still waiting" for i, w in enumerate(workers) if w.is_alive()]


def prompt_clients(api: SkiffApi, count: int = 20) -> list[str]:
    """``count`` clients at once, each GET /containers/json then /_ping: the requests
    that failed or took longer than PROMPT."""
    slow: list[str] = []

    def client(i: int) -> None:
        for path in ("/containers/json", "/_ping"):
            started = time.monotonic()
            try:
                answer = call(api, "GET", path)
            except TimeoutError:
                slow.append(f"client {i}: GET {path}: no answer in {PATIENCE} s")
                return
            took = time.monotonic() - started
            if answer.status != 200 or took >= PROMPT:
                slow.append(f"client {i}: GET {path}: {answer} in {took:.1f} s")

    return concurrently(count, client) + slow


def tar_of(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def member(name: str, data: bytes = b"evil\n") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
    return info, data


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, target, 0o777, 1_700_000_000
    return info, None


def directory(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
    return info, None


def files_in(tar: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        found = {}
        for info in archive.getmembers():
            if info.isfile():
                extracted = archive.extractfile(info)
                assert extracted is not None
                found[info.name] = extracted.read()
        return found


# --- malformed JSON, wrong types, unknown fields ----------------------------------------------


MALFORMED = {
    "truncated": b'{"Image": "busybox", "Cmd": ["sh", "-c"',
    "an unclosed object": b"{",
    "not JSON": b"this is not JSON",
    "bytes that are not UTF-8": b"\x80\x81\x82\xff",
    "arrays 100000 deep": b"[" * 100_000 + b"]" * 100_000,
    "objects 100000 deep": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "an empty array": b"[]",
    "an array of the object": b'[{"Image": "busybox", "Cmd": ["true"], "Name": "x1"}]',
    "a number": b"42",
    "a string": b'"busybox"',
    "a boolean": b"true",
}


def test_malformed_json_is_a_400_and_creates_nothing(skiff_api: SkiffApi) -> None:
    api = skiff_api
    cid = run(api, "busybox", "sleep", "300")
    before = counts(api)
    problems = []
    for path in ("/containers/create", f"/containers/{cid}/exec", "/networks/create",
                 "/volumes/create"):  # fmt: skip
        for name, body in MALFORMED.items():
            answer = call(api, "POST", path, body)
            if not is_docker_error(answer, 400):
                problems.append(f"POST {path} with {name}: {answer}")
        # skiff inflates a Content-Encoding: one that does not inflate is bad input too
        for encoding in ("gzip", "deflate"):
            answer = call(api, "POST", path, b"not compressed", {"Content-Encoding": encoding})
            if not is_docker_error(answer, 400):
                problems.append(f"POST {path}, Content-Encoding: {encoding} of junk: {answer}")
    assert not problems, "\n".join(problems)
    assert counts(api) == before
    assert_serving(api)


def test_wrong_types_are_a_400(skiff_api: SkiffApi) -> None:
    api = skiff_api
    cid = run(api, "busybox", "sleep", "300")
    net = f"bad-input-{uuid.uuid4().hex[:8]}"
    image = {"Image": "busybox"}
    bodies: list[tuple[str, Any]] = [
        ("/containers/create", {**image, "Cmd": 5}),
        ("/containers/create", {**image, "Cmd": [1]}),
        ("/containers/create", {**image, "Env": {"a": 1}}),
        ("/containers/create", {**image, "Env": [1]}),
        ("/containers/create", {"Image": 5}),
        ("/containers/create", {**image, "Tty": "yes"}),
        ("/containers/create", {**image, "Labels": [1]}),
        ("/containers/create", {**image, "ExposedPorts": "80/tcp"}),
        ("/containers/create", {**image, "StopTimeout": "x"}),
        ("/containers/create", {**image, "Healthcheck": {"Test": ["NONE"], "Interval": "1s"}}),
        ("/containers/create", {**image, "HostConfig": 5}),
        ("/containers/create", {**image, "HostConfig": {"Memory": "x"}}),
        ("/containers/create", {**image, "HostConfig": {"Memory": 1.5}}),
        ("/containers/create", {**image, "HostConfig": {"Memory": 1e30}}),
        ("/containers/create", {**image, "HostConfig": {"Binds": "/tmp:/x"}}),
        ("/containers/create", {**image, "HostConfig": {"PortBindings": 5}}),
        ("/containers/create", {**image, "HostConfig": {"RestartPolicy": {"Name": 5}}}),
        ("/containers/create", {**image, "NetworkingConfig": {"EndpointsConfig": 5}}),
        (f"/containers/{cid}/exec", {"Cmd": 5}),
        (f"/containers/{cid}/exec", {"Cmd": [1]}),
        (f"/containers/{cid}/exec", {"Cmd": ["true"], "Env": {"a": 1}}),
        (f"/containers/{cid}/exec", {"Cmd": ["true"], "Tty": "x"}),
        ("/networks/create", {"Name": 5}),
        ("/networks/create", {"Name": net, "IPAM": 5}),
        ("/networks/create", {"Name": net, "IPAM": {"Config": [{"Subnet": 5}]}}),
        ("/networks/create", {"Name": net, "Labels": [1]}),
        ("/networks/create", {"Name": net, "Internal": "x"}),
        ("/volumes/create", {"Name": 5}),
        ("/volumes/create", {"Labels": 5}),
        ("/volumes/create", {"Driver": [1]}),
        ("/volumes/create", {"DriverOpts": {"a": 1}}),
        (f"/containers/{cid}/update", {"Memory": "x"}),
        (f"/containers/{cid}/update", {"RestartPolicy": 5}),
        # Docker decodes the body first: a wrong type never reaches a registry
        ("/auth", {"username": 5, "password": "x", "serveraddress": "127.0.0.1:9"}),
    ]  # fmt: skip
    queries = [
        ("GET", "/containers/json?limit=x"),
        ("GET", "/containers/json?filters=%7B"),
        ("GET", "/containers/json?filters=%5B1%5D"),
        ("GET", '/containers/json?filters={"status":5}'),
        ("GET", f"/containers/{cid}/logs?stdout=1&since=bogus"),
        ("POST", f"/containers/{cid}/stop?t=x"),
        ("POST", f"/containers/{cid}/kill?signal=NOPE"),
        ("POST", f"/containers/{cid}/resize?h=x&w=1"),
        ("POST", f"/containers/{cid}/wait?condition=bogus"),
    ]
    before = counts(api)
    problems = []
    for path, body in bodies:
        answer = call(api, "POST", path, body)
        if not is_docker_error(answer, 400):
            problems.append(f"POST {path} {json.dumps(body)}: {answer}")
    for method, path in queries:
        answer = call(api, method, path)
        if not is_docker_error(answer, 400):
            problems.append(f"{method} {path}: {answer}")
    assert not problems, "\n".join(problems)
    assert counts(api) == before
    assert_serving(api)


def test_nul_bytes_are_a_400(skiff_api: SkiffApi) -> None:
    """A NUL can be neither in a path nor in an argument of a process: Python refuses it
    (ValueError), which must not come out as a 500. (dockerd 20.10 answers these paths
    500 "lstat ...: invalid argument", and creates the exec to fail it at its start;
    skiff's container create already says 400 "invalid command: a NUL character is not
    allowed": the acceptance asks a 4xx of every bad input.)"""
    api = skiff_api
    cid = run(api, "busybox", "sleep", "300")
    tar = tar_of(member("file"))
    requests: list[tuple[str, str, Any]] = [
        ("POST", "/containers/create?name=a%00b", {"Image": "busybox"}),
        ("POST", "/containers/create", {"Image": "busybox", "Cmd": ["a\0b"]}),
        ("POST", f"/containers/{cid}/exec", {"Cmd": ["a\0b"]}),
        ("POST", f"/containers/{cid}/exec", {"Cmd": ["true"], "Env": ["A=\0"]}),
        ("POST", f"/containers/{cid}/exec", {"Cmd": ["true"], "WorkingDir": "/\0"}),
        ("POST", f"/containers/{cid}/exec", {"Cmd": ["true"], "User": "\0"}),
        ("GET", f"/containers/{cid}/top?ps_args=%00", None),
        ("GET", f"/containers/{cid}/archive?path=/etc%00x", None),
        ("HEAD", f"/containers/{cid}/archive?path=/etc%00x", None),
        ("PUT", f"/containers/{cid}/archive?path=/tmp%00x", tar),
    ]
    problems = []
    for method, path, body in requests:
        answer = call(api, method, path, body, {"Content-Type": "application/x-tar"} if
                      method == "PUT" else None)  # fmt: skip
        # HEAD has no body to carry a message: its status says it all
        if not (is_docker_error(answer, 400) or (method == "HEAD" and answer.status == 400)):
            shown = "" if body is None or isinstance(body, bytes) else json.dumps(body)
            problems.append(f"{method} {path} {shown}: {answer}")
    assert not problems, "\n".join(problems)
    assert_serving(api)


def test_unknown_fields_are_ignored(skiff_api: SkiffApi) -> None:
    """As Docker (Go's decoder): a field the API does not know is no error."""
    api = skiff_api
    cid = run(api, "busybox", "sleep", "300")
    net, volume = f"bad-input-{uuid.uuid4().hex[:8]}", f"bad-input-{uuid.uuid4().hex[:8]}"
    # a top-level "Memory" is no field of the CreateRequest that skiff reads as dockerd 28
    # does (dockerd 20.10 still decoded one, a HostConfig field of the old API versions)
    created = call(api, "POST", "/containers/create", {
        "Image": "busybox", "Cmd": ["true"], "Bogus": 1, "Memory": "x",
        "HostConfig": {"Bogus": {"deep": [1]}}, "NetworkingConfig": {"Bogus": 1},
    })  # fmt: skip
    assert created.status == 201, created
    new = created.json()["Id"]
    inspected = call(api, "GET", f"/containers/{new}/json")
    assert inspected.status == 200 and inspected.json()["Config"]["Cmd"] == ["true"], inspected
    assert call(api, "DELETE", f"/containers/{new}").status == 204

    execed = call(api, "POST", f"/containers/{cid}/exec", {"Cmd": ["true"], "Bogus": 1})
    assert execed.status == 201, execed

    network = call(api, "POST", "/networks/create",
                   {"Name": net, "Bogus": 1, "IPAM": {"Bogus": 2}})  # fmt: skip
    assert network.status == 201, network
    assert call(api, "DELETE", f"/networks/{net}").status == 204

    made = call(api, "POST", "/volumes/create", {"Name": volume, "Bogus": 1})
    assert made.status == 201 and made.json()["Name"] == volume, made
    assert call(api, "DELETE", f"/volumes/{volume}").status == 204

    updated = call(api, "POST", f"/containers/{cid}/update", {"Bogus": 1})
    assert updated.status == 200, updated
    assert_serving(api)


# --- endpoints, methods, versions, HTTP itself --------------------------------------------


def test_unknown_endpoints_methods_and_versions(skiff_api: SkiffApi) -> None:
    api = skiff_api
    cid = run(api, "busybox", "sleep", "300")
    problems = []
    for method, path in [
        ("GET", "/nope"),
        ("GET", "/"),
        ("GET", "/v1.45/nope"),
        ("POST", "/v1.45/containers/create/more"),
        ("GET", f"/containers/{cid}/bogus"),
        ("GET", "/containers//json"),
        ("DELETE", "/images"),
    ]:
        answer = call(api, method, path)
        if (answer.status, answer.message()) != (404, PAGE_NOT_FOUND):
            problems.append(f"{method} {path}: {answer}, not 404 {PAGE_NOT_FOUND!r}")
    # dockerd answers a known path with another method 404 "page not found" (gorilla/mux's
    # MethodNotAllowedHandler is its notFoundHandler); skiff's router says 405
    for method, path in [
        ("DELETE", "/_ping"),
        ("POST", "/containers/json"),
        ("GET", "/containers/create"),
        ("PUT", "/version"),
        ("PATCH", f"/containers/{cid}/json"),
        ("GET", f"/containers/{cid}/start"),
    ]:
        answer = call(api, method, path)
        if not (
            is_docker_error(answer, 405)
            or (answer.status, answer.message()) == (404, PAGE_NOT_FOUND)
        ):
            problems.append(f"{method} {path}: {answer}, not 405")
    for path, message in [
        ("/v1.99/_ping", "client version 1.99 is too new. Maximum supported API version is 1.45"),
        ("/v1.46/containers/json",
         "client version 1.46 is too new. Maximum supported API version is 1.45"),
        ("/v1.12/containers/json",
         "client version 1.12 is too old. Minimum supported API version is 1.24, please "
         "upgrade your client to a newer version"),
        ("/v1.23/_ping",
         "client version 1.23 is too old. Minimum supported API version is 1.24, please "
         "upgrade your client to a newer version"),
        ("/v99999999999999999999.0/_ping",
         "client version 99999999999999999999.0 is too new. Maximum supported API version "
         "is 1.45"),
    ]:  # fmt: skip
        answer = call(api, "GET", path)
        if (answer.status, answer.message()) != (400, message):
            problems.append(f"GET {path}: {answer}, not 400 {message!r}")
    for path in ("/v1.24/_ping", "/v1.45/_ping", "/v1.24/containers/json"):
        answer = call(api, "GET", path)
        if answer.status != 200:
            problems.append(f"GET {path}: {answer}")
    assert not problems, "\n".join(problems)
    assert_serving(api)


MALFORMED_HTTP = {
    "garbage": b"\x00\x01\x02garbage\r\n\r\n",
    "a method that is not one": head("BREW", "/_ping"),
    "an HTTP version that is not one": b"GET /_ping HTTP/9.9\r\nHost: skiff\r\n\r\n",
    "a header without a colon": head("GET", "/_ping", "no colon here"),
    "a negative Content-Length": head("POST", "/containers/create", "Content-Length: -5"),
    "a Content-Length that is no number": head("POST", "/containers/create", "Content-Length: abc"),
    "Content-Length and chunked both": head(
        "POST", "/containers/create", "Content-Length: 5", "Transfer-Encoding: chunked"
    )
    + b"0\r\n\r\n",
    "a chunk size that is no number": head(
        "POST", "/containers/create", "Transfer-Encoding: chunked"
    )
    + b"zz\r\nabc\r\n0\r\n\r\n",
    "a path of 80000 bytes": head("GET", "/a" * 40_000),
    "a header of 100000 bytes": head("GET", "/_ping", "X-Big: " + "a" * 100_000),
    "10000 headers": head("GET", "/_ping", *(f"X-{i}: a" for i in range(10_000))),
}


def test_malformed_http_is_a_4xx(skiff_api: SkiffApi) -> None:
    """Requests that are not HTTP: a 4xx (aiohttp's own plain-text 400 before any handler
    sees them: Go's net/http answers so too), and the server goes on."""
    api = skiff_api
    problems = []
    for name, data in MALFORMED_HTTP.items():
        try:
            answer = raw(api, data)
        except (OSError, http.client.HTTPException) as e:
            problems.append(f"{name}: {type(e).__name__}: {e}")
            continue
        if answer.status not in client_errors():
            problems.append(f"{name}: {answer}")
    assert not problems, "\n".join(problems)
    assert_serving(api)


# --- archive paths --------------------------------------------------------------------


def test_archive_paths_do_not_reach_the_host(skiff_api: SkiffApi) -> None:
    """PUT and GET /containers/{id}/archive with paths and tar members that climb out of
    the container (``..``, absolute names, symbolic and hard links pointing out): what is
    written stays in the container's root filesystem, what is read comes from it."""
    api = skiff_api
    cid = run(api, "busybox", "sleep", "300")
    token = uuid.uuid4().hex[:12]
    shadow = f"the container's own shadow {token}\n".encode()
    tar_type = {"Content-Type": "application/x-tar"}
    put = call(api, "PUT", f"/containers/{cid}/archive?path=/etc", tar_of(member("shadow", shadow)),
               tar_type)  # fmt: skip
    assert put.status == 200, put
    host_shadow = Path("/etc/shadow").read_bytes()
    host_shadow_links = os.stat("/etc/shadow").st_nlink
    up = "../" * 24

    def evil(tag: str) -> str:
        return f"evil-{token}-{tag}"

    puts = [
        ("a member in ../../../tmp", "/", [member(f"../../../tmp/{evil('a')}")]),
        ("a member far above the root", "/", [member(f"{up}tmp/{evil('b')}")]),
        ("an absolute member", "/", [member(f"/etc/{evil('c')}")]),
        ("a file through a symlink to /tmp", "/",
         [link(f"tmplink-{token}", "/tmp"), member(f"tmplink-{token}/{evil('d')}")]),
        ("a file through a relative symlink above the root", "/",
         [link(f"uplink-{token}", f"{up}tmp"), member(f"uplink-{token}/{evil('e')}")]),
        ("a file through a symlink to /", "/",
         [link(f"rootlink-{token}", "/"), member(f"rootlink-{token}/etc/{evil('f')}")]),
        ("a directory through a symlink to /etc", "/",
         [link(f"etclink-{token}", "/etc"), directory(f"etclink-{token}/{evil('g')}")]),
        ("the path ../../../../tmp", "/../../../../tmp", [member(evil("h"))]),
        ("the path of a symlink to /tmp", f"/tmplink-{token}", [member(evil("i"))]),
        ("the path of a symlink above the root", f"/uplink-{token}/", [member(evil("j"))]),
        ("a hard link to /etc/shadow", "/",
         [link(f"hard-{token}", "/etc/shadow", tarfile.LNKTYPE)]),
        ("a hard link above the root", "/",
         [link(f"hard2-{token}", f"{up}etc/shadow", tarfile.LNKTYPE)]),
        # a link to nothing: bad input (a 4xx), or skipped as dockerd 20.10 does (200)
        ("a hard link to a file the container has not", "/",
         [link(f"hard3-{token}", f"/etc/no-such-{token}", tarfile.LNKTYPE)]),
    ]  # fmt: skip
    problems = []
    for what, path, members in puts:
        answer = call(api, "PUT", f"/containers/{cid}/archive?path={path}", tar_of(*members),
                      tar_type)  # fmt: skip
        if not (answer.status == 200 or is_docker_error(answer, *client_errors())):
            problems.append(f"PUT {what} (path={path}): {answer}")

    # nothing landed outside the container's directory in the store, nor anywhere a
    # member's name could reach from it, from the store or from the server's directory
    container_dir = api.skiff.root / "containers" / cid
    names = {evil(tag) for tag in "abcdefghij"}
    for top in (api.skiff.root.parent, api.socket.parent):
        for folder, subfolders, files in os.walk(top):
            if Path(folder) == container_dir:
                subfolders.clear()
            for name in set(files + subfolders) & names:
                problems.append(f"written outside the container: {Path(folder) / name}")
    starts = [container_dir, Path.cwd(), api.socket.parent]
    for folder in {p for start in starts for p in (start, *start.parents)}:
        for name in names:
            for place in (folder / name, folder / "tmp" / name, folder / "etc" / name):
                if os.path.lexists(place):
                    problems.append(f"written outside the container: {place}")
    if Path("/etc/shadow").read_bytes() != host_shadow:
        problems.append("the host's /etc/shadow changed")
    if os.stat("/etc/shadow").st_nlink != host_shadow_links:
        problems.append("the host's /etc/shadow has a new hard link")

    # what a GET reads is the container's /etc/shadow (or nothing), never the host's
    for path in [
        "/../../etc/shadow",
        "/etc/../../../../etc/shadow",
        "../../../../etc/shadow",
        f"/{up}etc/shadow",
        f"/tmplink-{token}/../etc/shadow",
        f"/etclink-{token}/shadow",
        f"/uplink-{token}/../etc/shadow",
        f"/rootlink-{token}/etc/shadow",
        f"/rootlink-{token}/../../etc/shadow",
        "/proc/self/root/etc/shadow",
        "/proc/1/root/etc/shadow",
        f"/hard-{token}",
    ]:
        answer = call(api, "GET", f"/containers/{cid}/archive?path={path}")
        if answer.status == 200:
            if host_shadow and host_shadow in answer.body:
                problems.append(f"GET {path}: the HOST's /etc/shadow")
            elif list(files_in(answer.body).values()) != [shadow]:
                problems.append(f"GET {path}: not the container's shadow: {answer}")
        elif not is_docker_error(answer, 400, 404):
            problems.append(f"GET {path}: {answer}")
        stat = call(api, "HEAD", f"/containers/{cid}/archive?path={path}")
        if stat.status not in (200, 400, 404):
            problems.append(f"HEAD {path}: {stat}")
    assert not problems, "\n".join(problems)
    assert_serving(api)


# --- bodies: too large, in pieces -------------------------------------------------------------


def send_and_answer(api: SkiffApi, pieces: Iterable[bytes], timeout: float = 60) -> Answer:
    """``pieces`` sent by a thread of their own (a server may answer before it has read
    them all, and close), the answer read meanwhile (``timeout`` for each read)."""
    sock = connect(api, timeout=timeout)

    def send() -> None:
        try:
            for piece in pieces:
                sock.sendall(piece)
        except OSError:
            pass

    sender = threading.Thread(target=send)
    sender.start()
    try:
        return read_answer(sock, "POST")
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        sender.join(30)


def test_an_oversized_body_is_a_413(skiff_api: SkiffApi) -> None:
    """More than BODY_LIMIT (16 MiB) of JSON on create, told by Content-Length or sent
    in chunks or inflated from a small gzip: 413 with a message; nothing is created."""
    api = skiff_api
    big = json.dumps({"Image": "busybox", "Labels": {"big": "a" * BODY_LIMIT}}).encode()
    assert len(big) > BODY_LIMIT
    path = "/containers/create"
    json_type = "Content-Type: application/json"
    before = counts(api)
    problems = []
    cases: dict[str, list[bytes]] = {
        "Content-Length": [head("POST", path, json_type, f"Content-Length: {len(big)}"), big],
        "chunked": [
            head("POST", path, json_type, "Transfer-Encoding: chunked"),
            *(chunk(big[i : i + (1 << 20)]) for i in range(0, len(big), 1 << 20)),
            b"0\r\n\r\n",
        ],
        # told, not sent: the answer must not wait for 10 GiB
        "Content-Length of 10 GiB": [
            head("POST", path, json_type, f"Content-Length: {10 << 30}"),
            b'{"Image": ',
        ],
    }
    squeezed = gzip.compress(big)
    cases["gzip"] = [
        head("POST", path, json_type, "Content-Encoding: gzip",
             f"Content-Length: {len(squeezed)}"),
        squeezed,
    ]  # fmt: skip
    for name, pieces in cases.items():
        started = time.monotonic()
        answer = send_and_answer(api, pieces)
        took = time.monotonic() - started
        if not is_docker_error(answer, 413):
            problems.append(f"{name}: {answer}")
        elif took > PATIENCE:
            problems.append(f"{name}: 413 after {took:.1f} s")
        assert_serving(api)
    assert not problems, "\n".join(problems)
    assert counts(api) == before


def test_a_body_that_arrives_in_pieces_is_read_whole(skiff_api: SkiffApi) -> None:
    """A client (or a slow network) may send a body in several writes: the server reads
    it to its end (Content-Length, or chunks up to the last) before it parses it."""
    api = skiff_api
    body = json.dumps({"Image": "busybox", "Cmd": ["true"], "Labels": {"in": "pieces"}}).encode()
    path = "/containers/create"
    json_type = "Content-Type: application/json"

    def slowly(*pieces: bytes) -> Iterable[bytes]:
        for i, piece in enumerate(pieces):
            if i > 1:
                time.sleep(0.3)
            yield piece

    problems = []
    cases = {
        "Content-Length": slowly(
            head("POST", path, json_type, f"Content-Length: {len(body)}"), body[:10], body[10:]
        ),
        "chunked": slowly(
            head("POST", path, json_type, "Transfer-Encoding: chunked"),
            chunk(body[:10]),
            chunk(body[10:30]),
            chunk(body[30:]) + b"0\r\n\r\n",
        ),
    }
    for name, pieces in cases.items():
        answer = send_and_answer(api, pieces)
        if answer.status != 201:
            problems.append(f"{name}: {answer}")
    # and a chunked body that turns bad after its first chunk: a 400 (aiohttp's parser
    # queues its own 400 for after the request it is in, whose body then never ends)
    try:
        answer = send_and_answer(
            api,
            slowly(
                head("POST", path, json_type, "Transfer-Encoding: chunked"),
                chunk(body[:10]),
                b"zz\r\nnot a chunk\r\n",
            ),
            timeout=PATIENCE,
        )
    except TimeoutError:
        problems.append(f"chunked, then a bad chunk: no answer in {PATIENCE} s")
    else:
        if answer.status not in client_errors():
            problems.append(f"chunked, then a bad chunk: {answer}")
    assert not problems, "\n".join(problems)
    assert_serving(api)


# --- clients that stall, stop reading, leave ----------------------------------------------


def test_a_stalled_client_does_not_hold_up_the_others(skiff_api: SkiffApi) -> None:
    """Clients stall mid-request (a body short of its Content-Length, chunks short of
    the last, a head without its end) while 20 others ask GET /containers/json and
    /_ping at once: the others are answered within PROMPT, the stalled ones not at all;
    those that then send the rest are answered, those that leave leave nothing behind."""
    api = skiff_api
    create = "/containers/create"
    json_type = "Content-Type: application/json"
    body = json.dumps({"Image": "busybox", "Cmd": ["true"], "Labels": {"x": "y"}}).encode()
    body = body.ljust(1000)  # JSON's trailing blanks
    stalled: dict[str, socket.socket] = {}
    rest: dict[str, bytes] = {}

    def stall(name: str, sent: bytes, remainder: bytes | None = None) -> None:
        sock = connect(api)
        sock.sendall(sent)
        stalled[name] = sock
        if remainder is not None:
            rest[name] = remainder

    stall(
        "Content-Length 1000, 10 bytes sent, then the rest",
        head("POST", create, json_type, "Content-Length: 1000") + body[:10],
        body[10:],
    )
    stall(
        "Content-Length 1000, 10 bytes sent, then gone",
        head("POST", create, json_type, "Content-Length: 1000") + body[:10],
    )
    stall(
        "one chunk of two, then the rest",
        head("POST", create, json_type, "Transfer-Encoding: chunked") + chunk(body[:10]),
        chunk(body[10:]) + b"0\r\n\r\n",
    )
    stall(
        "a head without its end, then the end", b"GET /_ping HTTP/1.1\r\nHost: skiff\r\n", b"\r\n"
    )
    for i in range(10):
        stall(f"a head without its end #{i}", b"GET /containers/json HTTP/1.1\r\nHost: sk")
    stall("two bytes", b"GE")  # fmt: skip
    time.sleep(0.2)

    problems = prompt_clients(api)
    for name, sock in stalled.items():
        got = unanswered(sock)
        if got:
            problems.append(f"{name}: answered before the request was whole: {got!r}")
            rest.pop(name, None)
    for name, remainder in rest.items():
        stalled[name].sendall(remainder)
        try:
            answer = read_answer(stalled[name])
        except (OSError, http.client.HTTPException) as e:
            problems.append(f"{name}: {type(e).__name__}: {e}")
            continue
        if answer.status not in (200, 201):
            problems.append(f"{name}: {answer}")
    for sock in stalled.values():
        sock.close()
    assert not problems, "\n".join(problems)
    assert_serving(api)
    assert not prompt_clients(api)


def test_clients_that_stop_reading_do_not_hold_up_the_others(skiff_api: SkiffApi) -> None:
    """More clients than the server has worker threads (WORKERS) ask for a tar of /bin
    (2 MB) and read none of it: 20 others are still answered within PROMPT."""
    api = skiff_api
    cid = run(api, "busybox", "sleep", "300")
    readers = []
    for _ in range(WORKERS + 8):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(PATIENCE)
        sock.connect(str(api.socket))
        sock.sendall(head("GET", f"/containers/{cid}/archive?path=/bin"))
        readers.append(sock)
    time.sleep(1)
    try:
        problems = prompt_clients(api)
    finally:
        for sock in readers:
            sock.close()
    assert not problems, "\n".join(problems)
    assert_serving(api)


def leave_in_the_middle(api: SkiffApi, leave: Callable[[str], None], each: int = 20) -> None:
    """``leave`` in 3 rounds of ``each`` in a row. A server's pools may grow in the first
    round (an idle pool thread stays), by no more than one thread for each client: the
    rounds after it, QUIET seconds apart, must not add any; and after every round the
    server serves."""
    leave("warm-up")
    time.sleep(0.5)
    history = [threads(api)]
    for turn in range(3):
        for i in range(each):
            leave(f"round {turn + 1}, client {i + 1}, the server's threads so far {history}")
        time.sleep(QUIET)  # what the server does for a client that left is over by then
        allowed = history[0] + each + 4 if turn == 0 else history[1] + 2
        history.append(threads(api))
        assert history[-1] <= allowed, (
            f"the server's threads, at the start and after each round of {each} clients "
            f"that left: {history}; at most {allowed} expected"
        )
        assert_serving(api)


def test_clients_that_leave_logs_follow_midway(skiff_api: SkiffApi) -> None:
    """GET /containers/{id}/logs?follow=1 of a container that printed a line and then
    says nothing: the client reads the line and leaves, 60 times (more than the server
    has worker threads, WORKERS): the server's threads stay bounded and it goes on
    serving."""
    api = skiff_api
    cid = run(api, "busybox", "sh", "-c", "echo started; exec sleep 300")
    deadline = time.monotonic() + PATIENCE
    while "started" not in api.skiff.ok("logs", cid):
        assert time.monotonic() < deadline, "the container printed nothing"
        time.sleep(0.1)

    def leave(what: str) -> None:
        with connect(api) as sock:
            sock.sendall(head("GET", f"/containers/{cid}/logs?follow=1&stdout=1&stderr=1"))
            receive_until(sock, b"started\n", f"GET logs?follow=1, {what}")

    leave_in_the_middle(api, leave)
    assert cid[:12] in api.skiff.ok("ps")


def test_clients_that_leave_an_attach_midway(skiff_api: SkiffApi) -> None:
    """POST /containers/{id}/attach (hijacked) to a ``cat``: the client sends a line,
    reads it back and leaves, 60 times: the server's threads stay bounded, the container
    runs on (its stdin stays open: it was not attached with StdinOnce) and ps works."""
    api = skiff_api
    cid = run(api, "-i", "busybox", "cat")
    attach = head(
        "POST",
        f"/containers/{cid}/attach?stream=1&stdin=1&stdout=1&stderr=1",
        "Connection: Upgrade",
        "Upgrade: tcp",
        "Content-Length: 0",
    )
    counter = iter(range(1000))

    def leave(what: str) -> None:
        line = f"line {next(counter)}\n".encode()
        with connect(api) as sock:
            sock.sendall(attach)
            receive_until(sock, b"\r\n\r\n", f"attach, {what}")
            sock.sendall(line)
            receive_until(sock, line, f"attach, {what}")

    leave_in_the_middle(api, leave)
    inspected = call(api, "GET", f"/containers/{cid}/json").json()
    assert inspected["State"]["Running"], inspected["State"]
    assert cid[:12] in api.skiff.ok("ps")
