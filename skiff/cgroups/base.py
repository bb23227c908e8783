"""What every cgroup driver does the same way on v1 and v2: directories, processes, removal."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod

from skiff.cgroups import tree
from skiff.cgroups.hierarchy import Hierarchy
from skiff.errors import EngineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar


class Cgroup(ABC):
    """One container's cgroup, at the same ``path`` in every hierarchy it uses."""

    version: ClassVar[int]

    def __init__(self, path: str) -> None:
        self.path = path
        # Directories create() made, so destroy() removes parents it made but no others.
        self._made: list[str] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    @abstractmethod
    def hierarchies(self) -> list[Hierarchy]:
        """The hierarchies the cgroup has a directory in."""

    def dirs(self) -> list[str]:
        """The cgroup's directory in each of its hierarchies."""
        return [h.dir(self.path) for h in self.hierarchies()]

    def create(self) -> None:
        """mkdir -p the cgroup in every hierarchy, then prepare it for limits and processes."""
        for h in self.hierarchies():
            self._made += tree.make_path(h.mountpoint, self.path)
        self._prepare()

    @abstractmethod
    def _prepare(self) -> None:
        """What the new directories need before processes or limits go in."""

    def add(self, pid: int) -> None:
        """Move process ``pid`` into the cgroup, in every hierarchy."""
        for d in self.dirs():
            path = os.path.join(d, "cgroup.procs")
            try:
                with open(path, "w") as f:
                    f.write(str(pid))
            except OSError as e:
                raise EngineError(f"cannot add process {pid} to {path}: {e.strerror}") from None

    def join(self) -> None:
        """Move the calling process, which must be single-threaded, into the cgroup.

        On a v1 hierarchy it writes 0 to ``tasks``: moving one thread (the caller) skips
        the kernel's threadgroup lock, whose first writer waits for an RCU grace period
        (10-20 ms here). v2 has no such file: ``cgroup.procs`` it is.
        """
        for h in self.hierarchies():
            path = os.path.join(h.dir(self.path), "tasks" if h.version == 1 else "cgroup.procs")
            try:
                with open(path, "w") as f:
                    f.write("0")
            except OSError as e:
                raise EngineError(f"cannot join {path}: {e.strerror}") from None

    @abstractmethod
    def set(self, resources: dict[str, Any]) -> None:
        """Apply OCI ``linux.resources``; a bad or unsupported value raises InvalidArgument."""

    @abstractmethod
    def freeze(self) -> None: ...

    @abstractmethod
    def thaw(self) -> None: ...

    @abstractmethod
    def frozen(self) -> bool: ...

    def pids(self) -> list[int]:
        """Every process in the cgroup and the cgroups below it (in any of its hierarchies)."""
        found: set[int] = set()
        for d in self.dirs():
            found.update(tree.procs(d))
        return sorted(found)

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """The ``data`` object of ``runc events --stats``."""

    def destroy(self) -> None:
        """Remove the cgroup and the cgroups below it, then the parents create() made if empty.

        A process still inside makes it fail (after retrying for a moment); gone is fine.
        """
        for d in self.dirs():
            tree.remove(d)
        for parent in reversed(self._made):
            tree.remove_if_empty(parent)
        self._made = []

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self.dirs())

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer killed in this cgroup (the
        ``oom_kill`` count of v2's memory.events or v1's memory.oom_control)."""
        for d in self.dirs():
            for name in ("memory.events", "memory.oom_control"):
                try:
                    with open(os.path.join(d, name)) as f:
                        lines = f.read().splitlines()
                except OSError:
                    continue
                for line in lines:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        return 0
