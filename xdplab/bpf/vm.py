"""The eBPF virtual machine: an interpreter over pre-decoded instructions, in numba.

Models ``bpf_prog_run_xdp()`` running a program the way kernel/bpf/core.c's
``___bpf_prog_run`` interpreter would, with the verifier's memory-safety rules
checked *at run time* on tagged pointers (see :mod:`xdplab.bpf.state`): every
load and store is checked against the one region its pointer may touch (the
``struct xdp_md`` context, the packet ``data_meta/data..data_end``, the current
512-byte stack frame and its callers', one map value, global data).  A bad access
stops the program: ``env[ENV_ERR]`` gets a fault code and ``ENV_ERR_PC/A/B/C`` the
details, the run returns XDP_ABORTED, and :func:`xdplab.bpf.faults.format_fault`
renders it the way the verifier log would.

Decoded row ``code[pc] = (w, x, imm, aux)``:
  ``w = op | dst << 8 | src << 12 | K << 16`` (op: ``OP_*`` in :mod:`xdplab.bpf.insn`; K: the
  source operand is ``imm``), ``x`` = memory offset, or the absolute jump/call target,
  ``imm`` = sign-extended immediate (LD_IMM64: the full 64-bit value, map pointers
  resolved), ``aux`` = width for END/MOVSX, atomic op for ATOMIC, raw opcode otherwise.
"""

from __future__ import annotations

import numpy as np

from .._borrowed import borrow, flat, one_row, window
from .._bytes import prefetch
from .._twospeed import kernel
from ..filter import (bpf_xdp_adjust_head, bpf_xdp_adjust_meta, bpf_xdp_adjust_tail, bpf_xdp_get_buff_len,
                      bpf_xdp_load_bytes, bpf_xdp_store_bytes, pkt_lines)
from ..xdp_abi import (ENV_CPU, ENV_ERR, ENV_ERR_A, ENV_ERR_B, ENV_ERR_C, ENV_ERR_PC, ENV_HELPER_CALLS,
                       ENV_INSN_BUDGET, ENV_INSNS, ENV_NOW_NS, ENV_PRANDOM, ENV_RI_FLAGS, ENV_RI_MAP_ID,
                       ENV_RI_MAP_TYPE, ENV_RI_TGT_INDEX, ENV_RI_TGT_VALUE, TOUCH_SIZE, XB_DATA, XB_DATA_END,
                       XB_DATA_META, XB_EGRESS_IFINDEX, XB_INGRESS_IFINDEX, XB_PAGE, XB_RX_QUEUE_INDEX,
                       XDP_ABORTED, XDP_REDIRECT, ENV_SIZE, XB_SIZE)
from .insn import OP_LDX, OP_STX
from .maps import (bpf_map_delete, bpf_map_lookup_slot, bpf_map_update_slot, bpf_map_value_offset,
                   bpf_queue_stack_get, bpf_queue_stack_push)
from .printk import bpf_trace_printk
from ._jitabi import array_at, call_jit, data_addr, jit_prog_addr
from .state import (CTL_FIB, CTL_FIB_DEV, CTL_FIB_NB, CTL_FIB_RT, FIB_DEV_COLS, FIB_NB_COLS, FIB_RT_COLS, CTL_EV_LOST, CTL_LOOP, K_FUNC, CTL_FRAG_FREE, CTL_PKT_RD, CTL_PKT_WR, CTL_RESUME, CTL_RESUME_DEPTH, CTL_RET, CTL_FRAMES, CTL_TAILCNT, CTL_TOUCH, EL_USED, K_CTX, K_MAP, K_MAPVAL, K_PKT, K_STACK,
                    MAP_EBASE, MAP_ID, MAP_KEY_SIZE, MAP_MAX_ENTRIES, MAP_NCOPIES, MAP_RDONLY, MAP_TYPE,
                    MAP_VALUE_SIZE, MAP_VBASE, MAP_VSHIFT, PR_LEN, PR_START, PTR_MASK, PTR_SHIFT, SCRATCH_OFF)

__all__ = ["bpf_vm_run", "bpf_prog_run_xdp", "bpf_prog_run_xdp_batch", "bpf_test_run_xdp", "DEFAULT_INSN_BUDGET",
           "FAULT_NAMES"]

DEFAULT_INSN_BUDGET = 1_000_000
M32 = 0xFFFFFFFF
M48 = PTR_MASK
INT_MAX = 0x7FFFFFFF
_SIGN = -0x7FFFFFFFFFFFFFFF - 1   # INT64_MIN: x ^ _SIGN turns unsigned order into signed order
FRAME = 512

# fault codes (env[ENV_ERR])
FAULT_PKT = 1          # packet access outside data_meta/data..data_end
FAULT_STACK = 2        # stack access outside the frames
FAULT_MAPVAL = 3       # map value access outside the value
FAULT_CTX = 4          # bad struct xdp_md access
FAULT_SCALAR = 5       # dereference of something that is not a pointer (NULL, a number)
FAULT_MAP_PTR = 6      # dereference of a map pointer
FAULT_RDONLY = 7       # write into a read-only map (.rodata, devmap values)
FAULT_BUDGET = 8       # instruction budget exhausted
FAULT_CALL_DEPTH = 9   # more than 8 nested bpf-to-bpf calls
FAULT_HELPER_MAP = 10  # helper called with a map it does not accept (or no map)
FAULT_ATOMIC = 11      # atomic operation on packet or context
FAULT_HELPER_MEM = 12  # helper memory argument outside its region
FAULT_BAD_HELPER = 13  # helper the VM does not have (caught at load time normally)
FAULT_HELPER_PKT = 14  # a packet pointer given to a helper that may not read the packet (no pkt_access)
FAULT_NAMES = {FAULT_PKT: "packet access", FAULT_STACK: "stack access", FAULT_MAPVAL: "map value access",
               FAULT_CTX: "context access", FAULT_SCALAR: "scalar dereference", FAULT_MAP_PTR: "map pointer",
               FAULT_RDONLY: "read-only map", FAULT_BUDGET: "instruction budget",
               FAULT_CALL_DEPTH: "call depth", FAULT_HELPER_MAP: "helper map argument",
               FAULT_ATOMIC: "atomic access", FAULT_HELPER_MEM: "helper memory argument",
               FAULT_BAD_HELPER: "unknown helper", FAULT_HELPER_PKT: "helper packet access"}


@kernel
def _fault(env, code, pc, a, b, c):
    env[ENV_ERR] = code
    env[ENV_ERR_PC] = pc
    env[ENV_ERR_A] = a
    env[ENV_ERR_B] = b
    env[ENV_ERR_C] = c
    return XDP_ABORTED


@kernel
def _pkt_info(xdp):
    """Packet geometry at fault time: data | data_end << 16 | data_meta << 32."""
    return (xdp[XB_DATA] & 0xFFFF) | ((xdp[XB_DATA_END] & 0xFFFF) << 16) | ((xdp[XB_DATA_META] & 0xFFFF) << 32)


@kernel
def _resolve(mp, xdp, env, ptr, n, write, pc, info, stack_top):
    """Check that [ptr, ptr+n) lies inside the region ``ptr`` points into; returns the
    offset in the region's backing array (packet: in the head page; stack: bs.stack;
    map value: bs.umem), or -1 after recording a fault.  ``info`` goes to ENV_ERR_B."""
    kind = ptr >> PTR_SHIFT
    if kind == K_PKT:
        o = ptr & M48
        lo = xdp[XB_DATA]
        if xdp[XB_DATA_META] < lo:
            lo = xdp[XB_DATA_META]
        if o < lo or o + n > xdp[XB_DATA_END]:
            _fault(env, np.int64(FAULT_PKT), pc, ptr, info, _pkt_info(xdp))
            return -1
        return o
    if kind == K_STACK:
        o = ptr & M48
        if o + n > stack_top:
            _fault(env, np.int64(FAULT_STACK), pc, ptr, info, stack_top)
            return -1
        return o
    if kind == K_MAPVAL:
        m = (ptr >> 32) & 0xFFFF
        o = ptr & M32
        if m >= mp.shape[0]:
            _fault(env, np.int64(FAULT_SCALAR), pc, ptr, info, np.int64(0))
            return -1
        sh = mp[m, MAP_VSHIFT]
        if (o & ((1 << sh) - 1)) + n > mp[m, MAP_VALUE_SIZE] or \
                o >= (mp[m, MAP_MAX_ENTRIES] * mp[m, MAP_NCOPIES]) << sh:
            _fault(env, np.int64(FAULT_MAPVAL), pc, ptr, info, m)
            return -1
        if write and mp[m, MAP_RDONLY]:
            _fault(env, np.int64(FAULT_RDONLY), pc, ptr, info, m)
            return -1
        return mp[m, MAP_VBASE] + o
    if kind == K_CTX:
        _fault(env, np.int64(FAULT_CTX), pc, ptr, info, np.int64(0))
        return -1
    if kind == K_MAP:
        _fault(env, np.int64(FAULT_MAP_PTR), pc, ptr, info, np.int64(0))
        return -1
    # not a pointer (or one whose offset under/overflowed): keep the geometry for the message
    _fault(env, np.int64(FAULT_SCALAR), pc, ptr, info, (stack_top << 48) | _pkt_info(xdp))
    return -1


@kernel
def _rd_bytes(umem, umem64, mem, page, kind, off, n, le_sign):
    """Read an n-byte little-endian value at a resolved offset."""
    v = np.int64(0)
    if kind == K_PKT:
        for i in range(n):
            v |= np.int64(mem[page, off + i]) << (8 * i)
    else:
        if n == 8 and (off & 7) == 0:
            v = umem64[off >> 3]
        else:
            for i in range(n):
                v |= np.int64(umem[off + i]) << (8 * i)
    if le_sign and n < 8:
        s = 64 - 8 * n
        v = (v << s) >> s
    return v


@kernel
def _wr_bytes(umem, umem64, mem, page, kind, off, n, v):
    if kind == K_PKT:
        for i in range(n):
            mem[page, off + i] = (v >> (8 * i)) & 0xFF
    else:
        if n == 8 and (off & 7) == 0:
            umem64[off >> 3] = v
        else:
            for i in range(n):
                umem[off + i] = (v >> (8 * i)) & 0xFF


@kernel
def _copy_to_scratch(mp, umem, ctl, mem, xdp, env, ptr, n, soff, pc, info, stack_top):
    """Copy n bytes from a checked pointer into the scratch area (umem[SCRATCH_OFF + soff:]);
    False after a fault.  Packet bytes read are lines read (ctl[CTL_PKT_RD])."""
    o = _resolve(mp, xdp, env, ptr, n, np.int64(0), pc, info, stack_top)
    if o < 0:
        return False
    um = umem
    d = SCRATCH_OFF + soff
    if (ptr >> PTR_SHIFT) == K_PKT:
        page = xdp[XB_PAGE]
        for i in range(n):
            um[d + i] = mem[page, o + i]
        if n > 0:
            ctl[CTL_PKT_RD] |= pkt_lines(o, n)
    else:
        for i in range(n):
            um[d + i] = um[o + i]
    return True


@kernel
def _helper_map(mp, env, ptr, helper, pc, allowed):
    """The map index behind a map-pointer argument, or -1 after a fault.  ``allowed`` is a
    bit set over map types (bit t set = type t accepted), like check_map_func_compatibility."""
    if (ptr >> PTR_SHIFT) != K_MAP or (ptr & M48) >= mp.shape[0]:
        _fault(env, np.int64(FAULT_HELPER_MAP), pc, helper, np.int64(-1), ptr)
        return -1
    m = ptr & M48
    t = mp[m, MAP_TYPE]
    if ((allowed >> t) & 1) == 0:
        _fault(env, np.int64(FAULT_HELPER_MAP), pc, helper, t, m)
        return -1
    return m


# bit sets of map types per helper
_MT_DATA = (1 << 1) | (1 << 2) | (1 << 5) | (1 << 6) | (1 << 9) | (1 << 10)          # hash/array kinds
_MT_LOOKUP = _MT_DATA | (1 << 14) | (1 << 25) | (1 << 17) | (1 << 12) | (1 << 13)  # + devmap(_hash), xskmap, map-in-maps
_MT_REDIRECT = (1 << 14) | (1 << 25) | (1 << 16) | (1 << 17)
_MT_PROG_ARRAY = 1 << 3
_MT_PERCPU = (1 << 5) | (1 << 6) | (1 << 10)     # percpu hash, percpu array, lru percpu hash
_MT_QSTACK = (1 << 22) | (1 << 23)               # queue, stack (6.1 also: bloom filter, not in xdplab)

