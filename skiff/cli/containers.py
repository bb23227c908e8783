"""Container verbs of the ``skiff`` command: run, create, start, stop, restart, kill, rm,
wait, pause, unpause, rename, update (the engine's side of them is skiff.engine).

Verbs that take several containers act on each in turn, print the name as given for each
success and ``Error: ...`` for each failure, and exit 1 if any failed, as the docker CLI
does. ``run`` exits with the container's code, or 125/126/127 when the engine, the
command's invocation or its lookup failed (Docker's rule)."""

from __future__ import annotations

import sys

from skiff.cli.main import Command, CommandFailed, Invocation, Options, Parser, Registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from skiff.engine.engine import Engine


def _engine(inv: Invocation) -> Engine:
    from skiff.engine.engine import Engine

    return Engine(inv.paths)


# --- run / create -----------------------------------------------------------------------


def _create_flags(parser: Parser) -> None:
    from skiff.cli.run_flags import add_flags

    add_flags(parser, run=False)


def _run_flags(parser: Parser) -> None:
    from skiff.cli.run_flags import add_flags

    add_flags(parser, run=True)


def _make(inv: Invocation, opts: Options) -> tuple[Engine, str]:
    """Create the container a run/create command line describes; its id."""
    from skiff.cli.run_flags import to_options
    from skiff.errors import NotFound

    options = to_options(opts, opts.args[0], opts.args[1:])
    if opts.pull not in ("always", "missing", "never"):
        raise CommandFailed(
            f'invalid pull option: \'{opts.pull}\': must be one of "always", "missing" or "never"',
            125,
        )
    engine = _engine(inv)
    name, platform = opts.args[0], opts.platform or ""
    if opts.pull == "always":
        _pull(engine, name, platform, opts.quiet)
    if platform:
        _check_platform(engine, name, platform)
    notice = engine.runtime_notice(options.runtime or "")
    if notice:
        sys.stderr.write(notice + "\n")
    try:
        container = engine.create(options)
    except NotFound as e:  # create reads the image before it changes anything
        from skiff.images.reference import is_full_id

        if opts.pull != "missing" or not str(e).startswith("No such image") or is_full_id(name):
            raise
        if not opts.quiet:
            sys.stderr.write(f"Unable to find image '{_with_tag(name)}' locally\n")
        _pull(engine, name, platform, opts.quiet)
        if platform:
            _check_platform(engine, name, platform)
        container = engine.create(options)
    return engine, container.id


def _pull(engine: Engine, name: str, platform: str, quiet: bool) -> None:
    """``--pull``'s pull: its progress goes to stderr, as docker's does (``-q``: nowhere).
    An image ID is not a name to pull."""
    from skiff.cli.registry import pull_with_progress
    from skiff.images.reference import is_full_id

    if is_full_id(name):
        return
    pull_with_progress(engine.images, name, platform, quiet, sys.stderr, say_tag=False)


def _check_platform(engine: Engine, name: str, platform: str) -> None:
    """``--platform os/arch[/variant]`` must be the image's (skiff runs what it has)."""
    from skiff.errors import NotFound

    try:
        config = engine.images.get(name).config
    except NotFound:
        return  # create says so
    actual = f"{config.get('os', 'linux')}/{config.get('architecture', 'amd64')}"
    wanted = "/".join(platform.lower().split("/")[:2])
    if wanted != actual and wanted != actual.split("/")[0]:
        raise CommandFailed(
            f"image with reference {name} was found but does not provide the specified "
            f"platform ({platform})",
            125,
        )


def _with_tag(name: str) -> str:
    last = name.rpartition("/")[2]
    return name if ":" in last or "@" in name else f"{name}:latest"


def _create(inv: Invocation, opts: Options) -> int:
    _, container_id = _make(inv, opts)
    sys.stdout.write(container_id + "\n")
    return 0


