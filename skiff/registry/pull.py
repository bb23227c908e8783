"""``pull``: a manifest (through an index, for this machine's platform or ``--platform``),
its config and its layers into the image store, each verified by digest.

Layers download three at a time (Docker's ``max-concurrent-downloads``), and each is
decompressed and applied into its own directory while its bytes arrive (skiff.registry.
download), all layers at once: Docker applies one layer after the other. A layer whose
directory exists already is not fetched ("Already exists"). Docker Hub's images come from
skiff.toml's ``[registries] mirrors`` first. Everything fetched is held by a lease until the
image is registered: a failed pull leaves no blob and no layer behind, only the partial
downloads that the next pull resumes.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import cast

from skiff.errors import InvalidArgument, NotFound
from skiff.images import digest as digests
from skiff.images import manifest as manifests
from skiff.images import mediatypes as mt
from skiff.images.service import ImageStore, LayerRecord
from skiff.registry.client import Client, RegistryError, Unauthorized, registry_settings
from skiff.registry.download import Cancelled, Download

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO

    from skiff.images.reference import Reference

    Report = Callable[..., None]

DOWNLOADS = 3
CHUNK = 1 << 20
ACCEPT = ", ".join((mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST))
MANIFEST_LIMIT = 4 << 20


class Pulled:
    def __init__(self, image_id: str, digest: str, fresh: bool) -> None:
        self.image_id = image_id
        self.digest = digest
        self.fresh = fresh  # False: the reference already named this image


def host_platform() -> tuple[str, str]:
    machine = os.uname().machine
    return "linux", {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def parse_platform(text: str) -> tuple[str, str, str]:
    """``os/arch[/variant]`` (Docker's --platform)."""
    parts = text.lower().split("/")
    if len(parts) == 1 and parts[0]:
        return "linux", parts[0], ""
    if len(parts) in (2, 3) and all(parts):
        return parts[0], parts[1], parts[2] if len(parts) == 3 else ""
    raise InvalidArgument(f'"{text}": unknown operating system or architecture: invalid argument')


def pull(
    store: ImageStore,
    ref: Reference,
    platform: str = "",
    report: Report = lambda layer, status, current=0, total=0: None,
    credentials: tuple[str, str] | None = None,
) -> Pulled:
    """Pull ``ref``; ``report(short_digest, status, current, total)`` tells each layer's
    progress (bytes for "Downloading" and "Extracting"), and ``report("", "")`` that the
    manifest was found. ``credentials`` (user, password) stand in for the stored ones (the
    Engine API's X-Registry-Auth)."""
    wanted = parse_platform(platform) if platform else (*host_platform(), "")
    name = str(ref)
    client, (manifest_bytes, media_type, digest) = _resolve(ref, name, credentials)
    if ref.digest and digest != ref.digest:
        raise InvalidArgument(f"manifest verification failed for digest {ref.digest}")
    top_digest = digest  # the list's, for an index: what Docker reports and records
    if media_type in mt.INDEXES:
        entry = _select(
            manifests.parse_index(manifest_bytes, media_type)["manifests"], wanted, name
        )
        manifest_bytes, media_type, digest = _manifest(client, entry["digest"], name)
        if digest != entry["digest"]:
            raise InvalidArgument(f"manifest verification failed for digest {entry['digest']}")
        if media_type in mt.INDEXES:  # one level only, as Docker: no loop, no deep chain
            raise InvalidArgument(
                f"{name}: manifest list entry {digest} is itself a manifest list:"
                " nested manifest lists are not supported"
            )
    manifest = manifests.parse_manifest(manifest_bytes, media_type)
    repo_digest = f"{ref.name}@{top_digest}"
    tags = [name] if ref.digest is None else []
    current = _current(store, ref, repo_digest)
    report("", "")  # found: the pull starts
    held = store.db.execute(
        "SELECT image_id FROM image_manifests WHERE digest = ?", (digest,)
    ).fetchone()
    if held is None and store.content.exists(manifest["config"]["digest"]):
        held = store.db.execute(  # the same image, pulled or loaded under another name
            "SELECT id AS image_id FROM images WHERE id = ?", (manifest["config"]["digest"],)
        ).fetchone()
    if held is not None:  # the image is here: its names, nothing to fetch
        lease = store.lease()
        try:
            store.hold(lease, digest)
            store.content.put(manifest_bytes, digest)
            store.add_names(held["image_id"], tags, [repo_digest], [digest])
        finally:
            store.release(lease)
        return Pulled(held["image_id"], top_digest, fresh=current != held["image_id"])
    store.clean_abandoned()  # what a killed pull left, before this one adds its own
    lease = store.lease()
    try:
        config = _blob_bytes(
            client, manifest["config"]["digest"], "config", manifest["config"]["size"]
        )
        parsed = manifests.parse_config(config)
        actual = (parsed.get("os"), parsed.get("architecture"))
        if platform and actual != wanted[:2]:
            raise NotFound(
                f"image with reference {name} was found but does not match the specified "
                f"platform: wanted {platform}, actual: {actual[0]}/{actual[1]}"
            )
        diff_ids = parsed["rootfs"]["diff_ids"]
        if len(diff_ids) != len(manifest["layers"]):
            raise InvalidArgument(f"{name}: the manifest's layers do not match its config")
        layers = _Layers(store, lease, client, report).fetch(manifest["layers"], diff_ids)
        store.hold(lease, digests.of_bytes(config))
        store.content.put(config)
        store.hold(lease, digest)
        store.content.put(manifest_bytes, digest)
        image_id = store.register(
            config, layers, tags, repo_digests=[repo_digest], manifest_digests=[digest]
        )
    finally:
        store.release(lease)
    return Pulled(image_id, top_digest, fresh=current != image_id)


def _resolve(
    ref: Reference, name: str, credentials: tuple[str, str] | None = None
) -> tuple[Client, tuple[bytes, str, str]]:
    """The client of the registry (or docker.io's first mirror) that has the manifest."""
    endpoints: list[str] = []
    if ref.domain == "docker.io":
        endpoints = [str(m) for m in registry_settings().get("mirrors") or []]
    for endpoint in endpoints:
        client = _client(ref, credentials, endpoint)
        try:
            return client, _manifest(client, ref.digest or ref.tag or "latest", name)
        except (RegistryError, NotFound):
            continue  # the next mirror, then Docker Hub itself, as dockerd does
    client = _client(ref, credentials)
    return client, _manifest(client, ref.digest or ref.tag or "latest", name)


def _client(ref: Reference, credentials: tuple[str, str] | None, endpoint: str = "") -> Client:
    client = Client(ref.domain, ref.path, endpoint=endpoint)
    if credentials is not None:
        client.credentials = credentials
    return client


def remote_tags(bare: Reference, credentials: tuple[str, str] | None = None) -> list[str]:
    """Every tag of a repository, as the registry lists them, as references (``pull
    --all-tags``)."""
    client = _client(bare, credentials)
    response = client.check(client.get("tags/list"), f"listing the tags of {bare.name}")
    tags = response.json().get("tags") or []
    if not tags:
        raise NotFound(f"no tags found for {bare.familiar_name}")
    return [f"{bare.name}:{tag}" for tag in sorted(tags)]


def _current(store: ImageStore, ref: Reference, repo_digest: str) -> str | None:
    """The image the reference names before the pull, if any."""
    try:
        return store.get(repo_digest if ref.digest else str(ref)).id
    except (NotFound, InvalidArgument):
        return None


def _short(digest: str) -> str:
    return digest.partition(":")[2][:12]


def _manifest(client: Client, reference: str, name: str) -> tuple[bytes, str, str]:
    """A manifest or index by tag or digest: its bytes, media type and digest."""
    path = f"manifests/{reference}"
    try:
        response = client.get(path, {"Accept": ACCEPT})
    except Unauthorized as e:
        raise Unauthorized(
            f"pull access denied for {name.rpartition(':')[0] if '@' not in name else name}"
            f", repository does not exist or may require 'docker login': {e.detail}"
        ) from None
    if response.status == 404:
        response.read()
        raise NotFound(f"manifest for {name} not found: manifest unknown: manifest unknown")
    client.check(response, f'Get "{response.url}"')
    body = response.read(MANIFEST_LIMIT + 1)
    if len(body) > MANIFEST_LIMIT:
        raise InvalidArgument(f"{name}: manifest larger than {MANIFEST_LIMIT} bytes")
    media_type = response.header("Content-Type").split(";")[0].strip()
    if media_type not in (*mt.INDEXES, *mt.MANIFESTS):
        media_type = ""  # parse_* read mediaType from the body
    return body, media_type, digests.of_bytes(body)


def _select(
    entries: list[dict[str, Any]], wanted: tuple[str, str, str], name: str
) -> dict[str, Any]:
    os_name, arch, variant = wanted
    matching = [
        e
        for e in entries
        if (e.get("platform") or {}).get("os") == os_name
        and (e.get("platform") or {}).get("architecture") == arch
        and (not variant or (e.get("platform") or {}).get("variant") == variant)
    ]
    if not matching:
        found = f"{os_name}/{arch}/{variant}" if variant else f"{os_name}/{arch}"
        raise NotFound(f"no matching manifest for {found} in the manifest list entries")
    return matching[0]


def _blob_bytes(client: Client, digest: str, what: str, declared: int | None = None) -> bytes:
    if declared is not None and declared > MANIFEST_LIMIT:  # refused before it is fetched
        raise InvalidArgument(
            f"{what} {digest}: declared size {declared} is larger than {MANIFEST_LIMIT} bytes"
        )
    response = client.check(client.get(f"blobs/{digest}"), f"{what} {digest}")
    data = response.read(MANIFEST_LIMIT + 1)
    if len(data) > MANIFEST_LIMIT:
        raise InvalidArgument(f"{what} {digest}: larger than {MANIFEST_LIMIT} bytes")
    if digests.of_bytes(data) != digest:
        raise InvalidArgument(f"{what} {digest}: digest mismatch: got {digests.of_bytes(data)}")
    return data


class _Layers:
    """An image's layers into the store: downloads (three at a time) stream into the
    unpacking of their layers (all at once: each layer has its own directory, so their
    order does not matter until they are registered)."""

    def __init__(self, store: ImageStore, lease: str, client: Client, report: Report) -> None:
        self.store = store
        self.lease = lease
        self.client = client
        self.report = report
        self.downloads: dict[str, Download] = {}

    def fetch(self, descriptors: list[dict[str, Any]], diff_ids: list[str]) -> list[LayerRecord]:
        chains = digests.chain_ids(diff_ids)
        known = [
            self.store.layer_known(chain) and self.store.content.exists(d["digest"])
            for d, chain in zip(descriptors, chains, strict=True)
        ]
        try:
            self._start_downloads(descriptors, known)
            for descriptor, was_known in zip(descriptors, known, strict=True):
                status = "Already exists" if was_known else "Pulling fs layer"
                self.report(_short(descriptor["digest"]), status)
            layers: list[LayerRecord] = []
            try:
                with (
                    ThreadPoolExecutor(DOWNLOADS) as fetchers,
                    ThreadPoolExecutor(len(descriptors) or 1) as unpackers,
                ):
                    for download in self.downloads.values():
                        fetchers.submit(self._fetch, download).add_done_callback(self._on_fetched)
                    futures = [
                        unpackers.submit(self._unpack, descriptor, diff_id, chain, was_known)
                        for descriptor, diff_id, chain, was_known in zip(
                            descriptors, diff_ids, chains, known, strict=True
                        )
                    ]
                    try:
                        for descriptor, future, was_known in zip(
                            descriptors, futures, known, strict=True
                        ):
                            layers.append(future.result())
                            if not was_known:  # in the manifest's order, as Docker extracts
                                self.report(_short(descriptor["digest"]), "Pull complete")
                    except BaseException:
                        self._cancel()
                        raise
            except Cancelled:  # report what stopped the pull, not what it stopped
                causes = [d.error for d in self.downloads.values() if d.error is not None]
                raise next((e for e in causes if not isinstance(e, Cancelled)), causes[0]) from None
            return layers
        finally:
            for download in self.downloads.values():
                download.close()

    def _start_downloads(self, descriptors: list[dict[str, Any]], known: list[bool]) -> None:
        wanted = {
            d["digest"]: d.get("size")
            for d, was_known in zip(descriptors, known, strict=True)
            if not was_known and not self.store.content.exists(d["digest"])
        }
        for blob in sorted(wanted):  # locks taken in one order: two pulls cannot deadlock
            self.store.hold(self.lease, blob)
            download = Download(self.store.content, blob, wanted[blob])
            if download.done:  # another skiff fetched it while this one waited
                download.close()
            else:
                self.downloads[blob] = download
        order = [d["digest"] for d in descriptors]
        self.downloads = dict(sorted(self.downloads.items(), key=lambda i: order.index(i[0])))

    def _fetch(self, download: Download) -> None:
        short = _short(download.digest)
        total = download.expected_size or 0

        def verified() -> None:  # before the layer's unpack can finish: Docker's order
            self.report(short, "Verifying Checksum")
            self.report(short, "Download complete")

        download.fetch(self.client, lambda n: self.report(short, "Downloading", n, total), verified)

    def _on_fetched(self, future: Future[None]) -> None:
        if future.exception() is not None:
            self._cancel()

    def _cancel(self) -> None:
        for download in self.downloads.values():
            download.cancel()

    def _unpack(
        self, descriptor: dict[str, Any], diff_id: str, chain: str, was_known: bool
    ) -> LayerRecord:
        blob = descriptor["digest"]
        media_type = descriptor["mediaType"]
        compression = mt.layer_compression(media_type)
        if was_known:
            size = self.store.unpack_layer(self.lease, chain, lambda target: None)
            return LayerRecord(diff_id, blob, media_type, size, _diff_size(self.store, chain))
        download = self.downloads.get(blob)
        diff_size = 0

        def unpack(target: str) -> None:
            from skiff.images.archive import unpack_checked

            nonlocal diff_size
            if download is None:
                with self.store.content.open(blob) as raw:
                    diff_size = unpack_checked(raw, compression, diff_id, target, blob)
            else:
                source = cast("BinaryIO", download.reader())
                diff_size = unpack_checked(source, compression, diff_id, target, blob)

        size = self.store.unpack_layer(self.lease, chain, unpack)
        return LayerRecord(diff_id, blob, media_type, size, diff_size)


def _diff_size(store: ImageStore, chain: str) -> int:
    row = store.db.execute("SELECT diff_size FROM layers WHERE chain_id = ?", (chain,)).fetchone()
    return int(row["diff_size"]) if row else 0
