"""A tiny eBPF assembler for tests: each function returns a list of uint64 instructions."""

from xdplab.bpf.insn import pack

BPF_ALU, BPF_JMP, BPF_JMP32, BPF_ALU64 = 0x04, 0x05, 0x06, 0x07
OPS = {"add": 0x00, "sub": 0x10, "mul": 0x20, "div": 0x30, "or": 0x40, "and": 0x50, "lsh": 0x60, "rsh": 0x70,
       "neg": 0x80, "mod": 0x90, "xor": 0xa0, "mov": 0xb0, "arsh": 0xc0}
JOPS = {"jeq": 0x10, "jgt": 0x20, "jge": 0x30, "jset": 0x40, "jne": 0x50, "jsgt": 0x60, "jsge": 0x70,
        "jlt": 0xa0, "jle": 0xb0, "jslt": 0xc0, "jsle": 0xd0}
SIZES = {1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18}


def alu(op, dst, src=None, imm=0, wide=True, off=0):
    cls = BPF_ALU64 if wide else BPF_ALU
    if src is None:
        return [pack(cls | OPS[op], dst, 0, off, imm)]
    return [pack(cls | OPS[op] | 0x08, dst, src, off, 0)]


def mov64(dst, imm):
    return alu("mov", dst, imm=imm)


def ld_imm64(dst, v, src=0):
    v &= (1 << 64) - 1
    return [pack(0x18, dst, src, 0, v & 0xFFFFFFFF), pack(0, 0, 0, 0, v >> 32)]


def ld_map(dst, map_index):
    return ld_imm64(dst, map_index, src=1)


def jmp(op, dst, off, src=None, imm=0, wide=True):
    cls = BPF_JMP if wide else BPF_JMP32
    if src is None:
        return [pack(cls | JOPS[op], dst, 0, off, imm)]
    return [pack(cls | JOPS[op] | 0x08, dst, src, off, 0)]


def ja(off):
    return [pack(0x05, 0, 0, off, 0)]


def gotol(off):
    return [pack(0x06, 0, 0, 0, off)]


def ldx(size, dst, src, off, sx=False):
    return [pack(0x01 | (0x80 if sx else 0x60) | SIZES[size], dst, src, off, 0)]


def stx(size, dst, src, off):
    return [pack(0x03 | 0x60 | SIZES[size], dst, src, off, 0)]


def st(size, dst, off, imm):
    return [pack(0x02 | 0x60 | SIZES[size], dst, 0, off, imm)]


def atomic(size, dst, src, off, op):
    return [pack(0x03 | 0xc0 | SIZES[size], dst, src, off, op)]


def call(helper):
    return [pack(0x85, 0, 0, 0, helper)]


def exit_():
    return [pack(0x95, 0, 0, 0, 0)]


def bswap(dst, width):          # cpu v4 ALU64|END
    return [pack(0xd7, dst, 0, 0, width)]


def endian(dst, width, be):     # ALU|END to_le / to_be
    return [pack(0xd4 | (0x08 if be else 0), dst, 0, 0, width)]


def movsx(dst, src, bits, wide=True):
    return [pack((BPF_ALU64 if wide else BPF_ALU) | 0xb0 | 0x08, dst, src, bits, 0)]
