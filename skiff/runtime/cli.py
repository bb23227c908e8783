"""``skiff-runtime``: an OCI runtime with runc's command line.

The flag syntax is runc's (urfave/cli): ``--flag value``, ``--flag=value``, ``-flag``, short
aliases, flags before the positional arguments. It is parsed here by a small table rather
than argparse, because start-up time is a feature of the runtime (argparse alone costs
more than a third of ``runc run``'s whole time).
"""

from __future__ import annotations

import sys

from skiff import __version__
from skiff.errors import InvalidArgument, SkiffError
from skiff.runtime import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn

DEFAULT_ROOT = "/run/skiff-runtime"


class Flag:
    """A flag: its names (long first), kind ("bool", "str", "int" or "list"), help, default."""

    def __init__(self, names: tuple[str, ...], kind: str, help: str, default: Any = None) -> None:
        self.names = names
        self.kind = kind
        self.help = help
        self.default = default
        self.key = names[0].replace("-", "_")


class Command:
    def __init__(
        self,
        summary: str,
        usage: str,
        flags: list[Flag] | None = None,
        min_args: int = 1,
        max_args: int | None = 1,
    ) -> None:
        self.summary = summary
        self.usage = usage
        self.flags = flags or []
        self.min_args = min_args
        self.max_args = max_args


_CREATE_FLAGS = [
    Flag(("bundle", "b"), "str", "path to the root of the bundle directory", "."),
    Flag(("console-socket",), "str", "AF_UNIX socket that receives the pty master"),
    Flag(("pid-file",), "str", "file to write the process id to"),
    Flag(("no-pivot",), "bool", "do not use pivot_root (for a rootfs on a ramdisk)"),
    Flag(("no-new-keyring",), "bool", "do not create a new session keyring"),
    Flag(("preserve-fds",), "int", "pass N more file descriptors to the container", 0),
]

COMMANDS: dict[str, Command] = {
    "create": Command("create a container", "create [options] <container-id>", _CREATE_FLAGS),
    "run": Command(
        "create and run a container",
        "run [options] <container-id>",
        [
            *_CREATE_FLAGS,
            Flag(("detach", "d"), "bool", "detach from the container's process"),
            Flag(("no-subreaper",), "bool", "do not act as subreaper for the container"),
            Flag(("keep",), "bool", "do not delete the container after it exits"),
        ],
    ),
    "start": Command("start a created container", "start <container-id>"),
    "state": Command("output the state of a container", "state <container-id>"),
    "kill": Command(
        "send a signal (default SIGTERM) to the container's init",
        "kill [options] <container-id> [signal]",
        [Flag(("all", "a"), "bool", "send the signal to all processes in the container")],
        max_args=2,
    ),
    "delete": Command(
        "delete a container",
        "delete [options] <container-id>",
        [Flag(("force", "f"), "bool", "kill and delete the container if it is still running")],
    ),
    "exec": Command(
        "run a new process in a running container",
        "exec [options] <container-id> [command [args...]]",
        [
            Flag(("process", "p"), "str", "path to a process.json"),
            Flag(("detach", "d"), "bool", "detach from the process"),
            Flag(("tty", "t"), "bool", "allocate a pseudo-TTY"),
            Flag(("console-socket",), "str", "AF_UNIX socket that receives the pty master"),
            Flag(("pid-file",), "str", "file to write the process id to"),
            Flag(("cwd",), "str", "working directory in the container"),
            Flag(("env", "e"), "list", "set an environment variable"),
            Flag(("user", "u"), "str", "UID[:GID] to run as"),
            Flag(("additional-gids", "g"), "list", "additional group ids"),
            Flag(("cap", "c"), "list", "add a capability"),
            Flag(("no-new-privs",), "bool", "set no_new_privs"),
            Flag(("preserve-fds",), "int", "pass N more file descriptors to the process", 0),
            Flag(("process-label",), "str", "SELinux label (not supported: must be empty)"),
            Flag(("apparmor",), "str", "AppArmor profile (not supported: must be empty)"),
            Flag(("ignore-paused",), "bool", "exec even if the container is paused"),
            Flag(("cgroup",), "list", "run in a sub-cgroup (not supported)"),
        ],
        max_args=None,
    ),
    "pause": Command("suspend all processes of a container", "pause <container-id>"),
    "resume": Command("resume all processes of a paused container", "resume <container-id>"),
    "ps": Command(
        "list the processes of a container",
        "ps [options] <container-id> [ps options]",
        [Flag(("format", "f"), "str", "table or json", "table")],
        max_args=None,
    ),
    "list": Command(
        "list the containers",
        "list [options]",
        [
            Flag(("format", "f"), "str", "table or json", "table"),
            Flag(("quiet", "q"), "bool", "print only the ids"),
        ],
        min_args=0,
        max_args=0,
    ),
    "features": Command("show the features of the runtime", "features", min_args=0, max_args=0),
    "spec": Command(
        "create a new config.json",
        "spec [options]",
        [Flag(("bundle", "b"), "str", "directory to write config.json in", ".")],
        min_args=0,
        max_args=0,
    ),
    "update": Command(
        "update a container's resource limits",
        "update [options] <container-id>",
        [
            Flag(("resources", "r"), "str", "path to a JSON of linux.resources, - for stdin"),
            Flag(("memory",), "str", "memory limit (bytes, or with k/m/g)"),
            Flag(("memory-reservation",), "str", "memory reservation"),
            Flag(("memory-swap",), "str", "memory plus swap limit"),
            Flag(("cpu-shares",), "int", "CPU shares"),
            Flag(("cpu-quota",), "int", "CPU CFS quota in microseconds"),
            Flag(("cpu-period",), "int", "CPU CFS period in microseconds"),
            Flag(("cpu-rt-runtime",), "int", "realtime runtime in microseconds"),
            Flag(("cpu-rt-period",), "int", "realtime period in microseconds"),
            Flag(("cpuset-cpus",), "str", "CPUs to use"),
            Flag(("cpuset-mems",), "str", "memory nodes to use"),
            Flag(("pids-limit",), "int", "maximum number of processes"),
            Flag(("blkio-weight",), "int", "block IO weight (10-1000)"),
        ],
    ),
    "events": Command(
        "show the container's resource usage",
        "events [options] <container-id>",
        [
            Flag(("stats",), "bool", "print the stats once and exit"),
            Flag(("interval",), "str", "interval between stats, like 5s", "5s"),
        ],
    ),
}

