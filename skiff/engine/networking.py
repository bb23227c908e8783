"""A container's networking as the engine sees it: which networks ``--network`` connects it
to (at create), its endpoints while it runs (at start and exit), and the files and state
that describe them (/etc/hosts, /etc/resolv.conf, ``NetworkSettings``).

Modes: ``bridge`` (the default) and a user-defined network name connect the container
through skiff.network; ``none`` gives it a namespace with only loopback, ``host`` the
host's, ``container:X`` X's (skiff.engine.spec).
"""

from __future__ import annotations

from skiff.errors import Conflict, EngineError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.engine.containers import Container
    from skiff.engine.engine import Engine
    from skiff.engine.options import ContainerOptions
    from skiff.network.endpoints import Endpoint
    from skiff.network.networks import Network, NetworkStore
    from skiff.network.ports import PortBinding

OWN_MODES = ("none", "host")


def connected_mode(network: str) -> bool:
    """Whether ``--network`` connects the container to a network of skiff's."""
    return network not in OWN_MODES and not network.startswith(("container:", "ns:"))


def connect_at_create(engine: Engine, container: Container, options: ContainerOptions) -> None:
    """Record the container's connection to the network ``--network`` names, with
    Docker's checks of what only user-defined networks allow (nothing to do, and no
    network store to open, for ``none``, ``host`` and ``container:X``)."""
    mode = options.network or "bridge"
    if not connected_mode(mode):
        return
    store = engine.networks
    network = store.get(mode)
    if network.driver != "bridge":
        return
    if not network.dns:
        if options.network_aliases:
            raise InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
            )
        if options.ip:
            raise InvalidArgument(
                "user specified IP address is supported on user defined networks only"
            )
    store.connect(
        container.id, network, list(options.network_aliases), options.ip, options.mac_address
    )


def dns_names(container: Container) -> list[str]:
    """The names a container answers to on a user-defined network: its name, its short ID."""
    return [container.name, container.id[:12]]


def hosts_lines(options: ContainerOptions, hostname: str, endpoints: list[Endpoint]) -> list[str]:
    """/etc/hosts after Docker's defaults: ``--add-host`` entries, then the container's own
    address with its hostname."""
    lines = []
    for entry in options.extra_hosts:
        name, _, address = entry.partition(":")
        if address == "host-gateway":
            address = endpoints[0].gateway if endpoints else "127.0.0.1"
        lines.append(f"{address}\t{name}")
    if endpoints:
        names = hostname
        if options.domainname:
            names = f"{hostname}.{options.domainname} {hostname}"
        lines.append(f"{endpoints[0].ip}\t{names}")
    return lines


def resolv_conf(options: ContainerOptions, endpoints: list[Endpoint], host: str) -> str:
    """/etc/resolv.conf: ``--dns``, else the network's resolver on a user-defined network
    (its gateway, where aardvark-dns answers), else the host's (``host``: its
    resolv.conf without loopback resolvers); ``--dns-search`` and ``--dns-option`` replace
    the host's search and options lines."""
    host_lines = host.splitlines()
    nameservers = list(options.dns)
    if not nameservers and endpoints and endpoints[0].network.dns:
        nameservers = [endpoints[0].gateway]
    lines = [f"nameserver {ns}" for ns in nameservers] or [
        line for line in host_lines if line.startswith("nameserver")
    ]
    if options.dns_search:
        lines.append("search " + " ".join(options.dns_search))
    else:
        lines += [line for line in host_lines if line.startswith(("search", "domain"))]
    if options.dns_options:
        lines.append("options " + " ".join(options.dns_options))
    else:
        lines += [line for line in host_lines if line.startswith("options")]
    return "\n".join(lines) + "\n"


def settings(
    store: NetworkStore, container: Container, endpoints: list[Endpoint], sandbox: str
) -> dict[str, Any]:
    """The state's ``Networks`` (Docker's EndpointSettings by network name) and
    ``SandboxKey`` of a running container."""
    from skiff.engine.inspect import EMPTY_ENDPOINT

    container_id = container.id
    aliases = {c.network: c.aliases for c in store.connections(container_id)}
    networks = {}
    for endpoint in endpoints:
        network = endpoint.network
        networks[network.name] = {
            **EMPTY_ENDPOINT,
            "Aliases": (aliases.get(network.id) or None) if network.dns else None,
            "MacAddress": endpoint.mac,
            "NetworkID": network.id,
            "EndpointID": _endpoint_id(container_id, network.id),
            "Gateway": endpoint.gateway,
            "IPAddress": endpoint.ip,
            "IPPrefixLen": endpoint.prefix,
            "DNSNames": [*dns_names(container), *(aliases.get(network.id) or [])]
            if network.dns
            else None,
        }
    return {"Networks": networks, "SandboxKey": sandbox}


