"""Removing images as Docker's daemon does: ``rmi`` (one name: its records ``Untagged`` and
``Deleted``, its conflicts with containers) and ``image prune``; the CLI and the Engine API
(DELETE /images/{name}, POST /images/prune) both call these.

Both take an ``in_use(image_id) -> [container IDs]`` function (the containers created from
an image, any state): an image a container uses keeps its layers.
"""

from __future__ import annotations

import os

from skiff.errors import Conflict, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from skiff.images.service import Image, ImageStore

    InUse = Callable[[str], list[str]]

PRUNE_FILTERS = ("dangling", "label", "label!", "until")


def _references(image: Image) -> list[Any]:
    """Every tag and digest reference of an image, in Docker's (lexical) order."""
    from skiff.images import reference as references

    refs = [references.parse(n, default_tag=False) for n in image.tags + image.repo_digests]
    return sorted(refs, key=str)


def _single_reference(refs: list[Any]) -> bool:
    """Docker's isSingleReference: one repository, at most one tag (and some reference)."""
    if len(refs) <= 1:
        return len(refs) == 1
    single = None
    names: set[str] = set()
    for ref in refs:
        if ref.digest:
            names.add(ref.name)
        elif single is None:
            names.add(ref.name)
            single = ref
        else:
            return False
    single = single or refs[0]
    return len(names) == 1 and single.name in names


def _is_id_prefix(image_id: str, text: str) -> bool:
    return image_id.startswith(text) or image_id.partition(":")[2].startswith(text)


def remove_image(store: ImageStore, name: str, force: bool, in_use: InUse) -> list[tuple[str, str]]:
    """``docker rmi NAME``, as Docker's daemon decides it; the records it prints
    (("Untagged", "busybox:latest"), ("Deleted", "sha256:...")).

    A name removes that name; the image goes with its last name. An ID removes the image
    with its names if they are all in one repository with at most one tag, else only
    with ``force``. An image a container uses is kept unless ``force``. Deleted layers are
    listed by chain ID after the image, as Docker lists them. Forced, an image a
    container uses loses its names but stays (dangling) until its last container goes:
    the container runs on its layers (Docker keeps the layers and forgets the image).
    """
    from skiff.images import reference as references
    from skiff.images.inspect import find_image

    image = find_image(store, name)
    short = image.short_id
    refs = _references(image)
    records: list[tuple[str, str]] = []
    removed_name = False
    if not _is_id_prefix(image.id, name):
        if not force and _single_reference(refs):
            users = in_use(image.id)
            if users:
                raise Conflict(
                    f'conflict: unable to remove repository reference "{name}" (must force)'
                    f" - container {users[0][:12]} is using its referenced image {short}"
                )
        ref = references.parse(name)
        store.untag(str(ref))
        records.append(("Untagged", ref.familiar()))
        refs = _references(image)
        if not ref.digest and not any(not r.digest and r.name == ref.name for r in refs):
            # the repository's last tag went: its digest references go with it
            for other in [r for r in refs if r.digest and r.name == ref.name]:
                store.untag(str(other))
                records.append(("Untagged", other.familiar()))
            refs = [r for r in refs if not (r.digest and r.name == ref.name)]
        if refs:
            return records
        removed_name = True
    elif _single_reference(refs):
        users = [] if force else in_use(image.id)
        if users:
            raise Conflict(
                f"conflict: unable to delete {short} (must be forced) - image is being used"
                f" by stopped container {users[0][:12]}"
            )
        for ref in refs:
            store.untag(str(ref))
            records.append(("Untagged", ref.familiar()))
    # imageDeleteHelper
    if image.id in store.with_children() and not _references(image):
        raise Conflict(
            f"conflict: unable to delete {short} (cannot be forced) - image has dependent "
            "child images"
        )
    if not force:
        conflict = None
        users = in_use(image.id)
        if _references(image):
            conflict = "image is referenced in multiple repositories"
        elif users:
            conflict = f"image is being used by stopped container {users[0][:12]}"
        if conflict:
            if removed_name and users:
                return records  # untagged; the image stays for its container
            raise Conflict(f"conflict: unable to delete {short} (must be forced) - {conflict}")
    chains = [layer["chain_id"] for layer in reversed(image.layers())]
    for ref in _references(image):
        store.untag(str(ref))
        records.append(("Untagged", ref.familiar()))
    if in_use(image.id):
        return records
    return records + _delete(store, image, chains, in_use)


