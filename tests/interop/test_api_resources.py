"""Debian's docker CLI (28) and docker-py (7.x) against ``skiff serve``: networks, volumes,
``system df``, ``events``, and the container endpoints that observe or tune a container
(top, stats, diff, export, update, prune).

The API and the ``skiff`` command share a store: containers are made with skiff's own
CLI (``skiff run -d``), and what one side makes the other sees. Where the document's
shape or the exact words matter, the module's dockerd (``conftest.dockerd``: Debian's
20.10, API 1.41, no bridge) answers the same request and the two are compared; the known
differences are asserted as such:

- ``IPAM.Config`` of a network: skiff always chooses a gateway and shows it;
- dockerd 20.10 answers with API 1.41's documents: ``BuilderSize`` in ``/system/df``
  (skiff writes it for API versions below 1.42 too);
- ``Warnings`` of GET /volumes and POST /containers/{id}/update: [] here, null there.

Every test runs its own ``skiff serve`` (``conftest.skiff_api``), stopped at the end,
after which no container, network, process, mount, cgroup, interface or iptables rule
may be left (``no_leaks``; the ``skiff`` fixture removes what the test left).
"""

from __future__ import annotations

import http.client
import io
import json
import re
import socket
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import Docker, SkiffApi

ID = re.compile(r"[0-9a-f]{64}")


# --- helpers ----------------------------------------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def request(
    path: Path, method: str, url: str, body: Any = None, raw: bytes | None = None
) -> tuple[int, Any]:
    """One request to an engine's socket: the status and the decoded JSON answer (the
    text of another, None for an empty one)."""
    connection = _UnixConnection(path)
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        connection.request(method, url, body=data, headers=headers)
        response = connection.getresponse()
        text = response.read()
        if "json" not in (response.getheader("Content-Type") or ""):
            return response.status, text.decode() or None
        return response.status, json.loads(text) if text.strip() else None
    finally:
        connection.close()


