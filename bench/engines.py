"""The container engines the container scenarios compare, side by side in one run: skiff,
Debian's docker.io (its own dockerd) and podman, each with a store of its own and
busybox:latest imported from one tar of Debian's busybox-static. Commands are started
with posix_spawn and their output discarded, so the measuring costs little."""

from __future__ import annotations

import itertools
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.core import unavailable
from bench.peers import Dockerd, Podman
from skiff.runtime.demo import busybox_rootfs

ALL = ("skiff", "docker", "podman")


@dataclass
class Engine:
    name: str
    prefix: list[str]  # the command line up to the verb, its binary an absolute path
    env: dict[str, str]
    base: str  # a directory that the engine's per-container host processes name
    description: str  # version and runtime, for the notes
    errors: str  # a directory for the commands' stderr, a file each
    # removes running containers at once: podman's `rm -f` waits for the stop timeout first
    force_remove: tuple[str, ...] = ("rm", "-f")
    failures: list[str] = field(default_factory=list)  # what the failed commands said
    serial: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        os.makedirs(self.errors, exist_ok=True)

    def command(self, *args: str) -> list[str]:
        return [*self.prefix, *args]

    def spawn(self, *args: str, through: tuple[str, ...] = ()) -> tuple[int, str]:
        """Start the command (``through`` a wrapper, such as time) with stdin and stdout on
        /dev/null; its pid and the file that gets its stderr."""
        stderr = os.path.join(self.errors, str(next(self.serial)))
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        ]
        argv = [*through, *self.command(*args)]
        return os.posix_spawn(argv[0], argv, self.env, file_actions=actions), stderr

    def finished(self, status: int, stderr: str, args: tuple[str, ...]) -> bool:
        """Whether the command (its wait status) succeeded; if not, what it said is kept."""
        with open(stderr, errors="replace") as f:
            said = f.read().strip().splitlines()
        os.unlink(stderr)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            self.failures.append(f"`{args[0]}` exit {code}: {said[-1] if said else ''}")
        return code == 0

    def attempt(self, *args: str) -> None:
        """Run the command to its end; a failure is kept in ``failures``."""
        pid, stderr = self.spawn(*args)
        self.finished(os.waitpid(pid, 0)[1], stderr, args)

    def check(self, *args: str) -> None:
        """Run the command to its end; RuntimeError if it failed."""
        pid, stderr = self.spawn(*args)
        if not self.finished(os.waitpid(pid, 0)[1], stderr, args):
            raise RuntimeError(f"{self.name} {' '.join(args)}: {self.failures.pop()}")

    def failure_notes(self, runs: int) -> list[str]:
        """A note on the runs that failed, if any did (their time is counted all the same)."""
        if not self.failures:
            return []
        said = "; ".join(f"{n} x {m}" for m, n in Counter(self.failures).most_common())
        return [f"{self.name}: {len(self.failures)} of {runs} runs failed: {said}"]

    def supports(self, verb: str) -> bool:
        command = self.command(verb, "--help")
        return subprocess.run(command, capture_output=True, env=self.env).returncode == 0

    def launch_together(self, *args: str, count: int) -> list[float]:
        """Start ``count`` copies of the command at once; each one's wall time in ms."""
        started: dict[int, tuple[int, str, float]] = {}  # pidfd -> pid, stderr, start
        for _ in range(count):
            start = time.perf_counter()
            pid, stderr = self.spawn(*args)
            started[os.pidfd_open(pid)] = (pid, stderr, start)
        walls = []
        poller = select.poll()
        for fd in started:
            poller.register(fd, select.POLLIN)
        while started:
            for fd, _ in poller.poll():
                pid, stderr, start = started.pop(fd)
                _, status = os.waitpid(pid, 0)
                walls.append((time.perf_counter() - start) * 1000)
                poller.unregister(fd)
                os.close(fd)
                self.finished(status, stderr, args)
        return walls


def _busybox_tar(work: Path) -> Path:
    rootfs = work / "busybox"
    busybox_rootfs(str(rootfs))
    tar = work / "busybox.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tar), "."], check=True)
    shutil.rmtree(rootfs)
    return tar


def _binary(name: str) -> str:
    """The command of this checkout's virtual environment (the one running the benchmark:
    not whatever skiff /usr/local/bin points to), else the one on PATH."""
    sibling = os.path.join(os.path.dirname(sys.executable), name)
    path = sibling if os.access(sibling, os.X_OK) else shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed (make setup)")
    return path


