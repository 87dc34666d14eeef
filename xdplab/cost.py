"""Cycle accounting: every modelled operation charges cycles to the CPU running it.

The per-operation costs are a *board profile* (``xdplab/boards/espressobin.py``):
one array indexed by the ``C_*`` constants below.  Nothing in the simulator
charges a cost per verdict; an XDP_DROP is fast because of the operations its
path performs (a recycle into the alloc cache, one cache line synced), and a
tc drop is slow because of the ones its path performs (an skb, GRO, the
ingress hook, a ptr_ring recycle).  ``Board.cost_breakdown()`` shows where the
cycles went, per operation.  One row is not an operation: ``unattributed``, the
cycles per received frame that the calibration figures need and that no
operation's evidence explains (a fitted number, shown as such, never folded
into a named operation).
"""

from __future__ import annotations

import numpy as np

from ._twospeed import kernel

__all__ = ["charge", "charge_n", "cpu_clock", "cpu_clock_settle", "cpu_switch", "cpu_now", "ktime_get_ns", "cpu_idle_until", "cost_to_clock_units", "OPS", "NOPS"]

# name: what one unit of the operation is
OPS = (
    ("irq_entry", "exception entry/exit, GIC ack, mvneta_isr masking the interrupt, napi_schedule"),
    ("napi_poll", "net_rx_action + mvneta_poll bookkeeping for one poll (without its MMIO)"),
    ("mmio_read", "one device register read (cause, RXQ status, TXQ sent count)"),
    ("mmio_write", "one posted device register write (desc num update, doorbell, irq unmask)"),
    ("desc_read", "one load of one descriptor field (RX status, data_size, buf_phys_addr; the refill's "
                  "buf_phys_addr check; TX completion's buf_phys_addr) from non-cacheable coherent memory"),
    ("desc_write", "one field store to a non-cacheable descriptor"),
    ("rx_loop", "per-descriptor loop work in mvneta_rx_swbm (index math, prefetch, counters)"),
    ("dma_sync_call", "one dma_sync_single_* call: dma-direct + arch_sync_dma_* (no IOMMU on A3720), and the "
                      "dsb that waits for its cache maintenance to complete"),
    ("dcache_inval_line", "dc ivac on one 64-byte line (sync for CPU)"),
    ("dcache_clean_line", "dc cvac on one 64-byte line (sync for device)"),
    ("pkt_miss", "first CPU touch of a packet line after invalidation: DDR3 access"),
    ("xdp_buff_prep", "xdp_init_buff/xdp_prepare_buff and driver glue around the program"),
    ("bpf_prog_call", "bpf_prog_run_xdp: indirect call into the JITed program and back"),
    ("bpf_insn", "one eBPF instruction executed by the arm64 JIT's code"),
    ("bpf_interp_insn", "what one eBPF instruction costs more in ___bpf_prog_run than JITed "
                        "(net.core.bpf_jit_enable=0; charged on top of bpf_insn)"),
    ("bpf_helper", "one BPF helper call (call + return, excluding what the helper models)"),
    ("pp_alloc_fast", "page_pool_alloc_pages from the alloc cache"),
    ("pp_refill", "page_pool_refill_alloc_cache: consumer lock + per-call overhead"),
    ("pp_refill_page", "one page moved ptr_ring -> alloc cache"),
    ("pp_alloc_slow", "__page_pool_alloc_pages_slow call overhead"),
    ("pp_recycle_cache", "page_pool_put_page into the alloc cache (refcount read, store)"),
    ("pp_recycle_ring", "ptr_ring_produce(_bh): spinlock + store"),
    ("pp_release", "page_pool_release_page: unmap + accounting"),
    ("page_alloc", "one order-0 page from the buddy allocator"),
    ("page_free", "one page returned to the buddy allocator"),
    ("dma_map", "dma_map_page_attrs call (mapping only; cache maintenance charged per line)"),
    ("dma_unmap", "dma_unmap_page_attrs call"),
    ("xdp_stats", "per-frame XDP/netdev stats accumulation in the poll-local struct"),
    ("stats_fold", "per-poll fold of local stats into the per-CPU u64_stats"),
    ("refill_desc", "mvneta_rx_refill glue (besides page_pool and the descriptor store)"),
    ("xdp_frame_conv", "xdp_convert_buff_to_frame: write the xdp_frame into the headroom"),
    ("txq_lock", "__netif_tx_lock/unlock around XDP_TX / ndo_xdp_xmit"),
    ("tx_submit", "mvneta_xdp_submit_frame glue per descriptor (besides desc stores and sync)"),
    ("tx_done_desc", "mvneta_txq_bufs_free per completed descriptor"),
    ("xdp_return_frame", "xdp_return_frame*: mem-type dispatch"),
    ("build_skb", "build_skb: skbuff_head_cache alloc + skb and skb_shared_info init"),
    ("eth_type_trans", "eth_type_trans + skb metadata setup in the driver"),
    ("gro_receive", "napi_gro_receive: dev_gro_receive through the inet/udp gro handlers"),
    ("netif_receive_skb", "__netif_receive_skb_core for one skb (taps, ptype walk, RCU)"),
    ("tc_ingress", "sch_handle_ingress: tcf_classify (matchall) + act_gact"),
    ("ip_rcv", "ip_rcv + ip_rcv_finish + routing lookup to local delivery"),
    ("udp_rcv", "udp_rcv: socket lookup and queueing to the socket"),
    ("kfree_skb", "kfree_skb/consume_skb: release head state, free skbuff_head"),
    ("redirect", "xdp_do_redirect bookkeeping (per-CPU redirect info, tracepoint)"),
    ("xdp_flush", "xdp_do_flush at the end of a poll that redirected"),
    ("cpumap_enqueue", "cpu_map_enqueue + bq_enqueue: one frame into this CPU's bulk queue of a CPUMAP entry"),
    ("cpumap_bq_flush", "bq_flush_to_queue: the ptr_ring's producer lock, the flush list, the enqueue tracepoint"),
    ("ptr_ring_produce", "__ptr_ring_produce: one slot checked and written (the consumer's CPU owns its line)"),
    ("cpumap_wake", "wake_up_process of a sleeping cpumap kthread on another CPU (try_to_wake_up, IPI)"),
    ("sched_switch", "schedule() out of a kthread that found its ring empty, and back in when woken"),
    ("cpumap_batch", "one pass of cpu_map_kthread_run: batched consume, kmem_cache_alloc_bulk, bh/rcu, tracepoint"),
    ("ptr_ring_consume", "one frame out of the ptr_ring and its struct page prefetched"),
    ("xdp_frame_to_skb", "__xdp_build_skb_from_frame around build_skb: headroom, reserve, put, scrub"),
    ("unattributed", "per received frame: the part of the calibration figures that no operation above "
                     "explains with evidence (see xdplab/boards/espressobin.py)"),
)
NOPS = len(OPS)
for _i, (_n, _d) in enumerate(OPS):
    globals()["C_" + _n.upper()] = _i
    __all__.append("C_" + _n.upper())

