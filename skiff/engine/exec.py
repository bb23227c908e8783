"""``exec``: a new process in a running container, run by the container's OCI runtime.

The process is Docker's: the container's own OCI process (capabilities, rlimits,
no_new_privileges, user, working directory) with the exec's arguments, environment
(``PATH``, ``HOSTNAME``, ``TERM=xterm`` with a terminal, the container's variables,
then ``-e``/``--env-file``; ``HOME`` of the user when none is set), ``-u`` resolved
against the container's /etc/passwd and /etc/group, ``-w``, and every capability with
``--privileged``.

It runs as ``RUNTIME exec --detach --pid-file F --process P ID``: the runtime exits once
the process has started, so its exit status tells a start failure (its error is in its
``--log``, in JSON) from the process's own. This command is a child subreaper, so the
process becomes its child when the runtime exits and its exit status is ours to wait for
(through a pidfd). The runtime runs in a session of its own: the process, like Docker's,
gets no signal from our terminal. Without a terminal the process's stdin and stdout are
ours; its stderr comes through a pipe, held back until the runtime has exited (before
that it is the runtime's error). With a terminal the runtime sends the pty master over a
``--console-socket`` and this command proxies it (raw mode, window size, detach keys).
A process whose pty master nobody holds gets SIGHUP, so after a detach (``-d -t``, or the
detach keys) a small process of ours keeps the master and drains it, as Docker's daemon
would, until the process is gone.
"""

from __future__ import annotations

import os

from skiff import jsonio
from skiff.engine.attach import DEFAULT_DETACH_KEYS, PtyEndpoint, pump, terminal_size, write_all
from skiff.engine.filesystem import ContainerFiles
from skiff.errors import Conflict, SkiffError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.engine.containers import Container
    from skiff.engine.engine import Engine


class ExecFailed(SkiffError):
    """The process could not be started: Docker's message, 127 when its command was not
    found, 126 otherwise (the CLI prints it as is, or as ``Error: ...`` with ``-d``)."""

    exit_code = 126

    def __init__(self, message: str, exit_code: int = 126) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ExecTimedOut(ExecFailed):
    """``timeout`` seconds passed and the process was killed (as ``timeout(1)``: 124)."""

    CODE = 124
    ENDING = "the process was killed"  # the message's end, which ExecSync looks for

    def __init__(self, seconds: float) -> None:
        super().__init__(f"exec timed out after {seconds:g} seconds: {self.ENDING}", self.CODE)


class ExecConfig:
    """What ``docker exec`` was asked (``env``: the ``--env-file`` lines, then ``-e``,
    parsed; ``detach_keys``: parsed, see ``attach.parse_detach_keys``). ``timeout``
    (seconds, 0 for none; skiff's, for the CRI's ExecSync) kills a process without a
    terminal that runs longer."""

    def __init__(
        self,
        command: list[str],
        env: list[str] | None = None,
        user: str = "",
        workdir: str = "",
        tty: bool = False,
        interactive: bool = False,
        detach: bool = False,
        privileged: bool = False,
        detach_keys: bytes = DEFAULT_DETACH_KEYS,
        timeout: float = 0,
    ) -> None:
        self.timeout = timeout
        self.command = command
        self.env = env or []
        self.user = user
        self.workdir = workdir
        self.tty = tty
        self.interactive = interactive
        self.detach = detach
        self.privileged = privileged
        self.detach_keys = detach_keys


def running_container(engine: Engine, ref: str) -> Container:
    """The container to exec in; Docker's errors when it is not running, paused or
    restarting."""
    container = engine.containers.get(ref)
    state = container.state
    if not state.get("Running"):
        raise Conflict(f"Container {container.id} is not running")
    if state.get("Paused"):
        raise Conflict(f"Container {ref} is paused, unpause the container before exec")
    if state.get("Restarting"):
        raise Conflict(
            f"Container {container.id} is restarting, wait until the container is running"
        )
    return container


