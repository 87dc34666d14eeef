"""The run-time state of one loaded BPF object: a NamedTuple of numpy arrays.

Everything the jitted VM needs is in here: the decoded instructions of every
program of the object, the register file and stack, the storage of every map
(global data included), scratch buffers for helpers, and the trace_pipe ring.
Built by :func:`create_bpf_state` (called by the loader); never resized.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .insn import MAX_BPF_STACK, MAX_CALL_FRAMES

__all__ = ["BpfState", "create_bpf_state", "NR_CPUS", "TRACE_BUF_SIZE", "STACK_SIZE", "SCRATCH_SIZE",
           "K_CTX", "K_PKT", "K_STACK", "K_MAPVAL", "K_MAP", "PTR_SHIFT", "PTR_MASK"]

NR_CPUS = 2                    # ESPRESSObin: 2 x Cortex-A53 (num_possible_cpus() for per-CPU maps)
STACK_SIZE = MAX_BPF_STACK * MAX_CALL_FRAMES
SCRATCH_SIZE = 1024            # helper scratch (keys, values, csum_diff, printk) >= 2 * MAX_BPF_STACK
TRACE_BUF_SIZE = 1 << 16       # trace_pipe ring (records, see xdplab.bpf.trace)

# ---- tagged pointers -----------------------------------------------------------------------
# A 64-bit register holding a pointer carries the region kind in bits 48..63 and an offset
# below.  Kinds are odd-looking numbers so that an ordinary scalar is almost never one.
PTR_SHIFT = 48
PTR_MASK = (1 << 48) - 1
K_CTX = 0x0B10        # struct xdp_md; offset = field offset
K_PKT = 0x0B11        # offset = byte offset in the head page (data..data_end, meta..data)
K_STACK = 0x0B12      # offset = byte offset in BpfState.stack (frame i = [512 i, 512 (i+1)))
K_MAPVAL = 0x0B13     # bits 32..47 = map index, bits 0..31 = offset in the map's value area
K_MAP = 0x0B14        # CONST_PTR_TO_MAP: offset = map index


class BpfState(NamedTuple):
    # --- programs: decoded instructions, one row per instruction (see xdplab.bpf.vm)
    code: np.ndarray          # int64[N, 4]: (op | dst<<8 | src<<12 | K<<16, off/target, imm, aux)
    prog_start: np.ndarray    # int64[P]: first row of program p
    prog_len: np.ndarray      # int64[P]
    prog_frags: np.ndarray    # int64[P]: 1 for xdp.frags programs
    # --- execution
    regs: np.ndarray          # int64[16]: r0..r10
    frames: np.ndarray        # int64[MAX_CALL_FRAMES, 6]: return pc, saved r6..r9, saved r10
    stack: np.ndarray         # uint8[STACK_SIZE]
    stack64: np.ndarray       # int64 view of stack (aligned 8-byte accesses)
    scratch: np.ndarray       # uint8[SCRATCH_SIZE]: helper buffers (key at 0, value at 512)
    frag_free: np.ndarray     # int64[1 + 17]: frag pages bpf_xdp_adjust_tail released (count, pages...)
    # --- maps (index m)
    map_type: np.ndarray      # int64[M]  BPF_MAP_TYPE_*
    map_key_size: np.ndarray
    map_value_size: np.ndarray
    map_max_entries: np.ndarray
    map_flags: np.ndarray
    map_id: np.ndarray        # the map's id (as `bpftool map` shows it; ENV_RI_MAP_ID)
    map_ncopies: np.ndarray   # NR_CPUS for per-CPU maps, else 1
    map_vshift: np.ndarray    # log2 of the value stride (a power of two >= value_size, >= 8)
    map_vbase: np.ndarray     # start of the value area in mapmem
    map_kbase: np.ndarray     # start of the key area in keymem (hash maps)
    map_ebase: np.ndarray     # first element slot in elem_*
    map_bbase: np.ndarray     # first bucket in buckets (hash maps)
    map_nbuckets: np.ndarray  # power of two (hash maps), else 0
    map_count: np.ndarray     # used elements (hash maps)
    map_free: np.ndarray      # head of the free-element list (hash maps), -1 = none
    map_rdonly: np.ndarray    # 1: programs may not write values (.rodata, BPF_F_RDONLY_PROG)
    mapmem: np.ndarray        # uint8: all map values
    mapmem64: np.ndarray      # int64 view of mapmem
    keymem: np.ndarray        # uint8: hash map keys
    elem_used: np.ndarray     # int64[E]: slot holds an element (hash, devmap, cpumap, xskmap, prog_array)
    elem_next: np.ndarray     # int64[E]: hash chain / free list
    elem_lru: np.ndarray      # int64[E]: last-use stamp (LRU_HASH)
    buckets: np.ndarray       # int64[B]: first element of each hash bucket, -1 = empty
    clock: np.ndarray         # int64[2]: LRU clock, tail-call counter of the current run
    # --- bpf_trace_printk ring: records of (len u16, cpu u8, 0, now_ns i64, text)
    trace: np.ndarray         # uint8[TRACE_BUF_SIZE]
    trace_pos: np.ndarray     # int64[3]: write position, records written, records lost (full)


def _pow2_at_least(n: int) -> int:
    p = 1
    while p < n:
        p <<= 1
    return p


def create_bpf_state(code: np.ndarray, prog_start, prog_len, prog_frags, maps: list) -> BpfState:
    """Lay out storage for ``maps`` (objects with type, key_size, value_size, max_entries,
    map_flags, id, ncopies, rdonly, hashed, initial) and wrap the decoded code."""
    from .maps import is_hash_type  # local: maps imports state
    M = len(maps)
    arr = lambda: np.zeros(max(M, 1), dtype=np.int64)  # noqa: E731
    t, ks, vs, me, fl, mid, nc, vsh, vb, kb, eb, bb, nb, cnt, fr, ro = (arr() for _ in range(16))
    vpos = kpos = epos = bpos = 0
    for m, d in enumerate(maps):
        t[m], ks[m], vs[m], me[m], fl[m], mid[m] = d.type, d.key_size, d.value_size, d.max_entries, \
            d.map_flags, d.id
        nc[m] = d.ncopies
        stride = _pow2_at_least(max(8, d.value_size))
        vsh[m] = stride.bit_length() - 1
        vb[m] = vpos
        vpos += stride * d.max_entries * d.ncopies
        eb[m] = epos
        epos += d.max_entries
        ro[m] = int(d.rdonly)
        fr[m] = -1
        if is_hash_type(d.type):
            kb[m] = kpos
            kpos += d.key_size * d.max_entries
            nb[m] = _pow2_at_least(max(1, d.max_entries))
            bb[m] = bpos
            bpos += nb[m]
    mapmem = np.zeros(max(vpos, 8), dtype=np.uint8)
    elem_next = np.full(max(epos, 1), -1, dtype=np.int64)
    for m, d in enumerate(maps):
        if is_hash_type(d.type):
            # free list: every element, in order
            for i in range(d.max_entries):
                elem_next[eb[m] + i] = eb[m] + i + 1 if i + 1 < d.max_entries else -1
            fr[m] = eb[m] if d.max_entries else -1
        if d.initial is not None:
            b = np.frombuffer(bytes(d.initial), dtype=np.uint8)
            mapmem[vb[m]: vb[m] + len(b)] = b
    stack = np.zeros(STACK_SIZE, dtype=np.uint8)
    return BpfState(
        code=np.ascontiguousarray(code, dtype=np.int64).reshape(-1, 4),
        prog_start=np.asarray(prog_start, dtype=np.int64), prog_len=np.asarray(prog_len, dtype=np.int64),
        prog_frags=np.asarray(prog_frags, dtype=np.int64),
        regs=np.zeros(16, dtype=np.int64), frames=np.zeros((MAX_CALL_FRAMES, 6), dtype=np.int64),
        stack=stack, stack64=stack.view(np.int64), scratch=np.zeros(SCRATCH_SIZE, dtype=np.uint8),
        frag_free=np.zeros(18, dtype=np.int64),
        map_type=t, map_key_size=ks, map_value_size=vs, map_max_entries=me, map_flags=fl, map_id=mid,
        map_ncopies=nc, map_vshift=vsh, map_vbase=vb, map_kbase=kb, map_ebase=eb, map_bbase=bb,
        map_nbuckets=nb, map_count=cnt, map_free=fr, map_rdonly=ro,
        mapmem=mapmem, mapmem64=mapmem.view(np.int64), keymem=np.zeros(max(kpos, 1), dtype=np.uint8),
        elem_used=np.zeros(max(epos, 1), dtype=np.int64), elem_next=elem_next,
        elem_lru=np.zeros(max(epos, 1), dtype=np.int64), buckets=np.full(max(bpos, 1), -1, dtype=np.int64),
        clock=np.zeros(2, dtype=np.int64),
        trace=np.zeros(TRACE_BUF_SIZE, dtype=np.uint8), trace_pos=np.zeros(3, dtype=np.int64))