from ._layout import (CLOCK_SHIFT, CLOCK_UNIT_NS, R_CLK_PEND, R_CLOCK, R_COST_FX, R_CPU_CUR, R_IDLE,  # noqa: E402
                      R_OP_COUNT, R_OP_SNAP)
from .trace import board_tracing  # noqa: E402
from ._layout import MAX_OPS  # noqa: E402

assert NOPS <= MAX_OPS


def cost_to_clock_units(cycles, hz):
    """A profile's costs (cycles, float) as what a charge adds to the clock (int64 CLOCK_UNIT_NS)."""
    return np.round(np.asarray(cycles, np.float64) * (1e9 / hz) * (1 << CLOCK_SHIFT)).astype(np.int64)


@kernel(hot=True)
def charge_n(b, op, n):
    """Charge ``n`` units of operation ``op`` to the current CPU."""
    r = b.r
    # A charge only counts the operation: one add to a fixed slot, ``r[R_OP_COUNT + op]``.  The
    # clock is derived from the counts when somebody reads it (cpu_clock): the cycles not yet
    # settled into the running CPU's clock are sum((count - count at the last settle) * cost)
    # over the operations.  A frame makes ~16 charges and the clock is read about once per NAPI
    # poll of 64 frames, so one dot product per read is cheaper than extending the clock at
    # every charge (a load of the cost and a read-modify-write of the clock each time).
    # The arithmetic is integer: the clock is exactly the sum of the charges either way.
    # A board that traces reads the clock at every event (~10 per frame): it also extends a
    # pending sum at each charge (R_CLK_PEND) and reads that (board_tracing is a compile-time
    # constant: the other kind of board has none of this code).
    if board_tracing(b):
        r[R_CLK_PEND] += r[R_COST_FX + op] * n
    r[R_OP_COUNT + op] += n


