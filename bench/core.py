"""Measuring: warm-up, alternating counted runs, medians, ratios of medians."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Contender:
    """One engine in a scenario: ``run`` does one measured operation."""

    name: str
    run: Callable[[], None]
    setup: Callable[[], None] = lambda: None
    teardown: Callable[[], None] = lambda: None
    reset: Callable[[], None] = lambda: None  # before each run, not timed


# Peers that could not take part in the scenario running now, with the reason: filled by
# whatever found out (bench.engines, a scenario), read by __main__ into its results, which
# show them as "n/a" rows.
UNAVAILABLE: dict[str, str] = {}


def unavailable(name: str, reason: str) -> None:
    """``name`` cannot run the scenario on this machine, because of ``reason``."""
    UNAVAILABLE[name] = reason


@dataclass
class Result:
    scenario: str
    unit: str
    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    description: str = ""  # of one of several results of a scenario
    unavailable: dict[str, str] = field(default_factory=dict)  # contender -> why

    def medians(self) -> dict[str, float]:
        return {name: statistics.median(values) for name, values in self.samples.items()}

    def ratios(self, baseline: str) -> dict[str, float]:
        medians = self.medians()
        return {name: value / medians[baseline] for name, value in medians.items()}

    def to_dict(self, baseline: str) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "unit": self.unit,
            "samples": self.samples,
            "medians": self.medians(),
            "ratios_to": baseline,
            "ratios": self.ratios(baseline),
            "notes": self.notes,
            "unavailable": self.unavailable,
        }


def measure_wall(scenario: str, contenders: list[Contender], runs: int, warmup: int = 3) -> Result:
    """Wall time in milliseconds of each contender's ``run``, alternating between them."""
    result = Result(scenario, "ms")
    for contender in contenders:
        contender.setup()
    try:
        for _ in range(warmup):
            for contender in contenders:
                contender.reset()
                contender.run()
        for _ in range(runs):
            for contender in contenders:
                contender.reset()
                start = time.perf_counter()
                contender.run()
                elapsed = (time.perf_counter() - start) * 1000
                result.samples.setdefault(contender.name, []).append(elapsed)
    finally:
        for contender in contenders:
            contender.teardown()
    return result
