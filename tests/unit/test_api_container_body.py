"""``POST /containers/create`` bodies read as skiff's ContainerOptions
(skiff.api.container_body).

The bodies below are what the docker CLI 28.2.2 on this machine sent for each command line
(captured by a fake daemon on a unix socket answering ``/_ping`` with API 1.45), written as
the default ``docker create busybox`` body plus each command line's changes. Each must read
as the ContainerOptions skiff's own CLI makes of the same command line. The daemon's
messages are moby 28's (its router, runconfig and daemon/container.go), its JSON decoder's
Go 1.24's, which Docker 28 is built with.
"""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from skiff.api.container_body import (
    MAC_DEPRECATED,
    EndpointConfig,
    options_from_body,
    parse_create_body,
)
from skiff.cli.main import Parser
from skiff.cli.run_flags import add_flags, to_options
from skiff.engine.options import ContainerOptions, MountSpec, RestartPolicy
from skiff.errors import InvalidArgument
from skiff.network.ports import PortBinding

REMOVE = object()  # a key the command line's body does not have

# docker create busybox
BASE: dict[str, Any] = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": True,
    "AttachStderr": True,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": None,
    "Cmd": None,
    "Image": "busybox",
    "Volumes": {},
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": {},
    "HostConfig": {
        "Binds": None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": "default",
        "PortBindings": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": False,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "ConsoleSize": [0, 0],
        "CapAdd": None,
        "CapDrop": None,
        "CgroupnsMode": "",
        "Dns": [],
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": None,
        "GroupAdd": None,
        "IpcMode": "",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": False,
        "PublishAllPorts": False,
        "ReadonlyRootfs": False,
        "SecurityOpt": None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 0,
        "Isolation": "",
        "CpuShares": 0,
        "Memory": 0,
        "NanoCpus": 0,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": [],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": -1,
        "OomKillDisable": False,
        "PidsLimit": 0,
        "Ulimits": [],
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "MaskedPaths": None,
        "ReadonlyPaths": None,
    },
    "NetworkingConfig": {
        "EndpointsConfig": {
            "default": {
                "IPAMConfig": None,
                "Links": None,
                "Aliases": None,
                "MacAddress": "",
                "DriverOpts": None,
                "GwPriority": 0,
                "NetworkID": "",
                "EndpointID": "",
                "Gateway": "",
                "IPAddress": "",
                "IPPrefixLen": 0,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "DNSNames": None,
            }
        }
    },
}

