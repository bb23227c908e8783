"""The CRI security context through ``skiff cri``, observed where it takes effect: from
inside each container (ExecSync: /proc/self/status, ``id``, what a write or a mount does)
and, where it says more, from the host (the container's process, its cgroup, a published
port). Container fields: run_as_user/group/username, supplemental_groups, privileged,
capabilities, readonly_rootfs, seccomp (RuntimeDefault, Unconfined, Localhost and the
deprecated path forms), no_new_privs, masked and read-only paths, apparmor. Pod fields:
sysctls, hostname, hostNetwork, hostIPC, hostPID, shareProcessNamespace, a TARGET PID
namespace, port mappings, cgroup_parent, and the Linux resources of a container."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from skiff.cri.proto import api_pb2 as cri
from tests.support.cri import (
    TIMEOUT,
    CriServer,
    container_config,
    create_container,
    exec_sync,
    namespaces,
    out,
    pod_config,
    run_pod,
    start_container,
)

DEFAULT_CAPS = 0x00000000A80425FB  # Docker's and containerd's default set
CAP_CHOWN, CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_SYS_ADMIN = 0, 10, 12, 21


class Pod:
    """A running pod of the test's, and its containers made from a security context."""

    def __init__(self, server: CriServer, tmp_path: Path, name: str, **pod: Any) -> None:
        self.server = server
        self.config = pod_config(name, tmp_path, **pod)
        self.id = run_pod(server, self.config)

    def config_for(self, name: str, script: str = "", pid: int = cri.CONTAINER,
                   resources: Any = None, **security: Any) -> Any:  # fmt: skip
        security.setdefault("namespace_options", namespaces(pid))
        linux = cri.LinuxContainerConfig(
            security_context=cri.LinuxContainerSecurityContext(**security), resources=resources
        )
        return container_config(name, *([script] if script else []), linux=linux)

    def run(self, name: str, script: str = "", **security: Any) -> str:
        """A started container (``sleep 3600`` unless ``script``)."""
        config = self.config_for(name, script, **security)
        return start_container(self.server, self.id, self.config, config)

    def refused(self, name: str, **security: Any) -> grpc.RpcError:
        """CreateContainer's error for this security context; no container is left."""
        config = self.config_for(name, **security)
        with pytest.raises(grpc.RpcError) as failed:
            create_container(self.server, self.id, self.config, config)
        assert name not in self.names()
        return failed.value

    def names(self) -> list[str]:
        """The names of the pod's containers, as ListContainers gives them."""
        wanted = cri.ContainerFilter(pod_sandbox_id=self.id)
        request = cri.ListContainersRequest(filter=wanted)
        found = self.server.runtime.ListContainers(request, timeout=TIMEOUT).containers
        return [c.metadata.name for c in found]


def proc_status(server: CriServer, container_id: str, field: str) -> str:
    """A field of /proc/self/status of a process run in the container."""
    return (
        out(server, container_id, f"grep '^{field}:' /proc/self/status").split(None, 1)[1].strip()
    )


def host_pid(server: CriServer, container_id: str) -> int:
    return int(server.skiff.container(container_id)["State"]["Pid"])


def host_status(pid: int, field: str) -> str:
    """A field of /proc/PID/status as the host sees the process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return line.split(None, 1)[1]
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def caps(server: CriServer, container_id: str) -> int:
    return int(proc_status(server, container_id, "CapEff"), 16)


def fails(server: CriServer, container_id: str, script: str) -> str:
    """``script`` must fail in the container: its stderr."""
    reply = exec_sync(server, container_id, "sh", "-c", script)
    assert reply.exit_code != 0, (script, reply.stdout)
    return str(reply.stderr.decode())


def mount_options(mounts: str, target: str) -> list[str]:
    """The options of the last mount on ``target`` in /proc/mounts' text."""
    found = [line.split() for line in mounts.splitlines() if line.split()[1] == target]
    assert found, f"nothing mounted on {target}"
    return found[-1][3].split(",")


NS_LINKS = "for ns in net ipc pid; do readlink /proc/self/ns/$ns; done"


