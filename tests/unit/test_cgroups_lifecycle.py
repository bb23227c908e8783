"""Cgroup objects on fake cgroupfs trees: open, create, add, pids, freeze, destroy, file errors."""

import os
from pathlib import Path

import pytest

from skiff.cgroups import freezer, open_cgroup
from skiff.cgroups.files import CgroupDir, WriteError
from skiff.cgroups.hierarchy import Hierarchy
from skiff.cgroups.v1 import V1Cgroup
from skiff.cgroups.v2 import V2Cgroup
from skiff.errors import EngineError, InvalidArgument


def v1_tree(root: Path, *names: str, unified: bool = True) -> list[Hierarchy]:
    """Hierarchies mounted under ``root``: one per name (``name=x`` for a named one)."""
    found = []
    for name in names:
        (root / name).mkdir(parents=True)
        controllers = () if name.startswith("name=") else tuple(name.split(","))
        found.append(Hierarchy(str(root / name), "/", 1, controllers, name, name))
    if unified:
        (root / "unified").mkdir()
        found.append(Hierarchy(str(root / "unified"), "/", 2, name="unified"))
    return found


def write(path: Path, **files: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name.replace("__", ".")).write_text(text)


def all_dirs(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir())


def test_open_cgroup_picks_the_driver(tmp_path):
    hybrid = v1_tree(tmp_path / "h", "memory", "name=systemd")
    assert isinstance(open_cgroup("/a/b", found=hybrid), V1Cgroup)
    unified = [Hierarchy(str(tmp_path), "/", 2)]
    cgroup = open_cgroup("/a/b", found=unified)
    assert isinstance(cgroup, V2Cgroup) and cgroup.version == 2 and cgroup.path == "/a/b"
    assert not os.listdir(tmp_path / "h" / "memory")  # opening touches nothing
    for bad in ("a/b", "/a/../b", "//a", "/a/"):
        with pytest.raises(InvalidArgument, match="absolute and normalised"):
            open_cgroup(bad, found=unified)
    with pytest.raises(InvalidArgument, match="cannot use the root cgroup"):
        open_cgroup("/", found=unified)


def test_v1_create_and_destroy_every_hierarchy(tmp_path):
    found = v1_tree(tmp_path, "memory", "cpu,cpuacct", "name=systemd")
    (tmp_path / "memory" / "existing").mkdir()
    before = all_dirs(tmp_path)
    cgroup = V1Cgroup("/existing/skiff/c1", found)
    cgroup.create()
    assert cgroup.dirs() == [
        f"{tmp_path}/memory/existing/skiff/c1",
        f"{tmp_path}/cpu,cpuacct/existing/skiff/c1",
        f"{tmp_path}/name=systemd/existing/skiff/c1",
        f"{tmp_path}/unified/existing/skiff/c1",
    ]
    assert cgroup.exists() and all(os.path.isdir(d) for d in cgroup.dirs())
    (tmp_path / "memory/existing/skiff/c1/sub/deeper").mkdir(parents=True)  # made inside
    cgroup.destroy()
    # Its own directories and the parents it made are gone; "existing" was there before.
    assert all_dirs(tmp_path) == before
    assert not cgroup.exists()
    cgroup.destroy()  # gone already: fine


def test_destroy_keeps_parents_it_did_not_make(tmp_path):
    found = v1_tree(tmp_path, "pids", unified=False)
    V1Cgroup("/skiff/c1", found).create()
    V1Cgroup("/skiff/c2", found).create()
    reopened = V1Cgroup("/skiff/c1", found)  # as `skiff-runtime delete` sees it
    reopened.destroy()
    assert all_dirs(tmp_path) == ["pids", "pids/skiff", "pids/skiff/c2"]


def test_v1_create_copies_cpusets_down(tmp_path):
    found = v1_tree(tmp_path, "cpuset", unified=False)
    write(tmp_path / "cpuset", cpuset__cpus="0-3\n", cpuset__mems="0\n")
    write(tmp_path / "cpuset/a", cpuset__cpus="1\n", cpuset__mems="\n")
    write(tmp_path / "cpuset/a/b", cpuset__cpus="", cpuset__mems="")
    V1Cgroup("/a/b", found).create()
    assert (tmp_path / "cpuset/a/cpuset.cpus").read_text() == "1\n"  # kept
    assert (tmp_path / "cpuset/a/cpuset.mems").read_text() == "0"
    assert (tmp_path / "cpuset/a/b/cpuset.cpus").read_text() == "1"
    assert (tmp_path / "cpuset/a/b/cpuset.mems").read_text() == "0"


