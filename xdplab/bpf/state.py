"""The run-time state of one loaded BPF object: a NamedTuple of a few numpy arrays.

Everything the jitted VM needs is in here: the decoded instructions of every
program of the object, registers and call frames, the stack, the storage of every
map (global data included), helper scratch space and the trace_pipe ring.  Built
by :func:`create_bpf_state` (called by the loader); never resized.

The state is deliberately *few* arrays (numba passes each array of a NamedTuple as
a separate argument, and reference-counts each one on every call): small tables
are columns of int64 matrices, and all byte storage is one ``umem`` array:

    umem = [ stack (8 frames x 512) | scratch (1024) | trace ring (64 KiB) | hash keys | map values ]
"""

from __future__ import annotations

from typing import NamedTuple

import numba as _numba
import numpy as np
from numba.core import types as _nbtypes
from numba.experimental import structref as _structref

from .._borrowed import borrowed as _borrowed, define_borrowed_proxy as _define_borrowed_proxy
from ..xdp_abi import TOUCH_SIZE
from .helpers import CLOCK_HELPERS
from .insn import MAX_BPF_STACK, MAX_CALL_FRAMES, OP_CALL

__all__ = ["BpfState", "BpfStateRef", "to_bpf_ref", "create_bpf_state", "NR_CPUS", "K_CTX", "K_PKT", "K_STACK",
           "K_MAPVAL", "K_MAP", "PTR_SHIFT", "PTR_MASK"]

NR_CPUS = 2                    # ESPRESSObin: 2 x Cortex-A53 (num_possible_cpus() for per-CPU maps)

# ---- umem layout
STACK_OFF = 0
STACK_SIZE = MAX_BPF_STACK * MAX_CALL_FRAMES
SCRATCH_OFF = STACK_OFF + STACK_SIZE      # helper scratch: key at +0, value at +512
SCRATCH_SIZE = 1024
TRACE_OFF = SCRATCH_OFF + SCRATCH_SIZE    # bpf_trace_printk records (xdplab.bpf.printk)
TRACE_SIZE = 1 << 16
KEYS_OFF = TRACE_OFF + TRACE_SIZE

# ---- ctl (int64) layout
CTL_REGS = 0            # r0..r10 (16 slots)
CTL_FRAMES = 16         # 8 frames x 6: return pc, saved r6..r9, saved r10
CTL_CLOCK = 64          # LRU clock
CTL_TAILCNT = 65        # tail calls in the current run
CTL_TRACE_POS = 66      # trace ring: write position (relative to TRACE_OFF)
CTL_TRACE_N = 67        # records written
CTL_TRACE_LOST = 68     # records dropped (ring full)
CTL_RESUME = 69         # pc + 1 where translated code handed a run back to the interpreter, 0 = none
CTL_RET = 70            # r0 of the last single-packet run
CTL_NEEDS_NOW = 71      # 1 if a program of the object reads the clock (ktime helpers, trace_printk)
CTL_FRAG_FREE = 72      # count of frag pages bpf_xdp_adjust_tail released; pages follow (17 slots)
CTL_JIT_CALLS = 90      # 4 slots: addresses of the native slow paths translated programs call (xdplab.bpf.jit)
CTL_JIT_RUN = 96        # 5 slots: the running translated program's mem, rows, cols, xdp, env (for its slow paths)
CTL_JIT_STACK_TOP = 101 # the running translated frame's stack top (512 per frame; for its slow paths)
CTL_RESUME_DEPTH = 102  # the bpf-to-bpf call depth where translated code handed a run back (with CTL_RESUME)
CTL_TAIL_ENTRY = 103    # 1: a translated bpf_tail_call enters the target's translation (counts in env)
# What the last run read and wrote of packet memory, for the board's DMA model (xdplab.progs):
# the program's own loads and stores (and the VM's reads of packet bytes a helper takes as a
# key, csum or string argument) as bit sets of the head page's 64-byte lines, and the XDP
# helpers' accesses as a touch table (xdplab.xdp_abi.TOUCH_*).  Set by every run.
CTL_PKT_RD = 104        # lines of the head page the program read
CTL_PKT_WR = 105        # lines of the head page the program wrote
CTL_TOUCH = 106         # TOUCH_SIZE slots: the helpers' reads and writes, per page
# bpf_loop: per call frame d, the running loop's [i, nr_loops, callback row, callback_ctx]
CTL_LOOP = CTL_TOUCH + TOUCH_SIZE
# bpf_fib_lookup's tables (xdplab.bpf.fib): counts, then routes, neighbours, devices (FIB_* columns)
CTL_FIB = CTL_LOOP + 4 * 8
FIB_MAX_ROUTES, FIB_MAX_NEIGH, FIB_MAX_DEVS = 64, 64, 16
FIB_RT_COLS, FIB_NB_COLS, FIB_DEV_COLS = 12, 6, 6
CTL_FIB_RT = CTL_FIB + 4
CTL_FIB_NB = CTL_FIB_RT + FIB_MAX_ROUTES * FIB_RT_COLS
CTL_FIB_DEV = CTL_FIB_NB + FIB_MAX_NEIGH * FIB_NB_COLS
CTL_EV_LOST = CTL_FIB_DEV + FIB_MAX_DEVS * FIB_DEV_COLS  # bpf_perf_event_output records lost (ring full): -ENOSPC
CTL_SIZE = CTL_EV_LOST + 1

