"""Random straight-line XDP programs (ALU, JMP, stack and packet accesses on scalars, cpu v4
included) whose every register ends up in the packet: the kernel oracle and the JIT tests
compare them bit for bit."""

import asm

_ALU = ["add", "sub", "mul", "div", "or", "and", "lsh", "rsh", "neg", "mod", "xor", "mov", "arsh"]
_J = list(asm.JOPS)
_SCRATCH = [0, 1, 2, 3, 4, 5, 9]


def random_program(rnd, n_ops=40):
    """r7 = data (80 bytes checked), random ALU/JMP/stack/packet ops on scalars, all registers
    stored back into the packet so data_out shows every 64-bit value."""
    p = []
    p += asm.mov64(0, 0) + asm.ldx(4, 7, 1, 0) + asm.ldx(4, 8, 1, 4)
    p += asm.alu("mov", 6, 7) + asm.alu("add", 6, imm=80)
    p += asm.jmp("jgt", 6, 0x7FFF, src=8)              # patched to the exit below
    jpos = len(p) - 1
    for r in _SCRATCH:
        p += asm.ld_imm64(r, rnd.choice([0, 1, -1, 0x7FFFFFFF, 0x80000000, -0x80000000, 0xFFFFFFFF,
                                         1 << 63, rnd.getrandbits(64), rnd.getrandbits(32), rnd.randrange(-9, 9)]))
    for off in range(-64, 0, 8):
        p += asm.st(8, 10, off, 0)
    for _ in range(n_ops):
        kind = rnd.random()
        d = rnd.choice(_SCRATCH)
        s = rnd.choice(_SCRATCH)
        wide = rnd.random() < 0.6
        if kind < 0.55:
            op = rnd.choice(_ALU)
            if op == "neg":
                p += asm.alu(op, d, imm=0, wide=wide)
            elif rnd.random() < 0.5:
                imm = rnd.choice([0, 1, -1, 3, 7, 31, 32, 63, rnd.getrandbits(31), -rnd.getrandbits(31)])
                if op in ("div", "mod") and imm == 0:
                    imm = 7
                if op in ("lsh", "rsh", "arsh"):
                    imm = rnd.randrange(64 if wide else 32)
                off = 1 if op in ("div", "mod") and rnd.random() < 0.4 else 0
                p += asm.alu(op, d, imm=imm, wide=wide, off=off)
            else:
                off = 1 if op in ("div", "mod") and rnd.random() < 0.4 else 0
                if op == "mov" and rnd.random() < 0.3:
                    p += asm.movsx(d, s, rnd.choice([8, 16, 32] if wide else [8, 16]), wide=wide)
                else:
                    p += asm.alu(op, d, src=s, wide=wide, off=off)
        elif kind < 0.62:
            p += asm.bswap(d, rnd.choice([16, 32, 64])) if rnd.random() < 0.5 else \
                asm.endian(d, rnd.choice([16, 32, 64]), rnd.random() < 0.5)
        elif kind < 0.72:
            skip = rnd.randrange(0, 3)
            body = []
            for _ in range(skip):
                body += asm.alu(rnd.choice(["add", "xor", "mov"]), rnd.choice(_SCRATCH), imm=rnd.getrandbits(16))
            if rnd.random() < 0.5:
                p += asm.jmp(rnd.choice(_J), d, len(body), src=s, wide=wide)
            else:
                p += asm.jmp(rnd.choice(_J), d, len(body), imm=rnd.choice([0, -1, 5, rnd.getrandbits(31)]), wide=wide)
            p += body
        elif kind < 0.82:
            size = rnd.choice([1, 2, 4, 8])
            off = -8 * rnd.randrange(1, 9) + (rnd.randrange(8 // size) * size if size < 8 else 0)
            if rnd.random() < 0.5:
                p += asm.stx(size, 10, s, off)
            else:
                p += asm.ldx(size, d, 10, off, sx=size < 8 and rnd.random() < 0.5)
        elif kind < 0.92:
            size = rnd.choice([1, 2, 4, 8])
            off = rnd.randrange(0, 80 - size)
            if rnd.random() < 0.5:
                p += asm.stx(size, 7, s, off)
            else:
                p += asm.ldx(size, d, 7, off, sx=size < 8 and rnd.random() < 0.5)
        else:
            size = rnd.choice([4, 8])
            op = rnd.choice([0x00, 0x40, 0x50, 0xa0, 0x01, 0x41, 0x51, 0xa1, 0xe1, 0xf1])
            src = rnd.choice([1, 2, 3, 4, 5, 9])
            p += asm.atomic(size, 10, src, -8 * rnd.randrange(1, 9), op)
    for i, r in enumerate(_SCRATCH):
        p += asm.stx(8, 7, r, 8 * i)
    for off in range(-64, 0, 8):
        p += asm.ldx(8, 2, 10, off) + asm.stx(8, 7, 2, 8 * len(_SCRATCH) + (off + 64) // 8 * 0)
    exit_pos = len(p)
    p += asm.exit_()
    v = int(p[jpos])
    p[jpos] = (v & ~(0xFFFF << 16)) | (((exit_pos - jpos - 1) & 0xFFFF) << 16)
    return p