def all_capabilities() -> int:
    """Every capability this host can give: the test's own bounding set (this machine
    has no CAP_SYS_RESOURCE to give)."""
    return int(host_status(os.getpid(), "CapBnd"), 16)


# --- the container's security context ----------------------------------------------------


def test_run_as_user_group_username_and_supplemental_groups(server: CriServer, tmp_path: Path):
    pod = Pod(server, tmp_path, "users")
    numeric = pod.run(
        "numeric",
        run_as_user=cri.Int64Value(value=1000),
        run_as_group=cri.Int64Value(value=2000),
        supplemental_groups=[3000, 4000],
    )
    assert out(server, numeric, "id -u; id -g").split() == ["1000", "2000"]
    assert {"3000", "4000"} <= set(out(server, numeric, "id -G").split())
    # the container's own process too, as the host sees it: real, effective, saved, fs
    pid = host_pid(server, numeric)
    assert host_status(pid, "Uid").split() == ["1000"] * 4
    assert host_status(pid, "Gid").split() == ["2000"] * 4
    assert {"3000", "4000"} <= set(host_status(pid, "Groups").split())
    # no capabilities for a user that is not root
    assert caps(server, numeric) == 0

    # a user by name, from the image's /etc/passwd: its uid and primary group
    named = pod.run("named", run_as_username="nobody")
    assert out(server, named, "id -u; id -g").split() == ["65534", "65534"]
    assert out(server, named, "id -un") == "nobody\n"
    # nothing set: the image's user (root), the default capabilities
    default = pod.run("default")
    assert out(server, default, "id -u; id -g").split() == ["0", "0"]
    assert caps(server, default) == DEFAULT_CAPS
    # a group without a user: refused, as containerd refuses it
    pod.refused("group-only", run_as_group=cri.Int64Value(value=2000))


def test_privileged_has_every_capability_no_seccomp_no_masks_and_rw_sys(
    server: CriServer, tmp_path: Path
):
    # the kubelet marks a pod privileged when a container of it is
    sandbox = cri.LinuxPodSandboxConfig(
        security_context=cri.LinuxSandboxSecurityContext(
            namespace_options=namespaces(), privileged=True
        )
    )
    pod = Pod(server, tmp_path, "privileged", linux=sandbox)
    # privileged overrides what else is asked (the proto's list): RuntimeDefault seccomp
    # and masked paths are not applied
    privileged = pod.run(
        "privileged",
        privileged=True,
        seccomp=cri.SecurityProfile(profile_type=cri.SecurityProfile.RuntimeDefault),
        masked_paths=["/proc/version"],
    )
    # (after the privileged one: the pod's network namespace has one sysfs superblock,
    # and the first container to mount it makes it read-only or not, as with runc)
    plain = pod.run("plain")
    assert caps(server, privileged) == all_capabilities()
    assert int(host_status(host_pid(server, privileged), "CapEff"), 16) == all_capabilities()
    assert caps(server, plain) == DEFAULT_CAPS
    assert proc_status(server, privileged, "Seccomp") == "0"
    # it can mount; the plain container cannot
    assert out(server, privileged, "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && echo ok") == (
        "ok\n"
    )
    assert "denied" in fails(server, plain, "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t")
    mounts = out(server, privileged, "cat /proc/mounts")
    plain_mounts = out(server, plain, "cat /proc/mounts")
    # /sys read-write; nothing masked (the default masks /proc/keys, the list asked
    # /proc/version)
    assert "rw" in mount_options(mounts, "/sys"), mounts
    assert "ro" in mount_options(plain_mounts, "/sys"), plain_mounts
    assert " /proc/keys " not in mounts and " /proc/keys " in plain_mounts
    assert out(server, privileged, "cat /proc/version").startswith("Linux version")
    # the host's devices
    host_devices = {"kmsg", "mem"} & set(os.listdir("/dev"))
    assert host_devices and all(
        out(server, privileged, f"test -e /dev/{d} && echo yes") == "yes\n" for d in host_devices
    )
    assert all(fails(server, plain, f"test -e /dev/{d}") == "" for d in host_devices)
    # a pod that did not say it would run one refuses a privileged container (the proto's
    # MUST; containerd's "no privileged container allowed in sandbox")
    unprivileged = Pod(server, tmp_path, "unprivileged")
    error = unprivileged.refused("privileged", privileged=True)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error


