"""The health runner: one process per run root that probes the running containers which
have a health check, records the results and acts on ``--health-on-failure``.

skiff has no daemon, so something has to own the schedule. One shared process (rather
than one per container) keeps the host's cost per container at nothing beyond conmon: a
probe is a short-lived ``RUNTIME exec`` into the container. The runner is started on
demand by :func:`wake` when a container with a check starts, holds ``health/runner.lock``
so that only one runs, and exits when no running container has a check. It learns of new
containers through a FIFO (``health/wake``) and re-reads the state database every second,
so stopped and removed containers drop out by themselves.

Shutting down without losing a container that starts meanwhile: the runner closes the
FIFO (a starter that finds no reader spawns a new runner), releases the lock, then looks
once more; if a container needs it after all it takes the lock again, or leaves the work
to the runner that took it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import selectors
import signal
import subprocess
import sys
import time

from skiff.engine import health
from skiff.errors import SkiffError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.engine.containers import Container
    from skiff.paths import Paths

RESCAN = 1.0  # seconds between looks at the state database
KILL_GRACE = 2.0  # seconds a timed-out probe's exec gets to reap its killed process


def _dir(paths: Paths) -> str:
    return os.path.join(paths.runroot, "health")


def _fifo(paths: Paths) -> str:
    path = os.path.join(_dir(paths), "wake")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.mkfifo(path, 0o600)
    except FileExistsError:
        pass
    return path


def wake(paths: Paths) -> None:
    """Tell the runner to look at the containers again; start one if none runs."""
    try:
        fd = os.open(_fifo(paths), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        if e.errno != errno.ENXIO:  # ENXIO: nobody reads it, no runner
            raise
        _spawn(paths)
        return
    try:
        os.write(fd, b"\n")
    except BlockingIOError:
        pass  # full of wake-ups the runner has yet to read: it will look anyway
    finally:
        os.close(fd)


def _spawn(paths: Paths) -> None:
    """``skiff system health-runner``, which detaches at once."""
    sibling = os.path.join(os.path.dirname(sys.executable), "skiff")
    skiff = sibling if os.access(sibling, os.X_OK) else "skiff"
    subprocess.run(
        [skiff, "--root", paths.root, "--runroot", paths.runroot, "system", "health-runner"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        check=False,
    )


def run(paths: Paths) -> None:
    """The runner's life: probe while any running container has a check (returns at once
    if another runner holds the lock)."""
    lock = os.open(
        os.path.join(_dir(paths), "runner.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
    )
    runner = _Runner(paths)
    try:
        while _try_lock(lock):
            fifo = os.open(_fifo(paths), os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                runner.serve(fifo)
            finally:
                os.close(fifo)
                fcntl.flock(lock, fcntl.LOCK_UN)
            if not runner.scan():
                return
    finally:
        os.close(lock)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _now() -> str:
    from skiff.engine.timestamps import rfc3339_nano

    return rfc3339_nano(time.time_ns())


class _Watch:
    """A running container with a check: what to run, and when next."""

    def __init__(self, container: Container, check: health.Check, runtime: str) -> None:
        from skiff.engine.timestamps import RFC3339_NANO, go_parse

        self.id = container.id
        self.started_at = str(container.state["StartedAt"])
        self.started = go_parse(RFC3339_NANO, self.started_at, 0) / 1e9
        self.check = check
        self.runtime = runtime
        self.on_failure = str(container.options.get("health_on_failure") or "none")
        self.due = self.started + check.delay(0, "starting") / health.SECOND
        self.probe: _Probe | None = None


class _Probe:
    """One probe: ``RUNTIME exec`` of the check's command, its output kept as it comes."""

    def __init__(self, watch: _Watch, runtime_root: str, pid_file: str) -> None:
        self.watch = watch
        self.pid_file = pid_file
        self.start = _now()
        self.deadline = time.monotonic() + watch.check.timeout / health.SECOND
        self.output = bytearray()
        self.truncated = False
        self.eof = False
        self.process = subprocess.Popen(
            [
                watch.runtime, "--root", runtime_root, "exec", "--pid-file", pid_file,
                watch.id, *watch.check.command,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.stdout = self.process.stdout.fileno()
        os.set_blocking(self.stdout, False)
        self.exited = os.pidfd_open(self.process.pid)

    def read(self) -> bool:
        """Take what the probe wrote so far (keeping the first 4096 bytes); True at the
        end of its output."""
        while not self.eof:
            try:
                data = os.read(self.stdout, 65536)
            except BlockingIOError:
                break
            if not data:
                self.eof = True
                break
            room = health.MAX_OUTPUT - len(self.output)
            self.output += data[: max(room, 0)]
            self.truncated = self.truncated or len(data) > room
        return self.eof

    def result(self) -> dict[str, Any]:
        """After the exec exited: Docker's HealthcheckResult. An exec that never started
        its process (no pid file) is a failure with the runtime's message, as Docker's
        exec errors are (exit code -1)."""
        self.read()
        code = self.process.wait()
        started = os.path.exists(self.pid_file)
        return {
            "Start": self.start,
            "End": _now(),
            "ExitCode": code if started else -1,
            "Output": health.output_text(bytes(self.output), self.truncated),
        }

    def kill(self) -> dict[str, Any]:
        """The probe ran out of time: kill its process, then the exec."""
        try:
            with open(self.pid_file) as f:
                os.kill(int(f.read().strip()), signal.SIGKILL)
        except (OSError, ValueError):
            pass
        try:
            self.process.wait(KILL_GRACE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return health.timeout_result(self.start, _now(), self.watch.check.timeout)

    def close(self) -> None:
        assert self.process.stdout is not None
        self.process.stdout.close()
        os.close(self.exited)
        try:
            os.unlink(self.pid_file)
        except FileNotFoundError:
            pass


class _Runner:
    def __init__(self, paths: Paths) -> None:
        from skiff.engine.containers import ContainerStore

        self.paths = paths
        self.store = ContainerStore(paths)
        self.runtime_root = os.path.join(paths.runroot, "runtime")
        self.watched: dict[str, _Watch] = {}
        self.probes: set[_Probe] = set()
        self.images: dict[str, dict[str, Any]] = {}

    def scan(self) -> bool:
        """Look at the state database: the running containers with a check. True if any."""
        watched: dict[str, _Watch] = {}
        for container in self.store.all():
            state = container.state
            active = state.get("Running") and not state.get("Restarting")
            if not active or state.get("Paused") or not state.get("Health"):
                continue
            known = self.watched.get(container.id)
            if known is not None and known.started_at == state.get("StartedAt"):
                watched[container.id] = known
                continue
            watch = self._watch(container)
            if watch is not None:
                watched[container.id] = watch
        self.watched = watched
        return bool(watched)

    def _watch(self, container: Container) -> _Watch | None:
        from skiff.engine.engine import DEFAULT_RUNTIME, find_runtime

        try:
            if container.image_id not in self.images:
                from skiff.images.service import ImageStore

                image = ImageStore(self.paths).get(container.image_id)
                self.images[container.image_id] = image.config
            check = health.check_of(self.images[container.image_id], container.options)
            runtime = find_runtime(container.options.get("runtime") or DEFAULT_RUNTIME)
        except SkiffError:
            return None
        return _Watch(container, check, runtime) if check is not None else None

    def serve(self, fifo: int) -> None:
        """Probe until no running container has a check and no probe runs."""
        selector = selectors.DefaultSelector()
        selector.register(fifo, selectors.EVENT_READ)
        next_scan = 0.0
        try:
            while True:
                if time.monotonic() >= next_scan:
                    if not self.scan() and not self.probes:
                        return
                    next_scan = time.monotonic() + RESCAN
                self._start_due(selector)
                self._expire(selector)
                for key, _ in selector.select(self._timeout(next_scan)):
                    if isinstance(key.data, _Probe):
                        probe = key.data
                        if probe not in self.probes:
                            continue  # finished earlier in this round
                        if key.fd == probe.exited:
                            self._finish(selector, probe, probe.result())
                        elif probe.read():
                            selector.unregister(probe.stdout)  # end of output
                    else:
                        _drain(fifo)
                        next_scan = 0.0
        finally:
            selector.close()

    def _timeout(self, next_scan: float) -> float:
        """Seconds until something is due: a scan, a probe, a probe's deadline."""
        now_wall, now = time.time(), time.monotonic()
        moments = [next_scan - now]
        moments += [w.due - now_wall for w in self.watched.values() if w.probe is None]
        moments += [probe.deadline - now for probe in self.probes]
        return max(min(moments), 0.0)

    def _start_due(self, selector: selectors.BaseSelector) -> None:
        now = time.time()
        for watch in self.watched.values():
            if watch.probe is None and watch.due <= now:
                # A name of its own: a probe of the container's previous run may still end.
                pid_file = os.path.join(_dir(self.paths), f"{watch.id}.{time.monotonic_ns()}.pid")
                try:
                    probe = watch.probe = _Probe(watch, self.runtime_root, pid_file)
                except OSError as e:  # the runtime could not be run: a failed probe
                    now_text = _now()
                    result = {"Start": now_text, "End": now_text, "ExitCode": -1}
                    self._record(watch, {**result, "Output": str(e)})
                    continue
                self.probes.add(probe)
                selector.register(probe.exited, selectors.EVENT_READ, probe)
                selector.register(probe.stdout, selectors.EVENT_READ, probe)

    def _expire(self, selector: selectors.BaseSelector) -> None:
        now = time.monotonic()
        for probe in [p for p in self.probes if p.deadline <= now]:
            self._finish(selector, probe, probe.kill())

    def _finish(
        self, selector: selectors.BaseSelector, probe: _Probe, result: dict[str, Any]
    ) -> None:
        """A probe is over: release it and record its result."""
        selector.unregister(probe.exited)
        if not probe.eof:
            selector.unregister(probe.stdout)
        probe.close()
        self.probes.discard(probe)
        probe.watch.probe = None
        self._record(probe.watch, result)

    def _record(self, watch: _Watch, result: dict[str, Any]) -> None:
        """Record a result, schedule the next probe, act if it turned unhealthy (a result
        for a container that stopped or restarted meanwhile is dropped)."""
        change = health.record(self.store, watch.id, watch.started_at, result, watch.check)
        before, after = change or ("", "")
        since_start = int((time.time() - watch.started) * health.SECOND)
        watch.due = time.time() + watch.check.delay(since_start, after) / health.SECOND
        if after == "unhealthy" and before != "unhealthy" and watch.on_failure != "none":
            import threading

            threading.Thread(target=act, args=(self.paths, watch.id, watch.on_failure)).start()


def _drain(fifo: int) -> None:
    try:
        while os.read(fifo, 4096):
            pass
    except BlockingIOError:
        pass


def act(paths: Paths, container_id: str, action: str) -> None:
    """``--health-on-failure``: kill, stop, or restart (a stop, then a start counted as a
    restart) a container that became unhealthy."""
    from skiff.engine import restart
    from skiff.engine.engine import Engine

    engine = Engine(paths)
    try:
        if action == "kill":
            engine.kill(container_id, "KILL")
        else:
            engine.stop(container_id)
            if action == "restart":
                restart.restart_now(engine, container_id)
    except SkiffError:
        pass  # it stopped, or was removed, meanwhile
