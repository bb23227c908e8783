"""The engine: containers from images and options, run by an OCI runtime under conmon.

``create`` records the container; ``start`` mounts its rootfs, writes its OCI bundle and
starts the monitor, which creates the container with the runtime; the engine then starts
it. When the container's process exits, conmon records the exit code and runs
``skiff container cleanup ID``, which applies ``--rm`` and restart policies.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager

from skiff import jsonio
from skiff.engine import events, foreground, health, monitor, restart
from skiff.engine.containers import Container, ContainerStore, check_name, random_name
from skiff.engine.filesystem import ContainerFiles
from skiff.errors import Conflict, EngineError, InvalidArgument, NotFound, SkiffError
from skiff.images.service import Image, ImageStore
from skiff.paths import Paths
from skiff.storage.volumes import VolumeStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from skiff.engine.options import ContainerOptions
    from skiff.engine.pods import Pods
    from skiff.network.endpoints import Endpoint, Endpoints
    from skiff.network.networks import NetworkStore

RUNTIMES = {"skiff-runtime": "skiff-runtime", "runc": "runc", "crun": "crun", "vm": "skiff-vm"}
#: The container ports skiff-vm's QEMU forwards into the guest (skiff.vm.create).
VM_PORTS_ANNOTATION = "io.skiff.vm.ports"
DEFAULT_RUNTIME = "skiff-runtime"


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def start_error_code(message: str) -> int:
    """The docker CLI's exit code for a container that could not start: 127 when its
    command was not found, 126 when it could not be invoked, else 125."""
    if any(
        text in message
        for text in ("executable file not found", "no such file or directory", "cannot find")
    ):
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


def _warm_up() -> None:
    """Import what starting, stopping and removing a container will need, while conmon and
    the runtime create it (about 20 ms in which this process would only wait): on another
    core, those imports then cost ``run`` nothing."""
    import _socket  # noqa: F401 (attach)
    import shutil  # noqa: F401 (the container's directory goes with rmtree)

    from skiff.cgroups import v1, v2  # noqa: F401 (the cgroup's deletion; each is small)
    from skiff.runtime import lifecycle  # noqa: F401


class RuntimeResult:
    """What a runtime command returned: its exit code and output."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def find_runtime(name: str) -> str:
    """The runtime binary for ``--runtime``: skiff-runtime (the default), runc, crun or vm
    (skiff-vm)."""
    if name not in RUNTIMES:
        raise InvalidArgument(f"unknown or invalid runtime name: {name}")
    sibling = os.path.join(os.path.dirname(sys.executable), RUNTIMES[name])
    if os.access(sibling, os.X_OK):
        return sibling
    import shutil

    found = shutil.which(RUNTIMES[name])
    if not found:
        raise InvalidArgument(f"runtime {name} is not installed")
    return found


