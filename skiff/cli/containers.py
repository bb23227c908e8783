"""Container verbs of the ``skiff`` command (the engine's side of them is skiff.engine)."""

from __future__ import annotations

from skiff.cli.main import Command, Invocation, Parser, Registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def _no_flags(parser: Parser) -> None:
    pass


def _cleanup(inv: Invocation, opts: argparse.Namespace) -> int:
    """Run by conmon when a container's process has exited."""
    from skiff.engine.engine import Engine

    Engine(inv.paths).cleanup(opts.args[0])
    return 0


def register(registry: Registry) -> None:
    registry.group("container", "Manage containers")
    registry.add(
        Command(
            "container cleanup",
            "Record a container's exit and apply --rm and its restart policy (run by its monitor)",
            "CONTAINER",
            _no_flags,
            _cleanup,
            (1, 1),
        )
    )
