"""The network verbs: ``network create``, ``ls``, ``inspect``, ``rm``, ``prune``,
``connect`` and ``disconnect``, with Docker's flags, output and exit codes. The work is the
engine's (skiff.engine.networking over skiff.network)."""

from __future__ import annotations

import sys

from skiff.cli.main import (
    FORMAT_HELP,
    INSPECT_FORMAT_HELP,
    Command,
    CommandFailed,
    parse_filters,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.cli.main import Invocation, Options, Parser, Registry
    from skiff.engine.engine import Engine
    from skiff.network.networks import Network

LS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
LS_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED",
}
PRUNE_WARNING = (
    "WARNING! This will remove all custom networks not used by at least one container.\n"
    "Are you sure you want to continue?"
)


def _engine(inv: Invocation) -> Engine:
    from skiff.engine.engine import Engine

    return Engine(inv.paths)


def _key_values(values: list[str]) -> dict[str, str]:
    return {key: value for key, _, value in (text.partition("=") for text in values)}


# --- create -----------------------------------------------------------------------------


def _setup_create(p: Parser) -> None:
    p.flag("-d", "--driver", kind="string", default="bridge", help="Driver to manage the Network")
    p.flag("--gateway", kind="list", help="IPv4 or IPv6 Gateway for the master subnet")
    p.flag("--internal", help="Restrict external access to the network")
    p.flag("--ip-range", kind="list", help="Allocate container ip from a sub-range")
    p.flag("--label", kind="list", help="Set metadata on a network")
    p.flag("-o", "--opt", kind="map", help="Set driver specific options (default map[])")
    p.flag("--subnet", kind="list", help="Subnet in CIDR format that represents a network segment")


def _one(values: list[str], what: str) -> str:
    if len(values) > 1:
        raise CommandFailed(f"skiff supports one {what} per network (IPv4)")
    return values[0] if values else ""


def _create(inv: Invocation, opts: Options) -> int:
    from skiff.engine.networking import create_network

    network = create_network(
        _engine(inv),
        name=opts.args[0],
        driver=opts.driver,
        subnet=_one(opts.subnet, "--subnet"),
        gateway=_one(opts.gateway, "--gateway"),
        ip_range=_one(opts.ip_range, "--ip-range"),
        internal=opts.internal,
        labels=_key_values(opts.label),
        options=_key_values(opts.opt),
    )
    sys.stdout.write(network.id + "\n")
    return 0


# --- ls ---------------------------------------------------------------------------------


def _setup_ls(p: Parser) -> None:
    p.filter_flag('Provide filter values (e.g. "driver=bridge")')
    p.flag("--format", kind="string", help=FORMAT_HELP)
    p.flag("--no-trunc", help="Do not truncate the output")
    p.flag("-q", "--quiet", help="Only display network IDs")


def network_record(network: Network, no_trunc: bool) -> Any:
    """The docker CLI's networkContext of one row of ``network ls``."""
    import time

    from skiff.cli.format import Record

    created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(network.created))
    fraction = f"{network.created % 1:.9f}"[1:].rstrip("0").rstrip(".")
    return Record(
        "*formatter.networkContext",
        {
            "ID": network.id if no_trunc else network.id[:12],
            "Name": network.name,
            "Driver": network.driver,
            "Scope": "local",
            "IPv6": "false",
            "IPv4": "false" if network.driver != "bridge" else "true",
            "Internal": "true" if network.internal else "false",
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(network.labels.items())),
            "CreatedAt": f"{created}{fraction} +0000 UTC",
        },
    )


def _ls(inv: Invocation, opts: Options) -> int:
    from skiff.cli.format import Formatter, TemplateError
    from skiff.cli.volumes import natural_key
    from skiff.engine.networking import select_networks

    source = opts.format or "table"
    if source == "table" and opts.quiet:
        source = "{{.ID}}"
    engine = _engine(inv)
    filters = parse_filters(opts.filter)
    try:
        formatter = Formatter(source, LS_TABLE, LS_HEADERS)
        networks = select_networks(engine, filters)
        networks.sort(key=lambda n: natural_key(n.name))
        sys.stdout.write(formatter.render([network_record(n, opts.no_trunc) for n in networks]))
    except TemplateError as e:
        raise CommandFailed(str(e)) from None
    return 0


