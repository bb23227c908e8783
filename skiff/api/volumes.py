"""Volume endpoints: list, create, inspect, remove, prune.

The work is the volume store's, as for ``skiff volume`` (skiff.storage.volumes): a volume
created here is the CLI's and the other way round.
"""

from __future__ import annotations

from aiohttp import web

from skiff.api import fields
from skiff.api.http import Call, answer, blocking, no_content

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.engine.engine import Engine

PRUNE_ALL_BEFORE = (1, 42)  # older API versions prune every unused volume, not only anonymous


async def list_volumes(call: Call) -> web.StreamResponse:
    filters = call.filters()

    def read(engine: Engine) -> list[dict[str, Any]]:
        return [volume.api() for volume in engine.volumes.list(filters)]

    return answer({"Volumes": await blocking(read), "Warnings": []})


async def create(call: Call) -> web.StreamResponse:
    body = fields.body_object(await call.json(), "volume.CreateOptions")
    name = fields.text(body, "Name", "CreateOptions.Name")
    driver = fields.text(body, "Driver", "CreateOptions.Driver")
    options = fields.string_map(body, "DriverOpts", "CreateOptions.DriverOpts")
    labels = fields.string_map(body, "Labels", "CreateOptions.Labels")

    def make(engine: Engine) -> dict[str, Any]:
        return engine.volumes.create(name, driver, labels, options).api()

    return answer(await blocking(make), 201)


async def inspect(call: Call) -> web.StreamResponse:
    def read(engine: Engine) -> dict[str, Any]:
        return engine.volumes.get(call.params["name"]).api()

    return answer(await blocking(read))


async def remove(call: Call) -> web.StreamResponse:
    force = call.flag("force")
    await blocking(lambda engine: engine.volumes.remove(call.params["name"], force))
    return no_content()


async def prune(call: Call) -> web.StreamResponse:
    filters = call.filters()
    if call.version < PRUNE_ALL_BEFORE and "all" not in filters:
        filters["all"] = ["true"]

    def act(engine: Engine) -> tuple[list[str], int]:
        return engine.volumes.prune(filters)

    removed, freed = await blocking(act)
    return answer({"VolumesDeleted": removed or None, "SpaceReclaimed": freed})


ROUTES = [
    ("GET", "/volumes", list_volumes),
    ("POST", "/volumes/create", create),
    ("POST", "/volumes/prune", prune),
    ("GET", "/volumes/{name}", inspect),
    ("DELETE", "/volumes/{name}", remove),
]