# bpf_jiffies64 (kernel/bpf/helpers.c: get_jiffies_64()).  jiffies count ticks at CONFIG_HZ from
# INITIAL_JIFFIES (include/linux/jiffies.h: -300 s of ticks as a 32-bit value, so 32-bit jiffies
# wrap five minutes after boot).  HZ is the board's kernel config: Debian 12's arm64 kernel
# (CONFIG_HZ_250=y).  The lab derives them from the simulated clock (env[ENV_NOW_NS], time since
# boot): INITIAL_JIFFIES + now // TICK_NSEC, the tick's phase against the clock not modelled.
CONFIG_HZ = 250
TICK_NSEC = 1_000_000_000 // CONFIG_HZ
INITIAL_JIFFIES = (1 << 32) - 300 * CONFIG_HZ
# bpf_ktime_get_tai_ns (6.1, bpf_base_func_proto): CLOCK_TAI = CLOCK_REALTIME + the TAI offset.
# The board's wall clock at boot is fixed (2023-06-10 00:00:00 UTC, Debian 12's release) and the
# TAI offset is 0, as on a board no NTP daemon told the 37 s leap-second offset (adjtimex
# ADJ_TAI): TAI = TAI_AT_BOOT_NS + the simulated time since boot.
TAI_AT_BOOT_NS = 1_686_355_200 * 1_000_000_000


@kernel
def _prandom_u32(env):
    """bpf_get_prandom_u32: a seeded splitmix64 step (the kernel uses a per-CPU lfsr113)."""
    s = env[ENV_PRANDOM] + np.int64(-7046029254386353131)   # 0x9E3779B97F4A7C15
    env[ENV_PRANDOM] = s
    z = np.uint64(s)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.int64(z & np.uint64(0xFFFFFFFF))


@kernel
def _csum_diff(bs, mem, xdp, env, pc, stack_top):
    """bpf_csum_diff(from, from_size, to, to_size, seed) as arm64 computes it in Linux 6.1.

    The helper (net/core/filter.c) lays out ~from[i] then to[i] (32-bit words) in a scratch
    buffer and returns ``csum_partial(buffer, from_size + to_size, seed)``.  arm64 has no
    csum_partial of its own: lib/checksum.c's adds ``do_csum(buffer)`` -- arch/arm64/lib/csum.c,
    the ones'-complement sum *folded to 16 bits* -- to the seed with an end-around carry.  So
    with seed 0 the result is at most 0xffff, and a larger seed comes back as seed + that
    16-bit value (32 bits, carry added back).  Sizes not a multiple of 4 or over 512 bytes
    in all: -EINVAL.

    Other kernels, for the same words: x86-64 before 6.13 returns the sum folded to 32 bits
    only (its csum_partial: add32_with_carry of the 64-bit sum and the seed), so the value
    can exceed 0xffff even with seed 0; since 6.13 (the "homogenize for all archs" change)
    every architecture returns ``csum_from32to16(...)``: the 32-bit result folded to 16 bits
    (at most 0xffff whatever the seed).  All three agree after the usual csum_fold, which is
    why most programs never notice; a program that stores the raw value does."""
    r = bs.ctl
    fsz = r[2] & M32
    tsz = r[4] & M32
    if ((fsz | tsz) & 3) != 0 or fsz + tsz > 512:
        return -22
    if fsz and not _copy_to_scratch(bs.maps, bs.umem, bs.ctl, mem, xdp, env, r[1], fsz, np.int64(0), pc, fsz | (1 << 12), stack_top):
        return 0
    if tsz and not _copy_to_scratch(bs.maps, bs.umem, bs.ctl, mem, xdp, env, r[3], tsz, np.int64(512), pc, tsz | (3 << 12), stack_top):
        return 0
    sc = bs.umem
    s = np.int64(0)
    for i in range(SCRATCH_OFF, SCRATCH_OFF + fsz, 4):
        w = np.int64(sc[i]) | (np.int64(sc[i + 1]) << 8) | (np.int64(sc[i + 2]) << 16) | \
            (np.int64(sc[i + 3]) << 24)
        s += (~w) & M32
    for i in range(SCRATCH_OFF + 512, SCRATCH_OFF + 512 + tsz, 4):
        w = np.int64(sc[i]) | (np.int64(sc[i + 1]) << 8) | (np.int64(sc[i + 2]) << 16) | \
            (np.int64(sc[i + 3]) << 24)
        s += w
    # do_csum: the ones'-complement sum of the 16-bit (little-endian) words, folded to 16 bits
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    # lib/checksum.c csum_partial: result = do_csum + seed, carry added back (32 bits)
    res = s + (r[5] & M32)
    if res > M32:
        res = (res & M32) + 1
    return res


@kernel
def _ring_reserve(bs, e, ring, size, busy, minfree):
    """Reserve a record of ``size`` bytes (8-byte header + data, 8-aligned) in the ring of slot
    ``e`` (elems: [_, producer, consumer]); returns the record's offset in the ring (< ring: the
    storage is two rings long, so a record that wraps stays contiguous) or -1 if it does not fit
    (``minfree``: 1 for BPF_MAP_TYPE_RINGBUF, which never fills the ring to the last byte)."""
    rec = (size + 8 + 7) & ~7
    prod = bs.elems[e, 1]
    cons = bs.elems[e, 2]
    if prod + rec - cons > ring - minfree:
        return np.int64(-1)
    off = prod & (ring - 1)
    bs.elems[e, 1] = prod + rec
    return off


@kernel
def _ring_write_hdr(um, at, size, word2):
    for i in range(4):
        um[at + i] = (size >> (8 * i)) & 0xFF
        um[at + 4 + i] = (word2 >> (8 * i)) & 0xFF


@kernel
def _copy_in(bs, mem, xdp, env, ptr, n, dst, pc, info, stack_top):
    """Copy n bytes from a checked program pointer to umem[dst:]; False after a fault.  For the
    helpers without pkt_access (perf and ring buffer output): a packet pointer is refused, as
    check_helper_mem_access refuses it ("helper access to the packet is not allowed")."""
    if (ptr >> PTR_SHIFT) == K_PKT:
        _fault(env, np.int64(FAULT_HELPER_PKT), pc, ptr, info, np.int64(0))
        return False
    o = _resolve(bs.maps, xdp, env, ptr, n, np.int64(0), pc, info, stack_top)
    if o < 0:
        return False
    um = bs.umem
    if (ptr >> PTR_SHIFT) == K_PKT:
        page = xdp[XB_PAGE]
        for i in range(n):
            um[dst + i] = mem[page, o + i]
        if n > 0:
            bs.ctl[CTL_PKT_RD] |= pkt_lines(o, n)
    else:
        for i in range(n):
            um[dst + i] = um[o + i]
    return True


@kernel
def _perf_event_output(bs, mem, xdp, env, pc, stack_top):
    """bpf_perf_event_output(ctx, map, flags, data, size) for XDP (bpf_xdp_event_output): a
    record of ``data`` followed by the first ``flags >> 32`` bytes of the frame, into the ring of
    slot ``flags & 0xffffffff`` (BPF_F_CURRENT_CPU: this CPU's)."""
    r = bs.ctl
    m = _helper_map(bs.maps, env, r[2], np.int64(25), pc, np.int64(1 << 4))
    if m < 0:
        return 0
    flags = r[3]
    if flags & ~((np.int64(0xFFFFF) << 32) | M32):
        return -22                                        # -EINVAL
    xsz = (flags >> 32) & 0xFFFFF
    if xsz > bpf_xdp_get_buff_len(xdp):
        return -14                                        # -EFAULT
    idx = flags & M32
    cpu = env[ENV_CPU]
    if idx == M32:
        idx = cpu
    if idx >= bs.maps[m, MAP_MAX_ENTRIES]:
        return -7                                         # -E2BIG
    e = bs.maps[m, MAP_EBASE] + idx
    if bs.elems[e, EL_USED] == 0:
        return -2                                         # -ENOENT: no perf event in the slot
    if idx != cpu:
        return -95                                        # -EOPNOTSUPP: the event is another CPU's
    msz = r[5] & M32
    if msz > 0xFFFF:
        _fault(env, np.int64(FAULT_HELPER_MEM), pc, r[4], np.int64(4 << 12), np.int64(25))
        return 0
    ring = bs.maps[m, MAP_VALUE_SIZE] >> 1
    off = _ring_reserve(bs, e, ring, msz + xsz, np.int64(0), np.int64(0))
    if off < 0:
        bs.ctl[CTL_EV_LOST] += 1
        return -28                                        # -ENOSPC: the record is lost
    base = bs.maps[m, MAP_VBASE] + bpf_map_value_offset(bs, m, e, np.int64(0)) + off
    if msz and not _copy_in(bs, mem, xdp, env, r[4], msz, base + 8, pc, msz | (4 << 12), stack_top):
        bs.elems[e, 1] -= (msz + xsz + 15) & ~7
        return 0
    if xsz:
        bpf_xdp_load_bytes(mem, xdp, np.int64(0), bs.umem, base + 8 + msz, xsz,
                           bs.ctl[CTL_TOUCH:CTL_TOUCH + TOUCH_SIZE])
    _ring_write_hdr(bs.umem, base, msz + xsz, cpu)
    return 0


@kernel
def _ringbuf_helper(bs, mem, xdp, env, fid, pc, stack_top):
    """bpf_ringbuf_output / _reserve / _submit / _discard / _query (kernel/bpf/ringbuf.c).
    A record is an 8-byte header (length, BUSY bit 31 while reserved, DISCARD bit 30) and the
    data, 8-aligned; the reader (Map.records) stops at a busy record, skips discarded ones."""
    r = bs.ctl
    if fid == 132 or fid == 133:                          # submit / discard (data, flags)
        p = r[1]
        m = (p >> 32) & 0xFFFF
        if (p >> PTR_SHIFT) != K_MAPVAL or m >= bs.maps.shape[0] or bs.maps[m, MAP_TYPE] != 27 or (p & M32) < 8:
            _fault(env, np.int64(FAULT_HELPER_MEM), pc, p, np.int64(1 << 12), fid)
            return 0
        h = bs.maps[m, MAP_VBASE] + (p & M32) - 8
        ln = np.int64(bs.umem[h]) | (np.int64(bs.umem[h + 1]) << 8) | (np.int64(bs.umem[h + 2]) << 16) | \
            (np.int64(bs.umem[h + 3]) << 24)
        ln = ln & ~(np.int64(1) << 31)
        if fid == 133:
            ln = ln | (np.int64(1) << 30)
        bs.umem[h + 3] = (ln >> 24) & 0xFF
        return 0
    m = _helper_map(bs.maps, env, r[1], fid, pc, np.int64(1 << 27))
    if m < 0:
        return 0
    e = bs.maps[m, MAP_EBASE]
    ring = bs.maps[m, MAP_VALUE_SIZE] >> 1
    base = bs.maps[m, MAP_VBASE]
    if fid == 134:                                        # query
        q = r[2]
        if q == 0:
            return bs.elems[e, 1] - bs.elems[e, 2]        # BPF_RB_AVAIL_DATA
        if q == 1:
            return ring                                   # BPF_RB_RING_SIZE
        if q == 2:
            return bs.elems[e, 2]                         # BPF_RB_CONS_POS
        if q == 3:
            return bs.elems[e, 1]                         # BPF_RB_PROD_POS
        return 0
    if fid == 131:                                        # reserve(ringbuf, size, flags)
        size = r[2]
        if r[3] != 0 or size < 0 or size > ring:
            return 0
        off = _ring_reserve(bs, e, ring, size, np.int64(1), np.int64(1))
        if off < 0:
            return 0
        _ring_write_hdr(bs.umem, base + off, size | (np.int64(1) << 31), np.int64(0))
        return (np.int64(K_MAPVAL) << PTR_SHIFT) | (m << 32) | (off + 8)
    # output(ringbuf, data, size, flags)
    if r[4] & ~np.int64(3):
        return -22
    size = r[3] & M32
    if size > ring:
        return -11
    off = _ring_reserve(bs, e, ring, size, np.int64(0), np.int64(1))
    if off < 0:
        return -11                                        # -EAGAIN
    if size and not _copy_in(bs, mem, xdp, env, r[2], size, base + off + 8, pc, size | (2 << 12), stack_top):
        bs.elems[e, 1] -= (size + 15) & ~7
        return 0
    _ring_write_hdr(bs.umem, base + off, size, np.int64(0))
    return 0


@kernel
def _le(um, o, n):
    v = np.int64(0)
    for i in range(n):
        v |= np.int64(um[o + i]) << (8 * i)
    return v


@kernel
def _be(um, o, n):
    v = np.int64(0)
    for i in range(n):
        v = (v << 8) | np.int64(um[o + i])
    return v


@kernel
def _put_le(um, o, n, v):
    for i in range(n):
        um[o + i] = (v >> (8 * i)) & 0xFF


@kernel
def _put_be(um, o, n, v):
    for i in range(n):
        um[o + n - 1 - i] = (v >> (8 * i)) & 0xFF


