"""``skiff run``'s and ``exec``'s start-up import nothing heavy: their time is a product
feature (bench/).

Each module named here cost from 0.5 to 5 ms to import (``re`` pulls in ``enum`` and
``functools``; ``hashlib`` loads OpenSSL; ``subprocess``, ``socket`` and ``signal`` bring
``enum`` and ``threading``). A fresh interpreter goes through what ``run`` does before it
needs root: the command line, the options, the image reference, the engine's modules.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {
    "argparse", "decimal", "enum", "fractions", "hashlib", "json", "platform", "random", "re",
    "secrets", "shutil", "signal", "socket", "subprocess", "tempfile", "threading", "typing",
}  # fmt: skip

SCRIPT = """\
import sys

from skiff.cli import containers, run_flags
from skiff.cli.main import Parser
from skiff.engine import attach, engine, environment, exec, monitor, spec
from skiff.images import reference

parser = Parser("skiff run")
run_flags.add_flags(parser, run=True)
opts = parser.parse(["--rm", "--network", "none", "-e", "A=1", "busybox", "true"], False)
run_flags.to_options(opts, opts.args[0], opts.args[1:])
reference.parse("registry.example:5000/team/app:1.0@sha256:" + "a" * 64)
attach.proxied_signals()
environment.replace_or_append_env(["PATH=/bin"], ["A=1"])
print(" ".join(sorted(sys.modules)))
"""


def test_the_run_path_imports_nothing_heavy() -> None:
    out = subprocess.run(
        [sys.executable, "-S", "-c", SCRIPT],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    ).stdout
    loaded = set(out.split())
    assert "skiff.engine.engine" in loaded
    assert not loaded & HEAVY, sorted(loaded & HEAVY)
