"""The Engine API with 200 running containers: skiff serve beside dockerd, each engine on
a socket of its own.

Each scenario starts its engines (skiff's store and skiff serve in a temporary directory;
dockerd with its own socket, data root and exec root), imports busybox into both and
starts 200 detached ``sleep`` containers in each with the engine's own CLI (as density
does); skiff serve lists those the skiff CLI made, as it would ``skiff run``'s. At the
end the containers are removed, skiff serve gets SIGTERM, dockerd stops and both stores
go.

``api-ps``: the wall time of Debian's docker CLI, ``docker -H unix://SOCKET ps``, against
each (the CLI negotiates the API version with ``/_ping`` first, as always).

``api-list-concurrency``: a load generator in this process, 50 threads, each a client with
one keep-alive connection (http.client over AF_UNIX) that sends GET /vX.Y/containers/json
as soon as the answer before has been read, N times in a round. Every request's latency
(request sent to body read) is kept; a round gives its p50 and p99 per engine, the engines
take turns round by round, and the tables give the medians of the rounds. The same
generator against ``/_ping`` (an endpoint that does nothing) shows what it can drive: its
rate there is a ceiling well above that of the listing, so the listing's latencies are the
servers'. Client and servers share the host's CPUs: the notes give what the generator and
each server used of them.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench.core import Contender, Result, measure_wall
from bench.engines import Engine, _binary, engines

PS = "api-ps"
LIST = "api-list-concurrency"
LIST_P50 = "api-list-concurrency-p50"
LIST_P99 = "api-list-concurrency-p99"
CONTAINERS = 200
CLIENTS = 50
REQUESTS = 20  # per client in a round of GET containers/json: 1000 a round
PING_REQUESTS = 200  # per client in a round of GET /_ping: 10,000 a round
PING_ROUNDS = 3
ALONE_REQUESTS = 50  # GET containers/json one after the other, a single client
CLIENT_VERSION = (1, 45)  # the newest API version the load generator asks for
DESCRIPTIONS = {
    PS: f"`docker -H unix://SOCKET ps` (Debian's docker CLI) with {CONTAINERS} running"
    " containers: skiff serve vs dockerd (wall time)",
    LIST: f"GET /containers/json with {CONTAINERS} running containers, {CLIENTS} concurrent"
    " keep-alive clients",
}
LIST_DESCRIPTIONS = {
    LIST_P50: f"GET /containers/json with {CONTAINERS} running containers, {CLIENTS}"
    f" concurrent keep-alive clients on the unix socket, {REQUESTS} requests each per"
    " round: p50 latency of a round (median of the rounds)",
    LIST_P99: f"the same: p99 latency of a round ({CLIENTS * REQUESTS} requests; median of"
    " the rounds)",
}
SERVE_START = 60  # seconds for skiff serve to listen
STOP_WAIT = 20  # seconds for skiff serve to go after SIGTERM


@dataclass
class _Api:
    """One engine's API: its socket, the process serving it, its CLI and the docker CLI
    on that socket."""

    name: str
    socket: str
    pid: int  # the server's (skiff serve, dockerd): its CPU time is read from /proc
    engine: Engine  # the engine's own CLI (skiff or docker): starts and removes containers
    cli: Engine  # Debian's docker CLI on ``socket``
    version: tuple[int, int] = CLIENT_VERSION  # negotiated: min(ours, the server's)
    notes: list[str] = field(default_factory=list)

    def path(self, endpoint: str) -> str:
        return f"/v{self.version[0]}.{self.version[1]}{endpoint}"


class _UnixConnection(http.client.HTTPConnection):
    """http.client on a unix socket (keep-alive: one connection for every request)."""

    def __init__(self, unix_path: str, timeout: float = 120) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = unix_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # blocking: a full listen backlog makes a connect with a timeout fail (EAGAIN)
        sock.connect(self.unix_path)
        sock.settimeout(self.timeout)
        self.sock = sock


def _get(path: str, endpoint: str) -> tuple[int, dict[str, str], bytes]:
    connection = _UnixConnection(path)
    try:
        connection.request("GET", endpoint)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _cpu_seconds(pid: int) -> float:
    """utime + stime of the process, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value that ``p`` percent of the values do not exceed."""
    if not values:
        raise RuntimeError("no request was answered")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class _Round:
    latencies: list[float]  # ms, every request's
    wall: float  # s, from the clients' start to the last answer
    client_cpu: float  # s, this process's CPU time meanwhile (all its threads)
    server_cpu: float  # s, the server process's CPU time meanwhile
    errors: int  # answers other than 200, and failed requests
    reconnects: int  # answers that closed the connection (the next request reconnects)


def _rate(rounds: list[_Round]) -> float:
    """Requests answered a second, over the rounds."""
    return sum(len(r.latencies) for r in rounds) / sum(r.wall for r in rounds)


def load(api: _Api, endpoint: str, clients: int, requests: int) -> _Round:
    """``clients`` threads, each with its keep-alive connection (opened before the clock
    starts), send GET ``endpoint`` ``requests`` times, each as soon as the answer before it
    has been read whole."""
    path = api.path(endpoint)
    connections = [_UnixConnection(api.socket) for _ in range(clients)]
    for connection in connections:
        connection.connect()
    start_line = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    reconnects = [0] * clients
    clock = time.perf_counter

    def client(i: int) -> None:
        connection = connections[i]
        mine = latencies[i]
        start_line.wait()
        for _ in range(requests):
            began = clock()
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                connection.close()
                continue
            mine.append((clock() - began) * 1000)
            if response.status != 200:
                errors[i] += 1
            if response.will_close:
                reconnects[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    cpu, server = time.process_time(), _cpu_seconds(api.pid)
    start_line.wait()
    began = clock()
    for thread in threads:
        thread.join()
    wall = clock() - began
    cpu, server = time.process_time() - cpu, _cpu_seconds(api.pid) - server
    for connection in connections:
        connection.close()
    return _Round(
        [ms for mine in latencies for ms in mine], wall, cpu, server, sum(errors), sum(reconnects)
    )


def _negotiate(api: _Api) -> None:
    """The version a client asks for: ours or the server's, whichever is older (dockerd
    20.10 serves up to 1.41), from the Api-Version header of ``/_ping``."""
    status, headers, body = _get(api.socket, "/_ping")
    if status != 200 or body != b"OK":
        raise RuntimeError(f"{api.name}: GET /_ping: {status} {body[:200]!r}")
    served = tuple(int(n) for n in headers.get("Api-Version", "1.24").split("."))
    api.version = min(CLIENT_VERSION, (served[0], served[1]))


def _check_listing(api: _Api, count: int) -> None:
    status, _, body = _get(api.socket, api.path("/containers/json"))
    if status != 200:
        raise RuntimeError(f"{api.name}: GET containers/json: {status} {body[:200]!r}")
    listed = json.loads(body)
    if len(listed) != count:
        raise RuntimeError(f"{api.name}: GET containers/json lists {len(listed)}, not {count}")
    api.notes.append(
        f"{api.name}: GET {api.path('/containers/json')} answers {len(body) / 1024:.0f} KiB"
        f" of JSON for the {count} containers"
    )


class _SkiffServe:
    """skiff serve over the store of the skiff engine (its --root and --runroot, temporary
    directories), on a socket of its own."""

    def __init__(self, engine: Engine, base: Path) -> None:
        self.socket = str(base / "skiff.sock")
        self.log_path = base / "serve.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                engine.command("serve", "-H", f"unix://{self.socket}"),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=engine.env,
            )
        deadline = time.monotonic() + SERVE_START
        while "API listening" not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"skiff serve did not start:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> str:
        """SIGTERM; a note if it did not exit 0 within STOP_WAIT seconds (then killed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return f"skiff serve still ran {STOP_WAIT} s after SIGTERM: killed"
        return "" if code == 0 else f"skiff serve exited {code} on SIGTERM"


def _start_containers(engine: Engine, names: list[str]) -> float:
    began = time.perf_counter()
    for name in names:
        engine.check("run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "1d")
    return time.perf_counter() - began


def _remove_containers(engine: Engine, names: list[str]) -> None:
    for i in range(0, len(names), 50):
        engine.attempt(*engine.force_remove, *names[i : i + 50])


@contextmanager
def apis(containers: int = CONTAINERS) -> Iterator[list[_Api]]:
    """skiff serve and dockerd, ``containers`` running in each; all gone afterwards."""
    work = Path(tempfile.mkdtemp(prefix="skiff-bench-api-"))
    config = work / "docker-config"  # the docker CLI's: not ~/.docker
    config.mkdir()
    (config / "config.json").write_text("{}\n")
    env = {**os.environ, "DOCKER_CONFIG": str(config)}
    docker_cli = _binary("docker")
    names = [f"api-{i}" for i in range(containers)]
    # the stack's callbacks (last first) run before the engines go
    with engines(("skiff", "docker")) as found, ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        found_apis = []
        for engine in found:
            notes: list[str] = []
            if engine.name == "skiff":
                serve = _SkiffServe(engine, work)
                pid, sock = serve.process.pid, serve.socket
                stack.callback(lambda s=serve, n=notes: n.append(s.stop()))
                description = f"skiff serve ({engine.description})"
            else:
                sock = engine.prefix[engine.prefix.index("-H") + 1].removeprefix("unix://")
                pid = int(Path(engine.base, "docker.pid").read_text())
                description = engine.description
            cli = Engine(
                engine.name,
                [docker_cli, "-H", f"unix://{sock}"],
                env,
                engine.base,
                description,
                str(work / f"{engine.name}-cli-stderr"),
            )
            api = _Api(engine.name, sock, pid, engine, cli, notes=notes)
            # the containers go before the server (skiff serve) stops
            stack.callback(_remove_containers, engine, names)
            _negotiate(api)
            seconds = _start_containers(engine, names)
            api.notes.append(
                f"{description}, API {api.version[0]}.{api.version[1]}: {containers}"
                f" containers started in {seconds:.1f} s"
            )
            _check_listing(api, containers)
            found_apis.append(api)
        yield found_apis


def _goal(result: Result) -> None:
    medians = result.medians()
    if "skiff" in medians and "docker" in medians:
        met = "met" if medians["skiff"] <= medians["docker"] else "missed"
        result.notes.append(f"goal: skiff's median at most docker's: {met}")


def run_ps(runs: int) -> Result:
    with apis() as found:
        for api in found:
            out = subprocess.run(
                api.cli.command("ps", "-q"), capture_output=True, text=True, env=api.cli.env
            )
            listed = len(out.stdout.split())
            if out.returncode != 0 or listed != CONTAINERS:
                raise RuntimeError(
                    f"{api.name}: docker ps: exit {out.returncode}, {listed} containers:"
                    f" {out.stderr.strip()}"
                )
        contenders = [Contender(a.name, partial(a.cli.attempt, "ps")) for a in found]
        result = measure_wall(PS, contenders, runs)
        for api in found:
            result.notes += api.cli.failure_notes(len(result.samples[api.name]))
    for api in found:
        result.notes += [note for note in api.notes if note]
    version = subprocess.run([_binary("docker"), "--version"], capture_output=True, text=True)
    result.notes.append(f"client: {version.stdout.strip()}")
    _goal(result)
    return result


def _summary(name: str, rounds: list[_Round], cpus: int) -> str:
    every = [ms for r in rounds for ms in r.latencies]
    wall = sum(r.wall for r in rounds)
    count = len(every)
    errors = sum(r.errors for r in rounds)
    reconnects = sum(r.reconnects for r in rounds)
    client_cpu = sum(r.client_cpu for r in rounds)
    server_cpu = sum(r.server_cpu for r in rounds)
    return (
        f"{name}: {count} requests in {len(rounds)} round{'s' * (len(rounds) > 1)},"
        f" {_rate(rounds):.0f} req/s;"
        f" all pooled: p50 {percentile(every, 50):.1f} ms, p99 {percentile(every, 99):.1f} ms,"
        f" max {max(every):.1f} ms; server CPU {server_cpu / count * 1000:.2f} ms a request"
        f" ({server_cpu / wall:.2f} of {cpus} CPUs); load generator CPU"
        f" {client_cpu / count * 1000:.2f} ms a request ({client_cpu / wall:.2f} of {cpus})"
        + (f"; {errors} failed" if errors else "")
        + (f"; {reconnects} answers closed the connection" if reconnects else "")
    )


def run_list(runs: int) -> list[Result]:
    p50 = Result(LIST_P50, "ms", description=LIST_DESCRIPTIONS[LIST_P50])
    p99 = Result(LIST_P99, "ms", description=LIST_DESCRIPTIONS[LIST_P99])
    cpus = len(os.sched_getaffinity(0))
    listing: dict[str, list[_Round]] = {}
    pinging: dict[str, list[_Round]] = {}
    alone: dict[str, list[_Round]] = {}
    with apis() as found:
        for api in found:  # warm-up
            load(api, "/containers/json", CLIENTS, 2)
            load(api, "/_ping", CLIENTS, 10)
        for api in found:  # what one request costs with nothing else waiting
            alone[api.name] = [load(api, "/containers/json", 1, ALONE_REQUESTS)]
        for _ in range(runs):
            for api in found:
                measured = load(api, "/containers/json", CLIENTS, REQUESTS)
                listing.setdefault(api.name, []).append(measured)
                p50.samples.setdefault(api.name, []).append(percentile(measured.latencies, 50))
                p99.samples.setdefault(api.name, []).append(percentile(measured.latencies, 99))
        for _ in range(PING_ROUNDS):
            for api in found:
                pinging.setdefault(api.name, []).append(load(api, "/_ping", CLIENTS, PING_REQUESTS))
    notes = [f"GET containers/json: {_summary(n, r, cpus)}" for n, r in listing.items()]
    notes += [f"GET containers/json, 1 client: {_summary(n, r, cpus)}" for n, r in alone.items()]
    notes += [f"GET /_ping: {_summary(n, r, cpus)}" for n, r in pinging.items()]
    ping_rate = max(_rate(rounds) for rounds in pinging.values())
    list_rate = max(_rate(rounds) for rounds in listing.values())
    verdict = (
        "not the bottleneck"
        if ping_rate >= 3 * list_rate
        else "MAY BE THE BOTTLENECK (less than 3x the listing's rate)"
    )
    notes.append(
        f"load generator ({CLIENTS} threads, http.client over AF_UNIX, keep-alive): it drove"
        f" {ping_rate:.0f} req/s on /_ping, {ping_rate / list_rate:.1f}x the fastest"
        f" containers/json rate ({list_rate:.0f} req/s): {verdict}. Client and servers share"
        f" the host's {cpus} CPUs"
    )
    for api in found:
        notes += [note for note in api.notes if note]
    for result in (p50, p99):
        result.notes += notes
        _goal(result)
    return [p50, p99]


def run_scenario(name: str, runs: int) -> Result | list[Result]:
    return run_ps(runs) if name == PS else run_list(runs)
