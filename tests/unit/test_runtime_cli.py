"""runc's flag syntax, as skiff-runtime parses it."""

import pytest

from skiff.errors import InvalidArgument
from skiff.runtime.cli import COMMANDS, GLOBAL_FLAGS, main, parse_flags


def test_global_flags_stop_at_the_command():
    flags, rest = parse_flags(
        ["--root", "/r", "--log=/l", "-log-format", "json", "create", "--bundle", "b", "id"],
        GLOBAL_FLAGS,
    )
    assert flags["root"] == "/r"
    assert flags["log"] == "/l"
    assert flags["log_format"] == "json"
    assert rest == ["create", "--bundle", "b", "id"]


def test_command_flags_short_aliases_and_positionals():
    flags, rest = parse_flags(["-d", "-b", "/bundle", "c1"], COMMANDS["run"].flags)
    assert flags["detach"] is True
    assert flags["bundle"] == "/bundle"
    assert rest == ["c1"]


def test_everything_after_the_id_is_positional():
    flags, rest = parse_flags(
        ["-e", "A=1", "-e", "B=2", "c1", "sh", "-c", "ls -l"], COMMANDS["exec"].flags
    )
    assert flags["env"] == ["A=1", "B=2"]
    assert rest == ["c1", "sh", "-c", "ls -l"]


def test_boolean_with_value_and_int():
    flags, _ = parse_flags(["--detach=false", "--preserve-fds", "2", "x"], COMMANDS["run"].flags)
    assert flags["detach"] is False
    assert flags["preserve_fds"] == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nope", "x"], "flag provided but not defined: -nope"),
        (["--bundle"], "flag needs an argument: -bundle"),
        (["--preserve-fds", "two", "x"], "invalid value 'two' for flag -preserve-fds"),
    ],
)
def test_bad_flags(argv, message):
    with pytest.raises(InvalidArgument, match=message):
        parse_flags(argv, COMMANDS["create"].flags)


def test_unknown_command_and_missing_id(capsys):
    assert main(["--root", "/tmp/x", "frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
    assert main(["--root", "/tmp/x", "start"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "requires a container id" in err


def test_systemd_cgroup_is_refused(capsys):
    assert main(["--systemd-cgroup", "state", "x"]) == 1
    assert "systemd cgroup driver is not supported" in capsys.readouterr().err


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert f"  {name} " in out