# (docker command line, its body's changes to BASE)
CLI_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("create busybox echo hello world", {"Cmd": ["echo", "hello", "world"]}),
    (
        "create --entrypoint /bin/sh busybox -c 'echo hi'",
        {"Cmd": ["-c", "echo hi"], "Entrypoint": ["/bin/sh"]},
    ),
    ("create --entrypoint= busybox", {"Entrypoint": [""]}),
    (
        "create -u 1000:1000 -w /work -h myhost --domainname example.org busybox",
        {
            "Hostname": "myhost",
            "Domainname": "example.org",
            "User": "1000:1000",
            "WorkingDir": "/work",
        },
    ),
    (
        "create -e A=1 -e SKIFF_TEST_UNSET_VAR -l a=b -l c --annotation k=v busybox",
        {
            "Env": ["A=1", "SKIFF_TEST_UNSET_VAR"],
            "Labels": {"a": "b", "c": ""},
            "HostConfig": {"Annotations": {"k": "v"}},
        },
    ),
    (
        "create -t -i busybox",
        {"AttachStdin": True, "Tty": True, "OpenStdin": True, "StdinOnce": True},
    ),
    ("create -a stdout busybox", {"AttachStderr": False}),
    (
        "create --stop-signal SIGUSR1 --stop-timeout 5 busybox",
        {"StopSignal": "SIGUSR1", "StopTimeout": 5},
    ),
    (
        "create --health-cmd 'curl -f localhost' --health-interval 30s --health-retries 3 "
        "--health-timeout 5s --health-start-period 1m --health-start-interval 2s busybox",
        {
            "Healthcheck": {
                "Test": ["CMD-SHELL", "curl -f localhost"],
                "Interval": 30000000000,
                "Timeout": 5000000000,
                "StartPeriod": 60000000000,
                "StartInterval": 2000000000,
                "Retries": 3,
            }
        },
    ),
    ("create --no-healthcheck busybox", {"Healthcheck": {"Test": ["NONE"]}}),
    (
        "create --restart on-failure:3 busybox",
        {"HostConfig": {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}}},
    ),
    ("create --rm busybox", {"HostConfig": {"AutoRemove": True}}),
    ("create --init busybox", {"HostConfig": {"Init": True}}),
    (
        "create -m 64m --memory-reservation 32m --memory-swap 128m --memory-swappiness 10 "
        "--oom-kill-disable --oom-score-adj 100 --shm-size 128m busybox",
        {
            "HostConfig": {
                "OomScoreAdj": 100,
                "ShmSize": 134217728,
                "Memory": 67108864,
                "MemoryReservation": 33554432,
                "MemorySwap": 134217728,
                "MemorySwappiness": 10,
                "OomKillDisable": True,
            }
        },
    ),
    (
        "create --cpu-shares 512 --cpus 1.5 --cpuset-cpus 0 --cpuset-mems 0 --cpu-rt-period 1000 "
        "--cpu-rt-runtime 500 busybox",
        {
            "HostConfig": {
                "CpuShares": 512,
                "NanoCpus": 1500000000,
                "CpuRealtimePeriod": 1000,
                "CpuRealtimeRuntime": 500,
                "CpusetCpus": "0",
                "CpusetMems": "0",
            }
        },
    ),
    (
        "create --cpu-period 100000 --cpu-quota 50000 --pids-limit 100 --blkio-weight 300 "
        "--cgroup-parent mygroup busybox",
        {
            "HostConfig": {
                "CgroupParent": "mygroup",
                "BlkioWeight": 300,
                "CpuPeriod": 100000,
                "CpuQuota": 50000,
                "PidsLimit": 100,
            }
        },
    ),
    (
        "create --pid host --ipc shareable --uts host --userns host --cgroupns private busybox",
        {
            "HostConfig": {
                "CgroupnsMode": "private",
                "IpcMode": "shareable",
                "PidMode": "host",
                "UTSMode": "host",
                "UsernsMode": "host",
            }
        },
    ),
    (
        "create --log-driver json-file --log-opt max-size=10m --log-opt max-file=3 busybox",
        {
            "HostConfig": {
                "LogConfig": {"Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}
            }
        },
    ),
    ("create --runtime runc busybox", {"HostConfig": {"Runtime": "runc"}}),
    (
        "create --ulimit nofile=1024:2048 --ulimit nproc=512 busybox",
        {
            "HostConfig": {
                "Ulimits": [
                    {"Name": "nofile", "Hard": 2048, "Soft": 1024},
                    {"Name": "nproc", "Hard": 512, "Soft": 512},
                ]
            }
        },
    ),
    (
        "create --device /dev/null:/dev/xnull:rw --device /dev/zero busybox",
        {
            "HostConfig": {
                "Devices": [
                    {
                        "PathOnHost": "/dev/null",
                        "PathInContainer": "/dev/xnull",
                        "CgroupPermissions": "rw",
                    },
                    {
                        "PathOnHost": "/dev/zero",
                        "PathInContainer": "/dev/zero",
                        "CgroupPermissions": "rwm",
                    },
                ]
            }
        },
    ),
    (
        "create --tmpfs /run:size=64m --tmpfs /tmp2 busybox",
        {"HostConfig": {"Tmpfs": {"/run": "size=64m", "/tmp2": ""}}},
    ),
    (
        "create -v /tmp:/data:ro -v /anon busybox",
        {"Volumes": {"/anon": {}}, "HostConfig": {"Binds": ["/tmp:/data:ro"]}},
    ),
    ("create -v vol1:/v1:nocopy busybox", {"HostConfig": {"Binds": ["vol1:/v1:nocopy"]}}),
    ("create --volumes-from other:ro busybox", {"HostConfig": {"VolumesFrom": ["other:ro"]}}),
    (
        "create --mount type=bind,source=/tmp,target=/data,readonly,bind-propagation=rslave "
        "busybox",
        {
            "HostConfig": {
                "Mounts": [
                    {
                        "Type": "bind",
                        "Source": "/tmp",
                        "Target": "/data",
                        "ReadOnly": True,
                        "BindOptions": {"Propagation": "rslave"},
                    }
                ]
            }
        },
    ),
    (
        "create --mount "
        "type=volume,source=vol,target=/v,volume-nocopy,volume-label=a=b,volume-opt=o=p busybox",
        {
            "HostConfig": {
                "Mounts": [
                    {
                        "Type": "volume",
                        "Source": "vol",
                        "Target": "/v",
                        "VolumeOptions": {
                            "NoCopy": True,
                            "Labels": {"a": "b"},
                            "DriverConfig": {"Options": {"o": "p"}},
                        },
                    }
                ]
            }
        },
    ),
    (
        "create --mount type=tmpfs,target=/cache,tmpfs-size=64m,tmpfs-mode=1770 busybox",
        {
            "HostConfig": {
                "Mounts": [
                    {
                        "Type": "tmpfs",
                        "Target": "/cache",
                        "TmpfsOptions": {"SizeBytes": 67108864, "Mode": 1016},
                    }
                ]
            }
        },
    ),
    (
        "create --mount type=bind,source=/tmp,target=/d,bind-recursive=disabled busybox",
        {
            "HostConfig": {
                "Mounts": [
                    {
                        "Type": "bind",
                        "Source": "/tmp",
                        "Target": "/d",
                        "BindOptions": {"NonRecursive": True},
                    }
                ]
            }
        },
    ),
    (
        "create --mount type=bind,source=/tmp,target=/d,readonly,bind-recursive=writable busybox",
        {
            "HostConfig": {
                "Mounts": [
                    {
                        "Type": "bind",
                        "Source": "/tmp",
                        "Target": "/d",
                        "ReadOnly": True,
                        "BindOptions": {"ReadOnlyNonRecursive": True},
                    }
                ]
            }
        },
    ),
    (
        "create -p 127.0.0.1::53/udp -p 8080:80 -p 8000-8010:90 -P --expose 7000-7001 busybox",
        {
            "ExposedPorts": {
                "53/udp": {},
                "7000/tcp": {},
                "7001/tcp": {},
                "80/tcp": {},
                "90/tcp": {},
            },
            "HostConfig": {
                "PortBindings": {
                    "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
                    "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                    "90/tcp": [{"HostIp": "", "HostPort": "8000-8010"}],
                },
                "PublishAllPorts": True,
            },
        },
    ),
    (
        "create -p 8000-8001:80-81 busybox",
        {
            "ExposedPorts": {"80/tcp": {}, "81/tcp": {}},
            "HostConfig": {
                "PortBindings": {
                    "80/tcp": [{"HostIp": "", "HostPort": "8000"}],
                    "81/tcp": [{"HostIp": "", "HostPort": "8001"}],
                }
            },
        },
    ),
    (
        "create --dns 1.1.1.1 --dns 0:0::1 --dns-search example.com. --dns-option ndots:2 "
        "--add-host db:10.0.0.2 --add-host gw=host-gateway busybox",
        {
            "HostConfig": {
                "Dns": ["1.1.1.1", "::1"],
                "DnsOptions": ["ndots:2"],
                "DnsSearch": ["example.com"],
                "ExtraHosts": ["db:10.0.0.2", "gw:host-gateway"],
            }
        },
    ),
    (
        "create --network mynet --network-alias web --ip 172.30.0.9 "
        "--mac-address 92:d0:c6:0a:29:33 busybox",
        {
            "HostConfig": {"NetworkMode": "mynet"},
            "NetworkingConfig": {
                "EndpointsConfig": {
                    "mynet": {
                        "IPAMConfig": {"IPv4Address": "172.30.0.9"},
                        "Links": None,
                        "Aliases": ["web"],
                        "MacAddress": "92:d0:c6:0a:29:33",
                        "DriverOpts": None,
                        "GwPriority": 0,
                        "NetworkID": "",
                        "EndpointID": "",
                        "Gateway": "",
                        "IPAddress": "",
                        "IPPrefixLen": 0,
                        "IPv6Gateway": "",
                        "GlobalIPv6Address": "",
                        "GlobalIPv6PrefixLen": 0,
                        "DNSNames": None,
                    },
                    "default": REMOVE,
                }
            },
        },
    ),
    (
        "create --network none busybox",
        {
            "HostConfig": {"NetworkMode": "none"},
            "NetworkingConfig": {"EndpointsConfig": {"default": REMOVE}},
        },
    ),
    (
        "create --network host busybox",
        {
            "HostConfig": {"NetworkMode": "host"},
            "NetworkingConfig": {"EndpointsConfig": {"default": REMOVE}},
        },
    ),
    (
        "create --network container:other busybox",
        {
            "HostConfig": {"NetworkMode": "container:other"},
            "NetworkingConfig": {"EndpointsConfig": {"default": REMOVE}},
        },
    ),
    (
        "create --mac-address 92:d0:c6:0a:29:33 busybox",
        {"NetworkingConfig": {"EndpointsConfig": {"default": {"MacAddress": "92:d0:c6:0a:29:33"}}}},
    ),
    (
        "create --security-opt no-new-privileges --security-opt apparmor=unconfined --security-opt "
        "label=disable --security-opt seccomp=unconfined busybox",
        {
            "HostConfig": {
                "SecurityOpt": [
                    "no-new-privileges",
                    "apparmor=unconfined",
                    "label=disable",
                    "seccomp=unconfined",
                ]
            }
        },
    ),
    (
        "create --security-opt seccomp={seccomp} busybox",
        {"HostConfig": {"SecurityOpt": ['seccomp={"a":1}']}},
    ),
    (
        "create --security-opt systempaths=unconfined busybox",
        {"HostConfig": {"SecurityOpt": [], "MaskedPaths": [], "ReadonlyPaths": []}},
    ),
    ("create --name web busybox", {}),
    ("run -d busybox", {"AttachStdout": False, "AttachStderr": False}),
    ("run -i busybox", {"AttachStdin": True, "OpenStdin": True, "StdinOnce": True}),
    (
        "run --rm -d busybox",
        {"AttachStdout": False, "AttachStderr": False, "HostConfig": {"AutoRemove": True}},
    ),
]

