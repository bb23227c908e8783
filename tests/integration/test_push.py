"""skiff push (and push -a), pull -a and the implicit pull of run/create (--pull) against a
real registry (Debian's docker-registry on 127.0.0.1), with Docker's output, messages and
exit codes (dockerd 20.10's classic image store and the docker CLI 28).

An image goes into the registry by ``skiff push`` from one store and comes back into a
second, empty store by ``skiff pull`` or by a ``run`` that needs it: the image that comes
back is the one pushed (same ID, same files).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import http.server
import json
import os
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import Skiff
from tests.support.engine import remove_all_containers
from tests.support.images import docker_archive, layer_tar
from tests.support.registry import MANIFEST_V2, Registry, unused_address

LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"

# What Docker prints about a layer it pulls when its output is not a terminal.
PULL_STATUSES = {
    "Pulling fs layer",
    "Waiting",
    "Verifying Checksum",
    "Download complete",
    "Already exists",
    "Pull complete",
}

BIG = 40 << 20  # the random file of the image whose layer is uploaded in chunks


@pytest.fixture(autouse=True)
def docker_config(skiff: Skiff, tmp_path: Path) -> Path:
    """DOCKER_CONFIG of the test's own: the credentials of ~/.docker are neither read nor
    written."""
    path = tmp_path / "docker-config"
    skiff.env["DOCKER_CONFIG"] = str(path)
    return path


@pytest.fixture
def other(tmp_path: Path, docker_config: Path) -> Iterator[Skiff]:
    """A second, empty store that pulls; its temporary files go to a TMPDIR of its own."""
    cli = Skiff(tmp_path / "other")
    cli.env["DOCKER_CONFIG"] = str(docker_config)
    temp = tmp_path / "other" / "tmp"
    temp.mkdir(parents=True)
    cli.env["TMPDIR"] = str(temp)
    yield cli
    leftovers = remove_all_containers(cli)
    for image in set(cli("images", "-aq").out.split()):
        cli("rmi", "-f", image)
    assert not leftovers, "\n".join(leftovers)


def diff_ids(cli: Skiff, image: str) -> list[str]:
    return list(cli.inspect(image)["RootFS"]["Layers"])


def short(digest: str) -> str:
    """The 12 hex digits Docker shows of a layer."""
    return digest.partition(":")[2][:12]


def digest_line(tag: str, registry: Registry, repo: str) -> str:
    """Docker's last line of a push: the manifest's digest and size, as the registry has
    them."""
    manifest = registry.manifest(repo, tag)
    return f"{tag}: digest: {manifest.headers['docker-content-digest']} size: {len(manifest.body)}"


def layer_lines(lines: list[str]) -> list[tuple[str, str]]:
    """(short ID, status) of every line about a layer."""
    found = []
    for line in lines:
        match = re.fullmatch(r"([0-9a-f]{12}): (.+)", line)
        if match:
            found.append((match[1], match[2]))
    return found


def push_lines(layers: list[str], status: str, last: str) -> list[str]:
    """A push's lines for one tag (after "The push refers to..."): each layer Preparing,
    the top one first as Docker lists them, then each with ``status``, then ``last``. With
    more than one layer the statuses come in the order the (concurrent) uploads end:
    ``assert_pushed`` compares those sorted."""
    top_first = [short(d) for d in reversed(layers)]
    return [f"{s}: Preparing" for s in top_first] + [f"{s}: {status}" for s in top_first] + [last]


def assert_pushed(out: str, name: str, layers: list[str], status: str, last: str) -> None:
    lines = out.splitlines()
    assert lines[0] == f"The push refers to repository [{name}]", out
    expected = push_lines(layers, status, last)
    n = len(layers)
    # every Preparing before any status, in Docker's order; the digest line last
    assert lines[1 : 1 + n] == expected[:n], out
    assert sorted(lines[1 + n : 1 + 2 * n]) == sorted(expected[n : 2 * n]), out
    assert lines[1 + 2 * n :] == [last], out


def images_table(cli: Skiff) -> str:
    """``images --digests`` without the CREATED column (which ages between two calls)."""
    return cli.ok(
        "images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}} {{.ID}} {{.Size}}"
    )


def big_image(tmp_path: Path, rootfs_tar: Path) -> tuple[Path, str, bytes]:
    """A docker-archive of big:1: busybox's root filesystem and a layer holding /big,
    ``BIG`` random bytes (which gzip does not shrink); (archive, image ID, /big's bytes)."""
    archive = tmp_path / "big.tar"
    content = os.urandom(BIG)
    [image_id] = docker_archive(
        archive, [([rootfs_tar.read_bytes(), layer_tar({"big": content})], ["big:1"])]
    )
    return archive, image_id, content


@dataclass
class Seen:
    method: str
    path: str
    status: int
    length: int  # the request body's


class LoggingProxy:
    """An HTTP reverse proxy on 127.0.0.1 in front of a registry that notes every request
    (its method, path, answer and body size) and changes nothing; a TLS ClientHello (skiff
    tries HTTPS first on loopback) is answered 400 and the connection closed."""

    HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}

    def __init__(self, registry: Registry) -> None:
        self.seen: list[Seen] = []
        lock = threading.Lock()
        upstream = ("127.0.0.1", registry.port)
        seen = self.seen
        hop = self.HOP_BY_HOP

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle(self) -> None:
                if self.request.recv(1, socket.MSG_PEEK) == b"\x16":
                    self.request.sendall(
                        b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                        b"Content-Length: 0\r\n\r\n"
                    )
                    return
                super().handle()

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                connection = http.client.HTTPConnection(*upstream, timeout=120)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in hop}
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                finally:
                    connection.close()
                with lock:
                    seen.append(Seen(self.command, self.path, response.status, length))
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in hop and name.lower() != "content-length":
                        self.send_header(name, value)
                declared = response.getheader("Content-Length") or "0"
                self.send_header(
                    "Content-Length", declared if self.command == "HEAD" else str(len(data))
                )
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def __enter__(self) -> LoggingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- push -------------------------------------------------------------------------------


