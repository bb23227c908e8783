"""``cp``, ``export``, ``diff`` and ``commit`` through the real ``skiff`` command, on
running and stopped containers: what lands where (seen from the host and from inside the
container), owners, Docker's messages and exit codes, symlinks in a container that point
at the host, and nothing left mounted or half-made afterwards."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shlex
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from skiff.engine.engine import Engine
from skiff.engine.filesystem import ContainerFiles
from tests.support.cli import SKIFF, Skiff

SETUP = (
    "mkdir -p /d/sub && echo hi > /d/f && echo s > /d/sub/g && ln -s f /d/lnk"
    " && chown 1234:5678 /d/f && ln -s /etc /evil && ln -s ../../../../../../etc /up"
)


def running(
    skiff: Skiff, name: str, script: str = SETUP, *flags: str, image: str = "busybox"
) -> None:
    """A running container that ran ``script`` (then sleeps); ``true`` is not waited for
    (the container may not be able to write its /ready mark)."""
    skiff.ok(
        "run", "-d", "--name", name, *flags, image,
        "sh", "-c", f"{script}; touch /ready; exec sleep 1000",
    )  # fmt: skip
    if script == "true":
        return
    deadline = time.monotonic() + 10
    while skiff("cp", f"{name}:/ready", "-").code != 0:
        assert time.monotonic() < deadline, "the container did not get ready"
        time.sleep(0.02)


def stopped(
    skiff: Skiff, name: str, script: str = SETUP, *flags: str, image: str = "busybox"
) -> None:
    """An exited container that ran ``script``."""
    skiff.ok("run", "--name", name, *flags, image, "sh", "-c", script)


MAKERS = {"running": running, "stopped": stopped}


@pytest.fixture(params=["running", "stopped"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def members(data: bytes) -> list[tuple[str, int, int, str]]:
    """(name, uid, gid, type) of each member of a tar, in order."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [(m.name, m.uid, m.gid, m.type.decode()) for m in tar.getmembers()]


