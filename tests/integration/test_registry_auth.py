"""skiff and registries that are not plain HTTP with basic auth, as Docker meets them:
Docker's token authentication (a ``Bearer`` challenge, answered with a token from the
realm's token service), HTTPS with a certificate of the test's own CA (``certs.d``), and
mirrors of Docker Hub (skiff.toml's ``[registries] mirrors``, dockerd's registry-mirrors).

The registries are Debian's docker-registry on 127.0.0.1 (tests/support/registry.py); the
token service runs in the test process (tests/support/tokens.py) and records what it was
asked, so a test sees which scopes skiff asked for and as whom. No request leaves
127.0.0.1: a mirror test names no image that is not in its mirror.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import Result, Skiff
from tests.support.engine import remove_all_containers
from tests.support.pki import KeyPair, certificate_authority, server_certificate, signing_key
from tests.support.registry import REGISTRY_PASSWORD, REGISTRY_USER, Registry, unused_address
from tests.support.tokens import SERVICE, TokenService, decode_jwt

PUBLIC = "public/busybox"  # anyone may pull it
PRIVATE = "private/busybox"  # tester / s3cret only
IDENTITY_TOKEN = "identity-token-of-the-tester"  # an OAuth2 refresh token standing for tester

# What Docker prints about a layer when its output is not a terminal (lines with a
# progress bar are left out there).
PULL_STATUSES = {
    "Pulling fs layer",
    "Waiting",
    "Verifying Checksum",
    "Download complete",
    "Already exists",
    "Pull complete",
}
PUSH_LINE = re.compile(
    r"([0-9a-f]{12}): (Preparing|Waiting|Pushed|Layer already exists|Mounted from \S+)"
)


# --- certificates, services and stores ------------------------------------------------


@dataclass
class PKI:
    ca: KeyPair  # signs the registries' server certificate
    server: KeyPair  # for 127.0.0.1, signed by ``ca``
    other_ca: KeyPair  # a CA that signed nothing here: the wrong one
    signer: KeyPair  # signs the token service's tokens (self-signed)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    base = tmp_path_factory.mktemp("pki")
    ca = certificate_authority(base, "skiff-test-ca")
    return PKI(
        ca=ca,
        server=server_certificate(ca, base, "registry-127.0.0.1"),
        other_ca=certificate_authority(base, "skiff-other-ca"),
        signer=signing_key(base, "token-signer"),
    )


@pytest.fixture(autouse=True)
def docker_config(skiff: Skiff, tmp_path: Path) -> Path:
    """DOCKER_CONFIG of the test's own: the credentials of ~/.docker are neither read nor
    written."""
    path = tmp_path / "docker-config"
    skiff.env["DOCKER_CONFIG"] = str(path)
    return path


@pytest.fixture
def certs_dir(tmp_path: Path) -> Path:
    """The test's certs.d (skiff.toml's ``certs_dir``), empty: /etc/skiff/certs.d is not
    read."""
    path = tmp_path / "certs.d"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def skiff_config(skiff: Skiff, tmp_path: Path, certs_dir: Path) -> Path:
    """SKIFF_CONFIG of the test's own, naming its certs.d and no mirror."""
    path = tmp_path / "skiff.toml"
    write_config(path, certs_dir)
    skiff.env["SKIFF_CONFIG"] = str(path)
    return path


