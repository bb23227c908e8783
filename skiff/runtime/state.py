"""A container's record under the runtime root, and its status.

Each container has a directory ``ROOT/ID`` holding ``state.json`` (what the runtime needs
after ``create`` has exited) and, while the container is created but not yet started,
the ``exec.fifo`` its init process waits on. Operations on one container take an
exclusive ``flock`` on its directory, so concurrent commands are safe.
"""

from __future__ import annotations

import fcntl
import os
import time

from skiff import jsonio
from skiff.errors import Conflict, InvalidArgument, NotFound
from skiff.linux.proc import process_start_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OCI_VERSION = "1.2.0"
STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"


SECCOMP_CACHE = "@seccomp"  # not a container id, so never a container's directory


def seccomp_cache(root: str) -> str:
    """Where compiled seccomp filters are kept under the runtime's root."""
    return os.path.join(root, SECCOMP_CACHE)


def check_id(container_id: str) -> None:
    """Container ids as runc accepts them: letters, digits and ``_ + - .``."""
    if (
        not container_id
        or container_id in (".", "..")
        or not all(c.isalnum() or c in "_+-." for c in container_id)
        or not container_id.isascii()
    ):
        raise InvalidArgument(f"invalid container id format: {container_id!r}")


def rfc3339(t: float) -> str:
    whole = int(t)
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((t - whole) * 1e9):09d}Z"
    )


class State:
    """What ``state.json`` holds."""

    FIELDS = (
        "id",
        "bundle",
        "rootfs",
        "created",
        "pid",
        "start_time",
        "cgroup_path",
        "annotations",
        "namespaces",
        "hooks",
        "process",
        "seccomp",
        "owner",
    )
    __slots__ = FIELDS

    def __init__(
        self,
        id: str,
        bundle: str,
        rootfs: str,
        created: str,
        pid: int = 0,
        start_time: int = 0,
        cgroup_path: str = "",
        annotations: dict[str, str] | None = None,
        namespaces: list[str] | None = None,
        hooks: dict[str, Any] | None = None,
        process: dict[str, Any] | None = None,
        seccomp: dict[str, Any] | None = None,
        owner: str = "",
    ) -> None:
        self.id = id
        self.bundle = bundle
        self.rootfs = rootfs
        self.created = created
        self.pid = pid
        self.start_time = start_time  # the init's start time in clock ticks, against pid reuse
        self.cgroup_path = cgroup_path
        self.annotations = annotations or {}
        self.namespaces = namespaces or []  # the kinds the container has of its own
        self.hooks = hooks or {}  # poststart and poststop
        self.process = process or {}  # the defaults of ``exec``
        self.seccomp = seccomp
        self.owner = owner

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS}


class ContainerDir:
    """The directory of one container under the runtime root."""

    def __init__(self, root: str, container_id: str) -> None:
        check_id(container_id)
        self.id = container_id
        self.root = root
        self.path = os.path.join(root, container_id)
        self.fifo = os.path.join(self.path, EXEC_FIFO)
        self._lock_fd = -1

    def make(self) -> None:
        """Create the directory; a container with the same id must not exist."""
        os.makedirs(os.path.dirname(self.path), mode=0o711, exist_ok=True)
        try:
            os.mkdir(self.path, 0o711)
        except FileExistsError:
            raise Conflict(f"container with id exists: {self.id}") from None

    def exists(self) -> bool:
        return os.path.isdir(self.path)

    def lock(self) -> None:
        try:
            self._lock_fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFound(f"container does not exist: {self.id}") from None
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)

    def unlock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def load(self) -> State:
        try:
            with open(os.path.join(self.path, STATE_FILE), encoding="utf-8") as f:
                return State(**jsonio.loads(f.read()))
        except FileNotFoundError:
            raise NotFound(f"container does not exist: {self.id}") from None

    def save(self, state: State) -> None:
        """Write state.json atomically."""
        tmp = os.path.join(self.path, f".{STATE_FILE}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(jsonio.dumps(state.to_dict()))
        os.rename(tmp, os.path.join(self.path, STATE_FILE))

    def remove(self) -> None:
        for name in os.listdir(self.path):
            os.unlink(os.path.join(self.path, name))
        os.rmdir(self.path)

    def status(self, state: State) -> str:
        """created, running, paused or stopped, as the OCI runtime spec names them."""
        if state.pid <= 0 or process_start_time(state.pid) != state.start_time:
            return "stopped"
        if os.path.exists(self.fifo):
            return "created"
        if state.cgroup_path:
            from skiff.cgroups import open_cgroup

            if open_cgroup(state.cgroup_path).frozen():
                return "paused"
        return "running"


def oci_state(state: State, status: str) -> dict[str, Any]:
    """The state JSON of the OCI runtime spec (and runc's extra fields)."""
    result: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "id": state.id,
        "pid": state.pid if status != "stopped" else 0,
        "status": status,
        "bundle": state.bundle,
        "rootfs": state.rootfs,
        "created": state.created,
        "owner": state.owner,
    }
    if state.annotations:
        result["annotations"] = state.annotations
    return result


def write_pid_file(path: str, pid: int) -> None:
    """Write ``--pid-file`` atomically: readers never see it empty."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)
