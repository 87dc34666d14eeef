"""Replay a :class:`xdplab.trace.Trace` once, vectorised, into per-frame arrays the views index.

Frame ``i`` is the state *after* trace event ``i``.  Every array here has the
number of events as its first dimension, so a view's update is one index, never
a replay.  Nothing in this module imports ipywidgets or bqplot: it is numpy over
the trace's columns (the contract in ``xdplab/trace.py``).

What the trace does not say is reconstructed and documented where it is done:

* hardware events (``cpu == -1``: ``nic_rx``, ``hw_discard``) carry zeros in the
  page_pool snapshot columns, so those columns are carried forward from the last
  CPU event;
* the RX descriptor state is replayed from the events that touch a descriptor
  (``nic_rx`` fills it, ``rx_desc`` takes its buffer, ``rx_refill`` posts a new
  one); when the port stops, ``mvneta_rxq_drop_pkts`` gives each page back to
  the pool (a ``pp_recycle`` between ``port_stop`` and ``pp_destroy``): the
  descriptor it leaves empty is the one that last received that page;
* what the code panel shows comes from the context an event runs in: a NAPI
  poll (``napi_poll`` .. ``napi_done``), the port's setup (``xdp_setup``,
  ``port_stop``, ``port_open`` .. ``port_up``: process context, no poll), or
  neither (the NIC receiving while NAPI waits for an interrupt);
* page_pool stats are counted per pool from its ``pp_alloc``/``pp_recycle``
  events (column A names the pool); a pool's life runs from its ``pp_create``
  to its ``pp_destroy``.  ``ethtool -S``'s ``rx_pp_*`` sum the pools the RX
  queues hold at that moment (``mvneta_ethtool_pp_stats``): a destroyed pool
  no longer counts, a new one starts from zero.  ``slow_high_order`` and
  ``waive`` are never traced and stay 0, ``empty`` is slow allocations plus
  failed refills, ``cache_full`` is a recycle that went to the ptr_ring while
  the alloc cache held 128 pages.  Pages a pool took from the page allocator
  are its pages in flight plus those it gave back (released, or returned by
  ``page_pool_destroy``); the deferred retries of a destroy with pages still
  in flight are not traced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xdplab.nic.mvneta_hw import MVNETA_MH_SIZE, MVNETA_RXD_ERR_SUMMARY, MVNETA_RXD_FIRST_DESC
from xdplab import _layout as L
from xdplab.page_pool import PP_ALLOC_CACHE_SIZE, PP_ETHTOOL_NAMES, PP_STAT_NAMES, PPF_STATS
from xdplab.trace import (EV_NAMES, TR_A, TR_B, TR_C, TR_CPU, TR_D, TR_E, TR_EV, TR_PP_CACHE, TR_PP_INFLIGHT,
                          TR_PP_RING, TR_RX_BUSY, Trace)
from xdplab.xdp_abi import ETH_FCS_LEN, XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX

__all__ = ["Frames", "PoolLife", "frames_from_trace", "frames_from_board", "board_rx_ring_size", "DESC_EMPTY",
           "DESC_NIC", "DESC_FILLED", "DESC_PROCESSING", "DESC_REFILL_FAILED", "DESC_STATE_NAMES", "COUNTER_NAMES",
           "NAPI_LISTINGS", "CODE_LISTINGS", "CTX_IDLE", "CTX_NAPI", "CTX_SETUP", "CTX_NAMES", "describe_event",
           "RedirectState", "redirect_state", "board_netdev_names", "REDIRECT_EVENTS"]

EV = {name: i for i, name in enumerate(EV_NAMES)}

# RX descriptor states (what a learner should tell apart in the ring)
DESC_EMPTY = 0          # buffer taken by the CPU (buf_phys_addr = 0): awaiting mvneta_rx_refill
DESC_NIC = 1            # owned by the NIC with a fresh page_pool buffer
DESC_FILLED = 2         # the NIC DMA'd a frame into it: waiting for the CPU (counted in rx_busy)
DESC_PROCESSING = 3     # the descriptor mvneta_rx_swbm is working on right now
DESC_REFILL_FAILED = 4  # mvneta_rx_refill got -ENOMEM: stays empty ("Can't refill queue")
DESC_STATE_NAMES = ("empty, awaiting refill", "NIC owns, fresh buffer", "filled by NIC, waiting for CPU",
                    "being processed", "refill failed (-ENOMEM)")

# ethtool -S counters derivable from the trace (Linux 6.1 names), then the rx_pp_* ones
COUNTER_NAMES = ("good_frames_received", "rx_discard", "rx_packets", "rx_xdp_drop", "rx_xdp_pass", "rx_xdp_tx",
                 "rx_xdp_tx_errors", "rx_xdp_redirect", "refill_errors") + PP_ETHTOOL_NAMES

# pp_alloc column C: 0 fast, 1 refill from ptr_ring, 2 slow; pp_recycle C: 0 cache, 1 ring, 2 released, 3 ring full
_ST = {n: i for i, n in enumerate(PP_STAT_NAMES)}

# ---------------------------------------------------------------- the code the player lights
# Contexts an event runs in (Frames.ctx): which listing the code panel shows.
CTX_IDLE = 0        # no poll running: NAPI waits for the interrupt, the NIC may be receiving
CTX_NAPI = 1        # inside a NAPI poll (napi_poll .. napi_done)
CTX_SETUP = 2       # the port's setup in process context (ip link set ... up/down, attaching a program)
CTX_NAMES = ("no poll running", "NAPI poll", "port setup")

# The talk's generic driver loop (Brouer/Bianconi, "XDP driver support"), as on the slide, its long
# lines folded so that it reads in a narrow panel.
TALK_LOOP = r"""while (desc_in_rx_ring && budget_left--) {
  action = bpf_prog_run_xdp(xdp_prog, xdp_buff);
  /* helper bpf_redirect_map have set map (and index)
   * via this_cpu_ptr */
  switch (action) {
   case XDP_PASS: break;
   case XDP_TX:
     res = driver_local_xmit_xdp_ring(adapter, xdp_buff);
     break;
   case XDP_REDIRECT:
     res = xdp_do_redirect(netdev, xdp_buff, xdp_prog);
     break;
   default: bpf_warn_invalid_xdp_action(action);
     /* fall-through */
   case XDP_ABORTED:
     trace_xdp_exception(netdev, xdp_prog, action);
     /* fall-through */
   case XDP_DROP:
     page_pool_recycle_direct(pp, page);
     res = DRV_XDP_CONSUMED;
     break;
 } /* left out acting on res */
} /* End of NAPI-poll */
xdp_do_flush_map(); /* Bulk chosen by map, can store
                     * xdp frame's for flushing */
driver_local_XDP_TX_flush();""".split("\n")

# drivers/net/ethernet/marvell/mvneta.c, Linux 6.1, mvneta_rx_swbm (declarations and error paths trimmed,
# long calls folded)
SWBM_LOOP = r"""static int mvneta_rx_swbm(struct napi_struct *napi,
			  struct mvneta_port *pp, int budget,
			  struct mvneta_rx_queue *rxq)
{
	/* Get number of received packets */
	rx_todo = mvneta_rxq_busy_desc_num_get(pp, rxq);
	xdp_prog = READ_ONCE(pp->xdp_prog);

	/* Fairness NAPI loop */
	while (rx_proc < budget && rx_proc < rx_todo) {
		rx_desc = mvneta_rxq_next_desc_get(rxq);
		index = rx_desc - rxq->descs;
		page = (struct page *)rxq->buf_virt_addr[index];
		rx_status = rx_desc->status;
		rx_proc++;
		rxq->refill_num++;

		if (rx_status & MVNETA_RXD_FIRST_DESC) {
			/* Check errors only for FIRST descriptor */
			if (rx_status & MVNETA_RXD_ERR_SUMMARY) {
				mvneta_rx_error(pp, rx_desc);
				goto next;
			}
			size = rx_desc->data_size;
			frame_sz = size - ETH_FCS_LEN;
			desc_status = rx_status;
			mvneta_swbm_rx_frame(pp, rx_desc, rxq,
					     &xdp_buf, &size, page);
		} else {
			mvneta_swbm_add_rx_fragment(pp, rx_desc, rxq,
					&xdp_buf, &size, page);
		} /* Middle or Last descriptor */

		if (!(rx_status & MVNETA_RXD_LAST_DESC))
			/* no last descriptor this time */
			continue;

		if (xdp_prog &&
		    mvneta_run_xdp(pp, rxq, xdp_prog, &xdp_buf,
				   frame_sz, &ps))
			goto next;

		skb = mvneta_swbm_build_skb(pp, rxq->page_pool,
					    &xdp_buf, desc_status);
		ps.rx_bytes += skb->len;
		ps.rx_packets++;
		skb->protocol = eth_type_trans(skb, dev);
		napi_gro_receive(napi, skb);
next:
		xdp_buf.data_hard_start = NULL;
	}

