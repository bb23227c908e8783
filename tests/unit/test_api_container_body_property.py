"""Property tests of skiff.api.container_body: whatever a client sends as a create body,
the answer is ContainerOptions or an InvalidArgument (a 400), never another exception (a
500); and what is accepted can be created (``ContainerOptions.validate``, Engine.create's
first step, also fails only with InvalidArgument) and stored (``to_dict``/``from_dict``).

Bodies are arbitrary JSON values, and bodies shaped by Docker's own structs: every field
the decoder knows, each given a value of its type (drawn from values that matter to
Docker: modes, paths, ports, policies...) or any JSON value.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skiff.api import container_body as cb
from skiff.engine.options import ContainerOptions, InvalidFlagValue
from skiff.errors import InvalidArgument
from tests.unit.test_api_container_body import BASE, CLI_BODIES, body

# Bodies of Docker's shape take a while to draw: fewer of them than of plain JSON values.
# (Runs of several thousand examples each found nothing more.)
SETTINGS = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(SETTINGS, max_examples=120)
MANY = settings(SETTINGS, max_examples=500)

JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)

# Strings that mean something somewhere in a create body.
WORDS = st.sampled_from(
    [
        "",
        "busybox",
        "/",
        "/data",
        "/tmp",
        "data",
        "./data",
        "default",
        "bridge",
        "host",
        "none",
        "private",
        "shareable",
        "container:",
        "container:db",
        "container",
        "n1",
        "80",
        "80/tcp",
        "53/udp",
        "80/icmp",
        "8080",
        "8000-8010",
        "0",
        "65536",
        "1.2.3.4",
        "0.0.0.0",
        "::1",
        "host-gateway",
        "db:10.0.0.2",
        "db=[::1]",
        "rw",
        "ro",
        "z",
        "nocopy",
        "rprivate",
        "rslave",
        "bind",
        "volume",
        "tmpfs",
        "npipe",
        "/a:/b:ro",
        "vol:/v",
        "vol:/v:nocopy",
        "no",
        "always",
        "on-failure",
        "unless-stopped",
        "json-file",
        "local",
        "max-size",
        "10m",
        "max-file",
        "compress",
        "true",
        "SIGKILL",
        "KILL",
        "9",
        "RTMIN+3",
        "NET_ADMIN",
        "CAP_SYS_ADMIN",
        "ALL",
        "c 1:3 rwm",
        "a *:* m",
        "nofile",
        "as",
        "net.ipv4.ip_forward",
        "kernel.shmmax",
        "seccomp=unconfined",
        "seccomp={}",
        "seccomp=[",
        "no-new-privileges",
        "no-new-privileges=false",
        "label=disable",
        "apparmor=unconfined",
        "systempaths=unconfined",
        "CMD-SHELL",
        "CMD",
        "NONE",
        "02:42:ac:11:00:04",
        "example.com",
        "0-1",
        "0,1",
        "1000:1000",
        "A=1",
        "=x",
        "a=b",
        "hyperv",
        "/with\0nul",
        "lone \ud800 surrogate",
    ]
) | st.text(max_size=12)

NUMBERS = st.sampled_from(
    [0, 1, -1, 2, 10, 100, 1000, 1_000_000, 6 << 20, 64 << 20, 10**9, 2**31, 2**63 - 1]
)


@st.composite
def typed(draw: st.DrawFn, t: Any, chaos: int = 5) -> Any:
    """A value for a Go type of the decoder's schema: of that type, or one time in
    ``chaos`` any JSON value."""
    if draw(st.integers(1, chaos), label="any JSON") == 1:
        return draw(JSON)
    if isinstance(t, cb._String):
        return draw(WORDS)
    if isinstance(t, cb._Bool):
        return draw(st.booleans())
    if isinstance(t, cb._Int):
        return draw(NUMBERS | st.integers(t.low, t.high))
    if isinstance(t, cb._StrSlice):
        return draw(st.none() | WORDS | st.lists(WORDS, max_size=3))
    if isinstance(t, cb._Slice | cb._Array):
        return draw(st.none() | st.lists(typed(t.elem, chaos), max_size=3))
    if isinstance(t, cb._Map):
        return draw(st.none() | st.dictionaries(WORDS, typed(t.elem, chaos), max_size=3))
    if isinstance(t, cb._Pointer):
        return draw(st.none() | typed(t.elem, chaos))
    assert isinstance(t, cb._Struct), t
    return draw(struct(t, chaos))


def struct(
    t: Any, chaos: int = 5, **required: st.SearchStrategy[Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """Objects of a struct's fields, each maybe there."""
    optional = {f.json: typed(f.go_type, chaos) for f in t.fields if f.json not in required}
    return st.fixed_dictionaries(required, optional=optional)


