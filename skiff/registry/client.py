"""One repository of one registry over HTTP(S): requests with Docker's authentication.

A 401 carries a ``WWW-Authenticate`` challenge: ``Basic`` is answered with the stored
credentials, ``Bearer realm=... service=... scope=...`` with a token fetched from the realm
(with the credentials if there are any, anonymously otherwise), kept for the client's
other requests. Registries on loopback addresses and those in skiff.toml's
``[registries] insecure`` are tried over HTTPS first and then over plain HTTP, as Docker
does with its insecure registries; all others are HTTPS only.

Each thread has its own connection (http.client connections are not shared), so layers
download in parallel.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import threading
import urllib.parse

from skiff.errors import NotFound, SkiffError
from skiff.registry import credentials

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

USER_AGENT = "skiff"
CERTS_D = "/etc/skiff/certs.d"
TIMEOUT = 60


class RegistryError(SkiffError):
    """The registry refused or could not be reached: Docker's daemon error (exit 1)."""

    exit_code = 1
    http_status = 500


class Unauthorized(RegistryError):
    http_status = 401


def is_insecure(domain: str) -> bool:
    host = domain.rsplit(":", 1)[0] if not domain.endswith("]") else domain
    host = host.strip("[]")
    if host == "localhost" or host.startswith("127.") or host == "::1":
        return True
    from skiff.config import load_config

    return domain in (load_config().get("registries", {}).get("insecure") or [])


def api_host(domain: str) -> str:
    """Where a registry's API is: Docker Hub's is registry-1.docker.io."""
    return "registry-1.docker.io" if domain == "docker.io" else domain


class Response:
    def __init__(self, raw: http.client.HTTPResponse, url: str) -> None:
        self.raw = raw
        self.status = raw.status
        self.url = url

    def header(self, name: str) -> str:
        return self.raw.getheader(name) or ""

    def read(self, n: int | None = None) -> bytes:
        return self.raw.read(n)

    def json(self) -> Any:
        return json.loads(self.raw.read())

    def close(self) -> None:
        self.raw.close()


