"""An overlayfs upper directory as an OCI layer tar (for commit and build).

The tar is uncompressed and deterministic: entries in sorted order (a directory before its
contents, names compared as bytes), PAX format, numeric owners with empty user and group
names, modification times in whole seconds (as Docker writes them; no access or change
times). The upper directory's own root is not written, as Docker does not.

Overlay's own records become OCI ones: a whiteout (a 0/0 character device, or a file with
the ``trusted.overlay.whiteout`` xattr) becomes an empty ``.wh.<name>`` file; an opaque
directory (``trusted.overlay.opaque=y``) is written followed by ``<dir>/.wh..wh..opq``.
Hard links within the upper directory are written once, then as link entries. Xattrs are
kept except ``trusted.overlay.*``. Sockets are skipped (a tar cannot hold them).

An upper directory that relies on lower layers for data it does not hold itself cannot be
written as a layer: a ``trusted.overlay.redirect`` directory (redirect_dir=on) or a
``trusted.overlay.metacopy`` file (metacopy=on) raises EngineError; mount overlays used for
commits with ``redirect_dir=off,metacopy=off`` (the Debian kernel's defaults).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass

from skiff.errors import EngineError
from skiff.images import tarstream

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

WHITEOUT_PREFIX = b".wh."
OPAQUE_MARKER = b".wh..wh..opq"
_OVERLAY_XATTR = b"trusted.overlay."
_READ_CHUNK = 1 << 20
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(slots=True)
class DiffResult:
    """What ``write_diff`` wrote."""

    size: int  # bytes of tar written
    digest: str  # "sha256:<hex>" of the tar: the layer's diff ID
    entries: int = 0  # tar members, whiteouts and opaque markers included
    whiteouts: int = 0
    opaque_dirs: int = 0


def _xattrs(target: int | str) -> dict[bytes, bytes]:
    """The xattrs of an open file, or of a path (last component not followed)."""
    try:
        if isinstance(target, int):
            names = os.listxattr(target)
        else:
            names = os.listxattr(target, follow_symlinks=False)
    except OSError:
        return {}
    found: dict[bytes, bytes] = {}
    for name in names:
        try:
            if isinstance(target, int):
                value = os.getxattr(target, name)
            else:
                value = os.getxattr(target, name, follow_symlinks=False)
        except OSError:
            continue  # removed meanwhile, or not readable: nothing to keep
        found[os.fsencode(name)] = value
    return found


def _check_self_contained(path: bytes, xattrs: dict[bytes, bytes]) -> None:
    for key, what in (
        (b"trusted.overlay.redirect", "a renamed lower directory (redirect_dir=on)"),
        (b"trusted.overlay.metacopy", "a metadata-only copy-up (metacopy=on)"),
    ):
        if key in xattrs:
            raise EngineError(
                f"cannot write a layer of {os.fsdecode(path)!r}: {what} keeps its data in "
                "a lower layer"
            )


class _Differ:
    def __init__(self, writer: tarstream.TarWriter, skip: frozenset[bytes]) -> None:
        self.writer = writer
        self.skip = skip
        self.result = DiffResult(0, "")
        self.links: dict[tuple[int, int], bytes] = {}

    def walk(self, rootfd: int) -> None:
        # An explicit stack of (directory fd, its tar path prefix, remaining names), so
        # deep trees need no recursion; names are sorted as bytes.
        stack: list[tuple[int, bytes, list[bytes]]] = [(rootfd, b"", _sorted_names(rootfd))]
        try:
            while stack:
                dfd, prefix, names = stack[-1]
                if not names:
                    stack.pop()
                    if dfd != rootfd:
                        os.close(dfd)
                    continue
                name = names.pop()
                child = self.entry(dfd, prefix, name)
                if child is not None:
                    stack.append((child, prefix + name + b"/", _sorted_names(child)))
        finally:
            for dfd, _, _ in stack:
                if dfd != rootfd:
                    os.close(dfd)

    def entry(self, dfd: int, prefix: bytes, name: bytes) -> int | None:
        """Write one entry; returns an open fd of it if it is a directory to descend."""
        path = prefix + name
        if path in self.skip:
            return None
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        mode = st.st_mode
        writer = self.writer
        result = self.result
        mtime = st.st_mtime_ns // 1_000_000_000
        perm = stat.S_IMODE(mode)
        if stat.S_ISCHR(mode) and st.st_rdev == 0:
            self.whiteout(prefix, name, st.st_uid, st.st_gid, mtime)
            return None
        if stat.S_ISDIR(mode):
            fd = os.open(name, _OPEN_DIR, dir_fd=dfd)
            try:
                xattrs = _xattrs(fd)
                _check_self_contained(path, xattrs)
                opaque = xattrs.get(b"trusted.overlay.opaque") == b"y"
                writer.add(
                    path + b"/",
                    tarstream.DIRTYPE,
                    mode=perm,
                    uid=st.st_uid,
                    gid=st.st_gid,
                    mtime=mtime,
                    xattrs=_kept(xattrs),
                )
                result.entries += 1
                if opaque:
                    writer.add(
                        path + b"/" + OPAQUE_MARKER,
                        tarstream.REGTYPE,
                        mode=perm & 0o777,
                        uid=st.st_uid,
                        gid=st.st_gid,
                        mtime=mtime,
                    )
                    result.entries += 1
                    result.opaque_dirs += 1
            except BaseException:
                os.close(fd)
                raise
            return fd
        if stat.S_ISREG(mode):
            self.regular(dfd, prefix, name, st)
            return None
        if stat.S_ISLNK(mode):
            target = os.readlink(name, dir_fd=dfd)
            assert isinstance(target, bytes)
            writer.add(
                path,
                tarstream.SYMTYPE,
                mode=perm,
                uid=st.st_uid,
                gid=st.st_gid,
                mtime=mtime,
                linkname=target,
                xattrs=_kept(_xattrs(_proc_path(dfd, name))),
            )
        elif kind := tarstream.special_type(mode):
            writer.add(
                path,
                kind,
                mode=perm,
                uid=st.st_uid,
                gid=st.st_gid,
                mtime=mtime,
                devmajor=os.major(st.st_rdev) if kind != tarstream.FIFOTYPE else 0,
                devminor=os.minor(st.st_rdev) if kind != tarstream.FIFOTYPE else 0,
                xattrs=_kept(_xattrs(_proc_path(dfd, name))),
            )
        else:
            return None  # a socket: tar has no such member
        result.entries += 1
        return None

    def whiteout(self, prefix: bytes, name: bytes, uid: int, gid: int, mtime: int) -> None:
        self.writer.add(
            prefix + WHITEOUT_PREFIX + name,
            tarstream.REGTYPE,
            mode=0o600,
            uid=uid,
            gid=gid,
            mtime=mtime,
        )
        self.result.entries += 1
        self.result.whiteouts += 1

    def regular(self, dfd: int, prefix: bytes, name: bytes, st: os.stat_result) -> None:
        path = prefix + name
        writer = self.writer
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1:
            first = self.links.get(key)
            if first is not None:
                writer.add(
                    path,
                    tarstream.LNKTYPE,
                    mode=stat.S_IMODE(st.st_mode),
                    uid=st.st_uid,
                    gid=st.st_gid,
                    mtime=st.st_mtime_ns // 1_000_000_000,
                    linkname=first,
                )
                self.result.entries += 1
                return
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        try:
            xattrs = _xattrs(fd)
            _check_self_contained(path, xattrs)
            if st.st_size == 0 and b"trusted.overlay.whiteout" in xattrs:
                self.whiteout(prefix, name, st.st_uid, st.st_gid, st.st_mtime_ns // 1_000_000_000)
                return
            if st.st_nlink > 1:
                self.links[key] = path
            size = st.st_size
            writer.add(
                path,
                tarstream.REGTYPE,
                mode=stat.S_IMODE(st.st_mode),
                uid=st.st_uid,
                gid=st.st_gid,
                size=size,
                mtime=st.st_mtime_ns // 1_000_000_000,
                xattrs=_kept(xattrs),
            )
            remaining = size
            while remaining:
                chunk = os.read(fd, min(remaining, _READ_CHUNK))
                if not chunk:  # shrank while being read: keep the tar well formed
                    chunk = bytes(min(remaining, _READ_CHUNK))
                writer.write_data(chunk)
                remaining -= len(chunk)
            writer.end_data(size)
        finally:
            os.close(fd)
        self.result.entries += 1


def _kept(xattrs: dict[bytes, bytes]) -> dict[bytes, bytes] | None:
    kept = {k: v for k, v in xattrs.items() if not k.startswith(_OVERLAY_XATTR)}
    return kept or None


def _sorted_names(dfd: int) -> list[bytes]:
    """The names in a directory, sorted in reverse (the walk pops from the end)."""
    return sorted((os.fsencode(n) for n in os.listdir(dfd)), reverse=True)


def _proc_path(dirfd: int, name: bytes) -> str:
    return f"/proc/self/fd/{dirfd}/{os.fsdecode(name)}"


def write_diff(upper: str, out: BinaryIO, skip: frozenset[bytes] = frozenset()) -> DiffResult:
    """Write the overlay upper directory ``upper`` to ``out`` as an OCI layer tar, without
    the entries (and what is below them) whose paths are in ``skip`` (``b"etc/hosts"``).

    Returns the number of bytes written and their sha256 (the layer's diff ID), hashed as
    they are written.
    """
    digest = hashlib.sha256()
    writer = tarstream.TarWriter(out, on_write=digest.update)
    differ = _Differ(writer, skip)
    rootfd = os.open(upper, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        differ.walk(rootfd)
    finally:
        os.close(rootfd)
    writer.close()
    result = differ.result
    result.size = writer.size
    result.digest = "sha256:" + digest.hexdigest()
    return result
