"""A JIT for loaded programs: each program translated to one native function.

The kernel runs XDP programs through its JIT (``bpf_int_jit_compile``; arm64 kernels
like the ESPRESSObin's have ``CONFIG_BPF_JIT_ALWAYS_ON``), not the interpreter.  This
is our counterpart.  The interpreter (:mod:`xdplab.bpf.vm`) pays, for every eBPF
instruction, a load of the decoded row, an indirect jump and registers kept in memory:
about 6 host cycles.  Translated, the program is Python source that numba compiles:

* the eleven registers are local variables (LLVM keeps them in host registers);
* each basic block is one ``if blk == PC:`` case, and each hand-off sets ``blk`` to a
  constant.  A program with no backward jump (most XDP programs) is its blocks in pc order,
  with no loop around them, and LLVM threads every hand-off into a direct jump.  A program
  with a loop keeps a dispatch loop: LLVM does not thread through a loop's head, so there a
  hand-off goes through the head's jump table;
* operands, offsets and jump targets are constants in the code, and an access through
  ``r10`` (the frame pointer, fixed in the main frame) has its region check folded away.

The semantics are the interpreter's, on purpose to the letter: each instruction becomes
the same expression as the interpreter's case for it, or a call of the same function
(``_alu64``, ``_alu32``, ``_jmp_taken``, ``_call_helper``, ``_atomic``, ``_resolve``,
``_fault``).  Every region check stays (stack, packet, context, map value), except for a
packet access proven in bounds before the run, as the kernel's verifier proves it
(:mod:`xdplab.bpf._pkt_range`): that one is a plain load or store, as in the kernel's JIT, and
the interpreter's check could not fail there.  Every fault
is the same fault at the same pc with the same details, and ``ENV_INSNS`` /
``ENV_HELPER_CALLS`` come out the same, so the board's cost model charges the same
cycles.  ``tests/bpf/test_jit.py`` holds the two to that, on the lab's programs, on
random packets and on the kernel's own ``BPF_PROG_TEST_RUN`` where it is available.

The instruction budget is checked once per block: a block that needs more instructions
than are left hands the run back to the interpreter (``CTL_RESUME``), which runs it out
one counted instruction at a time, so the budget fault lands on the exact instruction.  A
program with no backward jump runs each block at most once, so it is checked once, at the
start, against the program's length (less budget than that: the interpreter runs it all).

Not translated (the program then runs in the interpreter, as before): bpf-to-bpf calls
and ``bpf_tail_call`` (frames and program switches).  :func:`bpf_prog_jit` says why.

Each translation is a file under numba's cache directory, compiled with
``cfunc(cache=True)``: a program compiles once per machine (about 1-3 s), later
processes load it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import threading

import numba
import numpy as np

from ..xdp_abi import (ENV_ERR, ENV_SIZE, XB_DATA, XB_DATA_END,
                       XB_DATA_META, XB_EGRESS_IFINDEX, XB_INGRESS_IFINDEX, XB_PAGE, XB_RX_QUEUE_INDEX, XB_SIZE,
                       XDP_ABORTED)
from .._bytes import get_le, get_le1, put_le, put_le1
from ..filter import pkt_lines
from . import vm as _vm
from ._jitabi import array_at, call_native
from ._pkt_range import proven_pkt_accesses
from .state import (CTL_JIT_CALLS, CTL_JIT_RUN, CTL_PKT_RD, CTL_PKT_WR, CTL_TOUCH, K_CTX, K_MAPVAL, K_PKT, K_STACK,
                    PR_JIT, PR_LEN, PR_START, PTR_SHIFT)

__all__ = ["bpf_prog_jit", "jit_unsupported", "jit_source", "JitUnsupported", "JIT_SIG"]

FRAME = _vm.FRAME
M32 = 0xFFFFFFFF
M48 = _vm.M48


def _bs_type():
    from .state import create_bpf_state, to_bpf_ref
    return numba.typeof(to_bpf_ref(create_bpf_state(np.zeros((1, 4), np.int64), [0], [1], [0], [])))


_I64 = numba.types.int64
_BS = _bs_type()
JIT_SIG = _I64(_BS, *([_I64] * 5))          # a translated program (xdplab.bpf._jitabi)
_SLOW_SIG = _I64(_BS, *([_I64] * 5))        # a slow path it calls: state and 5 more (see _run_arrays)


class JitUnsupported(Exception):
    """The program uses something the JIT does not translate; it runs in the interpreter."""


# ---- what the translated code calls: the interpreter's own functions, and two slow paths --------


@numba.njit(cache=True, forceinline=True)
def _jit_ctx(xdp, o):
    """A 4-byte load of struct xdp_md field at offset ``o`` (0..20, aligned; checked by the caller)."""
    f = o >> 2
    if f == 0:
        return (np.int64(K_PKT) << PTR_SHIFT) | xdp[XB_DATA]
    if f == 1:
        return (np.int64(K_PKT) << PTR_SHIFT) | xdp[XB_DATA_END]
    if f == 2:
        return (np.int64(K_PKT) << PTR_SHIFT) | xdp[XB_DATA_META]
    if f == 3:
        return xdp[XB_INGRESS_IFINDEX] & M32
    if f == 4:
        return xdp[XB_RX_QUEUE_INDEX] & M32
    return xdp[XB_EGRESS_IFINDEX] & M32


@numba.njit(cache=True)
def _jit_load(bs, mem, xdp, env, addr, sz, info, pc):
    """LDX of ``sz`` bytes at ``addr`` where the inline stack/packet case did not apply: the
    interpreter's generic LDX (context, map values, misaligned stack, every fault).  A fault
    sets env[ENV_ERR] (the caller checks it) and returns 0."""
    kind = addr >> PTR_SHIFT
    o = addr & M48
    if kind == K_CTX:
        if sz != 4 or o > 20 or (o & 3) != 0:
            _vm._fault(env, np.int64(_vm.FAULT_CTX), pc, addr, info, np.int64(0))
            return np.int64(0)
        return _jit_ctx(xdp, o)
    o = _vm._resolve(bs.maps, xdp, env, addr, sz, np.int64(0), pc, info, np.int64(FRAME))
    if o < 0:
        return np.int64(0)
    return _vm._rd_bytes(bs.umem, bs.umem64, mem, xdp[XB_PAGE], kind, o, sz, np.int64(0))


@numba.njit(cache=True)
def _jit_store(bs, mem, xdp, env, addr, sz, v, info, pc):
    """STX/ST where the inline case did not apply: the interpreter's generic store."""
    kind = addr >> PTR_SHIFT
    if kind == K_CTX:
        _vm._fault(env, np.int64(_vm.FAULT_CTX), pc, addr, info, np.int64(1))
        return
    o = _vm._resolve(bs.maps, xdp, env, addr, sz, np.int64(1), pc, info, np.int64(FRAME))
    if o < 0:
        return
    _vm._wr_bytes(bs.umem, bs.umem64, mem, xdp[XB_PAGE], kind, o, sz, v)


