"""The board's net devices (struct net_device, net/core/dev.c, Linux 6.1): one row per device.

``b.nd`` is an int64[MAX_NETDEV, NDF] table, one row per device, ``ND_*`` its columns:
ifindex, netns, kind (which driver's ``netdev_ops``), ``IFF_UP``, MTU, the XDP program
slot, the veth peer, NAPI state, the devmap bulk queue's bookkeeping (``struct
xdp_dev_bulk_queue``: count, dev_rx, xdp_prog), and the per-device counters of a veth
(``struct veth_stats`` of its one RX queue, and ``priv->dropped``).  ``b.ndq`` holds the
frames: per row, the devmap bulk queue (``DEV_MAP_BULK_SIZE`` = 16), veth's XDP_TX bulk
queue (16), the frames of one poll that go up the stack (``VETH_XDP_BATCH`` = 16) and the
veth ``ptr_ring`` (``VETH_RING_SIZE`` = 256), as frame handles (``xdplab.xdp``).

Row 0 is always eth0 (mvneta, ifindex 2): its state stays where the driver keeps it
(``b.r``: ``R_RUNNING`` is its ``__MVNETA_DOWN`` bit and ``IFF_UP``, ``R_MTU`` its MTU,
``R_STATS`` its counters, ``R_XDP_PROG`` its program), and ``netdev_up``/``netdev_mtu`` read it
there.  Row 1 is the root namespace's ``lo`` (ifindex 1, no ``ndo_xdp_xmit``).  The Python side
(``Board.ip``, ``Board.dev``) adds network namespaces and veth pairs in the other rows.

Every redirect on the A3720 runs on CPU 0 (all interrupts go there), so the per-CPU bulk
queues and flush list of 6.1 are the ones of CPU 0 only.
"""

from __future__ import annotations

import numpy as np

from ._layout import MAX_NETDEV, R_CPU_CUR, R_MTU, R_RUNNING, R_RXQ_BUSY, R_RXQ_POOL
from ._twospeed import kernel
from .cost import cpu_now
from .errno import EMSGSIZE, ENETDOWN
from .page_pool import PPF_ALLOC_COUNT, PPF_HOLD_CNT, PPF_RELEASE_CNT, PPF_RING_COUNT
from .trace import board_trace, board_tracing

__all__ = [
    "netdev_frames_held",
    "create_netdevs", "dev_get_by_index", "netdev_up", "netdev_mtu", "netdev_has_ndo_xdp_xmit",
    "xdp_ok_fwd_dev", "netdev_trace", "ND_NAMES", "NDF", "NNDQ", "NDQ_BQ", "NDQ_TXBQ", "NDQ_PASS",
    "NDQ_RING", "ND_KIND_NONE", "ND_KIND_MVNETA", "ND_KIND_LOOPBACK", "ND_KIND_VETH", "ETH0_ROW", "LO_ROW",
    "DEV_MAP_BULK_SIZE", "VETH_RING_SIZE", "VETH_XDP_TX_BULK_SIZE", "VETH_XDP_BATCH", "VLAN_HLEN",
    "VETH_RQ_STATS", "VETH_TQ_STATS", "MAX_NETDEV",
]

ND_KIND_NONE = 0        # an empty row
ND_KIND_MVNETA = 1      # eth0: mvneta_netdev_ops (ndo_xdp_xmit = mvneta_xdp_xmit)
ND_KIND_LOOPBACK = 2    # lo: loopback_ops, no ndo_xdp_xmit
ND_KIND_VETH = 3        # veth_netdev_ops (ndo_xdp_xmit = veth_ndo_xdp_xmit)

ETH0_ROW = 0
LO_ROW = 1

DEV_MAP_BULK_SIZE = 16       # kernel/bpf/devmap.c (XDP_BULK_QUEUE_SIZE)
VETH_RING_SIZE = 256         # drivers/net/veth.c: each RX queue's ptr_ring
VETH_XDP_TX_BULK_SIZE = 16
VETH_XDP_BATCH = 16          # frames veth_xdp_rcv turns into skbs at once
VLAN_HLEN = 4
ETH_HLEN = 14                # dev->hard_header_len of an Ethernet device

# columns of b.nd
ND_NAMES = (
    "ifindex", "kind", "netns", "up", "mtu", "hard_header_len", "peer", "gro", "prog", "prog_kind", "prog_id",
    "prog_frags", "napi", "napi_sched", "rx_notify_masked", "ring_head", "ring_tail", "ring_count",
    "bq_count", "bq_dev_rx", "bq_prog", "txbq_count", "dropped", "lstats_packets", "lstats_bytes",
    # struct veth_stats of RX queue 0, in veth_rq_stats_desc[] order, then the peer_tq_* pair
    "rq_xdp_packets", "rq_xdp_bytes", "rq_rx_drops", "rq_xdp_redirect", "rq_xdp_drops", "rq_xdp_tx",
    "rq_xdp_tx_err", "rq_peer_tq_xdp_xmit", "rq_peer_tq_xdp_xmit_err",
    # dev->core_stats->rx_dropped (dev_core_stats_rx_dropped_inc: __dev_forward_skb refused the skb)
    "core_rx_dropped",
)
for _i, _n in enumerate(ND_NAMES):
    globals()["ND_" + _n.upper()] = _i
    __all__.append("ND_" + _n.upper())
