"""Manifests, indexes and image configs (OCI, and Docker's schema 2), parsed and checked.

Parsing checks what skiff relies on and names what is wrong; building writes them the way
``docker save`` and skopeo expect.
"""

from __future__ import annotations

from skiff import jsonio
from skiff.errors import InvalidArgument
from skiff.images import digest as digests
from skiff.images import mediatypes as mt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = jsonio.loads(data.decode())
    except ValueError as e:
        raise InvalidArgument(f"{what}: invalid JSON: {e}") from None
    except RecursionError:  # [[[[...]]]] nested deeper than the parser's stack
        raise InvalidArgument(f"{what}: invalid JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what}: expected a JSON object")
    return value


def check_descriptor(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where}: expected a descriptor object")
    for key, kind in (("mediaType", str), ("digest", str), ("size", int)):
        if not isinstance(value.get(key), kind):
            raise InvalidArgument(f"{where}.{key}: missing or not a {kind.__name__}")
    digests.check(value["digest"])
    if value["size"] < 0:
        raise InvalidArgument(f"{where}.size: negative")
    return value


def parse_manifest(data: bytes, media_type: str | None = None) -> dict[str, Any]:
    """An image manifest (OCI or Docker schema 2)."""
    manifest = _json(data, "manifest")
    kind = manifest.get("mediaType") or media_type or mt.OCI_MANIFEST
    if kind not in mt.MANIFESTS:
        raise InvalidArgument(f"manifest: unknown media type {kind!r}")
    if manifest.get("schemaVersion") != 2:
        raise InvalidArgument("manifest: schemaVersion must be 2")
    check_descriptor(manifest.get("config"), "manifest.config")
    if manifest["config"]["mediaType"] not in mt.CONFIGS:
        raise InvalidArgument(
            f"manifest.config: unknown media type {manifest['config']['mediaType']!r}"
        )
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise InvalidArgument("manifest.layers: missing")
    check_layer_count(len(layers), "manifest")
    for i, layer in enumerate(layers):
        check_descriptor(layer, f"manifest.layers[{i}]")
        mt.layer_compression(layer["mediaType"])
    manifest["mediaType"] = kind
    return manifest


def parse_index(data: bytes, media_type: str | None = None) -> dict[str, Any]:
    """An image index (OCI) or manifest list (Docker)."""
    index = _json(data, "index")
    kind = index.get("mediaType") or media_type or mt.OCI_INDEX
    if kind not in mt.INDEXES:
        raise InvalidArgument(f"index: unknown media type {kind!r}")
    if index.get("schemaVersion") != 2:
        raise InvalidArgument("index: schemaVersion must be 2")
    manifests = index.get("manifests")
    if not isinstance(manifests, list):
        raise InvalidArgument("index.manifests: missing")
    for i, entry in enumerate(manifests):
        check_descriptor(entry, f"index.manifests[{i}]")
    return index


def parse_config(data: bytes) -> dict[str, Any]:
    """An image config: rootfs.diff_ids must be there (and well-formed), at most
    MAX_LAYERS of them, and every field Docker knows must have Docker's type."""
    config = _json(data, "image config")
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
        raise InvalidArgument('image config: rootfs.type must be "layers"')
    diff_ids = rootfs.get("diff_ids")
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise InvalidArgument("image config: rootfs.diff_ids must be a list of digests")
    check_layer_count(len(diff_ids), "image config")
    for d in diff_ids:
        digests.check(d)
    for key in ("architecture", "os"):
        if not isinstance(config.get(key, ""), str):
            raise InvalidArgument(f"image config: {key} must be a string")
    _check_fields(config, _IMAGE_FIELDS, "")
    return config


# Docker's limit on the layers of an image (moby's layer store, maxLayerDepth): a
# container's root filesystem is one overlay mount of them all, and mount(2)'s options must
# fit in a page. Checked on the manifest or config, before anything is fetched or unpacked:
# an image of 10,000 layers would otherwise be unpacked whole and then fail to mount.
MAX_LAYERS = 125


def check_layer_count(count: int, what: str) -> None:
    if count > MAX_LAYERS:
        raise InvalidArgument(
            f"{what}: {count} layers, more than the {MAX_LAYERS} an image may have"
            " (max depth exceeded)"
        )


