"""dockerd as the oracle of ``build_spec``: the same flags, the same config.json.

Each case runs ``docker create FLAGS busybox:test sleep 600`` and ``docker start`` on the
module's own dockerd (``conftest.dockerd``) and reads the config.json containerd's shim
hands runc (``<exec-root>/containerd/daemon/io.containerd.runtime.v2.task/moby/<id>/``).
A ``runc`` wrapper first on dockerd's PATH keeps a copy of it, because the bundle is gone
when the start fails: ``--privileged`` and ``--cap-add ALL`` do fail here, this machine's
bounding set lacking CAP_SYS_RESOURCE (``unable to apply caps``). The test then
turns the same flags into ``ContainerOptions`` as the CLI would, builds our spec on the
same rootfs (Docker's overlay ``merged`` directory, so the same /etc/passwd) and compares
the fields that matter: namespaces, capabilities, masked and read-only paths, mounts,
env, args, cwd, user, rlimits, resources, devices and their cgroup rules, sysctls,
seccomp, terminal, no_new_privileges, oomScoreAdj, hostname, root.

What is left out or adjusted, and why:

- ``linux.cgroupsPath`` (Docker's parent is ``/docker``, ours ``/skiff``), ``hooks`` (the
  libnetwork hook of the daemon), ``ociVersion`` (the runtime-spec version Docker was
  built with), ``root.path`` (both are the same directory here);
- /etc/resolv.conf, /etc/hostname and /etc/hosts are the daemon's files: they are given
  to ``build_spec`` as the caller's mounts, taken from Docker's spec;
- the dockerd here is Debian's 20.10, ``build_spec`` follows Docker 28, whose masked
  paths add ``/sys/devices/virtual/powercap``, and whose default seccomp profile (our
  ``skiff/data/seccomp-default.json``) dropped io_uring and added newer syscalls: those
  exact differences are asserted; the conversion of one same profile is compared whole
  by handing dockerd our default profile (``--security-opt seccomp=FILE``);
- HOME: Docker leaves it to runc, which sets it from the container's passwd at start;
  ours is in ``process.env``: compared with the HOME of Docker's running process;
- ``--privileged``/``--cap-add ALL``: Docker asks for every capability of the kernel,
  we for those of our bounding set (a container cannot have more, and Docker's start
  fails): CAP_SYS_RESOURCE is the difference here; and 20.10's capability library knows
  none past CAP_AUDIT_READ (Docker 28's does: CAP_PERFMON, CAP_BPF,
  CAP_CHECKPOINT_RESTORE);
- ``--init``: Docker binds ``docker-init`` from PATH (Debian's is a symlink to
  /usr/bin/tini-static), we bind tini-static: the sources are compared resolved.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skiff.engine import options as opt
from skiff.engine.seccomp_profile import DEFAULT_PROFILE_PATH, allowed_syscalls
from skiff.engine.spec import build_spec, default_mounts
from skiff.engine.userinfo import resolve_user_in_rootfs

NETWORK_FILES = ("/etc/resolv.conf", "/etc/hostname", "/etc/hosts")

CASES: dict[str, list[str]] = {
    "defaults": [],
    "user-workdir-env-caps": [
        "-u", "1000:1000", "-w", "/tmp", "-e", "A=B",
        "--cap-add", "SYS_ADMIN", "--cap-drop", "NET_RAW",
    ],
    "memory-pids-cpus": ["-m", "64m", "--pids-limit", "10", "--cpus", "0.5"],
    "read-only-tmpfs": ["--read-only", "--tmpfs", "/run"],
    "privileged": ["--privileged"],
    "no-new-privileges": ["--security-opt", "no-new-privileges"],
    "tty": ["-t"],
    "init": ["--init"],
    "named-user-groups": ["-u", "nobody", "--group-add", "tty", "--group-add", "1234"],
    "cap-all-drop-chown": ["--cap-add", "ALL", "--cap-drop", "chown"],
    "cap-drop-all-add-kill": ["--cap-drop", "ALL", "--cap-add", "kill"],
    "ulimits": ["--ulimit", "nofile=1024:2048", "--ulimit", "nproc=500"],
    "namespaces": ["--cgroupns", "private", "--pid", "host", "--ipc", "none", "--uts", "host"],
    "shm-sysctl-hostname-path": [
        "--shm-size", "1m", "--sysctl", "net.ipv4.ip_forward=1",
        "--hostname", "box", "-e", "PATH=/bin:/x", "--domainname", "example.org",
    ],
    "resources": [
        "-m", "20m", "--memory-reservation", "10m", "--memory-swap", "40m",
        "--memory-swappiness", "10", "--cpu-shares", "512", "--cpuset-cpus", "0",
        "--cpu-period", "50000", "--cpu-quota", "25000", "--oom-kill-disable",
        "--oom-score-adj", "100", "--blkio-weight", "0",
    ],
    "tmpfs-mounts": [
        "--mount", "type=tmpfs,target=/x,tmpfs-size=1m,tmpfs-mode=1777",
        "--tmpfs", "/y:exec,size=2m", "--tmpfs", "/z:ro",
    ],
    "device": ["--device", "/dev/null:/dev/mynull:rw", "--device-cgroup-rule", "c 42:* rm"],
    "seccomp-file-ptrace": [
        "--security-opt", f"seccomp={DEFAULT_PROFILE_PATH}", "--cap-add", "SYS_PTRACE",
    ],
    "seccomp-unconfined": ["--security-opt", "seccomp=unconfined"],
    "systempaths-unconfined": ["--security-opt", "systempaths=unconfined"],
    "entrypoint-env-unset": ["--entrypoint", "sh", "-e", "NOT_IN_ENV", "-e", "PATH"],
    "workdir-clean": ["-w", "/a/../tmp/"],
}  # fmt: skip

# Which arguments follow the flags, per case (the command after the image).
COMMANDS = {"entrypoint-env-unset": ["-c", "sleep 600"]}


INT_FLAGS = (
    "--pids-limit", "--memory-swappiness", "--cpu-shares", "--cpu-period", "--cpu-quota",
    "--oom-score-adj",
)  # fmt: skip


def options_from_flags(flags: list[str], command: list[str]) -> opt.ContainerOptions:
    """The flags as the CLI turns them into ``ContainerOptions`` (the subset used here)."""
    o = opt.ContainerOptions(image="busybox:test", command=command)
    security: list[str] = []
    env: list[str] = []
    args = iter(flags)
    for flag in args:
        if flag in ("-t", "--tty"):
            o.tty = True
            continue
        if flag in ("--read-only", "--privileged", "--init", "--oom-kill-disable"):
            setattr(o, flag[2:].replace("-", "_"), True)
            continue
        value = next(args)
        if flag == "-u":
            o.user = value
        elif flag == "-w":
            o.workdir = value
        elif flag == "-e":
            env.append(opt.parse_env(value, environ=os.environ))
        elif flag == "--cap-add":
            o.cap_add.append(value)
        elif flag == "--cap-drop":
            o.cap_drop.append(value)
        elif flag == "-m":
            o.memory = opt.parse_bytes(value, "-m")
        elif flag == "--memory-reservation":
            o.memory_reservation = opt.parse_bytes(value, flag)
        elif flag == "--memory-swap":
            o.memory_swap = opt.parse_memory_swap(value)
        elif flag == "--shm-size":
            o.shm_size = opt.parse_bytes(value, flag)
        elif flag == "--cpus":
            o.nano_cpus = opt.parse_cpus(value)
        elif flag in INT_FLAGS:
            setattr(o, flag[2:].replace("-", "_"), opt.parse_int(value, flag))
        elif flag == "--blkio-weight":
            o.blkio_weight = opt.parse_uint16(value)
        elif flag == "--cpuset-cpus":
            o.cpuset_cpus = value
        elif flag == "--tmpfs":
            dest, data = opt.parse_tmpfs(value)
            o.tmpfs[dest] = data
        elif flag == "--mount":
            o.mounts.append(opt.parse_mount(value))
        elif flag == "--security-opt":
            security.append(value)
        elif flag == "--group-add":
            o.group_add.append(value)
        elif flag == "--ulimit":
            o.ulimits.append(opt.parse_ulimit(value))
        elif flag in ("--cgroupns", "--pid", "--ipc", "--uts"):
            setattr(o, flag[2:], opt.parse_namespace_mode(flag[2:], value))
        elif flag == "--sysctl":
            key, val = opt.parse_sysctl(value)
            o.sysctls[key] = val
        elif flag == "--hostname":
            o.hostname = value
        elif flag == "--domainname":
            o.domainname = value
        elif flag == "--device":
            o.devices.append(opt.parse_device(value))
        elif flag == "--device-cgroup-rule":
            o.device_cgroup_rules.append(opt.parse_device_cgroup_rule(value))
        elif flag == "--entrypoint":
            o.entrypoint = [value]
        else:
            raise AssertionError(f"flag {flag} not translated")
    o.env = env
    o.security = opt.parse_security_opts(security)
    o.validate()
    return o


RUNC_WRAPPER = """#!/bin/sh
# Keeps a copy of each bundle's config.json, then runs the real runc.
prev=
for arg in "$@"; do
    if [ "$prev" = "--bundle" ] || [ "$prev" = "-b" ]; then
        cp "$arg/config.json" "{records}/$(basename "$arg").json" 2>/dev/null
    fi
    prev=$arg
