"""What every handler of the Engine API uses: the request as Docker reads it (its query
booleans, its filters, a JSON body), the blocking engine off the event loop, and
Docker's JSON answers and errors.

The engine is synchronous (SQLite, file locks, subprocesses), so handlers run engine calls
in a pool of threads, each with an Engine of its own (SQLite connections stay in the thread
that made them).
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from skiff.errors import InvalidArgument, SkiffError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any, TypeVar

    from skiff.engine.engine import Engine
    from skiff.paths import Paths

    T = TypeVar("T")

MIN_VERSION = (1, 24)
MAX_VERSION = (1, 45)
BODY_LIMIT = 16 << 20  # bytes of a JSON body; an archive or a build context streams
WORKERS = 32

_pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="skiff-api")
_local = threading.local()
_paths: list[Paths] = []


def configure(paths: Paths) -> None:
    """The installation the server serves (before the first request)."""
    _paths[:] = [paths]


def _engine() -> Engine:
    current: Engine | None = getattr(_local, "engine", None)
    if current is None:
        from skiff.engine.engine import Engine

        current = _local.engine = Engine(_paths[0])
    current.forget()
    return current


def _call(function: Callable[..., T], args: tuple[Any, ...]) -> T:
    return function(_engine(), *args)


async def blocking(function: Callable[..., T], *args: Any) -> T:
    """``function(engine, *args)`` in the pool with that thread's Engine, awaited."""
    return await asyncio.get_running_loop().run_in_executor(_pool, _call, function, args)