@kernel(hot=True)
def charge(b, op):
    """Charge one unit of operation ``op`` to the current CPU."""
    charge_n(b, op, 1)


@kernel(hot=True)
def _unsettled(b):
    # the cycles charged to the running CPU since its clock was last settled, in CLOCK_UNIT_NS
    r = b.r
    if board_tracing(b):
        return r[R_CLK_PEND]
    t = 0
    for op in range(NOPS):
        t += (r[R_OP_COUNT + op] - r[R_OP_SNAP + op]) * r[R_COST_FX + op]
    return t


@kernel(hot=True)
def cpu_clock(b, cpu):
    """CPU ``cpu``'s clock in CLOCK_UNIT_NS (fixed point), the unsettled charges included."""
    t = b.r[R_CLOCK + (cpu & 1)]
    if cpu == b.r[R_CPU_CUR]:
        t += _unsettled(b)
    return t


@kernel(hot=True)
def cpu_clock_settle(b):
    """Add the charges not yet settled to the current CPU's clock (before it stops running)."""
    r = b.r
    r[R_CLOCK + (r[R_CPU_CUR] & 1)] += _unsettled(b)
    r[R_CLK_PEND] = 0
    for op in range(NOPS):
        r[R_OP_SNAP + op] = r[R_OP_COUNT + op]


@kernel
def cpu_switch(b, cpu):
    """The simulation goes on on CPU ``cpu``: settle the clock of the one that ran so far."""
    cpu_clock_settle(b)
    b.r[R_CPU_CUR] = cpu


@kernel(hot=True)
def _cur_clock(b):
    # the running CPU's clock in CLOCK_UNIT_NS: cpu_clock for R_CPU_CUR, without its compare
    return b.r[R_CLOCK + (b.r[R_CPU_CUR] & 1)] + _unsettled(b)


@kernel(hot=True)
def cpu_now(b):
    """The current CPU's clock, in ns."""
    return _cur_clock(b) * CLOCK_UNIT_NS


@kernel(hot=True)
def ktime_get_ns(b):
    """The current CPU's clock in whole ns (what ``bpf_ktime_get_ns`` returns): the fixed-point
    clock shifted, no float conversion on the per-packet path."""
    return _cur_clock(b) >> CLOCK_SHIFT


@kernel
def cpu_idle_until(b, t_ns):
    """The current CPU has nothing to do until ``t_ns``: its clock jumps there (never back), and
    the jump counts as idle.  The clock rounds up, so that it is never before ``t_ns``."""
    cpu_clock_settle(b)
    cpu = b.r[R_CPU_CUR] & 1
    t = np.int64(np.ceil(t_ns * (1 << CLOCK_SHIFT)))
    if t > b.r[R_CLOCK + cpu]:
        b.r[R_IDLE + cpu] += t - b.r[R_CLOCK + cpu]
        b.r[R_CLOCK + cpu] = t
