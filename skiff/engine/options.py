"""``docker run``/``docker create`` options: their values, Docker's defaults and errors.

``ContainerOptions`` holds what a ``create`` was asked, in Docker's own terms (the
``Config`` and ``HostConfig`` of its API, flattened), with Docker's defaults. The
``parse_*`` helpers turn one flag's string into its value, failing with the message the
docker CLI 28 or its daemon gives for the same string; the CLI and the API both use them,
so the two fail alike. Where the docker CLI validates a flag (pflag), the message has
pflag's form::

    invalid argument "12q" for "-m, --memory" flag: invalid suffix: 'q'

Checks Docker leaves to its daemon (minimum memory, CPU ranges, capability names, ...)
are in ``ContainerOptions.validate``, with the daemon's messages.

Sizes follow docker/go-units 0.5 (``RAMInBytes``: binary units, ``k``/``kb``/``kib``,
case-insensitive), integers Go's ``strconv.ParseInt`` with base 0 (pflag's: ``0x10``,
``0o17``, ``1_000``), durations Go's ``time.ParseDuration``.
"""

from __future__ import annotations

import copy
import os

from skiff.errors import InvalidArgument
from skiff.linux import signals
from skiff.network.ports import PortBinding, go_ip_string, go_parse_ip
from skiff.values import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any


class InvalidFlagValue(InvalidArgument):
    """A flag's value the docker CLI rejects while parsing flags (pflag's message)."""

    def __init__(self, flag: str, value: str, reason: str) -> None:
        self.flag = flag_name(flag)
        self.value = value
        self.reason = reason
        super().__init__(
            f"invalid argument {go_quote(value)} for {go_quote(self.flag)} flag: {reason}"
        )


class _Bad(Exception):
    """A value's reason for being refused, before the flag's name is put around it."""


# Flags with a one-letter form, as pflag names them in errors ("-m, --memory").
SHORTHANDS = {
    "attach": "a",
    "cpu-shares": "c",
    "env": "e",
    "hostname": "h",
    "interactive": "i",
    "label": "l",
    "memory": "m",
    "publish": "p",
    "publish-all": "P",
    "tty": "t",
    "user": "u",
    "volume": "v",
    "workdir": "w",
}


def flag_name(flag: str) -> str:
    """pflag's name of a flag in errors: ``memory`` or ``--memory`` -> ``-m, --memory``."""
    name = flag.lstrip("-")
    if name in SHORTHANDS.values():
        name = next(long for long, short in SHORTHANDS.items() if short == name)
    short = SHORTHANDS.get(name)
    return f"-{short}, --{name}" if short else f"--{name}"


def _flag(flag: str, value: str, parse: Callable[[str], Any]) -> Any:
    try:
        return parse(value)
    except _Bad as e:
        raise InvalidFlagValue(flag, value, str(e)) from None


# --- Go's parsers, with their error texts ----------------------------------------------

from skiff.gotext import go_quote  # noqa: E402 (the flags' messages quote as Go does)


def _underscore_ok(s: str) -> bool:
    """Go's rule: an underscore only between digits, or after a base prefix."""
    saw = "^"
    s = s[1:] if s[:1] in "+-" and s else s
    i = 0
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i, saw, hexa = 2, "0", s[1].lower() == "x"
    for c in s[i:]:
        if c.isascii() and (c.isdigit() or (hexa and c.lower() in "abcdef")):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


_INT_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdef"}


def go_parse_uint(s: str, base: int = 0, bits: int = 64, fn: str = "ParseUint") -> int:
    """Go's ``strconv.ParseUint``; raises ``_Bad`` with Go's message."""
    syntax = _Bad(f"strconv.{fn}: parsing {go_quote(s)}: invalid syntax")
    body, underscores = s, False
    if not body:
        raise syntax
    if base == 0:
        base = 10
        if body[0] == "0":
            if len(body) >= 3 and body[1].lower() in "box":
                base = {"b": 2, "o": 8, "x": 16}[body[1].lower()]
                body = body[2:]
            else:
                base = 8
                body = body[1:] or "0"
        underscores = True
    digits = []
    for c in body:
        if c == "_" and underscores:
            continue
        if not c.isascii() or c.lower() not in _INT_DIGITS[base]:
            raise syntax
        digits.append(c)
    if not digits or (underscores and "_" in s and not _underscore_ok(s)):
        raise syntax
    value = int("".join(digits), base)
    if value >= 1 << bits:
        raise _Bad(f"strconv.{fn}: parsing {go_quote(s)}: value out of range")
    return value


def go_parse_int(s: str, base: int = 0, bits: int = 64) -> int:
    """Go's ``strconv.ParseInt`` (pflag's int flags use base 0)."""
    body, negative = s, False
    if body[:1] in ("+", "-"):
        negative, body = body[0] == "-", body[1:]
    try:
        magnitude = go_parse_uint(body, base, 64, "ParseInt")
    except _Bad as e:
        raise _Bad(str(e).replace(go_quote(body), go_quote(s), 1)) from None
    limit = 1 << (bits - 1)
    if (negative and magnitude > limit) or (not negative and magnitude >= limit):
        raise _Bad(f"strconv.ParseInt: parsing {go_quote(s)}: value out of range")
    return -magnitude if negative else magnitude


def go_atoi(s: str) -> int | None:
    """Go's ``strconv.Atoi``, or None where it fails."""
    try:
        return go_parse_int(s, 10)
    except _Bad:
        return None


def go_parse_bool(s: str) -> bool:
    if s in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if s in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise _Bad(f"strconv.ParseBool: parsing {go_quote(s)}: invalid syntax")


# Patterns as text: ``re`` is imported where one is needed (it costs several ms to import).
_DEC_FLOAT = r"[+-]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9_]+)?"
_HEX_FLOAT = r"[+-]?0[xX](?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9_]+"
_SPECIAL_FLOAT = r"(?i)[+-]?(?:inf|infinity|nan)"


def go_parse_float(s: str) -> float:
    """Go's ``strconv.ParseFloat(s, 64)``."""
    syntax = _Bad(f"strconv.ParseFloat: parsing {go_quote(s)}: invalid syntax")
    import re

    if re.fullmatch(_SPECIAL_FLOAT, s):
        return float(s)
    hexa = re.fullmatch(_HEX_FLOAT, s)
    if not hexa and not re.fullmatch(_DEC_FLOAT, s):
        raise syntax
    if not any(c.isdigit() for c in s) or ("_" in s and not _underscore_ok(s)):
        raise syntax
    text = s.replace("_", "")
    value = float.fromhex(text) if hexa else float(text)
    if value in (float("inf"), float("-inf")):
        raise _Bad(f"strconv.ParseFloat: parsing {go_quote(s)}: value out of range")
    return value


_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def go_parse_duration(s: str) -> int:
    """Go's ``time.ParseDuration``, in nanoseconds."""
    import re

    invalid = _Bad(f"time: invalid duration {go_quote(s)}")
    rest, negative = s, False
    if rest[:1] in ("+", "-"):
        negative, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise invalid
    total = 0.0
    while rest:
        if not (rest[0] == "." or ("0" <= rest[0] <= "9")):
            raise invalid
        m = re.match(r"([0-9]*)(\.([0-9]*))?", rest)
        assert m is not None
        whole, fraction = m.group(1), m.group(3) or ""
        if not whole and not fraction:
            raise invalid
        rest = rest[m.end() :]
        u = re.match(r"[^0-9.]*", rest)
        unit_text = u.group(0) if u else ""
        if not unit_text:
            raise _Bad(f"time: missing unit in duration {go_quote(s)}")
        if unit_text not in _DURATION_UNITS:
            raise _Bad(f"time: unknown unit {go_quote(unit_text)} in duration {go_quote(s)}")
        rest = rest[len(unit_text) :]
        unit = _DURATION_UNITS[unit_text]
        total += (
            int(whole or "0") * unit
            + (int(fraction) / 10 ** len(fraction) if fraction else 0) * unit
        )
        if total > (1 << 63) - 1 + (1 if negative else 0):
            raise invalid
    return -int(total) if negative else int(total)


