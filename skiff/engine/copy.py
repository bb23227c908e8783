"""``cp`` and ``export`` on the engine's side: Docker's archive API of a container.

- :func:`stat_path` (``HEAD /containers/{id}/archive``): what a path in the container is.
- :func:`copy_from` (``GET``): a tar of a path, named by its base name (``/.`` gives
  ``.``, ``/`` gives ``/``); a symlink is archived as a link unless the path ends in
  ``/`` or ``/.``.
- :func:`copy_to` (``PUT``): extract a tar into a directory of the container.
- :func:`export`: a tar of the container's root filesystem, without its mounts.

They work on running and stopped containers alike; ``container_root`` says how the root
is opened and why a symlink in the container cannot reach the host.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager

from skiff.engine.container_root import ContainerRoot, check_writable, open_root
from skiff.engine.copy_paths import absolute_in_container, asserts_directory, base, dirname
from skiff.errors import InvalidArgument, NotFound
from skiff.values import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

    from skiff.engine.engine import Engine


class PathStat(Value):
    """Docker's ``ContainerPathStat``: ``mode`` is a ``st_mode``; ``link_target`` the
    fully resolved path in the container of a symlink ("" otherwise)."""

    FIELDS = ("name", "size", "mode", "mtime", "link_target")
    __slots__ = FIELDS

    def __init__(self, name: str, size: int, mode: int, mtime: float, link_target: str) -> None:
        self.name = name
        self.size = size
        self.mode = mode
        self.mtime = mtime
        self.link_target = link_target

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)


class ContainerArchive:
    """A path of a container to archive: its ``stat``; ``write`` sends the tar."""

    def __init__(self, root: ContainerRoot, path: str, path_stat: PathStat) -> None:
        self.root = root
        self.path = path  # absolute, with its trailing "/" or "/." kept
        self.stat = path_stat

    def write(self, out: BinaryIO) -> int:
        """Write the tar to ``out``; its size in bytes."""
        from skiff.engine.tree_archive import TreeArchive

        archive = TreeArchive(out, self.root.hidden)
        name = os.fsencode(self.stat.name)
        if self.path == "/" or asserts_directory(self.path):
            fd = self.root.open(self.path)
            try:
                archive.add_directory(fd, name)
            finally:
                os.close(fd)
        else:
            parent = self.root.open(dirname(self.path))
            try:
                archive.add(parent, os.fsencode(base(self.path)), name)
            finally:
                os.close(parent)
        archive.close()
        return archive.size


def _not_found(path: str, ref: str) -> NotFound:
    return NotFound(f"Could not find the file {path} in container {ref}")


def _stat(root: ContainerRoot, ref: str, path: str) -> tuple[str, PathStat]:
    """The absolute form of ``path`` and its stat, with Docker's errors."""
    if not path:
        raise InvalidArgument("path cannot be empty")
    absolute = absolute_in_container(path)
    try:
        if absolute == "/" or asserts_directory(absolute):
            fd = root.open(absolute)
            try:
                st = os.fstat(fd)
            finally:
                os.close(fd)
        else:
            st = root.lstat(absolute)
    except FileNotFoundError:
        raise _not_found(path, ref) from None
    except OSError as e:  # "lstat /d/f/: not a directory", as Go words it
        raise InvalidArgument(f"lstat {absolute}: {os.strerror(e.errno or 0).lower()}") from None
    target = root.follow(absolute) if stat.S_ISLNK(st.st_mode) else ""
    return absolute, PathStat(base(absolute), st.st_size, st.st_mode, st.st_mtime, target)


def stat_path(engine: Engine, ref: str, path: str) -> PathStat:
    """What ``path`` is in container ``ref`` (NotFound with Docker's message if nothing)."""
    with open_root(engine, ref) as root:
        return _stat(root, ref, path)[1]


@contextmanager
def copy_from(engine: Engine, ref: str, path: str) -> Iterator[ContainerArchive]:
    """``with copy_from(engine, ref, path) as archive``: ``archive.stat``, then
    ``archive.write(out)`` streams the tar while the container's root is open."""

    with open_root(engine, ref) as root:
        absolute, path_stat = _stat(root, ref, path)
        engine.record_event(root.container, "archive-path")
        yield ContainerArchive(root, absolute, path_stat)


def copy_to(
    engine: Engine,
    ref: str,
    path: str,
    stream: BinaryIO,
    *,
    copy_uid_gid: bool = False,
    no_overwrite_dir_non_dir: bool = True,
) -> None:
    """Extract the tar ``stream`` into the directory ``path`` of container ``ref``.

    Owners are the archive's; with ``copy_uid_gid`` and a container user (``-u`` or the
    image's USER), that user's, looked up in the container (Docker's ``cp -a``).
    """
    from skiff.engine.untar import ARCHIVE_OWNER, extract
    from skiff.linux.openat2 import RESOLVE_IN_ROOT

    if not path:
        raise InvalidArgument("path cannot be empty")
    with open_root(engine, ref) as root:
        container = root.container
        resolved = root.follow(absolute_in_container(path))
        try:
            fd = root.open(resolved)
        except FileNotFoundError:
            raise _not_found(path, ref) from None
        except NotADirectoryError:
            raise InvalidArgument("extraction point is not a directory") from None
        try:
            check_writable(root, fd, bool(container.options.get("read_only")))
        finally:
            os.close(fd)
        owner: tuple[int, int] | str = ARCHIVE_OWNER
        if copy_uid_gid:
            user = container.options.get("user") or _image_user(engine, container.image_id)
            if user:
                from skiff.engine.userinfo import resolve_user_in_rootfs

                found = resolve_user_in_rootfs(root.path, user)
                owner = (found.uid, found.gid)
        extract(
            stream,
            root.fd,
            resolved,
            resolve=RESOLVE_IN_ROOT,
            shown=resolved,
            owner=owner,
            no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
        )
        engine.record_event(container, "extract-to-dir")


def _image_user(engine: Engine, image_id: str) -> str:
    config = engine.images.get(image_id).config.get("config") or {}
    return str(config.get("User") or "")


def export(engine: Engine, ref: str, out: BinaryIO) -> None:
    """The container's root filesystem as a tar (its mounts left out, as Docker does)."""
    from skiff.engine.tree_archive import TreeArchive

    with open_root(engine, ref, mounts=False) as root:
        archive = TreeArchive(out)
        fd = root.open("/")
        try:
            archive.add_directory(fd, b"")
        finally:
            os.close(fd)
        archive.close()
        engine.record_event(root.container, "export")
