"""Image config + ``ContainerOptions`` -> the OCI ``config.json`` Docker would write.

``build_spec`` is moby's ``createSpec`` (``daemon/oci_linux.go`` on ``oci/defaults.go``)
for Docker 28 on Linux, written from its behaviour and checked field by field against a
real dockerd (``tests/interop/test_engine_spec_oracle.py``). What it decides:

- namespaces: mount, network, uts, pid, ipc (Docker's order); ``--pid/--ipc/--uts host``
  drop theirs, ``container:X`` join the path the caller resolved (``namespace_paths``);
  a cgroup namespace with ``--cgroupns private``, and by default on cgroup v2 only;
  the network namespace is a placeholder the caller fills (or drops, ``--network host``);
- capabilities: Docker's 14, ``--cap-add``/``--cap-drop`` (``ALL`` too), all there are
  with ``--privileged``; bounding, effective and permitted for root, the bounding set
  alone for another user (as Docker since 20.10.14);
- seccomp: Docker's default profile for that bounding set (``seccomp_profile``), a
  profile given with ``--security-opt seccomp=FILE``, or none (``unconfined``, and
  ``--privileged`` without an explicit profile);
- mounts: Docker's defaults, ``/dev/shm`` of ``--shm-size`` (64 MiB), tmpfs mounts, the
  caller's mounts (volumes, binds, /etc/hosts, ...), tini at ``/sbin/docker-init`` for
  ``--init``, all ordered and overridden as Docker does (see ``_mounts``);
- masked and read-only paths (Docker 28's lists), the device cgroup rules, resources,
  sysctls, rlimits, the process (args, env, cwd, user, terminal, no_new_privileges,
  oomScoreAdj), the hostname, annotations.

Deliberate differences from Docker's config.json:

- ``HOME`` is in ``process.env``: Docker leaves it to runc, which sets it from the
  container's passwd when the environment has none; skiff-runtime does not, so the engine
  does the same lookup here (same value);
- RLIMIT_NOFILE never exceeds this host's hard limit (see ``_rlimits``);
- ``--privileged`` and ``--cap-add ALL`` give the capabilities of the engine's bounding
  set, not every one of the kernel (``options.host_capabilities``): Docker's start fails
  where the host lacks one, as this machine lacks CAP_SYS_RESOURCE;
- AppArmor and SELinux labels are not set (skiff supports neither), nor is the libnetwork
  hook, nor ``cgroupsPath``'s parent ``/docker`` (it is ``/skiff``, or ``--cgroup-parent``).
"""

from __future__ import annotations

import copy
import os
import resource
import stat

from skiff.engine import seccomp_profile
from skiff.engine.environment import DEFAULT_PATH, env_key, merge_env, replace_or_append_env
from skiff.engine.options import (
    ContainerOptions,
    MountSpec,
    clean_path,
    go_quote,
    host_capabilities,
    normalize_capabilities,
)
from skiff.engine.userinfo import ResolvedUser, resolve_user_in_rootfs
from skiff.errors import EngineError, InvalidArgument
from skiff.runtime.specgen import SPEC_VERSION

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

DEFAULT_SHM_SIZE = 64 << 20
DEFAULT_CGROUP_PARENT = "/skiff"
INIT_PATH_IN_CONTAINER = "/sbin/docker-init"
# tini built static (Debian's ``tini`` package): it runs in any image, libc or not.
INIT_CANDIDATES = (
    "/usr/bin/tini-static",
    "/usr/bin/docker-init",
    "/usr/libexec/docker/docker-init",
)

DEFAULT_CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

# Docker 28's lists (moby oci/defaults.go).
MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def _device_rule(
    allow: bool, kind: str | None, major: int | None, minor: int | None
) -> dict[str, Any]:
    rule: dict[str, Any] = {"allow": allow}
    if kind is not None:
        rule |= {"type": kind, "major": major, "minor": minor}
    rule["access"] = "rwm"
    return rule


# Deny everything, then /dev/zero, null, urandom, random, tty, console... (and deny
# /dev/net/tun), as Docker.
DEFAULT_DEVICE_RULES = (
    _device_rule(False, None, None, None),
    _device_rule(True, "c", 1, 5),
    _device_rule(True, "c", 1, 3),
    _device_rule(True, "c", 1, 9),
    _device_rule(True, "c", 1, 8),
    _device_rule(True, "c", 5, 0),
    _device_rule(True, "c", 5, 1),
    _device_rule(False, "c", 10, 229),
)