def test_push_prints_dockers_progress_and_the_registrys_digest(
    skiff: Skiff, busybox: str, registry: Registry
):
    name = f"{registry.address}/library/busybox"
    skiff.ok("tag", "busybox", f"{name}:1")
    layers = diff_ids(skiff, "busybox")
    out = skiff.ok("push", f"{name}:1")

    manifest = registry.manifest("library/busybox", "1")
    digest = manifest.headers["docker-content-digest"]
    assert out.splitlines() == [
        f"The push refers to repository [{name}]",
        *push_lines(layers, "Pushed", f"1: digest: {digest} size: {len(manifest.body)}"),
    ]
    assert registry.catalog() == ["library/busybox"]
    assert registry.tags("library/busybox") == ["1"]
    assert digest == "sha256:" + hashlib.sha256(manifest.body).hexdigest()

    # what docker push makes of a local image: schema 2, gzip layers, the config as is
    assert manifest.headers["content-type"] == MANIFEST_V2
    body = manifest.json()
    assert body["schemaVersion"] == 2
    assert body["mediaType"] == MANIFEST_V2
    assert body["config"]["mediaType"] == CONFIG_V1
    assert body["config"]["digest"] == busybox
    config = registry.blob("library/busybox", busybox)
    assert len(config) == body["config"]["size"]
    assert json.loads(config)["rootfs"]["diff_ids"] == layers
    assert [layer["mediaType"] for layer in body["layers"]] == [LAYER_GZIP] * len(layers)
    for layer, diff_id in zip(body["layers"], layers, strict=True):
        blob = registry.blob("library/busybox", layer["digest"])
        assert len(blob) == layer["size"]
        assert "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest() == diff_id


def test_push_records_the_repo_digest(skiff: Skiff, busybox: str, registry: Registry):
    name = f"{registry.address}/library/busybox"
    skiff.ok("tag", "busybox", f"{name}:1")
    skiff.ok("push", f"{name}:1")
    digest = registry.manifest("library/busybox", "1").headers["docker-content-digest"]
    repo_digests = json.loads(
        skiff.ok("image", "inspect", "--format", "{{json .RepoDigests}}", f"{name}:1")
    )
    assert repo_digests == [f"{name}@{digest}"]
    # the pushed tag's row shows the digest; busybox:latest is of another repository
    rows = {" ".join(row.split()[:4]) for row in images_table(skiff).splitlines()}
    assert rows == {
        f"{name} 1 {digest} {busybox[7:19]}",
        f"busybox latest <none> {busybox[7:19]}",
    }


