"""A full disk: SKIFF_ROOT on a small loop-mounted ext4 filesystem that fills up during a
pull, a load, a build (a RUN, its commit, a COPY) and a container's log.

Each case first takes most of the free space with a filler file of the test's own, then
runs the command until it meets ENOSPC, and checks what a user would: one clear error
line naming the full disk and what was being written, Docker's exit code, a store with
nothing half-registered and no temporary files left (the space back, after ``system prune
-f`` where a pull keeps its partial download to resume it), and, once the filler is
deleted, the same command succeeding and ``run --rm busybox true`` working.

The run root stays on the host's disk, as /run is a tmpfs of its own; TMPDIR too.
"""

from __future__ import annotations

import gc
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.build import leftovers, write_context
from tests.support.cli import Result, Skiff
from tests.support.engine import processes_mentioning, remove_all_containers
from tests.support.images import docker_archive, layer_tar
from tests.support.registry import Registry

MiB = 1 << 20
DISK = 96 * MiB  # busybox imported, about 78 MiB stay free
LEFT = 12 * MiB  # what the filler leaves
BIG = 24 * MiB  # more than that: an image's layer, a build context
SLACK = MiB  # what the database may keep of a failed command
NO_SPACE = re.compile(r"^Error: .*\S: no space left on device$", re.IGNORECASE)


