"""Container endpoints: list, create, inspect, the lifecycle verbs, wait, logs, attach.

An attach to a container that is not running yet (what ``docker run`` does before it
starts one) waits in ``_pending`` until the start: the start connects it to the monitor
before the container's process runs, so no output is lost, as with ``skiff run``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

from aiohttp import web

from skiff.api.http import Call, SharedWork, answer, blocking, no_content, streaming
from skiff.api.server import prepare_headers
from skiff.api.streams import MULTIPLEXED, RAW, STDERR, STDOUT, Hijacked, frame
from skiff.errors import Conflict, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from skiff.engine.attach import AttachSession
    from skiff.engine.containers import Container
    from skiff.engine.engine import Engine

WAIT_POLL = 0.05
QUIET_CHECK = 1.0  # seconds a quiet log stream waits before it checks for its client
_pending: dict[str, list[Callable[[str], None]]] = {}
_pending_lock = threading.Lock()
_background: set[asyncio.Future[None]] = set()  # tasks that outlive their request
_listings = SharedWork()


# --- list, create, inspect ------------------------------------------------------------


async def list_containers(call: Call) -> web.StreamResponse:
    filters = call.filters()
    every = call.flag("all")
    limit = call.number("limit", -1)
    size = call.flag("size")

    def read(engine: Engine) -> bytes:
        from skiff.engine import listing

        facts = listing.Facts(engine.containers, engine.images)
        chosen = listing.select(engine.containers, facts, filters, every, limit or -1)
        now = time.time()
        return json.dumps([listing.summary(c, facts, now, size) for c in chosen]).encode()

    key = (call.version, tuple(sorted(call.query.items())))
    body = await _listings.answer(key, lambda: blocking(read))
    return web.Response(body=body + b"\n", content_type="application/json")


async def create(call: Call) -> web.StreamResponse:
    from skiff.api.container_body import parse_create_body

    body = await call.json()
    request = parse_create_body(body, call.text("name"), call.version)
    options = request.options
    platform = call.text("platform")

    def make(engine: Engine) -> dict[str, Any]:
        from skiff.engine.networking import connect

        if platform:
            _check_platform(engine, options.image, platform)
        container = engine.create(options)
        try:  # API 1.44 creates on several networks: the options name the first
            for network, endpoint in request.networks.items():
                connect(engine, container.id, network, endpoint.aliases, endpoint.ip)
        except BaseException:
            engine.remove(container.id, force=True, volumes=True)
            raise
        return {"Id": container.id, "Warnings": request.warnings}

    return answer(await blocking(make), 201)


def _check_platform(engine: Engine, image: str, platform: str) -> None:
    config = engine.images.get(image).config
    actual = f"{config.get('os', 'linux')}/{config.get('architecture', 'amd64')}"
    wanted = "/".join(platform.lower().split("/")[:2])
    if wanted not in (actual, actual.split("/")[0]):
        raise NotFound(
            f"image with reference {image} was found but does not provide the specified "
            f"platform ({platform})"
        )


async def inspect(call: Call) -> web.StreamResponse:
    size = call.flag("size")

    def read(engine: Engine) -> dict[str, Any]:
        from skiff.engine.inspect import inspect_container

        return inspect_container(engine, engine.containers.get(call.params["id"]), size)

    return answer(await blocking(read))


# --- lifecycle ----------------------------------------------------------------------------


async def start(call: Call) -> web.StreamResponse:
    def run(engine: Engine) -> bool:
        from skiff.engine.engine import start_error_code
        from skiff.errors import SkiffError

        container = engine.containers.get(call.params["id"])
        if container.state.get("Running"):
            return False
        with _pending_lock:
            connectors = _pending.pop(container.id, [])

        def before_start(bundle: str) -> None:
            for connect in connectors:
                connect(bundle)

        try:
            engine.start(container.id, before_start=before_start)
        except SkiffError as e:
            engine.after_failed_start(container.id)
            code = start_error_code(str(e))
            raise _StartFailed(str(e), code) from None
        return True

    started = await blocking(run)
    return no_content(204 if started else 304)


class _StartFailed(InvalidArgument):
    """A start the runtime refused: Docker answers 400 for a command that cannot run
    (its CLI exits 126 or 127), 500 otherwise."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.http_status = 400 if code in (126, 127) else 500


async def stop(call: Call) -> web.StreamResponse:
    timeout = call.number("t")
    signal = call.text("signal") or None

    def act(engine: Engine) -> bool:
        container = engine.containers.get(call.params["id"])
        if not container.state.get("Running"):
            return False
        engine.stop(container.id, timeout, signal)
        return True

    return no_content(204 if await blocking(act) else 304)


async def restart(call: Call) -> web.StreamResponse:
    timeout = call.number("t")
    signal = call.text("signal") or None
    await blocking(lambda engine: engine.restart(call.params["id"], timeout, signal))
    return no_content()


