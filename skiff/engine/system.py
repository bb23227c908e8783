"""System-wide facts and housekeeping: Docker's ``info`` and ``version`` objects, disk
usage, and pruning stopped containers. Nothing here prints: the CLI and the API present
these values.

``info`` answers in Docker's ``SystemInfo`` shape (GET /info, API 1.45), keys in the order
dockerd writes them; everything in it is read from the host or the store when asked (skiff
has no daemon whose start-up state could go stale). ``version`` is the ``Server`` part of
``docker version`` (GET /version). ``disk_usage`` is ``system df`` per type (images,
containers, volumes, build cache), each with its totals: images in the bytes their blobs
and layers take on disk (skiff.images.inspect), containers' writable layers and volumes
in the bytes of their files (dockerd's ``directory.Size``).
"""

from __future__ import annotations

import os
import sys
import time

from skiff import __version__
from skiff.engine.engine import DEFAULT_RUNTIME, RUNTIMES, find_runtime
from skiff.engine.filesystem import ContainerFiles
from skiff.errors import Conflict, InvalidArgument, NotFound, SkiffError
from skiff.linux.mount import unescape_mountinfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.engine.containers import Container
    from skiff.engine.engine import Engine
    from skiff.paths import Paths

API_VERSION = "1.45"
MIN_API_VERSION = "1.24"
STORAGE_DRIVER = "overlay2"
LOGGING_DRIVER = "json-file"
CGROUP_DRIVER = "cgroupfs"
INIT_BINARY = "docker-init"  # tini, run by --init (skiff.engine.spec.find_init_binary)
PLUGINS = {
    "Volume": ["local"],
    "Network": ["bridge", "host", "null"],
    "Authorization": None,
    "Log": [LOGGING_DRIVER],
}
CONTAINER_PRUNE_FILTERS = ("label", "label!", "until")

# Docker's names of backing filesystems (graphdriver.FsNames) where they differ from
# the kernel's.
_FS_NAMES = {"ext2": "extfs", "ext3": "extfs", "ext4": "extfs", "overlay": "overlayfs"}


# --- host facts -------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def os_release(path: str = "/etc/os-release") -> dict[str, str]:
    """/etc/os-release as a dict (quotes removed)."""
    values: dict[str, str] = {}
    for line in _read(path).splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            values[key.strip()] = value
    return values


def backing_filesystem(path: str, mountinfo: str = "/proc/self/mountinfo") -> str:
    """The filesystem ``path`` lives on (its nearest existing parent's), in Docker's names:
    ``extfs``, ``xfs``, ``btrfs``, ``tmpfs``..."""
    path = os.path.realpath(path)
    while not os.path.exists(path) and path != "/":
        path = os.path.dirname(path)
    best, fstype = "", "unknown"
    for line in _read(mountinfo).splitlines():
        fields, _, rest = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 5 or not rest:
            continue
        mountpoint = unescape_mountinfo(parts[4])
        inside = path == mountpoint or path.startswith(mountpoint.rstrip("/") + "/")
        if inside and len(mountpoint) >= len(best):
            best, fstype = mountpoint, rest.split()[0]
    return _FS_NAMES.get(fstype, fstype)


def cgroup_features() -> dict[str, Any]:
    """What the cgroups can limit: dockerd's sysinfo checks, by version.

    Keys: ``version`` ("1" or "2") and the SystemInfo booleans (MemoryLimit, SwapLimit,
    KernelMemoryTCP, CpuCfsPeriod, CpuCfsQuota, CPUShares, CPUSet, PidsLimit,
    OomKillDisable). v1 looks for each control file at its hierarchy's mountpoint; v2 for
    each controller in the root's cgroup.controllers (swap: a memory.swap.max below it).
    """
    from skiff.cgroups import hierarchies, mode

    found = hierarchies()
    if mode(found) == "unified":
        root = next(h.mountpoint for h in found if h.version == 2)
        controllers = set(_read(os.path.join(root, "cgroup.controllers")).split())
        memory = "memory" in controllers
        return {
            "version": "2",
            "MemoryLimit": memory,
            "SwapLimit": memory and _swap_accounted_v2(root),
            "KernelMemoryTCP": False,
            "CpuCfsPeriod": "cpu" in controllers,
            "CpuCfsQuota": "cpu" in controllers,
            "CPUShares": "cpu" in controllers,
            "CPUSet": "cpuset" in controllers,
            "PidsLimit": "pids" in controllers,
            "OomKillDisable": False,  # v2 has no memory.oom_control
        }
    mounts = {c: h.mountpoint for h in found if h.version == 1 for c in h.controllers}

    def has(controller: str, name: str = "") -> bool:
        point = mounts.get(controller)
        return point is not None and (not name or os.path.exists(os.path.join(point, name)))

    return {
        "version": "1",
        "MemoryLimit": has("memory"),
        "SwapLimit": has("memory", "memory.memsw.limit_in_bytes"),
        "KernelMemoryTCP": has("memory", "memory.kmem.tcp.limit_in_bytes"),
        "CpuCfsPeriod": has("cpu", "cpu.cfs_period_us"),
        "CpuCfsQuota": has("cpu", "cpu.cfs_quota_us"),
        "CPUShares": has("cpu", "cpu.shares"),
        "CPUSet": has("cpuset"),
        "PidsLimit": has("pids"),
        "OomKillDisable": has("memory", "memory.oom_control"),
    }


