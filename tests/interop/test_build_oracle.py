"""dockerd's classic builder as the oracle of ``skiff build``: the same Dockerfiles, the
same images.

Each case writes a Dockerfile and its context, then builds it twice: ``docker build``
(``DOCKER_BUILDKIT=0``: the classic builder) on the module's own dockerd
(``conftest.dockerd``, Debian's 20.10) and ``skiff build`` on a store of its own, both
with ``--network none`` (dockerd runs with ``--bridge=none``) and the same flags. Both
stores hold the same busybox tar as ``busybox:latest``, imported with ``CMD ["sh"]``.
The two images must agree on:

- ``Config``'s Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Volumes, Labels,
  Healthcheck, StopSignal, Shell and OnBuild (``image inspect``), and the Author;
- the history: ``history --no-trunc --format '{{.CreatedBy}}'``, and which entries are
  ``empty_layer`` (the image config in ``save``'s archive);
- the files: both images are exported the same way (``create`` then ``export``) and every
  entry is compared: its type, mode, owner, size, content's digest, symlink target.

What is left out, and why:

- the content hash in the history line of COPY and ADD (``COPY file:<hash> in /x``):
  dockerd's is its own checksum of the sources' tar headers and content, which skiff
  does not reproduce; the rest of the line (``file``, ``dir`` or ``multi``, the
  destination) is compared;
- modification times made at build time (the directories and files that RUN, WORKDIR
  or COPY create or change): they are each build's own. The times of the context's files
  and of the ADDed archive's are old and fixed (before ``RECENT``), and those are
  compared: Docker keeps a copied file's time;
- what ``create`` adds to a container's root, which is no part of the image: see
  ``CREATE_PLACEHOLDERS``;
- a missing key and ``null`` are the same in ``Config`` (dockerd 20.10 writes API 1.41's
  document, skiff API 1.45's).

What the classic builder does that one may not expect, and that these cases pin:

- history lines format values as Go does: ``CMD ["a" "b"]`` (``%q`` of a slice),
  ``VOLUME [/a /b]`` and ``SHELL [/bin/sh -ec]`` (``%v``), ``HEALTHCHECK &{["CMD" "x"]
  "5s" "3s" "1m0s" '\\x04'}`` (``%q`` of the struct: the test, interval, timeout, start
  period, and the retries as a rune); ``EXPOSE`` shows the words as written (sorted
  before they are expanded, then each expanded into words), ``WORKDIR`` has one space
  after ``#(nop)``, SHELL's line is run by the new shell, and COPY with ``--chown``
  writes the flag glued to the hash (``COPY --chown=1:2file:<hash> in /x ``);
- a HEALTHCHECK's zero interval, timeout, start period and retries (NONE's included) are
  the previous image's (the step's container is created with the image's config merged
  into the same HealthConfig);
- COPY from the context (and COPY ``--chown``) chowns what it copied, which clears the
  setuid and setgid bits of regular files; COPY ``--from`` without ``--chown`` keeps the
  other image's owners (and so those bits); ADD of an archive keeps both;
- COPY ``--chown`` of a file makes the missing parent directories the user's; of a
  directory, only the destination directory itself and what is below (its parents are
  root's).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import Docker
from tests.support.cli import Skiff

# The context's files get this modification time (2001-09-09); anything at or after
# RECENT was made during a build (or with the busybox template, for this session).
OLD = 1_000_000_000
RECENT = 1_262_304_000  # 2010-01-01

CONFIG_FIELDS = (
    "Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
    "Healthcheck", "StopSignal", "Shell", "OnBuild",
)  # fmt: skip

# What ``create`` puts in a container's root filesystem that is not in the image: dockerd
# makes them in the container's init layer (its mounts of /etc/hosts, /etc/hostname and
# /etc/resolv.conf go over empty files there, the /dev ones over those mount points;
# /.dockerenv marks a container, /etc/mtab is its link to /proc/mounts). They are the
# container's, not the build's: dropped on both sides. The directories holding them,
# /dev, /etc, /proc and /sys, are compared when the image has them (dockerd's init layer
# has them 0755 and root's, as the busybox image has); see ``drop_placeholders``.
CREATE_PLACEHOLDERS = {
    ".dockerenv", "etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab",
    "dev/console", "dev/pts", "dev/shm",
}  # fmt: skip
INIT_DIRECTORIES = ("dev", "etc", "proc", "sys")


class Case:
    """A Dockerfile, what its context holds (``make`` writes it), and the build's flags."""

    def __init__(
        self,
        dockerfile: str,
        make: Callable[[Path], None] | None = None,
        flags: tuple[str, ...] = (),
    ) -> None:
        self.dockerfile = dockerfile
        self.make = make
        self.flags = flags


