"""The mvneta NETA hardware on the Armada 3720: MAC, RX/TX DMA queues, interrupt coalescing.

The device side of the driver: it writes received frames into the buffers of
the RX descriptors the driver gave it, counts a frame it has no descriptor for
in ``rx_discard`` (the MIB register at 0x2484), sends what the driver queued
on the TX ring at line rate, and raises the shared RX/TX interrupt under the
coalescing rules the driver programs (32 frames / 100 us for RX; every TX
completion, ``MVNETA_TXDONE_COAL_PKTS = 0``).

The MAC enforces the size the driver programmed at ``mvneta_start_dev``
(``mvneta_max_rx_size_set(pp, MVNETA_RX_PKT_SIZE(mtu))``: 1534 bytes, FCS
included, at MTU 1500).  A longer frame is counted in the MIB's
``oversize_received`` and ``bad_octets_received`` (not as a good frame) and
delivered truncated to that size, its first descriptor flagged
``MVNETA_RXD_ERR_SUMMARY`` with the "max frame length" error code: the driver's
``mvneta_rx_error`` counts it in ``rx_errors`` and logs "bad rx status ...
(max frame length error)".  The error code is the driver's (``MVNETA_RXD_ERR_LEN``);
how much of such a frame the MAC writes, and that it flags the first descriptor
when the truncated frame still spans several buffers (jumbo MTUs), are the lab's
reading: the NETA functional specification is not public.
"""

from __future__ import annotations

import numpy as np

from .._bytes import copy_bytes, put_le
from .._twospeed import kernel
from .._layout import TXCAP_MAX  # transmitted frames whose bytes are kept (a "tcpdump")
from ..mm import dev_dma_read, dev_dma_write, dma_to_page
from ..trace import EV_TX_HW_SENT, board_trace, board_tracing
from .._layout import (R_WIRE_SEQ_OFF, F_FIRST_PENDING, F_GBPS, F_TX_LAST, R_MAX_RX_SIZE, R_COAL_PKTS, R_COAL_USEC, R_IRQ_ON, R_RXQ_BUSY, R_RXQ_HW_NEXT,
                       R_RXQ_PENDING_IRQ, R_RXQ_SIZE, R_STATS, R_TXCAP_LEN, R_TXQ_GET, R_TXQ_HW_NEXT, R_TXQ_HW_SENT,
                       R_TXQ_PENDING, R_TXQ_SIZE, R_WIRE_FLEN, R_WIRE_NEXT, R_WIRE_RXST, R_WIRE_TX_N)
from ..xdp_abi import PAGE_SIZE
from .mvneta_stats import (S_FRAMES_64_OCTETS, S_FRAMES_65_TO_127_OCTETS, S_FRAMES_128_TO_255_OCTETS,
                           S_FRAMES_256_TO_511_OCTETS, S_FRAMES_512_TO_1023_OCTETS, S_FRAMES_1024_TO_MAX_OCTETS,
                           S_GOOD_FRAMES_RECEIVED, S_GOOD_OCTETS_RECEIVED, S_GOOD_FRAMES_SENT, S_GOOD_OCTETS_SENT,
                           S_RX_DISCARD, S_OVERSIZE_RECEIVED, S_BAD_OCTETS_RECEIVED)

__all__ = ["create_wire", "RXD_STATUS", "RXD_DATA_SIZE", "RXD_BUF_PHYS_ADDR", "RXD_BUF_VIRT_ADDR", "RXD_HW_OWN",
           "RXD_ARRIVAL_PS", "NRXD", "TXD_COMMAND", "TXD_DATA_SIZE", "TXD_BUF_PHYS_ADDR", "TXD_BUF_TYPE", "TXD_BUF_PTR",
           "NTXD", "mvneta_hw_parse", "mvneta_hw_rx", "mvneta_hw_next_irq", "mvneta_hw_tx_kick",
           "MVNETA_RXD_ERR_SUMMARY", "MVNETA_RXD_ERR_LEN", "MVNETA_RXD_L3_IP4", "MVNETA_RXD_LAST_DESC", "MVNETA_RXD_FIRST_DESC",
           "MVNETA_RXD_L4_CSUM_OK", "MVNETA_RXD_FIRST_LAST_DESC", "MVNETA_MAX_RX_BUF_SIZE", "MVNETA_MH_SIZE",
           "ETH_WIRE_OVERHEAD", "TXCAP_MAX", "TXCAP_LEN"]

