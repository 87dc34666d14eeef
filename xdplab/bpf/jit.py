"""A JIT for loaded programs: each program translated to one native function.

The kernel runs XDP programs through its JIT (``bpf_int_jit_compile``; arm64 kernels
like the ESPRESSObin's have ``CONFIG_BPF_JIT_ALWAYS_ON``), not the interpreter.  This
is our counterpart.  The interpreter (:mod:`xdplab.bpf.vm`) pays, for every eBPF
instruction, a load of the decoded row, an indirect jump and registers kept in memory:
about 6 host cycles.  Translated, the program is LLVM IR (built with llvmlite) that LLVM
compiles to one C-callable function (:data:`JIT_SIG`, see ``_jitabi``):

* the eleven registers are locals (LLVM keeps them in host registers);
* each basic block is an LLVM block and each jump a direct branch;
* operands, offsets and jump targets are constants in the code, and an access through
  ``r10`` (the frame pointer, fixed in a program without bpf-to-bpf calls) is checked at
  translation, not at run time.

The semantics are the interpreter's, on purpose to the letter: each instruction becomes
the interpreter's case for it, written in IR (``_Translator.alu``, ``access``, ...), or a
call of the interpreter's own function for it through a pointer (``_native_*``: helpers,
the generic load and store, atomics, bpf_tail_call's map look-up).  Every region check
stays (stack, packet, context, map value), except for a packet access proven in bounds
before the run, as the kernel's verifier proves it (:mod:`xdplab.bpf._pkt_range`): that
one is a plain load or store, as in the kernel's JIT.  Every fault is the same fault at
the same pc with the same details, and ``ENV_INSNS`` / ``ENV_HELPER_CALLS`` come out the
same, so the board's cost model charges the same cycles whether a run was translated or
not.  ``tests/bpf/test_jit.py`` holds the two to that.

The instruction budget is checked once per block: a block that needs more instructions
than are left hands the run back to the interpreter (``CTL_RESUME``, at the call depth
reached: ``CTL_RESUME_DEPTH``), which runs it out one counted instruction at a time, so
the budget fault lands on the exact instruction.  A program with no backward jump and no
bpf-to-bpf call runs each block at most once, so it is checked once, at the start.

bpf-to-bpf calls push and pop the interpreter's frames (``CTL_FRAMES``: return pc, r6..r9,
r10) and a return goes back through a switch over the program's return points.
``bpf_tail_call`` goes on in the target's translation (entered with the run's counts: its
"tail entry", emitted for the programs of an object that has a PROG_ARRAY) or, if the
target is not translated, in the interpreter at the target's first instruction.

Translating takes LLVM alone: no numba (numba's front end took minutes on a program of
2000 instructions as Python source, its passes growing faster than the function).  LLVM's
O2 up to ``BIG_PROG`` instructions, lighter IR passes with O2's code generator up to
``HUGE_PROG``, the same passes with the fast code generator past that (:func:`opt_level`).
Each translation is an object file under numba's cache directory (which changes with
every xdplab source), keyed by the program's instructions: a program compiles once per
machine, later processes load it without building its IR
(``benchmarks/bench_jit_start.py`` measures it).
"""

from __future__ import annotations

import hashlib
import os
import threading

import numba
import numpy as np

from llvmlite import ir
import llvmlite.binding as llvm

from ..xdp_abi import (ENV_ERR, ENV_ERR_A, ENV_ERR_B, ENV_ERR_C, ENV_ERR_PC, ENV_HELPER_CALLS, ENV_INSN_BUDGET,
                       ENV_INSNS, ENV_RI_FLAGS, ENV_RI_MAP_ID, ENV_RI_MAP_TYPE, ENV_RI_TGT_INDEX, ENV_RI_TGT_VALUE,
                       ENV_SIZE, XDP_REDIRECT, XB_DATA, XB_DATA_END, XB_DATA_META, XB_EGRESS_IFINDEX, XB_INGRESS_IFINDEX,
                       XB_PAGE, XB_RX_QUEUE_INDEX, XB_SIZE, XDP_ABORTED)
from . import vm as _vm
from ._jitabi import array_at
from ._pkt_range import proven_pkt_accesses
from .maps import bpf_map_value_offset
from .state import (CTL_FRAMES, CTL_JIT_CALLS, CTL_JIT_RUN, CTL_JIT_STACK_TOP, CTL_PKT_RD, CTL_PKT_WR, CTL_RESUME,
                    CTL_RESUME_DEPTH, CTL_TAIL_ENTRY, CTL_TAILCNT, CTL_TOUCH, EL_USED, K_CTX, K_MAPVAL, K_PKT,
                    K_STACK, PR_JIT, PR_LEN, PR_START, PTR_SHIFT, SCRATCH_OFF)

__all__ = ["bpf_prog_jit", "jit_unsupported", "jit_ir", "jit_source", "JitUnsupported", "JIT_SIG"]

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
def _jit_load(bs, mem, xdp, env, addr, sz, info, pc, stack_top):
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
    o = _vm._resolve(bs.maps, xdp, env, addr, sz, np.int64(0), pc, info, stack_top)
    if o < 0:
        return np.int64(0)
    return _vm._rd_bytes(bs.umem, bs.umem64, mem, xdp[XB_PAGE], kind, o, sz, np.int64(0))


@numba.njit(cache=True)
def _jit_store(bs, mem, xdp, env, addr, sz, v, info, pc, stack_top):
    """STX/ST where the inline case did not apply: the interpreter's generic store."""
    kind = addr >> PTR_SHIFT
    if kind == K_CTX:
        _vm._fault(env, np.int64(_vm.FAULT_CTX), pc, addr, info, np.int64(1))
        return
    o = _vm._resolve(bs.maps, xdp, env, addr, sz, np.int64(1), pc, info, stack_top)
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


# Each slow path takes the running frame's stack top (the interpreter's ``stack_top``: 512 in
# the main frame, 512 more per bpf-to-bpf call) from ctl[CTL_JIT_STACK_TOP], which the
# translated code keeps up to date.


@numba.cfunc(_SLOW_SIG, cache=True)
def _native_load(bs, addr, sz, info, pc, _unused):
    mem, xdp, env = _run_arrays(bs.ctl)
    return _jit_load(bs, mem, xdp, env, addr, sz, info, pc, bs.ctl[CTL_JIT_STACK_TOP])


@numba.cfunc(_SLOW_SIG, cache=True)
def _native_store(bs, addr, sz, v, info, pc):
    mem, xdp, env = _run_arrays(bs.ctl)
    _jit_store(bs, mem, xdp, env, addr, sz, v, info, pc, bs.ctl[CTL_JIT_STACK_TOP])
    return np.int64(0)


@numba.cfunc(_SLOW_SIG, cache=True)
def _native_helper(bs, fid, pc, _u1, _u2, _u3):
    mem, xdp, env = _run_arrays(bs.ctl)
    return _vm._call_helper(bs, mem, xdp, env, fid, pc, bs.ctl[CTL_JIT_STACK_TOP])


@numba.cfunc(_SLOW_SIG, cache=True)
def _native_atomic(bs, pc, w, x, aux, _u1):
    mem, xdp, env = _run_arrays(bs.ctl)
    _vm._atomic(bs, mem, xdp, env, pc, w, x, aux, bs.ctl[CTL_JIT_STACK_TOP])
    return np.int64(0)