# --- contexts -----------------------------------------------------------------------------


def write(root: Path, relative: str, data: str | bytes = "", mode: int = 0o644) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)
    return path


def context_files(root: Path) -> None:
    """Files of several modes and owners, a tree with symlinks and an empty directory."""
    write(root, "a.txt", "a\n")
    write(root, "b.txt", "bee\n")
    write(root, "secret", "shh\n", 0o600)
    write(root, "run.sh", "#!/bin/sh\necho run\n", 0o755)
    write(root, "suid", "setuid\n", 0o4755)
    write(root, "sgid", "setgid\n", 0o2755)
    write(root, "sticky", "sticky\n", 0o1755)
    write(root, "owned", "owned by 1234\n")
    os.chown(root / "owned", 1234, 4321)
    write(root, "dir/top", "top\n", 0o640)
    write(root, "dir/sub/file", "sub file\n")
    write(root, "dir/sub/deeper/leaf", "leaf\n", 0o700)
    (root / "dir/sub").chmod(0o750)
    (root / "dir/empty").mkdir()
    (root / "dir/empty").chmod(0o711)
    write(root, "dir/suid-below", "setuid below\n", 0o4755)
    (root / "dir/sgid-dir").mkdir()
    (root / "dir/sgid-dir").chmod(0o2755)
    os.symlink("sub/file", root / "dir/relative-link")
    os.symlink("/etc/passwd", root / "dir/absolute-link")
    os.symlink("missing", root / "dir/dangling-link")
    os.symlink("a.txt", root / "link-to-a")


def ignore_context(root: Path) -> None:
    write(root, "keep.txt", "kept\n")
    write(root, "debug.log", "log\n")
    write(root, "keep.log", "kept log\n")
    write(root, "deep/er/trace.log", "deep log\n")
    write(root, "deep/er/data.txt", "data\n")
    write(root, "deep/important.log", "important\n")
    write(root, "secret/key", "key\n")
    write(root, "notes.tmp", "tmp\n")
    write(root, "important.tmp", "important tmp\n")
    write(root, "cache/a/b/c.bin", "cache\n")
    write(root, "cache/a/keep.bin", "keep cache\n")
    write(
        root,
        ".dockerignore",
        "# comment\n**/*.log\n!keep.log\n!deep/important.log\nsecret/\n*.tmp\n"
        "!important.tmp\ncache/**/*.bin\n!cache/a/keep.bin\n",
    )


