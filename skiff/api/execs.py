"""Exec endpoints: ``POST /containers/{id}/exec``, ``POST /exec/{id}/start`` (hijacked),
``GET /exec/{id}/json``, ``POST /exec/{id}/resize``.

An exec instance lives in the server's memory from its create until its container is
seen stopped (at the next exec create; dockerd forgets them when the container stops, in
its Cleanup), not until the server stops: a long-lived server would keep one per exec
ever made (the cycle soak, bench/soak.py, saw its memory grow by them). Its start runs
the ``skiff exec`` command, so an exec through the API is exactly ``skiff exec`` (user,
environment, ``--privileged``, 126/127): its stdio are pipes, relayed to the client as
multiplexed frames, or with ``Tty`` a pseudo-terminal of the server's whose master is
relayed raw and whose size follows the client's resizes.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
import subprocess
import sys
import termios
import threading

from aiohttp import web

from skiff.api import fields
from skiff.api.http import Call, answer, blocking, no_content
from skiff.api.streams import MULTIPLEXED, RAW, STDERR, STDOUT, Hijacked, frame
from skiff.errors import Conflict, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.engine.engine import Engine

CHUNK = 65536


class ExecInstance:
    def __init__(self, exec_id: str, container_id: str, config: dict[str, Any]) -> None:
        self.id = exec_id
        self.container_id = container_id
        self.config = config
        self.running = False
        self.exit_code: int | None = None
        self.pid = 0
        self.master: int | None = None  # the terminal's, with Tty
        self.size: tuple[int, int] | None = None

    def document(self) -> dict[str, Any]:
        """Docker's ExecInspectResponse."""
        config = self.config
        return {
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": config.get("DetachKeys") or "",
            "ExitCode": self.exit_code,
            "ID": self.id,
            "OpenStderr": bool(config.get("AttachStderr")),
            "OpenStdin": bool(config.get("AttachStdin")),
            "OpenStdout": bool(config.get("AttachStdout")),
            "ProcessConfig": {
                "arguments": list(config["Cmd"][1:]),
                "entrypoint": config["Cmd"][0],
                "privileged": bool(config.get("Privileged")),
                "tty": bool(config.get("Tty")),
                "user": config.get("User") or "",
            },
            "Running": self.running,
            "Pid": self.pid,
        }


_execs: dict[str, ExecInstance] = {}


def _instance(exec_id: str) -> ExecInstance:
    try:
        return _execs[exec_id]
    except KeyError:
        raise NotFound(f"No such exec instance: {exec_id}") from None


async def create(call: Call) -> web.StreamResponse:
    body = await call.json()
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON: the body is not an object")
    command = body.get("Cmd")
    if isinstance(command, str):
        command = [command]
    if (
        not command
        or not isinstance(command, list)
        or not all(isinstance(part, str) for part in command)
    ):
        raise InvalidArgument("No exec command specified")
    _check_types(body)
    for text in [*command, *(body.get("Env") or []), body.get("User"), body.get("WorkingDir")]:
        if text and "\0" in text:
            raise InvalidArgument("invalid exec: a NUL character is not allowed")

    known = {instance.container_id for instance in _execs.values()}

    def check(engine: Engine) -> tuple[str, set[str]]:
        from skiff.engine.exec import running_container

        container_id = running_container(engine, call.params["id"]).id
        return container_id, _stopped(engine, known - {container_id})

    container_id, stopped = await blocking(check)
    for exec_id in [i for i, instance in _execs.items() if instance.container_id in stopped]:
        del _execs[exec_id]
    exec_id = os.urandom(32).hex()
    _execs[exec_id] = ExecInstance(exec_id, container_id, {**body, "Cmd": command})
    return answer({"Id": exec_id}, 201)


