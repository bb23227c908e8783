"""skiff and its peers exchanging images through a real registry (Debian's docker-registry
on 127.0.0.1, plain HTTP): what skiff pushes, dockerd and skopeo pull; what dockerd and
skopeo push, skiff pulls; and the same digests and image IDs on every side.

``skiff push`` prints what the docker CLI prints when its output is not a terminal: the
oracle tests make the same pushes with dockerd and check its output with the same function.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.interop.conftest import Docker
from tests.support.cli import Skiff
from tests.support.engine import remove_all_containers
from tests.support.images import docker_archive, layer_tar
from tests.support.registry import Registry

DIGEST = r"sha256:[0-9a-f]{64}"


@pytest.fixture(autouse=True)
def _clean_dockerd(request: pytest.FixtureRequest) -> Iterator[None]:
    """What a test pulled, tagged or loaded into the module's dockerd is gone afterwards
    (busybox:test stays, under that name only)."""
    yield
    if "dockerd" not in request.fixturenames:
        return
    docker: Docker = request.getfixturevalue("dockerd")
    keep = docker("image", "inspect", "--format", "{{.Id}}", "busybox:test").strip()
    listing = docker(
        "image", "ls", "-a", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"
    )
    others = set()
    for line in listing.splitlines():
        image_id, name = line.split(" ", 1)
        if image_id != keep:
            others.add(image_id)
        elif name != "busybox:test":
            docker("rmi", name)
    for image_id in others:
        docker("rmi", "-f", image_id, check=False)


@pytest.fixture
def other(tmp_path: Path, skiff: Skiff) -> Iterator[Skiff]:
    """A second, empty skiff store (its own SKIFF_ROOT and SKIFF_RUNROOT)."""
    cli = Skiff(tmp_path / "other")
    cli.env["DOCKER_CONFIG"] = skiff.env["DOCKER_CONFIG"]
    yield cli
    leftovers = remove_all_containers(cli)
    assert not leftovers, "\n".join(leftovers)


def layered_archive(path: Path, busybox_tar: Path) -> str:
    """A docker-archive of layered:1, three layers (busybox's root filesystem and two small
    ones) that runs; returns its image ID."""
    layers = [busybox_tar.read_bytes(), layer_tar({"etc/one": b"1\n"}), layer_tar({"two": b"2\n"})]
    [image_id] = docker_archive(path, [(layers, ["layered:1"])])
    return image_id


@pytest.fixture
def layered(skiff: Skiff, busybox_tar: Path, tmp_path: Path) -> str:
    """layered:1 loaded into ``skiff``; its image ID."""
    archive = tmp_path / "layered.tar"
    image_id = layered_archive(archive, busybox_tar)
    skiff.ok("load", "-q", "-i", str(archive))
    return image_id


# --- what a push prints ----------------------------------------------------------------


def check_push(
    out: str, address: str, repo: str, tag: str, diff_ids: list[str], final: str
) -> tuple[str, int]:
    """Check the output of a push of ``ADDRESS/REPO:TAG`` as the docker CLI prints it off a
    terminal: the repository, every layer (12 hex digits of its diff ID) "Preparing", top
    layer first, then each layer's ``final`` status ("Pushed", "Layer already exists",
    "Mounted from REPO"), in the order the uploads end, and the manifest's digest and size.
    Returns the digest and the size."""
    lines = out.splitlines()
    assert lines[0] == f"The push refers to repository [{address}/{repo}]", lines
    last = re.fullmatch(rf"{re.escape(tag)}: digest: ({DIGEST}) size: (\d+)", lines[-1])
    assert last, lines
    layer_lines = [re.fullmatch(r"([0-9a-f]{12}): (.+)", line) for line in lines[1:-1]]
    assert all(layer_lines), lines
    pairs = [(m[1], m[2]) for m in layer_lines if m]
    short = [d[7:19] for d in diff_ids]
    assert pairs[: len(short)] == [(s, "Preparing") for s in reversed(short)], lines
    # "Waiting": a layer beyond the uploads at once (5 in Docker) waits for its turn
    ends = [pair for pair in pairs[len(short) :] if pair[1] != "Waiting"]
    assert sorted(ends) == sorted((s, final) for s in short), lines
    return last[1], int(last[2])


def push_digest(out: str, tag: str) -> str:
    """The digest on the last line of a push's output."""
    last = re.fullmatch(rf"{re.escape(tag)}: digest: ({DIGEST}) size: \d+", out.splitlines()[-1])
    assert last, out
    return last[1]


def skopeo(*args: str) -> str:
    result = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"skopeo {' '.join(args)}: {result.stderr}"
    return result.stdout


def docker_image(dockerd: Docker, name: str) -> dict:
    return json.loads(dockerd("image", "inspect", name))[0]


