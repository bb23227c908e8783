"""Named volumes of Docker's ``local`` driver, and the containers that use them.

A volume is a row of the ``volumes`` table (name, driver, labels, driver options) and a
directory ``ROOT/volumes/<name>/_data`` (Docker's layout). A volume made without a name
(``-v /data``, an image's ``VOLUME``) gets a random 64-hex name and the label
``com.docker.volume.anonymous``, as Docker 23+ gives it: ``volume prune`` removes only
those unless asked for all.

The ``container_mounts`` rows say which container uses which volume (Docker's volume
references): a volume in use cannot be removed, and "dangling" means unused. They also
keep each container's resolved mounts (``skiff.engine.volumes``), binds included.

Driver options ``type``, ``device`` and ``o`` make the volume a mount of its own (a tmpfs,
a bind of a host directory, NFS...): the local driver mounts it on ``_data`` when the first
running container needs it and unmounts it when the last one stops, counted by the
``active`` flag of the container's rows. Every change runs in one SQLite transaction (the
database's write lock serialises concurrent commands), the directories made or renamed
away inside it.
"""

from __future__ import annotations

import os
import time

from skiff import db, jsonio
from skiff.errors import Conflict, EngineError, InvalidArgument, NotFound
from skiff.linux.mount import unescape_mountinfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    import builtins
    import sqlite3
    from collections.abc import Iterable, Mapping
    from typing import Any

    from skiff.paths import Paths

LOCAL_DRIVER = "local"
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
DATA_DIR = "_data"
_OPTIONS = ("type", "o", "device", "size")
# An option that needs others (the local driver's ``mandatoryOpts``), in a fixed order.
_REQUIRED = (("device", ("type",)), ("type", ("device",)), ("o", ("device", "type")))
LIST_FILTERS = ("dangling", "driver", "label", "name")
PRUNE_FILTERS = ("label", "label!", "all")


def _quote(text: str) -> str:
    """Go's ``%q`` for the names and keys in messages (printable text as is)."""
    import json

    return json.dumps(text, ensure_ascii=False)


def _valid_name(name: str) -> bool:
    """``[a-zA-Z0-9][a-zA-Z0-9_.-]+``"""
    return (
        name[:1].isascii()
        and name[:1].isalnum()
        and all(c.isascii() and (c.isalnum() or c in "_.-") for c in name[1:])
        and len(name) > 1
    )


def check_name(name: str) -> None:
    """The local driver's rule for volume names, with Docker's messages."""
    if len(name) == 1:
        raise InvalidArgument(
            f"create {name}: volume name is too short, names should be at least two "
            "alphanumeric characters"
        )
    if not _valid_name(name):
        raise InvalidArgument(
            f"create {name}: {_quote(name)} includes invalid characters for a local volume "
            'name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a '
            "host directory, use absolute path"
        )


def check_driver(name: str, driver: str) -> None:
    if driver not in ("", LOCAL_DRIVER):
        raise NotFound(
            f'create {name}: error looking up volume plugin {driver}: plugin "{driver}" not found'
        )


def check_options(name: str, options: Mapping[str, str]) -> None:
    """The local driver's ``validateOpts`` (skiff has no quota support, as Docker on a
    filesystem without project quotas)."""
    for key in options:
        if key not in _OPTIONS:
            raise InvalidArgument(f"create {name}: invalid option: {_quote(key)}")
    if "size" in options:
        from skiff.engine.options import ram_in_bytes

        try:
            size = ram_in_bytes(options["size"])
        except InvalidArgument as e:
            raise InvalidArgument(f"create {name}: {e}") from None
        if size > 0:
            raise InvalidArgument(f"create {name}: quota size requested but no quota support")
    for key, needed in _REQUIRED:
        if key in options:
            for other in needed:
                if other not in options:
                    raise InvalidArgument(
                        f"create {name}: missing required option: {_quote(other)}"
                    )


def random_name() -> str:
    return os.urandom(32).hex()  # secrets.token_hex, without its imports


