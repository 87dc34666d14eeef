"""Cycle costs on the Marvell ESPRESSObin (Armada 3720: 2x Cortex-A53 at 1.2 GHz, DDR3, mvneta).

Each entry is the cost of one unit of an operation in ``xdplab.cost.OPS``, in
cycles of a 1.2 GHz Cortex-A53, with its kind and its reason:

* ``mem``: memory-bound, from the board's latencies (DDR3 ~100 ns = ~120
  cycles; a non-cacheable descriptor field read is one such access; an MMIO
  read crosses the SoC interconnect);
* ``insn``: instruction-bound kernel code: an estimate of the instructions on
  that path, then multiplied by ``IPC_SCALE``, the one factor that says how
  far this in-order core falls short of one instruction per cycle on kernel
  code (cache and TLB misses on struct page, the pool, the stats);
* ``fit``: ``dcache_clean_line``/``dcache_inval_line`` (one cache-maintenance
  operation per 64-byte line) and ``desc_read`` (reading a descriptor from the
  non-cacheable coherent ring, with whatever stalls come with it).

``IPC_SCALE``, the line cost and the descriptor read are *fitted* so that the
simulated board reproduces the three published figures: XDP_DROP 585 kpps,
tc ingress drop 185 kpps, and XDP_DROP 420 kpps when every refill synced the
whole 3520-byte buffer.  ``benchmarks/calibrate.py`` solves for them from the
operation counts each experiment performs; nothing depends on the verdict.
"""

import numpy as np

from ..cost import NOPS, OPS

HZ = 1.2e9

# Fitted by benchmarks/calibrate.py (see the module docstring); re-run it after changing any cost.
IPC_SCALE = 2.1696
LINE_OP = 14.923
DESC_READ = 1624.8