# ---- maps[m, col]
MAP_TYPE, MAP_KEY_SIZE, MAP_VALUE_SIZE, MAP_MAX_ENTRIES, MAP_FLAGS, MAP_ID, MAP_NCOPIES, MAP_VSHIFT = range(8)
MAP_VBASE, MAP_KBASE, MAP_EBASE, MAP_BBASE, MAP_NBUCKETS, MAP_COUNT, MAP_FREE, MAP_RDONLY = range(8, 16)
MAP_NCOLS = 16
# ---- elems[e, col]
EL_USED, EL_NEXT, EL_LRU = 0, 1, 2
# ---- progs[p, col]
PR_START, PR_LEN, PR_FRAGS = 0, 1, 2
PR_JIT = 3              # entry address of the program translated to native code (xdplab.bpf.jit), 0 = none
PR_NCOLS = 4

# ---- tagged pointers -----------------------------------------------------------------------
# A 64-bit register holding a pointer carries the region kind in bits 48..63 and an offset
# below.  Kinds are odd-looking numbers so that an ordinary scalar is almost never one.
PTR_SHIFT = 48
PTR_MASK = (1 << 48) - 1
# Kinds are 16 apart: pointer arithmetic that under- or overflows the offset changes the
# kind by one and lands on no kind at all (a 'scalar'), never on another region.
K_CTX = 0x0B10        # struct xdp_md; offset = field offset
K_PKT = 0x0B20        # offset = byte offset in the head page (data..data_end, meta..data)
K_STACK = 0x0B30      # offset = byte offset in umem (frame i = [512 i, 512 (i+1)))
K_MAPVAL = 0x0B40     # bits 32..47 = map index, bits 0..31 = offset in the map's value area
K_MAP = 0x0B50        # CONST_PTR_TO_MAP: offset = map index
K_FUNC = 0x0B60       # PTR_TO_FUNC (a callback for bpf_loop): offset = the function's first row


class BpfState(NamedTuple):
    code: np.ndarray      # int64[N, 4]: decoded instructions (xdplab.bpf.vm)
    progs: np.ndarray     # int64[P, PR_NCOLS]: first row, length, frags flag, native code (PR_*)
    maps: np.ndarray      # int64[M, MAP_NCOLS]: map table (MAP_* columns)
    elems: np.ndarray     # int64[E, 3]: element slots (EL_USED, EL_NEXT hash chain/free list, EL_LRU)
    buckets: np.ndarray   # int64[B]: first element of each hash bucket, -1 = empty
    ctl: np.ndarray       # int64[CTL_SIZE]: registers, call frames, counters (CTL_*)
    umem: np.ndarray      # uint8: stack, scratch, trace ring, hash keys, map values
    umem64: np.ndarray    # int64 view of umem (aligned 8-byte accesses)


def _pow2_at_least(n: int) -> int:
    p = 1
    while p < n:
        p <<= 1
    return p


