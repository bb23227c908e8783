"""Image endpoints: list, inspect, history, tag, remove, prune; pull and import
(``/images/create``), push, save (``/get``) and load, calling what the CLI calls.

Pull, push, import, load and save run in a worker thread and stream to the client through
:class:`_Stream`: Docker's JSON messages (one a line, ``\\r\\n`` after each, as dockerd
writes them) or the bytes of an archive. The answer starts with the first of them, so a
failure before it (an unknown manifest, an image that is not there) is an HTTP error as
dockerd's; one after it is the stream's last message, ``{"errorDetail": ..., "error": ...}``.
A client that goes away ends the work at its next message (a pull is cancelled, as
dockerd cancels it).

Registry credentials come from ``X-Registry-Auth`` (base64url JSON of Docker's AuthConfig)
when the client sends some, else from skiff's stored ones (``skiff login``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from typing import cast

from aiohttp import web

from skiff.api.http import Call, answer, blocking, no_content, streaming
from skiff.api.server import prepare_headers
from skiff.errors import InvalidArgument, NotFound, SkiffError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO

    from skiff.engine.engine import Engine
    from skiff.images.reference import Reference
    from skiff.images.service import ImageStore

    Credentials = tuple[str, str] | None

JSON = "application/json"
TAR = "application/x-tar"
CREDITS = 64  # messages or chunks a worker may have on their way before it waits
CHUNK = 1 << 20  # bytes of an archive sent at a time
POLL = 0.5  # seconds a waiting worker looks whether the client is still there


# --- streams from a worker thread -------------------------------------------------------


class _Gone(SkiffError):
    """The client went away: the work stops."""


class _Stream:
    """What a worker thread sends, written to the client in order. The answer starts with
    the first message (``eager``: at once); a worker that is ahead of the client by
    ``CREDITS`` messages waits (and stops when the client is gone)."""

    def __init__(self, content_type: str = JSON) -> None:
        self.content_type = content_type
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.credits = threading.Semaphore(CREDITS)
        self.gone = threading.Event()
        self.response: web.StreamResponse | None = None

    # from the worker thread

    def send(self, data: bytes) -> None:
        while not self.credits.acquire(timeout=POLL):
            if self.gone.is_set():
                raise _Gone()
        if self.gone.is_set():
            raise _Gone()
        self.loop.call_soon_threadsafe(self.queue.put_nowait, data)

    def say(self, value: dict[str, Any]) -> None:
        """One of Docker's JSON messages."""
        self.send(json.dumps(value, separators=(",", ":")).encode() + b"\r\n")

    def _end(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, None)
        except RuntimeError:  # the loop is closed: the server is gone
            pass

    # on the event loop

    async def run(
        self,
        call: Call,
        work: Callable[[Engine], None],
        eager: bool = False,
        errors_in_stream: bool = False,
    ) -> web.StreamResponse:
        """Run ``work(engine)`` in the pool, streaming what it sends. A failure before the
        answer started is raised (an HTTP error) unless ``errors_in_stream``."""

        def guarded(engine: Engine) -> None:
            try:
                work(engine)
            finally:
                self._end()

        if eager:
            await self._start(call)
        worker = asyncio.ensure_future(streaming(guarded))
        worker.add_done_callback(_retrieve)
        failure: BaseException | None = None
        try:
            while (data := await self.queue.get()) is not None:
                if self.response is None:
                    await self._start(call)
                assert self.response is not None
                await self.response.write(data)
                self.credits.release()
            try:
                await worker
            except Exception as e:
                failure = e
        finally:
            self.gone.set()  # a worker still at work (the client left) stops
        if failure is not None:
            if self.response is None and not errors_in_stream:
                raise failure
            if not await self._fail(call, failure):
                assert self.response is not None
                return self.response  # cut off: finishing it fails quietly
        elif self.response is None:
            await self._start(call)
        assert self.response is not None
        await self.response.write_eof()
        return self.response

    async def _start(self, call: Call) -> None:
        response = web.StreamResponse()
        response.content_type = self.content_type
        prepare_headers(response)
        await response.prepare(call.request)
        self.response = response

    async def _fail(self, call: Call, failure: BaseException) -> bool:
        """The failure as the stream's last message; False if the stream cannot say it
        (an archive cut short: the connection is dropped, so the client sees it fail)."""
        if not isinstance(failure, SkiffError):
            import traceback

            traceback.print_exception(failure)
        if self.content_type != JSON:
            transport = call.request.transport
            if transport is not None:
                transport.abort()
            return False
        if self.response is None:
            await self._start(call)
        assert self.response is not None
        message = str(failure) if isinstance(failure, SkiffError) else _bug(failure)
        error = {"errorDetail": {"message": message}, "error": message}
        await self.response.write(json.dumps(error, separators=(",", ":")).encode() + b"\r\n")
        return True


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Take a finished worker's exception (one the handler did not wait for)."""
    if not future.cancelled():
        future.exception()


