"""Containers as Docker's Engine API shows them: the ``container inspect`` document
(``ContainerInspectResponse`` of API 1.45, GET /containers/{id}/json) and the views of a
container's state that ``ps`` shares with it (State, the status line, the command).

The document is built from what the store keeps: the options ``create`` was given (Docker's
``Config`` and ``HostConfig`` flattened, see :mod:`skiff.engine.options`), the state
(Docker's ``State``, plus ``Path``/``Args`` fixed at create, as Docker fixes them), the
image's config (merged into ``Config`` as Docker's daemon merges it at create), the
container's mounts and its files on disk. Keys are in Go's struct order and omitted where
Docker's JSON omits them (``omitempty``), so the JSON reads as dockerd's; what skiff does
not set has Docker's default. Checked against a real dockerd by
``tests/interop/test_container_inspect_oracle.py``.

``NetworkSettings`` shows what start recorded in the state (skiff.engine.networking): the
endpoints by network, the sandbox (the pinned network namespace) and the published ports
(``Ports``, Docker's ``PortMap``); the top-level address fields are the default bridge
network's, as Docker's.

This module imports only what ``ps`` needs at its top: the inspect document imports the
rest when it is built.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from skiff.engine.containers import Container
    from skiff.engine.engine import Engine
    from skiff.engine.filesystem import ContainerFiles
    from skiff.images.service import Image

ZERO_TIME = "0001-01-01T00:00:00Z"
STORAGE_DRIVER = "overlay2"

# Docker's State, in Go's order, with a new container's values.
STATE_FIELDS: tuple[tuple[str, Any], ...] = (
    ("Status", "created"),
    ("Running", False),
    ("Paused", False),
    ("Restarting", False),
    ("OOMKilled", False),
    ("Dead", False),
    ("Pid", 0),
    ("ExitCode", 0),
    ("Error", ""),
    ("StartedAt", ZERO_TIME),
    ("FinishedAt", ZERO_TIME),
)

# Docker's EndpointSettings (API 1.45) of a network the container has no endpoint in yet.
EMPTY_ENDPOINT: dict[str, Any] = {
    "IPAMConfig": None,
    "Links": None,
    "Aliases": None,
    "MacAddress": "",
    "DriverOpts": None,
    "NetworkID": "",
    "EndpointID": "",
    "Gateway": "",
    "IPAddress": "",
    "IPPrefixLen": 0,
    "IPv6Gateway": "",
    "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0,
    "DNSNames": None,
}


# --- the state ---------------------------------------------------------------------------


def state_document(state: Mapping[str, Any]) -> dict[str, Any]:
    """Docker's ``State`` object of a container's recorded state; ``Health`` when the
    container's health check has recorded one (from its first start on)."""
    document = {key: state.get(key, default) for key, default in STATE_FIELDS}
    if state.get("Health"):
        document["Health"] = state["Health"]
    return document


def state_name(state: Mapping[str, Any]) -> str:
    """Docker's ``StateString``: created, running, paused, restarting, exited or dead."""
    if state.get("Running"):
        if state.get("Paused"):
            return "paused"
        if state.get("Restarting"):
            return "restarting"
        return "running"
    if state.get("Dead"):
        return "dead"
    if _is_zero_time(state.get("StartedAt")):
        return "created"
    return "exited"


def health_status(state: Mapping[str, Any]) -> str:
    """The health ``ps`` filters on: the recorded status, ``none`` without a check."""
    health = state.get("Health")
    return str(health.get("Status") or "none") if health else "none"


