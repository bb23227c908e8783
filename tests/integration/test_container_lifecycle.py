"""The container lifecycle through the real ``skiff`` command: run, create, start, stop,
restart, kill, rm, wait, pause, unpause, rename, update; exit codes, messages, limits, and
what is left on the host afterwards."""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import time

import pytest

from skiff.engine.engine import Engine
from tests.support.cli import Skiff
from tests.support.engine import processes_mentioning
from tests.support.registry import unused_address

ID = re.compile(r"^[0-9a-f]{64}$")


def state(skiff: Skiff, name: str) -> dict:
    return Engine(skiff.paths).containers.get(name).state


def cgroup_file(skiff: Skiff, name: str, controller: str, filename: str) -> str:
    container = Engine(skiff.paths).containers.get(name)
    with open(f"/proc/{container.state['Pid']}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):
                with open(f"/sys/fs/cgroup/{controller}{path}/{filename}") as g:
                    return g.read().strip()
    raise AssertionError(f"no {controller} cgroup")


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# --- run --------------------------------------------------------------------------------


def test_run_prints_output_and_exits_with_the_container_code(skiff: Skiff, busybox: str):
    result = skiff("run", "--name", "c1", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert result.code == 3
    assert result.out == "out\n"
    assert result.err == "err\n"
    assert state(skiff, "c1")["Status"] == "exited"
    assert state(skiff, "c1")["ExitCode"] == 3


def test_run_rm_leaves_nothing(skiff: Skiff, busybox: str):
    assert skiff("run", "--rm", "busybox", "echo", "hi").out == "hi\n"
    assert Engine(skiff.paths).containers.all() == []
    assert os.listdir(skiff.root / "containers") == []


def test_flags_after_the_image_belong_to_the_command(skiff: Skiff, busybox: str):
    out = skiff.ok("run", "--rm", "-e", "A=1", "busybox", "sh", "-c", "echo $A; echo -n x")
    assert out == "1\nx"  # no newline added to a partial line


def test_docker_exit_codes_125_126_127(skiff: Skiff, busybox: str):
    missing = skiff("run", "busybox", "nope-not-here")
    assert missing.code == 127
    assert "executable file not found" in missing.err
    directory = skiff("run", "busybox", "/etc")
    assert directory.code == 126
    # the pull it tries goes to a loopback address where nothing listens
    name = f"{unused_address()}/nosuchimage"
    unknown_image = skiff("run", name)
    assert unknown_image.code == 125
    assert unknown_image.err.splitlines() == [
        f"Unable to find image '{name}:latest' locally",
        f'Error: Get "http://{name.partition("/")[0]}/v2/nosuchimage/manifests/latest": '
        "connect: connection refused",
    ]
    never = skiff("run", "--pull", "never", "nosuchimage")
    assert (never.code, never.err) == (125, "Error: No such image: nosuchimage\n")
    assert len(Engine(skiff.paths).containers.all()) == 2  # the two that failed to start
    assert skiff("run", "--rm", "busybox", "nope-not-here").code == 127
    assert len(Engine(skiff.paths).containers.all()) == 2  # --rm: removed


def test_bad_flag_value_is_a_usage_error_and_creates_nothing(skiff: Skiff, busybox: str):
    result = skiff("run", "-m", "12q", "busybox", "true")
    assert result.code == 125
    assert result.err.splitlines()[0] == (
        'invalid argument "12q" for "-m, --memory" flag: invalid suffix: \'q\''
    )
    assert "Usage:  skiff run [OPTIONS] IMAGE [COMMAND] [ARG...]" in result.err
    bad_attach = skiff("create", "-a", "foo", "busybox")
    assert bad_attach.code == 125
    assert bad_attach.err.startswith(
        'invalid argument "foo" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR'
    )
    assert Engine(skiff.paths).containers.all() == []


def test_a_name_taken_is_refused(skiff: Skiff, busybox: str):
    first = skiff.ok("create", "--name", "web", "busybox").strip()
    result = skiff("run", "--name", "web", "busybox", "true")
    assert result.code == 125
    assert result.err == (
        f'Error: Conflict. The container name "/web" is already in use by container "{first}". '
        "You have to remove (or rename) that container to be able to reuse that name.\n"
    )
    assert [c.id for c in Engine(skiff.paths).containers.all()] == [first]


def test_detached_container_outlives_the_command(skiff: Skiff, busybox: str):
    out = skiff.ok("run", "-d", "--name", "sleeper", "busybox", "sleep", "60")
    assert ID.match(out.strip())
    st = state(skiff, "sleeper")
    assert st["Running"] and st["Status"] == "running"
    assert os.path.exists(f"/proc/{st['Pid']}")
    with open(f"/proc/{st['Pid']}/cmdline", "rb") as f:
        assert f.read() == b"sleep\x0060\x00"
    pid = st["Pid"]
    assert skiff.ok("stop", "-t", "1", "sleeper") == "sleeper\n"
    st = state(skiff, "sleeper")
    assert not st["Running"] and st["ExitCode"] == 137  # sleep ignores SIGTERM as pid 1
    assert st["Pid"] == 0
    assert not os.path.exists(f"/proc/{pid}")


def test_stop_signal_and_kill(skiff: Skiff, busybox: str):
    script = "trap 'echo got TERM; exit 143' TERM; while true; do sleep 0.1; done"
    skiff.ok("run", "-d", "--name", "trapper", "busybox", "sh", "-c", script)
    time.sleep(0.3)
    assert skiff.ok("stop", "trapper") == "trapper\n"
    assert state(skiff, "trapper")["ExitCode"] == 143
    # sleep as pid 1 would ignore SIGUSR1 (no handler); tini (--init) passes it on
    skiff.ok("run", "-d", "--init", "--name", "killme", "busybox", "sleep", "60")
    assert skiff.ok("kill", "-s", "USR1", "killme") == "killme\n"
    wait_for(lambda: not state(skiff, "killme")["Running"])
    assert state(skiff, "killme")["ExitCode"] == 138  # 128 + SIGUSR1, the default action
    result = skiff("kill", "killme")
    assert result.code == 1
    assert "is not running" in result.err
    bad = skiff("kill", "-s", "NOPE", "killme")
    assert bad.code == 1 and bad.err == "Error: Invalid signal: NOPE\n"


def test_rm_of_a_running_container_needs_force(skiff: Skiff, busybox: str):
    cid = skiff.ok("run", "-d", "--name", "busy", "busybox", "sleep", "60").strip()
    result = skiff("rm", "busy")
    assert result.code == 1
    assert result.err == (
        f"Error: You cannot remove a running container {cid}. Stop the container before "
        "attempting removal or force remove\n"
    )
    assert state(skiff, "busy")["Running"]
    skiff.ok("pause", "busy")
    paused = skiff("rm", "busy")
    assert paused.err == (
        f"Error: You cannot remove a paused container {cid}. Unpause and then stop the "
        "container before attempting removal or force remove\n"
    )
    pid = state(skiff, "busy")["Pid"]
    assert skiff.ok("rm", "-f", "busy") == "busy\n"
    assert not os.path.exists(f"/proc/{pid}")
    assert Engine(skiff.paths).containers.all() == []


def test_unknown_containers(skiff: Skiff, busybox: str):
    skiff.ok("create", "--name", "there", "busybox")
    for verb in ("start", "stop", "kill", "rm", "wait", "pause", "unpause", "restart"):
        result = (
            skiff(verb, "nothere", "there") if verb in ("rm", "wait") else skiff(verb, "nothere")
        )
        assert result.code == 1, (verb, result)
        assert "Error: No such container: nothere\n" in result.err, (verb, result)
    assert skiff("rename", "nothere", "x").err == "Error: No such container: nothere\n"


def test_create_then_start_and_wait(skiff: Skiff, busybox: str):
    cid = skiff.ok("create", "--name", "waiter", "busybox", "sh", "-c", "sleep 0.3; exit 7").strip()
    assert ID.match(cid)
    assert state(skiff, "waiter")["Status"] == "created"
    assert skiff.ok("start", "waiter") == "waiter\n"
    assert skiff.ok("wait", "waiter") == "7\n"
    again = skiff("start", "-a", "waiter")  # runs again, attached: its exit code
    assert (again.code, again.out) == (7, "")
    assert state(skiff, "waiter")["ExitCode"] == 7


def test_restart_starts_a_new_process(skiff: Skiff, busybox: str):
    skiff.ok("run", "-d", "--name", "restarter", "busybox", "sleep", "60")
    before = state(skiff, "restarter")["Pid"]
    assert skiff.ok("restart", "-t", "0", "restarter") == "restarter\n"
    after = state(skiff, "restarter")
    assert after["Running"] and after["Pid"] != before
    assert not os.path.exists(f"/proc/{before}")


def test_pause_and_unpause_freeze_the_processes(skiff: Skiff, busybox: str):
    skiff.ok("run", "-d", "--name", "pauser", "busybox", "sleep", "60")
    assert skiff.ok("pause", "pauser") == "pauser\n"
    assert cgroup_file(skiff, "pauser", "freezer", "freezer.state") == "FROZEN"
    assert state(skiff, "pauser")["Status"] == "paused"
    again = skiff("pause", "pauser")
    assert again.code == 1 and "is already paused" in again.err
    assert skiff.ok("unpause", "pauser") == "pauser\n"
    assert cgroup_file(skiff, "pauser", "freezer", "freezer.state") == "THAWED"
    assert skiff.ok("stop", "-t", "0", "pauser") == "pauser\n"  # a paused container stops too


def test_rename(skiff: Skiff, busybox: str):
    skiff.ok("create", "--name", "old", "busybox")
    skiff.ok("create", "--name", "other", "busybox")
    assert skiff.ok("rename", "old", "new") == ""
    assert Engine(skiff.paths).containers.get("new").name == "new"
    taken = skiff("rename", "new", "other")
    assert taken.code == 1 and "is already in use" in taken.err
    bad = skiff("rename", "new", "a b")
    assert bad.code == 1 and "Invalid container name" in bad.err


def test_update_changes_the_limits_of_a_running_container(skiff: Skiff, busybox: str):
    skiff.ok("run", "-d", "--name", "updater", "-m", "64m", "busybox", "sleep", "60")
    assert cgroup_file(skiff, "updater", "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert (
        skiff.ok("update", "-m", "96m", "--memory-swap", "200m", "--pids-limit", "30", "updater")
        == "updater\n"
    )
    assert cgroup_file(skiff, "updater", "memory", "memory.limit_in_bytes") == str(96 << 20)
    assert cgroup_file(skiff, "updater", "pids", "pids.max") == "30"
    options = Engine(skiff.paths).containers.get("updater").options
    assert options["memory"] == 96 << 20 and options["pids_limit"] == 30
    none = skiff("update", "updater")
    assert none.code == 1
    assert none.err == "Error: you must provide one or more flags when using this command\n"


# --- limits, observed from inside and outside ------------------------------------------


def test_memory_limit_ends_in_an_oom_kill(skiff: Skiff, busybox: str):
    result = skiff(
        "run",
        "--name",
        "oom",
        "-m",
        "32m",
        "busybox",
        "sh",
        "-c",
        "head -c 67108864 /dev/zero | tail",
    )
    assert result.code == 137
    seen = skiff.ok("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "oom")
    assert seen == "true 137\n"


def test_fork_bomb_is_contained_by_the_pids_limit(skiff: Skiff, busybox: str):
    bomb = "f() { f | f & }; f 2>/dev/null; exec sleep 60"
    skiff.ok("run", "-d", "--name", "bomb", "--pids-limit", "20", "busybox", "sh", "-c", bomb)
    assert cgroup_file(skiff, "bomb", "pids", "pids.max") == "20"
    wait_for(lambda: cgroup_file(skiff, "bomb", "pids", "pids.events") != "max 0")
    assert int(cgroup_file(skiff, "bomb", "pids", "pids.current")) <= 20
    skiff.ok("rm", "-f", "bomb")


def test_parallel_runs_and_removals_leave_consistent_state(skiff: Skiff, busybox: str):
    names = [f"par{i}" for i in range(20)]
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(
            pool.map(lambda n: skiff("run", "-d", "--name", n, "busybox", "sleep", "60"), names)
        )
    assert [r.code for r in results] == [0] * 20, [r for r in results if r.code]
    engine = Engine(skiff.paths)
    assert sorted(c.name for c in engine.containers.all()) == sorted(names)
    assert all(c.state["Running"] for c in engine.containers.all())
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        removed = list(pool.map(lambda n: skiff("rm", "-f", n), names))
    assert [r.code for r in removed] == [0] * 20, [r for r in removed if r.code]
    assert engine.containers.all() == []
    assert processes_mentioning(str(skiff.runroot) + " ") == []


# --- the container's view of its defaults ----------------------------------------------


def test_secure_defaults_seen_from_inside(skiff: Skiff, busybox: str):
    script = (
        "hostname; cat /etc/hostname; grep -c localhost /etc/hosts; "
        "grep CapEff /proc/self/status; grep Seccomp: /proc/self/status; "
        "df -k /dev/shm | tail -1; echo $PATH; echo $HOME"
    )
    cid = skiff.ok("create", "--name", "defaults", "busybox", "sh", "-c", script).strip()
    out = skiff("start", "-a", "defaults").out.splitlines()
    assert out[0] == cid[:12] and out[1] == cid[:12]
    assert int(out[2]) >= 1
    assert out[3] == "CapEff:\t00000000a80425fb"  # Docker's default capability set
    assert out[4] == "Seccomp:\t2"
    assert out[5].split()[1] == str(64 * 1024)
    assert out[6] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert out[7] == "/root"
    privileged = skiff.ok(
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "grep",
        "-E",
        "CapEff|Seccomp:",
        "/proc/self/status",
    )
    with open("/proc/self/status") as f:
        own = next(line.rstrip("\n") for line in f if line.startswith("CapEff"))
    assert privileged.splitlines() == [own, "Seccomp:\t0"]


@pytest.mark.parametrize("runtime", ["runc", "skiff-runtime"])
def test_runtime_choice(skiff: Skiff, busybox: str, runtime: str):
    out = skiff.ok("run", "--rm", "--runtime", runtime, "busybox", "echo", "ok")
    assert out == "ok\n"
    bad = skiff("run", "--runtime", "nope", "busybox", "true")
    assert bad.code == 125 and bad.err == "Error: unknown or invalid runtime name: nope\n"


def test_state_is_json_in_the_database(skiff: Skiff, busybox: str):
    skiff.ok("create", "--name", "jsonrow", "-l", "a=b", "busybox")
    row = Engine(skiff.paths).containers.db.execute("SELECT options FROM containers").fetchone()
    assert json.loads(row["options"])["labels"] == {"a": "b"}


def test_sharing_namespaces_with_another_container(skiff: Skiff, busybox: str):
    skiff.ok("run", "-d", "--name", "pod", "busybox", "sleep", "60")
    pod_pid = state(skiff, "pod")["Pid"]
    out = skiff.ok(
        "run", "--rm", "--pid", "container:pod", "--ipc", "container:pod",
        "--network", "container:pod", "busybox", "sh", "-c",
        "pidof sleep; readlink /proc/self/ns/net; readlink /proc/self/ns/ipc",
    )  # fmt: skip
    sleep_pid, net, ipc = out.split()
    assert sleep_pid == "1"  # the pod's sleep, pid 1 of the namespace we joined
    assert net == os.readlink(f"/proc/{pod_pid}/ns/net")
    assert ipc == os.readlink(f"/proc/{pod_pid}/ns/ipc")
    skiff.ok("stop", "-t", "0", "pod")
    refused = skiff("run", "--rm", "--pid", "container:pod", "busybox", "true")
    assert refused.code == 125
    assert refused.err.startswith("Error: cannot join PID of a non running container: ")
    host = skiff.ok("run", "--rm", "--pid", "host", "--uts", "host", "busybox", "hostname")
    assert host.strip() == os.uname().nodename


def test_pull_and_platform_flags(skiff: Skiff, busybox: str):
    bad = skiff("run", "--pull", "sometimes", "busybox", "true")
    assert bad.code == 125
    assert bad.err == (
        'Error: invalid pull option: \'sometimes\': must be one of "always", "missing" or "never"\n'
    )
    other = skiff("run", "--platform", "linux/arm64", "busybox", "true")
    assert other.code == 125
    assert other.err == (
        "Error: image with reference busybox was found but does not provide the specified "
        "platform (linux/arm64)\n"
    )
    assert (
        skiff.ok(
            "run", "--rm", "--pull", "never", "--platform", "linux/amd64", "busybox", "echo", "ok"
        )
        == "ok\n"
    )
    assert Engine(skiff.paths).containers.all() == []
