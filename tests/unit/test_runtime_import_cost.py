"""skiff-runtime's create/start/delete path imports nothing heavy (start-up is measured)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
HEAVY = {"typing", "dataclasses", "enum", "re", "json", "inspect", "signal", "subprocess", "socket"}


def loaded_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-S", "-c", script], capture_output=True, text=True, env=env, check=True
    ).stdout
    return set(out.split())


def test_run_path_imports_nothing_heavy():
    modules = loaded_after(
        "from skiff.runtime import cli, commands, create, lifecycle, state, spec\n"
        "from skiff.runtime import init, rootfs, process, devices, paths, mountopts\n"
        "import skiff.cgroups\n"
        "from skiff import jsonio\n"
        "spec.check_spec({'ociVersion': '1.0.0', 'root': {'path': 'rootfs'}})\n"
        "jsonio.dumps(jsonio.loads('{\"a\": [1, 2.5, null]}'))\n"
        "lifecycle.parse_signal('TERM')\n"
    )
    assert not modules & HEAVY, sorted(modules & HEAVY)


def test_the_check_itself_sees_heavy_imports():
    assert "json" in loaded_after("import json")
