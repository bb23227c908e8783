"""The CRI streaming server (skiff.cri.streaming) with real skiff containers and real
clients: Kubernetes' Python client (remote command and port forward over WebSocket, v4
and v5) and kubectl (through a fake API server that proxies its upgrade to the streaming
URL as the API server and the kubelet would), each kubectl test twice: over SPDY/3.1
alone, and as kubectl does by default (WebSocket v5 for exec and attach, SPDY tunnelled
in a WebSocket for port-forward); plus hand-made requests for what clients never send
(base64 and pre-v4 channels, a protocol nobody speaks, used tokens) and the server's stop.

The server runs in the test process; a "pod" is a container, its network namespace
``/proc/PID/ns/net``. kubectl's tests are skipped where there is no kubectl.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import Configuration
from kubernetes.stream.ws_client import PortForward, WSClient, create_websocket

from skiff.cri.proto import api_pb2 as cri
from skiff.cri.streaming import StreamingServer
from skiff.errors import Conflict, NotFound
from tests.support.cli import Skiff
from tests.support.terminal import Terminal

pytestmark = pytest.mark.usefixtures("no_leaks")

HTTPD = "echo hello-through-the-pod > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"
ECHO_LOOP = 'while read l && [ "$l" != quit ]; do echo out:$l; echo err:$l >&2; done; echo bye'


class Pods:
    """Containers as pods: ``netns_of(name)`` is the network namespace of the container
    ``name``."""

    def __init__(self, skiff: Skiff) -> None:
        self.skiff = skiff

    def run(self, name: str, *args: str) -> str:
        return self.skiff.ok("run", "-d", "--name", name, *args).strip()

    def netns_of(self, name: str) -> str:
        result = self.skiff("inspect", "--format", "{{.State.Pid}}", name)
        if result.code or result.out.strip() in ("", "0"):
            raise NotFound(f"pod sandbox {name} not found")
        return f"/proc/{result.out.strip()}/ns/net"


@pytest.fixture
def pods(skiff: Skiff, busybox: str) -> Pods:
    return Pods(skiff)


@pytest.fixture
def server(pods: Pods) -> Iterator[StreamingServer]:
    streaming = StreamingServer(pods.skiff.paths, pods.netns_of)
    streaming.start()
    yield streaming
    streaming.stop()


def _exec(container: str, *cmd: str, stdin: bool = False, tty: bool = False) -> Any:
    return cri.ExecRequest(
        container_id=container, cmd=list(cmd), stdin=stdin, stdout=True, stderr=not tty, tty=tty
    )


# --- WebSocket, with Kubernetes' Python client --------------------------------------------


def _ws(url: str, protocol: str) -> Any:
    return WSClient(
        Configuration(),
        url.replace("http://", "ws://"),
        {"sec-websocket-protocol": protocol},
        capture_all=True,
        binary=True,
    )


def _status(client: Any) -> dict[str, Any]:
    return json.loads(client.peek_channel(3))


PROTOCOLS = ["v4.channel.k8s.io", "v5.channel.k8s.io"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_exec_websocket_output_and_exit_code(
    pods: Pods, server: StreamingServer, protocol: str
) -> None:
    cid = pods.run("c1", "busybox", "sleep", "60")
    client = _ws(
        server.exec_url(_exec(cid, "sh", "-c", "echo out; echo err >&2; exit 3")), protocol
    )
    assert client.subprotocol == protocol
    client.run_forever(timeout=30)
    assert client.read_stdout() == b"out\n"
    assert client.read_stderr() == b"err\n"
    status = _status(client)
    assert status["status"] == "Failure"
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert client.returncode == 3

    client = _ws(server.exec_url(_exec(cid, "true")), protocol)
    client.run_forever(timeout=30)
    assert _status(client) == {"metadata": {}, "status": "Success"}


@pytest.mark.parametrize("protocol", ["v4.base64.channel.k8s.io", "channel.k8s.io"])
def test_exec_websocket_older_and_base64_forms(
    pods: Pods, server: StreamingServer, protocol: str
) -> None:
    """Text messages in base64 with the channel as a digit; before v4, the error channel
    carries the failure's message alone."""
    import base64

    from websocket import ABNF, create_connection

    cid = pods.run("c1", "busybox", "sleep", "60")
    url = server.exec_url(_exec(cid, "sh", "-c", "head -n1; echo err >&2; exit 3", stdin=True))
    ws = create_connection(url.replace("http://", "ws://"), subprotocols=[protocol], timeout=30)
    text = "base64" in protocol
    line = b"typed\n"
    if text:
        ws.send("0" + base64.b64encode(line).decode())
    else:
        ws.send(b"\0" + line, opcode=ABNF.OPCODE_BINARY)
    received: dict[int, bytes] = {}
    while True:
        opcode, data = ws.recv_data()
        if opcode == ABNF.OPCODE_CLOSE:
            break
        channel, payload = (data[0] - ord("0"), base64.b64decode(data[1:])) if text else (
            data[0], data[1:])  # fmt: skip
        received[channel] = received.get(channel, b"") + payload
    ws.close()
    assert received[1] == b"typed\n"
    assert received[2] == b"err\n"
    if protocol.startswith("v4."):
        assert json.loads(received[3])["details"]["causes"][0]["message"] == "3"
    else:
        assert received[3].startswith(b"command terminated with non-zero exit code: ")


