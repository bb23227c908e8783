"""A pod over the CRI: RunPodSandbox + CreateContainer + StartContainer of a busybox pod,
``skiff cri`` beside containerd 1.6's CRI plugin (Debian's containerd, with runc).

Both servers run at once, each fully private: containerd from a config file of its own
(root, state, socket, ``/opt`` plugin directory and CNI configuration in a temporary
directory; pod network namespaces under its state; overlayfs; runc through
io.containerd.runc.v2), ``skiff cri`` on its own store (SKIFF_ROOT, SKIFF_RUNROOT) and
``--cni-conf-dir``. Each gets a CNI conflist of its own (Debian's bridge, host-local and
loopback plugins; a private bridge name, subnet and IPAM directory) and a cgroup parent of
its own. The images are built here, without a network: busybox from Debian's
busybox-static and a pause image (a static ``pause`` compiled with gcc, else busybox's
``sleep``), imported into skiff's store and saved from it as docker-archives that
``ctr images import`` loads into containerd's ``k8s.io`` namespace.

A client generated from the proto skiff serves (skiff.cri.proto) times, round by round and
the servers taking turns, what the kubelet does to start a pod: RunPodSandbox (name, uid,
namespace, attempt, hostname, log directory, DNS config, cgroup parent), CreateContainer
(busybox by the image ID ImageStatus gave, as the kubelet passes it; ``sleep 3600``; a log
path) and StartContainer. Untimed after each round: ContainerStatus must say RUNNING, then
StopPodSandbox and RemovePodSandbox. The three calls together are one result, each call
another.

At the end everything goes (pods, servers, shims and monitors, mounts, bridges, cgroups,
temporary directories) and is checked for: network links, iptables rules, network
namespaces, cgroups, mounts, processes, CNI cache files and shim sockets that were not
there before are reported (and removed where they are ours).

``python -m bench.cri_pod [--runs N] [--warmup N]`` (or ``python bench/cri_pod.py``)
writes bench/results/cri/DATE-TIME.json and .md; ``run`` is the scenario for ``python -m
bench``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # python bench/cri_pod.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc

from bench import host
from bench.core import Result
from skiff.runtime.demo import busybox_rootfs

NAME = "cri-pod"
DESCRIPTION = (
    "RunPodSandbox + CreateContainer + StartContainer of a busybox pod (`sleep 3600`) over"
    " the CRI, skiff cri vs containerd's CRI plugin with runc (wall time of the three calls)"
)
CALLS = ("RunPodSandbox", "CreateContainer", "StartContainer")
CALL_SCENARIOS = {
    "RunPodSandbox": "cri-pod-run-sandbox",
    "CreateContainer": "cri-pod-create-container",
    "StartContainer": "cri-pod-start-container",
}
BASELINE = "containerd"
RUNS = 20
WARMUP = 2
CALL_TIMEOUT = 120  # seconds a CRI call may take
START_TIMEOUT = 60  # seconds for a server to answer Version
STOP_TIMEOUT = 30  # seconds for a server to exit after SIGTERM
CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
RUNC = "/usr/sbin/runc"
CNI_BIN_DIR = "/usr/lib/cni"
BUSYBOX = "docker.io/library/busybox:latest"
PAUSE = "localhost/skiff-bench/pause:3.9"
POD_NAMESPACE = "skiff-bench"
# engine -> (bridge, subnet): private, and apart from each other
NETWORKS = {
    "containerd": ("skbcri-ctd0", "10.231.0.0/24"),
    "skiff": ("skbcri-skf0", "10.231.1.0/24"),
}
DNS = {
    "servers": ["10.96.0.10"],
    "searches": [f"{POD_NAMESPACE}.svc.cluster.local", "svc.cluster.local", "cluster.local"],
    "options": ["ndots:5"],
}
PAUSE_C = r"""
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    struct sigaction a;
    memset(&a, 0, sizeof a);
    a.sa_handler = quit;
    sigaction(SIGINT, &a, 0);
    sigaction(SIGTERM, &a, 0);
    a.sa_handler = reap;
    a.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigaction(SIGCHLD, &a, 0);
    for (;;) pause();
}
"""


def _api() -> tuple[Any, Any]:
    """The generated modules (``make install`` generates them)."""
    import skiff.cri.proto.api_pb2 as api_pb2
    import skiff.cri.proto.api_pb2_grpc as api_pb2_grpc

    return api_pb2, api_pb2_grpc


class Unavailable(Exception):
    """This server cannot take part here; the message says why."""


# --- images -------------------------------------------------------------------------------


def _skiff_binary() -> str:
    """This checkout's skiff (the venv running the benchmark), else the one on PATH."""
    sibling = os.path.join(os.path.dirname(sys.executable), "skiff")
    path = sibling if os.access(sibling, os.X_OK) else shutil.which("skiff")
    if path is None:
        raise RuntimeError("skiff is not installed (make install)")
    return path


