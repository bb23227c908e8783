"""A container's root directory, opened for ``cp`` and ``export``, and paths inside it.

Where the root comes from:

- a running container, for ``cp``: ``/proc/<pid>/root`` of its process, the container's
  own view through its mount namespace, so volumes, tmpfs and bind mounts are seen as
  Docker's ``cp`` sees them. The descriptor is checked to be the container's overlay root
  (same device and inode), so a recycled pid cannot hand over another process's root.
  The kernel filesystems the runtime mounts (/proc, /sys, /dev/pts, /dev/mqueue, cgroup)
  are not entered: their mount points look empty and paths below them do not exist, as
  in Docker's view, which does not mount them.
- a running container, for ``export``: a detached clone of its overlay mount
  (``open_tree``): the merged root without volumes, as Docker exports it. The clone does
  not keep the original busy, so the container can exit (and be unmounted) meanwhile.
- a stopped container: its overlay mounted (unless it is) under the container's lock,
  and for ``cp`` its volumes and bind mounts bound where it has them (read-only ones
  read-only), all unmounted afterwards. The lock is held until then, so a ``start`` waits
  and nothing is left mounted.

Paths are resolved with ``openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`` from the root
descriptor: a symlink in the container (``/evil -> /etc``, ``../../..``) resolves inside
the container, never on the host, and ``/proc/<pid>/root``-style links are refused.
"""

from __future__ import annotations

import errno
import os
import stat
from contextlib import ExitStack, contextmanager

from skiff.engine.copy_paths import dirname, join
from skiff.engine.filesystem import ContainerFiles
from skiff.errors import EngineError, InvalidArgument
from skiff.linux.openat2 import O_PATH, open_in_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from skiff.engine.containers import Container
    from skiff.engine.engine import Engine

# Filesystems a running container has mounted that Docker's view of it does not have.
KERNEL_FILESYSTEMS = frozenset(
    (
        "proc",
        "sysfs",
        "cgroup",
        "cgroup2",
        "devpts",
        "mqueue",
        "securityfs",
        "debugfs",
        "tracefs",
        "bpf",
        "configfs",
        "fusectl",
        "pstore",
        "efivarfs",
        "binfmt_misc",
    )
)
MAX_SYMLINKS = 255
_OPEN_PATH_DIR = O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