def test_second_push_finds_the_layers_and_another_repository_mounts_them(
    skiff: Skiff, busybox: str, registry: Registry
):
    name = f"{registry.address}/library/busybox"
    skiff.ok("tag", "busybox", f"{name}:1")
    layers = diff_ids(skiff, "busybox")
    first = skiff.ok("push", f"{name}:1")
    last = digest_line("1", registry, "library/busybox")
    assert first.splitlines()[-1] == last

    again = skiff.ok("push", f"{name}:1")
    assert_pushed(again, name, layers, "Layer already exists", last)

    # the same registry, another repository: the blobs are mounted, no bytes move
    elsewhere = f"{registry.address}/mirror/busybox"
    skiff.ok("tag", "busybox", f"{elsewhere}:2")
    mounted = skiff.ok("push", f"{elsewhere}:2")
    digest = last.split()[2]
    size = last.split()[4]
    assert_pushed(
        mounted,
        elsewhere,
        layers,
        "Mounted from library/busybox",
        f"2: digest: {digest} size: {size}",
    )
    assert digest_line("2", registry, "mirror/busybox") == f"2: digest: {digest} size: {size}"
    assert sorted(registry.catalog()) == ["library/busybox", "mirror/busybox"]
    repo_digests = skiff.inspect("busybox")["RepoDigests"]
    assert sorted(repo_digests) == [f"{name}@{digest}", f"{elsewhere}@{digest}"]


def test_pushed_image_comes_back_by_pull(
    skiff: Skiff, busybox: str, other: Skiff, registry: Registry
):
    ref = f"{registry.address}/library/busybox:1"
    skiff.ok("tag", "busybox", ref)
    skiff.ok("push", ref)
    digest = registry.manifest("library/busybox", "1").headers["docker-content-digest"]
    lines = other.ok("pull", ref).splitlines()
    assert lines[-3:] == [f"Digest: {digest}", f"Status: Downloaded newer image for {ref}", ref]
    image = other.inspect(ref)
    assert image["Id"] == busybox
    assert image["RepoDigests"] == [f"{registry.address}/library/busybox@{digest}"]
    assert other.ok("run", "--rm", ref, "echo", "hi") == "hi\n"


def test_pulled_image_keeps_its_manifest_digest_when_pushed_elsewhere(
    skiff: Skiff, busybox: str, other: Skiff, registry: Registry, tmp_path: Path
):
    # skopeo's manifest (its own gzip of the layer), not one skiff would make
    archive = tmp_path / "busybox.tar"
    skiff.ok("save", "-o", str(archive), "busybox:latest")
    digest = registry.push_archive(archive, "library/busybox:1")
    original = registry.manifest("library/busybox", "1")
    other.ok("pull", "-q", f"{registry.address}/library/busybox:1")

    copy = f"{registry.address}/copies/busybox"
    other.ok("tag", f"{registry.address}/library/busybox:1", f"{copy}:1")
    out = other.ok("push", f"{copy}:1")
    last = f"1: digest: {digest} size: {len(original.body)}"
    assert_pushed(out, copy, diff_ids(other, f"{copy}:1"), "Mounted from library/busybox", last)
    pushed = registry.manifest("copies/busybox", "1")
    assert pushed.headers["docker-content-digest"] == digest
    assert pushed.body == original.body
    assert pushed.headers["content-type"] == original.headers["content-type"]
    assert sorted(other.inspect(f"{copy}:1")["RepoDigests"]) == [
        f"{copy}@{digest}",
        f"{registry.address}/library/busybox@{digest}",
    ]


