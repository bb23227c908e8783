"""The real ``skiff`` command's image verbs: output, exit codes and what is left on disk."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from skiff.units import human_size, human_size_precision
from tests.support.cli import SKIFF, Skiff, tar_dir
from tests.support.images import docker_archive, layer_tar, sha256, store_listing

ID = re.compile(r"sha256:[0-9a-f]{64}")
TABLE_HEADER = "REPOSITORY   TAG       IMAGE ID       CREATED                  SIZE"


@pytest.fixture(scope="session")
def other_tar(busybox_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox rootfs and one more file: another layer."""
    path = tmp_path_factory.mktemp("tars") / "other.tar"
    return tar_dir(path, busybox_template, {"etc/other": b"other\n"})


@pytest.fixture(scope="session")
def big_tar(busybox_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tars") / "big.tar"
    return tar_dir(path, busybox_template, {"opt/blob": os.urandom(12 << 20)})


def rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{3,}", line.rstrip()) for line in text.splitlines()]


def nothing_on_disk(root: Path) -> list[str]:
    """Blobs and layer directories left under a store root."""
    left = []
    for base in ("blobs", "layers"):
        for dirpath, dirnames, filenames in os.walk(root / base):
            rel = os.path.relpath(dirpath, root)
            left += [os.path.join(rel, f) for f in filenames]
            if base == "layers":
                left += [os.path.join(rel, d) for d in dirnames]
    return left


# --- import -----------------------------------------------------------------------------


def test_import_prints_the_id_and_applies_changes(skiff: Skiff, rootfs_tar: Path):
    out = skiff.ok(
        "import",
        "-c", 'CMD ["sh", "-c", "echo hi"]',
        "--change", "ENV A=1",
        "-c", "LABEL org.example=yes",
        "-c", "WORKDIR /tmp",
        "-m", "my message",
        str(rootfs_tar),
        "example/box:1.0",
    )  # fmt: skip
    assert ID.fullmatch(out.rstrip("\n")) and out.endswith("\n")
    image = skiff.inspect("example/box:1.0")
    assert image["Id"] == out.strip()
    assert image["RepoTags"] == ["example/box:1.0"]
    config = image["Config"]
    assert config["Cmd"] == ["sh", "-c", "echo hi"]
    assert config["Env"] == ["A=1"]
    assert config["Labels"] == {"org.example": "yes"}
    assert config["WorkingDir"] == "/tmp"
    history = skiff.ok("history", "--format", "{{.Comment}}", "example/box:1.0")
    assert history == "my message\n"


def test_import_from_stdin_makes_a_dangling_image(skiff: Skiff, rootfs_tar: Path):
    image_id = skiff.ok("import", "-", input=rootfs_tar.read_bytes()).strip()
    assert ID.fullmatch(image_id)
    table = rows(skiff.ok("images"))
    assert table[1][:3] == ["<none>", "<none>", image_id[7:19]]
    assert skiff.ok("history", "--format", "{{.Comment}}", image_id) == "Imported from -\n"


def test_import_errors(skiff: Skiff, tmp_path: Path):
    result = skiff("import", str(tmp_path / "nope.tar"))
    assert (result.code, result.out) == (1, "")
    assert result.err == f"Error: open {tmp_path / 'nope.tar'}: no such file or directory\n"
    result = skiff("import", "-c", "FROB x", "-", input=b"")
    assert result.code == 1 and result.err.startswith("Error: ")
    assert len(result.err.splitlines()) == 1
    assert skiff("import", "-", "Bad/Name", input=b"x").err.startswith(
        "Error: invalid reference format"
    )


# --- images -----------------------------------------------------------------------------


def test_images_table(skiff: Skiff, busybox: str, other_tar: Path):
    other = skiff.ok("import", str(other_tar), "other:2").strip()
    out = skiff.ok("images")
    lines = out.splitlines()
    table = rows(out)
    # CREATED is as wide as its longest value ("Less than a second ago" or "2 seconds ago")
    created = max(len(r[3]) for r in table)
    assert lines[0] == TABLE_HEADER.replace("CREATED" + " " * 18, "CREATED".ljust(created + 3))
    # newest first; 12-character IDs; go-units sizes; Docker's "ago"
    assert [r[:3] for r in table[1:]] == [
        ["other", "2", other[7:19]],
        ["busybox", "latest", busybox[7:19]],
    ]
    size = skiff.inspect("busybox")["Size"]
    assert table[2][4] == human_size_precision(size, 3)
    assert re.fullmatch(r"\d+(\.\d+)?[kM]B", table[2][4])
    assert table[2][3] in ("Less than a second ago", "1 second ago") or re.fullmatch(
        r"\d+ seconds ago", table[2][3]
    )
    # the columns line up as Go's tabwriter lays them out (padding 3)
    assert lines[1].index(other[7:19]) == lines[0].index("IMAGE ID") == 23


def test_images_flags(skiff: Skiff, busybox: str, rootfs_tar: Path):
    skiff.ok("tag", "busybox", "mine:1")
    dangling = skiff.ok("import", str(rootfs_tar)).strip()
    assert skiff.ok("images", "-q").split() == [dangling[7:19], busybox[7:19], busybox[7:19]]
    assert skiff.ok("images", "-q", "--no-trunc").split() == [dangling, busybox, busybox]
    # the same rows; CREATED may tick from "Less than a second ago" between the two
    same = [r[:3] + r[4:] for r in rows(skiff.ok("images", "-a"))]
    assert same == [r[:3] + r[4:] for r in rows(skiff.ok("images"))]
    digests = rows(skiff.ok("images", "--digests"))
    assert digests[0] == ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"]
    assert [r[:4] for r in digests[1:]] == [
        ["<none>", "<none>", "<none>", dangling[7:19]],
        ["busybox", "latest", "<none>", busybox[7:19]],
        ["mine", "1", "<none>", busybox[7:19]],
    ]
    no_trunc = rows(skiff.ok("images", "--no-trunc"))
    assert no_trunc[1][2] == dangling


def test_images_filters(skiff: Skiff, busybox: str, other_tar: Path, rootfs_tar: Path):
    skiff.ok("tag", "busybox", "x/y:1")
    skiff.ok("tag", "busybox", "localhost:5000/z:2")
    labelled = skiff.ok("import", "-c", "LABEL a=b", "-c", "LABEL c=d", str(other_tar), "l:1")
    labelled = labelled.strip()
    dangling = skiff.ok("import", str(rootfs_tar)).strip()

    def names(*args: str) -> list[str]:
        return skiff.ok("images", *args, "--format", "{{.Repository}}:{{.Tag}}").split()

    assert names("-f", "dangling=true") == ["<none>:<none>"]
    # an image's names in Docker's order: lexical on the full name (docker.io/x/y first)
    assert names("-f", "dangling=false") == [
        "l:1", "busybox:latest", "x/y:1", "localhost:5000/z:2",
    ]  # fmt: skip
    assert names("-f", "reference=busy*") == ["busybox:latest"]
    assert names("-f", "reference=*/*") == ["x/y:1", "localhost:5000/z:2"]
    assert names("-f", "reference=*:1") == ["l:1"]  # * does not cross the / of x/y
    assert names("-f", "reference=*/*:1") == ["x/y:1"]
    assert names("--filter", "reference=l", "-f", "reference=x/y") == ["l:1", "x/y:1"]
    assert names("busybox") == ["busybox:latest"]
    assert names("busybox:nope") == []
    assert names("-f", "label=a") == ["l:1"]
    assert names("-f", "label=a=b", "-f", "label=c") == ["l:1"]
    assert names("-f", "label=a=x") == []
    assert names("-f", f"before={dangling[7:19]}") == [
        "l:1", "busybox:latest", "x/y:1", "localhost:5000/z:2",
    ]  # fmt: skip
    assert names("-f", "since=busybox") == ["<none>:<none>", "l:1"]
    assert names("-f", "before=l:1") == ["busybox:latest", "x/y:1", "localhost:5000/z:2"]
    assert labelled != dangling

    bad = skiff("images", "-f", "dangling=maybe")
    assert (bad.code, bad.out, bad.err) == (1, "", "Error: Invalid filter 'dangling=[maybe]'\n")
    bad = skiff("images", "-f", "colour=red")
    assert (bad.code, bad.err) == (1, "Error: Invalid filter 'colour'\n")
    bad = skiff("images", "-f", "reference=[a")
    assert (bad.code, bad.err) == (1, "Error: syntax error in pattern\n")
    bad = skiff("images", "-f", "since=nosuch")
    assert (bad.code, bad.err) == (1, "Error: No such image: nosuch:latest\n")
    bad = skiff("images", "-f", "nonsense")
    assert bad.code == 125
    assert bad.err.startswith('invalid argument "nonsense" for "-f, --filter" flag: bad format')


def test_images_formats(skiff: Skiff, busybox: str):
    lines = skiff.ok("images", "--format", "json").splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert list(row) == [
        "Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository", "SharedSize",
        "Size", "Tag", "UniqueSize", "VirtualSize",
    ]  # fmt: skip
    size = skiff.inspect("busybox")["Size"]
    assert row["ID"] == busybox[7:19]
    assert (row["Repository"], row["Tag"], row["Digest"]) == ("busybox", "latest", "<none>")
    assert (row["Containers"], row["SharedSize"], row["UniqueSize"]) == ("N/A", "N/A", "N/A")
    assert row["Size"] == human_size_precision(size, 3)
    assert row["VirtualSize"] == human_size(size)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \w+", row["CreatedAt"])
    assert '"Digest":"\\u003cnone\\u003e"' in lines[0]  # as Docker's json.Marshal writes it
    assert skiff.ok("images", "--format", "{{.Repository}}:{{.Tag}}") == "busybox:latest\n"
    assert skiff.ok("images", "--format", "table {{.Repository}}\\t{{.ID}}") == (
        f"REPOSITORY   IMAGE ID\nbusybox      {busybox[7:19]}\n"
    )
    assert skiff.ok("images", "--format", "{{json .Tag}} {{upper .Repository}}") == (
        '"latest" BUSYBOX\n'
    )
    bad = skiff("images", "--format", "{{.Nope}}")
    assert bad.code == 1
    assert bad.err == (
        'Error: template parsing error: template: :1:2: executing "" at <.Nope>: '
        "can't evaluate field Nope in type *formatter.imageContext\n"
    )
    bad = skiff("images", "--format", "{{.Tag")
    assert (bad.code, bad.err) == (
        1,
        "Error: template parsing error: template: :1: unclosed action\n",
    )


# --- tag --------------------------------------------------------------------------------


def test_tag(skiff: Skiff, busybox: str):
    assert skiff.ok("tag", "busybox", "registry.example:5000/team/box:v1") == ""
    assert skiff.ok("tag", busybox[7:15], "short") == ""
    assert skiff.inspect("busybox")["RepoTags"] == [
        "busybox:latest", "short:latest", "registry.example:5000/team/box:v1",
    ]  # fmt: skip
    result = skiff("tag", "nosuch", "x")
    assert (result.code, result.out, result.err) == (1, "", "Error: No such image: nosuch:latest\n")
    result = skiff("tag", "busybox", "Bad:tag")
    assert result.code == 1
    assert result.err == (
        'Error: Error parsing reference: "Bad:tag" is not a valid repository/tag: '
        "invalid reference format: repository name (library/Bad) must be lowercase\n"
    )
    result = skiff("tag", "busybox", "busybox@sha256:" + "a" * 64)
    assert result.err == "Error: refusing to create a tag with a digest reference\n"


# --- rmi --------------------------------------------------------------------------------


def test_rmi_of_a_missing_image(skiff: Skiff):
    result = skiff("rmi", "nosuch")
    assert (result.code, result.out, result.err) == (1, "", "Error: No such image: nosuch:latest\n")
    result = skiff("image", "rm", "nosuch", "busybox:nope")
    assert result.code == 1
    assert result.err == (
        "Error: No such image: nosuch:latest\nError: No such image: busybox:nope\n"
    )
    result = skiff("rmi", "-f", "nosuch")  # forced: a missing image is not a failure
    assert (result.code, result.err) == (0, "Error: No such image: nosuch:latest\n")


def test_rmi_untags_while_other_tags_remain(skiff: Skiff, busybox: str):
    skiff.ok("tag", "busybox", "mine:1")
    skiff.ok("tag", "busybox", "mine:2")
    assert skiff.ok("rmi", "busybox") == "Untagged: busybox:latest\n"
    # as Docker: -f does not delete an image that still has other names
    assert skiff.ok("rmi", "-f", "mine:1") == "Untagged: mine:1\n"
    layer = skiff.inspect("mine:2")["RootFS"]["Layers"][0]
    assert skiff.ok("rmi", "mine:2") == (
        f"Untagged: mine:2\nDeleted: {busybox}\nDeleted: {layer}\n"
    )
    assert skiff.ok("images", "-q") == ""
    assert nothing_on_disk(skiff.root) == []


def test_rmi_by_id(skiff: Skiff, busybox: str, rootfs_tar: Path):
    skiff.ok("tag", "busybox", "mine:1")
    result = skiff("rmi", busybox[7:19])
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        f"Error: conflict: unable to delete {busybox[7:19]} (must be forced)"
        " - image is referenced in multiple repositories\n"
    )
    result = skiff("rmi", "-f", busybox)  # a fatal error is one even with -f
    assert result.code == 0
    layer_line = result.out.splitlines()[-1]
    assert result.out.splitlines()[:-1] == [
        "Untagged: busybox:latest",
        "Untagged: mine:1",
        f"Deleted: {busybox}",
    ]
    assert ID.fullmatch(layer_line.removeprefix("Deleted: "))
    # one tag: removing by ID untags and deletes, no force needed
    single = skiff.ok("import", str(rootfs_tar), "single:1").strip()
    out = skiff.ok("rmi", single[7:12])
    assert out.splitlines()[:2] == ["Untagged: single:1", f"Deleted: {single}"]
    # dangling: deleted
    dangling = skiff.ok("import", str(rootfs_tar)).strip()
    assert skiff.ok("rmi", dangling).splitlines()[0] == f"Deleted: {dangling}"
    assert nothing_on_disk(skiff.root) == []


