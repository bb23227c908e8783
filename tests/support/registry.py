"""A real image registry for tests: Debian's docker-registry (the CNCF distribution
registry) on 127.0.0.1, with filesystem storage in a test's directory and, if asked, basic
authentication from an htpasswd file or token authentication from a ``TokenService``
(tests/support/tokens.py), and HTTPS with a certificate a test's CA signed
(tests/support/pki.py); skopeo pushes images into it.

Every request goes to 127.0.0.1 only, and never through a proxy.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
import ssl
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.pki import KeyPair
from tests.support.tokens import TokenService

REGISTRY = "/usr/bin/docker-registry"

# The credentials of the integration tests' ``auth_registry``.
REGISTRY_USER = "tester"
REGISTRY_PASSWORD = "s3cret"

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPES = (MANIFEST_V2, MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX)

# urllib without the environment's proxies: registry traffic stays on 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _tls_opener(ca: Path | None) -> urllib.request.OpenerDirector:
    """urllib for HTTPS, without proxies: verified against ``ca``, or not at all."""
    if ca is None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=str(ca))
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unused_address() -> str:
    """127.0.0.1:PORT where nothing listens (connections are refused)."""
    return f"127.0.0.1:{free_port()}"


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers  # names in lower case
        self.body = body

    def json(self) -> dict:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.headers!r}, {self.body[:300]!r})"


class Registry:
    """docker-registry on 127.0.0.1 and a free port, storing under ``base``.

    With ``user`` and ``password``, every request needs HTTP basic authentication
    (``auth.htpasswd``: the password is bcrypt-hashed by ``htpasswd -B``). With ``tokens``,
    every request needs a token of that service (``auth.token``: the registry trusts the
    service's signing certificate); the registry's own requests (``request``, skopeo's
    pushes) are made as the service's first user. With ``tls`` (a server certificate for
    127.0.0.1 and its key), the registry speaks HTTPS only; its own requests verify it
    against ``ca`` if given, and not at all otherwise.
    """

    REALM = "skiff-test-registry"

    def __init__(
        self,
        base: Path,
        user: str | None = None,
        password: str | None = None,
        *,
        tokens: TokenService | None = None,
        tls: KeyPair | None = None,
        ca: Path | None = None,
    ) -> None:
        assert tokens is None or user is None, "htpasswd or tokens, not both"
        self.base = base
        self.base.mkdir(parents=True, exist_ok=True)
        self.user = user
        self.password = password
        self.tokens = tokens
        self.tls = tls
        self._opener = _tls_opener(ca) if tls is not None else _opener
        self.port = free_port()
        self.log_path = base / "registry.log"
        self.config_path = base / "config.yml"
        self.config_path.write_text(self._config())
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (open for the registry's lifetime)
        self.process = subprocess.Popen(
            [REGISTRY, "serve", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``: the registry's part of an image reference."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls is not None else 'http'}://{self.address}"

    @property
    def creds(self) -> str | None:
        """``user:password`` (skopeo's ``--creds``), or None without authentication."""
        if self.tokens is not None and self.tokens.users:
            user, password = next(iter(self.tokens.users.items()))
            return f"{user}:{password}"
        return f"{self.user}:{self.password}" if self.user is not None else None

    def _config(self) -> str:
        storage = self.base / "data"
        storage.mkdir(exist_ok=True)
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {storage}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            "  secret: skiff-tests-not-a-secret",
        ]
        if self.tls is not None:
            lines += [
                "  tls:",
                f"    certificate: {self.tls.cert}",
                f"    key: {self.tls.key}",
            ]
        if self.tokens is not None:
            lines += [
                "auth:",
                "  token:",
                f"    realm: {self.tokens.realm}",
                f"    service: {self.tokens.service}",
                f"    issuer: {self.tokens.issuer}",
                f"    rootcertbundle: {self.tokens.signer.cert}",
            ]
        if self.user is not None:
            assert self.password is not None
            htpasswd = self.base / "htpasswd"
            entry = subprocess.run(
                ["htpasswd", "-Bbn", self.user, self.password],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            htpasswd.write_text(entry + "\n")
            lines += [
                "auth:",
                "  htpasswd:",
                f"    realm: {self.REALM}",
                f"    path: {htpasswd}",
            ]
        return "\n".join(lines) + "\n"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"docker-registry exited with {self.process.returncode}: {self.log()}"
                )
            try:
                status = self.request("GET", "/v2/", auth=False).status
            except OSError:
                status = 0
            if status in (200, 401):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not answer on {self.url}: {self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- HTTP ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> Response:
        """One request to the registry (``path`` starts with ``/v2/``); with ``auth`` and
        a user, basic credentials are sent; with ``auth`` and a token service, a 401's
        ``Bearer`` challenge is answered with a token for its scope (as the service's first
        user). HTTP errors are returned, not raised."""
        response = self._request(method, path, data, headers, auth)
        challenge = response.headers.get("www-authenticate", "")
        if auth and self.tokens is not None and response.status == 401 and challenge:
            scopes = _challenge_params(challenge).get("scope", "").split()
            bearer = {"Authorization": "Bearer " + self.tokens.mint(scopes)}
            response = self._request(method, path, data, {**(headers or {}), **bearer}, False)
        return response

    def _request(
        self,
        method: str,
        path: str,
        data: bytes | None,
        headers: dict[str, str] | None,
        auth: bool,
    ) -> Response:
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers=dict(headers or {})
        )
        if auth and self.user is not None:
            assert self.password is not None
            request.add_header("Authorization", basic_auth(self.user, self.password))
        try:
            with self._opener.open(request, timeout=30) as response:
                return Response(
                    response.status,
                    {k.lower(): v for k, v in response.headers.items()},
                    response.read(),
                )
        except urllib.error.HTTPError as e:
            return Response(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())

    def catalog(self) -> list[str]:
        response = self.request("GET", "/v2/_catalog")
        assert response.status == 200, response
        return list(response.json()["repositories"])

    def tags(self, repo: str) -> list[str]:
        response = self.request("GET", f"/v2/{repo}/tags/list")
        assert response.status == 200, response
        return list(response.json()["tags"] or [])

    def manifest(self, repo: str, ref: str) -> Response:
        """The manifest of ``repo`` by tag or digest, any kind (Accept: all of them)."""
        response = self.request(
            "GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": ", ".join(MANIFEST_TYPES)}
        )
        assert response.status == 200, response
        return response

    def blob(self, repo: str, digest: str) -> bytes:
        response = self.request("GET", f"/v2/{repo}/blobs/{digest}")
        assert response.status == 200, response
        return response.body

    def config(self, repo: str, ref: str) -> dict:
        """The image config of an image manifest."""
        manifest = self.manifest(repo, ref).json()
        return json.loads(self.blob(repo, manifest["config"]["digest"]))

    # --- content -------------------------------------------------------------------------

    def push_archive(self, archive: Path, ref: str, creds: str | None = None) -> str:
        """Copy a docker-archive (``skiff save IMAGE -o FILE``; one image) to
        ``ADDRESS/ref`` (``repo:tag``) with skopeo; returns the manifest's digest.

        skopeo compresses the layers (gzip) on the way: the blobs in the registry are not
        the archive's layer tars, but the image config, hence the image ID, is the same.
        ``creds`` (``user:password``) default to the registry's own.
        """
        creds = creds or self.creds
        digestfile = self.base / f"digest-{time.monotonic_ns()}"
        command = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false"]
        command += ["--digestfile", str(digestfile)]
        if creds is not None:
            command += ["--dest-creds", creds]
        command += [f"docker-archive:{archive}", f"docker://{self.address}/{ref}"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{command}: {result.stderr}\n{self.log()}"
        digest = digestfile.read_text().strip()
        digestfile.unlink()
        assert digest.startswith("sha256:"), digest
        return digest

    def put_manifest_list(self, repo: str, tag: str, entries: list[dict]) -> str:
        """PUT a Docker manifest list at ``repo:tag``; returns its digest.

        Each entry names a manifest already in ``repo``: ``{"digest": ..., "platform":
        {"os": "linux", "architecture": "arm64", "variant": "v8"}}``; its ``size`` and
        ``mediaType`` are read from the registry unless given.
        """
        manifests = []
        for entry in entries:
            if "size" not in entry or "mediaType" not in entry:
                existing = self.manifest(repo, entry["digest"])
                entry = {
                    "mediaType": existing.headers["content-type"],
                    "size": len(existing.body),
                    **entry,
                }
            manifests.append(
                {
                    "mediaType": entry["mediaType"],
                    "size": entry["size"],
                    "digest": entry["digest"],
                    "platform": entry["platform"],
                }
            )
        body = json.dumps(
            {"schemaVersion": 2, "mediaType": MANIFEST_LIST, "manifests": manifests}, indent=3
        ).encode()
        response = self.request(
            "PUT", f"/v2/{repo}/manifests/{tag}", data=body, headers={"Content-Type": MANIFEST_LIST}
        )
        assert response.status == 201, response
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        assert response.headers.get("docker-content-digest") == digest, response
        return digest


def _challenge_params(header: str) -> dict[str, str]:
    """The parameters of ``Bearer realm="...",service="...",scope="..."``."""
    params: dict[str, str] = {}
    rest = header.partition(" ")[2]
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
    return params


def archive_for_platform(
    source: Path, target: Path, architecture: str, variant: str | None = None
) -> str:
    """A copy of a one-image docker-archive whose config names another architecture (and
    variant), with the same layers; returns the new image ID (its config's digest)."""
    with tarfile.open(source) as tar:
        [entry] = json.loads(_member(tar, "manifest.json"))
        config = json.loads(_member(tar, entry["Config"]))
        config["architecture"] = architecture
        config.pop("variant", None)
        if variant:
            config["variant"] = variant
        data = json.dumps(config, separators=(",", ":")).encode()
        image_id = "sha256:" + hashlib.sha256(data).hexdigest()
        manifest = [{"Config": image_id[7:] + ".json", "RepoTags": [], "Layers": entry["Layers"]}]
        with tarfile.open(target, "w") as out:
            for member in tar.getmembers():
                if member.name not in (entry["Config"], "manifest.json", "repositories"):
                    out.addfile(member, tar.extractfile(member) if member.isfile() else None)
            for name, content in (
                (manifest[0]["Config"], data),
                ("manifest.json", json.dumps(manifest).encode()),
            ):
                info = tarfile.TarInfo(name)
                info.size = len(content)
                out.addfile(info, io.BytesIO(content))
    return image_id


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    f = tar.extractfile(name)
    assert f is not None, name
    return f.read()
