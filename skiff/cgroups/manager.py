"""Open a container's cgroup with the driver for the host's cgroup mode."""

import posixpath

from skiff.cgroups.base import Cgroup
from skiff.cgroups.hierarchy import Hierarchy, hierarchies, mode
from skiff.errors import InvalidArgument


def open_cgroup(path: str, *, found: list[Hierarchy] | None = None) -> Cgroup:
    """The cgroup at absolute ``path``: V2Cgroup in unified mode, else V1Cgroup.

    Reads only /proc/self/mountinfo (``found`` stands in for it in tests); nothing is created.
    """
    if not path.startswith("/") or path.startswith("//") or posixpath.normpath(path) != path:
        raise InvalidArgument(f"cgroup path must be absolute and normalised: {path!r}")
    if path == "/":
        # destroy() would remove every cgroup of the host that has no process left.
        raise InvalidArgument("a container cannot use the root cgroup")
    found = hierarchies() if found is None else found
    # Only the driver in use is imported: start-up time counts for every runtime command.
    if mode(found) == "unified":
        from skiff.cgroups.v2 import V2Cgroup

        return V2Cgroup(path, next(h for h in found if h.version == 2))
    from skiff.cgroups.v1 import V1Cgroup

    return V1Cgroup(path, found)
