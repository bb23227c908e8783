"""skiff.images.reference against Docker.

Every expectation in VALID and INVALID was recorded from the docker CLI 28.2.2
(distribution/reference v0.6): ``docker pull REF`` printed the full normalised reference
or the error, and ``docker create REF`` printed the familiar one ("Unable to find image
'...' locally"), both against a stand-in daemon. Inputs are mostly distribution's own
test cases.
"""

from __future__ import annotations

import pytest

from skiff.errors import InvalidArgument
from skiff.images.reference import Reference, is_digest_id, is_full_id, parse

H64 = "f" * 64
D256 = "sha256:" + H64
D384 = "sha384:" + "f" * 96
D512 = "sha512:" + "f" * 128
LOWER = "invalid reference format: repository name ({}) must be lowercase"
FORMAT = "invalid reference format"
TOO_LONG = "repository name must not be more than 255 characters"

# input, domain, path, str(parse(input)), parse(input).familiar()
VALID: list[tuple[str, str, str, str, str]] = [
    (
        "busybox",
        "docker.io",
        "library/busybox",
        "docker.io/library/busybox:latest",
        "busybox:latest",
    ),
    (
        "busybox:1.36",
        "docker.io",
        "library/busybox",
        "docker.io/library/busybox:1.36",
        "busybox:1.36",
    ),
    (
        "library/busybox",
        "docker.io",
        "library/busybox",
        "docker.io/library/busybox:latest",
        "busybox:latest",
    ),
    (
        "docker.io/busybox",
        "docker.io",
        "library/busybox",
        "docker.io/library/busybox:latest",
        "busybox:latest",
    ),
    (
        "index.docker.io/busybox",
        "docker.io",
        "library/busybox",
        "docker.io/library/busybox:latest",
        "busybox:latest",
    ),
    (
        "index.docker.io/user/repo",
        "docker.io",
        "user/repo",
        "docker.io/user/repo:latest",
        "user/repo:latest",
    ),
    (
        "docker.io/user/repo:tag",
        "docker.io",
        "user/repo",
        "docker.io/user/repo:tag",
        "user/repo:tag",
    ),
    (
        "library/foo/bar",
        "docker.io",
        "library/foo/bar",
        "docker.io/library/foo/bar:latest",
        "library/foo/bar:latest",
    ),
    (
        "store/foo/bar",
        "docker.io",
        "store/foo/bar",
        "docker.io/store/foo/bar:latest",
        "store/foo/bar:latest",
    ),
    ("localhost/foo", "localhost", "foo", "localhost/foo:latest", "localhost/foo:latest"),
    (
        "localhost",
        "docker.io",
        "library/localhost",
        "docker.io/library/localhost:latest",
        "localhost:latest",
    ),
    (
        "localhost:5000",
        "docker.io",
        "library/localhost",
        "docker.io/library/localhost:5000",
        "localhost:5000",
    ),
    (
        "localhost:5000/foo",
        "localhost:5000",
        "foo",
        "localhost:5000/foo:latest",
        "localhost:5000/foo:latest",
    ),
    (
        "localhost:5000/foo/bar:tag",
        "localhost:5000",
        "foo/bar",
        "localhost:5000/foo/bar:tag",
        "localhost:5000/foo/bar:tag",
    ),
    (
        "localhost:5000/foo/bar@" + D256,
        "localhost:5000",
        "foo/bar",
        "localhost:5000/foo/bar@" + D256,
        "localhost:5000/foo/bar@" + D256,
    ),
    (
        "name:tag@" + D256,
        "docker.io",
        "library/name",
        "docker.io/library/name:tag@" + D256,
        "name:tag@" + D256,
    ),
    ("name@" + D256, "docker.io", "library/name", "docker.io/library/name@" + D256, "name@" + D256),
    (
        "registry.example.com/a/b@" + D256,
        "registry.example.com",
        "a/b",
        "registry.example.com/a/b@" + D256,
        "registry.example.com/a/b@" + D256,
    ),
    (
        "registry.example.com/a/b@" + D512,
        "registry.example.com",
        "a/b",
        "registry.example.com/a/b@" + D512,
        "registry.example.com/a/b@" + D512,
    ),
    (
        "registry.example.com/a/b@" + D384,
        "registry.example.com",
        "a/b",
        "registry.example.com/a/b@" + D384,
        "registry.example.com/a/b@" + D384,
    ),
    (
        "test_com",
        "docker.io",
        "library/test_com",
        "docker.io/library/test_com:latest",
        "test_com:latest",
    ),
    (
        "test_com/foo",
        "docker.io",
        "test_com/foo",
        "docker.io/test_com/foo:latest",
        "test_com/foo:latest",
    ),
    (
        "test.com:tag",
        "docker.io",
        "library/test.com",
        "docker.io/library/test.com:tag",
        "test.com:tag",
    ),
    (
        "test.com:5000",
        "docker.io",
        "library/test.com",
        "docker.io/library/test.com:5000",
        "test.com:5000",
    ),
    ("test.com/repo:tag", "test.com", "repo", "test.com/repo:tag", "test.com/repo:tag"),
    ("test:5000/repo", "test:5000", "repo", "test:5000/repo:latest", "test:5000/repo:latest"),
    (
        "test:5000/repo:tag@" + D256,
        "test:5000",
        "repo",
        "test:5000/repo:tag@" + D256,
        "test:5000/repo:tag@" + D256,
    ),
    (
        "lowercase:Uppercase",
        "docker.io",
        "library/lowercase",
        "docker.io/library/lowercase:Uppercase",
        "lowercase:Uppercase",
    ),
    # The first component has an uppercase letter, so Docker takes it for a domain.
    (
        "Uppercase/lowercase:tag",
        "Uppercase",
        "lowercase",
        "Uppercase/lowercase:tag",
        "Uppercase/lowercase:tag",
    ),
    ("Foo/bar", "Foo", "bar", "Foo/bar:latest", "Foo/bar:latest"),
    ("DOCKER/docker", "DOCKER", "docker", "DOCKER/docker:latest", "DOCKER/docker:latest"),
    ("Docker.io/foo", "Docker.io", "foo", "Docker.io/foo:latest", "Docker.io/foo:latest"),
    (
        "UPPER.example.com/foo",
        "UPPER.example.com",
        "foo",
        "UPPER.example.com/foo:latest",
        "UPPER.example.com/foo:latest",
    ),
    (
        "sub-dom1.foo.com/bar/baz/quux",
        "sub-dom1.foo.com",
        "bar/baz/quux",
        "sub-dom1.foo.com/bar/baz/quux:latest",
        "sub-dom1.foo.com/bar/baz/quux:latest",
    ),
    (
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        "sub-dom1.foo.com",
        "bar/baz/quux",
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
    ),
    (
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "b.gcr.io",
        "test.example.com/my-app",
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "b.gcr.io/test.example.com/my-app:test.example.com",
    ),
    (
        "xn--n3h.com/myimage:xn--n3h.com",
        "xn--n3h.com",
        "myimage",
        "xn--n3h.com/myimage:xn--n3h.com",
        "xn--n3h.com/myimage:xn--n3h.com",
    ),
    (
        "xn--7o8h.com/myimage:xn--7o8h.com@" + D512,
        "xn--7o8h.com",
        "myimage",
        "xn--7o8h.com/myimage:xn--7o8h.com@" + D512,
        "xn--7o8h.com/myimage:xn--7o8h.com@" + D512,
    ),
    (
        "ex--ample.com/foo",
        "ex--ample.com",
        "foo",
        "ex--ample.com/foo:latest",
        "ex--ample.com/foo:latest",
    ),
    (
        "foo_bar.com:8080",
        "docker.io",
        "library/foo_bar.com",
        "docker.io/library/foo_bar.com:8080",
        "foo_bar.com:8080",
    ),
    (
        "foo/foo_bar.com:8080",
        "docker.io",
        "foo/foo_bar.com",
        "docker.io/foo/foo_bar.com:8080",
        "foo/foo_bar.com:8080",
    ),
    # "foo_bar.com" looks like a domain but is not one: Docker keeps it all as the path.
    ("foo_bar.com/x", "", "foo_bar.com/x", "foo_bar.com/x:latest", "foo_bar.com/x:latest"),
    (
        "a.b-c_d__e---f/g",
        "",
        "a.b-c_d__e---f/g",
        "a.b-c_d__e---f/g:latest",
        "a.b-c_d__e---f/g:latest",
    ),
    (
        "192.168.1.1",
        "docker.io",
        "library/192.168.1.1",
        "docker.io/library/192.168.1.1:latest",
        "192.168.1.1:latest",
    ),
    (
        "192.168.1.1:5000",
        "docker.io",
        "library/192.168.1.1",
        "docker.io/library/192.168.1.1:5000",
        "192.168.1.1:5000",
    ),
    (
        "192.168.1.1/repo",
        "192.168.1.1",
        "repo",
        "192.168.1.1/repo:latest",
        "192.168.1.1/repo:latest",
    ),
    (
        "192.168.1.1:5000/repo:5050",
        "192.168.1.1:5000",
        "repo",
        "192.168.1.1:5000/repo:5050",
        "192.168.1.1:5000/repo:5050",
    ),
    (
        "[2001:db8::1]/repo",
        "[2001:db8::1]",
        "repo",
        "[2001:db8::1]/repo:latest",
        "[2001:db8::1]/repo:latest",
    ),
    (
        "[2001:db8:1:2:3:4:5:6]/repo:tag",
        "[2001:db8:1:2:3:4:5:6]",
        "repo",
        "[2001:db8:1:2:3:4:5:6]/repo:tag",
        "[2001:db8:1:2:3:4:5:6]/repo:tag",
    ),
    (
        "[2001:db8::1]:5000/repo:tag@" + D256,
        "[2001:db8::1]:5000",
        "repo",
        "[2001:db8::1]:5000/repo:tag@" + D256,
        "[2001:db8::1]:5000/repo:tag@" + D256,
    ),
    ("[::1]:5000/repo", "[::1]:5000", "repo", "[::1]:5000/repo:latest", "[::1]:5000/repo:latest"),
    (
        "docker---rules/docker",
        "docker.io",
        "docker---rules/docker",
        "docker.io/docker---rules/docker:latest",
        "docker---rules/docker:latest",
    ),
    (
        "dock__er/docker",
        "docker.io",
        "dock__er/docker",
        "docker.io/dock__er/docker:latest",
        "dock__er/docker:latest",
    ),
    ("jess/t", "docker.io", "jess/t", "docker.io/jess/t:latest", "jess/t:latest"),
    (
        "f" * 63,
        "docker.io",
        "library/" + "f" * 63,
        f"docker.io/library/{'f' * 63}:latest",
        f"{'f' * 63}:latest",
    ),
    (
        "docker.io/" + H64,
        "docker.io",
        "library/" + H64,
        f"docker.io/library/{H64}:latest",
        f"{H64}:latest",
    ),
    ("sha256:abc", "docker.io", "library/sha256", "docker.io/library/sha256:abc", "sha256:abc"),
    (
        "busybox:_tag",
        "docker.io",
        "library/busybox",
        "docker.io/library/busybox:_tag",
        "busybox:_tag",
    ),
    (
        "busybox:" + "a" * 128,
        "docker.io",
        "library/busybox",
        f"docker.io/library/busybox:{'a' * 128}",
        f"busybox:{'a' * 128}",
    ),
    # The 255-character limit is on the path; the domain does not count.
    (
        "a/" * 127 + "a:tag-puts-this-over-max",
        "docker.io",
        "a/" * 127 + "a",
        f"docker.io/{'a/' * 127}a:tag-puts-this-over-max",
        f"{'a/' * 127}a:tag-puts-this-over-max",
    ),
    (
        "example.com/" + "a/" * 127 + "a",
        "example.com",
        "a/" * 127 + "a",
        f"example.com/{'a/' * 127}a:latest",
        f"example.com/{'a/' * 127}a:latest",
    ),
]

