"""Attach for the streaming server: a session on the container's monitor (conmon's attach
socket, skiff.engine.attach.AttachSession, as skiff serve's attach uses it), relayed to
the client's streams until the container exits or the client goes away."""

from __future__ import annotations

import asyncio
import contextlib

from skiff.cri.streaming import status
from skiff.cri.streaming.channels import STDERR, STDOUT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.cri.streaming.remote import Remote
    from skiff.cri.streaming.status import Status
    from skiff.engine.attach import AttachSession
    from skiff.paths import Paths

CTL_PAUSE = 0.05  # seconds between two writes to conmon's ctl fifo


def connect(paths: Paths, container_id: str) -> tuple[AttachSession, bool]:
    """A session on the running container's monitor, and whether it has a terminal."""
    from skiff.engine.attach import AttachSession
    from skiff.engine.engine import Engine
    from skiff.engine.exec import running_container
    from skiff.engine.filesystem import ContainerFiles

    engine = Engine(paths)
    try:
        container = running_container(engine, container_id)
    finally:
        engine.close()
    session = AttachSession.connect(ContainerFiles(paths, container.id).bundle)
    return session, bool(container.options.get("tty"))


async def run(paths: Paths, container_id: str, remote: Remote) -> Status:
    from skiff.engine.attach import STDERR_TAG
    from skiff.errors import SkiffError

    loop = asyncio.get_running_loop()
    try:
        session, tty = await loop.run_in_executor(None, connect, paths, container_id)
    except (OSError, SkiffError) as e:
        return status.internal_error(f"error attaching to container: {e}")
    output: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()

    def readable() -> None:
        try:
            received = session.receive()
        except OSError:
            received = None
        if received is None:
            loop.remove_reader(session.fd)
            output.put_nowait(None)
        elif received[1]:
            output.put_nowait(received)

    loop.add_reader(session.fd, readable)
    helpers = [asyncio.ensure_future(_follow_size(remote, session))]
    if remote.options.stdin:
        helpers.append(asyncio.ensure_future(_feed(remote, session)))
    try:
        while (received := await output.get()) is not None:
            tag, data = received
            await remote.output(STDERR if tag == STDERR_TAG and not tty else STDOUT, data)
    finally:
        loop.remove_reader(session.fd)
        for task in helpers:
            task.cancel()
        session.close()
    for channel in (STDOUT, STDERR):
        remote.end_output(channel)
    return status.success()


async def _feed(remote: Remote, session: AttachSession) -> None:
    while data := await remote.stdin.get():
        while data:
            sent = session.send(data)
            if not sent:
                await asyncio.sleep(0.01)  # conmon's socket is full
            data = data[sent:]
    if not remote.options.tty:
        session.close_input()


async def _follow_size(remote: Remote, session: AttachSession) -> None:
    """Only the latest of the sizes waiting, and one write at a time: conmon (2.1.6) acts
    on the first message of each read of its ctl fifo and drops the rest, and kubectl
    attach sends two sizes at once (one larger, then the real one, to force a redraw)."""
    while True:
        size = await remote.resizes.get()
        while not remote.resizes.empty():
            size = remote.resizes.get_nowait()
        with contextlib.suppress(OSError):
            session.resize(*size)
        await asyncio.sleep(CTL_PAUSE)
