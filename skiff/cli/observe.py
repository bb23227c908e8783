"""The observing verbs: ``logs``, ``stats``, ``top`` and ``events``, with Docker's flags and
output (the engine's side of them: skiff.engine.logs, .stats, .top, .events).

``logs`` writes the container's stdout to stdout and its stderr to stderr. ``stats``
streams a table a second (redrawn in place on a terminal, one table after another
otherwise); with ``--no-stream`` it prints one, its CPU column measured over a second.
``events`` prints recorded events and, unless ``--until`` has passed, streams new ones.
Every error exits 1, as the docker client's do.
"""

from __future__ import annotations

import os
import sys
import time

from skiff.cli.main import Command, CommandFailed, parse_filters

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from skiff.cli.main import Invocation, Options, Parser, Registry
    from skiff.engine.containers import Container
    from skiff.engine.engine import Engine
    from skiff.engine.events import Event
    from skiff.engine.stats import Stats

STATS_TABLE = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}"
    "\t{{.BlockIO}}\t{{.PIDs}}"
)
STATS_HEADERS = {
    "Container": "CONTAINER",
    "Name": "NAME",
    "ID": "CONTAINER ID",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}
STATS_INTERVAL = 1.0
_CLEAR_SCREEN = "\033[2J\033[H"
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
_TIME_HELP = 'timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)'


def _engine(inv: Invocation) -> Engine:
    from skiff.engine.engine import Engine

    return Engine(inv.paths)


def _time_option(name: str, value: str, now: float, wrap: bool = True) -> int:
    """A --since/--until value in nanoseconds; Docker's message for a bad one."""
    from skiff.engine.timestamps import TimeValueError, parse_option, parse_time

    try:
        return parse_option(name, value, now) if wrap else parse_time(value, now)
    except TimeValueError as e:
        raise CommandFailed(str(e)) from None


# --- logs -------------------------------------------------------------------------------


def _logs_flags(p: Parser) -> None:
    p.flag("--details", help="Show extra details provided to logs")
    p.flag("-f", "--follow", help="Follow log output")
    p.flag("--since", kind="string", help=f"Show logs since {_TIME_HELP}")
    p.flag(
        "-n",
        "--tail",
        kind="string",
        default="all",
        help="Number of lines to show from the end of the logs",
    )
    p.flag("-t", "--timestamps", help="Show timestamps")
    p.flag("--until", kind="string", help=f"Show logs before a {_TIME_HELP}")


def _tail(value: str) -> int | None:
    """The daemon's reading of --tail: a number, else (``all``, junk, negative) all."""
    import re

    if re.fullmatch(r"[+-]?[0-9]+", value) and int(value) >= 0:
        return int(value)
    return None


def _logs(inv: Invocation, opts: Options) -> int:
    from skiff.engine.logs import ContainerLog, details_prefix

    now = time.time()
    since = _time_option("since", opts.since, now) if opts.since else None
    until = _time_option("until", opts.until, now) if opts.until and opts.until != "0" else None
    engine = _engine(inv)
    log = ContainerLog(engine, engine.containers.get(opts.args[0]))
    details = details_prefix(log.attributes()) if opts.details else b""
    streams: dict[str, BinaryIO] = {"stderr": sys.stderr.buffer}
    stdout = sys.stdout.buffer
    for line in log.lines(since, until, _tail(opts.tail), opts.follow):
        out = streams.get(line.stream, stdout)
        if opts.timestamps:
            out.write(line.timestamp().encode() + b" " + details + line.text)
        else:
            out.write(details + line.text)
        if opts.follow:
            out.flush()
    return 0


# --- stats ------------------------------------------------------------------------------


