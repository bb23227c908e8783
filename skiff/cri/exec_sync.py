"""ExecSync: a command in a running container, its output and exit code, as the kubelet
runs exec probes and ``kubectl exec`` without a terminal.

It runs ``skiff exec --timeout`` (the exec skiff serve runs too), so the process is
killed when the kubelet's timeout passes; that answers DEADLINE_EXCEEDED, as the
kubelet's probes expect of containerd."""

from __future__ import annotations

import os
import subprocess
import sys

from skiff.errors import Conflict, EngineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.engine.containers import Container
    from skiff.engine.engine import Engine

TIMED_OUT = 124  # skiff exec's exit code when --timeout killed the process
GRACE = 10  # seconds skiff exec may take beyond the timeout before it is killed itself


class DeadlineExceeded(EngineError):
    """The command ran longer than the request's timeout."""


def exec_sync(
    engine: Engine, container: Container, command: list[str], timeout: int
) -> tuple[bytes, bytes, int]:
    """(stdout, stderr, exit code) of ``command`` in ``container``."""
    if not command:
        from skiff.errors import InvalidArgument

        raise InvalidArgument("the exec command is empty")
    if not container.state.get("Running"):
        raise Conflict(f"container {container.id} is not running")
    skiff = os.path.join(os.path.dirname(sys.executable), "skiff")
    argv = [skiff, "--root", engine.paths.root, "--runroot", engine.paths.runroot, "exec"]
    if timeout > 0:
        argv += ["--timeout", str(timeout)]
    env = {**os.environ, "SKIFF_EXEC_FAILURE_FD": ""}
    try:
        ran = subprocess.run(
            [*argv, container.id, *command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            timeout=timeout + GRACE if timeout > 0 else None,
        )
    except subprocess.TimeoutExpired:
        raise DeadlineExceeded(f"timeout {timeout}s exceeded") from None
    if ran.returncode == TIMED_OUT and ran.stderr.rstrip().endswith(b"the process was killed"):
        raise DeadlineExceeded(f"command {command!r} timed out after {timeout}s")
    return ran.stdout, ran.stderr, ran.returncode
