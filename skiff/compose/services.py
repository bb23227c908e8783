"""A compose service's container, in the engine's terms: the ContainerOptions of its
container ``number``, the networks to connect it to once created, and the labels docker
compose v2 puts on it.

The values are parsed with skiff.engine.options' and skiff.network.ports' helpers (what
``docker run`` uses), their errors prefixed with the service they are about.
"""

from __future__ import annotations

import os

from skiff.compose.loader import ComposeError
from skiff.compose.project import (
    COMPOSE_VERSION,
    as_bool,
    as_int,
    as_labels,
    as_list,
    as_mapping,
    host_path,
    is_host_path,
    lookup_mapping,
    scalar_text,
    service_file_objects,
    split_volume,
)
from skiff.engine.options import (
    ContainerOptions,
    HealthConfig,
    InvalidFlagValue,
    MountSpec,
    RestartPolicy,
    clean_path,
    parse_cpus,
    parse_device,
    parse_dns,
    parse_dns_search,
    parse_duration,
    parse_extra_host,
    parse_restart,
    parse_security_opts,
    parse_sysctl,
    parse_tmpfs,
    parse_ulimit,
    parse_volume,
    ram_in_bytes,
    validate_mount,
)
from skiff.errors import InvalidArgument
from skiff.network.ports import parse_expose, parse_publish

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, TypeVar

    from skiff.compose.project import Project, Service
    from skiff.network.ports import PortBinding

    T = TypeVar("T")

SECRETS_DIR = "/run/secrets"
# What does not change a container: scaling, building, when to pull, what it waits for.
UNHASHED = ("build", "pull_policy", "scale", "profiles", "depends_on", "develop")


def _checked(service: Service, what: str, parse: Callable[..., T], *args: Any) -> T:
    """``parse(*args)``, an invalid value reported as a ComposeError naming the service and
    the key (a flag parser's error by its reason, without the flag)."""
    try:
        return parse(*args)
    except InvalidArgument as e:
        reason = e.reason if isinstance(e, InvalidFlagValue) else str(e)
        raise ComposeError(f'service "{service.name}": {what}: {reason}') from None


# --- the container -----------------------------------------------------------------------


def container_options(project: Project, service: Service, number: int) -> ContainerOptions:
    """The options of the service's container ``number`` (from 1): on its first network
    (or ``network_mode``), the others for ``extra_networks``."""
    config = service.config
    env = environment(project, service)
    network, aliases, ip, mac = _primary_network(project, service)
    values: dict[str, Any] = {
        "image": service.image,
        "name": project.container_name(service, number),
        "command": _command(config.get("command")) or [],
        "entrypoint": _entrypoint(config),
        "env": [f"{k}={v}" for k, v in env.items()],
        "labels": labels(project, service, number, env),
        "hostname": config.get("hostname") or "",
        "domainname": config.get("domainname") or "",
        "user": scalar_text(config.get("user") or ""),
        "workdir": config.get("working_dir") or "",
        "cap_add": as_list(config.get("cap_add")),
        "cap_drop": as_list(config.get("cap_drop")),
        "read_only": _flag(service, "read_only"),
        "privileged": _flag(service, "privileged"),
        "tty": _flag(service, "tty"),
        "interactive": _flag(service, "stdin_open"),
        "init": _flag(service, "init") if config.get("init") is not None else None,
        "stop_signal": config.get("stop_signal") or "",
        "stop_timeout": _stop_timeout(service),
        "restart": _restart(service),
        "healthcheck": _healthcheck(service),
        "publish": _ports(service),
        "expose": _expose(service),
        "volumes": _short_volumes(project, service),
        "mounts": _long_volumes(project, service) + _file_mounts(project, service),
        "tmpfs": _tmpfs(service),
        "volumes_from": _volumes_from(project, service),
        "network": network,
        "network_aliases": aliases,
        "ip": ip,
        "mac_address": mac,
        "extra_hosts": _extra_hosts(service),
        "dns": [_checked(service, "dns", parse_dns, d) for d in _dns(service)],
        "dns_search": [
            _checked(service, "dns_search", parse_dns_search, d)
            for d in as_list(config.get("dns_search"))
        ],
        "dns_options": as_list(config.get("dns_opt")),
        "sysctls": _sysctls(service),
        "ulimits": _ulimits(service),
        "devices": _devices(service),
        "security": _checked(service, "security_opt", _security, config.get("security_opt")),
        "pid": config.get("pid") or "",
        "ipc": config.get("ipc") or "",
        "uts": config.get("uts") or "",
        "userns": config.get("userns_mode") or "",
        "cgroupns": config.get("cgroup") or "",
        "cgroup_parent": config.get("cgroup_parent") or "",
        "group_add": as_list(config.get("group_add")),
        "runtime": config.get("runtime") or "",
        **_logging(service),
        **_resources(service),
    }
    return ContainerOptions(**values)


