"""``skiff cri`` as a test drives it: a real server process on a unix socket, and a CRI v1
client generated from the same proto (skiff/data/cri-api-v1.proto); for pods, a CNI
configuration directory of the test's own and the kubelet's calls as helpers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from skiff.cri.proto import api_pb2 as cri
from skiff.cri.proto import api_pb2_grpc as cri_grpc
from tests.support.cli import Skiff
from tests.support.server_process import ServerProcess

TIMEOUT = 120  # seconds a call may take (a pull)


class CriServer(ServerProcess):
    """``skiff cri --listen SOCKET ARGS`` over the store of ``skiff``, with its two clients."""

    def __init__(self, skiff: Skiff, base: Path, *args: str) -> None:
        self.socket = base / "cri.sock"
        super().__init__(
            skiff,
            ["cri", "--listen", str(self.socket), *args],
            "CRI v1 listening",
            base / "cri.log",
        )
        self.channel: grpc.Channel | None = None

    def start(self) -> None:
        super().start()
        self.channel = grpc.insecure_channel(f"unix://{self.socket}")
        self.runtime = cri_grpc.RuntimeServiceStub(self.channel)
        self.images = cri_grpc.ImageServiceStub(self.channel)

    def stop(self) -> int | None:
        if self.channel is not None:
            self.channel.close()
        return super().stop()

    # --- calls ---------------------------------------------------------------------------

    def pull(self, image: str, auth: Any = None) -> str:
        request = cri.PullImageRequest(image=cri.ImageSpec(image=image), auth=auth)
        return str(self.images.PullImage(request, timeout=TIMEOUT).image_ref)

    def status(self, image: str, verbose: bool = False) -> Any:
        request = cri.ImageStatusRequest(image=cri.ImageSpec(image=image), verbose=verbose)
        return self.images.ImageStatus(request, timeout=TIMEOUT)

    def list(self, image: str = "") -> list[Any]:
        request = cri.ListImagesRequest()
        if image:
            request.filter.image.image = image
        return list(self.images.ListImages(request, timeout=TIMEOUT).images)

    def remove(self, image: str) -> None:
        request = cri.RemoveImageRequest(image=cri.ImageSpec(image=image))
        self.images.RemoveImage(request, timeout=TIMEOUT)

    def error(self, call: Any, request: Any) -> grpc.RpcError:
        """The error ``call(request)`` fails with (it must fail)."""
        with pytest.raises(grpc.RpcError) as failed:
            call(request, timeout=TIMEOUT)
        return failed.value


@contextmanager
def running_cri(store: Skiff, *args: str) -> Iterator[CriServer]:
    """``skiff cri`` on a socket under /tmp (a unix socket's path is short); stopped with
    SIGTERM at the end, which must remove its socket. Its log is printed at the end, which
    pytest shows when the test failed."""
    base = Path(tempfile.mkdtemp(prefix="skiff-cri-"))
    running = CriServer(store, base, *args)
    try:
        running.start()
        yield running
    finally:
        code = running.stop()
        print(f"--- skiff cri (exit {code}) ---\n{running.log()}--- end of skiff cri's log ---")
        socket_left = running.socket.exists()
        shutil.rmtree(base, ignore_errors=True)
    assert code == 0, f"skiff cri exited {code} on SIGTERM"
    assert not socket_left, "skiff cri left its socket behind"


# --- pods and containers, as the kubelet asks for them ----------------------------------


class Network:
    """A CNI configuration directory with one conflist: a bridge of the test's own."""

    def __init__(self, base: Path) -> None:
        token = os.urandom(2).hex()
        self.bridge = f"skcri{token}"
        self.subnet_prefix = f"10.{200 + int(token[:2], 16) % 50}.{int(token[2:], 16)}"
        self.conf_dir = base / "net.d"
        self.conf_dir.mkdir()
        conflist = {
            "cniVersion": "1.0.0",
            "name": f"test-pods-{token}",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": True,
                    "ipMasq": False,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": f"{self.subnet_prefix}.0/24"}]],
                        "dataDir": str(base / "ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (self.conf_dir / "10-test.conflist").write_text(json.dumps(conflist))

    def remove_bridge(self) -> None:
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


@contextmanager
def cni_network(base: Path) -> Iterator[Network]:
    """A Network under ``base``; its bridge deleted at the end."""
    made = Network(base)
    try:
        yield made
    finally:
        made.remove_bridge()


@contextmanager
def pod_server(store: Skiff, network: Network, *args: str) -> Iterator[CriServer]:
    """``skiff cri`` with ``network``'s configuration directory; every pod left is
    removed at the end, as the kubelet would."""
    with running_cri(store, "--cni-conf-dir", str(network.conf_dir), *args) as running:
        yield running
        for pod in running.runtime.ListPodSandbox(cri.ListPodSandboxRequest()).items:
            running.runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod.id))


def namespaces(pid: int = cri.CONTAINER, **modes: int) -> Any:
    """The kubelet's namespace options: the pod's network and IPC, and a PID namespace
    per container unless ``shareProcessNamespace`` (POD) or ``hostPID`` (NODE)."""
    return cri.NamespaceOption(pid=pid, **modes)


def pod_config(name: str, tmp_path: Path, pid: int = cri.CONTAINER, **extra: Any) -> Any:
    extra.setdefault("linux", cri.LinuxPodSandboxConfig(
        security_context=cri.LinuxSandboxSecurityContext(namespace_options=namespaces(pid))
    ))  # fmt: skip
    config = cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name=name, uid=f"uid-{name}", namespace="default"),
        hostname=name,
        log_directory=str(tmp_path / "logs" / name),
        dns_config=cri.DNSConfig(
            servers=["10.96.0.10"], searches=["default.svc.cluster.local"], options=["ndots:5"]
        ),
        labels={"app": name},
        annotations={"note": "a test pod"},
        **extra,
    )
    return config


