"""``skiff compose``: a three-service application brought up, used through its published
port, scaled, brought up again unchanged and taken down without a trace; bad files refused
before anything starts."""

from __future__ import annotations

import json
import socket
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.cli import Skiff
from tests.support.compose import APP
from tests.support.registry import Registry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _app(tmp_path: Path, text: str = APP) -> Path:
    directory = tmp_path / "app"
    directory.mkdir()
    (directory / "compose.yaml").write_text(text)
    return directory / "compose.yaml"


def _compose(skiff: Skiff, path: Path, *args: str, port: int = 0) -> str:
    skiff.env["PORT"] = str(port)
    result = skiff("compose", "-f", str(path), "-p", "shop", *args)
    assert result.code == 0, result
    return result.err


def _ids(skiff: Skiff) -> dict[str, str]:
    out = skiff.ok("ps", "-a", "--format", "{{.Names}} {{.ID}}")
    return dict(line.split() for line in out.splitlines())


def _started(skiff: Skiff, name: str) -> datetime:
    text = skiff.container(name)["State"]["StartedAt"]
    return datetime.fromisoformat(text[:26].rstrip("Z") + "+00:00")


def test_up_scale_again_and_down(skiff: Skiff, busybox: str, tmp_path: Path) -> None:
    path = _app(tmp_path)
    port = _free_port()
    _compose(skiff, path, "up", "-d", "--wait", port=port)

    names = _ids(skiff)
    assert set(names) == {"shop-api-1", "shop-web-1", "shop-worker-1"}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        assert response.read() == b"api\n"  # written by api into the shared volume
    api = skiff.container("shop-api-1")
    assert api["State"]["Health"]["Status"] == "healthy"
    assert (_started(skiff, "shop-web-1") - _started(skiff, "shop-api-1")).total_seconds() >= 1
    labels = api["Config"]["Labels"]
    assert labels["com.docker.compose.project"] == "shop"
    assert labels["com.docker.compose.service"] == "api"
    assert labels["com.docker.compose.container-number"] == "1"
    web_networks = skiff.container("shop-web-1")["NetworkSettings"]["Networks"]
    assert set(web_networks) == {"shop_front", "shop_back"}
    assert "web" in web_networks["shop_front"]["Aliases"]
    volumes = json.loads(skiff.ok("volume", "inspect", "shop_shared"))
    assert volumes[0]["Labels"]["com.docker.compose.project"] == "shop"

    again = _compose(skiff, path, "up", "-d", port=port)
    assert "Created" not in again and "Recreate" not in again
    assert _ids(skiff) == names

    _compose(skiff, path, "up", "-d", "--scale", "worker=3", port=port)
    scaled = _ids(skiff)
    assert set(scaled) == set(names) | {"shop-worker-2", "shop-worker-3"}
    assert all(scaled[name] == names[name] for name in names)
    ps = skiff("compose", "-f", str(path), "-p", "shop", "ps", "--services").out
    assert ps.splitlines() == ["api", "web", "worker"]

    _compose(skiff, path, "down", "-v", port=port)
    assert _ids(skiff) == {}
    networks = skiff.ok("network", "ls", "--format", "{{.Name}}").split()
    assert not [n for n in networks if n.startswith("shop_")]
    assert "shop_shared" not in skiff.ok("volume", "ls", "-q").split()


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        (
            "services:\n  web:\n    image: busybox\n    imgae: typo\n",
            ("up", "-d"),
            "compose.yaml:4: services.web additional properties 'imgae' not allowed",
        ),
        (
            "services:\n  a:\n    image: busybox\n    depends_on: [b]\n"
            "  b:\n    image: busybox\n    depends_on: [a]\n",
            ("up", "-d"),
            "dependency cycle detected",
        ),
        (
            "services:\n  web:\n    image: busybox\n",
            ("up", "-d", "--scale", "nope=2"),
            "no such service: nope",
        ),
        (
            "services:\n  web:\n    image: busybox\n    env_file: missing.env\n",
            ("up", "-d"),
            "missing.env",
        ),
    ],
)
def test_bad_input_fails_before_anything_starts(
    skiff: Skiff, busybox: str, tmp_path: Path, text: str, args: tuple[str, ...], message: str
) -> None:
    path = _app(tmp_path, text)
    result = skiff("compose", "-f", str(path), "-p", "bad", *args)
    assert result.code != 0
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert _ids(skiff) == {}
    assert not [
        n
        for n in skiff.ok("network", "ls", "--format", "{{.Name}}").split()
        if n.startswith("bad_")
    ]


