"""``.dockerignore``: which files of a build context are left out, by Docker's rules.

Reading follows moby/patternmatcher's ignorefile.ReadAll, matching its PatternMatcher
(Go's filepath.Match syntax, plus ``**`` for any number of directories, the last matching
line winning, ``!`` for an exception), and walking a context the pruning of BuildKit's
context sender (tonistiigi/fsutil), so that a context holds what ``docker build`` sends.

Where patternmatcher's translation to a regular expression goes astray, the documented
filepath.Match meaning is kept instead: ``*`` and ``?`` inside brackets are characters,
``\\x`` is the character x (Go's regexp reads ``\\d`` as a digit), ``^`` outside brackets
is a character (Go's regexp reads an anchor), and a reversed range like ``[z-a]`` is a
syntax error when the matcher is made rather than when it first matches.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence

from skiff.errors import InvalidArgument

# Go's unicode.IsSpace, for strings.TrimSpace.
_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# An exception holding one of these may match below any directory (fsutil's patternChars).
_GLOB_CHARS = frozenset("*[]?^\\")
_EXACT, _PREFIX, _SUFFIX, _REGEX = range(4)


def read_patterns(text: str) -> list[str]:
    """The patterns of a ``.dockerignore``: no comment lines (``#`` in the first column)
    or blank ones, each trimmed and cleaned as a path, a leading ``/`` dropped (patterns
    are relative to the context root), ``!`` kept in front of an exception."""
    patterns = []
    for number, line in enumerate(text.split("\n")):
        if number == 0:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        pattern = line.strip(_SPACE)
        if not pattern:
            continue
        exception = pattern.startswith("!")
        if exception:
            pattern = pattern[1:].strip(_SPACE)
        if pattern:
            pattern = _clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if exception else pattern)
    return patterns


class _BadPattern(Exception):
    pass


class _Pattern:
    """One cleaned pattern, matched as patternmatcher does: by equality, prefix or suffix
    when it can be, else by a regular expression."""

    def __init__(self, text: str, exception: bool) -> None:
        self.text = text
        self.exception = exception
        self.kind, regex = _translate(text)
        self.regex = re.compile(regex)

    def match(self, path: str) -> bool:
        if self.kind == _EXACT:
            return path == self.text
        if self.kind == _PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind == _SUFFIX:
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regex.fullmatch(path) is not None

    def below_glob(self) -> str:
        """The pattern without a trailing ``/**`` or ``/*``, as fsutil compares it."""
        return self.text.removesuffix("/**").removesuffix("/*")


class IgnoreMatcher:
    """The patterns of a ``.dockerignore``, in order; a later one wins."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self._patterns: list[_Pattern] = []
        for raw in patterns:
            text = raw.strip(_SPACE)
            if not text:
                continue
            text = _clean(text)
            exception = text.startswith("!")
            if exception:
                if text == "!":
                    raise InvalidArgument('illegal exclusion pattern: "!"')
                text = text[1:]
            try:
                self._patterns.append(_Pattern(text, exception))
            except _BadPattern:
                raise InvalidArgument("syntax error in pattern") from None

    def has_exclusions(self) -> bool:
        """Whether a ``!`` pattern may bring back something below an excluded directory."""
        return any(p.exception for p in self._patterns)

    def matches(self, path: str) -> bool:
        """Whether ``path`` (relative to the context root, ``/``-separated, clean) is
        excluded: it or one of its parent directories matches a pattern that no later
        exception takes back (patternmatcher's MatchesOrParentMatches). The root itself
        ("" or ".") never is."""
        if path in ("", "."):
            return False
        parents = _parents(path)
        matched = False
        for pattern in self._patterns:
            if pattern.exception != matched:
                continue
            if pattern.match(path) or any(pattern.match(parent) for parent in parents):
                matched = not pattern.exception
        return matched

    def walk(self, root: str) -> Iterator[str]:
        """The relative paths of what is kept below ``root``, parents before children,
        in name order, as BuildKit sends a context. An excluded directory is not entered
        unless an exception may match inside it; it is listed only before something
        inside it that is kept. Symbolic links are not followed."""
        prunable = not any(
            p.exception and _GLOB_CHARS.intersection(p.below_glob()) for p in self._patterns
        )
        pending: list[str] = []

        def visit(directory: str, parent_hits: list[bool], excluded: bool) -> Iterator[str]:
            for entry in _entries(os.path.join(root, directory), excluded):
                path = f"{directory}/{entry.name}" if directory else entry.name
                is_dir = entry.is_dir(follow_symlinks=False)
                skip, hits = self._match_below(path, parent_hits)
                if skip and is_dir and prunable and not self._exception_inside(path):
                    continue
                if not skip:
                    yield from pending
                    pending.clear()
                    yield path
                if is_dir:
                    if skip:
                        pending.append(path)
                    yield from visit(path, hits, skip)
                    if pending and pending[-1] == path:
                        pending.pop()

        yield from visit("", [False] * len(self._patterns), False)

    def _match_below(self, path: str, parent_hits: list[bool]) -> tuple[bool, list[bool]]:
        """Whether ``path`` is excluded, knowing which patterns its parent directory hit;
        and which ones ``path`` hits, for its children (MatchesUsingParentResults). A
        pattern skipped for a parent does not count as hit for its children, which can
        differ from :meth:`matches` in contrived pattern lists, as in BuildKit."""
        matched = False
        hits = [False] * len(self._patterns)
        for i, pattern in enumerate(self._patterns):
            hit = parent_hits[i]
            if not hit:
                if pattern.exception != matched:
                    continue
                hit = pattern.match(path)
            hits[i] = hit
            if hit:
                matched = not pattern.exception
        return matched, hits

    def _exception_inside(self, directory: str) -> bool:
        prefix = directory + "/"
        return any(
            p.exception and (p.below_glob() + "/").startswith(prefix) for p in self._patterns
        )


def _entries(directory: str, excluded: bool) -> list[os.DirEntry[str]]:
    """The entries of ``directory`` by name; an excluded directory that cannot be read is
    taken as empty, as BuildKit does."""
    try:
        with os.scandir(directory) as it:
            return sorted(it, key=lambda entry: entry.name)
    except PermissionError:
        if excluded:
            return []
        raise


def _translate(pattern: str) -> tuple[int, str]:
    """How to match ``pattern``, and a regular expression for it (meaningful only for
    _REGEX), following patternmatcher's compile step by step."""
    out: list[str] = []
    kind = _EXACT
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        first = i == 0
        i += 1
        if ch == "*" and pattern[i : i + 1] == "*":
            i += 1
            if pattern[i : i + 1] == "/":
                i += 1
            if i < len(pattern):
                out.append("(.*/)?")  # any number of directories, even none
                kind = _REGEX
            elif kind == _EXACT:
                kind = _PREFIX
            else:
                out.append(".*")
                kind = _REGEX
            if first:
                kind = _SUFFIX
        elif ch == "*":
            out.append("[^/]*")
            kind = _REGEX
        elif ch == "?":
            out.append("[^/]")
            kind = _REGEX
        elif ch == "\\":
            if i == len(pattern):
                raise _BadPattern
            out.append(re.escape(pattern[i]))
            i += 1
            kind = _REGEX
        elif ch == "[":
            bracket, i = _bracket(pattern, i)
            out.append(bracket)
            kind = _REGEX
        else:
            out.append(re.escape(ch))
            if ch == "]":
                kind = _REGEX
    return kind, "".join(out)


