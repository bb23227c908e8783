"""create, start, state, kill, delete, pause, resume, ps, list, exec: the state machine."""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.support.schemas import validate


def wait_status(runtime, cid, status, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = runtime.state(cid)["status"]
        if current == status:
            return
        time.sleep(0.02)
    raise AssertionError(f"{cid} did not become {status}: {current}")


def test_state_machine(runtime, make_bundle, tmp_path):
    bundle = make_bundle("sleep", "1000").write()
    pid_file = tmp_path / "pid"
    runtime.ok("create", "--bundle", str(bundle.path), "--pid-file", str(pid_file), "c1")
    state = runtime.state("c1")
    assert state["status"] == "created"
    assert state["id"] == "c1"
    assert state["bundle"] == str(bundle.path)
    assert state["pid"] == int(pid_file.read_text())
    # the init is waiting: the user process has not run
    with open(f"/proc/{state['pid']}/cmdline", "rb") as f:
        assert b"sleep" not in f.read()
    runtime.ok("start", "c1")
    wait_status(runtime, "c1", "running")
    with open(f"/proc/{state['pid']}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"1000"]
    runtime.ok("kill", "c1", "KILL")
    wait_status(runtime, "c1", "stopped")
    runtime.ok("delete", "c1")
    result = runtime("state", "c1")
    assert result.returncode != 0
    assert not (runtime.root / "c1").exists()


def test_state_json_matches_schema(runtime, make_bundle):
    bundle = make_bundle("sleep", "1000").write()
    bundle.spec["annotations"] = {"org.example.key": "value"}
    bundle.write()
    runtime.ok("create", "--bundle", str(bundle.path), "c1")
    state = runtime.state("c1")
    validate(state, "oci-runtime", "state-schema.json")
    assert state["annotations"] == {"org.example.key": "value"}


def test_kill_signal_names_and_numbers(runtime, make_bundle):
    bundle = make_bundle("sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done").write()
    runtime.ok("run", "-d", "--bundle", str(bundle.path), "c1")
    wait_status(runtime, "c1", "running")
    time.sleep(0.2)
    runtime.ok("kill", "c1", "SIGUSR1")
    wait_status(runtime, "c1", "stopped")
    runtime.ok("delete", "c1")
    runtime.ok("run", "-d", "--bundle", str(bundle.path), "c2")
    wait_status(runtime, "c2", "running")
    runtime.ok("kill", "c2", str(int(signal.SIGKILL)))
    wait_status(runtime, "c2", "stopped")


def test_kill_all(runtime, make_bundle):
    bundle = make_bundle("sh", "-c", "sleep 1000 & sleep 1000 & wait").write()
    runtime.ok("run", "-d", "--bundle", str(bundle.path), "c1")
    wait_status(runtime, "c1", "running")
    deadline = time.monotonic() + 5
    while (
        len(json.loads(runtime.ok("ps", "--format", "json", "c1"))) < 3
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    pids = json.loads(runtime.ok("ps", "--format", "json", "c1"))
    assert len(pids) == 3
    runtime.ok("kill", "--all", "c1", "KILL")
    wait_status(runtime, "c1", "stopped")
    runtime.ok("delete", "c1")


def test_pause_and_resume(runtime, make_bundle):
    cgroup = f"/skiff-test-pause-{os.getpid()}"
    bundle = make_bundle("sleep", "1000")
    bundle.spec["linux"]["cgroupsPath"] = cgroup
    bundle.write()
    runtime.ok("run", "-d", "--bundle", str(bundle.path), "c1")
    freezer = f"/sys/fs/cgroup/freezer{cgroup}/freezer.state"
    runtime.ok("pause", "c1")
    assert runtime.state("c1")["status"] == "paused"
    with open(freezer) as f:
        assert f.read().strip() == "FROZEN"
    runtime.ok("resume", "c1")
    assert runtime.state("c1")["status"] == "running"
    with open(freezer) as f:
        assert f.read().strip() == "THAWED"


def test_delete_force_of_running(runtime, make_bundle):
    bundle = make_bundle("sleep", "1000").write()
    runtime.ok("run", "-d", "--bundle", str(bundle.path), "c1")
    pid = runtime.state("c1")["pid"]
    runtime.ok("delete", "--force", "c1")
    assert not (runtime.root / "c1").exists()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split()[2] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.01)
    else:
        raise AssertionError("init still alive after delete --force")


def test_list(runtime, make_bundle):
    bundle = make_bundle("sleep", "1000")
    # a seccomp profile leaves its compiled filter beside the containers: not listed as one
    bundle.spec["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}],
    }
    bundle.write()
    runtime.ok("create", "--bundle", str(bundle.path), "c1")
    runtime.ok("run", "-d", "--bundle", str(bundle.path), "c2")
    rows = json.loads(runtime.ok("list", "--format", "json"))
    assert {(r["id"], r["status"]) for r in rows} == {("c1", "created"), ("c2", "running")}
    assert runtime.ok("list", "-q").split() == ["c1", "c2"]
    table = runtime.ok("list").splitlines()
    assert table[0].split()[:3] == ["ID", "PID", "STATUS"]


def test_exec(runtime, make_bundle, tmp_path):
    bundle = make_bundle("sleep", "1000").write()
    runtime.ok("run", "-d", "--bundle", str(bundle.path), "c1")
    out = runtime.ok(
        "exec", "--env", "X=42", "--cwd", "/tmp", "c1", "sh", "-c", 'echo "$X $(pwd) $$"; id -u'
    )
    lines = out.splitlines()
    x, cwd, pid = lines[0].split()
    assert (x, cwd) == ("42", "/tmp")
    assert int(pid) > 1  # in the container's pid namespace
    assert lines[1] == "0"
    assert runtime.ok("exec", "--user", "1234:1234", "c1", "id", "-u").strip() == "1234"
    result = runtime("exec", "c1", "sh", "-c", "exit 5")
    assert result.returncode == 5
    pid_file = tmp_path / "exec.pid"
    runtime.ok("exec", "--detach", "--pid-file", str(pid_file), "c1", "sleep", "1000")
    exec_pid = int(pid_file.read_text())
    with open(f"/proc/{exec_pid}/cgroup") as f:
        theirs = f.read()
    with open(f"/proc/{runtime.state('c1')['pid']}/cgroup") as f:
        assert theirs == f.read()
    assert os.readlink(f"/proc/{exec_pid}/ns/pid") == os.readlink(
        f"/proc/{runtime.state('c1')['pid']}/ns/pid"
    )


def test_exec_process_json(runtime, make_bundle, tmp_path):
    bundle = make_bundle("sleep", "1000").write()
    runtime.ok("run", "-d", "--bundle", str(bundle.path), "c1")
    process = dict(bundle.spec["process"])
    process["args"] = ["sh", "-c", "grep CapEff /proc/self/status"]
    process["capabilities"] = {k: ["CAP_KILL"] for k in ("bounding", "effective", "permitted")}
    (tmp_path / "process.json").write_text(json.dumps(process))
    out = runtime.ok("exec", "--process", str(tmp_path / "process.json"), "c1")
    assert int(out.split()[1], 16) == 1 << 5


def test_events_stats(runtime, make_bundle):
    bundle = make_bundle("sleep", "1000")
    bundle.spec["linux"]["resources"]["memory"] = {"limit": 64 << 20}
    bundle.write()
    runtime.ok("run", "-d", "--bundle", str(bundle.path), "c1")
    event = json.loads(runtime.ok("events", "--stats", "c1"))
    assert event["type"] == "stats"
    assert event["id"] == "c1"
    assert event["data"]["memory"]["usage"]["limit"] == 64 << 20
    assert event["data"]["memory"]["usage"]["usage"] > 0
    assert event["data"]["pids"]["current"] == 1


def test_update_memory_and_pids(runtime, make_bundle):
    bundle = make_bundle("sleep", "1000")
    bundle.spec["linux"]["resources"]["memory"] = {"limit": 64 << 20}
    bundle.write()
    runtime.ok("run", "-d", "--bundle", str(bundle.path), "c1")
    runtime.ok("update", "--memory", "128m", "--pids-limit", "50", "c1")
    event = json.loads(runtime.ok("events", "--stats", "c1"))
    assert event["data"]["memory"]["usage"]["limit"] == 128 << 20
    assert event["data"]["pids"]["limit"] == 50


def test_preserve_fds(runtime, make_bundle, tmp_path):
    bundle = make_bundle("sh", "-c", "cat <&3; ls /proc/self/fd").write()
    secret = tmp_path / "passed"
    secret.write_text("passed through\n")
    # the shell opens the file as fd 3 and execs the runtime with it
    result = subprocess.run(
        [
            "sh",
            "-c",
            'exec 3<"$0"; exec "$@"',
            str(secret),
            *runtime.cmd("run", "--preserve-fds", "1", "--bundle", str(bundle.path), "c1"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "passed through"
    assert "3" in lines[1:]


def test_no_host_fd_leaks_into_container(runtime, make_bundle, tmp_path):
    bundle = make_bundle("ls", "/proc/self/fd").write()
    leaked = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        result = subprocess.run(
            runtime.cmd("run", "--bundle", str(bundle.path), "c1"),
            capture_output=True,
            text=True,
            pass_fds=(leaked,),
        )
    finally:
        os.close(leaked)
    assert result.returncode == 0, result.stderr
    # 0-2, and ls's own directory fd
    assert sorted(int(x) for x in result.stdout.split()) == [0, 1, 2, 3]


@pytest.mark.parametrize("detach", [False, True])
def test_run_detach_leaves_container_running(runtime, make_bundle, detach):
    bundle = make_bundle("sleep", "1000").write()
    if detach:
        runtime.ok("run", "-d", "--bundle", str(bundle.path), "c1")
        assert runtime.state("c1")["status"] == "running"
    else:
        bundle.spec["process"]["args"] = ["true"]
        bundle.write()
        runtime.ok("run", "--bundle", str(bundle.path), "c1")
        assert runtime("state", "c1").returncode != 0