	if (ps.xdp_redirect)
		xdp_do_flush_map();

	/* return some buffers to hardware queue */
	refill = mvneta_rx_refill_queue(pp, rxq);

	/* Update rxq management counters */
	mvneta_rxq_desc_num_update(pp, rxq, rx_proc, refill);

	return ps.rx_packets;
}""".split("\n")

# drivers/net/ethernet/marvell/mvneta.c, Linux 6.1: what attaching a program does to a running port
# (mvneta_xdp_setup), and the mvneta_stop / mvneta_open it calls, down to the RX queue's page_pool
# (one RX queue shown; error paths, IRQ and PHY handling trimmed)
SETUP_CODE = r"""/* ip link set dev eth0 xdp ...: mvneta_xdp_setup() */
need_update = !!pp->xdp_prog != !!prog;
if (running && need_update)
	mvneta_stop(dev);
old_prog = xchg(&pp->xdp_prog, prog);
if (running && need_update)
	return mvneta_open(dev);

/* mvneta_stop(): ip link set dev eth0 down */
mvneta_stop_dev(pp);  /* port, NAPI, IRQ off; TX ring freed */
mvneta_cleanup_rxqs(pp);
  /* -> mvneta_rxq_deinit() -> mvneta_rxq_drop_pkts(): */
  for (i = 0; i < rxq->size; i++) {
	data = rxq->buf_virt_addr[i];
	if (!data || !(rx_desc->buf_phys_addr))
		continue;
	page_pool_put_full_page(rxq->page_pool, data, false);
  }
  if (xdp_rxq_info_is_reg(&rxq->xdp_rxq))
	xdp_rxq_info_unreg(&rxq->xdp_rxq);
  page_pool_destroy(rxq->page_pool);
  rxq->page_pool = NULL;

/* mvneta_open(): ip link set dev eth0 up */
ret = mvneta_setup_rxqs(pp);
  /* -> mvneta_rxq_init() -> mvneta_rxq_fill(pp, rxq, num): */
  err = mvneta_create_page_pool(pp, rxq, num);
  for (i = 0; i < num; i++) {
	memset(rxq->descs + i, 0, sizeof(*rx_desc));
	if (mvneta_rx_refill(pp, rxq->descs + i, rxq,
			     GFP_KERNEL) != 0)
		break;
  }
  mvneta_rxq_non_occup_desc_add(pp, rxq, i);
mvneta_start_dev(pp);  /* port, NAPI, IRQ on */""".split("\n")


def _line(listing, needle):
    for i, s in enumerate(listing):
        if needle in s:
            return i
    raise ValueError(f"{needle!r} not in listing")


def _line_tables(listing, ev_needles, verdict_needles):
    ev_tab = np.full(len(EV_NAMES), -1, np.int16)
    for name, needle in ev_needles.items():
        ev_tab[EV[name]] = _line(listing, needle)
    ver_tab = np.full(7, -1, np.int16)       # XDP_ABORTED..XDP_REDIRECT, [5] invalid, [6] unused
    for act, needle in verdict_needles.items():
        ver_tab[act] = _line(listing, needle)
    return ev_tab, ver_tab


_TALK_EV = {"napi_poll": "while (desc_in_rx_ring", "rx_desc": "while (desc_in_rx_ring",
            "dma_sync_for_cpu": "while (desc_in_rx_ring", "xdp_run": "action = bpf_prog_run_xdp",
            "tx_submit": "res = driver_local_xmit_xdp_ring", "xdp_redirect_err": "res = xdp_do_redirect",
            "xdp_exception": "trace_xdp_exception", "skb_build": "case XDP_PASS:", "rx_refill": "End of NAPI-poll",
            "rx_refill_fail": "End of NAPI-poll", "pp_alloc": "End of NAPI-poll",
            "napi_done": "driver_local_XDP_TX_flush"}
_TALK_VERDICT = {XDP_PASS: "case XDP_PASS:", XDP_TX: "case XDP_TX:", XDP_REDIRECT: "case XDP_REDIRECT:",
                 XDP_ABORTED: "case XDP_ABORTED:", XDP_DROP: "case XDP_DROP:", 5: "default:"}
_SWBM_EV = {"napi_poll": "rx_todo = mvneta_rxq_busy_desc_num_get", "rx_desc": "rx_status = rx_desc->status",
            "dma_sync_for_cpu": "mvneta_swbm_rx_frame(pp", "xdp_run": "mvneta_run_xdp(pp",
            "tx_submit": "mvneta_run_xdp(pp", "xdp_redirect_err": "mvneta_run_xdp(pp",
            "xdp_exception": "mvneta_run_xdp(pp", "skb_build": "skb = mvneta_swbm_build_skb",
            "skb_free": "napi_gro_receive(napi, skb)", "rx_refill": "refill = mvneta_rx_refill_queue",
            "rx_refill_fail": "refill = mvneta_rx_refill_queue", "pp_alloc": "refill = mvneta_rx_refill_queue",
            "napi_done": "return ps.rx_packets"}
_SWBM_VERDICT = {a: "mvneta_run_xdp(pp" for a in (0, 1, 2, 3, 4, 5)}
_SETUP_EV = {"xdp_setup": "need_update = !!pp->xdp_prog", "port_stop": "mvneta_stop_dev(pp);",
             "tx_done": "mvneta_stop_dev(pp);", "skb_free": "mvneta_stop_dev(pp);",
             "pp_recycle": "page_pool_put_full_page(rxq->page_pool",
             "pp_destroy": "page_pool_destroy(rxq->page_pool);", "port_open": "ret = mvneta_setup_rxqs(pp);",
             "pp_create": "err = mvneta_create_page_pool", "pp_alloc": "if (mvneta_rx_refill(pp",
             "rx_refill": "if (mvneta_rx_refill(pp", "rx_refill_fail": "if (mvneta_rx_refill(pp",
             "port_up": "mvneta_start_dev(pp);"}
#: the xdp_setup line when the port does not restart (a program replaced by another, or the port down)
_SETUP_SWAP_LINE = _line(SETUP_CODE, "old_prog = xchg(")

#: name -> (source lines, line table per event code, line table per XDP action, context it shows)
CODE_LISTINGS = {
    "talk": (TALK_LOOP,) + _line_tables(TALK_LOOP, _TALK_EV, _TALK_VERDICT) + (CTX_NAPI,),
    "mvneta_rx_swbm": (SWBM_LOOP,) + _line_tables(SWBM_LOOP, _SWBM_EV, _SWBM_VERDICT) + (CTX_NAPI,),
    "setup": (SETUP_CODE,) + _line_tables(SETUP_CODE, _SETUP_EV, {}) + (CTX_SETUP,),
}
#: the NAPI loop listings (the code panel's choice while a poll runs)
NAPI_LISTINGS = {k: v for k, v in CODE_LISTINGS.items() if v[3] == CTX_NAPI}


# ---------------------------------------------------------------- helpers

def _ffill(mask, values, initial):
    """values[last index <= i where mask], or ``initial`` before the first: forward fill, vectorised."""
    n = mask.shape[0]
    idx = np.where(mask, np.arange(n), -1)
    np.maximum.accumulate(idx, out=idx)
    out = np.asarray(values)[np.maximum(idx, 0)]
    return np.where(idx >= 0, out, initial)


def _count(mask, dtype=np.int64):
    return np.cumsum(mask, dtype=dtype)


@dataclass(frozen=True)
class PoolLife:
    """One page_pool as the trace saw it live: from ``page_pool_create`` to ``page_pool_destroy``.

    ``number`` counts the pools in the order the trace met them (1, 2, ...): a
    pool re-created after a restart is a new pool even when the simulator reuses
    its slot.  ``events`` are the frames that change its numbers, and the other
    arrays hold its numbers after each of them.
    """

    number: int
    slot: int                 # the simulator's pool index (xdplab's ``struct page_pool *``)
    created: int              # frame of its pp_create, -1 if it existed before the trace began
    destroyed: int            # frame of its pp_destroy, n if it outlives the trace
    ring_size: int            # its ptr_ring (pool_size), 0 if not traced
    events: np.ndarray        # int64[k]: frames of its own events, increasing
    stats: np.ndarray         # int64[k, 11]: struct page_pool_stats after each (PP_STAT_NAMES order)
    given_back: np.ndarray    # int64[k]: pages it gave back to the page allocator so far
    inflight: np.ndarray      # int64[k]: its pages in flight (hold - release) after each

    def _at(self, i: int) -> int:
        return int(np.searchsorted(self.events, i, side="right")) - 1

    def alive(self, i: int) -> bool:
        """Is it an RX queue's pool at frame i (created, not yet destroyed)?"""
        return self.created <= i < self.destroyed

    def stats_at(self, i: int) -> dict:
        """Its ``struct page_pool_stats`` at frame i (what ``page_pool_get_stats`` adds for it)."""
        k = self._at(i)
        row = self.stats[k] if k >= 0 else np.zeros(len(PP_STAT_NAMES), np.int64)
        return dict(zip(PP_STAT_NAMES, (int(x) for x in row)))

    def pages_at(self, i: int) -> tuple[int, int, int]:
        """(taken from the page allocator, given back, in flight) at frame i."""
        k = self._at(i)
        if k < 0:
            return 0, 0, 0
        back, infl = int(self.given_back[k]), int(self.inflight[k])
        return back + infl, back, infl