def on_dockerd(dockerd: Docker, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "-H", f"unix://{dockerd.socket}", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def skiff_run(api: SkiffApi, name: str, *args: str) -> str:
    """``skiff run -d --name NAME ARGS busybox sleep 60`` on the API's store: its ID."""
    out = api.skiff.ok("run", "-d", "--name", name, *args, "busybox", "sleep", "60")
    assert ID.fullmatch(out.strip()), out
    return out.strip()


def eventually(check: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def keys(document: dict[str, Any]) -> set[str]:
    return set(document)


@pytest.fixture
def oracle(dockerd: Docker) -> Iterator[Docker]:
    """The module's dockerd; a test's containers, networks and volumes there are removed
    at its end."""
    yield dockerd
    left = on_dockerd(dockerd, "ps", "-aq").stdout.split()
    if left:
        on_dockerd(dockerd, "rm", "-f", *left)
    on_dockerd(dockerd, "network", "prune", "-f")
    on_dockerd(dockerd, "volume", "prune", "-af")


def assert_serving(api: SkiffApi) -> None:
    """The server is up and its log has no traceback (a handler's bug)."""
    assert request(api.socket, "GET", "/_ping")[0] == 200
    assert "Traceback" not in api.log(), api.log()


# --- networks -------------------------------------------------------------------------


def test_network_create_ls_inspect_rm_with_the_docker_cli(skiff_api: SkiffApi) -> None:
    api = skiff_api
    out = api.ok(
        "network", "create", "--subnet", "10.201.7.0/24", "--gateway", "10.201.7.254",
        "--ip-range", "10.201.7.128/25", "--label", "team=a", "--internal",
        "-o", "com.docker.network.bridge.name=skapi0", "front",
    )  # fmt: skip
    assert ID.fullmatch(out.strip()), out
    api.ok("network", "create", "--label", "team=b", "back")
    assert api.ok("network", "ls", "--format", "{{.Name}}").split() == [
        "back", "bridge", "front", "host", "none",
    ]  # fmt: skip
    assert api.ok("network", "ls", "--filter", "label=team=a", "--format", "{{.Name}}") == (
        "front\n"
    )
    listed = api.ok("network", "ls", "--filter", "type=custom", "-q", "--no-trunc").split()
    assert sorted(listed) == sorted(
        [out.strip(), api.skiff.ok("network", "inspect", "-f", "{{.Id}}", "back").strip()]
    )
    assert api.ok("network", "ls", "--filter", "driver=null", "--format", "{{.Name}}") == "none\n"
    dangling = api.ok("network", "ls", "--filter", "dangling=true", "--format", "{{.Name}}")
    assert dangling.split() == ["back", "front"]

    # the API's document is the CLI's
    document = json.loads(api.ok("network", "inspect", "front"))[0]
    assert document == json.loads(api.skiff.ok("network", "inspect", "front"))[0]
    assert document["Id"] == out.strip()
    assert document["IPAM"]["Config"] == [
        {"Subnet": "10.201.7.0/24", "IPRange": "10.201.7.128/25", "Gateway": "10.201.7.254"}
    ]
    assert (document["Internal"], document["Labels"], document["Scope"]) == (
        True, {"team": "a"}, "local",
    )  # fmt: skip
    assert document["Options"] == {"com.docker.network.bridge.name": "skapi0"}
    assert api.ok("network", "inspect", "-f", "{{.Driver}} {{.Internal}}", "back") == (
        "bridge false\n"
    )

    assert api.ok("network", "rm", "front", "back") == "front\nback\n"
    assert api.skiff.ok("network", "ls", "--format", "{{.Name}}").split() == [
        "bridge", "host", "none",
    ]  # fmt: skip
    assert_serving(api)


def test_network_errors_are_dockerds(skiff_api: SkiffApi, oracle: Docker) -> None:
    skiff_api.ok("network", "create", "taken")
    on_dockerd(oracle, "network", "create", "taken")
    for args in (
        ["network", "inspect", "nosuch"],
        ["network", "rm", "nosuch"],
        ["network", "rm", "host"],
        ["network", "create", "host"],
        ["network", "create", "taken"],
        ["network", "create", "--subnet", "10.0.0.0/33", "bad"],
        ["network", "create", "--driver", "nosuchdriver", "bad"],
        ["network", "disconnect", "host", "nosuch"],
        ["network", "ls", "--filter", "foo=bar"],
    ):
        theirs = on_dockerd(oracle, *args)
        ours = skiff_api.docker(*args)
        # Docker 23 and later write "invalid filter" in lower case
        expected = theirs.stderr.replace("Invalid filter", "invalid filter")
        assert (ours.returncode, ours.stdout, ours.stderr) == (
            theirs.returncode, theirs.stdout, expected,
        ), args  # fmt: skip
    assert_serving(skiff_api)


def test_network_connect_and_disconnect_a_running_container(skiff_api: SkiffApi) -> None:
    api = skiff_api
    container = skiff_run(api, "c1")
    api.ok("network", "create", "--subnet", "10.201.8.0/24", "back")
    since = time.time()
    api.ok("network", "connect", "--alias", "db", "--ip", "10.201.8.9", "back", "c1")
    document = json.loads(api.ok("network", "inspect", "back"))[0]
    assert list(document["Containers"]) == [container]
    entry = document["Containers"][container]
    assert (entry["Name"], entry["IPv4Address"]) == ("c1", "10.201.8.9/24")
    networks = api.skiff.container("c1")["NetworkSettings"]["Networks"]
    assert sorted(networks) == ["back", "bridge"]
    assert networks["back"]["IPAddress"] == "10.201.8.9"
    assert "db" in networks["back"]["Aliases"]
    assert "10.201.8.9" in api.skiff.ok("exec", "c1", "ip", "-4", "addr")
    # connected twice: Docker's words
    result = api.docker("network", "connect", "back", "c1")
    assert result.returncode == 1
    assert f"endpoint with name {container} already exists in network back" in result.stderr

    api.ok("network", "disconnect", "back", "c1")
    assert json.loads(api.ok("network", "inspect", "back"))[0]["Containers"] == {}
    assert sorted(api.skiff.container("c1")["NetworkSettings"]["Networks"]) == ["bridge"]
    assert "10.201.8.9" not in api.skiff.ok("exec", "c1", "ip", "-4", "addr")
    result = api.docker("network", "rm", "bridge")
    assert result.returncode == 1
    assert "bridge is a pre-defined network and cannot be removed" in result.stderr

    # each change is an event, as dockerd records them
    until = time.time() + 0.5
    lines = api.ok(
        "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}",
        "--filter", "type=network", "--format", "{{.Action}} {{.Actor.Attributes.container}}",
    ).splitlines()  # fmt: skip
    assert lines == [f"connect {container}", f"disconnect {container}"]
    api.ok("network", "rm", "back")
    assert_serving(api)


def test_networks_with_docker_py(skiff_api: SkiffApi) -> None:
    import docker

    client = skiff_api.client()
    container_id = skiff_run(skiff_api, "c1")
    ipam = docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet="10.201.9.0/24", gateway="10.201.9.1")]
    )
    network = client.networks.create("pynet", driver="bridge", ipam=ipam, labels={"k": "v"})
    assert ID.fullmatch(network.id)
    assert network.attrs["IPAM"]["Config"] == [{"Subnet": "10.201.9.0/24", "Gateway": "10.201.9.1"}]
    assert {n.name for n in client.networks.list()} == {"bridge", "host", "none", "pynet"}
    assert [n.name for n in client.networks.list(filters={"label": "k=v"})] == ["pynet"]
    assert [n.name for n in client.networks.list(names=["pynet"])] == ["pynet"]
    found = client.networks.get(network.id[:12])
    assert found.name == "pynet"

    found.connect("c1", aliases=["cache"])
    found.reload()
    assert [c.id for c in found.containers] == [container_id]
    found.disconnect("c1")
    found.reload()
    assert found.containers == []

    with pytest.raises(docker.errors.NotFound, match="network nosuch not found"):
        client.networks.get("nosuch")
    with pytest.raises(docker.errors.APIError, match="already exists"):
        client.networks.create("pynet")
    found.remove()
    assert {n.name for n in client.networks.list()} == {"bridge", "host", "none"}

    client.networks.create("spare1")
    client.networks.create("spare2", labels={"keep": "1"})
    pruned = client.networks.prune(filters={"label!": "keep"})
    assert pruned == {"NetworksDeleted": ["spare1"]}
    assert client.networks.prune() == {"NetworksDeleted": ["spare2"]}
    assert client.networks.prune() == {"NetworksDeleted": None}
    assert_serving(skiff_api)