def test_big_layer_is_uploaded_in_chunks_and_comes_back_whole(
    skiff: Skiff, other: Skiff, registry: Registry, rootfs_tar: Path, tmp_path: Path
):
    archive, image_id, content = big_image(tmp_path, rootfs_tar)
    assert skiff.ok("load", "-i", str(archive)) == "Loaded image: big:1\n"
    layers = diff_ids(skiff, "big:1")
    with LoggingProxy(registry) as proxy:  # to see the requests
        ref = f"{proxy.address}/library/big:1"
        skiff.ok("tag", "big:1", ref)
        out = skiff.ok("push", ref)
        requests = list(proxy.seen)
    manifest = registry.manifest("library/big", "1")
    last = f"1: digest: {manifest.headers['docker-content-digest']} size: {len(manifest.body)}"
    # a non-terminal gets no "Pushing" lines with a progress bar, as Docker's
    assert_pushed(out, f"{proxy.address}/library/big", layers, "Pushed", last)

    small, big = manifest.json()["layers"]
    assert big["size"] > 16 << 20 >= small["size"]

    def upload_of(blob: dict) -> tuple[Seen, list[Seen]]:
        """The PUT that closed ``blob``'s upload session and the PATCHes it had."""
        [put] = [
            r
            for r in requests
            if r.method == "PUT" and blob["digest"][7:] in r.path and "/uploads/" in r.path
        ]
        assert put.status == 201, put
        session = put.path.partition("?")[0]
        return put, [r for r in requests if r.method == "PATCH" and r.path.startswith(session)]

    # the big layer goes in PATCH chunks that add up to the blob, then a PUT with its
    # digest and no body; the small one in one PUT
    put, patches = upload_of(big)
    assert patches, requests
    assert {r.status for r in patches} == {202}, patches
    assert sum(r.length for r in patches) == big["size"]
    assert put.length == 0
    put, patches = upload_of(small)
    assert patches == []
    assert put.length == small["size"]
    assert [r.path for r in requests if r.status >= 500] == []
    assert registry.blob("library/big", big["digest"])[:2] == b"\x1f\x8b"

    pulled = f"{registry.address}/library/big:1"
    other.ok("pull", "-q", pulled)
    assert other.inspect(pulled)["Id"] == image_id
    expected = hashlib.sha256(content).hexdigest()
    assert other.ok("run", "--rm", pulled, "sha256sum", "/big") == f"{expected}  /big\n"


def test_push_all_tags_pushes_every_local_tag(skiff: Skiff, busybox: str, registry: Registry):
    name = f"{registry.address}/library/busybox"
    for tag in ("v1.0", "latest", "v1"):
        skiff.ok("tag", "busybox", f"{name}:{tag}")
    skiff.ok("tag", "busybox", f"{registry.address}/unrelated:1")  # another repository
    layers = diff_ids(skiff, "busybox")
    out = skiff.ok("push", "-a", name)

    assert sorted(registry.tags("library/busybox")) == ["latest", "v1", "v1.0"]
    assert registry.catalog() == ["library/busybox"]
    # Docker (its e2e TestPushAllTags): one header, then each tag in lexical order, its
    # layers and its digest line; the first push uploads, the next ones find the layers
    lines = out.splitlines()
    assert lines[0] == f"The push refers to repository [{name}]"
    expected = []
    for i, tag in enumerate(("latest", "v1", "v1.0")):
        status = "Pushed" if i == 0 else "Layer already exists"
        expected += push_lines(layers, status, digest_line(tag, registry, "library/busybox"))
    assert lines[1:] == expected, out
    digests = {
        registry.manifest("library/busybox", t).headers["docker-content-digest"]
        for t in ("latest", "v1", "v1.0")
    }
    assert len(digests) == 1


def test_push_without_a_tag_uses_latest(skiff: Skiff, busybox: str, registry: Registry):
    name = f"{registry.address}/library/busybox"
    skiff.ok("tag", "busybox", name)
    skiff.ok("tag", "busybox", f"{name}:1")  # not pushed
    lines = skiff.ok("push", name).splitlines()
    assert lines[0] == "Using default tag: latest"
    assert lines[1] == f"The push refers to repository [{name}]"
    assert lines[-1] == digest_line("latest", registry, "library/busybox")
    assert registry.tags("library/busybox") == ["latest"]


def test_quiet_push_prints_only_the_reference(skiff: Skiff, busybox: str, registry: Registry):
    ref = f"{registry.address}/library/busybox:1"
    skiff.ok("tag", "busybox", ref)
    # docker push -q: the reference (ref.String()), nothing of the progress
    assert skiff.ok("push", "-q", ref) == f"{ref}\n"
    assert registry.tags("library/busybox") == ["1"]
    # without a tag: no "Using default tag" either, and the reference with its tag
    name = ref.rpartition(":")[0]
    skiff.ok("tag", "busybox", name)
    assert skiff.ok("push", "-q", name) == f"{name}:latest\n"
    assert sorted(registry.tags("library/busybox")) == ["1", "latest"]


