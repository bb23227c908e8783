"""Malicious and broken images (issue 11): each is refused cleanly through ``skiff load``
(docker-archive and oci-archive) and ``skiff pull`` from a local registry, or, where it
is harmless, taken without a crash.

"Cleanly" is checked the same way every time (:func:`assert_refused` and
:meth:`Guard.check`): exit code 1 (Docker's, for a failed load or pull); one line on stderr
that says what is wrong (not a Python exception's name); nothing written outside the store
(the canary directory the images aim at, the files next to the store, /etc); the store as
it was (``skiff images -a``, every file but the database, no lease, no layer directory);
and a good image loads or pulls afterwards.

Covered elsewhere and not repeated here: a layer blob whose digest does not match
(tests/integration/test_pull_faults.py::test_a_corrupted_blob_fails_and_nothing_of_it_is_kept
for pull, tests/integration/test_images_store.py::test_bad_archives_leave_the_store_unchanged
for load), an unknown layer media type in an archive (the same test_bad_archives_...), and
each escape of the layer applier on its own, with and without openat2
(tests/integration/test_layer_apply.py::test_malicious_layers_are_refused).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import platform
import re
import sqlite3
import subprocess
import tarfile
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import zstandard

from skiff.images.mediatypes import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
)
from tests.support.cli import Result, Skiff
from tests.support.images import (
    config_for,
    docker_archive,
    docker_archive_of,
    layer_tar,
    oci_layout_archive,
    sha256,
    store_listing,
    tar_of,
)
from tests.support.registry import Registry

NATIVE = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]
PLATFORM = {"os": "linux", "architecture": NATIVE}

FORMS = ["docker-archive", "oci-archive", "pull"]
GOOD_LAYER = layer_tar({"good": b"good\n"})
HOST_CANARY = Path("/etc/skiff-hostile-image-canary")  # what ../../etc/x could reach


# --- the registry, shared by the module ---------------------------------------------------


class Hub:
    """A registry of the module's own, and what the tests push into it raw."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.pushed: set[tuple[str, str]] = set()

    def ref(self, repo: str, tag: str) -> str:
        return f"{self.registry.address}/{repo}:{tag}"

    def blob(self, repo: str, data: bytes) -> str:
        digest = sha256(data)
        if (repo, digest) in self.pushed:
            return digest
        started = self.registry.request("POST", f"/v2/{repo}/blobs/uploads/")
        assert started.status == 202, started
        location = started.headers["location"].split(self.registry.address, 1)[-1]
        separator = "&" if "?" in location else "?"
        done = self.registry.request(
            "PUT",
            f"{location}{separator}digest={digest}",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status == 201, done
        self.pushed.add((repo, digest))
        return digest

    def manifest(self, repo: str, tag: str, body: bytes, media_type: str = OCI_MANIFEST) -> str:
        response = self.registry.request(
            "PUT", f"/v2/{repo}/manifests/{tag}", data=body, headers={"Content-Type": media_type}
        )
        assert response.status == 201, response
        return sha256(body)

    def image(
        self,
        repo: str,
        tag: str,
        blobs: list[bytes],
        config: bytes,
        layer_type: str = OCI_LAYER_GZIP,
        config_size: int | None = None,
    ) -> str:
        """Push an image of these layer blobs and this config; its reference."""
        for data in {*blobs, config}:
            self.blob(repo, data)
        self.manifest(repo, tag, oci_manifest(config, blobs, layer_type, config_size))
        return self.ref(repo, tag)

    def blob_file(self, digest: str) -> Path:
        """Where the registry keeps a blob (or manifest): to forge what it serves."""
        hexpart = digest.partition(":")[2]
        return (
            self.registry.base
            / "data/docker/registry/v2/blobs/sha256"
            / hexpart[:2]
            / (hexpart + "/data")
        )


def oci_manifest(
    config: bytes, blobs: list[bytes], layer_type: str = OCI_LAYER, config_size: int | None = None
) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": sha256(config),
                "size": len(config) if config_size is None else config_size,
            },
            "layers": [
                {"mediaType": layer_type, "digest": sha256(b), "size": len(b)} for b in blobs
            ],
        }
    ).encode()


def oci_index(*children: tuple[str, bytes | str, int]) -> bytes:
    """An index of (media type, manifest bytes or digest, size) children, for this machine."""
    manifests = []
    for media_type, child, size in children:
        digest = child if isinstance(child, str) else sha256(child)
        manifests.append(
            {"mediaType": media_type, "digest": digest, "size": size, "platform": PLATFORM}
        )
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with Registry(tmp_path_factory.mktemp("hostile-registry")) as registry:
        hub = Hub(registry)
        hub.image("good/img", "1", [gzip.compress(GOOD_LAYER, mtime=0)], config_for([GOOD_LAYER]))
        yield hub
        assert registry.process.poll() is None, f"the registry died: {registry.log()}"