def test_network_prune_with_the_docker_cli(skiff_api: SkiffApi) -> None:
    api = skiff_api
    skiff_run(api, "user", "--network", "bridge")
    api.ok("network", "create", "used")
    api.skiff.ok("network", "connect", "used", "user")
    api.ok("network", "create", "--label", "keep=yes", "kept")
    api.ok("network", "create", "idle")
    assert api.ok("network", "prune", "-f", "--filter", "label!=keep") == (
        "Deleted Networks:\nidle\n\n"
    )
    assert api.ok("network", "prune", "-f") == "Deleted Networks:\nkept\n\n"
    assert api.ok("network", "prune", "-f") == ""
    assert api.ok("network", "ls", "--format", "{{.Name}}").split() == [
        "bridge", "host", "none", "used",
    ]  # fmt: skip
    api.skiff.ok("rm", "-f", "user")
    api.ok("network", "rm", "used")


def test_network_documents_have_dockerds_shape(skiff_api: SkiffApi, oracle: Docker) -> None:
    body = {
        "Name": "shape",
        "CheckDuplicate": True,
        "Driver": "bridge",
        "Internal": True,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.201.10.0/24"}]},
        "Labels": {"a": "b"},
        "Options": {"com.docker.network.bridge.name": "skapi1"},
    }
    created = {}
    for name, socket_path in (("skiff", skiff_api.socket), ("dockerd", oracle.socket)):
        status, answer = request(socket_path, "POST", "/v1.41/networks/create", body)
        assert status == 201, answer
        assert keys(answer) == {"Id", "Warning"}
        created[name] = answer
    ours = request(skiff_api.socket, "GET", "/v1.41/networks/shape")[1]
    theirs = request(oracle.socket, "GET", "/v1.41/networks/shape")[1]
    assert keys(ours) == keys(theirs)
    assert keys(ours["IPAM"]) == keys(theirs["IPAM"])
    same = ("Name", "Scope", "Driver", "EnableIPv6", "Internal", "Attachable", "Ingress")
    same += ("ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels")
    assert {k: ours[k] for k in same} == {k: theirs[k] for k in same}
    assert ours["IPAM"]["Config"] == [{"Subnet": "10.201.10.0/24", "Gateway": "10.201.10.1"}]
    assert theirs["IPAM"]["Config"] == [{"Subnet": "10.201.10.0/24"}]
    assert ours["Id"] == created["skiff"]["Id"]

    # the list: the same documents, without their containers
    for socket_path in (skiff_api.socket, oracle.socket):
        status, listed = request(socket_path, "GET", '/v1.41/networks?filters={"name":["shape"]}')
        assert status == 200
        assert len(listed) == 1 and keys(listed[0]) == keys(ours) and listed[0]["Containers"] == {}

    for socket_path in (skiff_api.socket, oracle.socket):
        assert (
            request(socket_path, "POST", "/v1.41/networks/nosuch/connect", {"Container": "x"})[0]
            == 404
        )
        assert request(socket_path, "DELETE", "/v1.41/networks/shape") == (204, None)
        assert request(socket_path, "DELETE", "/v1.41/networks/shape")[0] == 404
        assert request(socket_path, "POST", "/v1.41/networks/prune") == (
            200, {"NetworksDeleted": None},
        )  # fmt: skip


def test_network_create_refuses_what_skiff_cannot_do(skiff_api: SkiffApi) -> None:
    for body, status, words in (
        ({"Name": "x", "EnableIPv6": True}, 400, "IPv4 only"),
        ({"Name": "x", "Scope": "swarm"}, 400, "local"),
        ({"Name": "x", "Internal": "yes"}, 400, "cannot unmarshal string"),
        ({"Name": 7}, 400, "cannot unmarshal number"),
        ({"Name": "x", "Labels": ["a"]}, 400, "cannot unmarshal array"),
        (
            {
                "Name": "x",
                "IPAM": {"Config": [{"Subnet": "10.201.11.0/24"}, {"Subnet": "10.201.12.0/24"}]},
            },
            400,
            "one subnet",
        ),
        ({"Name": "x", "IPAM": {"Driver": "other"}}, 404, 'plugin "other" not found'),
        ({}, 400, "network name is required"),
        ([1], 400, "cannot unmarshal array"),
    ):
        status_got, answer = request(skiff_api.socket, "POST", "/networks/create", body)
        assert status_got == status, (body, answer)
        assert words in answer["message"], (body, answer)
    status, answer = request(skiff_api.socket, "POST", "/networks/create", raw=b"{nope")
    assert status == 400 and "invalid JSON" in answer["message"]
    assert skiff_api.skiff.ok("network", "ls", "-q").count("\n") == 3
    assert_serving(skiff_api)


# --- volumes --------------------------------------------------------------------------