@kernel
def _fib_prefix_match(fam, a_hi, a_lo, n_hi, n_lo, plen):
    if fam == 2:
        if plen == 0:
            return True
        mask = (np.int64(M32) << (32 - plen)) & M32
        return ((a_lo ^ n_lo) & mask) == 0
    ph = plen if plen < 64 else 64
    pl = plen - 64 if plen > 64 else 0
    mh = np.int64(0) if ph == 0 else (np.int64(-1) << (64 - ph))
    ml = np.int64(0) if pl == 0 else (np.int64(-1) << (64 - pl))
    return ((a_hi ^ n_hi) & mh) == 0 and ((a_lo ^ n_lo) & ml) == 0


@kernel
def _fib_dev(c, ifindex):
    for i in range(c[CTL_FIB + 2]):
        if c[CTL_FIB_DEV + i * FIB_DEV_COLS] == ifindex:
            return CTL_FIB_DEV + i * FIB_DEV_COLS
    return np.int64(-1)


@kernel
def _xdp_check_mtu(bs, mem, xdp, env, pc, stack_top):
    """bpf_xdp_check_mtu (net/core/filter.c, 6.1): the device (ifindex 0: the one the packet came
    in on) from the object's device table (obj.fib: the loopback of BPF_PROG_TEST_RUN is
    ifindex 1, MTU 65536); the length checked is data_end - data (or *mtu_len + the 14-byte
    Ethernet header when *mtu_len is set) plus len_diff, against MTU + 14; *mtu_len gets the MTU.
    Returns 0 (BPF_MTU_CHK_RET_SUCCESS), 1 (BPF_MTU_CHK_RET_FRAG_NEEDED), -EINVAL for any flag,
    -ENODEV for an unknown device (6.1 leaves *mtu_len as it was on those two)."""
    r = bs.ctl
    p = r[3]
    o = _resolve(bs.maps, xdp, env, p, np.int64(4), np.int64(1), pc, np.int64(4 | (1 << 8) | (3 << 12)), stack_top)
    if o < 0:
        return 0
    if r[5] != 0:
        return -22                                        # -EINVAL: no flags for XDP
    ifindex = r[2] & M32
    if ifindex == 0:
        ifindex = xdp[XB_INGRESS_IFINDEX]
    d = _fib_dev(bs.ctl, ifindex)
    if d < 0:
        return -19                                        # -ENODEV
    mtu = bs.ctl[d + 2]                                   # DEV_MTU
    pkt = (p >> PTR_SHIFT) == K_PKT
    page = xdp[XB_PAGE]
    cur = np.int64(0)
    for i in range(4):
        b = np.int64(mem[page, o + i]) if pkt else np.int64(bs.umem[o + i])
        cur |= b << (8 * i)
    ln = xdp[XB_DATA_END] - xdp[XB_DATA]
    if cur != 0:
        ln = cur + 14
    diff = r[4] & M32
    if diff >= 0x80000000:
        diff -= 0x100000000                               # s32 len_diff
    ret = 0
    if ln + diff > mtu + 14:
        ret = 1                                           # BPF_MTU_CHK_RET_FRAG_NEEDED
    for i in range(4):
        if pkt:
            mem[page, o + i] = (mtu >> (8 * i)) & 0xFF
        else:
            bs.umem[o + i] = (mtu >> (8 * i)) & 0xFF
    if pkt:
        bs.ctl[CTL_PKT_WR] |= pkt_lines(o, np.int64(4))
    return ret


@kernel
def _fib_lookup(bs, mem, xdp, env, pc, stack_top):
    """bpf_fib_lookup(ctx, params, plen, flags) for XDP (bpf_xdp_fib_lookup, 6.1) against the
    object's routes, neighbours and devices (xdplab.bpf.fib, in ctl from CTL_FIB)."""
    r = bs.ctl
    c = bs.ctl
    if ((r[3] << 32) >> 32) < 64 or (r[4] & ~np.int64(3)) != 0:
        return -22                                        # -EINVAL: plen, or a flag 6.1 does not have
    p = r[2]
    if (p >> PTR_SHIFT) == K_PKT:
        _fault(env, np.int64(FAULT_HELPER_PKT), pc, p, np.int64(64 | (2 << 12)), np.int64(0))
        return 0
    o = _resolve(bs.maps, xdp, env, p, np.int64(64), np.int64(1), pc, np.int64(64 | (1 << 8) | (2 << 12)), stack_top)
    if o < 0:
        return 0
    um = bs.umem
    fam = np.int64(um[o])
    if fam != 2 and fam != 10:
        return -97                                        # -EAFNOSUPPORT
    ifindex = _le(um, o + 8, 4)
    d = _fib_dev(c, ifindex)
    if d < 0:
        return -19                                        # -ENODEV
    if c[d + (3 if fam == 2 else 4)] == 0:
        return 5                                          # BPF_FIB_LKUP_RET_FWD_DISABLED
    if fam == 2:
        a_hi = np.int64(0)
        a_lo = _be(um, o + 32, 4)
    else:
        a_hi = _be(um, o + 32, 8)
        a_lo = _be(um, o + 40, 8)
    best = np.int64(-1)
    bplen = np.int64(-1)
    bmetric = np.int64(0)
    for i in range(c[CTL_FIB]):
        b = CTL_FIB_RT + i * FIB_RT_COLS
        if c[b] != fam:
            continue
        if (r[4] & 2) and c[b + 4] != ifindex:           # BPF_FIB_LOOKUP_OUTPUT: oif = params->ifindex
            continue
        if not _fib_prefix_match(fam, a_hi, a_lo, c[b + 1], c[b + 2], c[b + 3]):
            continue
        if c[b + 3] > bplen or (c[b + 3] == bplen and c[b + 9] < bmetric):
            best = b
            bplen = c[b + 3]
            bmetric = c[b + 9]
    if best < 0:
        return 4                                          # no route: BPF_FIB_LKUP_RET_NOT_FWDED
    rtype = c[best + 8]
    if rtype >= 1 and rtype <= 3:
        return rtype                                      # BLACKHOLE, UNREACHABLE, PROHIBIT
    if rtype != 0:
        return 4                                          # local: not forwarded
    nh = c[best + 4]
    nd = _fib_dev(c, nh)
    mtu = c[best + 10]
    if mtu == 0 and nd >= 0:
        mtu = c[nd + 2]
    if _le(um, o + 6, 2) > mtu:
        _put_le(um, o + 6, 2, mtu)                        # mtu_result (union with tot_len)
        return 8                                          # BPF_FIB_LKUP_RET_FRAG_NEEDED
    _put_le(um, o + 12, 4, c[best + 9])                   # rt_metric
    _put_le(um, o + 8, 4, nh)                             # ifindex
    if c[best + 5] == fam:                                # via a gateway: it is the next hop
        a_hi = c[best + 6]
        a_lo = c[best + 7]
        if fam == 2:
            _put_be(um, o + 32, 4, a_lo)
        else:
            _put_be(um, o + 32, 8, a_hi)
            _put_be(um, o + 40, 8, a_lo)
    mac = np.int64(-1)
    for i in range(c[CTL_FIB + 1]):
        b = CTL_FIB_NB + i * FIB_NB_COLS
        if c[b] == fam and c[b + 1] == a_hi and c[b + 2] == a_lo and c[b + 3] == nh:
            mac = c[b + 4]
            break
    if mac < 0:
        return 7                                          # BPF_FIB_LKUP_RET_NO_NEIGH
    _put_le(um, o + 58, 6, mac)                           # dmac
    _put_le(um, o + 52, 6, c[nd + 1] if nd >= 0 else np.int64(0))   # smac
    _put_le(um, o + 48, 4, np.int64(0))                   # h_vlan_proto, h_vlan_TCI
    if mtu:
        _put_le(um, o + 6, 2, mtu)                        # mtu_result
    return 0


@kernel
def _xdp_bytes_helper(bs, mem, xdp, env, pc, stack_top, store):
    """bpf_xdp_load_bytes / bpf_xdp_store_bytes with a checked buffer argument."""
    r = bs.ctl
    off = r[2] & M32
    n = r[4] & M32
    if n == 0 or n > 0xFFFF:
        # ARG_CONST_SIZE: the verifier rejects 0 and sizes it cannot bound
        _fault(env, np.int64(FAULT_HELPER_MEM), pc, r[3], n | (3 << 12), np.int64(190 if store else 189))
        return 0
    buf = r[3]
    o = _resolve(bs.maps, xdp, env, buf, n, np.int64(0 if store else 1), pc, n | (3 << 12) | ((0 if store else 1) << 8), stack_top)
    if o < 0:
        return 0
    kind = buf >> PTR_SHIFT
    touch = bs.ctl[CTL_TOUCH:CTL_TOUCH + TOUCH_SIZE]
    if kind == K_STACK or kind == K_MAPVAL:
        if store:
            return bpf_xdp_store_bytes(mem, xdp, off, bs.umem, o, n, touch)
        return bpf_xdp_load_bytes(mem, xdp, off, bs.umem, o, n, touch)
    # a buffer inside the packet itself: bounce through scratch, 512 bytes at a time
    page = xdp[XB_PAGE]
    done = 0
    while done < n:
        k = n - done
        if k > 512:
            k = 512
        if store:
            for i in range(k):
                bs.umem[SCRATCH_OFF + i] = mem[page, o + done + i]
            bs.ctl[CTL_PKT_RD] |= pkt_lines(o + done, k)
            err = bpf_xdp_store_bytes(mem, xdp, off + done, bs.umem, np.int64(SCRATCH_OFF), k, touch)
        else:
            err = bpf_xdp_load_bytes(mem, xdp, off + done, bs.umem, np.int64(SCRATCH_OFF), k, touch)
            if err == 0:
                for i in range(k):
                    mem[page, o + done + i] = bs.umem[SCRATCH_OFF + i]
                bs.ctl[CTL_PKT_WR] |= pkt_lines(o + done, k)
        if err < 0:
            return err
        done += k
    return 0


@kernel
def _lookup_percpu_elem(bs, mem, xdp, env, pc, stack_top):
    """bpf_map_lookup_percpu_elem(map, key, cpu) (6.1, kernel/bpf/helpers.c): the value of
    ``key`` that CPU ``cpu`` sees in a per-CPU array, hash or LRU hash, or NULL when the key is
    absent or ``cpu`` >= nr_cpu_ids (the board's 2).  An LRU hit marks the element referenced,
    as bpf_map_lookup_elem does."""
    r = bs.ctl
    m = _helper_map(bs.maps, env, r[1], np.int64(195), pc, np.int64(_MT_PERCPU))
    if m < 0:
        return 0
    ks = bs.maps[m, MAP_KEY_SIZE]
    if not _copy_to_scratch(bs.maps, bs.umem, bs.ctl, mem, xdp, env, r[2], ks, np.int64(0), pc, ks | (2 << 12), stack_top):
        return 0
    cpu = r[3] & M32
    if cpu >= bs.maps[m, MAP_NCOPIES]:          # per-CPU maps hold one copy per possible CPU
        return 0
    e = bpf_map_lookup_slot(bs, m, bs.umem, np.int64(SCRATCH_OFF), np.int64(1))
    if e < 0:
        return 0
    return (np.int64(K_MAPVAL) << PTR_SHIFT) | (m << 32) | bpf_map_value_offset(bs, m, e, cpu)


@kernel
def _queue_stack_helper(bs, mem, xdp, env, fid, pc, stack_top):
    """bpf_map_push_elem(map, value, flags) / bpf_map_pop_elem(map, value) /
    bpf_map_peek_elem(map, value) on a QUEUE or STACK (maps.bpf_queue_stack_*).  pop and peek
    write the value to the program's buffer (stack or map value), zeroed when the map is empty.
    The three have no pkt_access: a packet pointer is refused ("helper access to the packet is
    not allowed"), as the verifier refuses it."""
    r = bs.ctl
    m = _helper_map(bs.maps, env, r[1], fid, pc, np.int64(_MT_QSTACK))
    if m < 0:
        return 0
    vs = bs.maps[m, MAP_VALUE_SIZE]
    if fid == 87:
        if not _copy_in(bs, mem, xdp, env, r[2], vs, np.int64(SCRATCH_OFF + 512), pc, vs | (2 << 12), stack_top):
            return 0
        return bpf_queue_stack_push(bs, m, bs.umem, np.int64(SCRATCH_OFF + 512), r[3])
    p = r[2]
    if (p >> PTR_SHIFT) == K_PKT:
        _fault(env, np.int64(FAULT_HELPER_PKT), pc, p, vs | (1 << 8) | (2 << 12), np.int64(0))
        return 0
    o = _resolve(bs.maps, xdp, env, p, vs, np.int64(1), pc, vs | (1 << 8) | (2 << 12), stack_top)
    if o < 0:
        return 0
    return bpf_queue_stack_get(bs, m, bs.umem, o, np.int64(1) if fid == 88 else np.int64(0))


