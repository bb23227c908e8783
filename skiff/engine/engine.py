"""The engine: containers from images and options, run by an OCI runtime under conmon.

``create`` records the container; ``start`` mounts its rootfs, writes its OCI bundle and
starts the monitor, which creates the container with the runtime; the engine then starts
it. When the container's process exits, conmon records the exit code and runs
``skiff container cleanup ID``, which applies ``--rm`` and restart policies.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time

from skiff.engine import monitor
from skiff.engine.containers import Container, ContainerStore, check_name, random_name
from skiff.engine.filesystem import ContainerFiles
from skiff.errors import Conflict, EngineError, InvalidArgument, NotFound
from skiff.images.service import ImageStore
from skiff.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.engine.options import ContainerOptions

RUNTIMES = {"skiff-runtime": "skiff-runtime", "runc": "runc", "crun": "crun"}
DEFAULT_RUNTIME = "skiff-runtime"


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def find_runtime(name: str) -> str:
    """The runtime binary for ``--runtime``: skiff-runtime (the default), runc or crun."""
    if name not in RUNTIMES:
        raise InvalidArgument(f"unknown or invalid runtime name: {name}")
    sibling = os.path.join(os.path.dirname(sys.executable), RUNTIMES[name])
    found = sibling if os.access(sibling, os.X_OK) else shutil.which(RUNTIMES[name])
    if not found:
        raise InvalidArgument(f"runtime {name} is not installed")
    return found


class Engine:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.images = ImageStore(paths)
        self.containers = ContainerStore(paths)
        self.runtime_root = os.path.join(paths.runroot, "runtime")

    # --- create / start ---------------------------------------------------------------

    def create(self, options: ContainerOptions) -> Container:
        options.validate()
        image = self.images.get(options.image)
        find_runtime(options.runtime or DEFAULT_RUNTIME)
        name = check_name(options.name) if options.name else self._free_name()
        container_id = secrets.token_hex(32)
        record = options.to_dict()
        container = self.containers.add(container_id, name, image.id, options.image, record)
        try:
            ContainerFiles(self.paths, container_id).make()
        except BaseException:
            self.containers.remove(container_id)
            raise
        return container

    def _free_name(self) -> str:
        for _ in range(100):
            name = random_name()
            try:
                self.containers.get(name)
            except NotFound:
                return name
        raise EngineError("could not generate a free container name")

    def start(self, ref: str) -> Container:
        container = self.containers.get(ref)
        with self.containers.lock(container.id):
            container = self.containers.get(container.id)
            if container.state.get("Running"):
                return container
            self._start_locked(container)
        return self.containers.get(container.id)

    def _start_locked(self, container: Container) -> None:
        from skiff.engine.options import ContainerOptions
        from skiff.engine.spec import build_spec

        options = ContainerOptions.from_dict(container.options)
        image = self.images.get(container.image_id)
        files = ContainerFiles(self.paths, container.id)
        files.make()
        files.mount(self.images.layer_dirs, image)
        paths = monitor.MonitorPaths(self.paths.runroot, files.dir, container.id)
        try:
            hostname = options.hostname or container.id[:12]
            files.write_etc(hostname, [])
            spec = build_spec(
                image.config, options, files.rootfs, container.id, self._etc_mounts(files)
            )
            with open(os.path.join(files.bundle, "config.json"), "w") as f:
                json.dump(spec, f)
            runtime = find_runtime(options.runtime or DEFAULT_RUNTIME)
            pid = monitor.start_monitor(
                container.id,
                container.name,
                runtime,
                self.runtime_root,
                files.bundle,
                paths,
                self._exit_command(container.id),
                terminal=options.tty,
                stdin=options.interactive,
            )
            self._runtime(container, "start")
        except BaseException as e:
            self._runtime(container, "delete", "--force", check=False)
            files.unmount()
            self.containers.set_state(container.id, Error=str(e), ExitCode=128)
            raise
        self.containers.set_state(
            container.id,
            Status="running",
            Running=True,
            Pid=pid,
            ExitCode=0,
            Error="",
            OOMKilled=False,
            StartedAt=_now(),
            FinishedAt="0001-01-01T00:00:00Z",
        )

    def _etc_mounts(self, files: ContainerFiles) -> list[dict[str, Any]]:
        return [
            {
                "destination": target,
                "type": "bind",
                "source": source,
                "options": ["rbind", "rprivate"],
            }
            for target, source in (
                ("/etc/hostname", files.hostname),
                ("/etc/hosts", files.hosts),
                ("/etc/resolv.conf", files.resolv_conf),
            )
        ]

    def _exit_command(self, container_id: str) -> list[str]:
        skiff = os.path.join(os.path.dirname(sys.executable), "skiff")
        return [
            skiff if os.access(skiff, os.X_OK) else shutil.which("skiff") or "skiff",
            "--root", self.paths.root,
            "--runroot", self.paths.runroot,
            "container", "cleanup", container_id,
        ]  # fmt: skip

    def _runtime(
        self, container: Container, *args: str, after: tuple[str, ...] = (), check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``RUNTIME --root ROOT ARGS ID AFTER`` with the container's runtime (``--runtime``)."""
        binary = find_runtime(container.options.get("runtime") or DEFAULT_RUNTIME)
        command = [binary, "--root", self.runtime_root, *args, container.id, *after]
        result = subprocess.run(command, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise EngineError(result.stderr.strip().removeprefix("skiff-runtime: "))
        return result

    # --- exit ---------------------------------------------------------------------------

    def cleanup(self, ref: str) -> None:
        """After the container's process exited (conmon's exit command): record the exit,
        release the runtime's state and the rootfs mount; --rm and restart policies."""
        try:
            container = self.containers.get(ref)
        except NotFound:
            return
        with self.containers.lock(container.id):
            container = self.containers.get(container.id)
            files = ContainerFiles(self.paths, container.id)
            paths = monitor.MonitorPaths(self.paths.runroot, files.dir, container.id)
            code = monitor.read_exit_code(paths)
            self._runtime(container, "delete", "--force", check=False)
            files.unmount()
            if container.state.get("Running"):
                self.containers.set_state(
                    container.id,
                    Status="exited",
                    Running=False,
                    Pid=0,
                    ExitCode=code if code is not None else 255,
                    FinishedAt=_now(),
                )
            if container.options.get("auto_remove"):
                self._remove_locked(container)

    def wait(self, ref: str, timeout: float | None = None) -> int:
        """Until the container is not running; its exit code."""
        container = self.containers.get(ref)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                container = self.containers.get(container.id)
            except NotFound:
                return int(container.state.get("ExitCode", 0))
            if not container.state.get("Running"):
                return int(container.state.get("ExitCode", 0))
            if deadline is not None and time.monotonic() > deadline:
                raise EngineError(f"timed out waiting for container {ref}")
            time.sleep(0.01)

    # --- stop / kill / remove -----------------------------------------------------------

    def kill(self, ref: str, signal: str = "KILL") -> None:
        container = self.containers.get(ref)
        if not container.state.get("Running"):
            raise Conflict(f"Cannot kill container: {ref}: Container {container.id} is not running")
        self._runtime(container, "kill", after=(signal,))

    def stop(self, ref: str, timeout: int | None = None) -> None:
        container = self.containers.get(ref)
        if not container.state.get("Running"):
            return
        signal = container.options.get("stop_signal") or "SIGTERM"
        grace = timeout if timeout is not None else container.options.get("stop_timeout") or 10
        self._runtime(container, "kill", after=(signal,), check=False)
        try:
            self.wait(container.id, timeout=grace)
            return
        except EngineError:
            pass
        self._runtime(container, "kill", "--all", after=("KILL",), check=False)
        self.wait(container.id, timeout=30)

    def remove(self, ref: str, force: bool = False) -> None:
        container = self.containers.get(ref)
        if container.state.get("Running"):
            if not force:
                raise Conflict(
                    f"You cannot remove a running container {container.id}. Stop the container "
                    "before attempting removal or force remove"
                )
            self._runtime(container, "kill", "--all", after=("KILL",), check=False)
            self.wait(container.id, timeout=30)
        with self.containers.lock(container.id):
            try:
                container = self.containers.get(container.id)
            except NotFound:
                return
            self._remove_locked(container)

    def _remove_locked(self, container: Container) -> None:
        self._runtime(container, "delete", "--force", check=False)
        ContainerFiles(self.paths, container.id).remove()
        paths = monitor.MonitorPaths(self.paths.runroot, "", container.id)
        for path in (paths.exit_file,):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        shutil.rmtree(os.path.dirname(paths.attach_socket), ignore_errors=True)
        self.containers.remove(container.id)
        self.containers.drop_lock(container.id)

    def list(self, all: bool = False) -> list[Container]:
        return [c for c in self.containers.all() if all or c.state.get("Running")]

    def log_path(self, ref: str) -> str:
        container = self.containers.get(ref)
        return os.path.join(ContainerFiles(self.paths, container.id).dir, "container.log")