def _run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run a command; its stdout; RuntimeError with its stderr if it failed."""
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip()
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {said}")
    return done.stdout


def _pause_rootfs(rootfs: Path) -> tuple[list[str], str]:
    """A pause image's files: a static ``/pause`` if gcc builds one, else busybox with
    ``sleep``. Its entrypoint, and what it is (for the notes)."""
    source = rootfs.parent / "pause.c"
    source.write_text(PAUSE_C)
    rootfs.mkdir()
    try:
        _run(["gcc", "-static", "-Os", "-s", "-o", str(rootfs / "pause"), str(source)])
        return ["/pause"], "a static pause (pause(2) in a loop, reaps, exits on SIGTERM)"
    except (OSError, RuntimeError):
        busybox_rootfs(str(rootfs))
        return ["/bin/sleep", "2147483647"], "busybox `sleep` (gcc could not build a pause)"


def _tar(rootfs: Path, out: Path) -> Path:
    _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(out), "."])
    shutil.rmtree(rootfs)
    return out


@dataclass
class Images:
    """busybox and pause as docker-archives saved by skiff, and skiff's store holding both."""

    busybox: Path
    pause: Path
    pause_kind: str


def build_images(work: Path, skiff_env: dict[str, str]) -> Images:
    """Import both images into the store of ``skiff_env`` and save each as an archive."""
    skiff = _skiff_binary()
    busybox_dir = work / "busybox-rootfs"
    busybox_rootfs(str(busybox_dir))
    busybox_tar = _tar(busybox_dir, work / "busybox-rootfs.tar")
    _run([skiff, "import", "-c", 'CMD ["sh"]', str(busybox_tar), BUSYBOX], skiff_env)
    entrypoint, kind = _pause_rootfs(work / "pause-rootfs")
    pause_tar = _tar(work / "pause-rootfs", work / "pause-rootfs.tar")
    change = "ENTRYPOINT [" + ", ".join(f'"{a}"' for a in entrypoint) + "]"
    _run([skiff, "import", "-c", change, str(pause_tar), PAUSE], skiff_env)
    busybox_tar.unlink()
    pause_tar.unlink()
    archives = Images(work / "busybox.tar", work / "pause.tar", kind)
    _run([skiff, "save", "-o", str(archives.busybox), BUSYBOX], skiff_env)
    _run([skiff, "save", "-o", str(archives.pause), PAUSE], skiff_env)
    return archives


# --- CNI and cgroups ------------------------------------------------------------------------


def write_cni_conf(conf_dir: Path, ipam_dir: Path, engine: str) -> str:
    """A bridge + host-local + loopback conflist for ``engine`` in ``conf_dir``; the bridge's
    name. A stale bridge of that name (an interrupted run) is deleted first."""
    import json

    bridge, subnet = NETWORKS[engine]
    _delete_link(bridge)
    conf_dir.mkdir(parents=True)
    conflist = {
        "cniVersion": "1.0.0",
        "name": f"skiff-bench-cri-{engine}",
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": True,
                "ipMasq": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(ipam_dir),
                },
            },
            {"type": "loopback"},
        ],
    }
    (conf_dir / "10-skiff-bench.conflist").write_text(json.dumps(conflist, indent=1))
    return bridge


def _delete_link(name: str) -> None:
    if os.path.exists(f"/sys/class/net/{name}"):
        subprocess.run(["ip", "link", "delete", name], capture_output=True)


def _cgroup_pids(parent: str) -> set[int]:
    found: set[int] = set()
    for mountpoint in host._cgroup_mountpoints():
        for directory, _, _ in os.walk(os.path.join(mountpoint, parent.strip("/"))):
            try:
                with open(os.path.join(directory, "cgroup.procs")) as f:
                    found.update(int(line) for line in f if line.strip())
            except OSError:
                pass
    return found


def kill_cgroup_processes(parent: str) -> None:
    """SIGKILL, by pid, the processes in the cgroups below ``parent`` (ours only: each
    server's pods get a parent named after this run), and wait for them to go: containers
    whose shim or monitor was killed still hold their pod's network namespace."""
    for pid in _cgroup_pids(parent):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while _cgroup_pids(parent) and time.monotonic() < deadline:
        time.sleep(0.1)


def remove_cgroup_tree(parent: str) -> None:
    """rmdir ``parent`` and the (empty) cgroups below it, deepest first, in every
    hierarchy: runc removes a container's cgroup, not the parents it made for it."""
    for mountpoint in host._cgroup_mountpoints():
        top = os.path.join(mountpoint, parent.strip("/"))
        for directory, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                os.rmdir(directory)
            except OSError:
                pass


# --- the servers ----------------------------------------------------------------------------