# Where skiff's CLI makes other options of the same command line than dockerd makes of the
# docker CLI's body: (command line, body changes, {option: (from the body, skiff's CLI)}).
# The body's are Docker's: the docker CLI sends capabilities as CAP_ names, and with -i
# attaches stdin whatever -a says; --init=false is sent as false, and dockerd takes a
# PidsLimit of 0 or less as no limit.
DIFFERENCES: list[tuple[str, dict[str, Any], dict[str, tuple[Any, Any]]]] = [
    (
        "create --cap-add NET_ADMIN --cap-drop MKNOD --privileged --read-only --group-add audio "
        "--sysctl net.ipv4.ip_forward=1 --device-cgroup-rule 'c 1:3 mr' busybox",
        {
            "HostConfig": {
                "CapAdd": ["CAP_NET_ADMIN"],
                "CapDrop": ["CAP_MKNOD"],
                "GroupAdd": ["audio"],
                "Privileged": True,
                "ReadonlyRootfs": True,
                "Sysctls": {"net.ipv4.ip_forward": "1"},
                "DeviceCgroupRules": ["c 1:3 mr"],
            }
        },
        {"cap_add": (["CAP_NET_ADMIN"], ["NET_ADMIN"]), "cap_drop": (["CAP_MKNOD"], ["MKNOD"])},
    ),
    (
        "run -i -a stdout busybox",
        {"AttachStdin": True, "AttachStderr": False, "OpenStdin": True, "StdinOnce": True},
        {"attach": (["stdin", "stdout"], ["stdout"])},
    ),
    (
        "run --init=false -d busybox",
        {"AttachStdout": False, "AttachStderr": False, "HostConfig": {"Init": False}},
        {"init": (False, None)},
    ),
    (
        "run --pids-limit -1 -d busybox",
        {"AttachStdout": False, "AttachStderr": False, "HostConfig": {"PidsLimit": -1}},
        {"pids_limit": (0, -1)},
    ),
]


def body(patch: dict[str, Any] | None = None, base: dict[str, Any] | None = None) -> Any:
    """``base`` (BASE by default) with ``patch`` merged in (nested objects merged, REMOVE
    dropping a key)."""
    out = copy.deepcopy(BASE if base is None else base)
    for key, value in (patch or {}).items():
        if value is REMOVE:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = body(value, out[key])
        else:
            out[key] = copy.deepcopy(value)
    return out


def cli_options(command_line: str) -> ContainerOptions:
    """What skiff's CLI makes of a ``docker create``/``docker run`` command line."""
    verb, *args = shlex.split(command_line)
    parser = Parser(verb)
    add_flags(parser, run=verb == "run")
    opts = parser.parse(args, interspersed=False)
    return to_options(opts, opts.args[0], opts.args[1:])


def error_of(request: Any, version: tuple[int, int] = (1, 45)) -> str:
    with pytest.raises(InvalidArgument) as info:
        parse_create_body(request, version=version)
    return str(info.value)


def minimal(**config: Any) -> dict[str, Any]:
    """A body as docker-py sends it: only the fields given (and an image)."""
    return {"Image": "busybox", **config}


@pytest.fixture
def seccomp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("SKIFF_TEST_UNSET_VAR", raising=False)
    path = tmp_path / "profile.json"
    path.write_text('{"a": 1}\n')  # the docker CLI sends it compacted: {"a":1}
    return str(path)


# --- the docker CLI's bodies --------------------------------------------------------------


@pytest.mark.parametrize(("command_line", "patch"), CLI_BODIES, ids=[c for c, _ in CLI_BODIES])
def test_docker_cli_bodies_read_as_skiffs_cli_reads_the_flags(
    command_line: str, patch: dict[str, Any], seccomp_file: str
) -> None:
    command_line = command_line.replace("{seccomp}", seccomp_file)
    expected = cli_options(command_line)
    assert options_from_body(body(patch), expected.name) == expected


@pytest.mark.parametrize(
    ("command_line", "patch", "differences"), DIFFERENCES, ids=[c for c, _, _ in DIFFERENCES]
)
def test_where_skiffs_cli_differs_from_the_docker_cli(
    command_line: str, patch: dict[str, Any], differences: dict[str, tuple[Any, Any]]
) -> None:
    from_body = options_from_body(body(patch)).to_dict()
    from_cli = cli_options(command_line).to_dict()
    for option, (body_value, cli_value) in differences.items():
        assert (from_body.pop(option), from_cli.pop(option)) == (body_value, cli_value)
    assert from_body == from_cli


def test_the_default_body_in_detail() -> None:
    request = parse_create_body(BASE)
    o = request.options
    assert (o.image, o.command, o.entrypoint, o.attach) == (
        "busybox",
        [],
        None,
        ["stdout", "stderr"],
    )
    assert (o.network, o.restart, o.memory_swappiness, o.pids_limit) == ("", RestartPolicy(), -1, 0)
    assert (o.security, o.healthcheck, o.init, o.log_driver) == (None, None, None, "")
    assert (request.warnings, request.networks, request.console_size) == ([], {}, (0, 0))
    assert o.validate(ncpu=1) == []  # what Engine.create calls first


def test_a_body_as_the_json_the_server_parsed() -> None:
    text = json.dumps(body({"HostConfig": {"Memory": 64 << 20}}))
    assert options_from_body(json.loads(text)).memory == 64 << 20


def test_a_docker_py_body() -> None:
    """docker-py 7 sends only what the call gives (``containers.create("busybox", "true",
    ports={80: 8080}, mem_limit="64m", detach=True)``)."""
    o = options_from_body(
        {
            "Image": "busybox",
            "Cmd": ["true"],
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": False,
            "OpenStdin": False,
            "StdinOnce": False,
            "NetworkDisabled": False,
            "ExposedPorts": {"80/tcp": {}},
            "HostConfig": {
                "NetworkMode": "default",
                "Memory": 67108864,
                "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
            },
        },
        "web",
    )
    assert (o.name, o.command, o.attach, o.memory) == ("web", ["true"], [], 64 << 20)
    assert (o.publish, o.expose, o.network) == ([PortBinding(80, "tcp", "", 8080, 8080)], [], "")
    assert o.restart == RestartPolicy("no", 0)