# --- the types of an image config's fields ------------------------------------------------
#
# Docker reads a config into Go structs (image.Image, container.Config): a field of another
# type makes ``docker load`` and ``docker pull`` fail. skiff reads the same fields as Python
# values, so the same check, made once when a config comes in, keeps a hostile config (Env
# a string, Labels a list, ...) from reaching code that trusts their types: it is refused
# with the field's name instead of failing later with a traceback. JSON null is allowed
# everywhere (Go leaves the zero value); unknown fields are ignored, as Go does.


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _wrong(where: str, expected: str, value: Any) -> InvalidArgument:
    return InvalidArgument(f"image config: {where}: expected {expected}, got {_kind(value)}")


def _string(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise _wrong(where, "a string", value)


def _boolean(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise _wrong(where, "a boolean", value)


def _integer(value: Any, where: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _wrong(where, "an integer", value)


def _strings(value: Any, where: str) -> None:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise _wrong(where, "an array of strings", value)


def _str_slice(value: Any, where: str) -> None:
    """Docker's strslice: a string or an array of strings."""
    if not isinstance(value, str):
        _strings(value, where)


def _set(value: Any, where: str) -> None:
    """map[string]struct{}."""
    if not isinstance(value, dict) or not all(
        v is None or isinstance(v, dict) for v in value.values()
    ):
        raise _wrong(where, "an object of objects", value)


def _labels(value: Any, where: str) -> None:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _wrong(where, "an object of strings", value)


def _ports(value: Any, where: str) -> None:
    """nat.PortSet: keys ``PORT`` or ``PORT/tcp|udp|sctp``, PORT at most 65535."""
    _set(value, where)
    for key in value:
        port, _, proto = key.partition("/")
        if not (port.isdigit() and len(port) <= 5 and int(port) <= 65535) or proto not in (
            "",
            "tcp",
            "udp",
            "sctp",
        ):
            raise InvalidArgument(f"image config: {where}: invalid port {key!r}")


def _health(value: Any, where: str) -> None:
    _check_fields(value, _HEALTH_FIELDS, where + ".")


def _container_config(value: Any, where: str) -> None:
    _check_fields(value, _CONTAINER_FIELDS, where + ".")
    for key in ("Cmd", "Entrypoint", "Shell"):
        if isinstance(value.get(key), str):  # as Docker's strslice reads it: ["..."]
            value[key] = [value[key]]


def _history(value: Any, where: str) -> None:
    if not isinstance(value, list):
        raise _wrong(where, "an array", value)
    for i, entry in enumerate(value):
        _check_fields(entry, _HISTORY_FIELDS, f"{where}[{i}].")


def _check_fields(value: Any, fields: dict[str, Any], prefix: str) -> None:
    if not isinstance(value, dict):
        raise _wrong(prefix.rstrip(".") or "the config", "an object", value)
    for key, check in fields.items():
        field = value.get(key)
        if field is not None:
            check(field, prefix + key)


_HEALTH_FIELDS: dict[str, Any] = {
    "Test": _strings,
    "Interval": _integer,
    "Timeout": _integer,
    "StartPeriod": _integer,
    "StartInterval": _integer,
    "Retries": _integer,
}
_CONTAINER_FIELDS: dict[str, Any] = {
    **dict.fromkeys(
        ("Hostname", "Domainname", "User", "Image", "WorkingDir", "MacAddress", "StopSignal"),
        _string,
    ),
    **dict.fromkeys(
        ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce"),
        _boolean,
    ),
    "ArgsEscaped": _boolean,
    "NetworkDisabled": _boolean,
    "ExposedPorts": _ports,
    "Env": _strings,
    "Cmd": _str_slice,
    "Healthcheck": _health,
    "Volumes": _set,
    "Entrypoint": _str_slice,
    "OnBuild": _strings,
    "Labels": _labels,
    "StopTimeout": _integer,
    "Shell": _str_slice,
}
_HISTORY_FIELDS: dict[str, Any] = {
    **dict.fromkeys(("created", "author", "created_by", "comment"), _string),
    "empty_layer": _boolean,
}
_IMAGE_FIELDS: dict[str, Any] = {
    **dict.fromkeys(
        ("created", "author", "comment", "container", "docker_version", "variant", "os.version"),
        _string,
    ),
    "os.features": _strings,
    "config": _container_config,
    "container_config": _container_config,
    "history": _history,
}


def canonical(value: Any) -> bytes:
    """Compact JSON, as Docker writes configs and manifests."""
    return jsonio.dumps(value).encode()


def descriptor(media_type: str, digest: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def oci_manifest(config: dict[str, Any], layers: list[dict[str, Any]]) -> bytes:
    return canonical(
        {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config, "layers": layers}
    )