def run_pod(server: CriServer, config: Any) -> str:
    reply = server.runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=config), timeout=TIMEOUT)
    return str(reply.pod_sandbox_id)


def container_config(name: str, *args: str, pid: int = cri.CONTAINER, **extra: Any) -> Any:
    extra.setdefault("linux", cri.LinuxContainerConfig(
        security_context=cri.LinuxContainerSecurityContext(namespace_options=namespaces(pid))
    ))  # fmt: skip
    return cri.ContainerConfig(
        metadata=cri.ContainerMetadata(name=name),
        image=cri.ImageSpec(image="busybox:latest"),
        command=["sh", "-c"],
        args=[" ".join(args)] if args else ["sleep 3600"],
        log_path=f"{name}.log",
        **extra,
    )


def create_container(server: CriServer, pod_id: str, pod: Any, config: Any) -> str:
    created = server.runtime.CreateContainer(
        cri.CreateContainerRequest(pod_sandbox_id=pod_id, config=config, sandbox_config=pod),
        timeout=TIMEOUT,
    )
    return str(created.container_id)


def start_container(server: CriServer, pod_id: str, pod: Any, config: Any) -> str:
    container_id = create_container(server, pod_id, pod, config)
    server.runtime.StartContainer(
        cri.StartContainerRequest(container_id=container_id), timeout=TIMEOUT
    )
    return container_id


def exec_sync(server: CriServer, container_id: str, *cmd: str, timeout: int = 30) -> Any:
    request = cri.ExecSyncRequest(container_id=container_id, cmd=list(cmd), timeout=timeout)
    return server.runtime.ExecSync(request, timeout=TIMEOUT)


def out(server: CriServer, container_id: str, script: str) -> str:
    reply = exec_sync(server, container_id, "sh", "-c", script)
    assert reply.exit_code == 0, (reply.stdout, reply.stderr)
    return str(reply.stdout.decode())


def status(server: CriServer, container_id: str) -> Any:
    request = cri.ContainerStatusRequest(container_id=container_id)
    return server.runtime.ContainerStatus(request, timeout=TIMEOUT).status


def wait_exited(server: CriServer, container_id: str) -> Any:
    deadline = time.monotonic() + 30
    while (found := status(server, container_id)).state != cri.CONTAINER_EXITED:
        assert time.monotonic() < deadline, found
        time.sleep(0.1)
    return found
