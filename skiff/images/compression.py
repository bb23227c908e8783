"""Decompressing layer streams (gzip, zstd) as they are read."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO


def decompressed(raw: BinaryIO, kind: str) -> BinaryIO:
    """A reader of the uncompressed bytes of ``raw``, compressed as ``kind``."""
    if kind == "none":
        return raw
    if kind == "gzip":
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if kind == "zstd":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return reader
    raise ValueError(f"unknown compression {kind!r}")