# --- sizes (docker/go-units 0.5) --------------------------------------------------------

_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


def _parse_size(text: str, units: Mapping[str, int]) -> int:
    sep = max(text.rfind(c) for c in "0123456789. ")
    if sep == -1:
        raise _Bad(f"invalid size: '{text}'")
    if text[sep] != " ":
        number, suffix = text[: sep + 1], text[sep + 1 :]
    else:
        number, suffix = text[:sep], text[sep + 1 :]
    size = go_parse_float(number)
    if size < 0:
        raise _Bad(f"invalid size: '{text}'")
    if suffix:
        lower = suffix.lower()
        if len(suffix) > 3:
            raise _Bad(f"invalid suffix: '{suffix}'")
        if lower[0] == "b":
            if len(lower) > 1:
                raise _Bad(f"invalid suffix: '{lower}'")
        elif lower[0] in units:
            if (len(lower) == 2 and lower[1] != "b") or (len(lower) == 3 and lower[1:] != "ib"):
                raise _Bad(f"invalid suffix: '{lower}'")
            size *= units[lower[0]]
        else:
            raise _Bad(f"invalid suffix: '{lower}'")
    # Go's int64(float) on amd64: out of range becomes the most negative int64.
    return int(size) if size < 2**63 else -(2**63)


def ram_in_bytes(text: str) -> int:
    """go-units ``RAMInBytes``: ``64m`` is 64 MiB."""
    try:
        return _parse_size(text, _BINARY)
    except _Bad as e:
        raise InvalidArgument(str(e)) from None


def from_human_size(text: str) -> int:
    """go-units ``FromHumanSize``: ``10m`` is 10 000 000 bytes (log ``max-size``)."""
    try:
        return _parse_size(text, _DECIMAL)
    except _Bad as e:
        raise InvalidArgument(str(e)) from None


# --- one flag, one value ---------------------------------------------------------------


def parse_bytes(value: str, flag: str = "--memory") -> int:
    """``-m``, ``--memory-reservation``, ``--shm-size``: a size in bytes (``64m``)."""
    return int(_flag(flag, value, lambda v: _parse_size(v, _BINARY)))


def parse_memory_swap(value: str, flag: str = "--memory-swap") -> int:
    """``--memory-swap``: a size, or ``-1`` for unlimited swap."""
    if value == "-1":
        return -1
    return parse_bytes(value, flag)


_RATIONAL = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?[0-9]+/[0-9]+"


def parse_cpus(value: str, flag: str = "--cpus") -> int:
    """``--cpus 1.5``: nano-CPUs, as Docker's ``NanoCPUs`` (a ``big.Rat``)."""

    import re
    from fractions import Fraction

    def parse(v: str) -> int:
        if not re.fullmatch(_RATIONAL, v) or v.endswith("/0"):
            raise _Bad(f"failed to parse {v} as a rational number")
        nano = Fraction(v) * 10**9
        if nano.denominator != 1:
            raise _Bad("value is too precise")
        return int(nano)

    return int(_flag(flag, value, parse))


def parse_int(value: str, flag: str) -> int:
    """pflag's ``Int64``/``Int`` flags (``--pids-limit``, ``--cpu-quota``, ...)."""
    return int(_flag(flag, value, go_parse_int))


def parse_uint16(value: str, flag: str = "--blkio-weight") -> int:
    return int(_flag(flag, value, lambda v: go_parse_uint(v, 0, 16)))


def parse_bool(value: str, flag: str) -> bool:
    """pflag's bool flags given a value (``--init=false``)."""
    return bool(_flag(flag, value, go_parse_bool))


def parse_duration(value: str, flag: str) -> int:
    """``--health-interval 30s``: nanoseconds."""
    return int(_flag(flag, value, go_parse_duration))


class Ulimit(Value):
    FIELDS = ("name", "soft", "hard")
    __slots__ = FIELDS

    def __init__(self, name: str, soft: int, hard: int) -> None:
        self.name = name
        self.soft = soft
        self.hard = hard

    def __str__(self) -> str:
        return f"{self.name}={self.soft}:{self.hard}"


ULIMIT_NAMES = (
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
)


def parse_ulimit(value: str, flag: str = "--ulimit") -> Ulimit:
    """``--ulimit nofile=1024:2048`` (go-units ``ParseUlimit``; ``as`` is not allowed)."""

    def parse(v: str) -> Ulimit:
        name, sep, limits = v.partition("=")
        if not sep:
            raise _Bad(f"invalid ulimit argument: {v}")
        if name not in ULIMIT_NAMES:
            raise _Bad(f"invalid ulimit type: {name}")
        if limits.count(":") > 1:
            raise _Bad(
                f"too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
            )
        soft_text, colon, hard_text = limits.partition(":")
        soft = go_parse_int(soft_text, 10)
        hard = go_parse_int(hard_text, 10) if colon else soft
        if soft > hard:
            raise _Bad(
                f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )
        return Ulimit(name, soft, hard)

    ulimit: Ulimit = _flag(flag, value, parse)
    return ulimit


_SYSCTL_NAMES = (
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
)


def parse_sysctl(value: str, flag: str = "--sysctl") -> tuple[str, str]:
    """``--sysctl net.ipv4.ip_forward=1``: only the namespaced ones Docker allows."""

    def parse(v: str) -> tuple[str, str]:
        key, sep, val = v.partition("=")
        if sep and key and (key in _SYSCTL_NAMES or key.startswith(("net.", "fs.mqueue."))):
            return key, val
        raise _Bad(f"sysctl '{v}' is not allowed")

    pair: tuple[str, str] = _flag(flag, value, parse)
    return pair


def parse_env(value: str, environ: Mapping[str, str] | None = None, flag: str = "--env") -> str:
    """``-e K=V``, or ``-e K``: K's value in ``environ`` (the client's), else ``K`` as is
    (which unsets K in the container)."""

    def parse(v: str) -> str:
        key, sep, _ = v.partition("=")
        if not key:
            raise _Bad(f"invalid environment variable: {v}")
        if sep:
            return v
        env = os.environ if environ is None else environ
        return f"{key}={env[key]}" if key in env else v

    text: str = _flag(flag, value, parse)
    return text


def parse_label(value: str, flag: str = "--label") -> str:
    def parse(v: str) -> str:
        key = v.partition("=")[0].lstrip(" \t")
        if not key:
            raise _Bad(f"invalid label '{v}': empty name")
        if any(c in key for c in " \t"):
            raise _Bad(f"label '{key}' contains whitespaces")
        return v

    text: str = _flag(flag, value, parse)
    return text


