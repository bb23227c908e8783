"""A container held in the foreground by the command that runs it, and the wait for it.

``run`` (without -d), ``start -a`` and ``attach`` hold a shared flock on
``RUNROOT/attached/ID`` while they stream the container and clean up after it. conmon's exit
command (``skiff container cleanup ID``) waits for that lock before it does the same work:
the two never race for the container's lock, and when the foreground command dies the
kernel releases the flock and the monitor's cleanup goes on.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


def marker(runroot: str, container_id: str) -> str:
    return os.path.join(runroot, "attached", container_id)


@contextmanager
def held(runroot: str, container_id: str) -> Iterator[None]:
    """Hold the container in the foreground for the duration of the block."""
    path = marker(runroot, container_id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def wait_until_released(runroot: str, container_id: str) -> None:
    """Until no command holds the container in the foreground."""
    try:
        fd = os.open(marker(runroot, container_id), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)
