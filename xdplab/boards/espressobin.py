"""Cycle costs on the Marvell ESPRESSObin (Armada 3720: 2x Cortex-A53 at 1.0 GHz, DDR3, mvneta).

Each entry is the cost of one unit of an operation in ``xdplab.cost.OPS`` and the
evidence for it.  Kinds:

* ``ns``: a latency of the memory system, in ns, converted with ``HZ``: an
  uncached (non-cacheable, coherent DMA) load, a DDR miss.  The evidence is the
  A53's load-stall counter on this board (``ld_dep_stall``, perf stat in
  Jesper Brouer's notes, xdp-project ``areas/arm64/board_espressobin04``).
* ``cycles``: measured on this board: a function's share of a perf profile times
  the cycles per frame of that run (``board_espressobin08``, 2019 driver, 1.0 GHz).
* ``insn``: instruction-bound kernel code: an estimate of the A64 instructions on
  that path, times ``IPC_SCALE`` (cycles per instruction on this in-order core).
* ``assumed``: cycles with no measurement behind the value itself (a bound at most):
  the posted writes (``mmio_write``, ``desc_write``).
* ``fit``: ``IPC_SCALE`` and ``UNATTRIBUTED``, fitted by ``benchmarks/calibrate.py``.

``RANGES`` bounds each evidence-based cost (cycles): what the evidence allows,
so that a later edit cannot move a cost outside it unnoticed (tests check).

Clock: every perf stat published for this board counts 1.0e9 cycles per second
(lscpu: max 1000 MHz; one run at 800 MHz was a governor problem).  The SoC is
rated up to 1.2 GHz; the figures the model is calibrated on were measured at
1.0 GHz (the 420 kpps run for certain, the talk's two as far as is known).

Calibration: two numbers (``IPC_SCALE``, ``UNATTRIBUTED``) are fitted, by least
squares on the relative error, to three figures, each run on the driver that
produced it: XDP_DROP 585 kpps (the talk, 5.9 driver = 6.1's XDP_DROP path),
tc ingress drop 185 kpps (the talk, 5.9 driver: ``Board(skb_recycle=False)``),
XDP_DROP 420 kpps (2019 driver: ``dma_sync="full"``, xdp1, the ``xdp_return_buff``
path).  The figures come from two boards and three drivers, and no pair of
numbers meets all three: the residuals are +5.5 % (585), +0.5 % (185) and
-7.0 % (420); ``benchmarks/calibrate.py`` prints them, and checks the model
against every other published rate for the board.
"""

import numpy as np

from ..cost import NOPS, OPS

HZ = 1.0e9

# Fitted by benchmarks/calibrate.py (2 numbers, 3 figures, least squares); re-run it after changing any cost.
IPC_SCALE = 1.5235
UNATTRIBUTED = 220.5

# A53 cycles per estimated instruction, as measured on this board: 1.02 on the XDP path when load
# and store stalls are left out (espressobin04: xdp_rxq_info, (cycles - ld_dep_stall - st_dep_stall)
# / instructions), 1.58 on the cpumap kthread's skb path with its cache misses, 1.75 overall on the
# iptables-raw drop path (IPC 0.57, espressobin02).
IPC_RANGE = (1.0, 1.8)

# One 64-byte line of dc ivac/cvac.  From the 2019 profile (xdp1, 420 kpps, 2373 cycles a frame):
# __clean_dcache_area_poc 26.88 % = 638 cycles for 55 lines, and (no-sync run, 1438 cycles)
# __inval_dcache_area 11.67 % = 168 cycles for 2 lines: per call, a fixed part (the dsb that waits for
# completion, ~150) + 8.9 a line.  Jesper's own differential (727 ns for 55 lines) gives 13.2.
LINE_OP = 8.9

# an uncached load (and a DDR miss): ld_dep_stall rose by 173 cycles a frame when xdp_rxq_info read
# the packet (one DDR miss); with three uncached descriptor loads a frame and nothing else, the
# no-touch run's 688 ld_dep_stall cycles a frame bound one load at 229
DESC_READ_NS = 175.0
PKT_MISS_NS = 175.0

