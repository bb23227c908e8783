"""The volume verbs: ``volume create``, ``ls``, ``inspect``, ``rm`` and ``prune``, with
Docker's flags, output and exit codes (every error exits 1, as the docker client's do; a
usage mistake 125). The work is the store's (skiff.storage.volumes)."""

from __future__ import annotations

import sys

from skiff.cli.main import (
    FORMAT_HELP,
    INSPECT_FORMAT_HELP,
    Command,
    CommandFailed,
    UsageError,
    parse_filters,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.cli.main import Invocation, Options, Parser, Registry
    from skiff.storage.volumes import Volume, VolumeStore

LS_TABLE = "table {{.Driver}}\t{{.Name}}"
LS_HEADERS = {
    "Name": "VOLUME NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS",
    "Links": "LINKS",
    "Size": "SIZE",
    "Group": "GROUP",
    "Availability": "AVAILABILITY",
    "Status": "STATUS",
}
ANONYMOUS_WARNING = (
    "WARNING! This will remove anonymous local volumes not used by at least one container.\n"
    "Are you sure you want to continue?"
)
ALL_WARNING = (
    "WARNING! This will remove all local volumes not used by at least one container.\n"
    "Are you sure you want to continue?"
)


def _store(inv: Invocation) -> VolumeStore:
    from skiff.storage.volumes import VolumeStore

    return VolumeStore(inv.paths)


# --- create -----------------------------------------------------------------------------


def _setup_create(p: Parser) -> None:
    p.flag("-d", "--driver", kind="string", default="local", help="Specify volume driver name")
    p.flag("--label", kind="list", help="Set metadata for a volume")
    p.flag(
        "-o",
        "--opt",
        kind="map",
        help="Set driver specific options (default map[])",
    )


def _driver_options(values: list[str]) -> dict[str, str]:
    """``-o KEY=VALUE`` (the docker CLI's map option: ``KEY`` alone is an empty value)."""
    return {key: value for key, _, value in (text.partition("=") for text in values)}


def _labels(values: list[str]) -> dict[str, str]:
    """``--label KEY[=VALUE]``: the docker CLI's ValidateLabel, then a map."""
    labels = {}
    for value in values:
        key, _, text = value.partition("=")
        if not key.strip():
            raise UsageError(
                f'invalid argument "{value}" for "--label" flag: invalid label \'{value}\': '
                "empty name"
            )
        labels[key] = text
    return labels


def _create(inv: Invocation, opts: Options) -> int:
    labels = _labels(opts.label)
    volume = _store(inv).create(
        opts.args[0] if opts.args else "", opts.driver, labels, _driver_options(opts.opt)
    )
    sys.stdout.write(volume.name + "\n")
    return 0


# --- ls ---------------------------------------------------------------------------------


def _setup_ls(p: Parser) -> None:
    p.filter_flag('Provide filter values (e.g. "dangling=true")')
    p.flag("--format", kind="string", help=FORMAT_HELP)
    p.flag("-q", "--quiet", help="Only display volume names")


def volume_record(volume: Volume) -> Any:
    """The docker CLI's volumeContext of one row of ``volume ls``."""
    from skiff.cli.format import Record

    labels = volume.labels or {}
    return Record(
        "*formatter.volumeContext",
        {
            "Availability": "N/A",
            "Driver": volume.driver,
            "Group": "N/A",
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
            "Links": "N/A",
            "Mountpoint": volume.mountpoint,
            "Name": volume.name,
            "Scope": "local",
            "Size": "N/A",
            "Status": "N/A",
        },
    )


def natural_key(name: str) -> list[Any]:
    """The docker CLI's ``sortorder.NaturalLess``: runs of digits compare as numbers."""
    import re

    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", name)
        if part
    ]