class Engine:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.images = ImageStore(paths)
        self.containers = ContainerStore(paths)
        self.volumes = VolumeStore(paths, self.containers.db)
        self.runtime_root = os.path.join(paths.runroot, "runtime")
        self._images: dict[str, Image] = {}  # by ID: read once per command

    def close(self) -> None:
        """Close the state database's connections. A connection is in a reference cycle
        (sqlite3's statement cache refers to it), so one dropped unclosed keeps its fds
        until a full garbage collection: a long-lived process that makes engines (skiff
        serve, a thread per stream) closes them."""
        self.images.db.close()
        self.containers.db.close()  # the volume store's too

    def forget(self) -> None:
        """Drop what was read once for the last command (a long-lived engine, such as
        ``skiff serve``'s, calls it before each request)."""
        self._images.clear()

    @property
    def networks(self) -> NetworkStore:
        from skiff.network.networks import NetworkStore

        return NetworkStore(self.containers.db)

    @property
    def pods(self) -> Pods:
        from skiff.engine.pods import Pods

        return Pods(self)

    @property
    def endpoints(self) -> Endpoints:
        from skiff.network.endpoints import Endpoints

        return Endpoints(self.paths, self.networks)

    # --- create / start ---------------------------------------------------------------

    def _image(self, ref: str) -> Image:
        """An image (by reference or ID), read once per command: create, start and the
        events of a ``run`` all need the same one."""
        image = self._images.get(ref) or self.images.get(ref)
        self._images[image.id] = image
        return image

    def image_labels(self, image_id: str) -> dict[str, str]:
        """The labels of a container's image: its events carry them."""
        try:
            config = self._image(image_id).config.get("config") or {}
        except NotFound:
            return {}
        return dict(config.get("Labels") or {})

    def record_event(self, container: Container, action: str, **extra: str) -> None:
        """Record a container event (``events``), with Docker's attributes."""
        events.record_container(
            self.containers.db, container, self.image_labels(container.image_id), action, **extra
        )

    def runtime_notice(self, runtime: str) -> str:
        """What a user should read before ``--runtime`` runs: for vm, a one-line notice
        under TCG (KernelMissing or QemuMissing when it cannot run at all); else ''."""
        if runtime != "vm":
            return ""
        accel, why = self.vm_accelerator()
        return "" if accel == "kvm" else f"notice: the VM runs under TCG, not KVM: {why}"

    def vm_accelerator(self) -> tuple[str, str]:
        """("kvm" or "tcg", why) for ``--runtime vm``: KVM only if a probe guest boots."""
        from skiff.vm.preflight import accelerator

        return accelerator()

    def create(self, options: ContainerOptions) -> Container:
        from skiff.engine import networking, volumes
        from skiff.engine.spec import command_line

        options.validate()
        image = self._image(options.image)
        # Docker fixes the command at create ("No command specified" is a create error) and
        # keeps it as Path and Args: ps and inspect show it without reading the image.
        command = command_line(image.config.get("config") or {}, options)
        find_runtime(options.runtime or DEFAULT_RUNTIME)
        name = check_name(options.name) if options.name else self._free_name()
        container_id = os.urandom(32).hex()  # secrets.token_hex, without its imports
        mounts = volumes.resolve(options, image.config, self.volumes, self.containers)
        record = options.to_dict()
        container = self.containers.add(container_id, name, image.id, options.image, record)
        files = ContainerFiles(self.paths, container_id)
        created: list[str] = []
        try:
            container.state = self.containers.set_state(
                container_id, Path=command[0], Args=command[1:]
            )
            networking.connect_at_create(self, container, options)
            files.make()
            created = self.volumes.attach(container_id, mounts)
            if volumes.wants_copy(mounts):
                files.mount(self.images.layer_dirs, image)
                try:
                    volumes.copy_image_content(self.volumes, container_id, mounts, files.rootfs)
                finally:
                    files.unmount()
        except BaseException:
            files.remove()
            self.containers.remove(container_id)
            for volume in created:
                self.volumes.remove(volume, force=True)
            raise
        self.record_event(container, "create")
        return container

    def _free_name(self) -> str:
        for _ in range(100):
            name = random_name()
            try:
                self.containers.get(name)
            except NotFound:
                return name
        raise EngineError("could not generate a free container name")

    def start(self, ref: str, before_start: Callable[[str], None] | None = None) -> Container:
        """Start the container. ``before_start(bundle)`` runs once its monitor holds its
        stdio and before its process runs: an attach connects there to see every byte."""
        container = self.containers.get(ref)
        with self.containers.lock(container.id):
            container = self.containers.get(container.id)
            if container.state.get("Running"):
                return container
            restart.started_by_user(self.containers, container.id)
            self.start_locked(container, before_start)
        return self.containers.get(container.id)

    def start_locked(
        self, container: Container, before_start: Callable[[str], None] | None = None
    ) -> None:
        """Start a container whose lock the caller holds (``start``, restarts, boot):
        mount its rootfs, write its bundle, start its monitor, then the process;
        ``before_start(bundle)`` runs in between (an attach sees the first byte)."""
        from skiff.engine import logs, networking, volumes
        from skiff.engine.filesystem import host_resolv_conf
        from skiff.engine.options import ContainerOptions
        from skiff.engine.spec import build_spec

        options = ContainerOptions.from_dict(container.options)
        image = self._image(container.image_id)
        if os.path.exists(os.path.join(self.runtime_root, container.id)):
            self.discard_abandoned_start(container)
        files = ContainerFiles(self.paths, container.id)
        files.make()
        files.mount(self.images.layer_dirs, image)
        paths = self.monitor_paths(container)
        connected = False
        try:
            hostname = options.hostname or container.id[:12]
            namespace_paths = self._namespace_paths(options)
            endpoints: list[Endpoint] = []
            if networking.connected_mode(options.network or "bridge"):
                connected = True
                ports = networking.resolve_ports(self, container, options, image.config)
                sandbox, endpoints = self.endpoints.join(
                    container.id, networking.dns_names(container), ports
                )
                namespace_paths["network"] = sandbox
                self.containers.set_state(
                    container.id,
                    Ports=networking.port_map(options, image.config, ports),
                    **networking.settings(self.networks, container, endpoints, sandbox),
                )
            files.write_etc(
                hostname,
                networking.hosts_lines(options, hostname, endpoints),
                networking.resolv_conf(options, endpoints, host_resolv_conf()),
            )
            mounts = self.volumes.mounts(container.id)
            user = volumes.oci_mounts(self.volumes, container.id, mounts)
            taken = {mount["destination"] for mount in user}  # -v over /etc/hosts wins
            etc = [mount for mount in self._etc_mounts(files) if mount["destination"] not in taken]
            spec = build_spec(
                image.config,
                options,
                files.rootfs,
                container.id,
                etc + user,
                namespace_paths=namespace_paths,
            )
            propagation = volumes.rootfs_propagation(mounts)
            if propagation:
                spec["linux"]["rootfsPropagation"] = propagation
            if options.runtime == "vm":
                exposed = " ".join(networking.exposed_ports(options, image.config))
                spec.setdefault("annotations", {})[VM_PORTS_ANNOTATION] = exposed
            with open(os.path.join(files.bundle, "config.json"), "w") as f:
                f.write(jsonio.dumps(spec))
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
                # a terminal stays open for the next attach after a detach
                stdin_once="stdin" in options.attach and not options.tty,
                log_size_max=logs.size_limit(container.options),
                keep_log=logs.enabled(container.options),
                while_waiting=_warm_up,
            )
            if before_start is not None:
                before_start(files.bundle)
            self.runtime(container, "start")
        except BaseException as e:
            self.runtime(container, "delete", "--force", check=False)
            if connected:
                self.leave_networks(container)
            files.unmount()
            self.volumes.release(container.id)
            self.containers.set_state(container.id, Error=str(e), ExitCode=start_error_code(str(e)))
            raise
        self.containers.set_state(
            container.id,
            Status="running",
            Running=True,
            Restarting=False,
            Pid=pid,
            ExitCode=0,
            Error="",
            OOMKilled=False,
            StartedAt=_now(),  # FinishedAt keeps the last exit's time, as Docker's does
        )
        self.record_event(container, "start")
        health.watch(self.paths, self.containers, container.id, image.config, container.options)

    def discard_abandoned_start(self, container: Container) -> None:
        """What a start left when its command was killed before it recorded the container
        running (the caller holds the container's lock and the state says it is not
        running): the runtime's container, created or even started, and its monitor. The
        monitor goes first, so that it runs no exit command (a ``container cleanup`` that
        would take the next start for this one's end) and writes no exit code."""
        monitor.kill_monitor(self.monitor_paths(container))
        self.runtime(container, "delete", "--force", check=False)

    def leave_networks(self, container: Container) -> dict[str, Any]:
        """Remove the endpoints of a container whose process is gone; the state's network
        settings of a stopped container (nothing for one that was not connected)."""
        from skiff.engine import networking

        if not networking.connected_mode(container.options.get("network") or "bridge"):
            return {}
        try:
            self.endpoints.leave(container.id, shared=self._network_shared(container))
        except SkiffError as e:
            print(f"skiff: container {container.id[:12]}: {e}", file=sys.stderr)
        return networking.stopped_settings(self.networks, container.id)

    def _network_shared(self, container: Container) -> bool:
        """Whether a running container joined this one's network namespace
        (``--network container:X``), which then outlives this container's process."""
        for other in self.containers.network_joiners():
            if not other.state.get("Running"):
                continue
            try:
                joined = self.containers.get(other.options["network"].removeprefix("container:"))
            except NotFound:
                continue
            if joined.id == container.id:
                return True
        return False

    def _namespace_paths(self, options: ContainerOptions) -> dict[str, str]:
        """``--network/--ipc/--pid container:X``: the namespaces of running container X;
        ``ns:PATH`` (also ``--uts``): the namespace file PATH (a pod's)."""
        paths = {}
        for kind, mode in (("network", options.network), ("ipc", options.ipc),
                           ("pid", options.pid), ("uts", options.uts)):  # fmt: skip
            if mode.startswith("ns:"):
                if not os.path.exists(path := mode.removeprefix("ns:")):
                    raise NotFound(f"{kind} namespace {path} does not exist")
                paths[kind] = path
                continue
            if not mode.startswith("container:"):
                continue
            word = {"network": "network", "ipc": "IPC", "pid": "PID"}[kind]
            other = self.containers.get(mode.removeprefix("container:"))
            if not other.state.get("Running"):
                raise Conflict(f"cannot join {word} of a non running container: {other.id}")
            proc_name = {"network": "net", "ipc": "ipc", "pid": "pid"}[kind]
            paths[kind] = f"/proc/{other.state['Pid']}/ns/{proc_name}"
        return paths

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
        if not os.access(skiff, os.X_OK):
            import shutil

            skiff = shutil.which("skiff") or "skiff"
        return [
            skiff,
            "--root", self.paths.root,
            "--runroot", self.paths.runroot,
            "container", "cleanup", container_id,
        ]  # fmt: skip

    def runtime(
        self, container: Container, *args: str, after: tuple[str, ...] = (), check: bool = True
    ) -> RuntimeResult:
        """``RUNTIME --root ROOT ARGS ID AFTER`` with the container's runtime (``--runtime``).

        skiff-runtime's ``start`` and ``delete`` run in this process: the same handlers
        the command runs, without two process start-ups on every ``run``."""
        name = container.options.get("runtime") or DEFAULT_RUNTIME
        if name == DEFAULT_RUNTIME and args[:1] in (("start",), ("delete",)) and not after:
            return self._skiff_runtime_in_process(container, args, check)
        binary = find_runtime(name)
        command = [binary, "--root", self.runtime_root, *args, container.id, *after]
        import subprocess

        ran = subprocess.run(command, capture_output=True, text=True)
        result = RuntimeResult(ran.returncode, ran.stdout, ran.stderr)
        if check and result.returncode != 0:
            raise EngineError(monitor.without_runtime_name(result.stderr.strip()))
        return result

    def _skiff_runtime_in_process(
        self, container: Container, args: tuple[str, ...], check: bool
    ) -> RuntimeResult:
        from skiff.runtime import lifecycle
        from skiff.runtime.state import ContainerDir

        state = ContainerDir(self.runtime_root, container.id)
        code, message = 0, ""
        try:
            state.lock()
            try:
                if args[0] == "start":
                    lifecycle.start(state)
                else:
                    lifecycle.delete(state, force="--force" in args)
            finally:
                state.unlock()
        except SkiffError as e:
            if not (args[0] == "delete" and isinstance(e, NotFound) and "--force" in args):
                code, message = 1, str(e)
        except OSError as e:
            code, message = 1, str(e)
        if check and code:
            raise EngineError(message)
        return RuntimeResult(code, "", message)

    # --- exit ---------------------------------------------------------------------------

    def cleanup(self, ref: str, from_monitor: bool = False) -> int | None:
        """After the container's process exited (conmon's exit command, or the command
        that ran it in the foreground): record the exit, release the runtime's state and
        the rootfs mount; --rm and restart policies. The exit code, None if the container
        is gone (another command cleaned up first).

        While a command runs the container in the foreground (:meth:`attached`), the
        monitor's cleanup waits until that command is done (it cleans up itself, and must
        still read the exit code when it sees the exit): the two never contend for the
        container's lock, and a foreground command that crashed leaves the work to it."""
        try:
            container = self.containers.get(ref)
        except NotFound:
            return None
        if from_monitor:
            foreground.wait_until_released(self.paths.runroot, container.id)
        with self.containers.lock(container.id):
            try:
                container = self.containers.get(container.id)
            except NotFound:
                return None
            files = ContainerFiles(self.paths, container.id)
            paths = self.monitor_paths(container)
            code = monitor.read_exit_code(paths)
            if container.state.get("Running") and not container.state.get("Restarting"):
                oom_killed = self._oom_killed(container)
                self.runtime(container, "delete", "--force", check=False)
                files.unmount()
                self.volumes.release(container.id)
                network_state = self.leave_networks(container)
                exited = dict(
                    Status="exited",
                    Running=False,
                    Paused=False,
                    Pid=0,
                    ExitCode=code if code is not None else 255,
                    OOMKilled=oom_killed,
                    FinishedAt=_now(),
                    **health.stopped(container.state),
                    **network_state,
                )
                if oom_killed:
                    self.record_event(container, "oom")
                restart.after_exit(container, exited)  # may make it Restarting instead
                container.state = self.containers.set_state(container.id, **exited)
                self.record_event(container, "die", exitCode=str(exited["ExitCode"]))
            if container.options.get("auto_remove"):
                self.remove_locked(container, volumes=True)
            return int(container.state.get("ExitCode", 0))

    @contextmanager
    def attached(self, ref: str) -> Iterator[None]:
        """Held by a command that runs a container in the foreground (skiff.engine.foreground:
        a shared flock, so a crash of the command releases it)."""
        with foreground.held(self.paths.runroot, self.containers.get(ref).id):
            yield

    def _oom_killed(self, container: Container) -> bool:
        """Whether the kernel's OOM killer killed a process of the container (its cgroup
        still exists until the runtime deletes the container)."""
        from skiff.cgroups.manager import open_cgroup

        try:
            with open(
                os.path.join(ContainerFiles(self.paths, container.id).bundle, "config.json")
            ) as f:
                path = jsonio.loads(f.read())["linux"]["cgroupsPath"]
            return open_cgroup(path).oom_kills() > 0
        except (OSError, KeyError, ValueError, SkiffError):
            return False

    def after_failed_start(self, ref: str) -> None:
        """A container whose start failed: gone if it was to be removed (``--rm``)."""
        try:
            container = self.containers.get(ref)
        except NotFound:
            return
        if container.options.get("auto_remove"):
            self.remove(container.id, force=True, volumes=True)

    def wait(self, ref: str, timeout: float | None = None) -> int:
        """Until the container's process next exits (or now, if it is not running): its exit
        code. As Docker's wait, an exit counts even when the restart policy restarts the
        container (each exit records a new FinishedAt)."""
        container = self.containers.get(ref)
        finished = container.state.get("FinishedAt")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                container = self.containers.get(container.id)
            except NotFound:  # removed (--rm) since the last look: its last exit's code
                code = events.last_exit_code(self.containers.db, container.id)
                return int(container.state.get("ExitCode", 0)) if code is None else code
            state = container.state
            if not state.get("Running") or state.get("FinishedAt") != finished:
                return int(state.get("ExitCode", 0))
            if deadline is not None and time.monotonic() > deadline:
                raise EngineError(f"timed out waiting for container {ref}")
            time.sleep(0.01)

    # --- stop / kill / remove -----------------------------------------------------------

    def kill(self, ref: str, signal: str = "KILL") -> None:
        container = self.containers.get(ref)
        if not container.state.get("Running"):
            raise Conflict(f"Cannot kill container: {ref}: Container {container.id} is not running")
        cancel = restart.cancels_restart(signal, container.options.get("stop_signal") or "")
        if not restart.stopped_by_user(self.containers, container.id, cancel):
            return  # in its restart back-off: no process to signal
        self.runtime(container, "kill", after=(signal,))
        self.record_event(container, "kill", signal=events.signal_number(signal))

    def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        """The stop signal (``--stop-signal``, SIGTERM), then SIGKILL after the grace
        period (``--stop-timeout``, 10 s; -1 waits for ever)."""
        container = self.containers.get(ref)
        if not container.state.get("Running"):
            return
        if not restart.stopped_by_user(self.containers, container.id, cancel=True):
            return  # it was in its restart back-off: now exited
        if container.state.get("Paused"):
            self.unpause(container.id)
        signal = signal or container.options.get("stop_signal") or "SIGTERM"
        grace = timeout if timeout is not None else container.options.get("stop_timeout") or 10
        self.runtime(container, "kill", after=(signal,), check=False)
        self.record_event(container, "kill", signal=events.signal_number(signal))
        try:
            self.wait(container.id, timeout=None if grace < 0 else grace)
        except EngineError:
            self.runtime(container, "kill", "--all", after=("KILL",), check=False)
            self.record_event(container, "kill", signal="9")
            self.wait(container.id, timeout=30)
        self.record_event(container, "stop")

    def restart(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        container = self.containers.get(ref)
        self.stop(container.id, timeout, signal)
        self.wait(container.id, timeout=30)
        self.cleanup(container.id)
        self.start(container.id)
        self.record_event(container, "restart")

    def pause(self, ref: str) -> None:
        container = self._running(ref)
        if container.state.get("Paused"):
            raise Conflict(f"Container {container.id} is already paused")
        self.runtime(container, "pause")
        self.containers.set_state(container.id, Paused=True, Status="paused")
        self.record_event(container, "pause")

    def unpause(self, ref: str) -> None:
        container = self.containers.get(ref)
        if not container.state.get("Paused"):
            raise Conflict(f"Container {container.id} is not paused")
        self.runtime(container, "resume")
        self.containers.set_state(container.id, Paused=False, Status="running")
        self.record_event(container, "unpause")

    def _running(self, ref: str) -> Container:
        container = self.containers.get(ref)
        if not container.state.get("Running"):
            raise Conflict(f"Container {container.id} is not running")
        return container

    def rename(self, ref: str, new_name: str) -> None:
        container = self.containers.get(ref)
        name = check_name(new_name)
        if name == container.name:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        self.containers.rename(container.id, name)
        from skiff.engine import networking
        from skiff.engine.options import ContainerOptions

        network = ContainerOptions.from_dict(container.options).network or "bridge"
        if networking.connected_mode(network):
            networking.rename(self, container, name)
        attributes = events.container_attributes(
            container,
            self.image_labels(container.image_id),
            name=name,
            oldName="/" + container.name,
        )
        events.record(self.containers.db, "container", "rename", container.id, attributes)

    def update(self, ref: str, changes: dict[str, Any]) -> None:
        """``update``: new resource limits (and restart policy), applied at once to a
        running container by the runtime and kept for its next start."""
        from skiff.engine.options import ContainerOptions
        from skiff.engine.spec import resources

        container = self.containers.get(ref)
        with self.containers.lock(container.id):
            container = self.containers.get(container.id)
            options = ContainerOptions.from_dict(container.options)
            for key, value in changes.items():
                setattr(options, key, value)
            options.validate()
            if container.state.get("Running"):
                path = os.path.join(ContainerFiles(self.paths, container.id).dir, "resources.json")
                with open(path, "w") as f:
                    f.write(jsonio.dumps(resources(options)))
                try:
                    self.runtime(container, "update", "--resources", path)
                finally:
                    os.unlink(path)
            self.containers.set_options(container.id, options.to_dict())

    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        container = self.containers.get(ref)
        if container.state.get("Running"):
            if not force:
                from skiff.engine.inspect import state_name

                state = state_name(container.state)  # running, paused or restarting
                procedure = "Stop the container before attempting removal or force remove"
                if state == "paused":
                    procedure = "Unpause and then " + procedure.lower()
                raise Conflict(f"You cannot remove a {state} container {container.id}. {procedure}")
            if restart.stopped_by_user(self.containers, container.id, cancel=True):
                self.runtime(container, "kill", "--all", after=("KILL",), check=False)
                self.wait(container.id, timeout=30)
        with self.containers.lock(container.id):
            try:
                container = self.containers.get(container.id)
            except NotFound:
                return
            self.remove_locked(container, volumes)

    def remove_locked(self, container: Container, volumes: bool = False) -> None:
        """Remove the container; with ``volumes`` (``rm -v``, ``--rm``) its anonymous
        volumes too."""
        from skiff.engine.volumes import remove_anonymous

        mounts = self.volumes.mounts(container.id)
        self.volumes.release(container.id)
        if os.path.exists(os.path.join(self.runtime_root, container.id)):
            self.discard_abandoned_start(container)
        self.leave_networks(container)
        ContainerFiles(self.paths, container.id).remove()
        paths = monitor.MonitorPaths(self.paths.runroot, "", container.id)
        for path in (paths.exit_file,):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        self.containers.remove(container.id)
        self.containers.drop_lock(container.id)
        self.record_event(container, "destroy")
        if volumes:
            remove_anonymous(self.volumes, mounts)

    def list(self, all: bool = False) -> list[Container]:
        return [c for c in self.containers.all() if all or c.state.get("Running")]

    def log_path(self, ref: str) -> str:
        return self.monitor_paths(self.containers.get(ref)).log

    def monitor_paths(self, container: Container) -> monitor.MonitorPaths:
        """Where the container's monitor keeps its files, and its log."""
        from skiff.engine import logs

        files = ContainerFiles(self.paths, container.id)
        return monitor.MonitorPaths(
            self.paths.runroot, files.dir, container.id, logs.file_path(container.options)
        )

    def reopen_log(self, ref: str) -> None:
        """Have the monitor of a running container reopen its log file (the kubelet
        renamed it to rotate it: ReopenContainerLog)."""
        from skiff.engine import attach

        container = self._running(ref)
        attach.reopen_log(ContainerFiles(self.paths, container.id).bundle)
