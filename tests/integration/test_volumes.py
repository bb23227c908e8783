"""Volumes and bind mounts of real containers, seen from inside and from the host: named
volumes shared and kept, an image's VOLUME copied up, anonymous volumes gone with
``rm -v`` and ``--rm``, read-only and read-write binds, propagation, --volumes-from, the
local driver's tmpfs volumes, the ``volume`` verbs, and Docker's errors leaving nothing."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from skiff.engine.engine import Engine
from skiff.engine.volumes import inspect_mounts
from tests.support.cli import Skiff


def volume_names(skiff: Skiff) -> list[str]:
    return skiff.ok("volume", "ls", "-q").split()


def mounts_of(skiff: Skiff, name: str) -> dict[str, dict]:
    """Docker's inspect Mounts of a container, by destination."""
    engine = Engine(skiff.paths)
    container = engine.containers.get(name)
    return {m["Destination"]: m for m in inspect_mounts(engine.volumes.mounts(container.id))}


def mount_points() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def volume_image(skiff: Skiff, rootfs_tar: Path, tmp_path: Path) -> str:
    """busybox with ``VOLUME /data`` and files there: a file, a symlink, a directory owned
    by 1000:1000 with mode 0750; and ``VOLUME /file`` over a regular file (for errors)."""
    path = tmp_path / "volimg.tar"
    with tarfile.open(rootfs_tar) as source, tarfile.open(path, "w") as tar:
        for member in source.getmembers():
            tar.addfile(member, source.extractfile(member) if member.isfile() else None)

        def add(name: str, kind: bytes, mode: int, data: bytes = b"", **kw: object) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.size = kind, mode, len(data)
            for key, value in kw.items():
                setattr(info, key, value)
            tar.addfile(info, io.BytesIO(data) if data else None)

        add("data", tarfile.DIRTYPE, 0o755)
        add("data/file", tarfile.REGTYPE, 0o640, b"from the image\n")
        add("data/link", tarfile.SYMTYPE, 0o777, linkname="file")
        add("data/sub", tarfile.DIRTYPE, 0o750, uid=1000, gid=1000)
        add("file", tarfile.REGTYPE, 0o644, b"a file\n")
    skiff.ok("import", "-c", 'CMD ["sh"]', "-c", "VOLUME /data", str(path), "volimg")
    skiff.ok("import", "-c", 'CMD ["sh"]', "-c", "VOLUME /file", str(path), "fileimg")
    return "volimg"


# --- named and anonymous volumes --------------------------------------------------------


def test_named_volume_is_shared_by_containers_and_outlives_them(skiff: Skiff, busybox: str):
    assert skiff.ok("volume", "create", "shared") == "shared\n"
    skiff.ok("run", "-d", "--name", "writer", "-v", "shared:/data", "busybox", "sh", "-c",
             "echo hello > /data/msg; sleep 30")  # fmt: skip
    wait_for(lambda: os.path.exists(Engine(skiff.paths).volumes.data_path("shared") + "/msg"))
    # A second container sees the first one's write while both run.
    assert skiff.ok("run", "--rm", "-v", "shared:/other", "busybox", "cat", "/other/msg") == (
        "hello\n"
    )
    skiff.ok("rm", "-f", "-v", "writer")  # -v: named volumes stay
    assert volume_names(skiff) == ["shared"]
    assert skiff.ok("run", "--rm", "-v", "shared:/d", "busybox", "cat", "/d/msg") == "hello\n"


def test_volume_named_by_a_container_is_created_with_it(skiff: Skiff, busybox: str):
    skiff.ok("create", "--name", "c1", "-v", "made:/m", "busybox")
    assert volume_names(skiff) == ["made"]
    assert mounts_of(skiff, "c1")["/m"] == {
        "Type": "volume", "Name": "made", "Source": Engine(skiff.paths).volumes.data_path("made"),
        "Destination": "/m", "Driver": "local", "Mode": "z", "RW": True, "Propagation": "",
    }  # fmt: skip
    inspected = json.loads(skiff.ok("volume", "inspect", "made"))
    assert inspected[0]["Labels"] is None  # not anonymous: prune leaves it


