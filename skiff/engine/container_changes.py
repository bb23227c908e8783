"""``diff``: what a container changed in its filesystem, read from its overlay upper
directory and its image's layer directories (nothing is mounted).

Docker's rules (its comparison of the container's tree with its image's):

- ``A`` a name the image does not have (and everything below a new directory);
- ``C`` a name the image has whose type, mode, owner, device, or (not for a directory)
  size, modification time or file capabilities differ; a directory is also ``C`` when
  something below it changed, and is then listed before what changed in it;
- ``D`` a name of the image the container removed: an overlay whiteout, or a name the
  image has below a directory the container removed and made again (an opaque directory
  hides the image's names). Only the top name of a removed tree is listed.

Order: depth first, a directory before its contents; within a directory, the names it
has, sorted, then the names it lost, sorted. (Docker walks a Go map there, so its own
order within a directory varies from run to run; this is one of its orders.)

The mount points the runtime makes in a rootfs that lacks them (/proc, /sys, /dev,
/etc/hosts, /etc/hostname, /etc/resolv.conf, and /etc for them) are not changes: Docker
makes them in an "init" layer below the container's. :func:`init_mountpoints` names them
for ``commit``, which leaves them out of the layer too.

The image's view of a path is found as overlayfs finds it: the top layer that has the
name decides (a 0/0 character device there is a whiteout), a directory merges the layers
below it down to one where it is opaque or not a directory.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.engine.engine import Engine

# Mount points the runtime creates in the rootfs (see the module doc), with Docker's names.
INIT_PATHS = frozenset(
    (
        "/proc",
        "/sys",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/dev/console",
        "/etc",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
    )
)
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPAQUE = "trusted.overlay.opaque"
_CAPABILITY = "security.capability"


def _whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _xattr(fd: int, name: str, entry: str | None = None) -> bytes | None:
    try:
        if entry is None:
            return os.getxattr(fd, name)
        return os.getxattr(f"/proc/self/fd/{fd}/{entry}", name, follow_symlinks=False)
    except OSError:
        return None


class _Lower:
    """The image's view of one directory: its descriptors in the layers that show it,
    top first."""

    def __init__(self, fds: list[int]) -> None:
        self.fds = fds

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)

    def lookup(self, name: str) -> tuple[os.stat_result, int] | None:
        """The stat of ``name`` and the layer descriptor it is in; None if absent."""
        for fd in self.fds:
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            return None if _whiteout(st) else (st, fd)
        return None

    def child(self, name: str) -> _Lower:
        """The view of the directory ``name``."""
        fds: list[int] = []
        for fd in self.fds:
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                break
            child = os.open(name, _OPEN_DIR, dir_fd=fd)
            fds.append(child)
            if _xattr(child, _OPAQUE) == b"y":
                break
        return _Lower(fds)

    def names(self) -> set[str]:
        """The names the view shows."""
        decided: dict[str, bool] = {}
        for fd in self.fds:
            for name in os.listdir(fd):
                if name not in decided:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    decided[name] = not _whiteout(st)
        return {name for name, present in decided.items() if present}


def _layer_roots(engine: Engine, image_id: str) -> _Lower:
    image = engine.images.get(image_id)
    layers = engine.images.layer_dirs
    fds: list[int] = []
    try:
        for row in reversed(image.layers()):
            fds.append(os.open(layers.diff(row["directory"]), _OPEN_DIR))
    except BaseException:
        _Lower(fds).close()
        raise
    return _Lower(fds)


def _differs(old: os.stat_result, new: os.stat_result) -> bool:
    """moby's ``statDifferent``: a directory's size and time do not count."""
    if (old.st_mode, old.st_uid, old.st_gid, old.st_rdev) != (
        new.st_mode,
        new.st_uid,
        new.st_gid,
        new.st_rdev,
    ):
        return True
    if stat.S_ISDIR(new.st_mode):
        return False
    return old.st_size != new.st_size or not _same_time(old.st_mtime_ns, new.st_mtime_ns)


def _same_time(a: int, b: int) -> bool:
    """Equal, or the same second with one of them without nanoseconds (a tar's time)."""
    return a == b or (
        a // 1_000_000_000 == b // 1_000_000_000
        and (a % 1_000_000_000 == 0 or b % 1_000_000_000 == 0)
    )


def _mountpoint(path: str, st: os.stat_result) -> bool:
    """An empty runtime mount point (or /etc holding them) the image does not have."""
    if path not in INIT_PATHS:
        return False
    if stat.S_ISREG(st.st_mode):
        return st.st_size == 0
    return stat.S_ISDIR(st.st_mode)


class _Frame:
    """A directory of the upper tree being walked."""

    __slots__ = (
        "deleted",
        "hides",
        "lower",
        "names",
        "path",
        "present",
        "recorded",
        "start",
        "upper",
    )

    def __init__(
        self, upper: int, lower: _Lower, path: str, hides: bool, recorded: bool, start: int
    ) -> None:
        self.upper = upper
        self.lower = lower
        self.path = path
        self.hides = hides  # the image's names here are hidden (an opaque directory above)
        self.recorded = recorded  # this directory is already listed (A or C)
        self.start = start  # where its changes begin in the list
        self.present = sorted(os.listdir(upper))
        self.names = list(reversed(self.present))
        self.deleted: set[str] = set()


def changes(engine: Engine, ref: str) -> list[tuple[str, str]]:
    """Docker's ``diff`` of container ``ref``: (``A``/``C``/``D``, path) in Docker's order."""
    from skiff.engine.filesystem import ContainerFiles

    container = engine.containers.get(ref)
    with engine.containers.lock(container.id):
        container = engine.containers.get(container.id)
        files = ContainerFiles(engine.paths, container.id)
        lower = _layer_roots(engine, container.image_id)
        try:
            return _walk(os.open(files.upper, _OPEN_DIR), lower)
        finally:
            lower.close()


def _walk(upper_root: int, lower_root: _Lower) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    stack = [_Frame(upper_root, _Lower(list(lower_root.fds)), "/", False, True, 0)]
    try:
        while stack:
            frame = stack[-1]
            if frame.names:
                child = _visit(frame, frame.names.pop(), out)
                if child is not None:
                    stack.append(child)
                continue
            if frame.hides:
                frame.deleted |= frame.lower.names() - set(frame.present)
            out.extend(("D", _join(frame.path, name)) for name in sorted(frame.deleted))
            if len(out) > frame.start and not frame.recorded:
                out.insert(frame.start, ("C", frame.path))
            stack.pop()
            _close(frame, top=not stack)
    finally:
        for frame in stack:
            _close(frame, top=frame is stack[0])
    return out


def _close(frame: _Frame, top: bool) -> None:
    os.close(frame.upper)
    if not top:
        frame.lower.close()


def _join(directory: str, name: str) -> str:
    return directory + name if directory == "/" else f"{directory}/{name}"


def _visit(frame: _Frame, name: str, out: list[tuple[str, str]]) -> _Frame | None:
    """One name of the upper directory: its A/C line, and a frame to walk it if it is a
    directory."""
    path = _join(frame.path, name)
    st = os.stat(name, dir_fd=frame.upper, follow_symlinks=False)
    found = frame.lower.lookup(name)
    if _whiteout(st):
        if found is not None:
            frame.deleted.add(name)
        return None
    recorded = True
    if found is None:
        if _mountpoint(path, st):
            recorded = False
        else:
            out.append(("A", path))
    else:
        old, layer = found
        if _differs(old, st) or (
            stat.S_ISREG(st.st_mode)
            and _xattr(layer, _CAPABILITY, name) != _xattr(frame.upper, _CAPABILITY, name)
        ):
            out.append(("C", path))
        else:
            recorded = False
    if not stat.S_ISDIR(st.st_mode):
        return None
    upper = os.open(name, _OPEN_DIR, dir_fd=frame.upper)
    try:
        lower = (
            frame.lower.child(name)
            if found is not None and stat.S_ISDIR(found[0].st_mode)
            else _Lower([])
        )
        hides = frame.hides or _xattr(upper, _OPAQUE) == b"y"
        return _Frame(upper, lower, path, hides, recorded, len(out))
    except BaseException:
        os.close(upper)
        raise


def init_mountpoints(engine: Engine, ref: str) -> frozenset[bytes]:
    """What ``commit`` leaves out of container ``ref``'s layer, as layer paths
    (``etc/hosts``): the runtime's empty mount points that its image does not have, and a
    directory of :data:`INIT_PATHS` that holds only those and that the container did not
    change itself (``etc``, copied up only for them)."""
    from skiff.engine.filesystem import ContainerFiles
    from skiff.linux.openat2 import O_PATH, RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS, openat2

    container = engine.containers.get(ref)
    upper = os.open(ContainerFiles(engine.paths, container.id).upper, _OPEN_DIR)
    lower = _layer_roots(engine, container.image_id)
    found: set[str] = set()
    try:
        for path in sorted(INIT_PATHS, key=lambda p: p.count("/"), reverse=True):
            relative = path.lstrip("/")
            parent_path, _, name = relative.rpartition("/")
            try:
                parent = openat2(
                    upper,
                    parent_path or ".",
                    O_PATH | os.O_DIRECTORY,
                    0,
                    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
                )
            except OSError:
                continue
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    fd = os.open(name, _OPEN_DIR, dir_fd=parent)
                    try:
                        entries = os.listdir(fd)
                    finally:
                        os.close(fd)
            except FileNotFoundError:
                continue
            finally:
                os.close(parent)
            old = _image_stat(lower, relative)
            if stat.S_ISREG(st.st_mode):
                left_out = st.st_size == 0 and old is None
            elif stat.S_ISDIR(st.st_mode):
                left_out = all(f"{relative}/{e}" in found for e in entries) and (
                    old is None or not _differs(old, st)
                )
            else:
                left_out = False
            if left_out:
                found.add(relative)
    finally:
        os.close(upper)
        lower.close()
    return frozenset(os.fsencode(p) for p in found)


def _image_stat(lower: _Lower, relative: str) -> os.stat_result | None:
    """The image's stat of a path, None if it does not have it."""
    parts = relative.split("/")
    view = lower
    owned: list[_Lower] = []
    try:
        for part in parts[:-1]:
            if view.lookup(part) is None:
                return None
            view = view.child(part)
            owned.append(view)
        found = view.lookup(parts[-1])
        return found[0] if found is not None else None
    finally:
        for opened in owned:
            opened.close()
