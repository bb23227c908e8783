"""Resource use of running containers, as ``docker stats`` shows it, read cheaply.

Each sample of a container reads a handful of small files and nothing else (no
subprocess, no full ``runc events --stats``): on cgroup v1 ``cpuacct.usage``,
``memory.usage_in_bytes``, ``memory.limit_in_bytes``, ``memory.stat``, ``pids.current``
and one blkio file; on v2 ``cpu.stat``, ``memory.current``, ``memory.max``,
``memory.stat``, ``pids.current`` and ``io.stat``; and ``/proc/PID/net/dev`` of the
container's process for its network (the interfaces of its own network namespace, ``lo``
left out, as Docker counts only its endpoints). Where those files are is found once per
container, from ``/proc/PID/cgroup`` of its process. One ``/proc/stat`` read per round
gives the host's CPU time, for Docker's CPU percentage:
``container CPU delta / host CPU delta * online CPUs * 100``.

Memory usage is Docker's: usage less inactive file pages (``total_inactive_file`` on v1,
``inactive_file`` on v2); a limit above the host's memory is the host's memory.

The API's stats (GET /containers/{id}/stats) are Docker's whole documents instead
(:class:`StatsReader`): the same files read in full (every ``memory.stat`` key, the CPU
time by mode, the block I/O by device, the network by interface), the raw memory usage
(the client subtracts the inactive file pages), as dockerd's collector reports them.
"""

from __future__ import annotations

import os

from skiff.cgroups.hierarchy import Hierarchy, hierarchies, mode, parse_proc_cgroup, proc_key

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.engine.containers import Container

_V1_BLKIO = (
    "blkio.io_service_bytes_recursive",
    "blkio.bfq.io_service_bytes_recursive",
    "blkio.throttle.io_service_bytes_recursive",
)


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 65536)
    finally:
        os.close(fd)


def _number(path: str) -> int:
    try:
        text = _read(path).strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() else 0


def _keyed(path: str, key: bytes) -> int:
    """The value of ``key`` in a flat keyed file (``key value`` lines); 0 when missing."""
    try:
        data = b"\n" + _read(path)
    except OSError:
        return 0
    at = data.find(b"\n" + key + b" ")
    if at < 0:
        return 0
    start = at + len(key) + 2
    end = data.find(b"\n", start)
    value = data[start : end if end >= 0 else None].strip()
    return int(value) if value.isdigit() else 0


def cgroup_dirs(pid: int, found: list[Hierarchy]) -> dict[str, str]:
    """The directories of process ``pid``'s cgroup: by v1 controller, and ``unified`` for
    the v2 hierarchy (from ``/proc/PID/cgroup``, relative to each mount's root)."""
    cgroups = parse_proc_cgroup(_read(f"/proc/{pid}/cgroup").decode())
    dirs: dict[str, str] = {}
    for h in found:
        path = cgroups.get(proc_key(h))
        if path is None:
            continue
        root = h.root.rstrip("/")
        if root and (path == root or path.startswith(root + "/")):
            path = path[len(root) :]
        directory = h.dir(path or "/")
        if h.version == 2:
            dirs["unified"] = directory
        for controller in h.controllers:
            dirs[controller] = directory
    return dirs


class Sample:
    """One reading of a container's counters (bytes, nanoseconds of CPU time)."""

    __slots__ = (
        "block_read",
        "block_write",
        "cpu",
        "memory",
        "memory_limit",
        "net_rx",
        "net_tx",
        "pids",
        "system",
    )

    def __init__(self) -> None:
        self.cpu = self.system = 0
        self.memory = self.memory_limit = 0
        self.net_rx = self.net_tx = 0
        self.block_read = self.block_write = 0
        self.pids = 0


