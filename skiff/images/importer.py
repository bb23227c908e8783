"""``import``: a root filesystem tarball becomes a one-layer image."""

from __future__ import annotations

import os
import time

from skiff import __version__
from skiff.errors import InvalidArgument
from skiff.images import digest as digests
from skiff.images import manifest as manifests
from skiff.images import mediatypes as mt
from skiff.images import reference as references
from skiff.images.changes import apply_changes
from skiff.images.service import ImageStore, LayerRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

_CHUNK = 1 << 20


def _timestamp(t: float) -> str:
    whole = int(t)
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((t - whole) * 1e9):09d}Z"
    )


def import_tarball(
    store: ImageStore,
    source: BinaryIO,
    name: str | None,
    source_name: str = "-",
    changes: list[str] | None = None,
    message: str | None = None,
) -> str:
    """Import a (possibly compressed) tarball; the new image's ID."""
    from skiff.images.archive import _decompressing
    from skiff.images.layer import apply_layer

    tag = str(references.parse(name)) if name else None
    os.makedirs(store.paths.ingest, exist_ok=True)
    lease = store.lease()
    try:
        with store.content.writer() as writer:
            stream = _decompressing(source.read(6), source)
            while chunk := stream.read(_CHUNK):
                writer.write(chunk)
            blob, size, _ = writer.commit(lambda d: store.hold(lease, d))
        if size == 0:
            raise InvalidArgument("import: the tarball is empty")
        chain = blob  # a single layer: its chain ID is its diff ID

        def unpack(target: str) -> None:
            with store.content.open(blob) as f:
                try:
                    apply_layer(f, target)
                except (EOFError, ValueError) as e:
                    raise InvalidArgument(f"import: invalid tarball: {e}") from None

        unpacked = store.unpack_layer(lease, chain, unpack)
        now = _timestamp(time.time())
        comment = message or f"Imported from {source_name}"
        config = {
            "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                os.uname().machine, os.uname().machine
            ),
            "os": "linux",
            "created": now,
            "comment": comment,
            "docker_version": f"skiff {__version__}",
            "config": apply_changes({}, changes or []),
            "history": [{"created": now, "comment": comment}],
            "rootfs": {"type": "layers", "diff_ids": [blob]},
        }
        data = manifests.canonical(config)
        store.hold(lease, digests.of_bytes(data))
        store.content.put(data)
        layer = LayerRecord(blob, blob, mt.DOCKER_LAYER, unpacked, size)
        return store.register(data, [layer], [tag] if tag else [])
    finally:
        store.release(lease)