BUILT = """\
services:
  hello:
    build:
      context: ./hello
      args:
        GREETING: built-by-compose
    init: true
  once:
    image: busybox
    command: sh -c 'echo first line; echo second line'
"""


def test_build_logs_and_lifecycle(skiff: Skiff, busybox: str, tmp_path: Path) -> None:
    path = _app(tmp_path, BUILT)
    hello = path.parent / "hello"
    hello.mkdir()
    (hello / "Dockerfile").write_text(
        "FROM busybox\nARG GREETING\nRUN echo $GREETING > /greeting\n"
        'CMD ["sh", "-c", "cat /greeting; exec sleep 600"]\n'
    )
    err = _compose(skiff, path, "up", "-d")  # the missing image is built first
    assert "Step 3/4 : RUN echo $GREETING > /greeting" in err
    assert skiff.ok("image", "inspect", "-f", "{{.Id}}", "shop-hello").startswith("sha256:")
    skiff.ok("wait", "shop-once-1")

    logs = skiff("compose", "-f", str(path), "-p", "shop", "logs").out.splitlines()
    assert "shop-hello-1  | built-by-compose" in logs
    assert logs.count("shop-once-1   | first line") == 1
    assert logs.index("shop-once-1   | first line") < logs.index("shop-once-1   | second line")
    tail = skiff("compose", "-f", str(path), "-p", "shop", "logs", "--tail", "1", "once").out
    assert tail.splitlines() == ["shop-once-1  | second line"]

    rebuilt = _compose(skiff, path, "build")
    assert "Using cache" in rebuilt and "Running in" not in rebuilt

    _compose(skiff, path, "stop", "hello")
    assert skiff.container("shop-hello-1")["State"]["Status"] == "exited"
    _compose(skiff, path, "start")
    assert skiff.container("shop-hello-1")["State"]["Running"]
    _compose(skiff, path, "kill", "-s", "KILL", "hello")
    skiff.ok("wait", "shop-hello-1")
    _compose(skiff, path, "rm", "-f")
    assert _ids(skiff) == {}
    _compose(skiff, path, "down")


def test_up_attached_follows_the_output_until_the_containers_stop(
    skiff: Skiff, busybox: str, tmp_path: Path
) -> None:
    path = _app(tmp_path, "services:\n  once:\n    image: busybox\n    command: echo attached\n")
    result = skiff("compose", "-f", str(path), "-p", "shop", "up")
    assert result.code == 0, result
    assert result.out.splitlines() == ["shop-once-1  | attached"]
    _compose(skiff, path, "down")
    assert _ids(skiff) == {}


def test_exec_port_top_and_pull(
    skiff: Skiff, busybox: str, registry: Registry, tmp_path: Path
) -> None:
    image = f"{registry.address}/team/box:1"
    skiff.ok("tag", "busybox", image)
    assert skiff("push", image).code == 0
    skiff.ok("rmi", image)
    text = (
        "services:\n"
        "  web:\n"
        f"    image: {image}\n"
        "    command: httpd -f -p 80\n"
        "    ports: ['127.0.0.1::80']\n"
        "    init: true\n"
    )
    path = _app(tmp_path, text)
    pulled = skiff("compose", "-f", str(path), "-p", "shop", "pull")
    assert pulled.code == 0, pulled
    assert f"Status: Downloaded newer image for {image}" in pulled.out
    _compose(skiff, path, "up", "-d")

    out = skiff(
        "compose", "-f", str(path), "-p", "shop", "exec", "web", "sh", "-c", "echo $((6*7))"
    )
    assert (out.code, out.out) == (0, "42\n"), out
    failed = skiff("compose", "-f", str(path), "-p", "shop", "exec", "web", "sh", "-c", "exit 3")
    assert failed.code == 3
    port = skiff("compose", "-f", str(path), "-p", "shop", "port", "web", "80")
    assert port.code == 0, port
    host, _, number = port.out.strip().rpartition(":")
    assert host == "127.0.0.1" and int(number) > 0
    top = skiff("compose", "-f", str(path), "-p", "shop", "top").out
    assert top.splitlines()[0] == "shop-web-1"
    assert "httpd -f -p 80" in top
    _compose(skiff, path, "down")


