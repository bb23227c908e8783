"""Pods: containers that share a network, IPC and UTS namespace (and a PID namespace when
asked), as Kubernetes runs them; ``skiff cri``'s pod sandboxes.

A pod runs no process of its own: its namespaces are made once and pinned by bind mounts
under ``RUNROOT/pods/ID`` (CRI-O's pinned namespaces, not containerd's pause container).
So a pod needs no image, rootfs, monitor or runtime call, and it starts in the time a
fork and the CNI plugins take. The one case that needs a process is a shared PID
namespace, which dies with its first process: then ``catatonit -P`` is the pod's PID 1,
reaping what its containers leave.

The network is the CNI configuration list of a directory (the kubelet's
``/etc/cni/net.d``: the first file in name order, as libcni picks it) ADDed to the pinned
network namespace as interface eth0, with the pod's port mappings for the portmap plugin;
the configuration and ADD's result are kept, so DEL undoes exactly that. The hostname
and the pod's sysctls are set inside the new namespaces before they are pinned. /dev/shm
is one tmpfs every container of the pod binds.

A pod's containers are the engine's containers with the label ``POD_LABEL``, joined to
the pod's namespaces with ``ns:PATH`` modes. Stopping a pod kills them and tears its
network down; removing it removes them and unpins everything. Both are idempotent.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from contextlib import contextmanager

from skiff import db, jsonio
from skiff.errors import Conflict, EngineError, InvalidArgument, NotFound, SkiffError
from skiff.locks import exclusive

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterator
    from typing import Any

    from skiff.engine.containers import Container
    from skiff.engine.engine import Engine

POD_LABEL = "io.skiff.pod"
CATATONIT = "/usr/bin/catatonit"
SHM_SIZE = 64 << 20
INTERFACE = "eth0"


class PodConfig:
    """What a pod is asked to be. ``network`` is "cni" (``cni_conf_dir``), "host" or
    "none"; ``ipc`` and ``pid`` are "" (the pod's own: for pid, each container's own),
    "host", or for pid "pod" (one PID namespace for the pod); ``port_mappings`` are CNI's
    (hostPort, containerPort, protocol, hostIP); ``dns`` has servers, searches, options;
    ``privileged``: the pod may run privileged containers."""

    FIELDS = (
        "name", "hostname", "labels", "annotations", "metadata", "network", "cni_conf_dir",
        "port_mappings", "dns", "ipc", "pid", "sysctls", "cgroup_parent", "log_directory",
        "runtime_handler", "privileged",
    )  # fmt: skip

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self.FIELDS)
        if unknown:
            raise InvalidArgument(f"unknown pod settings: {', '.join(sorted(unknown))}")
        self.name: str = values.get("name", "")
        self.hostname: str = values.get("hostname", "")
        self.labels: dict[str, str] = dict(values.get("labels") or {})
        self.annotations: dict[str, str] = dict(values.get("annotations") or {})
        self.metadata: dict[str, Any] = dict(values.get("metadata") or {})
        self.network: str = values.get("network", "cni")
        self.cni_conf_dir: str = values.get("cni_conf_dir", "/etc/cni/net.d")
        self.port_mappings: list[dict[str, Any]] = list(values.get("port_mappings") or [])
        self.dns: dict[str, list[str]] = dict(values.get("dns") or {})
        self.ipc: str = values.get("ipc", "")
        self.pid: str = values.get("pid", "")
        self.sysctls: dict[str, str] = dict(values.get("sysctls") or {})
        self.cgroup_parent: str = values.get("cgroup_parent", "")
        self.log_directory: str = values.get("log_directory", "")
        self.runtime_handler: str = values.get("runtime_handler", "")
        self.privileged: bool = bool(values.get("privileged", False))
        if self.network not in ("cni", "host", "none"):
            raise InvalidArgument(f"invalid pod network mode {self.network!r}")
        if self.ipc not in ("", "host") or self.pid not in ("", "host", "pod"):
            raise InvalidArgument(f"invalid pod namespace modes ipc={self.ipc!r} pid={self.pid!r}")

    def to_dict(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in self.FIELDS}


class Pod:
    """A pod's row: identity, config and state."""

    def __init__(self, row: sqlite3.Row) -> None:
        self.id: str = row["id"]
        self.name: str = row["name"]
        self.created: float = row["created"]
        self.config = PodConfig(**jsonio.loads(row["config"]))
        self.state: dict[str, Any] = jsonio.loads(row["state"])

    @property
    def ready(self) -> bool:
        return bool(self.state.get("ready"))

    def namespace(self, kind: str) -> str:
        """The mode a container of the pod joins ``kind`` (network, ipc, uts, pid) with."""
        path = self.state.get("namespaces", {}).get(kind, "")
        if path:
            return f"ns:{path}"
        if kind == "network":
            return "host" if self.config.network == "host" else "none"
        if kind == "ipc" and self.config.ipc == "host":
            return "host"
        if kind == "uts" and self.config.network == "host":
            return "host"
        if kind == "pid" and self.config.pid == "host":
            return "host"
        return ""

    @property
    def ips(self) -> list[str]:
        return list(self.state.get("ips", []))

    @property
    def shm(self) -> str:
        return str(self.state.get("shm", ""))


