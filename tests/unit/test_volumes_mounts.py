"""A container's mounts resolved from -v, --mount, --volumes-from and the image's VOLUMEs.

The expected Mounts entries (Mode, RW, Propagation, Name/Driver only for volumes) are
those ``docker inspect`` showed for the same flags on this machine (docker CLI 28.2.2
with Debian's dockerd 20.10; the anonymous label is Docker 23+'s).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from skiff.engine import volumes
from skiff.engine.containers import ContainerStore
from skiff.engine.options import ContainerOptions, parse_mount, parse_volume
from skiff.errors import InvalidArgument, NotFound
from skiff.paths import Paths
from skiff.storage.volumes import VolumeStore

HEX64 = re.compile(r"[0-9a-f]{64}")


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(str(tmp_path / "root"), str(tmp_path / "run"))


@pytest.fixture
def store(paths: Paths) -> VolumeStore:
    return VolumeStore(paths)


@pytest.fixture
def containers(paths: Paths) -> ContainerStore:
    return ContainerStore(paths)


def resolve(
    store: VolumeStore,
    containers: ContainerStore,
    v: tuple[str, ...] = (),
    mount: tuple[str, ...] = (),
    volumes_from: tuple[str, ...] = (),
    image_volumes: tuple[str, ...] = (),
    tmpfs: dict[str, str] | None = None,
) -> list[dict]:
    options = ContainerOptions(
        image="img",
        volumes=[parse_volume(s) for s in v],
        mounts=[parse_mount(s) for s in mount],
        volumes_from=list(volumes_from),
        tmpfs=tmpfs or {},
    )
    config = {"config": {"Volumes": {path: {} for path in image_volumes}}}
    return volumes.resolve(options, config, store, containers)


def error(fn, *args, **kwargs) -> str:
    with pytest.raises((InvalidArgument, NotFound)) as info:
        fn(*args, **kwargs)
    return str(info.value)


def shown(mounts: list[dict]) -> dict[str, dict]:
    return {m["Destination"]: m for m in volumes.inspect_mounts(mounts)}


def test_mounts_as_docker_shows_them(store: VolumeStore, containers: ContainerStore, tmp_path):
    host = str(tmp_path)
    mounts = resolve(
        store,
        containers,
        v=("/anon", "named1:/n1", "named2:/n2:ro,nocopy", f"{host}:/h1", f"{host}:/h2:ro,rslave"),
        mount=(
            "type=volume,dst=/m1",
            "type=volume,src=named3,dst=/m2,readonly",
            f"type=bind,src={host},dst=/m3",
            f"type=bind,src={host},dst=/m4,bind-propagation=shared,readonly",
        ),
    )
    by = shown(mounts)
    assert by["/h1"] == {
        "Type": "bind", "Source": host, "Destination": "/h1", "Mode": "", "RW": True,
        "Propagation": "rprivate",
    }  # fmt: skip
    assert by["/h2"] | {"Source": ""} == {
        "Type": "bind", "Source": "", "Destination": "/h2", "Mode": "ro,rslave", "RW": False,
        "Propagation": "rslave",
    }  # fmt: skip
    assert by["/m3"]["Mode"] == "" and by["/m3"]["Propagation"] == "rprivate"
    assert (by["/m4"]["RW"], by["/m4"]["Propagation"]) == (False, "shared")
    assert by["/n1"] == {
        "Type": "volume", "Name": "named1", "Source": store.data_path("named1"),
        "Destination": "/n1", "Driver": "local", "Mode": "z", "RW": True, "Propagation": "",
    }  # fmt: skip
    assert (by["/n2"]["Mode"], by["/n2"]["RW"]) == ("ro,nocopy", False)
    assert (by["/m2"]["Name"], by["/m2"]["Mode"], by["/m2"]["RW"]) == ("named3", "z", False)
    assert HEX64.fullmatch(by["/m1"]["Name"]) and by["/m1"]["Mode"] == "z"
    assert HEX64.fullmatch(by["/anon"]["Name"]) and by["/anon"]["Mode"] == ""
    internal = {m["Destination"]: m for m in mounts}
    assert internal["/anon"]["anonymous"] and internal["/m1"]["anonymous"]
    assert not internal["/n1"]["anonymous"]
    assert internal["/n1"]["copy"] and not internal["/n2"]["copy"]
    assert internal["/h1"]["create_source"] and not internal["/m3"]["create_source"]
    assert store.list() == []  # resolving creates nothing


def test_image_volumes_only_where_nothing_is_mounted(
    store: VolumeStore, containers: ContainerStore
):
    mounts = resolve(
        store,
        containers,
        v=("/data", "keep:/etc/conf"),
        mount=("type=tmpfs,dst=/cache",),
        image_volumes=("/data/", "/etc/conf", "/cache", "/run", "/logs"),
        tmpfs={"/run": ""},
    )
    assert sorted(m["Destination"] for m in mounts) == ["/data", "/etc/conf", "/logs"]
    data = next(m for m in mounts if m["Destination"] == "/data")
    assert data["Mode"] == "" and data["copy"] and data["anonymous"]


@pytest.mark.parametrize(
    ("v", "mount", "tmpfs", "expected"),
    [
        (("a1:/x", "/h:/x"), (), {}, "Duplicate mount point: /x"),
        (("a1:/x/",), ("type=volume,dst=/x",), {}, "Duplicate mount point: /x"),
        ((), ("type=volume,dst=/x", "type=tmpfs,dst=/x/"), {}, "Duplicate mount point: /x"),
        (("a1:/run",), (), {"/run": "size=1m"}, "Duplicate mount point: /run"),
    ],
)
def test_duplicate_destinations(
    store: VolumeStore, containers: ContainerStore, v, mount, tmpfs, expected
):
    assert error(resolve, store, containers, v=v, mount=mount, tmpfs=tmpfs) == expected


def test_missing_bind_source(store: VolumeStore, containers: ContainerStore, tmp_path: Path):
    missing = str(tmp_path / "missing")
    assert error(resolve, store, containers, mount=(f"type=bind,src={missing},dst=/x",)) == (
        f'invalid mount config for type "bind": bind source path does not exist: {missing}'
    )
    # -v makes it at start instead (Docker's rule), so resolving is fine.
    assert resolve(store, containers, v=(f"{missing}:/x",))[0]["create_source"]
    assert not os.path.exists(missing)


@pytest.mark.parametrize(
    ("v", "mount", "expected"),
    [
        (("bad name:/x",), (), 'create bad name: "bad name" includes invalid characters for a '
         'local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to '
         "pass a host directory, use absolute path"),
        ((), ("type=volume,src=a,dst=/x",), "create a: volume name is too short, names should "
         "be at least two alphanumeric characters"),
        ((), ("type=volume,src=v1,dst=/x,volume-driver=nfs",), "create v1: error looking up "
         'volume plugin nfs: plugin "nfs" not found'),
        ((), ("type=volume,src=v1,dst=/x,volume-opt=color=red",), 'create v1: invalid option: '
         '"color"'),
    ],
)  # fmt: skip
def test_bad_volumes_are_refused_before_anything_is_made(
    store: VolumeStore, containers: ContainerStore, v, mount, expected
):
    assert error(resolve, store, containers, v=v, mount=mount) == expected


def test_options_of_an_existing_volume_are_not_checked(
    store: VolumeStore, containers: ContainerStore
):
    store.create("v1")
    mounts = resolve(store, containers, mount=("type=volume,src=v1,dst=/x,volume-opt=color=red",))
    assert mounts[0]["Name"] == "v1"


def attach(paths: Paths, store: VolumeStore, name: str, mounts: list[dict]) -> str:
    container_id = (name.encode().hex() + "0" * 64)[:64]
    ContainerStore(paths).add(container_id, name, "sha256:x", "img", {})
    store.attach(container_id, mounts)
    return container_id


def test_volumes_from_copies_mounts_read_only_when_asked(
    store: VolumeStore, containers: ContainerStore, paths: Paths, tmp_path: Path
):
    source = resolve(
        store, containers, v=("shared:/data", f"{tmp_path}:/host:ro"), image_volumes=("/img",)
    )
    attach(paths, store, "source", source)
    copied = resolve(store, containers, volumes_from=("source:ro",))
    by = shown(copied)
    assert set(by) == {"/data", "/host", "/img"}
    assert all(not m["RW"] and m["Mode"] == "" for m in by.values())
    assert by["/data"]["Name"] == "shared"
    assert not any(m["copy"] for m in copied)
    rw = shown(resolve(store, containers, volumes_from=("source",)))
    assert rw["/data"]["RW"] and not rw["/host"]["RW"]  # a ro mount stays ro
    # A -v at the same destination replaces the copied one (no duplicate error).
    over = shown(resolve(store, containers, v=("other:/data",), volumes_from=("source",)))
    assert over["/data"]["Name"] == "other"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", "volumes-from specification cannot be an empty string"),
        ("c1:zz", "invalid mode: zz"),
        ("c1:rshared", "invalid mode: rshared"),
        ("c1:nocopy", "invalid mode: nocopy"),
        ("c1:ro,rw", "invalid mode: ro,rw"),
        ("c1:rro", 'mount mode "rro" is not supported for volumes-from mounts: invalid mode: rro'),
        ("nope", "No such container: nope"),
    ],
)
def test_bad_volumes_from(store: VolumeStore, containers: ContainerStore, spec, expected):
    assert error(resolve, store, containers, volumes_from=(spec,)) == expected


def test_volumes_from_modes():
    assert volumes.parse_volumes_from("c1") == ("c1", "rw")
    assert volumes.parse_volumes_from("c1:ro,z") == ("c1", "ro,z")
    assert not volumes.read_write("ro,z") and volumes.read_write("rw")


def test_rootfs_propagation_as_docker_sets_it():
    def of(*modes: str) -> str | None:
        return volumes.rootfs_propagation([{"Propagation": m} for m in modes])

    assert of("", "rprivate") is None
    assert of("rslave") == "rslave"
    assert of("slave", "rshared") == "shared"
    assert of("shared", "rslave") == "shared"


def test_source_mount_is_the_deepest_mount_holding_the_path(tmp_path: Path):
    point, optional = volumes.source_mount(str(tmp_path))
    assert str(tmp_path) == point or str(tmp_path).startswith(point.rstrip("/") + "/")
    assert all(":" in field for field in optional)
    assert volumes.source_mount("/proc/self")[0] == "/proc"


def test_volume_subpath_is_refused(store: VolumeStore, containers: ContainerStore):
    assert (
        error(resolve, store, containers, mount=("type=volume,src=v1,dst=/x,volume-subpath=a",))
        == 'invalid mount config for type "volume": volume-subpath is not supported'
    )
