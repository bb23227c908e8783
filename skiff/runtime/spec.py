"""Load an OCI bundle's config.json and check the fields the runtime honours.

The check is a light walk over a shape table rather than a JSON-schema validation: it
costs almost nothing at start-up, and each message names the field that is wrong
(``config.json: process.args: expected an array of strings``).
"""

from __future__ import annotations

import os

from skiff import jsonio
from skiff.errors import InvalidArgument
from skiff.linux.capabilities import NUMBERS as CAPABILITY_NUMBERS
from skiff.linux.namespaces import KINDS as NAMESPACE_KINDS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Spec = dict[str, Any]

# A shape is a Python type, a one-element list (an array of that shape), a dict of
# field -> shape (an object; unknown fields are allowed, as the spec says), or a
# ``MapOf`` (an object whose keys are free).


class MapOf:
    def __init__(self, shape: Any) -> None:
        self.shape = shape


_INT = int
_ID_MAPPING = [{"containerID": _INT, "hostID": _INT, "size": _INT}]
_HOOK = [{"path": str, "args": [str], "env": [str], "timeout": _INT}]
_DEVICE_RULE = [{"allow": bool, "type": str, "major": _INT, "minor": _INT, "access": str}]
_THROTTLE = [{"major": _INT, "minor": _INT, "rate": _INT}]

SHAPE: dict[str, Any] = {
    "ociVersion": str,
    "root": {"path": str, "readonly": bool},
    "hostname": str,
    "domainname": str,
    "annotations": MapOf(str),
    "process": {
        "terminal": bool,
        "consoleSize": {"height": _INT, "width": _INT},
        "user": {"uid": _INT, "gid": _INT, "umask": _INT, "additionalGids": [_INT]},
        "args": [str],
        "commandLine": str,
        "env": [str],
        "cwd": str,
        "capabilities": {
            "bounding": [str],
            "effective": [str],
            "inheritable": [str],
            "permitted": [str],
            "ambient": [str],
        },
        "rlimits": [{"type": str, "soft": _INT, "hard": _INT}],
        "noNewPrivileges": bool,
        "oomScoreAdj": _INT,
        "apparmorProfile": str,
        "selinuxLabel": str,
        "ioPriority": {"class": str, "priority": _INT},
        "scheduler": {"policy": str, "nice": _INT, "priority": _INT, "flags": [str]},
    },
    "mounts": [
        {
            "destination": str,
            "source": str,
            "type": str,
            "options": [str],
            "uidMappings": _ID_MAPPING,
            "gidMappings": _ID_MAPPING,
        }
    ],
    "hooks": {
        "prestart": _HOOK,
        "createRuntime": _HOOK,
        "createContainer": _HOOK,
        "startContainer": _HOOK,
        "poststart": _HOOK,
        "poststop": _HOOK,
    },
    "linux": {
        "namespaces": [{"type": str, "path": str}],
        "uidMappings": _ID_MAPPING,
        "gidMappings": _ID_MAPPING,
        "timeOffsets": MapOf({"secs": _INT, "nanosecs": _INT}),
        "devices": [
            {
                "type": str,
                "path": str,
                "major": _INT,
                "minor": _INT,
                "fileMode": _INT,
                "uid": _INT,
                "gid": _INT,
            }
        ],
        "cgroupsPath": str,
        "resources": {
            "devices": _DEVICE_RULE,
            "memory": {
                "limit": _INT,
                "reservation": _INT,
                "swap": _INT,
                "kernel": _INT,
                "kernelTCP": _INT,
                "swappiness": _INT,
                "disableOOMKiller": bool,
                "useHierarchy": bool,
                "checkBeforeUpdate": bool,
            },
            "cpu": {
                "shares": _INT,
                "quota": _INT,
                "burst": _INT,
                "period": _INT,
                "realtimeRuntime": _INT,
                "realtimePeriod": _INT,
                "cpus": str,
                "mems": str,
                "idle": _INT,
            },
            "pids": {"limit": _INT},
            "blockIO": {
                "weight": _INT,
                "leafWeight": _INT,
                "weightDevice": [
                    {"major": _INT, "minor": _INT, "weight": _INT, "leafWeight": _INT}
                ],
                "throttleReadBpsDevice": _THROTTLE,
                "throttleWriteBpsDevice": _THROTTLE,
                "throttleReadIOPSDevice": _THROTTLE,
                "throttleWriteIOPSDevice": _THROTTLE,
            },
            "hugepageLimits": [{"pageSize": str, "limit": _INT}],
            "network": {"classID": _INT, "priorities": [{"name": str, "priority": _INT}]},
            "rdma": MapOf({"hcaHandles": _INT, "hcaObjects": _INT}),
            "unified": MapOf(str),
        },
        "unified": MapOf(str),
        "sysctl": MapOf(str),
        "seccomp": {
            "defaultAction": str,
            "defaultErrnoRet": _INT,
            "architectures": [str],
            "flags": [str],
            "listenerPath": str,
            "listenerMetadata": str,
            "syscalls": [
                {
                    "names": [str],
                    "action": str,
                    "errnoRet": _INT,
                    "args": [{"index": _INT, "value": _INT, "valueTwo": _INT, "op": str}],
                }
            ],
        },
        "rootfsPropagation": str,
        "maskedPaths": [str],
        "readonlyPaths": [str],
        "mountLabel": str,
        "personality": {"domain": str, "flags": [str]},
    },
}

