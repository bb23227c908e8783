"""Device rules: validation, v1 lines, and the v2 eBPF filter run by a small interpreter."""

import itertools
import random
import struct

import pytest

from skiff.cgroups.devices import ANY, DeviceRule, parse_rule, parse_rules
from skiff.cgroups.devices_bpf import program
from skiff.errors import InvalidArgument
from skiff.linux import bpf

TYPES = {"b": 1, "c": 2}
ACCESS_BITS = {"m": 1, "r": 2, "w": 4}


def run(insns: list[bpf.Insn], kind: str, major: int, minor: int, access: str) -> int:
    """Interpret the subset of eBPF the device filter uses, on one request."""
    access_bits = sum(ACCESS_BITS[c] for c in access)
    ctx = struct.pack("=III", TYPES[kind] | access_bits << 16, major, minor)
    regs = [0] * 11
    pc = 0
    for _ in range(10_000):
        insn = insns[pc]
        pc += 1
        cls, op, src_is_reg = insn.code & 0x07, insn.code & 0xF0, insn.code & 0x08
        operand = regs[insn.src] if src_is_reg else insn.imm & 0xFFFFFFFF
        if cls == bpf.BPF_LDX:
            assert insn.src == 1 and insn.code == bpf.BPF_LDX | bpf.BPF_MEM | bpf.BPF_W
            regs[insn.dst] = struct.unpack_from("=I", ctx, insn.off)[0]
        elif cls == bpf.BPF_ALU:
            result = {
                bpf.BPF_MOV: operand,
                bpf.BPF_AND: regs[insn.dst] & operand,
                bpf.BPF_RSH: regs[insn.dst] >> operand,
            }[op]
            regs[insn.dst] = result & 0xFFFFFFFF
        elif cls == bpf.BPF_JMP and op == bpf.BPF_EXIT:
            return regs[0]
        elif cls == bpf.BPF_JMP:
            taken = {bpf.BPF_JEQ: regs[insn.dst] == operand, bpf.BPF_JNE: regs[insn.dst] != operand}
            if taken[op]:
                pc += insn.off
        else:
            raise AssertionError(f"unexpected opcode {insn.code:#x}")
    raise AssertionError("program did not exit")


def reference(rules: list[DeviceRule], kind: str, major: int, minor: int, access: str) -> int:
    """The documented semantics: default deny, the last matching rule decides."""
    for rule in reversed(rules):
        if rule.type == "a":
            return int(rule.allow)
        if rule.type != kind or rule.major not in (ANY, major) or rule.minor not in (ANY, minor):
            continue
        if rule.allow and set(access) <= set(rule.access):
            return 1
        if not rule.allow and set(access) & set(rule.access):
            return 0
    return 0


def test_parse_rule_defaults_and_normalises():
    assert parse_rule({"allow": False}, "r") == DeviceRule(False)
    rule = parse_rule({"allow": True, "type": "u", "major": 1, "access": "wr"}, "r")
    assert rule == DeviceRule(True, "c", 1, ANY, "rw")
    rule = parse_rule({"allow": True, "type": "b", "major": 8, "minor": -1}, "r")
    assert rule == DeviceRule(True, "b", 8, ANY, "rwm")


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"type": "c"}, "r.allow: expected true or false"),
        ({"allow": True, "type": "p"}, "r.type: expected a, c, u or b"),
        ({"allow": True, "type": "c", "access": "rx"}, "r.access: expected letters of rwm"),
        ({"allow": True, "type": "c", "major": "1"}, "r.major: expected a device number"),
        ({"allow": True, "type": "c", "minor": -2}, "r.minor: expected a device number"),
    ],
)
def test_parse_rule_rejects(item, message):
    with pytest.raises(InvalidArgument, match=message):
        parse_rule(item, "r")


def test_parse_rules_names_the_index():
    with pytest.raises(InvalidArgument, match=r"linux\.resources\.devices\[1\]\.allow"):
        parse_rules([{"allow": True}, {}])


def test_v1_lines():
    assert DeviceRule(False).v1_line() == "a"
    assert DeviceRule(True, "c", 1, 3, "rwm").v1_line() == "c 1:3 rwm"
    assert DeviceRule(True, "b", ANY, ANY, "m").v1_line() == "b *:* m"
    assert DeviceRule(True, "c", 136, ANY, "rw").v1_line() == "c 136:* rw"


