"""Peers the benchmarks run against: an own dockerd (socket, data root, exec root), podman."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path


class Dockerd:
    """Debian's dockerd on its own socket, data root and exec root."""

    def __init__(self, bridge: bool = False) -> None:
        """With ``bridge``, dockerd makes its default bridge (docker0) and iptables rules,
        and its FORWARD policy DROP: the host's iptables as they were before, and docker0
        if it did not exist, come back in ``stop``."""
        self.bridge = bridge
        self.saved_iptables = b""
        self.made_docker0 = False
        if bridge:
            self.saved_iptables = subprocess.run(
                ["iptables-save"], check=True, capture_output=True
            ).stdout
            self.made_docker0 = not os.path.exists("/sys/class/net/docker0")
        self.base = Path(tempfile.mkdtemp(prefix="skiff-bench-dockerd-"))
        self.socket = self.base / "docker.sock"
        self.log = open(self.base / "dockerd.log", "w")  # noqa: SIM115 (closed in stop)
        args = [
            "dockerd",
            "--host", f"unix://{self.socket}",
            "--data-root", str(self.base / "data"),
            "--exec-root", str(self.base / "exec"),
            "--pidfile", str(self.base / "docker.pid"),
        ]  # fmt: skip
        if not bridge:
            args += ["--iptables=false", "--bridge=none"]
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while self.docker("version", check=False).returncode:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                self._restore_network()
                raise RuntimeError(
                    f"dockerd did not start: {(self.base / 'dockerd.log').read_text()}"
                )
            time.sleep(0.2)

    def command(self, *args: str) -> list[str]:
        return ["docker", "-H", f"unix://{self.socket}", *args]

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(self.command(*args), check=check, capture_output=True)

    def version(self) -> str:
        return self.docker("version", "--format", "{{.Server.Version}}").stdout.decode().strip()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        subprocess.run(["umount", "-R", str(self.base / "data")], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
        self._restore_network()

    def _restore_network(self) -> None:
        if self.bridge:
            subprocess.run(["iptables-restore"], input=self.saved_iptables, check=True)
            if self.made_docker0:
                subprocess.run(["ip", "link", "delete", "docker0"], capture_output=True)


class Podman:
    """Debian's podman with its own root, run root and containers.conf.

    Podman asks for RLIMIT_NOFILE and RLIMIT_NPROC of 1048576 by default, above this
    machine's hard limit (20000), and cannot raise it without CAP_SYS_RESOURCE: the
    containers.conf sets what Docker gives instead. ``runtime`` is passed as ``--runtime``.
    """

    def __init__(self, runtime: str | None = None) -> None:
        # podman refuses a run root longer than 50 characters: a short base.
        self.base = Path(tempfile.mkdtemp(prefix="skiff-bench-podman-"))
        self.runtime = runtime
        conf = self.base / "containers.conf"
        conf.write_text(
            '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
            '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        )
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}

    def command(self, *args: str) -> list[str]:
        runtime = ["--runtime", self.runtime] if self.runtime else []
        return [
            "podman",
            "--root", str(self.base / "root"),
            "--runroot", str(self.base / "run"),
            *runtime,
            *args,
        ]  # fmt: skip

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(self.command(*args), check=check, capture_output=True, env=self.env)

    def version(self) -> str:
        return self.podman("version", "--format", "{{.Client.Version}}").stdout.decode().strip()

    def stop(self) -> None:
        self.podman("rm", "--all", "--force", "--time", "0", check=False)
        self.podman("system", "reset", "--force", check=False)
        subprocess.run(["umount", "-R", str(self.base / "root" / "overlay")], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
