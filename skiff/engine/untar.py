"""Extracting a ``cp`` archive into a directory, by Docker's ``Untar`` rules, confined.

Members: a name is cleaned lexically and joined to the destination; one that lands
outside it (``../x``) is refused with Docker's message, as is a symlink whose target,
joined to the link's directory, leaves the destination, and a hard link to a target
outside it. Missing parent directories are made (0755). An existing entry is replaced,
except that a directory stays for a directory member (and takes its metadata); with
``no_overwrite_dir_non_dir`` replacing a directory by a non-directory, or the reverse, is
an error. A member named ``.`` over the existing destination is skipped. Modes (set-id
bits included) and modification times come from the archive (a directory's times are set
after its contents), xattrs where the filesystem takes them.

Owners: ``owner`` None leaves new entries to the caller (the host side of ``cp``: the
user who copies owns the copy, as with Docker's ``NoLchown``); ``ARCHIVE_OWNER`` gives
each entry the uid and gid the archive has; a ``(uid, gid)`` pair gives it that owner.

Confinement: every directory is opened with ``openat2`` from ``root`` under ``resolve``:
``RESOLVE_IN_ROOT`` for a container's root (its symlinks resolve inside it, as in Docker's
chroot), ``RESOLVE_BENEATH`` for a host directory (nothing may leave it). An entry is
created relative to its parent's descriptor by a call that does not follow its name, and
its metadata is set through a descriptor of it (or, for a symlink, with calls that do not
follow it): a running container that swaps a directory for a symlink meanwhile cannot
redirect a write, chmod or chown outside its root.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat

from skiff.engine.copy_paths import base, clean, dirname, join, rebase_entry
from skiff.errors import EngineError, InvalidArgument
from skiff.images import tarstream
from skiff.images.tarstream import TarReader
from skiff.linux.openat2 import O_PATH, RESOLVE_NO_MAGICLINKS, openat2

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from skiff.images.tarstream import Member

ARCHIVE_OWNER = "archive"

_DIR = O_PATH | os.O_DIRECTORY
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_REGULAR = (tarstream.REGTYPE, tarstream.AREGTYPE, tarstream.CONTTYPE)
_DEVICES = (tarstream.CHRTYPE, tarstream.BLKTYPE, tarstream.FIFOTYPE)
_CACHE_MAX = 256
# Errors that the archive's content causes (the rest are the host's: disk full, I/O...).
_ARCHIVE_ERRORS = frozenset(
    (errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ELOOP, errno.ENOTEMPTY, errno.EXDEV)
)


class BreakoutError(InvalidArgument):
    """A member that would land outside the destination."""


def extract(
    stream: BinaryIO,
    root: int,
    dest: str,
    *,
    resolve: int,
    shown: str,
    owner: tuple[int, int] | str | None = None,
    no_overwrite_dir_non_dir: bool = True,
    rename: tuple[str, str] | None = None,
) -> None:
    """Extract the tar ``stream`` into the directory ``dest`` (a path from ``root``,
    opened under ``resolve``); ``shown`` is how messages name ``dest``; ``rename`` is the
    (old, new) first-element rename of moby's ``RebaseArchiveEntries``. The stream is
    read to its end."""
    reader = TarReader(stream)
    extractor = _Extractor(root, dest, resolve | RESOLVE_NO_MAGICLINKS, shown, owner)
    extractor.no_overwrite = no_overwrite_dir_non_dir
    try:
        while (member := reader.next()) is not None:
            name = os.fsdecode(member.name)
            if rename is not None:
                name = rebase_entry(name, *rename)
            if member.type == tarstream.LNKTYPE and rename is not None:
                member.linkname = os.fsencode(rebase_entry(os.fsdecode(member.linkname), *rename))
            try:
                extractor.member(reader, member, name)
            except OSError as e:
                reason = os.strerror(e.errno).lower() if e.errno else str(e)
                error = InvalidArgument if e.errno in _ARCHIVE_ERRORS else EngineError
                raise error(f"extract {join(shown, name)}: {reason}") from e
        extractor.finish()
    finally:
        extractor.close()
    reader.drain()


class _Extractor:
    def __init__(
        self, root: int, dest: str, resolve: int, shown: str, owner: tuple[int, int] | str | None
    ) -> None:
        self.root = root
        self.dest = dest
        self.resolve = resolve
        self.shown = shown
        self.owner = owner
        self.no_overwrite = True
        self.dirs: dict[str, int] = {}  # relative path -> O_PATH descriptor
        self.times: list[tuple[str, int, int]] = []  # directories' times, set at the end

    def close(self) -> None:
        for fd in self.dirs.values():
            os.close(fd)
        self.dirs.clear()

    # --- directories ------------------------------------------------------------------

    def directory(self, relative: str) -> int:
        """A descriptor of the directory ``relative`` to the destination, made (with its
        missing parents) if it does not exist."""
        fd = self.dirs.get(relative)
        if fd is not None:
            return fd
        try:
            fd = self._open(relative, _DIR)
        except FileNotFoundError:
            if relative == ".":
                raise
            parent = self.directory(dirname(relative))
            try:
                os.mkdir(base(relative), 0o755, dir_fd=parent)
            except FileExistsError:
                pass
            fd = self._open(relative, _DIR)
        if len(self.dirs) >= _CACHE_MAX:
            self.close()
        self.dirs[relative] = fd
        return fd

    def _open(self, relative: str, flags: int) -> int:
        return openat2(self.root, join(self.dest, relative), flags, 0, self.resolve)

    def forget(self) -> None:
        """A directory was removed: what is cached may be below it."""
        self.close()

    # --- members ----------------------------------------------------------------------

    def member(self, reader: TarReader, member: Member, name: str) -> None:
        relative = clean(name.lstrip("/") or ".")
        if relative == ".." or relative.startswith("../"):
            raise BreakoutError(f'"{name}" is outside of "{self.shown}"')
        kind = member.type
        if kind == tarstream.AREGTYPE and name.endswith("/"):
            kind = tarstream.DIRTYPE
        is_dir = kind == tarstream.DIRTYPE
        full = join(self.shown, relative)
        if relative == ".":
            if not is_dir:
                raise InvalidArgument(
                    f'cannot overwrite directory "{full}" with non-directory "{name}"'
                )
            if clean(name) != ".":
                fd = self._open(".", _OPEN_DIR)
                try:
                    self.metadata_dir(fd, ".", member)
                finally:
                    os.close(fd)
            return
        parent = self.directory(dirname(relative))
        entry = base(relative)
        try:
            existing = os.stat(entry, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if existing is not None:
            was_dir = stat.S_ISDIR(existing.st_mode)
            if self.no_overwrite and was_dir and not is_dir:
                raise InvalidArgument(
                    f'cannot overwrite directory "{full}" with non-directory "{name}"'
                )
            if self.no_overwrite and not was_dir and is_dir:
                raise InvalidArgument(
                    f'cannot overwrite non-directory "{full}" with directory "{name}"'
                )
            if was_dir and not is_dir:
                shutil.rmtree(entry, dir_fd=parent)
                self.forget()
                parent = self.directory(dirname(relative))
            elif not was_dir:
                os.unlink(entry, dir_fd=parent)
        if is_dir:
            if existing is None or not stat.S_ISDIR(existing.st_mode):
                os.mkdir(entry, 0o700, dir_fd=parent)
            fd = os.open(entry, _OPEN_DIR, dir_fd=parent)
            try:
                self.metadata_dir(fd, relative, member)
            finally:
                os.close(fd)
        elif kind in _REGULAR:
            self.regular(reader, member, parent, entry)
        elif kind == tarstream.SYMTYPE:
            self.symlink(member, parent, entry, relative)
        elif kind == tarstream.LNKTYPE:
            self.hardlink(member, parent, entry)
        elif kind in _DEVICES:
            self.device(member, kind, parent, entry)
        else:
            raise InvalidArgument(f"unhandled tar header type {kind[0]}")

    def regular(self, reader: TarReader, member: Member, parent: int, entry: str) -> None:
        fd = os.open(entry, _CREATE, 0o600, dir_fd=parent)
        try:
            if member.size:
                reader.copy_data(member, fd)
            self.chown(fd, member)
            os.fchmod(fd, member.mode & 0o7777)
            self.xattrs(fd, member)
            os.utime(fd, ns=_times(member))
        finally:
            os.close(fd)

    def metadata_dir(self, fd: int, relative: str, member: Member) -> None:
        self.chown(fd, member)
        os.fchmod(fd, member.mode & 0o7777)
        self.xattrs(fd, member)
        atime, mtime = _times(member)
        self.times.append((relative, atime, mtime))

    def symlink(self, member: Member, parent: int, entry: str, relative: str) -> None:
        target = os.fsdecode(member.linkname)
        landing = join(self.shown, dirname(relative), target)
        if not _inside(landing, self.shown):
            raise BreakoutError(f'invalid symlink "{join(self.shown, relative)}" -> "{target}"')
        os.symlink(target, entry, dir_fd=parent)
        ids = self.ids(member)
        if ids is not None:
            os.chown(entry, *ids, dir_fd=parent, follow_symlinks=False)
        os.utime(entry, ns=_times(member), dir_fd=parent, follow_symlinks=False)

    def hardlink(self, member: Member, parent: int, entry: str) -> None:
        target = os.fsdecode(member.linkname)
        landing = clean(target.lstrip("/") or ".")
        if landing == "." or landing == ".." or landing.startswith("../"):
            raise BreakoutError(f'invalid hardlink "{join(self.shown, target)}" -> "{target}"')
        source = self.directory(dirname(landing))
        try:
            os.link(
                base(landing), entry, src_dir_fd=source, dst_dir_fd=parent, follow_symlinks=False
            )
        except FileNotFoundError:  # the archive's fault, not the engine's
            raise InvalidArgument(
                f'invalid hardlink "{join(self.shown, entry)}" -> "{target}": no such file'
            ) from None

    def device(self, member: Member, kind: bytes, parent: int, entry: str) -> None:
        if kind == tarstream.FIFOTYPE:
            file_type, device = stat.S_IFIFO, 0
        else:
            file_type = stat.S_IFCHR if kind == tarstream.CHRTYPE else stat.S_IFBLK
            device = os.makedev(member.devmajor, member.devminor)
        os.mknod(entry, file_type | 0o600, device, dir_fd=parent)
        fd = os.open(entry, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            if stat.S_IFMT(os.fstat(fd).st_mode) != file_type:
                return  # replaced meanwhile: leave it
            through = f"/proc/self/fd/{fd}"  # the inode itself, never a symlink's target
            ids = self.ids(member)
            if ids is not None:
                os.chown(through, *ids)
            os.chmod(through, member.mode & 0o7777)
            os.utime(through, ns=_times(member))
        finally:
            os.close(fd)

    # --- metadata ---------------------------------------------------------------------

    def ids(self, member: Member) -> tuple[int, int] | None:
        if self.owner is None:
            return None
        if self.owner == ARCHIVE_OWNER:
            return member.uid, member.gid
        assert isinstance(self.owner, tuple)
        return self.owner

    def chown(self, fd: int, member: Member) -> None:
        ids = self.ids(member)
        if ids is not None:
            os.fchown(fd, *ids)

    def xattrs(self, fd: int, member: Member) -> None:
        for key, value in (member.xattrs or {}).items():
            try:
                os.setxattr(fd, key, value)
            except OSError as e:
                if e.errno not in (errno.ENOTSUP, errno.EPERM):
                    raise

    def finish(self) -> None:
        """Directories' times, deepest first (after their contents changed them)."""
        for relative, atime, mtime in sorted(
            self.times, key=lambda t: t[0].count("/"), reverse=True
        ):
            try:
                fd = self._open(relative, _OPEN_DIR)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    continue  # changed meanwhile (a running container): nothing to date
                raise
            try:
                os.utime(fd, ns=(atime, mtime))
            finally:
                os.close(fd)


def _times(member: Member) -> tuple[int, int]:
    """(atime, mtime) in ns: the access time never before the modification time."""
    mtime = member.mtime
    atime = member.atime
    return (atime if atime is not None and atime > mtime else mtime), mtime


def _inside(path: str, directory: str) -> bool:
    return directory == "/" or path == directory or path.startswith(directory.rstrip("/") + "/")
