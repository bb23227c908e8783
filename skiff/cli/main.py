"""The ``skiff`` command: Docker's verbs, flags, messages and exit codes.

``skiff [OPTIONS] COMMAND [ARGS...]``. Global options come before the command (``--root``,
``--runroot``, ``-D/--debug``, ``-v/--version``, ``-h/--help``). Command modules register
their commands (:func:`_load_commands`); each is parsed by its own :class:`Parser`, built
only when the command runs, with Docker's (pflag's) syntax: flags anywhere, ``--flag=v``,
``-abc``, ``--bool=false``. A command imports what it needs when it runs, so ``skiff
--help`` stays light.

Errors: a :class:`~skiff.errors.SkiffError` prints one line ``Error: <message>`` on stderr
(a traceback too with ``--debug``) and exits with the command's code if it has one
(Docker's image verbs exit 1 on every failure, as the docker client does), else the
error's ``exit_code``. A usage mistake prints Docker's message with the usage line and
exits 125 for a bad flag, 1 for a wrong number of arguments.
"""

from __future__ import annotations

import os
import sys

from skiff import __version__
from skiff.cli.flags import FALSE, TRUE, Flag, FlagError, FlagSet, Options
from skiff.errors import SkiffError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn

    from skiff.images.service import ImageStore
    from skiff.paths import Paths

PROG = "skiff"
DESCRIPTION = "A container engine in Python"


class UsageError(Exception):
    """A command line that does not parse: Docker's message, then the usage line."""

    def __init__(self, message: str, exit_code: int = 125) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class CommandFailed(SkiffError):
    """A failure with an exit code of its own, or one already reported (``message`` "")."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Parser:
    """The flags of one command (pflag's syntax and messages: skiff.cli.flags)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._set = FlagSet()
        self.flags = self._set.flags

    def flag(
        self,
        *names: str,
        kind: str = "bool",
        help: str = "",
        default: Any = None,
        dest: str | None = None,
        check: Callable[[Flag, str], None] | None = None,
    ) -> None:
        """Add a flag. ``kind`` is bool, string, list (repeatable) or a type name shown
        in --help (``filter``); ``check`` vets each value."""
        self._set.add(Flag(names, kind, help, default, dest, check))

    def filter_flag(self, help: str, short: bool = True) -> None:
        """``-f, --filter name=value``, repeatable, checked as the docker CLI checks it."""
        names = ("-f", "--filter") if short else ("--filter",)
        self.flag(*names, kind="filter", check=_check_filter, help=help)

    def parse(self, args: Sequence[str], interspersed: bool = True) -> Options:
        """The flags and the arguments (``args``); without ``interspersed``, flags end at
        the first argument (``run IMAGE COMMAND -x``: ``-x`` is the command's)."""
        try:
            return self._set.parse(args, interspersed)
        except FlagError as e:
            raise UsageError(str(e)) from None


# The help of --format, as the docker CLI words it (lists, and inspect's).
FORMAT_HELP = (
    "Format output using a custom template:\n"
    "'table':            Print output in table format with column headers (default)\n"
    "'table TEMPLATE':   Print output in table format using the given Go template\n"
    "'json':             Print in JSON format\n"
    "'TEMPLATE':         Print output using the given Go template."
)
INSPECT_FORMAT_HELP = (
    "Format output using a custom template:\n"
    "'json':             Print in JSON format\n"
    "'TEMPLATE':         Print output using the given Go template."
)


def _check_filter(flag: Flag, value: str) -> None:
    """A filter is ``name=value``, as the docker CLI's FilterOpt checks."""
    if "=" not in value:
        raise FlagError(
            f'invalid argument "{value}" for "{flag.label}" flag: '
            "bad format of filter (expected name=value)"
        )


def parse_filters(values: list[str]) -> dict[str, list[str]]:
    """``name=value`` strings as Docker's filters.Args: name -> values (names lowercased)."""
    filters: dict[str, list[str]] = {}
    for value in values:
        name, _, rest = value.partition("=")
        filters.setdefault(name.strip().lower(), []).append(rest.strip())
    return filters


class Command:
    """One command: where it is (``image ls``), its help, flags and what it runs."""

    def __init__(
        self,
        path: str,
        summary: str,
        usage: str,
        setup: Callable[[Parser], None],
        run: Callable[[Invocation, Options], int | None],
        args: tuple[int, int | None] = (0, 0),
        aliases: Sequence[str] = (),
        exit_code: int | None = 1,
        interspersed: bool = True,
    ) -> None:
        self.path = path
        self.summary = summary
        self.usage = usage
        self.setup = setup
        self.run = run
        self.args = args
        self.aliases = tuple(aliases)
        self.exit_code = exit_code  # every error's exit code (None: the error's own)
        self.interspersed = interspersed  # flags after the first argument (not for run)

    def use_line(self, path: str) -> str:
        return f"{PROG} {path} {self.usage}".rstrip()


class Group:
    def __init__(self, name: str, summary: str) -> None:
        self.name = name
        self.summary = summary
        self.commands: dict[str, Command] = {}


class Registry:
    """Commands and management commands (``image``, ``system``) by name."""

    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self.groups: dict[str, Group] = {}

    def group(self, name: str, summary: str) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name, summary)
        return self.groups[name]

    def add(self, command: Command) -> Command:
        """Register ``command`` at its path and each alias (``images``, ``image list``)."""
        for path in (command.path, *command.aliases):
            group, _, name = path.rpartition(" ")
            if group:
                self.groups[group].commands[name] = command
            else:
                self.commands[name] = command
        return command

    def lookup(self, words: list[str]) -> tuple[Command | Group | None, str, int]:
        """The command the words name, its path, and how many words it took."""
        if not words:
            return None, "", 0
        if words[0] in self.groups:
            group = self.groups[words[0]]
            if len(words) > 1 and not words[1].startswith("-") and words[1] in group.commands:
                return group.commands[words[1]], f"{words[0]} {words[1]}", 2
            return group, words[0], 1
        return self.commands.get(words[0]), words[0], 1


