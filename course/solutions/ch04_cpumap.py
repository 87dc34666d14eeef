"""Reference solutions, chapter 04 (CPUMAP: software RPS). The notebook's checkers accept these; see
xdplab/course/checks_04.py.  The CPU-selecting XDP program of cpu_ex2 is ch04_xdp_rps.c."""

from xdplab.course.kit import *  # noqa: F401,F403


# cpu_ex1
def cpu_map_kthread_pass(b, e):
    """One pass of cpu_map_kthread_run's loop on CPU ``e``, its ring not empty: up to CPUMAP_BATCH frames
    off the ptr_ring, the entry's program, an skb around every frame that passed, the stack, and
    trace_xdp_cpumap_kthread."""
    cm = b.cpumap
    charge(b, C_CPUMAP_BATCH)                 # the board's cycle model: one pass of the loop
    sched = cm[e, CMF_SCHED]                  # schedule()d since the last pass: the tracepoint's sched
    cm[e, CMF_SCHED] = 0
    if sched:
        charge(b, C_SCHED_SWITCH)
    n = min(cm[e, CMF_COUNT], CPUMAP_BATCH)   # __ptr_ring_consume_batched(rcpu->queue, frames, CPUMAP_BATCH)
    qsize = cm[e, CMF_QSIZE]
    for i in range(n):
        charge(b, C_PTR_RING_CONSUME)
        h = cm[e, CMF_HEAD]
        cm[e, CMF_BATCH + i] = cm[e, CMF_RING + h]
        cm[e, CMF_RING + h] = 0               # a NULL slot is a free slot to the producer
        cm[e, CMF_HEAD] = h + 1 if h + 1 < qsize else 0
    cm[e, CMF_COUNT] -= n
    nframes = n
    stats = 0
    if cm[e, CMF_PROG_KIND] != PROG_NONE:     # cpu_map_bpf_prog_run_xdp: no-direct returns, frames compacted
        stats = _cpu_map_bpf_prog_run_xdp(b, e, n)
        nframes = stats & 0xFFFF
    drops = 0
    if b.r[R_SKB_NR_FREE] < nframes:          # kmem_cache_alloc_bulk: all the heads, or none
        drops = nframes
    for i in range(nframes):
        frame = cm[e, CMF_BATCH + i]
        skb = -1
        if drops == 0:
            skb = cpumap_build_skb(b, frame, e)   # __xdp_build_skb_from_frame: xdp_release_frame
        if skb < 0:
            xdp_return_frame(b, frame)        # not in NAPI here: the pool's ptr_ring
            continue
        cm[e, CMF_STATS + CMS_SKBS] += 1
        netif_receive_skb(b, skb)
    cm[e, CMF_STATS + CMS_KT_PROCESSED] += n
    cm[e, CMF_STATS + CMS_KT_DROPS] += drops
    cm[e, CMF_STATS + CMS_KT_SCHED] += sched
    cm[e, CMF_STATS + CMS_KT_EVENTS] += 1
    _cm_trace(b, EV_XDP_CPUMAP_KTHREAD, e, n, drops, sched, stats >> 16)
