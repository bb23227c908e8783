"""OCI ``linux.resources`` written to cgroup v1 control files.

A controller is looked up only for a section that asks for something, so a missing
controller is an error only when it is needed. Zero or missing values leave the kernel's
value alone, as runc does (``pids.limit`` 0, ``cpu.shares`` 0, ``memory.limit`` 0...).
"""

from __future__ import annotations

import errno

from skiff.cgroups import oci
from skiff.cgroups.devices import FIELD as DEVICES_FIELD
from skiff.cgroups.devices import parse_rules
from skiff.cgroups.files import CgroupDir, WriteError
from skiff.cgroups.oci import Section
from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    DirFor = Callable[[str, str], CgroupDir]
    """(controller, OCI field) -> the cgroup's directory in that controller's hierarchy."""

_THROTTLE_FILES = {
    "throttleReadBpsDevice": "blkio.throttle.read_bps_device",
    "throttleWriteBpsDevice": "blkio.throttle.write_bps_device",
    "throttleReadIOPSDevice": "blkio.throttle.read_iops_device",
    "throttleWriteIOPSDevice": "blkio.throttle.write_iops_device",
}


def apply(resources: dict[str, Any], dir_for: DirFor) -> None:
    if resources.get("unified"):
        raise InvalidArgument(f"{oci.PREFIX}.unified: cgroup v2 files cannot be set on cgroup v1")
    _cpuset(Section(resources, "cpu"), dir_for)
    _devices(resources.get("devices"), dir_for)
    _memory(Section(resources, "memory"), dir_for)
    _cpu(Section(resources, "cpu"), dir_for)
    _pids(Section(resources, "pids"), dir_for)
    _blkio(Section(resources, "blockIO"), dir_for)
    _hugetlb(resources, dir_for)
    _network(Section(resources, "network"), dir_for)
    _rdma(resources, dir_for)


def _cpuset(cpu: Section, dir_for: DirFor) -> None:
    for key in ("cpus", "mems"):
        value = cpu.text(key)
        if value:
            dir_for("cpuset", cpu.field(key)).write(f"cpuset.{key}", value, cpu.field(key))


def _devices(items: Any, dir_for: DirFor) -> None:
    """Deny everything, then each rule in order (see ``skiff.cgroups.devices``)."""
    if not items:
        return
    rules = parse_rules(items)
    d = dir_for("devices", DEVICES_FIELD)
    d.write("devices.deny", "a", DEVICES_FIELD)
    for i, rule in enumerate(rules):
        name = "devices.allow" if rule.allow else "devices.deny"
        d.write(name, rule.v1_line(), f"{DEVICES_FIELD}[{i}]")


def _memory(mem: Section, dir_for: DirFor) -> None:
    limit, swap = mem.integer("limit"), mem.integer("swap")
    reservation, swappiness = mem.integer("reservation"), mem.integer("swappiness")
    kernel, kernel_tcp = mem.integer("kernel"), mem.integer("kernelTCP")
    disable_oom, hierarchy = mem.flag("disableOOMKiller"), mem.flag("useHierarchy")
    if swappiness in (-1, 2**64 - 1):  # runtimes' way of saying "unset"
        swappiness = None
    settable = (kernel, kernel_tcp, swappiness, hierarchy)  # where 0 and false are values too
    if not (limit or swap or reservation or disable_oom) and all(v is None for v in settable):
        return
    d = dir_for("memory", mem.name)
    if mem.flag("checkBeforeUpdate") and limit and limit > 0:
        usage = d.read_int("memory.usage_in_bytes")
        if limit <= usage:
            raise InvalidArgument(
                f"{mem.field('limit')}: {limit} is not above the current usage {usage}"
            )
    _memory_and_swap(mem, d, limit or 0, swap or 0)
    if reservation:
        d.write("memory.soft_limit_in_bytes", str(reservation), mem.field("reservation"))
    if kernel is not None:
        d.write("memory.kmem.limit_in_bytes", str(kernel), mem.field("kernel"))
    if kernel_tcp is not None:
        d.write("memory.kmem.tcp.limit_in_bytes", str(kernel_tcp), mem.field("kernelTCP"))
    if swappiness is not None:
        if not 0 <= swappiness <= 100:
            raise InvalidArgument(f"{mem.field('swappiness')}: {swappiness} is not in 0..100")
        d.write("memory.swappiness", str(swappiness), mem.field("swappiness"))
    if disable_oom:
        d.write("memory.oom_control", "1", mem.field("disableOOMKiller"))
    if hierarchy is not None:
        d.write("memory.use_hierarchy", str(int(hierarchy)), mem.field("useHierarchy"))


def _memory_and_swap(mem: Section, d: CgroupDir, limit: int, swap: int) -> None:
    """memory.limit_in_bytes and memory.memsw.limit_in_bytes, in an order the kernel accepts.

    The kernel keeps limit <= memsw limit at every step, so a raised memsw limit goes first
    and a lowered one last (runc's order). An unlimited memory with swap unset makes swap
    unlimited too.
    """
    memsw = "memory.memsw.limit_in_bytes"
    if limit == -1 and swap == 0 and d.has(memsw):
        swap = -1
    if limit and swap:
        current = d.read_int("memory.limit_in_bytes")
        if swap == -1 or current < swap:
            d.write(memsw, str(swap), mem.field("swap"))
            d.write("memory.limit_in_bytes", str(limit), mem.field("limit"))
            return
    if limit:
        d.write("memory.limit_in_bytes", str(limit), mem.field("limit"))
    if swap:
        d.write(memsw, str(swap), mem.field("swap"))