def default_mounts() -> list[dict[str, Any]]:
    """Docker's default mounts (``/dev/shm`` gets its size option later)."""
    return [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777"],
        },
    ]


# --- small pieces the caller uses too ---------------------------------------------------


def bind_mount(
    source: str,
    destination: str,
    readonly: bool = False,
    propagation: str = "",
    recursive: str = "enabled",
) -> dict[str, Any]:
    """The OCI mount Docker makes of a bind or volume: ``rbind`` (``bind`` when not
    recursive), ``ro`` or, for a recursive read-only mount, ``rro`` (Docker 25+ on a
    kernel with ``mount_setattr``), then the propagation (default ``rprivate``)."""
    options = ["bind" if recursive == "disabled" else "rbind"]
    if readonly:
        options.append("ro" if recursive in ("writable", "disabled") else "rro")
    options.append(propagation or "rprivate")
    return {"destination": destination, "type": "bind", "source": source, "options": options}


def mount_for(spec: MountSpec, source: str | None = None) -> dict[str, Any]:
    """The OCI mount of a ``-v``/``--mount`` bind or volume; ``source`` is the host path
    (a volume's data directory; a bind's own source by default)."""
    if spec.type == "tmpfs":
        return tmpfs_mount(spec.target, tmpfs_data(spec))
    return bind_mount(
        source or spec.source, spec.target, spec.readonly, spec.propagation, spec.recursive
    )


def tmpfs_data(spec: MountSpec) -> str:
    """``--mount type=tmpfs`` options as a ``--tmpfs`` option string (moby's
    ``ConvertTmpfsOptions``): ``ro``, ``mode=`` in octal, ``size=`` in the largest of
    g/m/k that divides it."""
    options = []
    if spec.readonly:
        options.append("ro")
    if spec.tmpfs_mode:
        options.append(f"mode={spec.tmpfs_mode:o}")
    if spec.tmpfs_size:
        size, suffix = spec.tmpfs_size, ""
        for unit, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % divisor == 0:
                size, suffix = size // divisor, unit
                break
        options.append(f"size={size}{suffix}")
    return ",".join(options)


_MS = {
    "RDONLY": 1,
    "NOSUID": 2,
    "NODEV": 4,
    "NOEXEC": 8,
    "SYNCHRONOUS": 16,
    "REMOUNT": 32,
    "MANDLOCK": 64,
    "DIRSYNC": 128,
    "NOATIME": 1024,
    "NODIRATIME": 2048,
    "BIND": 4096,
    "REC": 16384,
    "UNBINDABLE": 1 << 17,
    "PRIVATE": 1 << 18,
    "SLAVE": 1 << 19,
    "SHARED": 1 << 20,
    "RELATIME": 1 << 21,
    "STRICTATIME": 1 << 24,
}
_REC = _MS["REC"]
_MOUNT_FLAGS = {
    "ro": _MS["RDONLY"],
    "rw": _MS["RDONLY"],
    "suid": _MS["NOSUID"],
    "nosuid": _MS["NOSUID"],
    "dev": _MS["NODEV"],
    "nodev": _MS["NODEV"],
    "exec": _MS["NOEXEC"],
    "noexec": _MS["NOEXEC"],
    "sync": _MS["SYNCHRONOUS"],
    "async": _MS["SYNCHRONOUS"],
    "dirsync": _MS["DIRSYNC"],
    "remount": _MS["REMOUNT"],
    "mand": _MS["MANDLOCK"],
    "nomand": _MS["MANDLOCK"],
    "atime": _MS["NOATIME"],
    "noatime": _MS["NOATIME"],
    "diratime": _MS["NODIRATIME"],
    "nodiratime": _MS["NODIRATIME"],
    "bind": _MS["BIND"],
    "rbind": _MS["BIND"] | _REC,
    "unbindable": _MS["UNBINDABLE"],
    "runbindable": _MS["UNBINDABLE"] | _REC,
    "private": _MS["PRIVATE"],
    "rprivate": _MS["PRIVATE"] | _REC,
    "shared": _MS["SHARED"],
    "rshared": _MS["SHARED"] | _REC,
    "slave": _MS["SLAVE"],
    "rslave": _MS["SLAVE"] | _REC,
    "relatime": _MS["RELATIME"],
    "norelatime": _MS["RELATIME"],
    "strictatime": _MS["STRICTATIME"],
    "nostrictatime": _MS["STRICTATIME"],
}
_PROPAGATION_FLAGS = _MS["PRIVATE"] | _MS["SHARED"] | _MS["SLAVE"] | _MS["UNBINDABLE"] | _REC
_TMPFS_DATA = ("", "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol")