@dataclass
class Server:
    """A CRI server under test: its socket, client stubs and what the pods it starts get."""

    name: str
    base: Path  # everything of the server's is below it
    socket: Path
    cgroup_parent: str
    description: str = ""
    process: subprocess.Popen[bytes] | None = None
    channel: grpc.Channel | None = None
    runtime: Any = None
    images: Any = None
    image: str = ""  # busybox as ImageStatus names it (its ID)
    failures: list[str] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.base / f"{self.name}.log"

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def connect(self) -> None:
        """Wait until the server answers Version; Unavailable if it died or never did."""
        api_pb2, api_pb2_grpc = _api()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.socket.exists():
            self._check_alive(deadline)
            time.sleep(0.05)
        self.channel = grpc.insecure_channel(f"unix://{self.socket}")
        self.runtime = api_pb2_grpc.RuntimeServiceStub(self.channel)
        self.images = api_pb2_grpc.ImageServiceStub(self.channel)
        while True:
            try:
                version = self.runtime.Version(api_pb2.VersionRequest(version="0.1.0"), timeout=5)
                break
            except grpc.RpcError:
                self._check_alive(deadline)
                time.sleep(0.1)
        self.description = (
            f"{version.runtime_name} {version.runtime_version} (CRI {version.runtime_api_version})"
        )

    def _check_alive(self, deadline: float) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise Unavailable(f"{self.name} exited {self.process.returncode}: {self.log_tail()}")
        if time.monotonic() > deadline:
            raise Unavailable(f"{self.name} did not answer in {START_TIMEOUT} s: {self.log_tail()}")

    def resolve_image(self) -> None:
        """busybox's ID, as the kubelet gets it from ImageStatus before CreateContainer."""
        api_pb2, _ = _api()
        request = api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image=BUSYBOX))
        status = self.images.ImageStatus(request, timeout=CALL_TIMEOUT)
        if not status.image.id:
            raise Unavailable(f"{self.name}: ImageStatus does not know {BUSYBOX}")
        self.image = status.image.id

    def remove_pods(self) -> None:
        """Stop and remove every pod the server still has (after a failed round)."""
        api_pb2, _ = _api()
        try:
            pods = self.runtime.ListPodSandbox(api_pb2.ListPodSandboxRequest(), timeout=30).items
        except grpc.RpcError:
            return
        for pod in pods:
            _remove_pod(self, pod.id)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT seconds."""
        if self.channel is not None:
            self.channel.close()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _can_lower_oom_score() -> bool:
    """CAP_SYS_RESOURCE: without it (a sandboxed root, as on the machine of the published
    run) runc cannot give the pause the -998 containerd asks for and every sandbox fails;
    containerd's restrict_oom_score_adj then keeps it at containerd's own score."""
    with open("/proc/self/status") as f:
        effective = next(line for line in f if line.startswith("CapEff:")).split()[1]
    return bool(int(effective, 16) & (1 << 24))


def _containerd_config(base: Path, conf_dir: Path) -> str:
    """containerd's config (version 2): everything below ``base``, nothing of the host's
    /var/lib/containerd, /run/containerd (but its shims' sockets in /run/containerd/s: the
    path is built in), /opt/containerd, /etc/cni or /var/run/netns."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{base / "root"}"
state = "{base / "state"}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{base / "containerd.sock"}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{base / "opt"}"

[{cri}]
  sandbox_image = "{PAUSE}"
  disable_apparmor = true
  restrict_oom_score_adj = {"false" if _can_lower_oom_score() else "true"}
  enable_selinux = false
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  BinaryName = "{RUNC}"
  Root = "{base / "runc"}"
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{conf_dir}"
  max_conf_num = 1
