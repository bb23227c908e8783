"""System verbs of the ``skiff`` command: ``info`` (``system info``), ``version``, ``system
df``, ``system prune`` and ``container prune``, with Docker's flags, layouts and prompts.

skiff is its own daemon: ``Client`` and ``Server`` in ``info`` and ``version`` describe the
same program (the client part as the docker CLI describes itself, the server part as
dockerd answers GET /info and GET /version: skiff.engine.system). ``--format`` templates
see Docker's JSON shapes, with the Go field names the docker CLI's templates use
(``{{.Server.APIVersion}}``, ``{{.HTTPProxy}}``).
"""

from __future__ import annotations

import sys

from skiff import __version__
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

CONTEXT = "default"  # the docker CLI's context: skiff has the one


def _engine(inv: Invocation) -> Engine:
    from skiff.engine.engine import Engine

    return Engine(inv.paths)


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, 4 significant digits (``23.54GiB``)."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
    unit = 0
    while size >= 1024.0 and unit < len(units) - 1:
        size /= 1024.0
        unit += 1
    return f"{size:.4g}{units[unit]}"


def ansic(unix_time: float | None) -> str:
    """Go's ``time.ANSIC`` in the local zone (``Mon Jan  2 15:04:05 2006``); "" for none."""
    import time

    if unix_time is None:
        return ""
    tm = time.localtime(unix_time)
    return time.strftime("%a %b ", tm) + f"{tm.tm_mday:2d}" + time.strftime(" %H:%M:%S %Y", tm)


def _template(source: str, code: int = 64) -> Any:
    """A parsed ``--format`` template (``json`` is ``{{json .}}``); Docker's parse error."""
    from skiff.cli.format import Template, TemplateError, expand_format

    if source == "json":
        source = "{{json .}}"
    try:
        return Template(expand_format(source))
    except TemplateError as e:
        raise CommandFailed(f"template parsing error: {e}", code) from None


def _render(template: Any, data: Any, end: str = "") -> str:
    """Execute a template; on an error, print ``end`` (the newline ``info`` and ``version``
    print after their template whatever happens) and fail with Go's message."""
    from skiff.cli.format import TemplateError

    try:
        return str(template.render(data))
    except TemplateError as e:
        sys.stdout.write(end)
        raise CommandFailed(str(e)) from None


# --- info -------------------------------------------------------------------------------

# Go field names of SystemInfo that its JSON spells otherwise.
_INFO_GO_NAMES = {
    "CPUCfsPeriod": "CpuCfsPeriod",
    "CPUCfsQuota": "CpuCfsQuota",
    "HTTPProxy": "HttpProxy",
    "HTTPSProxy": "HttpsProxy",
}


def client_version() -> dict[str, Any]:
    """The docker CLI's clientVersion of this program (JSON field names)."""
    from skiff.engine import system

    return {
        "Version": __version__,
        "ApiVersion": system.API_VERSION,
        "DefaultAPIVersion": system.API_VERSION,
        "GitCommit": system.git_commit(),
        "GoVersion": system.python_version(),
        "Os": "linux",
        "Arch": system.go_arch(),
        "BuildTime": ansic(system.build_time()),
        "Context": CONTEXT,
    }


def info_view(facts: dict[str, Any], debug: bool) -> Any:
    """What ``info --format`` sees: the docker CLI's dockerInfo (SystemInfo and ClientInfo)."""
    from skiff.cli.format import Struct

    client = client_version()
    del client["ApiVersion"]
    client_info = {"Debug": debug, **client, "Plugins": [], "Warnings": None}
    runtimes = {
        name: Struct(runtime, {"Path": runtime["path"]}, "system.RuntimeWithStatus")
        for name, runtime in facts["Runtimes"].items()
    }
    fields = {**facts, "Runtimes": runtimes, "ClientInfo": Struct(client_info, {}, "clientInfo")}
    aliases = {go: facts[name] for go, name in _INFO_GO_NAMES.items()}
    return Struct(fields, aliases, "system.dockerInfo")


