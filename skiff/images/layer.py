"""Applying an image layer: an uncompressed OCI/Docker layer tar unpacked into its own directory.

Each layer is unpacked into an empty directory that becomes one overlayfs lower directory;
lower layers are not visible there, so OCI whiteouts are converted to overlayfs ones:
``dir/.wh.name`` becomes a 0/0 character device ``dir/name``, ``dir/.wh..wh..opq`` becomes
the xattr ``trusted.overlay.opaque=y`` on ``dir``.

Confinement: every directory is reached with ``openat2(RESOLVE_BENEATH |
RESOLVE_NO_SYMLINKS)`` from the target, and every entry is created relative to its parent's
descriptor with a call that does not follow a final symlink (``O_CREAT|O_EXCL|O_NOFOLLOW``,
``mkdirat``, ``symlinkat``, ``mknodat``, ``linkat`` without ``AT_SYMLINK_FOLLOW``). Names are
normalised as Docker does (a leading ``/`` and ``.`` components dropped, ``..`` resolved
lexically) and refused when they escape. A member whose path goes through a symlink of this
layer (``link -> /etc`` then ``link/passwd``) is refused, as is a hard link whose target
escapes or does not exist in this layer. Symlinks planted by lower layers are not in the
target; overlayfs resolves them at run time, inside the container. Where openat2 is missing
or filtered (ENOSYS, or EPERM from a seccomp filter), directories are opened one component
at a time with ``O_NOFOLLOW`` instead.

Whiteouts follow the OCI rules: a whiteout hides lower layers only, so a name present in the
same layer stays (in either order), and a directory of this layer over a whiteout of its own
name is made opaque (the lower directory's contents stay hidden).

Source and hashing contract
---------------------------
``apply_layer(stream, target)`` reads ``stream`` sequentially to its end (the bytes after
the end-of-archive marker too), each byte once, in order, never seeking: a hashing wrapper
around ``stream`` sees exactly the tar, so the caller checks the diff ID after the call.

``apply_layer(stream, target, source_fd=fd, source_offset=off)``: the tar is the bytes
``[off, EOF)`` of the regular file ``fd``. Headers and small files are read with
``preadv``, large files are copied with ``copy_file_range`` (page cache to page cache, no
copy through Python), both at explicit offsets: the file position of ``fd`` is neither used
nor moved, and ``stream`` is not read (it may be None; if it is seekable it is left at its
end). Nothing flows through a wrapper, so the caller hashes the region itself:
``region_digest(fd, off)``, which can run in another thread at the same time (it reads with
``mmap`` and hashlib releases the GIL), or ``apply_layer_file`` which does both and checks
the digest. Either way the layer must be unpacked into a staging directory that is published
only once the digest is known to match.

Regular file ownership, mode and times are set on the open descriptor (``fchown`` before
``fchmod``, since chown clears set-id bits; xattrs after both, since chown clears
``security.capability``). Directories are created 0700; their mode and times are set at the
end, deepest first, after their contents. ``trusted.overlay.*`` and ``user.overlay.*``
xattrs in a layer are dropped (they would steer overlayfs); PAX global headers are ignored
(as Docker and containerd do). A member that repeats a path replaces the earlier entry,
except that a directory over a directory keeps the existing one (and takes the new
metadata). A missing parent directory is created 0755, owned by the caller.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from dataclasses import dataclass

from skiff.errors import EngineError, InvalidArgument
from skiff.images import tarstream
from skiff.images.tarstream import TarFormatError, TarReader
from skiff.linux.libc import syscall
from skiff.linux.openat2 import (
    O_PATH,
    RESOLVE_BENEATH,
    RESOLVE_NO_MAGICLINKS,
    RESOLVE_NO_SYMLINKS,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import BinaryIO

    from skiff.images.tarstream import Member

WHITEOUT_PREFIX = b".wh."
OPAQUE_MARKER = b".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"

_RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
_DIR_CACHE_MAX = 256
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_DROPPED_XATTRS = (b"trusted.overlay.", b"user.overlay.")
# Errors of the host, not of the layer: reported as EngineError.
_HOST_ERRORS = frozenset(
    (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM, errno.EMFILE, errno.ENFILE)
)

_REGULAR = (tarstream.REGTYPE, tarstream.AREGTYPE, tarstream.CONTTYPE)

# What a layer may hold after its end-of-archive blocks: a tar writer pads to its record
# size (GNU tar's is 10 KiB), nothing more. The bytes would only be hashed (the diff ID
# covers them), but a compressed layer of a few hundred KiB (zstd) can inflate to many GiB
# of them: seconds of CPU per layer, for nothing. Docker reads them all.
TRAILING_LIMIT = 16 << 20


class LayerError(InvalidArgument):
    """A layer tar that is malformed or would write outside its directory."""


@dataclass(slots=True)
class ApplyResult:
    """What ``apply_layer`` wrote."""

    files: int = 0  # regular files (hard links not counted)
    dirs: int = 0  # directories, including missing parents it created
    symlinks: int = 0
    hardlinks: int = 0
    devices: int = 0  # character and block devices, fifos (whiteouts not counted)
    whiteouts: int = 0
    opaque_dirs: int = 0
    data_bytes: int = 0  # regular file contents
    disk_usage: int = 0  # st_blocks * 512 of the target tree, each inode once (du -s)
    tar_size: int = 0  # bytes of the tar up to its end-of-archive marker
    xattrs_skipped: int = 0  # overlay xattrs dropped, or refused by the filesystem


def normalize_name(name: bytes) -> bytes:
    """A member name relative to the layer root (``b""`` for the root itself).

    A leading ``/``, empty and ``.`` components are dropped and ``..`` is resolved
    lexically, as Docker does; raises ValueError when the name escapes the root.
    """
    if b"\0" in name:
        raise ValueError("name contains a NUL byte")
    if name.startswith(b"./"):  # the usual "tar -C dir ." names
        name = name[2:]
    if name.endswith(b"/"):
        name = name.rstrip(b"/")
    probe = b"/" + name + b"/"
    if b"/." not in probe and b"//" not in probe:  # no empty, "." or ".." component
        return name
    parts: list[bytes] = []
    for part in name.split(b"/"):
        if part in (b"", b"."):
            continue
        if part == b"..":
            if not parts:
                raise ValueError("path escapes the layer root")
            parts.pop()
        else:
            parts.append(part)
    return b"/".join(parts)


def whiteout_target(base: bytes) -> bytes | None:
    """For a ``.wh.`` member basename: the name it hides, or None for the opaque marker.

    Raises ValueError for other ``.wh.``-prefixed names (``.wh.``, ``.wh..wh.x``, ...).
    """
    if base == OPAQUE_MARKER:
        return None
    hidden = base[len(WHITEOUT_PREFIX) :]
    if not hidden or hidden in (b".", b"..") or hidden.startswith(WHITEOUT_PREFIX):
        raise ValueError("invalid whiteout name")
    return hidden


def _message(name: bytes, reason: str) -> str:
    return f"layer member {os.fsdecode(name)!r}: {reason}"


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_openat2_missing = False


def _open_beneath(rootfd: int, path: bytes, flags: int) -> int:
    """Open ``path`` below ``rootfd`` without following any symlink or leaving the tree."""
    global _openat2_missing
    if not _openat2_missing:
        how = _OpenHow(flags | os.O_CLOEXEC, 0, _RESOLVE)
        try:
            return syscall(
                "openat2",
                ctypes.c_int(rootfd),
                ctypes.c_char_p(path),
                ctypes.byref(how),
                ctypes.c_size_t(ctypes.sizeof(how)),
            )
        except OSError as e:
            if e.errno not in (errno.ENOSYS, errno.EPERM):  # no openat2, or seccomp
                raise
            _openat2_missing = True
    # Fallback: one component at a time, none followed if it is a symlink.
    fd = os.open(".", O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=rootfd)
    try:
        parts = path.split(b"/")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if not last or flags & os.O_DIRECTORY:
                st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
            next_flags = (flags if last else O_PATH | os.O_DIRECTORY) | os.O_NOFOLLOW
            nfd = os.open(part, next_flags | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


class _Applier:
    def __init__(self, reader: TarReader, target: str) -> None:
        self.reader = reader
        self.result = ApplyResult()
        self.root = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.dirs: dict[bytes, int] = {b"": self.root}  # cache of parent directories
        # path -> (mode, atime, mtime) set at the end; None: created implicitly (du only)
        self.deferred: dict[bytes, tuple[int, int, int] | None] = {b"": None}
        self.euid = os.geteuid()
        self.egid = os.getegid()
        self.umask = _current_umask()
        root_st = os.fstat(self.root)
        # Files created in a setgid directory take its group: then always chown.
        self.always_chown = bool(root_st.st_mode & stat.S_ISGID)
        # Default ACLs override the umask: then always chmod.
        self.always_chmod = _has_default_acl(self.root)
        self.recount = False  # something was replaced: recompute disk usage at the end
        self.name = b""  # the member being applied, for messages

    def close_dirs(self) -> None:
        """Close the cached directories (emptied in place: ``apply`` holds the dict)."""
        for fd in self.dirs.values():
            if fd != self.root:
                os.close(fd)
        self.dirs.clear()
        self.dirs[b""] = self.root

    def close(self) -> None:
        self.close_dirs()
        os.close(self.root)

    # -- directories -------------------------------------------------------------------

    def parent(self, parent: bytes, create: bool = True, what: str = "path") -> int:
        """A descriptor of the directory ``parent`` (created if missing and ``create``);
        ``what`` names the path in messages."""
        fd = self.dirs.get(parent)
        if fd is not None:
            return fd
        try:
            fd = _open_beneath(self.root, parent, O_PATH | os.O_DIRECTORY)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise self.path_error(e, parent, what) from None
            if not create:
                raise
            fd = self.make_parents(parent)
        if len(self.dirs) >= _DIR_CACHE_MAX:
            self.close_dirs()
        self.dirs[parent] = fd
        return fd

    def path_error(self, e: OSError, path: bytes, what: str = "path") -> LayerError:
        if e.errno == errno.ELOOP:
            reason = f"{what} goes through a symlink"
        elif e.errno == errno.ENOTDIR:
            reason = f"{os.fsdecode(path)!r} is not a directory"
        elif e.errno == errno.EXDEV:
            reason = f"{what} escapes the layer root"
        else:
            reason = f"{os.fsdecode(path)}: {os.strerror(e.errno or 0)}"
        return LayerError(_message(self.name, reason))

    def make_parents(self, path: bytes) -> int:
        parts = path.split(b"/")
        fd = self.root
        done = b""
        for part in parts:
            done = done + b"/" + part if done else part
            try:
                nfd = _open_beneath(self.root, done, O_PATH | os.O_DIRECTORY)
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise self.path_error(e, done) from None
                os.mkdir(part, 0o755, dir_fd=fd)
                self.result.dirs += 1
                self.deferred.setdefault(done, None)
                nfd = _open_beneath(self.root, done, O_PATH | os.O_DIRECTORY)
            if fd != self.root:
                os.close(fd)
            fd = nfd
        return fd

    def forget(self, path: bytes) -> None:
        """``path`` (a directory) is being removed: drop what is cached below it."""
        prefix = path + b"/"
        for cached in [p for p in self.dirs if p == path or p.startswith(prefix)]:
            os.close(self.dirs.pop(cached))
        for deferred in [p for p in self.deferred if p == path or p.startswith(prefix)]:
            del self.deferred[deferred]

    def replace(self, pfd: int, parent: bytes, base: bytes, new_dir: bool) -> os.stat_result | None:
        """An entry exists where a member goes: remove it (returns its stat), or keep a
        directory for a directory member (returns None)."""
        st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        self.recount = True
        if stat.S_ISDIR(st.st_mode):
            if new_dir:
                return None
            import shutil

            self.forget(parent + b"/" + base if parent else base)
            shutil.rmtree(os.fsdecode(base), dir_fd=pfd)
        else:
            os.unlink(base, dir_fd=pfd)
        return st

    # -- members -----------------------------------------------------------------------

    def apply(self) -> ApplyResult:
        reader = self.reader
        result = self.result
        parents = self.dirs
        while True:
            member = reader.next()
            if member is None:
                break
            name = self.name = member.name
            try:
                path = normalize_name(name)
            except ValueError as e:
                raise LayerError(_message(name, str(e))) from None
            kind = member.type
            if kind == tarstream.AREGTYPE and name.endswith(b"/"):
                kind = tarstream.DIRTYPE  # pre-POSIX directory (as Go's archive/tar reads it)
            slash = path.rfind(b"/")
            parent = path[:slash] if slash >= 0 else b""
            base = path[slash + 1 :]
            if b".wh." in path:
                if b"/.wh." in b"/" + parent:
                    raise LayerError(_message(name, "invalid whiteout name in a parent"))
                if base.startswith(WHITEOUT_PREFIX):
                    self.whiteout(member, parent, base)
                    continue
            if not path:
                self.root_entry(member, kind)
                continue
            pfd = parents.get(parent)
            if pfd is None:
                pfd = self.parent(parent)
            if kind in _REGULAR:
                self.regular(member, pfd, parent, base)
            elif kind == tarstream.DIRTYPE:
                self.directory(member, pfd, parent, base, path)
            elif kind == tarstream.SYMTYPE:
                self.symlink(member, pfd, parent, base)
            elif kind == tarstream.LNKTYPE:
                self.hardlink(member, pfd, parent, base)
            elif kind in (tarstream.CHRTYPE, tarstream.BLKTYPE, tarstream.FIFOTYPE):
                self.device(member, kind, pfd, parent, base)
            else:
                raise LayerError(_message(name, f"unsupported tar member type {kind!r}"))
        self.name = b""
        self.finish()
        result.tar_size = reader.drain(TRAILING_LIMIT)
        return result

    def times(self, member: Member) -> tuple[int, int]:
        mtime = member.mtime
        atime = member.atime
        # Docker: the access time is never before the modification time.
        return (atime if atime is not None and atime > mtime else mtime), mtime

    def regular(self, member: Member, pfd: int, parent: bytes, base: bytes) -> None:
        mode = member.mode
        try:
            fd = os.open(base, _CREATE, mode & 0o777, dir_fd=pfd)
        except FileExistsError:
            self.replace(pfd, parent, base, False)
            fd = os.open(base, _CREATE, mode & 0o777, dir_fd=pfd)
        result = self.result
        try:
            if member.size:
                self.reader.copy_data(member, fd)
            uid = member.uid
            gid = member.gid
            if uid != self.euid or gid != self.egid or self.always_chown:
                os.fchown(fd, uid, gid)
            if mode & 0o7000 or mode & self.umask or self.always_chmod:
                os.fchmod(fd, mode & 0o7777)
            if member.xattrs:
                self.set_xattrs(fd, member.xattrs)
            os.utime(fd, ns=self.times(member))
            result.disk_usage += os.fstat(fd).st_blocks * 512
        finally:
            os.close(fd)
        result.files += 1
        result.data_bytes += member.size

    def directory(self, member: Member, pfd: int, parent: bytes, base: bytes, path: bytes) -> None:
        opaque = False
        try:
            os.mkdir(base, 0o700, dir_fd=pfd)
            self.result.dirs += 1
        except FileExistsError:
            old = self.replace(pfd, parent, base, True)
            if old is not None:
                # A directory over a whiteout of this layer hides the lower directory's
                # contents, as the OCI whiteout said: it is opaque.
                opaque = stat.S_ISCHR(old.st_mode) and old.st_rdev == 0
                os.mkdir(base, 0o700, dir_fd=pfd)
                self.result.dirs += 1
        if member.uid != self.euid or member.gid != self.egid or self.always_chown:
            os.chown(base, member.uid, member.gid, dir_fd=pfd, follow_symlinks=False)
        if member.xattrs or opaque:
            fd = os.open(base, _OPEN_DIR, dir_fd=pfd)
            try:
                if member.xattrs:
                    self.set_xattrs(fd, member.xattrs)
                    if b"system.posix_acl_default" in member.xattrs:
                        self.always_chmod = True
                if opaque:
                    os.setxattr(fd, OPAQUE_XATTR, b"y")
                    self.result.opaque_dirs += 1
            finally:
                os.close(fd)
        atime, mtime = self.times(member)
        self.deferred[path] = (member.mode & 0o7777, atime, mtime)

    def root_entry(self, member: Member, kind: bytes) -> None:
        if kind != tarstream.DIRTYPE:
            raise LayerError(_message(member.name, "replaces the layer root with a non-directory"))
        if member.uid != self.euid or member.gid != self.egid:
            os.fchown(self.root, member.uid, member.gid)
        if member.xattrs:
            self.set_xattrs(self.root, member.xattrs)
        atime, mtime = self.times(member)
        self.deferred[b""] = (member.mode & 0o7777, atime, mtime)

    def symlink(self, member: Member, pfd: int, parent: bytes, base: bytes) -> None:
        if not member.linkname:
            raise LayerError(_message(member.name, "symlink with an empty target"))
        try:
            os.symlink(member.linkname, base, dir_fd=pfd)
        except FileExistsError:
            self.replace(pfd, parent, base, False)
            os.symlink(member.linkname, base, dir_fd=pfd)
        if member.uid != self.euid or member.gid != self.egid or self.always_chown:
            os.chown(base, member.uid, member.gid, dir_fd=pfd, follow_symlinks=False)
        if member.xattrs:
            self.set_xattrs(_proc_path(pfd, base), member.xattrs)
        os.utime(base, ns=self.times(member), dir_fd=pfd, follow_symlinks=False)
        st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        self.result.disk_usage += st.st_blocks * 512
        self.result.symlinks += 1

    def hardlink(self, member: Member, pfd: int, parent: bytes, base: bytes) -> None:
        try:
            target = normalize_name(member.linkname)
        except ValueError:
            raise LayerError(
                _message(
                    member.name, f"hard link target {_show(member.linkname)} escapes the layer root"
                )
            ) from None
        if not target:
            raise LayerError(_message(member.name, "hard link to the layer root"))
        slash = target.rfind(b"/")
        tparent = target[:slash] if slash >= 0 else b""
        tbase = target[slash + 1 :]
        missing = LayerError(
            _message(
                member.name,
                f"hard link target {_show(member.linkname)} does not exist in this layer",
            )
        )
        what = f"hard link target {_show(member.linkname)}"
        try:
            tfd = self.parent(tparent, create=False, what=what)
        except FileNotFoundError:
            raise missing from None
        for attempt in (0, 1):
            try:
                os.link(tbase, base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
                break
            except FileExistsError:
                if attempt or (tparent == parent and tbase == base):
                    raise LayerError(_message(member.name, "hard link to itself")) from None
                self.replace(pfd, parent, base, False)
                # replace() may have closed tfd if it was below a removed directory
                tfd = self.parent(tparent, create=False, what=what)
            except FileNotFoundError:
                raise missing from None
            except PermissionError:
                raise LayerError(
                    _message(member.name, f"hard link to a directory {_show(member.linkname)}")
                ) from None
        self.result.hardlinks += 1

    def device(self, member: Member, kind: bytes, pfd: int, parent: bytes, base: bytes) -> None:
        mode = member.mode & 0o7777
        if kind == tarstream.FIFOTYPE:
            file_type, device = stat.S_IFIFO, 0
        else:
            file_type = stat.S_IFCHR if kind == tarstream.CHRTYPE else stat.S_IFBLK
            device = os.makedev(member.devmajor, member.devminor)
        try:
            os.mknod(base, file_type | (mode & 0o777), device, dir_fd=pfd)
        except FileExistsError:
            self.replace(pfd, parent, base, False)
            os.mknod(base, file_type | (mode & 0o777), device, dir_fd=pfd)
        if member.uid != self.euid or member.gid != self.egid or self.always_chown:
            os.chown(base, member.uid, member.gid, dir_fd=pfd, follow_symlinks=False)
        if mode & 0o7000 or mode & self.umask or self.always_chmod:
            os.chmod(base, mode, dir_fd=pfd, follow_symlinks=False)
        if member.xattrs:
            self.set_xattrs(_proc_path(pfd, base), member.xattrs)
        os.utime(base, ns=self.times(member), dir_fd=pfd, follow_symlinks=False)
        self.result.devices += 1

    def whiteout(self, member: Member, parent: bytes, base: bytes) -> None:
        try:
            hidden = whiteout_target(base)
        except ValueError as e:
            raise LayerError(_message(member.name, str(e))) from None
        pfd = self.parent(parent)
        if hidden is None:
            fd = os.open(".", _OPEN_DIR, dir_fd=pfd)
            try:
                os.setxattr(fd, OPAQUE_XATTR, b"y")
            finally:
                os.close(fd)
            self.result.opaque_dirs += 1
            return
        try:
            os.mknod(hidden, stat.S_IFCHR, 0, dir_fd=pfd)
        except FileExistsError:
            # The name exists in this layer, which wins over its own whiteout (OCI). A
            # directory of this layer still hides the lower one's contents: opaque.
            st = os.stat(hidden, dir_fd=pfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                fd = os.open(hidden, _OPEN_DIR, dir_fd=pfd)
                try:
                    os.setxattr(fd, OPAQUE_XATTR, b"y")
                finally:
                    os.close(fd)
                self.result.opaque_dirs += 1
            return
        self.result.whiteouts += 1

    def set_xattrs(self, target: int | str, xattrs: Mapping[bytes, bytes]) -> None:
        for key, value in xattrs.items():
            if key.startswith(_DROPPED_XATTRS):
                self.result.xattrs_skipped += 1
                continue
            try:
                if isinstance(target, int):
                    os.setxattr(target, key, value)
                else:
                    os.setxattr(target, key, value, follow_symlinks=False)
            except OSError as e:
                if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP) or (
                    e.errno == errno.EPERM and key.startswith(b"user.")
                ):
                    self.result.xattrs_skipped += 1
                    continue
                raise LayerError(
                    _message(self.name, f"xattr {_show(key)}: {os.strerror(e.errno or 0)}")
                ) from None

    # -- the end -----------------------------------------------------------------------

    def finish(self) -> None:
        """Directory modes and times, deepest first; disk usage of directories."""
        self.close_dirs()
        result = self.result
        order = sorted(self.deferred, key=lambda p: p.count(b"/") + (1 if p else 0), reverse=True)
        for path in order:
            fd = self.root if not path else _open_beneath(self.root, path, _OPEN_DIR)
            try:
                meta = self.deferred[path]
                if meta is not None:
                    mode, atime, mtime = meta
                    os.fchmod(fd, mode)
                    os.utime(fd, ns=(atime, mtime))
                if not self.recount:
                    result.disk_usage += os.fstat(fd).st_blocks * 512
            finally:
                if fd != self.root:
                    os.close(fd)
        if self.recount:
            result.disk_usage = _disk_usage(self.root)


def _proc_path(dirfd: int, base: bytes) -> str:
    """A path to the entry ``base`` of ``dirfd`` whose last component is not followed."""
    return f"/proc/self/fd/{dirfd}/{os.fsdecode(base)}"


def _show(name: bytes) -> str:
    return repr(os.fsdecode(name))


def _current_umask() -> int:
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o777  # unknown: chmod every file


def _has_default_acl(fd: int) -> bool:
    try:
        return "system.posix_acl_default" in os.listxattr(fd)
    except OSError:
        return False


def _disk_usage(rootfd: int) -> int:
    """``du -s``: st_blocks * 512 of every inode below ``rootfd`` (and itself), once each."""
    seen: set[tuple[int, int]] = set()
    total = os.fstat(rootfd).st_blocks * 512
    for _, dirs, files, dfd in os.fwalk(".", dir_fd=rootfd):
        for entry in dirs + files:
            st = os.stat(entry, dir_fd=dfd, follow_symlinks=False)
            if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
            total += st.st_blocks * 512
    return total


def apply_layer(
    stream: BinaryIO | None,
    target: str,
    *,
    source_fd: int | None = None,
    source_offset: int = 0,
) -> ApplyResult:
    """Unpack the uncompressed layer tar ``stream`` into the empty directory ``target``.

    See the module documentation for the ``source_fd`` and hashing contract. Raises
    LayerError (naming the member) for a malformed or unsafe layer, EngineError when the
    host fails (disk full, I/O error); ``target`` is then partly written and must be
    discarded.
    """
    reader = TarReader(stream, source_fd=source_fd, source_offset=source_offset)
    applier = _Applier(reader, target)
    try:
        result = applier.apply()
    except TarFormatError as e:
        raise LayerError(str(e)) from None
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        message = _message(applier.name, reason) if applier.name else f"layer: {reason}"
        if e.errno in _HOST_ERRORS:
            raise EngineError(message) from e
        raise LayerError(message) from e
    finally:
        applier.close()
    if source_fd is not None and stream is not None and stream.seekable():
        stream.seek(0, os.SEEK_END)
    return result


def region_digest(fd: int, offset: int = 0, algorithm: str = "sha256") -> str:
    """``algorithm:hex`` of the bytes ``[offset, EOF)`` of ``fd`` (read with mmap, not
    moving the file position); hashlib releases the GIL, so it can run in a thread."""
    import hashlib
    import mmap

    h = hashlib.new(algorithm)
    size = os.fstat(fd).st_size
    if size > offset:
        with mmap.mmap(fd, size, prot=mmap.PROT_READ) as m:
            view = memoryview(m)
            try:
                step = 8 << 20
                for start in range(offset, size, step):
                    h.update(view[start : min(start + step, size)])
            finally:
                view.release()
    return f"{algorithm}:{h.hexdigest()}"


def apply_layer_file(
    fd: int, target: str, *, offset: int = 0, expected: str | None = None
) -> tuple[ApplyResult, str]:
    """Apply the tar region ``[offset, EOF)`` of ``fd``, hashing it in a thread meanwhile.

    Returns the result and the digest; with ``expected`` (a diff ID), raises LayerError on
    a mismatch (after unpacking: the target must then be discarded).
    """
    from concurrent.futures import ThreadPoolExecutor

    algorithm = expected.partition(":")[0] if expected else "sha256"
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(region_digest, fd, offset, algorithm)
        try:
            result = apply_layer(None, target, source_fd=fd, source_offset=offset)
        finally:
            digest = future.result()
    if expected is not None and digest != expected:
        raise LayerError(f"layer digest mismatch: expected {expected}, got {digest}")
    return result, digest
