"""Images as Docker's Engine API shows them: ``ImageInspect``, ``ImageSummary`` (the list,
with Docker's filters), ``HistoryResponseItem``, and the disk usage of the store.

The CLI prints these (``skiff image inspect``, ``skiff images``, ``skiff history``,
``skiff system df``) and the HTTP API will serve them, so both show the same thing.
Field order is Go's struct order, so the JSON is byte for byte what Docker writes.
"""

from __future__ import annotations

import os
import re
import time

from skiff.errors import InvalidArgument, NotFound
from skiff.images import reference as references

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from skiff.images.service import Image, ImageStore

    InUse = Callable[[str], list[str]]

ZERO_TIME = "0001-01-01T00:00:00Z"

# container.Config's fields in Go's order; the ones without omitempty always appear.
_CONFIG_FIELDS: tuple[tuple[str, Any, bool], ...] = (
    ("Hostname", "", False),
    ("Domainname", "", False),
    ("User", "", False),
    ("AttachStdin", False, False),
    ("AttachStdout", False, False),
    ("AttachStderr", False, False),
    ("ExposedPorts", None, True),
    ("Tty", False, False),
    ("OpenStdin", False, False),
    ("StdinOnce", False, False),
    ("Env", None, False),
    ("Cmd", None, False),
    ("Healthcheck", None, True),
    ("ArgsEscaped", False, True),
    ("Image", "", False),
    ("Volumes", None, False),
    ("WorkingDir", "", False),
    ("Entrypoint", None, False),
    ("NetworkDisabled", False, True),
    ("MacAddress", "", True),
    ("OnBuild", None, False),
    ("Labels", None, False),
    ("StopSignal", "", True),
    ("StopTimeout", None, True),
    ("Shell", None, True),
)

# Where a JSON null is a Go nil slice (printed "[]") or map ("map[]") in a template.
SLICE_FIELDS = ("Env", "Cmd", "Entrypoint", "OnBuild", "Shell")
MAP_FIELDS = ("ExposedPorts", "Volumes", "Labels")

# --- times ------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)


def parse_time(text: Any) -> tuple[int, int, str] | None:
    """An RFC 3339 time: (unix seconds, nanoseconds, zone text ``Z`` or ``+hh:mm``)."""
    if not isinstance(text, str):
        return None
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if year <= 1:
        return None  # Go's zero time: "no time"
    import calendar

    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    nanos = int((match.group(7) or "0").ljust(9, "0"))
    zone = "Z"
    if match.group(9):
        sign = -1 if match.group(9) == "-" else 1
        offset = sign * (int(match.group(10)) * 3600 + int(match.group(11)) * 60)
        seconds -= offset
        zone = f"{match.group(9)}{match.group(10)}:{match.group(11)}" if offset else "Z"
    return seconds, nanos, zone


def format_time(parsed: tuple[int, int, str] | None) -> str:
    """Go's RFC3339Nano of a parsed time, in the zone it was written in."""
    if parsed is None:
        return ZERO_TIME
    seconds, nanos, zone = parsed
    offset = 0
    if zone != "Z":
        offset = (-1 if zone[0] == "-" else 1) * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds + offset))
    if nanos:
        text += f".{nanos:09d}".rstrip("0")
    return text + zone


def created(image: Image) -> tuple[int, int, str] | None:
    return parse_time(image.config.get("created"))


def created_key(image: Image) -> tuple[int, int]:
    """Sort key: the config's creation time, as Docker orders ``images``."""
    when = created(image)
    return (when[0], when[1]) if when else (-62135596800, 0)


def local_rfc3339_nano(unix_time: float) -> str:
    """``time.Now()`` as Go marshals it: RFC3339Nano in the local zone."""
    tm = time.localtime(unix_time)
    nanos = round((unix_time - int(unix_time)) * 1e9) % 10**9
    text = time.strftime("%Y-%m-%dT%H:%M:%S", tm)
    if nanos:
        text += f".{nanos:09d}".rstrip("0")
    offset = tm.tm_gmtoff or 0
    if not offset:
        return text + "Z"
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


# --- references -------------------------------------------------------------------------


def familiar(name: str) -> str:
    """``docker.io/library/busybox:latest`` -> ``busybox:latest``."""
    try:
        return references.parse(name, default_tag=False).familiar()
    except InvalidArgument:
        return name


