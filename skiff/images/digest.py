"""Content digests: ``sha256:<64 hex>`` (written and read) and ``sha512:<128 hex>`` (read)."""

from __future__ import annotations

from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    import hashlib

_LENGTHS = {"sha256": 64, "sha512": 128}


def check(digest: str) -> str:
    """Return ``digest`` if well-formed, else raise InvalidArgument."""
    algorithm, _, hexpart = digest.partition(":")
    length = _LENGTHS.get(algorithm)
    if length is None:
        raise InvalidArgument(f"unsupported digest algorithm: {digest}")
    if len(hexpart) != length or any(c not in "0123456789abcdef" for c in hexpart):
        raise InvalidArgument(f"invalid digest: {digest}")
    return digest


def hasher(digest_or_algorithm: str) -> hashlib._Hash:
    """A new hash object for the algorithm of a digest (or an algorithm name)."""
    import hashlib  # here: it loads OpenSSL, a few ms that ``skiff run`` does not need

    return hashlib.new(digest_or_algorithm.partition(":")[0])


def sha256(data: bytes = b"", size: int = 0) -> hashlib._Hash:
    """A SHA-256 hasher for about ``size`` bytes more: CPython's own below 16 MiB, since
    loading OpenSSL's costs about 3 ms (a tenth of a fully cached build), OpenSSL's
    (four times faster) beyond."""
    if size < 16 << 20:
        try:
            from _sha256 import sha256 as builtin  # type: ignore[import-not-found]

            return builtin(data)
        except ImportError:
            pass
    import hashlib

    return hashlib.sha256(data)


def of_bytes(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def hex_of(digest: str) -> str:
    return digest.partition(":")[2]


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The OCI chain IDs of a list of layer diff IDs (bottom first)."""
    chains: list[str] = []
    for diff_id in diff_ids:
        if not chains:
            chains.append(diff_id)
        else:
            chains.append(of_bytes(f"{chains[-1]} {diff_id}".encode()))
    return chains
