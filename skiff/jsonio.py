"""JSON for the hot paths (the runtime, ``skiff run``, ``ps``), from the ``_json`` accelerator.

The ``json`` package imports ``re`` (and with it ``enum``, ``functools``...), which costs
about a quarter of runc's whole ``run`` time here; its C scanner and encoder need none of
that. Errors fall back to ``json`` itself, for its precise messages. Commands off the hot
path (pretty output, the API) use ``json``.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _Options:
    """What ``_json.make_scanner`` reads off a decoder: strict JSON, plain Python values."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.get
    memo: dict[str, str] = {}


def _unserializable(value: Any) -> Any:
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


# typeshed types the scanner's argument as the scanner itself; it is any options object.
_scan = _json.make_scanner(_Options())  # type: ignore[arg-type]
_encode = _json.make_encoder(
    None, _unserializable, _json.encode_basestring_ascii, None, ":", ",", False, False, True
)
_SPACE = " \t\n\r"


def loads(text: str) -> Any:
    """Parse a JSON document; ``ValueError`` (json's ``JSONDecodeError``) when malformed."""
    start = len(text) - len(text.lstrip(_SPACE))
    try:
        value, end = _scan(text, start)
        if text[end:].strip(_SPACE):
            raise ValueError("extra data")
        return value
    except (StopIteration, ValueError, SystemError):
        # The scanner reports malformed input through json.decoder, which it cannot find
        # unless ``json`` was imported (SystemError): json itself gives the message.
        import json

        return json.loads(text)


def dumps(value: Any) -> str:
    """Compact JSON (no spaces), ASCII only."""
    return "".join(_encode(value, 0))
