"""The OCI ``linux.seccomp`` profile as a seccomp filter, built with libseccomp as runc builds it.

``validate`` is a pure-Python check the runtime makes before it forks. ``compile_filter``
builds the filter with libseccomp into classic BPF (kept in a cache under the runtime's root,
keyed by the profile and the kernel), which the container's init loads with seccomp(2); the
load returns the notify fd when the profile uses SCMP_ACT_NOTIFY, which ``send_notify_fd``
then passes to the seccomp agent at ``listenerPath``. Only a cache miss and ``features``
import libseccomp, so the runtime's other commands, and containers without seccomp, never
load it.

The choices, runc's (1.1+) but for one leniency, so that a profile that runs under runc runs
here too:

- syscall names libseccomp does not know are skipped: profiles name syscalls of newer
  kernels and of other architectures;
- a rule whose action is the default action is skipped (libseccomp refuses it);
- ``errnoRet`` on an action that carries no errno is ignored, as runc and crun ignore it
  (the spec asks for an error);
- architectures libseccomp does not know, or cannot put in one filter with the native one
  (the other byte order), are skipped where runc fails: no syscall of theirs reaches this
  kernel, and the filter would kill one, being of an architecture it lacks;
- no ``flags`` field means SECCOMP_FILTER_FLAG_SPEC_ALLOW where the kernel has it (an empty
  list means no flags): otherwise a kernel in "seccomp" SSBD mode slows every confined
  process with the speculative store bypass mitigation;
- SCMP_ACT_NOTIFY needs a ``listenerPath`` and may be neither the default action nor the
  action for ``write``: until the agent holds the fd, a notified syscall waits, and the init
  process still writes to its parent after loading the filter;
- a profile with neither ``defaultAction`` nor ``syscalls`` means no seccomp.

Needs libseccomp 2.5 or later (API_SYSRAWRC, CTL_OPTIMIZE and notify appeared in 2.5.0).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import zlib

from skiff.errors import InvalidArgument
from skiff.values import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.linux.libseccomp import Filter

    Profile = dict[str, Any]

ACTIONS = (
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
)
OPERATORS = (
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
)
ARCHITECTURES = (
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
)
# OCI flag -> (the libseccomp filter attribute that asks for it, its seccomp(2) flag).
_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": ("SCMP_FLTATR_CTL_TSYNC", 1),
    "SECCOMP_FILTER_FLAG_LOG": ("SCMP_FLTATR_CTL_LOG", 2),
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": ("SCMP_FLTATR_CTL_SSB", 4),
}
FLAGS = tuple(_FLAGS)
_FLAG_NEW_LISTENER = 8
_FLAG_TSYNC_ESRCH = 16
_SECCOMP_SET_MODE_FILTER = 1
_INSTRUCTION_SIZE = 8  # struct sock_filter

_NOTIFY = "SCMP_ACT_NOTIFY"
_WITH_ERRNO = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
_ARGUMENTS = 6  # a syscall has at most six arguments
_MAX_DATA = 0xFFFF  # an action carries 16 bits of data
_MAX_U64 = 2**64 - 1
# Above this many rules libseccomp's binary-tree layout beats a linear filter (runc's number;
# libseccomp 2.5.4 also misbuilds a tree of no rules).
_TREE_ABOVE = 32


class Action(Value):
    """A libseccomp action, with the errno (SCMP_ACT_ERRNO) or tracer message (SCMP_ACT_TRACE)
    it carries. SCMP_ACT_KILL is spelled SCMP_ACT_KILL_THREAD, the same action."""

    FIELDS = ("name", "data")
    __slots__ = FIELDS

    def __init__(self, name: str, data: int = 0) -> None:
        self.name = name
        self.data = data


class Condition(Value):
    """One comparison of a syscall argument (``value`` is the mask for SCMP_CMP_MASKED_EQ)."""

    FIELDS = ("index", "op", "value", "value_two")
    __slots__ = FIELDS

    def __init__(self, index: int, op: str, value: int, value_two: int = 0) -> None:
        self.index = index
        self.op = op
        self.value = value
        self.value_two = value_two


class Rule(Value):
    """One libseccomp rule: a syscall, an action and the conditions that must all hold."""

    FIELDS = ("syscall", "action", "conditions")
    __slots__ = FIELDS

    def __init__(
        self, syscall: str, action: Action, conditions: tuple[Condition, ...] = ()
    ) -> None:
        self.syscall = syscall
        self.action = action
        self.conditions = conditions


# --- validation (pure Python) ---------------------------------------------------------------


def validate(profile: Any) -> None:
    """Raise ``InvalidArgument`` naming the first field of ``linux.seccomp`` that is wrong."""
    if not isinstance(profile, dict):
        raise _invalid("", "expected an object")
    if _disabled(profile):
        return
    default = profile.get("defaultAction")
    if default is None:
        raise _invalid(".defaultAction", "missing")
    _check_action(default, ".defaultAction")
    if default == _NOTIFY:
        raise _invalid(".defaultAction", "SCMP_ACT_NOTIFY cannot be the default action")
    _check_uint(profile.get("defaultErrnoRet"), ".defaultErrnoRet", _MAX_DATA)
    for i, arch in enumerate(_array(profile, "architectures", "")):
        if arch not in ARCHITECTURES:
            raise _invalid(f".architectures[{i}]", f"unknown architecture {_quote(arch)}")
    for i, flag in enumerate(_array(profile, "flags", "")):
        if flag not in FLAGS:
            raise _invalid(f".flags[{i}]", f"unknown or unsupported flag {_quote(flag)}")
    listener = profile.get("listenerPath")
    if listener is not None and not isinstance(listener, str):
        raise _invalid(".listenerPath", "expected a string")
    if profile.get("listenerMetadata") and not listener:
        raise _invalid(".listenerMetadata", "set without listenerPath")
    for i, call in enumerate(_array(profile, "syscalls", "")):
        _check_syscall(call, f".syscalls[{i}]", bool(listener))


def _check_syscall(call: Any, where: str, has_listener: bool) -> None:
    if not isinstance(call, dict):
        raise _invalid(where, "expected an object")
    names = call.get("names")
    if names is None:
        raise _invalid(f"{where}.names", "missing")
    if not isinstance(names, list) or not names:
        raise _invalid(f"{where}.names", "expected a non-empty array of syscall names")
    for j, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise _invalid(f"{where}.names[{j}]", f"expected a syscall name, not {_quote(name)}")
    action = call.get("action")
    if action is None:
        raise _invalid(f"{where}.action", "missing")
    _check_action(action, f"{where}.action")
    if action == _NOTIFY:
        if "write" in names:
            raise _invalid(
                f"{where}.names[{names.index('write')}]",
                'SCMP_ACT_NOTIFY cannot be used for "write"',
            )
        if not has_listener:
            raise _invalid(f"{where}.action", "SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath")
    _check_uint(call.get("errnoRet"), f"{where}.errnoRet", _MAX_DATA)
    for k, arg in enumerate(_array(call, "args", where)):
        _check_arg(arg, f"{where}.args[{k}]")


def _check_arg(arg: Any, where: str) -> None:
    if not isinstance(arg, dict):
        raise _invalid(where, "expected an object")
    for key in ("index", "value", "op"):
        if arg.get(key) is None:
            raise _invalid(f"{where}.{key}", "missing")
    _check_uint(arg["index"], f"{where}.index", _ARGUMENTS - 1)
    _check_uint(arg["value"], f"{where}.value", _MAX_U64)
    _check_uint(arg.get("valueTwo"), f"{where}.valueTwo", _MAX_U64)
    if arg["op"] not in OPERATORS:
        raise _invalid(f"{where}.op", f"unknown operator {_quote(arg['op'])}")


def _check_action(name: Any, where: str) -> None:
    if name not in ACTIONS:
        raise _invalid(where, f"unknown action {_quote(name)}")


def _check_uint(value: Any, where: str, maximum: int) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(where, f"expected an integer, not {_quote(value)}")
    if not 0 <= value <= maximum:
        raise _invalid(where, f"{value} is not between 0 and {maximum}")


def _array(parent: dict[str, Any], key: str, where: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid(f"{where}.{key}", "expected an array")
    return value


def _quote(value: Any) -> str:
    return _dumps(value)


def _dumps(value: Any) -> str:
    """``json.dumps(value)``, character for character, from json's own C encoder: the json
    package imports re (and enum...), a cost every ``create`` would pay."""
    import _json

    def default(o: Any) -> Any:
        raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")

    encode = _json.make_encoder(
        {}, default, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    return "".join(encode(value, 0))


def _invalid(where: str, message: str) -> InvalidArgument:
    return InvalidArgument(f"linux.seccomp{where}: {message}")


def _disabled(profile: Profile) -> bool:
    return not profile.get("defaultAction") and not profile.get("syscalls")


# --- translation (pure Python) --------------------------------------------------------------


def default_action(profile: Profile) -> Action:
    """The default action of a validated profile."""
    return _action(profile["defaultAction"], profile.get("defaultErrnoRet"))


def rules(profile: Profile) -> list[Rule]:
    """The libseccomp rules of a validated profile, in order, one syscall name each.

    Rules with the default action are left out. Conditions on distinct arguments make one
    rule (all must hold). When two conditions compare the same argument, libseccomp refuses
    them in one rule (EINVAL), so, as runc does, every condition of that entry becomes a rule
    of its own and any one of them matching is enough.
    """
    default = default_action(profile)
    result: list[Rule] = []
    for call in profile.get("syscalls") or []:
        action = _action(call["action"], call.get("errnoRet"))
        if action == default:
            continue
        conditions = tuple(
            Condition(arg["index"], arg["op"], arg["value"], arg.get("valueTwo") or 0)
            for arg in call.get("args") or []
        )
        indexes = [condition.index for condition in conditions]
        groups: list[tuple[Condition, ...]] = [conditions]
        if len(set(indexes)) < len(indexes):
            groups = [(condition,) for condition in conditions]
        for name in call["names"]:
            result.extend(Rule(name, action, group) for group in groups)
    return result


def _action(name: str, errno_ret: int | None) -> Action:
    if name in _WITH_ERRNO:
        return Action(name, errno.EPERM if errno_ret is None else errno_ret)
    return Action("SCMP_ACT_KILL_THREAD" if name == "SCMP_ACT_KILL" else name)


# --- the filter (libseccomp) ----------------------------------------------------------------


class _SockFprog(ctypes.Structure):
    """``struct sock_fprog``: the program seccomp(2) loads."""

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class CompiledFilter:
    """A filter as the kernel takes it: classic BPF and the seccomp(2) flags to load it with.

    Built before the init forks or pivots (libseccomp is a host file), loaded by the init as
    late as it can.
    """

    __slots__ = ("flags", "program")

    def __init__(self, program: bytes, flags: int) -> None:
        self.program = program
        self.flags = flags

    def load(self) -> int | None:
        """Load into the calling process; the notify fd when the filter notifies, else None.

        Leaves no_new_privs alone: without it, loading needs CAP_SYS_ADMIN (else EACCES).
        """
        from skiff.linux.libc import syscall

        count = len(self.program) // _INSTRUCTION_SIZE
        buffer = ctypes.create_string_buffer(self.program, len(self.program))
        fprog = _SockFprog(count, ctypes.cast(buffer, ctypes.c_void_p))
        result = syscall("seccomp", _SECCOMP_SET_MODE_FILTER, self.flags, ctypes.byref(fprog))
        return result if self.flags & _FLAG_NEW_LISTENER else None


def compile_filter(profile: Profile, cache_dir: str | None = None) -> CompiledFilter | None:
    """Build the filter of a validated profile; None when the profile filters nothing.

    With ``cache_dir``, a filter built once is kept there and read back for the same profile
    on the same kernel: libseccomp takes about 15 ms to build Docker's default profile, the
    largest part of a container's creation. A cache file holds its whole key, so a name
    clash only means a rebuild.
    """
    if _disabled(profile):
        return None
    key = f"{os.uname().release}\n{profile!r}".encode()
    path = os.path.join(cache_dir, f"{zlib.crc32(key):08x}") if cache_dir else None
    if path is not None:
        cached = _read_cached(path, key)
        if cached is not None:
            return cached
    compiled = _build(profile)
    if path is not None:
        _write_cached(path, key, compiled)
    return compiled


def _build(profile: Profile) -> CompiledFilter:
    from skiff.linux.libseccomp import Attr, Filter, action

    default = default_action(profile)
    with Filter(action(default.name, default.data)) as filt:
        filt.set_attr(Attr.SCMP_FLTATR_CTL_NNP, 0)
        filt.set_attr(Attr.SCMP_FLTATR_API_SYSRAWRC, 1)  # the kernel's errno, not ECANCELED
        _add_architectures(filt, profile.get("architectures") or [])
        flags = _set_flags(filt, profile.get("flags"))
        added = [rule for rule in rules(profile) if _add_rule(filt, rule)]
        if len(added) > _TREE_ABOVE:
            filt.set_attr(Attr.SCMP_FLTATR_CTL_OPTIMIZE, 2)
        if any(rule.action.name == _NOTIFY for rule in added):
            flags |= _FLAG_NEW_LISTENER
            if flags & _FLAGS["SECCOMP_FILTER_FLAG_TSYNC"][1]:
                flags |= _FLAG_TSYNC_ESRCH  # the kernel refuses TSYNC with a listener else
        return CompiledFilter(filt.export_bpf(), flags)


_CACHE_MAGIC = b"skiff-seccomp-1\n"
_HEADER = struct.Struct("=II")  # key length, seccomp(2) flags


def _read_cached(path: str, key: bytes) -> CompiledFilter | None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    head = len(_CACHE_MAGIC) + _HEADER.size
    if not data.startswith(_CACHE_MAGIC) or len(data) < head:
        return None
    key_length, flags = _HEADER.unpack_from(data, len(_CACHE_MAGIC))
    if data[head : head + key_length] != key:
        return None
    return CompiledFilter(data[head + key_length :], flags)


def _write_cached(path: str, key: bytes, compiled: CompiledFilter) -> None:
    """Write atomically (a temporary file renamed into place): concurrent creates may race."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    temporary = f"{path}.{os.getpid()}"
    with open(temporary, "wb") as f:
        f.write(_CACHE_MAGIC + _HEADER.pack(len(key), compiled.flags) + key + compiled.program)
    os.rename(temporary, path)


