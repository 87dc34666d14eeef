"""veth's XDP paths (drivers/net/veth.c, Linux 6.1): a redirect target and a NAPI source.

A veth pair is two devices whose transmit is the other's receive.  As a redirect target,
``veth_ndo_xdp_xmit`` (``ndo_xdp_xmit``) puts frames into the **peer's** RX queue ring
(a ``ptr_ring`` of ``VETH_RING_SIZE`` = 256) and, with ``XDP_XMIT_FLUSH``, schedules the
peer's NAPI.  It can only do that when the peer's NAPI exists, i.e. the peer is up and has
an XDP program attached or GRO enabled (``ethtool -K veth1 gro on``); otherwise the whole
bulk fails with ``-ENXIO``: the devmap frees every frame, ``xdp:xdp_devmap_xmit`` says
``drops=N err=-6``, and the only counter that moves is the *sending* veth's ``tx_dropped``
(``priv->dropped``).  The receiving side's counters stay at 0: the trap of the talk's
veth + xdp_redirect test recipe.  A frame longer than the peer's MTU + 14 + 4, or a full
ring, stops the bulk there (the rest is counted in the peer's ``tx_queue_0_xdp_xmit_errors``).

``veth_poll`` (the peer's NAPI, on the CPU that scheduled it: CPU 0) takes up to 64 frames
from the ring; ``veth_xdp_rcv_one`` runs the device's own program on each (with
``xdp_set_return_frame_no_direct``: a frame from mvneta's page_pool goes back to its pool's
ptr_ring, never into the alloc cache of a NAPI that is not running):

- ``XDP_PASS``: up the peer's namespace stack in batches of 16 (``__xdp_build_skb_from_frame``;
  6.1 releases a page_pool page from its pool there, ``xdp_release_frame``, so the skb frees it
  to the page allocator);
- ``XDP_TX``: into the poll's own bulk queue (16), sent back to the peer with
  ``veth_xdp_xmit`` after the loop (``veth_xdp_flush``), ``xdp_tx`` / ``xdp_tx_errors``;
- ``XDP_REDIRECT``: ``xdp_do_redirect`` from this device, ``xdp_do_flush`` after the loop;
- ``XDP_DROP``/``XDP_ABORTED``/invalid: ``xdp_return_frame`` through the frame's memory model.

A frame keeps the memory model it was converted with (``xdp->rxq->mem = frame->mem``):
a page of mvneta's page_pool that travels eth0 -> veth0 -> veth1 and is dropped or sent
back out of eth0 returns to that pool.

The skb path (6.1): a frame the namespace's stack sends into a veth (``NetDev.inject``: a sender
pinned to CPU 0, e.g. an AF_PACKET socket's ``packet_snd``, whose skb has a kmalloc'ed head and
``LL_RESERVED_SPACE`` = 16 bytes of headroom) goes through ``dev_queue_xmit`` to ``veth_xmit``.  If the
peer's RX queue has its NAPI and the skb is eligible for it, ``veth_forward_skb`` puts the skb into the
peer's ptr_ring (``veth_xdp_rx``; a full ring drops it: the sender's ``tx_dropped``) and
``__veth_xdp_flush`` schedules the peer's NAPI, which runs in the softirq that ``dev_queue_xmit``'s
``rcu_read_unlock_bh`` starts: one poll per send.  Otherwise the skb goes to the peer's stack
(``__netif_rx``).  Eligible (``veth_skb_is_eligible_for_gro``): the sender has no TSO, which
``veth_fix_features`` ensures while the peer has an XDP program; with GRO alone on the peer, a sender
with veth's default TSO and a peer without ``rx-udp-gro-forwarding`` gets the ``__netif_rx`` path.
``__dev_forward_skb`` drops an skb for a peer that is down or whose MTU it exceeds (the peer's
``rx_dropped``, via ``dev_core_stats_rx_dropped_inc``, and the sender's ``tx_dropped``).

In the peer's ``veth_poll``, ``veth_xdp_rcv_skb`` runs the program on an skb:
``veth_convert_skb_to_xdp_buff`` first copies it into a new page (``alloc_page`` + ``build_skb``,
``VETH_XDP_HEADROOM`` of headroom) when it is shared, its head is locked (kmalloc'ed or cloned), it has
frags, or less than ``XDP_PACKET_HEADROOM`` of headroom: for every skb a local sender makes.  Then
``XDP_PASS`` hands the skb to GRO, ``XDP_DROP`` frees it, and ``XDP_TX`` / ``XDP_REDIRECT`` take a page
reference (``veth_xdp_get``), consume the skb and send the buffer as an xdp_frame of veth's own memory
model, ``MEM_TYPE_PAGE_SHARED`` (returned with ``put_page``: the copy's page goes back to the
allocator after eth0's TX completion).  ``xdp_bytes`` counts ``skb->len`` after ``eth_type_trans``
pulled the Ethernet header (14 bytes less than the frame).

Simplified: one RX queue; the copy is of the linear part only (frames up to 3518 bytes:
``NetDev.inject`` refuses longer ones); the ``__netif_rx`` backlog (``netdev_max_backlog``) is not
modelled (the skb reaches ``netif_receive_skb`` at once, before the sender's next frame, as
``process_backlog`` in that softirq would); the kmalloc'ed head of the sender's skb is a page of the
lab's allocator; the peer's own netns stack is the board's one stack model (an skb that veth passes
up is counted and freed by ``xdplab.netstack`` as eth0's).
"""