def test_volume_rm_of_a_volume_in_use_is_refused(skiff: Skiff, busybox: str):
    container_id = skiff.ok("create", "--name", "user", "-v", "busy:/b", "busybox").strip()
    result = skiff("volume", "rm", "busy")
    assert result.code == 1
    assert result.out == ""
    assert result.err == f"Error: remove busy: volume is in use - [{container_id}]\n"
    assert skiff("volume", "rm", "-f", "busy").code == 1  # -f does not override it
    skiff.ok("rm", "user")
    assert skiff.ok("volume", "rm", "busy") == "busy\n"
    assert volume_names(skiff) == []
    assert os.listdir(skiff.root / "volumes") == []


def test_image_volume_gets_the_image_content(skiff: Skiff, busybox: str, volume_image: str):
    out = skiff.ok("run", "--name", "c1", volume_image, "sh", "-c",
                   "cat /data/file; readlink /data/link; stat -c '%u:%g %a' /data/sub /data/file;"
                   " echo more > /data/new")  # fmt: skip
    assert out == "from the image\nfile\n1000:1000 750\n0:0 640\n"
    (anonymous,) = volume_names(skiff)
    data = Path(Engine(skiff.paths).volumes.data_path(anonymous))
    assert sorted(os.listdir(data)) == ["file", "link", "new", "sub"]
    assert os.readlink(data / "link") == "file"
    assert (data / "sub").stat().st_uid == 1000
    assert mounts_of(skiff, "c1")["/data"]["Mode"] == ""
    labels = json.loads(skiff.ok("volume", "inspect", anonymous))[0]["Labels"]
    assert labels == {"com.docker.volume.anonymous": ""}
    # A named volume that is not empty keeps its content; nocopy gets none.
    skiff.ok("run", "--rm", "-v", "kept:/data", "busybox", "sh", "-c", "echo mine > /data/own")
    assert skiff.ok("run", "--rm", "-v", "kept:/data", volume_image, "ls", "/data") == "own\n"
    assert (
        skiff.ok("run", "--rm", "-v", "bare:/data:nocopy", volume_image, "ls", "-A", "/data") == ""
    )
    # An empty named volume is filled, the directory's owner and mode too.
    out = skiff.ok("run", "--rm", "-v", "fresh:/data/sub", volume_image, "stat", "-c", "%u %a",
                   "/data/sub")  # fmt: skip
    assert out == "1000 750\n"


def test_anonymous_volumes_go_with_rm_v_and_with_rm(skiff: Skiff, busybox: str):
    skiff.ok("run", "--rm", "-v", "/scratch", "busybox", "sh", "-c", "echo x > /scratch/f")
    assert volume_names(skiff) == []  # --rm removes the container's anonymous volumes
    skiff.ok("create", "--name", "keep", "-v", "/scratch", "-v", "named:/n",
             "--mount", "type=volume,dst=/m", "busybox")  # fmt: skip
    anonymous = {m["Name"] for m in mounts_of(skiff, "keep").values()} - {"named"}
    assert len(anonymous) == 2
    assert set(volume_names(skiff)) == anonymous | {"named"}
    skiff.ok("create", "--name", "plain", "-v", "/other", "busybox")
    skiff.ok("rm", "plain")  # without -v the anonymous volume stays
    assert len(volume_names(skiff)) == 4
    skiff.ok("rm", "-v", "keep")
    assert len(volume_names(skiff)) == 2 and "named" in volume_names(skiff)


# --- bind mounts ------------------------------------------------------------------------


