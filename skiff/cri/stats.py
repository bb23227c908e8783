"""ContainerStats and PodSandboxStats from skiff's cgroup readings (skiff.engine.stats):
the figures the kubelet's summary API and its eviction manager use.

As containerd computes them: the working set is the memory usage less inactive file
pages; available bytes are the limit less the working set when there is a limit;
``usage_nano_cores`` is the CPU time used since the previous reading of the same
container divided by the time between them (absent on a first reading); a pod's figures
are its running containers' sums, with the network of its namespace (eth0 and any other
interface but lo) from /proc/PID/net/dev of one of its processes."""

from __future__ import annotations

import threading
import time

import skiff.cri.proto.api_pb2 as api_pb2

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.engine.containers import Container
    from skiff.engine.engine import Engine
    from skiff.engine.pods import Pod

_previous: dict[str, tuple[int, int]] = {}  # container ID -> (time ns, CPU time ns)
_previous_lock = threading.Lock()


def _value(number: int) -> Any:
    return api_pb2.UInt64Value(value=max(int(number), 0))


def _nano_cores(container_id: str, now: int, cpu: int) -> int | None:
    with _previous_lock:
        before = _previous.get(container_id)
        _previous[container_id] = (now, cpu)
    if before is None or now <= before[0]:
        return None
    return (cpu - before[1]) * 1_000_000_000 // (now - before[0])


def forget(container_id: str) -> None:
    with _previous_lock:
        _previous.pop(container_id, None)


