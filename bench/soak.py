"""Soaks: many ``skiff run --rm --network none busybox true`` in a row (the scenario
``run-rm-soak``), and create/start/exec/stop/rm cycles through the CLI and the API for a
bounded time (``python -m bench soak``, at the end of this file): nothing may grow.

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
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from statistics import median
from typing import Any

from bench import host
from bench.core import Result
from bench.engines import Engine, engines
from bench.stats import changes, percentile

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


# --- the cycle soak: `python -m bench soak --minutes 10` ------------------------------------
#
# Not one of SCENARIOS (``make bench`` would take ten minutes more, and its figures are not
# medians to compare with peers): ``python -m bench soak`` (``make soak MINUTES=10``) runs
# it alone, prints its table and writes bench/results/soak/DATE-TIME.{json,md}.

CYCLE_NAME = "cycle-soak"
CYCLE_DESCRIPTION = (
    "create, start, exec, stop and rm of one container a cycle, through the CLI and through"
    " skiff serve's API (docker-py) by turns, on the default bridge and with --network none"
    " by turns, for a bounded time; skiff serve's fds and RSS, the store's mounts, the"
    " containers' cgroups, the host's network links, IP leases and the monitors are sampled"
    " every few cycles and must not grow"
)
CYCLE_WARMUP = 10  # cycles before the first sample: imports, the pool's threads, the bridge
# A container that stops at once on SIGTERM (a shell as pid 1 ignores it by default), so
# that `stop` is the graceful path, not its timeout and SIGKILL.
STOPPABLE = ["sh", "-c", "trap 'exit 0' TERM; sleep 1d & wait"]
# A figure grows when even the smallest of its last quarter's samples exceeds the largest
# of its first quarter's by more than this: a leak shifts every later sample up, noise
# does not. RSS moves with the allocator by a few hundred KiB; skiff serve keeps an engine
# (4 fds) for each log stream that ran at once with others (skiff.api.http), up to 32;
# the others are exact.
GROWTH_TOLERANCE = {"serve RSS (KiB)": 4096, "serve fds": 8, "serve threads": 2}


def _links() -> int:
    return len(os.listdir("/sys/class/net"))


def _leases(base: str) -> int:
    """host-local's address files under the store (one per address in use)."""
    ipam = os.path.join(base, "root", "network", "ipam")
    count = 0
    for _, _, names in os.walk(ipam):
        count += sum(1 for n in names if n != "lock" and not n.startswith("last_reserved_ip"))
    return count


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


