"""Reference solutions, chapter 03 (XDP_TX and XDP_REDIRECT). The notebook's checkers accept these; see xdplab/course/ch03.py."""

from xdplab.course.kit import *  # noqa: F401,F403


# redir_ex1
def mvneta_xdp_xmit(b, qrow, qcol, num_frame, flags):
    """mvneta_xdp_xmit(dev, num_frame, frames, flags): ndo_xdp_xmit; frames[i] is b.ndq[qrow, qcol + i].
    Returns how many frames the driver took (from the front), or -errno; the devmap frees the rest."""
    if b.r[R_RUNNING] == 0:                   # test_bit(__MVNETA_DOWN, &pp->state)
        return -ENETDOWN
    if flags & ~XDP_XMIT_FLAGS_MASK:
        return -EINVAL
    charge(b, C_TXQ_LOCK)                     # __netif_tx_lock(nq, cpu): the board's cycle model
    nxmit = 0
    nxmit_byte = 0
    for i in range(num_frame):
        ret = mvneta_xdp_submit_frame(b, b.ndq[qrow, qcol + i], True)   # dma_map: not our page_pool's page
        if ret & 0xFF != MVNETA_XDP_TX:
            break                             # the TX ring is full: the caller frees this one and the rest
        nxmit_byte += ret >> 8
        nxmit += 1
    if flags & XDP_XMIT_FLUSH:
        mvneta_txq_pend_desc_add(b, 0)        # one doorbell for the whole bulk
    b.r[R_STATS + S_TX_BYTES] += nxmit_byte
    b.r[R_STATS + S_TX_PACKETS] += nxmit
    b.r[R_STATS + S_TX_XDP_XMIT] += nxmit
    b.r[R_STATS + S_TX_XDP_XMIT_ERRORS] += num_frame - nxmit
    return nxmit


# redir_ex2
def veth_xdp_xmit(b, dev, qrow, qcol, n, flags, ndo_xmit):
    """veth_xdp_xmit(dev, n, frames, flags, ndo_xmit): frames[i] is b.ndq[qrow, qcol + i], into the ring of
    dev's peer.  Returns how many it took, or -errno (then none)."""
    if flags & ~XDP_XMIT_FLAGS_MASK:
        return -EINVAL
    rcv = b.nd[dev, ND_PEER]                  # rcu_dereference(priv->peer); the peer's RX queue is its row
    if rcv < 0:
        return -ENXIO
    if b.nd[rcv, ND_NAPI] == 0:               # !rcu_access_pointer(rq->napi): no XDP program, no GRO, or down
        return -ENXIO
    max_len = b.nd[rcv, ND_MTU] + b.nd[rcv, ND_HARD_HEADER_LEN] + VLAN_HLEN
    charge(b, C_TXQ_LOCK)                     # spin_lock(&rq->xdp_ring.producer_lock): the board's cycle model
    nxmit = 0
    for i in range(n):
        frame = b.ndq[qrow, qcol + i]
        if xdp_get_frame_len(b, frame) > max_len or __ptr_ring_produce(b, rcv, frame):
            break
        nxmit += 1
    if flags & XDP_XMIT_FLUSH:
        __veth_xdp_flush(b, rcv)              # schedule the peer's NAPI
    if ndo_xmit:
        b.nd[rcv, ND_RQ_PEER_TQ_XDP_XMIT] += nxmit
        b.nd[rcv, ND_RQ_PEER_TQ_XDP_XMIT_ERR] += n - nxmit
    return nxmit
