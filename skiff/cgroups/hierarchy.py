"""The mounted cgroup hierarchies (from /proc/self/mountinfo) and the caller's own cgroups."""

from __future__ import annotations

import os

from skiff.errors import EngineError
from skiff.values import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    Mode = Literal["unified", "hybrid", "legacy"]

# The kernel's v1 controllers: every other option of a v1 mount is not a controller.
V1_CONTROLLERS = frozenset(
    {
        "cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "net_cls",
        "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc", "debug",
    }
)  # fmt: skip

# A v1 hierarchy holding one of these means containers are limited through v1 (legacy or
# hybrid mode). net_cls, net_prio, perf_event and rdma do not count: a pure v2 host may still
# mount them as v1 since v2 has no (or a separate) equivalent.
_V1_RESOURCE_CONTROLLERS = frozenset(
    {"cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "hugetlb", "pids"}
)


class Hierarchy(Value):
    """One mounted cgroup hierarchy.

    ``name`` is the directory a container sees it under (the mountpoint's base name, e.g.
    ``cpu,cpuacct`` or ``systemd``); ``options`` is the mount(2) data that mounts the same
    hierarchy again (``cpu,cpuacct``, ``name=systemd``; empty for v2). ``root`` is the cgroup
    at the mountpoint: ``/`` unless bind-mounted from a sub-cgroup.
    """

    FIELDS = ("mountpoint", "root", "version", "controllers", "name", "options")
    __slots__ = FIELDS

    def __init__(
        self,
        mountpoint: str,
        root: str,
        version: int,
        controllers: tuple[str, ...] = (),
        name: str = "",
        options: str = "",
    ) -> None:
        self.mountpoint = mountpoint
        self.root = root
        self.version = version
        self.controllers = controllers
        self.name = name
        self.options = options

    def dir(self, cgroup_path: str) -> str:
        """The directory of ``cgroup_path`` (relative to this mount) in this hierarchy."""
        return os.path.join(self.mountpoint, cgroup_path.lstrip("/"))


_OCTAL = frozenset("01234567")


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``).

    A backslash not followed by three octal digits stays as it is.
    """
    if "\\" not in field:
        return field
    first, *rest = field.split("\\")
    out = [first]
    for part in rest:
        code = part[:3]
        if len(code) == 3 and _OCTAL.issuperset(code):
            out.append(chr(int(code, 8)) + part[3:])
        else:
            out.append("\\" + part)
    return "".join(out)


def parse_mountinfo(text: str) -> list[Hierarchy]:
    """The cgroup hierarchies in a mountinfo text, each superblock once (its first mount)."""
    result: list[Hierarchy] = []
    seen: set[str] = set()
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        fstype, super_options = fields[sep + 1], fields[sep + 3] if len(fields) > sep + 3 else ""
        if fstype not in ("cgroup", "cgroup2") or fields[2] in seen:
            continue
        seen.add(fields[2])
        mountpoint, root = _unescape(fields[4]), _unescape(fields[3])
        name = os.path.basename(mountpoint.rstrip("/"))
        if fstype == "cgroup2":
            result.append(Hierarchy(mountpoint, root, 2, name=name))
            continue
        options = super_options.split(",")
        controllers = tuple(o for o in options if o in V1_CONTROLLERS)
        named = [o for o in options if o.startswith("name=")]
        mount_options = ",".join(list(controllers) + named)
        result.append(Hierarchy(mountpoint, root, 1, controllers, name, mount_options))
    return result


def hierarchies(mountinfo: str = "/proc/self/mountinfo") -> list[Hierarchy]:
    """The mounted cgroup hierarchies (v1 and v2), in mount order."""
    with open(mountinfo) as f:
        return parse_mountinfo(f.read())


def mode(found: list[Hierarchy]) -> Mode:
    """``unified`` (pure v2), ``hybrid`` (v1 controllers plus a v2 mount) or ``legacy``."""
    v1 = any(set(h.controllers) & _V1_RESOURCE_CONTROLLERS for h in found if h.version == 1)
    v2 = any(h.version == 2 for h in found)
    if not v1 and not v2:
        raise EngineError("no cgroup hierarchy is mounted (see /proc/self/mountinfo)")
    if not v1:
        return "unified"
    return "hybrid" if v2 else "legacy"


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/PID/cgroup as {controller list or ``name=X`` or ``""`` for v2: cgroup path}."""
    result: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            result[parts[1]] = parts[2]
    return result


def own_cgroups(pid: int | str = "self") -> dict[str, str]:
    with open(f"/proc/{pid}/cgroup") as f:
        return parse_proc_cgroup(f.read())


def proc_key(h: Hierarchy) -> str:
    """How /proc/PID/cgroup names the hierarchy ``h``."""
    if h.version == 2:
        return ""
    return ",".join(list(h.controllers) + [o for o in h.options.split(",") if "=" in o])