def test_rmi_several_names_keeps_going(skiff: Skiff, busybox: str):
    skiff.ok("tag", "busybox", "mine:1")
    result = skiff("rmi", "mine:1", "nosuch", "busybox")
    assert result.code == 1
    assert result.out.splitlines()[:3] == [
        "Untagged: mine:1",
        "Untagged: busybox:latest",
        f"Deleted: {busybox}",
    ]
    assert result.err == "Error: No such image: nosuch:latest\n"


def test_rmi_keeps_an_image_a_container_uses(skiff: Skiff, busybox: str):
    container = skiff.ok("create", "--name", "user", "busybox", "echo", "still here").strip()
    result = skiff("rmi", "busybox")
    assert result.code == 1
    assert result.err == (
        'Error: conflict: unable to remove repository reference "busybox" (must force) - '
        f"container {container[:12]} is using its referenced image {busybox[7:19]}\n"
    )
    result = skiff("rmi", busybox)
    assert result.code == 1
    assert result.err == (
        f"Error: conflict: unable to delete {busybox[7:19]} (must be forced) - image is being "
        f"used by stopped container {container[:12]}\n"
    )
    # forced: the name goes, the image stays (dangling) for its container
    assert skiff.ok("rmi", "-f", "busybox") == "Untagged: busybox:latest\n"
    assert skiff.ok("images", "-q") == busybox[7:19] + "\n"
    skiff.ok("image", "prune", "-a", "-f")
    assert skiff.ok("images", "-q") == busybox[7:19] + "\n"
    assert skiff("start", "-a", "user").out == "still here\n"
    skiff.ok("rm", "user")
    skiff.ok("image", "prune", "-a", "-f")
    assert skiff.ok("images", "-q") == ""
    assert nothing_on_disk(skiff.root) == []


