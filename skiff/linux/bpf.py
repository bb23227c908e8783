"""bpf(2): encode eBPF instructions; load a program; attach, query and detach cgroup programs.

Only what a cgroup device filter needs: the runtime builds its program in
``skiff.cgroups.devices_bpf`` and reaches the kernel through here.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys

from skiff.linux.libc import syscall
from skiff.values import Value

# bpf(2) commands
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16

BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6  # attach type

BPF_F_ALLOW_MULTI = 1 << 1

# Instruction classes, operations and sources (include/uapi/linux/bpf_common.h, bpf.h).
BPF_LDX = 0x01
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_W = 0x00
BPF_MEM = 0x60
BPF_K = 0x00
BPF_X = 0x08
BPF_AND = 0x50
BPF_RSH = 0x70
BPF_MOV = 0xB0
BPF_JEQ = 0x10
BPF_JNE = 0x50
BPF_EXIT = 0x90

_LOG_SIZE = 1 << 16
_LOG_TAIL = 8  # verifier log lines kept in an error message


class Insn(Value):
    """One eBPF instruction (``struct bpf_insn``)."""

    FIELDS = ("code", "dst", "src", "off", "imm")
    __slots__ = FIELDS

    def __init__(self, code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> None:
        self.code = code
        self.dst = dst
        self.src = src
        self.off = off
        self.imm = imm

    def encode(self) -> bytes:
        # The two 4-bit register fields share a byte; which nibble is dst follows the byte order.
        little = sys.byteorder == "little"
        regs = (self.src << 4) | self.dst if little else (self.dst << 4) | self.src
        return struct.pack("=BBhi", self.code, regs, self.off, self.imm)


def load_word(dst: int, src: int, off: int) -> Insn:
    """dst = *(u32 *)(src + off)"""
    return Insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off)


def alu32_imm(op: int, dst: int, imm: int) -> Insn:
    """dst = (u32)(dst op imm)"""
    return Insn(BPF_ALU | op | BPF_K, dst, imm=imm)


def mov32_reg(dst: int, src: int) -> Insn:
    return Insn(BPF_ALU | BPF_MOV | BPF_X, dst, src)


def mov32_imm(dst: int, imm: int) -> Insn:
    return Insn(BPF_ALU | BPF_MOV | BPF_K, dst, imm=imm)


def jump_imm(op: int, dst: int, imm: int, off: int) -> Insn:
    """if (dst op imm) skip ``off`` instructions"""
    return Insn(BPF_JMP | op | BPF_K, dst, off=off, imm=imm)


def jump_reg(op: int, dst: int, src: int, off: int) -> Insn:
    """if (dst op src) skip ``off`` instructions"""
    return Insn(BPF_JMP | op | BPF_X, dst, src, off=off)


def exit_insn() -> Insn:
    return Insn(BPF_JMP | BPF_EXIT)


def assemble(insns: list[Insn]) -> bytes:
    return b"".join(insn.encode() for insn in insns)


class _ProgLoadAttr(ctypes.Structure):
    _fields_ = [
        ("prog_type", ctypes.c_uint32),
        ("insn_cnt", ctypes.c_uint32),
        ("insns", ctypes.c_uint64),
        ("license", ctypes.c_uint64),
        ("log_level", ctypes.c_uint32),
        ("log_size", ctypes.c_uint32),
        ("log_buf", ctypes.c_uint64),
        ("kern_version", ctypes.c_uint32),
        ("prog_flags", ctypes.c_uint32),
        ("prog_name", ctypes.c_char * 16),
        ("prog_ifindex", ctypes.c_uint32),
        ("expected_attach_type", ctypes.c_uint32),
    ]


class _AttachAttr(ctypes.Structure):
    _fields_ = [
        ("target_fd", ctypes.c_uint32),
        ("attach_bpf_fd", ctypes.c_uint32),
        ("attach_type", ctypes.c_uint32),
        ("attach_flags", ctypes.c_uint32),
        ("replace_bpf_fd", ctypes.c_uint32),
    ]


class _QueryAttr(ctypes.Structure):
    _fields_ = [
        ("target_fd", ctypes.c_uint32),
        ("attach_type", ctypes.c_uint32),
        ("query_flags", ctypes.c_uint32),
        ("attach_flags", ctypes.c_uint32),
        ("prog_ids", ctypes.c_uint64),
        ("prog_cnt", ctypes.c_uint32),
    ]


class _GetFdByIdAttr(ctypes.Structure):
    _fields_ = [
        ("prog_id", ctypes.c_uint32),
        ("next_id", ctypes.c_uint32),
        ("open_flags", ctypes.c_uint32),
    ]


def _bpf(cmd: int, attr: ctypes.Structure) -> int:
    return syscall("bpf", cmd, ctypes.pointer(attr), ctypes.sizeof(attr))


def _load(attr: _ProgLoadAttr) -> int:
    try:
        return _bpf(BPF_PROG_LOAD, attr)
    except OSError as err:
        if err.errno != errno.EPERM:
            raise
    # Kernels before 5.11 charge programs to RLIMIT_MEMLOCK rather than to the memory cgroup:
    # raise it (as runc does) and try once more.
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY,) * 2)
    except (ValueError, OSError):
        pass
    return _bpf(BPF_PROG_LOAD, attr)


def prog_load(prog_type: int, insns: list[Insn], license: str, name: str = "") -> int:
    """Load a program; returns its fd. A refusal carries the verifier's log in the message."""
    code = assemble(insns)
    code_buf = ctypes.create_string_buffer(code, len(code))
    license_buf = ctypes.create_string_buffer(license.encode())
    attr = _ProgLoadAttr(
        prog_type=prog_type,
        insn_cnt=len(insns),
        insns=ctypes.addressof(code_buf),
        license=ctypes.addressof(license_buf),
        prog_name=name.encode()[:15],
    )
    try:
        return _load(attr)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.EACCES):  # the verifier said no: ask it why
            raise
    log_buf = ctypes.create_string_buffer(_LOG_SIZE)
    attr.log_level, attr.log_size, attr.log_buf = 1, _LOG_SIZE, ctypes.addressof(log_buf)
    try:
        return _load(attr)
    except OSError as err:
        # The verdict is at the end of the log; keep the message on one line.
        log = log_buf.value.decode(errors="replace").strip().splitlines()[-_LOG_TAIL:]
        message = f"BPF_PROG_LOAD: {os.strerror(err.errno)}; verifier: {'; '.join(log)}"
        raise OSError(err.errno, message) from None


def prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0) -> None:
    _bpf(BPF_PROG_ATTACH, _AttachAttr(target_fd, prog_fd, attach_type, flags, 0))


def prog_detach(target_fd: int, prog_fd: int, attach_type: int) -> None:
    _bpf(BPF_PROG_DETACH, _AttachAttr(target_fd, prog_fd, attach_type, 0, 0))


def prog_query(target_fd: int, attach_type: int) -> list[int]:
    """The ids of the programs attached to cgroup directory ``target_fd`` for ``attach_type``."""
    count = 64
    while True:
        ids = (ctypes.c_uint32 * count)()
        attr = _QueryAttr(
            target_fd=target_fd,
            attach_type=attach_type,
            prog_ids=ctypes.addressof(ids),
            prog_cnt=count,
        )
        try:
            _bpf(BPF_PROG_QUERY, attr)
        except OSError as err:
            if err.errno == errno.ENOSPC and attr.prog_cnt > count:  # prog_cnt holds the count
                count = attr.prog_cnt
                continue
            raise
        return list(ids[: attr.prog_cnt])


def prog_fd_by_id(prog_id: int) -> int:
    return _bpf(BPF_PROG_GET_FD_BY_ID, _GetFdByIdAttr(prog_id, 0, 0))