def test_volumes_with_the_docker_cli(skiff_api: SkiffApi) -> None:
    api = skiff_api
    assert (
        api.ok(
            "volume",
            "create",
            "--label",
            "team=a",
            "-o",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            "data",
        )
        == "data\n"
    )
    anonymous = api.ok("volume", "create").strip()
    assert ID.fullmatch(anonymous)
    assert api.ok("volume", "ls", "-q").split() == sorted(["data", anonymous])
    assert api.ok("volume", "ls", "--filter", "label=team=a", "-q") == "data\n"
    assert api.ok("volume", "ls", "--filter", "name=dat", "--format", "{{.Name}} {{.Driver}}") == (
        "data local\n"
    )
    document = json.loads(api.ok("volume", "inspect", "data"))[0]
    assert document == json.loads(api.skiff.ok("volume", "inspect", "data"))[0]
    assert (document["Labels"], document["Options"]) == (
        {"team": "a"}, {"device": "tmpfs", "type": "tmpfs"},
    )  # fmt: skip

    skiff_run(api, "user", "-v", "used:/data")
    assert api.ok("volume", "ls", "--filter", "dangling=false", "-q") == "used\n"
    result = api.docker("volume", "rm", "used")
    assert result.returncode == 1
    assert "remove used: volume is in use" in result.stderr
    assert api.docker("volume", "rm", "-f", "nosuch").returncode == 0
    result = api.docker("volume", "rm", "nosuch")
    assert (result.returncode, result.stderr) == (
        1, "Error response from daemon: get nosuch: no such volume\n",
    )  # fmt: skip

    # prune: anonymous volumes only, then all that no container uses
    assert api.ok("volume", "prune", "-f") == (
        f"Deleted Volumes:\n{anonymous}\n\nTotal reclaimed space: 0B\n"
    )
    api.ok("volume", "create", "plain")
    assert api.ok("volume", "prune", "-af") == (
        "Deleted Volumes:\nplain\n\nTotal reclaimed space: 0B\n"
    )
    assert api.ok("volume", "rm", "data") == "data\n"  # driver options: prune leaves it
    assert api.skiff.ok("volume", "ls", "-q") == "used\n"
    api.skiff.ok("rm", "-f", "user")
    assert api.ok("volume", "rm", "used") == "used\n"
    assert_serving(api)


def test_volumes_with_docker_py(skiff_api: SkiffApi) -> None:
    import docker

    client = skiff_api.client()
    volume = client.volumes.create(
        "pyvol", labels={"k": "v"}, driver_opts={"type": "tmpfs", "device": "tmpfs"}
    )
    assert volume.name == "pyvol"
    assert volume.attrs["Labels"] == {"k": "v"}
    assert volume.attrs["Mountpoint"] == str(skiff_api.skiff.root / "volumes" / "pyvol" / "_data")
    assert [v.name for v in client.volumes.list()] == ["pyvol"]
    assert client.volumes.list(filters={"label": "k=other"}) == []
    assert client.volumes.get("pyvol").attrs == volume.attrs
    status, listed = request(skiff_api.socket, "GET", "/volumes")
    assert (status, keys(listed), listed["Warnings"]) == (200, {"Volumes", "Warnings"}, [])
    with pytest.raises(docker.errors.NotFound, match="no such volume"):
        client.volumes.get("nosuch")
    with pytest.raises(docker.errors.APIError, match="invalid option"):
        client.volumes.create("bad", driver_opts={"nosuch": "1"})
    with pytest.raises(docker.errors.NotFound, match='plugin "nfs-plugin" not found'):
        client.volumes.create("bad", driver="nfs-plugin")
    volume.remove()
    assert client.volumes.list() == []
    client.volumes.create("named")
    client.volumes.create()  # anonymous
    assert client.volumes.prune()["VolumesDeleted"] != ["named"]
    assert [v.name for v in client.volumes.list()] == ["named"]
    assert client.volumes.prune(filters={"all": "true"}) == {
        "VolumesDeleted": ["named"], "SpaceReclaimed": 0,
    }  # fmt: skip
    assert client.volumes.prune() == {"VolumesDeleted": None, "SpaceReclaimed": 0}
    assert_serving(skiff_api)


def test_volume_prune_before_api_1_42_prunes_named_volumes(skiff_api: SkiffApi) -> None:
    import docker

    old = docker.APIClient(base_url=f"unix://{skiff_api.socket}", version="1.41")
    try:
        old.create_volume("named")
        new = skiff_api.client()
        assert new.volumes.prune()["VolumesDeleted"] is None  # 1.45: anonymous only
        assert old.prune_volumes()["VolumesDeleted"] == ["named"]
    finally:
        old.close()


def test_volume_documents_have_dockerds_shape(skiff_api: SkiffApi, oracle: Docker) -> None:
    body = {
        "Name": "shape",
        "Labels": {"a": "b"},
        "DriverOpts": {"type": "tmpfs", "device": "tmpfs"},
    }
    documents = []
    for socket_path in (skiff_api.socket, oracle.socket):
        status, created = request(socket_path, "POST", "/v1.41/volumes/create", body)
        assert status == 201, created
        assert request(socket_path, "GET", "/v1.41/volumes/shape") == (200, created)
        listed = request(socket_path, "GET", "/v1.41/volumes")[1]
        assert keys(listed) == {"Volumes", "Warnings"} and listed["Volumes"] == [created]
        documents.append(created)
        assert request(socket_path, "DELETE", "/v1.41/volumes/shape") == (204, None)
        assert request(socket_path, "DELETE", "/v1.41/volumes/shape")[0] == 404
        assert request(socket_path, "DELETE", "/v1.41/volumes/shape?force=1") == (204, None)
    ours, theirs = documents
    assert keys(ours) == keys(theirs)
    for key in ("Driver", "Labels", "Name", "Options", "Scope"):
        assert ours[key] == theirs[key], key