def _swap_accounted_v2(root: str) -> bool:
    """memory.swap.max exists in non-root cgroups when the kernel accounts swap."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return False
    return any(
        e.is_dir(follow_symlinks=False) and os.path.exists(os.path.join(e.path, "memory.swap.max"))
        for e in entries
    )


def _cgroup_warnings(features: dict[str, Any]) -> list[str]:
    """dockerd's warnings for the limits the host cannot apply."""
    checks = [
        ("MemoryLimit", "WARNING: No memory limit support"),
        ("SwapLimit", "WARNING: No swap limit support"),
        ("CpuCfsQuota", "WARNING: No cpu cfs quota support"),
        ("CpuCfsPeriod", "WARNING: No cpu cfs period support"),
        ("CPUShares", "WARNING: No cpu shares support"),
        ("CPUSet", "WARNING: No cpuset support"),
    ]
    if features["version"] == "1":
        checks[2:2] = [
            ("KernelMemoryTCP", "WARNING: No kernel memory TCP limit support"),
            ("OomKillDisable", "WARNING: No oom kill disable support"),
        ]
    return [message for key, message in checks if not features[key]]


def masked_proxy(value: str) -> str:
    """A proxy URL with its credentials masked, as dockerd reports HTTP_PROXY."""
    scheme, sep, rest = value.partition("://")
    if not sep or "@" not in rest.partition("/")[0]:
        return value
    userinfo, _, host = rest.partition("@")
    masked = "xxxxx:xxxxx" if ":" in userinfo else "xxxxx"
    return f"{scheme}://{masked}@{host}"


def _proxy_env(name: str) -> str:
    return masked_proxy(os.environ.get(name) or os.environ.get(name.lower()) or "")


def tool_version(binary: str) -> tuple[str, str]:
    """(version, git commit) from ``BINARY --version``, as dockerd parses runc's, tini's
    (``tini version 0.19.0 - git.de40ad0``) and conmon's output; ("", "") if it fails."""
    import subprocess

    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "", ""
    version = commit = ""
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] == "version" and not version:
            version = words[2]
            if len(words) >= 5 and words[3] == "-" and words[4].startswith("git."):
                commit = words[4].removeprefix("git.")
        elif words[:1] == ["commit:"] and len(words) > 1:
            commit = words[1]
    return version, commit


def git_commit() -> str:
    """The commit of a source checkout skiff runs from (short hash), else ""."""
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    git = os.path.join(top, ".git")
    head = _read(os.path.join(git, "HEAD"))
    if not head.startswith("ref: "):
        return head[:7]
    ref = head[5:]
    sha = _read(os.path.join(git, ref))
    if not sha:
        for line in _read(os.path.join(git, "packed-refs")).splitlines():
            if line.endswith(" " + ref):
                sha = line.split()[0]
    return sha[:7]


def build_time() -> float | None:
    """When this skiff was installed (its dist-info's time), else None."""
    name = f"skiff-{__version__}.dist-info"
    for entry in sys.path:
        try:
            return os.stat(os.path.join(entry or ".", name)).st_mtime
        except OSError:
            continue
    return None


