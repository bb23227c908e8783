"""Docker's seccomp profile format -> the OCI object (moby's ``setupSeccomp`` rules)."""

from __future__ import annotations

import pytest

from skiff.engine.seccomp_profile import (
    allowed_syscalls,
    default_seccomp,
    load_default_profile,
    parse_kernel_version,
    parse_profile,
    setup_seccomp,
)
from skiff.engine.spec import DEFAULT_CAPABILITIES
from skiff.errors import InvalidArgument

DEFAULTS = list(DEFAULT_CAPABILITIES)
NEW_KERNEL = (6, 18)


def rules_for(seccomp: dict, name: str) -> list[dict]:
    return [rule for rule in seccomp["syscalls"] if name in rule["names"]]


def test_default_profile_on_x86_64() -> None:
    seccomp = default_seccomp(DEFAULTS, "amd64", NEW_KERNEL)
    assert seccomp is not None
    assert seccomp["defaultAction"] == "SCMP_ACT_ERRNO"
    assert seccomp["defaultErrnoRet"] == 1
    assert seccomp["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = allowed_syscalls(seccomp)
    assert {"read", "write", "execve", "arch_prctl", "modify_ldt"} <= allowed
    # Capability-gated rules are absent with Docker's default capabilities.
    assert not {"mount", "umount2", "reboot", "kcmp", "init_module", "bpf", "acct"} & allowed
    assert "chroot" in allowed  # CAP_SYS_CHROOT is a default
    # No rule keeps Docker's own fields.
    assert all(set(rule) <= {"names", "action", "errnoRet", "args"} for rule in seccomp["syscalls"])


def test_ptrace_needs_kernel_4_8_or_cap_sys_ptrace() -> None:
    # Docker's profile allows ptrace to everyone from kernel 4.8 (which fixed the
    # seccomp bypass through ptrace); before, only with CAP_SYS_PTRACE.
    assert "ptrace" in allowed_syscalls(default_seccomp(DEFAULTS, "amd64", NEW_KERNEL))
    old = default_seccomp(DEFAULTS, "amd64", (4, 4))
    assert "ptrace" not in allowed_syscalls(old)
    assert "process_vm_readv" not in allowed_syscalls(old)
    traced = default_seccomp([*DEFAULTS, "CAP_SYS_PTRACE"], "amd64", (4, 4))
    assert {"ptrace", "kcmp", "process_vm_readv", "pidfd_getfd"} <= allowed_syscalls(traced)


def test_kcmp_only_with_cap_sys_ptrace() -> None:
    assert "kcmp" not in allowed_syscalls(default_seccomp(DEFAULTS, "amd64", NEW_KERNEL))
    with_cap = default_seccomp([*DEFAULTS, "CAP_SYS_PTRACE"], "amd64", NEW_KERNEL)
    assert "kcmp" in allowed_syscalls(with_cap)


def test_personality_argument_rules() -> None:
    rules = rules_for(default_seccomp(DEFAULTS, "amd64", NEW_KERNEL), "personality")
    values = [rule["args"][0]["value"] for rule in rules]
    assert values == [0x0, 0x0008, 0x20000, 0x20008, 0xFFFFFFFF]
    assert all(
        rule["args"] == [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]
        for rule, v in zip(rules, values, strict=True)
    )
    assert all(rule["action"] == "SCMP_ACT_ALLOW" for rule in rules)


def test_clone_without_and_with_cap_sys_admin() -> None:
    seccomp = default_seccomp(DEFAULTS, "amd64", NEW_KERNEL)
    clone = rules_for(seccomp, "clone")
    # Without CAP_SYS_ADMIN: clone without namespace flags only, clone3 -> ENOSYS.
    assert clone == [
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
        }
    ]
    assert rules_for(seccomp, "clone3") == [
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    ]
    admin = default_seccomp([*DEFAULTS, "CAP_SYS_ADMIN"], "amd64", NEW_KERNEL)
    assert all("args" not in rule for rule in rules_for(admin, "clone"))
    assert {"mount", "umount2", "setns", "unshare", "clone3"} <= allowed_syscalls(admin)
    assert all(rule["action"] != "SCMP_ACT_ERRNO" for rule in rules_for(admin, "clone3"))


def test_s390x_clone_rule_and_architectures() -> None:
    seccomp = default_seccomp(DEFAULTS, "s390x", NEW_KERNEL)
    assert seccomp["architectures"] == ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"]
    clone = rules_for(seccomp, "clone")
    assert clone[0]["args"][0]["index"] == 1  # s390's argument order
    assert "s390_pci_mmio_read" in allowed_syscalls(seccomp)
    assert "arch_prctl" not in allowed_syscalls(seccomp)


