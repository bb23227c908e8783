"""A compose document as a project: its services, networks, volumes, secrets and configs,
read as docker compose v2 (compose-go) reads them.

- ``extends`` is resolved first (the same file's services, or ``file:``'s, relative to the
  project's directory), with the loader's merge rules.
- Profiles: a service with ``profiles`` runs only when one of them is active (``*``
  activates all); the active ones are those asked, else ``COMPOSE_PROFILES``. The
  services asked by name (``targets``) run whatever their profiles, and so does every
  service an enabled one depends on.
- ``depends_on`` (and the implicit dependencies of ``network_mode: service:x``,
  ``volumes_from`` and ``links``) become ``{service: condition}``; an undefined service or
  a cycle is refused.
- Networks, volumes, secrets and configs are those the enabled services use, with their
  real names (``{project}_{key}``, or ``name:``; an external one keeps its name). A
  service with neither ``networks`` nor ``network_mode`` is on ``default``.

``skiff.compose.services`` makes a container's options of a service
(``container_options``, ``extra_networks``).
"""

from __future__ import annotations

import os

from skiff.compose.loader import ComposeError, as_mapping, merge_service, scalar_text
from skiff.values import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
DEFAULT_NETWORK = "default"
INVALID = "invalid compose project"
# The docker compose whose labels skiff's resources carry (com.docker.compose.version).
COMPOSE_VERSION = "2.29.7"


# --- the document's loose types ---------------------------------------------------------


def as_labels(value: Any) -> dict[str, str]:
    """Labels: a key without a value is an empty label."""
    return {k: v or "" for k, v in as_mapping(value).items()}


def as_list(value: Any) -> list[str]:
    """A ``string_or_list``."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [scalar_text(v) for v in value]


_TRUE = ("1", "t", "T", "TRUE", "true", "True", "y", "Y", "yes", "Yes", "YES", "on", "On")
_FALSE = ("0", "f", "F", "FALSE", "false", "False", "n", "N", "no", "No", "NO", "off", "Off")


def _prefixed(what: str, message: str) -> str:
    return f"{what}: {message}" if what else message


def as_bool(value: Any, what: str = "") -> bool:
    """A boolean, also as a string (interpolated values are strings)."""
    if isinstance(value, bool):
        return value
    text = scalar_text(value)
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ComposeError(_prefixed(what, f"invalid boolean {text!r}"))


def as_int(value: Any, what: str = "") -> int:
    """An integer, also as a string."""
    if isinstance(value, bool):
        raise ComposeError(_prefixed(what, f"invalid integer {value!r}"))
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise ComposeError(_prefixed(what, f"invalid integer {scalar_text(value)!r}")) from None


def lookup_mapping(value: Any, environ: Mapping[str, str]) -> dict[str, str]:
    """A ``list_or_dict`` whose keys without a value take the environment's value, or are
    left out where it has none (``environment``, build ``args``)."""
    result: dict[str, str] = {}
    for key, text in as_mapping(value).items():
        if text is None:
            if key in environ:
                result[key] = environ[key]
        else:
            result[key] = text
    return result


def host_path(path: str, base: str) -> str:
    """A host path of the document: ``~`` expanded, relative to ``base``, normalized."""
    return os.path.normpath(os.path.join(base, os.path.expanduser(path)))


def is_host_path(source: str) -> bool:
    """A volume's short-syntax source that is a host path (a bind), not a volume's name."""
    return source.startswith((".", "/", "~"))


def split_volume(spec: str) -> tuple[str, str, str]:
    """A short-syntax volume, ``[SOURCE:]TARGET[:MODE]``, as (source, target, mode)."""
    parts = spec.split(":")
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) == 2:
        return parts[0], parts[1], ""
    return parts[0], parts[1], ":".join(parts[2:])


# --- the model --------------------------------------------------------------------------


class ServiceNetwork(Value):
    """A service's attachment to one network of the project (by its key)."""

    FIELDS = ("key", "aliases", "ipv4_address", "ipv6_address", "mac_address", "priority")
    __slots__ = FIELDS

    def __init__(
        self,
        key: str,
        aliases: list[str] | None = None,
        ipv4_address: str = "",
        ipv6_address: str = "",
        mac_address: str = "",
        priority: int = 0,
    ) -> None:
        self.key = key
        self.aliases = aliases or []
        self.ipv4_address = ipv4_address
        self.ipv6_address = ipv6_address
        self.mac_address = mac_address
        self.priority = priority