def test_exec_websocket_v5_stdin_end(pods: Pods, server: StreamingServer) -> None:
    """v5's close signal ends the process's stdin: cat sees its end of file."""
    cid = pods.run("c1", "busybox", "sleep", "60")
    client = _ws(
        server.exec_url(_exec(cid, "sh", "-c", "cat; echo done", stdin=True)), PROTOCOLS[1]
    )
    client.write_stdin(b"hello\n")
    client.close_channel(0)
    client.run_forever(timeout=30)
    assert client.read_stdout() == b"hello\ndone\n"
    assert client.returncode == 0


def test_exec_websocket_v4_stdin(pods: Pods, server: StreamingServer) -> None:
    cid = pods.run("c1", "busybox", "sleep", "60")
    client = _ws(server.exec_url(_exec(cid, "head", "-n1", stdin=True)), PROTOCOLS[0])
    client.write_stdin(b"first line\nsecond\n")
    client.run_forever(timeout=30)
    assert client.read_stdout() == b"first line\n"
    assert client.returncode == 0


def test_exec_websocket_tty_resize(pods: Pods, server: StreamingServer) -> None:
    cid = pods.run("c1", "busybox", "sleep", "60")
    client = _ws(server.exec_url(_exec(cid, "sh", stdin=True, tty=True)), PROTOCOLS[1])
    client.write_channel(4, b'{"Width":123,"Height":45}')
    client.write_stdin(b"stty size; tty; exit 7\n")
    client.run_forever(timeout=30)
    output = client.read_stdout()
    assert b"45 123\r\n" in output
    assert b"/dev/pts/" in output
    assert client.returncode == 7


def test_attach_websocket(pods: Pods, server: StreamingServer) -> None:
    cid = pods.run("c1", "-i", "busybox", "sh", "-c", ECHO_LOOP)
    request = cri.AttachRequest(container_id=cid, stdin=True, stdout=True, stderr=True)
    client = _ws(server.attach_url(request), PROTOCOLS[1])
    client.write_stdin(b"one\n")
    assert client.readline_stdout(timeout=10) == b"out:one"
    assert client.readline_stderr(timeout=10) == b"err:one"
    client.write_stdin(b"quit\n")  # the container ends, and with it the attach
    client.run_forever(timeout=30)
    assert b"bye" in client.read_stdout()
    assert client.returncode == 0


def _port_forward(url: str, port: int) -> Any:
    websocket = create_websocket(
        Configuration(),
        url.replace("http://", "ws://"),
        {"sec-websocket-protocol": "v4.channel.k8s.io"},
    )
    return PortForward(websocket, [port])


def _http_get(sock: Any) -> bytes:
    sock.sendall(b"GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n")
    sock.settimeout(30)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def test_port_forward_websocket(pods: Pods, server: StreamingServer) -> None:
    pods.run("web", "busybox", "sh", "-c", HTTPD)
    _wait_listening(pods, "web", 8080)
    forward = _port_forward(
        server.port_forward_url(cri.PortForwardRequest(pod_sandbox_id="web", port=[8080])), 8080
    )
    answer = _http_get(forward.socket(8080))
    assert answer.split(b"\r\n", 1)[0].endswith(b" 200 OK"), answer
    assert answer.endswith(b"hello-through-the-pod\n")
    assert forward.error(8080) is None