# columns of the RX descriptor table b.rxd (int64[rx_ring, NRXD]): struct mvneta_rx_desc + driver arrays
RXD_STATUS = 0          # rx_desc->status
RXD_DATA_SIZE = 1       # rx_desc->data_size
RXD_BUF_PHYS_ADDR = 2   # rx_desc->buf_phys_addr (0 = consumed, needs refill)
RXD_BUF_VIRT_ADDR = 3   # rxq->buf_virt_addr[i]: the page, -1 if none
RXD_HW_OWN = 4          # 1 = handed to the NIC (non-occupied)
RXD_ARRIVAL_PS = 5      # when the NIC filled it (ps), for latency views
NRXD = 6
# columns of the TX descriptor table b.txd (int64[tx_ring, NTXD]): struct mvneta_tx_desc + tx_buf
TXD_COMMAND = 0
TXD_DATA_SIZE = 1
TXD_BUF_PHYS_ADDR = 2
TXD_BUF_TYPE = 3        # struct mvneta_tx_buf.type
TXD_BUF_PTR = 4         # .xdpf handle / .skb, -1 if none
NTXD = 5



MVNETA_RXD_ERR_SUMMARY = 1 << 16
MVNETA_RXD_ERR_LEN = 1 << 18             # error code 2 (bits 17-18): max frame length error
MVNETA_RXD_L3_IP4 = 1 << 25
MVNETA_RXD_LAST_DESC = 1 << 26
MVNETA_RXD_FIRST_DESC = 1 << 27
MVNETA_RXD_L4_CSUM_OK = 1 << 30
MVNETA_RXD_FIRST_LAST_DESC = MVNETA_RXD_FIRST_DESC | MVNETA_RXD_LAST_DESC
MVNETA_MH_SIZE = 2                       # Marvell header the MAC prepends to every RX frame
# PAGE_SIZE - MVNETA_SKB_PAD, MVNETA_SKB_PAD = SKB_DATA_ALIGN(320 + 256) = 576
MVNETA_MAX_RX_BUF_SIZE = 3520
ETH_WIRE_OVERHEAD = 20                   # preamble 7 + SFD 1 + inter-frame gap 12 bytes
TXCAP_LEN = 128                          # bytes kept of each


def create_wire(arrival_ns, tmpl):
    """The link's arrivals as float64[n, 2]: (time the frame's last bit arrives, template index)."""
    w = np.zeros((len(arrival_ns), 2))
    w[:, 0] = arrival_ns
    w[:, 1] = tmpl
    return w


def mvneta_hw_parse(frames):
    """The status bits the MAC's parser sets in the first RX descriptor of each frame template
    (``frames``: uint8[templates, bytes]), as an int64 array: L3_IP4 and L4_CSUM_OK for an IPv4
    frame, else 0.  Worked out once per template when the traffic is set up, not per frame."""
    frames = np.asarray(frames, np.uint8)
    ip4 = (frames[:, 12] == 0x08) & (frames[:, 13] == 0x00)
    return np.where(ip4, MVNETA_RXD_L3_IP4 | MVNETA_RXD_L4_CSUM_OK, 0).astype(np.int64)


@kernel(hot=True)
def _mib_size_bucket(n):
    """The MIB counter of a frame of ``n`` bytes: frames_64_octets .. frames_1024_to_max_octets."""
    if n <= 64:
        return S_FRAMES_64_OCTETS
    if n <= 127:
        return S_FRAMES_65_TO_127_OCTETS
    if n <= 255:
        return S_FRAMES_128_TO_255_OCTETS
    if n <= 511:
        return S_FRAMES_256_TO_511_OCTETS
    if n <= 1023:
        return S_FRAMES_512_TO_1023_OCTETS
    return S_FRAMES_1024_TO_MAX_OCTETS


