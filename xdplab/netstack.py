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

from typing import NamedTuple

import numpy as np

from ._twospeed import kernel
from .cost import (C_BUILD_SKB, C_ETH_TYPE_TRANS, C_GRO_RECEIVE, C_IP_RCV, C_KFREE_SKB, C_NETIF_RECEIVE_SKB,
                   C_TC_INGRESS, C_UDP_RCV, charge, cpu_now)
from .mm import PG_SKB, cpu_touch, cpu_write, put_page
from .page_pool import page_pool_put_full_page
from .trace import trace_event
from .xdp_abi import MAX_SKB_FRAGS, PAGE_SIZE, SKB_SHARED_INFO_SIZE

__all__ = ["Stack", "create_stack", "build_skb", "napi_gro_receive", "napi_gro_flush", "kfree_skb",
           "netif_receive_skb", "eth_type_trans", "STACK_STAT_NAMES", "GRO_NORMAL_BATCH", "SKB_FREE_CONSUMED",
           "SKB_FREE_TC_DROP"]

GRO_NORMAL_BATCH = 8      # net.core.gro_normal_batch default
MAX_SKBS = 256

SKB_FREE_CONSUMED = 0
SKB_FREE_TC_DROP = 1
SKB_FREE_OTHER = 2

# stack counters
SS_GRO_RECEIVE, SS_NETIF_RECEIVE, SS_TC_DROP, SS_IP_RCV, SS_UDP_DELIVERED, SS_NOT_IP, SS_SKB_ALLOCS = range(7)
STACK_STAT_NAMES = ("gro_receive", "netif_receive_skb", "tc_ingress_drop", "ip_rcv", "udp_delivered",
                    "not_ip_consumed", "skb_allocs")


class Stack(NamedTuple):
    skb_page: np.ndarray        # int64[MAX_SKBS]: head page, -1 if the slot is free
    skb_data: np.ndarray        # int64[MAX_SKBS]: data offset in the page (skb_reserve)
    skb_len: np.ndarray         # int64[MAX_SKBS]
    skb_pp_recycle: np.ndarray  # int64[MAX_SKBS]: skb->pp_recycle
    skb_nr_frags: np.ndarray    # int64[MAX_SKBS]
    skb_frags: np.ndarray       # int64[MAX_SKBS, MAX_SKB_FRAGS]: frag pages
    free: np.ndarray            # int64[MAX_SKBS]: stack of free skb slots
    nr_free: np.ndarray         # int64[1]
    gro_list: np.ndarray        # int64[GRO_NORMAL_BATCH]: napi->rx_list
    gro_count: np.ndarray       # int64[1]
    tc_drop: np.ndarray         # int64[1]: 1 = clsact ingress matchall gact drop installed
    stat: np.ndarray            # int64[len(STACK_STAT_NAMES)]


def create_stack() -> Stack:
    return Stack(skb_page=np.full(MAX_SKBS, -1, np.int64), skb_data=np.zeros(MAX_SKBS, np.int64),
                 skb_len=np.zeros(MAX_SKBS, np.int64), skb_pp_recycle=np.zeros(MAX_SKBS, np.int64),
                 skb_nr_frags=np.zeros(MAX_SKBS, np.int64), skb_frags=np.zeros((MAX_SKBS, MAX_SKB_FRAGS), np.int64),
                 free=np.arange(MAX_SKBS - 1, -1, -1, dtype=np.int64), nr_free=np.array([MAX_SKBS], np.int64),
                 gro_list=np.zeros(GRO_NORMAL_BATCH, np.int64), gro_count=np.zeros(1, np.int64),
                 tc_drop=np.zeros(1, np.int64), stat=np.zeros(len(STACK_STAT_NAMES), np.int64))


@kernel
def _skb_trace(b, ev, skb, page, c, d):
    pool = b.rxq.pool[0]
    pp = b.pools
    trace_event(b.trace, cpu_now(b.cpu), b.cpu.cur[0], ev, skb, page, c, d, 0, b.rxq.busy[0],
                pp.alloc_count[pool], pp.ring_count[pool], pp.hold_cnt[pool] - pp.release_cnt[pool])


