"""``update``: linux.resources from a JSON file or from runc's individual flags."""

from __future__ import annotations

import json
import sys

from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def parse_bytes(text: str, flag: str) -> int:
    """``512m``, ``1g``, ``1048576`` or ``-1`` (unlimited)."""
    units = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    value = text.strip().lower()
    if len(value) > 1 and value[-1] == "b" and value[-2] in units:
        value = value[:-1]
    multiplier = 1
    if value and value[-1] in units:
        multiplier = units[value[-1]]
        value = value[:-1]
    try:
        return int(float(value) * multiplier) if value != "-1" else -1
    except ValueError:
        raise InvalidArgument(
            f"invalid value {text!r} for --{flag}: use bytes, or a number with k, m or g"
        ) from None


def resources_from_flags(flags: dict[str, Any]) -> dict[str, Any]:
    if flags["resources"]:
        return _resources_file(flags["resources"])
    resources: dict[str, Any] = {}
    memory = {
        key: parse_bytes(flags[flag.replace("-", "_")], flag)
        for key, flag in (
            ("limit", "memory"),
            ("reservation", "memory-reservation"),
            ("swap", "memory-swap"),
        )
        if flags[flag.replace("-", "_")] is not None
    }
    if memory:
        resources["memory"] = memory
    cpu = {
        key: flags[name]
        for key, name in (
            ("shares", "cpu_shares"),
            ("quota", "cpu_quota"),
            ("period", "cpu_period"),
            ("realtimeRuntime", "cpu_rt_runtime"),
            ("realtimePeriod", "cpu_rt_period"),
            ("cpus", "cpuset_cpus"),
            ("mems", "cpuset_mems"),
        )
        if flags[name] is not None
    }
    if cpu:
        resources["cpu"] = cpu
    if flags["pids_limit"] is not None:
        resources["pids"] = {"limit": flags["pids_limit"]}
    if flags["blkio_weight"] is not None:
        resources["blockIO"] = {"weight": flags["blkio_weight"]}
    if not resources:
        raise InvalidArgument("update: nothing to update: give --resources or a limit flag")
    return resources


def _resources_file(path: str) -> dict[str, Any]:
    try:
        if path == "-":
            resources = json.load(sys.stdin)
        else:
            with open(path) as f:
                resources = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise InvalidArgument(f"--resources: {e}") from None
    if not isinstance(resources, dict):
        raise InvalidArgument("--resources: expected a JSON object of linux.resources")
    return resources
