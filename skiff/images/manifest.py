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
    """An image config: rootfs.diff_ids must be there (and well-formed)."""
    config = _json(data, "image config")
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
        raise InvalidArgument('image config: rootfs.type must be "layers"')
    diff_ids = rootfs.get("diff_ids")
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise InvalidArgument("image config: rootfs.diff_ids must be a list of digests")
    for d in diff_ids:
        digests.check(d)
    for key in ("architecture", "os"):
        if not isinstance(config.get(key, ""), str):
            raise InvalidArgument(f"image config: {key} must be a string")
    return config


def canonical(value: Any) -> bytes:
    """Compact JSON, as Docker writes configs and manifests."""
    return jsonio.dumps(value).encode()


def descriptor(media_type: str, digest: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def oci_manifest(config: dict[str, Any], layers: list[dict[str, Any]]) -> bytes:
    return canonical(
        {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config, "layers": layers}
    )