def merge_tmpfs_options(options: Iterable[str]) -> list[str]:
    """moby/sys/mount's ``MergeTmpfsOptions``: the last of each flag (``ro``/``rw``,
    ``exec``/``noexec``, one propagation) and of each ``key=value`` wins, order kept."""
    merged: list[str] = []
    seen_flags: set[int] = set()
    seen_data: set[str] = set()
    for option in reversed(list(options)):
        if option == "defaults":
            continue
        flag = _MOUNT_FLAGS.get(option)
        if flag:
            key = -1 if flag & _PROPAGATION_FLAGS else flag
            if key not in seen_flags:
                merged.insert(0, option)
                seen_flags.add(key)
            continue
        name, sep, _ = option.partition("=")
        if not sep or name not in _TMPFS_DATA:
            shown = "[" + " ".join(go_quote(part) for part in option.split("=", 1)) + "]"
            raise InvalidArgument(f"invalid tmpfs option {shown}")
        if name not in seen_data:
            merged.insert(0, option)
            seen_data.add(name)
    return merged


def tmpfs_mount(destination: str, data: str) -> dict[str, Any]:
    """A ``--tmpfs`` mount: Docker's ``noexec,nosuid,nodev,rprivate`` then the options
    given (which may override them: ``exec``)."""
    options = ["noexec", "nosuid", "nodev", "rprivate", *(data.split(",") if data else [])]
    return {
        "destination": destination,
        "type": "tmpfs",
        "source": "tmpfs",
        "options": merge_tmpfs_options(options),
    }


def find_init_binary(path: str | None = None) -> str:
    """The init for ``--init`` (tini built static): ``path``, else the first of
    ``INIT_CANDIDATES`` there is, else ``docker-init`` on PATH."""
    if path:
        return path
    for candidate in INIT_CANDIDATES:
        if os.path.exists(candidate):
            return candidate
    import shutil

    found = shutil.which("docker-init")
    if found:
        return found
    raise EngineError('exec: "docker-init": executable file not found in $PATH (install tini)')


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """Every device node under /dev (containerd's ``HostDevices``, for ``--privileged``):
    pts, shm, fd, mqueue and console skipped, symlinks not followed."""
    devices: list[dict[str, Any]] = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as e:
        raise EngineError(f"error stating device path: {e}") from None
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if entry.name not in ("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"):
                devices += host_devices(entry.path)
            continue
        if entry.name == "console":
            continue
        device = device_from_path(entry.path)
        if device is not None:
            devices.append(device)
    return devices


def device_from_path(path: str) -> dict[str, Any] | None:
    """The OCI device of a device node (not following a symlink), None if not one."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    kind = {stat.S_IFBLK: "b", stat.S_IFCHR: "c", stat.S_IFIFO: "p"}.get(stat.S_IFMT(st.st_mode))
    if kind is None:
        return None
    return {
        "path": path,
        "type": kind,
        "major": os.major(st.st_rdev),
        "minor": os.minor(st.st_rdev),
        "fileMode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
    }


def devices_from_mapping(
    host: str, container: str, permissions: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``--device``: the devices and their cgroup rules (moby's ``DevicesFromPath``: a
    symlink on the host is followed, a directory gives every device under it)."""
    resolved = os.path.realpath(host) if os.path.islink(host) else host
    try:
        os.lstat(resolved)
    except OSError as e:
        reason = os.strerror(e.errno or 0).lower()
        raise InvalidArgument(
            f"error gathering device information while adding custom device {go_quote(host)}: "
            f"{reason}"
        ) from None
    found: list[dict[str, Any]] = []
    device = device_from_path(resolved)
    if device is not None:
        found.append(device | {"path": container})
    elif os.path.isdir(resolved):
        for directory, _, files in os.walk(resolved):
            for name in sorted(files):
                child = device_from_path(os.path.join(directory, name))
                if child is not None:
                    inside = os.path.join(directory, name).replace(resolved, container, 1)
                    found.append(child | {"path": inside})
    if not found:
        raise InvalidArgument(
            f"error gathering device information while adding custom device {go_quote(host)}: "
            "not a device node"
        )
    rules = [
        {
            "allow": True,
            "type": d["type"],
            "major": d["major"],
            "minor": d["minor"],
            "access": permissions,
        }
        for d in found
    ]
    return found, rules


