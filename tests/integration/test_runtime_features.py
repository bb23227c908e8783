"""User namespaces, seccomp, hooks, terminals, joined and time namespaces, mount extensions."""

import json
import os
import socket
import subprocess
import threading
import time


def test_user_namespace_maps(runtime, make_bundle):
    bundle = make_bundle(
        "sh",
        "-c",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /tmp/x; stat -c %u /tmp/x",
    )
    bundle.spec["linux"]["namespaces"].append({"type": "user"})
    bundle.spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.spec["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    # the rootfs must be reachable by the mapped root: open up pytest's 0700 directories
    for directory in [bundle.path, *bundle.path.parents]:
        if directory == directory.parent:
            break
        directory.chmod(directory.stat().st_mode | 0o011)
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[0].split() == ["0", "100000", "65536"]
    assert lines[1].split() == ["0", "100000", "65536"]
    assert lines[2:4] == ["0", "0"]


def test_seccomp_errno(runtime, make_bundle):
    bundle = make_bundle("sh", "-c", "mkdir /tmp/d 2>&1; echo rc=$?; ls / >/dev/null && echo ls-ok")
    bundle.spec["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    bundle.spec["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}],
    }
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    assert "Function not implemented" in result.stdout  # ENOSYS = 38
    assert "rc=1" in result.stdout
    assert "ls-ok" in result.stdout


def test_seccomp_applies_to_exec(runtime, make_bundle):
    bundle = make_bundle("sleep", "1000")
    bundle.spec["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    bundle.write()
    runtime.ok("run", "-d", "--bundle", str(bundle.path), "c1")
    result = runtime("exec", "c1", "grep", "Seccomp:", "/proc/self/status")
    assert result.stdout.split() == ["Seccomp:", "2"]
    # busybox's uname prints an empty line when the syscall fails; cat still runs
    assert runtime.ok("exec", "c1", "uname") == "\n"
    assert runtime.ok("exec", "c1", "cat", "/proc/sys/kernel/ostype") == "Linux\n"


HOOK = """#!/bin/sh
state=$(cat)
echo "$0 $1 $state" >> {log}
"""


def _hook_log(tmp_path, bundle):
    log = tmp_path / "hooks.log"
    script = tmp_path / "hook.sh"
    script.write_text(HOOK.format(log=log))
    script.chmod(0o755)
    bundle.spec["hooks"] = {
        kind: [{"path": str(script), "args": [str(script), kind]}]
        for kind in ("prestart", "createRuntime", "poststart", "poststop")
    }
    bundle.write()
    return log


def test_create_hooks_get_the_state(runtime, make_bundle, tmp_path):
    bundle = make_bundle("sleep", "1000")
    log = _hook_log(tmp_path, bundle)
    runtime.ok("create", "--bundle", str(bundle.path), "c1")
    pid = runtime.state("c1")["pid"]
    lines = log.read_text().splitlines()
    assert [line.split()[1] for line in lines[:2]] == ["prestart", "createRuntime"]
    for line in lines[:2]:
        state = json.loads(line.split(" ", 2)[2])
        assert state["id"] == "c1"
        assert state["pid"] == pid
        assert state["bundle"] == str(bundle.path)
        assert state["status"] == "creating"


def test_hook_order(skiff_runtime, make_bundle, tmp_path):
    """poststart after start, as the runtime spec says (Debian's runc 1.1.5 runs it at
    create: skiff only), and poststop after delete."""
    runtime = skiff_runtime
    bundle = make_bundle("sleep", "1000")
    log = _hook_log(tmp_path, bundle)
    runtime.ok("create", "--bundle", str(bundle.path), "c1")
    assert [line.split()[1] for line in log.read_text().splitlines()] == [
        "prestart",
        "createRuntime",
    ]
    runtime.ok("start", "c1")
    runtime.ok("kill", "c1", "KILL")
    deadline = time.monotonic() + 5
    while runtime.state("c1")["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    runtime.ok("delete", "c1")
    lines = log.read_text().splitlines()
    assert [line.split()[1] for line in lines] == [
        "prestart",
        "createRuntime",
        "poststart",
        "poststop",
    ]
    assert json.loads(lines[2].split(" ", 2)[2])["status"] == "running"
    assert json.loads(lines[3].split(" ", 2)[2])["status"] == "stopped"


def test_container_hooks_run_inside(runtime, make_bundle):
    """createContainer runs in the container's namespaces (its path still resolves on the
    host: it runs before pivot_root)."""
    bundle = make_bundle("true")
    marker = bundle.path / "seen"
    hook = bundle.path / "inside.sh"
    hook.write_text(f"#!/bin/sh\ncat > /dev/null\nreadlink /proc/self/ns/net > {marker}\n")
    hook.chmod(0o755)
    bundle.spec["hooks"] = {"createContainer": [{"path": str(hook)}]}
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    seen = marker.read_text().strip()
    assert seen.startswith("net:[")
    assert seen != os.readlink("/proc/self/ns/net")


def test_failing_hook_fails_create_and_cleans_up(runtime, make_bundle, tmp_path):
    from tests.support.leaks import Snapshot

    bundle = make_bundle("true")
    bundle.spec["hooks"] = {"prestart": [{"path": "/bin/false"}]}
    before = Snapshot.take()
    result = runtime.run(bundle)
    assert result.returncode != 0
    assert not Snapshot.take().leaks_since(before)


def test_hook_timeout(skiff_runtime, make_bundle, tmp_path):
    bundle = make_bundle("true")
    slow = tmp_path / "slow.sh"
    slow.write_text("#!/bin/sh\nsleep 30\n")
    slow.chmod(0o755)
    bundle.spec["hooks"] = {"createRuntime": [{"path": str(slow), "timeout": 1}]}
    started = time.monotonic()
    result = skiff_runtime.run(bundle)
    assert time.monotonic() - started < 10
    assert result.returncode != 0
    assert "timed out" in result.stderr


class ConsoleSocket:
    """A --console-socket listener that receives the pty master."""

    def __init__(self, path):
        self.path = str(path)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        self.master = None
        self.name = None
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        conn, _ = self.server.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 1024, 1)
            self.name = msg.decode()
            self.master = fds[0]

    def read_all(self, timeout=10):
        self.thread.join(timeout)
        assert self.master is not None, "no pty master received"
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks).decode()

    def close(self):
        if self.master is not None:
            os.close(self.master)
        self.server.close()


