"""The C library handle and raw ``syscall(2)`` access, with errno-raising checks."""

from __future__ import annotations

import ctypes
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

libc = ctypes.CDLL(None, use_errno=True)

_syscall = libc.syscall
_syscall.restype = ctypes.c_long

MACHINE = os.uname().machine

# Syscall numbers for the calls glibc does not wrap, per architecture.
_NUMBERS: dict[str, dict[str, int]] = {
    "x86_64": {
        "rt_sigaction": 13,
        "capget": 125,
        "capset": 126,
        "pivot_root": 155,
        "keyctl": 250,
        "seccomp": 317,
        "bpf": 321,
        "execveat": 322,
        "pidfd_send_signal": 424,
        "open_tree": 428,
        "pidfd_open": 434,
        "openat2": 437,
        "pidfd_getfd": 438,
        "mount_setattr": 442,
    },
    "aarch64": {
        "rt_sigaction": 134,
        "capget": 90,
        "capset": 91,
        "pivot_root": 41,
        "keyctl": 219,
        "seccomp": 277,
        "bpf": 280,
        "execveat": 281,
        "pidfd_send_signal": 424,
        "open_tree": 428,
        "pidfd_open": 434,
        "openat2": 437,
        "pidfd_getfd": 438,
        "mount_setattr": 442,
    },
}


def check(result: int, what: str = "", path: str | None = None) -> int:
    """Raise ``OSError`` from errno when a libc call returned -1."""
    if result == -1:
        err = ctypes.get_errno()
        if path is not None:
            raise OSError(err, f"{what}: {os.strerror(err)}", path)
        raise OSError(err, f"{what}: {os.strerror(err)}" if what else os.strerror(err))
    return result


def syscall(name: str, *args: Any) -> int:
    """Call a syscall glibc does not wrap, by name; raises ``OSError`` on failure."""
    try:
        number = _NUMBERS[MACHINE][name]
    except KeyError:
        raise OSError(38, f"{name}: not supported on {MACHINE}") from None
    return check(_syscall(number, *args), name)
