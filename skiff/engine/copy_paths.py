"""Path rules of ``docker cp`` (moby's archive copy rules), as pure functions.

A trailing ``/`` asserts that a path is a directory, and a trailing ``/.`` names a
directory's contents instead of the directory; both survive cleaning
(:func:`preserve_trailing`). An archive of a resource holds it under its base name
(``cp c:/a/dir -`` gives ``dir/...``, ``cp c:/a/dir/. -`` gives ``./...``); the
destination side renames that first path element (:func:`prepare_copy`) so that ``cp
c:/a/dir ./new`` makes ``./new`` with the contents of ``dir``.
"""

from __future__ import annotations

import posixpath

from skiff.errors import InvalidArgument
from skiff.values import Value


class CopyError(InvalidArgument):
    """A source and destination that cannot be copied one onto the other."""


class CopyInfo(Value):
    """A side of a copy: its path, whether it exists and is a directory, and the name its
    archive's entries must take (``rebase_name``; "" to keep the base name)."""

    FIELDS = ("path", "exists", "is_dir", "rebase_name")
    __slots__ = FIELDS

    def __init__(
        self, path: str, exists: bool = False, is_dir: bool = False, rebase_name: str = ""
    ) -> None:
        self.path = path
        self.exists = exists
        self.is_dir = is_dir
        self.rebase_name = rebase_name


def clean(path: str) -> str:
    """Go's ``filepath.Clean``: ``.``/``..``/repeated separators resolved lexically."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def base(path: str) -> str:
    """Go's ``filepath.Base``: the last element, ``/`` for the root, ``.`` for ""."""
    if not path:
        return "."
    stripped = path.rstrip("/")
    return stripped.rsplit("/", 1)[-1] if stripped else "/"


def dirname(path: str) -> str:
    """Go's ``filepath.Dir``: all but the last element, cleaned."""
    return clean(path[: path.rfind("/") + 1] or ".")


def join(*parts: str) -> str:
    """Go's ``filepath.Join``: the non-empty parts joined, cleaned."""
    kept = [p for p in parts if p]
    return clean("/".join(kept)) if kept else ""


def has_trailing_separator(path: str) -> bool:
    return path.endswith("/")


def specifies_current_dir(path: str) -> bool:
    return base(path) == "."


def asserts_directory(path: str) -> bool:
    """A path ending in ``/`` or ``/.`` must be a directory."""
    return has_trailing_separator(path) or specifies_current_dir(path)


def preserve_trailing(cleaned: str, original: str) -> str:
    """``cleaned`` with the trailing ``/.`` or ``/`` that ``original`` had."""
    if not specifies_current_dir(cleaned) and specifies_current_dir(original):
        if not has_trailing_separator(cleaned):
            cleaned += "/"
        cleaned += "."
    if not has_trailing_separator(cleaned) and has_trailing_separator(original):
        cleaned += "/"
    return cleaned


def absolute_in_container(path: str) -> str:
    """A container path as the daemon takes it: joined to ``/``, cleaned, its trailing
    ``/`` or ``/.`` kept."""
    return preserve_trailing(join("/", path), path)


def split_path_dir_entry(path: str) -> tuple[str, str]:
    """(directory, base) of a cleaned path; the base is ``.`` for a ``/.`` path."""
    cleaned = clean(path)
    if specifies_current_dir(path):
        cleaned += "/."
    return dirname(cleaned), base(cleaned)


def rebase_name(path: str, resolved: str) -> tuple[str, str]:
    """moby's ``GetRebaseName``: ``resolved`` (a symlink's target) with the trailing
    ``/.`` or ``/`` of ``path``, and the name the archive's first element must take when
    the link changed the last element ("" if it did not)."""
    if specifies_current_dir(path) and not specifies_current_dir(resolved):
        resolved += "/."
    if has_trailing_separator(path) and not has_trailing_separator(resolved):
        resolved += "/"
    return resolved, (base(path) if base(path) != base(resolved) else "")


def rebase_entry(name: str, old: str, new: str) -> str:
    """An archive member name with its first occurrence of ``old`` replaced by ``new``
    (moby's ``RebaseArchiveEntries``; an ``old`` of ``/`` replaces nothing at the start)."""
    if old == "/":
        old = ""
    return name.replace(old, new, 1)


def split_cp_arg(arg: str) -> tuple[str, str]:
    """``CONTAINER:PATH`` -> (container, path); ("", arg) for a local path. A local path
    with a ``:`` must be made explicit: ``/abs/a:b`` or ``./a:b``."""
    if arg.startswith("/"):
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep or container.startswith("."):
        return "", arg
    return container, path


def prepare_copy(source: CopyInfo, destination: CopyInfo) -> tuple[str, tuple[str, str] | None]:
    """moby's ``PrepareArchiveCopy``: where to extract an archive of ``source`` (whose
    first element is the base name of ``source.path``) so that it lands at
    ``destination``: the directory to extract into, and the (old, new) rename of the
    archive's first element, if any (``source.rebase_name`` included).

    Raises CopyError with moby's messages: a directory onto an existing file, or a file
    to a path that asserts a directory that does not exist.
    """
    dst_dir, dst_base = split_path_dir_entry(destination.path)
    _, src_base = split_path_dir_entry(source.path)
    if destination.exists and destination.is_dir:
        return destination.path, (src_base, source.rebase_name) if source.rebase_name else None
    if destination.exists and source.is_dir:
        raise CopyError("cannot copy directory")
    if not destination.exists and not source.is_dir and asserts_directory(destination.path):
        raise CopyError("no such directory")
    return dst_dir, (src_base, dst_base)