def _bug(failure: BaseException) -> str:
    return f"{type(failure).__name__}: {failure}"


class _Buffered:
    """A file the worker writes an archive to: it goes out ``CHUNK`` bytes at a time."""

    def __init__(self, stream: _Stream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        if len(self.buffer) >= CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.buffer:
            self.stream.send(bytes(self.buffer))
            self.buffer.clear()


class _Body:
    """The request's body as a file a worker thread reads (an archive to load or import):
    ``read(n)`` gives ``n`` bytes unless the body ends first."""

    def __init__(self, request: web.BaseRequest) -> None:
        self.content = request.content
        self.loop = asyncio.get_running_loop()

    def read(self, n: int = -1) -> bytes:
        return asyncio.run_coroutine_threadsafe(self._read(n), self.loop).result()

    async def _read(self, n: int) -> bytes:
        if n < 0:
            return await self.content.read()
        data = bytearray()
        while len(data) < n:
            chunk = await self.content.read(n - len(data))
            if not chunk:
                break
            data += chunk
        return bytes(data)


def _file(stream: _Body | _Buffered) -> BinaryIO:
    return cast("BinaryIO", stream)


# --- names and credentials -------------------------------------------------------------


def _in_use(engine: Engine) -> Callable[[str], list[str]]:
    return lambda image_id: [c.id for c in engine.containers.using_image(image_id)]


def _repo_tag(repo: str, tag: str) -> str:
    """The reference of ``repo`` and ``tag`` query parameters (Docker's RepoTagReference):
    ``tag`` replaces the repository's own; neither gives ``latest``."""
    from skiff.images import reference as references

    ref = references.parse(repo, default_tag=False)
    if ref.digest:
        raise InvalidArgument("refusing to create a tag with a digest reference")
    if tag:
        ref = ref.with_tag(tag)
    return str(ref if ref.tag else ref.with_tag("latest"))


def _is_digest(text: str) -> bool:
    algorithm, sep, hexa = text.partition(":")
    return bool(sep and algorithm and hexa) and all(c in "0123456789abcdef" for c in hexa)


def _credentials(encoded: str, strict: bool) -> Credentials:
    """``X-Registry-Auth``'s user and password; None for none (stored ones are used). A
    header that is not base64url JSON is a 400 if ``strict`` (push), ignored otherwise
    (pull), as dockerd does."""
    if not encoded.strip():
        return None
    text = encoded.strip().replace("+", "-").replace("/", "_")
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        if strict:
            raise InvalidArgument(f"invalid X-Registry-Auth header: {e}") from None
        return None
    return _auth_config(value)


def _auth_config(value: dict[str, Any]) -> Credentials:
    """Docker's AuthConfig as (user, password): an identity token is sent as the
    password of the user ``<token>`` (how Docker's config.json keeps one)."""
    token = str(value.get("identitytoken") or value.get("IdentityToken") or "")
    if token:
        return ("<token>", token)
    user = str(value.get("username") or value.get("Username") or "")
    password = str(value.get("password") or value.get("Password") or "")
    if not user and not password and value.get("auth"):
        try:
            user, _, password = base64.b64decode(str(value["auth"])).decode().partition(":")
        except ValueError:
            return None
    return (user, password) if user or password else None


# --- list, inspect, history ------------------------------------------------------------


async def list_images(call: Call) -> web.StreamResponse:
    filters = call.filters()
    every = call.flag("all")
    shared = call.flag("shared-size")

    def read(engine: Engine) -> list[dict[str, Any]]:
        from skiff.images.inspect import list_images, shared_sizes

        rows = list_images(engine.images, filters, every)
        if shared:
            sizes = shared_sizes(engine.images.images())
            for row in rows:
                row["SharedSize"] = sizes.get(row["Id"], 0)
        return rows

    rows = await blocking(read)
    for row in rows:
        if call.version >= (1, 44):  # VirtualSize went in API 1.44
            del row["VirtualSize"]
        if call.version < (1, 43) and not row["RepoTags"] and not row["RepoDigests"]:
            row["RepoTags"], row["RepoDigests"] = ["<none>:<none>"], ["<none>@<none>"]
    return answer(rows)


async def inspect(call: Call) -> web.StreamResponse:
    def read(engine: Engine) -> dict[str, Any]:
        from skiff.images.inspect import find_image, inspect_image

        return inspect_image(find_image(engine.images, call.params["name"]))

    value = await blocking(read)
    return answer(_inspect_for_version(value, call.version))


def _inspect_for_version(value: dict[str, Any], version: tuple[int, int]) -> dict[str, Any]:
    """Older APIs' fields: VirtualSize (before 1.44), Container and ContainerConfig (before
    1.45, empty: no image here is committed from a container)."""
    if version >= (1, 45):
        return value
    from skiff.images.inspect import container_config

    out: dict[str, Any] = {}
    for key, field in value.items():
        out[key] = field
        if key == "Created":
            out["Container"] = ""
            out["ContainerConfig"] = container_config(None)
        elif key == "Size" and version < (1, 44):
            out["VirtualSize"] = field
    return out


async def history(call: Call) -> web.StreamResponse:
    def read(engine: Engine) -> list[dict[str, Any]]:
        from skiff.images.inspect import find_image, history

        return history(find_image(engine.images, call.params["name"]))

    return answer(await blocking(read))


# --- tag, remove, prune ----------------------------------------------------------------


async def tag(call: Call) -> web.StreamResponse:
    target = _repo_tag(call.text("repo"), call.text("tag"))

    def act(engine: Engine) -> None:
        from skiff.images.inspect import find_image

        image = find_image(engine.images, call.params["name"])
        engine.images.tag(image.id, target)

    await blocking(act)
    return no_content(201)


async def remove(call: Call) -> web.StreamResponse:
    force = call.flag("force")  # noprune: skiff images have no parent images to prune

    def act(engine: Engine) -> list[tuple[str, str]]:
        from skiff.images.remove import remove_image

        return remove_image(engine.images, call.params["name"], force, _in_use(engine))

    records = await blocking(act)
    return answer([{kind: what} for kind, what in records])


async def prune(call: Call) -> web.StreamResponse:
    filters = call.filters()

    def act(engine: Engine) -> tuple[list[tuple[str, str]], int]:
        from skiff.images.remove import prune

        # dangling=true unless the filters say dangling=false (docker image prune -a)
        return prune(engine.images, False, filters, _in_use(engine))

    records, freed = await blocking(act)
    deleted = [{kind: what} for kind, what in records] or None
    return answer({"ImagesDeleted": deleted, "SpaceReclaimed": freed})


# --- pull and import -------------------------------------------------------------------


async def create(call: Call) -> web.StreamResponse:
    """``fromImage``: pull; ``fromSrc``: import (``-``: the request's body, or a URL)."""
    if call.text("fromImage"):
        return await _pull(call)
    if call.text("fromSrc"):
        return await _import(call)
    raise InvalidArgument("fromImage or fromSrc is required")


def _pull_reference(image: str, tag: str) -> tuple[Reference, bool]:
    """What ``fromImage`` and ``tag`` name (``tag`` may be a digest); whether it is a
    whole repository (no tag anywhere: every tag is pulled)."""
    from skiff.images import reference as references

    ref = references.parse(image, default_tag=False)
    if tag:  # a digest, or a tag that replaces the image's
        ref = references.parse(f"{ref.name}@{tag}") if _is_digest(tag) else ref.with_tag(tag)
    return ref, ref.tag is None and ref.digest is None


async def _pull(call: Call) -> web.StreamResponse:
    ref, every = _pull_reference(call.text("fromImage"), call.text("tag"))
    platform = call.text("platform")
    credentials = _credentials(call.request.headers.get("X-Registry-Auth", ""), strict=False)
    stream = _Stream()

    def work(engine: Engine) -> None:
        from skiff.images import reference
        from skiff.registry.client import Unauthorized
        from skiff.registry.pull import remote_tags

        try:
            if not every:
                _pull_one(engine.images, ref, platform, credentials, stream, status=True)
                return
            fresh = False
            for name in remote_tags(ref, credentials):  # one Status line, as dockerd
                one = reference.parse(name)
                fresh |= _pull_one(engine.images, one, platform, credentials, stream, False)
            verb = "Downloaded newer image" if fresh else "Image is up to date"
            stream.say({"status": f"Status: {verb} for {ref.familiar_name}"})
        except Unauthorized as e:
            # dockerd answers a registry's refusal 500: a 401 makes the docker CLI ask
            # for a login on its terminal
            raise _Refused(str(e)) from None

    return await stream.run(call, work)


class _Refused(SkiffError):
    """The registry refused the credentials (or wanted some)."""

    exit_code = 1
    http_status = 500


def _pull_one(
    store: ImageStore,
    ref: Reference,
    platform: str,
    credentials: Credentials,
    stream: _Stream,
    status: bool,
) -> bool:
    """Pull ``ref`` with dockerd's messages; whether it names a new image."""
    from skiff.registry.pull import pull

    shown = str(ref) if ref.digest else ref.tag  # dockerd's tagOrDigest

    def report(layer: str, what: str, current: int = 0, total: int = 0) -> None:
        if not layer:  # the manifest is found
            stream.say({"status": f"Pulling from {ref.path}", "id": shown})
        elif what:
            stream.say(_progress(layer, what, current, total))

    pulled = pull(store, ref, platform, report, credentials)
    stream.say({"status": f"Digest: {pulled.digest}"})
    if status:
        verb = "Downloaded newer image" if pulled.fresh else "Image is up to date"
        stream.say({"status": f"Status: {verb} for {ref.familiar()}"})
    return pulled.fresh


def _progress(layer: str, status: str, current: int, total: int) -> dict[str, Any]:
    """A layer's message as dockerd writes it: ``progressDetail`` even without bytes."""
    from skiff.registry.messages import message

    value = message(layer, status, current, total)
    out: dict[str, Any] = {"status": status, "progressDetail": value.get("progressDetail", {})}
    if "progress" in value:
        out["progress"] = value["progress"]
    out["id"] = layer
    return out


async def _import(call: Call) -> web.StreamResponse:
    source = call.text("fromSrc")
    repo = call.text("repo")
    name = _repo_tag(repo, call.text("tag")) if repo else None
    changes = call.query.getall("changes", [])
    message = call.text("message") or None
    platform = call.text("platform")
    if platform and platform.split("/")[0].lower() != "linux":
        raise InvalidArgument(f"operating system is not supported: {platform}")
    if source != "-" and not source.startswith(("http://", "https://")):
        raise InvalidArgument(f"fromSrc: not - or an http(s) URL: {source}")
    body = _Body(call.request) if source == "-" else None
    stream = _Stream()

    def work(engine: Engine) -> None:
        from skiff.images.importer import import_tarball

        if body is not None:
            image_id = import_tarball(engine.images, _file(body), name, "-", changes, message)
        else:
            from urllib.error import HTTPError
            from urllib.request import urlopen

            stream.say({"status": f"Downloading from {source}", "progressDetail": {}})
            try:
                with urlopen(source) as remote:
                    image_id = import_tarball(engine.images, remote, name, source, changes, message)
            except HTTPError as e:
                raise InvalidArgument(
                    f"failed to GET {source} with status {e.code} {e.reason}"
                ) from None
            except OSError as e:
                raise InvalidArgument(f'Get "{source}": {e}') from None
        stream.say({"status": image_id})

    return await stream.run(call, work)


# --- push -----------------------------------------------------------------------------


async def push(call: Call) -> web.StreamResponse:
    from skiff.images import reference as references

    ref = references.parse(call.params["name"], default_tag=False)
    if call.text("tag"):
        ref = ref.with_tag(call.text("tag"))
    header = call.request.headers.get("X-Registry-Auth", "")
    if header:
        credentials = _credentials(header, strict=True)
    else:  # the old API's AuthConfig in the body
        try:
            body = await call.json(required=False)
        except InvalidArgument as e:
            raise InvalidArgument(f"bad parameters and missing X-Registry-Auth: {e}") from None
        credentials = _auth_config(body) if isinstance(body, dict) else None
    stream = _Stream()

    def work(engine: Engine) -> None:
        from skiff.registry.push import push

        store = engine.images
        stream.say({"status": f"The push refers to repository [{ref.name}]"})
        if ref.digest:
            raise InvalidArgument("cannot push a digest reference")
        refs = [ref] if ref.tag else [references.parse(t) for t in store.tags_in(ref.name)]
        if not refs:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")

        def report(layer: str, what: str, current: int = 0, total: int = 0) -> None:
            if layer and what:
                stream.say(_progress(layer, what, current, total))

        for one in refs:
            pushed = push(store, one, report, credentials)
            stream.say({"status": f"{one.tag}: digest: {pushed.digest} size: {pushed.size}"})
            aux = {"Tag": one.tag, "Digest": pushed.digest, "Size": pushed.size}
            stream.say({"progressDetail": {}, "aux": aux})

    return await stream.run(call, work)


# --- save and load ---------------------------------------------------------------------


async def save_named(call: Call) -> web.StreamResponse:
    return await _save(call, [call.params["name"]])


async def save(call: Call) -> web.StreamResponse:
    return await _save(call, list(call.query.getall("names", [])))


async def _save(call: Call, names: list[str]) -> web.StreamResponse:
    """A docker-archive (``docker save``); an unknown name is a 404 before it starts."""

    def check(engine: Engine) -> None:
        from skiff.images.inspect import find_image

        for name in names:
            find_image(engine.images, name)

    await blocking(check)
    stream = _Stream(TAR)

    def work(engine: Engine) -> None:
        from skiff.images.archive import save_docker

        out = _Buffered(stream)
        save_docker(engine.images, names, _file(out))
        out.flush()

    return await stream.run(call, work, eager=True)


async def load(call: Call) -> web.StreamResponse:
    """The body is an archive (any of ``skiff load``'s formats); the answer, dockerd's
    lines (``{"stream": "Loaded image: busybox:latest\\n"}``), or its error, in the
    stream. ``quiet`` is accepted: skiff sends no progress either way."""
    body = _Body(call.request)
    stream = _Stream()

    def work(engine: Engine) -> None:
        from skiff.images import archive

        before = archive.tag_owners(engine.images)
        loaded = archive.load(engine.images, _file(body))
        for line in archive.load_messages(before, loaded):
            stream.say({"stream": line + "\n"})

    return await stream.run(call, work, errors_in_stream=True)


ROUTES = [
    ("GET", "/images/json", list_images),
    ("POST", "/images/create", create),
    ("POST", "/images/load", load),
    ("POST", "/images/prune", prune),
    ("GET", "/images/get", save),
    ("GET", "/images/{name*}/json", inspect),
    ("GET", "/images/{name*}/history", history),
    ("GET", "/images/{name*}/get", save_named),
    ("POST", "/images/{name*}/tag", tag),
    ("POST", "/images/{name*}/push", push),
    ("DELETE", "/images/{name*}", remove),
]