# Bodies of Docker's shape: some with many values of the wrong type (the decoder's
# errors), some with few (the daemon's checks and the conversion to options).
BODIES = struct(cb.CREATE_REQUEST, 5, Image=st.just("busybox")) | struct(
    cb.CREATE_REQUEST, 40, Image=st.just("busybox")
)
VERSIONS = st.sampled_from([(1, 24), (1, 39), (1, 41), (1, 42), (1, 43), (1, 44), (1, 45)])


def read(request_body: Any, version: tuple[int, int] = (1, 45)) -> cb.CreateRequest | None:
    """The body read, or None where it is refused (as a 400, with the daemon's words, not
    a CLI flag's); any other exception fails the test."""
    try:
        request = cb.parse_create_body(request_body, "", version)
    except InvalidArgument as e:
        assert not isinstance(e, InvalidFlagValue), e
        assert str(e)
        return None
    assert isinstance(request.options, ContainerOptions)
    assert all(isinstance(w, str) for w in request.warnings)
    text = json.dumps(request.options.to_dict(), ensure_ascii=False)
    assert "\\u0000" not in text  # no NUL in any option
    text.encode("utf-8")  # no lone surrogate either: every string can be stored or used
    return request


def creatable(options: ContainerOptions) -> None:
    """What Engine.create does with the options before touching anything: validate them
    (only InvalidArgument may come of it) and store them (JSON, read back equal)."""
    stored = json.loads(json.dumps(options.to_dict()))
    assert ContainerOptions.from_dict(stored) == options
    try:
        options.validate(ncpu=4)
    except InvalidArgument:
        pass


@MANY
@given(JSON, VERSIONS)
def test_any_json_value_is_options_or_a_400(request_body: Any, version: tuple[int, int]) -> None:
    request = read(request_body, version)
    if request is not None:
        creatable(request.options)


@FEW
@given(BODIES, VERSIONS)
def test_any_body_of_dockers_shape_is_options_or_a_400(
    request_body: dict[str, Any], version: tuple[int, int]
) -> None:
    request = read(request_body, version)
    if request is not None:
        creatable(request.options)


@FEW
@given(typed(cb.HOST_CONFIG, 40), typed(cb.NETWORKING_CONFIG, 40))
def test_any_host_config_on_the_docker_cli_body(host_config: Any, networking: Any) -> None:
    request = read({**BASE, "HostConfig": host_config, "NetworkingConfig": networking})
    if request is not None:
        creatable(request.options)


def _recase(data: st.DataObject, value: Any) -> Any:
    """``value`` with the keys of its structs (not of its maps) in random letter case."""
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        # maps of Docker's structs: their keys are data, not field names
        keep = key in ("Labels", "Annotations", "Sysctls", "Tmpfs", "Config", "Options")
        keep = keep or key in ("ExposedPorts", "Volumes", "PortBindings", "EndpointsConfig")
        flips = data.draw(st.lists(st.booleans(), min_size=len(key), max_size=len(key)))
        new_key = "".join(c.swapcase() if flip else c for c, flip in zip(key, flips, strict=True))
        out[new_key] = item if keep else _recase(data, item)
    return out


@settings(SETTINGS, max_examples=25)
@given(st.data(), st.sampled_from(CLI_BODIES))
def test_field_names_in_any_case_read_the_same(
    data: st.DataObject, case: tuple[str, dict[str, Any]]
) -> None:
    """Go matches a struct's field names case-insensitively: the docker CLI's bodies with
    their field names' letters flipped at random read as the same options."""
    original = body(case[1])
    assert cb.options_from_body(_recase(data, original)) == cb.options_from_body(original)
