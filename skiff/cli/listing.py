"""Looking at containers: ``ps`` (``container ls``), ``container inspect``, the top-level
``inspect`` (a container, else an image) and ``port``, with Docker's flags, output and
exit codes.

``ps`` reads the container rows once and computes a column only when its template shows
it: a field of a row that costs something (sizes, labels, mounts) is a method of the row,
called when read (:class:`skiff.cli.format.Record`), as the docker CLI asks the daemon for
sizes only when the template uses ``.Size``.
"""

from __future__ import annotations

import sys

from skiff.cli.main import Command, CommandFailed, UsageError, parse_filters

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from skiff.cli.main import Invocation, Options, Parser, Registry
    from skiff.engine.containers import Container
    from skiff.engine.listing import Facts

    # name -> (the inspect document, its view for templates); NotFound if none
    Finder = Callable[[str], tuple[dict[str, Any], Any]]

# --- ps ---------------------------------------------------------------------------------

PS_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)
PS_RAW = (
    "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\n"
    "created_at: {{.CreatedAt}}\nstate: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\n"
    "names: {{.Names}}\nlabels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n"
)
QUIET = "{{.ID}}"
CONTEXT = "*formatter.ContainerContext"


def header_label(name: str) -> str:
    """The column of ``{{.Label "com.example.my-label"}}``: ``my label``."""
    return name.split(".")[-1].replace("-", " ").replace("_", " ")


PS_HEADERS: dict[str, Any] = {
    "ID": "CONTAINER ID",
    "Names": "NAMES",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Labels": "LABELS",
    "Label": header_label,
    "Mounts": "MOUNTS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Networks": "NETWORKS",
    "Platform": "PLATFORM",
}


def _setup_ps(p: Parser) -> None:
    from skiff.cli.main import FORMAT_HELP

    p.flag("-a", "--all", help="Show all containers (default shows just running)")
    p.filter_flag("Filter output based on conditions provided")
    p.flag("--format", kind="string", help=FORMAT_HELP)
    p.flag(
        "-n",
        "--last",
        kind="int",
        help="Show n last created containers (includes all states) (default -1)",
    )
    p.flag("-l", "--latest", help="Show the latest created container (includes all states)")
    p.flag("--no-trunc", help="Don't truncate output")
    p.flag("-q", "--quiet", help="Only display container IDs")
    p.flag("-s", "--size", help="Display total file sizes")