def status_text(state: Mapping[str, Any], now: float) -> str:
    """Docker's status line (``State.String``): ``Up 3 seconds``, ``Up 2 minutes
    (healthy)``, ``Up 5 seconds (Paused)``, ``Restarting (1) 2 seconds ago``, ``Exited (0)
    5 seconds ago``, ``Created``, ``Dead``."""
    # go-units' HumanDuration; it lives with the CLI's formats, whose other users it has.
    from skiff.units import human_duration

    if state.get("Running"):
        if state.get("Paused"):
            return f"Up {human_duration(now - _seconds(state.get('StartedAt')))} (Paused)"
        if state.get("Restarting"):
            ago = human_duration(now - _seconds(state.get("FinishedAt")))
            return f"Restarting ({state.get('ExitCode', 0)}) {ago} ago"
        up = f"Up {human_duration(now - _seconds(state.get('StartedAt')))}"
        health = state.get("Health")
        if health:
            status = str(health.get("Status") or "")
            return f"{up} (health: starting)" if status == "starting" else f"{up} ({status})"
        return up
    if state.get("Dead"):
        return "Dead"
    if _is_zero_time(state.get("StartedAt")):
        return "Created"
    if _is_zero_time(state.get("FinishedAt")):
        return ""
    ago = human_duration(now - _seconds(state.get("FinishedAt")))
    return f"Exited ({state.get('ExitCode', 0)}) {ago} ago"


def command_text(state: Mapping[str, Any]) -> str:
    """The ``COMMAND`` of ``ps``: Path and Args, an argument with a space in single quotes
    (moby's container view)."""
    args = [f"'{arg}'" if " " in arg else arg for arg in state.get("Args") or []]
    return " ".join([str(state.get("Path") or ""), *args]) if args else str(state.get("Path") or "")


def _is_zero_time(text: Any) -> bool:
    return not text or str(text).startswith("0001-01-01")


def _seconds(text: Any) -> float:
    from skiff.engine.logs import nanos

    return 0.0 if _is_zero_time(text) else nanos(str(text).encode()) / 1e9


# --- networks ----------------------------------------------------------------------------


def network_mode(network: str) -> str:
    """``HostConfig.NetworkMode``: the ``--network`` given, ``bridge`` by default."""
    return network or "bridge"


def networks(container: Container) -> dict[str, Any]:
    """``NetworkSettings.Networks``: recorded endpoints, else the mode's network with an
    empty endpoint (none for ``container:X``, which has no network of its own)."""
    recorded = container.state.get("Networks")
    if recorded is not None:
        return dict(recorded)
    mode = network_mode(container.options.get("network") or "")
    return {} if mode.startswith("container:") else {mode: dict(EMPTY_ENDPOINT)}


def port_map(container: Container) -> dict[str, Any]:
    """``NetworkSettings.Ports``: ``{"80/tcp": [{"HostIp": ..., "HostPort": ...}] or
    None}`` as the network recorded it at start."""
    return dict(container.state.get("Ports") or {})


# --- the inspect document ----------------------------------------------------------------


def inspect_container(engine: Engine, container: Container, size: bool = False) -> dict[str, Any]:
    """Docker's ``ContainerInspectResponse`` of a container; with ``size``, ``SizeRw`` (the
    bytes of its writable layer) and ``SizeRootFs`` (those and the image's)."""
    from skiff.engine.filesystem import ContainerFiles
    from skiff.engine.options import ContainerOptions
    from skiff.errors import NotFound

    options = ContainerOptions.from_dict(container.options)
    image: Image | None
    try:
        image = engine.images.get(container.image_id)
    except NotFound:
        image = None
    image_config = image.config if image is not None else {}
    files = ContainerFiles(engine.paths, container.id)
    log = engine.monitor_paths(container).log
    state = container.state
    document: dict[str, Any] = {
        "Id": container.id,
        "Created": created_text(container.created),
        "Path": state.get("Path", ""),
        "Args": list(state.get("Args") or []),
        "State": state_document(state),
        "Image": container.image_id,
        "ResolvConfPath": _existing(files.resolv_conf),
        "HostnamePath": _existing(files.hostname),
        "HostsPath": _existing(files.hosts),
        "LogPath": "" if options.log_driver == "none" else _existing(log),
        "Name": "/" + container.name,
        "RestartCount": state.get("RestartCount", 0),
        "Driver": STORAGE_DRIVER,
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": state.get("ExecIDs") or None,
        "HostConfig": host_config(options),
        "GraphDriver": graph_driver(engine, files, image),
    }
    if size:
        document["SizeRw"] = writable_size(files.upper)
        document["SizeRootFs"] = document["SizeRw"] + (image.size if image is not None else 0)
    document["Mounts"] = _mounts(engine, container)
    document["Config"] = config(container, options, image_config.get("config") or {})
    document["NetworkSettings"] = network_settings(container)
    return document


