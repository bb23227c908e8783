"""The container's init: runs in the forked process that becomes the container.

It finishes the isolation the parent began (mounts, pivot_root, devices, console, names,
sysctls, limits, seccomp, capabilities, user), tells ``create`` it is ready, then waits on
the exec fifo until ``start`` opens it, and finally execs the user's process.
"""

from __future__ import annotations

import errno
import os

from skiff.linux import signals

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from skiff.runtime.seccomp import CompiledFilter
    from skiff.runtime.sync import Channel


class InitConfig:
    """Everything the init needs, handed over by fork (nothing is serialized)."""

    def __init__(
        self,
        spec: dict[str, Any],
        container_id: str,
        bundle: str,
        rootfs: str,
        cgroup_path: str,
        fifo_fd: int,
        console_socket_fd: int,
        no_pivot: bool,
        no_new_keyring: bool,
        preserve_fds: int,
        in_user_ns: bool,
        new_cgroup_ns: bool,
        has_uts_ns: bool,
        new_net_ns: bool,
        hook_state: dict[str, Any],
        seccomp: CompiledFilter | None,
    ) -> None:
        self.spec = spec
        self.container_id = container_id
        self.bundle = bundle
        self.rootfs = rootfs
        self.cgroup_path = cgroup_path
        self.fifo_fd = fifo_fd  # O_PATH: reopened for writing once the init is ready
        self.console_socket_fd = console_socket_fd  # -1 when there is no terminal
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds
        self.in_user_ns = in_user_ns
        self.new_cgroup_ns = new_cgroup_ns
        self.has_uts_ns = has_uts_ns
        self.new_net_ns = new_net_ns
        self.hook_state = hook_state
        self.seccomp = seccomp  # built by create: libseccomp is out of reach after pivot_root


def describe(exc: BaseException) -> str:
    """One line for an exception, without Python's ``[Errno N]`` decoration."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


class _Ready:
    """What the init needs once ``start`` opens the fifo."""

    def __init__(
        self, path: str, args: list[str], env: dict[str, str], umask: int, fifo_fd: int
    ) -> None:
        self.path = path
        self.args = args
        self.env = env
        self.umask = umask
        self.fifo_fd = fifo_fd


def run(config: InitConfig, channel: Channel) -> NoReturn:
    """Set the container up and exec its process; never returns."""
    try:
        ready = _setup(config, channel)
        channel.send("ready")
    except BaseException as e:  # everything must reach the parent as one line
        channel.send("error", describe(e))
        os._exit(1)
    channel.close()
    try:
        # Blocks until ``start`` opens the other end.
        fifo = os.open(f"/proc/self/fd/{ready.fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
        os.write(fifo, b"0")
        os.close(fifo)
        os.close(ready.fifo_fd)
        hooks = (config.spec.get("hooks") or {}).get("startContainer")
        if hooks:
            from skiff.runtime.hooks import run_hooks

            run_hooks(hooks, {**config.hook_state, "status": "created"}, "startContainer")
        from skiff.runtime import process as proc  # loaded by _setup, before pivot_root

        os.umask(ready.umask)
        signals.restore_defaults()
        proc.execute(ready.path, ready.args, ready.env)
    except BaseException as e:
        os.write(2, f"skiff-runtime: {describe(e)}\n".encode())
        os._exit(127 if isinstance(e, FileNotFoundError) else 126)


def _setup(config: InitConfig, channel: Channel) -> _Ready:
    spec = config.spec
    process = spec["process"]
    linux = spec.get("linux") or {}
    config.hook_state["pid"] = int(channel.expect("go"))
    # Imported here, in the init: ``create`` itself never needs them.
    from skiff.linux import system
    from skiff.runtime import process as proc
    from skiff.runtime import rootfs

    # Nothing can be imported after pivot_root: what is needed later is imported now.
    hooks = spec.get("hooks") or {}
    if config.console_socket_fd >= 0:
        from skiff.runtime.console import setup_console
    if hooks.get("createContainer") or hooks.get("startContainer"):
        from skiff.runtime.hooks import run_hooks

    os.umask(0)
    if config.new_net_ns:
        system.loopback_up()
    if not config.no_new_keyring:
        try:
            system.join_session_keyring(None)
        except OSError as e:
            if e.errno != errno.ENOSYS:
                raise
    fifo_fd = config.fifo_fd

    def before_pivot() -> None:
        if hooks.get("prestart") or hooks.get("createRuntime"):
            channel.send("hooks")
            channel.expect("ok")
        if hooks.get("createContainer"):
            run_hooks(hooks["createContainer"], config.hook_state, "createContainer")

    ctx = rootfs.RootfsContext(
        spec,
        config.rootfs,
        config.bundle,
        config.cgroup_path,
        config.in_user_ns,
        config.new_cgroup_ns,
    )
    rootfs.prepare(ctx, before_pivot, config.no_pivot)
    if config.console_socket_fd >= 0:
        setup_console(config.console_socket_fd, process.get("consoleSize"))
        os.close(config.console_socket_fd)
    if spec.get("hostname") and config.has_uts_ns:
        system.sethostname(spec["hostname"])
    if spec.get("domainname") and config.has_uts_ns:
        system.setdomainname(spec["domainname"])
    # Before the read-only paths: /proc/sys usually is one (Docker sets sysctls and makes
    # /proc/sys read-only in the same config).
    for key, value in (linux.get("sysctl") or {}).items():
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(value)
    rootfs.finish(ctx)
    if process.get("oomScoreAdj") is not None:
        proc.set_oom_score_adj(process["oomScoreAdj"])
    personality = linux.get("personality")
    if personality:
        system.personality(
            system.PER_LINUX32 if personality["domain"] == "LINUX32" else system.PER_LINUX
        )
    path, args, env = proc.become(process, config.seccomp, channel, {fifo_fd}, config.preserve_fds)
    umask = (process.get("user") or {}).get("umask")
    return _Ready(path, args, env, 0o022 if umask is None else umask, fifo_fd)
