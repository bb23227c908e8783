"""OCI ``linux.resources`` written to cgroup v2 control files, converted as runc and crun do.

v1 units become v2 files: ``cpu.shares`` -> cpu.weight, quota and period -> cpu.max,
``memory.swap`` (memory plus swap) -> memory.swap.max (swap alone), ``blockIO.weight`` ->
io.bfq.weight or io.weight, throttles -> io.max, devices -> an eBPF filter. Knobs v2 does not
have (kernel memory, swappiness, realtime CPU, net_cls and net_prio...) are an error when given
a value other than their default. ``unified`` is written last, so it overrides the rest.
"""

from __future__ import annotations

from skiff.cgroups import convert, oci
from skiff.cgroups.devices import FIELD as DEVICES_FIELD
from skiff.cgroups.devices import parse_rules
from skiff.cgroups.files import CgroupDir, WriteError
from skiff.cgroups.oci import Section
from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Require = Callable[[str, str], None]
    """(controller, OCI field): raise unless the controller is enabled for the cgroup."""

_THROTTLE_KEYS = {
    "throttleReadBpsDevice": "rbps",
    "throttleWriteBpsDevice": "wbps",
    "throttleReadIOPSDevice": "riops",
    "throttleWriteIOPSDevice": "wiops",
}


def controllers(d: CgroupDir) -> set[str]:
    """The controllers the parent enables for this cgroup."""
    try:
        return set(d.read("cgroup.controllers").split())
    except FileNotFoundError:
        return set()


def apply(resources: dict[str, Any], d: CgroupDir) -> None:
    available = controllers(d)

    def require(controller: str, field: str) -> None:
        if controller not in available:
            raise InvalidArgument(f"{field}: {controller} cgroup controller not available")

    _pids(Section(resources, "pids"), d, require)
    _memory(Section(resources, "memory"), d, require)
    _io(Section(resources, "blockIO"), d, require)
    _cpu(Section(resources, "cpu"), d, require)
    _devices(resources.get("devices"), d)
    _cpuset(Section(resources, "cpu"), d, require)
    _hugetlb(resources, d, require)
    _network(Section(resources, "network"))
    _rdma(resources, d, require)
    _unified(resources.get("unified"), d, available)


