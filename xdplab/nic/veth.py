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

Not modelled: the skb path (``veth_xmit`` of frames the namespace's stack sends, and
``veth_xdp_rcv_skb``), several queues, and the peer's own netns stack beyond the board's one
stack model (an skb that veth passes up is counted and freed by ``xdplab.netstack`` as eth0's).
"""

from __future__ import annotations

from .._layout import R_IN_SOFTIRQ, R_NAPI_DEV, R_VETH_PS, R_XDP_NO_DIRECT
from .._twospeed import kernel
from ..cost import (C_NAPI_POLL, C_PP_RECYCLE_RING, C_PP_REFILL_PAGE, C_TXQ_LOCK, C_XDP_BUFF_PREP, C_XDP_STATS,
                    charge)
from ..errno import EINVAL, ENOSPC, ENXIO, EOVERFLOW
from ..mm import PG_XDP_FRAME, PGF_FRAG0, PGF_FRAG_NR, PGF_PP, PGF_WHERE
from ..netstack import napi_gro_flush, napi_gro_receive
from ..xdp import (XDPF_FLAGS, XDPF_LEN, __xdp_build_skb_from_frame, xdp_convert_buff_to_frame,
                   xdp_convert_frame_to_buff, xdp_frame_field, xdp_get_frame_len, xdp_return_frame,
                   xdp_update_frame_from_buff)
from ..xdp_abi import (MEM_TYPE_PAGE_POOL, PAGE_SIZE, XB_EGRESS_IFINDEX, XB_INGRESS_IFINDEX, XB_RX_QUEUE_INDEX,
                       XDP_ABORTED, XDP_DROP, XDP_FLAGS_HAS_FRAGS, XDP_PASS, XDP_REDIRECT, XDP_TX)

__all__ = ["__veth_xdp_flush", "__ptr_ring_produce", "veth_xdp_xmit", "veth_ndo_xdp_xmit", "veth_poll", "veth_xdp_rcv", "veth_xdp_rcv_one",
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
        xdp_return_frame(b, b.ndq[rq, NDQ_RING + h])
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


# the cycle core -> devmap -> drivers -> core: imported after this module's kernels (see xdplab.redirect)
from ..cost import cpu_now  # noqa: E402
from ..devmap import _run_prog_on  # noqa: E402
from ..netdev import (ND_DROPPED, ND_GRO, ND_HARD_HEADER_LEN, ND_IFINDEX, ND_KIND, ND_KIND_VETH, ND_MTU,  # noqa: E402
                      ND_NAPI, ND_NAPI_SCHED, ND_PEER, ND_PROG, ND_PROG_FRAGS, ND_PROG_ID, ND_PROG_KIND, ND_RING_COUNT,
                      ND_RING_HEAD, ND_RING_TAIL, ND_RQ_PEER_TQ_XDP_XMIT, ND_RQ_PEER_TQ_XDP_XMIT_ERR, ND_RQ_RX_DROPS,
                      ND_RQ_XDP_BYTES, ND_RQ_XDP_DROPS, ND_RQ_XDP_PACKETS, ND_RQ_XDP_REDIRECT, ND_RQ_XDP_TX,
                      ND_RQ_XDP_TX_ERR, ND_RX_NOTIFY_MASKED, ND_TXBQ_COUNT, ND_UP, NDQ_PASS, NDQ_RING, NDQ_TXBQ,
                      VETH_RING_SIZE, VETH_XDP_BATCH, VETH_XDP_TX_BULK_SIZE, VLAN_HLEN, netdev_trace)
from ..printk import printk  # noqa: E402
from ..progs import bpf_prog_put  # noqa: E402
from ..redirect import xdp_do_flush, xdp_do_redirect  # noqa: E402
from ..trace import EV_VETH_POLL, EV_VETH_RING, EV_XDP_BULK_TX, EV_XDP_EXCEPTION  # noqa: E402
