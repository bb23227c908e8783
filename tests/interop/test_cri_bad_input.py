"""Bad input to ``skiff cri``: the gRPC status codes containerd answers with (unknown ids
are NOT_FOUND, removing one is OK, malformed requests INVALID_ARGUMENT, a call the state
does not allow FAILED_PRECONDITION), and nothing half-created after a refusal: no row
(ListPodSandbox, ListContainers, ``skiff ps -a``), no pinned namespace under the run
root, no mount, cgroup or veth (the leak fixture)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import grpc

from skiff.cri.proto import api_pb2 as cri
from tests.support.cli import Skiff
from tests.support.cri import (
    TIMEOUT,
    CriServer,
    cni_network,
    container_config,
    create_container,
    exec_sync,
    out,
    pod_config,
    run_pod,
    running_cri,
    start_container,
    status,
)
from tests.support.engine import processes_mentioning

UNKNOWN = "0123456789abcdef" * 4
NOT_FOUND = grpc.StatusCode.NOT_FOUND
INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


def code(server: CriServer, call: Any, request: Any) -> grpc.StatusCode:
    """The status ``call(request)`` fails with; the message is one line."""
    error = server.error(call, request)
    assert "\n" not in str(error.details()), error.details()
    return error.code()


def pods(server: CriServer) -> list[Any]:
    return list(server.runtime.ListPodSandbox(cri.ListPodSandboxRequest(), timeout=TIMEOUT).items)


def containers(server: CriServer) -> list[Any]:
    request = cri.ListContainersRequest()
    return list(server.runtime.ListContainers(request, timeout=TIMEOUT).containers)


def pinned(server: CriServer) -> list[str]:
    """What is left under the run root's pods directory."""
    directory = server.skiff.runroot / "pods"
    return sorted(os.listdir(directory)) if directory.exists() else []


def nothing_but(server: CriServer, pod_ids: list[str], container_ids: list[str]) -> None:
    """Only these pods and containers exist, for the CRI and for ``skiff ps -a``."""
    assert sorted(p.id for p in pods(server)) == sorted(pod_ids)
    assert sorted(c.id for c in containers(server)) == sorted(container_ids)
    listed = server.skiff.ok("ps", "-a", "-q", "--no-trunc").split()
    assert sorted(listed) == sorted(container_ids)
    assert pinned(server) == sorted(pod_ids)


def test_unknown_ids_are_not_found_and_removing_them_succeeds(server: CriServer):
    rt = server.runtime
    for call, request in (
        (rt.PodSandboxStatus, cri.PodSandboxStatusRequest(pod_sandbox_id=UNKNOWN)),
        (rt.StopPodSandbox, cri.StopPodSandboxRequest(pod_sandbox_id=UNKNOWN)),
        (rt.PodSandboxStats, cri.PodSandboxStatsRequest(pod_sandbox_id=UNKNOWN)),
    ):
        assert code(server, call, request) == NOT_FOUND, call
    rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=UNKNOWN), timeout=TIMEOUT)
    for call, request in (
        (rt.ContainerStatus, cri.ContainerStatusRequest(container_id=UNKNOWN)),
        (rt.StartContainer, cri.StartContainerRequest(container_id=UNKNOWN)),
        (rt.StopContainer, cri.StopContainerRequest(container_id=UNKNOWN, timeout=1)),
        (rt.ExecSync, cri.ExecSyncRequest(container_id=UNKNOWN, cmd=["true"], timeout=5)),
        (rt.ContainerStats, cri.ContainerStatsRequest(container_id=UNKNOWN)),
        (rt.UpdateContainerResources, cri.UpdateContainerResourcesRequest(container_id=UNKNOWN)),
        (rt.ReopenContainerLog, cri.ReopenContainerLogRequest(container_id=UNKNOWN)),
    ):
        assert code(server, call, request) == NOT_FOUND, call
    rt.RemoveContainer(cri.RemoveContainerRequest(container_id=UNKNOWN), timeout=TIMEOUT)
    nothing_but(server, [], [])


def test_empty_ids_are_invalid(server: CriServer):
    rt = server.runtime
    for call, request in (
        (rt.PodSandboxStatus, cri.PodSandboxStatusRequest()),
        (rt.StopPodSandbox, cri.StopPodSandboxRequest()),
        (rt.RemovePodSandbox, cri.RemovePodSandboxRequest()),
        (rt.ContainerStatus, cri.ContainerStatusRequest()),
        (rt.StartContainer, cri.StartContainerRequest()),
        (rt.StopContainer, cri.StopContainerRequest()),
        (rt.RemoveContainer, cri.RemoveContainerRequest()),
        (rt.ExecSync, cri.ExecSyncRequest(cmd=["true"])),
        (rt.ContainerStats, cri.ContainerStatsRequest()),
        (rt.CreateContainer, cri.CreateContainerRequest(config=container_config("x"))),
    ):
        assert code(server, call, request) == INVALID, call
    nothing_but(server, [], [])


