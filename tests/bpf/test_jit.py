"""The JIT (xdplab.bpf.jit) against the interpreter: the same run, bit for bit.

Each program runs twice, in two copies of its object: interpreted and translated.  Return
value, output bytes, instructions and helper calls counted, the fault message, the whole
run environment and every byte of VM state (maps, stack, trace ring, registers) must be
equal.  (The interpreter itself is held to the kernel by test_kernel_oracle.py, which also
runs the translated programs against the kernel.)
"""

import os
import random

import numpy as np
import pytest
from conftest import LAB, PROGS, TEST, TPROGS, sample_packets
from randprog import random_program

import asm
import test_vm
from xdplab.bpf import create_env, load_insns, load_object, test_run
from xdplab.bpf.jit import jit_source
from xdplab.bpf.state import CTL_JIT_CALLS, CTL_PKT_RD, MAP_ID, PR_JIT
from xdplab.xdp_abi import ENV_ERR, ENV_ERR_PC, ENV_INSNS, ENV_RI_MAP_ID


def twins(make):
    """(interpreted, translated) copies of the same object."""
    a, b = make(), make()
    for p in b.programs.values():
        p.jit()
    return a, b


def same_state(a, b):
    sa, sb = a.state, b.state
    assert np.array_equal(sa.umem, sb.umem), "VM memory (maps, stack, trace ring) differs"
    assert np.array_equal(sa.ctl[:CTL_JIT_CALLS], sb.ctl[:CTL_JIT_CALLS]), "registers / counters differ"
    assert np.array_equal(sa.elems, sb.elems) and np.array_equal(sa.buckets, sb.buckets), "hash maps differ"
    keep = [c for c in range(sa.maps.shape[1]) if c != MAP_ID]          # ids are global, one per map loaded
    assert np.array_equal(sa.maps[:, keep], sb.maps[:, keep])
    assert np.array_equal(sa.progs[:, :PR_JIT], sb.progs[:, :PR_JIT])


def same_run(pa, pb, pkt, **kw):
    env = kw.pop("env", None)
    ra = test_run(pa, pkt, env=None if env is None else env.copy(), **kw)
    rb = test_run(pb, pkt, env=None if env is None else env.copy(), **kw)
    assert (ra.retval, ra.data_out, ra.insns, ra.helper_calls, ra.fault) == \
        (rb.retval, rb.data_out, rb.insns, rb.helper_calls, rb.fault), f"{pkt[:40].hex()}"
    ea, eb = ra.env.copy(), rb.env.copy()
    if ea[ENV_RI_MAP_ID] != eb[ENV_RI_MAP_ID]:         # each copy's own map: ids are global
        assert pa.object.state.maps[:, MAP_ID].tolist().index(ea[ENV_RI_MAP_ID]) == \
            pb.object.state.maps[:, MAP_ID].tolist().index(eb[ENV_RI_MAP_ID])
        ea[ENV_RI_MAP_ID] = eb[ENV_RI_MAP_ID]
    assert np.array_equal(ea, eb) and np.array_equal(ra.xdp, rb.xdp)
    # what the run read and wrote of the packet, for the board's DMA model: the same lines
    ca, cb = pa.object.state.ctl, pb.object.state.ctl
    assert np.array_equal(ca[CTL_PKT_RD:], cb[CTL_PKT_RD:]), f"packet lines differ: {pkt[:40].hex()}"
    return ra


def _setup(obj):
    if "tx_port" in obj.maps:
        obj.maps["tx_port"].update(0, 1)
    return obj


@pytest.mark.parametrize("fname, prog", LAB + TEST)
def test_programs_match_interpreter(fname, prog):
    path = (PROGS if (PROGS / fname).exists() else TPROGS) / fname
    a, b = twins(lambda: _setup(load_object(path)))
    packets = sample_packets(seed=7)
    if a.programs[prog].frags:
        packets += [bytes(range(256)) * 20, b"\x01" * 3521, bytes(9000) + b"\xff" * 4]
    if fname == "hashmaps.o":
        rnd = random.Random(5)
        packets = [bytes([rnd.randrange(8), rnd.randrange(40), rnd.randrange(3), 0, 0, rnd.randrange(8),
                          rnd.randrange(256), rnd.randrange(256)]) + bytes(8) for _ in range(300)]
    for cpu in (0, 1):
        for pkt in packets:
            same_run(a.programs[prog], b.programs[prog], pkt, cpu=cpu, now_ns=12345)
    same_state(a, b)
    assert a.trace_pipe() == b.trace_pipe()