# --- the checks -----------------------------------------------------------------------------

PYTHON_ERROR = re.compile(r"Error: (\w+\.)*[A-Z]\w*(Error|Exception|Exit|Iteration)\b")


def assert_refused(result: Result, *words: str) -> str:
    """Failed as Docker fails a load or pull, with one line that names the problem."""
    assert result.code == 1, result
    assert result.err.endswith("\n") and result.err.count("\n") == 1, result
    line = result.err.rstrip("\n")
    assert line.startswith("Error: "), result
    assert not PYTHON_ERROR.match(line), f"a Python exception, not a message: {line}"
    for word in words:
        assert word in line, result
    return line


# Directories every store has once it was used, empty or not.
SKELETON = {"blobs", "blobs/sha256", "layers", "ingest", "downloads"}


def store_state(skiff: Skiff) -> tuple[str, frozenset[str], list[tuple]]:
    """What the user sees and what is on disk: images (with digests), every file and
    directory of the store but the database and its empty skeleton, and the leases."""
    images = skiff.ok(
        "images", "-a", "--digests", "--format", "{{.ID}} {{.Repository}}:{{.Tag}} {{.Digest}}"
    )
    files = frozenset(
        path
        for path in store_listing(skiff.root)
        if not (path in SKELETON and not os.listdir(skiff.root / path))
    )
    with closing(sqlite3.connect(f"file:{skiff.root / 'skiff.db'}?mode=ro", uri=True)) as db:
        leases = db.execute("SELECT * FROM leases").fetchall()
    return images, files, leases