# --- Go's JSON decoder -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        ([], "json: cannot unmarshal array into Go value of type container.CreateRequest"),
        ("busybox", "json: cannot unmarshal string into Go value of type container.CreateRequest"),
        (5, "json: cannot unmarshal number into Go value of type container.CreateRequest"),
        (True, "json: cannot unmarshal bool into Go value of type container.CreateRequest"),
        (
            {"Image": 5},
            "json: cannot unmarshal number into Go struct field CreateRequest.Config.Image of "
            "type string",
        ),
        (
            # what dockerd 28 answers (reported against it by a dockerode user)
            minimal(HostConfig={"Memory": "268435456"}),
            "json: cannot unmarshal string into Go struct field "
            "HostConfig.HostConfig.Resources.Memory of type int64",
        ),
        (
            minimal(HostConfig={"Memory": 1.5}),
            "json: cannot unmarshal number 1.5 into Go struct field "
            "HostConfig.HostConfig.Resources.Memory of type int64",
        ),
        (
            minimal(HostConfig={"Memory": 2**63}),
            "json: cannot unmarshal number 9223372036854775808 into Go struct field "
            "HostConfig.HostConfig.Resources.Memory of type int64",
        ),
        (
            minimal(HostConfig={"BlkioWeight": -1}),
            "json: cannot unmarshal number -1 into Go struct field "
            "HostConfig.HostConfig.Resources.BlkioWeight of type uint16",
        ),
        (
            minimal(HostConfig={"PidsLimit": "max"}),
            "json: cannot unmarshal string into Go struct field "
            "HostConfig.HostConfig.Resources.PidsLimit of type int64",
        ),
        (
            minimal(HostConfig={"Privileged": "true"}),
            "json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Privileged "
            "of type bool",
        ),
        (
            minimal(HostConfig={"PortBindings": {"80/tcp": [{"HostPort": 8080}]}}),
            "json: cannot unmarshal number into Go struct field "
            "PortBinding.HostConfig.PortBindings.HostPort of type string",
        ),
        (
            minimal(HostConfig={"PortBindings": {"80/tcp": {"HostPort": "8080"}}}),
            "json: cannot unmarshal object into Go struct field HostConfig.HostConfig.PortBindings "
            "of type []nat.PortBinding",
        ),
        (
            minimal(HostConfig={"RestartPolicy": "always"}),
            "json: cannot unmarshal string into Go struct field HostConfig.HostConfig.RestartPolicy"
            " of type container.RestartPolicy",
        ),
        (
            minimal(HostConfig={"RestartPolicy": {"Name": 1}}),
            "json: cannot unmarshal number into Go struct field "
            "RestartPolicy.HostConfig.RestartPolicy.Name of type container.RestartPolicyMode",
        ),
        (
            minimal(HostConfig={"NetworkMode": ["bridge"]}),
            "json: cannot unmarshal array into Go struct field HostConfig.HostConfig.NetworkMode "
            "of type container.NetworkMode",
        ),
        (
            minimal(HostConfig={"Binds": "/a:/b"}),
            "json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Binds of "
            "type []string",
        ),
        (
            minimal(HostConfig={"Binds": ["/a:/b", 1]}),
            "json: cannot unmarshal number into Go struct field HostConfig.HostConfig.Binds of "
            "type string",
        ),
        (
            minimal(HostConfig={"Mounts": [{"Type": "bind", "ReadOnly": "yes"}]}),
            "json: cannot unmarshal string into Go struct field Mount.HostConfig.Mounts.ReadOnly "
            "of type bool",
        ),
        (
            minimal(HostConfig={"Mounts": [{"TmpfsOptions": {"Mode": -1}}]}),
            "json: cannot unmarshal number -1 into Go struct field "
            "TmpfsOptions.HostConfig.Mounts.TmpfsOptions.Mode of type fs.FileMode",
        ),
        (
            minimal(HostConfig={"Ulimits": [{"Name": "nofile", "Soft": "1"}]}),
            "json: cannot unmarshal string into Go struct field "
            "Ulimit.HostConfig.Resources.Ulimits.Soft of type int64",
        ),
        (
            minimal(HostConfig={"ConsoleSize": [-1, 80]}),
            "json: cannot unmarshal number -1 into Go struct field "
            "HostConfig.HostConfig.ConsoleSize of type uint",
        ),
        (
            minimal(HostConfig="none"),
            "json: cannot unmarshal string into Go struct field CreateRequest.HostConfig of type "
            "container.HostConfig",
        ),
        (
            minimal(Env="A=1"),
            "json: cannot unmarshal string into Go struct field CreateRequest.Config.Env of type "
            "[]string",
        ),
        (
            minimal(Labels={"a": 1}),
            "json: cannot unmarshal number into Go struct field CreateRequest.Config.Labels of "
            "type string",
        ),
        (
            minimal(ExposedPorts={"80/tcp": "yes"}),
            "json: cannot unmarshal string into Go struct field CreateRequest.Config.ExposedPorts "
            "of type struct {}",
        ),
        (
            minimal(Healthcheck={"Interval": "30s"}),
            "json: cannot unmarshal string into Go struct field "
            "HealthConfig.Config.Healthcheck.Interval of type time.Duration",
        ),
        (
            minimal(StopTimeout="10"),
            "json: cannot unmarshal string into Go struct field CreateRequest.Config.StopTimeout "
            "of type int",
        ),
        (
            minimal(NetworkingConfig={"EndpointsConfig": {"mynet": "x"}}),
            "json: cannot unmarshal string into Go struct field "
            "NetworkingConfig.NetworkingConfig.EndpointsConfig of type network.EndpointSettings",
        ),
        (
            minimal(
                NetworkingConfig={"EndpointsConfig": {"n": {"IPAMConfig": {"IPv4Address": 1}}}}
            ),
            "json: cannot unmarshal number into Go struct field "
            "EndpointIPAMConfig.NetworkingConfig.EndpointsConfig.IPAMConfig.IPv4Address of type "
            "string",
        ),
        # strslice.StrSlice (Cmd, Entrypoint, CapAdd, CapDrop): its own decoder's error
        (
            minimal(Cmd=5),
            "json: cannot unmarshal number into Go struct field CreateRequest.Config.Cmd of type "
            "string",
        ),
        (
            minimal(Entrypoint=["sh", 1]),
            "json: cannot unmarshal array into Go struct field CreateRequest.Config.Entrypoint of "
            "type string",
        ),
        (
            minimal(HostConfig={"CapAdd": {"NET_ADMIN": True}}),
            "json: cannot unmarshal object into Go struct field HostConfig.HostConfig.CapAdd of "
            "type string",
        ),
    ],
)
def test_wrong_types_are_gos_errors(request_body: Any, message: str) -> None:
    assert error_of(request_body) == "invalid JSON: " + message


def test_the_first_wrong_type_is_reported() -> None:
    message = error_of({"Image": 1, "HostConfig": {"Memory": "x"}, "User": 2})
    assert message.endswith("CreateRequest.Config.Image of type string")
    message = error_of({"HostConfig": {"Memory": "x"}, "Image": 1})
    assert message.endswith("HostConfig.HostConfig.Resources.Memory of type int64")


def test_a_strslice_error_ends_the_decode_and_wins() -> None:
    """Go returns a custom unmarshaler's error at once, over the type errors saved before."""
    message = error_of({"Image": 1, "Cmd": 2, "User": 3})
    assert message.endswith("CreateRequest.Config.Cmd of type string")


@pytest.mark.parametrize(
    "request_body",
    [None, {}, {"HostConfig": {"Memory": 1}}, {"NetworkingConfig": {}}, {"Bogus": "busybox"}],
)
def test_a_body_without_config_fields(request_body: Any) -> None:
    assert error_of(request_body) == "config cannot be empty in order to create a container"


def test_one_config_field_even_null_makes_a_config() -> None:
    assert options_from_body({"Image": None}).image == ""
    assert options_from_body({"tty": None}).image == ""


def test_unknown_fields_are_ignored() -> None:
    o = options_from_body(
        minimal(
            Bogus=[1, {"x": None}],
            HostConfig={"Bogus": "x", "KernelMemory": "ignored", "Memory": 64 << 20},
            NetworkingConfig={"Bogus": 1},
        )
    )
    assert o.memory == 64 << 20