@dataclass(frozen=True)
class Frames:
    """Per-frame arrays replayed from one trace (frame ``i`` = after event ``i``).

    Attributes are numpy arrays whose first dimension is :attr:`n`; see
    :func:`frames_from_trace` for what each one models.
    """

    n: int
    rx_ring_size: int
    ev: np.ndarray            # int64[n, TR_COLS]: the trace rows themselves
    t_ns: np.ndarray          # float64[n]
    # RX ring (mvneta_rx_queue)
    ring_state: np.ndarray    # int8[n, rx_ring_size]: DESC_* (without the processing overlay)
    proc_desc: np.ndarray     # int32[n]: descriptor mvneta_rx_swbm is processing, -1 between polls
    hw_pos: np.ndarray        # int32[n]: where the NIC writes its next frame
    next_desc_to_proc: np.ndarray
    first_to_refill: np.ndarray
    rx_busy: np.ndarray       # int64[n]: filled, not yet acknowledged (mvneta_rxq_busy_desc_num_get)
    # page_pool: the RX queue's pool
    pp_cache: np.ndarray      # alloc.count (0..128)
    pp_ring: np.ndarray       # ptr_ring entries
    pp_inflight: np.ndarray   # hold - release
    pp_on_rx_ring: np.ndarray  # descriptors holding a buffer
    pp_in_skb: np.ndarray     # skbs built and not yet freed (their pages left the pool on XDP_PASS)
    pp_on_tx_ring: np.ndarray  # frames submitted by XDP_TX, not yet completed
    pages_from_allocator: np.ndarray  # pages the RX queue's pool took from the page allocator (its hold count)
    pages_to_allocator: np.ndarray    # pages it gave back (released, ring full, page_pool_destroy)
    pp_stats: np.ndarray      # int64[n, 11]: ethtool -S's rx_pp_* (the RX queues' pools), PP_STAT_NAMES order
    pools: tuple              # PoolLife of every pool the trace saw, in the order it met them
    rxq_pool: np.ndarray      # int32[n]: index in ``pools`` of the RX queue's pool, -1 while it has none
    # xdp_buff of the current packet (byte offsets in its 4096-byte page)
    xb_page: np.ndarray
    xb_data: np.ndarray
    xb_data_end: np.ndarray
    xb_data_meta: np.ndarray
    xb_stage: np.ndarray      # 0 none, 1 prepared (synced for CPU), 2 program running, 3 verdict, 4 skb
    xb_action: np.ndarray     # last verdict (-1 before one)
    xb_nr_frags: np.ndarray   # int16[n]: skb_shared_info.nr_frags of the current frame (0: linear)
    xb_frags_size: np.ndarray  # int64[n]: skb_shared_info.xdp_frags_size
    xb_frag_page: np.ndarray  # int32[n, k]: frags[j]'s page (-1: none), k = most frags the trace saw
    xb_frag_size: np.ndarray  # int32[n, k]: frags[j]'s size
    proc_status: np.ndarray   # int64[n]: rx_desc->status of the descriptor being processed (FIRST/LAST bits)
    # the code that runs
    ctx: np.ndarray           # int8[n]: CTX_IDLE, CTX_NAPI or CTX_SETUP
    napi_line: dict           # listing name (CODE_LISTINGS) -> int16[n]: line lit, -1 when it is not running
    budget: np.ndarray
    rx_todo: np.ndarray
    rx_proc: np.ndarray
    poll_index: np.ndarray    # polls started so far
    # counters
    counters: np.ndarray      # int64[n, len(COUNTER_NAMES)]
    # throughput over simulated time (bins)
    tp_t_us: np.ndarray       # bin centres, microseconds
    tp_rx_pps: np.ndarray     # frames the NIC received
    tp_xdp_pps: np.ndarray    # XDP verdicts (packets the program handled)
    tp_discard_pps: np.ndarray  # frames the NIC discarded (ring full)

    @property
    def code_line(self) -> dict:
        """Listing name -> line lit per frame (-1 when that code is not running); ``napi_line``."""
        return self.napi_line

    def counter(self, name: str, i: int) -> int:
        """Value of an ``ethtool -S`` counter at frame i."""
        return int(self.counters[i, COUNTER_NAMES.index(name)])

    def page_pool_stats(self, i: int) -> dict:
        """``struct page_pool_stats`` summed over the RX queues' pools at frame i (ethtool -S's rx_pp_*)."""
        return dict(zip(PP_STAT_NAMES, (int(x) for x in self.pp_stats[i])))

    def rxq_pool_at(self, i: int):
        """The RX queue's :class:`PoolLife` at frame i, or None (port down, between destroy and create)."""
        k = int(self.rxq_pool[i])
        return self.pools[k] if k >= 0 else None

    def ring_counts(self, i: int) -> dict:
        """How many descriptors are in each DESC_* state at frame i (processing overlay applied)."""
        s = self.ring_state[i]
        c = np.bincount(s, minlength=len(DESC_STATE_NAMES))
        p = int(self.proc_desc[i])
        if p >= 0:
            c[s[p]] -= 1
            c[DESC_PROCESSING] += 1
        return dict(zip(DESC_STATE_NAMES, (int(x) for x in c)))

    def next_frame(self, i: int, event: str) -> int:
        """The first frame after i whose event is ``event`` (i itself if none; i = -1 searches from 0)."""
        code = EV[event]
        hits = np.flatnonzero(self.ev[i + 1:, TR_EV] == code)
        return int(i + 1 + hits[0]) if hits.size else i

    def prev_frame(self, i: int, event: str) -> int:
        """The last frame before i whose event is ``event`` (i itself if none)."""
        code = EV[event]
        hits = np.flatnonzero(self.ev[:max(i, 0), TR_EV] == code)
        return int(hits[-1]) if hits.size else i

    def describe(self, i: int) -> str:
        """One line naming the event at frame i, the way a kernel developer would say it."""
        return describe_event(self.ev[i], self.t_ns[i])


_ACT = {XDP_ABORTED: "XDP_ABORTED", XDP_DROP: "XDP_DROP", XDP_PASS: "XDP_PASS", XDP_TX: "XDP_TX",
        XDP_REDIRECT: "XDP_REDIRECT"}
_ALLOC_HOW = ("fast: alloc cache", "refill from ptr_ring", "slow: page allocator")
_RECYCLE_HOW = ("alloc cache", "ptr_ring", "released (refcnt)", "released (ring full)")


