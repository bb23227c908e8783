"""``logs -f`` of a container that writes 100 MiB: from ``run -d`` until ``logs -f`` has
given every byte and ended with the container, skiff beside docker and podman. Each
engine's monitor writes the log (conmon's k8s-file, dockerd's json-file) while the
follower reads it."""

from __future__ import annotations

import subprocess
from functools import partial

from bench.core import Contender, Result, measure_wall, unavailable
from bench.engines import Engine, engines

NAME = "logs-follow"
DESCRIPTION = "`run -d` of a container writing 100 MiB to stdout, then `logs -f` until it ends"
SIZE = 100 << 20
LINE = "x" * 99  # with its newline, 100 bytes a line
SCRIPT = f"yes {LINE} | head -c {SIZE}"
CONTAINER = "bench-logger"


def _follow(engine: Engine) -> None:
    """Start the writer, follow its log to the end; RuntimeError unless all came."""
    engine.check(
        "run", "-d", "--network", "none", "--name", CONTAINER, "busybox", "sh", "-c", SCRIPT
    )
    follower = subprocess.Popen(
        engine.command("logs", "-f", CONTAINER), env=engine.env, stdout=subprocess.PIPE
    )
    assert follower.stdout is not None
    received = 0
    while chunk := follower.stdout.read1(1 << 20):
        received += len(chunk)
    follower.wait()
    if received != SIZE:
        raise RuntimeError(f"{engine.name} logs -f gave {received} bytes, not {SIZE}")


def _remove(engine: Engine) -> None:
    engine.attempt(*engine.force_remove, CONTAINER)


def run(runs: int) -> Result:
    with engines() as found:
        usable = []
        for engine in found:  # a probe, and the warm-up
            try:
                _follow(engine)
            except RuntimeError as e:
                unavailable(engine.name, str(e))
                continue
            finally:
                _remove(engine)
            usable.append(engine)
        contenders = [
            Contender(e.name, partial(_follow, e), reset=partial(_remove, e)) for e in usable
        ]
        result = measure_wall(NAME, contenders, runs, warmup=0)
        for engine in found:
            _remove(engine)
        result.notes += [e.description for e in usable]
        medians = result.medians()
        result.notes.append(
            "throughput: "
            + ", ".join(
                f"{n} {SIZE / (1 << 20) / (m / 1000):.0f} MiB/s" for n, m in medians.items()
            )
        )
        return result
