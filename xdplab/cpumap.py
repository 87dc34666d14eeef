"""CPUMAP (kernel/bpf/cpumap.c, Linux 6.1): XDP frames handed to a kthread on another CPU.

The ESPRESSObin takes every RX interrupt on CPU 0 and has no RSS.  With a CPUMAP, the XDP
program on CPU 0 only classifies: ``bpf_redirect_map(&cpu_map, cpu, 0)`` queues the frame
for CPU ``cpu``, whose kthread ("cpumap/<cpu>/map:<id>") builds the skb and runs the stack.

Enqueue side (CPU 0, in NAPI): ``cpu_map_enqueue`` puts the frame in this CPU's bulk queue of
the entry (``CPU_MAP_BULK_SIZE`` = 8); a full bulk queue, and ``__cpu_map_flush`` at the end
of the poll (from ``xdp_do_flush``), move it into the entry's ptr_ring of ``qsize`` slots
(``bq_flush_to_queue``).  A full ring drops the frame (``xdp_return_frame_rx_napi``: back to
the pool's alloc cache, CPU 0 is in NAPI) and counts it in ``trace_xdp_cpumap_enqueue``'s
``drops``.  The flush then wakes the kthread (``wake_up_process``).

Remote side (the kthread, on its CPU, process context with bottom halves off): a ring found
empty means ``schedule()`` until the next flush wakes it; else it takes up to ``CPUMAP_BATCH``
= 8 frames, runs the entry's program on each (6.1: ``xdp_set_return_frame_no_direct``, so a
frame it drops goes to the pool's *ptr_ring*, never the lockless alloc cache, which belongs to
CPU 0's NAPI), builds an skb around every frame that passed (``__xdp_build_skb_from_frame``:
no copy; in 6.1 it calls ``xdp_release_frame``, so a page_pool page is unmapped and *leaves
its pool*, and the stack frees it to the page allocator), and hands the batch to the stack
(``netif_receive_skb_list``).  ``trace_xdp_cpumap_kthread`` reports the pass.

State lives in one board array, ``b.cpumap`` (int64): row ``cpu`` is the entry for that CPU
(``CMF_*`` columns, the ring's slots from ``CMF_RING``), row ``NR_CPUS`` is where the CPU that
was running keeps its ``xdp_buff`` while a kthread runs (see below).

Time: each CPU has its own clock (``xdplab.cost``).  CPU 1's kthread is run *up to CPU 0's
clock* before every ptr_ring produce on CPU 0 and after every NAPI poll, so that the ring CPU 0
sees when it enqueues holds what CPU 1 has not consumed by then; a sleeping kthread's clock
jumps (idle) to the time of the flush that wakes it.  The two CPUs run concurrently: the slower
one limits what gets through.  A kthread bound to CPU 0 itself runs between NAPI polls (it
cannot preempt the softirq).  Simplifications: a batch is not split at CPU 0's clock (CPU 1's
clock may pass it by one batch); one CPUMAP per board; cache-line transfers between the cores
are not priced separately.
"""

from __future__ import annotations

import numpy as np

from ._layout import (R_BPF_FAULTS, R_CLOCK, R_CPU_CUR, R_CPUMAP_ACTIVE, R_CPUMAP_SAVE, R_IDLE, R_IN_SOFTIRQ,
                      R_LAST_ACT, R_PROG_ID, R_PROG_KIND, R_RXQ_BUSY, R_SKB_NR_FREE, R_WARNED_INVALID)
from ._twospeed import kernel
from .cost import (C_CPUMAP_BATCH, C_CPUMAP_BQ_FLUSH, C_CPUMAP_ENQUEUE, C_CPUMAP_WAKE, C_PTR_RING_CONSUME,
                   C_PTR_RING_PRODUCE, C_SCHED_SWITCH, C_XDP_BUFF_PREP, C_XDP_FLUSH, C_XDP_FRAME_TO_SKB, charge,
                   cpu_clock, cpu_now, cpu_switch)