def _run(inv: Invocation, opts: Options) -> int:
    from skiff.engine.engine import start_error_code
    from skiff.errors import SkiffError

    if not opts.detach:
        from skiff.cli.attach import check_tty

        check_tty(opts.tty, "stdin" in opts.attach if opts.attach else opts.interactive)
    engine, container_id = _make(inv, opts)
    if opts.detach:
        try:
            engine.start(container_id)
        except SkiffError as e:
            engine.after_failed_start(container_id)
            raise CommandFailed(str(e), start_error_code(str(e))) from None
        sys.stdout.write(container_id + "\n")
        return 0
    streams = engine.containers.get(container_id).options["attach"]
    return _run_attached(engine, container_id, streams, opts)


def _run_attached(engine: Engine, container_id: str, streams: list[str], opts: Options) -> int:
    """Start the container (or join it running) with ``streams`` (stdin, stdout, stderr)
    attached here until it exits: its exit code; 0 when the user detached."""
    from skiff.cli.attach import stream_container

    with engine.attached(container_id):
        code = stream_container(
            engine,
            container_id,
            start=not engine.containers.get(container_id).state.get("Running"),
            stdin="stdin" in streams,
            stdout="stdout" in streams,
            stderr="stderr" in streams,
            detach_keys=opts.detach_keys,
            sig_proxy=getattr(opts, "sig_proxy", True),
        )
    return 0 if code is None else code


# --- start / stop / restart / kill / rm / wait ------------------------------------------


def _each(inv: Invocation, names: list[str], act: Callable[[str], object]) -> int:
    """Act on each container; the docker CLI's reporting and exit code."""
    from skiff.errors import SkiffError

    failed = False
    for name in names:
        try:
            result = act(name)
        except SkiffError as e:
            inv.error(str(e))
            failed = True
            continue
        sys.stdout.write(f"{result if isinstance(result, (int, str)) else name}\n")
    if failed:
        raise CommandFailed("")
    return 0


def _start_flags(parser: Parser) -> None:
    parser.flag("-a", "--attach", help="Attach STDOUT/STDERR and forward signals")
    parser.flag(
        "--detach-keys", kind="string", help="Override the key sequence for detaching a container"
    )
    parser.flag("-i", "--interactive", help="Attach container's STDIN")


def _start(inv: Invocation, opts: Options) -> int:
    engine = _engine(inv)
    if opts.attach or opts.interactive:
        if len(opts.args) > 1:
            raise CommandFailed("you cannot start and attach multiple containers at once")
        container = engine.containers.get(opts.args[0])
        stdin = opts.interactive and bool(container.options.get("interactive"))
        streams = [*(["stdin"] if stdin else []), "stdout", "stderr"]
        return _run_attached(engine, container.id, streams, opts)
    return _each(inv, opts.args, engine.start)


def _stop_flags(parser: Parser) -> None:
    parser.flag("-s", "--signal", kind="string", help="Signal to send to the container")
    parser.flag("-t", "--time", kind="int", help="Seconds to wait before killing the container")


def _timeout(opts: Options) -> int | None:
    from skiff.cli.main import UsageError
    from skiff.engine.options import InvalidFlagValue, parse_int

    if opts.time is None:
        return None
    try:
        return parse_int(opts.time, "--time")
    except InvalidFlagValue as e:
        raise UsageError(str(e)) from None


def _stop(inv: Invocation, opts: Options) -> int:
    engine = _engine(inv)
    timeout = _timeout(opts)
    return _each(inv, opts.args, lambda name: engine.stop(name, timeout, opts.signal))


def _restart(inv: Invocation, opts: Options) -> int:
    engine = _engine(inv)
    timeout = _timeout(opts)
    return _each(inv, opts.args, lambda name: engine.restart(name, timeout, opts.signal))


def _kill_flags(parser: Parser) -> None:
    parser.flag("-s", "--signal", kind="string", help="Signal to send to the container")


def _kill(inv: Invocation, opts: Options) -> int:
    from skiff.engine.options import parse_signal

    engine = _engine(inv)
    signal = opts.signal or "KILL"

    def kill(name: str) -> None:
        parse_signal(signal)
        engine.kill(name, signal)

    return _each(inv, opts.args, kill)