def created_text(created: float) -> str:
    """A container's creation time as Docker writes it (RFC 3339 with nanoseconds, UTC)."""
    from skiff.images.inspect import format_time

    seconds = int(created)
    return format_time((seconds, round((created - seconds) * 1e9) % 10**9, "Z"))


def _existing(path: str) -> str:
    """The path of a file the container has (Docker shows "" until it is written)."""
    return path if os.path.exists(path) else ""


def writable_size(upper: str) -> int:
    """``SizeRw``: the bytes of the files in the container's writable layer (Docker's
    ``directory.Size``: file sizes, a hard-linked file once)."""
    from skiff.storage.volumes import disk_usage

    return disk_usage(upper)


def _mounts(engine: Engine, container: Container) -> list[dict[str, Any]]:
    from skiff.engine.volumes import inspect_mounts

    return inspect_mounts(engine.volumes.mounts(container.id))


def graph_driver(engine: Engine, files: ContainerFiles, image: Image | None) -> dict[str, Any]:
    """overlay2's view of the container's root filesystem: the image's layers below its
    own upper directory."""
    lower = []
    if image is not None:
        root = engine.images.layer_dirs.root
        lower = [
            os.path.join(root, layer["directory"], "diff") for layer in reversed(image.layers())
        ]
    data = {"MergedDir": files.rootfs, "UpperDir": files.upper, "WorkDir": files.work}
    if lower:
        data = {"LowerDir": ":".join(lower), **data}
    return {"Data": data, "Name": STORAGE_DRIVER}


def host_config(options: Any) -> dict[str, Any]:
    """Docker's ``HostConfig`` (API 1.45, Go's field order) of a container's options, with
    the values dockerd fills in where the options leave the choice to it."""
    from skiff.engine.engine import DEFAULT_RUNTIME
    from skiff.engine.options import normalize_capabilities
    from skiff.engine.spec import DEFAULT_SHM_SIZE, MASKED_PATHS, READONLY_PATHS, cgroup_v2
    from skiff.network.ports import port_bindings_config

    security = options.security_options
    restart = options.restart_policy
    masked = security.masked_paths
    readonly = security.readonly_paths
    out: dict[str, Any] = {
        "Binds": _binds(options) or None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": options.log_driver or "json-file", "Config": dict(options.log_opts)},
        "NetworkMode": network_mode(options.network),
        "PortBindings": port_bindings_config(options.publish),
        "RestartPolicy": {"Name": restart.name or "no", "MaximumRetryCount": restart.max_retries},
        "AutoRemove": options.auto_remove,
        "VolumeDriver": "",
        "VolumesFrom": list(options.volumes_from) or None,
        "ConsoleSize": [0, 0],
    }
    if options.annotations:
        out["Annotations"] = dict(options.annotations)
    out |= {
        "CapAdd": normalize_capabilities(options.cap_add, "CapAdd") or None,
        "CapDrop": normalize_capabilities(options.cap_drop, "CapDrop") or None,
        "CgroupnsMode": options.cgroupns or ("private" if cgroup_v2() else "host"),
        "Dns": list(options.dns),
        "DnsOptions": list(options.dns_options),
        "DnsSearch": list(options.dns_search),
        "ExtraHosts": list(options.extra_hosts) or None,
        "GroupAdd": list(options.group_add) or None,
        "IpcMode": options.ipc or "private",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": options.oom_score_adj,
        "PidMode": options.pid,
        "Privileged": options.privileged,
        "PublishAllPorts": options.publish_all,
        "ReadonlyRootfs": options.read_only,
        "SecurityOpt": security_opt(options),
    }
    if options.tmpfs:
        out["Tmpfs"] = dict(options.tmpfs)
    out |= {
        "UTSMode": options.uts,
        "UsernsMode": options.userns,
        "ShmSize": options.shm_size or DEFAULT_SHM_SIZE,
    }
    if options.sysctls:
        out["Sysctls"] = dict(options.sysctls)
    out |= {
        "Runtime": options.runtime or DEFAULT_RUNTIME,
        "Isolation": "",
        # Resources
        "CpuShares": options.cpu_shares,
        "Memory": options.memory,
        "NanoCpus": options.nano_cpus,
        "CgroupParent": options.cgroup_parent,
        "BlkioWeight": options.blkio_weight,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": options.cpu_period,
        "CpuQuota": options.cpu_quota,
        "CpuRealtimePeriod": options.cpu_rt_period,
        "CpuRealtimeRuntime": options.cpu_rt_runtime,
        "CpusetCpus": options.cpuset_cpus,
        "CpusetMems": options.cpuset_mems,
        "Devices": [
            {
                "PathOnHost": device.path_on_host,
                "PathInContainer": device.path_in_container,
                "CgroupPermissions": device.permissions,
            }
            for device in options.devices
        ],
        "DeviceCgroupRules": list(options.device_cgroup_rules) or None,
        "DeviceRequests": None,
        "MemoryReservation": options.memory_reservation,
        # dockerd's default swap: as much again as the memory limit
        "MemorySwap": options.memory * 2
        if options.memory > 0 and options.memory_swap == 0
        else options.memory_swap,
        "MemorySwappiness": None if options.memory_swappiness == -1 else options.memory_swappiness,
        "OomKillDisable": options.oom_kill_disable,
        "PidsLimit": options.pids_limit or None,
        "Ulimits": [
            {"Name": ulimit.name, "Hard": ulimit.hard, "Soft": ulimit.soft}
            for ulimit in options.ulimits
        ],
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
    }
    if options.mounts:
        out["Mounts"] = [api_mount(mount) for mount in options.mounts]
    out["MaskedPaths"] = (
        None if options.privileged else list(MASKED_PATHS if masked is None else masked)
    )
    out["ReadonlyPaths"] = (
        None if options.privileged else list(READONLY_PATHS if readonly is None else readonly)
    )
    if options.init is not None:
        out["Init"] = options.init
    return out