def path_match(pattern: str, name: str) -> bool:
    """Go's ``path.Match``: ``*`` and ``?`` never match ``/``; ``[...]`` classes with ``^``
    negation, ranges and ``\\`` escapes. A malformed pattern raises InvalidArgument
    ("syntax error in pattern"), as Go returns ErrBadPattern."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name  # a trailing * matches the rest unless it has a /
        rest, ok = _match_chunk(chunk, name)
        if ok and (not rest or pattern):
            name = rest
            continue
        if star:
            found = False
            for i in range(len(name)):
                if name[i] == "/":
                    break
                rest, ok = _match_chunk(chunk, name[i + 1 :])
                if ok:
                    if not pattern and rest:
                        continue
                    name = rest
                    found = True
                    break
            if found:
                continue
        while pattern:  # the rest of the pattern must still be well-formed
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return not name


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern.startswith("*"):
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif ch == "[":
            in_range = True
        elif ch == "]":
            in_range = False
        elif ch == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _bad_pattern() -> InvalidArgument:
    return InvalidArgument("syntax error in pattern")


def _get_escaped(chunk: str) -> tuple[str, str]:
    if not chunk or chunk[0] in "-]":
        raise _bad_pattern()
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise _bad_pattern()
    ch, chunk = chunk[0], chunk[1:]
    if not chunk:
        raise _bad_pattern()
    return ch, chunk


def _match_chunk(chunk: str, s: str) -> tuple[str, bool]:
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        head = chunk[0]
        if head == "[":
            ch = ""
            if not failed:
                ch, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = False
            if chunk.startswith("^"):
                negated = True
                chunk = chunk[1:]
            matched = False
            ranges = 0
            while True:
                if chunk.startswith("]") and ranges > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_escaped(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_escaped(chunk[1:])
                if not failed and lo <= ch <= hi:
                    matched = True
                ranges += 1
            if matched == negated:
                failed = True
        elif head == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if head == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise _bad_pattern()
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    if failed:
        return "", False
    return s, True


def familiar_match(pattern: str, name: str) -> bool:
    """Docker's ``reference.FamiliarMatch`` of a stored (normalised) reference: the pattern
    against ``busybox:latest``, then against ``busybox``."""
    try:
        ref = references.parse(name, default_tag=False)
    except InvalidArgument:
        return path_match(pattern, name)
    return path_match(pattern, ref.familiar()) or path_match(pattern, ref.familiar_name)


def not_found_message(name: str) -> str:
    """Docker's message for a name it cannot resolve: ``No such image: busybox:latest``."""
    if references.is_full_id(name):
        return f"No such image: sha256:{name.removeprefix('sha256:')}"
    try:
        return f"No such image: {references.parse(name).familiar()}"
    except InvalidArgument:
        return f"No such image: {name}"


def find_image(store: ImageStore, name: str) -> Image:
    """``store.get`` with Docker's messages: an invalid name is reported as such, an unknown
    one as ``No such image: <name with its tag>``."""
    if not references.is_full_id(name) and not references.is_digest_id(name):
        references.parse(name)
    try:
        return store.get(name)
    except NotFound:
        raise NotFound(not_found_message(name)) from None


# --- filters ----------------------------------------------------------------------------


def check_filters(filters: dict[str, list[str]], accepted: Iterable[str]) -> None:
    allowed = set(accepted)
    for name in filters:
        if name not in allowed:
            raise InvalidArgument(f"Invalid filter '{name}'")


def _invalid(name: str, values: list[str]) -> InvalidArgument:
    return InvalidArgument(f"Invalid filter '{name}=[{' '.join(sorted(set(values)))}]'")


def match_labels(filters: dict[str, list[str]], key: str, labels: dict[str, str] | None) -> bool:
    """Docker's ``MatchKVList``: every ``KEY`` or ``KEY=VALUE`` of ``key`` is in labels."""
    wanted = filters.get(key) or []
    if not wanted:
        return True
    if not labels:
        return False
    for item in wanted:
        name, sep, value = item.partition("=")
        if name not in labels or (sep and labels[name] != value):
            return False
    return True


# --- inspect ----------------------------------------------------------------------------


def config_zero() -> dict[str, Any]:
    """container.Config's zero values, by field (None: a nil slice, map or pointer)."""
    return {name: default for name, default, _ in _CONFIG_FIELDS}


def container_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """An image config's ``config`` as Docker's container.Config, defaults filled."""
    source = config if isinstance(config, dict) else {}
    out: dict[str, Any] = {}
    for name, default, omit_empty in _CONFIG_FIELDS:
        value = source.get(name, default)
        if omit_empty and not value:
            continue
        out[name] = value
    return out


def _refs(image: Image) -> tuple[list[str], list[str]]:
    return [familiar(t) for t in image.tags], [familiar(d) for d in image.repo_digests]


def graph_driver(image: Image) -> dict[str, Any]:
    """overlay2's view of the image's top layer: its diff, the ones below, work, merged."""
    layers = image.layers()
    data: dict[str, str] = {}
    if layers:
        root = image.store.layer_dirs.root
        top = os.path.join(root, layers[-1]["directory"])
        lower = [os.path.join(root, layer["directory"], "diff") for layer in reversed(layers[:-1])]
        if lower:
            data["LowerDir"] = ":".join(lower)
        data["MergedDir"] = os.path.join(top, "merged")
        data["UpperDir"] = os.path.join(top, "diff")
        data["WorkDir"] = os.path.join(top, "work")
    return {"Data": data, "Name": "overlay2"}