class Invocation:
    """One run of the command: global options, and the store opened on first use."""

    def __init__(self, root: str | None, runroot: str | None, debug: bool) -> None:
        self.root = root
        self.runroot = runroot
        self.debug = debug
        self._images: ImageStore | None = None
        self.path = ""

    @property
    def paths(self) -> Paths:
        from skiff.paths import Paths

        return Paths(self.root, self.runroot)

    def images(self) -> ImageStore:
        if self._images is None:
            from skiff.images.service import ImageStore

            self._images = ImageStore(self.paths)
        return self._images

    def error(self, message: str) -> None:
        """Report one error (of several) without stopping: ``Error: <message>``."""
        sys.stderr.write(f"Error: {message}\n")


# --- help -------------------------------------------------------------------------------


def _option_lines(flags: list[Flag]) -> list[str]:
    import textwrap

    rows = []
    for flag in flags:
        short = next((n for n in flag.names if not n.startswith("--")), None)
        long = next((n for n in flag.names if n.startswith("--")), None)
        text = f"  {short}, " if short and long else (f"  {short}" if short else "      ")
        text += long or ""
        if flag.kind != "bool":
            text += f" {flag.kind}"
        help_text = flag.help
        if flag.kind == "bool" and flag.default:
            help_text += " (default true)"
        elif flag.kind == "string" and flag.default:
            help_text += f' (default "{flag.default}")'
        rows.append((text, help_text))
    width = max((len(text) for text, _ in rows), default=0) + 3
    lines = []
    for text, help_text in rows:
        wrapped = []
        for paragraph in help_text.split("\n"):
            wrapped += textwrap.wrap(paragraph, max(80 - width, 30)) or [""]
        lines.append(text.ljust(width) + wrapped[0])
        lines.extend(" " * width + more for more in wrapped[1:])
    return lines


def command_help(command: Command, path: str, parser: Parser) -> str:
    out = [f"Usage:  {command.use_line(path)}", "", command.summary]
    paths = [command.path, *command.aliases]
    if len(paths) > 1:
        out += ["", "Aliases:", "  " + ", ".join(f"{PROG} {p}" for p in sorted(paths))]
    flags = parser.flags
    if flags:
        out += ["", "Options:", *_option_lines(flags)]
    return "\n".join(out) + "\n"