@kernel
def _call_helper(bs, mem, xdp, env, fid, pc, stack_top):
    """Run helper ``fid`` with arguments in bs.regs[1..5]; returns r0.  Faults are recorded
    in env (the caller checks env[ENV_ERR])."""
    r = bs.ctl
    if fid == 1 or fid == 2 or fid == 3:       # bpf_map_{lookup,update,delete}_elem
        m = _helper_map(bs.maps, env, r[1], fid, pc, np.int64(_MT_LOOKUP if fid == 1 else _MT_DATA))
        if m < 0:
            return 0
        ks = bs.maps[m, MAP_KEY_SIZE]
        if not _copy_to_scratch(bs.maps, bs.umem, bs.ctl, mem, xdp, env, r[2], ks, np.int64(0), pc, ks | (2 << 12), stack_top):
            return 0
        if fid == 1:
            e = bpf_map_lookup_slot(bs, m, bs.umem, np.int64(SCRATCH_OFF), np.int64(1))
            if e < 0:
                return 0
            mt = bs.maps[m, MAP_TYPE]
            if mt == 12 or mt == 13:
                # a map-in-map gives the inner map itself (CONST_PTR_TO_MAP), or NULL for an empty slot
                vo = bs.maps[m, MAP_VBASE] + bpf_map_value_offset(bs, m, e, np.int64(0))
                inner = (np.int64(bs.umem[vo]) | (np.int64(bs.umem[vo + 1]) << 8)) - 1
                if inner < 0 or inner >= bs.maps.shape[0]:
                    return 0
                return (np.int64(K_MAP) << PTR_SHIFT) | inner
            cpu = env[ENV_CPU] if bs.maps[m, MAP_NCOPIES] > 1 else 0
            return (np.int64(K_MAPVAL) << PTR_SHIFT) | (m << 32) | bpf_map_value_offset(bs, m, e, cpu)
        if fid == 3:
            return bpf_map_delete(bs, m, bs.umem, np.int64(SCRATCH_OFF))
        vs = bs.maps[m, MAP_VALUE_SIZE]
        if not _copy_to_scratch(bs.maps, bs.umem, bs.ctl, mem, xdp, env, r[3], vs, np.int64(512), pc, vs | (3 << 12), stack_top):
            return 0
        e = bpf_map_update_slot(bs, m, bs.umem, np.int64(SCRATCH_OFF), r[4])
        if e < 0:
            return e
        cpu = env[ENV_CPU] if bs.maps[m, MAP_NCOPIES] > 1 else 0
        dst = bs.maps[m, MAP_VBASE] + bpf_map_value_offset(bs, m, e, cpu)
        for i in range(vs):
            bs.umem[dst + i] = bs.umem[SCRATCH_OFF + 512 + i]
        bs.elems[e, EL_USED] = 1
        return 0
    if fid == 5 or fid == 125 or fid == 160:    # bpf_ktime_get_ns / _boot_ns / _coarse_ns
        return env[ENV_NOW_NS]
    if fid == 7:                                # bpf_get_prandom_u32
        return _prandom_u32(env)
    if fid == 8:                                # bpf_get_smp_processor_id
        return env[ENV_CPU]
    if fid == 23:                               # bpf_redirect(ifindex, flags)
        if r[2] != 0:
            return XDP_ABORTED
        env[ENV_RI_TGT_INDEX] = r[1] & M32
        env[ENV_RI_MAP_ID] = INT_MAX
        env[ENV_RI_MAP_TYPE] = 0
        env[ENV_RI_FLAGS] = 0
        env[ENV_RI_TGT_VALUE] = -1
        return XDP_REDIRECT
    if fid == 51:                               # bpf_redirect_map(map, key, flags)
        m = _helper_map(bs.maps, env, r[1], fid, pc, np.int64(_MT_REDIRECT))
        if m < 0:
            return 0
        t = bs.maps[m, MAP_TYPE]
        flags = r[3]
        mask = 3
        if t == 14 or t == 25:
            mask = 3 | 8 | 16                   # BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS
        if flags & ~mask:
            return XDP_ABORTED
        key = r[2] & M32
        for i in range(4):
            bs.umem[SCRATCH_OFF + i] = (key >> (8 * i)) & 0xFF
        e = bpf_map_lookup_slot(bs, m, bs.umem, np.int64(SCRATCH_OFF), np.int64(0))
        if e < 0 and (flags & 8) == 0:
            env[ENV_RI_MAP_ID] = INT_MAX
            env[ENV_RI_MAP_TYPE] = 0
            env[ENV_RI_TGT_VALUE] = -1
            return flags & 3
        env[ENV_RI_TGT_INDEX] = key
        env[ENV_RI_MAP_ID] = bs.maps[m, MAP_ID]
        env[ENV_RI_MAP_TYPE] = t
        env[ENV_RI_FLAGS] = flags if (flags & 8) else 0
        if e < 0:
            env[ENV_RI_TGT_VALUE] = -1
        elif t == 16:
            env[ENV_RI_TGT_VALUE] = key          # CPUMAP: the target CPU
        else:
            vo = bs.maps[m, MAP_VBASE] + bpf_map_value_offset(bs, m, e, np.int64(0))
            env[ENV_RI_TGT_VALUE] = np.int64(bs.umem[vo]) | (np.int64(bs.umem[vo + 1]) << 8) | \
                (np.int64(bs.umem[vo + 2]) << 16) | (np.int64(bs.umem[vo + 3]) << 24)
        return XDP_REDIRECT
    if fid == 44:                               # bpf_xdp_adjust_head(ctx, delta)
        return bpf_xdp_adjust_head(mem, xdp, (r[2] << 32) >> 32, bs.ctl[CTL_TOUCH:CTL_TOUCH + TOUCH_SIZE])
    if fid == 54:                               # bpf_xdp_adjust_meta(ctx, delta)
        return bpf_xdp_adjust_meta(mem, xdp, (r[2] << 32) >> 32)
    if fid == 65:                               # bpf_xdp_adjust_tail(ctx, delta)
        return bpf_xdp_adjust_tail(mem, xdp, (r[2] << 32) >> 32, bs.ctl[CTL_FRAG_FREE:CTL_FRAG_FREE + 18],
                                   bs.ctl[CTL_TOUCH:CTL_TOUCH + TOUCH_SIZE])
    if fid == 188:                              # bpf_xdp_get_buff_len(ctx)
        return bpf_xdp_get_buff_len(xdp)
    if fid == 189:                              # bpf_xdp_load_bytes(ctx, off, buf, len)
        return _xdp_bytes_helper(bs, mem, xdp, env, pc, stack_top, np.int64(0))
    if fid == 190:                              # bpf_xdp_store_bytes(ctx, off, buf, len)
        return _xdp_bytes_helper(bs, mem, xdp, env, pc, stack_top, np.int64(1))
    if fid == 28:                               # bpf_csum_diff
        return _csum_diff(bs, mem, xdp, env, pc, stack_top)
    if fid == 69:                               # bpf_fib_lookup(ctx, params, plen, flags)
        return _fib_lookup(bs, mem, xdp, env, pc, stack_top)
    if fid == 25:                               # bpf_perf_event_output(ctx, map, flags, data, size)
        return _perf_event_output(bs, mem, xdp, env, pc, stack_top)
    if fid >= 130 and fid <= 134:               # bpf_ringbuf_*
        return _ringbuf_helper(bs, mem, xdp, env, fid, pc, stack_top)
    if fid == 6:                                # bpf_trace_printk(fmt, fmt_size, a, b, c)
        n = r[2] & M32
        if n == 0 or n > 512:
            _fault(env, np.int64(FAULT_HELPER_MEM), pc, r[1], n | (1 << 12), fid)
            return 0
        if not _copy_to_scratch(bs.maps, bs.umem, bs.ctl, mem, xdp, env, r[1], n, np.int64(0), pc, n | (1 << 12), stack_top):
            return 0
        return bpf_trace_printk(bs, mem, xdp, env, n, stack_top, np.int64(3), np.int64(-1))
    if fid == 177:                              # bpf_trace_vprintk(fmt, fmt_size, data, data_len)
        n = r[2] & M32
        dl = r[4] & M32
        if n == 0 or n > 512:
            _fault(env, np.int64(FAULT_HELPER_MEM), pc, r[1], n | (1 << 12), fid)
            return 0
        if not _copy_to_scratch(bs.maps, bs.umem, bs.ctl, mem, xdp, env, r[1], n, np.int64(0), pc, n | (1 << 12), stack_top):
            return 0
        if (dl & 7) != 0 or dl > 96 or (dl != 0 and r[3] == 0):     # MAX_BPRINTF_VARARGS * 8
            return -22
        if dl != 0 and not _copy_to_scratch(bs.maps, bs.umem, bs.ctl, mem, xdp, env, r[3], dl, np.int64(512), pc, dl | (3 << 12), stack_top):
            return 0
        return bpf_trace_printk(bs, mem, xdp, env, n, stack_top, dl >> 3, np.int64(SCRATCH_OFF + 512))
    if fid == 42:                               # bpf_get_numa_node_id: the board has one node
        return 0
    if fid == 163:                              # bpf_check_mtu(ctx, ifindex, *mtu_len, len_diff, flags)
        return _xdp_check_mtu(bs, mem, xdp, env, pc, stack_top)
    if fid >= 87 and fid <= 89:                 # bpf_map_push_elem / _pop_elem / _peek_elem
        return _queue_stack_helper(bs, mem, xdp, env, fid, pc, stack_top)
    if fid == 195:                              # bpf_map_lookup_percpu_elem(map, key, cpu)
        return _lookup_percpu_elem(bs, mem, xdp, env, pc, stack_top)
    if fid == 118:                              # bpf_jiffies64
        return np.int64(INITIAL_JIFFIES) + env[ENV_NOW_NS] // TICK_NSEC
    if fid == 208:                              # bpf_ktime_get_tai_ns
        return np.int64(TAI_AT_BOOT_NS) + env[ENV_NOW_NS]
    _fault(env, np.int64(FAULT_BAD_HELPER), pc, fid, np.int64(0), np.int64(0))
    return 0


@kernel
def _bswap(v, width):
    r = np.int64(0)
    n = width >> 3
    for i in range(n):
        r = (r << 8) | ((v >> (8 * i)) & 0xFF)
    return r