# The slow paths as C functions that translated code calls through CTL_JIT_CALLS (see
# _jitabi.call_native): linked in, their code (the helpers with the map code behind them) would
# be optimized again inside every translated program, 5-25 s of compiling each.


@numba.njit(cache=True, forceinline=True)
def _run_arrays(ctl):
    """The running program's packet memory, xdp_buff and env, as its prologue left them in ctl."""
    mem = array_at(ctl[CTL_JIT_RUN], (ctl[CTL_JIT_RUN + 1], ctl[CTL_JIT_RUN + 2]), np.uint8)
    return (mem, array_at(ctl[CTL_JIT_RUN + 3], (XB_SIZE,), np.int64),
            array_at(ctl[CTL_JIT_RUN + 4], (ENV_SIZE,), np.int64))


@numba.cfunc(_SLOW_SIG, cache=True)
def _native_load(bs, addr, sz, info, pc, _unused):
    mem, xdp, env = _run_arrays(bs.ctl)
    return _jit_load(bs, mem, xdp, env, addr, sz, info, pc)


@numba.cfunc(_SLOW_SIG, cache=True)
def _native_store(bs, addr, sz, v, info, pc):
    mem, xdp, env = _run_arrays(bs.ctl)
    _jit_store(bs, mem, xdp, env, addr, sz, v, info, pc)
    return np.int64(0)


@numba.cfunc(_SLOW_SIG, cache=True)
def _native_helper(bs, fid, pc, _u1, _u2, _u3):
    mem, xdp, env = _run_arrays(bs.ctl)
    return _vm._call_helper(bs, mem, xdp, env, fid, pc, np.int64(FRAME))


@numba.cfunc(_SLOW_SIG, cache=True)
def _native_atomic(bs, pc, w, x, aux, _u1):
    mem, xdp, env = _run_arrays(bs.ctl)
    _vm._atomic(bs, mem, xdp, env, pc, w, x, aux, np.int64(FRAME))
    return np.int64(0)


_NATIVE = (_native_helper, _native_load, _native_store, _native_atomic)   # CTL_JIT_CALLS + 0..3


