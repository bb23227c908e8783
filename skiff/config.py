"""skiff.toml: the engine's configuration (``/etc/skiff/skiff.toml``, or ``SKIFF_CONFIG``).

A missing file means every default; docs/user-guide.md lists the keys.
"""

from __future__ import annotations

import os

from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PATH = "/etc/skiff/skiff.toml"


def load_config() -> dict[str, Any]:
    path = os.environ.get("SKIFF_CONFIG") or DEFAULT_PATH
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return {}
    import tomllib

    try:
        return tomllib.loads(data.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"{path}: {e}") from None
