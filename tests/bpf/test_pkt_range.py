"""The JIT's packet proofs (xdplab.bpf._pkt_range): which accesses are proven in bounds, and
that a proof never lets a translated run do what the interpreter's run-time check refuses.

The unit cases pin the verifier rules one by one (each with the case it must not prove); the
random programs walk packet pointers, compare them with data_end every way, call helpers that
move the packet, spill pointers and loop, on packets of every short length, and hold the
translated run to the interpreter's bit for bit (test_jit.same_run); the last test shows that
check catches a proof that claims a byte too many.
"""

import random

import pytest
from conftest import PROGS, TPROGS
from test_jit import same_run, same_state, twins

import asm
from xdplab.bpf import _pkt_range, load_insns, load_object
from xdplab.bpf._pkt_range import proven_pkt_accesses
from xdplab.bpf.insn import pack
from xdplab.bpf.jit import _blocks, jit_source
from xdplab.bpf.state import PR_LEN, PR_START

CTX_DATA = asm.ldx(4, 2, 1, 0)          # r2 = ctx->data
CTX_END = asm.ldx(4, 3, 1, 4)           # r3 = ctx->data_end


def proven(prog):
    """{insn index: (exact, base reg, offset)} of a loaded program's proven accesses."""
    st = prog.state
    s, n = int(st.progs[prog.index, PR_START]), int(st.progs[prog.index, PR_LEN])
    return {pc - s: tuple(a) for pc, a in proven_pkt_accesses(st.code, _blocks(st.code, s, n)).items()}


def proven_insns(insns):
    return proven(load_insns(insns, verify=False).programs["prog"])


def checked(n, op="jgt", swap=False, wide=True, skip=1):
    """r4 = data + n; compare with data_end so that the next ``skip`` insns run only in range
    (op/swap pick the compare; the caller says which ones prove)."""
    p = CTX_DATA + CTX_END + asm.alu("mov", 4, 2) + asm.alu("add", 4, imm=n)
    return p + (asm.jmp(op, 3, skip, src=4, wide=wide) if swap else asm.jmp(op, 4, skip, src=3, wide=wide))


RET = asm.mov64(0, 2) + asm.exit_()


def test_a_check_proves_the_bytes_before_it_and_not_one_more():
    p = proven_insns(checked(14, skip=3) + asm.ldx(1, 5, 2, 13) + asm.ldx(1, 5, 2, 14) + asm.ldx(2, 5, 2, 13) + RET)
    assert p == {5: (True, 2, 13)}
    # through the checked pointer itself, and before it
    p = proven_insns(checked(14, skip=2) + asm.ldx(2, 5, 4, -2) + asm.ldx(1, 5, 4, 0) + RET)
    assert p == {5: (True, 4, 12)}


@pytest.mark.parametrize("op, swap, where, extra", [
    ("jgt", False, "fall", 0), ("jge", False, "fall", 1), ("jlt", False, "taken", 1), ("jle", False, "taken", 0),
    ("jgt", True, "taken", 1), ("jge", True, "taken", 0), ("jlt", True, "fall", 0), ("jle", True, "fall", 1)])
def test_every_unsigned_compare_proves_on_its_own_branch(op, swap, where, extra):
    """if (data + 10 OP data_end) / (data_end OP data + 10): the branch where it is in range
    proves 10 bytes (11 where the compare is strict)."""
    body = asm.ldx(1, 5, 2, 9) + asm.ldx(1, 5, 2, 10)
    prog = checked(10, op, swap, skip=3) + body + asm.ja(len(body)) + body + RET
    p = proven_insns(prog)
    first, second = 5, 8                  # the fall-through copy, the taken copy
    at = first if where == "fall" else second
    assert p == ({at: (True, 2, 9), at + 1: (True, 2, 10)} if extra else {at: (True, 2, 9)})


@pytest.mark.parametrize("op, wide", [("jsgt", True), ("jgt", False), ("jne", True), ("jeq", True)])
def test_compares_that_prove_nothing(op, wide):
    """Signed, 32-bit and (in)equality compares of packet pointers prove no range."""
    assert proven_insns(checked(14, op, wide=wide) + asm.ldx(1, 5, 2, 0) + RET) == {}


def test_a_helper_that_moves_the_packet_forgets_its_pointers():
    def prog(helper):
        p = checked(14, skip=len(asm.call(1)) + 5) + asm.alu("mov", 6, 2) + asm.alu("mov", 7, 1)
        p += asm.call(helper) + asm.ldx(1, 5, 6, 0)                          # through a saved pointer
        p += asm.ldx(4, 2, 7, 0) + asm.ldx(1, 5, 2, 0)                      # a new data, unchecked
        return p + RET
    # bpf_get_prandom_u32 moves nothing: the saved pointer and a new data keep the range
    assert proven_insns(prog(7)) == {8: (True, 6, 0), 10: (True, 2, 0)}
    for h in (44, 54, 65):                                                 # adjust_head/_meta/_tail
        assert proven_insns(prog(h)) == {}, h