def process_spec(
    engine: Engine,
    container: Container,
    config: ExecConfig,
    console_size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The OCI process of the exec (moby's ``ContainerExecCreate`` and ``Start``)."""
    from skiff.engine.environment import DEFAULT_PATH, merge_env, replace_or_append_env

    files = ContainerFiles(engine.paths, container.id)
    with open(os.path.join(files.bundle, "config.json")) as f:
        process: dict[str, Any] = jsonio.loads(f.read())["process"]
    base_env = process.get("env") or []
    hostname = next((e[9:] for e in base_env if e.startswith("HOSTNAME=")), "")
    home = next((e[5:] for e in base_env if e.startswith("HOME=")), "/")
    if config.user:
        from skiff.engine.userinfo import resolve_user_in_rootfs

        user = resolve_user_in_rootfs(
            files.rootfs, config.user, container.options.get("group_add") or []
        )
        process["user"] = user.oci()
        home = user.home
    image_env = (engine.images.get(container.image_id).config.get("config") or {}).get("Env")
    defaults = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    if config.tty:
        defaults.append("TERM=xterm")
    env = replace_or_append_env(
        defaults, merge_env(container.options.get("env") or [], image_env or [])
    )
    env = replace_or_append_env(env, config.env)
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={home}")
    process["args"] = list(config.command)
    process["env"] = env
    process["cwd"] = config.workdir or process.get("cwd") or "/"
    process["terminal"] = config.tty
    process.pop("consoleSize", None)
    if config.tty and console_size:
        process["consoleSize"] = {"height": console_size[0], "width": console_size[1]}
    if config.privileged:
        from skiff.engine.options import host_capabilities

        every = host_capabilities()
        process["capabilities"] = {"bounding": every, "effective": every, "permitted": every}
    for label in ("apparmorProfile", "selinuxLabel"):
        process.pop(label, None)
    return process


def docker_message(error: str, process: dict[str, Any]) -> str:
    """The runtime's error in Docker's words (runc's, which skiff-runtime's become):
    ``OCI runtime exec failed: exec failed: unable to start container process: ...``."""
    command = process["args"][0] if process.get("args") else ""
    cwd = process.get("cwd", "")
    reason, _, path = error.partition(": ")
    if error.startswith("exec failed:"):
        detail = error
    else:
        if error.startswith('exec: "') and error.endswith('": no such file or directory'):
            error = f'exec: "{command}": stat {command}: no such file or directory'
        elif path and path == cwd and reason in ("No such file or directory", "Not a directory"):
            error = f'chdir to cwd ("{cwd}") set in config.json failed: {reason.lower()}'
        elif path and reason in ("Permission denied", "Is a directory"):
            error = f'exec: "{command}": {reason.lower()}'
        detail = f"exec failed: unable to start container process: {error}"
    return f"OCI runtime exec failed: {detail}: unknown"


def _exit_code(message: str) -> int:
    lowered = message.lower()
    if "executable file not found" in lowered or "no such file or directory" in lowered:
        return 127
    return 126


def exec_in_container(engine: Engine, ref: str, config: ExecConfig) -> int | None:
    """Run the exec with this process's stdio; the process's exit code (0 at once with
    ``detach``), or None when the user detached (``-it`` and the detach keys)."""
    from skiff.engine.engine import DEFAULT_RUNTIME, find_runtime

    container = running_container(engine, ref)
    if config.workdir and not config.workdir.startswith("/"):
        raise ExecFailed(
            "OCI runtime exec failed: exec failed: Cwd must be an absolute path: unknown"
        )
    size = (terminal_size(0) or terminal_size(1)) if config.tty else None
    process = process_spec(engine, container, config, size)
    runtime = find_runtime(container.options.get("runtime") or DEFAULT_RUNTIME)
    exec_id = os.urandom(32).hex()
    work = os.path.join(engine.paths.runroot, "exec", exec_id[:16])
    os.makedirs(work, mode=0o700)
    command = " ".join(process["args"])
    _event(engine, container, f"exec_create: {command}", exec_id)
    _event(engine, container, f"exec_start: {command}", exec_id)
    code: int | None = None
    try:
        with _Exec(work, runtime, engine.runtime_root, container.id, process, config) as run:
            code = run.wait()
            return code
    finally:
        for name in os.listdir(work):  # our files and the runtime's; no directories
            os.unlink(os.path.join(work, name))
        os.rmdir(work)
        if code is not None and not config.detach:
            _event(engine, container, "exec_die", exec_id, exitCode=str(code))


def _event(engine: Engine, container: Container, action: str, exec_id: str, **extra: str) -> None:
    """Docker's exec events (``exec_create: CMD``, ``exec_start: CMD``, ``exec_die``)."""

    engine.record_event(container, action, execID=exec_id, **extra)


class _Exec:
    """One run of ``RUNTIME exec``, and then of its process."""

    def __init__(
        self,
        work: str,
        runtime: str,
        runtime_root: str,
        container_id: str,
        process: dict[str, Any],
        config: ExecConfig,
    ) -> None:
        self.work = work
        self.process = process
        self.config = config
        self.command = [
            runtime, "--root", runtime_root,
            "--log", os.path.join(work, "log"), "--log-format", "json",
            "exec", "--detach",
            "--process", os.path.join(work, "process.json"),
            "--pid-file", os.path.join(work, "pid"),
        ]  # fmt: skip
        self.container_id = container_id
        self.fds: list[int] = []
        self.listener: Any = None
        self.stderr = -1

    def __enter__(self) -> _Exec:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.listener is not None:
            self.listener.close()
        for fd in self.fds:
            os.close(fd)

    def _fd(self, fd: int) -> int:
        self.fds.append(fd)
        return fd

    def wait(self) -> int | None:
        config = self.config
        with open(os.path.join(self.work, "process.json"), "w") as f:
            f.write(jsonio.dumps(self.process))
        pass_fds: tuple[int, ...] = ()
        if config.tty:
            pass_fds = (self._listen(),)
        devnull = self._fd(os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC))
        foreground = not config.detach
        if foreground:
            from skiff.linux import prctl

            prctl.set_child_subreaper()
        # Our stderr only for a process in the foreground without a terminal: it comes
        # through a pipe, so that the runtime's own error does not reach the user.
        if foreground and not config.tty:
            self.stderr, stderr_w = os.pipe2(os.O_CLOEXEC)
            self._fd(self.stderr)
        else:
            stderr_w = devnull
        plain = foreground and not config.tty
        stdio = (0 if plain and config.interactive else devnull, 1 if plain else devnull, stderr_w)
        try:
            # posix_spawn rather than subprocess: its import is a few ms of every exec
            for fd in pass_fds:
                os.set_inheritable(fd, True)
            pid = os.posix_spawn(
                self.command[0],
                [*self.command, self.container_id],
                os.environ,
                file_actions=[(os.POSIX_SPAWN_DUP2, fd, n) for n, fd in enumerate(stdio)],
                setsid=True,
            )
        finally:
            for fd in pass_fds:
                os.set_inheritable(fd, False)
            if stderr_w != devnull:
                os.close(stderr_w)
        held, status = self._wait_runtime(pid)
        if status != 0:
            message = docker_message(self._runtime_error(), self.process)
            raise ExecFailed(message, _exit_code(message))
        with open(os.path.join(self.work, "pid")) as f:
            pid = int(f.read())
        master = self._receive_master() if config.tty else -1
        if config.detach:
            if master >= 0:
                _hold_terminal(master)
            return 0
        return self._wait_process(pid, master, held)

    def _listen(self) -> int:
        """The console socket, bound in our work directory; the runtime reaches it as
        ``/proc/self/fd/N/console.sock`` of the directory fd it inherits (its full path
        may be too long for a unix socket)."""
        import socket

        directory = self._fd(os.open(self.work, os.O_PATH | os.O_DIRECTORY))
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        path = f"/proc/self/fd/{directory}/console.sock"
        self.listener.bind(path)
        self.listener.listen(1)
        self.command += ["--console-socket", path]
        return directory

    def _wait_runtime(self, pid: int) -> tuple[bytes, int]:
        """Until the runtime exits: what came on the stderr pipe meanwhile, and its exit
        status."""
        import select

        if self.stderr < 0:
            return b"", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        held = bytearray()
        pidfd = self._fd(os.pidfd_open(pid))
        reading = True
        while True:
            ready, _, _ = select.select([pidfd, self.stderr] if reading else [pidfd], [], [])
            if self.stderr in ready:
                chunk = os.read(self.stderr, 65536)
                held += chunk
                reading = bool(chunk)
            if pidfd in ready:
                return bytes(held), os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    def _runtime_error(self) -> str:
        """The runtime's last error, from its JSON log."""
        message = ""
        try:
            with open(os.path.join(self.work, "log")) as f:
                for line in f:
                    try:
                        entry = jsonio.loads(line)
                    except ValueError:
                        continue
                    if entry.get("level") == "error":
                        message = str(entry.get("msg", ""))
        except OSError:
            pass
        from skiff.engine.monitor import without_runtime_name

        return without_runtime_name(message) or "the runtime failed"

    def _receive_master(self) -> int:
        """The pty master the process's side sent before the runtime exited."""
        import socket

        self.listener.setblocking(False)
        connection, _ = self.listener.accept()
        with connection:
            _, fds, _, _ = socket.recv_fds(connection, 4096, 1)
        if not fds:
            raise ExecFailed("OCI runtime exec failed: no terminal received: unknown")
        return fds[0]

    def _wait_process(self, pid: int, master: int, held: bytes) -> int | None:
        """Copy the process's stdio until it exits; its exit code (None: detached)."""
        pidfd = self._fd(os.pidfd_open(pid))
        if master >= 0:
            config = self.config
            ending = pump(
                PtyEndpoint(master),
                stdin=0 if config.interactive else None,
                stdout=1,
                stderr=2,
                tty=True,
                detach_keys=config.detach_keys,
                done_fd=pidfd,
            )
            if ending == "detached":
                _hold_terminal(master)
                return None
            os.close(master)
        elif not _relay_stderr(self.stderr, held, pidfd, self.config.timeout):
            import signal

            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise ExecTimedOut(self.config.timeout)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        return code if code >= 0 else 128 - code


def _relay_stderr(pipe: int, held: bytes, pidfd: int, timeout: float = 0) -> bool:
    """The process's stderr to ours until it exits (and what it left in the pipe); False
    if ``timeout`` seconds (0: none) passed first."""
    import select
    import time

    write_all(2, held)
    os.set_blocking(pipe, False)
    reading = True
    deadline = time.monotonic() + timeout if timeout else None
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        ready, _, _ = select.select([pipe, pidfd] if reading else [pidfd], [], [], left)
        if pipe in ready:
            try:
                chunk = os.read(pipe, 65536)
            except BlockingIOError:
                continue
            write_all(2, chunk)
            reading = bool(chunk)
        if pidfd in ready:
            while reading:
                try:
                    chunk = os.read(pipe, 65536)
                except BlockingIOError:
                    return True
                write_all(2, chunk)
                reading = bool(chunk)
            return True


def _hold_terminal(master: int) -> None:
    """Keep a detached process's pty master open, and drain it, in a process of its own
    that ends with the process (a double fork: nothing for us to reap)."""
    child = os.fork()
    if child == 0:
        try:
            if os.fork() == 0:
                os.setsid()
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                os.closerange(3, master)
                os.closerange(master + 1, 65536)
                os.set_blocking(master, True)
                while True:
                    try:
                        if not os.read(master, 65536):
                            break
                    except OSError:
                        break
        finally:
            os._exit(0)
    os.close(master)
    os.waitpid(child, 0)
