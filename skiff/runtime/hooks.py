"""OCI hooks: run with the container state on stdin, each with its optional timeout."""

from __future__ import annotations

import json
import os
import signal
import subprocess

from skiff.errors import EngineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def run_hooks(hooks: list[dict[str, Any]], state: dict[str, Any], kind: str) -> None:
    """Run ``hooks`` in order; the first failure raises ``EngineError`` naming the hook."""
    payload = json.dumps(state).encode()
    for i, hook in enumerate(hooks):
        path = hook["path"]
        args = hook.get("args") or [path]
        env = dict(e.split("=", 1) for e in hook.get("env") or [] if "=" in e)
        timeout = hook.get("timeout")
        if timeout is not None and timeout <= 0:
            raise EngineError(f"hooks.{kind}[{i}]: timeout must be positive")
        try:
            proc = subprocess.Popen(
                args,
                executable=path,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as e:
            raise EngineError(f"hooks.{kind}[{i}] ({path}): {e.strerror}") from None
        try:
            output, _ = proc.communicate(payload, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise EngineError(f"hooks.{kind}[{i}] ({path}): timed out after {timeout}s") from None
        if proc.returncode != 0:
            detail = output.decode(errors="replace").strip().splitlines()
            reason = f": {detail[-1]}" if detail else ""
            raise EngineError(f"hooks.{kind}[{i}] ({path}): exit status {proc.returncode}{reason}")
