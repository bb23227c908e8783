"""Image archives built by the tests, in docker-archive and OCI layouts."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path


def layer_tar(files: dict[str, bytes | str | None], mtime: int = 1_600_000_000) -> bytes:
    """An uncompressed layer: path -> bytes (a file), a str (a symlink target) or None (a dir)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            if content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif isinstance(content, str):
                info.type = tarfile.SYMTYPE
                info.linkname = content
                tar.addfile(info)
            else:
                info.size = len(content)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_for(
    layers: list[bytes], cmd: list[str] | None = None, created: str = "2024-01-01T00:00:00Z"
) -> bytes:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {"Cmd": cmd or ["sh"], "Env": ["PATH=/bin"]},
        "history": [{"created": created, "created_by": f"layer {i}"} for i in range(len(layers))],
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer) for layer in layers]},
    }
    return json.dumps(config, separators=(",", ":")).encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def docker_archive(
    path: Path, images: list[tuple[list[bytes], list[str]]], compress_layers: bool = False
) -> list[str]:
    """Write a docker-archive of images (layers, tags); returns their image IDs."""
    ids = []
    with tarfile.open(path, "w") as tar:
        entries, written = [], set()
        for layers, tags in images:
            config = config_for(layers)
            config_name = sha256(config)[7:] + ".json"
            if config_name not in written:
                _add(tar, config_name, config)
                written.add(config_name)
            names = []
            for layer in layers:
                data = gzip.compress(layer, mtime=0) if compress_layers else layer
                name = f"{sha256(layer)[7:]}/layer.tar"
                if name not in written:
                    _add(tar, name, data)
                    written.add(name)
                names.append(name)
            entries.append({"Config": config_name, "RepoTags": tags, "Layers": names})
            ids.append(sha256(config))
        _add(tar, "manifest.json", json.dumps(entries).encode())
    return ids


def oci_archive(
    path: Path,
    layers: list[bytes],
    ref_name: str | None,
    layer_media_type: str | None = None,
    compress: str = "none",
    algorithm: str = "sha256",
) -> str:
    """Write an OCI archive with one image; returns its image ID. Layers may be stored
    compressed (gzip, zstd) and addressed by another digest algorithm (sha512)."""
    config = config_for(layers)
    blobs = {sha256(config): config}
    descriptors = []
    suffix = {"none": "", "gzip": "+gzip", "zstd": "+zstd"}[compress]
    for layer in layers:
        if compress == "gzip":
            data = gzip.compress(layer, mtime=0)
        elif compress == "zstd":
            import zstandard

            data = zstandard.ZstdCompressor().compress(layer)
        else:
            data = layer
        digest = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
        blobs[digest] = data
        media_type = layer_media_type or "application/vnd.oci.image.layer.v1.tar" + suffix
        descriptors.append({"mediaType": media_type, "digest": digest, "size": len(data)})
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": descriptors,
        }
    ).encode()
    blobs[sha256(manifest)] = manifest
    entry: dict[str, object] = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha256(manifest),
        "size": len(manifest),
    }
    if ref_name:
        entry["annotations"] = {"io.containerd.image.name": ref_name}
    with tarfile.open(path, "w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add(tar, "index.json", json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode())
        for digest, data in blobs.items():
            algorithm, _, hexpart = digest.partition(":")
            _add(tar, f"blobs/{algorithm}/{hexpart}", data)
    return sha256(config)


def store_listing(root: Path) -> set[str]:
    """Every file and directory under a store root but the database files."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.relpath(os.path.join(dirpath, name), root)
            if not path.startswith("skiff.db"):
                found.add(path)
    return found


# --- hostile images (tests/security/test_hostile_images.py) ---------------------------------


def tar_of(entries: list[tuple[str, str, bytes | str]]) -> bytes:
    """An uncompressed layer of raw entries, in order, names as given (``../x`` too):
    (name, "file", bytes), (name, "dir", ""), (name, "symlink", target) or
    (name, "hardlink", target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, content in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_600_000_000
            info.mode = 0o755 if kind == "dir" else 0o644
            if kind == "file":
                assert isinstance(content, bytes)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE}.get(
                kind, tarfile.LNKTYPE
            )
            if kind in ("symlink", "hardlink"):
                assert isinstance(content, str)
                info.linkname = content
            tar.addfile(info)
    return buffer.getvalue()


def docker_archive_of(path: Path, config: bytes, blobs: list[bytes], tags: list[str]) -> None:
    """A docker-archive of one image with exactly this config and these layer blobs (the
    config's diff_ids are not checked against them)."""
    with tarfile.open(path, "w") as tar:
        config_name = sha256(config)[7:] + ".json"
        _add(tar, config_name, config)
        names = []
        for i, blob in enumerate(blobs):
            name = f"{i:05d}{sha256(blob)[7:19]}/layer.tar"
            _add(tar, name, blob)
            names.append(name)
        entry = {"Config": config_name, "RepoTags": tags, "Layers": names}
        _add(tar, "manifest.json", json.dumps([entry]).encode())


def oci_layout_archive(
    path: Path, index: bytes, blobs: list[bytes], raw: dict[str, bytes] | None = None
) -> None:
    """An oci-archive with this index.json and these blobs (stored under their sha256), and
    ``raw`` blobs stored under the digest given (which may lie)."""
    with tarfile.open(path, "w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add(tar, "index.json", index)
        written = set()
        for digest, data in [*(raw or {}).items(), *((sha256(b), b) for b in blobs)]:
            if digest not in written:
                _add(tar, "blobs/sha256/" + digest.partition(":")[2], data)
                written.add(digest)
