"""skiff pull through a fault-injecting proxy (tests/support/faulty_proxy.py) in front of a
real registry (Debian's docker-registry on 127.0.0.1): answers of 429 and 5xx are retried
with backoff (429's Retry-After honoured), a blob whose body is cut short is resumed with a
Range request, even by the next pull, a corrupted blob is refused and nothing of it is
kept, and a pull killed with SIGKILL in the middle of a download leaves nothing that a new
pull or ``system prune -af`` does not clean up.

The image is busybox's root filesystem and a layer of 4 MiB of random bytes (which gzip
does not shrink): the blob that the proxy cuts, corrupts or slows.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.test_pull import blob_files, partial_files
from tests.support.cli import SKIFF, Skiff
from tests.support.engine import remove_all_containers
from tests.support.faulty_proxy import FaultyProxy, Logged
from tests.support.images import docker_archive, layer_tar
from tests.support.registry import Registry

BIG = 4 << 20  # the random layer's file size


@dataclass
class Image:
    registry: Registry
    repo: str  # library/busybox
    tag: str
    image_id: str
    layers: list[str]  # the layer blobs' digests, in order
    big: str  # the digest of the random layer's blob
    big_bytes: bytes = field(repr=False)  # that blob, as the registry has it (gzip)

    def ref(self, proxy: FaultyProxy) -> str:
        return f"{proxy.address}/{self.repo}:{self.tag}"

    @property
    def big_path(self) -> str:
        """A regular expression for the path of the random layer's blob."""
        return f"/blobs/{self.big}$"


