"""Attempts to escape a default container, each modelled on a real class of escape in
container runtimes, each of which must fail. Every attempt is a real container run by the
real ``skiff`` command, watched from inside (what the attacker got) and from outside (what
changed on the host). Where it is cheap and harmless, the same attempt is made under
``--privileged`` to show what the default profile is worth (and that the test can fail);
nothing under ``--privileged`` writes a kernel file or a disk, and kexec_load is never
called there.

Busybox cannot call keyctl, bpf, capset or open_by_handle_at: ``escape_helper.c`` (built
static at test time) makes the raw calls and prints each errno's name. ``exe_loader.c`` is
CVE-2019-5736's payload: an ELF interpreter that reports a handle on ``/proc/self/exe``.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import secrets
import shutil
import stat
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.support.cli import SKIFF, Skiff

HERE = Path(__file__).parent
RUNTIME = os.path.join(os.path.dirname(SKIFF), "skiff-runtime")
NET_RAW, CHOWN = 13, 0


# --- the attacker's image -------------------------------------------------------------


@pytest.fixture(scope="session")
def helpers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The static helper and the no-libc loader, compiled for this machine."""
    out = tmp_path_factory.mktemp("escape-helpers")
    helper, loader = out / "helper", out / "loader"
    subprocess.run(
        ["gcc", "-static", "-O2", "-o", helper, HERE / "escape_helper.c"],
        check=True,
    )
    subprocess.run(
        ["gcc", "-Os", "-nostdlib", "-static-pie", "-fPIE", "-fno-stack-protector",
         "-fno-builtin", "-o", loader, HERE / "exe_loader.c"],
        check=True,
    )  # fmt: skip
    return {"helper": helper, "loader": loader}


@pytest.fixture(scope="session")
def escape_tar(
    busybox_template: Path, helpers: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """busybox with the helper (plain and set-uid root), the loader installed as the ELF
    interpreter every dynamic binary asks for, a ``#!/proc/self/exe`` script, a symlink to
    ``/proc/self/exe``, and symlinks to ``/`` and ``../../..`` for mount targets."""
    path = tmp_path_factory.mktemp("escape-image") / "escape.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(busybox_template, arcname=".")

        def add(name: str, data: bytes, mode: int) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))

        def link(name: str, target: str) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)

        helper = helpers["helper"].read_bytes()
        add("helper", helper, 0o755)
        add("suid-helper", helper, 0o4755)
        info = tarfile.TarInfo("lib64")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        add("lib64/ld-linux-x86-64.so.2", helpers["loader"].read_bytes(), 0o755)
        add("evil", b"#!/proc/self/exe\n", 0o755)
        link("exelink", "/proc/self/exe")
        link("vlink", "/")
        link("vrel", "../../..")
    return path


@pytest.fixture
def box(skiff: Skiff, escape_tar: Path) -> str:
    skiff.ok("import", "-c", 'CMD ["sh"]', str(escape_tar), "box:latest")
    return "box"


def results(out: str) -> dict[str, str]:
    """The helper's ``NAME RESULT`` lines."""
    return dict(line.rsplit(" ", 1) for line in out.splitlines() if " " in line)


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def host_executables() -> dict[str, str]:
    """The host files a container must never get a handle on: skiff-runtime, the Python
    that runs it, conmon."""
    with open(RUNTIME, "rb") as f:
        interpreter = f.readline()[2:].split()[0].decode()
    files = [RUNTIME, os.path.realpath(interpreter), shutil.which("conmon") or RUNTIME]
    return {path: sha256(path) for path in files}


def identities(paths: list[str]) -> set[str]:
    return {f"{os.stat(p).st_dev}:{os.stat(p).st_ino}" for p in paths}


def running(skiff: Skiff, box: str, *flags: str) -> None:
    skiff.ok("run", "-d", "--name", "c1", "--network", "none", *flags, box, "sleep", "1000")


