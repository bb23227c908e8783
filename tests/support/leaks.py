"""What a container may leave behind on the host: mounts, cgroups, processes."""

import os
from dataclasses import dataclass


def mount_points() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def cgroup_dirs() -> set[str]:
    found = set()
    for mountpoint in _cgroup_mountpoints():
        for dirpath, _, _ in os.walk(mountpoint):
            found.add(dirpath)
    return found


def _cgroup_mountpoints() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [
            line.split()[4]
            for line in f
            if line.split(" - ", 1)[1].split()[0] in ("cgroup", "cgroup2")
        ]


@dataclass
class Snapshot:
    mounts: set[str]
    cgroups: set[str]

    @classmethod
    def take(cls) -> "Snapshot":
        return cls(mount_points(), cgroup_dirs())

    def leaks_since(self, before: "Snapshot") -> list[str]:
        problems = [f"mount left behind: {m}" for m in sorted(self.mounts - before.mounts)]
        problems += [f"cgroup left behind: {c}" for c in sorted(self.cgroups - before.cgroups)]
        return problems