async def kill(call: Call) -> web.StreamResponse:
    signal = call.text("signal") or "KILL"
    ref = call.params["id"]
    try:
        await blocking(lambda engine: engine.kill(ref, signal))
    except NotFound as e:  # dockerd's words around it
        raise NotFound(f"Cannot kill container: {ref}: {e}") from None
    return no_content()


async def pause(call: Call) -> web.StreamResponse:
    await blocking(lambda engine: engine.pause(call.params["id"]))
    return no_content()


async def unpause(call: Call) -> web.StreamResponse:
    await blocking(lambda engine: engine.unpause(call.params["id"]))
    return no_content()


async def rename(call: Call) -> web.StreamResponse:
    name = call.text("name")
    try:
        await blocking(lambda engine: engine.rename(call.params["id"], name))
    except Conflict as e:  # dockerd's words around it
        raise Conflict(f"Error when allocating new name: {e}") from None
    return no_content()


async def remove(call: Call) -> web.StreamResponse:
    force = call.flag("force")
    volumes = call.flag("v")
    await blocking(lambda engine: engine.remove(call.params["id"], force, volumes))
    return no_content()


# --- wait ---------------------------------------------------------------------------------


async def wait(call: Call) -> web.StreamResponse:
    """Docker's wait: the answer's headers go out at once (the docker CLI starts the
    container only once it has them), its body when the condition is met."""
    condition = call.text("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise InvalidArgument(f"invalid condition: {condition!r}")
    container = await blocking(lambda engine: engine.containers.get(call.params["id"]))
    response = web.StreamResponse()
    response.content_type = "application/json"
    prepare_headers(response)
    await response.prepare(call.request)
    code = await _exit_code(container, condition)
    await response.write(f'{{"Error":null,"StatusCode":{code}}}\n'.encode())
    await response.write_eof()
    return response


async def _exit_code(container: Container, condition: str) -> int:
    finished = container.state.get("FinishedAt")
    while True:
        try:
            current = await blocking(lambda engine: engine.containers.get(container.id))
        except NotFound:  # removed: its exit code is in its last "die" event
            return await blocking(lambda engine: _last_exit_code(engine, container))
        state = current.state
        running = state.get("Running") or state.get("Restarting")
        if condition == "not-running" and not running:
            return int(state.get("ExitCode", 0))
        if condition == "next-exit" and not running and state.get("FinishedAt") != finished:
            return int(state.get("ExitCode", 0))
        await asyncio.sleep(WAIT_POLL)


def _last_exit_code(engine: Engine, container: Container) -> int:
    from skiff.engine.events import last_exit_code

    code = last_exit_code(engine.containers.db, container.id)
    return int(container.state.get("ExitCode", 0)) if code is None else code


# --- logs ---------------------------------------------------------------------------------


async def logs(call: Call) -> web.StreamResponse:
    from skiff.engine.timestamps import TimeValueError, parse_time

    stdout, stderr = call.flag("stdout"), call.flag("stderr")
    if not stdout and not stderr:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    follow, timestamps = call.flag("follow"), call.flag("timestamps")
    now = time.time()
    try:
        since = parse_time(call.text("since"), now) if call.text("since", "0") != "0" else None
        until = parse_time(call.text("until"), now) if call.text("until", "0") != "0" else None
    except TimeValueError as e:
        raise InvalidArgument(str(e)) from None
    tail_text = call.text("tail", "all")
    tail = int(tail_text) if tail_text.isdigit() else None
    container = await blocking(lambda engine: engine.containers.get(call.params["id"]))
    tty = bool(container.options.get("tty"))
    response = web.StreamResponse()
    response.content_type = RAW if tty else MULTIPLEXED
    prepare_headers(response)
    await response.prepare(call.request)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=256)
    stopped = threading.Event()

    def read(engine: Engine) -> None:
        from skiff.engine.logs import ContainerLog

        try:
            log = ContainerLog(engine, engine.containers.get(container.id))
            for line in log.lines(since, until, tail, follow, stopped.is_set):
                if stopped.is_set():
                    return
                if (line.stream == "stderr" and not stderr) or (
                    line.stream != "stderr" and not stdout
                ):
                    continue
                text = line.text
                if timestamps:
                    text = line.timestamp().encode() + b" " + text
                data = text if tty else frame(STDERR if line.stream == "stderr" else STDOUT, text)
                asyncio.run_coroutine_threadsafe(queue.put(data), loop).result()
        finally:
            asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()

    reader = asyncio.ensure_future(streaming(read))
    try:
        while True:
            try:
                data = await asyncio.wait_for(queue.get(), QUIET_CHECK)
            except TimeoutError:
                if call.client_gone():
                    break
                continue
            if data is None:
                break
            await response.write(data)
        await response.write_eof()
    except ConnectionResetError:
        # The client went first (docker-py's `containers.run` drops the followed log of
        # a container that failed): nothing is owed to it, and no traceback to the log.
        pass
    finally:
        stopped.set()  # the reader stops at its next line; what it still sends is dropped
        draining = asyncio.ensure_future(_drain(queue, reader))
        _background.add(draining)
        draining.add_done_callback(_background.discard)
    return response