def _add_architectures(filt: Filter, architectures: list[str]) -> None:
    """Add the architectures this filter can hold. Skipped are those libseccomp does not know
    and those of the other byte order (libseccomp refuses to mix them: EDOM): neither can run
    on this kernel, and a syscall of an architecture the filter lacks meets its
    bad-architecture action, which kills."""
    from skiff.linux.libseccomp import arch_resolve_name

    for name in architectures:
        token = arch_resolve_name(_libseccomp_arch(name))
        if token is None or filt.has_arch(token):
            continue
        try:
            filt.add_arch(token)
        except OSError as e:
            if e.errno != errno.EDOM:
                raise


def _libseccomp_arch(name: str) -> str:
    """libseccomp's name for an architecture: SCMP_ARCH_X86_64 is x86_64."""
    return name.removeprefix("SCMP_ARCH_").lower()


def _set_flags(filt: Filter, flags: list[str] | None) -> int:
    """Set the attributes of the profile's flags; returns the seccomp(2) flags they mean."""
    from skiff.linux.libseccomp import Attr

    if flags is None:
        try:
            filt.set_attr(Attr.SCMP_FLTATR_CTL_SSB, 1)
        except OSError:
            return 0  # the kernel or libseccomp cannot; runc goes on without it too
        return _FLAGS["SECCOMP_FILTER_FLAG_SPEC_ALLOW"][1]
    kernel_flags = 0
    for flag in flags:
        attribute, bit = _FLAGS[flag]
        filt.set_attr(getattr(Attr, attribute), 1)
        kernel_flags |= bit
    return kernel_flags