@numba.njit(cache=True, forceinline=True)
def _jit_lookup_array(bs, env, r1, r2):
    """bpf_map_lookup_elem, as the interpreter runs it: a (PERCPU_)ARRAY with the key on the
    stack without a call (returns r0 and 1), anything else through _call_helper (returns 0, 0:
    the caller makes that call with its registers stored)."""
    maps = bs.maps
    um = bs.umem
    m = r1 & M48
    if (r1 >> PTR_SHIFT) == _vm.K_MAP and m < maps.shape[0] and (r2 >> PTR_SHIFT) == K_STACK \
            and (maps[m, _vm.MAP_TYPE] == 2 or maps[m, _vm.MAP_TYPE] == 6) and (r2 & M48) + 4 <= FRAME:
        ko = r2 & M48
        idx = get_le1(um, ko, 4)
        if idx >= maps[m, _vm.MAP_MAX_ENTRIES]:
            return np.int64(0), True
        cpu = env[_vm.ENV_CPU] if maps[m, _vm.MAP_NCOPIES] > 1 else 0
        return (np.int64(K_MAPVAL) << PTR_SHIFT) | (m << 32) | \
            ((idx * maps[m, _vm.MAP_NCOPIES] + cpu) << maps[m, _vm.MAP_VSHIFT]), True
    return np.int64(0), False


@numba.njit(cache=True, forceinline=True)
def _jit_mapval(maps, addr, sz, write):
    """Offset in umem of an in-bounds access of ``sz`` bytes to a map value (writable if
    ``write``), else -1: the interpreter's inline map value case."""
    if (addr >> PTR_SHIFT) != K_MAPVAL:
        return np.int64(-1)
    m = (addr >> 32) & 0xFFFF
    vo = addr & M32
    if m < maps.shape[0]:
        sh = maps[m, _vm.MAP_VSHIFT]
        if (vo & ((1 << sh) - 1)) + sz <= maps[m, _vm.MAP_VALUE_SIZE] and \
                vo < (maps[m, _vm.MAP_MAX_ENTRIES] * maps[m, _vm.MAP_NCOPIES]) << sh and \
                (write == 0 or maps[m, _vm.MAP_RDONLY] == 0):
            return maps[m, _vm.MAP_VBASE] + vo
    return np.int64(-1)


# The inlined accesses are one unaligned machine load or store each (xdplab._bytes.get_le / put_le
# and their 1-D twins: eBPF memory is little-endian, as this host), not a byte per access with
# its own index arithmetic.  (vm.py's _rd_bytes / _wr_bytes loops, tried here before, measured
# 0.87x on loop_csum.)


@numba.njit(cache=True, forceinline=True)
def _um_rd(um, o, sz):
    return get_le1(um, o, sz)


@numba.njit(cache=True, forceinline=True)
def _um_wr(um, o, sz, v):
    put_le1(um, o, v, sz)


@numba.njit(cache=True, forceinline=True)
def _pkt_rd(mem, page, o, sz):
    return get_le(mem, page, o, sz)


@numba.njit(cache=True, forceinline=True)
def _pkt_wr(mem, page, o, sz, v):
    put_le(mem, page, o, v, sz)


@numba.njit(cache=True, forceinline=True)
def _jit_ld(bs, mem, xdp, env, addr, sz, page, pkt_lo, pkt_end, info, pc):
    """LDX of ``sz`` (a constant at each call site) bytes at ``addr``: (value, ok, lines of the
    head page read: 0 unless a packet access).  The stack, the packet, the context and map
    values inline, as the interpreter's cases; the rest and every fault through ``_jit_load``.
    Inlined: a site's size and, for ``r10 + off``, its region check fold to constants."""
    o = addr & M48
    kind = addr >> PTR_SHIFT
    if kind == K_STACK and o + sz <= FRAME and (sz != 8 or (o & 7) == 0):
        return _um_rd(bs.umem, o, sz), True, np.int64(0)
    if kind == K_PKT and o >= pkt_lo and o + sz <= pkt_end:
        return _pkt_rd(mem, page, o, sz), True, pkt_lines(o, sz)
    if kind == K_CTX and sz == 4 and o <= 20 and (o & 3) == 0:
        return _jit_ctx(xdp, o), True, np.int64(0)
    mo = _jit_mapval(bs.maps, addr, sz, 0)
    if mo >= 0:
        return _um_rd(bs.umem, mo, sz), True, np.int64(0)
    v = call_native(bs.ctl[CTL_JIT_CALLS + 1], bs, addr, sz, info, pc, 0)
    return v, env[ENV_ERR] == 0, np.int64(0)


@numba.njit(cache=True, forceinline=True)
def _jit_st(bs, mem, xdp, env, addr, sz, v, page, pkt_lo, pkt_end, info, pc):
    """STX/ST: as ``_jit_ld``; returns (ok, lines of the head page written)."""
    o = addr & M48
    kind = addr >> PTR_SHIFT
    if kind == K_STACK and o + sz <= FRAME and (sz != 8 or (o & 7) == 0):
        _um_wr(bs.umem, o, sz, v)
        return True, np.int64(0)
    if kind == K_PKT and o >= pkt_lo and o + sz <= pkt_end:
        _pkt_wr(mem, page, o, sz, v)
        return True, pkt_lines(o, sz)
    mo = _jit_mapval(bs.maps, addr, sz, 1)
    if mo >= 0:
        _um_wr(bs.umem, mo, sz, v)
        return True, np.int64(0)
    call_native(bs.ctl[CTL_JIT_CALLS + 2], bs, addr, sz, v, info, pc)
    return env[ENV_ERR] == 0, np.int64(0)


