"""Containers in the state database, and per-container locks.

A container row holds its options (what ``create`` was asked) and its state (what is
true now). Commands that change a container hold its lock (an ``flock`` under the run
root), so concurrent commands on one container serialise and different containers run in
parallel; the database serialises the rows themselves.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

from skiff import db, jsonio
from skiff.errors import Conflict, InvalidArgument, NotFound
from skiff.locks import exclusive
from skiff.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterator
    from typing import Any


def random_name() -> str:
    """Docker's style of generated name: adjective_scientist (words in data/names.txt)."""
    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "names.txt")
    with open(path) as f:
        adjectives, scientists = (line.split() for line in f if not line.startswith("#"))
    return f"{_pick(adjectives)}_{_pick(scientists)}"


def _pick(words: list[str]) -> str:
    """A word at random (``random`` costs more to import than a name is worth)."""
    return words[int.from_bytes(os.urandom(4), "little") % len(words)]


def _name_in_use(name: str, container_id: str) -> str:
    return (
        f'Conflict. The container name "/{name}" is already in use by container '
        f'"{container_id}". You have to remove (or rename) that container to be able '
        "to reuse that name."
    )


def check_name(name: str) -> str:
    """Docker's rule: ``[a-zA-Z0-9][a-zA-Z0-9_.-]+`` (a leading ``/`` is dropped)."""
    name = name.removeprefix("/")
    ok = (
        len(name) >= 2
        and name.isascii()
        and name[0].isalnum()
        and all(c.isalnum() or c in "_.-" for c in name)
    )
    if not ok:
        raise InvalidArgument(
            f'Invalid container name ("{name}"), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'
        )
    return name


class Container:
    """A container's row: identity, options and state."""

    def __init__(self, row: sqlite3.Row) -> None:
        self.id: str = row["id"]
        self.name: str = row["name"]
        self.image_id: str = row["image_id"]
        self.image_name: str = row["image_name"]
        self.created: float = row["created"]
        self.state: dict[str, Any] = jsonio.loads(row["state"])
        self._options_json: str = row["options"]
        self._options: dict[str, Any] | None = None

    @property
    def options(self) -> dict[str, Any]:
        """The ContainerOptions the container was created with (as a dict), decoded when
        first read: ``ps`` over hundreds of containers needs no option for its table."""
        if self._options is None:
            self._options = jsonio.loads(self._options_json)
        return self._options

    @property
    def status(self) -> str:
        return str(self.state.get("Status", "created"))

    @property
    def short_id(self) -> str:
        return self.id[:12]


def new_state() -> dict[str, Any]:
    """Docker's State object of a container just created."""
    return {
        "Status": "created",
        "Running": False,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "Dead": False,
        "Pid": 0,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": "0001-01-01T00:00:00Z",
        "FinishedAt": "0001-01-01T00:00:00Z",
        "RestartCount": 0,
    }


class ContainerStore:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.db = db.connect(paths.database)

    def add(
        self, container_id: str, name: str, image_id: str, image_name: str, options: dict[str, Any]
    ) -> Container:
        """Record a new container; Docker's conflict message if the name is taken."""
        with db.transaction(self.db):
            taken = self.db.execute("SELECT id FROM containers WHERE name = ?", (name,)).fetchone()
            if taken:
                raise Conflict(_name_in_use(name, taken["id"]))
            self.db.execute(
                "INSERT INTO containers VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    container_id,
                    name,
                    image_id,
                    image_name,
                    time.time(),
                    jsonio.dumps(options),
                    jsonio.dumps(new_state()),
                ),
            )
        return self.get(container_id)

    def get(self, ref: str) -> Container:
        """By full ID, name, or unique ID prefix (Docker's order)."""
        ref = ref.removeprefix("/")
        row = db.by_reference(self.db, "containers", ref)
        if row is None:
            raise NotFound(f"No such container: {ref}")
        return Container(row)

    def all(self) -> list[Container]:
        rows = self.db.execute("SELECT * FROM containers ORDER BY created DESC")
        return [Container(row) for row in rows]

    def network_joiners(self) -> list[Container]:
        """Containers created with ``--network container:X`` (any X)."""
        rows = self.db.execute(
            "SELECT * FROM containers WHERE json_extract(options, '$.network') LIKE 'container:%'"
        )
        return [Container(row) for row in rows]

    def set_state(self, container_id: str, **changes: Any) -> dict[str, Any]:
        with db.transaction(self.db):
            row = self.db.execute(
                "SELECT state FROM containers WHERE id = ?", (container_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"No such container: {container_id}")
            state = {**jsonio.loads(row["state"]), **changes}
            self.db.execute(
                "UPDATE containers SET state = ? WHERE id = ?", (jsonio.dumps(state), container_id)
            )
        return state

    def set_options(self, container_id: str, options: dict[str, Any]) -> None:
        with db.transaction(self.db):
            self.db.execute(
                "UPDATE containers SET options = ? WHERE id = ?",
                (jsonio.dumps(options), container_id),
            )

    def rename(self, container_id: str, name: str) -> None:
        with db.transaction(self.db):
            taken = self.db.execute("SELECT id FROM containers WHERE name = ?", (name,)).fetchone()
            if taken and taken["id"] != container_id:
                raise Conflict(_name_in_use(name, taken["id"]))
            self.db.execute("UPDATE containers SET name = ? WHERE id = ?", (name, container_id))

    def remove(self, container_id: str) -> None:
        with db.transaction(self.db):
            self.db.execute("DELETE FROM containers WHERE id = ?", (container_id,))

    def using_image(self, image_id: str) -> list[Container]:
        rows = self.db.execute("SELECT * FROM containers WHERE image_id = ?", (image_id,))
        return [Container(row) for row in rows]

    @contextmanager
    def lock(self, container_id: str) -> Iterator[None]:
        """Exclusive while a command changes this container."""
        with exclusive(os.path.join(self.paths.runroot, "locks", container_id)):
            try:
                yield
            finally:
                # Opening the lock recreated its file if another command removed the
                # container meanwhile: the last holder of a gone container's lock removes it.
                row = self.db.execute("SELECT 1 FROM containers WHERE id = ?", (container_id,))
                if row.fetchone() is None:
                    self.drop_lock(container_id)

    def drop_lock(self, container_id: str) -> None:
        try:
            os.unlink(os.path.join(self.paths.runroot, "locks", container_id))
        except FileNotFoundError:
            pass
