"""moby's ``docker cp`` path rules (skiff.engine.copy_paths), case by case."""

from __future__ import annotations

import pytest

from skiff.engine.copy_paths import (
    CopyError,
    CopyInfo,
    absolute_in_container,
    asserts_directory,
    base,
    clean,
    dirname,
    join,
    prepare_copy,
    preserve_trailing,
    rebase_entry,
    rebase_name,
    split_cp_arg,
    split_path_dir_entry,
)


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [
        ("", "."),
        ("/", "/"),
        ("//a//b/", "/a/b"),
        ("a/../..", ".."),
        ("/../x", "/x"),
        ("./a/.", "a"),
    ],
)
def test_clean_is_gos(path: str, cleaned: str):
    assert clean(path) == cleaned


@pytest.mark.parametrize(
    ("path", "expected_base", "expected_dir"),
    [("/a/b", "b", "/a"), ("/a/b/", "b", "/a/b"), ("/", "/", "/"), ("a", "a", "."), ("", ".", ".")],
)
def test_base_and_dirname_are_gos(path: str, expected_base: str, expected_dir: str):
    assert base(path) == expected_base
    assert dirname(path) == expected_dir


def test_join_cleans_and_keeps_an_absolute_part_inside():
    assert join("/tmp", "/etc") == "/tmp/etc"
    assert join("/tmp/d", "../../x") == "/x"
    assert join("", "a", "") == "a"


@pytest.mark.parametrize(
    ("original", "expected"),
    [("/d", "/d"), ("/d/", "/d/"), ("/d/.", "/d/."), ("d//.", "/d/."), ("/", "/"), ("/.", "/.")],
)
def test_a_container_path_keeps_its_trailing_slash_or_dot(original: str, expected: str):
    assert absolute_in_container(original) == expected


def test_preserve_trailing_adds_what_cleaning_removed():
    assert preserve_trailing("/a", "/a/") == "/a/"
    assert preserve_trailing("/a", "/a/.") == "/a/."
    assert preserve_trailing("/", "/.") == "/."
    assert preserve_trailing("/a/", "/a/") == "/a/"


@pytest.mark.parametrize(
    ("path", "asserted"),
    [("/d/", True), ("/d/.", True), ("/d", False), (".", True), ("/d.", False)],
)
def test_a_trailing_slash_or_dot_asserts_a_directory(path: str, asserted: bool):
    assert asserts_directory(path) is asserted


@pytest.mark.parametrize(
    ("path", "parts"),
    [("/a/b", ("/a", "b")), ("/a/b/.", ("/a/b", ".")), ("/a/b/", ("/a", "b")), ("/", ("/", "/"))],
)
def test_split_path_dir_entry_keeps_a_dot(path: str, parts: tuple[str, str]):
    assert split_path_dir_entry(path) == parts


def test_rebase_name_after_following_a_link():
    assert rebase_name("/d/lnk", "/d/f") == ("/d/f", "lnk")
    assert rebase_name("/evil/", "/etc") == ("/etc/", "evil")
    assert rebase_name("/evil/.", "/etc") == ("/etc/.", "")
    assert rebase_name("/same", "/x/same") == ("/x/same", "")


def test_rebase_entry_replaces_the_first_occurrence():
    assert rebase_entry("d/f", "d", "new") == "new/f"
    assert rebase_entry(".", ".", "new") == "new"
    assert rebase_entry("./f", ".", "new") == "new/f"
    assert rebase_entry("/bin/sh", "/", "root") == "root/bin/sh"


@pytest.mark.parametrize(
    ("arg", "parts"),
    [
        ("c1:/x", ("c1", "/x")),
        ("c1:", ("c1", "")),
        ("/abs/a:b", ("", "/abs/a:b")),
        ("./a:b", ("", "./a:b")),
        ("plain", ("", "plain")),
        ("-", ("", "-")),
    ],
)
def test_split_cp_arg(arg: str, parts: tuple[str, str]):
    assert split_cp_arg(arg) == parts


def test_into_an_existing_directory_no_rename():
    dst = CopyInfo("/host/dir", exists=True, is_dir=True)
    assert prepare_copy(CopyInfo("/c/d", True, True), dst) == ("/host/dir", None)
    assert prepare_copy(CopyInfo("/c/f", True, False), dst) == ("/host/dir", None)


def test_into_an_existing_directory_with_a_link_name():
    dst = CopyInfo("/host/dir", exists=True, is_dir=True)
    assert prepare_copy(CopyInfo("/c/f", True, False, "lnk"), dst) == ("/host/dir", ("f", "lnk"))


def test_a_new_name_renames_the_first_element():
    assert prepare_copy(CopyInfo("/c/d", True, True), CopyInfo("/host/new")) == (
        "/host",
        ("d", "new"),
    )
    assert prepare_copy(CopyInfo("/c/d/.", True, True), CopyInfo("/host/new")) == (
        "/host",
        (".", "new"),
    )
    assert prepare_copy(CopyInfo("/c/f", True, False), CopyInfo("/host/f2")) == (
        "/host",
        ("f", "f2"),
    )


def test_a_file_replaces_an_existing_file():
    dst = CopyInfo("/host/old", exists=True, is_dir=False)
    assert prepare_copy(CopyInfo("/c/f", True, False), dst) == ("/host", ("f", "old"))


def test_a_directory_onto_a_file_is_refused():
    with pytest.raises(CopyError, match=r"^cannot copy directory$"):
        prepare_copy(CopyInfo("/c/d", True, True), CopyInfo("/host/f", True, False))


def test_a_file_to_a_missing_directory_is_refused():
    with pytest.raises(CopyError, match=r"^no such directory$"):
        prepare_copy(CopyInfo("/c/f", True, False), CopyInfo("/host/missing/"))
