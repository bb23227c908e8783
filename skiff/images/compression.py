"""Decompressing layer streams (gzip, zstd) as they are read."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from skiff.images.store import BlobWriter

GZIP_LEVEL = 6  # gzip's and Go's default
_CHUNK = 1 << 20


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


def gzip_into(source: BinaryIO, writer: BlobWriter) -> None:
    """``source`` gzip-compressed into ``writer``: no name and no time in the header, so
    one layer always compresses to the same blob."""
    import zlib

    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: the gzip format
    while chunk := source.read(_CHUNK):
        writer.write(compressor.compress(chunk))
    writer.write(compressor.flush())
