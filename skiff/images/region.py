"""File-like readers of part of a file, and of a stream while hashing it."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import hashlib
    from typing import BinaryIO


class Region:
    """``size`` bytes of ``fd`` from ``offset``, read with pread (threads can share the fd)."""

    def __init__(self, fd: int, offset: int, size: int) -> None:
        self.fd = fd
        self.offset = offset
        self.size = size
        self.position = 0

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.position
        if n < 0 or n > left:
            n = left
        if n <= 0:
            return b""
        data = os.pread(self.fd, n, self.offset + self.position)
        if not data:
            raise ValueError("unexpected end of file")
        self.position += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class Hashing:
    """Passes reads through, hashing what flows by; ``count`` bytes so far."""

    def __init__(self, raw: BinaryIO | Region, hasher: hashlib._Hash) -> None:
        self.raw = raw
        self.hasher = hasher
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.hasher.update(data)
        self.count += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read to the end (a tar reader may stop at the end-of-archive blocks)."""
        while self.read(1 << 20):
            pass

    def digest(self) -> str:
        return f"{self.hasher.name}:{self.hasher.hexdigest()}"