def create_bpf_state(code: np.ndarray, prog_start, prog_len, prog_frags, maps: list) -> BpfState:
    """Lay out storage for ``maps`` (objects with type, key_size, value_size, max_entries,
    map_flags, id, ncopies, rdonly, initial) and wrap the decoded code."""
    from .maps import is_hash_type  # local: maps imports state
    M = len(maps)
    mt = np.zeros((max(M, 1), MAP_NCOLS), dtype=np.int64)
    kpos = KEYS_OFF
    for d in maps:
        if is_hash_type(d.type):
            kpos += d.key_size * d.max_entries
    vpos = (kpos + 7) & ~7
    epos = bpos = 0
    for m, d in enumerate(maps):
        row = mt[m]
        row[MAP_TYPE], row[MAP_KEY_SIZE], row[MAP_VALUE_SIZE] = d.type, d.key_size, d.value_size
        row[MAP_MAX_ENTRIES], row[MAP_FLAGS], row[MAP_ID], row[MAP_NCOPIES] = d.max_entries, d.map_flags, d.id, \
            d.ncopies
        stride = _pow2_at_least(max(8, d.value_size))
        row[MAP_VSHIFT] = stride.bit_length() - 1
        row[MAP_VBASE] = vpos
        vpos += stride * d.max_entries * d.ncopies
        row[MAP_EBASE] = epos
        epos += d.max_entries
        row[MAP_RDONLY] = int(d.rdonly)
        row[MAP_FREE] = -1
    kpos = KEYS_OFF
    for m, d in enumerate(maps):
        if is_hash_type(d.type):
            mt[m, MAP_KBASE] = kpos
            kpos += d.key_size * d.max_entries
            mt[m, MAP_NBUCKETS] = _pow2_at_least(max(1, d.max_entries))
            mt[m, MAP_BBASE] = bpos
            bpos += mt[m, MAP_NBUCKETS]
    umem = np.zeros((vpos + 7) & ~7, dtype=np.uint8)
    elems = np.zeros((max(epos, 1), 3), dtype=np.int64)
    elems[:, 1] = -1
    for m, d in enumerate(maps):
        eb = int(mt[m, MAP_EBASE])
        if d.type in (4, 27):
            # PERF_EVENT_ARRAY slot / RINGBUF: [reader present, producer pos, consumer pos]; every
            # CPU's slot of a perf event array has a reader (what perf_buffer__new opens)
            elems[eb: eb + d.max_entries, 1] = 0
            elems[eb: eb + d.max_entries, 0] = 1 if d.type == 27 else 0
            if d.type == 4:
                elems[eb: eb + min(d.max_entries, NR_CPUS), 0] = 1
        if d.type in (22, 23):                      # QUEUE / STACK: head, tail (maps.bpf_queue_stack_push)
            elems[eb, 1] = 0
            elems[eb, 2] = 0
        if is_hash_type(d.type):
            for i in range(d.max_entries):          # free list: every element, in order
                elems[eb + i, 1] = eb + i + 1 if i + 1 < d.max_entries else -1
            mt[m, MAP_FREE] = eb
        if d.initial is not None:
            b = np.frombuffer(bytes(d.initial), dtype=np.uint8)
            vb = int(mt[m, MAP_VBASE])
            umem[vb: vb + len(b)] = b
    pr = np.zeros((max(len(prog_start), 1), PR_NCOLS), dtype=np.int64)
    for i in range(len(prog_start)):
        pr[i, :PR_JIT] = (prog_start[i], prog_len[i], prog_frags[i])
    code = np.ascontiguousarray(code, dtype=np.int64).reshape(-1, 4)
    ctl = np.zeros(CTL_SIZE, dtype=np.int64)
    # the board sets env[ENV_NOW_NS] before a run only for an object that reads it (a clock read
    # is a sum over the cost model's operation counts, xdplab.cost.cpu_clock)
    ctl[CTL_NEEDS_NOW] = int(bool(np.isin(code[:, 2][code[:, 0] == OP_CALL], CLOCK_HELPERS).any()))
    return BpfState(code=code, progs=pr, maps=mt, elems=elems, buckets=np.full(max(bpos, 1), -1, dtype=np.int64),
                    ctl=ctl, umem=umem, umem64=umem.view(np.int64))


# ---- the state as the board's jitted kernels take it ----------------------------------------------


@_structref.register
class BpfStateType(_nbtypes.StructRef):
    """numba's view of a BpfState: one pointer to the same (borrowed) arrays."""

    def preprocess_fields(self, fields):
        return tuple((name, _borrowed(_nbtypes.unliteral(t))) for name, t in fields)


class BpfStateRef(_structref.StructRefProxy):
    """A BpfState as the board's inlined interpreter takes it.

    As a NamedTuple inside the board's struct, the whole state (8 arrays, ~60 words) is
    loaded at once where the VM starts, and what only the VM's rare paths use is kept
    (spilled) across the run: ~100 stores per packet.  Through this struct each array
    is loaded where it is used (the loads are invariant, see xdplab._borrowed), so a
    short program pays only for what it touches.  Same arrays, same attribute names.
    """


_define_borrowed_proxy(BpfStateRef, BpfStateType, list(BpfState._fields))


def _new_bpf_ref_py(code, progs, maps, elems, buckets, ctl, umem, umem64):
    return BpfStateRef(code, progs, maps, elems, buckets, ctl, umem, umem64)


# cached with the kernels (StructRefProxy's own constructor compiles afresh in every process)
_new_bpf_ref = _numba.njit(cache=True)(_new_bpf_ref_py)


def to_bpf_ref(s: BpfState) -> BpfStateRef:
    """The StructRef over the same arrays as ``s`` (which it keeps alive: the struct only borrows them)."""
    ref = _new_bpf_ref(*s)
    ref._owner = s
    return ref