from .errno import EINVAL, EOVERFLOW
from .mm import PG_XDP_FRAME, PGF_FRAG0, PGF_FRAG_NR, PGF_PP, PGF_WHERE
from .netstack import SKBF_DATA, SKBF_FRAG0, SKBF_LEN, SKBF_NR_FRAGS, build_skb, eth_type_trans, netif_receive_skb
from .page_pool import page_pool_release_page
from .printk import printk
from .progs import bpf_prog_run_xdp
from .trace import EV_XDP_CPUMAP_ENQUEUE, EV_XDP_CPUMAP_KTHREAD, board_trace, board_tracing
from .xdp import (xdp_convert_frame_to_buff, XDPF_DATA, XDPF_DEV_RX, XDPF_FLAGS, XDPF_FRAME_SZ, XDPF_HEADROOM, XDPF_LEN, XDPF_MEM_ID,
                  XDPF_MEM_TYPE, XDPF_METASIZE, __xdp_build_skb_from_frame, xdp_convert_buff_to_frame, xdp_frame_field,
                  xdp_frame_pool_pages, xdp_return_frame,
                  xdp_return_frame_rx_napi)
from .xdp_abi import (ENV_ERR, ENV_RI_MAP_TYPE, ENV_RI_TGT_VALUE, MEM_TYPE_PAGE_POOL, PAGE_SIZE, XB_DATA, XB_DATA_END,
                      XB_DATA_META, XB_FLAGS, XB_FRAG0, XB_FRAG_STRIDE, XB_FRAGS_SIZE, XB_FRAME_SZ, XB_HARD_START,
                      XB_INGRESS_IFINDEX, XB_MEM_ID, XB_MEM_TYPE, XB_NR_FRAGS, XB_PAGE, XB_RX_QUEUE_INDEX, XB_RXQ,
                      XB_SIZE, XDP_DROP, XDP_FLAGS_HAS_FRAGS, XDP_FRAME_SIZE, XDP_PASS, XDP_REDIRECT)

__all__ = ["cpumap_frames_held", "NR_CPUS", "CPU_MAP_BULK_SIZE", "CPUMAP_BATCH", "CPU_MAP_MAX_QSIZE", "BPF_MAP_TYPE_CPUMAP",
           "create_cpumap", "cpu_map_enqueue", "xdp_do_redirect_cpumap", "cpu_map_kthread_run",
           "cpu_map_run_kthreads", "CPUMAP_STAT_NAMES", "KT_NONE", "KT_RUNNING", "KT_SLEEPING"]

NR_CPUS = 2                # the A3720's two Cortex-A53 (cpu_possible)
CPU_MAP_BULK_SIZE = 8      # one cache line of frame pointers
CPUMAP_BATCH = 8           # frames the kthread takes from the ring per pass
CPU_MAP_MAX_QSIZE = 16384  # cpu_map_update_elem's sanity limit (-EOVERFLOW above)
BPF_MAP_TYPE_CPUMAP = 16

KT_NONE = 0                # no entry (no kthread)
KT_RUNNING = 1             # TASK_RUNNING: it takes frames whenever its CPU's clock lets it
KT_SLEEPING = 2            # in schedule() with an empty ring, until a flush wakes it