def test_arm64() -> None:
    seccomp = default_seccomp(DEFAULTS, "arm64", NEW_KERNEL)
    assert seccomp["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "arm_fadvise64_64" in allowed_syscalls(seccomp)
    assert "modify_ldt" not in allowed_syscalls(seccomp)


def test_unknown_arch_leaves_architectures_to_libseccomp() -> None:
    seccomp = default_seccomp(DEFAULTS, "sparc64", NEW_KERNEL)
    assert "architectures" not in seccomp
    allowed = allowed_syscalls(seccomp)
    assert "read" in allowed
    # Rules for named architectures are dropped.
    assert not {"arch_prctl", "modify_ldt", "s390_pci_mmio_read", "riscv_flush_icache"} & allowed


def test_riscv64_maps_to_itself_only() -> None:
    seccomp = default_seccomp(DEFAULTS, "riscv64", NEW_KERNEL)
    assert seccomp["architectures"] == ["SCMP_ARCH_RISCV64"]
    assert "riscv_flush_icache" in allowed_syscalls(seccomp)


def test_includes_all_caps_excludes_any() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_X", "CAP_Y"]}},
            {"names": ["b"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_X", "CAP_Z"]}},
            {"names": ["c"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
            {"names": ["d"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.0"}},
            {"names": ["e"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "7.0"}},
            {"name": "f", "action": "SCMP_ACT_LOG", "comment": "old form"},
        ],
    }
    only_x = setup_seccomp(profile, ["CAP_X"], "amd64", (6, 1))
    assert [r["names"] for r in only_x["syscalls"]] == [["f"]]
    both = setup_seccomp(profile, ["CAP_X", "CAP_Y"], "amd64", (6, 1))
    assert [r["names"] for r in both["syscalls"]] == [["a"], ["f"]]
    none = setup_seccomp(profile, [], "arm64", (4, 19))
    assert [r["names"] for r in none["syscalls"]] == [["b"], ["c"], ["d"], ["f"]]
    assert none["syscalls"][-1] == {"names": ["f"], "action": "SCMP_ACT_LOG"}


def test_passes_oci_fields_through() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "listenerPath": "/run/agent.sock",
        "listenerMetadata": "meta",
        "syscalls": [
            {
                "names": ["kill"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 1,
                "args": [{"index": 1, "value": 9, "valueTwo": 0, "op": "SCMP_CMP_EQ"}],
            }
        ],
    }
    assert setup_seccomp(profile, DEFAULTS, "amd64", NEW_KERNEL) == profile


def test_no_default_action_nor_syscalls_is_no_seccomp() -> None:
    assert setup_seccomp({}, DEFAULTS, "amd64") is None
    assert setup_seccomp(None, DEFAULTS, "amd64") is None
    assert setup_seccomp({"defaultAction": "SCMP_ACT_ALLOW"}, DEFAULTS, "amd64") == {
        "defaultAction": "SCMP_ACT_ALLOW"
    }


def test_errors() -> None:
    with pytest.raises(InvalidArgument, match="use either 'architectures' or 'archMap'"):
        setup_seccomp(
            {"defaultAction": "A", "architectures": ["X"], "archMap": [{"architecture": "X"}]},
            DEFAULTS,
        )
    with pytest.raises(InvalidArgument, match="use either 'name' or 'names'"):
        setup_seccomp(
            {"defaultAction": "A", "syscalls": [{"name": "a", "names": ["b"], "action": "A"}]},
            DEFAULTS,
            "amd64",
        )
    with pytest.raises(InvalidArgument, match="Decoding seccomp profile failed"):
        parse_profile("{nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("4", 'invalid kernel version: "4", expected "<kernel>.<major>"'),
        ("4.8.1", 'invalid kernel version: "4.8.1", expected "<kernel>.<major>"'),
        (
            "0.0",
            'invalid kernel version: "0.0", expected "<kernel>.<major>": version cannot be 0.0',
        ),
        ("a.1", 'invalid kernel version: "a.1", expected "<kernel>.<major>": strconv.ParseUint'),
    ],
)
def test_kernel_versions(text: str, message: str) -> None:
    assert parse_kernel_version("4.8") == (4, 8)
    with pytest.raises(InvalidArgument) as info:
        parse_kernel_version(text)
    assert str(info.value).startswith(message)


def test_a_bad_min_kernel_fails_whatever_the_rules() -> None:
    profile = {
        "defaultAction": "A",
        "syscalls": [
            {"names": ["a"], "action": "A", "includes": {"arches": ["s390x"], "minKernel": "x"}}
        ],
    }
    with pytest.raises(InvalidArgument, match="invalid kernel version"):
        setup_seccomp(profile, DEFAULTS, "amd64", NEW_KERNEL)


def test_the_shipped_profile_is_dockers_format() -> None:
    profile = load_default_profile()
    assert {"defaultAction", "archMap", "syscalls"} <= set(profile)
    assert any("includes" in rule for rule in profile["syscalls"])