class Client:
    def __init__(self, domain: str, repository: str, actions: str = "pull") -> None:
        self.domain = domain
        self.host = api_host(domain)
        self.repository = repository
        self.scope = f"repository:{repository}:{actions}"
        self.schemes = ["https", "http"] if is_insecure(domain) else ["https"]
        self.credentials = credentials.lookup(domain)
        self.authorization = ""
        self._local = threading.local()
        self._lock = threading.RLock()  # _answer's messages ask _scheme, under it

    # --- requests -------------------------------------------------------------------

    def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        return self.request("GET", f"/v2/{self.repository}/{path}", headers)

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Response:
        """A request with authentication; the response of any status but 401."""
        response = self._send(method, path, headers, body)
        if response.status != 401:
            return response
        challenge = response.header("WWW-Authenticate")
        response.read()
        with self._lock:
            self.authorization = self._answer(challenge, method, path)
        response = self._send(method, path, headers, body)
        if response.status == 401:
            response.read()
            raise Unauthorized(self._error_text(method, path, response, "unauthorized"))
        return response

    def _send(
        self, method: str, path: str, headers: dict[str, str] | None, body: bytes
    ) -> Response:
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        if self.authorization:
            sent["Authorization"] = self.authorization
        for attempt in (1, 2):  # a connection the server closed meanwhile is reopened once
            connection = self._connection()
            try:
                connection.request(method, path, body=body or None, headers=sent)
                return Response(connection.getresponse(), self.url(path))
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._local.connection = None
                if attempt == 2:
                    raise RegistryError(
                        f'{method.title()} "{self.url(path)}": connection reset'
                    ) from None
            except OSError as e:
                self._local.connection = None
                raise RegistryError(f'{method.title()} "{self.url(path)}": {_reason(e)}') from None
        raise AssertionError("unreachable")

    def url(self, path: str) -> str:
        return f"{self._scheme()}://{self.host}{path}"

    # --- connections ----------------------------------------------------------------

    def _scheme(self) -> str:
        with self._lock:
            if len(self.schemes) > 1:
                self.schemes = [self._probe()]
            return self.schemes[0]

    def _probe(self) -> str:
        """HTTPS if the registry speaks it, else HTTP (insecure registries only)."""
        try:
            connection = http.client.HTTPSConnection(
                self.host, timeout=TIMEOUT, context=_tls_context(self.domain)
            )
            connection.request("GET", "/v2/", headers={"User-Agent": USER_AGENT})
            connection.getresponse().read()
            connection.close()
            return "https"
        except (ssl.SSLError, ConnectionResetError, http.client.HTTPException):
            return "http"
        except OSError:
            return "https"  # unreachable: the real request reports it

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if self._scheme() == "https":
                connection = http.client.HTTPSConnection(
                    self.host, timeout=TIMEOUT, context=_tls_context(self.domain)
                )
            else:
                connection = http.client.HTTPConnection(self.host, timeout=TIMEOUT)
            self._local.connection = connection
        return connection

    # --- authentication -------------------------------------------------------------

    def _answer(self, challenge: str, method: str, path: str) -> str:
        kind, params = parse_challenge(challenge)
        if kind == "basic":
            if self.credentials is None:
                raise Unauthorized(
                    f'{method.title()} "{self.url(path)}": no basic auth credentials'
                )
            user, password = self.credentials
            return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if kind == "bearer":
            return "Bearer " + self._token(params)
        raise Unauthorized(
            f'{method.title()} "{self.url(path)}": unsupported challenge {challenge!r}'
        )

    def _token(self, params: dict[str, str]) -> str:
        realm = params.get("realm", "")
        query = {"service": params.get("service", ""), "scope": params.get("scope") or self.scope}
        url = (
            realm
            + ("&" if "?" in realm else "?")
            + urllib.parse.urlencode({k: v for k, v in query.items() if v})
        )
        parts = urllib.parse.urlsplit(url)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        kwargs: dict[str, Any] = {"timeout": TIMEOUT}
        if parts.scheme == "https":
            kwargs["context"] = _tls_context(parts.netloc)
        connection = connection_class(parts.netloc, **kwargs)
        headers = {"User-Agent": USER_AGENT}
        if self.credentials is not None:
            user, password = self.credentials
            headers["Authorization"] = (
                "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            )
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("GET", target, headers=headers)
            response = connection.getresponse()
            body = response.read()
        except OSError as e:
            raise RegistryError(f'Get "{url}": {_reason(e)}') from None
        finally:
            connection.close()
        if response.status != 200:
            raise Unauthorized(
                f'Get "{url}": unauthorized: {_error_message(body) or response.reason}'
            )
        try:
            answer = json.loads(body)
        except ValueError:
            raise RegistryError(f'Get "{url}": the token service answered no JSON') from None
        token = answer.get("token") or answer.get("access_token")
        if not token:
            raise RegistryError(f'Get "{url}": the token service answered no token')
        return str(token)

    # --- errors -----------------------------------------------------------------------

    def _error_text(self, method: str, path: str, response: Response, fallback: str) -> str:
        return f'{method.title()} "{self.url(path)}": {fallback}'

    def check(self, response: Response, what: str) -> Response:
        """The response if it is a success; Docker's errors otherwise."""
        if 200 <= response.status < 300:
            return response
        body = response.read()
        message = _error_message(body) or f"{response.status} {response.raw.reason}"
        if response.status == 404:
            raise NotFound(f"{what}: {message}")
        raise RegistryError(f"{what}: {message}")


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="..."`` as ("bearer", {...})."""
    kind, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    while rest:
        rest = rest.lstrip(" ,")
        key, sep, rest = rest.partition("=")
        if not sep:
            break
        if rest.startswith('"'):
            value, _, rest = rest[1:].partition('"')
        else:
            value, _, rest = rest.partition(",")
        params[key.strip().lower()] = value
    return kind.lower(), params


def _error_message(body: bytes) -> str:
    """The registry's errors as Docker prints them: ``code: message``... joined."""
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        return ""
    parts = []
    for error in errors:
        code = str(error.get("code", "")).lower().replace("_", " ")
        message = str(error.get("message", ""))
        parts.append(f"{code}: {message}" if code and message else code or message)
    return "; ".join(parts)


def _reason(e: OSError) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connect: connection refused"
    if isinstance(e, TimeoutError):
        return "i/o timeout"
    return e.strerror or str(e)


_contexts: dict[str, ssl.SSLContext] = {}


def _tls_context(domain: str) -> ssl.SSLContext:
    """The system's CAs and /etc/skiff/certs.d/DOMAIN/*.crt (Docker's certs.d layout)."""
    if domain not in _contexts:
        import glob
        import os

        context = ssl.create_default_context()
        for path in sorted(glob.glob(os.path.join(CERTS_D, domain, "*.crt"))):
            context.load_verify_locations(cafile=path)
        _contexts[domain] = context
    return _contexts[domain]
