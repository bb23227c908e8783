"""The image verbs: ``import``, ``load``, ``save``, ``images``, ``tag``, ``rmi``, ``inspect``,
``history`` and ``image prune``, with Docker's flags, output and exit codes (``system df``
and ``system prune`` are skiff.cli.system's, with these pieces).

Every error exits 1, as the docker client's do (the daemon's error, then exit 1); a usage
mistake exits 125 (a flag) or 1 (the number of arguments). Heavy modules are imported by
the command that needs them.

``rmi`` and ``image prune`` are skiff.images.remove's (the Engine API calls them too), given
:func:`containers_using` from the engine's state: an image a container uses keeps its
layers.
"""

from __future__ import annotations

import os
import sys

from skiff.cli.main import (
    FORMAT_HELP,
    INSPECT_FORMAT_HELP,
    Command,
    CommandFailed,
    parse_filters,
)
from skiff.errors import InvalidArgument, NotFound, SkiffError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO

    from skiff.cli.main import Invocation, Options, Parser, Registry
    from skiff.images.service import Image, ImageStore

    InUse = Callable[[str], list[str]]


def containers_using(inv: Invocation) -> InUse:
    """The IDs of the containers (any state) created from an image."""
    from skiff.engine.containers import ContainerStore

    store = ContainerStore(inv.paths)
    return lambda image_id: [c.id for c in store.using_image(image_id)]


# --- lookups and names ------------------------------------------------------------------


def find_image(store: ImageStore, name: str) -> Image:
    """An image by name or ID, with Docker's messages for a bad or unknown name."""
    from skiff.images.inspect import find_image as find

    return find(store, name)


