"""ctypes bindings to libseccomp: build a seccomp filter and load it into this process.

Names follow seccomp.h (``SCMP_ACT_*``, ``SCMP_CMP_*``, ``SCMP_FLTATR_*``), the names the OCI
runtime spec uses too. Calls that fail raise ``OSError`` with the errno libseccomp returned
(negated, as it reports them).
"""

from __future__ import annotations

import ctypes
import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

_lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)

# Action values from seccomp.h. SCMP_ACT_ERRNO and SCMP_ACT_TRACE carry 16 bits of data (the
# errno to return, the value a tracer sees) in their low bits.
ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL": 0x00000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
    "SCMP_ACT_NOTIFY": 0x7FC00000,
}
_ACTION_DATA_MASK = 0xFFFF


class Compare:
    """``enum scmp_compare``: how a rule compares one syscall argument."""

    SCMP_CMP_NE = 1
    SCMP_CMP_LT = 2
    SCMP_CMP_LE = 3
    SCMP_CMP_EQ = 4
    SCMP_CMP_GE = 5
    SCMP_CMP_GT = 6
    SCMP_CMP_MASKED_EQ = 7  # (arg & datum_a) == datum_b


class Attr:
    """``enum scmp_filter_attr``: filter attributes set with ``Filter.set_attr``."""

    SCMP_FLTATR_ACT_DEFAULT = 1
    SCMP_FLTATR_ACT_BADARCH = 2
    SCMP_FLTATR_CTL_NNP = 3
    SCMP_FLTATR_CTL_TSYNC = 4
    SCMP_FLTATR_API_TSKIP = 5
    SCMP_FLTATR_CTL_LOG = 6
    SCMP_FLTATR_CTL_SSB = 7
    SCMP_FLTATR_CTL_OPTIMIZE = 8
    SCMP_FLTATR_API_SYSRAWRC = 9


_ATTR_NAMES = {v: k for k, v in vars(Attr).items() if k.startswith("SCMP_")}


class ArgCmp(ctypes.Structure):
    """``struct scmp_arg_cmp``."""

    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


_NR_SCMP_ERROR = -1

_ctx = ctypes.c_void_p
_lib.seccomp_init.argtypes = [ctypes.c_uint32]
_lib.seccomp_init.restype = _ctx
_lib.seccomp_release.argtypes = [_ctx]
_lib.seccomp_release.restype = None
_lib.seccomp_arch_add.argtypes = [_ctx, ctypes.c_uint32]
_lib.seccomp_arch_exist.argtypes = [_ctx, ctypes.c_uint32]
_lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
_lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
_lib.seccomp_attr_set.argtypes = [_ctx, ctypes.c_int, ctypes.c_uint32]
_lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
_lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
_lib.seccomp_rule_add_array.argtypes = [
    _ctx,
    ctypes.c_uint32,
    ctypes.c_int,
    ctypes.c_uint,
    ctypes.POINTER(ArgCmp),
]
_lib.seccomp_load.argtypes = [_ctx]
_lib.seccomp_export_bpf.argtypes = [_ctx, ctypes.c_int]
_lib.seccomp_notify_fd.argtypes = [_ctx]
_lib.seccomp_version.restype = ctypes.POINTER(_Version)
_lib.seccomp_api_get.restype = ctypes.c_uint


def _check(result: int, what: str) -> int:
    if result < 0:
        raise OSError(-result, f"{what}: {os.strerror(-result)}")
    return result


def action(name: str, data: int = 0) -> int:
    """The value of a seccomp.h action; ``data`` is SCMP_ACT_ERRNO's errno or SCMP_ACT_TRACE's
    message, and must be 0 for the other actions."""
    return ACTIONS[name] | (data & _ACTION_DATA_MASK)


def version() -> tuple[int, int, int]:
    """The version of the libseccomp loaded (major, minor, micro)."""
    found = _lib.seccomp_version().contents
    return (found.major, found.minor, found.micro)


def api_level() -> int:
    """What this libseccomp and kernel support together (see seccomp_api_get(3))."""
    return int(_lib.seccomp_api_get())


def arch_resolve_name(name: str) -> int | None:
    """The token of an architecture by libseccomp's name (``x86_64``), or None if unknown."""
    token = _lib.seccomp_arch_resolve_name(name.encode())
    return int(token) or None


def syscall_resolve_name(name: str) -> int | None:
    """The native number of a syscall, or None if libseccomp does not know the name.

    A syscall that exists on other architectures only gets a negative pseudo number, which
    rules accept (libseccomp translates it for each architecture of the filter).
    """
    number = _lib.seccomp_syscall_resolve_name(name.encode())
    return None if number == _NR_SCMP_ERROR else int(number)


def syscall_resolve_name_arch(arch: int, name: str) -> int | None:
    """The number of a syscall on one architecture (by token), or None if unknown there."""
    number = _lib.seccomp_syscall_resolve_name_arch(arch, name.encode())
    return None if number == _NR_SCMP_ERROR else int(number)


class Filter:
    """A libseccomp filter being built; release it with ``close()`` or a ``with`` block.

    The filter starts with the native architecture only and the given default action.
    """

    def __init__(self, default_action: int) -> None:
        ctx = _lib.seccomp_init(default_action)
        if not ctx:
            raise OSError(errno.EINVAL, f"seccomp_init: invalid default action {default_action:#x}")
        self._ctx: int | None = ctx

    def close(self) -> None:
        """Free the filter. A loaded filter stays in force, and its notify fd stays open."""
        if self._ctx is not None:
            _lib.seccomp_release(self._ctx)
            self._ctx = None

    def __enter__(self) -> Filter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def has_arch(self, arch: int) -> bool:
        result = _lib.seccomp_arch_exist(self._ctx, arch)
        if result == -errno.EEXIST:  # here it means "not in the filter"
            return False
        _check(result, "seccomp_arch_exist")
        return True

    def add_arch(self, arch: int) -> None:
        _check(_lib.seccomp_arch_add(self._ctx, arch), "seccomp_arch_add")

    def set_attr(self, attr: int, value: int) -> None:
        """Set a filter attribute (one of ``Attr``)."""
        result = _lib.seccomp_attr_set(self._ctx, attr, value)
        _check(result, f"seccomp_attr_set {_ATTR_NAMES.get(attr, attr)}")

    def add_rule(
        self,
        action: int,
        syscall: int,
        conditions: Sequence[tuple[int, int, int, int]] = (),
    ) -> None:
        """Add a rule; ``conditions`` are (argument index, op (one of ``Compare``), datum_a,
        datum_b), all of which must hold for the rule to match."""
        array = (ArgCmp * len(conditions))(*(ArgCmp(*c) for c in conditions))
        result = _lib.seccomp_rule_add_array(self._ctx, action, syscall, len(conditions), array)
        _check(result, "seccomp_rule_add_array")

    def export_bpf(self) -> bytes:
        """The filter as the kernel loads it: an array of ``struct sock_filter``."""
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            _check(_lib.seccomp_export_bpf(self._ctx, fd), "seccomp_export_bpf")
            return os.pread(fd, os.fstat(fd).st_size, 0)
        finally:
            os.close(fd)
