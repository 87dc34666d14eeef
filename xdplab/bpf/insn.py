"""eBPF instruction set: encodings (include/uapi/linux/bpf.h, bpf_common.h), the
VM's internal opcode numbers, and a disassembler in the kernel verifier's
syntax (kernel/bpf/disasm.c) for load errors and fault messages.

An instruction is 8 bytes: ``code:8 dst:4 src:4 off:16 imm:32`` (little endian).
"""

from __future__ import annotations

import numpy as np

# ---- instruction classes ---------------------------------------------------------------
BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_JMP32, BPF_ALU64 = range(8)
# size
BPF_W, BPF_H, BPF_B, BPF_DW = 0x00, 0x08, 0x10, 0x18
SIZE_BYTES = {BPF_W: 4, BPF_H: 2, BPF_B: 1, BPF_DW: 8}
# mode
BPF_IMM, BPF_ABS, BPF_IND, BPF_MEM, BPF_MEMSX, BPF_ATOMIC = 0x00, 0x20, 0x40, 0x60, 0x80, 0xc0
# source
BPF_K, BPF_X = 0x00, 0x08
# alu ops
BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH = (0x00, 0x10, 0x20, 0x30, 0x40,
                                                                      0x50, 0x60, 0x70)
BPF_NEG, BPF_MOD, BPF_XOR, BPF_MOV, BPF_ARSH, BPF_END = 0x80, 0x90, 0xa0, 0xb0, 0xc0, 0xd0
BPF_TO_LE, BPF_TO_BE = 0x00, 0x08
# jmp ops
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT, BPF_JSGE = (0x00, 0x10, 0x20, 0x30, 0x40,
                                                                           0x50, 0x60, 0x70)
BPF_CALL, BPF_EXIT, BPF_JLT, BPF_JLE, BPF_JSLT, BPF_JSLE = 0x80, 0x90, 0xa0, 0xb0, 0xc0, 0xd0
# atomics (imm of BPF_STX|BPF_ATOMIC)
BPF_FETCH = 0x01
BPF_XCHG = 0xe0 | BPF_FETCH
BPF_CMPXCHG = 0xf0 | BPF_FETCH
# pseudo sources
BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
BPF_PSEUDO_BTF_ID = 3
BPF_PSEUDO_FUNC = 4
BPF_PSEUDO_MAP_IDX = 5
BPF_PSEUDO_MAP_IDX_VALUE = 6
BPF_PSEUDO_CALL = 1
BPF_PSEUDO_KFUNC_CALL = 2

MAX_BPF_STACK = 512
MAX_CALL_FRAMES = 8
MAX_TAIL_CALL_CNT = 33

# ---- the VM's internal opcodes: one flat, dense space, so the dispatch is one jump table.
# ALU: base + (BPF_OP >> 4); the cpu v4 signed div/mod use the free slots 14 and 15.
OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_OR, OP_AND, OP_LSH, OP_RSH = range(8)
OP_NEG, OP_MOD, OP_XOR, OP_MOV, OP_ARSH = 8, 9, 10, 11, 12
OP_SDIV = 14
OP_SMOD = 15
ALU64_K, ALU64_X, ALU32_K, ALU32_X = 0, 16, 32, 48
OP_BSWAP = 64      # ALU64|END (v4 bswap) and ALU|END|TO_BE: byte swap of the low aux bits
OP_LE = 65         # ALU|END|TO_LE: zero-extend the low aux bits (a no-op swap on little endian)
OP_MOVSX = 66      # ALU64|MOV with off 8/16/32 (v4)
OP_MOVSX32 = 67    # ALU|MOV with off 8/16 (v4)
# JMP: base + (BPF_OP >> 4), for JEQ..JSLE (1..7, 10..13)
JMP64_K, JMP64_X, JMP32_K, JMP32_X = 70, 84, 98, 112
OP_JA = 126        # ja and gotol (target resolved at load)
OP_CALL = 127      # helper call
OP_EXIT = 128
OP_CALL_LOCAL = 129  # bpf-to-bpf call
OP_LDX = 130       # + 0..3 for B, H, W, DW
OP_LDSX = 134      # + 0..2 for B, H, W (v4)
OP_STX = 137       # + 0..3
OP_ST = 141        # + 0..3
OP_ATOMIC_W = 145
OP_ATOMIC_DW = 146
OP_LD_IMM64 = 147
N_OPS = 148

