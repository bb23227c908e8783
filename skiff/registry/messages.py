"""Docker's JSON progress messages (its jsonmessage stream), made from a pull's or a push's
``report(layer, status, current, total)`` calls, for the Engine API's image endpoints."""

from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

BAR = 50


def human(n: float) -> str:
    """A byte count as Docker's progress shows it: ``1.2MB``."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    raise AssertionError("unreachable")


def bar(current: int, total: int) -> str:
    """``[=====>      ]  1.2MB/2.4MB`` (Docker's progress bar)."""
    if total <= 0:
        return human(current)
    filled = min(BAR, BAR * current // total)
    arrow = ">" if filled < BAR else ""
    blank = " " * (BAR - filled - len(arrow))
    return f"[{'=' * filled}{arrow}{blank}] {human(current):>8}/{human(total)}"


def message(layer: str, status: str, current: int = 0, total: int = 0) -> dict[str, Any]:
    """One message: ``{"status": ..., "id": ...}``, with ``progressDetail`` and ``progress``
    when bytes moved."""
    out: dict[str, Any] = {"status": status}
    if current:
        out["progressDetail"] = (
            {"current": current, "total": total} if total else {"current": current}
        )
        out["progress"] = bar(current, total)
    if layer:
        out["id"] = layer
    return out


class JSONProgress:
    """A ``report`` that writes each message as a line of JSON to ``out``."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def report(self, layer: str, status: str, current: int = 0, total: int = 0) -> None:
        if layer or status:
            self.say(message(layer, status, current, total))

    def say(self, value: dict[str, Any]) -> None:
        self.out.write(json.dumps(value).encode() + b"\r\n")
        self.out.flush()