# columns of b.cpumap (row = the entry's CPU)
CMF_QSIZE = 0              # 0: the slot is empty
CMF_MAP_ID = 1
CMF_PROG_KIND = 2          # the entry's program (xdplab.progs PROG_*), 0: none
CMF_PROG_ID = 3
CMF_HEAD = 4               # ptr_ring consumer index
CMF_TAIL = 5               # ptr_ring producer index
CMF_COUNT = 6              # frames in the ring
CMF_STATE = 7              # KT_*
CMF_SCHED = 8              # the kthread went through schedule() since its last pass (the tracepoint's sched)
CMF_BQ_COUNT = 9           # per source CPU: frames in that CPU's bulk queue of this entry
CMF_BQ_LISTED = CMF_BQ_COUNT + NR_CPUS     # per source CPU: the bulk queue is on that CPU's flush list
CMF_BQ = CMF_BQ_LISTED + NR_CPUS           # per source CPU: CPU_MAP_BULK_SIZE frame handles
CMF_BATCH = CMF_BQ + NR_CPUS * CPU_MAP_BULK_SIZE   # the kthread's frames[CPUMAP_BATCH]
# cumulative counters (what the two tracepoints report, summed)
CMF_STATS = CMF_BATCH + CPUMAP_BATCH
CMS_ENQ_PROCESSED = 0      # xdp_cpumap_enqueue: processed
CMS_ENQ_DROPS = 1          # xdp_cpumap_enqueue: drops (ring full)
CMS_ENQ_BULKS = 2          # xdp_cpumap_enqueue events
CMS_KT_PROCESSED = 3       # xdp_cpumap_kthread: processed (frames taken from the ring)
CMS_KT_DROPS = 4           # xdp_cpumap_kthread: drops (no skb heads: kmem_cache_alloc_bulk failed)
CMS_KT_SCHED = 5           # xdp_cpumap_kthread: sched
CMS_KT_PASS = 6            # xdp_cpumap_kthread: xdp_pass
CMS_KT_DROP = 7            # xdp_cpumap_kthread: xdp_drop
CMS_KT_REDIRECT = 8        # xdp_cpumap_kthread: xdp_redirect
CMS_KT_EVENTS = 9          # xdp_cpumap_kthread events (passes that took frames or had slept)
CMS_WAKEUPS = 10           # wake_up_process calls that woke a sleeping kthread
CMS_RING_HIGH = 11         # the ring's high-water mark
CMS_SKBS = 12              # skbs handed to the stack
CMS_RELEASED = 13          # page_pool pages released by xdp_release_frame (leave the pool)
CPUMAP_STAT_NAMES = ("enqueue_processed", "enqueue_drops", "enqueue_bulks", "kthread_processed", "kthread_drops",
                     "kthread_sched", "xdp_pass", "xdp_drop", "xdp_redirect", "kthread_events", "wakeups",
                     "ring_high", "skbs", "pages_released")
CMF_RING = CMF_STATS + len(CPUMAP_STAT_NAMES)   # the ring's qsize slots (frame handles)
NCMF = CMF_RING
_SAVE_ROW = NR_CPUS        # the interrupted CPU's xdp_buff, while a kthread runs nested

PROG_NONE = 0


def create_cpumap(qsize_max: int = 1) -> np.ndarray:
    """b.cpumap for rings of up to ``qsize_max`` slots (no entries)."""
    return np.zeros((NR_CPUS + 1, max(NCMF + int(qsize_max), XB_SIZE + 8)), np.int64)


def cpumap_frames_held(state) -> list[int]:
    """Handles of the xdp_frames a board's CPUMAP entries hold between polls: each entry's ptr_ring
    and the per-CPU bulk queues (for the page census, ``Board.check_pages``)."""
    cm = state.cpumap
    held = []
    for e in range(NR_CPUS):
        q = int(cm[e, CMF_QSIZE])
        if q:
            h = int(cm[e, CMF_HEAD])
            held += [int(cm[e, NCMF + (h + i) % q]) for i in range(int(cm[e, CMF_COUNT]))]
            for c in range(NR_CPUS):
                b0 = CMF_BQ + c * CPU_MAP_BULK_SIZE
                held += [int(x) for x in cm[e, b0:b0 + int(cm[e, CMF_BQ_COUNT + c])]]
    return held


# ---------------------------------------------------------------- tracepoints
@kernel
def _cm_trace(b, ev, e, a, c, d, x):
    if not board_tracing(b):
        return
    cm = b.cpumap
    board_trace(b, cpu_now(b), b.r[R_CPU_CUR], ev, cm[e, CMF_MAP_ID], a, c, d, x, b.r[R_RXQ_BUSY], 0, 0, 0)


# ---------------------------------------------------------------- enqueue side
@kernel
def bq_flush_to_queue(b, e, src):
    """bq_flush_to_queue: CPU ``src``'s bulk queue of entry ``e`` into the entry's ptr_ring, under the
    producer lock; a frame that finds the ring full is dropped (xdp_return_frame_rx_napi)."""
    cm = b.cpumap
    n = cm[e, CMF_BQ_COUNT + src]
    if n == 0:
        return
    charge(b, C_CPUMAP_BQ_FLUSH)
    qsize = cm[e, CMF_QSIZE]
    drops = 0
    for i in range(n):
        frame = cm[e, CMF_BQ + src * CPU_MAP_BULK_SIZE + i]
        charge(b, C_PTR_RING_PRODUCE)
        if cm[e, CMF_COUNT] >= qsize:
            drops += 1
            xdp_return_frame_rx_napi(b, frame)
            continue
        t = cm[e, CMF_TAIL]
        cm[e, CMF_RING + t] = frame
        cm[e, CMF_TAIL] = t + 1 if t + 1 < qsize else 0
        cm[e, CMF_COUNT] += 1
    if cm[e, CMF_COUNT] > cm[e, CMF_STATS + CMS_RING_HIGH]:
        cm[e, CMF_STATS + CMS_RING_HIGH] = cm[e, CMF_COUNT]
    cm[e, CMF_BQ_COUNT + src] = 0
    cm[e, CMF_BQ_LISTED + src] = 0              # __list_del_clearprev(&bq->flush_node)
    cm[e, CMF_STATS + CMS_ENQ_PROCESSED] += n
    cm[e, CMF_STATS + CMS_ENQ_DROPS] += drops
    cm[e, CMF_STATS + CMS_ENQ_BULKS] += 1
    _cm_trace(b, EV_XDP_CPUMAP_ENQUEUE, e, n, drops, e, cm[e, CMF_COUNT])   # trace_xdp_cpumap_enqueue