def _endpoint_id(container_id: str, network_id: str) -> str:
    import hashlib

    return hashlib.sha256(f"{container_id}/{network_id}".encode()).hexdigest()


def stopped_settings(store: NetworkStore, container_id: str) -> dict[str, Any]:
    """The state's ``Networks`` of a container that does not run: each network it is
    connected to, without addresses (as Docker shows them)."""
    from skiff.engine.inspect import EMPTY_ENDPOINT

    networks = {}
    for connection in store.connections(container_id):
        network = store.get(connection.network)
        networks[network.name] = {
            **EMPTY_ENDPOINT,
            "Aliases": connection.aliases or None,
            "NetworkID": network.id,
        }
    return {"Networks": networks, "SandboxKey": "", "Ports": {}}


def exposed_ports(options: ContainerOptions, image_config: dict[str, Any]) -> list[str]:
    """The image's EXPOSE, ``-p`` and ``--expose``: ``["80/tcp", ...]``."""
    from skiff.network.ports import exposed_port_keys

    image = image_config.get("config") or {}
    ports = list(image.get("ExposedPorts") or {})
    return ports + [
        port for port in exposed_port_keys(options.publish, options.expose) if port not in ports
    ]


def resolve_ports(
    engine: Engine, container: Container, options: ContainerOptions, image_config: dict[str, Any]
) -> list[PortBinding]:
    """The container's published ports with every host port chosen: ``-p`` as given,
    ``-P`` each exposed port; a random port (``-p 80``, ``-P``) or one of a range is a free
    one. A port another running container publishes, or a host process holds, is refused
    with Docker's words."""
    from skiff.network.ports import PortBinding, publish_all

    bindings = list(options.publish)
    if options.publish_all:
        bindings = publish_all(bindings, exposed_ports(options, image_config))
    if not bindings:
        return []
    taken = _published_elsewhere(engine, container.id)
    resolved = []
    for binding in bindings:
        host_port = _choose_port(binding, taken, container)
        taken.add((binding.protocol, host_port))
        resolved.append(
            PortBinding(
                binding.container_port, binding.protocol, binding.host_ip, host_port, host_port
            )
        )
    return resolved


def port_map(
    options: ContainerOptions, image_config: dict[str, Any], ports: list[PortBinding]
) -> dict[str, Any]:
    """``NetworkSettings.Ports``: each published port's host address, exposed ones None."""
    from skiff.network.ports import published_ports_map

    return published_ports_map(ports, exposed_ports(options, image_config))


def _published_elsewhere(engine: Engine, container_id: str) -> set[tuple[str, int]]:
    taken = set()
    for other in engine.containers.all():
        if other.id == container_id or not other.state.get("Running"):
            continue
        for key, bindings in (other.state.get("Ports") or {}).items():
            protocol = key.partition("/")[2] or "tcp"
            for binding in bindings or []:
                taken.add((protocol, int(binding["HostPort"])))
    return taken


def _choose_port(binding: PortBinding, taken: set[tuple[str, int]], container: Container) -> int:
    address = binding.host_ip or "0.0.0.0"
    if binding.host_port == 0:
        for _ in range(100):
            port = _free_port(binding)
            if (binding.protocol, port) not in taken:
                return port
        raise EngineError("no free host port")
    failed = f"driver failed programming external connectivity on endpoint {container.name} "
    failed += f"({container.id})"
    last = max(binding.host_port, binding.host_port_end)
    for port in range(binding.host_port, last + 1):
        if (binding.protocol, port) in taken:
            continue
        problem = _bind_problem(binding, port)
        if problem is None:
            return port
        if last == binding.host_port:  # one port, held by a host process
            raise EngineError(
                f"{failed}: Error starting userland proxy: listen "
                f"{binding.protocol}4 {address}:{port}: bind: {problem}"
            )
    raise Conflict(
        f"{failed}: Bind for {address}:{binding.host_port} failed: port is already allocated"
    )