def _not_on_v2(field: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: not available on cgroup v2")


def _pids(pids: Section, d: CgroupDir, require: Require) -> None:
    limit = pids.integer("limit")
    if limit:
        require("pids", pids.name)
        d.write("pids.max", convert.limit(limit), pids.field("limit"))


def _memory(mem: Section, d: CgroupDir, require: Require) -> None:
    for key in ("kernel", "kernelTCP"):
        if mem.integer(key) is not None:
            raise _not_on_v2(mem.field(key))
    if mem.integer("swappiness") not in (None, -1, 2**64 - 1):
        raise _not_on_v2(mem.field("swappiness"))
    if mem.flag("disableOOMKiller"):
        raise _not_on_v2(mem.field("disableOOMKiller"))
    if mem.flag("useHierarchy") is False:
        raise InvalidArgument(f"{mem.field('useHierarchy')}: cgroup v2 is always hierarchical")
    limit, reservation = mem.integer("limit"), mem.integer("reservation")
    swap = convert.swap_to_v2(mem.integer("swap"), limit, mem.field("swap"))
    if not limit and swap is None and not reservation:
        return
    require("memory", mem.name)
    if mem.flag("checkBeforeUpdate") and limit and limit > 0:
        usage = d.read_int("memory.current")
        if limit <= usage:
            raise InvalidArgument(
                f"{mem.field('limit')}: {limit} is not above the current usage {usage}"
            )
    if swap is not None:
        value = convert.limit(swap)
        # Without swap accounting the file is missing: "no limit" and "no swap" hold anyway.
        if d.has("memory.swap.max") or value not in ("max", "0"):
            d.write("memory.swap.max", value, mem.field("swap"))
    if limit:
        d.write("memory.max", convert.limit(limit), mem.field("limit"))
    if reservation:
        d.write("memory.low", convert.limit(reservation), mem.field("reservation"))


def _io(blkio: Section, d: CgroupDir, require: Require) -> None:
    if blkio.integer("leafWeight"):
        raise _not_on_v2(blkio.field("leafWeight"))
    weight = blkio.integer("weight")
    weight_devices = blkio.objects("weightDevice")
    field = blkio.field("weightDevice")
    if oci.device_lines(weight_devices, "leafWeight", field):
        raise _not_on_v2(f"{field}.leafWeight")
    io_max: list[str] = []
    for key, name in _THROTTLE_KEYS.items():
        for device, rate in oci.device_lines(blkio.objects(key), "rate", blkio.field(key)):
            io_max.append(f"{device} {name}={convert.throttle_rate(rate)}")
    if not (weight or weight_devices or io_max):
        return
    require("io", blkio.name)
    # BFQ takes blkio's 10..1000 scale as is; io.weight (1..10000) needs converting.
    bfq = d.has("io.bfq.weight")
    if weight:
        _check_weight(weight, blkio.field("weight"))
        value = weight if bfq else convert.blkio_weight_to_io_weight(weight)
        d.write("io.bfq.weight" if bfq else "io.weight", str(value), blkio.field("weight"))
    for device, value in oci.device_lines(weight_devices, "weight", field):
        _check_weight(value, field)
        value = value if bfq else convert.blkio_weight_to_io_weight(value)
        d.write("io.bfq.weight" if bfq else "io.weight", f"{device} {value}", field)
    if io_max:
        d.write_lines("io.max", io_max, blkio.name)


def _check_weight(weight: int, field: str) -> None:
    if not 10 <= weight <= 1000:
        raise InvalidArgument(f"{field}: {weight} is not in 10..1000")


def _cpu(cpu: Section, d: CgroupDir, require: Require) -> None:
    for key in ("realtimePeriod", "realtimeRuntime"):
        if cpu.integer(key):
            raise _not_on_v2(cpu.field(key))
    shares, burst, idle = cpu.integer("shares"), cpu.integer("burst"), cpu.integer("idle")
    quota = cpu.integer("quota")
    cpu_max = convert.cpu_max(quota, cpu.integer("period"))
    if not shares and cpu_max is None and burst is None and idle is None:
        return
    require("cpu", cpu.name)
    if shares:
        weight = convert.shares_to_weight(shares)
        d.write("cpu.weight", str(weight), cpu.field("shares"))
    if cpu_max is not None:
        d.write("cpu.max", cpu_max, cpu.field("quota" if quota else "period"))
    if burst is not None:
        d.write("cpu.max.burst", str(burst), cpu.field("burst"))
    if idle is not None:
        d.write("cpu.idle", str(idle), cpu.field("idle"))


def _cpuset(cpu: Section, d: CgroupDir, require: Require) -> None:
    for key in ("cpus", "mems"):
        value = cpu.text(key)
        if value:
            require("cpuset", cpu.field(key))
            d.write(f"cpuset.{key}", value, cpu.field(key))


def _devices(items: Any, d: CgroupDir) -> None:
    if not items:
        return
    rules = parse_rules(items)
    from skiff.cgroups import devices_bpf  # loads ctypes and bpf(2) only when needed

    try:
        devices_bpf.install(d.path, rules)
    except OSError as e:
        raise InvalidArgument(
            f"{DEVICES_FIELD}: cannot attach the device filter to {d.path}: {e.strerror}"
        ) from None


def _hugetlb(resources: dict[str, Any], d: CgroupDir, require: Require) -> None:
    limits = oci.hugepage_limits(resources)
    if not limits:
        return
    field = f"{oci.PREFIX}.hugepageLimits"
    require("hugetlb", field)
    for size, limit in limits:
        name = f"hugetlb.{size}.max"
        if not d.has(name):
            raise InvalidArgument(f"{field}: page size {size} not supported ({name} missing)")
        d.write(name, str(limit), field)
        # Reservations count too (Linux 5.7), as runc sets them.
        if d.has(f"hugetlb.{size}.rsvd.max"):
            d.write(f"hugetlb.{size}.rsvd.max", str(limit), field)


def _network(net: Section) -> None:
    if net.integer("classID"):
        raise _not_on_v2(f"{net.field('classID')} (net_cls)")
    if net.objects("priorities"):
        raise _not_on_v2(f"{net.field('priorities')} (net_prio)")


def _rdma(resources: dict[str, Any], d: CgroupDir, require: Require) -> None:
    lines = oci.rdma_lines(resources)
    if lines:
        field = f"{oci.PREFIX}.rdma"
        require("rdma", field)
        d.write_lines("rdma.max", lines, field)


def _unified(unified: Any, d: CgroupDir, available: set[str]) -> None:
    """Files written as given; a missing one is blamed on its controller when it is not enabled."""
    if not unified:
        return
    field = f"{oci.PREFIX}.unified"
    if not isinstance(unified, dict):
        raise InvalidArgument(f"{field}: expected an object of file names to values")
    for name, value in unified.items():
        where = f"{field}.{name}"
        if not name or "/" in name or name in (".", ".."):
            raise InvalidArgument(f"{where}: expected a file name in the cgroup directory")
        if not isinstance(value, str):
            raise InvalidArgument(f"{where}: expected a string, got {value!r}")
        try:
            d.write(name, value, where)
        except WriteError as e:
            controller = name.split(".", 1)[0]
            if e.errno is None and controller != "cgroup" and controller not in available:
                raise InvalidArgument(
                    f"{where}: {controller} cgroup controller not available"
                ) from None
            raise