@numba.cfunc(_SLOW_SIG, cache=True)
def _native_tail_call(bs, pc, _u1, _u2, _u3, _u4):
    """bpf_tail_call(ctx, r2 = prog_array, r3 = index) as the interpreter takes it: the target
    program's index (the run goes on there; ctl[CTL_TAILCNT] counted), -1 for an empty slot, an
    index out of range or the 33-call limit (r0 = -ENOENT, the program goes on), -2 after a fault."""
    mem, xdp, env = _run_arrays(bs.ctl)
    regs = bs.ctl
    maps = bs.maps
    m = _vm._helper_map(maps, env, regs[2], np.int64(12), pc, np.int64(_vm._MT_PROG_ARRAY))
    if m < 0:
        return np.int64(-2)
    idx = regs[3] & M32
    if idx >= maps[m, _vm.MAP_MAX_ENTRIES] or regs[CTL_TAILCNT] >= 33:
        return np.int64(-1)
    e = maps[m, _vm.MAP_EBASE] + idx
    if bs.elems[e, EL_USED] == 0:
        return np.int64(-1)
    vo = maps[m, _vm.MAP_VBASE] + bpf_map_value_offset(bs, m, e, np.int64(0))
    tgt = np.int64(bs.umem[vo]) | (np.int64(bs.umem[vo + 1]) << 8)
    # (the interpreter counts the call before it looks the target up, as here)
    regs[CTL_TAILCNT] += 1
    if tgt >= bs.progs.shape[0]:
        return np.int64(-1)
    return tgt


_NATIVE = (_native_helper, _native_load, _native_store, _native_atomic, _native_tail_call)  # CTL_JIT_CALLS + 0..4


# ---- translation ---------------------------------------------------------------------------------


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


def jit_unsupported(code: np.ndarray, start: int, length: int) -> str | None:
    """Why program rows [start, start + length) of decoded ``code`` cannot be translated, or None.
    (Every instruction the interpreter runs is translated, bpf-to-bpf calls and bpf_tail_call
    included; what is left is a program that jumps or falls out of its own rows.)"""
    for pc in range(start, start + length):
        if int(code[pc, 0]) & 0xFF == 127 and int(code[pc, 2]) == 181:
            return f"insn {pc - start}: bpf_loop (its callback runs in the interpreter)"
    try:
        _blocks(code, start, length)
    except JitUnsupported as e:
        return str(e)
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
        if op == 129:                  # a bpf-to-bpf call: the callee, and where its exit returns
            return [x, pc + 1]
        return [pc + 1]

    leaders = {start}
    for pc in range(start, end):
        op = int(code[pc, 0]) & 0xFF
        if 70 <= op < 126:
            leaders.update((int(code[pc, 1]), pc + 1))
        elif op == 126:
            leaders.add(int(code[pc, 1]))
        elif op == 129:
            leaders.update((int(code[pc, 1]), pc + 1))
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
            if (70 <= op <= 126) or op in (128, 129) or len(s) != 1 or s[0] in leaders:
                todo.extend(s)
                break
            if not start <= s[0] < end:
                raise JitUnsupported(f"insn {pc - start} falls off the end of the program")
            pcs.append(s[0])
        blocks[b] = pcs
    return dict(sorted(blocks.items()))


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


# ---- the translation: LLVM IR, built with llvmlite --------------------------------------------
#
# The IR follows the interpreter instruction by instruction: registers are allocas that LLVM
# promotes to host registers, every eBPF basic block is an LLVM block and every jump a direct
# branch.  Nothing goes through numba's front end: a program of 2000 instructions was ~10 000
# lines of Python that numba typed, SSA-rebuilt and lowered in minutes (its passes grow faster
# than the function); the IR takes LLVM alone (benchmarks/bench_jit_start.py).

_i1 = ir.IntType(1)
_i8 = ir.IntType(8)
_i16 = ir.IntType(16)
_i32 = ir.IntType(32)
_i64 = ir.IntType(64)
_INT = {1: _i8, 2: _i16, 4: _i32, 8: _i64}
_MEMINFO = ir.LiteralStructType([_i64, _i8.as_pointer(), _i8.as_pointer(), _i8.as_pointer(), _i64])
_F_PROGS, _F_MAPS, _F_ELEMS, _F_CTL, _F_UMEM = 1, 2, 3, 5, 6   # BpfState fields (order of BpfState._fields)
_EL_NCOLS = 3                                               # bs.elems: int64[E, 3] (EL_USED, EL_NEXT, EL_LRU)
# bpf_redirect_map's map types translated without a call: the array-like ones (a slot per index,
# maybe empty): DEVMAP, CPUMAP, XSKMAP (DEVMAP_HASH keeps the helper call)
_REDIRECT_INLINE_TYPES = (14, 16, 17)
_PR_NCOLS = 4
_MAP_NCOLS = 16
_BPF_MAP_TYPE_PROG_ARRAY = 3
PROG_NAME = "xdplab_bpf_prog"


def _k(v):
    """An i64 constant (Python ints of any sign, wrapped to 64 bits)."""
    v &= (1 << 64) - 1
    return ir.Constant(_i64, v - (1 << 64) if v >> 63 else v)


def _state_types():
    from numba.core.registry import cpu_target
    ctx = cpu_target.target_context
    return ctx.get_value_type(_BS), ctx.get_data_type(_BS.get_data_type())


