"""``push``: an image's layers, config and manifest into a repository of a registry.

The manifest is the one the image came with when the store has it (a pulled or loaded
image keeps its digest wherever it is pushed), else a Docker schema 2 manifest made for
it, whose layers are gzip-compressed as ``docker push`` does (ImageStore.compressed_blob
keeps each compressed layer, so the next push sends the same blob).

Each blob is skipped if the repository has it (HEAD), mounted from another repository of
the registry that the image was pulled from or pushed to (a cross-repository mount: no
bytes move; three are asked), or uploaded: in one PUT up to ``MONOLITHIC_LIMIT``, in
PATCH chunks beyond.
Layers upload five at a time (Docker's ``max-concurrent-uploads``); the manifest goes
last, and its digest becomes one of the image's RepoDigests.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import cast

from skiff.errors import InvalidArgument, NotFound
from skiff.images import digest as digests
from skiff.images import manifest as manifests
from skiff.images import mediatypes as mt
from skiff.registry.client import ATTEMPTS, Client, RegistryError, Unauthorized, backoff

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

    from skiff.images.reference import Reference
    from skiff.images.service import Image, ImageStore

    Report = Callable[..., None]

UPLOADS = 5
MOUNT_TRIES = 3  # repositories asked to mount a blob before it is uploaded, as dockerd
MONOLITHIC_LIMIT = 16 << 20
CHUNK = 32 << 20


class Pushed:
    def __init__(self, digest: str, size: int) -> None:
        self.digest = digest
        self.size = size


class _Blob:
    """A blob to push, and the short ID its progress is reported under ("" for none)."""

    def __init__(self, digest: str, size: int, shown: str) -> None:
        self.digest = digest
        self.size = size
        self.shown = shown


def push(
    store: ImageStore,
    ref: Reference,
    report: Report = lambda layer, status, current=0, total=0: None,
    credentials: tuple[str, str] | None = None,
) -> Pushed:
    """Push the image ``ref`` names to ``ref``'s repository; ``credentials`` (user,
    password) stand in for the stored ones (the Engine API's X-Registry-Auth)."""
    if ref.digest:
        raise InvalidArgument("cannot push a digest reference")
    try:
        image = store.get(str(ref))
    except NotFound:
        if store.tags_in(ref.name):
            raise NotFound(f"tag does not exist: {ref.familiar()}") from None
        raise NotFound(
            f"An image does not exist locally with the tag: {ref.familiar_name}"
        ) from None
    sources = _mount_sources(image, ref)
    client = Client(ref.domain, ref.path, actions="pull,push")
    if credentials is not None:
        client.credentials = credentials
    client.scopes += [f"repository:{source}:pull" for source in sources]
    client.check(client.request("GET", "/v2/"), "checking the registry").read()
    lease = store.lease()
    try:
        return _push(store, image, ref, client, sources, lease, report)
    except Unauthorized as e:  # docker push says what the registry said, no request
        raise Unauthorized(e.detail) from None
    finally:
        store.release(lease)


def _push(
    store: ImageStore,
    image: Image,
    ref: Reference,
    client: Client,
    sources: list[str],
    lease: str,
    report: Report,
) -> Pushed:
    media_type, manifest_bytes, layers = _manifest(store, image, lease)
    config = _Blob(image.id, len(image.config_bytes), "")
    for layer in reversed(layers):  # Docker lists the top layer first
        report(layer.shown, "Preparing")
    uploader = _Uploader(store, client, sources, report)
    with ThreadPoolExecutor(UPLOADS) as pool:
        for future in [pool.submit(uploader.upload, layer) for layer in reversed(layers)]:
            future.result()
    uploader.upload(config)
    digest = _put_manifest(client, ref.tag or "latest", media_type, manifest_bytes)
    store.hold(lease, digest)
    store.content.put(manifest_bytes, digest)
    store.add_names(image.id, (), [f"{ref.name}@{digest}"], [digest])
    return Pushed(digest, len(manifest_bytes))


def _mount_sources(image: Image, ref: Reference) -> list[str]:
    """Other repositories of the registry that hold the image (its RepoDigests there)."""
    from skiff.images import reference

    sources = []
    for name in image.repo_digests:
        other = reference.parse(name)
        if other.domain == ref.domain and other.path != ref.path and other.path not in sources:
            sources.append(other.path)
    return sources


def _manifest(store: ImageStore, image: Image, lease: str) -> tuple[str, bytes, list[_Blob]]:
    """(media type, bytes, layer blobs) of the manifest to push."""
    stored = store.stored_manifest(image)
    if stored is not None:
        manifest = manifests.parse_manifest(stored[1])
        diff_ids = image.config["rootfs"]["diff_ids"]
        blobs = [
            _Blob(d["digest"], d["size"], digests.hex_of(diff_id)[:12])
            for d, diff_id in zip(manifest["layers"], diff_ids, strict=True)
        ]
        return manifest["mediaType"], stored[1], blobs
    layers = []
    blobs = []
    for row in image.layers():
        blob, media_type = store.compressed_blob(lease, row)
        size = store.content.size(blob)
        layers.append((media_type, blob, size))
        blobs.append(_Blob(blob, size, digests.hex_of(row["diff_id"])[:12]))
    if any(mt.layer_compression(media_type) == "zstd" for media_type, _, _ in layers):
        descriptors = [
            manifests.descriptor(_OCI_TYPES[mt.layer_compression(t)], d, s) for t, d, s in layers
        ]
        config = manifests.descriptor(mt.OCI_CONFIG, image.id, len(image.config_bytes))
        return mt.OCI_MANIFEST, manifests.oci_manifest(config, descriptors), blobs
    # Docker's layout: indented by three, each descriptor's size before its digest
    descriptors = [
        {"mediaType": _DOCKER_TYPES[mt.layer_compression(t)], "size": s, "digest": d}
        for t, d, s in layers
    ]
    config = {"mediaType": mt.DOCKER_CONFIG, "size": len(image.config_bytes), "digest": image.id}
    data = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.DOCKER_MANIFEST,
            "config": config,
            "layers": descriptors,
        },
        indent=3,
    ).encode()
    return mt.DOCKER_MANIFEST, data, blobs