def test_paths_meet_on_the_smaller_range_and_spills_forget():
    p = CTX_DATA + CTX_END + asm.alu("mov", 4, 2) + asm.alu("add", 4, imm=20)
    p += asm.jmp("jgt", 4, 2, src=3)                                              # 4: 20 bytes, or
    p += asm.ldx(1, 5, 2, 19) + asm.ja(3)                                         # 5, 6
    p += asm.alu("mov", 4, 2) + asm.alu("add", 4, imm=8) + asm.jmp("jgt", 4, 5, src=3)   # 7-9: 8 bytes
    p += asm.ldx(1, 5, 2, 7) + asm.ldx(1, 5, 2, 8)                                # 10, 11: met, 8 bytes
    p += asm.stx(8, 10, 2, -8) + asm.ldx(8, 6, 10, -8) + asm.ldx(1, 5, 6, 0)      # 12-14: spilled, reloaded
    p += RET
    assert proven_insns(p) == {5: (True, 2, 19), 10: (True, 2, 7)}


def test_a_pointer_walked_in_a_loop():
    """loop_csum: each u16 read behind a pointer the loop compares with data_end is proven
    (a variable offset: through its register); a loop without the compare proves nothing, and
    the analysis still ends."""
    assert proven(load_object(TPROGS / "loop_csum.o").programs["xdp_loop_csum"]) == {8: (False, 1, -2)}
    walk = CTX_DATA + CTX_END + asm.alu("add", 2, imm=15) + asm.jmp("jgt", 2, 3, src=3)
    walk += asm.ldx(1, 5, 2, -1) + asm.alu("add", 2, imm=1) + asm.ja(-4)     # checks each lap: proven
    assert proven_insns(walk + RET) == {4: (False, 2, -1)}
    nocheck = CTX_DATA + CTX_END + asm.alu("mov", 4, 2) + asm.alu("add", 4, imm=60) + asm.jmp("jgt", 4, 4, src=3)
    nocheck += asm.ldx(1, 5, 2, 0) + asm.alu("add", 2, imm=1) + asm.jmp("jne", 5, -3, imm=0) + asm.ja(0)
    assert proven_insns(nocheck + RET) == {}               # in range on the first lap only


def test_lab_programs():
    ssh = proven(load_object(PROGS / "ssh_mirror.o").programs["ssh_mirror"])
    assert len(ssh) == 34 and all(exact and reg == 1 for exact, reg, _ in ssh.values())
    assert len(proven(load_object(PROGS / "xdp2.o").programs["xdp_prog1"])) == 15   # MAC swap after lookup
    assert proven(load_object(TPROGS / "bad_oob.o", verify=False).programs["xdp_bad"]) == {}       # its check is missing


# ---- random programs: a proof must never let the JIT do what the interpreter refuses ------------

_PTRS = [2, 4, 5, 7, 8, 9]


def random_pkt_program(rnd, n_ops=24):
    """r6 = ctx, r3 = data_end, the pointers in _PTRS start at data; then random pointer moves,
    compares with data_end (every op, either order, 64- and 32-bit), accesses of every size
    around the pointers, helper calls (some move the packet), spills and small loops."""
    p = asm.alu("mov", 6, 1) + CTX_END
    for r in _PTRS:
        p += asm.ldx(4, r, 6, 0)

    def op():
        k = rnd.random()
        a, b = rnd.choice(_PTRS), rnd.choice(_PTRS)
        if k < 0.2:
            return asm.alu("add", a, imm=rnd.choice([-8, -2, 1, 2, 4, 6, 8, 13, 14, 20, 34])) if rnd.random() < 0.85 \
                else asm.alu("mov", a, b)
        if k < 0.55:
            size = rnd.choice([1, 2, 4, 8])
            off = rnd.randrange(-6, 24)
            if rnd.random() < 0.6:
                return asm.ldx(size, 0, a, off, sx=size < 8 and rnd.random() < 0.3)
            return asm.stx(size, a, 0, off) if rnd.random() < 0.5 else asm.st(size, a, off, rnd.getrandbits(16))
        if k < 0.6:
            return asm.ldx(4, 3, 6, 4) if rnd.random() < 0.5 else asm.ldx(4, a, 6, rnd.choice([0, 0, 8]))
        if k < 0.65:
            return asm.stx(8, 10, a, -8) + asm.ldx(8, b, 10, -8)
        if k < 0.7:
            h = rnd.choice([7, 7, 44, 65, 54])
            return asm.alu("mov", 1, 6) + asm.mov64(2, rnd.choice([-4, 0, 4])) + asm.call(h) + asm.ldx(4, 3, 6, 4)
        if k < 0.74:
            return asm.alu(rnd.choice(["and", "or", "xor"]), a, imm=rnd.getrandbits(4))
        return []

    def access(base, lo, hi):
        size = rnd.choice([1, 2, 4, 8])
        off = rnd.randrange(lo, hi)
        if rnd.random() < 0.6:
            return asm.ldx(size, 0, base, off, sx=size < 8 and rnd.random() < 0.3)
        return asm.stx(size, base, 0, off) if rnd.random() < 0.5 else asm.st(size, base, off, rnd.getrandbits(16))

    for _ in range(n_ops):
        if rnd.random() < 0.35:                             # a = base + n compared, guarding some ops
            base = rnd.choice(_PTRS)
            a = rnd.choice([r for r in _PTRS if r != base])
            n = rnd.randrange(1, 60)
            p += asm.alu("mov", a, base) + asm.alu("add", a, imm=n)
            body = []
            for _ in range(rnd.randrange(1, 4)):
                body += access(base, -2, n + 2) if rnd.random() < 0.6 else op()
            jop = rnd.choice(["jgt", "jge", "jlt", "jle", "jgt", "jge", "jsgt", "jeq"])
            wide = rnd.random() < 0.9
            p += asm.jmp(jop, 3, len(body), src=a, wide=wide) if rnd.random() < 0.3 else \
                asm.jmp(jop, a, len(body), src=3, wide=wide)
            p += body
        elif rnd.random() < 0.05:                           # a walk to data_end
            a = rnd.choice(_PTRS)
            step = rnd.choice([1, 2, 4])
            p += asm.jmp("jgt", a, 3, src=3) + asm.ldx(step, 0, a, -step) + asm.alu("add", a, imm=step) + asm.ja(-4)
        else:
            p += op()
    return p + asm.mov64(0, 2) + asm.exit_()


