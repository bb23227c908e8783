"""How the skiff command prints: go-units sizes and durations, Go templates and tables,
Docker's reference filters, and the command line's own messages (no store, no root)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from skiff import units
from skiff.cli import format as fmt
from skiff.cli.main import main
from skiff.errors import InvalidArgument
from skiff.images import inspect

ROOT = Path(__file__).resolve().parent.parent.parent


# --- sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, "0B"),
        (999, "999B"),
        (1000, "1kB"),
        (1234, "1.23kB"),
        (742_000, "742kB"),
        (999_499, "999kB"),
        (999_999, "1e+03kB"),  # go-units does this too: %.3g of 999.999
        (4_261_550, "4.26MB"),
        (1_984_239, "1.98MB"),
        (10**9, "1GB"),
        (123_456_789_012, "123GB"),
        (10**27, "1e+03YB"),
    ],
)
def test_human_size_with_precision_3(size, expected):
    assert units.human_size_precision(size, 3) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [(0, "0B"), (1_984_239, "1.984MB"), (4_186_112, "4.186MB"), (4096, "4.096kB"), (2e9, "2GB")],
)
def test_human_size_is_precision_4(size, expected):
    assert units.human_size(size) == expected


# --- durations and times ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-5, "Less than a second"),
        (0.999, "Less than a second"),
        (1, "1 second"),
        (59.9, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (120, "2 minutes"),
        (3599, "59 minutes"),
        (3600, "About an hour"),
        (5399, "About an hour"),  # rounded to the hour: 1.4997h -> 1
        (5400, "2 hours"),  # 1.5h rounds half away from zero
        (47 * 3600, "47 hours"),
        (48 * 3600, "2 days"),
        (13 * 86400, "13 days"),
        (14 * 86400, "2 weeks"),
        (59 * 86400, "8 weeks"),
        (60 * 86400, "2 months"),
        (729 * 86400, "24 months"),
        (730 * 86400, "2 years"),
        (3650 * 86400, "10 years"),
    ],
)
def test_human_duration(seconds, expected):
    assert units.human_duration(seconds) == expected


def test_since_says_ago():
    assert fmt.since(1000, now=1000.5) == "Less than a second ago"
    assert fmt.since(1000, now=1000 + 3 * 86400) == "3 days ago"


def test_times_as_go_prints_them(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    try:
        assert fmt.go_time_string(1700000000) == "2023-11-14 22:13:20 +0000 UTC"
        assert fmt.rfc3339(1700000000) == "2023-11-14T22:13:20Z"
        assert fmt.rfc3339(1700000000, 120_000_000) == "2023-11-14T22:13:20.12Z"
        monkeypatch.setenv("TZ", "CET-1")
        time.tzset()
        assert fmt.go_time_string(1700000000) == "2023-11-14 23:13:20 +0100 CET"
        assert fmt.rfc3339(1700000000) == "2023-11-14T23:13:20+01:00"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_config_times_keep_their_zone_and_drop_trailing_zeros():
    parsed = inspect.parse_time("2024-01-01T00:00:00.500000000Z")
    assert parsed == (1704067200, 500_000_000, "Z")
    assert inspect.format_time(parsed) == "2024-01-01T00:00:00.5Z"
    parsed = inspect.parse_time("2024-01-01T02:00:00+02:00")
    assert parsed is not None and parsed[0] == 1704067200
    assert inspect.format_time(parsed) == "2024-01-01T02:00:00+02:00"
    assert inspect.parse_time("0001-01-01T00:00:00Z") is None
    assert inspect.format_time(None) == "0001-01-01T00:00:00Z"
    assert inspect.parse_time("yesterday") is None


def test_truncate_id_and_ellipsis():
    assert fmt.truncate_id("sha256:" + "ab" * 32) == "ab" * 6
    assert fmt.truncate_id("<missing>") == "<missing>"
    text = "/bin/sh -c #(nop) ADD file:6e7a6c9d5d6bd8ca7aaaaaaaaa in /"
    assert fmt.ellipsis(text, 45) == text[:44] + "…"
    assert fmt.ellipsis("short", 45) == "short"
    assert fmt.ellipsis("日本語のテキスト", 7) == "日本語…"


# --- Go values, JSON and templates ------------------------------------------------------

DATA = {
    "Id": "sha256:abc",
    "RepoTags": ["busybox:latest", "mine:1"],
    "Config": fmt.Struct(
        {
            "Cmd": ["sh", "-c", "echo hi"],
            "Labels": {"b": "2", "a": "1"},
            "Entrypoint": fmt.NIL_SLICE,
            "Volumes": {"/data": {}},
        },
        {"Shell": fmt.NIL_SLICE},
    ),
    "Size": 1984239,
    "Os": "linux",
    "Ratio": 0.25,
    "Empty": "",
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.Id}}", "sha256:abc"),
        ("{{.Config.Cmd}}", "[sh -c echo hi]"),
        ("{{.Config.Labels}}", "map[a:1 b:2]"),
        ("{{.Config.Entrypoint}} {{.Config.Shell}}", "[] []"),
        ("{{.Config.Volumes}}", "map[/data:{}]"),
        ("{{json .Config.Cmd}}", '["sh","-c","echo hi"]'),
        (
            "{{json .Config}}",
            '{"Cmd":["sh","-c","echo hi"],"Labels":{"b":"2","a":"1"},'
            '"Entrypoint":null,"Volumes":{"/data":{}}}',
        ),
        ("{{.Size}} {{.Ratio}}", "1984239 0.25"),
        ("{{range .RepoTags}}<{{.}}>{{end}}", "<busybox:latest><mine:1>"),
        ("{{range $i, $t := .RepoTags}}{{$i}}={{$t}};{{end}}", "0=busybox:latest;1=mine:1;"),
        ("{{range .Config.Entrypoint}}x{{else}}none{{end}}", "none"),
        ("{{index .RepoTags 1}} {{len .RepoTags}}", "mine:1 2"),
        ('{{index .Config.Labels "a"}}', "1"),
        ('{{upper .Os}} {{lower "ABC"}} {{title "hello world"}}', "LINUX abc Hello World"),
        ('{{join .RepoTags ", "}}', "busybox:latest, mine:1"),
        ('{{split "a:b:c" ":"}}', "[a b c]"),
        ("{{truncate .Os 3}} [{{pad .Os 1 2}}] [{{pad .Empty 1 1}}]", "lin [ linux  ] []"),
        ("{{.Os | upper}}", "LINUX"),
        ("{{(index .RepoTags 0) | upper}}", "BUSYBOX:LATEST"),
        ('{{if eq .Os "linux"}}L{{else}}other{{end}}', "L"),
        ('{{if eq .Os "x"}}X{{else if eq .Os "linux"}}L{{else}}?{{end}}', "L"),
        ("{{if .Empty}}yes{{else}}no{{end}}", "no"),
        ("{{if and .Os .Empty}}a{{else}}b{{end}}{{or .Empty .Os}}", "blinux"),
        ("{{with .Config}}{{.Cmd}}{{end}}", "[sh -c echo hi]"),
        ("{{$os := .Os}}{{$os}}", "linux"),
        ('{{printf "%-6s|%5d|%v" .Os .Size .RepoTags}}', "linux |1984239|[busybox:latest mine:1]"),
        ('a {{- " b " -}} c', "a b c"),
        ("{{/* a comment */}}x", "x"),
        ("{{println .Os}}", "linux\n"),
        ("{{1e6}} {{123456.0}} {{0.0001}} {{true}}", "1e+06 123456 0.0001 true"),
        ("{{json .}}", None),
    ],
)
def test_templates(template, expected):
    out = fmt.Template(template).render(DATA)
    if expected is not None:
        assert out == expected
    else:
        assert out.startswith('{"Id":"sha256:abc","RepoTags":["busybox:latest","mine:1"]')


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{.Id", "template: :1: unclosed action"),
        ("{{nope .Id}}", 'template: :1: function "nope" not defined'),
        ("{{if .Id}}x", "template: :1: unexpected EOF in if"),
        ("{{end}}", "template: :1: unexpected {{end}}"),
        ('{{"open}}', "template: :1: unterminated quoted string"),
    ],
)
def test_template_parse_errors(template, message):
    with pytest.raises(fmt.TemplateError) as e:
        fmt.Template(template)
    assert str(e.value) == message


def test_template_execution_errors_name_the_field():
    with pytest.raises(fmt.TemplateError) as e:
        fmt.Template("{{.Bogus}}").render(DATA)
    assert str(e.value) == (
        'template: :1:2: executing "" at <.Bogus>: map has no entry for key "Bogus"'
    )
    row = fmt.Record("*formatter.imageContext", {"ID": "abc"})
    with pytest.raises(fmt.TemplateError) as e:
        fmt.Template("x {{.Bogus}}").render(row)
    assert str(e.value) == (
        'template: :1:4: executing "" at <.Bogus>: '
        "can't evaluate field Bogus in type *formatter.imageContext"
    )
    with pytest.raises(fmt.TemplateError, match="index out of range: 5"):
        fmt.Template("{{index .RepoTags 5}}").render(DATA)


def test_a_cli_context_marshals_as_the_docker_cli_does():
    row = fmt.Record("ctx", {"Tag": "<none>", "ID": "abc", "Digest": "a&b"})
    assert fmt.go_json(row) == '{"Digest":"a\\u0026b","ID":"abc","Tag":"\\u003cnone\\u003e"}'
    # other values: Go's encoder with SetEscapeHTML(false), fields in their own order
    assert fmt.go_json({"b": "<x>", "a": None}) == '{"b":"<x>","a":null}'


def test_go_print():
    assert fmt.go_print([1, "a", [True, None]]) == "[1 a [true <nil>]]"
    assert fmt.go_print({"z": 1, "a": {}}) == "map[a:{} z:1]"
    assert fmt.go_print({}) == "map[]"
    assert fmt.go_print(1.5) == "1.5"
    assert fmt.go_print(1234567.0) == "1.234567e+06"
    assert fmt.go_print(1e-5) == "1e-05"


# --- tables -----------------------------------------------------------------------------


def test_tabwriter_as_the_docker_cli_sets_it_up():
    text = (
        "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n"
        "busybox\tlatest\te8bd33879b07\tLess than a second ago\t1.98MB\n"
        "localhost:5000/z\t2\te8bd33879b07\t5 seconds ago\t1.98MB\n"
    )
    assert fmt.tabwrite(text) == (
        "REPOSITORY         TAG       IMAGE ID       CREATED                  SIZE\n"
        "busybox            latest    e8bd33879b07   Less than a second ago   1.98MB\n"
        "localhost:5000/z   2         e8bd33879b07   5 seconds ago            1.98MB\n"
    )
    # a column is at least 10 wide; the last cell of a line is not padded
    assert fmt.tabwrite("A\tB\n") == "A         B\n"
    assert fmt.tabwrite("TYPE\tTOTAL\nImages\t1\n") == "TYPE      TOTAL\nImages    1\n"


def test_formatter_forms():
    rows = [
        fmt.Record("*formatter.imageContext", {"Repository": "busybox", "Tag": "latest"}),
        fmt.Record("*formatter.imageContext", {"Repository": "<none>", "Tag": "<none>"}),
    ]
    headers = {"Repository": "REPOSITORY", "Tag": "TAG"}
    default = "table {{.Repository}}\t{{.Tag}}"
    table = fmt.Formatter("table", default, headers).render(rows)
    assert table == "REPOSITORY   TAG\nbusybox      latest\n<none>       <none>\n"
    custom = fmt.Formatter("table {{.Repository}}:{{.Tag}}", default, headers).render(rows)
    assert custom == "REPOSITORY:TAG\nbusybox:latest\n<none>:<none>\n"
    escaped = fmt.Formatter("{{.Repository}}\\t{{.Tag}}", default, headers).render(rows)
    assert escaped == "busybox\tlatest\n<none>\t<none>\n"
    json_lines = fmt.Formatter("json", default, headers).render(rows).splitlines()
    assert json_lines == [
        '{"Repository":"busybox","Tag":"latest"}',
        '{"Repository":"\\u003cnone\\u003e","Tag":"\\u003cnone\\u003e"}',
    ]
    with pytest.raises(fmt.TemplateError, match=r"^template parsing error: template: :1: unc"):
        fmt.Formatter("{{.Repository", default, headers)


# --- reference filters --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "matched"),
    [
        ("busybox", "busybox", True),
        ("busy*", "busybox", True),
        ("*", "busybox", True),
        ("*", "x/y", False),  # * never crosses a /
        ("*/*", "x/y", True),
        ("*/*", "localhost:5000/z", True),
        ("b?sybox", "busybox", True),
        ("b?sybox", "b/sybox", False),
        ("[a-c]usybox", "busybox", True),
        ("[^a-c]usybox", "busybox", False),
        ("[!a]x", "!x", True),  # Go has no ! negation
        ("busybox:1*", "busybox:1.36", True),
        ("\\*", "*", True),
        ("*box", "busybox", True),
        ("*x*", "busybox", True),
        ("*o", "busybox", False),
        ("a*b*c", "axxbyyc", True),
        ("a*b*c", "axxbyy", False),
    ],
)
def test_path_match_is_gos(pattern, name, matched):
    assert inspect.path_match(pattern, name) is matched


@pytest.mark.parametrize("pattern", ["[", "[a", "[a-", "\\", "a[", "[]"])
def test_malformed_patterns_are_errors(pattern):
    with pytest.raises(InvalidArgument, match="syntax error in pattern"):
        inspect.path_match(pattern, "abc")


@pytest.mark.parametrize(
    ("pattern", "stored", "matched"),
    [
        ("busybox", "docker.io/library/busybox:latest", True),
        ("busybox:latest", "docker.io/library/busybox:latest", True),
        ("busybox:1", "docker.io/library/busybox:latest", False),
        ("busy*:lat*", "docker.io/library/busybox:latest", True),
        ("*:1", "docker.io/x/y:1", False),
        ("*/*:1", "docker.io/x/y:1", True),
        ("x/*", "docker.io/x/y:1", True),
        ("docker.io/library/busybox", "docker.io/library/busybox:latest", False),
        ("localhost:5000/*", "localhost:5000/z:2", True),
        ("busybox", "docker.io/library/busybox@sha256:" + "a" * 64, True),
    ],
)
def test_familiar_match(pattern, stored, matched):
    assert inspect.familiar_match(pattern, stored) is matched


def test_label_filters_need_every_label():
    filters = {"label": ["a", "b=2"]}
    assert inspect.match_labels(filters, "label", {"a": "x", "b": "2"})
    assert not inspect.match_labels(filters, "label", {"a": "x", "b": "3"})
    assert not inspect.match_labels(filters, "label", None)
    assert inspect.match_labels({}, "label", None)


def test_container_config_has_dockers_fields_in_order():
    config = inspect.container_config({"Cmd": ["sh"], "ExposedPorts": {"80/tcp": {}}})
    assert list(config) == [
        "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
        "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Image", "Volumes",
        "WorkingDir", "Entrypoint", "OnBuild", "Labels",
    ]  # fmt: skip
    assert config["Cmd"] == ["sh"] and config["Env"] is None


# --- progress ---------------------------------------------------------------------------


def test_progress_draws_a_bar_and_finishes_the_line():
    stream = io.StringIO()
    done = [0]
    with fmt.Progress(lambda: ("Saving", done[0], 2_000_000), stream, delay=0, interval=0.01):
        done[0] = 1_000_000
        import time

        time.sleep(0.05)
        done[0] = 2_000_000
    text = stream.getvalue()
    assert "\rSaving [" in text
    last = text.rsplit("\r", 1)[1]
    assert last == "Saving [" + "=" * 49 + ">]      2MB/2MB\x1b[K\n"


def test_progress_stays_quiet_for_quick_jobs():
    stream = io.StringIO()
    with fmt.Progress(lambda: ("Saving", 1, 2), stream, delay=5):
        pass
    assert stream.getvalue() == ""


# --- the command line -------------------------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_help_lists_every_command():
    code, out, _ = run("--help")
    assert code == 0
    for name, summary in [
        ("image", "Manage images"),
        ("system", "Manage skiff"),
        ("history", "Show the history of an image"),
        ("images", "List images"),
        ("import", "Import the contents from a tarball to create a filesystem image"),
        ("inspect", "Return low-level information on skiff objects"),
        ("load", "Load an image from a tar archive or STDIN"),
        ("rmi", "Remove one or more images"),
        ("save", "Save one or more images to a tar archive (streamed to STDOUT by default)"),
        ("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
        ("version", "Show the skiff version information"),
    ]:
        assert f"\n  {name.ljust(11)} {summary}\n" in out
    assert run()[1] == out
    code, out, _ = run("image")
    assert code == 0 and "\n  ls          List images\n" in out
    assert "\n  prune       Remove unused images\n" in out


def test_command_help_is_dockers_layout():
    code, out, _ = run("images", "--help")
    assert code == 0
    assert out.startswith("Usage:  skiff images [OPTIONS] [REPOSITORY[:TAG]]\n\nList images\n")
    assert "Aliases:\n  skiff image list, skiff image ls, skiff images\n" in out
    assert "\n  -a, --all             Show all images (default hides intermediate images)\n" in out
    assert "\n  -f, --filter filter   Filter output based on conditions provided\n" in out
    assert "\n  -q, --quiet           Only show image IDs\n" in out
    code, out, _ = run("history", "-h")
    assert "  -H, --human           Print sizes and dates in human readable format (default" in out
    assert run("help", "images")[1] == run("images", "--help")[1]


def test_version():
    assert run("--version")[:2] == (0, "skiff version 0.1.0\n")
    code, out, _ = run("version")  # Docker's layout: tests/unit/test_cli_system.py
    assert (code, out.splitlines()[:2]) == (0, ["Client:", " Version:           0.1.0"])


def test_unknown_command():
    assert run("frobnicate") == (
        1,
        "",
        "skiff: unknown command: skiff frobnicate\n\nRun 'skiff --help' for more information\n",
    )
    code, _, err = run("image", "frobnicate")
    assert code == 1 and err.startswith("skiff: unknown command: skiff image frobnicate\n")


@pytest.mark.parametrize(
    ("args", "code", "first_line"),
    [
        (["images", "--bogus"], 125, "unknown flag: --bogus"),
        (["images", "-z"], 125, "unknown shorthand flag: 'z' in -z"),
        (["images", "-qz"], 125, "unknown shorthand flag: 'z' in -z"),
        (["images", "--format"], 125, "flag needs an argument: --format"),
        (["images", "--quiet=maybe"], 125,
         'invalid argument "maybe" for "-q, --quiet" flag: strconv.ParseBool: parsing "maybe": '
         "invalid syntax"),
        (["images", "-f", "dangling"], 125,
         'invalid argument "dangling" for "-f, --filter" flag: bad format of filter '
         "(expected name=value)"),
        (["image", "prune", "--filter", "x"], 125,
         'invalid argument "x" for "--filter" flag: bad format of filter (expected name=value)'),
        (["--bogus", "images"], 125, "unknown flag: --bogus"),
        (["tag", "a"], 1, "skiff: 'skiff tag' requires 2 arguments"),
        (["rmi"], 1, "skiff: 'skiff rmi' requires at least 1 argument"),
        (["image", "rm"], 1, "skiff: 'skiff image rm' requires at least 1 argument"),
        (["images", "a", "b"], 1, "skiff: 'skiff images' requires at most 1 argument"),
        (["history"], 1, "skiff: 'skiff history' requires 1 argument"),
        (["load", "x"], 1, "skiff: 'skiff load' accepts no arguments"),
        (["import", "a", "b", "c"], 1,
         "skiff: 'skiff import' requires at least 1 and at most 2 arguments"),
    ],
)  # fmt: skip
def test_usage_errors_are_dockers(args, code, first_line):
    got, out, err = run(*args)
    assert (got, out) == (code, "")
    assert err.split("\n")[0] == first_line
    assert "\n\nUsage:  skiff " in err
    assert err.endswith(" --help' for more information\n")


def test_bool_flags_take_go_values(tmp_path):
    env = {"SKIFF_ROOT": str(tmp_path / "root"), "SKIFF_RUNROOT": str(tmp_path / "run")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        assert run("images", "-q=true", "--no-trunc=0", "--all=F")[0] == 0
        assert run("history", "-H=false", "nosuch")[2] == "Error: No such image: nosuch:latest\n"
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_help_imports_nothing_heavy():
    script = (
        "import sys, io, contextlib\n"
        "from skiff.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help']); main(['images', '--help'])\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-S", "-c", script], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    heavy = {"json", "sqlite3", "threading", "tarfile", "typing", "skiff.images.service"}
    assert not heavy & set(out), sorted(heavy & set(out))
    assert not [m for m in out if m.startswith("skiff.images")]


def test_the_command_index_names_the_module_of_every_command():
    """A command line loads one module (COMMAND_INDEX); the index must match what the
    modules register, alias by alias."""
    import importlib

    from skiff.cli.main import COMMAND_INDEX, COMMAND_MODULES, base_registry

    found = {}
    for module in COMMAND_MODULES:
        registry = base_registry()
        importlib.import_module(f"skiff.cli.{module}").register(registry)
        found |= {name: module for name in registry.commands}
        for group in registry.groups.values():
            found |= {f"{group.name} {name}": module for name in group.commands}
    assert found == COMMAND_INDEX
    for path in COMMAND_INDEX:
        assert run(*path.split(), "--help")[0] == 0, path