def wait_for(skiff: Skiff, container: str, script: str, timeout: float = 15) -> str:
    """The output of ``script`` in ``container`` once it succeeds."""
    deadline = time.monotonic() + timeout
    while True:
        result = skiff("exec", container, "sh", "-c", script)
        if result.code == 0 or time.monotonic() > deadline:
            assert result.code == 0, result
            return result.out
        time.sleep(0.1)


# --- 1. overwriting the runtime through /proc/PID/exe (CVE-2019-5736) -------------------


def test_no_process_exe_opens_for_writing_while_exec_runs(skiff: Skiff, box: str):
    """A container process loops over /proc/*/exe, opening each for writing (and O_PATH,
    what a patient attacker keeps), while ``skiff exec`` starts process after process: the
    runtime's processes are not dumpable until they exec, so it never reaches them."""
    before = host_executables()
    running(skiff, box)
    skiff.ok("exec", "-d", "c1", "sh", "-c", "/helper exe 3 > /tmp/exe.out")
    deadline = time.monotonic() + 3
    execs = 0
    while time.monotonic() < deadline:
        skiff.ok("exec", "c1", "true")
        execs += 1
    out = wait_for(skiff, "c1", "grep -q ^tries /tmp/exe.out && cat /tmp/exe.out")
    tries = int(out.split("tries ")[1].split()[0])
    assert execs > 5 and tries > 100, out
    assert out.endswith(" opened 0\n") and "\nopened " not in out  # none opened for writing
    seen = {line.split()[1] for line in out.splitlines() if line.startswith("exe ")}
    assert seen  # it did reach the container's own processes...
    assert not seen & identities(list(before))  # ...and never a host executable
    assert host_executables() == before


def test_proc_self_exe_as_a_script_interpreter_or_link_is_refused(skiff: Skiff, box: str):
    """CVE-2019-5736 itself: the image's ``/evil`` is ``#!/proc/self/exe`` (and
    ``/exelink`` a symlink to it). Run or exec'd by a runtime that execs by path, the
    kernel would run the runtime's own interpreter, the host's Python, in the container,
    with the image's loader (``exe_loader.c``): it gets /proc/self/exe, the host file,
    to reopen for writing once no Python runs. skiff-runtime opens what it runs without
    magic links (``process.execute``), so it refuses; --privileged changes nothing."""
    before = host_executables()
    python = identities([p for p in before if "python" in p])
    running(skiff, box)
    attempts = [
        *(("run", "--rm", "--network", "none", box, cmd) for cmd in ("/evil", "/exelink")),
        ("run", "--rm", "--network", "none", "--privileged", box, "/evil"),
        *(("exec", "c1", cmd) for cmd in ("/evil", "/exelink")),
        ("exec", "--privileged", "c1", "/evil"),
    ]
    for attempt in attempts:
        result = skiff(*attempt)
        assert "exe-" not in result.out, (attempt, result)  # the loader never ran
        assert result.code == 126, (attempt, result)
        assert "Too many levels of symbolic links" in result.err, (attempt, result)
    # the payload works: run itself, it reports its own /proc/self/exe, a container file
    # (with the runtime's former plain execve, /evil printed the host Python's here)
    out = skiff.ok("exec", "c1", "/lib64/ld-linux-x86-64.so.2")
    assert out.startswith("exe-open 0\nexe-id "), out
    assert out.split("\n")[1].removeprefix("exe-id ").replace(" ", ":") not in python
    assert host_executables() == before


# --- 2. a leaked host descriptor as the working directory (CVE-2024-21626) --------------


