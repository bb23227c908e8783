"""docker-compose 1.29.2 (PyPI, its own virtualenv: make test builds .venv-compose) against
skiff serve: a two-service application with a network and a named volume, brought up,
listed, logged, used and taken down as a user would."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.interop.conftest import SkiffApi

COMPOSE = Path(__file__).resolve().parents[2] / ".venv-compose" / "bin" / "docker-compose"

COMPOSE_FILE = """\
version: "3.8"
services:
  web:
    image: busybox
    command: httpd -f -p 8080 -h /data
    volumes:
      - data:/data
    networks: [back]
  writer:
    image: busybox
    command: sh -c 'echo hello from the volume > /data/index.html; exec sleep 300'
    volumes:
      - data:/data
    networks: [back]
    depends_on: [web]
volumes:
  data: {}
networks:
  back: {}
"""


def compose(api: SkiffApi, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMPOSE), "--no-ansi", *args],
        cwd=project,
        env=api.env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_compose_up_ps_logs_down(skiff_api: SkiffApi, tmp_path: Path):
    project = tmp_path / "shop"
    project.mkdir()
    (project / "docker-compose.yml").write_text(COMPOSE_FILE)

    up = compose(skiff_api, project, "up", "-d")
    assert up.returncode == 0, up
    assert "Creating shop_web_1 ... done" in up.stderr, up
    assert "Creating shop_writer_1 ... done" in up.stderr, up

    ps = compose(skiff_api, project, "ps")
    assert ps.returncode == 0, ps
    rows = {line.split()[0]: line for line in ps.stdout.splitlines()[2:]}
    assert set(rows) == {"shop_web_1", "shop_writer_1"}, ps.stdout
    assert all(" Up " in row or row.rstrip().endswith("Up") for row in rows.values()), ps.stdout

    # the services find each other by name on their network, and share the volume
    deadline = time.monotonic() + 20
    while True:
        fetched = skiff_api.docker(
            "exec", "shop_writer_1", "wget", "-qO-", "http://web:8080/index.html"
        )
        if fetched.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert fetched.stdout == "hello from the volume\n", fetched

    logs = compose(skiff_api, project, "logs", "--tail", "5")
    assert logs.returncode == 0, logs
    assert "Attaching to" in logs.stdout, logs

    assert "shop_back" in skiff_api.skiff.ok("network", "ls", "--format", "{{.Name}}")
    assert "shop_data" in skiff_api.skiff.ok("volume", "ls", "--format", "{{.Name}}")
    labels = skiff_api.inspect("shop_web_1")["Config"]["Labels"]
    assert labels["com.docker.compose.project"] == "shop"
    assert labels["com.docker.compose.service"] == "web"

    down = compose(skiff_api, project, "down", "-v", "-t", "1")
    assert down.returncode == 0, down
    assert "Removing network shop_back" in down.stderr, down
    assert "Removing volume shop_data" in down.stderr, down
    assert skiff_api.skiff.ok("ps", "-aq") == ""
    assert "shop_back" not in skiff_api.skiff.ok("network", "ls", "--format", "{{.Name}}")
    assert skiff_api.skiff.ok("volume", "ls", "-q") == ""
