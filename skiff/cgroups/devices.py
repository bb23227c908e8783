"""OCI device cgroup rules (``linux.resources.devices``), validated, and as v1 devices.allow lines.

Semantics, the same on v1 and v2: access starts denied; rules apply in order, so the last
rule that matches a request decides. A rule of type ``a`` (or without a type) matches every
device and every access, whatever its major, minor and access say, as on v1 where such a rule
resets the whole list. A missing major or minor, or -1, matches any; a missing access is
``rwm``. An allow rule matches a request only if it allows every access asked for; a deny rule
matches if it denies any of them.
"""

from __future__ import annotations

from skiff.errors import InvalidArgument
from skiff.values import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FIELD = "linux.resources.devices"

ANY = -1
ACCESS = "rwm"


class DeviceRule(Value):
    FIELDS = ("allow", "type", "major", "minor", "access")
    __slots__ = FIELDS

    def __init__(
        self,
        allow: bool,
        type: str = "a",  # "a" (all), "c" or "b"
        major: int = ANY,
        minor: int = ANY,
        access: str = ACCESS,  # r, w and m, in that order
    ) -> None:
        self.allow = allow
        self.type = type
        self.major = major
        self.minor = minor
        self.access = access

    def v1_line(self) -> str:
        """The line devices.allow and devices.deny take."""
        if self.type == "a":
            return "a"

        def number(n: int) -> str:
            return "*" if n == ANY else str(n)

        return f"{self.type} {number(self.major)}:{number(self.minor)} {self.access}"


def _number(value: Any, where: str) -> int:
    if value is None or value == -1:
        return ANY
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 31:
        raise InvalidArgument(f"{where}: expected a device number or -1, got {value!r}")
    return value


def parse_rule(item: Any, where: str) -> DeviceRule:
    if not isinstance(item, dict):
        raise InvalidArgument(f"{where}: expected an object")
    allow = item.get("allow")
    if not isinstance(allow, bool):
        raise InvalidArgument(f"{where}.allow: expected true or false, got {allow!r}")
    kind = item.get("type") or "a"
    # "u" (unbuffered character device) is a character device to the kernel.
    kind = {"u": "c"}.get(kind, kind)
    if kind not in ("a", "c", "b"):
        raise InvalidArgument(f"{where}.type: expected a, c, u or b, got {item.get('type')!r}")
    access = item.get("access") or ACCESS
    if not isinstance(access, str) or set(access) - set(ACCESS):
        raise InvalidArgument(f"{where}.access: expected letters of rwm, got {access!r}")
    if kind == "a":
        return DeviceRule(allow)
    major = _number(item.get("major"), f"{where}.major")
    minor = _number(item.get("minor"), f"{where}.minor")
    return DeviceRule(allow, kind, major, minor, "".join(c for c in ACCESS if c in access))


def parse_rules(items: Any) -> list[DeviceRule]:
    if not isinstance(items, list):
        raise InvalidArgument(f"{FIELD}: expected a list")
    return [parse_rule(item, f"{FIELD}[{i}]") for i, item in enumerate(items)]