# --- inspect ----------------------------------------------------------------------------


def test_inspect_shape(skiff: Skiff, busybox: str):
    out = skiff.ok("image", "inspect", "busybox")
    assert out.startswith('[\n    {\n        "Id": "sha256:')
    (image,) = json.loads(out)
    assert list(image) == [
        "Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "DockerVersion",
        "Author", "Config", "Architecture", "Os", "Size", "GraphDriver", "RootFS", "Metadata",
    ]  # fmt: skip
    assert image["Id"] == busybox
    assert (image["RepoTags"], image["RepoDigests"], image["Parent"]) == (
        ["busybox:latest"],
        [],
        "",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", image["Created"])
    assert list(image["Config"]) == [
        "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "Tty",
        "OpenStdin", "StdinOnce", "Env", "Cmd", "Image", "Volumes", "WorkingDir", "Entrypoint",
        "OnBuild", "Labels",
    ]  # fmt: skip
    assert image["Config"]["Cmd"] == ["sh"] and image["Config"]["Env"] is None
    assert (image["Os"], image["Architecture"]) == ("linux", "amd64")
    assert image["Size"] > 1_000_000
    assert image["GraphDriver"]["Name"] == "overlay2"
    upper = image["GraphDriver"]["Data"]["UpperDir"]
    assert upper.startswith(str(skiff.root / "layers")) and os.path.isdir(upper)
    assert image["RootFS"]["Type"] == "layers" and len(image["RootFS"]["Layers"]) == 1
    assert list(image["Metadata"]) == ["LastTagTime"]
    # the top-level inspect and the ID find the same thing
    assert json.loads(skiff.ok("inspect", busybox[7:19])) == [image]


def test_inspect_templates(skiff: Skiff, busybox: str):
    assert skiff.ok("image", "inspect", "-f", "{{.Id}}", "busybox") == busybox + "\n"
    assert skiff.ok("image", "inspect", "--format", "{{.Config.Cmd}}", "busybox") == "[sh]\n"
    config = json.loads(skiff.ok("inspect", "--format", "{{json .Config}}", "busybox"))
    assert config == skiff.inspect("busybox")["Config"]
    out = skiff.ok(
        "image", "inspect", "-f", "{{.Config.Entrypoint}} {{.Config.Labels}} {{.Os}}", "busybox"
    )
    assert out == "[] map[] linux\n"
    out = skiff.ok("image", "inspect", "-f", "{{.Id}}", "busybox", busybox)
    assert out == f"{busybox}\n{busybox}\n"
    one_line = skiff.ok("image", "inspect", "--format", "json", "busybox")
    assert json.loads(one_line) == [skiff.inspect("busybox")] and one_line.count("\n") == 1


def test_inspect_errors(skiff: Skiff, busybox: str):
    result = skiff("image", "inspect", "nosuch")
    assert (result.code, result.out, result.err) == (
        1,
        "[]\n",
        "Error: No such image: nosuch:latest\n",
    )
    result = skiff("inspect", "nosuch")
    assert (result.code, result.out, result.err) == (1, "[]\n", "Error: No such object: nosuch\n")
    result = skiff("image", "inspect", "busybox", "nosuch")
    assert result.code == 1 and json.loads(result.out)[0]["Id"] == busybox
    result = skiff("image", "inspect", "-f", "{{.Nope}}", "busybox")
    assert result.code == 1
    assert result.err == (
        'Error: template parsing error: template: :1:2: executing "" at <.Nope>: '
        'map has no entry for key "Nope"\n'
    )
    result = skiff("image", "inspect", "-f", "{{.Id", "busybox")
    assert (result.code, result.err) == (
        64,
        "Error: template parsing error: template: :1: unclosed action\n",
    )


# --- history ----------------------------------------------------------------------------


def test_history(skiff: Skiff, tmp_path: Path):
    base = layer_tar({"etc": None, "etc/base": b"base\n"})
    app = layer_tar({"app": None, "app/run": b"#!/bin/sh\n" + b"x" * 5000})
    archive = tmp_path / "two.tar"
    (image_id,) = docker_archive(archive, [([base, app], ["app:1"])])
    skiff.ok("load", "-i", str(archive))
    out = skiff.ok("history", "app:1")
    table = rows(out)
    assert out.splitlines()[0] == ("IMAGE          CREATED       CREATED BY   SIZE      COMMENT")
    assert [r[0] for r in table[1:]] == [image_id[7:19], "<missing>"]
    assert [r[2] for r in table[1:]] == ["layer 1", "layer 0"]
    assert re.fullmatch(r"\d+ (years|months) ago", table[1][1])
    assert re.fullmatch(r"\d+(\.\d+)?kB", table[1][3])
    assert skiff.ok("history", "-q", "app:1").split() == [image_id[7:19], "<missing>"]
    plain = rows(skiff.ok("history", "--no-trunc", "-H=false", "app:1"))
    assert plain[0] == ["IMAGE", "CREATED AT", "CREATED BY", "SIZE", "COMMENT"]
    assert plain[1][0] == image_id and plain[2][0] == "<missing>"
    assert plain[1][1] == "2024-01-01T00:00:00Z"
    assert plain[1][3].isdigit() and int(plain[1][3]) > 5000
    result = skiff("history", "nosuch")
    assert (result.code, result.err) == (1, "Error: No such image: nosuch:latest\n")


def _archive_with_history(path: Path, history: list[dict], tag: str) -> str:
    """A docker-archive of a one-layer image with the given history; its image ID."""
    layer = layer_tar({"a": b"a\n"})
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {"Cmd": ["sh"]},
            "history": history,
            "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
        }
    ).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in [
            ("config.json", config),
            ("layer.tar", layer),
            ("manifest.json", json.dumps(
                [{"Config": "config.json", "RepoTags": [tag], "Layers": ["layer.tar"]}]
            ).encode()),
        ]:  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return sha256(config)