def _cpu(cpu: Section, dir_for: DirFor) -> None:
    shares, quota, period = cpu.integer("shares"), cpu.integer("quota"), cpu.integer("period")
    burst, idle = cpu.integer("burst"), cpu.integer("idle")
    rt_period, rt_runtime = cpu.integer("realtimePeriod"), cpu.integer("realtimeRuntime")
    if (
        not (shares or quota or period or rt_period or rt_runtime)
        and burst is None
        and idle is None
    ):
        return
    d = dir_for("cpu", cpu.name)
    if shares:
        d.write("cpu.shares", str(shares), cpu.field("shares"))
        # The kernel clamps out-of-range shares silently; runc reports it.
        actual = d.read_int("cpu.shares")
        if actual != shares:
            raise InvalidArgument(
                f"{cpu.field('shares')}: the kernel set {actual} for {shares} (range 2..262144)"
            )
    _quota_and_period(cpu, d, quota, period)
    if burst is not None:
        d.write("cpu.cfs_burst_us", str(burst), cpu.field("burst"))
    if rt_period:
        d.write("cpu.rt_period_us", str(rt_period), cpu.field("realtimePeriod"))
    if rt_runtime:
        d.write("cpu.rt_runtime_us", str(rt_runtime), cpu.field("realtimeRuntime"))
    if idle is not None:
        d.write("cpu.idle", str(idle), cpu.field("idle"))


def _quota_and_period(cpu: Section, d: CgroupDir, quota: int | None, period: int | None) -> None:
    """A shorter period can be refused (EINVAL) until the quota fits it: then set it after."""
    retry_period = False
    if period:
        try:
            d.write("cpu.cfs_period_us", str(period), cpu.field("period"))
        except WriteError as e:
            if not quota or e.errno != errno.EINVAL:
                raise
            retry_period = True
    if quota:
        d.write("cpu.cfs_quota_us", str(quota), cpu.field("quota"))
    if retry_period:
        d.write("cpu.cfs_period_us", str(period), cpu.field("period"))


def _pids(pids: Section, dir_for: DirFor) -> None:
    limit = pids.integer("limit")
    if limit:
        value = "max" if limit < 0 else str(limit)
        dir_for("pids", pids.name).write("pids.max", value, pids.field("limit"))


def _blkio(blkio: Section, dir_for: DirFor) -> None:
    weight, leaf_weight = blkio.integer("weight"), blkio.integer("leafWeight")
    field = blkio.field("weightDevice")
    weights = oci.device_lines(blkio.objects("weightDevice"), "weight", field)
    leaf_weights = oci.device_lines(blkio.objects("weightDevice"), "leafWeight", field)
    throttles = {
        key: [f"{dev} {rate}" for dev, rate in oci.device_lines(blkio.objects(key), "rate", key)]
        for key in _THROTTLE_FILES
    }
    if not (weight or leaf_weight or weights or leaf_weights or any(throttles.values())):
        return
    d = dir_for("blkio", blkio.name)
    if weight:
        d.write(_weight_file(d, "weight", blkio), str(weight), blkio.field("weight"))
    if leaf_weight:
        d.write("blkio.leaf_weight", str(leaf_weight), blkio.field("leafWeight"))
    for device, value in weights:
        d.write(_weight_file(d, "weight_device", blkio), f"{device} {value}", field)
    for device, value in leaf_weights:
        d.write("blkio.leaf_weight_device", f"{device} {value}", field)
    for key, name in _THROTTLE_FILES.items():
        if throttles[key]:
            d.write_lines(name, throttles[key], blkio.field(key))


def _weight_file(d: CgroupDir, kind: str, blkio: Section) -> str:
    """blkio.weight (CFQ) or blkio.bfq.weight (BFQ): whichever the IO scheduler offers."""
    for name in (f"blkio.{kind}", f"blkio.bfq.{kind}"):
        if d.has(name):
            return name
    raise InvalidArgument(
        f"{blkio.field('weight' if kind == 'weight' else 'weightDevice')}: "
        f"no IO scheduler with weights (blkio.{kind} and blkio.bfq.{kind} are missing)"
    )


def _hugetlb(resources: dict[str, Any], dir_for: DirFor) -> None:
    limits = oci.hugepage_limits(resources)
    if not limits:
        return
    field = f"{oci.PREFIX}.hugepageLimits"
    d = dir_for("hugetlb", field)
    for size, limit in limits:
        name = f"hugetlb.{size}.limit_in_bytes"
        if not d.has(name):
            raise InvalidArgument(f"{field}: page size {size} not supported ({name} missing)")
        d.write(name, str(limit), field)


def _network(net: Section, dir_for: DirFor) -> None:
    class_id = net.integer("classID")
    if class_id:
        d = dir_for("net_cls", net.field("classID"))
        d.write("net_cls.classid", str(class_id), net.field("classID"))
    field = net.field("priorities")
    lines = []
    for i, item in enumerate(net.objects("priorities")):
        name, priority = item.get("name"), oci.item_int(item, "priority", f"{field}[{i}]")
        if not isinstance(name, str) or not name or priority is None:
            raise InvalidArgument(f"{field}[{i}]: expected an interface name and a priority")
        lines.append(f"{name} {priority}")
    if lines:
        dir_for("net_prio", field).write_lines("net_prio.ifpriomap", lines, field)


def _rdma(resources: dict[str, Any], dir_for: DirFor) -> None:
    lines = oci.rdma_lines(resources)
    if lines:
        field = f"{oci.PREFIX}.rdma"
        dir_for("rdma", field).write_lines("rdma.max", lines, field)