def test_capabilities_added_and_dropped(server: CriServer, tmp_path: Path):
    pod = Pod(server, tmp_path, "caps")
    changed = pod.run(
        "changed",
        capabilities=cri.Capability(add_capabilities=["NET_ADMIN"], drop_capabilities=["CHOWN"]),
    )
    effective = caps(server, changed)
    assert effective == (DEFAULT_CAPS | 1 << CAP_NET_ADMIN) & ~(1 << CAP_CHOWN)
    assert effective == int(host_status(host_pid(server, changed), "CapEff"), 16)
    # CHOWN dropped: chown fails; NET_ADMIN added: the interface's MTU can change
    assert "not permitted" in fails(server, changed, "touch /tmp/f && chown 1 /tmp/f")
    assert out(server, changed, "ip link set lo mtu 1400 && cat /sys/class/net/lo/mtu") == "1400\n"
    default = pod.run("default")
    out(server, default, "touch /tmp/f && chown 1 /tmp/f")
    assert fails(server, default, "ip link set lo mtu 1300")
    # "CAP_" prefixes and ALL, as containerd takes them: drop ALL, add one
    only = pod.run(
        "only",
        capabilities=cri.Capability(
            drop_capabilities=["ALL"], add_capabilities=["CAP_NET_BIND_SERVICE"]
        ),
    )
    assert caps(server, only) == 1 << CAP_NET_BIND_SERVICE
    every = pod.run("every", capabilities=cri.Capability(add_capabilities=["ALL"]))
    assert caps(server, every) == all_capabilities()


def test_readonly_rootfs_leaves_only_mounts_writable(server: CriServer, tmp_path: Path):
    pod = Pod(server, tmp_path, "readonly")
    data = tmp_path / "data"
    config = pod.config_for("ro", readonly_rootfs=True)
    config.mounts.append(cri.Mount(container_path="/data", host_path=str(data)))
    container_id = start_container(server, pod.id, pod.config, config)
    # the whole root, /tmp included (Kubernetes adds no tmpfs), is read-only
    assert "Read-only file system" in fails(server, container_id, "touch /x")
    assert "Read-only file system" in fails(server, container_id, "touch /tmp/x")
    assert "Read-only file system" in fails(server, container_id, "mkdir /etc/x")
    # a volume and the pod's /dev/shm stay writable
    out(server, container_id, "echo kept > /data/file && echo shm > /dev/shm/file")
    assert (data / "file").read_text() == "kept\n"
    writable = pod.run("rw")
    out(server, writable, "touch /x /tmp/x")


def profile(path: Path, names: list[str]) -> str:
    """A Localhost seccomp profile (Docker's format) that fails ``names`` with EPERM."""
    path.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }))  # fmt: skip
    return str(path)


