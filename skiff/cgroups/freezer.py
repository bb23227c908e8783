"""Freeze and thaw a cgroup: v1's freezer.state, or v2's cgroup.freeze (also in hybrid mode).

Both are asynchronous: the kernel reports the cgroup frozen only once every task has stopped,
so each call waits for that (a task in uninterruptible sleep can delay it).
"""

from __future__ import annotations

import time

from skiff.cgroups.files import CgroupDir, WriteError
from skiff.errors import EngineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

TIMEOUT = 10.0


def _write(d: CgroupDir, name: str, value: str) -> None:
    try:
        d.write(name, value, "freezer")
    except WriteError as e:
        raise EngineError(str(e)) from None


def _wait_until(done: Callable[[], bool], nudge: Callable[[], None]) -> bool:
    deadline = time.monotonic() + TIMEOUT
    delay = 0.0005
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
        nudge()
    return True


def _v1_state(d: CgroupDir) -> str:
    try:
        return d.read("freezer.state")
    except FileNotFoundError:
        return ""


def freeze_v1(d: CgroupDir) -> None:
    # Writing FROZEN again retries the tasks a FREEZING cgroup has not stopped yet (new forks).
    _write(d, "freezer.state", "FROZEN")
    if not _wait_until(
        lambda: _v1_state(d) == "FROZEN", lambda: _write(d, "freezer.state", "FROZEN")
    ):
        _write(d, "freezer.state", "THAWED")
        raise EngineError(f"cgroup {d.path} did not freeze within {TIMEOUT:g} s")


def thaw_v1(d: CgroupDir) -> None:
    _write(d, "freezer.state", "THAWED")
    if not _wait_until(
        lambda: _v1_state(d) == "THAWED", lambda: _write(d, "freezer.state", "THAWED")
    ):
        raise EngineError(f"cgroup {d.path} did not thaw within {TIMEOUT:g} s")


def frozen_v1(d: CgroupDir) -> bool:
    return _v1_state(d) == "FROZEN"


def frozen_v2(d: CgroupDir) -> bool:
    """The kernel's view (cgroup.events), which also counts a frozen ancestor."""
    return d.read_keyed("cgroup.events").get("frozen") == 1


def freeze_v2(d: CgroupDir) -> None:
    _write(d, "cgroup.freeze", "1")
    if not _wait_until(lambda: frozen_v2(d), lambda: None):
        _write(d, "cgroup.freeze", "0")
        raise EngineError(f"cgroup {d.path} did not freeze within {TIMEOUT:g} s")


def thaw_v2(d: CgroupDir) -> None:
    _write(d, "cgroup.freeze", "0")
    if not _wait_until(lambda: not frozen_v2(d), lambda: None):
        raise EngineError(f"cgroup {d.path} did not thaw within {TIMEOUT:g} s")
