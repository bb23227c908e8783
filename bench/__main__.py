"""``python -m bench [--scenario NAME] [--runs N]``: run scenarios, write results and report.

Results go to bench/results/DATE.json; docs/benchmarks.md gets a table per scenario and a
plot (bench/results/DATE-SCENARIO.png) of the medians.

``python -m bench soak [--minutes M]`` runs the bounded soak of container cycles alone
(bench.soak.cycle_main): it is no scenario of the full run, and writes its own report to
bench/results/soak/.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench import (
    api_latency,
    build,
    container_run,
    container_vs_vm,
    core,
    cri_pod,
    density,
    exec_latency,
    image_archive,
    logs_follow,
    logs_since,
    network_run,
    network_throughput,
    registry_transfer,
    runtime_run,
    soak,
)
from bench.core import Result

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
REPORT = ROOT / "docs" / "benchmarks.md"

# name -> (run(runs), description, the contender the others are compared to, default runs).
# A scenario may give several results (each its own table; its description, if it has one).
SCENARIOS: dict[str, tuple[Callable[[int], Result | list[Result]], str, str, int]] = {
    runtime_run.NAME: (runtime_run.run, runtime_run.DESCRIPTION, "runc", 30),
    # runs: pods started over the CRI per server; four results (the three calls, each call)
    cri_pod.NAME: (cri_pod.run, cri_pod.DESCRIPTION, "containerd", 20),
    container_run.RUN_RM: (
        container_run.run_rm,
        container_run.DESCRIPTIONS[container_run.RUN_RM],
        "docker",
        30,
    ),
    # runs: rounds of 50 at once
    container_run.PARALLEL: (
        container_run.run_rm_parallel,
        container_run.DESCRIPTIONS[container_run.PARALLEL],
        "docker",
        3,
    ),
    network_run.NAME: (network_run.run, network_run.DESCRIPTION, "docker", 20),
    # two results (start-up and memory); the VM boots in seconds under TCG
    container_vs_vm.STARTUP: (
        container_vs_vm.run,
        container_vs_vm.DESCRIPTIONS[container_vs_vm.STARTUP],
        "container",
        5,
    ),
    # runs: 3-second iperf3 runs between two containers, each engine
    network_throughput.NAME: (
        network_throughput.run,
        network_throughput.DESCRIPTION,
        "docker",
        5,
    ),
    exec_latency.NAME: (exec_latency.run, exec_latency.DESCRIPTION, "docker", 30),
    # runs: `ps` runs with the 200 containers running
    density.MEMORY: (density.run, density.DESCRIPTIONS[density.MEMORY], "docker", 10),
    # runs: `run --rm` in a row (the 10,000: RUNS=10000)
    soak.NAME: (soak.run, soak.DESCRIPTION, "skiff", 1000),
    # runs: `run -d` of a 100 MiB writer and `logs -f` to its end, each engine
    logs_follow.NAME: (logs_follow.run, logs_follow.DESCRIPTION, "docker", 5),
    # runs: `logs --since 1m` of the 1 GiB log, each engine
    logs_since.NAME: (logs_since.run, logs_since.DESCRIPTION, "docker", 5),
    # runs: `docker ps` against each engine's socket
    api_latency.PS: (
        partial(api_latency.run_scenario, api_latency.PS),
        api_latency.DESCRIPTIONS[api_latency.PS],
        "docker",
        20,
    ),
    # runs: rounds of 50 clients x api_latency.REQUESTS requests
    api_latency.LIST: (
        partial(api_latency.run_scenario, api_latency.LIST),
        api_latency.DESCRIPTIONS[api_latency.LIST],
        "docker",
        7,
    ),
    **{
        name: (partial(image_archive.run_scenario, name), description, "docker", 7)
        for name, description in image_archive.DESCRIPTIONS.items()
    },
    **{
        name: (partial(registry_transfer.run_scenario, name), description, "docker", 7)
        for name, description in registry_transfer.DESCRIPTIONS.items()
    },
    **{
        name: (partial(build.run_scenario, name), description, "docker", 7)
        for name, description in build.DESCRIPTIONS.items()
    },
}


def _version(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return "not installed"
    return out.strip().splitlines()[0] if out.strip() else "unknown"


def machine() -> dict[str, str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        memory = f.readline().split()[1]
    return {
        "kernel": platform.release(),
        "cpu": cpu,
        "cpus": str(len(__import__("os").sched_getaffinity(0))),
        "memory_gib": f"{int(memory) / 1024 / 1024:.0f}",
        "python": platform.python_version(),
        "skiff-runtime": _version(["skiff-runtime", "--version"]),
        "runc": _version(["runc", "--version"]),
        "crun": _version(["crun", "--version"]),
    }


def _figure(value: float) -> str:
    """One decimal, two below 10 (memory per container in MiB)."""
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def plot(result: Result, baseline: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    medians = result.medians()
    names = list(medians)
    fig, ax = plt.subplots(figsize=(6, 0.6 + 0.5 * len(names)))
    ax.barh(
        names,
        [medians[n] for n in names],
        color=["#2a7ab9" if n.startswith("skiff") else "#999999" for n in names],
    )
    for i, name in enumerate(names):
        ax.text(medians[name], i, f" {_figure(medians[name])} {result.unit}", va="center")
    ax.set_xlabel(f"median {result.unit} (lower is better)")
    ax.set_title(result.scenario)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def render(report: dict, stamp: str) -> str:
    m = report["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Produced by `make bench` (`python -m bench`): every scenario runs its contenders",
        "alternately, after a warm-up, and compares medians. Lower is better; the ratio is",
        "each median over the baseline's.",
        "",
        f"Latest run: {stamp}, on {m['cpu']} ({m['cpus']} CPUs, {m['memory_gib']} GiB),",
        f"Linux {m['kernel']}, Python {m['python']}; {m['skiff-runtime']}, {m['runc']},",
        f"{m['crun']}.",
        "",
    ]
    for entry in report["scenarios"]:
        name = entry["scenario"]
        lines += [f"## {name}", "", f"{entry['description']} (run {entry['date']})", ""]
        lines += [
            f"| contender | median ({entry['unit']}) | ratio to {entry['ratios_to']} | runs |"
        ]
        lines += ["|---|---:|---:|---:|"]
        for contender, median in entry["medians"].items():
            runs = len(entry["samples"][contender])
            lines.append(
                f"| {contender} | {_figure(median)} | {entry['ratios'][contender]:.2f} | {runs} |"
            )
        for contender in entry.get("unavailable", {}):
            lines.append(f"| {contender} | n/a | n/a | 0 |")
        lines.append("")
        for contender, reason in entry.get("unavailable", {}).items():
            lines.append(f"- {contender}: n/a, {reason}")
        for note in entry["notes"]:
            lines.append(f"- {note}")
        if entry["notes"]:
            lines.append("")
        lines += [f"![{name}](../bench/results/{entry['plot']})", ""]
    return "\n".join(lines)


def _latest_entries() -> list[dict[str, Any]]:
    files = sorted(RESULTS.glob("*.json"))
    if not files:
        return []
    report = json.loads(files[-1].read_text())
    return [{**e, "date": e.get("date", report["date"])} for e in report["scenarios"]]


def main() -> int:
    if sys.argv[1:2] == ["soak"]:
        return soak.cycle_main(sys.argv[2:])
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    parser.add_argument(
        "--runs", type=int, help="counted runs per contender (>= 5), or what SCENARIOS says"
    )
    args = parser.parse_args()
    if args.runs is not None and args.runs < 5:
        parser.error("--runs: at least 5 counted runs")
    stamp = time.strftime("%Y-%m-%d")
    RESULTS.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"date": stamp, "machine": machine(), "scenarios": []}
    wanted = args.scenario or sorted(SCENARIOS)
    produced = set()
    for name in wanted:
        run, description, baseline, default_runs = SCENARIOS[name]
        print(f"{name}: running", file=sys.stderr)
        core.UNAVAILABLE.clear()
        outcome = run(args.runs or default_runs)
        for result in outcome if isinstance(outcome, list) else [outcome]:
            for peer, reason in core.UNAVAILABLE.items():
                if peer not in result.samples:
                    result.unavailable.setdefault(peer, reason)
            entry = result.to_dict(baseline)
            entry["description"] = result.description or description
            entry["date"] = stamp
            entry["plot"] = f"{stamp}-{result.scenario}.png"
            plot(result, baseline, RESULTS / entry["plot"])
            report["scenarios"].append(entry)
            produced.add(result.scenario)
            print(f" {result.scenario}:", file=sys.stderr)
            for contender, median in result.medians().items():
                ratio = entry["ratios"][contender]
                line = f"  {contender}: {_figure(median)} {result.unit} ({ratio:.2f}x {baseline})"
                print(line, file=sys.stderr)
            for contender, reason in result.unavailable.items():
                print(f"  {contender}: n/a ({reason})", file=sys.stderr)
    # Scenarios not run this time keep their latest figures (each entry carries its date).
    for entry in _latest_entries():
        if entry["scenario"] not in produced:
            report["scenarios"].append(entry)
    report["scenarios"].sort(key=lambda e: e["scenario"])
    (RESULTS / f"{stamp}.json").write_text(json.dumps(report, indent=1))
    REPORT.write_text(render(report, stamp))
    print(summary([e for e in report["scenarios"] if e["scenario"] in produced]))
    return 0


def summary(entries: list[dict[str, Any]]) -> str:
    """The scenarios just run, one row per contender: median and ratio (n/a: why not)."""
    rows = [("scenario", "contender", "median", "ratio")]
    for entry in entries:
        for contender, median in entry["medians"].items():
            ratio = f"{entry['ratios'][contender]:.2f}x {entry['ratios_to']}"
            rows.append((entry["scenario"], contender, f"{_figure(median)} {entry['unit']}", ratio))
        for contender, reason in entry.get("unavailable", {}).items():
            rows.append((entry["scenario"], contender, "n/a", reason[:60]))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


if __name__ == "__main__":
    sys.exit(main())