def _stats_flags(p: Parser) -> None:
    p.flag("-a", "--all", help="Show all containers (default shows just running)")
    p.flag(
        "--format",
        kind="string",
        help="Format output using a custom template:\n"
        "'table':            Print output in table format with column headers (default)\n"
        "'table TEMPLATE':   Print output in table format using the given Go template\n"
        "'json':             Print in JSON format\n"
        "'TEMPLATE':         Print output using the given Go template.",
    )
    p.flag("--no-stream", help="Disable streaming stats and only pull the first result")
    p.flag("--no-trunc", help="Do not truncate output")


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, four significant digits (``680KiB``)."""
    unit = 0
    while size >= 1024.0 and unit < len(_BINARY_UNITS) - 1:
        size /= 1024.0
        unit += 1
    return f"{size:.4g}{_BINARY_UNITS[unit]}"


def stats_record(row: Stats, trunc: bool, invalid: bool = False) -> Any:
    """The docker CLI's statsContext of one row."""
    from skiff.cli.format import Record
    from skiff.units import human_size_precision

    def pair(a: float, b: float) -> str:
        return human_size_precision(a, 3) + " / " + human_size_precision(b, 3)

    return Record(
        "*container.statsContext",
        {
            "Container": row.container,
            "Name": row.name or "--",
            "ID": row.id[:12] if trunc else row.id,
            "CPUPerc": "--" if invalid else f"{row.cpu_percent:.2f}%",
            "MemUsage": "-- / --"
            if invalid
            else bytes_size(row.memory) + " / " + bytes_size(row.memory_limit),
            "MemPerc": "--" if invalid else f"{row.memory_percent:.2f}%",
            "NetIO": "--" if invalid else pair(row.net_rx, row.net_tx),
            "BlockIO": "--" if invalid else pair(row.block_read, row.block_write),
            "PIDs": "--" if invalid else str(row.pids),
        },
    )


def _stats_targets(
    engine: Engine, names: list[str], all: bool, ids: dict[str, str]
) -> tuple[list[tuple[str, Container]], set[str]]:
    """The containers of this round (as named, container) and the names now gone."""
    from skiff.errors import NotFound

    if not names:
        return [(c.short_id, c) for c in engine.list(all)], set()
    found, gone = [], set()
    for name in names:
        try:
            found.append((name, engine.containers.get(ids.get(name, name))))
        except NotFound:
            gone.add(name)
    return found, gone


def _stats(inv: Invocation, opts: Options) -> int:
    from skiff.cli.format import Formatter, TemplateError
    from skiff.engine.stats import Collector, Stats
    from skiff.errors import NotFound

    engine = _engine(inv)
    ids: dict[str, str] = {}
    errors = []
    for name in opts.args:
        try:
            ids[name] = engine.containers.get(name).id
        except NotFound as e:
            errors.append(str(e))
    if errors:
        raise CommandFailed("\n".join(errors))
    try:
        formatter = Formatter(opts.format or "table", STATS_TABLE, STATS_HEADERS)
    except TemplateError as e:
        raise CommandFailed(str(e)) from None
    collector = Collector()
    on_terminal = not opts.no_stream and _is_terminal(sys.stdout)
    targets, _ = _stats_targets(engine, opts.args, opts.all, ids)
    collector.round(targets)
    while True:
        time.sleep(STATS_INTERVAL)
        targets, gone = _stats_targets(engine, opts.args, opts.all, ids)
        rows = [stats_record(r, not opts.no_trunc) for r in collector.round(targets)]
        rows += [stats_record(Stats(n, ids[n], ""), not opts.no_trunc, True) for n in gone]
        try:
            text = formatter.render(rows)
        except TemplateError as e:
            raise CommandFailed(str(e)) from None
        sys.stdout.write((_CLEAR_SCREEN if on_terminal else "") + text)
        sys.stdout.flush()
        if opts.no_stream:
            return 0


def _is_terminal(stream: Any) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False


# --- top --------------------------------------------------------------------------------


def _no_flags(p: Parser) -> None:
    pass