class Host:
    """What every sample needs from the host: its CPU time, CPUs and memory."""

    def __init__(self) -> None:
        self.ticks = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        self.cpus = os.sysconf("SC_NPROCESSORS_ONLN")
        self.memory = 0
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    self.memory = int(line.split()[1]) * 1024
                    break
        self.hierarchies: list[Hierarchy] = hierarchies()
        self.unified = mode(self.hierarchies) == "unified"

    def cpu_time(self) -> int:
        """The host's CPU time in nanoseconds (``/proc/stat``'s first line, as Docker sums
        it: user nice system idle iowait irq softirq)."""
        line = _read("/proc/stat").split(b"\n", 1)[0].split()
        return sum(int(v) for v in line[1:8]) * self.ticks


class Counters:
    """Where one running container's counters are."""

    def __init__(self, host: Host, pid: int, own_network: bool) -> None:
        self.host = host
        self.pid = pid
        self.net_dev = f"/proc/{pid}/net/dev" if own_network else ""
        self.dirs = cgroup_dirs(pid, host.hierarchies)
        self.blkio = [
            os.path.join(self.dirs["blkio"], name)
            for name in _V1_BLKIO
            if "blkio" in self.dirs and os.path.exists(os.path.join(self.dirs["blkio"], name))
        ]

    def sample(self, system: int) -> Sample:
        s = Sample()
        s.system = system
        if self.host.unified:
            self._v2(s, self.dirs.get("unified", ""))
        else:
            self._v1(s)
        if s.memory_limit > self.host.memory > 0 or s.memory_limit == 0:
            s.memory_limit = self.host.memory
        if self.net_dev:
            self._network(s)
        return s

    def _v1(self, s: Sample) -> None:
        if "cpuacct" in self.dirs:
            s.cpu = _number(os.path.join(self.dirs["cpuacct"], "cpuacct.usage"))
        if "memory" in self.dirs:
            memory = self.dirs["memory"]
            usage = _number(os.path.join(memory, "memory.usage_in_bytes"))
            inactive = _keyed(os.path.join(memory, "memory.stat"), b"total_inactive_file")
            s.memory = usage - inactive if inactive < usage else usage
            s.memory_limit = _number(os.path.join(memory, "memory.limit_in_bytes"))
        if "pids" in self.dirs:
            s.pids = _number(os.path.join(self.dirs["pids"], "pids.current"))
        for path in self.blkio:
            if self._v1_blkio(s, path):
                break

    @staticmethod
    def _v1_blkio(s: Sample, path: str) -> bool:
        """``MAJOR:MINOR Op VALUE`` lines; whether the file had any."""
        try:
            data = _read(path)
        except OSError:
            return False
        found = False
        for line in data.split(b"\n"):
            fields = line.split()
            if len(fields) != 3:
                continue
            found = True
            op = fields[1][:1].lower()
            if op == b"r":
                s.block_read += int(fields[2])
            elif op == b"w":
                s.block_write += int(fields[2])
        return found

    def _v2(self, s: Sample, directory: str) -> None:
        if not directory:
            return
        s.cpu = _keyed(os.path.join(directory, "cpu.stat"), b"usage_usec") * 1000
        usage = _number(os.path.join(directory, "memory.current"))
        inactive = _keyed(os.path.join(directory, "memory.stat"), b"inactive_file")
        s.memory = usage - inactive if inactive < usage else usage
        s.memory_limit = _number(os.path.join(directory, "memory.max"))  # "max": 0
        s.pids = _number(os.path.join(directory, "pids.current"))
        try:
            data = _read(os.path.join(directory, "io.stat"))
        except OSError:
            return
        for line in data.split(b"\n"):
            for pair in line.split()[1:]:
                key, _, value = pair.partition(b"=")
                if key == b"rbytes":
                    s.block_read += int(value)
                elif key == b"wbytes":
                    s.block_write += int(value)

    def _network(self, s: Sample) -> None:
        try:
            data = _read(self.net_dev)
        except OSError:
            return
        for line in data.split(b"\n")[2:]:
            name, sep, values = line.partition(b":")
            if not sep or name.strip() == b"lo":
                continue
            fields = values.split()
            s.net_rx += int(fields[0])
            s.net_tx += int(fields[8])