def _command_list(commands: dict[str, Any]) -> list[str]:
    width = max([11, *(len(name) for name in commands)])
    return [f"  {name.ljust(width)} {commands[name].summary}" for name in sorted(commands)]


def group_help(group: Group) -> str:
    out = [f"Usage:  {PROG} {group.name} COMMAND", "", group.summary, "", "Commands:"]
    # each command once, by its own name (``ls``, not its aliases ``list`` and ``ps``)
    out += _command_list({n: c for n, c in group.commands.items() if c.path == f"{group.name} {n}"})
    out += ["", f"Run '{PROG} {group.name} COMMAND --help' for more information on a command."]
    return "\n".join(out) + "\n"


GLOBAL_FLAGS = [
    Flag(("-D", "--debug"), "bool", "Enable debug mode (a traceback with an error)", False),
    Flag(
        ("--root",),
        "string",
        "Where skiff keeps its state (default $SKIFF_ROOT or\n/var/lib/skiff)",
        None,
    ),
    Flag(
        ("--runroot",),
        "string",
        "Where skiff keeps its runtime state (default\n$SKIFF_RUNROOT or /run/skiff)",
        None,
    ),
    Flag(("-v", "--version"), "bool", "Print version information and quit", False),
]


def main_help(registry: Registry) -> str:
    out = [f"Usage:  {PROG} [OPTIONS] COMMAND", "", DESCRIPTION, "", "Management Commands:"]
    out += _command_list(registry.groups)
    out += ["", "Commands:"]
    out += _command_list(registry.commands)
    out += ["", "Global Options:", *_option_lines(GLOBAL_FLAGS)]
    out += ["", f"Run '{PROG} COMMAND --help' for more information on a command."]
    out += ["", f"The OCI runtime is its own command: {PROG}-runtime --help"]
    return "\n".join(out) + "\n"


# --- the command ------------------------------------------------------------------------


def _version(inv: Invocation, opts: Options) -> int:
    sys.stdout.write(f"{PROG} version {__version__}\n")
    return 0


# The modules that register commands (each has ``register(registry)``).
COMMAND_MODULES = (
    "images",
    "containers",
    "listing",
    "system",
    "completion",
    "volumes",
    "lifecycle",
    "observe",
    "transfer",
    "attach",
    "networks",
    "registry",
    "serve",
    "build",
    "compose",
    "compare",
    "cri",
)


# The module that registers each command ("ps", "image ls"): a command line loads the one
# module it needs, not all eleven (about 3 ms). tests/unit/test_cli_format.py checks it against
# what the modules register.
COMMAND_INDEX = {
    "attach": "attach",
    "build": "build",
    "commit": "transfer",
    "compare": "compare",
    "compose": "compose",
    "completion bash": "completion",
    "completion fish": "completion",
    "completion zsh": "completion",
    "container attach": "attach",
    "container cleanup": "containers",
    "container commit": "transfer",
    "container cp": "transfer",
    "container create": "containers",
    "container diff": "transfer",
    "container exec": "attach",
    "container export": "transfer",
    "container inspect": "listing",
    "container kill": "containers",
    "container list": "listing",
    "container logs": "observe",
    "container ls": "listing",
    "container pause": "containers",
    "container port": "listing",
    "container prune": "system",
    "container ps": "listing",
    "container remove": "containers",
    "container rename": "containers",
    "container restart": "containers",
    "container rm": "containers",
    "container run": "containers",
    "container start": "containers",
    "container stats": "observe",
    "container stop": "containers",
    "container top": "observe",
    "container unpause": "containers",
    "container update": "containers",
    "container wait": "containers",
    "cp": "transfer",
    "create": "containers",
    "cri": "cri",
    "diff": "transfer",
    "events": "observe",
    "exec": "attach",
    "export": "transfer",
    "history": "images",
    "image build": "build",
    "image history": "images",
    "image import": "images",
    "image inspect": "images",
    "image list": "images",
    "image load": "images",
    "image ls": "images",
    "image prune": "images",
    "image pull": "registry",
    "image push": "registry",
    "image remove": "images",
    "image rm": "images",
    "image save": "images",
    "image tag": "images",
    "images": "images",
    "import": "images",
    "info": "system",
    "inspect": "images",
    "kill": "containers",
    "load": "images",
    "login": "registry",
    "logout": "registry",
    "logs": "observe",
    "network connect": "networks",
    "network create": "networks",
    "network disconnect": "networks",
    "network inspect": "networks",
    "network list": "networks",
    "network ls": "networks",
    "network prune": "networks",
    "network remove": "networks",
    "network rm": "networks",
    "pause": "containers",
    "port": "listing",
    "ps": "listing",
    "pull": "registry",
    "push": "registry",
    "serve": "serve",
    "rename": "containers",
    "restart": "containers",
    "rm": "containers",
    "rmi": "images",
    "run": "containers",
    "save": "images",
    "start": "containers",
    "stats": "observe",
    "stop": "containers",
    "system boot": "lifecycle",
    "system df": "system",
    "system events": "observe",
    "system health-runner": "lifecycle",
    "system info": "system",
    "system prune": "system",
    "tag": "images",
    "top": "observe",
    "unpause": "containers",
    "update": "containers",
    "version": "system",
    "volume create": "volumes",
    "volume inspect": "volumes",
    "volume list": "volumes",
    "volume ls": "volumes",
    "volume prune": "volumes",
    "volume remove": "volumes",
    "volume rm": "volumes",
    "wait": "containers",
}


