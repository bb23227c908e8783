"""The build context: the files a Dockerfile's COPY and ADD may read.

A context is a directory (``skiff build DIR``) or a tar stream (``-`` on stdin, a tarball,
the Engine API's POST /build body), which is extracted into a temporary directory first,
as dockerd does. ``.dockerignore`` at its root hides what it matches: an ignored file
cannot be copied, by name or by wildcard. A source is named relative to the root; one
that leaves it (``../x``, or a symlink that points out) is refused.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import stat

from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

    from skiff.build.dockerignore import IgnoreMatcher


class ContextError(InvalidArgument):
    """A COPY or ADD source that the context does not have (or may not give)."""


def clean(path: str) -> str:
    """``path`` relative to the context root, cleaned as Go's filepath.Clean ("" is the
    root); None-like results of ``..`` stay, for the caller to refuse."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == ".." and parts and parts[-1] != "..":
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def has_wildcards(path: str) -> bool:
    return any(c in path for c in "*?[")


class BuildContext:
    """A context directory, seen through its ``.dockerignore``."""

    def __init__(self, root: str, matcher: IgnoreMatcher) -> None:
        self.root = os.path.realpath(root)
        self.matcher = matcher

    @classmethod
    def open(cls, root: str) -> BuildContext:
        from skiff.build.dockerignore import IgnoreMatcher, read_patterns

        if not os.path.isdir(root):
            raise InvalidArgument(f"unable to prepare context: path {root!r} not found")
        try:
            with open(os.path.join(root, ".dockerignore"), encoding="utf-8") as f:
                patterns = read_patterns(f.read())
        except FileNotFoundError:
            patterns = []
        return cls(root, IgnoreMatcher(patterns))

    def path(self, relative: str) -> str:
        return os.path.join(self.root, relative) if relative else self.root

    def read_dockerfile(self, name: str) -> str:
        """The Dockerfile ``name`` (relative to the root, or absolute), which may be
        ignored by ``.dockerignore`` and still be read, as Docker does."""
        path = name if os.path.isabs(name) else self.path(clean(name))
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            raise InvalidArgument(
                f"Cannot locate specified Dockerfile: {os.path.basename(name)}"
            ) from None
        except IsADirectoryError:
            raise InvalidArgument(f"Cannot locate specified Dockerfile: {name}") from None

    @functools.cached_property
    def kept(self) -> frozenset[str]:
        """The paths ``.dockerignore`` leaves in (what the docker CLI would send): with an
        exception below an ignored directory, that directory and the exception."""
        return frozenset(self.matcher.walk(self.root))

    def ignored(self, relative: str) -> bool:
        return bool(relative) and relative not in self.kept

    def sources(self, source: str, instruction: str) -> list[str]:
        """The paths (relative to the root) that ``source`` names: itself, or what its
        wildcards match; an error in dockerd's words when there are none."""
        relative = clean(source)
        if relative == ".." or relative.startswith("../"):
            raise ContextError(
                f"{instruction} failed: forbidden path outside the build context: {source} ()"
            )
        if not has_wildcards(relative):
            self._check(relative, source, instruction)
            return [relative]
        found = [p for p in self._walk() if fnmatch.fnmatchcase(p, relative)]
        found = [p for p in found if self._inside(p)]
        if not found:
            raise ContextError(f"{instruction} failed: no source files were specified")
        return found

    def _check(self, relative: str, shown: str, instruction: str) -> None:
        path = self.path(relative)
        if self.ignored(relative) or not os.path.lexists(path):
            raise ContextError(
                f"{instruction} failed: file not found in build context or excluded by "
                f".dockerignore: stat {shown}: file does not exist"
            )
        if not self._inside(relative):
            raise ContextError(
                f"{instruction} failed: forbidden path outside the build context: {shown} ()"
            )

    def _inside(self, relative: str) -> bool:
        """The path, with its symlinks followed, is still in the context."""
        real = os.path.realpath(self.path(relative))
        return real == self.root or real.startswith(self.root + "/")

    def _walk(self) -> Iterator[str]:
        """Every path in the context (relative), but the ignored ones."""
        return self.matcher.walk(self.root)

    def files_below(self, relative: str) -> Iterator[str]:
        """``relative`` and, for a directory, everything below it that is not ignored."""
        yield relative
        path = self.path(relative)
        if not os.path.isdir(path) or os.path.islink(path):
            return
        for directory, dirnames, filenames in os.walk(path):
            base = os.path.relpath(directory, self.root)
            base = "" if base == "." else base
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                below = f"{base}/{name}" if base else name
                if not self.ignored(below):
                    yield below

    def checksum(self, paths: list[str]) -> str:
        """What the cache compares for COPY/ADD: each file's name (below its source),
        type, mode, owner, size, content and link target, but not its times (Docker's
        tarsum leaves them out, so a touched file still hits the cache)."""
        from skiff.images.digest import sha256

        entries = [
            (relative, os.lstat(self.path(relative)))
            for source in paths
            for relative in self.files_below(source)
        ]
        digest = sha256(size=sum(st.st_size for _, st in entries))
        for relative, st in entries:
            digest.update(
                f"{relative}\0{st.st_mode:o}\0{st.st_uid}:{st.st_gid}\0{st.st_size}\0".encode()
            )
            if stat.S_ISLNK(st.st_mode):
                digest.update(os.readlink(self.path(relative)).encode())
            elif stat.S_ISREG(st.st_mode):
                with open(self.path(relative), "rb") as f:
                    while chunk := f.read(1 << 20):
                        digest.update(chunk)
            digest.update(b"\n")
        return digest.hexdigest()


def extract_context(stream: BinaryIO, directory: str) -> None:
    """A context sent as a tar stream (plain, gzip, bzip2 or xz), unpacked into
    ``directory``; its entries cannot reach outside it."""
    from skiff.engine.untar import ARCHIVE_OWNER, extract
    from skiff.images.compression import sniffed
    from skiff.linux.openat2 import RESOLVE_BENEATH

    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        extract(sniffed(stream), fd, ".", resolve=RESOLVE_BENEATH, shown="/", owner=ARCHIVE_OWNER)
    finally:
        os.close(fd)
