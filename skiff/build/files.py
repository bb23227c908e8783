"""COPY and ADD: files from the context, another stage or image, or a URL, into a
snapshot of the image being built, by the classic builder's rules.

- A directory source copies what it holds, not itself; a file source lands at the
  destination's path, or inside it when the destination ends with ``/`` or is a
  directory. Several sources (or a wildcard) need a directory destination ending in
  ``/``. A relative destination is below WORKDIR.
- A source that is a symlink is followed (inside its root); symlinks below a directory
  source are copied as they are.
- Everything copied is owned by root or by ``--chown``'s user and group (looked up in the
  image's /etc/passwd and /etc/group), and then loses its set-user-ID bit (and its
  set-group-ID bit where it is group-executable), as files dockerd chowns do; ``COPY
  --from`` without ``--chown`` keeps the other image's owners and modes. Directories made
  for a file's destination get the file's owner; for a directory's, only the destination
  itself does, the ones above it are root's. Modification times are the source's, modes
  the source's or ``--chmod``'s.
- ADD also unpacks a local tar archive (plain, gzip, bzip2, xz) into the destination,
  with the archive's owners, and fetches an http(s) URL into a file (mode 0600, its
  time from Last-Modified).

The files are written as a tar stream and extracted into the snapshot with the
destination resolved inside its root (``RESOLVE_IN_ROOT``): a symlink in the image cannot
send a write to the host.
"""

from __future__ import annotations

import os
import stat

from skiff.engine.copy_paths import base, dirname, join
from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

Owner = tuple[int, int]


class Source:
    """One source: ``relative`` (a path below ``root``, a host directory: the context or
    a mounted image), named ``name`` in the destination, ``skip`` for what is ignored
    below it (relative paths in its root)."""

    def __init__(
        self, root: str, relative: str, name: str, skip: Callable[[str], bool] | None = None
    ) -> None:
        self.root = root
        self.relative = relative
        self.name = name
        self.skip = skip


def follow(root: str, relative: str) -> str:
    """``relative`` with its symlinks followed inside ``root`` (moby's
    FollowSymlinkInScope); relative to ``root``."""
    resolved: list[str] = []
    todo = [p for p in relative.split("/") if p]
    links = 0
    while todo:
        part = todo.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        path = os.path.join(root, *resolved, part)
        if not os.path.islink(path):
            resolved.append(part)
            continue
        links += 1
        if links > 255:
            raise InvalidArgument(f"too many links in {relative}")
        target = os.readlink(path)
        if target.startswith("/"):
            resolved = []
        todo[:0] = [p for p in target.split("/") if p]
    return "/".join(resolved)


def copy(
    rootfs: str,
    sources: list[Source],
    dest: str,
    workdir: str,
    *,
    owner: Owner | None,
    mode: int | None,
    instruction: str,
) -> None:
    """Copy ``sources`` to ``dest`` in the mounted root ``rootfs``; ``owner`` None keeps
    the sources' owners."""
    target = _destination(dest, workdir)
    if len(sources) > 1 and not dest.endswith("/"):
        raise InvalidArgument(
            f"When using {instruction} with more than one source file, the destination must "
            "be a directory and end with a /"
        )
    root = _open_root(rootfs)
    try:
        for source in sources:
            resolved = follow(source.root, source.relative)
            path = os.path.join(source.root, resolved) if resolved else source.root
            try:
                st = os.stat(path)
            except FileNotFoundError:
                raise InvalidArgument(
                    f"{instruction} failed: stat {source.relative}: file does not exist"
                ) from None
            permissions = _permissions(mode, owner is not None)
            if stat.S_ISDIR(st.st_mode):
                _copy_tree(root, path, resolved, source, target, owner, permissions)
            else:
                into, name = _file_destination(root, target, dest, source.name)
                _copy_file(root, path, into, name, owner, permissions)
    finally:
        os.close(root)


def add_archive(rootfs: str, archive: str, dest: str, workdir: str) -> None:
    """ADD of a local tar archive: unpacked into ``dest`` with the archive's owners."""
    from skiff.engine.untar import ARCHIVE_OWNER
    from skiff.images.compression import sniffed

    target = _destination(dest, workdir)
    root = _open_root(rootfs)
    try:
        _make_directory(root, target, (0, 0))
        with open(archive, "rb") as f:
            _extract(sniffed(f), root, target, ARCHIVE_OWNER)
    finally:
        os.close(root)


def make_workdir(rootfs: str, path: str) -> None:
    """WORKDIR: the directory made (root's, 0755) where it is missing."""
    root = _open_root(rootfs)
    try:
        _make_directory(root, path, (0, 0))
    finally:
        os.close(root)


def is_archive(path: str) -> bool:
    """Whether ADD unpacks this file: a tar, compressed or not (Docker's IsArchivePath)."""
    from skiff.images import tarstream
    from skiff.images.compression import sniffed

    try:
        with open(path, "rb") as raw:
            head = sniffed(raw).read(tarstream.BLOCK)
    except (OSError, EOFError, ValueError):
        return False
    if len(head) < tarstream.BLOCK:
        return False
    try:
        tarstream.parse_header(head)
    except (InvalidArgument, ValueError):
        return False
    return True


