"""cgroup v1 and v2 (cgroupfs driver): create, set limits, add pids, freeze, stats, delete.

The runtime's interface::

    resolve_path(cgroups_path: str | None, container_id: str) -> str
        OCI linux.cgroupsPath -> an absolute cgroup path (rules in skiff.cgroups.paths):
        empty -> "/<id>" (as runc); absolute -> itself, relative to each hierarchy's root;
        relative -> under the caller's own cgroup (v2: under its parent, as runc).
        The root cgroup itself is refused.
    open_cgroup(path: str) -> Cgroup
        V2Cgroup in unified mode (pure v2), V1Cgroup in legacy or hybrid mode. Reads only
        /proc/self/mountinfo; creates nothing.
    hierarchies() -> list[Hierarchy]
        the mounted hierarchies: mountpoint, root, version, controllers, name (the directory
        a container sees it under, e.g. "cpu,cpuacct"), options (mount(2) data that mounts it
        again, e.g. "name=systemd").
    cgroup_mode() -> "unified" | "hybrid" | "legacy"

    Cgroup: version (1 or 2), path, and
        create()            mkdir -p in every hierarchy (v1: every v1 hierarchy, named ones
                            too, plus the v2 one in hybrid mode); v2: enable the available
                            controllers in each parent's cgroup.subtree_control; v1: copy
                            cpuset.cpus/mems down into empty levels
        add(pid)            into cgroup.procs in every hierarchy
        set(resources)      OCI linux.resources; a bad, unsupported or refused value raises
                            skiff.errors.InvalidArgument naming the OCI field (and the file,
                            for a kernel refusal). v1 mapping: v1_resources; v2 conversions:
                            v2_resources; device rule semantics: devices; the v2 eBPF device
                            filter: devices_bpf
        freeze(), thaw()    and wait until the kernel reports it; frozen()
        pids()              every process in the cgroup and the cgroups below it
        stats()             the "data" object of `runc events --stats`, same keys and order
        destroy()           rmdir the cgroup and the cgroups below it, deepest first
                            (retrying EBUSY for up to 1 s), then the parents this object's
                            create() made, if empty; gone already is fine
        exists()
        hierarchies(), dirs()   the hierarchies it lives in, and its directory in each
    V1Cgroup.controller_dir(controller) and V2Cgroup.dir give a CgroupDir to read files.

Other failures (mkdir, moving a process, freezing) raise skiff.errors.EngineError.
resolve_path() and open_cgroup() take keyword-only ``found`` (and ``own``) to stand in for
/proc/self/mountinfo and /proc/self/cgroup in tests.
"""

from __future__ import annotations

from skiff.cgroups.base import Cgroup
from skiff.cgroups.hierarchy import Hierarchy, hierarchies, mode
from skiff.cgroups.manager import open_cgroup
from skiff.cgroups.paths import resolve_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.cgroups.hierarchy import Mode


def cgroup_mode() -> Mode:
    """``unified`` (pure v2), ``hybrid`` or ``legacy`` (v1), from the mounted hierarchies."""
    return mode(hierarchies())


__all__ = ["Cgroup", "Hierarchy", "cgroup_mode", "hierarchies", "open_cgroup", "resolve_path"]