# --- skiff pushes; dockerd and skopeo pull ---------------------------------------------


def test_skiff_push_is_pulled_and_run_by_dockerd_and_read_by_skopeo(
    skiff: Skiff, busybox: str, registry: Registry, dockerd: Docker, tmp_path: Path
):
    address = registry.address
    ref = f"{address}/interop/busybox:1"
    skiff.ok("tag", "busybox:latest", ref)
    out = skiff.ok("push", ref)
    diff_ids = skiff.inspect(ref)["RootFS"]["Layers"]
    digest, size = check_push(out, address, "interop/busybox", "1", diff_ids, "Pushed")

    manifest = registry.manifest("interop/busybox", "1")
    assert manifest.headers["docker-content-digest"] == digest
    assert len(manifest.body) == size
    # Docker pushes its own manifest kind, with the image config as it is: the image ID
    assert (
        manifest.headers["content-type"] == "application/vnd.docker.distribution.manifest.v2+json"
    )
    assert manifest.json()["config"]["digest"] == busybox
    assert registry.tags("interop/busybox") == ["1"]

    lines = dockerd("pull", ref).splitlines()
    assert lines[-3:] == [f"Digest: {digest}", f"Status: Downloaded newer image for {ref}", ref]
    image = docker_image(dockerd, ref)
    assert image["Id"] == busybox
    assert image["RepoDigests"] == [f"{address}/interop/busybox@{digest}"]
    assert image["RootFS"]["Layers"] == diff_ids
    assert dockerd("run", "--rm", "--network", "none", ref, "echo", "hi") == "hi\n"

    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}"))
    assert info["Digest"] == digest
    assert info["Layers"] == [layer["digest"] for layer in manifest.json()["layers"]]
    copy = tmp_path / "copy"
    skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{copy}:1")
    [entry] = json.loads((copy / "index.json").read_text())["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "1"
    copied = json.loads((copy / "blobs" / "sha256" / entry["digest"][7:]).read_text())
    # the same layer blobs, byte for byte
    assert [layer["digest"] for layer in copied["layers"]] == info["Layers"]
    for layer in copied["layers"]:
        assert (copy / "blobs" / "sha256" / layer["digest"][7:]).stat().st_size == layer["size"]


# --- dockerd pushes; skiff pulls -------------------------------------------------------


def test_dockerd_push_is_pulled_and_run_by_skiff(skiff: Skiff, registry: Registry, dockerd: Docker):
    ref = f"{registry.address}/x:1"
    dockerd("tag", "busybox:test", ref)
    digest = push_digest(dockerd("push", ref), "1")
    theirs = docker_image(dockerd, ref)
    assert theirs["RepoDigests"] == [f"{registry.address}/x@{digest}"]

    lines = skiff.ok("pull", ref).splitlines()
    assert lines[0] == "1: Pulling from x"
    assert lines[-3:] == [f"Digest: {digest}", f"Status: Downloaded newer image for {ref}", ref]
    ours = skiff.inspect(ref)
    assert ours["Id"] == theirs["Id"]
    assert ours["RepoDigests"] == [f"{registry.address}/x@{digest}"]
    assert ours["RootFS"]["Layers"] == theirs["RootFS"]["Layers"]
    assert skiff.ok("run", "--rm", ref, "echo", "hi") == "hi\n"


# --- skopeo copies; skiff pulls --------------------------------------------------------


@pytest.mark.parametrize("source", ["oci-layout", "docker-archive"])
def test_skopeo_copy_is_pulled_by_skiff(
    skiff: Skiff,
    busybox: str,
    other: Skiff,
    registry: Registry,
    dockerd: Docker,
    tmp_path: Path,
    source: str,
):
    if source == "oci-layout":
        # skiff's OCI layout of busybox:latest, named by its tag
        layout = tmp_path / "layout"
        skiff.ok("save", "--format", "oci-dir", "-o", str(layout), "busybox:latest")
        origin, image_id = f"oci:{layout}:latest", busybox
    else:
        archive = tmp_path / "docker.tar"
        dockerd("save", "-o", str(archive), "busybox:test")
        origin = f"docker-archive:{archive}"
        image_id = docker_image(dockerd, "busybox:test")["Id"]
    ref = f"{registry.address}/skopeo/{source}:2"
    digestfile = tmp_path / "digest"
    skopeo(
        "copy", "--quiet", "--dest-tls-verify=false", "--digestfile", str(digestfile),
        origin, f"docker://{ref}",
    )  # fmt: skip
    digest = digestfile.read_text().strip()
    assert registry.manifest(f"skopeo/{source}", "2").headers["docker-content-digest"] == digest

    lines = other.ok("pull", ref).splitlines()
    assert lines[-3:] == [f"Digest: {digest}", f"Status: Downloaded newer image for {ref}", ref]
    image = other.inspect(ref)
    assert image["Id"] == image_id
    assert image["RepoDigests"] == [f"{registry.address}/skopeo/{source}@{digest}"]
    assert other.ok("run", "--rm", ref, "echo", "hi") == "hi\n"


# --- skiff pushes, skiff pulls; layers the registry has --------------------------------


def test_skiff_push_then_pull_into_another_store_then_exists_and_mounts(
    skiff: Skiff, layered: str, other: Skiff, registry: Registry
):
    address = registry.address
    ref = f"{address}/interop/layered:1"
    skiff.ok("tag", "layered:1", ref)
    diff_ids = skiff.inspect(ref)["RootFS"]["Layers"]
    assert len(diff_ids) == 3
    digest, _ = check_push(
        skiff.ok("push", ref), address, "interop/layered", "1", diff_ids, "Pushed"
    )

    other.ok("pull", ref)
    pulled = other.inspect(ref)
    assert pulled["Id"] == layered
    assert pulled["RepoDigests"] == [f"{address}/interop/layered@{digest}"]
    assert other.ok("run", "--rm", ref, "cat", "/etc/one", "/two") == "1\n2\n"

    # the same push again: every layer is there
    again = skiff.ok("push", ref)
    assert (
        check_push(again, address, "interop/layered", "1", diff_ids, "Layer already exists")[0]
        == digest
    )

    # another repository of the same registry: the layers are mounted, not uploaded
    copy = f"{address}/elsewhere/copy:2"
    skiff.ok("tag", "layered:1", copy)
    mounted = skiff.ok("push", copy)
    final = "Mounted from interop/layered"
    assert check_push(mounted, address, "elsewhere/copy", "2", diff_ids, final)[0] == digest
    assert sorted(registry.catalog()) == ["elsewhere/copy", "interop/layered"]
    assert registry.manifest("elsewhere/copy", "2").headers["docker-content-digest"] == digest

    # the store that pulled knows where the layers came from, as dockerd does
    third = f"{address}/third/pulled:3"
    other.ok("tag", ref, third)
    out = other.ok("push", third)
    assert check_push(out, address, "third/pulled", "3", diff_ids, final)[0] == digest


def test_dockerd_prints_the_same_for_the_same_pushes(
    dockerd: Docker, busybox_tar: Path, registry: Registry, tmp_path: Path
):
    """The oracle of the test above: dockerd's pushes, checked by the same function."""
    archive = tmp_path / "layered.tar"
    image_id = layered_archive(archive, busybox_tar)
    dockerd("load", "-q", "-i", str(archive))
    address = registry.address
    ref = f"{address}/interop/layered:1"
    dockerd("tag", "layered:1", ref)
    diff_ids = docker_image(dockerd, ref)["RootFS"]["Layers"]
    out = dockerd("push", ref)
    digest, _ = check_push(out, address, "interop/layered", "1", diff_ids, "Pushed")
    assert registry.manifest("interop/layered", "1").json()["config"]["digest"] == image_id
    again = dockerd("push", ref)
    exists = "Layer already exists"
    assert check_push(again, address, "interop/layered", "1", diff_ids, exists)[0] == digest
    copy = f"{address}/elsewhere/copy:2"
    dockerd("tag", "layered:1", copy)
    mounted = dockerd("push", copy)
    final = "Mounted from interop/layered"
    assert check_push(mounted, address, "elsewhere/copy", "2", diff_ids, final)[0] == digest


def test_dockerd_mounts_the_layers_it_pulled(
    dockerd: Docker, busybox_tar: Path, registry: Registry, tmp_path: Path
):
    """The oracle of the last push of the test above: layers dockerd pulled (and never
    pushed) are mounted from the repository they came from.

    (Where dockerd has also pushed a layer, it mounts it from the last repository it pushed
    it to, rather than from where it pulled it.)"""
    archive = tmp_path / "layered.tar"
    layered_archive(archive, busybox_tar)
    origin = f"{registry.address}/origin/layered:1"
    registry.push_archive(archive, "origin/layered:1")
    dockerd("pull", origin)
    diff_ids = docker_image(dockerd, origin)["RootFS"]["Layers"]
    third = f"{registry.address}/third/pulled:3"
    dockerd("tag", origin, third)
    out = dockerd("push", third)
    check_push(out, registry.address, "third/pulled", "3", diff_ids, "Mounted from origin/layered")
    layers = registry.manifest("origin/layered", "1").json()["layers"]
    assert registry.manifest("third/pulled", "3").json()["layers"] == layers


# --- an image an engine has, pulled under another name ---------------------------------


def engine_call(request: pytest.FixtureRequest, engine: str) -> Callable[..., str]:
    """``skiff`` or ``dockerd`` as one function: run a command, return its stdout."""
    cli = request.getfixturevalue(engine)
    return cli.ok if isinstance(cli, Skiff) else cli


def pushed_first(
    call: Callable[..., str], archive: Path, repo: str, address: str
) -> tuple[str, list[str]]:
    """Load layered:1 from ``archive`` and push it to ``ADDRESS/REPO:1``; the manifest's
    digest and the diff IDs."""
    call("load", "-q", "-i", str(archive))
    ref = f"{address}/{repo}:1"
    call("tag", "layered:1", ref)
    diff_ids = json.loads(call("image", "inspect", ref))[0]["RootFS"]["Layers"]
    digest, _ = check_push(call("push", ref), address, repo, "1", diff_ids, "Pushed")
    return digest, diff_ids


@pytest.mark.parametrize("engine", ["skiff", "dockerd"])
def test_an_image_pulled_under_another_name_is_not_downloaded(
    request: pytest.FixtureRequest,
    busybox_tar: Path,
    registry: Registry,
    tmp_path: Path,
    engine: str,
):
    """An image the engine has (loaded and pushed), pulled from another repository where
    skopeo put other gzip blobs of its layers: dockerd finds the image (its config) in its
    store and downloads no layer; the image gets the new name and its digest."""
    call = engine_call(request, engine)
    address = registry.address
    archive = tmp_path / "layered.tar"
    image_id = layered_archive(archive, busybox_tar)
    pushed, _ = pushed_first(call, archive, "first/push", address)

    origin = f"{address}/origin/layered:1"
    digest = registry.push_archive(archive, "origin/layered:1")
    assert digest != pushed
    # no layer lines: the image is there already, only its name is new
    assert call("pull", origin) == (
        "1: Pulling from origin/layered\n"
        f"Digest: {digest}\n"
        f"Status: Downloaded newer image for {origin}\n"
        f"{origin}\n"
    )
    image = json.loads(call("image", "inspect", origin))[0]
    assert image["Id"] == image_id
    assert sorted(image["RepoDigests"]) == [
        f"{address}/first/push@{pushed}",
        f"{address}/origin/layered@{digest}",
    ]


@pytest.mark.parametrize("engine", ["skiff", "dockerd"])
def test_push_mounts_from_the_repository_that_has_the_layer_blobs(
    request: pytest.FixtureRequest,
    busybox_tar: Path,
    registry: Registry,
    tmp_path: Path,
    engine: str,
):
    """The image pushed to zeta/pushed, then pulled from alpha/origin (other gzip blobs of
    the same layers: skopeo's), then pushed to mid/copy: the layers are mounted from the
    repository that has the blobs the engine pushed, zeta/pushed, whatever the order of the
    repositories; the manifest is the first push's."""
    call = engine_call(request, engine)
    address = registry.address
    archive = tmp_path / "layered.tar"
    layered_archive(archive, busybox_tar)
    pushed, diff_ids = pushed_first(call, archive, "zeta/pushed", address)
    origin = f"{address}/alpha/origin:1"
    registry.push_archive(archive, "alpha/origin:1")
    call("pull", origin)

    copy = f"{address}/mid/copy:2"
    call("tag", origin, copy)
    out = call("push", copy)
    final = "Mounted from zeta/pushed"
    assert check_push(out, address, "mid/copy", "2", diff_ids, final)[0] == pushed


# --- a push refused ---------------------------------------------------------------------


REFUSED = {
    "missing-image": ["push", "{A}/nope:1"],
    "missing-latest": ["push", "{A}/bb"],
    "all-tags-with-a-tag": ["push", "-a", "{A}/bb:1"],
    "digest": ["push", "{A}/bb@sha256:" + "0" * 64],
    "upper-case": ["push", "{A}/Upper:1"],
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_refused_push_says_what_the_docker_cli_says(
    skiff: Skiff, busybox: str, registry: Registry, dockerd: Docker, case: str
):
    """The exit code, stdout and stderr of the docker CLI (its push errors come without
    an "Error: " in front), and nothing in the registry."""
    address = registry.address
    args = [arg.replace("{A}", address) for arg in REFUSED[case]]
    skiff.ok("tag", "busybox:latest", f"{address}/bb:1")
    dockerd("tag", "busybox:test", f"{address}/bb:1")
    theirs = subprocess.run(
        ["docker", "-H", f"unix://{dockerd.socket}", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    ours = skiff(*args, timeout=60)
    assert (ours.code, ours.out, ours.err) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert theirs.returncode == 1
    assert registry.catalog() == []