class BuildConfig(Value):
    """A service's ``build``: ``context`` an absolute path (or a URL as given),
    ``dockerfile`` relative to it as given (``Dockerfile`` by default)."""

    FIELDS = (
        "context",
        "dockerfile",
        "dockerfile_inline",
        "args",
        "target",
        "labels",
        "network",
        "no_cache",
        "pull",
        "tags",
        "cache_from",
    )
    __slots__ = FIELDS

    def __init__(
        self,
        context: str,
        dockerfile: str = "Dockerfile",
        dockerfile_inline: str = "",
        args: dict[str, str] | None = None,
        target: str = "",
        labels: dict[str, str] | None = None,
        network: str = "",
        no_cache: bool = False,
        pull: bool = False,
        tags: list[str] | None = None,
        cache_from: list[str] | None = None,
    ) -> None:
        self.context = context
        self.dockerfile = dockerfile
        self.dockerfile_inline = dockerfile_inline
        self.args = args or {}
        self.target = target
        self.labels = labels or {}
        self.network = network
        self.no_cache = no_cache
        self.pull = pull
        self.tags = tags or []
        self.cache_from = cache_from or []

    def __hash__(self) -> int:
        return hash((self.context, self.dockerfile))


class Network(Value):
    """A top-level network: ``name`` is its real name; ``labels`` what it is created
    with (compose's and the file's)."""

    FIELDS = (
        "key",
        "name",
        "external",
        "driver",
        "driver_opts",
        "subnet",
        "gateway",
        "ip_range",
        "internal",
        "attachable",
        "enable_ipv6",
        "labels",
    )
    __slots__ = FIELDS

    def __init__(
        self,
        key: str,
        name: str,
        external: bool = False,
        driver: str = "",
        driver_opts: dict[str, str] | None = None,
        subnet: str = "",
        gateway: str = "",
        ip_range: str = "",
        internal: bool = False,
        attachable: bool = False,
        enable_ipv6: bool = False,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.key = key
        self.name = name
        self.external = external
        self.driver = driver
        self.driver_opts = driver_opts or {}
        self.subnet = subnet
        self.gateway = gateway
        self.ip_range = ip_range
        self.internal = internal
        self.attachable = attachable
        self.enable_ipv6 = enable_ipv6
        self.labels = labels or {}

    def __hash__(self) -> int:
        return hash(self.name)


class Volume(Value):
    """A top-level volume: ``name`` is its real name; ``labels`` what it is created
    with (compose's and the file's)."""

    FIELDS = ("key", "name", "external", "driver", "driver_opts", "labels")
    __slots__ = FIELDS

    def __init__(
        self,
        key: str,
        name: str,
        external: bool = False,
        driver: str = "",
        driver_opts: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.key = key
        self.name = name
        self.external = external
        self.driver = driver
        self.driver_opts = driver_opts or {}
        self.labels = labels or {}

    def __hash__(self) -> int:
        return hash(self.name)


class FileObject(Value):
    """A top-level secret or config: ``file`` its absolute path on the host."""

    FIELDS = ("key", "name", "file")
    __slots__ = FIELDS

    def __init__(self, key: str, name: str, file: str) -> None:
        self.key = key
        self.name = name
        self.file = file


class Service:
    """One service of the project.

    ``config`` is the service's mapping in the document once ``extends`` is resolved
    (``extends`` removed); the rest is read from it: ``depends_on`` as
    ``{service: condition}`` (``optional`` the dependencies with ``required: false``,
    ``restart`` those with ``restart: true``), ``networks`` by priority then as
    declared (the first is the container's own), ``network_mode`` ("" when on
    networks), ``image`` (``{project}-{service}`` for a service only built), ``build``,
    ``scale`` and ``index``, its place in the file.
    """

    def __init__(self, name: str, config: dict[str, Any], index: int) -> None:
        self.name = name
        self.config = config
        self.index = index
        self.depends_on: dict[str, str] = {}
        self.optional: set[str] = set()
        self.restart: set[str] = set()
        self.networks: dict[str, ServiceNetwork] = {}
        self.network_mode = ""
        self.image = ""
        self.build: BuildConfig | None = None
        self.scale = 1
        self.container_name: str = config.get("container_name") or ""
        self.profiles = as_list(config.get("profiles"))
        self.pull_policy: str = config.get("pull_policy") or ""

    def __repr__(self) -> str:
        return f"Service({self.name!r})"


class Project:
    """A compose project, as ``project_from`` makes it: ``services`` the enabled ones in
    file order (``service(name)`` finds one), ``disabled`` the names of those profiles
    leave out, ``networks``/``volumes``/``secrets``/``configs`` by their keys in the file,
    ``document`` the document with the enabled services as resolved (``config``)."""

    def __init__(
        self,
        name: str,
        working_dir: str,
        services: Iterable[Service],
        *,
        document: dict[str, Any] | None = None,
        disabled: Sequence[str] = (),
        networks: dict[str, Network] | None = None,
        volumes: dict[str, Volume] | None = None,
        secrets: dict[str, FileObject] | None = None,
        configs: dict[str, FileObject] | None = None,
        config_files: Sequence[str] = (),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.working_dir = working_dir
        self.services = list(services)
        self._by_name = {s.name: s for s in self.services}
        self.document = document if document is not None else {}
        self.disabled = list(disabled)
        self.networks = networks or {}
        self.volumes = volumes or {}
        self.secrets = secrets or {}
        self.configs = configs or {}
        self.config_files = list(config_files)
        self.environ: Mapping[str, str] = {} if environ is None else environ

    @property
    def all_service_names(self) -> list[str]:
        """The enabled services and those profiles leave out: a container of neither is
        an orphan."""
        return [*self._by_name, *self.disabled]

    def service(self, name: str) -> Service:
        try:
            return self._by_name[name]
        except KeyError:
            raise ComposeError(f"no such service: {name}") from None

    def start_order(self) -> list[Service]:
        """Every service after those it depends on; otherwise in file order (of the
        services that can start, the first in the file goes first)."""
        order: list[Service] = []
        done: set[str] = set()
        pending = sorted(self.services, key=lambda s: s.index)
        while pending:
            ready = next(
                s for s in pending if all(d in done or d not in self._by_name for d in s.depends_on)
            )
            order.append(ready)
            done.add(ready.name)
            pending.remove(ready)
        return order

    def stop_order(self) -> list[Service]:
        return self.start_order()[::-1]

    def with_dependencies(self, names: Iterable[str]) -> list[Service]:
        """The services ``names`` and all they depend on, in start order (``up web``)."""
        wanted: set[str] = set()
        stack = [self.service(n).name for n in names]
        while stack:
            name = stack.pop()
            if name not in wanted:
                wanted.add(name)
                stack.extend(d for d in self._by_name[name].depends_on if d in self._by_name)
        return [s for s in self.start_order() if s.name in wanted]

    def set_scale(self, scales: Mapping[str, int]) -> None:
        """``--scale svc=N``: unknown services refused before anything changes."""
        for name, count in scales.items():
            self.service(name)
            if count < 0:
                raise ComposeError(f"invalid scale for service {name}: {count}")
        for name, count in scales.items():
            _check_container_name(self._by_name[name], count, "scale")
        for name, count in scales.items():
            self._by_name[name].scale = count

    def container_name(self, service: Service, number: int) -> str:
        """The name of the service's container ``number`` (from 1)."""
        return service.container_name or f"{self.name}-{service.name}-{number}"


# --- building the project ----------------------------------------------------------------


def project_from(
    name: str,
    project_dir: str,
    document: dict[str, Any],
    profiles: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    *,
    config_files: Sequence[str] = (),
    targets: Sequence[str] = (),
) -> Project:
    """The project of a loaded document (``loader.load``'s). ``environ`` (default: this
    process's) gives ``COMPOSE_PROFILES`` and the values of ``environment`` keys given
    without one: pass the loader's ``environment(...)`` so ``.env`` counts, as in
    docker compose. ``targets``: services asked by name, enabled whatever their profiles.
    Every enabled service's container options are made once, so a bad value (or a
    missing ``env_file``) fails here, before anything starts."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    project_dir = os.path.abspath(project_dir)
    raw = document.get("services") or {}
    configs = resolve_extends(raw, project_dir, env)
    services = {
        key: Service(key, config, index) for index, (key, config) in enumerate(configs.items())
    }
    for service in services.values():
        _read_dependencies(service, services)
    enabled = _enabled(services, _active_profiles(profiles, env), targets)
    for service in services.values():
        _read_scale(service)
        _read_image(service, name, project_dir, env)
    chosen = {k: s for k, s in services.items() if k in enabled}
    _check_cycles(chosen)
    networks = _networks(name, document, chosen)
    project = Project(
        name,
        project_dir,
        chosen.values(),
        document={**document, "services": {k: s.config for k, s in chosen.items()}},
        disabled=[k for k in services if k not in enabled],
        networks=networks,
        volumes=_volumes(name, document, chosen),
        secrets=_file_objects("secret", document, chosen, project_dir),
        configs=_file_objects("config", document, chosen, project_dir),
        config_files=config_files,
        environ=env,
    )
    from skiff.compose.services import container_options

    for service in chosen.values():
        container_options(project, service, 1)
    return project


def _active_profiles(profiles: Sequence[str], environ: Mapping[str, str]) -> set[str]:
    """The profiles asked, else ``COMPOSE_PROFILES`` (comma-separated), as docker
    compose: ``--profile`` replaces the variable."""
    if profiles:
        return {p for p in profiles if p}
    return {p.strip() for p in environ.get("COMPOSE_PROFILES", "").split(",") if p.strip()}


def _enabled(services: dict[str, Service], active: set[str], targets: Sequence[str]) -> set[str]:
    """The services to run: those without profiles or with an active one, those asked
    by name, and everything they depend on."""
    for target in targets:
        if target not in services:
            raise ComposeError(f"no such service: {target}")
    stack = [
        key
        for key, s in services.items()
        if not s.profiles or "*" in active or active & set(s.profiles) or key in targets
    ]
    enabled: set[str] = set()
    while stack:
        key = stack.pop()
        if key not in enabled:
            enabled.add(key)
            stack.extend(services[key].depends_on)
    return enabled


# --- extends -----------------------------------------------------------------------------


def resolve_extends(
    services: Mapping[str, Any], project_dir: str, environ: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Every service with its ``extends`` resolved (recursively), in file order."""
    resolver = _Extends(project_dir, environ)
    return {
        key: resolver.resolve(services, key, project_dir, os.path.join(project_dir, "(main)"), ())
        for key in services
    }


class _Extends:
    def __init__(self, project_dir: str, environ: Mapping[str, str]) -> None:
        self.project_dir = project_dir
        self.environ = environ
        self.files: dict[str, dict[str, Any]] = {}

    def resolve(
        self,
        services: Mapping[str, Any],
        key: str,
        directory: str,
        where: str,
        chain: tuple[tuple[str, str], ...],
    ) -> dict[str, Any]:
        """Service ``key`` of ``services`` (a file's, in ``directory``) with its
        ``extends`` resolved; its relative paths made absolute against ``directory``."""
        if (where, key) in chain:
            names = " -> ".join(k for _, k in (*chain, (where, key)))
            raise ComposeError(f"circular reference with extends: {names}")
        config = dict(services[key] or {})
        config = _rebase(config, directory) if directory != self.project_dir else config
        extends = config.pop("extends", None)
        if extends is None:
            return config
        if isinstance(extends, str):
            extends = {"service": extends}
        base_key = extends["service"]
        base_services, base_dir, base_where = services, directory, where
        if extends.get("file"):
            path = host_path(extends["file"], directory)
            base_services, base_dir, base_where = self._file(path), os.path.dirname(path), path
        if base_key not in base_services:
            shown = base_where if extends.get("file") else "the same file"
            raise ComposeError(f'cannot extend service "{base_key}" in {shown}: service not found')
        base = self.resolve(base_services, base_key, base_dir, base_where, (*chain, (where, key)))
        return merge_service(_depends_as_mapping(base), _depends_as_mapping(config))

    def _file(self, path: str) -> dict[str, Any]:
        """The services of another compose file, substituted and validated."""
        if path not in self.files:
            from skiff.compose.interpolation import interpolate
            from skiff.compose.loader import read_document, validate

            source = read_document(path)
            data = interpolate(source.data, self.environ)
            validate(data, source)
            self.files[path] = dict(data.get("services") or {})
        return self.files[path]


def _depends_as_mapping(config: dict[str, Any]) -> dict[str, Any]:
    """``depends_on`` in its mapping form, so that extending merges the two."""
    value = config.get("depends_on")
    if isinstance(value, list):
        config = {**config, "depends_on": {k: {"condition": CONDITIONS[0]} for k in value}}
    return config


def _rebase(config: dict[str, Any], directory: str) -> dict[str, Any]:
    """A service from another file, its relative paths made relative to its own file's
    directory: ``build``, ``env_file``, the sources of bind mounts."""
    config = dict(config)
    build = config.get("build")
    if isinstance(build, str):
        config["build"] = _rebase_context(build, directory)
    elif isinstance(build, dict):
        config["build"] = {
            **build,
            "context": _rebase_context(build.get("context", "."), directory),
        }
    env_file = config.get("env_file")
    if env_file is not None:
        files = [env_file] if isinstance(env_file, str) else list(env_file)
        config["env_file"] = [
            {**f, "path": host_path(f["path"], directory)}
            if isinstance(f, dict)
            else host_path(f, directory)
            for f in files
        ]
    if isinstance(config.get("volumes"), list):
        config["volumes"] = [_rebase_volume(v, directory) for v in config["volumes"]]
    return config


def _rebase_context(context: str, directory: str) -> str:
    return context if _is_remote(context) else host_path(context, directory)


def _rebase_volume(volume: Any, directory: str) -> Any:
    if isinstance(volume, dict):
        source = volume.get("source") or ""
        if volume.get("type") == "bind" and source:
            return {**volume, "source": host_path(source, directory)}
        return volume
    source, target, mode = split_volume(str(volume))
    if source and is_host_path(source):
        return ":".join(p for p in (host_path(source, directory), target, mode) if p)
    return volume


def _is_remote(context: str) -> bool:
    return "://" in context or context.startswith(("git@", "github.com/"))


# --- dependencies ------------------------------------------------------------------------


def _read_dependencies(service: Service, services: Mapping[str, Service]) -> None:
    """``depends_on`` as ``{service: condition}``, then the implicit dependencies."""
    declared = service.config.get("depends_on") or {}
    if isinstance(declared, list):
        declared = {key: {} for key in declared}
    for key, options in declared.items():
        options = options or {}
        required = as_bool(options.get("required", True), f"{service.name}.depends_on.required")
        if key not in services:
            if not required:
                continue  # docker compose only warns
            raise ComposeError(
                f'service "{service.name}" depends on undefined service "{key}": {INVALID}'
            )
        condition = options.get("condition") or CONDITIONS[0]
        if condition not in CONDITIONS:
            raise ComposeError(
                f'service "{service.name}" depends on "{key}" with an unknown condition '
                f'"{condition}"'
            )
        service.depends_on[key] = condition
        if not required:
            service.optional.add(key)
        if as_bool(options.get("restart", False), f"{service.name}.depends_on.restart"):
            service.restart.add(key)
    for key in _implicit_dependencies(service.config):
        if key not in services:
            raise ComposeError(
                f'service "{service.name}" depends on undefined service "{key}": {INVALID}'
            )
        service.depends_on.setdefault(key, CONDITIONS[0])


def _implicit_dependencies(config: Mapping[str, Any]) -> list[str]:
    """The services ``network_mode: service:x``, ``volumes_from`` and ``links`` name."""
    names: list[str] = []
    mode = config.get("network_mode") or ""
    if mode.startswith("service:"):
        names.append(mode.partition(":")[2])
    for item in config.get("volumes_from") or []:
        if not item.startswith("container:"):
            names.append(item.partition(":")[0])
    for link in config.get("links") or []:
        names.append(link.partition(":")[0])
    return names


def _check_cycles(services: Mapping[str, Service]) -> None:
    """A cycle of dependencies is refused, the cycle named: ``a -> b -> a``."""
    state: dict[str, int] = {}  # 1: being visited, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for dependency in services[name].depends_on:
            if dependency not in services:
                continue
            if state.get(dependency) == 1:
                cycle = [*path[path.index(dependency) :], dependency]
                raise ComposeError(f"dependency cycle detected: {' -> '.join(cycle)}")
            if dependency not in state:
                visit(dependency)
        path.pop()
        state[name] = 2

    for name in services:
        if name not in state:
            visit(name)


# --- scale and image ---------------------------------------------------------------------


def _read_scale(service: Service) -> None:
    """``scale`` or ``deploy.replicas`` (1 by default); the two must agree."""
    config = service.config
    deploy = config.get("deploy") or {}
    scale = as_int(config["scale"], f"{service.name}.scale") if "scale" in config else None
    replicas = (
        as_int(deploy["replicas"], f"{service.name}.deploy.replicas")
        if deploy.get("replicas") is not None
        else None
    )
    if scale is not None and replicas is not None and scale != replicas:
        raise ComposeError(
            f"services.{service.name}: can't set distinct values on 'scale' and "
            f"'deploy.replicas': {INVALID}"
        )
    count = scale if scale is not None else replicas if replicas is not None else 1
    if count < 0:
        raise ComposeError(f"services.{service.name}: invalid scale {count}")
    _check_container_name(service, count, "scale" if scale is not None else "deploy.replicas")
    service.scale = count


def _check_container_name(service: Service, count: int, what: str) -> None:
    if service.container_name and count > 1:
        raise ComposeError(
            f"services.{service.name}: can't set container_name and {what} as container name "
            f"must be unique: {INVALID}"
        )


def _read_image(
    service: Service, project: str, project_dir: str, environ: Mapping[str, str]
) -> None:
    """The image, or ``{project}-{service}`` for a service only built; the build."""
    config = service.config
    build = config.get("build")
    if build is not None:
        service.build = _build(build, project_dir, environ)
    image = config.get("image") or ""
    if not image and build is None:
        raise ComposeError(f'service "{service.name}" has neither an image nor a build context')
    service.image = image or f"{project}-{service.name}"


def _build(build: Any, project_dir: str, environ: Mapping[str, str]) -> BuildConfig:
    if isinstance(build, str):
        build = {"context": build}
    context = build.get("context") or "."
    what = "build"
    return BuildConfig(
        context if _is_remote(context) else host_path(context, project_dir),
        dockerfile=build.get("dockerfile")
        or ("" if build.get("dockerfile_inline") else "Dockerfile"),
        dockerfile_inline=build.get("dockerfile_inline") or "",
        args=lookup_mapping(build.get("args"), environ),
        target=build.get("target") or "",
        labels=as_labels(build.get("labels")),
        network=build.get("network") or "",
        no_cache=as_bool(build.get("no_cache", False), f"{what}.no_cache"),
        pull=as_bool(build.get("pull", False), f"{what}.pull"),
        tags=list(build.get("tags") or []),
        cache_from=list(build.get("cache_from") or []),
    )


# --- networks ----------------------------------------------------------------------------


def _networks(
    project: str, document: Mapping[str, Any], services: Mapping[str, Service]
) -> dict[str, Network]:
    """The networks the services use (``default`` implicitly), each service's
    attachments read on the way."""
    declared: dict[str, Any] = dict(document.get("networks") or {})
    used: set[str] = set()
    for service in services.values():
        _read_service_networks(service, declared)
        used.update(service.networks)
    keys = [k for k in declared if k in used]
    if DEFAULT_NETWORK in used and DEFAULT_NETWORK not in declared:
        keys.insert(0, DEFAULT_NETWORK)
    return {key: _network(project, key, declared.get(key) or {}) for key in keys}


def _read_service_networks(service: Service, declared: Mapping[str, Any]) -> None:
    config = service.config
    mode = config.get("network_mode") or ""
    given = config.get("networks")
    if mode and given:
        raise ComposeError(
            f'service {service.name} declares mutually exclusive "network_mode" and '
            f'"networks": {INVALID}'
        )
    if mode:
        service.network_mode = mode
        return
    if given is None:
        given = [DEFAULT_NETWORK]
    entries = {key: {} for key in given} if isinstance(given, list) else dict(given)
    attachments = []
    for key, options in entries.items():
        if key not in declared and key != DEFAULT_NETWORK:
            raise ComposeError(
                f'service "{service.name}" refers to undefined network {key}: {INVALID}'
            )
        options = options or {}
        attachments.append(
            ServiceNetwork(
                key,
                aliases=as_list(options.get("aliases")),
                ipv4_address=options.get("ipv4_address") or "",
                ipv6_address=options.get("ipv6_address") or "",
                mac_address=options.get("mac_address") or "",
                priority=as_int(options.get("priority", 0), f"{service.name}.networks.priority"),
            )
        )
    attachments.sort(key=lambda n: -n.priority)  # stable: as declared among equals
    service.networks = {n.key: n for n in attachments}


def _external(options: Mapping[str, Any], key: str) -> tuple[bool, str]:
    """Whether a network or volume is external, and the name it then has."""
    external = options.get("external", False)
    if isinstance(external, dict):
        return True, external.get("name") or options.get("name") or key
    if as_bool(external, f"{key}.external"):
        return True, options.get("name") or key
    return False, ""


def _network(project: str, key: str, options: Mapping[str, Any]) -> Network:
    external, external_name = _external(options, key)
    if external:
        return Network(key, external_name, external=True)
    ipam = options.get("ipam") or {}
    pools = ipam.get("config") or []
    pool = pools[0] if pools else {}
    labels = {
        "com.docker.compose.network": key,
        "com.docker.compose.project": project,
        "com.docker.compose.version": COMPOSE_VERSION,
    }
    return Network(
        key,
        options.get("name") or f"{project}_{key}",
        driver=options.get("driver") or "",
        driver_opts=_options(options.get("driver_opts")),
        subnet=pool.get("subnet") or "",
        gateway=pool.get("gateway") or "",
        ip_range=pool.get("ip_range") or "",
        internal=as_bool(options.get("internal", False), f"networks.{key}.internal"),
        attachable=as_bool(options.get("attachable", False), f"networks.{key}.attachable"),
        enable_ipv6=as_bool(options.get("enable_ipv6", False), f"networks.{key}.enable_ipv6"),
        labels={**as_labels(options.get("labels")), **labels},
    )


def _options(value: Any) -> dict[str, str]:
    return {str(k): scalar_text(v) for k, v in (value or {}).items()}


# --- volumes, secrets, configs -------------------------------------------------------------


def service_volume_names(config: Mapping[str, Any]) -> list[str]:
    """The named volumes a service's ``volumes`` mount (by their keys)."""
    names = []
    for volume in config.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "volume" and volume.get("source"):
                names.append(volume["source"])
        else:
            source = split_volume(str(volume))[0]
            if source and not is_host_path(source):
                names.append(source)
    return names


def _volumes(
    project: str, document: Mapping[str, Any], services: Mapping[str, Service]
) -> dict[str, Volume]:
    declared: dict[str, Any] = dict(document.get("volumes") or {})
    used: set[str] = set()
    for service in services.values():
        for key in service_volume_names(service.config):
            if key not in declared:
                raise ComposeError(
                    f'service "{service.name}" refers to undefined volume {key}: {INVALID}'
                )
            used.add(key)
    return {key: _volume(project, key, declared[key] or {}) for key in declared if key in used}


def _volume(project: str, key: str, options: Mapping[str, Any]) -> Volume:
    external, external_name = _external(options, key)
    if external:
        return Volume(key, external_name, external=True)
    labels = {
        "com.docker.compose.project": project,
        "com.docker.compose.version": COMPOSE_VERSION,
        "com.docker.compose.volume": key,
    }
    return Volume(
        key,
        options.get("name") or f"{project}_{key}",
        driver=options.get("driver") or "",
        driver_opts=_options(options.get("driver_opts")),
        labels={**as_labels(options.get("labels")), **labels},
    )


def service_file_objects(config: Mapping[str, Any], kind: str) -> list[dict[str, str]]:
    """A service's ``secrets`` or ``configs`` in the long form (``source``, ``target``...)."""
    items = []
    for item in config.get(kind + "s") or []:
        items.append({"source": item} if isinstance(item, str) else dict(item))
    return items


def _file_objects(
    kind: str, document: Mapping[str, Any], services: Mapping[str, Service], project_dir: str
) -> dict[str, FileObject]:
    """The secrets (or configs) the services use: each must be a file that exists."""
    declared: dict[str, Any] = dict(document.get(kind + "s") or {})
    used: set[str] = set()
    for service in services.values():
        for item in service_file_objects(service.config, kind):
            if item["source"] not in declared:
                raise ComposeError(
                    f'service "{service.name}" refers to undefined {kind} {item["source"]}: '
                    f"{INVALID}"
                )
            used.add(item["source"])
    result = {}
    for key in (k for k in declared if k in used):
        options = declared[key] or {}
        if not options.get("file"):
            raise ComposeError(
                f'{kind} "{key}": only secrets and configs from a file are supported'
                if kind == "secret"
                else f'{kind} "{key}": only configs from a file are supported'
            )
        path = host_path(options["file"], project_dir)
        if not os.path.exists(path):
            raise ComposeError(f'{kind} "{key}": file {path} not found')
        result[key] = FileObject(key, options.get("name") or key, path)
    return result


def __getattr__(name: str) -> Any:
    """``container_options`` and ``extra_networks`` (skiff.compose.services) from here too."""
    if name in ("container_options", "extra_networks"):
        from skiff.compose import services

        return getattr(services, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