def _stopped(engine: Engine, container_ids: set[str]) -> set[str]:
    """Those of the containers that are not running (or gone): their execs are over."""
    stopped = set()
    for container_id in container_ids:
        try:
            running = engine.containers.get(container_id).state.get("Running")
        except NotFound:
            running = False
        if not running:
            stopped.add(container_id)
    return stopped


_BOOLEANS = ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "Privileged", "Detach")
_STRINGS = ("User", "WorkingDir", "DetachKeys")


def _check_types(body: dict[str, Any]) -> None:
    """The fields' JSON types, with the words of dockerd's decoder."""
    for key in _BOOLEANS:
        fields.flag(body, key, f"ExecConfig.{key}")
    for key in _STRINGS:
        fields.text(body, key, f"ExecConfig.{key}")
    env = body.get("Env")
    if env is not None and not (isinstance(env, list) and all(isinstance(v, str) for v in env)):
        raise fields.wrong_type("ExecConfig.Env", env, "[]string")


async def inspect(call: Call) -> web.StreamResponse:
    return answer(_instance(call.params["id"]).document())


async def resize(call: Call) -> web.StreamResponse:
    instance = _instance(call.params["id"])
    rows, columns = call.number("h", 0) or 0, call.number("w", 0) or 0
    instance.size = (rows, columns)
    if instance.master is not None:
        _set_size(instance.master, rows, columns)
    return no_content(200)


