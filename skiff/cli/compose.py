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
    from skiff.compose.project import Project, Service
    from skiff.engine.engine import Engine

SUBCOMMANDS = (
    "build", "config", "down", "exec", "images", "kill", "logs", "port", "ps", "pull", "push",
    "restart", "rm", "run", "start", "stop", "top", "up",
)  # fmt: skip


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


def _engine(inv: Invocation) -> Engine:
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
    """Without ``-d``, the containers' output follows, prefixed, until they all stop; an
    interrupt (Ctrl-C) stops them, as docker compose does."""
    from skiff.compose import orchestrate

    p = Parser("compose up")
    p.flag("-d", "--detach", help="Detached mode: run containers in the background")
    p.flag("--wait", help="Wait for services to be running|healthy")
    p.flag("--remove-orphans", help="Remove containers for services not defined in the file")
    p.flag("--scale", kind="list", help="Scale SERVICE to NUM instances")
    p.flag("--build", help="Build images before starting containers")
    p.flag("--no-build", help="Don't build an image, even if it's missing")
    p.flag("--no-deps", help="Don't start linked services")
    sub = p.parse(args)
    project = _project(opts, _scales(sub.scale or []))
    engine = _engine(inv)
    chosen = None
    if sub.args:
        chosen = (
            [
                s
                for s in project.start_order()
                if s.name in {project.service(n).name for n in sub.args}
            ]
            if sub.no_deps
            else project.with_dependencies(sub.args)
        )
    if not sub.no_build:
        _build_missing(engine, project, chosen or project.services, sub.build)
    orchestrate.up(
        engine, project, _say, remove_orphans=sub.remove_orphans, wait=sub.wait, services=chosen
    )
    if sub.detach:
        return 0
    try:
        orchestrate.logs(engine, project, _write, [], follow=True, colour=sys.stdout.isatty())
    except KeyboardInterrupt:
        _say("Gracefully stopping... (press Ctrl+C again to force)\n")
        orchestrate.stop(engine, project, _say, [])
        return 130
    return 0


def _build_missing(engine: Engine, project: Project, services: list[Service], always: bool) -> None:
    """Build the images of ``services`` that are missing (all with ``always``)."""
    from skiff.compose import orchestrate

    missing = orchestrate.missing_images(engine, project)
    chosen = [s for s in services if s.build is not None and (always or s in missing)]
    if chosen:
        orchestrate.build(engine, project, _say, chosen)


