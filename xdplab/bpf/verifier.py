"""A load-time verifier for what learners hit: the checks of Linux 6.1's kernel/bpf/verifier.c
that XDP programs fail most, with the kernel's own message text.

The loader (:func:`xdplab.bpf.loader.decode_programs`) calls :func:`verify_program` for every
program before it can run.  Like ``do_check`` it walks every path of the program from the
first instruction with an abstract state per register (``scalar`` with the kernel's bounds
and tnum, ``ctx``, ``pkt``/``pkt_meta`` with a fixed offset, an id and a checked ``range``,
``pkt_end``, ``fp``, ``map_value``, ``map_value_or_null``, ``map_ptr``) and per stack byte
(invalid, misc, zero, spilled register), in the kernel's order (the fall-through first), and
rejects, with the kernel's message, the instruction listing of the path and the C source line:

* a packet access outside the range a compare with ``data_end`` proved (no check, off by one),
  ``invalid access to packet, off=.. size=.., R2(id=..,off=..,r=..)`` / ``R2 offset is outside
  of the packet`` (``check_packet_access``, ``find_good_pkt_pointers``);
* arithmetic on ``pkt_end``, on a map pointer, on a lookup result before its NULL check, bitwise
  operators and 32-bit arithmetic on pointers (``adjust_ptr_min_max_vals``);
* ctx access of the wrong size or offset, 8-byte loads of ``xdp_md`` fields, writes to it
  (``xdp_is_valid_access``), a modified ctx pointer dereferenced;
* a register read before it is written (``R3 !read_ok``), a stack byte read before it is
  written (``invalid read from stack off -8+0 size 8``, and helpers' ``invalid indirect read``);
* a NULL from ``bpf_map_lookup_elem()`` dereferenced (``R0 invalid mem access
  'map_value_or_null'``), a map value read or written outside its size, a write to a
  read-only map;
* a helper argument of the wrong type (``R2 type=scalar expected=fp, pkt, ...``), a map the
  helper does not take (``cannot pass map_type 16 into func ...``);
* a loop that comes back to the same state (``infinite loop detected at insn N``); bounded
  loops are walked iteration by iteration, as the kernel walks them, and load; states are
  kept and dropped by the kernel's heuristics (``is_state_visited``); a loop whose turns
  repeat is computed rather than walked past the lab's budget (:meth:`Verifier.fast_forward`),
  to the kernel's ``BPF program is too large. Processed 1000001 insn``, ``The sequence of 8193
  jumps is too complex.`` or the turn where something changes;
* an unreachable instruction (``check_cfg``).

**It never rejects what Linux accepts.**  Where the lab cannot decide as the kernel would, it
accepts and the VM's run-time checks stay the safety net: every value whose bounds may be
wider than the kernel's (32-bit arithmetic, multiplications, reads of ``.rodata`` whose
contents the kernel knows once libbpf froze the map) is marked, and a path that a branch on
such a value opened is one the kernel may never walk, so an error found on it makes the
verifier give up instead of rejecting.  It also gives up on what it does not model:
BPF-to-BPF calls, helpers it has no prototype for, variable-offset stack pointers, and a
program whose walk takes more than ``MAX_STEPS`` instructions (the kernel walks up to 1M)
that :meth:`Verifier.fast_forward` cannot compute.  Precision tracking is not modelled: every
scalar is compared exactly when pruning, which prunes less than the kernel, never more.
``verify_program`` returns a :class:`VerifierResult` saying which.

Privileged loading (CAP_BPF + CAP_PERFMON, what XDP needs) is modelled: bounded loops are
allowed and ``back-edge from insn %d to %d`` never applies, pointer comparisons and
``pointer - pointer`` are allowed.
"""

from __future__ import annotations

import gc
import math
import os
import time
from dataclasses import dataclass, field

from .helpers import HELPER_NAMES
from .insn import disasm_one, unpack
from .loader import BpfLoadError
from .maps import (BPF_MAP_TYPE_CPUMAP, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH,
                   BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_RINGBUF,
                   BPF_MAP_TYPE_XSKMAP)

__all__ = ["verify_program", "BpfVerifierError", "VerifierResult", "MAX_STEPS"]

BPF_COMPLEXITY_LIMIT_INSNS = 1_000_000       # kernel/bpf/verifier.c (6.1)
BPF_COMPLEXITY_LIMIT_JMP_SEQ = 8192          # branches left for later (env->stack_size)
MAX_STEPS = 50_000              # instructions walked before giving up (the kernel's limit is 1M); a count,
                                # not a time, so that what loads does not depend on the machine's load
U64 = (1 << 64) - 1
S64_MIN = -(1 << 63)
S64_MAX = (1 << 63) - 1
BPF_MAX_VAR_OFF = 1 << 29
BPF_MAX_VAR_SIZ = 1 << 29
MAX_PACKET_OFF = 0xFFFF
AT_PKT_END = -1
BEYOND_PKT_END = -2

# enum bpf_reg_type names as reg_type_str() prints them
NOT_INIT, SCALAR, CTX, PKT, META, END, FP, MV, MVN, MAP = ("?", "scalar", "ctx", "pkt", "pkt_meta",
                                                          "pkt_end", "fp", "map_value",
                                                          "map_value_or_null", "map_ptr")


class BpfVerifierError(BpfLoadError):
    """The kernel's verifier would refuse the program: a :class:`~xdplab.bpf.loader.BpfLoadError`
    whose message is the verifier's (``kernel_lines``), with the path's instruction listing,
    the source line and a hint; ``insn`` is the failing instruction."""


class _GiveUp(Exception):
    """The lab cannot decide as the kernel would: accept, keep the run-time checks."""


class _Reject(Exception):
    def __init__(self, pc, lines, hint=""):
        super().__init__(lines[0])
        self.pc = pc
        self.lines = lines
        self.hint = hint


@dataclass
class VerifierResult:
    """What the verifier decided for one program: ``verdict`` is 'accept' (every path walked,
    nothing wrong), 'unsure' (accepted: it gave up, ``reason`` says why) or 'reject'."""
    verdict: str
    reason: str = ""
    steps: int = 0
    seconds: float = 0.0
    message: str = ""
    kernel_lines: list = field(default_factory=list)


# ------------------------------------------------------------------------------ tnum
def _s64(v):
    v &= U64
    return v - (1 << 64) if v >> 63 else v


def _u64(v):
    return v & U64


def t_add(a, b):
    sm = (a[1] + b[1]) & U64
    sv = (a[0] + b[0]) & U64
    sigma = (sm + sv) & U64
    chi = sigma ^ sv
    mu = chi | a[1] | b[1]
    return (sv & ~mu & U64, mu)


def t_sub(a, b):
    dv = (a[0] - b[0]) & U64
    alpha = (dv + a[1]) & U64
    beta = (dv - b[1]) & U64
    chi = alpha ^ beta
    mu = chi | a[1] | b[1]
    return (dv & ~mu & U64, mu)


def t_and(a, b):
    alpha = a[0] | a[1]
    beta = b[0] | b[1]
    v = a[0] & b[0]
    return (v, alpha & beta & ~v & U64)


def t_or(a, b):
    v = a[0] | b[0]
    mu = a[1] | b[1]
    return (v, mu & ~v & U64)


def t_xor(a, b):
    v = a[0] ^ b[0]
    mu = a[1] | b[1]
    return (v & ~mu & U64, mu)


def t_lsh(a, s):
    return ((a[0] << s) & U64, (a[1] << s) & U64)


def t_rsh(a, s):
    return (a[0] >> s, a[1] >> s)


def t_mul(a, b):
    acc_v = (a[0] * b[0]) & U64
    acc_m = (0, 0)
    while a[0] or a[1]:
        if a[0] & 1:
            acc_m = t_add(acc_m, (0, b[1]))
        elif a[1] & 1:
            acc_m = t_add(acc_m, (0, b[0] | b[1]))
        a = t_rsh(a, 1)
        b = t_lsh(b, 1)
    return t_add((acc_v, 0), acc_m)


def t_range(lo, hi):
    chi = lo ^ hi
    bits = chi.bit_length()
    if bits > 63:
        return (0, U64)
    delta = (1 << bits) - 1
    return (lo & ~delta & U64, delta)


def t_intersect(a, b):
    v = a[0] | b[0]
    mu = a[1] & b[1]
    return (v & ~mu & U64, mu)


def t_in(a, b):
    """b is a subset of a (tnum_in)."""
    if b[1] & ~a[1]:
        return False
    return (b[0] & ~a[1]) == a[0]


def t_str(t):
    if t[1] == 0:
        return f"{t[0]:#x}" if t[0] else "0x0"
    return f"({t[0]:#x}; {t[1]:#x})"


# ------------------------------------------------------------------------------ registers
class R:
    """One register's abstract value (immutable; ``replace`` makes a changed copy)."""
    __slots__ = ("t", "off", "id", "rng", "m", "umin", "umax", "smin", "smax", "tv", "tm", "wide")

    def __init__(self, t, off=0, id=0, rng=0, m=-1, umin=0, umax=0, smin=0, smax=0, tv=0, tm=0, wide=False):
        self.t, self.off, self.id, self.rng, self.m = t, off, id, rng, m
        self.umin, self.umax, self.smin, self.smax, self.tv, self.tm = umin, umax, smin, smax, tv, tm
        self.wide = wide

    def key(self):
        return (self.t, self.off, self.id, self.rng, self.m, self.umin, self.umax, self.smin, self.smax,
                self.tv, self.tm)

    def replace(self, **kw):
        r = R(self.t, self.off, self.id, self.rng, self.m, self.umin, self.umax, self.smin, self.smax,
              self.tv, self.tm, self.wide)
        for k, v in kw.items():
            setattr(r, k, v)
        return r

    @property
    def const(self):
        return self.tm == 0

    def is_ptr(self):
        return self.t not in (SCALAR, NOT_INIT)


R_NOT_INIT = R(NOT_INIT)


def known(v, wide=False):
    v &= U64
    return R(SCALAR, umin=v, umax=v, smin=_s64(v), smax=_s64(v), tv=v, tm=0, wide=wide)


def unknown(wide=False):
    return R(SCALAR, umin=0, umax=U64, smin=S64_MIN, smax=S64_MAX, tv=0, tm=U64, wide=wide)


def sized(nbytes, wide=False):
    """A value zero-extended from ``nbytes`` bytes (a load, coerce_reg_to_size)."""
    if nbytes >= 8:
        return unknown(wide)
    mask = (1 << (8 * nbytes)) - 1
    return R(SCALAR, umin=0, umax=mask, smin=0, smax=mask, tv=0, tm=mask, wide=wide)


def _sync(r):
    """reg_bounds_sync (64-bit part): bounds from the tnum, signed from unsigned, tnum from bounds."""
    for _ in range(2):
        tv, tm = r.tv, r.tm
        r.smin = max(r.smin, _s64(tv | (tm & (1 << 63))))
        r.smax = min(r.smax, _s64(tv | (tm & S64_MAX)))
        r.umin = max(r.umin, tv)
        r.umax = min(r.umax, tv | tm)
        # __reg64_deduce_bounds
        if r.smin >= 0 or r.smax < 0:
            lo = max(_u64(r.smin), r.umin)
            hi = min(_u64(r.smax), r.umax)
            r.umin, r.umax = lo, hi
            r.smin, r.smax = _s64(lo), _s64(hi)
        elif _s64(r.umax) >= 0:
            r.smin = r.umin
            hi = min(_u64(r.smax), r.umax)
            r.smax = _s64(hi)
            r.umax = hi
        elif _s64(r.umin) < 0:
            lo = max(_u64(r.smin), r.umin)
            r.umin = lo
            r.smin = _s64(lo)
            r.smax = _s64(r.umax)
        if r.umin <= r.umax:
            r.tv, r.tm = t_intersect((r.tv, r.tm), t_range(r.umin, r.umax))
    return r


def _rstr(r):
    """A register as the kernel log shows it in messages (R2(id=0,off=14,r=14) style uses fields)."""
    return r.t


