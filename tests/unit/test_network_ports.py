"""Published and exposed ports: ``-p`` and ``--expose`` as the docker CLI parses them, the
port maps of Docker's API, and the network flags of ``run``/``create``.

Every expected message below is what the docker CLI 28.2.2 on this machine printed for the
same value (``DOCKER_HOST=unix:///nonexistent.sock docker run -p ... busybox``: it parses
its flags before it reaches for a daemon), without its ``docker: `` prefix.
"""

from __future__ import annotations

import pytest

from skiff.cli.main import Parser, UsageError
from skiff.cli.run_flags import add_flags, to_options
from skiff.engine.options import ContainerOptions
from skiff.errors import InvalidArgument
from skiff.network import ports
from skiff.network.ports import PortBinding

# --- -p ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("80", [PortBinding(80)]),
        ("8080:80", [PortBinding(80, "tcp", "", 8080, 8080)]),
        ("80/udp", [PortBinding(80, "udp")]),
        ("80/SCTP", [PortBinding(80, "sctp")]),
        ("80/", [PortBinding(80)]),
        ("80:80/tcp/udp", [PortBinding(80, "tcp", "", 80, 80)]),
        ("127.0.0.1::80", [PortBinding(80, "tcp", "127.0.0.1")]),
        ("127.0.0.1:8080:80/udp", [PortBinding(80, "udp", "127.0.0.1", 8080, 8080)]),
        (":80", [PortBinding(80)]),
        ("0:80", [PortBinding(80)]),
        ("080", [PortBinding(80)]),
        # IPv6: in brackets, or bare (everything before the last two colons)
        ("[::1]:8080:80", [PortBinding(80, "tcp", "::1", 8080, 8080)]),
        ("[::1]::80", [PortBinding(80, "tcp", "::1")]),
        ("::1:8080:80", [PortBinding(80, "tcp", "::1", 8080, 8080)]),
        # one container port given a host range to pick from
        ("8000-8010:80", [PortBinding(80, "tcp", "", 8000, 8010)]),
        ("80-80", [PortBinding(80)]),
        # ranges of the same length: one binding per port
        (
            "8000-8002:80-82",
            [
                PortBinding(80, "tcp", "", 8000, 8000),
                PortBinding(81, "tcp", "", 8001, 8001),
                PortBinding(82, "tcp", "", 8002, 8002),
            ],
        ),
        ("7000-7001", [PortBinding(7000), PortBinding(7001)]),
        # go-connections reads two parts of a range and ignores a third
        ("1-2-3", [PortBinding(1), PortBinding(2)]),
        # the docker CLI's long syntax
        ("published=8080,target=80,protocol=udp", [PortBinding(80, "udp", "", 8080, 8080)]),
        ("published=,target=80", [PortBinding(80)]),
    ],
)
def test_parse_publish(spec: str, expected: list[PortBinding]) -> None:
    assert ports.parse_publish(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("80:foo", "invalid containerPort: foo"),
        ("80:99999", "invalid containerPort: 99999"),
        ("65536", "invalid containerPort: 65536"),
        ("80-70", "invalid containerPort: 80-70"),
        ("80-", "invalid containerPort: 80-"),
        ("+80", "invalid containerPort: +80"),
        ("0x50", "invalid containerPort: 0x50"),
        ("99999:80", "invalid hostPort: 99999"),
        ("foo:80", "invalid hostPort: foo"),
        ("8000-7999:80", "invalid hostPort: 8000-7999"),
        ("1.2.3.4:80", "invalid hostPort: 1.2.3.4"),
        ("80/xyz", "invalid proto: xyz"),
        ("80:80/Xyz", "invalid proto: Xyz"),
        (
            "8000-8010:80-81",
            "invalid ranges specified for container and host Ports: 80-81 and 8000-8010",
        ),
        (
            "1.2.3.4:8000-8001:80-82",
            "invalid ranges specified for container and host Ports: 80-82 and 8000-8001",
        ),
        ("1.2.3:80:80", "invalid IP address: 1.2.3"),
        ("foo:80:80", "invalid IP address: foo"),
        ("a:b:c:d", "invalid IP address: a:b"),
        ("[foo]:80:80", "invalid IP address: foo"),
        ("[::1]:80", "invalid IP address [:: address [::: missing ']' in address"),
        ("[::1:80:80", "invalid IP address [::1: address [::1:: missing ']' in address"),
        ("[::1]x:80:80", "invalid IP address [::1]x: address [::1]x:: missing port in address"),
        ("", "no port specified: <empty>"),
        ("/tcp", "no port specified: /tcp<empty>"),
        ("1.2.3.4:80:", "no port specified: 1.2.3.4:80:<empty>"),
        ("published=8080", "no port specified: 8080:/tcp<empty>"),
        ("foo=bar,baz", "invalid publish opts format (should be name=value but got 'baz')"),
        ("=8080", "invalid publish opts format (should be name=value but got '=8080')"),
        # the docker CLI's order: address, container port, host port, ranges, protocol
        ("foo:99999:80", "invalid IP address: foo"),
        ("80:99999/xyz", "invalid containerPort: 99999"),
        ("/xyz", "no port specified: /xyz<empty>"),
    ],
)
def test_parse_publish_errors(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        ports.parse_publish(spec)
    assert str(info.value) == message


# --- --expose ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("80", ["80/tcp"]),
        ("80/udp", ["80/udp"]),
        ("80/", ["80/tcp"]),
        ("80/UDP", ["80/UDP"]),  # kept as given, as the docker CLI keeps it
        ("7000-7002", ["7000/tcp", "7001/tcp", "7002/tcp"]),
    ],
)
def test_parse_expose(spec: str, expected: list[str]) -> None:
    assert ports.parse_expose(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("80:80", "invalid port format for --expose: 80:80"),
        (
            "foo",
            'invalid range format for --expose: foo, error: strconv.ParseUint: parsing "foo": '
            "invalid syntax",
        ),
        (
            "99999",
            'invalid range format for --expose: 99999, error: strconv.ParseUint: parsing "99999": '
            "value out of range",
        ),
        (
            "80-70",
            "invalid range format for --expose: 80-70, error: invalid range specified for port: "
            "80-70",
        ),
        ("", "invalid range format for --expose: , error: empty string specified for ports"),
        (
            "/tcp",
            "invalid range format for --expose: /tcp, error: empty string specified for ports",
        ),
    ],
)
def test_parse_expose_errors(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        ports.parse_expose(spec)
    assert str(info.value) == message


def test_go_parse_port_reports_as_go_does() -> None:
    assert ports.go_parse_port("65535") == 65535
    for text, reason in [("", "invalid syntax"), ("8x", "invalid syntax")]:
        with pytest.raises(ValueError, match=reason):
            ports.go_parse_port(text)
    # Go's ParseUint stops at the first digit past the limit, before a bad character
    with pytest.raises(ValueError, match="value out of range"):
        ports.go_parse_port("99999x")


# --- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("1.2.3.4", "1.2.3.4"),
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("::", "::"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  # the first of two longest runs
        ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),  # one zero group stays
        ("::1.2.3.4", "::102:304"),
    ],
)
def test_go_ip_string(text: str, shown: str) -> None:
    packed = ports.go_parse_ip(text)
    assert packed is not None
    assert ports.go_ip_string(packed) == shown


