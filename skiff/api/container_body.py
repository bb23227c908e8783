"""``POST /containers/create``: the request body as skiff's ContainerOptions.

The body is Docker's ``container.CreateRequest``: ``Config`` fields at the top level,
``HostConfig`` and ``NetworkingConfig`` beside them. It is read as dockerd 28 reads it:

1. decoded as Go's ``encoding/json`` decodes into moby's structs (Go 1.24, what Docker
   28 is built with): keys matched exactly, else case-insensitively; unknown keys
   ignored; ``null`` leaves a value alone (and empties a list, map or pointer); a value
   of the wrong JSON type is Go's ``UnmarshalTypeError``, the first one in the body
   reported, as ``invalid JSON: json: cannot unmarshal string into Go struct field
   HostConfig.HostConfig.Resources.Memory of type int64``; numbers must fit their Go
   type (``number 1.5`` into an int64 is an error too);
2. checked as the daemon checks it before it creates anything (moby's
   ``decodeCreateRequest`` and ``validateCreateRequest``, the API router's
   version-dependent rules, then ``verifyContainerSettings`` and
   ``validateNetworkingConfig``), with the daemon's messages;
3. turned into ContainerOptions, the very ones skiff's CLI makes of the docker CLI
   flags that produce this body (but where skiff's CLI reads a flag otherwise than the
   docker CLI and dockerd do: tests/unit/test_api_container_body.py, DIFFERENCES).

Every failure is an InvalidArgument (HTTP 400). What is left to ``Engine.create`` (which
calls ``ContainerOptions.validate``): the checks that need the host or the stores
(memory and CPU limits, capability names, log options, the image, networks, volumes,
bind sources, the container name).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from skiff.api.fields import json_kind
from skiff.engine.options import (
    DeviceMapping,
    HealthConfig,
    InvalidFlagValue,
    MountSpec,
    RestartPolicy,
    SecurityOptions,
    Ulimit,
    clean_path,
    go_quote,
)
from skiff.errors import InvalidArgument
from skiff.network.ports import PortBinding, go_parse_ip
from skiff.values import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

    from skiff.engine.options import ContainerOptions

    # Where a value sits, as Go's decoder names it in errors: the innermost struct type
    # being decoded and the path of JSON field names from the root; None at the root.
    At = tuple[str, tuple[str, ...]] | None

API_VERSION = (1, 45)

EMPTY_CONFIG = "config cannot be empty in order to create a container"
MAC_DEPRECATED = (
    "The container-wide MacAddress field is now deprecated. It should be specified in "
    "EndpointsConfig instead."
)


class EndpointConfig(Value):
    """What a body asks of one network's endpoint (Docker's ``EndpointSettings``): the
    aliases, the IPv4 address, the MAC address."""

    FIELDS = ("aliases", "ip", "mac_address")
    __slots__ = FIELDS

    def __init__(
        self, aliases: list[str] | None = None, ip: str = "", mac_address: str = ""
    ) -> None:
        self.aliases = aliases or []
        self.ip = ip
        self.mac_address = mac_address


class CreateRequest:
    """A create body, read: the options; the daemon's warnings for the response's
    ``Warnings``; the networks other than ``HostConfig.NetworkMode``'s to connect the
    container to once created (API 1.44 and later create on several networks; skiff's
    options name one); the ``ConsoleSize`` asked (rows, columns; (0, 0) when none)."""

    __slots__ = ("console_size", "networks", "options", "warnings")

    def __init__(
        self,
        options: ContainerOptions,
        warnings: list[str],
        networks: dict[str, EndpointConfig],
        console_size: tuple[int, int],
    ) -> None:
        self.options = options
        self.warnings = warnings
        self.networks = networks
        self.console_size = console_size


def options_from_body(
    body: Any, name: str = "", version: tuple[int, int] = API_VERSION
) -> ContainerOptions:
    """The ContainerOptions of a create body (any JSON value, parsed) for the container
    ``name`` ("" for a generated one), as the API ``version`` reads it."""
    return parse_create_body(body, name, version).options


def parse_create_body(
    body: Any, name: str = "", version: tuple[int, int] = API_VERSION
) -> CreateRequest:
    """The create request a body makes (see the module's docstring); InvalidArgument with
    dockerd's message for a body it refuses."""
    request = _decode(body)
    if request["Config"] is None:
        raise InvalidArgument(EMPTY_CONFIG)
    return _Reader(request, name, version).read()


# --- Go's encoding/json ------------------------------------------------------------------


class _Keep:
    """A decoder's "leave the value as it was" (JSON null into a non-nullable type, or a
    value of the wrong type)."""


_KEEP = _Keep()


class _Decoder:
    """The state of one decode: Go reports the first type mismatch once the whole body
    has been read, unless a custom unmarshaler fails first (that ends the decode)."""

    def __init__(self) -> None:
        self.first: str | None = None

    def mismatch(self, what: str, type_name: str, at: At) -> None:
        if self.first is None:
            self.first = _unmarshal_error(what, type_name, at)


def _unmarshal_error(what: str, type_name: str, at: At) -> str:
    if at is None:
        return f"json: cannot unmarshal {what} into Go value of type {type_name}"
    struct, path = at
    field = ".".join(path)
    return (
        f"json: cannot unmarshal {what} into Go struct field {struct}.{field} of type {type_name}"
    )


def _go_text(text: str) -> str:
    """A JSON string as Go decodes it: a lone UTF-16 surrogate (``"\\ud800"``, which
    Python's json keeps) becomes U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def _number_text(value: int | float) -> str:
    try:
        return repr(value)
    except ValueError:  # an int beyond Python's digit limit
        return "(a very large number)"


class _Type(ABC):
    """A Go type of Docker's API, as encoding/json decodes into it. ``name`` is the
    type's name in Go's errors (``int64``, ``[]string``, ``container.HostConfig``)."""

    name = ""

    @abstractmethod
    def zero(self) -> Any:
        """Go's zero value of the type."""

    @abstractmethod
    def decode(self, value: Any, current: Any, at: At, d: _Decoder) -> Any:
        """The value decoded, or _KEEP for "unchanged"."""


class _String(_Type):
    def __init__(self, name: str = "string") -> None:
        self.name = name

    def zero(self) -> Any:
        return ""

    def decode(self, value: Any, current: Any, at: At, d: _Decoder) -> Any:
        if value is None:
            return _KEEP
        if isinstance(value, str):
            return _go_text(value)
        d.mismatch(json_kind(value), self.name, at)
        return _KEEP


class _Bool(_Type):
    name = "bool"

    def zero(self) -> Any:
        return False

    def decode(self, value: Any, current: Any, at: At, d: _Decoder) -> Any:
        if value is None:
            return _KEEP
        if isinstance(value, bool):
            return value
        d.mismatch(json_kind(value), self.name, at)
        return _KEEP


class _Int(_Type):
    """Go's integer kinds: a JSON number that is an integer in range (``1.0`` is not)."""

    def __init__(self, name: str, bits: int = 64, signed: bool = True) -> None:
        self.name = name
        self.low = -(1 << (bits - 1)) if signed else 0
        self.high = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1

    def zero(self) -> Any:
        return 0

    def decode(self, value: Any, current: Any, at: At, d: _Decoder) -> Any:
        if value is None:
            return _KEEP
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            d.mismatch(json_kind(value), self.name, at)
            return _KEEP
        if isinstance(value, int) and self.low <= value <= self.high:
            return value
        d.mismatch(f"number {_number_text(value)}", self.name, at)
        return _KEEP


class _Slice(_Type):
    def __init__(self, name: str, elem: _Type) -> None:
        self.name = name
        self.elem = elem

    def zero(self) -> Any:
        return None

    def decode(self, value: Any, current: Any, at: At, d: _Decoder) -> Any:
        if value is None:
            return None
        if not isinstance(value, list):
            d.mismatch(json_kind(value), self.name, at)
            return _KEEP
        out = []
        for item in value:
            decoded = self.elem.decode(item, self.elem.zero(), at, d)
            out.append(self.elem.zero() if decoded is _KEEP else decoded)
        return out


class _Array(_Type):
    """A Go array: extra JSON elements are dropped, missing ones are zero."""

    def __init__(self, name: str, elem: _Type, length: int) -> None:
        self.name = name
        self.elem = elem
        self.length = length

    def zero(self) -> Any:
        return [self.elem.zero() for _ in range(self.length)]

    def decode(self, value: Any, current: Any, at: At, d: _Decoder) -> Any:
        if value is None:
            return _KEEP
        if not isinstance(value, list):
            d.mismatch(json_kind(value), self.name, at)
            return _KEEP
        out = self.zero()
        for i, item in enumerate(value[: self.length]):
            decoded = self.elem.decode(item, self.elem.zero(), at, d)
            if decoded is not _KEEP:
                out[i] = decoded
        return out


class _Map(_Type):
    """A ``map[string]T``: an object's entries join those already there."""

    def __init__(self, name: str, elem: _Type) -> None:
        self.name = name
        self.elem = elem

    def zero(self) -> Any:
        return None

    def decode(self, value: Any, current: Any, at: At, d: _Decoder) -> Any:
        if value is None:
            return None
        if not isinstance(value, dict):
            d.mismatch(json_kind(value), self.name, at)
            return _KEEP
        out = dict(current) if isinstance(current, dict) else {}
        for key, item in value.items():
            decoded = self.elem.decode(item, self.elem.zero(), at, d)
            out[_go_text(str(key))] = self.elem.zero() if decoded is _KEEP else decoded
        return out


class _Pointer(_Type):
    """``*T``: null is nil (None); anything else is decoded into a T."""

    def __init__(self, elem: _Type) -> None:
        self.elem = elem
        self.name = elem.name

    def zero(self) -> Any:
        return None

    def decode(self, value: Any, current: Any, at: At, d: _Decoder) -> Any:
        if value is None:
            return None
        base = self.elem.zero() if current is None else current
        decoded = self.elem.decode(value, base, at, d)
        return base if decoded is _KEEP else decoded


class _StrSlice(_Type):
    """moby's ``strslice.StrSlice`` (``Cmd``, ``Entrypoint``, ``CapAdd``...): a list of
    strings or one string. Its own UnmarshalJSON falls back to a string and returns that
    error: it ends the decode, and names the type ``string``."""

    name = "strslice.StrSlice"

    def zero(self) -> Any:
        return None

    def decode(self, value: Any, current: Any, at: At, d: _Decoder) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            return [_go_text(value)]
        if isinstance(value, list) and all(v is None or isinstance(v, str) for v in value):
            return [_go_text(v or "") for v in value]
        raise InvalidArgument("invalid JSON: " + _unmarshal_error(json_kind(value), "string", at))


class _Field:
    __slots__ = ("go_type", "json", "path", "within")

    def __init__(
        self, json: str, go_type: _Type, path: tuple[str, ...], within: str | None
    ) -> None:
        self.json = json
        self.go_type = go_type
        self.path = path  # the names Go's errors show, embedded structs' included
        self.within = within  # the key of the embedded pointer struct holding it


def _fold(name: str) -> str:
    """Go's ``foldName``: ASCII upper case, and the Unicode letters that fold to ASCII."""
    special = {"\u212a": "K", "\u017f": "S", "\u0130": "I", "\u0131": "I"}
    return "".join(special.get(c, c.upper() if c.isascii() else c) for c in name)


class _Struct(_Type):
    """A Go struct: decoded as a dict of every field (JSON name -> value, Go's zero
    values for the absent). ``embedded`` are fields promoted from embedded structs, as
    (prefix of their path, the struct); an embedded *pointer* struct (``Config`` in
    ``CreateRequest``) is kept under its own key, None until one of its fields is met."""

    def __init__(
        self,
        name: str,
        fields: Iterable[tuple[str, _Type]],
        embedded: Iterable[tuple[str, _Struct, bool]] = (),
    ) -> None:
        self.name = name
        self.short = name.rpartition(".")[2]
        self.fields: list[_Field] = [_Field(key, t, (key,), None) for key, t in fields]
        self.pointers: dict[str, _Struct] = {}
        for prefix, struct, pointer in embedded:
            if pointer:
                self.pointers[prefix] = struct
            for f in struct.fields:
                within = prefix if pointer else None
                self.fields.append(_Field(f.json, f.go_type, (prefix, *f.path), within))
        self.exact = {f.json: f for f in self.fields}
        self.folded: dict[str, _Field] = {}
        for f in self.fields:
            self.folded.setdefault(_fold(f.json), f)

    def zero(self) -> Any:
        out: dict[str, Any] = {f.json: f.go_type.zero() for f in self.fields if not f.within}
        out.update(dict.fromkeys(self.pointers))
        return out

    def field(self, key: Any) -> _Field | None:
        if not isinstance(key, str):
            return None
        return self.exact.get(key) or self.folded.get(_fold(key))

    def decode(self, value: Any, current: Any, at: At, d: _Decoder) -> Any:
        if value is None:
            return _KEEP
        if not isinstance(value, dict):
            d.mismatch(json_kind(value), self.name, at)
            return _KEEP
        out = dict(current) if isinstance(current, dict) else self.zero()
        base = at[1] if at else ()
        for key, item in value.items():
            f = self.field(key)
            if f is None:
                continue  # Go ignores the fields it does not know
            holder = out
            if f.within:
                inner = out.get(f.within)
                holder = dict(inner) if inner is not None else self.pointers[f.within].zero()
                out[f.within] = holder
            decoded = f.go_type.decode(item, holder[f.json], (self.short, base + f.path), d)
            if decoded is not _KEEP:
                holder[f.json] = decoded
        return out


# --- Docker's structs (API 1.45, moby 28) -------------------------------------------------

STRING = _String()
BOOL = _Bool()
INT = _Int("int")
INT64 = _Int("int64")
UINT = _Int("uint", 64, signed=False)
UINT16 = _Int("uint16", 16, signed=False)
UINT64 = _Int("uint64", 64, signed=False)
DURATION = _Int("time.Duration")
STRINGS = _Slice("[]string", STRING)
STRING_MAP = _Map("map[string]string", STRING)
STR_SLICE = _StrSlice()
NOTHING = _Struct("struct {}", [])

HEALTH_CONFIG = _Struct(
    "container.HealthConfig",
    [
        ("Test", STRINGS),
        ("Interval", DURATION),
        ("Timeout", DURATION),
        ("StartPeriod", DURATION),
        ("StartInterval", DURATION),
        ("Retries", INT),
    ],
)

CONFIG = _Struct(
    "container.Config",
    [
        ("Hostname", STRING),
        ("Domainname", STRING),
        ("User", STRING),
        ("AttachStdin", BOOL),
        ("AttachStdout", BOOL),
        ("AttachStderr", BOOL),
        ("ExposedPorts", _Map("nat.PortSet", NOTHING)),
        ("Tty", BOOL),
        ("OpenStdin", BOOL),
        ("StdinOnce", BOOL),
        ("Env", STRINGS),
        ("Cmd", STR_SLICE),
        ("Healthcheck", _Pointer(HEALTH_CONFIG)),
        ("ArgsEscaped", BOOL),
        ("Image", STRING),
        ("Volumes", _Map("map[string]struct {}", NOTHING)),
        ("WorkingDir", STRING),
        ("Entrypoint", STR_SLICE),
        ("NetworkDisabled", BOOL),
        ("MacAddress", STRING),
        ("OnBuild", STRINGS),
        ("Labels", STRING_MAP),
        ("StopSignal", STRING),
        ("StopTimeout", _Pointer(INT)),
        ("Shell", STR_SLICE),
    ],
)

PORT_BINDING = _Struct("nat.PortBinding", [("HostIp", STRING), ("HostPort", STRING)])

MOUNT = _Struct(
    "mount.Mount",
    [
        ("Type", _String("mount.Type")),
        ("Source", STRING),
        ("Target", STRING),
        ("ReadOnly", BOOL),
        ("Consistency", _String("mount.Consistency")),
        (
            "BindOptions",
            _Pointer(
                _Struct(
                    "mount.BindOptions",
                    [
                        ("Propagation", _String("mount.Propagation")),
                        ("NonRecursive", BOOL),
                        ("CreateMountpoint", BOOL),
                        ("ReadOnlyNonRecursive", BOOL),
                        ("ReadOnlyForceRecursive", BOOL),
                    ],
                )
            ),
        ),
        (
            "VolumeOptions",
            _Pointer(
                _Struct(
                    "mount.VolumeOptions",
                    [
                        ("NoCopy", BOOL),
                        ("Labels", STRING_MAP),
                        ("Subpath", STRING),
                        (
                            "DriverConfig",
                            _Pointer(
                                _Struct("mount.Driver", [("Name", STRING), ("Options", STRING_MAP)])
                            ),
                        ),
                    ],
                )
            ),
        ),
        (
            "TmpfsOptions",
            _Pointer(
                _Struct(
                    "mount.TmpfsOptions",
                    [
                        ("SizeBytes", INT64),
                        ("Mode", _Int("fs.FileMode", 32, signed=False)),
                        ("Options", _Slice("[][]string", STRINGS)),
                    ],
                )
            ),
        ),
        ("ClusterOptions", _Pointer(_Struct("mount.ClusterOptions", []))),
    ],
)

THROTTLE_DEVICES = _Slice(
    "[]*blkiodev.ThrottleDevice",
    _Pointer(_Struct("blkiodev.ThrottleDevice", [("Path", STRING), ("Rate", UINT64)])),
)

RESOURCES = _Struct(
    "container.Resources",
    [
        ("CpuShares", INT64),
        ("Memory", INT64),
        ("NanoCpus", INT64),
        ("CgroupParent", STRING),
        ("BlkioWeight", UINT16),
        (
            "BlkioWeightDevice",
            _Slice(
                "[]*blkiodev.WeightDevice",
                _Pointer(_Struct("blkiodev.WeightDevice", [("Path", STRING), ("Weight", UINT16)])),
            ),
        ),
        ("BlkioDeviceReadBps", THROTTLE_DEVICES),
        ("BlkioDeviceWriteBps", THROTTLE_DEVICES),
        ("BlkioDeviceReadIOps", THROTTLE_DEVICES),
        ("BlkioDeviceWriteIOps", THROTTLE_DEVICES),
        ("CpuPeriod", INT64),
        ("CpuQuota", INT64),
        ("CpuRealtimePeriod", INT64),
        ("CpuRealtimeRuntime", INT64),
        ("CpusetCpus", STRING),
        ("CpusetMems", STRING),
        (
            "Devices",
            _Slice(
                "[]container.DeviceMapping",
                _Struct(
                    "container.DeviceMapping",
                    [
                        ("PathOnHost", STRING),
                        ("PathInContainer", STRING),
                        ("CgroupPermissions", STRING),
                    ],
                ),
            ),
        ),
        ("DeviceCgroupRules", STRINGS),
        (
            "DeviceRequests",
            _Slice(
                "[]container.DeviceRequest",
                _Struct(
                    "container.DeviceRequest",
                    [
                        ("Driver", STRING),
                        ("Count", INT),
                        ("DeviceIDs", STRINGS),
                        ("Capabilities", _Slice("[][]string", STRINGS)),
                        ("Options", STRING_MAP),
                    ],
                ),
            ),
        ),
        ("KernelMemoryTCP", INT64),
        ("MemoryReservation", INT64),
        ("MemorySwap", INT64),
        ("MemorySwappiness", _Pointer(INT64)),
        ("OomKillDisable", _Pointer(BOOL)),
        ("PidsLimit", _Pointer(INT64)),
        (
            "Ulimits",
            _Slice(
                "[]*units.Ulimit",
                _Pointer(
                    _Struct("units.Ulimit", [("Name", STRING), ("Hard", INT64), ("Soft", INT64)])
                ),
            ),
        ),
        ("CpuCount", INT64),
        ("CpuPercent", INT64),
        ("IOMaximumIOps", UINT64),
        ("IOMaximumBandwidth", UINT64),
    ],
)

HOST_CONFIG = _Struct(
    "container.HostConfig",
    [
        ("Binds", STRINGS),
        ("ContainerIDFile", STRING),
        (
            "LogConfig",
            _Struct("container.LogConfig", [("Type", STRING), ("Config", STRING_MAP)]),
        ),
        ("NetworkMode", _String("container.NetworkMode")),
        ("PortBindings", _Map("nat.PortMap", _Slice("[]nat.PortBinding", PORT_BINDING))),
        (
            "RestartPolicy",
            _Struct(
                "container.RestartPolicy",
                [
                    ("Name", _String("container.RestartPolicyMode")),
                    ("MaximumRetryCount", INT),
                ],
            ),
        ),
        ("AutoRemove", BOOL),
        ("VolumeDriver", STRING),
        ("VolumesFrom", STRINGS),
        ("ConsoleSize", _Array("[2]uint", UINT, 2)),
        ("Annotations", STRING_MAP),
        ("CapAdd", STR_SLICE),
        ("CapDrop", STR_SLICE),
        ("CgroupnsMode", _String("container.CgroupnsMode")),
        ("Dns", STRINGS),
        ("DnsOptions", STRINGS),
        ("DnsSearch", STRINGS),
        ("ExtraHosts", STRINGS),
        ("GroupAdd", STRINGS),
        ("IpcMode", _String("container.IpcMode")),
        ("Cgroup", _String("container.CgroupSpec")),
        ("Links", STRINGS),
        ("OomScoreAdj", INT),
        ("PidMode", _String("container.PidMode")),
        ("Privileged", BOOL),
        ("PublishAllPorts", BOOL),
        ("ReadonlyRootfs", BOOL),
        ("SecurityOpt", STRINGS),
        ("StorageOpt", STRING_MAP),
        ("Tmpfs", STRING_MAP),
        ("UTSMode", _String("container.UTSMode")),
        ("UsernsMode", _String("container.UsernsMode")),
        ("ShmSize", INT64),
        ("Sysctls", STRING_MAP),
        ("Runtime", STRING),
        ("Isolation", _String("container.Isolation")),
        ("Mounts", _Slice("[]mount.Mount", MOUNT)),
        ("MaskedPaths", STRINGS),
        ("ReadonlyPaths", STRINGS),
        ("Init", _Pointer(BOOL)),
    ],
    embedded=[("Resources", RESOURCES, False)],
)

ENDPOINT_SETTINGS = _Struct(
    "network.EndpointSettings",
    [
        (
            "IPAMConfig",
            _Pointer(
                _Struct(
                    "network.EndpointIPAMConfig",
                    [("IPv4Address", STRING), ("IPv6Address", STRING), ("LinkLocalIPs", STRINGS)],
                )
            ),
        ),
        ("Links", STRINGS),
        ("Aliases", STRINGS),
        ("DriverOpts", STRING_MAP),
        ("GwPriority", INT),
        ("MacAddress", STRING),
        ("NetworkID", STRING),
        ("EndpointID", STRING),
        ("Gateway", STRING),
        ("IPAddress", STRING),
        ("IPPrefixLen", INT),
        ("IPv6Gateway", STRING),
        ("GlobalIPv6Address", STRING),
        ("GlobalIPv6PrefixLen", INT),
        ("DNSNames", STRINGS),
    ],
)

NETWORKING_CONFIG = _Struct(
    "network.NetworkingConfig",
    [
        (
            "EndpointsConfig",
            _Map("map[string]*network.EndpointSettings", _Pointer(ENDPOINT_SETTINGS)),
        )
    ],
)

CREATE_REQUEST = _Struct(
    "container.CreateRequest",
    [("HostConfig", _Pointer(HOST_CONFIG)), ("NetworkingConfig", _Pointer(NETWORKING_CONFIG))],
    embedded=[("Config", CONFIG, True)],
)


def _decode(body: Any) -> dict[str, Any]:
    """The body as moby's ``CreateRequest``: ``Config`` (None when the body has none of
    its fields), ``HostConfig`` and ``NetworkingConfig`` (None when null or absent)."""
    d = _Decoder()
    decoded = CREATE_REQUEST.decode(body, CREATE_REQUEST.zero(), None, d)
    if d.first is not None:
        raise InvalidArgument("invalid JSON: " + d.first)
    if decoded is _KEEP:  # a null body
        return dict(CREATE_REQUEST.zero())
    result: dict[str, Any] = decoded
    return result


# --- the daemon's reading -----------------------------------------------------------------

_MINIMUM_DURATION = 1_000_000  # containertypes.MinimumDuration: 1ms
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")
_NETWORK_MODES = ("default", "bridge", "host", "none")
_CONTAINER_MODE = "Invalid network mode: invalid container format container:<name|id>"


def _is_container_mode(mode: str) -> bool:
    """Docker's ``NetworkMode.IsContainer``: ``container:...`` (even with no name)."""
    return mode.partition(":")[0] == "container" and ":" in mode


def _user_defined(mode: str) -> bool:
    """Docker's ``NetworkMode.IsUserDefined``: a network by name (or ID), not a mode."""
    return mode not in _NETWORK_MODES and not _is_container_mode(mode)


def _network_name(mode: str) -> str:
    """Docker's ``NetworkMode.NetworkName``: "" for ``container:X``."""
    return "" if _is_container_mode(mode) else mode


def _reason(parse: Callable[..., Any], *args: Any) -> Any:
    """A skiff.engine.options parser's result, its failure worded as the daemon words it
    (the reason, without the CLI's ``invalid argument "x" for "--flag" flag:``)."""
    try:
        return parse(*args)
    except InvalidFlagValue as e:
        raise InvalidArgument(e.reason) from None


def _mount_error(mount_type: str, reason: str) -> InvalidArgument:
    return InvalidArgument(f"invalid mount config for type {go_quote(mount_type)}: {reason}")


def _port_number(text: str) -> int | None:
    """go-connections' ``ParsePort`` (``strconv.ParseUint(text, 10, 16)``); None when
    it fails."""
    if not text or not text.isascii() or not text.isdigit():
        return None
    port = int(text)
    return port if port <= 65535 else None


def _host_port_range(text: str) -> tuple[int, int] | None:
    """go-connections' ``ParsePortRange`` of a ``HostPort`` (``8080``, ``8000-8010``)."""
    start_text, dash, end_text = text.partition("-")
    start = _port_number(start_text)
    end = _port_number(end_text.partition("-")[0]) if dash else start
    if start is None or end is None or end < start:
        return None
    return start, end


def _split_proto_port(text: str) -> tuple[str, str]:
    """go-connections' ``SplitProtoPort``: (protocol, port); ``tcp`` by default."""
    parts = text.split("/")
    if not text or not parts[0]:
        return "", ""
    if len(parts) == 1 or not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _ip_bytes(text: str) -> bytes | None:
    return go_parse_ip(text) if text else None


def _is_ipv4(packed: bytes) -> bool:
    """Go's ``IP.To4() != nil``: IPv4, or IPv4-mapped IPv6."""
    return len(packed) == 4 or packed[:12] == b"\0" * 10 + b"\xff\xff"


def _unspecified(packed: bytes) -> bool:
    return not any(packed[-4:] if _is_ipv4(packed) else packed)


class _Reader:
    """One create body, decoded, read as dockerd reads it (in its order of checks)."""

    def __init__(self, request: dict[str, Any], name: str, version: tuple[int, int]) -> None:
        networking = request["NetworkingConfig"] or NETWORKING_CONFIG.zero()
        self.config: dict[str, Any] = request["Config"]
        self.host: dict[str, Any] = request["HostConfig"] or HOST_CONFIG.zero()
        self.endpoints: dict[str, dict[str, Any] | None] = dict(networking["EndpointsConfig"] or {})
        self.name = name
        self.version = version
        self.warnings: list[str] = []
        self.default_network = False
        self.read_only_non_recursive = False
        self.mounts: list[MountSpec] = []
        self.extra_hosts: list[str] = []
        self.publish: list[PortBinding] = []
        self.restart = RestartPolicy()

    def read(self) -> CreateRequest:
        self._check_request()
        self._apply_version()
        self._migrate_mac_address()
        self._verify_settings()
        self._check_endpoints()
        return self._build()

    # -- runconfig's decodeCreateRequest/validateCreateRequest ----------------------------

    def _check_request(self) -> None:
        config, host = self.config, self.host
        mode: str = host["NetworkMode"]
        if mode == "container" or _is_container_mode(mode):
            if not mode.partition(":")[2]:
                raise InvalidArgument(_CONTAINER_MODE)
            conflicts = (
                (config["Hostname"], "conflicting options: hostname and the network mode"),
                (
                    host["Links"],
                    "conflicting options: container type network can't be used with links. "
                    "This would result in undefined behavior",
                ),
                (host["Dns"], "conflicting options: dns and the network mode"),
                (
                    host["ExtraHosts"],
                    "conflicting options: custom host-to-IP mapping and the network mode",
                ),
                (
                    host["PortBindings"] or host["PublishAllPorts"],
                    "conflicting options: port publishing and the container type network mode",
                ),
                (
                    config["ExposedPorts"],
                    "conflicting options: port exposing and the container type network mode",
                ),
            )
            for given, message in conflicts:
                if given:
                    raise InvalidArgument(message)
        if host["UTSMode"] == "host" and config["Hostname"]:
            raise InvalidArgument("conflicting options: hostname and the UTS mode")
        if mode == "host" and host["Links"]:
            raise InvalidArgument(
                "conflicting options: host type networking can't be used with links. This "
                "would result in undefined behavior"
            )
        isolation = host["Isolation"]
        if isolation and isolation.lower() != "default":
            raise InvalidArgument(
                f"Invalid isolation: {go_quote(isolation)} - linux only supports 'default'"
            )
        for key, what in (("IOMaximumBandwidth", "bandwidth"), ("IOMaximumIOps", "IOPs")):
            if host[key]:
                raise InvalidArgument(
                    f"Invalid QoS settings: linux does not support configuration of maximum {what}"
                )
        period, runtime = host["CpuRealtimePeriod"], host["CpuRealtimeRuntime"]
        if period and runtime and runtime > period:
            raise InvalidArgument(
                "cpu real-time runtime cannot be higher than cpu real-time period"
            )

    # -- the API router: defaults and versions --------------------------------------------

    def _apply_version(self) -> None:
        host, config, version = self.host, self.config, self.version
        mode = host["NetworkMode"]
        self.default_network = mode in ("", "default")
        if self.default_network:
            host["NetworkMode"] = "bridge"
            if "default" in self.endpoints:
                self.endpoints["bridge"] = self.endpoints.pop("default")
        mounts = [dict(m) for m in host["Mounts"] or []]
        host["Mounts"] = mounts
        if version < (1, 25):
            host["AutoRemove"] = False
        if version < (1, 40):
            for m in mounts:
                if m["BindOptions"] is not None:
                    m["BindOptions"] = {**m["BindOptions"], "NonRecursive": False}
            if not host["IpcMode"]:
                host["IpcMode"] = "shareable"
        if version < (1, 41) and not host["CgroupnsMode"]:
            from skiff.engine.spec import cgroup_v2

            if not cgroup_v2():
                host["CgroupnsMode"] = "host"
        if version < (1, 42):
            for m in mounts:
                if m["VolumeOptions"] is not None and m["Type"] != "volume":
                    m["VolumeOptions"] = None
                if m["TmpfsOptions"] is not None and m["Type"] != "tmpfs":
                    m["TmpfsOptions"] = None
            host["ConsoleSize"] = [0, 0]
        else:
            for m in mounts:
                for key, kind in (
                    ("VolumeOptions", "volume"),
                    ("BindOptions", "bind"),
                    ("TmpfsOptions", "tmpfs"),
                ):
                    if m[key] is not None and m["Type"] != kind:
                        raise InvalidArgument(
                            f"{key} must not be specified on mount type {go_quote(m['Type'])}"
                        )
        if version < (1, 43):
            host["Annotations"] = None
        self.read_only_non_recursive = version < (1, 44)
        if version < (1, 44):
            if config["Healthcheck"] is not None:
                config["Healthcheck"] = {**config["Healthcheck"], "StartInterval": 0}
            for m in mounts:
                bind = m["BindOptions"]
                if m["Type"] == "bind" and bind is not None and bind["ReadOnlyForceRecursive"]:
                    raise InvalidArgument(
                        "BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer"
                    )
            if len(self.endpoints) > 1:
                raise InvalidArgument(
                    "Container cannot be created with multiple network endpoints: "
                    + ", ".join(self.endpoints)
                )
        if version < (1, 45):
            for m in mounts:
                if m["VolumeOptions"] is not None and m["VolumeOptions"]["Subpath"]:
                    raise InvalidArgument("VolumeOptions.Subpath needs API v1.45 or newer")
        limit = host["PidsLimit"]
        if limit is not None and limit <= 0:
            host["PidsLimit"] = None

    def _migrate_mac_address(self) -> None:
        """moby's ``handleMACAddressBC``: ``Config.MacAddress`` (the only one before API
        1.44, deprecated since) moved to the endpoint of the container's network."""
        mac = self.config["MacAddress"]
        mode = self.host["NetworkMode"]
        endpoints = self.endpoints
        bridge_or_named = mode == "bridge" or _user_defined(mode)

        def with_mac(endpoint: dict[str, Any] | None, value: str) -> dict[str, Any]:
            return {**(endpoint or ENDPOINT_SETTINGS.zero()), "MacAddress": value}

        if self.version < (1, 44):
            if not mac:
                for key, endpoint in endpoints.items():
                    if endpoint is not None:
                        endpoints[key] = with_mac(endpoint, "")
                return
            if not bridge_or_named:
                raise InvalidArgument("conflicting options: mac-address and the network mode")
            if not endpoints:
                endpoints[_network_name(mode)] = None
            for key, endpoint in endpoints.items():
                endpoints[key] = with_mac(endpoint, mac)
            return
        if not mac:
            return
        if bridge_or_named:
            name = _network_name(mode)
            if not endpoints:
                endpoints[name] = with_mac(None, mac)
            else:
                if name not in endpoints:
                    raise InvalidArgument(
                        "if a container-wide MAC address is supplied, HostConfig.NetworkMode "
                        "must match the identity of a network in NetworkSettings.Networks"
                    )
                endpoint = endpoints[name]
                given = endpoint["MacAddress"] if endpoint is not None else ""
                if not given:
                    endpoints[name] = with_mac(endpoint, mac)
                elif given != mac:
                    raise InvalidArgument(
                        "the container-wide MAC address must match the endpoint-specific MAC "
                        "address for the main network, or be left empty"
                    )
        self.warnings.append(MAC_DEPRECATED)
        self.config["MacAddress"] = ""

    # -- the daemon's verifyContainerSettings ----------------------------------------------

    def _verify_settings(self) -> None:
        config, host = self.config, self.host
        restart = host["RestartPolicy"]
        if not restart["Name"]:
            host["RestartPolicy"] = restart = {**restart, "Name": "no"}
        workdir = config["WorkingDir"]
        if workdir and not workdir.startswith("/"):
            raise InvalidArgument(
                f"the working directory '{workdir}' is invalid, it needs to be an absolute path"
            )
        if config["StopSignal"]:
            from skiff.engine.options import parse_signal

            parse_signal(config["StopSignal"])
        for variable in config["Env"] or []:
            if not variable.partition("=")[0]:
                raise InvalidArgument(f"invalid environment variable: {variable}")
        self._check_healthcheck(config["Healthcheck"])
        if host["AutoRemove"] and restart["Name"] != "no":
            raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
        self.mounts = [self._mount(m) for m in host["Mounts"]]
        self.extra_hosts = [_reason(_extra_host, h) for h in host["ExtraHosts"] or []]
        self.publish = self._port_bindings(host["PortBindings"] or {})
        self.restart = self._restart_policy(restart["Name"], restart["MaximumRetryCount"])
        from skiff.engine.options import normalize_capabilities

        normalize_capabilities(host["CapAdd"] or [], "CapAdd")
        normalize_capabilities(host["CapDrop"] or [], "CapDrop")
        if "" in (host["Annotations"] or {}):
            raise InvalidArgument(
                "invalid Annotations: the empty string is not permitted as an annotation key"
            )

    @staticmethod
    def _check_healthcheck(health: dict[str, Any] | None) -> None:
        if health is None:
            return
        for key in ("Interval", "Timeout", "Retries", "StartPeriod", "StartInterval"):
            value = health[key]
            if key == "Retries":
                if value < 0:
                    raise InvalidArgument("Retries in Healthcheck cannot be negative")
            elif value and value < _MINIMUM_DURATION:
                raise InvalidArgument(f"{key} in Healthcheck cannot be less than 1ms")

    @staticmethod
    def _restart_policy(name: str, retries: int) -> RestartPolicy:
        """``ValidateRestartPolicy``, with its messages."""
        if name in ("always", "unless-stopped", "no"):
            if retries:
                message = (
                    "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                )
                raise InvalidArgument(message + (" and cannot be negative" if retries < 0 else ""))
        elif name == "on-failure":
            if retries < 0:
                raise InvalidArgument(
                    "invalid restart policy: maximum retry count cannot be negative"
                )
        else:
            raise InvalidArgument(
                f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', "
                "'on-failure', or 'unless-stopped'"
            )
        return RestartPolicy(name, retries)

    def _mount(self, m: dict[str, Any]) -> MountSpec:
        """A ``Mount`` as a MountSpec, checked as the daemon's ``ValidateMountConfig``
        checks it (but for a bind source's existence: Engine.create checks it)."""
        from skiff.engine.options import validate_mount

        bind, volume, tmpfs = m["BindOptions"], m["VolumeOptions"], m["TmpfsOptions"]
        spec = MountSpec(
            m["Type"],
            m["Target"],
            source=m["Source"],
            readonly=m["ReadOnly"],
            consistency=m["Consistency"],
        )
        if bind is not None:
            spec.propagation = bind["Propagation"]
            if bind["NonRecursive"] and bind["ReadOnlyForceRecursive"]:
                raise InvalidArgument(
                    "mount options conflict: NonRecursive && BindOptions.ReadOnlyForceRecursive"
                )
            if bind["ReadOnlyNonRecursive"] and bind["ReadOnlyForceRecursive"]:
                raise InvalidArgument(
                    "mount options conflict: ReadOnlyNonRecursive && "
                    "BindOptions.ReadOnlyForceRecursive"
                )
            if bind["NonRecursive"]:
                spec.recursive = "disabled"
            elif spec.readonly and bind["ReadOnlyForceRecursive"]:
                spec.recursive = "readonly"
            elif spec.readonly and bind["ReadOnlyNonRecursive"]:
                spec.recursive = "writable"
        if volume is not None:
            spec.nocopy = volume["NoCopy"]
            spec.volume_labels = dict(volume["Labels"] or {})
            spec.volume_subpath = volume["Subpath"]
            driver = volume["DriverConfig"]
            if driver is not None:
                spec.volume_driver = driver["Name"]
                spec.volume_options = dict(driver["Options"] or {})
        if tmpfs is not None:
            spec.tmpfs_size = tmpfs["SizeBytes"]
            spec.tmpfs_mode = tmpfs["Mode"]
        validate_mount(spec)
        if bind is not None and spec.type in ("volume", "tmpfs"):
            raise _mount_error(spec.type, "field BindOptions must not be specified")
        self._old_read_only(spec)
        spec.target = clean_path(spec.target)
        if spec.type == "bind":
            spec.source = clean_path(spec.source)
        return spec

    def _old_read_only(self, spec: MountSpec) -> None:
        """Before API 1.44, a read-only bind is read-only on its top mount only."""
        old = self.read_only_non_recursive
        if old and spec.type == "bind" and spec.readonly and spec.recursive == "enabled":
            spec.recursive = "writable"

    @staticmethod
    def _port_bindings(port_map: Mapping[str, list[dict[str, Any]] | None]) -> list[PortBinding]:
        """``HostConfig.PortBindings``, checked as ``validatePortBindings`` does (and the
        protocol and host address skiff must publish on): one PortBinding per entry."""
        from skiff.network.ports import PROTOCOLS

        out = []
        for key, bindings in port_map.items():
            proto, port_text = _split_proto_port(key)
            port = _port_number(port_text)
            if port is None or port == 0:
                raise InvalidArgument(f"invalid port specification: {go_quote(port_text)}")
            if proto.lower() not in PROTOCOLS:
                raise InvalidArgument(f"invalid proto: {proto}")
            for binding in bindings or []:
                host_port = binding["HostPort"]
                host_text = _split_proto_port(host_port)[1]
                span = _host_port_range(host_text) if host_text else (0, 0)
                if span is None:
                    raise InvalidArgument(f"invalid port specification: {go_quote(host_port)}")
                ip = binding["HostIp"]
                if ip and _ip_bytes(ip) is None:
                    raise InvalidArgument(f"invalid IP address: {ip}")
                out.append(PortBinding(port, proto.lower(), ip, span[0], span[1]))
        return out

    # -- the daemon's validateNetworkingConfig ---------------------------------------------

    def _check_endpoints(self) -> None:
        for network, endpoint in self.endpoints.items():
            prefix = f"invalid config for network {network}: "
            if endpoint is None:
                raise InvalidArgument(prefix + "EndpointsConfig is nil")
            ipam = endpoint["IPAMConfig"] or {}
            v4, v6 = ipam.get("IPv4Address") or "", ipam.get("IPv6Address") or ""
            errors = []
            if not _user_defined(network):
                if v4 or v6:
                    errors.append(
                        "user specified IP address is supported on user defined networks only"
                    )
                if endpoint["Aliases"]:
                    errors.append(
                        "network-scoped alias is supported only for containers in user "
                        "defined networks"
                    )
            if v4:
                packed = _ip_bytes(v4)
                if packed is None or not _is_ipv4(packed) or _unspecified(packed):
                    errors.append(f"invalid IPv4 address: {v4}")
            if v6:
                packed = _ip_bytes(v6)
                if packed is None or _is_ipv4(packed) or _unspecified(packed):
                    errors.append(f"invalid IPv6 address: {v6}")
            for address in ipam.get("LinkLocalIPs") or []:
                packed = _ip_bytes(address)
                if packed is None or _unspecified(packed):
                    errors.append(f"invalid link-local IP address: {address}")
            mac = endpoint["MacAddress"]
            if mac:
                from skiff.engine.options import parse_mac_address

                try:
                    parse_mac_address(mac)
                except InvalidArgument:
                    raise InvalidArgument(prefix + f"invalid MAC address {mac}") from None
            if errors:
                joined = (
                    errors[0]
                    if len(errors) == 1
                    else "* " + "\n* ".join(e.replace("\n", "\n\t") for e in errors)
                )
                raise InvalidArgument(prefix + "invalid endpoint settings:\n" + joined)

    # -- the options -----------------------------------------------------------------------

    def _build(self) -> CreateRequest:
        from skiff.engine.options import ContainerOptions

        config, host = self.config, self.host
        network, primary, networks = self._networks()
        health = config["Healthcheck"]
        values: dict[str, Any] = {
            "image": config["Image"],
            "name": self.name,
            "command": list(config["Cmd"] or []),
            "entrypoint": None if config["Entrypoint"] is None else list(config["Entrypoint"]),
            "hostname": config["Hostname"],
            "domainname": config["Domainname"],
            "user": config["User"],
            "workdir": config["WorkingDir"],
            "env": list(config["Env"] or []),
            "labels": dict(config["Labels"] or {}),
            "annotations": dict(host["Annotations"] or {}),
            "tty": config["Tty"],
            "interactive": config["OpenStdin"],
            "attach": [
                stream
                for stream, key in (
                    ("stdin", "AttachStdin"),
                    ("stdout", "AttachStdout"),
                    ("stderr", "AttachStderr"),
                )
                if config[key]
            ],
            "auto_remove": host["AutoRemove"],
            "privileged": host["Privileged"],
            "read_only": host["ReadonlyRootfs"],
            "init": host["Init"],
            "cap_add": list(host["CapAdd"] or []),
            "cap_drop": list(host["CapDrop"] or []),
            "security": self._security(),
            "sysctls": self._sysctls(host["Sysctls"] or {}),
            "ulimits": [_ulimit(u) for u in host["Ulimits"] or [] if u is not None],
            "devices": [_device(d) for d in host["Devices"] or []],
            "device_cgroup_rules": [_cgroup_rule(r) for r in host["DeviceCgroupRules"] or []],
            "volumes": self._volumes(),
            "mounts": self.mounts,
            "volumes_from": list(host["VolumesFrom"] or []),
            "tmpfs": dict(host["Tmpfs"] or {}),
            "restart": self.restart,
            "healthcheck": None
            if health is None
            else HealthConfig(
                list(health["Test"] or []),
                health["Interval"],
                health["Timeout"],
                health["StartPeriod"],
                health["StartInterval"],
                health["Retries"],
            ),
            "stop_signal": config["StopSignal"],
            "stop_timeout": config["StopTimeout"],
            "log_driver": host["LogConfig"]["Type"],
            "log_opts": self._log_opts(host["LogConfig"]),
            "network": network,
            "network_aliases": primary.aliases,
            "ip": primary.ip,
            "mac_address": primary.mac_address,
            "publish": self.publish,
            "publish_all": host["PublishAllPorts"],
            "expose": self._expose(),
            "dns": [_reason(_dns, v) for v in host["Dns"] or []],
            "dns_search": [_reason(_dns_search, v) for v in host["DnsSearch"] or []],
            "dns_options": list(host["DnsOptions"] or []),
            "extra_hosts": self.extra_hosts,
            "pid": host["PidMode"],
            "ipc": host["IpcMode"],
            "uts": host["UTSMode"],
            "userns": host["UsernsMode"],
            "cgroupns": host["CgroupnsMode"],
            "group_add": list(host["GroupAdd"] or []),
            "shm_size": host["ShmSize"],
            "oom_kill_disable": bool(host["OomKillDisable"]),
            "oom_score_adj": host["OomScoreAdj"],
            "memory": host["Memory"],
            "memory_swap": host["MemorySwap"],
            "memory_reservation": host["MemoryReservation"],
            "memory_swappiness": -1
            if host["MemorySwappiness"] is None
            else host["MemorySwappiness"],
            "cpu_shares": host["CpuShares"],
            "cpu_period": host["CpuPeriod"],
            "cpu_quota": host["CpuQuota"],
            "cpu_rt_period": host["CpuRealtimePeriod"],
            "cpu_rt_runtime": host["CpuRealtimeRuntime"],
            "nano_cpus": host["NanoCpus"],
            "cpuset_cpus": host["CpusetCpus"],
            "cpuset_mems": host["CpusetMems"],
            "pids_limit": host["PidsLimit"] or 0,
            "blkio_weight": host["BlkioWeight"],
            "cgroup_parent": host["CgroupParent"],
            "runtime": host["Runtime"],
        }
        self._unsupported()
        options = ContainerOptions(**values)
        _refuse_nul(options.to_dict())
        rows, columns = host["ConsoleSize"]
        return CreateRequest(options, self.warnings, networks, (rows, columns))

    def _networks(self) -> tuple[str, EndpointConfig, dict[str, EndpointConfig]]:
        """``--network`` (the daemon's ``default`` is skiff's ""), the endpoint asked on
        it, and the endpoints asked on other networks."""
        mode: str = self.host["NetworkMode"]
        network = "" if self.default_network else mode
        if self.config["NetworkDisabled"] and not (mode == "host" or _is_container_mode(mode)):
            return "none", EndpointConfig(), {}
        if _is_container_mode(mode):
            return network, EndpointConfig(), {}  # Docker ignores them: no network of its own
        endpoints = {k: _endpoint(v) for k, v in self.endpoints.items() if v is not None}
        primary = endpoints.pop(mode, EndpointConfig())
        if endpoints and mode in ("host", "none"):
            raise InvalidArgument(
                "container sharing network namespace with another container or host cannot "
                "be connected to any other network"
                if mode == "host"
                else "container cannot be connected to multiple networks with one of the "
                "networks in private (none) mode"
            )
        return network, primary, endpoints

    def _security(self) -> SecurityOptions | None:
        """``SecurityOpt`` as the daemon's ``parseSecurityOpt`` reads it (a seccomp
        profile is its JSON text: the docker CLI sends the file's content), and
        ``MaskedPaths``/``ReadonlyPaths`` (``--security-opt systempaths=unconfined``)."""
        host = self.host
        opts: list[str] = host["SecurityOpt"] or []
        masked, readonly = host["MaskedPaths"], host["ReadonlyPaths"]
        if not opts and masked is None and readonly is None:
            return None
        security = SecurityOptions(
            masked_paths=None if masked is None else list(masked),
            readonly_paths=None if readonly is None else list(readonly),
        )
        for opt in opts:
            if opt == "no-new-privileges":
                security.no_new_privileges = True
                continue
            if opt == "disable":
                security.labels.append("disable")
                continue
            separator = "=" if "=" in opt else ":" if ":" in opt else ""
            if not separator:
                raise InvalidArgument(f"invalid --security-opt 1: {go_quote(opt)}")
            key, _, value = opt.partition(separator)
            if key == "label":
                security.labels.append(value)
            elif key == "apparmor":
                security.apparmor = value
            elif key == "seccomp":
                security.seccomp = _seccomp(value)
            elif key == "no-new-privileges" and value in _TRUE + _FALSE:
                security.no_new_privileges = value in _TRUE
            else:
                raise InvalidArgument(f"invalid --security-opt 2: {go_quote(opt)}")
        return security

    @staticmethod
    def _sysctls(sysctls: Mapping[str, str]) -> dict[str, str]:
        """The namespaced sysctls Docker allows (others fail at start there)."""
        from skiff.engine.options import parse_sysctl

        out = {}
        for key, value in sysctls.items():
            pair = _reason(parse_sysctl, f"{key}={value}")
            if pair[0] != key:  # a "=" in the name
                raise InvalidArgument(f"sysctl '{key}={value}' is not allowed")
            out[key] = value
        return out

    def _volumes(self) -> list[MountSpec]:
        """``Binds`` (``-v`` with a source, as given), then ``Config.Volumes`` (``-v`` of
        a bare path: anonymous volumes), with ``VolumeDriver`` for named volumes."""
        from skiff.engine.options import parse_volume, validate_mount
        from skiff.storage.volumes import check_name

        specs = []
        for bind in self.host["Binds"] or []:
            source, sep, _ = bind.partition(":")
            if sep and source.startswith("."):  # no working directory to resolve it against
                check_name(source)
            spec = parse_volume(bind)
            if spec.type == "volume" and spec.source:
                spec.volume_driver = self.host["VolumeDriver"]
            self._old_read_only(spec)
            specs.append(spec)
        for target in self.config["Volumes"] or {}:
            spec = MountSpec("volume", target, raw=target)
            validate_mount(spec)
            spec.target = clean_path(target)
            specs.append(spec)
        return specs

    @staticmethod
    def _log_opts(log_config: Mapping[str, Any]) -> dict[str, str]:
        driver: str = log_config["Type"]
        opts = dict(log_config["Config"] or {})
        if driver == "none":
            return {}  # the daemon ignores them
        for key in opts:
            if "=" in key:
                raise InvalidArgument(
                    f"unknown log opt '{key}' for {driver or 'json-file'} log driver"
                )
        return opts

    def _expose(self) -> list[str]:
        """``Config.ExposedPorts`` but those ``PortBindings`` publish (the docker CLI sends
        both for a ``-p``; skiff exposes what it publishes), as ``80/tcp``."""
        from skiff.network.ports import PROTOCOLS, port_key

        published = {port_key(b) for b in self.publish}
        out: list[str] = []
        for key in self.config["ExposedPorts"] or {}:
            proto, port_text = _split_proto_port(key)
            span = _host_port_range(port_text)
            if span is None or span[0] == 0:
                raise InvalidArgument(f"invalid port specification: {go_quote(port_text)}")
            if proto.lower() not in PROTOCOLS:
                raise InvalidArgument(f"invalid proto: {proto}")
            for port in range(span[0], span[1] + 1):
                text = f"{port}/{proto.lower()}"
                if text not in published and text not in out:
                    out.append(text)
        return out

    def _unsupported(self) -> None:
        """What skiff cannot do: refused where Docker would fail the container, else a
        warning (Docker's where it drops the same setting on a host without support)."""
        host = self.host
        if host["StorageOpt"]:
            raise InvalidArgument(
                "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"
            )
        for request in host["DeviceRequests"] or []:
            capabilities = " ".join(
                "[" + " ".join(group or []) + "]" for group in request["Capabilities"] or []
            )
            raise InvalidArgument(
                f"could not select device driver {go_quote(request['Driver'])} with "
                f"capabilities: [{capabilities}]"
            )
        discarded = (
            (
                "BlkioWeightDevice",
                "Your kernel does not support Block I/O weight_device or the cgroup is not "
                "mounted. Weight-device discarded.",
            ),
            (
                "BlkioDeviceReadBps",
                "Your kernel does not support BPS Block I/O read limit or the cgroup is not "
                "mounted. Block I/O BPS read limit discarded.",
            ),
            (
                "BlkioDeviceWriteBps",
                "Your kernel does not support BPS Block I/O write limit or the cgroup is not "
                "mounted. Block I/O BPS write limit discarded.",
            ),
            (
                "BlkioDeviceReadIOps",
                "Your kernel does not support IOPS Block read limit or the cgroup is not "
                "mounted. Block I/O IOPS read limit discarded.",
            ),
            (
                "BlkioDeviceWriteIOps",
                "Your kernel does not support IOPS Block write limit or the cgroup is not "
                "mounted. Block I/O IOPS write limit discarded.",
            ),
        )
        for key, message in discarded:
            if host[key]:
                self.warnings.append(message)
        if host["Links"]:
            self.warnings.append(
                "skiff does not support legacy links: Links discarded (connect the containers "
                "to a user-defined network to reach them by name)."
            )


def _refuse_nul(options: Mapping[str, Any]) -> None:
    """No NUL character in any option: paths, arguments and names cannot hold one (Go's
    system calls refuse them as EINVAL, Python's raise ValueError)."""

    def has_nul(value: Any) -> bool:
        if isinstance(value, str):
            return "\0" in value
        if isinstance(value, dict):
            return any(has_nul(k) or has_nul(v) for k, v in value.items())
        if isinstance(value, list):
            return any(has_nul(v) for v in value)
        return False

    for option, value in options.items():
        if has_nul(value):
            raise InvalidArgument(f"invalid {option}: a NUL character is not allowed")


def _endpoint(settings: Mapping[str, Any]) -> EndpointConfig:
    ipam = settings["IPAMConfig"] or {}
    return EndpointConfig(
        list(settings["Aliases"] or []), ipam.get("IPv4Address") or "", settings["MacAddress"]
    )


def _extra_host(value: str) -> str:
    from skiff.engine.options import parse_extra_host

    return parse_extra_host(value)


def _dns(value: str) -> str:
    from skiff.engine.options import parse_dns

    return parse_dns(value)


def _dns_search(value: str) -> str:
    from skiff.engine.options import parse_dns_search

    return parse_dns_search(value)


def _cgroup_rule(value: str) -> str:
    from skiff.engine.options import parse_device_cgroup_rule

    rule: str = _reason(parse_device_cgroup_rule, value)
    return rule


def _ulimit(u: Mapping[str, Any]) -> Ulimit:
    """A ``Ulimit``: a name go-units knows (else the start would fail so), soft at most
    hard."""
    from skiff.engine.options import ULIMIT_NAMES

    name, soft, hard = u["Name"], u["Soft"], u["Hard"]
    if name not in ULIMIT_NAMES:
        raise InvalidArgument(f"invalid ulimit type: {name}")
    if soft > hard:
        raise InvalidArgument(
            f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )
    return Ulimit(name, soft, hard)


def _device(device: Mapping[str, Any]) -> DeviceMapping:
    """A ``DeviceMapping``: the container path defaults to the host's, the permissions to
    ``rwm`` (as the docker CLI fills them); checked as the docker CLI checks ``--device``."""
    source: str = device["PathOnHost"]
    target: str = device["PathInContainer"] or source
    permissions: str = device["CgroupPermissions"] or "rwm"
    if not source:
        raise InvalidArgument(f"bad format for path: {source}")
    if not target.startswith("/"):
        raise InvalidArgument(f"{target} is not an absolute path")
    if not all(c in "rwm" for c in permissions) or len(set(permissions)) != len(permissions):
        raise InvalidArgument(f"bad mode specified: {permissions}")
    return DeviceMapping(source, target, permissions)


def _seccomp(value: str) -> str | None:
    """``seccomp=``: the default (""), ``unconfined``, ``builtin`` or a profile's JSON (an
    object, refused now rather than when the container starts)."""
    if value in ("", "unconfined", "builtin"):
        return value or None
    import json

    try:
        profile = json.loads(value)
    except (ValueError, RecursionError) as e:
        raise InvalidArgument(f"decoding seccomp profile failed: {e}") from None
    if not isinstance(profile, dict):
        raise InvalidArgument(
            "decoding seccomp profile failed: json: cannot unmarshal "
            f"{json_kind(profile) if profile is not None else 'null'} into Go value of type "
            "seccomp.Seccomp"
        )
    return value