INVALID: list[tuple[str, str]] = [
    ("", FORMAT),
    (":justtag", FORMAT),
    ("@" + D256, FORMAT),
    ("Busybox", LOWER.format("library/Busybox")),
    ("Uppercase:tag", LOWER.format("library/Uppercase")),
    ("test:5000/Uppercase/lowercase:tag", LOWER.format("Uppercase/lowercase")),
    ("docker/Docker", LOWER.format("docker/Docker")),
    ("docker.io/docker/Docker", LOWER.format("docker/Docker")),
    ("localhost:5000/Foo", LOWER.format("Foo")),
    ("Foo@" + D256, LOWER.format("library/Foo@sha256")),
    ("repo@SHA256:" + H64, LOWER.format("library/repo@SHA256")),
    ("aa/asdf$$^/aa", FORMAT),
    ("foo_bar.com:8080/x", FORMAT),
    ("[2001:db8::1]", FORMAT),
    ("[2001:db8::1]:5000", FORMAT),
    ("[2001:db8::1]:tag", FORMAT),
    ("[fe80::1%eth0]:5000/repo", FORMAT),
    ("[fe80::1%@invalidzone]:5000/repo", FORMAT),
    ("fc00::1:5000/debian", FORMAT),
    ("https://github.com/docker/docker", FORMAT),
    ("-docker", FORMAT),
    ("-docker/docker", FORMAT),
    ("docker-/docker", FORMAT),
    ("docker///docker", FORMAT),
    ("____/____", FORMAT),
    ("_docker/_docker", FORMAT),
    ("dock..er/docker", FORMAT),
    ("dock_.er/docker", FORMAT),
    ("dock-.er/docker", FORMAT),
    ("docker/", FORMAT),
    ("a___b", FORMAT),
    ("a-", FORMAT),
    ("-example.com/foo", FORMAT),
    ("example-.com/foo", FORMAT),
    ("example.com:/foo", FORMAT),
    ("example.com:abc/foo", FORMAT),
    ("busybox:" + "a" * 129, FORMAT),
    ("busybox:-tag", FORMAT),
    ("busybox:.tag", FORMAT),
    ("busybox:tag:tag", FORMAT),
    ("busybox@" + D256 + "@" + D256, FORMAT),
    ("busybox\n", FORMAT),
    (" busybox", FORMAT),
    ("busybøx", FORMAT),
    ("busybox:tåg", FORMAT),
    ("repo@sha256:" + "f" * 10, FORMAT),
    ("repo@sha256:" + "f" * 34, "invalid checksum digest length"),
    ("repo@sha512:" + H64, "invalid checksum digest length"),
    ("foo@sha256:" + H64 + "0", "invalid checksum digest length"),
    ("repo@sha256:" + "F" * 64, "invalid checksum digest format"),
    ("validname@invaliddigest:" + H64, "unsupported digest algorithm"),
    (H64, f"invalid repository name ({H64}), cannot specify 64-byte hexadecimal strings"),
    ("a/" * 128 + "a:tag", TOO_LONG),
    ("example.com/" + "a/" * 128 + "a", TOO_LONG),
]


