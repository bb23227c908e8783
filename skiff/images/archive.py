"""``load`` and ``save``: docker-archive (``docker save``'s format), oci-archive, oci-dir.

Loading indexes the archive once, then ingests its layers in parallel: each layer is
copied into the content store (hashed, checked) and unpacked into its own directory
(hashed again as it is unpacked: the diff ID is checked against the image config).
Docker unpacks one layer after another; overlay layers are independent directories, so
the order only matters for the chain IDs, which are known up front.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import cast

from skiff.errors import InvalidArgument
from skiff.images import digest as digests
from skiff.images import manifest as manifests
from skiff.images import mediatypes as mt
from skiff.images import reference as references
from skiff.images.compression import decompressed
from skiff.images.region import Hashing, Region
from skiff.images.service import Image, ImageStore, LayerRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO

_CHUNK = 1 << 20
WORKERS = max(2, min(8, os.cpu_count() or 2))


class Loaded:
    def __init__(self, image_id: str, tags: list[str]) -> None:
        self.image_id = image_id
        self.tags = tags


class _Archive:
    """An uncompressed tar archive, indexed: member name -> (offset, size)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.members: dict[str, tarfile.TarInfo] = {}
        try:
            with tarfile.open(path, "r:") as tar:
                for member in tar:
                    self.members[
                        posixpath.normpath(member.name.lstrip("/")).lstrip("./") or "."
                    ] = member
        except (tarfile.TarError, EOFError, OSError) as e:
            os.close(self.fd)
            raise InvalidArgument(f"invalid archive: {e}") from None

    def close(self) -> None:
        os.close(self.fd)

    def member(self, name: str) -> tarfile.TarInfo:
        key = posixpath.normpath(name.lstrip("/"))
        seen = 0
        while True:
            member = self.members.get(key)
            if member is None:
                raise InvalidArgument(f"invalid archive: {name} is missing")
            if member.issym() or member.islnk():
                seen += 1
                if seen > 16:
                    raise InvalidArgument(f"invalid archive: {name}: too many links")
                base = posixpath.dirname(key) if member.issym() else ""
                key = posixpath.normpath(posixpath.join(base, member.linkname.lstrip("/")))
                if key.startswith(".."):
                    raise InvalidArgument(f"invalid archive: {name} links outside the archive")
                continue
            if not member.isfile():
                raise InvalidArgument(f"invalid archive: {name} is not a file")
            return member

    def region(self, name: str) -> Region:
        member = self.member(name)
        return Region(self.fd, member.offset_data, member.size)

    def read(self, name: str, limit: int = 64 << 20) -> bytes:
        region = self.region(name)
        if region.size > limit:
            raise InvalidArgument(f"invalid archive: {name} is too large ({region.size} bytes)")
        data = region.read()
        if len(data) != region.size:
            raise InvalidArgument(f"invalid archive: {name} is truncated")
        return data

    def has(self, name: str) -> bool:
        return posixpath.normpath(name) in self.members


def _spool(source: BinaryIO, directory: str) -> str:
    """Copy a stream (stdin) to a file, decompressing a gzip/zstd/xz/bzip2 archive."""
    from skiff.linux.proc import owner_tag

    # named after this process: a load killed while it spools leaves a file that the next
    # load or garbage collection removes (ContentStore.clean_abandoned)
    fd, path = tempfile.mkstemp(dir=directory, prefix=f"load-{owner_tag()}-")
    try:
        with os.fdopen(fd, "wb") as out:
            stream = _decompressing(source.read(6), source)
            while chunk := stream.read(_CHUNK):
                out.write(chunk)
    except (OSError, EOFError, ValueError) as e:
        os.unlink(path)
        raise InvalidArgument(f"invalid archive: {e}") from None
    except BaseException:
        os.unlink(path)
        raise
    return path


