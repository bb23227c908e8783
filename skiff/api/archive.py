"""A container's files through the API: ``HEAD``, ``GET`` and ``PUT
/containers/{id}/archive`` (``docker cp`` both ways, docker-py's get_archive and
put_archive), on skiff.engine.copy like ``skiff cp``."""

from __future__ import annotations

import asyncio
import base64
import json
import stat

from aiohttp import web

from skiff.api.http import Call, blocking, streaming
from skiff.api.server import prepare_headers
from skiff.api.streams import ThreadReader, ThreadWriter
from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.engine.copy import PathStat
    from skiff.engine.engine import Engine

# Go's os.FileMode type bits, which the header carries instead of st_mode's
_GO_TYPES = (
    (stat.S_ISDIR, 1 << 31),
    (stat.S_ISLNK, 1 << 27),
    (stat.S_ISBLK, 1 << 26),
    (stat.S_ISFIFO, 1 << 25),
    (stat.S_ISSOCK, 1 << 24),
    (stat.S_ISCHR, (1 << 26) | (1 << 21)),
)


def go_file_mode(mode: int) -> int:
    """An ``st_mode`` as Go's ``os.FileMode``."""
    value = mode & 0o777
    for test, bit in _GO_TYPES:
        if test(mode):
            value |= bit
    if mode & stat.S_ISUID:
        value |= 1 << 23
    if mode & stat.S_ISGID:
        value |= 1 << 22
    if mode & stat.S_ISVTX:
        value |= 1 << 20
    return value


def path_stat_header(path_stat: PathStat) -> str:
    """``X-Docker-Container-Path-Stat``: base64 of Docker's ContainerPathStat JSON."""
    from skiff.engine.timestamps import rfc3339_nano

    document = {
        "name": path_stat.name,
        "size": path_stat.size,
        "mode": go_file_mode(path_stat.mode),
        "mtime": go_rfc3339_nano(rfc3339_nano(int(path_stat.mtime * 1e9))),
        "linkTarget": path_stat.link_target,
    }
    return base64.b64encode(json.dumps(document).encode()).decode()


def go_rfc3339_nano(text: str) -> str:
    """Go's RFC3339Nano drops the fraction's trailing zeros (and an all-zero fraction)."""
    import re

    found = re.fullmatch(r"(.*?)\.(\d+)(.*)", text)
    if not found:
        return text
    fraction = found[2].rstrip("0")
    return f"{found[1]}.{fraction}{found[3]}" if fraction else f"{found[1]}{found[3]}"


def _path(call: Call) -> str:
    path = call.text("path")
    if not path:
        raise InvalidArgument("path cannot be empty")
    return path


async def head(call: Call) -> web.StreamResponse:
    path = _path(call)

    def read(engine: Engine) -> PathStat:
        from skiff.engine.copy import stat_path

        return stat_path(engine, call.params["id"], path)

    response = web.Response(status=200)
    response.headers["X-Docker-Container-Path-Stat"] = path_stat_header(await blocking(read))
    return response


async def get(call: Call) -> web.StreamResponse:
    path = _path(call)
    loop = asyncio.get_running_loop()
    response = web.StreamResponse()
    response.content_type = "application/x-tar"

    def stream(engine: Engine) -> None:
        from skiff.engine.copy import copy_from

        with copy_from(engine, call.params["id"], path) as archive:
            response.headers["X-Docker-Container-Path-Stat"] = path_stat_header(archive.stat)
            prepare_headers(response)
            asyncio.run_coroutine_threadsafe(response.prepare(call.request), loop).result()
            archive.write(ThreadWriter(response, loop))  # type: ignore[arg-type]

    await streaming(stream)
    await response.write_eof()
    return response


async def put(call: Call) -> web.StreamResponse:
    path = _path(call)
    copy_uid_gid = call.flag("copyUIDGID")
    no_overwrite = call.flag("noOverwriteDirNonDir", True)
    loop = asyncio.get_running_loop()

    def extract(engine: Engine) -> None:
        from skiff.engine.copy import copy_to

        copy_to(
            engine,
            call.params["id"],
            path,
            ThreadReader(call.request, loop),  # type: ignore[arg-type]
            copy_uid_gid=copy_uid_gid,
            no_overwrite_dir_non_dir=no_overwrite,
        )

    await streaming(extract)
    return web.Response(status=200)


ROUTES = [
    ("HEAD", "/containers/{id}/archive", head),
    ("GET", "/containers/{id}/archive", get),
    ("PUT", "/containers/{id}/archive", put),
]