# ---- translation ---------------------------------------------------------------------------------


def _spill(regs):
    return "; ".join(f"ctl[{i}] = r{i}" for i in regs)


def _reload(regs):
    return "; ".join(f"r{i} = ctl[{i}]" for i in regs)


def _touched(code, start, length):
    """Registers the program names anywhere (a superset of those it reads or writes), with r1 and
    r10, which the run sets: the ones a local holds and that go back to ``ctl`` where the
    interpreter's register file would be looked at (helpers, the end of the run)."""
    regs = {1, 10}
    for pc in range(start, start + length):
        w = int(code[pc, 0])
        regs.update(((w >> 8) & 0xF, (w >> 12) & 0xF))
        if (w & 0xFF) == 127:
            regs.add(0)
    return sorted(r for r in regs if r <= 10)


_LOCAL_BLOCKERS = {129: "a bpf-to-bpf call (call pc+N)"}


def jit_unsupported(code: np.ndarray, start: int, length: int) -> str | None:
    """Why program rows [start, start + length) of decoded ``code`` cannot be translated, or None."""
    for pc in range(start, start + length):
        w = int(code[pc, 0])
        op = w & 0xFF
        if op in _LOCAL_BLOCKERS:
            return f"insn {pc - start}: {_LOCAL_BLOCKERS[op]}"
        if op == 127 and int(code[pc, 2]) == 12:
            return f"insn {pc - start}: bpf_tail_call"
        if op == 127 and int(code[pc, 2]) == 181:
            return f"insn {pc - start}: bpf_loop (its callback runs in the interpreter)"
    return None


def _blocks(code, start, length):
    """Basic blocks reachable from ``start``: {leader pc: [pcs]} in pc order."""
    end = start + length

    def succ(pc):
        op = int(code[pc, 0]) & 0xFF
        x = int(code[pc, 1])
        if 70 <= op < 126:
            return [x, pc + 1]
        if op in (126, 147):
            return [x]
        if op == 128:
            return []
        return [pc + 1]

    leaders = {start}
    for pc in range(start, end):
        op = int(code[pc, 0]) & 0xFF
        if 70 <= op < 126:
            leaders.update((int(code[pc, 1]), pc + 1))
        elif op == 126:
            leaders.add(int(code[pc, 1]))
    blocks = {}
    todo = [start]
    while todo:
        b = todo.pop()
        if b in blocks:
            continue
        if not start <= b < end:
            raise JitUnsupported(f"a jump leaves the program (to insn {b - start})")
        pcs = [b]
        while True:
            pc = pcs[-1]
            s = succ(pc)
            op = int(code[pc, 0]) & 0xFF
            if (70 <= op <= 126) or op == 128 or len(s) != 1 or s[0] in leaders:
                todo.extend(s)
                break
            if not start <= s[0] < end:
                raise JitUnsupported(f"insn {pc - start} falls off the end of the program")
            pcs.append(s[0])
        blocks[b] = pcs
    return dict(sorted(blocks.items()))


class _Emitter:
    def __init__(self):
        self.lines = []

    def __call__(self, depth, text):
        for t in ([text] if isinstance(text, str) else text):
            self.lines.append("    " * depth + t)


def _fault_exit(e, d, n_after, dag):
    """Leave the run after a fault recorded in env: the interpreter would have counted the
    faulting instruction, not the ``n_after`` after it in this block."""
    if n_after:
        e(d, f"left += {n_after}")
    e(d, f"ret = {XDP_ABORTED}")
    _leave(e, d, dag)


def _leave(e, d, dag):
    """End the run here.  (A loop-free program's block is a one-pass loop: ``blk = -1`` skips
    the blocks after it.)"""
    if dag:
        e(d, "blk = np.int64(-1)")
    e(d, "break")


def _goto(e, d, target, dag):
    e(d, f"blk = {target}")
    e(d, "break" if dag else "continue")


def _proven_at(a):
    """Where a proven packet access is (see _pkt_range): a constant offset from data, or its
    base register's offset (the register holds K_PKT << 48 | offset) and the insn's offset."""
    return f"data + {a.off}" if a.exact else f"(r{a.reg} & {M48}) + {a.off}"