GLOBAL_FLAGS = [
    Flag(("root",), "str", "root directory for container state", DEFAULT_ROOT),
    Flag(("log",), "str", "log file (default: stderr only)"),
    Flag(("log-format",), "str", "text or json", "text"),
    Flag(("debug",), "bool", "debug output"),
    Flag(("systemd-cgroup",), "bool", "use the systemd cgroup driver (not supported)"),
    Flag(("rootless",), "str", "auto, true or false (only auto and false are supported)", "auto"),
    Flag(("criu",), "str", "path to criu (checkpoint is not supported)"),
    Flag(("help", "h"), "bool", "show help"),
    Flag(("version", "v"), "bool", "print the version"),
]


def parse_flags(argv: list[str], flags: list[Flag]) -> tuple[dict[str, Any], list[str]]:
    """Flags, then positional arguments: from the first positional (or ``--``) on, all are."""
    values: dict[str, Any] = {f.key: ([] if f.kind == "list" else f.default) for f in flags}
    by_name = {name: f for f in flags for name in f.names}
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            positional.extend(argv[i + 1 :])
            break
        if arg.startswith("-") and arg != "-":
            name, has_value, value = arg.lstrip("-").partition("=")
            flag = by_name.get(name)
            if flag is None:
                raise InvalidArgument(f"flag provided but not defined: -{name}")
            if flag.kind == "bool":
                if has_value and value not in ("true", "false"):
                    raise InvalidArgument(f"invalid boolean value {value!r} for -{name}")
                values[flag.key] = value != "false"
            else:
                if not has_value:
                    i += 1
                    if i >= len(argv):
                        raise InvalidArgument(f"flag needs an argument: -{name}")
                    value = argv[i]
                if flag.kind == "int":
                    try:
                        values[flag.key] = int(value)
                    except ValueError:
                        raise InvalidArgument(f"invalid value {value!r} for flag -{name}") from None
                elif flag.kind == "list":
                    values[flag.key].append(value)
                else:
                    values[flag.key] = value
        else:
            positional.extend(argv[i:])
            break
        i += 1
    return values, positional


