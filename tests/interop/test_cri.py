"""``skiff cri`` driven as the kubelet drives a runtime: a real ``skiff cri`` process on a
unix socket, and a CRI v1 client generated from the same proto (skiff/data/cri-api-v1.proto,
the stubs in skiff.cri.proto).

Here: RuntimeService's Version, Status and RuntimeConfig, the calls not built answering
UNIMPLEMENTED, and the ImageService through skiff's own store (pulls from Debian's
docker-registry on 127.0.0.1, with and without the AuthConfig of the request), so ``skiff
images`` shows them. Pods and containers are in test_cri_pods.py.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from skiff import __version__
from skiff.cri import runtime_service
from skiff.cri.proto import api_pb2 as cri
from tests.support.cli import Skiff
from tests.support.cri import CriServer, running_cri
from tests.support.registry import REGISTRY_PASSWORD, REGISTRY_USER, Registry


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Skiff]:
    """An empty store for the CRI server, with a DOCKER_CONFIG of its own (no stored
    credentials); its images are removed afterwards."""
    cli = Skiff(tmp_path / "cri-store")
    cli.env["DOCKER_CONFIG"] = str(tmp_path / "cri-docker-config")
    yield cli
    for image in set(cli("images", "-aq").out.split()):
        cli("rmi", "-f", image)


@pytest.fixture
def server(no_leaks: None, store: Skiff) -> Iterator[CriServer]:
    with running_cri(store) as running:
        yield running


def push_busybox(skiff: Skiff, registry: Registry, ref: str, tmp_path: Path) -> tuple[str, str]:
    """busybox:latest of ``skiff``'s store in ``registry`` as ``ref``: (name, image ID)."""
    archive = tmp_path / f"busybox-{registry.port}.tar"
    skiff.ok("save", "-o", str(archive), "busybox:latest")
    registry.push_archive(archive, ref)
    image_id = skiff.ok("image", "inspect", "--format", "{{.Id}}", "busybox:latest").strip()
    return f"{registry.address}/{ref}", image_id


@pytest.fixture
def pushed(skiff: Skiff, busybox: str, registry: Registry, tmp_path: Path) -> tuple[str, str]:
    return push_busybox(skiff, registry, "library/busybox:1", tmp_path)


@pytest.fixture
def auth_pushed(
    skiff: Skiff, busybox: str, auth_registry: Registry, tmp_path: Path
) -> tuple[str, str]:
    return push_busybox(skiff, auth_registry, "library/busybox:1", tmp_path)


def assert_no_images(store: Skiff) -> None:
    assert store.ok("images", "-aq") == ""
    ingest = store.root / "ingest"
    assert not ingest.is_dir() or not list(ingest.iterdir())


# --- RuntimeService ---------------------------------------------------------------------


def test_version_status_and_runtime_config(server: CriServer):
    version = server.runtime.Version(cri.VersionRequest(version="0.1.0"), timeout=10)
    assert (version.version, version.runtime_name) == ("0.1.0", "skiff")
    assert (version.runtime_version, version.runtime_api_version) == (__version__, "v1")

    status = server.runtime.Status(cri.StatusRequest(verbose=True), timeout=10)
    conditions = {c.type: c for c in status.status.conditions}
    assert set(conditions) == {"RuntimeReady", "NetworkReady"}
    assert conditions["RuntimeReady"].status is True
    network = json.loads(status.info["network"])
    # ready with a CNI configuration on the host, or else skiff's own bridge plugin
    assert conditions["NetworkReady"].status is bool(network["cniConfigs"] or network["bridge"])
    if network["cniConfigs"]:
        assert network["cniConfigs"][0] in conditions["NetworkReady"].message
    assert json.loads(status.info["implemented"]) == list(runtime_service.IMPLEMENTED)
    assert not server.runtime.Status(cri.StatusRequest(), timeout=10).info

    config = server.runtime.RuntimeConfig(cri.RuntimeConfigRequest(), timeout=10)
    assert config.linux.cgroup_driver == cri.CGROUPFS


def test_what_is_not_built_answers_unimplemented(server: CriServer):
    for call, request in (
        (server.runtime.CheckpointContainer, cri.CheckpointContainerRequest(container_id="x")),
        (server.runtime.ListMetricDescriptors, cri.ListMetricDescriptorsRequest()),
    ):
        error = server.error(call, request)
        assert error.code() == grpc.StatusCode.UNIMPLEMENTED, error
        assert "not implemented yet" in error.details() and "\n" not in error.details()
    # a streaming call too
    events = server.runtime.StreamContainers(cri.StreamContainersRequest(), timeout=10)
    with pytest.raises(grpc.RpcError) as failed:
        next(iter(events))
    assert failed.value.code() == grpc.StatusCode.UNIMPLEMENTED


# --- ImageService -----------------------------------------------------------------------


