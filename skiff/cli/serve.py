"""``skiff serve``: the Docker Engine API (skiff.api), so that the docker CLI, docker-py
and docker-compose drive skiff unchanged."""

from __future__ import annotations

import os
import sys

from skiff.cli.main import Command, CommandFailed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.cli.main import Invocation, Options, Parser, Registry


def _setup_serve(p: Parser) -> None:
    p.flag(
        "-H",
        "--host",
        kind="list",
        help="Where to listen: unix:///PATH (default RUNROOT/skiff.sock) or "
        "tcp://127.0.0.1:PORT (loopback only)",
    )


def default_socket(runroot: str) -> str:
    return f"unix://{os.path.join(runroot, 'skiff.sock')}"


def _serve(inv: Invocation, opts: Options) -> int:
    from skiff.api.server import serve

    if os.geteuid() != 0:
        raise CommandFailed("skiff serve needs root: it runs containers for its clients")
    hosts = list(opts.host or []) or [default_socket(inv.paths.runroot)]

    def ready() -> None:
        sys.stderr.write(f"skiff serve: API listening on {', '.join(hosts)}\n")
        sys.stderr.flush()

    serve(hosts, inv.paths, ready)
    return 0


def register(registry: Registry) -> None:
    registry.add(
        Command("serve", "Serve the Docker Engine API", "[OPTIONS]", _setup_serve, _serve, (0, 0))
    )
