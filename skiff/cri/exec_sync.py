"""ExecSync: a command in a running container, its output and exit code, as the kubelet
runs exec probes and ``kubectl exec`` without a terminal.

It runs ``skiff exec --timeout`` (the exec the streaming server and skiff serve run too),
so the process is killed when the kubelet's timeout passes; that answers
DEADLINE_EXCEEDED, as the kubelet's probes expect of containerd."""

from __future__ import annotations

import subprocess

from skiff.errors import Conflict, EngineError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.engine.containers import Container
    from skiff.engine.engine import Engine

GRACE = 10  # seconds skiff exec may take beyond the timeout before it is killed itself


class DeadlineExceeded(EngineError):
    """The command ran longer than the request's timeout."""


def exec_sync(
    engine: Engine, container: Container, command: list[str], timeout: int
) -> tuple[bytes, bytes, int]:
    """(stdout, stderr, exit code) of ``command`` in ``container``."""
    from skiff.cri.streaming.exec import command_line, environment
    from skiff.engine.exec import ExecTimedOut

    if not command:
        raise InvalidArgument("the exec command is empty")
    if not container.state.get("Running"):
        raise Conflict(f"container {container.id} is not running")
    try:
        ran = subprocess.run(
            command_line(container.id, command, stdin=False, tty=False, timeout=timeout),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=environment(engine.paths),
            timeout=timeout + GRACE if timeout > 0 else None,
        )
    except subprocess.TimeoutExpired:
        raise DeadlineExceeded(f"timeout {timeout}s exceeded") from None
    ending = ExecTimedOut.ENDING.encode()
    if ran.returncode == ExecTimedOut.CODE and ran.stderr.rstrip().endswith(ending):
        raise DeadlineExceeded(f"command {command!r} timed out after {timeout}s")
    return ran.stdout, ran.stderr, ran.returncode
