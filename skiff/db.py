"""skiff's state database: one SQLite file in WAL mode, its schema versioned.

Each layer owns its tables (images now; containers, networks, volumes as they land) and
declares them in ``SCHEMA``; ``connect`` creates what is missing. Writers use
``transaction()`` (BEGIN IMMEDIATE), so concurrent commands serialise on SQLite's lock.
"""

from __future__ import annotations

import os
import sqlite3
import time
import zlib
from contextlib import contextmanager

from skiff.fastexit import close_at_exit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,            -- sha256 of the config: Docker's image ID
    created TEXT NOT NULL,          -- from the config
    added REAL NOT NULL,            -- when this store got it (unix time)
    size INTEGER NOT NULL           -- bytes of the unpacked layers (Docker's Size)
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    chain_id TEXT NOT NULL REFERENCES layers(chain_id),
    PRIMARY KEY (image_id, position)
);
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
CREATE TABLE IF NOT EXISTS tags (
    name TEXT PRIMARY KEY,          -- normalised reference with tag: docker.io/library/x:y
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS repo_digests (
    name TEXT PRIMARY KEY,          -- normalised reference with digest
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS image_manifests (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,           -- a manifest (in the content store) of this image
    PRIMARY KEY (image_id, digest)
);
CREATE TABLE IF NOT EXISTS layers (
    chain_id TEXT PRIMARY KEY,
    diff_id TEXT NOT NULL,
    parent TEXT,                    -- chain id of the layer below, NULL at the bottom
    blob TEXT NOT NULL,             -- the layer as it came (content store digest)
    media_type TEXT NOT NULL,
    directory TEXT NOT NULL,        -- its unpacked directory's name under layers/
    size INTEGER NOT NULL,          -- bytes unpacked, on disk
    diff_size INTEGER NOT NULL      -- bytes of the uncompressed tar
);
CREATE TABLE IF NOT EXISTS compressed_layers (
    diff_id TEXT PRIMARY KEY,       -- a layer stored uncompressed (built, imported, committed)
    blob TEXT NOT NULL,             -- its gzip form, made once for a push
    media_type TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,      -- without Docker's leading "/"
    image_id TEXT NOT NULL,         -- images(id); rmi refuses while a container uses it
    image_name TEXT NOT NULL,       -- as the user gave it
    created REAL NOT NULL,
    options TEXT NOT NULL,          -- ContainerOptions as JSON
    state TEXT NOT NULL             -- the container's state as JSON (status, pid, exit code...)
);
CREATE TABLE IF NOT EXISTS leases (
    lease TEXT NOT NULL,            -- an operation in progress (a load, a pull)
    digest TEXT NOT NULL,           -- content it is about to reference
    PRIMARY KEY (lease, digest)
);
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,          -- data under volumes/<name>/_data
    driver TEXT NOT NULL,           -- "local"
    created REAL NOT NULL,          -- unix time (Docker's CreatedAt)
    labels TEXT,                    -- JSON object, NULL when none (anonymous: Docker's label)
    options TEXT                    -- the driver's options (type, device, o) as JSON, or NULL
);
CREATE TABLE IF NOT EXISTS container_mounts (
    container TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    volume TEXT REFERENCES volumes(name),   -- the volume it mounts; NULL for a bind
    mount TEXT NOT NULL,            -- the resolved mount as JSON (skiff.engine.volumes)
    active INTEGER NOT NULL DEFAULT 0,      -- 1 while the running container holds it mounted
    PRIMARY KEY (container, position)
);
CREATE INDEX IF NOT EXISTS container_mounts_volume ON container_mounts(volume);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,        -- order of recording (skiff.engine.events keeps the last N)
    time_nano INTEGER NOT NULL,     -- when, in unix nanoseconds
    type TEXT NOT NULL,             -- container, image, volume, network
    action TEXT NOT NULL,           -- create, start, die, destroy...
    actor TEXT NOT NULL,            -- the ID of what it happened to
    attributes TEXT NOT NULL        -- JSON object: name, image, exitCode, labels...
);
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,          -- unix time
    settings TEXT NOT NULL          -- JSON: driver, subnet, gateway, bridge... (skiff.network)
);
CREATE TABLE IF NOT EXISTS container_networks (
    container TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    network TEXT NOT NULL REFERENCES networks(id),  -- network rm refuses while connected
    position INTEGER NOT NULL,      -- the order it joined: eth0, eth1...
    aliases TEXT NOT NULL,          -- JSON list (--network-alias)
    ip TEXT NOT NULL,               -- asked for (--ip), or ""
    mac TEXT NOT NULL,              -- asked for (--mac-address), or ""
    PRIMARY KEY (container, network)
);
CREATE TABLE IF NOT EXISTS endpoints (
    container TEXT NOT NULL,        -- no foreign key: an endpoint outlives a crashed command
    network TEXT NOT NULL,          -- networks(id)
    interface TEXT NOT NULL,        -- in the container: eth0...
    netns TEXT NOT NULL,            -- the pinned namespace it lives in
    config TEXT NOT NULL,           -- the CNI configuration list ADD ran (DEL runs the same)
    runtime_config TEXT NOT NULL,   -- CNI runtimeConfig (ports, ips, mac)
    result TEXT,                    -- ADD's result; NULL until ADD returned
    PRIMARY KEY (container, network)
);
CREATE TABLE IF NOT EXISTS pods (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,          -- unix time
    config TEXT NOT NULL,           -- skiff.engine.pods.PodConfig as JSON
    state TEXT NOT NULL             -- JSON: ready, pinned namespaces, pause pid, network, ips
);
CREATE TABLE IF NOT EXISTS image_parents (
    image_id TEXT PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    parent TEXT NOT NULL            -- the image a commit started from (Docker's Parent)
);
CREATE TABLE IF NOT EXISTS build_cache (
    parent TEXT NOT NULL,           -- the image a build step started from ("" for scratch)
    step TEXT NOT NULL,             -- the step's key: instruction, config, sources' content
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (parent, step)
);
"""


class _Connection(sqlite3.Connection):
    """A connection that can be weakly referenced (``close_at_exit``)."""


_BUSY_TIMEOUT = 60  # seconds a command waits for another's write lock
_SCHEMA_VERSION = zlib.crc32(SCHEMA.encode()) & 0x7FFFFFFF


def connect(path: str) -> sqlite3.Connection:
    """A connection in WAL mode with the schema in place; closed when the command ends (see
    skiff.fastexit: the last close checkpoints the log into the database)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if path in _exclusive:
        return _exclusive[path]
    conn = _open(path)
    try:
        _use_wal(conn)
    except sqlite3.OperationalError as e:
        import threading

        if (
            getattr(e, "sqlite_errorname", "") not in _NO_SPACE
            or threading.current_thread() is not threading.main_thread()
        ):
            raise
        # A full disk (a container's log filled it): the last close deleted the
        # shared-memory index (-shm), and SQLite cannot make it again, as it writes each
        # of its pages to allocate them. In exclusive locking mode SQLite keeps that index
        # in this process's memory instead, so reading still works (ps, inspect, logs)
        # and a write fails with SQLITE_FULL. The lock lasts until the command ends, so
        # the command's other users of the database share this connection (a second one
        # would wait for the lock forever); other commands wait as they wait for a writer.
        # Only for a command's main thread: skiff serve's threads keep their connections
        # (and close them), so it gets the error instead of holding the lock for good.
        conn.close()
        conn = _open(path)
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        _use_wal(conn)
        _exclusive[path] = conn
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    # The schema's checksum as user_version: the script runs once per change, not per command.
    [(version,)] = conn.execute("PRAGMA user_version").fetchall()
    if version != _SCHEMA_VERSION:
        conn.executescript(SCHEMA)
        conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
    close_at_exit(conn)
    return conn


# What SQLite reports when the disk is full: the -shm file cannot grow, or a page cannot
# be written.
_NO_SPACE = ("SQLITE_IOERR_SHMSIZE", "SQLITE_FULL")
_exclusive: dict[str, sqlite3.Connection] = {}  # path -> the one connection on a full disk


def _open(path: str) -> sqlite3.Connection:
    # Shared with worker threads for autocommit statements only (the module is built
    # thread-safe); transactions stay on the thread that opened them.
    conn = sqlite3.connect(
        path,
        timeout=_BUSY_TIMEOUT,
        isolation_level=None,
        check_same_thread=False,
        factory=_Connection,
    )
    conn.row_factory = sqlite3.Row
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL (kept in the file: the first connection does it). The switch needs the
    database to itself, and SQLite says "database is locked" at once, without its busy
    timeout, when other connections open a new database at the same moment: retried."""
    deadline = time.monotonic() + _BUSY_TIMEOUT
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on an exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def by_reference(conn: sqlite3.Connection, table: str, ref: str) -> sqlite3.Row | None:
    """The row of ``table`` (containers, pods) whose ID is ``ref``, else whose name is,
    else whose ID starts with ``ref`` (Docker's order); None if there is none. An ID
    prefix that several rows share is Docker's conflict."""
    row = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (ref,)).fetchone()
    if row is None:
        row = conn.execute(f"SELECT * FROM {table} WHERE name = ?", (ref,)).fetchone()
    if row is None and ref and all(c in "0123456789abcdef" for c in ref):
        rows = conn.execute(f"SELECT * FROM {table} WHERE id LIKE ?", (ref + "%",)).fetchall()
        if len(rows) > 1:
            from skiff.errors import Conflict

            raise Conflict(f"multiple IDs found with provided prefix: {ref}")
        row = rows[0] if rows else None
    return row