def test_bind_mount_read_only_and_read_write(skiff: Skiff, busybox: str, tmp_path: Path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "in").write_text("from the host\n")
    ro = skiff("run", "--name", "ro", "-v", f"{host}:/h:ro", "busybox", "sh", "-c",
               "cat /h/in; touch /h/new")  # fmt: skip
    assert ro.code == 1
    assert ro.out == "from the host\n"
    assert ro.err == "touch: /h/new: Read-only file system\n"
    assert not (host / "new").exists()
    skiff.ok("run", "--rm", "--mount", f"type=bind,src={host},dst=/h", "busybox", "sh", "-c",
             "echo from the container > /h/new")  # fmt: skip
    assert (host / "new").read_text() == "from the container\n"
    # -v makes a missing host directory (at start), as Docker.
    missing = tmp_path / "made" / "here"
    skiff.ok("run", "--rm", "-v", f"{missing}:/m", "busybox", "true")
    assert missing.is_dir() and (missing.stat().st_mode & 0o777) == 0o755


@pytest.fixture
def shared_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs made a shared mount (Docker's rshared/rslave need one as the source)."""
    point = tmp_path / "shared"
    point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(point)], check=True)
    subprocess.run(["mount", "--make-shared", str(point)], check=True)
    try:
        yield point
    finally:
        subprocess.run(["umount", "-R", str(point)], check=True)


def mountinfo_line(output: str, point: str) -> list[str]:
    (line,) = [line for line in output.splitlines() if line.split()[4] == point]
    return line.split()[6 : line.split().index("-")]


def test_propagation_seen_in_mountinfo(skiff: Skiff, busybox: str, shared_tmpfs: Path):
    def optional(mode: str) -> list[str]:
        spec = f"{shared_tmpfs}:/p" + (f":{mode}" if mode else "")
        out = skiff.ok("run", "--rm", "-v", spec, "busybox", "cat", "/proc/self/mountinfo")
        return mountinfo_line(out, "/p")

    assert optional("") == []  # rprivate
    assert [o.split(":")[0] for o in optional("rslave")] == ["master"]
    assert [o.split(":")[0] for o in optional("rshared")][:1] == ["shared"]


def test_slave_bind_receives_host_mounts(skiff: Skiff, busybox: str, shared_tmpfs: Path):
    (shared_tmpfs / "sub").mkdir()
    process = skiff.popen(
        "run", "--rm", "-v", f"{shared_tmpfs}:/p:rslave", "busybox", "sh", "-c",
        "echo ready; while ! grep -q ' /p/sub ' /proc/self/mountinfo; do sleep 0.05; done;"
        " cat /p/sub/seen",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"
    sub = shared_tmpfs / "sub"
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(sub)], check=True)
    (sub / "seen").write_text("mounted on the host\n")
    out, err = process.communicate(timeout=30)
    assert (out, err, process.returncode) == (b"mounted on the host\n", b"", 0)


def test_shared_propagation_needs_a_shared_source(skiff: Skiff, busybox: str, tmp_path: Path):
    result = skiff("run", "--rm", "-v", f"{tmp_path}:/p:rshared", "busybox", "true")
    assert result.code == 125
    assert result.err.startswith(f"Error: path {tmp_path} is mounted on ")
    assert result.err.endswith(" but it is not a shared mount\n")
    result = skiff("run", "--rm", "-v", f"{tmp_path}:/p:slave", "busybox", "true")
    assert result.err.endswith(" but it is not a shared or slave mount\n")
    assert Engine(skiff.paths).containers.all() == []


# --- --volumes-from ---------------------------------------------------------------------