@pytest.mark.parametrize("verb", ["run", "exec"])
def test_a_leaked_descriptor_is_no_working_directory(
    skiff: Skiff, box: str, tmp_path: Path, verb: str
):
    """``-w /proc/self/fd/N`` for N in 3..10, with the ``skiff`` command itself holding a
    host directory open as N: the container fails to start with a clear error, or starts
    inside itself; it never runs in the host directory. The same with --privileged (the
    runtime closes the descriptors whatever the container may do)."""
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    (host_dir / "host-marker").write_text("host")
    if verb == "exec":
        running(skiff, box)
    outcomes = set()
    for n, privileged in [(n, []) for n in range(3, 11)] + [(3, ["--privileged"])]:
        workdir = f"/proc/self/fd/{n}"
        if verb == "run":
            args = ["run", "--rm", "--network", "none", *privileged, "-w", workdir, box]
        else:
            args = ["exec", *privileged, "-w", workdir, "c1"]
        result = subprocess.run(
            ["bash", "-c", f'exec "$@" {n}<"$HOST_DIR"', "bash", SKIFF, *args,
             "sh", "-c", "pwd; ls; touch escaped"],
            env={**skiff.env, "HOST_DIR": str(host_dir)},
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert sorted(os.listdir(host_dir)) == ["host-marker"], (n, result)
        assert "host-marker" not in result.stdout, (n, result)
        if result.returncode == 0:
            assert result.stdout.startswith("/"), (n, result)  # inside the container
            outcomes.add("inside")
        else:
            assert result.returncode in (125, 126, 127), (n, result)
            error = result.stderr.lower()
            assert error.startswith(("error: ", "oci runtime exec failed")), (n, result)
            assert any(
                reason in error
                for reason in (
                    "no such file or directory",
                    "not a directory",
                    "outside of the container root",
                )
            ), (n, result)
            outcomes.add("refused")
    assert outcomes  # documented: with skiff every N is refused (the descriptors are gone)


# --- 3. a symlink in the way of a mount ---------------------------------------------------


def escaped_copies(name: str, tmp_path: Path, *allowed: str | Path) -> list[str]:
    """Paths named ``name`` on the host: at / or anywhere in the test's tree (its store
    included), but at or below the ``allowed`` paths."""
    found = [f"/{name}"] if os.path.lexists(f"/{name}") else []
    for directory, dirs, files in os.walk(tmp_path):
        for entry in dirs + files:
            path = os.path.join(directory, entry)
            if entry == name and not path.startswith(tuple(str(a) for a in allowed)):
                found.append(path)
    return found


def test_a_symlink_in_the_image_cannot_send_a_mount_to_the_host(
    skiff: Skiff, box: str, tmp_path: Path
):
    """Bind mounts and volumes whose target goes through the image's ``/vlink -> /`` or
    ``/vrel -> ../../..`` land inside the container, whatever --privileged says."""
    token = secrets.token_hex(4)
    source = tmp_path / "source"
    source.mkdir()
    (source / "from-host").write_text("x")
    for link in ("/vlink", "/vrel"):
        for privileged in ([], ["--privileged"]):
            out = skiff.ok(
                "run", "--rm", "--network", "none", *privileged,
                "-v", f"{source}:{link}/bind-{token}", "-v", f"vol{token}:{link}/vol-{token}",
                box, "sh", "-c", f"ls /bind-{token}; grep -c ' /vol-{token} ' /proc/self/mountinfo",
            )  # fmt: skip
            assert out == "from-host\n1\n"
            for name in (f"bind-{token}", f"vol-{token}"):
                assert escaped_copies(name, tmp_path) == []


def test_a_symlink_swapped_in_during_mounts_stays_in_the_container(
    skiff: Skiff, box: str, tmp_path: Path
):
    """One container keeps turning ``d`` of a shared volume into a directory, a symlink
    to ``/`` and one to ``../../../../../../../..``, while other containers mount a host
    directory at ``d/mnt-TOKEN`` of that volume: each container starts with the mount in
    its own tree, or without it (the swapper removed the directory it was on, which
    detaches it), or fails to start; the host gets no directory and no file. The mounts
    happen in the container's mount namespace: had one gone outside the root, the host's
    mount table would not show it either, but the directory made for it would be there.
    --privileged changes nothing: the runtime resolves the target the same way."""
    token = secrets.token_hex(4)
    source = tmp_path / "source"
    source.mkdir()
    (source / f"from-host-{token}").write_text("x")
    volume = f"shared{token}"
    skiff.ok(
        "run", "-d", "--name", "swapper", "--network", "none", "-v", f"{volume}:/shared", box,
        "sh", "-c", "cd /shared; while :; do rm -rf d; mkdir d; rm -rf d; ln -s / d; rm d; "
        "ln -s ../../../../../../../.. d; rm d; done",
    )  # fmt: skip
    landed, detached, refused = [], 0, []
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        result = skiff(
            "run", "--rm", "--network", "none", "-v", f"{volume}:/data",
            "-v", f"{source}:/data/d/mnt-{token}", box,
            "sh", "-c", f"grep -F ' {source} ' /proc/self/mountinfo | cut -d' ' -f5",
        )  # fmt: skip
        if result.code == 0 and result.out:
            landed.append(result.out.strip())  # where, in the container, it is
        elif result.code == 0:
            detached += 1
        else:
            assert result.code in (125, 126, 127) and result.err.startswith("Error"), result
            refused.append(result.err)
        volume_dir = skiff.root / "volumes" / volume
        assert escaped_copies(f"mnt-{token}", tmp_path, volume_dir) == []
        assert escaped_copies(f"from-host-{token}", tmp_path, source) == []
    skiff.ok("rm", "-f", "swapper")
    assert len(landed) + detached + len(refused) >= 5
    assert landed, (detached, refused)
    assert set(landed) <= {f"/data/d/mnt-{token}", f"/mnt-{token}"}, landed


# --- 4. cp through a symlink race ---------------------------------------------------------


def test_cp_through_a_swapping_symlink_stays_in_the_container(
    skiff: Skiff, box: str, tmp_path: Path
):
    """While the container turns ``/w/d`` into a directory and back into a symlink to
    ``/``, ``skiff cp`` copies into and out of it: nothing is written outside the
    container (at the host's /), and what comes out is the container's (its /etc/passwd,
    never the host's /etc/shadow). --privileged changes nothing: ``cp`` runs on the host."""
    token = secrets.token_hex(4)
    name = f"skiff-cp-race-{token}"
    (tmp_path / name).write_text("planted")
    skiff.ok(
        "run", "-d", "--name", "c1", "--network", "none", box, "sh", "-c",
        "mkdir /w; cd /w; while :; do mkdir d; echo in > d/f; rm -rf d; ln -s / d; rm d; done",
    )  # fmt: skip
    passwd = skiff.ok("exec", "c1", "cat", "/etc/passwd").encode()
    assert passwd != Path("/etc/passwd").read_bytes() and os.path.exists("/etc/shadow")
    copied_in = copied_out = 0
    # at least 6 s of racing, and on until a copy has gone each way (a loaded machine
    # may take longer to hit the symlink's moment); at most 60 s
    started = time.monotonic()
    while time.monotonic() - started < 6 or not (
        (copied_in and copied_out) or time.monotonic() - started > 60
    ):
        copied_in += skiff("cp", str(tmp_path / name), "c1:/w/d/").code == 0
        assert not os.path.lexists(f"/{name}")
        out = tmp_path / "out"
        result = skiff("cp", "c1:/w/d/etc/passwd", str(out))
        if result.code == 0:
            assert out.read_bytes() == passwd
            copied_out += 1
            out.unlink()
        shadow = skiff("cp", "c1:/w/d/etc/shadow", str(tmp_path / "shadow"))
        assert shadow.code == 1 and not (tmp_path / "shadow").exists(), shadow
    assert copied_in and copied_out  # the race was run both ways
    # what went in is in the container: at /w/d/ or, through the link, at its /
    found = skiff.ok("exec", "c1", "sh", "-c", f"ls /{name} /w/d/{name} 2>/dev/null; true")
    assert name in found
    assert escaped_copies(name, tmp_path, tmp_path / name, skiff.root / "containers") == []


# --- 5. syscalls a default container may not make -----------------------------------------

DENIED = ("mount", "umount", "unshare_user", "unshare_mount", "keyctl", "ptrace", "bpf",
          "kexec_load", "open_by_handle_at")  # fmt: skip


def test_kernel_interfaces_are_refused_in_a_default_container(skiff: Skiff, box: str):
    """mount, umount, unshare (user and mount namespaces), keyctl, ptrace of a more
    privileged process of the container, bpf, kexec_load and open_by_handle_at (the
    "shocker" escape) all fail with EPERM; under --privileged all but kexec_load (never
    tried there) succeed."""
    running(skiff, box)
    skiff.ok("exec", "-d", "--privileged", "c1", "sleep", "1001")
    target = wait_for(skiff, "c1", "ps -o pid,args | grep '[s]leep 1001'").split()[0]
    out = skiff.ok("exec", "c1", "/helper", "syscalls", target)
    assert results(out) == {name: "EPERM" for name in DENIED}, out
    privileged = skiff.ok(
        "run", "--rm", "--network", "none", "--privileged", box,
        "sh", "-c", "sleep 1000 & /helper nokexec $!; kill $!",
    )  # fmt: skip
    assert results(privileged) == {name: "ok" for name in DENIED if name != "kexec_load"}


# --- 6. writes to kernel files ------------------------------------------------------------


def kernel_files() -> list[str]:
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    cgroup = (
        ["/sys/fs/cgroup/cgroup.procs", "/sys/fs/cgroup/cgroup.subtree_control"]
        if v2
        else ["/sys/fs/cgroup/devices/devices.allow", "/sys/fs/cgroup/memory/cgroup.procs",
              "/sys/fs/cgroup/pids/pids.max"]
    )  # fmt: skip
    files = [
        "/proc/sysrq-trigger",  # not on kernels without CONFIG_MAGIC_SYSRQ (this one)
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/modprobe",  # not without CONFIG_MODULES
        "/proc/sys/vm/drop_caches",
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/class/net/lo/mtu",
    ]
    return [f for f in files if os.path.exists(f)] + cgroup


def test_kernel_files_cannot_be_opened_for_writing(skiff: Skiff, box: str):
    """/proc/sysrq-trigger, /proc/sys, /sys and the container's cgroup files do not open
    for writing (read-only mounts: EROFS); nor can a cgroup be made. Under --privileged
    they open (nothing is written)."""
    files = kernel_files()
    core_pattern = Path("/proc/sys/kernel/core_pattern").read_text()
    out = skiff.ok(
        "run", "--rm", "--network", "none", box, "sh", "-c",
        f"/helper open {' '.join(files)}; mkdir /sys/fs/cgroup/pids/escape 2>&1; "
        "mkdir /sys/fs/cgroup/escape 2>&1; true",
    )  # fmt: skip
    assert {f: results(out).get(f) for f in files} == {f: "EROFS" for f in files}, out
    assert out.count("Read-only file system") == 2, out
    privileged = skiff.ok(
        "run", "--rm", "--network", "none", "--privileged", box, "/helper", "open", *files
    )
    assert results(privileged) == {f: "ok" for f in files}
    assert Path("/proc/sys/kernel/core_pattern").read_text() == core_pattern


# --- 7. a host disk through mknod -----------------------------------------------------------


def host_disk() -> tuple[int, int]:
    """The block device the host's / is on, or the first disk in /sys/block."""
    device = os.stat("/").st_dev
    if os.major(device):
        return os.major(device), os.minor(device)
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("loop", "ram", "zram", "nbd")):
            major, minor = Path(f"/sys/block/{name}/dev").read_text().split(":")
            return int(major), int(minor)
    raise AssertionError("no disk")


