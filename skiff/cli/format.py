"""How the ``skiff`` command prints things, the way the docker CLI does.

- sizes and durations as go-units writes them (``HumanSizeWithPrecision``,
  ``HumanDuration``), times as Go's ``time.Time.String`` and RFC 3339;
- ``--format`` templates: a Go ``text/template`` subset (fields, pipelines, ``if``/``with``/
  ``range``/``else``/``end``, variables, ``{{-``/``-}}``, the builtin functions and the
  docker CLI's ``json``, ``join``, ``split``, ``lower``, ``upper``, ``title``, ``pad``,
  ``truncate``), values printed as Go's ``fmt`` prints them (``[a b]``, ``map[k:v]``);
- tables through Go's ``text/tabwriter`` with the docker CLI's settings (minimum width 10,
  padding 3), and the ``table``/``json``/template forms of ``--format``;
- a progress line for long transfers on a terminal.
"""

from __future__ import annotations

import math
import os
import sys
import time

from skiff.units import human_duration, human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any, TextIO

# --- sizes, durations, times -------------------------------------------------------------


def since(unix_seconds: int, now: float | None = None) -> str:
    """Docker's "CreatedSince": ``HumanDuration(now - created) + " ago"``."""
    return human_duration((time.time() if now is None else now) - unix_seconds) + " ago"


def _offset(tm: time.struct_time, colon: bool) -> str:
    offset = tm.tm_gmtoff or 0
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{sign}{hours:02d}{':' if colon else ''}{minutes:02d}"


def go_time_string(unix_seconds: int, nanos: int = 0) -> str:
    """Go's ``time.Unix(s, ns).String()`` in the local zone: ``2024-01-01 00:00:00 +0000 UTC``."""
    tm = time.localtime(unix_seconds)
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    zone = tm.tm_zone or _offset(tm, False)
    return time.strftime("%Y-%m-%d %H:%M:%S", tm) + fraction + f" {_offset(tm, False)} {zone}"


def rfc3339(unix_seconds: int, nanos: int | None = None) -> str:
    """Go's ``Format(time.RFC3339)`` (or RFC3339Nano with ``nanos``) in the local zone."""
    tm = time.localtime(unix_seconds)
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    zone = "Z" if not tm.tm_gmtoff else _offset(tm, True)
    return time.strftime("%Y-%m-%dT%H:%M:%S", tm) + fraction + zone


def truncate_id(image_id: str) -> str:
    """Docker's stringid.TruncateID: no algorithm, 12 characters."""
    return image_id.partition(":")[2][:12] if ":" in image_id else image_id[:12]


def _char_width(ch: str) -> int:
    import unicodedata

    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def ellipsis(text: str, width: int) -> str:
    """The docker CLI's Ellipsis: at most ``width`` columns, ``…`` when cut."""
    if width <= 0:
        return ""
    if width == 1:
        return text[:1]
    if text.isascii():
        return text if len(text) <= width else text[: width - 1] + "…"
    widths = []
    total = 0
    for ch in text:
        total += _char_width(ch)
        widths.append(total)
    if total <= width:
        return text
    for i in range(len(widths) - 1):
        if widths[i] <= width - 1 < widths[i + 1]:
            return text[: i + 1] + "…"
    return text


# --- Go's JSON and fmt ------------------------------------------------------------------


class TypedNil:
    """A nil slice, map or pointer of a typed Go value: JSON ``null``, printed as Go does."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"TypedNil({self.text!r})"


NIL_SLICE = TypedNil("[]")
NIL_MAP = TypedNil("map[]")
NIL_POINTER = TypedNil("<nil>")


class Record(dict):
    """A docker CLI formatting context (a Go struct): an unknown field is an error, and
    ``json`` writes it as the CLI's MarshalJSON does (sorted keys, HTML escaped). A
    callable field is a method: called when read (so a costly value is computed only for
    templates that show it), with its arguments if it takes some (``.Label "k"``)."""

    def __init__(self, type_name: str, fields: Mapping[str, Any]) -> None:
        super().__init__(fields)
        self.type_name = type_name


class Struct(dict):
    """A Go struct as a template sees it: the JSON fields, plus ``zero`` values of the fields
    its JSON leaves out (omitempty), so ``{{.Config.Shell}}`` prints ``[]`` while
    ``{{json .Config}}`` still omits it. ``zero`` also holds Go field names that differ
    from the JSON ones (``HTTPProxy`` for ``HttpProxy``). With a ``type_name`` an unknown
    field is Go's error naming the type (a template over a Go value, not decoded JSON)."""

    def __init__(
        self, fields: Mapping[str, Any], zero: Mapping[str, Any], type_name: str = ""
    ) -> None:
        super().__init__(fields)
        self.zero = dict(zero)
        self.type_name = type_name