def _write(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _build(inv: Invocation, opts: Options, args: list[str]) -> int:
    from skiff.compose import orchestrate

    p = Parser("compose build")
    p.flag("--no-cache", help="Do not use cache when building the image")
    p.flag("--pull", help="Always attempt to pull a newer version of the image")
    sub = p.parse(args)
    project = _project(opts)
    services = [project.service(name) for name in sub.args] or None
    orchestrate.build(_engine(inv), project, _say, services, no_cache=sub.no_cache, pull=sub.pull)
    return 0


def _logs(inv: Invocation, opts: Options, args: list[str]) -> int:
    from skiff.compose import orchestrate

    p = Parser("compose logs")
    p.flag("-f", "--follow", help="Follow log output")
    p.flag("-t", "--timestamps", help="Show timestamps")
    p.flag("--no-color", help="Produce monochrome output")
    p.flag(
        "-n",
        "--tail",
        kind="string",
        help='Number of lines to show from the end of the logs for each container (default "all")',
    )
    sub = p.parse(args)
    tail = None if sub.tail in (None, "", "all") else _count(sub.tail)
    orchestrate.logs(
        _engine(inv), _project(opts), _write, sub.args,
        follow=sub.follow, tail=tail, timestamps=sub.timestamps,
        colour=sys.stdout.isatty() and not sub.no_color,
    )  # fmt: skip
    return 0


def _count(text: str) -> int:
    if not text.isdigit():
        raise CommandFailed(f'invalid tail value {text!r}: a number or "all"', 1)
    return int(text)


def _lifecycle(verb: str) -> Callable[[Invocation, Options, list[str]], int]:
    """``start``, ``stop``, ``restart``: the named services' containers (all without
    names)."""

    def run(inv: Invocation, opts: Options, args: list[str]) -> int:
        from skiff.compose import orchestrate

        sub = Parser(f"compose {verb}").parse(args)
        act = getattr(orchestrate, verb)
        act(_engine(inv), _project(opts), _say, sub.args)
        return 0

    return run


def _kill(inv: Invocation, opts: Options, args: list[str]) -> int:
    from skiff.compose import orchestrate

    p = Parser("compose kill")
    p.flag(
        "-s", "--signal", kind="string", help='SIGNAL to send to the container (default "SIGKILL")'
    )
    sub = p.parse(args)
    orchestrate.kill(_engine(inv), _project(opts), _say, sub.args, sub.signal or "SIGKILL")
    return 0


def _rm(inv: Invocation, opts: Options, args: list[str]) -> int:
    from skiff.compose import orchestrate

    p = Parser("compose rm")
    p.flag("-f", "--force", help="Don't ask to confirm removal")
    p.flag("-s", "--stop", help="Stop the containers, if required, before removing")
    p.flag("-v", "--volumes", help="Remove any anonymous volumes attached to containers")
    sub = p.parse(args)
    orchestrate.remove(
        _engine(inv), _project(opts), _say, sub.args, stop_first=sub.stop, volumes=sub.volumes
    )
    return 0


def _down(inv: Invocation, opts: Options, args: list[str]) -> int:
    from skiff.compose.orchestrate import down

    p = Parser("compose down")
    p.flag("-v", "--volumes", help="Remove named volumes declared in the volumes section")
    p.flag("--remove-orphans", help="Remove containers for services not defined in the file")
    p.flag("--rmi", kind="string", help='Remove images used by services: "local" or "all"')
    sub = p.parse(args)
    down(
        _engine(inv),
        _project(opts),
        _say,
        volumes=sub.volumes,
        remove_orphans=sub.remove_orphans,
        images=sub.rmi or "",
    )
    return 0


def _ps(inv: Invocation, opts: Options, args: list[str]) -> int:
    from skiff.compose.orchestrate import SERVICE, project_containers

    p = Parser("compose ps")
    p.flag("-a", "--all", help="Show all stopped containers")
    p.flag("-q", "--quiet", help="Only display IDs")
    p.flag("--services", help="Display services")
    sub = p.parse(args)
    project = _project(opts)
    containers = project_containers(_engine(inv), project.name)
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


# --- what docker compose does with docker's own commands ---------------------------------


def _skiff(inv: Invocation, *args: str) -> int:
    """``skiff ARGS`` in this process, with this invocation's --root and --runroot: what
    docker compose does with a container is what docker does with it."""
    from skiff.cli.main import main

    globals_ = [*(["--root", inv.root] if inv.root else []),
                *(["--runroot", inv.runroot] if inv.runroot else [])]  # fmt: skip
    return main([*globals_, *args])


def _exec(inv: Invocation, opts: Options, args: list[str]) -> int:
    p = Parser("compose exec")
    p.flag("-d", "--detach", help="Detached mode: Run command in the background")
    p.flag("-T", "--no-TTY", help="Disable pseudo-TTY allocation (default: auto-detected)")
    p.flag("-u", "--user", kind="string", help="Run the command as this user")
    p.flag("-w", "--workdir", kind="string", help="Path to workdir directory for this command")
    p.flag("-e", "--env", kind="list", help="Set environment variables")
    p.flag("--index", kind="string", help="Index of the container if service has multiple replicas")
    p.flag("--privileged", help="Give extended privileges to the process")
    sub = p.parse(args, interspersed=False)
    if len(sub.args) < 2:
        raise UsageError("compose exec requires a service and a command")
    project = _project(opts)
    name = project.container_name(project.service(sub.args[0]), _count(sub.index or "1"))
    flags = ["-d"] if sub.detach else ["-i"]
    if not sub.detach and not sub.no_TTY and sys.stdin.isatty():
        flags.append("-t")
    flags += [
        *(["-u", sub.user] if sub.user else []),
        *(["-w", sub.workdir] if sub.workdir else []),
    ]
    flags += [f"--env={e}" for e in sub.env or []] + (["--privileged"] if sub.privileged else [])
    return _skiff(inv, "exec", *flags, name, *sub.args[1:])


def _port(inv: Invocation, opts: Options, args: list[str]) -> int:
    p = Parser("compose port")
    p.flag("--protocol", kind="string", help='tcp or udp (default "tcp")')
    p.flag("--index", kind="string", help="Index of the container if service has multiple replicas")
    sub = p.parse(args)
    if len(sub.args) != 2:
        raise UsageError("compose port requires a service and a private port")
    project = _project(opts)
    name = project.container_name(project.service(sub.args[0]), _count(sub.index or "1"))
    return _skiff(inv, "port", name, f"{sub.args[1]}/{sub.protocol or 'tcp'}")


def _top(inv: Invocation, opts: Options, args: list[str]) -> int:
    from skiff.compose.orchestrate import project_containers

    sub = Parser("compose top").parse(args)
    project = _project(opts)
    for name in sub.args:
        project.service(name)
    code = 0
    for container in project_containers(_engine(inv), project.name):
        service = (container.options.get("labels") or {}).get("com.docker.compose.service")
        if container.state.get("Running") and (not sub.args or service in sub.args):
            sys.stdout.write(f"{container.name}\n")
            sys.stdout.flush()
            code = _skiff(inv, "top", container.name) or code
            sys.stdout.write("\n")
    return code


def _run(inv: Invocation, opts: Options, args: list[str]) -> int:
    """A one-off container of a service (label ``oneoff``): its dependencies up first
    (unless ``--no-deps``), the service's ports only with ``--service-ports``, attached
    like ``skiff run`` (its exit code) unless ``-d``."""
    import os

    from skiff.cli.attach import stream_container
    from skiff.compose import orchestrate
    from skiff.compose.project import container_options

    p = Parser("compose run")
    p.flag("-d", "--detach", help="Run container in background and print container ID")
    p.flag("--rm", help="Automatically remove the container when it exits")
    p.flag("--name", kind="string", help="Assign a name to the container")
    p.flag("-e", "--env", kind="list", help="Set environment variables")
    p.flag("--entrypoint", kind="string", help="Override the entrypoint of the image")
    p.flag("-u", "--user", kind="string", help="Run as specified username or uid")
    p.flag("-w", "--workdir", kind="string", help="Working directory inside the container")
    p.flag("--no-deps", help="Don't start linked services")
    p.flag("-T", "--no-TTY", help="Disable pseudo-TTY allocation (default: auto-detected)")
    p.flag("--service-ports", help="Run command with the service's ports published")
    sub = p.parse(args, interspersed=False)
    if not sub.args:
        raise UsageError("compose run requires a service")
    project = _project(opts)
    service = project.service(sub.args[0])
    engine = _engine(inv)
    dependencies = [] if sub.no_deps else project.with_dependencies([service.name])[:-1]
    _build_missing(engine, project, [*dependencies, service], False)
    orchestrate.up(engine, project, _say, services=dependencies)
    options = container_options(project, service, 1)
    options.name = sub.name or f"{project.name}-{service.name}-run-{os.urandom(6).hex()}"
    options.labels = {**options.labels, orchestrate.ONEOFF: "True"}
    if len(sub.args) > 1:
        options.command = sub.args[1:]
    if sub.entrypoint is not None:
        import shlex

        options.entrypoint = shlex.split(sub.entrypoint) or [""]
    options.env = [*options.env, *(sub.env or [])]
    options.user = sub.user or options.user
    options.workdir = sub.workdir or options.workdir
    if not sub.service_ports:
        options.publish = []
    options.auto_remove = sub.rm
    options.interactive = not sub.detach
    options.tty = not sub.detach and not sub.no_TTY and sys.stdin.isatty()
    options.attach = [] if sub.detach else ["stdin", "stdout", "stderr"]
    container = orchestrate.create_container(engine, project, service, options, lambda _: None)
    if sub.detach:
        engine.start(container.id)
        sys.stdout.write(container.name + "\n")
        return 0
    with engine.attached(container.id):
        code = stream_container(engine, container.id, start=True, stdin=True)
    return 0 if code is None else code


def _push(inv: Invocation, opts: Options, args: list[str]) -> int:
    """The images of the (named) services that are built here."""
    sub = Parser("compose push").parse(args)
    project = _project(opts)
    services = [project.service(name) for name in sub.args] or project.services
    for image in dict.fromkeys(s.image for s in services if s.build is not None):
        code = _skiff(inv, "push", image)
        if code:
            return code
    return 0


def _images(inv: Invocation, opts: Options, args: list[str]) -> int:
    from skiff.compose.orchestrate import project_containers
    from skiff.images.inspect import familiar

    p = Parser("compose images")
    p.flag("-q", "--quiet", help="Only display IDs")
    sub = p.parse(args)
    engine = _engine(inv)
    rows = [("CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE")]
    ids = []
    for container in project_containers(engine, _project(opts).name):
        image = engine.images.get(container.image_id)
        name = familiar(image.tags[0]) if image.tags else "<none>:<none>"
        repository, _, tag = name.rpartition(":")
        ids.append(image.id)
        rows.append((container.name, repository, tag, image.short_id, _size(image.size)))
    if sub.quiet:
        sys.stdout.write("".join(f"{i}\n" for i in dict.fromkeys(ids)))
        return 0
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        line = "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        sys.stdout.write(line.rstrip() + "\n")
    return 0


def _size(size: int) -> str:
    from skiff.units import human_size

    return human_size(size)


def _pull(inv: Invocation, opts: Options, args: list[str]) -> int:
    """The images of the (named) services that have no ``build``."""
    p = Parser("compose pull")
    p.flag("-q", "--quiet", help="Pull without printing progress information")
    sub = p.parse(args)
    project = _project(opts)
    services = [project.service(name) for name in sub.args] or project.services
    for image in dict.fromkeys(s.image for s in services if s.build is None):
        code = _skiff(inv, "pull", *(["-q"] if sub.quiet else []), image)
        if code:
            return code
    return 0


HANDLERS: dict[str, Callable[[Invocation, Options, list[str]], int]] = {
    "build": _build,
    "config": _config,
    "down": _down,
    "exec": _exec,
    "images": _images,
    "kill": _kill,
    "logs": _logs,
    "port": _port,
    "ps": _ps,
    "pull": _pull,
    "push": _push,
    "run": _run,
    "restart": _lifecycle("restart"),
    "rm": _rm,
    "start": _lifecycle("start"),
    "stop": _lifecycle("stop"),
    "top": _top,
    "up": _up,
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
            "[OPTIONS] COMMAND\n\nCommands:\n  " + "\n  ".join(SUBCOMMANDS),
            _setup,
            _compose,
            (0, None),
            interspersed=False,
        )
    )