def host_opens(node: Path, kind: int, major: int, minor: int) -> str:
    """Whether the host itself opens that device for reading (nothing is read)."""
    os.mknod(node, kind | 0o600, os.makedev(major, minor))
    try:
        os.close(os.open(node, os.O_RDONLY | os.O_NONBLOCK))
    except OSError as e:
        return errno.errorcode[e.errno or 0]
    finally:
        node.unlink()
    return "ok"


def test_a_host_disk_node_can_be_made_but_not_opened(skiff: Skiff, box: str, tmp_path: Path):
    """mknod of the host's disk (and of /dev/kmsg, 1:11) succeeds (CAP_MKNOD is in
    Docker's default set) but the device cgroup refuses to open them, for reading or
    writing. Under --privileged they open for reading as on the host (nothing is read;
    this sandbox refuses its disk to the host's root too, /dev/kmsg it opens)."""
    major, minor = host_disk()
    script = f"mknod /tmp/disk b {major} {minor} && mknod /tmp/kmsg c 1 11 && echo made; "
    both = "/tmp/disk /tmp/kmsg"
    out = skiff.ok("run", "--rm", "--network", "none", box, "sh", "-c",
                   f"{script}/helper read {both}; /helper open {both}")  # fmt: skip
    assert out == "made\n" + "/tmp/disk EPERM\n/tmp/kmsg EPERM\n" * 2
    privileged = skiff.ok("run", "--rm", "--network", "none", "--privileged", box,
                          "sh", "-c", script + "/helper read /tmp/disk /tmp/kmsg")  # fmt: skip
    assert host_opens(tmp_path / "kmsg", stat.S_IFCHR, 1, 11) == "ok"
    disk = host_opens(tmp_path / "disk", stat.S_IFBLK, major, minor)
    assert results(privileged) == {"/tmp/disk": disk, "/tmp/kmsg": "ok"}