async def _drain(queue: asyncio.Queue[bytes | None], reader: asyncio.Future[None]) -> None:
    while not reader.done():
        try:
            await asyncio.wait_for(queue.get(), QUIET_CHECK)
        except TimeoutError:
            continue


# --- attach ---------------------------------------------------------------------------


async def attach(call: Call) -> web.StreamResponse:
    stdin, stdout, stderr = call.flag("stdin"), call.flag("stdout"), call.flag("stderr")
    stream = call.flag("stream")
    container = await blocking(lambda engine: engine.containers.get(call.params["id"]))
    tty = bool(container.options.get("tty"))
    # connected, or waiting for the start, before the client hears 101 and starts it
    session_ready = await _session(container) if stream else None
    hijacked = await Hijacked.take(call, RAW if tty else MULTIPLEXED)
    if session_ready is None:  # only the logs, which skiff's attach does not replay
        hijacked.finish()
        await hijacked.wait_closed()
        return hijacked.response
    session = await session_ready
    output = threading.Thread(
        target=_pump_output, args=(session, hijacked, tty, stdout, stderr), daemon=True
    )
    output.start()
    pump_input = asyncio.ensure_future(_pump_input(session, hijacked, stdin))
    try:
        await hijacked.closed.wait()
    finally:  # also when the client left: aiohttp cancels this handler then
        pump_input.cancel()
        import socket as sockets

        try:  # wakes the output thread out of its recv
            session.sock.shutdown(sockets.SHUT_RDWR)
        except OSError:
            pass
        session.close()
    await hijacked.wait_closed()
    return hijacked.response


async def _session(container: Container) -> asyncio.Future[AttachSession]:
    """A session on the container's monitor: connected now if it runs, else registered
    for its start (when this returns, a start cannot miss it)."""
    from skiff.engine.attach import AttachSession
    from skiff.engine.filesystem import ContainerFiles

    loop = asyncio.get_running_loop()
    connected: asyncio.Future[AttachSession] = loop.create_future()

    def connect(bundle: str) -> None:
        session = AttachSession.connect(bundle)
        loop.call_soon_threadsafe(connected.set_result, session)

    def now_or_later(engine: Engine) -> None:
        current = engine.containers.get(container.id)
        if current.state.get("Running"):
            connect(ContainerFiles(engine.paths, container.id).bundle)
            return
        with _pending_lock:
            _pending.setdefault(container.id, []).append(connect)

    await blocking(now_or_later)
    return connected


def _pump_output(
    session: AttachSession, hijacked: Hijacked, tty: bool, stdout: bool, stderr: bool
) -> None:
    """The container's output to the client until the monitor closes the session."""
    session.sock.setblocking(True)  # this thread waits on it alone (the CLI's pump selects)
    try:
        while (got := session.receive()) is not None:
            channel, data = got
            is_stderr = channel == 3 and not tty
            if (is_stderr and not stderr) or (not is_stderr and not stdout):
                continue
            hijacked.write(data if tty else frame(STDERR if is_stderr else STDOUT, data))
    except OSError:
        pass
    finally:
        hijacked.finish()


async def _pump_input(session: AttachSession, hijacked: Hijacked, stdin: bool) -> None:
    loop = asyncio.get_running_loop()
    while data := await hijacked.read():
        if stdin:
            await loop.run_in_executor(None, session.send, data)
    if stdin:
        await loop.run_in_executor(None, session.close_input)


async def resize(call: Call) -> web.StreamResponse:
    rows, columns = call.number("h", 0) or 0, call.number("w", 0) or 0

    def act(engine: Engine) -> None:
        from skiff.engine.attach import AttachSession
        from skiff.engine.filesystem import ContainerFiles

        container = engine.containers.get(call.params["id"])
        if not container.state.get("Running"):
            raise _NotRunning(f"Container {container.id} is not running")
        session = AttachSession.connect(ContainerFiles(engine.paths, container.id).bundle)
        try:
            session.resize(rows, columns)
        finally:
            session.close()

    await blocking(act)
    return no_content(200)


class _NotRunning(InvalidArgument):
    http_status = 409


ROUTES = [
    ("GET", "/containers/json", list_containers),
    ("POST", "/containers/create", create),
    ("GET", "/containers/{id}/json", inspect),
    ("POST", "/containers/{id}/start", start),
    ("POST", "/containers/{id}/stop", stop),
    ("POST", "/containers/{id}/restart", restart),
    ("POST", "/containers/{id}/kill", kill),
    ("POST", "/containers/{id}/pause", pause),
    ("POST", "/containers/{id}/unpause", unpause),
    ("POST", "/containers/{id}/rename", rename),
    ("POST", "/containers/{id}/wait", wait),
    ("DELETE", "/containers/{id}", remove),
    ("GET", "/containers/{id}/logs", logs),
    ("POST", "/containers/{id}/attach", attach),
    ("POST", "/containers/{id}/resize", resize),
]