NDF = len(ND_NAMES)
# ethtool -S names (veth_get_strings, 6.1: one RX and one TX queue)
VETH_RQ_STATS = ("xdp_packets", "xdp_bytes", "drops", "xdp_redirect", "xdp_drops", "xdp_tx", "xdp_tx_errors")
VETH_TQ_STATS = ("xdp_xmit", "xdp_xmit_errors")

# columns of b.ndq (frame handles)
NDQ_BQ = 0                                   # the devmap bulk queue (bq->q[])
NDQ_TXBQ = NDQ_BQ + DEV_MAP_BULK_SIZE        # veth_poll's struct veth_xdp_tx_bq
NDQ_PASS = NDQ_TXBQ + VETH_XDP_TX_BULK_SIZE  # veth_xdp_rcv's xdpf[VETH_XDP_BATCH] (XDP_PASS)
NDQ_RING = NDQ_PASS + VETH_XDP_BATCH         # the veth rq's xdp_ring (ptr_ring)
NNDQ = NDQ_RING + VETH_RING_SIZE


def create_netdevs():
    """The device table with eth0 (row 0) and lo (row 1) of the root namespace; (nd, ndq)."""
    nd = np.zeros((MAX_NETDEV, NDF), np.int64)
    nd[:, ND_PEER] = -1
    nd[ETH0_ROW, ND_IFINDEX] = 2
    nd[ETH0_ROW, ND_KIND] = ND_KIND_MVNETA
    nd[ETH0_ROW, ND_HARD_HEADER_LEN] = ETH_HLEN
    nd[LO_ROW, ND_IFINDEX] = 1
    nd[LO_ROW, ND_KIND] = ND_KIND_LOOPBACK
    nd[LO_ROW, ND_UP] = 1
    nd[LO_ROW, ND_MTU] = 65536
    ndq = np.full((MAX_NETDEV, NNDQ), -1, np.int64)
    return nd, ndq


def netdev_frames_held(state) -> list[int]:
    """Handles of the xdp_frames the devices hold between polls: a devmap bulk queue (flushed by
    every poll, so empty unless a driver forgot ``xdp_do_flush``) and a veth's ptr_ring."""
    held = []
    for d in range(len(state.nd)):
        held += [int(x) for x in state.ndq[d, NDQ_BQ:NDQ_BQ + int(state.nd[d, ND_BQ_COUNT])]]
        h = int(state.nd[d, ND_RING_HEAD])
        ring = [int(state.ndq[d, NDQ_RING + (h + i) % VETH_RING_SIZE]) for i in range(int(state.nd[d, ND_RING_COUNT]))]
        held += [x for x in ring if x >= 0]             # (< -1: an skb from veth_xmit, not a frame)
    return held


@kernel
def dev_get_by_index(b, netns, ifindex):
    """dev_get_by_index_rcu(net, ifindex): the device's row, or -1."""
    for d in range(b.nd.shape[0]):
        if b.nd[d, ND_KIND] != ND_KIND_NONE and b.nd[d, ND_NETNS] == netns and b.nd[d, ND_IFINDEX] == ifindex:
            return d
    return -1


@kernel
def netdev_up(b, d):
    """dev->flags & IFF_UP (eth0: the port is running)."""
    if b.nd[d, ND_KIND] == ND_KIND_MVNETA:
        return b.r[R_RUNNING] != 0
    return b.nd[d, ND_UP] != 0


@kernel
def netdev_mtu(b, d):
    """dev->mtu (eth0's lives in the driver's registers)."""
    if b.nd[d, ND_KIND] == ND_KIND_MVNETA:
        return b.r[R_MTU]
    return b.nd[d, ND_MTU]


@kernel
def netdev_has_ndo_xdp_xmit(b, d):
    """dev->netdev_ops->ndo_xdp_xmit != NULL (6.1 checks the op itself; 6.3+ a feature flag)."""
    k = b.nd[d, ND_KIND]
    return k == ND_KIND_MVNETA or k == ND_KIND_VETH


@kernel
def xdp_ok_fwd_dev(b, d, pktlen):
    """xdp_ok_fwd_dev(fwd, pktlen): -ENETDOWN if the target is not up, -EMSGSIZE if the frame is
    longer than its MTU + hard_header_len + VLAN_HLEN; else 0."""
    if not netdev_up(b, d):
        return -ENETDOWN
    if pktlen > netdev_mtu(b, d) + b.nd[d, ND_HARD_HEADER_LEN] + VLAN_HLEN:
        return -EMSGSIZE
    return 0


@kernel(hot=True)
def netdev_trace(b, ev, a, b_, c, d, e):
    """One trace event with the snapshot the driver's events carry (rxq_def's pool: its alloc cache,
    ptr_ring and pages in flight, so that a view needs no replay).  Hot: with the trace off it folds
    to nothing in its jitted callers."""
    if not board_tracing(b):
        return
    pool = b.r[R_RXQ_POOL]
    cache = 0
    ring = 0
    infl = 0
    if pool >= 0:
        cache = b.pp[pool, PPF_ALLOC_COUNT]
        ring = b.pp[pool, PPF_RING_COUNT]
        infl = b.pp[pool, PPF_HOLD_CNT] - b.pp[pool, PPF_RELEASE_CNT]
    board_trace(b, cpu_now(b), b.r[R_CPU_CUR], ev, a, b_, c, d, e, b.r[R_RXQ_BUSY], cache, ring, infl)
