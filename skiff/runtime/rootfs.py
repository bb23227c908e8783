"""The container's filesystem: mounts, devices, pivot_root, masked and read-only paths.

Runs in the container's init process, inside its new mount namespace, before the user
process starts. The order follows runc: propagation, rootfs bind, the spec's mounts,
devices, (hooks), pivot_root, then read-only root, masked and read-only paths.
"""

from __future__ import annotations

import errno
import os
import stat

from skiff.linux import mount as m
from skiff.linux.openat2 import O_PATH, open_in_root
from skiff.runtime import devices as dev
from skiff.runtime import mountopts
from skiff.runtime.paths import fd_path, mkdir_all, open_dir_or_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# statvfs flags that the kernel locks on a mount made in another user namespace.
_ST_LOCKED = {1: m.MS_RDONLY, 2: m.MS_NOSUID, 4: m.MS_NODEV, 8: m.MS_NOEXEC}


class RootfsContext:
    """What rootfs preparation needs besides the spec."""

    def __init__(
        self,
        spec: dict[str, Any],
        rootfs: str,
        bundle: str,
        cgroup_path: str,
        in_user_ns: bool,
        new_cgroup_ns: bool,
    ) -> None:
        self.spec = spec
        self.rootfs = rootfs
        self.bundle = bundle
        self.cgroup_path = cgroup_path
        self.in_user_ns = in_user_ns
        self.new_cgroup_ns = new_cgroup_ns
        self.linux = spec.get("linux") or {}