def test_program_shape():
    rules = [DeviceRule(False), DeviceRule(True, "c", 1, 3, "r"), DeviceRule(False, "b", 8, ANY)]
    insns = program(rules)
    prologue = [
        bpf.load_word(2, 1, 0),
        bpf.alu32_imm(bpf.BPF_AND, 2, 0xFFFF),
        bpf.load_word(3, 1, 0),
        bpf.alu32_imm(bpf.BPF_RSH, 3, 16),
        bpf.load_word(4, 1, 4),
        bpf.load_word(5, 1, 8),
    ]
    assert insns[:6] == prologue
    # The last rule first: block b 8:* (type, major, verdict), on a mismatch skip 3.
    assert insns[6:10] == [
        bpf.jump_imm(bpf.BPF_JNE, 2, 1, 3),
        bpf.jump_imm(bpf.BPF_JNE, 4, 8, 2),
        bpf.mov32_imm(0, 0),
        bpf.exit_insn(),
    ]
    # Then c 1:3 r: type, access (3 instructions), major, minor, verdict.
    block = insns[10:18]
    assert [i.off for i in block if i.code & 0x07 == bpf.BPF_JMP][:-1] == [7, 4, 3, 2]
    assert block[-2:] == [bpf.mov32_imm(0, 1), bpf.exit_insn()]
    # The wildcard deny at the head matches everything and ends the program.
    assert insns[18:] == [bpf.mov32_imm(0, 0), bpf.exit_insn()]


def test_program_without_wildcard_ends_in_deny():
    insns = program([DeviceRule(True, "c", 1, 5)])
    assert insns[-2:] == [bpf.mov32_imm(0, 0), bpf.exit_insn()]
    assert program([])[6:] == [bpf.mov32_imm(0, 0), bpf.exit_insn()]


def test_wildcard_makes_earlier_rules_unreachable():
    insns = program([DeviceRule(True, "c", 1, 3), DeviceRule(True), DeviceRule(False, "c", 1, 5)])
    # prologue + (c 1:5 block: 3 checks + verdict) + wildcard verdict; c 1:3 is never emitted
    assert len(insns) == 6 + 5 + 2
    assert run(insns, "c", 1, 3, "r") == 1
    assert run(insns, "c", 1, 5, "r") == 0


def test_deny_read_of_dev_null_only():
    rules = parse_rules(
        [
            {"allow": True, "access": "rwm"},
            {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "r"},
        ]
    )
    insns = program(rules)
    assert run(insns, "c", 1, 3, "r") == 0
    assert run(insns, "c", 1, 3, "rw") == 0  # a deny rule matches any access it names
    assert run(insns, "c", 1, 3, "w") == 1
    assert run(insns, "c", 1, 5, "r") == 1
    assert run(insns, "b", 1, 3, "r") == 1


def test_allow_needs_every_requested_access():
    rules = [DeviceRule(True, "c", 1, 3, "r"), DeviceRule(True, "c", 1, 3, "w")]
    insns = program(rules)
    assert run(insns, "c", 1, 3, "r") == 1
    assert run(insns, "c", 1, 3, "w") == 1
    assert run(insns, "c", 1, 3, "rw") == 0


def test_program_agrees_with_the_semantics_on_random_rules():
    rng = random.Random(7)
    accesses = ["".join(c) for n in (1, 2, 3) for c in itertools.combinations("rwm", n)]
    for _ in range(300):
        rules = [
            DeviceRule(
                rng.random() < 0.5,
                rng.choice("cbcb" + ("a" if rng.random() < 0.1 else "")),
                rng.choice([ANY, 1, 2]),
                rng.choice([ANY, 3, 5]),
                rng.choice(accesses),
            )
            for _ in range(rng.randint(0, 6))
        ]
        rules = [DeviceRule(r.allow) if r.type == "a" else r for r in rules]
        insns = program(rules)
        for kind, major, minor, access in itertools.product("cb", (1, 2, 7), (3, 5, 9), accesses):
            assert run(insns, kind, major, minor, access) == reference(
                rules, kind, major, minor, access
            ), (rules, kind, major, minor, access)


def test_instruction_encoding():
    # mov32 r0, 1 / exit / r2 = *(u32 *)(r1 + 4) / if r1 != r3 goto +2, little-endian layout
    assert bpf.mov32_imm(0, 1).encode() == bytes.fromhex("b400000001000000")
    assert bpf.exit_insn().encode() == bytes.fromhex("9500000000000000")
    assert bpf.load_word(2, 1, 4).encode() == bytes.fromhex("6112040000000000")
    assert bpf.jump_reg(bpf.BPF_JNE, 1, 3, 2).encode() == bytes.fromhex("5d31020000000000")
    assert bpf.jump_imm(bpf.BPF_JNE, 4, 136, 1).encode() == bytes.fromhex("5504010088000000")
