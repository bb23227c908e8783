"""Networks: Docker's ``bridge`` driver over a Linux bridge that CNI's bridge plugin makes,
plus the predefined ``host`` and ``none`` networks.

A network is a row of the ``networks`` table; its settings (subnet, gateway, IP range,
internal, labels, driver options, the bridge's name) are JSON in it. Creating one touches
nothing in the kernel: the bridge appears with the first container on it and goes with
the last (skiff.network.endpoints), so an idle network leaves no trace on the host.

The predefined networks are made on first use: ``bridge`` (the default, bridge ``skiff0``,
subnet ``10.66.0.0/16`` unless skiff.toml says otherwise: Docker's 172.17.0.0/16 and
Podman's 10.88.0.0/16 stay free, so the three engines can share a host), ``host`` and
``none``. Networks created without ``--subnet`` get the next free /24 of the address pool
(``10.67.0.0/16``) that overlaps no other network and no route of the host.
"""

from __future__ import annotations

import os
import time

from skiff import db, jsonio
from skiff.errors import Conflict, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Mapping
    from typing import Any

DEFAULT_NETWORK = "bridge"
DEFAULT_BRIDGE = "skiff0"
DEFAULT_SUBNET = "10.66.0.0/16"
DEFAULT_POOL = ("10.67.0.0/16", 24)
PREDEFINED = {"bridge": "bridge", "host": "host", "none": "null"}  # name -> driver
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
DRIVERS = ("bridge",)
LIST_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")


class Network:
    """A network as the store keeps it."""

    def __init__(self, row: sqlite3.Row) -> None:
        self.id: str = row["id"]
        self.name: str = row["name"]
        self.created: float = row["created"]
        settings = jsonio.loads(row["settings"])
        self.driver: str = settings["driver"]
        self.subnet: str = settings.get("subnet", "")
        self.gateway: str = settings.get("gateway", "")
        self.ip_range: str = settings.get("ip_range", "")
        self.internal: bool = settings.get("internal", False)
        self.labels: dict[str, str] = settings.get("labels", {})
        self.options: dict[str, str] = settings.get("options", {})
        self.bridge: str = settings.get("bridge", "")

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def dns(self) -> bool:
        """Whether containers find each other by name here: on user-defined bridge
        networks, not on the default one (as in Docker)."""
        return self.driver == "bridge" and self.name != DEFAULT_NETWORK


def check_endpoint_address(network: Network, ip: str) -> None:
    import ipaddress

    try:
        address = ipaddress.IPv4Address(ip)
    except ValueError:
        raise InvalidArgument(f"invalid IPv4 address: {ip}") from None
    pool = ipaddress.IPv4Network(network.ip_range or network.subnet)
    usable = address in pool and address not in (pool.network_address, pool.broadcast_address)
    if not usable:
        raise InvalidArgument(
            f"invalid config for network {network.name}: invalid endpoint settings: "
            f"no configured subnet or ip-range contain the IP address {ip}"
        )
    if ip == network.gateway:
        raise InvalidArgument(f"Address already in use: {ip} is the gateway of {network.name}")


def _settings_json(**settings: Any) -> str:
    return jsonio.dumps({k: v for k, v in settings.items() if v not in ("", None, {}, False)})


class NetworkStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.db = conn

    # --- lookups ------------------------------------------------------------------------

    def get(self, ref: str) -> Network:
        """By name, full ID or unique ID prefix (Docker's order); predefined networks are
        made on first use."""
        if ref in PREDEFINED:
            self._ensure_predefined()
        row = self.db.execute("SELECT * FROM networks WHERE name = ? OR id = ?", (ref, ref))
        found = row.fetchall()
        if not found and ref and all(c in "0123456789abcdef" for c in ref):
            self._ensure_predefined()
            found = self.db.execute(
                "SELECT * FROM networks WHERE id >= ? AND id < ?", (ref, ref + "g")
            ).fetchall()
            if len(found) > 1:
                raise Conflict(f"network {ref} is ambiguous ({len(found)} matches found)")
        if not found:
            raise NotFound(f"network {ref} not found")
        by_name = [r for r in found if r["name"] == ref]
        return Network(by_name[0] if by_name else found[0])

    def by_id(self, network_id: str) -> Network | None:
        row = self.db.execute("SELECT * FROM networks WHERE id = ?", (network_id,)).fetchone()
        return Network(row) if row is not None else None

    def all(self) -> list[Network]:
        self._ensure_predefined()
        return [Network(row) for row in self.db.execute("SELECT * FROM networks ORDER BY name")]

    def _ensure_predefined(self) -> None:
        have = {row["name"] for row in self.db.execute("SELECT name FROM networks")}
        missing = [name for name in PREDEFINED if name not in have]
        if not missing:
            return
        from skiff.config import load_config

        subnet = load_config().get("network", {}).get("bridge_subnet", DEFAULT_SUBNET)
        with db.transaction(self.db):
            for name in missing:
                settings: dict[str, Any] = {"driver": PREDEFINED[name]}
                if name == DEFAULT_NETWORK:
                    settings.update(
                        subnet=subnet,
                        gateway=_first_host(subnet),
                        bridge=DEFAULT_BRIDGE,
                        options={
                            "com.docker.network.bridge.default_bridge": "true",
                            "com.docker.network.bridge.enable_icc": "true",
                            "com.docker.network.bridge.enable_ip_masquerade": "true",
                            BRIDGE_NAME_OPTION: DEFAULT_BRIDGE,
                        },
                    )
                self.db.execute(
                    "INSERT OR IGNORE INTO networks VALUES (?, ?, ?, ?)",
                    (os.urandom(32).hex(), name, time.time(), _settings_json(**settings)),
                )

    # --- create / remove ----------------------------------------------------------------

    def create(
        self,
        name: str,
        driver: str = "",
        subnet: str = "",
        gateway: str = "",
        ip_range: str = "",
        internal: bool = False,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> Network:
        """``network create`` with Docker's checks and messages."""
        driver = driver or "bridge"
        if driver not in DRIVERS:
            if driver in ("host", "null"):
                raise Conflict(f"only one instance of {driver!r} network is allowed")
            raise NotFound(f'plugin "{driver}" not found')
        check_name(name)
        if name in PREDEFINED:
            raise Conflict(f"operation is not permitted on predefined {name} network")
        subnet, gateway, ip_range = _check_addresses(subnet, gateway, ip_range)
        options = dict(options or {})
        network_id = os.urandom(32).hex()
        bridge = options.get(BRIDGE_NAME_OPTION) or "skiff-" + network_id[:9]
        if len(bridge) > 15:
            raise InvalidArgument(f"bridge name {bridge} is longer than 15 characters")
        self._ensure_predefined()
        with db.transaction(self.db):
            if self.db.execute("SELECT 1 FROM networks WHERE name = ?", (name,)).fetchone():
                raise Conflict(f"network with name {name} already exists")
            others = [Network(row) for row in self.db.execute("SELECT * FROM networks")]
            if any(n.bridge == bridge for n in others):
                raise Conflict(f"bridge name {bridge} is used by another network")
            taken = [n.subnet for n in others if n.subnet]
            if subnet:
                if any(_overlap(subnet, other) for other in taken):
                    raise Conflict("Pool overlaps with other one on this address space")
            else:
                subnet = _free_subnet(taken)
            gateway = gateway or _first_host(subnet)
            self.db.execute(
                "INSERT INTO networks VALUES (?, ?, ?, ?)",
                (
                    network_id,
                    name,
                    time.time(),
                    _settings_json(
                        driver=driver,
                        subnet=subnet,
                        gateway=gateway,
                        ip_range=ip_range,
                        internal=internal,
                        labels=dict(labels or {}),
                        options=options,
                        bridge=bridge,
                    ),
                ),
            )
        return self.get(network_id)

    def remove(self, ref: str) -> Network:
        """``network rm``: refused for the predefined networks and while containers are
        connected."""
        network = self.get(ref)
        if network.predefined:
            raise Conflict(f"{network.name} is a pre-defined network and cannot be removed")
        with db.transaction(self.db):
            if self.in_use(network.id):
                raise Conflict(
                    f"error while removing network: network {network.name} id {network.id} "
                    "has active endpoints"
                )
            self.db.execute("DELETE FROM networks WHERE id = ?", (network.id,))
        return network

    def in_use(self, network_id: str) -> bool:
        return (
            self.db.execute(
                "SELECT 1 FROM container_networks WHERE network = ?", (network_id,)
            ).fetchone()
            is not None
        )

    # --- containers' connections --------------------------------------------------------

    def connections(self, container_id: str) -> list[Connection]:
        """The networks a container is connected to, in the order it joined them."""
        rows = self.db.execute(
            "SELECT * FROM container_networks WHERE container = ? ORDER BY position",
            (container_id,),
        ).fetchall()
        return [Connection(row) for row in rows]

    def containers_of(self, network_id: str) -> list[str]:
        rows = self.db.execute(
            "SELECT container FROM container_networks WHERE network = ?", (network_id,)
        )
        return [row["container"] for row in rows]

    def connect(
        self,
        container_id: str,
        network: Network,
        aliases: list[str] | None = None,
        ip: str = "",
        mac: str = "",
    ) -> None:
        """Record a connection (made at the container's next start); an ``ip`` must be a
        free address of the network's subnet or ip-range (Docker's messages)."""
        if ip:
            check_endpoint_address(network, ip)
        with db.transaction(self.db):
            if self.db.execute(
                "SELECT 1 FROM container_networks WHERE container = ? AND network = ?",
                (container_id, network.id),
            ).fetchone():
                raise Conflict(
                    f"endpoint with name {container_id} already exists in network {network.name}"
                )
            [(position,)] = self.db.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM container_networks WHERE container = ?",
                (container_id,),
            ).fetchall()
            self.db.execute(
                "INSERT INTO container_networks VALUES (?, ?, ?, ?, ?, ?)",
                (container_id, network.id, position, jsonio.dumps(aliases or []), ip, mac),
            )

    def disconnect(self, container_id: str, network_id: str) -> None:
        self.db.execute(
            "DELETE FROM container_networks WHERE container = ? AND network = ?",
            (container_id, network_id),
        )


