"""cgroup directories as trees: make a path, list its processes, remove it bottom-up."""

import errno
import os
import time

from skiff.errors import EngineError

# How long rmdir keeps retrying EBUSY: a killed process leaves its cgroup a moment after it
# is reaped.
BUSY_TIMEOUT = 1.0


def make_path(mountpoint: str, cgroup_path: str) -> list[str]:
    """mkdir -p ``cgroup_path`` under ``mountpoint``; returns the directories it made, top first.

    A parent removed meanwhile (another runtime destroying the cgroup it had made) is made again.
    """
    parts = [p for p in cgroup_path.split("/") if p]
    made: list[str] = []
    for _ in range(10):
        current = mountpoint
        try:
            for part in parts:
                current = os.path.join(current, part)
                try:
                    os.mkdir(current, 0o755)
                    made.append(current)
                except FileExistsError:
                    pass
            return made
        except FileNotFoundError:
            continue
        except OSError as e:
            raise EngineError(f"cannot create cgroup {current}: {e.strerror}") from None
    raise EngineError(f"cannot create cgroup {current}: its parent keeps disappearing")


def subtree(directory: str) -> list[str]:
    """``directory`` and every cgroup below it, deepest first (empty if it does not exist)."""
    return [root for root, _, _ in os.walk(directory, topdown=False)]


def procs(directory: str) -> list[int]:
    """The pids in ``directory`` and below."""
    pids: list[int] = []
    for d in subtree(directory):
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                pids.extend(int(line) for line in f.read().split())
        except FileNotFoundError:
            continue  # removed meanwhile
    return pids


def remove(directory: str) -> None:
    """rmdir ``directory`` and the cgroups below it, deepest first; gone already is fine."""
    for d in subtree(directory):
        remove_one(d)


def remove_one(directory: str) -> None:
    deadline = time.monotonic() + BUSY_TIMEOUT
    delay = 0.001
    while True:
        try:
            os.rmdir(directory)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise EngineError(f"cannot remove cgroup {directory}: {e.strerror}") from None
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def remove_if_empty(directory: str) -> None:
    """rmdir a parent this cgroup made, unless another cgroup or process still uses it."""
    try:
        os.rmdir(directory)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EBUSY, errno.EEXIST):
            raise EngineError(f"cannot remove cgroup {directory}: {e.strerror}") from None
