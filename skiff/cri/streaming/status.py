"""What a remote command ends with on its error stream: a metav1.Status as the kubelet
writes it (JSON from protocol v4 on; before it, the message of a failure and nothing for
success)."""

from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Status = dict[str, Any]


def success() -> Status:
    return {"metadata": {}, "status": "Success"}


def exit_code(command: list[str], code: int) -> Status:
    """A process that ended with ``code`` other than 0 (client-go reads the code from the
    cause; kubectl exits with it)."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            "command terminated with non-zero exit code: error executing command "
            f"{_go_list(command)}, exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def internal_error(message: str) -> Status:
    """apierrors.NewInternalError: the runtime could not do what was asked."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {message}",
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }


def _go_list(words: list[str]) -> str:
    return "[" + " ".join(words) + "]"


def encode(status: Status, structured: bool) -> bytes:
    """The error stream's bytes: JSON (v4, v5), else the failure's message alone."""
    if structured:
        return json.dumps(status, separators=(",", ":")).encode()
    if status["status"] == "Success":
        return b""
    return str(status.get("message", "")).encode()