def _socket_for(binding: PortBinding) -> Any:
    import socket

    kind = socket.SOCK_DGRAM if binding.protocol == "udp" else socket.SOCK_STREAM
    return socket.socket(socket.AF_INET, kind)


def _free_port(binding: PortBinding) -> int:
    """A port the kernel would give a socket now (Docker picks from the same range)."""
    with _socket_for(binding) as s:
        s.bind((binding.host_ip or "0.0.0.0", 0))
        return int(s.getsockname()[1])


def _bind_problem(binding: PortBinding, port: int) -> str | None:
    """Why a host process keeps the port from being published (address already in use),
    or None."""
    with _socket_for(binding) as s:
        try:
            s.bind((binding.host_ip or "0.0.0.0", port))
        except OSError as e:
            return (e.strerror or str(e)).lower()
    return None


# --- networks as the network verbs see them ---------------------------------------------


def _rfc3339(unix: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(unix)) + f".{int(unix % 1 * 1e9):09d}Z"


def inspect_network(
    engine: Engine, network: Network, with_containers: bool = True
) -> dict[str, Any]:
    """Docker's ``Network`` (API 1.45, GET /networks/{id}) with the containers it has
    endpoints for (none with ``with_containers`` False: GET /networks, as dockerd lists
    networks)."""
    config: list[dict[str, str]] = []
    if network.subnet:
        entry = {"Subnet": network.subnet}
        if network.ip_range:
            entry["IPRange"] = network.ip_range
        entry["Gateway"] = network.gateway
        config.append(entry)
    containers = {}
    for container_id in engine.networks.containers_of(network.id) if with_containers else []:
        for endpoint in engine.endpoints.endpoints(container_id):
            if endpoint.network.id != network.id:
                continue
            name = engine.containers.get(container_id).name
            containers[container_id] = {
                "Name": name,
                "EndpointID": _endpoint_id(container_id, network.id),
                "MacAddress": endpoint.mac,
                "IPv4Address": f"{endpoint.ip}/{endpoint.prefix}",
                "IPv6Address": "",
            }
    return {
        "Name": network.name,
        "Id": network.id,
        "Created": _rfc3339(network.created),
        "Scope": "local",
        "Driver": network.driver,
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Options": None if network.predefined and network.driver != "bridge" else {},
            "Config": config,
        },
        "Internal": network.internal,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": dict(network.options),
        "Labels": dict(network.labels),
    }


def _network_matches(network: Network, filters: dict[str, list[str]], in_use: bool) -> bool:
    """Docker's filters of ``network ls`` (GET /networks): ``driver``, ``name`` (part of
    the name), ``id`` (a prefix), ``scope``, ``type`` (``builtin``/``custom``), ``label``
    (``KEY`` or ``KEY=VALUE``), ``dangling``."""
    for name, values in filters.items():
        if name == "driver" and network.driver not in values:
            return False
        if name == "name" and not any(v in network.name for v in values):
            return False
        if name == "id" and not any(network.id.startswith(v) for v in values):
            return False
        if name == "scope" and "local" not in values:
            return False
        if name == "type":
            kind = "builtin" if network.predefined else "custom"
            if kind not in values:
                return False
        if name == "label":
            for value in values:
                key, sep, wanted = value.partition("=")
                if key not in network.labels or (sep and network.labels[key] != wanted):
                    return False
        if name == "dangling":
            if values not in (["true"], ["1"], ["false"], ["0"]):
                raise InvalidArgument(f"invalid filter 'dangling={values[0]}'")
            dangling = values[0] in ("true", "1")
            if dangling != (not in_use and not network.predefined):
                return False
    return True


def select_networks(engine: Engine, filters: dict[str, list[str]]) -> list[Network]:
    """``network ls`` (GET /networks): the networks that match Docker's filters, by name."""
    from skiff.network.networks import LIST_FILTERS

    for name in filters:
        if name not in LIST_FILTERS:
            raise InvalidArgument(f"invalid filter '{name}'")
    store = engine.networks
    return [n for n in store.all() if _network_matches(n, filters, store.in_use(n.id))]


