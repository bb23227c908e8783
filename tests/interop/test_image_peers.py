"""skiff's archives and Docker's, skopeo's and umoci's: exchanged byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

SKIFF = os.path.join(os.path.dirname(sys.executable), "skiff")


@pytest.fixture
def skiff(tmp_path: Path):
    root, run = tmp_path / "skiff-root", tmp_path / "skiff-run"

    def call(*args: str, check: bool = True) -> str:
        result = subprocess.run(
            [SKIFF, "--root", str(root), "--runroot", str(run), *args],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert result.returncode == 0, f"skiff {' '.join(args)}: {result.stderr}"
        return result.stdout

    return call


@pytest.fixture
def imported(skiff, busybox_tar: Path) -> str:
    """busybox imported into skiff, with a command; its image ID."""
    return skiff(
        "import",
        "--change",
        'CMD ["sh", "-c", "echo hi from skiff"]',
        str(busybox_tar),
        "interop/busybox:1",
    ).strip()


def test_skiff_save_runs_in_docker(skiff, imported, dockerd, tmp_path):
    archive = tmp_path / "saved.tar"
    skiff("save", "-o", str(archive), "interop/busybox:1")
    out = dockerd("load", "-i", str(archive))
    assert "interop/busybox:1" in out
    assert (
        dockerd("image", "inspect", "--format", "{{.Id}}", "interop/busybox:1").strip() == imported
    )
    assert (
        dockerd("run", "--rm", "--network", "none", "interop/busybox:1").strip() == "hi from skiff"
    )
    dockerd("rmi", "interop/busybox:1")


def test_docker_save_loads_in_skiff_with_the_same_id(skiff, dockerd, tmp_path):
    dockerd("tag", "busybox:test", "interop/from-docker:2")
    docker_id = dockerd("image", "inspect", "--format", "{{.Id}}", "interop/from-docker:2").strip()
    archive = tmp_path / "docker.tar"
    dockerd("save", "-o", str(archive), "interop/from-docker:2")
    assert "Loaded image: interop/from-docker:2" in skiff("load", "-i", str(archive))
    assert (
        skiff("image", "inspect", "--format", "{{.Id}}", "interop/from-docker:2").strip()
        == docker_id
    )
    dockerd("rmi", "interop/from-docker:2")


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_skopeo_inspects_and_copies_skiff_archives(skiff, imported, tmp_path, fmt):
    archive = tmp_path / f"{fmt}.tar"
    skiff("save", "--format", fmt, "-o", str(archive), "interop/busybox:1")
    # an OCI archive names its images by org.opencontainers.image.ref.name: the tag
    source = f"oci-archive:{archive}:1" if fmt == "oci-archive" else f"docker-archive:{archive}"
    info = json.loads(
        subprocess.run(
            ["skopeo", "inspect", "--config", source], capture_output=True, text=True, check=True
        ).stdout
    )
    assert info["rootfs"]["diff_ids"]
    # copied to the same kind of destination, the config, hence the image ID, survives
    # (converting Docker's format to OCI re-encodes the config: a new ID is right then)
    if fmt == "oci-archive":
        copy = tmp_path / "copy"
        subprocess.run(
            ["skopeo", "copy", source, f"oci:{copy}:copied"],
            capture_output=True,
            text=True,
            check=True,
        )
        index = json.loads((copy / "index.json").read_text())
        manifest = json.loads(
            (copy / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_text()
        )
        assert manifest["config"]["digest"] == imported
    else:
        copy = tmp_path / "copy.tar"
        subprocess.run(
            ["skopeo", "copy", source, f"docker-archive:{copy}:copied/image:1"],
            capture_output=True,
            text=True,
            check=True,
        )
        with tarfile.open(copy) as tar:
            manifest_file = tar.extractfile("manifest.json")
            assert manifest_file is not None
            entries = json.loads(manifest_file.read())
        assert entries[0]["Config"].removeprefix("sha256:").removesuffix(".json") == imported[7:]


def test_umoci_unpacks_skiff_oci_layout(skiff, imported, tmp_path):
    layout = tmp_path / "layout"
    skiff("save", "--format", "oci-dir", "-o", str(layout), "interop/busybox:1")
    bundle = tmp_path / "bundle"
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:1", str(bundle)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert (bundle / "rootfs" / "bin" / "busybox").is_file()
    config = json.loads((bundle / "config.json").read_text())
    assert config["process"]["args"] == ["sh", "-c", "echo hi from skiff"]


def test_skiff_loads_what_skopeo_writes(skiff, imported, tmp_path):
    archive = tmp_path / "skiff.tar"
    skiff("save", "-o", str(archive), "interop/busybox:1")
    copied = tmp_path / "skopeo-oci.tar"
    subprocess.run(
        [
            "skopeo",
            "copy",
            f"docker-archive:{archive}",
            f"oci-archive:{copied}:example.org/copied:3",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    skiff("load", "-i", str(copied))
    with tarfile.open(copied) as tar:
        index_file = tar.extractfile("index.json")
        assert index_file is not None
        digest = json.loads(index_file.read())["manifests"][0]["digest"]
        manifest_file = tar.extractfile(f"blobs/sha256/{digest[7:]}")
        assert manifest_file is not None
        config_digest = json.loads(manifest_file.read())["config"]["digest"]
    assert (
        skiff("image", "inspect", "--format", "{{.Id}}", "example.org/copied:3").strip()
        == config_digest
    )
    # skopeo re-encoded the config as OCI; the layers are the same
    assert skiff(
        "image", "inspect", "--format", "{{json .RootFS.Layers}}", "example.org/copied:3"
    ) == skiff("image", "inspect", "--format", "{{json .RootFS.Layers}}", "interop/busybox:1")