def test_bad_sandboxes_are_refused_and_leave_nothing(server: CriServer, tmp_path: Path):
    rt = server.runtime
    # no metadata; metadata without a uid
    bare = cri.PodSandboxConfig(hostname="bare", log_directory=str(tmp_path / "logs"))
    assert code(server, rt.RunPodSandbox, cri.RunPodSandboxRequest(config=bare)) == INVALID
    config = pod_config("nouid", tmp_path)
    config.metadata.uid = ""
    assert code(server, rt.RunPodSandbox, cri.RunPodSandboxRequest(config=config)) == INVALID
    # a runtime handler nobody configured
    request = cri.RunPodSandboxRequest(config=pod_config("h", tmp_path), runtime_handler="kata")
    assert code(server, rt.RunPodSandbox, request) == INVALID
    # a port outside 1-65535
    config = pod_config("ports", tmp_path)
    config.port_mappings.append(cri.PortMapping(container_port=70000, host_port=8080))
    assert code(server, rt.RunPodSandbox, cri.RunPodSandboxRequest(config=config)) == INVALID
    nothing_but(server, [], [])


def test_an_empty_cni_directory_fails_cleanly(
    no_leaks: None, skiff: Skiff, busybox: str, tmp_path: Path
):
    empty = tmp_path / "empty-net.d"
    empty.mkdir()
    with running_cri(skiff, "--cni-conf-dir", str(empty)) as server:
        request = cri.RunPodSandboxRequest(config=pod_config("nonet", tmp_path, pid=cri.POD))
        error = server.error(server.runtime.RunPodSandbox, request)
        assert error.code() not in (grpc.StatusCode.OK, grpc.StatusCode.INTERNAL), error
        assert str(empty) in str(error.details())
        # no row, no pinned namespace, no catatonit (the leak fixture: no mount either)
        nothing_but(server, [], [])
        assert not [p for p in os.listdir("/proc") if p.isdigit() and _is_our_catatonit(p, skiff)]


def _is_our_catatonit(pid: str, skiff: Skiff) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "catatonit" and str(
            skiff.runroot
        ) in Path(f"/proc/{pid}/environ").read_text(errors="replace")
    except OSError:
        return False


def test_containers_need_a_ready_pod_an_image_and_good_mounts(server: CriServer, tmp_path: Path):
    rt = server.runtime
    pod = pod_config("host", tmp_path)
    pod_id = run_pod(server, pod)

    def create(config: Any, sandbox: str = pod_id) -> grpc.StatusCode:
        request = cri.CreateContainerRequest(
            pod_sandbox_id=sandbox, config=config, sandbox_config=pod
        )
        return code(server, rt.CreateContainer, request)

    # an unknown pod
    assert create(container_config("orphan"), UNKNOWN) == NOT_FOUND
    # an image that does not exist, here or anywhere
    missing = container_config("missing")
    missing.image.image = "localhost:1/no/such-image:never"
    assert create(missing) == NOT_FOUND
    # no image at all
    no_image = container_config("no-image")
    no_image.image.image = ""
    assert create(no_image) == INVALID
    # no metadata name
    nameless = container_config("")
    assert create(nameless) == INVALID
    # malformed mounts: a relative path in the container or on the host
    host_dir = tmp_path / "never-made"
    for container_path, host_path in (("relative", str(host_dir)), ("/ok", "relative/dir")):
        config = container_config("mounted")
        config.mounts.append(cri.Mount(container_path=container_path, host_path=host_path))
        assert create(config) == INVALID, (container_path, host_path)
    assert not host_dir.exists() and not Path("relative").exists()
    nothing_but(server, [pod_id], [])

    # a stopped pod: FAILED_PRECONDITION; a removed one: NOT_FOUND
    rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod_id), timeout=TIMEOUT)
    assert create(container_config("late")) == PRECONDITION
    nothing_but(server, [pod_id], [])
    rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod_id), timeout=TIMEOUT)
    assert create(container_config("later")) == NOT_FOUND
    nothing_but(server, [], [])


def test_the_same_pod_twice_is_refused_and_the_first_is_unharmed(server: CriServer, tmp_path: Path):
    pod = pod_config("twice", tmp_path)
    pod_id = run_pod(server, pod)
    container_id = start_container(server, pod_id, pod, container_config("app"))
    before = server.runtime.PodSandboxStatus(
        cri.PodSandboxStatusRequest(pod_sandbox_id=pod_id), timeout=TIMEOUT
    ).status
    error = server.error(server.runtime.RunPodSandbox, cri.RunPodSandboxRequest(config=pod))
    assert error.code() not in (grpc.StatusCode.OK, grpc.StatusCode.INTERNAL), error
    after = server.runtime.PodSandboxStatus(
        cri.PodSandboxStatusRequest(pod_sandbox_id=pod_id), timeout=TIMEOUT
    ).status
    assert after.state == cri.SANDBOX_READY and after.network.ip == before.network.ip
    assert status(server, container_id).state == cri.CONTAINER_RUNNING
    assert out(server, container_id, "hostname; ip -o -4 addr show eth0").split()[0] == "twice"
    assert before.network.ip in out(server, container_id, "ip -o -4 addr show eth0")
    nothing_but(server, [pod_id], [container_id])
    # another attempt of the same pod is a different sandbox (the kubelet's restart)
    pod.metadata.attempt = 1
    second = run_pod(server, pod)
    nothing_but(server, [pod_id, second], [container_id])