def member_data(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


def not_mounted(skiff: Skiff, name: str) -> bool:
    container = Engine(skiff.paths).containers.get(name)
    return not ContainerFiles(skiff.paths, container.id).mounted()


# --- cp out -----------------------------------------------------------------------------


def test_cp_a_file_out(skiff: Skiff, busybox: str, kind: str, tmp_path: Path):
    MAKERS[kind](skiff, "c1")
    skiff.ok("cp", "c1:/d/f", str(tmp_path / "x"))
    copied = tmp_path / "x"
    assert copied.read_text() == "hi\n"
    copied.write_text("older, longer")
    skiff.ok("cp", "c1:/d/f", str(copied))  # over an existing file
    assert copied.read_text() == "hi\n"
    # The copy belongs to the user who copies (Docker's NoLchown), with -a too.
    assert (copied.stat().st_uid, copied.stat().st_gid) == (os.getuid(), os.getgid())
    skiff.ok("cp", "-a", "c1:/d/f", str(tmp_path))
    assert (tmp_path / "f").stat().st_uid == os.getuid()
    assert (tmp_path / "f").read_text() == "hi\n"
    if kind == "stopped":
        assert not_mounted(skiff, "c1")


def test_cp_a_directory_out(skiff: Skiff, busybox: str, kind: str, tmp_path: Path):
    MAKERS[kind](skiff, "c1")
    skiff.ok("cp", "c1:/d", str(tmp_path / "new"))
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["f", "lnk", "sub"]
    assert (tmp_path / "new/sub/g").read_text() == "s\n"
    assert os.readlink(tmp_path / "new/lnk") == "f"
    (tmp_path / "existing").mkdir()
    skiff.ok("cp", "c1:/d", str(tmp_path / "existing"))
    assert (tmp_path / "existing/d/f").read_text() == "hi\n"
    (tmp_path / "contents").mkdir()
    skiff.ok("cp", "c1:/d/.", str(tmp_path / "contents"))
    assert sorted(p.name for p in (tmp_path / "contents").iterdir()) == ["f", "lnk", "sub"]


def test_cp_out_to_stdout_is_a_tar(skiff: Skiff, busybox: str, kind: str):
    MAKERS[kind](skiff, "c1")
    result = skiff("cp", "c1:/d", "-")
    assert (result.code, result.err) == (0, "")
    assert members(result.raw) == [
        ("d", 0, 0, "5"),
        ("d/f", 1234, 5678, "0"),
        ("d/lnk", 0, 0, "2"),
        ("d/sub", 0, 0, "5"),
        ("d/sub/g", 0, 0, "0"),
    ]
    contents = members(skiff("cp", "c1:/d/.", "-").raw)
    assert [m[0] for m in contents] == [".", "./f", "./lnk", "./sub", "./sub/g"]
    assert members(skiff("cp", "c1:/d/lnk", "-").raw) == [("lnk", 0, 0, "2")]
    assert members(skiff("cp", "-L", "c1:/d/lnk", "-").raw) == [("f", 1234, 5678, "0")]


def test_cp_reports_what_it_copied_on_a_terminal(skiff: Skiff, busybox: str, tmp_path: Path):
    running(skiff, "c1")

    def on_terminal(*args: str) -> str:
        command = shlex.join([SKIFF, *args])
        result = subprocess.run(
            ["script", "-qec", command, "/dev/null"], env=skiff.env, capture_output=True, timeout=60
        )
        assert result.returncode == 0, result
        return result.stdout.decode()

    assert on_terminal("cp", "c1:/d/f", str(tmp_path / "f")) == (
        f"Successfully copied 2.05kB to {tmp_path}/f\r\n"
    )
    assert on_terminal("cp", str(tmp_path / "f"), "c1:/tmp/") == (
        "Successfully copied 2.05kB to c1:/tmp/\r\n"
    )
    assert on_terminal("cp", "-q", "c1:/d/f", str(tmp_path / "g")) == ""


def test_cp_out_errors(skiff: Skiff, busybox: str, tmp_path: Path):
    running(skiff, "c1")
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    assert skiff("cp", "c1:/nothing", str(tmp_path)).err == (
        "Error: Could not find the file /nothing in container c1\n"
    )
    result = skiff("cp", "nosuch:/x", str(tmp_path))
    assert (result.code, result.err) == (1, "Error: No such container: nosuch\n")
    result = skiff("cp", "c1:/d/f", "/nonexistent-dir/x")
    assert (result.code, result.err) == (
        1,
        'Error: invalid output path: directory "/nonexistent-dir" does not exist\n',
    )
    (tmp_path / "file").write_text("")
    assert skiff("cp", "c1:/d", str(tmp_path / "file")).err == "Error: cannot copy directory\n"
    assert skiff("cp", "c1:/d/f", str(tmp_path / "nodir") + "/").err == (
        "Error: no such directory\n"
    )
    assert skiff("cp", "c1:/d/f", "/dev/null").err == (
        'Error: invalid output path: "/dev/null" must be a directory or a regular file: '
        "got a device\n"
    )
    assert skiff("cp", "c1:/d/f", "").err == "Error: destination can not be empty\n"
    assert skiff("cp", "", "c1:/d").err == "Error: source can not be empty\n"
    assert skiff("cp", "a", "b").err == "Error: must specify at least one container source\n"
    assert skiff("cp", "c1:/a", "c1:/b").err == (
        "Error: copying between containers is not supported\n"
    )
    result = skiff("cp", "c1:/d")
    assert result.code == 1
    assert result.err.startswith("skiff: 'skiff cp' requires 2 arguments\n")
    assert sorted(os.listdir(tmp_path)) == ["file"]


# --- cp in ------------------------------------------------------------------------------


def test_cp_in_seen_from_inside(skiff: Skiff, busybox: str, kind: str, tmp_path: Path):
    script = (
        "until [ -e /tmp/dir/sub/g ]; do sleep 0.05; done;"
        " ls -ln /tmp/file /tmp/dir/sub/g; cat /tmp/file"
    )
    host = tmp_path / "file"
    host.write_text("from host\n")
    os.chown(host, 1234, 5678)
    (tmp_path / "dir/sub").mkdir(parents=True)
    (tmp_path / "dir/sub/g").write_text("g\n")
    if kind == "running":
        skiff.ok("run", "-d", "--name", "c1", "busybox", "sh", "-c", script)
    else:
        skiff.ok("create", "--name", "c1", "busybox", "sh", "-c", script)
    skiff.ok("cp", str(host), "c1:/tmp/file")
    skiff.ok("cp", str(tmp_path / "dir"), "c1:/tmp/dir")
    if kind == "running":
        assert skiff("wait", "c1").out == "0\n"
        out = skiff("logs", "c1").out
    else:
        assert not_mounted(skiff, "c1")
        out = skiff.ok("start", "-a", "c1")
    listed = {line.split()[-1]: line.split()[2:4] for line in out.splitlines()[:2]}
    # The archive's owners, as Docker keeps them.
    assert listed == {"/tmp/file": ["1234", "5678"], "/tmp/dir/sub/g": ["0", "0"]}
    assert out.splitlines()[2] == "from host"


def test_cp_in_with_archive_mode_takes_the_container_user(
    skiff: Skiff, busybox: str, tmp_path: Path
):
    running(skiff, "c1", "true", "--user", "nobody")
    host = tmp_path / "file"
    host.write_text("x")
    os.chown(host, 1234, 5678)
    skiff.ok("cp", str(host), "c1:/tmp/plain")
    skiff.ok("cp", "-a", str(host), "c1:/tmp/archived")
    tar = members(skiff("cp", "c1:/tmp", "-").raw)
    assert ("tmp/plain", 1234, 5678, "0") in tar
    assert ("tmp/archived", 65534, 65534, "0") in tar


def test_cp_in_a_directory_variants(skiff: Skiff, busybox: str, kind: str, tmp_path: Path):
    MAKERS[kind](skiff, "c1")
    (tmp_path / "src/sub").mkdir(parents=True)
    (tmp_path / "src/a").write_text("a")
    (tmp_path / "src/sub/b").write_text("b")
    skiff.ok("cp", str(tmp_path / "src"), "c1:/new")  # a new name
    skiff.ok("cp", str(tmp_path / "src"), "c1:/d")  # into an existing directory
    skiff.ok("cp", str(tmp_path / "src") + "/.", "c1:/tmp")  # the contents
    skiff.ok("cp", str(tmp_path / "src/a"), "c1:/d/f")  # a file over a file
    names = [m[0] for m in members(skiff("cp", "c1:/.", "-").raw)]
    for expected in (
        "./new/a",
        "./new/sub/b",
        "./d/src/a",
        "./d/src/sub/b",
        "./tmp/a",
        "./tmp/sub/b",
    ):
        assert expected in names
    assert member_data(skiff("cp", "c1:/d/f", "-").raw, "f") == b"a"
    assert skiff("cp", str(tmp_path / "src"), "c1:/d/f").err == "Error: cannot copy directory\n"
    assert skiff("cp", str(tmp_path / "src/a"), "c1:/nodir/").err == "Error: no such directory\n"
    assert skiff("cp", str(tmp_path / "src/a"), "c1:/nodir/x").err == (
        "Error: Could not find the file /nodir in container c1\n"
    )
    result = skiff("cp", str(tmp_path / "missing"), "c1:/")
    assert (result.code, result.err) == (
        1,
        f"Error: lstat {tmp_path}/missing: no such file or directory\n",
    )
    if kind == "stopped":  # failed or not, nothing stays mounted
        assert not_mounted(skiff, "c1")


def test_cp_a_tar_from_stdin(skiff: Skiff, busybox: str, kind: str, tmp_path: Path):
    MAKERS[kind](skiff, "c1")
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("in/x")
        info.size = 3
        info.uid, info.gid = 42, 43
        tar.addfile(info, io.BytesIO(b"abc"))
    result = skiff("cp", "-", "c1:/d", input=data.getvalue())
    assert (result.code, result.out, result.err) == (0, "", "")
    tar = skiff("cp", "c1:/d/in/x", "-").raw
    assert members(tar) == [("x", 42, 43, "0")]
    assert member_data(tar, "x") == b"abc"
    result = skiff("cp", "-", "c1:/d/f", input=data.getvalue())
    assert (result.code, result.err) == (1, 'Error: destination "c1:/d/f" must be a directory\n')
    assert skiff("cp", "-", "c1:/nothing", input=b"").err == (
        'Error: destination "c1:/nothing" must be a directory\n'
    )


def test_cp_into_a_read_only_container_writes_only_its_mounts(
    skiff: Skiff, busybox: str, tmp_path: Path
):
    running(skiff, "c1", "true", "--read-only", "--tmpfs", "/tt")
    (tmp_path / "x").write_text("x")
    result = skiff("cp", str(tmp_path / "x"), "c1:/")
    assert (result.code, result.err) == (1, "Error: container rootfs is marked read-only\n")
    skiff.ok("cp", str(tmp_path / "x"), "c1:/tt/")
    assert member_data(skiff("cp", "c1:/tt/x", "-").raw, "x") == b"x"


# --- symlinks that point at the host ----------------------------------------------------


def test_a_symlink_in_the_container_cannot_read_the_host(
    skiff: Skiff, busybox: str, kind: str, tmp_path: Path
):
    MAKERS[kind](skiff, "c1")
    host_passwd = Path("/etc/passwd").read_bytes()
    container_passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
    assert host_passwd != container_passwd
    for path in ("/evil/passwd", "/up/passwd", "/evil/../../../etc/passwd"):
        skiff.ok("cp", f"c1:{path}", str(tmp_path / "p"))
        assert (tmp_path / "p").read_bytes() == container_passwd
    # /etc/shadow exists on the host, not in the container.
    assert os.path.exists("/etc/shadow")
    result = skiff("cp", "c1:/evil/shadow", str(tmp_path / "shadow"))
    assert (result.code, result.err) == (
        1,
        "Error: Could not find the file /evil/shadow in container c1\n",
    )
    assert not (tmp_path / "shadow").exists()
    # -L follows the link, inside the container.
    skiff.ok("cp", "-L", "c1:/evil", str(tmp_path / "etc"))
    inside = [m[0] for m in members(skiff("cp", "c1:/etc/.", "-").raw)]
    assert sorted(os.listdir(tmp_path / "etc")) == sorted(n[2:] for n in inside if n != ".")
    assert (tmp_path / "etc/passwd").read_bytes() == container_passwd


def test_a_symlink_in_the_container_cannot_write_the_host(
    skiff: Skiff, busybox: str, kind: str, tmp_path: Path
):
    MAKERS[kind](skiff, "c1")
    name = f"skiff-cp-test-{secrets.token_hex(4)}"
    (tmp_path / name).write_text("planted")
    skiff.ok("cp", str(tmp_path / name), "c1:/evil/")
    skiff.ok("cp", str(tmp_path / name), "c1:/up/")
    assert not os.path.exists(f"/etc/{name}")
    assert member_data(skiff("cp", f"c1:/etc/{name}", "-").raw, name) == b"planted"
    # A tar whose own symlink points at / writes below the container's /, not the host's.
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        link = tarfile.TarInfo("lnk")
        link.type = tarfile.SYMTYPE
        link.linkname = "/"
        tar.addfile(link)
        info = tarfile.TarInfo(f"lnk/tmp/{name}")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    skiff.ok("cp", "-", "c1:/tmp", input=data.getvalue())
    assert not os.path.exists(f"/tmp/{name}")
    assert member_data(skiff("cp", f"c1:/tmp/{name}", "-").raw, name) == b"x"


def test_cp_out_refuses_a_link_that_leaves_the_destination(
    skiff: Skiff, busybox: str, tmp_path: Path
):
    stopped(skiff, "c1", "mkdir /d2 && ln -s ../../../../x /d2/esc")
    result = skiff("cp", "c1:/d2", str(tmp_path / "out"))
    assert (result.code, result.err) == (
        1,
        f'Error: invalid symlink "{tmp_path}/out/esc" -> "../../../../x"\n',
    )


def test_a_running_containers_kernel_filesystems_are_not_copied(skiff: Skiff, busybox: str):
    running(skiff, "c1")
    assert members(skiff("cp", "c1:/proc", "-").raw) == [("proc", 0, 0, "5")]
    assert skiff("cp", "c1:/proc/1/environ", "-").err == (
        "Error: Could not find the file /proc/1/environ in container c1\n"
    )
    assert skiff("cp", "c1:/proc/self/root/etc/shadow", "-").code == 1


def test_a_running_containers_volumes_are_copied_in_and_out(
    skiff: Skiff, busybox: str, tmp_path: Path
):
    running(skiff, "c1", "echo v > /vol/v", "-v", "/vol", "--tmpfs", "/tt")
    (tmp_path / "x").write_text("x")
    skiff.ok("cp", str(tmp_path / "x"), "c1:/vol/")
    skiff.ok("cp", str(tmp_path / "x"), "c1:/tt/")
    assert [m[0] for m in members(skiff("cp", "c1:/vol", "-").raw)] == ["vol", "vol/v", "vol/x"]
    assert [m[0] for m in members(skiff("cp", "c1:/tt", "-").raw)] == ["tt", "tt/x"]


# --- export -----------------------------------------------------------------------------


def test_export_is_the_root_filesystem(skiff: Skiff, busybox: str, kind: str, tmp_path: Path):
    if kind == "running":  # with a volume, which export leaves out
        running(skiff, "c1", SETUP + " && rm /etc/group && echo v > /vol/v", "-v", "/vol")
    else:
        stopped(skiff, "c1", SETUP + " && rm /etc/group")
    result = skiff("export", "c1")
    assert (result.code, result.err) == (0, "")
    names = [m[0] for m in members(result.raw)]
    assert names[0] == "bin"  # no entry for the root itself, as Docker
    for expected in ("bin/busybox", "d/f", "d/sub/g", "evil", "etc/passwd", "proc"):
        assert expected in names
    assert ("vol" in names) is (kind == "running")
    assert "etc/group" not in names
    assert not any(n.startswith(("proc/", "sys/", "vol/")) for n in names)
    assert member_data(result.raw, "d/f") == b"hi\n"
    skiff.ok("export", "-o", str(tmp_path / "out.tar"), "c1")
    assert (tmp_path / "out.tar").read_bytes() == result.raw
    if kind == "stopped":
        assert not_mounted(skiff, "c1")


def test_export_errors_leave_no_file(skiff: Skiff, busybox: str, tmp_path: Path):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    result = skiff("export", "-o", str(tmp_path / "out.tar"), "nosuch")
    assert (result.code, result.err) == (1, "Error: No such container: nosuch\n")
    assert os.listdir(tmp_path) == []
    stopped(skiff, "c1", "true")
    assert skiff("export", "-o", str(tmp_path), "c1").err == (
        "Error: failed to export container: cannot write to a directory\n"
    )
    result = skiff("export", "c1", "x")
    assert result.code == 1
    assert result.err.startswith("skiff: 'skiff export' requires 1 argument\n")


# --- diff -------------------------------------------------------------------------------

CHANGES = (
    "echo x > /zz && rm /etc/group && mkdir -p /var/new/deep && echo z > /var/new/deep/f"
    " && echo m >> /etc/passwd && rm -rf /root && mkdir /root && touch /root/n"
    " && rm /bin/ls && chmod 700 /tmp && ln -s /x /bin/zzz"
)
DIFF = """\
C /bin
A /bin/zzz
D /bin/ls
C /etc
C /etc/passwd
D /etc/group
C /root
A /root/n
C /tmp
C /var
A /var/new
A /var/new/deep
A /var/new/deep/f
A /zz
"""


def test_diff_lists_docker_s_changes(skiff: Skiff, busybox: str, kind: str):
    MAKERS[kind](skiff, "c1", CHANGES)
    expected = DIFF if kind == "stopped" else DIFF.replace("C /root\n", "A /ready\nC /root\n")
    result = skiff("diff", "c1")
    assert (result.code, result.out, result.err) == (0, expected, "")
    assert skiff.ok("container", "diff", "c1") == expected


def test_diff_of_a_new_container_is_empty(skiff: Skiff, busybox: str):
    skiff.ok("create", "--name", "created", "busybox")
    assert skiff.ok("diff", "created") == ""
    # The runtime's mount points (/etc/hosts...) are not the container's changes.
    skiff.ok("run", "-d", "--name", "c1", "busybox", "sleep", "1000")
    assert skiff.ok("diff", "c1") == ""
    result = skiff("diff", "nosuch")
    assert (result.code, result.out, result.err) == (1, "", "Error: No such container: nosuch\n")


def test_diff_of_a_directory_made_again_lists_what_it_hid(skiff: Skiff, busybox: str):
    stopped(skiff, "base", "mkdir /opt && touch /opt/a /opt/b && mkdir /opt/c")
    skiff.ok("commit", "base", "withopt")
    stopped(skiff, "c1", "rm -rf /opt && mkdir /opt && touch /opt/n", image="withopt")
    assert skiff.ok("diff", "c1") == "C /opt\nA /opt/n\nD /opt/a\nD /opt/b\nD /opt/c\n"


# --- commit -----------------------------------------------------------------------------


def image_count(skiff: Skiff) -> int:
    return len(skiff.store().images())


def test_commit_a_running_container_then_run_the_image(skiff: Skiff, busybox: str):
    running(skiff, "c1", "echo committed > /file")
    result = skiff(
        "commit", "-c", 'CMD ["cat", "/file"]', "-c", "ENV A=1", "-m", "a message",
        "-a", "Me <me@example.com>", "c1", "mine:1",
    )  # fmt: skip
    assert result.code == 0, result
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", result.out)
    image_id = result.out.strip()
    assert skiff.ok("run", "--rm", "mine:1") == "committed\n"
    assert skiff.ok("run", "--rm", "mine:1", "sh", "-c", "echo $A") == "1\n"
    image = skiff.inspect("mine:1")
    assert image["Id"] == image_id
    assert image["Author"] == "Me <me@example.com>"
    assert image["Comment"] == "a message"
    assert image["Config"]["Cmd"] == ["cat", "/file"]
    assert image["Config"]["Image"] == "busybox"
    assert len(image["RootFS"]["Layers"]) == len(skiff.inspect("busybox")["RootFS"]["Layers"]) + 1
    history = json.loads(
        skiff.ok("history", "--format", "json", "--no-trunc", "mine:1").splitlines()[0]
    )
    assert history["Comment"] == "a message"
    assert history["CreatedBy"].startswith("sh -c echo committed > /file;")
    # Paused while committed, running again after.
    state = Engine(skiff.paths).containers.get("c1").state
    assert (state["Running"], state["Paused"]) == (True, False)
    events = skiff.ok(
        "events", "--since", "0", "--until", str(int(time.time()) + 1), "--format", "{{.Action}}"
    )
    assert "pause\nunpause\ncommit\n" in events


def test_commit_without_pausing_and_of_a_stopped_container(skiff: Skiff, busybox: str):
    running(skiff, "c1", "echo one > /one")
    skiff.ok("commit", "--pause=false", "c1", "one")
    events = skiff.ok(
        "events", "--since", "0", "--until", str(int(time.time()) + 1), "--format", "{{.Action}}"
    )
    assert "pause" not in events.split()
    stopped(skiff, "c2", "echo two > /two", image="one")
    skiff.ok("commit", "c2", "two")
    assert skiff.ok("run", "--rm", "two", "cat", "/one", "/two") == "one\ntwo\n"


def test_commit_leaves_out_the_runtime_mount_points(skiff: Skiff, busybox: str):
    running(skiff, "c1", "true")
    image_id = skiff.ok("commit", "c1", "plain").strip()
    store = skiff.store()
    top = store.get(image_id).layers()[-1]
    with store.content.open(top["blob"]) as f:
        names = [m[0] for m in members(f.read())]
    assert names == ["ready"]


def test_commit_of_an_unchanged_container_adds_no_layer(skiff: Skiff, busybox: str):
    skiff.ok("create", "--name", "c1", "busybox")
    skiff.ok("run", "-d", "--name", "c2", "busybox", "sleep", "1000")  # its mount points only
    for name in ("c1", "c2"):
        skiff.ok("commit", name, f"same-{name}")
        assert skiff.inspect(f"same-{name}")["RootFS"] == skiff.inspect("busybox")["RootFS"]
        config = json.loads(skiff.store().get(f"same-{name}").config_bytes)
        assert config["history"][-1]["empty_layer"] is True
    assert config["history"][-1]["created_by"] == "sleep 1000"


def test_commit_failures_leave_no_image(skiff: Skiff, busybox: str):
    before = image_count(skiff)
    blobs = sorted(os.listdir(skiff.root / "blobs" / "sha256"))
    result = skiff("commit", "nosuch", "x:1")
    assert (result.code, result.out, result.err) == (1, "", "Error: No such container: nosuch\n")
    running(skiff, "c1", "echo x > /x")
    result = skiff("commit", "-c", "RUN true", "c1")
    assert (result.code, result.err) == (1, "Error: RUN is not a valid change command\n")
    assert skiff("commit", "c1", "Bad:Name").err == (
        "Error: invalid reference format: repository name (library/Bad) must be lowercase\n"
    )
    assert image_count(skiff) == before
    assert sorted(os.listdir(skiff.root / "blobs" / "sha256")) == blobs
    state = Engine(skiff.paths).containers.get("c1").state
    assert (state["Running"], state["Paused"]) == (True, False)


def test_cp_sees_volumes_and_binds_of_a_stopped_container_too(
    skiff: Skiff, busybox: str, kind: str, tmp_path: Path
):
    host = tmp_path / "host"
    host.mkdir()
    (host / "from-host").write_text("h\n")
    MAKERS[kind](skiff, "c1", "echo v > /vol/in-volume", "-v", "keep:/vol", "-v", f"{host}:/ro:ro")
    assert member_data(skiff("cp", "c1:/vol/in-volume", "-").raw, "in-volume") == b"v\n"
    assert member_data(skiff("cp", "c1:/ro/from-host", "-").raw, "from-host") == b"h\n"
    (tmp_path / "new").write_text("n\n")
    skiff.ok("cp", str(tmp_path / "new"), "c1:/vol/")  # into the volume, not under it
    volume = Path(skiff.ok("volume", "inspect", "-f", "{{.Mountpoint}}", "keep").strip())
    assert (volume / "new").read_text() == "n\n"
    refused = skiff("cp", str(tmp_path / "new"), "c1:/ro/")
    assert refused.code == 1 and "read-only" in refused.err
    assert not (host / "new").exists()
    if kind == "stopped":
        assert not_mounted(skiff, "c1")
        files = ContainerFiles(skiff.paths, Engine(skiff.paths).containers.get("c1").id)
        with open("/proc/self/mountinfo") as f:
            assert files.dir not in f.read()  # no volume left bound under the container
    skiff.ok("rm", "-f", "c1")
    skiff.ok("volume", "rm", "keep")
