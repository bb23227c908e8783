"""``create``: check the bundle, fork the container's init, and leave it waiting for ``start``.

Process tree: ``create`` forks a first child that moves itself into the container's cgroup,
joins the namespaces given by path and unshares the new ones (its id maps written by
``create``); a new pid namespace takes effect for children only, so it forks again: the
grandchild is the container's pid 1 (``init.run``). ``create`` is a child subreaper while
it works, so on failure it can reap
everything it started; on success the init passes to the caller's subreaper (conmon, a shim).
"""

from __future__ import annotations

import os
import time

from skiff.errors import EngineError, InvalidArgument
from skiff.linux import prctl, signals
from skiff.linux.namespaces import CLONE_NEWTIME
from skiff.linux.proc import process_start_time
from skiff.runtime import namespaces
from skiff.runtime.init import InitConfig, describe
from skiff.runtime.init import run as run_init
from skiff.runtime.spec import load_spec
from skiff.runtime.state import (
    ContainerDir,
    State,
    oci_state,
    rfc3339,
    seccomp_cache,
    write_pid_file,
)
from skiff.runtime.sync import Channel, channel_pair

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.runtime.spec import Spec


class CreateOptions:
    """The flags of ``create`` (and ``run``)."""

    def __init__(
        self,
        root: str,
        container_id: str,
        bundle: str,
        console_socket: str | None = None,
        pid_file: str | None = None,
        no_pivot: bool = False,
        no_new_keyring: bool = False,
        preserve_fds: int = 0,
        own_terminal: bool = False,
    ) -> None:
        self.root = root
        self.container_id = container_id
        self.bundle = bundle
        self.console_socket = console_socket
        self.pid_file = pid_file
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds
        # ``run`` in the foreground owns the terminal: the pty master comes back to it
        # through ``Created.console`` instead of going to a console socket.
        self.own_terminal = own_terminal


class Created:
    """A created container; with own_terminal, ``console`` is our end of the pair the pty
    master arrives on (else -1)."""

    def __init__(self, state: State, directory: ContainerDir, console: int = -1) -> None:
        self.state = state
        self.directory = directory
        self.console = console


def create(options: CreateOptions) -> Created:
    """Create the container; on any failure, leave nothing behind and raise."""
    container = ContainerDir(options.root, options.container_id)
    bundle = os.path.abspath(options.bundle)
    spec = load_spec(bundle)
    rootfs = _check(spec, bundle, options)
    container.make()
    cgroup = None
    pid = 0
    console_fd = ours = -1
    try:
        linux = spec.get("linux") or {}
        cgroup = _make_cgroup(spec, options.container_id)
        os.mkfifo(container.fifo, 0o622)
        os.chmod(container.fifo, 0o622)
        if options.console_socket:
            from skiff.runtime.console import connect_console_socket

            console_fd = connect_console_socket(options.console_socket)
        elif options.own_terminal and spec["process"].get("terminal"):
            import socket

            pair = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            ours, console_fd = pair[0].detach(), pair[1].detach()
        state = State(
            id=options.container_id,
            bundle=bundle,
            rootfs=rootfs,
            created=rfc3339(time.time()),
            cgroup_path=cgroup.path if cgroup else "",
            annotations=spec.get("annotations") or {},
            namespaces=[ns["type"] for ns in linux.get("namespaces") or [] if not ns.get("path")],
            hooks={
                k: v
                for k, v in (spec.get("hooks") or {}).items()
                if k in ("poststart", "poststop") and v
            },
            process=spec["process"],
            seccomp=linux.get("seccomp"),
        )
        hook_state = {**oci_state(state, "creating"), "pid": 0}
        prctl.set_child_subreaper()
        pid = _spawn(spec, state, container, cgroup, options, console_fd, hook_state)
        start_time = process_start_time(pid)
        if start_time is None:
            raise EngineError("container init exited during create")
        state.pid, state.start_time = pid, start_time
        container.save(state)
        if options.pid_file:
            write_pid_file(options.pid_file, pid)
        return Created(state, container, ours)
    except BaseException:
        if ours >= 0:
            os.close(ours)
        if pid:
            _kill_and_reap(pid)
        if cgroup is not None:
            cgroup.destroy()
        container.remove()
        raise
    finally:
        if console_fd >= 0:
            os.close(console_fd)


def _check(spec: Spec, bundle: str, options: CreateOptions) -> str:
    """Checks that need the bundle or options; returns the rootfs path."""
    process = spec.get("process")
    if not process:
        raise InvalidArgument("config.json: process: missing")
    root = spec["root"]["path"]
    rootfs = root if root.startswith("/") else os.path.join(bundle, root)
    if not os.path.isdir(rootfs):
        raise InvalidArgument(f"rootfs ({rootfs}) does not exist")
    linux = spec.get("linux") or {}
    plan = namespaces.NamespacePlan(linux)
    if not plan.has("mount"):
        raise InvalidArgument("config.json: linux.namespaces: a mount namespace is required")
    if spec.get("hostname") and not plan.has("uts"):
        raise InvalidArgument("config.json: hostname: setting it needs a uts namespace")
    if process.get("terminal") and not options.console_socket and not options.own_terminal:
        raise InvalidArgument(
            "cannot allocate tty if skiff-runtime will detach without setting console socket"
        )
    if not process.get("terminal") and options.console_socket:
        raise InvalidArgument(
            "cannot use console socket if skiff-runtime will not detach or allocate tty"
        )
    if linux.get("seccomp"):
        from skiff.runtime import seccomp

        seccomp.validate(linux["seccomp"])
    return os.path.realpath(rootfs)