class Pods:
    """The pods of an engine's store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.paths = engine.paths
        self.db = engine.containers.db

    def directory(self, pod_id: str) -> str:
        return os.path.join(self.paths.runroot, "pods", pod_id)

    @contextmanager
    def lock(self, pod_id: str) -> Iterator[None]:
        with exclusive(os.path.join(self.paths.runroot, "locks", f"pod-{pod_id}")):
            yield

    def get(self, ref: str) -> Pod:
        """By full ID, name or unique ID prefix."""
        row = db.by_reference(self.db, "pods", ref)
        if row is None:
            raise NotFound(f"No such pod: {ref}")
        return Pod(row)

    def all(self) -> list[Pod]:
        return [Pod(row) for row in self.db.execute("SELECT * FROM pods ORDER BY created")]

    def containers(self, pod_id: str) -> list[Container]:
        return [
            c
            for c in self.engine.containers.all()
            if c.options.get("labels", {}).get(POD_LABEL) == pod_id
        ]

    def _set_state(self, pod_id: str, **changes: Any) -> None:
        with db.transaction(self.db):
            row = self.db.execute("SELECT state FROM pods WHERE id = ?", (pod_id,)).fetchone()
            if row is None:
                raise NotFound(f"No such pod: {pod_id}")
            state = {**jsonio.loads(row["state"]), **changes}
            self.db.execute("UPDATE pods SET state = ? WHERE id = ?", (jsonio.dumps(state), pod_id))

    def create(self, config: PodConfig) -> Pod:
        """Make the pod's namespaces, /dev/shm and network; the pod, ready. A failure
        leaves nothing: what was made is undone before the error is raised."""
        pod_id = os.urandom(32).hex()
        name = config.name or pod_id
        with db.transaction(self.db):
            taken = self.db.execute("SELECT id FROM pods WHERE name = ?", (name,)).fetchone()
            if taken:
                raise Conflict(f'the pod name "{name}" is already in use by pod "{taken["id"]}"')
            self.db.execute(
                "INSERT INTO pods VALUES (?, ?, ?, ?, ?)",
                (pod_id, name, time.time(), jsonio.dumps(config.to_dict()),
                 jsonio.dumps({"ready": False})),
            )  # fmt: skip
        try:
            with self.lock(pod_id):
                self._set_up(pod_id, config)
        except BaseException:
            self._tear_down(pod_id)
            self._forget(pod_id)
            raise
        return self.get(pod_id)

    def _set_up(self, pod_id: str, config: PodConfig) -> None:
        from skiff.network import netns

        directory = self.directory(pod_id)
        os.makedirs(directory, mode=0o711, exist_ok=True)
        targets = {"uts": os.path.join(directory, "uts")} if config.network != "host" else {}
        if config.network != "host":
            targets["network"] = os.path.join(directory, "net")
        if config.ipc != "host":
            targets["ipc"] = os.path.join(directory, "ipc")
        check_sysctls(config)
        hostname = config.hostname

        def prepare() -> None:
            from skiff.linux.system import loopback_up, sethostname

            if "network" in targets:
                loopback_up()  # containerd runs CNI's loopback plugin for this
            if hostname and "uts" in targets:
                sethostname(hostname)
            for key, value in config.sysctls.items():
                with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                    f.write(value)

        self._set_state(pod_id, namespaces=targets)  # recorded first: a crash unpins them
        if targets:
            netns.pin(targets, prepare)
        shm = os.path.join(directory, "shm")
        self._set_state(pod_id, shm=shm)
        _mount_shm(shm)
        namespaces = dict(targets)
        if config.pid == "pod":
            pause = _start_pause()
            self._set_state(pod_id, pause=pause)
            namespaces["pid"] = f"/proc/{pause}/ns/pid"
        self._set_state(pod_id, namespaces=namespaces)
        ips = self._network_up(pod_id, config, targets.get("network", ""))
        self._set_state(pod_id, ready=True, ips=ips)

    def _network_up(self, pod_id: str, config: PodConfig, netns_path: str) -> list[str]:
        """CNI ADD of the directory's configuration list: the pod's addresses."""
        from skiff.network import cni

        if config.network != "cni":
            return []
        conflist = load_cni_config(config.cni_conf_dir)
        runtime_config = {"portMappings": config.port_mappings} if config.port_mappings else {}
        network = {"config": conflist, "runtime_config": runtime_config, "result": None}
        self._set_state(pod_id, network=network)  # DEL can run even if ADD never returns
        result = cni.add(conflist, pod_id, netns_path, INTERFACE, runtime_config)
        self._set_state(pod_id, network={**network, "result": result})
        return [ip["address"].split("/")[0] for ip in result.get("ips", []) if ip.get("address")]

    def stop(self, ref: str, timeout: int = 0) -> None:
        """Stop every container of the pod and tear its network down; the pod stays, not
        ready, until it is removed. Stopping a stopped pod does nothing."""
        pod = self.get(ref)
        with self.lock(pod.id):
            for container in self.containers(pod.id):
                if container.state.get("Running"):
                    self.engine.stop(container.id, timeout=timeout)
            self._network_down(self.get(pod.id))
            _stop_pause(pod.state.get("pause", 0))
            self._set_state(pod.id, ready=False)

    def _network_down(self, pod: Pod) -> None:
        from skiff.network import cni

        network = pod.state.get("network")
        if not network:
            return
        netns_path = pod.state.get("namespaces", {}).get("network", "")
        cni.delete(network["config"], pod.id, netns_path, INTERFACE,
                   network["runtime_config"], network["result"])  # fmt: skip
        self._set_state(pod.id, network=None, ips=[])

    def remove(self, ref: str) -> None:
        """Remove the pod's containers, unpin its namespaces, forget it."""
        pod = self.get(ref)
        with self.lock(pod.id):
            for container in self.containers(pod.id):
                self.engine.remove(container.id, force=True)
            self._tear_down(pod.id)
            self._forget(pod.id)

    def _tear_down(self, pod_id: str) -> None:
        """Undo what a pod's state says was made (any part of it)."""
        from skiff.linux.mount import MNT_DETACH, umount
        from skiff.network import netns

        try:
            pod = self.get(pod_id)
        except NotFound:
            return
        try:
            self._network_down(pod)
        except SkiffError as e:
            print(f"skiff: pod {pod_id[:12]}: {e}", file=sys.stderr)
        _stop_pause(pod.state.get("pause", 0))
        for target in pod.state.get("namespaces", {}).values():
            if not target.startswith("/proc/"):
                netns.unpin(target)
        if pod.shm:
            try:
                umount(pod.shm, MNT_DETACH)
            except OSError:
                pass
        shutil.rmtree(self.directory(pod_id), ignore_errors=True)

    def _forget(self, pod_id: str) -> None:
        with db.transaction(self.db):
            self.db.execute("DELETE FROM pods WHERE id = ?", (pod_id,))


