"""Ending a command without the interpreter's teardown.

Python's finalisation (module teardown, garbage collection) takes about 5 ms: a tenth of
``skiff run``. Every file a command writes is closed by then; what is left to do is flush
stdout and stderr and close what was given to ``close_at_exit`` (the state database's
connections: SQLite folds its write-ahead log back into the database at the last close).
"""

from __future__ import annotations

import _weakref
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn, Protocol

    class Closable(Protocol):
        def close(self) -> object: ...


_to_close: list[_weakref.ref[Closable]] = []


def close_at_exit(resource: Closable) -> None:
    """Close ``resource`` when the command ends, if it is still open and referenced (a weak
    reference: a resource dropped earlier is closed by the garbage collector)."""
    if len(_to_close) >= 64:
        _to_close[:] = [ref for ref in _to_close if ref() is not None]
    _to_close.append(_weakref.ref(resource))


def run_and_exit(main: Callable[[], int]) -> NoReturn:
    """``sys.exit(main())`` for a command's entry point, without the teardown."""
    try:
        code = main()
    except SystemExit as e:  # as the interpreter treats it: a message means exit 1
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:
            sys.stderr.write(f"{e.code}\n")
            code = 1
    while _to_close:
        resource = _to_close.pop()()
        try:
            if resource is not None:
                resource.close()
        except Exception:  # a connection another thread holds: SQLite copes at next open
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1  # stdout closed or full: what the interpreter would report
    os._exit(code)