def _insn(e, d, code, pc, k, n, regs, dag, proven):
    """Emit instruction ``pc``, the k-th of its block's n; True if it ends the block.  A load or
    store in ``proven`` (see _pkt_range) is a plain packet access."""
    w, x, imm, aux = (int(v) for v in code[pc])
    op = w & 0xFF
    dst = f"r{(w >> 8) & 0xF}"
    src = f"r{(w >> 12) & 0xF}"
    after = n - k - 1
    kflag = (w >> 16) & 1
    if op < 64:
        b = f"({imm})" if kflag else src
        simple64 = {0: f"{dst} + {b}", 1: f"{dst} - {b}", 2: f"{dst} * {b}", 4: f"{dst} | {b}", 5: f"{dst} & {b}",
                    10: f"{dst} ^ {b}", 11: b}
        if op in (11, 27) or op in (0, 1, 2, 4, 5, 10, 16, 17, 18, 20, 21, 26):
            e(d, f"{dst} = {simple64[op & 15]}")
        elif op == 6:
            e(d, f"{dst} = {dst} << {imm}")
        elif op == 7:
            e(d, f"{dst} = np.int64(np.uint64({dst}) >> np.uint64({imm}))")
        elif op == 12:
            e(d, f"{dst} = {dst} >> {imm}")
        elif op == 22:
            e(d, f"{dst} = {dst} << ({src} & 63)")
        elif op == 23:
            e(d, f"{dst} = np.int64(np.uint64({dst}) >> np.uint64({src} & 63))")
        elif op in (32, 48):
            e(d, f"{dst} = ({dst} + {b}) & {M32}")
        elif op == 37:
            e(d, f"{dst} = {dst} & ({imm}) & {M32}")
        elif op in (43, 59):
            e(d, f"{dst} = {b} & {M32}")
        elif op < 32:
            e(d, f"{dst} = _vm._alu64(np.int64({op & 15}), {dst}, np.int64({b}), np.int64({aux}))")
        else:
            e(d, f"{dst} = _vm._alu32(np.int64({op & 15}), {dst}, np.int64({b}), np.int64({aux}))")
        return False
    if op < 68:
        if op == 64:
            if aux == 16:
                e(d, f"{dst} = (({dst} & 0xFF) << 8) | (({dst} >> 8) & 0xFF)")
            elif aux == 32:
                e(d, f"{dst} = (({dst} & 0xFF) << 24) | (({dst} & 0xFF00) << 8) | (({dst} >> 8) & 0xFF00) "
                     f"| (({dst} >> 24) & 0xFF)")
            else:
                e(d, f"{dst} = _vm._bswap({dst}, np.int64({aux}))")
        elif op == 65:
            e(d, f"{dst} = {dst} & 0xFFFF" if aux == 16 else (f"{dst} = {dst} & {M32}" if aux == 32 else "pass"))
        else:
            sh = 64 - aux
            e(d, f"{dst} = ({src} << {sh}) >> {sh}" + ("" if op == 66 else f" & {M32}"))
        return False
    if op < 126:
        jt = op - 70
        blk = jt // 14
        jop = jt - blk * 14
        b = src if blk & 1 else f"np.int64({imm})"
        if blk >= 2:
            if jop in (6, 7, 12, 13):
                a_, b_ = f"(({dst} << 32) >> 32)", f"(({b} << 32) >> 32)"
            else:
                a_, b_ = f"({dst} & {M32})", f"({b} & {M32})"
        else:
            a_, b_ = dst, b
        cond = {1: f"{a_} == {b_}", 2: f"np.uint64({a_}) > np.uint64({b_})",
                3: f"np.uint64({a_}) >= np.uint64({b_})", 4: f"({a_} & {b_}) != 0", 5: f"{a_} != {b_}",
                6: f"{a_} > {b_}", 7: f"{a_} >= {b_}", 10: f"np.uint64({a_}) < np.uint64({b_})",
                11: f"np.uint64({a_}) <= np.uint64({b_})", 12: f"{a_} < {b_}", 13: f"{a_} <= {b_}"}.get(jop)
        if cond is None:
            cond = f"_vm._jmp_taken(np.int64({jop}), {a_}, {b_})"
        if dag:                    # a constant on each path: see jit_source
            e(d, f"if {cond}:")
            _goto(e, d + 1, x, dag)
            _goto(e, d, pc + 1, dag)
        else:
            e(d, f"blk = {x} if {cond} else {pc + 1}")
            e(d, "continue")
        return True
    if op == 126:
        _goto(e, d, x, dag)
        return True
    if op == 147:
        e(d, f"{dst} = np.int64({imm})")
        return False
    if op == 128:
        e(d, "ret = r0")
        _leave(e, d, dag)
        return True
    if op == 127:
        e(d, "helpers += 1")
        if imm == 1:
            e(d, "v, done = _jit_lookup_array(bs, env, r1, r2)")
            e(d, "if done:")
            e(d + 1, "r0 = v")
            e(d, "else:")
            d += 1
        e(d, _spill(regs))
        e(d, f"r0 = call_native(ctl[CTL_JIT_CALLS], bs, {imm}, {pc}, 0, 0, 0)")
        e(d, "if env[ENV_ERR] != 0:")
        _fault_exit(e, d + 1, after, dag)
        e(d, _reload([r for r in regs if r != 0]))
        e(d, "data = xdp[XB_DATA]; pkt_end = xdp[XB_DATA_END]; meta = xdp[XB_DATA_META]; "
             "pkt_lo = meta if meta < data else data")
        return False
    if 130 <= op < 137:
        sz = 1 << ((op - 130) if op < 134 else (op - 134))
        info = sz | (((w >> 12) & 0xF) << 12) | ((x & 0xFFFF) << 16)
        if pc in proven:
            if not proven[pc].exact:        # (exact ones: their block's lines, see _exact_lines)
                e(d, f"rdl |= pkt_lines({_proven_at(proven[pc])}, np.int64({sz}))")
            e(d, f"v = _pkt_rd(mem, page, {_proven_at(proven[pc])}, {sz})")
        else:
            e(d, f"v, ok, m = _jit_ld(bs, mem, xdp, env, {src} + {x}, {sz}, page, pkt_lo, pkt_end, {info}, {pc})")
            e(d, "if not ok:")
            _fault_exit(e, d + 1, after, dag)
            e(d, "rdl |= m")
        if op >= 134 and sz < 8:
            s = 64 - 8 * sz
            e(d, f"{dst} = (v << {s}) >> {s}")
        else:
            e(d, f"{dst} = v")
        return False
    if 137 <= op < 145:
        sz = 1 << ((op - 137) if op < 141 else (op - 141))
        v = src if op < 141 else f"np.int64({imm})"
        info = sz | (1 << 8) | (((w >> 8) & 0xF) << 12) | ((x & 0xFFFF) << 16)
        if pc in proven:
            if not proven[pc].exact:
                e(d, f"wrl |= pkt_lines({_proven_at(proven[pc])}, np.int64({sz}))")
            e(d, f"_pkt_wr(mem, page, {_proven_at(proven[pc])}, {sz}, {v})")
            return False
        e(d, f"ok, m = _jit_st(bs, mem, xdp, env, {dst} + {x}, {sz}, {v}, page, pkt_lo, pkt_end, {info}, {pc})")
        e(d, "if not ok:")
        _fault_exit(e, d + 1, after, dag)
        e(d, "wrl |= m")
        return False
    if op in (145, 146):
        e(d, _spill(regs))
        e(d, f"call_native(ctl[CTL_JIT_CALLS + 3], bs, {pc}, {w}, {x}, {aux}, 0)")
        e(d, "if env[ENV_ERR] != 0:")
        _fault_exit(e, d + 1, after, dag)
        e(d, _reload(regs))
        return False
    raise JitUnsupported(f"insn {pc}: internal opcode {op}")


