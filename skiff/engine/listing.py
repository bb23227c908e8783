"""Which containers ``ps`` lists, in Docker's order, with Docker's filters (moby's
``daemon/list.go``): newest first; running ones unless ``all`` or a ``limit``; filtered by
id, name, label, exited, status, ancestor, before, since, volume, network, health,
publish, expose, isolation and is-task, with dockerd's messages for bad values.

It reads the container rows once and nothing per container that the filters given do not
need: ``skiff ps`` over hundreds of containers must stay as fast as ``docker ps``. What
the images say (labels, sizes, whether a name still names the container's image) is read
once per image, when asked (:class:`Facts`).
"""

from __future__ import annotations

from skiff.engine.inspect import health_status, networks, port_map, state_name
from skiff.errors import InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from skiff.engine.containers import Container, ContainerStore
    from skiff.images.service import ImageStore
    from skiff.storage.volumes import VolumeStore

FILTERS = (
    "ancestor", "before", "exited", "expose", "health", "id", "isolation", "is-task", "label",
    "name", "network", "publish", "since", "status", "volume",
)  # fmt: skip
STATES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
HEALTH_STATES = ("starting", "healthy", "unhealthy", "none")


class Facts:
    """What listing reads besides the container rows, each thing once and only when
    asked: of images, their labels, sizes and whether a name names one now (the image
    store is opened on first use); of containers, their mounts."""

    def __init__(self, store: ContainerStore, images: ImageStore | None = None) -> None:
        self.containers = store
        # An engine's own store, where the caller has one: one opened here is a new
        # database connection per listing, which skiff serve would leave to the garbage
        # collector (Engine.close says why).
        self._images: ImageStore | None = images
        self._volumes: VolumeStore | None = None
        self._labels: dict[str, dict[str, str]] = {}
        self._sizes: dict[str, int] | None = None
        self._names: dict[str, str | None] = {}

    @property
    def images(self) -> ImageStore:
        if self._images is None:
            from skiff.images.service import ImageStore

            self._images = ImageStore(self.containers.paths)
        return self._images

    def image_id(self, name: str) -> str | None:
        """The ID of the image ``name`` names now, None if none."""
        if name not in self._names:
            from skiff.errors import SkiffError

            try:
                self._names[name] = self._tagged(name) or self.images.get(name).id
            except SkiffError:
                self._names[name] = None
        return self._names[name]

    def _tagged(self, name: str) -> str | None:
        """The image a tag names, read from the tags table without opening the image
        store (``ImageStore.get`` looks a tag up first too): the common case of ``ps``."""
        from skiff.images import reference

        if reference.is_full_id(name):
            return None
        ref = reference.parse(name)
        if ref.digest:
            return None
        row = self.containers.db.execute(
            "SELECT image_id FROM tags WHERE name = ?", (str(ref),)
        ).fetchone()
        return row["image_id"] if row else None

    def image_labels(self, image_id: str) -> dict[str, str]:
        if image_id not in self._labels:
            try:
                config = self.images.get(image_id).config.get("config") or {}
            except NotFound:
                config = {}
            self._labels[image_id] = dict(config.get("Labels") or {})
        return self._labels[image_id]

    def image_size(self, image_id: str) -> int:
        if self._sizes is None:
            rows = self.images.db.execute("SELECT id, size FROM images")
            self._sizes = {row["id"]: row["size"] for row in rows}
        return self._sizes.get(image_id, 0)

    def mounts(self, container: Container) -> list[dict[str, Any]]:
        """The container's mounts (Docker's ``MountPoint``s)."""
        if self._volumes is None:
            from skiff.storage.volumes import VolumeStore

            self._volumes = VolumeStore(self.containers.paths, self.containers.db)
        return self._volumes.mounts(container.id)


def labels(container: Container, facts: Facts) -> dict[str, str]:
    """The container's labels (``Config.Labels``): its image's, overridden by its own."""
    return {**facts.image_labels(container.image_id), **(container.options.get("labels") or {})}


def image_shown(container: Container, facts: Facts) -> str:
    """The image a list shows (moby's ``refreshImage``): the name the container was
    created with while it still names the container's image, else the image's ID."""
    name = container.image_name
    if name != container.image_id and facts.image_id(name) != container.image_id:
        return container.image_id
    return name


