"""skiff pull, login and logout against a real registry (Debian's docker-registry on
127.0.0.1), with Docker's output, messages and exit codes (checked against dockerd 20.10
and the docker CLI 28 pulling from the same registry).

An image goes into the registry from one store (``skiff save``, then skopeo) and comes back
into a second store by ``skiff pull``: the pulled image is the pushed one (same ID).
"""

from __future__ import annotations

import base64
import json
import os
import platform
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import Skiff
from tests.support.engine import remove_all_containers
from tests.support.images import docker_archive, layer_tar
from tests.support.registry import (
    REGISTRY_PASSWORD,
    REGISTRY_USER,
    Registry,
    archive_for_platform,
    unused_address,
)

NATIVE = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]
FOREIGN = "arm64" if NATIVE == "amd64" else "amd64"
PLATFORMS = {
    "amd64": {"os": "linux", "architecture": "amd64"},
    "arm64": {"os": "linux", "architecture": "arm64", "variant": "v8"},
}

# What Docker prints about a layer when its output is not a terminal (the lines with a
# progress bar, "Downloading" and "Extracting", are left out there).
LAYER_STATUSES = {
    "Pulling fs layer",
    "Waiting",
    "Verifying Checksum",
    "Download complete",
    "Already exists",
    "Pull complete",
}


@pytest.fixture(autouse=True)
def docker_config(skiff: Skiff, tmp_path: Path) -> Path:
    """DOCKER_CONFIG of the test's own: the credentials of ~/.docker are neither read nor
    written."""
    path = tmp_path / "docker-config"
    skiff.env["DOCKER_CONFIG"] = str(path)
    return path


@pytest.fixture
def other(tmp_path: Path, docker_config: Path) -> Iterator[Skiff]:
    """A second, empty store that pulls; its temporary files go to a TMPDIR of its own."""
    cli = Skiff(tmp_path / "other")
    cli.env["DOCKER_CONFIG"] = str(docker_config)
    temp = tmp_path / "other" / "tmp"
    temp.mkdir(parents=True)
    cli.env["TMPDIR"] = str(temp)
    yield cli
    leftovers = remove_all_containers(cli)
    for image in set(cli("images", "-aq").out.split()):
        cli("rmi", "-f", image)
    assert not leftovers, "\n".join(leftovers)


@dataclass
class Pushed:
    registry: Registry
    repo: str  # library/busybox
    ref: str  # ADDRESS/library/busybox:1
    digest: str  # the manifest's, as skopeo pushed it
    image_id: str

    @property
    def name(self) -> str:
        return f"{self.registry.address}/{self.repo}"

    @property
    def layers(self) -> list[str]:
        """The layer blobs' digests, in order."""
        manifest = self.registry.manifest(self.repo, self.digest).json()
        return [layer["digest"] for layer in manifest["layers"]]


def push(skiff: Skiff, image: str, registry: Registry, ref: str, tmp_path: Path) -> Pushed:
    """``skiff save`` an image of ``skiff``'s store and push it to ``registry`` as ``ref``."""
    archive = tmp_path / f"save-{len(list(tmp_path.glob('save-*')))}.tar"
    skiff.ok("save", "-o", str(archive), image)
    digest = registry.push_archive(archive, ref)
    image_id = skiff.ok("image", "inspect", "--format", "{{.Id}}", image).strip()
    repo = ref.rpartition(":")[0]
    return Pushed(registry, repo, f"{registry.address}/{ref}", digest, image_id)


@pytest.fixture
def pushed(skiff: Skiff, busybox: str, registry: Registry, tmp_path: Path) -> Pushed:
    """busybox:latest in ``registry`` as library/busybox:1."""
    return push(skiff, "busybox:latest", registry, "library/busybox:1", tmp_path)


@pytest.fixture
def auth_pushed(skiff: Skiff, busybox: str, auth_registry: Registry, tmp_path: Path) -> Pushed:
    """busybox:latest in ``auth_registry`` as library/busybox:1."""
    return push(skiff, "busybox:latest", auth_registry, "library/busybox:1", tmp_path)


def partial_files(cli: Skiff) -> list[str]:
    """What a write in progress leaves in a store: files under ingest/, unpack and remove
    directories of layers, and anything in the store's TMPDIR."""
    found = []
    for top in (cli.root / "ingest", Path(cli.env["TMPDIR"])):
        if top.is_dir():
            found += [str(p) for p in top.rglob("*")]
    for dirpath, dirnames, filenames in os.walk(cli.root):
        found += [
            os.path.join(dirpath, name)
            for name in dirnames + filenames
            if name.startswith((".unpack-", ".remove-", "blob-", "load-"))
            or name.endswith((".tmp", ".partial"))
        ]
    return sorted(set(found))


