"""``skiff system boot``: bring back, after a reboot, what a daemon would have restarted.

skiff has no daemon to start with the machine, so an init script or a systemd unit runs
``skiff system boot`` once (docs/guide.md). After a reboot the run root (a tmpfs) is
empty: no monitor, no runtime state, no mounts; the state database still says which
containers were running. Each of those is recorded as exited with Docker's code for a
container whose end nobody saw (255, or the code its monitor recorded), its runtime state,
rootfs mount and network endpoints (CNI DEL: the IP addresses are the store's) are
released if left, and then, as Docker's daemon does when it starts,
every container that was ever started and whose restart policy says so is started again
(``always``; ``unless-stopped`` unless a user stopped it; ``on-failure`` after a failure
with retries left), as a fresh start (RestartCount 0); ``--rm`` containers that were
running are removed.

A container recorded as not running that the runtime still has (its start's command was
killed between conmon's ``create`` and recording the start) loses that runtime container
and its monitor, as the next ``start`` would do (``Engine.discard_abandoned_start``).

Idempotent: a container whose process is still alive is left alone, so a second run, or
a run without a reboot, starts nothing twice. (A container in its restart back-off has no
process: boot takes it as dead, and the sleeping exit command then finds it started.)
"""

from __future__ import annotations

import json
import os
import time

from skiff.engine import monitor, restart
from skiff.engine.filesystem import ContainerFiles
from skiff.engine.timestamps import rfc3339_nano
from skiff.errors import NotFound, SkiffError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.engine.containers import Container
    from skiff.engine.engine import Engine

LOST_EXIT_CODE = 255  # Docker's exit code of a container whose exit was not seen
LIVE = ("creating", "created", "running", "paused")


def boot(engine: Engine) -> tuple[list[str], list[tuple[str, str]]]:
    """Apply the restart policies after a reboot: (IDs started, (ID, error) of those
    that could not be started)."""
    started: list[str] = []
    failed: list[tuple[str, str]] = []
    store = engine.containers
    for listed in store.all():
        with store.lock(listed.id):
            try:
                container = store.get(listed.id)
            except NotFound:
                continue
            was_running = bool(container.state.get("Running"))
            if was_running and not container.state.get("Restarting") and _alive(engine, container):
                continue
            _release(engine, container, was_running)
            container = store.get(container.id)
            if _comes_back(container):
                restart.started_by_user(store, container.id)
                try:
                    engine.start_locked(store.get(container.id))
                except (SkiffError, OSError) as e:
                    failed.append((container.id, str(e)))
                else:
                    started.append(container.id)
            elif was_running and container.options.get("auto_remove"):
                engine.remove_locked(container)
    return started, failed


def _alive(engine: Engine, container: Container) -> bool:
    """Whether the runtime still knows the container's process."""
    result = engine.runtime(container, "state", check=False)
    if result.returncode != 0:
        return False
    try:
        return json.loads(result.stdout).get("status") in LIVE
    except ValueError:
        return False


def _release(engine: Engine, container: Container, was_running: bool) -> None:
    """Free what a dead container may hold; record the exit of one that was running."""
    files = ContainerFiles(engine.paths, container.id)
    if was_running:
        engine.runtime(container, "delete", "--force", check=False)
        _remove_empty_cgroup(files)
        paths = monitor.MonitorPaths(engine.paths.runroot, files.dir, container.id)
        code = monitor.read_exit_code(paths)
        network_state = engine.leave_networks(container)
        engine.containers.set_state(
            container.id,
            **network_state,
            Status="exited",
            Running=False,
            Restarting=False,
            Paused=False,
            Pid=0,
            ExitCode=LOST_EXIT_CODE if code is None else code,
            FinishedAt=rfc3339_nano(time.time_ns()),
        )
    elif os.path.exists(os.path.join(engine.runtime_root, container.id)):
        engine.discard_abandoned_start(container)  # its starting command was killed
    files.unmount()


def _remove_empty_cgroup(files: ContainerFiles) -> None:
    """The cgroup the runtime made for the container, if it outlived the runtime's state
    (a crash rather than a reboot) and holds no process."""
    from skiff.cgroups.manager import open_cgroup

    try:
        with open(os.path.join(files.bundle, "config.json")) as f:
            cgroup = open_cgroup(json.load(f)["linux"]["cgroupsPath"])
        if cgroup.exists() and not cgroup.pids():
            cgroup.destroy()
    except (OSError, KeyError, ValueError, SkiffError):
        pass


def _comes_back(container: Container) -> bool:
    """Docker's test at daemon start: started before, and the policy restarts it."""
    state = container.state
    if str(state.get("StartedAt", "0001")).startswith("0001"):
        return False
    return restart.should_restart(
        restart.policy_of(container.options),
        int(state.get("ExitCode", 0)),
        int(state.get("RestartCount", 0)),
        bool(restart.memory_of(state)["ManuallyStopped"]),
    )
