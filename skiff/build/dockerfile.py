"""The Dockerfile parser: moby/buildkit's ``frontend/dockerfile/parser``, in Python.

Parsing runs in buildkit's two stages, so errors come out in the order Docker reports them:

1. Lines to instructions (buildkit's ``parser.Parse``): parser directives at the top,
   comments, line continuations, leading ``--flags``, the per-instruction argument split of
   buildkit's dispatch table, and heredoc bodies. A malformed line (``ENV foo``) stops here.
2. Each instruction checked in order (buildkit's ``instructions.Parse``, the checks that need
   no flag values or build state): unknown keywords, argument counts, stage names, the
   ONBUILD triggers Docker refuses. Flag names and values and the instruction order (FROM
   first) are left to the builder.

Arguments are kept as buildkit keeps them at this stage: ``ENV``, ``LABEL`` and ``ARG``
values still hold their quotes and escapes, because the builder expands words later.
"""

from __future__ import annotations

import re

from skiff import jsonio
from skiff.errors import InvalidArgument
from skiff.gotext import go_quote
from skiff.values import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

# Go's unicode.IsSpace, which buildkit trims and splits with (str.isspace also takes
# \x1c-\x1f).
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE = re.compile(
    r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*"
)
_HEREDOC = re.compile(r"[0-9]*<<(-?)[\t\n\f\r ]*([^<]*)")
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)
_STAGE_NAME = re.compile(r"[a-z][a-z0-9-_.]*")
_ONBUILD_PREFIX = re.compile(r"^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*", re.IGNORECASE)

_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_HEREDOC_KEYWORDS = frozenset({"ADD", "COPY", "RUN"})
_NOT_STRINGS = "when using JSON array syntax, arrays must be comprised of strings only"
_EMPTY_CONTINUATION = "[WARNING]: Empty continuation line found in:\n    "
_EMPTY_CONTINUATION_END = (
    "[WARNING]: Empty continuation lines will become errors in a future release."
)


class DockerfileError(InvalidArgument):
    """A Dockerfile Docker would refuse; ``line`` is where the faulty instruction starts."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        if line is not None:
            message = f"dockerfile parse error line {line}: {message}"
        super().__init__(message)


class _Fault(Exception):
    """A parse error whose line the caller knows and adds."""


class Heredoc(Value):
    """A heredoc body: ``content`` keeps each line's ending; ``<<-`` strips leading tabs."""

    FIELDS = ("name", "content", "expand", "chomp")
    __slots__ = FIELDS

    def __init__(self, name: str, content: str, expand: bool, chomp: bool) -> None:
        self.name = name
        self.content = content
        self.expand = expand
        self.chomp = chomp


class Instruction(Value):
    """One instruction. ``original`` is its text as "Step N/M : ..." shows it (continuations
    joined, heredoc bodies left out). For ONBUILD, ``next`` is the parsed trigger and
    ``args`` the trigger text Docker stores in the image (heredoc bodies included)."""

    FIELDS = (
        "keyword", "args", "json", "flags", "original", "line", "end_line", "heredocs", "next"
    )  # fmt: skip
    __slots__ = FIELDS

    def __init__(
        self,
        keyword: str,
        args: list[str],
        json: bool,
        flags: list[str],
        original: str,
        line: int,
        end_line: int,
        heredocs: list[Heredoc],
        next: Instruction | None,
    ) -> None:
        self.keyword = keyword
        self.args = args
        self.json = json
        self.flags = flags
        self.original = original
        self.line = line
        self.end_line = end_line
        self.heredocs = heredocs
        self.next = next


class Dockerfile(Value):
    FIELDS = ("instructions", "escape", "syntax", "warnings")
    __slots__ = FIELDS

    def __init__(
        self, instructions: list[Instruction], escape: str, syntax: str | None, warnings: list[str]
    ) -> None:
        self.instructions = instructions
        self.escape = escape
        self.syntax = syntax
        self.warnings = warnings


# ---------------------------------------------------------------------------- lines