@pytest.mark.parametrize(("text", "domain", "path", "full", "familiar"), VALID)
def test_valid_references_normalise_as_docker_does(
    text: str, domain: str, path: str, full: str, familiar: str
) -> None:
    ref = parse(text)
    assert (ref.domain, ref.path, str(ref), ref.familiar()) == (domain, path, full, familiar)
    assert ref.name == (f"{domain}/{path}" if domain else path)
    assert ref.repository_for_registry == path
    assert parse(full) == ref
    assert parse(familiar) == ref


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid_references_fail_with_dockers_message(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse(text)
    assert str(caught.value) == message
    with pytest.raises(InvalidArgument):
        parse(text, default_tag=False)


def test_the_tables_are_large_enough() -> None:
    assert len(VALID) + len(INVALID) >= 40


def test_fields_names_and_familiar_forms() -> None:
    ref = parse("busybox")
    assert (ref.tag, ref.digest) == ("latest", None)
    assert ref.name == "docker.io/library/busybox"
    assert ref.familiar_name == "busybox"
    assert ref.repository_for_registry == "library/busybox"
    user = parse("user/repo@" + D256)
    assert (user.tag, user.digest, user.familiar_name) == (None, D256, "user/repo")
    both = parse("name:tag@" + D256)
    assert (both.tag, both.digest) == ("tag", D256)
    assert parse("localhost:5000/foo").familiar_name == "localhost:5000/foo"
    assert parse("library/foo/bar").familiar_name == "library/foo/bar"
    assert parse("foo_bar.com/x").name == "foo_bar.com/x"


def test_without_default_tag_nothing_is_implied() -> None:
    ref = parse("busybox", default_tag=False)
    assert (ref.tag, ref.digest) == (None, None)
    assert str(ref) == "docker.io/library/busybox"
    assert ref.familiar() == "busybox"
    assert parse("busybox:1", default_tag=False).tag == "1"
    assert parse("busybox@" + D256, default_tag=False).tag is None


def test_with_tag_and_with_digest_keep_the_other_part() -> None:
    ref = parse("busybox")
    tagged = ref.with_tag("1.36")
    assert str(tagged) == "docker.io/library/busybox:1.36"
    both = tagged.with_digest(D256)
    assert str(both) == f"docker.io/library/busybox:1.36@{D256}"
    assert both.with_tag("x").familiar() == f"busybox:x@{D256}"
    assert str(parse("busybox", default_tag=False).with_digest(D512)) == (
        f"docker.io/library/busybox@{D512}"
    )
    assert str(ref) == "docker.io/library/busybox:latest"  # unchanged


@pytest.mark.parametrize("tag", ["", "-x", ".x", "a" * 129, "t@g", "t:g", "tåg"])
def test_with_tag_rejects_bad_tags(tag: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^invalid tag format$"):
        parse("busybox").with_tag(tag)


@pytest.mark.parametrize(
    ("digest", "message"),
    [
        ("foo", "invalid digest format"),
        ("sha256:abc", "invalid digest format"),
        ("sha256:" + "f" * 40, "invalid checksum digest length"),
        ("sha256:" + "F" * 64, "invalid checksum digest format"),
        ("md5:" + "f" * 32, "unsupported digest algorithm"),
    ],
)
def test_with_digest_rejects_bad_digests(digest: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse("busybox").with_digest(digest)
    assert str(caught.value) == message


def test_value_semantics() -> None:
    a = parse("busybox")
    b = Reference("docker.io", "library/busybox", "latest")
    assert a == b
    assert hash(a) == hash(b)
    assert {a, b, parse("busybox:1")} == {a, parse("busybox:1")}
    assert a != parse("busybox", default_tag=False)
    assert a != "docker.io/library/busybox:latest"
    assert repr(a) == (
        "Reference(domain='docker.io', path='library/busybox', tag='latest', digest=None)"
    )
    assert eval(repr(a)) == a
    with pytest.raises(AttributeError):
        a.tag = "x"
    assert not hasattr(a, "__dict__")


@pytest.mark.parametrize(
    ("text", "digest_id", "full_id"),
    [
        (H64, True, True),
        ("sha256:" + H64, True, True),
        ("1a2b", True, False),
        ("f", True, False),
        ("sha256:1a2b", True, False),
        ("f" * 63, True, False),
        ("f" * 65, False, False),
        ("", False, False),
        ("sha256:", False, False),
        ("1A2B", False, False),
        ("1a2g", False, False),
        ("sha512:" + H64, False, False),
        ("busybox", False, False),
    ],
)
def test_image_id_forms(text: str, digest_id: bool, full_id: bool) -> None:
    assert (is_digest_id(text), is_full_id(text)) == (digest_id, full_id)


def test_short_ids_are_also_valid_names() -> None:
    # Docker tries a short hex as the tag "<hex>:latest" before it tries it as an ID prefix,
    # so both readings must be available; a full 64-hex ID is never a name.
    assert is_digest_id("1a2b") and str(parse("1a2b")) == "docker.io/library/1a2b:latest"
    with pytest.raises(InvalidArgument):
        parse(H64)
