"""``commit``: a new image from a container's changes, as dockerd makes it.

The new layer is the container's overlay upper directory as a layer tar
(``storage.diff.write_diff``), without the runtime's mount points (see
``container_changes``); when that tar is empty the image has no new layer and its history
entry says ``empty_layer``. The image config is the container image's, with:

- ``config``: the container's own config (``inspect``'s ``Config``: the image's merged
  with the create options), then the ``--change`` instructions applied to it, where an
  ``ENTRYPOINT`` not preceded by a ``CMD`` clears the ``Cmd`` (the Dockerfile rule);
- ``container_config`` and ``container``: the container's config and ID, as dockerd
  records them;
- ``author``, ``comment``, ``created``, and a history entry with the same and
  ``created_by`` the container's command (its ``Cmd`` joined by spaces).

A running container is paused (frozen through its runtime) while its upper directory is
read, unless asked not to or already paused, and resumed after. The container's image is
recorded as the new image's parent. A failure leaves no image, layer or blob behind:
what is written is held by a lease until the image is registered.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from skiff import __version__
from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any

    from skiff.engine.containers import Container
    from skiff.engine.engine import Engine
    from skiff.images.service import ImageStore

EMPTY_LAYER = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


def apply_commit_changes(config: dict[str, Any], changes: Sequence[str]) -> dict[str, Any]:
    """``--change`` instructions on a container's config, one by one, with the
    Dockerfile rule that an ``ENTRYPOINT`` before any ``CMD`` resets ``Cmd``."""
    from skiff.images.changes import apply_changes

    result = dict(config)
    cmd_set = False
    for change in changes:
        result = apply_changes(result, [change])
        instruction = change.strip().partition(" ")[0].upper()
        if instruction == "CMD":
            cmd_set = True
        elif instruction == "ENTRYPOINT" and not cmd_set:
            result["Cmd"] = None
    return result


def commit(
    engine: Engine,
    ref: str,
    reference: str | None = None,
    *,
    changes: Sequence[str] = (),
    message: str = "",
    author: str = "",
    pause: bool = True,
) -> str:
    """Commit container ``ref`` (tagged ``reference`` if given); the new image's ID."""
    from skiff.engine.container_changes import init_mountpoints
    from skiff.engine.filesystem import ContainerFiles
    from skiff.engine.inspect import config as container_config
    from skiff.engine.options import ContainerOptions
    from skiff.images import reference as references
    from skiff.images.inspect import familiar

    tag = None
    if reference:
        parsed = references.parse(reference)
        if parsed.digest:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        tag = str(parsed)
    container = engine.containers.get(ref)
    image = engine.images.get(container.image_id)
    options = ContainerOptions.from_dict(container.options)
    own = container_config(container, options, image.config.get("config") or {})
    new = apply_commit_changes(own, changes)
    store = engine.images
    lease = store.lease()
    try:
        with _paused(engine, container, pause), engine.containers.lock(container.id):
            container = engine.containers.get(container.id)
            skip = init_mountpoints(engine, container.id)
            upper = ContainerFiles(engine.paths, container.id).upper
            blob, size = write_layer(store, upper, lease, skip)
        empty = blob == EMPTY_LAYER
        config = _image_config(
            image.config, container.id, own, new, author, message, None if empty else blob
        )
        image_id = register_image(store, lease, image.id, config, None if empty else (blob, size))
        if tag:
            store.add_names(image_id, [tag])
    finally:
        store.release(lease)
    engine.record_event(
        container,
        "commit",
        comment=message,
        imageID=image_id,
        imageRef=familiar(tag) if tag else "",
    )
    return image_id


def _image_config(
    parent: dict[str, Any],
    container_id: str,
    own: dict[str, Any],
    new: dict[str, Any],
    author: str,
    message: str,
    layer: str | None,
) -> dict[str, Any]:
    """The committed image's config: the ``parent`` image's with the container's config
    (``own``), the new one, a history entry, and ``layer`` (a diff ID) on top unless the
    container changed nothing."""
    from skiff.engine.timestamps import rfc3339_nano

    created = rfc3339_nano(time.time_ns())
    entry: dict[str, Any] = {"created": created}
    if author:
        entry["author"] = author
    entry["created_by"] = " ".join(own.get("Cmd") or [])
    if message:
        entry["comment"] = message
    rootfs = dict(parent.get("rootfs") or {"type": "layers"})
    rootfs["diff_ids"] = list(rootfs.get("diff_ids") or [])
    if layer is None:
        entry["empty_layer"] = True
    else:
        rootfs["diff_ids"].append(layer)
    config = dict(parent)
    config.update(
        created=created,
        docker_version=f"skiff {__version__}",
        container=container_id,
        container_config=own,
        config=new,
        history=[*(parent.get("history") or []), entry],
        rootfs=rootfs,
    )
    for key, value in (("author", author), ("comment", message)):
        if value:
            config[key] = value
        else:
            config.pop(key, None)
    return config


@contextmanager
def _paused(engine: Engine, container: Container, pause: bool) -> Iterator[None]:
    """The container frozen meanwhile, if it runs, is not paused, and ``pause`` (one
    that stopped or got paused since it was looked at is left as it is)."""
    from skiff.errors import Conflict

    paused = False
    if pause and container.state.get("Running") and not container.state.get("Paused"):
        try:
            engine.pause(container.id)
            paused = True
        except Conflict:
            pass
    try:
        yield
    finally:
        if paused:
            engine.unpause(container.id)


def write_layer(
    store: ImageStore, upper: str, lease: str, skip: frozenset[bytes] = frozenset()
) -> tuple[str, int]:
    """The changes in an overlay upper directory (but the paths in ``skip``) as a layer
    blob held by ``lease``: its digest (the layer's diff ID) and size."""
    from skiff.storage.diff import write_diff

    with store.content.writer() as writer:
        write_diff(upper, writer, skip)  # type: ignore[arg-type]
        blob, size, _ = writer.commit(lambda digest: store.hold(lease, digest))
    return blob, size


def register_image(
    store: ImageStore,
    lease: str,
    parent_id: str | None,
    config: dict[str, Any],
    layer: tuple[str, int] | None,
) -> str:
    """Register the image of ``config``: the layers of ``parent_id`` (none for an image
    from scratch) and the new ``layer`` (blob, size) on top; the parent is recorded."""
    from skiff import db
    from skiff.images import digest as digests
    from skiff.images import manifest as manifests
    from skiff.images import mediatypes as mt
    from skiff.images.layer import apply_layer
    from skiff.images.service import LayerRecord

    rows = store.get(parent_id).layers() if parent_id else []
    records = [
        LayerRecord(row["diff_id"], row["blob"], row["media_type"], row["size"], row["diff_size"])
        for row in rows
    ]
    if layer is not None:
        blob, size = layer
        chain = digests.chain_ids(config["rootfs"]["diff_ids"])[-1]

        def unpack(target: str) -> None:
            with store.content.open(blob) as f:
                apply_layer(f, target)

        unpacked = store.unpack_layer(lease, chain, unpack)
        records.append(LayerRecord(blob, blob, mt.DOCKER_LAYER, unpacked, size))
    data = manifests.canonical(config)
    store.hold(lease, digests.of_bytes(data))
    store.content.put(data)
    image_id = store.register(data, records)
    if parent_id:
        with db.transaction(store.db):
            store.db.execute(
                "INSERT OR REPLACE INTO image_parents VALUES (?, ?)", (image_id, parent_id)
            )
    return image_id
