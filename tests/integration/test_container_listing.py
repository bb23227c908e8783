"""``ps``, ``container inspect``, ``inspect`` and ``port`` through the real ``skiff``
command, over real containers in each state: created, running (a real process, seen in
/proc) and exited with a code."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.support.cli import Skiff

AGO = r"(Less than a second|\d+ seconds?|About a minute) ago"


def table(out: str) -> list[dict[str, str]]:
    """A tabwriter table as rows of column -> text (columns cut where the headers start)."""
    header, *lines = out.splitlines()
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=  ))\S+(?: \S+)*", header)]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    return [
        {
            name: line[a:b].strip()
            for name, a, b in zip(names, starts, [*starts[1:], None], strict=True)
        }
        for line in lines
    ]


@pytest.fixture
def three(skiff: Skiff, busybox: str) -> dict[str, str]:
    """Three containers, oldest first: created, exited with 3, running; name -> ID."""
    ids = {"c1": skiff.ok("create", "--name", "c1", "busybox", "sleep", "300").strip()}
    assert skiff("run", "--name", "x3", "busybox", "sh", "-c", "exit 3").code == 3
    ids["x3"] = skiff.container("x3")["Id"]
    ids["r1"] = skiff.ok("run", "-d", "--name", "r1", "busybox", "sleep", "300").strip()
    return ids


# --- ps -----------------------------------------------------------------------------------


def test_ps_shows_running_containers_and_all_with_a(skiff: Skiff, three: dict[str, str]):
    out = skiff.ok("ps")
    assert out.splitlines()[0].split() == [
        "CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES",
    ]  # fmt: skip
    [row] = table(out)
    assert row["CONTAINER ID"] == three["r1"][:12]
    assert row["IMAGE"] == "busybox"
    assert row["COMMAND"] == '"sleep 300"'
    assert re.fullmatch(AGO, row["CREATED"])
    assert re.fullmatch(r"Up (Less than a second|\d+ seconds?)", row["STATUS"])
    assert row["PORTS"] == ""
    assert row["NAMES"] == "r1"

    rows = table(skiff.ok("ps", "-a"))
    assert [r["NAMES"] for r in rows] == ["r1", "x3", "c1"]  # newest first
    assert rows[1]["COMMAND"] == "\"sh -c 'exit 3'\""
    assert re.fullmatch(r"Exited \(3\) " + AGO, rows[1]["STATUS"])
    assert rows[2]["STATUS"] == "Created"
    assert [r["NAMES"] for r in table(skiff.ok("container", "ls", "-a"))] == ["r1", "x3", "c1"]
    for alias in ("list", "ps"):
        assert [r["NAMES"] for r in table(skiff.ok("container", alias))] == ["r1"]


def test_ps_quiet_last_latest_and_no_trunc(skiff: Skiff, three: dict[str, str]):
    assert skiff.ok("ps", "-q") == three["r1"][:12] + "\n"
    assert skiff.ok("ps", "-aq").split() == [three[n][:12] for n in ("r1", "x3", "c1")]
    assert skiff.ok("ps", "-aq", "--no-trunc").split() == [three[n] for n in ("r1", "x3", "c1")]
    assert skiff.ok("ps", "-q", "-n", "2").split() == [three["r1"][:12], three["x3"][:12]]
    assert skiff.ok("ps", "-q", "-l").split() == [three["r1"][:12]]
    assert skiff.ok("ps", "-q", "-n", "0").split() == [three["r1"][:12]]  # 0: no limit
    full = table(skiff.ok("ps", "--no-trunc"))[0]
    assert full["CONTAINER ID"] == three["r1"]
    bad = skiff("ps", "-n", "x")
    assert bad.code == 125
    assert bad.err.startswith(
        'invalid argument "x" for "-n, --last" flag: strconv.ParseInt: parsing "x": invalid syntax'
    )
    assert skiff("ps", "x").code == 1


def test_ps_command_is_quoted_and_truncated(skiff: Skiff, busybox: str):
    skiff.ok("create", "--name", "long", "busybox", "sh", "-c", 'echo "a b" && sleep 1000')
    [row] = table(skiff.ok("ps", "-a"))
    assert row["COMMAND"] == '"sh -c \'echo \\"a b\\" &…"'  # 19 characters and "…"
    assert skiff.ok("ps", "-a", "--no-trunc", "--format", "{{.Command}}") == (
        '"sh -c \'echo \\"a b\\" && sleep 1000\'"\n'
    )


def test_ps_and_inspect_sizes(skiff: Skiff, busybox: str):
    assert skiff("run", "--name", "wr", "busybox", "sh", "-c", "echo hello > /f").code == 0
    image_size = skiff.inspect("busybox")["Size"]
    [row] = table(skiff.ok("ps", "-a", "-s"))
    virtual = skiff.ok("ps", "-a", "--format", "{{.Size}}").strip()
    assert re.fullmatch(r"6B \(virtual [0-9.]+[kM]B\)", virtual)
    assert row["SIZE"] == virtual
    assert "SIZE" not in skiff.ok("ps", "-a")
    document = json.loads(skiff.ok("container", "inspect", "-s", "wr"))[0]
    assert document["SizeRw"] == 6
    assert document["SizeRootFs"] == 6 + image_size
    assert "SizeRw" not in skiff.container("wr")


def test_ps_filters(skiff: Skiff, three: dict[str, str]):
    skiff.ok("create", "--name", "labelled", "--label", "team=a", "-v", "/data", "busybox", "true")

    def names(*args: str) -> list[str]:
        return skiff.ok("ps", "--format", "{{.Names}}", *args).split()

    assert names("-f", "status=exited") == ["x3"]  # status implies -a
    assert names("-f", "status=created") == ["labelled", "c1"]
    assert names("-f", "status=running", "-f", "status=created") == ["labelled", "r1", "c1"]
    assert names("-a", "-f", "exited=3") == ["x3"]
    assert names("-f", "exited=3") == []  # exited does not imply -a
    assert names("-a", "-f", "exited=0") == []
    assert names("-a", "-f", "name=^x") == ["x3"]
    assert names("-a", "-f", "name=^/c1$") == ["c1"]
    assert names("-a", "-f", "name=1") == ["r1", "c1"]
    assert names("-a", "-f", f"id={three['x3'][:5]}") == ["x3"]
    assert names("-a", "-f", "id=") == []
    assert names("-a", "-f", "label=team") == ["labelled"]
    assert names("-a", "-f", "label=team=a") == ["labelled"]
    assert names("-a", "-f", "label=team=b") == []
    assert names("-a", "-f", "ancestor=busybox") == ["labelled", "r1", "x3", "c1"]
    assert names("-a", "-f", "ancestor=nope") == []
    assert names("-a", "-f", "before=x3") == ["c1"]
    assert names("-a", "-f", "since=x3") == ["labelled", "r1"]
    assert names("-f", "since=c1") == ["r1"]  # since does not imply -a
    assert names("-a", "-f", "health=none") == ["labelled", "r1", "x3", "c1"]
    assert names("-a", "-f", "health=healthy") == []
    assert names("-a", "-f", "is-task=false") == ["labelled", "r1", "x3", "c1"]
    assert names("-a", "-f", "is-task=true") == []
    assert names("-a", "-f", "volume=/data") == ["labelled"]
    assert names("-a", "-f", "network=bridge") == ["labelled", "r1", "x3", "c1"]
    assert names("-a", "-f", "isolation=default") == ["labelled", "r1", "x3", "c1"]
    assert names("-a", "-f", "publish=80") == []

    for value, message in (
        ("foo=bar", "invalid filter 'foo'"),
        ("status=sleeping", "invalid filter 'status=sleeping'"),
        ("health=ill", "Unrecognised filter value for health: ill"),
        ("exited=x", 'strconv.Atoi: parsing "x": invalid syntax'),
        ("is-task=maybe", "invalid filter 'is-task=[maybe]'"),
        ("before=nope", "no such container nope"),
        ("publish=a:b", "filter for 'publish' should not contain ':': a:b"),
        ("expose=90-80", "error while looking up for expose 90-80: "
         "Invalid range specified for the Port: 90-80"),
    ):  # fmt: skip
        result = skiff("ps", "-f", value)
        assert (result.code, result.out, result.err) == (1, "", f"Error: {message}\n"), value
    bad = skiff("ps", "-f", "nothing")
    assert bad.code == 125
    assert bad.err.startswith('invalid argument "nothing" for "-f, --filter" flag')


def test_ps_formats(skiff: Skiff, rootfs_tar: Path):
    skiff.ok("import", "-c", 'CMD ["sh"]', "-c", "LABEL img=1 x=z", str(rootfs_tar), "lab:1")
    skiff.ok(
        "create", "--name", "c1", "--label", "com.example.my-label=v", "--label", "x=y",
        "--network", "none", "lab:1", "sleep", "300",
    )  # fmt: skip
    out = skiff.ok("ps", "-a", "--format", 'table {{.Names}}\t{{.State}}\t{{.Label "x"}}')
    assert out.splitlines()[0].split() == ["NAMES", "STATE", "x"]
    assert table(out) == [{"NAMES": "c1", "STATE": "created", "x": "y"}]
    header = skiff.ok("ps", "--format", 'table {{.Label "com.example.my-label"}}')
    assert header == "my label\n"
    assert skiff.ok("ps", "-a", "--format", "{{.Labels}}|{{.Networks}}|{{.Mounts}}") == (
        "com.example.my-label=v,img=1,x=y|none|\n"  # the image's labels, the container's win
    )
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \S+\n",
        skiff.ok("ps", "-a", "--format", "{{.CreatedAt}}"),
    )
    [line] = skiff.ok("ps", "-a", "--format", "json").splitlines()
    row = json.loads(line)
    assert sorted(row) == [
        "Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts", "Names",
        "Networks", "Platform", "Ports", "RunningFor", "Size", "State", "Status",
    ]  # fmt: skip
    assert row["Names"] == "c1"
    assert row["Status"] == "Created"
    assert row["Platform"] is None
    assert row["LocalVolumes"] == "0"
    assert row["Size"].startswith("0B (virtual ")
    same = json.loads(skiff.ok("ps", "-a", "--format", "{{json .}}"))
    assert same.pop("RunningFor").endswith(" ago")  # a second may have passed between the calls
    assert same == {k: v for k, v in row.items() if k != "RunningFor"}
    raw = skiff.ok("ps", "-a", "--format", "raw")
    assert raw.startswith(f'container_id: {row["ID"]}\nimage: lab:1\ncommand: "sleep 300"\n')
    assert "\nstate: created\nstatus: Created\nnames: c1\n" in raw
    quiet = skiff("ps", "-a", "-q", "--format", "{{.Names}}")
    assert quiet.out == row["ID"] + "\n"
    assert (
        quiet.err == "WARNING: Ignoring custom format, because both --format and --quiet are set.\n"
    )
    for source, message in (
        ("{{.Nope", "failed to parse template: template: :1: unclosed action"),
        ("{{.Nope}}", 'failed to execute template: template: :1:2: executing "" at <.Nope>: '
         "can't evaluate field Nope in type *formatter.ContainerContext"),
        ("{{.Label}}", 'failed to execute template: template: :1:2: executing "" at <.Label>: '
         "wrong number of args for Label: want 1 got 0"),
    ):  # fmt: skip
        result = skiff("ps", "--format", source)
        assert (result.code, result.out, result.err) == (1, "", f"Error: {message}\n")


def test_ps_shows_image_id_once_the_name_names_another_image(skiff: Skiff, busybox: str):
    skiff.ok("tag", "busybox", "mine:1")
    skiff.ok("create", "--name", "c1", "mine:1", "true")
    assert skiff.ok("ps", "-a", "--format", "{{.Image}}") == "mine:1\n"
    skiff.ok("import", "-c", 'CMD ["sh"]', "-", "mine:1", input=empty_tar())
    image_id = busybox.removeprefix("sha256:")
    assert skiff.ok("ps", "-a", "--format", "{{.Image}}") == image_id[:12] + "\n"
    assert skiff.ok("ps", "-a", "--no-trunc", "--format", "{{.Image}}") == busybox + "\n"


def empty_tar() -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("marker")
        tar.addfile(info, io.BytesIO(b""))
    return buffer.getvalue()


# --- inspect ------------------------------------------------------------------------------


def test_inspect_shows_a_running_container_as_it_is(skiff: Skiff, busybox: str):
    container_id = skiff.ok(
        "run", "-d", "--name", "r1", "-e", "A=B", "-m", "64m", "--label", "k=v",
        "busybox", "sleep", "300",
    ).strip()  # fmt: skip
    document = skiff.container("r1")
    assert document["Id"] == container_id
    assert document["Name"] == "/r1"
    assert (document["Path"], document["Args"]) == ("sleep", ["300"])
    assert document["Image"] == busybox
    state = document["State"]
    assert state["Status"] == "running"
    assert state["Running"] is True
    with open(f"/proc/{state['Pid']}/cmdline", "rb") as f:
        assert f.read() == b"sleep\x00300\x00"
    assert state["StartedAt"] > document["Created"]
    assert state["FinishedAt"] == "0001-01-01T00:00:00Z"
    assert document["Config"]["Env"] == ["A=B"]
    assert document["Config"]["Cmd"] == ["sleep", "300"]
    assert document["Config"]["Image"] == "busybox"
    assert document["Config"]["Hostname"] == container_id[:12]
    assert document["Config"]["Labels"] == {"k": "v"}
    assert document["HostConfig"]["Memory"] == 64 << 20
    assert document["HostConfig"]["MemorySwap"] == 128 << 20
    assert document["HostConfig"]["NetworkMode"] == "bridge"
    with open(document["HostnamePath"]) as f:
        assert f.read() == container_id[:12] + "\n"
    assert os.path.isfile(document["ResolvConfPath"])
    assert os.path.isfile(document["HostsPath"])
    data = document["GraphDriver"]["Data"]
    with open("/proc/self/mountinfo") as f:
        assert any(line.split()[4] == data["MergedDir"] for line in f)
    assert all(os.path.isdir(path) for path in data["LowerDir"].split(":"))
    assert list(document["NetworkSettings"]["Networks"]) == ["bridge"]


def test_inspect_shows_exited_and_created_containers(skiff: Skiff, three: dict[str, str]):
    exited = skiff.container("x3")["State"]
    assert (exited["Status"], exited["Running"], exited["Pid"], exited["ExitCode"]) == (
        "exited", False, 0, 3,
    )  # fmt: skip
    assert exited["FinishedAt"] > exited["StartedAt"]
    created = skiff.container("c1")
    assert created["State"]["Status"] == "created"
    assert created["State"]["StartedAt"] == "0001-01-01T00:00:00Z"
    assert created["ResolvConfPath"] == created["LogPath"] == ""
    by_prefix = json.loads(skiff.ok("container", "inspect", three["c1"][:8]))[0]
    assert by_prefix["Id"] == three["c1"]


def test_inspect_templates(skiff: Skiff, three: dict[str, str]):
    def fmt(source: str, *names: str) -> str:
        return skiff.ok("container", "inspect", "-f", source, *(names or ("r1",)))

    assert fmt("{{.State.Running}} {{.State.ExitCode}}", "r1", "x3") == "true 0\nfalse 3\n"
    assert fmt("{{.Name}}") == "/r1\n"
    assert fmt("{{json .Config.Cmd}}") == '["sleep","300"]\n'
    assert fmt("{{range .Config.Cmd}}<{{.}}>{{end}}") == "<sleep><300>\n"
    assert fmt("{{.HostConfig.Binds}} {{.Config.Env}} {{.SizeRw}} {{.HostConfig.PidsLimit}}") == (
        "[] [] <nil> <nil>\n"
    )
    assert (
        fmt("{{.Config.Labels}} {{.HostConfig.Tmpfs}} {{.State.Health}}") == "map[] map[] <nil>\n"
    )
    assert fmt('{{index .Config.Labels "nope"}}') == "<no value>\n"
    assert skiff.ok("inspect", "-s", "-f", "{{.SizeRw}}", "x3") == "0\n"
    assert skiff.ok("inspect", "-f", "{{.State.Pid}}", "r1") == (
        f"{skiff.container('r1')['State']['Pid']}\n"
    )

    result = skiff("container", "inspect", "-f", "{{.Nope}}", "r1", "x3")
    assert result.code == 1
    assert result.out == ""
    message = (
        'Error: template parsing error: template: :1:2: executing "" at <.Nope>: '
        'map has no entry for key "Nope"\n'
    )
    assert result.err == message * 2
    result = skiff("container", "inspect", "-f", "{{.Nope", "r1")
    assert (result.code, result.out) == (64, "")
    assert result.err == "Error: template parsing error: template: :1: unclosed action\n"


def test_inspect_errors_and_lookup_order(skiff: Skiff, three: dict[str, str]):
    result = skiff("container", "inspect", "nope")
    assert (result.code, result.out, result.err) == (1, "[]\n", "Error: No such container: nope\n")
    result = skiff("container", "inspect", "r1", "nope")
    assert result.code == 1
    assert [d["Name"] for d in json.loads(result.out)] == ["/r1"]
    assert result.err == "Error: No such container: nope\n"
    result = skiff("inspect", "nope")
    assert (result.code, result.out, result.err) == (1, "[]\n", "Error: No such object: nope\n")
    result = skiff("inspect", "--type", "container", "busybox")
    assert (result.code, result.err) == (1, "Error: No such container: busybox\n")
    result = skiff("inspect", "--type", "image", "c1")
    assert (result.code, result.err) == (1, "Error: No such image: c1:latest\n")
    assert result.out == "[]\n"

    both = json.loads(skiff.ok("inspect", "c1", "busybox"))
    assert [("State" in d, "RepoTags" in d) for d in both] == [(True, False), (False, True)]
    # a container is found before an image of the same name
    skiff.ok("create", "--name", "busybox", "busybox", "true")
    assert "State" in json.loads(skiff.ok("inspect", "busybox"))[0]
    assert "RepoTags" in json.loads(skiff.ok("inspect", "--type", "image", "busybox"))[0]
    assert json.loads(skiff.ok("image", "inspect", "busybox"))[0]["RepoTags"] == ["busybox:latest"]
    assert skiff.ok("inspect", "-f", "{{.Name}}", "busybox") == "/busybox\n"


# --- port ---------------------------------------------------------------------------------


def test_port_without_published_ports(skiff: Skiff, three: dict[str, str]):
    assert skiff.ok("port", "r1") == ""
    assert skiff.ok("container", "port", "c1") == ""
    for port, message in (
        ("80", "No public port '80' published for r1"),
        ("80/udp", "No public port '80/udp' published for r1"),
        ("x", 'invalid port (x): strconv.ParseUint: parsing "x": invalid syntax'),
    ):
        result = skiff("port", "r1", port)
        assert (result.code, result.out, result.err) == (1, "", f"Error: {message}\n")
    result = skiff("port", "nope")
    assert (result.code, result.err) == (1, "Error: No such container: nope\n")


# --- create ------------------------------------------------------------------------------


def test_create_without_a_command_fails_and_leaves_nothing(skiff: Skiff):
    skiff.ok("import", "-", "nocmd:1", input=empty_tar())
    result = skiff("create", "--name", "n", "nocmd:1")
    assert (result.code, result.out, result.err) == (1, "", "Error: No command specified\n")
    assert skiff.ok("ps", "-aq") == ""
    containers = skiff.root / "containers"
    assert not containers.exists() or os.listdir(containers) == []
