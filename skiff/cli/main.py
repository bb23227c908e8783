"""The ``skiff`` command.

The engine's verbs (run, ps, images, ...) arrive with the engine; today the command
reports its version and points to the runtime.
"""

from __future__ import annotations

import sys

from skiff import __version__

USAGE = f"""usage: skiff [--version] <command>

skiff {__version__}: a container engine in Python.

commands:
  version    show the version

The OCI runtime is its own command: skiff-runtime --help
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    if args[0] in ("--version", "-v", "version"):
        sys.stdout.write(f"skiff version {__version__}\n")
        return 0
    sys.stderr.write(f"skiff: '{args[0]}' is not a skiff command. See 'skiff --help'.\n")
    return 1