def test_quiet_push_all_tags_prints_the_name(skiff: Skiff, busybox: str, registry: Registry):
    name = f"{registry.address}/library/busybox"
    for tag in ("1", "2"):
        skiff.ok("tag", "busybox", f"{name}:{tag}")
    # docker push -a -q prints the reference it was given (ref.String()): the name alone
    assert skiff.ok("push", "-a", "-q", name) == f"{name}\n"
    assert sorted(registry.tags("library/busybox")) == ["1", "2"]


def test_all_tags_with_a_tag_is_refused(skiff: Skiff, busybox: str, registry: Registry):
    ref = f"{registry.address}/library/busybox:1"
    skiff.ok("tag", "busybox", ref)
    for verb in ("push", "pull"):
        result = skiff(verb, "-a", ref, timeout=60)
        # the docker CLI refuses it before it asks dockerd: exit 1; push's errors are
        # bare, as docker push prints them
        prefix = "" if verb == "push" else "Error: "
        assert (result.code, result.out, result.err) == (
            1,
            "",
            f"{prefix}tag can't be used with --all-tags/-a\n",
        ), (verb, result)
    assert registry.catalog() == []


def test_push_to_another_registry_sends_the_same_blobs(
    skiff: Skiff, busybox: str, registry: Registry, tmp_path: Path
):
    ref = f"{registry.address}/library/busybox:1"
    skiff.ok("tag", "busybox", ref)
    skiff.ok("push", ref)
    first = registry.manifest("library/busybox", "1")
    # skiff keeps the gzip of each layer it made: another registry gets the same bytes
    with Registry(tmp_path / "second-registry") as second:
        elsewhere = f"{second.address}/library/busybox:1"
        skiff.ok("tag", "busybox", elsewhere)
        out = skiff.ok("push", elsewhere)
        again = second.manifest("library/busybox", "1")
        assert again.body == first.body
        digest = first.headers["docker-content-digest"]
        assert out.splitlines()[-1] == f"1: digest: {digest} size: {len(first.body)}"
        assert "Pushed" in out.splitlines()[-2]  # not mounted: another registry
        assert sorted(skiff.inspect("busybox")["RepoDigests"]) == sorted(
            [
                f"{registry.address}/library/busybox@{digest}",
                f"{second.address}/library/busybox@{digest}",
            ]
        )


# --- pull -a ----------------------------------------------------------------------------


@pytest.fixture
def three_tags(skiff: Skiff, busybox: str, registry: Registry) -> str:
    """busybox pushed as ADDRESS/library/busybox:latest, :v1 and :v1.0; the name."""
    name = f"{registry.address}/library/busybox"
    for tag in ("latest", "v1", "v1.0"):
        skiff.ok("tag", "busybox", f"{name}:{tag}")
    skiff.ok("push", "-a", name)
    return name


def test_pull_all_tags_pulls_every_tag(other: Skiff, three_tags: str, busybox: str):
    out = other.ok("pull", "-a", three_tags)
    assert out.splitlines()[-1] == three_tags
    listed = other.ok("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").splitlines()
    assert sorted(listed) == [
        f"{three_tags}:{tag} {busybox[7:19]}" for tag in ("latest", "v1", "v1.0")
    ]


def test_pull_all_tags_prints_dockers_progress(other: Skiff, three_tags: str, registry: Registry):
    digest = registry.manifest("library/busybox", "latest").headers["docker-content-digest"]
    lines = other.ok("pull", "-a", three_tags).splitlines()
    # dockerd (distribution/pull_v2.go pullRepository): per tag "TAG: Pulling from REPO",
    # its layers (none for an image it already has) and "Digest: ..."; then one status
    # line for the repository, and the CLI prints the name
    assert lines[0] == "latest: Pulling from library/busybox"
    layers = [i for i, line in enumerate(lines) if re.fullmatch(r"[0-9a-f]{12}: .+", line)]
    assert {line.partition(": ")[2] for line in (lines[i] for i in layers)} <= PULL_STATUSES
    rest = [line for i, line in enumerate(lines) if i not in layers]
    assert rest == [
        "latest: Pulling from library/busybox",
        f"Digest: {digest}",
        "v1: Pulling from library/busybox",
        f"Digest: {digest}",
        "v1.0: Pulling from library/busybox",
        f"Digest: {digest}",
        f"Status: Downloaded newer image for {three_tags}",
        three_tags,
    ], lines


