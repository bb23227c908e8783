"""Image references: Docker's grammar and normalisation (distribution/reference v0.6).

    reference := name [":" tag] ["@" digest]
    name      := [domain "/"] path
    domain    := (domain-name | "[" ipv6 "]") [":" port]
    path      := component ("/" component)*      component := [a-z0-9]+ (sep [a-z0-9]+)*
    tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest    := algorithm ":" hex               (sha256, sha384, sha512 checked)

:func:`parse` normalises as the docker CLI does (``ParseNormalizedNamed``): the first
component is a domain only if it is ``localhost``, contains ``.`` or ``:``, or has an
uppercase letter; otherwise the domain is ``docker.io`` and a single-component path gets
``library/``. ``index.docker.io`` becomes ``docker.io``. The path may hold at most 255
characters (the domain does not count). Quirks kept on purpose, as Docker has them:
``Foo/bar`` is registry ``Foo``, repository ``bar``; ``foo_bar.com/x`` has no valid domain
and parses with domain ``""`` and path ``foo_bar.com/x``.
"""

from __future__ import annotations

import re

from skiff.errors import InvalidArgument
from skiff.values import Value

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
PATH_MAX = 255

_DOMAIN_PART = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_PATH = f"{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

# Always fullmatch(): Python's "$" would also match before a trailing newline.
_REFERENCE_RE = re.compile(f"((?:{_DOMAIN}/)?{_PATH})(?::({_TAG}))?(?:@({_DIGEST}))?")
_NAME_RE = re.compile(f"(?:({_DOMAIN})/)?({_PATH})")
_TAG_RE = re.compile(_TAG)
_DIGEST_RE = re.compile(_DIGEST)
_GO_DIGEST_RE = re.compile("[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_HEX_RE = re.compile("[a-f0-9]+")
_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_FULL_ID_RE = re.compile("(?:sha256:)?[a-f0-9]{64}")
_ID_PREFIX_RE = re.compile("(?:sha256:)?[a-f0-9]{1,64}")


class Reference(Value):
    """A parsed image reference. Immutable; built unchecked (use :func:`parse` for input)."""

    FIELDS = ("domain", "path", "tag", "digest")
    __slots__ = FIELDS

    domain: str
    path: str
    tag: str | None
    digest: str | None

    def __init__(
        self, domain: str, path: str, tag: str | None = None, digest: str | None = None
    ) -> None:
        for slot, value in (("domain", domain), ("path", path), ("tag", tag), ("digest", digest)):
            object.__setattr__(self, slot, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Reference is immutable")

    @property
    def name(self) -> str:
        """``docker.io/library/busybox``: domain and path, without tag or digest."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def familiar_name(self) -> str:
        """Docker's FamiliarName: ``busybox``, ``user/repo``, ``localhost:5000/foo``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        short = self.path.removeprefix(OFFICIAL_PREFIX)
        return self.path if "/" in short else short

    @property
    def repository_for_registry(self) -> str:
        """The repository in registry URLs (``/v2/<this>/manifests/...``): the path."""
        return self.path

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self._suffix()

    def familiar(self) -> str:
        """Docker's FamiliarString: ``busybox:latest``, ``user/repo@sha256:...``."""
        return self.familiar_name + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        """The same reference with ``tag`` (a digest is kept, as Docker's WithTag does)."""
        if not _TAG_RE.fullmatch(tag):
            raise InvalidArgument("invalid tag format")
        return Reference(self.domain, self.path, tag, self.digest)

    def with_digest(self, digest: str) -> Reference:
        """The same reference with ``digest`` (a tag is kept, as Docker's WithDigest does).

        Unlike WithDigest, the algorithm and hex length are checked too, as parse() does.
        """
        if not _DIGEST_RE.fullmatch(digest):
            raise InvalidArgument("invalid digest format")
        _check_digest(digest)
        return Reference(self.domain, self.path, self.tag, digest)


def parse(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise ``text`` as the docker CLI does.

    With ``default_tag`` (``pull``, ``run``, ``tag``...) a reference with neither tag nor
    digest gets ``latest``; pass ``default_tag=False`` where no tag is implied
    (``skiff images busybox``). A reference with both tag and digest keeps both.
    """
    if len(text) == 64 and _HEX_RE.fullmatch(text):
        raise InvalidArgument(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_docker_domain(text)
    remote = remainder.partition(":")[0]
    if remote.lower() != remote:
        raise InvalidArgument(
            f"invalid reference format: repository name ({remote}) must be lowercase"
        )
    ref = _parse_strict(f"{domain}/{remainder}")
    if default_tag and ref.tag is None and ref.digest is None:
        return Reference(ref.domain, ref.path, DEFAULT_TAG)
    return ref


def is_full_id(text: str) -> bool:
    """``<64 hex>`` or ``sha256:<64 hex>``: an image ID and never a name (see is_digest_id)."""
    return _FULL_ID_RE.fullmatch(text) is not None


def is_digest_id(text: str) -> bool:
    """Whether Docker would try ``text`` as an image ID or ID prefix.

    That is ``[sha256:]<1 to 64 lowercase hex>``. Docker (moby ``GetImage``) resolves such
    text in this order: a full ID (:func:`is_full_id`) is only an ID; anything else is first
    parsed as a reference and looked up as a tag (``1a2b`` is ``1a2b:latest``), and only if
    no such tag exists is it matched as a prefix of image IDs (any length >= 1; ambiguous
    prefixes are an error). So ``rmi 1a2b`` removes the image tagged ``1a2b:latest`` if
    there is one, else the image whose ID starts with ``1a2b``.
    """
    return _ID_PREFIX_RE.fullmatch(text) is not None


def _split_docker_domain(text: str) -> tuple[str, str]:
    first, slash, rest = text.partition("/")
    if not slash:
        return DEFAULT_DOMAIN, OFFICIAL_PREFIX + text
    if first == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, rest
    elif first == "localhost" or "." in first or ":" in first or first.lower() != first:
        domain, remote = first, rest
    else:
        domain, remote = DEFAULT_DOMAIN, text
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_PREFIX + remote
    return domain, remote


def _parse_strict(text: str) -> Reference:
    """Docker's reference.Parse: the grammar, no normalisation."""
    match = _REFERENCE_RE.fullmatch(text)
    if match is None:
        lower = text.lower()
        if lower != text and _REFERENCE_RE.fullmatch(lower):
            raise InvalidArgument("repository name must be lowercase")
        raise InvalidArgument("invalid reference format")
    name, tag, digest = match.groups()
    name_match = _NAME_RE.fullmatch(name)
    assert name_match is not None  # name matched the same grammar
    domain, path = name_match.group(1) or "", name_match.group(2)
    if len(path) > PATH_MAX:
        raise InvalidArgument(f"repository name must not be more than {PATH_MAX} characters")
    if digest is not None:
        _check_digest(digest)
    return Reference(domain, path, tag, digest)


def _check_digest(digest: str) -> None:
    """go-digest's Digest.Validate, with sha256, sha384 and sha512 available."""
    algorithm, _, encoded = digest.partition(":")
    if not algorithm or not encoded:
        raise InvalidArgument("invalid checksum digest format")
    length = _HEX_LENGTHS.get(algorithm)
    if length is None:
        if not _GO_DIGEST_RE.fullmatch(digest):
            raise InvalidArgument("invalid checksum digest format")
        raise InvalidArgument("unsupported digest algorithm")
    if len(encoded) != length:
        raise InvalidArgument("invalid checksum digest length")
    if not _HEX_RE.fullmatch(encoded):
        raise InvalidArgument("invalid checksum digest format")
