"""Events: what happened to containers (create, start, die, destroy...), as ``docker
events`` reports them.

The engine records each event as one row of the ``events`` table (one INSERT, in whatever
process made it happen: the CLI, or conmon's exit command for ``die``). The table keeps
the last :data:`KEEP` events, pruned every hundredth insert, so any number of containers
does not grow the database. Readers select rows by time and Docker's filters; a reader
that follows polls the table by its sequence number, a cheap indexed query.
"""

from __future__ import annotations

import time

from skiff import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable, Iterator, Mapping
    from typing import Any

    from skiff.engine.containers import Container

KEEP = 10_000
POLL_INTERVAL = 0.1

# Filters that match an event's actor by ID or name prefix (the daemon's fuzzyMatchName).
_NAME_FILTERS = (
    "container",
    "daemon",
    "network",
    "volume",
    "plugin",
    "node",
    "service",
    "secret",
    "config",
)


def record(
    conn: sqlite3.Connection,
    type: str,
    action: str,
    actor: str,
    attributes: Mapping[str, str] | None = None,
) -> None:
    """Add an event (now); every hundredth insert drops rows older than the last KEEP."""
    cursor = conn.execute(
        "INSERT INTO events (time_nano, type, action, actor, attributes) VALUES (?, ?, ?, ?, ?)",
        (time.time_ns(), type, action, actor, jsonio.dumps(dict(attributes or {}))),
    )
    seq = cursor.lastrowid or 0
    if seq % 100 == 0:
        conn.execute("DELETE FROM events WHERE seq <= ?", (seq - KEEP,))


def container_attributes(
    container: Container, image_labels: Mapping[str, str], **extra: str
) -> dict[str, str]:
    """A container event's attributes: its labels (``Config.Labels``: the image's, its
    own over them), image and name, and ``extra``."""
    labels = {**image_labels, **(container.options.get("labels") or {})}
    return {**labels, "image": container.image_name, "name": container.name, **extra}


def record_container(
    conn: sqlite3.Connection,
    container: Container,
    image_labels: Mapping[str, str],
    action: str,
    **extra: str,
) -> None:
    attributes = container_attributes(container, image_labels, **extra)
    record(conn, "container", action, container.id, attributes)


def signal_number(signal: str) -> str:
    """A kill event's ``signal`` attribute: the number (``KILL`` is ``9``)."""
    from skiff.engine.options import parse_signal
    from skiff.errors import SkiffError

    try:
        return str(parse_signal(signal))
    except SkiffError:
        return signal


class Event:
    """One recorded event."""

    __slots__ = ("action", "actor", "attributes", "seq", "time_nano", "type")

    def __init__(self, row: sqlite3.Row) -> None:
        self.seq: int = row["seq"]
        self.time_nano: int = row["time_nano"]
        self.type: str = row["type"]
        self.action: str = row["action"]
        self.actor: str = row["actor"]
        self.attributes: dict[str, str] = jsonio.loads(row["attributes"])

    def message(self) -> dict[str, Any]:
        """Docker's events.Message as JSON (its field order; attributes sorted, as Go
        writes a map)."""
        attributes = dict(sorted(self.attributes.items()))
        fields: dict[str, Any] = {}
        if self.type == "container":
            fields = {"status": self.action, "id": self.actor, "from": attributes.get("image", "")}
        return {
            **fields,
            "Type": self.type,
            "Action": self.action,
            "Actor": {"ID": self.actor, "Attributes": attributes},
            "scope": "local",
            "time": self.time_nano // 1_000_000_000,
            "timeNano": self.time_nano,
        }


# --- Docker's filters -------------------------------------------------------------------------


def _exact(filters: Mapping[str, list[str]], key: str, value: str) -> bool:
    values = filters.get(key)
    return not values or value in values


def _fuzzy(filters: Mapping[str, list[str]], key: str, value: str) -> bool:
    values = filters.get(key)
    return not values or any(value.startswith(v) for v in values)


def _labels(filters: Mapping[str, list[str]], attributes: Mapping[str, str]) -> bool:
    """Every ``label`` filter (``key`` or ``key=value``) matches an attribute."""
    for item in filters.get("label", []):
        key, sep, value = item.partition("=")
        if key not in attributes or (sep and attributes[key] != value):
            return False
    return True


def _familiar(image: str) -> str:
    """An image name without its tag or digest (the daemon's ``stripTag``)."""
    from skiff.errors import SkiffError
    from skiff.images import reference

    try:
        return reference.parse(image, default_tag=False).familiar_name
    except (SkiffError, ValueError):
        return image


