"""Network endpoints: list, inspect, create, remove, connect, disconnect, prune.

The work is the engine's, as for ``skiff network`` (skiff.engine.networking over
skiff.network): a network created here is the CLI's and the other way round.
"""

from __future__ import annotations

from aiohttp import web

from skiff.api import fields
from skiff.api.http import Call, answer, blocking, no_content
from skiff.errors import InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.engine.engine import Engine


async def list_networks(call: Call) -> web.StreamResponse:
    """Every network matching the filters, without their containers (dockerd lists them
    so since API 1.28)."""
    filters = call.filters()

    def read(engine: Engine) -> list[dict[str, Any]]:
        from skiff.engine.networking import inspect_network, select_networks

        return [
            inspect_network(engine, network, with_containers=False)
            for network in select_networks(engine, filters)
        ]

    return answer(await blocking(read))


async def inspect(call: Call) -> web.StreamResponse:
    scope = call.text("scope")

    def read(engine: Engine) -> dict[str, Any]:
        from skiff.engine.networking import inspect_network

        network = engine.networks.get(call.params["id"])
        if scope and scope != "local":
            raise NotFound(f"network {call.params['id']} not found")
        return inspect_network(engine, network)

    return answer(await blocking(read))


def create_settings(body: dict[str, Any]) -> dict[str, Any]:
    """The keywords of ``create_network`` from a NetworkCreateRequest; what skiff's
    bridge driver cannot do (IPv6, swarm scopes, config-only networks, more than one
    subnet) is refused with a 400."""
    name = fields.text(body, "Name", "NetworkCreateRequest.Name")
    if not name:
        raise InvalidArgument("network name is required")
    if fields.flag(body, "EnableIPv6", "NetworkCreateRequest.EnableIPv6"):
        raise InvalidArgument("skiff networks are IPv4 only: EnableIPv6 is not supported")
    scope = fields.text(body, "Scope", "NetworkCreateRequest.Scope")
    if scope not in ("", "local"):
        raise InvalidArgument(f"scope {scope!r} is not supported: skiff networks are local")
    if fields.flag(body, "Ingress", "NetworkCreateRequest.Ingress"):
        raise InvalidArgument("ingress networks need swarm mode, which skiff does not have")
    config_from = fields.obj(body, "ConfigFrom", "NetworkCreateRequest.ConfigFrom")
    if fields.flag(body, "ConfigOnly", "NetworkCreateRequest.ConfigOnly") or fields.text(
        config_from, "Network", "NetworkCreateRequest.ConfigFrom.Network"
    ):
        raise InvalidArgument("config-only networks are not supported")
    ipam = fields.obj(body, "IPAM", "NetworkCreateRequest.IPAM", "network.IPAM")
    ipam_driver = fields.text(ipam, "Driver", "NetworkCreateRequest.IPAM.Driver")
    if ipam_driver not in ("", "default"):
        raise NotFound(f'plugin "{ipam_driver}" not found')
    configs = fields.objects(
        ipam, "Config", "NetworkCreateRequest.IPAM.Config", "[]network.IPAMConfig"
    )
    if len(configs) > 1:
        raise InvalidArgument("skiff supports one subnet per network (IPv4)")
    config = configs[0] if configs else {}
    path = "NetworkCreateRequest.IPAM.Config"
    return {
        "name": name,
        "driver": fields.text(body, "Driver", "NetworkCreateRequest.Driver") or "bridge",
        "subnet": fields.text(config, "Subnet", f"{path}.Subnet"),
        "gateway": fields.text(config, "Gateway", f"{path}.Gateway"),
        "ip_range": fields.text(config, "IPRange", f"{path}.IPRange"),
        "internal": fields.flag(body, "Internal", "NetworkCreateRequest.Internal"),
        "labels": fields.string_map(body, "Labels", "NetworkCreateRequest.Labels"),
        "options": fields.string_map(body, "Options", "NetworkCreateRequest.Options"),
    }


async def create(call: Call) -> web.StreamResponse:
    settings = create_settings(fields.body_object(await call.json(), "NetworkCreateRequest"))

    def make(engine: Engine) -> dict[str, Any]:
        from skiff.engine.networking import create_network

        network = create_network(engine, **settings)
        return {"Id": network.id, "Warning": ""}

    return answer(await blocking(make), 201)


async def remove(call: Call) -> web.StreamResponse:
    def act(engine: Engine) -> None:
        from skiff.engine.networking import remove_network

        remove_network(engine, call.params["id"])

    await blocking(act)
    return no_content()


async def connect(call: Call) -> web.StreamResponse:
    body = fields.body_object(await call.json(), "NetworkConnectRequest")
    container = fields.text(body, "Container", "NetworkConnectRequest.Container")
    endpoint = fields.obj(body, "EndpointConfig", "NetworkConnectRequest.EndpointConfig")
    path = "NetworkConnectRequest.EndpointConfig"
    aliases = fields.strings(endpoint, "Aliases", f"{path}.Aliases")
    ipam = fields.obj(endpoint, "IPAMConfig", f"{path}.IPAMConfig")
    ip = fields.text(ipam, "IPv4Address", f"{path}.IPAMConfig.IPv4Address")
    if fields.text(ipam, "IPv6Address", f"{path}.IPAMConfig.IPv6Address"):
        raise InvalidArgument("skiff networks are IPv4 only: IPv6Address is not supported")
    if not container:
        raise InvalidArgument("no container given to connect")

    def act(engine: Engine) -> None:
        from skiff.engine.networking import connect as connect_container

        connect_container(engine, container, call.params["id"], aliases, ip)

    await blocking(act)
    return no_content(200)


async def disconnect(call: Call) -> web.StreamResponse:
    body = fields.body_object(await call.json(), "NetworkDisconnectRequest")
    container = fields.text(body, "Container", "NetworkDisconnectRequest.Container")
    fields.flag(body, "Force", "NetworkDisconnectRequest.Force")  # nothing more to force
    if not container:
        raise InvalidArgument("no container given to disconnect")

    def act(engine: Engine) -> None:
        from skiff.engine.networking import disconnect as disconnect_container

        disconnect_container(engine, container, call.params["id"])

    await blocking(act)
    return no_content(200)


async def prune(call: Call) -> web.StreamResponse:
    filters = call.filters()

    def act(engine: Engine) -> list[str]:
        from skiff.engine.networking import prune_networks

        return prune_networks(engine, filters)

    removed = await blocking(act)
    return answer({"NetworksDeleted": removed or None})


ROUTES = [
    ("GET", "/networks", list_networks),
    ("POST", "/networks/create", create),
    ("POST", "/networks/prune", prune),
    ("GET", "/networks/{id}", inspect),
    ("DELETE", "/networks/{id}", remove),
    ("POST", "/networks/{id}/connect", connect),
    ("POST", "/networks/{id}/disconnect", disconnect),
]