def fetch(
    url: str, directory: str, progress: Callable[[int, int], None] | None = None
) -> tuple[str, str]:
    """ADD of a URL, or a remote context: the file fetched into ``directory`` (mode 0600,
    its modification time from Last-Modified); its path and the name it takes (the URL's
    last element). ``progress(done, total)`` hears each chunk (total 0: unknown). An HTTP
    error status is dockerd's "failed to GET URL with status ..." (NotFound for 404)."""
    import email.utils
    import urllib.error
    import urllib.parse
    import urllib.request

    from skiff.errors import NotFound

    name = base(urllib.parse.urlsplit(url).path) or "index.html"
    path = os.path.join(directory, "download")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
            modified = response.headers.get("Last-Modified")
    except urllib.error.HTTPError as e:
        body = e.read(4096).decode(errors="replace").strip()
        kind = NotFound if e.code == 404 else InvalidArgument
        raise kind(f"failed to GET {url} with status {e.code} {e.reason}: {body}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise InvalidArgument(f"failed to GET {url}: {reason}") from None
    os.chmod(path, 0o600)
    if modified:
        parsed = email.utils.parsedate_to_datetime(modified)
        os.utime(path, (parsed.timestamp(), parsed.timestamp()))
    return path, name


def _permissions(mode: int | None, chowned: bool) -> Callable[[int], int]:
    """An entry's permission bits: ``mode`` (``--chmod``) or its own, without the set-id
    bits that a chown clears on a non-directory."""

    def permissions(st_mode: int) -> int:
        bits = stat.S_IMODE(st_mode) if mode is None else mode
        if chowned and not stat.S_ISDIR(st_mode):
            bits &= ~stat.S_ISUID
            if bits & stat.S_IXGRP:
                bits &= ~stat.S_ISGID
        return bits

    return permissions


# --- the destination ----------------------------------------------------------------


def _destination(dest: str, workdir: str) -> str:
    if dest.startswith("/"):
        return dest
    joined = join(workdir or "/", dest)
    return joined + "/" if dest.endswith("/") or dest in (".", "./") else joined


def _open_root(rootfs: str) -> int:
    from skiff.linux.openat2 import O_PATH

    return os.open(rootfs, O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def _is_directory(root: int, path: str) -> bool:
    from skiff.linux.openat2 import O_PATH, open_in_root

    try:
        fd = open_in_root(root, path, O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return stat.S_ISDIR(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def _file_destination(root: int, target: str, dest: str, name: str) -> tuple[str, str]:
    """(directory, name) where a file source lands."""
    if dest.endswith("/") or _is_directory(root, target):
        return target.rstrip("/") or "/", name
    return dirname(target), base(target)


def _make_directory(root: int, path: str, owner: Owner) -> None:
    """``mkdir -p`` inside the root; the directories made are 0755 and ``owner``'s."""
    from skiff.linux.openat2 import O_PATH, open_in_root

    made = "/"
    for part in [p for p in path.split("/") if p]:
        made = join(made, part)
        try:
            fd = open_in_root(root, made, O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            parent = open_in_root(root, dirname(made), O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.mkdir(part, 0o755, dir_fd=parent)
                os.chown(part, *owner, dir_fd=parent, follow_symlinks=False)
            except FileExistsError:
                pass
            finally:
                os.close(parent)
            continue
        except NotADirectoryError:
            raise InvalidArgument(f"cannot copy to {path}: {made} is not a directory") from None
        os.close(fd)


# --- writing -----------------------------------------------------------------------


def _extract(stream: BinaryIO, root: int, directory: str, owner: Owner | str | None) -> None:
    """Extract into ``directory``; ``owner`` None: the archive's owners."""
    from skiff.engine.untar import ARCHIVE_OWNER, extract
    from skiff.linux.openat2 import RESOLVE_IN_ROOT

    extract(
        stream,
        root,
        directory,
        resolve=RESOLVE_IN_ROOT,
        shown=directory,
        owner=ARCHIVE_OWNER if owner is None else owner,
        no_overwrite_dir_non_dir=False,
    )


def _copy_tree(
    root: int,
    path: str,
    resolved: str,
    source: Source,
    target: str,
    owner: Owner | None,
    permissions: Callable[[int], int],
) -> None:
    """What the directory ``path`` holds into ``target``."""
    import tempfile

    from skiff.engine.tree_archive import TreeArchive

    skip = None
    if source.skip is not None:
        ignored = source.skip

        def skip(written: bytes, is_dir: bool) -> bool:
            below = os.fsdecode(written).rstrip("/")
            return ignored(f"{resolved}/{below}" if resolved else below)

    _make_directory(root, dirname(target.rstrip("/") or "/"), (0, 0))
    _make_directory(root, target, owner or (0, 0))
    with tempfile.TemporaryFile() as spool:
        archive = TreeArchive(spool, skip=skip, permissions=permissions)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            archive.add_directory(fd, b"")
        finally:
            os.close(fd)
        archive.close()
        spool.seek(0)
        _extract(spool, root, target, owner)


def _copy_file(
    root: int,
    path: str,
    into: str,
    name: str,
    owner: Owner | None,
    permissions: Callable[[int], int],
) -> None:
    """The file (or other non-directory) ``path`` as ``into/name``."""
    import tempfile

    from skiff.engine.tree_archive import TreeArchive

    _make_directory(root, into, owner or (0, 0))
    parent = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with tempfile.TemporaryFile() as spool:
            archive = TreeArchive(spool, permissions=permissions)
            archive.add(parent, os.fsencode(os.path.basename(path)), os.fsencode(name))
            archive.close()
            spool.seek(0)
            _extract(spool, root, into, owner)
    finally:
        os.close(parent)
