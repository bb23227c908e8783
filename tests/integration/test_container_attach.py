"""Attaching to containers: ``run`` in the foreground, ``run -it``, ``start -a -i``,
``attach``: output, input, window size, detach keys and signals, seen from both sides."""

from __future__ import annotations

import signal
import subprocess
import time

from tests.support.cli import SKIFF, Skiff
from tests.support.terminal import Terminal

# A shell that says it is ready, then reports a signal and exits with its number.
TRAPS = (
    "trap 'echo got USR1; exit 10' USR1; trap 'echo got TERM; exit 15' TERM; "
    "echo ready; while true; do sleep 0.1; done"
)


def terminal(skiff: Skiff, *args: str, rows: int = 30, cols: int = 100) -> Terminal:
    return Terminal([SKIFF, *args], skiff.env, rows=rows, cols=cols)


def state(skiff: Skiff, name: str) -> tuple[str, int]:
    found = skiff.container(name)["State"]
    return found["Status"], found["ExitCode"]


def wait_for_line(process: subprocess.Popen[bytes], line: bytes) -> None:
    assert process.stdout is not None
    assert process.stdout.readline() == line


def test_foreground_output_from_the_first_byte(skiff: Skiff, busybox: str) -> None:
    for _ in range(3):
        result = skiff("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
        assert (result.code, result.out, result.err) == (3, "out\n", "err\n")
    result = skiff("run", "--rm", "-a", "stderr", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (result.code, result.out, result.err) == (0, "", "err\n")
    assert skiff.ok("ps", "-aq") == ""


def test_stdin_reaches_the_container_without_a_terminal(skiff: Skiff, busybox: str) -> None:
    result = skiff(
        "run", "--rm", "-i", "busybox", "sh", "-c", "read a; read b; echo got $b $a",
        input="one\ntwo\n",
    )  # fmt: skip
    assert (result.code, result.out, result.err) == (0, "got two one\n", "")
    # without -i the container's stdin is not ours
    result = skiff("run", "--rm", "busybox", "sh", "-c", "read a || echo eof", input="one\n")
    assert (result.code, result.out) == (0, "eof\n")


def test_run_it_terminal_input_resize_and_exit(skiff: Skiff, busybox: str) -> None:
    term = terminal(skiff, "run", "-it", "--name", "tty", "busybox", "sh")
    try:
        term.expect(rb"/ # ")
        term.write(b"stty size; echo $TERM; tty\r")
        term.expect(rb"\r\n30 100\r\nxterm\r\n/dev/pts/0\r\n")
        term.resize(40, 120)
        time.sleep(0.2)  # SIGWINCH reaches skiff, which tells conmon
        term.write(b"stty size\r")
        term.expect(rb"\r\n40 120\r\n")
        term.write(b"exit 3\r")
        assert term.wait() == 3
        assert term.settings() == term.initial
    finally:
        term.close()
    assert state(skiff, "tty") == ("exited", 3)


def test_cat_echoes_what_is_typed(skiff: Skiff, busybox: str) -> None:
    term = terminal(skiff, "run", "-it", "--rm", "busybox", "cat")
    try:
        time.sleep(0.5)  # until skiff has the terminal in raw mode
        term.write(b"hello\r")
        # the container's terminal echoes the line, then cat writes it back
        term.expect(rb"hello\r\nhello\r\n")
        term.write(b"\x04")  # ctrl-d: end of input on the container's terminal
        assert term.wait() == 0
    finally:
        term.close()
    assert skiff.ok("ps", "-aq") == ""


def test_detach_and_attach_again(skiff: Skiff, busybox: str) -> None:
    term = terminal(skiff, "run", "-it", "--name", "tty", "busybox", "sh")
    try:
        term.expect(rb"/ # ")
        term.write(b"x=kept\r")
        term.expect(rb"/ # ")
        term.write(b"\x10\x11")
        assert term.wait() == 0  # run: a detach is no failure
        assert b"read escape sequence" not in term.output
        assert term.settings() == term.initial
    finally:
        term.close()
    assert state(skiff, "tty") == ("running", 0)

    term = terminal(skiff, "attach", "--detach-keys", "ctrl-a,x", "tty", rows=31, cols=101)
    try:
        term.expect(rb"/ # ")  # the shell redraws its prompt for the new window size
        term.write(b"echo $x; stty size\r")
        term.expect(rb"\r\nkept\r\n31 101\r\n")
        term.write(b"\x01x")
        assert term.wait() == 1
        assert term.output.endswith(b"read escape sequence\r\n")
    finally:
        term.close()
    assert state(skiff, "tty") == ("running", 0)

    term = terminal(skiff, "start", "-ai", "tty")  # start -a on a running container attaches
    try:
        term.expect(rb"/ # ")
        term.write(b"exit 4\r")
        assert term.wait() == 4
    finally:
        term.close()
    assert state(skiff, "tty") == ("exited", 4)


def test_start_attach_interactive(skiff: Skiff, busybox: str) -> None:
    skiff.ok("create", "-it", "--name", "tty", "busybox", "sh")
    term = terminal(skiff, "start", "-ai", "tty")
    try:
        term.expect(rb"/ # ")
        term.write(b"echo hi there; exit 6\r")
        term.expect(rb"\r\nhi there\r\n")
        assert term.wait() == 6
    finally:
        term.close()
    skiff.ok("create", "--name", "plain", "busybox", "sh", "-c", "echo out; echo err >&2; exit 2")
    result = skiff("start", "-a", "plain")
    assert (result.code, result.out, result.err) == (2, "out\n", "err\n")


def test_signals_are_proxied_without_a_terminal(skiff: Skiff, busybox: str) -> None:
    run = skiff.popen("run", "--name", "sig", "busybox", "sh", "-c", TRAPS, stdout=subprocess.PIPE)
    try:
        wait_for_line(run, b"ready\n")
        run.send_signal(signal.SIGUSR1)
        assert run.wait(10) == 10
        assert run.stdout is not None and run.stdout.read() == b"got USR1\n"
    finally:
        run.kill()
        run.wait()
    assert state(skiff, "sig") == ("exited", 10)

    skiff.ok("run", "-d", "--name", "sig2", "busybox", "sh", "-c", TRAPS)
    attach = skiff.popen("attach", "sig2", stdout=subprocess.PIPE)
    try:
        time.sleep(0.5)  # attached
        attach.send_signal(signal.SIGTERM)
        assert attach.wait(10) == 15
        assert attach.stdout is not None and attach.stdout.read() == b"got TERM\n"
    finally:
        attach.kill()
        attach.wait()


def test_no_signal_proxy(skiff: Skiff, busybox: str) -> None:
    run = skiff.popen(
        "run", "--sig-proxy=false", "--name", "sig", "busybox", "sh", "-c", TRAPS,
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for_line(run, b"ready\n")
        run.send_signal(signal.SIGUSR1)
        assert run.wait(10) == -signal.SIGUSR1  # skiff died of it; the container did not
    finally:
        run.kill()
        run.wait()
    assert state(skiff, "sig") == ("running", 0)


def test_a_terminal_container_gets_no_proxied_signal(skiff: Skiff, busybox: str) -> None:
    term = terminal(skiff, "run", "-it", "--name", "tty", "busybox", "sh", "-c", TRAPS)
    try:
        term.expect(rb"ready\r\n")
        term.process.send_signal(signal.SIGTERM)
        assert term.wait() == -signal.SIGTERM
        assert term.settings() == term.initial  # raw mode undone on the way out
    finally:
        term.close()
    assert state(skiff, "tty") == ("running", 0)


def test_attach_without_stdin_and_to_output_only(skiff: Skiff, busybox: str) -> None:
    loop = "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done"
    skiff.ok("run", "-dit", "--name", "ticks", "busybox", "sh", "-c", loop)
    attach = skiff.popen(
        "attach", "--no-stdin", "ticks", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    )
    try:
        assert attach.stdout is not None
        assert attach.stdout.readline().startswith(b"tick ")
    finally:
        attach.kill()
        attach.wait()
    # attaching stdin to a terminal container needs a terminal here
    result = skiff("attach", "ticks")
    assert (result.code, result.out, result.err) == (1, "", "the input device is not a TTY\n")
    assert state(skiff, "ticks") == ("running", 0)


def test_bad_requests(skiff: Skiff, busybox: str) -> None:
    skiff.ok("create", "--name", "idle", "busybox", "true")
    result = skiff("attach", "idle")
    assert (result.code, result.err) == (
        1,
        "Error: You cannot attach to a stopped container, start it first\n",
    )
    result = skiff("attach", "nosuch")
    assert (result.code, result.err) == (1, "Error: No such container: nosuch\n")
    skiff.ok("run", "-d", "--name", "up", "busybox", "sleep", "60")
    result = skiff("attach", "--detach-keys", "ctrl-A", "up")
    assert (result.code, result.err) == (1, "Error: Invalid escape keys (ctrl-A) provided\n")
    skiff.ok("pause", "up")
    result = skiff("attach", "up")
    assert (result.code, result.err) == (
        1,
        "Error: You cannot attach to a paused container, unpause it first\n",
    )
    skiff.ok("unpause", "up")
    # run -it without a terminal here fails before anything is created
    result = skiff("run", "-it", "busybox", "true")
    assert (result.code, result.out, result.err) == (1, "", "the input device is not a TTY\n")
    assert skiff.ok("ps", "-aq", "--no-trunc").split() == [
        skiff.container("up")["Id"],
        skiff.container("idle")["Id"],
    ]