def describe_event(row, t_ns) -> str:
    """Human-readable text of one trace row (uses the meanings in ``xdplab.trace.EVENTS``)."""
    e = int(row[TR_EV])
    a, b, c, d = (int(row[k]) for k in (TR_A, TR_B, TR_C, TR_D))
    who = "NIC" if row[TR_CPU] < 0 else f"CPU{int(row[TR_CPU])}"
    name = EV_NAMES[e] if 0 <= e < len(EV_NAMES) else f"event {e}"
    txt = {
        "nic_rx": f"DMA of {c} B (MH+frame+FCS) into RX desc {a}, page {b}",
        "hw_discard": f"frame of {c} B discarded: desc {a} not owned by the NIC (ring full)",
        "irq": "mvneta_isr: interrupt masked, napi_schedule",
        "napi_poll": f"mvneta_rx_swbm: budget {a}, rx_todo {b}",
        "rx_desc": f"RX desc {a}: page {b}, status {c:#x}, data_size {d}",
        "dma_sync_for_cpu": f"dma_sync_single_for_cpu page {b}: {d} B at offset {c}",
        "xdp_run": f"bpf_prog_run_xdp on page {b}: data={c} data_end={d} ({d - c} B)",
        "xdp_verdict": f"verdict {_ACT.get(c, f'invalid ({c})')}: data={d} data_end={int(row[TR_E])}",
        "pp_alloc": f"page_pool_alloc_pages -> page {b} ({_ALLOC_HOW[c] if 0 <= c < 3 else c})",
        "pp_recycle": f"page_pool_put_page page {b} -> {_RECYCLE_HOW[c] if 0 <= c < 4 else c}, "
                      f"dma_sync_size {d}",
        "rx_refill": f"mvneta_rx_refill: desc {a} gets page {b}",
        "rx_refill_fail": f"mvneta_rx_refill: desc {a}: -ENOMEM (Can't refill queue)",
        "tx_submit": f"TX desc {a}: page {b}, type {c}, {d} B",
        "tx_done": f"TX desc {a} done: page {b}",
        "skb_build": f"build_skb on page {b}: skb {a}, data offset {c}, len {d}",
        "skb_free": f"skb {a} freed ({('consumed', 'tc drop', 'other')[c] if 0 <= c < 3 else c})",
        "napi_done": f"poll done: rx_done {a}" + (", napi_complete_done" if b else ", budget used: poll again"),
        "xdp_exception": f"trace_xdp_exception: action {c} on page {b}",
        "xdp_redirect_err": f"xdp_do_redirect failed: {c}",
        "page_alloc": f"alloc_page -> page {b}",
        "page_free": f"put_page -> page {b} freed",
        "dma_sync_for_device": f"dma_sync_for_device page {b}: {d} B at offset {c}",
        "xdp_setup": ("mvneta_xdp_setup: " + ("program attached" if a else "program removed")
                      + (": the port restarts (mvneta_stop, mvneta_open)" if c else ", no restart")),
        "port_stop": "mvneta_stop: port, NAPI and interrupts off",
        "pp_destroy": f"page_pool_destroy: pool slot {a} gives {b} pages back to the page allocator"
                      + (f", {c} still in flight (freed when they return)" if c else ", pool freed"),
        "port_open": f"mvneta_open: mvneta_rxq_fill of {a} RX descriptors",
        "pp_create": f"page_pool_create: pool slot {a}, ptr_ring of {b}",
        "port_up": f"mvneta_start_dev: port up, {a} RX descriptors owned by the NIC",
    }.get(name, name)
    return f"t={t_ns / 1000:.3f} us  {who}  {name}: {txt}"


# ---------------------------------------------------------------- the replay

def _dropped_descs(ev, m):
    """The descriptor each page mvneta_rxq_drop_pkts gives back leaves empty (-1 elsewhere): the pages are
    the pp_recycle events between port_stop and pp_destroy, each from the descriptor that got it last."""
    code, a, b = ev[:, TR_EV], ev[:, TR_A], ev[:, TR_B]
    n = code.shape[0]
    phase = m["port_stop"] | m["pp_destroy"] | m["port_open"]
    stopping = _ffill(phase, m["port_stop"], False)
    drop = m["pp_recycle"] & stopping
    out = np.full(n, -1, np.int64)
    if not drop.any():
        return out
    holder = {}
    for r in np.flatnonzero(m["rx_refill"] | m["nic_rx"] | drop):
        if drop[r]:
            out[r] = holder.pop(int(b[r]), -1)
        else:
            holder[int(b[r])] = int(a[r])
    return out


def _ring_states(ev, n, size, dropped, chunk=2048):
    """ring_state[f, d]: the DESC_* of descriptor d after event f (forward fill in chunks)."""
    code = ev[:, TR_EV]
    a = ev[:, TR_A].copy()
    st = np.full(n, -1, np.int8)
    st[code == EV["nic_rx"]] = DESC_FILLED
    rxd = code == EV["rx_desc"]
    err = rxd & ((ev[:, TR_C] & MVNETA_RXD_FIRST_DESC) != 0) & ((ev[:, TR_C] & MVNETA_RXD_ERR_SUMMARY) != 0)
    st[rxd] = DESC_EMPTY
    st[err] = DESC_NIC                         # mvneta_rx_error: the buffer stays in the ring
    st[code == EV["rx_refill"]] = DESC_NIC
    st[code == EV["rx_refill_fail"]] = DESC_REFILL_FAILED
    st[dropped >= 0] = DESC_EMPTY              # mvneta_rxq_drop_pkts: the page goes back to the pool
    a[dropped >= 0] = dropped[dropped >= 0]
    rows = np.flatnonzero(st >= 0)
    descs = a[rows]
    if descs.size and (descs.min() < 0 or descs.max() >= size):
        raise ValueError(f"the trace names RX descriptor {int(descs.max())} but the ring has {size}: "
                         f"pass rx_ring_size= the board's rx_ring")
    out = np.empty((n, size), np.int8)
    prev = np.full(size, DESC_EMPTY, np.int8)
    cols = np.arange(size)
    for c0 in range(0, n, chunk):
        c1 = min(n, c0 + chunk)
        sel = (rows >= c0) & (rows < c1)
        m = np.full((c1 - c0, size), -1, np.int8)
        m[rows[sel] - c0, descs[sel]] = st[rows[sel]]
        idx = np.where(m >= 0, np.arange(c1 - c0, dtype=np.int32)[:, None], np.int32(-1))
        np.maximum.accumulate(idx, axis=0, out=idx)
        blk = np.where(idx >= 0, m[np.maximum(idx, 0), cols], prev[None, :])
        out[c0:c1] = blk
        prev = blk[-1]
    return out


def _contexts(m, c, n):
    """CTX_* per frame: a poll runs from napi_poll to napi_done, the port's setup from xdp_setup /
    port_stop / port_open to port_up; anything else (the NIC receiving, the interrupt) is idle."""
    mark = np.full(n, -1, np.int8)
    mark[m["irq"] | m["napi_done"] | m["port_up"]] = CTX_IDLE
    mark[m["napi_poll"]] = CTX_NAPI
    mark[m["port_stop"] | m["port_open"]] = CTX_SETUP
    restart = m["xdp_setup"] & (c != 0)
    swap = m["xdp_setup"] & (c == 0)          # no restart: that one event runs in process context
    mark[restart | swap] = CTX_SETUP
    nxt = np.flatnonzero(swap) + 1
    nxt = nxt[nxt < n]
    mark[nxt[mark[nxt] < 0]] = CTX_IDLE
    ctx = _ffill(mark >= 0, mark, CTX_IDLE).astype(np.int8)
    # the event that ends a context still runs in it (napi_done ends the poll, port_up the setup)
    ctx[m["napi_done"]] = CTX_NAPI
    ctx[m["port_up"]] = CTX_SETUP
    return ctx


def _pool_lives(m, a, b, n):
    """Split the pp_* events by pool (slot in column A; a re-created slot is a new pool).

    Returns (owner per frame: index of the pool an event counts for, -1 for none), the lives
    (slot, created, destroyed, ring size) and rxq_pool per frame."""
    own = np.full(n, -1, np.int64)
    pp_ev = m["pp_alloc"] | m["pp_recycle"] | m["pp_create"] | m["pp_destroy"]
    lives = []                                  # [slot, created, destroyed, ring_size]
    for s in np.unique(a[pp_ev]):
        mine = pp_ev & (a == s)
        cr = m["pp_create"] & (a == s)
        k = np.cumsum(cr) - 1                   # which of the slot's pp_create an event follows
        first_cr = int(np.argmax(cr)) if cr.any() else n
        base = len(lives)
        if mine[:first_cr].any():              # the pool existed before the trace began
            lives.append([int(s), -1, n, 0])
            pre = 1
        else:
            pre = 0
        for j in np.flatnonzero(cr):
            lives.append([int(s), int(j), n, int(b[j])])
        idx = np.where(k >= 0, base + pre + k, base)
        own[mine] = idx[mine]
        for j in np.flatnonzero(mine & m["pp_destroy"]):
            life = lives[idx[j]]
            life[2] = min(life[2], int(j))
    # number the pools in the order the trace met them
    order = sorted(range(len(lives)), key=lambda q: (lives[q][1], q))
    renum = np.empty(max(len(lives), 1), np.int64)
    renum[order] = np.arange(len(order))
    lives = [lives[q] for q in order]
    own = np.where(own >= 0, renum[np.maximum(own, 0)], -1)
    # the RX queue's pool: the latest created, until it is destroyed
    rxq = np.full(n, -1, np.int32)
    cur = next((q for q, life in enumerate(lives) if life[1] < 0), -1)
    marks = sorted([(life[1], q, 1) for q, life in enumerate(lives) if life[1] >= 0]
                   + [(life[2], q, 0) for q, life in enumerate(lives) if life[2] < n])
    start = 0
    for j, q, is_create in marks:
        rxq[start:j] = cur
        if is_create:
            cur = q
        elif cur == q:
            cur = -1
        start = j
    rxq[start:] = cur
    # the destroy event itself: the pool is gone
    for q, life in enumerate(lives):
        if life[2] < n and rxq[life[2]] == q:
            rxq[life[2]] = -1
    return own, lives, rxq