def write_config(path: Path, certs_dir: Path, mirrors: list[str] | None = None) -> None:
    lines = ["[registries]", f"certs_dir = {json.dumps(str(certs_dir))}"]
    if mirrors is not None:
        lines.append(f"mirrors = {json.dumps(mirrors)}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def other(tmp_path: Path, docker_config: Path, skiff_config: Path) -> Iterator[Skiff]:
    """A second, empty store that pulls, with the same DOCKER_CONFIG and SKIFF_CONFIG; its
    temporary files go to a TMPDIR of its own."""
    cli = Skiff(tmp_path / "other")
    cli.env["DOCKER_CONFIG"] = str(docker_config)
    cli.env["SKIFF_CONFIG"] = str(skiff_config)
    temp = tmp_path / "other" / "tmp"
    temp.mkdir(parents=True)
    cli.env["TMPDIR"] = str(temp)
    yield cli
    leftovers = remove_all_containers(cli)
    for image in set(cli("images", "-aq").out.split()):
        cli("rmi", "-f", image)
    assert not leftovers, "\n".join(leftovers)


@pytest.fixture
def tokens(pki: PKI) -> Iterator[TokenService]:
    """The token service: tester / s3cret may do anything, anyone may pull public/busybox."""
    with TokenService(
        pki.signer,
        {REGISTRY_USER: REGISTRY_PASSWORD},
        public=[PUBLIC],
        refresh_tokens={IDENTITY_TOKEN: REGISTRY_USER},
    ) as service:
        yield service


def _running(registry: Registry) -> Iterator[Registry]:
    with registry as running:
        yield running
        assert running.process.poll() is None, f"the registry died: {running.log()}"


@pytest.fixture
def token_registry(tmp_path: Path, tokens: TokenService) -> Iterator[Registry]:
    """A registry (plain HTTP) that wants tokens of ``tokens``."""
    yield from _running(Registry(tmp_path / "token-registry", tokens=tokens))


@pytest.fixture
def tls_registry(tmp_path: Path, pki: PKI) -> Iterator[Registry]:
    """A registry that speaks HTTPS only, its certificate signed by the test CA; no auth."""
    yield from _running(Registry(tmp_path / "tls-registry", tls=pki.server, ca=pki.ca.cert))


@pytest.fixture
def tls_token_registry(tmp_path: Path, pki: PKI, tokens: TokenService) -> Iterator[Registry]:
    """A registry that speaks HTTPS only and wants tokens of ``tokens``."""
    yield from _running(
        Registry(tmp_path / "tls-token-registry", tokens=tokens, tls=pki.server, ca=pki.ca.cert)
    )


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Registry]:
    """A registry (plain HTTP, no auth) that serves as a mirror of docker.io."""
    yield from _running(Registry(tmp_path / "mirror"))


def push(skiff: Skiff, image: str, registry: Registry, ref: str, tmp_path: Path) -> str:
    """``skiff save`` an image of ``skiff``'s store and push it to ``registry`` as ``ref``
    with skopeo (as the registry's own user); the manifest's digest."""
    archive = tmp_path / f"save-{len(list(tmp_path.glob('save-*')))}.tar"
    skiff.ok("save", "-o", str(archive), image)
    return registry.push_archive(archive, ref)


def login(cli: Skiff, address: str, password: str = REGISTRY_PASSWORD) -> Result:
    return cli(
        "login", "-u", REGISTRY_USER, "--password-stdin", address, input=password + "\n",
        timeout=60,
    )  # fmt: skip


def error_line(result: Result, prefix: str = "Error: ") -> str:
    """The one line a failed command wrote to stderr: ``Error: ...``, or as given (push's
    errors are bare, as docker push prints them)."""
    assert result.code == 1, result
    lines = result.err.splitlines()
    assert len(lines) == 1, result
    assert lines[0].startswith(prefix), result
    return lines[0]


def assert_nothing_pulled(cli: Skiff) -> None:
    assert cli.ok("images", "-aq") == ""


def diff_ids(cli: Skiff, image: str) -> list[str]:
    return list(cli.inspect(image)["RootFS"]["Layers"])


def install_ca(certs_dir: Path, registry: Registry, ca: KeyPair) -> Path:
    """``ca`` as certs_dir/127.0.0.1:PORT/ca.crt, as /etc/docker/certs.d holds a
    registry's CA."""
    directory = certs_dir / registry.address
    directory.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(ca.cert, directory / "ca.crt"))


# --- the fixtures themselves ------------------------------------------------------------