@kernel
def build_skb(b, page, frag_size):
    """build_skb(data, frag_size): an skb around the page; -1 if no skb head could be allocated."""
    st = b.stack
    charge(b.cpu, C_BUILD_SKB)
    if st.nr_free[0] == 0:
        return -1
    st.nr_free[0] -= 1
    skb = st.free[st.nr_free[0]]
    st.skb_page[skb] = page
    st.skb_data[skb] = 0
    st.skb_len[skb] = 0
    st.skb_pp_recycle[skb] = 0
    st.skb_nr_frags[skb] = 0
    st.stat[SS_SKB_ALLOCS] += 1
    b.mem.where[page] = PG_SKB
    # __build_skb_around initialises the skb_shared_info at the end of the buffer
    cpu_write(b, page, frag_size - SKB_SHARED_INFO_SIZE, SKB_SHARED_INFO_SIZE)
    return skb


@kernel
def _skb_free_page(b, skb, page):
    if b.stack.skb_pp_recycle[skb] and b.mem.pp[page] >= 0:
        # skb_free_head -> page_pool_return_skb_page -> page_pool_put_full_page(pp, page, false)
        page_pool_put_full_page(b, b.mem.pp[page], page, False)
    else:
        put_page(b, page)


@kernel
def kfree_skb(b, skb, reason):
    """kfree_skb / consume_skb: free the head (and frags), recycling page_pool pages."""
    st = b.stack
    charge(b.cpu, C_KFREE_SKB)
    page = st.skb_page[skb]
    _skb_trace(b, 15, skb, page, reason, 0)
    for i in range(st.skb_nr_frags[skb]):
        _skb_free_page(b, skb, st.skb_frags[skb, i])
    _skb_free_page(b, skb, page)
    st.skb_page[skb] = -1
    st.free[st.nr_free[0]] = skb
    st.nr_free[0] += 1


@kernel
def netif_receive_skb(b, skb):
    """__netif_receive_skb_core + tc ingress + ip_rcv/udp_rcv + the socket reader consuming it."""
    st = b.stack
    charge(b.cpu, C_NETIF_RECEIVE_SKB)
    st.stat[SS_NETIF_RECEIVE] += 1
    if st.tc_drop[0]:
        charge(b.cpu, C_TC_INGRESS)
        st.stat[SS_TC_DROP] += 1
        kfree_skb(b, skb, SKB_FREE_TC_DROP)      # TC_ACT_SHOT
        return
    page = st.skb_page[skb]
    buf = b.mem.data[page]
    d = st.skb_data[skb]
    # skb->protocol was set by eth_type_trans; IPv4 goes to ip_rcv, the rest is consumed unclaimed
    if buf[d + 12] == 0x08 and buf[d + 13] == 0x00:
        charge(b.cpu, C_IP_RCV)
        st.stat[SS_IP_RCV] += 1
        cpu_touch(b, page, d + 14, 20, False)
        if buf[d + 23] == 17:
            charge(b.cpu, C_UDP_RCV)
            st.stat[SS_UDP_DELIVERED] += 1
        kfree_skb(b, skb, SKB_FREE_CONSUMED)     # the socket's reader: consume_skb after recvmsg
    else:
        st.stat[SS_NOT_IP] += 1
        kfree_skb(b, skb, SKB_FREE_OTHER)


@kernel
def napi_gro_flush(b):
    """gro_normal_list: hand the batched skbs to netif_receive_skb_list_internal."""
    st = b.stack
    n = st.gro_count[0]
    st.gro_count[0] = 0
    for i in range(n):
        netif_receive_skb(b, st.gro_list[i])


@kernel
def napi_gro_receive(b, skb):
    """napi_gro_receive: GRO (nothing to merge for UDP) then gro_normal_one batching."""
    st = b.stack
    charge(b.cpu, C_GRO_RECEIVE)
    st.stat[SS_GRO_RECEIVE] += 1
    st.gro_list[st.gro_count[0]] = skb
    st.gro_count[0] += 1
    if st.gro_count[0] >= GRO_NORMAL_BATCH:
        napi_gro_flush(b)


@kernel
def eth_type_trans(b, skb):
    """eth_type_trans: read the Ethernet header (the packet's first touch on a no-XDP path)."""
    st = b.stack
    page = st.skb_page[skb]
    charge(b.cpu, C_ETH_TYPE_TRANS)
    cpu_touch(b, page, st.skb_data[skb], 14, False)
