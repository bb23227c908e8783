"""OCI bundles from busybox-static, and OCI runtimes driven by their command line."""

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from skiff.runtime.demo import busybox_rootfs
from skiff.runtime.specgen import default_spec

SKIFF_RUNTIME = os.path.join(os.path.dirname(sys.executable), "skiff-runtime")
RUNTIMES = {"skiff": SKIFF_RUNTIME, "runc": shutil.which("runc") or "/usr/sbin/runc"}

_TEMPLATE_ROOTFS: Path | None = None


def template_rootfs(cache: Path) -> Path:
    global _TEMPLATE_ROOTFS
    if _TEMPLATE_ROOTFS is None:
        path = cache / "busybox-rootfs"
        if not path.exists():
            busybox_rootfs(str(path))
        _TEMPLATE_ROOTFS = path
    return _TEMPLATE_ROOTFS


def test_spec(args: list[str]) -> dict[str, Any]:
    """runc's default spec, without a terminal, running ``args``."""
    spec = default_spec()
    spec["process"]["terminal"] = False
    spec["process"]["args"] = args
    spec["hostname"] = "testbox"
    return spec


class Bundle:
    def __init__(self, path: Path, template: Path, args: list[str]) -> None:
        self.path = path
        self.rootfs = path / "rootfs"
        shutil.copytree(template, self.rootfs, symlinks=True)
        self.spec = test_spec(args)

    def write(self) -> "Bundle":
        (self.path / "config.json").write_text(json.dumps(self.spec, indent=1))
        return self

    def clone_spec(self) -> dict[str, Any]:
        return copy.deepcopy(self.spec)


class Runtime:
    """An OCI runtime binary with its own state root."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.binary = RUNTIMES[name]
        self.root = root

    def cmd(self, *args: str) -> list[str]:
        return [self.binary, "--root", str(self.root), *args]

    def __call__(
        self, *args: str, timeout: float = 60, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run a command; output goes through files, not pipes: a detached container keeps
        the runtime's stdio open, and a pipe would never reach end-of-file."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            kwargs.setdefault("stdin", subprocess.DEVNULL)
            result = subprocess.run(
                self.cmd(*args), stdout=out, stderr=err, timeout=timeout, **kwargs
            )
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(
                result.args, result.returncode, out.read().decode(), err.read().decode()
            )

    def ok(self, *args: str, **kwargs: Any) -> str:
        result = self(*args, **kwargs)
        assert result.returncode == 0, (
            f"{self.name} {' '.join(args)}: rc={result.returncode} {result.stderr}"
        )
        return result.stdout

    def run(
        self, bundle: Bundle, cid: str = "c1", **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        bundle.write()
        return self("run", "--bundle", str(bundle.path), cid, **kwargs)

    def state(self, cid: str) -> dict[str, Any]:
        return json.loads(self.ok("state", cid))