def blob_files(cli: Skiff) -> list[str]:
    blobs = cli.root / "blobs"
    return [str(p) for p in blobs.rglob("*") if p.is_file()] if blobs.is_dir() else []


def assert_nothing_pulled(cli: Skiff) -> None:
    assert cli.ok("images", "-aq") == ""
    assert partial_files(cli) == []


# --- the fixture ----------------------------------------------------------------------


def test_the_registry_takes_pushes_and_wants_credentials_when_asked(
    skiff: Skiff, busybox: str, registry: Registry, auth_registry: Registry, tmp_path: Path
):
    pushed = push(skiff, "busybox:latest", registry, "library/busybox:1", tmp_path)
    assert registry.catalog() == ["library/busybox"]
    assert registry.tags("library/busybox") == ["1"]
    assert registry.manifest("library/busybox", "1").headers["docker-content-digest"] == (
        pushed.digest
    )
    # skopeo compressed the layers, but the config, hence the image ID, is skiff's
    assert registry.manifest("library/busybox", "1").json()["config"]["digest"] == busybox
    assert registry.config("library/busybox", "1")["architecture"] == NATIVE

    assert auth_registry.request("GET", "/v2/", auth=False).status == 401
    challenge = auth_registry.request("GET", "/v2/", auth=False).headers["www-authenticate"]
    assert challenge == f'Basic realm="{Registry.REALM}"'
    assert auth_registry.request("GET", "/v2/").status == 200
    push(skiff, "busybox:latest", auth_registry, "library/busybox:1", tmp_path)
    assert auth_registry.catalog() == ["library/busybox"]


# --- pull -------------------------------------------------------------------------------


def test_pull_prints_dockers_progress_and_the_reference(
    skiff: Skiff, other: Skiff, registry: Registry, tmp_path: Path
):
    archive = tmp_path / "two-layers.tar"
    [image_id] = docker_archive(
        archive, [([layer_tar({"a": b"a\n"}), layer_tar({"b": b"b\n"})], ["two:1"])]
    )
    digest = registry.push_archive(archive, "library/two:1")
    ref = f"{registry.address}/library/two:1"
    short = [d[7:19] for d in Pushed(registry, "library/two", ref, digest, image_id).layers]

    lines = other.ok("pull", ref).splitlines()
    assert lines[0] == "1: Pulling from library/two"
    assert lines[-3:] == [f"Digest: {digest}", f"Status: Downloaded newer image for {ref}", ref]
    layer_lines = [re.fullmatch(r"([0-9a-f]{12}): (.+)", line) for line in lines[1:-3]]
    assert all(layer_lines), lines
    assert {m[1] for m in layer_lines if m} == set(short)
    assert {m[2] for m in layer_lines if m} <= LAYER_STATUSES, lines
    # layers are applied in order: Docker reports them complete in the manifest's order
    assert [m[1] for m in layer_lines if m and m[2] == "Pull complete"] == short
    assert other.ok("image", "inspect", "--format", "{{.Id}}", ref).strip() == image_id


def test_pull_stores_the_pushed_image_with_its_repo_digest(other: Skiff, pushed: Pushed):
    lines = other.ok("pull", pushed.ref).splitlines()
    assert lines[0] == "1: Pulling from library/busybox"
    assert [line.partition(": ")[2] for line in lines if "Pull complete" in line] == [
        "Pull complete"
    ] * len(pushed.layers)
    assert lines[-3:] == [
        f"Digest: {pushed.digest}",
        f"Status: Downloaded newer image for {pushed.ref}",
        pushed.ref,
    ]
    assert other.ok("image", "inspect", "--format", "{{.Id}}", pushed.ref).strip() == (
        pushed.image_id
    )
    image = other.inspect(pushed.ref)
    assert image["RepoTags"] == [pushed.ref]
    assert image["RepoDigests"] == [f"{pushed.name}@{pushed.digest}"]


def test_second_pull_is_up_to_date(other: Skiff, pushed: Pushed):
    other.ok("pull", pushed.ref)
    # Docker says nothing about the layers of an image it has
    assert other.ok("pull", pushed.ref) == (
        "1: Pulling from library/busybox\n"
        f"Digest: {pushed.digest}\n"
        f"Status: Image is up to date for {pushed.ref}\n"
        f"{pushed.ref}\n"
    )


def test_quiet_pull_prints_only_the_reference(other: Skiff, pushed: Pushed):
    assert other.ok("pull", "-q", pushed.ref) == f"{pushed.ref}\n"
    assert other.inspect(pushed.ref)["Id"] == pushed.image_id


