"""``skiff-vm create``: a bundle becomes a booted VM whose workload waits for ``start``.

The order keeps a failure from leaving anything behind: everything that can be refused
(no kernel, no QEMU, a terminal, an executable not in the root, too little memory) is
checked before the first file is written; the disks, the state directory and the cgroup
are then made, and the shim forked; if the guest does not boot, all of them are removed
before the error is reported.
"""

from __future__ import annotations

import math
import os
import shutil
import stat
import time
from dataclasses import dataclass
from typing import Any

from skiff import jsonio
from skiff.errors import InvalidArgument, SkiffError
from skiff.linux.openat2 import open_in_root
from skiff.linux.proc import process_start_time
from skiff.runtime.state import ContainerDir, State, rfc3339, write_pid_file
from skiff.vm import disks
from skiff.vm.guest_config import (
    MOUNTS_LABELS,
    ROOT_LABEL,
    BindCopy,
    bind_mounts,
    guest_config,
)
from skiff.vm.initramfs import initramfs
from skiff.vm.kernel import find_kernel
from skiff.vm.qemu import Guest, choose_accel, find_qemu
from skiff.vm.shim import BootFailed, Shim

DEFAULT_MEMORY_MIB = 256
MINIMUM_MEMORY_MIB = 64
BOOT_TIMEOUT = {"tcg": 60.0, "kvm": 20.0}
DISKS = "skiff-vm"  # the directory of the VM's disks, in the bundle
PORTS_ANNOTATION = "io.skiff.vm.ports"  # "80/tcp 53/udp": the ports QEMU forwards
BOOT_TIMEOUT_ANNOTATION = "io.skiff.vm.boot-timeout"  # seconds
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class VmDir(ContainerDir):
    """A VM container's state directory: created until the shim reports the workload ran;
    paused while its cgroup (the shim and QEMU) is frozen."""

    def status(self, state: State) -> str:
        if state.pid <= 0 or process_start_time(state.pid) != state.start_time:
            return "stopped"
        if not os.path.exists(os.path.join(self.path, "started")):
            return "created"
        if state.cgroup_path:
            from skiff.cgroups import open_cgroup

            if open_cgroup(state.cgroup_path).frozen():
                return "paused"
        return "running"


@dataclass
class CreateRequest:
    root: str
    container_id: str
    bundle: str
    pid_file: str | None
    console_socket: str | None


def create(request: CreateRequest) -> None:
    bundle = os.path.abspath(request.bundle)
    with open(os.path.join(bundle, "config.json"), encoding="utf-8") as f:
        spec: dict[str, Any] = jsonio.loads(f.read())
    if request.console_socket or (spec.get("process") or {}).get("terminal"):
        raise InvalidArgument("a terminal (-t) is not supported by skiff-vm: the VM has no pty")
    rootfs = os.path.join(bundle, (spec.get("root") or {}).get("path", "rootfs"))
    process = spec.get("process") or {}
    args = process.get("args") or []
    if not args:
        raise InvalidArgument("process.args must not be empty")
    executable = find_executable(rootfs, args[0], process.get("env", []))
    kernel = find_kernel()
    qemu = find_qemu()
    initrd = initramfs(kernel)
    accel, _ = choose_accel(kernel, initrd)
    resources = (spec.get("linux") or {}).get("resources") or {}
    guest = Guest(
        kernel=kernel,
        initrd=initrd,
        memory_mib=memory_mib(resources),
        cpus=cpus(resources),
        accel=accel,
        console_log="",
        forwards=forwards(spec.get("annotations") or {}),
    )
    annotations = spec.get("annotations") or {}
    timeout = float(annotations.get(BOOT_TIMEOUT_ANNOTATION) or BOOT_TIMEOUT[accel])

    container = VmDir(request.root, request.container_id)
    container.make()
    disk_dir = os.path.join(bundle, DISKS)
    cgroup = None
    try:
        container.lock()
        state = State(
            id=request.container_id,
            bundle=bundle,
            rootfs=rootfs,
            created=rfc3339(time.time()),
            annotations=annotations,
        )
        container.save(state)
        binds = _binds(bind_mounts(spec))
        os.makedirs(disk_dir, exist_ok=True)
        root_image = os.path.join(disk_dir, "root.img")
        disks.make_image(rootfs, root_image, ROOT_LABEL)
        guest.disks.append((root_image, False))
        for read_only, label in MOUNTS_LABELS.items():
            these = [bind for bind in binds if bind.read_only == read_only]
            if these:
                image = os.path.join(disk_dir, f"{label}.img")
                disks.make_mounts_image(these, os.path.join(disk_dir, label), image, label)
                guest.disks.append((image, read_only))
        cgroup = _make_cgroup(spec, request.container_id)
        state.cgroup_path = cgroup.path if cgroup else ""
        netns, new_netns = _network(spec)
        shim = Shim(
            container.path,
            guest,
            qemu,
            netns,
            guest_config(spec, executable, binds, network=True),
            timeout,
        )
        pid = _fork_shim(shim, cgroup, new_netns)
        state.pid = pid
        state.start_time = process_start_time(pid) or 0
        container.save(state)
        if request.pid_file:
            write_pid_file(request.pid_file, pid)
    except BaseException:
        if cgroup is not None:
            kill_all(cgroup)
            cgroup.destroy()
        shutil.rmtree(disk_dir, ignore_errors=True)
        container.remove()
        raise


