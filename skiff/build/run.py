"""A RUN step: a container of the image so far, run to its end through the engine, its
output streamed to the build's, its changes committed as the step's layer.

The container is an ordinary one (it shows in ``ps -a`` while it runs, as dockerd's
build containers do): the image's config with the RUN's command (no entrypoint) and the
build arguments as environment, on the build's network, without a health check. It is
removed afterwards, whether the command succeeded or not.
"""

from __future__ import annotations

import os

from skiff.errors import SkiffError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from skiff.engine.engine import Engine
    from skiff.images.service import ImageStore


_POLL = 0.5  # seconds between looks at whether the build was cancelled


class Cancelled(SkiffError):
    """The build's client went away: its RUN was killed."""

    def __init__(self) -> None:
        super().__init__("the build was cancelled")


class RunFailed(SkiffError):
    """A RUN whose command failed: dockerd's message, its exit code as the build's."""

    def __init__(self, command: list[str], code: int) -> None:
        super().__init__(f"The command '{' '.join(command)}' returned a non-zero code: {code}")
        self.exit_code = code


def run_step(
    engine: Engine,
    image_id: str,
    command: list[str],
    env: list[str],
    network: str,
    output: Callable[[bytes], None],
    announce: Callable[[str], None],
    lease: str,
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[str, int]:
    """Run ``command`` in a container of ``image_id``; the layer of its changes (blob and
    size, held by ``lease``). ``announce(container_id)`` comes before it runs; once
    ``cancelled()`` says so, the container is killed and the step fails."""
    from skiff.build.snapshot import CONTAINER_FILE, workspace
    from skiff.engine.commit import write_layer
    from skiff.engine.container_changes import init_mountpoints
    from skiff.engine.filesystem import ContainerFiles
    from skiff.engine.options import ContainerOptions, HealthConfig

    options = ContainerOptions(
        image=image_id,
        command=command,
        entrypoint=[""],
        env=env,
        network=network,
        attach=["stdout", "stderr"],
        healthcheck=HealthConfig(["NONE"]),
    )
    with workspace(engine.paths, "run") as marker:
        container = engine.containers.get(engine.create(options).id)
        try:
            # a build killed while the step runs leaves its container named here: the next
            # build (or system prune) removes it (skiff.build.snapshot.clean_abandoned)
            with open(os.path.join(marker, CONTAINER_FILE), "w") as f:
                f.write(container.id)
            announce(container.id)
            code = _run(engine, container.id, output, cancelled)
            if cancelled():
                raise Cancelled()
            if code != 0:
                raise RunFailed(command, code)
            store: ImageStore = engine.images
            skip = init_mountpoints(engine, container.id)
            return write_layer(store, ContainerFiles(engine.paths, container.id).upper, lease, skip)
        finally:
            engine.remove(container.id, force=True, volumes=True)


def _run(
    engine: Engine,
    container_id: str,
    output: Callable[[bytes], None],
    cancelled: Callable[[], bool],
) -> int:
    """Start the container attached, pass what it prints to ``output``; its exit code.
    Once ``cancelled()``, it is killed (and its output still read to the end)."""
    import select

    from skiff.engine.attach import AttachSession, wait_exit_code
    from skiff.engine.engine import start_error_code
    from skiff.engine.filesystem import ContainerFiles
    from skiff.engine.monitor import MonitorPaths

    sessions: list[AttachSession] = []
    try:
        try:
            engine.start(
                container_id, before_start=lambda b: sessions.append(AttachSession.connect(b))
            )
        except SkiffError as e:
            engine.after_failed_start(container_id)
            for session in sessions:
                session.close()
            output(f"{e}\n".encode())
            return start_error_code(str(e))
        session = sessions[0]
        killed = False
        while True:
            ready, _, _ = select.select([session.fd], [], [], _POLL)
            if not ready:
                if not killed and cancelled():
                    engine.kill(container_id)
                    killed = True
                continue
            got = session.receive()
            if got is None:
                break
            if got[1]:
                output(got[1])
    finally:
        for session in sessions:
            session.close()
    files = ContainerFiles(engine.paths, container_id)
    code = wait_exit_code(MonitorPaths(engine.paths.runroot, files.dir, container_id))
    recorded = engine.cleanup(container_id)
    result = recorded if recorded is not None else code
    return result if result is not None else os.EX_SOFTWARE
