"""Reading a container's log, as conmon writes it (one line per record:
``<RFC3339Nano time> <stdout|stderr> <F|P> <text>``, P for a partial line)."""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


class Record:
    __slots__ = ("partial", "stream", "text", "time")

    def __init__(self, time: str, stream: str, partial: bool, text: bytes) -> None:
        self.time = time
        self.stream = stream
        self.partial = partial
        self.text = text


def parse_line(line: bytes) -> Record | None:
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    text = parts[3] if len(parts) == 4 else b""
    return Record(parts[0].decode(), parts[1].decode(), parts[2] == b"P", text)


def seconds(stamp: str) -> float:
    """Unix time of an RFC 3339 timestamp with nanoseconds and a numeric offset."""
    import datetime

    main, _, rest = stamp.partition(".")
    fraction = "".join(c for c in rest if c.isdigit())
    offset = rest[len(fraction) :] or "Z"
    parsed = datetime.datetime.fromisoformat(main + (offset if offset != "Z" else "+00:00"))
    return parsed.timestamp() + (int(fraction[:9].ljust(9, "0")) / 1e9 if fraction else 0)


def records(
    path: str,
    since: float | None = None,
    until: float | None = None,
    tail: int | None = None,
    follow: Callable[[], bool] | None = None,
) -> Iterator[Record]:
    """The records of a log; with ``follow``, keep reading while ``follow()`` is true."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed in finally)
    except FileNotFoundError:
        return
    try:
        lines = f.readlines()
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        for line in lines:
            record = parse_line(line)
            if record is not None and _within(record, since, until):
                yield record
        if follow is None:
            return
        buffer = b""
        while True:
            chunk = f.readline()
            if chunk:
                buffer += chunk
                if buffer.endswith(b"\n"):
                    record = parse_line(buffer)
                    buffer = b""
                    if record is not None and _within(record, since, until):
                        yield record
                continue
            if not follow():
                rest = f.read()
                for line in rest.splitlines(keepends=True):
                    record = parse_line(line)
                    if record is not None and _within(record, since, until):
                        yield record
                return
            time.sleep(0.02)
    finally:
        f.close()


def _within(record: Record, since: float | None, until: float | None) -> bool:
    if since is None and until is None:
        return True
    t = seconds(record.time)
    return (since is None or t >= since) and (until is None or t < until)