def test_seccomp_profiles(server: CriServer, tmp_path: Path):
    pod = Pod(server, tmp_path, "seccomp")
    no_mkdir = profile(tmp_path / "no-mkdir.json", ["mkdir", "mkdirat"])
    kinds = {
        "runtime-default": (cri.SecurityProfile.RuntimeDefault, ""),
        "unconfined": (cri.SecurityProfile.Unconfined, ""),
        "localhost": (cri.SecurityProfile.Localhost, no_mkdir),
    }
    made = {
        name: pod.run(name, seccomp=cri.SecurityProfile(profile_type=kind, localhost_ref=ref))
        for name, (kind, ref) in kinds.items()
    }
    # the deprecated path forms
    paths = {
        "path-runtime": "runtime/default",
        "path-docker": "docker/default",
        "path-unconfined": "unconfined",
        "path-localhost": f"localhost/{no_mkdir}",
    }
    made.update({name: pod.run(name, seccomp_profile_path=p) for name, p in paths.items()})
    made["unset"] = pod.run("unset")  # the kubelet's unset: unconfined
    mode = {name: proc_status(server, c, "Seccomp") for name, c in made.items()}
    assert mode == {
        "runtime-default": "2", "unconfined": "0", "localhost": "2",
        "path-runtime": "2", "path-docker": "2", "path-unconfined": "0", "path-localhost": "2",
        "unset": "0",
    }  # fmt: skip
    # and the container's own process, from the host
    assert host_status(host_pid(server, made["runtime-default"]), "Seccomp") == "2"
    assert host_status(host_pid(server, made["unconfined"]), "Seccomp") == "0"
    # the Localhost profile is the one written: mkdir fails with EPERM, the rest works
    for name in ("localhost", "path-localhost"):
        assert "Operation not permitted" in fails(server, made[name], "mkdir /tmp/d")
        out(server, made[name], "touch /tmp/f && ls /tmp/f")
    out(server, made["runtime-default"], "mkdir /tmp/d")
    # a Localhost profile must be an absolute path (the proto says so)
    error = pod.refused(
        "relative",
        seccomp=cri.SecurityProfile(
            profile_type=cri.SecurityProfile.Localhost, localhost_ref="profiles/x.json"
        ),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error


def test_no_new_privs_and_apparmor(server: CriServer, tmp_path: Path):
    pod = Pod(server, tmp_path, "nnp")
    nnp = pod.run("nnp", no_new_privs=True)
    assert proc_status(server, nnp, "NoNewPrivs") == "1"
    assert host_status(host_pid(server, nnp), "NoNewPrivs") == "1"
    plain = pod.run("plain")
    assert proc_status(server, plain, "NoNewPrivs") == "0"
    # AppArmor is not enabled on this host: RuntimeDefault and Unconfined (what the
    # kubelet sends) are accepted and the container runs unconfined
    for name, kind in (("aa-default", cri.SecurityProfile.RuntimeDefault),
                       ("aa-unconfined", cri.SecurityProfile.Unconfined)):  # fmt: skip
        container_id = pod.run(name, apparmor=cri.SecurityProfile(profile_type=kind))
        assert out(server, container_id, "echo up") == "up\n"


def test_masked_and_readonly_paths(server: CriServer, tmp_path: Path):
    pod = Pod(server, tmp_path, "paths")
    given = pod.run("given", masked_paths=["/proc/version", "/sys/kernel"], readonly_paths=["/tmp"])
    # a masked file reads empty, a masked directory is empty
    assert out(server, given, "cat /proc/version") == ""
    assert out(server, given, "ls /sys/kernel") == ""
    # a read-only path refuses writes; the rest of the root does not
    assert "Read-only file system" in fails(server, given, "touch /tmp/x")
    out(server, given, "touch /x")
    # the lists replace the defaults: /proc/keys is not masked, /proc/bus not read-only
    mounts = out(server, given, "cat /proc/mounts")
    assert " /proc/keys " not in mounts and " /proc/bus " not in mounts

    # empty lists: the defaults (Docker's and containerd's)
    default = pod.run("default")
    assert out(server, default, "cat /proc/version").startswith("Linux version")
    assert out(server, default, "wc -c < /proc/keys") == "0\n"
    assert out(server, default, "ls /sys/firmware") == ""
    assert "Read-only file system" in fails(server, default, "echo x > /proc/sys/kernel/hostname")
    mounts = out(server, default, "cat /proc/mounts")
    assert " /proc/keys " in mounts and " /proc/bus " in mounts
    out(server, default, "touch /tmp/x")


# --- the pod's -------------------------------------------------------------------------


def test_sysctls_and_hostname_of_a_pod(server: CriServer, tmp_path: Path):
    sysctls = {
        "net.ipv4.ip_unprivileged_port_start": "2000",
        "net.ipv4.ping_group_range": "100 200",
        "kernel.shm_rmid_forced": "1",
    }
    host = {k: Path("/proc/sys", k.replace(".", "/")).read_text() for k in sysctls}
    sandbox = cri.LinuxPodSandboxConfig(
        sysctls=sysctls,
        security_context=cri.LinuxSandboxSecurityContext(namespace_options=namespaces()),
    )
    pod = Pod(server, tmp_path, "tuned", linux=sandbox)
    first, second = pod.run("first"), pod.run("second")
    for container_id in (first, second):
        seen = {
            k: " ".join(out(server, container_id, f"cat /proc/sys/{k.replace('.', '/')}").split())
            for k in sysctls
        }
        assert seen == sysctls
        assert out(server, container_id, "hostname") == "tuned\n"
    # the host's values are untouched
    assert {k: Path("/proc/sys", k.replace(".", "/")).read_text() for k in sysctls} == host
    assert socket.gethostname() != "tuned"


def test_a_sysctl_that_is_not_namespaced_is_refused(server: CriServer, tmp_path: Path):
    before = set(os.listdir(server.skiff.runroot / "pods")) if (
        server.skiff.runroot / "pods").exists() else set()  # fmt: skip
    for key in ("vm.swappiness", "kernel.panic", "fs.file-max"):
        sandbox = cri.LinuxPodSandboxConfig(
            sysctls={key: "1"},
            security_context=cri.LinuxSandboxSecurityContext(namespace_options=namespaces()),
        )
        config = pod_config("refused", tmp_path, linux=sandbox)
        error = server.error(server.runtime.RunPodSandbox, cri.RunPodSandboxRequest(config=config))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
        assert key in str(error.details())
    # a network sysctl with the host's network namespace is refused too
    sandbox = cri.LinuxPodSandboxConfig(
        sysctls={"net.ipv4.ip_unprivileged_port_start": "80"},
        security_context=cri.LinuxSandboxSecurityContext(
            namespace_options=namespaces(network=cri.NODE)
        ),
    )
    config = pod_config("refused", tmp_path, linux=sandbox)
    error = server.error(server.runtime.RunPodSandbox, cri.RunPodSandboxRequest(config=config))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    # nothing was made: no pod, no pinned namespace
    assert not server.runtime.ListPodSandbox(cri.ListPodSandboxRequest(), timeout=TIMEOUT).items
    pods_dir = server.skiff.runroot / "pods"
    assert (set(os.listdir(pods_dir)) if pods_dir.exists() else set()) == before


def test_host_network_ipc_and_pid(server: CriServer, tmp_path: Path):
    node = namespaces(pid=cri.NODE, network=cri.NODE, ipc=cri.NODE)
    sandbox = cri.LinuxPodSandboxConfig(
        security_context=cri.LinuxSandboxSecurityContext(namespace_options=node)
    )
    pod = Pod(server, tmp_path, "hostly", linux=sandbox)
    container_id = pod.run("app", namespace_options=node)
    links = out(server, container_id, NS_LINKS)
    host_links = [os.readlink(f"/proc/self/ns/{kind}") for kind in ("net", "ipc", "pid")]
    assert links.split() == host_links
    # the host's interfaces, the host's hostname (hostNetwork implies the host's UTS)
    assert set(out(server, container_id, "ls /sys/class/net").split()) == set(
        os.listdir("/sys/class/net")
    )
    assert out(server, container_id, "hostname").strip() == socket.gethostname()
    # the host's processes: this test's own among them
    assert out(server, container_id, f"cat /proc/{os.getpid()}/comm").strip() == (
        Path(f"/proc/{os.getpid()}/comm").read_text().strip()
    )
    status = server.runtime.PodSandboxStatus(
        cri.PodSandboxStatusRequest(pod_sandbox_id=pod.id), timeout=TIMEOUT
    ).status
    options = status.linux.namespaces.options
    assert (options.network, options.ipc, options.pid) == (cri.NODE, cri.NODE, cri.NODE)
    # a pod of its own namespaces is not the host's
    own = Pod(server, tmp_path, "own")
    inside = own.run("app")
    own_links = out(server, inside, NS_LINKS)
    assert not set(own_links.split()) & set(host_links)


def test_shared_and_target_pid_namespaces(server: CriServer, tmp_path: Path):
    shared = Pod(server, tmp_path, "shared", pid=cri.POD)
    first = shared.run("first", "exec sleep 1001", pid=cri.POD)
    second = shared.run("second", "exec sleep 1002", pid=cri.POD)
    # one PID namespace: catatonit is PID 1 and each sees the other's process
    for container_id in (first, second):
        assert out(server, container_id, "cat /proc/1/comm") == "catatonit\n"
        processes = out(server, container_id, "ps -o args")
        assert "sleep 1001" in processes and "sleep 1002" in processes
    assert out(server, first, "readlink /proc/self/ns/pid") == out(
        server, second, "readlink /proc/self/ns/pid"
    )

    # TARGET: a container in another's PID namespace (kubectl debug's ephemeral ones)
    separate = Pod(server, tmp_path, "separate")
    target = separate.run("target", "exec sleep 1003")
    debug = separate.config_for("debug")
    debug.linux.security_context.namespace_options.CopyFrom(
        cri.NamespaceOption(pid=cri.TARGET, target_id=target)
    )
    debugger = start_container(server, separate.id, separate.config, debug)
    assert out(server, debugger, "readlink /proc/self/ns/pid") == out(
        server, target, "readlink /proc/self/ns/pid"
    )
    assert "sleep 1003" in out(server, debugger, "ps -o args")
    assert out(server, debugger, "cat /proc/1/cmdline | tr '\\0' ' '") == "sleep 1003 "
    # a third, with its own: sees neither
    alone = separate.run("alone")
    assert "sleep 1003" not in out(server, alone, "ps -o args")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_host_port_reaches_the_pod(server: CriServer, tmp_path: Path):
    port = free_port()
    mapping = cri.PortMapping(protocol=cri.TCP, container_port=8080, host_port=port)
    pod = Pod(server, tmp_path, "published", port_mappings=[mapping])
    pod.run("web", "echo published > /tmp/index.html; exec httpd -f -p 8080 -h /tmp")
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                assert answer.read() == b"published\n"
                break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.2)


