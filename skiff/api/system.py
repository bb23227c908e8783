"""System endpoints: ``/_ping``, ``/version``, ``/info``, ``/auth``, ``/system/df`` and
``/events``."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from skiff.api.http import MAX_VERSION, Call, answer, blocking, version_text
from skiff.api.server import prepare_headers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.engine.engine import Engine


async def ping(call: Call) -> web.StreamResponse:
    """``OK``, and what the client negotiates its version with (its headers)."""
    response = web.Response(
        text="" if call.request.method == "HEAD" else "OK", content_type="text/plain"
    )
    response.headers["Builder-Version"] = "1"
    response.headers["Cache-Control"] = "no-cache, no-store, must-revalidate"
    response.headers["Pragma"] = "no-cache"
    return response


async def version(call: Call) -> web.StreamResponse:
    def read(engine: Engine) -> dict[str, Any]:
        from skiff.engine.system import server_version

        return server_version()

    value = await blocking(read)
    value["ApiVersion"] = version_text(MAX_VERSION)
    return answer(value)


async def info(call: Call) -> web.StreamResponse:
    def read(engine: Engine) -> dict[str, Any]:
        from skiff.engine.system import info

        return info(engine)

    return answer(await blocking(read))


async def auth(call: Call) -> web.StreamResponse:
    """Log in: check the credentials against the registry, as ``docker login`` asks."""
    from skiff.errors import InvalidArgument

    body = await call.json()
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON: the body is not an object")
    for key in ("username", "password", "serveraddress", "email", "identitytoken"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise InvalidArgument(
                f"json: cannot unmarshal into Go struct field AuthConfig.{key} of type string"
            )
    server = str(body.get("serveraddress") or "docker.io")
    user, password = str(body.get("username") or ""), str(body.get("password") or "")

    def check(engine: Engine) -> None:
        from skiff.registry.client import Client

        client = Client(server.removeprefix("https://").removeprefix("http://").rstrip("/"), "")
        client.credentials = (user, password)
        client.check(client.request("GET", "/v2/"), f"login to {server}").read()

    await blocking(check)
    return answer({"Status": "Login Succeeded", "IdentityToken": ""})


async def disk_usage(call: Call) -> web.StreamResponse:
    """Docker's SystemDataUsageResponse: the images (ImageSummary), containers
    (ContainerSummary with SizeRw and SizeRootFs), volumes (with UsageData) and build
    cache (none: skiff's builder keeps none) that ``type`` asks for (all by default)."""
    types = tuple(call.query.getall("type", []))

    def read(engine: Engine) -> dict[str, Any]:
        from skiff.engine.system import DISK_USAGE_TYPES
        from skiff.engine.system import disk_usage as usage_of

        wanted = types or DISK_USAGE_TYPES
        value = data_usage(engine, usage_of(engine, wanted), wanted)
        if call.version < (1, 42):
            value["BuilderSize"] = 0  # deprecated, gone from 1.42's answer
        return value

    return answer(await blocking(read))


def data_usage(
    engine: Engine, usage: dict[str, dict[str, Any]], types: tuple[str, ...]
) -> dict[str, Any]:
    """The engine's disk usage in the API's shape (a type not asked for is null)."""
    from skiff.engine.listing import Facts, summary

    value: dict[str, Any] = {}
    if "image" in types:
        value["LayersSize"] = usage["Images"]["TotalSize"]
        value["Images"] = usage["Images"]["Items"]
    else:
        value["LayersSize"] = 0
        value["Images"] = None
    if "container" in types:
        facts = Facts(engine.containers, engine.images)
        now = time.time()
        containers = []
        for item in usage["Containers"]["Items"]:
            container = item["Container"]
            entry = summary(container, facts, now)
            root_size = item["SizeRw"] + facts.image_size(container.image_id)
            for key, size in (("SizeRw", item["SizeRw"]), ("SizeRootFs", root_size)):
                if size:  # dockerd leaves a zero size out (omitempty)
                    entry[key] = size
            containers.append(entry)
        value["Containers"] = containers
    else:
        value["Containers"] = None
    if "volume" in types:
        value["Volumes"] = [
            {
                **item["Volume"].api(),
                "UsageData": {"Size": item["Size"], "RefCount": item["RefCount"]},
            }
            for item in usage["Volumes"]["Items"]
        ]
    else:
        value["Volumes"] = None
    value["BuildCache"] = [] if "build-cache" in types else None
    return value


async def events(call: Call) -> web.StreamResponse:
    """Recorded events in the window ``since``..``until``, then (unless ``until`` has
    passed) new ones as they come, one JSON object a line: without ``until``, until the
    client goes away. The table is polled from the event loop, a quick query at a time,
    so a follower holds no thread while it waits."""
    from skiff.engine import events as recorded
    from skiff.engine.timestamps import TimeValueError, parse_time
    from skiff.errors import InvalidArgument

    now = time.time()
    try:
        since = parse_time(call.text("since"), now) if call.text("since") else None
        until = parse_time(call.text("until"), now) if call.text("until") else None
    except TimeValueError as e:
        raise InvalidArgument(str(e)) from None
    recorded.check_window(since, until, (call.text("since"), call.text("until")))
    filters = call.filters()
    after = await blocking(lambda engine: recorded.start(engine.containers.db, since, until))
    response = web.StreamResponse()
    response.content_type = "application/json"
    prepare_headers(response)
    await response.prepare(call.request)

    def look(engine: Engine, after: int) -> tuple[list[bytes], int, bool]:
        import json

        found, after, any_event = recorded.batch(engine.containers.db, after, since, until, filters)
        return [json.dumps(event.message()).encode() + b"\n" for event in found], after, any_event

    try:
        if since is not None or until is not None:
            lines, after, _ = await blocking(look, after)
            for line in lines:
                await response.write(line)
        while recorded.following(until):
            lines, after, any_event = await blocking(look, after)
            for line in lines:
                await response.write(line)
            if not any_event:
                if call.client_gone():
                    return response
                await asyncio.sleep(recorded.POLL_INTERVAL)
        await response.write_eof()
    except ConnectionResetError:  # the client went away: that ends a follower
        pass
    return response


ROUTES = [
    ("GET", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
    ("POST", "/auth", auth),
    ("GET", "/system/df", disk_usage),
    ("GET", "/events", events),
]
