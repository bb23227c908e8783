"""``skiff compose``: docker compose's command line. The project's flags (``-f`` several,
``-p``, ``--profile``, ``--env-file``) come before the subcommand, as in docker compose;
each subcommand has its own."""

from __future__ import annotations

import sys

from skiff.cli.main import Command, CommandFailed, Parser, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from skiff.cli.main import Invocation, Options, Registry
    from skiff.compose.project import Project

SUBCOMMANDS = ("config", "up", "down", "ps")


def _setup(p: Parser) -> None:
    p.flag("-f", "--file", kind="list", help="Compose configuration files")
    p.flag("-p", "--project-name", kind="string", help="Project name")
    p.flag("--profile", kind="list", help="Specify a profile to enable")
    p.flag("--env-file", kind="list", help="Specify an alternate environment file")
    p.flag("--project-directory", kind="string", help="Specify an alternate working directory")


def _project(opts: Options, scales: dict[str, int] | None = None) -> Project:
    from skiff.compose.loader import load
    from skiff.compose.project import project_from

    loaded = load(
        opts.file or [],
        project=opts.project_name or "",
        env_files=opts.env_file or [],
        cwd=opts.project_directory or ".",
    )
    project = project_from(
        loaded.name,
        loaded.directory,
        loaded.document,
        opts.profile or [],
        loaded.environ,
        config_files=loaded.files,
    )
    if scales:
        project.set_scale(scales)
    return project


def _say(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def _engine(inv: Invocation) -> object:
    from skiff.engine.engine import Engine

    return Engine(inv.paths)


# --- subcommands -------------------------------------------------------------------------


def _config(inv: Invocation, opts: Options, args: list[str]) -> int:
    p = Parser("compose config")
    p.flag("--services", help="Print the service names, one per line")
    p.flag("-q", "--quiet", help="Only validate the configuration, don't print anything")
    sub = p.parse(args)
    project = _project(opts)
    if sub.quiet:
        return 0
    if sub.services:
        sys.stdout.write("".join(f"{s.name}\n" for s in project.services))
        return 0
    import yaml

    document = {"name": project.name, **{k: v for k, v in project.document.items() if k != "name"}}
    sys.stdout.write(yaml.safe_dump(document, sort_keys=False, default_flow_style=False))
    return 0


def _scales(values: list[str]) -> dict[str, int]:
    scales = {}
    for value in values:
        service, equals, count = value.partition("=")
        if not equals or not count.isdigit():
            raise CommandFailed(f"invalid --scale value {value!r}: SERVICE=NUM", 1)
        scales[service] = int(count)
    return scales


def _up(inv: Invocation, opts: Options, args: list[str]) -> int:
    from skiff.compose.orchestrate import up

    p = Parser("compose up")
    p.flag("-d", "--detach", help="Detached mode: run containers in the background")
    p.flag("--wait", help="Wait for services to be running|healthy")
    p.flag("--remove-orphans", help="Remove containers for services not defined in the file")
    p.flag("--scale", kind="list", help="Scale SERVICE to NUM instances")
    sub = p.parse(args)
    if not sub.detach:
        raise CommandFailed("skiff compose up runs detached only for now: add -d", 1)
    project = _project(opts, _scales(sub.scale or []))
    up(_engine(inv), project, _say, remove_orphans=sub.remove_orphans, wait=sub.wait)  # type: ignore[arg-type]
    return 0


def _down(inv: Invocation, opts: Options, args: list[str]) -> int:
    from skiff.compose.orchestrate import down

    p = Parser("compose down")
    p.flag("-v", "--volumes", help="Remove named volumes declared in the volumes section")
    p.flag("--remove-orphans", help="Remove containers for services not defined in the file")
    sub = p.parse(args)
    down(_engine(inv), _project(opts), _say, volumes=sub.volumes, remove_orphans=sub.remove_orphans)  # type: ignore[arg-type]
    return 0


def _ps(inv: Invocation, opts: Options, args: list[str]) -> int:
    from skiff.compose.orchestrate import SERVICE, project_containers

    p = Parser("compose ps")
    p.flag("-a", "--all", help="Show all stopped containers")
    p.flag("-q", "--quiet", help="Only display IDs")
    p.flag("--services", help="Display services")
    sub = p.parse(args)
    project = _project(opts)
    containers = project_containers(_engine(inv), project.name)  # type: ignore[arg-type]
    if not sub.all:
        containers = [c for c in containers if c.state.get("Running")]
    if sub.quiet:
        sys.stdout.write("".join(f"{c.id}\n" for c in containers))
        return 0
    if sub.services:
        names = dict.fromkeys((c.options.get("labels") or {}).get(SERVICE, "") for c in containers)
        sys.stdout.write("".join(f"{name}\n" for name in names))
        return 0
    rows = [("NAME", "IMAGE", "SERVICE", "STATUS")]
    for c in containers:
        labels = c.options.get("labels") or {}
        rows.append((c.name, c.image_name, labels.get(SERVICE, ""), c.status))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        sys.stdout.write(
            "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
        )
    return 0


HANDLERS: dict[str, Callable[[Invocation, Options, list[str]], int]] = {
    "config": _config,
    "up": _up,
    "down": _down,
    "ps": _ps,
}


def _compose(inv: Invocation, opts: Options) -> int:
    if not opts.args:
        raise UsageError(f"a subcommand is required: {', '.join(SUBCOMMANDS)}")
    name, *rest = opts.args
    handler = HANDLERS.get(name)
    if handler is None:
        raise UsageError(f"unknown compose command: {name!r}")
    return handler(inv, opts, rest)


def register(registry: Registry) -> None:
    registry.add(
        Command(
            "compose",
            "Define and run multi-container applications",
            "[OPTIONS] COMMAND",
            _setup,
            _compose,
            (0, None),
            interspersed=False,
        )
    )