# ------------------------------------------------------------------------------ helper prototypes
# arg kinds: None (DONTCARE), 'any', 'map', 'key', 'value', 'ctx', 'mem', 'mem_or_null', 'uninit_mem',
# 'size', 'size_or_zero'.  ret: 'int' or 'mvn'.  pkt: changes packet data (clear_all_pkt_pointers).
_PROTOS = {
    1: (("map", "key"), "mvn", False),
    2: (("map", "key", "value", "any"), "int", False),
    3: (("map", "key"), "int", False),
    5: ((), "int", False),
    6: (("mem", "size"), "int", False),
    42: ((), "int", False),
    177: (("mem", "size", "mem_or_null", "size_or_zero"), "int", False),      # trace_vprintk
    7: ((), "int", False),
    8: ((), "int", False),
    12: (("ctx", "map", "any"), "int", False),
    23: (("any", "any"), "int", False),
    28: (("mem_or_null", "size_or_zero", "mem_or_null", "size_or_zero", "any"), "int", False),
    44: (("ctx", "any"), "int", True),
    51: (("map", "any", "any"), "int", False),
    54: (("ctx", "any"), "int", True),
    65: (("ctx", "any"), "int", True),
    125: ((), "int", False),
    160: ((), "int", False),
    188: (("ctx",), "int", False),
    189: (("ctx", "any", "uninit_mem", "size"), "int", False),
    # where 6.1 wants initialised memory but newer kernels (and a privileged loader since 6.3) do not
    # insist, the buffer is taken as 'uninit_mem': never stricter than Linux
    190: (("ctx", "any", "mem_lax", "size"), "int", False),                # xdp_store_bytes
    25: (("ctx", "map", "any", "mem_lax", "size_or_zero"), "int", False),  # perf_event_output
    69: (("ctx", "uninit_mem", "size", "any"), "int", False),             # fib_lookup
    130: (("map", "mem_lax", "size_or_zero", "any"), "int", False),       # ringbuf_output
    118: ((), "int", False),                                              # jiffies64
    195: (("map", "key", "any"), "mvn", False),                           # map_lookup_percpu_elem
    208: ((), "int", False),                                              # ktime_get_tai_ns
    87: (("map", "value", "any"), "int", False),                          # map_push_elem
    88: (("map", "uvalue"), "int", False),                                # map_pop_elem (written)
    89: (("map", "uvalue"), "int", False),                                # map_peek_elem (written)
}
# reg types each arg kind accepts (compatible_reg_types in 6.1), in the order the message lists them
_ARG_TYPES = {
    "map": (MAP,),
    "key": (FP, PKT, META, "map_key", MV),
    "value": (FP, PKT, META, "map_key", MV),
    "uvalue": (FP, PKT, META, "map_key", MV),        # ARG_PTR_TO_UNINIT_MAP_VALUE: the helper writes it
    "ctx": (CTX,),
    "mem": (FP, PKT, META, "map_key", MV, "mem", "alloc_mem", "buf"),
    "mem_or_null": (FP, PKT, META, "map_key", MV, "mem", "alloc_mem", "buf"),
    "uninit_mem": (FP, PKT, META, "map_key", MV, "mem", "alloc_mem", "buf"),
    "mem_lax": (FP, PKT, META, "map_key", MV, "mem", "alloc_mem", "buf"),
    "size": (SCALAR,),
    "size_or_zero": (SCALAR,),
}
# check_map_func_compatibility (6.1), for the map types and helpers xdplab has
_MAP_ONLY = {
    BPF_MAP_TYPE_PROG_ARRAY: {12},
    BPF_MAP_TYPE_PERF_EVENT_ARRAY: {22, 25, 55, 111, 121},
    BPF_MAP_TYPE_RINGBUF: {130, 131, 134, 198, 199, 200},
    BPF_MAP_TYPE_DEVMAP: {51, 1},
    BPF_MAP_TYPE_DEVMAP_HASH: {51, 1},
    BPF_MAP_TYPE_CPUMAP: {51},
    BPF_MAP_TYPE_XSKMAP: {51, 1},
    22: {87, 88, 89},                       # QUEUE
    23: {87, 88, 89},                       # STACK
}
_FUNC_ONLY = {
    12: {BPF_MAP_TYPE_PROG_ARRAY},
    25: {BPF_MAP_TYPE_PERF_EVENT_ARRAY},
    130: {BPF_MAP_TYPE_RINGBUF},
    195: {5, 6, 10},                        # PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH
    87: {22, 23, 30}, 88: {22, 23, 30}, 89: {22, 23, 30},      # QUEUE, STACK, BLOOM_FILTER
    51: {BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_CPUMAP, BPF_MAP_TYPE_XSKMAP},
}

# helpers whose prototype has no pkt_access: a packet pointer argument is refused before its type
# is checked (check_func_arg, 6.1).  (perf_event_output and ringbuf_output have none either; the
# lab leaves those to its run-time check.)
_NO_PKT_ACCESS = {87, 88, 89}

_ALU_STR = ["+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=", "^=", "=", "s>>=", "endian"]


def _hname(i):
    return f"bpf_{HELPER_NAMES[i]}#{i}" if 0 <= i < len(HELPER_NAMES) else f"unknown#{i}"


# ------------------------------------------------------------------------------ state
class St:
    """A verifier state: registers, stack bytes (per 8-byte slot: a str of 8 types 'I'nvalid,
    'M'isc, 'Z'ero, 'S'pill, slot 0 is fp-8..fp-1, byte i of the str is fp - 8*(spi+1) + i),
    the spilled registers, allocated stack, certainty and the path walked."""
    __slots__ = ("regs", "stk", "spill", "alloc", "unsure", "hist", "parent", "depth", "loops")

    def copy(self):
        s = St()
        s.regs = list(self.regs)
        s.stk = dict(self.stk)
        s.spill = dict(self.spill)
        s.alloc = self.alloc
        s.unsure = self.unsure
        s.hist = self.hist
        s.parent = self.parent
        s.depth = self.depth
        s.loops = self.loops
        return s

    def key(self, live):
        """The state as a hashable value: live registers, stack, spills; ids renumbered in order of
        appearance (states that differ only in id numbers are the same, as check_ids sees them)."""
        ids = {}

        def rk(r):
            k = r.key()
            if r.id:
                k = k[:2] + (ids.setdefault(r.id, len(ids) + 1),) + k[3:]
            return k
        regs = tuple(rk(self.regs[i]) if (live >> i) & 1 else None for i in range(10))
        spill = tuple(sorted((k, rk(v)) for k, v in self.spill.items()))
        return (regs, tuple(sorted(self.stk.items())), spill, self.alloc)

    def all_regs(self):
        """(container, key) of every register, spilled ones too (bpf_for_each_reg_in_vstate)."""
        for i in range(11):
            yield self.regs, i
        for k in list(self.spill):
            yield self.spill, k


class _Entry:
    """A kept state (``bpf_verifier_state_list``): regs, stack, spills, alloc, key, ``branches``
    still being explored below it, its parent kept state, hit and miss counts."""
    __slots__ = ("regs", "stk", "spill", "alloc", "key", "unsure", "parent", "branches", "hit", "miss")

    def __init__(self, regs, stk, spill, alloc, key, unsure, parent):
        self.regs, self.stk, self.spill, self.alloc, self.key = regs, stk, spill, alloc, key
        self.unsure, self.parent = unsure, parent
        self.branches = 1
        self.hit = self.miss = 0