# --- system df --------------------------------------------------------------------------


def test_system_df(skiff_api: SkiffApi) -> None:
    api = skiff_api
    running = skiff_run(api, "busy", "-v", "dfvol:/data")
    api.skiff.ok("exec", "busy", "sh", "-c", "head -c 4096 /dev/zero > /data/f; echo x > /x")
    stopped = api.skiff.ok("create", "--name", "idle", "busybox", "true").strip()
    rows = [line.split()[:3] for line in api.ok("system", "df").splitlines()]
    assert rows == [
        ["TYPE", "TOTAL", "ACTIVE"],
        ["Images", "1", "1"],
        ["Containers", "2", "1"],
        ["Local", "Volumes", "1"],
        ["Build", "Cache", "0"],
    ]
    verbose = api.ok("system", "df", "-v")
    assert re.search(r"^dfvol\s+1\s+4.096kB$", verbose, re.M), verbose
    assert re.search(r"busy\s*$", verbose, re.M) and re.search(r"idle\s*$", verbose, re.M)

    usage = api.client().df()
    assert keys(usage) == {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}
    assert usage["LayersSize"] > 0 and usage["BuildCache"] == []
    [image] = usage["Images"]
    assert (image["RepoTags"], image["Containers"]) == (["busybox:latest"], 2)
    containers = {c["Id"]: c for c in usage["Containers"]}
    assert sorted(containers) == sorted([running, stopped])
    assert containers[running]["Names"] == ["/busy"]
    assert containers[running]["State"] == "running"
    assert containers[running]["SizeRw"] > 0
    assert containers[running]["SizeRootFs"] == containers[running]["SizeRw"] + image["Size"]
    assert containers[running]["Mounts"] == [
        {
            "Type": "volume", "Name": "dfvol",
            "Source": str(api.skiff.root / "volumes" / "dfvol" / "_data"),
            "Destination": "/data", "Driver": "local", "Mode": "z", "RW": True, "Propagation": "",
        }
    ]  # fmt: skip
    assert "SizeRw" not in containers[stopped]  # 0: left out, as dockerd does
    [volume] = usage["Volumes"]
    assert (volume["Name"], volume["UsageData"]) == ("dfvol", {"Size": 4096, "RefCount": 1})

    status, only = request(api.socket, "GET", "/system/df?type=volume&type=container")
    assert status == 200
    assert (only["Images"], only["BuildCache"], only["LayersSize"]) == (None, None, 0)
    assert len(only["Containers"]) == 2 and len(only["Volumes"]) == 1
    status, answer = request(api.socket, "GET", "/system/df?type=bogus")
    assert (status, answer) == (400, {"message": "unknown object type: bogus"})
    assert_serving(api)


def test_system_df_has_dockerds_shape(skiff_api: SkiffApi, oracle: Docker) -> None:
    skiff_run(skiff_api, "busy", "-v", "dfvol:/data")
    on_dockerd(
        oracle,
        "run",
        "-d",
        "--name",
        "busy",
        "--network",
        "none",
        "-v",
        "dfvol:/data",
        "busybox:test",
        "sleep",
        "60",
    )
    ours = request(skiff_api.socket, "GET", "/v1.41/system/df")[1]
    theirs = request(oracle.socket, "GET", "/v1.41/system/df")[1]
    assert keys(ours) == keys(theirs)
    assert keys(ours["Images"][0]) == keys(theirs["Images"][0])
    assert keys(ours["Containers"][0]) == keys(theirs["Containers"][0])
    assert keys(ours["Volumes"][0]) == keys(theirs["Volumes"][0])
    assert ours["Volumes"][0]["UsageData"] == theirs["Volumes"][0]["UsageData"]
    assert ours["Containers"][0]["Mounts"][0].keys() == theirs["Containers"][0]["Mounts"][0].keys()


# --- events ---------------------------------------------------------------------------


def test_events_in_a_window_with_filters(skiff_api: SkiffApi) -> None:
    api = skiff_api
    since = time.time()
    container = skiff_run(api, "c1")
    api.ok("network", "create", "evnet")
    api.ok("network", "connect", "evnet", "c1")
    api.ok("network", "disconnect", "evnet", "c1")
    api.skiff.ok("rm", "-f", "c1")
    api.ok("network", "rm", "evnet")
    until = time.time() + 0.2
    window = ["--since", f"{since:.6f}", "--until", f"{until:.6f}"]
    lines = api.ok("events", *window, "--format", "{{.Type}} {{.Action}}").splitlines()
    assert lines[:2] == ["container create", "container start"]
    assert lines.index("network create") < lines.index("container destroy")
    assert lines[-1] == "network destroy"
    networks = api.ok("events", *window, "--filter", "type=network", "--format", "{{.Action}}")
    assert networks.split() == ["create", "connect", "disconnect", "destroy"]
    started = api.ok(
        "events", *window, "--filter", "container=c1", "--filter", "event=start",
        "--format", "{{.ID}}",
    )  # fmt: skip
    assert started == container + "\n"
    evnet = api.ok("events", *window, "--filter", "network=evnet", "--format", "{{.Action}}")
    assert evnet.split() == ["create", "connect", "disconnect", "destroy"]

    client = api.client()
    found = list(
        client.events(decode=True, since=since, until=until, filters={"type": "container"})
    )
    assert [e["Action"] for e in found][:2] == ["create", "start"]
    first = found[0]
    assert keys(first) == {
        "status",
        "id",
        "from",
        "Type",
        "Action",
        "Actor",
        "scope",
        "time",
        "timeNano",
    }
    assert (first["id"], first["from"], first["Actor"]["Attributes"]["name"]) == (
        container,
        "busybox",
        "c1",
    )
    assert since <= first["timeNano"] / 1e9 <= until

    # a window that ends before it begins, and a bad time: dockerd's words
    result = api.docker("events", "--since", "5", "--until", "2")
    assert (
        result.stderr
        == "Error response from daemon: `since` time (5) cannot be after `until` time (2)\n"
    )
    status, answer = request(api.socket, "GET", "/events?since=yesterday")
    assert status == 400 and "yesterday" in answer["message"]
    assert_serving(api)


