"""``skiff exec``: a process in a running container, seen from inside and outside."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import SKIFF, Skiff
from tests.support.terminal import Terminal

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture
def box(skiff: Skiff, busybox: str) -> Iterator[str]:
    """A running container named ``box``; its ID."""
    yield skiff.ok("run", "-d", "--name", "box", "busybox", "sleep", "600").strip()


def no_exec_leftovers(skiff: Skiff) -> None:
    work = skiff.runroot / "exec"
    assert not work.exists() or os.listdir(work) == []


def test_output_streams_and_exit_code(skiff: Skiff, box: str) -> None:
    result = skiff("exec", "box", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.code, result.out, result.err) == (3, "out\n", "err\n")
    assert skiff("exec", box[:12], "true").code == 0
    no_exec_leftovers(skiff)


def test_a_file_is_executed_with_its_arguments(skiff: Skiff, box: str) -> None:
    # Not a busybox applet run by the shell: a script file the kernel executes.
    skiff.ok("exec", "box", "sh", "-c", "printf '#!/bin/sh\\necho script $0 $1\\n' > /s")
    skiff.ok("exec", "box", "chmod", "755", "/s")
    assert skiff.ok("exec", "box", "/s", "a b") == "script /s a b\n"
    # flags after the container belong to the command
    assert skiff.ok("exec", "box", "sh", "-c", "echo $0", "-u") == "-u\n"


def test_environment_user_and_workdir_seen_inside(skiff: Skiff, busybox: str, tmp_path: Path):
    skiff.ok(
        "run", "-d", "--name", "box", "-e", "FROM_RUN=1", "-e", "SHARED=run",
        "busybox", "sleep", "600",
    )  # fmt: skip
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\nFROM_FILE=file\nSHARED=file\nPASSED\n")
    skiff.env["PASSED"] = "through"  # a bare name in the file takes the client's value
    result = skiff(
        "exec", "-u", "nobody", "-w", "/tmp", "-e", "FOO=bar", "--env-file", str(env_file),
        "box", "sh", "-c", "id -u; id -g; pwd; env",
    )  # fmt: skip
    assert result.code == 0, result
    uid, gid, cwd, *env = result.out.splitlines()
    assert (uid, gid, cwd) == ("65534", "65534", "/tmp")
    container_id = skiff.container("box")["Id"]
    variables = dict(line.split("=", 1) for line in env)
    assert variables == {
        "PATH": DEFAULT_PATH,
        "HOSTNAME": container_id[:12],
        "FROM_RUN": "1",
        "SHARED": "file",
        "FROM_FILE": "file",
        "PASSED": "through",
        "FOO": "bar",
        "HOME": "/",
        "SHLVL": "1",
        "PWD": "/tmp",
    }
    # The container's own user and directory by default; HOME follows the user.
    assert skiff.ok("exec", "box", "sh", "-c", "id -u; pwd; echo $HOME") == "0\n/\n/root\n"
    assert skiff.ok("exec", "-u", "1000:1000", "box", "id") == "uid=1000 gid=1000 groups=1000\n"


def test_capabilities_are_the_containers_and_all_with_privileged(skiff: Skiff, box: str):
    def caps(*flags: str) -> dict[str, str]:
        out = skiff.ok("exec", *flags, "box", "grep", "^Cap", "/proc/self/status")
        return dict(line.split(":\t") for line in out.splitlines())

    plain = caps()
    assert plain["CapEff"] == plain["CapBnd"] == "00000000a80425fb"  # Docker's 14
    privileged = caps("--privileged")
    assert privileged["CapEff"] == privileged["CapPrm"] == privileged["CapBnd"]
    assert int(privileged["CapEff"], 16) & ~0xA80425FB  # more than Docker's default
    nobody = caps("-u", "nobody")
    assert nobody["CapEff"] == "0000000000000000"


def test_stdin_only_with_interactive(skiff: Skiff, box: str) -> None:
    assert skiff("exec", "-i", "box", "cat", input="hello\n").out == "hello\n"
    assert skiff("exec", "box", "cat", input="hello\n").out == ""


@pytest.mark.parametrize(
    ("args", "code", "detail"),
    [
        (["nope"], 127, 'exec: "nope": executable file not found in $PATH'),
        (["/nope"], 127, 'exec: "/nope": stat /nope: no such file or directory'),
        (["/etc"], 126, 'exec: "/etc": permission denied'),
        (
            ["-w", "/nonexistent", "box", "pwd"],
            127,
            'chdir to cwd ("/nonexistent") set in config.json failed: no such file or directory',
        ),
    ],
)
def test_a_process_that_cannot_start(
    skiff: Skiff, box: str, args: list[str], code: int, detail: str
) -> None:
    argv = args if "box" in args else ["box", *args]
    result = skiff("exec", *argv)
    message = f"OCI runtime exec failed: exec failed: unable to start container process: {detail}"
    assert (result.code, result.out, result.err) == (code, "", f"{message}: unknown\n")
    no_exec_leftovers(skiff)


def test_bad_requests(skiff: Skiff, box: str) -> None:
    result = skiff("exec", "-w", "relative", "box", "pwd")
    assert (result.code, result.err) == (
        126,
        "OCI runtime exec failed: exec failed: Cwd must be an absolute path: unknown\n",
    )
    result = skiff("exec", "-u", "nosuch", "box", "true")
    assert (result.code, result.err) == (
        1,
        "Error: unable to find user nosuch: no matching entries in passwd file\n",
    )
    result = skiff("exec", "--detach-keys", "foo", "box", "true")
    assert (result.code, result.err) == (1, "Error: Invalid escape keys (foo) provided\n")
    result = skiff("exec", "nosuch", "true")
    assert (result.code, result.err) == (1, "Error: No such container: nosuch\n")
    result = skiff("exec", "box")
    assert result.code == 1
    assert result.err.startswith("skiff: 'skiff exec' requires at least 2 arguments\n")
    no_exec_leftovers(skiff)


def test_exec_into_a_container_that_is_not_running(skiff: Skiff, busybox: str) -> None:
    created = skiff.ok("create", "--name", "idle", "busybox", "sleep", "600").strip()
    result = skiff("exec", "idle", "true")
    assert (result.code, result.out, result.err) == (
        1,
        "",
        f"Error: Container {created} is not running\n",
    )
    exited = skiff.ok("run", "-d", "busybox", "true").strip()
    skiff.ok("wait", exited)
    result = skiff("exec", exited[:12], "true")
    assert (result.code, result.err) == (1, f"Error: Container {exited} is not running\n")


def test_exec_into_a_paused_container(skiff: Skiff, box: str) -> None:
    skiff.ok("pause", "box")
    result = skiff("exec", "box", "true")
    assert (result.code, result.err) == (
        1,
        "Error: Container box is paused, unpause the container before exec\n",
    )
    skiff.ok("unpause", "box")
    assert skiff("exec", "box", "true").code == 0


def test_detached(skiff: Skiff, box: str) -> None:
    started = time.monotonic()
    result = skiff("exec", "-d", "box", "sh", "-c", "sleep 0.3; echo done > /marker; echo x")
    assert (result.code, result.out, result.err) == (0, "", "")
    assert time.monotonic() - started < 5
    assert skiff("exec", "box", "cat", "/marker").code == 1  # still sleeping
    deadline = time.monotonic() + 10
    while skiff("exec", "box", "cat", "/marker").out != "done\n":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    result = skiff("exec", "-d", "box", "nope")
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        "Error: OCI runtime exec failed: exec failed: unable to start container process: "
        'exec: "nope": executable file not found in $PATH: unknown\n'
    )
    # -d -t: the terminal is kept for the process, which runs on
    skiff.ok("exec", "-d", "-t", "box", "sh", "-c", "sleep 0.5; tty > /tty")
    deadline = time.monotonic() + 10
    while not re.fullmatch(r"/dev/pts/\d+\n", skiff("exec", "box", "cat", "/tty").out):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    no_exec_leftovers(skiff)


def test_tty_without_a_terminal_here(skiff: Skiff, box: str) -> None:
    result = skiff("exec", "-t", "box", "sh", "-c", "tty; echo $TERM")
    assert result.code == 0, result
    assert re.fullmatch(r"/dev/pts/\d+\r\nxterm\r\n", result.out), result
    result = skiff("exec", "-it", "box", "true")
    assert (result.code, result.err) == (1, "the input device is not a TTY\n")


def _exec_terminal(skiff: Skiff, *args: str) -> Terminal:
    """``skiff exec ARGS`` (a shell) on a 30x100 terminal, once its prompt is there (what
    is typed earlier, before raw mode, the terminal itself would echo)."""
    term = Terminal([SKIFF, "exec", *args], skiff.env, rows=30, cols=100)
    term.expect(rb"/ # ")
    return term


def test_terminal_size_input_output_and_exit_code(skiff: Skiff, box: str) -> None:
    term = _exec_terminal(skiff, "-it", "box", "sh")
    try:
        term.write(b"stty size; echo $TERM\r")
        term.expect(rb"\r\n30 100\r\nxterm\r\n")
        term.resize(33, 99)
        time.sleep(0.2)  # SIGWINCH reaches skiff, which resizes the container's terminal
        term.write(b"stty size\r")
        term.expect(rb"\r\n33 99\r\n")
        term.write(b"exit 7\r")
        assert term.wait() == 7
    finally:
        term.close()
    no_exec_leftovers(skiff)


def test_detach_keys_leave_the_process_running(skiff: Skiff, box: str) -> None:
    term = _exec_terminal(skiff, "-it", "box", "sh")
    try:
        term.write(b"echo $$ > /shell\r")
        term.expect(rb"echo \$\$ > /shell\r\n")
        term.write(b"\x10\x11")
        assert term.wait() == 1
        assert b"read escape sequence\r\n" in term.output
        assert term.settings() == term.initial  # raw mode undone
    finally:
        term.close()
    shell = skiff.ok("exec", "box", "cat", "/shell").strip()
    assert shell in skiff.ok("exec", "box", "ps", "-o", "pid,comm").split()
    skiff.ok("exec", "box", "kill", "-HUP", shell)
    # Another sequence, and a key that breaks it passes through.
    term = _exec_terminal(skiff, "-it", "--detach-keys", "q,w", "box", "sh")
    try:
        term.write(b"echo qa\r")
        term.expect(rb"\r\nqa\r\n")
        term.write(b"qw")
        assert term.wait() == 1
    finally:
        term.close()
    no_exec_leftovers(skiff)


def test_terminal_restored_when_killed(skiff: Skiff, box: str) -> None:
    term = _exec_terminal(skiff, "-it", "box", "sh")
    try:
        assert term.settings() != term.initial  # raw
        term.process.send_signal(signal.SIGTERM)
        assert term.wait() == -signal.SIGTERM
        assert term.settings() == term.initial
    finally:
        term.close()


def test_exec_events(skiff: Skiff, box: str) -> None:
    since = str(time.time() - 1)
    assert skiff("exec", box, "sh", "-c", "exit 4").code == 4
    out = skiff.ok(
        "events", "--since", since, "--until", str(time.time() + 1),
        "--filter", "container=" + box,
        "--format", '{{.Action}}|{{index .Actor.Attributes "exitCode"}}',
    )  # fmt: skip
    execs = [line for line in out.splitlines() if line.startswith("exec")]
    assert execs == [
        "exec_create: sh -c exit 4|<no value>",
        "exec_start: sh -c exit 4|<no value>",
        "exec_die|4",
    ]


def _ignored(status: str) -> int:
    return int(re.search(r"^SigIgn:\s*([0-9a-f]+)$", status, re.MULTILINE)[1], 16)  # type: ignore[index]


def test_container_processes_start_with_sigpipe_and_sigxfsz_not_ignored(
    skiff: Skiff, box: str
) -> None:
    """Python ignores SIGPIPE and SIGXFSZ, what started the runtime may ignore others
    (the C library's own 32 and 33 among them), and an ignore survives execve: the runtime
    restores every one, or `yes | head` in a container never ends (yes spins on EPIPE)."""
    run = skiff.ok("run", "--rm", "busybox", "cat", "/proc/self/status")
    assert _ignored(run) == 0
    execed = skiff.ok("exec", "box", "cat", "/proc/self/status")
    assert _ignored(execed) == 0
    out = skiff.ok("exec", "box", "sh", "-c", f"yes {'x' * 60} | head -c 1000000 | wc -c")
    assert out.strip() == "1000000"
