"""The per-container monitor: conmon, which holds the container's stdio, writes its log,
records its exit code and runs ``skiff container cleanup ID`` when it exits.

conmon speaks through two pipes handed to it as fds 3 and 4 (``_OCI_SYNCPIPE``,
``_OCI_STARTPIPE``): it waits for a byte on the start pipe, runs ``RUNTIME create``, and
writes ``{"data": PID}`` (or ``{"data": -1, "message": ...}``) on the sync pipe. It
daemonises, so the container outlives the command that started it.
"""

from __future__ import annotations

import fcntl
import os

from skiff import jsonio
from skiff.errors import EngineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

CONMON = "/usr/bin/conmon"


class MonitorPaths:
    """Where a container's monitor keeps its files."""

    def __init__(self, runroot: str, container_dir: str, container_id: str, log: str = "") -> None:
        self.exit_dir = os.path.join(runroot, "exits")
        self.exit_file = os.path.join(self.exit_dir, container_id)
        self.dir = container_dir
        # conmon's attach socket (--full-attach) and ctl fifo are in the bundle
        self.socket_dir = container_dir
        self.conmon_pidfile = os.path.join(container_dir, "conmon.pid")
        self.pidfile = os.path.join(container_dir, "pid")
        self.log = log or os.path.join(container_dir, "container.log")
        self.monitor_log = os.path.join(container_dir, "conmon.log")


def start_monitor(
    container_id: str,
    name: str,
    runtime: str,
    runtime_root: str,
    bundle: str,
    paths: MonitorPaths,
    exit_command: list[str],
    terminal: bool = False,
    stdin: bool = False,
    stdin_once: bool = False,
    log_size_max: int | None = None,
    keep_log: bool = True,
    while_waiting: Callable[[], None] | None = None,
) -> int:
    """Start conmon for a bundle and let it create the container; the container's pid.
    Without ``keep_log`` (``--log-driver none``) conmon keeps no log (its ``none`` driver).
    With ``stdin_once`` the container's stdin closes when the attached client's input
    ends (Docker's StdinOnce: ``run -i`` in the foreground); otherwise it stays open for
    the next attach."""
    os.makedirs(paths.exit_dir, exist_ok=True)
    try:
        os.unlink(paths.exit_file)
    except FileNotFoundError:
        pass
    args = [
        CONMON,
        "--api-version", "1",
        "-c", container_id,
        "-u", container_id,
        "-n", name,
        "-r", runtime,
        "-b", bundle,
        "-p", paths.pidfile,
        "-P", paths.conmon_pidfile,
        "-l", f"{'k8s-file' if keep_log else 'none'}:{paths.log}",
        "--exit-dir", paths.exit_dir,
        "--socket-dir-path", paths.socket_dir,
        "--full-attach",
        "--log-level", "error",
        "--runtime-arg", "--root",
        "--runtime-arg", runtime_root,
        "--exit-command", exit_command[0],
    ]  # fmt: skip
    for arg in exit_command[1:]:
        args += ["--exit-command-arg", arg]
    if terminal:
        args.append("-t")
    if stdin:
        args += ["-i"] if stdin_once else ["-i", "--leave-stdin-open"]
    if log_size_max:
        args += ["--log-size-max", str(log_size_max)]
    sync_read, sync_write = os.pipe()
    start_read, start_write = os.pipe()
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "_OCI_SYNCPIPE": "3",
        "_OCI_STARTPIPE": "4",
    }
    # skiff-vm's settings (its kernel, QEMU, accelerator) reach it through conmon
    env.update((key, value) for key, value in os.environ.items() if key.startswith("SKIFF_VM_"))
    # conmon's own messages go to a file: the daemonised conmon keeps its stderr open.
    log_fd = os.open(
        paths.monitor_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644
    )
    try:
        child = _spawn(args, env, paths.dir, [_DEVNULL, _DEVNULL, log_fd, sync_write, start_read])
    finally:
        for fd in (log_fd, sync_write, start_read):
            os.close(fd)
    try:
        os.write(start_write, b"0")
    finally:
        os.close(start_write)
    os.waitpid(child, 0)  # conmon forks its monitor off and exits
    if while_waiting is not None:
        while_waiting()  # the runtime is creating the container meanwhile
    # One line: the daemonised conmon keeps the pipe open until the container exits.
    with os.fdopen(sync_read, "rb") as f:
        reply = f.readline()
    try:
        message = jsonio.loads(reply.decode(errors="replace")) if reply.strip() else {}
    except ValueError:
        message = {}
    pid = message.get("data", -1)
    if not isinstance(pid, int) or pid <= 0:
        with open(paths.monitor_log, errors="replace") as log:
            detail = str(message.get("message") or log.read().strip() or "no reply")
        raise EngineError(f"OCI runtime create failed: {_runtime_message(detail)}")
    return pid


_DEVNULL = -1  # in ``_spawn``'s fds: /dev/null


def _spawn(args: list[str], env: dict[str, str], cwd: str, fds: list[int]) -> int:
    """fork and exec ``args`` in ``cwd`` with ``fds`` as its descriptors 0, 1, 2...; the pid.

    subprocess would cost a tenth of ``skiff run``'s start-up to import, and posix_spawn
    cannot change directory before Python 3.13. conmon writes files into its working
    directory (an "oom" file when the kernel kills), so it runs in the container's.
    """
    if not os.access(args[0], os.X_OK):
        raise EngineError(f"{args[0]} is not installed: install conmon")
    pid = os.fork()
    if pid:
        return pid
    try:
        os.chdir(cwd)
        null = os.open(os.devnull, os.O_RDWR)
        # out of the way of the targets first, then into place (dup2 clears close-on-exec)
        moved = [
            fcntl.fcntl(null if fd == _DEVNULL else fd, fcntl.F_DUPFD_CLOEXEC, len(fds))
            for fd in fds
        ]
        for target, fd in enumerate(moved):
            os.dup2(fd, target)
        os.execve(args[0], args, env)
    finally:
        os._exit(127)


def _runtime_message(detail: str) -> str:
    """conmon relays the runtime's stderr; keep its last line, without our prefix."""
    return without_runtime_name(detail.strip().splitlines()[-1] if detail.strip() else detail)


def without_runtime_name(message: str) -> str:
    """A message of skiff-runtime or skiff-vm without the program's name in front."""
    for prefix in ("skiff-runtime: ", "skiff-vm: "):
        message = message.removeprefix(prefix)
    return message


def kill_monitor(paths: MonitorPaths) -> None:
    """Kill the container's conmon (SIGKILL: no exit command, no exit file) if it still
    runs, and wait until it is gone."""
    import time

    from skiff.linux.proc import process_start_time
    from skiff.linux.signals import SIGKILL

    try:
        with open(paths.conmon_pidfile) as f:
            pid = int(f.read().strip() or 0)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().split(b"\0")
    except (OSError, ValueError):
        return
    # the pid is conmon's for this container, not a later process that reused it
    if (
        pid <= 0
        or os.path.basename(cmdline[0]) != b"conmon"
        or paths.pidfile.encode() not in cmdline
    ):
        return
    try:
        os.kill(pid, SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while process_start_time(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.005)


def read_exit_code(paths: MonitorPaths) -> int | None:
    """The exit code conmon recorded, or None while the container runs."""
    try:
        with open(paths.exit_file) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.lstrip("-").isdigit() else None