def _top(inv: Invocation, opts: Options) -> int:
    from skiff.cli.format import tabwrite
    from skiff.engine.top import top

    titles, rows = top(_engine(inv), opts.args[0], " ".join(opts.args[1:]))
    text = "\n".join("\t".join(row) for row in [titles, *rows])
    sys.stdout.write(tabwrite(text + "\n", minwidth=20, padding=3))
    return 0


# --- events -----------------------------------------------------------------------------


def _events_flags(p: Parser) -> None:
    p.filter_flag("Filter output based on conditions provided")
    p.flag(
        "--format",
        kind="string",
        help="Format output using a custom template:\n"
        "'json':             Print in JSON format\n"
        "'TEMPLATE':         Print output using the given Go template.",
    )
    p.flag("--since", kind="string", help="Show all events created since timestamp")
    p.flag("--until", kind="string", help="Stream events until this timestamp")


def event_line(event: Event) -> str:
    """The docker CLI's default line: local time, type, action, actor, (attributes)."""
    from skiff.engine.timestamps import rfc3339_nano

    line = f"{rfc3339_nano(event.time_nano, local=True)} {event.type} {event.action} {event.actor}"
    if event.attributes:
        line += " (" + ", ".join(f"{k}={v}" for k, v in sorted(event.attributes.items())) + ")"
    return line + "\n"


def event_view(event: Event) -> Any:
    """An events.Message as a template sees it (Go field names; ``json`` gives the API's)."""
    from skiff.cli.format import Struct

    message = event.message()
    zero = {
        "Status": message.get("status", ""),
        "ID": message.get("id", ""),
        "From": message.get("from", ""),
        "Scope": message["scope"],
        "Time": message["time"],
        "TimeNano": message["timeNano"],
    }
    return Struct(message, zero, "events.Message")


def _events(inv: Invocation, opts: Options) -> int:
    from skiff.cli.format import Template, TemplateError, expand_format
    from skiff.engine.events import check_window, read
    from skiff.errors import InvalidArgument

    now = time.time()
    since = _time_option("since", opts.since, now, wrap=False) if opts.since else None
    until = _time_option("until", opts.until, now, wrap=False) if opts.until else None
    try:
        check_window(since, until)
    except InvalidArgument as e:
        raise CommandFailed(str(e)) from None
    template = None
    if opts.format:
        source = "{{json .}}" if opts.format == "json" else expand_format(opts.format)
        try:
            template = Template(source)
        except TemplateError as e:
            raise CommandFailed(f"template parsing error: {e}") from None
    engine = _engine(inv)
    for event in read(engine.containers.db, since, until, parse_filters(opts.filter)):
        if template is None:
            sys.stdout.write(event_line(event))
        else:
            try:
                sys.stdout.write(template.render(event_view(event)) + "\n")
            except TemplateError as e:
                raise CommandFailed(f"template parsing error: {e}") from None
        sys.stdout.flush()
    return 0


def register(registry: Registry) -> None:
    registry.group("container", "Manage containers")
    registry.group("system", "Manage skiff")
    commands = [
        Command(
            "container logs",
            "Fetch the logs of a container",
            "[OPTIONS] CONTAINER",
            _logs_flags,
            _logs,
            (1, 1),
            aliases=("logs",),
        ),
        Command(
            "container stats",
            "Display a live stream of container(s) resource usage statistics",
            "[OPTIONS] [CONTAINER...]",
            _stats_flags,
            _stats,
            (0, None),
            aliases=("stats",),
        ),
        Command(
            "container top",
            "Display the running processes of a container",
            "CONTAINER [ps OPTIONS]",
            _no_flags,
            _top,
            (1, None),
            aliases=("top",),
            interspersed=False,
        ),
        Command(
            "system events",
            "Get real time events from the server",
            "[OPTIONS]",
            _events_flags,
            _events,
            aliases=("events",),
        ),
    ]
    for command in commands:
        registry.add(command)
