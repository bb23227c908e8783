"""``kill -9`` in the middle of an operation: of the ``skiff`` command, and of ``skiff serve``
(the Engine API) doing the same through the API. Pull (through a slowed proxy), load (an
archive streamed slowly), build (a RUN that sleeps, a COPY of a big context), run (during
create, while the runtime creates the container, while attached) and ``rm -f``.

Each kill happens at an observable point (a line of output, a file under the store, the
proxy's byte count, a process that appears, a lock the test holds), never after a guessed
delay. Afterwards: the next command works, a container started before the kill still runs
under its monitor (``stop`` records its exit code, ``wait`` sees it), and once the next
command or ``system prune -f`` has run nothing is left: no mount, cgroup (the autouse leak
fixture), temporary file or directory in the store, half-written image, monitor or
runtime process. What happens to the interrupted work is said per test.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from skiff.linux.proc import process_start_time
from skiff.runtime.state import SECCOMP_CACHE
from tests.integration import test_pull_faults as pull_faults
from tests.integration.test_pull import partial_files
from tests.support.build import mounts_below, tar_bytes, write_context
from tests.support.cli import Skiff
from tests.support.engine import processes_mentioning
from tests.support.faulty_proxy import FaultyProxy
from tests.support.images import docker_archive, layer_tar

# the module-scoped registry holding busybox and a 4 MiB random layer, and the proxy in
# front of it, of tests/integration/test_pull_faults.py
image = pull_faults.image
proxy = pull_faults.proxy

T = TypeVar("T")
BIG_LOAD = 32 << 20  # the random layer of the archive that load tests stream
BIG_COPY = 64 << 20  # the file the COPY test copies


# --- waiting and killing ----------------------------------------------------------------


def until(
    check: Callable[[], T],
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    timeout: float = 30,
) -> T:
    """Poll ``check`` until it returns something true; fails if ``process`` ends first."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if process is not None and process.poll() is not None:
            output = log.read_text(errors="replace") if log and log.exists() else ""
            raise AssertionError(
                f"{what}: the process ended first ({process.returncode})\n{output}"
            )
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def kill9(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL; the process must have been alive until then."""
    assert process.poll() is None, f"it ended by itself first: {process.returncode}"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(30)
    assert process.returncode == -signal.SIGKILL


def alive(pid: int) -> bool:
    return pid > 0 and process_start_time(pid) is not None


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def new_processes(after: int, text: str) -> list[int]:
    """Live processes with a pid above ``after`` whose command line holds ``text``: a fast
    scan for a process that a command just started."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) > after and text in " ".join(cmdline(int(name))):
            found.append(int(name))
    return found


def runtime_create(cli: Skiff, after: int) -> int | None:
    """The pid of ``skiff-runtime create`` that conmon runs for a container of ``cli``."""
    for pid in new_processes(after, f"{cli.runroot}/runtime"):
        words = cmdline(pid)
        # a script: its interpreter comes first
        if "create" in words and "skiff-runtime" in map(os.path.basename, words[:3]):
            return pid
    return None


# --- the store ----------------------------------------------------------------------------


STOPPED: list[int] = []  # processes a test stopped (SIGSTOP): continued if it fails


@pytest.fixture
def cli(skiff: Skiff, busybox: str, tmp_path: Path) -> Iterator[Skiff]:
    """``skiff`` with busybox, a TMPDIR of its own (the store's tmp/) and a DOCKER_CONFIG
    of its own. The commands it started that a failed test left running are killed."""
    skiff.env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    temp = tmp_path / "tmp"
    temp.mkdir()
    skiff.env["TMPDIR"] = str(temp)
    started: list[subprocess.Popen[bytes]] = []
    popen = skiff.popen

    def recorded(*args: str, **kw: object) -> subprocess.Popen[bytes]:
        process = popen(*args, **kw)
        started.append(process)
        return process

    skiff.popen = recorded  # type: ignore[method-assign]
    yield skiff
    for pid in STOPPED:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    STOPPED.clear()
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def container_ids(cli: Skiff) -> set[str]:
    return set(cli.ok("ps", "-aq", "--no-trunc").split())


def image_ids(cli: Skiff) -> set[str]:
    return set(cli.ok("images", "-aq", "--no-trunc").split())


def conmon_of(cli: Skiff, container_id: str) -> int:
    path = cli.root / "containers" / container_id / "conmon.pid"
    pid = int(path.read_text().strip())
    assert os.path.basename(cmdline(pid)[0]) == "conmon", cmdline(pid)
    return pid


def start_bystander(cli: Skiff) -> str:
    """A container started before the fault; its ID."""
    return cli.ok(
        "run", "-d", "--name", "bystander", "--network", "none", "busybox", "sleep", "1000"
    ).strip()


def assert_runs_and_is_monitored(cli: Skiff, container_id: str) -> None:
    """The container runs, under its conmon; ``wait`` sees its end when ``stop`` kills it,
    which records exit code 137; then it is removed."""
    state = cli.container(container_id)["State"]
    assert (state["Status"], state["Running"]) == ("running", True), state
    assert alive(state["Pid"]), state
    monitor = conmon_of(cli, container_id)
    assert alive(monitor)
    waiting = cli.popen("wait", container_id, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert cli.ok("stop", "-t", "0", container_id) == f"{container_id}\n"
        out, err = waiting.communicate(timeout=30)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert (waiting.returncode, out, err) == (0, b"137\n", b"")
    state = cli.container(container_id)["State"]
    assert (state["Status"], state["ExitCode"], state["Running"]) == ("exited", 137, False)
    until(lambda: not alive(monitor), "the monitor to end")
    cli.ok("rm", container_id)


def leftovers(cli: Skiff) -> list[str]:
    """What no finished or cleaned-up operation may leave in the store and on the host."""
    left = [f"container {c}" for c in container_ids(cli)]
    left += [f"mount {m}" for m in mounts_below(cli.root, cli.runroot)]
    left += [f"partial file {p}" for p in partial_files(cli)]
    for name in ("builds", "downloads"):
        top = cli.root / name
        left += [f"{name}/{n}" for n in os.listdir(top)] if top.is_dir() else []
    runtime = cli.runroot / "runtime"
    if runtime.is_dir():
        left += [f"runtime state {n}" for n in os.listdir(runtime) if n != SECCOMP_CACHE]
    deadline = time.monotonic() + 10
    while (processes := processes_mentioning(f"{cli.runroot} ")) and time.monotonic() < deadline:
        time.sleep(0.01)
    return left + [f"process {p}" for p in processes]


def assert_nothing_left(cli: Skiff) -> None:
    assert leftovers(cli) == []


# --- skiff serve --------------------------------------------------------------------------


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.path)
        self.sock = sock


class Serve:
    """``skiff serve`` over a store, on a unix socket under /tmp (a socket's path is short);
    it can be killed and started again."""

    def __init__(self, cli: Skiff) -> None:
        self.cli = cli
        self.dir = Path(tempfile.mkdtemp(prefix="skiff-kill-"))
        self.socket = self.dir / "api.sock"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "serve.log"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = self.cli.popen(
                "serve", "-H", f"unix://{self.socket}",
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        mark = self.log.read_text().count("API listening")
        until(
            lambda: self.log.read_text().count("API listening") > mark,
            "skiff serve to listen",
            self.process,
            self.log,
        )

    def kill(self) -> None:
        assert self.process is not None
        kill9(self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def connection(self) -> UnixConnection:
        return UnixConnection(self.socket)

    def call(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> tuple[int, bytes]:
        """A request, its status and whole body."""
        connection = self.connection()
        try:
            headers = {"Content-Type": content_type} if content_type else {}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def json(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        status, answer = self.call(method, path, data, "application/json" if data else "")
        assert status < 300, (method, path, status, answer)
        return json.loads(answer) if answer else None


@pytest.fixture
def serve(cli: Skiff) -> Iterator[Serve]:
    server = Serve(cli)
    server.start()
    yield server
    server.stop()


def stream_messages(body: bytes) -> list[dict[str, Any]]:
    """A JSON message stream (pull, load, build) as its messages."""
    decoder = json.JSONDecoder()
    text = body.decode()
    messages, position = [], 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        message, position = decoder.raw_decode(text, position)
        messages.append(message)
    return messages


# --- pull ---------------------------------------------------------------------------------


def test_pull_killed_mid_download_then_the_next_pull_completes_it(
    cli: Skiff, image: pull_faults.Image, proxy: FaultyProxy, tmp_path: Path
):
    """Interrupted work: finished by the next pull (which may resume the download);
    nothing of the killed one is an image, and what it wrote in ingest/ and layers/ is
    removed by the next pull (``clean_abandoned``)."""
    bystander = start_bystander(cli)
    images = image_ids(cli)
    pull_faults.kill_mid_download(cli, image, proxy, tmp_path)
    assert image_ids(cli) == images  # no half-written image
    assert container_ids(cli) == {bystander}
    ref = image.ref(proxy)
    pull_faults.pull_ok(cli, ref)
    pull_faults.assert_pulled(cli, image, ref)
    assert cli.ok("run", "--rm", "--network", "none", ref, "echo", "hi") == "hi\n"
    assert_runs_and_is_monitored(cli, bystander)
    cli.ok("rmi", ref)
    assert_nothing_left(cli)


def test_serve_killed_mid_pull_then_the_next_pull_completes_it(
    cli: Skiff, serve: Serve, image: pull_faults.Image, proxy: FaultyProxy
):
    """The same through POST /images/create: the server killed while the big layer
    trickles in; a new server's pull finishes the work."""
    bystander = start_bystander(cli)
    images = image_ids(cli)
    proxy.slow(rate=1 << 20, path=image.big_path)
    query = f"/images/create?fromImage={proxy.address}/{image.repo}&tag={image.tag}"
    connection = serve.connection()
    connection.request("POST", query)
    response = connection.getresponse()
    assert response.status == 200
    until(
        lambda: proxy.sent(image.big_path) >= (1 << 20) + (256 << 10),
        "1.25 MiB of the big layer",
        serve.process,
    )
    serve.kill()
    connection.close()
    assert proxy.sent(image.big_path) < len(image.big_bytes)
    proxy.clear()
    proxy.reset_log()

    assert image_ids(cli) == images
    serve.start()  # runs system boot: the bystander is left alone
    status, body = serve.call("POST", query)
    assert status == 200, body
    ref = image.ref(proxy)
    assert stream_messages(body)[-1] == {"status": f"Status: Downloaded newer image for {ref}"}
    pull_faults.assert_pulled(cli, image, ref)
    assert_runs_and_is_monitored(cli, bystander)
    cli.ok("rmi", ref)
    assert_nothing_left(cli)


# --- load ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_archive(rootfs_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A docker-archive of big:1, busybox and a 32 MiB layer of random bytes."""
    path = tmp_path_factory.mktemp("load") / "big.tar"
    random_layer = layer_tar({"random.bin": os.urandom(BIG_LOAD)})
    docker_archive(path, [([rootfs_tar.read_bytes(), random_layer], ["big:1"])])
    return path


def spooled(cli: Skiff) -> int:
    """Bytes of the archive a load is spooling into ingest/ (0 before it starts)."""
    ingest = cli.root / "ingest"
    files = [p for p in ingest.glob("load-*")] if ingest.is_dir() else []
    return max((p.stat().st_size for p in files), default=0)


def feed(write: Callable[[bytes], Any], archive: Path, size: int) -> None:
    """The first ``size`` bytes of ``archive``, a MiB at a time."""
    with open(archive, "rb") as f:
        sent = 0
        while sent < size:
            chunk = f.read(min(1 << 20, size - sent))
            write(chunk)
            sent += len(chunk)


def test_load_killed_while_it_reads_stdin_then_the_next_load_works(
    cli: Skiff, big_archive: Path, tmp_path: Path
):
    """Interrupted work: cleaned. The killed load's spooled archive (ingest/load-PID-...)
    is removed by the next load (or garbage collection); no image was registered."""
    bystander = start_bystander(cli)
    images = image_ids(cli)
    log = tmp_path / "load.out"
    with open(log, "wb") as out:
        process = cli.popen("load", stdin=subprocess.PIPE, stdout=out, stderr=out)
    assert process.stdin is not None
    feed(process.stdin.write, big_archive, 16 << 20)
    process.stdin.flush()
    until(lambda: spooled(cli) >= 8 << 20, "8 MiB spooled", process, log)
    kill9(process)
    try:
        process.stdin.close()
    except BrokenPipeError:
        pass
    assert image_ids(cli) == images
    assert spooled(cli) >= 8 << 20  # what the next load cleans

    assert cli.ok("load", "-i", str(big_archive)) == "Loaded image: big:1\n"
    assert partial_files(cli) == []
    assert image_ids(cli) == images | {cli.inspect("big:1")["Id"]}
    assert cli.ok("run", "--rm", "--network", "none", "big:1", "wc", "-c", "/random.bin") == (
        f"{BIG_LOAD} /random.bin\n"
    )
    assert_runs_and_is_monitored(cli, bystander)
    cli.ok("rmi", "big:1")
    assert_nothing_left(cli)


def test_serve_killed_mid_load_then_the_next_load_works(
    cli: Skiff, serve: Serve, big_archive: Path
):
    """POST /images/load: the server killed while the body streams in; cleaned, as the
    CLI's load, by the next load through a new server."""
    bystander = start_bystander(cli)
    images = image_ids(cli)
    connection = serve.connection()
    connection.putrequest("POST", "/images/load")
    connection.putheader("Content-Type", "application/x-tar")
    connection.putheader("Content-Length", str(big_archive.stat().st_size))
    connection.endheaders()
    feed(connection.send, big_archive, 16 << 20)
    until(lambda: spooled(cli) >= 8 << 20, "8 MiB spooled", serve.process, serve.log)
    serve.kill()
    connection.close()
    assert image_ids(cli) == images

    serve.start()
    status, body = serve.call("POST", "/images/load", big_archive.read_bytes(), "application/x-tar")
    assert status == 200, body
    assert stream_messages(body) == [{"stream": "Loaded image: big:1\n"}]
    assert partial_files(cli) == []
    assert image_ids(cli) == images | {cli.inspect("big:1")["Id"]}
    assert_runs_and_is_monitored(cli, bystander)
    cli.ok("rmi", "big:1")
    assert_nothing_left(cli)


# --- build --------------------------------------------------------------------------------

SLEEPING_RUN = "FROM busybox\nRUN echo started && sleep 1000\n"


def run_containers(cli: Skiff, bystander: str) -> list[str]:
    return sorted(container_ids(cli) - {bystander})


def test_build_killed_during_run_then_the_next_build_removes_its_container(
    cli: Skiff, tmp_path: Path
):
    """Interrupted work: cleaned. The RUN step's container outlives the killed build (it
    has its own monitor) until the next build or ``system prune`` removes it; no image
    of the step was committed."""
    bystander = start_bystander(cli)
    images = image_ids(cli)
    context = write_context(tmp_path / "sleeps", {"Dockerfile": SLEEPING_RUN})
    log = tmp_path / "build.out"
    with open(log, "wb") as out:
        process = cli.popen(
            "build", "-t", "killed", str(context), stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    until(lambda: "started\n" in log.read_text(), "the RUN step's output", process, log)
    kill9(process)
    [orphan] = run_containers(cli, bystander)
    assert cli.container(orphan)["State"]["Running"]  # the step's container runs on
    assert image_ids(cli) == images

    context = write_context(tmp_path / "next", {"Dockerfile": "FROM busybox\nRUN echo ok\n"})
    result = cli("build", "-q", "-t", "next", str(context))
    assert result.code == 0, result
    assert run_containers(cli, bystander) == []
    assert image_ids(cli) == images | {result.out.strip()}
    assert "killed:latest" not in cli.ok("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert_runs_and_is_monitored(cli, bystander)
    cli.ok("rmi", "next")
    assert_nothing_left(cli)


def test_build_killed_during_a_big_copy_then_prune_cleans_its_snapshot(cli: Skiff, tmp_path: Path):
    """Interrupted work: cleaned. The COPY's snapshot (an overlay mount under builds/)
    stays mounted until ``system prune`` or the next build unmounts and removes it; the
    build then succeeds when run again."""
    bystander = start_bystander(cli)
    images = image_ids(cli)
    context = write_context(
        tmp_path / "copy",
        {"Dockerfile": "FROM busybox\nCOPY big /big\n", "big": os.urandom(BIG_COPY)},
    )
    log = tmp_path / "build.out"
    with open(log, "wb") as out:
        process = cli.popen(
            "build", "-t", "copied", str(context), stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    builds = cli.root / "builds"

    def copying() -> list[Path]:
        return list(builds.glob("snapshot-*/upper/big")) if builds.is_dir() else []

    until(copying, "the COPY to begin", process, log)
    os.kill(process.pid, signal.SIGSTOP)  # where it is: still in the step
    STOPPED.append(process.pid)
    [copy] = copying()
    snapshot = copy.parent.parent
    assert mounts_below(builds) == [str(snapshot / "merged")]
    kill9(process)
    assert image_ids(cli) == images
    assert mounts_below(builds) == [str(snapshot / "merged")]  # until prune

    cli.ok("system", "prune", "-f")
    assert mounts_below(builds) == []
    assert list(builds.iterdir()) == []
    assert image_ids(cli) == images
    result = cli("build", "-q", "-t", "copied", str(context))
    assert result.code == 0, result
    assert cli.ok("run", "--rm", "--network", "none", "copied", "wc", "-c", "/big") == (
        f"{BIG_COPY} /big\n"
    )
    assert_runs_and_is_monitored(cli, bystander)
    cli.ok("rmi", "copied")
    assert_nothing_left(cli)


def test_serve_killed_during_a_build_run_then_the_next_build_removes_its_container(
    cli: Skiff, serve: Serve
):
    """POST /build: the server killed while the RUN step runs; as with the CLI, the
    step's container runs on until the next build (through a new server) removes it."""
    bystander = start_bystander(cli)
    images = image_ids(cli)
    connection = serve.connection()
    connection.request(
        "POST",
        "/build?t=killed",
        body=tar_bytes({"Dockerfile": SLEEPING_RUN}),
        headers={"Content-Type": "application/x-tar"},
    )
    response = connection.getresponse()
    assert response.status == 200
    seen = b""
    while b"started\\n" not in seen:
        chunk = response.read1(65536)
        assert chunk, seen
        seen += chunk
    serve.kill()
    connection.close()
    [orphan] = run_containers(cli, bystander)
    assert cli.container(orphan)["State"]["Running"]
    assert image_ids(cli) == images

    serve.start()  # system boot leaves running containers alone
    assert cli.container(orphan)["State"]["Running"]
    status, body = serve.call(
        "POST",
        "/build?t=next",
        tar_bytes({"Dockerfile": "FROM busybox\nRUN echo ok\n"}),
        "application/x-tar",
    )
    assert status == 200, body
    assert {"stream": "Successfully tagged next:latest\n"} in stream_messages(body), body
    assert run_containers(cli, bystander) == []
    assert list((cli.root / "builds").iterdir()) == []
    assert_runs_and_is_monitored(cli, bystander)
    cli.ok("rmi", "next")
    assert_nothing_left(cli)


# --- run ----------------------------------------------------------------------------------


def test_run_killed_during_create_leaves_a_container_that_starts(cli: Skiff, tmp_path: Path):
    """``skiff run`` killed as soon as its container's directory exists (right after the
    command started, while it creates the container). Interrupted work: finished by the
    next command: the container is recorded as created, and ``start`` runs it."""
    bystander = start_bystander(cli)
    containers = cli.root / "containers"
    log = tmp_path / "run.out"
    with open(log, "wb") as out:
        process = cli.popen(
            "run", "-d", "--name", "early", "--network", "none", "busybox", "sleep", "1000",
            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
        )  # fmt: skip
    [directory] = until(
        lambda: [d for d in containers.iterdir() if d.name != bystander],
        "the container's directory",
        process,
        log,
    )
    kill9(process)
    assert not (directory / "conmon.pid").exists()  # killed before its monitor started
    assert cli.ok("ps", "-a", "--filter", "name=early", "--format", "{{.Status}}") == "Created\n"
    assert cli.ok("start", "early") == "early\n"
    early = cli.container("early")["Id"]
    assert_runs_and_is_monitored(cli, early)
    assert_runs_and_is_monitored(cli, bystander)
    assert_nothing_left(cli)


def stop_runtime_create(
    cli: Skiff, starter: subprocess.Popen[bytes], log: Path | None = None
) -> int:
    """Wait for the ``skiff-runtime create`` that conmon runs for a container being started
    by ``starter``, and stop it (SIGSTOP): ``starter`` then waits for conmon's answer, so
    killing it now kills it in the middle of the container's start. Its pid."""
    pid = until(
        lambda: runtime_create(cli, starter.pid), "the runtime's create", starter, log, timeout=30
    )
    os.kill(pid, signal.SIGSTOP)
    STOPPED.append(pid)
    return pid


def test_run_killed_while_the_runtime_creates_the_container(cli: Skiff, tmp_path: Path):
    """``skiff run`` killed during the container's start, while conmon's runtime creates
    it: the runtime's container is made but never started, and the state says created.
    Interrupted work: cleaned, then finished: the next ``start`` kills the abandoned
    monitor and deletes the runtime's container before it starts the container afresh
    (before the fix it failed, the runtime's container "already exists")."""
    bystander = start_bystander(cli)
    log = tmp_path / "run.out"
    with open(log, "wb") as out:
        process = cli.popen(
            "run", "-d", "--name", "starting", "--network", "none", "busybox", "sleep", "1000",
            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
        )  # fmt: skip
    create = stop_runtime_create(cli, process, log)
    kill9(process)
    os.kill(create, signal.SIGCONT)
    until(lambda: not alive(create), "the runtime's create to end")
    starting = cli.container("starting")
    assert (starting["State"]["Status"], starting["State"]["Running"]) == ("created", False)
    assert cli.ok("ps", "-a", "--filter", "name=starting", "--format", "{{.Status}}") == (
        "Created\n"
    )
    assert cli.ok("start", "starting") == "starting\n"
    assert len(processes_mentioning(f"-c {starting['Id']} ")) == 1  # one conmon, the new
    assert_runs_and_is_monitored(cli, starting["Id"])
    assert_runs_and_is_monitored(cli, bystander)
    assert_nothing_left(cli)


def container_process(container_id: str, after: int, command: str) -> int | None:
    """The pid of the container's process running ``command`` (found by its cgroup)."""
    for pid in new_processes(after, command):
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                if container_id in f.read():
                    return pid
        except OSError:
            continue
    return None


def test_run_killed_after_the_process_started_before_it_was_recorded(cli: Skiff, tmp_path: Path):
    """``skiff run`` killed right after the runtime started the container's process, before
    it recorded the start: the test holds the state database's write lock from the moment
    the monitor is there (``run`` has nothing left to write before it records the start),
    so ``run`` waits for it with the process running. The state says created, the process runs.
    Interrupted work: cleaned, then finished: the next ``start`` kills the abandoned
    process and its monitor and starts the container afresh (before the fix it failed,
    the runtime's container "already exists")."""
    import sqlite3

    bystander = start_bystander(cli)
    containers = cli.root / "containers"
    log = tmp_path / "run.out"
    with open(log, "wb") as out:
        process = cli.popen(
            "run", "-d", "--name", "late", "--network", "none", "busybox", "sleep", "1000",
            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
        )  # fmt: skip
    [directory] = until(
        lambda: [d for d in containers.iterdir() if d.name != bystander],
        "the container's directory",
        process,
        log,
    )
    until(lambda: (directory / "conmon.pid").exists(), "the container's monitor", process, log)
    database = sqlite3.connect(cli.root / "skiff.db", timeout=10, isolation_level=None)
    try:
        database.execute("BEGIN IMMEDIATE")
        [(state,)] = database.execute(
            "SELECT state FROM containers WHERE id = ?", (directory.name,)
        ).fetchall()
        assert not json.loads(state)["Running"]
        first = until(
            lambda: container_process(directory.name, process.pid, "sleep 1000"),
            "the container's process",
            process,
            log,
        )
        kill9(process)
    finally:
        database.close()
    late = cli.container("late")["State"]
    assert (late["Status"], late["Running"]) == ("created", False)
    assert alive(first)  # running, though the state says created
    assert cli.ok("start", "late") == "late\n"
    assert not alive(first)
    assert len(processes_mentioning(f"-c {directory.name} ")) == 1  # one conmon, the new
    assert_runs_and_is_monitored(cli, directory.name)
    assert_runs_and_is_monitored(cli, bystander)
    assert_nothing_left(cli)


def test_run_killed_while_attached_leaves_the_container_running(cli: Skiff):
    """A foreground ``skiff run --rm`` killed while it streams the container's output.
    Interrupted work: finished by the monitor: the container runs on; when it ends,
    conmon's exit command does the clean-up the killed command would have done (--rm)."""
    bystander = start_bystander(cli)
    process = cli.popen(
        "run", "--rm", "--name", "attached", "--network", "none", "busybox",
        "sh", "-c", "echo ready; exec sleep 1000",
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"
    kill9(process)
    attached = cli.container("attached")
    assert attached["State"]["Running"]
    assert alive(conmon_of(cli, attached["Id"]))
    waiting = cli.popen("wait", "attached", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert cli.ok("stop", "-t", "0", "attached") == "attached\n"
        out, err = waiting.communicate(timeout=30)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert (waiting.returncode, out, err) == (0, b"137\n", b"")
    until(lambda: attached["Id"] not in container_ids(cli), "--rm to remove it")
    assert_runs_and_is_monitored(cli, bystander)
    assert_nothing_left(cli)


def test_serve_killed_during_a_start_then_a_new_server_cleans_and_starts(cli: Skiff, serve: Serve):
    """POST /containers/create, then /start with the server killed while conmon's runtime
    creates the container. Interrupted work: cleaned by the next server's start (its
    ``system boot`` kills the abandoned monitor and deletes the runtime's container), then
    the start, asked again, runs the container."""
    bystander = start_bystander(cli)
    created = serve.json(
        "POST",
        "/containers/create?name=apistart",
        {"Image": "busybox", "Cmd": ["sleep", "1000"], "HostConfig": {"NetworkMode": "none"}},
    )
    container_id = created["Id"]
    assert serve.process is not None
    failure: list[BaseException] = []

    def start() -> None:
        try:
            serve.call("POST", f"/containers/{container_id}/start")
        except (OSError, http.client.HTTPException) as e:
            failure.append(e)  # the server died under it: expected

    starter = threading.Thread(target=start)
    starter.start()
    create = stop_runtime_create(cli, serve.process, serve.log)
    serve.kill()
    starter.join(30)
    assert failure, "the start answered although its server was killed"
    os.kill(create, signal.SIGCONT)
    until(lambda: not alive(create), "the runtime's create to end")
    assert processes_mentioning(f"-c {container_id} ")  # the abandoned monitor

    serve.start()
    assert processes_mentioning(f"-c {container_id} ") == []
    assert not (cli.runroot / "runtime" / container_id).exists()
    assert serve.json("GET", f"/containers/{container_id}/json")["State"]["Status"] == "created"
    serve.json("POST", f"/containers/{container_id}/start")
    assert_runs_and_is_monitored(cli, container_id)
    assert_runs_and_is_monitored(cli, bystander)
    assert_nothing_left(cli)


# --- rm -f ----------------------------------------------------------------------------------


class Foreground:
    """The container held in the foreground by the test, as a foreground ``run`` holds it
    (a shared flock on RUNROOT/attached/ID, skiff.engine.foreground): conmon's exit command
    waits for it before it records the exit, so ``rm -f`` waits, its victim killed."""

    def __init__(self, cli: Skiff, container_id: str) -> None:
        self.path = cli.runroot / "attached" / container_id
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_SH)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.path.unlink(missing_ok=True)


def wait_for_removal_underway(
    cli: Skiff, container_id: str, pid: int, remover: subprocess.Popen[bytes], log: Path | None
) -> None:
    """The container's process is killed and its monitor's exit command waits for the
    foreground lock the test holds: the remover now waits for the exit to be recorded."""
    until(lambda: not alive(pid), "the container's process to die", remover, log)
    until(
        lambda: processes_mentioning(f"container cleanup {container_id}"),
        "conmon's exit command",
        remover,
        log,
    )


def test_rm_force_killed_then_the_next_rm_removes_the_container(cli: Skiff, tmp_path: Path):
    """``skiff rm -f`` killed once the container's process is dead, before the removal.
    Interrupted work: half done: the monitor records the exit (137), the container stays,
    exited, and the next ``rm`` removes it."""
    bystander = start_bystander(cli)
    victim = cli.ok("run", "-d", "--network", "none", "busybox", "sleep", "1000").strip()
    pid = cli.container(victim)["State"]["Pid"]
    lock = Foreground(cli, victim)
    log = tmp_path / "rm.out"
    try:
        with open(log, "wb") as out:
            process = cli.popen(
                "rm", "-f", victim, stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
        wait_for_removal_underway(cli, victim, pid, process, log)
        kill9(process)
    finally:
        lock.release()
    assert cli.ok("wait", victim) == "137\n"
    state = cli.container(victim)["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 137)
    assert cli.ok("rm", victim) == f"{victim}\n"
    assert_runs_and_is_monitored(cli, bystander)
    assert_nothing_left(cli)


def test_serve_killed_during_a_forced_delete_then_the_next_delete_works(cli: Skiff, serve: Serve):
    """DELETE /containers/ID?force=1 with the server killed at the same point; the next
    server's DELETE removes the exited container."""
    bystander = start_bystander(cli)
    victim = cli.ok("run", "-d", "--network", "none", "busybox", "sleep", "1000").strip()
    pid = cli.container(victim)["State"]["Pid"]
    assert serve.process is not None
    lock = Foreground(cli, victim)
    failure: list[BaseException] = []

    def delete() -> None:
        try:
            serve.call("DELETE", f"/containers/{victim}?force=1")
        except (OSError, http.client.HTTPException) as e:
            failure.append(e)

    remover = threading.Thread(target=delete)
    try:
        remover.start()
        wait_for_removal_underway(cli, victim, pid, serve.process, serve.log)
        serve.kill()
    finally:
        lock.release()
    remover.join(30)
    assert failure, "the delete answered although its server was killed"
    assert cli.ok("wait", victim) == "137\n"

    serve.start()
    assert cli.container(victim)["State"]["Status"] == "exited"
    status, body = serve.call("DELETE", f"/containers/{victim}?force=1")
    assert status == 204, body
    assert_runs_and_is_monitored(cli, bystander)
    assert_nothing_left(cli)