def prepare(ctx: RootfsContext, before_pivot: Callable[[], None], no_pivot: bool) -> None:
    """Build the container's filesystem and make the rootfs ``/``."""
    propagation = ctx.linux.get("rootfsPropagation")
    flags = mountopts.PROPAGATION[propagation] if propagation else m.MS_SLAVE | m.MS_REC
    m.mount(None, "/", None, flags)
    if flags & m.MS_SHARED:
        # Before the bind: a bind of a private mount is private, so pivot_root accepts it.
        _make_parent_private(ctx.rootfs)
    m.mount(ctx.rootfs, ctx.rootfs, None, m.MS_BIND | m.MS_REC)
    rootfd = os.open(ctx.rootfs, O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, mount in enumerate(ctx.spec.get("mounts") or []):
            try:
                _mount(ctx, rootfd, mount)
            except OSError as e:
                raise OSError(
                    e.errno, f"mounts[{i}] ({mount['destination']}): {e.strerror or e}"
                ) from None
        if not _has_dev_bind(ctx.spec):
            devices = dev.all_devices(ctx.linux.get("devices") or [])
            dev.create_devices(rootfd, devices, bind=ctx.in_user_ns)
            dev.create_symlinks(rootfd)
        cwd = (ctx.spec.get("process") or {}).get("cwd")
        if cwd:
            mkdir_all(rootfd, cwd)
        before_pivot()
    finally:
        os.close(rootfd)
    if no_pivot:
        _move_root(ctx.rootfs)
    else:
        _pivot_root(ctx.rootfs)


def finish(ctx: RootfsContext) -> None:
    """After pivot_root: read-only root, masked and read-only paths."""
    if (ctx.spec.get("root") or {}).get("readonly"):
        _remount("/", m.MS_BIND | m.MS_RDONLY)
    for path in ctx.linux.get("readonlyPaths") or []:
        _readonly_path(path)
    for path in ctx.linux.get("maskedPaths") or []:
        _mask_path(path)


def _has_dev_bind(spec: dict[str, Any]) -> bool:
    for mount in spec.get("mounts") or []:
        if mount["destination"].rstrip("/") == "/dev" and (
            mount.get("type") == "bind"
            or "bind" in (mount.get("options") or [])
            or "rbind" in (mount.get("options") or [])
        ):
            return True
    return False


def _source_path(ctx: RootfsContext, source: str) -> str:
    return source if source.startswith("/") else os.path.join(ctx.bundle, source)


def _mount(ctx: RootfsContext, rootfd: int, mount: dict[str, Any]) -> None:
    dest = mount["destination"]
    kind = mount.get("type") or ""
    options = mountopts.parse(mount.get("options") or [])
    source = mount.get("source") or kind or "none"
    if kind == "bind":
        options.flags |= m.MS_BIND
    if options.is_bind:
        source = _source_path(ctx, source)
        as_dir = os.path.isdir(source)
        if not os.path.exists(source):
            raise FileNotFoundError(errno.ENOENT, f"bind source {source} does not exist")
        target = open_dir_or_file(rootfd, dest, as_dir)
        try:
            m.mount(source, fd_path(target), None, options.flags & (m.MS_BIND | m.MS_REC))
        finally:
            os.close(target)
        extra = options.flags & ~(m.MS_BIND | m.MS_REC | m.MS_REMOUNT)
        if extra:
            _remount_in_root(rootfd, dest, m.MS_BIND | extra)
    elif kind == "cgroup":
        _mount_cgroup(ctx, rootfd, dest, options)
        return
    else:
        if kind == "tmpfs" and options.tmpcopyup:
            _mount_tmpfs_copyup(rootfd, dest, options)
        else:
            target = open_dir_or_file(rootfd, dest, True)
            try:
                m.mount(
                    source,
                    fd_path(target),
                    kind or None,
                    options.flags & ~m.MS_REMOUNT,
                    options.data_string,
                )
            finally:
                os.close(target)
    _set_propagation_and_attrs(rootfd, dest, options)


def _set_propagation_and_attrs(rootfd: int, dest: str, options: mountopts.MountOptions) -> None:
    if not options.propagation and not (options.attr_set or options.attr_clr):
        return
    target = open_in_root(rootfd, dest, O_PATH)
    try:
        for flag in options.propagation:
            m.mount(None, fd_path(target), None, flag)
        if options.attr_set or options.attr_clr:
            m.mount_setattr(
                target, "", m.AT_EMPTY_PATH | m.AT_RECURSIVE, options.attr_set, options.attr_clr
            )
    finally:
        os.close(target)


def _locked_flags(path: str) -> int:
    """Flags a remount must keep: the kernel refuses to clear them in a user namespace."""
    flags = os.statvfs(path).f_flag
    return sum(ms for st, ms in _ST_LOCKED.items() if flags & st and ms != m.MS_RDONLY)


def _remount_in_root(rootfd: int, dest: str, flags: int) -> None:
    target = open_in_root(rootfd, dest, O_PATH)
    try:
        _remount(fd_path(target), flags)
    finally:
        os.close(target)


def _remount(path: str, flags: int) -> None:
    m.mount(None, path, None, m.MS_REMOUNT | flags | _locked_flags(path))


def _mount_tmpfs_copyup(rootfd: int, dest: str, options: mountopts.MountOptions) -> None:
    """A tmpfs that starts with a copy of what the image had at its destination."""
    import tempfile

    staging = tempfile.mkdtemp(prefix="skiff-copyup-")
    try:
        m.mount("tmpfs", staging, "tmpfs", options.flags & ~m.MS_REMOUNT, options.data_string)
        target = open_dir_or_file(rootfd, dest, True)
        try:
            _copy_tree(
                os.open(fd_path(target), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), staging
            )
            m.mount(staging, fd_path(target), None, m.MS_MOVE)
        finally:
            os.close(target)
    finally:
        os.rmdir(staging)


def _copy_tree(src_fd: int, dst: str) -> None:
    """Copy a directory's contents (files, dirs, links; modes and owners) and close src_fd."""
    try:
        st = os.fstat(src_fd)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
        os.chown(dst, st.st_uid, st.st_gid)
        for entry in os.scandir(src_fd):
            info = entry.stat(follow_symlinks=False)
            target = os.path.join(dst, entry.name)
            if entry.is_symlink():
                os.symlink(os.readlink(entry.name, dir_fd=src_fd), target)
            elif entry.is_dir(follow_symlinks=False):
                os.mkdir(target)
                _copy_tree(
                    os.open(
                        entry.name,
                        os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                        dir_fd=src_fd,
                    ),
                    target,
                )
                continue
            elif entry.is_file(follow_symlinks=False):
                fd = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_fd)
                with os.fdopen(fd, "rb") as fin, open(target, "wb") as fout:
                    while chunk := fin.read(1 << 20):
                        fout.write(chunk)
                os.chmod(target, stat.S_IMODE(info.st_mode))
            else:
                continue
            os.chown(target, info.st_uid, info.st_gid, follow_symlinks=False)
    finally:
        os.close(src_fd)


