"""Debian's docker CLI (28, ``DOCKER_BUILDKIT=0``: the classic builder's client) and
docker-py (7.x) against ``skiff serve``'s POST /build and POST /build/prune.

What the CLI prints comes from the stream of JSON messages the server sends (``stream``,
``aux``, ``errorDetail``); where the words matter (a failing RUN, a Dockerfile that does
not parse) the same build runs on the module's dockerd too (``conftest.dockerd``: Debian's
20.10, the same busybox imported as busybox:test, both with ``--network none``: dockerd
runs without a bridge) and the answers are compared, IDs as placeholders. The wire format
itself (the 400 before the stream, the messages of ``q``, the ``aux`` of API 1.30) is read
over the socket with http.client.

Every test runs its own ``skiff serve`` (``conftest.skiff_api``) over a store where
busybox:latest is imported with ``CMD ["sh"]``.
"""

from __future__ import annotations

import functools
import gzip
import http.client
import http.server
import io
import json
import os
import re
import socket
import subprocess
import tarfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import Docker, SkiffApi

DEPRECATED = re.compile(r"DEPRECATED: The legacy builder is deprecated.*?\n\n", re.DOTALL)

SIMPLE = """\
FROM busybox
COPY greeting.txt /greeting.txt
RUN echo "built on $(cat /greeting.txt)" > /made.txt && echo run-output
CMD ["cat", "/made.txt"]
"""


# --- helpers --------------------------------------------------------------------------


def write_context(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


def context_tar(files: dict[str, str], compress: bool = False, **links: str) -> bytes:
    """A context as the docker CLI sends it: a tar of ``files`` (and of symlinks
    ``name=target``), gzip-compressed if asked."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    data = out.getvalue()
    return gzip.compress(data) if compress else data


def fifo_tar(name: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.type = tarfile.FIFOTYPE
        tar.addfile(info)
    return out.getvalue()


def docker_build(
    api: SkiffApi, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``docker build ARGS`` on skiff serve with the classic builder's client."""
    return subprocess.run(
        ["docker", "build", *args],
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        text=True,
        env={**api.env, "DOCKER_BUILDKIT": "0"},
        timeout=180,
    )


def dockerd_build(dockerd: Docker, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    return subprocess.run(
        ["docker", "-H", f"unix://{dockerd.socket}", "build", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**env, "DOCKER_BUILDKIT": "0"},
        timeout=180,
    )


def prune_builds(api: SkiffApi, *args: str) -> subprocess.CompletedProcess[str]:
    """``docker builder prune -f ARGS`` (the classic builder's client: no buildx)."""
    return subprocess.run(
        ["docker", "builder", "prune", "-f", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**api.env, "DOCKER_BUILDKIT": "0"},
        timeout=60,
    )


def err(result: subprocess.CompletedProcess[str]) -> str:
    """stderr without the CLI's notice that the classic builder is deprecated."""
    return DEPRECATED.sub("", result.stderr)


def normal(text: str) -> str:
    text = re.sub(r"sha256:[0-9a-f]{64}", "sha256:ID", text)
    return re.sub(r"\b[0-9a-f]{12}\b", "SHORT", text)


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: Path) -> None:
        super().__init__("localhost", timeout=180)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self.socket_path))
        self.sock = sock


def post_build(
    api: SkiffApi, query: dict[str, Any], body: bytes = b"", version: str = "v1.45"
) -> tuple[int, str, Any]:
    """POST /build with ``query`` (a list value: the parameter repeated): the status, the
    Content-Type and the answer (a list of the stream's messages, or the error's JSON)."""
    connection = UnixConnection(api.socket)
    try:
        path = f"/{version}/build?{urllib.parse.urlencode(query, doseq=True)}"
        connection.request("POST", path, body, {"Content-Type": "application/x-tar"})
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            return response.status, response.getheader("Content-Type") or "", json.loads(data)
        assert data.endswith(b"\r\n") or not data, data
        messages = [json.loads(line) for line in data.split(b"\r\n") if line]
        return response.status, response.getheader("Content-Type") or "", messages
    finally:
        connection.close()


def text_of(messages: list[dict[str, Any]]) -> str:
    return "".join(m.get("stream", "") for m in messages)


def containers(api: SkiffApi) -> str:
    return api.ok("ps", "-a", "-q")


def leftover_workspaces(api: SkiffApi) -> list[str]:
    builds = api.skiff.root / "builds"
    return sorted(os.listdir(builds)) if builds.exists() else []


