"""skiff.build.words against BuildKit's shell lexer (frontend/dockerfile/shell/lex.go).

The tables are BuildKit's own test data (envVarTest, wordsTest, lex_test.go's cases) with
the outcomes lex.go gives, error texts included, plus cases for the corners it has.
"""

from __future__ import annotations

import json

import pytest

from skiff.build.words import ExpansionError, Lexer
from skiff.errors import InvalidArgument

ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}
SINGLE = "unexpected end of statement while looking for matching single-quote"
DOUBLE = "unexpected end of statement while looking for matching double-quote"
BAD = "syntax error: bad substitution"
MISSING = "syntax error: missing '}'"

# envVarTest: the word, what ProcessWord makes of it with ENV
EXPANDED = [
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ("he\\'llo", "he'llo"),
    ("abc\\tdef", "abctdef"),
    ('"abc\\tdef"', "abc\\tdef"),
    ("'abc\\tdef'", "abc\\tdef"),
    ("hello\\", "hello"),
    ("hello\\\\", "hello\\"),
    ('"hel\'lo"', "hel'lo"),
    ("'hello\\'", "hello\\"),
    ("\"''\"", "''"),
    ("$.", "$."),
    ("$1", ""),
    ("he$1x", "hex"),
    ("he$.x", "he$.x"),
    ("he$pwd.", "he."),
    ("he$PWD", "he/home"),
    ("he\\$PWD", "he$PWD"),
    ("he\\\\$PWD", "he\\/home"),
    ("he\\${}", "he${}"),
    ("he\\${}xx", "he${}xx"),
    ("he${hi}", "he"),
    ("he${hi}xx", "hexx"),
    ("he${PWD}", "he/home"),
    ("he${XXX:-000}xx", "he000xx"),
    ("he${PWD:-000}xx", "he/homexx"),
    ("he${XXX:-$PWD}xx", "he/homexx"),
    ("he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
    ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
    ("he${XXX:+${PWD}}xx", "hexx"),
    ("he${PWD:+${XXX}}xx", "hexx"),
    ("he${PWD:+${SHELL}}xx", "hebashxx"),
    ("he${XXX:+000}xx", "hexx"),
    ("he${PWD:+000}xx", "he000xx"),
    ("'he${XX}'", "he${XX}"),
    ('"he${PWD}"', "he/home"),
    ("\"he'$PWD'\"", "he'/home'"),
    ('"$PWD"', "/home"),
    ("'$PWD'", "$PWD"),
    ("'\\$PWD'", "\\$PWD"),
    ("'\"hello\"'", '"hello"'),
    ('"he\\$PWD"', "he$PWD"),
    ("'he\\$PWD'", "he\\$PWD"),
    ("he${PWD:+${PWD}:}xx", "he/home:xx"),
    ("he${XXX:-\\$PWD:}xx", "he$PWD:xx"),
    ("he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"),
    ("안녕\\'하세요", "안녕'하세요"),
    ('"안녕\\t하세요"', "안녕\\t하세요"),
    ("안녕$1x", "안녕x"),
    ("$KOREAN", "한국어"),
    ("안녕$KOREAN", "안녕한국어"),
    # unset and empty: only the colon forms treat an empty value as unset
    ("${NULL-x}", ""),
    ("${NULL:-x}", "x"),
    ("${NULL+x}", "x"),
    ("${NULL:+x}", ""),
    ("${NULL?x}", ""),
    # whitespace is kept by ProcessWord, quoted or not
    ("a  b ${SHELL}", "a  b bash"),
    # special parameters are one-character names, unset in a build
    ("$$-$@-$#-$?-$*-$!-$0-$-", "-------"),
    ("$12x", "x"),
    ("a$", "a$"),
    ("a$'b'", "a$b"),
    ('"a$"', "a$"),
    # inside double quotes \ escapes only ", $ and itself
    ('"\\"\\$\\\\\\a"', '"$\\\\a'),
    ("\ufeffhello", "hello"),
]

# envVarTest (and more): words ProcessWord refuses, with BuildKit's message after
# 'failed to process <word as Go's %q shows it>: '
REFUSED = [
    ("he'llo", SINGLE),
    ("he\\\\'llo", SINGLE),
    ("'hello", SINGLE),
    ('"hello', DOUBLE),
    ('"hello\\"', DOUBLE),
    ("he${}", BAD),
    ("he${}xx", BAD),
    ("${:}", BAD),
    ("${{x}", BAD),
    ("${", MISSING),
    ("he${.}", "unsupported modifier (.) in substitution"),
    ("he${XXX:YYY}", "unsupported modifier (:Y) in substitution"),
    ("he${PWD:=000}xx", "unsupported modifier (:=) in substitution"),
    ("${FOO=aaa}", "unsupported modifier (=) in substitution"),
    # Go shows the scanner's EOF rune as U+FFFD
    ("he${PWD", "unsupported modifier (\ufffd) in substitution"),
    ("${PWD:", MISSING),
    ("${PWD:-abc", MISSING),
    ('${PWD:-"abc}', MISSING),
    ("${PWD/a", "syntax error: missing '/' in ${}"),
    ("${PWD//ww}", "syntax error: missing '/' in ${}"),
    ("${PWD/a/b", MISSING),
    ("${XXX?}", "XXX: is not allowed to be unset"),
    ("${XXX:?}", "XXX: is not allowed to be unset"),
    ("${NULL:?}", "NULL: is not allowed to be empty"),
    ("${NULL:?no $SHELL}", "NULL: no bash"),
    ("${XXX:-${YYY:?inner}}", "YYY: inner"),
    ("${PWD#a\\x}", "invalid pattern (a\\x) in substitution: invalid escape '\\x'"),
]

# lex_test.go's TestProcessWithMatches: word, env, result
SUBSTITUTED = [
    ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx  ccc"),
    ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx bbb ccc"),
    ("${FOO:-}", {"FOO": "xxx"}, "xxx"),
    ("${FOO:-}", {}, ""),
    ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa bbb "),
    ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa  "),
    ("${FOO?aaa}", {"FOO": "xxx"}, "xxx"),
    ("${FOO:?aaa}", {"FOO": "xxx"}, "xxx"),
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x"),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx"),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y"),
    ("${FOO#*}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy"),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy"),
    ("${FOO#}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO##*x}", {"FOO": "xxyy"}, "yy"),
    ("${FOO##}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y"),
    ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy."),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a"),
    ("${FOO%}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy"),
    ("${FOO%y*}", {"FOO": "a.y.y"}, "a.y."),
    ("${FOO%%y*}", {"FOO": "a.y.y"}, "a."),
    (
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
        "/foo.*/*.txt - /foo..*.txt",
    ),
    (
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
        "/tmp/bar.txt - /bar.txt",
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
        {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"},
        "/foo/b/c.txt - /foo/c.txt",
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT}",
        {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
        "https://google.de",
    ),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt"),
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy"),
    ("${FOO///}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO///}", {}, ""),
    (
        "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
        {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm", "TARGETVARIANT": "v7"},
        "something-v1.2.3.linux-arm-v7.tar.gz",
    ),
    # Go's ReplaceAllString: no second replacement for the empty match after "ab"...
    ("${FOO//*/x}", {"FOO": "ab"}, "x"),
    # ...and $0 in the replacement (from a value, or kept by an escape) is the match
    ("${FOO//o/[$R]}", {"FOO": "foo", "R": "$0$$"}, "f[o$][o$]"),
    ("${FOO/o/[$R]}", {"FOO": "foo", "R": "$0"}, "f[$0]o"),
    # names are case-sensitive
    ("${foo:-unset}", {"FOO": "x"}, "unset"),
    ("$FOO_1.$FOO", {"FOO_1": "a", "FOO": "b"}, "a.b"),
]

# wordsTest: word, env, ProcessWords result
SPLIT = [
    ("hello", {}, ["hello"]),
    ("hello${hi}bye", {}, ["hellobye"]),
    ("hello${hi}bye", {"hi": "hi"}, ["hellohibye"]),
    ("hello${space}bye", {"space": "abc  def"}, ["helloabc", "defbye"]),
    ('hello"${space}"bye', {"space": "abc  def"}, ["helloabc  defbye"]),
    ('hello "${space}"bye', {"space": "abc  def"}, ["hello", "abc  defbye"]),
    ("hello${leading}def", {"leading": "  ab c"}, ["hello", "ab", "cdef"]),
    ('hello"${leading}" def', {"leading": "  ab c"}, ["hello  ab c", "def"]),
    ('hello"${leading}"', {"leading": "  ab c"}, ["hello  ab c"]),
    ("hello${leading}", {"leading": "  ab c"}, ["hello", "ab", "c"]),
    ("hello${trailing}", {"trailing": "ab c   "}, ["helloab", "c"]),
    ("hello${trailing}d", {"trailing": "ab c   "}, ["helloab", "c", "d"]),
    ('hello"${trailing}"d', {"trailing": "ab c   "}, ["helloab c   d"]),
    ('hel"lo${trailing}"', {"trailing": "ab c   "}, ["helloab c   "]),
    ('hello" there  "', {}, ["hello there  "]),
    ("hello there     ", {}, ["hello", "there"]),
    ("hello\\ there", {}, ["hello there"]),
    ('hello\\" there', {}, ['hello"', "there"]),
    ('a "" b', {}, ["a", "b"]),
    ("\t a\u3000b\n", {}, ["a", "b"]),
    ("${X:-a b} c", {}, ["a", "b", "c"]),
    ("", {}, []),
]


@pytest.mark.parametrize(("word", "expected"), EXPANDED)
def test_process_word(word: str, expected: str) -> None:
    assert Lexer().process_word(word, ENV) == expected


@pytest.mark.parametrize(("word", "message"), REFUSED)
def test_process_word_refused(word: str, message: str) -> None:
    with pytest.raises(ExpansionError) as caught:
        Lexer().process_word(word, ENV)
    # JSON quotes these words as Go's %q does
    assert str(caught.value) == f"failed to process {json.dumps(word)}: {message}"


@pytest.mark.parametrize(("word", "env", "expected"), SUBSTITUTED)
def test_substitution_operators(word: str, env: dict[str, str], expected: str) -> None:
    assert Lexer().process_word(word, env) == expected


@pytest.mark.parametrize(("word", "env", "expected"), SPLIT)
def test_process_words(word: str, env: dict[str, str], expected: list[str]) -> None:
    assert Lexer().process_words(word, env) == expected


def test_process_words_refuses_like_process_word() -> None:
    with pytest.raises(ExpansionError, match="matching double-quote"):
        Lexer().process_words('hello" there', {})


def test_mandatory_variables() -> None:
    """lex_test.go's TestShellParserMandatoryEnvVars."""
    lexer = Lexer()
    no_empty, no_unset = "${VAR:?message here$ARG}", "${VAR?message here$ARG}"
    assert lexer.process_word(no_empty, {"VAR": "plain", "ARG": "x"}) == "plain"
    assert lexer.process_word(no_unset, {"VAR": "plain", "ARG": "x"}) == "plain"
    assert lexer.process_word(no_unset, {"VAR": "", "ARG": "x"}) == ""
    for word, env in [(no_empty, {"VAR": "", "ARG": "x"}), (no_empty, {"ARG": "x"})]:
        with pytest.raises(ExpansionError, match=r"VAR: message herex$"):
            lexer.process_word(word, env)
    with pytest.raises(ExpansionError, match=r"VAR: message herex$"):
        lexer.process_word(no_unset, {"ARG": "x"})


def test_error_quotes_the_word_as_go_does() -> None:
    with pytest.raises(ExpansionError) as caught:
        Lexer().process_word('a\t"b\\', {})
    assert str(caught.value) == f'failed to process "a\\t\\"b\\\\": {DOUBLE}'


def test_error_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        Lexer().process_word("${", {})


def test_suffix_pattern_error_shows_the_reversed_pattern() -> None:
    with pytest.raises(ExpansionError) as caught:
        Lexer().process_word("${X%$P}", {"X": "ab", "P": "\\xb"})
    assert str(caught.value).endswith(
        "invalid pattern (b\\x) in substitution: invalid escape '\\x'"
    )


def test_pattern_ending_in_escape() -> None:
    with pytest.raises(ExpansionError) as caught:
        Lexer().process_word("${X#$P}", {"X": "ab", "P": "a\\"})
    assert str(caught.value).endswith("invalid escape '\\\ufffd'")


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ('C:\\path\\to`$HOME`"x', 'C:\\path\\to$HOME"x'),
        ('"a`"b\\"', 'a"b\\'),
        ("`$HOME $HOME", "$HOME /root"),
        ("a``b`", "a`b"),
        ('"`\\"', "`\\"),
    ],
)
def test_backquote_escape(word: str, expected: str) -> None:
    """With ``# escape=``` the backslash is an ordinary character (Windows paths)."""
    assert Lexer("`").process_word(word, {"HOME": "/root"}) == expected


def test_backquote_escape_splits_words() -> None:
    assert Lexer("`").process_words("a` b c\\ d", {}) == ["a b", "c\\", "d"]


def test_unknown_escape_token() -> None:
    with pytest.raises(InvalidArgument) as caught:
        Lexer("x")
    assert str(caught.value) == "invalid escape token 'x' does not match ` or \\"