def test_pull_without_a_tag_uses_latest(
    skiff: Skiff, busybox: str, other: Skiff, registry: Registry, tmp_path: Path
):
    pushed = push(skiff, "busybox:latest", registry, "library/busybox:latest", tmp_path)
    lines = other.ok("pull", pushed.name).splitlines()
    assert lines[:2] == ["Using default tag: latest", "latest: Pulling from library/busybox"]
    assert lines[-1] == f"{pushed.name}:latest"
    # quiet: the reference alone
    assert other.ok("pull", "-q", pushed.name) == f"{pushed.name}:latest\n"
    assert other.inspect(pushed.name)["Id"] == busybox


def test_pulled_image_runs(other: Skiff, pushed: Pushed):
    other.ok("pull", "-q", pushed.ref)
    assert other.ok("run", "--rm", pushed.ref, "echo", "hi") == "hi\n"


def test_pull_by_digest_leaves_the_image_without_a_tag(other: Skiff, pushed: Pushed):
    by_digest = f"{pushed.name}@{pushed.digest}"
    lines = other.ok("pull", by_digest).splitlines()
    # Docker names the whole reference there, not the digest alone
    assert lines[0] == f"{by_digest}: Pulling from library/busybox"
    assert lines[-3:] == [
        f"Digest: {pushed.digest}",
        f"Status: Downloaded newer image for {by_digest}",
        by_digest,
    ]
    image = other.inspect(by_digest)
    assert image["Id"] == pushed.image_id
    assert image["RepoTags"] == []
    assert image["RepoDigests"] == [by_digest]
    out = other.ok("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}")
    assert out == f"{pushed.name} <none> {pushed.digest}\n"


# --- manifest lists -------------------------------------------------------------------


@dataclass
class MultiArch:
    ref: str
    name: str
    digest: str  # the manifest list's
    ids: dict[str, str]  # architecture -> image ID


@pytest.fixture
def multi_arch(skiff: Skiff, busybox: str, registry: Registry, tmp_path: Path) -> MultiArch:
    """library/multi:1, a manifest list of busybox for this machine and, with the same
    layers, for another architecture (the foreign platform first in the list)."""
    native = tmp_path / "native.tar"
    skiff.ok("save", "-o", str(native), "busybox:latest")
    foreign = tmp_path / "foreign.tar"
    variant = PLATFORMS[FOREIGN].get("variant")
    foreign_id = archive_for_platform(native, foreign, FOREIGN, variant)
    native_digest = registry.push_archive(native, f"library/multi:{NATIVE}")
    foreign_digest = registry.push_archive(foreign, f"library/multi:{FOREIGN}")
    digest = registry.put_manifest_list(
        "library/multi",
        "1",
        [
            {"digest": foreign_digest, "platform": PLATFORMS[FOREIGN]},
            {"digest": native_digest, "platform": PLATFORMS[NATIVE]},
        ],
    )
    name = f"{registry.address}/library/multi"
    return MultiArch(f"{name}:1", name, digest, {NATIVE: busybox, FOREIGN: foreign_id})


def test_pull_of_a_manifest_list_picks_this_machine(other: Skiff, multi_arch: MultiArch):
    lines = other.ok("pull", multi_arch.ref).splitlines()
    assert lines[0] == "1: Pulling from library/multi"
    # the digest is the list's, as Docker's
    assert lines[-3:] == [
        f"Digest: {multi_arch.digest}",
        f"Status: Downloaded newer image for {multi_arch.ref}",
        multi_arch.ref,
    ]
    image = other.inspect(multi_arch.ref)
    assert image["Id"] == multi_arch.ids[NATIVE]
    assert image["Architecture"] == NATIVE
    assert image["RepoDigests"] == [f"{multi_arch.name}@{multi_arch.digest}"]


def test_pull_platform_picks_another_architecture(other: Skiff, multi_arch: MultiArch):
    out = other.ok("pull", "--platform", f"linux/{FOREIGN}", multi_arch.ref)
    assert out.splitlines()[-1] == multi_arch.ref
    image = other.inspect(multi_arch.ref)
    assert image["Id"] == multi_arch.ids[FOREIGN]
    assert image["Architecture"] == FOREIGN
    assert image.get("Variant") == PLATFORMS[FOREIGN].get("variant")
    assert image["RepoDigests"] == [f"{multi_arch.name}@{multi_arch.digest}"]


