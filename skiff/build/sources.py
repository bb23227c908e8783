"""Where the files of a COPY or ADD come from: the context, a heredoc, a URL, or another
stage or image (``--from``); and the owner they get (``--chown``).

Sources are resolved before the step runs, because the cache compares their content:
context files by a checksum of their content and metadata, heredocs by their text, URLs
by what was downloaded, another image's files by that image's ID.
"""

from __future__ import annotations

import fnmatch
import os
from contextlib import ExitStack

from skiff.build.context import clean, has_wildcards
from skiff.build.files import Owner, Source
from skiff.errors import InvalidArgument, NotFound
from skiff.images.digest import sha256

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.build.builder import Builder
    from skiff.build.instructions import FileChange, Step
    from skiff.build.stage import Stage

URL_SCHEMES = ("http://", "https://")


def resolve_sources(builder: Builder, stage: Stage, step: Step, change: FileChange) -> None:
    """Fill in ``change.details["resolved"]`` (kind, value) per source, its checksum and
    the step's history line."""
    keyword = "COPY" if change.kind == "copy" else "ADD"
    details = change.details
    digest = sha256()
    resolved: list[tuple[str, str]] = []
    if details["source_stage"]:
        image_id = _source_image(builder, details["source_stage"])
        details["source_image"] = image_id
        digest.update(f"image {image_id}\n".encode())
        for source in details["sources"]:
            resolved.append(("image", source))
            digest.update(f"{source}\n".encode())
    else:
        for source in details["sources"]:
            name = source[2:].lstrip("-").strip("'\"") if source.startswith("<<") else ""
            if name and name in details["heredocs"]:
                resolved.append(("heredoc", name))
                digest.update(f"heredoc {name}\n{details['heredocs'][name]}\n".encode())
            elif change.kind == "add" and source.startswith(URL_SCHEMES):
                path, filename = _download(builder, source)
                resolved.append(("url", f"{path}\0{filename}"))
                digest.update(f"url {filename}\n".encode() + _file_digest(path).encode())
            else:
                paths = builder.context.sources(source, keyword)
                resolved.extend(("context", p) for p in paths)
                digest.update(builder.context.checksum(paths).encode())
    details["resolved"] = resolved
    for key in ("chown", "chmod", "dest"):
        digest.update(f"{key} {details[key]}\n".encode())
    change.checksum = digest.hexdigest()
    kind = _hash_kind(builder, resolved, details.get("source_image"))
    chown = f"--chown={details['chown']}" if details["chown"] else ""
    step.created_by = " ".join(
        [*stage.shell, f"#(nop) {keyword} {chown}{kind}:{change.checksum} in {details['dest']} "]
    )


def _hash_kind(builder: Builder, resolved: list[tuple[str, str]], image_id: str | None) -> str:
    """dockerd's prefix of the sources' hash in history: file, dir or multi."""
    if len(resolved) != 1:
        return "multi"
    kind, value = resolved[0]
    if kind == "context":
        return "dir" if os.path.isdir(builder.context.path(value)) else "file"
    if kind == "image":
        from skiff.build.files import follow

        with ExitStack() as held:
            root = _image_root(builder, image_id, held)
            relative = clean(value)
            return "dir" if os.path.isdir(os.path.join(root, follow(root, relative))) else "file"
    return "file"


def _file_digest(path: str) -> str:
    digest = sha256(size=os.path.getsize(path))
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _download(builder: Builder, url: str) -> tuple[str, str]:
    from skiff.build.files import fetch

    directory = os.path.join(builder.files, f"url-{len(os.listdir(builder.files))}")
    os.mkdir(directory)
    try:
        return fetch(url, directory)
    except InvalidArgument as e:
        raise InvalidArgument(f"ADD failed: {e}") from None


def _source_image(builder: Builder, name: str) -> str | None:
    """The image of ``--from``: an earlier stage by name or index, or an image."""
    built = builder.stage_images
    if name.lower() in builder.names[: len(built)]:
        return built[builder.names.index(name.lower())]
    if name.isdigit():
        index = int(name)
        if index >= len(built):
            raise InvalidArgument(f"invalid from flag value {name}: refers to current build stage")
        return built[index]
    if name == "scratch":
        return None
    try:
        return builder.store.get(name).id
    except NotFound:
        return builder.pull(name, builder.options.platform)