class Program:
    """A runtime command: skiff-runtime, or skiff-vm with the same line and fewer commands.
    ``handlers`` names the module whose ``cmd_<command>`` functions run the commands."""

    def __init__(
        self,
        name: str,
        summary: str,
        commands: dict[str, Command],
        handlers: str,
        default_root: str = DEFAULT_ROOT,
    ) -> None:
        self.name = name
        self.default_root = default_root
        self.summary = summary
        self.commands = commands
        self.handlers = handlers

    def usage(self) -> str:
        lines = [
            f"{self.name} {__version__}: {self.summary}",
            "",
            f"usage: {self.name} [global options] <command> [command options] [arguments...]",
            "",
            "commands:",
        ]
        lines += [f"  {name:<10} {cmd.summary}" for name, cmd in self.commands.items()]
        lines += ["", "global options:"]
        lines += [_flag_help(f) for f in GLOBAL_FLAGS]
        return "\n".join(lines)

    def command_usage(self, name: str) -> str:
        cmd = self.commands[name]
        lines = [f"usage: {self.name} {cmd.usage}", "", cmd.summary]
        if cmd.flags:
            lines += ["", "options:"] + [_flag_help(f) for f in cmd.flags]
        return "\n".join(lines)


RUNTIME = Program(
    "skiff-runtime", "an OCI runtime with runc's command line", COMMANDS, "skiff.runtime.commands"
)


def _flag_help(flag: Flag) -> str:
    names = ", ".join(("--" if len(n) > 1 else "-") + n for n in flag.names)
    value = "" if flag.kind == "bool" else " value"
    default = f" (default: {flag.default})" if flag.default not in (None, False, 0, "") else ""
    return f"  {names + value:<28} {flag.help}{default}"


def main(argv: list[str] | None = None, program: Program = RUNTIME) -> int:
    args = sys.argv[1:] if argv is None else argv
    log.program = program.name
    try:
        options, rest = parse_flags(args, GLOBAL_FLAGS)
    except SkiffError as e:
        log.error(str(e))
        return 2
    log.configure(options["log"], options["log_format"], options["debug"])
    if options["root"] == DEFAULT_ROOT:
        options["root"] = program.default_root
    if options["version"]:
        print(f"{program.name} version {__version__}\nspec: 1.2.0")
        return 0
    if options["help"] or not rest or rest[0] == "help":
        if len(rest) < 2 or rest[1] not in program.commands:
            print(program.usage())
        else:
            print(program.command_usage(rest[1]))
        return 0
    name, rest = rest[0], rest[1:]
    command = program.commands.get(name)
    if command is None:
        log.error(f"unknown command {name!r}: see {program.name} --help")
        return 2
    if "-h" in rest[:1] or "--help" in rest[:1]:
        print(program.command_usage(name))
        return 0
    try:
        if options["log_format"] not in ("text", "json"):
            raise InvalidArgument(f"unknown log-format {options['log_format']!r}: use text or json")
        if options["systemd_cgroup"]:
            raise InvalidArgument(
                "--systemd-cgroup: the systemd cgroup driver is not supported; "
                f"{program.name} uses cgroupfs"
            )
        if options["rootless"] not in ("auto", "false"):
            raise InvalidArgument("--rootless: rootless containers are not supported")
        flags, positional = parse_flags(rest, command.flags)
        if len(positional) < command.min_args:
            raise InvalidArgument(
                f'"{name}" requires a container id; usage: {program.name} {command.usage}'
            )
        if command.max_args is not None and len(positional) > command.max_args:
            raise InvalidArgument(
                f'"{name}" takes at most {command.max_args} argument(s); '
                f"usage: {program.name} {command.usage}"
            )
        import importlib

        handlers = importlib.import_module(program.handlers)
        handler: Callable[[str, dict[str, Any], list[str]], int] = getattr(handlers, f"cmd_{name}")
        return handler(options["root"], flags, positional)
    except SkiffError as e:
        log.error(str(e))
        return 1
    except OSError as e:
        from skiff.runtime.init import describe

        log.error(describe(e))
        return 1
    except KeyboardInterrupt:
        return 130


def print_json(value: Any) -> None:
    """Indented JSON on stdout, as runc prints it."""
    import json

    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def entry() -> NoReturn:
    """The ``skiff-runtime`` command."""
    from skiff.fastexit import run_and_exit

    run_and_exit(main)