def _mount_cgroup(
    ctx: RootfsContext, rootfd: int, dest: str, options: mountopts.MountOptions
) -> None:
    """The cgroup filesystem as the container sees it (cgroup2, or v1 hierarchies under a tmpfs)."""
    from skiff.cgroups import hierarchies

    flags = options.flags & ~(m.MS_REMOUNT | m.MS_BIND | m.MS_REC)
    all_hierarchies = hierarchies()
    if all(h.version == 2 for h in all_hierarchies):
        target = open_dir_or_file(rootfd, dest, True)
        try:
            if ctx.new_cgroup_ns:
                m.mount("cgroup2", fd_path(target), "cgroup2", flags)
            else:
                host = os.path.join(all_hierarchies[0].mountpoint, ctx.cgroup_path.lstrip("/"))
                m.mount(host, fd_path(target), None, m.MS_BIND | m.MS_REC)
        finally:
            os.close(target)
        if not ctx.new_cgroup_ns:
            _remount_in_root(rootfd, dest, m.MS_BIND | flags)
        return
    target = open_dir_or_file(rootfd, dest, True)
    try:
        m.mount(
            "tmpfs", fd_path(target), "tmpfs", m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC, "mode=755"
        )
    finally:
        os.close(target)
    for h in all_hierarchies:
        if h.version != 1:
            continue
        name = h.name
        sub = f"{dest.rstrip('/')}/{name}"
        target = open_dir_or_file(rootfd, sub, True)
        try:
            if ctx.new_cgroup_ns:
                m.mount("cgroup", fd_path(target), "cgroup", flags, h.options)
            else:
                host = os.path.join(h.mountpoint, ctx.cgroup_path.lstrip("/"))
                m.mount(host, fd_path(target), None, m.MS_BIND | m.MS_REC)
        finally:
            os.close(target)
        if not ctx.new_cgroup_ns:
            _remount_in_root(rootfd, sub, m.MS_BIND | flags)
    if flags & m.MS_RDONLY:
        _remount_in_root(rootfd, dest, flags)


def _make_parent_private(rootfs: str) -> None:
    """pivot_root refuses a shared parent mount: make the mount holding the rootfs private."""
    path = os.path.dirname(rootfs.rstrip("/")) or "/"
    while True:
        try:
            m.mount(None, path, None, m.MS_PRIVATE)
            return
        except OSError as e:
            if e.errno != errno.EINVAL or path == "/":
                raise
            path = os.path.dirname(path)


def _pivot_root(rootfs: str) -> None:
    old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new_root = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new_root)
        m.pivot_root(".", ".")
        # The old root is now stacked under the new one: detach it without letting the
        # unmount propagate back to the host.
        os.fchdir(old_root)
        m.mount(None, ".", None, m.MS_SLAVE | m.MS_REC)
        m.umount(".", m.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(old_root)
        os.close(new_root)


def _move_root(rootfs: str) -> None:
    os.chdir(rootfs)
    m.mount(rootfs, "/", None, m.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def _readonly_path(path: str) -> None:
    try:
        m.mount(path, path, None, m.MS_BIND | m.MS_REC)
    except FileNotFoundError:
        return
    _remount(path, m.MS_BIND | m.MS_RDONLY | m.MS_REC)


def _mask_path(path: str) -> None:
    try:
        m.mount("/dev/null", path, None, m.MS_BIND)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        m.mount("tmpfs", path, "tmpfs", m.MS_RDONLY)