def _calls_slow_paths(code, start, length) -> bool:
    """True if the program has a memory access, a helper call or an atomic: an instruction
    whose translation can call a slow path (a fault, a region not inlined, a helper)."""
    for pc in range(start, start + length):
        op = int(code[pc, 0]) & 0xFF
        if op == 127 or 130 <= op <= 146:
            return True
    return False


def _loop_free(code, blocks) -> bool:
    """True if no jump of the program goes back (to its own block or an earlier one)."""
    for b, pcs in blocks.items():
        last = pcs[-1]
        op = int(code[last, 0]) & 0xFF
        if 70 <= op <= 126 and int(code[last, 1]) <= b:
            return False
    return True


def _access_size(op):
    """Bytes a load (LDX/LDSX) or store (STX/ST) moves; 0 for any other opcode."""
    if 130 <= op < 137:
        return 1 << ((op - 130) if op < 134 else (op - 134))
    if 137 <= op < 145:
        return 1 << ((op - 137) if op < 141 else (op - 141))
    return 0


def _runs(spans):
    """Byte ranges [lo, hi) relative to data whose cache lines are exactly those of ``spans``
    ((off, size) pairs): spans less than a line apart merge, since no whole line fits between
    them, so the merged range touches no line that none of them touches."""
    out = []
    for off, sz in sorted(spans):
        if out and off - out[-1][1] < 64:
            out[-1][1] = max(out[-1][1], off + sz)
        else:
            out.append([off, off + sz])
    return out