def _read_kv_file(path: str, lookup: Callable[[str], str | None] | None) -> list[str]:
    """docker/cli's ``parseKeyValueFile``, the syntax of ``--env-file`` and ``--label-file``:
    one ``KEY=VALUE`` a line, the value kept verbatim (no quotes, no trimming), leading
    white space and ``#`` comment lines skipped, a bare ``KEY`` taken from ``lookup``
    (dropped where it has none), a UTF-8 BOM ignored."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InvalidArgument(f"open {path}: {os.strerror(e.errno or 0).lower()}") from None
    lines: list[str] = []
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    for number, raw in enumerate(raw_lines, 1):
        raw = raw.removesuffix(b"\r")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            shown = "[" + " ".join(str(b) for b in raw) + "]"
            raise InvalidArgument(
                f"invalid env file ({path}): invalid utf8 bytes at line {number}: {shown}"
            ) from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        line = text.lstrip()
        if not line or line.startswith("#"):
            continue
        variable, sep, val = line.partition("=")
        variable = variable.lstrip(" \t")
        if any(c in variable for c in " \t"):
            raise InvalidArgument(
                f"invalid env file ({path}): variable '{variable}' contains whitespaces"
            )
        if not variable:
            raise InvalidArgument(f"invalid env file ({path}): no variable name on line '{line}'")
        if sep:
            lines.append(f"{variable}={val}")
        elif lookup is not None:
            found = lookup(line)
            if found is not None:
                lines.append(f"{variable}={found}")
    return lines


def parse_env_file(path: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """``--env-file``: its ``KEY=VALUE`` lines (see ``_read_kv_file`` for the syntax)."""
    env = os.environ if environ is None else environ
    return _read_kv_file(path, env.get)


def parse_label_file(path: str) -> list[str]:
    """``--label-file``: the env-file syntax; a line without ``=`` is dropped."""
    return _read_kv_file(path, None)


def kv_to_dict(items: Iterable[str]) -> dict[str, str]:
    """``["a=b", "c"]`` -> ``{"a": "b", "c": ""}`` (Docker's ``ConvertKVStringsToMap``)."""
    result: dict[str, str] = {}
    for item in items:
        key, _, val = item.partition("=")
        result[key] = val
    return result


class DeviceMapping(Value):
    FIELDS = ("path_on_host", "path_in_container", "permissions")
    __slots__ = FIELDS

    def __init__(self, path_on_host: str, path_in_container: str, permissions: str) -> None:
        self.path_on_host = path_on_host
        self.path_in_container = path_in_container
        self.permissions = permissions


def _valid_device_mode(mode: str) -> bool:
    return bool(mode) and all(c in "rwm" for c in mode) and len(set(mode)) == len(mode)


def clean_path(path: str) -> str:
    """Go's ``path.Clean``."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    return ("/" + cleaned) if rooted else (cleaned or ".")


def parse_device(value: str) -> DeviceMapping:
    """``--device /dev/x[:/dev/y][:rwm]`` (the docker CLI's checks and messages)."""
    if value.count(":") > 2:
        raise InvalidArgument(f"bad format for path: {value}")
    parts = value.split(":")
    if not parts[0]:
        raise InvalidArgument(f"bad format for path: {value}")
    if len(parts) == 1:
        container, value = parts[0], clean_path(parts[0])
    elif len(parts) == 2 and _valid_device_mode(parts[1]):
        container, value = parts[0], f"{clean_path(parts[0])}:{parts[1]}"
    elif len(parts) == 2:
        container, value = parts[1], f"{parts[0]}:{clean_path(parts[1])}"
    else:
        container = parts[1]
        if not _valid_device_mode(parts[2]):
            raise InvalidArgument(f"bad mode specified: {parts[2]}")
    if not container.startswith("/"):
        raise InvalidArgument(f"{container} is not an absolute path")
    fields = value.split(":")
    source, target, permissions = fields[0], "", "rwm"
    if len(fields) == 3:
        permissions = fields[2]
    if len(fields) >= 2:
        if _valid_device_mode(fields[1]):
            permissions = fields[1]
        else:
            target = fields[1]
    return DeviceMapping(source, target or source, permissions)


def _cpu_list(value: str) -> bool:
    """``0-3,5``: what cpuset.cpus and cpuset.mems take."""
    for part in value.split(","):
        first, dash, last = part.partition("-")
        if not (first.isascii() and first.isdigit()):
            return False
        if dash and not (last.isascii() and last.isdigit()):
            return False
    return True


_CGROUP_RULE = r"([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})"


def parse_device_cgroup_rule(value: str, flag: str = "--device-cgroup-rule") -> str:
    import re

    def parse(v: str) -> str:
        if not re.fullmatch(_CGROUP_RULE, v):
            raise _Bad(f"invalid device cgroup format '{v}'")
        return v

    text: str = _flag(flag, value, parse)
    return text


# --- mounts: -v, --mount, --tmpfs -------------------------------------------------------

PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_RW_MODES = ("rw", "ro", "ro-non-recursive", "ro-force-recursive", "rro")


class MountSpec(Value):
    """A mount as Docker's API ``Mount`` has it (``-v`` becomes one too).

    ``type`` is bind, volume or tmpfs. ``source`` is a host path (bind), a volume name
    (volume; empty for an anonymous one) or empty (tmpfs). For binds, ``propagation`` is
    the mode asked ("" means Docker's default, rprivate), ``recursive`` is "enabled",
    "disabled" (non-recursive bind), "writable" (read-only, not recursively) or
    "readonly" (recursively read-only, or fail). ``tmpfs_size`` is bytes and
    ``tmpfs_mode`` a permission mode, 0 when not given. ``raw`` is the ``-v`` string the
    mount came from, "" for ``--mount``.
    """

    FIELDS = (
        "type",
        "source",
        "target",
        "readonly",
        "propagation",
        "recursive",
        "selinux_label",
        "nocopy",
        "volume_driver",
        "volume_options",
        "volume_labels",
        "volume_subpath",
        "tmpfs_size",
        "tmpfs_mode",
        "consistency",
        "raw",
    )
    __slots__ = FIELDS

    def __init__(
        self,
        type: str,
        target: str,
        source: str = "",
        readonly: bool = False,
        propagation: str = "",
        recursive: str = "enabled",
        selinux_label: str = "",
        nocopy: bool = False,
        volume_driver: str = "",
        volume_options: dict[str, str] | None = None,
        volume_labels: dict[str, str] | None = None,
        volume_subpath: str = "",
        tmpfs_size: int = 0,
        tmpfs_mode: int = 0,
        consistency: str = "",
        raw: str = "",
    ) -> None:
        self.type = type
        self.source = source
        self.target = target
        self.readonly = readonly
        self.propagation = propagation
        self.recursive = recursive
        self.selinux_label = selinux_label
        self.nocopy = nocopy
        self.volume_driver = volume_driver
        self.volume_options = volume_options or {}
        self.volume_labels = volume_labels or {}
        self.volume_subpath = volume_subpath
        self.tmpfs_size = tmpfs_size
        self.tmpfs_mode = tmpfs_mode
        self.consistency = consistency
        self.raw = raw

    def __hash__(self) -> int:
        return hash((self.type, self.source, self.target, self.raw))

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MountSpec:
        return cls(**{k: v for k, v in data.items() if k in cls.FIELDS})


def _mount_config_error(mount_type: str, reason: str) -> InvalidArgument:
    return InvalidArgument(f"invalid mount config for type {go_quote(mount_type)}: {reason}")


def _validate_target(target: str, mount_type: str) -> None:
    if not target:
        raise _mount_config_error(mount_type, "field Target must not be empty")
    if clean_path(target.replace("\\", "/")) == "/":
        raise _mount_config_error(mount_type, "invalid specification: destination can't be '/'")
    if not target.replace("\\", "/").startswith("/"):
        raise _mount_config_error(
            mount_type, f"invalid mount path: '{target}' mount path must be absolute"
        )


def validate_mount(mount: MountSpec) -> None:
    """The daemon's ``validateMountConfig`` (Linux), but for a bind source's existence:
    that check is the caller's, at create (``bind source path does not exist: ...``)."""
    _validate_target(mount.target, mount.type)
    if mount.type == "bind":
        if not mount.source:
            raise _mount_config_error("bind", "field Source must not be empty")
        if mount.propagation and mount.propagation not in PROPAGATIONS:
            raise _mount_config_error("bind", f"invalid propagation mode: {mount.propagation}")
        if mount.nocopy or mount.volume_driver or mount.volume_options or mount.volume_labels:
            raise _mount_config_error("bind", "field VolumeOptions must not be specified")
        if not mount.source.startswith("/"):
            raise _mount_config_error(
                "bind", f"invalid mount path: '{mount.source}' mount path must be absolute"
            )
    elif mount.type == "volume":
        if mount.propagation or mount.recursive != "enabled":
            raise _mount_config_error("volume", "field BindOptions must not be specified")
        if not mount.source and mount.readonly:
            raise _mount_config_error(
                "volume", "must not set ReadOnly mode when using anonymous volumes"
            )
    elif mount.type == "tmpfs":
        if mount.propagation or mount.recursive != "enabled":
            raise _mount_config_error("tmpfs", "field BindOptions must not be specified")
        if mount.source:
            raise _mount_config_error("tmpfs", "field Source must not be specified")
    else:
        raise _mount_config_error(mount.type, "mount type unknown")


def _valid_mount_mode(mode: str) -> bool:
    """The daemon's ``linuxValidMountMode``: at most one of each kind of option."""
    if not mode:
        return True
    counts = {"rw": 0, "label": 0, "propagation": 0, "copy": 0, "consistency": 0}
    for option in mode.split(","):
        if option in _RW_MODES:
            counts["rw"] += 1
        elif option in ("z", "Z"):
            counts["label"] += 1
        elif option in PROPAGATIONS:
            counts["propagation"] += 1
        elif option == "nocopy":
            counts["copy"] += 1
        elif option in ("consistent", "cached", "delegated"):
            counts["consistency"] += 1
        else:
            return False
    return all(n <= 1 for n in counts.values())


def _check_volume_spec_cli(spec: str) -> None:
    """The docker CLI's own look at a ``-v`` spec (its compose loader's ``ParseVolume``)."""
    if not spec:
        raise InvalidArgument("invalid empty volume spec")
    if len(spec) <= 2:
        return
    fields = 0
    buffer = ""
    for ch in [*spec, ""]:
        if ch == ":" and len(buffer) == 1 and buffer.isalpha():
            buffer += ch  # a Windows drive letter
        elif ch in (":", ""):
            if not buffer:
                raise InvalidArgument(f"invalid spec: {spec}: empty section between colons")
            if fields >= 2 and ch == ":":
                raise InvalidArgument(f"invalid spec: {spec}: too many colons")
            fields += 1
            buffer = ""
        else:
            buffer += ch


def parse_volume(value: str, cwd: str | None = None) -> MountSpec:
    """``-v [SOURCE:]TARGET[:OPTIONS]``: a bind where SOURCE is absolute (``./x`` is made
    absolute against ``cwd``, as the CLI does), else a named or anonymous volume. OPTIONS:
    ro/rw (or ro-non-recursive, ro-force-recursive/rro for binds), z/Z, a propagation,
    nocopy, a consistency."""
    _check_volume_spec_cli(value)
    host, sep, rest = value.partition(":")
    if sep and not host.startswith("/") and host.startswith("."):
        value = os.path.abspath(os.path.join(cwd or os.getcwd(), host)) + ":" + rest
    invalid = InvalidArgument(f"invalid volume specification: '{value}'")
    parts = value.split(":", 3)
    if not parts[0]:
        raise invalid
    mode = ""
    if len(parts) == 1:
        source, target = "", parts[0]
    elif len(parts) == 2:
        if _valid_mount_mode(parts[1]):
            raise invalid
        source, target = parts
    elif len(parts) == 3:
        source, target, mode = parts
    else:
        raise invalid
    if not _valid_mount_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")
    options = mode.split(",") if mode else []
    mount_type = "bind" if source.startswith("/") else "volume"
    readonly = any(o == "ro" or o.startswith("ro-") or o == "rro" for o in options)
    recursive = "enabled"
    for option in options:
        if option.startswith("ro-") or option == "rro":
            if mount_type != "bind":
                raise InvalidArgument(f'mount mode "{mode}" requires a bind mount: {invalid}')
            recursive = "writable" if option == "ro-non-recursive" else "readonly"
    mount = MountSpec(
        mount_type,
        target,
        source=source,
        readonly=readonly,
        propagation=next((o for o in options if o in PROPAGATIONS), ""),
        recursive=recursive,
        selinux_label=next((o for o in options if o in ("z", "Z")), ""),
        nocopy="nocopy" in options,
        consistency=next((o for o in options if o in ("consistent", "cached", "delegated")), ""),
        raw=value,
    )
    try:
        validate_mount(mount)
    except InvalidArgument as e:
        raise InvalidArgument(f"{invalid}: {e}") from None
    mount.target = clean_path(target)
    if mount_type == "bind":
        mount.source = clean_path(source)
    return mount


def _csv_fields(value: str) -> list[str]:
    """One record of Go's ``encoding/csv`` (the ``--mount`` syntax quotes fields so)."""
    import csv

    try:
        rows = list(csv.reader([value], strict=True))
    except csv.Error as e:
        raise _Bad(str(e)) from None
    return rows[0] if rows else [""]


def parse_mount(value: str, cwd: str | None = None, flag: str = "--mount") -> MountSpec:
    """``--mount type=bind,source=/x,target=/y,readonly,bind-propagation=rslave`` (and
    ``type=volume``, ``type=tmpfs,tmpfs-size=64m,tmpfs-mode=1777``): the docker CLI's
    parse, then the daemon's checks (``validate_mount``)."""

    def parse(v: str) -> MountSpec:
        m: dict[str, Any] = {"type": "volume", "target": ""}
        volume_opts = bind_opts = tmpfs_opts = False
        for field in _csv_fields(v):
            key, sep, val = field.partition("=")
            key = key.lower()
            if not sep:
                if key in ("readonly", "ro"):
                    m["readonly"] = True
                elif key == "volume-nocopy":
                    m["nocopy"], volume_opts = True, True
                elif key == "bind-nonrecursive":
                    m["recursive"], bind_opts = "disabled", True
                else:
                    raise _Bad(f"invalid field '{field}' must be a key=value pair")
                continue
            if key == "type":
                m["type"] = val.lower()
            elif key in ("source", "src"):
                m["source"] = val
                if val == "." or val.startswith("./"):
                    m["source"] = os.path.abspath(os.path.join(cwd or os.getcwd(), val))
            elif key in ("target", "dst", "destination"):
                m["target"] = val
            elif key in ("readonly", "ro"):
                try:
                    m["readonly"] = go_parse_bool(val)
                except _Bad:
                    raise _Bad(f"invalid value for {key}: {val}") from None
            elif key == "consistency":
                m["consistency"] = val.lower()
            elif key == "bind-propagation":
                m["propagation"], bind_opts = val.lower(), True
            elif key == "bind-nonrecursive":
                try:
                    disabled = go_parse_bool(val)
                except _Bad:
                    raise _Bad(f"invalid value for {key}: {val}") from None
                bind_opts = True
                if disabled:
                    m["recursive"] = "disabled"
            elif key == "bind-recursive":
                if val not in ("enabled", "disabled", "writable", "readonly"):
                    raise _Bad(
                        f'invalid value for {key}: {val} (must be "enabled", "disabled", '
                        '"writable", or "readonly")'
                    )
                m["recursive"], bind_opts = val, True
            elif key == "volume-subpath":
                m["volume_subpath"], volume_opts = val, True
            elif key == "volume-nocopy":
                try:
                    m["nocopy"] = go_parse_bool(val)
                except _Bad:
                    raise _Bad(f"invalid value for volume-nocopy: {val}") from None
                volume_opts = True
            elif key == "volume-label":
                k, _, lv = val.partition("=")
                if k:
                    m.setdefault("volume_labels", {})[k] = lv
                volume_opts = True
            elif key == "volume-driver":
                m["volume_driver"], volume_opts = val, True
            elif key == "volume-opt":
                k, _, ov = val.partition("=")
                if k:
                    m.setdefault("volume_options", {})[k] = ov
                volume_opts = True
            elif key == "tmpfs-size":
                try:
                    m["tmpfs_size"] = _parse_size(val, _BINARY)
                except _Bad:
                    raise _Bad(f"invalid value for {key}: {val}") from None
                tmpfs_opts = True
            elif key == "tmpfs-mode":
                try:
                    m["tmpfs_mode"] = go_parse_uint(val, 8, 32)
                except _Bad:
                    raise _Bad(f"invalid value for {key}: {val}") from None
                tmpfs_opts = True
            else:
                raise _Bad(f"unexpected key '{key}' in '{field}'")
        if not m["type"]:
            raise _Bad("type is required")
        if not m["target"]:
            raise _Bad("target is required")
        for used, prefix, kind in (
            (volume_opts, "volume", "volume"),
            (bind_opts, "bind", "bind"),
            (tmpfs_opts, "tmpfs", "tmpfs"),
        ):
            if used and m["type"] != kind:
                raise _Bad(f"cannot mix '{prefix}-*' options with mount type '{m['type']}'")
        recursive = m.get("recursive", "enabled")
        if recursive in ("writable", "readonly") and not m.get("readonly"):
            raise _Bad(
                f"option 'bind-recursive={recursive}' requires 'readonly' to be specified "
                "in conjunction"
            )
        if recursive == "readonly" and m.get("propagation") != "rprivate":
            raise _Bad(
                "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to "
                "be specified in conjunction"
            )
        return MountSpec(**m)

    mount: MountSpec = _flag(flag, value, parse)
    validate_mount(mount)
    mount.target = clean_path(mount.target)
    if mount.type == "bind":
        mount.source = clean_path(mount.source)
    return mount


def parse_tmpfs(value: str) -> tuple[str, str]:
    """``--tmpfs /run[:OPTIONS]``: (destination, options as given). The options are
    checked where Docker checks them, when the spec is built (``invalid tmpfs option``)."""
    target, _, options = value.partition(":")
    if clean_path(target) == "/":
        raise InvalidArgument("invalid specification: destination can't be '/'")
    if not target.startswith("/"):
        raise InvalidArgument(f"invalid mount path: '{target}' mount path must be absolute")
    return target, options


# --- security options -------------------------------------------------------------------


class SecurityOptions(Value):
    """``--security-opt``, parsed. ``seccomp`` is None (the default profile), "unconfined",
    "builtin" (the default, said explicitly) or a profile's JSON text. ``masked_paths`` and
    ``readonly_paths`` are None for Docker's lists, [] after ``systempaths=unconfined``."""

    FIELDS = (
        "seccomp",
        "no_new_privileges",
        "apparmor",
        "labels",
        "masked_paths",
        "readonly_paths",
    )
    __slots__ = FIELDS

    def __init__(
        self,
        seccomp: str | None = None,
        no_new_privileges: bool = False,
        apparmor: str = "",
        labels: list[str] | None = None,
        masked_paths: list[str] | None = None,
        readonly_paths: list[str] | None = None,
    ) -> None:
        self.seccomp = seccomp
        self.no_new_privileges = no_new_privileges
        self.apparmor = apparmor
        self.labels = labels or []
        self.masked_paths = masked_paths
        self.readonly_paths = readonly_paths

    def __hash__(self) -> int:
        return hash((self.seccomp, self.no_new_privileges, self.apparmor))


def _read_seccomp_file(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        reason = os.strerror(e.errno or 0).lower() if e.errno else str(e)
        raise InvalidArgument(
            f"opening seccomp profile ({path}) failed: open {path}: {reason}"
        ) from None
    import json

    try:
        profile = json.loads(data)
    except ValueError as e:
        raise InvalidArgument(f"compacting json for seccomp profile ({path}) failed: {e}") from None
    return json.dumps(profile, separators=(",", ":"))


def parse_security_opts(values: Iterable[str]) -> SecurityOptions:
    """``--security-opt`` values, as the docker CLI and daemon take them: ``seccomp=FILE``
    (the CLI reads the file) ``|unconfined|builtin``, ``no-new-privileges[=|:BOOL]``,
    ``apparmor=PROFILE``, ``label=...``, ``systempaths=unconfined``; ``:`` is accepted
    for ``=`` (deprecated in Docker)."""
    result = SecurityOptions()
    for opt in values:
        key, sep, val = opt.partition("=")
        if not sep and key != "no-new-privileges":
            key, sep, val = opt.partition(":")
        if (not sep or not val) and key != "no-new-privileges":
            raise InvalidArgument(f"Invalid --security-opt: {go_quote(opt)}")
        if opt == "systempaths=unconfined":
            result.masked_paths, result.readonly_paths = [], []
            continue
        if opt == "no-new-privileges":
            result.no_new_privileges = True
            continue
        if key == "seccomp":
            result.seccomp = val if val in ("builtin", "unconfined") else _read_seccomp_file(val)
        elif key == "label":
            result.labels.append(val)
        elif key == "apparmor":
            result.apparmor = val
        elif key == "no-new-privileges":
            try:
                result.no_new_privileges = go_parse_bool(val)
            except _Bad:
                raise InvalidArgument(f"invalid --security-opt 2: {go_quote(opt)}") from None
        else:
            raise InvalidArgument(f"invalid --security-opt 2: {go_quote(opt)}")
    return result


# --- capabilities, signals, restart, logging, namespaces, health -----------------------


def host_capabilities() -> list[str]:
    """Every capability a container may have here: what ``--privileged`` and
    ``--cap-add ALL`` give. Docker's ``GetAllCapabilities`` is every capability of this
    kernel (up to ``cap_last_cap``); this is also limited to the engine's own bounding set
    (as Podman does): a capability outside it cannot be given, and asking for it fails
    the start. Docker does fail so where the host lacks one (this machine has no
    CAP_SYS_RESOURCE: ``docker run --privileged`` gets "unable to apply caps")."""
    from skiff.linux.capabilities import NAMES, last_cap

    last = last_cap()
    bounding = (1 << (last + 1)) - 1
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    bounding = int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return [cap for n, cap in enumerate(NAMES[: last + 1]) if bounding >> n & 1]


def known_capabilities() -> list[str]:
    """The capabilities this kernel knows (up to ``cap_last_cap``): the names
    ``--cap-add``/``--cap-drop`` accept."""
    from skiff.linux.capabilities import NAMES, last_cap

    return list(NAMES[: last_cap() + 1])


def normalize_capabilities(names: Iterable[str], field: str = "CapAdd") -> list[str]:
    """Upper-case, ``CAP_`` prefixed; ``ALL`` kept; unknown names refused as the daemon
    does (``invalid CapAdd: unknown capability: "CAP_FOO"``)."""
    known = known_capabilities()
    result = []
    for name in names:
        cap = name.upper()
        if cap != "ALL":
            cap = cap if cap.startswith("CAP_") else "CAP_" + cap
            if cap not in known:
                raise InvalidArgument(f"invalid {field}: unknown capability: {go_quote(cap)}")
        result.append(cap)
    return result


def _signal_numbers() -> dict[str, int]:
    names = {name: n for name, n in signals.by_name().items() if not name.startswith("RTMIN+")}
    names |= {"IOT": 6, "POLL": 29, "CLD": 17, "UNUSED": 31}
    rtmin, rtmax = signals.SIGRTMIN, signals.SIGRTMAX
    for n in range(1, 16):
        names[f"RTMIN+{n}"] = rtmin + n
    for n in range(1, 15):
        names[f"RTMAX-{n}"] = rtmax - n
    names["RTMIN"], names["RTMAX"] = rtmin, rtmax
    return names


def parse_signal(value: str) -> int:
    """A signal by name (``KILL``, ``SIGKILL``, ``kill``, ``RTMIN+3``) or number, as
    Docker's ``signal.ParseSignal``; ``Invalid signal: X`` otherwise."""
    number = go_atoi(value)
    if number is not None:
        if number == 0:
            raise InvalidArgument(f"Invalid signal: {value}")
        return number
    found = _signal_numbers().get(value.upper().removeprefix("SIG"))
    if found is None:
        raise InvalidArgument(f"Invalid signal: {value}")
    return found


class RestartPolicy(Value):
    FIELDS = ("name", "max_retries")
    __slots__ = FIELDS

    def __init__(self, name: str = "no", max_retries: int = 0) -> None:
        self.name = name
        self.max_retries = max_retries


def parse_restart(value: str) -> RestartPolicy:
    """``--restart no|always|unless-stopped|on-failure[:N]`` (CLI and daemon checks)."""
    if not value:
        return RestartPolicy("no")
    name, sep, count = value.partition(":")
    if sep and not name:
        raise InvalidArgument("invalid restart policy format: no policy provided before colon")
    retries = 0
    if count:
        parsed = go_atoi(count)
        if parsed is None:
            raise InvalidArgument(
                "invalid restart policy format: maximum retry count must be an integer"
            )
        retries = parsed
    if name in ("always", "unless-stopped", "no"):
        if retries != 0:
            msg = "invalid restart policy: maximum retry count can only be used with 'on-failure'"
            raise InvalidArgument(msg + (" and cannot be negative" if retries < 0 else ""))
    elif name == "on-failure":
        if retries < 0:
            raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
    else:
        raise InvalidArgument(
            f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', "
            "'on-failure', or 'unless-stopped'"
        )
    return RestartPolicy(name, retries)


LOG_DRIVER_OPTS = {
    "json-file": (
        "max-file",
        "max-size",
        "compress",
        "labels",
        "labels-regex",
        "env",
        "env-regex",
        "tag",
    ),
    "local": ("max-file", "max-size", "compress"),
    # podman's driver: the CRI log format at ``path`` (the kubelet's LogPath), which the
    # kubelet rotates itself (ReopenContainerLog), so nothing rotates it here
    "k8s-file": ("path", "max-size"),
    "none": (),
}


def parse_log_opts(driver: str, values: Iterable[str]) -> dict[str, str]:
    """``--log-opt KEY=VALUE`` (one per flag, as Docker: ``max-size=10m,max-file=3`` is
    ``max-size`` set to ``10m,max-file=3``), checked against the driver's keys and
    values (``json-file`` when ``driver`` is empty, the daemon's default)."""
    items = list(values)
    if driver == "none" and items:
        raise InvalidArgument(f"invalid logging opts for driver {driver}")
    opts = kv_to_dict(items)
    name = driver or "json-file"
    if name not in LOG_DRIVER_OPTS:
        raise InvalidArgument(
            f"error looking up logging plugin {name}: plugin {go_quote(name)} not found"
        )
    for key in opts:
        if key not in LOG_DRIVER_OPTS[name]:
            raise InvalidArgument(f"unknown log opt '{key}' for {name} log driver")
    capacity = -1
    if "max-size" in opts:
        capacity = from_human_size(opts["max-size"])
        if capacity < 0:
            raise InvalidArgument("max-size must be a positive number")
    max_files = 1
    if "max-file" in opts:
        parsed = go_atoi(opts["max-file"])
        if parsed is None:
            raise InvalidArgument(
                f"strconv.Atoi: parsing {go_quote(opts['max-file'])}: invalid syntax"
            )
        max_files = parsed
        if max_files < 1:
            raise InvalidArgument("max-file cannot be less than 1")
    if "compress" in opts:
        try:
            compress = go_parse_bool(opts["compress"])
        except _Bad as e:
            raise InvalidArgument(str(e)) from None
        if compress and (max_files == 1 or capacity == -1):
            raise InvalidArgument(
                "compress cannot be true when max-file is less than 2 or max-size is not set"
            )
    return opts


_MODE_ERRORS = {
    "pid": "--pid: invalid PID mode",
    "uts": "--uts: invalid UTS mode",
    "userns": "--userns: invalid USER mode",
    "cgroupns": "--cgroupns: invalid CGROUP mode",
}


def is_namespace_path(mode: str) -> bool:
    """``ns:/absolute/path``: join the namespace that file is (podman's form)."""
    return mode.startswith("ns:/")


def parse_namespace_mode(kind: str, value: str) -> str:
    """``--pid``/``--ipc``/``--uts``/``--userns``/``--cgroupns``: "" (Docker's default),
    ``host``, ``private`` and ``container:NAME`` where Docker accepts them; ``ns:PATH``
    (podman's: a namespace file to join, as a pod's pinned namespaces) for pid, ipc, uts."""
    container = value.startswith("container:") and len(value) > len("container:")
    joined = is_namespace_path(value)
    valid = {
        "pid": value in ("", "host") or container or joined,
        "ipc": value in ("", "none", "private", "shareable", "host") or container or joined,
        "uts": value in ("", "host") or joined,
        "userns": value in ("", "host"),
        "cgroupns": value in ("", "host", "private"),
    }[kind]
    if not valid:
        raise InvalidArgument(_MODE_ERRORS.get(kind, f"invalid IPC mode: {value}"))
    return value


class HealthConfig(Value):
    """Docker's ``HealthConfig``: ``test`` is [] (inherit the image's), ["NONE"],
    ["CMD-SHELL", cmd] or ["CMD", ...]; durations in nanoseconds, 0 for the default."""

    FIELDS = ("test", "interval", "timeout", "start_period", "start_interval", "retries")
    __slots__ = FIELDS

    def __init__(
        self,
        test: list[str] | None = None,
        interval: int = 0,
        timeout: int = 0,
        start_period: int = 0,
        start_interval: int = 0,
        retries: int = 0,
    ) -> None:
        self.test = test or []
        self.interval = interval
        self.timeout = timeout
        self.start_period = start_period
        self.start_interval = start_interval
        self.retries = retries

    def __hash__(self) -> int:
        return hash(tuple(self.test))


def parse_health(
    cmd: str = "",
    interval: int = 0,
    timeout: int = 0,
    start_period: int = 0,
    start_interval: int = 0,
    retries: int = 0,
    no_healthcheck: bool = False,
) -> HealthConfig | None:
    """The ``--health-*`` flags (durations already parsed) and ``--no-healthcheck``;
    None when none is given (the image's check applies)."""
    given = bool(cmd) or any((interval, timeout, start_period, retries, start_interval))
    if no_healthcheck:
        if given:
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return HealthConfig(["NONE"])
    if not given:
        return None
    for name, val in (
        ("interval", interval),
        ("timeout", timeout),
        ("retries", retries),
        ("start-period", start_period),
        ("start-interval", start_interval),
    ):
        if val < 0:
            raise InvalidArgument(f"--health-{name} cannot be negative")
    test = ["CMD-SHELL", cmd] if cmd else []
    return HealthConfig(test, interval, timeout, start_period, start_interval, retries)


# --- networking: --dns, --dns-search, --add-host, --mac-address --------------------------


def _ip_address(value: str) -> str:
    """The docker CLI's ``ValidateIPAddress``: Go's form of an address (``0:0::1`` is
    ``::1``), spaces around it allowed."""
    packed = go_parse_ip(value.strip())
    if packed is None:
        raise _Bad(f"IP address is not correctly formatted: {value}")
    return go_ip_string(packed)


def parse_dns(value: str, flag: str = "--dns") -> str:
    """``--dns 1.1.1.1``: an IP address, kept in Go's form as the docker CLI keeps it."""
    return str(_flag(flag, value, _ip_address))


# The docker CLI's (opts.domainRegexp), "(:?" and all: it lets colons in. Go's \s and $.
_DOMAIN = (
    r"^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
    r"(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?[\t\n\f\r ]*\Z"
)


def parse_dns_search(value: str, flag: str = "--dns-search") -> str:
    """``--dns-search example.com``: a domain without its final dot, or ``.`` (none)."""

    def parse(v: str) -> str:
        v = v.strip(" ")
        if v == ".":
            return v
        import re

        found = re.match(_DOMAIN, v) if any(c.isascii() and c.isalpha() for c in v) else None
        if found is None or len(found.group(1)) >= 255:
            raise _Bad(f"{v} is not a valid domain")
        return found.group(1)

    return str(_flag(flag, value, parse))


HOST_GATEWAY = "host-gateway"


def parse_extra_host(value: str, flag: str = "--add-host") -> str:
    """``--add-host name:ip`` or ``name=ip`` (the ip maybe in brackets, or
    ``host-gateway``): ``name:ip``, as ``HostConfig.ExtraHosts`` keeps it."""

    def parse(v: str) -> str:
        name, sep, address = v.partition("=")
        if not sep:
            name, sep, address = v.partition(":")
        if not sep or not name or ":" in name:
            raise _Bad(f"bad format for add-host: {go_quote(v)}")
        if address != HOST_GATEWAY:
            if len(address) > 2 and address[0] == "[" and address[-1] == "]":
                address = address[1:-1]
            try:
                _ip_address(address)
            except _Bad:
                raise _Bad(f"invalid IP address in add-host: {go_quote(address)}") from None
        return f"{name}:{address}"

    return str(_flag(flag, value, parse))


def _go_mac(text: str) -> bool:
    """Whether Go's ``net.ParseMAC`` takes ``text``: 6, 8 or 20 bytes as
    ``00:00:5e:00:53:01``, ``00-00-5e-00-53-01`` or ``0000.5e00.5301``."""
    size = len(text)
    if size < 14:
        return False
    if text[2] in ":-":
        width, sep, count = 2, text[2], (size + 1) // 3
    elif text[4] == ".":
        width, sep, count = 4, ".", 2 * (size + 1) // 5
    else:
        return False
    step = width + 1
    if (size + 1) % step or count not in (6, 8, 20):
        return False
    groups = [text[i : i + width] for i in range(0, size, step)]
    hexadecimal = "0123456789abcdefABCDEF"
    return all(c == sep for c in text[width::step]) and all(
        len(g) == width and all(c in hexadecimal for c in g) for g in groups
    )


def parse_mac_address(value: str) -> str:
    """``--mac-address 92:d0:c6:0a:29:33`` (any form Go's ``net.ParseMAC`` takes, spaces
    around it allowed), kept as given."""
    if not _go_mac(value.strip()):
        raise InvalidArgument(f"{value} is not a valid mac address")
    return value


# --- the options ------------------------------------------------------------------------

# Every option with its default (Docker's, or "" / 0 / None where the daemon picks:
# shm_size 0 is 64 MiB, ipc "" is private, cgroupns "" is host on cgroup v1 and private
# on v2, log_driver "" is json-file, init None is the daemon's default, off).
_DEFAULTS: dict[str, Any] = {
    "image": "",
    "name": "",
    "command": [],
    "entrypoint": None,
    "hostname": "",
    "domainname": "",
    "user": "",
    "workdir": "",
    "env": [],
    "labels": {},
    "annotations": {},
    "tty": False,
    "interactive": False,
    "attach": [],
    "auto_remove": False,
    "privileged": False,
    "read_only": False,
    "init": None,
    "cap_add": [],
    "cap_drop": [],
    "security": None,
    "sysctls": {},
    "ulimits": [],
    "devices": [],
    "device_cgroup_rules": [],
    "volumes": [],
    "mounts": [],
    "volumes_from": [],
    "tmpfs": {},
    "restart": None,
    "healthcheck": None,
    "health_on_failure": "none",
    "stop_signal": "",
    "stop_timeout": None,
    "log_driver": "",
    "log_opts": {},
    "network": "",
    "network_aliases": [],
    "ip": "",
    "mac_address": "",
    "publish": [],
    "publish_all": False,
    "expose": [],
    "dns": [],
    "dns_search": [],
    "dns_options": [],
    "extra_hosts": [],
    "pid": "",
    "ipc": "",
    "uts": "",
    "userns": "",
    "cgroupns": "",
    "group_add": [],
    "shm_size": 0,
    "oom_kill_disable": False,
    "oom_score_adj": 0,
    "memory": 0,
    "memory_swap": 0,
    "memory_reservation": 0,
    "memory_swappiness": -1,
    "cpu_shares": 0,
    "cpu_period": 0,
    "cpu_quota": 0,
    "cpu_rt_period": 0,
    "cpu_rt_runtime": 0,
    "nano_cpus": 0,
    "cpuset_cpus": "",
    "cpuset_mems": "",
    "pids_limit": 0,
    "blkio_weight": 0,
    "cgroup_parent": "",
    "runtime": "",
}

_VALUE_TYPES: dict[str, Any] = {
    "ulimits": Ulimit,
    "devices": DeviceMapping,
    "volumes": MountSpec,
    "mounts": MountSpec,
    "restart": RestartPolicy,
    "healthcheck": HealthConfig,
    "security": SecurityOptions,
    "publish": PortBinding,
}

LINUX_MIN_MEMORY = 6 * 1024 * 1024
LINUX_MIN_CPU_SHARES = 2
LINUX_MAX_CPU_SHARES = 262144


class ContainerOptions:
    """Every ``docker run``/``create`` option the engine honours, with Docker's defaults.

    Build it with keywords (``ContainerOptions(memory=64 << 20, cap_add=["SYS_ADMIN"])``);
    a name that is not an option is a ``TypeError``. Values are already parsed (the
    ``parse_*`` helpers): sizes in bytes, durations in nanoseconds, ``nano_cpus`` for
    ``--cpus``, ``env`` the ``--env-file`` lines then the ``-e`` values in order,
    ``volumes``/``mounts`` lists of ``MountSpec``, ``tmpfs`` destination -> options,
    ``security`` a ``SecurityOptions`` (None: all defaults), ``entrypoint`` None when not
    given and ``[""]`` for ``--entrypoint ""`` (which also drops the image's CMD),
    ``publish`` one ``PortBinding`` per container port of ``-p`` (skiff.network.ports),
    ``expose`` the ``--expose`` ports as ``80/tcp``, ``extra_hosts`` ``name:ip``.
    ``to_dict``/``from_dict`` give a JSON-able form for the state database.
    """

    image: str
    name: str
    command: list[str]
    entrypoint: list[str] | None
    hostname: str
    domainname: str
    user: str
    workdir: str
    env: list[str]
    labels: dict[str, str]
    annotations: dict[str, str]
    tty: bool
    interactive: bool
    attach: list[str]
    auto_remove: bool
    privileged: bool
    read_only: bool
    init: bool | None
    cap_add: list[str]
    cap_drop: list[str]
    security: SecurityOptions | None
    sysctls: dict[str, str]
    ulimits: list[Ulimit]
    devices: list[DeviceMapping]
    device_cgroup_rules: list[str]
    volumes: list[MountSpec]
    mounts: list[MountSpec]
    volumes_from: list[str]
    tmpfs: dict[str, str]
    restart: RestartPolicy | None
    healthcheck: HealthConfig | None
    health_on_failure: str
    stop_signal: str
    stop_timeout: int | None
    log_driver: str
    log_opts: dict[str, str]
    network: str
    network_aliases: list[str]
    ip: str
    mac_address: str
    publish: list[PortBinding]
    publish_all: bool
    expose: list[str]
    dns: list[str]
    dns_search: list[str]
    dns_options: list[str]
    extra_hosts: list[str]
    pid: str
    ipc: str
    uts: str
    userns: str
    cgroupns: str
    group_add: list[str]
    shm_size: int
    oom_kill_disable: bool
    oom_score_adj: int
    memory: int
    memory_swap: int
    memory_reservation: int
    memory_swappiness: int
    cpu_shares: int
    cpu_period: int
    cpu_quota: int
    cpu_rt_period: int
    cpu_rt_runtime: int
    nano_cpus: int
    cpuset_cpus: str
    cpuset_mems: str
    pids_limit: int
    blkio_weight: int
    cgroup_parent: str
    runtime: str

    def __init__(self, **values: Any) -> None:
        unknown = sorted(set(values) - set(_DEFAULTS))
        if unknown:
            raise TypeError(f"unknown container options: {', '.join(unknown)}")
        for name, default in _DEFAULTS.items():
            setattr(self, name, values[name] if name in values else copy.deepcopy(default))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ContainerOptions):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        changed = {k: v for k, v in vars(self).items() if v != _DEFAULTS[k]}
        return f"ContainerOptions({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    @property
    def security_options(self) -> SecurityOptions:
        return self.security or SecurityOptions()

    @property
    def restart_policy(self) -> RestartPolicy:
        return self.restart or RestartPolicy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the value classes as dicts of their fields."""

        def plain(value: Any) -> Any:
            if isinstance(value, Value):
                return {name: plain(getattr(value, name)) for name in value.FIELDS}
            if isinstance(value, list):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        return {name: plain(getattr(self, name)) for name in _DEFAULTS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContainerOptions:
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name not in _DEFAULTS:
                continue
            kind = _VALUE_TYPES.get(name)
            if kind is not None and isinstance(value, list):
                value = [kind(**item) for item in value]
            elif kind is not None and isinstance(value, dict):
                value = kind(**value)
            values[name] = value
        return cls(**values)

    def validate(self, ncpu: int | None = None) -> list[str]:
        """The daemon's create-time checks, with its messages; returns its warnings.

        ``ncpu`` is the CPUs the engine may use (default: this process's affinity).
        Also normalises what the daemon normalises: negative CPU shares become 2, more
        than 262144 become 262144.
        """
        warnings: list[str] = []
        if self.auto_remove and self.restart_policy.name not in ("", "no"):
            raise InvalidArgument("conflicting options: cannot specify both --restart and --rm")
        if self.memory_swappiness != -1 and not 0 <= self.memory_swappiness <= 100:
            raise InvalidArgument(
                f"invalid value: {self.memory_swappiness}. Valid memory swappiness range is 0-100"
            )
        if self.workdir and not self.workdir.startswith("/"):
            raise InvalidArgument(
                f"the working directory '{self.workdir}' is invalid, it needs to be an "
                "absolute path"
            )
        for kind in ("pid", "ipc", "uts", "userns", "cgroupns"):
            value = getattr(self, kind)
            try:
                parse_namespace_mode(kind, value)
            except InvalidArgument:
                if kind == "ipc":
                    raise InvalidArgument(f"invalid IPC mode: {value}") from None
                raise
        if self.memory and self.memory < LINUX_MIN_MEMORY:
            raise InvalidArgument("Minimum memory limit allowed is 6MB")
        if self.memory > 0 and self.memory_swap > 0 and self.memory_swap < self.memory:
            raise InvalidArgument(
                "Minimum memoryswap limit should be larger than memory limit, see usage"
            )
        if self.memory == 0 and self.memory_swap > 0:
            raise InvalidArgument(
                "You should always set the Memory limit when using Memoryswap limit, see usage"
            )
        if (
            self.memory > 0
            and self.memory_reservation > 0
            and self.memory < self.memory_reservation
        ):
            raise InvalidArgument(
                "Minimum memory limit can not be less than memory reservation limit, see usage"
            )
        if self.memory_reservation and self.memory_reservation < LINUX_MIN_MEMORY:
            raise InvalidArgument("Minimum memory reservation allowed is 6MB")
        if self.oom_kill_disable and not self.memory:
            warnings.append(
                "OOM killer is disabled for the container, but no memory limit is set, this "
                "can result in the system running out of resources."
            )
        if self.nano_cpus and self.cpu_period:
            raise InvalidArgument(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set"
            )
        if self.nano_cpus and self.cpu_quota:
            raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
        cpus = ncpu if ncpu is not None else len(os.sched_getaffinity(0))
        if self.nano_cpus < 0 or self.nano_cpus > cpus * 10**9:
            raise InvalidArgument(
                f"Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
            )
        if self.cpu_period and not 1000 <= self.cpu_period <= 1000000:
            raise InvalidArgument(
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s "
                "(i.e. 1000000)"
            )
        if 0 < self.cpu_quota < 1000:
            raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
        for label, value in (("cpus", self.cpuset_cpus), ("mems", self.cpuset_mems)):
            if value and not _cpu_list(value):
                raise InvalidArgument(
                    f"Invalid value {value} for cpuset {label}: invalid format: {value}"
                )
        if self.cpuset_cpus:
            wanted = parse_cpu_list(self.cpuset_cpus)
            available = sorted(os.sched_getaffinity(0))
            if not wanted <= set(available):
                raise InvalidArgument(
                    f"Requested CPUs are not available - requested {self.cpuset_cpus}, "
                    f"available: {format_cpu_list(available)}"
                )
        # The daemon only logs these two changes.
        if self.cpu_shares < 0:
            self.cpu_shares = LINUX_MIN_CPU_SHARES
        elif self.cpu_shares > LINUX_MAX_CPU_SHARES:
            self.cpu_shares = LINUX_MAX_CPU_SHARES
        if self.blkio_weight and not 10 <= self.blkio_weight <= 1000:
            raise InvalidArgument("Range of blkio weight is from 10 to 1000")
        if self.shm_size < 0:
            raise InvalidArgument("SHM size can not be less than 0")
        if not -1000 <= self.oom_score_adj <= 1000:
            raise InvalidArgument(
                f"Invalid value {self.oom_score_adj}, range for oom score adj is [-1000, 1000]"
            )
        normalize_capabilities(self.cap_add, "CapAdd")
        normalize_capabilities(self.cap_drop, "CapDrop")
        if self.stop_signal:
            parse_signal(self.stop_signal)
        for destination in self.tmpfs:
            parse_tmpfs(destination)
        for mount in [*self.volumes, *self.mounts]:
            validate_mount(mount)
        parse_log_opts(self.log_driver, [f"{k}={v}" for k, v in self.log_opts.items()])
        return warnings


def parse_cpu_list(text: str) -> set[int]:
    """``0-2,5`` -> {0, 1, 2, 5}."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def format_cpu_list(cpus: Iterable[int]) -> str:
    """{0, 1, 2, 5} -> ``0-2,5``."""
    ranges: list[list[int]] = []
    for cpu in sorted(cpus):
        if ranges and ranges[-1][1] == cpu - 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)
