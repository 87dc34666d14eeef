"""Cycle costs on the Marvell ESPRESSObin (Armada 3720: 2x Cortex-A53 at 1.2 GHz, DDR3, mvneta).

Each number is cycles of a 1.2 GHz Cortex-A53 for one unit of the operation
named in ``xdplab.cost.OPS``, with the reason for it.  Most are estimates from
the core's character (in-order, dual issue, 32 KiB L1D, 256 KiB L2, DDR3 at
~100 ns: ~120 cycles) and from the kernel code each operation runs.  Three
were then *fitted* so that the simulated board reproduces the three published
figures (see ``benchmarks/calibrate.py``, which solves for them from the
operation counts of each experiment):

* ``dcache_clean_line``: from 585 -> 420 kpps when every refill synced the
  whole 3520-byte buffer (55 lines) instead of the one or two lines an
  XDP_DROP dirties;
* ``desc_read``: the uncached descriptor reads and the rest of the fixed
  per-frame driver cost, from XDP_DROP at 585 kpps;
* ``netif_receive_skb``: the stack's core per-skb cost, from tc ingress drop at
  185 kpps.

No cost depends on the verdict: rates come out of the operations each path runs.
"""

import numpy as np

from ..cost import NOPS, OPS

HZ = 1.2e9

_PROFILE = {
    "irq_entry": (1200, "exception entry/exit + GIC ack + mvneta_isr + raise NET_RX softirq; rare under load"),
    "napi_poll": (600, "net_rx_action loop, napi_poll bookkeeping, mvneta_poll's cause handling"),
    "mmio_read": (150, "a read across the SoC interconnect to the NETA unit stalls the in-order core"),
    "mmio_write": (40, "posted write; the store buffer hides most of it"),
    "desc_read": (424.64, "FITTED: status/data_size/buf_phys_addr reads of an uncached (coherent DMA) "
                          "descriptor, ~3 DDR accesses"),
    "desc_write": (30, "store to non-cacheable memory, buffered"),
    "rx_loop": (40, "per-descriptor loop: index math, prefetches, refill_num++, branches"),
    "dma_sync_call": (60, "dma_sync_single_*: dma-direct checks, phys translation, loop setup"),
    "dcache_inval_line": (14.93, "dc ivac on one line, same cost as a clean (assumed equal to the fitted clean)"),
    "dcache_clean_line": (14.93, "FITTED: dc cvac of one line to the point of coherency"),
    "pkt_miss": (120, "DDR3 latency ~100 ns at 1.2 GHz for a line the CPU just invalidated"),
    "xdp_buff_prep": (20, "xdp_prepare_buff, frags flag clear, xdp_buff locals"),
    "bpf_prog_call": (30, "indirect call into the JITed image, prologue/epilogue"),
    "bpf_insn": (1.5, "arm64 JIT emits ~1-3 A64 instructions per eBPF instruction; dual issue"),
    "bpf_helper": (25, "call into a kernel helper and back"),
    "pp_alloc_fast": (15, "pop from pool->alloc.cache[] (NAPI context, no lock)"),
    "pp_refill": (80, "page_pool_refill_alloc_cache: consumer spinlock, ring empty check"),
    "pp_refill_page": (8, "__ptr_ring_consume + NUMA check + store into the cache"),
    "pp_alloc_slow": (200, "__page_pool_alloc_pages_slow: bulk allocator call setup"),
    "pp_recycle_cache": (20, "page_ref_count check + push to alloc.cache[]"),
    "pp_recycle_ring": (90, "ptr_ring_produce: producer spinlock (contended with the refill side)"),
    "pp_release": (80, "page_pool_release_page: clear pp info, release_cnt atomic inc"),
    "page_alloc": (300, "buddy allocator order-0 from the per-CPU lists"),
    "page_free": (250, "free_unref_page to the per-CPU lists"),
    "dma_map": (100, "dma_map_page_attrs without cache maintenance (SKIP_CPU_SYNC)"),
    "dma_unmap": (60, "dma_unmap_page_attrs"),
    "xdp_stats": (8, "increments in the poll-local mvneta_stats"),
    "stats_fold": (60, "u64_stats_update_begin/end fold into per-CPU stats, once per poll"),
    "refill_desc": (20, "mvneta_rx_refill glue"),
    "xdp_frame_conv": (40, "xdp_convert_buff_to_frame: writes the 40-byte xdp_frame into the headroom"),
    "txq_lock": (70, "__netif_tx_lock/unlock (spinlock, uncontended)"),
    "tx_submit": (40, "mvneta_xdp_submit_frame bookkeeping per descriptor"),
    "tx_done_desc": (50, "mvneta_txq_bufs_free per descriptor: type switch, index update"),
    "xdp_return_frame": (30, "__xdp_return dispatch on mem.type, virt_to_head_page"),
    "build_skb": (450, "kmem_cache_alloc(skbuff_head_cache) + memset + skb_shared_info init"),
    "eth_type_trans": (60, "eth_type_trans + skb->protocol/ip_summed setup"),
    "gro_receive": (700, "dev_gro_receive: flow hash, gro_list walk, inet_gro_receive/udp_gro_receive"),
    "netif_receive_skb": (3305.6, "FITTED: __netif_receive_skb_core (taps, RCU, ptype walk) + "
                                  "netif_receive_skb_list_internal + skb_defer/timestamps"),
    "tc_ingress": (550, "sch_handle_ingress: tcf_classify over clsact, matchall, act_gact (TC_ACT_SHOT)"),
    "ip_rcv": (900, "ip_rcv_core checks + ip_rcv_finish + fib lookup for local delivery"),
    "udp_rcv": (800, "__udp4_lib_rcv: socket lookup + udp_queue_rcv_skb"),
    "kfree_skb": (450, "skb_release_head_state + skb_free_head + kmem_cache_free + tracepoint"),
    "redirect": (60, "xdp_do_redirect: per-CPU bpf_redirect_info read/clear, tracepoint"),
    "xdp_flush": (100, "xdp_do_flush: walk the per-CPU flush lists"),
}

if set(_PROFILE) != {n for n, _ in OPS}:
    raise RuntimeError(f"espressobin profile and xdplab.cost.OPS disagree: "
                       f"{set(_PROFILE) ^ {n for n, _ in OPS}}")

ESPRESSOBIN = {
    "name": "ESPRESSObin (Armada 3720, 2x Cortex-A53 @ 1.2 GHz, mvneta)",
    "hz": HZ,
    "ncpu": 2,
    "cost": np.array([_PROFILE[n][0] for n, _ in OPS], dtype=np.float64),
    "reasons": {n: _PROFILE[n][1] for n, _ in OPS},
}
assert ESPRESSOBIN["cost"].shape == (NOPS,)
