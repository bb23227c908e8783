"""Per-layer progress of a pull or push, as the docker CLI shows it.

On a terminal each layer has a line that changes in place, with a bar for the bytes moved
(rich draws it; imported only then). Elsewhere, each change of a layer's status is a line
of its own, and byte counts are left out, as docker does when its output is not a terminal.
"""

from __future__ import annotations

import sys

from skiff.registry.messages import bar

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO


class LayerProgress:
    """``report(layer, status, current, total)`` for skiff.registry, written to ``out``."""

    def __init__(self, out: TextIO | None = None, quiet: bool = False) -> None:
        self.out = out or sys.stdout
        self.quiet = quiet
        self.lines: dict[str, str] = {}
        self.live: Any = None
        if not quiet and self.out.isatty():
            from rich.console import Console
            from rich.live import Live

            self.live = Live(console=Console(file=self.out), auto_refresh=True, transient=False)

    def say(self, text: str) -> None:
        """A line of its own, above the layers' lines."""
        if self.quiet:
            return
        if self.live is not None and self.live.is_started:
            self.live.console.print(text, markup=False, highlight=False)
            return
        self.out.write(text + "\n")
        self.out.flush()

    def report(self, layer: str, status: str, current: int = 0, total: int = 0) -> None:
        if self.quiet or not layer:
            return
        if self.live is None:
            if not current:
                self.say(f"{layer}: {status}")
            return
        from rich.text import Text

        self.lines[layer] = (
            f"{layer}: {status} {bar(current, total)}" if current else (f"{layer}: {status}")
        )
        if not self.live.is_started:
            self.live.start()
        self.live.update(Text("\n".join(self.lines.values())))

    def close(self) -> None:
        if self.live is not None and self.live.is_started:
            self.live.stop()
