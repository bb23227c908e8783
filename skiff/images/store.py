"""The content store: blobs by digest, written atomically and verified.

A blob is written to a temporary file under ``ingest/``, hashed as it is written, checked
against the digest it was announced with, fsynced, and renamed into
``blobs/<algorithm>/<hex>``: a reader never sees a partial blob, and a crash leaves at
most a temporary file, named after its writer, that the next garbage collection removes
once that writer is gone.
"""

from __future__ import annotations

import os

from skiff.errors import InvalidArgument, NotFound
from skiff.images import digest as digests
from skiff.linux.proc import owner_alive, owner_tag
from skiff.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    import hashlib
    from collections.abc import Callable, Iterator
    from typing import BinaryIO

_CHUNK = 1 << 20


class BlobWriter:
    """Write one blob; ``commit`` verifies and publishes it."""

    def __init__(
        self, store: ContentStore, expected: str | None, expected_size: int | None
    ) -> None:
        self.store = store
        self.expected = digests.check(expected) if expected else None
        self.expected_size = expected_size
        self.hash: hashlib._Hash = digests.hasher(expected or "sha256")
        self.size = 0
        os.makedirs(store.paths.ingest, exist_ok=True)
        import tempfile

        fd, self.temp = tempfile.mkstemp(dir=store.paths.ingest, prefix=f"blob-{owner_tag()}-")
        self.file = os.fdopen(fd, "wb")

    def write(self, data: bytes | memoryview) -> None:
        try:
            self.file.write(data)
        except OSError as e:  # a full disk: say which file, as Go's "write PATH: ..." does
            raise OSError(e.errno, e.strerror, self.temp) from None
        self.hash.update(data)
        self.size += len(data)

    def copy_from(self, stream: BinaryIO) -> None:
        while chunk := stream.read(_CHUNK):
            self.write(chunk)

    def commit(self, before_publish: Callable[[str], None] | None = None) -> tuple[str, int, bool]:
        """(digest, size, whether the blob is new); raises on a mismatch.

        ``before_publish(digest)`` runs once the digest is known and checked, before the
        blob appears: an image operation takes its lease on the blob there.
        """
        try:
            self.file.flush()
        except OSError as e:
            self.abort()
            raise OSError(e.errno, e.strerror, self.temp) from None
        got = f"{self.hash.name}:{self.hash.hexdigest()}"
        try:
            if self.expected and got != self.expected:
                raise InvalidArgument(f"digest mismatch: expected {self.expected}, got {got}")
            if self.expected_size is not None and self.size != self.expected_size:
                raise InvalidArgument(
                    f"size mismatch for {got}: expected {self.expected_size}, got {self.size}"
                )
            os.fsync(self.file.fileno())
            self.file.close()
            if before_publish is not None:
                before_publish(got)
            target = self.store.path(got)
            if os.path.exists(target):
                os.unlink(self.temp)
                return got, self.size, False
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.chmod(self.temp, 0o644)
            os.rename(self.temp, target)
            return got, self.size, True
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        try:
            if not self.file.closed:
                self.file.close()
        except OSError:
            pass  # on a full disk the flush of what is buffered fails: the file goes anyway
        try:
            os.unlink(self.temp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self.abort()


class ContentStore:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    def path(self, digest: str) -> str:
        algorithm, _, hexpart = digests.check(digest).partition(":")
        return os.path.join(self.paths.blobs, algorithm, hexpart)

    def exists(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def size(self, digest: str) -> int:
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            raise NotFound(f"blob not found: {digest}") from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob not found: {digest}") from None

    def read(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def writer(self, expected: str | None = None, size: int | None = None) -> BlobWriter:
        return BlobWriter(self, expected, size)

    def put(self, data: bytes, expected: str | None = None) -> str:
        with self.writer(expected, len(data)) as w:
            w.write(data)
            return w.commit()[0]

    def adopt(self, path: str, digest: str) -> None:
        """Publish a complete, verified file (on the store's filesystem) as blob ``digest``."""
        with open(path, "rb+") as f:
            os.fsync(f.fileno())
        target = self.path(digest)
        if os.path.exists(target):
            os.unlink(path)
            return
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.chmod(path, 0o644)
        os.rename(path, target)

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            pass

    def digests(self) -> Iterator[str]:
        if not os.path.isdir(self.paths.blobs):
            return
        for algorithm in os.listdir(self.paths.blobs):
            for name in os.listdir(os.path.join(self.paths.blobs, algorithm)):
                yield f"{algorithm}:{name}"

    def clean_abandoned(self) -> None:
        """Delete the temporary files of writers that died (kill -9): blobs being written
        (``blob-OWNER-*``) and archives a load was spooling (``load-OWNER-*``)."""
        directory = self.paths.ingest
        for name in os.listdir(directory) if os.path.isdir(directory) else []:
            kind, _, rest = name.partition("-")
            if kind in ("blob", "load") and not owner_alive(rest.rpartition("-")[0]):
                try:
                    os.unlink(os.path.join(directory, name))
                except FileNotFoundError:
                    pass

    def disk_usage(self) -> int:
        return sum(os.stat(self.path(d)).st_blocks * 512 for d in self.digests())