done
exec {runc} "$@"
"""


@pytest.fixture(scope="module")
def runc_records(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A ``runc`` first on PATH (for the dockerd this module starts) that keeps every
    config.json it is given in the returned directory."""
    base = tmp_path_factory.mktemp("runc-wrapper")
    records = base / "records"
    records.mkdir()
    runc = shutil.which("runc") or "/usr/sbin/runc"
    wrapper = base / "bin" / "runc"
    wrapper.parent.mkdir()
    wrapper.write_text(RUNC_WRAPPER.format(records=records, runc=runc))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    old_path = os.environ["PATH"]
    os.environ["PATH"] = f"{wrapper.parent}:{old_path}"
    try:
        yield records
    finally:
        os.environ["PATH"] = old_path


@pytest.fixture(scope="module")
def dockerd(runc_records: Path, dockerd: Any) -> Any:
    """conftest's dockerd, started after the runc wrapper is on PATH."""
    return dockerd


@pytest.fixture(scope="module")
def docker_run(dockerd: Any, runc_records: Path) -> Iterator[Any]:
    """``run(flags, command)``: Docker's config.json and its process's environment
    (None when the start failed)."""
    created: list[str] = []

    def run(flags: list[str], command: list[str]) -> tuple[dict[str, Any], dict[str, str] | None]:
        cid = dockerd("create", *flags, "busybox:test", *command).strip().splitlines()[-1]
        created.append(cid)
        start = ["docker", "-H", f"unix://{dockerd.socket}", "start", cid]
        started = subprocess.run(start, capture_output=True, timeout=120).returncode == 0
        record = runc_records / f"{cid}.json"
        deadline = time.monotonic() + 30
        while not record.exists():
            assert time.monotonic() < deadline, f"runc never got the bundle of {cid}"
            time.sleep(0.1)
        spec = json.loads(record.read_text())
        if not started:
            return spec, None
        pid = dockerd("inspect", "--format", "{{.State.Pid}}", cid).strip()
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        environ = dict(item.decode().partition("=")[::2] for item in raw if item)
        return spec, environ

    yield run
    if created:
        dockerd("rm", "--force", *created, check=False)