def _skiff(work: Path, tar: Path) -> Engine:
    base = work / "skiff"
    prefix = [_binary("skiff"), "--root", str(base / "root"), "--runroot", str(base / "run")]
    engine = Engine("skiff", prefix, dict(os.environ), str(base), "", str(work / "skiff-stderr"))
    engine.check("import", "-c", 'CMD ["sh"]', str(tar), "busybox:latest")
    conmon = subprocess.run(["conmon", "--version"], capture_output=True, text=True).stdout
    engine.description = f"skiff with skiff-runtime, {conmon.splitlines()[0]}"
    return engine


def _docker(dockerd: Dockerd, work: Path, tar: Path) -> Engine:
    prefix = [_binary("docker"), "-H", f"unix://{dockerd.socket}"]
    engine = Engine(
        "docker", prefix, dict(os.environ), str(dockerd.base), "", str(work / "docker-stderr")
    )
    engine.check("import", str(tar), "busybox:latest")
    network = (
        "its bridge and iptables rules" if dockerd.bridge else "--iptables=false --bridge=none"
    )
    engine.description = f"docker {dockerd.version()} (own dockerd, {network}, runc)"
    return engine


def _podman(stack: ExitStack, work: Path, tar: Path) -> Engine:
    """podman with crun, or runc where crun does not run containers here (crun 1.8.1
    refuses cgroups in hybrid mode)."""
    refusal = ""
    for runtime in ("crun", "runc"):
        podman = Podman(runtime)
        stack.callback(podman.stop)
        prefix = [_binary("podman"), *podman.command()[1:]]
        engine = Engine(
            "podman", prefix, podman.env, str(podman.base), "", str(work / "podman-stderr")
        )
        engine.force_remove = ("rm", "-f", "--time", "0")
        engine.check("import", str(tar), "localhost/busybox:latest")
        probe = podman.podman("run", "--rm", "--network", "none", "busybox", "true", check=False)
        if probe.returncode == 0:
            engine.description = f"podman {podman.version()} with {runtime}" + (
                f" (crun does not run here: {refusal})" if refusal else ""
            )
            return engine
        refusal = probe.stderr.decode(errors="replace").strip().splitlines()[-1]
    raise RuntimeError(f"podman runs no container here: {refusal}")


@contextmanager
def engines(names: tuple[str, ...] = ALL, bridge: bool = False) -> Iterator[list[Engine]]:
    """The engines named, ready, with busybox:latest; everything gone afterwards. With
    ``bridge``, dockerd has its default bridge and iptables rules (skiff and podman always
    have theirs)."""
    work = Path(tempfile.mkdtemp(prefix="skiff-bench-engines-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        tar = _busybox_tar(work)
        found = []
        for name in names:
            if name == "skiff":
                engine = _skiff(work, tar)
                stack.callback(_remove_skiff_store, engine)
            else:
                try:
                    engine = _peer(name, stack, work, tar, bridge)
                except RuntimeError as e:
                    unavailable(name, str(e).strip().splitlines()[-1])
                    continue
            found.append(engine)
        yield found


def _peer(name: str, stack: ExitStack, work: Path, tar: Path, bridge: bool) -> Engine:
    """docker or podman, ready; RuntimeError when it cannot run here."""
    if name == "docker":
        dockerd = Dockerd(bridge)
        stack.callback(dockerd.stop)
        engine = _docker(dockerd, work, tar)
        stack.callback(_remove_docker_containers, engine)
        return engine
    return _podman(stack, work, tar)


def _remove_skiff_store(engine: Engine) -> None:
    """Containers a failed scenario left, then the store (skiff has no daemon to stop)."""
    from skiff.engine.engine import Engine as SkiffEngine
    from skiff.paths import Paths

    skiff = SkiffEngine(Paths(os.path.join(engine.base, "root"), os.path.join(engine.base, "run")))
    for container in skiff.containers.all():
        skiff.remove(container.id, force=True)
    subprocess.run(["umount", "-R", engine.base], capture_output=True)
    shutil.rmtree(engine.base, ignore_errors=True)


def _remove_docker_containers(engine: Engine) -> None:
    ids = subprocess.run(engine.command("ps", "-aq"), capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(engine.command("rm", "-f", *ids), capture_output=True)