def test_history_cuts_long_commands(skiff: Skiff, tmp_path: Path):
    long = "/bin/sh -c echo\tsomething long enough to need cutting at forty-five"
    history = [
        {"created": "2024-01-01T00:00:00Z", "created_by": long},
        {"created": "2024-01-01T00:00:01Z", "created_by": 'CMD ["sh"]', "empty_layer": True},
    ]
    image_id = _archive_with_history(tmp_path / "h.tar", history, "long:1")
    skiff.ok("load", "-i", str(tmp_path / "h.tar"))
    table = rows(skiff.ok("history", "long:1"))
    assert [r[0] for r in table[1:]] == [image_id[7:19], "<missing>"]
    assert table[1][2:4] == ['CMD ["sh"]', "0B"]
    flat = long.replace("\t", " ")
    assert table[2][2] == flat[:44] + "…"
    full = skiff.ok("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.ID}}", "long:1")
    assert full == f'CMD ["sh"]|{image_id}\n{flat}|<missing>\n'


# --- save and load ----------------------------------------------------------------------


@pytest.mark.parametrize("form", ["docker-archive", "oci-archive"])
def test_save_and_load_round_trip(skiff: Skiff, busybox: str, tmp_path: Path, form: str):
    skiff.ok("tag", "busybox", "mine:1")
    archive = tmp_path / "saved.tar"
    assert skiff.ok("save", "--format", form, "-o", str(archive), "busybox", "mine:1") == ""
    assert tarfile.is_tarfile(archive)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".skiff_temp_")] == []
    skiff.ok("rmi", "busybox", "mine:1")
    assert nothing_on_disk(skiff.root) == []
    out = skiff.ok("load", "-i", str(archive))
    assert out == "Loaded image: busybox:latest\nLoaded image: mine:1\n"
    assert skiff.inspect("busybox")["Id"] == busybox
    assert skiff.inspect("mine:1")["Id"] == busybox
    assert skiff.ok("load", "-q", "-i", str(archive)) == out


