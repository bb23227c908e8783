"""A container's volumes and bind mounts, as Docker's daemon resolves and sets them up.

At create, :func:`resolve` turns ``--volumes-from``, ``-v``, ``--mount`` and the image's
``VOLUME``\\s into the container's mounts (moby's ``registerMountPoints``, then the
config's volumes), in that order of precedence: a ``-v``/``--mount`` at a destination
replaces a ``--volumes-from`` one, two of them at one destination are an error, and an
image volume (or ``-v /path``) gets an anonymous volume only where nothing else is
mounted. The store records them (:meth:`VolumeStore.attach`, creating missing volumes),
and :func:`copy_image_content` gives a new, empty volume the image's files at its
destination (Docker's copy-up; not with ``nocopy``, not for ``--volumes-from``).

At start, :func:`oci_mounts` makes the OCI mounts: the driver's mounts of volumes with
options, a missing ``-v`` bind source created (``--mount`` refuses one at create), and
the propagation checks Docker makes (``rshared`` needs a shared source mount).

A mount is a JSON-able dict: Docker's ``MountPoint`` fields (``Type``, ``Name``,
``Source``, ``Destination``, ``Driver``, ``Mode``, ``RW``, ``Propagation``; what
``inspect`` shows, :func:`inspect_mounts`) and skiff's own in lower case: ``copy``
(copy-up wanted), ``anonymous`` (the volume was made for this mount: ``rm -v`` removes
it), ``create_source`` (a ``-v`` bind), ``recursive`` (``--mount bind-recursive``),
``volume_options`` and ``volume_labels`` (``--mount volume-opt``/``volume-label``).
"""

from __future__ import annotations

import os
import stat