def matches(event: Event, filters: Mapping[str, list[str]]) -> bool:
    """The daemon's ``events.Filter.Include``: values of one filter are alternatives, the
    filters together must all match."""
    attributes = event.attributes
    action_values = filters.get("event", [])
    fuzzy_event = any(v in ("health_status", "exec_create", "exec_start") for v in action_values)
    if not (_fuzzy if fuzzy_event else _exact)(filters, "event", event.action):
        return False
    if not _exact(filters, "type", event.type) or not _exact(filters, "scope", "local"):
        return False
    name = attributes.get("name", "")
    for key in _NAME_FILTERS:
        if key in filters and not (_fuzzy(filters, key, event.actor) or _fuzzy(filters, key, name)):
            return False
    if filters.get("image"):
        image = attributes.get("name" if event.type == "image" else "image", "")
        candidates = {event.actor, image, _familiar(event.actor), _familiar(image)}
        if not any(_exact(filters, "image", c) for c in candidates):
            return False
    return _labels(filters, attributes)


# --- reading ----------------------------------------------------------------------------------


def _rows(conn: sqlite3.Connection, after: int, since: int, until: int | None) -> list[Event]:
    query = "SELECT * FROM events WHERE seq > ? AND time_nano >= ?"
    args: list[int] = [after, since]
    if until is not None:
        query += " AND time_nano <= ?"
        args.append(until)
    return [Event(row) for row in conn.execute(query + " ORDER BY seq", args)]


def last_exit_code(conn: sqlite3.Connection, container_id: str) -> int | None:
    """The exit code of a container's last ``die`` event (a removed container's ``wait``
    answers with it); None if it never died."""
    row = conn.execute(
        "SELECT attributes FROM events WHERE actor = ? AND action = 'die'"
        " ORDER BY seq DESC LIMIT 1",
        (container_id,),
    ).fetchone()
    if row is None:
        return None
    return int(jsonio.loads(row["attributes"]).get("exitCode", 0))


def last_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT MAX(seq) FROM events").fetchone()
    return int(row[0] or 0)


def check_window(
    since: int | None, until: int | None, shown: tuple[str, str] | None = None
) -> None:
    """The daemon's refusal of a window that ends before it begins (times in ns; the
    message shows ``shown``, the values as the client sent them, else the times as the
    docker CLI sends them)."""
    if until is not None and since is not None and until < since:
        from skiff.errors import InvalidArgument

        since_text, until_text = shown or (_go_timestamp(since), _go_timestamp(until))
        raise InvalidArgument(
            f"`since` time ({since_text}) cannot be after `until` time ({until_text})"
        )


def _go_timestamp(nanos: int) -> str:
    """A time as the docker client sends it to the daemon: ``SECONDS.NANOSECONDS``."""
    seconds, fraction = divmod(nanos, 1_000_000_000)
    return f"{seconds}.{fraction:09d}"


def start(conn: sqlite3.Connection, since: int | None, until: int | None) -> int:
    """Where a reader starts (the ``after`` of its first :func:`batch`): at the first
    event with a window, else after the last one recorded (only new events)."""
    return 0 if since is not None or until is not None else last_seq(conn)


def batch(
    conn: sqlite3.Connection,
    after: int,
    since: int | None,
    until: int | None,
    filters: Mapping[str, list[str]],
) -> tuple[list[Event], int, bool]:
    """One look at the table: the events after sequence number ``after`` in the window
    that match the filters, the ``after`` of the next look, and whether there was any
    event at all (matching or not: a follower that found none waits before it looks
    again)."""
    found = _rows(conn, after, since or 0, until)
    if found:
        after = found[-1].seq
    return [event for event in found if matches(event, filters)], after, bool(found)


def following(until: int | None) -> bool:
    """Whether a reader goes on looking for new events: until ``until`` has passed."""
    return until is None or time.time_ns() <= until


def read(
    conn: sqlite3.Connection,
    since: int | None = None,
    until: int | None = None,
    filters: Mapping[str, list[str]] | None = None,
    follow: Callable[[], bool] | None = None,
) -> Iterator[Event]:
    """Events as ``docker events`` gives them: with ``since`` or ``until``, the recorded
    ones in that window (both inclusive); then, unless ``until`` has passed, new ones as
    they are recorded, until ``until`` or until ``follow()`` is false."""
    wanted = filters or {}
    after = start(conn, since, until)
    if since is not None or until is not None:
        found, after, _ = batch(conn, after, since, until, wanted)
        yield from found
    while following(until):
        if follow is not None and not follow():
            return
        found, after, any_event = batch(conn, after, since, until, wanted)
        yield from found
        if not any_event:
            time.sleep(POLL_INTERVAL)