def test_save_to_a_pipe_and_load_from_stdin(skiff: Skiff, busybox: str, tmp_path: Path):
    saved = skiff("save", "busybox")
    assert saved.code == 0 and saved.err == ""
    with tarfile.open(fileobj=io.BytesIO(saved.raw)) as tar:
        assert tar.getmember("manifest.json")
    other = Skiff(tmp_path / "other")
    assert other.ok("load", input=saved.raw) == "Loaded image: busybox:latest\n"
    assert other.inspect("busybox")["Id"] == busybox


def test_load_untagged_and_retagged(skiff: Skiff, busybox: str, tmp_path: Path, rootfs_tar: Path):
    archive = tmp_path / "by-id.tar"
    skiff.ok("save", "-o", str(archive), busybox)
    # by ID, the image's tags are saved
    assert skiff.ok("load", "-i", str(archive)) == "Loaded image: busybox:latest\n"
    blank = tmp_path / "blank.tar"
    docker_archive(blank, [([layer_tar({"a": b"a\n"})], [])])
    out = skiff.ok("load", "-i", str(blank))
    assert re.fullmatch(r"Loaded image ID: sha256:[0-9a-f]{64}\n", out)
    # Docker lists every image's ID when the archive's last image has no tag
    two = tmp_path / "two.tar"
    base = layer_tar({"b": b"b\n"})
    tagged, untagged = docker_archive(
        two, [([base, layer_tar({"c": b"c\n"})], ["app:1", "other/app:2"]), ([base], [])]
    )
    assert skiff.ok("load", "-i", str(two)) == (
        "Loaded image: app:1\nLoaded image: other/app:2\n"
        f"Loaded image ID: {tagged}\nLoaded image ID: {untagged}\n"
    )
    # loading a different image under an existing tag says so, as Docker does
    skiff.ok("import", str(rootfs_tar), "busybox:latest")
    moved = skiff.inspect("busybox")["Id"]
    assert moved != busybox
    out = skiff.ok("load", "-i", str(archive))
    assert out == (
        f"The image busybox:latest already exists, renaming the old one with ID {moved} to"
        " empty string\nLoaded image: busybox:latest\n"
    )