class Verifier:
    def __init__(self, prog, maps):
        self.prog = prog
        self.maps = maps
        raw = prog.insns
        c, d, s, o, im = unpack(raw)
        self.n = len(raw)
        self.code = [int(x) for x in c]
        self.dst = [int(x) for x in d]
        self.src = [int(x) for x in s]
        self.off = [int(x) for x in o]
        self.imm = [int(x) for x in im]
        self.raw = raw
        self.devmap_prog = getattr(prog, "attach", "xdp") == "xdp/devmap"
        self.id_gen = 0
        self.vstack = 0             # branches the fast-forwarded turns left for later (not walked)
        self.vbase = 0              # the stack's depth under them
        self.skipped = []           # (loop head, turns, branches) fast-forwarded
        self.steps = 0
        self.jmps = 0
        self.prev_insns = 0
        self.prev_jmps = 0
        self.t0 = time.perf_counter()

    # -------------------------------------------------------------- errors
    def reject(self, st, pc, *lines, hint=""):
        if st.unsure:
            raise _GiveUp(f"insn {pc}: '{lines[0]}' on a path the kernel may not walk")
        raise _Reject(pc, list(lines), hint)

    def giveup(self, why):
        raise _GiveUp(why)

    # -------------------------------------------------------------- cfg
    def check_cfg(self):
        n = self.n
        ld2 = set()
        pc = 0
        while pc < n:
            if self.code[pc] == 0x18:
                ld2.add(pc + 1)
                pc += 2
            else:
                pc += 1
        seen = [False] * n
        todo = [0]
        seen[0] = True
        succ = [[] for _ in range(n)]
        for pc in range(n):
            if pc in ld2:
                continue
            c = self.code[pc]
            cls = c & 7
            out = []
            if cls in (5, 6):
                op = c & 0xF0
                if op == 0x90:
                    pass
                elif op == 0x80:
                    out.append(pc + 1)
                    if self.src[pc] == 1:
                        out.append(pc + 1 + self.imm[pc])
                elif op == 0x00:
                    out.append(pc + 1 + (self.imm[pc] if cls == 6 else self.off[pc]))
                else:
                    out += [pc + 1, pc + 1 + self.off[pc]]
            elif c == 0x18:
                if self.src[pc] == 4:           # BPF_PSEUDO_FUNC: a callback (bpf_loop) is not walked
                    raise _GiveUp(f"insn {pc}: a callback function (BPF_PSEUDO_FUNC) is not modelled")
                out.append(pc + 2)
            else:
                out.append(pc + 1)
            succ[pc] = [t for t in out if 0 <= t < n]
        while todo:
            pc = todo.pop()
            for t in succ[pc]:
                if not seen[t]:
                    seen[t] = True
                    todo.append(t)
        for pc in range(n):
            if not seen[pc] and pc not in ld2:
                raise _Reject(pc, [f"unreachable insn {pc}"])
        self.ld2 = ld2
        self.succ = succ
        self.loop_heads = {t for pc in range(n) for t in succ[pc] if t <= pc}
        # prune points (6.1 visit_insn): conditional jumps, their targets, JA targets and the insn
        # after a JA, the insn after a call
        pp = set()
        for pc in range(n):
            c = self.code[pc]
            cls = c & 7
            if pc in ld2 or cls not in (5, 6):
                continue
            op = c & 0xF0
            if op == 0x80:
                pp.add(pc + 1)
            elif op == 0x00:
                pp.add(pc + 1 + (self.imm[pc] if cls == 6 else self.off[pc]))
                pp.add(pc + 1)
            elif op != 0x90:
                pp.add(pc)
                pp.add(pc + 1 + self.off[pc])
        self.prune = pp
        # instructions from which no path reaches an exit: a walk that enters such a loop can
        # never finish, so the kernel rejects it (at an equal state or at 1M instructions)
        pred = [[] for _ in range(n)]
        for pc in range(n):
            for t in succ[pc]:
                pred[t].append(pc)
        can_exit = [False] * n
        todo = [pc for pc in range(n) if pc not in ld2 and (self.code[pc] & 7) in (5, 6)
                and (self.code[pc] & 0xF0) == 0x90]
        for pc in todo:
            can_exit[pc] = True
        while todo:
            pc = todo.pop()
            for q in pred[pc]:
                if not can_exit[q]:
                    can_exit[q] = True
                    todo.append(q)
        self.can_exit = can_exit
        self._liveness()

    def _liveness(self):
        """Registers each instruction may read before writing (static, all paths): for pruning."""
        n = self.n
        use = [0] * n
        dfn = [0] * n
        for pc in range(n):
            if pc in self.ld2:
                continue
            c, d, s = self.code[pc], self.dst[pc], self.src[pc]
            cls = c & 7
            u = df = 0
            if cls in (4, 7):
                op = c & 0xF0
                if c & 8 and op != 0xD0:
                    u |= 1 << s
                if op != 0xB0:
                    u |= 1 << d
                df |= 1 << d
            elif cls == 1:
                u |= 1 << s
                df |= 1 << d
            elif cls == 3:
                u |= (1 << s) | (1 << d)
                if (c & 0xE0) == 0xC0:
                    u |= 1
                    df |= (1 << s) | 1
            elif cls == 2:
                u |= 1 << d
            elif cls == 0:
                df |= 1 << d
            elif cls in (5, 6):
                op = c & 0xF0
                if op == 0x90:
                    u |= 1
                elif op == 0x80:
                    proto = _PROTOS.get(self.imm[pc]) if self.src[pc] == 0 else None
                    nargs = len(proto[0]) if proto else 5
                    u |= ((1 << (nargs + 1)) - 1) & ~1
                    df |= 0b111111
                elif op != 0x00:
                    u |= 1 << d
                    if c & 8:
                        u |= 1 << s
            use[pc], dfn[pc] = u, df
        live = [0] * (n + 2)
        changed = True
        while changed:
            changed = False
            for pc in range(n - 1, -1, -1):
                if pc in self.ld2:
                    continue
                out = 0
                for t in self.succ[pc]:
                    out |= live[t]
                v = use[pc] | (out & ~dfn[pc])
                if v != live[pc]:
                    live[pc] = v
                    changed = True
        self.live = live

    # -------------------------------------------------------------- registers
    def read_reg(self, st, pc, r):
        if st.regs[r].t == NOT_INIT:
            self.reject(st, pc, f"R{r} !read_ok",
                        hint=f"R{r} is read before anything was written to it on this path"
                        + (" (a helper call leaves R1-R5 unreadable)" if 1 <= r <= 5 else ""))
        return st.regs[r]

    def new_id(self):
        self.id_gen += 1
        return self.id_gen

    # -------------------------------------------------------------- run
    def run(self):
        if any(m.type in (12, 13) for m in self.maps):  # ARRAY_OF_MAPS / HASH_OF_MAPS
            raise _GiveUp("map-in-map lookups (inner map pointers) are not modelled")
        self.check_cfg()
        st = St()
        st.regs = [R_NOT_INIT] * 11
        st.regs[1] = R(CTX)
        st.regs[10] = R(FP)
        st.stk = {}
        st.spill = {}
        st.alloc = 0
        st.unsure = False
        st.hist = None
        st.parent = None
        st.depth = 0
        st.loops = None
        self.vstates = {}
        stack = self.stack = [(0, st)]
        while stack:
            pc, st = stack.pop()
            if len(stack) < self.vbase:
                self.vstack = 0             # the kernel has walked the computed turns' branches by now
            self.walk(pc, st, stack)

    def walk(self, pc, st, stack):
        self.cur = st
        while True:
            self.steps += 1
            if self.steps > MAX_STEPS:
                self.endless(st, pc)
                self.giveup(f"walked {self.steps} instructions without finishing (the kernel walks up to 1M)")
            if pc in self.prune:
                if self.is_state_visited(pc, st):
                    self.path_done(st)
                    return
            if pc in self.loop_heads:
                self.loop_visit(pc, st, stack)
            st.hist = (pc, st.hist)
            st.depth += 1
            pc = self.step(pc, st, stack)
            if pc < 0:
                self.path_done(st)
                return

    def step(self, pc, st, stack):
        """Execute one instruction on ``st``: the next pc, or -1 where the path ends (exit)."""
        c = self.code[pc]
        cls = c & 7
        if cls in (5, 6):
            self.jmps += 1
            op = c & 0xF0
            if op == 0x90:                                  # exit
                self.read_reg(st, pc, 0)
                return -1
            if op == 0x80:
                if self.src[pc] != 0:
                    self.giveup("BPF-to-BPF calls are not modelled by xdplab's verifier")
                self.call(st, pc)
                return pc + 1
            if op == 0x00:
                return pc + 1 + (self.imm[pc] if cls == 6 else self.off[pc])
            nxt = self.cond_jmp(st, pc, stack)
            return -1 if nxt is None else nxt
        if cls in (4, 7):
            self.alu(st, pc)
        elif cls == 1:
            self.ldx(st, pc)
        elif cls == 3:
            self.stx(st, pc)
        elif cls == 2:
            self.st(st, pc)
        elif c == 0x18:
            self.ld_imm64(st, pc)
            return pc + 2
        else:
            self.giveup(f"opcode {c:#x}")
        return pc + 1

    # -------------------------------------------------------------- pruning, loops
    def is_state_visited(self, pc, st):
        """6.1 ``is_state_visited``: the states kept at ``pc`` (a list per instruction, as the
        kernel's ``explored_states``) prune ``st`` when one whose walk is finished covers it
        (``states_equal``); one still being explored (``branches`` > 0: an ancestor on this path)
        that equals it is an infinite loop.  Which states are kept follows the kernel's
        heuristics (a new state after 2 jumps and 8 instructions, inside a loop after 20 jumps
        or 100 instructions; a state that missed more than ``3 * hits + 3`` times is dropped),
        so that the list stays short and a loop's turns are not compared with each other."""
        live = self.live[pc]
        k = st.key(live)
        lst = self.vstates.get(pc)
        if lst is None:
            lst = self.vstates[pc] = []
        add = self.jmps - self.prev_jmps >= 2 and self.steps - self.prev_insns >= 8
        i = 0
        while i < len(lst):
            e = lst[i]
            if e.branches > 0:
                # (a value whose bounds may be wider than the kernel's may differ there from turn
                # to turn; one no later instruction reads cannot make the loop end)
                if (e.key == k and not st.unsure and not e.unsure
                        and (not self._wide(st, live) or not self.can_exit[pc])):
                    raise _Reject(pc, [f"infinite loop detected at insn {pc}"],
                                  "the loop comes back to this instruction with every register and stack "
                                  "slot as it was: nothing it does can ever make it stop")
                if self.jmps - self.prev_jmps < 20 and self.steps - self.prev_insns < 100:
                    add = False
            elif e.key == k or _covers(e, st, live):
                e.hit += 1
                return True
            if add:
                e.miss += 1
            if e.miss > e.hit * 3 + 3:
                del lst[i]
                continue
            i += 1
        if add:
            self.prev_jmps, self.prev_insns = self.jmps, self.steps
            e = _Entry(list(st.regs), dict(st.stk), dict(st.spill), st.alloc, k, st.unsure, st.parent)
            st.parent = e
            lst.append(e)
        return False

    @staticmethod
    def path_done(st):
        """update_branch_counts: the path ended (exit or pruned); a kept state whose every branch
        ended is finished and may prune later paths."""
        e = st.parent
        while e is not None:
            e.branches -= 1
            if e.branches:
                break
            e = e.parent

    # -------------------------------------------------------------- long loops
    def loop_visit(self, pc, st, stack):
        """Remember the state at a loop head (the target of a back-edge) on this path, the last
        three turns; from the 4th turn on (then the 8th, 16th, ...) try :meth:`fast_forward`."""
        rec = st.loops.get(pc) if st.loops else None
        cnt, samples = rec if rec is not None else (0, ())
        snap = _Snap(list(st.regs), dict(st.stk), dict(st.spill), st.alloc, st.depth, st.hist)
        samples = (samples + (snap,))[-3:]
        cnt += 1
        d = dict(st.loops) if st.loops else {}
        d[pc] = (cnt, samples)
        st.loops = d
        if cnt >= 4 and cnt & (cnt - 1) == 0 and not st.unsure:
            self.fast_forward(pc, st, stack, samples)

    def fast_forward(self, head, st, stack, samples):
        """A loop whose turns repeat the same instructions, with registers and spilled values that
        change by the same amount each turn (a counter, a packet pointer moved by a constant,
        bounds a compare with the counter refines), is walked by the kernel turn by turn until
        something changes: a compare goes the other way, an access leaves its range, or the
        1M processed instructions (``BPF_COMPLEXITY_LIMIT_INSNS``) or 8192 pending branches
        (``BPF_COMPLEXITY_LIMIT_JMP_SEQ``) run out.  Where the lab's budget does not cover that
        walk, the turns are computed instead of walked: one turn is walked from the state
        extrapolated to turn ``j`` (a search over ``j``) to find the first turn that differs.
        Only turns whose every decision is a monotone function of the changing values qualify
        (see ``_turn_rules``); equality tests on a changing constant are solved exactly.
        Either the kernel's limit is reached first (reject, with its message), or the walk
        continues from the first different turn; the branches the skipped turns left for later
        are not walked, so the program is then at best 'unsure' (accepted)."""
        a, b, c = samples
        period = c.depth - b.depth
        if period <= 0 or b.depth - a.depth != period or a.alloc != c.alloc:
            return
        seg = _segment(c.hist, period)
        if seg is None or seg != _segment(b.hist, period) or seg[0] != head:
            return
        if not (a.stk == b.stk == c.stk) or not (set(a.spill) == set(b.spill) == set(c.spill)):
            return
        if not (_id_pattern(a) == _id_pattern(b) == _id_pattern(c)):
            return
        live = self.live[head]
        slots = [("r", i) for i in range(10) if (live >> i) & 1] + [("s", k) for k in sorted(c.spill)]
        deltas = {}
        bad = set()
        for sl in slots:
            ra, rb, rc = (_slot(x, sl) for x in (a, b, c))
            dl = _affine(ra, rb, rc)
            if dl is None:
                if sl[0] != "r" or ra.t != SCALAR or rb.t != SCALAR or rc.t != SCALAR:
                    return
                bad.add(sl[1])
            elif any(dl):
                deltas[sl] = dl
        if not deltas:
            return                              # the same state every turn: left to is_state_visited
        bad_at = self._dont_care(seg, bad)
        if bad_at is None:
            return
        cap = 1 << 40
        for sl, dl in deltas.items():
            cap = min(cap, _cross_cap(_slot(c, sl), dl))
        # one turn walked from each sample, recording every instruction's registers
        recs = []
        for x in (a, b, c):
            rec = []
            r = self.probe(head, x, period, rec, seg)
            if r is None or r[0] != seg:
                return
            recs.append(rec)
        pushes, forks = r[2], r[3]
        rule_cap = self._turn_rules(seg, recs, bad_at)
        if rule_cap is None:
            return
        cap = min(cap, rule_cap)
        need = max(1, -(-(BPF_COMPLEXITY_LIMIT_INSNS + 1 - st.depth) // period))
        seq = len(stack) + self.vstack
        need_seq = (BPF_COMPLEXITY_LIMIT_JMP_SEQ - seq) // pushes + 1 if pushes else 1 << 62
        lim = min(cap, need, need_seq)

        keep = live & ~sum(1 << i for i in bad)

        def same_turn(j):
            x = _extrapolate(c, deltas, j, bad)
            if x is None:
                return False
            r = self.probe(head, x, period, seg=seg)
            if r is None or r[0] != seg:
                return False
            y = _extrapolate(c, deltas, j + 1, bad)
            return y is not None and _same_state(r[1], y, keep)
        if not same_turn(0):
            return
        lo, hi, j = 0, None, 1                  # turns 0..lo behave the same; hi: first that may not
        while j < lim:
            if same_turn(j):
                lo, j = j, j * 2
            else:
                hi = j
                break
        if hi is None:
            hi = lim
            if lo < lim - 1 and same_turn(lim - 1):
                lo = lim - 1
        while hi - lo > 1:
            m = (lo + hi) // 2
            if same_turn(m):
                lo = m
            else:
                hi = m
        jstar = lo + 1                          # turns that repeat, from the current one
        if jstar >= need_seq and need_seq <= need and need_seq <= cap:
            self.reject(st, head, f"The sequence of {BPF_COMPLEXITY_LIMIT_JMP_SEQ + 1} jumps is too complex.",
                        hint=f"each turn of this loop leaves {pushes} branch(es) for later (a compare the "
                             f"verifier cannot decide); after {need_seq} turns the kernel holds more than "
                             f"{BPF_COMPLEXITY_LIMIT_JMP_SEQ} of them: bound the loop with a smaller constant")
        if jstar >= need and need <= cap:
            self.reject(st, head, "BPF program is too large. Processed 1000001 insn",
                        hint=f"this loop repeats the same {period} instructions with a counter that the "
                             f"verifier sees grow without reaching its bound: it walks every turn and stops "
                             f"after a million instructions; bound the loop with a constant the verifier "
                             f"can see (e.g. `for (i = 0; i < 64 && i < n; i++)`)")
        if jstar * period * 3 < MAX_STEPS - self.steps:
            return                              # cheap enough: walk it turn by turn, as the kernel does
        x = _extrapolate(c, deltas, jstar, bad)
        if x is None:
            return
        st.regs, st.stk, st.spill = x.regs, x.stk, x.spill
        if bad:
            st.unsure = True                    # values the turns computed but no decision read
        st.depth += jstar * period
        if not self.vstack:
            self.vbase = len(stack)
        self.vstack += jstar * pushes
        self.skipped.append((head, jstar, jstar * forks, jstar * period, bool(bad)))
        d = dict(st.loops)
        d[head] = (d[head][0], ())
        st.loops = d

    def probe(self, head, snap, n, rec=None, seg=None):
        """Walk one turn of the loop at ``head`` from ``snap`` (copied), along ``seg`` where a
        branch goes both ways (the turn the walk took): (pcs, end state, branches left for
        later), or None if it did not come back to ``head`` within ``n`` instructions without an
        error.  No state is kept or pruned; ``rec`` gets each instruction's registers."""
        s = St()
        s.regs, s.stk, s.spill, s.alloc = list(snap.regs), dict(snap.stk), dict(snap.spill), snap.alloc
        s.unsure, s.hist, s.parent, s.depth, s.loops = False, None, None, 0, None
        saved = self.cur, self.jmps, self.id_gen
        junk = []
        pcs = []
        forks = 0
        pc = head
        try:
            while True:
                if rec is not None:
                    rec.append(list(s.regs))
                pcs.append(pc)
                n_before = len(junk)
                pc = self.step(pc, s, junk)
                forks += len(junk) - n_before
                want = seg[len(pcs)] if len(pcs) < len(seg) else head
                if pc != want and junk and junk[-1][0] == want:
                    pc, s = junk.pop()          # the walk followed the branch it left for later
                if pc < 0 or len(pcs) > n or s.unsure:
                    return None
                if pc == head:
                    return pcs, s, len(junk), forks
        except (_Reject, _GiveUp):
            return None
        finally:
            self.cur, self.jmps, self.id_gen = saved

    def _dont_care(self, seg, bad):
        """The registers (per instruction of the turn) holding values that change from turn to
        turn in no straight line but that no decision of the turn reads (a checksum or hash
        being computed): they may only flow into each other.  None if one reaches a compare,
        an address, a store, a helper or pointer arithmetic, or is still needed at the end."""
        bad = set(bad)
        start = set(bad)
        out = []
        for pc in seg:
            out.append(frozenset(bad))
            if not bad:
                continue
            c = self.code[pc]
            cls, op, x = c & 7, c & 0xF0, c & 8
            d, s_ = self.dst[pc], self.src[pc]
            if cls in (4, 7):
                if op == 0xB0:
                    if x and s_ in bad:
                        bad.add(d)
                    else:
                        bad.discard(d)
                elif d in bad or (x and s_ in bad):
                    bad.add(d)
            elif cls in (5, 6):
                if op == 0x80:
                    if bad & {1, 2, 3, 4, 5}:
                        return None
                    bad -= {0, 1, 2, 3, 4, 5}
                elif op not in (0x00, 0x90) and (d in bad or (x and s_ in bad)):
                    return None
            elif cls == 1:
                if s_ in bad:
                    return None
                bad.discard(d)
            elif cls in (2, 3):
                if d in bad or (cls == 3 and s_ in bad):
                    return None
            elif c == 0x18:
                bad.discard(d)
        live = self.live[seg[0]]
        if not {r for r in bad if (live >> r) & 1} <= start:
            return None
        return out

    def _turn_rules(self, seg, recs, bad_at):
        """Every instruction of the turn whose operands change from turn to turn must decide
        monotonically in them: adds/subtracts/moves of constants and fixed-offset pointers,
        range compares, packet and map value accesses through a pointer moved by a constant,
        ==/!= between constants (solved: the turn where they become equal caps the result).
        Anything else with a changing operand (other ALU ops, calls, stack pointers, bit tests,
        32-bit compares of ranges): None (not fast-forwarded).  Returns the cap on turns."""
        cap = 1 << 40
        for i, pc in enumerate(seg):
            c = self.code[pc]
            cls, op, x = c & 7, c & 0xF0, c & 8
            d, s_ = self.dst[pc], self.src[pc]
            if cls in (4, 7):
                ops = (d, s_) if x and op != 0xB0 else ((s_,) if x else (d,)) if op == 0xB0 else (d,)
            elif cls in (5, 6):
                if op in (0x00, 0x90):
                    continue
                if op == 0x80:
                    ops = (1, 2, 3, 4, 5)
                else:
                    ops = (d, s_) if x else (d,)
            elif cls == 1:
                ops = (s_,)
            elif cls == 3:
                ops = (d, s_) if (c & 0xE0) != 0xC0 else (d, s_, 0)
            elif cls == 2:
                ops = (d,)
            else:
                continue
            if bad_at[i] and cls in (4, 7) and (d in bad_at[i] or (x and s_ in bad_at[i])):
                if any(rec[i][r].is_ptr() for rec in recs for r in ops):
                    return None                 # pointer arithmetic with such a value
                continue                        # computes one of the values no decision reads
            ops = tuple(r for r in ops if r not in bad_at[i])
            samples = [[rec[i][r] for rec in recs] for r in ops]
            dls = [_affine(*sm) for sm in samples]
            if any(dl is None for dl in dls):
                return None
            moving = [k for k, dl in enumerate(dls) if any(dl)]
            if not moving:
                continue
            for k in moving:
                cap = min(cap, _cross_cap(samples[k][2], dls[k]))
            rs = [sm[2] for sm in samples]      # the current turn's operands
            if cls in (4, 7):
                if op in (0xB0, 0x80):                  # mov, neg
                    continue
                if op in (0x60, 0x70, 0xC0) and not x:  # shifts by a constant
                    if op != 0x60 and any(dls[0][6] % (1 << (self.imm[pc] & 63)) for _ in (0,)):
                        return None                     # >> of a value that moves by other than 2**k
                    continue
                if op not in (0x00, 0x10, 0x20, 0xA0):
                    return None
                if op in (0x20, 0xA0) and not (len(rs) == 2 and any(_unbounded(r) for r in rs)):
                    return None                         # * or ^ with an unknown: an unknown
                for k in moving:
                    r = rs[k]
                    other = rs[1 - k] if len(rs) == 2 else None
                    if r.t == SCALAR and not r.const and not (other is not None and other.t == SCALAR
                                                              and (_unbounded(other) or _range_tnum(other)
                                                                   and all(_range_tnum(q) for q in samples[k]))):
                        return None
                    if r.is_ptr() and dls[k][2:] != (0,) * (len(dls[k]) - 2):
                        return None             # a pointer whose variable part moves
                continue
            if cls in (5, 6):
                if op == 0x80:
                    return None
                if any(r.is_ptr() for r in rs):
                    if any(r.t in (PKT, META) and (r.rng < 0) != (sm[0].rng < 0)
                           for r, sm in zip(rs, samples)):
                        return None
                    continue
                j32 = cls == 6
                allconst = all(r.const for r in rs)
                if op in (0x10, 0x50):
                    if allconst:
                        va = samples[0][2].tv
                        da = _s64(samples[0][2].tv - samples[0][1].tv)
                        if x:
                            vb, db = samples[1][2].tv, _s64(samples[1][2].tv - samples[1][1].tv)
                        else:
                            vb, db = self.imm[pc] & U64, 0
                        cap = min(cap, _eq_turn(va - vb, da - db, 1 << 32 if j32 else 1 << 64))
                        continue
                    if op == 0x10 and not rs[0].const:
                        continue                # == on a range: never decided taken
                    if x and rs[0].const and not rs[1].const:
                        continue                # not decided in 6.1 (only a constant src is)
                    return None
                if op in (0x20, 0x30, 0xA0, 0xB0, 0x60, 0x70, 0xC0, 0xD0):
                    if j32 and not allconst:
                        return None
                    continue
                return None
            # loads and stores: a moving base must be a packet or map value pointer moved by a
            # constant; a moving stored value is fine (spilled values are compared per turn)
            base = 0
            if cls == 3 and (c & 0xE0) == 0xC0:
                return None                     # atomics
            if base in moving:
                r = rs[0]
                if r.t not in (PKT, META, MV) or dls[0][2:] != (0,) * (len(dls[0]) - 2):
                    return None
        return cap

    def endless(self, st, pc):
        """The walk is going round a loop no path out of which reaches an exit, on a path the kernel
        walks too: the kernel walks it until its 1M instruction limit (6.1 calls a loop 'infinite'
        only when it comes back with every register byte-identical, states_maybe_looping)."""
        if not self.can_exit[pc] and not st.unsure:
            raise _Reject(pc, ["BPF program is too large. Processed 1000001 insn"],
                          "no path out of this loop reaches an exit: it never stops, and the verifier walks it "
                          "until it has processed a million instructions")

    @staticmethod
    def _wide(st, live=0x7FF):
        return any(r.wide for i, r in enumerate(st.regs) if (live >> i) & 1) or \
            any(r.wide for r in st.spill.values())

    # -------------------------------------------------------------- ALU
    def alu(self, st, pc):
        c, d, s, imm = self.code[pc], self.dst[pc], self.src[pc], self.imm[pc]
        op = c & 0xF0
        wide64 = (c & 7) == 7
        x = c & 8
        if op in (0x80, 0xD0):                                  # NEG, END
            self.read_reg(st, pc, d)
            st.regs[d] = unknown()
            self._drop_id(st, d)
            return
        if op == 0xB0:                                          # MOV
            off = self.off[pc]
            if x:
                sr = self.read_reg(st, pc, s)
                if off:                                         # movsx: not in 6.1
                    st.regs[d] = unknown(wide=True)
                    return
                if wide64:
                    if sr.t == SCALAR and not sr.const and sr.id == 0:
                        sr = sr.replace(id=self.new_id())
                        st.regs[s] = sr
                    st.regs[d] = sr
                else:
                    if sr.is_ptr():
                        st.regs[d] = unknown(wide=True)
                    else:
                        st.regs[d] = self._zext(sr.replace(id=0))
            else:
                st.regs[d] = known(imm if wide64 else imm & 0xFFFFFFFF)
            return
        # other ops: src first, then dst (check_alu_op)
        if x:
            sr = self.read_reg(st, pc, s)
        else:
            sr = known(imm if wide64 else imm & 0xFFFFFFFF)
        dr = self.read_reg(st, pc, d)
        if dr.is_ptr() or sr.is_ptr():
            self.ptr_alu(st, pc, op, d, dr, sr, x, wide64)
            return
        self._drop_id(st, d)
        if not wide64:
            if dr.const and sr.const:
                v = self._const_op(op, dr.tv & 0xFFFFFFFF, sr.tv & 0xFFFFFFFF, 32)
                st.regs[d] = unknown() if v is None else known(v & 0xFFFFFFFF, dr.wide or sr.wide)
            else:
                st.regs[d] = sized(4, wide=True)
            return
        st.regs[d] = self.scalar_alu(op, dr, sr)

    def _drop_id(self, st, d):
        """dst of an ALU op leaves its equal-scalars group; the kernel's copies may still be
        linked (its id rules differ across versions), so every other member turns wide."""
        r = st.regs[d]
        if r.t == SCALAR and r.id:
            for cont, k in st.all_regs():
                o = cont[k]
                if o.t == SCALAR and o.id == r.id and not (cont is st.regs and k == d):
                    cont[k] = o.replace(wide=True)
            st.regs[d] = r.replace(id=0)

    @staticmethod
    def _zext(r):
        if r.umax <= 0xFFFFFFFF:
            return r.replace()
        return sized(4, wide=True)

    @staticmethod
    def _const_op(op, a, b, bits):
        m = (1 << bits) - 1
        if op == 0x00:
            return (a + b) & m
        if op == 0x10:
            return (a - b) & m
        if op == 0x20:
            return (a * b) & m
        if op == 0x40:
            return a | b
        if op == 0x50:
            return a & b
        if op == 0xA0:
            return a ^ b
        if op == 0x60:
            return (a << b) & m if b < bits else None
        if op == 0x70:
            return a >> b if b < bits else None
        if op == 0xC0:
            if b >= bits:
                return None
            sa = a - (1 << bits) if a >> (bits - 1) else a
            return (sa >> b) & m
        return None                                          # div, mod: the kernel says unknown

    def scalar_alu(self, op, dr, sr):
        """adjust_scalar_min_max_vals, 64-bit."""
        wide = dr.wide or sr.wide
        src_known = sr.const
        if not src_known and op not in (0x00, 0x10, 0x50):
            return unknown(wide)
        if dr.const and src_known:
            v = self._const_op(op, dr.tv, sr.tv, 64)
            return unknown(wide) if v is None else known(v, wide)
        r = dr.replace(id=0, wide=wide)
        if op == 0x00:
            if (_over_add(r.smin, sr.smin) or _over_add(r.smax, sr.smax)):
                r.smin, r.smax = S64_MIN, S64_MAX
            else:
                r.smin, r.smax = r.smin + sr.smin, r.smax + sr.smax
            if r.umin + sr.umin > U64 or r.umax + sr.umax > U64:
                r.umin, r.umax = 0, U64
            else:
                r.umin, r.umax = r.umin + sr.umin, r.umax + sr.umax
            r.tv, r.tm = t_add((dr.tv, dr.tm), (sr.tv, sr.tm))
        elif op == 0x10:
            if _over_sub(r.smin, sr.smax) or _over_sub(r.smax, sr.smin):
                r.smin, r.smax = S64_MIN, S64_MAX
            else:
                r.smin, r.smax = r.smin - sr.smax, r.smax - sr.smin
            if r.umin < sr.umax:
                r.umin, r.umax = 0, U64
            else:
                r.umin, r.umax = r.umin - sr.umax, r.umax - sr.umin
            r.tv, r.tm = t_sub((dr.tv, dr.tm), (sr.tv, sr.tm))
        elif op == 0x50:
            r.tv, r.tm = t_and((dr.tv, dr.tm), (sr.tv, sr.tm))
            r.umin = r.tv
            r.umax = min(dr.umax, sr.umax)
            if dr.smin < 0 or sr.smin < 0:
                r.smin, r.smax = S64_MIN, S64_MAX
            else:
                r.smin, r.smax = r.umin, r.umax
        elif op == 0x40:
            r.tv, r.tm = t_or((dr.tv, dr.tm), (sr.tv, sr.tm))
            r.umin = max(dr.umin, sr.umin)
            r.umax = r.tv | r.tm
            if dr.smin < 0 or sr.smin < 0:
                r.smin, r.smax = S64_MIN, S64_MAX
            else:
                r.smin, r.smax = r.umin, r.umax
        elif op == 0xA0:
            r.tv, r.tm = t_xor((dr.tv, dr.tm), (sr.tv, sr.tm))
            r.umin = r.tv
            r.umax = r.tv | r.tm
            if dr.smin >= 0 and sr.smin >= 0:
                r.smin, r.smax = r.umin, r.umax
            else:
                r.smin, r.smax = S64_MIN, S64_MAX
        elif op == 0x60:
            sh = sr.tv
            if sh >= 64:
                return unknown(wide)
            if sh == 32:
                r.wide = True                                   # the kernel's <<32 special case
            r.smin, r.smax = S64_MIN, S64_MAX
            if dr.umax > (1 << (63 - sh)):
                r.umin, r.umax = 0, U64
            else:
                r.umin, r.umax = dr.umin << sh, dr.umax << sh
            r.tv, r.tm = t_lsh((dr.tv, dr.tm), sh)
        elif op == 0x70:
            sh = sr.tv
            if sh >= 64:
                return unknown(wide)
            r.smin, r.smax = S64_MIN, S64_MAX
            r.tv, r.tm = t_rsh((dr.tv, dr.tm), sh)
            r.umin, r.umax = dr.umin >> sh, dr.umax >> sh
        elif op == 0x20:
            r.tv, r.tm = t_mul((dr.tv, dr.tm), (sr.tv, sr.tm))
            if sr.smin < 0 or dr.smin < 0 or sr.umax > 0xFFFFFFFF or dr.umax > 0xFFFFFFFF:
                r.umin, r.umax, r.smin, r.smax = 0, U64, S64_MIN, S64_MAX
            else:
                r.umin, r.umax = dr.umin * sr.umin, dr.umax * sr.umax
                r.smin, r.smax = (r.umin, r.umax) if r.umax <= S64_MAX else (S64_MIN, S64_MAX)
            r.wide = True
        else:
            return unknown(True)
        _sync(r)
        if r.umax > 0xFFFFFFFF and not r.const:
            r.wide = True                                       # the kernel's 32-bit bounds may know more
        return r

    def ptr_alu(self, st, pc, op, d, dr, sr, x, wide64):
        """adjust_reg_min_max_vals / adjust_ptr_min_max_vals for a pointer operand."""
        if dr.is_ptr() and sr.is_ptr():
            if op == 0x10:                                     # ptr - ptr: allowed with CAP_PERFMON
                st.regs[d] = unknown()
                return
            self.reject(st, pc, f"R{d} pointer {_ALU_STR[op >> 4]} pointer prohibited")
        if not dr.is_ptr():                                    # scalar op= pointer
            if op != 0x00:
                if op == 0x10:
                    self.reject(st, pc, f"R{d} tried to subtract pointer from scalar")
                # other ops on a scalar with a pointer src: the result is the kernel's unknown
                st.regs[d] = unknown(wide=True)
                return
            ptr, off_reg = sr, dr
        else:
            ptr, off_reg = dr, sr
        if not wide64:
            if op == 0x10:
                st.regs[d] = unknown(wide=True)
                return
            self.reject(st, pc, f"R{d} 32-bit pointer arithmetic prohibited",
                        hint="pointers are 64 bits: do the arithmetic on the 64-bit register")
        if ptr.t == MVN:
            self.reject(st, pc, f"R{d} pointer arithmetic on {MVN} prohibited, null-check it first",
                        hint="bpf_map_lookup_elem() may return NULL: test the pointer before computing with it")
        if ptr.t == MAP and off_reg.const and off_reg.tv == 0 and op == 0x00:
            st.regs[d] = ptr
            return
        if ptr.t in (MAP, END):
            self.reject(st, pc, f"R{d} pointer arithmetic on {ptr.t} prohibited",
                        hint=("data_end only marks where the packet ends: compare pointers with it, "
                              "never move it" if ptr.t == END else "a map pointer cannot be moved"))
        if ptr.t not in (CTX, FP, PKT, META, MV):
            self.giveup(f"pointer arithmetic on {ptr.t}")
        if op not in (0x00, 0x10):
            if op in (0x40, 0x50, 0xA0):
                self.reject(st, pc, f"R{d} bitwise operator {_ALU_STR[op >> 4]} on pointer prohibited")
            self.reject(st, pc, f"R{d} pointer arithmetic with {_ALU_STR[op >> 4]} operator prohibited")
        if off_reg.wide:
            self.giveup("pointer arithmetic with a value whose bounds the kernel may know better")
        known_ = off_reg.const
        if (known_ and (off_reg.smin != off_reg.smax or off_reg.umin != off_reg.umax)) or \
                off_reg.smin > off_reg.smax or off_reg.umin > off_reg.umax:
            st.regs[d] = unknown()
            return
        # check_reg_sane_offset on the scalar
        if known_ and (off_reg.smin >= BPF_MAX_VAR_OFF or off_reg.smin <= -BPF_MAX_VAR_OFF):
            self.reject(st, pc, f"math between {ptr.t} pointer and {off_reg.smin} is not allowed")
        if off_reg.smin == S64_MIN:
            self.reject(st, pc, f"math between {ptr.t} pointer and register with unbounded min value is not "
                                f"allowed", hint="bound the value first: `if (x > 1500) return XDP_PASS;` "
                                                 "or `x &= 0xff;`")
        if ptr.t == FP and not known_:
            self.giveup("variable-offset stack pointer")
        if ptr.t == CTX and not known_:
            self.giveup("variable-offset ctx pointer")
        r = ptr.replace()
        if op == 0x00:
            if known_ and -(1 << 31) <= ptr.off + off_reg.smin < (1 << 31):
                r.off = ptr.off + off_reg.smin
            else:
                self._var_ptr(r, ptr, off_reg, add=True)
        else:
            if ptr.t == FP:
                self.reject(st, pc, f"R{d} subtraction from stack pointer prohibited")
            if known_ and -(1 << 31) <= ptr.off - off_reg.smin < (1 << 31):
                r.off = ptr.off - off_reg.smin
            else:
                self._var_ptr(r, ptr, off_reg, add=False)
        # check_reg_sane_offset on the result
        if r.off >= BPF_MAX_VAR_OFF or r.off <= -BPF_MAX_VAR_OFF:
            self.reject(st, pc, f"{ptr.t} pointer offset {r.off} is not allowed")
        if r.smin >= BPF_MAX_VAR_OFF or r.smin <= -BPF_MAX_VAR_OFF:
            self.reject(st, pc, f"value {r.smin} makes {ptr.t} pointer be out of bounds")
        st.regs[d] = r

    def _var_ptr(self, r, ptr, off_reg, add):
        if add:
            if _over_add(ptr.smin, off_reg.smin) or _over_add(ptr.smax, off_reg.smax):
                r.smin, r.smax = S64_MIN, S64_MAX
            else:
                r.smin, r.smax = ptr.smin + off_reg.smin, ptr.smax + off_reg.smax
            if ptr.umin + off_reg.umin > U64 or ptr.umax + off_reg.umax > U64:
                r.umin, r.umax = 0, U64
            else:
                r.umin, r.umax = ptr.umin + off_reg.umin, ptr.umax + off_reg.umax
            r.tv, r.tm = t_add((ptr.tv, ptr.tm), (off_reg.tv, off_reg.tm))
        else:
            if _over_sub(ptr.smin, off_reg.smax) or _over_sub(ptr.smax, off_reg.smin):
                r.smin, r.smax = S64_MIN, S64_MAX
            else:
                r.smin, r.smax = ptr.smin - off_reg.smax, ptr.smax - off_reg.smin
            if ptr.umin < off_reg.umax:
                r.umin, r.umax = 0, U64
            else:
                r.umin, r.umax = ptr.umin - off_reg.umax, ptr.umax - off_reg.umin
            r.tv, r.tm = t_sub((ptr.tv, ptr.tm), (off_reg.tv, off_reg.tm))
        _sync(r)
        if ptr.t in (PKT, META):
            r.id = self.new_id()
            if add or off_reg.smin < 0:
                r.rng = 0

    # -------------------------------------------------------------- memory
    def ld_imm64(self, st, pc):
        d, s = self.dst[pc], self.src[pc]
        lo = self.imm[pc] & 0xFFFFFFFF
        hi = self.imm[pc + 1] & 0xFFFFFFFF
        if s == 0:
            st.regs[d] = known((hi << 32) | lo)
        elif s == 1:
            st.regs[d] = R(MAP, m=lo)
        elif s == 2:
            st.regs[d] = R(MV, m=lo, off=hi)
        else:
            self.giveup(f"ld_imm64 src {s}")

    def ldx(self, st, pc):
        c, d, s, off = self.code[pc], self.dst[pc], self.src[pc], self.off[pc]
        size = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}[c & 0x18]
        self.read_reg(st, pc, s)
        val = self.mem_access(st, pc, s, off, size, write=False, vreg=d)
        if (c & 0xE0) != 0x60:                  # sign-extending load (cpu v4, newer than 6.1): bounds unsure
            val = unknown(wide=True)
        st.regs[d] = val

    def stx(self, st, pc):
        c, d, s, off = self.code[pc], self.dst[pc], self.src[pc], self.off[pc]
        size = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}[c & 0x18]
        mode = c & 0xE0
        if mode == 0xC0:
            self.atomic(st, pc, size)
            return
        self.read_reg(st, pc, s)
        self.read_reg(st, pc, d)
        self.mem_access(st, pc, d, off, size, write=True, vreg=s)

    def st(self, st, pc):
        c, d, off = self.code[pc], self.dst[pc], self.off[pc]
        size = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}[c & 0x18]
        dr = self.read_reg(st, pc, d)
        if dr.t == CTX:
            self.reject(st, pc, f"BPF_ST stores into R{d} ctx is not allowed")
        self.mem_access(st, pc, d, off, size, write=True, vreg=-1, st_imm=self.imm[pc])

    def atomic(self, st, pc, size):
        d, s, imm = self.dst[pc], self.src[pc], self.imm[pc]
        self.read_reg(st, pc, s)
        self.read_reg(st, pc, d)
        if imm == 0xF1:
            self.read_reg(st, pc, 0)
        dr = st.regs[d]
        if dr.t in (CTX, PKT, META):
            self.reject(st, pc, f"BPF_ATOMIC stores into R{d} {dr.t} is not allowed",
                        hint="atomic operations work on the stack and on map values only")
        self.mem_access(st, pc, d, self.off[pc], size, write=False, vreg=-1)
        if imm & 1:
            lr = 0 if imm == 0xF1 else s
            st.regs[lr] = self.mem_access(st, pc, d, self.off[pc], size, write=False, vreg=lr)
        self.mem_access(st, pc, d, self.off[pc], size, write=True, vreg=-1)

    def mem_access(self, st, pc, r, off, size, write, vreg, st_imm=None):
        """check_mem_access: returns the loaded value for a read."""
        reg = st.regs[r]
        t = reg.t
        if t == FP:
            return self.stack_access(st, pc, r, reg, off + reg.off, size, write, vreg, st_imm)
        if t in (PKT, META):
            self.pkt_access(st, pc, r, reg, off + reg.off, size)
            return sized(size)
        if t == CTX:
            o = off + reg.off
            if reg.off < 0:
                self.reject(st, pc, f"negative offset ctx ptr R{r} off={reg.off} disallowed")
            if reg.off:
                self.reject(st, pc, f"dereference of modified ctx ptr R{r} off={reg.off} disallowed",
                            hint="read ctx fields through the ctx pointer itself: ctx->data, ctx->data_end")
            ok = (not write and 0 <= o < 24 and o % size == 0 and size == 4
                  and (o != 20 or self.devmap_prog))
            if not ok:
                self.reject(st, pc, f"invalid bpf_context access off={o} size={size}",
                            hint=("XDP programs may not write to struct xdp_md" if write else
                                  "struct xdp_md fields are __u32 at offsets 0..20 (data, data_end, data_meta, "
                                  "ingress_ifindex, rx_queue_index, egress_ifindex - the last one only in "
                                  "devmap programs): read them whole, as 4 bytes; a field declared __u64 is an "
                                  "8-byte load"))
            if o == 0:
                return R(PKT)
            if o == 4:
                return R(END)
            if o == 8:
                return R(META)
            return sized(4)
        if t == MV:
            if write and vreg >= 0 and st.regs[vreg].is_ptr():
                return self.giveup("pointer stored into a map value")
            m = self.maps[reg.m]
            o = off + reg.off
            if write and m.rdonly:
                self.reject(st, pc, f"write into map forbidden, value_size={m.value_size} off={o} size={size}")
            self.map_region(st, pc, r, reg, o, size, m.value_size)
            if not write and m.rdonly:
                return sized(size, wide=True)                 # the kernel reads frozen .rodata as constants
            return sized(size)
        if t in (SCALAR, MVN, MAP, END, NOT_INIT):
            if t == SCALAR and not reg.wide or t != SCALAR:
                self.reject(st, pc, f"R{r} invalid mem access '{t}'", hint=_MEM_HINT.get(t, ""))
            self.giveup("memory access through a scalar of unsure value")
        self.giveup(f"memory access through {t}")

    def map_region(self, st, pc, r, reg, off, size, vsize, what="map value"):
        """check_mem_region_access for a map value."""
        if reg.smin < 0 and (reg.smin == S64_MIN or off + reg.smin != _s32(off + reg.smin)
                             or reg.smin + off < 0):
            self.reject(st, pc, f"R{r} min value is negative, either use unsigned index or do a if (index >=0) "
                                f"check.")
        o = reg.smin + off
        if not (o >= 0 and size > 0 and o + size <= vsize):
            self.reject(st, pc, f"invalid access to map value, value_size={vsize} off={o} size={size}",
                        f"R{r} min value is outside of the allowed memory range",
                        hint=f"the {what} is {vsize} bytes: this touches bytes {o}..{o + size - 1}")
        if reg.umax >= BPF_MAX_VAR_OFF:
            self.reject(st, pc, f"R{r} unbounded memory access, make sure to bounds check any such access")
        o = reg.umax + off
        if not (o >= 0 and size > 0 and o + size <= vsize):
            self.reject(st, pc, f"invalid access to map value, value_size={vsize} off={o} size={size}",
                        f"R{r} max value is outside of the allowed memory range",
                        hint=f"the {what} is {vsize} bytes: the largest index reaches bytes {o}..{o + size - 1}")

    def pkt_access(self, st, pc, r, reg, off, size):
        """check_packet_access."""
        if reg.smin < 0:
            self.reject(st, pc, f"R{r} min value is negative, either use unsigned index or do a if (index >=0) "
                                f"check.")
        if reg.rng < 0:
            self.reject(st, pc, f"R{r} offset is outside of the packet",
                        hint="this pointer was compared with data_end and found at or past it")
        if not (off >= 0 and size > 0 and off + size <= reg.rng):
            need = off + size
            self.reject(st, pc, f"invalid access to packet, off={off} size={size}, R{r}(id={reg.id},off={off},"
                                f"r={reg.rng})", f"R{r} offset is outside of the packet",
                        hint=(f"the program touches bytes {off}..{off + size - 1} after the pointer, but on "
                              f"this path only {reg.rng} bytes were checked against data_end; check "
                              f"`if ((void *)p + {need} > data_end) return XDP_PASS;` first"
                              if off >= 0 else "this is before the start of the packet data"))

    def stack_access(self, st, pc, r, reg, off, size, write, vreg, st_imm):
        if off % size:                                  # check_ptr_alignment: strict for the stack
            self.reject(st, pc, f"misaligned stack access off 0+{reg.off}+{off - reg.off} size {size}")
        # check_stack_access_within_bounds (fixed offset)
        lo = -512 if write else -st.alloc
        if off < lo or off > -1 or off + size > 0:
            self.reject(st, pc, f"invalid {'write to' if write else 'read from'} stack R{r} off={off} size={size}",
                        hint=("the stack is 512 bytes below r10 (off -512..-1)" if write else
                              "nothing was written this deep into the stack on this path: it is uninitialised"))
        slot = -off - 1
        spi = slot // 8
        if write:
            need = ((slot + 1) + 7) // 8 * 8
            st.alloc = max(st.alloc, need)
            v = st.regs[vreg] if vreg >= 0 else None
            cur = st.stk.get(spi, "IIIIIIII")
            if v is not None and v.is_ptr():
                if size != 8:
                    self.reject(st, pc, "invalid size of register spill")
                st.stk[spi] = "SSSSSSSS"
                st.spill[spi] = v
                return None
            if v is not None and off % 8 == 0 and v.t == SCALAR and not _unbounded(v) and \
                    not (v.const and v.tv == 0):
                # save_register_state: a bounded scalar keeps its bounds (a narrowing spill drops the id)
                b = ["I" if t == "I" else "M" for t in cur]    # scrub_spilled_slot on the rest
                for i in range(8 - size, 8):
                    b[i] = "S"
                st.stk[spi] = "".join(b)
                sv = v
                if v.umax.bit_length() > 8 * size:
                    sv = v.replace(id=0)
                st.spill[spi] = sv
                return None
            if v is None and st_imm is not None and off % 8 == 0 and st_imm != 0:
                b = ["I" if t == "I" else "M" for t in cur]
                for i in range(8 - size, 8):
                    b[i] = "S"
                st.stk[spi] = "".join(b)
                st.spill[spi] = known(st_imm)
                return None
            typ = "M"
            if (v is not None and v.t == SCALAR and v.const and v.tv == 0) or (v is None and st_imm == 0):
                typ = "Z"
            b = list(cur)
            if "S" in cur:
                b = ["M" if t == "S" else t for t in b]
                st.spill.pop(spi, None)
            for i in range(size):
                b[(slot - i) % 8] = typ
            st.stk[spi] = "".join(b)
            return None
        # read (check_stack_read_fixed_off)
        cur = st.stk.get(spi, "IIIIIIII")
        if cur[7] == "S" and spi in st.spill:
            sp = st.spill[spi]
            nspill = len(cur) - len(cur.rstrip("S")) if cur.endswith("S") else 0
            nspill = 0
            for ch in reversed(cur):
                if ch != "S":
                    break
                nspill += 1
            if size != 8 or nspill != 8:
                if sp.t != SCALAR:
                    self.reject(st, pc, "invalid size of register fill")
                if off % 8 == 0 and size == nspill:
                    return sp.replace()
                for i in range(size):
                    tt = cur[(slot - i) % 8]
                    if tt not in "SM":
                        self.reject(st, pc, f"invalid read from stack off {off}+{i} size {size}",
                                    hint="these stack bytes were never written on this path")
                return sized(size) if size < 8 else unknown()
            return sp.replace()
        zeros = 0
        for i in range(size):
            tt = cur[(slot - i) % 8]
            if tt == "M":
                continue
            if tt == "Z":
                zeros += 1
                continue
            self.reject(st, pc, f"invalid read from stack off {off}+{i} size {size}",
                        hint="these stack bytes were never written on this path (Linux 6.3 and later let a "
                             "privileged program read them; 6.1 does not)")
        if zeros == size:
            return known(0)
        return sized(size)

    # -------------------------------------------------------------- helper calls
    def call(self, st, pc):
        fid = self.imm[pc]
        proto = _PROTOS.get(fid)
        if proto is None:
            self.giveup(f"no prototype for helper {_hname(fid)}")
        args, ret, changes_pkt = proto
        meta_map = None
        compat = None               # check_map_func_compatibility runs after every argument's check
        for i, kind in enumerate(args):
            regno = i + 1
            if kind is None:
                continue
            reg = self.read_reg(st, pc, regno)
            if kind == "any":
                continue
            if fid in _NO_PKT_ACCESS and reg.t in (PKT, META):
                self.reject(st, pc, "helper access to the packet is not allowed",
                            hint="this helper may not touch packet memory: copy through the stack")
            if kind in ("value", "mem_or_null") or kind in ("size", "size_or_zero"):
                pass
            if kind == "mem_or_null" and reg.t == SCALAR and reg.const and reg.tv == 0:
                continue
            allowed = _ARG_TYPES[kind]
            if reg.t not in allowed:
                if reg.t == SCALAR and reg.wide:
                    self.giveup("helper argument of unsure value")
                self.reject(st, pc, f"R{regno} type={reg.t} expected={', '.join(allowed)}",
                            hint=_ARG_HINT.get(kind, ""))
            if reg.t in (PKT, META, MV, FP, SCALAR) and kind not in ("size", "size_or_zero"):
                if reg.t != FP and (not reg.const):
                    self.giveup("variable-offset helper argument")
            if reg.t == CTX and reg.off:
                self.reject(st, pc, f"dereference of modified ctx ptr R{regno} off={reg.off} disallowed")
            if kind == "map":
                meta_map = reg.m
                m = self.maps[reg.m]
                only = _MAP_ONLY.get(m.type)
                fonly = _FUNC_ONLY.get(fid)
                if (only is not None and fid not in only) or (fonly is not None and m.type not in fonly):
                    compat = f"cannot pass map_type {m.type} into func {_hname(fid)}"
            elif kind in ("key", "value", "uvalue"):
                m = self.maps[meta_map]
                if kind == "key" and m.key_size == 0 and reg.t == FP:
                    # a queue's/stack's key: check_stack_range_initialized refuses the zero-sized
                    # read before check_map_func_compatibility is reached
                    self.reject(st, pc, "invalid zero-sized read",
                                hint="queue and stack maps have no key: use bpf_map_push_elem, "
                                     "bpf_map_pop_elem, bpf_map_peek_elem")
                self.helper_mem(st, pc, regno, m.key_size if kind == "key" else m.value_size, raw=kind == "uvalue")
            elif kind in ("size", "size_or_zero"):
                mreg = st.regs[regno - 1]
                if reg.wide:
                    self.giveup("helper size argument of unsure value")
                if reg.smin < 0:
                    self.reject(st, pc, f"R{regno} min value is negative, either use unsigned or 'var &= const'")
                if reg.umin == 0 and kind == "size" and not (mreg.t == SCALAR):
                    if not reg.const:
                        self.giveup("a size that may be zero")
                    if mreg.t == FP:
                        self.reject(st, pc, "invalid zero-sized read")
                    self.helper_mem(st, pc, regno - 1, 0, raw=False, lax=True)   # refuses size 0
                    self.giveup("zero size")
                if reg.umax >= BPF_MAX_VAR_SIZ:
                    self.reject(st, pc, f"R{regno} unbounded memory access, use 'var &= const' or "
                                        f"'if (var < const)'")
                if mreg.t == SCALAR:
                    continue                                   # NULL with size 0 (csum_diff)
                if not reg.const:
                    self.giveup("variable helper size")
                self.helper_mem(st, pc, regno - 1, reg.umax, raw=args[i - 1] == "uninit_mem",
                                lax=args[i - 1] == "mem_lax")
        if compat is not None:
            self.reject(st, pc, compat)
        # the call itself
        for r in range(1, 6):
            st.regs[r] = R_NOT_INIT
        if changes_pkt:
            for cont, k in st.all_regs():
                if cont[k].t in (PKT, META, END):
                    cont[k] = unknown()
        if ret == "mvn":
            st.regs[0] = R(MVN, m=meta_map, id=self.new_id())
        else:
            st.regs[0] = unknown()

    def helper_mem(self, st, pc, regno, size, raw, lax=False):
        """check_helper_mem_access for a fixed size (``lax``: a read not checked for initialised
        stack bytes)."""
        reg = st.regs[regno]
        t = reg.t
        if t in (PKT, META):
            self.pkt_access(st, pc, regno, reg, reg.off, size)
        elif t == MV:
            m = self.maps[reg.m]
            if raw and m.rdonly:
                self.reject(st, pc, f"write into map forbidden, value_size={m.value_size} off={reg.off} size={size}")
            self.map_region(st, pc, regno, reg, reg.off, size, m.value_size)
        elif t == FP:
            off = reg.off
            if off < -512 or off > -1 or off + size > 0:
                self.reject(st, pc, f"invalid indirect access to stack R{regno} off={off} size={size}")
            if lax:
                return
            if raw:
                for i in range(size):
                    o = off + i
                    slot = -o - 1
                    spi = slot // 8
                    cur = st.stk.get(spi, "IIIIIIII")
                    b = list(cur)
                    if "S" in cur:
                        b = ["M" if x == "S" else x for x in b]
                        st.spill.pop(spi, None)
                    b[slot % 8] = "M"
                    st.stk[spi] = "".join(b)
                    st.alloc = max(st.alloc, (slot + 8) // 8 * 8)
                return
            for i in range(size):
                o = off + i
                slot = -o - 1
                spi = slot // 8
                cur = st.stk.get(spi, "IIIIIIII")
                tt = cur[slot % 8]
                # a slot holding a spilled register passes whole (is_spilled_reg looks at its last byte)
                if st.alloc > slot and (tt in "MZ" or (cur[7] == "S" and spi in st.spill)):
                    continue
                self.reject(st, pc, f"invalid indirect read from stack R{regno} off {off}+{i} size {size}",
                            hint="the helper reads these stack bytes, but they were never written on this path")
        else:
            self.giveup(f"helper memory in {t}")

    # -------------------------------------------------------------- conditional jumps
    def cond_jmp(self, st, pc, stack):
        c, d, s, off, imm = self.code[pc], self.dst[pc], self.src[pc], self.off[pc], self.imm[pc]
        op = c & 0xF0
        j32 = (c & 7) == 6
        x = c & 8
        if x:
            sr = self.read_reg(st, pc, s)
        dr = self.read_reg(st, pc, d)
        tgt = pc + 1 + off
        pred = -1
        unsure = False
        if x:
            if dr.t == SCALAR and sr.t == SCALAR and sr.const:
                pred, unsure = self.branch_taken(dr, sr.tv, op, j32)
            elif dr.t == SCALAR and sr.t == SCALAR:
                unsure = dr.wide or sr.wide or j32
            elif dr.t in (PKT, META, END) and sr.t in (PKT, META, END) and not j32:
                pred = _pkt_ptr_taken(dr, sr, op)
            elif dr.is_ptr() and sr.is_ptr():
                pass
            else:
                if dr.t == SCALAR and dr.wide or sr.t == SCALAR and sr.wide:
                    unsure = True
        else:
            if dr.t == SCALAR:
                pred, unsure = self.branch_taken(dr, imm & (0xFFFFFFFF if j32 else U64) if j32 else imm & U64,
                                                 op, j32)
            elif dr.is_ptr() and imm == 0 and dr.t == MV and op in (0x10, 0x50):
                pred = 0 if op == 0x10 else 1
        if pred == 1:
            return tgt
        if pred == 0:
            return pc + 1
        other = st.copy()
        if unsure:
            st.unsure = True
            other.unsure = True
        # refinements
        if x:
            if dr.t == SCALAR and sr.t == SCALAR and not j32:
                if sr.const:
                    self.set_min_max(other, st, d, sr.tv, op)
                elif dr.const:
                    self.set_min_max(other, st, s, dr.tv, _flip(op))
                elif op in (0x10, 0x50):
                    self.combine_min_max(other if op == 0x10 else st, s, d)
            elif not j32 and dr.t in (PKT, META, END) and sr.t in (PKT, META, END):
                self.match_pkt_pointers(op, d, s, dr, sr, st, other)
        elif dr.t == SCALAR and not j32:
            self.set_min_max(other, st, d, imm & U64, op)
        elif dr.t == SCALAR and j32 and dr.umax <= 0x7FFFFFFF and not unsure:
            self.set_min_max(other, st, d, imm & 0xFFFFFFFF, op)
        # a compare the kernel refines from and this walk does not (jmp32 on a value that may not
        # fit, two unknown scalars): the operands' bounds may be wider here than the kernel's
        if j32 and not (not x and dr.t == SCALAR and dr.umax <= 0x7FFFFFFF and not unsure):
            for r_ in ((d, s) if x else (d,)):
                for s_ in (st, other):
                    if s_.regs[r_].t == SCALAR and not s_.regs[r_].const:
                        s_.regs[r_] = s_.regs[r_].replace(wide=True)
        if not x and imm == 0 and op in (0x10, 0x50) and dr.t == MVN and not j32:
            self.mark_ptr_or_null(st, dr.id, is_null=(op == 0x50))
            self.mark_ptr_or_null(other, dr.id, is_null=(op == 0x10))
        if stack is self.stack and len(stack) + self.vstack >= BPF_COMPLEXITY_LIMIT_JMP_SEQ:
            self.reject(st, pc, f"The sequence of {len(stack) + self.vstack + 1} jumps is too complex.",
                        hint="the verifier holds every branch it has not walked yet; a loop whose compare it "
                             "cannot decide leaves one per turn: bound the loop with a smaller constant")
        if other.parent is not None:
            other.parent.branches += 1
        stack.append((tgt, other))
        return pc + 1

    def branch_taken(self, r, val, op, j32):
        """(is_branch_taken, unsure).  For jmp32 the 64-bit rules apply when the value is known to fit."""
        if j32:
            lim = 0x7FFFFFFF if op in (0x60, 0x70, 0xC0, 0xD0) else 0xFFFFFFFF
            if r.const:
                a = r.tv & 0xFFFFFFFF
                return _taken(_sval32(a) if op in (0x60, 0x70, 0xC0, 0xD0) else a, a,
                              (val & 0xFFFFFFFF), op, bits=32), False
            if r.umax > lim or (op in (0x60, 0x70, 0xC0, 0xD0) and val & 0x80000000):
                return -1, True
            val &= 0xFFFFFFFF
        p = _is_branch64_taken(r, val, op)
        return p, (p < 0 and r.wide)

    def set_min_max(self, true_st, false_st, regno, val, op):
        """reg_set_min_max (64-bit) on the taken (true) and fall-through (false) copies."""
        tr = true_st.regs[regno].replace()
        fr = false_st.regs[regno].replace()
        sval = _s64(val)
        if op in (0x10, 0x50):
            tgt = tr if op == 0x10 else fr
            k = known(val, tgt.wide)
            k.id = tgt.id
            if op == 0x10:
                tr = k
            else:
                fr = k
        elif op == 0x40:
            fr.tv, fr.tm = t_and((fr.tv, fr.tm), (~val & U64, 0))
            if val and val & (val - 1) == 0:
                tr.tv, tr.tm = t_or((tr.tv, tr.tm), (val, 0))
        elif op in (0x20, 0x30):
            fmax = val if op == 0x20 else val - 1
            tmin = val + 1 if op == 0x20 else val
            fr.umax = min(fr.umax, fmax & U64) if fmax >= 0 else fr.umax
            tr.umin = max(tr.umin, tmin) if tmin <= U64 else tr.umin
        elif op in (0x60, 0x70):
            fmax = sval if op == 0x60 else sval - 1
            tmin = sval + 1 if op == 0x60 else sval
            fr.smax = min(fr.smax, fmax)
            tr.smin = max(tr.smin, tmin)
        elif op in (0xA0, 0xB0):
            fmin = val if op == 0xA0 else val + 1
            tmax = val - 1 if op == 0xA0 else val
            fr.umin = max(fr.umin, fmin) if fmin <= U64 else fr.umin
            tr.umax = min(tr.umax, tmax) if tmax >= 0 else tr.umax
        elif op in (0xC0, 0xD0):
            fmin = sval if op == 0xC0 else sval + 1
            tmax = sval - 1 if op == 0xC0 else sval
            fr.smin = max(fr.smin, fmin)
            tr.smax = min(tr.smax, tmax)
        _sync(tr)
        _sync(fr)
        true_st.regs[regno] = tr
        false_st.regs[regno] = fr
        for s_, r_ in ((true_st, tr), (false_st, fr)):
            if r_.id:
                for cont, k in s_.all_regs():
                    o = cont[k]
                    if o.t == SCALAR and o.id == r_.id:
                        cont[k] = r_.replace()

    def combine_min_max(self, st, s, d):
        """reg_combine_min_max on the branch where src == dst."""
        a, b = st.regs[s], st.regs[d]
        r = a.replace(umin=max(a.umin, b.umin), umax=min(a.umax, b.umax), smin=max(a.smin, b.smin),
                      smax=min(a.smax, b.smax), wide=a.wide or b.wide)
        r.tv, r.tm = t_intersect((a.tv, a.tm), (b.tv, b.tm))
        _sync(r)
        st.regs[s] = r.replace(id=a.id)
        st.regs[d] = r.replace(id=b.id)

    def match_pkt_pointers(self, op, d, s, dr, sr, this, other):
        """try_match_pkt_pointers: `this` is the fall-through, `other` the taken branch."""
        def fwd(a, b):
            return (a.t == PKT and b.t == END) or (a.t == META and b.t == PKT and b.off == 0 and b.const
                                                     and b.tv == 0)
        if op == 0x20:                                        # >
            if fwd(dr, sr):
                self.good_pkt(this, dr, False)
                self.mark_pkt_end(other, d, True)
            elif fwd(sr, dr):
                self.good_pkt(other, sr, True)
                self.mark_pkt_end(this, s, False)
        elif op == 0xA0:                                      # <
            if fwd(dr, sr):
                self.good_pkt(other, dr, True)
                self.mark_pkt_end(this, d, False)
            elif fwd(sr, dr):
                self.good_pkt(this, sr, False)
                self.mark_pkt_end(other, s, True)
        elif op == 0x30:                                      # >=
            if fwd(dr, sr):
                self.good_pkt(this, dr, True)
                self.mark_pkt_end(other, d, False)
            elif fwd(sr, dr):
                self.good_pkt(other, sr, False)
                self.mark_pkt_end(this, s, True)
        elif op == 0xB0:                                      # <=
            if fwd(dr, sr):
                self.good_pkt(other, dr, False)
                self.mark_pkt_end(this, d, True)
            elif fwd(sr, dr):
                self.good_pkt(this, sr, True)
                self.mark_pkt_end(other, s, False)

    @staticmethod
    def good_pkt(st, dreg, right_open):
        """find_good_pkt_pointers."""
        if dreg.off < 0 or (dreg.off == 0 and right_open):
            return
        if dreg.umax > MAX_PACKET_OFF or dreg.umax + dreg.off > MAX_PACKET_OFF:
            return
        new = dreg.off + (1 if right_open else 0)
        for cont, k in st.all_regs():
            o = cont[k]
            if o.t == dreg.t and o.id == dreg.id and o.rng < new:
                cont[k] = o.replace(rng=max(o.rng, new))

    @staticmethod
    def mark_pkt_end(st, regno, open_):
        r = st.regs[regno]
        if r.t != PKT:
            return
        st.regs[regno] = r.replace(rng=BEYOND_PKT_END if open_ else AT_PKT_END)

    @staticmethod
    def mark_ptr_or_null(st, id_, is_null):
        for cont, k in st.all_regs():
            o = cont[k]
            if o.t == MVN and o.id == id_:
                cont[k] = known(0) if is_null else o.replace(t=MV, id=0)


_MEM_HINT = {
    MVN: "bpf_map_lookup_elem() returns NULL when the key is not in the map: `if (!value) return XDP_PASS;` "
         "before using it",
    SCALAR: "this register holds a number, not a pointer the program may dereference",
    MAP: "a map is not memory: look a value up with bpf_map_lookup_elem(&map, &key)",
    END: "data_end is where the packet ends: compare with it, never read through it",
}
_ARG_HINT = {
    "key": "pass a pointer to the key (e.g. &key, a variable on the stack), not the key's value",
    "value": "pass a pointer to the value (e.g. &value on the stack)",
    "map": "pass the address of a map declared in SEC(\".maps\")",
    "ctx": "pass the program's ctx argument unchanged",
    "mem": "pass a pointer to a buffer (stack, map value or checked packet bytes)",
}


# ------------------------------------------------------------------------------ long loops
class _Snap:
    """A state at a loop head (regs, stack, spills, alloc, path depth and history)."""
    __slots__ = ("regs", "stk", "spill", "alloc", "depth", "hist")

    def __init__(self, regs, stk, spill, alloc, depth=0, hist=None):
        self.regs, self.stk, self.spill, self.alloc, self.depth, self.hist = regs, stk, spill, alloc, depth, hist

    key = St.key


def _segment(hist, n):
    """The last ``n`` instructions of a path history, oldest first (None if shorter)."""
    out = []
    while hist is not None and len(out) < n:
        out.append(hist[0])
        hist = hist[1]
    if len(out) < n:
        return None
    out.reverse()
    return out


def _slot(x, sl):
    return x.regs[sl[1]] if sl[0] == "r" else x.spill[sl[1]]


def _id_pattern(x):
    ids = {}
    out = []
    for r in list(x.regs[:10]) + [x.spill[k] for k in sorted(x.spill)]:
        out.append(ids.setdefault(r.id, len(ids)) if r.id else 0)
    return tuple(out)


_AFF = ("off", "rng", "umin", "umax", "smin", "smax", "tv")


def _affine(ra, rb, rc):
    """The per-turn change of each numeric field (off, rng, umin, umax, smin, smax, tv) of a
    value seen in three turns, if it is the same both times and the rest is unchanged; else None."""
    if not (ra.t == rb.t == rc.t) or ra.m != rc.m or rb.m != rc.m or ra.wide != rc.wide or rb.wide != rc.wide:
        return None
    if (ra.tm != rb.tm or rb.tm != rc.tm) and not (ra.t == SCALAR and all(_range_tnum(r) for r in (ra, rb, rc))):
        return None
    out = []
    for f in _AFF:
        x, y, z = getattr(ra, f), getattr(rb, f), getattr(rc, f)
        if f == "tv" and ra.tm:
            if x != z or y != z:
                if not _range_tnum(rc):
                    return None
            out.append(0)
            continue
        if y - x != z - y:
            return None
        out.append(z - y)
    return tuple(out)


def _range_tnum(r):
    """A non-constant scalar whose tnum is what its unsigned bounds give (tnum_range), as after
    reg_bounds_sync of a sum of loaded bytes: moved with its bounds when it is extrapolated."""
    return r.tm != 0 and (r.tv, r.tm) == t_range(r.umin, r.umax)


def _cross_cap(r, dl):
    """Turns before a moving field crosses a boundary where the arithmetic on it stops being
    the same line (a 32-bit value wrapping at 2**32, a 64-bit one crossing the sign at 2**63):
    past it decisions on the value need not be monotone."""
    cap = 1 << 40
    for f, d in zip(_AFF, dl):
        if not d:
            continue
        v = getattr(r, f)
        block = 1 << 32 if 0 <= v < 1 << 32 and abs(d) < 1 << 32 else 1 << 63
        if d > 0:
            j = -(-((v // block + 1) * block - v) // d)
        else:
            j = -(-(v - (v // block) * block + 1) // -d)
        cap = min(cap, j)
    return cap


def _extrapolate(c, deltas, j, bad=()):
    """The state ``j`` turns after ``c``, each moving field moved ``j`` times its change (the
    values no decision reads: unknown); None if a value would leave its range."""
    regs = list(c.regs)
    spill = dict(c.spill)
    for i in bad:
        regs[i] = unknown(wide=True)
    for sl, dl in deltas.items():
        r = _slot(c, sl)
        kw = {f: getattr(r, f) + j * d for f, d in zip(_AFF, dl) if d}
        n = r.replace(**kw)
        if n.t == SCALAR and n.tm and _range_tnum(r):
            n.tv, n.tm = t_range(n.umin, n.umax) if 0 <= n.umin <= n.umax <= U64 else (0, U64)
        if not (0 <= n.umin <= n.umax <= U64 and S64_MIN <= n.smin <= n.smax <= S64_MAX and 0 <= n.tv <= U64):
            return None
        if n.t == SCALAR and n.const and not (n.umin == n.umax == n.tv and n.smin == n.smax == _s64(n.tv)):
            return None
        if n.is_ptr() and (abs(n.off) >= BPF_MAX_VAR_OFF or (n.rng < 0) != (r.rng < 0)):
            return None
        if sl[0] == "r":
            regs[sl[1]] = n
        else:
            spill[sl[1]] = n
    return _Snap(regs, dict(c.stk), spill, c.alloc)


def _same_state(s, y, live):
    if s.key(live) != y.key(live):
        return False
    return all(s.regs[i].wide == y.regs[i].wide for i in range(10) if (live >> i) & 1)


def _eq_turn(diff0, dd, mod):
    """The first turn j >= 1 where diff0 + j*dd == 0 (mod ``mod``): where == between two moving
    constants changes its answer."""
    dd %= mod
    t = (-diff0) % mod
    if dd == 0:
        return 1 << 40
    g = math.gcd(dd, mod)
    if t % g:
        return 1 << 40
    m = mod // g
    j = (t // g) * pow(dd // g, -1, m) % m
    return j or m


def _reg_covers(o, n, idmap):
    """regsafe: every value ``n`` may hold, ``o`` may hold too, and pointers are the same pointer."""
    if o.t == NOT_INIT:
        return True
    if o.t != n.t:
        return False
    if o.t == SCALAR:
        return (o.umin <= n.umin and n.umax <= o.umax and o.smin <= n.smin and n.smax <= o.smax
                and t_in((o.tv, o.tm), (n.tv, n.tm))
                and (not o.id or idmap.setdefault(("s", o.id), n.id) == n.id))
    if o.off != n.off or o.m != n.m:
        return False
    if o.t in (PKT, META):
        if o.rng > n.rng or (o.rng < 0) != (n.rng < 0) and o.rng != n.rng:
            return False
        if not (o.umin <= n.umin and n.umax <= o.umax and o.smin <= n.smin and n.smax <= o.smax
                and t_in((o.tv, o.tm), (n.tv, n.tm))):
            return False
    elif o.key()[3:] != n.key()[3:]:
        return False
    if o.id or n.id:
        if idmap.setdefault(("p", o.id), n.id) != n.id or idmap.setdefault(("q", n.id), o.id) != o.id:
            return False
    return True


def _covers(old, st, live):
    """states_equal: the kept state ``old`` (regs, stack, spills, alloc) covers ``st``."""
    oregs, ostk, ospill, oalloc = old.regs, old.stk, old.spill, old.alloc
    if oalloc > st.alloc:
        return False
    idmap = {}
    for i in range(10):
        if (live >> i) & 1 and not _reg_covers(oregs[i], st.regs[i], idmap):
            return False
    for spi, types in ostk.items():
        cur = st.stk.get(spi, "IIIIIIII")
        for a, b in zip(types, cur):
            if a == "I" or a == b or (a == "M" and b == "Z"):
                continue
            return False
        if spi in ospill and (spi not in st.spill or not _reg_covers(ospill[spi], st.spill[spi], idmap)):
            return False
    return True


def _s32(v):
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def _sval32(v):
    return _s32(v)


def _over_add(a, b):
    return not S64_MIN <= a + b <= S64_MAX


def _over_sub(a, b):
    return not S64_MIN <= a - b <= S64_MAX


def _unbounded(r):
    return r.tm == U64 and r.umin == 0 and r.umax == U64 and r.smin == S64_MIN and r.smax == S64_MAX


def _flip(op):
    return {0x20: 0xA0, 0x30: 0xB0, 0xA0: 0x20, 0xB0: 0x30, 0x60: 0xC0, 0x70: 0xD0, 0xC0: 0x60,
            0xD0: 0x70}.get(op, op)


def _taken(sa, ua, val, op, bits=64):
    sval = _s32(val) if bits == 32 else _s64(val)
    return {0x10: ua == val, 0x50: ua != val, 0x40: bool(ua & val), 0x20: ua > val, 0x30: ua >= val,
            0xA0: ua < val, 0xB0: ua <= val, 0x60: sa > sval, 0x70: sa >= sval, 0xC0: sa < sval,
            0xD0: sa <= sval}[op] and 1 or 0


def _is_branch64_taken(r, val, op):
    sval = _s64(val)
    if op == 0x10:
        if r.const:
            return int(r.tv == val)
        if val < r.umin or val > r.umax or sval < r.smin or sval > r.smax:
            return 0
    elif op == 0x50:
        if r.const:
            return int(r.tv != val)
        if val < r.umin or val > r.umax or sval < r.smin or sval > r.smax:
            return 1
    elif op == 0x40:
        if (~r.tm & r.tv) & val:
            return 1
        if not ((r.tm | r.tv) & val):
            return 0
    elif op == 0x20:
        if r.umin > val:
            return 1
        if r.umax <= val:
            return 0
    elif op == 0x60:
        if r.smin > sval:
            return 1
        if r.smax <= sval:
            return 0
    elif op == 0xA0:
        if r.umax < val:
            return 1
        if r.umin >= val:
            return 0
    elif op == 0xC0:
        if r.smax < sval:
            return 1
        if r.smin >= sval:
            return 0
    elif op == 0x30:
        if r.umin >= val:
            return 1
        if r.umax < val:
            return 0
    elif op == 0x70:
        if r.smin >= sval:
            return 1
        if r.smax < sval:
            return 0
    elif op == 0xB0:
        if r.umax <= val:
            return 1
        if r.umin > val:
            return 0
    elif op == 0xD0:
        if r.smax <= sval:
            return 1
        if r.smin > sval:
            return 0
    return -1


def _pkt_ptr_taken(dr, sr, op):
    """is_pkt_ptr_branch_taken (6.1)."""
    if sr.t == END:
        pkt = dr
    elif dr.t == END:
        pkt = sr
        op = _flip(op)
    else:
        return -1
    if pkt.rng >= 0:
        return -1
    if op in (0xB0, 0x20):
        if pkt.rng == BEYOND_PKT_END:
            return int(op == 0x20)
    elif op in (0xA0, 0x30):
        if pkt.rng in (BEYOND_PKT_END, AT_PKT_END):
            return int(op == 0x30)
    return -1


# ------------------------------------------------------------------------------ entry point
def _listing(prog, hist, pc, limit=30):
    """The path that led to ``pc`` as the kernel's log lists it: `; source` when the line changes,
    then `N: (op) insn` (kernel/bpf/disasm.c syntax)."""
    pcs = []
    h = hist
    while h is not None:
        pcs.append(h[0])
        h = h[1]
    pcs.reverse()
    if not pcs or pcs[-1] != pc:
        pcs.append(pc)
    cut = len(pcs) > limit
    pcs = pcs[-limit:]
    out = [f"... ({len(pcs)} of the path's last instructions)"] if cut else []
    last_src = None
    for i in pcs:
        src = prog_source_line(prog, i)
        if src and src != last_src:
            out.append(src)
            last_src = src
        out.append(f"{i}: ({int(prog.insns[i]) & 0xFF:02x}) {disasm_one(prog.insns, i, _hname)}")
    return out


def prog_source_line(prog, i):
    best = None
    for rec in getattr(prog, "line_info", ()) or ():
        if rec[0] <= i:
            best = rec
        else:
            break
    if best is None or not best[4]:
        return ""
    return f"; {best[4].strip()} @ {os.path.basename(best[1])}:{best[2]}"


def verify_program(prog, maps, raise_on_reject: bool = True) -> VerifierResult:
    """Walk ``prog`` (a loader ProgDef: insns, name, section, attach, line_info) as Linux 6.1's
    verifier does.  Raises :class:`BpfVerifierError` for a program the kernel rejects (unless
    ``raise_on_reject`` is False); returns a :class:`VerifierResult` otherwise."""
    v = Verifier(prog, maps)
    t0 = time.perf_counter()
    v.cur = None
    gc_was = gc.isenabled()
    gc.disable()                # the walk allocates many small objects and no cycles
    try:
        v.run()
        # turns computed instead of walked: complete when they forked nowhere, computed every
        # value, and the kernel's count stays clear of its 1M limit
        insns = v.steps + sum(x[3] for x in v.skipped)
        for head, turns, forks, _n, lossy in v.skipped:
            if forks or lossy or insns > BPF_COMPLEXITY_LIMIT_INSNS * 9 // 10:
                why = (f"{forks} branches they left were not walked" if forks else
                       "values they computed but never compared were not tracked" if lossy else
                       f"about {insns} instructions in all, near the kernel's 1M limit")
                return VerifierResult("unsure", reason=f"the loop at insn {head}: {turns} turns computed instead "
                                      f"of walked ({why})", steps=v.steps, seconds=time.perf_counter() - t0)
        return VerifierResult("accept", steps=v.steps, seconds=time.perf_counter() - t0)
    except _GiveUp as g:
        return VerifierResult("unsure", reason=str(g), steps=v.steps, seconds=time.perf_counter() - t0)
    except _Reject as e:
        listing = _listing(prog, v.cur.hist if v.cur is not None else None, e.pc)
        head = (f"program '{prog.name}' (section {prog.section}): the kernel verifier rejects it "
                f"(xdplab checks what Linux 6.1's kernel/bpf/verifier.c checks, with its message):")
        msg = "\n".join([head] + listing + e.lines + ([f"hint: {e.hint}"] if e.hint else []))
        res = VerifierResult("reject", steps=v.steps, seconds=time.perf_counter() - t0, message=msg,
                             kernel_lines=e.lines)
        if raise_on_reject:
            err = BpfVerifierError(msg)
            err.result = res
            err.insn = e.pc
            err.kernel_lines = e.lines
            raise err from None
        return res
    finally:
        if gc_was:
            gc.enable()
