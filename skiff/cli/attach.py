"""``skiff exec`` and ``skiff attach``, and :func:`stream_container`, what ``run`` in the
foreground and ``start -a/-i`` call to start a container attached to this terminal.

Docker's rules: with a terminal (``-t``), stdin is in raw mode and the detach keys
(``--detach-keys``, ctrl-p,ctrl-q) leave the container running; without one,
``--sig-proxy`` (default true) forwards the signals this command receives to the
container. Attaching stdin to a terminal container needs a terminal here ("the input
device is not a TTY"). A detach ends ``run`` and ``start`` with 0 and says nothing; it
ends ``attach`` and ``exec`` with "read escape sequence" and 1, as the docker CLI does.
``exec`` exits with the process's code, 126 when it could not be started and 127 when
its command was not found (Docker's message, as is); every other error exits 1.
"""

from __future__ import annotations

import os
import sys

from skiff.cli.main import Command, CommandFailed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from skiff.cli.main import Invocation, Options, Parser, Registry
    from skiff.engine.engine import Engine

DETACH_KEYS_HELP = "Override the key sequence for detaching a container"
ESCAPE_MESSAGE = "read escape sequence"


def check_tty(tty: bool, stdin: bool) -> None:
    """Docker's check before attaching stdin to a terminal container (``run`` makes it
    before it creates the container)."""
    if tty and stdin and not os.isatty(0):
        sys.stderr.write("the input device is not a TTY\n")
        raise CommandFailed("")


def _die_of(signum: int) -> None:
    """End this process as ``signum`` would have (after the terminal was restored)."""
    from skiff.linux import signals

    signals.signal(signum, signals.SIG_DFL)
    os.kill(os.getpid(), signum)


def stream_container(
    engine: Engine,
    ref: str,
    *,
    start: bool,
    stdin: bool,
    stdout: bool = True,
    stderr: bool = True,
    detach_keys: str | None = None,
    sig_proxy: bool = True,
) -> int | None:
    """Attach this command's stdio to a container until it exits: its exit code, or None
    when the user detached (the container keeps running).

    With ``start``, the container is started, attached before its process runs (nothing
    it prints is missed); a start that fails is reported as ``run`` reports it (its exit
    code 125/126/127, a ``--rm`` container removed). ``stdin``/``stdout``/``stderr``: the
    streams to attach (``-i``, ``-a``); ``detach_keys``: ``--detach-keys`` as given;
    ``sig_proxy``: forward signals (only without a terminal, as Docker)."""
    from skiff.engine.attach import (
        AttachSession,
        Interrupted,
        parse_detach_keys,
        wait_exit_code,
    )
    from skiff.engine.filesystem import ContainerFiles
    from skiff.engine.monitor import MonitorPaths

    container = engine.containers.get(ref)
    tty = bool(container.options.get("tty"))
    keys = parse_detach_keys(detach_keys)
    check_tty(tty, stdin)
    files = ContainerFiles(engine.paths, container.id)
    sessions: list[AttachSession] = []
    sys.stdout.flush()
    sys.stderr.flush()

    def connect(bundle: str) -> None:
        sessions.append(AttachSession.connect(bundle))
        engine.record_event(container, "attach")  # Docker's: create, attach, start...

    try:
        if start:
            _start(engine, container.id, connect)
        if not sessions:
            connect(files.bundle)

        def forward(signum: int) -> None:
            from skiff.errors import SkiffError

            try:
                engine.kill(container.id, str(signum))
            except SkiffError:
                pass

        try:
            ending = sessions[0].pump(
                stdin=0 if stdin else None,
                stdout=1 if stdout else None,
                stderr=2 if stderr else None,
                tty=tty,
                detach_keys=keys,
                forward_signal=forward if sig_proxy and not tty else None,
            )
        except Interrupted as e:
            _die_of(e.signum)
            raise
    finally:
        for session in sessions:
            session.close()
    if ending == "detached":
        return None
    code = wait_exit_code(MonitorPaths(engine.paths.runroot, files.dir, container.id))
    recorded = engine.cleanup(container.id)
    return recorded if recorded is not None else code or 0


def _start(engine: Engine, container_id: str, connect: Callable[[str], None]) -> None:
    """``engine.start`` with ``connect(bundle)`` before the process runs; a failure as
    ``run`` reports it."""
    from skiff.engine.engine import start_error_code
    from skiff.errors import SkiffError

    try:
        engine.start(container_id, before_start=connect)
    except SkiffError as e:
        engine.after_failed_start(container_id)
        raise CommandFailed(str(e), start_error_code(str(e))) from None


# --- attach -----------------------------------------------------------------------------