class Stats:
    """One row of ``docker stats``: the numbers the docker CLI computes from two samples."""

    __slots__ = (
        "block_read",
        "block_write",
        "container",
        "cpu_percent",
        "id",
        "memory",
        "memory_limit",
        "memory_percent",
        "name",
        "net_rx",
        "net_tx",
        "pids",
    )

    def __init__(self, container: str, container_id: str, name: str) -> None:
        self.container = container  # as the user named it (or the short ID)
        self.id = container_id
        self.name = name
        self.cpu_percent = self.memory_percent = 0.0
        self.memory = self.memory_limit = 0
        self.net_rx = self.net_tx = self.block_read = self.block_write = 0
        self.pids = 0


def compute(stats: Stats, before: Sample | None, now: Sample, cpus: int) -> None:
    """Fill ``stats`` from a sample and the one before it (for the CPU percentage)."""
    if before is not None:
        cpu_delta = now.cpu - before.cpu
        system_delta = now.system - before.system
        if cpu_delta > 0 and system_delta > 0:
            stats.cpu_percent = cpu_delta / system_delta * cpus * 100.0
    stats.memory = now.memory
    stats.memory_limit = now.memory_limit
    stats.memory_percent = now.memory / now.memory_limit * 100.0 if now.memory_limit else 0.0
    stats.net_rx, stats.net_tx = now.net_rx, now.net_tx
    stats.block_read, stats.block_write = now.block_read, now.block_write
    stats.pids = now.pids


class Collector:
    """Samples of a changing set of containers, round after round, keeping what it found
    about each (where its files are, its previous sample) between rounds."""

    def __init__(self) -> None:
        self.host = Host()
        self._counters: dict[str, tuple[int, Counters | None]] = {}
        self._previous: dict[str, Sample] = {}

    def _counters_of(self, container: Container) -> Counters | None:
        pid = int(container.state.get("Pid") or 0) if container.state.get("Running") else 0
        known = self._counters.get(container.id)
        if known is not None and known[0] == pid:
            return known[1]
        counters = None
        if pid > 0:
            network = str(container.options.get("network") or "")
            own_network = network != "host" and not network.startswith("container:")
            try:
                counters = Counters(self.host, pid, own_network)
            except OSError:  # the process has just exited
                counters = None
        self._counters[container.id] = (pid, counters)
        self._previous.pop(container.id, None)
        return counters

    def round(self, containers: list[tuple[str, Container]]) -> list[Stats]:
        """A row for each (name as given, container); stopped containers read as zeros."""
        system = self.host.cpu_time()
        rows = []
        seen = set()
        for given, container in containers:
            seen.add(container.id)
            row = Stats(given, container.id, container.name)
            counters = self._counters_of(container)
            if counters is not None:
                sample = counters.sample(system)
                compute(row, self._previous.get(container.id), sample, self.host.cpus)
                self._previous[container.id] = sample
            rows.append(row)
        for gone in set(self._counters) - seen:
            self._counters.pop(gone, None)
            self._previous.pop(gone, None)
        return rows


# --- Docker's stats documents (GET /containers/{id}/stats) -----------------------------

