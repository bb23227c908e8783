"""The per-container monitor: conmon, which holds the container's stdio, writes its log,
records its exit code and runs ``skiff container cleanup ID`` when it exits.

conmon speaks through two pipes handed to it as fds 3 and 4 (``_OCI_SYNCPIPE``,
``_OCI_STARTPIPE``): it waits for a byte on the start pipe, runs ``RUNTIME create``, and
writes ``{"data": PID}`` (or ``{"data": -1, "message": ...}``) on the sync pipe. It
daemonises, so the container outlives the command that started it.
"""

from __future__ import annotations

import json
import os
import subprocess

from skiff.errors import EngineError

CONMON = "/usr/bin/conmon"


class MonitorPaths:
    """Where a container's monitor keeps its files."""

    def __init__(self, runroot: str, container_dir: str, container_id: str) -> None:
        self.exit_dir = os.path.join(runroot, "exits")
        self.exit_file = os.path.join(self.exit_dir, container_id)
        self.dir = container_dir
        # conmon's attach socket (--full-attach) and ctl fifo are in the bundle
        self.socket_dir = container_dir
        self.conmon_pidfile = os.path.join(container_dir, "conmon.pid")
        self.pidfile = os.path.join(container_dir, "pid")
        self.log = os.path.join(container_dir, "container.log")
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

    def child_fds() -> None:
        os.dup2(sync_write, 3)
        os.dup2(start_read, 4)

    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "_OCI_SYNCPIPE": "3",
        "_OCI_STARTPIPE": "4",
    }
    # conmon's own messages go to a file: the daemonised conmon keeps its stderr open.
    monitor_log = open(paths.monitor_log, "ab")  # noqa: SIM115 (closed below)
    try:
        process = subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=monitor_log,
            preexec_fn=child_fds,
            cwd=paths.dir,  # conmon writes files there (an "oom" file when the kernel kills)
            close_fds=True,
            pass_fds=(3, 4),  # what child_fds made of the two pipe ends
        )
    finally:
        monitor_log.close()
        os.close(sync_write)
        os.close(start_read)
    try:
        os.write(start_write, b"0")
    finally:
        os.close(start_write)
    process.wait()
    # One line: the daemonised conmon keeps the pipe open until the container exits.
    with os.fdopen(sync_read, "rb") as f:
        reply = f.readline()
    try:
        message = json.loads(reply) if reply.strip() else {}
    except ValueError:
        message = {}
    pid = message.get("data", -1)
    if not isinstance(pid, int) or pid <= 0:
        with open(paths.monitor_log, errors="replace") as log:
            detail = str(message.get("message") or log.read().strip() or "no reply")
        raise EngineError(f"OCI runtime create failed: {_runtime_message(detail)}")
    return pid


def _runtime_message(detail: str) -> str:
    """conmon relays the runtime's stderr; keep its last line, without our prefix."""
    line = detail.strip().splitlines()[-1] if detail.strip() else detail
    return line.removeprefix("skiff-runtime: ")


def read_exit_code(paths: MonitorPaths) -> int | None:
    """The exit code conmon recorded, or None while the container runs."""
    try:
        with open(paths.exit_file) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.lstrip("-").isdigit() else None
