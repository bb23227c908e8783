"""The CRI stubs: ``python -m skiff.cri.generate [OUTPUT_ROOT]`` runs grpc_tools.protoc on
skiff/data/cri-api-v1.proto (cri-api v0.36.3) and writes ``skiff/cri/proto/api_pb2.py``,
``api_pb2.pyi`` and ``api_pb2_grpc.py`` under OUTPUT_ROOT (default: the directory that
holds the ``skiff`` package). ``make install`` runs it.

protoc names a module after the proto's path under its include directory, and the
generated ``api_pb2_grpc`` imports ``api_pb2`` by that name. So the proto is copied to
``skiff/cri/proto/api.proto`` in a temporary include directory: the import comes out as
``from skiff.cri.proto import api_pb2``, a package import, with nothing to patch.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

PROTO = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "cri-api-v1.proto")
PACKAGE_PATH = os.path.join("skiff", "cri", "proto")
MODULES = ("api_pb2.py", "api_pb2.pyi", "api_pb2_grpc.py")


def generate(output_root: str) -> list[str]:
    """Generate the stubs under ``output_root``; the paths written."""
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory(prefix="skiff-cri-proto-") as include:
        os.makedirs(os.path.join(include, PACKAGE_PATH))
        shutil.copyfile(PROTO, os.path.join(include, PACKAGE_PATH, "api.proto"))
        out = os.path.join(output_root, PACKAGE_PATH)
        os.makedirs(out, exist_ok=True)
        well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
        code = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{include}",
                f"-I{well_known}",
                f"--python_out={output_root}",
                f"--pyi_out={output_root}",
                f"--grpc_python_out={output_root}",
                os.path.join(PACKAGE_PATH, "api.proto"),
            ]
        )
        if code != 0:
            raise RuntimeError(f"grpc_tools.protoc failed on {PROTO} (exit {code})")
    return [os.path.join(out, name) for name in MODULES]


def main(argv: list[str]) -> int:
    root = argv[0] if argv else os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    for path in generate(os.path.abspath(root)):
        sys.stdout.write(f"generated {os.path.relpath(path)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