# --- copying -----------------------------------------------------------------------------


def copy_sources(builder: Builder, rootfs: str, change: FileChange) -> None:
    """Copy (or for ADD, unpack) the resolved sources into the mounted root ``rootfs``."""
    from skiff.build import files

    details = change.details
    keyword = "COPY" if change.kind == "copy" else "ADD"
    owner: Owner | None = chown_owner(rootfs, details["chown"])
    if details["source_stage"] and not details["chown"]:
        owner = None  # COPY --from keeps the other image's owners
    with ExitStack() as held:
        sources: list[Source] = []
        for kind, value in details["resolved"]:
            if kind == "context":
                path = builder.context.path(value)
                if change.kind == "add" and os.path.isfile(path) and files.is_archive(path):
                    files.add_archive(rootfs, path, details["dest"], details["workdir"])
                    continue
                sources.append(
                    Source(builder.context.root, value, os.path.basename(value) or ".",
                           builder.context.ignored)
                )  # fmt: skip
            elif kind == "heredoc":
                directory = os.path.join(builder.files, f"heredoc-{len(os.listdir(builder.files))}")
                os.mkdir(directory)
                with open(os.path.join(directory, value), "w") as f:
                    f.write(details["heredocs"][value])
                os.chmod(os.path.join(directory, value), 0o644)
                sources.append(Source(directory, value, value))
            elif kind == "url":
                path, filename = value.split("\0")
                sources.append(Source(os.path.dirname(path), os.path.basename(path), filename))
            else:
                root = _image_root(builder, details.get("source_image"), held)
                sources.extend(_image_sources(root, value, keyword))
        if sources:
            files.copy(
                rootfs,
                sources,
                details["dest"],
                details["workdir"],
                owner=owner,
                mode=details["chmod"],
                instruction=keyword,
            )
        elif len(details["resolved"]) > 1 and not details["dest"].endswith("/"):
            raise InvalidArgument(
                f"When using {keyword} with more than one source file, the destination must "
                "be a directory and end with a /"
            )


def _image_root(builder: Builder, image_id: str | None, held: ExitStack) -> str:
    from skiff.build.snapshot import snapshot

    view = held.enter_context(snapshot(builder.paths, builder.store, image_id))
    return view.rootfs


def _image_sources(root: str, source: str, keyword: str) -> list[Source]:
    """The sources ``source`` names in another image's root."""
    from skiff.build.files import follow

    relative = clean(source)
    if not has_wildcards(relative):
        if not os.path.lexists(os.path.join(root, follow(root, relative))):
            raise InvalidArgument(f"{keyword} failed: stat {source}: file does not exist")
        return [Source(root, relative, os.path.basename(relative) or ".")]
    found = []
    for directory, dirnames, filenames in os.walk(root):
        base = os.path.relpath(directory, root)
        for name in sorted(dirnames + filenames):
            path = name if base == "." else f"{base}/{name}"
            if fnmatch.fnmatchcase(path, relative):
                found.append(Source(root, path, name))
    if not found:
        raise InvalidArgument(f"{keyword} failed: no source files were specified")
    return found


def chown_owner(rootfs: str, spec: str) -> Owner:
    """``--chown=user[:group]`` as numbers, names looked up in the image's /etc/passwd
    and /etc/group; a user alone is also the group (dockerd's rule)."""
    if not spec:
        return (0, 0)
    from skiff.engine.userinfo import parse_group, parse_passwd, read_rootfs_file

    parts = spec.split(":")
    if len(parts) > 2:
        raise InvalidArgument(f"invalid chown string format: {spec}")
    user, group = (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    prefix = "unable to convert uid/gid chown string to host mapping: "
    if user.isdigit():
        uid = int(user)
    else:
        entries = parse_passwd(read_rootfs_file(rootfs, "/etc/passwd") or "")
        match = [e.uid for e in entries if e.name == user]
        if not match:
            raise InvalidArgument(f"{prefix}can't find uid for user {user}: no such user: {user}")
        uid = match[0]
    if group.isdigit():
        gid = int(group)
    else:
        groups = parse_group(read_rootfs_file(rootfs, "/etc/group") or "")
        found = [g.gid for g in groups if g.name == group]
        if not found:
            raise InvalidArgument(
                f"{prefix}can't find gid for group {group}: no such group: {group}"
            )
        gid = found[0]
    return (uid, gid)