def test_port_forward_websocket_nobody_listening(pods: Pods, server: StreamingServer) -> None:
    pods.run("web", "busybox", "sleep", "60")
    forward = _port_forward(
        server.port_forward_url(cri.PortForwardRequest(pod_sandbox_id="web", port=[9])), 9
    )
    sock = forward.socket(9)
    sock.settimeout(30)
    assert sock.recv(100) == b""  # closed, not hanging
    assert "connection refused" in (forward.error(9) or "").lower()


def test_port_forward_websocket_to_ipv6_loopback(pods: Pods, server: StreamingServer) -> None:
    """A server on ::1 alone is reached too (localhost, as containerd dials it)."""
    pods.run("web", "busybox", "sh", "-c", HTTPD.replace("-p 8080", "-p [::1]:8081"))
    _wait_listening(pods, "web", 8081)
    forward = _port_forward(
        server.port_forward_url(cri.PortForwardRequest(pod_sandbox_id="web", port=[8081])), 8081
    )
    assert _http_get(forward.socket(8081)).endswith(b"hello-through-the-pod\n")


def test_concurrent_execs(pods: Pods, server: StreamingServer) -> None:
    """Each exec gets its own output and exit code."""
    cid = pods.run("c1", "busybox", "sleep", "60")
    results: dict[int, tuple[bytes, int]] = {}

    def one(n: int) -> None:
        command = f"for i in 1 2 3; do echo {n}-$i; sleep 0.1; done; exit {n}"
        client = _ws(server.exec_url(_exec(cid, "sh", "-c", command)), PROTOCOLS[n % 2])
        client.run_forever(timeout=60)
        results[n] = (client.read_stdout(), client.returncode)
        client.sock.shutdown()  # the client's socket (its close() skips a closed one)

    fds = len(os.listdir("/proc/self/fd"))
    threads = [threading.Thread(target=one, args=(n,)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert results == {n: (f"{n}-1\n{n}-2\n{n}-3\n".encode(), n) for n in range(1, 9)}
    time.sleep(0.5)  # the server's side of the last connections
    assert len(os.listdir("/proc/self/fd")) <= fds + 1  # nothing kept open


def _our_skiff_execs() -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and " exec " in command:
            found.append(f"{pid}: {command}")
    return found


def test_stop_ends_sessions_in_flight(pods: Pods) -> None:
    cid = pods.run("c1", "busybox", "sleep", "60")
    streaming = StreamingServer(pods.skiff.paths, pods.netns_of)
    streaming.start()
    try:
        client = _ws(streaming.exec_url(_exec(cid, "sleep", "50", tty=True)), PROTOCOLS[1])
        deadline = time.monotonic() + 20
        while not _our_skiff_execs():
            assert time.monotonic() < deadline, "the exec did not start"
            time.sleep(0.05)
    finally:
        started = time.monotonic()
        streaming.stop()
    assert time.monotonic() - started < 10
    from websocket import WebSocketConnectionClosedException

    with contextlib.suppress(WebSocketConnectionClosedException):  # cut, as the kubelet's
        client.run_forever(timeout=10)
    assert _our_skiff_execs() == []


def _wait_listening(pods: Pods, name: str, port: int) -> None:
    """Until the container's server accepts connections (busybox httpd starts fast, but
    not before ``skiff run -d`` returns)."""
    deadline = time.monotonic() + 20
    while True:
        result = pods.skiff("exec", name, "netstat", "-ltn")
        if result.code == 0 and f":{port} " in result.out:
            return
        assert time.monotonic() < deadline, result
        time.sleep(0.1)


# --- bad input -----------------------------------------------------------------------------


def test_unknown_and_used_tokens_are_404(pods: Pods, server: StreamingServer) -> None:
    base = f"http://127.0.0.1:{server.port}"
    for path in ("/exec/nonsense", "/attach/nonsense", "/portforward/nonsense"):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(base + path, timeout=10)
        assert caught.value.code == 404
    cid = pods.run("c1", "busybox", "sleep", "60")
    url = server.exec_url(_exec(cid, "true"))
    token = url.rsplit("/", 1)[1]
    with pytest.raises(urllib.error.HTTPError) as caught:  # of another kind: not taken
        urllib.request.urlopen(f"{base}/attach/{token}", timeout=10)
    assert caught.value.code == 404
    client = _ws(url, PROTOCOLS[0])
    client.run_forever(timeout=30)
    assert client.returncode == 0
    with pytest.raises(urllib.error.HTTPError) as caught:  # used once: gone
        urllib.request.urlopen(url, timeout=10)
    assert caught.value.code == 404


def test_spdy_without_a_common_protocol_is_refused(pods: Pods, server: StreamingServer) -> None:
    import http.client

    cid = pods.run("c1", "busybox", "sleep", "60")
    path = urllib.parse.urlsplit(server.exec_url(_exec(cid, "true"))).path
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "SPDY/3.1",
        "X-Stream-Protocol-Version": "v9.channel.k8s.io",
    }
    connection.request("POST", path, headers=headers)
    answer = connection.getresponse()
    assert answer.status == 403
    assert "v4.channel.k8s.io" in answer.getheader("X-Accepted-Stream-Protocol-Versions", "")
    assert b"unable to negotiate protocol" in answer.read()
    connection.close()


def test_urls_of_unknown_or_stopped_containers_and_pods(
    pods: Pods, server: StreamingServer
) -> None:
    with pytest.raises(NotFound):
        server.exec_url(_exec("no-such-container", "true"))
    with pytest.raises(NotFound):
        server.attach_url(cri.AttachRequest(container_id="no-such-container", stdout=True))
    with pytest.raises(NotFound):
        server.port_forward_url(cri.PortForwardRequest(pod_sandbox_id="no-such-pod", port=[1]))
    pods.skiff.ok("create", "--name", "idle", "busybox", "true")
    with pytest.raises(Conflict):
        server.exec_url(_exec("idle", "true"))


def test_exec_of_a_missing_command(pods: Pods, server: StreamingServer) -> None:
    """The runtime's error comes back as an internal error, as the kubelet reports it."""
    cid = pods.run("c1", "busybox", "sleep", "60")
    client = _ws(server.exec_url(_exec(cid, "no-such-command")), PROTOCOLS[0])
    client.run_forever(timeout=30)
    status = _status(client)
    assert status["status"] == "Failure"
    assert status["reason"] == "InternalError"
    assert "no-such-command" in status["message"]


# --- kubectl, through a fake API server -------------------------------------------------------


class FakeApiServer:
    """Just enough of an API server for kubectl exec, attach and port-forward: discovery,
    the pod (always Running, one container ``main`` with stdin and a terminal), and the
    streaming calls, turned into CRI requests for the streaming server as the kubelet
    turns them (the pod's name is the container's) and proxied to its URL: the request
    line rewritten, then a raw byte pipe both ways."""

    def __init__(self, streaming: StreamingServer) -> None:
        self.streaming = streaming
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self._spawn(self._accept)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.threads.append(thread)

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        buffered = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffered:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffered += chunk
                head, buffered = buffered.split(b"\r\n\r\n", 1)
                line, *header_lines = head.decode().split("\r\n")
                method, target, version = line.split(" ")
                headers = {
                    k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)
                }
                url = urllib.parse.urlsplit(target)
                parts = url.path.strip("/").split("/")
                if len(parts) == 7 and parts[6] in ("exec", "attach", "portforward"):
                    query = urllib.parse.parse_qs(url.query)
                    streaming_url = self._streaming_url(parts[6], parts[5], query)
                    path = urllib.parse.urlsplit(streaming_url).path
                    rewritten = f"{method} {path} {version}\r\n" + "\r\n".join(header_lines)
                    self._proxy(conn, rewritten.encode() + b"\r\n\r\n" + buffered)
                    return
                length = int(headers.get("content-length", "0"))
                while len(buffered) < length:
                    buffered += conn.recv(65536)
                buffered = buffered[length:]
                status, body = self._answer(parts)
                conn.sendall(
                    f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )

    def _streaming_url(self, verb: str, pod: str, query: dict[str, list[str]]) -> str:
        def flag(name: str) -> bool:
            return query.get(name, ["false"])[0] in ("true", "1")

        if verb == "exec":
            return self.streaming.exec_url(
                cri.ExecRequest(
                    container_id=pod, cmd=query.get("command", []), stdin=flag("stdin"),
                    stdout=flag("stdout"), stderr=flag("stderr"), tty=flag("tty"),
                )
            )  # fmt: skip
        if verb == "attach":
            return self.streaming.attach_url(
                cri.AttachRequest(
                    container_id=pod, stdin=flag("stdin"), stdout=flag("stdout"),
                    stderr=flag("stderr"), tty=flag("tty"),
                )
            )  # fmt: skip
        ports = [int(p) for value in query.get("ports", []) for p in value.split(",")]
        return self.streaming.port_forward_url(
            cri.PortForwardRequest(pod_sandbox_id=pod, port=ports)
        )

    def _proxy(self, client: socket.socket, first: bytes) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.streaming.port))
        upstream.sendall(first)

        def copy(source: socket.socket, sink: socket.socket) -> None:
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        back = threading.Thread(target=copy, args=(upstream, client), daemon=True)
        back.start()
        copy(client, upstream)
        back.join()
        upstream.close()

    def _answer(self, parts: list[str]) -> tuple[str, bytes]:
        if parts == ["api"]:
            document: dict[str, Any] = {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}  # fmt: skip
        elif parts == ["apis"]:
            document = {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
        elif parts == ["api", "v1"]:
            document = {
                "kind": "APIResourceList", "groupVersion": "v1",
                "resources": [
                    {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
                     "verbs": ["get", "list"], "shortNames": ["po"]},
                    {"name": "pods/exec", "singularName": "", "namespaced": True,
                     "kind": "PodExecOptions", "verbs": ["create", "get"]},
                    {"name": "pods/attach", "singularName": "", "namespaced": True,
                     "kind": "PodAttachOptions", "verbs": ["create", "get"]},
                    {"name": "pods/portforward", "singularName": "", "namespaced": True,
                     "kind": "PodPortForwardOptions", "verbs": ["create", "get"]},
                ],
            }  # fmt: skip
        elif len(parts) == 6 and parts[4] == "pods":
            document = self._pod(parts[3], parts[5])
        else:
            return "404 Not Found", b'{"kind":"Status","apiVersion":"v1","status":"Failure"}'
        return "200 OK", json.dumps(document).encode()

    def _pod(self, namespace: str, name: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": "0000"},
            "spec": {"containers": [
                {"name": "main", "image": "busybox", "stdin": True, "tty": True}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "main", "ready": True, "state": {"running": {}}, "image": "busybox",
                 "imageID": "", "restartCount": 0}]},
        }  # fmt: skip


