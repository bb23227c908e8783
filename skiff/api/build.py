"""``POST /build`` (``docker build`` with ``DOCKER_BUILDKIT=0``) and ``POST /build/prune``
(``docker builder prune``), as dockerd serves them with its classic builder.

The body is the context: a tar archive, plain or compressed (gzip, bzip2, xz, zstd). It is
extracted, as it arrives, into a workspace of the store (``skiff.build.snapshot``: removed
afterwards, or by the next build if the server died), and the build runs in a thread of
its own, its output streamed as dockerd streams it: ``{"stream": "Step 1/3 : FROM
busybox\\n"}``..., ``{"aux": {"ID": "sha256:..."}}`` at the end of each stage (API 1.30 and
later), then ``Successfully built`` and ``Successfully tagged``. With ``q`` the output is
held back and the answer is ``{"stream": "sha256:...\\n"}`` alone; a failure then sends
what was held, as dockerd does.

Errors, as dockerd reports them: a bad query value (``buildargs`` or ``labels`` that are
not JSON objects of strings, a bad ``t``, ``version=2``) is an HTTP error before anything
is read; so is a failure before the build said anything (a context that is no tar, a
Dockerfile that is missing, ``Cannot locate specified Dockerfile: X``, or does not parse).
Once output went out, the failure is the stream's last message, ``{"errorDetail":
{"message": ...}, "error": ...}``, with ``"code"``, the command's exit status, for a RUN
that failed (the docker CLI exits with it).

The Dockerfile is read from the context with its symlinks resolved inside the context (an
absolute ``dockerfile`` or ``..`` cannot reach the host's files), falling back to
``dockerfile`` for the default name, as dockerd does.

``remote``: an http(s) URL whose content is the context (a tar, compressed or not) or, when
it is not an archive, the Dockerfile of an empty context; the download shows as dockerd's
``Downloading context`` progress. Git URLs are refused (400): skiff clones nothing.
``version=2`` asks for BuildKit, which skiff does not have: 400 ``buildkit is not enabled
on daemon``, dockerd's answer when its ``buildkit`` feature is off (``/_ping`` says
``Builder-Version: 1``).

Accepted and ignored (the classic builder's resource and cache options, which skiff's
builder does not take): ``rm`` and ``forcerm`` (intermediate containers are always
removed, even after a failure), ``cachefrom``, ``extrahosts``, ``shmsize``, ``memory``,
``memswap``, ``cpushares``, ``cpusetcpus``, ``cpusetmems``, ``cpuperiod``, ``cpuquota``,
``cgroupparent``, ``ulimits``, ``outputs``, ``session``, ``buildid`` and the
``X-Registry-Config`` header (a FROM pulls with skiff's stored credentials). They are
still checked as dockerd checks them (``shmsize`` an integer, ``ulimits`` and
``cachefrom`` JSON; ``squash``, ``securityopt`` and an ``isolation`` other than
``default`` refused).

A client that goes away stops the build: at its next output, or in a RUN that runs.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import time

from aiohttp import web

from skiff.api.http import Call, answer, blocking
from skiff.api.images import _Stream
from skiff.errors import InvalidArgument, SkiffError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from skiff.build.builder import BuildOptions
    from skiff.engine.engine import Engine
    from skiff.images.service import Image

_SESSION_REMOTE = "client-session"
_GIT_URL = re.compile(r".git(?:#.+)?$")


# --- the request ----------------------------------------------------------------------


class _Request:
    """What POST /build asks, checked as dockerd checks it (newImageBuildOptions)."""

    def __init__(self, call: Call) -> None:
        from skiff.build.builder import BuildOptions

        version = call.text("version")
        if version == "2":
            raise InvalidArgument("buildkit is not enabled on daemon")
        if version not in ("", "1"):
            raise InvalidArgument(f"invalid version {json.dumps(version)}")
        if call.flag("squash"):
            raise InvalidArgument("squash is only supported with experimental mode")
        if "securityopt" in call.query:
            raise InvalidArgument(
                "The daemon on this platform does not support setting security options on build"
            )
        isolation = call.text("isolation")
        if isolation and isolation.lower() != "default":
            raise InvalidArgument(f"Unsupported isolation: {json.dumps(isolation)}")
        shm = call.text("shmsize")
        if shm:
            try:
                int(shm)
            except ValueError:
                raise InvalidArgument(
                    f"strconv.ParseInt: parsing {json.dumps(shm)}: invalid syntax"
                ) from None
        _json_query(call, "ulimits", "error reading ulimit settings: ")
        cache_from = _json_query(call, "cachefrom", "")
        if cache_from is not None and not isinstance(cache_from, list):
            raise InvalidArgument(
                f"json: cannot unmarshal {_kind(cache_from)} into Go value of type []string"
            )
        network = call.text("networkmode")
        self.quiet = call.flag("q")
        self.remote = call.text("remote")
        self.aux = call.version >= (1, 30)
        self.options: BuildOptions = BuildOptions(
            dockerfile=call.text("dockerfile"),
            tags=_tags(call.query.getall("t", [])),
            build_args=_build_args(call),
            target=call.text("target"),
            no_cache=call.flag("nocache"),
            pull=call.flag("pull"),
            labels=_labels(call),
            network="" if network == "default" else network,
            platform=_platform(call.text("platform")) if call.version >= (1, 32) else "",
            quiet=self.quiet,
        )
        if self.remote:
            _check_remote(self.remote)


def _kind(value: Any) -> str:
    from skiff.api.fields import json_kind

    return json_kind(value)


def _json_query(call: Call, name: str, context: str) -> Any:
    """A query parameter that holds JSON (None when absent or empty)."""
    text = call.text(name)
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError as e:
        raise InvalidArgument(f"{context}{e}") from None


def _string_map(call: Call, name: str, what: str, go_type: str) -> dict[str, str | None]:
    """A query parameter holding a JSON object of strings (or nulls), with dockerd's
    messages ("error reading WHAT: json: cannot unmarshal ...")."""
    prefix = f"error reading {what}: "
    value = _json_query(call, name, prefix)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(
            f"{prefix}json: cannot unmarshal {_kind(value)} into Go value of type {go_type}"
        )
    for item in value.values():
        if item is not None and not isinstance(item, str):
            raise InvalidArgument(
                f"{prefix}json: cannot unmarshal {_kind(item)} into Go value of type string"
            )
    return value


def _build_args(call: Call) -> dict[str, str | None]:
    """``buildargs``: ``{"NAME": "value"}``; ``null`` for one named without a value (the
    builder warns that it was not consumed, or leaves it unset)."""
    return _string_map(call, "buildargs", "build args", "map[string]*string")


def _labels(call: Call) -> dict[str, str]:
    value = _string_map(call, "labels", "labels", "map[string]string")
    return {key: item or "" for key, item in value.items()}


def _tags(names: list[str]) -> list[str]:
    """The ``t`` parameters as dockerd's sanitizeRepoAndTags takes them: empty ones
    skipped, ``latest`` added, each once; none may carry a digest."""
    from skiff.images import reference

    tags: list[str] = []
    for name in names:
        if not name:
            continue
        ref = reference.parse(name)
        if ref.digest:
            raise InvalidArgument("build tag cannot contain a digest")
        if str(ref) not in tags:
            tags.append(str(ref))
    return tags


def _platform(text: str) -> str:
    """``platform``: an os/arch[/variant] of Linux (or an architecture alone)."""
    if not text:
        return ""
    system = text.split("/")[0].lower()
    if "/" in text and system != "linux":
        raise InvalidArgument(f"unsupported os {system}")
    if system in ("windows", "darwin", "freebsd"):
        raise InvalidArgument(f"unsupported os {system}")
    return text


def _is_git(url: str) -> bool:
    return (url.startswith(("http://", "https://")) and bool(_GIT_URL.search(url))) or (
        url.startswith(("git://", "github.com/", "git@"))
    )


def _check_remote(url: str) -> None:
    if url == _SESSION_REMOTE:
        raise InvalidArgument(
            "experimental session with v1 builder is no longer supported, use builder "
            "version v2 (BuildKit) instead"
        )
    if _is_git(url):
        raise InvalidArgument(f"git build contexts are not supported: {url}")
    if not url.startswith(("http://", "https://")):
        raise InvalidArgument(f"remoteURL ({url}) could not be recognized as URL")


# --- the output -----------------------------------------------------------------------


class _Output:
    """The build's messages to the client, or held back (``q``) until the end."""

    def __init__(self, stream: _Stream, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.held: list[dict[str, Any]] = []
        self.sent = False

    def say(self, value: dict[str, Any]) -> None:
        if self.quiet:
            self.held.append(value)
        else:
            self.sent = True
            self.stream.say(value)

    def text(self, text: str) -> None:
        """The classic builder's output (its Stdout formatter)."""
        if text:
            self.say({"stream": text})

    def fail(self, error: SkiffError) -> None:
        """``error`` as the stream's last message, after what was held back; raised (an
        HTTP error) when nothing was said before it, as dockerd answers."""
        from skiff.build.run import RunFailed

        for value in self.held:
            self.sent = True
            self.stream.say(value)
        self.held.clear()
        if not self.sent:
            raise error
        message = str(error)
        detail: dict[str, Any] = {"message": message}
        if isinstance(error, RunFailed):
            detail = {"code": error.exit_code, "message": message}
        self.stream.say({"errorDetail": detail, "error": message})


# --- the context ----------------------------------------------------------------------


class _BodyReader(io.RawIOBase):
    """The request's body, read from a worker thread, as it arrives."""

    def __init__(self, request: web.BaseRequest) -> None:
        super().__init__()
        self.content = request.content
        self.loop = asyncio.get_running_loop()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        future = asyncio.run_coroutine_threadsafe(self._read(len(buffer)), self.loop)
        data = future.result()
        buffer[: len(data)] = data
        return len(data)

    async def _read(self, size: int) -> bytes:
        from aiohttp.http_exceptions import HttpProcessingError
        from aiohttp.web_protocol import RequestPayloadError

        try:
            return await self.content.read(size)
        except (RequestPayloadError, HttpProcessingError, ValueError, ConnectionError) as e:
            raise InvalidArgument(f"invalid request body: {e}") from None


def _dockerfile(root: str, name: str, directory: str) -> str:
    """The Dockerfile ``name`` of the context ``root``, copied to ``directory``: its
    path there. Symlinks resolve inside the context (as dockerd's scoped paths): a
    Dockerfile cannot be a file of the host."""
    import shutil
    import stat

    from skiff.linux.openat2 import O_PATH, open_in_root

    name = name or "Dockerfile"
    missing = SkiffError(f"Cannot locate specified Dockerfile: {name}")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY  # a fifo does not block the open
    root_fd = os.open(root, O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fd = open_in_root(root_fd, name, flags)
        except FileNotFoundError:
            if name != "Dockerfile":
                raise missing from None
            try:
                fd = open_in_root(root_fd, "dockerfile", flags)
            except OSError:
                raise missing from None
        except OSError:
            raise missing from None
    finally:
        os.close(root_fd)
    path = os.path.join(directory, "Dockerfile")
    with os.fdopen(fd, "rb") as source:
        if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
            raise missing
        with open(path, "wb") as target:
            shutil.copyfileobj(source, target)
    return path


def _prepare(
    request: _Request, body: BinaryIO | None, directory: str, output: _Output
) -> tuple[str, str]:
    """The context directory (in ``directory``) and the Dockerfile's path."""
    from skiff.build.context import extract_context
    from skiff.build.files import is_archive

    root = os.path.join(directory, "context")
    os.mkdir(root, 0o755)
    if body is not None:
        extract_context(body, root)
        return root, _dockerfile(root, request.options.dockerfile, directory)
    from skiff.build.files import fetch
    from skiff.registry.messages import message

    def progress(done: int, total: int) -> None:
        output.say(message(request.remote, "Downloading context", done, total))

    download, _ = fetch(request.remote, directory, progress)
    if not os.path.getsize(download):
        raise InvalidArgument(f"failed to download {request.remote}: empty response")
    if not is_archive(download):  # the Dockerfile of an empty context
        path = os.path.join(directory, "Dockerfile")
        os.replace(download, path)
        return root, path
    with open(download, "rb") as f:
        os.unlink(download)
        extract_context(f, root)
    return root, _dockerfile(root, request.options.dockerfile, directory)


# --- the handlers ---------------------------------------------------------------------


async def build(call: Call) -> web.StreamResponse:
    request = _Request(call)
    body = None if request.remote else io.BufferedReader(_BodyReader(call.request), 1 << 16)
    stream = _Stream()
    output = _Output(stream, request.quiet)

    def work(engine: Engine) -> None:
        from skiff.build.context import BuildContext
        from skiff.build.snapshot import workspace

        try:
            with workspace(engine.paths, "context") as directory:
                root, dockerfile = _prepare(request, body, directory, output)
                request.options.dockerfile = dockerfile
                context = BuildContext.open(root)
                image_id = _run(engine, context, request, output)
        except SkiffError as e:
            output.fail(e)
            return
        if request.quiet:
            stream.say({"stream": image_id + "\n"})

    return await stream.run(call, work)


def _run(engine: Engine, context: Any, request: _Request, output: _Output) -> str:
    """The build, each stage's image said as dockerd's aux message (API 1.30 and later);
    a RUN stops when the client goes."""
    from skiff.build.builder import build

    def on_stage(image_id: str) -> None:
        if request.aux:
            output.say({"aux": {"ID": image_id}})

    return build(
        engine.images,
        lambda: engine,
        context,
        request.options,
        output.text,
        on_stage,
        output.stream.gone.is_set,
    )


async def prune(call: Call) -> web.StreamResponse:
    """``docker builder prune``: skiff's build cache is the intermediate images its
    builder made (the ``build_cache`` table: a step's image, found again by its parent and
    the step). Those that nothing needs go: no name, no image built on them, no container
    made from them, no build at work on them (its lease); one that goes can leave its
    parent needless in turn. The intermediate images a tagged image is built on are its
    parents and stay as long as it does (as dockerd's classic builder keeps them), so
    ``all`` removes nothing more. ``keep-storage``: the oldest go first, until what stays
    is within it. Filters: ``until``, ``id``, ``parent`` and ``type`` (``regular``: every
    one of them); BuildKit's others (``description``, ``inuse``, ``shared``, ``private``)
    describe records skiff does not have and are refused.

    The answer is dockerd's: ``CachesDeleted`` the removed images' IDs (null for none) and
    ``SpaceReclaimed`` the bytes freed on disk."""
    filters = call.filters()
    keep = call.text("keep-storage") or "0"
    try:
        keep_bytes = int(keep)
    except ValueError:
        raise InvalidArgument(
            f"keep-storage is in bytes and expects an integer, got {keep}: "
            f'strconv.Atoi: parsing "{keep}": invalid syntax'
        ) from None
    for name in filters:
        if name in ("description", "inuse", "shared", "private"):
            raise InvalidArgument(f"failed to prune build cache: filter '{name}' is not supported")
        if name not in ("until", "id", "parent", "type"):
            raise InvalidArgument(f"failed to prune build cache: Invalid filter '{name}'")
    until = None
    if filters.get("until"):
        from skiff.images.remove import parse_until

        if len(filters["until"]) > 1:
            raise InvalidArgument("more than one until filter specified")
        until = parse_until(filters["until"][0], time.time())

    def act(engine: Engine) -> tuple[list[str], int]:
        return prune_cache(engine, filters, until, keep_bytes)

    deleted, freed = await blocking(act)
    return answer({"CachesDeleted": deleted or None, "SpaceReclaimed": freed})


def prune_cache(
    engine: Engine, filters: dict[str, list[str]], until: float | None, keep: int
) -> tuple[list[str], int]:
    """Remove the build cache's images that nothing needs (see ``prune``); their IDs and
    the bytes freed."""
    from skiff.build.snapshot import clean_abandoned
    from skiff.images.inspect import created_key, footprint

    clean_abandoned(engine.paths)  # first what killed builds left (snapshots, RUN containers)
    store = engine.images
    deleted: list[str] = []
    sizes: dict[str, int] = {}

    def wanted(image: Image) -> bool:
        if until is not None:
            seconds, nanos = created_key(image)
            if seconds + nanos / 1e9 > until:
                return False
        if not _prefixed(image.id, filters.get("id")):
            return False
        if not _prefixed(store.parent_of(image.id) or "", filters.get("parent")):
            return False
        types = filters.get("type") or []
        return not types or "regular" in types

    while True:
        cached = {str(r["image_id"]) for r in store.db.execute("SELECT image_id FROM build_cache")}
        leased = {str(r["digest"]) for r in store.db.execute("SELECT digest FROM leases")}
        children = store.with_children()
        candidates = [
            image
            for image in store.images()
            if image.id in cached
            and image.id not in children
            and image.id not in leased
            and store.is_dangling(image)
            and not engine.containers.using_image(image.id)
            and wanted(image)
        ]
        candidates.sort(key=created_key)  # the oldest first
        if keep:
            usage = _cache_usage(store, cached)
            chosen: list[Image] = []
            for image in candidates:
                if usage <= keep:
                    break
                chosen.append(image)
                usage -= sum(footprint(image).values())  # at most: layers are shared
            candidates = chosen
        if not candidates:
            break
        for image in candidates:
            sizes.update(footprint(image))
            store.delete_image(image.id)
            deleted.append(image.id)
    freed = 0
    for item, size in sizes.items():
        if ":" in item:
            gone = not store.content.exists(item)
        else:
            gone = not os.path.isdir(os.path.join(store.layer_dirs.root, item))
        if gone:
            freed += size
    return deleted, freed + store.collect_garbage()


def _prefixed(image_id: str, wanted: list[str] | None) -> bool:
    """Whether ``image_id`` is one of ``wanted`` (IDs or their prefixes; none: any)."""
    if not wanted:
        return True
    hexa = image_id.removeprefix("sha256:")
    return bool(hexa) and any(w and hexa.startswith(w.removeprefix("sha256:")) for w in wanted)


def _cache_usage(store: Any, cached: set[str]) -> int:
    """Bytes on disk of what the build cache's images hold (each item once)."""
    from skiff.images.inspect import footprint

    items: dict[str, int] = {}
    for image in store.images():
        if image.id in cached:
            items.update(footprint(image))
    return sum(items.values())


ROUTES = [
    ("POST", "/build", build),
    ("POST", "/build/prune", prune),
]
