"""``skiff compare IMAGE [COMMAND...]``: the same image as a container and as a VM, side by
side, on this machine.

Three figures for each: start-up (``skiff run --rm`` from its start to the workload's
first output, or to its end if it prints nothing: the median of ``--runs``), host memory
per running instance (the PSS of every process skiff keeps for one instance running
``sleep``: conmon and the container's processes, or conmon, skiff-vm's shim and QEMU),
and how many such instances fit in a memory budget. A table on the terminal, a PNG chart,
and the accelerator the VM had (KVM, or TCG and why).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from skiff.cli.main import Command, CommandFailed
from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.cli.main import Invocation, Options, Parser, Registry

MODES = {"container": (), "vm": ("--runtime", "vm")}
IDLE = ("sleep", "3600")  # what a measured instance runs


@dataclass
class Figures:
    startup_ms: list[float]
    pss_kib: int

    @property
    def median_ms(self) -> float:
        import statistics

        return statistics.median(self.startup_ms)


def _setup(p: Parser) -> None:
    p.flag("-n", "--runs", kind="string", default="3", help="Start-ups to time in each mode")
    p.flag(
        "--budget",
        kind="string",
        help="Memory budget for the instances that fit (default: the host's available memory)",
    )
    p.flag("--chart", kind="string", default="skiff-compare.png", help="Where to write the chart")


def _skiff() -> str:
    """The skiff command this one was started as (its launcher sits beside its Python)."""
    beside = os.path.join(os.path.dirname(sys.executable), "skiff")
    return beside if os.access(beside, os.X_OK) else "skiff"


def startup_ms(mode: tuple[str, ...], image: str, command: list[str]) -> float:
    """Milliseconds from ``skiff run --rm`` to its first byte of output (or its end)."""
    import subprocess
    import time

    started = time.monotonic()
    process = subprocess.Popen(
        [_skiff(), "run", "--rm", *mode, image, *command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    process.stdout.read(1)
    elapsed = (time.monotonic() - started) * 1000
    _, err = process.communicate()
    if process.returncode != 0:
        detail = err.decode(errors="replace").strip().splitlines()
        raise CommandFailed(
            f"skiff run {' '.join([*mode, image, *command])} exited {process.returncode}: "
            f"{detail[-1] if detail else 'no message'}",
            1,
        )
    return elapsed


def instance_pss_kib(mode: tuple[str, ...], image: str) -> int:
    """KiB of host memory (PSS) one running instance costs, measured while it runs IDLE."""
    import subprocess
    import time

    run = subprocess.run(
        [_skiff(), "run", "-d", *mode, image, *IDLE], capture_output=True, text=True
    )
    if run.returncode != 0:
        raise CommandFailed(f"cannot start an instance to measure: {run.stderr.strip()}", 1)
    container_id = run.stdout.strip()
    try:
        inspect = subprocess.run(
            [_skiff(), "inspect", "-f", "{{.State.Pid}}", container_id],
            capture_output=True,
            text=True,
            check=True,
        )
        time.sleep(1)  # let the instance settle: a guest is still touching its first pages
        monitor = _parent(int(inspect.stdout.strip()))
        return sum(_pss(pid) for pid in [monitor, *_descendants(monitor)])
    finally:
        subprocess.run([_skiff(), "rm", "-f", container_id], capture_output=True)


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                children.setdefault(_parent(int(name)), []).append(int(name))
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _available_kib() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def _compare(inv: Invocation, opts: Options) -> int:
    from skiff.engine.engine import Engine
    from skiff.engine.options import ram_in_bytes

    image, command = opts.args[0], list(opts.args[1:])
    if not opts.runs.isdigit() or int(opts.runs) < 1:
        raise CommandFailed(f'invalid argument "{opts.runs}" for "-n, --runs": not a count', 125)
    runs = int(opts.runs)
    try:
        budget_kib = ram_in_bytes(opts.budget) // 1024 if opts.budget else _available_kib()
    except InvalidArgument as e:
        raise CommandFailed(f'invalid argument "{opts.budget}" for "--budget": {e}', 125) from None
    accel, why = Engine(inv.paths).vm_accelerator()
    # the skiff commands it runs use this one's store
    os.environ["SKIFF_ROOT"], os.environ["SKIFF_RUNROOT"] = inv.paths.root, inv.paths.runroot
    results: dict[str, Figures] = {}
    for name, mode in MODES.items():
        sys.stderr.write(f"timing {runs} start-ups as a {name}...\n")
        startups = [startup_ms(mode, image, command) for _ in range(runs)]
        sys.stderr.write(f"measuring the memory of a running {name}...\n")
        results[name] = Figures(startups, instance_pss_kib(mode, image))
    _table(results, budget_kib, accel, why, image, command)
    _chart(results, budget_kib, accel, opts.chart, image, command)
    sys.stdout.write(f"chart: {opts.chart}\n")
    return 0


def _rows(results: dict[str, Figures], budget_kib: int) -> list[tuple[str, str, str, str]]:
    container, vm = results["container"], results["vm"]

    def fits(figures: Figures) -> int:
        return budget_kib // max(1, figures.pss_kib)

    return [
        (
            "start-up, median (ms)",
            f"{container.median_ms:.0f}",
            f"{vm.median_ms:.0f}",
            f"{vm.median_ms / container.median_ms:.1f}x",
        ),
        (
            "host memory per instance (MiB, PSS)",
            f"{container.pss_kib / 1024:.1f}",
            f"{vm.pss_kib / 1024:.1f}",
            f"{vm.pss_kib / max(1, container.pss_kib):.1f}x",
        ),
        (
            f"instances in {budget_kib / 1024 / 1024:.1f} GiB",
            str(fits(container)),
            str(fits(vm)),
            f"{fits(vm) / max(1, fits(container)):.2f}x",
        ),
    ]


def _table(
    results: dict[str, Figures],
    budget_kib: int,
    accel: str,
    why: str,
    image: str,
    command: list[str],
) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"skiff compare {' '.join([image, *command])}")
    for heading in ("", "container", "vm", "vm / container"):
        table.add_column(heading, justify="left" if not heading else "right")
    for row in _rows(results, budget_kib):
        table.add_row(*row)
    console = Console()
    console.print(table)
    console.print(f"VM acceleration: {accel.upper()} ({why})")


def _chart(
    results: dict[str, Figures],
    budget_kib: int,
    accel: str,
    path: str,
    image: str,
    command: list[str],
) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CommandFailed("the chart needs matplotlib: pip install matplotlib", 1) from None
    names = list(results)
    colours = ["#2a7ab0", "#c0504d"]
    panels = [
        ("start-up (ms, median)", [results[n].median_ms for n in names]),
        ("host memory per instance (MiB PSS)", [results[n].pss_kib / 1024 for n in names]),
        (
            f"instances in {budget_kib / 1024 / 1024:.1f} GiB",
            [budget_kib // max(1, results[n].pss_kib) for n in names],
        ),
    ]
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.8))
    for axis, (title, values) in zip(axes, panels, strict=True):
        bars = axis.bar(names, values, color=colours)
        axis.bar_label(bars, fmt="%.0f")
        axis.set_title(title, fontsize=10)
        axis.margins(y=0.2)
    figure.suptitle(
        f"skiff compare {' '.join([image, *command])}: container vs VM ({accel.upper()}), "
        f"{os.cpu_count()} CPUs"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def register(registry: Registry) -> None:
    registry.add(
        Command(
            "compare",
            "Run an image as a container and as a VM, and compare start-up and memory",
            "[OPTIONS] IMAGE [COMMAND] [ARG...]",
            _setup,
            _compare,
            (1, None),
            interspersed=False,
        )
    )
