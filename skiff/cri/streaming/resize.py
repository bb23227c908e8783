"""Terminal sizes as the resize stream carries them: JSON objects ``{"Width": W,
"Height": H}`` one after another, split across frames anywhere."""

from __future__ import annotations

import json


class ResizeDecoder:
    def __init__(self) -> None:
        self.buffer = ""
        self._decoder = json.JSONDecoder()

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        """The whole sizes received so far, as (rows, columns); what is malformed is
        dropped (the kubelet stops reading sizes then; we skip to the next object)."""
        self.buffer += data.decode(errors="replace")
        sizes: list[tuple[int, int]] = []
        while True:
            text = self.buffer.lstrip()
            if not text:
                self.buffer = ""
                return sizes
            try:
                value, end = self._decoder.raw_decode(text)
            except json.JSONDecodeError:
                start = text.find("{", 1)
                if "}" not in text or start < 0:
                    self.buffer = text
                    return sizes
                self.buffer = text[start:]
                continue
            self.buffer = text[end:]
            if isinstance(value, dict):
                width, height = value.get("Width"), value.get("Height")
                if isinstance(width, int) and isinstance(height, int):
                    sizes.append((height, width))
