"""Processes by /proc: whether a process that left its mark on shared state still lives.

A pid alone is not enough (pids are reused); a pid with its start time is.
"""

from __future__ import annotations

import os


def process_start_time(pid: int) -> int | None:
    """Start time of a live (non-zombie) process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def owner_tag() -> str:
    """``PID-STARTTIME`` of this process, for names of things it owns while it runs."""
    pid = os.getpid()
    return f"{pid}-{process_start_time(pid)}"


def owner_alive(tag: str) -> bool:
    """Whether the process of an :func:`owner_tag` still runs (False for no tag)."""
    pid, _, start = tag.partition("-")
    if not pid.isdigit() or not start.isdigit():
        return False
    return str(process_start_time(int(pid))) == start