def test_the_registry_accepts_the_token_services_tokens(
    skiff: Skiff, busybox: str, tokens: TokenService, token_registry: Registry, tmp_path: Path
):
    challenge = token_registry.request("GET", "/v2/", auth=False)
    assert challenge.status == 401
    assert challenge.headers["www-authenticate"] == (
        f'Bearer realm="{tokens.realm}",service="{SERVICE}"'
    )

    def token_for(scope: str, creds: str | None = None) -> str:
        request = urllib.request.Request(f"{tokens.realm}?service={SERVICE}&scope={scope}")
        if creds:
            request.add_header(
                "Authorization", "Basic " + base64.b64encode(creds.encode()).decode()
            )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert answer["token"] == answer["access_token"]
        assert answer["expires_in"] > 0 and answer["issued_at"]
        return str(answer["token"])

    def get(path: str, token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return token_registry.request("GET", path, headers=headers, auth=False).status

    public = token_for(f"repository:{PUBLIC}:pull")
    header, claims = decode_jwt(public)
    assert header["alg"] == "RS256" and header["x5c"] == [tokens.signer.der_b64()]
    assert claims["iss"] == tokens.issuer and claims["aud"] == SERVICE and claims["sub"] == ""
    assert claims["access"] == [{"type": "repository", "name": PUBLIC, "actions": ["pull"]}]
    # the registry takes the token: an unknown repository, not a refusal
    assert get(f"/v2/{PUBLIC}/tags/list", public) == 404
    # an anonymous token grants nothing on a private repository
    denied = token_for(f"repository:{PRIVATE}:pull")
    assert decode_jwt(denied)[1]["access"] == [
        {"type": "repository", "name": PRIVATE, "actions": []}
    ]
    assert get(f"/v2/{PRIVATE}/tags/list", denied) == 401
    # the user's does
    granted = token_for(f"repository:{PRIVATE}:pull,push", f"{REGISTRY_USER}:{REGISTRY_PASSWORD}")
    assert decode_jwt(granted)[1]["sub"] == REGISTRY_USER
    assert get(f"/v2/{PRIVATE}/tags/list", granted) == 404
    # a wrong password gets no token at all
    with pytest.raises(urllib.error.HTTPError) as refused:
        token_for(f"repository:{PRIVATE}:pull", f"{REGISTRY_USER}:wrong")
    assert refused.value.code == 401

    assert [(r.user, r.account, r.scopes, r.status) for r in tokens.seen()] == [
        (None, "", [f"repository:{PUBLIC}:pull"], 200),
        (None, "", [f"repository:{PRIVATE}:pull"], 200),
        (REGISTRY_USER, REGISTRY_USER, [f"repository:{PRIVATE}:pull,push"], 200),
        (REGISTRY_USER, "", [f"repository:{PRIVATE}:pull"], 401),
    ]
    # skopeo pushes as the user; the registry's own requests carry the user's tokens
    push(skiff, "busybox:latest", token_registry, f"{PRIVATE}:1", tmp_path)
    assert token_registry.catalog() == [PRIVATE]
    assert token_registry.manifest(PRIVATE, "1").json()["config"]["digest"] == busybox


def test_the_tls_registry_speaks_https_with_the_test_cas_certificate(
    tls_registry: Registry, pki: PKI
):
    assert tls_registry.url.startswith("https://127.0.0.1:")
    assert tls_registry.request("GET", "/v2/").status == 200
    context = ssl.create_default_context(cafile=str(pki.other_ca.cert))
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    with pytest.raises(urllib.error.URLError) as failed:
        opener.open(tls_registry.url + "/v2/", timeout=30)
    assert isinstance(failed.value.reason, ssl.SSLCertVerificationError), failed.value


# --- token authentication -----------------------------------------------------------------


@pytest.fixture
def token_images(
    skiff: Skiff, busybox: str, tokens: TokenService, token_registry: Registry, tmp_path: Path
) -> dict[str, str]:
    """busybox:latest in ``token_registry`` as public/busybox:1 and private/busybox:1;
    their manifests' digests. The token service forgets skopeo's requests."""
    digests = {
        repo: push(skiff, "busybox:latest", token_registry, f"{repo}:1", tmp_path)
        for repo in (PUBLIC, PRIVATE)
    }
    tokens.clear()
    return digests


def test_anonymous_pull_of_a_public_repository_fetches_a_token(
    other: Skiff,
    busybox: str,
    tokens: TokenService,
    token_registry: Registry,
    token_images: dict[str, str],
):
    ref = f"{token_registry.address}/{PUBLIC}:1"
    lines = other.ok("pull", ref).splitlines()
    assert lines[0] == f"1: Pulling from {PUBLIC}"
    assert lines[-3:] == [
        f"Digest: {token_images[PUBLIC]}",
        f"Status: Downloaded newer image for {ref}",
        ref,
    ]
    for line in lines[1:-3]:
        match = re.fullmatch(r"[0-9a-f]{12}: (.+)", line)
        assert match and match[1] in PULL_STATUSES, lines
    assert other.inspect(ref)["Id"] == busybox
    assert other.inspect(ref)["RepoDigests"] == [
        f"{token_registry.address}/{PUBLIC}@{token_images[PUBLIC]}"
    ]

    seen = tokens.seen()
    assert seen, "skiff asked the token service nothing"
    # anonymously, for the registry's service, and for pulling that repository only
    assert {(r.user, r.account, r.status, r.service) for r in seen} == {(None, "", 200, SERVICE)}
    assert {s for r in seen for s in r.scopes} == {f"repository:{PUBLIC}:pull"}


def test_anonymous_pull_of_a_private_repository_fails(
    other: Skiff, tokens: TokenService, token_registry: Registry, token_images: dict[str, str]
):
    result = other("pull", f"{token_registry.address}/{PRIVATE}:1", timeout=60)
    # Docker: Error response from daemon: pull access denied for ADDRESS/private/busybox,
    # repository does not exist or may require 'docker login': denied: requested access
    # to the resource is denied
    error = error_line(result).lower()
    assert "unauthorized" in error or "denied" in error, result
    assert_nothing_pulled(other)
    seen = tokens.seen()
    assert seen and {(r.user, r.account) for r in seen} == {(None, "")}
    assert {s for r in seen for s in r.scopes} == {f"repository:{PRIVATE}:pull"}


def test_login_to_a_token_registry_then_pull_a_private_repository(
    other: Skiff,
    busybox: str,
    tokens: TokenService,
    token_registry: Registry,
    token_images: dict[str, str],
    docker_config: Path,
):
    address = token_registry.address
    result = login(other, address)
    assert result.code == 0, result
    assert result.out == "Login Succeeded\n"
    auth = json.loads((docker_config / "config.json").read_text())["auths"][address]["auth"]
    assert base64.b64decode(auth).decode() == f"{REGISTRY_USER}:{REGISTRY_PASSWORD}"
    # login asks for a token with the credentials, for the server alone (no scope)
    logins = tokens.seen()
    assert logins, "skiff login asked the token service nothing"
    assert {(r.user, r.account, r.status, r.service, tuple(r.scopes)) for r in logins} == {
        (REGISTRY_USER, REGISTRY_USER, 200, SERVICE, ())
    }
    tokens.clear()

    ref = f"{address}/{PRIVATE}:1"
    assert other.ok("pull", "-q", ref) == f"{ref}\n"
    assert other.inspect(ref)["Id"] == busybox
    seen = tokens.seen()
    assert seen and {(r.user, r.account, r.status) for r in seen} == {
        (REGISTRY_USER, REGISTRY_USER, 200)
    }
    assert {s for r in seen for s in r.scopes} == {f"repository:{PRIVATE}:pull"}


def test_login_to_a_token_registry_with_a_wrong_password_fails(
    other: Skiff, tokens: TokenService, token_registry: Registry, docker_config: Path
):
    result = login(other, token_registry.address, "wrong")
    # Docker: Error response from daemon: Get "http://ADDRESS/v2/": unauthorized: ...
    assert "unauthorized" in error_line(result).lower(), result
    assert result.out == ""
    config_file = docker_config / "config.json"
    if config_file.exists():
        assert token_registry.address not in json.loads(config_file.read_text()).get("auths", {})
    seen = tokens.seen()
    assert seen and seen[-1].user == REGISTRY_USER and seen[-1].status == 401


# --- push -----------------------------------------------------------------------------------


def test_push_without_login_to_a_token_registry_fails(
    skiff: Skiff, busybox: str, tokens: TokenService, token_registry: Registry
):
    ref = f"{token_registry.address}/{PRIVATE}:1"
    skiff.ok("tag", "busybox:latest", ref)
    result = skiff("push", ref, timeout=60)
    # Docker: unauthorized: authentication required (or: denied: requested access to the
    # resource is denied)
    error = error_line(result, prefix="").lower()
    assert any(word in error for word in ("unauthorized", "denied", "authentication required"))
    assert token_registry.catalog() == []
    seen = tokens.seen()
    assert seen and {(r.user, r.account) for r in seen} == {(None, "")}
    assert f"repository:{PRIVATE}:pull,push" in {s for r in seen for s in r.scopes}


def test_push_after_login_uploads_the_image(
    skiff: Skiff, other: Skiff, busybox: str, tokens: TokenService, token_registry: Registry
):
    address = token_registry.address
    name = f"{address}/{PRIVATE}"
    ref = f"{name}:1"
    skiff.ok("tag", "busybox:latest", ref)
    assert login(skiff, address).code == 0
    tokens.clear()

    lines = skiff.ok("push", ref).splitlines()
    assert lines[0] == f"The push refers to repository [{name}]"
    layers = [PUSH_LINE.fullmatch(line) for line in lines[1:-1]]
    assert all(layers), lines
    # Docker names a layer by its diff ID there
    short = {d[7:19] for d in diff_ids(skiff, "busybox:latest")}
    assert {m[1] for m in layers if m} == short
    assert {m[1] for m in layers if m and m[2] == "Pushed"} == short
    manifest = token_registry.manifest(PRIVATE, "1")
    digest = manifest.headers["docker-content-digest"]
    assert lines[-1] == f"1: digest: {digest} size: {len(manifest.body)}"
    assert manifest.json()["config"]["digest"] == busybox
    assert token_registry.tags(PRIVATE) == ["1"]

    seen = tokens.seen()
    assert seen and {(r.user, r.account, r.status) for r in seen} == {
        (REGISTRY_USER, REGISTRY_USER, 200)
    }
    assert f"repository:{PRIVATE}:pull,push" in {s for r in seen for s in r.scopes}

    # pushed again: the registry has every layer
    again = skiff.ok("push", ref).splitlines()
    assert again[0] == lines[0] and again[-1] == lines[-1]
    statuses = {m[1]: m[2] for m in map(PUSH_LINE.fullmatch, again[1:-1]) if m}
    assert statuses == dict.fromkeys(short, "Layer already exists"), again

    # and it comes back the same image
    assert other.ok("pull", "-q", ref) == f"{ref}\n"
    assert other.inspect(ref)["Id"] == busybox
    assert other.inspect(ref)["RepoDigests"] == [f"{name}@{digest}"]


# --- HTTPS ------------------------------------------------------------------------------------


@pytest.fixture
def tls_image(skiff: Skiff, busybox: str, tls_registry: Registry, tmp_path: Path) -> str:
    """busybox:latest in ``tls_registry`` as library/busybox:1; its reference."""
    push(skiff, "busybox:latest", tls_registry, "library/busybox:1", tmp_path)
    return f"{tls_registry.address}/library/busybox:1"


def test_pull_over_https_from_a_loopback_registry_does_not_verify_without_a_ca(
    other: Skiff, busybox: str, tls_image: str
):
    # a loopback registry is insecure, as Docker's: its certificate is not verified
    assert other.ok("pull", "-q", tls_image) == f"{tls_image}\n"
    assert other.inspect(tls_image)["Id"] == busybox


def test_pull_over_https_is_verified_by_the_ca_in_certs_dir(
    other: Skiff, busybox: str, tls_registry: Registry, tls_image: str, certs_dir: Path, pki: PKI
):
    install_ca(certs_dir, tls_registry, pki.ca)
    assert other.ok("pull", "-q", tls_image) == f"{tls_image}\n"
    assert other.inspect(tls_image)["Id"] == busybox


def test_pull_over_https_with_the_wrong_ca_in_certs_dir_fails(
    other: Skiff, tls_registry: Registry, tls_image: str, certs_dir: Path, pki: PKI
):
    install_ca(certs_dir, tls_registry, pki.other_ca)
    result = other("pull", tls_image, timeout=60)
    # Docker: Error response from daemon: Get "https://ADDRESS/v2/": tls: failed to
    # verify certificate: x509: certificate signed by unknown authority
    error = error_line(result)
    assert "certificate" in error, result
    assert f"https://{tls_registry.address}/v2/" in error, result
    assert_nothing_pulled(other)


def test_login_and_pull_over_https_from_a_token_registry(
    skiff: Skiff,
    other: Skiff,
    busybox: str,
    tokens: TokenService,
    tls_token_registry: Registry,
    pki: PKI,
    certs_dir: Path,
    tmp_path: Path,
):
    registry = tls_token_registry
    push(skiff, "busybox:latest", registry, f"{PRIVATE}:1", tmp_path)
    install_ca(certs_dir, registry, pki.ca)
    tokens.clear()
    ref = f"{registry.address}/{PRIVATE}:1"
    result = login(other, registry.address)
    assert (result.code, result.out) == (0, "Login Succeeded\n"), result
    assert other.ok("pull", "-q", ref) == f"{ref}\n"
    assert other.inspect(ref)["Id"] == busybox
    seen = tokens.seen()
    assert seen and {(r.user, r.account, r.status) for r in seen} == {
        (REGISTRY_USER, REGISTRY_USER, 200)
    }
    assert f"repository:{PRIVATE}:pull" in {s for r in seen for s in r.scopes}


# --- mirrors of docker.io ---------------------------------------------------------------------


def test_pull_from_docker_io_goes_to_the_mirror(
    skiff: Skiff,
    other: Skiff,
    busybox: str,
    mirror: Registry,
    skiff_config: Path,
    certs_dir: Path,
    tmp_path: Path,
):
    digest = push(skiff, "busybox:latest", mirror, "library/busybox:latest", tmp_path)
    write_config(skiff_config, certs_dir, mirrors=[mirror.url])

    lines = other.ok("pull", "busybox").splitlines()
    assert lines[:2] == ["Using default tag: latest", "latest: Pulling from library/busybox"]
    assert lines[-3:] == [
        f"Digest: {digest}",
        "Status: Downloaded newer image for busybox:latest",
        "docker.io/library/busybox:latest",
    ]
    assert other.ok("images", "--format", "{{.Repository}} {{.Tag}}") == "busybox latest\n"
    assert other.inspect("busybox")["Id"] == busybox
    repo_digests = other.ok("image", "inspect", "busybox", "--format", "{{.RepoDigests}}")
    assert "busybox@sha256:" in repo_digests
    assert repo_digests == f"[busybox@{digest}]\n"


def test_mirrors_are_tried_in_order(
    skiff: Skiff,
    other: Skiff,
    busybox: str,
    mirror: Registry,
    skiff_config: Path,
    certs_dir: Path,
    tmp_path: Path,
):
    digest = push(skiff, "busybox:latest", mirror, "library/busybox:1", tmp_path)
    # the first mirror is down: the second one serves
    write_config(skiff_config, certs_dir, mirrors=[f"http://{unused_address()}", mirror.url])
    assert other.ok("pull", "-q", "docker.io/library/busybox:1") == (
        "docker.io/library/busybox:1\n"
    )
    assert other.inspect("busybox:1")["Id"] == busybox
    assert other.inspect("busybox:1")["RepoDigests"] == [f"busybox@{digest}"]


def test_a_token_that_expires_during_a_pull_is_fetched_again(
    other: Skiff,
    busybox: str,
    tokens: TokenService,
    token_registry: Registry,
    token_images: dict[str, str],
):
    """Tokens that work for 2 s; the image config's first GET is answered 429 with
    Retry-After: 3, so the requests after it carry an expired token: the registry answers
    401 and skiff gets a new one."""
    from tests.support.faulty_proxy import FaultyProxy

    tokens.lifetime = 2
    with FaultyProxy(token_registry) as proxy:
        proxy.fail(429, count=1, path=f"/blobs/{busybox}$", retry_after=3)
        ref = f"{proxy.address}/{PUBLIC}:1"
        started = time.monotonic()
        other.ok("pull", "-q", ref)
        assert time.monotonic() - started > 2.5
        refused = [e for e in proxy.requests(r"/blobs/") if e.status == 401]
    assert refused, "no request was refused: the token did not expire"
    seen = [r for r in tokens.seen() if f"repository:{PUBLIC}:pull" in r.scopes]
    assert len(seen) >= 2, seen
    assert other.inspect(ref)["Id"] == busybox


def test_a_cri_pull_with_an_identity_token_uses_the_oauth2_refresh_grant(
    other: Skiff, busybox: str, tokens: TokenService, token_registry: Registry,
    token_images: dict[str, str],
):  # fmt: skip
    """The kubelet's AuthConfig may carry an identity token (Docker's ``identitytoken``):
    skiff cri trades it at the realm with the OAuth2 refresh-token grant (a POST), as
    containerd does, and the private repository is pulled; a wrong token is refused."""
    from skiff.cri.proto import api_pb2 as cri
    from tests.support.cri import running_cri

    ref = f"{token_registry.address}/{PRIVATE}:1"
    with running_cri(other) as server:
        for token, ok in (("not-the-token", False), (IDENTITY_TOKEN, True)):
            request = cri.PullImageRequest(
                image=cri.ImageSpec(image=ref), auth=cri.AuthConfig(identity_token=token)
            )
            if ok:
                assert server.images.PullImage(request, timeout=120).image_ref == busybox
            else:
                error = server.error(server.images.PullImage, request)
                assert "invalid_grant" in error.details(), error
    seen = tokens.seen()
    assert [(r.path, r.status, r.account) for r in seen if r.user is None] == [
        ("/token", 400, ""), ("/token", 200, REGISTRY_USER),
    ]  # fmt: skip
    granted = seen[-1]
    assert granted.query["grant_type"] == ["refresh_token"]
    assert granted.query["client_id"] == ["skiff"]
    assert granted.scopes == [f"repository:{PRIVATE}:pull"]
    assert other.inspect(ref)["Id"] == busybox
