"""A blob fetched from a registry: resumable, and readable while it arrives.

The bytes go to ``downloads/ALGORITHM-HEX`` under the store's root. A response cut short
is resumed with ``Range: bytes=N-`` (up to five attempts, with backoff); if the pull fails
anyway the file stays, so the next pull of the blob resumes where this one stopped. Once
complete and verified, the file becomes the content store's blob (a rename). A blob whose
bytes do not match its digest is deleted: there is nothing to resume.

``reader()`` reads the file as it grows, so a layer is decompressed and applied while it
downloads; the reader's last byte comes only after the digest is verified.

An exclusive ``flock`` on the file keeps two skiff processes from fetching one blob at
once: the second waits, then finds the blob in the store, or resumes the first's partial
file if it failed.
"""

from __future__ import annotations

import fcntl
import http.client
import os
import threading
import time

from skiff.errors import EngineError, InvalidArgument, SkiffError
from skiff.images import digest as digests
from skiff.registry.client import ATTEMPTS, Client, RegistryError, backoff

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from skiff.images.store import ContentStore

CHUNK = 1 << 20


class Cancelled(SkiffError):
    """Another part of the pull failed: this download stops (its bytes are kept)."""


class Download:
    """One blob's download into the store's ``downloads/`` directory."""

    def __init__(self, content: ContentStore, digest: str, size: int | None) -> None:
        self.content = content
        self.digest = digest
        self.expected_size = size
        os.makedirs(content.paths.downloads, exist_ok=True)
        self.path = os.path.join(content.paths.downloads, digest.replace(":", "-"))
        self.fd = _locked(self.path)
        self.hash = digests.hasher(digest)
        self.size = 0
        while chunk := os.pread(self.fd, CHUNK, self.size):  # what a failed pull kept
            self.hash.update(chunk)
            self.size += len(chunk)
        self.resumed_from = self.size
        self.done = content.exists(digest)  # another process finished it while we waited
        self.error: BaseException | None = None
        self._changed = threading.Condition()
        if self.done:
            self._discard()

    # --- fetching -----------------------------------------------------------------

    def fetch(
        self,
        client: Client,
        progress: Callable[[int], None] = lambda n: None,
        verified: Callable[[], None] = lambda: None,
    ) -> None:
        """Fetch the rest of the blob, verify it and publish it into the content store;
        ``verified()`` runs then, before readers see the end of the blob."""
        if self.done:
            return
        try:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    self._receive(client, progress)
                    break
                except (http.client.IncompleteRead, OSError) as e:
                    client.drop_connection()
                    if attempt == ATTEMPTS:
                        raise RegistryError(f"blob {self.digest}: {_cut_message(e)}") from None
                    time.sleep(backoff(attempt))
            self._verify()
            verified()
        except BaseException as e:
            self.fail(e)
            raise
        with self._changed:
            self.done = True
            self._changed.notify_all()

    def _receive(self, client: Client, progress: Callable[[int], None]) -> None:
        if self.expected_size is not None and self.size >= self.expected_size:
            return
        headers = {"Range": f"bytes={self.size}-"} if self.size else {}
        response = client.get(f"blobs/{self.digest}", headers)
        skip = 0
        if response.status == 200:
            skip = self.size  # the registry ignored the range: the bytes we have come again
        elif response.status != 206:
            client.check(response, f"blob {self.digest}")
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while True:
            if self.error is not None:
                response.close()
                client.drop_connection()
                raise Cancelled("cancelled")
            n = response.readinto(view)
            if not n:
                if response.raw.length:  # http.client leaves a short body to the caller
                    raise http.client.IncompleteRead(b"", response.raw.length)
                break
            chunk = view[:n]
            if skip:
                dropped = min(skip, n)
                skip -= dropped
                chunk = chunk[dropped:]
                if not chunk:
                    continue
            try:
                os.pwrite(self.fd, chunk, self.size)
            except OSError as e:  # not the network's fault: no retry
                raise EngineError(f"write {self.path}: {e.strerror or e}") from None
            self.hash.update(chunk)
            with self._changed:
                self.size += len(chunk)
                self._changed.notify_all()
            progress(self.size)

    def _verify(self) -> None:
        got = f"{self.hash.name}:{self.hash.hexdigest()}"
        size_wrong = self.expected_size is not None and self.size != self.expected_size
        if got != self.digest or size_wrong:
            self._discard()
            raise InvalidArgument(f"filesystem layer verification failed for digest {self.digest}")
        self.content.adopt(self.path, self.digest)

    def fail(self, error: BaseException) -> None:
        """Stop: readers raise ``error``; the bytes stay for a later pull."""
        with self._changed:
            if self.error is None:
                self.error = error
            self._changed.notify_all()

    def cancel(self) -> None:
        self.fail(Cancelled("cancelled"))

    def _discard(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def close(self) -> None:
        os.close(self.fd)  # and with it the lock

    # --- reading ------------------------------------------------------------------

    def reader(self) -> Reader:
        return Reader(self)


class Reader:
    """The blob's bytes in order, waiting for those not yet downloaded."""

    def __init__(self, download: Download) -> None:
        self.download = download
        self.position = 0

    def read(self, n: int = -1) -> bytes:
        download = self.download
        with download._changed:
            while True:
                if download.error is not None:
                    raise download.error
                if self.position < download.size:
                    break
                if download.done:
                    return b""
                download._changed.wait()
            available = download.size - self.position
        data = os.pread(download.fd, available if n < 0 else min(n, available), self.position)
        self.position += len(data)
        return data


def _locked(path: str) -> int:
    """The file at ``path``, created if need be, under an exclusive flock."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder published or discarded it: open what is there now


def _cut_message(error: BaseException) -> str:
    if isinstance(error, http.client.IncompleteRead):
        return "unexpected EOF"
    if isinstance(error, TimeoutError):
        return "i/o timeout"
    return getattr(error, "strerror", None) or str(error) or "unexpected EOF"