def test_run_push_images_no_deps_and_rmi(
    skiff: Skiff, busybox: str, registry: Registry, tmp_path: Path
) -> None:
    image = f"{registry.address}/team/app:1"
    text = (
        "services:\n"
        "  db:\n"
        "    image: busybox\n"
        "    command: sleep 600\n"
        "    init: true\n"
        "  app:\n"
        f"    image: {image}\n"
        "    build: ./app\n"
        "    command: sleep 600\n"
        "    init: true\n"
        "    environment: {FROM_FILE: yes}\n"
        "    depends_on: [db]\n"
    )
    path = _app(tmp_path, text)
    (path.parent / "app").mkdir()
    (path.parent / "app" / "Dockerfile").write_text("FROM busybox\nRUN echo app > /app.txt\n")

    ran = skiff(
        "compose", "-f", str(path), "-p", "shop", "run", "--rm", "-e", "EXTRA=1", "app",
        "sh", "-c", "cat /app.txt; echo $FROM_FILE $EXTRA; exit 4",
    )  # fmt: skip
    assert ran.code == 4, ran
    assert ran.out.splitlines() == ["app", "yes 1"]
    assert set(_ids(skiff)) == {"shop-db-1"}  # the dependency is up, the one-off is gone

    _compose(skiff, path, "down")
    _compose(skiff, path, "up", "-d", "--no-deps", "app")
    assert set(_ids(skiff)) == {"shop-app-1"}

    images = skiff("compose", "-f", str(path), "-p", "shop", "images").out.splitlines()
    assert images[0].split() == ["CONTAINER", "REPOSITORY", "TAG", "IMAGE", "ID", "SIZE"]
    assert images[1].split()[:3] == ["shop-app-1", f"{registry.address}/team/app", "1"]

    pushed = skiff("compose", "-f", str(path), "-p", "shop", "push")
    assert pushed.code == 0, pushed
    assert registry.catalog() == ["team/app"]

    _compose(skiff, path, "down", "--rmi", "local")  # only images built without a name
    assert skiff("image", "inspect", image).code == 0
    _compose(skiff, path, "down", "--rmi", "all")  # every image a service uses
    assert _ids(skiff) == {}
    assert skiff("image", "inspect", image).code != 0
    assert skiff("image", "inspect", "busybox").code != 0


def test_logs_colour_a_service_each(skiff: Skiff, busybox: str, tmp_path: Path) -> None:
    from skiff.compose import orchestrate
    from skiff.compose.loader import load
    from skiff.compose.project import project_from
    from skiff.engine.engine import Engine

    text = (
        "services:\n"
        "  one:\n    image: busybox\n    command: echo first\n"
        "  two:\n    image: busybox\n    command: echo second\n"
    )
    path = _app(tmp_path, text)
    _compose(skiff, path, "up", "-d")
    skiff.ok("wait", "shop-one-1", "shop-two-1")
    loaded = load([str(path)], project="shop", environ={})
    project = project_from(loaded.name, loaded.directory, loaded.document, (), {})
    written: list[bytes] = []
    orchestrate.logs(Engine(skiff.paths), project, written.append, [], colour=True)
    assert written == [
        b"\033[36mshop-one-1  | \033[0mfirst\n",
        b"\033[33mshop-two-1  | \033[0msecond\n",
    ]
    _compose(skiff, path, "down")
