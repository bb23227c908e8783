"""Load: 100 ``run --rm`` at once, half through ``skiff serve``'s Engine API (docker-py,
as ``docker run --rm`` drives dockerd), half through the ``skiff`` command, on the same
store; half on the default bridge (IP leases, veth pairs, the lease lock), half with
``--network none``. A round of warm-up, then two rounds measured.

Every run must print what it was given and exit with its own code (0 to 99). After each
round nothing of them may be left: no container, no monitor or runtime process, no IP
lease, no mount, cgroup or interface (the autouse leak fixture checks the whole host), and
skiff serve must be back where it was: its open fds, and its memory within a bound (see
``RSS_GROWTH``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from skiff.api.http import WORKERS
from tests.support.cli import Skiff
from tests.support.engine import network_leftovers, processes_mentioning
from tests.support.server_process import ServerProcess

API_RUNS = 50
CLI_RUNS = 50
TIMEOUT = 90  # seconds for one run: far above what one takes with the other 99 alongside
SETTLE = 15  # seconds for the last exit commands and the server's threads to finish
# skiff serve's open fds other than the state database's after each round, beyond those
# before the load (after a round of warm-up): a socket still closing, not one per run.
FD_SLACK = 8
# The state database's fds are bounded, not constant. Open connections (each holds the
# log, skiff.db-wal, open): two per engine, an engine per thread of the pool (WORKERS) and
# as many kept for log streams (skiff.api.http._spare_engines). A connection left open per
# run would pass this in the first round.
CONNECTIONS_MAX = 2 * 2 * WORKERS
# The database file itself: once per connection, and SQLite keeps the fd of a connection
# closed while others hold the file locked (WAL readers always do) for the next one it
# opens: at most one per stream engine beyond those kept, two streams per docker-py run.
DATABASE_FDS_MAX = CONNECTIONS_MAX + 2 * 2 * API_RUNS + 1
# RSS of skiff serve after the two rounds over what it was after the warm-up round (which
# imported what the load needs and started the pool's threads): +3 to +6 MiB here, the
# allocator's arenas and the stacks of the stream threads that glibc caches. 16 MiB is
# 80 KiB a run: what one run holds in the server while it lasts (a thread and its stack,
# a log stream's buffers, the aiohttp request and response) kept for good would pass it.
# Smaller leaks need more runs than a test can make: the cycle soak (bench/soak.py) looks
# for them over thousands.
RSS_GROWTH = 16 << 20
# and of the second round over the first (+0.6 to +4 MiB here): a leak grows every round.
SECOND_ROUND_GROWTH = 8 << 20


class Serve(ServerProcess):
    """``skiff serve`` over ``skiff``'s store on a socket under /tmp (a unix socket's path
    is short)."""

    def __init__(self, skiff: Skiff) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="skiff-load-"))
        self.socket = self.base / "api.sock"
        super().__init__(
            skiff,
            ["serve", "-H", f"unix://{self.socket}"],
            "API listening",
            self.base / "serve.log",
        )
        self.start()

    def fds(self) -> list[str]:
        fd_dir = f"/proc/{self.process.pid}/fd"
        found = []
        for name in os.listdir(fd_dir):
            try:
                found.append(os.readlink(f"{fd_dir}/{name}"))
            except FileNotFoundError:  # closed meanwhile
                pass
        return sorted(found)

    def rss(self) -> int:
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("skiff serve has no VmRSS")

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/task"))

    def client(self, connections: int = 10) -> Any:
        import docker

        return docker.DockerClient(
            base_url=f"unix://{self.socket}", timeout=TIMEOUT, max_pool_size=connections
        )


@pytest.fixture
def serve(skiff: Skiff, busybox: str) -> Iterator[Serve]:
    server = Serve(skiff)
    try:
        yield server
    finally:
        code = server.stop()
        print(f"--- skiff serve (exit {code}) ---\n{server.log()}--- end ---")
        shutil.rmtree(server.base, ignore_errors=True)
    assert code == 0, f"skiff serve exited {code} on SIGTERM"


def _script(token: str, code: int) -> list[str]:
    """A command that says ``token`` on stdout and on stderr, then exits ``code``."""
    return ["sh", "-c", f"echo {token}; echo {token} >&2; exit {code}"]


def _bridge(i: int) -> bool:
    """Even runs on the default network (the bridge: nothing asked), odd ones on none."""
    return i % 2 == 0


def _via_api(serve: Serve, i: int, start: threading.Barrier) -> str | None:
    """``docker run --rm`` as docker-py does it (create, logs, wait, remove): what went
    wrong, if anything. It returns the stdout of a run that exited 0; its ContainerError
    for another exit code carries the code and the stderr."""
    import docker

    token, code = f"api-{i}-{os.urandom(4).hex()}", i
    network = {} if _bridge(i) else {"network_mode": "none"}
    client = serve.client()
    try:
        start.wait()
        try:
            out = client.containers.run("busybox", _script(token, code), remove=True, **network)
            got = (0, out.decode())
        except docker.errors.ContainerError as e:
            got = (e.exit_status, (e.stderr or b"").decode())
        except Exception as e:
            got = (None, f"{type(e).__name__}: {e}")
    finally:
        client.close()
    if got == (code, f"{token}\n"):
        return None
    where = "bridge" if _bridge(i) else "none"
    return f"api #{i} ({where}): exit {got[0]}, said {got[1]!r}, not exit {code}, {token!r}"


def _via_cli(skiff: Skiff, i: int, start: threading.Barrier) -> str | None:
    """``skiff run --rm``: what went wrong, if anything."""
    token, code = f"cli-{i}-{os.urandom(4).hex()}", API_RUNS + i
    network = () if _bridge(i) else ("--network", "none")
    start.wait()
    try:
        result = skiff("run", "--rm", *network, "busybox", *_script(token, code), timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"cli #{i}: still running after {TIMEOUT} s"
    if (result.code, result.out, result.err) == (code, f"{token}\n", f"{token}\n"):
        return None
    where = "bridge" if _bridge(i) else "none"
    return f"cli #{i} ({where}): {result}, not exit {code} saying {token!r} on both streams"


def _load(skiff: Skiff, serve: Serve) -> tuple[list[str], float]:
    """The 100 runs at once (their exit codes 0 to 99); what went wrong with any of them,
    and the wall time."""
    start = threading.Barrier(API_RUNS + CLI_RUNS)
    with ThreadPoolExecutor(API_RUNS + CLI_RUNS) as pool:
        began = time.monotonic()
        runs = [pool.submit(_via_api, serve, i, start) for i in range(API_RUNS)]
        runs += [pool.submit(_via_cli, skiff, i, start) for i in range(CLI_RUNS)]
        problems = [problem for run in runs if (problem := run.result()) is not None]
        wall = time.monotonic() - began
    return problems, wall


def _kind(target: str) -> str:
    """An fd's target without what differs between fds of a kind (socket:[INODE])."""
    return target.split(":[", 1)[0] if target.endswith("]") else target