from skiff.engine.options import PROPAGATIONS, _valid_mount_mode, clean_path
from skiff.errors import Conflict, EngineError, InvalidArgument, NotFound
from skiff.storage.volumes import (
    LOCAL_DRIVER,
    check_driver,
    check_name,
    check_options,
    mountinfo,
    random_name,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from skiff.engine.containers import ContainerStore
    from skiff.engine.options import ContainerOptions, MountSpec
    from skiff.storage.volumes import VolumeStore

INSPECT_FIELDS = ("Type", "Name", "Source", "Destination", "Driver", "Mode", "RW", "Propagation")


# --- create -----------------------------------------------------------------------------


def parse_volumes_from(spec: str) -> tuple[str, str]:
    """``--volumes-from CONTAINER[:MODE]``: (container, mode); mode ``rw`` by default,
    ``ro`` (with ``z``/``Z``) allowed, no propagation or copy mode (moby's checks)."""
    if not spec:
        raise InvalidArgument("volumes-from specification cannot be an empty string")
    ref, _, mode = spec.partition(":")
    if not mode:
        return ref, "rw"
    if not _valid_mount_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")
    options = mode.split(",")
    if any(o.startswith("ro-") or o == "rro" for o in options):
        raise InvalidArgument(
            f'mount mode "{mode}" is not supported for volumes-from mounts: invalid mode: {mode}'
        )
    if any(o in PROPAGATIONS or o == "nocopy" for o in options):
        raise InvalidArgument(f"invalid mode: {mode}")
    return ref, mode


def read_write(mode: str) -> bool:
    return not any(o == "ro" or o.startswith("ro-") or o == "rro" for o in mode.split(","))


def _raw_mode(spec: MountSpec) -> str:
    """The MODE of a ``-v SOURCE:TARGET:MODE`` (Docker shows it as the mount's Mode)."""
    parts = spec.raw.split(":")
    return parts[2] if len(parts) == 3 else ""


def _volume(spec: MountSpec, store: VolumeStore, mode: str) -> dict[str, Any]:
    """A ``-v NAME:...`` or ``--mount type=volume``: the volume is checked now, made at
    attach (with the label of an anonymous one when it has no name)."""
    if spec.volume_subpath:
        raise InvalidArgument(
            'invalid mount config for type "volume": volume-subpath is not supported'
        )
    name = spec.source or random_name()
    check_driver(name, spec.volume_driver)
    if not store.exists(name):
        check_name(name)
        check_options(name, spec.volume_options)
    return {
        "Type": "volume",
        "Name": name,
        "Source": store.data_path(name),
        "Destination": clean_path(spec.target),
        "Driver": LOCAL_DRIVER,
        "Mode": mode or "z",  # moby's setBindModeIfNull for the local driver
        "RW": not spec.readonly,
        "Propagation": "",
        "copy": not spec.nocopy,
        "anonymous": not spec.source,
        "volume_options": dict(spec.volume_options),
        "volume_labels": dict(spec.volume_labels),
    }


def _bind(spec: MountSpec, mode: str, create_source: bool) -> dict[str, Any]:
    return {
        "Type": "bind",
        "Source": clean_path(spec.source),
        "Destination": clean_path(spec.target),
        "Mode": mode,
        "RW": not spec.readonly,
        "Propagation": spec.propagation or "rprivate",
        "create_source": create_source,
        "recursive": spec.recursive,
    }


def _anonymous(destination: str, store: VolumeStore) -> dict[str, Any]:
    """The volume of an image's ``VOLUME`` (or ``-v /path``): Mode "", copy-up."""
    name = random_name()
    return {
        "Type": "volume",
        "Name": name,
        "Source": store.data_path(name),
        "Destination": destination,
        "Driver": LOCAL_DRIVER,
        "Mode": "",
        "RW": True,
        "Propagation": "",
        "copy": True,
        "anonymous": True,
    }


def _image_volumes(image_config: Mapping[str, Any]) -> list[str]:
    inner = image_config.get("config")
    settings = inner if isinstance(inner, dict) else image_config
    return sorted((settings.get("Volumes") or {}).keys())


def resolve(
    options: ContainerOptions,
    image_config: Mapping[str, Any],
    store: VolumeStore,
    containers: ContainerStore,
) -> list[dict[str, Any]]:
    """The mounts of a container about to be created (nothing is written): Docker's
    errors for a bad ``--volumes-from``, a duplicate destination, a missing ``--mount``
    bind source or a bad volume name, driver or option."""
    mounts: dict[str, dict[str, Any]] = {}

    def put(mount: dict[str, Any]) -> None:
        mounts.pop(mount["Destination"], None)
        mounts[mount["Destination"]] = mount

    for entry in options.volumes_from:
        ref, mode = parse_volumes_from(entry)
        source = containers.get(ref)
        for mount in store.mounts(source.id):
            put(mount | {"Mode": "", "RW": mount["RW"] and read_write(mode), "copy": False})

    tmpfs = {clean_path(destination) for destination in options.tmpfs}
    taken: set[str] = set()
    config_volumes: list[str] = []
    for spec in options.volumes:
        if spec.type == "volume" and not spec.source:
            config_volumes.append(spec.target)  # the docker CLI sends these as Config.Volumes
            continue
        destination = clean_path(spec.target)
        if destination in taken or destination in tmpfs:
            raise InvalidArgument(f"Duplicate mount point: {destination}")
        mode = _raw_mode(spec)
        put(_bind(spec, mode, True) if spec.type == "bind" else _volume(spec, store, mode))
        taken.add(destination)

    for spec in options.mounts:
        destination = clean_path(spec.target)
        if destination in taken:
            raise InvalidArgument(f"Duplicate mount point: {spec.target}")
        taken.add(destination)
        if spec.type == "tmpfs":  # the spec mounts it (skiff.engine.spec)
            mounts.pop(destination, None)
            tmpfs.add(destination)
        elif spec.type == "bind":
            if not os.path.exists(spec.source):
                raise InvalidArgument(
                    'invalid mount config for type "bind": bind source path does not exist: '
                    f"{spec.source}"
                )
            put(_bind(spec, "", False))
        else:
            put(_volume(spec, store, ""))

    for path in [*config_volumes, *_image_volumes(image_config)]:
        destination = clean_path(path)
        if destination not in mounts and destination not in tmpfs:
            put(_anonymous(destination, store))
    return list(mounts.values())


def _copy_wanted(mounts: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [m for m in mounts if m["Type"] == "volume" and m.get("copy")]


def wants_copy(mounts: Iterable[Mapping[str, Any]]) -> bool:
    """Whether :func:`copy_image_content` has work: the caller mounts the rootfs for it."""
    return bool(_copy_wanted(mounts))


def copy_image_content(
    store: VolumeStore, container_id: str, mounts: Iterable[Mapping[str, Any]], rootfs: str
) -> None:
    """Docker's copy-up, with the container's rootfs mounted: each volume that asks for
    it and is empty gets the files of the image at its destination (owners, modes, links,
    times kept), and the owner and mode of that directory. An image volume over a file is
    Docker's error."""
    from skiff.linux.openat2 import O_PATH, open_in_root

    wanted = _copy_wanted(mounts)
    rootfd = os.open(rootfs, O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    held = any(store.get(m["Name"]).needs_mount for m in wanted)
    if held:
        store.acquire(container_id)
    try:
        for mount in wanted:
            try:
                fd = open_in_root(rootfd, mount["Destination"], O_PATH)
            except FileNotFoundError:
                continue
            try:
                st = os.fstat(fd)
                if not stat.S_ISDIR(st.st_mode):
                    if mount.get("anonymous") and mount["Mode"] == "":
                        raise EngineError(
                            "cannot mount volume over existing file, file exists "
                            + os.path.join(rootfs, mount["Destination"].lstrip("/"))
                        )
                    continue
                _copy_if_empty(fd, st, store.get(mount["Name"]).mountpoint)
            finally:
                os.close(fd)
    finally:
        os.close(rootfd)
        if held:
            store.release(container_id)


def _copy_if_empty(source_fd: int, source: os.stat_result, target: str) -> None:
    if os.listdir(target):
        return
    if os.listdir(f"/proc/self/fd/{source_fd}"):
        import subprocess

        result = subprocess.run(
            ["cp", "-a", f"/proc/self/fd/{source_fd}/.", target + "/"],
            pass_fds=(source_fd,),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise EngineError(f"copy image content into {target}: {result.stderr.strip()}")
    os.chown(target, source.st_uid, source.st_gid)
    os.chmod(target, stat.S_IMODE(source.st_mode))


def remove_anonymous(store: VolumeStore, mounts: Iterable[Mapping[str, Any]]) -> None:
    """``rm -v`` and ``--rm``: the container's anonymous volumes go, unless another
    container uses one (Docker ignores that case); named volumes stay."""
    for name in dict.fromkeys(
        m["Name"] for m in mounts if m["Type"] == "volume" and m.get("anonymous")
    ):
        try:
            store.remove(name)
        except (Conflict, NotFound):
            continue


# --- start ------------------------------------------------------------------------------


def oci_mounts(
    store: VolumeStore, container_id: str, mounts: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The OCI mounts of a container about to start; its volumes with driver options are
    mounted (``store.release`` undoes it when it stops)."""
    from skiff.engine.spec import bind_mount

    mounts = list(mounts)
    result = []
    for mount in mounts:
        readonly = not mount["RW"]
        if mount["Type"] == "volume":
            result.append(bind_mount(mount["Source"], mount["Destination"], readonly))
            continue
        source = mount["Source"]
        if mount.get("create_source") and not os.path.lexists(source):
            os.makedirs(source, 0o755, exist_ok=True)
        check_propagation(source, mount["Propagation"])
        result.append(
            bind_mount(
                source,
                mount["Destination"],
                readonly,
                mount["Propagation"],
                mount.get("recursive", "enabled"),
            )
        )
    store.acquire(container_id)
    return result


def rootfs_propagation(mounts: Iterable[Mapping[str, Any]]) -> str | None:
    """``linux.rootfsPropagation`` as Docker sets it: ``shared`` for a shared bind,
    ``rslave`` for a slave one, so that mount events cross as asked."""
    propagation = None
    for mount in mounts:
        if mount["Propagation"] in ("shared", "rshared"):
            propagation = "shared"
        elif mount["Propagation"] in ("slave", "rslave") and propagation is None:
            propagation = "rslave"
    return propagation


def source_mount(path: str) -> tuple[str, list[str]]:
    """The mount holding ``path`` (symlinks followed) and its optional mountinfo fields
    (``shared:N``, ``master:N``); of mounts stacked on one point, the top one."""
    real = os.path.realpath(path)
    found: tuple[str, list[str]] = ("/", [])
    for point, optional in mountinfo():
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(found[0]):
            found = (point, optional)
    return found


def check_propagation(source: str, propagation: str) -> None:
    """Docker's ``ensureShared``/``ensureSharedOrSlave`` for a bind's propagation."""
    if propagation in ("shared", "rshared"):
        point, optional = source_mount(source)
        if not any(o.startswith("shared:") for o in optional):
            raise EngineError(f"path {source} is mounted on {point} but it is not a shared mount")
    elif propagation in ("slave", "rslave"):
        point, optional = source_mount(source)
        if not any(o.startswith(("shared:", "master:")) for o in optional):
            raise EngineError(
                f"path {source} is mounted on {point} but it is not a shared or slave mount"
            )


# --- inspect ----------------------------------------------------------------------------


def inspect_mounts(mounts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Docker's ``Mounts`` of ``container inspect`` (a bind has no Name, no Driver)."""
    shown = []
    for mount in mounts:
        entry = {key: mount[key] for key in INSPECT_FIELDS if key in mount}
        shown.append(entry)
    return shown