def _ours(
    docker_spec: dict[str, Any], flags: list[str], command: list[str], image_rootfs: Path
) -> dict[str, Any]:
    """Our spec for the flags, on Docker's rootfs (its overlay is unmounted when the start
    failed: the users are then read from the image's files)."""
    options = options_from_flags(flags, command)
    rootfs = docker_spec["root"]["path"]
    user = None
    if not os.path.isdir(os.path.join(rootfs, "etc")):
        user = resolve_user_in_rootfs(str(image_rootfs), options.user, options.group_add)
    network_files = [m for m in docker_spec["mounts"] if m["destination"] in NETWORK_FILES]
    container_id = os.path.basename(docker_spec["linux"]["cgroupsPath"])
    return build_spec({}, options, rootfs, container_id, network_files, user=user)


def _normalise(spec: dict[str, Any]) -> dict[str, Any]:
    spec = json.loads(json.dumps(spec))
    for key in ("hooks", "ociVersion"):
        spec.pop(key, None)
    spec["linux"].pop("cgroupsPath", None)
    spec["linux"].pop("seccomp", None)
    process = spec["process"]
    process["env"] = [e for e in process["env"] if not e.startswith("HOME=")]
    for kind, caps in process["capabilities"].items():
        process["capabilities"][kind] = [c for c in caps if c != MISSING_HERE]
    for mount in spec["mounts"]:
        if mount["destination"] == "/sbin/docker-init":
            mount["source"] = os.path.realpath(mount["source"])
    # Docker takes the user's mounts from maps: those of one depth come in any order.
    defaults = [m["destination"] for m in default_mounts()] + ["/sbin/docker-init"]
    user = [m for m in spec["mounts"] if m["destination"] not in defaults]
    user.sort(key=lambda m: (len(m["destination"].rstrip("/").split("/")), m["destination"]))
    spec["mounts"] = [m for m in spec["mounts"] if m["destination"] in defaults] + user
    masked = spec["linux"].get("maskedPaths")
    if masked:
        spec["linux"]["maskedPaths"] = [p for p in masked if p != "/sys/devices/virtual/powercap"]
    for device in spec["linux"].get("devices") or []:
        device["fileMode"] = device.get("fileMode", 0) & 0o7777
    return spec


