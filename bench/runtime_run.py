"""``RUNTIME run`` of a prepared busybox bundle running ``true``: skiff-runtime, runc, crun."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.core import Contender, Result, measure_wall, unavailable
from skiff.runtime.demo import busybox_rootfs
from skiff.runtime.specgen import default_spec

NAME = "runtime-run"
DESCRIPTION = "OCI runtime `run` of a busybox bundle running `true` (wall time)"


def _bundle(path: Path) -> None:
    busybox_rootfs(str(path / "rootfs"))
    spec = default_spec()
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["true"]
    (path / "config.json").write_text(json.dumps(spec))


def _works(binary: str, bundle: Path, root: Path) -> str | None:
    """None if the runtime runs the bundle here, else why not (its error)."""
    result = subprocess.run(
        [binary, "--root", str(root), "run", "--bundle", str(bundle), "probe"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        subprocess.run([binary, "--root", str(root), "delete", "-f", "probe"], capture_output=True)
        return (result.stderr.strip().splitlines() or ["failed"])[-1]
    return None


def spawn(argv: list[str]) -> None:
    """Run a command with its stdio on /dev/null, with as little overhead as the
    interpreter allows (posix_spawn, as hyperfine does)."""
    devnull = [(os.POSIX_SPAWN_OPEN, fd, "/dev/null", os.O_RDWR, 0) for fd in (0, 1, 2)]
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=devnull)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit status {os.waitstatus_to_exitcode(status)}")


def run(runs: int) -> Result:
    work = Path(tempfile.mkdtemp(prefix="skiff-bench-"))
    try:
        bundle = work / "bundle"
        bundle.mkdir()
        _bundle(bundle)
        candidates = {
            "skiff-runtime": shutil.which("skiff-runtime"),
            "runc": shutil.which("runc"),
            "crun": shutil.which("crun"),
        }
        contenders = []
        for name, binary in candidates.items():
            if binary is None:
                unavailable(name, "not installed")
                continue
            root = work / f"state-{name}"
            why = _works(binary, bundle, root)
            if why:
                unavailable(name, f"does not run here: {why}")
                continue
            counter = iter(range(1_000_000))

            def once(binary: str = binary, root: Path = root, counter=counter) -> None:
                cid = f"b{next(counter)}"
                spawn([binary, "--root", str(root), "run", "--bundle", str(bundle), cid])

            contenders.append(Contender(name, once))
        return measure_wall(NAME, contenders, runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
