"""What ``skiff run --runtime vm`` checks before it creates anything: that a guest kernel
and QEMU are installed, and which accelerator the VM will get."""

from __future__ import annotations

from skiff.vm.initramfs import initramfs
from skiff.vm.kernel import find_kernel
from skiff.vm.qemu import choose_accel, find_qemu


def accelerator() -> tuple[str, str]:
    """("kvm" or "tcg", why); KernelMissing or QemuMissing if the VM cannot run at all."""
    kernel = find_kernel()
    find_qemu()
    return choose_accel(kernel, initramfs(kernel))
