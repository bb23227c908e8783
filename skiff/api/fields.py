"""Fields of a JSON body as Docker's Go structs read them: a missing or null field is its
zero value, a field of the wrong type is a 400 with the decoder's words (Go's
``json: cannot unmarshal ...``); unknown fields are ignored, as Go's decoder does."""

from __future__ import annotations

from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def json_kind(value: Any) -> str:
    """Go's word for a JSON value in its decoder's errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def wrong_type(path: str, value: Any, wanted: str) -> InvalidArgument:
    return InvalidArgument(
        f"json: cannot unmarshal {json_kind(value)} into Go struct field {path} of type {wanted}"
    )


def body_object(value: Any, what: str) -> dict[str, Any]:
    """The body as an object (None: an empty one)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(
            f"json: cannot unmarshal {json_kind(value)} into Go value of type {what}"
        )
    return value


def text(body: dict[str, Any], key: str, path: str = "") -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise wrong_type(path or key, value, "string")
    return value


def flag(body: dict[str, Any], key: str, path: str = "") -> bool:
    value = body.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise wrong_type(path or key, value, "bool")
    return value


def integer(body: dict[str, Any], key: str, path: str = "", bits: int = 64) -> int:
    """An integer field (a JSON number without a fraction, as Go's decoder wants)."""
    value = body.get(key)
    if value is None:
        return 0
    go_type = f"int{bits}" if bits != 16 else "uint16"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise wrong_type(path or key, value, go_type)
    if isinstance(value, float):
        if not value.is_integer():
            raise wrong_type(path or key, value, go_type)
        value = int(value)
    low, high = (0, (1 << 16) - 1) if bits == 16 else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    if not low <= value <= high:
        raise wrong_type(path or key, value, go_type)
    return value


def obj(body: dict[str, Any], key: str, path: str = "", go_type: str = "") -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise wrong_type(path or key, value, go_type or "struct")
    return value


def strings(body: dict[str, Any], key: str, path: str = "") -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise wrong_type(path or key, value, "[]string")
    return list(value)


def string_map(body: dict[str, Any], key: str, path: str = "") -> dict[str, str]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise wrong_type(path or key, value, "map[string]string")
    return dict(value)


def objects(
    body: dict[str, Any], key: str, path: str = "", go_type: str = ""
) -> list[dict[str, Any]]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise wrong_type(path or key, value, go_type or "[]struct")
    return list(value)