def load_cni_config(directory: str) -> dict[str, Any]:
    """The first configuration in ``directory`` (name order, as libcni's), as a list: a
    single-plugin ``.conf`` becomes a list of one."""
    from skiff.network.cni import CNI_VERSION

    names = sorted(
        n for n in os.listdir(directory) if n.endswith((".conf", ".conflist", ".json"))
    ) if os.path.isdir(directory) else []  # fmt: skip
    if not names:
        raise EngineError(f"no CNI network configuration in {directory}")
    path = os.path.join(directory, names[0])
    try:
        with open(path) as f:
            config = jsonio.loads(f.read())
    except (OSError, ValueError) as e:
        raise EngineError(f"CNI configuration {path}: {e}") from None
    if not isinstance(config, dict):
        raise EngineError(f"CNI configuration {path}: not a JSON object")
    if "plugins" not in config:
        plugin = {k: v for k, v in config.items() if k not in ("cniVersion", "name")}
        config = {"cniVersion": config.get("cniVersion", CNI_VERSION),
                  "name": config.get("name", ""), "plugins": [plugin]}  # fmt: skip
    if not isinstance(config.get("plugins"), list) or not config["plugins"]:
        raise EngineError(f"CNI configuration {path}: no plugins")
    config.setdefault("cniVersion", CNI_VERSION)
    return config


