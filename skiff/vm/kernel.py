"""The guest kernel: Debian's cloud kernel from /boot and the modules the guest init loads.

The cloud kernel builds virtio, virtio_pci, virtio_blk, virtio_console and virtio_net as
modules (ext4 and devtmpfs are built in, 9p is absent), so the initramfs carries those
modules and the init loads them in dependency order, read from the kernel's modules.dep.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from skiff.errors import SkiffError

#: The drivers the guest needs: the MMIO transport (microvm), disks, serial ports, network.
GUEST_DRIVERS = ("virtio_mmio", "virtio_blk", "virtio_console", "virtio_net")


class KernelMissing(SkiffError):
    """No guest kernel is installed."""


@dataclass(frozen=True)
class Kernel:
    version: str
    image: str  # the vmlinuz file
    modules: str  # /lib/modules/VERSION

    def module_files(self, names: tuple[str, ...] = GUEST_DRIVERS) -> list[str]:
        """The .ko files (paths below ``modules``) for ``names`` and everything they depend
        on, each after its dependencies: the order ``insmod`` needs."""
        deps = read_modules_dep(os.path.join(self.modules, "modules.dep"))
        by_name = {_module_name(path): path for path in deps}
        ordered: list[str] = []

        def visit(path: str) -> None:
            if path in ordered:
                return
            for dependency in deps[path]:
                visit(dependency)
            ordered.append(path)

        for name in names:
            if name not in by_name:
                raise KernelMissing(f"kernel {self.version} has no module {name}")
            visit(by_name[name])
        return ordered


def read_modules_dep(path: str) -> dict[str, list[str]]:
    """modules.dep as {module: [its direct and indirect dependencies]} (the kernel's depmod
    lists them all, deepest last)."""
    deps: dict[str, list[str]] = {}
    with open(path) as f:
        for line in f:
            module, _, rest = line.partition(":")
            if module:
                deps[module.strip()] = list(reversed(rest.split()))
    return deps


def _module_name(path: str) -> str:
    name = os.path.basename(path)
    for suffix in (".ko.xz", ".ko.zst", ".ko.gz", ".ko"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("-", "_")


def find_kernel(boot: str = "/boot", modules_root: str = "/lib/modules") -> Kernel:
    """The guest kernel: ``SKIFF_VM_KERNEL`` if set, else the newest cloud kernel in /boot
    (linux-image-cloud-amd64), else the newest kernel whose modules are installed."""
    wanted = os.environ.get("SKIFF_VM_KERNEL")
    candidates = [wanted] if wanted else sorted(glob.glob(os.path.join(boot, "vmlinuz-*")))
    usable = []
    for image in candidates:
        version = os.path.basename(image).removeprefix("vmlinuz-")
        modules = os.path.join(modules_root, version)
        if os.path.isfile(image) and os.path.isfile(os.path.join(modules, "modules.dep")):
            usable.append(Kernel(version, image, modules))
    if not usable:
        raise KernelMissing(
            "no guest kernel: install linux-image-cloud-amd64 (make setup does) "
            "or set SKIFF_VM_KERNEL to a vmlinuz whose modules are in /lib/modules"
        )
    cloud = [k for k in usable if k.version.endswith("-cloud-amd64")]
    return (cloud or usable)[-1]