from __future__ import annotations

import numpy as np

from .._layout import R_IN_SOFTIRQ, R_INJ_ERRS, R_NAPI_DEV, R_VETH_PS, R_WIRE_FLEN, R_XDP_NO_DIRECT
from .._twospeed import kernel
from ..cost import (C_NAPI_POLL, C_PP_RECYCLE_RING, C_PP_REFILL_PAGE, C_TXQ_LOCK, C_XDP_BUFF_PREP, C_XDP_STATS,
                    charge)
from ..errno import EINVAL, ENOBUFS, ENOSPC, ENXIO, EOVERFLOW
from .._bytes import copy_bytes
from ..mm import PG_CPU, PG_XDP_FRAME, PGF_FRAG0, PGF_FRAG_NR, PGF_PP, PGF_WHERE, alloc_page, cpu_read, cpu_write, get_page, put_page
from ..netstack import (SKB_FREE_CONSUMED, SKB_FREE_OTHER, SKBF_DATA, SKBF_HEAD_FRAG, SKBF_LEN, SKBF_NR_FRAGS,
                        SKBF_PAGE, build_skb, eth_type_trans, kfree_skb, napi_gro_flush, napi_gro_receive,
                        netif_receive_skb)
from ..page_pool import page_pool_release_page
from ..xdp import (__xdp_build_skb_from_frame, xdp_return_buff, XDPF_DATA, XDPF_FLAGS, XDPF_LEN, XDPF_MEM_TYPE, xdp_convert_buff_to_frame,
                   xdp_convert_frame_to_buff, xdp_frame_field, xdp_get_frame_len, xdp_return_frame,
                   xdp_update_frame_from_buff)
from ..xdp_abi import (MEM_TYPE_PAGE_POOL, MEM_TYPE_PAGE_SHARED, PAGE_SIZE, SKB_SHARED_INFO_SIZE, XDP_PACKET_HEADROOM,
                       XB_DATA, XB_DATA_END, XB_DATA_META, XB_FLAGS, XB_FRAGS_SIZE, XB_FRAME_SZ, XB_HARD_START,
                       XB_MEM_ID, XB_MEM_TYPE, XB_NR_FRAGS, XB_PAGE, XB_EGRESS_IFINDEX, XB_INGRESS_IFINDEX, XB_RX_QUEUE_INDEX,
                       XDP_ABORTED, XDP_DROP, XDP_FLAGS_HAS_FRAGS, XDP_PASS, XDP_REDIRECT, XDP_TX)

__all__ = ["veth_xmit", "veth_forward_skb", "veth_xdp_rx", "veth_xdp_rcv_skb", "veth_convert_skb_to_xdp_buff",
           "veth_inject_one", "__dev_forward_skb", "__veth_xdp_flush", "__ptr_ring_produce", "veth_xdp_xmit", "veth_ndo_xdp_xmit", "veth_poll", "veth_xdp_rcv", "veth_xdp_rcv_one",
           "veth_xdp_flush", "veth_xdp_flush_bq", "veth_xdp_tx", "veth_napi_update", "veth_napi_del",
           "veth_xdp_set", "veth_napi_run", "VETH_XDP_HEADROOM", "PS_XDP_REDIRECT", "PS_XDP_TX", "PS_XDP_DROPS", "PS_RX_DROPS",
           "PS_XDP_BYTES"]

VETH_XDP_HEADROOM = 256 + 2      # XDP_PACKET_HEADROOM + NET_IP_ALIGN (2 on arm64, which keeps the default)
NAPI_POLL_WEIGHT = 64
# veth_poll's struct veth_stats (poll-local), slots of b.r from R_VETH_PS
PS_XDP_REDIRECT = 0
PS_XDP_TX = 1
PS_XDP_DROPS = 2
PS_RX_DROPS = 3
PS_XDP_BYTES = 4
NET_RX_SUCCESS = 0
NET_RX_DROP = 1
NET_XMIT_DROP = 1
LL_RESERVED_SPACE = 16           # ((hard_header_len 14 + needed_headroom 0) & ~15) + 16: a sender's headroom
# SKB_WITH_OVERHEAD(PAGE_SIZE - VETH_XDP_HEADROOM): the linear part veth_convert_skb_to_xdp_buff copies
VETH_MAX_HEAD_SIZE = PAGE_SIZE - VETH_XDP_HEADROOM - SKB_SHARED_INFO_SIZE