@pytest.mark.parametrize("text", ["", "foo", "1.2.3", "01.2.3.4", "[::1]", "fe80::1%eth0"])
def test_go_parse_ip_refuses(text: str) -> None:
    assert ports.go_parse_ip(text) is None


# --- Docker's maps -----------------------------------------------------------------------


def test_port_bindings_config() -> None:
    bindings = [
        *ports.parse_publish("8080:80"),
        *ports.parse_publish("127.0.0.1::80"),
        *ports.parse_publish("8000-8010:443"),
        *ports.parse_publish("53/udp"),
    ]
    assert ports.port_bindings_config(bindings) == {
        "443/tcp": [{"HostIp": "", "HostPort": "8000-8010"}],
        "53/udp": [{"HostIp": "", "HostPort": ""}],
        "80/tcp": [
            {"HostIp": "", "HostPort": "8080"},
            {"HostIp": "127.0.0.1", "HostPort": ""},
        ],
    }
    assert list(ports.port_bindings_config(bindings)) == ["443/tcp", "53/udp", "80/tcp"]
    assert ports.port_bindings_config([]) == {}


def test_published_ports_map() -> None:
    resolved = [
        PortBinding(80, "tcp", "", 8080, 8080),
        PortBinding(80, "tcp", "127.0.0.1", 32768, 32768),
        PortBinding(53, "udp", "", 5353, 5353),
    ]
    got = ports.published_ports_map(resolved, ["443/tcp", "80/tcp"])
    assert got == {
        "443/tcp": None,
        "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
        "80/tcp": [
            {"HostIp": "0.0.0.0", "HostPort": "8080"},
            {"HostIp": "127.0.0.1", "HostPort": "32768"},
        ],
    }
    assert list(got) == ["443/tcp", "53/udp", "80/tcp"]
    assert ports.published_ports_map([], []) == {}


def test_exposed_port_keys_and_publish_all() -> None:
    bindings = ports.parse_publish("8080:80") + ports.parse_publish("80")
    assert ports.port_key(bindings[0]) == "80/tcp"
    exposed = ports.exposed_port_keys(bindings, ["443/tcp", "80/tcp", "53/udp"])
    assert exposed == ["80/tcp", "443/tcp", "53/udp"]
    # -P: a random port for each exposed port -p does not publish, once
    assert ports.publish_all(bindings, [*exposed, "443/tcp"]) == [
        *bindings,
        PortBinding(443),
        PortBinding(53, "udp"),
    ]


