"""What keeps containers going without a daemon: ``system boot`` (run once when the
machine starts, by an init script or a systemd unit) and ``system health-runner`` (the
health-check process the engine starts on demand; see skiff.engine.health_runner)."""

from __future__ import annotations

import os

from skiff.cli.main import Command, CommandFailed, Invocation, Options, Parser, Registry


def _no_flags(parser: Parser) -> None:
    pass


def _boot(inv: Invocation, opts: Options) -> int:
    from skiff.engine.boot import boot
    from skiff.engine.engine import Engine

    _, failed = boot(Engine(inv.paths))
    for container_id, message in failed:
        inv.error(f"cannot start container {container_id}: {message}")
    if failed:
        raise CommandFailed("")
    return 0


def _health_runner(inv: Invocation, opts: Options) -> int:
    """Detach (whoever started it does not wait), then run the health checks."""
    from skiff.engine.health_runner import run

    if os.fork():
        return 0
    os.setsid()
    os.chdir("/")
    run(inv.paths)
    return 0


def register(registry: Registry) -> None:
    registry.add(
        Command(
            "system boot",
            "Start the containers whose restart policy asks for it, after a reboot",
            "",
            _no_flags,
            _boot,
        )
    )
    registry.add(
        Command(
            "system health-runner",
            "Run the health checks of running containers (started by skiff when needed)",
            "",
            _no_flags,
            _health_runner,
        )
    )