class ContainerRoot:
    """An open root of a container: ``fd`` (``O_PATH``), the devices of the kernel
    filesystems not to enter, and whether it is a running container's live view."""

    def __init__(
        self, container: Container, fd: int, hidden: frozenset[int], running: bool
    ) -> None:
        self.container = container
        self.fd = fd
        self.hidden = hidden
        self.running = running

    @property
    def path(self) -> str:
        """A path that opens the root (for code that takes paths)."""
        return f"/proc/self/fd/{self.fd}"

    def open(self, path: str, flags: int = _OPEN_PATH_DIR, mode: int = 0) -> int:
        """``path`` opened inside the root (symlinks followed, confined)."""
        return open_in_root(self.fd, path, flags, mode)

    def is_hidden(self, st: os.stat_result) -> bool:
        return st.st_dev in self.hidden

    def lstat(self, path: str) -> os.stat_result:
        """``lstat`` of ``path`` in the root: symlinks followed but in the last element;
        raises FileNotFoundError below a kernel filesystem's mount point."""
        parent = self.open(dirname(path))
        try:
            if self.is_hidden(os.fstat(parent)):
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
            name = path.rstrip("/").rsplit("/", 1)[-1]
            if name in ("", "."):
                return os.fstat(parent)
            return os.stat(name, dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(parent)

    def follow(self, path: str) -> str:
        """moby's ``FollowSymlinkInScope``: ``path`` with every symlink resolved inside the
        root, as far as it exists (a missing element is kept as written)."""
        resolved = "/"
        todo = [p for p in path.split("/") if p]
        links = 0
        while todo:
            part = todo.pop(0)
            if part == ".":
                continue
            if part == "..":
                resolved = dirname(resolved)
                continue
            candidate = join(resolved, part)
            try:
                st = self.lstat(candidate)
            except (FileNotFoundError, NotADirectoryError):
                resolved = candidate
                continue
            if not stat.S_ISLNK(st.st_mode):
                resolved = candidate
                continue
            links += 1
            if links > MAX_SYMLINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            parent = self.open(resolved)
            try:
                target = os.readlink(part, dir_fd=parent)
            finally:
                os.close(parent)
            if target.startswith("/"):
                resolved = "/"
            todo[:0] = [p for p in target.split("/") if p]
        return resolved


@contextmanager
def open_root(engine: Engine, ref: str, *, mounts: bool = True) -> Iterator[ContainerRoot]:
    """The root of container ``ref`` (NotFound if there is none), closed on exit; with
    ``mounts`` False, the root filesystem alone (``export``)."""
    container = engine.containers.get(ref)
    files = ContainerFiles(engine.paths, container.id)
    with ExitStack() as held:
        held.enter_context(engine.containers.lock(container.id))
        container = engine.containers.get(container.id)
        live = _live_root(container, files, mounts) if container.state.get("Running") else None
        if live is not None:
            held.close()  # the lock: a live root needs none (see the module doc)
            fd, hidden = live
            try:
                yield ContainerRoot(container, fd, hidden, True)
            finally:
                os.close(fd)
            return
        if not files.mounted():
            files.mount(engine.images.layer_dirs, engine.images.get(container.image_id))
            held.callback(files.unmount)
        fd = os.open(files.rootfs, _OPEN_PATH_DIR)
        held.callback(os.close, fd)
        if mounts:
            _mount_volumes(engine, container, fd, held)
        yield ContainerRoot(container, fd, frozenset(), False)


def _mount_volumes(engine: Engine, container: Container, root: int, held: ExitStack) -> None:
    """Bind a stopped container's volumes and bind mounts where it has them, as Docker does
    for ``cp``; ``held`` unmounts them. Each mount point is opened inside the root (a
    symlink in the container cannot move it onto the host) and mounted on through its
    descriptor; a mount point the container does not have is left out."""
    from skiff.linux import mount as m

    recorded = [x for x in engine.volumes.mounts(container.id) if x["Type"] in ("volume", "bind")]
    if any(x["Type"] == "volume" for x in recorded):
        engine.volumes.acquire(container.id)  # volumes with driver options get mounted
        held.callback(engine.volumes.release, container.id)
    for mount in sorted(recorded, key=lambda x: x["Destination"].count("/")):
        try:
            point = open_in_root(root, mount["Destination"], O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            m.mount(mount["Source"], f"/proc/self/fd/{point}", None, m.MS_BIND | m.MS_REC)
        finally:
            os.close(point)
        # the mount's own root, reopened through it: what umount and remount act on
        top = open_in_root(root, mount["Destination"], O_PATH | os.O_CLOEXEC)
        held.callback(_unmount, top)
        if not mount["RW"]:
            flags = m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY
            m.mount(None, f"/proc/self/fd/{top}", None, flags)


def _unmount(fd: int) -> None:
    from skiff.linux import mount as m

    try:
        m.umount(f"/proc/self/fd/{fd}", m.MNT_DETACH)
    finally:
        os.close(fd)


def _live_root(
    container: Container, files: ContainerFiles, mounts: bool
) -> tuple[int, frozenset[int]] | None:
    """A running container's root (see the module doc) and the devices to hide; None if
    its process is gone (its exit not yet recorded)."""
    if not files.mounted():
        return None
    if not mounts:
        from skiff.linux.mount import AT_FDCWD, OPEN_TREE_CLONE, open_tree

        return open_tree(AT_FDCWD, files.rootfs, OPEN_TREE_CLONE), frozenset()
    pid = int(container.state.get("Pid") or 0)
    if pid <= 0:
        return None
    try:
        hidden = _kernel_devices(pid)
        fd = os.open(f"/proc/{pid}/root", _OPEN_PATH_DIR)
    except (FileNotFoundError, ProcessLookupError):
        return None
    try:
        ours = os.stat(files.rootfs)
        theirs = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if (ours.st_dev, ours.st_ino) != (theirs.st_dev, theirs.st_ino):
        os.close(fd)
        return None
    return fd, hidden


def _kernel_devices(pid: int) -> frozenset[int]:
    """The device numbers of the kernel filesystems mounted in ``pid``'s mount namespace."""
    found = set()
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            fields, _, rest = line.partition(" - ")
            fstype = rest.split(" ", 1)[0]
            if fstype in KERNEL_FILESYSTEMS:
                major, _, minor = fields.split(" ")[2].partition(":")
                found.add(os.makedev(int(major), int(minor)))
    return frozenset(found)


def check_writable(root: ContainerRoot, fd: int, read_only_rootfs: bool) -> None:
    """Docker's checks before writing below the directory ``fd``: not on a read-only
    rootfs unless in a (writable) volume, and not on a kernel filesystem."""
    st = os.fstat(fd)
    if root.is_hidden(st):
        raise EngineError("extraction point is on a kernel filesystem")
    on_rootfs = st.st_dev == os.fstat(root.fd).st_dev
    if on_rootfs and read_only_rootfs:
        raise InvalidArgument("container rootfs is marked read-only")
    if not on_rootfs and os.fstatvfs(fd).f_flag & os.ST_RDONLY:
        raise InvalidArgument("mounted volume is marked read-only")