def _attach_flags(parser: Parser) -> None:
    parser.flag("--detach-keys", kind="string", help=DETACH_KEYS_HELP)
    parser.flag("--no-stdin", help="Do not attach STDIN")
    parser.flag("--sig-proxy", help="Proxy all received signals to the process", default=True)


def _attach(inv: Invocation, opts: Options) -> int:
    from skiff.engine.engine import Engine

    engine = Engine(inv.paths)
    container = engine.containers.get(opts.args[0])
    state = container.state
    if not state.get("Running"):
        raise CommandFailed("You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise CommandFailed("You cannot attach to a paused container, unpause it first")
    if state.get("Restarting"):
        raise CommandFailed("You cannot attach to a restarting container, wait until it is running")
    code = stream_container(
        engine,
        container.id,
        start=False,
        stdin=bool(container.options.get("interactive")) and not opts.no_stdin,
        detach_keys=opts.detach_keys,
        sig_proxy=opts.sig_proxy,
    )
    if code is None:
        sys.stderr.write(ESCAPE_MESSAGE + "\n")
        return 1
    return code


# --- exec -------------------------------------------------------------------------------


def _exec_flags(parser: Parser) -> None:
    flag = parser.flag
    flag("-d", "--detach", help="Detached mode: run command in the background")
    flag("--detach-keys", kind="string", help=DETACH_KEYS_HELP)
    flag("-e", "--env", kind="list", help="Set environment variables")
    flag("--env-file", kind="list", help="Read in a file of environment variables")
    flag("-i", "--interactive", help="Keep STDIN open even if not attached")
    flag("--privileged", help="Give extended privileges to the command")
    flag("-t", "--tty", help="Allocate a pseudo-TTY")
    flag(
        "--timeout",
        kind="int",
        help="Kill a command without -t after this many seconds, exit 124 (skiff's)",
    )
    flag("-u", "--user", kind="string", help='Username or UID (format: "<name|uid>[:<group|gid>]")')
    flag("-w", "--workdir", kind="string", help="Working directory inside the container")


def _exec(inv: Invocation, opts: Options) -> int:
    from skiff.engine.attach import Interrupted, parse_detach_keys
    from skiff.engine.engine import Engine
    from skiff.engine.exec import ExecConfig, ExecFailed, exec_in_container
    from skiff.engine.options import parse_int
    from skiff.errors import SkiffError

    env: list[str] = []
    if opts.env or opts.env_file:
        from skiff.engine.options import parse_env, parse_env_file

        env = [line for path in opts.env_file for line in parse_env_file(path)]
        env += [parse_env(value) for value in opts.env]
    config = ExecConfig(
        command=opts.args[1:],
        env=env,
        user=opts.user or "",
        workdir=opts.workdir or "",
        tty=opts.tty,
        interactive=opts.interactive,
        detach=opts.detach,
        privileged=opts.privileged,
        detach_keys=parse_detach_keys(opts.detach_keys),
        timeout=max(parse_int(opts.timeout, "--timeout"), 0) if opts.timeout else 0,
    )
    engine = Engine(inv.paths)
    if not opts.detach:
        check_tty(opts.tty, opts.interactive)
    sys.stdout.flush()
    # skiff serve's exec runs this command; dockerd tells a client that the process could
    # not start in the exec's output, with 126: the message goes to that descriptor
    failure_fd = os.environ.get("SKIFF_EXEC_FAILURE_FD")
    try:
        code = exec_in_container(engine, opts.args[0], config)
    except Interrupted as e:
        _die_of(e.signum)
        raise
    except SkiffError as e:
        if failure_fd and not opts.detach:
            os.write(int(failure_fd), str(e).encode())
            return 126
        if not isinstance(e, ExecFailed):
            raise
        if opts.detach:
            raise CommandFailed(str(e)) from None
        sys.stderr.write(f"{e}\n")
        return e.exit_code
    if code is None:
        sys.stderr.write(ESCAPE_MESSAGE + "\n")
        return 1
    return code


def register(registry: Registry) -> None:
    registry.group("container", "Manage containers")
    registry.add(
        Command(
            "container exec",
            "Execute a command in a running container",
            "[OPTIONS] CONTAINER COMMAND [ARG...]",
            _exec_flags,
            _exec,
            (2, None),
            aliases=("exec",),
            interspersed=False,
        )
    )
    registry.add(
        Command(
            "container attach",
            "Attach local standard input, output, and error streams to a running container",
            "[OPTIONS] CONTAINER",
            _attach_flags,
            _attach,
            (1, 1),
            aliases=("attach",),
        )
    )