# --- run/create flags --------------------------------------------------------------------


def run_options(*args: str) -> ContainerOptions:
    parser = Parser("run")
    add_flags(parser, run=True)
    opts = parser.parse([*args, "busybox"], interspersed=False)
    return to_options(opts, opts.args[0], opts.args[1:])


def test_network_flags_fill_the_options() -> None:
    o = run_options(
        "-p", "8080:80", "--publish=127.0.0.1::53/udp", "-P",
        "--expose", "7000-7001", "--expose", "7001",
        "--dns", "1.1.1.1", "--dns", "0:0::1", "--dns-search", "example.com.",
        "--dns-option", "ndots:2", "--add-host", "db=10.0.0.2", "--add-host", "gw:host-gateway",
        "--ip", "172.30.0.9", "--mac-address", "92:d0:c6:0a:29:33",
        "--network", "mynet", "--network-alias", "web",
    )  # fmt: skip
    assert o.publish == [
        PortBinding(80, "tcp", "", 8080, 8080),
        PortBinding(53, "udp", "127.0.0.1"),
    ]
    assert o.publish_all is True
    assert o.expose == ["7000/tcp", "7001/tcp"]
    assert (o.dns, o.dns_search, o.dns_options) == (
        ["1.1.1.1", "::1"],
        ["example.com"],
        ["ndots:2"],
    )
    assert o.extra_hosts == ["db:10.0.0.2", "gw:host-gateway"]
    assert (o.ip, o.mac_address, o.network, o.network_aliases) == (
        "172.30.0.9", "92:d0:c6:0a:29:33", "mynet", ["web"],
    )  # fmt: skip


def test_network_flags_default_to_nothing() -> None:
    o = run_options()
    assert (o.publish, o.publish_all, o.expose, o.dns, o.dns_search) == ([], False, [], [], [])
    assert (o.dns_options, o.extra_hosts, o.ip, o.mac_address, o.network_aliases) == (
        [], [], "", "", [],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--dns", "foo"],
            'invalid argument "foo" for "--dns" flag: IP address is not correctly formatted: foo',
        ),
        (
            ["--add-host", "foo"],
            'invalid argument "foo" for "--add-host" flag: bad format for add-host: "foo"',
        ),
        (
            ["--dns-search", "-foo"],
            'invalid argument "-foo" for "--dns-search" flag: -foo is not a valid domain',
        ),
        # flags the docker CLI vets as it reads them: the first bad one, before other checks
        (
            ["--mac-address", "foo", "--dns", "foo"],
            'invalid argument "foo" for "--dns" flag: IP address is not correctly formatted: foo',
        ),
        (
            ["-p", "99999:80", "--add-host", "foo", "--dns", "foo"],
            'invalid argument "foo" for "--add-host" flag: bad format for add-host: "foo"',
        ),
    ],
)
def test_flag_errors_are_usage_errors(args: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        run_options(*args)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "99999:80"], "invalid hostPort: 99999"),
        (["--expose", "80:80"], "invalid port format for --expose: 80:80"),
        (["--mac-address", "92:d0:c6:0a:29"], "92:d0:c6:0a:29 is not a valid mac address"),
        (
            ["--network-alias", "web"],
            "network-scoped aliases are only supported for user-defined networks",
        ),
        (
            ["--network", "host", "--network-alias", "web"],
            "network-scoped aliases are only supported for user-defined networks",
        ),
        (
            ["--network", "container:x", "--network-alias", "web"],
            "network-scoped aliases are only supported for user-defined networks",
        ),
        # the docker CLI's order: --mac-address, -p, --expose, then the network's aliases
        (["--mac-address", "foo", "-p", "99999:80"], "foo is not a valid mac address"),
        (["--expose", "foo", "-p", "99999:80"], "invalid hostPort: 99999"),
        (
            ["-p", "99999:80", "--network", "host", "--network-alias", "x"],
            "invalid hostPort: 99999",
        ),
    ],
)
def test_value_errors_have_the_docker_clis_words(args: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        run_options(*args)
    assert str(info.value) == message


def test_help_lists_the_network_flags_with_dockers_words() -> None:
    parser = Parser("run")
    add_flags(parser, run=False)
    helps = {flag.names[-1]: (flag.kind, flag.help) for flag in parser.flags}
    assert helps["--publish"] == ("list", "Publish a container's port(s) to the host")
    assert helps["--publish-all"] == ("bool", "Publish all exposed ports to random ports")
    assert helps["--add-host"] == ("list", "Add a custom host-to-IP mapping (host:ip)")
    assert helps["--mac-address"] == (
        "string",
        "Container MAC address (e.g., 92:d0:c6:0a:29:33)",
    )
    shorthands = {flag.names[0] for flag in parser.flags}
    assert {"-p", "-P"} <= shorthands