def frames_from_trace(trace: Trace, rx_ring_size: int = 512, bins: int | None = None,
                      idle_pp_stats=None) -> Frames:
    """Replay ``trace`` into :class:`Frames` (numpy, vectorised; done once per trace).

    The trace follows rxq_def, the queue that carries traffic; the other seven RX queues' pools
    (set up and torn down with it, filled once, idle after) are not traced.  ``idle_pp_stats``
    (int64[11], PP_STAT_NAMES order: their ``page_pool_stats`` summed, as the board has them) is
    added to ethtool -S's rx_pp_* wherever rxq_def's pool is alive, so that the counters show
    what ``mvneta_ethtool_pp_stats`` sums.  (Their counts are the same at every open: each idle
    pool does the same fill; ``frames_from_board`` passes them.)

    Parameters
    ----------
    trace : the board's :class:`xdplab.trace.Trace` (only the ``n`` stored rows are used).
    rx_ring_size : RX descriptors in the ring (mvneta's default is 512).
    bins : time bins of the throughput plot (default: about 25 arriving frames a bin, 8..120 bins).
    """
    n = int(trace.n[0])
    if n == 0:
        raise ValueError("the trace is empty: create the Board with trace=N (e.g. Board(trace=20000)) "
                         "and run some packets before building views")
    ev = np.ascontiguousarray(trace.ev[:n])
    t = np.ascontiguousarray(trace.t_ns[:n], dtype=np.float64)
    code = ev[:, TR_EV]
    a, b, c, d, e = (ev[:, k] for k in (TR_A, TR_B, TR_C, TR_D, TR_E))
    m = {name: code == i for name, i in EV.items()}
    cpu_row = ev[:, TR_CPU] >= 0

    # ---- RX ring
    ring_state = _ring_states(ev, n, rx_ring_size, _dropped_descs(ev, m))
    proc_mask = m["rx_desc"] | m["napi_done"] | m["port_stop"]
    proc_desc = _ffill(proc_mask, np.where(m["rx_desc"], a, -1), -1).astype(np.int32)
    reset = m["port_open"]                     # _rxq_reset: the pointers start again at 0
    hw_pos = _ffill(m["nic_rx"] | reset, np.where(reset, 0, (a + 1) % rx_ring_size), 0).astype(np.int32)
    next_proc = _ffill(m["rx_desc"] | reset, np.where(reset, 0, (a + 1) % rx_ring_size), 0).astype(np.int32)
    refill_mask = m["rx_refill"] | m["rx_refill_fail"] | reset
    first_refill = _ffill(refill_mask, np.select([reset, m["rx_refill"]], [0, (a + 1) % rx_ring_size], a),
                          0).astype(np.int32)
    rx_busy = ev[:, TR_RX_BUSY].copy()

    # ---- page_pool: which pool each event counts for
    own, lives, rxq_pool = _pool_lives(m, a, b, n)
    fail = m["rx_refill_fail"]
    own = np.where(fail, rxq_pool, own)        # a failed refill found its queue's pool empty
    # occupancy: the RX queue's pool's snapshot (hardware rows carry zeros; another pool's own events
    # carry that pool's numbers): carry the last snapshot of the queue's pool forward
    # (and page_pool_destroy of the queue's pool: its ptr_ring and cache emptied into the page allocator)
    prev_pool = np.r_[np.int32(-1), rxq_pool[:-1]]
    snap = cpu_row & ((own < 0) | (own == rxq_pool) | (m["pp_destroy"] & (own == prev_pool)))
    pp_cache = _ffill(snap, ev[:, TR_PP_CACHE], 0)
    pp_ring = _ffill(snap, ev[:, TR_PP_RING], 0)
    pp_inflight = _ffill(snap, ev[:, TR_PP_INFLIGHT], 0)
    has_buf = (ring_state == DESC_NIC) | (ring_state == DESC_FILLED)
    pp_on_rx_ring = has_buf.sum(axis=1, dtype=np.int64)
    pp_in_skb = _count(m["skb_build"]) - _count(m["skb_free"])
    pp_on_tx_ring = _count(m["tx_submit"]) - _count(m["tx_done"])
    alloc, recyc = m["pp_alloc"], m["pp_recycle"]
    inc = np.zeros((n, len(PP_STAT_NAMES)), np.int64)
    inc[:, _ST["fast"]] = alloc & (c == 0)
    inc[:, _ST["refill"]] = alloc & (c == 1)
    inc[:, _ST["slow"]] = alloc & (c == 2)
    inc[:, _ST["empty"]] = (alloc & (c == 2)) | fail
    inc[:, _ST["cached"]] = recyc & (c == 0)
    inc[:, _ST["cache_full"]] = recyc & (c == 1) & (ev[:, TR_PP_CACHE] == PP_ALLOC_CACHE_SIZE)
    inc[:, _ST["ring"]] = recyc & (c == 1)
    inc[:, _ST["ring_full"]] = recyc & (c == 3)
    inc[:, _ST["released_refcnt"]] = recyc & (c == 2)
    back_inc = np.where(m["pp_destroy"], b, 0) + (recyc & ((c == 2) | (c == 3)))
    stats = np.zeros((n, len(PP_STAT_NAMES)), np.int64)     # ethtool -S: the pools alive at each frame
    pools = []
    frames_idx = np.arange(n)
    pages_from = np.zeros(n, np.int64)
    pages_to = np.zeros(n, np.int64)
    for q, (slot, created, destroyed, ring_size) in enumerate(lives):
        mine = own == q
        cum = np.cumsum(np.where(mine[:, None], inc, 0), axis=0)
        alive = (frames_idx >= created) & (frames_idx < destroyed)
        stats += np.where(alive[:, None], cum, 0)
        if idle_pp_stats is not None:
            stats += np.where(alive[:, None], np.asarray(idle_pp_stats, np.int64)[None, :], 0)
        idx = np.flatnonzero(mine)
        back = np.cumsum(np.where(mine, back_inc, 0))
        life = PoolLife(number=q + 1, slot=slot, created=created, destroyed=destroyed, ring_size=ring_size,
                        events=idx, stats=cum[idx], given_back=back[idx], inflight=ev[idx, TR_PP_INFLIGHT].copy())
        pools.append(life)
        q_rows = np.flatnonzero(rxq_pool == q)
        if q_rows.size and idx.size:
            k = np.searchsorted(idx, q_rows, side="right") - 1
            ok = k >= 0
            pages_to[q_rows[ok]] = life.given_back[k[ok]]
            pages_from[q_rows[ok]] = life.given_back[k[ok]] + life.inflight[k[ok]]

    # ---- xdp_buff of the current packet
    sync = m["dma_sync_for_cpu"]
    run, ver, skb = m["xdp_run"], m["xdp_verdict"], m["skb_build"]
    xb_mask = sync | run | ver | skb
    # after mvneta_swbm_rx_frame: data = hard_start + 256 + MH, data_end = data + len - MH - FCS
    data = np.select([sync, run, ver, skb], [c + MVNETA_MH_SIZE, c, d, c], 0)
    data_end = np.select([sync, run, ver, skb], [c + d - ETH_FCS_LEN, d, e, c + d], 0)
    stage = np.select([sync, run, ver, skb], [1, 2, 3, 4], 0)
    # a new packet starts at its FIRST rx_desc (a frame's other descriptors are its frags), and the poll's
    # xdp_buff is gone at napi_done: clear the view
    start = (m["rx_desc"] & ((c & MVNETA_RXD_FIRST_DESC) != 0)) | m["napi_done"] | m["port_stop"]
    xb_mask2 = xb_mask | start
    xb_page = _ffill(xb_mask2, np.where(start, -1, b), -1)
    xb_data = _ffill(xb_mask, data, 0)
    xb_data_end = _ffill(xb_mask, data_end, 0)
    # data_meta: xdp_run carries it; otherwise data + 1 (xdp_set_data_meta_invalid)
    xb_data_meta = _ffill(xb_mask, np.where(run, e, data + 1), 1)
    xb_stage = _ffill(xb_mask2, np.where(start, 0, stage), 0).astype(np.int8)
    action = np.where(c >= 0, np.minimum(c, 5), 5)
    xb_action = _ffill(ver | start, np.where(ver, action, -1), -1).astype(np.int8)
    # skb_shared_info of the current frame: mvneta_swbm_add_rx_fragment's events (a frame starts linear)
    frag = m["rx_add_frag"] & (c >= 0)
    xb_nr_frags = _ffill(frag | start, np.where(start, 0, c + 1), 0).astype(np.int16)
    xb_frags_size = _ffill(frag | start, np.where(start, 0, e), 0)
    kmax = int(c[frag].max()) + 1 if frag.any() else 0
    xb_frag_page = np.full((n, kmax), -1, np.int32)
    xb_frag_size = np.zeros((n, kmax), np.int32)
    for j in range(kmax):
        fj = frag & (c == j)
        xb_frag_page[:, j] = _ffill(fj | start, np.where(start, -1, b), -1)
        xb_frag_size[:, j] = _ffill(fj | start, np.where(start, 0, d), 0)
    xb_frag_page[np.arange(kmax)[None, :] >= xb_nr_frags[:, None]] = -1
    proc_status = _ffill(proc_mask, np.where(m["rx_desc"], c, 0), 0)

    # ---- the code that runs: a line of the listing of the event's context, -1 elsewhere
    ctx = _contexts(m, c, n)
    napi_line = {}
    act_idx = np.clip(c, 0, 5)
    act_idx = np.where((c < 0) | (c > 4), 5, act_idx)
    for name, (_src, ev_tab, ver_tab, lctx) in CODE_LISTINGS.items():
        ln = ev_tab[code].astype(np.int64)
        ln = np.where(ver, ver_tab[act_idx], ln)
        if lctx == CTX_SETUP:
            ln = np.where(m["xdp_setup"] & (c == 0), _SETUP_SWAP_LINE, ln)
        here = ctx == lctx
        # a context's first event sets its line, so nothing is carried over from another context
        lit = _ffill((ln >= 0) & here, ln, -1)
        napi_line[name] = np.where(here, lit, -1).astype(np.int16)
    poll = m["napi_poll"]
    budget = _ffill(poll, a, 0)
    rx_todo = _ffill(poll, b, 0)
    poll_index = _count(poll)
    rx_desc_count = _count(m["rx_desc"])
    at_poll = _ffill(poll, rx_desc_count, 0)
    rx_proc = rx_desc_count - at_poll
    rx_proc = np.where(poll_index > 0, rx_proc, 0)

    # ---- counters (ethtool -S names)
    first = m["nic_rx"] & ((d & MVNETA_RXD_FIRST_DESC) != 0)
    nxt = np.r_[code[1:], -1]
    tx_ok = ver & (c == XDP_TX) & (nxt == EV["tx_submit"])
    redir_ok = ver & (c == XDP_REDIRECT) & (nxt != EV["xdp_redirect_err"])
    xdp_drop = ver & (c != XDP_PASS) & (c != XDP_TX) & (c != XDP_REDIRECT)
    cnt = np.zeros((n, len(COUNTER_NAMES)), np.int64)
    col = {k: i for i, k in enumerate(COUNTER_NAMES)}
    cnt[:, col["good_frames_received"]] = _count(first)
    cnt[:, col["rx_discard"]] = _count(m["hw_discard"])
    cnt[:, col["rx_packets"]] = _count(ver & (c != XDP_PASS)) + _count(skb)
    cnt[:, col["rx_xdp_drop"]] = _count(xdp_drop)
    cnt[:, col["rx_xdp_pass"]] = _count(ver & (c == XDP_PASS))
    cnt[:, col["rx_xdp_tx"]] = _count(tx_ok)
    cnt[:, col["rx_xdp_tx_errors"]] = _count(ver & (c == XDP_TX) & ~(nxt == EV["tx_submit"]))
    cnt[:, col["rx_xdp_redirect"]] = _count(redir_ok)
    cnt[:, col["refill_errors"]] = _count(m["rx_refill_fail"])
    cnt[:, col["rx_pp_alloc_fast"]:] = stats

    # ---- throughput over simulated time
    # over the window in which frames arrive (the port setup before the first frame is not traffic)
    arrive = t[m["nic_rx"] | m["hw_discard"]]
    t0, t1 = (float(arrive.min()), float(arrive.max())) if arrive.size else (float(t.min()), float(t.max()))
    if t1 <= t0:
        t1 = t0 + 1.0
    if bins is None:
        bins = int(np.clip(arrive.size // 25, 8, 120))
    edges = np.linspace(t0, t1, bins + 1)
    width_s = (edges[1] - edges[0]) / 1e9

    def rate(mask):
        h, _ = np.histogram(t[mask], bins=edges)
        return h / width_s

    return Frames(
        n=n, rx_ring_size=int(rx_ring_size), ev=ev, t_ns=t,
        ring_state=ring_state, proc_desc=proc_desc, hw_pos=hw_pos, next_desc_to_proc=next_proc,
        first_to_refill=first_refill, rx_busy=rx_busy,
        pp_cache=pp_cache, pp_ring=pp_ring, pp_inflight=pp_inflight, pp_on_rx_ring=pp_on_rx_ring,
        pp_in_skb=pp_in_skb, pp_on_tx_ring=pp_on_tx_ring, pages_from_allocator=pages_from,
        pages_to_allocator=pages_to, pp_stats=stats, pools=tuple(pools), rxq_pool=rxq_pool,
        xb_page=xb_page, xb_data=xb_data, xb_data_end=xb_data_end, xb_data_meta=xb_data_meta,
        xb_stage=xb_stage, xb_action=xb_action, xb_nr_frags=xb_nr_frags, xb_frags_size=xb_frags_size,
        xb_frag_page=xb_frag_page, xb_frag_size=xb_frag_size, proc_status=proc_status,
        ctx=ctx, napi_line=napi_line, budget=budget, rx_todo=rx_todo, rx_proc=rx_proc, poll_index=poll_index,
        counters=cnt,
        tp_t_us=(edges[:-1] + edges[1:]) / 2 / 1000.0, tp_rx_pps=rate(first), tp_xdp_pps=rate(ver),
        tp_discard_pps=rate(m["hw_discard"]),
    )


def board_rx_ring_size(board) -> int:
    """The board's RX ring size (``ethtool -g``'s RX), from whichever of its attributes says it."""
    for get in (lambda: board.rx_ring, lambda: board.state.rxd.shape[0], lambda: board.state.rxq.size[0]):
        try:
            return int(get())
        except (AttributeError, TypeError, IndexError):
            continue
    return 512                                  # mvneta's default (MVNETA_MAX_RXD)


def frames_from_board(board, bins: int | None = None) -> Frames:
    """:func:`frames_from_trace` for an ``xdplab.Board`` (its trace and RX ring size)."""
    idle = None
    r = getattr(getattr(board, "s", None), "r", None)
    if r is not None and hasattr(L, "RXQ_NUMBER"):
        pools = [int(p) for p in r[L.R_RXQ_POOL + 1:L.R_RXQ_POOL + L.RXQ_NUMBER] if p >= 0]
        if pools:
            idle = board.s.pp[pools][:, PPF_STATS:PPF_STATS + 11].sum(axis=0)
    return frames_from_trace(board.trace, rx_ring_size=board_rx_ring_size(board), bins=bins, idle_pp_stats=idle)


# ---------------------------------------------------------------- XDP_REDIRECT (issue 22): where a frame waits
@dataclass
class RedirectState:
    """Per-frame state of the redirect path, replayed from the redirect events of a trace.

    Devices are named by ifindex (``ifindexes``; the trace carries no namespace: a veth in another
    namespace may share an ifindex with a root-namespace device, see ``names``).  For frame ``i``
    and device column ``k``:

    * ``bq[i, k]``: frames in the devmap bulk queue towards that device (``bq_enqueue`` says how
      many after each enqueue; ``xdp_devmap_xmit`` empties it: sent or freed);
    * ``ring[i, k]``: frames in the device's veth ``ptr_ring`` (``veth_ring`` after each produce,
      less what each ``veth_poll`` of that device consumed);
    * ``sent`` / ``drops``: ``xdp_devmap_xmit``'s sent and drops towards it so far;
    * ``redirected``: ``xdp_redirect`` events from it (successful redirects by its program),
      ``redirect_err``: ``xdp_redirect_err`` events from it;
    * ``ndo_done``: eth0's TX completions of ``MVNETA_TYPE_XDP_NDO`` buffers so far (each unmapped
      and its frame returned: the page going home through its memory model).
    """

    ifindexes: tuple
    bq: np.ndarray
    ring: np.ndarray
    sent: np.ndarray
    drops: np.ndarray
    redirected: np.ndarray
    redirect_err: np.ndarray
    ndo_done: np.ndarray
    names: dict

    @property
    def active(self) -> bool:
        return len(self.ifindexes) > 0

    def row(self, i: int) -> dict:
        """{ifindex: {column: value}} at frame i."""
        return {ix: {k: int(getattr(self, k)[i, c]) for k in ("bq", "ring", "sent", "drops", "redirected",
                                                               "redirect_err")}
                for c, ix in enumerate(self.ifindexes)}


REDIRECT_EVENTS = ("xdp_redirect", "xdp_redirect_err", "bq_enqueue", "xdp_devmap_xmit", "veth_ring", "veth_poll")


def redirect_state(frames: Frames, names: dict | None = None) -> RedirectState:
    """Replay the redirect events of ``frames.ev`` (a loop over those events only, then forward fills)."""
    ev = frames.ev
    n = frames.n
    code = ev[:, TR_EV]
    a, b, c, d = ev[:, TR_A], ev[:, TR_B], ev[:, TR_C], ev[:, TR_D]
    want = np.isin(code, [EV[k] for k in REDIRECT_EVENTS])
    idx = np.flatnonzero(want)
    ifx = set()
    for i in idx:
        e = code[i]
        if e in (EV["xdp_redirect"], EV["xdp_redirect_err"]):
            ifx.add(int(a[i]))
            if b[i] > 0 and e == EV["xdp_redirect"]:
                ifx.add(int(b[i]))
        elif e == EV["bq_enqueue"] or e == EV["veth_ring"] or e == EV["veth_poll"]:
            ifx.add(int(a[i]))
        elif e == EV["xdp_devmap_xmit"]:
            ifx.add(int(b[i]))
    ifindexes = tuple(sorted(x for x in ifx if x > 0))
    col = {x: k for k, x in enumerate(ifindexes)}
    m = len(ifindexes)
    out = {k: np.zeros((n, m), np.int64) for k in ("bq", "ring", "sent", "drops", "redirected", "redirect_err")}
    cur = {k: np.zeros(m, np.int64) for k in out}
    last = 0
    for i in idx:
        for k in out:                          # carry the state forward to this event
            out[k][last:i] = cur[k]
        e = code[i]
        if e == EV["xdp_redirect"] and a[i] in col:
            cur["redirected"][col[a[i]]] += 1
        elif e == EV["xdp_redirect_err"] and a[i] in col:
            cur["redirect_err"][col[a[i]]] += 1
        elif e == EV["bq_enqueue"] and a[i] in col:
            cur["bq"][col[a[i]]] = c[i]
        elif e == EV["xdp_devmap_xmit"] and b[i] in col:
            k = col[b[i]]
            cur["bq"][k] = 0
            cur["sent"][k] += c[i]
            cur["drops"][k] += d[i]
        elif e == EV["veth_ring"] and a[i] in col:
            cur["ring"][col[a[i]]] = c[i]
        elif e == EV["veth_poll"] and a[i] in col:
            k = col[a[i]]
            cur["ring"][k] = max(cur["ring"][k] - b[i], 0)
        last = i
    for k in out:
        out[k][last:] = cur[k]
    from xdplab.nic.mvneta import MVNETA_TYPE_XDP_NDO
    ndo = np.cumsum((code == EV["tx_done"]) & (c == MVNETA_TYPE_XDP_NDO))
    return RedirectState(ifindexes=ifindexes, ndo_done=ndo, names=dict(names or {}), **out)


def board_netdev_names(board) -> dict:
    """{ifindex: "name" or "name / name@netns"} of a board's devices (the trace names devices by ifindex only)."""
    out = {}
    try:
        devs = board.devices()
    except AttributeError:
        return out
    for dv in devs:
        nm = dv.name + (f"@{dv.netns}" if dv.netns else "")
        out[dv.ifindex] = nm if dv.ifindex not in out else f"{out[dv.ifindex]} / {nm}"
    return out


# ---------------------------------------------------------------- the TX ring (issues 22 item 5, 24 item 4)
# TX descriptor states (TxRingView's colours): free; queued by the driver but not yet announced to the MAC
# (in txq->pending, the doorbell not rung), per buffer type; taken by the MAC (announced, being sent), per
# type; sent, waiting for mvneta_txq_done to reclaim it (unmap, return the frame)
TX_FREE = 0
TX_QUEUED = 1           # + type offset: TX_QUEUED + k for k in TX_TYPES order
TX_ON_NIC = 4           # + type offset
TX_SENT = 7
#: the buffer types in MVNETA_TYPE_* order from MVNETA_TYPE_SKB (1): SKB, XDP_TX, XDP_NDO
TX_TYPE_NAMES = ("SKB", "XDP_TX", "XDP_NDO")
TX_STATE_NAMES = ("free",) + tuple(f"{t} queued (doorbell not rung)" for t in TX_TYPE_NAMES) + \
    tuple(f"{t}, MAC sending" for t in TX_TYPE_NAMES) + ("sent, awaiting mvneta_txq_done",)
TX_EVENTS = ("tx_submit", "tx_doorbell", "tx_hw_sent", "tx_done")
#: events whose column B is a page (the page a frame "follows", ``followed_page``)
PAGE_EVENTS = ("nic_rx", "rx_desc", "dma_sync_for_cpu", "xdp_run", "xdp_verdict", "pp_alloc", "pp_recycle",
               "rx_refill", "tx_submit", "tx_done", "skb_build", "skb_free", "xdp_exception", "page_alloc",
               "page_free", "dma_sync_for_device", "bq_enqueue", "veth_ring", "rx_add_frag", "tx_hw_sent")


@dataclass
class TxRingState:
    """eth0's TX queue (``struct mvneta_tx_queue``, txq 0) replayed from the trace's TX events.

    ``tx_submit`` (one per buffer: ``mvneta_xdp_submit_frame`` writes one descriptor per buffer of a
    multi-buffer frame, column E FIRST/LAST) queues a descriptor; ``tx_doorbell``
    (``mvneta_txq_pend_desc_add``) hands the queued ones to the MAC, which takes each
    (``tx_hw_sent``, column C: when its last bit is out); from that time until ``tx_done``
    (``mvneta_txq_bufs_free``: unmapped if XDP_NDO, the frame returned through its memory model) the
    descriptor is sent and awaits clean-up.  The "sent" moment is the first frame whose time reaches
    the MAC's completion time (the trace records no event then: it is the hardware's clock).

    Per frame i: ``states[index[i]]`` (uint8[size], ``TX_*``; ``index`` -1: all free), ``count``
    (txq->count, descriptors in use), ``pending`` (queued, not yet announced: what the next doorbell
    announces), ``doorbells`` (register writes so far) and ``last_doorbell`` (descriptors the latest
    announced), ``submitted`` / ``done`` per type (cumulative descriptors, ``TX_TYPE_NAMES`` order),
    ``frames_sent`` (FIRST descriptors of XDP_TX / XDP_NDO submitted: frames, not buffers).
    ``uses``: int64[k, 6] one row per descriptor use: desc, page, type, submit frame, done frame (n if
    not done in the trace), frame group (the descriptors of one frame share it).
    """

    size: int
    states: np.ndarray
    index: np.ndarray
    count: np.ndarray
    pending: np.ndarray
    doorbells: np.ndarray
    last_doorbell: np.ndarray
    submitted: np.ndarray
    done: np.ndarray
    frames_sent: np.ndarray
    uses: np.ndarray

    def at(self, i: int) -> np.ndarray:
        """Descriptor states at frame i (uint8[size])."""
        k = int(self.index[i])
        return self.states[k] if k >= 0 else np.zeros(self.size, np.uint8)

    def descs_of_page(self, i: int, page: int) -> np.ndarray:
        """The descriptors holding ``page``'s frame at frame i: every buffer of the frame one of whose
        buffers is that page (a frags frame's head and frags), submitted and not yet reclaimed."""
        u = self.uses
        if page < 0 or u.shape[0] == 0:
            return np.zeros(0, np.int64)
        if not hasattr(self, "_by_page"):
            # the uses of each page, and of each frame (group): a lookup instead of a scan per frame
            order = np.argsort(u[:, 1], kind="stable")
            pages, starts = np.unique(u[order, 1], return_index=True)
            self._by_page = dict(zip(pages.tolist(), np.split(order, starts[1:])))
            gorder = np.argsort(u[:, 5], kind="stable")
            groups, gstarts = np.unique(u[gorder, 5], return_index=True)
            self._by_group = dict(zip(groups.tolist(), np.split(gorder, gstarts[1:])))
        mine = self._by_page.get(int(page))
        if mine is None:
            return np.zeros(0, np.int64)
        live = mine[(u[mine, 3] <= i) & (i < u[mine, 4])]
        rows = [r for g in np.unique(u[live, 5]).tolist() for r in self._by_group[g]
                if u[r, 3] <= i < u[r, 4]]
        return np.sort(u[np.asarray(rows, np.int64), 0]) if rows else np.zeros(0, np.int64)


def followed_page(frames: Frames) -> np.ndarray:
    """The page the player follows at each frame: the page of the frame's own event when it names one
    (``PAGE_EVENTS``; a TX completion of a frag names none), else the last one named (int64[n])."""
    code = frames.ev[:, TR_EV]
    b = frames.ev[:, TR_B]
    has = np.isin(code, [EV[k] for k in PAGE_EVENTS]) & (b >= 0)
    return _ffill(has, b, -1).astype(np.int64)


def tx_ring_state(frames: Frames, tx_ring_size: int = 1024) -> TxRingState:
    """Replay eth0's TX queue from ``frames.ev`` (a loop over the TX events only)."""
    from xdplab.nic.mvneta import MVNETA_TYPE_SKB
    size = int(tx_ring_size)
    ev, n = frames.ev, frames.n
    code = ev[:, TR_EV]
    a, b, c, e = ev[:, TR_A], ev[:, TR_B], ev[:, TR_C], ev[:, TR_E]
    want = np.isin(code, [EV[k] for k in TX_EVENTS])
    idx = np.flatnonzero(want)
    if idx.size and int(a[idx][np.isin(code[idx], [EV["tx_submit"], EV["tx_done"], EV["tx_hw_sent"]])].max(
            initial=-1)) >= size:
        raise ValueError(f"the trace names TX descriptors up to {int(a[idx].max())} but the ring has {size}: "
                         "pass the board's tx_ring size")
    tmax = np.maximum.accumulate(frames.t_ns)
    trans = []                 # (frame, order, desc, state)
    uses = []
    cur_use = {}               # desc -> row in uses
    sent_at = {}               # desc -> frame when the MAC has finished it
    group = -1
    sub_e, ty_of = EV["tx_submit"], {}
    for seq, i in enumerate(idx):
        i = int(i)
        ec = code[i]
        if ec == sub_e:
            d = int(a[i])
            t = int(c[i]) - MVNETA_TYPE_SKB
            t = t if 0 <= t < 3 else 1
            if e[i] & 1 or not e[i] & 4:       # a FIRST buffer (no bit 4: a trace without the column) starts a frame
                group += 1
            cur_use[d] = len(uses)
            uses.append([d, int(b[i]), t, i, n, group])
            ty_of[d] = t
            trans.append((i, seq, d, TX_QUEUED + t))
        elif ec == EV["tx_hw_sent"]:
            d = int(a[i])
            trans.append((i, seq, d, TX_ON_NIC + ty_of.get(d, 1)))
            k = int(np.searchsorted(tmax, float(c[i]), side="left"))
            sent_at[d] = max(k, i + 1)
        elif ec == EV["tx_done"]:
            d = int(a[i])
            s = sent_at.pop(d, None)
            if s is not None and s < i:
                trans.append((s, -1, d, TX_SENT))
            trans.append((i, seq, d, TX_FREE))
            u = cur_use.pop(d, None)
            if u is not None:
                uses[u][4] = i
    for d, s in sent_at.items():               # sent, not reclaimed before the trace ends
        if s < n:
            trans.append((s, -1, d, TX_SENT))
    trans.sort()
    frames_at = sorted({t[0] for t in trans})
    states = np.zeros((len(frames_at), size), np.uint8)
    row = np.zeros(size, np.uint8)
    k = -1
    last = -1
    for f, _o, d, s in trans:
        if f != last:
            if k >= 0:
                states[k] = row
            k += 1
            last = f
        row[d] = s
    if k >= 0:
        states[k] = row
    index = np.full(n, -1, np.int64)
    if frames_at:
        mark = np.zeros(n, bool)
        mark[frames_at] = True
        index = np.cumsum(mark) - 1
    sub = code == sub_e
    done_m = code == EV["tx_done"]
    bell = code == EV["tx_doorbell"]
    typ = np.clip(c - MVNETA_TYPE_SKB, 0, 2)
    submitted = np.stack([_count(sub & (typ == t)) for t in range(3)], axis=1)
    done = np.stack([_count(done_m & (typ == t)) for t in range(3)], axis=1)
    return TxRingState(
        size=size, states=states, index=index,
        count=_count(sub) - _count(done_m), pending=_count(sub) - np.cumsum(np.where(bell, a, 0)),
        doorbells=_count(bell), last_doorbell=_ffill(bell, a, 0),
        submitted=submitted, done=done, frames_sent=_count(sub & (((e & 1) != 0) | ((e & 4) == 0)) & (typ > 0)),
        uses=np.asarray(uses, np.int64).reshape(-1, 6))


def board_tx_ring_size(board) -> int:
    """The board's TX ring size (``ethtool -g``'s TX)."""
    for get in (lambda: board.tx_ring, lambda: board.s.txd.shape[0], lambda: board.state.txd.shape[0]):
        try:
            return int(get())
        except (AttributeError, TypeError, IndexError):
            continue
    from xdplab.nic.mvneta import MVNETA_MAX_TXD
    return MVNETA_MAX_TXD


def redirect_page_places(frames: Frames, ifindexes: tuple, page: np.ndarray) -> np.ndarray:
    """Where the followed page (``page[i]``, ``followed_page``) waits on the redirect path at frame i:
    int64[n, 3] = (device column in ``ifindexes`` or -1, 1 devmap bulk queue / 2 veth ring / 0 neither,
    slot: its position in the bulk queue, 0-based; -1 in a ring).

    A ``bq_enqueue`` puts the page in slot ``count - 1`` of the queue towards its device until the
    next ``xdp_devmap_xmit`` towards that device empties it; a ``veth_ring`` puts it at the tail of
    the device's ring until a ``veth_poll`` of that device consumes it (in order: a ptr_ring)."""
    ev, n = frames.ev, frames.n
    code = ev[:, TR_EV]
    a, b, c = ev[:, TR_A], ev[:, TR_B], ev[:, TR_C]
    col = {int(x): k for k, x in enumerate(ifindexes)}
    spans = {}                                  # page -> [(start, end, col, where, slot)]
    bq = {k: [] for k in col.values()}          # (page, start, slot)
    ring = {k: [] for k in col.values()}

    def close(lst, i, k, where):
        for p, s, slot in lst:
            spans.setdefault(p, []).append((s, i, k, where, slot))
        lst.clear()

    for i in np.flatnonzero(np.isin(code, [EV[x] for x in ("bq_enqueue", "xdp_devmap_xmit", "veth_ring",
                                                             "veth_poll")])):
        i = int(i)
        e = code[i]
        if e == EV["bq_enqueue"] and int(a[i]) in col:
            bq[col[int(a[i])]].append((int(b[i]), i, int(c[i]) - 1))
        elif e == EV["xdp_devmap_xmit"] and int(b[i]) in col:
            close(bq[col[int(b[i])]], i, col[int(b[i])], 1)
        elif e == EV["veth_ring"] and int(a[i]) in col:
            ring[col[int(a[i])]].append((int(b[i]), i, -1))
        elif e == EV["veth_poll"] and int(a[i]) in col:
            k = col[int(a[i])]
            q = ring[k]
            m = min(int(b[i]), len(q))
            close(q[:m], i, k, 2)
            del q[:m]
    for k in col.values():
        close(bq[k], n, k, 1)
        close(ring[k], n, k, 2)
    out = np.zeros((n, 3), np.int64)
    out[:, 0] = -1
    for p, lst in spans.items():
        for s, e_, k, where, slot in lst:
            # the page's frames in [s, e_) where the followed page is p
            rows = np.arange(s, e_)
            rows = rows[page[s:e_] == p]
            out[rows] = (k, where, slot)
    return out