_PROFILE = {
    "irq_entry": (500, "insn", "exception entry/exit, GIC ack, mvneta_isr, raise NET_RX softirq; rare under load"),
    "napi_poll": (150, "insn", "net_rx_action loop, napi_poll bookkeeping, mvneta_poll's cause handling"),
    "mmio_read": (DESC_READ_NS, "ns", "a device register read across the SoC interconnect: taken as long as an "
                                      "uncached load (no measurement; 2-3 per poll of 64 frames)"),
    "mmio_write": (40, "assumed", "posted write; the store buffer hides most of it (no measurement; per poll)"),
    "desc_read": (DESC_READ_NS, "ns", "one field of a non-cacheable (coherent DMA) descriptor: a load the "
                                      "in-order core waits for (ld_dep_stall, espressobin04)"),
    "desc_write": (30, "assumed", "a store to non-cacheable memory, through the write buffer "
                                 "(st_dep_stall: 151 cycles a frame in all, espressobin04)"),
    "rx_loop": (30, "insn", "per-descriptor loop: index math, prefetches, refill_num++, branches"),
    "dma_sync_call": (212, "cycles", "dma_direct_sync_single_* + arch_sync_dma_* (2.80 + 1.49 % of 1438 cycles "
                                     "= 62) and the dsb after the line loop (~150), espressobin08"),
    "dcache_inval_line": (LINE_OP, "cycles", "dc ivac (civac at unaligned ends) on one line (espressobin08 profile, see LINE_OP)"),
    "dcache_clean_line": (LINE_OP, "cycles", "dc cvac on one line (espressobin08 profile, see LINE_OP)"),
    "pkt_miss": (PKT_MISS_NS, "ns", "DDR3 access for a packet line the CPU just invalidated (ld_dep_stall "
                                    "+173 cycles a frame when the program reads the packet, espressobin04)"),
    "xdp_buff_prep": (12, "insn", "xdp_prepare_buff, frags flag clear, xdp_buff locals"),
    "bpf_prog_call": (15, "insn", "indirect call into the JITed image, prologue/epilogue"),
    "bpf_insn": (1, "insn", "an eBPF instruction: the arm64 JIT emits ~1-2 A64 instructions for it"),
    "bpf_interp_insn": (8, "insn", "___bpf_prog_run's computed goto: load the opcode, the jump table entry, "
                                   "branch, decode dst/src, registers from the stack array and back, "
                                   "insn++: ~9-10 A64 instructions where the JIT emits ~1-2"),
    "bpf_helper": (15, "insn", "call into a kernel helper and back"),
    "pp_alloc_fast": (30, "cycles", "page_pool_alloc_pages from the alloc cache: 2.11 % of 1438 cycles "
                                    "(espressobin08, recycle-direct run)"),
    "pp_refill": (40, "insn", "page_pool_refill_alloc_cache: consumer spinlock, ring empty check"),
    "pp_refill_page": (5, "insn", "__ptr_ring_consume + NUMA check + store into the cache"),
    "pp_alloc_slow": (100, "insn", "__page_pool_alloc_pages_slow: bulk allocator call setup"),
    "pp_recycle_cache": (37, "cycles", "__page_pool_put_page into the alloc cache: 2.55 % of 1438 cycles "
                                       "(espressobin08, recycle-direct run, no sync)"),
    "pp_recycle_ring": (45, "insn", "ptr_ring_produce: producer spinlock (shared with the refill side)"),
    "pp_release": (40, "insn", "page_pool_release_page: clear pp info, release_cnt atomic inc"),
    "page_alloc": (323, "cycles", "order-0 page: get_page_from_freelist 3.71 + __alloc_pages_nodemask 1.18 % "
                                  "of 6615 cycles (espressobin08, iptables drop, one page a frame)"),
    "page_free": (236, "cycles", "free_unref_page 1.71 + _prepare 1.01 + page_frag_free 0.85 % of 6615 "
                                 "cycles (espressobin08, iptables drop)"),
    "dma_map": (64, "cycles", "dma_direct_map_page 0.96 % of 6615 cycles (espressobin08, iptables drop)"),
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
    # CPUMAP (kernel/bpf/cpumap.c): instruction estimates like the rows above, no new fitted number
    "cpumap_enqueue": (15, "insn", "cpu_map_enqueue: dev_rx store, bq->q[count++], flush-list check"),
    "cpumap_bq_flush": (60, "insn", "bq_flush_to_queue per bulk of <= 8: spin_lock/unlock of the producer "
                                    "lock, __list_del_clearprev, trace_xdp_cpumap_enqueue (static key off)"),
    "ptr_ring_produce": (12, "insn", "__ptr_ring_produce: slot check, store, producer index wrap"),
    "cpumap_wake": (400, "insn", "wake_up_process on a sleeping kthread: try_to_wake_up, remote runqueue "
                                 "enqueue, reschedule IPI (charged to the waking CPU)"),
    "sched_switch": (800, "insn", "schedule() to idle and back when woken: two context switches, the idle "
                                  "loop's entry and exit (charged to the kthread's CPU)"),
    "cpumap_batch": (120, "insn", "one cpu_map_kthread_run pass: empty checks, cond_resched, "
                                  "__ptr_ring_consume_batched, kmem_cache_alloc_bulk call, local_bh_disable/"
                                  "enable, rcu_read_lock, trace_xdp_cpumap_kthread"),
    "ptr_ring_consume": (10, "insn", "one frame out of the ring (slot load and zeroing) and prefetchw of its page"),
    "xdp_frame_to_skb": (30, "insn", "__xdp_build_skb_from_frame: headroom and frame size, skb_reserve, "
                                     "__skb_put, metasize, xdp_scrub_frame (the skb head itself: build_skb)"),
    "unattributed": (UNATTRIBUTED, "fit", "per received frame: what the three calibration figures need beyond "
                                          "every priced operation (benchmarks/calibrate.py)"),
}