class _Prefixed:
    """``head`` then the rest of ``raw``: a stream whose first bytes were sniffed."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self.head = head
        self.raw = raw

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n < 0:
                data, self.head = self.head + self.raw.read(), b""
                return data
            data, self.head = self.head[:n], self.head[n:]
            return data
        return self.raw.read(n)


def _decompressing(head: bytes, source: BinaryIO) -> BinaryIO:
    whole = cast("BinaryIO", _Prefixed(head, source))
    if head.startswith(b"\xfd7zXZ"):
        import lzma

        return cast("BinaryIO", lzma.LZMAFile(whole))
    if head.startswith(b"BZh"):
        import bz2

        return cast("BinaryIO", bz2.BZ2File(whole))
    kind = mt.sniff_compression(head)
    return whole if kind == "none" else decompressed(whole, kind)


def load(store: ImageStore, source: str | BinaryIO) -> list[Loaded]:
    """Load every image of an archive (a path, or a stream such as stdin)."""
    os.makedirs(store.paths.ingest, exist_ok=True)
    store.clean_abandoned()  # what killed loads and pulls left (ingest/, layers/)
    spooled = None
    if isinstance(source, str):
        with open(source, "rb") as f:
            head = f.read(6)
        if mt.sniff_compression(head) != "none" or head.startswith((b"\xfd7zXZ", b"BZh")):
            with open(source, "rb") as f:
                spooled = _spool(f, store.paths.ingest)
        path = spooled or source
    else:
        path = spooled = _spool(source, store.paths.ingest)
    lease = store.lease()
    try:
        archive = _Archive(path)
        try:
            if archive.has("manifest.json"):
                plan = _docker_plan(archive)
            elif archive.has("index.json"):
                plan = _oci_plan(archive, store)
            else:
                raise InvalidArgument("invalid archive: neither manifest.json nor index.json found")
            return _ingest(store, lease, archive, plan)
        finally:
            archive.close()
    finally:
        store.release(lease)
        if spooled:
            os.unlink(spooled)


class _ImagePlan:
    """One image of an archive: its config, layers (member + media type) and names."""

    def __init__(
        self,
        config: bytes,
        layers: list[tuple[str, str | None, str | None]],
        tags: list[str],
        manifest: tuple[str, bytes] | None = None,
    ) -> None:
        self.config = config
        self.parsed = manifests.parse_config(config)
        self.layers = layers  # (member, media type or None to sniff, blob digest or None)
        self.tags = tags
        self.manifest = manifest  # (member, bytes) of an OCI archive's manifest
        if len(layers) != len(self.parsed["rootfs"]["diff_ids"]):
            raise InvalidArgument(
                f"invalid archive: {len(layers)} layers but the config lists "
                f"{len(self.parsed['rootfs']['diff_ids'])} diff IDs"
            )


def _docker_plan(archive: _Archive) -> list[_ImagePlan]:
    try:
        entries = json.loads(archive.read("manifest.json"))
    except ValueError as e:
        raise InvalidArgument(f"invalid archive: manifest.json: {e}") from None
    if not isinstance(entries, list) or not entries:
        raise InvalidArgument("invalid archive: manifest.json lists no image")
    plans = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise InvalidArgument(f"invalid archive: manifest.json[{i}]: Config is missing")
        layers = entry.get("Layers")
        if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
            raise InvalidArgument(f"invalid archive: manifest.json[{i}]: Layers is missing")
        tags = [str(references.parse(tag)) for tag in entry.get("RepoTags") or []]
        plans.append(
            _ImagePlan(archive.read(entry["Config"]), [(x, None, None) for x in layers], tags)
        )
    return plans


def _oci_plan(archive: _Archive, store: ImageStore) -> list[_ImagePlan]:
    index = manifests.parse_index(archive.read("index.json"))
    plans = []
    for entry in _image_manifests(archive, index):
        data = _verified(archive, entry["digest"], "manifest", entry["size"])
        manifest = manifests.parse_manifest(data, entry["mediaType"])
        config = _verified(
            archive, manifest["config"]["digest"], "config", manifest["config"]["size"]
        )
        layers = [
            (_blob_member(x["digest"]), x["mediaType"], x["digest"]) for x in manifest["layers"]
        ]
        annotations = entry.get("annotations") or {}
        tags = []
        name = annotations.get("io.containerd.image.name") or annotations.get(
            "org.opencontainers.image.ref.name"
        )
        if name:
            try:
                tags.append(str(references.parse(name)))
            except InvalidArgument:
                pass  # a bare tag ("latest") names no repository
        plans.append(_ImagePlan(config, layers, tags, (entry["digest"], data)))
    return plans


def _verified(archive: _Archive, digest: str, what: str, size: int | None = None) -> bytes:
    """A blob of the archive, checked against its descriptor's size (before it is read: a
    config declared 100 MB is refused as such) and digest."""
    member = _blob_member(digest)
    if size is not None and archive.region(member).size != size:
        raise InvalidArgument(
            f"invalid archive: {what} {digest}: {archive.region(member).size} bytes,"
            f" but its descriptor says {size}"
        )
    data = archive.read(member)
    got = f"{digest.partition(':')[0]}:{hashlib.new(digest.partition(':')[0], data).hexdigest()}"
    if got != digest:
        raise InvalidArgument(f"invalid archive: {what} {digest}: digest mismatch (got {got})")
    return data


# Nested indexes an archive may have below index.json (skopeo and docker write one level).
# A blob is verified against its digest before it is followed, so an index cannot list
# itself or an ancestor (that would need a hash fixed point); the depth limit refuses a
# deep chain before it exhausts the stack.
MAX_INDEX_DEPTH = 8


def _image_manifests(
    archive: _Archive, index: dict[str, Any], depth: int = 0
) -> list[dict[str, Any]]:
    """The image manifests an index points to, nested indexes resolved for this platform."""
    found = []
    for entry in index["manifests"]:
        if entry["mediaType"] in mt.INDEXES:
            if depth >= MAX_INDEX_DEPTH:
                raise InvalidArgument(
                    f"invalid archive: index {entry['digest']}: indexes nested more than"
                    f" {MAX_INDEX_DEPTH} deep"
                )
            nested = manifests.parse_index(
                _verified(archive, entry["digest"], "index", entry["size"])
            )
            found.extend(
                _image_manifests(
                    archive, {"manifests": _for_platform(nested["manifests"])}, depth + 1
                )
            )
        elif entry["mediaType"] in mt.MANIFESTS:
            found.append(entry)
        else:
            raise InvalidArgument(
                f"invalid archive: index.json: unknown media type {entry['mediaType']!r}"
            )
    return found


def _for_platform(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    matching = [e for e in entries if (e.get("platform") or {}).get("architecture") == arch]
    return matching[:1] or entries[:1]


def _blob_member(digest: str) -> str:
    algorithm, _, hexpart = digests.check(digest).partition(":")
    return f"blobs/{algorithm}/{hexpart}"


def _ingest(
    store: ImageStore, lease: str, archive: _Archive, plans: list[_ImagePlan]
) -> list[Loaded]:
    jobs: dict[tuple[str, str], Callable[[], LayerRecord]] = {}
    for plan in plans:
        diff_ids = plan.parsed["rootfs"]["diff_ids"]
        for (member, media_type, blob), diff_id, chain in zip(
            plan.layers, diff_ids, digests.chain_ids(diff_ids), strict=True
        ):
            key = (member, chain)
            if key not in jobs:
                jobs[key] = _layer_job(
                    store, lease, archive, member, media_type, blob, diff_id, chain
                )
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = {key: pool.submit(job) for key, job in jobs.items()}
        records = {key: future.result() for key, future in futures.items()}
    loaded = []
    for plan in plans:
        diff_ids = plan.parsed["rootfs"]["diff_ids"]
        layers = [
            records[(member, chain)]
            for (member, _, _), chain in zip(plan.layers, digests.chain_ids(diff_ids), strict=True)
        ]
        store.hold(lease, digests.of_bytes(plan.config))
        store.content.put(plan.config)
        manifest_digests = []
        if plan.manifest:
            store.hold(lease, plan.manifest[0])
            store.content.put(plan.manifest[1], plan.manifest[0])
            manifest_digests.append(plan.manifest[0])
        image_id = store.register(plan.config, layers, plan.tags, manifest_digests=manifest_digests)
        loaded.append(Loaded(image_id, plan.tags))
    return loaded


def _layer_job(
    store: ImageStore,
    lease: str,
    archive: _Archive,
    member: str,
    media_type: str | None,
    blob_digest: str | None,
    diff_id: str,
    chain: str,
) -> Callable[[], LayerRecord]:
    def job() -> LayerRecord:
        region = archive.region(member)
        compression = (
            mt.layer_compression(media_type)
            if media_type
            else mt.sniff_compression(os.pread(archive.fd, 4, region.offset))
        )
        kind = media_type or {"none": mt.DOCKER_LAYER, "gzip": mt.DOCKER_LAYER_GZIP}.get(
            compression, mt.OCI_LAYER_ZSTD
        )
        expected = blob_digest or (diff_id if compression == "none" else None)
        with store.content.writer(expected, region.size) as writer:
            while chunk := region.read(_CHUNK):
                writer.write(chunk)
            try:
                blob, blob_size, _ = writer.commit(lambda d: store.hold(lease, d))
            except InvalidArgument as e:
                raise InvalidArgument(f"layer {member}: {e}") from None
        diff_size = blob_size if compression == "none" else -1

        def unpack(target: str) -> None:
            nonlocal diff_size
            diff_size = unpack_checked(archive.region(member), compression, diff_id, target, member)

        size = store.unpack_layer(lease, chain, unpack)
        if diff_size < 0:  # compressed, and the layer was already unpacked: count it
            diff_size = _measure(archive.region(member), compression, diff_id, member)
        return LayerRecord(diff_id, blob, kind, size, diff_size)

    return job


def unpack_checked(
    region: Region | BinaryIO, compression: str, diff_id: str, target: str, what: str
) -> int:
    """Apply a layer (an archive's region or a stored blob) to ``target``, checking its
    uncompressed digest; its uncompressed size."""
    from skiff.images.layer import apply_layer

    raw = cast("BinaryIO", region)
    reader = Hashing(decompressed(raw, compression), hashlib.new(diff_id.partition(":")[0]))
    try:
        apply_layer(cast("BinaryIO", reader), target)
        reader.drain()
    except (EOFError, ValueError, OSError) as e:
        raise InvalidArgument(f"layer {what}: {e}") from None
    if reader.digest() != diff_id:
        raise InvalidArgument(
            f"layer {what}: digest mismatch: expected {diff_id}, got {reader.digest()}"
        )
    return reader.count


def _measure(region: Region, compression: str, diff_id: str, what: str) -> int:
    raw = cast("BinaryIO", region)
    reader = Hashing(decompressed(raw, compression), hashlib.new(diff_id.partition(":")[0]))
    reader.drain()
    if reader.digest() != diff_id:
        raise InvalidArgument(
            f"layer {what}: digest mismatch: expected {diff_id}, got {reader.digest()}"
        )
    return reader.count


def tag_owners(store: ImageStore) -> dict[str, str]:
    """Every tag of the store -> its image's ID (what a load may take over)."""
    return {tag: image.id for image in store.images() for tag in image.tags}


def load_messages(before: dict[str, str], loaded: list[Loaded]) -> list[str]:
    """What ``docker load`` prints (the daemon's words, which the Engine API streams), given
    the store's :func:`tag_owners` before the load.

    Docker's quirk too: the IDs of every image are listed when the archive's last image has
    no tag (moby's tarexport counts only the last image's tags)."""
    out = []
    for item in loaded:
        for tag in item.tags:
            old = before.get(tag)
            if old and old != item.image_id:
                out.append(
                    f"The image {_familiar(tag)} already exists, renaming the old one with ID"
                    f" {old} to empty string"
                )
            out.append(f"Loaded image: {_familiar(tag)}")
    if loaded and not loaded[-1].tags:
        out += [f"Loaded image ID: {item.image_id}" for item in loaded]
    return out


# --- save ---------------------------------------------------------------------------------


class _Selected:
    """An image to save and the names it is saved under."""

    def __init__(self, image: Image, tags: list[str]) -> None:
        self.image = image
        self.tags = tags


def select(store: ImageStore, names: list[str]) -> list[_Selected]:
    """The images of ``docker save NAME...``: a tag saves that tag, an ID all its tags."""
    selected: dict[str, _Selected] = {}
    for name in names:
        image = store.get(name)
        entry = selected.setdefault(image.id, _Selected(image, []))
        by_id = name.removeprefix("sha256:") in image.id
        tags = image.tags if by_id else [str(references.parse(name))]
        for tag in tags:
            if tag not in entry.tags and "@" not in tag:
                entry.tags.append(tag)
    return list(selected.values())


def _familiar(tag: str) -> str:
    return references.parse(tag).familiar()


class _TarWriter:
    """A tar stream written member by member, for archives that are not seekable."""

    def __init__(self, out: BinaryIO) -> None:
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115 (closed by close())
        self.written: set[str] = set()

    def directory(self, name: str) -> None:
        if name in self.written:
            return
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        self.tar.addfile(info)
        self.written.add(name)

    def file(self, name: str, size: int, content: BinaryIO | Region | _Bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = 0o644
        self.tar.addfile(info, cast("BinaryIO", content))
        self.written.add(name)

    def data(self, name: str, data: bytes) -> None:
        self.file(name, len(data), _Bytes(data))

    def close(self) -> None:
        self.tar.close()


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.position = 0

    def __enter__(self) -> _Bytes:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else self.position + n
        chunk = self.data[self.position : end].tobytes()
        self.position += len(chunk)
        return chunk


def save_docker(store: ImageStore, names: list[str], out: BinaryIO) -> None:
    """docker-archive: manifest.json, <config>.json, <layer>/layer.tar, repositories."""
    images = select(store, names)
    tar = _TarWriter(out)
    entries = []
    repositories: dict[str, dict[str, str]] = {}
    for entry in images:
        image = entry.image
        config_name = f"{digests.hex_of(image.id)}.json"
        if config_name not in tar.written:
            tar.data(config_name, image.config_bytes)
        layer_names = []
        for layer in image.layers():
            name = f"{digests.hex_of(layer['diff_id'])}/layer.tar"
            if name not in tar.written:
                tar.directory(posixpath.dirname(name))
                compression = mt.layer_compression(layer["media_type"])
                with store.content.open(layer["blob"]) as blob:
                    tar.file(name, layer["diff_size"], decompressed(blob, compression))
            layer_names.append(name)
        familiar = [_familiar(tag) for tag in entry.tags]
        entries.append({"Config": config_name, "RepoTags": familiar or None, "Layers": layer_names})
        for tag in familiar:
            repository, _, version = tag.rpartition(":")
            repositories.setdefault(repository, {})[version] = digests.hex_of(image.id)
    tar.data("manifest.json", json.dumps(entries).encode())
    if repositories:
        tar.data("repositories", json.dumps(repositories).encode())
    tar.close()


def _oci_manifest(store: ImageStore, image: Image) -> tuple[str, bytes]:
    """The image's manifest: the one it came with if the store has it, else a new one."""
    stored = store.stored_manifest(image)
    if stored is not None:
        return stored
    config = manifests.descriptor(mt.OCI_CONFIG, image.id, len(image.config_bytes))
    layers = []
    for layer in image.layers():
        compression = mt.layer_compression(layer["media_type"])
        media_type = {"none": mt.OCI_LAYER, "gzip": mt.OCI_LAYER_GZIP}.get(
            compression, mt.OCI_LAYER_ZSTD
        )
        layers.append(
            manifests.descriptor(media_type, layer["blob"], store.content.size(layer["blob"]))
        )
    data = manifests.oci_manifest(config, layers)
    return digests.of_bytes(data), data


class _Layout:
    """An OCI image layout of some images: its blobs and index.json."""

    def __init__(self, store: ImageStore, names: list[str]) -> None:
        self.store = store
        self.blobs: dict[str, tuple[int, bytes | None]] = {}  # digest -> (size, bytes if new)
        entries = []
        for selected in select(store, names):
            digest, data = _oci_manifest(store, selected.image)
            manifest = manifests.parse_manifest(data)
            self.blobs[digest] = (len(data), None if store.content.exists(digest) else data)
            self.blobs[manifest["config"]["digest"]] = (manifest["config"]["size"], None)
            for layer in manifest["layers"]:
                self.blobs[layer["digest"]] = (layer["size"], None)
            for tag in selected.tags or [""]:
                extra: dict[str, Any] = {}
                if tag:
                    ref = references.parse(tag)
                    extra["annotations"] = {
                        "io.containerd.image.name": str(ref),
                        "org.opencontainers.image.ref.name": ref.tag or "latest",
                    }
                entries.append(
                    manifests.descriptor(manifest["mediaType"], digest, len(data), **extra)
                )
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}
        self.index = json.dumps(index).encode()

    def open(self, digest: str) -> BinaryIO:
        data = self.blobs[digest][1]
        if data is not None:
            return cast("BinaryIO", _Bytes(data))
        return self.store.content.open(digest)


OCI_LAYOUT = json.dumps({"imageLayoutVersion": "1.0.0"}).encode()


def save_oci_archive(store: ImageStore, names: list[str], out: BinaryIO) -> None:
    layout = _Layout(store, names)
    tar = _TarWriter(out)
    tar.data("oci-layout", OCI_LAYOUT)
    tar.data("index.json", layout.index)
    tar.directory("blobs")
    for digest, (size, _) in layout.blobs.items():
        algorithm, _, hexpart = digest.partition(":")
        tar.directory(f"blobs/{algorithm}")
        blob = layout.open(digest)
        try:
            tar.file(f"blobs/{algorithm}/{hexpart}", size, blob)
        finally:
            close = getattr(blob, "close", None)
            if close:
                close()
    tar.close()


def save_oci_dir(store: ImageStore, names: list[str], directory: str) -> None:
    """An OCI image layout directory (what umoci and skopeo's oci: transport read)."""
    layout = _Layout(store, names)
    os.makedirs(directory, exist_ok=True)
    if os.listdir(directory):
        raise InvalidArgument(f"{directory}: not an empty directory")
    for digest in layout.blobs:
        algorithm, _, hexpart = digest.partition(":")
        os.makedirs(os.path.join(directory, "blobs", algorithm), exist_ok=True)
        with (
            layout.open(digest) as blob,
            open(os.path.join(directory, "blobs", algorithm, hexpart), "wb") as f,
        ):
            while chunk := blob.read(_CHUNK):
                f.write(chunk)
    with open(os.path.join(directory, "oci-layout"), "wb") as f:
        f.write(OCI_LAYOUT)
    with open(os.path.join(directory, "index.json"), "wb") as f:
        f.write(layout.index)
