"""The libseccomp bindings, without loading a filter (no root needed), and features()."""

import errno
import os

import pytest

from skiff.linux import libseccomp
from skiff.linux.libseccomp import Attr, Compare, Filter, action
from skiff.runtime import seccomp

NATIVE = {"x86_64": "x86_64", "aarch64": "aarch64"}[os.uname().machine]


def test_version_and_api_level() -> None:
    assert libseccomp.version() >= (2, 5, 0)
    assert libseccomp.api_level() >= 5  # SCMP_ACT_NOTIFY


def test_action_values_are_seccomp_h() -> None:
    assert action("SCMP_ACT_ALLOW") == 0x7FFF0000
    assert action("SCMP_ACT_ERRNO", errno.ENOSYS) == 0x00050026
    assert action("SCMP_ACT_TRACE", 0x1_0007) == 0x7FF00007  # 16 bits of data
    assert action("SCMP_ACT_KILL") == action("SCMP_ACT_KILL_THREAD") == 0


def test_resolves_syscalls_by_name() -> None:
    assert NATIVE is not None
    native = libseccomp.arch_resolve_name(NATIVE)
    assert native is not None
    getppid = libseccomp.syscall_resolve_name("getppid")
    assert getppid is not None and getppid >= 0
    assert libseccomp.syscall_resolve_name_arch(native, "getppid") == getppid
    assert libseccomp.syscall_resolve_name("no_such_syscall") is None
    # Known on another architecture only: a negative pseudo number rules accept.
    arm_only = libseccomp.syscall_resolve_name("arm_fadvise64_64")
    assert arm_only is not None and arm_only < 0


def test_resolves_architectures_by_name() -> None:
    assert libseccomp.arch_resolve_name("x86_64") == 0xC000003E
    assert libseccomp.arch_resolve_name("x86") == 0x40000003
    assert libseccomp.arch_resolve_name("z80") is None


def test_filter_architectures() -> None:
    assert NATIVE is not None
    native = libseccomp.arch_resolve_name(NATIVE)
    other = libseccomp.arch_resolve_name("ppc64le")
    assert native is not None and other is not None
    with Filter(action("SCMP_ACT_ALLOW")) as filt:
        assert filt.has_arch(native) is True
        assert filt.has_arch(other) is False
        filt.add_arch(other)
        assert filt.has_arch(other) is True
        with pytest.raises(OSError) as raised:
            filt.add_arch(other)
        assert raised.value.errno == errno.EEXIST


def test_errors_carry_libseccomp_errno() -> None:
    getcwd = libseccomp.syscall_resolve_name("getcwd")
    assert getcwd is not None
    with pytest.raises(OSError) as raised:
        Filter(0x12345678)
    assert raised.value.errno == errno.EINVAL
    with Filter(action("SCMP_ACT_ERRNO", errno.EPERM)) as filt:
        # The reason rules() splits conditions that share an argument.
        same_argument = [(0, Compare.SCMP_CMP_EQ, 1, 0), (0, Compare.SCMP_CMP_EQ, 2, 0)]
        with pytest.raises(OSError) as raised:
            filt.add_rule(action("SCMP_ACT_ALLOW"), getcwd, same_argument)
        assert raised.value.errno == errno.EINVAL
        # The reason rules() leaves out rules with the default action.
        with pytest.raises(OSError) as raised:
            filt.add_rule(action("SCMP_ACT_ERRNO", errno.EPERM), getcwd)
        assert raised.value.errno == errno.EACCES
        assert "seccomp_rule_add_array" in str(raised.value)
        filt.add_rule(action("SCMP_ACT_ALLOW"), getcwd, [(1, Compare.SCMP_CMP_GT, 4, 0)])
        filt.set_attr(Attr.SCMP_FLTATR_CTL_NNP, 0)


def test_features_report_what_runc_reports() -> None:
    found = seccomp.features()
    assert found["enabled"] is True
    assert found["actions"] == sorted(seccomp.ACTIONS)
    assert found["operators"] == sorted(seccomp.OPERATORS)
    assert found["knownFlags"] == [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    ]
    assert set(found["supportedFlags"]) <= set(found["knownFlags"])
    assert "SECCOMP_FILTER_FLAG_TSYNC" in found["supportedFlags"]
    assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"} <= set(found["archs"])
    assert set(found["archs"]) <= set(seccomp.ARCHITECTURES)