def tree(top: Path, skip: set[Path]) -> dict[str, tuple[int, int, int]]:
    """Every path under ``top`` (but ``skip``): (mode, size, link count)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) not in skip]
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            found[os.path.join(dirpath, name)] = (st.st_mode, st.st_size, st.st_nlink)
    return found


class Guard:
    """The host around a store: a canary directory images aim at, the files next to the
    store, /etc/passwd; and the store itself, all as they were when ``arm`` was called."""

    def __init__(self, skiff: Skiff, tmp_path: Path) -> None:
        self.skiff = skiff
        self.tmp_path = tmp_path
        self.canary = tmp_path / "canary"
        self.canary.mkdir()
        self.canary_file = self.canary / "f"
        self.canary_file.write_text("canary\n")
        self.inputs = tmp_path / "in"
        self.inputs.mkdir()
        self.skiff.env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
        seed = self.inputs / "seed.tar"
        docker_archive(seed, [([layer_tar({"seed": b"seed\n"})], ["seed:1"])])
        skiff.ok("load", "-i", str(seed))
        self.arm()

    def arm(self) -> None:
        skip = {self.skiff.root, self.skiff.runroot, self.inputs}
        self.outside = tree(self.tmp_path, skip)
        self.passwd = os.stat("/etc/passwd")
        self.store = store_state(self.skiff)

    def check(self) -> None:
        """Nothing outside the store changed, and the store is as it was."""
        self.outside_unchanged()
        assert store_state(self.skiff) == self.store
        assert not [p for p in (self.skiff.root / "layers").iterdir() if p.name.startswith(".")]

    def outside_unchanged(self) -> None:
        skip = {self.skiff.root, self.skiff.runroot, self.inputs}
        assert tree(self.tmp_path, skip) == self.outside
        assert self.canary_file.read_text() == "canary\n"
        assert os.listdir(self.canary) == ["f"]
        assert not HOST_CANARY.exists()
        passwd = os.stat("/etc/passwd")
        assert (passwd.st_ino, passwd.st_nlink, passwd.st_mtime_ns) == (
            self.passwd.st_ino,
            self.passwd.st_nlink,
            self.passwd.st_mtime_ns,
        )

    def aim(self, text: str) -> str:
        return text.replace("@CANARY@", str(self.canary))

    def good_load_works(self) -> None:
        good = self.inputs / "good.tar"
        (image_id,) = docker_archive(good, [([GOOD_LAYER], ["good:1"])])
        assert self.skiff.ok("load", "-i", str(good)) == "Loaded image: good:1\n"
        assert self.skiff.inspect("good:1")["Id"] == image_id

    def good_pull_works(self, hub: Hub) -> None:
        ref = hub.ref("good/img", "1")
        assert self.skiff.ok("pull", "-q", ref) == f"{ref}\n"
        assert self.skiff.inspect(ref)["Id"] == sha256(config_for([GOOD_LAYER]))


@pytest.fixture
def guard(skiff: Skiff, tmp_path: Path) -> Guard:
    return Guard(skiff, tmp_path)


def feed(
    guard: Guard,
    hub: Hub,
    form: str,
    layers: list[bytes],
    config: bytes | None = None,
    name: str = "hostile",
) -> Result:
    """Load (as ``form``) or pull an image of these uncompressed layers (gzip-compressed in
    the registry) with this config (by default one that matches them)."""
    config = config if config is not None else config_for(layers)
    if form == "pull":
        blobs = [gzip.compress(layer, mtime=0, compresslevel=1) for layer in layers]
        tag = sha256(config)[7:19]
        return guard.skiff("pull", hub.image(name, tag, blobs, config))
    path = guard.inputs / f"{name}-{form}.tar"
    if form == "docker-archive":
        docker_archive_of(path, config, layers, [f"{name}:1"])
    else:
        manifest = oci_manifest(config, layers)
        index = json.loads(oci_index((OCI_MANIFEST, manifest, len(manifest))))
        index["manifests"][0]["annotations"] = {"io.containerd.image.name": f"{name}:1"}
        oci_layout_archive(path, json.dumps(index).encode(), [config, manifest, *layers])
    return guard.skiff("load", "-i", str(path))


def done(guard: Guard, hub: Hub | None, form: str) -> None:
    """After a refusal: the whole check, then a good load or pull."""
    guard.check()
    if form == "pull":
        assert hub is not None
        guard.good_pull_works(hub)
    else:
        guard.good_load_works()


# --- 1-3: paths out of the layer ------------------------------------------------------------

ESCAPES: dict[str, tuple[list[tuple[str, str, bytes | str]], str]] = {
    "dotdot": ([("../../etc/x", "file", b"evil")], "path escapes the layer root"),
    "dotdot-to-host-etc": (
        [("../" * 12 + "etc/skiff-hostile-image-canary", "file", b"evil")],
        "path escapes the layer root",
    ),
    "absolute-dotdot": ([("/../x", "file", b"evil")], "path escapes the layer root"),
    "dotdot-component": (
        [("a", "dir", ""), ("a/../../x", "file", b"evil")],
        "path escapes the layer root",
    ),
    "dotdot-directory": ([("a/../../../canary/new", "dir", "")], "path escapes the layer root"),
    "symlink-then-file": (
        [("evil", "symlink", "@CANARY@"), ("evil/file", "file", b"evil")],
        "path goes through a symlink",
    ),
    "relative-symlink-then-file": (
        [("evil", "symlink", "../../../.."), ("evil/file", "file", b"evil")],
        "path goes through a symlink",
    ),
    "symlink-then-directory": (
        [("evil", "symlink", "@CANARY@"), ("evil/sub", "dir", "")],
        "path goes through a symlink",
    ),
    "hardlink-to-dotdot-passwd": (
        [("h", "hardlink", "../../../etc/passwd")],
        "hard link target '../../../etc/passwd' escapes the layer root",
    ),
    "hardlink-to-host-passwd": (
        [("h", "hardlink", "/etc/passwd")],
        "hard link target '/etc/passwd' does not exist in this layer",
    ),
    "hardlink-to-canary": (
        [("h", "hardlink", "@CANARY@/f")],
        "does not exist in this layer",
    ),
    "hardlink-through-symlink": (
        [("s", "symlink", "@CANARY@"), ("h", "hardlink", "s/f")],
        "goes through a symlink",
    ),
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("case", list(ESCAPES))
def test_a_layer_reaching_out_is_refused(guard: Guard, hub: Hub, case: str, form: str):
    entries, message = ESCAPES[case]
    layer = tar_of(
        [(name, kind, guard.aim(c) if isinstance(c, str) else c) for name, kind, c in entries]
    )
    result = feed(guard, hub, form, [layer_tar({"base": b"base\n"}), layer], name=f"escape-{case}")
    assert_refused(result, "layer member '", message)
    done(guard, hub, form)


@pytest.mark.parametrize("form", FORMS)
def test_a_hard_link_to_an_outward_symlink_links_the_symlink_itself(
    guard: Guard, hub: Hub, form: str
):
    """A hard link to a symlink is a second name of the symlink (linkat without
    AT_SYMLINK_FOLLOW), not of what it points to: the host file gains no link."""
    layer = tar_of([("s", "symlink", guard.aim("@CANARY@/f")), ("h", "hardlink", "s")])
    result = feed(guard, hub, form, [layer], name="hardlink-symlink")
    assert result.code == 0, result
    [h] = guard.skiff.root.glob("layers/*/diff/h")
    s = h.parent / "s"
    assert h.is_symlink() and os.readlink(h) == str(guard.canary_file)
    assert os.lstat(h).st_ino == os.lstat(s).st_ino
    assert os.lstat(h).st_nlink == 2
    assert os.stat(guard.canary_file).st_nlink == 1
    assert guard.canary_file.read_text() == "canary\n"
    guard.outside_unchanged()


@pytest.mark.parametrize("form", FORMS)
def test_a_symlink_in_one_layer_and_a_file_through_it_in_the_next_stay_in_the_image(
    guard: Guard, hub: Hub, form: str, rootfs_tar: Path
):
    """Layer 2's file goes into layer 2's own directory (the symlink of layer 1 is not
    there to follow); in the container, overlayfs shows layer 2's directory in its place."""
    layers = [
        rootfs_tar.read_bytes(),
        tar_of([("evil", "symlink", guard.aim("@CANARY@"))]),
        tar_of([("evil/file", "file", b"through\n")]),
    ]
    result = feed(guard, hub, form, layers, name="two-layers")
    assert result.code == 0, result
    assert os.listdir(guard.canary) == ["f"]
    [file] = guard.skiff.root.glob("layers/*/diff/evil/file")
    assert file.read_bytes() == b"through\n" and not file.parent.is_symlink()
    [link] = [p for p in guard.skiff.root.glob("layers/*/diff/evil") if p.is_symlink()]
    assert os.readlink(link) == str(guard.canary)
    image = (
        "two-layers:1"
        if form != "pull"
        else hub.ref("two-layers", sha256(config_for(layers))[7:19])
    )
    out = guard.skiff.ok(
        "run", "--rm", "--network", "none", image, "sh", "-c", "cat /evil/file; ls /evil"
    )
    assert out == "through\nfile\n"
    guard.outside_unchanged()