class Volume:
    """A volume's row, and where its data is."""

    def __init__(self, row: sqlite3.Row, root: str) -> None:
        self.name: str = row["name"]
        self.driver: str = row["driver"]
        self.created: float = row["created"]
        self.labels: dict[str, str] | None = jsonio.loads(row["labels"] or "null")
        self.options: dict[str, str] | None = jsonio.loads(row["options"] or "null")
        self.dir = os.path.join(root, self.name)
        self.mountpoint = os.path.join(self.dir, DATA_DIR)

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in (self.labels or {})

    @property
    def needs_mount(self) -> bool:
        """Driver options make it a mount of its own (the local driver's ``needsMount``)."""
        options = self.options or {}
        return bool(options.get("device") or options.get("type"))

    def api(self) -> dict[str, Any]:
        """Docker's ``Volume`` object (``volume inspect``, the API)."""
        return {
            "CreatedAt": _rfc3339(self.created),
            "Driver": self.driver,
            "Labels": _sorted(self.labels),
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": _sorted(self.options),
            "Scope": "local",
        }


def _sorted(mapping: dict[str, str] | None) -> dict[str, str] | None:
    """A map as Go's JSON writes it: keys in order."""
    return None if mapping is None else dict(sorted(mapping.items()))


def _rfc3339(t: float) -> str:
    """Go's ``Format(time.RFC3339)`` in the local zone, as the daemon writes CreatedAt."""
    tm = time.localtime(int(t))
    offset = tm.tm_gmtoff or 0
    if not offset:
        zone = "Z"
    else:
        hours, minutes = divmod(abs(offset) // 60, 60)
        zone = f"{'-' if offset < 0 else '+'}{hours:02d}:{minutes:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", tm) + zone