def _fork_shim(shim: Shim, cgroup: Any, new_netns: bool) -> int:
    """Fork the shim, which boots the guest; its pid once the guest is ready."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            from skiff.runtime.process import close_fds_except

            close_fds_except({write_end}, 3)
            os.setsid()  # the monitor's signals to its group are not the workload's
            if cgroup is not None:
                cgroup.add(os.getpid())
            if new_netns:
                from skiff.linux.namespaces import unshare

                unshare(0x40000000)  # CLONE_NEWNET: the bundle asked for a network of its own
            shim.boot()
        except BootFailed as e:
            os.write(write_end, str(e).encode())
            os._exit(1)
        except BaseException as e:
            os.write(write_end, f"the VM's shim failed: {e!r}".encode())
            os._exit(1)
        os.write(write_end, b"ok")
        os.close(write_end)
        try:
            code = shim.serve()
        except BaseException as e:
            os.write(2, f"skiff-vm: the VM's shim failed: {e!r}\n".encode())
            code = 255
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        report = f.read(65536).decode(errors="replace")
    if report != "ok":
        os.waitpid(pid, 0)
        raise SkiffError(report or "the VM's shim ended without a word")
    return pid


def kill_all(cgroup: Any) -> None:
    """SIGKILL the shim and QEMU (everything in the cgroup) and wait until they are gone."""
    deadline = time.monotonic() + 10
    while (pids := cgroup.pids()) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def _make_cgroup(spec: dict[str, Any], container_id: str) -> Any:
    """The container's cgroup, for stats and for killing everything at delete. Only CPU
    limits apply: ``--memory`` sizes the guest instead, and QEMU needs devices (/dev/kvm,
    /dev/net/tun) a container's device rules would deny."""
    from skiff.cgroups import open_cgroup, resolve_path

    linux = spec.get("linux") or {}
    cgroup = open_cgroup(resolve_path(linux.get("cgroupsPath"), container_id))
    cgroup.create()
    cpu = (linux.get("resources") or {}).get("cpu")
    if cpu:
        try:
            cgroup.set({"cpu": cpu})
        except BaseException:
            cgroup.destroy()
            raise
    return cgroup


def _network(spec: dict[str, Any]) -> tuple[str | None, bool]:
    """(the network namespace QEMU joins, whether it needs a new one)."""
    for namespace in (spec.get("linux") or {}).get("namespaces", []):
        if namespace.get("type") == "network":
            path = namespace.get("path")
            return (path, False) if path else (None, True)
    return None, False


def _binds(mounts: list[tuple[str, str, bool]]) -> list[BindCopy]:
    binds = []
    for index, (source, destination, read_only) in enumerate(mounts):
        try:
            mode = os.stat(source).st_mode
        except OSError as e:
            raise SkiffError(f"bind mount source {source}: {e.strerror}") from None
        binds.append(BindCopy(index, source, destination, not stat.S_ISDIR(mode), read_only))
    return binds


def memory_mib(resources: dict[str, Any]) -> int:
    """The guest's memory: the container's memory limit, else DEFAULT_MEMORY_MIB."""
    limit = (resources.get("memory") or {}).get("limit")
    if not limit or limit < 0:
        return DEFAULT_MEMORY_MIB
    mib = limit >> 20
    if mib < MINIMUM_MEMORY_MIB:
        raise InvalidArgument(
            f"a VM needs at least {MINIMUM_MEMORY_MIB} MiB of memory; --memory gives {mib} MiB"
        )
    return mib


def cpus(resources: dict[str, Any]) -> int:
    """The guest's CPUs: ``--cpus`` (quota / period) rounded up, at least one, at most the
    host's."""
    cpu = resources.get("cpu") or {}
    quota, period = cpu.get("quota") or 0, cpu.get("period") or 100000
    wanted = math.ceil(quota / period) if quota > 0 else 1
    return max(1, min(wanted, os.cpu_count() or 1))


def forwards(annotations: dict[str, str]) -> list[tuple[str, int]]:
    """The ports QEMU's user network forwards into the guest, from PORTS_ANNOTATION."""
    found = []
    for item in annotations.get(PORTS_ANNOTATION, "").split():
        port, _, proto = item.partition("/")
        if not port.isdigit() or proto not in ("", "tcp", "udp"):
            raise InvalidArgument(f"{PORTS_ANNOTATION}: bad port {item!r}")
        found.append((proto or "tcp", int(port)))
    return found


def find_executable(rootfs: str, name: str, env: list[str]) -> str:
    """``args[0]`` resolved as execvp would inside the root (symlinks resolved in it): the
    guest runs it by absolute path."""
    path = next((e[5:] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
    candidates = [name] if "/" in name else [os.path.join(d or "/", name) for d in path.split(":")]
    root = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for candidate in candidates:
            try:
                fd = open_in_root(root, candidate, os.O_PATH)
            except OSError:
                continue
            mode = os.fstat(fd).st_mode
            os.close(fd)
            if stat.S_ISREG(mode) and mode & 0o111:
                return candidate if candidate.startswith("/") else "/" + candidate
    finally:
        os.close(root)
    if "/" in name:
        raise SkiffError(f'exec: "{name}": no such file or directory')
    raise SkiffError(f'exec: "{name}": executable file not found in $PATH')