def summary_ports(container: Container) -> list[dict[str, Any]]:
    """The ports of a list entry (Docker's ``Port``: IP, PrivatePort, PublicPort, Type):
    an exposed port without a binding, or one entry per binding."""
    ports: list[dict[str, Any]] = []
    for key, bindings in port_map(container).items():
        number, _, proto = key.partition("/")
        if not bindings:
            ports.append({"PrivatePort": int(number), "Type": proto or "tcp"})
            continue
        for binding in bindings:
            ports.append(
                {
                    "IP": binding.get("HostIp", ""),
                    "PrivatePort": int(number),
                    "PublicPort": int(binding.get("HostPort") or 0),
                    "Type": proto or "tcp",
                }
            )
    return ports


# --- filters ----------------------------------------------------------------------------


def _go_atoi(text: str) -> int:
    import re

    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise InvalidArgument(f'strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


def _parse_uint16(text: str) -> int:
    import re

    if not re.fullmatch(r"[0-9]+", text):
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    if int(text) > 65535:
        raise ValueError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return int(text)


def port_filter(key: str, values: Iterable[str]) -> set[str]:
    """``publish``/``expose`` values (``80``, ``8080/udp``, ``8000-8010/tcp``) as the
    ``PORT/PROTO`` keys they name (moby's ``portOp`` on go-connections' parsers)."""
    wanted: set[str] = set()
    for value in values:
        if ":" in value:
            raise InvalidArgument(f"filter for '{key}' should not contain ':': {value}")
        parts = value.split("/")
        port, proto = (value, "tcp") if len(parts) == 1 else (parts[0], parts[1] or "tcp")
        try:
            if not port:
                raise ValueError("empty string specified for ports.")
            low, dash, high = port.partition("-")
            start = _parse_uint16(low)
            end = _parse_uint16(high.split("-")[0]) if dash else start
            if end < start:
                raise ValueError(f"Invalid range specified for the Port: {port}")
        except ValueError as e:
            raise InvalidArgument(f"error while looking up for {key} {value}: {e}") from None
        wanted.update(f"{number}/{proto}" for number in range(start, end + 1))
    return wanted


def _search(pattern: str, text: str) -> bool:
    """Docker's ``filters.Match``: the value is a regular expression, found anywhere."""
    import re

    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def _matches(filters: Mapping[str, list[str]], key: str, text: str) -> bool:
    values = filters.get(key)
    return not values or text in values or any(_search(value, text) for value in values)


def match_labels(wanted: Iterable[str], labels: Mapping[str, str]) -> bool:
    """Docker's ``MatchKVList``: every ``KEY`` or ``KEY=VALUE`` is among the labels."""
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def _by_id_or_name(store: ContainerStore, value: str) -> Container:
    try:
        return store.get(value)
    except NotFound:
        raise NotFound(f"no such container {value}") from None


def _by_ids(containers: list[Container], prefixes: list[str]) -> set[str]:
    """The containers the ``id`` filter names: a full ID or a unique prefix of one."""
    found = set()
    for prefix in prefixes:
        hits = [c.id for c in containers if prefix and c.id.startswith(prefix)]
        if len(hits) == 1:
            found.add(hits[0])
    return found


class Filters:
    """A ``ps`` filter set, checked and resolved as dockerd does before it lists."""

    def __init__(
        self,
        store: ContainerStore,
        containers: list[Container],
        filters: Mapping[str, list[str]],
        facts: Facts,
    ) -> None:
        for name in filters:
            if name not in FILTERS:
                raise InvalidArgument(f"invalid filter '{name}'")
        self.filters = filters
        self.facts = facts
        self.exited = [_go_atoi(value) for value in filters.get("exited", [])]
        for value in filters.get("status", []):
            if value not in STATES:
                raise InvalidArgument(f"invalid filter 'status={value}'")
        self.task: bool | None = None
        if "is-task" in filters:
            values = filters["is-task"]
            if "true" not in values and "false" not in values:
                raise InvalidArgument(f"invalid filter 'is-task=[{' '.join(values)}]'")
            self.task = "true" in values
        for value in filters.get("health", []):
            if value not in HEALTH_STATES:
                raise InvalidArgument(f"Unrecognised filter value for health: {value}")
        self.before = self.since = None
        for value in filters.get("before", []):
            self.before = _by_id_or_name(store, value)
        for value in filters.get("since", []):
            self.since = _by_id_or_name(store, value)
        self.ancestors: set[str] | None = None
        if "ancestor" in filters:
            found = (facts.image_id(value) for value in filters["ancestor"])
            self.ancestors = {image_id for image_id in found if image_id}
        self.publish = port_filter("publish", filters.get("publish", []))
        self.expose = port_filter("expose", filters.get("expose", []))
        self.ids = _by_ids(containers, filters["id"]) if "id" in filters else None

    def named(self, container: Container) -> bool:
        """The ``name`` and ``id`` filters."""
        if self.ids is not None and container.id not in self.ids:
            return False
        slashed = "/" + container.name
        return _matches(self.filters, "name", slashed) or _matches(
            self.filters, "name", container.name
        )

    def before_limit(self, container: Container) -> bool:
        """The filters dockerd applies before it counts toward ``--last``."""
        if not self.named(container) or not _matches(self.filters, "id", container.id):
            return False
        if self.task:  # no skiff container is a swarm task
            return False
        wanted = self.filters.get("label")
        if wanted and not match_labels(wanted, labels(container, self.facts)):
            return False
        return _matches(self.filters, "isolation", "default")

    def after_limit(self, container: Container) -> bool:
        state = container.state
        if self.exited and (
            state_name(state) in ("created", "running", "paused", "restarting")
            or state.get("ExitCode", 0) not in self.exited
        ):
            return False
        if self.filters.get("status") and state_name(state) not in self.filters["status"]:
            return False
        if self.filters.get("health") and health_status(state) not in self.filters["health"]:
            return False
        if self.filters.get("volume"):
            shown = self.facts.mounts(container)
            names = {m.get("Name") or m.get("Source") for m in shown}
            destinations = {m.get("Destination") for m in shown}
            if not any(v in destinations or v in names for v in self.filters["volume"]):
                return False
        if self.ancestors is not None and container.image_id not in self.ancestors:
            return False
        if self.filters.get("network"):
            joined = networks(container)
            if not any(
                value in joined
                or any((nw or {}).get("NetworkID", "").startswith(value) for nw in joined.values())
                for value in self.filters["network"]
            ):
                return False
        if self.publish or self.expose:
            ports = summary_ports(container)
            published = {f"{p.get('PublicPort', 0)}/{p['Type']}" for p in ports}
            exposed = {f"{p['PrivatePort']}/{p['Type']}" for p in ports}
            if not (published & self.publish or exposed & self.expose):
                return False
        return True


def select(
    store: ContainerStore,
    facts: Facts,
    filters: Mapping[str, list[str]] | None = None,
    all: bool = False,
    limit: int = -1,
) -> list[Container]:
    """The containers ``ps`` lists, newest first (``docker ps`` with ``-a``, ``-n
    LIMIT``, ``--filter``)."""
    filters = dict(filters or {})
    containers = store.all()
    chosen = Filters(store, containers, filters, facts)
    if filters.get("status"):
        all = True
    before, since = chosen.before, chosen.since
    listed: list[Container] = []
    for container in containers:
        if before is not None:
            if container.id == before.id:
                before = None
            continue
        if since is not None and container.id == since.id:
            break
        if not container.state.get("Running") and not all and limit <= 0:
            continue
        if not chosen.before_limit(container):
            continue
        if 0 < limit == len(listed):
            break
        if chosen.after_limit(container):
            listed.append(container)
    return listed


def summary(container: Container, facts: Facts, now: float, size: bool = False) -> dict[str, Any]:
    """Docker's ContainerSummary (an entry of GET /containers/json)."""
    from skiff.engine.inspect import (
        command_text,
        network_mode,
        networks,
        state_name,
        status_text,
    )
    from skiff.engine.volumes import inspect_mounts

    state = container.state
    entry: dict[str, Any] = {
        "Id": container.id,
        "Names": ["/" + container.name],
        "Image": image_shown(container, facts),
        "ImageID": container.image_id,
        "Command": command_text(state),
        "Created": int(container.created),
        "Ports": summary_ports(container),
        "Labels": labels(container, facts),
        "State": state_name(state),
        "Status": status_text(state, now),
        "HostConfig": {"NetworkMode": network_mode(container.options.get("network") or "")},
        "NetworkSettings": {"Networks": networks(container)},
        "Mounts": inspect_mounts(facts.mounts(container)),
    }
    if size:
        from skiff.engine.filesystem import ContainerFiles
        from skiff.engine.inspect import writable_size

        rw = writable_size(ContainerFiles(facts.containers.paths, container.id).upper)
        entry["SizeRw"] = rw
        entry["SizeRootFs"] = rw + facts.image_size(container.image_id)
    return entry
