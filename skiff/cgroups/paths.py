"""Where a container's cgroup goes: OCI ``linux.cgroupsPath`` to one absolute cgroup path.

- empty or missing: ``/<id>``, as runc;
- absolute: itself, relative to the root of every hierarchy (as runc and crun do);
- relative: under the caller's own cgroup, as runc does. On v2 under the *parent* of the
  caller's cgroup, as runc's fs2 does: the caller's cgroup holds processes, so the kernel would
  not let it delegate controllers to a child. On v1 the caller may sit in a different cgroup in
  each hierarchy, but skiff keeps one path for all of them (the runtime's state holds a single
  path), so it uses the caller's cgroup in the ``name=systemd`` hierarchy, or else in the first
  v1 hierarchy mounted.

``..`` never climbs above the hierarchy root (or, for a relative path, above the caller's cgroup),
and a path that comes out as the root cgroup itself is refused: the container's cgroup is
removed with everything below it when the container goes.
"""

import posixpath

from skiff.cgroups.hierarchy import Hierarchy, hierarchies, mode, own_cgroups, proc_key
from skiff.errors import InvalidArgument


def _clean(path: str) -> str:
    """An absolute, normalised path that ``..`` cannot lift above ``/``."""
    return posixpath.normpath("/" + path.lstrip("/"))


def _base_for_relative(found: list[Hierarchy], own: dict[str, str]) -> str:
    """The caller's cgroup a relative cgroupsPath is joined to, as seen through the mounts."""
    if mode(found) == "unified":
        h = next(h for h in found if h.version == 2)
        return posixpath.dirname(_visible(h, own.get("", "/")))
    v1 = [h for h in found if h.version == 1]
    chosen = next((h for h in v1 if "name=systemd" in h.options.split(",")), v1[0])
    return _visible(chosen, own.get(proc_key(chosen), "/"))


def _visible(h: Hierarchy, cgroup: str) -> str:
    """``cgroup`` (as /proc/PID/cgroup shows it) relative to the mount of ``h``."""
    root = h.root.rstrip("/")
    if root and (cgroup == root or cgroup.startswith(root + "/")):
        cgroup = cgroup[len(root) :]
    return _clean(cgroup)


def resolve_path(
    cgroups_path: str | None,
    container_id: str,
    *,
    found: list[Hierarchy] | None = None,
    own: dict[str, str] | None = None,
) -> str:
    """The absolute cgroup path for OCI ``linux.cgroupsPath`` (see the module docstring).

    ``found`` and ``own`` stand in for the mounted hierarchies and /proc/self/cgroup (tests).
    """
    if not cgroups_path:
        path = _clean(container_id)  # as runc: /<id> under each hierarchy root
    elif cgroups_path.startswith("/"):
        path = _clean(cgroups_path)
    else:
        found = hierarchies() if found is None else found
        own = own_cgroups() if own is None else own
        path = _clean(posixpath.join(_base_for_relative(found, own), _clean(cgroups_path)[1:]))
    if path == "/":
        raise InvalidArgument(f"linux.cgroupsPath: {cgroups_path!r} is the root cgroup")
    return path