def _open_input(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as e:
        raise CommandFailed(f"open {path}: {_reason(e)}") from None


def _reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()


def _stdout_is_terminal() -> bool:
    try:
        return os.isatty(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return False


def _stdin_is_terminal() -> bool:
    try:
        return os.isatty(sys.stdin.fileno())
    except (AttributeError, OSError, ValueError):
        return False


# --- import -----------------------------------------------------------------------------


def _setup_import(p: Parser) -> None:
    p.flag("-c", "--change", kind="list", help="Apply Dockerfile instruction to the created image")
    p.flag("-m", "--message", kind="string", help="Set commit message for imported image")
    p.flag("--platform", kind="string", help="Set platform if server is multi-platform capable")


def _import(inv: Invocation, opts: Options) -> int:
    from skiff.images import reference as references
    from skiff.images.importer import import_tarball

    source = opts.args[0]
    name = opts.args[1] if len(opts.args) > 1 else None
    if name:
        references.parse(name)
    if opts.platform and opts.platform.split("/")[0] != "linux":
        raise InvalidArgument(f"operating system is not supported: {opts.platform}")
    store = inv.images()
    source_name = "-"  # the docker CLI sends a file as the request body, named "-"
    stream: Any
    if source == "-":
        stream = sys.stdin.buffer
    elif source.startswith(("http://", "https://")):
        from urllib.request import urlopen

        stream = urlopen(source)
        source_name = source
    else:
        stream = _open_input(source)
    try:
        image_id = import_tarball(store, stream, name, source_name, opts.change, opts.message)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    sys.stdout.write(image_id + "\n")
    return 0


# --- load and save ----------------------------------------------------------------------


def _setup_load(p: Parser) -> None:
    p.flag("-i", "--input", kind="string", help="Read from tar archive file, instead of STDIN")
    p.flag("-q", "--quiet", help="Suppress the load output")


class _Counting:
    """A stream that counts what passes through it (for a progress line)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.count = 0
        self.eof = False

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.count += len(data)
        if not data and n != 0:
            self.eof = True
        return bytes(data)

    def write(self, data: bytes) -> int:
        written = self.stream.write(data)
        self.count += len(data)
        return int(written if written is not None else len(data))

    def flush(self) -> None:
        self.stream.flush()


def _ingested(store: ImageStore, known: set[str]) -> int:
    """Bytes of blobs written since ``known`` was taken: published, or being written."""
    total = 0
    try:
        entries = list(os.scandir(store.paths.ingest))
    except FileNotFoundError:
        entries = []
    for entry in entries:
        if entry.name.startswith("blob-"):
            try:
                total += entry.stat().st_size
            except FileNotFoundError:
                pass
    for digest in store.content.digests():
        if digest not in known:
            try:
                total += os.stat(store.content.path(digest)).st_size
            except FileNotFoundError:
                pass
    return total


def _load(inv: Invocation, opts: Options) -> int:
    from contextlib import nullcontext

    from skiff.cli.format import Progress
    from skiff.images import archive

    if opts.input is None and _stdin_is_terminal():
        raise CommandFailed("requested load from stdin, but stdin is empty")
    source: Any
    if opts.input is not None:
        _open_input(opts.input).close()
        source = opts.input
    else:
        source = _Counting(sys.stdin.buffer)
    store = inv.images()
    before = archive.tag_owners(store)
    progress: Any = nullcontext()
    if not opts.quiet and Progress.wanted():
        known = set(store.content.digests())
        if isinstance(source, str):
            size = os.path.getsize(source)

            def measure() -> tuple[str, int, int | None]:
                return "Loading layers", _ingested(store, known), size

        else:
            counting = source
            regular = os.fstat(sys.stdin.fileno())
            total = regular.st_size if regular.st_size and _is_regular(regular.st_mode) else None

            def measure() -> tuple[str, int, int | None]:
                if not counting.eof:
                    return "Reading archive", counting.count, total
                return "Loading layers", _ingested(store, known), counting.count

        progress = Progress(measure)
    with progress:
        loaded = archive.load(store, source)
    out = archive.load_messages(before, loaded)
    sys.stdout.write("".join(line + "\n" for line in out))
    return 0


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def _setup_save(p: Parser) -> None:
    p.flag("-o", "--output", kind="string", help="Write to a file, instead of STDOUT")
    p.flag(
        "--format",
        kind="string",
        default="docker-archive",
        help="Archive format: docker-archive, oci-archive, or oci-dir (a directory, needs -o)",
    )


SAVE_FORMATS = ("docker-archive", "oci-archive", "oci-dir")


def _save_size(store: ImageStore, names: list[str]) -> int:
    """About how many bytes a save writes (for the progress line)."""
    from skiff.images.archive import select

    seen: set[str] = set()
    total = 0
    for selected in select(store, names):
        total += len(selected.image.config_bytes)
        for layer in selected.image.layers():
            if layer["blob"] not in seen:
                seen.add(layer["blob"])
                total += max(layer["diff_size"], store.content.size(layer["blob"]))
    return total


def _save(inv: Invocation, opts: Options) -> int:
    from contextlib import nullcontext

    from skiff.cli.format import Progress
    from skiff.images import archive
    from skiff.images.inspect import tree_usage

    if opts.format not in SAVE_FORMATS:
        raise InvalidArgument(
            f"unknown format {opts.format!r}: use docker-archive, oci-archive or oci-dir"
        )
    if opts.format == "oci-dir" and not opts.output:
        raise InvalidArgument("--format oci-dir writes a directory: name it with -o")
    if not opts.output and _stdout_is_terminal():
        raise CommandFailed("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    if opts.output:
        _check_output_path(opts.output, opts.format == "oci-dir")
    store = inv.images()
    names = list(opts.args)
    for name in names:
        find_image(store, name)
    progress: Any = nullcontext()
    counter: _Counting | None = None
    if Progress.wanted() and (opts.output or not Progress.wanted(sys.stdout)):
        total = _save_size(store, names)
        if opts.format == "oci-dir":
            target = opts.output

            def measure() -> tuple[str, int, int | None]:
                return "Saving", tree_usage(target), total

        else:
            counter = _Counting(None)
            count = counter

            def measure() -> tuple[str, int, int | None]:
                return "Saving", count.count, total

        progress = Progress(measure)
    with progress:
        if opts.format == "oci-dir":
            archive.save_oci_dir(store, names, opts.output)
            return 0
        write = archive.save_docker if opts.format == "docker-archive" else archive.save_oci_archive
        if not opts.output:
            out: Any = sys.stdout.buffer
            if counter is not None:
                counter.stream, out = out, counter
            write(store, names, out)
            sys.stdout.buffer.flush()
            return 0
        _write_atomically(opts.output, lambda f: write(store, names, f), counter)
    return 0


def _check_output_path(path: str, directory: bool) -> None:
    """The docker CLI's ValidateOutputPath."""
    parent = os.path.dirname(os.path.normpath(path))
    if parent and parent != "." and not os.path.exists(parent):
        raise CommandFailed(
            f'failed to save image: invalid output path: directory "{parent}" does not exist'
        )
    if os.path.exists(path) and not directory and os.path.isdir(path):
        raise CommandFailed(f"failed to save image: {path} is a directory")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_atomically(path: str, write: Callable[[Any], None], counter: _Counting | None) -> None:
    """Write ``path`` through a temporary file in its directory, renamed into place when
    complete: a failed save leaves no partial archive (no fsync: an exported file, as
    ``docker save -o`` writes it)."""
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".skiff_temp_")
    try:
        with os.fdopen(fd, "wb") as f:
            if counter is not None:
                counter.stream = f
                write(counter)
            else:
                write(f)
            f.flush()
        os.chmod(temp, 0o666 & ~_umask())
        os.rename(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


# --- images -----------------------------------------------------------------------------

IMAGE_HEADERS = {
    "ID": "IMAGE ID",
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Containers": "CONTAINERS",
    "VirtualSize": "VIRTUAL SIZE",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}
IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_TABLE_DIGESTS = (
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
)
IMAGES_RAW = (
    "repository: {{ .Repository }}\ntag: {{.Tag}}\nimage_id: {{.ID}}\n"
    "created_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n"
)
IMAGES_RAW_DIGESTS = (
    "repository: {{ .Repository }}\ntag: {{.Tag}}\ndigest: {{.Digest}}\nimage_id: {{.ID}}\n"
    "created_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n"
)
ZERO_UNIX = -62135596800


def _setup_images(p: Parser) -> None:
    p.flag("-a", "--all", help="Show all images (default hides intermediate images)")
    p.flag("--digests", help="Show digests")
    p.filter_flag("Filter output based on conditions provided")
    p.flag("--format", kind="string", help=FORMAT_HELP)
    p.flag("--no-trunc", help="Don't truncate output")
    p.flag("-q", "--quiet", help="Only show image IDs")


def image_record(
    summary: dict[str, Any], repository: str, tag: str, digest: str, trunc: bool
) -> Any:
    """The docker CLI's imageContext of one row of ``images``."""
    from skiff.cli.format import (
        Record,
        go_time_string,
        since,
        truncate_id,
    )
    from skiff.units import human_size, human_size_precision

    created = summary["Created"]
    shared, virtual = summary["SharedSize"], summary["VirtualSize"]
    return Record(
        "*formatter.imageContext",
        {
            "Containers": "N/A" if summary["Containers"] == -1 else str(summary["Containers"]),
            "CreatedAt": go_time_string(created),
            "CreatedSince": "" if created == ZERO_UNIX else since(created),
            "Digest": digest,
            "ID": truncate_id(summary["Id"]) if trunc else summary["Id"],
            "Repository": repository,
            "SharedSize": "N/A" if shared == -1 else human_size(shared),
            "Size": human_size_precision(summary["Size"], 3),
            "Tag": tag,
            "UniqueSize": "N/A" if shared == -1 or virtual == -1 else human_size(virtual - shared),
            "VirtualSize": human_size(virtual),
        },
    )


def image_rows(summary: dict[str, Any], digests: bool, trunc: bool) -> list[Any]:
    """The rows of one image in ``images``: a row per tag (and digest with --digests), or
    one ``<none>`` row for a dangling image, as the docker CLI lays them out."""
    from skiff.images import reference as references

    tags, digest_refs = summary["RepoTags"], summary["RepoDigests"]
    if not tags and not digest_refs:
        return [image_record(summary, "<none>", "<none>", "<none>", trunc)]
    repo_tags: dict[str, list[str]] = {}
    repo_digests: dict[str, list[str]] = {}
    for name in tags:
        ref = references.parse(name, default_tag=False)
        if ref.tag:
            repo_tags.setdefault(ref.familiar_name, []).append(ref.tag)
    for name in digest_refs:
        ref = references.parse(name, default_tag=False)
        if ref.digest:
            repo_digests.setdefault(ref.familiar_name, []).append(ref.digest)
    rows = []
    for repo, repo_tag_list in repo_tags.items():
        found = repo_digests.pop(repo, []) if digests else []
        repo_digests.pop(repo, None)
        for tag in repo_tag_list:
            for digest in found or ["<none>"]:
                rows.append(image_record(summary, repo, tag, digest, trunc))
    for repo, found in repo_digests.items():
        for digest in found if digests else [""]:
            rows.append(image_record(summary, repo, "<none>", digest, trunc))
    return rows


def _images(inv: Invocation, opts: Options) -> int:
    from skiff.cli.format import Formatter, TemplateError
    from skiff.images.inspect import list_images

    filters = parse_filters(opts.filter)
    if opts.args:
        filters.setdefault("reference", []).append(opts.args[0])
    source = opts.format or "table"
    if source == "table":
        source = "{{.ID}}" if opts.quiet else (IMAGES_TABLE_DIGESTS if opts.digests else "table")
    elif source == "raw":
        source = "image_id: {{.ID}}\n" if opts.quiet else IMAGES_RAW
        if opts.digests and not opts.quiet:
            source = IMAGES_RAW_DIGESTS
    elif source.startswith("table") and opts.digests and "{{.Digest}}" not in source:
        source += "\t{{.Digest}}"
    try:
        formatter = Formatter(source, IMAGES_TABLE, IMAGE_HEADERS)
        summaries = list_images(inv.images(), filters, opts.all)
        rows = [row for s in summaries for row in image_rows(s, opts.digests, not opts.no_trunc)]
        sys.stdout.write(formatter.render(rows))
    except TemplateError as e:
        raise CommandFailed(str(e)) from None
    return 0


# --- tag --------------------------------------------------------------------------------


def _tag(inv: Invocation, opts: Options) -> int:
    from skiff.images import reference as references

    source, target = opts.args
    for name in (source, target):
        if name is source and references.is_full_id(name):
            continue
        try:
            ref = references.parse(name)
        except InvalidArgument as e:
            raise InvalidArgument(
                f'Error parsing reference: "{name}" is not a valid repository/tag: {e}'
            ) from None
    if ref.digest:
        raise InvalidArgument("refusing to create a tag with a digest reference")
    store = inv.images()
    image = find_image(store, source)
    store.tag(image.id, str(ref))
    return 0


# --- rmi --------------------------------------------------------------------------------


def _setup_rmi(p: Parser) -> None:
    p.flag("-f", "--force", help="Force removal of the image")
    p.flag("--no-prune", help="Do not delete untagged parents")


def _rmi(inv: Invocation, opts: Options) -> int:
    from skiff.images.remove import remove_image

    store = inv.images()
    in_use = containers_using(inv)
    errors = []
    fatal = False
    for name in opts.args:
        try:
            records = remove_image(store, name, opts.force, in_use)
        except SkiffError as e:
            if not isinstance(e, NotFound):
                fatal = True
            errors.append(str(e))
            continue
        sys.stdout.write("".join(f"{kind}: {what}\n" for kind, what in records))
        sys.stdout.flush()
    for message in errors:
        inv.error(message)
    if errors and (not opts.force or fatal):
        return 1
    return 0


# --- inspect ----------------------------------------------------------------------------


def _setup_image_inspect(p: Parser) -> None:
    p.flag("-f", "--format", kind="string", help=INSPECT_FORMAT_HELP)


def _setup_inspect(p: Parser) -> None:
    p.flag("-f", "--format", kind="string", help=INSPECT_FORMAT_HELP)
    p.flag("-s", "--size", help="Display total file sizes if the type is container")
    p.flag("--type", kind="string", help="Only inspect objects of the given type")


OBJECT_TYPES = (
    "config", "container", "image", "network", "node", "plugin", "secret", "service", "task",
    "volume",
)  # fmt: skip


def template_view(value: Any) -> Any:
    """An ImageInspect for a template: JSON nulls of Go slices and maps become typed nils,
    so ``{{.Config.Cmd}}`` prints ``[]`` and ``{{.Config.Labels}}`` ``map[]`` as Docker's;
    the fields JSON leaves out still have their zero values."""
    from skiff.cli.format import NIL_MAP, NIL_POINTER, NIL_SLICE, Struct
    from skiff.images.inspect import MAP_FIELDS, SLICE_FIELDS, config_zero

    zero: dict[str, Any] = {}
    for name, default in config_zero().items():
        if name in SLICE_FIELDS:
            zero[name] = NIL_SLICE
        elif name in MAP_FIELDS:
            zero[name] = NIL_MAP
        else:
            zero[name] = NIL_POINTER if default is None else default
    config = {
        name: zero[name] if field is None and name in zero else field
        for name, field in (value.get("Config") or {}).items()
    }
    view = dict(value)
    view["Config"] = Struct(config, zero)
    return view


def _image_inspect(inv: Invocation, opts: Options) -> int:
    from skiff.cli.listing import inspect_objects

    return inspect_objects(inv, opts.args, opts.format, "image")


def _inspect(inv: Invocation, opts: Options) -> int:
    kind = opts.type or ""
    if kind and kind not in OBJECT_TYPES:
        raise InvalidArgument(f'"{kind}" is not a valid value for --type')
    if kind and kind not in ("container", "image"):
        for name in opts.args:
            inv.error(f"No such {kind}: {name}")
        sys.stdout.write("[]\n")
        return 1
    from skiff.cli.listing import inspect_objects

    return inspect_objects(inv, opts.args, opts.format, kind, opts.size)


# --- history ----------------------------------------------------------------------------

HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_TABLE_PLAIN = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_HEADERS = {
    "ID": "IMAGE",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "CreatedBy": "CREATED BY",
    "Size": "SIZE",
    "Comment": "COMMENT",
}


def _setup_history(p: Parser) -> None:
    p.flag("--format", kind="string", help=FORMAT_HELP)
    p.flag("-H", "--human", default=True, help="Print sizes and dates in human readable format")
    p.flag("--no-trunc", help="Don't truncate output")
    p.flag("-q", "--quiet", help="Only show image IDs")


def history_record(item: dict[str, Any], human: bool, trunc: bool) -> Any:
    from skiff.cli.format import Record, ellipsis, rfc3339, since, truncate_id
    from skiff.units import human_size_precision

    created_at = rfc3339(item["Created"])
    created_by = item["CreatedBy"].replace("\t", " ")
    return Record(
        "*formatter.historyContext",
        {
            "Comment": item["Comment"],
            "CreatedAt": created_at,
            "CreatedBy": ellipsis(created_by, 45) if trunc else created_by,
            "CreatedSince": since(item["Created"]) if human else created_at,
            "ID": truncate_id(item["Id"]) if trunc else item["Id"],
            "Size": human_size_precision(item["Size"], 3) if human else str(item["Size"]),
        },
    )


def _history(inv: Invocation, opts: Options) -> int:
    from skiff.cli.format import Formatter, TemplateError
    from skiff.images.inspect import history

    source = opts.format or "table"
    if source == "table":
        if opts.quiet:
            source = "{{.ID}}"
        elif not opts.human:
            source = HISTORY_TABLE_PLAIN
    try:
        formatter = Formatter(source, HISTORY_TABLE, HISTORY_HEADERS)
        image = find_image(inv.images(), opts.args[0])
        rows = [history_record(item, opts.human, not opts.no_trunc) for item in history(image)]
        sys.stdout.write(formatter.render(rows))
    except TemplateError as e:
        raise CommandFailed(str(e)) from None
    return 0


# --- prune ------------------------------------------------------------------------------

DANGLING_WARNING = (
    "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
)
ALL_WARNING = (
    "WARNING! This will remove all images without at least one container associated to them."
    "\nAre you sure you want to continue?"
)


def _setup_prune(p: Parser) -> None:
    p.flag("-a", "--all", help="Remove all unused images, not just dangling ones")
    p.filter_flag('Provide filter values (e.g. "until=<timestamp>")', short=False)
    p.flag("-f", "--force", help="Do not prompt for confirmation")


def _confirm(message: str) -> bool:
    sys.stdout.write(message + " [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _image_prune(inv: Invocation, opts: Options) -> int:
    from skiff.images.remove import prune
    from skiff.units import human_size

    filters = parse_filters(opts.filter)
    if not opts.force and not _confirm(ALL_WARNING if opts.all else DANGLING_WARNING):
        return 0
    records, freed = prune(inv.images(), opts.all, filters, containers_using(inv))
    out = ""
    if records:
        out = "Deleted Images:\n" + "".join(f"{k.lower()}: {v}\n" for k, v in records) + "\n"
    sys.stdout.write(out + f"Total reclaimed space: {human_size(freed)}\n")
    return 0


# --- registration -----------------------------------------------------------------------


def register(registry: Registry) -> None:
    def add(
        path: str, summary: str, usage: str, setup: Any, run: Any, args: Any, *aliases: str
    ) -> None:
        registry.add(Command(path, summary, usage, setup, run, args, aliases))

    no_flags = _no_flags
    add(
        "image history", "Show the history of an image", "[OPTIONS] IMAGE",
        _setup_history, _history, (1, 1), "history",
    )  # fmt: skip
    add(
        "image import", "Import the contents from a tarball to create a filesystem image",
        "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]", _setup_import, _import, (1, 2), "import",
    )  # fmt: skip
    add(
        "image inspect", "Display detailed information on one or more images",
        "[OPTIONS] IMAGE [IMAGE...]", _setup_image_inspect, _image_inspect, (1, None),
    )  # fmt: skip
    add(
        "inspect", "Return low-level information on skiff objects",
        "[OPTIONS] NAME|ID [NAME|ID...]", _setup_inspect, _inspect, (1, None),
    )  # fmt: skip
    add(
        "image load", "Load an image from a tar archive or STDIN", "[OPTIONS]",
        _setup_load, _load, (0, 0), "load",
    )  # fmt: skip
    add(
        "image ls", "List images", "[OPTIONS] [REPOSITORY[:TAG]]",
        _setup_images, _images, (0, 1), "images", "image list",
    )  # fmt: skip
    add(
        "image prune", "Remove unused images", "[OPTIONS]", _setup_prune, _image_prune, (0, 0),
    )  # fmt: skip
    add(
        "image rm", "Remove one or more images", "[OPTIONS] IMAGE [IMAGE...]",
        _setup_rmi, _rmi, (1, None), "rmi", "image remove",
    )  # fmt: skip
    add(
        "image save", "Save one or more images to a tar archive (streamed to STDOUT by default)",
        "[OPTIONS] IMAGE [IMAGE...]", _setup_save, _save, (1, None), "save",
    )  # fmt: skip
    add(
        "image tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
        "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", no_flags, _tag, (2, 2), "tag",
    )  # fmt: skip


def _no_flags(p: Parser) -> None:
    del p


__all__ = ["containers_using", "register"]