def test_pull_platform_missing_from_the_list_fails(other: Skiff, multi_arch: MultiArch):
    result = other("pull", "--platform", "linux/s390x", multi_arch.ref, timeout=60)
    assert result.code == 1, result
    # Docker: "1: Pulling from library/multi" on stdout, then this on stderr
    assert "no matching manifest for linux/s390x in the manifest list entries" in result.err
    assert_nothing_pulled(other)


# --- login, logout and credentials ------------------------------------------------------


def test_pull_without_login_fails(other: Skiff, auth_pushed: Pushed):
    result = other("pull", auth_pushed.ref, timeout=60)
    assert result.code == 1, result
    # Docker: Error response from daemon: Head
    # "http://ADDRESS/v2/library/busybox/manifests/1": no basic auth credentials
    assert "no basic auth credentials" in result.err
    assert_nothing_pulled(other)


def test_login_pull_logout(other: Skiff, auth_pushed: Pushed, docker_config: Path):
    address = auth_pushed.registry.address
    result = other(
        "login", "-u", REGISTRY_USER, "--password-stdin", address, input=REGISTRY_PASSWORD + "\n"
    )
    assert result.code == 0, result
    # (Docker warns on stderr that the password is stored unencrypted)
    assert result.out == "Login Succeeded\n"
    config_file = docker_config / "config.json"
    assert config_file.stat().st_mode & 0o777 == 0o600
    auth = json.loads(config_file.read_text())["auths"][address]["auth"]
    assert base64.b64decode(auth).decode() == f"{REGISTRY_USER}:{REGISTRY_PASSWORD}"

    assert other.ok("pull", "-q", auth_pushed.ref) == f"{auth_pushed.ref}\n"
    assert other.inspect(auth_pushed.ref)["Id"] == auth_pushed.image_id

    assert other.ok("logout", address) == f"Removing login credentials for {address}\n"
    assert address not in json.loads(config_file.read_text()).get("auths", {})
    # Docker's CLI (28) says the same when there was nothing to remove
    assert other.ok("logout", address) == f"Removing login credentials for {address}\n"


def test_login_with_a_wrong_password_fails(
    other: Skiff, auth_registry: Registry, docker_config: Path
):
    result = other("login", "-u", REGISTRY_USER, "-p", "wrong", auth_registry.address, timeout=60)
    assert result.code == 1, result
    # Docker: Error response from daemon: login attempt to http://ADDRESS/v2/ failed with
    # status: 401 Unauthorized
    assert "unauthorized" in result.err.lower() or "401" in result.err, result
    config_file = docker_config / "config.json"
    if config_file.exists():
        assert auth_registry.address not in json.loads(config_file.read_text()).get("auths", {})


def test_pull_uses_credentials_docker_wrote(other: Skiff, auth_pushed: Pushed, docker_config: Path):
    # what `docker login` writes
    docker_config.mkdir()
    auth = base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode()
    config = {"auths": {auth_pushed.registry.address: {"auth": auth}}}
    (docker_config / "config.json").write_text(json.dumps(config, indent="\t"))
    assert other.ok("pull", "-q", auth_pushed.ref) == f"{auth_pushed.ref}\n"
    assert other.inspect(auth_pushed.ref)["Id"] == auth_pushed.image_id


# --- failures ---------------------------------------------------------------------------


def test_pull_of_an_unknown_tag_fails(other: Skiff, pushed: Pushed):
    result = other("pull", f"{pushed.name}:nope", timeout=60)
    assert result.code == 1, result
    # Docker: Error response from daemon: manifest for ADDRESS/library/busybox:nope not
    # found: manifest unknown: manifest unknown
    assert "manifest unknown" in result.err
    assert "not found" in result.err
    assert_nothing_pulled(other)
    assert blob_files(other) == []


def test_pull_from_a_registry_that_is_down_fails(other: Skiff):
    result = other("pull", f"{unused_address()}/library/busybox:1", timeout=60)
    assert result.code == 1, result
    # Docker: Error response from daemon: Get "http://ADDRESS/v2/": dial tcp ADDRESS:
    # connect: connection refused
    assert "connection refused" in result.err
    assert_nothing_pulled(other)
    assert blob_files(other) == []


def test_pull_of_a_missing_layer_fails_and_leaves_no_partial_files(other: Skiff, pushed: Pushed):
    for layer in pushed.layers:
        deleted = pushed.registry.request("DELETE", f"/v2/{pushed.repo}/blobs/{layer}")
        assert deleted.status == 202, deleted
    result = other("pull", pushed.ref, timeout=60)
    assert result.code == 1, result
    # Docker: "unknown blob"; the registry's own words are "blob unknown to registry"
    assert "unknown blob" in result.err or "blob unknown" in result.err, result
    assert_nothing_pulled(other)
