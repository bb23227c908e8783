"""``exec``: a new process in a running container.

Like ``create``, ``exec`` forks a child that makes itself non-dumpable, joins the container's
cgroup and namespaces (the user namespace first), and forks again so the process lands in
the container's pid namespace. The grandchild becomes the container process with the
container's seccomp profile and the capabilities, user and environment of the exec'd
process. Its sync pipe is close-on-exec: end-of-file means the exec succeeded.
"""

from __future__ import annotations

import os

from skiff.errors import Conflict, EngineError, InvalidArgument
from skiff.linux import prctl, signals
from skiff.linux.namespaces import KINDS, setns
from skiff.runtime import lifecycle
from skiff.runtime import process as proc
from skiff.runtime.init import describe
from skiff.runtime.spec import check_process
from skiff.runtime.state import ContainerDir, State, seccomp_cache, write_pid_file
from skiff.runtime.sync import Channel, channel_pair

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.runtime.seccomp import CompiledFilter


def exec_process(container: ContainerDir, flags: dict[str, Any], command: list[str]) -> int:
    state = container.load()
    status = container.status(state)
    if status == "paused" and not flags["ignore_paused"]:
        raise Conflict(f"cannot exec in a paused container: {container.id}")
    if status not in ("running", "paused", "created"):
        raise Conflict(f"cannot exec in a {status} container: {container.id}")
    for name in ("process_label", "apparmor"):
        if flags[name]:
            raise InvalidArgument(f"--{name.replace('_', '-')}: not supported by skiff-runtime")
    if flags["cgroup"]:
        raise InvalidArgument("--cgroup: exec into a sub-cgroup is not supported")
    process = _process(state, flags, command)
    if process.get("terminal") and flags["detach"] and not flags["console_socket"]:
        raise InvalidArgument(
            "cannot allocate tty if skiff-runtime will detach without setting console socket"
        )
    console_fd, ours = _console(process, flags)
    # Built and imported here: after joining the container's mount namespace, the child
    # can no longer reach libseccomp or skiff's modules.
    seccomp = None
    if state.seccomp:
        from skiff.runtime.seccomp import compile_filter

        seccomp = compile_filter(state.seccomp, seccomp_cache(container.root))
    target = _Target(state, process, console_fd, flags["preserve_fds"], seccomp)
    prctl.set_child_subreaper()
    parent, child = channel_pair()
    first = os.fork()
    if first == 0:
        parent.close()
        _first_child(target, child)
    child.close()
    if console_fd >= 0:
        os.close(console_fd)
    pid = 0
    try:
        word, argument = parent.receive()
        if word == "error":
            raise EngineError(argument)
        if word != "pid":
            raise EngineError("exec: the process exited before it started")
        pid = int(argument)
        os.waitpid(first, 0)
        first = 0
        parent.send("go")
        while True:
            word, argument = parent.receive()
            if word == "eof":
                break  # the exec succeeded: the close-on-exec pipe is closed
            if word == "error":
                os.waitpid(pid, 0)
                raise EngineError(argument)
            if word == "seccomp":
                raise EngineError("exec: seccomp notify is not supported for exec")
    except BaseException:
        if first:
            os.waitpid(first, 0)
        raise
    finally:
        parent.close()
    if flags["pid_file"]:
        write_pid_file(flags["pid_file"], pid)
    if flags["detach"]:
        return 0
    if ours >= 0:
        from skiff.runtime.console import proxy, receive_master

        master = receive_master(ours)
        os.close(ours)
        return lifecycle.exit_code(proxy(master, pid))
    return lifecycle.wait_for_exit(pid)