def inspect_image(image: Image) -> dict[str, Any]:
    """Docker's ``ImageInspect`` of an image (GET /images/{name}/json)."""
    config = image.config
    tags, digests = _refs(image)
    out: dict[str, Any] = {
        "Id": image.id,
        "RepoTags": tags,
        "RepoDigests": digests,
        "Parent": image.store.parent_of(image.id) or "",
        "Comment": config.get("comment") or "",
        "Created": format_time(created(image)),
        "DockerVersion": config.get("docker_version") or "",
        "Author": config.get("author") or "",
        "Config": container_config(config.get("config")),
        "Architecture": config.get("architecture") or "",
    }
    if config.get("variant"):
        out["Variant"] = config["variant"]
    out["Os"] = config.get("os") or ""
    if config.get("os.version"):
        out["OsVersion"] = config["os.version"]
    out["Size"] = image.size
    out["GraphDriver"] = graph_driver(image)
    out["RootFS"] = {"Type": "layers", "Layers": list(config["rootfs"]["diff_ids"])}
    # The store does not record when a tag was last set; the image's arrival stands in.
    out["Metadata"] = {"LastTagTime": local_rfc3339_nano(image.added) if tags else ZERO_TIME}
    return out


# --- list -------------------------------------------------------------------------------

IMAGE_LIST_FILTERS = ("before", "dangling", "label", "reference", "since")


def summary(
    image: Image,
    tags: list[str],
    digests: list[str],
    containers: int = -1,
    parent: str | None = None,
) -> dict[str, Any]:
    """Docker's ``ImageSummary`` (GET /images/json) with the given (familiar) names;
    ``parent`` when the caller knows it (a listing reads all parents at once)."""
    if parent is None:
        parent = image.store.parent_of(image.id) or ""
    when = created(image)
    labels = (image.config.get("config") or {}).get("Labels")
    return {
        "Containers": containers,
        "Created": when[0] if when else -62135596800,
        "Id": image.id,
        "Labels": labels if labels else None,
        "ParentId": parent,
        "RepoDigests": digests,
        "RepoTags": tags,
        "SharedSize": -1,
        "Size": image.size,
        "VirtualSize": image.size,
    }


def list_images(
    store: ImageStore, filters: dict[str, list[str]] | None = None, all: bool = False
) -> list[dict[str, Any]]:
    """``docker images``: summaries, newest first, filtered as Docker's daemon does.

    ``reference`` patterns also narrow the names shown; ``dangling=true`` keeps images
    without a tag; ``before``/``since`` compare creation times with another image's;
    ``label`` needs every given label. Unless ``all``, an image without a name that others
    were built on (a build's intermediate image) is hidden.
    """
    filters = filters or {}
    check_filters(filters, IMAGE_LIST_FILTERS)
    dangling_only = False
    if "dangling" in filters:
        values = set(filters["dangling"])
        if values == {"true"}:
            dangling_only = True
        elif values != {"false"}:
            raise _invalid("dangling", filters["dangling"])
    before = find_image(store, filters["before"][-1]) if filters.get("before") else None
    since = find_image(store, filters["since"][-1]) if filters.get("since") else None
    patterns = filters.get("reference") or []
    for pattern in patterns:
        path_match(pattern, "")  # a malformed pattern fails even when nothing is listed
    out = []
    parents = store.parents()
    with_children = set(parents.values())
    images = sorted(store.images(), key=created_key, reverse=True)
    for image in images:
        key = created_key(image)
        if before is not None and key >= created_key(before):
            continue
        if since is not None and key <= created_key(since):
            continue
        if "label" in filters:
            labels = (image.config.get("config") or {}).get("Labels")
            if not match_labels(filters, "label", labels):
                continue
        tags: list[str] = []
        digests: list[str] = []
        for name, bucket in [(t, tags) for t in image.tags] + [
            (d, digests) for d in image.repo_digests
        ]:
            if patterns and not any(familiar_match(p, name) for p in patterns):
                continue
            bucket.append(familiar(name))
        if not tags and not digests:
            if not all and not image.tags and not image.repo_digests and image.id in with_children:
                continue
            if "dangling" in filters and not dangling_only:
                continue
            if patterns:
                continue  # no name of this image matched
        elif dangling_only and tags:
            continue
        out.append(summary(image, tags, digests, parent=parents.get(image.id, "")))
    return out


# --- history ----------------------------------------------------------------------------