def test_exec_sync_needs_a_running_container(server: CriServer, tmp_path: Path):
    rt = server.runtime
    pod = pod_config("execs", tmp_path)
    pod_id = run_pod(server, pod)
    created = create_container(server, pod_id, pod, container_config("created"))
    request = cri.ExecSyncRequest(container_id=created, cmd=["true"], timeout=5)
    assert code(server, rt.ExecSync, request) == PRECONDITION
    stopped = start_container(server, pod_id, pod, container_config("stopped"))
    assert exec_sync(server, stopped, "true").exit_code == 0
    rt.StopContainer(cri.StopContainerRequest(container_id=stopped, timeout=0), timeout=TIMEOUT)
    request = cri.ExecSyncRequest(container_id=stopped, cmd=["true"], timeout=5)
    assert code(server, rt.ExecSync, request) == PRECONDITION
    # starting a running container again is refused too
    running = start_container(server, pod_id, pod, container_config("running"))
    request = cri.StartContainerRequest(container_id=running)
    assert code(server, rt.StartContainer, request) == PRECONDITION
    assert status(server, running).state == cri.CONTAINER_RUNNING


def test_a_server_killed_during_run_pod_sandbox_leaves_a_pod_that_remove_cleans(
    skiff: Skiff, busybox: str, no_leaks: None, tmp_path: Path
):
    """kill -9 of skiff cri while a CNI plugin of RunPodSandbox runs (a plugin that waits
    for a file, put before the bridge): the next server lists the pod, not ready, and
    RemovePodSandbox undoes what was made (pinned namespaces, /dev/shm, the bridge
    plugin's DEL), so the host is as before."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    for name in ("bridge", "host-local", "loopback"):
        (plugins / name).symlink_to(f"/usr/lib/cni/{name}")
    release = tmp_path / "release"
    slow = plugins / "slow"
    slow.write_text(
        "#!/bin/sh\n"
        f'[ "$CNI_COMMAND" = ADD ] && while [ ! -e {release} ]; do sleep 0.05; done\n'
        'cat >/dev/null; [ "$CNI_COMMAND" = VERSION ] || echo \'{"cniVersion": "1.0.0"}\'\n'
    )
    slow.chmod(0o755)
    config = tmp_path / "skiff.toml"
    config.write_text(f'[network]\ncni_plugin_dirs = ["{plugins}"]\n')
    skiff.env["SKIFF_CONFIG"] = str(config)
    with cni_network(tmp_path) as network:
        conflist = json.loads((network.conf_dir / "10-test.conflist").read_text())
        conflist["plugins"].insert(0, {"type": "slow"})
        (network.conf_dir / "10-test.conflist").write_text(json.dumps(conflist))
        base = tmp_path / "first"
        base.mkdir()
        first = CriServer(skiff, base, "--cni-conf-dir", str(network.conf_dir))
        first.start()
        try:
            failures: list[BaseException] = []

            def run() -> None:
                try:
                    run_pod(first, pod_config("doomed", tmp_path))
                except BaseException as e:  # the server dies under it
                    failures.append(e)

            caller = threading.Thread(target=run)
            caller.start()
            deadline = time.monotonic() + 30
            while not processes_mentioning(str(slow)):  # ADD is in the slow plugin now
                assert time.monotonic() < deadline, first.log()
                time.sleep(0.05)
            assert list((skiff.runroot / "pods").glob("*/net")), "no pinned namespace yet"
            assert first.process is not None
            first.process.send_signal(signal.SIGKILL)
            first.process.wait()
            caller.join(30)
            assert failures, "RunPodSandbox returned from a killed server"
        finally:
            release.touch()  # the orphaned plugin ends
            if first.process is not None and first.process.poll() is None:
                first.process.kill()
            if first.channel is not None:
                first.channel.close()
        with running_cri(skiff, "--cni-conf-dir", str(network.conf_dir)) as second:
            [pod] = second.runtime.ListPodSandbox(cri.ListPodSandboxRequest()).items
            assert pod.state == cri.SANDBOX_NOTREADY
            second.runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod.id))
            assert not second.runtime.ListPodSandbox(cri.ListPodSandboxRequest()).items
        assert not list((skiff.runroot / "pods").iterdir())
        subprocess.run(["pkill", "-f", str(slow)], capture_output=True)