# Cases Docker cannot start on this machine (see the module's doc).
FAILS_HERE = {"privileged", "cap-all-drop-chown"}
MISSING_HERE = "CAP_SYS_RESOURCE"
NEWER_CAPS = {"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"}

# Docker 28's default profile against Debian's dockerd 20.10's, for this machine.
PROFILE_ONLY_IN_20_10 = {"io_uring_enter", "io_uring_register", "io_uring_setup"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_build_spec_matches_dockerd(docker_run: Any, busybox_template: Path, case: str) -> None:
    flags = CASES[case]
    command = COMMANDS.get(case, ["sleep", "600"])
    docker_spec, environ = docker_run(flags, command)
    ours = _ours(docker_spec, flags, command, busybox_template)

    # Every capability: 20.10's library knows none past CAP_AUDIT_READ.
    for kind, caps in ours["process"]["capabilities"].items():
        extra = set(caps) - set(docker_spec["process"]["capabilities"][kind])
        assert extra <= NEWER_CAPS
        ours["process"]["capabilities"][kind] = [c for c in caps if c not in extra]

    # HOME: runc's, at start, from the container's passwd.
    home = [e for e in ours["process"]["env"] if e.startswith("HOME=")]
    if environ is not None:
        assert home == [f"HOME={environ['HOME']}"]
    else:
        assert case in FAILS_HERE, "dockerd failed to start the container"

    mine, theirs = _normalise(ours), _normalise(docker_spec)
    # --group-add: dockerd (runc's library) lists them in a Go map's random order
    for spec in (mine, theirs):
        gids = spec["process"]["user"].get("additionalGids")
        if gids:
            spec["process"]["user"]["additionalGids"] = [gids[0], *sorted(gids[1:])]
    for section in ("process", "linux"):
        for key in sorted(set(mine[section]) | set(theirs[section])):
            assert mine[section].get(key) == theirs[section].get(key), (section, key)
    for key in sorted(set(mine) - {"process", "linux"} | set(theirs) - {"process", "linux"}):
        assert mine.get(key) == theirs.get(key), key

    our_seccomp = ours["linux"].get("seccomp")
    docker_seccomp = docker_spec["linux"].get("seccomp")
    if "seccomp=" in " ".join(flags) and "unconfined" not in " ".join(flags):
        # 20.10 drops defaultErrnoRet (1, EPERM: what SCMP_ACT_ERRNO returns anyway).
        assert our_seccomp.pop("defaultErrnoRet") == 1
        assert our_seccomp == docker_seccomp
    elif docker_seccomp is None:
        assert our_seccomp is None
    else:
        for key in ("defaultAction", "architectures"):
            assert our_seccomp[key] == docker_seccomp[key]
        ours_allowed, docker_allowed = (
            allowed_syscalls(our_seccomp),
            allowed_syscalls(docker_seccomp),
        )
        assert docker_allowed - ours_allowed == PROFILE_ONLY_IN_20_10
        added = ours_allowed - docker_allowed
        assert added and all(name not in PROFILE_ONLY_IN_20_10 for name in added)
