"""The guest's initramfs: busybox-static, the kernel's virtio modules and skiff's guest
init (skiff/data/vm-init.sh), as an uncompressed newc cpio archive.

It is built once per kernel, busybox and init script and cached: the key is a digest of
the three. Uncompressed, because under TCG the guest spends longer inflating an archive
than the host spends reading a few more megabytes.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess

from skiff.vm.kernel import Kernel

BUSYBOX = "/bin/busybox"
INIT_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "vm-init.sh")
CACHE = "/var/cache/skiff/vm"


class Cpio:
    """A writer of the newc ("070701") format the kernel unpacks as its first root."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.inode = 1

    def add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        fields = (self.inode, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        self.inode += 1
        header = b"070701" + b"".join(b"%08X" % value for value in fields)
        self.parts += [header, encoded, _padding(len(header) + len(encoded))]
        self.parts += [data, _padding(len(data))]

    def directory(self, name: str) -> None:
        self.add(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self.add(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self.add(name, stat.S_IFLNK | 0o777, target.encode())

    def to_bytes(self) -> bytes:
        self.add("TRAILER!!!", 0)
        return b"".join(self.parts)


def _padding(length: int) -> bytes:
    return b"\0" * (-length % 4)


def initramfs(kernel: Kernel, cache: str = CACHE) -> str:
    """The path of the cached initramfs for ``kernel``, built if it is not there yet."""
    with open(INIT_SCRIPT, "rb") as f:
        init = f.read()
    busybox = os.stat(BUSYBOX)
    key = hashlib.sha256(
        b"%s\0%d\0%d\0" % (kernel.version.encode(), busybox.st_size, busybox.st_mtime_ns) + init
    ).hexdigest()[:16]
    path = os.path.join(cache, f"initramfs-{kernel.version}-{key}.cpio")
    if os.path.exists(path):
        return path
    os.makedirs(cache, exist_ok=True)
    data = build(kernel, init)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "wb") as f:
        f.write(data)
    os.replace(temporary, path)
    return path


def build(kernel: Kernel, init: bytes) -> bytes:
    archive = Cpio()
    for directory in ("bin", "dev", "proc", "sys", "tmp", "run", "newroot", "lib", "lib/modules"):
        archive.directory(directory)
    # The kernel opens /dev/console for init's stdio before init can mount devtmpfs.
    archive.add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    with open(BUSYBOX, "rb") as f:
        archive.file("bin/busybox", f.read(), 0o755)
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True)
    for applet in applets.stdout.split():
        if applet != "busybox":
            archive.symlink(f"bin/{applet}", "busybox")
    archive.file("init", init, 0o755)
    order = []
    for relative in kernel.module_files():
        name = os.path.basename(relative)
        with open(os.path.join(kernel.modules, relative), "rb") as f:
            archive.file(f"lib/modules/{name}", f.read())
        order.append(name)
    archive.file("modules.order", "".join(f"{name}\n" for name in order).encode())
    return archive.to_bytes()