# The kthread is run (nested) up to CPU 0's clock before CPU 0 produces into its ring.  The
# kthread's own program can redirect into a CPUMAP too; that path has copies of the enqueue and
# the flush without the catch-up (``*_nested``): numba's cache cannot hold mutually recursive
# functions, and the kthread that is running needs no catch-up anyway.

@kernel
def _bq_add(b, e, src, frame):
    """bq->q[bq->count++] = xdpf; the bulk queue goes on this CPU's flush list."""
    cm = b.cpumap
    page = frame // PAGE_SIZE
    b.pg[page, PGF_WHERE] = PG_XDP_FRAME
    for i in range(b.pg[page, PGF_FRAG_NR]):
        b.pg[b.pg[page, PGF_FRAG0 + 3 * i], PGF_WHERE] = PG_XDP_FRAME
    cm[e, CMF_BQ + src * CPU_MAP_BULK_SIZE + cm[e, CMF_BQ_COUNT + src]] = frame
    cm[e, CMF_BQ_COUNT + src] += 1
    cm[e, CMF_BQ_LISTED + src] = 1              # list_add(&bq->flush_node, flush_list)


@kernel
def cpu_map_enqueue(b, e, frame, dev_rx):
    """cpu_map_enqueue(rcpu, xdpf, dev_rx) from CPU 0's NAPI: into this CPU's bulk queue of entry
    ``e`` (bq_enqueue); a full bulk queue goes to the ring first.  Returns 0."""
    charge(b, C_CPUMAP_ENQUEUE)
    src = b.r[R_CPU_CUR] & 1
    if b.cpumap[e, CMF_BQ_COUNT + src] == CPU_MAP_BULK_SIZE:
        # the kthread consumes concurrently: run it up to now, so the ring holds what it has not taken
        cpu_map_kthread_run(b, e, cpu_clock(b, b.r[R_CPU_CUR]))
        bq_flush_to_queue(b, e, src)
    _bq_add(b, e, src, frame)
    return 0


@kernel
def _cpu_map_enqueue_nested(b, e, frame):
    """cpu_map_enqueue from a kthread's program (no catch-up)."""
    charge(b, C_CPUMAP_ENQUEUE)
    src = b.r[R_CPU_CUR] & 1
    if b.cpumap[e, CMF_BQ_COUNT + src] == CPU_MAP_BULK_SIZE:
        bq_flush_to_queue(b, e, src)
    _bq_add(b, e, src, frame)
    return 0


@kernel
def xdp_do_redirect_cpumap(b, xdp, e):
    """xdp_do_redirect's BPF_MAP_TYPE_CPUMAP case (CPU 0's NAPI): the buff becomes an xdp_frame in
    its headroom (xdp_convert_buff_to_frame; no room: -EOVERFLOW), enqueued for CPU ``e``."""
    if e < 0 or e >= NR_CPUS or b.cpumap[e, CMF_QSIZE] == 0:
        return -EINVAL
    frame = xdp_convert_buff_to_frame(b, xdp)
    if frame < 0:
        return -EOVERFLOW
    return cpu_map_enqueue(b, e, frame, xdp[XB_INGRESS_IFINDEX])


@kernel
def _xdp_do_redirect_cpumap_nested(b, xdp, e):
    """The same from a kthread's program."""
    if e < 0 or e >= NR_CPUS or b.cpumap[e, CMF_QSIZE] == 0:
        return -EINVAL
    frame = xdp_convert_buff_to_frame(b, xdp)
    if frame < 0:
        return -EOVERFLOW
    return _cpu_map_enqueue_nested(b, e, frame)


