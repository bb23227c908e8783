"""Decompressing layer streams (gzip, zstd) as they are read."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

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
    if kind == "bzip2":
        import bz2

        return bz2.BZ2File(raw, mode="rb")  # type: ignore[return-value]
    if kind == "xz":
        import lzma

        return lzma.LZMAFile(raw, mode="rb")  # type: ignore[return-value]
    raise ValueError(f"unknown compression {kind!r}")


def sniffed(raw: BinaryIO) -> BinaryIO:
    """The uncompressed bytes of ``raw``, whichever of gzip, bzip2, xz or zstd it is
    compressed with, or ``raw`` itself (Docker's DecompressStream)."""
    import io

    from skiff.images.mediatypes import sniff_compression

    buffered: Any = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
    return decompressed(buffered, sniff_compression(buffered.peek(6)[:6]))


def gzip_into(source: BinaryIO, writer: BlobWriter) -> None:
    """``source`` gzip-compressed into ``writer``: no name and no time in the header, so
    one layer always compresses to the same blob."""
    import zlib

    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: the gzip format
    while chunk := source.read(_CHUNK):
        writer.write(compressor.compress(chunk))
    writer.write(compressor.flush())
