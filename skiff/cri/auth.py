"""The AuthConfig of a CRI PullImage as credentials for skiff's registry client, decided
as containerd's CRI plugin decides them (ParseAuth): an AuthConfig for another registry
(``server_address``) is ignored; then ``username``/``password``; then ``identity_token``
(an OAuth2 refresh token: credentials with an empty user, which the registry client
trades for a token with the refresh-token grant); then ``auth`` (base64
``user:password``); none of them, an anonymous pull (or the credentials stored by ``skiff
login``).

``registry_token`` (a bearer token to send as it is) is refused (INVALID_ARGUMENT) rather
than pulled anonymously, which is what containerd 1.6 does with it."""

from __future__ import annotations

import base64
import binascii

from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def server_host(address: str) -> str:
    """``https://host:port/v1/`` -> ``host:port`` (the host of a URL or a bare address)."""
    for scheme in ("https://", "http://"):
        address = address.removeprefix(scheme)
    return address.split("/", 1)[0]


def credentials(auth: Any, domain: str) -> tuple[str, str] | None:
    """(user, password) for a pull from ``domain``, or None for the client's own."""
    if auth is None:
        return None
    if auth.server_address:
        host = server_host(auth.server_address)
        same = host == domain or (
            domain == "docker.io" and host in ("index.docker.io", "registry-1.docker.io")
        )
        if not same:
            return None
    if auth.username:
        return auth.username, auth.password
    if auth.identity_token:
        return "", auth.identity_token
    if auth.auth:
        try:
            decoded = base64.b64decode(auth.auth, validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise InvalidArgument("invalid auth: not base64 of user:password") from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise InvalidArgument("invalid decoded auth: no ':' between user and password")
        return user, password.strip("\x00")
    if auth.registry_token:
        raise InvalidArgument(
            "registry_token is not supported: give username and password, auth or identity_token"
        )
    return None
