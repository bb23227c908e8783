"""Paths inside a container's rootfs, resolved so they cannot lead out of it.

Every path from config.json is opened with ``openat2(RESOLVE_IN_ROOT)`` against a
descriptor of the rootfs: a symlink or ``..`` in the image resolves inside the rootfs, never
on the host. Mounts then target ``/proc/self/fd/N`` of the opened descriptor, so a symlink
swapped in between the check and the mount cannot redirect it.
"""

from __future__ import annotations

import errno
import os
import stat

from skiff.linux.openat2 import O_PATH, open_in_root


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


_MAX_LINKS = 40


def resolve(rootfd: int, path: str) -> str:
    """``path`` with every symlink resolved as if ``rootfd`` were ``/`` (like securejoin).

    Components that do not exist are kept as they are, so the result names what to create.
    Used to know what to create; opening still goes through openat2, so a race with a
    changed symlink can at worst fail, never escape.
    """
    pending = [p for p in path.split("/") if p]
    pending.reverse()
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop()
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        parent = open_in_root(rootfd, "/" + "/".join(resolved), O_PATH | os.O_DIRECTORY)
        try:
            try:
                mode = os.stat(part, dir_fd=parent, follow_symlinks=False).st_mode
            except FileNotFoundError:
                resolved.append(part)
                # Nothing below a missing directory exists: the rest is taken as written.
                for rest in reversed(pending):
                    if rest == "..":
                        if resolved:
                            resolved.pop()
                    elif rest != ".":
                        resolved.append(rest)
                break
            if stat.S_ISLNK(mode):
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
                target = os.readlink(part, dir_fd=parent)
                if target.startswith("/"):
                    resolved = []
                pending.extend(reversed([p for p in target.split("/") if p]))
            else:
                resolved.append(part)
        finally:
            os.close(parent)
    return "/" + "/".join(resolved)


def mkdir_all(rootfd: int, path: str, mode: int = 0o755) -> None:
    """``mkdir -p`` of ``path`` inside the tree of ``rootfd``, through symlinks in it."""
    prefix = ""
    for part in resolve(rootfd, path).split("/")[1:]:
        if not part:
            continue
        current = f"{prefix}/{part}"
        try:
            fd = open_in_root(rootfd, current, O_PATH | os.O_DIRECTORY)
        except FileNotFoundError:
            parent = open_in_root(rootfd, prefix or "/", O_PATH | os.O_DIRECTORY)
            try:
                os.mkdir(part, mode, dir_fd=parent)
            except FileExistsError:
                pass
            finally:
                os.close(parent)
            fd = open_in_root(rootfd, current, O_PATH | os.O_DIRECTORY)
        except NotADirectoryError:
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", current) from None
        os.close(fd)
        prefix = current


def ensure_file(rootfd: int, path: str, mode: int = 0o644) -> None:
    """Create an empty file at ``path`` (and its parents) unless something is there."""
    path = resolve(rootfd, path)
    mkdir_all(rootfd, os.path.dirname(path))
    try:
        fd = open_in_root(rootfd, path, O_PATH)
    except FileNotFoundError:
        fd = open_in_root(rootfd, path, os.O_CREAT | os.O_WRONLY, mode)
    os.close(fd)


def open_dir_or_file(rootfd: int, path: str, as_dir: bool) -> int:
    """Open (creating if missing) a mount target; returns an O_PATH descriptor."""
    if as_dir:
        mkdir_all(rootfd, path)
    else:
        ensure_file(rootfd, path)
    return open_in_root(rootfd, path, O_PATH)


def open_parent(rootfd: int, path: str) -> tuple[int, str]:
    """An O_PATH descriptor of the parent directory of ``path`` (created), and the base name."""
    path = path.rstrip("/")
    parent, name = os.path.dirname(path) or "/", os.path.basename(path)
    mkdir_all(rootfd, parent)
    return open_in_root(rootfd, parent, O_PATH | os.O_DIRECTORY), name
