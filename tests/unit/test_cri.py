"""skiff.cri without root: the stubs' generation, which RuntimeService calls are built,
error codes, the AuthConfig of a pull, NetworkReady, the socket, and an in-process server
answering Version, Status, RuntimeConfig, ImageFsInfo and UNIMPLEMENTED."""

from __future__ import annotations

import base64
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from skiff.cri import auth, generate, runtime_service
from skiff.cri.proto import api_pb2 as cri
from skiff.cri.proto import api_pb2_grpc as cri_grpc
from skiff.cri.server import clear_stale_socket
from skiff.cri.status import status_of
from skiff.errors import Conflict, EngineError, InvalidArgument, NotFound


def test_generation_writes_package_modules(tmp_path: Path):
    written = generate.generate(str(tmp_path))
    assert sorted(os.path.basename(p) for p in written) == sorted(generate.MODULES)
    services = (tmp_path / "skiff/cri/proto/api_pb2_grpc.py").read_text()
    # the services import the messages as a module of the package, not `import api_pb2`
    assert "from skiff.cri.proto import api_pb2 as" in services
    assert "\nimport api_pb2" not in services


def test_the_installed_stubs_are_those_of_the_proto_in_the_tree(tmp_path: Path):
    """What make install generated is what the proto in skiff/data gives now (a proto
    changed since must be followed by make install)."""
    fresh = generate.generate(str(tmp_path))
    installed = Path(cri.__file__).parent
    for path in fresh:
        name = os.path.basename(path)
        assert (installed / name).read_text() == Path(path).read_text(), name


def test_every_runtime_call_is_built_or_says_unimplemented():
    calls = {n for n in dir(cri_grpc.RuntimeServiceServicer) if not n.startswith("_")}
    pending = {n for names in runtime_service.PENDING.values() for n in names}
    assert calls == pending | set(runtime_service.IMPLEMENTED)
    assert not pending & set(runtime_service.IMPLEMENTED)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (NotFound("No such image: x"), grpc.StatusCode.NOT_FOUND),
        (InvalidArgument("bad"), grpc.StatusCode.INVALID_ARGUMENT),
        (Conflict("in use"), grpc.StatusCode.FAILED_PRECONDITION),
        (EngineError("broke"), grpc.StatusCode.UNKNOWN),
        (FileNotFoundError(2, "No such file or directory", "/x"), grpc.StatusCode.UNKNOWN),
        (KeyError("bug"), grpc.StatusCode.INTERNAL),
    ],
)
def test_errors_have_containerds_codes_and_one_line(error: Exception, code: grpc.StatusCode):
    found, message = status_of(error)
    assert found == code
    assert message and "\n" not in message


def test_an_error_message_is_one_line():
    assert status_of(EngineError("one\ntwo  three"))[1] == "one two three"
    assert status_of(FileNotFoundError(2, "No such file or directory", "/x"))[1] == (
        "/x: no such file or directory"
    )


def _auth(**fields: str) -> Any:
    return cri.AuthConfig(**fields)


def test_pull_credentials_as_containerd_reads_the_auth_config():
    encoded = base64.b64encode(b"user:pass\0\0").decode()
    assert auth.credentials(None, "r:5000") is None
    assert auth.credentials(_auth(), "r:5000") is None
    assert auth.credentials(_auth(username="u", password="p"), "r:5000") == ("u", "p")
    assert auth.credentials(_auth(auth=encoded), "r:5000") == ("user", "pass")
    # username wins over auth; an identity token is a refresh token: no user
    assert auth.credentials(_auth(username="u", password="p", auth=encoded), "r") == ("u", "p")
    assert auth.credentials(_auth(identity_token="t", auth=encoded), "r") == ("", "t")
    assert auth.credentials(_auth(username="u", identity_token="t"), "r") == ("u", "")
    # another registry's credentials are not sent
    other = _auth(username="u", password="p", server_address="https://other:5000/v2/")
    assert auth.credentials(other, "r:5000") is None
    same = _auth(username="u", password="p", server_address="https://r:5000")
    assert auth.credentials(same, "r:5000") == ("u", "p")
    hub = _auth(username="u", password="p", server_address="https://index.docker.io/v1/")
    assert auth.credentials(hub, "docker.io") == ("u", "p")


@pytest.mark.parametrize(
    "fields",
    [
        {"auth": "not base64!"},
        {"auth": base64.b64encode(b"no-colon").decode()},
        {"registry_token": "t"},
    ],
)
def test_unusable_auth_is_invalid(fields: dict[str, str]):
    with pytest.raises(InvalidArgument):
        auth.credentials(_auth(**fields), "r:5000")