def test_keys_match_case_insensitively_as_in_go() -> None:
    o = options_from_body(
        {
            "image": "busybox",
            "CMD": ["true"],
            "hostconfig": {"memory": 64 << 20, "restartpolicy": {"name": "always"}},
            "\u017fTOPSIGNAL": "SIGINT",  # U+017F folds to S in Go
        }
    )
    assert (o.image, o.command, o.memory, o.restart) == (
        "busybox",
        ["true"],
        64 << 20,
        RestartPolicy("always", 0),
    )
    assert o.stop_signal == "SIGINT"
    assert options_from_body({"Image": "a", "image": "b"}).image == "b"  # the last one wins
    assert options_from_body({"image": "b", "Image": "a"}).image == "a"


def test_null_leaves_a_value_and_empties_a_list() -> None:
    o = options_from_body(
        minimal(
            Tty=None,
            Env=None,
            Cmd=None,
            Labels=None,
            StopTimeout=None,
            HostConfig={"Memory": None, "Binds": None, "RestartPolicy": None, "Init": None},
            NetworkingConfig=None,
        )
    )
    assert o == ContainerOptions(image="busybox", restart=RestartPolicy("no", 0))


@pytest.mark.parametrize(
    ("entrypoint", "expected"),
    [
        (None, None),  # the image's
        ([], []),  # none, and the image's CMD (as moby's merge)
        ([""], [""]),  # --entrypoint "": none, nor the image's CMD
        ("", [""]),  # a string is a one-element list
        ("/bin/sh -c", ["/bin/sh -c"]),
        (["sh", None], ["sh", ""]),  # null in a []string is ""
    ],
)
def test_entrypoint(entrypoint: Any, expected: list[str] | None) -> None:
    assert options_from_body(minimal(Entrypoint=entrypoint)).entrypoint == expected


def test_cmd_as_a_string() -> None:
    assert options_from_body(minimal(Cmd="echo hi")).command == ["echo hi"]


def test_null_in_a_map_is_the_empty_string() -> None:
    assert options_from_body(minimal(Labels={"a": None})).labels == {"a": ""}


def test_lone_surrogates_become_the_replacement_character_as_in_go() -> None:
    o = options_from_body(minimal(Labels={"k\ud800": "v\udfff"}, Cmd=["a\ud800", "b"]))
    assert (o.labels, o.command) == ({"k\ufffd": "v\ufffd"}, ["a\ufffd", "b"])


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"Volumes": {"/da\0ta": {}}}, "invalid volumes: a NUL character is not allowed"),
        ({"Env": ["A=\0"]}, "invalid env: a NUL character is not allowed"),
        ({"Labels": {"\0": ""}}, "invalid labels: a NUL character is not allowed"),
    ],
)
def test_nul_characters_are_refused(patch: dict[str, Any], message: str) -> None:
    assert error_of(minimal(**patch)) == message


def test_a_go_array_keeps_its_length() -> None:
    request = parse_create_body(minimal(HostConfig={"ConsoleSize": [24, 80, 5]}))
    assert request.console_size == (24, 80)
    assert parse_create_body(minimal(HostConfig={"ConsoleSize": [24]})).console_size == (24, 0)


# --- the daemon's checks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host_config", "config", "message"),
    [
        (
            {"NetworkMode": "container:"},
            {},
            "Invalid network mode: invalid container format container:<name|id>",
        ),
        (
            {"NetworkMode": "container"},
            {},
            "Invalid network mode: invalid container format container:<name|id>",
        ),
        (
            {"NetworkMode": "container:db"},
            {"Hostname": "web"},
            "conflicting options: hostname and the network mode",
        ),
        (
            {"NetworkMode": "container:db", "Dns": ["1.1.1.1"]},
            {},
            "conflicting options: dns and the network mode",
        ),
        (
            {"NetworkMode": "container:db", "ExtraHosts": ["a:1.2.3.4"]},
            {},
            "conflicting options: custom host-to-IP mapping and the network mode",
        ),
        (
            {"NetworkMode": "container:db", "PublishAllPorts": True},
            {},
            "conflicting options: port publishing and the container type network mode",
        ),
        (
            {"NetworkMode": "container:db"},
            {"ExposedPorts": {"80/tcp": {}}},
            "conflicting options: port exposing and the container type network mode",
        ),
        (
            {"NetworkMode": "container:db", "Links": ["a:b"]},
            {},
            "conflicting options: container type network can't be used with links. This would "
            "result in undefined behavior",
        ),
        (
            {"NetworkMode": "host", "Links": ["a:b"]},
            {},
            "conflicting options: host type networking can't be used with links. This would "
            "result in undefined behavior",
        ),
        (
            {"UTSMode": "host"},
            {"Hostname": "web"},
            "conflicting options: hostname and the UTS mode",
        ),
        (
            {"Isolation": "hyperv"},
            {},
            "Invalid isolation: \"hyperv\" - linux only supports 'default'",
        ),
        (
            {"IOMaximumBandwidth": 1},
            {},
            "Invalid QoS settings: linux does not support configuration of maximum bandwidth",
        ),
        (
            {"IOMaximumIOps": 1},
            {},
            "Invalid QoS settings: linux does not support configuration of maximum IOPs",
        ),
        (
            {"CpuRealtimePeriod": 1000, "CpuRealtimeRuntime": 2000},
            {},
            "cpu real-time runtime cannot be higher than cpu real-time period",
        ),
        (
            {},
            {"WorkingDir": "work"},
            "the working directory 'work' is invalid, it needs to be an absolute path",
        ),
        ({}, {"StopSignal": "SIGFOO"}, "Invalid signal: SIGFOO"),
        ({}, {"Env": ["A=1", "=x"]}, "invalid environment variable: =x"),
        ({}, {"Env": [""]}, "invalid environment variable: "),
        (
            {},
            {"Healthcheck": {"Interval": 999_999}},
            "Interval in Healthcheck cannot be less than 1ms",
        ),
        ({}, {"Healthcheck": {"Timeout": -1}}, "Timeout in Healthcheck cannot be less than 1ms"),
        ({}, {"Healthcheck": {"Retries": -1}}, "Retries in Healthcheck cannot be negative"),
        (
            {},
            {"Healthcheck": {"StartPeriod": 5}},
            "StartPeriod in Healthcheck cannot be less than 1ms",
        ),
        (
            {},
            {"Healthcheck": {"StartInterval": 5}},
            "StartInterval in Healthcheck cannot be less than 1ms",
        ),
        (
            {"AutoRemove": True, "RestartPolicy": {"Name": "always"}},
            {},
            "can't create 'AutoRemove' container with restart policy",
        ),
        (
            {"Mounts": [{"Type": "bind", "Target": "/data"}]},
            {},
            'invalid mount config for type "bind": field Source must not be empty',
        ),
        (
            {"Mounts": [{"Type": "bind", "Source": "/tmp", "Target": "data"}]},
            {},
            "invalid mount config for type \"bind\": invalid mount path: 'data' mount path must "
            "be absolute",
        ),
        (
            {"Mounts": [{"Type": "volume", "Target": "/"}]},
            {},
            'invalid mount config for type "volume": invalid specification: destination can\'t '
            "be '/'",
        ),
        (
            {"Mounts": [{"Type": "volume", "Target": "/v", "ReadOnly": True}]},
            {},
            'invalid mount config for type "volume": must not set ReadOnly mode when using '
            "anonymous volumes",
        ),
        (
            {"Mounts": [{"Type": "npipe", "Target": "/p"}]},
            {},
            'invalid mount config for type "npipe": mount type unknown',
        ),
        (
            {
                "Mounts": [
                    {
                        "Type": "bind",
                        "Source": "/x",
                        "Target": "/y",
                        "BindOptions": {"Propagation": "sideways"},
                    }
                ]
            },
            {},
            'invalid mount config for type "bind": invalid propagation mode: sideways',
        ),
        (
            {"Mounts": [{"Type": "volume", "Target": "/v", "BindOptions": {}}]},
            {},
            'BindOptions must not be specified on mount type "volume"',
        ),
        (
            {"Mounts": [{"Type": "bind", "Source": "/x", "Target": "/v", "VolumeOptions": {}}]},
            {},
            'VolumeOptions must not be specified on mount type "bind"',
        ),
        (
            {"Mounts": [{"Type": "volume", "Target": "/v", "TmpfsOptions": {}}]},
            {},
            'TmpfsOptions must not be specified on mount type "volume"',
        ),
        ({"ExtraHosts": ["db"]}, {}, 'bad format for add-host: "db"'),
        ({"ExtraHosts": ["db:10.0.0"]}, {}, 'invalid IP address in add-host: "10.0.0"'),
        ({"PortBindings": {"80x/tcp": []}}, {}, 'invalid port specification: "80x"'),
        ({"PortBindings": {"80-81/tcp": []}}, {}, 'invalid port specification: "80-81"'),
        ({"PortBindings": {"0/tcp": []}}, {}, 'invalid port specification: "0"'),
        (
            {"PortBindings": {"80/tcp": [{"HostPort": "65536"}]}},
            {},
            'invalid port specification: "65536"',
        ),
        (
            {"PortBindings": {"80/tcp": [{"HostPort": "9-8"}]}},
            {},
            'invalid port specification: "9-8"',
        ),
        ({"PortBindings": {"80/icmp": []}}, {}, "invalid proto: icmp"),
        (
            {"PortBindings": {"80/tcp": [{"HostIp": "localhost", "HostPort": "80"}]}},
            {},
            "invalid IP address: localhost",
        ),
        (
            {"RestartPolicy": {"Name": "sometimes"}},
            {},
            "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', "
            "'on-failure', or 'unless-stopped'",
        ),
        (
            {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}},
            {},
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ),
        (
            {"RestartPolicy": {"MaximumRetryCount": -3}},
            {},
            "invalid restart policy: maximum retry count can only be used with 'on-failure' and "
            "cannot be negative",
        ),
        (
            {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": -1}},
            {},
            "invalid restart policy: maximum retry count cannot be negative",
        ),
        ({"CapAdd": ["net_admin", "FOO"]}, {}, 'invalid CapAdd: unknown capability: "CAP_FOO"'),
        ({"CapDrop": "BAR"}, {}, 'invalid CapDrop: unknown capability: "CAP_BAR"'),
        (
            {"Annotations": {"": "x"}},
            {},
            "invalid Annotations: the empty string is not permitted as an annotation key",
        ),
    ],
)
def test_the_daemons_checks(
    host_config: dict[str, Any], config: dict[str, Any], message: str
) -> None:
    assert error_of(minimal(HostConfig=host_config, **config)) == message


