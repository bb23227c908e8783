"""``docker run`` option parsing: values and the docker CLI 28's (or its daemon's) errors.

Every expected message below was checked against the docker CLI 28.2.2 on this machine,
driving a throwaway dockerd (the daemon's messages: Docker 28's where they differ from
Debian's dockerd 20.10, noted so).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from skiff.engine import options as opt
from skiff.engine.options import ContainerOptions, InvalidFlagValue, MountSpec
from skiff.errors import InvalidArgument
from skiff.network.ports import PortBinding


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(InvalidArgument) as info:
        fn(*args, **kwargs)
    return str(info.value)


# --- sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", 12),
        ("1.5g", 1536 << 20),
        ("10KiB", 10240),
        ("10kb", 10240),
        ("10 k", 10240),
        ("1 kib", 1024),
        ("1e3", 1000),
        (".5g", 512 << 20),
        ("5.g", 5 << 30),
        ("+5m", 5 << 20),
        ("10Mb", 10 << 20),
        ("10mB", 10 << 20),
        ("1_000", 1000),
        ("10b", 10),
        ("10 b", 10),
        # Go's int64() of a float out of range, which the daemon then refuses.
        ("99999999999999999999999", -(2**63)),
    ],
)
def test_sizes(value: str, expected: int) -> None:
    assert opt.parse_bytes(value, "-m") == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("12q", "invalid suffix: 'q'"),
        ("-1", "invalid size: '-1'"),
        ("", "invalid size: ''"),
        ("g", "invalid size: 'g'"),
        ("NaN", "invalid size: 'NaN'"),
        ("Inf", "invalid size: 'Inf'"),
        ("10bb", "invalid suffix: 'bb'"),
        ("10ki", "invalid suffix: 'ki'"),
        ("10Mi", "invalid suffix: 'mi'"),
        ("10KiBs", "invalid suffix: 'KiBs'"),
        ("1.5.3g", 'strconv.ParseFloat: parsing "1.5.3": invalid syntax'),
        ("10m ", 'strconv.ParseFloat: parsing "10m": invalid syntax'),
        (" 10m", 'strconv.ParseFloat: parsing " 10": invalid syntax'),
        ("1  m", 'strconv.ParseFloat: parsing "1 ": invalid syntax'),
        ("0x10", 'strconv.ParseFloat: parsing "0x10": invalid syntax'),
    ],
)
def test_size_errors(value: str, reason: str) -> None:
    message = error_of(opt.parse_bytes, value, "--memory")
    assert message == f'invalid argument "{value}" for "-m, --memory" flag: {reason}'


def test_memory_error_is_dockers_exact_message() -> None:
    # The docker CLI 28 (go-units 0.5) says "invalid suffix", not "invalid size: '12q'".
    assert error_of(opt.parse_bytes, "12q", "-m") == (
        'invalid argument "12q" for "-m, --memory" flag: invalid suffix: \'q\''
    )


def test_size_flags_are_named_as_pflag_names_them() -> None:
    assert error_of(opt.parse_bytes, "1x", "--shm-size").startswith(
        'invalid argument "1x" for "--shm-size" flag'
    )
    assert opt.flag_name("m") == "-m, --memory"
    assert opt.flag_name("cpu-shares") == "-c, --cpu-shares"
    assert opt.flag_name("--pids-limit") == "--pids-limit"


def test_memory_swap() -> None:
    assert opt.parse_memory_swap("-1") == -1
    assert opt.parse_memory_swap("1g") == 1 << 30
    assert error_of(opt.parse_memory_swap, "-2") == (
        'invalid argument "-2" for "--memory-swap" flag: invalid size: \'-2\''
    )


def test_human_sizes_are_decimal() -> None:
    assert opt.from_human_size("10m") == 10_000_000
    assert opt.ram_in_bytes("10m") == 10 << 20


# --- numbers, booleans, durations ---------------------------------------------------------


def test_cpus() -> None:
    assert opt.parse_cpus("1.5") == 1_500_000_000
    assert opt.parse_cpus("0.001") == 1_000_000
    assert opt.parse_cpus("3/2") == 1_500_000_000
    assert error_of(opt.parse_cpus, "abc") == (
        'invalid argument "abc" for "--cpus" flag: failed to parse abc as a rational number'
    )
    assert error_of(opt.parse_cpus, "0.0000000001") == (
        'invalid argument "0.0000000001" for "--cpus" flag: value is too precise'
    )


@pytest.mark.parametrize(
    ("value", "expected"), [("10", 10), ("0x10", 16), ("010", 8), ("1_0", 10), ("-5", -5)]
)
def test_int_flags_are_go_base_0(value: str, expected: int) -> None:
    assert opt.parse_int(value, "--pids-limit") == expected


def test_int_errors() -> None:
    assert error_of(opt.parse_int, "abc", "--pids-limit") == (
        'invalid argument "abc" for "--pids-limit" flag: strconv.ParseInt: parsing "abc": '
        "invalid syntax"
    )
    assert error_of(opt.parse_int, "99999999999999999999", "--pids-limit").endswith(
        'strconv.ParseInt: parsing "99999999999999999999": value out of range'
    )
    assert error_of(opt.parse_int, "x", "--cpu-shares") == (
        'invalid argument "x" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "x": '
        "invalid syntax"
    )


def test_uint16() -> None:
    assert opt.parse_uint16("500") == 500
    assert error_of(opt.parse_uint16, "70000") == (
        'invalid argument "70000" for "--blkio-weight" flag: strconv.ParseUint: parsing '
        '"70000": value out of range'
    )
    assert error_of(opt.parse_uint16, "-1").endswith('parsing "-1": invalid syntax')


def test_bool() -> None:
    assert opt.parse_bool("true", "--init") is True
    assert opt.parse_bool("0", "--init") is False
    assert error_of(opt.parse_bool, "foo", "--init") == (
        'invalid argument "foo" for "--init" flag: strconv.ParseBool: parsing "foo": invalid syntax'
    )


@pytest.mark.parametrize(
    ("value", "nanoseconds"),
    [("1h30m", 5400 * 10**9), ("1.5s", 1_500_000_000), ("-2ms", -2_000_000), ("0", 0)],
)
def test_durations(value: str, nanoseconds: int) -> None:
    assert opt.parse_duration(value, "--health-interval") == nanoseconds


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1", 'time: missing unit in duration "1"'),
        ("x", 'time: invalid duration "x"'),
        ("1q", 'time: unknown unit "q" in duration "1q"'),
    ],
)
def test_duration_errors(value: str, reason: str) -> None:
    assert error_of(opt.parse_duration, value, "--health-interval") == (
        f'invalid argument "{value}" for "--health-interval" flag: {reason}'
    )


# --- ulimits, sysctls, env, labels ----------------------------------------------------------


def test_ulimit() -> None:
    assert opt.parse_ulimit("nofile=1024:2048") == opt.Ulimit("nofile", 1024, 2048)
    assert opt.parse_ulimit("nproc=500") == opt.Ulimit("nproc", 500, 500)
    assert opt.parse_ulimit("core=-1") == opt.Ulimit("core", -1, -1)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("nofile", "invalid ulimit argument: nofile"),
        ("foo=1", "invalid ulimit type: foo"),
        ("as=1", "invalid ulimit type: as"),
        ("nofile=a", 'strconv.ParseInt: parsing "a": invalid syntax'),
        ("nofile=1:b", 'strconv.ParseInt: parsing "b": invalid syntax'),
        ("nofile=2:1", "ulimit soft limit must be less than or equal to hard limit: 2 > 1"),
        (
            "nofile=1:2:3",
            "too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`",
        ),
    ],
)
def test_ulimit_errors(value: str, reason: str) -> None:
    assert error_of(opt.parse_ulimit, value) == (
        f'invalid argument "{value}" for "--ulimit" flag: {reason}'
    )


def test_sysctl() -> None:
    assert opt.parse_sysctl("net.ipv4.ip_forward=1") == ("net.ipv4.ip_forward", "1")
    assert opt.parse_sysctl("kernel.shmmax=1") == ("kernel.shmmax", "1")
    assert opt.parse_sysctl("fs.mqueue.msg_max=20") == ("fs.mqueue.msg_max", "20")
    for bad in ("kernel.foo=1", "foo"):
        assert error_of(opt.parse_sysctl, bad) == (
            f'invalid argument "{bad}" for "--sysctl" flag: sysctl \'{bad}\' is not allowed'
        )


def test_env() -> None:
    assert opt.parse_env("A=B", environ={}) == "A=B"
    assert opt.parse_env("A", environ={"A": "from client"}) == "A=from client"
    assert opt.parse_env("A", environ={}) == "A"
    assert error_of(opt.parse_env, "=x", {}) == (
        'invalid argument "=x" for "-e, --env" flag: invalid environment variable: =x'
    )


def test_labels() -> None:
    assert opt.parse_label("a=b") == "a=b"
    assert error_of(opt.parse_label, "=x") == (
        'invalid argument "=x" for "-l, --label" flag: invalid label \'=x\': empty name'
    )
    assert error_of(opt.parse_label, "a b=c") == (
        'invalid argument "a b=c" for "-l, --label" flag: label \'a b\' contains whitespaces'
    )
    assert opt.kv_to_dict(["a=b", "c", "d=e=f"]) == {"a": "b", "c": "", "d": "e=f"}


def test_env_file(tmp_path: Path) -> None:
    path = tmp_path / "env"
    path.write_bytes(b"\xef\xbb\xbfA=1\n  # c\n\nB\nNOPE\n\tG=y \n H=\nQ='quoted'\r\n")
    # B is taken from the client's environment, NOPE (not set there) dropped, values kept
    # verbatim (trailing blanks and quotes too).
    assert opt.parse_env_file(str(path), {"B": "7"}) == ["A=1", "B=7", "G=y ", "H=", "Q='quoted'"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"A B=1\n", "variable 'A B' contains whitespaces"),
        (b"F =x\n", "variable 'F ' contains whitespaces"),
        (b"=x\n", "no variable name on line '=x'"),
        (b"export C=2\n", "variable 'export C' contains whitespaces"),
        (b"\xff\n", "invalid utf8 bytes at line 1: [255]"),
    ],
)
def test_env_file_errors(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "env"
    path.write_bytes(content)
    assert error_of(opt.parse_env_file, str(path), {}) == f"invalid env file ({path}): {reason}"


def test_env_file_missing() -> None:
    assert error_of(opt.parse_env_file, "/nonexist") == "open /nonexist: no such file or directory"


def test_label_file_drops_bare_names(tmp_path: Path) -> None:
    path = tmp_path / "labels"
    path.write_text("l1=a\nl2\n")
    assert opt.parse_label_file(str(path)) == ["l1=a"]


# --- devices ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "host", "container", "permissions"),
    [
        ("/dev/x", "/dev/x", "/dev/x", "rwm"),
        ("/dev/x:r", "/dev/x", "/dev/x", "r"),
        ("/dev/x:/dev/y", "/dev/x", "/dev/y", "rwm"),
        ("/dev/x:/dev/y:rw", "/dev/x", "/dev/y", "rw"),
        ("/dev/a/../x", "/dev/x", "/dev/x", "rwm"),
    ],
)
def test_device(value: str, host: str, container: str, permissions: str) -> None:
    assert opt.parse_device(value) == opt.DeviceMapping(host, container, permissions)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/dev/null:rr", "rr is not an absolute path"),
        ("/dev/null:/dev/x:rwx", "bad mode specified: rwx"),
        ("a:b:c:d", "bad format for path: a:b:c:d"),
        (":/dev/x", "bad format for path: :/dev/x"),
        ("relative", "relative is not an absolute path"),
        ("/dev/null:relative", "relative is not an absolute path"),
    ],
)
def test_device_errors(value: str, message: str) -> None:
    assert error_of(opt.parse_device, value) == message


def test_device_cgroup_rule() -> None:
    assert opt.parse_device_cgroup_rule("c 42:* rmw") == "c 42:* rmw"
    assert error_of(opt.parse_device_cgroup_rule, "x 1:2 r") == (
        'invalid argument "x 1:2 r" for "--device-cgroup-rule" flag: invalid device '
        "cgroup format 'x 1:2 r'"
    )


# --- mounts -------------------------------------------------------------------------------


def test_volume_bind() -> None:
    mount = opt.parse_volume("/tmp/:/x/../y:ro,z,rslave")
    assert (mount.type, mount.source, mount.target) == ("bind", "/tmp", "/y")
    assert (mount.readonly, mount.selinux_label, mount.propagation) == (True, "z", "rslave")


def test_volume_named_anonymous_and_relative() -> None:
    named = opt.parse_volume("data:/x:nocopy")
    assert (named.type, named.source, named.nocopy) == ("volume", "data", True)
    anonymous = opt.parse_volume("/x")
    assert (anonymous.type, anonymous.source, anonymous.target) == ("volume", "", "/x")
    relative = opt.parse_volume("./d:/x", cwd="/srv")
    assert (relative.type, relative.source) == ("bind", "/srv/d")


def test_volume_recursive_read_only() -> None:
    assert opt.parse_volume("/a:/b:rro").recursive == "readonly"
    assert opt.parse_volume("/a:/b:ro-non-recursive").recursive == "writable"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (":/x", "invalid spec: :/x: empty section between colons"),
        ("/x:ro", "invalid volume specification: '/x:ro'"),
        ("a:b:c:d:e", "invalid volume specification: 'a:b:c:d:e'"),
        ("/tmp:/x:ro,rw", "invalid mode: ro,rw"),
        ("/a:/b:bad", "invalid mode: bad"),
        (
            "/tmp:/",
            "invalid volume specification: '/tmp:/': invalid mount config for type \"bind\": "
            "invalid specification: destination can't be '/'",
        ),
        (
            "/tmp:rel",
            "invalid volume specification: '/tmp:rel': invalid mount config for type "
            "\"bind\": invalid mount path: 'rel' mount path must be absolute",
        ),
        (
            "/tmp:/x:nocopy",
            "invalid volume specification: '/tmp:/x:nocopy': invalid mount config for type "
            '"bind": field VolumeOptions must not be specified',
        ),
        (
            "vol:/x:rro",
            "mount mode \"rro\" requires a bind mount: invalid volume specification: 'vol:/x:rro'",
        ),
    ],
)
def test_volume_errors(value: str, message: str) -> None:
    assert error_of(opt.parse_volume, value) == message


def test_mount_bind() -> None:
    mount = opt.parse_mount("type=bind,source=/tmp,target=/x,readonly,bind-propagation=rslave")
    assert mount == MountSpec("bind", "/x", "/tmp", readonly=True, propagation="rslave")


def test_mount_volume_and_tmpfs() -> None:
    volume = opt.parse_mount("type=volume,src=v,dst=/x,volume-opt=o=1,volume-label=l=2")
    assert (volume.source, volume.volume_options, volume.volume_labels) == (
        "v",
        {"o": "1"},
        {"l": "2"},
    )
    tmpfs = opt.parse_mount("type=tmpfs,target=/x,tmpfs-size=1m,tmpfs-mode=1777")
    assert (tmpfs.type, tmpfs.tmpfs_size, tmpfs.tmpfs_mode) == ("tmpfs", 1 << 20, 0o1777)
    quoted = opt.parse_mount('type=bind,"src=/tmp",dst=/x')
    assert quoted.source == "/tmp"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("foo", "invalid field 'foo' must be a key=value pair"),
        ("type=bind", "target is required"),
        ("type=tmpfs,target=/x,tmpfs-size=abc", "invalid value for tmpfs-size: abc"),
        ("type=tmpfs,target=/x,tmpfs-mode=9", "invalid value for tmpfs-mode: 9"),
        (
            "type=bind,src=/tmp,target=/x,volume-nocopy",
            "cannot mix 'volume-*' options with mount type 'bind'",
        ),
        ("type=bind,src=/tmp,target=/x,ro=maybe", "invalid value for ro: maybe"),
        ("type=bind,src=/tmp,dst=/x,foo=bar", "unexpected key 'foo' in 'foo=bar'"),
        (
            "type=bind,src=/tmp,dst=/x,bind-recursive=foo",
            'invalid value for bind-recursive: foo (must be "enabled", "disabled", '
            '"writable", or "readonly")',
        ),
        (
            "type=bind,src=/tmp,dst=/x,bind-recursive=readonly",
            "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction",
        ),
    ],
)
def test_mount_flag_errors(value: str, reason: str) -> None:
    with pytest.raises(InvalidFlagValue) as info:
        opt.parse_mount(value)
    assert str(info.value) == f'invalid argument "{value}" for "--mount" flag: {reason}'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "type=bind,target=/x",
            'invalid mount config for type "bind": field Source must not be empty',
        ),
        (
            "type=bind,src=/tmp,target=/x,bind-propagation=foo",
            'invalid mount config for type "bind": invalid propagation mode: foo',
        ),
        ("type=foo,target=/x", 'invalid mount config for type "foo": mount type unknown'),
        (
            "type=volume,target=/x,readonly",
            'invalid mount config for type "volume": must not set ReadOnly mode when using '
            "anonymous volumes",
        ),
        (
            "type=tmpfs,target=/x,source=foo",
            'invalid mount config for type "tmpfs": field Source must not be specified',
        ),
        (
            "type=bind,src=/tmp,target=/",
            'invalid mount config for type "bind": invalid specification: destination can\'t '
            "be '/'",
        ),
        (
            "type=bind,src=/tmp,target=rel",
            "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must "
            "be absolute",
        ),
    ],
)
def test_mount_daemon_errors(value: str, message: str) -> None:
    assert error_of(opt.parse_mount, value) == message


def test_tmpfs() -> None:
    assert opt.parse_tmpfs("/run:size=1m,mode=1777") == ("/run", "size=1m,mode=1777")
    assert opt.parse_tmpfs("/run") == ("/run", "")
    assert error_of(opt.parse_tmpfs, "relative") == (
        "invalid mount path: 'relative' mount path must be absolute"
    )
    assert error_of(opt.parse_tmpfs, "/") == "invalid specification: destination can't be '/'"


# --- security, capabilities, signals, restart, logging, namespaces, health ----------------


def test_security_opts(tmp_path: Path) -> None:
    profile = tmp_path / "p.json"
    profile.write_text('{\n "defaultAction": "SCMP_ACT_ALLOW"\n}\n')
    parsed = opt.parse_security_opts(
        [f"seccomp={profile}", "no-new-privileges", "label=disable", "apparmor=x"]
    )
    assert parsed.seccomp == '{"defaultAction":"SCMP_ACT_ALLOW"}'
    assert (parsed.no_new_privileges, parsed.labels, parsed.apparmor) == (True, ["disable"], "x")
    assert opt.parse_security_opts(["seccomp:unconfined"]).seccomp == "unconfined"
    assert opt.parse_security_opts(["no-new-privileges:true"]).no_new_privileges is True
    assert opt.parse_security_opts(["no-new-privileges=false"]).no_new_privileges is False
    unconfined = opt.parse_security_opts(["systempaths=unconfined"])
    assert (unconfined.masked_paths, unconfined.readonly_paths) == ([], [])
    assert opt.parse_security_opts([]).masked_paths is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("foo", 'Invalid --security-opt: "foo"'),
        ("label", 'Invalid --security-opt: "label"'),
        ("disable", 'Invalid --security-opt: "disable"'),
        ("seccomp=", 'Invalid --security-opt: "seccomp="'),
        ("foo=bar", 'invalid --security-opt 2: "foo=bar"'),
        ("no-new-privileges=maybe", 'invalid --security-opt 2: "no-new-privileges=maybe"'),
        (
            "seccomp=/nonexist",
            "opening seccomp profile (/nonexist) failed: open /nonexist: no such file or directory",
        ),
    ],
)
def test_security_opt_errors(value: str, message: str) -> None:
    assert error_of(opt.parse_security_opts, [value]) == message


def test_capabilities() -> None:
    assert opt.normalize_capabilities(["sys_admin", "CAP_kill", "all"]) == [
        "CAP_SYS_ADMIN",
        "CAP_KILL",
        "ALL",
    ]
    assert error_of(opt.normalize_capabilities, ["foo"]) == (
        'invalid CapAdd: unknown capability: "CAP_FOO"'
    )
    assert error_of(opt.normalize_capabilities, ["foo"], "CapDrop").startswith("invalid CapDrop")
    assert set(opt.host_capabilities()) <= set(opt.known_capabilities())


def test_signals() -> None:
    assert opt.parse_signal("9") == 9
    assert opt.parse_signal("SIGKILL") == 9
    assert opt.parse_signal("kill") == 9
    assert opt.parse_signal("RTMIN+3") == opt.parse_signal("RTMIN") + 3
    assert error_of(opt.parse_signal, "FOO") == "Invalid signal: FOO"
    assert error_of(opt.parse_signal, "0") == "Invalid signal: 0"


def test_restart() -> None:
    assert opt.parse_restart("") == opt.RestartPolicy("no", 0)
    assert opt.parse_restart("on-failure:3") == opt.RestartPolicy("on-failure", 3)
    assert opt.parse_restart("unless-stopped") == opt.RestartPolicy("unless-stopped", 0)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        # Docker 28's daemon (20.10 said "invalid restart policy 'foo'").
        (
            "foo",
            "invalid restart policy: unknown policy 'foo'; use one of 'no', 'always', "
            "'on-failure', or 'unless-stopped'",
        ),
        ("on-failure:x", "invalid restart policy format: maximum retry count must be an integer"),
        (":3", "invalid restart policy format: no policy provided before colon"),
        (
            "always:3",
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ),
        (
            "no:-1",
            "invalid restart policy: maximum retry count can only be used with 'on-failure' "
            "and cannot be negative",
        ),
        ("on-failure:-1", "invalid restart policy: maximum retry count cannot be negative"),
    ],
)
def test_restart_errors(value: str, message: str) -> None:
    assert error_of(opt.parse_restart, value) == message


def test_log_opts() -> None:
    assert opt.parse_log_opts("", ["max-size=10m", "max-file=3"]) == {
        "max-size": "10m",
        "max-file": "3",
    }
    # One key=value a flag, as Docker: the comma is part of the value.
    assert error_of(opt.parse_log_opts, "", ["max-size=10m,max-file=3"]) == (
        'strconv.ParseFloat: parsing "10m,max-file=3": invalid syntax'
    )
    assert error_of(opt.parse_log_opts, "", ["foo=1"]) == (
        "unknown log opt 'foo' for json-file log driver"
    )
    assert error_of(opt.parse_log_opts, "none", ["a=b"]) == "invalid logging opts for driver none"
    assert error_of(opt.parse_log_opts, "foo", []) == (
        'error looking up logging plugin foo: plugin "foo" not found'
    )
    assert error_of(opt.parse_log_opts, "", ["max-file=0"]) == "max-file cannot be less than 1"
    assert error_of(opt.parse_log_opts, "local", ["compress=true"]) == (
        "compress cannot be true when max-file is less than 2 or max-size is not set"
    )


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("pid", "foo", "--pid: invalid PID mode"),
        ("uts", "container:x", "--uts: invalid UTS mode"),
        ("userns", "private", "--userns: invalid USER mode"),
        ("cgroupns", "foo", "--cgroupns: invalid CGROUP mode"),
        ("ipc", "foo", "invalid IPC mode: foo"),
        ("pid", "container:", "--pid: invalid PID mode"),
    ],
)
def test_namespace_mode_errors(kind: str, value: str, message: str) -> None:
    assert error_of(opt.parse_namespace_mode, kind, value) == message


def test_namespace_modes() -> None:
    for kind, value in [
        ("pid", "host"),
        ("pid", "container:db"),
        ("ipc", "shareable"),
        ("ipc", "none"),
        ("ipc", "container:db"),
        ("uts", "host"),
        ("cgroupns", "private"),
        ("userns", "host"),
    ]:
        assert opt.parse_namespace_mode(kind, value) == value


def test_health() -> None:
    assert opt.parse_health() is None
    assert opt.parse_health(no_healthcheck=True) == opt.HealthConfig(["NONE"])
    health = opt.parse_health(cmd="true", interval=10**9, retries=3)
    assert health == opt.HealthConfig(["CMD-SHELL", "true"], interval=10**9, retries=3)
    assert error_of(opt.parse_health, cmd="x", no_healthcheck=True) == (
        "--no-healthcheck conflicts with --health-* options"
    )
    assert error_of(opt.parse_health, interval=-1) == "--health-interval cannot be negative"
    assert error_of(opt.parse_health, retries=-1) == "--health-retries cannot be negative"


# --- networking: --dns, --dns-search, --add-host, --mac-address ----------------------------


def test_dns() -> None:
    assert opt.parse_dns("1.1.1.1") == "1.1.1.1"
    assert opt.parse_dns(" 1.1.1.1 ") == "1.1.1.1"
    # kept in Go's form, as the docker CLI's ValidateIPAddress returns it
    assert opt.parse_dns("0:0:0:0:0:0:0:1") == "::1"
    assert opt.parse_dns("::ffff:1.2.3.4") == "1.2.3.4"


@pytest.mark.parametrize("value", ["foo", "01.2.3.4", "", "[::1]", "fe80::1%eth0"])
def test_dns_errors(value: str) -> None:
    assert error_of(opt.parse_dns, value) == (
        f'invalid argument "{value}" for "--dns" flag: IP address is not correctly formatted: '
        f"{value}"
    )


@pytest.mark.parametrize(
    ("value", "domain"),
    [
        ("example.com", "example.com"),
        ("example.com.", "example.com"),
        (" example.com ", "example.com"),
        ("1foo", "1foo"),
        (".", "."),
        ("::foo", "::foo"),  # the CLI's pattern lets colons in
    ],
)
def test_dns_search(value: str, domain: str) -> None:
    assert opt.parse_dns_search(value) == domain


@pytest.mark.parametrize(
    ("value", "shown"),
    [("-foo", "-foo"), ("foo-", "foo-"), ("a..b", "a..b"), ("foo_bar", "foo_bar"),
     ("1.2.3", "1.2.3"), ("", ""), ("a" * 255, "a" * 255)],
)  # fmt: skip
def test_dns_search_errors(value: str, shown: str) -> None:
    assert error_of(opt.parse_dns_search, value) == (
        f'invalid argument "{value}" for "--dns-search" flag: {shown} is not a valid domain'
    )


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("db:10.0.0.2", "db:10.0.0.2"),
        ("db=10.0.0.2", "db:10.0.0.2"),
        ("db:host-gateway", "db:host-gateway"),
        ("db=host-gateway", "db:host-gateway"),
        ("db:::1", "db:::1"),
        ("db=::1", "db:::1"),
        ("db:[::1]", "db:::1"),
        ("db: 10.0.0.2", "db: 10.0.0.2"),
    ],
)
def test_extra_host(value: str, stored: str) -> None:
    assert opt.parse_extra_host(value) == stored


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("foo", 'bad format for add-host: "foo"'),
        (":1.2.3.4", 'bad format for add-host: ":1.2.3.4"'),
        ("=1.2.3.4", 'bad format for add-host: "=1.2.3.4"'),
        ("foo:bar", 'invalid IP address in add-host: "bar"'),
        ("foo:1.2.3.4:5", 'invalid IP address in add-host: "1.2.3.4:5"'),
        ("foo=", 'invalid IP address in add-host: ""'),
    ],
)
def test_extra_host_errors(value: str, reason: str) -> None:
    assert error_of(opt.parse_extra_host, value) == (
        f'invalid argument "{value}" for "--add-host" flag: {reason}'
    )


@pytest.mark.parametrize(
    "value",
    ["92:d0:c6:0a:29:33", "92-d0-c6-0a-29-33", "0000.5e00.5301", " 92:d0:c6:0a:29:33",
     "00:00:5e:00:53:01:02:03", "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"],
)  # fmt: skip
def test_mac_address(value: str) -> None:
    assert opt.parse_mac_address(value) == value


@pytest.mark.parametrize(
    "value",
    ["foo", "92:d0:c6:0a:29", "0000.5e00.530", "00:00-5e:00:53:01", "0:00:5e:00:53:01"],
)
def test_mac_address_errors(value: str) -> None:
    assert error_of(opt.parse_mac_address, value) == f"{value} is not a valid mac address"


# --- ContainerOptions ------------------------------------------------------------------------


def test_defaults_are_dockers() -> None:
    o = ContainerOptions()
    assert o.restart_policy == opt.RestartPolicy("no", 0)
    assert (o.memory_swappiness, o.shm_size, o.init, o.entrypoint) == (-1, 0, None, None)
    assert o.security_options == opt.SecurityOptions()
    assert o.validate(ncpu=2) == []


def test_unknown_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="publsh"):
        ContainerOptions(publsh=["80"])


def test_mutable_defaults_are_not_shared() -> None:
    a, b = ContainerOptions(), ContainerOptions()
    a.env.append("X=1")
    assert b.env == []


def test_round_trip_through_json() -> None:
    import json

    o = ContainerOptions(
        image="busybox",
        command=["sh"],
        ulimits=[opt.Ulimit("nofile", 1, 2)],
        devices=[opt.DeviceMapping("/dev/x", "/dev/y", "r")],
        mounts=[opt.parse_mount("type=tmpfs,dst=/t,tmpfs-size=1k")],
        volumes=[opt.parse_volume("/a:/b:ro")],
        restart=opt.RestartPolicy("always"),
        healthcheck=opt.HealthConfig(["CMD", "true"]),
        security=opt.SecurityOptions(seccomp="unconfined", no_new_privileges=True),
        publish=[PortBinding(80, "tcp", "127.0.0.1", 8000, 8010)],
        expose=["53/udp"],
        extra_hosts=["db:10.0.0.2"],
    )
    back = ContainerOptions.from_dict(json.loads(json.dumps(o.to_dict())))
    assert back == o
    assert back.mounts[0].tmpfs_size == 1024
    assert back.publish == [PortBinding(80, "tcp", "127.0.0.1", 8000, 8010)]
    assert o.to_dict()["publish"] == [
        {"container_port": 80, "protocol": "tcp", "host_ip": "127.0.0.1", "host_port": 8000,
         "host_port_end": 8010},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"memory": 12}, "Minimum memory limit allowed is 6MB"),
        ({"memory_reservation": 1 << 20}, "Minimum memory reservation allowed is 6MB"),
        (
            {"memory": 10 << 20, "memory_reservation": 20 << 20},
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ),
        (
            {"memory_swap": 20 << 20},
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ),
        (
            {"memory": 20 << 20, "memory_swap": 10 << 20},
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ),
        ({"memory_swappiness": 200}, "invalid value: 200. Valid memory swappiness range is 0-100"),
        (
            {"nano_cpus": 500_000_000, "cpu_quota": 1000},
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ),
        (
            {"nano_cpus": 500_000_000, "cpu_period": 1000},
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ),
        (
            {"nano_cpus": 3 * 10**9},
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
        ),
        (
            {"nano_cpus": -(10**9)},
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
        ),
        (
            {"cpu_period": 100},
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ),
        ({"cpu_quota": 100}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        ({"cpuset_cpus": "abc"}, "Invalid value abc for cpuset cpus: invalid format: abc"),
        ({"blkio_weight": 5}, "Range of blkio weight is from 10 to 1000"),
        ({"oom_score_adj": 2000}, "Invalid value 2000, range for oom score adj is [-1000, 1000]"),
        ({"shm_size": -1}, "SHM size can not be less than 0"),
        ({"cap_add": ["foo"]}, 'invalid CapAdd: unknown capability: "CAP_FOO"'),
        (
            {"cap_add": ["ALL"], "cap_drop": ["foo"]},
            'invalid CapDrop: unknown capability: "CAP_FOO"',
        ),
        ({"stop_signal": "FOO"}, "Invalid signal: FOO"),
        ({"ipc": "foo"}, "invalid IPC mode: foo"),
        ({"pid": "foo"}, "--pid: invalid PID mode"),
        (
            {"workdir": "rel"},
            "the working directory 'rel' is invalid, it needs to be an absolute path",
        ),
        (
            {"auto_remove": True, "restart": opt.RestartPolicy("always")},
            "conflicting options: cannot specify both --restart and --rm",
        ),
        ({"log_opts": {"foo": "1"}}, "unknown log opt 'foo' for json-file log driver"),
    ],
)
def test_validate_errors(values: dict, message: str) -> None:
    assert error_of(ContainerOptions(**values).validate, ncpu=2) == message


def test_validate_normalises_and_warns() -> None:
    o = ContainerOptions(cpu_shares=-1, oom_kill_disable=True)
    warnings = o.validate(ncpu=2)
    assert o.cpu_shares == 2
    assert warnings == [
        "OOM killer is disabled for the container, but no memory limit is set, this can "
        "result in the system running out of resources."
    ]
    big = ContainerOptions(cpu_shares=10**9)
    big.validate(ncpu=2)
    assert big.cpu_shares == 262144


def test_cpu_lists() -> None:
    assert opt.parse_cpu_list("0-2,5") == {0, 1, 2, 5}
    assert opt.format_cpu_list({0, 1, 2, 5}) == "0-2,5"


def test_go_quote() -> None:
    assert opt.go_quote('a"b\\c\n\x01') == '"a\\"b\\\\c\\n\\x01"'