def archive_context(root: Path) -> None:
    """A tar.gz with owners, modes, a symlink and a hardlink; a plain file; a tar whose
    name does not say it is one."""
    write(root, "plain.txt", "plain\n", 0o640)
    for name, compression in (("bundle.tar.gz", "w:gz"), ("bundle.bin", "w")):
        with tarfile.open(root / name, compression, format=tarfile.PAX_FORMAT) as tar:
            entries: list[tuple[str, bytes, int, int, int, bytes]] = [
                ("top", tarfile.DIRTYPE, 0o750, 1001, 1002, b""),
                ("top/file", tarfile.REGTYPE, 0o644, 1001, 1002, b"in the archive\n"),
                ("top/exec", tarfile.REGTYPE, 0o4755, 0, 0, b"#!/bin/sh\n"),
                ("top/nested/deep", tarfile.REGTYPE, 0o600, 7, 8, b"deep\n"),
                ("top/link", tarfile.SYMTYPE, 0o777, 1001, 1002, b"file"),
                ("top/hard", tarfile.LNKTYPE, 0o644, 1001, 1002, b"top/file"),
                ("root-file", tarfile.REGTYPE, 0o444, 0, 0, b"root\n"),
            ]  # type: ignore[list-item]
            for path, kind, mode, uid, gid, data in entries:
                info = tarfile.TarInfo(path)
                info.type = kind  # type: ignore[assignment]
                info.mode, info.uid, info.gid, info.mtime = mode, uid, gid, OLD + 1
                if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                    info.linkname = data.decode()
                    tar.addfile(info)
                else:
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


# --- the cases ------------------------------------------------------------------------------

