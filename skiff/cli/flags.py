"""Command-line flags with pflag's syntax and messages (the docker CLI's), without argparse.

``--name value``, ``--name=value``, ``-n value``, ``-nvalue``, ``-n=value``, ``-abc`` (bool
shorthands together), ``--bool``, ``--bool=false``, ``--`` to end the flags, ``-`` as an
argument; flags anywhere among the arguments, or (not ``interspersed``) only before the first
one, so that ``run IMAGE COMMAND -x`` leaves ``-x`` to the command. argparse would cost about
8 ms of every command's start-up (it imports re, enum and gettext), and its messages are
not pflag's anyway.
"""

from __future__ import annotations

from types import SimpleNamespace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

TRUE = ("1", "t", "T", "TRUE", "true", "True")
FALSE = ("0", "f", "F", "FALSE", "false", "False")
# Kinds whose flag may be given several times: every value is kept, in order.
REPEATED = ("list", "filter", "stringArray", "map", "mount", "ulimit")


class FlagError(Exception):
    """A command line that does not parse, in pflag's words."""


class Options(SimpleNamespace):
    """The parsed command line: each flag's value by its ``dest``, and ``args``."""


class Flag:
    """One flag: its names (``-f``, ``--filter``), the kind of value it takes (``bool``,
    ``string``, ``list``...: the type shown in --help), help, default, the attribute it is
    stored in, and an optional ``check`` that vets each value (raising FlagError)."""

    def __init__(
        self,
        names: tuple[str, ...],
        kind: str,
        help: str,
        default: Any,
        dest: str | None = None,
        check: Callable[[Flag, str], None] | None = None,
    ) -> None:
        self.names = names
        self.kind = kind
        self.help = help
        self.default = default
        self.dest = dest or names[-1].lstrip("-").replace("-", "_")
        self.check = check

    @property
    def label(self) -> str:
        """``-f, --filter``, as pflag names a flag in its messages."""
        short = [n for n in self.names if not n.startswith("--")]
        long = [n for n in self.names if n.startswith("--")]
        return ", ".join(short[:1] + long[:1])

    def initial(self) -> Any:
        if self.kind == "bool":
            return bool(self.default)
        if self.kind in REPEATED:
            return list(self.default or [])
        return self.default


class FlagSet:
    """The flags of one command, and the parse of its command line."""

    def __init__(self) -> None:
        self.flags: list[Flag] = []
        self._long: dict[str, Flag] = {}
        self._short: dict[str, Flag] = {}

    def add(self, flag: Flag) -> None:
        self.flags.append(flag)
        for name in flag.names:
            if name.startswith("--"):
                self._long[name[2:]] = flag
            else:
                self._short[name[1:]] = flag

    def parse(self, args: Sequence[str], interspersed: bool = True) -> Options:
        """The flags' values and the arguments; ``help`` is set by -h/--help (-h only when no
        flag of the command takes it, as ``run -h`` is --hostname)."""
        values: dict[str, Any] = {flag.dest: flag.initial() for flag in self.flags}
        values.setdefault("help", False)
        positional: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if arg == "--":
                positional.extend(args[i:])
                break
            if arg.startswith("--"):
                i = self._long_flag(arg, args, i, values)
            elif arg.startswith("-") and arg != "-":
                i = self._short_flags(arg, args, i, values)
            elif interspersed:
                positional.append(arg)
            else:
                positional.extend(args[i - 1 :])
                break
        return Options(**values, args=positional)

    def _long_flag(self, arg: str, args: Sequence[str], i: int, values: dict[str, Any]) -> int:
        name, sep, value = arg[2:].partition("=")
        flag = self._long.get(name)
        if flag is None:
            if name == "help":
                values["help"] = True
                return i
            raise FlagError(f"unknown flag: --{name}")
        if flag.kind == "bool":
            _set(flag, value if sep else "true", values)
        elif sep:
            _set(flag, value, values)
        elif i < len(args):
            _set(flag, args[i], values)
            i += 1
        else:
            raise FlagError(f"flag needs an argument: --{name}")
        return i

    def _short_flags(self, arg: str, args: Sequence[str], i: int, values: dict[str, Any]) -> int:
        """``-abc``: each letter a flag; a value-taking one takes the rest, or the next word.
        Messages name what is left of the word, as pflag's do (``'z' in -z`` for ``-qz``)."""
        shorthands = arg[1:]
        while shorthands:
            letter = shorthands[0]
            flag = self._short.get(letter)
            if flag is None:
                if letter == "h":
                    values["help"] = True
                    shorthands = shorthands[1:]
                    continue
                raise FlagError(f"unknown shorthand flag: '{letter}' in -{shorthands}")
            if len(shorthands) > 2 and shorthands[1] == "=":
                _set(flag, shorthands[2:], values)
                return i
            if flag.kind == "bool":
                _set(flag, "true", values)
                shorthands = shorthands[1:]
            elif len(shorthands) > 1:
                _set(flag, shorthands[1:], values)
                return i
            elif i < len(args):
                _set(flag, args[i], values)
                return i + 1
            else:
                raise FlagError(f"flag needs an argument: '{letter}' in -{shorthands}")
        return i


def _set(flag: Flag, value: str, values: dict[str, Any]) -> None:
    if flag.kind == "bool":
        if value not in TRUE and value not in FALSE:
            raise FlagError(
                f'invalid argument "{value}" for "{flag.label}" flag: '
                f'strconv.ParseBool: parsing "{value}": invalid syntax'
            )
        values[flag.dest] = value in TRUE
        return
    if flag.check is not None:
        flag.check(flag, value)
    if flag.kind in REPEATED:
        values[flag.dest].append(value)
    else:
        values[flag.dest] = value