# The namespaced sysctls a pod may set (the kubelet's list), by the namespace they need.
_SYSCTL_NAMESPACES = {
    "kernel.shm": "ipc", "kernel.msg": "ipc", "kernel.sem": "ipc", "fs.mqueue.": "ipc",
    "net.": "network",
}  # fmt: skip


def check_sysctls(config: PodConfig) -> None:
    """Refuse a sysctl that is not namespaced, or whose namespace the pod shares with
    the host."""
    for key in config.sysctls:
        kind = next((ns for prefix, ns in _SYSCTL_NAMESPACES.items() if key.startswith(prefix)), "")
        if not kind:
            raise InvalidArgument(f"sysctl {key!r} is not a namespaced sysctl a pod may set")
        shared = config.network == "host" if kind == "network" else config.ipc == "host"
        if shared:
            raise InvalidArgument(f"sysctl {key!r} is not allowed with the host's {kind} namespace")


def _mount_shm(target: str) -> None:
    from skiff.linux.mount import MS_NODEV, MS_NOEXEC, MS_NOSUID, mount

    os.makedirs(target, exist_ok=True)
    mount("shm", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, f"mode=1777,size={SHM_SIZE}")


def _start_pause() -> int:
    """``catatonit -P`` as PID 1 of a new PID namespace (util-linux's ``unshare --fork``
    holds it, and kills it if it dies), started in the background by a shell, so that it
    outlives this process and nothing is left for it to reap; catatonit's host pid. No
    fork of this process: ``skiff cri`` is a threaded gRPC server."""
    import shlex
    import subprocess

    if not os.access(CATATONIT, os.X_OK):
        raise EngineError(f"a pod that shares its PID namespace needs {CATATONIT} (catatonit)")
    command = f"unshare --pid --fork --kill-child {shlex.quote(CATATONIT)} -P"
    ran = subprocess.run(
        ["sh", "-c", f"setsid {command} </dev/null >/dev/null 2>&1 & echo $!"],
        capture_output=True,
    )
    holder = int(ran.stdout.strip() or 0)
    deadline = time.monotonic() + 10
    while holder and time.monotonic() < deadline:
        try:
            with open(f"/proc/{holder}/task/{holder}/children") as f:
                children = f.read().split()
        except FileNotFoundError:
            break
        if children:
            with open(f"/proc/{children[0]}/comm") as f:
                if f.read().strip() == "catatonit":
                    return int(children[0])
        time.sleep(0.005)
    _stop_pause(holder)
    raise EngineError("could not start the pod's PID 1 (catatonit)")


def _stop_pause(pid: int) -> None:
    """Kill the pod's catatonit and the ``unshare`` holding it (only while those pids are
    still theirs)."""
    import signal

    if not pid:
        return
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
    except FileNotFoundError:
        return
    if comm not in ("catatonit", "unshare"):
        return
    parent = int(fields[1])
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if comm == "catatonit" and parent > 1:
        _stop_pause(parent)
