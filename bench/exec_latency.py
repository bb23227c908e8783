"""``exec CONTAINER true`` in a running container, skiff beside docker and podman: the wall
time of each, the engines taking turns."""

from __future__ import annotations

from functools import partial

from bench.core import Contender, Result, measure_wall
from bench.engines import engines

NAME = "exec"
DESCRIPTION = "`exec CONTAINER true` in a running `sleep` container (wall time)"
CONTAINER = "skiff-bench-exec"


def run(runs: int) -> Result:
    with engines() as found:
        for engine in found:
            engine.check(
                "run", "-d", "--name", CONTAINER, "--network", "none", "busybox", "sleep", "3600"
            )
        try:
            contenders = [
                Contender(e.name, partial(e.attempt, "exec", CONTAINER, "true")) for e in found
            ]
            result = measure_wall(NAME, contenders, runs)
        finally:
            for engine in found:
                engine.attempt(*engine.force_remove, CONTAINER)
        for engine in found:
            result.notes += engine.failure_notes(len(result.samples[engine.name]))
        result.notes += [e.description for e in found]
        return result