"""


def start_containerd(work: Path, images: Images, started: list[Server]) -> Server:
    """/usr/bin/containerd on its own config, with busybox and pause in ``k8s.io``; added to
    ``started`` as soon as it runs (to be torn down whatever happens next)."""
    if not os.access(CONTAINERD, os.X_OK):
        raise Unavailable(f"{CONTAINERD} is not installed (apt-get install containerd)")
    base = work / "containerd"
    base.mkdir()
    server = Server(
        "containerd", base, base / "containerd.sock", f"/skiff-bench-cri-{os.getpid()}-containerd"
    )
    write_cni_conf(base / "cni", base / "cni-ipam", "containerd")
    config = base / "config.toml"
    config.write_text(_containerd_config(base, base / "cni"))
    with open(server.log, "wb") as log:
        server.process = subprocess.Popen(
            [CONTAINERD, "--config", str(config)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent,
        )  # fmt: skip
    started.append(server)
    server.connect()
    for archive in (images.pause, images.busybox):
        _run([CTR, "-a", str(server.socket), "-n", "k8s.io", "images", "import", str(archive)])
    server.resolve_image()
    version = _run([CONTAINERD, "--version"]).split()
    runc = _run([RUNC, "--version"]).splitlines()[0]
    server.description = f"containerd {version[2] if len(version) > 2 else '?'} CRI plugin, {runc}"
    if not _can_lower_oom_score():
        server.description += (
            " (restrict_oom_score_adj: no CAP_SYS_RESOURCE here for the pause's oom_score_adj -998)"
        )
    return server


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the benchmark dies (killed, it runs no
    tear-down), so that no server is left running. Its shims or monitors may be: the
    next run's leftover check names them."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _supports(skiff: str, flag: str, env: dict[str, str]) -> bool:
    return (
        flag
        in subprocess.run([skiff, "cri", "--help"], capture_output=True, text=True, env=env).stdout
    )


def start_skiff(work: Path, skiff_env: dict[str, str], started: list[Server]) -> Server:
    """``skiff cri --listen SOCKET --cni-conf-dir DIR`` over the store ``skiff_env`` names;
    added to ``started`` as soon as it runs."""
    base = work / "skiff"
    base.mkdir(exist_ok=True)
    server = Server("skiff", base, base / "cri.sock", f"/skiff-bench-cri-{os.getpid()}-skiff")
    skiff = _skiff_binary()
    args = [skiff, "cri", "--listen", str(server.socket)]
    conf_dir = base / "cni"
    write_cni_conf(conf_dir, base / "cni-ipam", "skiff")
    cni_flag = _supports(skiff, "--cni-conf-dir", skiff_env)
    if cni_flag:
        args += ["--cni-conf-dir", str(conf_dir)]
    with open(server.log, "wb") as log:
        server.process = subprocess.Popen(
            args, env=skiff_env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent,
        )  # fmt: skip
    started.append(server)
    server.connect()
    conmon = _run(["conmon", "--version"]).splitlines()[0]
    server.description = f"{server.description}, skiff-runtime, {conmon}"
    _pods_built(server)
    if not cni_flag:
        # Its pods would join the host's /etc/cni/net.d networks: not measured.
        raise Unavailable("skiff cri has no --cni-conf-dir: its pods would use /etc/cni/net.d")
    server.resolve_image()
    return server


def _pods_built(server: Server) -> None:
    """Unavailable, with skiff's own message, while ListPodSandbox answers UNIMPLEMENTED."""
    api_pb2, _ = _api()
    try:
        server.runtime.ListPodSandbox(api_pb2.ListPodSandboxRequest(), timeout=CALL_TIMEOUT)
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNIMPLEMENTED:
            raise Unavailable(
                f"skiff cri answers UNIMPLEMENTED to ListPodSandbox: {e.details()}"
            ) from None
        raise


# --- one round ----------------------------------------------------------------------------


def _pod_config(server: Server, round_id: str, logs: Path) -> Any:
    """The PodSandboxConfig the kubelet would send for a one-container pod."""
    api_pb2, _ = _api()
    uid = str(uuid.uuid4())
    name = f"bench-{round_id}"
    log_directory = logs / f"{POD_NAMESPACE}_{name}_{uid}"
    log_directory.mkdir(parents=True)
    namespaces = api_pb2.NamespaceOption(
        network=api_pb2.POD, pid=api_pb2.CONTAINER, ipc=api_pb2.POD
    )
    return api_pb2.PodSandboxConfig(
        metadata=api_pb2.PodSandboxMetadata(name=name, uid=uid, namespace=POD_NAMESPACE, attempt=0),
        hostname=name,
        log_directory=str(log_directory),
        dns_config=api_pb2.DNSConfig(**DNS),
        labels={"app": "skiff-bench", "io.kubernetes.pod.name": name},
        annotations={"kubernetes.io/config.source": "api"},
        linux=api_pb2.LinuxPodSandboxConfig(
            cgroup_parent=f"{server.cgroup_parent}/pod{uid}",
            security_context=api_pb2.LinuxSandboxSecurityContext(namespace_options=namespaces),
        ),
    )


def _container_config(server: Server) -> Any:
    api_pb2, _ = _api()
    namespaces = api_pb2.NamespaceOption(
        network=api_pb2.POD, pid=api_pb2.CONTAINER, ipc=api_pb2.POD
    )
    return api_pb2.ContainerConfig(
        metadata=api_pb2.ContainerMetadata(name="sleep", attempt=0),
        image=api_pb2.ImageSpec(image=server.image, user_specified_image=BUSYBOX),
        command=["sleep", "3600"],
        log_path="sleep/0.log",
        labels={"io.kubernetes.container.name": "sleep"},
        linux=api_pb2.LinuxContainerConfig(
            security_context=api_pb2.LinuxContainerSecurityContext(namespace_options=namespaces)
        ),
    )


class CallFailed(Exception):
    """A call of a round failed: which, its status code and details."""

    def __init__(self, call: str, error: grpc.RpcError) -> None:
        super().__init__(f"{call}: {error.code().name}: {error.details()}")
        self.code = error.code()
        self.call = call


def _call(call: str, method: Callable[..., Any], request: Any) -> Any:
    try:
        return method(request, timeout=CALL_TIMEOUT)
    except grpc.RpcError as e:
        raise CallFailed(call, e) from None


