"""``skiff serve``: the Engine API on a unix socket (and, if asked, loopback TCP or TLS).

A low-level aiohttp server: skiff routes requests itself, because Docker's paths carry an
optional version prefix (``/v1.45/containers/json`` and ``/containers/json`` are the same
endpoint) and a handler may take the connection over (attach, exec: Docker's "hijack").

Versions 1.24 to 1.45 are served; a request without a prefix gets 1.45. Every answer
carries ``Api-Version``, ``Docker-Experimental``, ``Ostype`` and ``Server``.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from skiff.api.http import (
    MAX_VERSION,
    MIN_VERSION,
    Call,
    blocking,
    configure,
    error,
    version_text,
)
from skiff.errors import InvalidArgument, SkiffError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any

    from skiff.engine.engine import Engine
    from skiff.paths import Paths

    Handler = Callable[[Call], Awaitable[web.StreamResponse]]

_VERSION = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")
_PARAM = re.compile(r"\{(\w+)(\*?)\}")
SERVER = "skiff/0.1.0 (linux)"
HANDLER_MODULES = (
    "system",
    "containers",
    "execs",
    "archive",
    "networks",
    "volumes",
    "observe",
    "images",
    "build",
)


class Router:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, path: str, handler: Handler) -> None:
        """``/containers/{id}/json``; ``{name*}`` takes the rest of the path."""
        pattern = ""
        position = 0
        for param in _PARAM.finditer(path):
            pattern += re.escape(path[position : param.start()])
            pattern += f"(?P<{param[1]}>{'.+' if param[2] else '[^/]+'})"
            position = param.end()
        pattern += re.escape(path[position:])
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    def find(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        allowed = False
        for route_method, pattern, handler in self.routes:
            found = pattern.match(path)
            if found:
                if route_method == method or (route_method == "GET" and method == "HEAD"):
                    return handler, found.groupdict()
                allowed = True
        if allowed:
            raise _MethodNotAllowed()
        return None


class _MethodNotAllowed(Exception):
    pass


def router() -> Router:
    import importlib

    routes = Router()
    for name in HANDLER_MODULES:
        module = importlib.import_module(f"skiff.api.{name}")
        for method, path, handler in module.ROUTES:
            routes.add(method, path, handler)
    return routes


def _parse_version(path: str) -> tuple[tuple[int, int], str]:
    found = _VERSION.match(path)
    if not found:
        return MAX_VERSION, path
    version = (int(found[1]), int(found[2]))
    if version > MAX_VERSION:
        raise InvalidArgument(
            f"client version {version_text(version)} is too new. Maximum supported API "
            f"version is {version_text(MAX_VERSION)}"
        )
    if version < MIN_VERSION:
        raise InvalidArgument(
            f"client version {version_text(version)} is too old. Minimum supported API "
            f"version is {version_text(MIN_VERSION)}, please upgrade your client to a "
            "newer version"
        )
    return version, found[3]


class Dispatcher:
    def __init__(self, routes: Router) -> None:
        self.routes = routes

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            response = await self._dispatch(request)
        except SkiffError as e:
            response = error(e.http_status, str(e))
        except _MethodNotAllowed:
            response = error(405, "method not allowed")
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as e:  # a bug: the client gets its message, the server goes on
            import traceback

            traceback.print_exc()
            response = error(500, f"{type(e).__name__}: {e}")
        if not response.prepared:
            _headers(response)
        return response

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        version, path = _parse_version(request.path)
        found = self.routes.find(request.method, path)
        if found is None:
            return error(404, "page not found")
        handler, params = found
        return await handler(Call(request, version, params))


def _headers(response: web.StreamResponse) -> None:
    response.headers["Api-Version"] = version_text(MAX_VERSION)
    response.headers["Docker-Experimental"] = "false"
    response.headers["Ostype"] = "linux"
    response.headers["Server"] = SERVER


def prepare_headers(response: web.StreamResponse) -> None:
    """Docker's headers on a response a handler prepares (streams) itself."""
    _headers(response)