# --- 8. a dropped capability raised again -------------------------------------------------


def status_caps(out: str) -> dict[str, int]:
    return {
        line.split(":")[0]: int(line.split()[1], 16)
        for line in out.splitlines()
        if line.startswith(("CapEff:", "CapBnd:"))
    }


@pytest.mark.parametrize("cap, name", [(NET_RAW, "NET_RAW"), (CHOWN, "CHOWN")])
def test_a_dropped_capability_cannot_be_raised_again(skiff: Skiff, box: str, cap: int, name: str):
    """After ``--cap-drop``, capset and the ambient set cannot bring the capability back
    (it is out of the bounding set) and what it guards fails; the same calls succeed
    without the drop. --privileged gives every capability: nothing to raise."""
    script = f"/helper caps {cap}; grep -E '^Cap(Eff|Bnd)' /proc/self/status"
    dropped = skiff.ok("run", "--rm", "--network", "none", "--cap-drop", name, box,
                       "sh", "-c", script)  # fmt: skip
    guarded = "raw_socket" if cap == NET_RAW else "chown"
    got = results(dropped)
    assert {k: got[k] for k in ("capset", "ambient", "bounding", guarded)} == dict.fromkeys(
        ("capset", "ambient", "bounding", guarded), "EPERM"
    ), dropped
    caps = status_caps(dropped)
    assert not caps["CapEff"] & (1 << cap) and not caps["CapBnd"] & (1 << cap)
    kept = skiff.ok("run", "--rm", "--network", "none", box, "sh", "-c", script)
    got = results(kept)
    assert {k: got[k] for k in ("capset", "ambient", "bounding", guarded)} == dict.fromkeys(
        ("capset", "ambient", "bounding", guarded), "ok"
    ), kept
    assert status_caps(kept)["CapBnd"] & (1 << cap)


# --- 9. set-uid binaries under no-new-privileges ------------------------------------------


def test_setuid_root_gives_nothing_under_no_new_privileges(skiff: Skiff, box: str):
    """A set-uid-root binary run as user 1000 becomes euid 0 by default (and under
    --privileged), and stays 1000 with ``--security-opt no-new-privileges``."""
    plain = skiff.ok("run", "--rm", "--network", "none", "-u", "1000", box, "/suid-helper", "ids")
    assert plain == "uid 1000 euid 0\n"
    nnp = skiff.ok(
        "run", "--rm", "--network", "none", "-u", "1000",
        "--security-opt", "no-new-privileges", box, "/suid-helper", "ids",
    )  # fmt: skip
    assert nnp == "uid 1000 euid 1000\n"
    mode = skiff.ok("run", "--rm", "--network", "none", box, "stat", "-c", "%a %u", "/suid-helper")
    assert mode == "4755 0\n"