def one_round(server: Server, round_id: str, logs: Path) -> dict[str, float]:
    """Start a pod and its container, then remove the pod; the milliseconds of each call
    of CALLS. CallFailed if a call failed (the pod is removed all the same)."""
    api_pb2, _ = _api()
    config = _pod_config(server, round_id, logs)
    times: dict[str, float] = {}
    pod_id = ""
    try:
        start = time.perf_counter()
        pod_id = _call(
            "RunPodSandbox",
            server.runtime.RunPodSandbox,
            api_pb2.RunPodSandboxRequest(config=config),
        ).pod_sandbox_id
        created = time.perf_counter()
        container_id = _call(
            "CreateContainer",
            server.runtime.CreateContainer,
            api_pb2.CreateContainerRequest(
                pod_sandbox_id=pod_id, config=_container_config(server), sandbox_config=config
            ),
        ).container_id
        made = time.perf_counter()
        _call(
            "StartContainer",
            server.runtime.StartContainer,
            api_pb2.StartContainerRequest(container_id=container_id),
        )
        started = time.perf_counter()
        times = {
            "RunPodSandbox": (created - start) * 1000,
            "CreateContainer": (made - created) * 1000,
            "StartContainer": (started - made) * 1000,
        }
        _check_running(server, container_id)
        _check_pod_ip(server, pod_id)
    finally:
        if pod_id:
            _remove_pod(server, pod_id)
    return times


def _check_running(server: Server, container_id: str) -> None:
    api_pb2, _ = _api()
    status = _call(
        "ContainerStatus",
        server.runtime.ContainerStatus,
        api_pb2.ContainerStatusRequest(container_id=container_id),
    ).status
    if status.state != api_pb2.CONTAINER_RUNNING:
        state = api_pb2.ContainerState.Name(status.state)
        raise RuntimeError(f"ContainerStatus: {state} after StartContainer ({status.reason})")


def _check_pod_ip(server: Server, pod_id: str) -> None:
    """The pod's IP must be on the server's private CNI network (its pod network ran)."""
    import ipaddress

    api_pb2, _ = _api()
    status = _call(
        "PodSandboxStatus",
        server.runtime.PodSandboxStatus,
        api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pod_id),
    ).status
    subnet = ipaddress.ip_network(NETWORKS[server.name][1])
    address = status.network.ip
    if not address or ipaddress.ip_address(address) not in subnet:
        raise RuntimeError(f"PodSandboxStatus: pod IP {address!r}, not in {subnet}")


def _remove_pod(server: Server, pod_id: str) -> None:
    """StopPodSandbox and RemovePodSandbox, untimed; a failure is kept as a note."""
    api_pb2, _ = _api()
    try:
        server.runtime.StopPodSandbox(
            api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod_id), timeout=CALL_TIMEOUT
        )
        server.runtime.RemovePodSandbox(
            api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id), timeout=CALL_TIMEOUT
        )
    except grpc.RpcError as e:
        server.failures.append(f"removing pod: {e.code().name}: {e.details()}")


# --- the host before and after ---------------------------------------------------------------


def _listing(path: str) -> set[str]:
    found = set()
    for directory, dirs, names in os.walk(path):
        for name in dirs + names:
            found.add(os.path.join(directory, name))
    return found


def _iptables() -> set[str]:
    """iptables rules and chains of every table (no counters)."""
    lines = set()
    for command in ("iptables-save", "ip6tables-save"):
        try:
            out = subprocess.run([command], capture_output=True, text=True).stdout
        except OSError:
            continue
        for line in out.splitlines():
            if line.startswith(("-A", "-N")) or (line.startswith(":") and "CNI" in line):
                lines.add(f"{command}: {line.split(' [')[0]}")
    return lines


def _engine_paths() -> set[str]:
    """The entries of containerd's default directories, and whether they exist."""
    found = set()
    for path in ("/run/containerd", "/var/lib/containerd", "/opt/containerd"):
        if os.path.isdir(path):
            found.add(path)
            found.update(os.path.join(path, name) for name in os.listdir(path))
    return found


@dataclass
class HostState:
    """What a CRI server's pods could leave on the host, outside its own directory."""

    links: set[str]
    rules: set[str]
    netns: set[str]
    cni_cache: set[str]
    shim_sockets: set[str]
    engine_paths: set[str]  # what containerd (or a runc shim) would make of its defaults
    ip_forward: str

    @classmethod
    def now(cls) -> HostState:
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            forward = f.read().strip()
        return cls(
            set(os.listdir("/sys/class/net")),
            _iptables(),
            _listing("/run/netns"),
            _listing("/var/lib/cni"),
            _listing("/run/containerd/s"),
            _engine_paths(),
            forward,
        )


def restore_ip_forward(before: HostState) -> None:
    """The bridge plugin (isGateway) turns IPv4 forwarding on; as it was before."""
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write(before.ip_forward)


def remove_new_cni_cache(before: HostState) -> None:
    """libcni's cache entries of our networks (/var/lib/cni), and the directories this run
    made there if they are empty now."""
    for path in sorted(_listing("/var/lib/cni") - before.cni_cache, key=len, reverse=True):
        if os.path.isfile(path) and "skiff-bench-cri-" in path:
            os.unlink(path)
        elif os.path.isdir(path):
            try:
                os.rmdir(path)
            except OSError:
                pass
    if not before.cni_cache and os.path.isdir("/var/lib/cni"):
        try:
            os.rmdir("/var/lib/cni")
        except OSError:
            pass


