"""start, kill, delete, pause, resume, update: a created container through its life."""

from __future__ import annotations

import os
import select
import time

from skiff.errors import Conflict, EngineError, InvalidArgument
from skiff.linux import signals
from skiff.linux.proc import process_start_time
from skiff.runtime.state import ContainerDir, State, oci_state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def parse_signal(text: str) -> int:
    """A signal by name (``TERM``, ``SIGTERM``) or number, as runc accepts it."""
    name = text.upper().removeprefix("SIG")
    if text.isdigit():
        number = int(text)
        if 0 < number <= signals.SIGRTMAX:
            return number
    else:
        number = signals.by_name().get(name, 0)
        if number:
            return number
    raise InvalidArgument(f"unknown signal {text!r}")


def start(container: ContainerDir) -> State:
    """Let the init exec the user process (it waits on the exec fifo), then poststart hooks."""
    state = container.load()
    status = container.status(state)
    if status != "created":
        raise Conflict(f"cannot start a container that is {status}: {container.id}")
    fifo = os.open(container.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        while True:
            ready, _, _ = select.select([fifo], [], [], 0.05)
            if ready:
                data = os.read(fifo, 1)
                if data:
                    break
            if container.status(state) == "stopped":
                # The init may have written its byte after select timed out and its
                # process run to its end before the status was read (a short command on
                # a busy host: 100 `run --rm` at once did it): the byte in the fifo says
                # the process was started, so this start succeeded.
                if _read_ready(fifo):
                    break
                raise EngineError(f"container init exited before start: {container.id}")
    finally:
        os.close(fifo)
    os.unlink(container.fifo)
    if state.hooks.get("poststart"):
        from skiff.runtime.hooks import run_hooks

        try:
            run_hooks(state.hooks["poststart"], oci_state(state, "running"), "poststart")
        except EngineError:
            # A failing poststart hook stops the container, as the runtime spec says.
            kill(container, signals.SIGKILL, all_processes=True)
            raise
    return state


def _read_ready(fifo: int) -> bool:
    """Whether the init's byte is in the (non-blocking) exec fifo."""
    try:
        return os.read(fifo, 1) != b""
    except BlockingIOError:
        return False


def kill(container: ContainerDir, sig: int, all_processes: bool = False) -> None:
    """Signal the init, or with ``all_processes`` every process of the container."""
    state = container.load()
    if container.status(state) == "stopped":
        raise Conflict(f"container not running: {container.id}")
    if all_processes and state.cgroup_path:
        from skiff.cgroups import open_cgroup

        # Frozen while signalled, so no process can fork away from the signal (as runc).
        cgroup = open_cgroup(state.cgroup_path)
        cgroup.freeze()
        try:
            for pid in cgroup.pids():
                _signal(pid, sig)
        finally:
            cgroup.thaw()
        return
    _signal(state.pid, sig)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def delete(container: ContainerDir, force: bool = False) -> None:
    """Remove a stopped container (``force``: kill it first); runs poststop hooks."""
    state = container.load()
    status = container.status(state)
    if status in ("running", "paused") and not force:
        raise Conflict(f"cannot delete container {container.id} that is not stopped: {status}")
    # Even a stopped container may have processes left: those of a container sharing
    # the host's pid namespace outlive its init.
    _kill_everything(state)
    if state.cgroup_path:
        from skiff.cgroups import open_cgroup

        open_cgroup(state.cgroup_path).destroy()
    container.remove()
    hooks = state.hooks.get("poststop")
    if hooks:
        from skiff.runtime.hooks import run_hooks

        try:
            run_hooks(hooks, oci_state(state, "stopped"), "poststop")
        except EngineError as e:
            from skiff.runtime.log import warn

            warn(str(e))


def _kill_everything(state: State) -> None:
    """SIGKILL every process of the container and wait until they are gone."""
    if state.pid and process_start_time(state.pid) == state.start_time:
        _signal(state.pid, signals.SIGKILL)
    if not state.cgroup_path:
        return
    from skiff.cgroups import open_cgroup

    cgroup = open_cgroup(state.cgroup_path)
    deadline = time.monotonic() + 10
    while pids := cgroup.pids():
        for pid in pids:
            _signal(pid, signals.SIGKILL)
        if cgroup.frozen():
            cgroup.thaw()
        if time.monotonic() > deadline:
            raise EngineError(f"processes of container {state.id} did not exit: {pids}")
        time.sleep(0.002)


def pause(container: ContainerDir) -> None:
    state = container.load()
    status = container.status(state)
    if status not in ("running", "created"):
        raise Conflict(f"container not running: {container.id}")
    if not state.cgroup_path:
        raise EngineError("cannot pause a container without a cgroup")
    from skiff.cgroups import open_cgroup

    open_cgroup(state.cgroup_path).freeze()


def resume(container: ContainerDir) -> None:
    state = container.load()
    if container.status(state) != "paused":
        raise Conflict(f"container not paused: {container.id}")
    from skiff.cgroups import open_cgroup

    open_cgroup(state.cgroup_path).thaw()


def update(container: ContainerDir, resources: dict[str, Any]) -> None:
    state = container.load()
    if container.status(state) == "stopped":
        raise Conflict(f"container not running: {container.id}")
    from skiff.cgroups import open_cgroup

    open_cgroup(state.cgroup_path).set(resources)


def stats(container: ContainerDir) -> dict[str, Any]:
    state = container.load()
    if container.status(state) == "stopped":
        raise Conflict(f"container not running: {container.id}")
    from skiff.cgroups import open_cgroup

    return open_cgroup(state.cgroup_path).stats()


def wait_for_exit(pid: int) -> int:
    """Wait for a child and return its exit code the way a shell reports it."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0
    return exit_code(status)


def exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)