@kernel
def _wake_up_process(b, e):
    """wake_up_process(rcpu->kthread): a sleeping kthread runs again from now (its CPU was idle)."""
    cm = b.cpumap
    if cm[e, CMF_STATE] != KT_SLEEPING:
        return
    charge(b, C_CPUMAP_WAKE)
    cm[e, CMF_STATE] = KT_RUNNING
    cm[e, CMF_STATS + CMS_WAKEUPS] += 1
    cur = b.r[R_CPU_CUR]
    if e != cur and cur == 0:                   # CPU 0 (the one that runs ahead) wakes CPU 1's kthread
        now = cpu_clock(b, cur)
        c = e & 1
        if now > b.r[R_CLOCK + c]:              # the other CPU sat idle until this wake-up
            b.r[R_IDLE + c] += now - b.r[R_CLOCK + c]
            b.r[R_CLOCK + c] = now


@kernel
def _cpu_map_flush(b):
    """__cpu_map_flush (from xdp_do_flush): every bulk queue on this CPU's flush list goes to its
    ring, and its kthread is woken."""
    src = b.r[R_CPU_CUR] & 1
    cm = b.cpumap
    for e in range(NR_CPUS):
        if cm[e, CMF_BQ_LISTED + src] != 0:
            cpu_map_kthread_run(b, e, cpu_clock(b, b.r[R_CPU_CUR]))    # the consumer, up to now
            bq_flush_to_queue(b, e, src)
            _wake_up_process(b, e)


@kernel
def _cpu_map_flush_nested(b):
    """__cpu_map_flush from a kthread's xdp_do_flush (no catch-up)."""
    src = b.r[R_CPU_CUR] & 1
    cm = b.cpumap
    for e in range(NR_CPUS):
        if cm[e, CMF_BQ_LISTED + src] != 0:
            bq_flush_to_queue(b, e, src)
            _wake_up_process(b, e)


# ---------------------------------------------------------------- the kthread
@kernel(hot=True)
def _kthread_frame_to_buff(b, frame, xdp):
    """xdp_convert_frame_to_buff + the kthread's on-stack rxq (only dev = dev_rx and mem are set)."""
    charge(b, C_XDP_BUFF_PREP)
    xdp_convert_frame_to_buff(b, frame, xdp)
    xdp[XB_RXQ] = 0
    xdp[XB_INGRESS_IFINDEX] = xdp_frame_field(b, frame, XDPF_DEV_RX)
    xdp[XB_RX_QUEUE_INDEX] = 0


@kernel
def _cpumap_prog_redirect(b, xdp):
    """xdp_do_redirect(xdpf->dev_rx, &xdp, prog) from the kthread's program.  A CPUMAP target takes
    the nested enqueue (no catch-up); a DEVMAP / DEVMAP_HASH entry or a ``bpf_redirect`` the redirect
    core's device path (``xdplab.redirect._xdp_do_redirect_frame_dev``: ``dev_map_enqueue`` /
    ``dev_xdp_enqueue`` into the device's bulk queue, the ``xdp:xdp_redirect`` tracepoint), sent by
    the ``xdp_do_flush`` at the end of the kthread's batch.  ``dev`` is the frame's ``dev_rx``,
    looked up by its ifindex in the root namespace (where the lab's CPUMAP users receive).
    Simplification: the devmap bulk queues are one set on the board (6.1: one per CPU), shared by
    CPU 0's NAPI and the kthread; a kthread that runs nested in CPU 0's poll while CPU 0 has frames
    queued for a device adds to that queue and sends it with its own flush."""
    env = b.env
    t = env[ENV_RI_MAP_TYPE]
    if t == BPF_MAP_TYPE_CPUMAP:
        tgt = env[ENV_RI_TGT_VALUE]
        env[ENV_RI_MAP_TYPE] = 0
        env[ENV_RI_TGT_VALUE] = -1
        if tgt >= 0:
            return _xdp_do_redirect_cpumap_nested(b, xdp, tgt)
        return -EINVAL
    charge(b, C_REDIRECT)
    if (xdp[XB_FLAGS] & XDP_FLAGS_HAS_FRAGS) != 0:
        return -EOPNOTSUPP                     # 5.18-6.2: no ndo_xdp_xmit takes frags
    if t == BPF_MAP_TYPE_XSKMAP:
        return _xsk_map_redirect(b, xdp)
    dev = dev_get_by_index(b, 0, xdp[XB_INGRESS_IFINDEX])
    if dev < 0:
        env[ENV_RI_MAP_ID] = 0
        env[ENV_RI_MAP_TYPE] = 0
        return -EINVAL
    frame = xdp_convert_buff_to_frame(b, xdp)
    return _xdp_do_redirect_frame_dev(b, frame, dev)


