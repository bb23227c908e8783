"""The same compose file through ``skiff compose`` and through docker-compose 1.29.2
(PyPI, its own virtualenv) against ``skiff serve``: the same containers run, per service
and number, on the same networks and volume."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

from tests.interop.conftest import SkiffApi
from tests.interop.test_api_compose import COMPOSE
from tests.support.compose import APP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _running(api: SkiffApi, project: str) -> dict[tuple[str, str], bool]:
    """(service, number) -> running, for the project's containers, from their labels."""
    out = api.skiff.ok("ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}")
    found = {}
    for container_id in out.split():
        info = api.skiff.container(container_id)
        labels = info["Config"]["Labels"]
        key = (labels["com.docker.compose.service"], labels["com.docker.compose.container-number"])
        found[key] = info["State"]["Running"]
    return found


def _suffixes(names: list[str], project: str) -> set[str]:
    return {name.removeprefix(project) for name in names if name.startswith(project + "_")}


def test_skiff_compose_and_docker_compose_run_the_same_containers(
    skiff_api: SkiffApi, tmp_path: Path
) -> None:
    directory = tmp_path / "app"
    directory.mkdir()
    (directory / "compose.yaml").write_text(APP)
    skiff = skiff_api.skiff
    skiff.env["PORT"] = str(_free_port())
    ours = skiff(
        "compose", "-f", str(directory / "compose.yaml"), "-p", "ours", "up", "-d", "--wait"
    )
    assert ours.code == 0, ours
    theirs = subprocess.run(
        [str(COMPOSE), "--no-ansi", "-f", "compose.yaml", "-p", "theirs", "up", "-d"],
        cwd=directory,
        env={**skiff_api.env, "PORT": str(_free_port())},
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert theirs.returncode == 0, theirs

    expected = {("api", "1"): True, ("web", "1"): True, ("worker", "1"): True}
    assert _running(skiff_api, "ours") == expected
    assert _running(skiff_api, "theirs") == expected
    networks = skiff.ok("network", "ls", "--format", "{{.Name}}").split()
    assert _suffixes(networks, "ours") == _suffixes(networks, "theirs") == {"_front", "_back"}
    volumes = skiff.ok("volume", "ls", "-q").split()
    assert _suffixes(volumes, "ours") == _suffixes(volumes, "theirs") == {"_shared"}
    for project in ("ours", "theirs"):
        labels = json.loads(skiff.ok("volume", "inspect", f"{project}_shared"))[0]["Labels"]
        assert labels["com.docker.compose.project"] == project

    down = subprocess.run(
        [str(COMPOSE), "--no-ansi", "-f", "compose.yaml", "-p", "theirs", "down", "-v"],
        cwd=directory,
        env=skiff_api.env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert down.returncode == 0, down
    gone = skiff("compose", "-f", str(directory / "compose.yaml"), "-p", "ours", "down", "-v")
    assert gone.code == 0, gone
    assert _running(skiff_api, "ours") == _running(skiff_api, "theirs") == {}