def test_volumes_from(skiff: Skiff, busybox: str, tmp_path: Path):
    skiff.ok("create", "--name", "source", "-v", "data:/data", "-v", "/anon",
             "-v", f"{tmp_path}:/host", "busybox")  # fmt: skip
    skiff.ok("run", "--rm", "--volumes-from", "source", "busybox", "sh", "-c",
             "echo a > /data/a; echo b > /anon/b; echo c > /host/c")  # fmt: skip
    assert (tmp_path / "c").read_text() == "c\n"
    assert skiff.ok("run", "--rm", "-v", "data:/d", "busybox", "cat", "/d/a") == "a\n"
    ro = skiff("run", "--name", "ro", "--volumes-from", "source:ro", "busybox", "sh", "-c",
               "cat /anon/b; touch /data/x")  # fmt: skip
    assert (ro.code, ro.out, ro.err) == (1, "b\n", "touch: /data/x: Read-only file system\n")
    skiff.ok("create", "--name", "reader", "--volumes-from", "source:ro", "busybox")
    mounts = mounts_of(skiff, "reader")
    assert set(mounts) == {"/data", "/anon", "/host"}
    assert all(not m["RW"] and m["Mode"] == "" for m in mounts.values())


# --- the local driver's options ---------------------------------------------------------


def test_tmpfs_volume_is_mounted_while_containers_use_it(skiff: Skiff, busybox: str):
    skiff.ok("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m",
             "tv")  # fmt: skip
    data = Engine(skiff.paths).volumes.data_path("tv")
    skiff.ok("run", "-d", "--name", "one", "-v", "tv:/t", "busybox", "sleep", "30")
    skiff.ok("run", "-d", "--name", "two", "-v", "tv:/t", "busybox", "sleep", "30")
    assert data in mount_points()
    out = skiff.ok("run", "--rm", "-v", "tv:/t", "busybox", "sh", "-c",
                   "echo x > /t/x; grep ' /t ' /proc/self/mountinfo")  # fmt: skip
    assert " - tmpfs tmpfs rw,size=1024k" in out
    assert os.listdir(data) == ["x"]  # the same tmpfs for every user
    skiff.ok("rm", "-f", "one")
    assert data in mount_points()
    skiff.ok("rm", "-f", "two")
    assert data not in mount_points()  # the last user gone: unmounted
    assert os.listdir(data) == []


def test_bind_volume_of_a_host_directory(skiff: Skiff, busybox: str, tmp_path: Path):
    skiff.ok("volume", "create", "-o", "type=none", "-o", f"device={tmp_path}", "-o", "o=bind",
             "hostdir")  # fmt: skip
    skiff.ok("run", "--rm", "-v", "hostdir:/h", "busybox", "sh", "-c", "echo in > /h/f")
    assert (tmp_path / "f").read_text() == "in\n"
    assert Engine(skiff.paths).volumes.data_path("hostdir") not in mount_points()


# --- the volume verbs -------------------------------------------------------------------