class _Translator:
    """One program's IR.  ``tail_entry``: the object has a PROG_ARRAY, so another program's
    bpf_tail_call may enter this one (with the run's counts in env, see _tail_call)."""

    def __init__(self, code, start, length, prove, tail_entry):
        why = jit_unsupported(code, start, length)
        if why:
            raise JitUnsupported(why)
        self.code, self.start, self.length = code, start, length
        self.blocks = _blocks(code, start, length)
        self.calls = any((int(code[pc, 0]) & 0xFF) == 129 for pc in range(start, start + length))
        self.regs = list(range(11)) if self.calls else _touched(code, start, length)
        # (a bpf-to-bpf call's callee is not a fall-through of its call: no proofs across them)
        self.proven = proven_pkt_accesses(code, self.blocks) if prove and not self.calls else {}
        self.touches = _calls_slow_paths(code, start, length)
        self.dag = _loop_free(code, self.blocks) and not self.calls
        self.tail_entry = tail_entry
        self.ret_points = sorted(pc + 1 for pc in range(start, start + length)
                                 if (int(code[pc, 0]) & 0xFF) == 129)
        # r10 is the frame pointer: with no bpf-to-bpf call and no instruction writing it, it holds
        # its start value all run long, and an access through it is checked here, not at run time
        self.r10_fixed = not self.calls and not any(_writes_r10(int(code[pc, 0])) for pc in range(start, start + length))

    # -- small pieces
    def at(self, base, i):
        return self.b.gep(base, [i if isinstance(i, ir.Value) else _k(i)], inbounds=True)

    def ld(self, base, i):
        return self.b.load(self.at(base, i))

    def st(self, base, i, v):
        self.b.store(v if isinstance(v, ir.Value) else _k(v), self.at(base, i))

    def get(self, var):
        return self.b.load(self.v[var])

    def put(self, var, val):
        self.b.store(val if isinstance(val, ir.Value) else _k(val), self.v[var])

    def reg(self, r):
        return self.b.load(self.v[f"r{r}"])

    def setreg(self, r, val):
        self.put(f"r{r}", val)

    def block(self, name):
        return self.fn.append_basic_block(name)

    def native(self, slot, args):
        """call_native: ((int64 (*)(bs, int64 x 5)) ctl[CTL_JIT_CALLS + slot])(bs, args...)"""
        fnty = ir.FunctionType(_i64, [self.bs_t] + [_i64] * 5)
        f = self.b.inttoptr(self.ld(self.ctl, CTL_JIT_CALLS + slot), fnty.as_pointer())
        args = [a if isinstance(a, ir.Value) else _k(a) for a in args]
        return self.b.call(f, [self.bsv] + args + [_k(0)] * (5 - len(args)))

    def spill(self, regs=None):
        for r in (self.regs if regs is None else regs):
            self.st(self.ctl, r, self.reg(r))

    def reload(self, regs):
        for r in regs:
            self.setreg(r, self.ld(self.ctl, r))

    def reload_pkt(self):
        data = self.ld(self.xdp, XB_DATA)
        meta = self.ld(self.xdp, XB_DATA_META)
        self.put("data", data)
        self.put("pkt_end", self.ld(self.xdp, XB_DATA_END))
        self.put("pkt_lo", self.b.select(self.b.icmp_signed("<", meta, data), meta, data))

    def lines(self, o, n):
        """xdplab.filter.pkt_lines(o, n) for a constant n."""
        b = self.b
        lo = b.shl(_k(-1), b.ashr(o, _k(6)))
        hi = b.shl(_k(-2), b.ashr(b.add(o, _k(n - 1)), _k(6)))
        return b.and_(lo, b.xor(hi, _k(-1)))

    def orvar(self, var, v):
        self.put(var, self.b.or_(self.get(var), v))

    def fault_exit(self, after):
        """Leave after a fault recorded in env: the interpreter counted the faulting instruction,
        not the ``after`` behind it in this block."""
        if after:
            self.put("left", self.b.add(self.get("left"), _k(after)))
        self.put("ret", XDP_ABORTED)
        self.b.branch(self.out)

    def check_err(self, after):
        """Go on if env[ENV_ERR] is 0, else leave as after a fault."""
        err = self.b.icmp_signed("!=", self.ld(self.env, ENV_ERR), _k(0))
        bad, ok = self.block("fault"), self.block("ok")
        self.b.cbranch(err, bad, ok)
        self.b.position_at_end(bad)
        self.fault_exit(after)
        self.b.position_at_end(ok)

    def mem_load(self, base, off, sz):
        p = self.b.bitcast(self.b.gep(base, [off], inbounds=True), _INT[sz].as_pointer())
        v = self.b.load(p, align=1)
        return v if sz == 8 else self.b.zext(v, _i64)

    def mem_store(self, base, off, sz, v):
        p = self.b.bitcast(self.b.gep(base, [off], inbounds=True), _INT[sz].as_pointer())
        self.b.store(v if sz == 8 else self.b.trunc(v, _INT[sz]), p, align=1)

    def pkt_base(self):
        return self.b.gep(self.mem, [self.b.mul(self.get("page"), self.cols)], inbounds=True)

    def stack_top(self):
        return self.get("stack_top") if self.calls else _k(FRAME)

    # -- the generic memory access (the interpreter's LDX/STX/ST cases, inline)
    def access(self, pc, addr, sz, info, after, store=None, sx=False):
        """LDX (``store`` None; returns the value) or STX/ST of ``store``: stack, packet, context
        (loads) and map values inline, the rest and every fault through the slow path."""
        b = self.b
        o = b.and_(addr, _k(M48))
        kind = b.ashr(addr, _k(PTR_SHIFT))
        join = self.block("acc.join")
        vals = []
        # stack
        c = b.and_(b.icmp_signed("==", kind, _k(K_STACK)),
                   b.icmp_signed("<=", b.add(o, _k(sz)), self.stack_top()))
        if sz == 8:
            c = b.and_(c, b.icmp_signed("==", b.and_(o, _k(7)), _k(0)))
        yes, no = self.block("acc.stack"), self.block("acc.pkt?")
        b.cbranch(c, yes, no)
        b.position_at_end(yes)
        if store is None:
            vals.append((self.mem_load(self.um, o, sz), b.block))
        else:
            self.mem_store(self.um, o, sz, store)
        b.branch(join)
        # packet
        b.position_at_end(no)
        c = b.and_(b.and_(b.icmp_signed("==", kind, _k(K_PKT)), b.icmp_signed(">=", o, self.get("pkt_lo"))),
                   b.icmp_signed("<=", b.add(o, _k(sz)), self.get("pkt_end")))
        yes, no = self.block("acc.pkt"), self.block("acc.ctx?")
        b.cbranch(c, yes, no)
        b.position_at_end(yes)
        if store is None:
            vals.append((self.mem_load(self.pkt_base(), o, sz), b.block))
            self.orvar("rdl", self.lines(o, sz))
        else:
            self.mem_store(self.pkt_base(), o, sz, store)
            self.orvar("wrl", self.lines(o, sz))
        b.branch(join)
        b.position_at_end(no)
        if store is None and sz == 4:
            c = b.and_(b.and_(b.icmp_signed("==", kind, _k(K_CTX)), b.icmp_signed("<=", o, _k(20))),
                       b.icmp_signed("==", b.and_(o, _k(3)), _k(0)))
            yes, no = self.block("acc.ctx"), self.block("acc.mv?")
            b.cbranch(c, yes, no)
            b.position_at_end(yes)
            vals.append((self.ctx_load(o), b.block))
            b.branch(join)
            b.position_at_end(no)
        # map value
        m = b.and_(b.ashr(addr, _k(32)), _k(0xFFFF))
        vo = b.and_(addr, _k(M32))
        c = b.and_(b.icmp_signed("==", kind, _k(K_MAPVAL)), b.icmp_signed("<", m, self.nmaps))
        yes, slow = self.block("acc.mvrow"), self.block("acc.slow")
        b.cbranch(c, yes, slow)
        b.position_at_end(yes)
        row = b.mul(m, _k(_MAP_NCOLS))

        def col(cn):
            return self.ld(self.maps, b.add(row, _k(cn)))
        sh = col(_vm.MAP_VSHIFT)
        c1 = b.icmp_signed("<=", b.add(b.and_(vo, b.sub(b.shl(_k(1), sh), _k(1))), _k(sz)), col(_vm.MAP_VALUE_SIZE))
        c2 = b.icmp_signed("<", vo, b.shl(b.mul(col(_vm.MAP_MAX_ENTRIES), col(_vm.MAP_NCOPIES)), sh))
        c = b.and_(c1, c2)
        if store is not None:
            c = b.and_(c, b.icmp_signed("==", col(_vm.MAP_RDONLY), _k(0)))
        mo = b.add(col(_vm.MAP_VBASE), vo)
        yes2 = self.block("acc.mv")
        b.cbranch(c, yes2, slow)
        b.position_at_end(yes2)
        if store is None:
            vals.append((self.mem_load(self.um, mo, sz), b.block))
        else:
            self.mem_store(self.um, mo, sz, store)
        b.branch(join)
        # everything else, and every fault: the interpreter's generic code
        b.position_at_end(slow)
        if store is None:
            v = self.native(1, [addr, _k(sz), _k(info), _k(pc)])
        else:
            self.native(2, [addr, _k(sz), store, _k(info), _k(pc)])
        self.check_err(after)
        if store is None:
            vals.append((v, b.block))
        b.branch(join)
        b.position_at_end(join)
        if store is None:
            phi = b.phi(_i64)
            for v, blk in vals:
                phi.add_incoming(v, blk)
            return phi
        return None

    def ctx_load(self, o):
        """_jit_ctx: a 4-byte load of struct xdp_md field at offset o (0..20, aligned)."""
        b = self.b
        f = b.ashr(o, _k(2))
        pk = _k(K_PKT << PTR_SHIFT)
        v = b.and_(self.ld(self.xdp, XB_EGRESS_IFINDEX), _k(M32))
        for fi, val in ((4, lambda: b.and_(self.ld(self.xdp, XB_RX_QUEUE_INDEX), _k(M32))),
                        (3, lambda: b.and_(self.ld(self.xdp, XB_INGRESS_IFINDEX), _k(M32))),
                        (2, lambda: b.or_(pk, self.ld(self.xdp, XB_DATA_META))),
                        (1, lambda: b.or_(pk, self.ld(self.xdp, XB_DATA_END))),
                        (0, lambda: b.or_(pk, self.ld(self.xdp, XB_DATA)))):
            v = b.select(b.icmp_signed("==", f, _k(fi)), val(), v)
        return v

    # -- ALU
    def alu(self, op, a, bv, aux, wide):
        """xdplab.bpf.vm._alu64 / _alu32 of (a, b)."""
        b = self.b
        if wide:
            if op == 0:
                return b.add(a, bv)
            if op == 1:
                return b.sub(a, bv)
            if op == 2:
                return b.mul(a, bv)
            if op in (3, 9):
                z = b.icmp_signed("==", bv, _k(0))
                d = b.select(z, _k(1), bv)
                return b.select(z, _k(0), b.udiv(a, d)) if op == 3 else b.select(z, a, b.urem(a, d))
            if op == 4:
                return b.or_(a, bv)
            if op == 5:
                return b.and_(a, bv)
            if op == 6:
                return b.shl(a, b.and_(bv, _k(63)))
            if op == 7:
                return b.lshr(a, b.and_(bv, _k(63)))
            if op == 8:
                return b.neg(a)
            if op == 10:
                return b.xor(a, bv)
            if op == 11:
                return bv
            if op == 12:
                return b.ashr(a, b.and_(bv, _k(63)))
            if op == 13:
                return self.bswap(a, aux)
            if op in (14, 15):
                z = b.icmp_signed("==", bv, _k(0))
                m1 = b.icmp_signed("==", bv, _k(-1))
                d = b.select(b.or_(z, m1), _k(1), bv)
                if op == 14:
                    return b.select(z, _k(0), b.select(m1, b.neg(a), b.sdiv(a, d)))
                return b.select(z, a, b.select(m1, _k(0), b.srem(a, d)))
            return a
        a32 = b.and_(a, _k(M32))
        b32 = b.and_(bv, _k(M32))
        m32 = lambda v: b.and_(v, _k(M32))  # noqa: E731
        if op == 0:
            return m32(b.add(a32, b32))
        if op == 1:
            return m32(b.sub(a32, b32))
        if op == 2:
            return m32(b.mul(a32, b32))
        if op in (3, 9):
            z = b.icmp_signed("==", b32, _k(0))
            d = b.select(z, _k(1), b32)
            return b.select(z, _k(0), b.udiv(a32, d)) if op == 3 else b.select(z, a32, b.urem(a32, d))
        if op == 4:
            return b.or_(a32, b32)
        if op == 5:
            return b.and_(a32, b32)
        if op == 6:
            return m32(b.shl(a32, b.and_(bv, _k(31))))
        if op == 7:
            return b.lshr(a32, b.and_(bv, _k(31)))
        if op == 8:
            return m32(b.neg(a32))
        if op == 10:
            return b.xor(a32, b32)
        if op == 11:
            return b32
        if op == 12:
            return m32(b.ashr(self.sext32(a32), b.and_(bv, _k(31))))
        if op == 13:
            return self.bswap(a, aux)
        if op in (14, 15):
            sa, sb = self.sext32(a32), self.sext32(b32)
            z = b.icmp_signed("==", sb, _k(0))
            m1 = b.icmp_signed("==", sb, _k(-1))
            d = b.select(b.or_(z, m1), _k(1), sb)
            if op == 14:
                return b.select(z, _k(0), b.select(m1, m32(b.neg(sa)), m32(b.sdiv(sa, d))))
            return b.select(z, a32, b.select(m1, _k(0), m32(b.srem(sa, d))))
        return a32

    def sext32(self, v):
        return self.b.ashr(self.b.shl(v, _k(32)), _k(32))

    def bswap(self, v, width):
        """_bswap(v, width): the low width/8 bytes reversed, zero-extended (width 16, 32, 64)."""
        b = self.b
        if width not in (16, 32, 64):
            return _k(0) if width < 8 else self._bswap_slow(v, width)
        ty = _INT[width // 8]
        f = self.mod.declare_intrinsic("llvm.bswap", [ty])
        r = b.call(f, [v if width == 64 else b.trunc(v, ty)])
        return r if width == 64 else b.zext(r, _i64)

    def _bswap_slow(self, v, width):
        b = self.b
        r = _k(0)
        for i in range(width >> 3):
            r = b.or_(b.shl(r, _k(8)), b.and_(b.ashr(v, _k(8 * i)), _k(0xFF)))
        return r

    def jcond(self, jop, a, bv):
        b = self.b
        pred = {1: ("==", False), 2: (">", True), 3: (">=", True), 4: None, 5: ("!=", False), 6: (">", False),
                7: (">=", False), 10: ("<", True), 11: ("<=", True), 12: ("<", False), 13: ("<=", False)}.get(jop, 0)
        if pred == 0:
            return ir.Constant(_i1, 1)
        if pred is None:
            return b.icmp_signed("!=", b.and_(a, bv), _k(0))
        p, unsigned = pred
        return (b.icmp_unsigned if unsigned else b.icmp_signed)(p, a, bv)

    # -- one instruction
    def insn(self, pc, k, n):
        """Emit instruction ``pc``, the k-th of its block's n; True if it ended the block."""
        b = self.b
        w, x, imm, aux = (int(v) for v in self.code[pc])
        op = w & 0xFF
        dst, src = (w >> 8) & 0xF, (w >> 12) & 0xF
        after = n - k - 1
        if op < 64:
            bv = _k(imm) if (w >> 16) & 1 else self.reg(src)
            self.setreg(dst, self.alu(op & 15, self.reg(dst), bv, aux, op < 32))
            return False
        if op < 68:
            a = self.reg(dst)
            if op == 64:
                self.setreg(dst, self.bswap(a, aux))
            elif op == 65:
                if aux in (16, 32):
                    self.setreg(dst, b.and_(a, _k(0xFFFF if aux == 16 else M32)))
            else:
                sh = _k(64 - aux)
                v = b.ashr(b.shl(self.reg(src), sh), sh)
                self.setreg(dst, v if op == 66 else b.and_(v, _k(M32)))
            return False
        if op < 126:
            jt = op - 70
            blk, jop = jt // 14, jt % 14
            a = self.reg(dst)
            bv = self.reg(src) if blk & 1 else _k(imm)
            if blk >= 2:
                if jop in (6, 7, 12, 13):
                    a, bv = self.sext32(a), self.sext32(bv)
                else:
                    a, bv = b.and_(a, _k(M32)), b.and_(bv, _k(M32))
            b.cbranch(self.jcond(jop, a, bv), self.bb[x], self.bb[pc + 1])
            return True
        if op == 126:
            b.branch(self.bb[x])
            return True
        if op == 147:
            self.setreg(dst, _k(imm))
            return False
        if op == 128:
            self.exit_insn()
            return True
        if op == 129:
            self.call_local(pc, x, after)
            return True
        if op == 127:
            self.put("helpers", b.add(self.get("helpers"), _k(1)))
            if imm == 12:
                self.tail_call(pc, after)
                return False
            cont = self.block("call.done")
            if imm == 1:
                self.lookup_array(cont)
            elif imm == 51:
                self.redirect_map_array(cont)
            # the helper takes r1..r5 from ctl (and leaves r6..r10 as they are: callee-saved)
            args = [r for r in self.regs if 1 <= r <= 5]
            self.spill(args)
            self.setreg(0, self.native(0, [_k(imm), _k(pc)]))
            self.check_err(after)
            self.reload(args)
            self.reload_pkt()
            b.branch(cont)
            b.position_at_end(cont)
            return False
        if 130 <= op < 137:
            sz = 1 << ((op - 130) if op < 134 else (op - 134))
            info = sz | (((w >> 12) & 0xF) << 12) | ((x & 0xFFFF) << 16)
            if pc in self.proven:
                at = self.proven_at(self.proven[pc])
                if not self.proven[pc].exact:
                    self.orvar("rdl", self.lines(at, sz))
                v = self.mem_load(self.pkt_base(), at, sz)
                v.name = f"pkt_rd{pc}"
            elif src == 10 and self.r10_fixed and _stack_ok(x, sz):
                v = self.mem_load(self.um, _k(FRAME + x), sz)
            else:
                v = self.access(pc, b.add(self.reg(src), _k(x)), sz, info, after)
                v.name = f"ld{pc}"
            if op >= 134 and sz < 8:
                s = _k(64 - 8 * sz)
                v = b.ashr(b.shl(v, s), s)
            self.setreg(dst, v)
            return False
        if 137 <= op < 145:
            sz = 1 << ((op - 137) if op < 141 else (op - 141))
            v = self.reg(src) if op < 141 else _k(imm)
            info = sz | (1 << 8) | (((w >> 8) & 0xF) << 12) | ((x & 0xFFFF) << 16)
            if pc in self.proven:
                at = self.proven_at(self.proven[pc])
                if not self.proven[pc].exact:
                    self.orvar("wrl", self.lines(at, sz))
                at.name = f"pkt_wr{pc}"
                self.mem_store(self.pkt_base(), at, sz, v)
            elif dst == 10 and self.r10_fixed and _stack_ok(x, sz):
                self.mem_store(self.um, _k(FRAME + x), sz, v)
            else:
                a = b.add(self.reg(dst), _k(x))
                a.name = f"st{pc}"
                self.access(pc, a, sz, info, after, store=v)
            return False
        if op in (145, 146):
            self.spill()
            self.native(3, [_k(pc), _k(w), _k(x), _k(aux)])
            self.check_err(after)
            self.reload(self.regs)
            return False
        raise JitUnsupported(f"insn {pc}: internal opcode {op}")

    def proven_at(self, a):
        """Where a proven packet access is (see _pkt_range): a constant offset from data, or its
        base register's offset and the insn's offset."""
        b = self.b
        if a.exact:
            return b.add(self.get("data"), _k(a.off))
        return b.add(b.and_(self.reg(a.reg), _k(M48)), _k(a.off))

    def lookup_array(self, cont):
        """bpf_map_lookup_elem on a (PERCPU_)ARRAY with the key on the stack, without a call
        (xdplab.bpf.vm's inline case); anything else falls through to the helper call."""
        b = self.b
        r1, r2 = self.reg(1), self.reg(2)
        m = b.and_(r1, _k(M48))
        c = b.and_(b.icmp_signed("==", b.ashr(r1, _k(PTR_SHIFT)), _k(_vm.K_MAP)), b.icmp_signed("<", m, self.nmaps))
        c = b.and_(c, b.icmp_signed("==", b.ashr(r2, _k(PTR_SHIFT)), _k(K_STACK)))
        ko = b.and_(r2, _k(M48))
        c = b.and_(c, b.icmp_signed("<=", b.add(ko, _k(4)), _k(FRAME)))
        yes, typ, slow = self.block("lk.row"), self.block("lk.fast"), self.block("lk.slow")
        b.cbranch(c, yes, slow)
        b.position_at_end(yes)
        row = b.mul(m, _k(_MAP_NCOLS))

        def col(cn):
            return self.ld(self.maps, b.add(row, _k(cn)))
        t = col(_vm.MAP_TYPE)
        b.cbranch(b.or_(b.icmp_signed("==", t, _k(2)), b.icmp_signed("==", t, _k(6))), typ, slow)
        b.position_at_end(typ)
        idx = self.mem_load(self.um, ko, 4)
        nc = col(_vm.MAP_NCOPIES)
        cpu = b.select(b.icmp_signed(">", nc, _k(1)), self.ld(self.env, _vm.ENV_CPU), _k(0))
        v = b.or_(b.or_(_k(K_MAPVAL << PTR_SHIFT), b.shl(m, _k(32))),
                  b.shl(b.add(b.mul(idx, nc), cpu), col(_vm.MAP_VSHIFT)))
        self.setreg(0, b.select(b.icmp_signed(">=", idx, col(_vm.MAP_MAX_ENTRIES)), _k(0), v))
        b.branch(cont)
        b.position_at_end(slow)

    def redirect_map_array(self, cont):
        """bpf_redirect_map(map, key, flags) on a DEVMAP, CPUMAP or XSKMAP with flags 0-3, without
        a call: what xdplab.bpf.vm._call_helper does (and leaves) for it, store for store: the key
        in the helper scratch, the slot (NULL past max_entries or when empty), the redirect info
        in env, r0 XDP_REDIRECT or the fallback action ``flags & 3``.  (6.1's verifier only turns
        the helper into a direct call of the map's ``map_redirect`` op, e.g. cpu_map_redirect;
        this is how the lab saves the simulator's own call, not a kernel feature.)  Anything
        else (other map types, BPF_F_BROADCAST and other flags, a bad map argument) falls
        through to the helper call."""
        b = self.b
        r1, r3 = self.reg(1), self.reg(3)
        m = b.and_(r1, _k(M48))
        c = b.and_(b.icmp_signed("==", b.ashr(r1, _k(PTR_SHIFT)), _k(_vm.K_MAP)), b.icmp_signed("<", m, self.nmaps))
        c = b.and_(c, b.icmp_signed("==", b.and_(r3, _k(~3)), _k(0)))
        yes, typ, slow = self.block("rm.row"), self.block("rm.fast"), self.block("rm.slow")
        b.cbranch(c, yes, slow)
        b.position_at_end(yes)
        row = b.mul(m, _k(_MAP_NCOLS))

        def col(cn):
            return self.ld(self.maps, b.add(row, _k(cn)))
        t = col(_vm.MAP_TYPE)
        ok = b.icmp_signed("==", t, _k(_REDIRECT_INLINE_TYPES[0]))
        for mt in _REDIRECT_INLINE_TYPES[1:]:
            ok = b.or_(ok, b.icmp_signed("==", t, _k(mt)))
        b.cbranch(ok, typ, slow)
        b.position_at_end(typ)
        key = b.and_(self.reg(2), _k(M32))
        self.mem_store(self.um, _k(SCRATCH_OFF), 4, key)          # (_call_helper leaves it there)
        inr, miss, hit = (self.block(n) for n in ("rm.inrange", "rm.miss", "rm.hit"))
        b.cbranch(b.icmp_signed("<", key, col(_vm.MAP_MAX_ENTRIES)), inr, miss)
        b.position_at_end(inr)
        e = b.add(col(_vm.MAP_EBASE), key)
        b.cbranch(b.icmp_signed("!=", self.ld(self.elems, b.add(b.mul(e, _k(_EL_NCOLS)), _k(EL_USED))), _k(0)),
                  hit, miss)
        # an index past max_entries or an empty slot: the fallback action (flags & 8 is 0 here)
        b.position_at_end(miss)
        self.st(self.env, ENV_RI_MAP_ID, _vm.INT_MAX)
        self.st(self.env, ENV_RI_MAP_TYPE, 0)
        self.st(self.env, ENV_RI_TGT_VALUE, -1)
        self.setreg(0, b.and_(r3, _k(3)))
        b.branch(cont)
        b.position_at_end(hit)
        self.st(self.env, ENV_RI_TGT_INDEX, key)
        self.st(self.env, ENV_RI_MAP_ID, col(_vm.MAP_ID))
        self.st(self.env, ENV_RI_MAP_TYPE, t)
        self.st(self.env, ENV_RI_FLAGS, 0)
        # CPUMAP: the target CPU is the key; DEVMAP/XSKMAP: the value's first u32 (the ifindex / socket)
        vo = b.add(col(_vm.MAP_VBASE), b.shl(b.mul(key, col(_vm.MAP_NCOPIES)), col(_vm.MAP_VSHIFT)))
        self.st(self.env, ENV_RI_TGT_VALUE,
                b.select(b.icmp_signed("==", t, _k(16)), key, self.mem_load(self.um, vo, 4)))
        self.setreg(0, _k(XDP_REDIRECT))
        b.branch(cont)
        b.position_at_end(slow)

    def exit_insn(self):
        b = self.b
        if not self.calls:
            self.put("ret", self.reg(0))
            b.branch(self.out)
            return
        d = self.get("depth")
        done, pop = self.block("exit.main"), self.block("exit.pop")
        b.cbranch(b.icmp_signed("==", d, _k(0)), done, pop)
        b.position_at_end(done)
        self.put("ret", self.reg(0))
        b.branch(self.out)
        b.position_at_end(pop)
        d1 = b.sub(d, _k(1))
        self.put("depth", d1)
        base = b.add(_k(CTL_FRAMES), b.mul(d1, _k(6)))
        rpc = self.ld(self.ctl, base)
        for i, r in enumerate((6, 7, 8, 9, 10)):
            self.setreg(r, self.ld(self.ctl, b.add(base, _k(i + 1))))
        top = b.mul(b.add(d1, _k(1)), _k(FRAME))
        self.put("stack_top", top)
        self.st(self.ctl, CTL_JIT_STACK_TOP, top)
        bad = self.block("exit.bad")
        sw = b.switch(rpc, bad)
        for rp in self.ret_points:
            sw.add_case(_k(rp), self.bb[rp])
        b.position_at_end(bad)          # (no other return address is ever saved)
        self.put("ret", XDP_ABORTED)
        b.branch(self.out)

    def call_local(self, pc, x, after):
        """call pc+N: the interpreter's frame push (CTL_FRAMES: return pc, r6..r9, r10)."""
        b = self.b
        d = self.get("depth")
        deep, ok = self.block("call.deep"), self.block("call.push")
        b.cbranch(b.icmp_signed(">=", b.add(d, _k(1)), _k(8)), deep, ok)
        b.position_at_end(deep)
        self.raise_fault(_vm.FAULT_CALL_DEPTH, pc, b.add(d, _k(1)), _k(0), _k(0))
        self.fault_exit(after)
        b.position_at_end(ok)
        base = b.add(_k(CTL_FRAMES), b.mul(d, _k(6)))
        self.st(self.ctl, base, pc + 1)
        for i, r in enumerate((6, 7, 8, 9, 10)):
            self.st(self.ctl, b.add(base, _k(i + 1)), self.reg(r))
        d1 = b.add(d, _k(1))
        self.put("depth", d1)
        top = b.mul(b.add(d1, _k(1)), _k(FRAME))
        self.put("stack_top", top)
        self.st(self.ctl, CTL_JIT_STACK_TOP, top)
        self.setreg(10, b.or_(_k(K_STACK << PTR_SHIFT), top))
        b.branch(self.bb[x])

    def raise_fault(self, code, pc, a, bb_, c):
        for slot, v in ((ENV_ERR, _k(code)), (ENV_ERR_PC, _k(pc)), (ENV_ERR_A, a), (ENV_ERR_B, bb_), (ENV_ERR_C, c)):
            self.st(self.env, slot, v)

    def tail_call(self, pc, after):
        """bpf_tail_call: the target's translation goes on with this run (its tail entry, with the
        counts in env), or, untranslated, the interpreter does (CTL_RESUME at its first insn)."""
        b = self.b
        self.spill()
        t = self.native(4, [_k(pc)])
        self.check_err(after)
        go, miss = self.block("tail.go"), self.block("tail.miss")
        b.cbranch(b.icmp_signed(">=", t, _k(0)), go, miss)
        b.position_at_end(go)
        self.st(self.ctl, 10, _k((K_STACK << PTR_SHIFT) | FRAME))
        if self.touches:
            self.st(self.ctl, CTL_PKT_RD, b.or_(self.ld(self.ctl, CTL_PKT_RD), self.get("rdl")))
            self.st(self.ctl, CTL_PKT_WR, b.or_(self.ld(self.ctl, CTL_PKT_WR), self.get("wrl")))
        self.st(self.env, ENV_INSNS, b.add(self.get("left"), _k(after)))
        self.st(self.env, ENV_HELPER_CALLS, self.get("helpers"))
        row = b.mul(t, _k(_PR_NCOLS))
        addr = self.ld(self.progs, b.add(row, _k(PR_JIT)))
        nat, interp = self.block("tail.native"), self.block("tail.interp")
        b.cbranch(b.icmp_signed("!=", addr, _k(0)), nat, interp)
        b.position_at_end(nat)
        self.st(self.ctl, CTL_TAIL_ENTRY, 1)
        f = b.inttoptr(addr, self.fn.function_type.as_pointer())
        r = b.call(f, list(self.fn.args), tail=True)
        b.ret(r)
        b.position_at_end(interp)
        self.st(self.ctl, CTL_RESUME, b.add(self.ld(self.progs, b.add(row, _k(PR_START))), _k(1)))
        self.st(self.ctl, CTL_RESUME_DEPTH, 0)
        b.ret(_k(0))
        b.position_at_end(miss)
        self.setreg(0, _k(-2))               # -ENOENT: the program goes on

    # -- the whole program
    def build(self):
        bs_t, payload_t = _state_types()
        self.bs_t = bs_t
        mod = self.mod = ir.Module(name="xdplab_bpf_jit")
        fn = self.fn = ir.Function(mod, ir.FunctionType(_i64, [bs_t] + [_i64] * 5), name=PROG_NAME)
        fn.attributes.add("nounwind")
        self.bsv, mem_a, rows, cols, xdp_a, env_a = fn.args
        entry = fn.append_basic_block("entry")
        b = self.b = ir.IRBuilder(entry)
        self.v = {name: b.alloca(_i64, name=name) for name in
                  [f"r{i}" for i in range(11)] + ["left", "helpers", "ret", "resume", "rdl", "wrl", "data",
                                                  "pkt_end", "pkt_lo", "page", "depth", "stack_top", "budget"]}
        mi = b.bitcast(b.extract_value(self.bsv, 0), _MEMINFO.as_pointer())
        payload = b.bitcast(b.load(b.gep(mi, [_i32(0), _i32(3)])), payload_t.as_pointer())

        def field(i, j=4):
            return b.load(b.gep(payload, [_i32(0), _i32(i), _i32(j)]))
        self.ctl, self.um, self.maps, self.progs = field(_F_CTL), field(_F_UMEM), field(_F_MAPS), field(_F_PROGS)
        self.elems = field(_F_ELEMS)
        self.nmaps = b.load(b.gep(payload, [_i32(0), _i32(_F_MAPS), _i32(5), _i32(0)]))
        self.mem = b.inttoptr(mem_a, _i8.as_pointer())
        self.cols = cols
        self.xdp = b.inttoptr(xdp_a, _i64.as_pointer())
        self.env = b.inttoptr(env_a, _i64.as_pointer())
        self.out = self.block("out")
        self.bb = {pc: self.block(f"b{pc}") for pc in self.blocks}
        if self.touches:
            # where a slow path finds the run's arrays (_run_arrays) and the frame's stack top
            for i, v in enumerate((mem_a, rows, cols, xdp_a, env_a)):
                self.st(self.ctl, CTL_JIT_RUN + i, v)
            self.st(self.ctl, CTL_JIT_STACK_TOP, FRAME)
        budget = self.ld(self.env, ENV_INSN_BUDGET)
        budget = b.select(b.icmp_signed("<=", budget, _k(0)), _k(_vm.DEFAULT_INSN_BUDGET), budget)
        self.put("budget", budget)
        for var in ("ret", "resume", "rdl", "wrl", "depth"):
            self.put(var, 0)
        self.put("stack_top", FRAME)
        self.put("page", self.ld(self.xdp, XB_PAGE))
        self.reload_pkt()
        self.setreg(10, _k((K_STACK << PTR_SHIFT) | FRAME))
        for i in self.regs:
            if i not in (1, 10):
                self.setreg(i, self.ld(self.ctl, i))
        fresh = self.block("fresh")
        go = self.block("go")
        if self.tail_entry:
            # entered by another program's bpf_tail_call: its counts are in env, its registers in ctl
            tail = self.block("tail_entry")
            b.cbranch(b.icmp_signed("!=", self.ld(self.ctl, CTL_TAIL_ENTRY), _k(0)), tail, fresh)
            b.position_at_end(tail)
            self.st(self.ctl, CTL_TAIL_ENTRY, 0)
            self.put("left", self.ld(self.env, ENV_INSNS))
            self.put("helpers", self.ld(self.env, ENV_HELPER_CALLS))
            self.setreg(1, self.ld(self.ctl, 1))
            b.branch(go)
        else:
            b.branch(fresh)
        b.position_at_end(fresh)
        self.st(self.env, ENV_ERR, 0)
        self.st(self.ctl, CTL_TAILCNT, 0)
        if self.touches:
            # what the run reads and writes of the packet (the board's DMA model takes it from here);
            # a program without a memory access or a helper call touches nothing and leaves them be
            for slot in (CTL_PKT_RD, CTL_PKT_WR, CTL_TOUCH):
                self.st(self.ctl, slot, 0)
        self.put("left", budget)
        self.put("helpers", 0)
        self.setreg(1, _k(K_CTX << PTR_SHIFT))
        b.branch(go)
        b.position_at_end(go)
        if self.dag:
            # No jump goes back, so each block runs at most once: with budget for the whole program,
            # no block needs a check of its own; with less, the interpreter runs it from the start
            total = sum(len(p) for p in self.blocks.values())
            short = self.block("short")
            b.cbranch(b.icmp_signed("<", self.get("left"), _k(total)), short, self.bb[self.start])
            b.position_at_end(short)
            self.put("resume", self.start + 1)
            b.branch(self.out)
        else:
            b.branch(self.bb[self.start])
        for blk, pcs in self.blocks.items():
            b.position_at_end(self.bb[blk])
            n = len(pcs)
            if not self.dag:
                # the budget, per block: a block it does not cover goes to the interpreter
                short, run = self.block(f"b{blk}.short"), self.block(f"b{blk}.run")
                b.cbranch(b.icmp_signed("<", self.get("left"), _k(n)), short, run)
                b.position_at_end(short)
                self.put("resume", blk + 1)
                b.branch(self.out)
                b.position_at_end(run)
            self.put("left", b.sub(self.get("left"), _k(n)))
            lines = _exact_lines(self.code, pcs, self.proven)
            ended = False
            for k, pc in enumerate(pcs):
                for kind, lo, ln in lines.get(pc, ()):
                    self.orvar(kind, self.lines(b.add(self.get("data"), _k(lo)), ln))
                ended = self.insn(pc, k, n)
            if not ended:
                last = pcs[-1]
                nxt = last + 1 if (int(self.code[last, 0]) & 0xFF) != 147 else int(self.code[last, 1])
                b.branch(self.bb[nxt])
        # the end of every run: registers back where the interpreter keeps them, the counts in env
        b.position_at_end(self.out)
        self.spill()
        if self.touches:
            self.st(self.ctl, CTL_PKT_RD, b.or_(self.ld(self.ctl, CTL_PKT_RD), self.get("rdl")))
            self.st(self.ctl, CTL_PKT_WR, b.or_(self.ld(self.ctl, CTL_PKT_WR), self.get("wrl")))
        handed, done = self.block("handed_over"), self.block("done")
        resume = self.get("resume")
        b.cbranch(b.icmp_signed("!=", resume, _k(0)), handed, done)
        b.position_at_end(handed)
        self.st(self.ctl, CTL_RESUME, resume)
        if self.calls:
            self.st(self.ctl, CTL_RESUME_DEPTH, self.get("depth"))
        self.st(self.env, ENV_INSNS, self.get("left"))
        self.st(self.env, ENV_HELPER_CALLS, self.get("helpers"))
        b.ret(_k(0))
        b.position_at_end(done)
        self.st(self.env, ENV_INSNS, b.sub(self.get("budget"), self.get("left")))
        self.st(self.env, ENV_HELPER_CALLS, self.get("helpers"))
        b.ret(self.get("ret"))
        return str(mod)


def _writes_r10(w):
    """True if the instruction (decoded word ``w``) can write r10."""
    op = w & 0xFF
    dst, src = (w >> 8) & 0xF, (w >> 12) & 0xF
    if op < 68 or 130 <= op < 137 or op == 147:
        return dst == 10
    return op in (145, 146) and src == 10          # an atomic's fetch writes its source register


def _stack_ok(off, sz):
    """An access of ``sz`` bytes at r10 + ``off`` (r10 at the top of the main frame) that the
    interpreter's inline stack case takes: inside the frame, 8-byte ones aligned."""
    o = FRAME + off
    return 0 <= o and o + sz <= FRAME and (sz != 8 or o % 8 == 0)


def _exact_lines(code, pcs, proven):
    """The cache lines the block's proven constant-offset packet accesses (``data + N``) touch,
    to record once per stretch of the block that nothing can leave early, at the stretch's first
    such access: {pc: [("rdl" | "wrl", offset from data, bytes)]}.  One mask per run of nearby
    accesses instead of one per access: a parser's header reads are a few masks a packet.  A
    stretch ends at whatever can fault or move ``data`` (a helper call, an atomic, a memory access
    that is not a proven packet access), so every access it counts does run: the lines are the
    interpreter's, exactly."""
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
                out[first] = [("rdl", lo, hi - lo) for lo, hi in _runs(rd)] + \
                    [("wrl", lo, hi - lo) for lo, hi in _runs(wr)]
            first, rd, wr = None, [], []
    return out


def jit_ir(code: np.ndarray, start: int, length: int, prove: bool = True, tail_entry: bool = False) -> str:
    """LLVM IR of the translated program: one function named PROG_NAME (JIT_SIG).  ``prove=False``
    keeps the run-time check of every packet access, proven or not (benchmarks/bench_vm.py
    measures what the proofs are worth); ``tail_entry``: another program may tail-call it."""
    return _Translator(code, start, length, prove, tail_entry).build()


jit_source = jit_ir          # (its name when the translation was Python source for numba)


# ---- compiling and attaching ---------------------------------------------------------------------
#
# LLVM through llvmlite, in an LLVM context, target machine and MCJIT engine of our own (not
# numba's): a translation takes no numba lock, and the LLVM calls (ctypes) release the GIL, so a
# translation in a background thread runs beside the simulator (see bpf_prog_jit(wait=False)).
# Each object file is kept on disk under numba's cache directory, keyed by the program's rows, the
# LLVM version and the host CPU: a program compiles once per machine, later processes load it.

_LOCK = threading.RLock()
_LOADED: dict[str, int] = {}
_LLVM = {}


def _jit_dir() -> str:
    d = os.path.join(numba.config.CACHE_DIR, "bpf-jit")
    os.makedirs(d, exist_ok=True)
    return d


def _llvm():
    if not _LLVM:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        cpu, feats = llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
        target = llvm.Target.from_default_triple()
        for level in (0, 2):
            _LLVM[level] = target.create_target_machine(cpu=cpu, features=feats, opt=level, codemodel="jitdefault")
        _LLVM["ctx"] = llvm.create_context()
        _LLVM["ee"] = llvm.create_mcjit_compiler(llvm.parse_assembly("", context=_LLVM["ctx"]), _LLVM[2])
        _LLVM["tag"] = f"{llvm.llvm_version_info}|{cpu}|{feats}|{llvm.get_process_triple()}"
    return _LLVM


BIG_PROG = 1500
HUGE_PROG = 3000


def opt_level(n_insns: int) -> int:
    """How hard LLVM works on a program of ``n_insns``: 2 (its O2 passes and code generator) up to
    BIG_PROG instructions; 1 (registers promoted, constants folded, dead code dropped, then O2's
    code generator) up to HUGE_PROG; 0 past that (the same passes, the fast code generator).
    LLVM's O2 passes take time that grows faster than the function, and so, less steeply, does
    O2's code generator (its register allocator); the fast code generator's code runs ~5x slower.
    Measured (benchmarks/bench_jit_level.py, bigfilter.c, CPU seconds of a cold translation and ns
    per run, on this 2-core machine under a load average of 7; wall seconds were 2-3x the CPU):
    1176 instructions level 2: 2.2 s, 68 ns; 2559: level 2 7.3 s, 72 ns / level 1 4.3 s, 59 ns /
    level 0 1.6 s, 331 ns; 5185: level 2 31 s, 74 ns / level 1 18.6 s, 58 ns / level 0 6.2 s,
    331 ns (the interpreter: 430 ns; the host kernel's JIT: 16 ns)."""
    return 2 if n_insns <= BIG_PROG else 1 if n_insns <= HUGE_PROG else 0


def _optimize(mod, tm, level):
    if level >= 2:
        pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=2))
        pb.getModulePassManager().run(mod, pb)
        return
    pm = llvm.create_new_module_pass_manager()
    pm.add_sroa_pass()
    pm.add_instruction_combine_pass()
    pm.add_simplify_cfg_pass()
    pm.add_sccp_pass()
    pm.add_aggressive_dce_pass()
    pm.add_simplify_cfg_pass()
    pm.run(mod, llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=1)))


