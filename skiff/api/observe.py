"""Container endpoints that observe or tune a container: top, stats (one document, or one
a second), changes, export, update, and prune.

The work is the engine's, as for the CLI's verbs (skiff.engine.top, .stats,
.container_changes, .copy, .system, Engine.update). Streams (stats, export) hold no
thread while the client reads: stats samples from the event loop a second apart, and
export's archive goes through a bounded pipe from the thread that writes it.
"""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from skiff.api import fields
from skiff.api.http import Call, answer, blocking, streaming
from skiff.api.server import prepare_headers
from skiff.errors import InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.engine.engine import Engine
    from skiff.engine.stats import StatsReader

STATS_INTERVAL = 1.0
CHANGE_KINDS = {"C": 0, "A": 1, "D": 2}  # Docker's archive.ChangeType
PIPE_CHUNK = 64 << 10
PIPE_DEPTH = 16  # chunks in flight between the archive's thread and the client


async def top(call: Call) -> web.StreamResponse:
    ps_args = call.text("ps_args")

    def read(engine: Engine) -> dict[str, Any]:
        from skiff.engine.top import top as processes

        titles, rows = processes(engine, call.params["id"], ps_args)
        return {"Processes": rows, "Titles": titles}

    return answer(await blocking(read))


# --- stats --------------------------------------------------------------------------------


async def stats(call: Call) -> web.StreamResponse:
    """Docker's stats: with ``stream`` (the default) a document a second until the client
    goes away or the container is removed; else one, measured over a second (its
    ``precpu_stats`` a second older), or at once with ``one-shot``."""
    stream = call.flag("stream", True)
    one_shot = call.flag("one-shot")
    if stream and one_shot:
        raise InvalidArgument("cannot have stream=true and one-shot=true")

    def begin(engine: Engine) -> tuple[Any, StatsReader]:
        from skiff.engine.stats import StatsReader

        return engine.containers.get(call.params["id"]), StatsReader()

    container, reader = await blocking(begin)
    container_id = container.id

    def sample(engine: Engine) -> tuple[dict[str, Any] | None, bool]:
        """The container's document now (None if it does not run), and whether it is
        still there."""
        from skiff.engine.stats import zero_document

        try:
            current = engine.containers.get(container_id)
        except NotFound:
            return None, False
        document = reader.read(current)
        if document is None and not stream:
            return zero_document(current), True
        return document, True

    if not stream:
        from skiff.engine.stats import ZERO_TIME

        document, _ = await blocking(sample)
        if not one_shot and document is not None and document["read"] != ZERO_TIME:
            await asyncio.sleep(STATS_INTERVAL)  # a second sample, for the CPU figures
            document, _ = await blocking(sample)
        return answer(document)
    response = web.StreamResponse()
    response.content_type = "application/json"
    prepare_headers(response)
    await response.prepare(call.request)
    import json

    try:
        while True:
            document, present = await blocking(sample)
            if not present:
                break
            if document is not None:
                await response.write(json.dumps(document).encode() + b"\n")
            elif call.client_gone():
                return response
            await asyncio.sleep(STATS_INTERVAL)
        await response.write_eof()
    except ConnectionResetError:  # the client went away
        pass
    return response


# --- changes, export ----------------------------------------------------------------------


async def changes(call: Call) -> web.StreamResponse:
    def read(engine: Engine) -> list[dict[str, Any]] | None:
        from skiff.engine.container_changes import changes as container_changes

        found = container_changes(engine, call.params["id"])
        return [{"Path": path, "Kind": CHANGE_KINDS[kind]} for kind, path in found] or None

    return answer(await blocking(read))