def _json_default(value: Any) -> Any:
    if isinstance(value, TypedNil):
        return None
    raise TypeError(f"cannot encode {type(value).__name__}")


def go_json(value: Any, escape_html: bool = False) -> str:
    """Compact JSON as Go's encoder writes it (``escape_html`` as json.Marshal does)."""
    if isinstance(value, Record):  # its methods: called if they take no argument, else left out
        value = {
            k: v() if callable(v) else v
            for k, v in sorted(value.items())
            if not callable(v) or not v.__code__.co_argcount
        }
        escape_html = True
    import json

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    if escape_html:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def go_indent_json(value: Any) -> str:
    """``json.Indent`` with four spaces, as ``docker inspect`` prints."""
    import json

    return json.dumps(value, ensure_ascii=False, indent=4, default=_json_default)


def _go_float(value: float) -> str:
    """Go's ``%v`` of a float64: the shortest digits, ``%e`` form when the exponent is
    below -4 or at least 6 (as ``fmt.Println(1e6)`` prints ``1e+06``)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    from decimal import Decimal

    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    stripped = digits.rstrip("0")
    assert isinstance(exponent, int)
    point = len(digits) + exponent  # the decimal point is after this many digits
    digits = stripped or "0"
    exp = point - 1
    if exp < -4 or exp >= 6:
        tail = digits[1:]
        mantissa = digits[0] + ("." + tail if tail else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def go_print(value: Any, nested: bool = False) -> str:
    """A value as Go's ``fmt.Sprint`` prints it."""
    if isinstance(value, TypedNil):
        return value.text
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_print(v, True) for v in value) + "]"
    if isinstance(value, dict):
        if nested and not value:
            return "{}"  # the empty struct of ExposedPorts and Volumes
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "map[" + " ".join(f"{go_print(k, True)}:{go_print(v, True)}" for k, v in items) + "]"
    return str(value)


# --- Go templates -----------------------------------------------------------------------


class TemplateError(Exception):
    """A template that does not parse or does not execute; the text is Go's message."""


_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break"}
_KEYWORDS |= {"continue", "nil", "true", "false"}


class _Token:
    __slots__ = ("kind", "pos", "value")

    def __init__(self, kind: str, value: Any, pos: int) -> None:
        self.kind = kind  # field var ident string number bool nil dot pipe ( ) := = , chain
        self.value = value
        self.pos = pos


