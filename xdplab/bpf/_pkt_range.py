"""Packet accesses proven in bounds before the run, as the kernel verifier proves them.

The verifier follows ``ctx->data`` and ``ctx->data_end`` through the program: comparing a
register that points into the packet with one that holds ``data_end`` tells it, on one branch,
how many bytes after that pointer are inside the packet (the ``range`` of a
``PTR_TO_PACKET``, set by ``find_good_pkt_pointers`` in kernel/bpf/verifier.c).  An access
proven inside ``data..data_end`` that way needs no check when it runs, and the kernel's JIT
emits it as a plain load or store.

The JIT (:mod:`xdplab.bpf.jit`) does the same: an access this analysis proves is one machine
load or store, and every other access keeps its run-time check.  The analysis is a cut-down
verifier that only ever proves what is sure:

* a packet pointer is ``data + o`` with a known lower bound ``lo <= o`` (exact: ``o == lo``, a
  constant offset) and ``ahead``: how many bytes after it are surely before ``data_end``;
* it follows ``ctx->data``, copies (``rX = rY``) and constant adds and subtracts
  (``rX += K``, ``|K| <= 0xffff``, MAX_PACKET_OFF); anything else makes a register unknown,
  and so does a value reloaded from the stack;
* only 64-bit unsigned compares (``>``, ``>=``, ``<``, ``<=``, either order) of a packet
  pointer with ``data_end`` prove bytes ahead; a constant-offset one proves them for every
  constant-offset pointer (``data + N <= data_end``: the verifier's shared range);
* a helper that can move the packet (``bpf_xdp_adjust_head/_meta/_tail``: the XDP part of
  ``bpf_helper_changes_pkt_data``) forgets every packet pointer; any helper clobbers r0-r5;
* where paths meet, the facts kept are those every path has (the smaller bound, the fewer
  bytes ahead).  Loops are iterated to a fixed point: facts only ever shrink, so it ends.

Tagged pointers make a proof sound here: a packet pointer is ``K_PKT << 48 | (data + o)``, so
an unsigned compare of two of them compares their offsets, exactly as the run-time check
the proof replaces would.  (A pointer walked past 2**48 would need 2**32 constant adds of at
most 0xffff: no run's instruction budget comes near.)
"""

from __future__ import annotations

import heapq
from typing import NamedTuple

import numpy as np

__all__ = ["proven_pkt_accesses", "PktAccess"]

MAX_PACKET_OFF = 0xFFFF       # include/linux/bpf_verifier.h: the verifier refuses larger offsets
UNKNOWN = float("-inf")       # bytes ahead of a pointer that nothing has proven

# helpers that leave data, data_meta and data_end where they are (every other helper moves them
# or might): map lookup/update/delete, ktime, trace_printk, prandom, smp_processor_id, redirect,
# csum_diff, get_numa_node_id, redirect_map, ktime_get_boot/coarse_ns, trace_vprintk,
# xdp_get_buff_len, xdp_load/store_bytes, jiffies64, map_lookup_percpu_elem, ktime_get_tai_ns,
# map_push/pop/peek_elem
_KEEPS_PKT = frozenset({1, 2, 3, 5, 6, 7, 8, 23, 87, 88, 89, 28, 42, 51, 118, 125, 160, 163, 177, 188, 189, 190, 195, 208})

CTX = ("ctx",)
END = ("end",)


class PktAccess(NamedTuple):
    """A proven access: at ``data + off`` if ``exact``, else at the base register + ``off``."""
    exact: bool
    reg: int
    off: int


def _pkt(lo, exact, ahead):
    if not 0 <= lo <= MAX_PACKET_OFF:
        return None
    return ("pkt", lo, exact, ahead)


def _meet_val(a, b):
    if a == b:
        return a
    if a is None or b is None or a[0] != "pkt" or b[0] != "pkt":
        return None
    return ("pkt", min(a[1], b[1]), a[2] and b[2] and a[1] == b[1], min(a[3], b[3]))


def _meet(a, b):
    if a is None:
        return b
    return tuple(_meet_val(x, y) for x, y in zip(a[0], b[0])), min(a[1], b[1])


def _widen(old, new):
    """Meeting along a back edge: a fact that shrank shrinks all the way (bytes ahead to none, a
    lower bound to unknown), so a loop that walks a pointer reaches its fixed point at once."""
    if old is None:
        return new
    regs = []
    for o, n in zip(old[0], new[0]):
        if n is not None and n[0] == "pkt" and o is not None and o[0] == "pkt":
            if n[1] < o[1]:
                n = None
            elif n[3] < o[3]:
                n = ("pkt", n[1], n[2], UNKNOWN)
        regs.append(n)
    return tuple(regs), (new[1] if new[1] >= old[1] else 0)


def _with_range(regs, rng):
    """Every constant-offset pointer below ``rng`` (data + rng <= data_end) gets its bytes ahead."""
    return tuple(("pkt", v[1], True, max(v[3], rng - v[1])) if v is not None and v[0] == "pkt" and v[2] else v
                 for v in regs)


