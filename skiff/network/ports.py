"""Published and exposed ports in Docker's terms: ``-p``, ``--expose`` and the port maps of
its API. Pure parsing, no kernel work.

``-p`` is parsed as the docker CLI 28 parses it (docker/go-connections' ``nat.ParsePortSpec``
0.5, after the CLI turns ``published=8080,target=80`` into ``8080:80/tcp``), with its
messages and its order of checks: the host address, the container port, the host port, the
lengths of the two ranges, then the protocol. Addresses are Go's ``net.ParseIP``'s.

This module is on ``skiff run``'s start-up path (skiff.engine.options imports it): it
imports nothing but skiff.values and skiff.errors.
"""

from __future__ import annotations

from skiff.errors import InvalidArgument
from skiff.values import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

PROTOCOLS = ("tcp", "udp", "sctp")


class PortBinding(Value):
    """One container port published on the host.

    ``host_ip`` "" is every address; ``host_port`` 0 a port the engine picks at start;
    ``host_port_end`` the last port of the host range to pick from when one container port
    was given a range (``-p 8000-8010:80``), else ``host_port`` (0 with ``host_port`` 0).
    """

    FIELDS = ("container_port", "protocol", "host_ip", "host_port", "host_port_end")
    __slots__ = FIELDS

    def __init__(
        self,
        container_port: int,
        protocol: str = "tcp",
        host_ip: str = "",
        host_port: int = 0,
        host_port_end: int = 0,
    ) -> None:
        self.container_port = container_port
        self.protocol = protocol
        self.host_ip = host_ip
        self.host_port = host_port
        self.host_port_end = host_port_end


# --- Go's parsers ------------------------------------------------------------------------


def go_parse_port(text: str) -> int:
    """Go's ``strconv.ParseUint(text, 10, 16)``; ValueError with its message (a value out
    of range is reported as soon as the digits read exceed it, as there)."""
    syntax = ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    value = 0
    for ch in text:
        if not "0" <= ch <= "9":
            raise syntax
        value = value * 10 + int(ch)
        if value > 65535:
            raise ValueError(f'strconv.ParseUint: parsing "{text}": value out of range')
    if not text:
        raise syntax
    return value


def parse_port_range(text: str) -> tuple[int, int]:
    """go-connections' ``ParsePortRange``: ``80`` or ``8000-8010`` (a third part is
    ignored, as there); ValueError with its message."""
    if not text:
        raise ValueError("empty string specified for ports")
    if "-" not in text:
        port = go_parse_port(text)
        return port, port
    parts = text.split("-")
    start, end = go_parse_port(parts[0]), go_parse_port(parts[1])
    if end < start:
        raise ValueError(f"invalid range specified for port: {text}")
    return start, end


def split_proto_port(text: str) -> tuple[str, str]:
    """go-connections' ``SplitProtoPort``: ``80/udp`` -> (``udp``, ``80``); ``tcp`` when
    no protocol is given, ("", "") when no port is."""
    parts = text.split("/")
    if not parts[0]:
        return "", ""
    if len(parts) == 1 or not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def go_parse_ip(text: str) -> bytes | None:
    """Go's ``net.ParseIP``: the address's 4 or 16 bytes, or None (no zone, no brackets,
    no leading zeros in IPv4)."""
    import _socket

    family = _socket.AF_INET6 if ":" in text else _socket.AF_INET
    try:
        return _socket.inet_pton(family, text)
    except (OSError, ValueError):
        return None


def go_ip_string(packed: bytes) -> str:
    """Go's ``net.IP.String``: IPv4 (also IPv4-mapped IPv6) dotted, IPv6 with the first
    longest run of two or more zero groups as ``::``."""
    if len(packed) == 16 and packed[:12] == b"\0" * 10 + b"\xff\xff":
        packed = packed[12:]
    if len(packed) == 4:
        return ".".join(str(b) for b in packed)
    groups = [packed[i] << 8 | packed[i + 1] for i in range(0, 16, 2)]
    best_start, best_len, i = -1, 1, 0
    while i < 8:
        j = i
        while j < 8 and groups[j] == 0:
            j += 1
        if j - i > best_len:
            best_start, best_len = i, j - i
        i = j + 1
    text = [f"{g:x}" for g in groups]
    if best_start < 0:
        return ":".join(text)
    head = ":".join(text[:best_start])
    tail = ":".join(text[best_start + best_len :])
    return f"{head}::{tail}"


def _strip_brackets(ip: str) -> str:
    """``[::1]`` -> ``::1`` as Go's ``net.SplitHostPort(ip + ":")`` does it; ValueError
    with its message (an ``AddrError``'s)."""
    hostport = ip + ":"
    last = len(hostport) - 1
    end = hostport.find("]")
    if end < 0:
        why = "missing ']' in address"
    elif end + 1 != last:
        why = (
            "too many colons in address" if hostport[end + 1] == ":" else "missing port in address"
        )
    elif "[" in hostport[1:]:
        why = "unexpected '[' in address"
    else:
        return hostport[1:end]
    raise ValueError(f"address {hostport}: {why}")


# --- -p and --expose ---------------------------------------------------------------------