def extra_networks(project: Project, service: Service) -> list[tuple[str, list[str], str]]:
    """The networks after the service's first: (real name, aliases, IPv4 address) each,
    to connect its containers to once created."""
    return [
        (project.networks[key].name, [service.name, *n.aliases], n.ipv4_address)
        for key, n in list(service.networks.items())[1:]
    ]


def host_paths(project: Project, service: Service) -> list[str]:
    """The bind sources docker compose creates (as directories) where they are missing:
    those of the short syntax and of ``bind.create_host_path: true``."""
    paths = []
    for volume in service.config.get("volumes") or []:
        if isinstance(volume, dict):
            bind = volume.get("bind") or {}
            if volume.get("type") == "bind" and as_bool(
                bind.get("create_host_path", False), "create_host_path"
            ):
                paths.append(host_path(volume["source"], project.working_dir))
        else:
            source = split_volume(str(volume))[0]
            if source and is_host_path(source):
                paths.append(host_path(source, project.working_dir))
    return paths


def _flag(service: Service, key: str) -> bool:
    return as_bool(service.config.get(key, False), f'service "{service.name}": {key}')


def _command(value: Any) -> list[str] | None:
    """A ``command``/``entrypoint``: a string split as a shell would, a list as is."""
    if value is None:
        return None
    if isinstance(value, str):
        import shlex

        return shlex.split(value)
    return [str(v) for v in value]


def _entrypoint(config: Mapping[str, Any]) -> list[str] | None:
    """None for the image's; ``""`` or ``[]`` clear it (``[""]``, as ``--entrypoint ""``)."""
    if "entrypoint" not in config or config["entrypoint"] is None:
        return None
    words = _command(config["entrypoint"])
    return words or [""]


# --- environment ---------------------------------------------------------------------------


def environment(project: Project, service: Service) -> dict[str, str]:
    """``env_file`` (in order, relative to the project's directory), then
    ``environment``; a key without a value takes the project environment's value, or is
    left out."""
    env: dict[str, str] = {}
    for path, required in _env_files(service.config.get("env_file"), project.working_dir):
        if not os.path.isfile(path):
            if required:
                raise ComposeError(f"env file {path} not found")
            continue
        from skiff.compose.loader import read_env_file

        env.update(read_env_file(path))
    env.update(lookup_mapping(service.config.get("environment"), project.environ))
    return env


def _env_files(value: Any, base: str) -> list[tuple[str, bool]]:
    if value is None:
        return []
    files = []
    for item in [value] if isinstance(value, str) else value:
        if isinstance(item, dict):
            required = as_bool(item.get("required", True), "env_file.required")
            files.append((host_path(item["path"], base), required))
        else:
            files.append((host_path(item, base), True))
    return files


# --- ports, volumes ------------------------------------------------------------------------


def _ports(service: Service) -> list[PortBinding]:
    """``ports``: the short syntax is ``-p``'s; the long one is turned into it."""
    bindings: list[PortBinding] = []
    for port in service.config.get("ports") or []:
        spec = _long_port(port) if isinstance(port, dict) else scalar_text(port)
        bindings.extend(_checked(service, "ports", parse_publish, spec))
    return bindings


def _long_port(port: Mapping[str, Any]) -> str:
    """``{target: 80, published: 8080, host_ip: ..., protocol: udp}`` as
    ``[ip:][published:]80/udp``."""
    ip = port.get("host_ip") or ""
    if ":" in ip:
        ip = f"[{ip}]"
    published = scalar_text(port.get("published") or "")
    target = scalar_text(port.get("target") or "")
    spec = f"{target}/{port.get('protocol') or 'tcp'}"
    if published or ip:
        spec = f"{published}:{spec}"
    if ip:
        spec = f"{ip}:{spec}"
    return spec


def _expose(service: Service) -> list[str]:
    ports: list[str] = []
    for item in service.config.get("expose") or []:
        for port in _checked(service, "expose", parse_expose, scalar_text(item)):
            if port not in ports:
                ports.append(port)
    return ports


def _volume_name(project: Project, key: str) -> str:
    return project.volumes[key].name