def _compile(key: str, make_ir, level: int = 2) -> int:
    """The entry address of the translation ``key``: loaded (this process, or the disk cache), or
    compiled at ``level`` (see opt_level) from the IR ``make_ir()`` returns."""
    L = _llvm()
    key = hashlib.sha1(f"{L['tag']}|O{level}|{key}".encode()).hexdigest()[:24]
    name = f"xdplab_bpf_{key}"
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
    path = os.path.join(_jit_dir(), f"bpfjit_{key}.o")
    obj = None
    if os.path.exists(path):
        with open(path, "rb") as fh:
            obj = fh.read()
    if obj is None:
        ir_text = make_ir()
        with _LOCK:         # (one LLVM context: one translation at a time)
            mod = llvm.parse_assembly(ir_text.replace(f'"{PROG_NAME}"', f'"{name}"'), context=L["ctx"])
            mod.verify()
            tm = L[2 if level >= 1 else 0]
            _optimize(mod, tm, level)
            obj = tm.emit_object(mod)
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(obj)
        os.replace(tmp, path)
    with _LOCK:
        if key not in _LOADED:
            L["ee"].add_object_file(llvm.ObjectFileRef.from_data(obj))
            L["ee"].finalize_object()
            _LOADED[key] = L["ee"].get_function_address(name)
        return _LOADED[key]


