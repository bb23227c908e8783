"""A token service for tests: Docker's token authentication (what auth.docker.io does for
Docker Hub) on 127.0.0.1, in a thread of the test process.

A registry configured with ``auth: token`` answers a request without a token ``401`` and
``WWW-Authenticate: Bearer realm="http://127.0.0.1:PORT/token",service="...",scope="..."``.
The client asks the realm ``GET /token?service=...&scope=...`` (``scope`` may repeat;
``account``, ``client_id`` and ``offline_token`` may come along), with Basic credentials
or anonymously, and gets ``{"token": JWT, "access_token": JWT, "expires_in": N,
"issued_at": ...}``. The JWT is RS256, signed by a key whose certificate the registry
trusts (``rootcertbundle``) and which the token carries in its header (``x5c``).

The policy: the repositories in ``public`` may be pulled by anyone; anything else
(pull of another repository, push, delete, the catalog) is granted to a known user only.
A request that asks for more than it may have gets a token with what it may have, as
Docker Hub's service does; the registry then refuses the request it was for. Wrong
credentials are refused (401) outright. Every request is recorded (``requests``).

``POST /token`` is the OAuth2 form of the specification: ``grant_type=refresh_token``
with a ``refresh_token`` of ``refresh_tokens`` (an identity token, each standing for its
user), ``service``, ``scope`` (space-separated) and ``client_id``, answered with
``{"access_token": JWT, ...}``; an unknown refresh token is ``400 invalid_grant``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.pki import KeyPair

SERVICE = "skiff-test-registry"
ISSUER = "skiff-test-issuer"
EXPIRES_IN = 300
# distribution accepts a token this long after its "exp" (clock skew; its token.Leeway)
LEEWAY = 60


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_jwt(token: str) -> tuple[dict, dict]:
    """A JWT's header and claims (not verified: the registry does that)."""
    header, claims, _ = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(claims))


def parse_scope(scope: str) -> tuple[str, str, list[str]]:
    """``repository:NAME:pull,push`` as ("repository", NAME, ["pull", "push"]). A name may
    hold a colon (a registry's host:port), the actions never do."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    return kind, name, [a for a in actions.split(",") if a]


@dataclass
class TokenRequest:
    """One request to the token service, as it came and as it was answered."""

    path: str
    query: dict[str, list[str]]  # every parameter, in order
    user: str | None  # the Basic credentials' user name; None without credentials
    account: str  # who the token is for: the user when the password was right, else ""
    status: int  # 200, or 401 for wrong credentials
    user_agent: str
    access: list[dict] = field(default_factory=list)  # what the token grants

    @property
    def service(self) -> str | None:
        values = self.query.get("service")
        return values[0] if values else None

    @property
    def scopes(self) -> list[str]:
        """The ``scope`` parameters; each may itself list several scopes, space-separated."""
        return [s for value in self.query.get("scope", []) for s in value.split()]


class TokenService:
    """The token service on 127.0.0.1 and a free port (``realm``), until ``close``."""

    def __init__(
        self,
        signer: KeyPair,
        users: dict[str, str] | None = None,
        public: list[str] | tuple[str, ...] = (),
        service: str = SERVICE,
        issuer: str = ISSUER,
        lifetime: float = EXPIRES_IN,
        refresh_tokens: dict[str, str] | None = None,
    ) -> None:
        """``lifetime``: seconds a token works at the registry (its ``exp`` is set that
        long from now less the registry's leeway, so a short one really expires)."""
        self.lifetime = lifetime
        self.signer = signer
        self.x5c = [signer.der_b64()]
        self.users = dict(users or {})
        self.refresh_tokens = dict(refresh_tokens or {})
        self.public = set(public)
        self.service = service
        self.issuer = issuer
        self.requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="token-service", daemon=True
        )
        self._thread.start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> TokenService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- policy and tokens ------------------------------------------------------------

    def grant(self, account: str, scopes: list[str]) -> list[dict]:
        """What ``account`` ("" for anonymous) may have of what ``scopes`` ask."""
        access: list[dict] = []
        for scope in scopes:
            kind, name, actions = parse_scope(scope)
            if account in self.users:
                allowed = actions
            elif kind == "repository" and name in self.public:
                allowed = [a for a in actions if a == "pull"]
            else:
                allowed = []
            for entry in access:  # a repeated scope: one entry, the actions merged
                if entry["type"] == kind and entry["name"] == name:
                    entry["actions"] += [a for a in allowed if a not in entry["actions"]]
                    break
            else:
                access.append({"type": kind, "name": name, "actions": list(allowed)})
        return access

    def token(self, account: str, access: list[dict], audience: str | None = None) -> str:
        """A signed JWT for ``account`` with ``access``; not recorded."""
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": self.x5c}
        claims = {
            "iss": self.issuer,
            "sub": account,
            "aud": audience or self.service,
            "exp": now + round(self.lifetime) - (0 if self.lifetime >= EXPIRES_IN else LEEWAY),
            "nbf": now - LEEWAY - 10,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self.signer.sign_sha256(signing_input.encode())
        return signing_input + "." + b64url(signature)

    def mint(self, scopes: list[str], account: str | None = None) -> str:
        """A token for ``scopes`` granted to ``account`` (default: the first user),
        without a request: for the tests' own requests to the registry."""
        if account is None:
            account = next(iter(self.users), "")
        return self.token(account, self.grant(account, scopes))

    # --- what was asked -----------------------------------------------------------------

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def seen(self) -> list[TokenRequest]:
        with self._lock:
            return list(self.requests)

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)


def _handler(service: TokenService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
            user, password = _basic(self.headers.get("Authorization", ""))
            record = TokenRequest(
                path=parts.path,
                query=query,
                user=user,
                account="",
                status=200,
                user_agent=self.headers.get("User-Agent", ""),
            )
            if parts.path != "/token":
                record.status = 404
                service._record(record)
                self._json(404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]})
                return
            if user is not None and service.users.get(user) != password:
                record.status = 401
                service._record(record)
                message = "incorrect username or password"
                self._json(
                    401,
                    {"errors": [{"code": "UNAUTHORIZED", "message": message}], "details": message},
                    {"WWW-Authenticate": f'Basic realm="{service.realm}"'},
                )
                return
            record.account = user or ""
            requested_service = (query.get("service") or [service.service])[0]
            record.access = service.grant(record.account, record.scopes)
            token = service.token(record.account, record.access, requested_service)
            service._record(record)
            issued = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._json(
                200,
                {
                    "token": token,
                    "access_token": token,
                    "expires_in": round(service.lifetime),
                    "issued_at": issued,
                },
            )

        def do_POST(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
            refresh = (form.get("refresh_token") or [""])[0]
            account = service.refresh_tokens.get(refresh, "")
            record = TokenRequest(
                path=parts.path,
                query=form,
                user=None,
                account=account,
                status=200,
                user_agent=self.headers.get("User-Agent", ""),
            )
            grant = (form.get("grant_type") or [""])[0]
            if parts.path != "/token" or grant != "refresh_token" or not account:
                record.status = 400
                service._record(record)
                self._json(400, {"error": "invalid_grant", "error_description": "bad token"})
                return
            requested_service = (form.get("service") or [service.service])[0]
            record.access = service.grant(account, record.scopes)
            token = service.token(account, record.access, requested_service)
            service._record(record)
            self._json(200, {"access_token": token, "expires_in": round(service.lifetime)})

        def _json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _basic(header: str) -> tuple[str | None, str | None]:
    kind, _, value = header.partition(" ")
    if kind.lower() != "basic":
        return None, None
    try:
        user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return user, password