def _settled(skiff: Skiff) -> list[str]:
    """The monitors, exit commands and runtimes of the store once they have finished
    (they outlive a ``run --rm`` by a moment), or those still there after SETTLE s."""
    deadline = time.monotonic() + SETTLE
    while (left := processes_mentioning(str(skiff.runroot))) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _warm_up(skiff: Skiff, serve: Serve) -> None:
    """A round of the load first: modules imported, the bridge made, and every thread of
    the server's pool started with its Engine (two connections to the state database,
    each with the database and its log open: 128 fds that stay)."""
    problems, _ = _load(skiff, serve)
    assert not problems, "warm-up: " + "\n".join(problems)
    assert not _settled(skiff)


@dataclass
class Figures:
    """skiff serve's open fds (their targets, the state database's apart) and RSS."""

    database: list[str]
    others: list[str]
    rss: int

    @classmethod
    def of(cls, skiff: Skiff, serve: Serve) -> Figures:
        """After a second (the connections the clients closed are closed), and after a
        request that reads the database: SQLite closes at an unlock the fds that it kept
        of connections closed while others held the file locked."""
        import docker

        time.sleep(1)
        client = serve.client()
        try:
            with pytest.raises(docker.errors.NotFound):
                client.api.inspect_container("no-such-container")
        finally:
            client.close()
        time.sleep(0.2)
        fds = serve.fds()
        database = [fd for fd in fds if fd.startswith(str(skiff.root / "skiff.db"))]
        return cls(database, [fd for fd in fds if fd not in database], serve.rss())

    def connections(self) -> int:
        return sum(1 for fd in self.database if fd.endswith("-wal"))

    def grown_since(self, before: Figures) -> Counter[str]:
        return Counter(map(_kind, self.others)) - Counter(map(_kind, before.others))


def test_100_run_rm_at_once_through_the_api_and_the_cli(skiff: Skiff, serve: Serve) -> None:
    _warm_up(skiff, serve)
    before = Figures.of(skiff, serve)
    rounds = []
    for round in (1, 2):
        problems, wall = _load(skiff, serve)
        assert not problems, f"round {round}: {len(problems)} of 100 runs failed:\n" + "\n".join(
            problems
        )
        left = _settled(skiff)
        assert not left, f"round {round}: processes left behind:\n" + "\n".join(left)
        assert skiff.ok("ps", "-a", "-q") == ""
        assert network_leftovers(skiff) == []
        after = Figures.of(skiff, serve)
        rounds.append(after)
        print(
            f"round {round}: 100 runs in {wall:.1f} s; skiff serve: fds {len(before.others)}"
            f" -> {len(after.others)}, of the database {len(before.database)} ->"
            f" {len(after.database)} ({after.connections()} connections),"
            f" RSS {before.rss / 2**20:.1f} -> {after.rss / 2**20:.1f} MiB,"
            f" {serve.threads()} threads"
        )
        assert len(after.others) <= len(before.others) + FD_SLACK, (
            f"round {round}: fds of skiff serve grew: {after.grown_since(before)}"
        )
        assert after.connections() <= CONNECTIONS_MAX, Counter(after.database)
        assert len(after.database) <= DATABASE_FDS_MAX, Counter(after.database)
    first, second = rounds
    assert second.rss - before.rss <= RSS_GROWTH
    assert second.rss - first.rss <= SECOND_ROUND_GROWTH