def engine_id(paths: Paths) -> str:
    """This installation's ID (a UUID kept in ROOT/engine-id, made on first use)."""
    import uuid

    path = os.path.join(paths.root, "engine-id")
    known = _read(path)
    if known:
        return known
    os.makedirs(paths.root, exist_ok=True)
    temp = f"{path}.{os.getpid()}"
    with open(temp, "w") as f:
        f.write(str(uuid.uuid4()) + "\n")
    try:
        os.link(temp, path)  # the first writer wins; the others read its ID
    except FileExistsError:
        pass
    finally:
        os.unlink(temp)
    return _read(path)


def installed_runtimes() -> dict[str, dict[str, str]]:
    """The runtimes ``--runtime`` can select that are installed: name -> {"path": ...}."""
    found = {}
    for name in sorted(RUNTIMES):
        try:
            found[name] = {"path": find_runtime(name)}
        except SkiffError:
            continue
    return found


def go_arch() -> str:
    """The architecture as Go names it (GOARCH: ``amd64``, ``arm64``)."""
    from skiff.engine.seccomp_profile import native_arch

    return native_arch()


def _local_time(unix_time: float) -> str:
    from skiff.images.inspect import local_rfc3339_nano

    return local_rfc3339_nano(unix_time)


# --- info -------------------------------------------------------------------------------


def container_counts(engine: Engine) -> dict[str, int]:
    """Containers, ContainersRunning, ContainersPaused, ContainersStopped."""
    running = paused = total = 0
    for container in engine.containers.all():
        total += 1
        if container.state.get("Paused"):
            paused += 1
        elif container.state.get("Running"):
            running += 1
    return {
        "Containers": total,
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": total - running - paused,
    }


def security_options(cgroup_version: str) -> list[str]:
    """What isolates every container by default: seccomp (Docker's profile, built in),
    a private cgroup namespace on v2; ``rootless`` when skiff runs as a user."""
    options = ["name=seccomp,profile=builtin"]
    if os.geteuid() != 0:
        options.append("name=rootless")
    if cgroup_version == "2":
        options.append("name=cgroupns")
    return options


def info(engine: Engine, debug: bool = False) -> dict[str, Any]:
    """Docker's SystemInfo (GET /info), keys in dockerd's order."""
    from skiff.engine.spec import find_init_binary

    paths = engine.paths
    cgroups = cgroup_features()
    uname = os.uname()
    release = os_release()
    runtime_version, runtime_commit = __version__, git_commit()
    try:
        init_commit = tool_version(find_init_binary())[1]
    except SkiffError:
        init_commit = "N/A"
    ipv4_forwarding = _read("/proc/sys/net/ipv4/ip_forward") == "1"
    metacopy = _read("/sys/module/overlay/parameters/metacopy") == "Y"
    warnings = _cgroup_warnings(cgroups)
    if not ipv4_forwarding:
        warnings.append("WARNING: IPv4 forwarding is disabled")
    facts: dict[str, Any] = {
        "ID": engine_id(paths),
        **container_counts(engine),
        "Images": len(engine.images.images()),
        "Driver": STORAGE_DRIVER,
        "DriverStatus": [
            ["Backing Filesystem", backing_filesystem(paths.root)],
            ["Using metacopy", "true" if metacopy else "false"],
            ["Native Overlay Diff", "true"],
            ["userxattr", "false"],
        ],
        "Plugins": {k: list(v) if v is not None else None for k, v in PLUGINS.items()},
        "MemoryLimit": cgroups["MemoryLimit"],
        "SwapLimit": cgroups["SwapLimit"],
    }
    if cgroups["KernelMemoryTCP"]:
        facts["KernelMemoryTCP"] = True
    facts |= {
        "CpuCfsPeriod": cgroups["CpuCfsPeriod"],
        "CpuCfsQuota": cgroups["CpuCfsQuota"],
        "CPUShares": cgroups["CPUShares"],
        "CPUSet": cgroups["CPUSet"],
        "PidsLimit": cgroups["PidsLimit"],
        "OomKillDisable": cgroups["OomKillDisable"],
        "IPv4Forwarding": ipv4_forwarding,
        "BridgeNfIptables": _read("/proc/sys/net/bridge/bridge-nf-call-iptables") == "1",
        "BridgeNfIp6tables": _read("/proc/sys/net/bridge/bridge-nf-call-ip6tables") == "1",
        "Debug": debug,
        "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": _thread_count(),
        "SystemTime": _local_time(time.time()),
        "LoggingDriver": LOGGING_DRIVER,
        "CgroupDriver": CGROUP_DRIVER,
        "CgroupVersion": cgroups["version"],
        "NEventsListener": 0,
        "KernelVersion": uname.release,
        "OperatingSystem": release.get("PRETTY_NAME") or "Linux",
        "OSVersion": release.get("VERSION_ID", ""),
        "OSType": "linux",
        "Architecture": uname.machine,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "IndexConfigs": {
                "docker.io": {
                    "Name": "docker.io",
                    "Mirrors": [],
                    "Secure": True,
                    "Official": True,
                }
            },
            "InsecureRegistryCIDRs": ["::1/128", "127.0.0.0/8"],
            "Mirrors": [],
        },
        "NCPU": len(os.sched_getaffinity(0)),
        "MemTotal": os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"),
        "GenericResources": None,
        "DockerRootDir": paths.root,
        "HttpProxy": _proxy_env("HTTP_PROXY"),
        "HttpsProxy": _proxy_env("HTTPS_PROXY"),
        "NoProxy": os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or "",
        "Name": uname.nodename,
        "Labels": [],
        "ExperimentalBuild": False,
        "ServerVersion": __version__,
        "Runtimes": installed_runtimes(),
        "DefaultRuntime": DEFAULT_RUNTIME,
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": False,
            "Error": "",
            "RemoteManagers": None,
        },
        # Containers run under their own monitor (conmon), never under a daemon: they
        # keep running whatever happens to the command that started them.
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": INIT_BINARY,
        "ContainerdCommit": {"ID": ""},  # no containerd: conmon and the runtime
        "RuncCommit": {"ID": runtime_commit or runtime_version},
        "InitCommit": {"ID": init_commit},
        "SecurityOptions": security_options(cgroups["version"]),
        "CDISpecDirs": [],
        "Warnings": warnings or None,
    }
    return facts