@pytest.mark.parametrize(
    ("host_config", "config", "message"),
    [
        ({"Dns": ["1.1.1"]}, {}, "IP address is not correctly formatted: 1.1.1"),
        ({"DnsSearch": ["-x-"]}, {}, "-x- is not a valid domain"),
        (
            {"Sysctls": {"kernel.domainname": "x"}},
            {},
            "sysctl 'kernel.domainname=x' is not allowed",
        ),
        ({"Sysctls": {"net.a=b": "1"}}, {}, "sysctl 'net.a=b=1' is not allowed"),
        ({"Ulimits": [{"Name": "as", "Soft": 1, "Hard": 1}]}, {}, "invalid ulimit type: as"),
        (
            {"Ulimits": [{"Name": "nofile", "Soft": 2, "Hard": 1}]},
            {},
            "ulimit soft limit must be less than or equal to hard limit: 2 > 1",
        ),
        ({"Devices": [{"PathOnHost": ""}]}, {}, "bad format for path: "),
        (
            {"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "null"}]},
            {},
            "null is not an absolute path",
        ),
        (
            {"Devices": [{"PathOnHost": "/dev/null", "CgroupPermissions": "rwx"}]},
            {},
            "bad mode specified: rwx",
        ),
        ({"DeviceCgroupRules": ["c 1:3"]}, {}, "invalid device cgroup format 'c 1:3'"),
        ({"SecurityOpt": ["apparmor"]}, {}, 'invalid --security-opt 1: "apparmor"'),
        ({"SecurityOpt": ["selinux=x"]}, {}, 'invalid --security-opt 2: "selinux=x"'),
        (
            {"SecurityOpt": ["no-new-privileges=maybe"]},
            {},
            'invalid --security-opt 2: "no-new-privileges=maybe"',
        ),
        (
            {"SecurityOpt": ["systempaths=unconfined"]},
            {},
            'invalid --security-opt 2: "systempaths=unconfined"',
        ),
        (
            {"SecurityOpt": ["seccomp=[1]"]},
            {},
            "decoding seccomp profile failed: json: cannot unmarshal array into Go value of type "
            "seccomp.Seccomp",
        ),
        (
            {"Binds": ["./data:/data"]},
            {},
            'create ./data: "./data" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
            "use absolute path",
        ),
        ({"Binds": ["/a:/b:rw,ro"]}, {}, "invalid mode: rw,ro"),
        (
            {},
            {"Volumes": {"data": {}}},
            "invalid mount config for type \"volume\": invalid mount path: 'data' mount path "
            "must be absolute",
        ),
        ({}, {"ExposedPorts": {"http/tcp": {}}}, 'invalid port specification: "http"'),
        ({}, {"ExposedPorts": {"80/icmp": {}}}, "invalid proto: icmp"),
        (
            {"LogConfig": {"Type": "json-file", "Config": {"max-size=1m": "x"}}},
            {},
            "unknown log opt 'max-size=1m' for json-file log driver",
        ),
        (
            {"StorageOpt": {"size": "10G"}},
            {},
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option",
        ),
        (
            {"DeviceRequests": [{"Count": -1, "Capabilities": [["gpu"]]}]},
            {},
            'could not select device driver "" with capabilities: [[gpu]]',
        ),
    ],
)
def test_what_skiff_must_refuse_at_create(
    host_config: dict[str, Any], config: dict[str, Any], message: str
) -> None:
    """Values the docker CLI checks before sending them, or dockerd only when the container
    starts: a 400 at create, with the message Docker gives where it does."""
    assert error_of(minimal(HostConfig=host_config, **config)) == message


def test_a_seccomp_profile_must_be_json() -> None:
    assert error_of(minimal(HostConfig={"SecurityOpt": ["seccomp={"]})).startswith(
        "decoding seccomp profile failed: "
    )


def test_a_seccomp_profile_nested_too_deep() -> None:
    profile = "[" * 100_000
    message = error_of(minimal(HostConfig={"SecurityOpt": ["seccomp=" + profile]}))
    assert message.startswith("decoding seccomp profile failed: ")


def test_security_options() -> None:
    security = options_from_body(
        minimal(
            HostConfig={
                "SecurityOpt": [
                    "no-new-privileges:false",
                    "disable",
                    "label:user:u",
                    "seccomp=",
                    "apparmor=p",
                ],
                "MaskedPaths": ["/proc/kcore"],
            }
        )
    ).security
    assert security is not None
    assert (security.no_new_privileges, security.labels, security.seccomp) == (
        False,
        ["disable", "user:u"],
        None,
    )
    assert (security.apparmor, security.masked_paths, security.readonly_paths) == (
        "p",
        ["/proc/kcore"],
        None,
    )


def test_mounts_from_the_api() -> None:
    o = options_from_body(
        minimal(
            HostConfig={
                "Mounts": [
                    {
                        "Type": "bind",
                        "Source": "/tmp/../tmp/",
                        "Target": "/data/",
                        "ReadOnly": True,
                        "BindOptions": {"ReadOnlyForceRecursive": True, "Propagation": "rprivate"},
                    },
                    {
                        "Type": "volume",
                        "Source": "vol",
                        "Target": "/v",
                        "VolumeOptions": {"DriverConfig": {"Name": "local"}},
                    },
                    {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20}},
                ]
            }
        )
    )
    assert o.mounts == [
        MountSpec(
            "bind", "/data", "/tmp", readonly=True, propagation="rprivate", recursive="readonly"
        ),
        MountSpec("volume", "/v", "vol", volume_driver="local"),
        MountSpec("tmpfs", "/t", tmpfs_size=1 << 20),
    ]


