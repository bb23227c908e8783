"""The guest's disks: the bundle's root filesystem, and a disk of copies of its bind mounts.

Both are ext4 images made by ``mke2fs -d`` from a directory, as plain files beside the
bundle (never in the run root, which is memory): no mount, no loop device, nothing to
clean but the files. ext4 because the cloud kernel has it built in, it is writable (a
container may write to its root), and ``mke2fs -d`` builds it without root privileges or a
mount. The image is sparse: its size leaves the workload room to write, but only what is
written takes space.

Bind mounts and volumes are copied in when the VM is created: the guest sees a snapshot,
and what it writes there stays in the VM (there is no 9p in this kernel and virtiofs
needs a daemon per share); docs/architecture.md says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from skiff.errors import SkiffError
from skiff.vm.guest_config import BindCopy

ROOM = 1 << 30  # bytes the workload may write beyond what the files hold (sparse)
MKE2FS = "mke2fs"


class DiskError(SkiffError):
    pass


def tree_size(path: str) -> tuple[int, int]:
    """(bytes, entries) below ``path``, symlinks not followed."""
    total = entries = 0
    for directory, dirs, files in os.walk(path):
        for name in dirs + files:
            entries += 1
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                pass
    return total, entries


def make_image(source: str, image: str, label: str, room: int = ROOM) -> None:
    """An ext4 image labelled ``label`` holding ``source``'s tree, ``room`` bytes free."""
    size, entries = tree_size(source)
    blocks = (size + entries * 4096 + room) // 1024 + 8192  # KiB, with the metadata
    with open(image, "wb"):
        pass
    # -N: inodes for every entry and as many more; -E root_owner: keep the tree's owners.
    result = subprocess.run(
        [MKE2FS, "-q", "-F", "-t", "ext4", "-N", str(entries * 2 + 1024), "-m", "0",
         "-E", "root_owner=0:0", "-L", label, "-d", source, image, f"{blocks}k"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["mke2fs failed"]
        raise DiskError(f"cannot make the VM's disk from {source}: {lines[-1]}")


def make_mounts_image(binds: list[BindCopy], staging: str, image: str, label: str) -> None:
    """A disk with each bind mount's source copied to ``m<index>`` (a file as m<i>/file)."""
    os.makedirs(staging)
    try:
        for bind in binds:
            target = os.path.join(staging, bind.name)
            if bind.is_file:
                os.mkdir(target)
                shutil.copy2(bind.source, os.path.join(target, "file"))
            else:
                shutil.copytree(bind.source, target, symlinks=True)
        make_image(staging, image, label, room=64 << 20)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
