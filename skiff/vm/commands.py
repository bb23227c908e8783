"""The handlers of skiff-vm's commands (skiff.runtime.cli parses its command line)."""

from __future__ import annotations

import os
import shutil
import socket
from typing import Any

from skiff.errors import Conflict, InvalidArgument, NotFound, SkiffError
from skiff.linux import signals
from skiff.runtime import commands as runtime_commands
from skiff.runtime import lifecycle
from skiff.runtime.cli import print_json
from skiff.runtime.state import oci_state
from skiff.vm.create import DISKS, CreateRequest, VmDir, create, kill_all
from skiff.vm.shim import socket_path

Flags = dict[str, Any]


def _locked(root: str, args: list[str]) -> VmDir:
    container = VmDir(root, args[0])
    container.lock()
    return container


def _ask_shim(container: VmDir, request: str, timeout: float = 30) -> None:
    """One request to the container's shim; SkiffError with its reply unless it is ok."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        with socket_path(container.path) as path:
            client.connect(path)
        client.sendall(request.encode() + b"\n")
        reply = client.recv(4096).decode(errors="replace").strip()
    except OSError as e:
        raise SkiffError(f"the VM of container {container.id} does not answer: {e}") from None
    finally:
        client.close()
    if reply != "ok":
        raise SkiffError(reply.removeprefix("error: ") or "the VM's shim closed the request")


def cmd_create(root: str, flags: Flags, args: list[str]) -> int:
    create(
        CreateRequest(root, args[0], flags["bundle"], flags["pid_file"], flags["console_socket"])
    )
    return 0


def cmd_start(root: str, flags: Flags, args: list[str]) -> int:
    container = _locked(root, args)
    status = container.status(container.load())
    if status != "created":
        raise Conflict(f"cannot start a container that is {status}")
    _ask_shim(container, "start")
    return 0


def cmd_state(root: str, flags: Flags, args: list[str]) -> int:
    container = VmDir(root, args[0])
    state = container.load()
    print_json(oci_state(state, container.status(state)))
    return 0


def cmd_kill(root: str, flags: Flags, args: list[str]) -> int:
    number = lifecycle.parse_signal(args[1]) if len(args) > 1 else signals.SIGTERM
    container = _locked(root, args)
    if container.status(container.load()) == "stopped":
        raise Conflict("container not running")
    _ask_shim(container, f"signal {number}")
    return 0


def cmd_delete(root: str, flags: Flags, args: list[str]) -> int:
    try:
        container = _locked(root, args)
    except NotFound:
        if flags["force"]:
            return 0
        raise
    state = container.load()
    status = container.status(state)
    if status != "stopped" and not flags["force"]:
        raise Conflict(f"cannot delete container {container.id} that is not stopped: {status}")
    if state.cgroup_path:
        from skiff.cgroups import open_cgroup

        cgroup = open_cgroup(state.cgroup_path)
        kill_all(cgroup)
        cgroup.destroy()
    shutil.rmtree(os.path.join(state.bundle, DISKS), ignore_errors=True)
    container.remove()
    return 0


# pause and resume are skiff-runtime's: they freeze and thaw the container's cgroup, which
# holds the shim and QEMU, so the whole guest stops, its clock included.
cmd_pause = runtime_commands.cmd_pause
cmd_resume = runtime_commands.cmd_resume


def cmd_exec(root: str, flags: Flags, args: list[str]) -> int:
    raise InvalidArgument(
        "exec is not supported by skiff-vm: the guest runs one workload and has no agent"
    )
