"""Debian's docker CLI (28) and docker-py (7.x) against ``skiff serve``: the container
endpoints as the real clients use them (run in the foreground and detached, attach with
and without a TTY, logs, the lifecycle verbs, exec, cp), over the store the ``skiff``
command uses, so that each sees the other's containers.

Where the exact words or the document's shape matter (error messages, inspect's keys,
the output of a command), the same command line runs on the module's dockerd too
(``conftest.dockerd``: Debian's 20.10, the same busybox imported as busybox:test, no
bridge: its containers run with ``--network none``) and the answers are compared, all of
a test's differences reported at once (``Comparison``). dockerd's words are the
reference, as for skiff's own CLI; what differs by nature is masked (container IDs,
dockerd's host paths) or checked apart (the OCI runtime's own words).

Every test runs its own ``skiff serve`` (``conftest.skiff_api``), stopped at the end,
after which no container, process, mount, cgroup or interface may be left.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.interop.conftest import Docker, SkiffApi
from tests.support.terminal import Terminal

ID = re.compile(r"[0-9a-f]{64}")
# Docker's RFC3339Nano with all nine digits (jsonmessage.RFC3339NanoFixed)
TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"
# A shell that says it is ready, then reports a signal and exits with its number.
TRAPS = (
    "trap 'echo got USR1; exit 10' USR1; trap 'echo got TERM; exit 15' TERM; "
    "echo ready; while true; do sleep 0.1; done"
)


@pytest.fixture(autouse=True)
def _no_leaks(no_leaks: None) -> None:
    """As tests/integration: nothing of a test's containers outlives it."""


# --- helpers --------------------------------------------------------------------------


