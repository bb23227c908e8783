"""``pull``: a manifest (through an index, for this machine's platform or ``--platform``),
its config and its layers into the image store, each verified by digest.

Layers download three at a time (Docker's ``max-concurrent-downloads``) and each is
unpacked into its own directory as soon as it is in the store, so a layer unpacks while
the others still download. A layer whose directory exists already is not fetched
("Already exists"). Everything fetched is held by a lease until the image is registered:
a failed pull leaves no blob and no layer behind.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from skiff.errors import InvalidArgument, NotFound
from skiff.images import digest as digests
from skiff.images import manifest as manifests
from skiff.images import mediatypes as mt
from skiff.images.service import ImageStore, LayerRecord
from skiff.registry.client import Client

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from skiff.images.reference import Reference

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
    report: Callable[[str, str], None] = lambda layer, status: None,
) -> Pulled:
    """Pull ``ref``; ``report(short_digest, status)`` tells each layer's progress, and
    ``report("", "")`` that the manifest was found."""
    client = Client(ref.domain, ref.path)
    wanted = parse_platform(platform) if platform else (*host_platform(), "")
    name = str(ref)
    manifest_bytes, media_type, digest = _manifest(client, ref.digest or ref.tag or "latest", name)
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
    manifest = manifests.parse_manifest(manifest_bytes, media_type)
    repo_digest = f"{ref.name}@{top_digest}"
    tags = [name] if ref.digest is None else []
    current = _current(store, ref, repo_digest)
    report("", "")  # found: the pull starts
    held = store.db.execute(
        "SELECT image_id FROM image_manifests WHERE digest = ?", (digest,)
    ).fetchone()
    if held is not None:  # the image is here: its names, nothing to fetch
        store.add_names(held["image_id"], tags, [repo_digest])
        return Pulled(held["image_id"], top_digest, fresh=current != held["image_id"])
    lease = store.lease()
    try:
        config = _blob_bytes(client, manifest["config"]["digest"], "config")
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
        chains = digests.chain_ids(diff_ids)
        jobs = [
            _layer_job(store, lease, client, descriptor, diff_id, chain, report)
            for descriptor, diff_id, chain in zip(manifest["layers"], diff_ids, chains, strict=True)
        ]
        known = [
            store.layer_known(chain) and store.content.exists(descriptor["digest"])
            for descriptor, chain in zip(manifest["layers"], chains, strict=True)
        ]
        for descriptor, was_known in zip(manifest["layers"], known, strict=True):
            status = "Already exists" if was_known else "Pulling fs layer"
            report(_short(descriptor["digest"]), status)
        with ThreadPoolExecutor(DOWNLOADS) as pool:
            futures = [pool.submit(job) for job in jobs]
            layers = []
            for descriptor, future, was_known in zip(
                manifest["layers"], futures, known, strict=True
            ):
                layers.append(future.result())
                if not was_known:  # in the manifest's order, as Docker extracts
                    report(_short(descriptor["digest"]), "Pull complete")
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
    response = client.get(path, {"Accept": ACCEPT})
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


def _blob_bytes(client: Client, digest: str, what: str) -> bytes:
    response = client.check(client.get(f"blobs/{digest}"), f"{what} {digest}")
    data = response.read(MANIFEST_LIMIT + 1)
    if len(data) > MANIFEST_LIMIT:
        raise InvalidArgument(f"{what} {digest}: larger than {MANIFEST_LIMIT} bytes")
    if digests.of_bytes(data) != digest:
        raise InvalidArgument(f"{what} {digest}: digest mismatch: got {digests.of_bytes(data)}")
    return data


def _layer_job(
    store: ImageStore,
    lease: str,
    client: Client,
    descriptor: dict[str, Any],
    diff_id: str,
    chain: str,
    report: Callable[[str, str], None],
) -> Callable[[], LayerRecord]:
    blob = descriptor["digest"]
    short = _short(blob)
    compression = mt.layer_compression(descriptor["mediaType"])

    def job() -> LayerRecord:
        store.hold(lease, blob)
        if store.layer_known(chain) and store.content.exists(blob):
            size = store.unpack_layer(lease, chain, lambda target: None)
            return LayerRecord(
                diff_id, blob, descriptor["mediaType"], size, _diff_size(store, chain)
            )
        if not store.content.exists(blob):
            _download(client, blob, descriptor.get("size"), store)
            report(short, "Download complete")
        diff_size = 0

        def unpack(target: str) -> None:
            nonlocal diff_size
            diff_size = _unpack(store, blob, compression, diff_id, target)

        size = store.unpack_layer(lease, chain, unpack)
        return LayerRecord(diff_id, blob, descriptor["mediaType"], size, diff_size)

    return job


def _diff_size(store: ImageStore, chain: str) -> int:
    row = store.db.execute("SELECT diff_size FROM layers WHERE chain_id = ?", (chain,)).fetchone()
    return int(row["diff_size"]) if row else 0


def _download(client: Client, blob: str, size: int | None, store: ImageStore) -> None:
    response = client.check(client.get(f"blobs/{blob}"), f"blob {blob}")
    with store.content.writer(blob, size) as writer:
        while chunk := response.read(CHUNK):
            writer.write(chunk)
        try:
            writer.commit()
        except InvalidArgument as e:
            raise InvalidArgument(
                f"filesystem layer verification failed for digest {blob}: {e}"
            ) from None


def _unpack(store: ImageStore, blob: str, compression: str, diff_id: str, target: str) -> int:
    from skiff.images.archive import unpack_checked

    with store.content.open(blob) as raw:
        return unpack_checked(raw, compression, diff_id, target, blob)
