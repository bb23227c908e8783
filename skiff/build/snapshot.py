"""A writable view of an image for the build steps that change files without running
anything (COPY, ADD, WORKDIR), and read-only sources for ``COPY --from``.

A snapshot is the image's layers mounted as an overlay with a fresh upper directory,
under ``builds/`` with a name that carries its owner's tag: the upper directory then
holds exactly what the step changed, and a build killed midway leaves a directory the
next build unmounts and removes (``clean_abandoned``). A RUN step's container is named in
a directory of its own (``run-OWNER-*``), so the container of a killed build, which would
otherwise run on, is removed then too.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from skiff.linux.proc import owner_alive, owner_tag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from skiff.images.service import ImageStore
    from skiff.paths import Paths

_KINDS = ("snapshot", "context", "files", "run")
CONTAINER_FILE = "container"  # in a ``run`` directory: the ID of the RUN step's container


class Snapshot:
    def __init__(self, directory: str) -> None:
        self.dir = directory
        self.upper = os.path.join(directory, "upper")
        self.work = os.path.join(directory, "work")
        self.rootfs = os.path.join(directory, "merged")


@contextmanager
def snapshot(paths: Paths, store: ImageStore, image_id: str | None) -> Iterator[Snapshot]:
    """The image ``image_id`` (None: scratch) mounted writable; unmounted and removed on
    exit."""
    from skiff.storage.layers import mount_overlay

    with workspace(paths, "snapshot") as directory:
        view = Snapshot(directory)
        for path in (view.upper, view.work, view.rootfs):
            os.mkdir(path, 0o755)
        layers = store.get(image_id).layers() if image_id else []
        names = [layer["directory"] for layer in reversed(layers)]
        mount_overlay(store.layer_dirs, names, view.upper, view.work, view.rootfs)
        try:
            yield view
        finally:
            _unmount(view.rootfs)


@contextmanager
def workspace(paths: Paths, kind: str) -> Iterator[str]:
    """A new directory under ``builds/`` for a ``kind`` of temporary files of this build,
    removed on exit."""
    os.makedirs(paths.builds, exist_ok=True)
    directory = os.path.join(paths.builds, f"{kind}-{owner_tag()}-{os.urandom(6).hex()}")
    os.mkdir(directory, 0o700)
    try:
        yield directory
    finally:
        _remove(directory)


def _unmount(path: str) -> None:
    from skiff.linux.mount import MNT_DETACH, umount

    try:
        umount(path, MNT_DETACH)
    except OSError:
        pass


def _remove(directory: str) -> None:
    try:
        os.rmdir(directory)  # most often empty: without shutil's import (bz2, lzma...)
    except OSError:
        import shutil

        shutil.rmtree(directory, ignore_errors=True)


def clean_abandoned(paths: Paths) -> None:
    """Unmount and remove the snapshots and contexts of builds that died (kill -9), and
    remove the containers of their RUN steps."""
    if not os.path.isdir(paths.builds):
        return
    for name in os.listdir(paths.builds):
        kind, _, rest = name.partition("-")
        if kind in _KINDS and not owner_alive(rest.rpartition("-")[0]):
            directory = os.path.join(paths.builds, name)
            if kind == "run":
                _remove_container(paths, directory)
            _unmount(os.path.join(directory, "merged"))
            _remove(directory)


def _remove_container(paths: Paths, directory: str) -> None:
    """The container a dead build's RUN step named, killed and removed if it is left."""
    try:
        with open(os.path.join(directory, CONTAINER_FILE)) as f:
            container_id = f.read().strip()
    except FileNotFoundError:
        return
    if not container_id:
        return
    from skiff.engine.engine import Engine
    from skiff.errors import NotFound

    try:
        Engine(paths).remove(container_id, force=True, volumes=True)
    except NotFound:
        pass
