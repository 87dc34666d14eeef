"""The mvneta NETA hardware on the Armada 3720: MAC, RX/TX DMA queues, interrupt coalescing.

The device side of the driver: it writes received frames into the buffers of
the RX descriptors the driver gave it, counts a frame it has no descriptor for
in ``rx_discard`` (the MIB register at 0x2484), sends what the driver queued
on the TX ring at line rate, and raises the shared RX/TX interrupt under the
coalescing rules the driver programs (32 frames / 100 us for RX; every TX
completion, ``MVNETA_TXDONE_COAL_PKTS = 0``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._twospeed import kernel
from ..cost import cpu_now
from ..mm import dev_dma_read, dev_dma_write, dma_to_page
from ..trace import trace_event
from ..xdp_abi import PAGE_SIZE
from .mvneta_stats import (S_FRAMES_64_OCTETS, S_FRAMES_65_TO_127_OCTETS, S_FRAMES_128_TO_255_OCTETS,
                           S_FRAMES_256_TO_511_OCTETS, S_FRAMES_512_TO_1023_OCTETS, S_FRAMES_1024_TO_MAX_OCTETS,
                           S_GOOD_FRAMES_RECEIVED, S_GOOD_OCTETS_RECEIVED, S_GOOD_FRAMES_SENT, S_GOOD_OCTETS_SENT,
                           S_RX_DISCARD)

__all__ = ["Wire", "create_wire", "mvneta_hw_rx", "mvneta_hw_next_irq", "mvneta_hw_tx_kick",
           "MVNETA_RXD_ERR_SUMMARY", "MVNETA_RXD_L3_IP4", "MVNETA_RXD_LAST_DESC", "MVNETA_RXD_FIRST_DESC",
           "MVNETA_RXD_L4_CSUM_OK", "MVNETA_RXD_FIRST_LAST_DESC", "MVNETA_MAX_RX_BUF_SIZE", "MVNETA_MH_SIZE",
           "ETH_WIRE_OVERHEAD", "TXCAP_MAX", "TXCAP_LEN"]

MVNETA_RXD_ERR_SUMMARY = 1 << 16
MVNETA_RXD_L3_IP4 = 1 << 25
MVNETA_RXD_LAST_DESC = 1 << 26
MVNETA_RXD_FIRST_DESC = 1 << 27
MVNETA_RXD_L4_CSUM_OK = 1 << 30
MVNETA_RXD_FIRST_LAST_DESC = MVNETA_RXD_FIRST_DESC | MVNETA_RXD_LAST_DESC
MVNETA_MH_SIZE = 2                       # Marvell header the MAC prepends to every RX frame
# PAGE_SIZE - MVNETA_SKB_PAD, MVNETA_SKB_PAD = SKB_DATA_ALIGN(320 + 256) = 576
MVNETA_MAX_RX_BUF_SIZE = 3520
ETH_WIRE_OVERHEAD = 20                   # preamble 7 + SFD 1 + inter-frame gap 12 bytes
TXCAP_MAX = 256                          # transmitted frames whose bytes are kept (a "tcpdump")
TXCAP_LEN = 128                          # bytes kept of each


class Wire(NamedTuple):
    """The link: frames arriving at the port, and what the port sent."""
    arrival_ns: np.ndarray   # float64[n]: when each frame's last bit arrives
    tmpl: np.ndarray         # int64[n]: which template frame
    frames: np.ndarray       # uint8[T, maxlen]: template frames including the 4-byte FCS
    frame_len: np.ndarray    # int64[T]
    next: np.ndarray         # int64[1]: next arrival to deliver
    gbps: np.ndarray         # float64[1]: link speed
    tx_cap: np.ndarray       # uint8[TXCAP_MAX, TXCAP_LEN]
    tx_cap_len: np.ndarray   # int64[TXCAP_MAX]
    tx_n: np.ndarray         # int64[1]: frames sent
    tx_last_ns: np.ndarray   # float64[1]: when the TX MAC is free again


def create_wire(arrival_ns, tmpl, frames, frame_len, gbps=1.0) -> Wire:
    return Wire(arrival_ns=np.ascontiguousarray(arrival_ns, np.float64), tmpl=np.ascontiguousarray(tmpl, np.int64),
                frames=np.ascontiguousarray(frames, np.uint8), frame_len=np.ascontiguousarray(frame_len, np.int64),
                next=np.zeros(1, np.int64), gbps=np.array([float(gbps)]),
                tx_cap=np.zeros((TXCAP_MAX, TXCAP_LEN), np.uint8), tx_cap_len=np.zeros(TXCAP_MAX, np.int64),
                tx_n=np.zeros(1, np.int64), tx_last_ns=np.zeros(1))


@kernel
def _mib_size_bucket(b, n):
    # frames_64_octets .. frames_1024_to_max_octets
    if n <= 64:
        b.stats[S_FRAMES_64_OCTETS] += 1
    elif n <= 127:
        b.stats[S_FRAMES_65_TO_127_OCTETS] += 1
    elif n <= 255:
        b.stats[S_FRAMES_128_TO_255_OCTETS] += 1
    elif n <= 511:
        b.stats[S_FRAMES_256_TO_511_OCTETS] += 1
    elif n <= 1023:
        b.stats[S_FRAMES_512_TO_1023_OCTETS] += 1
    else:
        b.stats[S_FRAMES_1024_TO_MAX_OCTETS] += 1


@kernel
def _rx_one(b, t_ns, k):
    """The MAC receives frame k: DMA it into descriptors, or discard it."""
    rxq = b.rxq
    w = b.wire
    tid = w.tmpl[k]
    flen = w.frame_len[tid]
    size = flen + MVNETA_MH_SIZE             # data_size: MH + frame + FCS
    ndesc = (size + MVNETA_MAX_RX_BUF_SIZE - 1) // MVNETA_MAX_RX_BUF_SIZE
    b.stats[S_GOOD_FRAMES_RECEIVED] += 1
    b.stats[S_GOOD_OCTETS_RECEIVED] += flen
    _mib_size_bucket(b, flen)
    n = rxq.size[0]
    i = rxq.hw_next[0]
    ok = True
    for j in range(ndesc):
        if rxq.hw_own[(i + j) % n] == 0:
            ok = False
            break
    if not ok:
        b.stats[S_RX_DISCARD] += 1
        trace_event(b.trace, t_ns, -1, 1, i, 0, flen, 0, 0, rxq.busy[0], 0, 0, 0)
        return
    is_ip4 = w.frames[tid, 12] == 0x08 and w.frames[tid, 13] == 0x00
    done = 0
    for j in range(ndesc):
        d = (i + j) % n
        addr = rxq.buf_phys_addr[d]
        page = dma_to_page(b, addr)
        off = addr & (PAGE_SIZE - 1)
        chunk = size - done
        if chunk > MVNETA_MAX_RX_BUF_SIZE:
            chunk = MVNETA_MAX_RX_BUF_SIZE
        buf = b.mem.data[page]
        dev_dma_write(b, page, off, chunk)
        for x in range(chunk):
            pos = done + x                   # position in MH + frame
            if pos < MVNETA_MH_SIZE:
                buf[off + x] = 0
            else:
                buf[off + x] = w.frames[tid, pos - MVNETA_MH_SIZE]
        st = 0
        if j == 0:
            st |= MVNETA_RXD_FIRST_DESC
            if is_ip4:
                st |= MVNETA_RXD_L3_IP4 | MVNETA_RXD_L4_CSUM_OK
        if j == ndesc - 1:
            st |= MVNETA_RXD_LAST_DESC
        rxq.status[d] = st
        rxq.data_size[d] = size
        rxq.hw_own[d] = 0
        rxq.arrival_ns[d] = t_ns
        done += chunk
        rxq.busy[0] += 1
        trace_event(b.trace, t_ns, -1, 0, d, page, size, st, 0, rxq.busy[0], 0, 0, 0)
    rxq.hw_next[0] = (i + ndesc) % n
    if rxq.pending_irq[0] == 0:
        rxq.first_pending_ns[0] = t_ns
    rxq.pending_irq[0] += ndesc


@kernel
def mvneta_hw_rx(b, t_ns):
    """Deliver every frame that has arrived by ``t_ns``."""
    w = b.wire
    k = w.next[0]
    n = w.arrival_ns.shape[0]
    while k < n and w.arrival_ns[k] <= t_ns:
        _rx_one(b, w.arrival_ns[k], k)
        k += 1
    w.next[0] = k


@kernel
def mvneta_hw_tx_kick(b, t_ns):
    """The driver rang the doorbell: the MAC sends the pending descriptors back to back."""
    txq = b.txq
    w = b.wire
    n = txq.size[0]
    while txq.pending[0] > 0:
        d = txq.hw_next[0]
        addr = txq.buf_phys_addr[d]
        length = txq.data_size[d]
        page = dma_to_page(b, addr)
        off = addr & (PAGE_SIZE - 1)
        dev_dma_read(b, page, off, length)
        start = t_ns if t_ns > w.tx_last_ns[0] else w.tx_last_ns[0]
        wire_len = length + 4 if length + 4 >= 64 else 64     # Z_PAD to 60 + FCS
        done = start + (wire_len + ETH_WIRE_OVERHEAD) * 8.0 / w.gbps[0]
        w.tx_last_ns[0] = done
        txq.done_ns[d] = done
        if txq.command[d] & (1 << 20):       # MVNETA_TXD_L_DESC: a whole frame has gone out
            c = w.tx_n[0]
            if c < TXCAP_MAX:
                m = length if length < TXCAP_LEN else TXCAP_LEN
                w.tx_cap[c, :m] = b.mem.data[page, off:off + m]
                w.tx_cap_len[c] = length
            w.tx_n[0] = c + 1
        b.stats[S_GOOD_FRAMES_SENT] += 1
        b.stats[S_GOOD_OCTETS_SENT] += wire_len
        txq.hw_next[0] = (d + 1) % n
        txq.pending[0] -= 1
        txq.hw_sent[0] += 1


@kernel
def mvneta_hw_next_irq(b, now):
    """When the (unmasked) interrupt fires next, given arrivals so far; inf if never."""
    inf = np.inf
    if b.port.irq_on[0] == 0:
        return inf
    rxq = b.rxq
    txq = b.txq
    t = inf
    # TX done: every completion interrupts (TXDONE coalescing 0)
    if txq.hw_sent[0] > 0:
        d = txq.txq_get_index[0]
        if txq.done_ns[d] < t:
            t = txq.done_ns[d]
    # RX: 32 frames, or 100 us after the first one not yet signalled
    pend = rxq.pending_irq[0]
    first = rxq.first_pending_ns[0]
    w = b.wire
    k = w.next[0]
    need = b.port.coal_pkts[0] - pend
    if pend > 0 or k < w.arrival_ns.shape[0]:
        if pend == 0:
            first = w.arrival_ns[k]
            need -= 1
            k += 1
        tr = first + b.port.coal_usec[0] * 1000.0
        if need <= 0:
            tr = first if pend > 0 else w.arrival_ns[k - 1]
        elif k + need - 1 < w.arrival_ns.shape[0] and w.arrival_ns[k + need - 1] < tr:
            tr = w.arrival_ns[k + need - 1]
        if tr < t:
            t = tr
    if t < now:
        t = now
    return t
