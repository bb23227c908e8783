"""Where skiff keeps its state (docs/architecture.md, "Where state lives")."""

from __future__ import annotations

import os

DEFAULT_ROOT = "/var/lib/skiff"
DEFAULT_RUNROOT = "/run/skiff"


class Paths:
    """The directories of one skiff installation; nothing is created until asked."""

    def __init__(self, root: str | None = None, runroot: str | None = None) -> None:
        self.root = os.path.abspath(root or os.environ.get("SKIFF_ROOT") or DEFAULT_ROOT)
        self.runroot = os.path.abspath(
            runroot or os.environ.get("SKIFF_RUNROOT") or DEFAULT_RUNROOT
        )

    @property
    def database(self) -> str:
        return os.path.join(self.root, "skiff.db")

    @property
    def blobs(self) -> str:
        return os.path.join(self.root, "blobs")

    @property
    def layers(self) -> str:
        return os.path.join(self.root, "layers")

    @property
    def ingest(self) -> str:
        """Temporary files of writes in progress, on the same filesystem as their targets."""
        return os.path.join(self.root, "ingest")

    @property
    def downloads(self) -> str:
        """Blobs being fetched from a registry: kept when a pull fails, so the next resumes."""
        return os.path.join(self.root, "downloads")

    @property
    def builds(self) -> str:
        """The snapshots and contexts of builds in progress."""
        return os.path.join(self.root, "builds")

    @property
    def containers(self) -> str:
        return os.path.join(self.root, "containers")
