"""``top``: the processes of a container, as the host's ``ps`` shows them (Docker's way).

The container's processes are the pids in its cgroup (and the cgroups below it). ``ps``
runs with the user's options (``-ef`` by default) and ``-q PIDS`` to list just those; some
options cannot be combined with ``-q``, so a failure is retried without it. Either way
only the rows whose PID is the container's are kept, with the columns past the last title
joined into it (a command line has spaces). Messages are the daemon's.
"""

from __future__ import annotations

import re
import subprocess

from skiff.errors import Conflict, EngineError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.engine.engine import Engine

_PID_ASSIGNMENT = re.compile(r"\s+([^\s]*)=\s*(PID[^\s]*)")


def container_pids(pid: int) -> list[int]:
    """The processes in the cgroup of the container whose first process is ``pid``."""
    from skiff.cgroups import tree
    from skiff.cgroups.hierarchy import hierarchies
    from skiff.engine.stats import cgroup_dirs

    try:
        dirs = cgroup_dirs(pid, hierarchies())
    except OSError:
        return []
    # v1 controllers first: in hybrid mode the v2 hierarchy's cgroup is the root.
    directory = dirs.get("pids") or dirs.get("memory") or dirs.get("unified")
    return sorted(set(tree.procs(directory))) if directory else []


def check_ps_args(ps_args: str) -> None:
    """The daemon refuses ``-o x=PID`` style renames of the PID column but for ``pid``."""
    for key, value in _PID_ASSIGNMENT.findall(ps_args):
        if key != "pid":
            raise InvalidArgument(f'specifying "{key}={value}" is not allowed')


def parse_ps_output(output: str, pids: list[int]) -> tuple[list[str], list[list[str]]]:
    """The titles and the container's rows of ``ps`` output (lines of a thread, whose PID
    is ``-``, go with the process before them)."""
    lines = output.split("\n")
    titles = lines[0].split()
    if "PID" not in titles:
        raise EngineError("Couldn't find PID field in ps output")
    index = titles.index("PID")
    wanted = set(pids)
    rows: list[list[str]] = []
    previous_kept = False
    for line in lines[1:]:
        if not line:
            continue
        fields = line.split()
        value = fields[index] if index < len(fields) else ""
        if value == "-":
            if previous_kept:
                rows.append(_fit(fields, len(titles)))
            continue
        try:
            pid = int(value)
        except ValueError:
            raise EngineError(
                f"Unexpected pid '{value}': strconv.Atoi: parsing \"{value}\": invalid syntax"
            ) from None
        previous_kept = pid in wanted
        if previous_kept:
            rows.append(_fit(fields, len(titles)))
    return titles, rows


def _fit(fields: list[str], count: int) -> list[str]:
    return [*fields[: count - 1], " ".join(fields[count - 1 :])]


def top(engine: Engine, ref: str, ps_args: str = "") -> tuple[list[str], list[list[str]]]:
    """``docker top CONTAINER [ps OPTIONS]``: the titles and rows of the container's
    processes."""
    container = engine.containers.get(ref)
    if not container.state.get("Running"):
        raise Conflict(f"Container {container.id} is not running")
    if container.state.get("Restarting"):
        raise Conflict(
            f"Container {container.id} is restarting, wait until the container is running"
        )
    ps_args = ps_args or "-ef"
    check_ps_args(ps_args)
    pids = container_pids(int(container.state.get("Pid") or 0))
    args = ps_args.split(" ")
    selected = "-q" + ",".join(str(p) for p in pids)
    result = subprocess.run(["ps", *args, selected], capture_output=True, text=True)
    if result.returncode != 0:
        result = subprocess.run(["ps", *args], capture_output=True, text=True)
        if result.returncode != 0:
            reason = result.stderr.split("\n", 1)[0] or f"exit status {result.returncode}"
            raise EngineError(f"ps: {reason}")
    return parse_ps_output(result.stdout, pids)