def test_lab_programs_are_translated():
    for fname, prog in LAB:
        p = load_object(PROGS / fname).programs[prog]
        assert p.jit() and p.jited and p.jit_error == "", fname


def test_tail_calls_and_bpf_to_bpf_calls_are_translated():
    """Every program of tailcall.o (bpf_tail_call through a PROG_ARRAY) and globals.o (bpf-to-bpf
    calls) is translated, and runs as the interpreter runs it: each slot, empty slots, the
    counts, the state."""
    obj = load_object(TPROGS / "globals.o")
    for p in obj.programs.values():
        assert p.jit() and p.jited and p.jit_error == "", p.name
    assert "call.push" in _source(obj.programs["xdp_globals"])        # the frame push, in the IR
    a, b = twins(lambda: load_object(TPROGS / "globals.o"))
    for k in range(6):
        for name in ("xdp_globals", "xdp_second"):
            same_run(a.programs[name], b.programs[name], bytes([k]) * (20 + k))
    same_state(a, b)
    assert a.trace_pipe() == b.trace_pipe()
    a, b = twins(lambda: load_object(TPROGS / "tailcall.o"))
    assert all(p.jited for p in b.programs.values())
    for o in (a, b):
        o.maps["jmp"].update(1, o.programs["xdp_drop_it"])
        o.maps["jmp"].update(2, o.programs["xdp_tx_it"])
    for k in range(8):
        r = same_run(a.programs["xdp_entry"], b.programs["xdp_entry"], bytes([k]) + bytes(20))
        assert r.retval == {1: 1, 2: 3}.get(k & 7, 2), k
    same_state(a, b)


def test_tail_call_into_an_untranslated_program_hands_over_to_the_interpreter():
    """A translated program that tail-calls an interpreted one: the interpreter goes on with the
    same run (counts, tail-call count and the packet lines carried over)."""
    a, b = twins(lambda: load_object(TPROGS / "tailcall.o"))
    b.programs["xdp_tx_it"].interpret()
    assert b.programs["xdp_entry"].jited and not b.programs["xdp_tx_it"].jited
    for o in (a, b):
        o.maps["jmp"].update(2, o.programs["xdp_tx_it"])
        o.maps["jmp"].update(3, o.programs["xdp_entry"])       # a chain: entry -> entry -> ...
    for k in (2, 3, 0):
        for budget in (0, 3, 5, 9, 40):
            same_run(a.programs["xdp_entry"], b.programs["xdp_entry"], bytes([k, 0]) + bytes(20), budget=budget)
    same_state(a, b)


def test_tail_call_limit_and_call_depth_match_the_interpreter():
    """33 tail calls at most (then -ENOENT and the program goes on), and the budget running out
    inside a chain of tail calls or inside a called function: the interpreter's counts and fault."""
    a, b = twins(lambda: load_object(TPROGS / "tailcall.o"))
    for o in (a, b):
        o.maps["jmp"].update(3, o.programs["xdp_entry"])        # slot 3 calls itself: 33 times, then PASS
    r = same_run(a.programs["xdp_entry"], b.programs["xdp_entry"], bytes([3]) + bytes(20))
    assert r.retval == 2 and r.helper_calls == 34
    for budget in range(1, 40, 3):
        same_run(a.programs["xdp_entry"], b.programs["xdp_entry"], bytes([3]) + bytes(20), budget=budget)
    same_state(a, b)
    a, b = twins(lambda: load_object(TPROGS / "globals.o"))
    full = test_run(load_object(TPROGS / "globals.o").programs["xdp_globals"], bytes(30)).insns
    for budget in range(1, full + 2):
        same_run(a.programs["xdp_globals"], b.programs["xdp_globals"], bytes(30), budget=budget)
    same_state(a, b)