class _Pipe:
    """Bytes from a thread to the event loop, in chunks, at most PIPE_DEPTH in flight
    (the writer waits for the client); the writer fails once the reader has gone."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
        self.room = threading.Semaphore(PIPE_DEPTH)
        self.closed = threading.Event()
        self.buffer = bytearray()

    # the writing thread

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.buffer += data
        if len(self.buffer) >= PIPE_CHUNK:
            self._send(bytes(self.buffer))
            self.buffer.clear()
        return len(data)

    def flush(self) -> None:
        pass

    def _send(self, item: bytes | BaseException | None) -> None:
        if isinstance(item, bytes):
            while not self.room.acquire(timeout=0.5):
                if self.closed.is_set():
                    raise BrokenPipeError("the client went away")
        if self.closed.is_set():
            raise BrokenPipeError("the client went away")
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def finish(self, error: BaseException | None = None) -> None:
        """The end of the data (or why it stopped)."""
        try:
            if error is None and self.buffer:
                self._send(bytes(self.buffer))
            self._send(error)
        except BrokenPipeError:
            pass

    # the event loop

    async def get(self) -> bytes | BaseException | None:
        item = await self.queue.get()
        if isinstance(item, bytes):
            self.room.release()
        return item

    def close(self) -> None:
        self.closed.set()


async def export(call: Call) -> web.StreamResponse:
    """The container's root filesystem as a tar, streamed as it is written."""
    container = await blocking(lambda engine: engine.containers.get(call.params["id"]))
    pipe = _Pipe(asyncio.get_running_loop())

    def write(engine: Engine) -> None:
        from skiff.engine.copy import export as export_root

        try:
            export_root(engine, container.id, pipe)  # type: ignore[arg-type]
        except Exception as e:  # the handler reports it (or cuts the archive short)
            pipe.finish(e)
            return
        pipe.finish()

    writer = asyncio.ensure_future(streaming(write))
    try:
        item = await pipe.get()
        if isinstance(item, BaseException):
            raise item
        response = web.StreamResponse()
        response.content_type = "application/x-tar"
        prepare_headers(response)
        await response.prepare(call.request)
        while isinstance(item, bytes):
            try:
                await response.write(item)
            except ConnectionResetError:  # the client went away: the writer stops
                return response
            item = await pipe.get()
        if item is not None:  # failed after the first bytes: the client sees a cut archive
            transport = call.request.transport
            if transport is not None:
                transport.close()
            return response
        await response.write_eof()
        return response
    finally:
        pipe.close()
        await asyncio.shield(writer)


# --- update, prune ------------------------------------------------------------------------

# UpdateConfig's resources that skiff's update applies: JSON field -> (option, bits).
_UPDATE_FIELDS = {
    "BlkioWeight": ("blkio_weight", 16),
    "CpuShares": ("cpu_shares", 64),
    "CpuPeriod": ("cpu_period", 64),
    "CpuQuota": ("cpu_quota", 64),
    "CpuRealtimePeriod": ("cpu_rt_period", 64),
    "CpuRealtimeRuntime": ("cpu_rt_runtime", 64),
    "Memory": ("memory", 64),
    "MemoryReservation": ("memory_reservation", 64),
    "MemorySwap": ("memory_swap", 64),
    "NanoCpus": ("nano_cpus", 64),
}


def update_changes(body: dict[str, Any]) -> dict[str, Any]:
    """The option changes of an UpdateConfig, read as dockerd does: a zero (or absent)
    resource is left as it is (the docker CLI sends every field), ``PidsLimit`` is
    applied when present, the restart policy when it has a name."""
    from skiff.engine.options import parse_restart

    changes: dict[str, Any] = {}
    for key, (option, bits) in _UPDATE_FIELDS.items():
        value = fields.integer(body, key, f"UpdateConfig.{key}", bits)
        if value:
            changes[option] = value
    for key, option in (("CpusetCpus", "cpuset_cpus"), ("CpusetMems", "cpuset_mems")):
        value_text = fields.text(body, key, f"UpdateConfig.{key}")
        if value_text:
            changes[option] = value_text
    if body.get("PidsLimit") is not None:
        changes["pids_limit"] = fields.integer(body, "PidsLimit", "UpdateConfig.PidsLimit")
    policy = fields.obj(body, "RestartPolicy", "UpdateConfig.RestartPolicy", "RestartPolicy")
    name = fields.text(policy, "Name", "UpdateConfig.RestartPolicy.Name")
    if name:
        count = fields.integer(
            policy, "MaximumRetryCount", "UpdateConfig.RestartPolicy.MaximumRetryCount"
        )
        changes["restart"] = parse_restart(f"{name}:{count}" if count else name)
    return changes


async def update(call: Call) -> web.StreamResponse:
    changes = update_changes(fields.body_object(await call.json(), "container.UpdateConfig"))

    def act(engine: Engine) -> None:
        engine.update(call.params["id"], changes)

    await blocking(act)
    return answer({"Warnings": []})


async def prune(call: Call) -> web.StreamResponse:
    filters = call.filters()

    def act(engine: Engine) -> tuple[list[str], int]:
        from skiff.engine.system import prune_containers

        return prune_containers(engine, filters)

    removed, freed = await blocking(act)
    return answer({"ContainersDeleted": removed or None, "SpaceReclaimed": freed})


ROUTES = [
    ("POST", "/containers/prune", prune),
    ("GET", "/containers/{id}/top", top),
    ("GET", "/containers/{id}/stats", stats),
    ("GET", "/containers/{id}/changes", changes),
    ("GET", "/containers/{id}/export", export),
    ("POST", "/containers/{id}/update", update),
]