@kernel(hot=True)
def _mib_rx_good(b, n):
    """The MIB counters of a received frame of ``n`` bytes (kept or discarded): good frames and
    octets, and its size bucket."""
    b.r[R_STATS + S_GOOD_FRAMES_RECEIVED] += 1
    b.r[R_STATS + S_GOOD_OCTETS_RECEIVED] += n
    b.r[R_STATS + _mib_size_bucket(n)] += 1


@kernel
def _mib_rx_oversize(b, n):
    """The MIB counters of a frame of ``n`` bytes longer than the programmed maximum."""
    b.r[R_STATS + S_OVERSIZE_RECEIVED] += 1
    b.r[R_STATS + S_BAD_OCTETS_RECEIVED] += n


@kernel(hot=True)
def _rx_one(b, t_ns, k):
    """The MAC receives frame k: DMA it into descriptors, or discard it.  The descriptor at
    R_RXQ_HW_NEXT is the NIC's (the caller knows: else the ring is full)."""
    tid = np.int64(b.wire[k, 1])
    flen = b.r[R_WIRE_FLEN + tid]
    st0 = MVNETA_RXD_FIRST_DESC | b.r[R_WIRE_RXST + tid]    # the first descriptor's status
    if flen > b.r[R_MAX_RX_SIZE]:            # longer than the MAC accepts: truncated, flagged (no parse bits)
        _mib_rx_oversize(b, flen)
        flen = b.r[R_MAX_RX_SIZE]
        st0 = MVNETA_RXD_FIRST_DESC | MVNETA_RXD_ERR_SUMMARY | MVNETA_RXD_ERR_LEN
    else:
        _mib_rx_good(b, flen)
    size = flen + MVNETA_MH_SIZE             # data_size: MH + frame + FCS
    ndesc = 1                                # (most frames fit one buffer: no division for them)
    if size > MVNETA_MAX_RX_BUF_SIZE:
        ndesc = (size + MVNETA_MAX_RX_BUF_SIZE - 1) // MVNETA_MAX_RX_BUF_SIZE
    n = b.r[R_RXQ_SIZE]
    i = b.r[R_RXQ_HW_NEXT]
    ok = True
    d = i
    # the first descriptor is the NIC's (mvneta_hw_rx checked it before the call): the others of a
    # multi-buffer frame are checked here (a ring index wraps by compare, not by an integer division)
    for j in range(1, ndesc):
        d = d + 1 if d + 1 < n else 0
        if b.rxd[d, RXD_HW_OWN] == 0:
            ok = False
            break
    if not ok:
        b.r[R_STATS + S_RX_DISCARD] += 1
        board_trace(b, t_ns, -1, 1, i, 0, flen, 0, 0, b.r[R_RXQ_BUSY], 0, 0, 0)
        return
    done = 0
    d = i
    for j in range(ndesc):
        addr = b.rxd[d, RXD_BUF_PHYS_ADDR]
        page = dma_to_page(b, addr)
        off = addr & (PAGE_SIZE - 1)
        chunk = size - done
        if chunk > MVNETA_MAX_RX_BUF_SIZE:
            chunk = MVNETA_MAX_RX_BUF_SIZE
        dev_dma_write(b, page, off, chunk)
        x0 = 0
        if done == 0:                        # the Marvell header leads the first buffer
            b.data[page, off] = 0
            b.data[page, off + 1] = 0
            x0 = MVNETA_MH_SIZE
        src = done + x0 - MVNETA_MH_SIZE     # position in the frame
        copy_bytes(b.data, page, off + x0, b.frames, tid, src, chunk - x0)
        if j == 0 and b.r[R_WIRE_SEQ_OFF] != 0:
            # the generator's stamp (Board.run(stamp=True)): flow id and sequence number in the payload
            put_le(b.data, page, off + x0 + b.r[R_WIRE_SEQ_OFF], tid, 4)
            put_le(b.data, page, off + x0 + b.r[R_WIRE_SEQ_OFF] + 4, k, 4)
        st = 0
        if j == 0:
            st |= st0
        if j == ndesc - 1:
            st |= MVNETA_RXD_LAST_DESC
        b.rxd[d, RXD_STATUS] = st
        b.rxd[d, RXD_DATA_SIZE] = size
        b.rxd[d, RXD_HW_OWN] = 0
        b.rxd[d, RXD_ARRIVAL_PS] = np.int64(t_ns * 1000.0)
        done += chunk
        b.r[R_RXQ_BUSY] += 1
        board_trace(b, t_ns, -1, 0, d, page, size, st, 0, b.r[R_RXQ_BUSY], 0, 0, 0)
        d = d + 1 if d + 1 < n else 0
    b.r[R_RXQ_HW_NEXT] = d
    if b.r[R_RXQ_PENDING_IRQ] == 0:
        b.f[F_FIRST_PENDING] = t_ns
    b.r[R_RXQ_PENDING_IRQ] += ndesc


