"""The simulator's trace: a bounded numpy event log that views replay.

Recording is a kernel (:func:`trace_event`) that the simulator calls at each
modelled step.  With ``capacity == 0`` the trace is off and every call returns
after one predictable branch; a board that does not trace says so in its type
(``TRACE_OFF_DTYPE``), and its jitted code has no trace calls left at all.
When the buffer is full further events are
counted in ``lost`` and not stored (the head of a run is what a learner steps
through; a bounded buffer keeps memory small on Binder).

Each event is one row of ``ev`` (int64, ``TR_COLS`` columns) plus its time in
``t_ns`` (float64, the simulated clock of the CPU or device that made it).
Columns ``TR_A``..``TR_E`` mean what the event's entry in ``EVENTS`` says.
Every row also carries a snapshot of the occupancy a view needs without
replaying from the start: the RX queue's busy (filled, not yet processed)
count, the page_pool alloc-cache count and ptr_ring count, and the pool's
pages in flight (hold - release).  ``pp_*`` events snapshot their own pool,
the driver's events the RX queue's current pool (zeros while it has none).

Codes are positions in ``EVENTS``: new events are appended, so a code never
changes meaning.  Besides the data path, the port's setup is traced
(``xdp_setup``, ``port_stop``, ``pp_destroy``, ``port_open``, ``pp_create``,
``port_up``), so a player can show a restart as the kernel does it; the pages
``mvneta_rxq_drop_pkts`` gives back are its ``pp_recycle`` events.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from numba.core import types
from numba.extending import overload
from numba.np import numpy_support

from ._layout import R_TR_LOST, R_TR_MUTE, R_TR_N
from ._twospeed import kernel

__all__ = [
    "Trace", "create_trace", "trace_event", "board_trace", "board_tracing", "TRACE_OFF_DTYPE", "trace_records", "EVENTS", "EV_NAMES",
    "TR_CPU", "TR_EV", "TR_A", "TR_B", "TR_C", "TR_D", "TR_E",
    "TR_RX_BUSY", "TR_PP_CACHE", "TR_PP_RING", "TR_PP_INFLIGHT", "TR_COLS",
]

TR_CPU = 0
TR_EV = 1
TR_A = 2
TR_B = 3
TR_C = 4
TR_D = 5
TR_E = 6
TR_RX_BUSY = 7       # RX descriptors filled by the NIC, not yet taken by the CPU
TR_PP_CACHE = 8      # page_pool alloc.count
TR_PP_RING = 9       # page_pool ptr_ring entries
TR_PP_INFLIGHT = 10  # pages_state_hold_cnt - pages_state_release_cnt
TR_COLS = 11

# (name, meaning of A, B, C, D, E).  Numbers are the event codes, in order.
EVENTS = (
    ("nic_rx", "rx desc", "page", "data_size (incl. MH+FCS)", "status", ""),
    ("hw_discard", "rx desc the NIC wanted", "", "frame length", "", ""),
    ("irq", "", "", "", "", ""),
    ("napi_poll", "budget", "rx_todo", "", "", ""),
    ("rx_desc", "rx desc", "page", "status", "data_size", ""),
    ("dma_sync_for_cpu", "", "page", "offset", "length", ""),
    ("xdp_run", "rx desc", "page", "data", "data_end", "data_meta"),
    ("xdp_verdict", "rx desc", "page", "action", "data", "data_end"),
    ("pp_alloc", "pool", "page", "0 fast, 1 refill from ring, 2 slow", "", ""),
    ("pp_recycle", "pool", "page", "0 cache, 1 ring, 2 released (refcnt), 3 released (ring full)", "dma_sync_size", ""),
    ("rx_refill", "rx desc", "page", "", "", ""),
    ("rx_refill_fail", "rx desc", "", "", "", ""),
    ("tx_submit", "tx desc", "page", "buffer type (MVNETA_TYPE_*)", "length",
     "4 | 1 if the FIRST | 2 if the LAST buffer of its frame (MVNETA_TXD_F_DESC / MVNETA_TXD_L_DESC): 4 a middle frag"),
    ("tx_done", "tx desc", "page", "buffer type", "", ""),
    ("skb_build", "skb", "page", "data offset", "length", ""),
    ("skb_free", "skb", "page", "0 consumed, 1 tc drop, 2 other", "", ""),
    ("napi_done", "rx_done", "1 if napi_complete", "", "", ""),
    ("xdp_exception", "rx desc", "page", "action", "", ""),
    # tracepoint xdp:xdp_redirect_err (prog_id is the ingress device's program, Board.tracepoints)
    ("xdp_redirect_err", "ifindex", "to_ifindex", "err", "map_id", "map_index"),
    ("page_alloc", "", "page", "", "", ""),
    ("page_free", "", "page", "", "", ""),
    ("dma_sync_for_device", "", "page", "offset", "length", ""),
    # the port's setup and teardown (ip link set up/down, attaching or removing a program)
    ("xdp_setup", "prog kind (0: removed)", "prog id", "1 if the port restarts", "", ""),
    ("port_stop", "", "", "", "", ""),
    ("pp_destroy", "pool", "pages given back to the page allocator", "pages still in flight", "", ""),
    ("port_open", "rx descriptors", "", "", "", ""),
    ("pp_create", "pool", "ptr_ring size", "dma_dir", "", ""),
    ("port_up", "rx descriptors filled", "", "", "", ""),
    # CPUMAP (xdplab.cpumap): the two tracepoints of kernel/bpf/cpumap.c
    ("xdp_cpumap_enqueue", "map id", "processed", "drops (ring full)", "to_cpu", "frames in the ring after"),
    ("xdp_cpumap_kthread", "map id", "processed", "drops (no skb)", "sched",
     "xdp_pass | xdp_drop << 16 | xdp_redirect << 32"),
    # XDP_REDIRECT (issue 22): the tracepoints by their kernel names, and where a frame waits
    ("xdp_redirect", "ifindex", "to_ifindex", "err", "map_id", "map_index"),
    ("xdp_devmap_xmit", "from_ifindex", "to_ifindex", "sent", "drops", "err"),
    ("xdp_bulk_tx", "ifindex", "sent", "drops", "err", ""),
    ("bq_enqueue", "to_ifindex", "page", "frames in the bulk queue", "from_ifindex", ""),
    ("veth_ring", "ifindex of the ring's device", "page", "frames in the ring", "", ""),
    ("veth_poll", "ifindex", "frames done", "1 if napi_complete", "", ""),
    # mvneta_swbm_add_rx_fragment: a non-first buffer of a frame (multi-buffer)
    ("rx_add_frag", "rx desc", "page", "frag index in skb_shared_info (-1: no frag, the page went back)",
     "frag size", "xdp_frags_size"),
    # the TX doorbell (mvneta_txq_pend_desc_add): descriptors handed to the MAC in one register write
    ("tx_doorbell", "descriptors announced (pend_desc + txq->pending)", "txq->count after (descriptors in use)",
     "", "", ""),
    # the MAC takes an announced TX descriptor (mvneta_hw_tx_kick, cpu -1): the event's time is the doorbell's,
    # C is when the last bit of the buffer leaves (ns, rounded up), after which mvneta_txq_done may reclaim it
    ("tx_hw_sent", "tx desc", "page", "send completes at (ns, rounded up)", "length", ""),
)
EV_NAMES = tuple(e[0] for e in EVENTS)
for _i, _e in enumerate(EVENTS):
    globals()["EV_" + _e[0].upper()] = _i
    __all__.append("EV_" + _e[0].upper())


# A board that records no trace holds an empty event table of this dtype, not int64: jitted code
# then knows from the board's type that it records nothing (board_tracing is a constant), and
# LLVM drops every trace call and its check from the per-packet path, instead of testing the
# capacity at the ~10 trace points a frame passes (~35 instructions a frame, counted with
# benchmarks/icount.py).  A board that traces is another type: its kernels compile separately.
TRACE_OFF_DTYPE = np.int8
_TRACE_OFF_NB = numpy_support.from_dtype(np.dtype(TRACE_OFF_DTYPE))


def board_tracing(b):
    """Does board ``b`` record a trace?"""
    return b.tr_ev.shape[0] != 0


@overload(board_tracing, jit_options={"forceinline": True})
def _board_tracing_jit(b):
    if isinstance(b, types.BaseNamedTuple):              # the board's NamedTuple (BoardState)
        ev = b.types[b.fields.index("tr_ev")] if "tr_ev" in b.fields else None
    else:                                                # its StructRef (BoardStateRef)
        ev = getattr(b, "field_dict", {}).get("tr_ev")
    if ev is None:
        return None
    if isinstance(ev, types.Array) and ev.dtype == _TRACE_OFF_NB:      # off, by type
        return lambda b: False
    return lambda b: b.tr_ev.shape[0] != 0


class Trace(NamedTuple):
    ev: np.ndarray      # int64[capacity, TR_COLS] (TRACE_OFF_DTYPE when capacity is 0)
    t_ns: np.ndarray    # float64[capacity]
    n: np.ndarray       # int64[1]: rows written
    lost: np.ndarray    # int64[1]: events not stored because the buffer was full


def create_trace(capacity: int = 0) -> Trace:
    """A trace buffer of ``capacity`` events (0 = tracing off)."""
    capacity = int(capacity)
    if capacity < 0:
        raise ValueError(f"trace capacity must be >= 0, got {capacity}")
    # np.empty + fill, not np.zeros: zeros maps pages lazily, and the first write to each
    # page during the run then costs a page fault (8x the recording itself, measured);
    # filling here pays for the memory once, when the board is built
    # off: an empty table whose dtype says so (TRACE_OFF_DTYPE, see board_tracing)
    ev = np.empty((capacity, TR_COLS), np.int64 if capacity else TRACE_OFF_DTYPE)
    ev.fill(0)
    t_ns = np.empty(capacity)
    t_ns.fill(0.0)
    return Trace(ev=ev, t_ns=t_ns, n=np.zeros(1, np.int64), lost=np.zeros(1, np.int64))


@kernel(hot=True)
def _trace_store(ev_rows, t_col, i, t_ns, cpu, ev, a, b, c, d, e, rx_busy, pp_cache, pp_ring, pp_inflight):
    ev_rows[i, 0] = cpu
    ev_rows[i, 1] = ev
    ev_rows[i, 2] = a
    ev_rows[i, 3] = b
    ev_rows[i, 4] = c
    ev_rows[i, 5] = d
    ev_rows[i, 6] = e
    ev_rows[i, 7] = rx_busy
    ev_rows[i, 8] = pp_cache
    ev_rows[i, 9] = pp_ring
    ev_rows[i, 10] = pp_inflight
    t_col[i] = t_ns


@kernel
def trace_event(tr, t_ns, cpu, ev, a, b, c, d, e, rx_busy, pp_cache, pp_ring, pp_inflight):
    """Append one event (no-op when the trace is off; counted in ``lost`` when full)."""
    cap = tr.ev.shape[0]
    if cap == 0:
        return
    i = tr.n[0]
    if i >= cap:
        tr.lost[0] += 1
        return
    _trace_store(tr.ev, tr.t_ns, i, t_ns, cpu, ev, a, b, c, d, e, rx_busy, pp_cache, pp_ring, pp_inflight)
    tr.n[0] = i + 1


@kernel(hot=True)
def board_trace(b, t_ns, cpu, ev, a, b_, c, d, e, rx_busy, pp_cache, pp_ring, pp_inflight):
    """trace_event into the board's trace (``b.tr_ev``/``b.tr_t``; its counters are slots of ``b.r``).

    The same steps as ``trace_event``, inlined: building a ``Trace`` of views and
    calling out per event cost more than the event."""
    if not board_tracing(b) or b.r[R_TR_MUTE] != 0:
        return
    cap = b.tr_ev.shape[0]
    i = b.r[R_TR_N]
    if i >= cap:
        b.r[R_TR_LOST] += 1
        return
    _trace_store(b.tr_ev, b.tr_t, i, t_ns, cpu, ev, a, b_, c, d, e, rx_busy, pp_cache, pp_ring, pp_inflight)
    b.r[R_TR_N] = i + 1


def trace_records(tr: Trace) -> list[dict]:
    """The stored events as dicts (for printing and tests; views use the arrays)."""
    out = []
    for i in range(int(tr.n[0])):
        r = tr.ev[i]
        out.append({"t_ns": float(tr.t_ns[i]), "cpu": int(r[TR_CPU]), "event": EV_NAMES[r[TR_EV]],
                    "a": int(r[TR_A]), "b": int(r[TR_B]), "c": int(r[TR_C]), "d": int(r[TR_D]),
                    "e": int(r[TR_E]), "rx_busy": int(r[TR_RX_BUSY]),
                    "pp_cache": int(r[TR_PP_CACHE]), "pp_ring": int(r[TR_PP_RING]),
                    "pp_inflight": int(r[TR_PP_INFLIGHT])})
    return out
