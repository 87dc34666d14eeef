"""VM semantics that the kernel oracle cannot reach (faults, budget, python mode) and
the verifier-style fault messages."""

import numpy as np
import pytest
from conftest import PROGS, TPROGS, sample_packets

import asm
from xdplab.bpf import format_fault, load_insns, load_object, test_run
from xdplab.xdp_abi import ENV_ERR, ENV_ERR_PC, ENV_INSNS


def run(insns, pkt=bytes(60), **kw):
    # these programs break the verifier's rules on purpose: load them unverified to test the
    # VM's run-time checks, the safety net for what the load-time verifier leaves to run time
    obj = load_insns(insns, verify=False, **kw)
    return obj, test_run(obj.programs["prog"], pkt)


def test_packet_oob_message():
    obj = load_object(TPROGS / "bad_oob.o", verify=False)      # the verifier refuses it (test_verifier.py)
    r = test_run(obj.programs["xdp_bad"], bytes(20))
    assert r.retval == 0 and r.env[ENV_ERR] != 0
    assert "invalid access to packet, off=36 size=2, R1(id=0,off=0,r=20)" in r.fault
    assert "bad_oob.c:18" in r.fault and "fix:" in r.fault and "hint:" in r.fault
    assert test_run(obj.programs["xdp_bad"], bytes(40)).fault == ""


FAULT_CASES = [
    (asm.ldx(8, 0, 10, -520) + asm.exit_(), "invalid read from stack R10 off=-520 size=8"),
    (asm.st(8, 10, 0, 1) + asm.mov64(0, 0) + asm.exit_(), "invalid write to stack R10 off=0 size=8"),
    (asm.ldx(2, 0, 1, 0) + asm.exit_(), "invalid bpf_context access off=0 size=2"),
    (asm.st(4, 1, 0, 1) + asm.mov64(0, 0) + asm.exit_(), "invalid bpf_context access off=0 size=4"),
    (asm.mov64(1, 0) + asm.ldx(4, 0, 1, 0) + asm.exit_(), "R1 invalid mem access 'map_value_or_null'"),
    (asm.mov64(1, 1234) + asm.ldx(4, 0, 1, 0) + asm.exit_(), "R1 invalid mem access 'scalar'"),
    (asm.ja(-1), "did not exit within"),
]


@pytest.mark.parametrize("insns, text", FAULT_CASES)
def test_faults(insns, text):
    _obj, r = run(insns)
    assert text in r.fault
    assert r.retval == 0


def test_map_value_bounds_and_rodata():
    # r1 = map; *(u32*)(r10-4) = 0; r2 = r10-4; call lookup; if r0 == 0 exit; r0 = *(u64*)(r0 + 8)
    prog = (asm.ld_map(1, 0) + asm.st(4, 10, -4, 0) + asm.alu("mov", 2, 10) + asm.alu("add", 2, imm=-4)
            + asm.call(1) + asm.jmp("jeq", 0, 1, imm=0) + asm.ldx(8, 0, 0, 8) + asm.exit_())
    _obj, r = run(prog, maps=[dict(type=2, key_size=4, value_size=12, max_entries=2)])
    assert "invalid access to map value, value_size=12 off=8 size=8" in r.fault
    obj = load_object(PROGS / "redirect_cpu.o")
    # a program writing into .rodata: the VM refuses like the verifier
    ro = load_insns(asm.ld_imm64(1, 0, src=2) + [0] * 0 + asm.st(4, 1, 0, 7) + asm.mov64(0, 2) + asm.exit_(),
                    maps=[dict(type=2, key_size=4, value_size=4, max_entries=1, map_flags=0x80)], verify=False)
    r = test_run(ro.programs["prog"], bytes(20))
    assert "write into map forbidden" in r.fault
    assert obj  # loaded fine


def test_budget_and_call_depth():
    obj = load_insns(asm.ja(-1), verify=False)
    from xdplab.bpf import create_env
    env = create_env(budget=1000)
    r = test_run(obj.programs["prog"], bytes(20), env=env)
    assert r.env[ENV_INSNS] == 1000 and "1000 instructions" in r.fault
    from xdplab.bpf.insn import pack
    rec = [pack(0x85, 0, 1, 0, -1), pack(0x95)]           # calls itself forever
    r = test_run(load_insns(rec, verify=False).programs["prog"], bytes(20))
    assert "call stack is too deep" in r.fault


def test_helper_map_type_checked():
    prog = asm.ld_map(1, 0) + asm.st(4, 10, -4, 0) + asm.alu("mov", 2, 10) + asm.alu("add", 2, imm=-4) \
        + asm.call(1) + asm.mov64(0, 2) + asm.exit_()
    _obj, r = run(prog, maps=[dict(type=16, key_size=4, value_size=4, max_entries=2)])
    assert "cannot pass map_type 16 into func bpf_map_lookup_elem#1" in r.fault


