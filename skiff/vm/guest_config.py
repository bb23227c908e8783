"""The workload's settings for the guest init, from the bundle's config.json.

The guest init (skiff/data/vm-init.sh) is busybox's shell, so the settings travel as a
shell fragment over the control port: variables, and a ``setup`` function for the
mounts, the network and the rlimits. Every value from the bundle is quoted with
``shlex.quote``; nothing from it is ever evaluated as shell.
"""

from __future__ import annotations

import shlex
from typing import Any

#: Mounts the guest init makes itself (its own /proc, /sys, /dev): the bundle's are skipped.
GUEST_OWN = frozenset(
    ["/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys/fs/cgroup"]
)

#: RLIMIT_* to busybox ash's ``ulimit`` letter and unit (bytes per unit).
ULIMITS = {
    "RLIMIT_NOFILE": ("n", 1),
    "RLIMIT_NPROC": ("u", 1),
    "RLIMIT_CORE": ("c", 512),
    "RLIMIT_FSIZE": ("f", 512),
    "RLIMIT_STACK": ("s", 1024),
    "RLIMIT_CPU": ("t", 1),
    "RLIMIT_AS": ("v", 1024),
    "RLIMIT_MEMLOCK": ("l", 1024),
    "RLIMIT_DATA": ("d", 1024),
    "RLIMIT_RSS": ("m", 1024),
    "RLIMIT_NICE": ("e", 1),
    "RLIMIT_RTPRIO": ("r", 1),
    "RLIMIT_MSGQUEUE": ("q", 1),
    "RLIMIT_LOCKS": ("x", 1),
    "RLIMIT_SIGPENDING": ("i", 1),
}
UNLIMITED = 2**64 - 1

#: The guest's address on QEMU's user network, and that network's gateway.
GUEST_ADDRESS = "10.0.2.15/24"
GUEST_GATEWAY = "10.0.2.2"


#: The labels of the guest's disks (``mke2fs -L``): the guest finds them by label, as
#: the order of virtio-mmio devices is not the order of QEMU's command line.
ROOT_LABEL = "skiff-root"
MOUNTS_LABELS = {False: "skiff-mounts-rw", True: "skiff-mounts-ro"}


class BindCopy:
    """A bind mount of the bundle, copied as ``m<index>`` into the read-write or the
    read-only mounts disk (read-only at the block device: QEMU's ``readonly=on``)."""

    def __init__(self, index: int, source: str, destination: str, is_file: bool, ro: bool) -> None:
        self.index = index
        self.source = source
        self.destination = destination
        self.is_file = is_file
        self.read_only = ro

    @property
    def name(self) -> str:
        return f"m{self.index}"

    @property
    def guest_path(self) -> str:
        disk = "ro" if self.read_only else "rw"
        return f"/mounts/{disk}/{self.name}" + ("/file" if self.is_file else "")


def guest_config(
    spec: dict[str, Any], executable: str, binds: list[BindCopy], network: bool
) -> str:
    """The fragment the guest init sources; ``executable`` is args[0] resolved in the root."""
    process = spec.get("process") or {}
    user = process.get("user") or {}
    args = [executable, *process.get("args", [])[1:]]
    root = spec.get("root") or {}
    lines = [
        f"HOSTNAME={shlex.quote(spec.get('hostname') or 'localhost')}",
        f"CWD={shlex.quote(process.get('cwd') or '/')}",
        f"UID_={int(user.get('uid', 0))}",
        f"GID_={int(user.get('gid', 0))}",
        f"ROOT_OPTIONS={'ro' if root.get('readonly') else 'rw'}",
        f"ARGS={shlex.quote(' '.join(shlex.quote(a) for a in args))}",
        f"ENVIRON={shlex.quote(' '.join(shlex.quote(e) for e in process.get('env', [])))}",
        "setup() {",
        "    :",
    ]
    if network:
        lines += [
            "    ip link set lo up",
            "    ip link set eth0 up",
            f"    ip addr add {GUEST_ADDRESS} dev eth0",
            f"    ip route add default via {GUEST_GATEWAY}",
        ]
    for read_only in sorted({bind.read_only for bind in binds}):
        disk, label = "ro" if read_only else "rw", MOUNTS_LABELS[read_only]
        lines.append(f"    mkdir -p /mounts/{disk}")
        lines.append(f'    mount -t ext4 -o {disk} "$(findfs LABEL={label})" /mounts/{disk}')
    bind_at = {b.destination: b for b in binds}
    for mount in spec.get("mounts", []):
        destination = mount.get("destination", "")
        target = shlex.quote("/newroot" + destination)
        if destination in GUEST_OWN:
            continue
        if destination in bind_at:
            bind = bind_at[destination]
            source = bind.guest_path
            make = (
                f"mkdir -p {shlex.quote('/newroot' + _parent(destination))} && touch"
                if bind.is_file
                else "mkdir -p"
            )
            lines.append(f"    {make} {target}")
            lines.append(f"    mount --bind {source} {target}")
        elif mount.get("type") == "tmpfs":
            options = ",".join(o for o in mount.get("options", []) if o not in ("bind", "rbind"))
            lines.append(f"    mkdir -p {target}")
            lines.append(f"    mount -t tmpfs -o {shlex.quote(options or 'rw')} tmpfs {target}")
    for limit in process.get("rlimits", []):
        letter, unit = ULIMITS.get(limit.get("type", ""), ("", 1))
        if letter:
            soft, hard = _ulimit(limit.get("soft", 0), unit), _ulimit(limit.get("hard", 0), unit)
            lines.append(f"    limit {letter} {soft} {hard}")
    lines += ["}", "end"]
    return "\n".join(lines) + "\n"


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def _ulimit(value: int, unit: int) -> str:
    return "unlimited" if value >= UNLIMITED else str(value // unit)


def bind_mounts(spec: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """The bundle's bind mounts the guest needs: (source, destination, read-only)."""
    found = []
    for mount in spec.get("mounts", []):
        options = mount.get("options", [])
        destination = mount.get("destination", "")
        is_bind = mount.get("type") == "bind" or "bind" in options or "rbind" in options
        if is_bind and destination not in GUEST_OWN:
            read_only = "ro" in options or "rro" in options  # rro: Docker's recursive ro
            found.append((mount.get("source", ""), destination, read_only))
    return found