# size index (0..3 = B, H, W, DW) of a BPF size code
SIZE_INDEX = {BPF_B: 0, BPF_H: 1, BPF_W: 2, BPF_DW: 3}

_ALU_NAMES = {BPF_ADD: "+=", BPF_SUB: "-=", BPF_MUL: "*=", BPF_DIV: "/=", BPF_OR: "|=", BPF_AND: "&=",
              BPF_LSH: "<<=", BPF_RSH: ">>=", BPF_MOD: "%=", BPF_XOR: "^=", BPF_MOV: "=",
              BPF_ARSH: "s>>="}
_JMP_NAMES = {BPF_JEQ: "==", BPF_JGT: ">", BPF_JGE: ">=", BPF_JSET: "&", BPF_JNE: "!=",
              BPF_JSGT: "s>", BPF_JSGE: "s>=", BPF_JLT: "<", BPF_JLE: "<=", BPF_JSLT: "s<",
              BPF_JSLE: "s<="}
_SZ_NAMES = {BPF_B: "u8", BPF_H: "u16", BPF_W: "u32", BPF_DW: "u64"}
_SSZ_NAMES = {BPF_B: "s8", BPF_H: "s16", BPF_W: "s32"}


def unpack(raw: np.ndarray):
    """Split uint64 instructions into (code, dst, src, off, imm) numpy arrays."""
    raw = np.asarray(raw, dtype=np.uint64)
    code = (raw & np.uint64(0xFF)).astype(np.int64)
    dst = ((raw >> np.uint64(8)) & np.uint64(0xF)).astype(np.int64)
    src = ((raw >> np.uint64(12)) & np.uint64(0xF)).astype(np.int64)
    off = ((raw >> np.uint64(16)) & np.uint64(0xFFFF)).astype(np.int64)
    off = np.where(off >= 0x8000, off - 0x10000, off)
    imm = ((raw >> np.uint64(32)) & np.uint64(0xFFFFFFFF)).astype(np.int64)
    imm = np.where(imm >= 0x80000000, imm - 0x100000000, imm)
    return code, dst, src, off, imm


def pack(code, dst=0, src=0, off=0, imm=0) -> int:
    """One instruction as a uint64-compatible Python int."""
    return ((code & 0xFF) | ((dst & 0xF) << 8) | ((src & 0xF) << 12) | ((off & 0xFFFF) << 16)
            | ((imm & 0xFFFFFFFF) << 32))