def leftovers(before: HostState, servers: list[Server], work: Path) -> list[str]:
    """What is on the host now that was not before the run (empty: nothing left)."""
    after = HostState.now()
    found = []
    for what, old, new in (
        ("network links", before.links, after.links),
        ("iptables lines", before.rules, after.rules),
        ("network namespaces", before.netns, after.netns),
        ("CNI cache files", before.cni_cache, after.cni_cache),
        ("shim sockets", before.shim_sockets, after.shim_sockets),
        ("paths of containerd's defaults", before.engine_paths, after.engine_paths),
    ):
        if new - old:
            found.append(f"{what}: {', '.join(sorted(new - old)[:5])}")
    if after.ip_forward != before.ip_forward:
        found.append(f"ip_forward {before.ip_forward} -> {after.ip_forward}")
    for server in servers:
        if count := host.cgroups_under(server.cgroup_parent):
            found.append(f"{server.name}: {count} cgroups under {server.cgroup_parent}")
        if any(
            os.path.isdir(os.path.join(m, server.cgroup_parent.strip("/")))
            for m in host._cgroup_mountpoints()
        ):
            found.append(f"{server.name}: cgroup {server.cgroup_parent}")
    if processes := host.processes_naming(str(work)):
        found.append(f"processes: {', '.join(host.cmdline(p)[:80] for p in processes)}")
    if mounts := host.mounts_under(str(work)):
        found.append(f"{mounts} mounts under {work}")
    if work.exists():
        found.append(f"{work} is still there")
    return found


# --- tear-down -------------------------------------------------------------------------------


def _kill_left_processes(base: Path) -> None:
    """Shims or monitors of ``base`` still running after their server stopped (a
    containerd shim outlives containerd by design): SIGKILL, by pid."""
    for pid in host.processes_naming(str(base)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while host.processes_naming(str(base)) and time.monotonic() < deadline:
        time.sleep(0.1)


def _unmount_below(base: Path) -> None:
    """Every mount below ``base``, deepest first (overlay rootfs, netns pins, shm)."""
    prefix = str(base).rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f if line.split()[4].startswith(prefix)]
    for point in sorted(set(points), key=len, reverse=True):
        if subprocess.run(["umount", point], capture_output=True).returncode:
            subprocess.run(["umount", "-l", point], capture_output=True)


def tear_down(server: Server) -> None:
    """Pods, then the server, its leftover processes, mounts, bridge and cgroups."""
    if server.runtime is not None:
        server.remove_pods()
    server.stop()
    _kill_left_processes(server.base)
    kill_cgroup_processes(server.cgroup_parent)
    _unmount_below(server.base)
    _delete_link(NETWORKS[server.name][0])
    remove_cgroup_tree(server.cgroup_parent)


def _remove_skiff_containers(skiff_env: dict[str, str], base: Path) -> None:
    """Containers skiff's store still has (a failed round), as bench.engines does."""
    from skiff.engine.engine import Engine as SkiffEngine
    from skiff.paths import Paths

    try:
        engine = SkiffEngine(Paths(skiff_env["SKIFF_ROOT"], skiff_env["SKIFF_RUNROOT"]))
        for container in engine.containers.all():
            engine.remove(container.id, force=True)
    except Exception:
        pass
    _kill_left_processes(base)
    _unmount_below(base)


# --- what a killed run left ---------------------------------------------------------------------


def sweep_stale() -> list[str]:
    """Undo what earlier runs killed before their tear-down left (their temporary
    directories name their pid, which is gone): shims and monitors, mounts (pod network
    namespaces: their veths go with them), cgroups, bridges, masquerade rules and CNI cache
    files of our networks. What was swept, for the notes."""
    swept = []
    for work in Path(tempfile.gettempdir()).glob("skiff-bench-cri-*"):
        owner = work / "owner"
        pid = int(owner.read_text()) if owner.exists() else 0
        if not pid or os.path.exists(f"/proc/{pid}"):
            continue  # a run still going (or no run of ours)
        _kill_left_processes(work)
        for name in NETWORKS:
            kill_cgroup_processes(f"/skiff-bench-cri-{pid}-{name}")
        _unmount_below(work)
        shutil.rmtree(work, ignore_errors=True)
        for name in NETWORKS:
            remove_cgroup_tree(f"/skiff-bench-cri-{pid}-{name}")
        swept.append(str(work))
    if swept:
        for name in NETWORKS:
            _delete_link(NETWORKS[name][0])
        _remove_masquerade_rules()
        _remove_cni_cache()
    return swept


def _remove_cni_cache() -> None:
    """libcni's cached results of our networks' pods, and of containerd's loopback network
    for the same pods (``NETWORK-ID-IFNAME``)."""
    results = Path("/var/lib/cni/results")
    ours = [p for p in results.glob("skiff-bench-cri-*") if p.is_file()]
    ids = {p.name.rsplit("-", 2)[-2] for p in ours}
    for path in ours + [results / f"cni-loopback-{i}-lo" for i in ids]:
        path.unlink(missing_ok=True)
    for directory in (results, results.parent):  # made by the killed run, if empty now
        try:
            directory.rmdir()
        except OSError:
            pass