def _rm_flags(parser: Parser) -> None:
    parser.flag("-f", "--force", help="Force the removal of a running container (uses SIGKILL)")
    parser.flag("-l", "--link", help="Remove the specified link")
    parser.flag("-v", "--volumes", help="Remove anonymous volumes associated with the container")


def _rm(inv: Invocation, opts: Options) -> int:
    engine = _engine(inv)
    if opts.link:
        raise CommandFailed("links are not supported")
    return _each(
        inv, opts.args, lambda name: engine.remove(name, force=opts.force, volumes=opts.volumes)
    )


def _wait(inv: Invocation, opts: Options) -> int:
    engine = _engine(inv)
    return _each(inv, opts.args, engine.wait)


def _pause(inv: Invocation, opts: Options) -> int:
    engine = _engine(inv)
    return _each(inv, opts.args, engine.pause)


def _unpause(inv: Invocation, opts: Options) -> int:
    engine = _engine(inv)
    return _each(inv, opts.args, engine.unpause)


def _rename(inv: Invocation, opts: Options) -> int:
    engine = _engine(inv)
    engine.rename(opts.args[0], opts.args[1])
    return 0


_UPDATE_FLAGS = (
    ("--blkio-weight", "uint16", "Block IO (relative weight), between 10 and 1000"),
    ("--cpu-period", "int", "Limit CPU CFS (Completely Fair Scheduler) period"),
    ("--cpu-quota", "int", "Limit CPU CFS (Completely Fair Scheduler) quota"),
    ("--cpu-rt-period", "int", "Limit the CPU real-time period in microseconds"),
    ("--cpu-rt-runtime", "int", "Limit the CPU real-time runtime in microseconds"),
    ("--cpu-shares", "int", "CPU shares (relative weight)"),
    ("--cpus", "decimal", "Number of CPUs"),
    ("--cpuset-cpus", "string", "CPUs in which to allow execution (0-3, 0,1)"),
    ("--cpuset-mems", "string", "MEMs in which to allow execution (0-3, 0,1)"),
    ("--memory", "bytes", "Memory limit"),
    ("--memory-reservation", "bytes", "Memory soft limit"),
    ("--memory-swap", "bytes", "Swap limit equal to memory plus swap: -1 to enable unlimited swap"),
    ("--pids-limit", "int", "Tune container pids limit (set -1 for unlimited)"),
    ("--restart", "string", "Restart policy to apply when a container exits"),
)


def _update_flags(parser: Parser) -> None:
    for name, kind, help in _UPDATE_FLAGS:
        short = {"--cpu-shares": "-c", "--memory": "-m"}.get(name)
        parser.flag(*((short,) if short else ()), name, kind=kind, help=help)


def _update(inv: Invocation, opts: Options) -> int:
    from skiff.cli.main import UsageError
    from skiff.engine import options as o

    parsers: dict[str, Callable[[str], object]] = {
        "blkio_weight": o.parse_uint16,
        "cpu_period": lambda v: o.parse_int(v, "--cpu-period"),
        "cpu_quota": lambda v: o.parse_int(v, "--cpu-quota"),
        "cpu_rt_period": lambda v: o.parse_int(v, "--cpu-rt-period"),
        "cpu_rt_runtime": lambda v: o.parse_int(v, "--cpu-rt-runtime"),
        "cpu_shares": lambda v: o.parse_int(v, "--cpu-shares"),
        "cpus": o.parse_cpus,
        "cpuset_cpus": str,
        "cpuset_mems": str,
        "memory": o.parse_bytes,
        "memory_reservation": lambda v: o.parse_bytes(v, "--memory-reservation"),
        "memory_swap": o.parse_memory_swap,
        "pids_limit": lambda v: o.parse_int(v, "--pids-limit"),
        "restart": o.parse_restart,
    }
    changes = {}
    try:
        for dest, parse in parsers.items():
            value = getattr(opts, dest)
            if value is not None:
                changes["nano_cpus" if dest == "cpus" else dest] = parse(value)
    except o.InvalidFlagValue as e:
        raise UsageError(str(e)) from None
    if not changes:
        raise CommandFailed("you must provide one or more flags when using this command", 1)
    engine = _engine(inv)
    return _each(inv, opts.args, lambda name: engine.update(name, changes))