def _thread_count() -> int:
    import threading

    return threading.active_count()


# --- version ----------------------------------------------------------------------------


def python_version() -> str:
    """The interpreter, as Go reports itself (``go1.22.1``): ``python3.11.2``."""
    import platform

    return "python" + platform.python_version()


def server_version() -> dict[str, Any]:
    """Docker's SystemVersion (GET /version): the engine and what runs containers (the
    default runtime, the monitor, the init)."""
    from skiff.engine.spec import find_init_binary

    built = build_time()
    built_text = _local_time(built) if built is not None else ""
    commit = git_commit()
    arch = go_arch()
    kernel = os.uname().release
    engine = {
        "Name": "Engine",
        "Version": __version__,
        "Details": {
            "ApiVersion": API_VERSION,
            "Arch": arch,
            "BuildTime": built_text,
            "Experimental": "false",
            "GitCommit": commit,
            "GoVersion": python_version(),
            "KernelVersion": kernel,
            "MinAPIVersion": MIN_API_VERSION,
            "Os": "linux",
        },
    }
    components = [engine]
    components.append(
        {"Name": DEFAULT_RUNTIME, "Version": __version__, "Details": {"GitCommit": commit}}
    )
    import shutil

    conmon = shutil.which("conmon")
    if conmon:
        version, conmon_commit = tool_version(conmon)
        components.append(
            {"Name": "conmon", "Version": version, "Details": {"GitCommit": conmon_commit}}
        )
    try:
        version, init_commit = tool_version(find_init_binary())
        components.append(
            {"Name": INIT_BINARY, "Version": version, "Details": {"GitCommit": init_commit}}
        )
    except SkiffError:
        pass
    return {
        "Platform": {"Name": ""},
        "Components": components,
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": commit,
        "GoVersion": python_version(),
        "Os": "linux",
        "Arch": arch,
        "KernelVersion": kernel,
        "BuildTime": built_text,
    }


# --- disk usage -------------------------------------------------------------------------


def container_size(paths: Paths, container_id: str) -> int:
    """Docker's SizeRw of a container: the files of its writable layer."""
    from skiff.engine.inspect import writable_size

    return writable_size(ContainerFiles(paths, container_id).upper)


def is_active(container: Container) -> bool:
    """Running, paused or restarting: what ``system df`` and prune leave alone."""
    state = container.state
    return bool(state.get("Running") or state.get("Paused") or state.get("Restarting"))


