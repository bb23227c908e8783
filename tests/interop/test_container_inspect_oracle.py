"""dockerd as the oracle of ``skiff container inspect``: the same ``create`` flags, the
same document.

Each case runs ``docker create --network none FLAGS busybox:test sleep 600`` on the
module's own dockerd (``conftest.dockerd``) and ``skiff create`` with the same arguments
on a store holding the same image, then compares the two ``container inspect`` documents:
the keys at every level (top, State, HostConfig, Config, GraphDriver, NetworkSettings and
its endpoints) and the values that do not depend on the daemon (HostConfig, Config, State,
Path, Args, Name, Driver, Platform, Mounts...). Containers are created, not started.

Known differences, asserted as such:

- the dockerd here is Debian's 20.10 (API 1.41), skiff's document is API 1.45's (Docker
  26 to 28): 20.10 still prints ``KernelMemory``/``KernelMemoryTCP`` (omitted when 0
  since) and its endpoints lack ``DNSNames``; Docker 28 masks
  ``/sys/devices/virtual/powercap`` too (``MaskedPaths``);
- ``HostConfig.Runtime`` names the runtime: ``runc`` there, ``skiff-runtime`` here;
- IDs, times, paths under each daemon's root and the hostname (the container's short
  ID) are each daemon's own: the hostname is checked against each one's ID.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import Docker
from tests.support.cli import Skiff
from tests.support.engine import remove_all_containers

CASES: dict[str, list[str]] = {
    "plain": [],
    "env-workdir-user-labels": [
        "-e", "A=B", "-w", "/tmp", "-u", "1000:1000", "--label", "x=y", "--label", "z",
    ],
    "resources": [
        "--memory", "64m", "--cpus", "0.5", "--memory-reservation", "32m",
        "--pids-limit", "10", "--cpu-shares", "100", "--cpuset-cpus", "0", "--oom-kill-disable",
        "--ulimit", "nofile=1024:2048", "--shm-size", "1m",
    ],
    "restart": ["--restart", "on-failure:3"],
    "capabilities": ["--cap-add", "SYS_ADMIN", "--cap-drop", "NET_RAW"],
    "tmpfs-read-only": ["--tmpfs", "/run:size=1m", "--read-only"],
    "privileged": ["--privileged"],
    "host-namespaces": ["--pid", "host", "--ipc", "host"],
    "security": ["--security-opt", "no-new-privileges", "--init"],
    "systempaths": ["--security-opt", "systempaths=unconfined"],
    "terminal-health-stop": [
        "-t", "-i", "--hostname", "box", "--domainname", "example.org",
        "--stop-signal", "SIGINT", "--stop-timeout", "5",
        "--health-cmd", "true", "--health-interval", "5s", "--health-retries", "2",
    ],
    "sysctl-log-device": [
        "--sysctl", "net.ipv4.ip_forward=1", "--log-opt", "max-size=1m",
        "--device", "/dev/null:/dev/mynull:r", "--rm",
    ],
    "entrypoint": ["--entrypoint", "sh"],
    "binds-mounts": [
        "-v", "/tmp:/x:ro", "--mount", "type=bind,source=/tmp,target=/z,readonly",
        "--mount", "type=tmpfs,target=/t,tmpfs-size=1m",
    ],
}  # fmt: skip
COMMANDS = {"entrypoint": ["-c", "sleep 600"]}

# Keys of dockerd 20.10's document that API 1.45 no longer has (or omits when zero).
OLD_HOST_CONFIG_KEYS = {"KernelMemory", "KernelMemoryTCP"}
NEW_ENDPOINT_KEYS = {"DNSNames"}
POWERCAP = "/sys/devices/virtual/powercap"


@pytest.fixture(scope="module")
def skiff(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path) -> Iterator[Skiff]:
    """The skiff command with busybox:test imported from the tar dockerd imported."""
    cli = Skiff(tmp_path_factory.mktemp("skiff"))
    cli.ok("import", str(busybox_tar), "busybox:test")
    yield cli
    leftovers = remove_all_containers(cli)
    assert not leftovers, "\n".join(leftovers)


def inspect_both(dockerd: Docker, skiff: Skiff, case: str) -> tuple[dict[str, Any], dict[str, Any]]:
    args = [
        "--network", "none", "--name", f"oracle-{case}", *CASES[case],
        "busybox:test", *COMMANDS.get(case, ["sleep", "600"]),
    ]  # fmt: skip
    docker_id = dockerd("create", *args).strip()
    try:
        theirs = json.loads(dockerd("container", "inspect", docker_id))[0]
    finally:
        dockerd("rm", "-f", docker_id)
    skiff_id = skiff.ok("create", *args).strip()
    try:
        ours = json.loads(skiff.ok("container", "inspect", skiff_id))[0]
    finally:
        skiff.ok("rm", "-f", skiff_id)
    return theirs, ours


def assert_same_keys(theirs: dict[str, Any], ours: dict[str, Any], where: str) -> None:
    assert set(ours) == set(theirs), (
        f"{where}: skiff only {sorted(set(ours) - set(theirs))}, "
        f"docker only {sorted(set(theirs) - set(ours))}"
    )


def mount_points(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The ``Mounts`` compared: what each is, from where to where, read-only or not. (The
    volumes' own code decides the rest; a ``--mount type=tmpfs``, which dockerd lists
    too, is not among skiff's yet.) Sorted: dockerd lists them in a Go map's order."""
    return sorted(
        (m["Type"], m["Source"], m["Destination"], m["Mode"], m["RW"])
        for m in document["Mounts"]
        if m["Type"] != "tmpfs"
    )