def _remove_masquerade_rules() -> None:
    """The bridge plugin's ipMasq rules of our networks (their comment names the network)
    and the chains they jump to."""
    import shlex

    out = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    chains = set()
    for line in out.splitlines():
        if line.startswith("-A POSTROUTING") and 'name: \\"skiff-bench-cri-' in line:
            args = shlex.split(line)
            chains.add(args[args.index("-j") + 1])
            subprocess.run(["iptables", "-t", "nat", "-D", *args[1:]], capture_output=True)
    for chain in chains:
        subprocess.run(["iptables", "-t", "nat", "-F", chain], capture_output=True)
        subprocess.run(["iptables", "-t", "nat", "-X", chain], capture_output=True)


# --- the scenario ------------------------------------------------------------------------------


@dataclass
class Outcome:
    """Per server: the milliseconds of each call in each counted round, and its notes."""

    warmup: int = WARMUP
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


@contextmanager
def servers(outcome: Outcome) -> Iterator[tuple[list[Server], Path]]:
    """Both servers ready (those that can run here), with a logs directory; everything torn
    down and checked for afterwards."""
    if swept := sweep_stale():
        outcome.notes.append(f"swept what killed runs left: {', '.join(swept)}")
    before = HostState.now()
    work = Path(tempfile.mkdtemp(prefix="skiff-bench-cri-"))
    (work / "owner").write_text(str(os.getpid()))
    skiff_env = {
        **os.environ,
        "SKIFF_ROOT": str(work / "skiff" / "root"),
        "SKIFF_RUNROOT": str(work / "skiff" / "run"),
    }
    started: list[Server] = []
    with ExitStack() as stack:

        def finish() -> None:
            for server in started:
                tear_down(server)
            _remove_skiff_containers(skiff_env, work / "skiff")
            for name in NETWORKS:
                _delete_link(NETWORKS[name][0])
            restore_ip_forward(before)
            remove_new_cni_cache(before)
            shutil.rmtree(work, ignore_errors=True)
            outcome.left = leftovers(before, started, work)

        stack.callback(finish)
        (work / "skiff").mkdir()
        images = build_images(work, skiff_env)
        outcome.notes.append(
            f"images: busybox (Debian's busybox-static); pause: {images.pause_kind}"
        )
        for name, start in (
            ("containerd", lambda: start_containerd(work, images, started)),
            ("skiff", lambda: start_skiff(work, skiff_env, started)),
        ):
            try:
                start()
            except (Unavailable, RuntimeError, grpc.RpcError) as e:
                outcome.unavailable[name] = _reason(e)
        logs = work / "logs"
        logs.mkdir()
        yield started, logs


def _reason(error: BaseException) -> str:
    if isinstance(error, grpc.RpcError):
        return f"{error.code().name}: {error.details()}"
    return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__


def measure(runs: int, warmup: int = WARMUP) -> Outcome:
    """``warmup`` then ``runs`` rounds, the servers taking turns (the first to go alternates
    round by round)."""
    outcome = Outcome(warmup=warmup)
    with servers(outcome) as (found, logs):
        descriptions = [s.description for s in found if s.description]
        counts = {s.name: 0 for s in found}
        for index in range(warmup + runs):
            order = found if index % 2 == 0 else list(reversed(found))
            for server in order:
                if server.name in outcome.unavailable:
                    continue
                counts[server.name] += 1
                _round(server, index, warmup, logs, outcome)
        for server in found:
            outcome.notes += _failure_notes(server, counts[server.name])
        outcome.notes += descriptions
    return outcome


def _round(server: Server, index: int, warmup: int, logs: Path, outcome: Outcome) -> None:
    """One round for ``server``: its times kept if it is a counted round and every call
    succeeded; a call answering UNIMPLEMENTED makes the server unavailable."""
    try:
        times = one_round(server, f"{server.name}-{index}", logs)
    except CallFailed as e:
        if e.code == grpc.StatusCode.UNIMPLEMENTED:
            outcome.unavailable[server.name] = f"{server.name} answers UNIMPLEMENTED to {e}"
        else:
            server.failures.append(str(e))
        return
    except RuntimeError as e:
        server.failures.append(str(e))
        return
    if index >= warmup:
        per_call = outcome.samples.setdefault(server.name, {c: [] for c in (*CALLS, "total")})
        for call in CALLS:
            per_call[call].append(times[call])
        per_call["total"].append(sum(times.values()))


def _failure_notes(server: Server, rounds: int) -> list[str]:
    if not server.failures:
        return []
    from collections import Counter

    said = "; ".join(f"{n} x {m}" for m, n in Counter(server.failures).most_common(3))
    return [f"{server.name}: {len(server.failures)} failures in {rounds} rounds: {said}"]