@pytest.fixture
def cgroup_parent(server: CriServer) -> Iterator[str]:
    """A parent cgroup of the test's own (the kubelet's pod cgroup), removed at the end
    in every hierarchy (before the leak check)."""
    parent = f"/skiff-test-{os.urandom(3).hex()}"
    yield parent
    for pod in server.runtime.ListPodSandbox(cri.ListPodSandboxRequest()).items:
        server.runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod.id))
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        made = Path(str(hierarchy) + parent)
        if made.is_dir():
            for child in sorted(made.rglob("*"), reverse=True):
                if child.is_dir():
                    child.rmdir()
            made.rmdir()


def test_cgroup_parent_and_resources(server: CriServer, tmp_path: Path, cgroup_parent: str):
    sandbox = cri.LinuxPodSandboxConfig(
        cgroup_parent=cgroup_parent,
        security_context=cri.LinuxSandboxSecurityContext(namespace_options=namespaces()),
    )
    pod = Pod(server, tmp_path, "limited", linux=sandbox)
    resources = cri.LinuxContainerResources(
        memory_limit_in_bytes=64 << 20, cpu_shares=256, cpu_quota=50_000, cpu_period=100_000,
        cpuset_cpus="0", oom_score_adj=500,
    )  # fmt: skip
    config = pod.config_for("app", resources=resources)
    container_id = start_container(server, pod.id, pod.config, config)
    # the container's cgroup is under the parent, in every controller
    lines = Path(f"/proc/{host_pid(server, container_id)}/cgroup").read_text().splitlines()
    paths = {line.split(":")[1]: line.split(":")[2] for line in lines}
    for controller in ("memory", "cpu", "pids"):
        assert paths[controller].startswith(cgroup_parent + "/"), lines
    # the limits, read from inside
    read = {
        "memory/memory.limit_in_bytes": str(64 << 20),
        "cpu/cpu.shares": "256",
        "cpu/cpu.cfs_quota_us": "50000",
        "cpu/cpu.cfs_period_us": "100000",
        "cpuset/cpuset.cpus": "0",
    }
    seen = {f: out(server, container_id, f"cat /sys/fs/cgroup/{f}").strip() for f in read}
    assert seen == read
    # the container's process (PID 1 in its PID namespace): its OOM score adjustment
    assert out(server, container_id, "cat /proc/1/oom_score_adj") == "500\n"
    # and from the host, under the parent
    limit = Path(f"/sys/fs/cgroup/memory{paths['memory']}/memory.limit_in_bytes")
    assert limit.read_text().strip() == str(64 << 20)
