"""Container-to-container TCP throughput on each engine's default bridge: iperf3 (Debian's,
with its libraries, in an image of its own) from one container to another, skiff beside
docker (its own dockerd with its bridge and iptables rules) and podman. Reported as the
time to move 1 GiB (lower is better, as in every table here), from iperf3's own count of
what the server received."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.core import Result, unavailable
from bench.engines import Engine, engines
from skiff.runtime.demo import busybox_rootfs

NAME = "network-throughput"
DESCRIPTION = (
    "iperf3 between two containers on the default bridge, 3 s a run:"
    " milliseconds to move 1 GiB (from the server's count)"
)
IMAGE = "bench-iperf:latest"
SERVER = "bench-iperf-server"
SECONDS = 3


def _image_tar(work: Path) -> Path:
    """busybox, iperf3 and the libraries it loads (``ldd``), at the host's paths."""
    iperf3 = shutil.which("iperf3")
    if iperf3 is None:
        raise RuntimeError("iperf3 is not installed (Debian's iperf3 package)")
    rootfs = work / "rootfs"
    busybox_rootfs(str(rootfs))
    libraries = subprocess.run(["ldd", iperf3], capture_output=True, text=True, check=True)
    files = [iperf3] + [
        word
        for line in libraries.stdout.splitlines()
        for word in line.split()
        if word.startswith("/")
    ]
    for path in files:
        target = rootfs / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(path), target)
    tar = work / "iperf.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tar), "."], check=True)
    shutil.rmtree(rootfs)
    return tar


def _output(engine: Engine, *args: str) -> str:
    done = subprocess.run(engine.command(*args), env=engine.env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise RuntimeError(f"{engine.name} {args[0]}: {lines[-1] if lines else done.returncode}")
    return done.stdout


def _server_address(engine: Engine) -> str:
    address = _output(engine, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", SERVER).strip()
    if not address:
        raise RuntimeError(f"{engine.name}: the server container has no bridge address")
    return address


def _measure(engine: Engine, address: str) -> float:
    """One iperf3 run; milliseconds per GiB."""
    report = json.loads(
        _output(engine, "run", "--rm", IMAGE, "/usr/bin/iperf3", "-c", address,
                "-t", str(SECONDS), "-J")
    )  # fmt: skip
    bits = report["end"]["sum_received"]["bits_per_second"]
    return (8 << 30) / bits * 1000


def run(runs: int) -> Result:
    result = Result(NAME, "ms")
    with tempfile.TemporaryDirectory(prefix="skiff-bench-iperf-") as work:
        tar = _image_tar(Path(work))
        with engines(bridge=True) as found:
            ready: list[tuple[Engine, str]] = []
            for engine in found:
                try:
                    engine.check("import", str(tar), IMAGE)
                    engine.check("run", "-d", "--name", SERVER, IMAGE, "/usr/bin/iperf3", "-s")
                    address = _server_address(engine)
                    _measure(engine, address)  # the warm-up
                except RuntimeError as e:
                    unavailable(engine.name, str(e))
                    continue
                ready.append((engine, address))
            for _ in range(runs):
                for engine, address in ready:
                    result.samples.setdefault(engine.name, []).append(_measure(engine, address))
            for engine in found:
                engine.attempt(*engine.force_remove, SERVER)
            result.notes += [e.description for e, _ in ready]
    medians = result.medians()
    result.notes.append(
        "throughput: "
        + ", ".join(f"{name} {8 * 1000 / ms:.1f} Gbit/s" for name, ms in medians.items())
    )
    return result