_DOCKER_TYPES = {"gzip": mt.DOCKER_LAYER_GZIP, "none": mt.DOCKER_LAYER}
_OCI_TYPES = {"gzip": mt.OCI_LAYER_GZIP, "none": mt.OCI_LAYER, "zstd": mt.OCI_LAYER_ZSTD}


class _Uploader:
    def __init__(
        self, store: ImageStore, client: Client, sources: list[str], report: Report
    ) -> None:
        self.store = store
        self.client = client
        self.sources = sources
        self.report = report
        self.base = f"/v2/{client.repository}/blobs"

    def upload(self, blob: _Blob) -> None:
        """Skip, mount or upload one blob, retrying with backoff what the registry or the
        connection failed (not what it refused)."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                status = self._upload(blob)
                break
            except Unauthorized:
                raise
            except RegistryError:
                if attempt == ATTEMPTS:
                    raise
                self.client.drop_connection()
                time.sleep(backoff(attempt))
        if blob.shown:
            self.report(blob.shown, status)

    def _upload(self, blob: _Blob) -> str:
        head = self.client.request("HEAD", f"{self.base}/{blob.digest}")
        head.read()
        if head.status == 200:
            return "Layer already exists"
        if head.status not in (404, 405):
            self.client.check(head, f'Head "{head.url}"')
        for source in self.sources[:MOUNT_TRIES]:
            query = urllib.parse.urlencode({"mount": blob.digest, "from": source})
            response = self.client.request("POST", f"{self.base}/uploads/?{query}")
            response.read()
            if response.status == 201:
                return f"Mounted from {source}"
            if response.status == 202:  # not there: the upload session it started goes
                self.client.request("DELETE", self._path(response.header("Location"))).read()
        response = self.client.check(
            self.client.request("POST", f"{self.base}/uploads/"), "starting an upload"
        )
        response.read()
        location = response.header("Location")
        if not location:
            raise RegistryError(f"{self.client.host}: no upload location for {blob.digest}")
        with self.store.content.open(blob.digest) as stream:
            if blob.size <= MONOLITHIC_LIMIT:
                self._put(location, blob, stream, blob.size)
            else:
                self._chunks(location, blob, stream)
        return "Pushed"

    def _chunks(self, location: str, blob: _Blob, source: BinaryIO) -> None:
        offset = 0
        while offset < blob.size:
            length = min(CHUNK, blob.size - offset)
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(length),
                "Content-Range": f"{offset}-{offset + length - 1}",
            }
            response = self.client.request(
                "PATCH", self._path(location), headers, _slice(source, length)
            )
            self.client.check(response, f"uploading {blob.digest}").read()
            location = response.header("Location") or location
            offset += length
            if blob.shown:
                self.report(blob.shown, "Pushing", offset, blob.size)
        self._put(location, blob, None, 0)

    def _put(self, location: str, blob: _Blob, source: BinaryIO | None, length: int) -> None:
        path = self._path(location)
        path += ("&" if "?" in path else "?") + urllib.parse.urlencode({"digest": blob.digest})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(length)}
        body = b"" if source is None else _slice(source, length)
        response = self.client.request("PUT", path, headers, body)
        self.client.check(response, f"uploading {blob.digest}").read()

    def _path(self, location: str) -> str:
        """An upload Location (absolute or not) as a path on this client's registry."""
        parts = urllib.parse.urlsplit(location)
        return parts.path + (f"?{parts.query}" if parts.query else "")


class _Slice:
    """The next ``length`` bytes of a file, read by http.client as a request body."""

    def __init__(self, source: BinaryIO, length: int) -> None:
        self.source = source
        self.left = length

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n < 0 else min(n, self.left)
        data = self.source.read(n)
        self.left -= len(data)
        return data


def _slice(source: BinaryIO, length: int) -> BinaryIO:
    return cast("BinaryIO", _Slice(source, length))


def _put_manifest(client: Client, tag: str, media_type: str, data: bytes) -> str:
    response = client.request(
        "PUT",
        f"/v2/{client.repository}/manifests/{tag}",
        {"Content-Type": media_type},
        data,
    )
    client.check(response, f'Put "{response.url}"').read()
    digest = digests.of_bytes(data)
    answered = response.header("Docker-Content-Digest")
    if answered and answered != digest:
        raise RegistryError(f"the registry stored manifest {answered}, not {digest}")
    return digest