def test_network_ready_from_a_cni_configuration_or_the_bridge(tmp_path: Path):
    conf = tmp_path / "net.d"
    conf.mkdir()
    plugins = tmp_path / "bin"
    plugins.mkdir()
    ready, reason, message, _ = runtime_service.network_condition(str(conf), [str(plugins)])
    assert (ready, reason) == (False, "NetworkPluginNotReady")
    assert str(conf) in message
    bridge = plugins / "bridge"
    bridge.write_text("#!/bin/sh\n")
    bridge.chmod(0o755)
    ready, reason, message, seen = runtime_service.network_condition(str(conf), [str(plugins)])
    assert (ready, reason, seen["bridge"]) == (True, "SkiffBridge", str(bridge))
    (conf / "10-k8s.conflist").write_text("{}")
    (conf / "05-first.conf").write_text("{}")
    ready, reason, message, seen = runtime_service.network_condition(str(conf), [str(plugins)])
    assert (ready, reason) == (True, "")
    assert seen["cniConfigs"] == [str(conf / "05-first.conf"), str(conf / "10-k8s.conflist")]
    assert "05-first.conf" in message


def test_a_stale_socket_goes_and_a_live_one_stays(tmp_path: Path):
    path = str(tmp_path / "cri.sock")
    clear_stale_socket(path)  # nothing there: nothing to do
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    clear_stale_socket(path)
    assert not os.path.exists(path)
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(path)
    live.listen()
    try:
        with pytest.raises(Conflict, match="another server is listening"):
            clear_stale_socket(path)
    finally:
        live.close()
    os.unlink(path)
    Path(path).write_text("")
    with pytest.raises(Conflict, match="not a socket"):
        clear_stale_socket(path)


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[grpc.Channel]:
    """The two services in this process on a socket under tmp_path, over an empty store."""
    from concurrent import futures

    from skiff.cri.image_service import ImageService
    from skiff.paths import Paths

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    paths = Paths(str(tmp_path / "root"), str(tmp_path / "run"))
    cri_grpc.add_RuntimeServiceServicer_to_server(runtime_service.RuntimeService(paths), server)
    cri_grpc.add_ImageServiceServicer_to_server(ImageService(paths), server)
    address = f"unix:{tmp_path}/s.sock"
    server.add_insecure_port(address)
    server.start()
    with grpc.insecure_channel(address) as opened:
        yield opened
    server.stop(None)


def test_an_in_process_server_answers(channel: grpc.Channel, tmp_path: Path):
    runtime = cri_grpc.RuntimeServiceStub(channel)
    images = cri_grpc.ImageServiceStub(channel)
    version = runtime.Version(cri.VersionRequest(version="0.1.0"), timeout=10)
    assert (version.version, version.runtime_api_version) == ("0.1.0", "v1")
    status = runtime.Status(cri.StatusRequest(), timeout=10)
    assert [c.type for c in status.status.conditions] == ["RuntimeReady", "NetworkReady"]
    config = runtime.RuntimeConfig(cri.RuntimeConfigRequest(), timeout=10)
    assert config.linux.cgroup_driver == cri.CGROUPFS
    with pytest.raises(grpc.RpcError) as failed:
        runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id="x"), timeout=10)
    assert (failed.value.code(), failed.value.details()) == (
        grpc.StatusCode.NOT_FOUND,
        "No such pod: x",
    )
    with pytest.raises(grpc.RpcError) as failed:
        runtime.CheckpointContainer(cri.CheckpointContainerRequest(), timeout=10)
    assert failed.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert failed.value.details() == (
        "skiff cri: CheckpointContainer is not implemented yet (checkpoints are not built)"
    )

    assert list(images.ListImages(cri.ListImagesRequest(), timeout=10).images) == []
    missing = cri.ImageStatusRequest(image=cri.ImageSpec(image="busybox"))
    assert not images.ImageStatus(missing, timeout=10).HasField("image")
    images.RemoveImage(cri.RemoveImageRequest(image=cri.ImageSpec(image="busybox")), timeout=10)
    with pytest.raises(grpc.RpcError) as failed:
        images.ImageStatus(cri.ImageStatusRequest(), timeout=10)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [fs] = images.ImageFsInfo(cri.ImageFsInfoRequest(), timeout=10).image_filesystems
    assert fs.fs_id.mountpoint == str(tmp_path / "root" / "layers")
    assert fs.inodes_used.value >= 1


def test_help_does_not_import_grpc():
    import subprocess

    code = (
        "import sys; from skiff.cli.main import main; main(['--help']); print(sorted(sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert "grpc" not in out and "skiff.cri" not in out
