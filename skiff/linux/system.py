"""Host and domain names, personality, the session keyring, and the loopback link."""

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


SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    """Set ``lo`` up in this network namespace (a new one has it down), as runc does and
    as Docker's ``--network none`` shows it."""
    import _socket
    import fcntl
    import struct

    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    except OSError as e:
        raise OSError(e.errno, f"set loopback up: {e.strerror}") from None
    finally:
        sock.close()