def _bracket(pattern: str, i: int) -> tuple[str, int]:
    """The character class that starts at ``pattern[i]`` (just after its ``[``), as a
    regular expression, and where the pattern goes on; by filepath.Match's rules: ``^``
    negates, ``\\`` escapes, ``-`` only makes a range, ``]`` ends a non-empty class."""
    negated = pattern[i : i + 1] == "^"
    if negated:
        i += 1
    ranges: list[str] = []
    while pattern[i : i + 1] != "]" or not ranges:
        low, i = _bracket_char(pattern, i)
        high = low
        if pattern[i] == "-":
            high, i = _bracket_char(pattern, i + 1)
        if low > high:
            raise _BadPattern
        ranges.append(re.escape(low) if low == high else f"{re.escape(low)}-{re.escape(high)}")
    return "[" + ("^" if negated else "") + "".join(ranges) + "]", i + 1


def _bracket_char(pattern: str, i: int) -> tuple[str, int]:
    """One (maybe escaped) character of a class; something must follow it."""
    if i >= len(pattern) or pattern[i] in "-]":
        raise _BadPattern
    if pattern[i] == "\\":
        i += 1
    if i + 1 >= len(pattern):
        raise _BadPattern
    return pattern[i], i + 1


def _parents(path: str) -> list[str]:
    """The directories above ``path``, outermost first, as Go's filepath.Dir gives them."""
    slash = path.rfind("/")
    parent = _clean(path[: slash + 1])
    if parent == ".":
        return []
    parts = parent.split("/")
    return ["/".join(parts[: n + 1]) for n in range(len(parts))]


def _clean(path: str) -> str:
    """Go's filepath.Clean on Linux."""
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part != "..":
            parts.append(part)
        elif parts and parts[-1] != "..":
            parts.pop()
        elif not rooted:
            parts.append("..")
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."