CASES: dict[str, Case] = {
    "env-label": Case(
        """FROM busybox
ENV A=1 B="two words" C=${A}-x
ENV D $B and more
ENV PATH=/opt/bin:$PATH E=${UNSET:-dflt} F=${A:+set} G='$A single' H=\\$A
LABEL one=1 "two words"="v 2" three=$A
LABEL four="a\\"b" five=${B}
"""
    ),
    "expose-volume": Case(
        """FROM busybox
EXPOSE 80 53/udp 8000-8002 443/tcp
EXPOSE 9090/sctp 80
VOLUME ["/data", "/var/log"]
VOLUME /a /b
"""
    ),
    "expose-expanded-words": Case(
        """FROM busybox
ARG PORTS="7001/udp 7000"
EXPOSE $PORTS 6000
"""
    ),
    "user-workdir-stopsignal": Case(
        """FROM busybox
WORKDIR /app
WORKDIR sub
WORKDIR ../other/./deep
USER 1000:1000
WORKDIR /made-by-user
WORKDIR /tmp
USER nobody
STOPSIGNAL SIGUSR1
"""
    ),
    "healthcheck-flags": Case(
        """FROM busybox
HEALTHCHECK --interval=5s --timeout=3s --start-period=1m --retries=4 \\
  CMD wget -q -O- http://localhost/ || exit 1
"""
    ),
    "healthcheck-inherits": Case(
        """FROM busybox
HEALTHCHECK --interval=1m30s --retries=2 CMD ["/bin/true", "x"]
HEALTHCHECK --timeout=4s CMD true
"""
    ),
    "healthcheck-none": Case(
        """FROM busybox AS checked
HEALTHCHECK --interval=1m30s CMD ["/bin/true", "x"]
FROM checked
HEALTHCHECK NONE
"""
    ),
    "shell-cmd-entrypoint": Case(
        """FROM busybox
SHELL ["/bin/sh", "-ec"]
CMD echo "hello $HOME"
ENTRYPOINT echo entry
ENV X=1
RUN echo shell > /shell-form
"""
    ),
    "entrypoint-resets-cmd": Case(
        """FROM busybox
ENTRYPOINT ["/bin/echo", "x"]
"""
    ),
    "cmd-then-entrypoint": Case(
        """FROM busybox
CMD ["-la", "/"]
ENTRYPOINT ["/bin/ls"]
"""
    ),
    "onbuild-maintainer": Case(
        """FROM busybox
MAINTAINER Jane Doe <jane@example.org>
ONBUILD RUN echo triggered > /onbuild
ONBUILD ENV TRIGGERED=1
"""
    ),
    "onbuild-triggered": Case(
        """FROM busybox AS base
ONBUILD ENV TRIGGERED=yes
ONBUILD RUN echo triggered > /onbuild
LABEL stage=base
FROM base
ENV AFTER=1
"""
    ),
    "args": Case(
        """ARG BASE=busybox
ARG UNUSED_GLOBAL=1
FROM $BASE
ARG ONE=default1
ARG TWO
ARG THREE=3 FOUR=${ONE}-four
ENV E1=$ONE E2=${TWO:-none} E3=$THREE E4=$FOUR
RUN echo "$ONE $TWO $THREE $FOUR" > /args
LABEL base=$BASE
ARG BASE
LABEL base-again=$BASE
""",
        flags=("--build-arg", "TWO=given", "--build-arg", "THREE=override"),
    ),
    "copy-files": Case(
        """FROM busybox
COPY a.txt /dest/
COPY a.txt /renamed.txt
COPY a.txt /tmp
COPY a.txt /new/parents/file.txt
COPY secret run.sh suid sgid sticky owned /modes/
COPY link-to-a /followed
COPY b.txt /etc/group
WORKDIR /work
COPY a.txt relative.txt
COPY b.txt .
COPY a.txt sub/
""",
        context_files,
    ),
    "copy-dirs": Case(
        """FROM busybox
COPY dir /copied-dir
COPY dir/ /copied-slash/
COPY dir /etc/
COPY dir/sub /tmp/into-existing
COPY dir/empty /empty-copy
""",
        context_files,
    ),
    "copy-globs": Case(
        """FROM busybox
COPY *.txt /globbed/
COPY d?r/sub /question/
COPY [ab].txt dir/t* /classes/
""",
        context_files,
    ),
    "copy-chown": Case(
        """FROM busybox
RUN echo 'app:x:1234:2345::/home/app:/bin/sh' >> /etc/passwd \\
 && echo 'app:x:2345:' >> /etc/group && echo 'other:x:3456:' >> /etc/group
COPY --chown=1000:1001 a.txt /num/
COPY --chown=1000:1001 a.txt /p1/p2/file
COPY --chown=app a.txt /name-user/
COPY --chown=app:other dir /name-both/deep/
COPY --chown=7 secret /uid-only
COPY --chown=app:2 dir/sub /tmp/mixed/
""",
        context_files,
    ),
    "dockerignore": Case(
        """FROM busybox
COPY . /ctx/
""",
        ignore_context,
    ),
    "add": Case(
        """FROM busybox
ADD bundle.tar.gz /extract/
ADD bundle.tar.gz /etc/
ADD bundle.bin /sniffed
ADD plain.txt /added/
ADD plain.txt /added-as-file
""",
        archive_context,
    ),
    "run-whiteouts": Case(
        """FROM busybox
RUN echo new > /new-file && mkdir -p /new/dir && echo changed > /etc/group \\
 && rm /etc/passwd && rm -r /var && ln -s /bin/busybox /tool && chmod 700 /root
RUN ["/bin/sh", "-c", "echo exec > /exec-form && rm /bin/vi"]
RUN rm /new-file && rm -r /tmp && mkdir /tmp && echo fresh > /tmp/only
RUN true
"""
    ),
    "volume-then-run": Case(
        """FROM busybox
VOLUME /data
RUN mkdir -p /data/inside && echo lost > /data/file && echo kept > /outside
"""
    ),
    "multi-stage": Case(
        """FROM busybox AS build
RUN mkdir -p /out/sub && echo built > /out/artifact && echo two > /out/sub/second \\
 && chown 1000:1001 /out/sub /out/sub/second && chmod 700 /out/sub \\
 && echo suid > /out/suid && chmod 4755 /out/suid
FROM busybox
COPY --from=build /out/artifact /from-name
COPY --from=0 /out /from-index/
COPY --from=0 /out/sub /nested/new/dir
COPY --from=build /out/sub/* /globbed/
COPY --from=build /bin/busybox /bin/sh /from-links/
COPY --from=build --chown=5:6 /out /chowned/
"""
    ),
    "target": Case(
        """FROM busybox AS first
ENV STAGE=first
RUN echo first > /first
FROM first AS second
ENV STAGE=second
COPY a.txt /
FROM busybox
ENV STAGE=last
""",
        context_files,
        flags=("--target", "second"),
    ),
    "scratch": Case(
        """FROM scratch
COPY a.txt /
COPY dir /dir
CMD ["/a.txt"]
""",
        context_files,
    ),
    "escape": Case(
        """# escape=`
FROM busybox
ENV WINPATH=C:\\Windows\\System32 `
    OTHER=x
LABEL multi="a `
b"
RUN echo "back\\slash" > /escaped.txt
COPY a.txt /dest/
""",
        context_files,
    ),
}


