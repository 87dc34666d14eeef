"""Chapter 03's checkers (xdplab/course/ch03.py) reject the realistic wrong answers, saying why in the kernel's terms.

The reference solutions pass in tests/test_course.py (every exercise in EXERCISES), and every single-statement
change of them is rejected in tests/test_mutations.py; here are the mistakes a driver writer makes.
"""
from xdplab.course import run_check
from xdplab.course.kit import *  # noqa: F401,F403


def _rejects(exercise, fn, *needles):
    r = run_check(exercise, fn)
    text = str(r)
    assert not r.ok and r.status == "fail", text
    for n in needles:
        assert n in text, f"{n!r} not in:\n{text}"
    return text


def _xmit(doorbell="flush", count="nxmit", free_own=False):
    """mvneta_xdp_xmit variants: doorbell "flush" (6.1), "never", "per-frame"; count "nxmit" or "all";
    free_own: 5.10's error path (the driver frees a frame it could not queue and goes on)."""
    def mvneta_xdp_xmit(b, qrow, qcol, num_frame, flags):
        if b.r[R_RUNNING] == 0:
            return -ENETDOWN
        if flags & ~XDP_XMIT_FLAGS_MASK:
            return -EINVAL
        charge(b, C_TXQ_LOCK)
        nxmit = 0
        nbytes = 0
        for i in range(num_frame):
            frame = b.ndq[qrow, qcol + i]
            ret = mvneta_xdp_submit_frame(b, frame, True)
            if ret & 0xFF != MVNETA_XDP_TX:
                if free_own:
                    xdp_return_frame_rx_napi(b, frame)
                    continue
                break
            if doorbell == "per-frame":
                mvneta_txq_pend_desc_add(b, 0)
            nbytes += ret >> 8
            nxmit += 1
        if doorbell == "flush" and flags & XDP_XMIT_FLUSH:
            mvneta_txq_pend_desc_add(b, 0)
        b.r[R_STATS + S_TX_BYTES] += nbytes
        b.r[R_STATS + S_TX_PACKETS] += nxmit
        b.r[R_STATS + S_TX_XDP_XMIT] += nxmit
        b.r[R_STATS + S_TX_XDP_XMIT_ERRORS] += num_frame - nxmit
        return num_frame if count == "all" else nxmit
    return mvneta_xdp_xmit


def test_mvneta_xdp_xmit_without_the_doorbell():
    _rejects("redir_ex1", _xmit(doorbell="never"), "good_frames_sent", "doorbell", "XDP_XMIT_FLUSH",
             "mvneta_txq_pend_desc_add")


def test_mvneta_xdp_xmit_doorbell_per_frame():
    _rejects("redir_ex1", _xmit(doorbell="per-frame"), "more register writes", "one doorbell per bulk")


def test_mvneta_xdp_xmit_claims_every_frame():
    # returns num_frame although the TX ring took fewer: the devmap frees nothing, the rest leak
    _rejects("redir_ex1", _xmit(count="all"), "434 descriptors", "nxmit", "bq_xmit_all() frees")


def test_mvneta_xdp_xmit_frees_what_it_did_not_take():
    # 5.10's error path: free the frame here and go on; 6.1's devmap frees frames[sent:] again
    _rejects("redir_ex1", _xmit(free_own=True), "returned twice", "5.13", "frames[sent:]")


def _veth(napi_check=True, enxio=True, flush=True, free_on_error=False):
    def veth_xdp_xmit(b, dev, qrow, qcol, n, flags, ndo_xmit):
        if flags & ~XDP_XMIT_FLAGS_MASK:
            return -EINVAL
        rcv = b.nd[dev, ND_PEER]
        if rcv < 0:
            return -ENXIO
        if napi_check and b.nd[rcv, ND_NAPI] == 0:
            if free_on_error:
                for i in range(n):
                    xdp_return_frame(b, b.ndq[qrow, qcol + i])
            return -ENXIO if enxio else 0      # enxio=False: "nothing taken" said as 0 instead of an error
        max_len = b.nd[rcv, ND_MTU] + b.nd[rcv, ND_HARD_HEADER_LEN] + VLAN_HLEN
        charge(b, C_TXQ_LOCK)
        nxmit = 0
        for i in range(n):
            frame = b.ndq[qrow, qcol + i]
            if xdp_get_frame_len(b, frame) > max_len or __ptr_ring_produce(b, rcv, frame):
                break
            nxmit += 1
        if flush and flags & XDP_XMIT_FLUSH:
            __veth_xdp_flush(b, rcv)
        if ndo_xmit:
            b.nd[rcv, ND_RQ_PEER_TQ_XDP_XMIT] += nxmit
            b.nd[rcv, ND_RQ_PEER_TQ_XDP_XMIT_ERR] += n - nxmit
        return nxmit
    return veth_xdp_xmit


def test_veth_xdp_xmit_without_the_napi_check():
    # frames go into veth1's ring, which nobody polls: they stay there
    _rejects("redir_ex2", _veth(napi_check=False), "veth1", "rq->napi", "-ENXIO", "ethtool -K veth1 gro on")


def test_veth_xdp_xmit_returns_0_instead_of_enxio():
    _rejects("redir_ex2", _veth(enxio=False), "tx_dropped", "xdp:xdp_devmap_xmit", "err=-6", "return -ENXIO")


def test_veth_xdp_xmit_without_waking_the_peer():
    _rejects("redir_ex2", _veth(flush=False), "ptr_ring", "__veth_xdp_flush", "schedules the peer's NAPI")


def test_veth_xdp_xmit_frees_the_bulk_it_refuses():
    _rejects("redir_ex2", _veth(free_on_error=True), "returned twice")
