"""``run --rm busybox true`` on each engine's default bridge network beside the same run
with ``--network none``: what the bridge adds (a veth, an address lease, firewall and NAT
rules, and their removal). Docker here is its own dockerd with its iptables rules and
bridge, as users run it."""

from __future__ import annotations

from functools import partial

from bench.core import Contender, Result, measure_wall
from bench.engines import engines

NAME = "run-rm-bridge"
DESCRIPTION = (
    "extra wall time of `run --rm busybox true` on the default bridge over `--network none`"
    " (the median of paired differences, one pair per run)"
)
NONE = ("run", "--rm", "--network", "none", "busybox", "true")
BRIDGE = ("run", "--rm", "busybox", "true")


def run(runs: int) -> Result:
    with engines(bridge=True) as found:
        contenders = []
        for engine in found:
            contenders.append(Contender(f"{engine.name} none", partial(engine.attempt, *NONE)))
            contenders.append(Contender(f"{engine.name} bridge", partial(engine.attempt, *BRIDGE)))
        walls = measure_wall(NAME, contenders, runs)
        result = Result(NAME, "ms")
        for engine in found:
            none, bridge = (
                walls.samples[f"{engine.name} none"],
                walls.samples[f"{engine.name} bridge"],
            )
            result.samples[engine.name] = [b - n for b, n in zip(bridge, none, strict=True)]
            result.notes += engine.failure_notes(2 * runs)
        medians = walls.medians()
        result.notes += [
            f"{e.name}: median {medians[f'{e.name} none']:.1f} ms with --network none,"
            f" {medians[f'{e.name} bridge']:.1f} ms on the bridge"
            for e in found
        ]
        result.notes += [e.description for e in found]
        extra = result.medians()
        met = all(extra["skiff"] < extra[peer] for peer in ("docker", "podman"))
        result.notes.append(
            f"skiff's bridge adds {extra['skiff']:.1f} ms, docker's {extra['docker']:.1f},"
            f" podman's {extra['podman']:.1f} (goal below both: {'met' if met else 'missed'})"
        )
        return result
