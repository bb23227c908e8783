"""pflag's syntax, as skiff.cli.flags parses it (the messages are checked against the docker
CLI itself in tests/interop/test_cli_flags_oracle.py)."""

import pytest

from skiff.cli.flags import Flag, FlagError, FlagSet


def flag_set() -> FlagSet:
    flags = FlagSet()
    flags.add(Flag(("-d", "--detach"), "bool", "", False))
    flags.add(Flag(("-i", "--interactive"), "bool", "", False))
    flags.add(Flag(("--sig-proxy",), "bool", "", True))
    flags.add(Flag(("-e", "--env"), "list", "", None))
    flags.add(Flag(("-n", "--name"), "string", "", None))
    flags.add(Flag(("--stop-timeout",), "int", "", None, dest="timeout"))
    return flags


def parse(*args: str, interspersed: bool = True) -> dict:
    return vars(flag_set().parse(list(args), interspersed))


def test_defaults_and_dests() -> None:
    assert parse() == {
        "detach": False, "interactive": False, "sig_proxy": True, "env": [], "name": None,
        "timeout": None, "help": False, "args": [],
    }  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [
        ["--name", "x"], ["--name=x"], ["-n", "x"], ["-nx"], ["-n=x"], ["-dn", "x"], ["-dnx"],
        ["--name", "y", "--name", "x"],  # the last one wins
    ],
)  # fmt: skip
def test_a_value_in_every_spelling(args: list[str]) -> None:
    assert parse(*args)["name"] == "x"


def test_bools_together_and_spelled_out() -> None:
    got = parse("-di", "--sig-proxy=false")
    assert (got["detach"], got["interactive"], got["sig_proxy"]) == (True, True, False)
    assert parse("-d=false", "--detach=true")["detach"] is True
    assert parse("--detach=0")["detach"] is False
    assert parse("-i=F")["interactive"] is False


def test_repeated_values_are_kept_in_order() -> None:
    assert parse("-e", "A=1", "--env=B", "-eC=3")["env"] == ["A=1", "B", "C=3"]


def test_flags_among_arguments_unless_not_interspersed() -> None:
    assert parse("img", "-d", "cmd", "-n", "x")["args"] == ["img", "cmd"]
    got = parse("-d", "img", "sh", "-c", "-n", interspersed=False)
    assert (got["detach"], got["args"]) == (True, ["img", "sh", "-c", "-n"])


def test_double_dash_ends_the_flags_and_a_lone_dash_is_an_argument() -> None:
    assert parse("a", "--", "-d", "--name")["args"] == ["a", "-d", "--name"]
    assert parse("-", "-d")["args"] == ["-"]
    assert parse("-n", "--", "x")["name"] == "--"  # a value is taken as it is


def test_help_unless_a_flag_takes_the_letter() -> None:
    assert parse("-h")["help"] is True
    assert parse("--help")["help"] is True
    flags = FlagSet()
    flags.add(Flag(("-h", "--hostname"), "string", "", None))
    got = vars(flags.parse(["-h", "box", "--help"]))
    assert (got["hostname"], got["help"]) == ("box", True)


def test_a_check_vets_each_value() -> None:
    def even(flag: Flag, value: str) -> None:
        if int(value) % 2:
            raise FlagError(f"{flag.label}: {value} is odd")

    flags = FlagSet()
    flags.add(Flag(("-c", "--count"), "list", "", None, check=even))
    assert vars(flags.parse(["-c", "2", "--count=4"]))["count"] == ["2", "4"]
    with pytest.raises(FlagError, match=r"^-c, --count: 3 is odd$"):
        flags.parse(["-c", "2", "-c3"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown flag: --bogus"),
        (["--bogus=1"], "unknown flag: --bogus"),
        (["-z"], "unknown shorthand flag: 'z' in -z"),
        (["-diz"], "unknown shorthand flag: 'z' in -z"),
        (["--name"], "flag needs an argument: --name"),
        (["-n"], "flag needs an argument: 'n' in -n"),
        (["-dn"], "flag needs an argument: 'n' in -n"),
        (["--detach=yes"], 'invalid argument "yes" for "-d, --detach" flag: '
                           'strconv.ParseBool: parsing "yes": invalid syntax'),
        (["-d=2"], 'invalid argument "2" for "-d, --detach" flag: '
                   'strconv.ParseBool: parsing "2": invalid syntax'),
    ],
)  # fmt: skip
def test_pflags_messages(args: list[str], message: str) -> None:
    with pytest.raises(FlagError) as caught:
        parse(*args)
    assert str(caught.value) == message
