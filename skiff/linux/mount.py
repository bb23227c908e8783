"""mount(2), umount2(2), pivot_root(2), open_tree(2) and mount_setattr(2)."""

import ctypes
import os

from skiff.linux.libc import check, libc, syscall

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_POSIXACL = 1 << 16
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

PROPAGATION_FLAGS = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE

MNT_DETACH = 0x2

# mount_setattr(2), open_tree(2)
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
AT_EMPTY_PATH = 0x1000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _b(s: str | None) -> bytes | None:
    return s.encode() if s is not None else None


def mount(
    source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
) -> None:
    """mount(2); raises ``OSError`` naming the target."""
    check(libc.mount(_b(source), target.encode(), _b(fstype), flags, _b(data)), "mount", target)


def umount(target: str, flags: int = 0) -> None:
    check(libc.umount2(target.encode(), flags), "umount", target)


def pivot_root(new_root: str, put_old: str) -> None:
    syscall("pivot_root", new_root.encode(), put_old.encode())


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


OPEN_TREE_CLONE = 0x1


def open_tree(dirfd: int, path: str, flags: int) -> int:
    """open_tree(2) (Linux 5.2): with ``OPEN_TREE_CLONE``, an ``O_PATH`` descriptor of a
    detached copy of the mount at ``path``: it outlives an unmount of the original, which
    it does not keep busy. Closed on exec."""
    return syscall(
        "open_tree", ctypes.c_int(dirfd), path.encode(), ctypes.c_uint(flags | os.O_CLOEXEC)
    )


def mount_setattr(dirfd: int, path: str, flags: int, attr_set: int, attr_clr: int) -> None:
    """Change mount attributes, recursively with ``AT_RECURSIVE`` (Linux 5.12)."""
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    syscall(
        "mount_setattr",
        ctypes.c_int(dirfd),
        path.encode(),
        ctypes.c_uint(flags),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )


def unescape_mountinfo(field: str) -> str:
    """A mountinfo field with the kernel's octal escapes undone (``\\040`` is a space)."""
    if "\\" not in field:
        return field
    first, *rest = field.split("\\")
    out = [first]
    for part in rest:
        code = part[:3]
        if len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)) + part[3:])
        else:
            out.append("\\" + part)
    return "".join(out)