def _split_lines(text: str) -> list[str]:
    """Lines with their ``\\n`` kept, as buildkit's scanner returns them (heredoc bodies
    keep their line endings)."""
    pieces = text.split("\n")
    lines = [piece + "\n" for piece in pieces[:-1]]
    if pieces[-1]:
        lines.append(pieces[-1])
    return lines


class _Reader:
    """The Dockerfile's lines, one at a time; ``number`` is the 1-based line last read."""

    def __init__(self, text: str) -> None:
        self._lines = _split_lines(text.removeprefix("\ufeff"))
        self.number = 0

    def next(self) -> str | None:
        if self.number == len(self._lines):
            return None
        self.number += 1
        return self._lines[self.number - 1]


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _is_comment(line: str) -> bool:
    return _trim_newline(line).lstrip(_GO_SPACE).startswith("#")


class _Directives:
    """Parser directives, looked for until the first line that is not one."""

    def __init__(self) -> None:
        self.escape = "\\"
        self.syntax: str | None = None
        self.done = False
        self.seen: set[str] = set()
        self.continuation: re.Pattern[str]
        self._set_escape(self.escape)

    def feed(self, line: str) -> None:
        """Take ``line`` (left-trimmed) as a directive if directives are still allowed."""
        if self.done:
            return
        match = _DIRECTIVE.fullmatch(line)
        key = match.group(1).lower() if match else ""
        if match is None or key not in _DIRECTIVES:
            self.done = True
            return
        if key in self.seen:
            raise _Fault(f"only one {key} parser directive can be used")
        self.seen.add(key)
        if key == "escape":
            self._set_escape(match.group(2))
        elif key == "syntax":
            self.syntax = match.group(2)

    def _set_escape(self, token: str) -> None:
        if token not in ("\\", "`"):
            raise _Fault(f"invalid escape token '{token}' does not match ` or \\")
        self.escape = token
        # The token continues a line when it ends it (blanks after it allowed), unless an
        # escape token precedes it: "foo \\" ends in an escaped backslash.
        e = re.escape(token)
        self.continuation = re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")

    def trim_continuation(self, line: str) -> tuple[str, bool]:
        """``line`` without its continuation token, and whether it had one."""
        match = self.continuation.search(line)
        if match is None:
            return line, False
        return line[: match.start()] + (match.group(1) or ""), True


# ------------------------------------------------------------------- argument splitting

_Args = tuple[list[str], bool]


def _split_whitespace(rest: str) -> list[str]:
    return _WHITESPACE.split(rest) if rest else []