class _Lexer:
    """Splits a template into text and actions, and actions into tokens."""

    def __init__(self, text: str) -> None:
        self.text = text

    def line_of(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def error(self, pos: int, message: str) -> TemplateError:
        return TemplateError(f"template: :{self.line_of(pos)}: {message}")

    def items(self) -> list[tuple[str, Any, int]]:
        """("text", str, pos) and ("action", [tokens], pos) in order, trim markers applied."""
        text = self.text
        out: list[tuple[str, Any, int]] = []
        pos = 0
        trim_next = False
        while True:
            start = text.find("{{", pos)
            chunk = text[pos:] if start < 0 else text[pos:start]
            if trim_next:
                chunk = chunk.lstrip(" \t\r\n")
            if start < 0:
                if chunk:
                    out.append(("text", chunk, pos))
                return out
            inner = start + 2
            if text.startswith("-", inner) and text[inner + 1 : inner + 2] in (
                " ",
                "\t",
                "\r",
                "\n",
            ):
                chunk = chunk.rstrip(" \t\r\n")
                inner += 2
            if chunk:
                out.append(("text", chunk, pos))
            tokens, end, trim_next = self._action(inner, start)
            if tokens is not None:
                out.append(("action", tokens, start))
            pos = end

    def _action(self, pos: int, start: int) -> tuple[list[_Token] | None, int, bool]:
        text = self.text
        stripped = pos
        while stripped < len(text) and text[stripped] in " \t\r\n":
            stripped += 1
        if text.startswith("/*", stripped):
            close = text.find("*/", stripped + 2)
            if close < 0:
                raise self.error(start, "unclosed comment")
            end = close + 2
            trim = False
            if text.startswith(" -}}", end):
                end, trim = end + 4, True
            elif text.startswith("}}", end):
                end += 2
            else:
                raise self.error(start, "comment ends before closing delimiter")
            return None, end, trim
        tokens: list[_Token] = []
        i = pos
        while True:
            if i >= len(text):
                raise self.error(start, "unclosed action")
            ch = text[i]
            if text.startswith("}}", i):
                return tokens, i + 2, False
            if ch in " \t\r\n":
                j = i
                while j < len(text) and text[j] in " \t\r\n":
                    j += 1
                if text.startswith("-}}", j):
                    return tokens, j + 3, True
                i = j
                continue
            if ch == "|":
                tokens.append(_Token("pipe", "|", i))
                i += 1
            elif ch in "(),":
                tokens.append(_Token(ch, ch, i))
                i += 1
            elif text.startswith(":=", i):
                tokens.append(_Token(":=", ":=", i))
                i += 2
            elif ch == "=":
                tokens.append(_Token("=", "=", i))
                i += 1
            elif ch == '"':
                value, i = self._quoted(i, start)
                tokens.append(_Token("string", value, i))
            elif ch == "`":
                close = text.find("`", i + 1)
                if close < 0:
                    raise self.error(start, "unterminated raw quoted string")
                tokens.append(_Token("string", text[i + 1 : close], i))
                i = close + 1
            elif ch == "'":
                close = text.find("'", i + 1)
                if close < 0:
                    raise self.error(start, "unterminated character constant")
                literal = text[i + 1 : close]
                tokens.append(_Token("number", ord(_unescape(literal)[:1] or "\0"), i))
                i = close + 1
            elif ch.isdigit() or (ch in "+-" and text[i + 1 : i + 2].isdigit()):
                j = i + 1
                while j < len(text) and (text[j].isalnum() or text[j] in "._+-"):
                    if text[j] in "+-" and text[j - 1] not in "eEpP":
                        break
                    j += 1
                literal = text[i:j]
                try:
                    number: Any = int(literal, 0)
                except ValueError:
                    try:
                        number = float(literal)
                    except ValueError:
                        raise self.error(start, f"bad number syntax: {literal!r}") from None
                tokens.append(_Token("number", number, i))
                i = j
            elif ch == ".":
                names, j = self._chain(i)
                if names:
                    tokens.append(_Token("field", names, i))
                else:
                    tokens.append(_Token("dot", ".", i))
                    j = i + 1
                i = j
            elif ch == "$":
                j = i + 1
                while j < len(text) and (text[j].isalnum() or text[j] == "_"):
                    j += 1
                name = text[i:j]
                names, j = self._chain(j)
                tokens.append(_Token("var", (name, names), i))
                i = j
            elif ch.isalpha() or ch == "_":
                j = i
                while j < len(text) and (text[j].isalnum() or text[j] == "_"):
                    j += 1
                word = text[i:j]
                if word in ("true", "false"):
                    tokens.append(_Token("bool", word == "true", i))
                elif word == "nil":
                    tokens.append(_Token("nil", None, i))
                else:
                    tokens.append(_Token("ident", word, i))
                i = j
            else:
                raise self.error(start, f"unexpected {ch!r} in command")
            if tokens and tokens[-1].kind == ")" and text.startswith(".", i):
                names, i = self._chain(i)
                tokens.append(_Token("chain", names, i))

    def _chain(self, i: int) -> tuple[list[str], int]:
        text = self.text
        names = []
        while i < len(text) and text[i] == ".":
            j = i + 1
            while j < len(text) and (text[j].isalnum() or text[j] == "_"):
                j += 1
            if j == i + 1:
                break
            names.append(text[i + 1 : j])
            i = j
        return names, i

    def _quoted(self, i: int, start: int) -> tuple[str, int]:
        text = self.text
        j = i + 1
        while j < len(text):
            if text[j] == "\\":
                j += 2
                continue
            if text[j] == '"':
                return _unescape(text[i + 1 : j]), j + 1
            if text[j] == "\n":
                break
            j += 1
        raise self.error(start, "unterminated quoted string")


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a"}
_ESCAPES |= {"b": "\b", "f": "\f", "v": "\v"}


def _unescape(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[nxt]
            out.append(chr(int(text[i + 2 : i + 2 + size], 16)))
            i += 2 + size
        else:
            out.append(chr(int(text[i + 1 : i + 4], 8)))
            i += 4
    return "".join(out)


# Nodes: ("text", str) ("action", pipe, pos) ("if"|"with", pipe, body, else, pos)
# ("range", pipe, body, else, pos). A pipe is (declared names, [commands]); a command is a
# list of operands; an operand is a token, or ("sub", pipe, chain, pos).


class _Parser:
    def __init__(self, text: str) -> None:
        self.lexer = _Lexer(text)
        self.items = self.lexer.items()
        self.index = 0
        self._pending: list[_Token] = []

    def parse(self) -> list[Any]:
        body, stop, pos = self._list()
        if stop is not None:
            raise self.lexer.error(pos, f"unexpected {{{{{stop}}}}}")
        return body

    def _list(self) -> tuple[list[Any], str | None, int]:
        """Nodes up to an ``else``/``end`` (returned) or the end of the template."""
        nodes: list[Any] = []
        while self.index < len(self.items):
            kind, value, pos = self.items[self.index]
            self.index += 1
            if kind == "text":
                nodes.append(("text", value))
                continue
            tokens: list[_Token] = value
            if not tokens:
                raise self.lexer.error(pos, "missing value for command")
            head = tokens[0]
            word = head.value if head.kind == "ident" else None
            if word in ("end", "else"):
                self._pending = tokens[1:]
                return nodes, word, pos
            if word in ("if", "with", "range"):
                nodes.append(self._control(word, tokens[1:], pos))
            elif word in ("define", "template", "block", "break", "continue"):
                raise self.lexer.error(pos, f"{{{{{word}}}}} is not supported")
            else:
                nodes.append(("action", self._pipe(tokens, pos), pos))
        return nodes, None, len(self.lexer.text)

    def _control(self, word: str, tokens: list[_Token], pos: int) -> Any:
        pipe = self._pipe(tokens, pos, declarations=2 if word == "range" else 1)
        body, stop, stop_pos = self._list()
        else_body: list[Any] = []
        if stop is None:
            raise self.lexer.error(pos, f"unexpected EOF in {word}")
        if stop == "else":
            rest = self._pending
            if rest and rest[0].kind == "ident" and rest[0].value in ("if", "with"):
                # {{else if ...}}: an if nested in the else branch, sharing the {{end}}
                nested = self._control(rest[0].value, rest[1:], stop_pos)
                else_body = [nested]
            else:
                if rest:
                    raise self.lexer.error(stop_pos, "unexpected tokens after else")
                else_body, stop, _ = self._list()
                if stop != "end":
                    raise self.lexer.error(pos, f"expected end; found {stop or 'EOF'}")
        elif self._pending:
            raise self.lexer.error(stop_pos, "unexpected tokens after end")
        return (word, pipe, body, else_body, pos)

    def _pipe(self, tokens: list[_Token], pos: int, declarations: int = 1) -> Any:
        names: list[str] = []
        assign = next((i for i, t in enumerate(tokens) if t.kind in (":=", "=")), None)
        if assign is not None:
            declared = tokens[:assign]
            if not all(t.kind in ("var", ",") for t in declared) or not declared:
                raise self.lexer.error(pos, "unexpected declaration")
            names = [t.value[0] for t in declared if t.kind == "var"]
            if len(names) > declarations:
                raise self.lexer.error(pos, "too many declarations")
            tokens = tokens[assign + 1 :]
        if not tokens:
            raise self.lexer.error(pos, "missing value for command")
        commands: list[list[Any]] = [[]]
        depth_stack: list[list[list[Any]]] = []
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.kind == "pipe":
                if not commands[-1]:
                    raise self.lexer.error(pos, "missing value for command")
                commands.append([])
            elif token.kind == "(":
                depth_stack.append(commands)
                commands = [[]]
            elif token.kind == ")":
                if not depth_stack:
                    raise self.lexer.error(pos, "unexpected right paren")
                inner: Any = ([], commands)
                commands = depth_stack.pop()
                chain: list[str] = []
                if i + 1 < len(tokens) and tokens[i + 1].kind == "chain":
                    chain = tokens[i + 1].value
                    i += 1
                commands[-1].append(("sub", inner, chain, token.pos))
            elif token.kind in (",", ":=", "=", "chain"):
                raise self.lexer.error(pos, f"unexpected {token.value!r} in command")
            else:
                commands[-1].append(token)
            i += 1
        if depth_stack:
            raise self.lexer.error(pos, "unclosed left paren")
        if not commands[-1]:
            raise self.lexer.error(pos, "missing value for command")
        return (names, commands)


class _Missing:
    """Go's "<no value>": a map without the key."""

    def __str__(self) -> str:
        return "<no value>"


NO_VALUE = _Missing()


def _truth(value: Any) -> bool:
    if isinstance(value, TypedNil) or value is None or value is NO_VALUE:
        return False
    if isinstance(value, bool | int | float | str | list | tuple | dict):
        return bool(value)
    return True


def _to_str(value: Any, func: str) -> str:
    if isinstance(value, str):
        return value
    if value is NO_VALUE or value is None:
        return ""
    raise TemplateError(
        f"error calling {func}: wrong type for value; expected string; got {_type(value)}"
    )


def _type(value: Any) -> str:
    if isinstance(value, Record):
        return value.type_name
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return "interface {}"


def _title(text: str) -> str:
    out = []
    previous = " "
    for ch in text:
        separator = not (previous.isalnum() or previous == "_")
        out.append(ch.upper() if separator else ch)
        previous = ch
    return "".join(out)


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key, NO_VALUE)
        elif isinstance(value, list | tuple | str):
            if not isinstance(key, int) or isinstance(key, bool):
                raise TemplateError(
                    f"error calling index: cannot index slice/array with type {_type(key)}"
                )
            if not 0 <= key < len(value):
                raise TemplateError(f"error calling index: index out of range: {key}")
            value = value[key]
        elif isinstance(value, TypedNil):
            if value is NIL_SLICE:
                raise TemplateError(f"error calling index: index out of range: {key}")
            value = NO_VALUE
        else:
            raise TemplateError(f"error calling index: can't index item of type {_type(value)}")
    return value


def _length(value: Any) -> int:
    if isinstance(value, TypedNil):
        return 0
    if isinstance(value, str | list | tuple | dict):
        return len(value)
    raise TemplateError(f"error calling len: len of type {_type(value)}")


def _sprint(*args: Any) -> str:
    out = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_print(arg))
    return "".join(out)