@pytest.mark.parametrize("case", range(len(test_vm.FAULT_CASES)))
def test_faults_match_interpreter(case):
    insns, text = test_vm.FAULT_CASES[case]
    a, b = twins(lambda: load_insns(insns, verify=False))
    assert b.programs["prog"].jited
    r = same_run(a.programs["prog"], b.programs["prog"], bytes(60))
    assert text in r.fault


def test_budget_hands_over_to_the_interpreter_at_the_exact_instruction():
    """Every budget from 1 to past the run's length: the fault (or not), its pc and the
    count are the interpreter's, wherever in a block the budget runs out."""
    a, b = twins(lambda: load_object(TPROGS / "loop_csum.o"))
    pa, pb = a.programs["xdp_loop_csum"], b.programs["xdp_loop_csum"]
    pkt = bytes(range(200))
    full = test_run(pa, pkt).insns
    assert full > 100
    for budget in list(range(1, 80)) + [full - 1, full, full + 1]:
        ra = same_run(pa, pb, pkt, budget=budget)
        if budget < full:
            assert ra.env[ENV_ERR] != 0 and ra.env[ENV_INSNS] == budget, budget
        else:
            assert ra.env[ENV_ERR] == 0 and ra.insns == full
    # an endless loop: the budget stops both at the same place
    a, b = twins(lambda: load_insns(asm.mov64(0, 0) + asm.alu("add", 0, imm=1) + asm.ja(-2), verify=False))
    r = same_run(a.programs["prog"], b.programs["prog"], bytes(20), env=None, budget=1001)
    assert r.env[ENV_INSNS] == 1001 and r.env[ENV_ERR_PC] in (1, 2)


def _source(prog):
    st = prog.state
    return jit_source(st.code, int(st.progs[prog.index, 0]), int(st.progs[prog.index, 1]))


def test_loop_free_program_hands_over_at_its_start_for_any_budget():
    """A program with no backward jump (xdp2) is translated without a dispatch loop and without
    a budget check per block: with less budget than its length, the interpreter runs it from
    the start.  Every budget still gives the interpreter's fault, pc and count."""
    a, b = twins(lambda: load_object(PROGS / "xdp2.o"))
    pa, pb = a.programs["xdp_prog1"], b.programs["xdp_prog1"]
    assert pb.jited
    assert ".short:" not in _source(pb) and "short:" in _source(pb)       # one budget check, at the start
    assert ".short:" in _source(load_object(TPROGS / "loop_csum.o").programs["xdp_loop_csum"])
    pkt = bytes.fromhex("aabbccddeeff112233445566" "0800" "450000280000000040110000" "0a0000010a000002") + bytes(26)
    full = same_run(pa, pb, pkt).insns
    assert full > 20
    for budget in range(1, full + 2):
        ra = same_run(pa, pb, pkt, budget=budget)
        if budget < full:
            assert ra.env[ENV_ERR] != 0 and ra.env[ENV_INSNS] == budget, budget
        else:
            assert ra.env[ENV_ERR] == 0 and ra.insns == full and ra.retval == 3
        same_state(a, b)


@pytest.mark.parametrize("seed", range(6))
def test_random_programs_match_interpreter(seed):
    rnd = random.Random(1000 + seed)
    for _ in range(2):
        insns = random_program(rnd)
        a, b = twins(lambda: load_insns(insns, name="rnd"))
        assert b.programs["rnd"].jited
        for _ in range(4):
            pkt = bytes(rnd.getrandbits(8) for _ in range(rnd.choice([60, 100, 30])))
            same_run(a.programs["rnd"], b.programs["rnd"], pkt)
        same_state(a, b)


def test_checker_rejects_a_difference():
    """same_run is not blind: a translated program whose code was changed is caught."""
    a, b = twins(lambda: load_insns(asm.mov64(0, 2) + asm.exit_()))
    c = load_insns(asm.mov64(0, 3) + asm.exit_())
    c.programs["prog"].jit()
    with pytest.raises(AssertionError):
        same_run(a.programs["prog"], c.programs["prog"], bytes(20))
    same_run(a.programs["prog"], b.programs["prog"], bytes(20))