@kernel
def _cpu_map_bpf_prog_run_xdp(b, e, n):
    """cpu_map_bpf_prog_run_xdp: the entry's program on each frame of the batch; returns how many
    passed (compacted to the front of the batch)."""
    cm = b.cpumap
    xdp = b.xdp
    r = b.r
    kind0 = r[R_PROG_KIND]
    id0 = r[R_PROG_ID]
    r[R_PROG_KIND] = cm[e, CMF_PROG_KIND]
    r[R_PROG_ID] = cm[e, CMF_PROG_ID]
    if r[R_CPUMAP_SAVE + 5] == 0:                   # the interrupted CPU's xdp_buff, kept before the
        r[R_CPUMAP_SAVE + 5] = 1                     # first frame of this kthread run overwrites it
        for i in range(XB_SIZE):
            cm[_SAVE_ROW, i] = xdp[i]
    nframes = 0
    npass = 0
    ndrop = 0
    nredir = 0
    for i in range(n):
        frame = cm[e, CMF_BATCH + i]
        _kthread_frame_to_buff(b, frame, xdp)
        act = bpf_prog_run_xdp(b, xdp)
        if b.env[ENV_ERR] != 0 and r[R_BPF_FAULTS] == 1 and r[R_CPUMAP_SAVE + 4] == 0:
            r[R_CPUMAP_SAVE + 4] = cm[e, CMF_PROG_ID] + 1   # the board's first fault was this program's
        if act == XDP_PASS:
            f2 = xdp_convert_buff_to_frame(b, xdp)  # xdp_update_frame_from_buff (the struct stays put)
            if f2 < 0:
                xdp_return_frame(b, frame)
                ndrop += 1
            else:
                cm[e, CMF_BATCH + nframes] = f2
                nframes += 1
                npass += 1
        elif act == XDP_REDIRECT:
            err = _cpumap_prog_redirect(b, xdp)
            if err != 0:
                xdp_return_frame(b, frame)
                ndrop += 1
            else:
                nredir += 1
        else:
            if act != XDP_DROP and r[R_WARNED_INVALID] == 0:
                # bpf_warn_invalid_xdp_action(NULL, prog, act): pr_warn_once, dev "N/A".  6.1's cpumap
                # has no XDP_TX and no case for XDP_ABORTED: both land here (no trace_xdp_exception)
                r[R_WARNED_INVALID] = 1
                printk(b, cpu_now(b), 40, act, cm[e, CMF_PROG_ID], 0)
            xdp_return_frame(b, frame)               # not NAPI-direct: the pool's ptr_ring
            ndrop += 1
    r[R_PROG_KIND] = kind0
    r[R_PROG_ID] = id0
    if nredir > 0:                                   # xdp_do_flush after the batch
        charge(b, C_XDP_FLUSH)
        if r[R_DEV_FLUSH_N] > 0:
            _dev_flush(b)                            # __dev_flush: the devices' bulk queues
        _cpu_map_flush_nested(b)                     # __cpu_map_flush (no catch-up)
    cm[e, CMF_STATS + CMS_KT_PASS] += npass
    cm[e, CMF_STATS + CMS_KT_DROP] += ndrop
    cm[e, CMF_STATS + CMS_KT_REDIRECT] += nredir
    return nframes | (npass << 16) | (ndrop << 32) | (nredir << 48)