@kernel(hot=True)
def _rx_discards(b, t_ns, k):
    """The ring is full: no descriptor at the MAC's next slot, so every frame from ``k`` up to
    ``t_ns`` is counted and discarded (what ``_rx_one`` does for each, in a loop with no DMA in
    it: at line rate most offered frames take this path).  Returns the next frame.

    The counters are summed in locals and stored once (a size bucket when the frames' bucket
    changes): in memory, each frame's increments waited on the previous frame's (a
    store-to-load chain per counter).  A frame longer than the MAC's maximum is counted as
    oversize (its "bucket") and in bad octets, as ``_rx_one`` counts it."""
    n = b.wire.shape[0]
    i = b.r[R_RXQ_HW_NEXT]
    tracing = board_tracing(b)
    maxrx = b.r[R_MAX_RX_SIZE]
    k0 = k
    over0 = b.r[R_STATS + S_OVERSIZE_RECEIVED]
    octets = 0                                 # every frame's bytes
    bad_octets = 0                             # of which oversize frames' (summed per run, not per frame)
    run_octets = 0                             # octets when the current run began
    tid = np.int64(-1)                         # the template of the current run of frames
    flen = 0
    bucket = S_FRAMES_64_OCTETS                # the size bucket of the current run of frames
    run = 0                                    # frames in that run, not yet counted
    while k < n and b.wire[k, 0] <= t_ns:
        t = np.int64(b.wire[k, 1])
        if t != tid:                           # a new template: its size, and maybe its bucket
            tid = t
            flen = b.r[R_WIRE_FLEN + t]
            kb = _mib_size_bucket(flen)
            if flen > maxrx:
                kb = S_OVERSIZE_RECEIVED       # longer than the MAC accepts: its own "bucket"
            if kb != bucket:
                b.r[R_STATS + bucket] += run
                if bucket == S_OVERSIZE_RECEIVED:
                    bad_octets += octets - run_octets
                bucket = kb
                run = 0
                run_octets = octets
        octets += flen
        run += 1
        if tracing:
            board_trace(b, b.wire[k, 0], -1, 1, i, 0, flen, 0, 0, b.r[R_RXQ_BUSY], 0, 0, 0)
        k += 1
    b.r[R_STATS + bucket] += run
    if bucket == S_OVERSIZE_RECEIVED:
        bad_octets += octets - run_octets
    over = b.r[R_STATS + S_OVERSIZE_RECEIVED] - over0
    b.r[R_STATS + S_GOOD_FRAMES_RECEIVED] += k - k0 - over
    b.r[R_STATS + S_GOOD_OCTETS_RECEIVED] += octets - bad_octets
    b.r[R_STATS + S_BAD_OCTETS_RECEIVED] += bad_octets
    b.r[R_STATS + S_RX_DISCARD] += k - k0
    return k


@kernel
def mvneta_hw_rx(b, t_ns):
    """Deliver every frame that has arrived by ``t_ns``."""
    k = b.r[R_WIRE_NEXT]
    n = b.wire.shape[0]
    while k < n and b.wire[k, 0] <= t_ns:
        if b.rxd[b.r[R_RXQ_HW_NEXT], RXD_HW_OWN] == 0:
            k = _rx_discards(b, t_ns, k)      # nothing the MAC does frees a descriptor
            break
        _rx_one(b, b.wire[k, 0], k)
        k += 1
    b.r[R_WIRE_NEXT] = k