def _fuzz(seeds, lengths=(14, 15, 16, 17, 20, 21, 33, 34, 35, 40, 60, 61, 90, 140)):
    for seed in seeds:
        rnd = random.Random(seed)
        insns = random_pkt_program(rnd)
        a, b = twins(lambda: load_insns(insns, name="pkt", verify=False))
        assert b.programs["pkt"].jited
        for n in lengths:
            same_run(a.programs["pkt"], b.programs["pkt"], bytes(rnd.getrandbits(8) for _ in range(n)), budget=20000)
        same_state(a, b)


# 8 programs: each compiles in ~12 s on a cold cache (twice in CI: with NUMBA_BOUNDSCHECK too)
@pytest.mark.parametrize("chunk", range(2))
def test_random_pointer_programs_match_interpreter(chunk):
    _fuzz(range(7000 + 4 * chunk, 7004 + 4 * chunk))


def test_random_programs_prove_accesses():
    """The random programs are not all unprovable: most have proven accesses."""
    n = 0
    for seed in range(7000, 7015):
        n += bool(proven_insns(random_pkt_program(random.Random(seed))))
    assert n >= 7


def test_check_catches_a_proof_one_byte_too_long(monkeypatch):
    """With compares that claim one byte more than they prove, the translated run reads past
    data_end where the interpreter faults, and same_run sees it."""
    monkeypatch.setattr(_pkt_range, "_PTR_VS_END", {k: tuple(None if n is None else n + 1 for n in v)
                                                    for k, v in _pkt_range._PTR_VS_END.items()})
    prog = checked(14, skip=1) + asm.ldx(1, 0, 2, 14) + asm.mov64(0, 2) + asm.exit_()
    assert proven_insns(prog) == {5: (True, 2, 14)}
    a, b = twins(lambda: load_insns(prog, verify=False))
    with pytest.raises(AssertionError):
        same_run(a.programs["prog"], b.programs["prog"], bytes(14))


def test_without_proofs_every_access_keeps_its_check():
    """jit_source(prove=False): the translation benchmarks/bench_vm.py compares against."""
    p = load_object(PROGS / "ssh_mirror.o").programs["ssh_mirror"]
    st = p.state
    s, n = int(st.progs[p.index, PR_START]), int(st.progs[p.index, PR_LEN])
    body = jit_source(st.code, s, n)
    assert _named(body, "pkt_rd") + _named(body, "pkt_wr") == 34
    # the rest: ctx->data, ctx->data_end (the mac[] bytes on the stack, 2 stores and 2 loads through
    # r10, are checked at translation: r10 is fixed in a program without bpf-to-bpf calls)
    assert (_named(body, "ld"), _named(body, "st")) == (2, 0)
    body = jit_source(st.code, s, n, prove=False)
    assert _named(body, "pkt_rd") == 0 and _named(body, "pkt_wr") == 0
    assert _named(body, "ld") + _named(body, "st") == 36


def _named(ir_text, prefix):
    """How many values of the translated IR are named ``prefix<pc>`` (the JIT names each access)."""
    import re
    return len(re.findall(rf'%"?{prefix}\d+"? = ', ir_text))


def test_a_bpf_to_bpf_call_forgets_packet_pointers():
    prog = checked(14, skip=3) + asm.alu("mov", 6, 2)              # 0-5: r6 = data, 14 bytes proven
    prog += [pack(0x85, 0, 1, 0, 3)] + asm.ldx(1, 5, 6, 0) + RET   # 6: call pc+3 (insn 10), 7: load
    prog += asm.mov64(0, 1) + asm.exit_()                          # 10, 11: the callee
    assert proven_insns(prog) == {}
    assert proven_insns(checked(14, skip=3) + asm.alu("mov", 6, 2) + asm.ja(0) + asm.ldx(1, 5, 6, 0) + RET) \
        == {7: (True, 6, 0)}
