"""The volume store: Docker's local driver's names, options, filters, references, prune.

Expected messages were checked against Debian's dockerd 20.10 driven by the docker CLI
28.2.2 on this machine (the local driver's messages are the same in Docker 28); the
anonymous label is Docker 23+'s.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from skiff.engine.containers import ContainerStore
from skiff.errors import Conflict, InvalidArgument, NotFound
from skiff.paths import Paths
from skiff.storage.volumes import ANONYMOUS_LABEL, VolumeStore, disk_usage


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(str(tmp_path / "root"), str(tmp_path / "run"))


@pytest.fixture
def store(paths: Paths) -> VolumeStore:
    return VolumeStore(paths)


def add_container(paths: Paths, name: str) -> str:
    container_id = (name.encode().hex() + "0" * 64)[:64]
    ContainerStore(paths).add(container_id, name, "sha256:x", "img", {})
    return container_id


def message(fn, *args) -> str:
    with pytest.raises((InvalidArgument, NotFound, Conflict)) as info:
        fn(*args)
    return str(info.value)


def test_named_volume_has_dockers_layout_and_inspect_shape(store: VolumeStore, paths: Paths):
    volume = store.create("data")
    root = os.path.join(paths.root, "volumes")
    assert volume.mountpoint == os.path.join(root, "data", "_data")
    assert os.stat(root).st_mode & 0o777 == 0o701
    assert os.stat(os.path.join(root, "data")).st_mode & 0o777 == 0o701
    assert os.stat(volume.mountpoint).st_mode & 0o777 == 0o755
    api = volume.api()
    assert list(api) == ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"]
    assert api["Driver"] == "local" and api["Scope"] == "local" and api["Name"] == "data"
    assert api["Labels"] is None and api["Options"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", api["CreatedAt"])


def test_creating_an_existing_name_returns_it_unchanged(store: VolumeStore):
    first = store.create("data", labels={"a": "1"})
    again = store.create("data", labels={"b": "2"}, options={"bogus": "x"})
    assert again.name == first.name and again.labels == {"a": "1"}
    assert [v.name for v in store.list()] == ["data"]


def test_anonymous_volume_gets_a_random_name_and_dockers_label(store: VolumeStore):
    volume = store.create()
    assert re.fullmatch(r"[0-9a-f]{64}", volume.name)
    assert volume.labels == {ANONYMOUS_LABEL: ""} and volume.anonymous


def test_labels_and_options_are_shown_sorted(store: VolumeStore):
    volume = store.create(
        "tv",
        labels={"b": "2", "a": "1"},
        options={"type": "tmpfs", "o": "size=1m", "device": "tmpfs"},
    )
    text = json.dumps(volume.api())
    assert '"Labels": {"a": "1", "b": "2"}' in text
    assert '"Options": {"device": "tmpfs", "o": "size=1m", "type": "tmpfs"}' in text


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a", "create a: volume name is too short, names should be at least two alphanumeric "
         "characters"),
        ("bad name", 'create bad name: "bad name" includes invalid characters for a local volume '
         'name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
         "directory, use absolute path"),
        ("_x", 'create _x: "_x" includes invalid characters for a local volume name, only '
         '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use '
         "absolute path"),
        ("../up", 'create ../up: "../up" includes invalid characters for a local volume name, '
         'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
         "directory, use absolute path"),
    ],
)  # fmt: skip
def test_bad_names_are_refused_and_leave_nothing(
    store: VolumeStore, paths: Paths, name: str, expected: str
):
    assert message(store.create, name) == expected
    assert store.list() == []
    root = Path(paths.root) / "volumes"
    assert not root.exists() or list(root.iterdir()) == []


@pytest.mark.parametrize(
    ("driver", "options", "expected"),
    [
        ("other", {}, 'create v1: error looking up volume plugin other: plugin "other" not found'),
        ("local", {"foo": ""}, 'create v1: invalid option: "foo"'),
        ("local", {"type": "tmpfs"}, 'create v1: missing required option: "device"'),
        ("local", {"device": "tmpfs"}, 'create v1: missing required option: "type"'),
        ("local", {"o": "size=1m"}, 'create v1: missing required option: "device"'),
        ("local", {"size": "1g"}, "create v1: quota size requested but no quota support"),
        ("local", {"size": "1q"}, "create v1: invalid suffix: 'q'"),
    ],
)
def test_bad_driver_and_options(store: VolumeStore, driver: str, options: dict, expected: str):
    assert message(store.create, "v1", driver, None, options) == expected
    assert not store.exists("v1")


def test_get_and_remove_of_an_unknown_volume(store: VolumeStore):
    assert message(store.get, "nope") == "get nope: no such volume"
    assert message(store.remove, "nope") == "get nope: no such volume"
    store.remove("nope", force=True)  # -f: no error


def test_volume_in_use_is_refused_with_dockers_message(store: VolumeStore, paths: Paths):
    first = add_container(paths, "first")
    second = add_container(paths, "second")
    store.attach(first, [{"Type": "volume", "Name": "shared", "Driver": "local"}])
    store.attach(second, [{"Type": "volume", "Name": "shared", "Driver": "local"}])
    expected = f"remove shared: volume is in use - [{first}, {second}]"
    assert message(store.remove, "shared") == expected
    assert message(store.remove, "shared", True) == expected  # -f does not override it
    assert store.exists("shared") and os.path.isdir(store.data_path("shared"))
    ContainerStore(paths).remove(first)
    ContainerStore(paths).remove(second)  # the references go with the containers
    store.remove("shared")
    assert not store.exists("shared")
    assert not os.path.exists(os.path.dirname(store.data_path("shared")))


def test_attach_creates_missing_volumes_and_undoes_them_on_failure(
    store: VolumeStore, paths: Paths
):
    container = add_container(paths, "c")
    created = store.attach(
        container,
        [
            {"Type": "volume", "Name": "made", "Driver": "local"},
            {"Type": "bind", "Source": "/srv", "Destination": "/srv"},
            {"Type": "volume", "Name": "a" * 64, "Driver": "local", "anonymous": True},
        ],
    )
    assert created == ["made", "a" * 64]
    assert store.get("a" * 64).labels == {ANONYMOUS_LABEL: ""}
    assert [m["Type"] for m in store.mounts(container)] == ["volume", "bind", "volume"]
    other = add_container(paths, "other")
    with pytest.raises(InvalidArgument):
        store.attach(
            other,
            [
                {"Type": "volume", "Name": "fresh", "Driver": "local"},
                {"Type": "volume", "Name": "x", "Driver": "local"},  # too short
            ],
        )
    assert not store.exists("fresh") and not os.path.exists(store.data_path("fresh"))
    assert store.mounts(other) == []


def test_list_filters(store: VolumeStore, paths: Paths):
    store.create("web-data", labels={"app": "web", "tier": "front"})
    store.create("db-data", labels={"app": "db"})
    anonymous = store.create().name
    used = add_container(paths, "user")
    store.attach(used, [{"Type": "volume", "Name": "db-data", "Driver": "local"}])

    def names(**filters: list[str]) -> list[str]:
        return sorted(v.name for v in store.list(filters))

    assert names(dangling=["true"]) == sorted([anonymous, "web-data"])
    assert names(dangling=["0"]) == ["db-data"]
    assert names(name=["data"]) == ["db-data", "web-data"]
    assert names(name=["^web", "^db-"]) == ["db-data", "web-data"]
    assert names(name=["[unclosed"]) == []
    assert names(label=["app"]) == ["db-data", "web-data"]
    assert names(label=["app=web", "tier"]) == ["web-data"]
    assert names(label=[ANONYMOUS_LABEL]) == [anonymous]
    assert names(driver=["local"]) == sorted([anonymous, "db-data", "web-data"])
    assert names(driver=["other"]) == []
    assert message(store.list, {"bogus": ["1"]}) == "Invalid filter 'bogus'"
    assert message(store.list, {"dangling": ["maybe"]}) == "Invalid filter 'dangling=[maybe]'"
    assert message(store.list, {"dangling": ["true", "0"]}) == "Invalid filter 'dangling=[0 true]'"


def test_prune_removes_unused_anonymous_volumes_unless_all(store: VolumeStore, paths: Paths):
    anonymous = store.create().name
    kept_anonymous = store.create().name
    store.create("named", labels={"keep": "no"})
    store.create("optioned", options={"type": "tmpfs", "device": "tmpfs"})
    with open(os.path.join(store.data_path(anonymous), "f"), "wb") as f:
        f.write(b"x" * 1000)
    os.link(os.path.join(store.data_path(anonymous), "f"), store.data_path(anonymous) + "/g")
    used = add_container(paths, "user")
    store.attach(used, [{"Type": "volume", "Name": kept_anonymous, "Driver": "local"}])

    assert store.prune() == ([anonymous], 1000)  # a hard link counted once
    assert store.prune({"label": ["keep=yes"], "all": ["true"]}) == ([], 0)
    assert store.prune({"label!": ["keep"], "all": ["1"]}) == ([], 0)
    assert store.prune({"all": ["true"]}) == (["named"], 0)
    # Never a volume in use, nor one with driver options (Docker's prune skips them).
    assert sorted(v.name for v in store.list()) == sorted([kept_anonymous, "optioned"])


def test_prune_filter_errors(store: VolumeStore):
    assert message(store.prune, {"dangling": ["true"]}) == "Invalid filter 'dangling'"
    assert message(store.prune, {"all": ["maybe"]}) == (
        "invalid filter 'all': strconv.ParseBool: parsing \"maybe\": invalid syntax"
    )
    assert message(store.prune, {"all": ["1", "0"]}) == (
        "invalid filter 'all=[1 0]': only one value is expected"
    )


def test_disk_usage_counts_files_not_directories(tmp_path: Path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_bytes(b"12345")
    (tmp_path / "b").write_bytes(b"123")
    (tmp_path / "link").symlink_to("b")
    assert disk_usage(str(tmp_path)) == 5 + 3 + len("b")