def _set_size(fd: int, rows: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def _argv(instance: ExecInstance, detach: bool) -> list[str]:
    config = instance.config
    argv = [os.path.join(os.path.dirname(sys.executable), "skiff"), "exec"]
    if detach:
        argv.append("-d")
    if config.get("AttachStdin"):
        argv.append("-i")
    if config.get("Tty"):
        argv.append("-t")
    if config.get("Privileged"):
        argv.append("--privileged")
    if config.get("User"):
        argv += ["-u", config["User"]]
    if config.get("WorkingDir"):
        argv += ["-w", config["WorkingDir"]]
    if config.get("DetachKeys"):
        argv += ["--detach-keys", config["DetachKeys"]]
    for variable in config.get("Env") or []:
        argv += ["-e", variable]
    return [*argv, instance.container_id, *config["Cmd"]]


async def start(call: Call) -> web.StreamResponse:
    instance = _instance(call.params["id"])
    body = await call.json(required=False) or {}
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON: the body is not an object")
    if instance.running or instance.exit_code is not None:
        raise Conflict(f"exec {instance.id} has already been started")
    detach = bool(body.get("Detach"))
    tty = bool(instance.config.get("Tty"))
    instance.running = True
    if detach:
        code = await blocking(lambda engine: _run_detached(engine, instance))
        instance.running, instance.exit_code = code is None, code
        return no_content(200)
    hijacked = await Hijacked.take(call, RAW if tty else MULTIPLEXED)
    if tty:
        await _run_on_terminal(instance, hijacked)
    else:
        await _run_on_pipes(instance, hijacked)
    await hijacked.wait_closed()
    return hijacked.response


def _environment(engine: Engine) -> dict[str, str]:
    return {
        **os.environ,
        "SKIFF_ROOT": engine.paths.root,
        "SKIFF_RUNROOT": engine.paths.runroot,
    }


def _run_detached(engine: Engine, instance: ExecInstance) -> int | None:
    ran = subprocess.run(
        _argv(instance, detach=True),
        env=_environment(engine),
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    if ran.returncode:
        raise InvalidArgument(ran.stderr.decode(errors="replace").strip().removeprefix("Error: "))
    return None


async def _run_on_pipes(instance: ExecInstance, hijacked: Hijacked) -> None:
    env = await blocking(_environment)
    stdin = instance.config.get("AttachStdin")
    failures, failure_fd = _failure_pipe(env)
    process = subprocess.Popen(
        _argv(instance, detach=False),
        env=env,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(failure_fd,),
    )
    os.close(failure_fd)
    instance.pid = process.pid
    streams = {process.stdout: STDOUT, process.stderr: STDERR}
    wanted = {
        STDOUT: bool(instance.config.get("AttachStdout")),
        STDERR: bool(instance.config.get("AttachStderr")),
    }

    def relay() -> None:
        import selectors

        selector = selectors.DefaultSelector()
        for pipe in streams:
            selector.register(pipe, selectors.EVENT_READ)  # type: ignore[arg-type]
        open_pipes = len(streams)
        while open_pipes:
            for key, _ in selector.select():
                data = os.read(key.fd, CHUNK)
                if not data:
                    selector.unregister(key.fileobj)
                    open_pipes -= 1
                    continue
                channel = streams[key.fileobj]  # type: ignore[index]
                if wanted[channel]:
                    hijacked.write(frame(channel, data))
        instance.exit_code = process.wait()
        failed = _failure(failures)
        if failed:
            hijacked.write(frame(STDOUT, failed))
        instance.running = False
        hijacked.finish()

    threading.Thread(target=relay, daemon=True).start()
    feeding = asyncio.ensure_future(_feed(hijacked, process.stdin)) if process.stdin else None
    await hijacked.closed.wait()
    if feeding is not None:
        feeding.cancel()


async def _feed(hijacked: Hijacked, pipe: Any) -> None:
    """The client's bytes to the process's stdin, closed when the client closes its side."""
    loop = asyncio.get_running_loop()
    try:
        while data := await hijacked.read():
            await loop.run_in_executor(None, _write_all, pipe.fileno(), data)
    except OSError:
        pass
    finally:
        pipe.close()


def _failure_pipe(env: dict[str, str]) -> tuple[int, int]:
    """A pipe on which ``skiff exec`` reports a process it could not start (its end's
    number goes in ``env``)."""
    read_end, write_end = os.pipe()
    env["SKIFF_EXEC_FAILURE_FD"] = str(write_end)
    return read_end, write_end


def _failure(read_end: int) -> bytes:
    """dockerd's report of an exec that could not start: its message and CRLF, in the
    exec's output (the exit code is then 126)."""
    try:
        message = os.read(read_end, CHUNK)
    finally:
        os.close(read_end)
    return message + b"\r\n" if message else b""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


async def _run_on_terminal(instance: ExecInstance, hijacked: Hijacked) -> None:
    env = await blocking(_environment)
    master, slave = os.openpty()
    import tty as terminal

    terminal.setraw(slave)  # the bytes pass as they are: the container's terminal cooks them
    instance.master = master
    if instance.size:
        _set_size(master, *instance.size)

    def take_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    failures, failure_fd = _failure_pipe(env)
    process = subprocess.Popen(
        _argv(instance, detach=False),
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        preexec_fn=take_terminal,
        pass_fds=(failure_fd,),
    )
    os.close(failure_fd)
    os.close(slave)
    instance.pid = process.pid

    def relay() -> None:
        while True:
            try:
                data = os.read(master, CHUNK)
            except OSError:  # EIO: the last holder of the terminal's other side is gone
                break
            if not data:
                break
            hijacked.write(data)
        instance.exit_code = process.wait()
        failed = _failure(failures)
        if failed:
            hijacked.write(failed)
        instance.running = False
        instance.master = None
        os.close(master)
        hijacked.finish()

    threading.Thread(target=relay, daemon=True).start()
    feeding = asyncio.ensure_future(_feed_terminal(hijacked, master))
    await hijacked.closed.wait()
    feeding.cancel()


async def _feed_terminal(hijacked: Hijacked, master: int) -> None:
    loop = asyncio.get_running_loop()
    while data := await hijacked.read():
        try:
            await loop.run_in_executor(None, _write_all, master, data)
        except OSError:
            return


ROUTES = [
    ("POST", "/containers/{id}/exec", create),
    ("POST", "/exec/{id}/start", start),
    ("GET", "/exec/{id}/json", inspect),
    ("POST", "/exec/{id}/resize", resize),
]