def test_v2_create_enables_controllers_in_the_parents(tmp_path):
    write(tmp_path, cgroup__controllers="cpu io memory pids\n", cgroup__subtree_control="pids\n")
    write(tmp_path / "a", cgroup__controllers="cpu io memory pids\n", cgroup__subtree_control="")
    write(tmp_path / "a/b", cgroup__controllers="", cgroup__subtree_control="")
    V2Cgroup("/a/b", Hierarchy(str(tmp_path), "/", 2)).create()
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu +io +memory"
    assert (tmp_path / "a/cgroup.subtree_control").read_text() == "+cpu +io +memory +pids"
    assert (tmp_path / "a/b/cgroup.subtree_control").read_text() == ""  # not the leaf's


def test_add_and_pids(tmp_path):
    found = v1_tree(tmp_path, "pids")
    cgroup = V1Cgroup("/c", found)
    cgroup.create()
    cgroup.add(4242)
    assert [Path(d, "cgroup.procs").read_text() for d in cgroup.dirs()] == ["4242", "4242"]
    write(tmp_path / "pids/c/child", cgroup__procs="7\n9\n")
    assert cgroup.pids() == [7, 9, 4242]
    missing = V1Cgroup("/gone", found)
    with pytest.raises(EngineError, match=r"cannot add process 1 to .*/gone/cgroup.procs"):
        missing.add(1)
    assert missing.pids() == []


def test_v2_freeze_waits_for_the_kernel(tmp_path, monkeypatch):
    d = tmp_path / "c"
    write(d, cgroup__freeze="0", cgroup__events="populated 1\nfrozen 1\n")
    cgroup = V2Cgroup("/c", Hierarchy(str(tmp_path), "/", 2))
    cgroup.freeze()
    assert (d / "cgroup.freeze").read_text() == "1"
    assert cgroup.frozen()
    monkeypatch.setattr(freezer, "TIMEOUT", 0.01)
    with pytest.raises(EngineError, match="did not thaw"):
        cgroup.thaw()  # cgroup.events still says frozen
    (d / "cgroup.events").write_text("populated 1\nfrozen 0\n")
    with pytest.raises(EngineError, match="did not freeze"):
        cgroup.freeze()
    assert (d / "cgroup.freeze").read_text() == "0"  # given up: thawed again


def test_v1_freezer_and_its_fallbacks(tmp_path):
    found = v1_tree(tmp_path, "freezer", "memory")
    write(tmp_path / "freezer/c", freezer__state="THAWED")
    write(tmp_path / "unified/c", cgroup__freeze="0", cgroup__events="frozen 1\n")
    cgroup = V1Cgroup("/c", found)
    cgroup.freeze()  # a regular file reads back what was written: FROZEN at once
    assert cgroup.frozen()
    cgroup.thaw()
    assert (tmp_path / "freezer/c/freezer.state").read_text() == "THAWED"
    without_freezer = V1Cgroup("/c", [h for h in found if h.name != "freezer"])
    assert without_freezer.frozen()  # through the v2 directory's cgroup.events
    with pytest.raises(EngineError, match="no freezer cgroup controller"):
        V1Cgroup("/c", found[1:2]).freeze()


def test_write_errors_name_field_and_file(tmp_path):
    d = CgroupDir(str(tmp_path))
    with pytest.raises(WriteError) as e:
        d.write("memory.max", "1", "linux.resources.memory.limit")
    assert str(e.value) == f"linux.resources.memory.limit: memory.max not available in {tmp_path}"
    assert e.value.errno is None
    os.symlink("/dev/full", tmp_path / "memory.max")
    with pytest.raises(WriteError) as e:
        d.write("memory.max", "4096", "linux.resources.memory.limit")
    assert str(e.value) == (
        f"linux.resources.memory.limit: write '4096' to {tmp_path}/memory.max: "
        "No space left on device"
    )
    assert isinstance(e.value, InvalidArgument)


def test_reading(tmp_path):
    write(tmp_path, a="max\n", b="12\n", k="x 1\ny -2\nz nope\n")
    d = CgroupDir(str(tmp_path))
    assert (d.read_int("a"), d.read_int("b"), d.read_int("missing")) == (0, 12, 0)
    assert d.read_keyed("k") == {"x": 1, "y": -2}
    assert d.read_keyed("missing") == {}