class Figures:
    """One running container's CPU, memory and process figures now."""

    def __init__(self, container: Container) -> None:
        from skiff.engine.stats import StatsReader

        self.timestamp = time.time_ns()
        document = StatsReader().read(container) or {}
        memory = document.get("memory_stats", {})
        stats = memory.get("stats", {})
        self.running = bool(document)
        self.pid = int(container.state.get("Pid") or 0)
        self.cpu = int(document.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage", 0))
        self.usage = int(memory.get("usage", 0))
        inactive = stats.get("total_inactive_file", stats.get("inactive_file", 0))
        self.working_set = max(self.usage - int(inactive), 0)
        self.limit = int(memory.get("limit", 0))
        self.rss = int(stats.get("total_rss", stats.get("anon", 0)))
        self.page_faults = int(stats.get("total_pgfault", stats.get("pgfault", 0)))
        self.major_page_faults = int(stats.get("total_pgmajfault", stats.get("pgmajfault", 0)))
        self.processes = int(document.get("pids_stats", {}).get("current", 0))

    def cpu_usage(self, key: str) -> Any:
        usage = api_pb2.CpuUsage(timestamp=self.timestamp, usage_core_nano_seconds=_value(self.cpu))
        cores = _nano_cores(key, self.timestamp, self.cpu)
        if cores is not None:
            usage.usage_nano_cores.value = max(cores, 0)
        return usage

    def memory_usage(self) -> Any:
        usage = api_pb2.MemoryUsage(
            timestamp=self.timestamp,
            working_set_bytes=_value(self.working_set),
            usage_bytes=_value(self.usage),
            rss_bytes=_value(self.rss),
            page_faults=_value(self.page_faults),
            major_page_faults=_value(self.major_page_faults),
        )
        if self.limit:
            usage.available_bytes.value = max(self.limit - self.working_set, 0)
        return usage


def container_stats(engine: Engine, container: Container, figures: Figures | None = None) -> Any:
    """A container's ContainerStats (zeros but its attributes when it does not run), from
    ``figures`` if they were read already."""
    from skiff.cri.containers import metadata_of, own_labels

    figures = figures or Figures(container)
    attributes = api_pb2.ContainerAttributes(
        id=container.id,
        metadata=metadata_of(container),
        labels=own_labels(container),
        annotations=container.options.get("annotations", {}),
    )
    stats = api_pb2.ContainerStats(attributes=attributes)
    if figures.running:
        stats.cpu.CopyFrom(figures.cpu_usage(container.id))
        stats.memory.CopyFrom(figures.memory_usage())
    stats.writable_layer.CopyFrom(_writable_layer(engine, container, figures.timestamp))
    return stats


def _writable_layer(engine: Engine, container: Container, timestamp: int) -> Any:
    """The bytes and inodes of the container's own layer (its overlay upper directory)."""
    import os

    from skiff.engine.filesystem import ContainerFiles

    upper = ContainerFiles(engine.paths, container.id).upper
    used = inodes = 0
    for directory, dirs, files in os.walk(upper):
        for name in dirs + files:
            inodes += 1
            try:
                used += os.lstat(os.path.join(directory, name)).st_blocks * 512
            except OSError:
                pass
    return api_pb2.FilesystemUsage(
        timestamp=timestamp,
        fs_id=api_pb2.FilesystemIdentifier(mountpoint=engine.paths.root),
        used_bytes=_value(used),
        inodes_used=_value(inodes),
    )


def pod_stats(engine: Engine, pod: Pod) -> Any:
    """A pod's PodSandboxStats: its containers', summed, and its network."""
    from skiff.cri.sandboxes import metadata_of

    read = [(c, Figures(c)) for c in engine.pods.containers(pod.id)]
    each = [container_stats(engine, c, figures) for c, figures in read]
    running = [(c, figures) for c, figures in read if figures.running]
    now = time.time_ns()
    cpu = sum(s.cpu.usage_core_nano_seconds.value for s in each)
    linux = api_pb2.LinuxPodSandboxStats(containers=each)
    linux.cpu.CopyFrom(api_pb2.CpuUsage(timestamp=now, usage_core_nano_seconds=_value(cpu)))
    cores = _nano_cores("pod:" + pod.id, now, cpu)
    if cores is not None:
        linux.cpu.usage_nano_cores.value = max(cores, 0)
    linux.memory.CopyFrom(api_pb2.MemoryUsage(
        timestamp=now,
        working_set_bytes=_value(sum(s.memory.working_set_bytes.value for s in each)),
        usage_bytes=_value(sum(s.memory.usage_bytes.value for s in each)),
        rss_bytes=_value(sum(s.memory.rss_bytes.value for s in each)),
    ))  # fmt: skip
    linux.process.CopyFrom(api_pb2.ProcessUsage(
        timestamp=now, process_count=_value(sum(f.processes for _, f in running))
    ))  # fmt: skip
    if running and pod.config.network == "cni":
        linux.network.CopyFrom(_network(running[0][1].pid, now))
    attributes = api_pb2.PodSandboxAttributes(
        id=pod.id, metadata=metadata_of(pod), labels=pod.config.labels,
        annotations=pod.config.annotations,
    )  # fmt: skip
    return api_pb2.PodSandboxStats(attributes=attributes, linux=linux)


def _network(pid: int, timestamp: int) -> Any:
    """NetworkUsage from /proc/PID/net/dev: eth0 as the default interface, every other
    interface but lo listed."""
    interfaces = []
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.read().splitlines()[2:]
    except OSError:
        lines = []
    for line in lines:
        name, _, numbers = line.partition(":")
        name = name.strip()
        if name == "lo":
            continue
        values = [int(v) for v in numbers.split()]
        interfaces.append(api_pb2.NetworkInterfaceUsage(
            name=name, rx_bytes=_value(values[0]), rx_errors=_value(values[2]),
            tx_bytes=_value(values[8]), tx_errors=_value(values[10]),
        ))  # fmt: skip
    usage = api_pb2.NetworkUsage(timestamp=timestamp)
    default = next((i for i in interfaces if i.name == "eth0"), None)
    if default is not None:
        usage.default_interface.CopyFrom(default)
    usage.interfaces.extend(i for i in interfaces if i is not default)
    return usage
