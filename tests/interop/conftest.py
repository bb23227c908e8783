"""Real peers driving skiff-runtime: podman (through conmon) and dockerd (through containerd)."""

import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import Skiff
from tests.support.engine import remove_all_containers
from tests.support.oci import SKIFF_RUNTIME
from tests.support.registry import Registry

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
            "--runtime", SKIFF_RUNTIME,
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
        command = ["docker", "-H", f"unix://{self.socket}", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if check:
            assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
        return result.stdout


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path) -> Iterator[Docker]:
    """dockerd on its own socket, data root and exec root, with skiff-runtime added."""
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
