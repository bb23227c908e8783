"""Pulling a ~300 MiB, 6-layer image from a registry on 127.0.0.1 and pushing it to one:
skiff, docker and podman (Debian's docker-registry, plain HTTP, filesystem storage).

The image (bench.imagegen: many small files, a few big ones) goes into a source registry
once, by skopeo from a docker-archive (which gzips the layers). ``pull``: each run pulls it
into an empty store (before each run the image is removed and the store pruned). ``push``:
each engine pushes the image it pulled from the source registry, every run to a registry of
its own, started for that run on a new port with a new data directory: nothing is there to
skip, and no engine knows a repository of that registry to mount a layer from, so every
layer is uploaded, by every engine (the notes say whether an engine's blobs are the ones it
pulled, or compressed anew). A push that says it skipped or mounted a layer anyway fails
the scenario.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.core import Contender, Result, measure_wall, unavailable
from bench.engines import _binary
from bench.imagegen import docker_archive
from bench.peers import Dockerd, Podman
from tests.support.registry import MANIFEST_TYPES, Registry

PULL = "pull"
PUSH = "push"
DESCRIPTIONS = {
    PULL: "pull a 305 MiB, 6-layer image (many small files, a few big ones; gzip layers)"
    " from a docker-registry on 127.0.0.1 into an empty store",
    PUSH: "push that image, as each engine pulled it, to a new, empty docker-registry on"
    " 127.0.0.1 (a fresh one every run: no layer is skipped or mounted)",
}
REPO = "bench/image"
LAYERS = 6
SMALL_FILES = 2000  # per layer, 1-24 KiB each
BIG_FILES = {1: 64, 3: 48, 5: 40}  # layer -> MiB
# What a push says of a layer it did not upload: Docker's (skiff's) and podman's words.
NOT_UPLOADED = ("Layer already exists", "Mounted from", "skipped: already exists")


@dataclass
class _Engine:
    name: str
    prefix: list[str]  # the command line up to the verb
    env: dict[str, str]
    insecure: tuple[str, ...] = ()  # what pull and push need for a plain-HTTP registry
    description: str = ""

    def run(self, *args: str) -> str:
        """Run the command to its end; its output (stdout and stderr), or RuntimeError."""
        result = subprocess.run(
            [*self.prefix, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=self.env,
            text=True,
            errors="replace",
        )
        if result.returncode != 0:
            said = (result.stderr.strip().splitlines() or [""])[-1]
            raise RuntimeError(f"{self.name} {' '.join(args)}: exit {result.returncode}: {said}")
        return result.stdout + result.stderr

    def pull(self, ref: str) -> None:
        self.run("pull", "-q", *self.insecure, ref)

    def push(self, ref: str) -> None:
        out = self.run("push", *self.insecure, ref)
        skipped = [line for line in out.splitlines() if any(s in line for s in NOT_UPLOADED)]
        if skipped:
            raise RuntimeError(f"{self.name} push {ref} did not upload every layer: {skipped}")

    def remove(self, ref: str) -> None:
        """The image gone and the store pruned: the next pull starts from nothing."""
        self.run("rmi", "-f", ref)
        self.run("image", "prune", "-a", "-f")

    def supports(self, verb: str) -> bool:
        command = [*self.prefix, verb, "--help"]
        return subprocess.run(command, capture_output=True, env=self.env).returncode == 0


class _FreshRegistry:
    """A new, empty registry (new port, new data directory) each time ``fresh`` is called;
    the one before is stopped and its data removed, once the layer digests of what was
    pushed to it are noted (in ``pushed``, by the engine that pushed)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.count = 0
        self.current: Registry | None = None
        self.owner = ""
        self.pushed: dict[str, list[str]] = {}

    def fresh(self, owner: str) -> Registry:
        self.close()
        self.count += 1
        self.current = Registry(self.base / f"push-{self.count}")
        self.owner = owner
        return self.current

    def close(self) -> None:
        if self.current is not None:
            accept = {"Accept": ", ".join(MANIFEST_TYPES)}
            answer = self.current.request("GET", f"/v2/{REPO}/manifests/latest", headers=accept)
            if answer.status == 200:
                layers = answer.json()["layers"]
                self.pushed[self.owner] = [layer["digest"] for layer in layers]
            self.current.close()
            shutil.rmtree(self.current.base, ignore_errors=True)
            self.current = None


def _layer_notes(source: list[str], pushed: dict[str, list[str]]) -> list[str]:
    """Whether each engine pushed the very layer blobs it pulled (kept, or compressed again
    to the same bytes), or other ones (compressed anew, otherwise)."""
    notes = []
    for name, digests in pushed.items():
        same = sum(a == b for a, b in zip(source, digests, strict=False))
        if same == len(source) == len(digests):
            notes.append(f"{name}: pushed the layer blobs it pulled, byte for byte")
        else:
            notes.append(
                f"{name}: pushed other layer blobs than it pulled, compressed anew"
                f" ({len(digests) - same} of {len(digests)} differ)"
            )
    return notes