def _go_quote(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def _sprintf(fmt: str, *args: Any) -> str:
    out = []
    i = 0
    n = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        j = i + 1
        while j < len(fmt) and fmt[j] in "-+# 0123456789.":
            j += 1
        if j >= len(fmt):
            out.append("%!(NOVERB)")
            break
        flags, verb = fmt[i + 1 : j], fmt[j]
        i = j + 1
        if verb == "%":
            out.append("%")
            continue
        if n >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[n]
        n += 1
        if verb in "sv":
            text = go_print(arg)
        elif verb == "q":
            text = _go_quote(go_print(arg))
        elif verb in "dxXob" and isinstance(arg, int):
            text = format(arg, {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[verb])
        elif verb in "feg" and isinstance(arg, int | float):
            text = f"%{flags}{verb}" % arg
            flags = ""
        elif verb == "t" and isinstance(arg, bool):
            text = go_print(arg)
        else:
            text = f"%!{verb}({_type(arg)}={go_print(arg)})"
        if flags:
            width = "".join(c for c in flags if c.isdigit() or c == ".").split(".")[0]
            if width:
                text = text.ljust(int(width)) if "-" in flags else text.rjust(int(width))
        out.append(text)
    if n < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{_type(a)}={go_print(a)}" for a in args[n:]) + ")")
    return "".join(out)


def _compare(name: str, op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def compare(a: Any, *others: Any) -> bool:
        if not others:
            raise TemplateError(f"error calling {name}: missing argument for comparison")
        for b in others:
            if isinstance(a, int | float) != isinstance(b, int | float) and name != "eq":
                raise TemplateError(f"error calling {name}: incompatible types for comparison")
            try:
                if op(a, b):
                    return True
            except TypeError:
                raise TemplateError(
                    f"error calling {name}: incompatible types for comparison"
                ) from None
            if name != "eq":
                return False
        return False

    return compare


def _urlquery(text: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(text)


def _pad(text: Any, prefix: int, suffix: int) -> str:
    text = _to_str(text, "pad")
    return " " * prefix + text + " " * suffix if text else text


def _truncate(text: Any, length: int) -> str:
    text = _to_str(text, "truncate")
    return text if len(text) < length else text[:length]


def _join(value: Any, sep: str) -> str:
    if isinstance(value, TypedNil):
        return ""
    if not isinstance(value, list | tuple):
        raise TemplateError(
            f"error calling join: wrong type for value; expected []string; got {_type(value)}"
        )
    return sep.join(go_print(v) for v in value)


def _split(text: Any, sep: str) -> list[str]:
    text = _to_str(text, "split")
    if sep == "":
        return list(text)
    return text.split(sep)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    # text/template builtins
    "and": lambda *a: next((x for x in a if not _truth(x)), a[-1]),
    "or": lambda *a: next((x for x in a if _truth(x)), a[-1]),
    "not": lambda a: not _truth(a),
    "len": _length,
    "index": _index,
    "print": _sprint,
    "printf": _sprintf,
    "println": lambda *a: " ".join(go_print(x) for x in a) + "\n",
    "eq": _compare("eq", lambda a, b: a == b),
    "ne": lambda a, b: a != b,
    "lt": _compare("lt", lambda a, b: a < b),
    "le": _compare("le", lambda a, b: a <= b),
    "gt": _compare("gt", lambda a, b: a > b),
    "ge": _compare("ge", lambda a, b: a >= b),
    "html": lambda *a: _sprint(*a).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
    "urlquery": lambda *a: _urlquery(_sprint(*a)),
    # the docker CLI's (templates.basicFunctions)
    "json": go_json,
    "split": _split,
    "join": _join,
    "title": lambda s: _title(_to_str(s, "title")),
    "lower": lambda s: _to_str(s, "lower").lower(),
    "upper": lambda s: _to_str(s, "upper").upper(),
    "pad": _pad,
    "truncate": _truncate,
}

# The docker CLI renders a table's header with these in place of the real ones.
HEADER_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json": lambda v: v,
    "split": lambda v, _: v,
    "join": lambda v, _: v,
    "title": lambda v: v,
    "lower": lambda v: v,
    "upper": lambda v: v,
    "truncate": lambda v, _: v,
    "pad": lambda v, _a, _b: v,
}


class Template:
    """A parsed Go template; ``render(data)`` executes it."""

    def __init__(
        self, text: str, functions: Mapping[str, Callable[..., Any]] | None = None
    ) -> None:
        self.text = text
        self.functions = dict(FUNCTIONS)
        if functions:
            self.functions.update(functions)
        parser = _Parser(text)
        self.lexer = parser.lexer
        self.nodes = parser.parse()
        self._check(self.nodes)

    def _check(self, nodes: list[Any]) -> None:
        """Unknown functions fail at parse time, as in Go."""
        for node in nodes:
            if node[0] == "text":
                continue
            pipe = node[1]
            self._check_pipe(pipe, node[-1])
            if node[0] in ("if", "with", "range"):
                self._check(node[2])
                self._check(node[3])

    def _check_pipe(self, pipe: Any, pos: int) -> None:
        for command in pipe[1]:
            for operand in command:
                if isinstance(operand, tuple):
                    self._check_pipe(operand[1], pos)
                elif operand.kind == "ident" and operand.value not in self.functions:
                    if operand.value in _KEYWORDS:
                        raise self.lexer.error(pos, f"unexpected <{operand.value}> in command")
                    raise self.lexer.error(pos, f'function "{operand.value}" not defined')

    def render(self, data: Any, functions: Mapping[str, Callable[..., Any]] | None = None) -> str:
        funcs = {**self.functions, **(functions or {})}
        out: list[str] = []
        _Execution(self, funcs, data).walk(self.nodes, data, [("$", data)], out)
        return "".join(out)


def _plain_field(commands: list[Any], dot: Any) -> str | None:
    """What ``{{.Name}}`` prints when ``dot`` is a Record holding a string (not a method),
    else None (the general path then evaluates it, errors and all)."""
    if len(commands) != 1 or len(commands[0]) != 1 or not isinstance(dot, Record):
        return None
    op = commands[0][0]
    if not isinstance(op, _Token) or op.kind != "field" or len(op.value) != 1:
        return None
    value = dot.get(op.value[0])
    return value if type(value) is str else None


class _Execution:
    def __init__(
        self, template: Template, functions: dict[str, Callable[..., Any]], root: Any
    ) -> None:
        self.template = template
        self.functions = functions
        self.root = root

    def error(self, pos: int, node: str, message: str) -> TemplateError:
        text = self.template.text
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1)
        return TemplateError(f'template: :{line}:{column}: executing "" at <{node}>: {message}')

    def walk(
        self, nodes: list[Any], dot: Any, scope: list[tuple[str, Any]], out: list[str]
    ) -> None:
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                names, commands = node[1]
                plain = _plain_field(commands, dot) if not names else None
                if plain is not None:  # {{.Name}} of a plain value: most of a table's cells
                    out.append(plain)
                    continue
                value = self.pipe(node[1], dot, scope, node[2])
                if names:
                    scope.append((names[0], value))
                else:
                    out.append(self.show(value))
            elif kind in ("if", "with"):
                local = list(scope)
                value = self.pipe(node[1], dot, local, node[4])
                if node[1][0]:
                    local.append((node[1][0][0], value))
                if _truth(value):
                    self.walk(node[2], value if kind == "with" else dot, local, out)
                else:
                    self.walk(node[3], dot, list(scope), out)
            elif kind == "range":
                self.range(node, dot, scope, out)

    def range(self, node: Any, dot: Any, scope: list[tuple[str, Any]], out: list[str]) -> None:
        names = node[1][0]
        value = self.pipe(node[1], dot, list(scope), node[4])
        if isinstance(value, TypedNil) or value is None or value is NO_VALUE:
            items: Iterable[tuple[Any, Any]] = []
        elif isinstance(value, dict):
            items = sorted(value.items(), key=lambda kv: str(kv[0]))
        elif isinstance(value, list | tuple):
            items = enumerate(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            items = ((i, i) for i in range(value))
        else:
            raise self.error(node[4], "range", f"range can't iterate over {go_print(value)}")
        empty = True
        for key, item in items:
            empty = False
            local = list(scope)
            if len(names) == 1:
                local.append((names[0], item))
            elif len(names) == 2:
                local += [(names[0], key), (names[1], item)]
            self.walk(node[2], item, local, out)
        if empty:
            self.walk(node[3], dot, list(scope), out)

    def show(self, value: Any) -> str:
        if value is NO_VALUE:
            return "<no value>"
        return go_print(value)

    def pipe(self, pipe: Any, dot: Any, scope: list[tuple[str, Any]], pos: int) -> Any:
        value: Any = None
        piped = False
        for command in pipe[1]:
            value = self.command(command, dot, scope, pos, value if piped else None, piped)
            piped = True
        return value

    def command(
        self,
        command: list[Any],
        dot: Any,
        scope: list[tuple[str, Any]],
        pos: int,
        last: Any,
        piped: bool,
    ) -> Any:
        head = command[0]
        if isinstance(head, _Token) and head.kind == "ident":
            args = [self.operand(op, dot, scope) for op in command[1:]]
            if piped:
                args.append(last)
            function = self.functions[head.value]
            try:
                return function(*args)
            except TemplateError as e:
                raise self.error(head.pos, head.value, str(e)) from None
            except TypeError:
                raise self.error(
                    head.pos, head.value, f"wrong number of args for {head.value}: got {len(args)}"
                ) from None
            except (ValueError, KeyError, IndexError, AttributeError) as e:
                raise self.error(head.pos, head.value, f"error calling {head.value}: {e}") from None
        if len(command) > 1 or piped:
            method = self.method(head, dot)
            if method is not None:
                args = [self.operand(op, dot, scope) for op in command[1:]]
                return self.call(method, head.value[-1], [*args, last] if piped else args, head)
            where = head.pos if isinstance(head, _Token) else pos
            raise self.error(
                where, _describe(head), f"can't give argument to non-function {_describe(head)}"
            )
        return self.operand(head, dot, scope)

    def method(self, head: Any, dot: Any) -> Callable[..., Any] | None:
        """The method a field chain names (``.Label "k"``: a callable value of a Record or
        map), or None."""
        if not (isinstance(head, _Token) and head.kind == "field"):
            return None
        *path, name = head.value
        target = self.fields(dot, path, head.pos, "." + ".".join(head.value)) if path else dot
        found = target.get(name) if isinstance(target, dict) else None
        return found if callable(found) else None

    def call(self, method: Callable[..., Any], name: str, args: list[Any], head: Any) -> Any:
        """A method with its arguments; Go's error when their number is wrong."""
        want = method.__code__.co_argcount
        if len(args) != want:
            node = "." + ".".join(head.value)
            raise self.error(
                head.pos, node, f"wrong number of args for {name}: want {want} got {len(args)}"
            )
        return method(*args)

    def operand(self, op: Any, dot: Any, scope: list[tuple[str, Any]]) -> Any:
        if isinstance(op, tuple):  # ("sub", pipe, chain, pos)
            value = self.pipe(op[1], dot, list(scope), op[3])
            return self.fields(value, op[2], op[3], "(...)")
        kind = op.kind
        if kind == "dot":
            return dot
        if kind == "field":
            return self.fields(dot, op.value, op.pos, "." + ".".join(op.value))
        if kind == "var":
            name, chain = op.value
            for declared, value in reversed(scope):
                if declared == name:
                    return self.fields(value, chain, op.pos, name + "".join("." + c for c in chain))
            raise self.error(op.pos, name, f"undefined variable: {name}")
        if kind == "ident":
            return self.functions[op.value]()
        return op.value  # string, number, bool, nil

    def fields(self, value: Any, chain: list[str], pos: int, node: str) -> Any:
        for name in chain:
            if isinstance(value, Record):
                if name not in value:
                    raise self.error(
                        pos, node, f"can't evaluate field {name} in type {value.type_name}"
                    )
                value = value[name]
                if callable(value):  # a method named without arguments
                    want = value.__code__.co_argcount
                    if want:
                        raise self.error(
                            pos, node, f"wrong number of args for {name}: want {want} got 0"
                        )
                    value = value()
            elif isinstance(value, dict):
                if name in value:
                    value = value[name]
                elif isinstance(value, Struct) and name in value.zero:
                    value = value.zero[name]
                elif isinstance(value, Struct) and value.type_name:
                    raise self.error(
                        pos, node, f"can't evaluate field {name} in type {value.type_name}"
                    )
                else:
                    raise self.error(pos, node, f'map has no entry for key "{name}"')
            elif value is NIL_MAP:
                raise self.error(pos, node, f'map has no entry for key "{name}"')
            elif value is None or isinstance(value, TypedNil) or value is NO_VALUE:
                raise self.error(pos, node, f"nil pointer evaluating interface {{}}.{name}")
            else:
                raise self.error(pos, node, f"can't evaluate field {name} in type {_type(value)}")
        return value


def _describe(op: Any) -> str:
    if isinstance(op, tuple):
        return "(...)"
    if op.kind == "field":
        return "." + ".".join(op.value)
    if op.kind == "var":
        return op.value[0]
    if op.kind == "string":
        return _go_quote(op.value)
    return go_print(op.value)


# --- tables and --format ------------------------------------------------------------------


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter (tab width 1, pad with spaces, no flags) over complete lines."""
    lines = [line.split("\t") for line in text.split("\n")]
    trailing = text.endswith("\n")
    if trailing:
        lines.pop()
    out: list[str] = []
    widths: list[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for cells in lines[line0:line1]:
            parts = []
            for j, cell in enumerate(cells):
                if j < len(widths) and j < len(cells) - 1:
                    parts.append(cell + " " * (widths[j] - _text_width(cell)))
                else:
                    parts.append(cell)
            out.append("".join(parts))

    def format_block(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, _text_width(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            format_block(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    format_block(0, len(lines))
    return "\n".join(out) + ("\n" if trailing else "")


def _text_width(text: str) -> int:
    return len(text)


def expand_format(source: str) -> str:
    """The docker CLI's literal ``\\t`` and ``\\n`` in a --format string."""
    return source.replace("\\t", "\t").replace("\\n", "\n")


class Formatter:
    """Rows through a docker CLI ``--format``: ``table``, ``table TEMPLATE``, ``json`` or a
    template. ``headers`` name the columns of a table (field -> header)."""

    def __init__(self, source: str, default_table: str, headers: Mapping[str, str]) -> None:
        self.table = False
        if source == "table" or source == "":
            source = default_table
        if source.startswith("table"):
            text = source[len("table") :].strip(" ")
            self.table = True
        elif source == "json":
            text = "{{json .}}"
        else:
            text = source
        try:
            self.template = Template(expand_format(text))
        except TemplateError as e:
            raise TemplateError(f"template parsing error: {e}") from None
        self.headers = headers

    def render(self, rows: Iterable[Any], type_name: str = "") -> str:
        out = []
        try:
            for row in rows:
                out.append(self.template.render(row) + "\n")
        except TemplateError as e:
            raise TemplateError(f"template parsing error: {e}") from None
        if not self.table:
            return "".join(out)
        try:
            header = self.template.render(Header(self.headers), HEADER_FUNCTIONS)
        except TemplateError:
            header = ""
        return tabwrite(header + "\n" + "".join(out))


class Header(dict):
    """A table's header context: a missing column name is ``<no value>`` (a Go map)."""

    def __missing__(self, key: str) -> Any:
        return NO_VALUE

    def __contains__(self, key: object) -> bool:
        return True


# --- progress ---------------------------------------------------------------------------


class Progress:
    """A progress line on a terminal, redrawn by a thread from ``measure() -> (label, done,
    total or None)``; nothing is drawn before ``delay`` seconds (quick jobs stay quiet)."""

    WIDTH = 50

    def __init__(
        self,
        measure: Callable[[], tuple[str, int, int | None]],
        stream: TextIO | None = None,
        delay: float = 0.5,
        interval: float = 0.1,
    ) -> None:
        self.measure = measure
        self.stream = stream or sys.stderr
        self.delay = delay
        self.interval = interval
        self.drawn = False
        self.finished = False
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)

    @staticmethod
    def wanted(stream: TextIO | None = None) -> bool:
        stream = stream or sys.stderr
        try:
            return os.isatty(stream.fileno())
        except (AttributeError, OSError, ValueError):
            return False

    def line(self) -> str:
        label, done, total = self.measure()
        if self.finished and total:
            done = total  # what was already there counts as done
        if total:
            done = min(done, total)
            filled = self.WIDTH * done // total
            bar = (
                "=" * filled
                + (">" if filled < self.WIDTH else "")
                + " " * (self.WIDTH - filled - 1)
            )
            if filled == self.WIDTH:
                bar = "=" * (self.WIDTH - 1) + ">"
            return f"{label} [{bar}] {human_size(done):>8}/{human_size(total)}"
        return f"{label} {human_size(done):>8}"

    def draw(self) -> None:
        self.stream.write("\r" + self.line() + "\x1b[K")
        self.stream.flush()
        self.drawn = True

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        while True:
            try:
                self.draw()
            except (OSError, ValueError):
                return
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.drawn:
            try:
                if exc[0] is None:
                    self.finished = True
                    self.draw()
                    self.stream.write("\n")
                else:
                    self.stream.write("\r\x1b[K")
                self.stream.flush()
            except (OSError, ValueError):
                pass
