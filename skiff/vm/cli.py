"""``skiff-vm``: an OCI runtime with runc's command line that boots the bundle in a QEMU
virtual machine. Its flags and messages are skiff-runtime's (skiff.runtime.cli)."""

from __future__ import annotations

from skiff.runtime.cli import COMMANDS, Program

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

VM = Program(
    "skiff-vm",
    "an OCI runtime that boots the bundle in a QEMU virtual machine",
    {
        name: COMMANDS[name]
        for name in ("create", "start", "state", "kill", "delete", "pause", "resume", "exec")
    },
    "skiff.vm.commands",
    default_root="/run/skiff-vm",
)


def main(argv: list[str] | None = None) -> int:
    from skiff.runtime.cli import main as runtime_main

    return runtime_main(argv, VM)


def entry() -> NoReturn:
    """The ``skiff-vm`` command."""
    from skiff.fastexit import run_and_exit

    run_and_exit(main)
