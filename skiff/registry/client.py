"""One repository of one registry over HTTP(S): requests with Docker's authentication,
TLS rules and retries.

A 401 carries a ``WWW-Authenticate`` challenge: ``Basic`` is answered with the stored
credentials, ``Bearer realm=... service=... scope=...`` with a token fetched from the realm
(with the credentials if there are any, anonymously otherwise), kept for the client's
other requests; a 401 later (an expired token) fetches a new one. Credentials with an
empty user are an identity token (an OAuth2 refresh token, as containerd takes a CRI
pull's ``identity_token``): the token comes from a ``POST`` of the OAuth2 refresh-token
grant to the realm, as Docker's distribution token specification describes it.

TLS, as dockerd: a registry with CA files in ``certs.d/HOST:PORT/`` is verified against
them; other insecure registries (loopback, and skiff.toml's ``[registries] insecure``) are
tried over HTTPS without verification and then over plain HTTP; all others are verified
HTTPS only.

A 429 or 5xx answer is retried with backoff (honouring ``Retry-After``), as a connection the
server closed between requests is reopened. Each thread has its own connection
(http.client connections are not shared), so layers transfer in parallel.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import threading
import time
import urllib.parse

from skiff.errors import NotFound, SkiffError
from skiff.registry import credentials

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

USER_AGENT = "skiff"
CERTS_D = "/etc/skiff/certs.d"
TIMEOUT = 60
BLOCK = 1 << 20  # bytes http.client sends of a file body at a time (its default is 8 KiB)
ATTEMPTS = 5  # of a request answered 429 or 5xx
BACKOFF = 0.2  # seconds before the second attempt; doubled before each next one
RETRY_AFTER_LIMIT = 10.0
RETRIED_STATUSES = (429, 500, 502, 503, 504)


class RegistryError(SkiffError):
    """The registry refused or could not be reached: Docker's daemon error (exit 1)."""

    exit_code = 1
    http_status = 500


class Unauthorized(RegistryError):
    http_status = 401

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail or message  # the registry's words, without the request


def registry_settings() -> dict[str, Any]:
    from skiff.config import load_config

    settings = load_config().get("registries", {})
    return settings if isinstance(settings, dict) else {}


def is_loopback(domain: str) -> bool:
    host = domain.rsplit(":", 1)[0] if not domain.endswith("]") else domain
    host = host.strip("[]")
    return host == "localhost" or host.startswith("127.") or host == "::1"


def is_insecure(domain: str) -> bool:
    return is_loopback(domain) or domain in (registry_settings().get("insecure") or [])


def ca_files(domain: str) -> list[str]:
    """The CA files of a registry: ``certs_dir/HOST:PORT/*.crt`` (Docker's certs.d)."""
    import glob

    certs_dir = registry_settings().get("certs_dir") or CERTS_D
    return sorted(glob.glob(os.path.join(certs_dir, domain, "*.crt")))


def api_host(domain: str) -> str:
    """Where a registry's API is: Docker Hub's is registry-1.docker.io."""
    return "registry-1.docker.io" if domain == "docker.io" else domain


def backoff(attempt: int) -> float:
    """Seconds to wait before attempt number ``attempt + 1`` (``attempt`` >= 1)."""
    return BACKOFF * (2 ** (attempt - 1))


class Response:
    def __init__(self, raw: http.client.HTTPResponse, url: str) -> None:
        self.raw = raw
        self.status = raw.status
        self.url = url

    def header(self, name: str) -> str:
        return self.raw.getheader(name) or ""

    def read(self, n: int | None = None) -> bytes:
        return self.raw.read(n)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        return self.raw.readinto(buffer)

    def json(self) -> Any:
        return json.loads(self.raw.read())

    def close(self) -> None:
        self.raw.close()