class VolumeStore:
    def __init__(self, paths: Paths, conn: sqlite3.Connection | None = None) -> None:
        """``conn``: a connection to the state database to share (one is opened if None)."""
        self.root = os.path.join(paths.root, "volumes")
        self.db = conn if conn is not None else db.connect(paths.database)

    def data_path(self, name: str) -> str:
        return os.path.join(self.root, name, DATA_DIR)

    # --- create / get / list ----------------------------------------------------------

    def create(
        self,
        name: str = "",
        driver: str = "",
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> Volume:
        """``volume create``: a new volume, or the one of that name there is (as Docker,
        whose answer ignores the labels and options asked). Without a name, an anonymous
        volume."""
        with db.transaction(self.db):
            return self._create(self.db, name, driver, labels, options)

    def _create(
        self,
        conn: sqlite3.Connection,
        name: str,
        driver: str,
        labels: Mapping[str, str] | None,
        options: Mapping[str, str] | None,
    ) -> Volume:
        """Within a transaction."""
        labels = dict(labels or {})
        if not name:
            name = random_name()
            labels[ANONYMOUS_LABEL] = ""
        check_driver(name, driver)
        check_name(name)
        row = conn.execute("SELECT * FROM volumes WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return Volume(row, self.root)
        check_options(name, options or {})
        volume_dir = os.path.join(self.root, name)
        os.makedirs(self.root, mode=0o701, exist_ok=True)
        os.mkdir(volume_dir, 0o701)
        try:
            os.mkdir(os.path.join(volume_dir, DATA_DIR), 0o755)
            os.chmod(os.path.join(volume_dir, DATA_DIR), 0o755)  # whatever the umask
            conn.execute(
                "INSERT INTO volumes VALUES (?, ?, ?, ?, ?)",
                (
                    name,
                    LOCAL_DRIVER,
                    time.time(),
                    jsonio.dumps(labels) if labels else None,
                    jsonio.dumps(dict(options)) if options else None,
                ),
            )
        except BaseException:
            import shutil

            shutil.rmtree(volume_dir, ignore_errors=True)
            raise
        row = conn.execute("SELECT * FROM volumes WHERE name = ?", (name,)).fetchone()
        return Volume(row, self.root)

    def get(self, name: str) -> Volume:
        row = self.db.execute("SELECT * FROM volumes WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"get {name}: no such volume")
        return Volume(row, self.root)

    def exists(self, name: str) -> bool:
        return bool(self.db.execute("SELECT 1 FROM volumes WHERE name = ?", (name,)).fetchone())

    def list(self, filters: Mapping[str, list[str]] | None = None) -> list[Volume]:
        """``volume ls`` with Docker's filters: ``dangling`` (no container uses it),
        ``driver``, ``label`` (``KEY`` or ``KEY=VALUE``, all must match), ``name`` (a regular
        expression, any may match)."""
        from skiff.images.inspect import check_filters, match_labels

        filters = dict(filters or {})
        check_filters(filters, LIST_FILTERS)
        dangling = _bool_filter(filters, "dangling") if "dangling" in filters else None
        in_use = self._in_use()
        found = []
        for row in self.db.execute("SELECT * FROM volumes ORDER BY name"):
            volume = Volume(row, self.root)
            if filters.get("driver") and volume.driver not in filters["driver"]:
                continue
            if filters.get("name") and not _match_name(filters["name"], volume.name):
                continue
            if not match_labels(filters, "label", volume.labels):
                continue
            if dangling is not None and (volume.name in in_use) == dangling:
                continue
            found.append(volume)
        return found

    def _in_use(self) -> set[str]:
        rows = self.db.execute(
            "SELECT DISTINCT volume FROM container_mounts WHERE volume IS NOT NULL"
        )
        return {row["volume"] for row in rows}

    def users(self, name: str) -> builtins.list[str]:
        """The containers that use a volume, in the order they were created."""
        rows = self.db.execute(
            "SELECT DISTINCT m.container FROM container_mounts m "
            "JOIN containers c ON c.id = m.container WHERE m.volume = ? ORDER BY c.created",
            (name,),
        )
        return [row["container"] for row in rows]

    # --- remove / prune ---------------------------------------------------------------

    def remove(self, name: str, force: bool = False) -> None:
        """``volume rm``: refused while a container uses it (``-f`` too, as Docker's);
        ``force`` makes an unknown name no error."""
        with db.transaction(self.db):
            row = self.db.execute("SELECT * FROM volumes WHERE name = ?", (name,)).fetchone()
            if row is None:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            doomed = self._remove_locked(Volume(row, self.root))
        import shutil

        shutil.rmtree(doomed, ignore_errors=True)

    def _remove_locked(self, volume: Volume) -> str:
        """Within a transaction: refuse if used, else drop the row and move the directory
        away; the caller deletes what is returned after the commit."""
        users = self.users(volume.name)
        if users:
            raise Conflict(f"remove {volume.name}: volume is in use - [{', '.join(users)}]")
        import tempfile

        if _mounted(volume.mountpoint):
            _unmount(volume.mountpoint)
        doomed = tempfile.mkdtemp(dir=self.root, prefix=".remove-")
        if os.path.lexists(volume.dir):
            os.rename(volume.dir, os.path.join(doomed, volume.name))
        self.db.execute("DELETE FROM volumes WHERE name = ?", (volume.name,))
        return doomed

    def prune(
        self, filters: Mapping[str, builtins.list[str]] | None = None
    ) -> tuple[builtins.list[str], int]:
        """``volume prune``: unused local volumes without driver options, anonymous ones
        only unless the filter ``all=true`` (``-a``); ``label``/``label!`` filters. The
        names removed and the bytes their files held."""
        from skiff.images.inspect import check_filters, match_labels

        filters = {key: list(values) for key, values in (filters or {}).items()}
        check_filters(filters, PRUNE_FILTERS)
        if not _prune_all(filters.pop("all", None)):
            filters.setdefault("label", []).append(ANONYMOUS_LABEL)
        removed: list[str] = []
        freed = 0
        for volume in self.list():
            if volume.options or not match_labels(filters, "label", volume.labels):
                continue
            if filters.get("label!") and match_labels(filters, "label!", volume.labels):
                continue
            size = disk_usage(volume.mountpoint)
            try:
                with db.transaction(self.db):
                    doomed = self._remove_locked(self.get(volume.name))
            except (Conflict, NotFound):
                continue
            import shutil

            shutil.rmtree(doomed, ignore_errors=True)
            removed.append(volume.name)
            freed += size
        return removed, freed

    # --- containers' references -------------------------------------------------------

    def attach(self, container_id: str, mounts: Iterable[Mapping[str, Any]]) -> builtins.list[str]:
        """Record a new container's mounts, creating the volumes they name that do not
        exist yet (in one transaction); the names of the volumes created."""
        created: list[str] = []
        try:
            with db.transaction(self.db):
                for position, mount in enumerate(mounts):
                    name = None
                    if mount["Type"] == "volume":
                        name = mount["Name"]
                        if not self.db.execute(
                            "SELECT 1 FROM volumes WHERE name = ?", (name,)
                        ).fetchone():
                            labels = dict(mount.get("volume_labels") or {})
                            if mount.get("anonymous"):
                                labels[ANONYMOUS_LABEL] = ""
                            self._create(
                                self.db,
                                name,
                                mount.get("Driver", ""),
                                labels,
                                mount.get("volume_options"),
                            )
                            created.append(name)
                    self.db.execute(
                        "INSERT INTO container_mounts (container, position, volume, mount) "
                        "VALUES (?, ?, ?, ?)",
                        (container_id, position, name, jsonio.dumps(dict(mount))),
                    )
        except BaseException:
            for name in created:
                import shutil

                shutil.rmtree(os.path.join(self.root, name), ignore_errors=True)
            raise
        return created

    def mounts(self, container_id: str) -> builtins.list[dict[str, Any]]:
        """A container's resolved mounts, in their order."""
        rows = self.db.execute(
            "SELECT mount FROM container_mounts WHERE container = ? ORDER BY position",
            (container_id,),
        )
        return [jsonio.loads(row["mount"]) for row in rows]

    def detach(self, container_id: str) -> None:
        """Forget a container's mounts (its row's removal does it too)."""
        self.release(container_id)
        with db.transaction(self.db):
            self.db.execute("DELETE FROM container_mounts WHERE container = ?", (container_id,))

    # --- the driver's mounts ----------------------------------------------------------

    def acquire(self, container_id: str) -> None:
        """A container starts: mount the volumes with driver options it uses that no
        other running container holds mounted."""
        with db.transaction(self.db):
            rows = self.db.execute(
                "SELECT DISTINCT volume FROM container_mounts "
                "WHERE container = ? AND volume IS NOT NULL AND active = 0",
                (container_id,),
            ).fetchall()
            mounted: list[str] = []
            try:
                for row in rows:
                    volume = self.get(row["volume"])
                    if volume.needs_mount and not _mounted(volume.mountpoint):
                        _mount_volume(volume)
                        mounted.append(volume.mountpoint)
                    self.db.execute(
                        "UPDATE container_mounts SET active = 1 WHERE container = ? AND volume = ?",
                        (container_id, volume.name),
                    )
            except BaseException:
                for path in mounted:
                    _unmount(path)
                raise

    def release(self, container_id: str) -> None:
        """A container stopped: unmount the volumes it held that no other running
        container holds."""
        with db.transaction(self.db):
            rows = self.db.execute(
                "SELECT DISTINCT volume FROM container_mounts "
                "WHERE container = ? AND volume IS NOT NULL AND active = 1",
                (container_id,),
            ).fetchall()
            self.db.execute(
                "UPDATE container_mounts SET active = 0 WHERE container = ?", (container_id,)
            )
            for row in rows:
                others = self.db.execute(
                    "SELECT 1 FROM container_mounts WHERE volume = ? AND active = 1",
                    (row["volume"],),
                ).fetchone()
                volume = self.get(row["volume"])
                if not others and volume.needs_mount and _mounted(volume.mountpoint):
                    _unmount(volume.mountpoint)


def _bool_filter(filters: Mapping[str, list[str]], key: str) -> bool:
    """filters.Args ``GetBoolOrDefault``: one of true/1 or false/0, not both."""
    values = set(filters[key])
    yes, no = bool(values & {"true", "1"}), bool(values & {"false", "0"})
    if yes == no:
        raise InvalidArgument(f"Invalid filter '{key}=[{' '.join(sorted(values))}]'")
    return yes


def _match_name(patterns: list[str], name: str) -> bool:
    """filters.Args ``Match``: a value equal to the name, or a regular expression found in
    it (a pattern that does not compile matches nothing)."""
    import re

    for pattern in patterns:
        if pattern == name:
            return True
        try:
            if re.search(pattern, name):
                return True
        except re.error:
            continue
    return False


def _prune_all(values: list[str] | None) -> bool:
    """The ``all`` filter of ``volume prune`` (``-a`` sends ``all=true``)."""
    if not values:
        return False
    if len(values) > 1:
        raise InvalidArgument(
            f"invalid filter 'all=[{' '.join(values)}]': only one value is expected"
        )
    from skiff.engine.options import go_parse_bool

    try:
        return go_parse_bool(values[0])
    except Exception as e:
        raise InvalidArgument(f"invalid filter 'all': {e}") from None


def disk_usage(path: str) -> int:
    """Bytes of the files under ``path``, a hard-linked file once (Docker's
    ``directory.Size``)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for directory, dirs, files in os.walk(path):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]:
            try:
                st = os.lstat(os.path.join(directory, name))
            except FileNotFoundError:
                continue
            if st.st_size and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def mountinfo() -> list[tuple[str, list[str]]]:
    """This process's mounts, in order: (mount point, optional fields such as
    ``shared:N``), the mount point's octal escapes (``\\040``) undone."""
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = unescape_mountinfo(fields[4])
            mounts.append((point, fields[6 : fields.index("-")]))
    return mounts


def _mounted(path: str) -> bool:
    return any(point == path for point, _ in mountinfo())


def _mount_volume(volume: Volume) -> None:
    """The local driver's mount: ``mount -t TYPE -o O DEVICE _data``; ``o`` holds flags
    (``bind``, ``ro``, a propagation...) and the filesystem's data, split as mount(8) does."""
    from skiff.linux import mount as m
    from skiff.runtime import mountopts

    options = volume.options or {}
    device = options.get("device", "")
    if not device:
        raise EngineError(
            f"error while mounting volume '{volume.mountpoint}': missing device in volume options"
        )
    parsed = mountopts.parse(options.get("o", "").split(",") if options.get("o") else [])
    flags = parsed.flags
    try:
        m.mount(device, volume.mountpoint, options.get("type") or None, flags, parsed.data_string)
        if flags & m.MS_BIND and flags & ~(m.MS_BIND | m.MS_REC):
            m.mount(None, volume.mountpoint, None, flags | m.MS_REMOUNT | m.MS_BIND)
        for propagation in parsed.propagation:
            m.mount(None, volume.mountpoint, None, propagation)
    except OSError as e:
        if _mounted(volume.mountpoint):
            _unmount(volume.mountpoint)
        data = f", data: {parsed.data_string}" if parsed.data_string else ""
        raise EngineError(
            f"error while mounting volume '{volume.mountpoint}': failed to mount local volume: "
            f"mount {device}:{volume.mountpoint}, flags: {flags:#x}{data}: "
            f"{(e.strerror or str(e)).lower()}"
        ) from None


def _unmount(path: str) -> None:
    from skiff.linux import mount as m

    try:
        m.umount(path, m.MNT_DETACH)
    except OSError as e:
        raise EngineError(f"unmount {path}: {(e.strerror or str(e)).lower()}") from None
