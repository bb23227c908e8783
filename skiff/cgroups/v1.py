"""cgroup v1 (legacy and hybrid mode): one directory per mounted hierarchy.

The cgroup gets a directory in every v1 hierarchy, the named ones (``name=systemd``) too, and
in hybrid mode in the v2 hierarchy as well, as runc does, so tools that look there find the
container. Limits go to the v1 controllers; the v2 directory only groups the processes (and
freezes them when no v1 freezer is mounted).
"""

from __future__ import annotations

import os

from skiff.cgroups import freezer
from skiff.cgroups.base import Cgroup
from skiff.cgroups.files import CgroupDir, WriteError
from skiff.cgroups.hierarchy import Hierarchy
from skiff.errors import EngineError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class V1Cgroup(Cgroup):
    version = 1

    def __init__(self, path: str, found: list[Hierarchy]) -> None:
        super().__init__(path)
        self._v1 = [h for h in found if h.version == 1]
        self._by_controller = {c: h for h in self._v1 for c in h.controllers}
        # In hybrid mode the unified hierarchy holds no controller; it is used only to
        # freeze when v1 has no freezer. Joining it costs an RCU grace period per process
        # (10-20 ms here: cgroup.procs takes the threadgroup lock), so otherwise stay out.
        self._unified = (
            next((h for h in found if h.version == 2), None)
            if "freezer" not in self._by_controller
            else None
        )

    def hierarchies(self) -> list[Hierarchy]:
        return self._v1 + ([self._unified] if self._unified else [])

    def controller_dir(self, controller: str) -> CgroupDir | None:
        """The cgroup's directory in the hierarchy of ``controller``; None if not mounted."""
        h = self._by_controller.get(controller)
        return CgroupDir(h.dir(self.path)) if h else None

    def _require(self, controller: str, field: str) -> CgroupDir:
        d = self.controller_dir(controller)
        if d is None:
            raise InvalidArgument(f"{field}: {controller} cgroup controller not available")
        return d

    def _prepare(self) -> None:
        if "cpuset" in self._by_controller:
            self._inherit_cpuset(self._by_controller["cpuset"])

    def _inherit_cpuset(self, h: Hierarchy) -> None:
        """A v1 cpuset takes no process while cpus or mems is empty, and a new one is empty:
        copy the parent's values down, from the top, into every level that has none."""
        current = h.mountpoint
        for part in [p for p in self.path.split("/") if p]:
            parent, current = current, os.path.join(current, part)
            d = CgroupDir(current)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if d.read(name):
                    continue
                try:
                    d.write(name, CgroupDir(parent).read(name), f"cgroup {current}")
                except WriteError as e:
                    raise EngineError(str(e)) from None

    def set(self, resources: dict[str, Any]) -> None:
        from skiff.cgroups import v1_resources  # on demand: most runtime commands never set

        v1_resources.apply(resources, self._require)

    def _freezer(self) -> tuple[CgroupDir, bool]:
        """The directory to freeze through and whether it is v1's freezer (else cgroup.freeze)."""
        d = self.controller_dir("freezer")
        if d is not None:
            return d, True
        if self._unified is not None:
            return CgroupDir(self._unified.dir(self.path)), False
        raise EngineError("cannot freeze: no freezer cgroup controller is mounted")

    def freeze(self) -> None:
        d, v1 = self._freezer()
        if v1:
            freezer.freeze_v1(d)
        else:
            freezer.freeze_v2(d)

    def thaw(self) -> None:
        d, v1 = self._freezer()
        if v1:
            freezer.thaw_v1(d)
        else:
            freezer.thaw_v2(d)

    def frozen(self) -> bool:
        d, v1 = self._freezer()
        return freezer.frozen_v1(d) if v1 else freezer.frozen_v2(d)

    def stats(self) -> dict[str, Any]:
        from skiff.cgroups import v1_stats

        return v1_stats.read(self.controller_dir)