@kernel
def __veth_xdp_flush(b, rq):
    """__veth_xdp_flush(rq): schedule the ring owner's NAPI unless it is already (rx_notify_masked)."""
    if b.nd[rq, ND_RX_NOTIFY_MASKED] == 0 and b.nd[rq, ND_NAPI_SCHED] == 0:
        b.nd[rq, ND_RX_NOTIFY_MASKED] = 1
        b.nd[rq, ND_NAPI_SCHED] = 1


@kernel
def __ptr_ring_produce(b, rq, frame):
    """__ptr_ring_produce(&rq->xdp_ring, veth_xdp_to_ptr(frame)): 0, or -ENOSPC when the ring's 256
    slots are full (the caller holds the producer lock)."""
    if b.nd[rq, ND_RING_COUNT] >= VETH_RING_SIZE:
        return -ENOSPC
    charge(b, C_PP_RECYCLE_RING)               # one slot store (the lock is held)
    t = b.nd[rq, ND_RING_TAIL]
    b.ndq[rq, NDQ_RING + t] = frame
    b.nd[rq, ND_RING_TAIL] = t + 1 if t + 1 < VETH_RING_SIZE else 0
    b.nd[rq, ND_RING_COUNT] += 1
    b.pg[frame // PAGE_SIZE, PGF_WHERE] = PG_XDP_FRAME
    netdev_trace(b, EV_VETH_RING, b.nd[rq, ND_IFINDEX], frame // PAGE_SIZE, b.nd[rq, ND_RING_COUNT], 0, 0)
    return 0


@kernel
def veth_xdp_xmit(b, dev, qrow, qcol, n, flags, ndo_xmit):
    """veth_xdp_xmit(dev, n, frames, flags, ndo_xmit): the frames ``b.ndq[qrow, qcol:qcol+n]`` into
    the ring of ``dev``'s peer.  The number taken, -EINVAL (flags) or -ENXIO (no peer, or the
    peer's NAPI is off: no XDP program and no GRO, or down)."""
    if flags & ~1:
        return -EINVAL
    rcv = b.nd[dev, ND_PEER]
    if rcv < 0 or b.nd[rcv, ND_NAPI] == 0:     # !rcu_access_pointer(rq->napi)
        return -ENXIO
    max_len = b.nd[rcv, ND_MTU] + b.nd[rcv, ND_HARD_HEADER_LEN] + VLAN_HLEN
    charge(b, C_TXQ_LOCK)                      # spin_lock(&rq->xdp_ring.producer_lock)
    nxmit = 0
    for i in range(n):
        frame = b.ndq[qrow, qcol + i]
        if xdp_get_frame_len(b, frame) > max_len or __ptr_ring_produce(b, rcv, frame) != 0:
            break
        nxmit += 1
    if flags & 1:                              # XDP_XMIT_FLUSH
        __veth_xdp_flush(b, rcv)
    if ndo_xmit:
        b.nd[rcv, ND_RQ_PEER_TQ_XDP_XMIT] += nxmit
        b.nd[rcv, ND_RQ_PEER_TQ_XDP_XMIT_ERR] += n - nxmit
    return nxmit


@kernel
def veth_ndo_xdp_xmit(b, dev, qrow, qcol, n, flags):
    """veth_ndo_xdp_xmit: veth_xdp_xmit, and a failure of the whole bulk counts in the sender's
    priv->dropped (ip -s link: tx_dropped)."""
    err = veth_xdp_xmit(b, dev, qrow, qcol, n, flags, True)
    if err < 0:
        b.nd[dev, ND_DROPPED] += n
    return err


@kernel
def veth_xdp_flush_bq(b, rq):
    """veth_xdp_flush_bq: XDP_TX frames of this poll to the peer (no flush flag), the rest freed."""
    cnt = b.nd[rq, ND_TXBQ_COUNT]
    sent = veth_xdp_xmit(b, rq, rq, NDQ_TXBQ, cnt, 0, False)
    err = 0
    if sent < 0:
        err = sent
        sent = 0
    for i in range(sent, cnt):
        xdp_return_frame(b, b.ndq[rq, NDQ_TXBQ + i])
    netdev_trace(b, EV_XDP_BULK_TX, b.nd[rq, ND_IFINDEX], sent, cnt - sent, err, 0)
    b.nd[rq, ND_RQ_XDP_TX] += sent
    b.nd[rq, ND_RQ_XDP_TX_ERR] += cnt - sent
    b.nd[rq, ND_TXBQ_COUNT] = 0


@kernel
def veth_xdp_flush(b, rq):
    """veth_xdp_flush: send the XDP_TX bulk, then wake the peer's NAPI if it has a program."""
    veth_xdp_flush_bq(b, rq)
    rcv = b.nd[rq, ND_PEER]
    if rcv < 0 or b.nd[rcv, ND_PROG] == 0:
        return
    __veth_xdp_flush(b, rcv)


@kernel
def veth_xdp_tx(b, rq, xdp):
    """veth_xdp_tx: XDP_TX into the poll's bulk queue. 0 or -EOVERFLOW."""
    frame = xdp_convert_buff_to_frame(b, xdp)
    if frame < 0:
        return -EOVERFLOW
    if b.nd[rq, ND_TXBQ_COUNT] == VETH_XDP_TX_BULK_SIZE:
        veth_xdp_flush_bq(b, rq)
    c = b.nd[rq, ND_TXBQ_COUNT]
    b.ndq[rq, NDQ_TXBQ + c] = frame
    b.nd[rq, ND_TXBQ_COUNT] = c + 1
    return 0


@kernel
def veth_xdp_rcv_one(b, rq, frame):
    """veth_xdp_rcv_one: run the device's program on a frame from the ring; the frame if it goes up
    the stack (XDP_PASS, or no program: GRO only), else -1 (consumed)."""
    if b.nd[rq, ND_PROG] == 0:
        return frame
    xdp = b.xdpx[0]
    charge(b, C_XDP_BUFF_PREP)
    xdp_convert_frame_to_buff(b, frame, xdp)   # xdp->rxq->mem stays the frame's (MEM_TYPE_PAGE_POOL ...)
    xdp[XB_INGRESS_IFINDEX] = b.nd[rq, ND_IFINDEX]
    xdp[XB_RX_QUEUE_INDEX] = 0
    xdp[XB_EGRESS_IFINDEX] = 0
    act = _run_prog_on(b, xdp, b.nd[rq, ND_PROG_KIND], b.nd[rq, ND_PROG_ID])
    charge(b, C_XDP_STATS)
    ps = R_VETH_PS
    if act == XDP_PASS:
        if xdp_update_frame_from_buff(b, xdp, frame) < 0:
            xdp_return_frame(b, frame)
            return -1
        return frame
    if act == XDP_TX:
        if veth_xdp_tx(b, rq, xdp) < 0:
            netdev_trace(b, EV_XDP_EXCEPTION, -1, frame // PAGE_SIZE, act, 0, 0)
            b.r[ps + PS_RX_DROPS] += 1
            xdp_return_frame(b, frame)
            return -1
        b.r[ps + PS_XDP_TX] += 1
        return -1
    if act == XDP_REDIRECT:
        if xdp_do_redirect(b, xdp) != 0:
            b.r[ps + PS_RX_DROPS] += 1
            xdp_return_frame(b, frame)
            return -1
        b.r[ps + PS_XDP_REDIRECT] += 1
        return -1
    if act != XDP_ABORTED and act != XDP_DROP:
        printk(b, cpu_now(b), 3, act, b.nd[rq, ND_PROG_ID], 0)    # bpf_warn_invalid_xdp_action
    if act != XDP_DROP:
        netdev_trace(b, EV_XDP_EXCEPTION, -1, frame // PAGE_SIZE, act, 0, 0)
    b.r[ps + PS_XDP_DROPS] += 1
    xdp_return_frame(b, frame)
    return -1


@kernel
def veth_xdp_rcv_bulk_skb(b, rq, n):
    """veth_xdp_rcv_bulk_skb: the XDP_PASS frames of ``b.ndq[rq, NDQ_PASS:]`` up the stack (GRO)."""
    for i in range(n):
        frame = b.ndq[rq, NDQ_PASS + i]
        skb = __xdp_build_skb_from_frame(b, frame)   # protocol set; a page_pool page leaves its pool
        if skb < 0:
            xdp_return_frame(b, frame)
            b.r[R_VETH_PS + PS_RX_DROPS] += 1
            continue
        napi_gro_receive(b, skb)


@kernel
def veth_xdp_rcv(b, rq, budget):
    """veth_xdp_rcv: consume up to ``budget`` frames from the ring; returns how many."""
    done = 0
    npass = 0
    for _ in range(budget):
        if b.nd[rq, ND_RING_COUNT] == 0:
            break
        h = b.nd[rq, ND_RING_HEAD]
        frame = b.ndq[rq, NDQ_RING + h]
        b.ndq[rq, NDQ_RING + h] = -1
        b.nd[rq, ND_RING_HEAD] = h + 1 if h + 1 < VETH_RING_SIZE else 0
        b.nd[rq, ND_RING_COUNT] -= 1
        charge(b, C_PP_REFILL_PAGE)            # __ptr_ring_consume: one slot load and clear
        if frame < -1:                         # !veth_is_xdp_frame(ptr): an skb from veth_xmit
            skb = veth_ring_skb(frame)
            # skb->len: __dev_forward_skb's eth_type_trans pulled the Ethernet header
            b.r[R_VETH_PS + PS_XDP_BYTES] += b.skb[skb, SKBF_LEN] - ETH_HLEN
            skb = veth_xdp_rcv_skb(b, rq, skb)
            if skb >= 0:
                napi_gro_receive(b, skb)       # the lab's skbs are never shared or cloned
            done += 1
            continue
        b.r[R_VETH_PS + PS_XDP_BYTES] += xdp_get_frame_len(b, frame)
        frame = veth_xdp_rcv_one(b, rq, frame)
        if frame >= 0:
            b.ndq[rq, NDQ_PASS + npass] = frame
            npass += 1
            if npass == VETH_XDP_BATCH:
                veth_xdp_rcv_bulk_skb(b, rq, npass)
                npass = 0
        done += 1
    if npass:
        veth_xdp_rcv_bulk_skb(b, rq, npass)
    ps = R_VETH_PS
    b.nd[rq, ND_RQ_XDP_REDIRECT] += b.r[ps + PS_XDP_REDIRECT]
    b.nd[rq, ND_RQ_XDP_BYTES] += b.r[ps + PS_XDP_BYTES]
    b.nd[rq, ND_RQ_XDP_DROPS] += b.r[ps + PS_XDP_DROPS]
    b.nd[rq, ND_RQ_RX_DROPS] += b.r[ps + PS_RX_DROPS]
    b.nd[rq, ND_RQ_XDP_PACKETS] += done
    return done


@kernel
def veth_poll(b, rq, budget):
    """veth_poll: the RX queue's NAPI poll (not NAPI-direct for foreign frames); returns frames done."""
    charge(b, C_NAPI_POLL)
    for i in range(8):
        b.r[R_VETH_PS + i] = 0
    dev0 = b.r[R_NAPI_DEV]
    b.r[R_NAPI_DEV] = rq
    b.r[R_XDP_NO_DIRECT] = 1                   # xdp_set_return_frame_no_direct()
    done = veth_xdp_rcv(b, rq, budget)
    if b.r[R_VETH_PS + PS_XDP_REDIRECT] > 0:
        xdp_do_flush(b)
    complete = 0
    if done < budget:
        napi_gro_flush(b)                      # napi_complete_done
        complete = 1
        b.nd[rq, ND_NAPI_SCHED] = 0
        b.nd[rq, ND_RX_NOTIFY_MASKED] = 0
        if b.nd[rq, ND_RING_COUNT] > 0:        # a producer raced us: poll again
            b.nd[rq, ND_RX_NOTIFY_MASKED] = 1
            b.nd[rq, ND_NAPI_SCHED] = 1
    if b.r[R_VETH_PS + PS_XDP_TX] > 0:
        veth_xdp_flush(b, rq)
    b.r[R_XDP_NO_DIRECT] = 0                   # xdp_clear_return_frame_no_direct()
    b.r[R_NAPI_DEV] = dev0
    netdev_trace(b, EV_VETH_POLL, b.nd[rq, ND_IFINDEX], done, complete, 0, 0)
    return done


@kernel
def veth_napi_run(b):
    """net_rx_action for the veth NAPIs scheduled on this CPU: poll each until none is scheduled
    (a poll that used its whole budget stays scheduled and runs again)."""
    b.r[R_IN_SOFTIRQ] = 1
    for _ in range(1 << 20):
        found = False
        for d in range(b.nd.shape[0]):
            if b.nd[d, ND_KIND] == ND_KIND_VETH and b.nd[d, ND_NAPI_SCHED] != 0:
                veth_poll(b, d, NAPI_POLL_WEIGHT)
                found = True
        if not found:
            break
    b.r[R_IN_SOFTIRQ] = 0


@kernel
def veth_napi_del(b, rq):
    """veth_napi_del: NAPI off, ptr_ring_cleanup(veth_ptr_free): frames still in the ring are returned."""
    b.nd[rq, ND_NAPI] = 0
    b.nd[rq, ND_NAPI_SCHED] = 0
    b.nd[rq, ND_RX_NOTIFY_MASKED] = 0
    while b.nd[rq, ND_RING_COUNT] > 0:
        h = b.nd[rq, ND_RING_HEAD]
        ptr = b.ndq[rq, NDQ_RING + h]
        if ptr < -1:                           # veth_ptr_free: an skb is kfree_skb'd
            kfree_skb(b, veth_ring_skb(ptr), SKB_FREE_OTHER)
        else:
            xdp_return_frame(b, ptr)
        b.ndq[rq, NDQ_RING + h] = -1
        b.nd[rq, ND_RING_HEAD] = h + 1 if h + 1 < VETH_RING_SIZE else 0
        b.nd[rq, ND_RING_COUNT] -= 1
    b.nd[rq, ND_RING_HEAD] = 0
    b.nd[rq, ND_RING_TAIL] = 0


@kernel
def veth_napi_update(b, rq):
    """What veth_open / veth_close / veth_xdp_set / veth_set_features leave: the RX queue's NAPI
    (rq->napi) exists while the device is up and has an XDP program or GRO requested."""
    want = b.nd[rq, ND_UP] != 0 and (b.nd[rq, ND_PROG] != 0 or b.nd[rq, ND_GRO] != 0)
    if want and b.nd[rq, ND_NAPI] == 0:
        b.nd[rq, ND_NAPI] = 1                  # __veth_napi_enable: ptr_ring_init, napi_enable
        b.nd[rq, ND_RING_HEAD] = 0
        b.nd[rq, ND_RING_TAIL] = 0
        b.nd[rq, ND_RING_COUNT] = 0
    elif not want and b.nd[rq, ND_NAPI] != 0:
        veth_napi_del(b, rq)


@kernel
def veth_xdp_set(b, rq, prog, kind, pid, frags):
    """veth_xdp_set: attach (``prog`` a handle the device now owns) or detach (0); 0 or -errno."""
    old = b.nd[rq, ND_PROG]
    b.nd[rq, ND_PROG] = prog
    b.nd[rq, ND_PROG_KIND] = kind
    b.nd[rq, ND_PROG_ID] = pid
    b.nd[rq, ND_PROG_FRAGS] = frags
    veth_napi_update(b, rq)
    if old != 0:
        bpf_prog_put(b, old)
    return 0



# ---------------------------------------------------------------- the skb path (veth_xmit)

@kernel(hot=True)
def veth_skb_to_ring(skb):
    """An skb as a ring entry: frames are handles >= 0, -1 an empty slot, an skb -2 - skb (6.1 tags
    the frames instead, VETH_XDP_FLAG; either way one ring holds both)."""
    return -2 - skb


@kernel(hot=True)
def veth_ring_skb(ptr):
    return -2 - ptr


@kernel
def __dev_forward_skb(b, dev, skb):
    """__dev_forward_skb(dev, skb): 0, or NET_RX_DROP (skb freed, ``dev``'s core rx_dropped) when
    ``dev`` is not up or the skb is longer than its MTU + hard_header_len + VLAN_HLEN
    (__is_skb_forwardable); then eth_type_trans for ``dev``."""
    if not netdev_up(b, dev) or b.skb[skb, SKBF_LEN] > netdev_mtu(b, dev) + b.nd[dev, ND_HARD_HEADER_LEN] + VLAN_HLEN:
        b.nd[dev, ND_CORE_RX_DROPPED] += 1
        kfree_skb(b, skb, SKB_FREE_OTHER)
        return NET_RX_DROP
    eth_type_trans(b, skb)
    return NET_RX_SUCCESS


@kernel
def veth_xdp_rx(b, rq, skb):
    """veth_xdp_rx: ptr_ring_produce of the skb into ``rq``'s ring; a full ring frees it (NET_RX_DROP)."""
    charge(b, C_PP_RECYCLE_RING)               # ptr_ring_produce: the producer spinlock and one slot store
    if b.nd[rq, ND_RING_COUNT] >= VETH_RING_SIZE:
        kfree_skb(b, skb, SKB_FREE_OTHER)      # dev_kfree_skb_any
        return NET_RX_DROP
    t = b.nd[rq, ND_RING_TAIL]
    b.ndq[rq, NDQ_RING + t] = veth_skb_to_ring(skb)
    b.nd[rq, ND_RING_TAIL] = t + 1 if t + 1 < VETH_RING_SIZE else 0
    b.nd[rq, ND_RING_COUNT] += 1
    netdev_trace(b, EV_VETH_RING, b.nd[rq, ND_IFINDEX], b.skb[skb, SKBF_PAGE], b.nd[rq, ND_RING_COUNT], 1, 0)
    return NET_RX_SUCCESS


@kernel
def veth_forward_skb(b, rcv, skb, xdp):
    """veth_forward_skb(dev, skb, rq, xdp): __dev_forward_skb, then the peer's ring (xdp: its NAPI
    takes it) or __netif_rx (its stack; the lab delivers at once, see the module text)."""
    ret = __dev_forward_skb(b, rcv, skb)
    if ret != NET_RX_SUCCESS:
        return ret
    if xdp:
        return veth_xdp_rx(b, rcv, skb)
    netif_receive_skb(b, skb)                  # __netif_rx -> backlog -> process_backlog
    return NET_RX_SUCCESS


@kernel
def veth_skb_is_eligible_for_gro(b, dev, rcv):
    """veth_skb_is_eligible_for_gro(dev, rcv, skb): !(dev->features & NETIF_F_ALL_TSO), which holds
    while ``rcv`` has an XDP program (veth_fix_features clears the sender's GSO_SOFTWARE); the other
    arm (a socket's skb and rcv's rx-udp-gro-forwarding, off by default) is not modelled."""
    return b.nd[rcv, ND_PROG] != 0


@kernel
def veth_xmit(b, dev, skb):
    """veth_xmit(skb, dev) (ndo_start_xmit): the skb to ``dev``'s peer.  0 (NETDEV_TX_OK) or
    NET_XMIT_DROP (the sender's priv->dropped: ``tx_dropped``)."""
    length = b.skb[skb, SKBF_LEN]
    rcv = b.nd[dev, ND_PEER]
    if rcv < 0 or length < ETH_HLEN:           # !rcv || !pskb_may_pull(skb, ETH_HLEN)
        kfree_skb(b, skb, SKB_FREE_OTHER)
        b.nd[dev, ND_DROPPED] += 1
        return NET_XMIT_DROP
    use_napi = b.nd[rcv, ND_NAPI] != 0 and veth_skb_is_eligible_for_gro(b, dev, rcv)
    ret = 0
    if veth_forward_skb(b, rcv, skb, use_napi) == NET_RX_SUCCESS:
        if not use_napi:                       # dev_lstats_add (with NAPI, the peer's xdp_packets count it)
            b.nd[dev, ND_LSTATS_PACKETS] += 1
            b.nd[dev, ND_LSTATS_BYTES] += length
    else:
        b.nd[dev, ND_DROPPED] += 1
        ret = NET_XMIT_DROP
    if use_napi:
        __veth_xdp_flush(b, rcv)
    return ret


@kernel
def veth_convert_skb_to_xdp_buff(b, rq, skb, xdp):
    """veth_convert_skb_to_xdp_buff(rq, xdp, &skb): an xdp_buff over the skb's head, after copying the
    skb into a new page (VETH_XDP_HEADROOM of headroom, frame_sz PAGE_SIZE) when it is shared, its head
    is locked (kmalloc'ed or cloned), it has frags, or less than XDP_PACKET_HEADROOM of headroom.  The
    skb the buff is over, or -1 (the skb consumed: no page or skb head for the copy, -ENOMEM)."""
    page = b.skb[skb, SKBF_PAGE]
    headroom = b.skb[skb, SKBF_DATA]           # the lab's heads start at offset 0 of their page
    ln = b.skb[skb, SKBF_LEN]
    if b.skb[skb, SKBF_HEAD_FRAG] == 0 or b.skb[skb, SKBF_NR_FRAGS] != 0 or headroom < XDP_PACKET_HEADROOM:
        if ln > VETH_MAX_HEAD_SIZE or b.skb[skb, SKBF_NR_FRAGS] != 0:
            kfree_skb(b, skb, SKB_FREE_CONSUMED)   # the lab copies a linear skb only (NetDev.inject checks)
            return -1
        np_ = alloc_page(b)
        if np_ < 0:
            kfree_skb(b, skb, SKB_FREE_CONSUMED)
            return -1
        nskb = build_skb(b, np_, PAGE_SIZE)
        if nskb < 0:
            put_page(b, np_)
            kfree_skb(b, skb, SKB_FREE_CONSUMED)
            return -1
        b.skb[nskb, SKBF_DATA] = VETH_XDP_HEADROOM     # skb_reserve
        b.skb[nskb, SKBF_LEN] = ln                     # skb_copy_bits + skb_put
        copy_bytes(b.data, np_, VETH_XDP_HEADROOM, b.data, page, headroom, ln)
        cpu_read(b, page, headroom, ln)
        cpu_write(b, np_, VETH_XDP_HEADROOM, ln)
        kfree_skb(b, skb, SKB_FREE_CONSUMED)           # consume_skb(skb)
        skb = nskb
        page = np_
    charge(b, C_XDP_BUFF_PREP)
    data = b.skb[skb, SKBF_DATA]
    xdp[XB_PAGE] = page                        # xdp_init_buff(xdp, frame_sz, &rq->xdp_rxq) ...
    xdp[XB_FRAME_SZ] = PAGE_SIZE               # skb_end_pointer - head + the aligned skb_shared_info
    xdp[XB_FLAGS] = 0                          # xdp_buff_clear_frags_flag: linear
    xdp[XB_NR_FRAGS] = 0
    xdp[XB_FRAGS_SIZE] = 0
    xdp[XB_MEM_TYPE] = MEM_TYPE_PAGE_SHARED    # rq->xdp_rxq.mem (veth_enable_xdp_range)
    xdp[XB_MEM_ID] = 0
    xdp[XB_INGRESS_IFINDEX] = b.nd[rq, ND_IFINDEX]
    xdp[XB_RX_QUEUE_INDEX] = 0
    xdp[XB_EGRESS_IFINDEX] = 0
    xdp[XB_HARD_START] = 0                     # ... xdp_prepare_buff(xdp, skb->head, headroom, headlen, true)
    xdp[XB_DATA] = data
    xdp[XB_DATA_END] = data + b.skb[skb, SKBF_LEN]
    xdp[XB_DATA_META] = data
    return skb


@kernel
def veth_xdp_rcv_skb(b, rq, skb):
    """veth_xdp_rcv_skb: the device's program on an skb from the ring.  The skb for the stack
    (XDP_PASS, or no program), or -1 (dropped, sent back, redirected)."""
    if b.nd[rq, ND_PROG] == 0:
        return skb
    xdp = b.xdpx[0]
    skb = veth_convert_skb_to_xdp_buff(b, rq, skb, xdp)
    ps = R_VETH_PS
    if skb < 0:
        b.r[ps + PS_RX_DROPS] += 1
        return -1
    page = xdp[XB_PAGE]
    act = _run_prog_on(b, xdp, b.nd[rq, ND_PROG_KIND], b.nd[rq, ND_PROG_ID])
    charge(b, C_XDP_STATS)
    if act == XDP_PASS:
        # bpf_xdp_adjust_head / adjust_tail: the skb follows the buff (data, len), eth_type_trans
        b.skb[skb, SKBF_DATA] = xdp[XB_DATA]
        b.skb[skb, SKBF_LEN] = xdp[XB_DATA_END] - xdp[XB_DATA]
        eth_type_trans(b, skb)
        return skb
    if act == XDP_TX or act == XDP_REDIRECT:
        get_page(b, page)                      # veth_xdp_get: the buffer outlives the skb
        kfree_skb(b, skb, SKB_FREE_CONSUMED)   # consume_skb
        b.pg[page, PGF_WHERE] = PG_CPU
        if act == XDP_TX:
            if veth_xdp_tx(b, rq, xdp) < 0:
                netdev_trace(b, EV_XDP_EXCEPTION, -1, page, act, 0, 0)
                b.r[ps + PS_RX_DROPS] += 1
                xdp_return_buff(b, xdp)
                return -1
            b.r[ps + PS_XDP_TX] += 1
            return -1
        if xdp_do_redirect(b, xdp) != 0:
            b.r[ps + PS_RX_DROPS] += 1
            xdp_return_buff(b, xdp)
            return -1
        b.r[ps + PS_XDP_REDIRECT] += 1
        return -1
    if act != XDP_ABORTED and act != XDP_DROP:
        printk(b, cpu_now(b), 3, act, b.nd[rq, ND_PROG_ID], 0)    # bpf_warn_invalid_xdp_action
    if act != XDP_DROP:
        netdev_trace(b, EV_XDP_EXCEPTION, -1, page, act, 0, 0)
    b.r[ps + PS_XDP_DROPS] += 1
    kfree_skb(b, skb, SKB_FREE_OTHER)
    return -1


@kernel
def veth_inject_one(b, dev, k):
    """The namespace's sender sends frame ``k`` of ``b.wire`` (without its FCS) into ``dev``: an skb
    with a kmalloc'ed head and LL_RESERVED_SPACE of headroom (packet_snd's alloc_skb), then
    dev_queue_xmit -> veth_xmit.  veth_xmit's result, or -ENOBUFS (no page or skb: nothing sent)."""
    tid = np.int64(b.wire[k, 1])
    flen = b.r[R_WIRE_FLEN + tid] - 4
    page = alloc_page(b)
    if page < 0:
        b.r[R_INJ_ERRS] += 1
        return -ENOBUFS
    skb = build_skb(b, page, PAGE_SIZE)        # alloc_skb: the skbuff_head_cache object and its head
    if skb < 0:
        put_page(b, page)
        b.r[R_INJ_ERRS] += 1
        return -ENOBUFS
    b.skb[skb, SKBF_HEAD_FRAG] = 0             # kmalloc'ed head: skb_head_is_locked
    b.skb[skb, SKBF_DATA] = LL_RESERVED_SPACE  # skb_reserve(skb, hlen)
    b.skb[skb, SKBF_LEN] = flen
    copy_bytes(b.data, page, LL_RESERVED_SPACE, b.frames, tid, 0, flen)   # memcpy_from_msg
    cpu_write(b, page, LL_RESERVED_SPACE, flen)
    return veth_xmit(b, dev, skb)


# the cycle core -> devmap -> drivers -> core: imported after this module's kernels (see xdplab.redirect)
from ..cost import cpu_now  # noqa: E402
from ..devmap import _run_prog_on  # noqa: E402
from ..netdev import (ETH_HLEN, ND_CORE_RX_DROPPED, ND_LSTATS_BYTES, ND_LSTATS_PACKETS, netdev_mtu, netdev_up,  # noqa: E402
                      ND_DROPPED, ND_GRO, ND_HARD_HEADER_LEN, ND_IFINDEX, ND_KIND, ND_KIND_VETH, ND_MTU,  # noqa: E402
                      ND_NAPI, ND_NAPI_SCHED, ND_PEER, ND_PROG, ND_PROG_FRAGS, ND_PROG_ID, ND_PROG_KIND, ND_RING_COUNT,
                      ND_RING_HEAD, ND_RING_TAIL, ND_RQ_PEER_TQ_XDP_XMIT, ND_RQ_PEER_TQ_XDP_XMIT_ERR, ND_RQ_RX_DROPS,
                      ND_RQ_XDP_BYTES, ND_RQ_XDP_DROPS, ND_RQ_XDP_PACKETS, ND_RQ_XDP_REDIRECT, ND_RQ_XDP_TX,
                      ND_RQ_XDP_TX_ERR, ND_RX_NOTIFY_MASKED, ND_TXBQ_COUNT, ND_UP, NDQ_PASS, NDQ_RING, NDQ_TXBQ,
                      VETH_RING_SIZE, VETH_XDP_BATCH, VETH_XDP_TX_BULK_SIZE, VLAN_HLEN, netdev_trace)
from ..printk import printk  # noqa: E402
from ..progs import bpf_prog_put  # noqa: E402
from ..redirect import xdp_do_flush, xdp_do_redirect  # noqa: E402
from ..trace import EV_VETH_POLL, EV_VETH_RING, EV_XDP_BULK_TX, EV_XDP_EXCEPTION  # noqa: E402