@kernel(hot=True)
def cpu_map_kthread_pass(b, e):
    """One pass of cpu_map_kthread_run's loop on a non-empty ring: up to CPUMAP_BATCH frames,
    the entry's program, skbs, the stack, trace_xdp_cpumap_kthread."""
    cm = b.cpumap
    charge(b, C_CPUMAP_BATCH)
    sched = cm[e, CMF_SCHED]
    cm[e, CMF_SCHED] = 0
    if sched:
        charge(b, C_SCHED_SWITCH)
    n = cm[e, CMF_COUNT]
    if n > CPUMAP_BATCH:
        n = CPUMAP_BATCH
    qsize = cm[e, CMF_QSIZE]
    for i in range(n):                               # __ptr_ring_consume_batched + prefetchw(page)
        charge(b, C_PTR_RING_CONSUME)
        h = cm[e, CMF_HEAD]
        cm[e, CMF_BATCH + i] = cm[e, CMF_RING + h]
        cm[e, CMF_RING + h] = 0
        cm[e, CMF_HEAD] = h + 1 if h + 1 < qsize else 0
    cm[e, CMF_COUNT] -= n
    nframes = n
    stats = 0
    if cm[e, CMF_PROG_KIND] != PROG_NONE:
        stats = _cpu_map_bpf_prog_run_xdp(b, e, n)
        nframes = stats & 0xFFFF
    drops = 0
    if nframes > 0 and b.r[R_SKB_NR_FREE] < nframes:
        drops = nframes                              # kmem_cache_alloc_bulk failed: no skb for any
    for i in range(nframes):
        frame = cm[e, CMF_BATCH + i]
        skb = -1
        if drops == 0:
            nrel = xdp_frame_pool_pages(b, frame)   # what xdp_release_frame takes out of the pool
            skb = __xdp_build_skb_from_frame(b, frame)
            if skb >= 0:
                cm[e, CMF_STATS + CMS_RELEASED] += nrel
        if skb < 0:
            xdp_return_frame(b, frame)
            continue
        cm[e, CMF_STATS + CMS_SKBS] += 1
        netif_receive_skb(b, skb)                    # netif_receive_skb_list, one skb at a time
    cm[e, CMF_STATS + CMS_KT_PROCESSED] += n
    cm[e, CMF_STATS + CMS_KT_DROPS] += drops
    cm[e, CMF_STATS + CMS_KT_SCHED] += sched
    cm[e, CMF_STATS + CMS_KT_EVENTS] += 1
    _cm_trace(b, EV_XDP_CPUMAP_KTHREAD, e, n, drops, sched, stats >> 16)


@kernel
def cpu_map_kthread_run(b, e, t_limit):
    """Run entry ``e``'s kthread on CPU ``e`` until that CPU's clock reaches ``t_limit``
    (CLOCK_UNIT_NS) or the kthread sleeps in schedule() with an empty ring.

    Called from CPU 0 (nested in its NAPI poll before a ptr_ring produce, and from sim_run between
    polls): the running CPU's context (softirq flag, the program slot, its xdp_buff) is kept and
    given back.  A kthread on the CPU that is running now cannot run nested (it would preempt the
    softirq): sim_run runs it after the poll (``cpu_map_run_kthreads``)."""
    cm = b.cpumap
    if cm[e, CMF_STATE] != KT_RUNNING:
        return
    r = b.r
    cur = r[R_CPU_CUR]
    c = e & 1
    if r[R_CPUMAP_SAVE + 3] != 0:
        return                                     # a kthread is running: it finishes its pass first
    if e != cur and r[R_CLOCK + c] >= t_limit:
        return
    if e == cur and r[R_IN_SOFTIRQ] != 0:
        return
    # keep the interrupted context (its xdp_buff: saved by the first pass that runs the entry's
    # program, _cpu_map_bpf_prog_run_xdp, the only writer of b.xdp on the kthread's path)
    r[R_CPUMAP_SAVE + 3] = 1
    r[R_CPUMAP_SAVE] = r[R_IN_SOFTIRQ]
    r[R_CPUMAP_SAVE + 1] = r[R_LAST_ACT]
    r[R_CPUMAP_SAVE + 2] = cur
    r[R_CPUMAP_SAVE + 5] = 0
    # on another CPU, the clock the switch settles is the one just compared with t_limit: the first
    # pass needs no clock read
    first = e != cur
    if first:
        cpu_switch(b, e)
    r[R_IN_SOFTIRQ] = 0
    while first or cpu_clock(b, e) < t_limit:
        first = False
        if cm[e, CMF_COUNT] == 0:
            cm[e, CMF_STATE] = KT_SLEEPING         # set_current_state(TASK_INTERRUPTIBLE); schedule()
            cm[e, CMF_SCHED] = 1
            break
        cpu_map_kthread_pass(b, e)
    if e != cur:
        cpu_switch(b, cur)
    if r[R_CPUMAP_SAVE + 5] != 0:
        xdp = b.xdp
        for i in range(XB_SIZE):
            xdp[i] = cm[_SAVE_ROW, i]
        r[R_CPUMAP_SAVE + 5] = 0
    r[R_IN_SOFTIRQ] = r[R_CPUMAP_SAVE]
    r[R_LAST_ACT] = r[R_CPUMAP_SAVE + 1]
    r[R_CPUMAP_SAVE + 3] = 0


