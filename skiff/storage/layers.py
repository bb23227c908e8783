"""Unpacked layers, one directory per chain ID, and overlay mounts of a chain.

``layers/<name>/diff`` holds one layer's own files (overlayfs lower directory format:
whiteouts as 0/0 character devices, opaque directories by xattr). ``<name>`` is a short
hash of the chain ID, so the lowerdir option of a long chain stays under the page-size
limit of mount(2)'s data: the mount is made from inside ``layers/`` with relative paths
(24 bytes a layer: 120 layers fit in 3 KiB).
"""

from __future__ import annotations

import os

from skiff.errors import EngineError
from skiff.images import digest as digests
from skiff.linux.proc import owner_alive, owner_tag
from skiff.paths import Paths

NAME_LENGTH = 16
EMPTY = ".empty"  # the lower directory of an image without layers (FROM scratch)


def directory_name(chain_id: str) -> str:
    return digests.hex_of(chain_id)[:NAME_LENGTH]


class LayerDirs:
    """The directories of unpacked layers."""

    def __init__(self, paths: Paths) -> None:
        self.root = paths.layers

    def diff(self, name: str) -> str:
        return os.path.join(self.root, name, "diff")

    def exists(self, name: str) -> bool:
        return os.path.isdir(self.diff(name))

    def staging(self) -> str:
        """A new empty directory to unpack into; ``publish`` or ``discard`` it."""
        os.makedirs(self.root, exist_ok=True)
        import tempfile

        path = tempfile.mkdtemp(dir=self.root, prefix=f".unpack-{owner_tag()}-")
        os.mkdir(os.path.join(path, "diff"))
        return path

    def publish(self, staging: str, name: str) -> bool:
        """Move a staging directory into place; False if another writer got there first."""
        try:
            os.rename(staging, os.path.join(self.root, name))
            return True
        except OSError:
            if self.exists(name):
                self.discard(staging)
                return False
            raise

    def discard(self, path: str) -> None:
        import shutil

        shutil.rmtree(path, ignore_errors=True)

    def remove(self, name: str) -> None:
        """Remove a layer directory: renamed away first, so no half-removed layer is seen."""
        path = os.path.join(self.root, name)
        if not os.path.exists(path):
            return
        import shutil
        import tempfile

        doomed = tempfile.mkdtemp(dir=self.root, prefix=f".remove-{owner_tag()}-")
        os.rename(path, os.path.join(doomed, name))
        shutil.rmtree(doomed)

    def clean_abandoned(self) -> None:
        """Delete the unpacks and removals left by processes that died (kill -9)."""
        import shutil

        for entry in os.listdir(self.root) if os.path.isdir(self.root) else []:
            if entry.startswith((".unpack-", ".remove-")) and not owner_alive(
                entry[len(".unpack-") :].rpartition("-")[0]
            ):
                shutil.rmtree(os.path.join(self.root, entry), ignore_errors=True)

    def disk_usage(self, name: str) -> int:
        total = 0
        for dirpath, dirnames, filenames in os.walk(os.path.join(self.root, name)):
            for entry in dirnames + filenames:
                total += os.lstat(os.path.join(dirpath, entry)).st_blocks * 512
        return total


_MOUNT_DATA_MAX = 4096  # mount(2) copies one page of options


def mount_overlay(layers: LayerDirs, names: list[str], upper: str, work: str, target: str) -> None:
    """Mount ``names`` (top first) with ``upper``/``work`` on ``target``; no names (an
    image from scratch) mount an empty lower directory.

    With absolute paths when the options fit in mount(2)'s page; otherwise the lowerdir
    paths are relative to the layers directory, so mount(2) must run with that as its
    working directory: a forked child does it, leaving the caller's cwd (and its other
    threads) alone.
    """
    if not names:
        os.makedirs(layers.diff(EMPTY), exist_ok=True)
        names = [EMPTY]
    absolute = ":".join(os.path.join(layers.root, name, "diff") for name in names)
    data = f"lowerdir={absolute},upperdir={upper},workdir={work}"
    if len(data) < _MOUNT_DATA_MAX:
        from skiff.linux import mount as m

        try:
            m.mount("overlay", target, "overlay", 0, data)
        except OSError as e:
            raise EngineError(f"mount overlay on {target}: {e}") from None
        return
    lower = ":".join(f"{name}/diff" for name in names)
    data = f"lowerdir={lower},upperdir={upper},workdir={work}"
    if len(data) >= _MOUNT_DATA_MAX:
        raise EngineError(f"overlay mount options too long for {len(names)} layers")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            from skiff.linux import mount as m

            os.chdir(layers.root)
            m.mount("overlay", target, "overlay", 0, data)
            os._exit(0)
        except BaseException as e:
            os.write(write, str(e).encode())
            os._exit(1)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        message = f.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise EngineError(f"mount overlay on {target}: {message or 'failed'}")