def _short_volumes(project: Project, service: Service) -> list[MountSpec]:
    """The short syntax, ``-v``'s: a named volume by its real name, a relative or ``~``
    path made absolute against the project's directory."""
    mounts = []
    for volume in service.config.get("volumes") or []:
        if isinstance(volume, dict):
            continue
        source, target, mode = split_volume(str(volume))
        if source:
            source = (
                host_path(source, project.working_dir)
                if is_host_path(source)
                else _volume_name(project, source)
            )
        spec = ":".join(p for p in (source, target, mode) if p)
        mounts.append(_checked(service, "volumes", parse_volume, spec))
    return mounts


def _long_volumes(project: Project, service: Service) -> list[MountSpec]:
    return [
        _checked(service, "volumes", _long_volume, project, v)
        for v in service.config.get("volumes") or []
        if isinstance(v, dict)
    ]


def _long_volume(project: Project, volume: Mapping[str, Any]) -> MountSpec:
    """``{type: volume|bind|tmpfs, source, target, read_only, bind: ..., volume: ...,
    tmpfs: ...}`` as a mount, checked as the daemon checks mounts."""
    kind = volume["type"]
    if kind not in ("volume", "bind", "tmpfs"):
        raise ComposeError(f"unsupported mount type {kind!r}")
    source = volume.get("source") or ""
    if kind == "bind" and source:
        source = host_path(source, project.working_dir)
    elif kind == "volume" and source:
        source = _volume_name(project, source)
    bind = volume.get("bind") or {}
    options = volume.get("volume") or {}
    tmpfs = volume.get("tmpfs") or {}
    mount = MountSpec(
        kind,
        volume.get("target") or "",
        source=source,
        readonly=as_bool(volume.get("read_only", False), "read_only"),
        propagation=bind.get("propagation") or "",
        recursive=bind.get("recursive") or "enabled",
        selinux_label=bind.get("selinux") or "",
        nocopy=as_bool(options.get("nocopy", False), "volume.nocopy"),
        volume_subpath=options.get("subpath") or "",
        volume_labels=as_labels(options.get("labels")),
        tmpfs_size=_size(tmpfs["size"]) if tmpfs.get("size") is not None else 0,
        tmpfs_mode=_mode(tmpfs["mode"]) if tmpfs.get("mode") is not None else 0,
        consistency=volume.get("consistency") or "",
    )
    validate_mount(mount)
    mount.target = clean_path(mount.target)
    if kind == "bind":
        mount.source = clean_path(mount.source)
    return mount