def _binds(options: Any) -> list[str]:
    """``-v`` binds and named volumes as given (an anonymous ``-v /path`` is a
    ``Config.Volumes`` entry instead); a relative bind source made absolute, as the docker
    CLI sends it."""
    binds = []
    for spec in options.volumes:
        if not spec.source:
            continue
        text = spec.raw
        if spec.type == "bind" and not text.startswith("/"):
            text = spec.source + ":" + text.partition(":")[2]
        binds.append(text)
    return binds


def security_opt(options: Any) -> list[str] | None:
    """``--security-opt`` as dockerd keeps it (the seccomp file's JSON, not its name), then
    ``label=disable`` where dockerd adds it (privileged, or the host's pid or ipc
    namespace); null without any, [] when only ``systempaths=unconfined`` was given."""
    security = options.security
    opts: list[str] = []
    if security is not None:
        opts += [f"label={label}" for label in security.labels]
        if security.apparmor:
            opts.append(f"apparmor={security.apparmor}")
        if security.seccomp is not None:
            opts.append(f"seccomp={security.seccomp}")
        if security.no_new_privileges:
            opts.append("no-new-privileges")
    if options.privileged or options.pid == "host" or options.ipc == "host":
        opts.append("label=disable")
    if opts or (security is not None and security.masked_paths is not None):
        return opts
    return None


