"""Images in the store: load, layers shared and unpacked once, long chains, save, bad input."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from skiff.errors import InvalidArgument, NotFound
from skiff.images import archive
from skiff.images.service import ImageStore
from skiff.paths import Paths
from skiff.storage.layers import directory_name, mount_overlay
from tests.support.images import docker_archive, layer_tar, oci_archive, sha256, store_listing


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(Paths(str(tmp_path / "root"), str(tmp_path / "run")))


class Mounted:
    """An overlay of an image's layers, unmounted at the end of the test."""

    def __init__(self, store: ImageStore, image_id: str, where: Path) -> None:
        image = store.get(image_id)
        names = [layer["directory"] for layer in reversed(image.layers())]
        for part in ("upper", "work", "merged"):
            (where / part).mkdir(parents=True)
        self.merged = where / "merged"
        mount_overlay(
            store.layer_dirs, names, str(where / "upper"), str(where / "work"), str(self.merged)
        )

    def close(self) -> None:
        subprocess.run(["umount", str(self.merged)], check=True)


@pytest.fixture
def mounts():
    opened: list[Mounted] = []
    yield opened
    for m in opened:
        m.close()


BASE = layer_tar({"bin": None, "bin/tool": b"base tool\n", "etc": None, "etc/os": b"base\n"})


def test_load_shares_layers_and_removal_keeps_the_other(store, tmp_path, mounts):
    app1 = layer_tar({"app": None, "app/one": b"1\n"})
    app2 = layer_tar({"app": None, "app/two": b"2\n"})
    path = tmp_path / "two.tar"
    id1, id2 = docker_archive(path, [([BASE, app1], ["one:latest"]), ([BASE, app2], ["two:v2"])])
    loaded = archive.load(store, str(path))
    assert [(x.image_id, x.tags) for x in loaded] == [
        (id1, ["docker.io/library/one:latest"]),
        (id2, ["docker.io/library/two:v2"]),
    ]
    # the base layer is stored (blob) and unpacked (directory) once
    assert len(list(store.content.digests())) == 3 + 2  # 3 layer blobs, 2 configs
    assert len([d for d in os.listdir(store.layer_dirs.root) if not d.startswith(".")]) == 3
    store.delete_image(store.get("one").id)
    with pytest.raises(NotFound):
        store.get("one")
    m = Mounted(store, id2, tmp_path / "m2")
    mounts.append(m)
    assert (m.merged / "bin" / "tool").read_bytes() == b"base tool\n"
    assert (m.merged / "app" / "two").read_bytes() == b"2\n"
    assert not (m.merged / "app" / "one").exists()
    assert len([d for d in os.listdir(store.layer_dirs.root) if not d.startswith(".")]) == 2


def test_gzip_layers_and_oci_archive(store, tmp_path):
    path = tmp_path / "gz.tar"
    (image_id,) = docker_archive(path, [([BASE], ["gz:1"])], compress_layers=True)
    assert archive.load(store, str(path))[0].image_id == image_id
    layer = store.get("gz:1").layers()[0]
    assert layer["media_type"].endswith("tar.gzip")
    assert layer["diff_id"] == sha256(BASE)
    assert layer["diff_size"] == len(BASE)
    oci = tmp_path / "oci.tar"
    oci_id = oci_archive(oci, [BASE], "example.com/team/app:7")
    assert archive.load(store, str(oci))[0].image_id == oci_id
    assert store.get("example.com/team/app:7").id == oci_id


@pytest.mark.parametrize(
    ("compress", "algorithm"), [("zstd", "sha256"), ("gzip", "sha512"), ("none", "sha512")]
)
def test_oci_layers_compressed_and_sha512(store, tmp_path, mounts, compress, algorithm):
    path = tmp_path / "oci.tar"
    layers = [BASE, layer_tar({"data": b"z" * 100_000})]
    image_id = oci_archive(path, layers, "example.com/z:1", compress=compress, algorithm=algorithm)
    assert archive.load(store, str(path))[0].image_id == image_id
    rows = store.get("example.com/z:1").layers()
    assert [r["diff_id"] for r in rows] == [sha256(layer) for layer in layers]
    assert all(r["blob"].startswith(algorithm + ":") for r in rows)
    assert all(r["diff_size"] == len(layer) for r, layer in zip(rows, layers, strict=True))
    m = Mounted(store, image_id, tmp_path / "m")
    mounts.append(m)
    assert (m.merged / "data").read_bytes() == b"z" * 100_000
    # saved again as an OCI archive, the blobs are the ones that came in
    out = tmp_path / "out.tar"
    with open(out, "wb") as f:
        archive.save_oci_archive(store, ["example.com/z:1"], f)
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert all(f"blobs/{algorithm}/{r['blob'].partition(':')[2]}" in names for r in rows)