@kernel
def _sdiv64(a, b):
    """Truncating signed 64-bit division (b != 0, b != -1)."""
    ua = np.uint64(a) if a >= 0 else np.uint64(-(a + 1)) + np.uint64(1)
    ub = np.uint64(b) if b >= 0 else np.uint64(-(b + 1)) + np.uint64(1)
    q = np.int64(ua // ub)
    if (a < 0) != (b < 0):
        return -q
    return q


@kernel
def _smod64(a, b):
    ua = np.uint64(a) if a >= 0 else np.uint64(-(a + 1)) + np.uint64(1)
    ub = np.uint64(b) if b >= 0 else np.uint64(-(b + 1)) + np.uint64(1)
    rm = np.int64(ua % ub)
    if a < 0:
        return -rm
    return rm


@kernel
def _alu64(op, a, b, aux):
    if op == 0:
        return a + b
    if op == 1:
        return a - b
    if op == 2:
        return a * b
    if op == 3:
        if b == 0:
            return np.int64(0)
        return np.int64(np.uint64(a) // np.uint64(b))
    if op == 4:
        return a | b
    if op == 5:
        return a & b
    if op == 6:
        return a << (b & 63)
    if op == 7:
        return np.int64(np.uint64(a) >> np.uint64(b & 63))
    if op == 8:
        return -a
    if op == 9:
        if b == 0:
            return a
        return np.int64(np.uint64(a) % np.uint64(b))
    if op == 10:
        return a ^ b
    if op == 11:
        return b
    if op == 12:
        return a >> (b & 63)
    if op == 13:
        return _bswap(a, aux)
    if op == 14:
        if b == 0:
            return np.int64(0)
        if b == -1:
            return -a
        return _sdiv64(a, b)
    if op == 15:
        if b == 0:
            return a
        if b == -1:
            return np.int64(0)
        return _smod64(a, b)
    return a


@kernel
def _alu32(op, a, b, aux):
    a32 = a & M32
    b32 = b & M32
    if op == 0:
        return (a32 + b32) & M32
    if op == 1:
        return (a32 - b32) & M32
    if op == 2:
        return (a32 * b32) & M32
    if op == 3:
        if b32 == 0:
            return np.int64(0)
        return a32 // b32
    if op == 4:
        return a32 | b32
    if op == 5:
        return a32 & b32
    if op == 6:
        return (a32 << (b & 31)) & M32
    if op == 7:
        return a32 >> (b & 31)
    if op == 8:
        return (-a32) & M32
    if op == 9:
        if b32 == 0:
            return a32
        return a32 % b32
    if op == 10:
        return a32 ^ b32
    if op == 11:
        return b32
    if op == 12:
        return (((a32 << 32) >> 32) >> (b & 31)) & M32
    if op == 13:
        return _bswap(a, aux)                  # ALU|END|TO_BE: swap, zero-extended
    if op == 14:
        sa = (a32 << 32) >> 32
        sb = (b32 << 32) >> 32
        if sb == 0:
            return np.int64(0)
        if sb == -1:
            return (-sa) & M32
        return _sdiv64(sa, sb) & M32
    if op == 15:
        sa = (a32 << 32) >> 32
        sb = (b32 << 32) >> 32
        if sb == 0:
            return a32
        if sb == -1:
            return np.int64(0)
        return _smod64(sa, sb) & M32
    # OP_LE (29 - 16 = 13 is BSWAP; LE arrives here as op 13 + 16 handled by caller)
    return a32


@kernel
def _jmp_taken(jop, a, b):
    if jop == 1:
        return a == b
    if jop == 2:
        return (a ^ _SIGN) > (b ^ _SIGN)
    if jop == 3:
        return (a ^ _SIGN) >= (b ^ _SIGN)
    if jop == 4:
        return (a & b) != 0
    if jop == 5:
        return a != b
    if jop == 6:
        return a > b
    if jop == 7:
        return a >= b
    if jop == 10:
        return (a ^ _SIGN) < (b ^ _SIGN)
    if jop == 11:
        return (a ^ _SIGN) <= (b ^ _SIGN)
    if jop == 12:
        return a < b
    if jop == 13:
        return a <= b
    return True


@kernel
def _atomic(bs, mem, xdp, env, pc, w, x, aux, stack_top):
    """BPF_STX | BPF_ATOMIC: add/or/and/xor (optionally FETCH), xchg, cmpxchg on the stack
    or a map value (the verifier refuses packet and context)."""
    regs = bs.ctl
    dst = (w >> 8) & 0xF
    src = (w >> 12) & 0xF
    op = w & 0xFF
    n = 8 if op == 146 else 4
    addr = regs[dst] + x
    kind = addr >> PTR_SHIFT
    if kind == K_PKT or kind == K_CTX:
        _fault(env, np.int64(FAULT_ATOMIC), pc, addr, n | (1 << 8) | (dst << 12), kind)
        return
    o = _resolve(bs.maps, xdp, env, addr, n, np.int64(1), pc, n | (1 << 8) | (dst << 12) | ((x & 0xFFFF) << 16), stack_top)
    if o < 0:
        return
    page = xdp[XB_PAGE]
    old = _rd_bytes(bs.umem, bs.umem64, mem, page, kind, o, n, np.int64(0))
    v = regs[src]
    base = aux & 0xF0
    if aux == 0xE1:                      # xchg
        new = v
    elif aux == 0xF1:                    # cmpxchg: compare with r0
        r0 = regs[0]
        if n == 4:
            r0 = r0 & M32
        new = v if old == r0 else old
        regs[0] = old
        _wr_bytes(bs.umem, bs.umem64, mem, page, kind, o, n, new)
        return
    elif base == 0x00:
        new = old + v
    elif base == 0x40:
        new = old | v
    elif base == 0x50:
        new = old & v
    else:
        new = old ^ v
    if n == 4:
        new = new & M32
    _wr_bytes(bs.umem, bs.umem64, mem, page, kind, o, n, new)
    if aux & 1:                          # BPF_FETCH (and xchg): src gets the old value
        regs[src] = old


_U1 = np.uint64(1)
_U2 = np.uint64(2)
_U3 = np.uint64(3)


@kernel(hot=True)
def _jit_addr(bs, prog_index, mem, xdps, envs):
    """The translated program's address, or 0 to interpret: also 0 unless the packet memory and
    the xdp and env rows are C-order (translated code takes rows by address)."""
    jaddr = jit_prog_addr(bs, prog_index)
    if jaddr != 0 and not (mem.strides[1] == 1 and mem.strides[0] == mem.shape[1] and xdps.strides[1] == 8
                           and envs.strides[1] == 8):
        return np.int64(0)
    return jaddr


@kernel(hot=True)
def _bpf_vm_loop(bs, prog_index, mem, xdps, envs, rets):
    """___bpf_prog_run(ctx = xdp, insn = program ``prog_index`` of ``bs``), once per row of
    ``xdps`` (int64[N, XB_SIZE]) with ``envs[i]`` (int64[N, ENV_SIZE]); r0 of each run in
    ``rets[i]``.  A fault stops that run: XDP_ABORTED and envs[i, ENV_ERR] set.  Writes
    ENV_INSNS and ENV_HELPER_CALLS; helpers write ENV_RI_* / ENV_PRANDOM.  Returns the
    total number of instructions executed.  (The packet loop lives in here, around the
    instruction loop, so a batch pays the function-entry costs once.)

    The instruction loop is two parts.  First the common instructions, one ``op == CONST``
    case each (LLVM turns the chain into a single jump table), each finishing with
    ``continue``; loads and stores there take only the stack and the packet.  What they do
    not finish (other opcodes, other regions, every fault) falls through to the generic
    code below them, which handles every instruction.

    The cases repeat themselves on purpose (a store per size, STX and ST apart, bytes
    written out): one exact constant per case keeps the chain a single jump table, and
    no array is passed to a helper (numba would count references per call).  Measured:
    merging STX and ST of a size into one ``op == a or op == b`` case cost 20-25 %
    (bench_vm.py, xdp2 400 -> 305 M insns/s, loop_csum 460 -> 350)."""
    code = bs.code
    # row pc of code is cf[4 pc : 4 pc + 4]; indexed with unsigned numbers (r4) so that numba
    # emits no negative-index wrap and the address is a shift, not a multiply by the row stride
    cf = flat(code)                          # (a view typed as borrowed: no NRT calls)
    regs = bs.ctl
    um = bs.umem
    um64 = bs.umem64
    maps = bs.maps
    start = bs.progs[prog_index, PR_START]
    total = np.int64(0)
    npk = xdps.shape[0]
    # A batch streams through rows and packets it has not touched yet: while one packet runs,
    # ask for the next packet's env row, first data line (only for a program that loads from
    # memory at all: for one that does not, the line is just traffic) and the xdp row after it.
    loads = False
    if npk > 1:
        for k in range(start, start + bs.progs[prog_index, PR_LEN]):
            o_k = cf[np.uint64(4 * k)] & 0xFF
            if o_k >= OP_LDX and o_k < OP_STX:
                loads = True
    jaddr = _jit_addr(bs, prog_index, mem, xdps, envs)   # translated (xdplab.bpf.jit)?  0: no
    for pi in range(npk):
        if jaddr != 0 and regs[CTL_RESUME] == 0:    # (set: the caller ran the translation, resume it)
            r = call_jit(jaddr, bs, data_addr(mem), mem.shape[0], mem.shape[1],
                         data_addr(xdps) + pi * xdps.strides[0], data_addr(envs) + pi * envs.strides[0])
            if regs[CTL_RESUME] == 0:
                rets[pi] = r
                total += envs[pi, ENV_INSNS]
                continue
            # the translated code stopped at a block whose instructions the budget does not
            # cover: this loop finishes the run from there, one counted instruction at a time
        if pi + 1 < npk:
            if loads:
                prefetch(mem, xdps[pi + 1, XB_PAGE], xdps[pi + 1, XB_DATA])
            prefetch(envs, pi + 1, ENV_INSNS)
            if pi + 2 < npk:
                prefetch(xdps, pi + 2, XB_PAGE)
                prefetch(xdps, pi + 2, XB_DATA_END)
        budget = envs[pi, ENV_INSN_BUDGET]
        if budget <= 0:
            budget = DEFAULT_INSN_BUDGET
        envs[pi, ENV_ERR] = 0
        pc = start
        page = xdps[pi, XB_PAGE]
        data = xdps[pi, XB_DATA]
        pkt_end = xdps[pi, XB_DATA_END]
        pkt_lo = xdps[pi, XB_DATA_META] if xdps[pi, XB_DATA_META] < data else data
        depth = 0
        stack_top = np.int64(FRAME)
        left = budget          # instructions the budget still allows; executed so far: budget - left
        helpers = np.int64(0)
        prd = np.int64(0)      # lines of the head page read and written (CTL_PKT_RD / _WR at the end)
        pwr = np.int64(0)
        if regs[CTL_RESUME] != 0:
            # a run handed over by translated code: its registers are in regs, the
            # budget left and helper calls so far in env (and what it touched in CTL_PKT_*, CTL_TOUCH)
            # (at the call depth it had reached; tail calls so far stay counted in CTL_TAILCNT)
            pc = regs[CTL_RESUME] - 1
            regs[CTL_RESUME] = 0
            depth = regs[CTL_RESUME_DEPTH]
            regs[CTL_RESUME_DEPTH] = 0
            stack_top = (depth + 1) * FRAME
            left = envs[pi, ENV_INSNS]
            helpers = envs[pi, ENV_HELPER_CALLS]
        else:
            regs[CTL_TAILCNT] = 0                              # tail calls so far
            regs[1] = np.int64(K_CTX) << PTR_SHIFT
            regs[10] = (np.int64(K_STACK) << PTR_SHIFT) | FRAME
            regs[CTL_PKT_RD] = 0
            regs[CTL_PKT_WR] = 0
            regs[CTL_TOUCH] = 0
        ret = np.int64(0)
        while True:
            left -= 1
            if left < 0:
                left = 0
                ret = _fault(envs[pi], np.int64(FAULT_BUDGET), pc, budget, np.int64(0), np.int64(0))
                break
            r4 = np.uint64(pc << 2)
            w = cf[r4]
            op = w & 0xFF
            # ---------------------------------------------------------------- common cases
            if op == 11:                                              # r = imm
                regs[(w >> 8) & 0xF] = cf[r4 + _U2]
                pc += 1
                continue
            elif op == 27:                                            # r = r
                regs[(w >> 8) & 0xF] = regs[(w >> 12) & 0xF]
                pc += 1
                continue
            elif op == 0:                                             # r += imm
                d = (w >> 8) & 0xF
                regs[d] = regs[d] + cf[r4 + _U2]
                pc += 1
                continue
            elif op == 16:                                            # r += r
                d = (w >> 8) & 0xF
                regs[d] = regs[d] + regs[(w >> 12) & 0xF]
                pc += 1
                continue
            elif op == 1:                                             # r -= imm
                d = (w >> 8) & 0xF
                regs[d] = regs[d] - cf[r4 + _U2]
                pc += 1
                continue
            elif op == 17:                                            # r -= r
                d = (w >> 8) & 0xF
                regs[d] = regs[d] - regs[(w >> 12) & 0xF]
                pc += 1
                continue
            elif op == 2:                                             # r *= imm
                d = (w >> 8) & 0xF
                regs[d] = regs[d] * cf[r4 + _U2]
                pc += 1
                continue
            elif op == 18:                                            # r *= r
                d = (w >> 8) & 0xF
                regs[d] = regs[d] * regs[(w >> 12) & 0xF]
                pc += 1
                continue
            elif op == 4:                                             # r |= imm
                d = (w >> 8) & 0xF
                regs[d] = regs[d] | cf[r4 + _U2]
                pc += 1
                continue
            elif op == 20:                                            # r |= r
                d = (w >> 8) & 0xF
                regs[d] = regs[d] | regs[(w >> 12) & 0xF]
                pc += 1
                continue
            elif op == 5:                                             # r &= imm
                d = (w >> 8) & 0xF
                regs[d] = regs[d] & cf[r4 + _U2]
                pc += 1
                continue
            elif op == 21:                                            # r &= r
                d = (w >> 8) & 0xF
                regs[d] = regs[d] & regs[(w >> 12) & 0xF]
                pc += 1
                continue
            elif op == 10:                                            # r ^= imm
                d = (w >> 8) & 0xF
                regs[d] = regs[d] ^ cf[r4 + _U2]
                pc += 1
                continue
            elif op == 26:                                            # r ^= r
                d = (w >> 8) & 0xF
                regs[d] = regs[d] ^ regs[(w >> 12) & 0xF]
                pc += 1
                continue
            elif op == 6:                                             # r <<= imm (0..63: checked at load)
                d = (w >> 8) & 0xF
                regs[d] = regs[d] << cf[r4 + _U2]
                pc += 1
                continue
            elif op == 7:                                             # r >>= imm
                d = (w >> 8) & 0xF
                regs[d] = np.int64(np.uint64(regs[d]) >> np.uint64(cf[r4 + _U2]))
                pc += 1
                continue
            elif op == 12:                                            # r s>>= imm
                d = (w >> 8) & 0xF
                regs[d] = regs[d] >> cf[r4 + _U2]
                pc += 1
                continue
            elif op == 22:                                            # r <<= r
                d = (w >> 8) & 0xF
                regs[d] = regs[d] << (regs[(w >> 12) & 0xF] & 63)
                pc += 1
                continue
            elif op == 23:                                            # r >>= r
                d = (w >> 8) & 0xF
                regs[d] = np.int64(np.uint64(regs[d]) >> np.uint64(regs[(w >> 12) & 0xF] & 63))
                pc += 1
                continue
            elif op == 32:                                            # w += imm
                d = (w >> 8) & 0xF
                regs[d] = (regs[d] + cf[r4 + _U2]) & M32
                pc += 1
                continue
            elif op == 48:                                            # w += w
                d = (w >> 8) & 0xF
                regs[d] = (regs[d] + regs[(w >> 12) & 0xF]) & M32
                pc += 1
                continue
            elif op == 37:                                            # w &= imm
                d = (w >> 8) & 0xF
                regs[d] = regs[d] & cf[r4 + _U2] & M32
                pc += 1
                continue
            elif op == 43:                                            # w = imm
                regs[(w >> 8) & 0xF] = cf[r4 + _U2] & M32
                pc += 1
                continue
            elif op == 59:                                            # w = w
                regs[(w >> 8) & 0xF] = regs[(w >> 12) & 0xF] & M32
                pc += 1
                continue
            elif op == 64:                                            # bswap / be16, be32, be64
                d = (w >> 8) & 0xF
                aux = cf[r4 + _U3]
                a = regs[d]
                if aux == 16:
                    regs[d] = ((a & 0xFF) << 8) | ((a >> 8) & 0xFF)
                elif aux == 32:
                    regs[d] = ((a & 0xFF) << 24) | ((a & 0xFF00) << 8) | ((a >> 8) & 0xFF00) | ((a >> 24) & 0xFF)
                else:
                    regs[d] = _bswap(a, aux)
                pc += 1
                continue
            # 64-bit conditional jumps against an immediate (70 + jop) and a register (84 + jop)
            elif op == 71:
                pc = cf[r4 + _U1] if regs[(w >> 8) & 0xF] == cf[r4 + _U2] else pc + 1
                continue
            elif op == 72:
                pc = cf[r4 + _U1] if np.uint64(regs[(w >> 8) & 0xF]) > np.uint64(cf[r4 + _U2]) else pc + 1
                continue
            elif op == 73:
                pc = cf[r4 + _U1] if np.uint64(regs[(w >> 8) & 0xF]) >= np.uint64(cf[r4 + _U2]) else pc + 1
                continue
            elif op == 74:
                pc = cf[r4 + _U1] if (regs[(w >> 8) & 0xF] & cf[r4 + _U2]) != 0 else pc + 1
                continue
            elif op == 75:
                pc = cf[r4 + _U1] if regs[(w >> 8) & 0xF] != cf[r4 + _U2] else pc + 1
                continue
            elif op == 76:
                pc = cf[r4 + _U1] if regs[(w >> 8) & 0xF] > cf[r4 + _U2] else pc + 1
                continue
            elif op == 77:
                pc = cf[r4 + _U1] if regs[(w >> 8) & 0xF] >= cf[r4 + _U2] else pc + 1
                continue
            elif op == 80:
                pc = cf[r4 + _U1] if np.uint64(regs[(w >> 8) & 0xF]) < np.uint64(cf[r4 + _U2]) else pc + 1
                continue
            elif op == 81:
                pc = cf[r4 + _U1] if np.uint64(regs[(w >> 8) & 0xF]) <= np.uint64(cf[r4 + _U2]) else pc + 1
                continue
            elif op == 82:
                pc = cf[r4 + _U1] if regs[(w >> 8) & 0xF] < cf[r4 + _U2] else pc + 1
                continue
            elif op == 83:
                pc = cf[r4 + _U1] if regs[(w >> 8) & 0xF] <= cf[r4 + _U2] else pc + 1
                continue
            elif op == 85:
                pc = cf[r4 + _U1] if regs[(w >> 8) & 0xF] == regs[(w >> 12) & 0xF] else pc + 1
                continue
            elif op == 86:
                pc = cf[r4 + _U1] if np.uint64(regs[(w >> 8) & 0xF]) > np.uint64(regs[(w >> 12) & 0xF]) else pc + 1
                continue
            elif op == 87:
                pc = cf[r4 + _U1] if np.uint64(regs[(w >> 8) & 0xF]) >= np.uint64(regs[(w >> 12) & 0xF]) else pc + 1
                continue
            elif op == 88:
                pc = cf[r4 + _U1] if (regs[(w >> 8) & 0xF] & regs[(w >> 12) & 0xF]) != 0 else pc + 1
                continue
            elif op == 89:
                pc = cf[r4 + _U1] if regs[(w >> 8) & 0xF] != regs[(w >> 12) & 0xF] else pc + 1
                continue
            elif op == 90:
                pc = cf[r4 + _U1] if regs[(w >> 8) & 0xF] > regs[(w >> 12) & 0xF] else pc + 1
                continue
            elif op == 91:
                pc = cf[r4 + _U1] if regs[(w >> 8) & 0xF] >= regs[(w >> 12) & 0xF] else pc + 1
                continue
            elif op == 94:
                pc = cf[r4 + _U1] if np.uint64(regs[(w >> 8) & 0xF]) < np.uint64(regs[(w >> 12) & 0xF]) else pc + 1
                continue
            elif op == 95:
                pc = cf[r4 + _U1] if np.uint64(regs[(w >> 8) & 0xF]) <= np.uint64(regs[(w >> 12) & 0xF]) else pc + 1
                continue
            elif op == 96:
                pc = cf[r4 + _U1] if regs[(w >> 8) & 0xF] < regs[(w >> 12) & 0xF] else pc + 1
                continue
            elif op == 97:
                pc = cf[r4 + _U1] if regs[(w >> 8) & 0xF] <= regs[(w >> 12) & 0xF] else pc + 1
                continue
            elif op == 126:                                           # goto
                pc = cf[r4 + _U1]
                continue
            elif op == 147:                                           # ld_imm64 (one row, skips 2)
                regs[(w >> 8) & 0xF] = cf[r4 + _U2]
                pc = cf[r4 + _U1]
                continue
            # loads and stores of 1, 2, 4, 8 bytes on the stack or in the packet (written out per size:
            # an inlined helper taking the arrays would cost a reference count per instruction)
            elif op == 130:                                           # r = *(u8 *)(r + off)
                addr = regs[(w >> 12) & 0xF] + cf[r4 + _U1]
                o = addr & M48
                kind = addr >> PTR_SHIFT
                if kind == K_STACK and o + 1 <= stack_top:
                    regs[(w >> 8) & 0xF] = np.int64(um[o])
                    pc += 1
                    continue
                if kind == K_PKT and o >= pkt_lo and o + 1 <= pkt_end:
                    prd |= pkt_lines(o, np.int64(1))
                    regs[(w >> 8) & 0xF] = np.int64(mem[page, o])
                    pc += 1
                    continue
            elif op == 131:                                           # r = *(u16 *)(r + off)
                addr = regs[(w >> 12) & 0xF] + cf[r4 + _U1]
                o = addr & M48
                kind = addr >> PTR_SHIFT
                if kind == K_STACK and o + 2 <= stack_top:
                    regs[(w >> 8) & 0xF] = np.int64(um[o]) | (np.int64(um[o + 1]) << 8)
                    pc += 1
                    continue
                if kind == K_PKT and o >= pkt_lo and o + 2 <= pkt_end:
                    prd |= pkt_lines(o, np.int64(2))
                    regs[(w >> 8) & 0xF] = np.int64(mem[page, o]) | (np.int64(mem[page, o + 1]) << 8)
                    pc += 1
                    continue
            elif op == 132:                                           # r = *(u32 *)(r + off)
                addr = regs[(w >> 12) & 0xF] + cf[r4 + _U1]
                o = addr & M48
                kind = addr >> PTR_SHIFT
                if kind == K_STACK and o + 4 <= stack_top:
                    regs[(w >> 8) & 0xF] = (np.int64(um[o]) | (np.int64(um[o + 1]) << 8)
                                             | (np.int64(um[o + 2]) << 16) | (np.int64(um[o + 3]) << 24))
                    pc += 1
                    continue
                if kind == K_PKT and o >= pkt_lo and o + 4 <= pkt_end:
                    prd |= pkt_lines(o, np.int64(4))
                    regs[(w >> 8) & 0xF] = (np.int64(mem[page, o]) | (np.int64(mem[page, o + 1]) << 8)
                                             | (np.int64(mem[page, o + 2]) << 16)
                                             | (np.int64(mem[page, o + 3]) << 24))
                    pc += 1
                    continue
            elif op == 133:                                           # r = *(u64 *)(r + off)
                addr = regs[(w >> 12) & 0xF] + cf[r4 + _U1]
                o = addr & M48
                kind = addr >> PTR_SHIFT
                if kind == K_STACK and o + 8 <= stack_top and (o & 7) == 0:
                    regs[(w >> 8) & 0xF] = um64[o >> 3]
                    pc += 1
                    continue
                if kind == K_PKT and o >= pkt_lo and o + 8 <= pkt_end:
                    prd |= pkt_lines(o, np.int64(8))
                    regs[(w >> 8) & 0xF] = (np.int64(mem[page, o]) | (np.int64(mem[page, o + 1]) << 8)
                                             | (np.int64(mem[page, o + 2]) << 16)
                                             | (np.int64(mem[page, o + 3]) << 24)
                                             | (np.int64(mem[page, o + 4]) << 32)
                                             | (np.int64(mem[page, o + 5]) << 40)
                                             | (np.int64(mem[page, o + 6]) << 48)
                                             | (np.int64(mem[page, o + 7]) << 56))
                    pc += 1
                    continue
            elif op == 137:                                           # *(u8 *)(r + off) = r
                addr = regs[(w >> 8) & 0xF] + cf[r4 + _U1]
                o = addr & M48
                kind = addr >> PTR_SHIFT
                v = regs[(w >> 12) & 0xF]
                if kind == K_STACK and o + 1 <= stack_top:
                    um[o] = v & 0xFF
                    pc += 1
                    continue
                if kind == K_PKT and o >= pkt_lo and o + 1 <= pkt_end:
                    pwr |= pkt_lines(o, np.int64(1))
                    mem[page, o] = v & 0xFF
                    pc += 1
                    continue
            elif op == 138:                                           # *(u16 *)(r + off) = r
                addr = regs[(w >> 8) & 0xF] + cf[r4 + _U1]
                o = addr & M48
                kind = addr >> PTR_SHIFT
                v = regs[(w >> 12) & 0xF]
                if kind == K_STACK and o + 2 <= stack_top:
                    um[o] = v & 0xFF
                    um[o + 1] = (v >> 8) & 0xFF
                    pc += 1
                    continue
                if kind == K_PKT and o >= pkt_lo and o + 2 <= pkt_end:
                    pwr |= pkt_lines(o, np.int64(2))
                    mem[page, o] = v & 0xFF
                    mem[page, o + 1] = (v >> 8) & 0xFF
                    pc += 1
                    continue
            elif op == 139:                                           # *(u32 *)(r + off) = r
                addr = regs[(w >> 8) & 0xF] + cf[r4 + _U1]
                o = addr & M48
                kind = addr >> PTR_SHIFT
                v = regs[(w >> 12) & 0xF]
                if kind == K_STACK and o + 4 <= stack_top:
                    um[o] = v & 0xFF
                    um[o + 1] = (v >> 8) & 0xFF
                    um[o + 2] = (v >> 16) & 0xFF
                    um[o + 3] = (v >> 24) & 0xFF
                    pc += 1
                    continue
                if kind == K_PKT and o >= pkt_lo and o + 4 <= pkt_end:
                    pwr |= pkt_lines(o, np.int64(4))
                    mem[page, o] = v & 0xFF
                    mem[page, o + 1] = (v >> 8) & 0xFF
                    mem[page, o + 2] = (v >> 16) & 0xFF
                    mem[page, o + 3] = (v >> 24) & 0xFF
                    pc += 1
                    continue
            elif op == 140:                                           # *(u64 *)(r + off) = r
                addr = regs[(w >> 8) & 0xF] + cf[r4 + _U1]
                o = addr & M48
                kind = addr >> PTR_SHIFT
                v = regs[(w >> 12) & 0xF]
                if kind == K_STACK and o + 8 <= stack_top and (o & 7) == 0:
                    um64[o >> 3] = v
                    pc += 1
                    continue
                if kind == K_PKT and o >= pkt_lo and o + 8 <= pkt_end:
                    pwr |= pkt_lines(o, np.int64(8))
                    mem[page, o] = v & 0xFF
                    mem[page, o + 1] = (v >> 8) & 0xFF
                    mem[page, o + 2] = (v >> 16) & 0xFF
                    mem[page, o + 3] = (v >> 24) & 0xFF
                    mem[page, o + 4] = (v >> 32) & 0xFF
                    mem[page, o + 5] = (v >> 40) & 0xFF
                    mem[page, o + 6] = (v >> 48) & 0xFF
                    mem[page, o + 7] = (v >> 56) & 0xFF
                    pc += 1
                    continue
            elif op == 141:                                           # *(u8 *)(r + off) = imm
                addr = regs[(w >> 8) & 0xF] + cf[r4 + _U1]
                o = addr & M48
                kind = addr >> PTR_SHIFT
                v = cf[r4 + _U2]
                if kind == K_STACK and o + 1 <= stack_top:
                    um[o] = v & 0xFF
                    pc += 1
                    continue
                if kind == K_PKT and o >= pkt_lo and o + 1 <= pkt_end:
                    pwr |= pkt_lines(o, np.int64(1))
                    mem[page, o] = v & 0xFF
                    pc += 1
                    continue
            elif op == 142:                                           # *(u16 *)(r + off) = imm
                addr = regs[(w >> 8) & 0xF] + cf[r4 + _U1]
                o = addr & M48
                kind = addr >> PTR_SHIFT
                v = cf[r4 + _U2]
                if kind == K_STACK and o + 2 <= stack_top:
                    um[o] = v & 0xFF
                    um[o + 1] = (v >> 8) & 0xFF
                    pc += 1
                    continue
                if kind == K_PKT and o >= pkt_lo and o + 2 <= pkt_end:
                    pwr |= pkt_lines(o, np.int64(2))
                    mem[page, o] = v & 0xFF
                    mem[page, o + 1] = (v >> 8) & 0xFF
                    pc += 1
                    continue
            elif op == 143:                                           # *(u32 *)(r + off) = imm
                addr = regs[(w >> 8) & 0xF] + cf[r4 + _U1]
                o = addr & M48
                kind = addr >> PTR_SHIFT
                v = cf[r4 + _U2]
                if kind == K_STACK and o + 4 <= stack_top:
                    um[o] = v & 0xFF
                    um[o + 1] = (v >> 8) & 0xFF
                    um[o + 2] = (v >> 16) & 0xFF
                    um[o + 3] = (v >> 24) & 0xFF
                    pc += 1
                    continue
                if kind == K_PKT and o >= pkt_lo and o + 4 <= pkt_end:
                    pwr |= pkt_lines(o, np.int64(4))
                    mem[page, o] = v & 0xFF
                    mem[page, o + 1] = (v >> 8) & 0xFF
                    mem[page, o + 2] = (v >> 16) & 0xFF
                    mem[page, o + 3] = (v >> 24) & 0xFF
                    pc += 1
                    continue
            elif op == 144:                                           # *(u64 *)(r + off) = imm
                addr = regs[(w >> 8) & 0xF] + cf[r4 + _U1]
                o = addr & M48
                kind = addr >> PTR_SHIFT
                v = cf[r4 + _U2]
                if kind == K_STACK and o + 8 <= stack_top and (o & 7) == 0:
                    um64[o >> 3] = v
                    pc += 1
                    continue
                if kind == K_PKT and o >= pkt_lo and o + 8 <= pkt_end:
                    pwr |= pkt_lines(o, np.int64(8))
                    mem[page, o] = v & 0xFF
                    mem[page, o + 1] = (v >> 8) & 0xFF
                    mem[page, o + 2] = (v >> 16) & 0xFF
                    mem[page, o + 3] = (v >> 24) & 0xFF
                    mem[page, o + 4] = (v >> 32) & 0xFF
                    mem[page, o + 5] = (v >> 40) & 0xFF
                    mem[page, o + 6] = (v >> 48) & 0xFF
                    mem[page, o + 7] = (v >> 56) & 0xFF
                    pc += 1
                    continue
            elif op == 127 and cf[r4 + _U2] == 1:
                # bpf_map_lookup_elem on a (PERCPU_)ARRAY with the key on the stack, without a call
                # (anything else: _call_helper in the generic code)
                mp_ = regs[1]
                kp = regs[2]
                m = mp_ & M48
                if (mp_ >> PTR_SHIFT) == K_MAP and m < maps.shape[0] and (kp >> PTR_SHIFT) == K_STACK \
                        and (maps[m, MAP_TYPE] == 2 or maps[m, MAP_TYPE] == 6) and (kp & M48) + 4 <= stack_top:
                    ko = kp & M48
                    idx = np.int64(um[ko]) | (np.int64(um[ko + 1]) << 8) | (np.int64(um[ko + 2]) << 16) | \
                        (np.int64(um[ko + 3]) << 24)
                    if idx >= maps[m, MAP_MAX_ENTRIES]:
                        regs[0] = 0
                    else:
                        cpu = envs[pi, ENV_CPU] if maps[m, MAP_NCOPIES] > 1 else 0
                        regs[0] = (np.int64(K_MAPVAL) << PTR_SHIFT) | (m << 32) | \
                            ((idx * maps[m, MAP_NCOPIES] + cpu) << maps[m, MAP_VSHIFT])
                    helpers += 1
                    pc += 1
                    continue
            elif op == 128 and depth == 0:                            # exit from the main frame
                ret = regs[0]
                break
            # ---------------------------------------------------------------- generic code
            x = cf[r4 + _U1]
            if op >= 130 and op < 137:
                # ---------------------------------------------------------- LDX / LDSX
                src = (w >> 12) & 0xF
                addr = regs[src] + x
                if op < 134:
                    sz = np.int64(1) << (op - 130)
                else:
                    sz = np.int64(1) << (op - 134)
                kind = addr >> PTR_SHIFT
                o = addr & M48
                if kind == K_PKT:
                    if o < pkt_lo or o + sz > pkt_end:
                        ret = _fault(envs[pi], np.int64(FAULT_PKT), pc, addr, sz | (src << 12) | ((x & 0xFFFF) << 16),
                                      _pkt_info(xdps[pi]))
                        break
                    prd |= pkt_lines(o, sz)
                    v = np.int64(mem[page, o])
                    if sz >= 2:
                        v |= np.int64(mem[page, o + 1]) << 8
                        if sz >= 4:
                            v |= (np.int64(mem[page, o + 2]) << 16) | (np.int64(mem[page, o + 3]) << 24)
                            if sz == 8:
                                v |= ((np.int64(mem[page, o + 4]) << 32) | (np.int64(mem[page, o + 5]) << 40)
                                      | (np.int64(mem[page, o + 6]) << 48) | (np.int64(mem[page, o + 7]) << 56))
                elif kind == K_CTX:
                    if sz != 4 or o > 20 or (o & 3) != 0:
                        ret = _fault(envs[pi], np.int64(FAULT_CTX), pc, addr, sz | (src << 12) | ((x & 0xFFFF) << 16),
                                      np.int64(0))
                        break
                    f = o >> 2
                    if f == 0:
                        v = (np.int64(K_PKT) << PTR_SHIFT) | xdps[pi, XB_DATA]
                    elif f == 1:
                        v = (np.int64(K_PKT) << PTR_SHIFT) | xdps[pi, XB_DATA_END]
                    elif f == 2:
                        v = (np.int64(K_PKT) << PTR_SHIFT) | xdps[pi, XB_DATA_META]
                    elif f == 3:
                        v = xdps[pi, XB_INGRESS_IFINDEX] & M32
                    elif f == 4:
                        v = xdps[pi, XB_RX_QUEUE_INDEX] & M32
                    else:
                        v = xdps[pi, XB_EGRESS_IFINDEX] & M32
                else:
                    ok = kind == K_STACK and o + sz <= stack_top
                    if kind == K_MAPVAL:
                        # _resolve's in-bounds case written out: a call would pass it views of xdps
                        # and envs (two reference counts per access)
                        m = (addr >> 32) & 0xFFFF
                        vo = addr & M32
                        if m < maps.shape[0]:
                            sh = maps[m, MAP_VSHIFT]
                            if (vo & ((1 << sh) - 1)) + sz <= maps[m, MAP_VALUE_SIZE] and \
                                    vo < (maps[m, MAP_MAX_ENTRIES] * maps[m, MAP_NCOPIES]) << sh:
                                o = maps[m, MAP_VBASE] + vo
                                ok = True
                    if not ok:
                        o = _resolve(maps, xdps[pi], envs[pi], addr, sz, np.int64(0), pc,
                                     sz | (src << 12) | ((x & 0xFFFF) << 16), stack_top)
                        if o < 0:
                            ret = XDP_ABORTED
                            break
                    if sz == 8 and (o & 7) == 0:
                        v = um64[o >> 3]
                    else:
                        v = np.int64(um[o])
                        if sz >= 2:
                            v |= np.int64(um[o + 1]) << 8
                            if sz >= 4:
                                v |= (np.int64(um[o + 2]) << 16) | (np.int64(um[o + 3]) << 24)
                                if sz == 8:
                                    v |= ((np.int64(um[o + 4]) << 32) | (np.int64(um[o + 5]) << 40)
                                          | (np.int64(um[o + 6]) << 48) | (np.int64(um[o + 7]) << 56))
                if op >= 134 and sz < 8:
                    s = 64 - 8 * sz
                    v = (v << s) >> s
                regs[(w >> 8) & 0xF] = v
                pc += 1
            elif op >= 137 and op < 145:
                # ---------------------------------------------------------- STX / ST
                dst = (w >> 8) & 0xF
                addr = regs[dst] + x
                if op < 141:
                    sz = np.int64(1) << (op - 137)
                    v = regs[(w >> 12) & 0xF]
                else:
                    sz = np.int64(1) << (op - 141)
                    v = code[pc, 2]
                kind = addr >> PTR_SHIFT
                o = addr & M48
                if kind == K_PKT:
                    if o < pkt_lo or o + sz > pkt_end:
                        ret = _fault(envs[pi], np.int64(FAULT_PKT), pc, addr,
                                      sz | (1 << 8) | (dst << 12) | ((x & 0xFFFF) << 16), _pkt_info(xdps[pi]))
                        break
                    pwr |= pkt_lines(o, sz)
                    mem[page, o] = v & 0xFF
                    if sz >= 2:
                        mem[page, o + 1] = (v >> 8) & 0xFF
                        if sz >= 4:
                            mem[page, o + 2] = (v >> 16) & 0xFF
                            mem[page, o + 3] = (v >> 24) & 0xFF
                            if sz == 8:
                                mem[page, o + 4] = (v >> 32) & 0xFF
                                mem[page, o + 5] = (v >> 40) & 0xFF
                                mem[page, o + 6] = (v >> 48) & 0xFF
                                mem[page, o + 7] = (v >> 56) & 0xFF
                else:
                    ok = kind == K_STACK and o + sz <= stack_top
                    if kind == K_MAPVAL:
                        # as for LDX, and the map must be writable
                        m = (addr >> 32) & 0xFFFF
                        vo = addr & M32
                        if m < maps.shape[0]:
                            sh = maps[m, MAP_VSHIFT]
                            if (vo & ((1 << sh) - 1)) + sz <= maps[m, MAP_VALUE_SIZE] and \
                                    vo < (maps[m, MAP_MAX_ENTRIES] * maps[m, MAP_NCOPIES]) << sh and \
                                    maps[m, MAP_RDONLY] == 0:
                                o = maps[m, MAP_VBASE] + vo
                                ok = True
                    if not ok:
                        if kind == K_CTX:
                            ret = _fault(envs[pi], np.int64(FAULT_CTX), pc, addr,
                                          sz | (1 << 8) | (dst << 12) | ((x & 0xFFFF) << 16), np.int64(1))
                            break
                        o = _resolve(maps, xdps[pi], envs[pi], addr, sz, np.int64(1), pc,
                                     sz | (1 << 8) | (dst << 12) | ((x & 0xFFFF) << 16), stack_top)
                        if o < 0:
                            ret = XDP_ABORTED
                            break
                    if sz == 8 and (o & 7) == 0:
                        um64[o >> 3] = v
                    else:
                        um[o] = v & 0xFF
                        if sz >= 2:
                            um[o + 1] = (v >> 8) & 0xFF
                            if sz >= 4:
                                um[o + 2] = (v >> 16) & 0xFF
                                um[o + 3] = (v >> 24) & 0xFF
                                if sz == 8:
                                    um[o + 4] = (v >> 32) & 0xFF
                                    um[o + 5] = (v >> 40) & 0xFF
                                    um[o + 6] = (v >> 48) & 0xFF
                                    um[o + 7] = (v >> 56) & 0xFF
                pc += 1
            elif op < 64:
                # ---------------------------------------------------------- other ALU / ALU64
                dst = (w >> 8) & 0xF
                b = code[pc, 2] if (w >> 16) & 1 else regs[(w >> 12) & 0xF]
                if op < 32:
                    regs[dst] = _alu64(op & 15, regs[dst], b, code[pc, 3])
                else:
                    regs[dst] = _alu32(op & 15, regs[dst], b, code[pc, 3])
                pc += 1
            elif op < 68:
                dst = (w >> 8) & 0xF
                a = regs[dst]
                aux = code[pc, 3]
                if op == 64:
                    regs[dst] = _bswap(a, aux)
                elif op == 65:
                    regs[dst] = a & 0xFFFF if aux == 16 else (a & M32 if aux == 32 else a)
                else:
                    sh = 64 - aux
                    v = (regs[(w >> 12) & 0xF] << sh) >> sh
                    regs[dst] = v if op == 66 else v & M32
                pc += 1
            elif op < 126:
                # ---------------------------------------------------------- other JMP / JMP32
                jt = op - 70
                blk = jt // 14
                jop = jt - blk * 14
                a = regs[(w >> 8) & 0xF]
                b = regs[(w >> 12) & 0xF] if blk & 1 else code[pc, 2]
                if blk >= 2:
                    if jop == 6 or jop == 7 or jop == 12 or jop == 13:
                        t = _jmp_taken(jop, (a << 32) >> 32, (b << 32) >> 32)
                    else:
                        t = _jmp_taken(jop, a & M32, b & M32)
                else:
                    t = _jmp_taken(jop, a, b)
                pc = x if t else pc + 1
            elif op < 130:
                if op == 127:                                  # call helper
                    fid = code[pc, 2]
                    helpers += 1
                    if fid == 12:                              # bpf_tail_call(ctx, prog_array, index)
                        m = _helper_map(maps, envs[pi], regs[2], np.int64(12), pc, np.int64(_MT_PROG_ARRAY))
                        if m < 0:
                            ret = XDP_ABORTED
                            break
                        idx = regs[3] & M32
                        e = -1
                        if idx < maps[m, MAP_MAX_ENTRIES] and regs[CTL_TAILCNT] < 33:
                            e = maps[m, MAP_EBASE] + idx
                            if bs.elems[e, EL_USED] == 0:
                                e = -1
                        if e < 0:
                            regs[0] = -2                       # -ENOENT; the program continues
                            pc += 1
                            continue
                        regs[CTL_TAILCNT] += 1
                        vo = maps[m, MAP_VBASE] + bpf_map_value_offset(bs, m, e, np.int64(0))
                        tgt = np.int64(um[vo]) | (np.int64(um[vo + 1]) << 8)
                        if tgt >= bs.progs.shape[0]:
                            regs[0] = -2
                            pc += 1
                            continue
                        pc = bs.progs[tgt, PR_START]
                        depth = 0
                        stack_top = np.int64(FRAME)
                        regs[10] = (np.int64(K_STACK) << PTR_SHIFT) | FRAME
                        continue
                    if fid == 181:                             # bpf_loop(nr_loops, callback, ctx, flags)
                        nr = regs[1] & M32
                        if regs[4] != 0:
                            regs[0] = -22                      # -EINVAL
                            pc += 1
                            continue
                        if nr > 8 * 1024 * 1024:
                            regs[0] = -7                       # -E2BIG (BPF_MAX_LOOPS)
                            pc += 1
                            continue
                        if (regs[2] >> PTR_SHIFT) != K_FUNC:
                            ret = _fault(envs[pi], np.int64(FAULT_HELPER_MAP), pc, np.int64(181), np.int64(-2), regs[2])
                            break
                        if nr == 0:
                            regs[0] = 0
                            pc += 1
                            continue
                        if depth + 1 >= 8:
                            ret = _fault(envs[pi], np.int64(FAULT_CALL_DEPTH), pc, depth + 1, np.int64(0), np.int64(0))
                            break
                        # a call frame whose return pc is negative: the callback of a loop
                        regs[CTL_FRAMES + depth * 6 + 0] = -pc - 1
                        regs[CTL_FRAMES + depth * 6 + 1] = regs[6]
                        regs[CTL_FRAMES + depth * 6 + 2] = regs[7]
                        regs[CTL_FRAMES + depth * 6 + 3] = regs[8]
                        regs[CTL_FRAMES + depth * 6 + 4] = regs[9]
                        regs[CTL_FRAMES + depth * 6 + 5] = regs[10]
                        regs[CTL_LOOP + depth * 4 + 0] = 0
                        regs[CTL_LOOP + depth * 4 + 1] = nr
                        regs[CTL_LOOP + depth * 4 + 2] = regs[2] & M48
                        regs[CTL_LOOP + depth * 4 + 3] = regs[3]
                        depth += 1
                        stack_top = (depth + 1) * FRAME
                        regs[10] = (np.int64(K_STACK) << PTR_SHIFT) | stack_top
                        regs[1] = 0
                        regs[2] = regs[CTL_LOOP + (depth - 1) * 4 + 3]
                        regs[3] = 0
                        regs[4] = 0
                        regs[5] = 0
                        pc = regs[CTL_LOOP + (depth - 1) * 4 + 2]
                        continue
                    regs[0] = _call_helper(bs, mem, xdps[pi], envs[pi], fid, pc, stack_top)
                    if envs[pi, ENV_ERR] != 0:
                        ret = XDP_ABORTED
                        break
                    data = xdps[pi, XB_DATA]
                    pkt_end = xdps[pi, XB_DATA_END]
                    pkt_lo = xdps[pi, XB_DATA_META] if xdps[pi, XB_DATA_META] < data else data
                    pc += 1
                elif op == 128:                                # exit
                    if depth == 0:
                        ret = regs[0]
                        break
                    lp = depth - 1
                    if regs[CTL_FRAMES + lp * 6 + 0] < 0:
                        # the end of one bpf_loop callback: 0 goes on, anything else stops
                        li = regs[CTL_LOOP + lp * 4 + 0] + 1
                        if regs[0] == 0 and li < regs[CTL_LOOP + lp * 4 + 1]:
                            regs[CTL_LOOP + lp * 4 + 0] = li
                            regs[1] = li
                            regs[2] = regs[CTL_LOOP + lp * 4 + 3]
                            regs[3] = 0
                            regs[4] = 0
                            regs[5] = 0
                            regs[10] = (np.int64(K_STACK) << PTR_SHIFT) | stack_top
                            pc = regs[CTL_LOOP + lp * 4 + 2]
                            continue
                        regs[0] = li
                        depth -= 1
                        pc = -regs[CTL_FRAMES + depth * 6 + 0] - 1 + 1
                        regs[6] = regs[CTL_FRAMES + depth * 6 + 1]
                        regs[7] = regs[CTL_FRAMES + depth * 6 + 2]
                        regs[8] = regs[CTL_FRAMES + depth * 6 + 3]
                        regs[9] = regs[CTL_FRAMES + depth * 6 + 4]
                        regs[10] = regs[CTL_FRAMES + depth * 6 + 5]
                        stack_top = (depth + 1) * FRAME
                        continue
                    depth -= 1
                    pc = regs[CTL_FRAMES + depth * 6 + 0]
                    regs[6] = regs[CTL_FRAMES + depth * 6 + 1]
                    regs[7] = regs[CTL_FRAMES + depth * 6 + 2]
                    regs[8] = regs[CTL_FRAMES + depth * 6 + 3]
                    regs[9] = regs[CTL_FRAMES + depth * 6 + 4]
                    regs[10] = regs[CTL_FRAMES + depth * 6 + 5]
                    stack_top = (depth + 1) * FRAME
                else:                                          # bpf-to-bpf call
                    if depth + 1 >= 8:
                        ret = _fault(envs[pi], np.int64(FAULT_CALL_DEPTH), pc, depth + 1, np.int64(0), np.int64(0))
                        break
                    regs[CTL_FRAMES + depth * 6 + 0] = pc + 1
                    regs[CTL_FRAMES + depth * 6 + 1] = regs[6]
                    regs[CTL_FRAMES + depth * 6 + 2] = regs[7]
                    regs[CTL_FRAMES + depth * 6 + 3] = regs[8]
                    regs[CTL_FRAMES + depth * 6 + 4] = regs[9]
                    regs[CTL_FRAMES + depth * 6 + 5] = regs[10]
                    depth += 1
                    stack_top = (depth + 1) * FRAME
                    regs[10] = (np.int64(K_STACK) << PTR_SHIFT) | stack_top
                    pc = x
            else:
                _atomic(bs, mem, xdps[pi], envs[pi], pc, w, x, code[pc, 3], stack_top)
                if envs[pi, ENV_ERR] != 0:
                    ret = XDP_ABORTED
                    break
                pc += 1
        envs[pi, ENV_INSNS] = budget - left
        envs[pi, ENV_HELPER_CALLS] = helpers
        regs[CTL_PKT_RD] |= prd
        regs[CTL_PKT_WR] |= pwr
        rets[pi] = ret
        total += budget - left
    return total


@kernel
def bpf_vm_run_many(bs, prog_index, mem, xdps, envs, rets):
    """The interpreter (``_bpf_vm_loop``) as one function for its many-packet callers
    (the Python-facing entry points below share this one compiled copy)."""
    return _bpf_vm_loop(bs, prog_index, mem, xdps, envs, rets)


@kernel(hot=True)
def bpf_vm_run(bs, prog_index, mem, xdp, env):
    """The interpreter for one packet, inlined into its caller: returns r0 (XDP_ABORTED
    after a fault).

    The board calls this from a kernel that takes only the board's struct: the VM then
    reads its state through that one pointer.  A call into an out-of-line VM passes every
    array of the VM state, the packet memory and the buffers one by one (~100 arguments,
    ~30 ns per packet, measured with benchmarks/profile_jit.py)."""
    rr = window(bs.ctl, CTL_RET, 1)          # views typed as borrowed: no NRT calls for them
    _bpf_vm_loop(bs, prog_index, mem, one_row(xdp), one_row(env), rr)
    return rr[0]


def _interp_entry(bs, prog_index, mem, rows, cols, xdp, env):
    """The interpreter as a C function of the board (``call_interp``): the packet memory, the
    ``xdp_buff`` and the run environment arrive as addresses (their shapes are the board's)."""
    return bpf_vm_run(bs, prog_index, array_at(mem, (rows, cols), np.uint8), array_at(xdp, (XB_SIZE,), np.int64),
                      array_at(env, (ENV_SIZE,), np.int64))


_INTERP_ADDR = []


def interp_entry_addr() -> int:
    """The address of the board's interpreter entry, compiled (or loaded from numba's disk cache)
    on the first call in a process: only a board that runs a compiled eBPF program needs it."""
    if not _INTERP_ADDR:
        from numba import cfunc, types as nt
        from .jit import _BS                  # the VM state's type as the board holds it
        sig = nt.int64(_BS, *([nt.int64] * 6))
        _INTERP_ADDR.append(cfunc(sig, cache=True)(_interp_entry))
    return _INTERP_ADDR[0].address


def bpf_prog_run_xdp(bs, prog_index, mem, xdp, env):
    """bpf_prog_run_xdp(prog, xdp): run program ``prog_index`` of the object ``bs`` (a
    BpfProgram's ``.state`` / ``.index``) on the packet described by ``xdp`` in ``mem``.

    Returns the program's raw return value (an invalid action is passed through: the
    driver handles it); XDP_ABORTED with env[ENV_ERR] != 0 after a fault."""
    rr = bs.ctl[CTL_RET:CTL_RET + 1]
    bpf_vm_run_many(borrow(bs), prog_index, mem, xdp[None, :], env[None, :], rr)
    return rr[0]


# The kernel name belongs to the core's dispatcher (xdplab.progs.bpf_prog_run_xdp), which calls
# bpf_vm_run for eBPF programs; this entry point with the VM's own signature stays a cached njit.
import numba as _numba  # noqa: E402

bpf_prog_run_xdp = _numba.njit(cache=True)(bpf_prog_run_xdp)


@kernel
def bpf_test_run_xdp(bs, prog_index, mem, xdp, env, repeat):
    """bpf_test_run() for XDP: run the program ``repeat`` times on the same buffer (as
    BPF_PROG_TEST_RUN does without live frames); returns the last r0."""
    ret = np.int64(0)
    total = np.int64(0)
    bsb = borrow(bs)              # the same compiled VM as bpf_prog_run_xdp_batch's
    rr = bs.ctl[CTL_RET:CTL_RET + 1]
    xdps = xdp[None, :]
    envs = env[None, :]
    # A translated program is called straight from this loop, as the kernel's bpf_test_run
    # calls the JIT's code: through bpf_vm_run_many, each run also paid that call's ~100
    # arguments (duration_ns of ssh_mirror.o 93 -> 12-18).  A run it hands back (CTL_RESUME: the
    # budget ends inside a block) is finished by the interpreter, which resumes it.
    jaddr = _jit_addr(bsb, prog_index, mem, xdps, envs)
    for _ in range(repeat):
        if jaddr != 0:
            rr[0] = call_jit(jaddr, bsb, data_addr(mem), mem.shape[0], mem.shape[1], data_addr(xdp),
                             data_addr(env))
        if jaddr == 0 or bs.ctl[CTL_RESUME] != 0:
            bpf_vm_run_many(bsb, prog_index, mem, xdps, envs, rr)
        ret = rr[0]
        total += env[ENV_INSNS]
        if env[ENV_ERR] != 0:
            break
    env[ENV_INSNS] = total
    return ret


@kernel
def bpf_prog_run_xdp_batch(bs, prog_index, mem, xdps, envs, rets):
    """Run the program once per row of ``xdps`` (int64[N, XB_SIZE]) with ``envs[i]``
    (int64[N, ENV_SIZE]), results in ``rets[i]``: one call for N packets (benchmarks,
    many-packet runs).  Returns the total instructions executed."""
    return bpf_vm_run_many(borrow(bs), prog_index, mem, xdps, envs, rets)