_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean"}

RLIMITS = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}

ROOTFS_PROPAGATIONS = (
    "private",
    "rprivate",
    "slave",
    "rslave",
    "shared",
    "rshared",
    "unbindable",
    "runbindable",
)


def _describe(shape: Any) -> str:
    if isinstance(shape, list):
        inner = shape[0]
        if inner in _TYPE_NAMES:
            return f"an array of {_TYPE_NAMES[inner].split(' ', 1)[1]}s"
        return "an array"
    if isinstance(shape, dict | MapOf):
        return "an object"
    return _TYPE_NAMES[shape]


def _check(value: Any, shape: Any, where: str) -> None:
    if isinstance(shape, list):
        if not isinstance(value, list):
            raise _invalid(where, f"expected {_describe(shape)}")
        for i, item in enumerate(value):
            _check(item, shape[0], f"{where}[{i}]")
    elif isinstance(shape, dict):
        if not isinstance(value, dict):
            raise _invalid(where, "expected an object")
        for key, sub in shape.items():
            if key in value and value[key] is not None:
                _check(value[key], sub, f"{where}.{key}" if where else key)
    elif isinstance(shape, MapOf):
        if not isinstance(value, dict):
            raise _invalid(where, "expected an object")
        for key, item in value.items():
            _check(item, shape.shape, f"{where}.{key}")
    elif shape is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _invalid(where, "expected an integer")
    elif not isinstance(value, shape):
        raise _invalid(where, f"expected {_describe(shape)}")


def _invalid(where: str, message: str) -> InvalidArgument:
    return InvalidArgument(f"config.json: {where}: {message}")


def check_spec(spec: Any) -> None:
    """Raise ``InvalidArgument`` naming the first field that is wrong."""
    if not isinstance(spec, dict):
        raise InvalidArgument("config.json: expected a JSON object")
    _check(spec, SHAPE, "")
    if "ociVersion" not in spec:
        raise _invalid("ociVersion", "missing")
    if not isinstance(spec.get("root"), dict) or not spec["root"].get("path"):
        raise _invalid("root.path", "missing")
    process = spec.get("process")
    if process is not None:
        _check_process(process, "process")
    for i, mount in enumerate(spec.get("mounts") or []):
        if not mount.get("destination"):
            raise _invalid(f"mounts[{i}].destination", "missing")
    linux = spec.get("linux") or {}
    seen: set[str] = set()
    for i, ns in enumerate(linux.get("namespaces") or []):
        kind = ns.get("type")
        if kind not in NAMESPACE_KINDS:
            raise _invalid(f"linux.namespaces[{i}].type", f"unknown namespace type {kind!r}")
        if kind in seen:
            raise _invalid(f"linux.namespaces[{i}].type", f"duplicate namespace type {kind!r}")
        seen.add(kind)
    if (linux.get("uidMappings") or linux.get("gidMappings")) and "user" not in seen:
        raise _invalid("linux.uidMappings", "user mappings need a user namespace")
    if (
        "user" in seen
        and not any(ns.get("path") for ns in linux["namespaces"] if ns.get("type") == "user")
        and (not linux.get("uidMappings") or not linux.get("gidMappings"))
    ):
        raise _invalid("linux.uidMappings", "a new user namespace needs uid and gid mappings")
    if linux.get("timeOffsets") and "time" not in seen:
        raise _invalid("linux.timeOffsets", "time offsets need a time namespace")
    propagation = linux.get("rootfsPropagation")
    if propagation and propagation not in ROOTFS_PROPAGATIONS:
        raise _invalid("linux.rootfsPropagation", f"unknown propagation {propagation!r}")
    for key in linux.get("sysctl") or {}:
        _check_sysctl(key, seen)
    for i, device in enumerate(linux.get("devices") or []):
        if device.get("type") not in ("c", "b", "u", "p"):
            raise _invalid(
                f"linux.devices[{i}].type", f"unknown device type {device.get('type')!r}"
            )
        if not str(device.get("path", "")).startswith("/dev/"):
            raise _invalid(f"linux.devices[{i}].path", "must be under /dev/")
    personality = linux.get("personality")
    if personality and personality.get("domain") not in ("LINUX", "LINUX32"):
        raise _invalid("linux.personality.domain", f"unknown domain {personality.get('domain')!r}")