class Connection:
    """A container's connection to a network: what it asked for (``--network-alias``,
    ``--ip``, ``--mac-address``)."""

    def __init__(self, row: sqlite3.Row) -> None:
        self.container: str = row["container"]
        self.network: str = row["network"]
        self.aliases: list[str] = jsonio.loads(row["aliases"])
        self.ip: str = row["ip"]
        self.mac: str = row["mac"]


def check_name(name: str) -> None:
    """Docker's rule for network names: ``[a-zA-Z0-9][a-zA-Z0-9_.-]*``."""
    if not name:
        raise InvalidArgument("network name is required")
    if not (
        name[0].isascii()
        and name[0].isalnum()
        and all(c.isascii() and (c.isalnum() or c in "_.-") for c in name)
    ):
        raise InvalidArgument(
            f'invalid network name "{name}", must match [a-zA-Z0-9][a-zA-Z0-9_.-]*'
        )


# --- addresses ---------------------------------------------------------------------------


def _check_addresses(subnet: str, gateway: str, ip_range: str) -> tuple[str, str, str]:
    """The docker CLI's and daemon's checks of ``--subnet``, ``--gateway``, ``--ip-range``;
    the subnet in canonical form."""
    import ipaddress

    if (gateway or ip_range) and not subnet:
        raise InvalidArgument("every ip-range or gateway must have a corresponding subnet")
    if not subnet:
        return "", "", ""
    try:
        network = ipaddress.IPv4Network(subnet, strict=False)
    except ValueError:
        raise InvalidArgument(f"Invalid subnet {subnet} : invalid CIDR address: {subnet}") from None
    if ip_range:
        try:
            range_network = ipaddress.IPv4Network(ip_range, strict=False)
        except ValueError:
            raise InvalidArgument(f"invalid CIDR address: {ip_range}") from None
        if not range_network.subnet_of(network):
            raise InvalidArgument(f"no matching subnet for range {ip_range}")
        ip_range = str(range_network)
    if gateway:
        try:
            address = ipaddress.IPv4Address(gateway)
        except ValueError:
            raise InvalidArgument(
                f"invalid gateway address {gateway} in Ipam configuration"
            ) from None
        if address not in network:
            raise InvalidArgument(f"no matching subnet for gateway {gateway}")
    return str(network), gateway, ip_range


def _first_host(subnet: str) -> str:
    import ipaddress

    return str(ipaddress.IPv4Network(subnet)[1])


def _overlap(a: str, b: str) -> bool:
    import ipaddress

    return ipaddress.IPv4Network(a).overlaps(ipaddress.IPv4Network(b))


def _free_subnet(taken: list[str]) -> str:
    """The first subnet of the pool (skiff.toml ``[network] address_pool`` and ``pool_size``)
    that overlaps no network of the store and no route of the host."""
    import ipaddress

    from skiff.config import load_config

    settings = load_config().get("network", {})
    base = ipaddress.IPv4Network(settings.get("address_pool", DEFAULT_POOL[0]))
    size = int(settings.get("pool_size", DEFAULT_POOL[1]))
    used = [ipaddress.IPv4Network(s) for s in [*taken, *host_routes()]]
    for candidate in base.subnets(new_prefix=size):
        if not any(candidate.overlaps(other) for other in used):
            return str(candidate)
    raise Conflict("could not find an available, non-overlapping IPv4 address pool")


def host_routes() -> list[str]:
    """The destinations of the host's IPv4 routes, but the default route."""
    import ipaddress
    import socket
    import struct

    routes = []
    with open("/proc/net/route") as f:
        for line in f.readlines()[1:]:
            destination, mask = (
                socket.inet_ntoa(struct.pack("<I", int(value, 16))) for value in line.split()[1:8:6]
            )
            if mask != "0.0.0.0":
                routes.append(str(ipaddress.IPv4Network(f"{destination}/{mask}", strict=False)))
    return routes
