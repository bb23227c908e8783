"""A container's network namespace, pinned by a bind mount of its nsfs file (as
``ip netns add`` does) under the run root.

The namespace exists before the container's process and after it: CNI ADD configures it
before the runtime joins it (the OCI spec's namespace ``path``), and DEL can still reach
the interfaces after the process exited. Removing the pin frees the namespace, and with it
the container's end of each veth pair.
"""

from __future__ import annotations

import os

from skiff.errors import EngineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def directory(runroot: str) -> str:
    return os.path.join(runroot, "netns")


def path(runroot: str, container_id: str) -> str:
    return os.path.join(directory(runroot), container_id)


def create(runroot: str, container_id: str) -> str:
    """A new network namespace pinned at :func:`path`; its path."""
    target = path(runroot, container_id)
    os.makedirs(directory(runroot), exist_ok=True)
    pin({"network": target})
    return target


def pin(targets: dict[str, str], prepare: Callable[[], None] | None = None) -> None:
    """New namespaces of the kinds in ``targets`` (network, ipc, uts...), each pinned by a
    bind mount at its path. A child process moves to them, runs ``prepare`` there (a
    hostname, sysctls) and pins them; this process stays where it is. On failure nothing
    is left: no pin, no file."""
    from skiff.linux.mount import MS_BIND, mount
    from skiff.linux.namespaces import KINDS, unshare

    flags = 0
    for kind, target in targets.items():
        flags |= KINDS[kind][0]
        with open(target, "w"):
            pass
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            unshare(flags)
            if prepare is not None:
                prepare()
            for kind, target in targets.items():
                mount(f"/proc/self/ns/{KINDS[kind][1]}", target, None, MS_BIND)
            os._exit(0)
        except BaseException as e:
            os.write(write, (getattr(e, "strerror", None) or str(e)).encode())
            os._exit(1)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        problem = pipe.read().decode()
    os.waitpid(pid, 0)
    if problem:
        for target in targets.values():
            unpin(target)
        kinds = ", ".join(targets)
        raise EngineError(f"create {kinds} namespace{'s' if len(targets) > 1 else ''}: {problem}")


def remove(runroot: str, container_id: str) -> None:
    """Unpin and delete the namespace file (nothing if it is gone)."""
    unpin(path(runroot, container_id))


def unpin(target: str) -> None:
    """Unpin a namespace file and delete it (nothing if it is gone)."""
    from skiff.linux.mount import MNT_DETACH, umount

    try:
        umount(target, MNT_DETACH)
    except OSError:
        pass
    try:
        os.unlink(target)
    except FileNotFoundError:
        pass