def _step(code, pc, regs, rng):
    """The state after instruction ``pc`` (a jump's refinement is ``_edges``'s).  Returns
    (regs, range, access): access is (base register, its value, offset, size) for a load or store."""
    w, x, imm = (int(v) for v in code[pc, :3])
    op = w & 0xFF
    dst, src = (w >> 8) & 0xF, (w >> 12) & 0xF
    r = list(regs)
    acc = None
    if op < 68:                                  # ALU, END, MOVSX
        v = regs[dst]
        if op == 27:                             # ALU64 | MOV | X: a copy
            r[dst] = regs[src]
        elif op in (0, 1) and v is not None and v[0] == "pkt" and abs(imm) <= MAX_PACKET_OFF:
            c = imm if op == 0 else -imm         # ALU64 | ADD/SUB | K
            r[dst] = _pkt(v[1] + c, v[2], v[3] - c)
        else:
            r[dst] = None
    elif op == 127:                              # a helper call: r0-r5 clobbered
        keep = imm in _KEEPS_PKT
        r = [None] * 6 + [v if v == CTX or keep else None for v in regs[6:]]
        rng = rng if keep else 0
    elif 130 <= op < 137:                        # LDX, LDSX
        acc = (src, regs[src], x, 1 << ((op - 130) if op < 134 else (op - 134)))
        r[dst] = None
        if op == 132 and regs[src] == CTX:       # u32 ctx->data / ctx->data_end
            r[dst] = ("pkt", 0, True, rng) if x == 0 else END if x == 4 else None
    elif 137 <= op < 145:                        # STX, ST
        acc = (dst, regs[dst], x, 1 << ((op - 137) if op < 141 else (op - 141)))
    elif op == 129:                              # a bpf-to-bpf call: the callee may do anything
        r = [None] * 6 + [v if v == CTX else None for v in regs[6:]]
        rng = 0
    elif op in (145, 146):                       # atomics: a fetch writes src, cmpxchg r0
        r[src] = None
        r[0] = None
    elif op == 147:                              # LD_IMM64
        r[dst] = None
    return tuple(r), rng, acc


def _proves(regs, rng, reg, n):
    """The state once ``data + o + n <= data_end`` is known of the pointer in ``reg``."""
    v = regs[reg]
    r = list(regs)
    r[reg] = ("pkt", v[1], v[2], max(v[3], n))
    if v[2]:
        rng = max(rng, v[1] + n)
        return _with_range(r, rng), rng
    return tuple(r), rng


# JMP64 | X compares of pointer a with data_end b: (jop: (bytes ahead proven where taken,
# where not taken)), None for nothing proven.  a > b falls through with a <= b: 0 bytes ahead
# proven; a >= b falls through with a < b: 1 byte.
_PTR_VS_END = {2: (None, 0), 3: (None, 1), 10: (1, None), 11: (0, None)}
_END_VS_PTR = {2: (1, None), 3: (0, None), 10: (None, 0), 11: (None, 1)}


def _edges(code, pc, regs, rng):
    """(target pc, regs, range) for each way out of the block that ends with instruction ``pc``."""
    w, x = int(code[pc, 0]), int(code[pc, 1])
    op = w & 0xFF
    if op == 128:
        return []
    if op in (126, 147):
        return [(x, regs, rng)]
    if not 70 <= op < 126:
        return [(pc + 1, regs, rng)]
    out = [(x, regs, rng), (pc + 1, regs, rng)]
    if 84 <= op < 98:                            # JMP (64-bit) | X
        jop = op - 84
        d, s = (w >> 8) & 0xF, (w >> 12) & 0xF
        a, b = regs[d], regs[s]
        if a is not None and a[0] == "pkt" and b == END:
            ptr, table = d, _PTR_VS_END
        elif a == END and b is not None and b[0] == "pkt":
            ptr, table = s, _END_VS_PTR
        else:
            return out
        for k, n in enumerate(table.get(jop, (None, None))):
            if n is not None:
                out[k] = (out[k][0],) + _proves(regs, rng, ptr, n)
    return out


def proven_pkt_accesses(code: np.ndarray, blocks: dict) -> dict:
    """{pc: PktAccess} for each load or store of ``blocks`` (``{leader: [pcs]}``, the JIT's basic
    blocks, entered at the first leader with ``r1`` = ctx) that the analysis proves inside
    ``data..data_end`` on every path to it."""
    start = next(iter(blocks))
    entry = {start: (tuple(CTX if i == 1 else None for i in range(11)), 0)}
    todo = [start]                               # a heap: in pc order, a block without loops
    queued = {start}                             # is done once, after everything before it
    while todo:                                  # to a fixed point: states only ever lose facts
        b = heapq.heappop(todo)
        queued.discard(b)
        regs, rng = entry[b]
        for pc in blocks[b]:
            regs, rng, _ = _step(code, pc, regs, rng)
        for tgt, tregs, trng in _edges(code, blocks[b][-1], regs, rng):
            if tgt not in blocks:
                continue
            old = entry.get(tgt)
            new = _meet(old, (tregs, trng))
            if tgt <= b:
                new = _widen(old, new)
            if new != old:
                entry[tgt] = new
                if tgt not in queued:
                    queued.add(tgt)
                    heapq.heappush(todo, tgt)
    proven = {}
    for b, pcs in blocks.items():
        if b not in entry:
            continue
        regs, rng = entry[b]
        for pc in pcs:
            regs, rng, acc = _step(code, pc, regs, rng)
            if acc is None or acc[1] is None or acc[1][0] != "pkt":
                continue
            reg, (_, lo, exact, ahead), x, sz = acc
            if lo + x >= 0 and x + sz <= ahead:
                proven[pc] = PktAccess(exact, reg, lo + x if exact else x)
    return proven
