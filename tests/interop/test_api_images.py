"""Debian's docker CLI (28) and docker-py (7.x) against ``skiff serve``: the image endpoints
(list, inspect, history, tag, remove, prune, pull and import, push, save and load) as the
real clients use them, over the store the ``skiff`` command uses.

Where the words matter (what ``docker pull`` or ``docker rmi`` print, error messages, the
keys of a document), the same command line runs on the module's dockerd too
(``conftest.dockerd``: Debian's 20.10, the same busybox imported as busybox:test) and the
answers are compared, with what must differ (IDs, digests, the registry's port, the
repository's name) written as placeholders. dockerd speaks API 1.41: documents are
compared at that version (``DOCKER_API_VERSION``), as skiff serves the older shapes too.

Registries are tests.support.registry's docker-registry on 127.0.0.1; every test runs its
own ``skiff serve`` (``conftest.skiff_api``).
"""

from __future__ import annotations

import base64
import functools
import http.server
import io
import json
import os
import re
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import Docker, SkiffApi
from tests.support.registry import REGISTRY_PASSWORD, REGISTRY_USER, Registry

LAYER_STATUSES = {
    "Already exists", "Pulling fs layer", "Waiting", "Downloading", "Verifying Checksum",
    "Download complete", "Extracting", "Pull complete",
}  # fmt: skip


# --- helpers --------------------------------------------------------------------------