ZERO_TIME = "0001-01-01T00:00:00Z"
_BLKIO_LISTS = (
    "io_service_bytes_recursive",
    "io_serviced_recursive",
    "io_queue_recursive",
    "io_service_time_recursive",
    "io_wait_time_recursive",
    "io_merged_recursive",
    "io_time_recursive",
    "sectors_recursive",
)
_NET_FIELDS = (
    "rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
    "tx_bytes", "tx_packets", "tx_errors", "tx_dropped",
)  # fmt: skip
# The memory.stat keys dockerd reports (the fields of containerd's cgroup metrics), by
# cgroup version: the others are left out, a missing one is 0.
_MEMORY_V1_COUNTERS = (
    "active_anon", "active_file", "cache", "dirty", "inactive_anon", "inactive_file",
    "mapped_file", "pgfault", "pgmajfault", "pgpgin", "pgpgout", "rss", "rss_huge",
    "unevictable", "writeback",
)  # fmt: skip
_MEMORY_V1_KEYS = (
    *_MEMORY_V1_COUNTERS,
    *("total_" + key for key in _MEMORY_V1_COUNTERS),
    "hierarchical_memory_limit",
    "hierarchical_memsw_limit",
)
_MEMORY_V2_KEYS = (
    "anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty",
    "file_writeback", "anon_thp", "inactive_anon", "active_anon", "inactive_file",
    "active_file", "unevictable", "slab_reclaimable", "slab_unreclaimable", "pgfault",
    "pgmajfault", "workingset_refault", "workingset_activate", "workingset_nodereclaim",
    "pgrefill", "pgscan", "pgsteal", "pgactivate", "pgdeactivate", "pglazyfree",
    "pglazyfreed", "thp_fault_alloc", "thp_collapse_alloc",
)  # fmt: skip
# /proc/net/dev's columns of those fields (receive: bytes packets errs drop ...; transmit
# from the ninth on).
_NET_COLUMNS = (0, 1, 2, 3, 8, 9, 10, 11)


def _zero_cpu() -> dict[str, Any]:
    return {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }


