"""Typed access to OCI ``linux.resources``: every bad value is reported by its field's full name."""

from __future__ import annotations

from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PREFIX = "linux.resources"


def _is_page_size(size: str) -> bool:
    """A huge page size as the kernel names it: a number without leading zero, then KB, MB or GB."""
    number, unit = size[:-2], size[-2:]
    return (
        unit in ("KB", "MB", "GB")
        and number[:1] in ("1", "2", "3", "4", "5", "6", "7", "8", "9")
        and number.isascii()
        and number.isdigit()
    )


class Section:
    """One object of ``linux.resources`` (``memory``, ``cpu``...); missing reads as empty."""

    def __init__(self, resources: dict[str, Any], key: str) -> None:
        self.name = f"{PREFIX}.{key}"
        data = resources.get(key)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InvalidArgument(f"{self.name}: expected an object")
        self.data: dict[str, Any] = data

    def field(self, key: str) -> str:
        return f"{self.name}.{key}"

    def integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgument(f"{self.field(key)}: expected an integer, got {value!r}")
        return value

    def flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            raise InvalidArgument(f"{self.field(key)}: expected true or false, got {value!r}")
        return value

    def text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidArgument(f"{self.field(key)}: expected a string, got {value!r}")
        return value

    def objects(self, key: str) -> list[dict[str, Any]]:
        """A list of objects (``weightDevice``...); missing reads as []."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise InvalidArgument(f"{self.field(key)}: expected a list of objects")
        return value


def item_int(item: dict[str, Any], key: str, field: str) -> int | None:
    value = item.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidArgument(f"{field}.{key}: expected an integer, got {value!r}")
    return value


def device_lines(items: list[dict[str, Any]], key: str, field: str) -> list[tuple[str, int]]:
    """``("MAJOR:MINOR", value)`` for each ``{major, minor, <key>}`` item that sets ``key``."""
    result = []
    for i, item in enumerate(items):
        where = f"{field}[{i}]"
        major, minor = item_int(item, "major", where), item_int(item, "minor", where)
        value = item_int(item, key, where)
        if major is None or minor is None or major < 0 or minor < 0:
            raise InvalidArgument(f"{where}: major and minor must be given and not negative")
        if value is not None:
            result.append((f"{major}:{minor}", value))
    return result


def hugepage_limits(resources: dict[str, Any]) -> list[tuple[str, int]]:
    """``(pageSize, limit)`` pairs of ``hugepageLimits``, validated."""
    field = f"{PREFIX}.hugepageLimits"
    items = resources.get("hugepageLimits") or []
    if not isinstance(items, list):
        raise InvalidArgument(f"{field}: expected a list")
    result = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidArgument(f"{field}[{i}]: expected an object")
        size = item.get("pageSize")
        if not isinstance(size, str) or not _is_page_size(size):
            raise InvalidArgument(f"{field}[{i}].pageSize: expected a size like 2MB, got {size!r}")
        limit = item_int(item, "limit", f"{field}[{i}]")
        if limit is None:
            raise InvalidArgument(f"{field}[{i}].limit: missing")
        result.append((size, limit))
    return result


def rdma_lines(resources: dict[str, Any]) -> list[str]:
    """rdma.max lines (the same on v1 and v2) for ``linux.resources.rdma``."""
    field = f"{PREFIX}.rdma"
    devices = resources.get("rdma") or {}
    if not isinstance(devices, dict):
        raise InvalidArgument(f"{field}: expected an object")
    lines = []
    for device, limits in devices.items():
        if not isinstance(limits, dict):
            raise InvalidArgument(f"{field}.{device}: expected an object")
        parts = [device]
        for key, name in (("hcaHandles", "hca_handle"), ("hcaObjects", "hca_object")):
            value = item_int(limits, key, f"{field}.{device}")
            if value is not None:
                parts.append(f"{name}={value}")
        if len(parts) > 1:
            lines.append(" ".join(parts))
    return lines
