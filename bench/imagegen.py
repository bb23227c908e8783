"""A deterministic test image: 8 layers, many small files and a few big ones (~500 MiB), or
another count of layers, small files and big files."""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from pathlib import Path

LAYERS = 8
SMALL_FILES = 3000  # per layer, 1-24 KiB each
BIG_FILES = {1: 80, 4: 80, 7: 48}  # layer -> MiB


def _layer(
    index: int, out: Path, small_files: int = SMALL_FILES, big_files: dict[int, int] = BIG_FILES
) -> None:
    rng = random.Random(index)
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in range(40):
            info = tarfile.TarInfo(f"layer{index}/d{d:02d}")
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = 1_600_000_000
            tar.addfile(info)
        for i in range(small_files):
            data = rng.randbytes(rng.randint(1, 24) * 1024)
            info = tarfile.TarInfo(f"layer{index}/d{i % 40:02d}/f{i:05d}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
        if index in big_files:
            size = big_files[index] << 20
            info = tarfile.TarInfo(f"layer{index}/big.bin")
            info.size = size
            info.mode = 0o644
            info.mtime = 1_600_000_000
            block = rng.randbytes(1 << 20)
            tar.addfile(info, io.BytesIO(block * (size >> 20)))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def docker_archive(
    work: Path,
    tag: str = "bench/image:latest",
    layers_count: int = LAYERS,
    small_files: int = SMALL_FILES,
    big_files: dict[int, int] = BIG_FILES,
) -> Path:
    """Write work/image.tar (docker-archive) of ``layers_count`` layers, each with
    ``small_files`` files of 1-24 KiB and, for the layers ``big_files`` names, one file of
    that many MiB; returns its path."""
    layers = []
    for i in range(layers_count):
        path = work / f"layer{i}.tar"
        _layer(i, path, small_files, big_files)
        layers.append((path, _sha256(path)))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {"Cmd": ["sh"]},
            "history": [{"created": "2024-01-01T00:00:00Z"} for _ in layers],
            "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
        },
        separators=(",", ":"),
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    archive = work / "image.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo(config_name)
        info.size = len(config)
        tar.addfile(info, io.BytesIO(config))
        names = []
        for path, digest in layers:
            name = f"{digest[7:]}/layer.tar"
            tar.add(path, arcname=name)
            names.append(name)
            path.unlink()
        manifest = json.dumps(
            [{"Config": config_name, "RepoTags": [tag], "Layers": names}]
        ).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    return archive