_PROFILE = {
    "irq_entry": (500, "insn", "exception entry/exit, GIC ack, mvneta_isr, raise NET_RX softirq; rare under load"),
    "napi_poll": (150, "insn", "net_rx_action loop, napi_poll bookkeeping, mvneta_poll's cause handling"),
    "mmio_read": (150, "mem", "a read across the SoC interconnect to the NETA unit stalls the in-order core"),
    "mmio_write": (40, "mem", "posted write; the store buffer hides most of it"),
    "desc_read": (DESC_READ, "fit", "status, data_size, buf_phys_addr of a non-cacheable (coherent DMA) "
                                   "descriptor: three uncached loads the in-order core waits for"),
    "desc_write": (30, "mem", "a store to non-cacheable memory, through the write buffer"),
    "rx_loop": (30, "insn", "per-descriptor loop: index math, prefetches, refill_num++, branches"),
    "dma_sync_call": (25, "insn", "dma_sync_single_*: dma-direct checks, phys translation, loop setup"),
    "dcache_inval_line": (LINE_OP, "fit", "dc ivac on one line (taken equal to a clean)"),
    "dcache_clean_line": (LINE_OP, "fit", "dc cvac of one line to the point of coherency"),
    "pkt_miss": (120, "mem", "DDR3 access for a packet line the CPU just invalidated"),
    "xdp_buff_prep": (12, "insn", "xdp_prepare_buff, frags flag clear, xdp_buff locals"),
    "bpf_prog_call": (15, "insn", "indirect call into the JITed image, prologue/epilogue"),
    "bpf_insn": (1, "insn", "an eBPF instruction: the arm64 JIT emits ~1-2 A64 instructions for it"),
    "bpf_helper": (15, "insn", "call into a kernel helper and back"),
    "pp_alloc_fast": (8, "insn", "pop from pool->alloc.cache[] (NAPI context, no lock)"),
    "pp_refill": (40, "insn", "page_pool_refill_alloc_cache: consumer spinlock, ring empty check"),
    "pp_refill_page": (5, "insn", "__ptr_ring_consume + NUMA check + store into the cache"),
    "pp_alloc_slow": (100, "insn", "__page_pool_alloc_pages_slow: bulk allocator call setup"),
    "pp_recycle_cache": (12, "insn", "page_ref_count check (struct page) + push to alloc.cache[]"),
    "pp_recycle_ring": (45, "insn", "ptr_ring_produce: producer spinlock (shared with the refill side)"),
    "pp_release": (40, "insn", "page_pool_release_page: clear pp info, release_cnt atomic inc"),
    "page_alloc": (150, "insn", "buddy allocator order-0 from the per-CPU lists"),
    "page_free": (120, "insn", "free_unref_page to the per-CPU lists"),
    "dma_map": (50, "insn", "dma_map_page_attrs without cache maintenance (SKIP_CPU_SYNC)"),
    "dma_unmap": (30, "insn", "dma_unmap_page_attrs"),
    "xdp_stats": (4, "insn", "increments in the poll-local mvneta_stats"),
    "stats_fold": (30, "insn", "u64_stats_update_begin/end fold into per-CPU stats, once per poll"),
    "refill_desc": (10, "insn", "mvneta_rx_refill glue"),
    "xdp_frame_conv": (20, "insn", "xdp_convert_buff_to_frame: writes the 40-byte xdp_frame into the headroom"),
    "txq_lock": (35, "insn", "__netif_tx_lock/unlock (spinlock, uncontended)"),
    "tx_submit": (20, "insn", "mvneta_xdp_submit_frame bookkeeping per descriptor"),
    "tx_done_desc": (25, "insn", "mvneta_txq_bufs_free per descriptor: type switch, index update"),
    "xdp_return_frame": (15, "insn", "__xdp_return dispatch on mem.type, virt_to_head_page"),
    "build_skb": (220, "insn", "kmem_cache_alloc(skbuff_head_cache) + memset + skb_shared_info init"),
    "eth_type_trans": (30, "insn", "eth_type_trans + skb->protocol/ip_summed setup"),
    "gro_receive": (350, "insn", "dev_gro_receive: flow hash, gro_list walk, inet_gro_receive/udp_gro_receive"),
    "netif_receive_skb": (500, "insn", "__netif_receive_skb_core (taps, RCU, ptype walk) + "
                                       "netif_receive_skb_list_internal per skb"),
    "tc_ingress": (280, "insn", "sch_handle_ingress: tcf_classify over clsact, matchall, act_gact (TC_ACT_SHOT)"),
    "ip_rcv": (450, "insn", "ip_rcv_core checks + ip_rcv_finish + fib lookup for local delivery"),
    "udp_rcv": (400, "insn", "__udp4_lib_rcv: socket lookup + udp_queue_rcv_skb"),
    "kfree_skb": (220, "insn", "skb_release_head_state + skb_free_head + kmem_cache_free + tracepoint"),
    "redirect": (30, "insn", "xdp_do_redirect: per-CPU bpf_redirect_info read/clear, tracepoint"),
    "xdp_flush": (50, "insn", "xdp_do_flush: walk the per-CPU flush lists"),
}


def _cycles(value, kind):
    return value * IPC_SCALE if kind == "insn" else value


if set(_PROFILE) != {n for n, _ in OPS}:
    raise RuntimeError(f"espressobin profile and xdplab.cost.OPS disagree: "
                       f"{set(_PROFILE) ^ {n for n, _ in OPS}}")

ESPRESSOBIN = {
    "name": "ESPRESSObin (Armada 3720, 2x Cortex-A53 @ 1.2 GHz, mvneta)",
    "hz": HZ,
    "ncpu": 2,
    "cost": np.array([_cycles(*_PROFILE[n][:2]) for n, _ in OPS], dtype=np.float64),
    "kinds": {n: _PROFILE[n][1] for n, _ in OPS},
    "base": {n: _PROFILE[n][0] for n, _ in OPS},
    "reasons": {n: _PROFILE[n][2] for n, _ in OPS},
}
assert ESPRESSOBIN["cost"].shape == (NOPS,)
