"""A small model of the receive side of the network stack (Linux 6.1).

What XDP_PASS and a driver without XDP feed: ``build_skb`` around the page
(zero copy; the tailroom holds ``skb_shared_info``), ``napi_gro_receive``
(GRO_NORMAL skbs batched ``gro_normal_batch`` = 8 at a time, and flushed when
NAPI completes), ``__netif_receive_skb_core`` with the tc ingress hook
(``tc filter add dev eth0 ingress matchall action gact drop`` drops here),
then IP/UDP delivery to a socket whose reader consumes each skb.  Freeing an
skb marked for recycling returns its pages to their page_pool through
``page_pool_put_full_page(pp, page, false)``: the ptr_ring, since this is not
the pool's NAPI-direct path in 6.1.
"""

from __future__ import annotations

import numpy as np

from ._bytes import get_le
from ._twospeed import kernel
from .cost import (C_BUILD_SKB, C_ETH_TYPE_TRANS, C_GRO_RECEIVE, C_IP_RCV, C_KFREE_SKB, C_NETIF_RECEIVE_SKB,
                   C_TC_INGRESS, C_UDP_RCV, charge, cpu_now)
from .mm import PG_SKB, PGF_PP, PGF_WHERE, cpu_touch, cpu_write, put_page
from .page_pool import page_pool_put_full_page
from .trace import board_trace, board_tracing
from ._layout import MAX_FLOWS, R_FLOW_LAST_SEQ, R_WIRE_SEQ_OFF, R_CPU_CUR, R_GRO_COUNT, R_RXQ_BUSY, R_RXQ_POOL, R_SKB_NR_FREE, R_STACK_STATS, R_TC_DROP
from .page_pool import PPF_ALLOC_COUNT, PPF_HOLD_CNT, PPF_RELEASE_CNT, PPF_RING_COUNT
from .xdp_abi import MAX_SKB_FRAGS, SKB_SHARED_INFO_SIZE

__all__ = ["create_skbs", "skb_mark_for_recycle", "NSKBF", "SKBF_PAGE", "SKBF_DATA", "SKBF_LEN", "SKBF_PP_RECYCLE",
           "SKBF_NR_FRAGS", "SKBF_FRAG0", "SKBF_HEAD_FRAG", "build_skb", "napi_gro_receive", "napi_gro_flush", "kfree_skb",
           "netif_receive_skb", "eth_type_trans", "STACK_STAT_NAMES", "GRO_NORMAL_BATCH", "SKB_FREE_CONSUMED",
           "SKB_FREE_TC_DROP"]

GRO_NORMAL_BATCH = 8      # net.core.gro_normal_batch default
MAX_SKBS = 1024          # a veth ring of 256 skbs (veth_xmit) and the stack's and drivers' skbs around it

SKB_FREE_CONSUMED = 0
SKB_FREE_TC_DROP = 1
SKB_FREE_OTHER = 2

# stack counters
SS_GRO_RECEIVE, SS_NETIF_RECEIVE, SS_TC_DROP, SS_IP_RCV, SS_UDP_DELIVERED, SS_NOT_IP, SS_SKB_ALLOCS, \
    SS_UDP_REORDERED = range(8)
STACK_STAT_NAMES = ("gro_receive", "netif_receive_skb", "tc_ingress_drop", "ip_rcv", "udp_delivered",
                    "not_ip_consumed", "skb_allocs", "udp_reordered")


# columns of the skb table b.skb (int64[MAX_SKBS, NSKBF])
SKBF_PAGE = 0        # head page, -1 if the slot is free
SKBF_DATA = 1        # data offset in the page (skb_reserve)
SKBF_LEN = 2
SKBF_PP_RECYCLE = 3  # skb->pp_recycle
SKBF_NR_FRAGS = 4
SKBF_FREE = 5        # storage of the free-slot stack
SKBF_GRO = 6         # storage of napi->rx_list (gro_normal_list)
SKBF_FRAG0 = 7       # frag pages
SKBF_HEAD_FRAG = SKBF_FRAG0 + MAX_SKB_FRAGS   # skb->head_frag: 1 for build_skb's page-frag head, 0 for a
                                              # kmalloc'ed one (alloc_skb: xdplab.nic.veth's sender)
NSKBF = SKBF_HEAD_FRAG + 1


def create_skbs():
    skb = np.zeros((MAX_SKBS, NSKBF), np.int64)
    skb[:, SKBF_PAGE] = -1
    skb[:, SKBF_FREE] = np.arange(MAX_SKBS - 1, -1, -1)
    return skb


@kernel(hot=True)
def skb_mark_for_recycle(b, skb):
    """skb_mark_for_recycle: freeing the skb returns its pages to their page_pool (5.14+)."""
    b.skb[skb, SKBF_PP_RECYCLE] = 1


@kernel(hot=True)
def _skb_trace(b, ev, skb, page, c, d):
    if not board_tracing(b):                # tracing off: no snapshot to take
        return
    pool = b.r[R_RXQ_POOL]
    board_trace(b, cpu_now(b), b.r[R_CPU_CUR], ev, skb, page, c, d, 0, b.r[R_RXQ_BUSY],
                b.pp[pool, PPF_ALLOC_COUNT], b.pp[pool, PPF_RING_COUNT], b.pp[pool, PPF_HOLD_CNT] - b.pp[pool, PPF_RELEASE_CNT])


