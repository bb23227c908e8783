"""Device nodes in the container's /dev, and the device cgroup rules that go with them."""

from __future__ import annotations

import os
import stat

from skiff.linux import mount as m
from skiff.runtime.paths import fd_path, open_in_root, open_parent

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# The devices every container has (the OCI runtime spec's default devices).
DEFAULT_DEVICES: list[dict[str, Any]] = [
    {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666},
    {"path": "/dev/zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o666},
    {"path": "/dev/full", "type": "c", "major": 1, "minor": 7, "fileMode": 0o666},
    {"path": "/dev/random", "type": "c", "major": 1, "minor": 8, "fileMode": 0o666},
    {"path": "/dev/urandom", "type": "c", "major": 1, "minor": 9, "fileMode": 0o666},
    {"path": "/dev/tty", "type": "c", "major": 5, "minor": 0, "fileMode": 0o666},
]

# Allowed in the device cgroup besides the devices above: pseudo terminals, and mknod of
# anything (a node is useless without read/write permission), as runc allows.
_EXTRA_RULES: list[dict[str, Any]] = [
    {"allow": True, "type": "c", "major": -1, "minor": -1, "access": "m"},
    {"allow": True, "type": "b", "major": -1, "minor": -1, "access": "m"},
    {"allow": True, "type": "c", "major": 136, "minor": -1, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
]

_SYMLINKS = (
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("pts/ptmx", "ptmx"),
)

_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def all_devices(spec_devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The default devices plus the spec's (a spec device replaces a default one)."""
    paths = {d["path"] for d in spec_devices}
    return [d for d in DEFAULT_DEVICES if d["path"] not in paths] + spec_devices


def cgroup_rules(
    spec_rules: list[dict[str, Any]], devices: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The spec's device cgroup rules, then allow rules for the devices the container has."""
    rules = list(spec_rules) + _EXTRA_RULES
    for d in devices:
        if d["type"] == "p":
            continue
        rules.append(
            {
                "allow": True,
                "type": "c" if d["type"] == "u" else d["type"],
                "major": d["major"],
                "minor": d["minor"],
                "access": "rwm",
            }
        )
    return rules


def create_devices(rootfd: int, devices: list[dict[str, Any]], bind: bool) -> None:
    """Create device nodes (or, in a user namespace, bind-mount the host's)."""
    for device in devices:
        parent, name = open_parent(rootfd, device["path"])
        try:
            try:
                if stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                    raise IsADirectoryError(f"{device['path']}: a directory is in the way")
                os.unlink(name, dir_fd=parent)
            except FileNotFoundError:
                pass
            if bind:
                _bind_host_device(rootfd, parent, name, device)
            else:
                _mknod(parent, name, device)
        finally:
            os.close(parent)


def _mknod(parent: int, name: str, device: dict[str, Any]) -> None:
    mode = device.get("fileMode", 0o666) & 0o7777
    kind = _TYPES[device["type"]]
    number = (
        os.makedev(device.get("major", 0), device.get("minor", 0)) if kind != stat.S_IFIFO else 0
    )
    os.mknod(name, mode | kind, number, dir_fd=parent)
    os.chown(name, device.get("uid", 0), device.get("gid", 0), dir_fd=parent, follow_symlinks=False)


def _bind_host_device(rootfd: int, parent: int, name: str, device: dict[str, Any]) -> None:
    fd = os.open(
        name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, 0o000, dir_fd=parent
    )
    os.close(fd)
    target = open_in_root(rootfd, device["path"], os.O_PATH | os.O_NOFOLLOW)
    try:
        m.mount(device["path"], fd_path(target), None, m.MS_BIND)
    finally:
        os.close(target)


def create_symlinks(rootfd: int) -> None:
    """/dev/fd, /dev/std*, /dev/ptmx (and /dev/core when the host has /proc/kcore)."""
    links = list(_SYMLINKS)
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "core"))
    dev = open_in_root(rootfd, "/dev", os.O_PATH | os.O_DIRECTORY)
    try:
        for target, name in links:
            try:
                os.symlink(target, name, dir_fd=dev)
            except FileExistsError:
                # A ptmx device node must give way to the link to the devpts instance.
                mode = os.stat(name, dir_fd=dev, follow_symlinks=False).st_mode
                if name == "ptmx" and not stat.S_ISLNK(mode):
                    os.unlink(name, dir_fd=dev)
                    os.symlink(target, name, dir_fd=dev)
    finally:
        os.close(dev)