def base_registry() -> Registry:
    """A registry with the groups the command modules expect."""
    registry = Registry()
    registry.group("image", "Manage images")
    registry.group("system", f"Manage {PROG}")
    return registry


def _load_commands(words: Sequence[str] = ()) -> Registry:
    """The commands: of the one module the words name a command of, else of all."""
    registry = base_registry()
    import importlib

    named = COMMAND_INDEX.get(" ".join(words[:2])) or COMMAND_INDEX.get(" ".join(words[:1]))
    for module in (named,) if named else COMMAND_MODULES:
        importlib.import_module(f"skiff.cli.{module}").register(registry)
    return registry


def _usage_failure(message: str, use_line: str, path: str, code: int, see: str = "Run") -> int:
    sys.stderr.write(
        f"{message}\n\nUsage:  {use_line}\n\n{see} '{PROG} {path} --help' for more information\n"
    )
    return code


def _check_count(command: Command, path: str, count: int) -> int:
    low, high = command.args
    if low <= count and (high is None or count <= high):
        return 0
    name = f"{PROG}: '{PROG} {path}'"
    see = "Run"
    if high == 0:
        message = f"{name} accepts no arguments"
    elif low == high:
        message = f"{name} requires {low} argument{'s' if low != 1 else ''}"
    elif high is None:
        message = f"{name} requires at least {low} argument{'s' if low != 1 else ''}"
        see = "See"
    elif low == 0:
        message = f"{name} requires at most {high} argument{'s' if high != 1 else ''}"
    else:
        message = f"{name} requires at least {low} and at most {high} arguments"
    return _usage_failure(message, command.use_line(path), path, 1, see)


