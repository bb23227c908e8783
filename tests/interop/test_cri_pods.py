"""Pods and containers through ``skiff cri``, driven by a CRI v1 client as the kubelet
drives a runtime: RunPodSandbox with a CNI network from a configuration directory of the
test's own (a bridge, host-local addresses and portmap, as a kubeadm-style conflist),
CreateContainer/StartContainer of busybox containers in it, what they see from inside
(ExecSync) and what the host sees, and that removing a pod leaves nothing (the leak
fixture, after the test's bridge is deleted)."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest

from skiff.cri.proto import api_pb2 as cri
from tests.support.cli import Skiff
from tests.support.cri import (
    TIMEOUT,
    CriServer,
    Network,
    container_config,
    exec_sync,
    out,
    pod_config,
    run_pod,
    running_cri,
    start_container,
    status,
    wait_exited,
)


def test_a_pod_of_two_containers_shares_network_ipc_and_uts(
    server: CriServer, network: Network, tmp_path: Path
):
    pod = pod_config("web", tmp_path)
    pod_id = run_pod(server, pod)
    sandbox = server.runtime.PodSandboxStatus(
        cri.PodSandboxStatusRequest(pod_sandbox_id=pod_id), timeout=TIMEOUT
    ).status
    assert sandbox.state == cri.SANDBOX_READY
    assert sandbox.metadata.name == "web" and sandbox.labels["app"] == "web"
    ip = sandbox.network.ip
    assert ip.startswith(network.subnet_prefix + "."), ip

    server_id = start_container(
        server, pod_id, pod,
        container_config("server", "echo hello from the pod > /tmp/index.html;",
                         "echo shared > /dev/shm/token;",
                         "exec httpd -f -p 8080 -h /tmp"),
    )  # fmt: skip
    client_id = start_container(server, pod_id, pod, container_config("client"))

    # one network: the client reaches the server on localhost; the host on the pod's IP
    deadline = time.monotonic() + 20
    while (
        reply := exec_sync(server, client_id, "wget", "-qO-", "http://127.0.0.1:8080/")
    ).exit_code:
        assert time.monotonic() < deadline, reply.stderr
        time.sleep(0.2)
    assert reply.stdout == b"hello from the pod\n"
    with urllib.request.urlopen(f"http://{ip}:8080/", timeout=10) as answer:
        assert answer.read() == b"hello from the pod\n"
    # one IPC namespace and one /dev/shm; one hostname, the pod's
    assert out(server, client_id, "cat /dev/shm/token") == "shared\n"
    ipc = [out(server, c, "readlink /proc/self/ns/ipc") for c in (server_id, client_id)]
    uts = [out(server, c, "readlink /proc/self/ns/uts; hostname") for c in (server_id, client_id)]
    net = [out(server, c, "readlink /proc/self/ns/net") for c in (server_id, client_id)]
    assert ipc[0] == ipc[1] and uts[0] == uts[1] and net[0] == net[1]
    assert uts[0].split()[1] == "web"
    # each container has its own PID namespace (the default): pid 1 is its own process
    assert out(server, client_id, "cat /proc/1/cmdline | tr '\\0' ' '") == "sleep 3600 "
    # the pod's DNS configuration
    resolv = out(server, client_id, "cat /etc/resolv.conf")
    assert "nameserver 10.96.0.10" in resolv and "search default.svc.cluster.local" in resolv
    assert "options ndots:5" in resolv

    listed = server.runtime.ListContainers(
        cri.ListContainersRequest(filter=cri.ContainerFilter(pod_sandbox_id=pod_id)),
        timeout=TIMEOUT,
    ).containers
    assert {c.metadata.name for c in listed} == {"server", "client"}
    assert all(c.state == cri.CONTAINER_RUNNING for c in listed)

    server.runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod_id), timeout=TIMEOUT)
    assert status(server, server_id).state == cri.CONTAINER_EXITED
    stopped = server.runtime.PodSandboxStatus(
        cri.PodSandboxStatusRequest(pod_sandbox_id=pod_id), timeout=TIMEOUT
    ).status
    assert stopped.state == cri.SANDBOX_NOTREADY and not stopped.network.ip

    # ListPodSandbox's filters: state, labels, an ID prefix
    def listed(**wanted: Any) -> list[str]:
        request = cri.ListPodSandboxRequest(filter=cri.PodSandboxFilter(**wanted))
        return [p.id for p in server.runtime.ListPodSandbox(request, timeout=TIMEOUT).items]

    ready, not_ready = (
        cri.PodSandboxStateValue(state=cri.SANDBOX_READY),
        cri.PodSandboxStateValue(state=cri.SANDBOX_NOTREADY),
    )
    assert (listed(state=ready), listed(state=not_ready)) == ([], [pod_id])
    assert (listed(label_selector={"app": "web"}), listed(label_selector={"app": "x"})) == (
        [pod_id], []
    )  # fmt: skip
    assert (listed(id=pod_id[:12]), listed(id="0" * 64)) == ([pod_id], [])
    # stop and remove are idempotent
    server.runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod_id), timeout=TIMEOUT)
    server.runtime.RemovePodSandbox(
        cri.RemovePodSandboxRequest(pod_sandbox_id=pod_id), timeout=TIMEOUT
    )
    server.runtime.RemovePodSandbox(
        cri.RemovePodSandboxRequest(pod_sandbox_id=pod_id), timeout=TIMEOUT
    )
    assert not server.runtime.ListPodSandbox(cri.ListPodSandboxRequest(), timeout=TIMEOUT).items
    assert not server.runtime.ListContainers(
        cri.ListContainersRequest(), timeout=TIMEOUT
    ).containers


def test_logs_are_in_the_cri_format_at_the_kubelets_path_and_reopen(
    server: CriServer, tmp_path: Path
):
    pod = pod_config("logger", tmp_path)
    pod_id = run_pod(server, pod)
    config = container_config(
        "talker", "echo one; echo two >&2; while [ ! -e /tmp/go ]; do sleep 0.05; done;",
        "echo three; sleep 3600",
    )  # fmt: skip
    container_id = start_container(server, pod_id, pod, config)
    path = tmp_path / "logs" / "logger" / "talker.log"
    found = status(server, container_id)
    assert found.log_path == str(path)
    deadline = time.monotonic() + 10
    while len(path.read_text().splitlines()) < 2:
        assert time.monotonic() < deadline, path.read_text()
        time.sleep(0.05)
    lines = path.read_text().splitlines()
    # <RFC 3339 time with nanoseconds> <stream> <F: full line, P: partial> <the line>
    assert [line.split(" ", 1)[1] for line in lines] == ["stdout F one", "stderr F two"]
    stamp = lines[0].split(" ", 1)[0]
    assert len(stamp) >= len("2026-11-27T21:00:00.000000000Z") - 1 and "T" in stamp

    # the kubelet rotates: it renames the file, then asks for a new one
    path.rename(path.with_suffix(".log.1"))
    server.runtime.ReopenContainerLog(
        cri.ReopenContainerLogRequest(container_id=container_id), timeout=TIMEOUT
    )
    out(server, container_id, "touch /tmp/go")
    deadline = time.monotonic() + 10
    while not path.exists() or "three" not in path.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert [line.split(" ", 1)[1] for line in path.read_text().splitlines()] == ["stdout F three"]
    assert "three" not in path.with_suffix(".log.1").read_text()


def test_an_oom_kill_is_reported_with_reason_oomkilled(server: CriServer, tmp_path: Path):
    pod = pod_config("hungry", tmp_path)
    pod_id = run_pod(server, pod)
    resources = cri.LinuxContainerResources(memory_limit_in_bytes=32 << 20)
    config = container_config(
        "eater", "head -c 67108864 /dev/zero | tail",
        linux=cri.LinuxContainerConfig(resources=resources),
    )  # fmt: skip
    container_id = start_container(server, pod_id, pod, config)
    ended = wait_exited(server, container_id)
    assert (ended.reason, ended.exit_code) == ("OOMKilled", 137)
    assert ended.started_at > 0 and ended.finished_at >= ended.started_at

    done = start_container(server, pod_id, pod, container_config("done", "exit 0"))
    assert (wait_exited(server, done).reason, status(server, done).exit_code) == ("Completed", 0)
    failed = start_container(server, pod_id, pod, container_config("failed", "exit 3"))
    assert (wait_exited(server, failed).reason, status(server, failed).exit_code) == ("Error", 3)


def test_stats_of_containers_and_pods(server: CriServer, tmp_path: Path):
    pod = pod_config("busy", tmp_path)
    pod_id = run_pod(server, pod)
    config = container_config(
        "worker", "head -c 20000000 /dev/zero > /tmp/blob; while :; do :; done"
    )
    container_id = start_container(server, pod_id, pod, config)
    time.sleep(1)
    first = server.runtime.ContainerStats(
        cri.ContainerStatsRequest(container_id=container_id), timeout=TIMEOUT
    ).stats
    time.sleep(1)
    second = server.runtime.ContainerStats(
        cri.ContainerStatsRequest(container_id=container_id), timeout=TIMEOUT
    ).stats
    assert second.attributes.id == container_id and second.attributes.metadata.name == "worker"
    assert second.cpu.usage_core_nano_seconds.value > first.cpu.usage_core_nano_seconds.value
    # a busy loop: most of a core between the two readings
    assert second.cpu.usage_nano_cores.value > 300_000_000, second.cpu
    assert second.memory.working_set_bytes.value > 0
    assert second.memory.usage_bytes.value >= second.memory.working_set_bytes.value
    # the 20 MB file it wrote is in its writable layer
    assert second.writable_layer.used_bytes.value >= 20_000_000

    listed = server.runtime.ListContainerStats(
        cri.ListContainerStatsRequest(filter=cri.ContainerStatsFilter(pod_sandbox_id=pod_id)),
        timeout=TIMEOUT,
    ).stats
    assert [s.attributes.id for s in listed] == [container_id]

    pod_stats = server.runtime.PodSandboxStats(
        cri.PodSandboxStatsRequest(pod_sandbox_id=pod_id), timeout=TIMEOUT
    ).stats
    assert pod_stats.attributes.id == pod_id
    assert pod_stats.linux.cpu.usage_core_nano_seconds.value > 0
    assert pod_stats.linux.memory.working_set_bytes.value > 0
    assert pod_stats.linux.process.process_count.value >= 1
    assert pod_stats.linux.network.default_interface.name == "eth0"
    assert [c.attributes.id for c in pod_stats.linux.containers] == [container_id]
    every = server.runtime.ListPodSandboxStats(cri.ListPodSandboxStatsRequest(), timeout=TIMEOUT)
    assert [s.attributes.id for s in every.stats] == [pod_id]


def test_container_events_follow_the_lifecycle(server: CriServer, tmp_path: Path):
    stream = server.runtime.GetContainerEvents(cri.GetEventsRequest(), timeout=60)
    received: list[Any] = []

    def collect() -> None:
        try:
            for event in stream:
                received.append(event)
        except Exception:  # cancelled at the end
            pass

    reader = threading.Thread(target=collect)
    reader.start()
    time.sleep(0.5)  # the stream reports events recorded from its start on
    pod = pod_config("watched", tmp_path)
    pod_id = run_pod(server, pod)
    container_id = start_container(server, pod_id, pod, container_config("short", "exit 0"))
    wait_exited(server, container_id)
    server.runtime.RemoveContainer(
        cri.RemoveContainerRequest(container_id=container_id), timeout=TIMEOUT
    )
    deadline = time.monotonic() + 10
    while len(received) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    stream.cancel()
    reader.join(10)
    mine = [e for e in received if e.container_id == container_id]
    assert [e.container_event_type for e in mine] == [
        cri.CONTAINER_CREATED_EVENT, cri.CONTAINER_STARTED_EVENT,
        cri.CONTAINER_STOPPED_EVENT, cri.CONTAINER_DELETED_EVENT,
    ]  # fmt: skip
    assert all(e.pod_sandbox_status.id == pod_id for e in mine)
    assert mine[0].created_at <= mine[-1].created_at
    started = mine[1].containers_statuses
    assert [s.id for s in started] == [container_id]


def test_exec_sync_output_exit_code_and_timeout(server: CriServer, tmp_path: Path):
    pod = pod_config("probe", tmp_path)
    pod_id = run_pod(server, pod)
    container_id = start_container(server, pod_id, pod, container_config("app"))
    reply = exec_sync(server, container_id, "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (reply.stdout, reply.stderr, reply.exit_code) == (b"out\n", b"err\n", 7)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as failed:
        exec_sync(server, container_id, "sh", "-c", "sleep 30", timeout=1)
    assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, failed.value
    assert time.monotonic() - started < 10
    # the timed-out process was killed: no sleep 30 left in the container
    assert "sleep 30" not in out(server, container_id, "ps -o args")
    missing = exec_sync(server, container_id, "no-such-command")
    assert missing.exit_code == 127


def test_update_container_resources_reaches_the_cgroup(server: CriServer, tmp_path: Path):
    pod = pod_config("sized", tmp_path)
    pod_id = run_pod(server, pod)
    container_id = start_container(server, pod_id, pod, container_config("app"))
    resources = cri.LinuxContainerResources(memory_limit_in_bytes=100 << 20, cpu_shares=512)
    server.runtime.UpdateContainerResources(
        cri.UpdateContainerResourcesRequest(container_id=container_id, linux=resources),
        timeout=TIMEOUT,
    )
    limit = out(server, container_id, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
    shares = out(server, container_id, "cat /sys/fs/cgroup/cpu/cpu.shares")
    assert (int(limit), int(shares)) == (100 << 20, 512)


def test_pods_outlive_a_restart_of_the_server(
    skiff: Skiff, server: CriServer, network: Network, tmp_path: Path
):
    """SIGTERM stops skiff cri, as systemd would (KillMode=process): the pods and their
    containers go on, and the next server finds them in skiff's database."""
    pod = pod_config("lasting", tmp_path, pid=cri.POD)
    pod_id = run_pod(server, pod)
    container_id = start_container(server, pod_id, pod, container_config("app", pid=cri.POD))
    assert server.stop() == 0
    with running_cri(skiff, "--cni-conf-dir", str(network.conf_dir)) as again:
        [found] = again.runtime.ListPodSandbox(cri.ListPodSandboxRequest(), timeout=TIMEOUT).items
        assert (found.id, found.state) == (pod_id, cri.SANDBOX_READY)
        assert status(again, container_id).state == cri.CONTAINER_RUNNING
        # the shared PID namespace's PID 1 is still there
        assert out(again, container_id, "cat /proc/1/comm") == "catatonit\n"
        again.runtime.RemovePodSandbox(
            cri.RemovePodSandboxRequest(pod_sandbox_id=pod_id), timeout=TIMEOUT
        )
    server.start()  # the fixture's server, for its own teardown