def connect(
    engine: Engine, container_ref: str, network_ref: str, aliases: list[str], ip: str
) -> None:
    """``network connect``: a new connection, live at once if the container runs."""
    container = engine.containers.get(container_ref)
    network = engine.networks.get(network_ref)
    mode = container.options.get("network") or "bridge"
    problem = _connect_problem(mode, network)
    if problem:
        raise Conflict(problem)
    if not network.dns and (aliases or ip):
        raise InvalidArgument(
            "network-scoped alias is supported only for containers in user defined networks"
            if aliases
            else "user specified IP address is supported on user defined networks only"
        )
    with engine.containers.lock(container.id):
        container = engine.containers.get(container.id)
        engine.networks.connect(container.id, network, aliases, ip)
        if container.state.get("Running"):
            connection = next(
                c for c in engine.networks.connections(container.id) if c.network == network.id
            )
            try:
                engine.endpoints.connect(container.id, connection, dns_names(container))
            except BaseException:
                engine.networks.disconnect(container.id, network.id)
                raise
        _record_settings(engine, container)
    _network_event(engine, network, "connect", container.id)


def _connect_problem(mode: str, network: Network) -> str:
    """Docker's refusal of a connection the container's network mode rules out."""
    if "host" in (mode, network.name):
        return "container cannot be disconnected from host network or connected to host network"
    if mode == "none" or network.name == "none":
        return (
            "container cannot be connected to multiple networks with one of the networks in "
            "private (none) mode"
        )
    if mode.startswith("container:"):
        return (
            "container sharing network namespace with another container or host cannot be "
            "connected to any other network"
        )
    return ""


def disconnect(engine: Engine, container_ref: str, network_ref: str) -> None:
    """``network disconnect``: the connection goes, and the endpoint if it runs."""
    container = engine.containers.get(container_ref)
    network = engine.networks.get(network_ref)
    with engine.containers.lock(container.id):
        container = engine.containers.get(container.id)
        if network.id not in {c.network for c in engine.networks.connections(container.id)}:
            raise Conflict(f"container {container.id} is not connected to network {network.name}")
        if container.state.get("Running"):
            engine.endpoints.disconnect(container.id, network.id)
        engine.networks.disconnect(container.id, network.id)
        _record_settings(engine, container)
    _network_event(engine, network, "disconnect", container.id)


def rename(engine: Engine, container: Container, name: str) -> None:
    """After ``rename``: the new name resolves on the container's networks (the old one
    no longer does) and its settings' DNSNames say so."""
    engine.endpoints.rename(container.id, container.name, name)
    _record_settings(engine, engine.containers.get(container.id))


def _record_settings(engine: Engine, container: Container) -> None:
    """The state's network settings after a connection changed: the live endpoints of a
    running container, the connections of a stopped one."""
    if not container.state.get("Running"):
        engine.containers.set_state(container.id, **stopped_settings(engine.networks, container.id))
        return
    live = engine.endpoints.endpoints(container.id)
    sandbox = container.state.get("SandboxKey") or ""
    engine.containers.set_state(container.id, **settings(engine.networks, container, live, sandbox))


def _network_event(engine: Engine, network: Network, action: str, container_id: str = "") -> None:
    from skiff.engine import events

    attributes = {"name": network.name, "type": network.driver}
    if container_id:
        attributes["container"] = container_id
    events.record(engine.containers.db, "network", action, network.id, attributes)


def create_network(engine: Engine, **settings: Any) -> Network:
    network = engine.networks.create(**settings)
    _network_event(engine, network, "create")
    return network


def remove_network(engine: Engine, ref: str) -> Network:
    network = engine.networks.remove(ref)
    engine.endpoints.release_network(network)
    _network_event(engine, network, "destroy")
    return network


def prune_networks(engine: Engine, filters: dict[str, list[str]]) -> list[str]:
    """``network prune``: user-defined networks no container is connected to, with
    Docker's ``until``, ``label`` and ``label!`` filters (as ``container prune``'s)."""
    from skiff.engine.system import CONTAINER_PRUNE_FILTERS, prune_until
    from skiff.images.inspect import check_filters, match_labels

    check_filters(filters, CONTAINER_PRUNE_FILTERS)
    until = prune_until(filters.get("until") or [])
    removed = []
    for network in engine.networks.all():
        if network.predefined or engine.networks.in_use(network.id):
            continue
        if until is not None and network.created > until:
            continue
        if not match_labels(filters, "label", network.labels):
            continue
        if filters.get("label!") and match_labels(filters, "label!", network.labels):
            continue
        remove_network(engine, network.id)
        removed.append(network.name)
    return removed
