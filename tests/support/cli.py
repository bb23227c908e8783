"""The real ``skiff`` command run by tests, each with its own store (root and run root)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from skiff.images.service import ImageStore
from skiff.paths import Paths

SKIFF = os.path.join(os.path.dirname(sys.executable), "skiff")


class Result:
    def __init__(self, code: int, out: str, err: str, raw: bytes) -> None:
        self.code = code
        self.out = out
        self.err = err
        self.raw = raw

    def __repr__(self) -> str:
        return f"Result(code={self.code}, out={self.out!r}, err={self.err!r})"


class Skiff:
    """The skiff command with its own store."""

    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "root"
        self.runroot = tmp / "run"
        self.env = {**os.environ, "SKIFF_ROOT": str(self.root), "SKIFF_RUNROOT": str(self.runroot)}
        self.env.pop("TZ", None)

    @property
    def paths(self) -> Paths:
        return Paths(str(self.root), str(self.runroot))

    def __call__(
        self, *args: str, input: bytes | str | None = None, timeout: float = 300, **kw: object
    ) -> Result:
        data = input.encode() if isinstance(input, str) else input
        p = subprocess.run(
            [SKIFF, *args],
            input=data,
            capture_output=True,
            env=self.env,
            timeout=timeout,
            stdin=None if data is not None else subprocess.DEVNULL,
            **kw,  # type: ignore[call-overload]
        )
        return Result(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(), p.stdout)

    def ok(self, *args: str, input: bytes | str | None = None) -> str:
        result = self(*args, input=input)
        assert result.code == 0, result
        assert result.err == "", result
        return result.out

    def popen(self, *args: str, **kw: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen([SKIFF, *args], env=self.env, **kw)  # type: ignore[call-overload]

    def store(self) -> ImageStore:
        return ImageStore(self.paths)

    def inspect(self, name: str) -> dict:
        return json.loads(self.ok("image", "inspect", name))[0]

    def container(self, name: str) -> dict:
        return json.loads(self.ok("container", "inspect", name))[0]


def tar_dir(path: Path, rootfs: Path, extra: dict[str, bytes] | None = None) -> Path:
    """A tar of a directory, with extra files added at the end."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(rootfs, arcname=".")
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return path