class _Cycles:
    """The soak's state: the CLI (``engine``), docker-py on skiff serve (``client``), the
    timings of each operation, the failures, the samples."""

    def __init__(self, engine: Engine, client: Any, serve_pid: int, cgroup_parent: str) -> None:
        self.engine = engine
        self.client = client
        self.serve_pid = serve_pid
        self.cgroup_parent = cgroup_parent
        self.timings: dict[str, list[float]] = {}
        self.failures: list[str] = []
        self.samples: list[dict[str, float]] = []
        self.operations = 0

    def _timed(self, label: str, action: Callable[[], None]) -> bool:
        began = time.perf_counter()
        try:
            action()
        except Exception as e:  # recorded: every operation must succeed
            self.failures.append(f"{label}: {type(e).__name__}: {str(e).strip()[-300:]}")
            return False
        finally:
            self.operations += 1
        self.timings.setdefault(label, []).append((time.perf_counter() - began) * 1000)
        return True

    def _cli(self, *args: str, expect: str | None = None) -> None:
        done = subprocess.run(
            self.engine.command(*args), capture_output=True, env=self.engine.env, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"exit {done.returncode}: {done.stderr.decode(errors='replace')}")
        if expect is not None and done.stdout.decode() != expect:
            raise RuntimeError(f"printed {done.stdout!r}, not {expect!r}")

    def cycle(self, number: int) -> None:
        """One container through its life, by the CLI on even cycles, the API on odd ones;
        two cycles on the bridge, two without a network, and so on."""
        network = "bridge" if number % 4 < 2 else "none"
        name = f"soak-{number}"
        token = f"soak {number} {os.urandom(4).hex()}"
        if number % 2 == 0:
            steps = self._cli_steps(name, network, token)
        else:
            steps = self._api_steps(name, network, token)
        front = "cli" if number % 2 == 0 else "api"
        for verb, action in steps:
            if not self._timed(f"{front} {verb}", action):
                self._clean_up(name)
                return

    def _cli_steps(self, name: str, network: str, token: str) -> list[tuple[str, Any]]:
        create = (
            "create", "--name", name, "--network", network,
            "--cgroup-parent", self.cgroup_parent, "busybox", *STOPPABLE,
        )  # fmt: skip
        return [
            ("create", lambda: self._cli(*create)),
            ("start", lambda: self._cli("start", name, expect=f"{name}\n")),
            ("exec", lambda: self._cli("exec", name, "echo", token, expect=f"{token}\n")),
            ("stop", lambda: self._cli("stop", name, expect=f"{name}\n")),
            ("rm", lambda: self._cli("rm", name, expect=f"{name}\n")),
        ]

    def _api_steps(self, name: str, network: str, token: str) -> list[tuple[str, Any]]:
        containers = self.client.containers

        def create() -> None:
            containers.create(
                "busybox", STOPPABLE, name=name, network_mode=network,
                cgroup_parent=self.cgroup_parent,
            )  # fmt: skip

        def exec_() -> None:
            code, output = containers.get(name).exec_run(["echo", token])
            if (code, output) != (0, f"{token}\n".encode()):
                raise RuntimeError(f"exec: exit {code}, printed {output!r}")

        def stop() -> None:
            container = containers.get(name)
            container.stop(timeout=10)
            container.reload()
            if container.status != "exited":
                raise RuntimeError(f"{name} is {container.status} after stop")

        return [
            ("create", create),
            ("start", lambda: containers.get(name).start()),
            ("exec", exec_),
            ("stop", stop),
            ("rm", lambda: containers.get(name).remove()),
        ]

    def _clean_up(self, name: str) -> None:
        subprocess.run(self.engine.command("rm", "-f", name), capture_output=True)

    def _monitors(self) -> list[int]:
        """conmon, its exit command and the runtime: processes that name the store, but
        skiff serve (its command line names the store too)."""
        return [p for p in host.processes_naming(self.engine.base) if p != self.serve_pid]

    def sample(self, cycles: int, started: float) -> None:
        """The figures that must not grow, once the monitors of the last cycle are gone."""
        base = self.engine.base
        deadline = time.monotonic() + 5
        while self._monitors() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.samples.append(
            {
                "cycle": cycles,
                "seconds": round(time.monotonic() - started, 1),
                "serve fds": host.open_fds(self.serve_pid),
                "serve RSS (KiB)": _rss_kib(self.serve_pid),
                "serve threads": _threads(self.serve_pid),
                "store mounts": host.mounts_under(base),
                "cgroups": host.cgroups_under(self.cgroup_parent),
                "links": _links(),
                "IP leases": _leases(base),
                "monitor processes": len(self._monitors()),
            }
        )


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least squares: growth of ``ys`` per unit of ``xs``."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def growth(samples: list[dict[str, float]]) -> list[dict[str, Any]]:
    """Per figure: medians of the first and last quarter of the samples, the slope per
    1000 cycles, and whether it grows (see GROWTH_TOLERANCE)."""
    rows = []
    quarter = max(1, len(samples) // 4)
    first, last = samples[:quarter], samples[-quarter:]
    cycles = [s["cycle"] for s in samples]
    for key in samples[0]:
        if key in ("cycle", "seconds"):
            continue
        values = [s[key] for s in samples]
        early, late = [s[key] for s in first], [s[key] for s in last]
        grows = min(late) > max(early) + GROWTH_TOLERANCE.get(key, 0)
        rows.append(
            {
                "figure": key,
                "first": median(early),
                "last": median(late),
                "min": min(values),
                "max": max(values),
                "slope per 1000 cycles": _slope(cycles, values) * 1000,
                "grows": grows,
            }
        )
    return rows


def _table(rows: list[list[str]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def report(summary: dict[str, Any]) -> str:
    """The soak's markdown: what ran, the figures sampled, the operations' latencies."""
    figures = [["figure", "first quarter", "last quarter", "min", "max", "per 1000 cycles", ""]]
    for row in summary["growth"]:
        figures.append(
            [
                row["figure"],
                _number(row["first"]),
                _number(row["last"]),
                _number(row["min"]),
                _number(row["max"]),
                f"{row['slope per 1000 cycles']:+.1f}",
                "GROWS" if row["grows"] else "steady",
            ]
        )
    latencies = [["operation", "count", "median (ms)", "p99 (ms)", "max (ms)"]]
    for label, walls in summary["timings"].items():
        latencies.append(
            [
                label,
                str(len(walls)),
                f"{median(walls):.1f}",
                f"{percentile(walls, 99):.1f}",
                f"{max(walls):.1f}",
            ]
        )
    failures = summary["failures"]
    verdict = "PASS" if not failures and not summary["growing"] else "FAIL"
    lines = [
        f"# {CYCLE_NAME} {summary['date']}: {verdict}",
        "",
        CYCLE_DESCRIPTION + ".",
        "",
        f"- {summary['cycles']} cycles, {summary['operations']} operations in"
        f" {summary['seconds']:.0f} s ({summary['operations'] / summary['seconds']:.1f}"
        f" operations/s), {len(summary['samples'])} samples, one every"
        f" {summary['sample_every']} cycles after {CYCLE_WARMUP} warm-up cycles",
        f"- failed operations: {len(failures)}" + "".join(f"\n  - {f}" for f in failures[:20]),
        f"- growing: {', '.join(summary['growing']) or 'nothing'}",
        f"- left at the end: {summary['left'] or 'nothing'}",
        f"- {summary['machine']}",
        "",
        _table(figures),
        "",
        _table(latencies),
        "",
    ]
    return "\n".join(lines)


def cycle_soak(minutes: float, sample_every: int) -> dict[str, Any]:
    """Run the soak; its summary (what ``report`` renders)."""
    import docker

    from bench.api_latency import _SkiffServe

    cgroup_parent = f"/skiff-bench-cycle-soak-{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="skiff-bench-soak-"))
    try:
        with engines(("skiff",)) as (engine,):
            serve = _SkiffServe(engine, work)
            client = docker.DockerClient(base_url=f"unix://{serve.socket}", timeout=120)
            try:
                soak = _Cycles(engine, client, serve.process.pid, cgroup_parent)
                for number in range(CYCLE_WARMUP):
                    soak.cycle(-1 - number)
                soak.timings.clear()
                warm_failures, soak.failures = soak.failures, []
                soak.operations = 0
                started = time.monotonic()
                soak.sample(0, started)
                deadline = started + minutes * 60
                cycles = 0
                while time.monotonic() < deadline:
                    soak.cycle(cycles)
                    cycles += 1
                    if cycles % sample_every == 0:
                        soak.sample(cycles, started)
                seconds = time.monotonic() - started
                if cycles % sample_every:
                    soak.sample(cycles, started)
                left = subprocess.run(
                    engine.command("ps", "-aq"), capture_output=True, text=True, env=engine.env
                ).stdout.split()
            finally:
                client.close()
                stopped = serve.stop()
    finally:
        host.remove_cgroup(cgroup_parent)
        shutil.rmtree(work, ignore_errors=True)
    rows = growth(soak.samples)
    return {
        "scenario": CYCLE_NAME,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "minutes": minutes,
        "cycles": cycles,
        "operations": soak.operations,
        "seconds": seconds,
        "sample_every": sample_every,
        "failures": warm_failures + soak.failures + ([stopped] if stopped else []),
        "growing": [r["figure"] for r in rows if r["grows"]],
        "left": " ".join(left),
        "growth": rows,
        "samples": soak.samples,
        "timings": soak.timings,
        "machine": f"{engine.description}; {os.cpu_count()} CPUs, Linux {os.uname().release}",
    }


def cycle_main(argv: list[str]) -> int:
    """``python -m bench soak [--minutes M] [--sample-every N]``: 0 if every operation
    succeeded and nothing grew."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m bench soak", description=CYCLE_DESCRIPTION)
    parser.add_argument("--minutes", type=float, default=10, help="how long (default 10)")
    parser.add_argument(
        "--sample-every", type=int, default=10, help="cycles between samples (default 10)"
    )
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.sample_every < 1:
        parser.error("--minutes above 0, --sample-every at least 1")
    summary = cycle_soak(args.minutes, args.sample_every)
    results = Path(__file__).resolve().parent / "results" / "soak"
    results.mkdir(parents=True, exist_ok=True)
    stem = results / time.strftime("%Y-%m-%d-%H%M%S")
    text = report(summary)
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    stem.with_suffix(".md").write_text(text)
    print(text)
    print(f"written: {stem}.json, {stem}.md", file=sys.stderr)
    return 0 if not summary["failures"] and not summary["growing"] else 1