class SmallDisk:
    """A skiff store whose root is a small ext4 filesystem of its own."""

    def __init__(self, mount: Path, cli: Skiff, tmp: Path) -> None:
        self.mount = mount
        self.cli = cli
        self.tmp = tmp
        self.filler = mount / "filler"

    def free(self) -> int:
        stat = os.statvfs(self.mount)
        return stat.f_bavail * stat.f_frsize

    def fill(self, leave: int = LEFT) -> None:
        """Take all the free space but ``leave`` bytes."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, self.free() - leave)
        finally:
            os.close(fd)

    def unfill(self) -> None:
        self.filler.unlink()

    def images(self) -> set[str]:
        return set(self.cli.ok("images", "-aq", "--no-trunc").split())

    def partial_files(self) -> list[str]:
        """What a write in progress leaves: temporary blobs, unpacks and removals of
        layers, build snapshots and contexts, files in TMPDIR."""
        root = self.cli.root
        found = [
            str(p) for top in (root / "ingest", self.tmp) if top.is_dir() for p in top.iterdir()
        ]
        for dirpath, dirnames, filenames in os.walk(root):
            found += [
                os.path.join(dirpath, name)
                for name in dirnames + filenames
                if name.startswith((".unpack-", ".remove-", "blob-", "load-"))
            ]
        return sorted(set(found)) + [f"build: {line}" for line in leftovers(self.cli)]

    def downloads(self) -> list[str]:
        directory = self.cli.root / "downloads"
        return sorted(os.listdir(directory)) if directory.is_dir() else []


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


@pytest.fixture
def disk(tmp_path: Path, rootfs_tar: Path) -> Iterator[SmallDisk]:
    """A store on a 96 MiB ext4 image with busybox:latest imported; its containers are
    removed, and it is unmounted and its loop device detached, afterwards."""
    image = tmp_path / "disk.img"
    with open(image, "wb") as f:
        f.truncate(DISK)
    made = _run("mkfs.ext4", "-q", "-F", "-m", "0", str(image))
    assert made.returncode == 0, made.stderr
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = _run("mount", "-o", "loop", str(image), str(mount))
    assert mounted.returncode == 0, mounted.stderr
    try:
        cli = Skiff(mount)
        cli.runroot = tmp_path / "run"
        cli.env["SKIFF_RUNROOT"] = str(cli.runroot)
        tmp = tmp_path / "tmp"
        tmp.mkdir()
        cli.env["TMPDIR"] = str(tmp)
        cli.ok("import", "-c", 'CMD ["sh"]', str(rootfs_tar), "busybox:latest")
        yield (small := SmallDisk(mount, cli, tmp))
        small.filler.unlink(missing_ok=True)  # a test that failed: room to remove things
        left = remove_all_containers(cli)
        assert not left, "\n".join(left)
    finally:
        gc.collect()  # the database connections of remove_all_containers' engines
        unmounted = _run("umount", str(mount))
        if unmounted.returncode != 0:
            unmounted.stderr += _run("fuser", "-vm", str(mount)).stderr
            _run("umount", "-l", str(mount))
        for line in _run("losetup", "-j", str(image)).stdout.splitlines():
            _run("losetup", "-d", line.partition(":")[0])
        assert unmounted.returncode == 0, unmounted.stderr


def _big_layer() -> bytes:
    """BIG bytes that do not compress (skopeo gzips layers on the way to the registry)."""
    return layer_tar({f"data/{i}": os.urandom(MiB) for i in range(BIG // MiB)})


def _no_space(result: Result, code: int = 1) -> str:
    """A failure with ``code`` and one line on stderr: no space left on device, and
    where; that line."""
    assert result.code == code, result
    lines = result.err.splitlines()
    assert len(lines) == 1, result
    assert NO_SPACE.match(lines[0]), result
    return lines[0]


def _space_back(disk: SmallDisk) -> None:
    """What the failed command wrote is gone: the space the filler left is free again."""
    assert disk.free() >= LEFT - SLACK, (disk.free(), LEFT)


def _usable(disk: SmallDisk) -> None:
    assert disk.cli("run", "--rm", "busybox", "true", timeout=30).code == 0


# --- pull and load ------------------------------------------------------------------------


def test_pull_of_an_image_bigger_than_the_free_space(
    disk: SmallDisk, registry: Registry, tmp_path: Path
) -> None:
    archive = tmp_path / "big.tar"
    [image_id] = docker_archive(archive, [([_big_layer()], ["big:1"])])
    registry.push_archive(archive, "library/big:1")
    ref = f"{registry.address}/library/big:1"
    before = disk.images()
    disk.fill()

    line = _no_space(disk.cli("pull", ref, timeout=60))
    # the download's file or the layer's member being unpacked
    assert f"{disk.cli.root}/downloads/" in line or "layer member 'data/" in line, line
    assert disk.images() == before
    assert disk.cli("image", "inspect", ref).code == 1
    assert disk.partial_files() == []
    # the partial download stays for the next pull to resume, until a prune
    assert "Total reclaimed space: 0B" not in disk.cli.ok("system", "prune", "-f")
    assert disk.downloads() == []
    _space_back(disk)

    disk.unfill()
    assert disk.cli.ok("pull", "-q", ref).strip() == ref
    assert disk.cli.inspect(ref)["Id"] == image_id
    assert disk.partial_files() == []
    _usable(disk)


def test_load_of_an_archive_bigger_than_the_free_space(disk: SmallDisk, tmp_path: Path) -> None:
    archive = tmp_path / "big.tar"
    [image_id] = docker_archive(archive, [([_big_layer()], ["big:1"])])
    before = disk.images()
    disk.fill()

    line = _no_space(disk.cli("load", "-i", str(archive), timeout=60))
    assert f"{disk.cli.root}/" in line, line  # the file it was writing
    assert disk.images() == before
    assert disk.partial_files() == []
    _space_back(disk)
    disk.cli.ok("system", "prune", "-f")
    _space_back(disk)

    disk.unfill()
    assert disk.cli.ok("load", "-i", str(archive)) == "Loaded image: big:1\n"
    assert disk.cli.inspect("big:1")["Id"] == image_id
    _usable(disk)


# --- build --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("megabytes", "where"),
    [(20, "the RUN's own writes"), (8, "the commit of what the RUN wrote")],
)
def test_build_whose_run_fills_the_disk(
    disk: SmallDisk, tmp_path: Path, megabytes: int, where: str
) -> None:
    """20 MiB do not fit in the 12 MiB left: the command fails, as in Docker. 8 MiB fit,
    but their layer (a blob, then its unpacked directory) does not: skiff's own write
    fails."""
    command = f"dd if=/dev/zero of=/fill bs=1M count={megabytes}"
    context = write_context(tmp_path / "context", {"Dockerfile": f"FROM busybox\nRUN {command}\n"})
    before = disk.images()
    disk.fill()

    result = disk.cli("build", "-t", "filled", str(context), timeout=60)
    if megabytes > LEFT // MiB:
        assert result.code == 1, result
        assert result.err == (
            f"Error: The command '/bin/sh -c {command}' returned a non-zero code: 1\n"
        ), result
        assert "dd: error writing '/fill': No space left on device" in result.out
    else:
        line = _no_space(result)
        assert f"{disk.cli.root}/" in line, line
    assert disk.images() == before
    assert disk.cli.ok("ps", "-aq") == ""
    assert disk.partial_files() == []
    _space_back(disk)
    disk.cli.ok("system", "prune", "-f")
    _space_back(disk)

    disk.unfill()
    out = disk.cli.ok("build", "-t", "filled", str(context))
    assert out.endswith("Successfully tagged filled:latest\n"), out
    assert disk.cli.ok("run", "--rm", "filled", "wc", "-c", "/fill").split()[0] == str(
        megabytes * MiB
    )
    assert disk.partial_files() == []
    _usable(disk)


def test_build_copying_a_context_bigger_than_the_free_space(
    disk: SmallDisk, tmp_path: Path
) -> None:
    files: dict[str, str | bytes] = {f"data/{i}": os.urandom(MiB) for i in range(BIG // MiB)}
    files["Dockerfile"] = "FROM busybox\nCOPY data /data\n"
    context = write_context(tmp_path / "context", files)
    before = disk.images()
    disk.fill()

    line = _no_space(disk.cli("build", "-t", "copied", str(context), timeout=60))
    assert "/data/" in line, line  # the file being copied
    assert disk.images() == before
    assert disk.partial_files() == []
    _space_back(disk)
    disk.cli.ok("system", "prune", "-f")
    _space_back(disk)

    disk.unfill()
    out = disk.cli.ok("build", "-t", "copied", str(context))
    assert out.endswith("Successfully tagged copied:latest\n"), out
    assert disk.cli.ok("run", "--rm", "copied", "ls", "/data").split() == sorted(
        str(i) for i in range(BIG // MiB)
    )
    _usable(disk)


# --- logs ---------------------------------------------------------------------------------

LINE = re.compile(r"line (\d+) x{60}")
CHATTY = 'x=$(printf "%060d" 0 | tr 0 x); i=0; while :; do i=$((i+1)); echo "line $i $x"; done'


def _cpu_ticks(pid: str) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _last_line(disk: SmallDisk) -> int:
    """The number of the last whole line logged (the very last may be cut by ENOSPC)."""
    result = disk.cli("logs", "--tail", "5", "chatty", timeout=30)
    assert result.code == 0 and result.err == "", result
    numbers = [int(m[1]) for m in map(LINE.fullmatch, result.out.splitlines()) if m]
    assert numbers, result
    return numbers[-1]


def test_a_container_logging_until_the_disk_is_full(disk: SmallDisk) -> None:
    initial = disk.free()
    disk.fill()
    free = disk.free()
    cid = disk.cli.ok("run", "-d", "--name", "chatty", "busybox", "sh", "-c", CHATTY).strip()
    deadline = time.monotonic() + 20
    while disk.free() > 64 * 1024:
        assert time.monotonic() < deadline, f"the log did not fill the disk: {disk.free()} free"
        time.sleep(0.05)

    # the container runs on: the monitor reads its output (and drops it), so the container
    # neither blocks on its stdout nor dies
    assert disk.cli.ok("ps", "--format", "{{.Names}} {{.Status}}").startswith("chatty Up")
    pid = disk.cli.ok("inspect", "--format", "{{.State.Pid}}", "chatty").strip()
    ticks = _cpu_ticks(pid)
    time.sleep(0.5)
    assert _cpu_ticks(pid) > ticks
    assert [p for p in processes_mentioning(cid) if "conmon" in p]
    # what was written can be read: every line from the first until the disk filled, whole
    # and in order; after that, lines the monitor could not write are dropped, and any
    # written when a few blocks came free (the database's files shrink) come later in order
    written = _last_line(disk)
    everything = disk.cli("logs", "chatty", timeout=30)
    assert everything.code == 0 and everything.err == "", everything.err
    lines = everything.out.splitlines()[:-1]
    numbers = [int(m[1]) if (m := LINE.fullmatch(line)) else line for line in lines]
    assert all(isinstance(n, int) for n in numbers), [n for n in numbers if isinstance(n, str)]
    assert numbers == sorted(set(numbers)), "lines out of order or repeated"
    contiguous = next((i for i, n in enumerate(numbers) if n != i + 1), len(numbers))
    assert contiguous > free // 150, (contiguous, free)  # ~120 bytes a record
    # what must write the state fails, clearly, and changes nothing
    line = _no_space(disk.cli("stop", "chatty", timeout=30))
    assert line == f"Error: write {disk.cli.root}/skiff.db: no space left on device", line
    assert disk.cli.ok("ps", "--format", "{{.Names}} {{.Status}}").startswith("chatty Up")

    disk.unfill()
    deadline = time.monotonic() + 10
    while _last_line(disk) <= written:  # the monitor writes again, the numbers went on
        assert time.monotonic() < deadline, "nothing was logged after space was freed"
        time.sleep(0.1)
    assert disk.cli.ok("rm", "-f", "chatty") == "chatty\n"
    assert disk.free() >= initial - SLACK  # the log went with the container
    _usable(disk)