@contextmanager
def http_server(directory: Path) -> Iterator[str]:
    """A plain HTTP server of ``directory``'s files on 127.0.0.1: its URL."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def client(skiff_api: SkiffApi) -> Any:
    return skiff_api.client()


# --- docker build ---------------------------------------------------------------------


def test_docker_build_shows_the_steps_and_tags_an_image_that_runs(
    skiff_api: SkiffApi, tmp_path: Path
) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": SIMPLE, "greeting.txt": "skiff"})
    iidfile = tmp_path / "iid"
    result = docker_build(skiff_api, "-t", "demo:1", "--iidfile", str(iidfile), str(ctx))
    assert (result.returncode, err(result)) == (0, ""), result
    out = result.stdout
    assert out.startswith("Sending build context to Docker daemon")
    for line in (
        "Step 1/4 : FROM busybox\n",
        "Step 2/4 : COPY greeting.txt /greeting.txt\n",
        'Step 3/4 : RUN echo "built on $(cat /greeting.txt)" > /made.txt && echo run-output\n',
        "run-output\n",
        'Step 4/4 : CMD ["cat", "/made.txt"]\n',
        "Successfully tagged demo:1\n",
    ):
        assert line in out, out
    built = re.search(r"^Successfully built ([0-9a-f]{12})$", out, re.M)
    assert built, out
    assert skiff_api.inspect("demo:1")["Id"].startswith(f"sha256:{built[1]}")
    assert iidfile.read_text() == skiff_api.inspect("demo:1")["Id"]  # from the aux message
    assert out.count("Step ") == 4 and out.index("Successfully built") > out.index("Step 4/4")
    run = skiff_api.docker("run", "--rm", "demo:1")
    assert (run.returncode, run.stdout, run.stderr) == (0, "built on skiff\n", "")
    assert containers(skiff_api) == ""
    assert leftover_workspaces(skiff_api) == []


def test_a_failing_run_exits_with_its_code_as_on_dockerd_and_moves_no_tag(
    skiff_api: SkiffApi, dockerd: Docker, tmp_path: Path
) -> None:
    skiff_api.ok("tag", "busybox", "busybox:test")
    good = write_context(tmp_path / "good", {"Dockerfile": "FROM busybox:test\nENV A=1\n"})
    assert docker_build(skiff_api, "-t", "keep:1", str(good)).returncode == 0
    before = skiff_api.inspect("keep:1")["Id"]
    bad = write_context(
        tmp_path / "bad",
        {"Dockerfile": "FROM busybox:test\nENV A=2\nRUN echo before && exit 3\nRUN echo after\n"},
    )
    ours = docker_build(skiff_api, "--network", "none", "-t", "keep:1", str(bad))
    theirs = dockerd_build(dockerd, "--network", "none", "-t", "keep:1", str(bad))
    assert ours.returncode == theirs.returncode == 3
    assert (
        err(ours)
        == err(theirs)
        == ("The command '/bin/sh -c echo before && exit 3' returned a non-zero code: 3\n")
    )
    # dockerd says "Running in" and "Removing intermediate container" for ENV too
    assert ours.stdout.startswith("Sending build context to Docker daemon  2.048kB\n")
    assert normal(ours.stdout.partition("\n\n")[2]) == (
        "Step 1/4 : FROM busybox:test\n ---> SHORT\n"
        "Step 2/4 : ENV A=2\n ---> SHORT\n"
        "Step 3/4 : RUN echo before && exit 3\n ---> Running in SHORT\nbefore\n"
    )
    assert normal(theirs.stdout).endswith(normal(ours.stdout).partition("Step 2/4")[2][-60:])
    assert skiff_api.inspect("keep:1")["Id"] == before
    assert containers(skiff_api) == ""
    assert leftover_workspaces(skiff_api) == []


def test_a_dockerfile_that_does_not_parse_is_dockerds_error(
    skiff_api: SkiffApi, dockerd: Docker, tmp_path: Path
) -> None:
    skiff_api.ok("tag", "busybox", "busybox:test")
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox:test\nFOO bar\n"})
    ours, theirs = docker_build(skiff_api, str(ctx)), dockerd_build(dockerd, str(ctx))
    assert (ours.returncode, ours.stdout, err(ours)) == (
        theirs.returncode, theirs.stdout, err(theirs)
    )  # fmt: skip
    assert err(ours) == (
        "Error response from daemon: dockerfile parse error line 2: unknown instruction: FOO\n"
    )
    # no Dockerfile: dockerd's 500; "dockerfile" stands for the default name
    status, _, value = post_build(skiff_api, {}, context_tar({"other": "FROM busybox\n"}))
    assert (status, value) == (500, {"message": "Cannot locate specified Dockerfile: Dockerfile"})
    status, _, messages = post_build(skiff_api, {}, context_tar({"dockerfile": "FROM busybox\n"}))
    assert status == 200 and "Successfully built" in text_of(messages), messages


def test_build_args_target_and_labels(skiff_api: SkiffApi, tmp_path: Path) -> None:
    ctx = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": (
                "FROM busybox AS base\n"
                "ARG WHO=nobody\n"
                'RUN echo "hello $WHO" > /greeting\n'
                "FROM base AS final\n"
                "RUN touch /final\n"
            )
        },
    )
    result = docker_build(
        skiff_api,
        "--build-arg", "WHO=skiff",
        "--build-arg", "NOPE=1",
        "--target", "base",
        "--label", "colour=blue",
        "-t", "staged",
        str(ctx),
    )  # fmt: skip
    assert result.returncode == 0, result
    assert "[Warning] One or more build-args [NOPE] were not consumed\n" in result.stdout
    assert "FROM base AS final" not in result.stdout
    run = skiff_api.docker("run", "--rm", "staged", "sh", "-c", "cat /greeting; ls /final")
    assert run.stdout == "hello skiff\n" and run.returncode == 1
    assert skiff_api.inspect("staged")["Config"]["Labels"] == {"colour": "blue"}
    whole = docker_build(skiff_api, "-t", "whole", str(ctx))
    assert whole.returncode == 0, whole
    run = skiff_api.docker("run", "--rm", "whole", "sh", "-c", "cat /greeting; ls /final")
    assert (run.returncode, run.stdout) == (0, "hello nobody\n/final\n")
    nowhere = docker_build(skiff_api, "--target", "nowhere", str(ctx))
    assert nowhere.returncode == 1
    assert err(nowhere) == (
        "Error response from daemon: failed to reach build target nowhere in Dockerfile\n"
    )


def test_quiet_prints_the_image_id_alone(skiff_api: SkiffApi, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": SIMPLE, "greeting.txt": "quiet"})
    result = docker_build(skiff_api, "-q", str(ctx))
    assert (result.returncode, err(result)) == (0, ""), result
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", result.stdout), result.stdout
    assert skiff_api.inspect(result.stdout.strip())["Config"]["Cmd"] == ["cat", "/made.txt"]
    # a failure after the build started: what was held back, then the error
    failing = write_context(tmp_path / "failing", {"Dockerfile": "FROM busybox\nRUN exit 7\n"})
    result = docker_build(skiff_api, "-q", str(failing))
    assert result.returncode == 7
    assert result.stdout == ""
    assert "Step 2/2 : RUN exit 7\n" in err(result)
    assert err(result).endswith("The command '/bin/sh -c exit 7' returned a non-zero code: 7\n")


def test_the_cache_and_no_cache(skiff_api: SkiffApi, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": SIMPLE, "greeting.txt": "cache"})
    first = docker_build(skiff_api, "-t", "cached", str(ctx))
    assert first.returncode == 0 and "Using cache" not in first.stdout, first
    again = docker_build(skiff_api, "-t", "cached", str(ctx))
    assert again.returncode == 0, again
    assert again.stdout.count(" ---> Using cache\n") == 3
    assert "Running in" not in again.stdout
    assert again.stdout.splitlines()[-2:] == first.stdout.splitlines()[-2:]
    fresh = docker_build(skiff_api, "--no-cache", "-t", "cached", str(ctx))
    assert fresh.returncode == 0, fresh
    assert "Using cache" not in fresh.stdout and " ---> Running in " in fresh.stdout
    assert skiff_api.docker("run", "--rm", "cached").stdout == "built on cache\n"


def test_another_dockerfile_and_dockerignore(skiff_api: SkiffApi, tmp_path: Path) -> None:
    ctx = write_context(
        tmp_path / "ctx",
        {
            "build/Other.dockerfile": 'FROM busybox\nCOPY . /ctx/\nCMD ["ls", "-A", "/ctx"]\n',
            "Dockerfile": "FROM busybox\nRUN exit 9\n",
            "kept.txt": "kept",
            "secret.txt": "secret",
            "logs/a.log": "log",
            ".dockerignore": "secret.txt\nlogs\n",
        },
    )
    result = docker_build(skiff_api, "-f", str(ctx / "build/Other.dockerfile"), "-t", "f", str(ctx))
    assert result.returncode == 0, result
    listing = skiff_api.docker("run", "--rm", "f").stdout.split()
    assert sorted(listing) == [".dockerignore", "Dockerfile", "build", "kept.txt"]
    # a Dockerfile outside the context: the CLI sends it in the context under a name of its own
    outside = tmp_path / "outside.dockerfile"
    outside.write_text('FROM busybox\nCOPY kept.txt /\nCMD ["cat", "/kept.txt"]\n')
    result = docker_build(skiff_api, "-f", str(outside), "-t", "outside", str(ctx))
    assert result.returncode == 0, result
    assert skiff_api.docker("run", "--rm", "outside").stdout == "kept"
    # the Dockerfile on stdin (the CLI makes the context: it has nothing else)
    result = docker_build(skiff_api, "-t", "stdin", "-", input="FROM busybox\nENV FROM=stdin\n")
    assert result.returncode == 0, result
    assert "FROM=stdin" in skiff_api.inspect("stdin")["Config"]["Env"]


# --- docker-py ----------------------------------------------------------------------


def test_docker_py_builds_a_directory_and_returns_the_image(
    skiff_api: SkiffApi, client: Any, tmp_path: Path
) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": SIMPLE, "greeting.txt": "docker-py"})
    image, logs = client.images.build(path=str(ctx), tag="py:1", rm=True)
    logs = list(logs)
    assert image.tags == ["py:1"]
    assert {"aux": {"ID": image.id}} in logs
    assert {"stream": "Successfully tagged py:1\n"} in logs
    assert {"stream": "run-output\n"} in logs
    assert logs.index({"aux": {"ID": image.id}}) < len(logs) - 2
    output = client.containers.run("py:1", remove=True)
    assert output == b"built on docker-py\n"
    # a failure: docker-py's BuildError, with the build's log
    import docker.errors

    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo failing; exit 4\n")
    with pytest.raises(docker.errors.BuildError) as failure:
        client.images.build(path=str(ctx), tag="py:1")
    assert (
        failure.value.msg
        == "The command '/bin/sh -c echo failing; exit 4' returned a non-zero code: 4"
    )
    assert {"stream": "failing\n"} in list(failure.value.build_log)
    assert client.images.get("py:1").id == image.id
    assert client.containers.list(all=True) == []


def test_docker_py_sends_a_custom_context(skiff_api: SkiffApi, client: Any, tmp_path: Path) -> None:
    """A tar (gzip-compressed) as the body: the server applies .dockerignore itself, and
    finds the Dockerfile by its name in the archive."""
    files = {
        "docker/Build": "FROM busybox\nCOPY . /ctx/\nRUN ls -A /ctx\n",
        "kept.txt": "kept",
        "secret.txt": "secret",
        ".dockerignore": "secret.txt\n",
    }
    data = context_tar(files, compress=True)
    stream = client.api.build(
        fileobj=io.BytesIO(data),
        custom_context=True,
        encoding="gzip",
        dockerfile="docker/Build",
        tag="custom:1",
        decode=True,
    )
    messages = list(stream)
    text = "".join(m.get("stream", "") for m in messages)
    assert ".dockerignore\ndocker\nkept.txt\n" in text, messages
    aux = [m["aux"]["ID"] for m in messages if "aux" in m]
    assert aux == [client.images.get("custom:1").id]
    # a COPY of an ignored file fails as on dockerd
    files["docker/Build"] = "FROM busybox\nCOPY secret.txt /\n"
    stream = client.api.build(
        fileobj=io.BytesIO(context_tar(files)),
        custom_context=True,
        dockerfile="docker/Build",
        decode=True,
    )
    last = list(stream)[-1]
    assert last["error"].startswith("COPY failed: file not found in build context or excluded")
    assert last["errorDetail"] == {"message": last["error"]}


# --- the wire -------------------------------------------------------------------------


def test_the_stream_of_messages(skiff_api: SkiffApi) -> None:
    body = context_tar({"Dockerfile": "FROM busybox AS one\nENV A=1\nFROM one\nENV B=2\n"})
    status, kind, messages = post_build(skiff_api, {"t": ["a:1", "", "b", "a:1"]}, body)
    assert (status, kind) == (200, "application/json")
    aux = [m["aux"]["ID"] for m in messages if "aux" in m]
    assert len(aux) == 2  # one a stage, as dockerd
    assert all(set(m) in ({"stream"}, {"aux"}) for m in messages), messages
    assert text_of(messages).endswith(
        f"Successfully built {aux[1][7:19]}\n"
        "Successfully tagged a:1\nSuccessfully tagged b:latest\n"
    )
    assert messages.index({"aux": {"ID": aux[1]}}) == len(messages) - 4
    # before API 1.30, no aux
    status, _, messages = post_build(skiff_api, {}, body, version="v1.29")
    assert status == 200 and not [m for m in messages if "aux" in m]
    # q: the ID alone
    status, _, messages = post_build(skiff_api, {"q": "1"}, body)
    assert (status, messages) == (200, [{"stream": aux[1] + "\n"}])
    # a failing RUN: its code in errorDetail
    body = context_tar({"Dockerfile": "FROM busybox\nRUN exit 5\n"})
    status, _, messages = post_build(skiff_api, {"q": "true"}, body)
    message = "The command '/bin/sh -c exit 5' returned a non-zero code: 5"
    assert status == 200
    assert messages[-1] == {"errorDetail": {"code": 5, "message": message}, "error": message}
    assert "Step 2/2 : RUN exit 5\n" in text_of(messages)


def test_bad_requests_are_answered_before_the_stream(skiff_api: SkiffApi) -> None:
    body = context_tar({"Dockerfile": "FROM busybox\n"})
    for query, status, message in (
        ({"buildargs": "xx"}, 400, "error reading build args: "),
        ({"buildargs": '{"A": 1}'}, 400, "error reading build args: json: cannot unmarshal number"),
        ({"labels": "[]"}, 400, "error reading labels: json: cannot unmarshal array"),
        ({"t": "Bad"}, 400, "invalid reference format: repository name"),
        ({"t": "a@sha256:" + "0" * 64}, 400, "build tag cannot contain a digest"),
        ({"version": "2"}, 400, "buildkit is not enabled on daemon"),
        ({"version": "3"}, 400, 'invalid version "3"'),
        ({"remote": "foo"}, 400, "remoteURL (foo) could not be recognized as URL"),
        ({"remote": "https://example.com/x.git"}, 400, "git build contexts are not supported"),
        ({"squash": "1"}, 400, "squash is only supported with experimental mode"),
        ({"isolation": "hyperv"}, 400, 'Unsupported isolation: "hyperv"'),
        ({"shmsize": "big"}, 400, 'strconv.ParseInt: parsing "big": invalid syntax'),
        ({"target": "nowhere"}, 400, "failed to reach build target nowhere in Dockerfile"),
        ({"dockerfile": "nope"}, 500, "Cannot locate specified Dockerfile: nope"),
    ):
        answer = post_build(skiff_api, query, body)
        assert answer[:2] == (status, "application/json"), (query, answer)
        assert answer[2]["message"].startswith(message), (query, answer)
    # what the classic client sends and skiff's builder does not use is accepted
    accepted = {
        "buildargs": "{}", "cachefrom": "[]", "cgroupparent": "", "cpuperiod": "0",
        "cpuquota": "0", "cpusetcpus": "", "cpusetmems": "", "cpushares": "0",
        "dockerfile": "Dockerfile", "labels": "{}", "memory": "0", "memswap": "0",
        "networkmode": "default", "rm": "1", "forcerm": "1", "shmsize": "0", "target": "",
        "ulimits": "null", "version": "1", "extrahosts": ["a:10.0.0.1"], "pull": "",
    }  # fmt: skip
    status, _, messages = post_build(skiff_api, accepted, body)
    assert status == 200 and "Successfully built" in text_of(messages), messages


def test_a_context_cannot_reach_the_hosts_files(skiff_api: SkiffApi) -> None:
    """The Dockerfile is found inside the context whatever its name or symlinks say (as
    dockerd's scoped paths); a member that would land outside the context is refused."""
    for query, data in (
        ({"dockerfile": "/etc/passwd"}, context_tar({"x": "y"})),
        ({"dockerfile": "../../../../../etc/passwd"}, context_tar({"x": "y"})),
        ({}, context_tar({}, Dockerfile="/etc/passwd")),
        ({}, context_tar({}, Dockerfile="../../../../../etc/passwd")),
        ({}, fifo_tar("Dockerfile")),  # not opened for good: it would block
    ):
        status, _, value = post_build(skiff_api, query, data)
        assert status == 500, (query, value)
        assert value["message"].startswith("Cannot locate specified Dockerfile"), (query, value)
    status, _, value = post_build(skiff_api, {}, context_tar({"../escaped": "x"}))
    assert status == 400, value
    status, _, value = post_build(skiff_api, {}, b"this is no tar archive, not at all\n" * 20)
    assert status == 400, value
    assert leftover_workspaces(skiff_api) == []


def test_a_remote_context_over_http(skiff_api: SkiffApi, tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "ctx.tar.gz").write_bytes(
        context_tar(
            {"Dockerfile": 'FROM busybox\nCOPY a.txt /\nCMD ["cat", "/a.txt"]\n', "a.txt": "A\n"},
            compress=True,
        )
    )
    (served / "Dockerfile").write_text("FROM busybox\nENV REMOTE=plain\n")
    with http_server(served) as url:
        status, _, messages = post_build(skiff_api, {"remote": f"{url}/ctx.tar.gz", "t": "r:1"})
        assert status == 200, messages
        assert "Successfully tagged r:1\n" in text_of(messages)
        assert skiff_api.docker("run", "--rm", "r:1").stdout == "A\n"
        status, _, messages = post_build(skiff_api, {"remote": f"{url}/Dockerfile", "t": "r:2"})
        assert status == 200, messages
        assert messages[0]["status"] == "Downloading context"
        assert messages[0]["id"] == f"{url}/Dockerfile"
        assert "REMOTE=plain" in skiff_api.inspect("r:2")["Config"]["Env"]
        status, _, value = post_build(skiff_api, {"remote": f"{url}/nothing"})
        assert status == 404
        assert value["message"].startswith(f"failed to GET {url}/nothing with status 404")


def test_a_build_the_client_leaves_is_stopped(skiff_api: SkiffApi) -> None:
    forever = "RUN echo started; while true; do echo tick; sleep 0.2; done\n"
    body = context_tar({"Dockerfile": "FROM busybox\n" + forever})
    connection = UnixConnection(skiff_api.socket)
    connection.request("POST", "/v1.45/build?t=never", body, {"Content-Type": "application/x-tar"})
    response = connection.getresponse()
    seen = b""
    while b"started" not in seen:
        line = response.fp.readline()
        assert line, seen
        seen += line
    assert containers(skiff_api) != ""  # the RUN's container
    response.close()
    connection.close()
    deadline = time.monotonic() + 30
    while containers(skiff_api) != "" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert containers(skiff_api) == ""
    assert skiff_api.docker("image", "inspect", "never").returncode == 1
    deadline = time.monotonic() + 10
    while leftover_workspaces(skiff_api) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftover_workspaces(skiff_api) == []


# --- builder prune --------------------------------------------------------------------


def test_builder_prune_removes_the_cache_nothing_needs(
    skiff_api: SkiffApi, client: Any, tmp_path: Path
) -> None:
    assert client.api.prune_builds() == {"CachesDeleted": None, "SpaceReclaimed": 0}
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": SIMPLE, "greeting.txt": "one"})
    assert docker_build(skiff_api, "-t", "pruned", str(ctx)).returncode == 0
    first = skiff_api.inspect("pruned")["Id"]
    (ctx / "greeting.txt").write_text("two")
    assert docker_build(skiff_api, "-t", "pruned", str(ctx)).returncode == 0
    # the first build's images that the second does not share (COPY, RUN, CMD) are dangling
    result = prune_builds(skiff_api)
    assert (result.returncode, err(result)) == (0, ""), result
    deleted = re.findall(r"^sha256:[0-9a-f]{64}$", result.stdout, re.M)
    assert result.stdout.startswith("Deleted build cache objects:\n")
    assert len(deleted) == 3 and first in deleted, result.stdout
    assert re.search(r"\nTotal reclaimed space: \d+(\.\d+)?[kM]?B\n$", result.stdout)
    assert skiff_api.docker("image", "inspect", first).returncode == 1
    assert skiff_api.docker("run", "--rm", "pruned").stdout == "built on two\n"
    again = prune_builds(skiff_api)
    assert (again.returncode, again.stdout) == (0, "Total reclaimed space: 0B\n")
    # the second build's cache stays, and serves
    rebuilt = docker_build(skiff_api, "-t", "pruned", str(ctx))
    assert rebuilt.stdout.count(" ---> Using cache\n") == 3
    import docker.errors

    with pytest.raises(docker.errors.APIError, match="Invalid filter 'colour'"):
        client.api.prune_builds(filters={"colour": "red"})
    assert client.api.prune_builds(filters={"until": "24h"}) == {
        "CachesDeleted": None,
        "SpaceReclaimed": 0,
    }