@pytest.mark.parametrize("case", list(CASES))
def test_inspect_matches_dockerd(dockerd: Docker, skiff: Skiff, case: str):
    theirs, ours = inspect_both(dockerd, skiff, case)

    assert_same_keys(theirs, ours, "top")
    for section in ("State", "Config", "GraphDriver", "NetworkSettings"):
        assert_same_keys(theirs[section], ours[section], section)
    their_host = {k: v for k, v in theirs["HostConfig"].items() if k not in OLD_HOST_CONFIG_KEYS}
    assert_same_keys(their_host, ours["HostConfig"], "HostConfig")
    assert_same_keys(theirs["GraphDriver"]["Data"], ours["GraphDriver"]["Data"], "GraphDriver")
    their_networks = theirs["NetworkSettings"]["Networks"]
    our_networks = ours["NetworkSettings"]["Networks"]
    assert list(our_networks) == list(their_networks) == ["none"]
    assert set(our_networks["none"]) == set(their_networks["none"]) | NEW_ENDPOINT_KEYS

    # HostConfig: every value, but for the runtime's name and Docker 28's extra mask
    assert ours["HostConfig"].pop("Runtime") == "skiff-runtime"
    assert their_host.pop("Runtime") == "runc"
    masked = ours["HostConfig"].pop("MaskedPaths")
    their_masked = their_host.pop("MaskedPaths")
    assert masked == ([*their_masked, POWERCAP] if their_masked else their_masked)
    assert ours["HostConfig"] == their_host

    # Config: every value; the hostname is each container's short ID unless given
    for document in (theirs, ours):
        if "--hostname" not in CASES[case]:
            assert document["Config"].pop("Hostname") == document["Id"][:12]
    assert ours["Config"] == theirs["Config"]

    assert ours["State"] == theirs["State"]
    for key in (
        "Path", "Args", "Name", "RestartCount", "Driver", "Platform", "MountLabel",
        "ProcessLabel", "AppArmorProfile", "ExecIDs", "ResolvConfPath", "HostnamePath",
        "HostsPath", "LogPath",
    ):  # fmt: skip
        assert ours[key] == theirs[key], key
    assert mount_points(ours) == mount_points(theirs)
    settings = {k: v for k, v in ours["NetworkSettings"].items() if k != "Networks"}
    their_settings = {k: v for k, v in theirs["NetworkSettings"].items() if k != "Networks"}
    assert settings == their_settings
    assert {k: v for k, v in our_networks["none"].items() if k not in NEW_ENDPOINT_KEYS} == (
        their_networks["none"]
    )