# --- inspect ----------------------------------------------------------------------------


def _setup_inspect(p: Parser) -> None:
    p.flag("-f", "--format", kind="string", help=INSPECT_FORMAT_HELP)
    p.flag("-v", "--verbose", help="Verbose output for diagnostics")


def _inspect(inv: Invocation, opts: Options) -> int:
    from skiff.cli.format import Record
    from skiff.cli.listing import print_inspected
    from skiff.engine.networking import inspect_network

    engine = _engine(inv)

    def find(name: str) -> tuple[dict[str, Any], Any]:
        document = inspect_network(engine, engine.networks.get(name))
        return document, Record("network.Inspect", document)

    return print_inspected(inv, opts.args, opts.format, find)


# --- rm ---------------------------------------------------------------------------------


def _setup_rm(p: Parser) -> None:
    p.flag("-f", "--force", help="Do not error if the network does not exist")


def _rm(inv: Invocation, opts: Options) -> int:
    from skiff.engine.networking import remove_network
    from skiff.errors import NotFound, SkiffError

    engine = _engine(inv)
    failed = False
    for name in opts.args:
        try:
            remove_network(engine, name)
        except NotFound as e:
            if not opts.force:
                inv.error(str(e))
                failed = True
            continue
        except SkiffError as e:
            inv.error(str(e))
            failed = True
            continue
        sys.stdout.write(name + "\n")
        sys.stdout.flush()
    return 1 if failed else 0


# --- prune ------------------------------------------------------------------------------


def _setup_prune(p: Parser) -> None:
    p.filter_flag('Provide filter values (e.g. "until=<timestamp>")', short=False)
    p.flag("-f", "--force", help="Do not prompt for confirmation")


def _prune(inv: Invocation, opts: Options) -> int:
    from skiff.cli.images import _confirm
    from skiff.engine.networking import prune_networks

    if not opts.force and not _confirm(PRUNE_WARNING):
        return 0
    removed = prune_networks(_engine(inv), parse_filters(opts.filter))
    if removed:
        sys.stdout.write("Deleted Networks:\n" + "".join(f"{name}\n" for name in removed) + "\n")
    return 0


# --- connect / disconnect ---------------------------------------------------------------


def _setup_connect(p: Parser) -> None:
    p.flag("--alias", kind="list", help="Add network-scoped alias for the container")
    p.flag("--ip", kind="string", help='IPv4 address (e.g., "172.30.100.104")')


def _connect(inv: Invocation, opts: Options) -> int:
    from skiff.engine.networking import connect

    network, container = opts.args
    connect(_engine(inv), container, network, list(opts.alias), opts.ip or "")
    return 0


def _setup_disconnect(p: Parser) -> None:
    p.flag("-f", "--force", help="Force the container to disconnect from a network")


def _disconnect(inv: Invocation, opts: Options) -> int:
    from skiff.engine.networking import disconnect

    network, container = opts.args
    disconnect(_engine(inv), container, network)
    return 0


# --- registration -----------------------------------------------------------------------


def register(registry: Registry) -> None:
    registry.group("network", "Manage networks")
    for path, summary, usage, setup, run, args, aliases in (
        ("network connect", "Connect a container to a network",
         "[OPTIONS] NETWORK CONTAINER", _setup_connect, _connect, (2, 2), ()),
        ("network create", "Create a network", "[OPTIONS] NETWORK", _setup_create, _create,
         (1, 1), ()),
        ("network disconnect", "Disconnect a container from a network",
         "[OPTIONS] NETWORK CONTAINER", _setup_disconnect, _disconnect, (2, 2), ()),
        ("network inspect", "Display detailed information on one or more networks",
         "[OPTIONS] NETWORK [NETWORK...]", _setup_inspect, _inspect, (1, None), ()),
        ("network ls", "List networks", "[OPTIONS]", _setup_ls, _ls, (0, 0), ("network list",)),
        ("network prune", "Remove all unused networks", "[OPTIONS]", _setup_prune, _prune,
         (0, 0), ()),
        ("network rm", "Remove one or more networks", "NETWORK [NETWORK...]", _setup_rm, _rm,
         (1, None), ("network remove",)),
    ):  # fmt: skip
        registry.add(Command(path, summary, usage, setup, run, args, aliases))