KUBECTL = shutil.which("kubectl")


class Kubectl:
    """kubectl against a FakeApiServer; ``websockets``: whether exec and attach may use
    WebSocket (v5) rather than SPDY, and port-forward SPDY tunnelled in a WebSocket."""

    def __init__(self, api: FakeApiServer, base: Path, websockets: bool) -> None:
        config = base / "kubeconfig"
        config.write_text(
            json.dumps(
                {
                    "apiVersion": "v1", "kind": "Config", "current-context": "fake",
                    "clusters": [{"name": "fake",
                                  "cluster": {"server": f"http://127.0.0.1:{api.port}"}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u"}}],
                    "users": [{"name": "u", "user": {}}],
                }
            )
        )  # fmt: skip
        flag = "true" if websockets else "false"
        self.env = {
            **os.environ, "KUBECONFIG": str(config), "HOME": str(base),
            "KUBECTL_REMOTE_COMMAND_WEBSOCKETS": flag, "KUBECTL_PORT_FORWARD_WEBSOCKETS": flag,
        }  # fmt: skip
        self.argv = [str(KUBECTL), "--cache-dir", str(base / "cache"), "--request-timeout=30s"]

    def __call__(
        self, *args: str, input: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*self.argv, *args], input=input, capture_output=True, env=self.env, timeout=60,
            stdin=None if input is not None else subprocess.DEVNULL,
        )  # fmt: skip

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*self.argv, *args], env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip


