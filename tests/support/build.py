"""Helpers for the tests of ``skiff build``: contexts written from dicts, the build's
output split into steps, and what a build may leave behind."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from pathlib import Path

from tests.support.cli import Result, Skiff

ID = re.compile(r"sha256:[0-9a-f]{64}")
SHORT_ID = re.compile(r"^ ---> ([0-9a-f]{12})$", re.MULTILINE)
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def write_context(root: Path, files: dict[str, str | bytes], mode: int = 0o644) -> Path:
    """``files`` (relative path: content) written below ``root``; directories 0755, files
    ``mode``."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    for name, data in files.items():
        path = root / name
        for parent in reversed(path.relative_to(root).parents):
            directory = root / parent
            directory.mkdir(exist_ok=True)
            directory.chmod(0o755)
        if isinstance(data, str):
            path.write_text(data)
        else:
            path.write_bytes(data)
        path.chmod(mode)
    return root


def tar_bytes(files: dict[str, str | bytes], compression: str = "") -> bytes:
    """A tar (``compression`` "" or "gz") of ``files``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}") as tar:  # type: ignore[call-overload]
        for name, data in files.items():
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(raw))
    return buffer.getvalue()


def built(skiff: Skiff, *args: str, input: bytes | str | None = None, **kw: object) -> str:
    """``skiff build ARGS`` that must succeed with nothing on stderr; its output."""
    result = skiff("build", *args, input=input, **kw)
    assert result.code == 0, result
    assert result.err == "", result
    return result.out


def steps(out: str) -> list[str]:
    """The build output cut into one block per "Step N/M : ..." line."""
    return [
        b
        for b in re.split(r"^(?=Step \d+/\d+ : )", out, flags=re.MULTILINE)
        if b.startswith("Step ")
    ]


def history(skiff: Skiff, image: str) -> list[str]:
    """The image's history entries' "created by" (newest first), untruncated."""
    out = skiff.ok("history", "--no-trunc", "--format", "{{json .CreatedBy}}", image)
    return [json.loads(line) for line in out.splitlines()]


def run(skiff: Skiff, image: str, *command: str) -> str:
    """What ``skiff run --rm IMAGE COMMAND`` prints (it must succeed)."""
    return skiff.ok("run", "--rm", image, *command)


def sh(skiff: Skiff, image: str, script: str) -> str:
    return run(skiff, image, "sh", "-c", script)


def repo_tags(skiff: Skiff, *flags: str) -> list[str]:
    out = skiff.ok("images", *flags, "--format", "{{.Repository}}:{{.Tag}}")
    return sorted(out.splitlines())


def mounts_below(*roots: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    prefixes = tuple(f"{root}/" for root in roots)
    return [p for p in points if p.startswith(prefixes)]


def leftovers(skiff: Skiff) -> list[str]:
    """What a finished build must not leave: containers, mounts in the store, build
    directories (snapshots, contexts, downloads)."""
    left = [f"container {c}" for c in skiff.ok("ps", "-a", "-q").split()]
    left += [f"mount {m}" for m in mounts_below(skiff.root, skiff.runroot)]
    builds = skiff.paths.builds
    if os.path.isdir(builds):
        left += [f"build directory {name}" for name in os.listdir(builds)]
    return left


def failed(result: Result, code: int = 1) -> str:
    """A build that failed with ``code`` and exactly one error line; that line."""
    assert result.code == code, result
    lines = result.err.splitlines()
    assert len(lines) == 1, result
    return lines[0]
