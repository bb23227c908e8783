"""Loading and saving a ~500 MiB, 8-layer image: skiff, docker, and plain tar (the floor)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from bench.core import Contender, Result, measure_wall
from bench.imagegen import docker_archive
from bench.peers import Dockerd

LOAD = "image-load"
SAVE = "image-save"
DESCRIPTIONS = {
    LOAD: "load and unpack a 514 MiB, 8-layer docker-archive (many small files, a few big ones)",
    SAVE: "save that image as a docker-archive",
}
TAG = "bench/image:latest"


def _skiff(root: Path, *args: str) -> list[str]:
    return ["skiff", "--root", str(root / "root"), "--runroot", str(root / "run"), *args]


def _quiet(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _layer_members(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return [m.name for m in tar.getmembers() if m.name.endswith("layer.tar")]


def run_scenario(name: str, runs: int) -> Result:
    work = Path(tempfile.mkdtemp(prefix="skiff-bench-images-"))
    dockerd = Dockerd()
    try:
        archive = docker_archive(work)
        skiff_root = work / "skiff"
        tar_dir = work / "tar"
        out = work / "out.tar"
        members = _layer_members(archive)

        def skiff_reset() -> None:
            subprocess.run(_skiff(skiff_root, "rmi", "-f", TAG), capture_output=True)
            _quiet(_skiff(skiff_root, "image", "prune", "-a", "-f"))

        def docker_reset() -> None:
            dockerd.docker("rmi", "-f", TAG, check=False)

        layer_tars = work / "layer-tars"
        layer_tars.mkdir()
        _quiet(["tar", "-xf", str(archive), "-C", str(layer_tars)])

        def tar_reset() -> None:
            shutil.rmtree(tar_dir, ignore_errors=True)
            tar_dir.mkdir()

        def tar_load() -> None:
            """The floor: GNU tar unpacking each layer tar (taken out of the archive beforehand)."""
            for i, member in enumerate(members):
                target = tar_dir / str(i)
                target.mkdir()
                _quiet(["tar", "-xf", str(layer_tars / member), "-C", str(target)])

        if name == LOAD:
            contenders = [
                Contender(
                    "skiff",
                    lambda: _quiet(_skiff(skiff_root, "load", "-q", "-i", str(archive))),
                    reset=skiff_reset,
                ),
                Contender(
                    "docker",
                    lambda: _quiet(dockerd.command("load", "-q", "-i", str(archive))),
                    reset=docker_reset,
                ),
                Contender("tar -x", tar_load, reset=tar_reset),
            ]
        else:
            _quiet(_skiff(skiff_root, "load", "-q", "-i", str(archive)))
            _quiet(dockerd.command("load", "-q", "-i", str(archive)))
            tar_reset()
            tar_load()

            def remove_out() -> None:
                if out.exists():
                    out.unlink()

            contenders = [
                Contender(
                    "skiff",
                    lambda: _quiet(_skiff(skiff_root, "save", "-o", str(out), TAG)),
                    reset=remove_out,
                ),
                Contender(
                    "docker",
                    lambda: _quiet(dockerd.command("save", "-o", str(out), TAG)),
                    reset=remove_out,
                ),
                Contender(
                    "tar -c",
                    lambda: _quiet(["tar", "-cf", str(out), "-C", str(tar_dir), "."]),
                    reset=remove_out,
                ),
            ]
        result = measure_wall(name, contenders, runs, warmup=1)
        result.notes.append(
            f"docker {dockerd.version()} (overlay2), archive {os.path.getsize(archive) >> 20} MiB"
        )
        return result
    finally:
        dockerd.stop()
        shutil.rmtree(work, ignore_errors=True)