def _version(argv: list[str]) -> str:
    """The last word of the command's output: skopeo's and docker-registry's version."""
    out = subprocess.run(argv, capture_output=True, text=True).stdout.split()
    return out[-1] if out else "unknown"


def _engines(stack: ExitStack, work: Path) -> list[_Engine]:
    """skiff, docker and podman, each with an empty store of its own."""
    # a DOCKER_CONFIG of their own, not ~/.docker (podman wants its config.json to exist)
    config = work / "docker-config"
    config.mkdir()
    (config / "config.json").write_text("{}\n")
    env = {**os.environ, "DOCKER_CONFIG": str(config)}
    root = work / "skiff"
    skiff = _Engine(
        "skiff",
        [_binary("skiff"), "--root", str(root / "root"), "--runroot", str(root / "run")],
        env,
    )
    dockerd = Dockerd()
    stack.callback(dockerd.stop)
    docker = _Engine("docker", [_binary("docker"), "-H", f"unix://{dockerd.socket}"], env)
    docker.description = f"docker {dockerd.version()} (own dockerd, overlay2)"
    peer = Podman()
    stack.callback(peer.stop)
    podman = _Engine(
        "podman",
        [_binary("podman"), *peer.command()[1:]],
        {**peer.env, "DOCKER_CONFIG": env["DOCKER_CONFIG"]},
        insecure=("--tls-verify=false",),
    )
    podman.description = f"podman {peer.version()} (overlay)"
    return [skiff, docker, podman]


def _available(engines: list[_Engine], ref: str, verb: str) -> list[_Engine]:
    """The engines that pull ``ref`` (and have ``verb``); the others are unavailable (n/a).
    Those that take part keep the image."""
    taking_part = []
    for engine in engines:
        if not engine.supports(verb):
            unavailable(engine.name, f"no `{verb}` command")
            continue
        try:
            engine.pull(ref)
        except RuntimeError as e:
            unavailable(engine.name, str(e))
            continue
        taking_part.append(engine)
    return taking_part


def _size_mib(paths: list[Path]) -> int:
    return sum(os.path.getsize(p) for p in paths) >> 20


def run_scenario(name: str, runs: int) -> Result:
    work = Path(tempfile.mkdtemp(prefix="skiff-bench-registry-"))
    stack = ExitStack()
    stack.callback(shutil.rmtree, work, ignore_errors=True)
    try:
        archive = docker_archive(work, f"{REPO}:latest", LAYERS, SMALL_FILES, BIG_FILES)
        source = Registry(work / "source")
        stack.callback(source.close)
        ref = f"{source.address}/{REPO}:latest"
        source.push_archive(archive, f"{REPO}:latest")
        blobs = [p for p in (work / "source" / "data").rglob("data") if p.is_file()]
        sizes = f"{_size_mib([archive])} MiB as a docker-archive, {_size_mib(blobs)} MiB gzipped"
        archive.unlink()

        engines = _available(_engines(stack, work), ref, name)
        registries = _FreshRegistry(work / "push")
        stack.callback(registries.close)
        if name == PULL:
            for engine in engines:
                engine.remove(ref)
            contenders = [
                Contender(e.name, lambda e=e: e.pull(ref), reset=lambda e=e: e.remove(ref))
                for e in engines
            ]
        else:
            targets: dict[str, str] = {}

            def new_target(engine: _Engine) -> None:
                """A fresh registry, and the pulled image tagged for it (the last tag gone)."""
                if engine.name in targets:
                    engine.run("rmi", targets[engine.name])
                target = f"{registries.fresh(engine.name).address}/{REPO}:latest"
                engine.run("tag", ref, target)
                targets[engine.name] = target

            contenders = [
                Contender(
                    e.name, lambda e=e: e.push(targets[e.name]), reset=lambda e=e: new_target(e)
                )
                for e in engines
            ]
        result = measure_wall(name, contenders, runs, warmup=1)
        result.notes += [e.description for e in engines if e.description]
        result.notes.append(
            f"image: {LAYERS} layers, {sizes} (skopeo {_version(['skopeo', '--version'])}"
            f" copied it from the archive to docker-registry"
            f" {_version(['docker-registry', '--version'])})"
        )
        if name == PUSH:
            registries.close()
            layers = source.manifest(REPO, "latest").json()["layers"]
            result.notes += _layer_notes([layer["digest"] for layer in layers], registries.pushed)
            result.notes.append(
                "each engine pushes the image it pulled; every run to a registry started for"
                " it (new port, new data directory): every layer is uploaded"
            )
        return result
    finally:
        stack.close()
