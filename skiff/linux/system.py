"""Host and domain names, personality, and the session keyring."""

import ctypes

from skiff.linux.libc import check, libc, syscall

libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
libc.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
libc.personality.argtypes = [ctypes.c_ulong]

PER_LINUX = 0x0000
PER_LINUX32 = 0x0008

KEYCTL_JOIN_SESSION_KEYRING = 1


def sethostname(name: str) -> None:
    raw = name.encode()
    check(libc.sethostname(raw, len(raw)), "sethostname")


def setdomainname(name: str) -> None:
    raw = name.encode()
    check(libc.setdomainname(raw, len(raw)), "setdomainname")


def personality(persona: int) -> None:
    check(libc.personality(persona), "personality")


def join_session_keyring(name: str | None) -> None:
    """Join a new anonymous (or named) session keyring, so containers do not share keys."""
    syscall("keyctl", KEYCTL_JOIN_SESSION_KEYRING, name.encode() if name else None)
