"""Docker's seccomp profile format -> the OCI ``linux.seccomp`` of one container.

Docker's profiles (its default is ``skiff/data/seccomp-default.json``, moby's
``profiles/seccomp/default.json``) extend the OCI object with conditions a rule must meet
to be kept:

- ``archMap``: the architectures of the filter, by the native one: on x86_64 the filter
  covers x86_64, x86 and x32. A native architecture the map does not name (or that
  Docker does not know) leaves ``architectures`` out: libseccomp then uses the native one.
  ``architectures`` may be given instead, and is then used as is (not both);
- ``includes``/``excludes`` of a rule: ``caps`` (all of them in the container's bounding
  set, or none of them), ``arches`` (the native one among them, in Go's names: ``amd64``,
  ``arm64``, ``x86``, ...), ``minKernel`` (this kernel at least ``<major>.<minor>``);
- ``name`` (one syscall, an old form) or ``names``; ``comment`` is dropped.

The rest (``defaultAction``, ``defaultErrnoRet``, ``flags``, ``listenerPath``,
``listenerMetadata``; a rule's ``action``, ``errnoRet``, ``args``) passes through. This
is moby's ``setupSeccomp``, rule for rule, written from its behaviour.
"""

from __future__ import annotations

import os

from skiff import jsonio
from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

DEFAULT_PROFILE_PATH = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "data", "seccomp-default.json"
)

# Go's GOARCH names (as Docker's profiles use them in ``arches``) by uname machine.
_MACHINE_TO_NATIVE = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "i386": "x86",
    "i486": "x86",
    "i586": "x86",
    "i686": "x86",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv6l": "arm",
    "armv7l": "arm",
    "armv8l": "arm",
    "ppc64": "ppc64",
    "ppc64le": "ppc64le",
    "ppc": "ppc",
    "s390x": "s390x",
    "s390": "s390",
    "mips64": "mips64",
    "mips": "mipsle",
    "riscv64": "riscv64",
    "loongarch64": "loong64",
}

# Docker's native name -> the libseccomp architecture that names it in ``archMap``.
NATIVE_TO_SECCOMP = {
    "x86": "SCMP_ARCH_X86",
    "amd64": "SCMP_ARCH_X86_64",
    "arm": "SCMP_ARCH_ARM",
    "arm64": "SCMP_ARCH_AARCH64",
    "mips64": "SCMP_ARCH_MIPS64",
    "mips64n32": "SCMP_ARCH_MIPS64N32",
    "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mips3l64n32": "SCMP_ARCH_MIPSEL64N32",
    "mipsle": "SCMP_ARCH_MIPSEL",
    "ppc": "SCMP_ARCH_PPC",
    "ppc64": "SCMP_ARCH_PPC64",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "riscv64": "SCMP_ARCH_RISCV64",
    "s390": "SCMP_ARCH_S390",
    "s390x": "SCMP_ARCH_S390X",
    "loong64": "SCMP_ARCH_LOONGARCH64",
}

# Fields of the OCI object a Docker profile carries over as they are.
_PASSED = ("defaultErrnoRet", "flags", "listenerPath", "listenerMetadata")
_RULE_FIELDS = ("names", "action", "errnoRet", "args")


def native_arch() -> str:
    """This machine's architecture in Go's naming (``amd64``), "" if unknown."""
    return _MACHINE_TO_NATIVE.get(os.uname().machine, "")


def parse_kernel_version(text: str) -> tuple[int, int]:
    """``<kernel>.<major>`` of a ``minKernel`` (moby's ``KernelVersion``)."""
    quoted = jsonio.dumps(text)
    parts = text.split(".", 2)
    if len(parts) != 2:
        raise InvalidArgument(f'invalid kernel version: {quoted}, expected "<kernel>.<major>"')
    numbers = []
    for part in parts:
        if not (part.isascii() and part.isdigit()) or int(part) > 255:
            raise InvalidArgument(
                f'invalid kernel version: {quoted}, expected "<kernel>.<major>": '
                f'strconv.ParseUint: parsing "{part}": '
                + ("value out of range" if part.isdigit() else "invalid syntax")
            )
        numbers.append(int(part))
    if numbers == [0, 0]:
        raise InvalidArgument(
            f'invalid kernel version: {quoted}, expected "<kernel>.<major>": version cannot be 0.0'
        )
    return numbers[0], numbers[1]


def kernel_version() -> tuple[int, int]:
    """This kernel's ``<kernel>.<major>`` (``6.18.44-fc`` -> (6, 18))."""
    release = os.uname().release
    kernel, _, rest = release.partition(".")
    major = rest[: len(rest) - len(rest.lstrip("0123456789"))]
    if not (kernel.isascii() and kernel.isdigit() and major):
        raise InvalidArgument(f"failed to parse kernel version {release!r}")
    return int(kernel), int(major)


def load_default_profile() -> dict[str, Any]:
    """Docker's default profile (Docker's format, not yet the OCI object)."""
    with open(DEFAULT_PROFILE_PATH) as f:
        profile: dict[str, Any] = jsonio.loads(f.read())
    return profile


