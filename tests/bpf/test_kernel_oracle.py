"""Differential tests: the VM against the running Linux kernel (BPF_PROG_TEST_RUN).

Every program is loaded into the kernel with our own bpf() syscall code (the
loader's relocated instructions), both run the same seeded packets, and retval,
output bytes and length, and all map contents must be identical.  Random
straight-line programs check ALU/JMP/memory semantics (cpu v4 included) bit for bit.
Skips (with the reason) where bpf() is not available.
"""

import os
import random

import numpy as np
import pytest
from conftest import PROGS, TPROGS, sample_packets

import asm
from xdplab.bpf import load_insns, load_object, test_run
from xdplab.bpf.oracle import KernelObject, bpf_available, possible_cpus

pytestmark = pytest.mark.kernel
_OK, _WHY = bpf_available()
if not _OK:
    pytest.skip(f"kernel oracle unavailable: {_WHY}", allow_module_level=True)


@pytest.fixture(scope="module", autouse=True)
def on_cpu0():
    """Pin to CPU 0 so per-CPU map values land where the VM (ENV_CPU=0) puts them."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    yield
    os.sched_setaffinity(0, old)


def _norm(v, nc):
    return v[:nc] if isinstance(v, list) else v


def compare_maps(obj, k):
    nc = min(2, possible_cpus())
    for name, m in obj.maps.items():
        if m.type == 3:          # prog array: fds vs programs
            continue
        vm = {kk: _norm(v, nc) for kk, v in m.items()}
        kern = {kk: _norm(v, nc) for kk, v in k.dump(name).items()}
        assert vm == kern, f"map {name} differs"


def run_both(obj, prog_name, packets, k):
    prog = obj.programs[prog_name]
    for i, pkt in enumerate(packets):
        kr = k.test_run(prog_name, pkt)
        vr = test_run(prog, pkt)
        assert vr.fault == "", f"packet {i}: VM fault\n{vr.fault}"
        assert (vr.retval, vr.data_out.hex()) == (kr[0], kr[1].hex()), f"packet {i} ({len(pkt)} bytes) {pkt[:40].hex()}"
        assert vr.data_size_out == len(kr[1])


LAB = [("xdp_drop.o", "xdp_drop"), ("xdp_pass.o", "xdp_pass"), ("xdp_abort.o", "xdp_abort"),
       ("ssh_mirror.o", "ssh_mirror"), ("xdp2.o", "xdp_prog1"), ("redirect_map.o", "xdp_redirect_map"),
       ("redirect_cpu.o", "xdp_redirect_cpu"), ("xsk_redirect.o", "xdp_sock_prog"),
       ("xdp_frags.o", "xdp_frags_count")]
TEST = [("loop_csum.o", "xdp_loop_csum"), ("globals.o", "xdp_globals"), ("globals.o", "xdp_second"),
        ("adjust.o", "xdp_adjust"), ("hashmaps.o", "xdp_hashmaps"), ("atomics.o", "xdp_atomics"),
        ("legacy_maps.o", "count_ifindex")]


@pytest.mark.parametrize("fname, prog", LAB + TEST)
def test_program_matches_kernel(fname, prog):
    path = (PROGS if (PROGS / fname).exists() else TPROGS) / fname
    obj = load_object(path)
    if "tx_port" in obj.maps:
        obj.maps["tx_port"].update(0, 1)               # lo
    packets = sample_packets(seed=hash(fname) & 0xFFFF)
    if obj.programs[prog].frags:
        packets += [bytes(range(256)) * 20, b"\x01" * 3521, bytes(9000) + b"\xff" * 4, bytes(4096 * 3 + 7)]
    if fname == "hashmaps.o":
        rnd = random.Random(3)
        packets = [bytes([rnd.randrange(8), rnd.randrange(40), rnd.randrange(3), 0, 0, rnd.randrange(8),
                          rnd.randrange(256), rnd.randrange(256)]) + bytes(8) for _ in range(400)]
    with KernelObject(obj) as k:
        run_both(obj, prog, packets, k)
        compare_maps(obj, k)


def test_tail_calls_match_kernel():
    obj = load_object(TPROGS / "tailcall.o")
    obj.maps["jmp"].update(1, obj.programs["xdp_drop_it"])
    obj.maps["jmp"].update(2, obj.programs["xdp_tx_it"])
    with KernelObject(obj) as k:
        run_both(obj, "xdp_entry", [bytes([b]) + bytes(20) for b in range(8)], k)


def test_metalen_limit_is_6_1s():
    """Known version difference, on purpose: 6.1 allows 32 bytes of metadata
    (xdp_metalen_invalid), later kernels 255.  The VM models 6.1."""
    obj = load_object(TPROGS / "adjust.o")
    pkt = bytes([0, (-40) & 0xFF, 0]) + bytes(57)
    test_run(obj.programs["xdp_adjust"], pkt)
    assert obj.maps["rets"].lookup(0, as_int=True) == (-13) & 0xFFFFFFFFFFFFFFFF      # -EACCES
    with KernelObject(obj) as k:
        k.test_run("xdp_adjust", pkt)
        kret = int.from_bytes(k.lookup("rets", (0).to_bytes(4, "little")), "little", signed=True)
    assert kret in (0, -13), "kernel returned something neither 6.1 nor later kernels return"


def test_adjust_edges_match_kernel():
    """Every head/meta/tail delta the adjust program can express (meta within 6.1's 32 bytes)."""
    obj = load_object(TPROGS / "adjust.o")
    pk = []
    for dh in (-128, -60, -56, -55, -54, -53, -1, 0, 1, 10, 12, 13, 14, 15, 127):
        for dm in (-33, -32, -31, -28, -4, -3, 0, 4, 40):
            for dt in (-128, -4, -3, -1, 0, 1, 8, 127):
                for n in (17, 60, 1500, 3520):
                    pk.append(bytes([dh & 0xFF, dm & 0xFF, dt & 0xFF]) + bytes(n - 3))
    with KernelObject(obj) as k:
        for pkt in pk:
            kr = k.test_run("xdp_adjust", pkt)
            vr = test_run(obj.programs["xdp_adjust"], pkt)
            assert (vr.retval, vr.data_out) == (kr[0], kr[1]), pkt[:3].hex()
            assert obj.maps["rets"].dump() == k.dump("rets"), pkt[:3].hex()


# ---------------------------------------------------------------------------------- random programs
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


@pytest.mark.parametrize("seed", range(40))
def test_random_programs_match_kernel(seed):
    rnd = random.Random(seed)
    for _ in range(5):
        insns = random_program(rnd)
        obj = load_insns(insns, name="rnd")
        try:
            k = KernelObject(obj)
        except OSError as e:
            pytest.fail(f"kernel rejected a generated program (generator bug): {e}")
        with k:
            for _ in range(3):
                pkt = bytes(rnd.getrandbits(8) for _ in range(rnd.choice([60, 100])))
                kr = k.test_run("rnd", pkt)
                vr = test_run(obj.programs["rnd"], pkt)
                assert vr.fault == ""
                assert (vr.retval, vr.data_out.hex()) == (kr[0], kr[1].hex()), obj.programs["rnd"].disasm()


def test_gotol_and_ja():
    insns = (asm.mov64(0, 1) + asm.ldx(4, 2, 1, 0) + asm.jmp("jeq", 2, 1, imm=0) + asm.gotol(1) + asm.mov64(0, 7)
             + asm.ja(0) + asm.exit_())
    obj = load_insns(insns, name="g")
    with KernelObject(obj) as k:
        assert k.test_run("g", bytes(20))[0] == test_run(obj.programs["g"], bytes(20)).retval == 1