def device_cgroup_rule(rule: str) -> dict[str, Any]:
    """``--device-cgroup-rule 'c 42:* rmw'``: ``*`` is -1, as Docker writes it."""
    kind, numbers, access = rule.split(" ")
    major, minor = numbers.split(":")
    return {
        "allow": True,
        "type": kind,
        "major": -1 if major == "*" else int(major),
        "minor": -1 if minor == "*" else int(minor),
        "access": access,
    }


def cgroup_v2() -> bool:
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


# --- the image config and the options, merged as Docker merges them -------------------


def _image_settings(image_config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``config`` object of an image config (or the object itself if given bare)."""
    inner = image_config.get("config")
    if isinstance(inner, dict):
        return inner
    inner = image_config.get("Config")
    return inner if isinstance(inner, dict) else image_config


def command_line(image: Mapping[str, Any], options: ContainerOptions) -> list[str]:
    """ENTRYPOINT + CMD by Docker's rules: ``--entrypoint`` drops the image's CMD (and
    ``--entrypoint ""`` the image's ENTRYPOINT too); arguments replace CMD."""
    image_entrypoint = list(image.get("Entrypoint") or [])
    image_cmd = list(image.get("Cmd") or [])
    command = list(options.command)
    entrypoint = options.entrypoint
    if not entrypoint:
        if not command:
            command = image_cmd
        if entrypoint is None:
            entrypoint = image_entrypoint
    if entrypoint == [""]:
        entrypoint = []
    args = [*entrypoint, *command]
    if not args:
        raise InvalidArgument("No command specified")
    return args


# --- the spec ---------------------------------------------------------------------------


def _capabilities(options: ContainerOptions) -> list[str]:
    """moby's ``TweakCapabilities`` on Docker's defaults."""
    if options.privileged:
        return host_capabilities()
    if not options.cap_add and not options.cap_drop:
        return list(DEFAULT_CAPABILITIES)
    drop = normalize_capabilities(options.cap_drop, "CapDrop")
    add = normalize_capabilities(options.cap_add, "CapAdd")
    if "ALL" in add:
        return [c for c in host_capabilities() if c not in drop]
    if "ALL" in drop:
        return [c for c in add if c != "ALL"]
    return [c for c in DEFAULT_CAPABILITIES if c not in drop] + add


def _seccomp(
    options: ContainerOptions, bounding: list[str], arch: str | None, kernel: tuple[int, int] | None
) -> dict[str, Any] | None:
    profile = options.security_options.seccomp
    if profile == "unconfined":
        return None
    if options.privileged and profile in (None, "builtin"):
        return None
    if profile in (None, "builtin"):
        return seccomp_profile.default_seccomp(bounding, arch, kernel)
    assert profile is not None
    return seccomp_profile.setup_seccomp(
        seccomp_profile.parse_profile(profile), bounding, arch, kernel
    )


def _rlimits(options: ContainerOptions, nofile_hard: int | None) -> list[dict[str, Any]]:
    """``--ulimit``s as OCI rlimits; Docker adds none of its own.

    RLIMIT_NOFILE is clamped to ``nofile_hard``, this host's hard limit (the engine's
    own): a runtime may not raise it past what the host allows, and a container that asks
    for more would fail to start. Podman fails exactly so on this machine: it asks for
    1048576 open files with a hard limit of 20000. An unlimited (``-1``) value is the
    OCI's 2^64-1, as Docker writes it.
    """
    limits = []
    for ulimit in options.ulimits:
        soft, hard = ulimit.soft % (1 << 64), ulimit.hard % (1 << 64)
        if ulimit.name == "nofile" and nofile_hard is not None:
            soft, hard = min(soft, nofile_hard), min(hard, nofile_hard)
        limits.append({"type": "RLIMIT_" + ulimit.name.upper(), "hard": hard, "soft": soft})
    return limits


def _host_nofile_hard() -> int | None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return None if hard == resource.RLIM_INFINITY else hard


def resources(options: ContainerOptions) -> dict[str, Any]:
    memory: dict[str, Any] = {}
    if options.memory > 0:
        memory["limit"] = options.memory
    if options.memory_reservation > 0:
        memory["reservation"] = options.memory_reservation
    swap = options.memory_swap
    if options.memory > 0 and swap == 0:
        swap = options.memory * 2  # Docker's default: as much swap as memory
    if swap > 0:
        memory["swap"] = swap
    if 0 <= options.memory_swappiness <= 100:
        memory["swappiness"] = options.memory_swappiness
    memory["disableOOMKiller"] = options.oom_kill_disable

    cpu: dict[str, Any] = {"shares": max(options.cpu_shares, 0)}
    if options.cpuset_cpus:
        cpu["cpus"] = options.cpuset_cpus
    if options.cpuset_mems:
        cpu["mems"] = options.cpuset_mems
    if options.nano_cpus > 0:
        cpu["period"] = 100_000
        cpu["quota"] = options.nano_cpus * 100_000 // 10**9
    if options.cpu_period:
        cpu["period"] = options.cpu_period
    if options.cpu_quota:
        cpu["quota"] = options.cpu_quota
    if options.cpu_rt_period:
        cpu["realtimePeriod"] = options.cpu_rt_period
    if options.cpu_rt_runtime:
        cpu["realtimeRuntime"] = options.cpu_rt_runtime

    result: dict[str, Any] = {
        "memory": memory,
        "cpu": cpu,
        "blockIO": {"weight": options.blkio_weight},
    }
    if options.pids_limit > 0:
        result["pids"] = {"limit": options.pids_limit}
    return result


def _devices(options: ContainerOptions) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(linux.devices, linux.resources.devices)."""
    devices: list[dict[str, Any]] = []
    if options.privileged:
        devices = host_devices()
        for mapping in options.devices:
            if mapping.path_on_host != mapping.path_in_container:
                devices += devices_from_mapping(
                    mapping.path_on_host, mapping.path_in_container, "rwm"
                )[0]
        return devices, [{"allow": True, "access": "rwm"}]
    rules = copy.deepcopy(list(DEFAULT_DEVICE_RULES))
    for mapping in options.devices:
        found, allowed = devices_from_mapping(
            mapping.path_on_host, mapping.path_in_container, mapping.permissions
        )
        devices += found
        rules += allowed
    rules += [device_cgroup_rule(rule) for rule in options.device_cgroup_rules]
    return devices, rules


def _namespaces(
    options: ContainerOptions, paths: Mapping[str, str], v2: bool
) -> list[dict[str, Any]]:
    namespaces: list[dict[str, Any]] = [
        {"type": "mount"},
        {"type": "network"},
        {"type": "uts"},
        {"type": "pid"},
        {"type": "ipc"},
    ]

    def drop(kind: str) -> None:
        namespaces[:] = [ns for ns in namespaces if ns["type"] != kind]

    def join(kind: str, mode: str) -> None:
        path = paths.get(kind)
        if not path:
            raise EngineError(f"no {kind} namespace path for {mode!r}")
        for ns in namespaces:
            if ns["type"] == kind:
                ns["path"] = path

    network = options.network
    if network == "host":
        drop("network")
    elif network.startswith("container:") or paths.get("network"):
        join("network", network)
    for kind in ("ipc", "pid", "uts"):
        mode = getattr(options, kind)
        if mode == "host":
            drop(kind)
        elif mode.startswith(("container:", "ns:")):
            join(kind, mode)
    if options.cgroupns == "private" or (options.cgroupns == "" and v2):
        namespaces.append({"type": "cgroup"})
    return namespaces


def _depth(mount: Mapping[str, Any]) -> int:
    return len(clean_path(mount["destination"]).split("/"))


def _mounts(
    options: ContainerOptions,
    extra_mounts: Iterable[Mapping[str, Any]],
    init_mount: dict[str, Any] | None,
    shm_source: str | None,
) -> list[dict[str, Any]]:
    """moby's ``WithMounts``: the caller's and the tmpfs mounts, sorted by depth (stable),
    come after Docker's defaults; a default at a destination the user mounts is dropped,
    and every /dev/* default when the user mounts /dev; /dev/shm goes with ``--ipc none``
    (and ``host``, ``container:X``: the caller's shm is bound there); a read-only root
    makes every other non-user mount read-only; ``--privileged`` makes /sys and the cgroup
    mount writable."""
    user = [dict(m) for m in extra_mounts]
    if options.ipc == "host":
        user.append(bind_mount("/dev/shm", "/dev/shm"))
    elif options.ipc.startswith("container:") and shm_source:
        user.append(bind_mount(shm_source, "/dev/shm"))
    user += [tmpfs_mount(dest, data) for dest, data in options.tmpfs.items()]
    user += [
        tmpfs_mount(clean_path(m.target), tmpfs_data(m))
        for m in [*options.volumes, *options.mounts]
        if m.type == "tmpfs"
    ]
    user.sort(key=_depth)
    user_destinations = {m["destination"] for m in user}
    shm_size = options.shm_size or DEFAULT_SHM_SIZE

    mounts = []
    defaults = default_mounts() + ([init_mount] if init_mount else [])
    for mount in defaults:
        destination = mount["destination"]
        if destination in user_destinations:
            continue
        if "/dev" in user_destinations and destination.startswith("/dev/"):
            continue
        if destination == "/dev/shm":
            if options.ipc == "none" or options.ipc.startswith("container:"):
                continue
            mount["options"].append(f"size={shm_size}")
        mounts.append(mount)
    mounts += user

    if options.read_only:
        keep = ("/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev")
        for mount in mounts:
            if mount["destination"] in keep or mount["destination"] in user_destinations:
                continue
            if "ro" not in mount.setdefault("options", []):
                mount["options"].append("ro")
    if options.privileged:
        for mount in mounts:
            if mount["destination"] == "/sys" or mount["type"] == "cgroup":
                mount["options"] = [o for o in mount.get("options", []) if o != "ro"]
    return mounts


def _sysctls(options: ContainerOptions) -> dict[str, str]:
    sysctls: dict[str, str] = {}
    if options.domainname and options.uts != "host":
        sysctls["kernel.domainname"] = options.domainname
    # Docker's defaults for a network namespace of the container's own (not one it joins:
    # another container's, or a pod's, whose own settings stay).
    if options.network != "host" and not options.network.startswith(("container:", "ns:")):
        if os.path.exists("/proc/sys/net/ipv4/ping_group_range"):
            sysctls["net.ipv4.ping_group_range"] = "0 2147483647"
        if os.path.exists("/proc/sys/net/ipv4/ip_unprivileged_port_start"):
            sysctls["net.ipv4.ip_unprivileged_port_start"] = "0"
    sysctls.update(options.sysctls)
    return sysctls


def build_spec(
    image_config: Mapping[str, Any],
    options: ContainerOptions,
    rootfs: str,
    container_id: str,
    extra_mounts: Iterable[Mapping[str, Any]] = (),
    *,
    user: ResolvedUser | None = None,
    namespace_paths: Mapping[str, str] | None = None,
    shm_source: str | None = None,
    init_path: str | None = None,
    cgroup_parent: str = DEFAULT_CGROUP_PARENT,
    arch: str | None = None,
    kernel: tuple[int, int] | None = None,
    nofile_hard: int | None = -1,
    unified_cgroups: bool | None = None,
) -> dict[str, Any]:
    """The OCI config of a container, as Docker 28 would write it (see the module doc).

    It makes the checks Docker makes at start (unknown capabilities, tmpfs options,
    devices, "No command specified"); the create-time ones are ``options.validate()``,
    the caller's to run when the container is created.

    ``image_config`` is the image's config JSON (or its ``config`` object); ``rootfs``
    the mounted root filesystem, where /etc/passwd and /etc/group are read (safely, see
    ``userinfo``) unless ``user`` is given resolved; ``extra_mounts`` the caller's OCI
    mounts (volumes, binds through ``mount_for``, /etc/hosts, /etc/hostname,
    /etc/resolv.conf, secrets). ``namespace_paths`` maps ``network``/``ipc``/``pid`` to
    the namespace a ``container:X`` mode (or a prepared network namespace) joins, and
    ``shm_source`` is the /dev/shm to bind for ``--ipc container:X``. The rest is for
    tests: ``arch``/``kernel`` of the seccomp profile, ``nofile_hard`` (default: this
    host's; None: no clamp), ``unified_cgroups`` (default: this host's).
    """
    image = _image_settings(image_config)
    paths = dict(namespace_paths or {})
    v2 = cgroup_v2() if unified_cgroups is None else unified_cgroups
    hard = _host_nofile_hard() if nofile_hard == -1 else nofile_hard

    args = command_line(image, options)
    workdir = options.workdir or image.get("WorkingDir") or ""
    if workdir and not workdir.startswith("/"):
        raise InvalidArgument(
            f"the working directory '{workdir}' is invalid, it needs to be an absolute path"
        )
    cwd = clean_path(workdir) if workdir else "/"
    if user is None:
        user = resolve_user_in_rootfs(
            rootfs, options.user or image.get("User") or "", options.group_add
        )

    if options.hostname:
        hostname = options.hostname
    elif options.network == "host":
        hostname = os.uname().nodename
    else:
        hostname = container_id[:12]
    defaults = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    if options.tty:
        defaults.append("TERM=xterm")
    env = replace_or_append_env(defaults, merge_env(options.env, image.get("Env") or []))
    if not any(env_key(e) == "HOME" for e in env):
        env.append(f"HOME={user.home}")

    init_mount = None
    if (options.init or False) and options.pid in ("", "private"):
        args = [INIT_PATH_IN_CONTAINER, "--", *args]
        init_mount = {
            "destination": INIT_PATH_IN_CONTAINER,
            "type": "bind",
            "source": find_init_binary(init_path),
            "options": ["bind", "ro"],
        }

    capabilities = _capabilities(options)
    security = options.security_options
    process: dict[str, Any] = {
        "user": user.oci(),
        "args": args,
        "env": env,
        "cwd": cwd,
        # Only root keeps effective and permitted capabilities (Docker since 20.10.14:
        # another user gets the bounding set alone, CVE-2022-24769).
        "capabilities": {"bounding": list(capabilities)}
        if user.uid != 0
        else {
            "bounding": list(capabilities),
            "effective": list(capabilities),
            "permitted": list(capabilities),
        },
        "oomScoreAdj": options.oom_score_adj,
    }
    rlimits = _rlimits(options, hard)
    if rlimits:
        process["rlimits"] = rlimits
    if security.no_new_privileges:
        process["noNewPrivileges"] = True
    if options.tty:
        process["terminal"] = True

    devices, device_rules = _devices(options)
    limits = resources(options)
    limits["devices"] = device_rules
    linux: dict[str, Any] = {
        "sysctl": _sysctls(options),
        "resources": limits,
        "cgroupsPath": os.path.join(options.cgroup_parent or cgroup_parent, container_id),
        "namespaces": _namespaces(options, paths, v2),
    }
    if devices:
        linux["devices"] = devices
    if not options.privileged:
        masked = MASKED_PATHS if security.masked_paths is None else security.masked_paths
        readonly = READONLY_PATHS if security.readonly_paths is None else security.readonly_paths
        if masked:
            linux["maskedPaths"] = list(masked)
        if readonly:
            linux["readonlyPaths"] = list(readonly)
    seccomp = _seccomp(options, capabilities, arch, kernel)
    if seccomp is not None:
        linux["seccomp"] = seccomp

    spec: dict[str, Any] = {
        "ociVersion": SPEC_VERSION,
        "process": process,
        "root": {"path": rootfs, **({"readonly": True} if options.read_only else {})},
        "hostname": "" if options.uts == "host" else hostname,
        "mounts": _mounts(options, extra_mounts, init_mount, shm_source),
        "linux": linux,
    }
    if spec["hostname"] == "":
        del spec["hostname"]
    if options.annotations:
        spec["annotations"] = dict(options.annotations)
    return spec