def api_mount(spec: Any) -> dict[str, Any]:
    """A ``--mount`` as Docker's API ``Mount`` (its empty fields left out)."""
    out: dict[str, Any] = {"Type": spec.type}
    if spec.source:
        out["Source"] = spec.source
    out["Target"] = spec.target
    if spec.readonly:
        out["ReadOnly"] = True
    if spec.consistency:
        out["Consistency"] = spec.consistency
    if spec.type == "bind":
        bind: dict[str, Any] = {}
        if spec.propagation:
            bind["Propagation"] = spec.propagation
        if spec.recursive == "disabled":
            bind["NonRecursive"] = True
        elif spec.recursive == "writable":
            bind["ReadOnlyNonRecursive"] = True
        elif spec.recursive == "readonly":
            bind["ReadOnlyForceRecursive"] = True
        if bind:
            out["BindOptions"] = bind
    elif spec.type == "volume":
        volume: dict[str, Any] = {}
        if spec.nocopy:
            volume["NoCopy"] = True
        if spec.volume_labels:
            volume["Labels"] = dict(spec.volume_labels)
        if spec.volume_driver or spec.volume_options:
            volume["DriverConfig"] = {
                "Name": spec.volume_driver,
                "Options": dict(spec.volume_options) or None,
            }
        if spec.volume_subpath:
            volume["Subpath"] = spec.volume_subpath
        if volume:
            out["VolumeOptions"] = volume
    elif spec.type == "tmpfs":
        tmpfs: dict[str, Any] = {}
        if spec.tmpfs_size:
            tmpfs["SizeBytes"] = spec.tmpfs_size
        if spec.tmpfs_mode:
            tmpfs["Mode"] = spec.tmpfs_mode
        if tmpfs:
            out["TmpfsOptions"] = tmpfs
    return out


def config(container: Container, options: Any, image: Mapping[str, Any]) -> dict[str, Any]:
    """Docker's ``Config`` of a container: its options merged with its image's config as
    dockerd merges them at create (moby's ``merge``), in Go's field order."""
    from skiff.engine.environment import merge_env
    from skiff.engine.health import effective_config
    from skiff.engine.networking import exposed_ports
    from skiff.images.inspect import container_config

    entrypoint = options.entrypoint
    cmd = list(options.command) or None
    if entrypoint is None:
        cmd = cmd or image.get("Cmd")
        entrypoint = image.get("Entrypoint")
    elif entrypoint == [""]:  # --entrypoint "": no entrypoint at all
        entrypoint = None
    volumes = dict(image.get("Volumes") or {})
    volumes |= {spec.target: {} for spec in options.volumes if not spec.source}
    attach = options.attach
    if options.hostname:
        hostname = options.hostname
    elif options.network == "host":
        hostname = os.uname().nodename
    else:
        hostname = container.id[:12]
    merged = {
        "Hostname": hostname,
        "Domainname": options.domainname,
        "User": options.user or image.get("User") or "",
        "AttachStdin": "stdin" in attach,
        "AttachStdout": "stdout" in attach,
        "AttachStderr": "stderr" in attach,
        "ExposedPorts": {port: {} for port in exposed_ports(options, {"config": image})} or None,
        "Tty": options.tty,
        "OpenStdin": options.interactive,
        "StdinOnce": "stdin" in attach,
        "Env": merge_env(options.env, image.get("Env") or []) or None,
        "Cmd": cmd,
        "Healthcheck": effective_config(image.get("Healthcheck"), options.healthcheck),
        "Image": container.image_name,
        "Volumes": volumes or None,
        "WorkingDir": options.workdir or image.get("WorkingDir") or "",
        "Entrypoint": entrypoint or None,
        "OnBuild": None,
        "Labels": {**(image.get("Labels") or {}), **options.labels},
        "StopSignal": options.stop_signal or image.get("StopSignal") or "",
        "StopTimeout": options.stop_timeout,
    }
    shown = container_config(merged)
    if options.stop_timeout == 0:  # a pointer in Go: 0 is shown, only nil is left out
        shown["StopTimeout"] = 0
    return shown


def network_settings(container: Container) -> dict[str, Any]:
    """Docker's ``NetworkSettings`` (API 1.45): the recorded sandbox, ports and endpoints,
    Docker's empty values for the rest."""
    joined = networks(container)
    default = joined.get("bridge") or EMPTY_ENDPOINT  # Docker's top-level fields: its own
    sandbox = container.state.get("SandboxKey") or ""
    return {
        "Bridge": "",
        "SandboxID": os.path.basename(sandbox),
        "SandboxKey": sandbox,
        "Ports": port_map(container),
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": default["EndpointID"],
        "Gateway": default["Gateway"],
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": default["IPAddress"],
        "IPPrefixLen": default["IPPrefixLen"],
        "IPv6Gateway": "",
        "MacAddress": default["MacAddress"],
        "Networks": joined,
    }