# --- running the two builders ------------------------------------------------------------


def docker(oracle: Docker, *args: str) -> bytes:
    """``docker ARGS`` on the oracle, with the classic builder; its output."""
    result = subprocess.run(
        ["docker", "-H", f"unix://{oracle.socket}", *args],
        capture_output=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
        timeout=120,
    )
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr.decode()}"
    return result.stdout


def skiff_out(skiff: Skiff, *args: str) -> bytes:
    """``skiff ARGS``'s output (binary, as ``save`` and ``export`` write)."""
    result = skiff(*args)
    assert result.code == 0, f"skiff {' '.join(args)}: {result.out}{result.err}"
    return result.raw


@pytest.fixture(scope="module")
def oracle(dockerd: Docker, busybox_tar: Path) -> Docker:
    """The oracle with busybox:latest as skiff's ``busybox`` fixture has it: the same tar,
    imported with ``CMD ["sh"]`` (``busybox:test`` has no CMD)."""
    dockerd("import", "-c", 'CMD ["sh"]', str(busybox_tar), "busybox:latest")
    return dockerd


def build(tmp_path: Path, run: Callable[..., bytes], name: str) -> str:
    """Build case ``name`` (its context written afresh, every time at ``OLD``); its tag."""
    case = CASES[name]
    context = tmp_path / f"context-{len(list(tmp_path.glob('context-*')))}"
    context.mkdir()
    (context / "Dockerfile").write_text(case.dockerfile)
    if case.make is not None:
        case.make(context)
    for directory, dirnames, filenames in os.walk(context):
        for entry in dirnames + filenames:
            os.utime(os.path.join(directory, entry), (OLD, OLD), follow_symlinks=False)
    tag = f"oracle-{name}:latest"
    run("build", "--network", "none", "-t", tag, *case.flags, str(context))
    return tag


# --- what is compared ---------------------------------------------------------------------


def config_fields(image: dict[str, Any]) -> dict[str, Any]:
    fields = {key: image["Config"].get(key) for key in CONFIG_FIELDS}
    fields["Author"] = image.get("Author")
    return fields


HASHED = re.compile(r"(file|dir|multi):[0-9a-f]{64}")


def created_by(lines: bytes) -> list[str]:
    """History lines, newest first, with COPY's and ADD's content hash masked."""
    return [HASHED.sub(r"\1:<hash>", line) for line in lines.decode().splitlines()]


def empty_layers(archive: bytes) -> list[bool]:
    """Which history entries are ``empty_layer``, newest first, in the image config of a
    docker-archive (``save``) of one image."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
    return [bool(entry.get("empty_layer")) for entry in reversed(config["history"])]


KINDS = {
    tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.LNKTYPE: "file",
    tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo",
}  # fmt: skip


def exported_files(archive: bytes) -> dict[str, tuple[Any, ...]]:
    """Each entry of an ``export``: type, permission bits, uid, gid, size, digest of the
    content, symlink target, modification time (``recent``: made during the session) and
    the paths it is a hard link with. Only the permission bits of the tar's mode field:
    Go's archive/tar (dockerd) also writes the type bits there (``c_ISDIR``...). A hard
    link is its target's file, whichever of the two the archive happens to hold first."""
    files: dict[str, tuple[Any, ...]] = {}
    links: dict[str, set[str]] = {}

    def clean(name: str) -> str:
        return name.removeprefix("./").removeprefix("/").rstrip("/")

    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            name = clean(member.name)
            if not name or name == ".":
                continue
            if member.islnk():
                target = clean(member.linkname)
                group = links.setdefault(target, {target})
                group.add(name)
                links[name] = group
                files[name] = files[target]
                continue
            digest = ""
            if member.isreg():
                data = tar.extractfile(member)
                assert data is not None
                digest = hashlib.sha256(data.read()).hexdigest()[:16]
            files[name] = (
                KINDS[member.type], oct(member.mode & 0o7777), member.uid, member.gid,
                member.size, digest, member.linkname,
                int(member.mtime) if member.mtime < RECENT else "recent",
            )  # fmt: skip
    return {name: (*entry, sorted(links.get(name, ()))) for name, entry in files.items()}


