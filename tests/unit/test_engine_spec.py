"""``build_spec``: flag sets and image configs -> Docker's OCI config (moby's rules)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from skiff.engine import options as opt
from skiff.engine.environment import merge_env, replace_or_append_env
from skiff.engine.options import ContainerOptions, MountSpec
from skiff.engine.seccomp_profile import allowed_syscalls
from skiff.engine.spec import (
    DEFAULT_CAPABILITIES,
    MASKED_PATHS,
    READONLY_PATHS,
    bind_mount,
    build_spec,
    command_line,
    merge_tmpfs_options,
    tmpfs_data,
    tmpfs_mount,
)
from skiff.engine.userinfo import ResolvedUser
from skiff.errors import EngineError, InvalidArgument

CID = "0123456789abcdef" * 4
ROOT = ResolvedUser(0, 0, [0], "/root")
TINI = "/usr/bin/tini-static"
DEFAULT_DESTINATIONS = [
    "/proc",
    "/dev",
    "/dev/pts",
    "/sys",
    "/sys/fs/cgroup",
    "/dev/mqueue",
    "/dev/shm",
]


def spec_of(
    image: dict[str, Any] | None = None,
    extra: list[dict[str, Any]] | None = None,
    user: ResolvedUser = ROOT,
    **values: Any,
) -> dict[str, Any]:
    values.setdefault("command", ["sleep", "1"])
    namespace_paths = values.pop("namespace_paths", None)
    options = ContainerOptions(**values)
    return build_spec(
        image or {},
        options,
        "/rootfs",
        CID,
        extra or [],
        user=user,
        init_path=TINI,
        arch="amd64",
        kernel=(6, 18),
        nofile_hard=20000,
        unified_cgroups=False,
        namespace_paths=namespace_paths,
    )


def mount_at(spec: dict[str, Any], destination: str) -> dict[str, Any]:
    (mount,) = [m for m in spec["mounts"] if m["destination"] == destination]
    return mount


def test_defaults() -> None:
    spec = spec_of()
    process, linux = spec["process"], spec["linux"]
    assert process["args"] == ["sleep", "1"]
    assert process["env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        f"HOSTNAME={CID[:12]}",
        "HOME=/root",
    ]
    assert process["cwd"] == "/"
    assert process["user"] == {"uid": 0, "gid": 0, "additionalGids": [0]}
    caps = process["capabilities"]
    assert caps == {
        kind: list(DEFAULT_CAPABILITIES) for kind in ("bounding", "effective", "permitted")
    }
    assert process["oomScoreAdj"] == 0
    assert "rlimits" not in process and "terminal" not in process
    assert "noNewPrivileges" not in process
    assert spec["hostname"] == CID[:12]
    assert spec["root"] == {"path": "/rootfs"}
    assert [m["destination"] for m in spec["mounts"]] == DEFAULT_DESTINATIONS
    assert mount_at(spec, "/dev/shm")["options"] == [
        "nosuid",
        "noexec",
        "nodev",
        "mode=1777",
        "size=67108864",
    ]
    assert linux["namespaces"] == [{"type": t} for t in ("mount", "network", "uts", "pid", "ipc")]
    assert linux["maskedPaths"] == list(MASKED_PATHS)
    assert "/sys/devices/virtual/powercap" in linux["maskedPaths"]
    assert linux["readonlyPaths"] == list(READONLY_PATHS)
    assert linux["cgroupsPath"] == f"/skiff/{CID}"
    resources = linux["resources"]
    assert resources["memory"] == {"disableOOMKiller": False}
    assert resources["cpu"] == {"shares": 0}
    assert resources["blockIO"] == {"weight": 0}
    assert "pids" not in resources
    assert resources["devices"][0] == {"allow": False, "access": "rwm"}
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"} in resources[
        "devices"
    ]
    assert resources["devices"][-1] == {
        "allow": False,
        "type": "c",
        "major": 10,
        "minor": 229,
        "access": "rwm",
    }
    assert "devices" not in linux
    assert linux["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert "mount" not in allowed_syscalls(linux["seccomp"])
    assert "annotations" not in spec
    json.dumps(spec)  # JSON all through


def test_network_sysctls_only_for_a_private_network() -> None:
    sysctls = spec_of()["linux"]["sysctl"]
    assert sysctls == {
        "net.ipv4.ping_group_range": "0 2147483647",
        "net.ipv4.ip_unprivileged_port_start": "0",
    }
    assert spec_of(network="host")["linux"]["sysctl"] == {}
    user = spec_of(
        sysctls={"net.ipv4.ip_unprivileged_port_start": "1024"}, domainname="example.org"
    )
    assert user["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"] == "1024"
    assert user["linux"]["sysctl"]["kernel.domainname"] == "example.org"


# --- the image and the command line -----------------------------------------------------

IMAGE = {
    "config": {
        "Entrypoint": ["echo", "ep"],
        "Cmd": ["c1"],
        "Env": ["PATH=/bin:/x", "FOO=img", "BAR=img"],
        "WorkingDir": "/srv",
        "User": "app",
    }
}


@pytest.mark.parametrize(
    ("entrypoint", "command", "args"),
    [
        (None, [], ["echo", "ep", "c1"]),
        (None, ["x", "y"], ["echo", "ep", "x", "y"]),
        ([""], ["a", "b"], ["a", "b"]),
        (["sh -c"], [], ["sh -c"]),  # one word, and the image's CMD is dropped
        (["sh"], ["-c", "true"], ["sh", "-c", "true"]),
        ([], [], ["c1"]),  # an empty (not absent) entrypoint: no ENTRYPOINT, image CMD
    ],
)
def test_entrypoint_and_cmd(
    entrypoint: list[str] | None, command: list[str], args: list[str]
) -> None:
    options = ContainerOptions(entrypoint=entrypoint, command=command)
    assert command_line(IMAGE["config"], options) == args


def test_no_command() -> None:
    with pytest.raises(InvalidArgument, match=r"^No command specified$"):
        command_line({}, ContainerOptions())
    with pytest.raises(InvalidArgument, match=r"^No command specified$"):
        command_line(IMAGE["config"], ContainerOptions(entrypoint=[""]))


def test_image_config_applies() -> None:
    spec = spec_of(IMAGE, command=[], user=ResolvedUser(1000, 1000, [1000], "/home/app"))
    process = spec["process"]
    assert process["args"] == ["echo", "ep", "c1"]
    assert process["cwd"] == "/srv"
    assert process["env"] == [
        "PATH=/bin:/x",
        f"HOSTNAME={CID[:12]}",
        "FOO=img",
        "BAR=img",
        "HOME=/home/app",
    ]


def test_user_env_over_image_env() -> None:
    spec = spec_of(IMAGE, env=["FOO", "BAR=u", "PATH=/p", "HOME=/h"], tty=True)
    assert spec["process"]["env"] == [
        "PATH=/p",
        f"HOSTNAME={CID[:12]}",
        "TERM=xterm",
        "BAR=u",
        "HOME=/h",
    ]


def test_env_helpers() -> None:
    assert merge_env(["A=1", "B"], ["B=img", "C=img"]) == ["A=1", "B", "C=img"]
    assert replace_or_append_env(["PATH=/x", "HOSTNAME=h"], ["HOSTNAME", "A=1", "PATH=/y"]) == [
        "PATH=/y",
        "A=1",
    ]


def test_workdir() -> None:
    assert spec_of(workdir="/a/../b/")["process"]["cwd"] == "/b"
    with pytest.raises(InvalidArgument, match="the working directory 'rel' is invalid"):
        spec_of({"WorkingDir": "rel"})


def test_hostname() -> None:
    assert spec_of(hostname="box")["hostname"] == "box"
    uts_host = spec_of(uts="host")
    assert "hostname" not in uts_host
    assert f"HOSTNAME={CID[:12]}" in uts_host["process"]["env"]
    assert {"type": "uts"} not in uts_host["linux"]["namespaces"]


# --- users and capabilities ---------------------------------------------------------------


def test_non_root_user_keeps_only_the_bounding_set() -> None:
    spec = spec_of(
        user=ResolvedUser(1000, 1000, [1000], "/"), cap_add=["SYS_ADMIN"], cap_drop=["NET_RAW"]
    )
    expected = [c for c in DEFAULT_CAPABILITIES if c != "CAP_NET_RAW"] + ["CAP_SYS_ADMIN"]
    assert spec["process"]["capabilities"] == {"bounding": expected}
    assert spec["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000]}
    # CAP_SYS_ADMIN opens the capability-gated syscalls.
    assert "mount" in allowed_syscalls(spec["linux"]["seccomp"])


@pytest.mark.parametrize(
    ("add", "drop", "expected"),
    [
        # Dropped from the defaults first, then added (at the end).
        (["chown"], ["chown"], [*DEFAULT_CAPABILITIES[1:], "CAP_CHOWN"]),
        ([], ["ALL"], []),
        (["kill"], ["ALL"], ["CAP_KILL"]),
        (["ALL"], ["chown"], [c for c in opt.host_capabilities() if c != "CAP_CHOWN"]),
        (
            ["cap_sys_time", "NET_ADMIN"],
            [],
            [*DEFAULT_CAPABILITIES, "CAP_SYS_TIME", "CAP_NET_ADMIN"],
        ),
    ],
)
def test_cap_add_drop(add: list[str], drop: list[str], expected: list[str]) -> None:
    assert spec_of(cap_add=add, cap_drop=drop)["process"]["capabilities"]["bounding"] == expected


def test_unknown_capability() -> None:
    with pytest.raises(InvalidArgument, match='unknown capability: "CAP_NOPE"'):
        spec_of(cap_add=["nope"])


# --- resources, rlimits --------------------------------------------------------------------


def test_memory_pids_cpus() -> None:
    resources = spec_of(memory=64 << 20, pids_limit=10, nano_cpus=500_000_000)["linux"]["resources"]
    assert resources["memory"] == {"limit": 64 << 20, "swap": 128 << 20, "disableOOMKiller": False}
    assert resources["pids"] == {"limit": 10}
    assert resources["cpu"] == {"shares": 0, "period": 100000, "quota": 50000}


def test_every_resource() -> None:
    resources = spec_of(
        memory=20 << 20,
        memory_reservation=10 << 20,
        memory_swap=40 << 20,
        memory_swappiness=10,
        oom_kill_disable=True,
        cpu_shares=512,
        cpuset_cpus="0",
        cpuset_mems="0",
        cpu_period=50000,
        cpu_quota=25000,
        blkio_weight=300,
    )["linux"]["resources"]
    assert resources["memory"] == {
        "limit": 20 << 20,
        "reservation": 10 << 20,
        "swap": 40 << 20,
        "swappiness": 10,
        "disableOOMKiller": True,
    }
    assert resources["cpu"] == {
        "shares": 512,
        "cpus": "0",
        "mems": "0",
        "period": 50000,
        "quota": 25000,
    }
    assert resources["blockIO"] == {"weight": 300}


def test_unlimited_swap_and_pids() -> None:
    resources = spec_of(memory=20 << 20, memory_swap=-1, pids_limit=-1)["linux"]["resources"]
    assert "swap" not in resources["memory"]
    assert "pids" not in resources


def test_rlimits_and_the_nofile_clamp() -> None:
    spec = spec_of(
        ulimits=[
            opt.Ulimit("nofile", 1048576, 1048576),
            opt.Ulimit("nproc", 500, 600),
            opt.Ulimit("core", -1, -1),
        ]
    )
    assert spec["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 20000},
        {"type": "RLIMIT_NPROC", "hard": 600, "soft": 500},
        {"type": "RLIMIT_CORE", "hard": 2**64 - 1, "soft": 2**64 - 1},
    ]
    small = spec_of(ulimits=[opt.Ulimit("nofile", 1024, 2048)])
    assert small["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024}]


# --- security --------------------------------------------------------------------------------


def test_privileged() -> None:
    spec = spec_of(privileged=True)
    assert spec["process"]["capabilities"]["bounding"] == opt.host_capabilities()
    linux = spec["linux"]
    assert "seccomp" not in linux
    assert "maskedPaths" not in linux and "readonlyPaths" not in linux
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    paths = {d["path"] for d in linux["devices"]}
    assert "/dev/null" in paths and "/dev/console" not in paths
    assert not any(p.startswith(("/dev/pts/", "/dev/shm/")) for p in paths)
    assert "ro" not in mount_at(spec, "/sys")["options"]
    assert "ro" not in mount_at(spec, "/sys/fs/cgroup")["options"]


def test_privileged_keeps_an_explicit_profile() -> None:
    profile = json.dumps({"defaultAction": "SCMP_ACT_LOG"})
    spec = spec_of(privileged=True, security=opt.SecurityOptions(seccomp=profile))
    assert spec["linux"]["seccomp"] == {"defaultAction": "SCMP_ACT_LOG"}


def test_seccomp_choices() -> None:
    assert "seccomp" not in spec_of(security=opt.SecurityOptions(seccomp="unconfined"))["linux"]
    builtin = spec_of(security=opt.SecurityOptions(seccomp="builtin"))["linux"]["seccomp"]
    assert builtin == spec_of()["linux"]["seccomp"]
    traced = spec_of(cap_add=["SYS_PTRACE"])["linux"]["seccomp"]
    assert "kcmp" in allowed_syscalls(traced)


def test_no_new_privileges_and_systempaths() -> None:
    security = opt.parse_security_opts(["no-new-privileges", "systempaths=unconfined"])
    spec = spec_of(security=security)
    assert spec["process"]["noNewPrivileges"] is True
    assert "maskedPaths" not in spec["linux"] and "readonlyPaths" not in spec["linux"]


def test_tty() -> None:
    spec = spec_of(tty=True)
    assert spec["process"]["terminal"] is True
    assert "TERM=xterm" in spec["process"]["env"]


# --- init, namespaces ---------------------------------------------------------------------------


def test_init() -> None:
    spec = spec_of(init=True)
    assert spec["process"]["args"] == ["/sbin/docker-init", "--", "sleep", "1"]
    assert spec["mounts"][-1] == {
        "destination": "/sbin/docker-init",
        "type": "bind",
        "source": TINI,
        "options": ["bind", "ro"],
    }
    # Not in the host's (or another container's) pid namespace: there is an init there.
    assert spec_of(init=True, pid="host")["process"]["args"] == ["sleep", "1"]


def test_namespaces() -> None:
    spec = spec_of(cgroupns="private", pid="host", ipc="none")
    assert spec["linux"]["namespaces"] == [
        {"type": "mount"},
        {"type": "network"},
        {"type": "uts"},
        {"type": "ipc"},
        {"type": "cgroup"},
    ]
    assert "/dev/shm" not in [m["destination"] for m in spec["mounts"]]
    v2 = build_spec({}, ContainerOptions(command=["x"]), "/r", CID, user=ROOT, unified_cgroups=True)
    assert {"type": "cgroup"} in v2["linux"]["namespaces"]
    host_cgroup = build_spec(
        {},
        ContainerOptions(command=["x"], cgroupns="host"),
        "/r",
        CID,
        user=ROOT,
        unified_cgroups=True,
    )
    assert {"type": "cgroup"} not in host_cgroup["linux"]["namespaces"]


def test_host_network_and_ipc() -> None:
    spec = spec_of(network="host", ipc="host")
    types = [ns["type"] for ns in spec["linux"]["namespaces"]]
    assert "network" not in types and "ipc" not in types
    import os

    assert spec["hostname"] == os.uname().nodename
    assert mount_at(spec, "/dev/shm") == bind_mount("/dev/shm", "/dev/shm")


def test_joining_other_containers() -> None:
    paths = {"network": "/proc/9/ns/net", "ipc": "/proc/9/ns/ipc", "pid": "/proc/9/ns/pid"}
    spec = spec_of(
        network="container:db", ipc="container:db", pid="container:db", namespace_paths=paths
    )
    joined = {ns["type"]: ns.get("path") for ns in spec["linux"]["namespaces"]}
    assert joined == {
        "mount": None,
        "network": paths["network"],
        "uts": None,
        "pid": paths["pid"],
        "ipc": paths["ipc"],
    }
    assert spec["linux"]["sysctl"] == {}
    with pytest.raises(EngineError, match="no pid namespace path"):
        spec_of(pid="container:db")


# --- mounts ---------------------------------------------------------------------------------


def test_read_only_root_and_tmpfs() -> None:
    spec = spec_of(read_only=True, tmpfs={"/run": ""}, init=True)
    assert spec["root"] == {"path": "/rootfs", "readonly": True}
    assert mount_at(spec, "/run")["options"] == ["noexec", "nosuid", "nodev", "rprivate"]
    assert mount_at(spec, "/sys/fs/cgroup")["options"] == ["ro", "nosuid", "noexec", "nodev"]
    assert mount_at(spec, "/sbin/docker-init")["options"] == ["bind", "ro"]
    for writable in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"):
        assert "ro" not in mount_at(spec, writable)["options"]


def test_read_only_root_adds_ro_to_defaults_not_to_user_mounts() -> None:
    extra = [bind_mount("/srv/data", "/data")]
    spec = spec_of(read_only=True, extra=extra)
    assert mount_at(spec, "/data")["options"] == ["rbind", "rprivate"]


def test_tmpfs_options() -> None:
    spec = spec_of(
        tmpfs={"/y": "exec,size=2m", "/z": "ro"},
        mounts=[opt.parse_mount("type=tmpfs,target=/x,tmpfs-size=1m,tmpfs-mode=1777")],
    )
    assert mount_at(spec, "/y")["options"] == ["nosuid", "nodev", "rprivate", "exec", "size=2m"]
    assert mount_at(spec, "/z")["options"] == ["noexec", "nosuid", "nodev", "rprivate", "ro"]
    assert mount_at(spec, "/x")["options"] == [
        "noexec",
        "nosuid",
        "nodev",
        "rprivate",
        "mode=1777",
        "size=1m",
    ]
    with pytest.raises(InvalidArgument) as info:
        spec_of(tmpfs={"/y": "foo"})
    assert str(info.value) == 'invalid tmpfs option ["foo"]'


def test_tmpfs_helpers() -> None:
    assert merge_tmpfs_options(["rw", "noexec", "ro", "size=1", "size=2", "defaults"]) == [
        "noexec",
        "ro",
        "size=2",
    ]
    assert tmpfs_mount("/t", "")["options"] == ["noexec", "nosuid", "nodev", "rprivate"]
    sized = MountSpec("tmpfs", "/t", tmpfs_size=3 << 30, tmpfs_mode=0o700, readonly=True)
    assert tmpfs_data(sized) == "ro,mode=700,size=3g"
    assert tmpfs_data(MountSpec("tmpfs", "/t", tmpfs_size=1000)) == "size=1000"


def test_bind_mounts() -> None:
    assert bind_mount("/a", "/b")["options"] == ["rbind", "rprivate"]
    assert bind_mount("/a", "/b", readonly=True)["options"] == ["rbind", "rro", "rprivate"]
    assert bind_mount("/a", "/b", True, "rslave", "writable")["options"] == [
        "rbind",
        "ro",
        "rslave",
    ]
    assert bind_mount("/a", "/b", False, "", "disabled")["options"] == ["bind", "rprivate"]


def test_user_mounts_override_and_sort() -> None:
    extra = [
        bind_mount("/h/deep", "/a/b/c"),
        bind_mount("/h/shm", "/dev/shm"),
        bind_mount("/h/a", "/a"),
    ]
    spec = spec_of(extra=extra, shm_size=1 << 20)
    destinations = [m["destination"] for m in spec["mounts"]]
    assert destinations == [
        *[d for d in DEFAULT_DESTINATIONS if d != "/dev/shm"],
        "/a",
        "/dev/shm",
        "/a/b/c",
    ]
    dev = spec_of(extra=[bind_mount("/h/dev", "/dev")])
    assert [m["destination"] for m in dev["mounts"]] == ["/proc", "/sys", "/sys/fs/cgroup", "/dev"]


def test_shm_size() -> None:
    assert mount_at(spec_of(shm_size=1 << 20), "/dev/shm")["options"][-1] == "size=1048576"


# --- devices, annotations, cgroups -------------------------------------------------------------


def test_devices() -> None:
    spec = spec_of(
        devices=[opt.parse_device("/dev/null:/dev/mynull:rw")],
        device_cgroup_rules=["c 42:* rm", "b *:* rwm"],
    )
    (device,) = spec["linux"]["devices"]
    assert (device["path"], device["type"], device["major"], device["minor"]) == (
        "/dev/mynull",
        "c",
        1,
        3,
    )
    rules = spec["linux"]["resources"]["devices"]
    assert rules[-3:] == [
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
        {"allow": True, "type": "c", "major": 42, "minor": -1, "access": "rm"},
        {"allow": True, "type": "b", "major": -1, "minor": -1, "access": "rwm"},
    ]
    with pytest.raises(InvalidArgument) as info:
        spec_of(devices=[opt.parse_device("/dev/nope")])
    assert str(info.value) == (
        'error gathering device information while adding custom device "/dev/nope": no such '
        "file or directory"
    )


def test_annotations_and_cgroup_parent() -> None:
    spec = spec_of(annotations={"a": "b"}, cgroup_parent="/mine")
    assert spec["annotations"] == {"a": "b"}
    assert spec["linux"]["cgroupsPath"] == f"/mine/{CID}"


def test_reads_users_from_the_rootfs(tmp_path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\napp:x:7:8::/home/app:/bin/sh\n"
    )
    (rootfs / "etc" / "group").write_text("root:x:0:\nextra:x:9:app\n")
    spec = build_spec(
        {"config": {"User": "app", "Cmd": ["true"]}}, ContainerOptions(), str(rootfs), CID
    )
    assert spec["process"]["user"] == {"uid": 7, "gid": 8, "additionalGids": [8, 9]}
    assert "HOME=/home/app" in spec["process"]["env"]
    assert spec["root"]["path"] == str(rootfs)
