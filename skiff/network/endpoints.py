"""A running container's endpoints: its interface on each network it is connected to.

``join`` pins a network namespace for the container and runs CNI ADD once per network
(eth0, eth1... in the order it joined them); ``leave`` frees the namespace and runs DEL
for each. Each endpoint is a row of the ``endpoints`` table written before ADD runs and
deleted after DEL succeeded, with the configuration ADD ran and its result: whatever
happens to the command in between (a crash, ``kill -9``), the next ``leave`` or ``system
prune`` can undo it exactly.

``leave`` unpins the namespace before DEL when no other container shares it: the kernel
then removes the container's veth pair with the namespace, in the background, and DEL
only releases the address and the port mappings. Deleting the veth from the host instead
waits for an RCU grace period (about 30 ms here, on every ``run --rm``).

What a network needs on the host beyond its containers' interfaces (the bridge the
plugin makes, skiff.network.firewall's rules) is made by its first endpoint after boot
and stays until ``network rm`` (the default bridge keeps it, as Docker keeps docker0):
making and deleting a bridge costs another 30 ms. aardvark-dns's file for the network
exists while it has endpoints. A lock per network keeps a container joining from racing
one leaving.

The plugin chain of a network: ``bridge`` (with ``host-local`` addresses; a gateway and a
default route unless ``--internal``), ``portmap`` when ports are published, ``tuning``
when a MAC address is asked for.
"""

from __future__ import annotations

import os

from skiff import db, jsonio
from skiff.errors import Conflict
from skiff.locks import exclusive
from skiff.network import cni, dns, firewall, netns
from skiff.network.networks import Network, NetworkStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from contextlib import AbstractContextManager
    from typing import Any

    from skiff.network.networks import Connection
    from skiff.network.ports import PortBinding
    from skiff.paths import Paths


# Brings the namespace's loopback interface up; it goes with the namespace (no DEL).
LOOPBACK = cni.conflist("skiff-loopback", [{"type": "loopback"}])


class Endpoint:
    """A container's interface on a network, as CNI ADD configured it."""

    def __init__(self, network: Network, interface: str, result: dict[str, Any]) -> None:
        self.network = network
        self.interface = interface
        ips = result.get("ips") or [{}]
        address = ips[0].get("address", "")
        self.ip, _, prefix = address.partition("/")
        self.prefix = int(prefix or 0)
        self.gateway: str = ips[0].get("gateway", "") or network.gateway
        interfaces = result.get("interfaces") or []
        index = ips[0].get("interface")
        self.mac: str = (
            interfaces[index].get("mac", "")
            if isinstance(index, int) and index < len(interfaces)
            else ""
        )
        if not self.mac:
            self.mac = next(
                (i.get("mac", "") for i in interfaces if i.get("name") == interface), ""
            )