def export_image(run: Callable[..., bytes], image: str) -> dict[str, tuple[Any, ...]]:
    """The files of a container created from ``image`` (not started), exported."""
    container = run("create", "--network", "none", image, "/x").decode().strip()
    try:
        return exported_files(run("export", container))
    finally:
        run("rm", "-v", container)


def drop_placeholders(theirs: dict[str, tuple[Any, ...]], ours: dict[str, tuple[Any, ...]]) -> None:
    """Remove what ``create`` adds (``CREATE_PLACEHOLDERS``) from both listings, and
    /dev, /etc, /proc and /sys where only one engine's container has them and they hold
    nothing else: the image has none (``FROM scratch``), dockerd's init layer makes them
    for its mounts, skiff's runtime makes them at start."""
    for files in (theirs, ours):
        for name in list(files):
            if name in CREATE_PLACEHOLDERS or name.startswith(("dev/pts/", "dev/shm/")):
                files.pop(name)
    for name in INIT_DIRECTORIES:
        for files, other in ((theirs, ours), (ours, theirs)):
            below = [path for path in files if path.startswith(name + "/")]
            if name in files and name not in other and not below:
                files.pop(name)


@pytest.mark.usefixtures("busybox")
@pytest.mark.parametrize("name", list(CASES))
def test_build_matches_dockerd(tmp_path: Path, oracle: Docker, skiff: Skiff, name: str) -> None:
    def theirs(*args: str) -> bytes:
        return docker(oracle, *args)

    def ours(*args: str) -> bytes:
        return skiff_out(skiff, *args)

    their_tag, our_tag = build(tmp_path, theirs, name), build(tmp_path, ours, name)
    problems: list[str] = []

    their_config = config_fields(json.loads(theirs("image", "inspect", their_tag))[0])
    our_config = config_fields(json.loads(ours("image", "inspect", our_tag))[0])
    problems += [
        f"Config.{key}: docker {json.dumps(value)}, skiff {json.dumps(our_config[key])}"
        for key, value in their_config.items()
        if our_config[key] != value
    ]

    history = ("history", "--no-trunc", "--format", "{{.CreatedBy}}")
    their_history = created_by(theirs(*history, their_tag))
    our_history = created_by(ours(*history, our_tag))
    if len(our_history) != len(their_history):
        problems.append(f"history: docker {their_history}, skiff {our_history}")
    else:
        problems += [
            f"history[{index}]: docker {line!r}, skiff {our_history[index]!r}"
            for index, line in enumerate(their_history)
            if our_history[index] != line
        ]
    their_empty = empty_layers(theirs("save", their_tag))
    our_empty = empty_layers(ours("save", our_tag))
    if our_empty != their_empty:
        problems.append(f"empty_layer (newest first): docker {their_empty}, skiff {our_empty}")

    their_files = export_image(theirs, their_tag)
    our_files = export_image(ours, our_tag)
    drop_placeholders(their_files, our_files)
    problems += [
        f"/{path}: docker {their_files.get(path)}, skiff {our_files.get(path)}"
        for path in sorted(set(their_files) | set(our_files))
        if their_files.get(path) != our_files.get(path)
    ]
    assert not problems, "\n".join(problems)