class _Handler(RequestHandler):
    """aiohttp's connection handler, except that a client's half-close (docker's stdin
    ending on a hijacked connection) ends the input only: the output goes on."""

    def data_received(self, data: bytes) -> None:
        """As aiohttp's, except that a request body the parser finds broken (a bad chunk)
        ends in an error for its handler: aiohttp would leave the body waiting forever
        and queue the 400 for after it."""
        from aiohttp.web_protocol import RequestPayloadError, _ErrInfo

        before = len(self._messages)
        super().data_received(data)
        request = self._current_request
        if request is not None:
            for message, _ in list(self._messages)[before:]:
                if isinstance(message, _ErrInfo):
                    request.content.set_exception(RequestPayloadError(message.message))

    _input_ended = False

    def eof_received(self) -> bool:  # type: ignore[override]
        parser = self._payload_parser
        if parser is not None:
            parser.feed_eof()
            return True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            # Idle between requests: the client closed its keep-alive connection (as
            # docker-py and the docker CLI do after each command), so it is closed here
            # too, as aiohttp does. Kept open, it would hold its fd for aiohttp's
            # keep-alive timeout, an hour: 100 `docker run --rm` left 600 of them.
            return False
        # In a request, before the handler took the connection over: it gets the end then;
        # no request can follow, so the connection closes once this one is answered.
        self._input_ended = True
        self.close()
        return True

    def set_parser(self, parser: Any, data_received_cb: Any = None) -> None:
        super().set_parser(parser, data_received_cb)
        if self._input_ended:
            parser.feed_eof()


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _Handler(self, loop=self._loop, **self._kwargs)


async def _serve(
    hosts: list[str], paths: Paths, ready: Callable[[], None], tls: TLS | None
) -> None:
    configure(paths)
    server = _Server(Dispatcher(router()), handler_cancellation=True)
    # streams (events, logs -f, stats) end with the server: no minute of waiting for them
    runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    for host in hosts:
        await _site(runner, host, tls.context() if tls else None).start()
    await blocking(_boot)
    ready()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


def _boot(engine: Engine) -> None:
    """As dockerd when it starts: containers whose restart policy says so come back
    (``skiff system boot``, which leaves running containers alone)."""
    from skiff.engine.boot import boot

    boot(engine)


def _site(runner: web.BaseRunner, host: str, tls: ssl.SSLContext | None) -> web.BaseSite:
    if host.startswith("unix://"):
        path = host[len("unix://") :]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)
        site: web.BaseSite = _UnixSite(runner, path)
        return site
    if host.startswith("tcp://"):
        address, _, port = host[len("tcp://") :].rpartition(":")
        if not port.isdigit():
            raise InvalidArgument(f"{host}: no port")
        if tls is None and address not in ("127.0.0.1", "localhost", "[::1]"):
            raise InvalidArgument(
                f"{host}: plain TCP is only served on loopback addresses (use --tlsverify)"
            )
        return web.TCPSite(runner, address.strip("[]") or "0.0.0.0", int(port), ssl_context=tls)
    raise InvalidArgument(f"{host}: not a unix:// or tcp:// address")


class TLS:
    """dockerd's TLS flags: the server's certificate and key, and with ``verify`` the CA
    whose certificates clients must present (``--tlsverify --tlscacert``)."""

    def __init__(self, cert: str, key: str, ca: str = "", verify: bool = False) -> None:
        self.cert, self.key, self.ca, self.verify = cert, key, ca, verify

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.cert, self.key)
            if self.verify:
                if not self.ca:
                    raise InvalidArgument("--tlsverify needs --tlscacert")
                context.load_verify_locations(cafile=self.ca)
                context.verify_mode = ssl.CERT_REQUIRED
        except (OSError, ssl.SSLError) as e:
            raise InvalidArgument(f"TLS: {e}") from None
        return context


class _UnixSite(web.UnixSite):
    """A unix socket mode 0660, group ``skiff`` if there is one (as docker.sock's
    ``docker`` group): the group's members may use the engine."""

    async def start(self) -> None:
        await super().start()
        import grp

        path = str(self._path)
        os.chmod(path, 0o660)
        try:
            os.chown(path, 0, grp.getgrnam("skiff").gr_gid)
        except KeyError:
            pass


def serve(
    hosts: list[str],
    paths: Paths,
    ready: Callable[[], None] = lambda: None,
    tls: TLS | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT (TCP addresses over ``tls`` when given)."""
    asyncio.run(_serve(hosts, paths, ready, tls))