def _add_rule(filt: Filter, rule: Rule) -> bool:
    """Add one rule; False when libseccomp does not know the syscall (the rule is skipped)."""
    from skiff.linux.libseccomp import Compare, action, syscall_resolve_name

    number = syscall_resolve_name(rule.syscall)
    if number is None:
        return False
    conditions = [(c.index, getattr(Compare, c.op), c.value, c.value_two) for c in rule.conditions]
    try:
        filt.add_rule(action(rule.action.name, rule.action.data), number, conditions)
    except OSError as e:
        raise OSError(e.errno, f"seccomp rule for {rule.syscall}: {e.strerror}") from None
    return True


# --- the seccomp agent ----------------------------------------------------------------------


def send_notify_fd(
    listener_path: str, fd: int, pid: int, metadata: str, state: dict[str, Any]
) -> None:
    """Send the notify fd and the container process state to the agent at ``listener_path``.

    One connection carries one state, as the spec requires: the fd goes with the first bytes
    of the JSON (``SCM_RIGHTS``), the rest follows if the socket took less at once.
    ``state`` is the container's OCI state; ``pid`` is the process that loaded the filter.
    """
    message: dict[str, Any] = {
        "ociVersion": state["ociVersion"],
        "fds": ["seccompFd"],
        "pid": pid,
        "state": state,
    }
    if metadata:
        message["metadata"] = metadata
    payload = _dumps(message).encode()
    import socket  # only here: most containers have no seccomp agent

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(listener_path)
            sent = socket.send_fds(sock, [payload], [fd])
            sock.sendall(payload[sent:])
        except OSError as e:
            raise OSError(e.errno, f"seccomp listener {listener_path}: {e.strerror}") from None


# --- features -------------------------------------------------------------------------------


def features() -> dict[str, Any]:
    """The ``linux.seccomp`` object of ``skiff-runtime features`` (runtime-spec features)."""
    try:
        from skiff.linux.libseccomp import Attr, Filter, action, arch_resolve_name
    except OSError:  # libseccomp.so.2 is not installed
        return {"enabled": False}
    supported = []
    with Filter(action("SCMP_ACT_ALLOW")) as filt:
        for flag, (attribute, _) in _FLAGS.items():
            try:
                filt.set_attr(getattr(Attr, attribute), 1)
            except OSError:
                continue
            supported.append(flag)
    return {
        "enabled": True,
        "actions": sorted(ACTIONS),
        "operators": sorted(OPERATORS),
        "archs": sorted(
            name for name in ARCHITECTURES if arch_resolve_name(_libseccomp_arch(name)) is not None
        ),
        "knownFlags": list(FLAGS),
        "supportedFlags": supported,
    }