def _size(value: Any) -> int:
    """A size: bytes as a number, or with go-units' binary suffixes (``64m``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return ram_in_bytes(str(value))


def _mode(value: Any) -> int:
    """A file mode: octal as a string (``"0440"``, ``"1777"``), else the number given."""
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 8)
    except ValueError:
        raise ComposeError(f"invalid mode {value!r}") from None


def _file_mounts(project: Project, service: Service) -> list[MountSpec]:
    """``secrets`` at /run/secrets/NAME and ``configs`` at /NAME (or their ``target``):
    read-only binds of their files."""
    mounts = []
    for kind, objects, base in (
        ("secret", project.secrets, SECRETS_DIR),
        ("config", project.configs, "/"),
    ):
        for item in service_file_objects(service.config, kind):
            target = item.get("target") or item["source"]
            target = target if target.startswith("/") else os.path.join(base, target)
            source = objects[item["source"]].file
            mounts.append(MountSpec("bind", clean_path(target), source=source, readonly=True))
    return mounts


def _tmpfs(service: Service) -> dict[str, str]:
    result = {}
    for item in as_list(service.config.get("tmpfs")):
        target, options = _checked(service, "tmpfs", parse_tmpfs, item)
        result[target] = options
    return result


def _volumes_from(project: Project, service: Service) -> list[str]:
    """``service[:mode]`` is that service's first container; ``container:name[:mode]``
    a container by name."""
    result = []
    for item in service.config.get("volumes_from") or []:
        if item.startswith("container:"):
            result.append(item.removeprefix("container:"))
            continue
        name, sep, mode = item.partition(":")
        other = project.container_name(project.service(name), 1)
        result.append(f"{other}{sep}{mode}")
    return result


# --- networks ------------------------------------------------------------------------------


def _primary_network(project: Project, service: Service) -> tuple[str, list[str], str, str]:
    """The network the container is created on, its aliases there, its IPv4 and MAC
    addresses: the first of the service's networks, or its ``network_mode``
    (``service:x`` is x's first container)."""
    mac = service.config.get("mac_address") or ""
    if service.network_mode:
        mode = service.network_mode
        if mode.startswith("service:"):
            other = project.service(mode.removeprefix("service:"))
            mode = "container:" + project.container_name(other, 1)
        return mode, [], "", mac
    key, attachment = next(iter(service.networks.items()))
    aliases = [service.name, *attachment.aliases]
    return (
        project.networks[key].name,
        aliases,
        attachment.ipv4_address,
        attachment.mac_address or mac,
    )


def _extra_hosts(service: Service) -> list[str]:
    """``extra_hosts``: ``host:ip``/``host=ip`` items, or a mapping (an address or a
    list of them each), as ``host:ip``."""
    value = service.config.get("extra_hosts") or []
    items: list[str] = []
    if isinstance(value, dict):
        for host, addresses in value.items():
            items.extend(f"{host}={a}" for a in as_list(addresses))
    else:
        items = [str(v) for v in value]
    return [_checked(service, "extra_hosts", parse_extra_host, i) for i in items]


def _dns(service: Service) -> list[str]:
    return as_list(service.config.get("dns"))


# --- the rest ------------------------------------------------------------------------------


def _duration(service: Service, what: str, value: Any) -> int:
    """A duration (``1m30s``) in nanoseconds, as Go's ``time.ParseDuration``."""
    return _checked(service, what, parse_duration, scalar_text(value), what)


def _stop_timeout(service: Service) -> int | None:
    """``stop_grace_period`` in whole seconds (None: the engine's default)."""
    value = service.config.get("stop_grace_period")
    if value is None:
        return None
    return _duration(service, "stop_grace_period", value) // 1_000_000_000


def _restart(service: Service) -> RestartPolicy | None:
    """``restart``, else ``deploy.restart_policy`` (condition any/on-failure/none)."""
    config = service.config
    value = config.get("restart")
    if value is not None:
        return _checked(service, "restart", parse_restart, scalar_text(value))
    policy = (config.get("deploy") or {}).get("restart_policy")
    if not policy:
        return None
    condition = policy.get("condition") or "any"
    name = {"any": "always", "on-failure": "on-failure", "none": "no"}.get(condition)
    if name is None:
        raise ComposeError(f'service "{service.name}": unknown restart condition {condition!r}')
    attempts = policy.get("max_attempts")
    retries = _checked(service, "max_attempts", as_int, attempts) if attempts else 0
    return RestartPolicy(name, retries if name == "on-failure" else 0)


def _healthcheck(service: Service) -> HealthConfig | None:
    """``healthcheck``: ``test`` a string (run by a shell), a list (``CMD``,
    ``CMD-SHELL`` or ``NONE`` first) or left out (the image's); ``disable: true`` is
    ``NONE``; durations in nanoseconds."""
    config = service.config.get("healthcheck")
    if config is None:
        return None
    if as_bool(config.get("disable", False), "healthcheck.disable"):
        return HealthConfig(["NONE"])
    test = config.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if test and test[0] not in ("CMD", "CMD-SHELL", "NONE"):
        raise ComposeError(
            f'service "{service.name}": healthcheck.test must start with CMD, CMD-SHELL or NONE'
        )
    durations = {
        key: _duration(service, f"healthcheck.{key}", config[key])
        if config.get(key) is not None
        else 0
        for key in ("interval", "timeout", "start_period", "start_interval")
    }
    retries = config.get("retries")
    return HealthConfig(
        list(test or []),
        retries=_checked(service, "healthcheck.retries", as_int, retries) if retries else 0,
        **durations,
    )


def _sysctls(service: Service) -> dict[str, str]:
    result = {}
    for key, value in as_mapping(service.config.get("sysctls")).items():
        spec = f"{key}={value or ''}"
        name, text = _checked(service, "sysctls", parse_sysctl, spec)
        result[name] = text
    return result


def _ulimits(service: Service) -> list[Any]:
    """``ulimits``: ``nofile: {soft: 1024, hard: 2048}`` or ``nproc: 65535``."""
    result = []
    for name, value in (service.config.get("ulimits") or {}).items():
        if isinstance(value, dict):
            spec = f"{name}={scalar_text(value['soft'])}:{scalar_text(value['hard'])}"
        else:
            spec = f"{name}={scalar_text(value)}"
        result.append(_checked(service, "ulimits", parse_ulimit, spec))
    return result


def _devices(service: Service) -> list[Any]:
    specs = []
    for device in service.config.get("devices") or []:
        if isinstance(device, dict):
            parts = [device["source"], device.get("target") or device["source"]]
            if device.get("permissions"):
                parts.append(device["permissions"])
            device = ":".join(parts)
        specs.append(_checked(service, "devices", parse_device, device))
    return specs


def _security(values: Any) -> Any:
    options = as_list(values)
    return parse_security_opts(options) if options else None


def _logging(service: Service) -> dict[str, Any]:
    logging = service.config.get("logging") or {}
    return {
        "log_driver": logging.get("driver") or "",
        "log_opts": {k: v or "" for k, v in as_mapping(logging.get("options")).items()},
    }


def _cpus(value: Any) -> int:
    return parse_cpus(scalar_text(value))


def _swap(value: Any) -> int:
    """``memswap_limit``: a size, or -1 for unlimited swap."""
    return -1 if scalar_text(value) == "-1" else _size(value)


# The service's own resource keys: (key, option, parse).
_RESOURCE_KEYS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("cpus", "nano_cpus", _cpus),
    ("mem_limit", "memory", _size),
    ("memswap_limit", "memory_swap", _swap),
    ("mem_reservation", "memory_reservation", _size),
    ("mem_swappiness", "memory_swappiness", as_int),
    ("shm_size", "shm_size", _size),
    ("cpu_shares", "cpu_shares", as_int),
    ("cpu_period", "cpu_period", as_int),
    ("cpu_quota", "cpu_quota", as_int),
    ("cpu_rt_period", "cpu_rt_period", as_int),
    ("cpu_rt_runtime", "cpu_rt_runtime", as_int),
    ("cpuset", "cpuset_cpus", scalar_text),
    ("pids_limit", "pids_limit", as_int),
    ("oom_score_adj", "oom_score_adj", as_int),
    ("oom_kill_disable", "oom_kill_disable", as_bool),
)
# deploy.resources: (section, key, option, parse).
_DEPLOY_KEYS: tuple[tuple[str, str, str, Callable[[Any], Any]], ...] = (
    ("limits", "cpus", "nano_cpus", _cpus),
    ("limits", "memory", "memory", _size),
    ("limits", "pids", "pids_limit", as_int),
    ("reservations", "memory", "memory_reservation", _size),
)