def _words(rest: str, escape: str) -> list[str]:
    """Blank-separated words, quotes and escape tokens kept (buildkit's parseWords).

    Quotes only group blanks into a word; an escape token keeps the character after it
    (a quote included) in the word, except inside single quotes.
    """
    words: list[str] = []
    word: list[str] = []
    quote = ""
    blank_ok = False
    in_word = False
    i = 0
    while i < len(rest):
        ch = rest[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i + 1 == len(rest):
                    quote = ""
                    break
                word.append(ch)
                i += 1
                ch = rest[i]
        elif ch in _GO_SPACE:
            if in_word and (blank_ok or word):
                words.append("".join(word))
            word, blank_ok, in_word = [], False, False
            i += 1
            continue
        else:
            in_word = True
            if ch in "'\"":
                quote, blank_ok = ch, True
            elif ch == escape:
                if i + 1 == len(rest):
                    break
                word.append(ch)
                i += 1
                ch = rest[i]
        word.append(ch)
        i += 1
    if in_word and (blank_ok or word):
        words.append("".join(word))
    return words


def _json_array(rest: str) -> list[str] | None:
    """``rest`` as a JSON array of strings, or None when it is no JSON array at all."""
    text = rest.lstrip(_GO_SPACE)
    if not text.startswith("["):
        return None
    try:
        value = jsonio.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if any(isinstance(item, float) and item in _NOT_GO_JSON for item in value):
        return None  # Go's JSON knows no NaN or Infinity: such text is shell form
    if not all(isinstance(item, str) for item in value):
        raise _Fault(_NOT_STRINGS)
    return value


class _NotGoJson:
    """NaN and the infinities (NaN equals nothing, so ``in`` cannot find it in a set)."""

    def __contains__(self, item: float) -> bool:
        return item != item or item in (float("inf"), float("-inf"))


_NOT_GO_JSON = _NotGoJson()


def _maybe_json(rest: str, _escape: str) -> _Args:
    if not rest:
        return [], False
    array = _json_array(rest)
    return ([rest], False) if array is None else (array, True)


def _maybe_json_list(rest: str, _escape: str) -> _Args:
    array = _json_array(rest)
    return (_split_whitespace(rest), False) if array is None else (array, True)


def _whitespace_list(rest: str, _escape: str) -> _Args:
    return _split_whitespace(rest), False


def _string(rest: str, _escape: str) -> _Args:
    return ([rest] if rest else []), False


def _names_or_pairs(rest: str, escape: str) -> _Args:
    return _words(rest, escape), False


def _name_values(rest: str, keyword: str, escape: str) -> _Args:
    """``k=v k2=v2`` pairs, or the legacy ``k value with blanks``; flattened to k, v, ..."""
    words = _words(rest, escape)
    if not words:
        return [], False
    if "=" not in words[0]:
        legacy = _WHITESPACE.split(rest, maxsplit=1)
        if len(legacy) < 2:
            raise _Fault(f"{keyword} must have two arguments")
        return legacy, False
    args = []
    for word in words:
        if "=" not in word:
            raise _Fault(
                f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value"
            )
        args.extend(word.split("=", 1))
    return args, False


def _env(rest: str, escape: str) -> _Args:
    return _name_values(rest, "ENV", escape)


def _label(rest: str, escape: str) -> _Args:
    return _name_values(rest, "LABEL", escape)


def _health(rest: str, escape: str) -> _Args:
    """The type word (upper-cased), then the command as RUN splits it."""
    kind = rest
    for i, ch in enumerate(rest):
        if ch in _GO_SPACE:
            kind = rest[:i]
            break
    if not kind:
        return [], False
    command, is_json = _maybe_json(rest[len(kind) :].lstrip(_GO_SPACE), escape)
    return [kind.upper(), *command], is_json


def _ignore(_rest: str, _escape: str) -> _Args:
    return [], False


_ARGUMENTS: dict[str, Callable[[str, str], _Args]] = {
    "ADD": _maybe_json_list,
    "ARG": _names_or_pairs,
    "CMD": _maybe_json,
    "COPY": _maybe_json_list,
    "ENTRYPOINT": _maybe_json,
    "ENV": _env,
    "EXPOSE": _whitespace_list,
    "FROM": _whitespace_list,
    "HEALTHCHECK": _health,
    "LABEL": _label,
    "MAINTAINER": _string,
    "RUN": _maybe_json,
    "SHELL": _maybe_json,
    "STOPSIGNAL": _string,
    "USER": _string,
    "VOLUME": _maybe_json_list,
    "WORKDIR": _string,
}


def _flag_word(text: str, i: int) -> tuple[str, int]:
    """The flag starting at ``text[i]`` with its quotes and backslashes resolved, and the
    index after it."""
    word: list[str] = []
    quote = ""
    while i < len(text) and (quote or text[i] not in _GO_SPACE):
        ch = text[i]
        i += 1
        if ch == quote:
            quote = ""
            continue
        if not quote and ch in "'\"":
            quote = ch
            continue
        if ch == "\\":
            if i == len(text):
                break
            ch = text[i]
            i += 1
        word.append(ch)
    return "".join(word), i


def _extract_flags(text: str) -> tuple[str, list[str]]:
    """Leading ``--flag`` words and the rest of the line; a bare ``--`` ends the flags."""
    flags: list[str] = []
    i = 0
    while True:
        while i < len(text) and text[i] in _GO_SPACE:
            i += 1
        if not text.startswith("--", i):
            return text[i:], flags
        flag, i = _flag_word(text, i)
        if flag == "--":
            return text[i:], flags
        flags.append(flag)


class _Line:
    """One instruction's line as stage 1 splits it, before heredocs and line numbers."""

    def __init__(
        self,
        keyword: str,
        flags: list[str],
        args: list[str],
        json: bool,
        text: str,
        inner: _Line | None = None,
    ) -> None:
        self.keyword = keyword
        self.flags = flags
        self.args = args
        self.json = json
        self.text = text
        self.inner = inner


def _split_line(line: str, escape: str) -> _Line:
    head, *tail = _WHITESPACE.split(line.strip(_GO_SPACE), maxsplit=1)
    keyword = head.upper()
    rest = tail[0] if tail else ""
    flags: list[str] = []
    if rest:
        rest, flags = _extract_flags(rest)
        rest = rest.strip(_GO_SPACE)
    if keyword == "ONBUILD":
        inner = _split_line(rest, escape) if rest else None
        return _Line(keyword, flags, [], False, line, inner)
    args, is_json = _ARGUMENTS.get(keyword, _ignore)(rest, escape)
    return _Line(keyword, flags, args, is_json, line)


# ---------------------------------------------------------------------------- heredocs


class _Marker:
    def __init__(self, name: str, chomp: bool, expand: bool) -> None:
        self.name = name
        self.chomp = chomp
        self.expand = expand


def _quoted(text: str, i: int, keep_quotes: bool, keep_escapes: bool) -> tuple[str, int] | None:
    """The quoted part opening at ``text[i]`` and the index after it; None if unclosed.

    In double quotes a backslash escapes only ``"``, ``$`` and itself, as in the shell.
    """
    quote = text[i]
    out = [quote] if keep_quotes else []
    i += 1
    while i < len(text) and text[i] != quote:
        ch = text[i]
        if quote == '"' and ch == "\\" and i + 1 < len(text) and text[i + 1] in '"$\\':
            if keep_escapes:
                out.append(ch)
            i += 1
            ch = text[i]
        out.append(ch)
        i += 1
    if i == len(text):
        return None
    if keep_quotes:
        out.append(quote)
    return "".join(out), i + 1


def _shell_words(text: str, keep_quotes: bool, keep_escapes: bool) -> list[str] | None:
    """Words as buildkit's shell lexer splits them (no variable expansion); None when a
    quote is left open. ``<<`` takes the blanks after it, so ``<< EOF`` is one word."""
    words: list[str] = []
    word: list[str] = []
    in_word = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in _GO_SPACE:
            if in_word:
                words.append("".join(word))
            word, in_word = [], False
            i += 1
            continue
        in_word = True
        if ch == "\\":
            if keep_escapes:
                word.append(ch)
            word.append(text[i + 1 : i + 2])
            i += 2
        elif ch in "'\"":
            quoted = _quoted(text, i, keep_quotes, keep_escapes)
            if quoted is None:
                return None
            word.append(quoted[0])
            i = quoted[1]
        elif text.startswith("<<", i):
            end = i + 2
            while end < len(text) and text[end] in " \t":
                end += 1
            word.append(text[i:end])
            i = end
        else:
            word.append(ch)
            i += 1
    if in_word:
        words.append("".join(word))
    return words


def _marker(word: str) -> _Marker | None:
    """The heredoc ``word`` opens (``<<EOF``, ``<<-'EOF'``, ``2<<EOF``...), if any.

    Any quoting in the delimiter turns expansion off; buildkit tells by lexing it with and
    without quotes kept and comparing the quote counts, so escaped quotes do not count.
    """
    match = _HEREDOC.fullmatch(word)
    if match is None or not match.group(2):
        return None
    plain = _shell_words(match.group(2), keep_quotes=False, keep_escapes=False)
    raw = _shell_words(match.group(2), keep_quotes=True, keep_escapes=False)
    if plain is None or raw is None or len(plain) != 1:
        return None

    def quotes(text: str) -> int:
        return text.count("'") + text.count('"')

    expand = quotes(plain[0]) == quotes(raw[0])
    return _Marker(plain[0], match.group(1) == "-", expand)


def _markers(parsed: _Line) -> list[_Marker]:
    """The heredocs ``parsed`` opens: only RUN, COPY and ADD (also as ONBUILD triggers)
    in shell form have any."""
    target = parsed.inner if parsed.keyword == "ONBUILD" and parsed.inner else parsed
    if target.keyword not in _HEREDOC_KEYWORDS or target.json or "<<" not in parsed.text:
        return []
    words = _shell_words(parsed.text, keep_quotes=True, keep_escapes=True) or []
    return [marker for word in words if (marker := _marker(word))]


def _body(marker: _Marker, reader: _Reader) -> str:
    """The raw lines up to ``marker``'s delimiter line, which ``<<-`` may indent with tabs."""
    lines: list[str] = []
    while (line := reader.next()) is not None:
        candidate = _trim_newline(line)
        if marker.chomp:
            candidate = candidate.lstrip("\t")
        if candidate == marker.name:
            return "".join(lines)
        lines.append(line)
    raise _Fault("unterminated heredoc")


# ------------------------------------------------------------------------- stage 1


def _build(parsed: _Line, start: int, end: int, bodies: list[tuple[_Marker, str]]) -> Instruction:
    heredocs = [
        Heredoc(
            name=marker.name,
            content=_LEADING_TABS.sub("", raw) if marker.chomp else raw,
            expand=marker.expand,
            chomp=marker.chomp,
        )
        for marker, raw in bodies
    ]
    inner = None
    args = parsed.args
    if parsed.keyword == "ONBUILD":
        # The trigger goes to the image config as buildkit writes it: the line without
        # ONBUILD, its heredoc bodies and delimiters after it, parsed again when triggered.
        if parsed.inner is not None:
            inner = _build(parsed.inner, start, end, bodies)
            expression = _ONBUILD_PREFIX.sub("", parsed.text)
            args = [expression + "".join(f"\n{raw}{marker.name}" for marker, raw in bodies)]
        heredocs = []
    return Instruction(
        keyword=parsed.keyword,
        args=args,
        json=parsed.json,
        flags=parsed.flags,
        original=parsed.text.strip(_GO_SPACE),
        line=start,
        end_line=end,
        heredocs=heredocs,
        next=inner,
    )


def _logical_line(first: str, reader: _Reader, directives: _Directives, warnings: list[str]) -> str:
    """The instruction text starting with ``first``: continuation lines joined, comments
    and blank lines among them dropped; "" for a blank or comment line."""
    stripped = _trim_newline(first).lstrip(_GO_SPACE)
    directives.feed(stripped)
    line, more = directives.trim_continuation("" if stripped.startswith("#") else stripped)
    if not line and not more:
        return ""
    blank_seen = False
    while more and (raw := reader.next()) is not None:
        if _is_comment(raw):
            continue
        text = _trim_newline(raw)
        if not text.lstrip(_GO_SPACE):
            blank_seen = True
            continue
        text, more = directives.trim_continuation(text)
        line += text
    if blank_seen:
        warnings.append(_EMPTY_CONTINUATION + line)
    return line


def _instruction(
    first: str, reader: _Reader, directives: _Directives, warnings: list[str]
) -> Instruction | None:
    start = reader.number
    try:
        line = _logical_line(first, reader, directives, warnings)
    except _Fault as fault:
        raise DockerfileError(str(fault), start) from None
    if not line:
        return None
    try:
        parsed = _split_line(line, directives.escape)
        bodies = [(marker, _body(marker, reader)) for marker in _markers(parsed)]
    except _Fault as fault:
        raise DockerfileError(str(fault), start) from None
    return _build(parsed, start, reader.number, bodies)


# ------------------------------------------------------------------------- stage 2


def _at_least_one(instruction: Instruction) -> None:
    if not instruction.args:
        raise _Fault(f"{instruction.keyword} requires at least one argument")


def _exactly_one(instruction: Instruction) -> None:
    if len(instruction.args) != 1:
        raise _Fault(f"{instruction.keyword} requires exactly one argument")


def _no_check(_instruction: Instruction) -> None:
    return None


def _check_pairs(instruction: Instruction) -> None:
    _at_least_one(instruction)
    if "" in instruction.args[::2]:
        raise _Fault(f"{instruction.keyword} names can not be blank")


def _check_arg(instruction: Instruction) -> None:
    _at_least_one(instruction)
    if any(arg.startswith("=") for arg in instruction.args):
        raise _Fault("ARG names can not be blank")


def _check_sources(instruction: Instruction) -> None:
    keyword = instruction.keyword
    if len(instruction.args) < 2:
        raise _Fault(
            f"{keyword} requires at least two arguments, but only one was provided. "
            "Destination could not be determined."
        )
    if _marker(instruction.args[-1]):
        raise _Fault(f"{keyword} cannot accept a heredoc as a destination")


def _check_from(instruction: Instruction) -> None:
    args = instruction.args
    if len(args) == 3 and args[1].lower() == "as":
        if not _STAGE_NAME.fullmatch(args[2].lower()):
            raise _Fault(
                f"invalid name for build stage: {go_quote(args[2])}, "
                "name can't start with a number or contain symbols"
            )
    elif len(args) != 1:
        raise _Fault("FROM requires either one or three arguments")


def _check_onbuild(instruction: Instruction) -> None:
    if instruction.next is None:
        raise _Fault("ONBUILD requires at least one argument")
    trigger = instruction.next.keyword
    if trigger == "ONBUILD":
        raise _Fault("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise _Fault(f"{trigger} isn't allowed as an ONBUILD trigger")


def _check_healthcheck(instruction: Instruction) -> None:
    _at_least_one(instruction)
    kind, *command = instruction.args
    if kind == "NONE":
        if command:
            raise _Fault("HEALTHCHECK NONE takes no arguments")
    elif kind != "CMD":
        raise _Fault(f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)")
    elif not command:
        raise _Fault("Missing command after HEALTHCHECK CMD")


def _check_volume(instruction: Instruction) -> None:
    _at_least_one(instruction)
    if any(not volume.strip(_GO_SPACE) for volume in instruction.args):
        raise _Fault("VOLUME specified can not be an empty string")


def _check_shell(instruction: Instruction) -> None:
    _at_least_one(instruction)
    if not instruction.json:
        raise _Fault("SHELL requires the arguments to be in JSON form")


_CHECKS: dict[str, Callable[[Instruction], None]] = {
    "ADD": _check_sources,
    "ARG": _check_arg,
    "CMD": _no_check,
    "COPY": _check_sources,
    "ENTRYPOINT": _no_check,
    "ENV": _check_pairs,
    "EXPOSE": _at_least_one,
    "FROM": _check_from,
    "HEALTHCHECK": _check_healthcheck,
    "LABEL": _check_pairs,
    "MAINTAINER": _exactly_one,
    "ONBUILD": _check_onbuild,
    "RUN": _no_check,
    "SHELL": _check_shell,
    "STOPSIGNAL": _exactly_one,
    "USER": _exactly_one,
    "VOLUME": _check_volume,
    "WORKDIR": _exactly_one,
}


def _check(instruction: Instruction) -> None:
    check = _CHECKS.get(instruction.keyword)
    if check is None:
        raise DockerfileError(f"unknown instruction: {instruction.keyword}", instruction.line)
    try:
        check(instruction)
    except _Fault as fault:
        raise DockerfileError(str(fault), instruction.line) from None


def parse(text: str) -> Dockerfile:
    """Parse a Dockerfile's text; raises :class:`DockerfileError` where Docker would."""
    reader = _Reader(text)
    directives = _Directives()
    instructions: list[Instruction] = []
    warnings: list[str] = []
    while (first := reader.next()) is not None:
        instruction = _instruction(first, reader, directives, warnings)
        if instruction is not None:
            instructions.append(instruction)
    if not instructions:
        raise DockerfileError("file with no instructions")
    for instruction in instructions:
        _check(instruction)
    if warnings:
        warnings.append(_EMPTY_CONTINUATION_END)
    return Dockerfile(instructions, directives.escape, directives.syntax, warnings)