def render_info(facts: dict[str, Any], debug: bool) -> str:
    """``docker info``'s text layout (the docker CLI's prettyPrintInfo) of this program."""
    out = ["Client:", f" Version:    {__version__}", f" Context:    {CONTEXT}"]
    out += [f" Debug Mode: {_go_bool(debug)}", "", "Server:"]
    out += [
        f" Containers: {facts['Containers']}",
        f"  Running: {facts['ContainersRunning']}",
        f"  Paused: {facts['ContainersPaused']}",
        f"  Stopped: {facts['ContainersStopped']}",
        f" Images: {facts['Images']}",
        f" Server Version: {facts['ServerVersion']}",
        f" Storage Driver: {facts['Driver']}",
    ]
    out += [f"  {label}: {value}" for label, value in facts["DriverStatus"]]
    out += [
        f" Logging Driver: {facts['LoggingDriver']}",
        f" Cgroup Driver: {facts['CgroupDriver']}",
        f" Cgroup Version: {facts['CgroupVersion']}",
        " Plugins:",
        "  Volume: " + " ".join(facts["Plugins"]["Volume"]),
        "  Network: " + " ".join(facts["Plugins"]["Network"]),
        "  Log: " + " ".join(facts["Plugins"]["Log"]),
        f" Swarm: {facts['Swarm']['LocalNodeState']}",
    ]
    if facts["Runtimes"]:
        out.append(" Runtimes: " + " ".join(sorted(facts["Runtimes"])))
        out.append(f" Default Runtime: {facts['DefaultRuntime']}")
    out += [
        f" Init Binary: {facts['InitBinary']}",
        f" containerd version: {facts['ContainerdCommit']['ID']}",
        f" runc version: {facts['RuncCommit']['ID']}",
        f" init version: {facts['InitCommit']['ID']}",
    ]
    if facts["SecurityOptions"]:
        out.append(" Security Options:")
        for option in facts["SecurityOptions"]:
            pairs = dict(item.partition("=")[::2] for item in option.split(","))
            out.append("  " + pairs.get("name", ""))
            if pairs.get("profile"):
                out.append("   Profile: " + pairs["profile"])
    out += [
        f" Kernel Version: {facts['KernelVersion']}",
        f" Operating System: {facts['OperatingSystem']}",
        f" OSType: {facts['OSType']}",
        f" Architecture: {facts['Architecture']}",
        f" CPUs: {facts['NCPU']}",
        f" Total Memory: {bytes_size(facts['MemTotal'])}",
        f" Name: {facts['Name']}",
        f" ID: {facts['ID']}",
        f" Docker Root Dir: {facts['DockerRootDir']}",
        f" Debug Mode: {_go_bool(facts['Debug'])}",
    ]
    if facts["Debug"] or debug:
        out += [
            f"  File Descriptors: {facts['NFd']}",
            f"  Goroutines: {facts['NGoroutines']}",
            f"  System Time: {facts['SystemTime']}",
            f"  EventsListeners: {facts['NEventsListener']}",
        ]
    for label, key in (("HTTP Proxy", "HttpProxy"), ("HTTPS Proxy", "HttpsProxy")):
        if facts[key]:
            out.append(f" {label}: {facts[key]}")
    if facts["NoProxy"]:
        out.append(f" No Proxy: {facts['NoProxy']}")
    if facts["Labels"]:
        out += [" Labels:", *(f"  {label}" for label in facts["Labels"])]
    out.append(f" Experimental: {_go_bool(facts['ExperimentalBuild'])}")
    registry = facts["RegistryConfig"]
    insecure = [i["Name"] for i in registry["IndexConfigs"].values() if not i["Secure"]]
    insecure += registry["InsecureRegistryCIDRs"]
    if insecure:
        out += [" Insecure Registries:", *(f"  {item}" for item in insecure)]
    if registry["Mirrors"]:
        out += [" Registry Mirrors:", *(f"  {mirror}" for mirror in registry["Mirrors"])]
    out += [f" Live Restore Enabled: {_go_bool(facts['LiveRestoreEnabled'])}", ""]
    return "\n".join(out) + "\n"


def _go_bool(value: bool) -> str:
    return "true" if value else "false"


def _setup_info(p: Parser) -> None:
    p.flag("-f", "--format", kind="string", help=INSPECT_FORMAT_HELP)


def _info(inv: Invocation, opts: Options) -> int:
    from skiff.engine import system

    template = _template(opts.format) if opts.format else None
    facts = system.info(_engine(inv), inv.debug)
    if template is not None:
        sys.stdout.write(_render(template, info_view(facts, inv.debug), "\n") + "\n")
        return 0
    sys.stdout.write(render_info(facts, inv.debug))
    sys.stdout.flush()
    for warning in facts["Warnings"] or []:
        sys.stderr.write(warning + "\n")
    return 0


# --- version ----------------------------------------------------------------------------