async def streaming(function: Callable[..., T], *args: Any) -> T:
    """``function(engine, *args)`` in a thread of its own, awaited: for work that lasts as
    long as a client wants (a followed log, an archive a slow client reads), which would
    otherwise hold a pool thread and, a few dozen clients later, stop the server."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        engine = _stream_engine()
        try:
            result = function(engine, *args)
        except BaseException as e:
            loop.call_soon_threadsafe(_settle, done, None, e)
        else:
            loop.call_soon_threadsafe(_settle, done, result, None)
        finally:
            _stream_done(engine)

    threading.Thread(target=run, name="skiff-api-stream", daemon=True).start()
    return await done


# Engines of finished streams, for the next ones. A stream's thread made an Engine of its
# own and dropped it: its SQLite connections are in a reference cycle, so their fds stayed
# open until a full garbage collection (300 after 100 `docker run --rm` at once), and even
# closed, SQLite keeps a closed connection's fd while others hold the file locked (WAL
# readers always do). Reused, there are as many as streams ever ran at once.
_spare_engines: list[Engine] = []
_spare_lock = threading.Lock()


def _stream_engine() -> Engine:
    with _spare_lock:
        engine = _spare_engines.pop() if _spare_engines else None
    if engine is None:
        from skiff.engine.engine import Engine

        return Engine(_paths[0])
    engine.forget()
    return engine


def _stream_done(engine: Engine) -> None:
    with _spare_lock:
        if len(_spare_engines) < WORKERS:
            _spare_engines.append(engine)
            return
    engine.close()


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def version_text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


class Call:
    """One API request: the aiohttp request, the API version it asked for, the path's
    parameters."""

    def __init__(
        self, request: web.BaseRequest, version: tuple[int, int], params: dict[str, str]
    ) -> None:
        self.request = request
        self.version = version
        self.params = params

    @property
    def query(self) -> Any:
        return self.request.query

    def text(self, name: str, default: str = "") -> str:
        value: str = self.request.query.get(name, default)
        if "\0" in value:
            raise InvalidArgument(f"invalid {name}: a NUL character is not allowed")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        """A query boolean as Docker reads it: absent is the default; "", "0", "no",
        "false" and "none" are false; anything else is true."""
        value = self.request.query.get(name)
        if value is None:
            return default
        return value.strip().lower() not in ("", "0", "no", "false", "none")

    def number(self, name: str, default: int | None = None) -> int | None:
        value = self.request.query.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise InvalidArgument(f'strconv.Atoi: parsing "{value}": invalid syntax') from None

    def filters(self) -> dict[str, list[str]]:
        """``filters``: ``{"key": ["v"]}`` or the old ``{"key": {"v": true}}``."""
        text = self.request.query.get("filters", "")
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError as e:
            raise InvalidArgument(f"invalid filter: {e}") from None
        if not isinstance(value, dict):
            raise InvalidArgument("invalid filter: not a JSON object")
        filters: dict[str, list[str]] = {}
        for key, values in value.items():
            if isinstance(values, dict):
                filters[key] = [str(v) for v, on in values.items() if on]
            elif isinstance(values, list):
                filters[key] = [str(v) for v in values]
            else:
                raise InvalidArgument(f"invalid filter: {key}: not a list or a map")
        return filters

    def client_gone(self) -> bool:
        """Whether the client has closed its side of the connection, for a stream that
        writes rarely (dockerd ends one then: Go's server sees the end of the input). The
        server keeps a half-closed connection open for hijacked streams (server._Handler),
        so this peeks at the socket: its end of input is the client gone."""
        import socket

        transport = self.request.transport
        if transport is None or transport.is_closing():
            return True
        wrapped = transport.get_extra_info("socket")
        if wrapped is None:
            return False
        probe = socket.socket(fileno=wrapped.fileno())
        try:
            return probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            probe.detach()

    async def json(self, required: bool = True) -> Any:
        """The body as JSON (None for no body unless ``required``)."""
        from aiohttp.http_exceptions import HttpProcessingError
        from aiohttp.web_protocol import RequestPayloadError

        if self.request.content_length and self.request.content_length > BODY_LIMIT:
            raise PayloadTooLarge(f"request body larger than {BODY_LIMIT} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := await self.request.content.read(1 << 16):  # b"": the end
                size += len(chunk)
                if size > BODY_LIMIT:
                    raise PayloadTooLarge(f"request body larger than {BODY_LIMIT} bytes")
                chunks.append(chunk)
        except (RequestPayloadError, HttpProcessingError, ValueError) as e:
            raise InvalidArgument(f"invalid request body: {e}") from None
        data = b"".join(chunks)
        if not data.strip():
            if required:
                raise InvalidArgument("invalid JSON: the request has no body")
            return None
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidArgument(f"invalid JSON: {e}") from None
        except RecursionError:
            raise InvalidArgument("invalid JSON: nested too deeply") from None


class PayloadTooLarge(SkiffError):
    exit_code = 1
    http_status = 413


def answer(value: Any, status: int = 200) -> web.Response:
    """A JSON answer, as Docker writes it (a newline at the end)."""
    return web.Response(
        body=json.dumps(value).encode() + b"\n",
        status=status,
        content_type="application/json",
    )


def no_content(status: int = 204) -> web.Response:
    return web.Response(status=status)


def error(status: int, message: str) -> web.Response:
    return answer({"message": message}, status)


class SharedWork:
    """Identical requests that come while one is being answered share the next answer.

    A request never gets an answer computed before it arrived: while a computation runs,
    newcomers wait for the next one, which starts when it ends and serves them all. Fifty
    clients listing containers at once cost two listings, not fifty (dockerd's goroutines
    run each on any core; this server's threads share one interpreter)."""

    def __init__(self) -> None:
        self.current: dict[Any, asyncio.Future[Any]] = {}
        self.following: dict[Any, asyncio.Future[Any]] = {}

    async def answer(self, key: Any, compute: Callable[[], Awaitable[T]]) -> T:
        task = self.following.get(key)
        if task is None:
            running = self.current.get(key)
            if running is None:
                task = self._start(key, compute)
            else:
                task = asyncio.ensure_future(self._after(key, running, compute))
                self.following[key] = task
        return await asyncio.shield(task)  # a client that leaves does not cancel the others'

    def _start(self, key: Any, compute: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        task = asyncio.ensure_future(compute())
        self.current[key] = task

        def done(finished: asyncio.Future[T]) -> None:
            if self.current.get(key) is finished:
                del self.current[key]
            if not finished.cancelled():
                finished.exception()  # retrieved: each waiter gets it

        task.add_done_callback(done)
        return task

    async def _after(
        self, key: Any, running: asyncio.Future[Any], compute: Callable[[], Awaitable[T]]
    ) -> T:
        await asyncio.wait([running])
        del self.following[key]
        return await self._start(key, compute)