# --- push failures ----------------------------------------------------------------------


def test_push_of_an_image_the_store_lacks_fails(skiff: Skiff, busybox: str, registry: Registry):
    name = f"{registry.address}/library/nothing"
    before = images_table(skiff)
    result = skiff("push", f"{name}:1", timeout=60)
    assert result.code == 1, result
    # Docker prints the header on stdout before it looks the name up
    assert result.out == f"The push refers to repository [{name}]\n"
    assert result.err == f"An image does not exist locally with the tag: {name}\n"
    assert registry.catalog() == []
    assert images_table(skiff) == before


def test_push_of_a_tag_the_store_lacks_names_the_tag(
    skiff: Skiff, busybox: str, registry: Registry
):
    name = f"{registry.address}/library/busybox"
    skiff.ok("tag", "busybox", f"{name}:1")
    result = skiff("push", name, timeout=60)
    assert result.code == 1, result
    assert result.out == f"Using default tag: latest\nThe push refers to repository [{name}]\n"
    # dockerd (distribution/push_v2.go pushRepository): the repository has tags here, only
    # not this one
    assert result.err == f"tag does not exist: {name}:latest\n"
    assert registry.catalog() == []


def test_push_to_a_registry_that_is_down_fails_and_changes_nothing(skiff: Skiff, busybox: str):
    ref = f"{unused_address()}/library/busybox:1"
    skiff.ok("tag", "busybox", ref)
    before = images_table(skiff)
    inspected = skiff.inspect(ref)
    result = skiff("push", ref, timeout=120)
    assert result.code == 1, result
    # Docker: Get "http://ADDRESS/v2/": dial tcp ADDRESS: connect: connection refused
    assert result.err.startswith('Get "http://'), result
    assert result.err.count("\n") == 1 and result.err.endswith("\n"), result
    assert "connection refused" in result.err
    assert result.out.startswith(f"The push refers to repository [{ref.rpartition(':')[0]}]\n")
    assert images_table(skiff) == before
    assert skiff.inspect(ref)["RepoDigests"] == inspected["RepoDigests"] == []


# --- run and create pull what they lack -------------------------------------------------


@pytest.fixture
def pushed(skiff: Skiff, busybox: str, registry: Registry) -> str:
    """busybox pushed by skiff as ADDRESS/library/busybox:1; that reference."""
    ref = f"{registry.address}/library/busybox:1"
    skiff.ok("tag", "busybox", ref)
    skiff.ok("push", "-q", ref)
    return ref


def assert_pull_progress(lines: list[str], ref: str, digest: str) -> None:
    """A fresh pull's lines, as Docker's run prints them on stderr."""
    assert lines[0] == "1: Pulling from library/busybox", lines
    assert lines[-2:] == [f"Digest: {digest}", f"Status: Downloaded newer image for {ref}"], lines
    middle = layer_lines(lines[1:-2])
    assert len(middle) == len(lines) - 3, lines
    assert {status for _, status in middle} <= PULL_STATUSES, lines
    assert [status for _, status in middle].count("Pull complete") == 1, lines


def test_run_pulls_a_missing_image(other: Skiff, pushed: str, registry: Registry, busybox: str):
    result = other("run", "--rm", pushed, "echo", "hi", timeout=120)
    assert result.code == 0, result
    assert result.out == "hi\n"
    lines = result.err.splitlines()
    assert lines[0] == f"Unable to find image '{pushed}' locally"
    digest = registry.manifest("library/busybox", "1").headers["docker-content-digest"]
    assert_pull_progress(lines[1:], pushed, digest)
    assert other.inspect(pushed)["Id"] == busybox
    assert other.ok("ps", "-aq") == ""  # --rm