def test_save_oci_dir(skiff: Skiff, busybox: str, tmp_path: Path):
    target = tmp_path / "layout"
    assert skiff.ok("save", "--format", "oci-dir", "-o", str(target), "busybox") == ""
    index = json.loads((target / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == (
        "docker.io/library/busybox:latest"
    )
    result = skiff("save", "--format", "oci-dir", "busybox")
    assert result.code == 1 and result.err.startswith("Error: ") and "-o" in result.err


def test_save_errors(skiff: Skiff, busybox: str, tmp_path: Path):
    primary, replica = pty.openpty()
    try:
        p = subprocess.run(
            [SKIFF, "save", "busybox"], stdout=replica, stderr=subprocess.PIPE, env=skiff.env
        )
    finally:
        os.close(replica)
        os.close(primary)
    assert p.returncode == 1
    assert p.stderr == (
        b"Error: cowardly refusing to save to a terminal. Use the -o flag or redirect\n"
    )
    result = skiff("save", "-o", str(tmp_path / "no" / "x.tar"), "busybox")
    assert result.code == 1
    assert result.err == (
        f'Error: failed to save image: invalid output path: directory "{tmp_path / "no"}"'
        " does not exist\n"
    )
    result = skiff("save", "-o", str(tmp_path / "x.tar"), "busybox", "nosuch")
    assert (result.code, result.err) == (1, "Error: No such image: nosuch:latest\n")
    assert not (tmp_path / "x.tar").exists()


def test_load_of_a_corrupt_file_changes_nothing(skiff: Skiff, busybox: str, tmp_path: Path):
    before = store_listing(skiff.root)
    for name, data in [
        ("garbage.tar", b"this is not a tar archive\n" * 100),
        ("empty.tar", b""),
        ("truncated.tar", b""),
    ]:
        path = tmp_path / name
        if name == "truncated.tar":
            good = tmp_path / "good.tar"
            skiff.ok("save", "-o", str(good), "busybox")
            data = good.read_bytes()[: len(good.read_bytes()) // 2]
        path.write_bytes(data)
        result = skiff("load", "-i", str(path))
        assert (result.code, result.out) == (1, ""), result
        assert result.err.startswith("Error: ") and result.err.count("\n") == 1, result.err
        assert "Traceback" not in result.err
        assert store_listing(skiff.root) == before
    result = skiff("load", "-i", str(tmp_path / "missing.tar"))
    assert result.err == f"Error: open {tmp_path / 'missing.tar'}: no such file or directory\n"
    assert skiff.ok("images", "-q") == busybox[7:19] + "\n"


def test_load_of_corrupt_compressed_stdin_changes_nothing(skiff: Skiff, busybox: str):
    before = store_listing(skiff.root)
    result = skiff("load", input=b"\x1f\x8b\x08\x00" + b"garbage" * 100)
    assert (result.code, result.out) == (1, "")
    assert result.err.startswith("Error: ") and result.err.count("\n") == 1, result.err
    assert store_listing(skiff.root) == before


def test_load_refuses_a_terminal(skiff: Skiff):
    primary, replica = pty.openpty()
    try:
        p = subprocess.run(
            [SKIFF, "load"], stdin=replica, capture_output=True, env=skiff.env, timeout=30
        )
    finally:
        os.close(replica)
        os.close(primary)
    assert (p.returncode, p.stderr) == (
        1,
        b"Error: requested load from stdin, but stdin is empty\n",
    )


# --- prune and df -----------------------------------------------------------------------


def test_image_prune(skiff: Skiff, busybox: str, rootfs_tar: Path, other_tar: Path):
    dangling = skiff.ok("import", str(other_tar)).strip()
    result = skiff("image", "prune", input="n\n")
    assert (result.code, result.out) == (
        0,
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ",
    )
    assert skiff.ok("images", "-q", "--no-trunc").split() == [dangling, busybox]
    out = skiff.ok("image", "prune", input="y\n")
    assert out.startswith("WARNING! This will remove all dangling images.\n")
    lines = out.split("[y/N] ", 1)[1].splitlines()
    assert lines[:2] == ["Deleted Images:", f"deleted: {dangling}"]
    assert lines[-2] == ""
    assert re.fullmatch(r"Total reclaimed space: \d+(\.\d+)?[kM]B", lines[-1])
    assert skiff.ok("images", "-q", "--no-trunc").split() == [busybox]
    assert skiff.ok("image", "prune", "-f") == "Total reclaimed space: 0B\n"
    skiff.ok("import", "-c", "LABEL keep=1", str(other_tar), "keep:1")
    out = skiff.ok("image", "prune", "-a", "-f", "--filter", "label!=keep")
    assert out.startswith("Deleted Images:\nuntagged: busybox:latest\ndeleted: " + busybox)
    assert skiff.ok("images", "--format", "{{.Repository}}") == "keep\n"
    result = skiff("image", "prune", "-a", input="\n")
    assert result.out.startswith(
        "WARNING! This will remove all images without at least one container associated to"
        " them.\nAre you sure you want to continue? [y/N] "
    )
    out = skiff.ok("image", "prune", "--all", "--force")
    assert out.splitlines()[:2] == ["Deleted Images:", "untagged: keep:1"]
    assert skiff.ok("images", "-q") == ""
    assert nothing_on_disk(skiff.root) == []
    bad = skiff("image", "prune", "-f", "--filter", "colour=red")
    assert (bad.code, bad.err) == (1, "Error: Invalid filter 'colour'\n")


def test_prune_until(skiff: Skiff, busybox: str):
    assert skiff.ok("image", "prune", "-af", "--filter", "until=2000-01-01") == (
        "Total reclaimed space: 0B\n"
    )
    out = skiff.ok("image", "prune", "-af", "--filter", "until=-1h")
    assert out.startswith("Deleted Images:\nuntagged: busybox:latest\n")


def du(path: Path) -> int:
    out = subprocess.run(
        ["du", "-sx", "--block-size=1", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[0])


def parse_size(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.e+]+)([kMGT]?B)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[unit]


def test_system_df_is_the_disk_use(skiff: Skiff, big_tar: Path, rootfs_tar: Path):
    empty = rows(skiff.ok("system", "df"))
    assert empty[:2] == [
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        ["Images", "0", "0", "0B", "0B"],
    ]
    skiff.ok("import", str(big_tar), "big:1")
    skiff.ok("import", str(rootfs_tar), "busybox:latest")
    out = skiff.ok("system", "df")
    assert out.splitlines()[0] == "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE"
    table = rows(out)
    assert table[1][:3] == ["Images", "2", "0"]
    size = parse_size(table[1][3])
    on_disk = du(skiff.root)
    assert abs(size - on_disk) <= on_disk * 0.01, (size, on_disk)
    # exactly the blobs and layer directories (4 significant digits of them)
    exact = int(
        subprocess.run(
            ["du", "-scx", "--block-size=1", str(skiff.root / "blobs"), str(skiff.root / "layers")],
            capture_output=True, text=True, check=True,
        ).stdout.splitlines()[-1].split()[0]
    )  # fmt: skip
    assert table[1][3] == human_size(exact)
    # everything but the empty directories goes when every image goes
    reclaimable = re.fullmatch(r"(\S+) \((\d+)%\)", table[1][4])
    assert reclaimable and reclaimable.group(2) in ("99", "100")
    assert exact - 64 * 1024 < parse_size(reclaimable.group(1)) <= exact
    row = json.loads(skiff.ok("system", "df", "--format", "json").splitlines()[0])
    assert row == {
        "Active": "0", "Reclaimable": table[1][4], "Size": human_size(exact),
        "TotalCount": "2", "Type": "Images",
    }  # fmt: skip
    verbose = skiff.ok("system", "df", "-v")
    assert verbose.startswith("Images space usage:\n\n")
    table = rows(verbose.split("\n\n")[1])
    assert table[0] == [
        "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE",
        "CONTAINERS",
    ]  # fmt: skip
    assert [(r[0], r[1], r[-1]) for r in table[1:]] == [
        ("busybox", "latest", "0"),
        ("big", "1", "0"),
    ]
    skiff.ok("image", "prune", "-af")
    left = du(skiff.root / "blobs") + du(skiff.root / "layers")
    assert rows(skiff.ok("system", "df"))[1] == ["Images", "0", "0", human_size(left), "0B (0%)"]


# --- the command as a whole -------------------------------------------------------------


def test_global_root_flag_and_debug(skiff: Skiff, rootfs_tar: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    image_id = skiff.ok("--root", str(elsewhere), "import", str(rootfs_tar), "x:1").strip()
    assert (elsewhere / "skiff.db").exists()
    assert skiff.ok("images", "-q") == ""
    assert skiff.ok(f"--root={elsewhere}", "images", "-q") == image_id[7:19] + "\n"
    result = skiff("--debug", "history", "nosuch")
    assert result.code == 1
    assert result.err.startswith("Traceback (most recent call last)")
    assert result.err.endswith("\nError: No such image: nosuch:latest\n")
    assert skiff("history", "nosuch").err == "Error: No such image: nosuch:latest\n"
