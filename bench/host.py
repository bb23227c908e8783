"""What an engine keeps on the host, read from /proc and /sys: its processes (their
memory and fds), its mounts, its cgroups, and the memory the host has left."""

from __future__ import annotations

import os
from collections.abc import Iterable

from bench.stats import kib_fields


def pids() -> set[int]:
    return {int(name) for name in os.listdir("/proc") if name.isdigit()}


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:  # the process is gone
        return ""


def cmdline(pid: int) -> str:
    return _read(f"/proc/{pid}/cmdline").replace("\0", " ").strip()


def name(pid: int) -> str:
    return _read(f"/proc/{pid}/comm").strip()


def in_host_pid_namespace(pid: int) -> bool:
    """False for a container's processes (each engine gives a container its own)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") == os.readlink("/proc/self/ns/pid")
    except OSError:
        return False


def processes_naming(text: str, among: Iterable[int] | None = None) -> list[int]:
    """Processes of the host (not of a container) whose command line contains ``text``:
    a monitor or shim names its engine's state directory."""
    own = os.getpid()
    return sorted(
        pid
        for pid in (pids() if among is None else among)
        if pid != own and text in cmdline(pid) and in_host_pid_namespace(pid)
    )


def memory(pid: int, field: str = "Pss") -> int:
    """A field of the process's smaps_rollup in bytes, 0 if it is gone: Pss (proportional
    set size: each page shared by several processes divided among them) or Rss."""
    return kib_fields(_read(f"/proc/{pid}/smaps_rollup")).get(field, 0)


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def mem_available() -> int:
    """The kernel's estimate of memory available to new work, in bytes."""
    return kib_fields(_read("/proc/meminfo"))["MemAvailable"]


def mounts_under(path: str) -> int:
    prefix = path.rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        return sum(1 for line in f if line.split()[4].startswith(prefix))


def _cgroup_mountpoints() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [
            line.split()[4]
            for line in f
            if line.split(" - ", 1)[1].split()[0] in ("cgroup", "cgroup2")
        ]


def cgroups_under(parent: str) -> int:
    """Cgroups below ``parent`` (a path such as /skiff-bench) in every hierarchy."""
    count = 0
    for mountpoint in _cgroup_mountpoints():
        top = os.path.join(mountpoint, parent.strip("/"))
        for _, dirs, _ in os.walk(top):
            count += len(dirs)
    return count


def remove_cgroup(parent: str) -> None:
    """rmdir ``parent`` (empty by then) in every hierarchy that has it."""
    for mountpoint in _cgroup_mountpoints():
        try:
            os.rmdir(os.path.join(mountpoint, parent.strip("/")))
        except OSError:
            pass