def answer(result: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    return result.returncode, result.stdout, result.stderr


def image(arg: str, name: str) -> str:
    return name if arg == "{image}" else arg


def on_dockerd(
    dockerd: Docker, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``docker ARGS`` on the oracle, ``{image}`` being its busybox:test."""
    return subprocess.run(
        ["docker", "-H", f"unix://{dockerd.socket}", *(image(a, "busybox:test") for a in args)],
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        text=True,
        timeout=60,
    )


def on_skiff(
    api: SkiffApi, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``docker ARGS`` on skiff serve, ``{image}`` being its busybox."""
    return api.docker(*(image(a, "busybox") for a in args), input=input)


MASKED_ID = re.compile(r"\b[0-9a-f]{64}\b|\b[0-9a-f]{12}\b")
# dockerd names a path in a container by the host's path (its overlay's mount point)
ROOT_ON_HOST = re.compile(r"/\S*/merged(?=/)")


def masked(result: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    """The exit code, output and errors, container IDs (each daemon's own) masked and
    paths in the container as the container sees them."""
    code, out, err = answer(result)
    out, err = (MASKED_ID.sub("<ID>", ROOT_ON_HOST.sub("", text)) for text in (out, err))
    return code, out, err


# A container that runs on, on each daemon.
SLEEPER = ["run", "-d", "--network", "none", "--name", "web", "{image}", "sleep", "60"]


class Comparison:
    """The same docker command lines on skiff serve and on dockerd (``{image}``: each
    one's busybox); ``check`` fails with every answer that differed."""

    def __init__(self, api: SkiffApi, dockerd: Docker) -> None:
        self.api = api
        self.dockerd = dockerd
        self.differences: list[str] = []

    def same(self, *args: str, input: str | None = None) -> tuple[int, str, str]:
        """``docker ARGS`` should answer on skiff serve as on dockerd; skiff's answer."""
        theirs = masked(on_dockerd(self.dockerd, *args, input=input))
        ours = masked(on_skiff(self.api, *args, input=input))
        if ours != theirs:
            self.differences.append(
                f"docker {' '.join(args)}\n  skiff:   {ours!r}\n  dockerd: {theirs!r}"
            )
        return ours

    def both(self, *args: str) -> None:
        """``docker ARGS``, which must succeed, on skiff serve and on dockerd."""
        theirs = on_dockerd(self.dockerd, *args)
        assert theirs.returncode == 0, f"dockerd: {theirs}"
        ours = on_skiff(self.api, *args)
        assert ours.returncode == 0, f"skiff: {ours}"

    def check(self) -> None:
        assert not self.differences, "answers unlike dockerd's:\n" + "\n".join(self.differences)


@pytest.fixture
def compare(skiff_api: SkiffApi, dockerd: Docker) -> Iterator[Comparison]:
    """skiff serve and the module's dockerd; a test's containers on dockerd are removed
    at its end."""
    yield Comparison(skiff_api, dockerd)
    left = on_dockerd(dockerd, "ps", "-aq").stdout.split()
    if left:
        on_dockerd(dockerd, "rm", "-f", *left)


def eventually(check: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def state(api: SkiffApi, name: str) -> dict[str, Any]:
    return api.inspect(name)["State"]


def running_sleeper(api: SkiffApi, name: str = "web") -> str:
    """``docker run -d --name NAME busybox sleep 60``: its ID."""
    out = api.ok("run", "-d", "--name", name, "busybox", "sleep", "60")
    assert ID.fullmatch(out.strip()), out
    return out.strip()


def ready(api: SkiffApi, name: str) -> None:
    """Until the container's shell (TRAPS) has set its traps."""
    eventually(lambda: "ready\n" in api.docker("logs", name).stdout, f"{name} to be ready")


# --- docker run in the foreground -----------------------------------------------------


def test_run_rm_prints_and_passes_the_exit_code(skiff_api: SkiffApi) -> None:
    assert answer(skiff_api.docker("run", "--rm", "busybox", "echo", "hi")) == (0, "hi\n", "")
    result = skiff_api.docker("run", "--rm", "busybox", "sh", "-c", "exit 3")
    assert answer(result) == (3, "", "")
    result = skiff_api.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert answer(result) == (0, "out\n", "err\n")
    assert skiff_api.ok("ps", "-aq") == ""  # --rm: all gone
    assert skiff_api.skiff.ok("ps", "-aq") == ""


def test_run_in_the_foreground_as_dockerd(skiff_api: SkiffApi, compare: Comparison) -> None:
    line = ["run", "--rm", "--network", "none", "{image}", "sh", "-c"]
    for script in ("echo out; echo err >&2; exit 3", "echo $((6*7)); exit 0", "kill -9 $$"):
        compare.same(*line, script)
    # the runtime's words are each runtime's own (runc through containerd's shim there)
    line = ["run", "--rm", "--network", "none", "{image}", "nope"]
    theirs, ours = on_dockerd(compare.dockerd, *line), on_skiff(compare.api, *line)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout) == (127, "")
    for result in (ours, theirs):
        assert result.stderr.startswith("docker: Error response from daemon: "), result
        assert 'exec: "nope": executable file not found in $PATH' in result.stderr, result
        assert result.stderr.endswith("\n\nRun 'docker run --help' for more information\n")
    compare.same("run", "--rm", "-i", "--network", "none", "{image}", "cat", input="x\n")
    compare.check()


def test_run_i_feeds_stdin(skiff_api: SkiffApi) -> None:
    result = skiff_api.docker("run", "--rm", "-i", "busybox", "cat", input="data\n")
    assert answer(result) == (0, "data\n", "")
    script = "read a; read b; echo got $b $a"
    result = skiff_api.docker("run", "--rm", "-i", "busybox", "sh", "-c", script, input="1\n2\n")
    assert answer(result) == (0, "got 2 1\n", "")
    # without -i the container's stdin is not the client's
    script = "read a || echo eof"
    result = skiff_api.docker("run", "--rm", "busybox", "sh", "-c", script, input="one\n")
    assert answer(result) == (0, "eof\n", "")


def test_run_it_under_a_terminal(skiff_api: SkiffApi) -> None:
    term = skiff_api.terminal("run", "-it", "--name", "tty", "busybox", "sh")
    try:
        term.expect(rb"/ # ")
        term.write(b"echo $((6*7))\r")
        term.expect(rb"\r\n42\r\n")
        term.write(b"tty\r")
        term.expect(rb"\r\n/dev/pts/\d+\r\n")
        await_size(term, 30, 100)
        term.resize(40, 120)
        await_size(term, 40, 120)
        term.write(b"exit\r")
        assert term.wait(20) == 0
        assert term.settings() == term.initial  # the CLI put the terminal back
    finally:
        term.close()
    found = state(skiff_api, "tty")
    assert (found["Status"], found["ExitCode"]) == ("exited", 0)


def await_size(term: Terminal, rows: int, cols: int, timeout: float = 10) -> None:
    """``stty size`` until the container's terminal is ROWS x COLS (the CLI resizes it
    after the start, and after a SIGWINCH, without waiting)."""
    deadline = time.monotonic() + timeout
    while True:
        term.write(b"stty size\r")
        found = term.expect(rb"\r\n(\d+) (\d+)\r\n")
        if (int(found[1]), int(found[2])) == (rows, cols):
            return
        assert time.monotonic() < deadline, f"the terminal stays {found[0]!r}"
        time.sleep(0.1)


# --- docker run -d, ps, inspect -------------------------------------------------------


def test_run_detached_is_listed_and_inspected(skiff_api: SkiffApi) -> None:
    cid = running_sleeper(skiff_api)
    rows = skiff_api.ok("ps", "--format", "{{.ID}} {{.Names}} {{.Image}} {{.Command}}")
    assert rows == f'{cid[:12]} web busybox "sleep 60"\n'
    assert skiff_api.ok("ps", "-q", "--no-trunc") == f"{cid}\n"
    assert "web" in skiff_api.skiff.ok("ps", "--format", "{{.Names}}").split()
    found = skiff_api.inspect("web")
    assert found["Id"] == cid
    assert found["Name"] == "/web"
    assert found["Path"] == "sleep"
    assert found["Args"] == ["60"]
    assert found["Image"].startswith("sha256:")
    assert found["State"]["Running"] is True
    assert found["State"]["Status"] == "running"
    assert found["State"]["Pid"] > 0
    assert found["Config"]["Image"] == "busybox"
    assert found["Config"]["Cmd"] == ["sleep", "60"]
    assert found["Config"]["Hostname"] == cid[:12]
    assert skiff_api.inspect(cid[:12])["Id"] == cid  # by a prefix of the ID
    assert skiff_api.ok("inspect", "-f", "{{.State.Status}} {{.Name}}", "web") == "running /web\n"


# Keys of dockerd 20.10's document that API 1.45's no longer has (or omits when zero).
OLD_HOST_CONFIG_KEYS = {"KernelMemory", "KernelMemoryTCP"}


def test_inspect_has_dockers_shape(skiff_api: SkiffApi, compare: Comparison) -> None:
    compare.both(*SLEEPER)
    theirs = json.loads(on_dockerd(compare.dockerd, "inspect", "web").stdout)[0]
    ours = skiff_api.inspect("web")
    assert sorted(ours) == sorted(theirs)
    for key in ("State", "Config", "NetworkSettings", "GraphDriver"):
        assert sorted(ours[key]) == sorted(theirs[key]), key
    assert sorted(ours["HostConfig"]) == sorted(set(theirs["HostConfig"]) - OLD_HOST_CONFIG_KEYS)
    for key in ("Running", "Paused", "Restarting", "OOMKilled", "Dead", "ExitCode", "Status"):
        assert ours["State"][key] == theirs["State"][key], key
    for key in ("Path", "Args", "Name", "RestartCount", "Driver", "Platform"):
        assert ours[key] == theirs[key], key
    for key in ("Cmd", "Entrypoint", "Env", "Tty", "OpenStdin", "AttachStdout", "WorkingDir"):
        assert ours["Config"][key] == theirs["Config"][key], key
    assert ours["Config"]["Image"] == "busybox"
    # docker ps's columns but the times
    columns = "{{.Names}} {{.Command}} {{.Ports}} {{.Networks}} {{.Mounts}} {{.Labels}}"
    compare.same("ps", "--format", columns, "--no-trunc")
    compare.check()


# --- logs -----------------------------------------------------------------------------


def test_logs_tail_timestamps_and_streams(skiff_api: SkiffApi) -> None:
    script = "for i in 1 2 3 4; do echo line$i; done; sleep 0.1; echo oops >&2"
    skiff_api.ok("run", "-d", "--name", "lines", "busybox", "sh", "-c", script)
    assert skiff_api.ok("wait", "lines") == "0\n"
    result = skiff_api.docker("logs", "lines")
    assert answer(result) == (0, "line1\nline2\nline3\nline4\n", "oops\n")
    result = skiff_api.docker("logs", "--tail", "2", "lines")
    assert answer(result) == (0, "line4\n", "oops\n")
    result = skiff_api.docker("logs", "--tail", "3", "lines")
    assert answer(result) == (0, "line3\nline4\n", "oops\n")
    result = skiff_api.docker("logs", "--timestamps", "lines")
    assert result.returncode == 0, result
    assert re.fullmatch("".join(f"{TIMESTAMP} line{i}\n" for i in range(1, 5)), result.stdout)
    assert re.fullmatch(f"{TIMESTAMP} oops\n", result.stderr)
    stamps = re.findall(TIMESTAMP, result.stdout)
    assert stamps == sorted(stamps)


def test_logs_tail_as_dockerd(skiff_api: SkiffApi, compare: Comparison) -> None:
    # one stream: dockerd copies stdout and stderr to its log apart, in no set order
    script = "for i in 1 2 3 4; do echo line$i; done"
    run = ["run", "-d", "--network", "none", "--name", "lines", "{image}", "sh", "-c", script]
    compare.both(*run)
    compare.same("wait", "lines")
    for tail in (["--tail", "0"], ["--tail", "1"], ["--tail", "2"], ["--tail", "all"], []):
        compare.same("logs", *tail, "lines")
    compare.same("logs", "--tail", "1", "--follow", "lines")
    compare.check()


def test_logs_follow_until_the_container_exits(skiff_api: SkiffApi) -> None:
    script = "for i in 1 2 3; do echo line$i; sleep 1; done"
    skiff_api.ok("run", "-d", "--name", "ticker", "busybox", "sh", "-c", script)
    follow = skiff_api.popen("logs", "-f", "ticker", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline() == b"line1\n"
        assert follow.poll() is None  # following, while the container runs
        out, err = follow.communicate(timeout=30)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert (follow.returncode, out, err) == (0, b"line2\nline3\n", b"")
    assert state(skiff_api, "ticker")["Status"] == "exited"
    # -f of an exited container: what there is, then the end
    result = skiff_api.docker("logs", "-f", "ticker", timeout=20)
    assert answer(result) == (0, "line1\nline2\nline3\n", "")


# --- the lifecycle verbs --------------------------------------------------------------


def test_stop_start_restart(skiff_api: SkiffApi) -> None:
    running_sleeper(skiff_api)
    first = state(skiff_api, "web")
    assert skiff_api.ok("stop", "-t", "1", "web") == "web\n"
    stopped = state(skiff_api, "web")
    # sleep, PID 1, does not die of SIGTERM: killed after the timeout
    assert (stopped["Status"], stopped["Running"], stopped["ExitCode"]) == ("exited", False, 137)
    assert stopped["FinishedAt"] > first["StartedAt"]
    assert skiff_api.ok("ps", "-q") == ""
    assert skiff_api.ok("stop", "web") == "web\n"  # already stopped: fine
    assert skiff_api.ok("start", "web") == "web\n"
    started = state(skiff_api, "web")
    assert (started["Status"], started["Running"]) == ("running", True)
    assert started["StartedAt"] > first["StartedAt"]
    assert skiff_api.ok("restart", "-t", "1", "web") == "web\n"
    restarted = state(skiff_api, "web")
    assert (restarted["Status"], restarted["Running"]) == ("running", True)
    assert restarted["StartedAt"] > started["StartedAt"]
    assert restarted["Pid"] != started["Pid"]
    assert skiff_api.ok("start", "web") == "web\n"  # already running: fine


def test_verbs_on_a_stopped_container_as_dockerd(skiff_api: SkiffApi, compare: Comparison) -> None:
    compare.both("run", "--network", "none", "--name", "done", "{image}", "true")
    assert compare.same("stop", "done") == (0, "done\n", "")
    for verb in (["stop", "-t", "1"], ["kill"], ["kill", "-s", "USR1"], ["pause"], ["unpause"]):
        compare.same(*verb, "done")
    compare.same("restart", "-t", "0", "done")
    compare.same("wait", "done")
    compare.check()


def test_verbs_on_a_running_container_as_dockerd(skiff_api: SkiffApi, compare: Comparison) -> None:
    compare.both(*SLEEPER)
    compare.same("start", "web")
    compare.same("unpause", "web")
    compare.same("rm", "web")
    compare.same("kill", "-s", "NOSUCHSIG", "web")
    compare.same("pause", "web")
    compare.same("pause", "web")
    compare.same("rm", "web")
    compare.same("exec", "web", "true")
    compare.same("unpause", "web")
    compare.both("run", "-d", "--network", "none", "--name", "other", "{image}", "true")
    compare.same("rename", "other", "web")
    compare.same("rename", "web", "web")
    compare.same("run", "--network", "none", "--name", "web", "{image}", "true")
    compare.same("rm", "-f", "web", "other")
    compare.check()


def test_kill_with_a_signal_and_wait(skiff_api: SkiffApi) -> None:
    skiff_api.ok("run", "-d", "--name", "traps", "busybox", "sh", "-c", TRAPS)
    ready(skiff_api, "traps")
    assert skiff_api.ok("kill", "-s", "USR1", "traps") == "traps\n"
    assert skiff_api.ok("wait", "traps") == "10\n"
    assert skiff_api.ok("logs", "traps") == "ready\ngot USR1\n"
    skiff_api.ok("start", "traps")
    eventually(lambda: skiff_api.ok("logs", "traps").count("ready") == 2, "the second start")
    assert skiff_api.ok("kill", "--signal", "SIGTERM", "traps") == "traps\n"
    assert skiff_api.ok("wait", "traps") == "15\n"
    skiff_api.ok("start", "traps")
    assert skiff_api.ok("kill", "traps") == "traps\n"  # SIGKILL
    assert skiff_api.ok("wait", "traps") == "137\n"
    found = state(skiff_api, "traps")
    assert (found["Status"], found["ExitCode"]) == ("exited", 137)


def test_wait_prints_the_exit_code(skiff_api: SkiffApi) -> None:
    cid = skiff_api.ok("run", "-d", "busybox", "sh", "-c", "sleep 1; exit 7").strip()
    assert skiff_api.ok("wait", cid) == "7\n"
    assert skiff_api.ok("wait", cid[:12]) == "7\n"  # exited already: at once


def test_pause_and_unpause(skiff_api: SkiffApi) -> None:
    running_sleeper(skiff_api)
    assert skiff_api.ok("pause", "web") == "web\n"
    found = state(skiff_api, "web")
    assert (found["Status"], found["Running"], found["Paused"]) == ("paused", True, True)
    assert skiff_api.ok("ps", "--format", "{{.Status}}").endswith("(Paused)\n")
    assert skiff_api.ok("ps", "-q", "--filter", "status=paused") != ""
    assert skiff_api.ok("unpause", "web") == "web\n"
    found = state(skiff_api, "web")
    assert (found["Status"], found["Running"], found["Paused"]) == ("running", True, False)
    assert skiff_api.ok("exec", "web", "echo", "alive") == "alive\n"


def test_rename(skiff_api: SkiffApi) -> None:
    cid = running_sleeper(skiff_api)
    assert skiff_api.ok("rename", "web", "web2") == ""
    assert skiff_api.inspect("web2")["Id"] == cid
    assert skiff_api.inspect("web2")["Name"] == "/web2"
    assert skiff_api.ok("ps", "--format", "{{.Names}}") == "web2\n"
    result = skiff_api.docker("inspect", "web")
    assert answer(result) == (1, "[]\n", "Error: No such object: web\n")
    # the name is taken
    running_sleeper(skiff_api, "other")
    result = skiff_api.docker("rename", "other", "web2")
    assert result.returncode == 1
    assert result.stderr.startswith("Error response from daemon: "), result
    assert "web2" in result.stderr and "already in use" in result.stderr, result


def test_rm_force_a_running_container(skiff_api: SkiffApi) -> None:
    cid = running_sleeper(skiff_api)
    result = skiff_api.docker("rm", "web")
    assert result.returncode == 1
    assert skiff_api.ok("rm", "-f", "web") == "web\n"
    assert skiff_api.ok("ps", "-aq") == ""
    assert skiff_api.skiff.ok("ps", "-aq") == ""
    result = skiff_api.docker("inspect", cid)
    assert answer(result) == (1, "[]\n", f"Error: No such object: {cid}\n")


NO_SUCH = [
    ["rm", "nosuch"],
    ["rm", "-f", "nosuch"],
    ["stop", "nosuch"],
    ["start", "nosuch"],
    ["restart", "nosuch"],
    ["kill", "nosuch"],
    ["pause", "nosuch"],
    ["wait", "nosuch"],
    ["logs", "nosuch"],
    ["exec", "nosuch", "true"],
    ["inspect", "nosuch"],
    ["container", "inspect", "nosuch"],
    ["rename", "nosuch", "other"],
]


@pytest.mark.parametrize("line", NO_SUCH, ids=" ".join)
def test_no_such_container_as_dockerd(compare: Comparison, line: list[str]) -> None:
    compare.same(*line)
    compare.check()


def test_rm_nosuch(skiff_api: SkiffApi) -> None:
    result = skiff_api.docker("rm", "nosuch")
    assert answer(result) == (1, "", "Error response from daemon: No such container: nosuch\n")


# --- exec -----------------------------------------------------------------------------


def test_exec_output_exit_code_and_input(skiff_api: SkiffApi) -> None:
    running_sleeper(skiff_api)
    assert answer(skiff_api.docker("exec", "web", "echo", "hi")) == (0, "hi\n", "")
    assert answer(skiff_api.docker("exec", "web", "sh", "-c", "exit 5")) == (5, "", "")
    result = skiff_api.docker("exec", "web", "sh", "-c", "echo out; echo err >&2; exit 2")
    assert answer(result) == (2, "out\n", "err\n")
    result = skiff_api.docker("exec", "-i", "web", "sh", "-c", "cat; echo end", input="data\n")
    assert answer(result) == (0, "data\nend\n", "")
    result = skiff_api.docker("exec", "-e", "X=y", "-w", "/tmp", "web", "sh", "-c", "echo $X $PWD")
    assert answer(result) == (0, "y /tmp\n", "")
    # -t: the container's terminal (its \r\n), here without one
    result = subprocess.run(
        ["docker", "exec", "-t", "web", "tty"], env=skiff_api.env, capture_output=True
    )
    assert result.returncode == 0, result
    assert re.fullmatch(rb"/dev/pts/\d+\r\n", result.stdout), result
    # a detached exec runs on
    assert skiff_api.ok("exec", "-d", "web", "sh", "-c", "echo bg > /bg") == ""
    eventually(lambda: skiff_api.docker("exec", "web", "cat", "/bg").stdout == "bg\n", "exec -d")


def test_exec_as_dockerd(skiff_api: SkiffApi, compare: Comparison) -> None:
    compare.both(*SLEEPER)
    for options, command in (
        ([], ["sh", "-c", "echo out; echo err >&2; exit 5"]),
        ([], ["nope"]),
        ([], ["/etc"]),
        ([], ["sh", "-c", "kill -9 $$"]),
        (["-u", "1000:1000"], ["id"]),
        (["-u", "nosuch"], ["id"]),
        (["-w", "/nosuch"], ["pwd"]),
        (["-e", "A=b"], ["sh", "-c", "echo $A"]),
    ):
        compare.same("exec", *options, "web", *command)
    compare.same("exec", "-i", "web", "sh", "-c", "cat; exit 4", input="in\n")
    compare.check()


def test_exec_in_a_stopped_container_as_dockerd(skiff_api: SkiffApi, compare: Comparison) -> None:
    compare.both("run", "--network", "none", "--name", "done", "{image}", "true")
    compare.same("exec", "done", "true")
    compare.check()


def test_exec_it_under_a_terminal(skiff_api: SkiffApi) -> None:
    running_sleeper(skiff_api)
    term = skiff_api.terminal("exec", "-it", "web", "sh")
    try:
        term.expect(rb"/ # ")
        await_size(term, 30, 100)
        term.resize(33, 99)
        await_size(term, 33, 99)
        term.write(b"echo $TERM\r")
        term.expect(rb"\r\nxterm\r\n")
        term.write(b"tty; exit\r")
        term.expect(rb"\r\n/dev/pts/\d+\r\n")
        assert term.wait(20) == 0
        assert term.settings() == term.initial
    finally:
        term.close()
    term = skiff_api.terminal("exec", "-it", "web", "sh")
    try:
        term.expect(rb"/ # ")
        term.write(b"exit 7\r")
        assert term.wait(20) == 7
    finally:
        term.close()
    assert state(skiff_api, "web")["Running"] is True  # the container goes on


# --- the skiff command and the API share the store -------------------------------------


def test_skiff_and_docker_see_each_others_containers(skiff_api: SkiffApi) -> None:
    ours = skiff_api.skiff.ok("run", "-d", "--name", "fromskiff", "busybox", "sleep", "60")
    theirs = running_sleeper(skiff_api, "fromdocker")
    names = skiff_api.ok("ps", "--format", "{{.Names}}").split()
    assert sorted(names) == ["fromdocker", "fromskiff"]
    names = skiff_api.skiff.ok("ps", "--format", "{{.Names}}").split()
    assert sorted(names) == ["fromdocker", "fromskiff"]
    assert skiff_api.inspect("fromskiff")["Id"] == ours.strip()
    assert skiff_api.skiff.container("fromdocker")["Id"] == theirs
    # each drives the other's
    assert skiff_api.ok("exec", "fromskiff", "echo", "hi") == "hi\n"
    assert skiff_api.skiff.ok("exec", "fromdocker", "echo", "hi") == "hi\n"
    skiff_api.skiff.ok("stop", "-t", "1", "fromdocker")
    assert skiff_api.ok("ps", "--format", "{{.Names}}") == "fromskiff\n"
    assert skiff_api.ok("rm", "-f", "fromskiff") == "fromskiff\n"
    assert skiff_api.skiff.ok("ps", "-a", "--format", "{{.Names}}") == "fromdocker\n"


# --- docker cp ------------------------------------------------------------------------


def test_cp_both_ways(skiff_api: SkiffApi, tmp_path: Path) -> None:
    running_sleeper(skiff_api)
    source = tmp_path / "hello.txt"
    source.write_text("hello from the host\n")
    source.chmod(0o640)
    skiff_api.ok("cp", str(source), "web:/tmp/")
    assert skiff_api.ok("exec", "web", "cat", "/tmp/hello.txt") == "hello from the host\n"
    assert skiff_api.ok("exec", "web", "stat", "-c", "%a", "/tmp/hello.txt") == "640\n"
    skiff_api.ok("cp", str(source), "web:/renamed.txt")  # to a new name
    assert skiff_api.ok("exec", "web", "cat", "/renamed.txt") == "hello from the host\n"
    # a directory in
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("deep\n")
    skiff_api.ok("cp", str(tree), "web:/")
    assert skiff_api.ok("exec", "web", "cat", "/tree/sub/f") == "deep\n"
    # out: a file, a directory, and a tar on stdout
    skiff_api.ok("exec", "web", "sh", "-c", "mkdir /out; echo inside > /out/made.txt")
    skiff_api.ok("cp", "web:/out/made.txt", str(tmp_path / "made.txt"))
    assert (tmp_path / "made.txt").read_text() == "inside\n"
    skiff_api.ok("cp", "web:/out", str(tmp_path / "outdir"))
    assert (tmp_path / "outdir" / "made.txt").read_text() == "inside\n"
    result = subprocess.run(
        ["docker", "cp", "web:/out/made.txt", "-"], env=skiff_api.env, capture_output=True
    )
    assert result.returncode == 0, result
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as tar:
        member = tar.extractfile("made.txt")
        assert member is not None and member.read() == b"inside\n"


def test_cp_as_dockerd(skiff_api: SkiffApi, compare: Comparison, tmp_path: Path) -> None:
    compare.both(*SLEEPER)
    (tmp_path / "file").write_text("x\n")
    # (no copy in that the daemon refuses: the CLI may then say that the daemon's answer
    # cut its upload short, or may not)
    for line in (
        ["web:/nosuch", str(tmp_path / "x")],
        [str(tmp_path / "nosuch"), "web:/"],
        ["web:/etc/passwd", str(tmp_path / "nodir" / "x")],
        ["web:/etc/hostname/x", str(tmp_path / "y")],
        ["nosuch:/x", str(tmp_path / "y")],
    ):
        compare.same("cp", *line)
    compare.check()


# --- docker-py ------------------------------------------------------------------------


def test_docker_py_run_in_the_foreground(skiff_api: SkiffApi) -> None:
    client = skiff_api.client()
    assert client.ping() is True
    assert client.containers.run("busybox", "echo hi", remove=True) == b"hi\n"
    out = client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"], remove=True)
    assert out == b"out\n"
    out = client.containers.run(
        "busybox", ["sh", "-c", "echo out; echo err >&2"], remove=True, stdout=False, stderr=True
    )
    assert out == b"err\n"
    with pytest.raises(docker.errors.ContainerError) as failed:
        client.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 3"], remove=True)
    assert failed.value.exit_status == 3
    assert failed.value.stderr == b"bad\n"
    assert client.containers.list(all=True) == []


def test_docker_py_detached_container(skiff_api: SkiffApi) -> None:
    client = skiff_api.client()
    container = client.containers.run(
        "busybox", ["sh", "-c", "echo started; sleep 60"], detach=True, name="web"
    )
    assert ID.fullmatch(container.id)
    assert [c.id for c in client.containers.list()] == [container.id]
    assert client.containers.get("web").id == container.id
    container.reload()
    assert container.status == "running"
    assert container.name == "web"
    assert container.attrs["Config"]["Image"] == "busybox"
    eventually(lambda: container.logs() == b"started\n", "the container's first line")
    assert container.logs(stdout=False) == b""
    assert container.exec_run("echo hi") == (0, b"hi\n")
    assert container.exec_run(["sh", "-c", "exit 4"]).exit_code == 4
    result = container.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
    assert result == (0, (b"out\n", b"err\n"))
    container.stop(timeout=1)
    container.reload()
    assert container.status == "exited"
    assert container.attrs["State"]["ExitCode"] == 137
    assert client.containers.list() == []
    assert [c.id for c in client.containers.list(all=True)] == [container.id]
    container.remove()
    assert client.containers.list(all=True) == []
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("web")


def test_docker_py_archives(skiff_api: SkiffApi) -> None:
    client = skiff_api.client()
    container = client.containers.run("busybox", "sleep 60", detach=True, name="web")
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("put.txt")
        info.size = len(b"put here\n")
        info.mode = 0o600
        tar.addfile(info, io.BytesIO(b"put here\n"))
    assert container.put_archive("/tmp", data.getvalue()) is True
    assert container.exec_run("cat /tmp/put.txt") == (0, b"put here\n")
    assert container.exec_run("stat -c %a /tmp/put.txt") == (0, b"600\n")
    stream, stat = container.get_archive("/tmp/put.txt")
    assert stat["name"] == "put.txt"
    assert stat["size"] == len(b"put here\n")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile("put.txt")
        assert member is not None and member.read() == b"put here\n"
    with pytest.raises(docker.errors.NotFound):
        container.get_archive("/nosuch")
    container.remove(force=True)


def test_docker_py_archive_stat_as_dockerd(skiff_api: SkiffApi, compare: Comparison) -> None:
    """The X-Docker-Container-Path-Stat of files put, a directory and a symbolic link."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("put.txt")
        info.size = len(b"put here\n")
        info.mode = 0o640
        info.mtime = 1700000000
        tar.addfile(info, io.BytesIO(b"put here\n"))
        info = tarfile.TarInfo("dir")
        info.type = tarfile.DIRTYPE
        info.mode = 0o750
        info.mtime = 1700000001
        tar.addfile(info)
    theirs_client = docker.DockerClient(base_url=f"unix://{compare.dockerd.socket}", timeout=60)
    stats = []
    try:
        for client, image in ((skiff_api.client(), "busybox"), (theirs_client, "busybox:test")):
            container = client.containers.run(image, "sleep 60", detach=True, network_mode="none")
            assert container.put_archive("/tmp", data.getvalue()) is True
            found = {path: container.get_archive(path)[1] for path in ("/tmp/put.txt", "/tmp/dir")}
            link = container.get_archive("/bin/sh")[1]
            del link["mtime"]  # each daemon's import
            found["/bin/sh"] = link
            stats.append(found)
            container.remove(force=True)
    finally:
        theirs_client.close()
    ours, theirs = stats
    assert ours == theirs
