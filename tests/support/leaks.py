"""What a container may leave behind on the host: mounts, cgroups, processes."""

import os
from dataclasses import dataclass


def mount_points() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        points = {line.split()[4] for line in f}
    return {p for p in points if not p.startswith(FOREIGN_MOUNTS)}


# What other software on this machine makes and removes while tests run, not a test's
# leaks: the sandbox's command runner (a cgroup per command), and the peer engines that
# benchmarks and interop tests start (dockerd's and podman's cgroups and mounts).
FOREIGN_CGROUPS = ("process_api", "docker", "libpod_parent", "skiff-bench-")
FOREIGN_MOUNTS = ("/tmp/skiff-bench-", "/var/lib/docker/", "/run/docker/", "/var/lib/containers/")


def cgroup_dirs() -> set[str]:
    found = set()
    for mountpoint in _cgroup_mountpoints():
        for dirpath, dirnames, _ in os.walk(mountpoint):
            if dirpath == mountpoint:
                dirnames[:] = [d for d in dirnames if not d.startswith(FOREIGN_CGROUPS)]
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