def test_bind_options_that_conflict() -> None:
    bind = {"Type": "bind", "Source": "/x", "Target": "/y", "ReadOnly": True}
    message = error_of(
        minimal(
            HostConfig={
                "Mounts": [
                    bind
                    | {
                        "BindOptions": {
                            "ReadOnlyNonRecursive": True,
                            "ReadOnlyForceRecursive": True,
                        }
                    }
                ]
            }
        )
    )
    assert message == (
        "mount options conflict: ReadOnlyNonRecursive && BindOptions.ReadOnlyForceRecursive"
    )


def test_volume_driver_names_the_driver_of_named_volumes() -> None:
    o = options_from_body(
        minimal(
            Volumes={"/anon": {}}, HostConfig={"Binds": ["vol:/v", "/h:/b"], "VolumeDriver": "x"}
        )
    )
    assert [(v.type, v.source, v.volume_driver) for v in o.volumes] == [
        ("volume", "vol", "x"),
        ("bind", "/h", ""),
        ("volume", "", ""),
    ]


def test_published_ports_are_not_exposed_again() -> None:
    o = options_from_body(
        minimal(
            ExposedPorts={"80/tcp": {}, "7000-7001/udp": {}, "90": {}, "91/SCTP": {}},
            HostConfig={"PortBindings": {"80/tcp": None, "81/TCP": [{"HostPort": "8081/tcp"}]}},
        )
    )
    assert o.publish == [PortBinding(81, "tcp", "", 8081, 8081)]
    assert o.expose == ["80/tcp", "7000/udp", "7001/udp", "90/tcp", "91/sctp"]


def test_unsupported_settings_are_warned_about() -> None:
    request = parse_create_body(
        minimal(
            HostConfig={
                "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1}],
                "BlkioWeightDevice": [None],
                "Links": ["db:db"],
            }
        )
    )
    assert request.warnings == [
        "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. "
        "Weight-device discarded.",
        "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. "
        "Block I/O BPS read limit discarded.",
        "skiff does not support legacy links: Links discarded (connect the containers to a "
        "user-defined network to reach them by name).",
    ]


def test_log_options_of_the_none_driver_are_ignored() -> None:
    o = options_from_body(minimal(HostConfig={"LogConfig": {"Type": "none", "Config": {"a": "b"}}}))
    assert (o.log_driver, o.log_opts) == ("none", {})


def test_pids_limit_of_zero_or_less_is_none() -> None:
    for limit in (0, -1, -100, None):
        assert options_from_body(minimal(HostConfig={"PidsLimit": limit})).pids_limit == 0


# --- networks -----------------------------------------------------------------------------


def endpoints(**settings: Any) -> dict[str, Any]:
    return {"EndpointsConfig": settings}


def test_the_network_modes() -> None:
    def network(mode: Any, **config: Any) -> str:
        return options_from_body(minimal(HostConfig={"NetworkMode": mode}, **config)).network

    assert [network(m) for m in ("", "default", "bridge", "host", "none", "n1")] == [
        "",
        "",
        "bridge",
        "host",
        "none",
        "n1",
    ]
    assert network("container:db") == "container:db"
    assert network("default", NetworkDisabled=True) == "none"
    assert network("n1", NetworkDisabled=True) == "none"


def test_the_endpoint_of_the_containers_network() -> None:
    request = parse_create_body(
        minimal(
            HostConfig={"NetworkMode": "n1"},
            NetworkingConfig=endpoints(
                n1={"Aliases": ["web"], "IPAMConfig": {"IPv4Address": "10.1.0.5"}},
                n2={"Aliases": ["www"], "MacAddress": "02:42:ac:11:00:04"},
                n3={},
            ),
        )
    )
    o = request.options
    assert (o.network, o.network_aliases, o.ip, o.mac_address) == ("n1", ["web"], "10.1.0.5", "")
    assert request.networks == {
        "n2": EndpointConfig(["www"], "", "02:42:ac:11:00:04"),
        "n3": EndpointConfig(),
    }


def test_endpoints_in_container_mode_are_ignored() -> None:
    request = parse_create_body(
        minimal(HostConfig={"NetworkMode": "container:db"}, NetworkingConfig=endpoints(n1={}))
    )
    assert (request.options.network, request.networks) == ("container:db", {})


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (
            "host",
            "container sharing network namespace with another container or host cannot be "
            "connected to any other network",
        ),
        (
            "none",
            "container cannot be connected to multiple networks with one of the networks in "
            "private (none) mode",
        ),
    ],
)
def test_no_other_network_with_host_or_none(mode: str, message: str) -> None:
    assert (
        error_of(minimal(HostConfig={"NetworkMode": mode}, NetworkingConfig=endpoints(n1={})))
        == message
    )