def disasm_one(raw, i: int, helper_name=None) -> str:
    """Disassemble instruction ``i`` of ``raw`` (uint64 array) the way the verifier log does."""
    raw = np.asarray(raw, dtype=np.uint64)
    v = int(raw[i])
    code, dst, src = v & 0xFF, (v >> 8) & 0xF, (v >> 12) & 0xF
    off = (v >> 16) & 0xFFFF
    off = off - 0x10000 if off & 0x8000 else off
    imm = (v >> 32) & 0xFFFFFFFF
    imm = imm - 0x100000000 if imm & 0x80000000 else imm
    cls = code & 7
    if cls in (BPF_ALU, BPF_ALU64):
        r = "r" if cls == BPF_ALU64 else "w"
        op = code & 0xF0
        s = f"{r}{src}" if code & BPF_X else f"{imm}"
        if op == BPF_NEG:
            return f"{r}{dst} = -{r}{dst}"
        if op == BPF_END:
            if cls == BPF_ALU64:
                return f"r{dst} = bswap{imm} r{dst}"
            return f"r{dst} = {'be' if code & BPF_TO_BE else 'le'}{imm} r{dst}"
        if op == BPF_MOV and off in (8, 16, 32):
            return f"{r}{dst} = (s{off}){r}{src}"
        if op in (BPF_DIV, BPF_MOD) and off == 1:
            return f"{r}{dst} s{_ALU_NAMES[op]} {s}"
        return f"{r}{dst} {_ALU_NAMES.get(op, '?=')} {s}"
    if cls in (BPF_JMP, BPF_JMP32):
        op = code & 0xF0
        if op == BPF_EXIT:
            return "exit"
        if op == BPF_CALL:
            if src == BPF_PSEUDO_CALL:
                return f"call pc{imm:+d}"
            if src == BPF_PSEUDO_KFUNC_CALL:
                return f"call kernel-function#{imm}"
            name = helper_name(imm) if helper_name else f"#{imm}"
            return f"call {name}"
        if op == BPF_JA:
            return f"goto pc{(imm if cls == BPF_JMP32 else off):+d}"
        r = "r" if cls == BPF_JMP else "w"
        s = f"{r}{src}" if code & BPF_X else f"{imm:#x}"
        return f"if {r}{dst} {_JMP_NAMES.get(op, '?')} {s} goto pc{off:+d}"
    if cls == BPF_LD:
        if code == (BPF_LD | BPF_IMM | BPF_DW):
            hi = (int(raw[i + 1]) >> 32) & 0xFFFFFFFF if i + 1 < len(raw) else 0
            if src == BPF_PSEUDO_MAP_FD:
                return f"r{dst} = map[id:{imm}]"
            if src == BPF_PSEUDO_MAP_VALUE:
                return f"r{dst} = map[id:{imm}][0]+{hi}"
            return f"r{dst} = {((hi << 32) | (imm & 0xFFFFFFFF)):#x}"
        return f"(legacy packet access {code:#04x})"
    sz = code & 0x18
    mode = code & 0xE0
    if cls == BPF_LDX:
        if mode == BPF_MEMSX:
            return f"r{dst} = *({_SSZ_NAMES.get(sz, '?')} *)(r{src} {off:+d})"
        return f"r{dst} = *({_SZ_NAMES[sz]} *)(r{src} {off:+d})"
    if cls == BPF_ST:
        return f"*({_SZ_NAMES[sz]} *)(r{dst} {off:+d}) = {imm}"
    if cls == BPF_STX:
        if mode == BPF_ATOMIC:
            w = "r" if sz == BPF_DW else "w"
            ops = {BPF_ADD: "+=", BPF_OR: "|=", BPF_AND: "&=", BPF_XOR: "^="}
            base = imm & ~BPF_FETCH
            tgt = f"*({_SZ_NAMES[sz]} *)(r{dst} {off:+d})"
            if imm == BPF_XCHG:
                return f"{w}{src} = atomic{'64' if sz == BPF_DW else ''}_xchg(({_SZ_NAMES[sz]} *)(r{dst} {off:+d}), {w}{src})"
            if imm == BPF_CMPXCHG:
                return (f"{'r' if sz == BPF_DW else 'w'}0 = atomic{'64' if sz == BPF_DW else ''}_cmpxchg(("
                        f"{_SZ_NAMES[sz]} *)(r{dst} {off:+d}), {w}0, {w}{src})")
            if imm & BPF_FETCH:
                return f"{w}{src} = atomic{'64' if sz == BPF_DW else ''}_fetch_{ {0: 'add', 0x40: 'or', 0x50: 'and', 0xa0: 'xor'}.get(base, '?')}(({_SZ_NAMES[sz]} *)(r{dst} {off:+d}), {w}{src})"
            return f"lock {tgt} {ops.get(base, '?=')} {w}{src}"
        return f"*({_SZ_NAMES[sz]} *)(r{dst} {off:+d}) = r{src}"
    return f"(unknown opcode {code:#04x})"
