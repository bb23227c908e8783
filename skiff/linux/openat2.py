"""openat2(2): path resolution confined to a directory tree (Linux 5.6)."""

import ctypes
import errno
import os

from skiff.linux.libc import syscall

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

O_PATH = getattr(os, "O_PATH", 0o10000000)

# With RESOLVE_BENEATH or RESOLVE_IN_ROOT, a ".." walked while any rename or mount happens
# on the system fails with EAGAIN (the kernel cannot prove it stayed inside): retried.
_RETRIES = 128


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """Open ``path`` relative to ``dirfd`` with ``resolve`` restrictions; returns an fd."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode if flags & os.O_CREAT else 0, resolve)
    encoded = os.fsencode(path)
    attempts = _RETRIES
    while True:
        try:
            return syscall(
                "openat2",
                ctypes.c_int(dirfd),
                encoded,
                ctypes.byref(how),
                ctypes.c_size_t(ctypes.sizeof(how)),
            )
        except OSError as e:
            attempts -= 1
            if e.errno != errno.EAGAIN or not attempts:
                raise


def open_in_root(rootfd: int, path: str, flags: int, mode: int = 0) -> int:
    """Open ``path`` as if ``rootfd`` were ``/``: symlinks and ``..`` cannot leave the tree."""
    return openat2(
        rootfd, path.lstrip("/") or ".", flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
    )
