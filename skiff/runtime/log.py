"""Messages of ``skiff-runtime``: one line on stderr, and the ``--log`` file in text or JSON.

With ``--log-format json`` each line is ``{"level": ..., "msg": ..., "time": ...}``: the
format conmon and containerd's shim read to report a runtime's error.
"""

from __future__ import annotations

import os
import sys
import time

from skiff import jsonio

_log_path: str | None = None
program = "skiff-runtime"  # the prefix of messages: skiff-vm sets its own name
_json = False
_debug = False


def configure(path: str | None, log_format: str, debug: bool) -> None:
    global _log_path, _json, _debug
    _log_path, _json, _debug = path, log_format == "json", debug


def _write(level: str, message: str) -> None:
    if not _log_path:
        return
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"
    if _json:
        line = jsonio.dumps({"level": level, "msg": message, "time": stamp})
    else:
        line = f"time={jsonio.dumps(stamp)} level={level} msg={jsonio.dumps(message)}"
    try:
        fd = os.open(_log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def error(message: str) -> None:
    """The command failed: one line on stderr, and the log file."""
    _write("error", message)
    sys.stderr.write(f"{program}: {message}\n")


def warn(message: str) -> None:
    _write("warning", message)
    if not _log_path:
        sys.stderr.write(f"{program}: warning: {message}\n")


def debug(message: str) -> None:
    if _debug:
        _write("debug", message)
        if not _log_path:
            sys.stderr.write(f"{program}: debug: {message}\n")