def _exact_lines(code, pcs, proven):
    """The cache lines the block's proven constant-offset packet accesses (``data + N``) touch,
    as source to emit once per stretch of the block that nothing can leave early, at the
    stretch's first such access: {pc: lines of source}.  One mask per run of nearby accesses
    instead of one per access: a parser's header reads are a few masks a packet.  A stretch
    ends at whatever can fault or move ``data`` (a helper call, an atomic, a memory access
    that is not a proven packet access), so every access it counts does run: the lines are
    the interpreter's, exactly."""
    out = {}
    first, rd, wr = None, [], []
    for pc in pcs + [None]:
        op = int(code[pc, 0]) & 0xFF if pc is not None else -1
        if pc is not None and pc in proven and proven[pc].exact:
            if first is None:
                first = pc
            (rd if op < 137 else wr).append((proven[pc].off, _access_size(op)))
        elif pc is None or op in (127, 145, 146) or (_access_size(op) and pc not in proven):
            if first is not None:
                out[first] = [f"rdl |= pkt_lines(data + {lo}, np.int64({hi - lo}))" for lo, hi in _runs(rd)] + \
                    [f"wrl |= pkt_lines(data + {lo}, np.int64({hi - lo}))" for lo, hi in _runs(wr)]
            first, rd, wr = None, [], []
    return out


def _emit_block(e, d, code, pcs, regs, dag, proven):
    """The instructions of one block, then the hand-off to the next if it has no jump of its own."""
    n = len(pcs)
    ended = False
    lines = _exact_lines(code, pcs, proven)
    for k, pc in enumerate(pcs):
        if pc in lines:
            e(d, lines[pc])
        ended = _insn(e, d, code, pc, k, n, regs, dag, proven)
    if not ended:
        nxt = pcs[-1] + 1 if (int(code[pcs[-1], 0]) & 0xFF) != 147 else int(code[pcs[-1], 1])
        _goto(e, d, nxt, dag)