def test_ktime_cpu_prandom_deterministic():
    prog = asm.call(5) + asm.alu("mov", 6, 0) + asm.call(8) + asm.alu("add", 6, 0) + asm.call(7) \
        + asm.alu("add", 0, 6) + asm.exit_()
    obj = load_insns(prog)
    a = test_run(obj.programs["prog"], bytes(20), now_ns=1000, cpu=1, seed=42).retval
    b = test_run(obj.programs["prog"], bytes(20), now_ns=1000, cpu=1, seed=42).retval
    c = test_run(obj.programs["prog"], bytes(20), now_ns=1000, cpu=1, seed=43).retval
    assert a == b != c


def _printk_prog(fmt, a3, a4, a5):
    p = []
    base = -64
    for i, ch in enumerate(fmt):
        p += asm.st(1, 10, base + i, ch)
    p += asm.alu("mov", 1, 10) + asm.alu("add", 1, imm=base) + asm.mov64(2, len(fmt))
    p += asm.ld_imm64(3, a3) + asm.ld_imm64(4, a4) + asm.ld_imm64(5, a5) + asm.call(6) + asm.exit_()
    return load_insns(p)


@pytest.mark.parametrize("fmt, args, want", [
    (b"x=%d u=%u h=%x\0", (-5, 3000000000, 255), "x=-5 u=3000000000 h=ff"),
    (b"[%05d|%-4d|%c]\0", (42, 7, 65), "[00042|7   |A]"),
    (b"%lld %llx %i%%\0", (-1, 1 << 40, 3), "-1 10000000000 3%"),
])
def test_printk_formats(fmt, args, want):
    obj = _printk_prog(fmt, *args)
    r = test_run(obj.programs["prog"], bytes(20), now_ns=12_345_678_901)
    assert r.fault == "" and r.retval == len(want)
    (line,) = obj.trace_pipe()
    assert line.endswith(f"bpf_trace_printk: {want}")
    assert "[000]" in line and "12.345678:" in line
    assert obj.trace_pipe() == []                         # consumed, like trace_pipe


def test_printk_rejects_like_kernel():
    obj = _printk_prog(b"%d %d %d %d\0", 1, 2, 3)          # 4 conversions, 3 args max
    assert test_run(obj.programs["prog"], bytes(20)).retval == (-22) & 0xFFFFFFFF
    obj = _printk_prog(b"%q\0", 1, 2, 3)
    assert test_run(obj.programs["prog"], bytes(20)).retval == (-22) & 0xFFFFFFFF
    obj = _printk_prog(b"no nul", 1, 2, 3)
    assert test_run(obj.programs["prog"], bytes(20)).retval == (-22) & 0xFFFFFFFF
    assert obj.trace_pipe() == []


def test_python_mode_matches_jit():
    for f, name in [(PROGS / "ssh_mirror.o", "ssh_mirror"), (PROGS / "xdp2.o", "xdp_prog1"),
                    (TPROGS / "globals.o", "xdp_globals"), (TPROGS / "adjust.o", "xdp_adjust")]:
        a, b = load_object(f), load_object(f)
        for pkt in sample_packets(seed=9, n_random=8)[:25]:
            ra = test_run(a.programs[name], pkt)
            rb = test_run(b.programs[name], pkt, mode="python")
            assert (ra.retval, ra.data_out, ra.insns, ra.fault) == (rb.retval, rb.data_out, rb.insns, rb.fault)
        assert {n: m.dump() for n, m in a.maps.items()} == {n: m.dump() for n, m in b.maps.items()}


def test_format_fault_empty_without_fault():
    obj = load_object(PROGS / "xdp_pass.o")
    r = test_run(obj.programs["xdp_pass"], bytes(20))
    assert format_fault(obj.programs["xdp_pass"], r.env) == "" and r.env[ENV_ERR_PC] == 0
    assert np.all(r.env[:3] >= 0)


@pytest.mark.parametrize("mode", ["jit", "python"])
def test_board_gives_the_clock_only_to_objects_that_read_it(mode):
    # the board sets env[ENV_NOW_NS] before a run only when the object calls a clock helper
    # (CTL_NEEDS_NOW, set at load); such a program must see the board's time, never a stale 0
    from xdplab import Board
    from xdplab.bpf.state import CTL_NEEDS_NOW
    assert load_insns(asm.mov64(0, 2) + asm.exit_()).state.ctl[CTL_NEEDS_NOW] == 0
    # XDP_DROP if bpf_ktime_get_ns() > 0, else XDP_ABORTED
    obj = load_insns(asm.call(5) + asm.jmp("jgt", 0, 2, imm=0) + asm.mov64(0, 0) + asm.exit_()
                     + asm.mov64(0, 1) + asm.exit_())
    assert obj.state.ctl[CTL_NEEDS_NOW] == 1
    b = Board(obj.programs["prog"], mode=mode)
    r = b.run(packets=200)
    assert r["verdicts"]["XDP_DROP"] == r["rx_packets"] > 0