@kernel
def build_skb(b, page, frag_size):
    """build_skb(data, frag_size): an skb around the page; -1 if no skb head could be allocated."""
    charge(b, C_BUILD_SKB)
    if b.r[R_SKB_NR_FREE] == 0:
        return -1
    b.r[R_SKB_NR_FREE] -= 1
    skb = b.skb[b.r[R_SKB_NR_FREE], SKBF_FREE]
    b.skb[skb, SKBF_PAGE] = page
    b.skb[skb, SKBF_DATA] = 0
    b.skb[skb, SKBF_LEN] = 0
    b.skb[skb, SKBF_PP_RECYCLE] = 0
    b.skb[skb, SKBF_NR_FRAGS] = 0
    b.skb[skb, SKBF_HEAD_FRAG] = 1
    b.r[R_STACK_STATS + SS_SKB_ALLOCS] += 1
    b.pg[page, PGF_WHERE] = PG_SKB
    # __build_skb_around initialises the skb_shared_info at the end of the buffer
    cpu_write(b, page, frag_size - SKB_SHARED_INFO_SIZE, SKB_SHARED_INFO_SIZE)
    return skb


@kernel(hot=True)
def _skb_free_page(b, skb, page):
    if b.skb[skb, SKBF_PP_RECYCLE] and b.pg[page, PGF_PP] >= 0:
        # skb_free_head -> page_pool_return_skb_page -> page_pool_put_full_page(pp, page, false)
        page_pool_put_full_page(b, b.pg[page, PGF_PP], page, False)
    else:
        put_page(b, page)


@kernel
def kfree_skb(b, skb, reason):
    """kfree_skb / consume_skb: free the head (and frags), recycling page_pool pages."""
    charge(b, C_KFREE_SKB)
    page = b.skb[skb, SKBF_PAGE]
    _skb_trace(b, 15, skb, page, reason, 0)
    n = b.skb[skb, SKBF_NR_FRAGS]
    for i in range(n + 1):                      # the frags, then the head (one inlined call site)
        _skb_free_page(b, skb, b.skb[skb, SKBF_FRAG0 + i] if i < n else page)
    b.skb[skb, SKBF_PAGE] = -1
    b.skb[b.r[R_SKB_NR_FREE], SKBF_FREE] = skb
    b.r[R_SKB_NR_FREE] += 1


@kernel
def netif_receive_skb(b, skb):
    """__netif_receive_skb_core + tc ingress + ip_rcv/udp_rcv + the socket reader consuming it."""
    charge(b, C_NETIF_RECEIVE_SKB)
    b.r[R_STACK_STATS + SS_NETIF_RECEIVE] += 1
    # every way out frees the skb: one call of kfree_skb at the end, with the reason
    if b.r[R_TC_DROP]:
        charge(b, C_TC_INGRESS)
        b.r[R_STACK_STATS + SS_TC_DROP] += 1
        reason = SKB_FREE_TC_DROP                # TC_ACT_SHOT
    else:
        page = b.skb[skb, SKBF_PAGE]
        buf = b.data[page]
        d = b.skb[skb, SKBF_DATA]
        # skb->protocol was set by eth_type_trans; IPv4 goes to ip_rcv, the rest is consumed unclaimed
        if buf[d + 12] == 0x08 and buf[d + 13] == 0x00:
            charge(b, C_IP_RCV)
            b.r[R_STACK_STATS + SS_IP_RCV] += 1
            cpu_touch(b, page, d + 14, 20, False)
            if buf[d + 23] == 17:
                charge(b, C_UDP_RCV)
                b.r[R_STACK_STATS + SS_UDP_DELIVERED] += 1
                if b.r[R_WIRE_SEQ_OFF] != 0:
                    _udp_check_order(b, page, d)
            reason = SKB_FREE_CONSUMED           # the socket's reader: consume_skb after recvmsg
        else:
            b.r[R_STACK_STATS + SS_NOT_IP] += 1
            reason = SKB_FREE_OTHER
    kfree_skb(b, skb, reason)


@kernel
def _udp_check_order(b, page, d):
    """The receiving socket reads the generator's stamp (flow id, sequence number): a frame older
    than one already delivered on its flow was reordered on the way (not a kernel function: the
    check a test receiver does)."""
    off = d + b.r[R_WIRE_SEQ_OFF]
    flow = get_le(b.data, page, off, 4)
    seq = get_le(b.data, page, off + 4, 4)
    if flow < 0 or flow >= MAX_FLOWS:
        return
    if seq < b.r[R_FLOW_LAST_SEQ + flow]:
        b.r[R_STACK_STATS + SS_UDP_REORDERED] += 1
    else:
        b.r[R_FLOW_LAST_SEQ + flow] = seq


@kernel
def napi_gro_flush(b):
    """gro_normal_list: hand the batched skbs to netif_receive_skb_list_internal."""
    n = b.r[R_GRO_COUNT]
    b.r[R_GRO_COUNT] = 0
    for i in range(n):
        netif_receive_skb(b, b.skb[i, SKBF_GRO])


@kernel
def napi_gro_receive(b, skb):
    """napi_gro_receive: GRO (nothing to merge for UDP) then gro_normal_one batching."""
    charge(b, C_GRO_RECEIVE)
    b.r[R_STACK_STATS + SS_GRO_RECEIVE] += 1
    b.skb[b.r[R_GRO_COUNT], SKBF_GRO] = skb
    b.r[R_GRO_COUNT] += 1
    if b.r[R_GRO_COUNT] >= GRO_NORMAL_BATCH:
        napi_gro_flush(b)


@kernel
def eth_type_trans(b, skb):
    """eth_type_trans: read the Ethernet header (the packet's first touch on a no-XDP path)."""
    page = b.skb[skb, SKBF_PAGE]
    charge(b, C_ETH_TYPE_TRANS)
    cpu_touch(b, page, b.skb[skb, SKBF_DATA], 14, False)