def test_env_default_budget():
    a, b = twins(lambda: load_insns(asm.mov64(0, 0) + asm.alu("add", 0, imm=1) + asm.ja(-2), verify=False))
    r = same_run(a.programs["prog"], b.programs["prog"], bytes(20), env=create_env())
    assert r.env[ENV_INSNS] == 1_000_000 and "1000000 instructions" in r.fault


def test_non_contiguous_rows_are_interpreted():
    """Translated code takes each xdp_buff / env row by address: a batch whose rows are not
    C-order runs in the interpreter, with the same results."""
    from xdplab.bpf import bpf_prog_run_xdp_batch
    from xdplab.bpf.core import create_test_xdp
    o = load_object(PROGS / "ssh_mirror.o")
    p = o.programs["ssh_mirror"]
    assert p.jit()
    pkt = sample_packets(seed=3)[0]
    mem, xdp = create_test_xdp(pkt)
    wide = np.zeros((2, 2 * xdp.shape[0]), np.int64)
    wide[:, ::2] = xdp                                   # rows of every other element
    envs = np.stack([create_env(), create_env()])
    rets = np.zeros(2, np.int64)
    bpf_prog_run_xdp_batch(o.vm_state, p.index, mem, wide[:, ::2], envs, rets)
    want = test_run(p, pkt)
    assert rets[0] == want.retval and envs[0, ENV_INSNS] == want.insns
    p.interpret()
    assert not p.jited and p.jit() and p.jited          # back and forth, no recompiling


def test_board_attach_follows_its_jit_argument():
    from xdplab.board import Board
    p = load_object(PROGS / "xdp_drop.o").programs["xdp_drop"]
    assert p.jit()
    b = Board()
    b.attach(p, jit=False)                     # interpreted, though the program was translated before
    assert not b.bpf_jited and not p.jited
    b.attach(p, jit=True)
    assert b.bpf_jited and p.jited
    b.attach(p)                                # XDPLAB_BPF_JIT unset: as the program is
    assert b.bpf_jited == (os.environ.get("XDPLAB_BPF_JIT", "") != "0")


def test_board_budget_hand_over_matches_the_interpreter():
    """On the board the translated program is called from the driver's path (not the VM's loop):
    a run the budget stops hands over to the interpreter there too, once, at the same place."""
    from xdplab import XdplabError
    from xdplab.board import Board
    out = []
    for jit in (True, False):
        o = load_insns(asm.mov64(0, 0) + asm.alu("add", 0, imm=1) + asm.ja(-2), verify=False)
        b = Board()
        b.attach(o.programs["prog"], jit=jit)
        assert b.bpf_jited == jit
        with pytest.raises(XdplabError, match="faulted on 5 packet") as e:
            b.run(5, rate=100_000)
        out.append((str(e.value), b.verdicts(), b.ethtool()))
    assert out[0] == out[1]
    assert out[0][1]["XDP_ABORTED"] == 5


def test_repeated_test_runs_match_interpreter():
    """bpf_test_run_xdp calls a translated program straight from its repeat loop: repeats
    accumulate on the same buffer (adjust.o moves data every run), the instructions add up, and a
    budget that ends inside a block hands each run to the interpreter, as with one run."""
    a, b = twins(lambda: load_object(TPROGS / "adjust.o"))
    for k in range(4):
        pkt = bytes([(256 - 4 * k) & 0xFF, 0, 0xFF, 0]) + bytes(60)
        r = same_run(a.programs["xdp_adjust"], b.programs["xdp_adjust"], pkt, repeat=5)
        assert r.insns > 0
    same_state(a, b)
    a, b = twins(lambda: load_object(TPROGS / "loop_csum.o"))
    pa, pb = a.programs["xdp_loop_csum"], b.programs["xdp_loop_csum"]
    full = test_run(load_object(TPROGS / "loop_csum.o").programs["xdp_loop_csum"], bytes(range(100))).insns
    for budget in (full - 1, full, 7):
        same_run(pa, pb, bytes(range(100)), budget=budget, repeat=3)
    same_state(a, b)