def _resources(service: Service) -> dict[str, Any]:
    """The service's ``cpus``, ``mem_limit``, ``pids_limit``..., then
    ``deploy.resources`` (limits: cpus, memory, pids; reservations: memory) over them."""
    config = service.config
    values: dict[str, Any] = {}
    for key, option, parse in _RESOURCE_KEYS:
        if config.get(key) is not None:
            values[option] = _checked(service, key, parse, config[key])
    resources = (config.get("deploy") or {}).get("resources") or {}
    for section, key, option, parse in _DEPLOY_KEYS:
        value = (resources.get(section) or {}).get(key)
        if value is not None:
            what = f"deploy.resources.{section}.{key}"
            values[option] = _checked(service, what, parse, value)
    return values


# --- labels --------------------------------------------------------------------------------


def labels(
    project: Project, service: Service, number: int, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The service's labels and docker compose's (which win): project, service,
    container number, working directory, files, version, dependencies and the hash of
    the service's configuration (``up`` recreates a container whose hash changed)."""
    compose = {
        "com.docker.compose.config-hash": config_hash(project, service, env),
        "com.docker.compose.container-number": str(number),
        "com.docker.compose.depends_on": ",".join(
            f"{k}:{c}:{'true' if k in service.restart else 'false'}"
            for k, c in service.depends_on.items()
        ),
        "com.docker.compose.oneoff": "False",
        "com.docker.compose.project": project.name,
        "com.docker.compose.project.config_files": ",".join(project.config_files),
        "com.docker.compose.project.working_dir": project.working_dir,
        "com.docker.compose.service": service.name,
        "com.docker.compose.version": COMPOSE_VERSION,
    }
    return {**as_labels(service.config.get("labels")), **compose}


def config_hash(project: Project, service: Service, env: Mapping[str, str] | None = None) -> str:
    """A sha256 of what the service's containers are made of: its configuration but for
    what does not change a container (``UNHASHED``, ``deploy.replicas``), with its
    image and its environment resolved (so an edited env file counts)."""
    import hashlib
    import json

    config = {k: v for k, v in service.config.items() if k not in UNHASHED}
    deploy = {k: v for k, v in (config.pop("deploy", None) or {}).items() if k != "replicas"}
    if deploy:
        config["deploy"] = deploy
    config.pop("environment", None)
    config.pop("env_file", None)
    resolved = dict(environment(project, service) if env is None else env)
    document = {"config": config, "image": service.image, "environment": resolved}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