def test_pull_list_status_and_remove(server: CriServer, store: Skiff, pushed: tuple[str, str]):
    name, image_id = pushed
    assert server.status(name).HasField("image") is False  # missing: empty, not an error
    assert server.list() == []

    # image_ref is the image ID, as containerd answers it
    assert server.pull(name) == image_id
    assert server.pull(name) == image_id  # a second pull: the same image

    [listed] = server.list()
    assert listed.id == image_id
    assert list(listed.repo_tags) == [name]
    assert [d.partition("@")[0] for d in listed.repo_digests] == [f"{name.rpartition(':')[0]}"]
    assert listed.size > 0
    assert listed.spec.image == image_id
    assert [i.id for i in server.list(name)] == [image_id]
    assert [i.id for i in server.list(image_id)] == [image_id]
    assert server.list(f"{name}-missing") == []

    status = server.status(name, verbose=True)
    assert status.image.id == image_id
    assert list(status.image.repo_tags) == [name]
    info = json.loads(status.info["info"])
    assert info["id"] == image_id
    assert info["imageSpec"]["rootfs"]["type"] == "layers"
    assert server.status(image_id).image.id == image_id
    assert server.status(name).info == {}

    # skiff's own CLI sees what the CRI pulled
    rows = store.ok("images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
    assert rows == f"{name} {image_id}\n"

    fs = server.images.ImageFsInfo(cri.ImageFsInfoRequest(), timeout=10)
    [usage] = fs.image_filesystems
    assert usage.fs_id.mountpoint == str(store.root / "layers")
    assert usage.used_bytes.value > 1 << 20  # busybox's files
    assert usage.inodes_used.value > 10
    assert abs(usage.timestamp - time.time_ns()) < 60 * 10**9

    server.remove(name)
    server.remove(name)  # removing a missing image is not an error
    server.remove(image_id)
    assert server.status(name).HasField("image") is False
    assert server.list() == []
    assert_no_images(store)


def test_pull_with_the_requests_auth(server: CriServer, store: Skiff, auth_pushed: tuple[str, str]):
    name, image_id = auth_pushed
    address = name.split("/", 1)[0]

    error = server.error(
        server.images.PullImage, cri.PullImageRequest(image=cri.ImageSpec(image=name))
    )
    assert error.code() == grpc.StatusCode.UNKNOWN, error
    assert "no basic auth credentials" in error.details()
    assert_no_images(store)

    # an AuthConfig for another registry is not sent to this one (containerd's ParseAuth)
    elsewhere = cri.AuthConfig(
        username=REGISTRY_USER, password=REGISTRY_PASSWORD, server_address="other.example:5000"
    )
    request = cri.PullImageRequest(image=cri.ImageSpec(image=name), auth=elsewhere)
    assert server.error(server.images.PullImage, request).code() == grpc.StatusCode.UNKNOWN

    wrong = cri.AuthConfig(username=REGISTRY_USER, password="wrong")
    request = cri.PullImageRequest(image=cri.ImageSpec(image=name), auth=wrong)
    assert server.error(server.images.PullImage, request).code() == grpc.StatusCode.UNKNOWN
    assert_no_images(store)

    plain = cri.AuthConfig(
        username=REGISTRY_USER, password=REGISTRY_PASSWORD, server_address=f"http://{address}"
    )
    assert server.pull(name, plain) == image_id
    server.remove(image_id)
    assert_no_images(store)

    encoded = base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode()
    assert server.pull(name, cri.AuthConfig(auth=encoded)) == image_id
    assert [i.id for i in server.list()] == [image_id]
    # the credentials were the request's: nothing was stored for skiff login's users
    assert not (store.root.parent / "cri-docker-config" / "config.json").exists()

    tokens = cri.AuthConfig(registry_token="token")
    request = cri.PullImageRequest(image=cri.ImageSpec(image=name), auth=tokens)
    error = server.error(server.images.PullImage, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error


def test_bad_pulls_have_containerds_codes_and_leave_nothing(
    server: CriServer, store: Skiff, registry: Registry
):
    missing = f"{registry.address}/library/missing:1"
    error = server.error(
        server.images.PullImage, cri.PullImageRequest(image=cri.ImageSpec(image=missing))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND, error
    assert "not found" in error.details() and "\n" not in error.details()

    for bad in ("Busybox", "busybox:bad tag", ""):
        error = server.error(
            server.images.PullImage, cri.PullImageRequest(image=cri.ImageSpec(image=bad))
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (bad, error)
    assert_no_images(store)
    assert server.list() == []


# --- the socket -------------------------------------------------------------------------


def test_the_socket_is_0660_a_stale_one_is_replaced_and_a_live_one_kept(
    no_leaks: None, store: Skiff
):
    base = Path(tempfile.mkdtemp(prefix="skiff-cri-"))
    try:
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(base / "cri.sock"))
        stale.close()  # the file stays, nobody listens: what a killed server leaves
        first = CriServer(store, base)
        first.start()
        mode = os.stat(first.socket).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660
        assert first.runtime.Version(cri.VersionRequest(), timeout=10).runtime_name == "skiff"

        second = store("cri", "--listen", str(first.socket), timeout=30)
        assert second.code != 0
        assert "another server is listening" in second.err
        assert first.socket.exists()

        first.process.send_signal(signal.SIGINT)  # type: ignore[union-attr]
        assert first.process.wait(20) == 0  # type: ignore[union-attr]
        assert not first.socket.exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_systemd_unit_is_installed_and_verifies(tmp_path: Path):
    """`make install` puts skiff-cri.service where systemd looks for a local admin's units;
    systemd-analyze accepts it (its ExecStart exists and is executable), and would refuse
    one whose command is missing."""
    source = Path(__file__).resolve().parents[2] / "skiff" / "data" / "skiff-cri.service"
    installed = Path("/usr/local/lib/systemd/system/skiff-cri.service")
    assert installed.read_text() == source.read_text()
    verified = subprocess.run(["systemd-analyze", "verify", str(installed)], capture_output=True)
    assert verified.returncode == 0, verified.stderr.decode()
    unit = installed.read_text()
    assert "ExecStart=/usr/local/bin/skiff cri\n" in unit and "KillMode=process\n" in unit
    broken = tmp_path / "skiff-cri.service"
    broken.write_text(unit.replace("/usr/local/bin/skiff cri", "/usr/local/bin/no-such-skiff cri"))
    refused = subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True)
    assert refused.returncode != 0