class Lines:
    """The lines a process prints, read by a thread: ``next`` waits for one (a test
    that does not get it in time fails instead of hanging)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        import queue
        import threading

        self.queue: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stream = process.stdout
        threading.Thread(target=lambda: [self.queue.put(x) for x in stream], daemon=True).start()

    def next(self, timeout: float = 20) -> str:
        return self.queue.get(timeout=timeout)

    def empty(self) -> bool:
        return self.queue.empty()


def test_events_follow_until_the_client_goes(skiff_api: SkiffApi) -> None:
    api = skiff_api
    line = "{{.Action}} {{.Actor.Attributes.name}}"
    followers = [
        api.popen(
            "events", "--filter", "type=network", "--format", line,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(3)
    ]  # fmt: skip
    try:
        outputs = [Lines(follower) for follower in followers]
        # until each follows (an event before it asked is not its): probes
        probes = 0
        waiting = list(outputs)
        while waiting:
            assert probes < 50, "the followers do not follow"
            api.ok("network", "create", f"probe{probes}")
            api.ok("network", "rm", f"probe{probes}")
            probes += 1
            time.sleep(0.2)
            waiting = [output for output in waiting if output.empty()]
        api.ok("network", "create", "live")
        api.ok("network", "rm", "live")
        for output, follower in zip(outputs, followers, strict=True):
            seen = []
            while "destroy live\n" not in seen:
                seen.append(output.next())
            assert seen[-2:] == ["create live\n", "destroy live\n"]
            assert all(x.startswith(("create probe", "destroy probe")) for x in seen[:-2])
            assert follower.poll() is None  # still following
    finally:
        for follower in followers:
            follower.terminate()
            follower.wait(10)
    # the followers are gone: the server serves on and has no trouble
    assert api.ok("network", "ls", "-q").count("\n") == 3
    assert_serving(api)


def test_events_until_a_time_to_come_ends_then(skiff_api: SkiffApi) -> None:
    api = skiff_api
    start = time.time()
    until = start + 2
    events = api.popen(
        "events", "--until", f"{until:.3f}", "--filter", "type=network",
        "--format", "{{.Action}}", stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        api.ok("network", "create", "soon")
        out, _ = events.communicate(timeout=15)
    finally:
        if events.poll() is None:
            events.kill()
            events.wait()
    assert out == "create\n"
    assert time.time() >= until
    api.ok("network", "rm", "soon")

    # docker-py streams the same, and stops at ``until``; without ``since``, what was
    # recorded before comes first (as dockerd replays its buffer up to ``until``)
    client = api.client()
    until = time.time() + 1.5
    generator = client.events(decode=True, until=until, filters={"type": "network"})
    api.ok("network", "create", "later")
    found = [(event["Action"], event["Actor"]["Attributes"]["name"]) for event in generator]
    assert found == [("create", "soon"), ("destroy", "soon"), ("create", "later")]
    api.ok("network", "rm", "later")


# --- top, stats, diff, export ---------------------------------------------------------


def test_top_with_the_docker_cli(skiff_api: SkiffApi) -> None:
    api = skiff_api
    skiff_run(api, "c1")
    lines = api.ok("top", "c1").splitlines()
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert len(lines) == 2 and lines[1].endswith("sleep 60")
    assert api.ok("top", "c1", "-o", "pid,args").splitlines()[1].split()[1:] == ["sleep", "60"]
    result = api.docker("top", "c1", "-o", "x=PID")
    assert 'specifying "x=PID" is not allowed' in result.stderr
    top = api.client().containers.get("c1").top()
    assert top["Titles"][-1] == "CMD" and top["Processes"][0][-1] == "sleep 60"
    api.skiff.ok("create", "--name", "idle", "busybox", "true")
    result = api.docker("top", "idle")
    assert result.returncode == 1 and "is not running" in result.stderr


def test_stats_with_the_docker_cli(skiff_api: SkiffApi) -> None:
    api = skiff_api
    skiff_run(api, "c1", "--memory", "64m")
    line = api.ok("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", "c1")
    name, usage, slash, limit, pids = line.split()
    assert (name, slash, limit, pids) == ("c1", "/", "64MiB", "1")
    assert usage.endswith("iB") and not usage.startswith("0B")
    rows = api.ok("stats", "--no-stream", "--format", "{{json .}}").splitlines()
    [row] = [json.loads(r) for r in rows]
    assert row["Name"] == "c1" and row["NetIO"] != "0B / 0B"  # its own network namespace
    assert_serving(api)


def test_stats_stream_with_the_docker_cli(skiff_api: SkiffApi) -> None:
    """``docker stats`` without --no-stream: a table a second, from the stream of each
    container's documents (and the events it follows for containers that come)."""
    api = skiff_api
    skiff_run(api, "c1")
    stats = api.popen(
        "stats", "--format", "{{.Name}} {{.PIDs}}", "c1", stdout=subprocess.PIPE, text=True
    )
    try:
        output = Lines(stats)
        rows: list[str] = []
        while len(rows) < 2:  # two tables, their escape sequences left out
            row = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", output.next()).strip()
            if row:
                rows.append(row)
        assert rows == ["c1 1", "c1 1"]
    finally:
        stats.kill()  # it waits for its streams to end on SIGTERM
        stats.wait(10)
    assert_serving(api)


