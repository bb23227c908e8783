"""Variables in compose files, as docker compose substitutes them.

``$VAR`` and ``${VAR}``; ``${VAR:-default}`` (unset or empty) and ``${VAR-default}``
(unset); ``${VAR:+replacement}`` and ``${VAR+replacement}``; ``${VAR:?message}`` and
``${VAR?message}``, which fail with the message; ``$$`` for a literal ``$``. Defaults,
replacements and messages may hold variables themselves. Only values are substituted,
never keys.
"""

from __future__ import annotations

from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


class InterpolationError(InvalidArgument):
    pass


def _is_name_char(ch: str, first: bool) -> bool:
    return ch == "_" or (ch.isascii() and (ch.isalpha() or (not first and ch.isdigit())))


def substitute(text: str, env: Mapping[str, str]) -> str:
    """``text`` with its variables substituted from ``env``."""
    out, _ = _substitute(text, 0, env, "")
    return out


def _substitute(text: str, i: int, env: Mapping[str, str], stop: str) -> tuple[str, int]:
    """Substitute from ``text[i]`` up to an unnested ``stop`` character (or the end);
    the result and the index of ``stop``."""
    out: list[str] = []
    while i < len(text):
        ch = text[i]
        if stop and ch == stop:
            return "".join(out), i
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            value, i = _braced(text, i + 2, env)
            out.append(value)
        elif nxt and _is_name_char(nxt, True):
            j = i + 1
            while j < len(text) and _is_name_char(text[j], False):
                j += 1
            out.append(env.get(text[i + 1 : j], ""))
            i = j
        else:
            raise InterpolationError(f'Invalid template: "{text}"')
    if stop:
        raise InterpolationError(f'Invalid template: "{text}"')
    return "".join(out), i


def _braced(text: str, i: int, env: Mapping[str, str]) -> tuple[str, int]:
    """``${...}`` from after its brace; the value and the index after ``}``."""
    j = i
    while j < len(text) and _is_name_char(text[j], j == i):
        j += 1
    name = text[i:j]
    if not name:
        raise InterpolationError(f'Invalid template: "{text}"')
    if text[j : j + 1] == "}":
        return env.get(name, ""), j + 1
    for operator in (":-", ":?", ":+", "-", "?", "+"):
        if text.startswith(operator, j):
            break
    else:
        raise InterpolationError(f'Invalid template: "{text}"')
    argument, end = _substitute(text, j + len(operator), env, "}")
    value = env.get(name)
    empty_counts = operator.startswith(":")
    missing = value is None or (empty_counts and value == "")
    kind = operator[-1]
    if kind == "-":
        result = argument if missing else value
    elif kind == "+":
        result = "" if missing else argument
    else:
        if missing:
            raise InterpolationError(
                f"required variable {name} is missing a value: {argument}"
                if argument
                else f"required variable {name} is missing a value"
            )
        result = value
    return result or "", end + 1


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Every string value of a loaded compose file substituted (keys are left alone)."""
    if isinstance(value, str):
        return substitute(value, env)
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    return value