def answer(result: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    return result.returncode, result.stdout, result.stderr


def on_skiff(
    api: SkiffApi,
    *args: str,
    config: Path | None = None,
    version: str | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``docker ARGS`` on skiff serve; ``config``: the CLI's own DOCKER_CONFIG (the
    server's is the ``skiff`` fixture's); ``version``: the API version it speaks."""
    env = dict(api.env)
    if config is not None:
        env["DOCKER_CONFIG"] = str(config)
    if version is not None:
        env["DOCKER_API_VERSION"] = version
    return subprocess.run(
        ["docker", *args],
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def on_dockerd(
    dockerd: Docker, *args: str, config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``docker ARGS`` on the oracle, in the environment skiff serve's clients have (the
    CLI words some errors differently without a HOME)."""
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    if config is not None:
        env["DOCKER_CONFIG"] = str(config)
    return subprocess.run(
        ["docker", "-H", f"unix://{dockerd.socket}", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def normal(text: str, *names: str) -> str:
    """``text`` with what differs between engines as placeholders: each of ``names`` (a
    repository), registries' ports, digests and IDs, sizes."""
    for name in names:
        text = text.replace(name, "REPO")
    text = re.sub(r"127\.0\.0\.1:\d+", "REGISTRY", text)
    text = re.sub(r"sha256:[0-9a-f]{64}", "sha256:DIGEST", text)
    text = re.sub(r"\b[0-9a-f]{64}\b", "ID", text)
    text = re.sub(r"\b[0-9a-f]{12}\b", "SHORT", text)
    text = re.sub(r"size: \d+", "size: N", text)
    return re.sub(r"\d+(\.\d+)?[kMG]?B\b", "SIZE", text)


def rows(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@contextmanager
def http_server(directory: Path) -> Iterator[str]:
    """A plain HTTP server of ``directory``'s files on 127.0.0.1: its URL."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def py_client(socket: Path, version: str | None = None) -> Any:
    import docker

    if version is None:
        return docker.DockerClient(base_url=f"unix://{socket}", timeout=120)
    return docker.DockerClient(base_url=f"unix://{socket}", version=version, timeout=120)


@pytest.fixture
def client(skiff_api: SkiffApi) -> Any:
    return skiff_api.client()


@pytest.fixture
def dockerd_client(dockerd: Docker) -> Iterator[Any]:
    client = py_client(dockerd.socket, "1.41")
    yield client
    client.close()


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry that wants basic authentication: tester / s3cret."""
    with Registry(tmp_path / "auth-registry", REGISTRY_USER, REGISTRY_PASSWORD) as running:
        yield running


def registry_blob_path(registry: Registry, digest: str) -> Path:
    hexa = digest.removeprefix("sha256:")
    return registry.base / "data/docker/registry/v2/blobs/sha256" / hexa[:2] / hexa / "data"


# --- list, inspect, history -------------------------------------------------------------


def test_images_lists_the_store_as_dockerd_lists_its_own(
    skiff_api: SkiffApi, dockerd: Docker, busybox: str
) -> None:
    ours = rows(skiff_api.ok("images", "--format", "{{json .}}"))
    theirs = rows(on_dockerd(dockerd, "images", "--format", "{{json .}}").stdout)
    assert [set(row) for row in ours] == [set(theirs[0])]
    assert (ours[0]["Repository"], ours[0]["Tag"]) == ("busybox", "latest")
    assert ours[0]["ID"] == busybox.removeprefix("sha256:")[:12]
    header = skiff_api.ok("images").splitlines()[0].split()
    assert header == on_dockerd(dockerd, "images").stdout.splitlines()[0].split()
    # the docker CLI and skiff's CLI see the same store
    assert skiff_api.ok("images", "-q", "--no-trunc") == skiff_api.skiff.ok(
        "images", "-q", "--no-trunc"
    )
    assert skiff_api.ok("images", "-q", "busybox") != ""
    assert skiff_api.ok("images", "-q", "nothing*") == ""
    assert skiff_api.ok("images", "-q", "--filter", "dangling=true") == ""
    result = on_skiff(skiff_api, "images", "--filter", "colour=red")
    assert answer(result) == answer(on_dockerd(dockerd, "images", "--filter", "colour=red"))


def test_image_summaries_have_the_versions_shape(
    skiff_api: SkiffApi, client: Any, dockerd_client: Any, busybox_tar: Path
) -> None:
    summary = client.api.images()[0]
    assert set(summary) == {
        "Containers", "Created", "Id", "Labels", "ParentId", "RepoDigests", "RepoTags",
        "SharedSize", "Size",
    }  # fmt: skip
    assert (summary["Id"], summary["RepoTags"], summary["SharedSize"]) == (
        skiff_api.skiff.inspect("busybox")["Id"],
        ["busybox:latest"],
        -1,
    )
    old = py_client(skiff_api.socket, "1.41")
    try:
        assert set(old.api.images()[0]) == set(dockerd_client.api.images()[0])  # VirtualSize
        # an image with no name: <none> before API 1.43
        skiff_api.ok("import", str(busybox_tar))
        dangling = old.api.images(filters={"dangling": True})
        assert [(s["RepoTags"], s["RepoDigests"]) for s in dangling] == [
            (["<none>:<none>"], ["<none>@<none>"])
        ]
    finally:
        old.close()
    assert [s["RepoTags"] for s in client.api.images(filters={"dangling": True})] == [[]]
    # shared-size: the dangling image and busybox have the same layer
    shared = client.api.get(client.api._url("/images/json"), params={"shared-size": "1"}).json()
    assert [s["SharedSize"] for s in shared] == [s["Size"] for s in shared]


def test_inspect_is_skiffs_and_has_dockerds_keys(skiff_api: SkiffApi, dockerd: Docker) -> None:
    ours = json.loads(skiff_api.ok("image", "inspect", "busybox"))
    assert ours == json.loads(skiff_api.skiff.ok("image", "inspect", "busybox"))
    assert ours[0]["Config"]["Cmd"] == ["sh"]
    assert "ContainerConfig" not in ours[0] and "VirtualSize" not in ours[0]  # API 1.45
    old = json.loads(on_skiff(skiff_api, "image", "inspect", "busybox", version="1.41").stdout)
    theirs = json.loads(on_dockerd(dockerd, "image", "inspect", "busybox:test").stdout)
    assert list(old[0]) == list(theirs[0])
    assert list(old[0]["Config"]) == list(theirs[0]["Config"])
    assert list(old[0]["ContainerConfig"]) == list(theirs[0]["ContainerConfig"])
    assert old[0]["VirtualSize"] == old[0]["Size"]
    # an unknown image: Docker 28's words (dockerd 20.10 said it twice: "no such image:
    # nope: No such image: nope:latest")
    for name, shown in (("nope", "nope:latest"), ("busybox:nope", "busybox:nope")):
        result = on_skiff(skiff_api, "image", "inspect", name)
        expected = f"Error response from daemon: No such image: {shown}\n"
        assert answer(result) == (1, "[]\n", expected)
        theirs = on_dockerd(dockerd, "image", "inspect", name)
        assert (theirs.returncode, theirs.stdout) == (1, "[]\n")
        assert theirs.stderr.endswith(expected.removeprefix("Error response from daemon: "))


def test_history_as_dockerd_shows_it(
    skiff_api: SkiffApi, dockerd: Docker, client: Any, dockerd_client: Any
) -> None:
    ours = skiff_api.ok("history", "busybox").splitlines()
    theirs = on_dockerd(dockerd, "history", "busybox:test").stdout.splitlines()
    assert ours[0].split() == theirs[0].split()
    assert len(ours) == len(theirs) == 2
    assert ours[1].split()[0] == skiff_api.skiff.inspect("busybox")["Id"][7:19]
    item = client.api.history("busybox")[0]
    (other,) = dockerd_client.api.history("busybox:test")
    assert list(item) == list(other)
    assert item["Tags"] == ["busybox:latest"] and item["Comment"] == "Imported from -"
    result = on_skiff(skiff_api, "history", "nope:1")
    assert answer(result) == answer(on_dockerd(dockerd, "history", "nope:1"))


# --- tag and rmi --------------------------------------------------------------------------


def test_tag_and_rmi_print_what_dockerd_prints(skiff_api: SkiffApi, dockerd: Docker) -> None:
    assert answer(on_skiff(skiff_api, "tag", "busybox", "tagged/one:1")) == (0, "", "")
    assert answer(on_dockerd(dockerd, "tag", "busybox:test", "tagged/one:1")) == (0, "", "")
    assert skiff_api.skiff.inspect("tagged/one:1")["Id"] == skiff_api.skiff.inspect("busybox")["Id"]
    assert "tagged/one:1" in skiff_api.skiff.inspect("busybox")["RepoTags"]
    ours = on_skiff(skiff_api, "rmi", "tagged/one:1")
    assert answer(ours) == answer(on_dockerd(dockerd, "rmi", "tagged/one:1")) == (
        0, "Untagged: tagged/one:1\n", ""
    )  # fmt: skip
    for args in (["rmi", "nope:1"], ["tag", "nope:1", "other:2"], ["tag", "busybox", "UPPER"]):
        expected = answer(on_dockerd(dockerd, *args))
        assert answer(on_skiff(skiff_api, *args)) == expected, args


def test_rmi_of_an_image_a_container_uses_conflicts_as_dockerd(
    skiff_api: SkiffApi, dockerd: Docker
) -> None:
    created = on_dockerd(
        dockerd, "create", "--name", "image-user", "--network", "none", "busybox:test", "true"
    )
    assert created.returncode == 0, created.stderr
    skiff_api.skiff.ok("create", "--name", "image-user", "busybox")
    try:
        theirs = on_dockerd(dockerd, "rmi", "busybox:test")
        ours = on_skiff(skiff_api, "rmi", "busybox")
        assert ours.returncode == theirs.returncode == 1
        assert normal(ours.stderr, "busybox") == normal(theirs.stderr, "busybox:test")
        assert "(must force) - container" in ours.stderr
        # by ID: the image's only name goes with it, unless a container uses it
        image_id = skiff_api.skiff.inspect("busybox")["Id"]
        result = on_skiff(skiff_api, "rmi", image_id[7:19])
        assert result.returncode == 1
        assert "image is being used by stopped container" in result.stderr
    finally:
        on_dockerd(dockerd, "rm", "image-user")
    skiff_api.skiff.ok("rm", "image-user")
    image_id = skiff_api.skiff.inspect("busybox")["Id"]
    result = on_skiff(skiff_api, "rmi", image_id[7:19])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["Untagged: busybox:latest", f"Deleted: {image_id}"]
    assert skiff_api.skiff.ok("images", "-q") == ""


def test_docker_py_tags_lists_and_removes(skiff_api: SkiffApi, client: Any) -> None:
    import docker

    image = client.images.get("busybox")
    assert image.id == skiff_api.skiff.inspect("busybox")["Id"]
    assert image.tag("py/tagged", "2") is True
    assert sorted(client.images.get("py/tagged:2").tags) == ["busybox:latest", "py/tagged:2"]
    assert {tag for i in client.images.list() for tag in i.tags} == {
        "busybox:latest",
        "py/tagged:2",
    }
    assert [i.tags for i in client.images.list(name="py/*")] == [["busybox:latest", "py/tagged:2"]]
    client.images.remove("py/tagged:2")
    assert client.images.get("busybox").tags == ["busybox:latest"]
    with pytest.raises(docker.errors.ImageNotFound) as missing:
        client.images.get("busybox:nope")
    assert missing.value.response.status_code == 404
    assert missing.value.explanation == "No such image: busybox:nope"
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.remove("busybox:nope")
    with pytest.raises(docker.errors.APIError) as bad:
        client.api.tag("busybox", "UPPER")
    assert bad.value.response.status_code == 400
    assert "must be lowercase" in bad.value.explanation
    skiff_api.skiff.ok("create", "--name", "py-user", "busybox")
    with pytest.raises(docker.errors.APIError) as conflict:
        client.images.remove("busybox")
    assert conflict.value.response.status_code == 409
    assert "conflict: unable to remove repository reference" in conflict.value.explanation
    skiff_api.skiff.ok("rm", "py-user")
    client.images.remove("busybox")
    assert client.images.list() == []


# --- push and pull ------------------------------------------------------------------------


def test_push_and_pull_print_what_dockerd_prints(
    skiff_api: SkiffApi, dockerd: Docker, registry: Registry, busybox_tar: Path
) -> None:
    ours, theirs = f"{registry.address}/skiff/busybox", f"{registry.address}/dockerd/busybox"
    skiff_api.ok("tag", "busybox", ours)
    on_dockerd(dockerd, "tag", "busybox:test", theirs)

    def both(*args: str) -> tuple[subprocess.CompletedProcess[str], ...]:
        return (
            on_skiff(skiff_api, *(a.replace("IMAGE", ours) for a in args)),
            on_dockerd(dockerd, *(a.replace("IMAGE", theirs) for a in args)),
        )

    def same(*args: str) -> subprocess.CompletedProcess[str]:
        mine, dockers = both(*args)
        mine_text = normal(mine.stdout + mine.stderr, ours, "skiff/busybox")
        assert mine_text == normal(dockers.stdout + dockers.stderr, theirs, "dockerd/busybox"), args
        assert mine.returncode == dockers.returncode, args
        return mine

    pushed = same("push", "IMAGE")  # "Pushed"
    assert pushed.returncode == 0, pushed.stderr
    digest = re.search(r"digest: (sha256:[0-9a-f]{64}) size: (\d+)", pushed.stdout)
    assert digest, pushed.stdout
    manifest = registry.manifest("skiff/busybox", "latest")
    assert manifest.headers["docker-content-digest"] == digest[1]
    assert "Layer already exists" in same("push", "IMAGE").stdout
    assert skiff_api.skiff.inspect(ours)["RepoDigests"] == [f"{ours}@{digest[1]}"]
    same("rmi", "IMAGE")  # the tag and its digest
    pulled = same("pull", "IMAGE")  # the image is here already (busybox): nothing to fetch
    assert "Status: Downloaded newer image for" in pulled.stdout
    assert "Status: Image is up to date for" in same("pull", "IMAGE:latest").stdout
    assert same("push", "-a", "IMAGE").returncode == 0  # every tag of the repository
    # by digest
    inspected = on_dockerd(dockerd, "image", "inspect", "-f", "{{index .RepoDigests 0}}", theirs)
    mine, dockers = (
        on_skiff(skiff_api, "pull", f"{ours}@{digest[1]}"),
        on_dockerd(dockerd, "pull", inspected.stdout.strip()),
    )
    assert normal(mine.stdout, ours, "skiff/busybox") == normal(
        dockers.stdout, theirs, "dockerd/busybox"
    )
    # an image whose layer both have (busybox's), as the blob skiff pushed (which dockerd
    # knows once it has pulled it)
    assert on_dockerd(dockerd, "pull", ours).returncode == 0
    layered = f"{registry.address}/skiff/layered"
    skiff_api.ok("import", "-c", 'CMD ["echo", "layered"]', str(busybox_tar), layered)
    skiff_api.ok("push", layered)
    skiff_api.ok("rmi", layered)
    mine, dockers = on_skiff(skiff_api, "pull", layered), on_dockerd(dockerd, "pull", layered)
    assert answer(mine) == answer(dockers)
    assert re.search(r"\n[0-9a-f]{12}: Already exists\n", mine.stdout), mine.stdout
    on_dockerd(dockerd, "rmi", layered, ours)
    assert same("pull", "IMAGE:nope").returncode == 1
    assert same("pull", "IMAGE-nothing").returncode == 1
    assert same("push", "IMAGE-nothing").returncode == 1  # after "The push refers to..."
    assert same("pull", "IMAGE@sha256:" + "0" * 64).returncode == 1
    on_dockerd(dockerd, "rmi", theirs)


def test_a_fresh_pull_streams_dockerds_progress_messages(
    skiff_api: SkiffApi, client: Any, registry: Registry
) -> None:
    name = f"{registry.address}/busybox"
    skiff_api.ok("tag", "busybox", name)
    skiff_api.ok("push", name)
    skiff_api.ok("rmi", "busybox", name)  # the layer goes with the image's last name
    assert skiff_api.skiff.store().images() == []
    messages = list(client.api.pull(name, tag="latest", stream=True, decode=True))
    assert messages[0] == {"status": "Pulling from busybox", "id": "latest"}
    digest = registry.manifest("busybox", "latest").headers["docker-content-digest"]
    assert messages[-2:] == [
        {"status": f"Digest: {digest}"},
        {"status": f"Status: Downloaded newer image for {name}:latest"},
    ]
    layers = messages[1:-2]
    (layer,) = {m["id"] for m in layers}
    blob = registry.manifest("busybox", "latest").json()["layers"][0]
    assert layer == blob["digest"][7:19]
    statuses = [m["status"] for m in layers]
    assert statuses[0] == "Pulling fs layer" and statuses[-1] == "Pull complete"
    assert set(statuses) <= LAYER_STATUSES and "Download complete" in statuses
    for message in layers:  # dockerd's keys, in its order
        if message["status"] == "Downloading":
            assert list(message) == ["status", "progressDetail", "progress", "id"]
            assert message["progressDetail"]["total"] == blob["size"]
        else:
            assert message == {"status": message["status"], "progressDetail": {}, "id": layer}
    downloads = [m["progressDetail"]["current"] for m in layers if m["status"] == "Downloading"]
    assert downloads and downloads[-1] == blob["size"]
    image = client.images.get(f"{name}:latest")
    assert image.attrs["RepoDigests"] == [f"{name}@{digest}"]
    # again: the image is here
    again = list(client.api.pull(name, tag="latest", stream=True, decode=True))
    assert again == [
        {"status": "Pulling from busybox", "id": "latest"},
        {"status": f"Digest: {digest}"},
        {"status": f"Status: Image is up to date for {name}:latest"},
    ]
    # by digest; every tag (no tag)
    by_digest = list(client.api.pull(f"{name}@{digest}", stream=True, decode=True))
    assert by_digest[0] == {"status": "Pulling from busybox", "id": f"{name}@{digest}"}
    every = client.images.pull(name, all_tags=True)
    assert [i.tags for i in every] == [[f"{name}:latest"]]


def test_a_failure_after_the_pull_started_is_the_streams_last_message(
    skiff_api: SkiffApi, client: Any, registry: Registry
) -> None:
    name = f"{registry.address}/broken"
    skiff_api.ok("tag", "busybox", name)
    skiff_api.ok("push", name)
    skiff_api.ok("rmi", "busybox", name)
    layer = registry.manifest("broken", "latest").json()["layers"][0]["digest"]
    registry_blob_path(registry, layer).unlink()
    result = on_skiff(skiff_api, "pull", name)
    assert result.returncode == 1
    assert result.stdout.startswith("Using default tag: latest\nlatest: Pulling from broken\n")
    assert result.stderr.strip() and not result.stderr.startswith("Error response from daemon")
    messages = list(client.api.pull(name, tag="latest", stream=True, decode=True))
    assert messages[0] == {"status": "Pulling from broken", "id": "latest"}
    last = messages[-1]
    assert list(last) == ["errorDetail", "error"]
    assert last["errorDetail"] == {"message": last["error"]}
    assert last["error"] == result.stderr.strip()
    # nothing of it stays: the pull's lease is released
    assert skiff_api.ok("images", "-q") == ""
    assert skiff_api.skiff.store().images() == []
    # a bad reference is an error before the stream
    import docker

    with pytest.raises(docker.errors.APIError) as bad:
        client.api.pull("UPPER", tag="latest")
    assert bad.value.response.status_code == 400
    with pytest.raises(docker.errors.NotFound) as missing:
        client.api.pull(name, tag="nope")
    assert "manifest unknown" in missing.value.explanation


def test_a_pull_the_client_leaves_is_cancelled(
    skiff_api: SkiffApi, registry: Registry, tmp_path: Path
) -> None:
    """As dockerd: the client's going cancels the pull; nothing of it is registered (the
    partial download stays for the next pull to resume, as ``skiff pull`` keeps it)."""
    content = tmp_path / "rootfs"
    content.mkdir()
    (content / "noise").write_bytes(os.urandom(64 << 20))  # incompressible: 64 MB to fetch
    archive = tmp_path / "big.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(content, arcname=".")
    name = f"{registry.address}/big"
    skiff_api.ok("import", str(archive), name)
    skiff_api.ok("push", name)
    skiff_api.ok("rmi", name)
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(str(skiff_api.socket))
        client.sendall(
            f"POST /v1.45/images/create?fromImage={name}&tag=latest HTTP/1.1\r\n"
            "Host: skiff\r\nContent-Length: 0\r\n\r\n".encode()
        )
        seen = b""
        while b'"Downloading"' not in seen:
            data = client.recv(65536)
            assert data, seen
            seen += data

    def downloaded() -> int:
        return sum(f.stat().st_size for f in (skiff_api.skiff.root / "downloads").iterdir())

    deadline = time.monotonic() + 10
    last = -1
    while (now := downloaded()) != last:  # until the download stops
        assert time.monotonic() < deadline, "the pull goes on"
        last = now
        time.sleep(0.5)
    assert 0 < downloaded() < 64 << 20
    assert skiff_api.ok("images", "-q", name) == ""
    # and the next pull finishes it
    pulled = skiff_api.ok("pull", "-q", name)
    assert pulled == f"{name}:latest\n"


def test_credentials_from_the_client_or_from_skiffs_store(
    skiff_api: SkiffApi, client: Any, auth_registry: Registry, tmp_path: Path
) -> None:
    name = f"{auth_registry.address}/private"
    skiff_api.ok("tag", "busybox", name)
    anonymous, logged_in = tmp_path / "anonymous", tmp_path / "logged-in"
    anonymous.mkdir()
    # neither the client nor skiff has credentials: the registry refuses, in the stream
    result = on_skiff(skiff_api, "push", name, config=anonymous)
    assert result.returncode == 1
    assert result.stdout.startswith(
        f"Using default tag: latest\nThe push refers to repository [{name}]\n"
    )
    assert "no basic auth credentials" in result.stderr
    # the docker CLI logs in through skiff serve and sends X-Registry-Auth
    login = on_skiff(
        skiff_api, "login", "-u", REGISTRY_USER, "--password-stdin", auth_registry.address,
        config=logged_in, input=REGISTRY_PASSWORD,
    )  # fmt: skip
    assert login.returncode == 0 and "Login Succeeded" in login.stdout, login
    assert "auths" in json.loads((logged_in / "config.json").read_text())
    pushed = on_skiff(skiff_api, "push", name, config=logged_in)
    assert pushed.returncode == 0, pushed.stderr
    assert "latest: digest: sha256:" in pushed.stdout
    skiff_api.ok("rmi", name)
    assert on_skiff(skiff_api, "pull", name, config=anonymous).returncode == 1
    pulled = on_skiff(skiff_api, "pull", name, config=logged_in)
    assert pulled.returncode == 0, pulled.stderr
    # docker-py's auth_config is X-Registry-Auth too
    auth = {"username": REGISTRY_USER, "password": REGISTRY_PASSWORD}
    skiff_api.ok("tag", "busybox", f"{name}:py")
    out = client.images.push(name, tag="py", auth_config=auth, stream=True, decode=True)
    messages = list(out)
    assert messages[-1]["aux"]["Tag"] == "py" and "error" not in messages[-1], messages
    wrong = {"username": REGISTRY_USER, "password": "wrong"}
    refused = list(client.images.push(name, tag="py", auth_config=wrong, stream=True, decode=True))
    assert "error" in refused[-1]
    # with none from the client, skiff's own (skiff login) serve
    skiff_api.skiff.ok(
        "login", "-u", REGISTRY_USER, "--password-stdin", auth_registry.address,
        input=REGISTRY_PASSWORD,
    )  # fmt: skip
    skiff_api.ok("rmi", name)
    pulled = on_skiff(skiff_api, "pull", name, config=anonymous)
    assert pulled.returncode == 0, pulled.stderr
    assert "Status: Downloaded newer image for" in pulled.stdout
    # a header that is not base64url JSON: a push refuses it
    response = client.api.post(
        client.api._url("/images/{0}/push", name),
        params={"tag": "latest"},
        headers={"X-Registry-Auth": "!!not base64!!"},
    )
    assert response.status_code == 400
    assert "invalid X-Registry-Auth header" in response.json()["message"]
    token = base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()
    response = client.api.post(
        client.api._url("/images/create"),
        params={"fromImage": name, "tag": "latest"},
        headers={"X-Registry-Auth": token},
    )
    assert response.status_code == 200
    assert response.text.splitlines()[-1] == (
        f'{{"status":"Status: Image is up to date for {name}:latest"}}'
    )


# --- save and load ------------------------------------------------------------------------


def test_save_and_load_as_dockerd(
    skiff_api: SkiffApi, dockerd: Docker, client: Any, tmp_path: Path
) -> None:
    archive = tmp_path / "saved.tar"
    skiff_api.ok("tag", "busybox", "saved/other:2")
    assert skiff_api.ok("save", "-o", str(archive), "busybox", "saved/other:2") == ""
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert [m["RepoTags"] for m in manifest] == [["busybox:latest", "saved/other:2"]]
    # dockerd loads skiff serve's archive, and prints what skiff serve prints for it
    theirs = on_dockerd(dockerd, "load", "-i", str(archive))
    assert theirs.returncode == 0, theirs.stderr
    on_dockerd(dockerd, "rmi", "busybox:latest", "saved/other:2")
    skiff_api.ok("rmi", "busybox", "saved/other:2")
    assert answer(on_skiff(skiff_api, "load", "-i", str(archive))) == answer(theirs)
    assert skiff_api.ok("load", "-q", "-i", str(archive)) == theirs.stdout
    # an unknown image; an archive that is not one: the error in the stream, as dockerd's
    result = on_skiff(skiff_api, "save", "-o", str(tmp_path / "none.tar"), "nope:1")
    assert answer(result) == (1, "", "Error response from daemon: No such image: nope:1\n")
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"not an archive at all\n" * 100)
    ours, dockers = (
        on_skiff(skiff_api, "load", "-i", str(garbage)),
        on_dockerd(dockerd, "load", "-i", str(garbage)),
    )
    assert (ours.returncode, ours.stdout) == (dockers.returncode, dockers.stdout) == (1, "")
    assert ours.stderr.strip() and not ours.stderr.startswith("Error response from daemon")
    # docker-py: image.save() streams GET /images/{ID}/get (by ID: with the image's tags,
    # as ``skiff save ID``); images.load() posts it
    skiff_api.ok("rmi", "saved/other:2")
    data = b"".join(client.images.get("busybox").save())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert "manifest.json" in tar.getnames()
    client.images.remove("busybox")
    (loaded,) = client.images.load(data)
    assert loaded.tags == ["busybox:latest"]
    assert loaded.id == skiff_api.skiff.inspect("busybox")["Id"]
    named = b"".join(client.api.get_image("busybox:latest"))
    assert [i.tags for i in client.images.load(named)] == [["busybox:latest"]]


def test_save_ends_with_the_client_that_leaves(skiff_api: SkiffApi, client: Any) -> None:
    """A client that reads a little of an archive and goes: the server goes on serving."""
    response = client.api.get(client.api._url("/images/get"), params={"names": "busybox"},
                              stream=True)  # fmt: skip
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-tar"
    assert len(response.raw.read(1024)) == 1024
    response.close()
    assert client.ping() is True
    assert [i.tags for i in client.images.list()] == [["busybox:latest"]]


# --- import -------------------------------------------------------------------------------


def test_import_as_dockerd(
    skiff_api: SkiffApi, dockerd: Docker, client: Any, busybox_tar: Path
) -> None:
    args = ["import", "-c", 'CMD ["sh"]', "-m", "a message", str(busybox_tar), "imported:1"]
    ours, theirs = on_skiff(skiff_api, *args), on_dockerd(dockerd, *args)
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", ours.stdout) and normal(ours.stdout) == normal(
        theirs.stdout
    )
    mine = skiff_api.skiff.inspect("imported:1")
    other = json.loads(on_dockerd(dockerd, "image", "inspect", "imported:1").stdout)[0]
    assert mine["Id"] == ours.stdout.strip()
    for key in ("Comment", "RepoTags", "Architecture", "Os"):
        assert mine[key] == other[key], key
    assert mine["Config"]["Cmd"] == other["Config"]["Cmd"] == ["sh"]
    assert mine["RootFS"] == other["RootFS"]  # the same layer
    on_dockerd(dockerd, "rmi", "imported:1")
    # from stdin, without a name
    result = on_skiff(skiff_api, "import", "-", input=None)
    assert result.returncode == 1  # stdin is empty
    with open(busybox_tar, "rb") as f:
        piped = subprocess.run(
            ["docker", "import", "-"], stdin=f, capture_output=True, text=True,
            env=skiff_api.env, timeout=120,
        )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    image = client.images.get(piped.stdout.strip())
    assert image.tags == [] and image.attrs["Comment"] == "Imported from -"
    # from a URL, which skiff serve fetches (dockerd: the same words)
    with http_server(busybox_tar.parent) as base_url:
        url = f"{base_url}/{busybox_tar.name}"
        ours, theirs = (
            on_skiff(skiff_api, "import", url, "from-url:1"),
            on_dockerd(dockerd, "import", url, "from-url:1"),
        )
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert normal(ours.stdout) == normal(theirs.stdout)
    assert normal(ours.stdout) == "Downloading from http://REGISTRY/busybox.tar\nsha256:DIGEST\n"
    other = json.loads(on_dockerd(dockerd, "image", "inspect", "from-url:1").stdout)[0]
    assert skiff_api.skiff.inspect("from-url:1")["Comment"] == other["Comment"]
    on_dockerd(dockerd, "rmi", "from-url:1")
    # docker-py's import_image_from_data
    out = client.api.import_image_from_data(
        busybox_tar.read_bytes(), repository="py/imported", tag="3"
    )
    assert json.loads(out)["status"] == client.images.get("py/imported:3").id


# --- prune --------------------------------------------------------------------------------


def test_image_prune_prints_what_dockerd_prints(
    skiff_api: SkiffApi, dockerd: Docker, client: Any, busybox_tar: Path
) -> None:
    # a dangling image each: the same layer as busybox's, so only the image goes
    skiff_api.ok("import", "-c", 'CMD ["true"]', str(busybox_tar))
    on_dockerd(dockerd, "import", "-c", 'CMD ["true"]', str(busybox_tar))
    ours, theirs = (
        on_skiff(skiff_api, "image", "prune", "-f"),
        on_dockerd(dockerd, "image", "prune", "-f"),
    )
    assert (ours.returncode, normal(ours.stdout), ours.stderr) == (
        theirs.returncode, normal(theirs.stdout), theirs.stderr
    )  # fmt: skip
    assert ours.stdout.startswith("Deleted Images:\ndeleted: sha256:")
    again = on_skiff(skiff_api, "image", "prune", "-f")
    assert answer(again) == answer(on_dockerd(dockerd, "image", "prune", "-f"))
    assert again.stdout == "Total reclaimed space: 0B\n"
    # docker-py; -a (dangling=false): every image no container uses
    assert client.images.prune() == {"ImagesDeleted": None, "SpaceReclaimed": 0}
    skiff_api.skiff.ok("create", "--name", "keeper", "busybox")
    skiff_api.ok("tag", "busybox", "unused:1")
    skiff_api.ok("import", str(busybox_tar), "lonely:1")
    result = client.images.prune(filters={"dangling": False})
    lonely = [r for r in result["ImagesDeleted"] if "Deleted" in r]
    assert {"Untagged": "lonely:1"} in result["ImagesDeleted"] and len(lonely) == 1
    assert [i.tags for i in client.images.list()] == [["busybox:latest", "unused:1"]]
    skiff_api.skiff.ok("rm", "keeper")
    with pytest.raises(Exception, match="Invalid filter 'colour'"):
        client.images.prune(filters={"colour": "red"})