class Endpoints:
    def __init__(self, paths: Paths, store: NetworkStore) -> None:
        self.paths = paths
        self.store = store
        self.db = store.db

    # --- join / leave -------------------------------------------------------------------

    def join(
        self,
        container_id: str,
        names: list[str],
        ports: Sequence[PortBinding] = (),
    ) -> tuple[str, list[Endpoint]]:
        """Pin the container's network namespace and add its interface on each network it
        is connected to (published ports on the first); the namespace's path and the
        endpoints. On failure nothing stays. Endpoints left by a start that was killed
        (kill -9 of the command) are deleted first."""
        if self._rows(container_id):
            self.leave(container_id)
        path = netns.create(self.paths.runroot, container_id)
        joined = []
        try:
            cni.add(LOOPBACK, container_id, path, "lo", {})
            for index, connection in enumerate(self.store.connections(container_id)):
                joined.append(
                    self._add(
                        container_id, connection, f"eth{index}", path, names,
                        ports if index == 0 else (),
                    )
                )  # fmt: skip
        except BaseException:
            self.leave(container_id)
            raise
        return path, joined

    def connect(self, container_id: str, connection: Connection, names: list[str]) -> Endpoint:
        """Add an interface for a new connection of a running container."""
        taken = {row["interface"] for row in self._rows(container_id)}
        interface = next(f"eth{i}" for i in range(len(taken) + 1) if f"eth{i}" not in taken)
        path = netns.path(self.paths.runroot, container_id)
        return self._add(container_id, connection, interface, path, names, ())

    def leave(self, container_id: str, shared: bool = False) -> None:
        """Remove every endpoint of the container and its namespace (unpinned first unless
        another container is still ``shared`` in it); the first error is raised after all
        were tried."""
        if not shared:
            netns.remove(self.paths.runroot, container_id)
        failure: BaseException | None = None
        for row in reversed(self._rows(container_id)):
            try:
                self._delete(row)
            except Exception as e:
                failure = failure or e
        netns.remove(self.paths.runroot, container_id)
        if failure is not None:
            raise failure

    def disconnect(self, container_id: str, network_id: str) -> None:
        for row in self._rows(container_id):
            if row["network"] == network_id:
                self._delete(row)

    def rename(self, container_id: str, old: str, new: str) -> None:
        """A renamed container answers to its new name (short ID and aliases stay)."""
        for row in self._rows(container_id):
            runtime_config = jsonio.loads(row["runtime_config"])
            names = runtime_config.get("names") or []
            runtime_config["names"] = [new if name == old else name for name in names]
            network = self.store.get(row["network"])
            with self._network_lock(network.id):
                self.db.execute(
                    "UPDATE endpoints SET runtime_config = ? WHERE container = ? AND network = ?",
                    (jsonio.dumps(runtime_config), container_id, network.id),
                )
                if network.dns and row["result"]:
                    self._update_dns(network)

    def endpoints(self, container_id: str) -> list[Endpoint]:
        """The container's endpoints ADD finished, by interface."""
        found = []
        for row in self._rows(container_id):
            if row["result"]:
                network = self.store.get(row["network"])
                found.append(Endpoint(network, row["interface"], jsonio.loads(row["result"])))
        return found

    def _rows(self, container_id: str) -> list[Any]:
        return self.db.execute(
            "SELECT * FROM endpoints WHERE container = ? ORDER BY interface", (container_id,)
        ).fetchall()

    # --- one endpoint -------------------------------------------------------------------

    def _add(
        self,
        container_id: str,
        connection: Connection,
        interface: str,
        path: str,
        names: list[str],
        ports: Sequence[PortBinding],
    ) -> Endpoint:
        network = self.store.get(connection.network)
        config = self._config(network, bool(ports), bool(connection.mac))
        runtime_config: dict[str, Any] = {}
        if ports:
            runtime_config["portMappings"] = [
                {
                    "hostPort": p.host_port,
                    "containerPort": p.container_port,
                    "protocol": p.protocol,
                    "hostIP": p.host_ip,
                }
                for p in ports
            ]
        if connection.ip:
            runtime_config["ips"] = [connection.ip]
        if connection.mac:
            runtime_config["mac"] = connection.mac
        dns_names = [*names, *connection.aliases]
        with self._network_lock(network.id):
            marker = self._up_marker(network.id)
            if not os.path.exists(marker):
                firewall.set_up(network)
                os.makedirs(os.path.dirname(marker), exist_ok=True)
                with open(marker, "w"):
                    pass
            with db.transaction(self.db):
                self.db.execute(
                    "INSERT INTO endpoints VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        container_id, network.id, interface, path, jsonio.dumps(config),
                        jsonio.dumps({**runtime_config, "names": dns_names}), None,
                    ),
                )  # fmt: skip
        try:
            result = cni.add(config, container_id, path, interface, runtime_config)
        except cni.PluginError as e:
            if connection.ip and "is not available in range set" in str(e):  # host-local's
                message = f"Address already in use: {connection.ip} in {network.name}"
                raise Conflict(message) from None
            raise
        self.db.execute(
            "UPDATE endpoints SET result = ? WHERE container = ? AND network = ?",
            (jsonio.dumps(result), container_id, network.id),
        )
        forget_stale_neighbours(network.bridge, result)
        if network.dns:
            with self._network_lock(network.id):
                self._update_dns(network)
        return Endpoint(network, interface, result)

    def _delete(self, row: Any) -> None:
        """DEL, then the row goes even if DEL failed (its error is raised after): the same
        DEL would fail again, and a row nobody owns would keep its network in use."""
        network_id = row["network"]
        runtime_config = jsonio.loads(row["runtime_config"])
        runtime_config.pop("names", None)
        try:
            cni.delete(
                jsonio.loads(row["config"]),
                row["container"],
                row["netns"],
                row["interface"],
                runtime_config,
                jsonio.loads(row["result"]) if row["result"] else None,
            )
        finally:
            with self._network_lock(network_id):
                self.db.execute(
                    "DELETE FROM endpoints WHERE container = ? AND network = ?",
                    (row["container"], network_id),
                )
                network = self.store.by_id(network_id)
                if network is not None and network.dns:
                    self._update_dns(network)

    def release_network(self, network: Network) -> None:
        """After ``network rm``: its rules, its bridge and its DNS file go."""
        with self._network_lock(network.id):
            firewall.tear_down(network)
            _delete_link(network.bridge)
            dns.remove(self.paths.runroot, network.name)
            try:
                os.unlink(self._up_marker(network.id))
            except FileNotFoundError:
                pass

    def _update_dns(self, network: Network) -> None:
        entries = []
        for row in self.db.execute(
            "SELECT * FROM endpoints WHERE network = ? AND result IS NOT NULL ORDER BY container",
            (network.id,),
        ):
            endpoint = Endpoint(network, row["interface"], jsonio.loads(row["result"]))
            names = jsonio.loads(row["runtime_config"]).get("names") or []
            entries.append((row["container"], endpoint.ip, names))
        if entries:
            dns.update(self.paths.runroot, network.name, network.gateway, entries)
        else:
            dns.remove(self.paths.runroot, network.name)

    def _config(self, network: Network, ports: bool, mac: bool) -> dict[str, Any]:
        """The CNI configuration list of a container's endpoint on ``network``."""
        address_range: dict[str, Any] = {"subnet": network.subnet, "gateway": network.gateway}
        if network.ip_range:
            import ipaddress

            hosts = ipaddress.IPv4Network(network.ip_range)
            address_range["rangeStart"] = str(hosts[1] if hosts.num_addresses > 2 else hosts[0])
            address_range["rangeEnd"] = str(hosts[-2] if hosts.num_addresses > 2 else hosts[-1])
        ipam: dict[str, Any] = {
            "type": "host-local",
            "ranges": [[address_range]],
            "dataDir": os.path.join(self.paths.root, "network", "ipam"),
        }
        if not network.internal:
            ipam["routes"] = [{"dst": "0.0.0.0/0"}]
        plugins: list[dict[str, Any]] = [
            {
                "type": "bridge",
                "bridge": network.bridge,
                "isGateway": True,
                "hairpinMode": True,
                "capabilities": {"ips": True},
                "ipam": ipam,
            }
        ]
        if ports:
            plugins.append(
                {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}
            )
        if mac:
            plugins.append({"type": "tuning", "capabilities": {"mac": True}})
        return cni.conflist(network.name, plugins)

    def _up_marker(self, network_id: str) -> str:
        """Exists while the network's bridge and rules are set up (the run root is gone
        after a reboot, and so are they)."""
        return os.path.join(self.paths.runroot, "network-up", network_id)

    def _network_lock(self, network_id: str) -> AbstractContextManager[None]:
        return exclusive(os.path.join(self.paths.runroot, "network-locks", network_id))


def forget_stale_neighbours(bridge: str, result: dict[str, Any]) -> None:
    """Drop the host's ARP entries on ``bridge`` for the addresses ADD just gave: an entry
    left by the container that had the address before holds that container's (random)
    MAC, and the host would send the new one's first packets there until the entry
    expires. Docker avoids it with MACs made from the address; here the entry goes.
    /proc/net/arp is read first, so a run with nothing stale spawns nothing."""
    import subprocess

    addresses = {ip["address"].split("/")[0] for ip in result.get("ips", []) if ip.get("address")}
    try:
        with open("/proc/net/arp") as f:
            rows = [line.split() for line in f.read().splitlines()[1:]]
    except OSError:
        return
    for row in rows:
        if len(row) >= 6 and row[0] in addresses and row[5] == bridge:
            subprocess.run(["ip", "neigh", "del", row[0], "dev", bridge], capture_output=True)


def _delete_link(name: str) -> None:
    """The bridge the plugin made (it never removes one)."""
    import subprocess

    subprocess.run(["ip", "link", "delete", name, "type", "bridge"], capture_output=True)
