"""skiff.build.dockerignore against moby/patternmatcher and BuildKit's context walk.

MATCHES, MULTI and GO_MATCH are patternmatcher_test.go's tables (TestMatches with
MatchesOrParentMatches, and the filepath.Match cases of TestMatch); READ is
ignorefile_test.go's TestReadAll; the walks follow tonistiigi/fsutil's filter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from skiff.build.dockerignore import IgnoreMatcher, read_patterns
from skiff.errors import InvalidArgument

SYNTAX = "syntax error in pattern"
WHEEL = "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"

# pattern, path, excluded (itself or through a parent directory)
MATCHES = [
    ("**", "file", True),
    ("**", "file/", True),
    ("**/", "file", True),
    ("**/", "file/", True),
    ("**", "/", True),
    ("**/", "/", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**", "dir/file/", True),
    ("**/", "dir/file/", True),
    ("**/**", "dir/file", True),
    ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True),
    ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    (WHEEL, WHEEL, True),
    ("dist/*.whl", WHEEL, True),
    ("a\\\\", "a\\", True),
    ("a\\*b", "a*b", True),
    # patternmatcher's shortcuts: "**x" is any path ending in x, "x**" any starting with x
    ("**file", "dir/myfile", True),
    ("dir**", "directory/file", True),
    # a parent directory's match excludes what is below it
    ("docs", "docs/README.md", True),
    ("docs/", "docs/README.md", True),
    ("*/sub", "a/sub/deep/file", True),
    ("*.go", "dir/x.go", False),
    ("/abs", "abs", False),
]

# patterns, path, excluded; a later pattern wins
MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!" + WHEEL], WHEEL, False),
    (["**", "!dist/*.whl"], WHEEL, False),
    (["!fileutils.go", "*.go"], "fileutils.go", True),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["docs", "!docs/README.md"], "docs/other.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-public.md", False),
    ([], "any/path", False),
    (["docs", "  !docs/README.md  "], "docs/README.md", False),
]

# Go's filepath.Match tests, as patternmatcher_test.go runs them: pattern, path, result
# (None: the pattern is refused as a syntax error)
GO_MATCH = [
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", True),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-ζ]*", "α", True),  # noqa: RUF001
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("[]a]", "]", None),
    ("[-]", "-", None),
    ("[x-]", "x", None),
    ("[-x]", "x", None),
    ("\\", "a", None),
    ("[a-b-c]", "a", None),
    ("[", "a", None),
    ("[^", "a", None),
    ("[^bc", "a", None),
    ("a[", "a", None),
    ("*x", "xxx", True),
    # brackets take characters, not wildcards; ! does not negate (Go's is ^)
    ("[*]", "*", True),
    ("[*]", "x", False),
    ("[!a]", "!", True),
    ("[!a]", "b", False),
    ("a^b", "a^b", True),
    ("[z-a]", "m", None),
]

# ignorefile_test.go's TestReadAll, and more
READ = [
    (
        "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ",
        ["test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path", "!", "!"],
    ),
    ("", []),
    ("\ufeff# comment\n\ufeffx\n", ["\ufeffx"]),
    ("  # not a comment\n", ["# not a comment"]),
    ("a/./b/../c//\r\n", ["a/c"]),
    ("/\n.\n./\n!./x\n", ["/", ".", ".", "!x"]),
    ("../x\n/../x\n", ["../x", "x"]),
    ("\tnode_modules \n!\t/node_modules/keep \n", ["node_modules", "!node_modules/keep"]),
]


@pytest.mark.parametrize(("pattern", "path", "excluded"), MATCHES)
def test_matches(pattern: str, path: str, excluded: bool) -> None:
    assert IgnoreMatcher([pattern]).matches(path) is excluded


@pytest.mark.parametrize(("patterns", "path", "excluded"), MULTI)
def test_later_patterns_win(patterns: list[str], path: str, excluded: bool) -> None:
    assert IgnoreMatcher(patterns).matches(path) is excluded


@pytest.mark.parametrize(("pattern", "path", "result"), GO_MATCH)
def test_filepath_match_syntax(pattern: str, path: str, result: bool | None) -> None:
    if result is None:
        with pytest.raises(InvalidArgument) as caught:
            IgnoreMatcher([pattern])
        assert str(caught.value) == SYNTAX
    else:
        assert IgnoreMatcher([pattern]).matches(path) is result


@pytest.mark.parametrize(("text", "patterns"), READ)
def test_read_patterns(text: str, patterns: list[str]) -> None:
    assert read_patterns(text) == patterns


def test_single_exclamation_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        IgnoreMatcher(["docs", "!"])
    assert str(caught.value) == 'illegal exclusion pattern: "!"'


def test_root_is_never_excluded() -> None:
    matcher = IgnoreMatcher(["*", "**"])
    assert not matcher.matches(".")
    assert not matcher.matches("")


def test_blank_patterns_are_skipped() -> None:
    assert not IgnoreMatcher(["", "   "]).matches("x")


def test_has_exclusions() -> None:
    assert IgnoreMatcher(["docs", "!docs/README.md"]).has_exclusions()
    assert IgnoreMatcher(["docs", "  !docs/README.md"]).has_exclusions()
    assert not IgnoreMatcher(["docs", "config"]).has_exclusions()


def _tree(root: Path, *paths: str) -> None:
    """Files, or directories for names ending in /."""
    for path in paths:
        target = root / path
        if path.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path)


def _walk(root: Path, patterns: list[str]) -> list[str]:
    return list(IgnoreMatcher(patterns).walk(str(root)))


def test_walk_without_patterns(tmp_path: Path) -> None:
    _tree(tmp_path, "b", "a/z", "a/c/", ".dockerignore")
    assert _walk(tmp_path, []) == [".dockerignore", "a", "a/c", "a/z", "b"]


def test_walk_skips_excluded_directories(tmp_path: Path) -> None:
    _tree(tmp_path, "node_modules/x/y.js", "src/main.py", "src/main.pyc", "README.md")
    assert _walk(tmp_path, ["node_modules", "**/*.pyc"]) == ["README.md", "src", "src/main.py"]


def test_walk_enters_a_directory_for_an_exception(tmp_path: Path) -> None:
    _tree(tmp_path, "build/keep.txt", "build/other.txt", "build/sub/x", "top")
    assert _walk(tmp_path, ["build", "!build/keep.txt"]) == ["build", "build/keep.txt", "top"]


def test_walk_lists_an_excluded_directory_only_before_what_is_kept(tmp_path: Path) -> None:
    _tree(tmp_path, "a/b/c/keep", "a/b/drop", "a/empty/", "z")
    assert _walk(tmp_path, ["*", "!a/b/c/keep"]) == ["a", "a/b", "a/b/c", "a/b/c/keep"]


def test_walk_with_a_wildcard_exception_enters_every_directory(tmp_path: Path) -> None:
    _tree(tmp_path, "vendor/lib/LICENSE", "vendor/lib/code.go", "docs/LICENSE")
    assert _walk(tmp_path, ["vendor", "!**/LICENSE"]) == [
        "docs",
        "docs/LICENSE",
        "vendor",
        "vendor/lib",
        "vendor/lib/LICENSE",
    ]


def test_walk_with_a_prefix_exception_prunes_other_directories(tmp_path: Path) -> None:
    _tree(tmp_path, "out/keep/x", "out/drop/x")
    assert _walk(tmp_path, ["out", "!out/keep/*"]) == ["out", "out/keep", "out/keep/x"]


def test_walk_does_not_follow_symlinks(tmp_path: Path) -> None:
    _tree(tmp_path, "real/file")
    (tmp_path / "link").symlink_to("real")
    assert _walk(tmp_path, []) == ["link", "real", "real/file"]
