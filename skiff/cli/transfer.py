"""The container filesystem verbs: ``cp``, ``export``, ``diff``, ``commit``, with Docker's
flags, output, messages and exit codes (every failure exits 1, as the docker CLI's do).

``cp`` is split as the docker CLI splits it: the engine archives a container path or
extracts an archive into one (:mod:`skiff.engine.copy`); this side decides, by moby's
copy rules (:mod:`skiff.engine.copy_paths`), where an archive lands and under which
name, archives host files going in, and extracts what comes out. Host files written by
``cp`` belong to the user who runs it (Docker's ``NoLchown``); ``-a`` concerns only
copies into a container.
"""

from __future__ import annotations

import os
import stat
import sys

from skiff.cli.main import Command, CommandFailed, Invocation, Options, Parser, Registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

    from skiff.engine.copy_paths import CopyInfo
    from skiff.engine.engine import Engine


def _engine(inv: Invocation) -> Engine:
    from skiff.engine.engine import Engine

    return Engine(inv.paths)


def _is_terminal(stream: object) -> bool:
    try:
        return os.isatty(stream.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


def _go_error(operation: str, path: str, error: OSError) -> CommandFailed:
    """An OSError as Go words it: ``lstat /x: no such file or directory``."""
    reason = os.strerror(error.errno).lower() if error.errno else str(error)
    return CommandFailed(f"{operation} {path}: {reason}")


# --- cp ---------------------------------------------------------------------------------


def _setup_cp(p: Parser) -> None:
    p.flag("-a", "--archive", help="Archive mode (copy all uid/gid information)")
    p.flag("-L", "--follow-link", help="Always follow symbol link in SRC_PATH")
    p.flag(
        "-q",
        "--quiet",
        help="Suppress progress output during copy. Progress output is automatically "
        "suppressed if no terminal is attached",
    )


def _cp(inv: Invocation, opts: Options) -> int:
    from skiff.engine.copy_paths import split_cp_arg

    source, destination = opts.args
    if not source:
        raise CommandFailed("source can not be empty")
    if not destination:
        raise CommandFailed("destination can not be empty")
    quiet = opts.quiet or not _is_terminal(sys.stdout)
    src_container, src_path = split_cp_arg(source)
    dst_container, dst_path = split_cp_arg(destination)
    if src_container and dst_container:
        raise CommandFailed("copying between containers is not supported")
    if src_container:
        _copy_from(_engine(inv), src_container, src_path, dst_path, opts.follow_link, quiet)
    elif dst_container:
        _copy_to(
            _engine(inv), dst_container, src_path, dst_path, opts.follow_link, opts.archive, quiet
        )
    else:
        raise CommandFailed("must specify at least one container source")
    return 0


def _local_path(path: str) -> str:
    """An absolute local path, its trailing ``/`` or ``/.`` kept."""
    from skiff.engine.copy_paths import clean, preserve_trailing

    return preserve_trailing(clean(os.path.abspath(path)), path)


def _copied(size: int, where: str) -> None:
    from skiff.units import human_size_precision

    sys.stderr.write(f"Successfully copied {human_size_precision(size, 3)} to {where}\n")


def _copy_from(
    engine: Engine, container: str, src_path: str, dst_path: str, follow: bool, quiet: bool
) -> None:
    from skiff.engine import copy
    from skiff.engine.copy_paths import (
        CopyInfo,
        join,
        prepare_copy,
        rebase_name,
        split_path_dir_entry,
    )
    from skiff.errors import SkiffError

    if dst_path != "-":
        dst_path = _local_path(dst_path)
        _validate_output_path(dst_path)
    rebase = ""
    if follow:
        try:
            found = copy.stat_path(engine, container, src_path)
        except SkiffError:
            found = None
        if found is not None and found.is_symlink:
            target = found.link_target
            if not target.startswith("/"):
                target = join(split_path_dir_entry(src_path)[0], target)
            src_path, rebase = rebase_name(src_path, target)
    with copy.copy_from(engine, container, src_path) as archive:
        if dst_path == "-":
            archive.write(sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        source = CopyInfo(src_path, True, archive.stat.is_dir, rebase)
        dst_dir, rename = prepare_copy(source, _destination_info(dst_path))
        size = _through_pipe(archive.write, lambda stream: _extract_here(stream, dst_dir, rename))
    if not quiet:
        _copied(size, dst_path)


def _validate_output_path(path: str) -> None:
    """The docker CLI's check of a ``cp`` destination on this host."""
    from skiff.engine.copy_paths import clean, dirname

    parent = dirname(clean(path))
    if parent not in ("", ".") and not os.path.exists(parent):
        raise CommandFailed(f'invalid output path: directory "{parent}" does not exist')
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        raise _go_error("stat", path, e) from None
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise CommandFailed(
            f'invalid output path: "{path}" must be a directory or a regular file: got a device'
        )


def _destination_info(path: str) -> CopyInfo:
    """moby's ``CopyInfoDestinationPath``: the destination with its symlinks followed (a
    missing one is fine if its parent directory exists)."""
    from skiff.engine.copy_paths import CopyError, CopyInfo, join, split_path_dir_entry

    original = path
    try:
        st: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _go_error("lstat", path, e) from None
    links = 0
    while st is not None and stat.S_ISLNK(st.st_mode):
        links += 1
        if links > 10:
            raise CommandFailed(f"too many symlinks in {original}")
        target = os.readlink(path)
        if not target.startswith("/"):
            target = join(split_path_dir_entry(path)[0], target)
        path = target
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        except OSError as e:
            raise _go_error("lstat", path, e) from None
    if st is not None:
        return CopyInfo(path, True, stat.S_ISDIR(st.st_mode))
    parent = split_path_dir_entry(path)[0]
    try:
        if not stat.S_ISDIR(os.stat(parent).st_mode):
            raise CopyError("not a directory")
    except OSError as e:
        raise _go_error("stat", parent, e) from None
    return CopyInfo(path)


def _extract_here(stream: BinaryIO, directory: str, rename: tuple[str, str] | None) -> None:
    """Extract a ``cp`` archive into a host directory: confined to it, owned by us."""
    from skiff.engine.untar import extract
    from skiff.linux.openat2 import O_PATH, RESOLVE_BENEATH

    try:
        root = os.open(directory, O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise _go_error("open", directory, e) from None
    try:
        extract(stream, root, ".", resolve=RESOLVE_BENEATH, shown=directory, rename=rename)
    finally:
        os.close(root)


def _copy_to(
    engine: Engine,
    container: str,
    src_path: str,
    dst_path: str,
    follow: bool,
    copy_uid_gid: bool,
    quiet: bool,
) -> None:
    from skiff.engine import copy
    from skiff.engine.copy_paths import CopyInfo, join, prepare_copy, split_path_dir_entry
    from skiff.errors import SkiffError

    if src_path != "-":
        src_path = _local_path(src_path)
    destination = CopyInfo(dst_path)
    try:
        found = copy.stat_path(engine, container, dst_path)
        if found.is_symlink:
            target = found.link_target
            if not target.startswith("/"):
                target = join(split_path_dir_entry(dst_path)[0], target)
            destination.path = target
            found = copy.stat_path(engine, container, target)
        if stat.S_ISCHR(found.mode) or stat.S_ISBLK(found.mode):
            raise CommandFailed(
                f'destination "{container}:{dst_path}" must be a directory or a regular '
                "file: got a device"
            )
        destination.exists, destination.is_dir = True, found.is_dir
    except CommandFailed:
        raise
    except SkiffError:
        pass  # missing: the extraction says whether its directory exists
    if src_path == "-":
        if not destination.is_dir:
            raise CommandFailed(f'destination "{container}:{dst_path}" must be a directory')
        copy.copy_to(
            engine, container, destination.path, sys.stdin.buffer, copy_uid_gid=copy_uid_gid
        )
        return
    source = _source_info(src_path, follow)
    dst_dir, rename = prepare_copy(source, destination)
    _, src_base = split_path_dir_entry(source.path)
    name = rename[1] if rename else src_base

    def extract(stream: BinaryIO) -> None:
        copy.copy_to(engine, container, dst_dir, stream, copy_uid_gid=copy_uid_gid)

    size = _through_pipe(lambda out: _archive_here(out, source.path, name), extract)
    if not quiet:
        _copied(size, f"{container}:{destination.path}")


def _source_info(path: str, follow: bool) -> CopyInfo:
    """moby's ``CopyInfoSourcePath``: symlinks resolved before the last element (all of
    them with ``-L``), and the name the archive must then use."""
    from skiff.engine.copy_paths import CopyInfo, base, has_trailing_separator, rebase_name

    rebase = ""
    try:
        if follow:
            resolved, rebase = rebase_name(path, os.path.realpath(path, strict=True))
        else:
            directory, _, last = path.rpartition("/")
            resolved = os.path.realpath(directory + "/", strict=True) + "/" + last
            if has_trailing_separator(path) and base(path) != base(resolved):
                rebase = base(path)
        st = os.lstat(resolved)
    except OSError as e:
        raise _go_error("lstat", e.filename or path, e) from None
    return CopyInfo(resolved, True, stat.S_ISDIR(st.st_mode), rebase)


def _archive_here(out: BinaryIO, path: str, name: str) -> int:
    """A host path as a ``cp`` archive whose first element is ``name``; its size."""
    from skiff.engine.copy_paths import split_path_dir_entry
    from skiff.engine.tree_archive import TreeArchive

    directory, entry = split_path_dir_entry(path)
    archive = TreeArchive(out)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if entry == ".":
            archive.add_directory(fd, os.fsencode(name))
        else:
            archive.add(fd, os.fsencode(entry), os.fsencode(name))
    finally:
        os.close(fd)
    archive.close()
    return archive.size


def _through_pipe(produce: Callable[[BinaryIO], int], consume: Callable[[BinaryIO], None]) -> int:
    """``produce`` writes a stream in a thread while ``consume`` reads it; the size
    produced. The producer's failure is the one reported (the consumer then sees a cut
    stream)."""
    import threading

    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "rb")
    writer = os.fdopen(write_fd, "wb")
    failures: list[BaseException] = []
    sizes: list[int] = []

    def run() -> None:
        try:
            sizes.append(produce(writer))
        except BrokenPipeError:
            pass
        except BaseException as e:
            failures.append(e)
        finally:
            try:
                writer.close()
            except OSError:
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        consume(reader)
    except BaseException:
        reader.close()
        thread.join()
        if failures:
            raise failures[0] from None
        raise
    reader.close()
    thread.join()
    if failures:
        raise failures[0]
    return sizes[0] if sizes else 0


# --- export -----------------------------------------------------------------------------


def _setup_export(p: Parser) -> None:
    p.flag("-o", "--output", kind="string", help="Write to a file, instead of STDOUT")


def _export(inv: Invocation, opts: Options) -> int:
    from skiff.cli.images import _write_atomically
    from skiff.engine.copy import export

    engine = _engine(inv)
    ref = opts.args[0]
    if not opts.output:
        if _is_terminal(sys.stdout):
            raise CommandFailed(
                "cowardly refusing to save to a terminal. Use the -o flag or redirect"
            )
        export(engine, ref, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return 0
    parent = os.path.dirname(os.path.abspath(opts.output))
    if not os.path.isdir(parent):
        raise CommandFailed(
            f"failed to export container: invalid output path: stat {parent}: "
            "no such file or directory"
        )
    if os.path.isdir(opts.output):
        raise CommandFailed("failed to export container: cannot write to a directory")
    engine.containers.get(ref)
    _write_atomically(opts.output, lambda out: export(engine, ref, out), None)
    return 0


# --- diff -------------------------------------------------------------------------------


def _no_flags(p: Parser) -> None:
    pass


def _diff(inv: Invocation, opts: Options) -> int:
    from skiff.engine.container_changes import changes

    for kind, path in changes(_engine(inv), opts.args[0]):
        sys.stdout.write(f"{kind} {path}\n")
    return 0


# --- commit -----------------------------------------------------------------------------


def _setup_commit(p: Parser) -> None:
    p.flag(
        "-a",
        "--author",
        kind="string",
        help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")',
    )
    p.flag("-c", "--change", kind="list", help="Apply Dockerfile instruction to the created image")
    p.flag("-m", "--message", kind="string", help="Commit message")
    p.flag("-p", "--pause", default=True, help="Pause container during commit")


def _commit(inv: Invocation, opts: Options) -> int:
    from skiff.engine.commit import commit

    reference = opts.args[1] if len(opts.args) > 1 else None
    image_id = commit(
        _engine(inv),
        opts.args[0],
        reference,
        changes=opts.change,
        message=opts.message or "",
        author=opts.author or "",
        pause=opts.pause,
    )
    sys.stdout.write(image_id + "\n")
    return 0


def register(registry: Registry) -> None:
    registry.group("container", "Manage containers")
    for command in (
        Command(
            "container cp",
            "Copy files/folders between a container and the local filesystem",
            "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n"
            "\tskiff cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
            _setup_cp,
            _cp,
            (2, 2),
            aliases=("cp",),
        ),
        Command(
            "container export",
            "Export a container's filesystem as a tar archive",
            "[OPTIONS] CONTAINER",
            _setup_export,
            _export,
            (1, 1),
            aliases=("export",),
        ),
        Command(
            "container diff",
            "Inspect changes to files or directories on a container's filesystem",
            "CONTAINER",
            _no_flags,
            _diff,
            (1, 1),
            aliases=("diff",),
        ),
        Command(
            "container commit",
            "Create a new image from a container's changes",
            "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
            _setup_commit,
            _commit,
            (1, 2),
            aliases=("commit",),
        ),
    ):
        registry.add(command)