@pytest.fixture(params=["spdy", "websocket"])
def kubectl(
    request: pytest.FixtureRequest, server: StreamingServer, tmp_path: Path
) -> Iterator[Kubectl]:
    assert KUBECTL is not None, "no kubectl: `make deb` installs Debian's kubernetes-client"
    api = FakeApiServer(server)
    yield Kubectl(api, tmp_path, websockets=request.param == "websocket")
    api.close()


def test_kubectl_exec(pods: Pods, kubectl: Kubectl) -> None:
    pods.run("c1", "busybox", "sleep", "60")
    ran = kubectl("exec", "c1", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (ran.returncode, ran.stdout) == (3, b"out\n"), ran
    assert ran.stderr == b"err\ncommand terminated with exit code 3\n", ran
    ran = kubectl("exec", "-i", "c1", "--", "sh", "-c", "cat; echo done", input=b"in\n" * 3)
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, b"in\nin\nin\ndone\n", b""), ran
    ran = kubectl("exec", "c1", "--", "dd", "if=/dev/zero", "bs=65536", "count=64")
    assert (ran.returncode, ran.stdout) == (0, bytes(4 << 20)), ran.stderr


def test_kubectl_cp(pods: Pods, kubectl: Kubectl, tmp_path: Path) -> None:
    """kubectl cp: tar through exec, stdin's end of file included, both ways."""
    pods.run("c1", "busybox", "sleep", "60")
    source = tmp_path / "payload"
    source.write_bytes(os.urandom(3 << 20))
    ran = kubectl("cp", str(source), "c1:/tmp/payload")
    assert ran.returncode == 0, ran
    back = tmp_path / "back"
    ran = kubectl("cp", "c1:/tmp/payload", str(back))
    assert ran.returncode == 0, ran
    assert back.read_bytes() == source.read_bytes()