# The docker CLI's default version template, with skiff's interpreter in place of Go's.
VERSION_TEMPLATE = """{{with .Client -}}
Client:
 Version:\t{{.Version}}
 API version:\t{{.APIVersion}}
 Python version:\t{{.GoVersion}}
 Git commit:\t{{.GitCommit}}
 Built:\t{{.BuildTime}}
 OS/Arch:\t{{.Os}}/{{.Arch}}
 Context:\t{{.Context}}
{{- end}}

{{- with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:\t{{.Version}}
  API version:\t{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Python version:\t{{index .Details "GoVersion"}}
  Git commit:\t{{index .Details "GitCommit"}}
  Built:\t{{index .Details "BuildTime"}}
  OS/Arch:\t{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:\t{{index .Details "Experimental"}}
  {{- else }}
  Version:\t{{$component.Version}}
  {{- range $key, $value := $component.Details}}
  {{$key}}:\t{{$value}}
  {{- end}}
  {{- end}}
 {{- end}}
{{- end}}"""


def version_view(server: dict[str, Any]) -> Any:
    """What ``version --format`` sees: the docker CLI's versionInfo {Client, Server}, the
    engine's BuildTime in ANSIC as the docker CLI rewrites it."""
    from skiff.cli.format import Struct
    from skiff.images.inspect import parse_time

    client = client_version()
    for component in server["Components"]:
        details = component.get("Details") or {}
        if component["Name"] == "Engine" and details.get("BuildTime"):
            parsed = parse_time(details["BuildTime"])
            if parsed is not None:
                details["BuildTime"] = ansic(parsed[0])
    components = [Struct(c, {}, "types.ComponentVersion") for c in server["Components"]]
    server_view = Struct(
        {**server, "Platform": Struct(server["Platform"], {}, "struct { Name string }")}
        | {"Components": components},
        {"APIVersion": server["ApiVersion"]},
        "types.Version",
    )
    client_view = Struct(client, {"APIVersion": client["ApiVersion"]}, "system.clientVersion")
    return Struct({"Client": client_view, "Server": server_view}, {}, "system.versionInfo")


def _setup_version(p: Parser) -> None:
    p.flag("-f", "--format", kind="string", help=INSPECT_FORMAT_HELP)


def _version(inv: Invocation, opts: Options) -> int:
    from skiff.cli.format import tabwrite
    from skiff.engine import system

    template = _template(opts.format or VERSION_TEMPLATE)
    text = _render(template, version_view(system.server_version()), "\n")
    sys.stdout.write(tabwrite(text + "\n", minwidth=20, padding=1))
    return 0


# --- system df --------------------------------------------------------------------------

DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_HEADERS = {
    "Type": "TYPE",
    "TotalCount": "TOTAL",
    "Active": "ACTIVE",
    "Size": "SIZE",
    "Reclaimable": "RECLAIMABLE",
}
DF_IMAGES_TABLE = (
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}"
    "\t{{.UniqueSize}}\t{{.Containers}}"
)
DF_CONTAINERS_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}"
    "\t{{.Status}}\t{{.Names}}"
)
DF_VOLUMES_TABLE = "table {{.Name}}\t{{.Links}}\t{{.Size}}"
DF_BUILD_CACHE_TABLE = (
    "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}"
    "\t{{.UsageCount}}\t{{.Shared}}"
)
BUILD_CACHE_HEADERS = {
    "ID": "CACHE ID",
    "CacheType": "CACHE TYPE",
    "Size": "SIZE",
    "CreatedSince": "CREATED",
    "LastUsedSince": "LAST USED",
    "UsageCount": "USAGE",
    "Shared": "SHARED",
}
_DF_TYPES = (
    ("Images", "*formatter.diskUsageImagesContext", "Images"),
    ("Containers", "*formatter.diskUsageContainersContext", "Containers"),
    ("Volumes", "*formatter.diskUsageVolumesContext", "Local Volumes"),
    ("BuildCache", "*formatter.diskUsageBuilderContext", "Build Cache"),
)


def df_rows(usage: dict[str, dict[str, Any]]) -> list[Any]:
    """The summary rows of ``system df``, one per type, as the docker CLI words them."""
    from skiff.cli.format import Record
    from skiff.units import human_size

    rows = []
    for key, type_name, label in _DF_TYPES:
        part = usage[key]
        total, reclaimable = part["TotalSize"], part["Reclaimable"]
        text = human_size(reclaimable)
        if total > 0 and key != "BuildCache":
            text += f" ({reclaimable * 100 // total}%)"
        fields = {
            "Active": str(part["ActiveCount"]),
            "Reclaimable": text,
            "Size": human_size(total),
            "TotalCount": str(part["TotalCount"]),
            "Type": label,
        }
        rows.append(Record(type_name, fields))
    return rows