def _last(value: str | None) -> int:
    """``-n``: pflag's int (-1, all, when not given)."""
    import re

    if value is None:
        return -1
    if not re.fullmatch(r"[+-]?[0-9]+", value):
        raise UsageError(
            f'invalid argument "{value}" for "-n, --last" flag: '
            f'strconv.ParseInt: parsing "{value}": invalid syntax'
        )
    return int(value)


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` (skiff.gotext, loaded only when a listing quotes)."""
    from skiff.gotext import go_quote as quote

    return quote(text)


def image_text(shown: str, image_id: str, trunc: bool) -> str:
    """The docker CLI's IMAGE of a container: the short ID when the image is shown by
    ID, else the name as the user gave it, a digest dropped (``--no-trunc``: as is)."""
    from skiff.cli.format import truncate_id
    from skiff.errors import InvalidArgument
    from skiff.images import reference

    if not shown:
        return "<no image>"
    if not trunc:
        return shown
    if truncate_id(image_id) == truncate_id(shown):
        return truncate_id(image_id)
    try:
        ref = reference.parse(shown, default_tag=False)
    except InvalidArgument:
        return shown
    if ref.digest:
        ref = reference.Reference(ref.domain, ref.path, ref.tag)
    return ref.familiar()


def _join_host_port(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def displayable_ports(ports: list[dict[str, Any]]) -> str:
    """The docker CLI's PORTS: ``0.0.0.0:8080->80/tcp, 9000-9001/tcp``; consecutive
    ports of one address and protocol grouped into a range."""
    ordered = sorted(
        ports,
        key=lambda p: (p["PrivatePort"], p.get("IP", ""), p.get("PublicPort", 0), p["Type"]),
    )
    groups: dict[str, list[int]] = {}
    result: list[str] = []
    mappings: list[str] = []

    def form(key: str, first: int, last: int) -> str:
        ip, _, kind = key.rpartition("/")
        group = str(first) if first == last else f"{first}-{last}"
        if ip:
            group = f"{_join_host_port(ip, group)}->{group}"
        return f"{group}/{kind}"

    for port in ordered:
        current, ip, kind = port["PrivatePort"], port.get("IP", ""), port["Type"]
        key = kind
        if ip:
            if port.get("PublicPort", 0) != current:
                host = _join_host_port(ip, str(port.get("PublicPort", 0)))
                mappings.append(f"{host}->{current}/{kind}")
                continue
            key = f"{ip}/{kind}"
        group = groups.get(key)
        if group is None:
            groups[key] = [current, current]
        elif current == group[1] + 1:
            group[1] = current
        else:
            result.append(form(key, group[0], group[1]))
            groups[key] = [current, current]
    result += [form(key, first, last) for key, (first, last) in groups.items()]
    return ", ".join(result + mappings)


def ps_records(containers: list[Container], facts: Facts, trunc: bool, now: float) -> list[Any]:
    """The docker CLI's ContainerContext of each row of ``ps``."""
    from skiff.cli.format import (
        NIL_POINTER,
        Record,
        ellipsis,
        go_time_string,
        since,
        truncate_id,
    )
    from skiff.engine import listing
    from skiff.engine.inspect import command_text, networks, state_name, status_text
    from skiff.units import human_size_precision

    images: dict[tuple[str, str], str] = {}

    def record(container: Container) -> Any:
        state = container.state
        command = command_text(state)
        created = int(container.created)
        shown = (listing.image_shown(container, facts), container.image_id)
        if shown not in images:
            images[shown] = image_text(*shown, trunc)

        def size() -> str:
            from skiff.engine.filesystem import ContainerFiles
            from skiff.engine.inspect import writable_size

            rw = writable_size(ContainerFiles(facts.containers.paths, container.id).upper)
            root = rw + facts.image_size(container.image_id)
            text = human_size_precision(rw, 3)
            return f"{text} (virtual {human_size_precision(root, 3)})" if root > 0 else text

        def labels() -> str:
            found = listing.labels(container, facts)
            return ",".join(sorted(f"{k}={v}" for k, v in found.items()))

        def label(name: str) -> str:
            return listing.labels(container, facts).get(name, "")

        def mounts() -> str:
            names = [m.get("Name") or m.get("Source") or "" for m in facts.mounts(container)]
            return ",".join(ellipsis(name, 15) if trunc else name for name in names)

        def local_volumes() -> str:
            return str(sum(1 for m in facts.mounts(container) if m.get("Driver") == "local"))

        def network_names() -> str:
            return ",".join(sorted(networks(container)))

        return Record(
            CONTEXT,
            {
                "ID": truncate_id(container.id) if trunc else container.id,
                "Image": images[shown],
                "Command": go_quote(ellipsis(command, 20) if trunc else command),
                "CreatedAt": lambda: go_time_string(created),  # not in the default table
                "RunningFor": since(created, now),
                "Ports": displayable_ports(listing.summary_ports(container)),
                "State": lambda: state_name(state),
                "Status": status_text(state, now),
                "Size": size,
                "Labels": labels,
                "Label": label,
                "Mounts": mounts,
                "LocalVolumes": local_volumes,
                "Networks": network_names,
                "Platform": NIL_POINTER,
                "Names": container.name,
            },
        )

    return [record(container) for container in containers]


def _probe_record() -> Any:
    """A row of empty values, to run a template once before listing (the docker CLI
    executes it on an empty context: a template that cannot run fails before anything is
    listed)."""
    from skiff.cli.format import NIL_POINTER, Record

    fields: dict[str, Any] = {name: "" for name in PS_HEADERS}
    fields |= {"Label": lambda name: "", "Platform": NIL_POINTER}
    return Record(CONTEXT, fields)


def _ps_format(opts: Options) -> str:
    """The template ``ps`` renders: Docker's table (with SIZE for ``-s``), raw, or the
    user's; only IDs with ``-q``."""
    from skiff.cli.format import Template, TemplateError, expand_format

    source = opts.format or "table"
    if opts.format:
        try:
            template = Template(expand_format(source))
        except TemplateError as e:
            raise CommandFailed(f"failed to parse template: {e}") from None
        try:
            template.render(_probe_record())
        except TemplateError as e:
            raise CommandFailed(f"failed to execute template: {e}") from None
        if opts.quiet:
            sys.stderr.write(
                "WARNING: Ignoring custom format, because both --format and --quiet are set.\n"
            )
    if source == "table":
        return QUIET if opts.quiet else PS_TABLE + ("\t{{.Size}}" if opts.size else "")
    if source == "raw":
        if opts.quiet:
            return "container_id: {{.ID}}"
        return PS_RAW + ("size: {{.Size}}\n" if opts.size else "")
    return QUIET if opts.quiet else source


def _ps(inv: Invocation, opts: Options) -> int:
    import time

    from skiff.cli.format import Formatter, TemplateError
    from skiff.engine.containers import ContainerStore
    from skiff.engine.listing import Facts, select

    limit = _last(opts.last)
    if opts.latest and limit == -1:
        limit = 1
    source = _ps_format(opts)
    store = ContainerStore(inv.paths)
    facts = Facts(store)
    containers = select(store, facts, parse_filters(opts.filter), opts.all, limit)
    rows = ps_records(containers, facts, not opts.no_trunc, time.time())
    try:
        sys.stdout.write(Formatter(source, PS_TABLE, PS_HEADERS).render(rows))
    except TemplateError as e:
        raise CommandFailed(str(e)) from None
    return 0


# --- inspect ----------------------------------------------------------------------------

# The fields of Docker's inspect structs that are Go slices, maps or pointers: null in
# JSON, and in a template ``[]``, ``map[]`` or ``<nil>``; and the zero values of the fields
# its JSON leaves out.
_TOP = {
    "slices": ("Args", "ExecIDs", "Mounts"),
    "maps": (),
    "pointers": ("SizeRw", "SizeRootFs"),
}
_HOST_CONFIG = {
    "slices": (
        "Binds", "VolumesFrom", "ConsoleSize", "CapAdd", "CapDrop", "Dns", "DnsOptions",
        "DnsSearch", "ExtraHosts", "GroupAdd", "Links", "SecurityOpt", "BlkioWeightDevice",
        "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps", "Devices", "DeviceCgroupRules", "DeviceRequests", "Ulimits",
        "Mounts", "MaskedPaths", "ReadonlyPaths",
    ),
    "maps": ("PortBindings", "Annotations", "StorageOpt", "Tmpfs", "Sysctls"),
    "pointers": ("MemorySwappiness", "OomKillDisable", "PidsLimit", "Init"),
    "zero": {"Runtime": "", "KernelMemory": 0, "KernelMemoryTCP": 0},
}  # fmt: skip
_STATE = {"slices": (), "maps": (), "pointers": ("Health",)}
_NETWORK_SETTINGS = {
    "slices": ("SecondaryIPAddresses", "SecondaryIPv6Addresses"),
    "maps": ("Ports", "Networks"),
    "pointers": (),
}


def _typed(value: dict[str, Any], kinds: dict[str, Any]) -> Any:
    """A JSON object as a template sees Docker's Go struct: its nulls typed nils, the
    fields its JSON omits at their zero values."""
    from skiff.cli.format import NIL_MAP, NIL_POINTER, NIL_SLICE, Struct

    nil = {name: NIL_SLICE for name in kinds["slices"]}
    nil |= {name: NIL_MAP for name in kinds["maps"]}
    nil |= {name: NIL_POINTER for name in kinds["pointers"]}
    fields = {name: nil[name] if v is None and name in nil else v for name, v in value.items()}
    return Struct(fields, {**nil, **kinds.get("zero", {})})


def container_view(document: dict[str, Any]) -> Any:
    """A container inspect document for a ``-f`` template: typed nils where Docker's
    structs have nil slices, maps and pointers (``{{.HostConfig.Binds}}`` prints ``[]``,
    ``{{.SizeRw}}`` without ``-s`` ``<nil>``)."""
    from skiff.cli.images import template_view

    view = template_view(document)  # Config is the image's container.Config type
    view["State"] = _typed(view["State"], _STATE)
    view["HostConfig"] = _typed(view["HostConfig"], _HOST_CONFIG)
    view["NetworkSettings"] = _typed(view["NetworkSettings"], _NETWORK_SETTINGS)
    return _typed(view, _TOP)


def _container_finder(inv: Invocation, size: bool) -> Finder:
    from skiff.engine.engine import Engine
    from skiff.engine.inspect import inspect_container

    engine = Engine(inv.paths)

    def find(name: str) -> tuple[dict[str, Any], Any]:
        document = inspect_container(engine, engine.containers.get(name), size)
        return document, container_view(document)

    return find


def _image_finder(inv: Invocation) -> Finder:
    from skiff.cli.images import find_image, template_view
    from skiff.images.inspect import inspect_image

    def find(name: str) -> tuple[dict[str, Any], Any]:
        element = inspect_image(find_image(inv.images(), name))
        return element, template_view(element)

    return find


def inspect_objects(
    inv: Invocation, names: list[str], source: str | None, kind: str, size: bool = False
) -> int:
    """``inspect``, ``container inspect`` and ``image inspect``: each name looked up as
    ``kind`` (container or image; "" for a container, else an image, as Docker's lookup
    order goes), printed as one JSON array or through a ``-f`` template; each name not
    found reported after the output, and exit 1 if any was not."""
    finders: list[Finder] = []
    if kind in ("", "container"):
        finders.append(_container_finder(inv, size))
    if kind in ("", "image"):
        finders.append(_image_finder(inv))
    return print_inspected(inv, names, source, lambda name: _find(finders, name, kind))


def print_inspected(inv: Invocation, names: list[str], source: str | None, find: Finder) -> int:
    """Every inspect verb's output: what ``find`` gives for each name (its JSON element and
    its template view), as one JSON array (``-f json`` compact) or through a ``-f``
    template; names not found reported after the output, exit 1 if any was not; a template
    that does not parse exits 64, as the docker CLI's inspect does."""
    from skiff.cli.format import Template, TemplateError, go_indent_json, go_json
    from skiff.errors import SkiffError

    template = None
    if source and source != "json":
        try:
            template = Template(source)
        except TemplateError as e:
            raise CommandFailed(f"template parsing error: {e}", 64) from None
    elements: list[dict[str, Any]] = []
    errors: list[str] = []
    out: list[str] = []
    for name in names:
        try:
            element, view = find(name)
        except SkiffError as e:
            errors.append(str(e))
            continue
        if template is None:
            elements.append(element)
            continue
        try:
            out.append(template.render(view) + "\n")
        except TemplateError as e:
            errors.append(f"template parsing error: {e}")
    if template is not None:
        sys.stdout.write("".join(out))
    elif source == "json":
        sys.stdout.write(go_json(elements) + "\n")
    else:
        sys.stdout.write(go_indent_json(elements) + "\n")
    sys.stdout.flush()
    for message in errors:
        inv.error(message)
    return 1 if errors else 0


def _find(finders: list[Finder], name: str, kind: str) -> tuple[dict[str, Any], Any]:
    """The first object of the finders' kinds ``name`` names; ``No such object`` when
    no kind was asked and none has it."""
    from skiff.errors import NotFound

    for find in finders:
        try:
            return find(name)
        except NotFound:
            if kind:
                raise
    raise NotFound(f"No such object: {name}")


def _setup_container_inspect(p: Parser) -> None:
    from skiff.cli.main import INSPECT_FORMAT_HELP

    p.flag("-f", "--format", kind="string", help=INSPECT_FORMAT_HELP)
    p.flag("-s", "--size", help="Display total file sizes")


def _container_inspect(inv: Invocation, opts: Options) -> int:
    return inspect_objects(inv, opts.args, opts.format, "container", opts.size)


# --- port -------------------------------------------------------------------------------


def _port(inv: Invocation, opts: Options) -> int:
    """``port CONTAINER [PRIVATE_PORT[/PROTO]]``: the published ports, as the docker CLI
    prints them from the container's ``NetworkSettings.Ports``."""
    from skiff.engine.containers import ContainerStore
    from skiff.engine.inspect import port_map

    name = opts.args[0]
    ports = port_map(ContainerStore(inv.paths).get(name))
    lines = port_lines(ports, name, opts.args[1] if len(opts.args) > 1 else "")
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


def port_lines(ports: dict[str, Any], name: str, private: str = "") -> list[str]:
    """The docker CLI's ``port`` lines of a ``NetworkSettings.Ports`` map, naturally
    sorted: ``80/tcp -> 0.0.0.0:8080`` each, or only ``0.0.0.0:8080`` of the ``private``
    port asked (``80``, ``80/udp``: tcp unless said), which must be published."""
    from skiff.cli.volumes import natural_key
    from skiff.network.ports import go_parse_port

    if private:
        port, _, proto = private.partition("/")
        try:
            go_parse_port(port)
        except ValueError as e:
            raise CommandFailed(f"invalid port ({port}): {e}") from None
        bindings = ports.get(f"{port}/{proto or 'tcp'}")
        if not bindings:
            raise CommandFailed(f"No public port '{private}' published for {name}")
        lines = [_join_host_port(b.get("HostIp", ""), b.get("HostPort", "")) for b in bindings]
    else:
        lines = [
            f"{key} -> {_join_host_port(b.get('HostIp', ''), b.get('HostPort', ''))}"
            for key, bindings in ports.items()
            for b in bindings or []
        ]
    return sorted(lines, key=natural_key)


# --- registration -----------------------------------------------------------------------


def _no_flags(p: Parser) -> None:
    del p


def register(registry: Registry) -> None:
    registry.group("container", "Manage containers")
    registry.add(
        Command(
            "container ls", "List containers", "[OPTIONS]", _setup_ps, _ps, (0, 0),
            ("ps", "container list", "container ps"),
        )
    )  # fmt: skip
    registry.add(
        Command(
            "container inspect", "Display detailed information on one or more containers",
            "[OPTIONS] CONTAINER [CONTAINER...]", _setup_container_inspect, _container_inspect,
            (1, None),
        )
    )  # fmt: skip
    registry.add(
        Command(
            "container port",
            "List port mappings or a specific mapping for the container",
            "CONTAINER [PRIVATE_PORT[/PROTO]]", _no_flags, _port, (1, 2), ("port",),
        )
    )  # fmt: skip
