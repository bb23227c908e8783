"""Real peers driving skiff-runtime: podman (through conmon) and dockerd (through containerd)."""

import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Skiff
from tests.support.cri import CriServer, Network, cni_network, pod_server
from tests.support.engine import remove_all_containers
from tests.support.oci import SKIFF_RUNTIME
from tests.support.registry import Registry
from tests.support.server_process import ServerProcess
from tests.support.terminal import Terminal

if os.geteuid() != 0:
    raise pytest.UsageError("tests/interop needs root: the peers run real containers")


@pytest.fixture(scope="session")
def busybox_tar(busybox_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("image") / "busybox.tar"
    with tarfile.open(path, "w") as tar:
        tar.add(busybox_template, arcname=".")
    return path


def our_state_file(root: Path, container_id: str) -> Path | None:
    """skiff-runtime's state.json of a container under ``root`` (runc's has no start_time)."""
    for path in root.rglob(f"{container_id}/state.json"):
        if '"start_time"' in path.read_text():
            return path
    return None


class Podman:
    def __init__(self, base: Path) -> None:
        self.base = base
        # The runtime's default root: podman does not pass --runtime-flag on to the
        # `podman container cleanup` that conmon runs when a container exits.
        self.runtime_root = Path("/run/skiff-runtime")
        base.mkdir()
        conf = base / "containers.conf"
        # Podman asks for RLIMIT_NOFILE/NPROC of 1048576, above this machine's hard limit.
        conf.write_text(
            '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
            '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        )
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        self.runtime = SKIFF_RUNTIME  # a test may give it skiff-vm

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        result = self.run(*args, timeout=timeout)
        if check:
            assert result.returncode == 0, f"podman {' '.join(args)}: {result.stderr}"
        return result.stdout

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [
            "podman",
            "--root", str(self.base / "root"),
            "--runroot", str(self.base / "runroot"),
            "--runtime", self.runtime,
            *args,
        ]  # fmt: skip
        return subprocess.run(
            command, capture_output=True, text=True, env=self.env, timeout=timeout
        )


@pytest.fixture
def podman(busybox_tar: Path) -> Iterator[Podman]:
    # podman refuses a runroot longer than 50 characters: not under pytest's tmp_path
    peer = Podman(Path(tempfile.mkdtemp(prefix="skiff-podman-")) / "p")
    peer("import", str(busybox_tar), "localhost/busybox:test")
    yield peer
    peer("rm", "--all", "--force", "--time", "0", check=False)
    peer("system", "reset", "--force", check=False)
    subprocess.run(["umount", "-R", str(peer.base / "root" / "overlay")], capture_output=True)
    shutil.rmtree(peer.base.parent, ignore_errors=True)


class Docker:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.socket = base / "docker.sock"
        self.exec_root = base / "exec"

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        result = self.run(*args, timeout=timeout)
        if check:
            assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
        return result.stdout

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = ["docker", "-H", f"unix://{self.socket}", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path) -> Iterator[Docker]:
    """dockerd on its own socket, data root and exec root, with skiff-runtime (``skiff``)
    and skiff-vm (``vm``) added."""
    base = tmp_path_factory.mktemp("dockerd")
    peer = Docker(base)
    log = open(base / "dockerd.log", "w")  # noqa: SIM115 (open for the daemon's lifetime)
    daemon = subprocess.Popen(
        [
            "dockerd",
            "--host", f"unix://{peer.socket}",
            "--data-root", str(base / "data"),
            "--exec-root", str(peer.exec_root),
            "--pidfile", str(base / "docker.pid"),
            "--iptables=false",
            "--bridge=none",
            "--add-runtime", f"skiff={SKIFF_RUNTIME}",
            "--add-runtime", f"vm={os.path.join(os.path.dirname(SKIFF_RUNTIME), 'skiff-vm')}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(
            ["docker", "-H", f"unix://{peer.socket}", "version"], capture_output=True
        ).returncode:
            assert daemon.poll() is None, (base / "dockerd.log").read_text()
            assert time.monotonic() < deadline, "dockerd did not start"
            time.sleep(0.2)
        peer("import", str(busybox_tar), "busybox:test")
        yield peer
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        subprocess.run(["umount", "-R", str(base / "data")], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def skiff(tmp_path: Path) -> Iterator[Skiff]:
    """The skiff command with a store of its own and a DOCKER_CONFIG of its own (the
    credentials of ~/.docker are neither read nor written); its containers are gone
    afterwards."""
    cli = Skiff(tmp_path / "skiff")
    cli.env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    yield cli
    leftovers = remove_all_containers(cli)
    assert not leftovers, "\n".join(leftovers)


@pytest.fixture
def busybox(skiff: Skiff, busybox_tar: Path) -> str:
    """busybox:latest in ``skiff``, imported with a CMD (as tests/integration's); its ID."""
    return skiff.ok("import", "-c", 'CMD ["sh"]', str(busybox_tar), "busybox:latest").strip()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry of its own on 127.0.0.1 (docker-registry, plain HTTP, no auth)."""
    with Registry(tmp_path / "registry") as running:
        yield running
        assert running.process.poll() is None, f"the registry died: {running.log()}"


class SkiffApi(ServerProcess):
    """``skiff serve`` on a socket of its own, over the store of ``skiff``: ``docker``
    runs Debian's docker CLI against it, ``client`` is docker-py's, ``terminal`` runs the
    CLI on a real pseudo-terminal; ``log`` is what the server wrote to its stderr."""

    def __init__(self, skiff: Skiff, socket: Path, log: Path) -> None:
        super().__init__(skiff, ["serve", "-H", f"unix://{socket}"], "API listening", log)
        self.socket = socket
        self.env = {
            **skiff.env,
            "DOCKER_HOST": f"unix://{socket}",
            "TERM": "xterm",
        }
        self._clients: list[Any] = []

    def docker(
        self, *args: str, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """``docker ARGS`` against skiff serve (its stdin empty unless ``input``); one
        that hangs fails with what it printed and the containers' states meanwhile."""
        try:
            return subprocess.run(
                ["docker", *args],
                input=input,
                stdin=subprocess.DEVNULL if input is None else None,
                capture_output=True,
                text=True,
                env=self.env,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as e:
            states = self.skiff("ps", "-a", "--no-trunc", timeout=30)
            raise AssertionError(
                f"docker {' '.join(args)}: still running after {timeout} s\n"
                f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}\n"
                f"skiff ps -a: {states.out}{states.err}"
            ) from None

    def ok(self, *args: str, input: str | None = None, timeout: float = 60) -> str:
        """``docker ARGS``'s output; it must succeed and print nothing on stderr."""
        result = self.docker(*args, input=input, timeout=timeout)
        assert (result.returncode, result.stderr) == (0, ""), (
            f"docker {' '.join(args)}: exit {result.returncode}\n"
            f"stdout: {result.stdout!r}\nstderr: {result.stderr!r}"
        )
        return result.stdout

    def popen(self, *args: str, **kw: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["docker", *args], env=self.env, **kw)

    def terminal(self, *args: str, rows: int = 30, cols: int = 100) -> Terminal:
        return Terminal(["docker", *args], self.env, rows=rows, cols=cols)

    def inspect(self, name: str) -> dict[str, Any]:
        return json.loads(self.ok("inspect", name))[0]

    def client(self) -> Any:
        """docker-py's high-level client on the socket (closed at the end)."""
        import docker

        client = docker.DockerClient(base_url=f"unix://{self.socket}", timeout=60)
        self._clients.append(client)
        return client

    def stop(self) -> int | None:
        for client in self._clients:
            client.close()
        return super().stop()


@pytest.fixture
def skiff_api(no_leaks: None, skiff: Skiff, busybox: str) -> Iterator[SkiffApi]:
    """``skiff serve`` over ``skiff``'s store (busybox:latest imported there), on a
    socket under /tmp (a unix socket's path is short); stopped at the end, then every
    container is removed (``skiff``) and nothing may be left on the host (``no_leaks``).
    The server's log is printed at the end, which pytest shows when the test failed."""
    base = Path(tempfile.mkdtemp(prefix="skiff-api-"))
    api = SkiffApi(skiff, base / "api.sock", base / "serve.log")
    try:
        api.start()
        yield api
    finally:
        code = api.stop()
        log = api.log() if api.log_path.exists() else ""
        print(f"--- skiff serve (exit {code}) ---\n{log}--- end of skiff serve's log ---")
        shutil.rmtree(base, ignore_errors=True)
    assert code is not None, "skiff serve was still running 20 seconds after SIGTERM"
    assert code == 0, f"skiff serve exited {code} on SIGTERM"


# --- skiff cri with pods ----------------------------------------------------------------


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    """A CNI configuration directory of the test's own (tests/support/cri.py); its bridge
    is deleted at the end."""
    with cni_network(tmp_path) as made:
        yield made


@pytest.fixture
def server(no_leaks: None, skiff: Skiff, busybox: str, network: Network) -> Iterator[CriServer]:
    """``skiff cri`` over ``skiff``'s store (busybox there) with ``network`` for its pods;
    every pod left is removed at the end, then nothing may be left on the host. (test_cri
    and test_cri_streaming have a ``server`` of their own.)"""
    with pod_server(skiff, network) as running:
        yield running