def test_stats_documents(skiff_api: SkiffApi) -> None:
    api = skiff_api
    container_id = skiff_run(api, "c1")
    client = api.client()
    container = client.containers.get("c1")
    # one document over a second: precpu is a second older
    document = container.stats(stream=False)
    assert (document["id"], document["name"]) == (container_id, "/c1")
    assert document["preread"] != "0001-01-01T00:00:00Z"
    assert document["cpu_stats"]["system_cpu_usage"] > document["precpu_stats"]["system_cpu_usage"]
    assert document["memory_stats"]["usage"] > 0 and document["pids_stats"]["current"] == 1
    assert "eth0" in document["networks"]
    # one-shot: at once, no previous figures
    started = time.monotonic()
    one = container.stats(stream=False, one_shot=True)
    assert time.monotonic() - started < 1
    assert one["preread"] == "0001-01-01T00:00:00Z"
    assert one["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    # a stream: a document a second, each with the one before as its precpu
    stream = container.stats(stream=True, decode=True)
    first, second = next(stream), next(stream)
    stream.close()
    assert second["preread"] == first["read"]
    assert second["precpu_stats"] == first["cpu_stats"]
    # not running: dockerd's empty document
    api.skiff.ok("create", "--name", "idle", "busybox", "true")
    status, idle = request(api.socket, "GET", "/containers/idle/stats?stream=false")
    assert status == 200 and idle["read"] == "0001-01-01T00:00:00Z" and idle["memory_stats"] == {}
    status, answer = request(api.socket, "GET", "/containers/c1/stats?stream=1&one-shot=1")
    assert (status, answer) == (400, {"message": "cannot have stream=true and one-shot=true"})
    assert_serving(api)


def test_stats_have_dockerds_shape(skiff_api: SkiffApi, oracle: Docker) -> None:
    skiff_run(skiff_api, "c1", "--network", "none")
    on_dockerd(
        oracle, "run", "-d", "--name", "c1", "--network", "none", "busybox:test", "sleep", "60"
    )
    ours = request(skiff_api.socket, "GET", "/v1.41/containers/c1/stats?stream=false")[1]
    theirs = request(oracle.socket, "GET", "/v1.41/containers/c1/stats?stream=false")[1]
    assert keys(ours) == keys(theirs)  # no "networks" for --network none
    for key in ("cpu_stats", "precpu_stats", "memory_stats", "pids_stats", "blkio_stats"):
        assert keys(ours[key]) == keys(theirs[key]), key
    assert keys(ours["cpu_stats"]["cpu_usage"]) == keys(theirs["cpu_stats"]["cpu_usage"])
    assert keys(ours["memory_stats"]["stats"]) == keys(theirs["memory_stats"]["stats"])
    idle = {}
    for name, socket_path in (("skiff", skiff_api.socket), ("dockerd", oracle.socket)):
        image = "busybox" if name == "skiff" else "busybox:test"
        create = ["create", "--name", "idle", "--network", "none", image, "true"]
        subprocess.run(
            ["docker", "-H", f"unix://{socket_path}", *create], check=True, capture_output=True
        )
        document = request(socket_path, "GET", "/v1.41/containers/idle/stats?stream=false")[1]
        del document["id"]
        idle[name] = document
    assert idle["skiff"] == idle["dockerd"]


def test_diff_and_export(skiff_api: SkiffApi, oracle: Docker) -> None:
    api = skiff_api
    skiff_run(api, "c1")
    api.skiff.ok("exec", "c1", "sh", "-c", "echo hi > /tmp/new; rm /bin/true; mkdir /made")
    changes = api.ok("diff", "c1").splitlines()
    assert changes == ["C /bin", "D /bin/true", "A /made", "C /tmp", "A /tmp/new"]
    found = api.client().containers.get("c1").diff()
    assert found == [
        {"Path": "/bin", "Kind": 0}, {"Path": "/bin/true", "Kind": 2}, {"Path": "/made", "Kind": 1},
        {"Path": "/tmp", "Kind": 0}, {"Path": "/tmp/new", "Kind": 1},
    ]  # fmt: skip
    # no change: null, as dockerd answers
    api.skiff.ok("create", "--name", "idle", "busybox", "true")
    on_dockerd(oracle, "create", "--name", "idle", "--network", "none", "busybox:test", "true")
    assert request(api.socket, "GET", "/containers/idle/changes") == (200, None)
    assert request(oracle.socket, "GET", "/containers/idle/changes") == (200, None)

    result = subprocess.run(
        ["docker", "export", "c1"], env=api.env, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as tar:
        names = set(tar.getnames())
        assert {"bin/busybox", "tmp/new", "made"} <= names and "bin/true" not in names
        member = tar.extractfile("tmp/new")
        assert member is not None and member.read() == b"hi\n"
    # docker-py reads the same stream
    data = b"".join(api.client().containers.get("c1").export())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert "tmp/new" in tar.getnames()
    result = api.docker("export", "nosuch")
    assert result.stderr == "Error response from daemon: No such container: nosuch\n"
    assert_serving(api)


def test_export_of_a_client_that_goes_away(skiff_api: SkiffApi) -> None:
    """A client that stops reading an export half-way: the server's writer stops."""
    api = skiff_api
    skiff_run(api, "c1")
    api.skiff.ok("exec", "c1", "sh", "-c", "head -c 20000000 /dev/urandom > /big")
    connection = _UnixConnection(api.socket)
    connection.request("GET", "/containers/c1/export")
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type") == "application/x-tar"
    since = time.time()
    assert len(response.read(100_000)) == 100_000
    connection.close()
    time.sleep(1)
    assert api.ok("diff", "c1").splitlines() == ["A /big"]
    # the archive was not finished: no export event (an export records one at its end)
    window = ["--since", f"{since:.3f}", "--until", f"{time.time():.3f}"]
    assert api.ok("events", *window, "--filter", "event=export") == ""
    assert_serving(api)


# --- update, prune ----------------------------------------------------------------------


def test_update_with_the_docker_cli(skiff_api: SkiffApi) -> None:
    api = skiff_api
    skiff_run(api, "c1")
    assert (
        api.ok(
            "update",
            "--memory",
            "64m",
            "--memory-swap",
            "128m",
            "--cpus",
            "0.5",
            "--restart",
            "on-failure:3",
            "--pids-limit",
            "50",
            "c1",
        )
        == "c1\n"
    )
    host = api.skiff.container("c1")["HostConfig"]
    assert (host["Memory"], host["MemorySwap"], host["NanoCpus"], host["PidsLimit"]) == (
        64 << 20, 128 << 20, 500_000_000, 50,
    )  # fmt: skip
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    line = api.ok("stats", "--no-stream", "--format", "{{.MemUsage}}", "c1")
    assert line.split("/")[1].strip() == "64MiB"  # applied to the running container
    # a later update changes only what it names
    api.ok("update", "--cpu-shares", "512", "c1")
    host = api.skiff.container("c1")["HostConfig"]
    assert (host["CpuShares"], host["Memory"], host["RestartPolicy"]["Name"]) == (
        512,
        64 << 20,
        "on-failure",
    )
    result = api.docker("update", "--memory", "1m", "c1")
    assert result.returncode == 1 and "Minimum memory limit allowed is 6MB" in result.stderr

    container = api.client().containers.get("c1")
    assert container.update(mem_limit="32m", mem_reservation="16m") == {"Warnings": []}
    host = api.skiff.container("c1")["HostConfig"]
    assert (host["Memory"], host["MemoryReservation"]) == (32 << 20, 16 << 20)
    for body, words in (
        ({"Memory": "lots"}, "cannot unmarshal string"),
        ({"BlkioWeight": 70000}, "cannot unmarshal number"),
        ({"RestartPolicy": {"Name": "sometimes"}}, "unknown policy 'sometimes'"),
        ({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 2}}, "maximum retry count"),
    ):
        status, answer = request(api.socket, "POST", "/containers/c1/update", body)
        assert status == 400 and words in answer["message"], (body, answer)
    assert request(api.socket, "POST", "/containers/nosuch/update", {"Memory": 1 << 30}) == (
        404, {"message": "No such container: nosuch"},
    )  # fmt: skip
    assert_serving(api)


def test_container_prune(skiff_api: SkiffApi) -> None:
    api = skiff_api
    running = skiff_run(api, "up")
    done = api.skiff.ok("create", "--name", "done", "busybox", "true").strip()
    labelled = api.skiff.ok(
        "create", "--name", "kept", "--label", "keep=1", "busybox", "true"
    ).strip()
    out = api.ok("container", "prune", "-f", "--filter", "label!=keep")
    assert out == f"Deleted Containers:\n{done}\n\nTotal reclaimed space: 0B\n"
    client = api.client()
    assert client.containers.prune(filters={"until": "1h"}) == {
        "ContainersDeleted": None, "SpaceReclaimed": 0,
    }  # fmt: skip
    assert client.containers.prune() == {"ContainersDeleted": [labelled], "SpaceReclaimed": 0}
    assert api.skiff.ok("ps", "-aq", "--no-trunc").split() == [running]
    status, answer = request(api.socket, "POST", '/containers/prune?filters={"nosuch":["1"]}')
    assert status == 400 and "filter 'nosuch'" in answer["message"]
    assert_serving(api)
