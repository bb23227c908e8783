"""Completion scripts: generated from the registry, parsed by the shells, and completing
commands, subcommands and flags in a real bash."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from skiff.cli import completion
from skiff.cli.main import Command, _load_commands

SKIFF = os.path.join(os.path.dirname(sys.executable), "skiff")


def generated(shell: str) -> str:
    result = subprocess.run([SKIFF, "completion", shell], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (0, "")
    return result.stdout


def complete(script: str, words: list[str], env: dict[str, str] | None = None) -> list[str]:
    """COMPREPLY after bash's completion function ran on ``words`` (the last one is the
    word being completed)."""
    program = (
        script
        + f"\nCOMP_WORDS=({' '.join(shlex.quote(w) for w in words)})"
        + f"\nCOMP_CWORD={len(words) - 1}\nCOMP_LINE={shlex.quote(' '.join(words))}"
        + '\n_skiff\nprintf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, ""), result
    return [line for line in result.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def bash_script() -> str:
    return generated("bash")


def test_argument_kinds_from_usage_lines():
    kinds = completion.argument_kinds
    assert kinds("[OPTIONS] CONTAINER [CONTAINER...]") == (["container"], True)
    assert kinds("[OPTIONS] IMAGE [COMMAND] [ARG...]") == (["image", "-"], True)
    assert kinds("SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]") == (["image", "image"], False)
    assert kinds("[OPTIONS] NAME|ID [NAME|ID...]") == (["any"], True)
    assert kinds("[OPTIONS] file|URL|- [REPOSITORY[:TAG]]") == (["file", "image"], False)
    assert kinds("CONTAINER NEW_NAME") == (["container", "-"], False)
    assert kinds("[OPTIONS] VOLUME [VOLUME...]") == (["volume"], True)
    assert kinds("") == ([], False)
    two_forms = "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tskiff cp SRC_PATH|- CONTAINER:DEST"
    assert kinds(two_forms) == (["container", "file"], False)


def test_scripts_parse(bash_script: str, tmp_path: Path):
    check = subprocess.run(["bash", "-n"], input=bash_script, capture_output=True, text=True)
    assert (check.returncode, check.stderr) == (0, "")
    assert bash_script.rstrip().endswith("complete -F _skiff skiff")


def test_zsh_script_parses():
    check = subprocess.run(["zsh", "-n"], input=generated("zsh"), capture_output=True, text=True)
    assert (check.returncode, check.stderr) == (0, "")


def test_fish_script_parses():
    check = subprocess.run(
        ["fish", "--no-execute"], input=generated("fish"), capture_output=True, text=True
    )
    assert (check.returncode, check.stderr) == (0, "")


def test_every_command_and_flag_is_in_every_script(bash_script: str):
    registry = _load_commands()
    fish = generated("fish")
    zsh = generated("zsh")
    assert zsh.startswith("#compdef skiff\n")
    for spec in completion.specs(registry):
        for path in spec.paths:
            assert f"'{path}'" in bash_script and f"'{path}'" in zsh
            assert f"-n '__skiff_path_is \\'{path}\\''" in fish
        for names, _, _ in spec.flags:
            for name in names:
                assert f" {name} " in f" {' '.join(spec.all_flags)} "
                option = f"-l {name[2:]}" if name.startswith("--") else f"-s {name[1:]}"
                assert option in fish


def test_commands_subcommands_and_flags(bash_script: str):
    assert complete(bash_script, ["skiff", "i"]) == ["image", "images", "import", "info", "inspect"]
    assert "completion" in complete(bash_script, ["skiff", ""])
    assert complete(bash_script, ["skiff", "--root", "/x", "--runroot=/y", "vers"]) == ["version"]
    assert complete(bash_script, ["skiff", "-"]) == [
        "-D", "--debug", "--root", "--runroot", "-v", "--version", "-h", "--help",
    ]  # fmt: skip
    system = sorted(_load_commands().groups["system"].commands)
    assert {"df", "info", "prune"} <= set(system)
    assert complete(bash_script, ["skiff", "system", ""]) == system
    assert complete(bash_script, ["skiff", "completion", "z"]) == ["zsh"]
    assert complete(bash_script, ["skiff", "system", "prune", "--"]) == [
        "--all", "--filter", "--force", "--volumes", "--help",
    ]  # fmt: skip
    assert complete(bash_script, ["skiff", "container", "prune", "--f"]) == [
        "--filter",
        "--force",
    ]
    # the same command by its alias
    assert complete(bash_script, ["skiff", "info", "--f"]) == ["--format"]
    # run -h is --hostname: help is --help alone
    flags = complete(bash_script, ["skiff", "run", "-"])
    assert "-h" in flags and flags.count("-h") == 1 and "--help" in flags


def test_a_flag_value_completes_files(bash_script: str, tmp_path: Path):
    (tmp_path / "archive.tar").write_text("")
    (tmp_path / "other").write_text("")
    prefix = str(tmp_path / "arc")
    assert complete(bash_script, ["skiff", "save", "-o", prefix]) == [str(tmp_path / "archive.tar")]
    assert complete(bash_script, ["skiff", "load", "--input", prefix]) == [
        str(tmp_path / "archive.tar")
    ]
    # import's first argument is a file
    assert complete(bash_script, ["skiff", "import", prefix]) == [str(tmp_path / "archive.tar")]
    # a value given with = takes no next word: the next word is an argument again
    assert complete(bash_script, ["skiff", "save", f"--output={prefix}", "-"]) == [
        "-o", "--output", "--format", "-h", "--help",
    ]  # fmt: skip


def test_flags_end_where_the_command_of_run_begins(bash_script: str):
    # after the image, words belong to the container's command: no skiff flags
    assert complete(bash_script, ["skiff", "run", "-d", "--name", "x", "busybox", "-"]) == []
    assert complete(bash_script, ["skiff", "run", "-e", "A=1", "-"]) != []
    assert complete(bash_script, ["skiff", "rm", "--", "-"]) == []


def test_the_script_follows_the_registry():
    registry = _load_commands()

    def setup(parser):  # a command added later: its flags and argument kinds come along
        parser.flag("--colour", kind="string", help="A colour")
        parser.flag("-q", "--quiet", help="Less")

    registry.add(
        Command("container paint", "Paint a container", "[OPTIONS] CONTAINER", setup, print)
    )
    script = completion.bash_script(registry)
    assert complete(script, ["skiff", "container", "pa"]) == ["paint", "pause"]
    assert complete(script, ["skiff", "container", "paint", "-"]) == [
        "--colour", "-q", "--quiet", "-h", "--help",
    ]  # fmt: skip
    assert "'container paint') echo 'container'" in script