def _sized_then_resized(terminal: Terminal) -> None:
    """The shell's terminal has kubectl's size (33x111), then the new one after a resize."""
    terminal.write(b"stty size\n")
    terminal.expect(rb"33 111\r\n")
    terminal.resize(40, 120)
    time.sleep(0.5)
    terminal.write(b"stty size\n")
    terminal.expect(rb"40 120\r\n")


def test_kubectl_exec_terminal(pods: Pods, kubectl: Kubectl) -> None:
    pods.run("c1", "busybox", "sleep", "60")
    terminal = Terminal([*kubectl.argv, "exec", "-it", "c1", "--", "sh"], kubectl.env, 33, 111)
    try:
        _sized_then_resized(terminal)
        terminal.write(b"exit 5\n")
        assert terminal.wait(30) == 5
    finally:
        terminal.close()


def test_kubectl_attach(pods: Pods, kubectl: Kubectl) -> None:
    pods.run("c1", "-i", "busybox", "sh", "-c", ECHO_LOOP)
    ran = kubectl("attach", "-i", "c1", input=b"one\ntwo\nquit\n")
    assert ran.returncode == 0, ran
    assert ran.stdout == b"out:one\nout:two\nbye\n", ran
    assert b"err:one\nerr:two\n" in ran.stderr, ran


def test_kubectl_attach_terminal(pods: Pods, kubectl: Kubectl) -> None:
    """The container's own terminal (conmon's), sized as kubectl's."""
    pods.run("c1", "-it", "busybox", "sh")
    terminal = Terminal([*kubectl.argv, "attach", "-it", "c1"], kubectl.env, 33, 111)
    try:
        terminal.expect(rb"try pressing enter")
        time.sleep(0.5)  # kubectl sends a size one larger first, then the real one (a redraw)
        _sized_then_resized(terminal)
        terminal.write(b"exit\n")
        assert terminal.wait(30) == 0
    finally:
        terminal.close()


def test_kubectl_port_forward(pods: Pods, kubectl: Kubectl) -> None:
    pods.run("web", "busybox", "sh", "-c", HTTPD)
    _wait_listening(pods, "web", 8080)
    forward = kubectl.popen("port-forward", "pod/web", ":8080", ":9")
    try:
        assert forward.stdout is not None
        lines = [forward.stdout.readline().decode() for _ in range(4)]  # IPv4 and IPv6
        local = {int(line.split(" -> ")[1]): int(line.split(":")[1].split(" ")[0])
                 for line in lines if "Forwarding from 127.0.0.1:" in line}  # fmt: skip
        assert set(local) == {8080, 9}, lines
        for _ in range(3):  # connections one after the other, on one SPDY connection
            with socket.create_connection(("127.0.0.1", local[8080]), timeout=30) as sock:
                answer = _http_get(sock)
            assert answer.endswith(b"hello-through-the-pod\n"), answer
        with socket.create_connection(("127.0.0.1", local[9]), timeout=30) as sock:
            sock.settimeout(30)
            try:
                assert sock.recv(100) == b""
            except ConnectionResetError:
                pass
    finally:
        forward.terminate()
        _, err = forward.communicate(timeout=30)
    assert b"connection refused" in err.lower(), err
