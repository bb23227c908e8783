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


def directory(runroot: str) -> str:
    return os.path.join(runroot, "netns")


def path(runroot: str, container_id: str) -> str:
    return os.path.join(directory(runroot), container_id)


def create(runroot: str, container_id: str) -> str:
    """A new network namespace pinned at :func:`path`; its path."""
    from skiff.linux.mount import MS_BIND, mount
    from skiff.linux.namespaces import CLONE_NEWNET, unshare

    target = path(runroot, container_id)
    os.makedirs(directory(runroot), exist_ok=True)
    with open(target, "w"):
        pass
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child moves to a new namespace and pins it; this process stays
        os.close(read)
        try:
            unshare(CLONE_NEWNET)
            mount("/proc/self/ns/net", target, None, MS_BIND)
            os._exit(0)
        except OSError as e:
            os.write(write, (e.strerror or str(e)).encode())
            os._exit(1)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        problem = pipe.read().decode()
    os.waitpid(pid, 0)
    if problem:
        os.unlink(target)
        raise EngineError(f"create network namespace: {problem}")
    return target


def remove(runroot: str, container_id: str) -> None:
    """Unpin and delete the namespace file (nothing if it is gone)."""
    from skiff.linux.mount import MNT_DETACH, umount

    target = path(runroot, container_id)
    try:
        umount(target, MNT_DETACH)
    except OSError:
        pass
    try:
        os.unlink(target)
    except FileNotFoundError:
        pass
