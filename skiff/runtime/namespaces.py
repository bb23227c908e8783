"""Which namespaces a container joins or creates, and user-namespace id maps."""

from __future__ import annotations

import errno
import os

from skiff.linux.namespaces import CLONE_NEWTIME, KINDS, setns, unshare

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class NamespacePlan:
    """The spec's ``linux.namespaces``: paths to join and kinds to create."""

    def __init__(self, linux: dict[str, Any]) -> None:
        self.join: list[tuple[str, str]] = []
        self.new: list[str] = []
        for ns in linux.get("namespaces") or []:
            if ns.get("path"):
                self.join.append((ns["type"], ns["path"]))
            else:
                self.new.append(ns["type"])
        # Join the user namespace first: the others may belong to it.
        self.join.sort(key=lambda item: item[0] != "user")
        self.new_flags = 0
        for kind in self.new:
            self.new_flags |= KINDS[kind][0]

    def has(self, kind: str) -> bool:
        return kind in self.new or any(k == kind for k, _ in self.join)

    def enter(self) -> None:
        """setns() into every path, then unshare() the new kinds.

        New pid and time namespaces take effect for children: the caller forks next. A new
        cgroup namespace's root is the cgroup the caller is in: join the cgroup first.
        """
        fds = []
        try:
            for kind, path in self.join:
                try:
                    fds.append((kind, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
                except OSError as e:
                    raise OSError(e.errno, f"open {kind} namespace {path}: {e.strerror}") from None
            for kind, fd in fds:
                try:
                    setns(fd, KINDS[kind][0])
                except OSError as e:
                    raise OSError(
                        e.errno, f"join {kind} namespace: {os.strerror(e.errno or 0)}"
                    ) from None
        finally:
            for _, fd in fds:
                os.close(fd)
        flags = self.new_flags
        if flags:
            try:
                unshare(flags)
            except OSError as e:
                if e.errno == errno.EINVAL and flags & CLONE_NEWTIME:
                    raise OSError(
                        e.errno, "unshare: time namespaces are not supported here"
                    ) from None
                raise OSError(
                    e.errno, f"unshare {' '.join(self.new)}: {os.strerror(e.errno or 0)}"
                ) from None


def write_id_maps(pid: int, linux: dict[str, Any]) -> None:
    """Write uid_map and gid_map of a process that has just unshared its user namespace."""
    for key, name in (("uidMappings", "uid_map"), ("gidMappings", "gid_map")):
        lines = "".join(
            f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in linux.get(key) or []
        )
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(lines)
        except OSError as e:
            raise OSError(e.errno, f"linux.{key}: writing {name}: {e.strerror}") from None


def write_time_offsets(offsets: dict[str, Any]) -> None:
    """Set the clock offsets of a time namespace just unshared (before its first child)."""
    with open("/proc/self/timens_offsets", "w") as f:
        for clock, value in offsets.items():
            f.write(f"{clock} {value.get('secs', 0)} {value.get('nanosecs', 0)}\n")