def _held_translation(monkeypatch):
    """Make every translation wait for the returned event (at most a minute), as a big program's
    would: what runs before the event is set runs without it."""
    import threading

    import xdplab.bpf.jit as J
    gate = threading.Event()
    real = J._compile

    def slow(*a, **k):
        gate.wait(60)
        return real(*a, **k)
    monkeypatch.setattr(J, "_compile", slow)
    return gate


def _board_run(b):
    b.run(300, rate=100_000)
    counters = {k: v.tolist() if hasattr(v, "tolist") else v for k, v in b.counters().items()}
    return b.verdicts(), b.ethtool(), counters, b.clock_fx(0), b.clock_fx(1)


def test_attach_runs_at_once_in_the_interpreter_and_switches_to_the_translation(monkeypatch):
    """Board.attach(prog) without jit=: the first packets run in the interpreter while the program
    is translated (the translation is held here until they ran); the runs switch to it when it is
    ready, and every count, verdict and simulated clock is what a board that only interprets
    gets (the cost model charges the instructions the run executed, whoever ran them)."""
    from xdplab.board import Board
    monkeypatch.delenv("XDPLAB_BPF_JIT", raising=False)
    gate = _held_translation(monkeypatch)
    out = []
    for mode in ("interpreted", "background"):
        p = load_object(PROGS / "xdp2.o").programs["xdp_prog1"]
        b = Board(seed=3)
        if mode == "interpreted":
            b.attach(p, jit=False)
        else:
            b.attach(p)                              # returns before its translation is ready
            assert not p.jited and not b.bpf_jited
        first = _board_run(b)
        assert not b.bpf_jited
        gate.set()
        if mode == "background":
            assert p.jit_wait(60) and b.bpf_jited
        out.append((first, _board_run(b)))
        gate.clear()
    assert out[0] == out[1]


def test_interpret_wins_over_a_translation_under_way(monkeypatch):
    """prog.interpret() while its background translation runs: the translation finishes but the
    program stays interpreted; jit() then switches at once (the translation is cached)."""
    monkeypatch.delenv("XDPLAB_BPF_JIT", raising=False)
    gate = _held_translation(monkeypatch)
    p = load_object(PROGS / "ssh_mirror.o").programs["ssh_mirror"]
    assert p.jit(wait=False) and not p.jited
    p.interpret()
    gate.set()
    assert p.jit_wait(60) is False and not p.jited
    assert p.jit() and p.jited


def test_jit_true_waits_for_the_translation(monkeypatch):
    """attach(prog, jit=True) (the user asks for the translation): attached translated."""
    import threading

    from xdplab.board import Board
    gate = _held_translation(monkeypatch)
    threading.Timer(0.5, gate.set).start()
    p = load_object(PROGS / "xdp_drop.o").programs["xdp_drop"]
    b = Board()
    b.attach(p, jit=True)
    assert p.jited and b.bpf_jited


def test_pipeline_levels_by_program_size():
    """O2 up to 1500 instructions; lighter passes with O2's code generator up to 3000 (runs ~5x
    faster than the fast code generator's code, translates ~2x faster than O2: bench_jit_level.py);
    the fast code generator past that."""
    import xdplab.bpf.jit as J
    assert [J.opt_level(n) for n in (100, 1500, 1501, 3000, 3001, 6000)] == [2, 2, 1, 1, 0, 0]


@pytest.mark.parametrize("level", [1, 0])
def test_lighter_pipelines_match_interpreter(monkeypatch, level):
    """The level-1 and level-0 translations (forced on xdp2.o) run bit for bit as the interpreter."""
    import xdplab.bpf.jit as J
    monkeypatch.setattr(J, "opt_level", lambda n: level)
    fname, prog = "xdp2.o", "xdp_prog1"
    a, b = twins(lambda: _setup(load_object(PROGS / fname)))
    assert b.programs[prog].jited
    for pkt in sample_packets(seed=11):
        same_run(a.programs[prog], b.programs[prog], pkt, cpu=0, now_ns=12345)
    same_state(a, b)