def test_quiet_run_and_create_pull_silently(
    other: Skiff, pushed: str, registry: Registry, busybox: str
):
    # docker run/create -q (--quiet): "Suppress the pull output", "Unable to find image"
    # included
    result = other("run", "--rm", "-q", pushed, "echo", "hi", timeout=120)
    assert (result.code, result.out, result.err) == (0, "hi\n", ""), result
    assert other.inspect(pushed)["Id"] == busybox
    other.ok("rmi", pushed)
    result = other("create", "-q", pushed, timeout=120)
    assert result.code == 0, result
    assert re.fullmatch(r"[0-9a-f]{64}\n", result.out), result
    assert result.err == ""


def test_run_pull_never_does_not_pull(other: Skiff, pushed: str):
    result = other("run", "--rm", "--pull", "never", pushed, "echo", "hi", timeout=60)
    assert result.code == 125, result
    assert result.out == ""
    # Docker: docker: Error response from daemon: No such image: ADDRESS/library/busybox:1.
    assert "No such image" in result.err
    assert "Pulling" not in result.err and "Unable to find" not in result.err
    assert other.ok("images", "-aq") == ""
    assert other.ok("ps", "-aq") == ""


def test_run_pull_always_asks_the_registry(other: Skiff, pushed: str, registry: Registry):
    other.ok("pull", "-q", pushed)
    result = other("run", "--rm", "--pull", "always", pushed, "echo", "hi", timeout=60)
    assert result.code == 0, result
    assert result.out == "hi\n"
    digest = registry.manifest("library/busybox", "1").headers["docker-content-digest"]
    # the image is there: no "Unable to find", no layer lines
    assert result.err == (
        "1: Pulling from library/busybox\n"
        f"Digest: {digest}\n"
        f"Status: Image is up to date for {pushed}\n"
    )


def test_run_without_a_tag_pulls_latest(
    skiff: Skiff, busybox: str, other: Skiff, registry: Registry
):
    name = f"{registry.address}/library/busybox"
    skiff.ok("tag", "busybox", name)
    skiff.ok("push", "-q", name)
    result = other("run", "--rm", name, "echo", "hi", timeout=120)
    assert result.code == 0, result
    assert result.out == "hi\n"
    # Docker names the reference with its tag, and says nothing of a default tag
    lines = result.err.splitlines()
    assert lines[:2] == [
        f"Unable to find image '{name}:latest' locally",
        "latest: Pulling from library/busybox",
    ]
    assert lines[-1] == f"Status: Downloaded newer image for {name}:latest"


def test_create_pulls_a_missing_image(other: Skiff, pushed: str, registry: Registry, busybox: str):
    result = other("create", "--name", "made", pushed, timeout=120)
    assert result.code == 0, result
    assert re.fullmatch(r"[0-9a-f]{64}\n", result.out), result
    lines = result.err.splitlines()
    assert lines[0] == f"Unable to find image '{pushed}' locally"
    digest = registry.manifest("library/busybox", "1").headers["docker-content-digest"]
    assert_pull_progress(lines[1:], pushed, digest)
    container = other.container("made")
    assert container["Image"] == busybox
    assert container["Config"]["Image"] == pushed
    assert container["State"]["Status"] == "created"


def test_run_of_a_tag_the_registry_lacks_fails_and_leaves_nothing(other: Skiff, pushed: str):
    missing = pushed.rpartition(":")[0] + ":nope"
    result = other("run", "--rm", missing, "echo", "hi", timeout=60)
    assert result.code == 125, result
    assert result.out == ""
    lines = result.err.splitlines()
    assert lines[0] == f"Unable to find image '{missing}' locally"
    # Docker: docker: Error response from daemon: manifest for ADDRESS/library/busybox:nope
    # not found: manifest unknown: manifest unknown.
    assert "manifest unknown" in result.err
    assert other.ok("images", "-aq") == ""
    assert other.ok("ps", "-aq") == ""
    # and a named container is not left either
    result = other("create", "--name", "never", missing, timeout=60)
    assert result.code == 1, result  # docker create: 1 (the CLI returns the daemon's error)
    assert "manifest unknown" in result.err
    assert other.ok("ps", "-aq") == ""
    assert other("container", "inspect", "never").code == 1
