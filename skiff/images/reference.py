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

from skiff.errors import InvalidArgument
from skiff.values import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
PATH_MAX = 255

_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ") | _LOWER_ALNUM
_HEX = frozenset("0123456789abcdef")
_ANY_HEX = _HEX | frozenset("ABCDEF")
_DIGITS = frozenset("0123456789")
_TAG_CHARS = _ALNUM | frozenset("_.-")


# The grammar, checked by hand rather than with regular expressions: ``re`` (and the enum
# and functools it pulls in) would cost a few ms of every ``skiff run``.


def _separated(text: str, word: frozenset[str], separators: Callable[[str], bool]) -> bool:
    """``word+ (separator word+)*`` where ``separators`` accepts each run between words."""
    if not text or text[0] not in word or text[-1] not in word:
        return False
    run = ""
    for c in text:
        if c in word:
            if run and not separators(run):
                return False
            run = ""
        else:
            run += c
    return True


def _component_separator(run: str) -> bool:
    return run in (".", "_", "__") or run == "-" * len(run)


def _is_path(text: str) -> bool:
    """``component ("/" component)*``, component ``[a-z0-9]+ ((.|_|__|-+) [a-z0-9]+)*``"""
    return all(
        _separated(component, _LOWER_ALNUM, _component_separator) for component in text.split("/")
    )


def _is_domain(text: str) -> bool:
    """``(domain-name | "[" ipv6 "]") [":" port]``"""
    if text.startswith("["):
        host, bracket, port = text[1:].partition("]")
        if not bracket or not host or not all(c in _ANY_HEX or c == ":" for c in host):
            return False
    else:
        host, colon, number = text.partition(":")
        port = ":" + number if colon else ""
        labels = host.split(".")
        if not all(_separated(label, _ALNUM, lambda run: set(run) == {"-"}) for label in labels):
            return False
    return not port or (port[0] == ":" and len(port) > 1 and all(c in _DIGITS for c in port[1:]))


def _is_tag(text: str) -> bool:
    """``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``"""
    return 0 < len(text) <= 128 and text[0] not in ".-" and all(c in _TAG_CHARS for c in text)


def _is_digest(text: str) -> bool:
    """``algorithm ":" [0-9a-fA-F]{32,}``; algorithm ``[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z]
    [A-Za-z0-9]*)*``"""
    algorithm, colon, encoded = text.partition(":")
    return (
        bool(colon)
        and len(encoded) >= 32
        and all(c in _ANY_HEX for c in encoded)
        and all(
            part[:1].isascii() and part[:1].isalpha() and all(c in _ALNUM for c in part)
            for part in _split_any(algorithm, "-_+.")
        )
    )


def _split_any(text: str, separators: str) -> list[str]:
    for separator in separators[1:]:
        text = text.replace(separator, separators[0])
    return text.split(separators[0])


def _is_go_digest(text: str) -> bool:
    """go-digest's ``[a-z0-9]+([.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+``"""
    algorithm, colon, encoded = text.partition(":")
    return (
        bool(colon)
        and bool(encoded)
        and all(c in _ALNUM or c in "=_-" for c in encoded)
        and all(
            part and all(c in _LOWER_ALNUM for c in part) for part in _split_any(algorithm, ".+_-")
        )
    )


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in _HEX for c in text)


def _split_name(name: str) -> tuple[str, str] | None:
    """``[domain "/"] path`` as (domain or "", path); None if it is not one. A first part
    that can be a domain is one, as the regular expression's greedy group takes it."""
    first, slash, rest = name.partition("/")
    if slash and _is_domain(first) and _is_path(rest):
        return first, rest
    return ("", name) if _is_path(name) else None


def _split_reference(text: str) -> tuple[str, str, str | None, str | None] | None:
    """``name [":" tag] ["@" digest]`` as (domain, path, tag, digest); None if not one.

    A tag holds neither ``:`` nor ``/``, and a name has a ``:`` only in its domain, before
    a ``/``: so the tag is what follows the last ``:`` when no ``/`` follows it."""
    name, at, digest = text.partition("@")
    if at and not _is_digest(digest):
        return None
    before, colon, after = name.rpartition(":")
    tag = None
    if colon and "/" not in after:
        if not _is_tag(after):
            return None
        name, tag = before, after
    split = _split_name(name)
    if split is None:
        return None
    return split[0], split[1], tag, digest if at else None


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
        if not _is_tag(tag):
            raise InvalidArgument("invalid tag format")
        return Reference(self.domain, self.path, tag, self.digest)

    def with_digest(self, digest: str) -> Reference:
        """The same reference with ``digest`` (a tag is kept, as Docker's WithDigest does).

        Unlike WithDigest, the algorithm and hex length are checked too, as parse() does.
        """
        if not _is_digest(digest):
            raise InvalidArgument("invalid digest format")
        _check_digest(digest)
        return Reference(self.domain, self.path, self.tag, digest)


def parse(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise ``text`` as the docker CLI does.

    With ``default_tag`` (``pull``, ``run``, ``tag``...) a reference with neither tag nor
    digest gets ``latest``; pass ``default_tag=False`` where no tag is implied
    (``skiff images busybox``). A reference with both tag and digest keeps both.
    """
    if len(text) == 64 and _is_hex(text):
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
    hexa = text.removeprefix("sha256:")
    return len(hexa) == 64 and _is_hex(hexa)


def is_digest_id(text: str) -> bool:
    """Whether Docker would try ``text`` as an image ID or ID prefix.

    That is ``[sha256:]<1 to 64 lowercase hex>``. Docker (moby ``GetImage``) resolves such
    text in this order: a full ID (:func:`is_full_id`) is only an ID; anything else is first
    parsed as a reference and looked up as a tag (``1a2b`` is ``1a2b:latest``), and only if
    no such tag exists is it matched as a prefix of image IDs (any length >= 1; ambiguous
    prefixes are an error). So ``rmi 1a2b`` removes the image tagged ``1a2b:latest`` if
    there is one, else the image whose ID starts with ``1a2b``.
    """
    hexa = text.removeprefix("sha256:")
    return len(hexa) <= 64 and _is_hex(hexa)


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
    parts = _split_reference(text)
    if parts is None:
        lower = text.lower()
        if lower != text and _split_reference(lower) is not None:
            raise InvalidArgument("repository name must be lowercase")
        raise InvalidArgument("invalid reference format")
    domain, path, tag, digest = parts
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
        if not _is_go_digest(digest):
            raise InvalidArgument("invalid checksum digest format")
        raise InvalidArgument("unsupported digest algorithm")
    if len(encoded) != length:
        raise InvalidArgument("invalid checksum digest length")
    if not _is_hex(encoded):
        raise InvalidArgument("invalid checksum digest format")