def _image_records(usage: dict[str, Any], trunc: bool) -> list[Any]:
    from skiff.cli.images import image_record
    from skiff.images import reference as references

    rows = []
    for summary in usage["Items"]:
        repository = tag = "<none>"
        if summary["RepoTags"]:
            ref = references.parse(summary["RepoTags"][0])
            repository, tag = ref.familiar_name, ref.tag or "<none>"
        rows.append(image_record(summary, repository, tag, "", trunc))
    return rows


def _container_records(engine: Engine, items: list[dict[str, Any]], trunc: bool) -> list[Any]:
    """``ps`` rows of the containers, with the size of their writable layer alone (the
    docker CLI drops the virtual size here)."""
    import time

    from skiff.cli.listing import ps_records
    from skiff.engine.listing import Facts
    from skiff.units import human_size_precision

    containers = [item["Container"] for item in items]
    rows = ps_records(containers, Facts(engine.containers), trunc, time.time())
    for row, item in zip(rows, items, strict=True):
        row["Size"] = human_size_precision(item["SizeRw"], 3)
    return rows


def _volume_records(items: list[dict[str, Any]]) -> list[Any]:
    """``volume ls`` rows of the volumes, with their links and sizes."""
    from skiff.cli.volumes import volume_record
    from skiff.units import human_size_precision

    rows = []
    for item in items:
        row = volume_record(item["Volume"])
        row["Links"] = str(item["RefCount"])
        row["Size"] = human_size_precision(item["Size"], 3)
        rows.append(row)
    return rows


def _records_json(value: Any) -> str:
    """``json`` of lists of formatting contexts: each as its MarshalJSON writes it."""
    import json

    from skiff.cli.format import Record, go_json

    def plain(item: Any) -> Any:
        if isinstance(item, Record):
            return json.loads(go_json(item))
        if isinstance(item, dict):
            return {key: plain(v) for key, v in item.items()}
        if isinstance(item, list):
            return [plain(v) for v in item]
        return item

    return go_json(plain(value), escape_html=True)


def _df_verbose(engine: Engine, usage: dict[str, dict[str, Any]], source: str) -> str:
    from skiff.cli.format import Formatter
    from skiff.units import human_size

    trunc = source.startswith("table")
    images = _image_records(usage["Images"], trunc)
    containers = _container_records(engine, usage["Containers"]["Items"], trunc)
    volumes = _volume_records(usage["Volumes"]["Items"])
    if source != "table":  # one template over every list, as written (no newline added)
        view = {"Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": []}
        text = source.removeprefix("table").strip(" ") if trunc else source
        template = _template(text, 1)
        template.functions["json"] = _records_json
        return _render(template, view)
    from skiff.cli.images import IMAGE_HEADERS
    from skiff.cli.listing import PS_HEADERS
    from skiff.cli.volumes import LS_HEADERS

    sections = [
        ("Images space usage:\n\n", DF_IMAGES_TABLE, IMAGE_HEADERS, images),
        ("\nContainers space usage:\n\n", DF_CONTAINERS_TABLE, PS_HEADERS, containers),
        ("\nLocal Volumes space usage:\n\n", DF_VOLUMES_TABLE, LS_HEADERS, volumes),
        (
            f"\nBuild cache usage: {human_size(usage['BuildCache']['TotalSize'])}\n\n",
            DF_BUILD_CACHE_TABLE,
            BUILD_CACHE_HEADERS,
            [],
        ),
    ]
    return "".join(
        title + Formatter("table", table, headers).render(rows)
        for title, table, headers, rows in sections
    )


def _setup_df(p: Parser) -> None:
    p.flag("--format", kind="string", help=FORMAT_HELP)
    p.flag("-v", "--verbose", help="Show detailed information on space usage")


def _system_df(inv: Invocation, opts: Options) -> int:
    from skiff.cli.format import Formatter, TemplateError
    from skiff.engine import system

    engine = _engine(inv)
    source = opts.format or "table"
    try:
        formatter = None if opts.verbose else Formatter(source, DF_TABLE, DF_HEADERS)
        usage = system.disk_usage(engine)
        if formatter is None:
            sys.stdout.write(_df_verbose(engine, usage, source))
        else:
            sys.stdout.write(formatter.render(df_rows(usage)))
    except TemplateError as e:
        raise CommandFailed(str(e)) from None
    return 0


# --- prune ------------------------------------------------------------------------------

CONTAINER_PRUNE_WARNING = (
    "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"
)
SYSTEM_PRUNE_FILTERS = ("label", "label!", "until")