def _usage(items: list[Any], total: int, active: int, reclaimable: int) -> dict[str, Any]:
    return {
        "TotalCount": len(items),
        "ActiveCount": active,
        "TotalSize": total,
        "Reclaimable": reclaimable,
        "Items": items,
    }


DISK_USAGE_TYPES = ("container", "image", "volume", "build-cache")


def disk_usage(
    engine: Engine, types: tuple[str, ...] = DISK_USAGE_TYPES
) -> dict[str, dict[str, Any]]:
    """``system df``: Images, Containers, Volumes and BuildCache, each with TotalCount,
    ActiveCount, TotalSize and Reclaimable (bytes) and its Items: ImageSummary rows (with
    SharedSize and Containers), ``{"Container": Container, "SizeRw": bytes}``, volumes.
    Only the ``types`` asked for are measured (GET /system/df?type=): the others are
    empty."""
    from skiff.images.inspect import disk_usage as image_usage

    for kind in types:
        if kind not in DISK_USAGE_TYPES:
            raise InvalidArgument(f"unknown object type: {kind}")
    containers = engine.containers.all() if {"container", "image"} & set(types) else []
    usage = {key: _usage([], 0, 0, 0) for key in ("Images", "Containers", "Volumes", "BuildCache")}
    if "image" in types:
        users: dict[str, list[str]] = {}
        for container in containers:
            users.setdefault(container.image_id, []).append(container.id)
        images = image_usage(engine.images, lambda image_id: users.get(image_id, []))
        usage["Images"] = _usage(
            images["Images"], images["Size"], images["Active"], images["Reclaimable"]
        )
    if "container" in types:
        rows = []
        total = reclaimable = active = 0
        for container in containers:
            size = container_size(engine.paths, container.id)
            rows.append({"Container": container, "SizeRw": size})
            total += size
            if is_active(container):
                active += 1
            else:
                reclaimable += size
        usage["Containers"] = _usage(rows, total, active, reclaimable)
    if "volume" in types:
        usage["Volumes"] = volume_usage(engine)
    return usage


def volume_usage(engine: Engine) -> dict[str, Any]:
    """The Volumes part of ``system df``: items ``{"Volume": Volume, "Size": bytes,
    "RefCount": containers using it}``; a volume no container uses is reclaimable."""
    from skiff.storage.volumes import disk_usage

    store = engine.volumes
    items = []
    total = active = reclaimable = 0
    for volume in store.list():
        size = disk_usage(volume.mountpoint)
        users = len(store.users(volume.name))
        items.append({"Volume": volume, "Size": size, "RefCount": users})
        total += size
        if users:
            active += 1
        else:
            reclaimable += size
    return _usage(items, total, active, reclaimable)


# --- prune ------------------------------------------------------------------------------


def prune_containers(
    engine: Engine, filters: dict[str, list[str]] | None = None
) -> tuple[list[str], int]:
    """``container prune``: remove every container that is not running, paused or
    restarting, matching the filters as dockerd reads them: ``until`` (created before a
    time, a duration before now or a timestamp), ``label`` and ``label!``. The IDs
    removed and the bytes their writable layers held.

    A container that starts while this runs is left alone (remove refuses it)."""
    from skiff.engine.listing import Facts, labels
    from skiff.images.inspect import check_filters, match_labels

    filters = filters or {}
    check_filters(filters, CONTAINER_PRUNE_FILTERS)
    until = prune_until(filters.get("until") or [])
    facts = Facts(engine.containers, engine.images)
    removed: list[str] = []
    freed = 0
    for container in engine.containers.all():
        if is_active(container):
            continue
        if until is not None and container.created > until:
            continue
        found = labels(container, facts)
        if not match_labels(filters, "label", found):
            continue
        if filters.get("label!") and match_labels(filters, "label!", found):
            continue
        size = container_size(engine.paths, container.id)
        try:
            engine.remove(container.id)
        except (Conflict, NotFound):
            continue
        removed.append(container.id)
        freed += size
    return removed, freed


def prune_until(values: list[str]) -> float | None:
    """A prune's ``until`` filter (at most one) as unix time, with dockerd's messages."""
    from skiff.engine.timestamps import TimeValueError, parse_time

    if len(values) > 1:
        raise InvalidArgument("more than one until filter specified")
    if not values:
        return None
    try:
        return parse_time(values[0]) / 1e9
    except TimeValueError as e:
        raise InvalidArgument(str(e)) from None