def test_console_socket(runtime, make_bundle, tmp_path):
    bundle = make_bundle("sh", "-c", "tty; stty size; echo done")
    bundle.spec["process"]["terminal"] = True
    bundle.spec["process"]["consoleSize"] = {"height": 33, "width": 101}
    bundle.write()
    console = ConsoleSocket(tmp_path / "console.sock")
    try:
        runtime.ok(
            "run", "-d", "--console-socket", console.path, "--bundle", str(bundle.path), "c1"
        )
        output = console.read_all()
    finally:
        console.close()
    lines = output.replace("\r", "").splitlines()
    assert lines[0].startswith("/dev/pts/")
    assert lines[1] == "33 101"
    assert lines[2] == "done"
    assert console.name  # runc sends "/dev/ptmx", skiff the slave's name


def test_terminal_needs_a_console_socket_when_detached(runtime, make_bundle):
    bundle = make_bundle("sh")
    bundle.spec["process"]["terminal"] = True
    bundle.write()
    result = runtime("run", "-d", "--bundle", str(bundle.path), "c1")
    assert result.returncode != 0
    assert "console socket" in result.stderr or "console-socket" in result.stderr


def test_join_network_namespace_by_path(runtime, make_bundle):
    name = f"skiff-test-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(
            ["ip", "-n", name, "link", "add", "probe0", "type", "veth", "peer", "name", "probe1"],
            check=True,
        )
        bundle = make_bundle("sh", "-c", "readlink /proc/self/ns/net; cat /proc/net/dev")
        bundle.spec["linux"]["namespaces"] = [
            ns if ns["type"] != "network" else {"type": "network", "path": f"/run/netns/{name}"}
            for ns in bundle.spec["linux"]["namespaces"]
        ]
        result = runtime.run(bundle)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[0] == f"net:[{os.stat(f'/run/netns/{name}').st_ino}]"
        assert "probe0" in result.stdout
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def test_time_namespace_offsets(skiff_runtime, make_bundle):
    """Time namespaces are newer than Debian's runc 1.1.5: skiff only."""
    bundle = make_bundle("cat", "/proc/uptime")
    bundle.spec["linux"]["namespaces"].append({"type": "time"})
    bundle.spec["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 400, "nanosecs": 0}}
    result = skiff_runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    with open("/proc/uptime") as f:
        host = float(f.read().split()[0])
    assert float(result.stdout.split()[0]) - host > 86400 * 399


def test_recursive_readonly_mount(runtime, make_bundle, tmp_path):
    outer = tmp_path / "outer"
    (outer / "inner").mkdir(parents=True)
    inner_src = tmp_path / "innersrc"
    inner_src.mkdir()
    subprocess.run(["mount", "--bind", str(inner_src), str(outer / "inner")], check=True)
    try:
        bundle = make_bundle("sh", "-c", "touch /data/inner/f 2>/dev/null; echo rc=$?")
        bundle.spec["mounts"].append(
            {
                "destination": "/data",
                "type": "bind",
                "source": str(outer),
                "options": ["rbind", "rro"],
            }
        )
        result = runtime.run(bundle)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "rc=1"
        assert not (inner_src / "f").exists()
    finally:
        subprocess.run(["umount", str(outer / "inner")], check=True)


def test_tmpcopyup(skiff_runtime, make_bundle):
    """runc's tmpcopyup extension: the tmpfs starts with the image's files (skiff only:
    Debian's runc 1.1.5 has it too, but the test keeps to what the engine relies on)."""
    bundle = make_bundle("sh", "-c", "cat /etc/seed/file; echo new > /etc/seed/file2; ls /etc/seed")
    (bundle.rootfs / "etc" / "seed").mkdir()
    (bundle.rootfs / "etc" / "seed" / "file").write_text("from image\n")
    bundle.spec["mounts"].append(
        {"destination": "/etc/seed", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}
    )
    result = skiff_runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["from", "image", "file", "file2"]
    assert not (bundle.rootfs / "etc" / "seed" / "file2").exists()


def test_init_is_not_dumpable(runtime, make_bundle):
    """Until it execs, the init is not dumpable: the kernel then keeps its /proc files
    root's, out of reach of the uid that is root in the container (the /proc/self/exe
    overwrite class of escape). Once exec'd, the process is an ordinary one of that uid."""
    bundle = make_bundle("sleep", "1000")
    bundle.spec["linux"]["namespaces"].append({"type": "user"})
    bundle.spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    # the executable belongs to the user namespace, so the exec'd process is dumpable
    subprocess.run(["chown", "-R", "-h", "100000:100000", str(bundle.rootfs)], check=True)
    for directory in [bundle.path, *bundle.path.parents]:
        if directory == directory.parent:
            break
        directory.chmod(directory.stat().st_mode | 0o011)
    bundle.write()
    runtime.ok("create", "--bundle", str(bundle.path), "c1")
    pid = runtime.state("c1")["pid"]
    with open(f"/proc/{pid}/status") as f:
        assert "Uid:\t100000" in f.read()  # it runs as the container's root...
    assert os.stat(f"/proc/{pid}/status").st_uid == 0  # ...yet its /proc files are root's
    runtime.ok("start", "c1")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.stat(f"/proc/{pid}/status").st_uid == 0:
        time.sleep(0.01)
    assert os.stat(f"/proc/{pid}/status").st_uid == 100000


def test_start_container_hook_runs_in_the_container(runtime, make_bundle):
    """startContainer runs after start, inside the container, before the process: its
    path is the container's, and what it writes the process sees."""
    bundle = make_bundle("cat", "/tmp/from-hook")
    (bundle.rootfs / "hook.sh").write_text(
        "#!/bin/sh\ncat > /dev/null\nhostname > /tmp/from-hook\n"
    )
    (bundle.rootfs / "hook.sh").chmod(0o755)
    bundle.spec["hostname"] = "hooked"
    bundle.spec["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    bundle.spec["hooks"] = {"startContainer": [{"path": "/hook.sh"}]}
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hooked\n"


def test_personality(skiff_runtime, make_bundle):
    """linux.personality is newer than Debian's runc 1.1.5 (it ignores it): skiff only."""
    bundle = make_bundle("uname", "-m")
    bundle.spec["linux"]["personality"] = {"domain": "LINUX32"}
    result = skiff_runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ("i686", "armv8l")


def test_dev_shm_and_mqueue(runtime, make_bundle):
    bundle = make_bundle("sh", "-c", "grep -E ' /dev/(shm|mqueue|pts) ' /proc/self/mountinfo")
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    kinds = {
        line.split()[4]: line.split(" - ")[1].split()[0] for line in result.stdout.splitlines()
    }
    assert kinds == {"/dev/shm": "tmpfs", "/dev/mqueue": "mqueue", "/dev/pts": "devpts"}


def test_exec_tty_and_cap(runtime, make_bundle, tmp_path):
    bundle = make_bundle("sleep", "1000").write()
    runtime.ok("run", "-d", "--bundle", str(bundle.path), "c1")
    console = ConsoleSocket(tmp_path / "exec-console.sock")
    try:
        runtime.ok(
            "exec",
            "--tty",
            "--detach",
            "--console-socket",
            console.path,
            "c1",
            "sh",
            "-c",
            "tty; echo ok",
        )
        output = console.read_all()
    finally:
        console.close()
    assert output.replace("\r", "").splitlines()[:2][1] == "ok"
    assert output.startswith("/dev/pts/")
    status = runtime.ok(
        "exec", "--cap", "CAP_SYS_ADMIN", "c1", "grep", "CapEff", "/proc/self/status"
    )
    assert int(status.split()[1], 16) & (1 << 21)
    status = runtime.ok("exec", "c1", "grep", "CapEff", "/proc/self/status")
    assert not int(status.split()[1], 16) & (1 << 21)


def test_features_and_spec(runtime, tmp_path):
    from tests.support.schemas import validate

    features = json.loads(runtime.ok("features"))
    validate(features, "oci-runtime", "features-schema.json")
    assert "mount" in features["linux"]["namespaces"]
    assert features["linux"]["seccomp"]["enabled"] is True
    runtime.ok("spec", "--bundle", str(tmp_path))
    spec = json.loads((tmp_path / "config.json").read_text())
    validate(spec, "oci-runtime", "config-schema.json")
    assert runtime("spec", "--bundle", str(tmp_path)).returncode != 0  # exists already