# What the evidence allows (cycles at HZ), for the costs that are not estimates.
RANGES = {
    "desc_read": (173e-9 * HZ, 229e-9 * HZ),
    "pkt_miss": (135e-9 * HZ, 210e-9 * HZ),      # 6.1 prefetches the header after the sync: up to ~40 hidden
    "desc_write": (0.0, 75.0),
    "dma_sync_call": (180.0, 215.0),
    "dcache_inval_line": (8.9, 13.2),
    "dcache_clean_line": (8.9, 13.2),
    "pp_alloc_fast": (20.0, 40.0),
    "pp_recycle_cache": (25.0, 50.0),
    "page_alloc": (250.0, 400.0),
    "page_free": (180.0, 300.0),
    "dma_map": (40.0, 90.0),
}

# The 2019 driver (the 420 kpps figure) dropped through xdp_return_buff: a mem-id rhashtable lookup
# before the recycle.  Its profile: __xdp_return 5.82 + xdp_return_buff 0.57 + xdp_mem_id_cmp 0.61 +
# xdp_mem_id_hashfn 0.40 + __rcu_read_lock/unlock 1.34 % of 2373 cycles; Jesper's replacing it by
# page_pool_recycle_direct saved 208 ns.  benchmarks/calibrate.py adds it to that figure's path.
XDP_RETURN_BUFF_2019 = 207.0


def _cycles(value, kind):
    if kind == "insn":
        return value * IPC_SCALE
    if kind == "ns":
        return value * HZ / 1e9
    return value


if set(_PROFILE) != {n for n, _ in OPS}:
    raise RuntimeError(f"espressobin profile and xdplab.cost.OPS disagree: "
                       f"{set(_PROFILE) ^ {n for n, _ in OPS}}")

ESPRESSOBIN = {
    "name": "ESPRESSObin (Armada 3720, 2x Cortex-A53 @ 1.0 GHz, mvneta)",
    "hz": HZ,
    "ncpu": 2,
    "cost": np.array([_cycles(*_PROFILE[n][:2]) for n, _ in OPS], dtype=np.float64),
    "kinds": {n: _PROFILE[n][1] for n, _ in OPS},
    "base": {n: _PROFILE[n][0] for n, _ in OPS},
    "reasons": {n: _PROFILE[n][2] for n, _ in OPS},
    "ranges": dict(RANGES),
}
assert ESPRESSOBIN["cost"].shape == (NOPS,)
