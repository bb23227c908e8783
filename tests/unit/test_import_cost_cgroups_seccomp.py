"""Start-up cost: what the runtime uses of skiff.cgroups and seccomp loads no costly stdlib module.

``skiff-runtime run`` must start within 1.5x of runc; importing typing, dataclasses (and with
it inspect), enum, re, json, signal, subprocess or socket would each cost several
milliseconds. A fresh interpreter (``-S``: none of them loaded at start) goes through the
runtime's calls that need no root and no writes, then reports which of them got loaded.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

COSTLY = [
    "dataclasses",
    "enum",
    "inspect",
    "json",
    "re",
    "signal",
    "socket",
    "subprocess",
    "typing",
]

SCRIPT = """\
import sys

from skiff.cgroups import hierarchies, open_cgroup, resolve_path

open_cgroup(resolve_path(None, "x"))
hierarchies()

import skiff.cgroups.devices
import skiff.cgroups.devices_bpf
import skiff.cgroups.v1_resources
import skiff.cgroups.v2_resources
import skiff.linux.libseccomp
from skiff.runtime import seccomp

profile = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
    "syscalls": [
        {"names": ["getcwd", "read", "write"], "action": "SCMP_ACT_ALLOW"},
        {
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}],
        },
    ],
}
seccomp.validate(profile)
seccomp.rules(profile)
try:  # a bad profile's message quotes the value as JSON
    seccomp.validate({"defaultAction": "SCMP_ACT_NOPE"})
except Exception as e:
    assert str(e) == 'linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE"', e
else:
    raise AssertionError("validate() let an unknown action through")

print(sorted(set(sys.modules) & {COSTLY}))
"""


def test_runtime_calls_load_no_costly_module() -> None:
    script = SCRIPT.replace("{COSTLY}", repr(set(COSTLY)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-S", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