# --- 4: layers that inflate past the disk ---------------------------------------------------

BOMB_SIZE = 256 << 20  # the zero file's size in the gzip bomb: 256 KiB of gzip
BIG_BOMB_SIZE = 16 << 30  # the zstd bomb's: 528 KiB of zstd
ZEROS = b"\0" * (64 << 20)


class Bomb:
    """A layer that is one file of zeros, compressed as concatenated frames (each frame
    compresses 64 MiB of zeros), and its true diff ID when it was cheap to compute."""

    def __init__(self, kind: str, size: int) -> None:
        info = tarfile.TarInfo("zeros")
        info.size = size
        info.mode = 0o644
        header = info.tobuf(tarfile.PAX_FORMAT)
        tail = b"\0" * (1024 + (-(len(header) + size) % 10240))
        compress = (
            (lambda data: gzip.compress(data, compresslevel=9, mtime=0))
            if kind == "gzip"
            else zstandard.ZstdCompressor(level=19).compress
        )
        self.kind = kind
        self.blob = compress(header) + compress(ZEROS) * (size // len(ZEROS)) + compress(tail)
        self.diff_id: str | None = None
        if size <= BOMB_SIZE << 2:
            h = hashlib.sha256(header)
            for _ in range(size // len(ZEROS)):
                h.update(ZEROS)
            h.update(tail)
            self.diff_id = "sha256:" + h.hexdigest()


@pytest.fixture(scope="module")
def bombs() -> dict[str, Bomb]:
    return {"gzip": Bomb("gzip", BOMB_SIZE), "zstd": Bomb("zstd", BIG_BOMB_SIZE)}


@pytest.fixture
def small_store(skiff: Skiff) -> Iterator[Path]:
    """The store on a 48 MiB tmpfs: the disk a bomb fills."""
    skiff.root.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(skiff.root)], check=True)
    try:
        yield skiff.root
    finally:
        if subprocess.run(["umount", str(skiff.root)]).returncode != 0:
            subprocess.run(["umount", "-l", str(skiff.root)], check=True)
            raise AssertionError(f"{skiff.root} was busy: something of the store stayed open")


