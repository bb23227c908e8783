"""Restart policies without a daemon: Docker's restart manager, kept in the state row.

Docker decides in its daemon, with a restart manager per container held in memory. skiff
has no daemon: the decision is made by the container's exit command (``skiff container
cleanup ID``, run by conmon when the process exits), and what Docker's restart manager
remembers lives in the container's state under ``RestartManager`` (skiff's bookkeeping,
not part of Docker's ``State`` object):

- ``ManuallyStopped``: a user stopped or killed it (Docker's ``HasBeenManuallyStopped``):
  ``unless-stopped`` then leaves it down, here and at ``skiff system boot``;
- ``Canceled``: the next exit is not restarted whatever the policy (``stop``, ``kill``
  with the stop signal or SIGKILL; Docker's ``ExitOnNext``);
- ``Backoff``: the last back-off in seconds (100 ms, doubled per restart up to a minute,
  back to 100 ms after a run of 10 s or more).

During the back-off the exit command sleeps (it is conmon's detached child, so nothing
waits for it) with the state showing ``Restarting``, then starts the container again
under its lock, unless ``stop``/``kill``/``rm -f`` ended the back-off meanwhile: they
take the same lock and mark the container exited, which the sleeper sees when it wakes.
"""

from __future__ import annotations

import time

from skiff.errors import NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.engine.containers import Container, ContainerStore
    from skiff.engine.engine import Engine
    from skiff.engine.options import RestartPolicy

FIRST_BACKOFF = 0.1
MAX_BACKOFF = 60.0
STEADY_RUN = 10.0  # a run at least this long resets the back-off
POLL = 0.05  # how often a sleeping exit command looks for a stop during its back-off


def next_backoff(previous: float, ran_for: float) -> float:
    """Docker's back-off before the next restart, given the last one and how long the
    container ran (seconds)."""
    if ran_for >= STEADY_RUN or previous <= 0:
        return FIRST_BACKOFF
    return min(previous * 2, MAX_BACKOFF)


def should_restart(
    policy: RestartPolicy, exit_code: int, restart_count: int, manually_stopped: bool
) -> bool:
    """Docker's decision after an exit (the restart manager's ``ShouldRestart``)."""
    if policy.name == "always":
        return True
    if policy.name == "unless-stopped":
        return not manually_stopped
    if policy.name == "on-failure":
        retries_left = policy.max_retries == 0 or restart_count < policy.max_retries
        return exit_code != 0 and retries_left
    return False


def cancels_restart(signal: str, stop_signal: str) -> bool:
    """Whether ``kill -s SIGNAL`` cancels the restart after the exit it causes: SIGKILL
    and the container's stop signal do, and any signal when no stop signal is set."""
    import signal as signals

    from skiff.engine.options import parse_signal

    number = parse_signal(signal)
    if not stop_signal or number == signals.SIGKILL:
        return True
    return number == parse_signal(stop_signal)


def policy_of(options: dict[str, Any]) -> RestartPolicy:
    """The restart policy in a container's recorded options."""
    from skiff.engine.options import RestartPolicy

    return RestartPolicy(**(options.get("restart") or {}))


def memory_of(state: dict[str, Any]) -> dict[str, Any]:
    """What the restart manager remembers (see the module doc), with its defaults."""
    return {"ManuallyStopped": False, "Canceled": False, "Backoff": 0.0} | (
        state.get("RestartManager") or {}
    )


def after_exit(container: Container, exited: dict[str, Any]) -> None:
    """Apply the restart policy to an exit about to be recorded as ``exited`` (the state
    changes of a stopped container): if it restarts, ``exited`` becomes Docker's
    restarting state (Running and Restarting, RestartCount + 1) and the back-off is
    remembered; :func:`restart_pending` then sleeps through it and starts the container."""
    restart = container.options.get("restart") or {}
    if restart.get("name", "no") in ("", "no"):
        return
    from skiff.engine.timestamps import RFC3339_NANO, go_parse

    state = container.state
    memory = memory_of(state)
    ran_for = time.time() - go_parse(RFC3339_NANO, state["StartedAt"], 0) / 1e9
    memory["Backoff"] = next_backoff(memory["Backoff"], ran_for)
    exited["RestartManager"] = memory
    count = int(state.get("RestartCount", 0))
    if memory["Canceled"] or not should_restart(
        policy_of(container.options), int(exited["ExitCode"]), count, memory["ManuallyStopped"]
    ):
        return
    exited.update(Status="restarting", Running=True, Restarting=True, RestartCount=count + 1)


def restart_pending(engine: Engine, container_id: str) -> None:
    """Run by conmon's exit command once the exit is recorded: if the container is in its
    restart back-off, sleep through the rest of it, then start it again, unless it was
    stopped or removed meanwhile. A start that fails leaves it exited with the code it
    had (Docker's ``SetStopped``)."""
    from skiff.engine.timestamps import RFC3339_NANO, go_parse

    store = engine.containers
    try:
        state = store.get(container_id).state
    except NotFound:
        return
    if not state.get("Restarting"):
        return
    finished = go_parse(RFC3339_NANO, state["FinishedAt"], 0) / 1e9
    deadline = finished + float(memory_of(state)["Backoff"])
    while (remaining := deadline - time.time()) > 0:
        time.sleep(min(remaining, POLL))
        if not _restarting(store, container_id):
            return
    with store.lock(container_id):
        if not _restarting(store, container_id):
            return
        container = store.get(container_id)
        try:
            engine.start_locked(container)
        except BaseException:
            store.set_state(
                container_id,
                Status="exited",
                Running=False,
                Restarting=False,
                Pid=0,
                ExitCode=container.state["ExitCode"],
            )
            raise


def _restarting(store: ContainerStore, container_id: str) -> bool:
    try:
        return bool(store.get(container_id).state.get("Restarting"))
    except NotFound:
        return False


def stopped_by_user(store: ContainerStore, container_id: str, cancel: bool) -> bool:
    """Record that a user (``stop``, ``kill``, ``rm -f``) is stopping the container, before
    it is signalled; ``cancel``: its exit is not to be restarted. A container in its
    restart back-off has no process: a cancel ends the back-off (it is then exited with
    its last exit code). True if there is a running process to signal."""
    with store.lock(container_id):
        state = store.get(container_id).state
        if not state.get("Running"):
            return False
        memory = memory_of(state)
        memory.update(ManuallyStopped=True, Canceled=memory["Canceled"] or cancel)
        if state.get("Restarting") and cancel:
            store.set_state(
                container_id,
                RestartManager=memory,
                Status="exited",
                Running=False,
                Restarting=False,
            )
        else:
            store.set_state(container_id, RestartManager=memory)
        return not state.get("Restarting")


def started_by_user(store: ContainerStore, container_id: str) -> None:
    """A user's start (and ``system boot``'s) begins afresh: RestartCount 0, nothing
    remembered (Docker's ``ResetRestartManager(true)``)."""
    store.set_state(container_id, RestartCount=0, RestartManager=memory_of({}))


def restart_now(engine: Engine, container_id: str) -> None:
    """Start a container that was just stopped (``--health-on-failure=restart``), counted
    as a restart: RestartCount + 1, the stop forgotten. Nothing if it runs again already."""
    store = engine.containers
    with store.lock(container_id):
        container = store.get(container_id)
        if container.state.get("Running"):
            return
        store.set_state(
            container_id,
            RestartCount=int(container.state.get("RestartCount", 0)) + 1,
            RestartManager=memory_of({}),
        )
        engine.start_locked(store.get(container_id))