def _parse_globals(argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The options before the command (pflag's syntax), and the words from the command on."""
    options: dict[str, Any] = {"debug": False, "version": False, "help": False}
    options |= {"root": None, "runroot": None}
    bools = {"-D": "debug", "--debug": "debug", "-v": "version", "--version": "version"}
    bools |= {"-h": "help", "--help": "help"}
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        arg = argv[i]
        i += 1
        if arg == "--":
            break
        name, sep, value = arg.partition("=")
        if name in bools:
            if sep and value not in TRUE + FALSE:
                raise UsageError(
                    f'invalid argument "{value}" for "{name}" flag: '
                    f'strconv.ParseBool: parsing "{value}": invalid syntax'
                )
            options[bools[name]] = not sep or value in TRUE
        elif name in ("--root", "--runroot"):
            if not sep:
                if i >= len(argv):
                    raise UsageError(f"flag needs an argument: {name}")
                value = argv[i]
                i += 1
            options[name[2:]] = value
        elif name.startswith("--"):
            raise UsageError(f"unknown flag: {name}")
        else:
            raise UsageError(f"unknown shorthand flag: '{arg[1:2]}' in {arg}")
    return options, argv[i:]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        options, words = _parse_globals(args)
    except UsageError as e:
        sys.stderr.write(
            f"{e}\n\nUsage:  {PROG} [OPTIONS] COMMAND\n\nRun '{PROG} --help' for more information\n"
        )
        return e.exit_code
    if options["version"]:
        return _version(Invocation(None, None, False), Options())
    if words[:1] == ["help"]:
        words, options["help"] = words[1:], True
    registry = _load_commands(words)
    if not words:
        sys.stdout.write(main_help(registry))
        return 0
    found, path, used = registry.lookup(words)
    rest = words[used:]
    if found is None:
        sys.stderr.write(
            f"{PROG}: unknown command: {PROG} {words[0]}\n\n"
            f"Run '{PROG} --help' for more information\n"
        )
        return 1
    if options["help"]:
        rest = ["--help"]
    if isinstance(found, Group):
        if rest and rest[0] in ("-h", "--help"):
            rest = []
        if rest:
            sys.stderr.write(
                f"{PROG}: unknown command: {PROG} {path} {rest[0]}\n\n"
                f"Usage:  {PROG} {path} COMMAND\n\n"
                f"Run '{PROG} {path} --help' for more information\n"
            )
            return 1
        sys.stdout.write(group_help(found))
        return 0
    return _run(found, path, rest, options)


def _run(command: Command, path: str, rest: list[str], options: dict[str, Any]) -> int:
    parser = Parser(f"{PROG} {path}")
    command.setup(parser)
    try:
        opts = parser.parse(rest, command.interspersed)
    except UsageError as e:
        if e.exit_code == 125:
            return _usage_failure(str(e), command.use_line(path), path, e.exit_code)
        sys.stderr.write(f"{e}\n")
        return e.exit_code
    if opts.help:
        sys.stdout.write(command_help(command, path, parser))
        return 0
    failed = _check_count(command, path, len(opts.args))
    if failed:
        return failed
    inv = Invocation(options["root"], options["runroot"], options["debug"])
    inv.path = path
    try:
        code = command.run(inv, opts) or 0
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return 130
    except UsageError as e:
        return _usage_failure(str(e), command.use_line(path), path, e.exit_code)
    except Exception as e:
        return _fail(inv, e, command)


def _fail(inv: Invocation, error: BaseException, command: Command) -> int:
    """Report an error in one line (a traceback first with --debug); the exit code."""
    if inv.debug:
        import traceback

        traceback.print_exception(error)
    if isinstance(error, SkiffError):
        message = str(error)
    elif isinstance(error, OSError):
        message = os_message(error)
    elif getattr(error, "sqlite_errorname", "") == "SQLITE_FULL":
        # SQLite's "database or disk is full": a full disk, said as a write that failed
        # (skiff.db falls back so that reading works; writing cannot until space is freed).
        from skiff.paths import Paths

        message = f"write {Paths(inv.root, inv.runroot).database}: no space left on device"
    else:  # a bug: still one line
        message = f"{type(error).__name__}: {error}"
    if message:
        sys.stderr.write(f"Error: {message}\n")
    if isinstance(error, CommandFailed):
        return error.exit_code
    if command.exit_code is not None:
        return command.exit_code
    return error.exit_code if isinstance(error, SkiffError) else 125


def os_message(error: OSError) -> str:
    """An OSError as Go words it: ``open x: no such file or directory``."""
    reason = (error.strerror or str(error)).lower() if error.strerror else str(error)
    if error.filename is not None:
        return f"{error.filename}: {reason}"
    return reason


def _quiet_stdout() -> None:
    """After EPIPE on stdout, let the interpreter's final flush fail silently."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def entry() -> NoReturn:
    """The ``skiff`` command."""
    from skiff.fastexit import run_and_exit

    run_and_exit(main)


if __name__ == "__main__":
    entry()
