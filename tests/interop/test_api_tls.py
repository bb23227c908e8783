"""skiff serve on TCP: plain on loopback only, and with dockerd's TLS flags (--tlsverify
--tlscacert --tlscert --tlskey) for the docker CLI with a client certificate."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import SKIFF, Skiff
from tests.support.pki import certificate_authority, server_certificate
from tests.support.registry import free_port


def _serve(skiff: Skiff, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [SKIFF, "serve", *args], env=skiff.env, stdout=out, stderr=subprocess.STDOUT
        )


def _wait_listening(process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while b"listening" not in log.read_bytes():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


@pytest.fixture
def stop() -> Iterator[list[subprocess.Popen[bytes]]]:
    servers: list[subprocess.Popen[bytes]] = []
    yield servers
    for server in servers:
        server.terminate()
        assert server.wait(20) == 0


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def test_plain_tcp_is_served_on_loopback(skiff: Skiff, tmp_path: Path, stop: list):
    port = free_port()
    log = tmp_path / "serve.log"
    stop.append(_serve(skiff, "-H", f"tcp://127.0.0.1:{port}", log=log))
    _wait_listening(stop[0], log)
    listed = docker("-H", f"tcp://127.0.0.1:{port}", "ps", "--format", "{{.ID}}")
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "", "")


def test_plain_tcp_off_loopback_is_refused(skiff: Skiff):
    refused = skiff("serve", "-H", f"tcp://0.0.0.0:{free_port()}", timeout=30)
    assert refused.code == 1, refused
    assert "plain TCP is only served on loopback addresses" in refused.err


def test_tlsverify_wants_the_clients_certificate(skiff: Skiff, tmp_path: Path, stop: list):
    ca = certificate_authority(tmp_path / "pki", "skiff test CA")
    server = server_certificate(ca, tmp_path / "pki", "server")
    client = server_certificate(ca, tmp_path / "pki", "client", usage="clientAuth")
    stranger_ca = certificate_authority(tmp_path / "other", "another CA")
    stranger = server_certificate(stranger_ca, tmp_path / "other", "client", usage="clientAuth")
    port = free_port()
    log = tmp_path / "serve.log"
    tls = ["--tlsverify", "--tlscacert", str(ca.cert)]
    tls += ["--tlscert", str(server.cert), "--tlskey", str(server.key)]
    stop.append(_serve(skiff, "-H", f"tcp://127.0.0.1:{port}", *tls, log=log))
    _wait_listening(stop[0], log)
    host = ["-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", str(ca.cert)]

    version = docker(*host, "--tlscert", str(client.cert), "--tlskey", str(client.key),
                     "version", "--format", "{{.Server.APIVersion}}")  # fmt: skip
    assert (version.returncode, version.stdout) == (0, "1.45\n"), version

    for cert, key in ((stranger.cert, stranger.key), (None, None)):
        args = [*host, *(["--tlscert", str(cert), "--tlskey", str(key)] if cert else [])]
        refused = docker(*args, "version", "--format", "{{.Server.APIVersion}}")
        # the handshake fails: the server closes the connection (the CLI says EOF)
        assert refused.returncode == 1, refused
        assert refused.stdout.strip() == "", refused
        assert "error during connect" in refused.stderr, refused
