"""Many ``skiff run --rm --network none busybox true`` in a row: nothing may grow.

skiff has no daemon: what it keeps between commands is its state (the database, files under
its root and run root), processes that outlive a command (conmon, its exit command), their
fds, mounts and cgroups. Each is counted after a warm-up and again after the runs; the
``skiff`` process's own peak memory (max RSS, of it or of the children it waited for) and the
wall time are compared between the first and the last runs.

``make bench SCENARIO=run-rm-soak RUNS=10000`` runs the 10,000 of the issue (about half an
hour here); the default is shorter so that ``make bench`` stays short.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from statistics import median

from bench import host
from bench.core import Result
from bench.engines import Engine, engines
from bench.stats import changes

NAME = "run-rm-soak"
DESCRIPTION = "`run --rm --network none busybox true` many times in a row (wall time of each)"
WARMUP = 20
WINDOW = 100  # runs compared at the start and at the end
SETTLE = 10  # seconds for the last exit commands to finish
CGROUP_PARENT = f"/skiff-bench-soak-{os.getpid()}"
EVENTS = "events recorded"
TIME = "/usr/bin/time"  # GNU time (Debian's time)


class State:
    """What skiff keeps on the host between commands: figures, and the paths of its files."""

    def __init__(self, base: str) -> None:
        database = os.path.join(base, "root", "skiff.db")
        self.paths = set()
        file_bytes = 0
        for directory, _, names in os.walk(base):
            for name in names:
                path = os.path.join(directory, name)
                if not path.startswith(database):
                    self.paths.add(os.path.relpath(path, base))
                    file_bytes += _size(path)
        processes = host.processes_naming(base)
        self.figures = {
            "database bytes": _size(database),
            "WAL bytes": _size(database + "-wal") + _size(database + "-shm"),
            **_rows(database),
            "files": len(self.paths),
            "file bytes": file_bytes,
            "processes": len(processes),
            "their fds": sum(host.open_fds(p) for p in processes),
            "mounts": host.mounts_under(base),
            "cgroups": host.cgroups_under(CGROUP_PARENT),
        }


def _rows(database: str) -> dict[str, int]:
    """Rows of each table of the database (read only), and how many events were ever
    recorded (the table keeps only the last ones)."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = {
            f"{t} rows": db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables
        }
        if "events" in tables:
            rows[EVENTS] = db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        return rows


def _size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except FileNotFoundError:
        return 0


def _events_note(before: dict[str, int], after: dict[str, int], runs: int) -> list[str]:
    """The events table grows by design until it holds the last KEEP events."""
    from skiff.engine.events import KEEP

    per_run = (after.get(EVENTS, 0) - before.get(EVENTS, 0)) / runs
    if not per_run:
        return []
    return [
        f"events: {per_run:.1f} per run; skiff keeps the last {KEEP} (skiff.engine.events.KEEP),"
        f" so the database stops growing after {KEEP / per_run:.0f} runs"
    ]


def _settled(base: str) -> None:
    """Until the exit commands of the last containers have finished."""
    deadline = time.monotonic() + SETTLE
    while host.processes_naming(base) and time.monotonic() < deadline:
        time.sleep(0.1)


def _run_once(engine: Engine, args: tuple[str, ...]) -> tuple[float, int]:
    """One run: its wall time in ms and its peak RSS in bytes.

    The peak comes from GNU time, not from our own wait4: a process that this one starts
    inherits this one's peak RSS when it calls exec (the kernel keeps the larger of the old
    and the new image's), and the benchmark's Python, with matplotlib, is larger than skiff.
    time's own process is small, and it waits for skiff and its children (the runtime).
    """
    peak = os.path.join(engine.errors, "peak-rss")
    start = time.perf_counter()
    pid, stderr = engine.spawn(*args, through=(TIME, "--format", "%M", "--output", peak))
    _, status = os.waitpid(pid, 0)
    wall = (time.perf_counter() - start) * 1000
    engine.finished(status, stderr, args)
    with open(peak) as f:
        return wall, int(f.read().split()[-1]) * 1024


def run(runs: int) -> Result:
    args = ("run", "--rm", "--network", "none", "--cgroup-parent", CGROUP_PARENT, "busybox", "true")
    result = Result(NAME, "ms")
    try:
        with engines(("skiff",)) as (engine,):
            for _ in range(WARMUP):
                _run_once(engine, args)
            _settled(engine.base)
            before = State(engine.base)
            walls, peaks = [], []
            for i in range(runs):
                if i == runs // 2:
                    _settled(engine.base)
                    half = State(engine.base)
                wall, peak = _run_once(engine, args)
                walls.append(wall)
                peaks.append(peak)
            _settled(engine.base)
            after = State(engine.base)
            failures = engine.failure_notes(WARMUP + runs)
    finally:
        host.remove_cgroup(CGROUP_PARENT)
    result.samples["skiff"] = walls
    window = min(WINDOW, runs)
    first, last = slice(0, window), slice(runs - window, runs)
    new_files = sorted(after.paths - before.paths)
    result.notes += [
        f"{runs} runs after {WARMUP} warm-up runs; the state skiff keeps:"
        f" {changes(before.figures, after.figures)}",
        f"over the last {runs - runs // 2} runs only: {changes(half.figures, after.figures)}",
        *([f"{len(new_files)} new files, such as {', '.join(new_files[:3])}"] if new_files else []),
        f"peak RSS of a run (median): first {window} {median(peaks[first]) / 2**20:.1f} MiB,"
        f" last {window} {median(peaks[last]) / 2**20:.1f} MiB",
        f"wall (median): first {window} {median(walls[first]):.1f} ms,"
        f" last {window} {median(walls[last]):.1f} ms (GNU time's start included)",
        *_events_note(before.figures, after.figures, runs),
        *failures,
        "10,000 runs: `make bench SCENARIO=run-rm-soak RUNS=10000`",
    ]
    return result