def _has_prog_array(state) -> bool:
    return bool((np.asarray(state.maps)[:, _vm.MAP_TYPE] == _BPF_MAP_TYPE_PROG_ARRAY).any())


def bpf_prog_jit(state, prog_index: int, prove: bool = True, switch: bool = True) -> int:
    """Translate program ``prog_index`` of a loaded object's ``state`` and switch its runs to the
    native code (``state.progs[i, PR_JIT]``: the board and test_run read it before each run;
    ``switch=False`` leaves that to the caller).  Returns the entry address; raises
    JitUnsupported (with the reason) for a program that stays interpreted.  (``prove``: see
    jit_ir.)"""
    start = int(state.progs[prog_index, PR_START])
    length = int(state.progs[prog_index, PR_LEN])
    tail = _has_prog_array(state)
    why = jit_unsupported(state.code, start, length)
    if why:
        raise JitUnsupported(why)
    # The translation is a function of the program's rows, where they start and these flags (and of
    # this module's code: the cache directory changes with every xdplab source, _twospeed), so a
    # program translated before is loaded without building its IR again
    rows = np.ascontiguousarray(state.code[start:start + length]).tobytes()
    key = f"{start}|{length}|{int(prove)}|{int(tail)}|" + hashlib.sha1(rows).hexdigest()
    addr = _compile(key, lambda: jit_ir(state.code, start, length, prove, tail_entry=tail), opt_level(length))
    for i, f in enumerate(_NATIVE):
        state.ctl[CTL_JIT_CALLS + i] = f.address
    if switch:
        state.progs[prog_index, PR_JIT] = addr
    return addr