def _process(state: State, flags: dict[str, Any], command: list[str]) -> dict[str, Any]:
    """The process to run: ``--process`` JSON, or the container's with the flags applied."""
    import json

    if flags["process"]:
        try:
            with open(flags["process"]) as f:
                process = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise InvalidArgument(f"--process: {e}") from None
        check_process(process)
        return dict(process)
    if not command:
        raise InvalidArgument("exec: give a command, or --process")
    process = json.loads(json.dumps(state.process))
    process["args"] = command
    process["terminal"] = flags["tty"]
    process.pop("consoleSize", None)
    if flags["cwd"]:
        process["cwd"] = flags["cwd"]
    env = process.get("env") or []
    process["env"] = env + flags["env"]
    if flags["user"]:
        uid, _, gid = flags["user"].partition(":")
        try:
            process["user"] = {"uid": int(uid), "gid": int(gid or 0)}
        except ValueError:
            raise InvalidArgument(f"--user: expected UID[:GID], got {flags['user']!r}") from None
    if flags["additional_gids"]:
        try:
            process.setdefault("user", {})["additionalGids"] = [
                int(g) for g in flags["additional_gids"]
            ]
        except ValueError:
            raise InvalidArgument("--additional-gids: expected numbers") from None
    if flags["cap"]:
        from skiff.linux.capabilities import NUMBERS

        capabilities = process.setdefault("capabilities", {})
        for cap in flags["cap"]:
            if cap not in NUMBERS:
                raise InvalidArgument(f"--cap: unknown capability {cap!r}")
            for key in ("bounding", "effective", "permitted"):
                names = capabilities.setdefault(key, [])
                if cap not in names:
                    names.append(cap)
    if flags["no_new_privs"]:
        process["noNewPrivileges"] = True
    check_process(process)
    return dict(process)


def _console(process: dict[str, Any], flags: dict[str, Any]) -> tuple[int, int]:
    """(fd the process sends its pty master to, our end of it when we proxy) or -1s."""
    if not process.get("terminal"):
        return -1, -1
    import socket

    from skiff.runtime.console import connect_console_socket

    if flags["console_socket"]:
        return connect_console_socket(flags["console_socket"]), -1

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return theirs.detach(), ours.detach()


class _Target:
    """What the exec'd process becomes, prepared before the fork."""

    def __init__(
        self,
        state: State,
        process: dict[str, Any],
        console_fd: int,
        preserve_fds: int,
        seccomp: CompiledFilter | None,
    ) -> None:
        self.state = state
        self.process = process
        self.console_fd = console_fd
        self.preserve_fds = preserve_fds
        self.seccomp = seccomp


def _first_child(target: _Target, channel: Channel) -> None:
    try:
        prctl.set_dumpable(False)
        if target.state.cgroup_path:
            from skiff.cgroups import open_cgroup

            open_cgroup(target.state.cgroup_path).join()
        _join_namespaces(target.state.pid)
        pid = os.fork()
        if pid == 0:
            _exec(target, channel)
        channel.send("pid", str(pid))
    except BaseException as e:
        channel.send("error", describe(e))
        os._exit(1)
    os._exit(0)


def _join_namespaces(pid: int) -> None:
    """Join every namespace of ``pid`` that differs from ours, the user namespace first."""
    order = ["user", "cgroup", "ipc", "uts", "network", "pid", "time", "mount"]
    fds = []
    try:
        for kind in order:
            name = KINDS[kind][1]
            theirs = f"/proc/{pid}/ns/{name}"
            try:
                if os.stat(theirs).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                    continue
                fds.append((kind, os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)))
            except FileNotFoundError:
                continue
        for kind, fd in fds:
            setns(fd, KINDS[kind][0])
    finally:
        for _, fd in fds:
            os.close(fd)


def _exec(target: _Target, channel: Channel) -> None:
    process = target.process
    try:
        channel.expect("go")
        os.chdir("/")
        if target.console_fd >= 0:
            from skiff.runtime.console import setup_console  # imported by _console()

            setup_console(target.console_fd, process.get("consoleSize"))
            os.close(target.console_fd)
        path, args, env = proc.become(process, target.seccomp, channel, set(), target.preserve_fds)
        umask = (process.get("user") or {}).get("umask")
        os.umask(0o022 if umask is None else umask)
        signals.restore_defaults()
        proc.execute(path, args, env)
    except BaseException as e:
        channel.send("error", describe(e))
        os._exit(1 if not isinstance(e, FileNotFoundError) else 127)