def _make_cgroup(spec: Spec, container_id: str) -> Any:
    from skiff.cgroups import open_cgroup, resolve_path
    from skiff.runtime.devices import all_devices, cgroup_rules

    linux = spec.get("linux") or {}
    cgroup = open_cgroup(resolve_path(linux.get("cgroupsPath"), container_id))
    cgroup.create()
    try:
        resources = dict(linux.get("resources") or {})
        if "devices" in resources:
            resources["devices"] = cgroup_rules(
                resources["devices"] or [], all_devices(linux.get("devices") or [])
            )
        if linux.get("unified"):
            resources["unified"] = {**(resources.get("unified") or {}), **linux["unified"]}
        cgroup.set(resources)
    except BaseException:
        cgroup.destroy()
        raise
    return cgroup


def _spawn(
    spec: Spec,
    state: State,
    container: ContainerDir,
    cgroup: Any,
    options: CreateOptions,
    console_fd: int,
    hook_state: dict[str, Any],
) -> int:
    linux = spec.get("linux") or {}
    plan = namespaces.NamespacePlan(linux)
    seccomp = None
    if linux.get("seccomp"):
        from skiff.runtime.seccomp import compile_filter

        seccomp = compile_filter(linux["seccomp"], seccomp_cache(options.root))
    # Opened here: the init may run as a user that cannot reach the state directory.
    fifo_fd = os.open(container.fifo, os.O_PATH | os.O_CLOEXEC)
    parent, child = channel_pair()
    config = InitConfig(
        spec=spec,
        container_id=state.id,
        bundle=state.bundle,
        rootfs=state.rootfs,
        cgroup_path=state.cgroup_path,
        fifo_fd=fifo_fd,
        console_socket_fd=console_fd,
        no_pivot=options.no_pivot,
        no_new_keyring=options.no_new_keyring,
        preserve_fds=options.preserve_fds,
        in_user_ns=plan.has("user"),
        new_cgroup_ns="cgroup" in plan.new,
        has_uts_ns=plan.has("uts"),
        new_net_ns="network" in plan.new,
        hook_state=hook_state,
        seccomp=seccomp,
    )
    first = os.fork()
    if first == 0:
        parent.close()
        _first_child(plan, linux, cgroup, child, config)
    child.close()
    os.close(fifo_fd)
    init_pid = 0
    try:
        while True:
            word, argument = parent.receive()
            if word == "map":
                namespaces.write_id_maps(first, linux)
                parent.send("ok")
            elif word == "pid":
                init_pid = int(argument)
                os.waitpid(first, 0)
                first = 0
                parent.send("go", str(init_pid))
            elif word == "hooks":
                _run_create_hooks(spec, {**hook_state, "pid": init_pid})
                parent.send("ok")
            elif word == "seccomp":
                _forward_seccomp_fd(
                    init_pid, int(argument), linux["seccomp"], {**hook_state, "pid": init_pid}
                )
                parent.send("ok")
            elif word == "ready":
                return init_pid
            elif word == "error":
                raise EngineError(argument)
            else:
                raise EngineError("container init exited before it was ready")
    except BaseException:
        for pid in (init_pid, first):
            if pid:
                _kill_and_reap(pid)
        raise
    finally:
        parent.close()


def _first_child(
    plan: namespaces.NamespacePlan,
    linux: dict[str, Any],
    cgroup: Any,
    channel: Channel,
    config: InitConfig,
) -> None:
    try:
        # Before joining anything of the container: no /proc/PID/exe of ours for it to reach.
        prctl.set_dumpable(False)
        cgroup.join()
        plan.enter()
        if "user" in plan.new:
            channel.send("map")
            channel.expect("ok")
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        if plan.new_flags & CLONE_NEWTIME and linux.get("timeOffsets"):
            namespaces.write_time_offsets(linux["timeOffsets"])
        pid = os.fork()
        if pid == 0:
            run_init(config, channel)
        channel.send("pid", str(pid))
    except BaseException as e:
        channel.send("error", describe(e))
        os._exit(1)
    os._exit(0)


def _run_create_hooks(spec: Spec, state: dict[str, Any]) -> None:
    from skiff.runtime.hooks import run_hooks

    hooks = spec.get("hooks") or {}
    run_hooks(hooks.get("prestart") or [], state, "prestart")
    run_hooks(hooks.get("createRuntime") or [], state, "createRuntime")


def _forward_seccomp_fd(pid: int, fd: int, profile: dict[str, Any], state: dict[str, Any]) -> None:
    from skiff.linux.pidfd import getfd
    from skiff.runtime import seccomp

    pidfd = os.pidfd_open(pid)
    try:
        notify_fd = getfd(pidfd, fd)
    finally:
        os.close(pidfd)
    try:
        seccomp.send_notify_fd(
            profile["listenerPath"], notify_fd, pid, profile.get("listenerMetadata", ""), state
        )
    finally:
        os.close(notify_fd)


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signals.SIGKILL)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