@pytest.fixture(scope="module")
def image(rootfs_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    """A registry of the module's, holding library/busybox:1: busybox and a random layer."""
    base = tmp_path_factory.mktemp("faults")
    with Registry(base / "registry") as registry:
        archive = base / "image.tar"
        random_layer = layer_tar({"random.bin": os.urandom(BIG)})
        [image_id] = docker_archive(
            archive, [([rootfs_tar.read_bytes(), random_layer], ["busybox:1"])]
        )
        digest = registry.push_archive(archive, "library/busybox:1")
        manifest = registry.manifest("library/busybox", digest).json()
        layers = [layer["digest"] for layer in manifest["layers"]]
        sizes = {layer["digest"]: layer["size"] for layer in manifest["layers"]}
        big = max(layers, key=lambda d: sizes[d])
        big_bytes = registry.blob("library/busybox", big)
        assert len(big_bytes) > BIG, "the random layer should not compress"
        yield Image(registry, "library/busybox", "1", image_id, layers, big, big_bytes)
        assert registry.process.poll() is None, f"the registry died: {registry.log()}"


@pytest.fixture
def proxy(image: Image) -> Iterator[FaultyProxy]:
    with FaultyProxy(image.registry) as running:
        yield running


@pytest.fixture
def other(tmp_path: Path) -> Iterator[Skiff]:
    """An empty store that pulls; its temporary files go to a TMPDIR of its own, and
    neither ~/.docker nor its credentials are read."""
    cli = Skiff(tmp_path / "other")
    cli.env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    temp = tmp_path / "other" / "tmp"
    temp.mkdir(parents=True)
    cli.env["TMPDIR"] = str(temp)
    yield cli
    leftovers = remove_all_containers(cli)
    for image_id in set(cli("images", "-aq").out.split()):
        cli("rmi", "-f", image_id)
    assert not leftovers, "\n".join(leftovers)


# --- the store --------------------------------------------------------------------------


def files_under(cli: Skiff, name: str) -> list[Path]:
    top = cli.root / name
    return sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else []


def layer_dirs(cli: Skiff) -> list[str]:
    layers = cli.root / "layers"
    return sorted(p.name for p in layers.iterdir()) if layers.is_dir() else []


def assert_empty_store(cli: Skiff, kept: tuple[str, ...] = ()) -> None:
    """No image, no blob, no layer, no download and nothing in progress; except the
    partial downloads of the blobs ``kept`` (digests), which a pull may keep to resume."""
    allowed = {digest.replace(":", "-") for digest in kept}
    found = {
        "images": cli.ok("images", "-aq").split(),
        "blobs": blob_files(cli),
        "layers": layer_dirs(cli),
        "downloads": [str(p) for p in files_under(cli, "downloads") if p.name not in allowed],
        "partial": partial_files(cli),
    }
    assert found == {name: [] for name in found}


def assert_pulled(cli: Skiff, image: Image, ref: str) -> None:
    """The image is in the store, complete, and nothing of the pull is left over."""
    assert cli.ok("image", "inspect", "--format", "{{.Id}}", ref).strip() == image.image_id
    assert partial_files(cli) == []
    assert files_under(cli, "downloads") == []


def pull_ok(cli: Skiff, ref: str) -> float:
    """``skiff pull -q`` succeeds; how long it took."""
    started = time.monotonic()
    result = cli("pull", "-q", ref, timeout=120)
    elapsed = time.monotonic() - started
    assert result.code == 0, result
    assert result.out == f"{ref}\n", result
    assert result.err == "", result
    return elapsed


def pull_fails(cli: Skiff, ref: str) -> str:
    """``skiff pull`` fails with exit code 1 and one line ``Error: ...``; that line."""
    result = cli("pull", ref, timeout=120)
    assert result.code == 1, result
    assert result.err.startswith("Error: "), result
    assert result.err.endswith("\n"), result
    assert len(result.err.splitlines()) == 1, result
    return result.err.rstrip("\n")


def layer_gets(proxy: FaultyProxy, image: Image) -> dict[str, list[Logged]]:
    return {layer: proxy.requests(f"/blobs/{layer}$", "GET") for layer in image.layers}


# --- the proxy ----------------------------------------------------------------------------


def test_a_pull_through_the_proxy_gets_each_blob_once(
    other: Skiff, image: Image, proxy: FaultyProxy
):
    ref = image.ref(proxy)
    pull_ok(other, ref)
    assert_pulled(other, image, ref)
    log = proxy.requests()
    assert [e.path for e in log if "/manifests/" in e.path] == [
        f"/v2/{image.repo}/manifests/{image.tag}"
    ], log
    for layer, gets in layer_gets(proxy, image).items():
        assert [(e.status, e.range, e.fault) for e in gets] == [(200, None, "")], (layer, log)
    [big] = proxy.requests(image.big_path)
    assert big.sent == big.length == len(image.big_bytes)
    assert all(e.status == 200 and not e.fault for e in log), log
    assert other.ok("run", "--rm", ref, "echo", "hi") == "hi\n"


def test_the_proxy_keeps_connections_alive_and_injects_faults(image: Image, proxy: FaultyProxy):
    """The proxy itself, through http.client: what the tests below rely on."""
    blob = f"/v2/{image.repo}/blobs/{image.big}"
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
    try:
        for _ in range(2):  # the same connection, kept alive
            connection.request("GET", blob)
            response = connection.getresponse()
            assert response.status == 200
            assert response.read() == image.big_bytes

        proxy.fail(429, count=1, path=r"/blobs/", retry_after=1)
        connection.request("GET", blob)
        response = connection.getresponse()
        assert (response.status, response.getheader("Retry-After")) == (429, "1")
        assert json.loads(response.read())["errors"][0]["code"] == "TOOMANYREQUESTS"

        proxy.corrupt(count=1, path=r"/blobs/")
        connection.request("GET", blob)
        response = connection.getresponse()
        body = response.read()
        differing = [
            i for i, (a, b) in enumerate(zip(body, image.big_bytes, strict=True)) if a != b
        ]
        assert differing == [len(body) // 2]

        proxy.cut(at=1000, count=1, path=r"/blobs/")
        connection.request("GET", blob, headers={"Range": "bytes=10-"})
        response = connection.getresponse()
        assert response.status == 206
        assert response.getheader("Content-Length") == str(len(image.big_bytes) - 10)
        with pytest.raises(http.client.IncompleteRead) as cut:
            response.read()
        assert cut.value.partial == image.big_bytes[10:1010]
    finally:
        connection.close()
    log = proxy.requests()
    assert [(e.status, e.fault, e.connection) for e in log] == [
        (200, "", 1),
        (200, "", 1),
        (429, "status", 1),
        (200, "corrupt", 1),
        (206, "cut", 1),
    ]
    assert log[-1].range == "bytes=10-"
    assert log[-1].range_start == 10
    assert log[-1].sent == 1000


# --- 429 and 5xx --------------------------------------------------------------------------


def test_503_on_blob_gets_are_retried(other: Skiff, image: Image, proxy: FaultyProxy):
    proxy.fail(503, count=2, path=r"/blobs/sha256:")
    ref = image.ref(proxy)
    pull_ok(other, ref)
    assert_pulled(other, image, ref)
    log = proxy.requests(r"/blobs/sha256:", "GET")
    refused = [e for e in log if e.status == 503]
    assert len(refused) == 2, log
    # each refused GET was made again, and then answered
    for entry in refused:
        later = [e for e in log if e.path == entry.path and e.start > entry.start]
        assert later, (entry, log)
        assert later[-1].status == 200, log
        assert later[0].start - entry.end >= 0.1, ("no backoff", entry, later[0])
    # a blob is asked for again only when it was refused
    for path in {e.path for e in log}:
        gets = [e for e in log if e.path == path]
        assert [e.status for e in gets] == [503] * (len(gets) - 1) + [200], gets


def test_429_retry_after_is_honoured(other: Skiff, image: Image, proxy: FaultyProxy):
    proxy.fail(429, count=1, path=r"/manifests/", retry_after=1)
    ref = image.ref(proxy)
    elapsed = pull_ok(other, ref)
    assert_pulled(other, image, ref)
    assert elapsed >= 1.0
    first, second = proxy.requests(r"/manifests/")
    assert (first.status, first.fault) == (429, "status")
    assert second.status == 200
    # asked again after Retry-After's second, not after the first backoff (0.2 s)
    assert second.start - first.end >= 0.95, (first, second)


def test_500_on_every_manifest_get_fails_and_leaves_nothing(
    other: Skiff, image: Image, proxy: FaultyProxy
):
    proxy.fail(500, count=1000, path=r"/manifests/")
    ref = image.ref(proxy)
    started = time.monotonic()
    line = pull_fails(other, ref)
    elapsed = time.monotonic() - started
    assert "500" in line or "Internal Server Error" in line or "injected" in line, line
    gets = proxy.requests(r"/manifests/")
    # retried, with backoff, five attempts at most
    assert 2 <= len(gets) <= 5, gets
    assert all(e.status == 500 for e in gets), gets
    gaps = [b.start - a.end for a, b in itertools.pairwise(gets)]
    assert all(gap >= 0.1 for gap in gaps), gaps
    assert elapsed < 15, elapsed
    assert proxy.requests(r"/blobs/") == []
    assert_empty_store(other)


# --- a blob cut short -------------------------------------------------------------------


def test_a_cut_blob_is_resumed_with_a_range_request(other: Skiff, image: Image, proxy: FaultyProxy):
    cut = (1 << 20) + 12345
    proxy.cut(at=cut, count=1, path=image.big_path)
    ref = image.ref(proxy)
    pull_ok(other, ref)
    assert_pulled(other, image, ref)
    first, *rest = proxy.requests(image.big_path, "GET")
    assert (first.range, first.status, first.fault, first.sent) == (None, 200, "cut", cut)
    assert first.length == len(image.big_bytes)
    # the next GET asks for what is missing, and nothing more is asked
    assert [(e.range, e.status) for e in rest] == [(f"bytes={cut}-", 206)], rest
    assert rest[0].sent == len(image.big_bytes) - cut
    assert other.ok("run", "--rm", ref, "echo", "hi") == "hi\n"


def test_a_blob_cut_on_every_attempt_fails_then_the_next_pull_resumes(
    other: Skiff, image: Image, proxy: FaultyProxy
):
    cut = (1 << 20) + 4321
    # no answer gets past byte `cut` of the blob, however it is asked for
    proxy.cut(at=cut, count=1000, path=image.big_path, absolute=True)
    ref = image.ref(proxy)
    line = pull_fails(other, ref)
    assert "unexpected EOF" in line, line
    gets = proxy.requests(image.big_path, "GET")
    assert 2 <= len(gets) <= 5, gets
    assert gets[0].range is None, gets
    # each retry resumes where the bytes stopped
    assert [e.range for e in gets[1:]] == [f"bytes={cut}-"] * (len(gets) - 1), gets
    assert other.ok("images", "-aq") == ""
    assert layer_dirs(other) == []
    assert files_under(other, "ingest") == []
    # the bytes received are kept, for the next pull
    kept = [p for p in files_under(other, "downloads") if p.stat().st_size == cut]
    assert [p.read_bytes() == image.big_bytes[:cut] for p in kept] == [True], files_under(
        other, "downloads"
    )

    proxy.clear()
    proxy.reset_log()
    pull_ok(other, ref)
    assert_pulled(other, image, ref)
    gets = proxy.requests(image.big_path, "GET")
    assert [(e.range, e.status) for e in gets] == [(f"bytes={cut}-", 206)], gets
    assert other.ok("run", "--rm", ref, "echo", "hi") == "hi\n"


# --- a corrupted blob ---------------------------------------------------------------------


def test_a_corrupted_blob_fails_and_nothing_of_it_is_kept(
    other: Skiff, image: Image, proxy: FaultyProxy
):
    proxy.corrupt(count=1, path=image.big_path)
    ref = image.ref(proxy)
    line = pull_fails(other, ref)
    assert "verification failed" in line or "digest" in line, line
    [corrupted] = proxy.requests(image.big_path, "GET")
    assert (corrupted.fault, corrupted.sent) == ("corrupt", len(image.big_bytes))
    # nothing of the corrupted blob; the other layer's download, stopped by the failure
    # half way if it was not done, may stay for the next pull to resume
    others = tuple(layer for layer in image.layers if layer != image.big)
    assert_empty_store(other, kept=others)

    proxy.reset_log()
    pull_ok(other, ref)
    assert_pulled(other, image, ref)
    # from byte 0: nothing of the corrupted body was kept to resume from
    assert [(e.range, e.status) for e in proxy.requests(image.big_path, "GET")] == [(None, 200)]


# --- a pull killed ------------------------------------------------------------------------


def kill_mid_download(other: Skiff, image: Image, proxy: FaultyProxy, tmp_path: Path) -> int:
    """Start ``skiff pull``, the random layer trickling at 1 MiB/s (about 4 s), and kill it
    with SIGKILL once 1.25 MiB of that blob are sent; the bytes sent by then. The proxy is
    then without faults and its log empty."""
    proxy.slow(rate=1 << 20, path=image.big_path)
    with open(tmp_path / "killed.out", "wb") as out:
        process = other.popen(
            "pull", image.ref(proxy), stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 30
        while proxy.sent(image.big_path) < (1 << 20) + (256 << 10):
            assert process.poll() is None, (tmp_path / "killed.out").read_text()
            assert time.monotonic() < deadline, proxy.requests()
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
    assert process.returncode == -signal.SIGKILL
    sent = proxy.sent(image.big_path)
    assert sent < len(image.big_bytes)
    proxy.clear()
    proxy.reset_log()
    return sent


def test_a_pull_killed_mid_download_is_completed_by_the_next_pull(
    other: Skiff, image: Image, proxy: FaultyProxy, tmp_path: Path
):
    sent = kill_mid_download(other, image, proxy, tmp_path)
    assert other.ok("images", "-aq") == ""

    ref = image.ref(proxy)
    pull_ok(other, ref)
    first = proxy.requests(image.big_path, "GET")[0]
    # it may resume, from no further than the bytes that were sent
    if first.range is not None:
        start = first.range_start
        assert start is not None and 0 < start <= sent, (first, sent)
        assert first.status == 206
    assert other.ok("run", "--rm", ref, "echo", "hi") == "hi\n"
    assert_pulled(other, image, ref)


def test_prune_after_a_killed_pull_and_a_new_one_leaves_an_empty_store(
    other: Skiff, image: Image, proxy: FaultyProxy, tmp_path: Path
):
    kill_mid_download(other, image, proxy, tmp_path)
    ref = image.ref(proxy)
    pull_ok(other, ref)
    assert other.inspect(ref)["Id"] == image.image_id
    other.ok("system", "prune", "-af")
    assert_empty_store(other)


# --- progress on a terminal -------------------------------------------------------------


def test_pull_on_a_terminal_draws_a_progress_bar_per_layer(
    other: Skiff, image: Image, proxy: FaultyProxy
):
    """On a terminal, a layer that takes a while to download shows Docker's bar (rich
    redraws it in place); the lines end with each layer's last status."""
    from tests.support.terminal import Terminal

    proxy.slow(rate=2 << 20, path=image.big_path)  # the random layer takes about 2 s
    ref = image.ref(proxy)
    short = image.big[7:19]
    terminal = Terminal([SKIFF, "pull", ref], other.env, rows=30, cols=120)
    try:
        bar = terminal.expect(
            rb"%s: Downloading \[=*>? *\] +[0-9.]+[kM]B/[0-9.]+MB" % short.encode(), timeout=30
        )
        assert bar
        terminal.expect(rb"%s: Pull complete" % short.encode(), timeout=30)
        terminal.expect(rb"Status: Downloaded newer image for " + ref.encode(), timeout=30)
        assert terminal.process.wait(30) == 0
    finally:
        proxy.clear()
        if terminal.process.poll() is None:
            terminal.process.kill()
            terminal.process.wait()
    assert_pulled(other, image, ref)
