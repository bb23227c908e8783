"""Credentials in Docker's config.json (``$DOCKER_CONFIG/config.json``, else
``~/.docker/config.json``), so that ``docker login`` and ``skiff login`` share them.

Each registry is a key of ``auths`` whose ``auth`` is base64 of ``user:password``; Docker
Hub's key is ``https://index.docker.io/v1/``. Other keys of the file are kept as they are.
"""

from __future__ import annotations

import base64
import json
import os

from skiff.errors import InvalidArgument

DOCKER_HUB_KEY = "https://index.docker.io/v1/"


def config_path() -> str:
    directory = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(directory, "config.json")


def server_key(domain: str) -> str:
    """The key of ``auths`` for a registry domain."""
    return DOCKER_HUB_KEY if domain in ("docker.io", "index.docker.io") else domain


def _read() -> dict:
    try:
        with open(config_path()) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise InvalidArgument(f"{config_path()}: {e}") from None
    return data if isinstance(data, dict) else {}


def _write(data: dict) -> None:
    path = config_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    staged = path + ".tmp"
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent="\t")
        f.write("\n")
    os.replace(staged, path)


def lookup(domain: str) -> tuple[str, str] | None:
    """The user and password stored for a registry, if any."""
    entry = (_read().get("auths") or {}).get(server_key(domain)) or {}
    encoded = entry.get("auth")
    if not encoded:
        return None
    try:
        user, sep, password = base64.b64decode(encoded).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(f"{config_path()}: invalid auth for {domain}") from None
    return (user, password) if sep else None


def store(domain: str, user: str, password: str) -> None:
    data = _read()
    auths = data.setdefault("auths", {})
    auths[server_key(domain)] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    _write(data)


def erase(domain: str) -> None:
    """Forget a registry's credentials (if there are any)."""
    data = _read()
    auths = data.get("auths") or {}
    if server_key(domain) in auths:
        del auths[server_key(domain)]
        _write(data)