def test_volume_ls_inspect_and_prune(skiff: Skiff, busybox: str):
    skiff.ok("volume", "create", "--label", "tier=db", "v10")
    skiff.ok("volume", "create", "v9")
    anonymous = skiff.ok("volume", "create").strip()
    assert skiff.ok("volume", "ls") == (
        f"DRIVER    VOLUME NAME\nlocal     {anonymous}\nlocal     v9\nlocal     v10\n"
    )
    assert skiff.ok("volume", "ls", "-q", "-f", "label=tier=db") == "v10\n"
    assert skiff.ok("volume", "ls", "--format", "raw", "-f", "name=v9") == (
        "name: v9\ndriver: local\n\n"
    )
    row = json.loads(skiff.ok("volume", "ls", "--format", "json", "-f", "name=^v10$"))
    assert row["Labels"] == "tier=db" and row["Scope"] == "local" and row["Links"] == "N/A"
    assert skiff.ok("volume", "inspect", "-f", "{{.Name}} {{.Labels}} {{.Options}}", "v10") == (
        "v10 map[tier:db] map[]\n"
    )
    missing = skiff("volume", "inspect", "-f", "{{.Name}}", "v9", "nope")
    assert (missing.code, missing.out, missing.err) == (
        1, "v9\n", "Error: get nope: no such volume\n",
    )  # fmt: skip
    unparsable = skiff("volume", "inspect", "-f", "{{", "v9")
    assert (unparsable.code, unparsable.out) == (64, "")  # every inspect's code, as Docker's
    assert unparsable.err == "Error: template parsing error: template: :1: unclosed action\n"
    bad = skiff("volume", "ls", "-f", "dangling=maybe")
    assert (bad.code, bad.err) == (1, "Error: Invalid filter 'dangling=[maybe]'\n")

    path = Engine(skiff.paths).volumes.data_path(anonymous)
    Path(path, "f").write_bytes(b"12345")
    declined = skiff("volume", "prune", input="n\n")
    assert declined.code == 0
    assert declined.out == (
        "WARNING! This will remove anonymous local volumes not used by at least one container.\n"
        "Are you sure you want to continue? [y/N] "
    )
    assert len(volume_names(skiff)) == 3
    pruned = skiff.ok("volume", "prune", input="y\n")
    assert pruned.endswith(f"[y/N] Deleted Volumes:\n{anonymous}\n\nTotal reclaimed space: 5B\n")
    assert skiff.ok("volume", "prune", "-f", "-a", "--filter", "label=tier") == (
        "Deleted Volumes:\nv10\n\nTotal reclaimed space: 0B\n"
    )
    assert skiff.ok("volume", "prune", "-f") == "Total reclaimed space: 0B\n"
    removed = skiff("volume", "rm", "v9", "nope", "v9")
    assert (removed.code, removed.out) == (1, "v9\n")
    assert removed.err == "Error: get nope: no such volume\nError: get v9: no such volume\n"
    assert skiff.ok("volume", "rm", "-f", "nope") == "nope\n"


def test_volume_help_lists_the_verbs(skiff: Skiff):
    out = skiff.ok("volume", "--help")
    for verb in ("create", "inspect", "ls", "prune", "rm"):
        assert f"\n  {verb} " in out


# --- bad input: Docker's message, nothing left ------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--mount", "type=bind,src=/nonexistent-skiff,dst=/x"),
         'invalid mount config for type "bind": bind source path does not exist: '
         "/nonexistent-skiff"),
        (("-v", "bad name:/x"),
         'create bad name: "bad name" includes invalid characters for a local volume name, only '
         '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use '
         "absolute path"),
        (("-v", "ok1:/x", "--mount", "type=volume,dst=/x"), "Duplicate mount point: /x"),
        (("-v", "ok1:/y", "--mount", "type=volume,src=ok2,dst=/z,volume-opt=color=red"),
         'create ok2: invalid option: "color"'),
        (("-v", "ok1:/y", "--volumes-from", "nope"), "No such container: nope"),
        (("--volumes-from", "nope:rshared"), "invalid mode: rshared"),
        (("-v", "ok1:/y", "-v", "/anon", "--mount", "type=volume,src=x,dst=/z"),
         "create x: volume name is too short, names should be at least two alphanumeric "
         "characters"),
    ],
)  # fmt: skip
def test_bad_mount_specs(skiff: Skiff, busybox: str, args: tuple[str, ...], message: str):
    result = skiff("create", *args, "busybox")  # the daemon's errors: create exits 1
    assert (result.code, result.out, result.err) == (1, "", f"Error: {message}\n")
    assert Engine(skiff.paths).containers.all() == []
    assert volume_names(skiff) == []
    assert not os.path.exists("/nonexistent-skiff")
    assert not (skiff.root / "containers").exists()


def test_image_volume_over_a_file_is_refused_and_leaves_nothing(skiff: Skiff, volume_image: str):
    result = skiff("create", "-v", "named:/n", "fileimg")
    assert result.code == 1
    assert result.err.startswith("Error: cannot mount volume over existing file, file exists ")
    assert result.err.endswith("/merged/file\n")
    assert Engine(skiff.paths).containers.all() == []
    assert volume_names(skiff) == []  # neither the anonymous nor the named one made for it
    assert os.listdir(skiff.root / "containers") == []