def used(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def bomb_config(diff_id: str) -> bytes:
    config = json.loads(config_for([b""]))
    config["rootfs"]["diff_ids"] = [diff_id]
    return json.dumps(config).encode()


def feed_blob(
    guard: Guard, hub: Hub, form: str, blob: str | bytes, media_type: str, config: bytes, name: str
) -> Result:
    """Load or pull one image of one layer blob, as it is (compressed)."""
    data = blob if isinstance(blob, bytes) else blob.encode()
    if form == "pull":
        return guard.skiff(
            "pull", hub.image(name, sha256(config)[7:19], [data], config, media_type)
        )
    path = guard.inputs / f"{name}-{form}.tar"
    if form == "docker-archive":
        docker_archive_of(path, config, [data], [f"{name}:1"])
    else:
        manifest = oci_manifest(config, [data], media_type)
        oci_layout_archive(
            path, oci_index((OCI_MANIFEST, manifest, len(manifest))), [config, manifest, data]
        )
    return guard.skiff("load", "-i", str(path))


BOMBS = [
    ("gzip", "true-diff-id", "docker-archive"),
    ("gzip", "true-diff-id", "oci-archive"),
    ("gzip", "true-diff-id", "pull"),
    ("gzip", "wrong-diff-id", "docker-archive"),
    ("gzip", "wrong-diff-id", "pull"),
    ("zstd", "wrong-diff-id", "docker-archive"),
    ("zstd", "wrong-diff-id", "oci-archive"),
    ("zstd", "wrong-diff-id", "pull"),
]


@pytest.fixture
def small_guard(small_store: Path, skiff: Skiff, tmp_path: Path) -> Guard:
    """The guard of a store on a small filesystem."""
    return Guard(skiff, tmp_path)


@pytest.mark.parametrize(("kind", "declared", "form"), BOMBS)
def test_a_layer_bomb_stops_at_the_disk_and_leaves_nothing(
    small_guard: Guard,
    hub: Hub,
    small_store: Path,
    bombs: dict[str, Bomb],
    kind: str,
    declared: str,
    form: str,
):
    """Docker's rule: a layer may be as large as the disk (no ratio limit: a layer with a
    big file of zeros is legitimate). A bomb fills the store's filesystem, the unpacking
    stops at ENOSPC, and everything it wrote is deleted: the disk is as it was."""
    guard = small_guard
    bomb = bombs[kind]
    diff_id = bomb.diff_id if declared == "true-diff-id" else sha256(b"not this layer")
    assert diff_id is not None
    before = used(small_store)
    media_type = OCI_LAYER_GZIP if kind == "gzip" else OCI_LAYER_ZSTD
    started = time.monotonic()
    result = feed_blob(
        guard, hub, form, bomb.blob, media_type, bomb_config(diff_id), f"bomb-{kind}"
    )
    assert time.monotonic() - started < 10
    assert len(bomb.blob) < 600 << 10
    assert_refused(result, "layer member 'zeros': No space left on device")
    assert used(small_store) - before < 1 << 20
    done(guard, hub, form)


@pytest.mark.parametrize("form", FORMS)
def test_a_layer_inflating_past_its_end_is_refused_without_reading_it_all(
    guard: Guard, hub: Hub, form: str
):
    """After the tar's end, 16 GiB of zeros (528 KiB of zstd): nothing to write, but
    reading it all to hash it would take seconds of CPU. skiff stops after 16 MiB."""
    tar = layer_tar({"a": b"a\n"})
    frame = zstandard.ZstdCompressor(level=19).compress(ZEROS)
    blob = zstandard.ZstdCompressor().compress(tar) + frame * (BIG_BOMB_SIZE // len(ZEROS))
    assert len(blob) < 600 << 10
    started = time.monotonic()
    result = feed_blob(guard, hub, form, blob, OCI_LAYER_ZSTD, bomb_config(sha256(tar)), "trailing")
    assert time.monotonic() - started < 3
    assert_refused(result, "more than 16777216 bytes of data after the end of the tar archive")
    done(guard, hub, form)


# --- 5: too many layers ---------------------------------------------------------------------


def tiny_layer(i: int) -> bytes:
    """A layer of one empty file, without tarfile's 10 KiB record padding."""
    info = tarfile.TarInfo(f"f{i}")
    info.mtime = 1_600_000_000
    return info.tobuf(tarfile.PAX_FORMAT) + b"\0" * 1024


@pytest.mark.parametrize("form", FORMS)
def test_ten_thousand_layers_are_refused_before_anything_is_unpacked(
    guard: Guard, hub: Hub, form: str
):
    """overlayfs cannot stack 10,000 lower directories in one mount; Docker refuses more
    than 125 layers (max depth exceeded). skiff says so from the manifest or config, before
    a layer is fetched or unpacked (before, it unpacked all 10,000 in 30 s)."""
    layers = [tiny_layer(i) for i in range(10_000)]
    config = config_for(layers)
    started = time.monotonic()
    if form == "pull":
        blob = gzip.compress(layers[0], mtime=0)
        hub.blob("many", blob)
        hub.blob("many", config)
        manifest = json.loads(oci_manifest(config, [blob] * 10_000, OCI_LAYER_GZIP))
        ref = hub.ref("many", "1")
        hub.manifest("many", "1", json.dumps(manifest).encode())
        started = time.monotonic()
        result = guard.skiff("pull", ref)
    else:
        result = feed(guard, hub, form, layers, config, name="many")
    assert time.monotonic() - started < 5
    assert_refused(result, "10000 layers, more than the 125 an image may have")
    assert not (guard.skiff.root / "downloads").is_dir() or not os.listdir(
        guard.skiff.root / "downloads"
    )
    done(guard, hub, form)


def test_the_layer_limit_is_dockers_125(guard: Guard, hub: Hub):
    layers = [tiny_layer(i) for i in range(126)]
    assert_refused(feed(guard, hub, "docker-archive", layers, name="deep"), "126 layers")
    guard.check()
    assert feed(guard, hub, "docker-archive", layers[:125], name="deep").code == 0
    assert len(guard.skiff.inspect("deep:1")["RootFS"]["Layers"]) == 125


# --- 6: absurd configs ----------------------------------------------------------------------

CONFIG_LAYER = layer_tar({"c": b"c\n"})


def absurd(
    change: dict | None = None, config: dict | None = None, raw: bytes | None = None
) -> bytes:
    """A config for CONFIG_LAYER with top-level ``change``s and ``config`` (container
    config) changes; or ``raw`` bytes."""
    if raw is not None:
        return raw
    value = json.loads(config_for([CONFIG_LAYER]))
    value["config"].update(config or {})
    value.update(change or {})
    return json.dumps(value).encode()


ABSURD_CONFIGS: dict[str, tuple[bytes, str]] = {
    "diff-ids-count": (
        absurd({"rootfs": {"type": "layers", "diff_ids": [sha256(CONFIG_LAYER)] * 2}}),
        "layers",  # load: "1 layers but the config lists 2 diff IDs"; pull: "do not match"
    ),
    "user-negative": (absurd(config={"User": -1}), "config.User: expected a string, got a number"),
    "user-huge-number": (absurd(config={"User": 10**30}), "config.User: expected a string"),
    "user-list": (
        absurd(config={"User": ["root"]}),
        "config.User: expected a string, got an array",
    ),
    "env-string": (absurd(config={"Env": "PATH=/bin"}), "config.Env: expected an array of strings"),
    "env-object": (absurd(config={"Env": {"A": "b"}}), "config.Env: expected an array of strings"),
    "env-numbers": (absurd(config={"Env": [1, 2]}), "config.Env: expected an array of strings"),
    "exposed-port-99999": (
        absurd(config={"ExposedPorts": {"99999/tcp": {}}}),
        "config.ExposedPorts: invalid port '99999/tcp'",
    ),
    "exposed-port-word": (
        absurd(config={"ExposedPorts": {"http/tcp": {}}}),
        "config.ExposedPorts: invalid port 'http/tcp'",
    ),
    "exposed-ports-list": (absurd(config={"ExposedPorts": ["80/tcp"]}), "config.ExposedPorts"),
    "cmd-number": (absurd(config={"Cmd": 5}), "config.Cmd: expected an array of strings"),
    "entrypoint-object": (absurd(config={"Entrypoint": {}}), "config.Entrypoint"),
    "labels-list": (absurd(config={"Labels": ["a=b"]}), "config.Labels: expected an object"),
    "labels-numbers": (absurd(config={"Labels": {"a": 1}}), "config.Labels"),
    "volumes-string": (absurd(config={"Volumes": "/data"}), "config.Volumes"),
    "healthcheck-string": (absurd(config={"Healthcheck": "true"}), "config.Healthcheck"),
    "healthcheck-interval-string": (
        absurd(config={"Healthcheck": {"Test": ["CMD", "true"], "Interval": "1s"}}),
        "config.Healthcheck.Interval: expected an integer",
    ),
    "stop-timeout-string": (absurd(config={"StopTimeout": "10"}), "config.StopTimeout"),
    "tty-string": (absurd(config={"Tty": "yes"}), "config.Tty: expected a boolean"),
    "container-config-list": (absurd({"config": [1, 2]}), "config: expected an object"),
    "history-string": (absurd({"history": "long ago"}), "history: expected an array"),
    "history-entry-number": (absurd({"history": [5]}), "history[0]: expected an object"),
    "history-created-by-number": (
        absurd({"history": [{"created_by": 1}]}),
        "history[0].created_by: expected a string",
    ),
    "created-number": (absurd({"created": 1_700_000_000}), "created: expected a string"),
    "architecture-number": (absurd({"architecture": 64}), "architecture must be a string"),
    "not-json": (absurd(raw=b"this is not JSON {"), "image config: invalid JSON"),
    "json-array": (absurd(raw=b"[1, 2, 3]"), "image config: expected a JSON object"),
    "not-utf8": (absurd(raw=b"\xff\xfe{}"), "image config: invalid JSON"),
    "nested-100000-deep": (
        absurd(raw=b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        "image config: invalid JSON: nested too deeply",
    ),
    "rootfs-missing": (absurd({"rootfs": None}), 'rootfs.type must be "layers"'),
    "diff-id-not-a-digest": (
        absurd({"rootfs": {"type": "layers", "diff_ids": ["sha256:xyz"]}}),
        "sha256:xyz",
    ),
}


@pytest.mark.parametrize("form", ["docker-archive", "pull"])
@pytest.mark.parametrize("case", list(ABSURD_CONFIGS))
def test_an_absurd_config_is_refused_with_the_field_named(
    guard: Guard, hub: Hub, case: str, form: str
):
    config, message = ABSURD_CONFIGS[case]
    result = feed(guard, hub, form, [CONFIG_LAYER], config, name=f"config-{case}")
    line = assert_refused(result, message)
    if case == "diff-ids-count":
        assert line.endswith(
            "1 layers but the config lists 2 diff IDs"
            if form != "pull"
            else "the manifest's layers do not match its config"
        ), line
    done(guard, hub, form)


def test_a_config_with_absurd_but_wellformed_values_loads_and_nothing_crashes(
    guard: Guard, hub: Hub, rootfs_tar: Path
):
    """What Docker's types allow is taken: a User no system has, a 10 MB Cmd given as a
    string (Docker's strslice reads it as a one-element list). Every command on the image
    then answers, in one line when it fails."""
    layers = [rootfs_tar.read_bytes()]
    config = json.loads(config_for(layers))
    config["config"]["User"] = "99999999999999999999"
    cmd = "x" * (10 << 20)
    config["config"]["Cmd"] = cmd
    started = time.monotonic()
    result = feed(guard, hub, "docker-archive", layers, json.dumps(config).encode(), name="absurd")
    assert result.code == 0, result
    assert time.monotonic() - started < 10
    image = guard.skiff.inspect("absurd:1")
    assert image["Config"]["Cmd"] == [cmd]
    assert image["Config"]["User"] == "99999999999999999999"
    assert "absurd:1" in guard.skiff.ok("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert (
        guard.skiff.ok("history", "-q", "absurd:1")
        == sha256(json.dumps(config).encode())[7:19] + "\n"
    )
    # the run fails on the user, with Docker's words, and leaves no container
    run = guard.skiff("run", "--rm", "--network", "none", "absurd:1", timeout=60)
    assert (run.code, run.out) == (125, ""), run
    assert run.err == (
        "Error: unable to find user 99999999999999999999: no matching entries in passwd file\n"
    )
    assert guard.skiff.ok("ps", "-aq") == ""


def test_a_million_nonempty_history_entries_for_one_layer(guard: Guard, hub: Hub):
    config = json.loads(config_for([CONFIG_LAYER]))
    config["history"] = [{"created_by": "x"}] * 10**6
    result = feed(
        guard, hub, "docker-archive", [CONFIG_LAYER], json.dumps(config).encode(), name="hist"
    )
    assert result.code == 0, result
    # docker history's own words for a history that does not fit the layers
    history = guard.skiff("history", "hist:1")
    assert (history.code, history.err) == (
        1,
        "Error: too many non-empty layers in History section\n",
    )
    assert guard.skiff.inspect("hist:1")["RootFS"]["Layers"] == [sha256(CONFIG_LAYER)]


@pytest.mark.parametrize("form", ["oci-archive", "pull"])
def test_a_config_declared_100_mb_is_refused_before_it_is_read(guard: Guard, hub: Hub, form: str):
    config = absurd({"comment": "declared 100 MB"})
    declared = 100 << 20
    blob = gzip.compress(CONFIG_LAYER, mtime=0)
    if form == "pull":
        result = guard.skiff(
            "pull", hub.image("declared", "1", [blob], config, config_size=declared)
        )
        assert_refused(
            result,
            f"config {sha256(config)}: declared size {declared} is larger than 4194304 bytes",
        )
    else:
        path = guard.inputs / "declared.tar"
        manifest = oci_manifest(config, [blob], OCI_LAYER_GZIP, config_size=declared)
        oci_layout_archive(
            path, oci_index((OCI_MANIFEST, manifest, len(manifest))), [config, manifest, blob]
        )
        result = guard.skiff("load", "-i", str(path))
        assert_refused(
            result,
            f"config {sha256(config)}: {len(config)} bytes, but its descriptor says {declared}",
        )
    done(guard, hub, form)


def test_a_10_mb_config_is_refused_by_pull_by_its_declared_size(guard: Guard, hub: Hub):
    config = absurd(config={"Cmd": "x" * (10 << 20)})
    blob = gzip.compress(CONFIG_LAYER, mtime=0)
    result = guard.skiff("pull", hub.image("big-config", "1", [blob], config))
    assert_refused(result, f"declared size {len(config)} is larger than 4194304 bytes")
    done(guard, hub, "pull")


# --- 7: manifests that point to themselves --------------------------------------------------


def small_image() -> tuple[bytes, bytes, bytes]:
    """(layer, config, manifest) of a good image, for indexes to point to."""
    layer = layer_tar({"i": b"i\n"})
    config = config_for([layer])
    return layer, config, oci_manifest(config, [layer])


def test_an_index_listing_itself_in_an_archive_is_refused(guard: Guard):
    """A blob stored under digest X that is an index listing X: following it would loop
    forever (before, the nesting overflowed Python's stack). Its digest is checked before
    it is followed, so it cannot claim to be X."""
    x = "sha256:" + "ab" * 32
    looping = oci_index((OCI_INDEX, x, 0))
    while len(looping) != json.loads(looping)["manifests"][0]["size"]:  # its own size
        looping = oci_index((OCI_INDEX, x, len(looping)))
    path = guard.inputs / "self.tar"
    oci_layout_archive(path, looping, [], raw={x: looping})
    assert_refused(guard.skiff("load", "-i", str(path)), f"index {x}: digest mismatch")
    done(guard, None, "oci-archive")


def test_an_index_loop_through_two_indexes_in_an_archive_is_refused(guard: Guard):
    """index.json -> A -> B -> A, each stored under the digest its parent names."""
    a, b = "sha256:" + "aa" * 32, "sha256:" + "bb" * 32
    index_a = oci_index((OCI_INDEX, b, 200))
    index_b = oci_index((OCI_INDEX, a, 200))
    index_a = index_a.replace(b'"size": 200', f'"size": {len(index_b)}'.encode())
    index_b = index_b.replace(b'"size": 200', f'"size": {len(index_a)}'.encode())
    top = oci_index((OCI_INDEX, a, len(index_a)))
    path = guard.inputs / "loop.tar"
    oci_layout_archive(path, top, [], raw={a: index_a, b: index_b})
    assert_refused(guard.skiff("load", "-i", str(path)), f"index {a}: digest mismatch")
    done(guard, None, "oci-archive")


@pytest.mark.parametrize("depth", [3, 9, 5000])
def test_nested_indexes_in_an_archive(guard: Guard, depth: int):
    """A chain of real indexes, each the only child of the one above: a few levels load
    (skopeo writes one), a deep chain is refused at the limit without recursing down it."""
    layer, config, manifest = small_image()
    blobs = [layer, config, manifest]
    child = (OCI_MANIFEST, manifest, len(manifest))
    for _ in range(depth):
        index = oci_index(child)
        blobs.append(index)
        child = (OCI_INDEX, index, len(index))
    path = guard.inputs / "nested.tar"
    oci_layout_archive(path, oci_index(child), blobs)
    result = guard.skiff("load", "-i", str(path))
    if depth < 8:
        assert (result.code, result.out) == (0, f"Loaded image ID: {sha256(config)}\n"), result
    else:
        assert_refused(result, "indexes nested more than 8 deep")
        done(guard, None, "oci-archive")


def test_a_blob_that_is_a_symlink_to_itself_in_an_archive_is_refused(guard: Guard):
    layer, config, manifest = small_image()
    path = guard.inputs / "symlink-loop.tar"
    oci_layout_archive(path, oci_index((OCI_MANIFEST, manifest, len(manifest))), [layer, manifest])
    with tarfile.open(path, "a") as tar:
        info = tarfile.TarInfo("blobs/sha256/" + sha256(config)[7:])
        info.type = tarfile.SYMTYPE
        info.linkname = sha256(config)[7:]
        tar.addfile(info)
    assert_refused(guard.skiff("load", "-i", str(path)), "too many links")
    done(guard, None, "oci-archive")


def test_pull_of_an_index_that_serves_itself_is_refused(guard: Guard, hub: Hub):
    """A registry that lies: the child the index names is served as the index itself
    (its bytes forged in the registry's storage). The child's digest is checked, so skiff
    does not follow it a second time."""
    layer, config, manifest = small_image()
    hub.image("self", "child", [layer], config, OCI_LAYER)
    decoy = oci_index((OCI_MANIFEST, manifest, len(manifest)))
    digest = hub.manifest("self", "1", decoy, OCI_INDEX)
    forged = oci_index((OCI_INDEX, digest, len(decoy)))
    hub.blob_file(digest).write_bytes(forged)  # the tag and the child now serve this
    result = guard.skiff("pull", hub.ref("self", "1"))
    assert_refused(result, f"manifest verification failed for digest {digest}")
    done(guard, hub, "pull")


def test_pull_of_nested_indexes_is_refused(guard: Guard, hub: Hub):
    """index -> index -> index -> manifest: Docker follows one level of manifest list, so
    does skiff, and says why it stops."""
    layer, config, manifest = small_image()
    hub.image("nested", "leaf", [layer], config, OCI_LAYER)
    child = (OCI_MANIFEST, manifest, len(manifest))
    for level in range(3):
        index = oci_index(child)
        hub.manifest("nested", f"level{level}", index, OCI_INDEX)
        child = (OCI_INDEX, index, len(index))
    result = guard.skiff("pull", hub.ref("nested", "level2"))
    assert_refused(result, "is itself a manifest list: nested manifest lists are not supported")
    done(guard, hub, "pull")


def test_pull_of_a_layer_of_an_unknown_media_type_is_refused(guard: Guard, hub: Hub):
    layer = layer_tar({"u": b"u\n"})
    ref = hub.image("unknown", "1", [layer], config_for([layer]), "application/vnd.example.evil")
    result = guard.skiff("pull", ref)
    assert_refused(result, "unknown layer media type: 'application/vnd.example.evil'")
    done(guard, hub, "pull")