class Client:
    """Requests to ``repository`` of the registry at ``domain``.

    ``actions`` are the token scope's (``pull``, ``pull,push``); ``endpoint``
    (``scheme://host:port``) sends the requests to a mirror of the domain instead.
    """

    def __init__(
        self, domain: str, repository: str, actions: str = "pull", endpoint: str = ""
    ) -> None:
        self.domain = domain
        self.repository = repository
        self.scopes = [f"repository:{repository}:{actions}"] if repository and actions else []
        if endpoint:
            scheme, _, self.host = endpoint.rstrip("/").partition("://")
            self.verify = not is_insecure(self.host) or bool(ca_files(self.host))
            self.schemes = [scheme]
        else:
            self.host = api_host(domain)
            self.verify = not is_insecure(domain) or bool(ca_files(self.host))
            # a registry with CA files of its own is HTTPS, verified
            self.schemes = ["https"] if self.verify else ["https", "http"]
        self.credentials = credentials.lookup(domain)
        self.authorization = ""
        self._local = threading.local()
        self._lock = threading.RLock()  # _answer's messages ask _scheme, under it

    # --- requests -------------------------------------------------------------------

    def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        return self.request("GET", f"/v2/{self.repository}/{path}", headers)

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | BinaryIO = b"",
    ) -> Response:
        """A request with authentication and retries; the response of any status but 401.

        A body given as a file is sent once: its request is not retried."""
        attempt = 1
        while True:
            response = self._authorized(method, path, headers, body)
            if (
                response.status not in RETRIED_STATUSES
                or attempt == ATTEMPTS
                or not isinstance(body, bytes)
            ):
                return response
            delay = backoff(attempt)
            if response.status == 429:
                delay = max(delay, _retry_after(response.header("Retry-After")))
            response.read()
            time.sleep(delay)
            attempt += 1

    def _authorized(
        self, method: str, path: str, headers: dict[str, str] | None, body: bytes | BinaryIO
    ) -> Response:
        response = self._send(method, path, headers, body)
        if response.status != 401 or not isinstance(body, bytes):
            return response
        challenge = response.header("WWW-Authenticate")
        response.read()
        with self._lock:
            self.authorization = self._answer(challenge, method, path)
        response = self._send(method, path, headers, body)
        if response.status == 401:
            detail = error_message(response.read()) or "unauthorized: authentication required"
            raise Unauthorized(f'{method.title()} "{self.url(path)}": {detail}', detail)
        return response

    def _send(
        self, method: str, path: str, headers: dict[str, str] | None, body: bytes | BinaryIO
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
                self.drop_connection()
                if attempt == 2 or not isinstance(body, bytes):
                    raise RegistryError(
                        f'{method.title()} "{self.url(path)}": connection reset'
                    ) from None
            except OSError as e:
                self.drop_connection()
                raise RegistryError(f'{method.title()} "{self.url(path)}": {_reason(e)}') from None
        raise AssertionError("unreachable")

    def url(self, path: str) -> str:
        return f"{self._scheme()}://{self.host}{path}"

    def drop_connection(self) -> None:
        """Forget this thread's connection (after a response was cut short)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
        self._local.connection = None

    # --- connections ----------------------------------------------------------------

    def _scheme(self) -> str:
        with self._lock:
            if len(self.schemes) > 1:
                self.schemes = [self._probe()]
            return self.schemes[0]

    def _probe(self) -> str:
        """HTTPS if the registry speaks it, else HTTP (insecure registries only)."""
        try:
            connection = self._new_connection("https")
            connection.request("GET", "/v2/", headers={"User-Agent": USER_AGENT})
            connection.getresponse().read()
            connection.close()
            return "https"
        except OSError:  # no TLS there, or nothing at all: HTTP's error is the one to show
            return "http"

    def _new_connection(self, scheme: str) -> http.client.HTTPConnection:
        if scheme == "https":
            return http.client.HTTPSConnection(
                self.host,
                timeout=TIMEOUT,
                context=tls_context(self.host, self.verify),
                blocksize=BLOCK,
            )
        return http.client.HTTPConnection(self.host, timeout=TIMEOUT, blocksize=BLOCK)

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._new_connection(self._scheme())
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
            return _basic(*self.credentials)
        if kind == "bearer":
            return "Bearer " + self._token(params, f'{method.title()} "{self.url(path)}"')
        raise Unauthorized(
            f'{method.title()} "{self.url(path)}": unsupported challenge {challenge!r}'
        )

    def _token(self, params: dict[str, str], request: str) -> str:
        """A token from the realm; ``request`` names the request it is for, in errors."""
        realm = params.get("realm", "")
        scopes = self.scopes or ([params["scope"]] if params.get("scope") else [])
        service = [("service", params["service"])] if params.get("service") else []
        headers = {"User-Agent": USER_AGENT}
        form: bytes | None = None
        if self.credentials is not None and not self.credentials[0]:
            grant = [("grant_type", "refresh_token"), ("refresh_token", self.credentials[1]),
                     *service, ("scope", " ".join(scopes)), ("client_id", "skiff")]  # fmt: skip
            form = urllib.parse.urlencode(grant).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            url = realm
        else:
            query = list(service)
            if self.credentials is not None:
                query.append(("account", self.credentials[0]))
                headers["Authorization"] = _basic(*self.credentials)
            query += [("scope", scope) for scope in scopes]
            url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.netloc, timeout=TIMEOUT, context=tls_context(parts.netloc, self.verify)
            )
        else:
            connection = http.client.HTTPConnection(parts.netloc, timeout=TIMEOUT)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        method = "GET" if form is None else "POST"
        try:
            connection.request(method, target, form, headers)
            response = connection.getresponse()
            body = response.read()
        except OSError as e:
            raise RegistryError(f'{method.title()} "{url}": {_reason(e)}') from None
        finally:
            connection.close()
        if response.status != 200:
            detail = error_message(body) or f"unauthorized: {response.reason}"
            raise Unauthorized(f"{request}: {detail}", detail)
        try:
            answer = json.loads(body)
        except ValueError:
            raise RegistryError(
                f'{method.title()} "{url}": the token service answered no JSON'
            ) from None
        token = answer.get("token") or answer.get("access_token")
        if not token:
            raise RegistryError(f'{method.title()} "{url}": the token service answered no token')
        return str(token)

    # --- errors -----------------------------------------------------------------------

    def check(self, response: Response, what: str) -> Response:
        """The response if it is a success; Docker's errors otherwise."""
        if 200 <= response.status < 300:
            return response
        body = response.read()
        message = error_message(body) or f"{response.status} {response.raw.reason}"
        if response.status == 404:
            raise NotFound(f"{what}: {message}")
        if response.status in (401, 403):
            raise Unauthorized(f"{what}: {message}", message)
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


def error_message(body: bytes) -> str:
    """The registry's errors as Docker prints them: ``code: message``... joined (an OAuth2
    token endpoint's ``error: error_description``)."""
    try:
        document = json.loads(body)
        errors = document.get("errors") or []
    except (ValueError, AttributeError):
        return ""
    if not errors and isinstance(document.get("error"), str):
        return ": ".join(filter(None, (document["error"], document.get("error_description"))))
    parts = []
    for error in errors:
        code = str(error.get("code", "")).lower().replace("_", " ")
        message = str(error.get("message", ""))
        parts.append(f"{code}: {message}" if code and message else code or message)
    return "; ".join(parts)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _retry_after(value: str) -> float:
    try:
        return min(float(value), RETRY_AFTER_LIMIT)
    except ValueError:
        return 0.0


def _reason(e: OSError) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connect: connection refused"
    if isinstance(e, TimeoutError):
        return "i/o timeout"
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"tls: failed to verify certificate: {e.verify_message}"
    return e.strerror or str(e)


_contexts: dict[tuple[str, bool], ssl.SSLContext] = {}


def tls_context(host: str, verify: bool = True) -> ssl.SSLContext:
    """The system's CAs and the registry's own; without ``verify``, no verification (an
    insecure registry without CA files)."""
    key = (host, verify)
    if key not in _contexts:
        context = ssl.create_default_context()
        if verify:
            for path in ca_files(host):
                context.load_verify_locations(cafile=path)
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        _contexts[key] = context
    return _contexts[key]