def _ls(inv: Invocation, opts: Options) -> int:
    from skiff.cli.format import Formatter, TemplateError

    source = opts.format or "table"
    if source == "table" and opts.quiet:
        source = "{{.Name}}"
    elif source == "raw":  # the docker CLI's raw format
        source = "name: {{.Name}}" if opts.quiet else "name: {{.Name}}\ndriver: {{.Driver}}\n"
    try:
        formatter = Formatter(source, LS_TABLE, LS_HEADERS)
        volumes = _store(inv).list(parse_filters(opts.filter))
        volumes.sort(key=lambda v: natural_key(v.name))
        sys.stdout.write(formatter.render([volume_record(v) for v in volumes]))
    except TemplateError as e:
        raise CommandFailed(str(e)) from None
    return 0


# --- inspect ----------------------------------------------------------------------------


def _setup_inspect(p: Parser) -> None:
    p.flag("-f", "--format", kind="string", help=INSPECT_FORMAT_HELP)


def template_view(api: dict[str, Any]) -> Any:
    """A Volume for a template: Go's struct (an unknown field is an error), nil maps
    printed as ``map[]``."""
    from skiff.cli.format import NIL_MAP, Record

    fields = {k: NIL_MAP if v is None and k in ("Labels", "Options") else v for k, v in api.items()}
    return Record("volume.Volume", fields)


def _inspect(inv: Invocation, opts: Options) -> int:
    from skiff.cli.listing import print_inspected

    store = _store(inv)

    def find(name: str) -> tuple[dict[str, Any], Any]:
        api = store.get(name).api()
        return api, template_view(api)

    return print_inspected(inv, opts.args, opts.format, find)


# --- rm ---------------------------------------------------------------------------------


def _setup_rm(p: Parser) -> None:
    p.flag("-f", "--force", help="Force the removal of one or more volumes")


def _rm(inv: Invocation, opts: Options) -> int:
    from skiff.errors import SkiffError

    store = _store(inv)
    errors = []
    for name in opts.args:
        try:
            store.remove(name, opts.force)
        except SkiffError as e:
            errors.append(str(e))
            continue
        sys.stdout.write(name + "\n")
        sys.stdout.flush()
    for message in errors:
        inv.error(message)
    return 1 if errors else 0


# --- prune ------------------------------------------------------------------------------


def _setup_prune(p: Parser) -> None:
    p.flag("-a", "--all", help="Remove all unused volumes, not just anonymous ones")
    p.filter_flag('Provide filter values (e.g. "label=<label>")', short=False)
    p.flag("-f", "--force", help="Do not prompt for confirmation")


def _prune(inv: Invocation, opts: Options) -> int:
    from skiff.cli.images import _confirm
    from skiff.errors import InvalidArgument
    from skiff.units import human_size

    filters = parse_filters(opts.filter)
    if opts.all:
        if "all" in filters:
            raise InvalidArgument(
                "conflicting options: cannot specify both --all and --filter all=1"
            )
        filters["all"] = ["true"]
    if not opts.force and not _confirm(ALL_WARNING if opts.all else ANONYMOUS_WARNING):
        return 0
    removed, freed = _store(inv).prune(filters)
    if removed:
        sys.stdout.write("Deleted Volumes:\n" + "".join(f"{name}\n" for name in removed) + "\n")
    sys.stdout.write(f"Total reclaimed space: {human_size(freed)}\n")
    return 0


# --- registration -----------------------------------------------------------------------


def register(registry: Registry) -> None:
    registry.group("volume", "Manage volumes")
    for path, summary, usage, setup, run, args, aliases in (
        ("volume create", "Create a volume", "[OPTIONS] [VOLUME]", _setup_create, _create,
         (0, 1), ()),
        ("volume inspect", "Display detailed information on one or more volumes",
         "[OPTIONS] VOLUME [VOLUME...]", _setup_inspect, _inspect, (1, None), ()),
        ("volume ls", "List volumes", "[OPTIONS]", _setup_ls, _ls, (0, 0), ("volume list",)),
        ("volume prune", "Remove unused local volumes", "[OPTIONS]", _setup_prune, _prune,
         (0, 0), ()),
        ("volume rm", "Remove one or more volumes. You cannot remove a volume that is in use "
         "by a container.", "[OPTIONS] VOLUME [VOLUME...]", _setup_rm, _rm, (1, None),
         ("volume remove",)),
    ):  # fmt: skip
        registry.add(Command(path, summary, usage, setup, run, args, aliases))