def _delete(
    store: ImageStore, image: Image, chains: list[str], in_use: InUse
) -> list[tuple[str, str]]:
    """Delete an image; then its parent too if that has no name, no other child and no
    container (the intermediate images of a build go with the image built)."""
    parent = store.parent_of(image.id)
    store.delete_image(image.id)
    records = [("Deleted", image.id)]
    records.extend(("Deleted", chain) for chain in chains if not store.layer_known(chain))
    if parent is None or parent in store.with_children() or in_use(parent):
        return records
    try:
        above = store.get(parent)
    except NotFound:
        return records
    if _references(above):
        return records
    parent_chains = [layer["chain_id"] for layer in reversed(above.layers())]
    return records + _delete(store, above, parent_chains, in_use)


def parse_until(text: str, now: float) -> float:
    """Docker's timestamp of an ``until`` filter: a Go duration before now (``24h``,
    ``1h30m``), Unix seconds, or an RFC 3339 date or time."""
    import re

    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    sign, body = (-1, text[1:]) if text[:1] == "-" else (1, text.removeprefix("+"))
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", body)
    if parts and "".join(n + u for n, u in parts) == body:
        return now - sign * sum(float(n) * units[u] for n, u in parts)
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    from skiff.images.inspect import parse_time

    candidates = [text, text + "T00:00:00Z", text + "Z", text + ":00Z"]
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", text):
        candidates.insert(0, text + ":00Z")
    for candidate in candidates:
        parsed = parse_time(candidate)
        if parsed is not None:
            return parsed[0] + parsed[1] / 1e9
    raise InvalidArgument(f"failed to parse value as time or duration: {text!r}")


def prune(
    store: ImageStore,
    all: bool,
    filters: dict[str, list[str]] | None,
    in_use: InUse,
) -> tuple[list[tuple[str, str]], int]:
    """``docker image prune``: remove dangling images (untagged), or with ``all`` every
    image no container uses; the records and the bytes freed on disk."""
    import time

    from skiff.images.inspect import check_filters, created_key, footprint, match_labels

    filters = {k: list(v) for k, v in (filters or {}).items()}
    check_filters(filters, PRUNE_FILTERS)
    filters.setdefault("dangling", []).append("false" if all else "true")
    values = set(filters["dangling"])
    if values & {"false", "0"}:
        dangling_only = False
    elif values & {"true", "1"}:
        dangling_only = True
    else:
        raise InvalidArgument(f"Invalid filter 'dangling=[{' '.join(sorted(values))}]'")
    until = None
    if filters.get("until"):
        if len(filters["until"]) > 1:
            raise InvalidArgument("more than one until filter specified")
        until = parse_until(filters["until"][0], time.time())
    records: list[tuple[str, str]] = []
    sizes: dict[str, int] = {}
    for image in store.images():
        if until is not None and created_key(image)[0] + created_key(image)[1] / 1e9 > until:
            continue
        labels = (image.config.get("config") or {}).get("Labels")
        if not match_labels(filters, "label", labels):
            continue
        if filters.get("label!") and match_labels(filters, "label!", labels):
            continue
        if in_use(image.id):
            continue
        refs = _references(image)
        names = [str(ref) for ref in refs]
        if refs and dangling_only and any(not ref.digest for ref in refs):
            continue
        sizes.update(footprint(image))
        for name in names or [image.id.partition(":")[2]]:
            try:
                records += remove_image(store, name, False, in_use)
            except (Conflict, NotFound):
                continue
    freed = 0
    for item, size in sizes.items():
        gone = (
            not store.content.exists(item)
            if ":" in item
            else not os.path.isdir(os.path.join(store.layer_dirs.root, item))
        )
        if gone:
            freed += size
    return records, freed + store.collect_garbage() + store.prune_downloads()
