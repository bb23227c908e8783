"""Variable substitution in Dockerfile instructions, as BuildKit's shell lexer does it.

Docker runs no shell to expand ``$VAR`` in ENV, COPY, WORKDIR and the like: BuildKit has
its own small lexer (frontend/dockerfile/shell/lex.go), with its own rules and quirks, and
a Dockerfile means what that lexer makes of it. This module follows it rule by rule, error
texts included: quotes are removed ('...' literal, "..." with expansion), the escape
character (``\\``, or a backquote after ``# escape=```) makes the next character literal,
``$NAME`` and ``${NAME}`` expand, and ``${NAME<op>word}`` takes the operators ``:-`` ``-``
``:+`` ``+`` ``:?`` ``?`` ``#`` ``##`` ``%`` ``%%`` ``/`` and ``//``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from skiff.errors import InvalidArgument
from skiff.gotext import go_quote

_EOF = ""
# Go's unicode.IsSpace; str.isspace() would also take the separators U+001C..U+001F.
_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# POSIX special parameters: ``$@``, ``$?``... are one-character names (and unset in a build).
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
# Go prints the scanner's EOF (rune -1) as U+FFFD, e.g. in "unsupported modifier (\ufffd)".
_EOF_SHOWN = "\ufffd"
_REGEX_SPECIAL = frozenset("[]{}.+()|^$")
# In a // replacement Go's Regexp.Expand reads $$, $name and ${name}.
_TEMPLATE_REF = re.compile(r"\$(?:\$|(\w+)|\{(\w+)\})")


class ExpansionError(InvalidArgument):
    """A word BuildKit's lexer rejects; the message is BuildKit's."""


class _Failure(Exception):
    """An error inside one word, wrapped once at the top as BuildKit wraps it."""


class Lexer:
    """Expands the words of one Dockerfile, whose escape character is ``escape``."""

    def __init__(self, escape: str = "\\") -> None:
        if escape not in ("\\", "`"):
            raise InvalidArgument(f"invalid escape token '{escape}' does not match ` or \\")
        self.escape = escape

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """``word`` expanded and unquoted; whitespace is kept, even unquoted."""
        return self._process(word, env)[0]

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """``word`` expanded, then split at whitespace that was neither quoted nor escaped
        (whitespace from an unquoted variable splits too)."""
        return self._process(word, env)[1]

    def _process(self, word: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
        try:
            return _Expansion(word, env, self.escape).until(_EOF, raw_escapes=False)
        except _Failure as e:
            raise ExpansionError(f"failed to process {go_quote(word)}: {e}") from None


class _Words:
    """Splits the expanded text into words, as BuildKit's wordsStruct does."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.word = ""

    def add_char(self, ch: str) -> None:
        """An unquoted character: whitespace ends the current word."""
        if ch not in _SPACE:
            self.word += ch
        elif self.word:
            self.words.append(self.word)
            self.word = ""

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw(self, text: str) -> None:
        """Quoted or escaped text: part of the word, whitespace included."""
        self.word += text

    def done(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
        return self.words


class _Expansion:
    """One pass over a word: a scanner with lex.go's shellWord methods."""

    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        # Go's text/scanner drops a byte order mark at the very start.
        self.text = text.removeprefix("\ufeff")
        self.pos = 0
        self.env = env
        self.escape = escape
        self.raw_escapes = False

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """The text up to ``stop`` (consumed; "" is the end of the word) and its words.
        With ``raw_escapes`` the escape characters are kept, for a pattern to see them."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._until(stop)
        finally:
            self.raw_escapes = saved

    def _until(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while (ch := self.peek()) != _EOF:
            if stop and ch == stop:
                self.next()
                return "".join(result), words.done()
            if ch == "$":
                value = self.dollar()
                words.add_string(value)
                result.append(value)
            elif ch in "'\"":
                value = self.single_quoted() if ch == "'" else self.double_quoted()
                words.add_raw(value)
                result.append(value)
            elif self.next() != self.escape:
                words.add_char(ch)
                result.append(ch)
            else:
                if self.raw_escapes:
                    words.add_raw(ch)
                    result.append(ch)
                ch = self.next()
                if ch == _EOF:
                    break  # an escape at the very end is dropped
                words.add_raw(ch)
                result.append(ch)
        if stop:
            raise _Failure(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.done()

    def single_quoted(self) -> str:
        """Everything up to the next ', literally: nothing escapes in single quotes."""
        start = self.pos + 1
        end = self.text.find("'", start)
        if end < 0:
            raise _Failure("unexpected end of statement while looking for matching single-quote")
        self.pos = end + 1
        return self.text[start:end]

    def double_quoted(self) -> str:
        """Up to the next unescaped ", expanding $; the escape character only escapes
        ", $ and itself, and is literal before anything else."""
        self.next()
        result: list[str] = []
        while (ch := self.peek()) != '"':
            if ch == _EOF:
                raise _Failure(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == "$":
                result.append(self.dollar())
                continue
            self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    result.append(ch)
                following = self.peek()
                if following == _EOF:
                    continue
                if following in ('"', "$", self.escape):
                    ch = self.next()
            result.append(ch)
        self.next()
        return "".join(result)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            return self.lookup(name)[0] if name else "$"
        self.next()
        ch = self.peek()
        if ch == _EOF:
            raise _Failure("syntax error: missing '}'")
        if ch in "{}:":
            raise _Failure("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch == "}":
            return self.lookup(name)[0]
        if ch == "/":
            return self.replace(name)
        if ch and ch in ":+-?#%":
            return self.modified(name, ch)
        raise _Failure(f"unsupported modifier ({ch or _EOF_SHOWN}) in substitution")

    def name(self) -> str:
        """A variable name: letters, digits and _; or all the digits of a positional
        parameter; or one special parameter character. "" if none is there."""
        start = self.pos
        ch = self.peek()
        if ch.isdecimal():
            while self.peek().isdecimal():
                self.pos += 1
        elif ch and ch in _SPECIAL_PARAMS:
            self.pos += 1
        else:
            while (ch := self.peek()) and (ch.isalpha() or ch.isdecimal() or ch == "_"):
                self.pos += 1
        return self.text[start : self.pos]

    def lookup(self, name: str) -> tuple[str, bool]:
        """The value ("" when unset) and whether it is set; names are case-sensitive."""
        if name in self.env:
            return self.env[name], True
        return "", False

    def operand(self, stop: str, raw_escapes: bool, missing: str) -> str:
        """The word of a ``${NAME<op>word}``; any error at the end of the text is
        reported as the missing ``stop``."""
        try:
            return self.until(stop, raw_escapes)[0]
        except _Failure:
            if self.peek() == _EOF:
                raise _Failure(missing) from None
            raise

    def modified(self, name: str, first: str) -> str:
        """``${NAME<op>word}`` for the operators but / and //. A leading : makes an
        empty value count as unset (for - + ?); the word is read before an unknown
        operator is refused."""
        op = first
        shown = first
        if first == ":":
            op = self.next()
            shown += op or _EOF_SHOWN
        word = self.operand("}", op in ("#", "%"), "syntax error: missing '}'")
        value, is_set = self.lookup(name)
        unset = not is_set or (first == ":" and value == "")
        if op == "-":
            return word if unset else value
        if op == "+":
            return "" if unset else word
        if op == "?":
            if not is_set:
                raise _Failure(f"{name}: {word or 'is not allowed to be unset'}")
            if unset:
                raise _Failure(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if op in ("#", "%"):
            greedy = word.startswith(op)
            if greedy:
                word = word[1:]
            if op == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        raise _Failure(f"unsupported modifier ({shown}) in substitution")

    def replace(self, name: str) -> str:
        """``${NAME/pattern/replacement}`` (first match) or ``${NAME//...}`` (all)."""
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        pattern = self.operand("/", True, "syntax error: missing '/' in ${}")
        replacement = self.operand("}", True, "syntax error: missing '}'")
        value = self.lookup(name)[0]
        regex = _compile(pattern, pattern, greedy=True, anchored=False)
        if replace_all:
            return _replace_all(regex, value, replacement)
        found = regex.search(value)
        if found is None:
            return value
        return value[: found.start()] + replacement + value[found.end() :]


def _compile(pattern: str, shown: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell wildcard pattern as a regular expression: ``*`` any text (the shortest
    unless ``greedy``), ``?`` one character, ``\\`` escapes ``*``, ``?`` and itself and
    is dropped before ``}`` and ``/``; no bracket expressions. ``shown`` names the
    pattern in an error (the reversed one when trimming a suffix, as BuildKit shows)."""
    out = ["^"] if anchored else []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*" if greedy else ".*?")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            following = pattern[i : i + 1]
            if following in ("}", "/"):
                continue
            if following not in ("*", "?", "\\"):
                raise _Failure(
                    f"invalid pattern ({shown}) in substitution: "
                    f"invalid escape '\\{following or _EOF_SHOWN}'"
                )
            out.append("\\" + following)
            i += 1
        elif ch in _REGEX_SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    found = _compile(pattern, pattern, greedy, anchored=True).match(value)
    return value[found.end() :] if found else value


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    """A regular expression finds no shortest match at the end, so BuildKit reverses
    both the value and the pattern (keeping escapes before what they escape)."""
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _reverse_pattern(pattern: str) -> str:
    units: list[str] = []
    i = 0
    while i < len(pattern):
        size = 2 if pattern[i] == "\\" and i + 1 < len(pattern) else 1
        units.append(pattern[i : i + size])
        i += size
    return "".join(reversed(units))


def _replace_all(regex: re.Pattern[str], value: str, template: str) -> str:
    """Go's Regexp.ReplaceAllString: an empty match right after a match is not replaced
    (Python's re.sub would), and ``$0``/``${0}`` in the replacement is the match."""
    out: list[str] = []
    last = 0
    previous_end = -1
    for found in regex.finditer(value):
        if found.start() == found.end() == previous_end:
            continue
        out.append(value[last : found.start()])
        out.append(_expand_template(template, found.group()))
        last = previous_end = found.end()
    out.append(value[last:])
    return "".join(out)


def _expand_template(template: str, matched: str) -> str:
    def reference(ref: re.Match[str]) -> str:
        if ref.group() == "$$":
            return "$"
        return matched if (ref.group(1) or ref.group(2)) == "0" else ""

    return _TEMPLATE_REF.sub(reference, template)