def test_exec_and_port_forward_through_the_rpcs(server: CriServer, tmp_path: Path):
    """Exec and PortForward answer URLs on skiff cri's streaming server, which Kubernetes'
    Python client (WebSocket, v4.channel.k8s.io) follows into the pod."""
    from kubernetes.client import Configuration
    from kubernetes.stream.ws_client import PortForward, WSClient, create_websocket

    pod = pod_config("streamed", tmp_path)
    pod_id = run_pod(server, pod)
    container_id = start_container(
        server, pod_id, pod,
        container_config("web", "echo streamed page > /tmp/index.html;",
                         "exec httpd -f -p 8080 -h /tmp"),
    )  # fmt: skip
    request = cri.ExecRequest(container_id=container_id, cmd=["hostname"], stdout=True)
    url = server.runtime.Exec(request, timeout=TIMEOUT).url
    assert url.startswith("http://127.0.0.1:")
    protocol = {"sec-websocket-protocol": "v4.channel.k8s.io"}
    client = WSClient(Configuration(), url.replace("http://", "ws://"), protocol,
                      capture_all=True, binary=True)  # fmt: skip
    client.run_forever(timeout=30)
    assert (client.read_stdout(), client.returncode) == (b"streamed\n", 0)

    deadline = time.monotonic() + 20
    while ":1F90 " not in out(server, container_id, "cat /proc/net/tcp /proc/net/tcp6"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    request = cri.PortForwardRequest(pod_sandbox_id=pod_id, port=[8080])
    url = server.runtime.PortForward(request, timeout=TIMEOUT).url
    forward = PortForward(
        create_websocket(Configuration(), url.replace("http://", "ws://"), protocol), [8080]
    )
    sock = forward.socket(8080)
    sock.sendall(b"GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n")
    sock.settimeout(30)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    assert answer.endswith(b"streamed page\n"), answer

    for call, bad in (
        (server.runtime.Exec, cri.ExecRequest(container_id="nope", cmd=["true"], stdout=True)),
        (server.runtime.PortForward, cri.PortForwardRequest(pod_sandbox_id="nope", port=[80])),
    ):
        with pytest.raises(grpc.RpcError) as failed:
            call(bad, timeout=TIMEOUT)
        assert failed.value.code() == grpc.StatusCode.NOT_FOUND
