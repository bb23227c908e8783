"""``build`` of a 10-step Dockerfile on busybox, cold (``--no-cache``: every step runs)
and fully cached (every step from the cache), skiff beside docker's classic builder
(DOCKER_BUILDKIT=0, the builder skiff follows) and podman (buildah)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from functools import partial
from pathlib import Path

from bench.core import Contender, Result, measure_wall, unavailable
from bench.engines import Engine, engines

COLD = "build-cold"
CACHED = "build-cached"
DESCRIPTIONS = {
    COLD: "`build --no-cache` of a 10-step Dockerfile on busybox (3 RUN, 2 COPY; wall time)",
    CACHED: "the same build again, every step cached (wall time)",
}
DOCKERFILE = """\
FROM busybox
ENV APP=/app
WORKDIR /app
COPY a.txt /app/
COPY dir /app/dir/
RUN echo one > /app/one
RUN mkdir -p /app/data && echo two > /app/data/two
RUN rm /app/a.txt
ARG V=1
LABEL version=$V
"""


def _context(work: Path) -> Path:
    context = work / "context"
    (context / "dir" / "sub").mkdir(parents=True)
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "a.txt").write_text("a\n")
    for i in range(20):
        (context / "dir" / "sub" / f"f{i}").write_bytes(os.urandom(4096))
    return context


def _build(engine: Engine, context: Path, no_cache: bool) -> None:
    env = {**engine.env, "DOCKER_BUILDKIT": "0"}
    args = ["build", "--network", "none", "-t", "bench-build:latest", str(context)]
    if no_cache:
        args.insert(1, "--no-cache")
    done = subprocess.run(
        engine.command(*args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"{engine.name} build: {message[-1] if message else done.returncode}")


def run_scenario(name: str, runs: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="skiff-bench-build-") as work, engines() as found:
        context = _context(Path(work))
        usable = []
        for engine in found:
            try:
                _build(engine, context, no_cache=True)  # the cache filled, the base in place
            except RuntimeError as e:
                unavailable(engine.name, str(e))
                continue
            usable.append(engine)
        contenders = [Contender(e.name, partial(_build, e, context, name == COLD)) for e in usable]
        result = measure_wall(name, contenders, runs, warmup=1)
        result.notes += [e.description for e in usable]
        medians = result.medians()
        if "docker" in medians:
            ratio = medians["skiff"] / medians["docker"]
            goal = 1.0 if name == COLD else 0.5
            met = "met" if ratio <= goal else "missed"
            result.notes.append(
                f"skiff: {ratio:.2f}x docker's median (goal at most {goal}x: {met})"
            )
        return result
