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
        "tcp://ADDRESS:PORT (loopback only without TLS)",
    )
    p.flag("--tls", help="Use TLS on TCP addresses; implied by --tlsverify")
    p.flag("--tlscacert", kind="string", help="Trust certs signed only by this CA")
    p.flag("--tlscert", kind="string", help="Path to TLS certificate file")
    p.flag("--tlskey", kind="string", help="Path to TLS key file")
    p.flag("--tlsverify", help="Use TLS and verify the client's certificate")


def default_socket(runroot: str) -> str:
    return f"unix://{os.path.join(runroot, 'skiff.sock')}"


def _serve(inv: Invocation, opts: Options) -> int:
    from skiff.api.server import TLS, serve

    if os.geteuid() != 0:
        raise CommandFailed("skiff serve needs root: it runs containers for its clients")
    hosts = list(opts.host or []) or [default_socket(inv.paths.runroot)]
    tls = None
    if opts.tls or opts.tlsverify:
        if not opts.tlscert or not opts.tlskey:
            raise CommandFailed("--tls and --tlsverify need --tlscert and --tlskey", 125)
        tls = TLS(opts.tlscert, opts.tlskey, opts.tlscacert or "", bool(opts.tlsverify))
        tls.context()  # a bad file fails now, not at the first client

    def ready() -> None:
        sys.stderr.write(f"skiff serve: API listening on {', '.join(hosts)}\n")
        sys.stderr.flush()

    serve(hosts, inv.paths, ready, tls)
    return 0


def register(registry: Registry) -> None:
    registry.add(
        Command("serve", "Serve the Docker Engine API", "[OPTIONS]", _setup_serve, _serve, (0, 0))
    )
