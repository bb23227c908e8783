"""cgroup v2 (unified mode): one directory, controllers enabled from the parents down."""

from __future__ import annotations

import os

from skiff.cgroups import freezer
from skiff.cgroups.base import Cgroup
from skiff.cgroups.files import CgroupDir, WriteError
from skiff.cgroups.hierarchy import Hierarchy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class V2Cgroup(Cgroup):
    version = 2

    def __init__(self, path: str, hierarchy: Hierarchy) -> None:
        super().__init__(path)
        self._hierarchy = hierarchy

    def hierarchies(self) -> list[Hierarchy]:
        return [self._hierarchy]

    @property
    def dir(self) -> CgroupDir:
        return CgroupDir(self._hierarchy.dir(self.path))

    def _prepare(self) -> None:
        """Enable every available controller in each ancestor's cgroup.subtree_control.

        A controller reaches a cgroup only if every ancestor delegates it. Not the cgroup's
        own file: a cgroup with controllers enabled for children cannot hold processes.
        """
        current = self._hierarchy.mountpoint
        for part in [p for p in self.path.split("/") if p]:
            _enable_controllers(CgroupDir(current))
            current = os.path.join(current, part)

    def set(self, resources: dict[str, Any]) -> None:
        from skiff.cgroups import v2_resources  # on demand: most runtime commands never set

        v2_resources.apply(resources, self.dir)

    def freeze(self) -> None:
        freezer.freeze_v2(self.dir)

    def thaw(self) -> None:
        freezer.thaw_v2(self.dir)

    def frozen(self) -> bool:
        return freezer.frozen_v2(self.dir)

    def stats(self) -> dict[str, Any]:
        from skiff.cgroups import v2_stats

        return v2_stats.read(self.dir)


def _enable_controllers(d: CgroupDir) -> None:
    """All at once, or else one by one: one the kernel refuses (cpu while a realtime task runs
    in the cgroup, say) must not keep the others away. One still missing is reported by set()
    when a limit needs it."""
    available = set(d.read("cgroup.controllers").split())
    wanted = sorted(available - set(d.read("cgroup.subtree_control").split()))
    if not wanted:
        return
    try:
        d.write("cgroup.subtree_control", " ".join(f"+{c}" for c in wanted), "subtree_control")
    except WriteError:
        for controller in wanted:
            try:
                d.write("cgroup.subtree_control", f"+{controller}", "subtree_control")
            except WriteError:
                continue