# maps of the bpf_redirect_map test: DEVMAP, CPUMAP, XSKMAP (translated without a call) and
# DEVMAP_HASH (the helper call)
_RM_MAPS = [dict(type=14, key_size=4, value_size=4, max_entries=4), dict(type=16, key_size=4, value_size=4, max_entries=2),
            dict(type=17, key_size=4, value_size=4, max_entries=4), dict(type=25, key_size=4, value_size=4, max_entries=4)]


def _redirect_map_prog(mi):
    """bpf_redirect_map(map mi, key = pkt[0] | pkt[2] << 32, flags = pkt[1]): the key's upper
    half is not the key's, every flag value and every index, in range or not, filled or not."""
    return (asm.ldx(4, 2, 1, 0) + asm.ldx(4, 3, 1, 4) + asm.alu("mov", 4, 2) + asm.alu("add", 4, imm=3)
            + asm.jmp("jgt", 4, 11, src=3)
            + asm.ldx(1, 6, 2, 0) + asm.ldx(1, 7, 2, 1) + asm.ldx(1, 8, 2, 2) + asm.alu("lsh", 8, imm=32)
            + asm.alu("mov", 2, 6) + asm.alu("or", 2, 8) + asm.ld_map(1, mi) + asm.alu("mov", 3, 7)
            + asm.call(51) + asm.exit_() + asm.mov64(0, 2) + asm.exit_())


def _count_native_helpers(prog):
    """Hook the translated program's helper slow path (ctl[CTL_JIT_CALLS]): a Counter of the
    helper ids it is called with, and the hook (keep it alive while the program runs)."""
    import collections
    import ctypes
    st = prog.object.state
    fnty = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, *([ctypes.c_int64] * 5))
    real = fnty(int(st.ctl[CTL_JIT_CALLS]))
    seen = collections.Counter()

    def hook(bs, fid, pc, a, b, c):
        seen[fid] += 1
        return real(bs, fid, pc, a, b, c)
    h = fnty(hook)
    st.ctl[CTL_JIT_CALLS] = ctypes.cast(h, ctypes.c_void_p).value
    return seen, h


@pytest.mark.parametrize("mi", range(len(_RM_MAPS)))
def test_redirect_map_translated_without_a_call_matches_interpreter(mi):
    """bpf_redirect_map on a DEVMAP, CPUMAP or XSKMAP with flags 0-3 runs inline in the translated
    code (no helper call: the speed of xdplab bench redirect-cpu); its result, redirect info, helper
    scratch and maps are the interpreter's, bit for bit, for keys in and out of range (and with
    upper bits set), filled and empty slots, and every flag value (BPF_F_BROADCAST and unknown
    flags take the helper call).  DEVMAP_HASH always takes the call."""
    def make():
        o = load_insns(_redirect_map_prog(mi), maps=_RM_MAPS)
        o.maps["map0"].update(1, 2)
        o.maps["map0"].update(3, 1)
        o.maps["map1"].update(1, 64)
        o.maps["map2"].update(2, 11)
        o.maps["map3"].update(3, 2)
        return o
    a, b = twins(make)
    pa, pb = a.programs["prog"], b.programs["prog"]
    assert pb.jited
    seen, _hook = _count_native_helpers(pb)
    inline_runs = 0
    for key in (0, 1, 2, 3, 4, 5, 255):
        for flags in (0, 1, 2, 3, 4, 8, 9, 0x10, 0x18, 0x20, 0x83):
            for hi in (0, 1, 0x80):
                r = same_run(pa, pb, bytes([key, flags, hi]) + bytes(57), cpu=key & 1)
                assert r.helper_calls == 1
                inline_runs += (flags & ~3) == 0
    same_state(a, b)
    # the run took the call only where the inline path does not apply
    assert seen[51] == (7 * 11 * 3 if mi == 3 else 7 * 11 * 3 - inline_runs), dict(seen)
