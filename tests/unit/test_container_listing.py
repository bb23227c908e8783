"""The pure logic of ``ps`` and ``inspect``: Docker's status lines, commands, ports, image
names, filters (over a real state database in a temporary directory) and the template
views of an inspect document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skiff.cli import listing as cli
from skiff.cli.format import Formatter, Record, Template, TemplateError
from skiff.cli.main import CommandFailed
from skiff.engine import inspect, listing
from skiff.engine.containers import ContainerStore
from skiff.engine.options import ContainerOptions
from skiff.errors import InvalidArgument, NotFound
from skiff.paths import Paths

NOW = 1_700_000_000.0
ZERO = "0001-01-01T00:00:00Z"


def stamp(seconds_ago: float) -> str:
    import time

    t = NOW - seconds_ago
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def running(**extra: object) -> dict:
    return {"Running": True, "StartedAt": stamp(3), "FinishedAt": ZERO, **extra}


# --- state and status -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "name", "status"),
    [
        ({}, "created", "Created"),
        ({"StartedAt": ZERO}, "created", "Created"),
        (running(), "running", "Up 3 seconds"),
        (running(StartedAt=stamp(0.2)), "running", "Up Less than a second"),
        (running(StartedAt=stamp(150)), "running", "Up 2 minutes"),
        (running(Health={"Status": "healthy"}), "running", "Up 3 seconds (healthy)"),
        (running(Health={"Status": "unhealthy"}), "running", "Up 3 seconds (unhealthy)"),
        (running(Health={"Status": "starting"}), "running", "Up 3 seconds (health: starting)"),
        (running(Paused=True), "paused", "Up 3 seconds (Paused)"),
        (
            running(Restarting=True, ExitCode=1, FinishedAt=stamp(5)),
            "restarting",
            "Restarting (1) 5 seconds ago",
        ),
        (
            {"StartedAt": stamp(70), "FinishedAt": stamp(65), "ExitCode": 3},
            "exited",
            "Exited (3) About a minute ago",
        ),
        ({"StartedAt": stamp(9), "FinishedAt": ZERO}, "exited", ""),
        ({"Dead": True, "StartedAt": stamp(9)}, "dead", "Dead"),
    ],
)
def test_state_name_and_status_line(state: dict, name: str, status: str):
    assert inspect.state_name(state) == name
    assert inspect.status_text(state, NOW) == status


def test_state_document_has_docker_keys_in_order():
    document = inspect.state_document({"Status": "running", "Running": True, "Path": "sh"})
    assert list(document) == [
        "Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode",
        "Error", "StartedAt", "FinishedAt",
    ]  # fmt: skip
    assert "Health" in inspect.state_document({"Health": {"Status": "healthy"}})
    assert inspect.health_status({}) == "none"
    assert inspect.health_status({"Health": {"Status": "starting"}}) == "starting"


def test_command_quotes_arguments_with_spaces():
    assert inspect.command_text({"Path": "sleep", "Args": ["300"]}) == "sleep 300"
    assert inspect.command_text({"Path": "sh", "Args": ["-c", "exit 3"]}) == "sh -c 'exit 3'"
    assert inspect.command_text({"Path": "sh", "Args": []}) == "sh"
    assert inspect.command_text({}) == ""


def test_go_quote_of_commands():
    assert cli.go_quote("sh -c 'echo \"a\\b\"'") == '"sh -c \'echo \\"a\\\\b\\"\'"'
    assert cli.go_quote("sleep 30…") == '"sleep 30…"'
    assert cli.go_quote("a\tb\x01") == '"a\\tb\\x01"'


def test_created_time_is_rfc3339_nano_in_utc():
    assert inspect.created_text(1_700_000_000.25) == "2023-11-14T22:13:20.25Z"
    assert inspect.created_text(1_700_000_000.0) == "2023-11-14T22:13:20Z"


# --- ports --------------------------------------------------------------------------------


def port(private: int, kind: str = "tcp", ip: str = "", public: int = 0) -> dict:
    entry: dict = {"PrivatePort": private, "Type": kind}
    if ip:
        entry |= {"IP": ip, "PublicPort": public}
    return entry


@pytest.mark.parametrize(
    ("ports", "text"),
    [
        ([], ""),
        ([port(9988)], "9988/tcp"),
        ([port(9988, "udp")], "9988/udp"),
        ([port(9988, ip="0.0.0.0", public=0)], "0.0.0.0:0->9988/tcp"),
        ([port(9988, ip="4.3.2.1", public=8899)], "4.3.2.1:8899->9988/tcp"),
        ([port(9988, ip="4.3.2.1", public=9988)], "4.3.2.1:9988->9988/tcp"),
        ([port(9988, "udp"), port(9988, "udp")], "9988/udp, 9988/udp"),
        (
            [port(9998, "udp", "1.2.3.4", 9998), port(9999, "udp", "1.2.3.4", 9999)],
            "1.2.3.4:9998-9999->9998-9999/udp",
        ),
        (
            [port(9998, "udp", "1.2.3.4", 8887), port(9999, "udp", "1.2.3.4", 8888)],
            "1.2.3.4:8887->9998/udp, 1.2.3.4:8888->9999/udp",
        ),
        ([port(9999, "udp"), port(9998, "udp")], "9998-9999/udp"),
        (
            [port(6677, "tcp", "1.2.3.4", 7766), port(9988, "udp")],
            "9988/udp, 1.2.3.4:7766->6677/tcp",
        ),
        ([port(80, "tcp", "::", 80)], "[::]:80->80/tcp"),
        ([port(80), port(81), port(83), port(53, "udp")], "80-81/tcp, 53/udp, 83/tcp"),
    ],
)
def test_displayable_ports(ports: list[dict], text: str):
    assert cli.displayable_ports(ports) == text


PORTS = {
    "443/tcp": None,
    "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
    "80/tcp": [
        {"HostIp": "0.0.0.0", "HostPort": "8080"},
        {"HostIp": "::", "HostPort": "8080"},
        {"HostIp": "127.0.0.1", "HostPort": "10000"},
    ],
    "9/tcp": [{"HostIp": "0.0.0.0", "HostPort": "9"}],
}


def test_port_lines_of_every_published_port_naturally_sorted():
    assert cli.port_lines(PORTS, "web") == [
        "9/tcp -> 0.0.0.0:9",
        "53/udp -> 0.0.0.0:5353",
        "80/tcp -> 0.0.0.0:8080",
        "80/tcp -> 127.0.0.1:10000",
        "80/tcp -> [::]:8080",
    ]
    assert cli.port_lines({}, "web") == []


def test_port_lines_of_one_private_port():
    assert cli.port_lines(PORTS, "web", "80") == ["0.0.0.0:8080", "127.0.0.1:10000", "[::]:8080"]
    assert cli.port_lines(PORTS, "web", "53/udp") == ["0.0.0.0:5353"]


@pytest.mark.parametrize(
    ("private", "message"),
    [
        ("443", "No public port '443' published for web"),
        ("53", "No public port '53' published for web"),
        ("8080/tcp", "No public port '8080/tcp' published for web"),
        ("80x", 'invalid port (80x): strconv.ParseUint: parsing "80x": invalid syntax'),
        ("99999", 'invalid port (99999): strconv.ParseUint: parsing "99999": value out of range'),
        ("/udp", 'invalid port (): strconv.ParseUint: parsing "": invalid syntax'),
    ],
)
def test_port_lines_errors(private: str, message: str):
    with pytest.raises(CommandFailed) as info:
        cli.port_lines(PORTS, "web", private)
    assert (str(info.value), info.value.exit_code) == (message, 1)


def test_port_filter_values():
    assert listing.port_filter("publish", ["80", "53/udp", "8000-8002/tcp"]) == {
        "80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp",
    }  # fmt: skip
    for value, message in (
        ("a:b", "filter for 'publish' should not contain ':': a:b"),
        ("x", 'error while looking up for publish x: strconv.ParseUint: parsing "x": '
         "invalid syntax"),
        ("70000", 'error while looking up for publish 70000: strconv.ParseUint: parsing '
         '"70000": value out of range'),
        ("90-80", "error while looking up for publish 90-80: "
         "Invalid range specified for the Port: 90-80"),
    ):  # fmt: skip
        with pytest.raises(InvalidArgument) as error:
            listing.port_filter("publish", [value])
        assert str(error.value) == message


# --- images and headers -------------------------------------------------------------------

IMAGE_ID = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("shown", "trunc", "text"),
    [
        ("busybox", True, "busybox"),
        ("busybox:latest", True, "busybox:latest"),
        ("docker.io/library/busybox:1.36", True, "busybox:1.36"),
        ("localhost:5000/app:v1", True, "localhost:5000/app:v1"),
        ("busybox:1@sha256:" + "cd" * 32, True, "busybox:1"),
        ("busybox@sha256:" + "cd" * 32, True, "busybox"),
        ("busybox@sha256:" + "cd" * 32, False, "busybox@sha256:" + "cd" * 32),
        (IMAGE_ID, True, "ab" * 6),
        (IMAGE_ID, False, IMAGE_ID),
        ("", True, "<no image>"),
    ],
)
def test_image_column(shown: str, trunc: bool, text: str):
    assert cli.image_text(shown, IMAGE_ID, trunc) == text


def test_label_column_header():
    assert cli.header_label("com.example.my-label_x") == "my label x"
    assert cli.header_label("x") == "x"


def test_record_methods_in_templates():
    calls: list[str] = []

    def size() -> str:
        calls.append("size")
        return "1B"

    row = Record(cli.CONTEXT, {"ID": "abc", "Size": size, "Label": lambda name: name.upper()})
    assert Template('{{.ID}} {{.Label "k"}}').render(row) == "abc K"
    assert calls == []  # a method runs only when its field is read
    assert Template("{{.Size}}").render(row) == "1B"
    assert json.loads(Template("{{json .}}").render(row)) == {"ID": "abc", "Size": "1B"}
    with pytest.raises(TemplateError, match="wrong number of args for Label: want 1 got 0"):
        Template("{{.Label}}").render(row)
    with pytest.raises(TemplateError, match=r"can't give argument to non-function \.ID"):
        Template('{{.ID "x"}}').render(row)
    header = Formatter('table {{.ID}}\t{{.Label "a.b-c"}}', "", cli.PS_HEADERS).render([row])
    assert header.splitlines()[0].split() == ["CONTAINER", "ID", "b", "c"]


# --- inspect views ------------------------------------------------------------------------


def test_inspect_view_prints_nil_slices_maps_and_pointers_as_go():
    document = {
        "Id": "x",
        "Args": [],
        "ExecIDs": None,
        "State": {"Status": "created"},
        "HostConfig": {"Binds": None, "PortBindings": {}, "PidsLimit": None, "Memory": 5},
        "Mounts": [],
        "Config": {"Env": None, "Labels": {}, "Cmd": ["sh"]},
        "NetworkSettings": {"SecondaryIPAddresses": None, "Networks": {}},
    }
    view = cli.container_view(document)
    source = (
        "{{.ExecIDs}} {{.SizeRw}} {{.State.Health}} {{.HostConfig.Binds}} "
        "{{.HostConfig.Tmpfs}} {{.HostConfig.PidsLimit}} {{.HostConfig.Init}} "
        "{{.HostConfig.Memory}} {{.Config.Env}} {{.Config.Healthcheck}} "
        "{{.NetworkSettings.SecondaryIPAddresses}} {{json .HostConfig.Binds}}"
    )
    assert Template(source).render(view) == "[] <nil> <nil> [] map[] <nil> <nil> 5 [] <nil> [] null"
    with pytest.raises(TemplateError, match='map has no entry for key "Nope"'):
        Template("{{.Nope}}").render(view)


def test_host_config_of_default_options_has_dockers_defaults():
    config = inspect.host_config(ContainerOptions(image="busybox"))
    assert config["NetworkMode"] == "bridge"
    assert config["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert config["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert config["ShmSize"] == 64 << 20
    assert config["IpcMode"] == "private"
    assert config["Runtime"] == "skiff-runtime"
    assert config["SecurityOpt"] is None
    assert config["MemorySwappiness"] is None
    assert config["PidsLimit"] is None
    assert "/sys/firmware" in config["MaskedPaths"]
    assert not {"Init", "Tmpfs", "Sysctls", "Annotations", "Mounts"} & set(config)
    options = ContainerOptions(image="b", memory=64 << 20, privileged=True, init=True)
    options.cap_add, options.tmpfs = ["sys_admin"], {"/run": "size=1m"}
    config = inspect.host_config(options)
    assert config["MemorySwap"] == 128 << 20
    assert config["CapAdd"] == ["CAP_SYS_ADMIN"]
    assert config["MaskedPaths"] is config["ReadonlyPaths"] is None
    assert config["SecurityOpt"] == ["label=disable"]
    assert config["Init"] is True
    assert config["Tmpfs"] == {"/run": "size=1m"}


# --- filters over a real store ------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> ContainerStore:
    """Five containers, oldest first: created, exited 0, exited 3, running, running with a
    label and a healthy check."""
    containers = ContainerStore(Paths(str(tmp_path / "root"), str(tmp_path / "run")))
    states = {
        "created": {},
        "zero": {"Status": "exited", "StartedAt": stamp(9), "FinishedAt": stamp(8)},
        "three": {
            "Status": "exited", "StartedAt": stamp(9), "FinishedAt": stamp(8), "ExitCode": 3,
        },
        "up": {"Status": "running", **running()},
        "labelled": {"Status": "running", **running(), "Health": {"Status": "healthy"}},
    }  # fmt: skip
    for number, (name, state) in enumerate(states.items()):
        options = {"labels": {"team": "a"}} if name == "labelled" else {}
        containers.add(f"{number}{name}".ljust(64, "f"), name, IMAGE_ID, "busybox", options)
        containers.set_state(f"{number}{name}".ljust(64, "f"), **state)
    return containers


def names(store: ContainerStore, filters: dict | None = None, **kw: object) -> list[str]:
    facts = listing.Facts(store)
    return [c.name for c in listing.select(store, facts, filters, **kw)]  # type: ignore[arg-type]


def test_select_order_all_and_limit(store: ContainerStore):
    assert names(store) == ["labelled", "up"]
    assert names(store, all=True) == ["labelled", "up", "three", "zero", "created"]
    assert names(store, limit=3) == ["labelled", "up", "three"]
    assert names(store, limit=0) == ["labelled", "up"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"status": ["exited"]}, ["three", "zero"]),
        ({"status": ["created", "running"]}, ["labelled", "up", "created"]),
        ({"exited": ["3"]}, ["three"]),
        ({"exited": ["0", "3"]}, ["three", "zero"]),
        ({"name": ["^up$"]}, ["up"]),
        ({"name": ["^/z"]}, ["zero"]),
        ({"name": ["e"]}, ["labelled", "three", "zero", "created"]),
        ({"name": ["("]}, []),  # not a regular expression: matches nothing
        ({"id": ["2"]}, ["three"]),
        ({"id": ["2", "4"]}, ["labelled", "three"]),
        ({"id": ["0", "f"]}, ["created"]),  # "f" is not one container's prefix
        ({"label": ["team"]}, ["labelled"]),
        ({"label": ["team=b"]}, []),
        ({"health": ["healthy"]}, ["labelled"]),
        ({"health": ["none"]}, ["up", "three", "zero", "created"]),
        ({"before": ["three"]}, ["zero", "created"]),
        ({"since": ["three"]}, ["labelled", "up"]),
        ({"is-task": ["true"]}, []),
        ({"is-task": ["false"]}, ["labelled", "up", "three", "zero", "created"]),
        ({"network": ["bridge"]}, ["labelled", "up", "three", "zero", "created"]),
        ({"network": ["none"]}, []),
        ({"isolation": ["default"]}, ["labelled", "up", "three", "zero", "created"]),
        ({"expose": ["80"]}, []),
    ],
)
def test_select_filters(store: ContainerStore, filters: dict, expected: list[str]):
    assert names(store, filters, all=True) == expected


def test_status_filter_implies_all_and_limit_counts_after_filters(store: ContainerStore):
    assert names(store, {"status": ["exited"]}) == ["three", "zero"]
    assert names(store, {"exited": ["3"]}) == []
    assert names(store, {"name": ["e"]}, limit=2) == ["labelled", "three"]


@pytest.mark.parametrize(
    ("filters", "error", "message"),
    [
        ({"foo": ["x"]}, InvalidArgument, "invalid filter 'foo'"),
        ({"status": ["up"]}, InvalidArgument, "invalid filter 'status=up'"),
        ({"health": ["ill"]}, InvalidArgument, "Unrecognised filter value for health: ill"),
        ({"exited": ["x"]}, InvalidArgument, 'strconv.Atoi: parsing "x": invalid syntax'),
        ({"is-task": ["1", "y"]}, InvalidArgument, "invalid filter 'is-task=[1 y]'"),
        ({"before": ["nope"]}, NotFound, "no such container nope"),
        ({"since": ["nope"]}, NotFound, "no such container nope"),
    ],
)
def test_bad_filters(store: ContainerStore, filters: dict, error: type, message: str):
    with pytest.raises(error) as caught:
        names(store, filters)
    assert str(caught.value) == message
