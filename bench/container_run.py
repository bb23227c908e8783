"""``run --rm --network none busybox true``: one at a time (median wall) and 50 at once
(p50 and p99 of their walls), skiff beside docker and podman."""

from __future__ import annotations

from functools import partial

from bench.core import Contender, Result, measure_wall
from bench.engines import Engine, engines
from bench.stats import percentile

RUN_RM = "run-rm"
PARALLEL = "run-rm-parallel"
DESCRIPTIONS = {
    RUN_RM: "`run --rm --network none busybox true`, one at a time (wall time)",
    PARALLEL: "50 `run --rm --network none busybox true` started at once (wall time of each)",
}
ARGS = ("run", "--rm", "--network", "none", "busybox", "true")
AT_ONCE = 50


def _goal(met: bool) -> str:
    return "met" if met else "missed"


def run_rm(runs: int) -> Result:
    with engines() as found:
        contenders = [Contender(e.name, partial(e.attempt, *ARGS)) for e in found]
        result = measure_wall(RUN_RM, contenders, runs)
        for engine in found:
            result.notes += engine.failure_notes(len(result.samples[engine.name]))
        medians = result.medians()
        result.notes += [e.description for e in found]
        goals = []
        if "podman" in medians:
            to_podman = medians["skiff"] / medians["podman"]
            goals.append(
                f"{to_podman:.2f}x podman's median (goal at most 0.5x: {_goal(to_podman <= 0.5)})"
            )
        if "docker" in medians:
            to_docker = medians["skiff"] / medians["docker"]
            goals.append(
                f"{to_docker:.2f}x docker's (goal at most 0.25x: {_goal(to_docker <= 0.25)})"
            )
        if goals:
            result.notes.append("skiff: " + ", ".join(goals))
        return result


def _batch(engine: Engine) -> list[float]:
    return engine.launch_together(*ARGS, count=AT_ONCE)


def run_rm_parallel(rounds: int) -> Result:
    """``rounds`` batches of 50 per engine, the engines taking turns; the walls of all."""
    result = Result(PARALLEL, "ms")
    with engines() as found:
        for engine in found:
            engine.check(*ARGS)  # warm-up
        for _ in range(rounds):
            for engine in found:
                result.samples.setdefault(engine.name, []).extend(_batch(engine))
        result.notes += [e.description for e in found]
        for engine in found:
            result.notes += engine.failure_notes(len(result.samples[engine.name]))
    for name, walls in result.samples.items():
        p50, p99 = percentile(walls, 50), percentile(walls, 99)
        goal = f" (goal at most 3x: {_goal(p99 <= 3 * p50)})" if name == "skiff" else ""
        result.notes.append(
            f"{name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(walls):.1f} ms:"
            f" p99 is {p99 / p50:.2f}x p50{goal}"
        )
    result.notes.append(f"{rounds} rounds of {AT_ONCE} per engine, the engines taking turns")
    return result
