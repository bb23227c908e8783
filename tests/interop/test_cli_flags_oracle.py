"""The docker CLI as the oracle of command-line mistakes: the same words and exit code.

The docker client parses its flags before it reaches for a daemon, so it runs here with an
unreachable DOCKER_HOST; skiff must print the same first line and exit with the same code.
(The wrong-number-of-arguments messages changed between Debian's client, 20.10, and Docker's
current one, whose words skiff follows: tests/unit/test_cli_format.py checks those.)
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import SKIFF

DOCKER = shutil.which("docker", path="/usr/bin")  # Debian's docker.io (make setup installs it)

CASES = [
    "run -e",
    "run -dz busybox",
    "run --rm=maybe busybox",
    "run -h",
    "create --bogus busybox",
    "run --add-host foo busybox",
    "create --add-host foo:bar busybox",
    "run --dns-search -foo busybox",
    "ps --format",
    "ps -qz",
    "ps --quiet=maybe",
    "ps -aq=x",
    "ps -q=false --bogus",
    "ps -f",
    "ps -f dangling",
    "logs -n",
    "rm -fz c",
    "exec -z c",
    "images --filter",
    "image prune --filter x",
    "volume create -o",
    "stop --time",
    "kill -s",
]


def first_line_and_code(command: list[str], env: dict[str, str]) -> tuple[str, int]:
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=30)
    return result.stderr.splitlines()[0].removeprefix("docker: ").replace("docker", "skiff"), (
        result.returncode
    )


@pytest.mark.parametrize("line", CASES)
def test_a_bad_command_line_gets_dockers_message_and_code(line: str, tmp_path: Path) -> None:
    assert DOCKER is not None
    env = {"PATH": "/usr/bin:/bin", "DOCKER_HOST": "unix:///nonexistent", "HOME": str(tmp_path)}
    env["DOCKER_CONFIG"] = str(tmp_path / "docker")
    words = line.split()
    docker = first_line_and_code([DOCKER, *words], env)
    skiff = first_line_and_code([SKIFF, "--root", str(tmp_path / "root"), *words], env)
    assert skiff == docker