@kernel
def cpu_map_run_kthreads(b, t_limit):
    """sim_run's turn for the kthreads, between NAPI polls (not in softirq): each runs up to
    ``t_limit`` (its own CPU's: CPU 0's kthread until its ring is empty)."""
    if b.r[R_CPUMAP_ACTIVE] == 0:
        return
    cur = b.r[R_CPU_CUR]
    for e in range(NR_CPUS):
        if e == cur:
            cpu_map_kthread_run(b, e, np.int64(1) << 62)
        else:
            cpu_map_kthread_run(b, e, t_limit)


@kernel
def cpu_map_entry_free(b, e):
    """__cpu_map_entry_free + the kthread's stop: every bulk queue flushed to the ring, the kthread
    drains the ring (kthread_stop waits for it), then the entry is gone.  From process context."""
    cm = b.cpumap
    if cm[e, CMF_QSIZE] == 0:
        return
    for src in range(NR_CPUS):
        if cm[e, CMF_BQ_COUNT + src] > 0:
            bq_flush_to_queue(b, e, src)
    if cm[e, CMF_COUNT] > 0:
        cm[e, CMF_STATE] = KT_RUNNING
        cpu_map_kthread_run(b, e, np.int64(1) << 62)
    cm[e, CMF_QSIZE] = 0
    cm[e, CMF_STATE] = KT_NONE
    cm[e, CMF_PROG_KIND] = 0
    cm[e, CMF_PROG_ID] = 0
    cm[e, CMF_HEAD] = 0
    cm[e, CMF_TAIL] = 0
    cm[e, CMF_COUNT] = 0


@kernel
def cpu_map_entry_alloc(b, e, qsize, map_id, prog_kind, prog_id):
    """__cpu_map_entry_alloc: a ring of ``qsize`` and a kthread bound to CPU ``e``, which starts,
    finds its ring empty and sleeps.  (The caller checked qsize against the board's ring width.)"""
    cm = b.cpumap
    cm[e, CMF_QSIZE] = qsize
    cm[e, CMF_MAP_ID] = map_id
    cm[e, CMF_PROG_KIND] = prog_kind
    cm[e, CMF_PROG_ID] = prog_id
    cm[e, CMF_HEAD] = 0
    cm[e, CMF_TAIL] = 0
    cm[e, CMF_COUNT] = 0
    cm[e, CMF_STATE] = KT_SLEEPING
    cm[e, CMF_SCHED] = 1
    for src in range(NR_CPUS):
        cm[e, CMF_BQ_COUNT + src] = 0
        cm[e, CMF_BQ_LISTED + src] = 0
    return 0


__all__ += ["bq_flush_to_queue", "cpu_map_kthread_pass", "cpu_map_entry_alloc", "cpu_map_entry_free",
            "CMF_STATS", "CMF_QSIZE", "CMF_COUNT", "CMF_STATE",
            "CMF_RING", "NCMF"]


# the kthread's program redirects to devices through the redirect core's device path, which
# imports this module (its CPUMAP case): imported after this module's kernels are defined
from ._layout import R_DEV_FLUSH_N  # noqa: E402
from .xdp_abi import ENV_RI_MAP_ID  # noqa: E402
from .cost import C_REDIRECT  # noqa: E402
from .devmap import _dev_flush  # noqa: E402
from .errno import EOPNOTSUPP  # noqa: E402
from .netdev import dev_get_by_index  # noqa: E402
from .redirect import BPF_MAP_TYPE_XSKMAP, _xdp_do_redirect_frame_dev, _xsk_map_redirect  # noqa: E402