def go_time(nanos: int) -> str:
    """Go's ``time.Time`` in JSON (RFC 3339, UTC, the fraction's trailing zeros dropped)."""
    import time

    seconds, fraction = divmod(nanos, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction:
        text += f".{fraction:09d}".rstrip("0")
    return text + "Z"


def zero_document(container: Container) -> dict[str, Any]:
    """What dockerd answers for a container that does not run (its StatsJSON's zero
    value, with the name and ID)."""
    return {
        "read": ZERO_TIME,
        "preread": ZERO_TIME,
        "pids_stats": {},
        "blkio_stats": dict.fromkeys(_BLKIO_LISTS),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": _zero_cpu(),
        "precpu_stats": _zero_cpu(),
        "memory_stats": {},
        "name": "/" + container.name,
        "id": container.id,
    }


def _memory_stats(path: str, keys: tuple[str, ...]) -> dict[str, int]:
    """memory.stat's ``keys``, in Go's order of a map (sorted)."""
    found = _stat_map(path)
    return {key: found.get(key, 0) for key in sorted(keys)}


def _stat_map(path: str) -> dict[str, int]:
    """A flat keyed file (``key value`` lines) as a dict; {} when missing."""
    try:
        data = _read(path)
    except OSError:
        return {}
    found = {}
    for line in data.decode(errors="replace").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            found[key] = int(value)
    return found


class _Document:
    """Docker's figures of one running container, read from its cgroup and network
    namespace (Docker's names: ``cpu_stats``, ``memory_stats``, ``pids_stats``,
    ``blkio_stats``, ``networks``)."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters
        self.host = counters.host
        self.dirs = counters.dirs

    def read(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        if self.host.unified:
            directory = self.dirs.get("unified", "")
            document["pids_stats"] = self._pids(directory)
            document["blkio_stats"] = self._blkio_v2(directory)
            document["cpu_stats"] = self._cpu_v2(directory)
            document["memory_stats"] = self._memory_v2(directory)
        else:
            document["pids_stats"] = self._pids(self.dirs.get("pids", ""))
            document["blkio_stats"] = self._blkio_v1()
            document["cpu_stats"] = self._cpu_v1()
            document["memory_stats"] = self._memory_v1()
        document["cpu_stats"]["system_cpu_usage"] = self.host.cpu_time()
        document["cpu_stats"]["online_cpus"] = self.host.cpus
        networks = self._networks()
        if networks is not None:
            document["networks"] = networks
        return document

    def _cap(self, limit: int) -> int:
        memory = self.host.memory
        return memory if limit == 0 or limit > memory > 0 else limit

    @staticmethod
    def _pids(directory: str) -> dict[str, int]:
        if not directory:
            return {}
        pids = {"current": _number(os.path.join(directory, "pids.current"))}
        limit = _number(os.path.join(directory, "pids.max"))
        if limit:
            pids["limit"] = limit
        return pids

    # cgroup v2

    def _cpu_v2(self, directory: str) -> dict[str, Any]:
        stat = _stat_map(os.path.join(directory, "cpu.stat")) if directory else {}
        return {
            "cpu_usage": {
                "total_usage": stat.get("usage_usec", 0) * 1000,
                "usage_in_kernelmode": stat.get("system_usec", 0) * 1000,
                "usage_in_usermode": stat.get("user_usec", 0) * 1000,
            },
            "throttling_data": {
                "periods": stat.get("nr_periods", 0),
                "throttled_periods": stat.get("nr_throttled", 0),
                "throttled_time": stat.get("throttled_usec", 0) * 1000,
            },
        }

    def _memory_v2(self, directory: str) -> dict[str, Any]:
        if not directory:
            return {}
        return {
            "usage": _number(os.path.join(directory, "memory.current")),
            "stats": _memory_stats(os.path.join(directory, "memory.stat"), _MEMORY_V2_KEYS),
            "limit": self._cap(_number(os.path.join(directory, "memory.max"))),
        }

    @staticmethod
    def _blkio_v2(directory: str) -> dict[str, Any]:
        blkio: dict[str, Any] = dict.fromkeys(_BLKIO_LISTS)
        try:
            data = _read(os.path.join(directory, "io.stat")) if directory else b""
        except OSError:
            data = b""
        entries = []
        for line in data.decode(errors="replace").splitlines():
            device, *pairs = line.split()
            major, _, minor = device.partition(":")
            values = dict(pair.partition("=")[::2] for pair in pairs)
            for key, op in (("rbytes", "read"), ("wbytes", "write")):
                if values.get(key, "").isdigit():
                    entries.append(
                        {
                            "major": int(major),
                            "minor": int(minor),
                            "op": op,
                            "value": int(values[key]),
                        }
                    )
        blkio["io_service_bytes_recursive"] = entries or None
        return blkio

    # cgroup v1

    def _cpu_v1(self) -> dict[str, Any]:
        cpu = _zero_cpu()
        cpuacct = self.dirs.get("cpuacct")
        if cpuacct:
            usage = cpu["cpu_usage"]
            usage["total_usage"] = _number(os.path.join(cpuacct, "cpuacct.usage"))
            try:
                percpu = _read(os.path.join(cpuacct, "cpuacct.usage_percpu")).split()
                usage["percpu_usage"] = [int(v) for v in percpu]
            except OSError:
                pass
            ticks = _stat_map(os.path.join(cpuacct, "cpuacct.stat"))
            usage["usage_in_kernelmode"] = ticks.get("system", 0) * self.host.ticks
            usage["usage_in_usermode"] = ticks.get("user", 0) * self.host.ticks
            cpu["cpu_usage"] = {
                key: usage[key]
                for key in (
                    "total_usage",
                    "percpu_usage",
                    "usage_in_kernelmode",
                    "usage_in_usermode",
                )
                if key in usage
            }
        if "cpu" in self.dirs:
            stat = _stat_map(os.path.join(self.dirs["cpu"], "cpu.stat"))
            cpu["throttling_data"] = {
                "periods": stat.get("nr_periods", 0),
                "throttled_periods": stat.get("nr_throttled", 0),
                "throttled_time": stat.get("throttled_time", 0),
            }
        return cpu

    def _memory_v1(self) -> dict[str, Any]:
        directory = self.dirs.get("memory")
        if not directory:
            return {}
        memory: dict[str, Any] = {
            "usage": _number(os.path.join(directory, "memory.usage_in_bytes")),
            "max_usage": _number(os.path.join(directory, "memory.max_usage_in_bytes")),
            "stats": _memory_stats(os.path.join(directory, "memory.stat"), _MEMORY_V1_KEYS),
        }
        failcnt = _number(os.path.join(directory, "memory.failcnt"))
        if failcnt:
            memory["failcnt"] = failcnt
        memory["limit"] = self._cap(_number(os.path.join(directory, "memory.limit_in_bytes")))
        return memory

    def _blkio_v1(self) -> dict[str, Any]:
        blkio: dict[str, Any] = {key: [] for key in _BLKIO_LISTS}
        for path in self.counters.blkio:
            try:
                data = _read(path)
            except OSError:
                continue
            entries = []
            for line in data.decode(errors="replace").splitlines():
                fields = line.split()
                if len(fields) != 3 or ":" not in fields[0] or not fields[2].isdigit():
                    continue
                major, _, minor = fields[0].partition(":")
                entries.append(
                    {
                        "major": int(major),
                        "minor": int(minor),
                        "op": fields[1],
                        "value": int(fields[2]),
                    }
                )
            if entries:
                blkio["io_service_bytes_recursive"] = entries
                break
        return blkio

    def _networks(self) -> dict[str, dict[str, int]] | None:
        """By interface of the container's own network namespace (``lo`` left out); None
        for a container without one (``host``, ``container:X``)."""
        if not self.counters.net_dev:
            return None
        try:
            data = _read(self.counters.net_dev)
        except OSError:
            return None
        interfaces = {}
        for line in data.split(b"\n")[2:]:
            name, sep, values = line.partition(b":")
            if not sep or name.strip() == b"lo":
                continue
            columns = values.split()
            interfaces[name.strip().decode()] = {
                field: int(columns[column])
                for field, column in zip(_NET_FIELDS, _NET_COLUMNS, strict=True)
            }
        return interfaces or None


class StatsReader:
    """Docker's stats documents of one container, one per :meth:`read`, each with the
    CPU figures and time of the one before as ``precpu_stats`` and ``preread`` (the
    first's are zero, as dockerd's first in a stream)."""

    def __init__(self) -> None:
        self.host = Host()
        self._pid = 0
        self._counters: Counters | None = None
        self._pre_cpu: dict[str, Any] = _zero_cpu()
        self._pre_read = ZERO_TIME

    def read(self, container: Container) -> dict[str, Any] | None:
        """The container's figures now; None when it does not run."""
        import time

        state = container.state
        pid = int(state.get("Pid") or 0) if state.get("Running") else 0
        if pid <= 0 or state.get("Restarting"):
            return None
        if pid != self._pid or self._counters is None:
            network = str(container.options.get("network") or "")
            own_network = network != "host" and not network.startswith("container:")
            try:
                self._counters = Counters(self.host, pid, own_network)
            except OSError:  # the process has just exited
                return None
            self._pid = pid
            self._pre_cpu, self._pre_read = _zero_cpu(), ZERO_TIME
        figures = _Document(self._counters).read()
        read = go_time(time.time_ns())
        document = {
            "read": read,
            "preread": self._pre_read,
            "pids_stats": figures["pids_stats"],
            "blkio_stats": figures["blkio_stats"],
            "num_procs": 0,
            "storage_stats": {},
            "cpu_stats": figures["cpu_stats"],
            "precpu_stats": self._pre_cpu,
            "memory_stats": figures["memory_stats"],
            "name": "/" + container.name,
            "id": container.id,
        }
        if "networks" in figures:
            document["networks"] = figures["networks"]
        self._pre_cpu, self._pre_read = figures["cpu_stats"], read
        return document