def _standard_notation(spec: str) -> str:
    """The docker CLI's long syntax, ``published=8080,target=80,protocol=udp``, as
    ``8080:80/udp``."""
    if "=" not in spec:
        return spec
    params = {"protocol": "tcp"}
    for param in spec.split(","):
        key, sep, value = param.partition("=")
        if not sep or not key:
            raise InvalidArgument(
                f"invalid publish opts format (should be name=value but got '{param}')"
            )
        params[key] = value
    return f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}"


def _split_parts(spec: str) -> tuple[str, str, str]:
    """``[ip:][host_port:]container_port``: the ip may hold colons (IPv6)."""
    parts = spec.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def parse_publish(spec: str) -> list[PortBinding]:
    """``-p [ip:][host_port[-end]:]container_port[-end][/proto]``: one binding per
    container port. Host and container ranges must be as long, unless one container port
    is given a host range to pick from; no host port is a port picked at start."""
    raw = _standard_notation(spec)
    ip, host_text, container_text = _split_parts(raw)
    proto, container_text = split_proto_port(container_text)
    if ip.startswith("["):
        try:
            ip = _strip_brackets(ip)
        except ValueError as e:
            raise InvalidArgument(f"invalid IP address {ip}: {e}") from None
    if ip and go_parse_ip(ip) is None:
        raise InvalidArgument(f"invalid IP address: {ip}")
    if not container_text:
        raise InvalidArgument(f"no port specified: {raw}<empty>")
    try:
        start, end = parse_port_range(container_text)
    except ValueError:
        raise InvalidArgument(f"invalid containerPort: {container_text}") from None
    host_start = host_end = 0
    if host_text:
        try:
            host_start, host_end = parse_port_range(host_text)
        except ValueError:
            raise InvalidArgument(f"invalid hostPort: {host_text}") from None
        if end - start != host_end - host_start and end != start:
            raise InvalidArgument(
                "invalid ranges specified for container and host Ports: "
                f"{container_text} and {host_text}"
            )
    if proto.lower() not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    bindings = []
    for i, port in enumerate(range(start, end + 1)):
        host = host_start + i if host_text else 0
        bindings.append(
            PortBinding(port, proto.lower(), ip, host, host_end if end == start else host)
        )
    return bindings


def parse_expose(spec: str) -> list[str]:
    """``--expose 80``, ``80/udp``, ``7000-7002``: the ports, ``80/tcp`` each."""
    if ":" in spec:
        raise InvalidArgument(f"invalid port format for --expose: {spec}")
    proto, port = split_proto_port(spec)
    try:
        start, end = parse_port_range(port)
    except ValueError as e:
        raise InvalidArgument(f"invalid range format for --expose: {spec}, error: {e}") from None
    return [f"{p}/{proto}" for p in range(start, end + 1)]


# --- Docker's maps -----------------------------------------------------------------------


def port_key(binding: PortBinding) -> str:
    """Docker's key of a container port: ``80/tcp``."""
    return f"{binding.container_port}/{binding.protocol}"


def exposed_port_keys(bindings: Iterable[PortBinding], expose: Iterable[str]) -> list[str]:
    """The ports a container exposes by its options (``-p``'s, then ``--expose``'s), each
    once; the engine adds the image's (``Config.ExposedPorts``)."""
    return list(dict.fromkeys([*(port_key(b) for b in bindings), *expose]))


def publish_all(bindings: list[PortBinding], exposed: Iterable[str]) -> list[PortBinding]:
    """``-P``: ``bindings`` and a random host port on every address for each exposed port
    (``80/tcp``) they do not publish."""
    bound = {port_key(b) for b in bindings}
    more = []
    for key in exposed:
        if key not in bound:
            port, _, proto = key.partition("/")
            more.append(PortBinding(int(port), proto or "tcp"))
            bound.add(key)
    return bindings + more


def _host_port_text(binding: PortBinding) -> str:
    if binding.host_port == 0 and binding.host_port_end == 0:
        return ""
    if binding.host_port_end != binding.host_port:
        return f"{binding.host_port}-{binding.host_port_end}"
    return str(binding.host_port)


def port_bindings_config(bindings: Iterable[PortBinding]) -> dict[str, list[dict[str, str]]]:
    """Docker's ``HostConfig.PortBindings``: ``{"80/tcp": [{"HostIp": "", "HostPort":
    "8080"}]}``; ``HostPort`` "" for a random port, ``8000-8010`` for a host range. Keys in
    Go's JSON order (sorted)."""
    config: dict[str, list[dict[str, str]]] = {}
    for binding in bindings:
        entry = {"HostIp": binding.host_ip, "HostPort": _host_port_text(binding)}
        config.setdefault(port_key(binding), []).append(entry)
    return dict(sorted(config.items()))


def published_ports_map(
    bindings: Iterable[PortBinding], exposed: Iterable[str]
) -> dict[str, list[dict[str, str]] | None]:
    """Docker's ``NetworkSettings.Ports`` of a started container, from ``bindings`` whose
    host ports are resolved: ``{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
    "443/tcp": None}``, None for a port only exposed. IPv4 only: no ``::`` entries. Keys
    in Go's JSON order (sorted)."""
    ports: dict[str, list[dict[str, str]] | None] = dict.fromkeys(exposed)
    published: dict[str, list[dict[str, str]]] = {}
    for binding in bindings:
        entry = {"HostIp": binding.host_ip or "0.0.0.0", "HostPort": str(binding.host_port)}
        published.setdefault(port_key(binding), []).append(entry)
    ports.update(published)
    return dict(sorted(ports.items()))
