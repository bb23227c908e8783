"""200 detached ``sleep`` containers per engine, one engine at a time: how long they take
to start, what each costs the host outside the container, and ``ps`` with all running.

The per-container host processes are those that appeared while the containers started,
live in the host's pid namespace (not a container's) and name the engine's state
directory: conmon for skiff and podman, containerd-shim-runc-v2 for docker. Their
proportional set size (PSS: pages shared by several processes are divided among them) is
the memory they cost. The daemons' growth (dockerd, containerd) is reported beside it, and
the drop of MemAvailable, which also counts the containers' own memory and the kernel's
(namespaces, cgroups, mounts), as a second figure.
"""

from __future__ import annotations

import time
from collections import Counter

from bench import host
from bench.core import Result
from bench.engines import Engine, engines

MEMORY = "density"
START = "density-start"
PS = "density-ps"
CONTAINERS = 200
DESCRIPTIONS = {
    MEMORY: f"host memory per running container outside it (PSS of monitor or shim),"
    f" {CONTAINERS} detached `sleep` containers",
    START: f"`run -d --network none busybox sleep`, {CONTAINERS} in a row (wall time of each)",
    PS: f"`ps` with {CONTAINERS} running containers (wall time)",
}
MIB = 1 << 20
GONE_WITHIN = 60  # seconds for the monitors and shims to go after `rm -f`


def _timed(engine: Engine, *args: str) -> float:
    start = time.perf_counter()
    engine.check(*args)
    return (time.perf_counter() - start) * 1000


def _wait_gone(pids: list[int]) -> list[int]:
    deadline = time.monotonic() + GONE_WITHIN
    while (alive := [p for p in pids if host.cmdline(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def _one_engine(engine: Engine, count: int, ps_runs: int, results: dict[str, Result]) -> None:
    before = host.pids()
    daemons = host.processes_naming(engine.base, before)
    daemons_before = sum(host.memory(p) for p in daemons)
    available_before = host.mem_available()
    names = [f"density-{i}" for i in range(count)]
    starts = results[START].samples.setdefault(engine.name, [])
    for name in names:
        starts.append(
            _timed(
                engine, "run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "1d"
            )
        )
    time.sleep(2)  # let the last monitors settle
    monitors = host.processes_naming(engine.base, host.pids() - before)
    monitor_pss = sum(host.memory(p) for p in monitors)
    monitor_rss = sum(host.memory(p, "Rss") for p in monitors)
    available_after = host.mem_available()
    daemons_after = sum(host.memory(p) for p in daemons)
    results[MEMORY].samples[engine.name] = [monitor_pss / count / MIB]
    kinds = ", ".join(f"{n} x {k}" for k, n in Counter(host.name(p) for p in monitors).items())
    results[MEMORY].notes.append(
        f"{engine.name}: per-container host processes {kinds or 'none'}:"
        f" PSS {monitor_pss / count / 1024:.0f} KiB per container"
        f" (RSS {monitor_rss / count / 1024:.0f} KiB);"
        f" daemons {(daemons_after - daemons_before) / count / 1024:+.0f} KiB per container;"
        f" MemAvailable {(available_before - available_after) / count / 1024:.0f} KiB less"
        " per container (containers and kernel included)"
    )
    results[START].notes.append(f"{engine.name}: all {count} started in {sum(starts) / 1000:.1f} s")
    if engine.supports("ps"):
        engine.check("ps")  # warm-up
        results[PS].samples[engine.name] = [_timed(engine, "ps") for _ in range(ps_runs)]
    else:
        results[PS].notes.append(f"{engine.name}: no `ps` command yet")
    removal = sum(
        _timed(engine, *engine.force_remove, *names[i : i + 50]) for i in range(0, count, 50)
    )
    left = _wait_gone(monitors)
    results[START].notes.append(
        f"{engine.name}: `rm -f` of all {count} (50 per command) took {removal / 1000:.1f} s"
        + (f"; {len(left)} monitors still alive {GONE_WITHIN} s later" if left else "")
    )


def run(ps_runs: int, containers: int = CONTAINERS) -> list[Result]:
    results = {
        name: Result(name, unit, description=DESCRIPTIONS[name])
        for name, unit in ((MEMORY, "MiB"), (START, "ms"), (PS, "ms"))
    }
    with engines() as found:
        for engine in found:
            _one_engine(engine, containers, ps_runs, results)
        results[MEMORY].notes += [e.description for e in found]
    results[MEMORY].notes.append(
        "PSS divides a page shared by several processes among them; RSS counts it for each."
        " MemAvailable is the whole host's, moved by anything else it does meanwhile: a rough"
        " second figure"
    )
    memory = results[MEMORY].medians()
    if "skiff" in memory:
        met = "met" if memory["skiff"] <= 1 else "missed"
        results[MEMORY].notes.append(f"goal: skiff at most 1 MiB per container: {met}")
    ps = results[PS].medians()
    if "skiff" in ps and "docker" in ps:
        met = "met" if ps["skiff"] <= ps["docker"] else "missed"
        results[PS].notes.append(f"goal: skiff's median at most docker's: {met}")
    return [results[MEMORY], results[START], results[PS]]
