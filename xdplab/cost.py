"""Cycle accounting: every modelled operation charges cycles to the CPU running it.

The per-operation costs are a *board profile* (``xdplab/boards/espressobin.py``):
one array indexed by the ``C_*`` constants below.  Nothing in the simulator
charges a cost per verdict; an XDP_DROP is fast because of the operations its
path performs (a recycle into the alloc cache, one cache line synced), and a
tc drop is slow because of the ones its path performs (an skb, GRO, the
ingress hook, a ptr_ring recycle).  ``Board.cost_breakdown()`` shows where the
cycles went, per operation.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._twospeed import kernel

__all__ = ["Cpu", "create_cpu", "charge", "charge_n", "cpu_now", "OPS", "NOPS"]

# name: what one unit of the operation is
OPS = (
    ("irq_entry", "exception entry/exit, GIC ack, mvneta_isr masking the interrupt, napi_schedule"),
    ("napi_poll", "net_rx_action + mvneta_poll bookkeeping for one poll (without its MMIO)"),
    ("mmio_read", "one device register read (cause, RXQ status, TXQ sent count)"),
    ("mmio_write", "one posted device register write (desc num update, doorbell, irq unmask)"),
    ("desc_read", "read one RX/TX descriptor's used fields from non-cacheable coherent memory"),
    ("desc_write", "one field store to a non-cacheable descriptor"),
    ("rx_loop", "per-descriptor loop work in mvneta_rx_swbm (index math, prefetch, counters)"),
    ("dma_sync_call", "dma_sync_single_* call overhead (dma-direct, no IOMMU on A3720)"),
    ("dcache_inval_line", "dc ivac on one 64-byte line (sync for CPU)"),
    ("dcache_clean_line", "dc cvac on one 64-byte line (sync for device)"),
    ("pkt_miss", "first CPU touch of a packet line after invalidation: DDR3 access"),
    ("xdp_buff_prep", "xdp_init_buff/xdp_prepare_buff and driver glue around the program"),
    ("bpf_prog_call", "bpf_prog_run_xdp: indirect call into the JITed program and back"),
    ("bpf_insn", "one eBPF instruction executed by the arm64 JIT's code"),
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
)
NOPS = len(OPS)
for _i, (_n, _d) in enumerate(OPS):
    globals()["C_" + _n.upper()] = _i
    __all__.append("C_" + _n.upper())


class Cpu(NamedTuple):
    now_ns: np.ndarray      # float64[ncpu]: each CPU's clock
    busy_ns: np.ndarray     # float64[ncpu]: time spent executing modelled work
    cur: np.ndarray         # int64[1]: CPU currently executing
    hz: np.ndarray          # float64[1]: core clock (1.2 GHz on the ESPRESSObin)
    cost: np.ndarray        # float64[NOPS]: cycles per operation (the board profile)
    op_count: np.ndarray    # int64[NOPS]
    op_cycles: np.ndarray   # float64[NOPS]


def create_cpu(cost: np.ndarray, hz: float, ncpu: int = 2) -> Cpu:
    cost = np.asarray(cost, dtype=np.float64)
    if cost.shape != (NOPS,):
        raise ValueError(f"cost profile must have {NOPS} entries (one per xdplab.cost.OPS), got {cost.shape}")
    if not (hz > 0):
        raise ValueError(f"CPU clock must be positive, got {hz}")
    return Cpu(now_ns=np.zeros(ncpu), busy_ns=np.zeros(ncpu), cur=np.zeros(1, np.int64),
               hz=np.array([float(hz)]), cost=cost.copy(), op_count=np.zeros(NOPS, np.int64),
               op_cycles=np.zeros(NOPS))


@kernel
def charge_n(cpu, op, n):
    """Charge ``n`` units of operation ``op`` to the current CPU."""
    c = cpu.cost[op] * n
    ns = c * 1e9 / cpu.hz[0]
    i = cpu.cur[0]
    cpu.now_ns[i] += ns
    cpu.busy_ns[i] += ns
    cpu.op_count[op] += n
    cpu.op_cycles[op] += c


@kernel
def charge(cpu, op):
    """Charge one unit of operation ``op`` to the current CPU."""
    charge_n(cpu, op, 1)


@kernel
def cpu_now(cpu):
    """The current CPU's clock, in ns."""
    return cpu.now_ns[cpu.cur[0]]
