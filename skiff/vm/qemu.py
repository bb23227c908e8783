"""QEMU: finding it, choosing KVM or TCG, and the command line of a guest.

The machine is QEMU's ``microvm`` (no PCI, no firmware tables to walk: under TCG it reaches
the guest's init in about half the time q35 takes), with virtio-mmio devices. Under TCG
``microvm`` needs the kernel argument ``tsc_early_khz=`` (the host's TSC rate), or the
guest hangs calibrating its timer.

KVM is used only when a probe guest boots with it: on nested virtualisation /dev/kvm can
open while guests hang. The probe's answer is kept for the boot in /run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field

from skiff.errors import SkiffError
from skiff.vm.kernel import Kernel

QEMU = "qemu-system-x86_64"
ACCEL_CACHE = "/run/skiff/vm-accel"
PROBE_TIMEOUT = 15.0  # a working KVM boots the probe in well under a second
#: Kernel arguments: the serial console, no reboot after a panic, no PCI or keyboard
#: probing, and the guest init asked for by name.
KERNEL_ARGS = (
    "console=ttyS0 panic=-1 quiet loglevel=3 pci=off i8042.noaux i8042.nomux i8042.nopnp "
    "i8042.dumbkbd reboot=t rdinit=/init"
)


class QemuMissing(SkiffError):
    """QEMU is not installed."""


def find_qemu() -> str:
    """qemu-system-x86_64: ``SKIFF_VM_QEMU`` if set, else the one on PATH."""
    wanted = os.environ.get("SKIFF_VM_QEMU") or QEMU
    found = shutil.which(wanted)
    if not found:
        raise QemuMissing(f"{wanted} is not installed: install qemu-system-x86 (make setup does)")
    return found


def tsc_khz() -> int:
    """The host's TSC rate in kHz, for ``tsc_early_khz=``: from the kernel's "tsc: Refined
    TSC clocksource calibration" when /proc/cpuinfo's MHz is only the current frequency
    (the rate the guest sees is the host's nominal one either way)."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                return int(float(line.split(":")[1]) * 1000)
    return 1_000_000


@dataclass
class Guest:
    """What one VM is made of."""

    kernel: Kernel
    initrd: str
    memory_mib: int
    cpus: int
    accel: str
    console_log: str
    disks: list[tuple[str, bool]] = field(default_factory=list)  # (image, read-only)
    ports: dict[str, int] = field(default_factory=dict)  # serial port name: host fd
    forwards: list[tuple[str, int]] = field(default_factory=list)  # (tcp|udp, port)
    network: bool = True
    kernel_args: str = ""

    def command(self, qemu: str) -> list[str]:
        machine = "microvm,x-option-roms=off,rtc=off,pic=off,pit=off,isa-serial=on"
        append = f"{KERNEL_ARGS} {self.kernel_args}".strip()
        if self.accel == "tcg":
            append += f" tsc_early_khz={tsc_khz()}"
        args = [
            qemu,
            "-M", machine,
            "-accel", "kvm" if self.accel == "kvm" else "tcg,tb-size=64",
            "-cpu", "host" if self.accel == "kvm" else "max",
            "-m", str(self.memory_mib),
            "-smp", str(self.cpus),
            "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
            "-kernel", self.kernel.image,
            "-initrd", self.initrd,
            "-append", append,
            "-serial", f"file:{self.console_log}",
        ]  # fmt: skip
        for index, (image, read_only) in enumerate(self.disks):
            readonly = ",readonly=on" if read_only else ""
            args += [
                "-drive", f"file={image},if=none,id=disk{index},format=raw{readonly}",
                "-device", f"virtio-blk-device,drive=disk{index}",
            ]  # fmt: skip
        args += ["-device", "virtio-serial-device"]
        for index, (name, fd) in enumerate(self.ports.items()):
            args += [
                "-chardev", f"socket,id=port{index},fd={fd}",
                "-device", f"virtserialport,chardev=port{index},name={name}",
            ]  # fmt: skip
        if self.network:
            forwards = "".join(f",hostfwd={proto}::{port}-:{port}" for proto, port in self.forwards)
            args += [
                "-netdev", f"user,id=net0{forwards}",
                "-device", "virtio-net-device,netdev=net0",
            ]  # fmt: skip
        return args


def choose_accel(kernel: Kernel, initrd: str) -> tuple[str, str]:
    """("kvm" or "tcg", why): ``SKIFF_VM_ACCEL`` if set, else the probe's answer."""
    forced = os.environ.get("SKIFF_VM_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced, f"SKIFF_VM_ACCEL={forced}"
    try:
        with open(ACCEL_CACHE) as f:
            accel, _, why = f.read().strip().partition(" ")
            if accel in ("kvm", "tcg"):
                return accel, why
    except FileNotFoundError:
        pass
    accel, why = probe(kernel, initrd)
    os.makedirs(os.path.dirname(ACCEL_CACHE), exist_ok=True)
    with open(ACCEL_CACHE, "w") as f:
        f.write(f"{accel} {why}\n")
    return accel, why


def probe(kernel: Kernel, initrd: str) -> tuple[str, str]:
    """Boot a guest that powers off as soon as its init runs, with KVM; TCG unless it
    does so in PROBE_TIMEOUT seconds."""
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC))
    except OSError as e:
        return "tcg", f"/dev/kvm cannot be opened ({e.strerror})"
    qemu = find_qemu()
    args = [
        qemu, "-M", "microvm", "-accel", "kvm", "-cpu", "host", "-m", "128",
        "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
        "-kernel", kernel.image, "-initrd", initrd,
        "-append", f"{KERNEL_ARGS} skiff.probe",
    ]  # fmt: skip
    started = time.monotonic()
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        code = process.wait(PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return "tcg", f"a KVM guest did not boot in {PROBE_TIMEOUT:.0f} s (nested virtualisation?)"
    if code != 0:
        return "tcg", f"QEMU could not start a KVM guest (exit {code})"
    return "kvm", f"a KVM guest booted in {time.monotonic() - started:.2f} s"