def jit_source(code: np.ndarray, start: int, length: int, prove: bool = True) -> str:
    """Python source of the translated program: a ``cfunc`` named ``prog``.  ``prove=False``
    keeps the run-time check of every packet access, proven or not (benchmarks/bench_vm.py
    measures what the proofs are worth)."""
    why = jit_unsupported(code, start, length)
    if why:
        raise JitUnsupported(why)
    blocks = _blocks(code, start, length)
    regs = _touched(code, start, length)
    proven = proven_pkt_accesses(code, blocks) if prove else {}
    touches = _calls_slow_paths(code, start, length)      # a memory access, a helper call or an atomic
    e = _Emitter()
    e(0, [f"# program rows {start}..{start + length - 1}, translated by xdplab.bpf.jit (do not edit)",
          "import numpy as np",
          "from numba import cfunc",
          "from xdplab.bpf import vm as _vm",
          "from xdplab.bpf._jitabi import array_at, call_native",
          "from xdplab.bpf.jit import JIT_SIG, _jit_ld, _jit_lookup_array, _jit_st, _pkt_rd, _pkt_wr",
          "from xdplab.bpf.state import CTL_JIT_CALLS, CTL_JIT_RUN, CTL_PKT_RD, CTL_PKT_WR, CTL_RESUME, CTL_TAILCNT, "
          "CTL_TOUCH",
          "from xdplab.filter import pkt_lines",
          "from xdplab.xdp_abi import ENV_ERR, ENV_HELPER_CALLS, ENV_INSN_BUDGET, ENV_INSNS, XB_DATA, "
          "XB_DATA_END, XB_DATA_META, XB_PAGE",
          "",
          "",
          "@cfunc(JIT_SIG, cache=True)",
          "def prog(bs, mem_a, rows, cols, xdp_a, env_a):",
          "    mem = array_at(mem_a, (rows, cols), np.uint8)",
          f"    xdp = array_at(xdp_a, ({XB_SIZE},), np.int64)",
          f"    env = array_at(env_a, ({ENV_SIZE},), np.int64)",
          "    ctl = bs.ctl",
          ] + ([
          # where a slow path finds the run's arrays (_run_arrays).  Only in a program that can call
          # one: stored on the slow path instead, they cost a translated xdp2.o 30 instructions per
          # run (the values stayed live in registers and spills for every cold branch)
          "    ctl[CTL_JIT_RUN] = mem_a; ctl[CTL_JIT_RUN + 1] = rows; ctl[CTL_JIT_RUN + 2] = cols",
          "    ctl[CTL_JIT_RUN + 3] = xdp_a; ctl[CTL_JIT_RUN + 4] = env_a",
          ] if touches else []) + [
          "    budget = env[ENV_INSN_BUDGET]",
          "    if budget <= 0:",
          f"        budget = np.int64({_vm.DEFAULT_INSN_BUDGET})",
          "    env[ENV_ERR] = 0",
          "    ctl[CTL_TAILCNT] = 0",
          ] + ([
          # what the run reads and writes of the packet (the board's DMA model takes it from here):
          # the helpers' accesses go to the touch table as they happen, the program's own to the
          # locals rdl / wrl (its head page's lines), stored at the end.  A program without a memory
          # access or a helper call touches nothing: its masks stay 0 from the state's creation, and
          # it neither clears nor stores them (xdp_drop.o: 7 fewer stores and loads a packet)
          "    ctl[CTL_PKT_RD] = 0",
          "    ctl[CTL_PKT_WR] = 0",
          "    ctl[CTL_TOUCH] = 0",
          "    rdl = np.int64(0)",
          "    wrl = np.int64(0)",
          ] if touches else []) + [
          "    m = np.int64(0)",
          "    page = xdp[XB_PAGE]",
          "    data = xdp[XB_DATA]",
          "    pkt_end = xdp[XB_DATA_END]",
          "    meta = xdp[XB_DATA_META]",
          "    pkt_lo = meta if meta < data else data",
          f"    r1 = np.int64({K_CTX << PTR_SHIFT})",
          f"    r10 = np.int64({(K_STACK << PTR_SHIFT) | FRAME})",
          ] + [f"    r{i} = ctl[{i}]" for i in regs if i not in (1, 10)] + [
          "    left = budget",
          "    helpers = np.int64(0)",
          "    ret = np.int64(0)",
          "    resume = np.int64(0)",
          "    v = np.int64(0)",
          "    ok = True",
          "    done = False",
          f"    blk = np.int64({start})"])
    if _loop_free(code, blocks):
        # No jump goes back, so each block runs at most once: a run executes at most ``total``
        # instructions, and with that much budget no block needs a check of its own.  With less,
        # the interpreter runs it from the start (counting each instruction, as it would anyway).
        # The blocks follow in pc order, each ``if blk == b:`` a one-pass loop that sets the next
        # ``blk`` (a constant on every path) and breaks: LLVM threads each hand-off into a direct
        # jump.  Through a dispatch loop (below) it does not (it does not thread through a loop
        # head), and every hand-off went through the loop head's jump table.
        total = sum(len(p) for p in blocks.values())
        e(1, [f"if left < {total}:",
              f"    resume = np.int64({start + 1})",
              "    blk = np.int64(-1)"])
        for b, pcs in blocks.items():
            e(1, [f"if blk == {b}:", "    while True:"])
            e(3, f"left -= {len(pcs)}")
            _emit_block(e, 3, code, pcs, regs, True, proven)
    else:
        e(1, "while True:")
        first = True
        for b, pcs in blocks.items():
            n = len(pcs)
            e(2, f"{'if' if first else 'elif'} blk == {b}:")
            first = False
            e(3, f"if left < {n}:")
            e(4, f"resume = np.int64({b + 1})")
            e(4, "break")
            e(3, f"left -= {n}")
            _emit_block(e, 3, code, pcs, regs, False, proven)
        e(2, "else:")
        e(3, f"ret = np.int64({XDP_ABORTED})")
        e(3, "break")
    e(1, [_spill(regs)] + (["ctl[CTL_PKT_RD] |= rdl", "ctl[CTL_PKT_WR] |= wrl"] if touches else []) + [
          "if resume != 0:",
          "    ctl[CTL_RESUME] = resume",
          "    env[ENV_INSNS] = left",
          "    env[ENV_HELPER_CALLS] = helpers",
          "    return np.int64(0)",
          "env[ENV_INSNS] = budget - left",
          "env[ENV_HELPER_CALLS] = helpers",
          "return ret"])
    return "\n".join(e.lines) + "\n"


# ---- compiling and attaching ---------------------------------------------------------------------

_LOCK = threading.Lock()
_LOADED: dict[str, object] = {}


def _jit_dir() -> str:
    d = os.path.join(numba.config.CACHE_DIR, "bpf-jit")
    os.makedirs(d, exist_ok=True)
    return d


def _compile(src: str):
    key = hashlib.sha1(src.encode()).hexdigest()[:20]
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
        path = os.path.join(_jit_dir(), f"bpfjit_{key}.py")
        if not os.path.exists(path):
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w") as fh:
                fh.write(src)
            os.replace(tmp, path)
        name = f"xdplab_bpfjit_{key}"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        fn = mod.prog
        _LOADED[key] = fn
        return fn


def bpf_prog_jit(state, prog_index: int, prove: bool = True):
    """Translate program ``prog_index`` of a loaded object's ``state`` and switch its runs to
    the native code (``state.progs[i, PR_JIT]``).  Returns the cfunc; raises JitUnsupported
    (with the reason) for a program that stays interpreted.  (``prove``: see jit_source.)"""
    start = int(state.progs[prog_index, PR_START])
    length = int(state.progs[prog_index, PR_LEN])
    fn = _compile(jit_source(state.code, start, length, prove))
    for i, f in enumerate(_NATIVE):
        state.ctl[CTL_JIT_CALLS + i] = f.address
    state.progs[prog_index, PR_JIT] = fn.address
    return fn
