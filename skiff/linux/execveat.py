"""execveat(2): run a file named relative to a directory descriptor (Linux 3.19)."""

import ctypes
import os

from skiff.linux.libc import syscall

AT_EMPTY_PATH = 0x1000
AT_SYMLINK_NOFOLLOW = 0x100


def execveat(dirfd: int, name: str, args: list[str], env: dict[str, str], flags: int) -> None:
    """Replace this process with ``name`` of ``dirfd``; returns only by raising OSError."""

    def array(items: list[bytes]) -> ctypes.Array[ctypes.c_char_p]:
        return (ctypes.c_char_p * (len(items) + 1))(*items, None)

    argv = array([os.fsencode(a) for a in args])
    envp = array([os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()])
    syscall("execveat", ctypes.c_int(dirfd), os.fsencode(name), argv, envp, ctypes.c_int(flags))