@kernel
def mvneta_hw_tx_kick(b, t_ns):
    """The driver rang the doorbell: the MAC sends the pending descriptors back to back."""
    n = b.r[R_TXQ_SIZE]
    while b.r[R_TXQ_PENDING] > 0:
        d = b.r[R_TXQ_HW_NEXT]
        addr = b.txd[d, TXD_BUF_PHYS_ADDR]
        length = b.txd[d, TXD_DATA_SIZE]
        page = dma_to_page(b, addr)
        off = addr & (PAGE_SIZE - 1)
        dev_dma_read(b, page, off, length)
        start = t_ns if t_ns > b.f[F_TX_LAST] else b.f[F_TX_LAST]
        wire_len = length + 4 if length + 4 >= 64 else 64     # Z_PAD to 60 + FCS
        done = start + (wire_len + ETH_WIRE_OVERHEAD) * 8.0 / b.f[F_GBPS]
        b.f[F_TX_LAST] = done
        b.txd_done[d] = done
        if board_tracing(b):                         # tx_hw_sent: when this descriptor's buffer is out
            board_trace(b, t_ns, -1, EV_TX_HW_SENT, d, page, np.int64(np.ceil(done)), length, 0,
                        b.r[R_RXQ_BUSY], 0, 0, 0)
        if b.txd[d, TXD_COMMAND] & (1 << 20):       # MVNETA_TXD_L_DESC: a whole frame has gone out
            c = b.r[R_WIRE_TX_N]
            if c < TXCAP_MAX:
                m = length if length < TXCAP_LEN else TXCAP_LEN
                copy_bytes(b.txcap, c, 0, b.data, page, off, m)
                b.r[R_TXCAP_LEN + c] = length
            b.r[R_WIRE_TX_N] = c + 1
        b.r[R_STATS + S_GOOD_FRAMES_SENT] += 1
        b.r[R_STATS + S_GOOD_OCTETS_SENT] += wire_len
        b.r[R_TXQ_HW_NEXT] = d + 1 if d + 1 < n else 0
        b.r[R_TXQ_PENDING] -= 1
        b.r[R_TXQ_HW_SENT] += 1


@kernel
def mvneta_hw_next_irq(b, now):
    """When the (unmasked) interrupt fires next, given arrivals so far; inf if never."""
    inf = np.inf
    if b.r[R_IRQ_ON] == 0:
        return inf
    t = inf
    # TX done: every completion interrupts (TXDONE coalescing 0)
    if b.r[R_TXQ_HW_SENT] > 0:
        d = b.r[R_TXQ_GET]
        if b.txd_done[d] < t:
            t = b.txd_done[d]
    # RX: 32 frames, or 100 us after the first one not yet signalled
    pend = b.r[R_RXQ_PENDING_IRQ]
    first = b.f[F_FIRST_PENDING]
    k = b.r[R_WIRE_NEXT]
    need = b.r[R_COAL_PKTS] - pend
    if pend > 0 or k < b.wire.shape[0]:
        if pend == 0:
            first = b.wire[k, 0]
            need -= 1
            k += 1
        tr = first + b.r[R_COAL_USEC] * 1000.0
        if need <= 0:
            tr = first if pend > 0 else b.wire[k - 1, 0]
        elif k + need - 1 < b.wire.shape[0] and b.wire[k + need - 1, 0] < tr:
            tr = b.wire[k + need - 1, 0]
        if tr < t:
            t = tr
    if pend == 0 and b.r[R_RXQ_BUSY] > 0:
        # descriptors still occupied when NAPI re-enabled the interrupt (mvneta_poll returns frames, not
        # descriptors: a poll of 64 descriptors of 3-buffer frames returns 21 < budget and completes).
        # The queue's threshold (MVNETA_RXQ_THRESHOLD_REG) counts occupied descriptors, and its time
        # coalescing runs while any are: the lab raises the interrupt at once at the threshold, else
        # after rx-usecs.  (A lab model of the NETA's coalescing, from the register names; not measured.)
        if b.r[R_RXQ_BUSY] >= b.r[R_COAL_PKTS]:
            tr = now
        else:
            tr = now + b.r[R_COAL_USEC] * 1000.0
        if tr < t:
            t = tr
    if t < now:
        t = now
    return t