def parse_profile(text: str) -> dict[str, Any]:
    """A profile given as JSON text (``--security-opt seccomp=FILE``), as the daemon
    decodes it."""
    try:
        profile = jsonio.loads(text)
    except ValueError as e:
        raise InvalidArgument(f"Decoding seccomp profile failed: {e}") from None
    if not isinstance(profile, dict):
        raise InvalidArgument(
            "Decoding seccomp profile failed: json: cannot unmarshal "
            f"{type(profile).__name__} into Go value of type seccomp.Seccomp"
        )
    return profile


def _matches(
    condition: Mapping[str, Any] | None,
    arch: str,
    capabilities: Iterable[str],
    kernel: tuple[int, int],
    include: bool,
) -> bool:
    """Whether a rule survives one of its ``includes`` (all must hold) or ``excludes``
    (none may hold) blocks."""
    if not condition:
        return True
    caps = set(capabilities)
    arches = condition.get("arches") or []
    wanted_caps = condition.get("caps") or []
    min_kernel = condition.get("minKernel") or ""
    if include:
        if arches and arch not in arches:
            return False
        if wanted_caps and not all(c in caps for c in wanted_caps):
            return False
        return not (min_kernel and kernel < parse_kernel_version(min_kernel))
    if arches and arch in arches:
        return False
    if wanted_caps and any(c in caps for c in wanted_caps):
        return False
    return not (min_kernel and kernel >= parse_kernel_version(min_kernel))


def setup_seccomp(
    profile: Mapping[str, Any] | None,
    bounding: Iterable[str],
    arch: str | None = None,
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any] | None:
    """The OCI ``linux.seccomp`` object of ``profile`` (Docker's format) for a container
    whose bounding capability set is ``bounding``, on ``arch`` (Go's name, default this
    machine's) and ``kernel`` (default this one). None: no seccomp (a profile with neither
    ``defaultAction`` nor ``syscalls``)."""
    if profile is None:
        return None
    if not profile.get("defaultAction") and not profile.get("syscalls"):
        return None
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidArgument(
            "'architectures' and 'archMap' were specified in the seccomp profile, use either "
            "'architectures' or 'archMap'"
        )
    arch = native_arch() if arch is None else arch
    caps = list(bounding)
    result: dict[str, Any] = {"defaultAction": profile.get("defaultAction", "")}
    architectures = list(profile.get("architectures") or [])
    native = NATIVE_TO_SECCOMP.get(arch)
    if native:
        for entry in profile.get("archMap") or []:
            if entry.get("architecture") == native:
                architectures += [native, *(entry.get("subArchitectures") or [])]
                break
    if architectures:
        result["architectures"] = architectures
    for field in _PASSED:
        if profile.get(field) is not None:
            result[field] = profile[field]
    rules: list[dict[str, Any]] = []
    this_kernel: tuple[int, int] | None = kernel

    def current_kernel() -> tuple[int, int]:
        nonlocal this_kernel
        if this_kernel is None:
            this_kernel = kernel_version()
        return this_kernel

    # moby decodes every minKernel with the profile: a bad one fails whatever the rules.
    for rule in profile.get("syscalls") or []:
        for condition in (rule.get("includes"), rule.get("excludes")):
            if condition and condition.get("minKernel"):
                parse_kernel_version(condition["minKernel"])

    for rule in profile.get("syscalls") or []:
        excludes, includes = rule.get("excludes"), rule.get("includes")
        needs_kernel = any((c or {}).get("minKernel") for c in (excludes, includes))
        k = current_kernel() if needs_kernel else (0, 0)
        if not _matches(excludes, arch, caps, k, include=False):
            continue
        if not _matches(includes, arch, caps, k, include=True):
            continue
        names = list(rule.get("names") or [])
        if rule.get("name"):
            if names:
                raise InvalidArgument(
                    "'name' and 'names' were specified in the seccomp profile, use either "
                    "'name' or 'names'"
                )
            names = [rule["name"]]
        converted: dict[str, Any] = {"names": names, "action": rule.get("action", "")}
        if rule.get("errnoRet") is not None:
            converted["errnoRet"] = rule["errnoRet"]
        if rule.get("args"):
            converted["args"] = [dict(arg) for arg in rule["args"]]
        rules.append(converted)
    if rules:
        result["syscalls"] = rules
    return result


def default_seccomp(
    bounding: Iterable[str], arch: str | None = None, kernel: tuple[int, int] | None = None
) -> dict[str, Any] | None:
    """Docker's default profile for a container with this bounding set."""
    return setup_seccomp(load_default_profile(), bounding, arch, kernel)


def allowed_syscalls(seccomp: Mapping[str, Any]) -> set[str]:
    """The syscall names an OCI seccomp object allows, unconditionally or by argument."""
    return {
        name
        for rule in seccomp.get("syscalls") or []
        if rule.get("action") == "SCMP_ACT_ALLOW"
        for name in rule.get("names") or []
    }