def test_long_chain_mounts(store, tmp_path, mounts):
    layers = [layer_tar({f"f{i:03d}": f"{i}\n".encode()}) for i in range(120)]
    path = tmp_path / "long.tar"
    (image_id,) = docker_archive(path, [(layers, ["long:latest"])])
    archive.load(store, str(path))
    m = Mounted(store, image_id, tmp_path / "m")
    mounts.append(m)
    assert len(os.listdir(m.merged)) == 120
    assert (m.merged / "f000").read_text() == "0\n"
    assert (m.merged / "f119").read_text() == "119\n"


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive", "oci-dir"])
def test_save_and_load_keep_the_image_id(store, tmp_path, fmt):
    path = tmp_path / "in.tar"
    (image_id,) = docker_archive(path, [([BASE, layer_tar({"x": b"x"})], ["saved:1"])])
    archive.load(store, str(path))
    out = tmp_path / "out"
    if fmt == "oci-dir":
        archive.save_oci_dir(store, ["saved:1"], str(out))
        target = tmp_path / "again.tar"
        with tarfile.open(target, "w") as tar:
            tar.add(out, arcname=".")
    else:
        with open(out, "wb") as f:
            (archive.save_docker if fmt == "docker-archive" else archive.save_oci_archive)(
                store, ["saved:1"], f
            )
        target = out
    other = ImageStore(Paths(str(tmp_path / "root2"), str(tmp_path / "run2")))
    loaded = archive.load(other, str(target))
    assert [x.image_id for x in loaded] == [image_id]
    assert other.get("saved:1").id == image_id


def _corrupt_layer(path: Path) -> None:
    """Flip a byte inside the first layer.tar's content."""
    with tarfile.open(path) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("layer.tar"))
    with open(path, "r+b") as f:
        f.seek(member.offset_data + 600)
        byte = f.read(1)
        f.seek(member.offset_data + 600)
        f.write(bytes([byte[0] ^ 0xFF]))


def _bad_archives(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    cases = {}
    good = tmp_path / "good.tar"
    docker_archive(good, [([BASE, layer_tar({"data": b"d" * 5000})], ["bad:1"])])
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases["truncated"] = (truncated, "")
    corrupt = tmp_path / "corrupt.tar"
    corrupt.write_bytes(good.read_bytes())
    _corrupt_layer(corrupt)
    cases["digest mismatch"] = (corrupt, "digest mismatch")
    unknown = tmp_path / "unknown.tar"
    oci_archive(unknown, [BASE], "x/y:1", layer_media_type="application/vnd.example.layer")
    cases["unknown media type"] = (unknown, "unknown layer media type")
    missing = tmp_path / "missing.tar"
    with tarfile.open(missing, "w") as tar:
        manifest = json.dumps([{"Config": "nope.json", "RepoTags": ["m:1"], "Layers": []}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    cases["missing config"] = (missing, "nope.json is missing")
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(gzip.compress(b"not a tar at all" * 100))
    cases["not a tar"] = (garbage, "invalid archive")
    for name, files in {
        "dotdot": {"../escape": b"x"},
        "deep dotdot": {"a": None, "a/../../escape": b"x"},
        "symlink then file": {"link": "/tmp", "link/escape": b"x"},
        "hard link outside": {},
    }.items():
        path = tmp_path / f"{name.replace(' ', '-')}.tar"
        if name == "hard link outside":
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                info = tarfile.TarInfo("hl")
                info.type = tarfile.LNKTYPE
                info.linkname = "../../etc/passwd"
                tar.addfile(info)
            layer = buffer.getvalue()
        else:
            layer = layer_tar(files)
        docker_archive(path, [([layer], [f"evil:{len(cases)}"])])
        cases[name] = (path, "")
    return cases


def test_bad_archives_leave_the_store_unchanged(store, tmp_path):
    seed = tmp_path / "seed.tar"
    docker_archive(seed, [([BASE], ["seed:1"])])
    archive.load(store, str(seed))
    before = store_listing(Path(store.paths.root))
    for name, (path, message) in _bad_archives(tmp_path).items():
        with pytest.raises(InvalidArgument) as error:
            archive.load(store, str(path))
        assert message in str(error.value), name
        assert "\n" not in str(error.value), name
        assert store_listing(Path(store.paths.root)) == before, name
        assert [i.id for i in store.images()] == [store.get("seed:1").id], name
        assert not store.db.execute("SELECT * FROM leases").fetchall(), name
    assert not (tmp_path / "escape").exists()
    assert not os.path.exists("/tmp/escape")


def test_concurrent_loads_of_images_sharing_layers(tmp_path):
    layers = [BASE, layer_tar({"big": os.urandom(4 << 20)})]
    paths = []
    for i in range(4):
        path = tmp_path / f"c{i}.tar"
        docker_archive(path, [([*layers, layer_tar({f"own{i}": b"x"})], [f"conc:{i}"])])
        paths.append(path)
    errors = []

    def load(path: Path) -> None:
        try:
            own = ImageStore(Paths(str(tmp_path / "root"), str(tmp_path / "run")))
            archive.load(own, str(path))
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=load, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store = ImageStore(Paths(str(tmp_path / "root"), str(tmp_path / "run")))
    assert len(store.images()) == 4
    dirs = [d for d in os.listdir(store.layer_dirs.root) if not d.startswith(".")]
    assert len(dirs) == 2 + 4
    assert directory_name(sha256(BASE)) in dirs
    assert not store.db.execute("SELECT * FROM leases").fetchall()