def history(image: Image) -> list[dict[str, Any]]:
    """Docker's ``HistoryResponseItem`` list, newest first: one row per history entry,
    with the ID (and tags) of the image whose top entry it is, for the image and the
    parents it was committed or built on, and ``<missing>`` below them."""
    config = image.config
    entries = config.get("history") or []
    layers = image.layers()
    rows = []
    position = 0
    for entry in entries:
        size = 0
        if not entry.get("empty_layer"):
            if position >= len(layers):
                raise InvalidArgument("too many non-empty layers in History section")
            size = layers[position]["size"]
            position += 1
        when = parse_time(entry.get("created"))
        rows.append(
            {
                "Comment": entry.get("comment") or "",
                "Created": when[0] if when else -62135596800,
                "CreatedBy": entry.get("created_by") or "",
                "Id": "<missing>",
                "Size": size,
                "Tags": None,
            }
        )
    current: Image | None = image
    while current is not None:
        top = len(current.config.get("history") or []) - 1
        if not 0 <= top < len(rows) or rows[top]["Id"] != "<missing>":
            break
        rows[top]["Id"] = current.id
        rows[top]["Tags"] = [familiar(t) for t in current.tags] or None
        parent = current.store.parent_of(current.id)
        try:
            current = current.store.get(parent) if parent else None
        except NotFound:
            current = None
    rows.reverse()
    return rows


# --- disk usage -------------------------------------------------------------------------


def tree_usage(path: str, seen: set[tuple[int, int]] | None = None) -> int:
    """Bytes allocated under ``path`` (``du -sx --block-size=1``: blocks, each inode once,
    directories included, one filesystem)."""
    seen = set() if seen is None else seen
    try:
        top = os.lstat(path)
    except FileNotFoundError:
        return 0
    total = 0
    stack = [path]
    if (top.st_dev, top.st_ino) not in seen:
        seen.add((top.st_dev, top.st_ino))
        total += top.st_blocks * 512
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if st.st_dev != top.st_dev:
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            total += st.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
    return total


def blob_usage(store: ImageStore, digest: str) -> int:
    try:
        return os.stat(store.content.path(digest)).st_blocks * 512
    except (FileNotFoundError, InvalidArgument):
        return 0


def footprint(image: Image, directories: dict[str, int] | None = None) -> dict[str, int]:
    """What an image keeps on disk, item by item (config and layer blobs by digest, layer
    directories by name) -> bytes allocated; ``directories`` gives known directory sizes."""
    store = image.store
    items = {image.id: blob_usage(store, image.id)}
    for layer in image.layers():
        name = layer["directory"]
        if directories is not None and name in directories:
            items[name] = directories[name]
        else:
            items[name] = tree_usage(os.path.join(store.layer_dirs.root, name))
        items[layer["blob"]] = blob_usage(store, layer["blob"])
    return items


def shared_sizes(images: list[Image]) -> dict[str, int]:
    """Image ID -> bytes of its layers that another of ``images`` uses too (an
    ImageSummary's SharedSize)."""
    layers = {image.id: image.layers() for image in images}
    users: dict[str, int] = {}
    for rows in layers.values():
        for layer in rows:
            users[layer["chain_id"]] = users.get(layer["chain_id"], 0) + 1
    return {
        image_id: sum(layer["size"] for layer in rows if users[layer["chain_id"]] > 1)
        for image_id, rows in layers.items()
    }


def disk_usage(store: ImageStore, in_use: InUse | None = None) -> dict[str, Any]:
    """The Images part of ``docker system df``: the store's real disk use (its blobs and
    layer directories, as ``du`` counts them), what removing every image no container
    uses would free, and one row per image (``ImageSummary`` with SharedSize and
    Containers)."""
    in_use = in_use or (lambda _: [])
    seen: set[tuple[int, int]] = set()
    total = tree_usage(store.paths.blobs, seen)
    directories: dict[str, int] = {}
    try:
        top = os.lstat(store.paths.layers)
        seen.add((top.st_dev, top.st_ino))
        total += top.st_blocks * 512
        entries = list(os.scandir(store.paths.layers))
    except FileNotFoundError:
        entries = []
    for entry in entries:
        directories[entry.name] = tree_usage(entry.path, seen)
        total += directories[entry.name]
    images = sorted(store.images(), key=created_key, reverse=True)
    users = {image.id: in_use(image.id) for image in images}
    shared = shared_sizes(images)
    active: dict[str, int] = {}
    unused: dict[str, int] = {}
    rows = []
    for image in images:
        row = summary(image, *_refs(image), containers=len(users[image.id]))
        row["SharedSize"] = shared[image.id]
        rows.append(row)
        (active if users[image.id] else unused).update(footprint(image, directories))
    reclaimable = sum(size for item, size in unused.items() if item not in active)
    return {
        "TotalCount": len(images),
        "Active": sum(1 for image in images if users[image.id]),
        "Size": total,
        "Reclaimable": reclaimable,
        "Images": rows,
    }