def _confirm(message: str) -> bool:
    """Docker's prompt; anything but y/yes (a closed stdin too) is no."""
    sys.stdout.write(message + " [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _setup_container_prune(p: Parser) -> None:
    p.filter_flag('Provide filter values (e.g. "until=<timestamp>")', short=False)
    p.flag("-f", "--force", help="Do not prompt for confirmation")


def _deleted(title: str, items: list[str]) -> str:
    return f"{title}:\n" + "".join(item + "\n" for item in items) + "\n" if items else ""


def _container_prune(inv: Invocation, opts: Options) -> int:
    from skiff.engine import system
    from skiff.units import human_size

    filters = parse_filters(opts.filter)
    if not opts.force and not _confirm(CONTAINER_PRUNE_WARNING):
        return 0
    removed, freed = system.prune_containers(_engine(inv), filters)
    sys.stdout.write(_deleted("Deleted Containers", removed))
    sys.stdout.write(f"Total reclaimed space: {human_size(freed)}\n")
    return 0


def _setup_system_prune(p: Parser) -> None:
    p.flag("-a", "--all", help="Remove all unused images not just dangling ones")
    p.filter_flag('Provide filter values (e.g. "label=<key>=<value>")', short=False)
    p.flag("-f", "--force", help="Do not prompt for confirmation")
    p.flag("--volumes", help="Prune anonymous volumes")


def system_prune_warning(all: bool, volumes: bool, filters: dict[str, list[str]]) -> str:
    """The docker CLI's confirmation message of ``system prune``."""
    from skiff.cli.volumes import natural_key

    warnings = ["all stopped containers", "all networks not used by at least one container"]
    if volumes:
        warnings.append("all anonymous volumes not used by at least one container")
    if all:
        warnings += ["all images without at least one container associated to them"]
        warnings += ["all build cache"]
    else:
        warnings += ["all dangling images", "unused build cache"]
    text = "WARNING! This will remove:\n" + "".join(f"  - {w}\n" for w in warnings)
    shown = sorted(
        (f"{name}={value}" for name in SYSTEM_PRUNE_FILTERS for value in filters.get(name, [])),
        key=natural_key,
    )
    if shown:
        text += "\n  Items to be pruned will be filtered with:\n"
        text += "".join(f"  - {item}\n" for item in shown)
    return text + "\nAre you sure you want to continue?"


def _system_prune(inv: Invocation, opts: Options) -> int:
    from skiff.build.snapshot import clean_abandoned
    from skiff.cli.images import containers_using
    from skiff.engine import system
    from skiff.engine.networking import prune_networks
    from skiff.images.remove import prune
    from skiff.units import human_size

    filters = parse_filters(opts.filter)
    if opts.volumes and "until" in filters:
        raise CommandFailed('The "until" filter is not supported with "--volumes"')
    if not opts.force and not _confirm(system_prune_warning(opts.all, opts.volumes, filters)):
        return 0
    engine = _engine(inv)
    clean_abandoned(engine.paths)  # what killed builds left: snapshots, RUN containers
    removed, freed = system.prune_containers(engine, filters)
    _print(_deleted("Deleted Containers", removed))
    _print(_deleted("Deleted Networks", prune_networks(engine, filters)))
    if opts.volumes:
        volumes, volume_bytes = engine.volumes.prune(filters)
        _print(_deleted("Deleted Volumes", volumes))
        freed += volume_bytes
    records, image_bytes = prune(engine.images, opts.all, filters, containers_using(inv))
    _print(_deleted("Deleted Images", [f"{kind.lower()}: {what}" for kind, what in records]))
    freed += image_bytes
    sys.stdout.write(f"Total reclaimed space: {human_size(freed)}\n")
    return 0


def _print(text: str) -> None:
    """A section as soon as it is done: what was removed is reported if a later step fails."""
    sys.stdout.write(text)
    sys.stdout.flush()


# --- registration -----------------------------------------------------------------------


def register(registry: Registry) -> None:
    registry.group("system", "Manage skiff")
    registry.group("container", "Manage containers")
    commands = [
        Command(
            "system info", "Display system-wide information", "[OPTIONS]",
            _setup_info, _info, (0, 0), aliases=("info",),
        ),
        Command(
            "version", "Show the skiff version information", "[OPTIONS]",
            _setup_version, _version, (0, 0),
        ),
        Command(
            "system df", "Show skiff disk usage", "[OPTIONS]", _setup_df, _system_df, (0, 0),
        ),
        Command(
            "system prune", "Remove unused data", "[OPTIONS]",
            _setup_system_prune, _system_prune, (0, 0),
        ),
        Command(
            "container prune", "Remove all stopped containers", "[OPTIONS]",
            _setup_container_prune, _container_prune, (0, 0),
        ),
    ]  # fmt: skip
    for command in commands:
        registry.add(command)
