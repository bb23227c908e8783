"""``Value``: equality, hash and repr from a class's fields.

What ``dataclasses`` would generate, without importing them: the runtime's start-up path
cannot afford that import (docs/runtime.md). A subclass names its fields in constructor
order in ``FIELDS`` and sets ``__slots__ = FIELDS``.
"""

from __future__ import annotations


class Value:
    __slots__ = ()
    FIELDS: tuple[str, ...] = ()

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.FIELDS)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self) or not isinstance(other, Value):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__name__}({fields})"