def _check_process(process: dict[str, Any], where: str) -> None:
    args = process.get("args")
    if not args:
        raise _invalid(f"{where}.args", "must not be empty")
    cwd = process.get("cwd")
    if cwd is None or not cwd.startswith("/"):
        raise _invalid(f"{where}.cwd", "must be an absolute path")
    for key, names in (process.get("capabilities") or {}).items():
        for i, name in enumerate(names or []):
            if name not in CAPABILITY_NUMBERS:
                raise _invalid(f"{where}.capabilities.{key}[{i}]", f"unknown capability {name!r}")
    seen: set[str] = set()
    for i, rlimit in enumerate(process.get("rlimits") or []):
        kind = rlimit.get("type")
        if kind not in RLIMITS:
            raise _invalid(f"{where}.rlimits[{i}].type", f"unknown rlimit {kind!r}")
        if kind in seen:
            raise _invalid(f"{where}.rlimits[{i}].type", f"duplicate rlimit {kind!r}")
        if rlimit.get("soft", 0) > rlimit.get("hard", 0):
            raise _invalid(f"{where}.rlimits[{i}]", "soft limit is above the hard limit")
        seen.add(kind)


def check_process(process: Any) -> None:
    """Check an exec ``process.json`` (the ``process`` object of the spec)."""
    if not isinstance(process, dict):
        raise InvalidArgument("process.json: expected a JSON object")
    try:
        _check(process, SHAPE["process"], "process")
        _check_process(process, "process")
    except InvalidArgument as e:
        raise InvalidArgument(str(e).replace("config.json: ", "process.json: ", 1)) from None


# sysctls that belong to a namespace, and which namespace (as runc validates them).
_NAMESPACED_SYSCTLS = {
    "kernel.msgmax": "ipc",
    "kernel.msgmnb": "ipc",
    "kernel.msgmni": "ipc",
    "kernel.sem": "ipc",
    "kernel.shmall": "ipc",
    "kernel.shmmax": "ipc",
    "kernel.shmmni": "ipc",
    "kernel.shm_rmid_forced": "ipc",
    "kernel.hostname": "uts",
    "kernel.domainname": "uts",
}


def _check_sysctl(key: str, namespaces: set[str]) -> None:
    where = f"linux.sysctl.{key}"
    if key.startswith("fs.mqueue."):
        needed = "ipc"
    elif key.startswith("net."):
        needed = "network"
    else:
        needed = _NAMESPACED_SYSCTLS.get(key, "")
    if not needed:
        raise _invalid(where, "sysctl is not namespaced: it would change the host")
    if needed not in namespaces:
        raise _invalid(where, f"sysctl needs a new {needed} namespace")


def load_spec(bundle: str) -> Spec:
    """Read and check ``bundle/config.json``."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            spec = jsonio.loads(f.read())
    except FileNotFoundError:
        raise InvalidArgument(f"config.json: not found in bundle {bundle}") from None
    except ValueError as e:
        raise InvalidArgument(f"config.json: invalid JSON: {e}") from None
    check_spec(spec)
    return spec