@pytest.mark.parametrize(
    ("networking", "message"),
    [
        (endpoints(n1=None), "invalid config for network n1: EndpointsConfig is nil"),
        (
            endpoints(default={"Aliases": ["a"]}),
            "invalid config for network bridge: invalid endpoint settings:\n"
            "network-scoped alias is supported only for containers in user defined networks",
        ),
        (
            endpoints(bridge={"IPAMConfig": {"IPv4Address": "172.17.0.9"}}),
            "invalid config for network bridge: invalid endpoint settings:\n"
            "user specified IP address is supported on user defined networks only",
        ),
        (
            endpoints(n1={"IPAMConfig": {"IPv4Address": "::1"}}),
            "invalid config for network n1: invalid endpoint settings:\ninvalid IPv4 address: ::1",
        ),
        (
            endpoints(n1={"IPAMConfig": {"IPv4Address": "0.0.0.0"}}),
            "invalid config for network n1: invalid endpoint settings:\n"
            "invalid IPv4 address: 0.0.0.0",
        ),
        (
            endpoints(n1={"IPAMConfig": {"IPv6Address": "10.0.0.1", "LinkLocalIPs": ["x"]}}),
            "invalid config for network n1: invalid endpoint settings:\n"
            "* invalid IPv6 address: 10.0.0.1\n* invalid link-local IP address: x",
        ),
        (
            endpoints(n1={"MacAddress": "02:42"}),
            "invalid config for network n1: invalid MAC address 02:42",
        ),
    ],
)
def test_endpoint_settings_are_checked(networking: dict[str, Any], message: str) -> None:
    assert error_of(minimal(NetworkingConfig=networking)) == message


# --- API versions -------------------------------------------------------------------------


def test_the_container_wide_mac_address_is_deprecated() -> None:
    request = parse_create_body(minimal(MacAddress="02:42:ac:11:00:04"))
    assert request.options.mac_address == "02:42:ac:11:00:04"
    assert request.warnings == [MAC_DEPRECATED]
    request = parse_create_body(
        minimal(
            MacAddress="02:42:ac:11:00:04",
            HostConfig={"NetworkMode": "n1"},
            NetworkingConfig=endpoints(n1={"MacAddress": "02:42:ac:11:00:04"}),
        )
    )
    assert (request.options.mac_address, request.warnings) == (
        "02:42:ac:11:00:04",
        [MAC_DEPRECATED],
    )
    request = parse_create_body(
        minimal(MacAddress="02:42:ac:11:00:04", HostConfig={"NetworkMode": "none"})
    )
    assert (request.options.mac_address, request.warnings) == ("", [MAC_DEPRECATED])


@pytest.mark.parametrize(
    ("networking", "message"),
    [
        (
            endpoints(n2={}),
            "if a container-wide MAC address is supplied, HostConfig.NetworkMode must match the "
            "identity of a network in NetworkSettings.Networks",
        ),
        (
            endpoints(n1={"MacAddress": "02:42:ac:11:00:05"}),
            "the container-wide MAC address must match the endpoint-specific MAC address for the "
            "main network, or be left empty",
        ),
    ],
)
def test_a_container_wide_mac_address_that_conflicts(
    networking: dict[str, Any], message: str
) -> None:
    request_body = minimal(
        MacAddress="02:42:ac:11:00:04",
        HostConfig={"NetworkMode": "n1"},
        NetworkingConfig=networking,
    )
    assert error_of(request_body) == message


def test_before_1_44_the_mac_address_is_the_containers() -> None:
    old = (1, 43)
    o = parse_create_body(minimal(MacAddress="02:42:ac:11:00:04"), version=old).options
    assert o.mac_address == "02:42:ac:11:00:04"
    o = parse_create_body(
        minimal(NetworkingConfig=endpoints(bridge={"MacAddress": "02:42:ac:11:00:04"})), version=old
    ).options
    assert o.mac_address == ""  # the old API had no such field
    message = error_of(
        minimal(MacAddress="02:42:ac:11:00:04", HostConfig={"NetworkMode": "host"}), old
    )
    assert message == "conflicting options: mac-address and the network mode"


def test_before_1_44_one_network_only() -> None:
    request_body = minimal(
        HostConfig={"NetworkMode": "n1"}, NetworkingConfig=endpoints(n1={}, n2={})
    )
    assert error_of(request_body, (1, 43)) == (
        "Container cannot be created with multiple network endpoints: n1, n2"
    )
    assert parse_create_body(request_body, version=(1, 44)).networks == {"n2": EndpointConfig()}


def test_before_1_44_read_only_binds_are_not_recursively_read_only() -> None:
    request_body = minimal(
        HostConfig={
            "Binds": ["/a:/b:ro"],
            "Mounts": [{"Type": "bind", "Source": "/x", "Target": "/y", "ReadOnly": True}],
        }
    )
    old = options_from_body(request_body, version=(1, 43))
    assert [m.recursive for m in [*old.volumes, *old.mounts]] == ["writable", "writable"]
    new = options_from_body(request_body)
    assert [m.recursive for m in [*new.volumes, *new.mounts]] == ["enabled", "enabled"]
    force = {"ReadOnlyForceRecursive": True, "Propagation": "rprivate"}
    request_body["HostConfig"]["Mounts"][0]["BindOptions"] = force
    assert error_of(request_body, (1, 43)) == (
        "BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer"
    )


def test_before_1_44_no_start_interval() -> None:
    request_body = minimal(Healthcheck={"Test": ["CMD", "true"], "StartInterval": 5_000_000})
    old = options_from_body(request_body, version=(1, 43)).healthcheck
    assert old is not None and old.start_interval == 0
    new = options_from_body(request_body).healthcheck
    assert new is not None and new.start_interval == 5_000_000


def test_before_1_45_no_subpath() -> None:
    mount = {"Type": "volume", "Source": "v", "Target": "/v", "VolumeOptions": {"Subpath": "a"}}
    request_body = minimal(HostConfig={"Mounts": [mount]})
    assert error_of(request_body, (1, 44)) == "VolumeOptions.Subpath needs API v1.45 or newer"
    assert options_from_body(request_body).mounts[0].volume_subpath == "a"


def test_before_1_43_no_annotations() -> None:
    request_body = minimal(HostConfig={"Annotations": {"a": "b"}})
    assert options_from_body(request_body, version=(1, 42)).annotations == {}
    assert options_from_body(request_body, version=(1, 43)).annotations == {"a": "b"}


def test_before_1_42_options_of_another_mount_type_are_dropped() -> None:
    mount = {"Type": "bind", "Source": "/x", "Target": "/y", "VolumeOptions": {"NoCopy": True}}
    request_body = minimal(HostConfig={"Mounts": [mount], "ConsoleSize": [24, 80]})
    request = parse_create_body(request_body, version=(1, 41))
    assert (request.options.mounts[0].nocopy, request.console_size) == (False, (0, 0))
    volume = {"Type": "volume", "Target": "/v", "BindOptions": {}}
    assert error_of(minimal(HostConfig={"Mounts": [volume]}), (1, 41)) == (
        'invalid mount config for type "volume": field BindOptions must not be specified'
    )


def test_before_1_40_ipc_is_shareable_and_binds_recursive() -> None:
    mount = {"Type": "bind", "Source": "/x", "Target": "/y", "BindOptions": {"NonRecursive": True}}
    request_body = minimal(HostConfig={"Mounts": [mount]})
    old = options_from_body(request_body, version=(1, 39))
    assert (old.ipc, old.mounts[0].recursive) == ("shareable", "enabled")
    new = options_from_body(request_body)
    assert (new.ipc, new.mounts[0].recursive) == ("", "disabled")


def test_before_1_25_auto_remove_is_the_clients() -> None:
    request_body = minimal(HostConfig={"AutoRemove": True})
    assert options_from_body(request_body, version=(1, 24)).auto_remove is False
    assert options_from_body(request_body, version=(1, 25)).auto_remove is True
