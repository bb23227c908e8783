"""A live directory tree as a tar stream: ``cp`` out of a container, ``export``, and the
host side of ``cp`` into one.

What Docker's archiver writes: a resource under the name asked for, then (a directory)
everything below it, depth first, names sorted as bytes within a directory; directories
named with a trailing ``/``; numeric owners and empty user and group names; whole-second
modification times; the second and later names of a hard-linked file as link entries;
``security.capability`` of regular files; sockets left out (a tar cannot hold them).

Everything is opened relative to a directory descriptor without following a final
symlink, so a tree that changes while it is read (a running container) cannot send the
walk outside it. A file that disappears meanwhile is left out; one that shrinks is padded
with zeros so the archive stays well formed. Directories on a device in ``hidden`` are
written empty (a running container's /proc and /sys: see ``container_root``).
"""

from __future__ import annotations

import errno
import os
import stat

from skiff.images import tarstream

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CHUNK = 1 << 20
_GONE = (errno.ENOENT, errno.ENOTDIR)
_CAPABILITY = "security.capability"


class TreeArchive:
    """Writes tar entries to ``out``; ``close`` writes the end of the archive.

    For a build's COPY: ``skip(path, is_dir)`` leaves out the entries it says (the paths
    as written; a skipped directory with all it holds) and ``permissions(st_mode)`` gives
    each entry's permission bits (``--chmod``, set-id bits cleared)."""

    def __init__(
        self,
        out: BinaryIO,
        hidden: frozenset[int] = frozenset(),
        skip: Callable[[bytes, bool], bool] | None = None,
        permissions: Callable[[int], int] | None = None,
    ) -> None:
        self.writer = tarstream.TarWriter(out)
        self.hidden = hidden
        self.skip = skip
        self.permissions = permissions
        self.links: dict[tuple[int, int], bytes] = {}

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self.writer.size

    def add(self, parent: int, name: bytes, path: bytes) -> None:
        """The entry ``name`` of the directory ``parent`` (not followed if a symlink),
        written as ``path``, with all it holds."""
        child = self._entry(parent, name, path)
        if child is not None:
            self._walk(child, _dir_name(path))

    def add_directory(self, fd: int, path: bytes) -> None:
        """The directory open as ``fd`` written as ``path`` with all it holds; with an
        empty ``path``, only what it holds (an export)."""
        st = os.fstat(fd)
        if path:
            self._directory_header(_dir_name(path), st)
        if st.st_dev in self.hidden:
            return
        self._walk(os.open(".", _OPEN_DIR, dir_fd=fd), _dir_name(path) if path else b"")

    def close(self) -> None:
        self.writer.close()

    # --- entries --------------------------------------------------------------------

    def _walk(self, top: int, prefix: bytes) -> None:
        """What the directory ``top`` holds (closed when done), depth first."""
        stack: list[tuple[int, bytes, list[bytes]]] = [(top, prefix, [])]
        try:
            stack[0] = (top, prefix, _names(top))
            while stack:
                dfd, where, names = stack[-1]
                if not names:
                    stack.pop()
                    os.close(dfd)
                    continue
                name = names.pop()
                child = self._entry(dfd, name, where + name)
                if child is not None:
                    stack.append((child, where + name + b"/", _names(child)))
        finally:
            for dfd, _, _ in stack:
                os.close(dfd)

    def _entry(self, dfd: int, name: bytes, path: bytes) -> int | None:
        """Write one entry; an open descriptor of it if it is a directory to descend."""
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            mode = st.st_mode
            if self.skip is not None and self.skip(path, stat.S_ISDIR(mode)):
                return None
            if stat.S_ISDIR(mode):
                self._directory_header(_dir_name(path), st)
                if st.st_dev in self.hidden:
                    return None
                return os.open(name, _OPEN_DIR, dir_fd=dfd)
            if stat.S_ISREG(mode):
                self._regular(dfd, name, path)
            elif stat.S_ISLNK(mode):
                target = os.readlink(name, dir_fd=dfd)
                self._add(path, tarstream.SYMTYPE, st, linkname=os.fsencode(target))
            elif kind := tarstream.special_type(mode):
                device = st.st_rdev if kind != tarstream.FIFOTYPE else 0
                self._add(
                    path,
                    kind,
                    st,
                    devmajor=os.major(device),
                    devminor=os.minor(device),
                )
        except OSError as e:
            if e.errno not in _GONE:
                raise
        return None

    def _add(
        self,
        path: bytes,
        kind: bytes,
        st: os.stat_result,
        *,
        size: int = 0,
        linkname: bytes = b"",
        devmajor: int = 0,
        devminor: int = 0,
        xattrs: dict[bytes, bytes] | None = None,
    ) -> None:
        self.writer.add(
            path,
            kind,
            mode=stat.S_IMODE(st.st_mode)
            if self.permissions is None
            else self.permissions(st.st_mode),
            uid=st.st_uid,
            gid=st.st_gid,
            size=size,
            mtime=st.st_mtime_ns // 1_000_000_000,
            linkname=linkname,
            devmajor=devmajor,
            devminor=devminor,
            xattrs=xattrs,
        )

    def _directory_header(self, path: bytes, st: os.stat_result) -> None:
        self._add(path, tarstream.DIRTYPE, st)

    def _regular(self, dfd: int, name: bytes, path: bytes) -> None:
        fd = os.open(name, _OPEN_FILE, dir_fd=dfd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):  # replaced since it was looked at
                return
            if st.st_nlink > 1:
                first = self.links.get((st.st_dev, st.st_ino))
                if first is not None:
                    self._add(path, tarstream.LNKTYPE, st, linkname=first)
                    return
                self.links[(st.st_dev, st.st_ino)] = path
            xattrs = None
            try:
                xattrs = {_CAPABILITY.encode(): os.getxattr(fd, _CAPABILITY)}
            except OSError:
                pass
            size = st.st_size
            self._add(path, tarstream.REGTYPE, st, size=size, xattrs=xattrs)
            remaining = size
            while remaining:
                chunk = os.read(fd, min(remaining, _CHUNK))
                if not chunk:
                    chunk = bytes(min(remaining, _CHUNK))
                self.writer.write_data(chunk)
                remaining -= len(chunk)
            self.writer.end_data(size)
        finally:
            os.close(fd)


def _dir_name(path: bytes) -> bytes:
    return path if path.endswith(b"/") else path + b"/"


def _names(dfd: int) -> list[bytes]:
    """The names in a directory, sorted in reverse (the walk pops from the end)."""
    return sorted((os.fsencode(n) for n in os.listdir(dfd)), reverse=True)
