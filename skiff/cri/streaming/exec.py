"""Exec for the streaming server: ``skiff exec`` run as a child, as skiff serve's exec
runs it (skiff/api/execs.py), so the process is exactly the engine's (its environment,
user, terminal, 126/127 for a command that cannot start). Without a terminal its stdio
are pipes relayed to the client's streams; with one it runs on a pseudo-terminal of ours
whose master is relayed and whose size follows the client's resize events (``skiff
exec -t`` passes our terminal's size on to the container's on SIGWINCH)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import struct
import sys
import termios

from skiff.cri.streaming import status
from skiff.cri.streaming.channels import STDERR, STDOUT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.cri.streaming.remote import Remote
    from skiff.cri.streaming.status import Status
    from skiff.paths import Paths

CHUNK = 65536


def command_line(
    container_id: str, command: list[str], stdin: bool, tty: bool, timeout: int = 0
) -> list[str]:
    """``skiff exec`` of ``command`` (the streaming server's, and ExecSync's with a
    ``timeout`` in seconds)."""
    argv = [os.path.join(os.path.dirname(sys.executable), "skiff"), "exec"]
    if stdin:
        argv.append("-i")
    if tty:
        argv.append("-t")
    if timeout > 0:
        argv += ["--timeout", str(timeout)]
    return [*argv, container_id, *command]


def environment(paths: Paths, failure_fd: int | None = None) -> dict[str, str]:
    """The environment ``skiff exec`` runs in: the store of ``paths``, and the descriptor
    where it reports a process it could not start (skiff/cli/attach.py), if any."""
    env = {**os.environ, "SKIFF_ROOT": paths.root, "SKIFF_RUNROOT": paths.runroot}
    env.pop("SKIFF_EXEC_FAILURE_FD", None)
    if failure_fd is not None:
        env["SKIFF_EXEC_FAILURE_FD"] = str(failure_fd)
    return env


async def run(paths: Paths, container_id: str, command: list[str], remote: Remote) -> Status:
    """Run ``command`` in the container with the client's streams; the final status."""
    options = remote.options
    argv = command_line(container_id, command, options.stdin, options.tty)
    failures, failure_fd = os.pipe2(os.O_CLOEXEC)
    try:
        env = environment(paths, failure_fd)
        if options.tty:
            code = await _on_terminal(argv, env, failure_fd, remote)
        else:
            code = await _on_pipes(argv, env, failure_fd, remote)
        os.close(failure_fd)
        failure_fd = -1
        failed = _failure(failures)
    finally:
        os.close(failures)
        if failure_fd >= 0:
            os.close(failure_fd)
    for channel in (STDOUT, STDERR):
        remote.end_output(channel)
    if failed:
        return status.internal_error(failed)
    if code:
        return status.exit_code(command, code)
    return status.success()


def _failure(read_end: int) -> str:
    os.set_blocking(read_end, False)
    try:
        return os.read(read_end, CHUNK).decode(errors="replace").strip()
    except BlockingIOError:
        return ""


async def _on_pipes(argv: list[str], env: dict[str, str], failure_fd: int, remote: Remote) -> int:
    pipe = asyncio.subprocess.PIPE
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        stdin=pipe if remote.options.stdin else asyncio.subprocess.DEVNULL,
        stdout=pipe,
        stderr=pipe,
        pass_fds=(failure_fd,),
    )
    assert process.stdout is not None and process.stderr is not None
    relays = [
        asyncio.ensure_future(_relay(process.stdout, STDOUT, remote)),
        asyncio.ensure_future(_relay(process.stderr, STDERR, remote)),
    ]
    feeding = asyncio.ensure_future(_feed(remote, process.stdin)) if process.stdin else None
    try:
        await asyncio.gather(*relays)
        return await process.wait()
    finally:
        for task in [*relays, feeding]:
            if task is not None:
                task.cancel()
        if process.returncode is None:  # the client went away: so does the command
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def _relay(pipe: asyncio.StreamReader, channel: int, remote: Remote) -> None:
    while data := await pipe.read(CHUNK):
        await remote.output(channel, data)


async def _feed(remote: Remote, pipe: asyncio.StreamWriter) -> None:
    try:
        while data := await remote.stdin.get():
            pipe.write(data)
            await pipe.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        pipe.close()


def _set_size(fd: int, rows: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def _take_terminal() -> None:
    """In the child: a session of its own whose controlling terminal is its stdin, so our
    window size changes reach it as SIGWINCH."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


async def _on_terminal(
    argv: list[str], env: dict[str, str], failure_fd: int, remote: Remote
) -> int:
    import tty

    master, slave = os.openpty()
    try:
        tty.setraw(slave)  # bytes pass as they are: the container's own terminal cooks them
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:  # a size that came before the start
                _set_size(master, *remote.resizes.get_nowait())
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            pass_fds=(failure_fd,),
            preexec_fn=_take_terminal,
        )
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    loop = asyncio.get_running_loop()
    output: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(master, CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: the last holder of the other side is gone
            data = b""
        if not data:
            loop.remove_reader(master)
        output.put_nowait(data)

    loop.add_reader(master, readable)
    helpers = [
        asyncio.ensure_future(_feed_terminal(remote, master)),
        asyncio.ensure_future(_follow_size(remote, master)),
    ]
    try:
        while data := await output.get():
            await remote.output(STDOUT, data)
        return await process.wait()
    finally:
        loop.remove_reader(master)
        for task in helpers:
            task.cancel()
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        os.close(master)


async def _feed_terminal(remote: Remote, master: int) -> None:
    """The client's keys to the terminal. Its end of file is not passed on: a terminal
    has none (the user types ctrl-d, which the container's terminal turns into one)."""
    loop = asyncio.get_running_loop()
    while data := await remote.stdin.get():
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(master, view) :]
            except BlockingIOError:
                writable = loop.create_future()
                loop.add_writer(master, writable.set_result, None)
                try:
                    await writable
                finally:
                    loop.remove_writer(master)
            except OSError:
                return


async def _follow_size(remote: Remote, master: int) -> None:
    while True:
        rows, columns = await remote.resizes.get()
        with contextlib.suppress(OSError):
            _set_size(master, rows, columns)
