"""The cgroup v2 device filter: device rules as an eBPF program attached to the cgroup.

cgroup v2 has no devices controller; the kernel asks a BPF_PROG_TYPE_CGROUP_DEVICE program
instead (as runc and crun do). The program reads the request from ``struct bpf_cgroup_dev_ctx``
and checks the rules from the last to the first: the first that matches returns its verdict,
so the last matching rule wins (see ``skiff.cgroups.devices``); none matching denies.
"""

import os

from skiff.cgroups.devices import ACCESS, ANY, DeviceRule
from skiff.linux import bpf
from skiff.linux.bpf import Insn

LICENSE = "Apache"
PROGRAM_NAME = "skiff_devices"

# struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }: access_type holds the
# device type in its low 16 bits and the access in its high 16 bits.
_TYPES = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_ACCESS_BITS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE

# Registers: R1 holds the context on entry; the prologue loads the request into R2..R5.
R0, R1, R2, R3, R4, R5 = range(6)
_TYPE, _ACCESS, _MAJOR, _MINOR = R2, R3, R4, R5

_PROLOGUE = [
    bpf.load_word(_TYPE, R1, 0),
    bpf.alu32_imm(bpf.BPF_AND, _TYPE, 0xFFFF),
    bpf.load_word(_ACCESS, R1, 0),
    bpf.alu32_imm(bpf.BPF_RSH, _ACCESS, 16),
    bpf.load_word(_MAJOR, R1, 4),
    bpf.load_word(_MINOR, R1, 8),
]


def _verdict(allow: bool) -> list[Insn]:
    return [bpf.mov32_imm(R0, int(allow)), bpf.exit_insn()]


def _rule_block(rule: DeviceRule) -> list[Insn]:
    """Instructions that return the rule's verdict if it matches, else fall through past it."""
    # Each check jumps to the end of the block on a mismatch; offsets count from the next
    # instruction, so they are computed once the block's checks are known.
    checks: list[tuple[str, int, int]] = []  # (kind, register, value)
    if rule.type != "a":
        checks.append(("ne", _TYPE, _TYPES[rule.type]))
    if rule.access != ACCESS:
        bits = sum(_ACCESS_BITS[c] for c in rule.access)
        checks.append(("allow-access" if rule.allow else "deny-access", _ACCESS, bits))
    if rule.major != ANY:
        checks.append(("ne", _MAJOR, rule.major))
    if rule.minor != ANY:
        checks.append(("ne", _MINOR, rule.minor))
    length = sum(3 if kind.endswith("access") else 1 for kind, _, _ in checks) + 2
    block: list[Insn] = []

    def skip() -> int:
        return length - len(block) - 1

    for kind, register, value in checks:
        if kind == "ne":
            block.append(bpf.jump_imm(bpf.BPF_JNE, register, value, skip()))
            continue
        # R1 = requested & allowed. An allow rule must cover every requested access
        # (R1 == requested); a deny rule matches if it covers any (R1 != 0).
        block.append(bpf.mov32_reg(R1, register))
        block.append(bpf.alu32_imm(bpf.BPF_AND, R1, value))
        if kind == "allow-access":
            block.append(bpf.jump_reg(bpf.BPF_JNE, R1, register, skip()))
        else:
            block.append(bpf.jump_imm(bpf.BPF_JEQ, R1, 0, skip()))
    return block + _verdict(rule.allow)


def program(rules: list[DeviceRule]) -> list[Insn]:
    """The filter for ``rules``: default deny, last matching rule wins."""
    insns = list(_PROLOGUE)
    for rule in reversed(rules):
        insns += _rule_block(rule)
        if rule.type == "a":
            # Matches every request: the rules before it never decide, and the verifier
            # refuses unreachable instructions.
            return insns
    return insns + _verdict(False)


def install(directory: str, rules: list[DeviceRule]) -> None:
    """Attach the filter for ``rules`` to the v2 cgroup ``directory``, replacing earlier ones.

    The new program is attached before the old ones are detached: in between both apply, and
    the kernel allows only what every attached program allows, so access never widens.
    """
    prog_fd = bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, program(rules), LICENSE, PROGRAM_NAME)
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            old = bpf.prog_query(dir_fd, bpf.BPF_CGROUP_DEVICE)
            bpf.prog_attach(dir_fd, prog_fd, bpf.BPF_CGROUP_DEVICE, bpf.BPF_F_ALLOW_MULTI)
            for prog_id in old:
                _detach(dir_fd, prog_id)
        finally:
            os.close(dir_fd)
    finally:
        os.close(prog_fd)


def _detach(dir_fd: int, prog_id: int) -> None:
    try:
        old_fd = bpf.prog_fd_by_id(prog_id)
    except FileNotFoundError:
        return  # detached meanwhile
    try:
        bpf.prog_detach(dir_fd, old_fd, bpf.BPF_CGROUP_DEVICE)
    finally:
        os.close(old_fd)
