"""config.json checks: each message names the field."""

import copy

import pytest

from skiff import jsonio
from skiff.errors import InvalidArgument
from skiff.runtime import mountopts
from skiff.runtime.lifecycle import parse_signal
from skiff.runtime.spec import check_process, check_spec
from skiff.runtime.specgen import default_spec
from skiff.runtime.update import parse_bytes


def spec_with(**changes):
    spec = copy.deepcopy(default_spec())
    for path, value in changes.items():
        target = spec
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return spec


def test_default_spec_is_valid():
    check_spec(default_spec())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"process__args": []}, "process.args: must not be empty"),
        ({"process__args": "sh"}, "process.args: expected an array of strings"),
        ({"process__cwd": "relative"}, "process.cwd: must be an absolute path"),
        ({"process__user": {"uid": "0"}}, "process.user.uid: expected an integer"),
        ({"process__rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]}, "unknown rlimit"),
        (
            {"process__rlimits": [{"type": "RLIMIT_NOFILE", "soft": 9, "hard": 1}]},
            "soft limit is above",
        ),
        ({"linux__namespaces": [{"type": "mount"}, {"type": "mount"}]}, "duplicate namespace"),
        ({"linux__namespaces": [{"type": "mount"}, {"type": "bogus"}]}, "linux.namespaces[1].type"),
        (
            {"linux__sysctl": {"kernel.panic": "1"}},
            "linux.sysctl.kernel.panic: sysctl is not namespaced",
        ),
        (
            {
                "linux__namespaces": [{"type": "mount"}],
                "linux__sysctl": {"net.ipv4.ip_forward": "1"},
            },
            "needs a new network namespace",
        ),
        (
            {"linux__uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]},
            "need a user namespace",
        ),
        ({"linux__rootfsPropagation": "sideways"}, "linux.rootfsPropagation"),
        (
            {"linux__devices": [{"path": "/dev/x", "type": "q", "major": 1, "minor": 1}]},
            "linux.devices[0].type",
        ),
        (
            {"linux__resources__memory": {"limit": True}},
            "linux.resources.memory.limit: expected an integer",
        ),
        ({"mounts": [{"type": "tmpfs"}]}, "mounts[0].destination: missing"),
        ({"root": {}}, "root.path: missing"),
    ],
)
def test_bad_fields_are_named(changes, message):
    with pytest.raises(InvalidArgument) as error:
        check_spec(spec_with(**changes))
    assert str(error.value).startswith("config.json: ")
    assert message in str(error.value)


def test_sysctl_in_its_namespace_is_fine():
    spec = spec_with(linux__sysctl={"net.ipv4.ip_forward": "1", "kernel.shmmax": "100"})
    check_spec(spec)


def test_process_json_messages_name_process_json():
    with pytest.raises(InvalidArgument, match=r"^process.json: process.args"):
        check_process({"args": [], "cwd": "/"})


def test_mount_options():
    options = mountopts.parse(
        ["rbind", "ro", "nosuid", "rslave", "size=1m", "rnoexec", "rro", "tmpcopyup"]
    )
    from skiff.linux import mount as m

    assert options.flags == m.MS_BIND | m.MS_REC | m.MS_RDONLY | m.MS_NOSUID
    assert options.propagation == [m.MS_SLAVE | m.MS_REC]
    assert options.data == ["size=1m"]
    assert options.attr_set == m.MOUNT_ATTR_NOEXEC | m.MOUNT_ATTR_RDONLY
    assert options.tmpcopyup
    assert mountopts.parse(["ro", "rw"]).flags == 0


@pytest.mark.parametrize(
    ("text", "number"), [("TERM", 15), ("SIGKILL", 9), ("9", 9), ("usr1", 10), ("RTMIN+1", 35)]
)
def test_signals(text, number):
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["SIGNOPE", "0", "999", ""])
def test_bad_signals(text):
    with pytest.raises(InvalidArgument, match="unknown signal"):
        parse_signal(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [("1024", 1024), ("512m", 512 << 20), ("1g", 1 << 30), ("2kb", 2048), ("-1", -1)],
)
def test_bytes(text, value):
    assert parse_bytes(text, "memory") == value


def test_jsonio_round_trip_and_errors():
    value = {"a": [1, 2.5, True, None, "é\n"], "b": {"c": -3}}
    assert jsonio.loads(jsonio.dumps(value)) == value
    assert jsonio.loads('  {"x": 1}\n') == {"x": 1}
    for bad in ["{", '{"a": 1} extra', "", "[1,]", '{"a": tru}']:
        with pytest.raises(ValueError):
            jsonio.loads(bad)