def results(outcome: Outcome, runs: int) -> list[Result]:
    """The total and each call as results of their own (the baseline: containerd)."""
    total = Result(NAME, "ms", description=DESCRIPTION)
    made = [total]
    for call in CALLS:
        made.append(Result(CALL_SCENARIOS[call], "ms", description=f"the same pods: {call} alone"))
    for result, key in zip(made, ("total", *CALLS), strict=True):
        for name in sorted(outcome.samples, key=lambda n: n != "skiff"):  # skiff first
            result.samples[name] = outcome.samples[name][key]
        result.unavailable = dict(outcome.unavailable)
        if BASELINE not in result.samples:
            result.unavailable.setdefault(BASELINE, "no round succeeded")
    total.notes += outcome.notes
    total.notes.append(
        f"{runs} counted rounds per server after {outcome.warmup} warm-up rounds, the servers"
        " taking turns; each pod stopped and removed (untimed) before the next"
    )
    total.notes.append(
        "left at the end: " + ("; ".join(outcome.left) if outcome.left else "nothing")
    )
    total.notes.append(_goal(total))
    return made


def _goal(total: Result) -> str:
    medians = total.medians()
    missing = [n for n in ("skiff", BASELINE) if n not in medians]
    if missing:
        return f"goal: skiff's median at most containerd's: not measured ({', '.join(missing)} n/a)"
    ratio = medians["skiff"] / medians[BASELINE]
    verdict = "met" if ratio <= 1 else "missed"
    return f"goal: skiff's median at most containerd's: {verdict} ({ratio:.2f}x)"


def run(runs: int) -> list[Result]:
    """The scenario for ``python -m bench``."""
    from bench import core

    outcome = measure(runs)
    for name, reason in outcome.unavailable.items():
        core.unavailable(name, reason)
    return results(outcome, runs)


# --- standalone ---------------------------------------------------------------------------------


def markdown(entries: list[dict[str, Any]], machine: dict[str, str], stamp: str) -> str:
    """The results as bench.__main__ renders them, without plots."""
    lines = [
        f"# {NAME} {stamp}",
        "",
        f"{machine['cpu']} ({machine['cpus']} CPUs, {machine['memory_gib']} GiB), Linux"
        f" {machine['kernel']}, Python {machine['python']}. Medians; lower is better.",
        "",
    ]
    for entry in entries:
        lines += [f"## {entry['scenario']}", "", entry["description"], ""]
        lines.append(f"| contender | median (ms) | ratio to {entry['ratios_to']} | runs |")
        lines.append("|---|---:|---:|---:|")
        for name, median in entry["medians"].items():
            ratio = entry["ratios"].get(name)
            shown = f"{ratio:.2f}" if ratio is not None else "n/a"
            lines.append(f"| {name} | {median:.1f} | {shown} | {len(entry['samples'][name])} |")
        for name in entry["unavailable"]:
            lines.append(f"| {name} | n/a | n/a | 0 |")
        lines.append("")
        for name, reason in entry["unavailable"].items():
            lines.append(f"- {name}: n/a, {reason}")
        lines += [f"- {note}" for note in entry["notes"]]
        lines.append("")
    return "\n".join(lines)


def _entry(result: Result, stamp: str) -> dict[str, Any]:
    """bench.__main__'s JSON entry (no ratios without containerd's median)."""
    medians = result.medians()
    base = medians.get(BASELINE)
    return {
        "scenario": result.scenario,
        "unit": result.unit,
        "samples": result.samples,
        "medians": medians,
        "ratios_to": BASELINE,
        "ratios": {n: m / base for n, m in medians.items()} if base else {},
        "notes": result.notes,
        "unavailable": result.unavailable,
        "description": result.description,
        "date": stamp,
    }


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    from bench.__main__ import machine

    parser = argparse.ArgumentParser(prog="python -m bench.cri_pod", description=DESCRIPTION)
    parser.add_argument("--runs", type=int, default=RUNS, help=f"counted rounds (default {RUNS})")
    parser.add_argument("--warmup", type=int, default=WARMUP, help=f"default {WARMUP}")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs at least 1, --warmup at least 0")
    if os.geteuid() != 0:
        parser.error("needs root (containerd, skiff cri)")
    outcome = measure(args.runs, args.warmup)
    made = results(outcome, args.runs)
    stamp = time.strftime("%Y-%m-%d")
    entries = [_entry(r, stamp) for r in made]
    described = machine()
    report = {"date": stamp, "machine": described, "scenarios": entries}
    out = Path(__file__).resolve().parent / "results" / "cri"
    out.mkdir(parents=True, exist_ok=True)
    stem = out / time.strftime("%Y-%m-%d-%H%M%S")
    text = markdown(entries, described, stamp)
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1))
    stem.with_suffix(".md").write_text(text)
    print(text)
    print(f"written: {stem}.json, {stem}.md", file=sys.stderr)
    return 1 if outcome.left or BASELINE not in outcome.samples else 0


if __name__ == "__main__":
    sys.exit(main())