def _cleanup(inv: Invocation, opts: Options) -> int:
    """Run by conmon when a container's process has exited; if its restart policy
    restarts it, this sleeps through the back-off and starts it (nothing waits for it)."""
    from skiff.engine.restart import restart_pending

    engine = _engine(inv)
    engine.cleanup(opts.args[0], from_monitor=True)
    restart_pending(engine, opts.args[0])
    return 0


def _no_flags(parser: Parser) -> None:
    pass


def register(registry: Registry) -> None:
    registry.group("container", "Manage containers")
    commands = [
        Command(
            "container run",
            "Create and run a new container from an image",
            "[OPTIONS] IMAGE [COMMAND] [ARG...]",
            _run_flags,
            _run,
            (1, None),
            aliases=("run",),
            exit_code=125,
            interspersed=False,
        ),
        Command(
            "container create",
            "Create a new container",
            "[OPTIONS] IMAGE [COMMAND] [ARG...]",
            _create_flags,
            _create,
            (1, None),
            aliases=("create",),
            exit_code=1,  # the docker CLI's create: 1 for the daemon's errors, 125 for flags
            interspersed=False,
        ),
        Command(
            "container start",
            "Start one or more stopped containers",
            "[OPTIONS] CONTAINER [CONTAINER...]",
            _start_flags,
            _start,
            (1, None),
            aliases=("start",),
        ),
        Command(
            "container stop",
            "Stop one or more running containers",
            "[OPTIONS] CONTAINER [CONTAINER...]",
            _stop_flags,
            _stop,
            (1, None),
            aliases=("stop",),
        ),
        Command(
            "container restart",
            "Restart one or more containers",
            "[OPTIONS] CONTAINER [CONTAINER...]",
            _stop_flags,
            _restart,
            (1, None),
            aliases=("restart",),
        ),
        Command(
            "container kill",
            "Kill one or more running containers",
            "[OPTIONS] CONTAINER [CONTAINER...]",
            _kill_flags,
            _kill,
            (1, None),
            aliases=("kill",),
        ),
        Command(
            "container rm",
            "Remove one or more containers",
            "[OPTIONS] CONTAINER [CONTAINER...]",
            _rm_flags,
            _rm,
            (1, None),
            aliases=("rm", "container remove"),
        ),
        Command(
            "container wait",
            "Block until one or more containers stop, then print their exit codes",
            "CONTAINER [CONTAINER...]",
            _no_flags,
            _wait,
            (1, None),
            aliases=("wait",),
        ),
        Command(
            "container pause",
            "Pause all processes within one or more containers",
            "CONTAINER [CONTAINER...]",
            _no_flags,
            _pause,
            (1, None),
            aliases=("pause",),
        ),
        Command(
            "container unpause",
            "Unpause all processes within one or more containers",
            "CONTAINER [CONTAINER...]",
            _no_flags,
            _unpause,
            (1, None),
            aliases=("unpause",),
        ),
        Command(
            "container rename",
            "Rename a container",
            "CONTAINER NEW_NAME",
            _no_flags,
            _rename,
            (2, 2),
            aliases=("rename",),
        ),
        Command(
            "container update",
            "Update configuration of one or more containers",
            "[OPTIONS] CONTAINER [CONTAINER...]",
            _update_flags,
            _update,
            (1, None),
            aliases=("update",),
        ),
        Command(
            "container cleanup",
            "Record a container's exit and apply --rm and its restart policy (run by its monitor)",
            "CONTAINER",
            _no_flags,
            _cleanup,
            (1, 1),
        ),
    ]
    for command in commands:
        registry.add(command)
