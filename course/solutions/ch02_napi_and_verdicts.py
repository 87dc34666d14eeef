"""Reference solutions, chapter 02 (NAPI and verdicts). The notebook's checkers accept these; see xdplab/course/checks.py."""

from xdplab.course.kit import *  # noqa: F401,F403


# napi_ex1
def mvneta_swbm_rx_frame(b, i, xdp, size, page):
    """mvneta_swbm_rx_frame(pp, rx_desc, rxq, xdp, &size, page): first buffer of a frame -> xdp_buff; returns size left."""
    data_len = -MVNETA_MH_SIZE
    if size > MVNETA_MAX_RX_BUF_SIZE:
        ln = MVNETA_MAX_RX_BUF_SIZE
        data_len += ln
    else:
        ln = size
        data_len += ln - ETH_FCS_LEN
    size -= ln
    dma_dir = page_pool_get_dma_dir(b, b.r[R_RXQ_POOL])
    charge(b, C_DESC_READ)                    # the board's cycle model: rx_desc->buf_phys_addr is an uncached load
    dma_sync_single_for_cpu(b, b.rxd[i, RXD_BUF_PHYS_ADDR], ln, dma_dir)
    charge(b, C_DESC_WRITE)                   # the board's cycle model
    b.rxd[i, RXD_BUF_PHYS_ADDR] = 0           # the descriptor is empty: mvneta_rx_refill_queue will refill it
    b.pg[page, PGF_WHERE] = PG_CPU            # the lab's page census: the CPU owns the page now
    charge(b, C_XDP_BUFF_PREP)                # the board's cycle model
    xdp[XB_FLAGS] &= ~XDP_FLAGS_HAS_FRAGS     # xdp_buff_clear_frags_flag
    xdp_prepare_buff(xdp, page, 0, b.r[R_RX_OFFSET] + MVNETA_MH_SIZE, data_len, False)
    return size


# napi_ex2
def mvneta_run_xdp(b, xdp, frame_sz):
    """mvneta_run_xdp(pp, rxq, prog, xdp, frame_sz, stats): run the program, act on its verdict."""
    off = b.r[R_RX_OFFSET]
    len_ = xdp[XB_DATA_END] - xdp[XB_HARD_START] - off
    data_len = xdp[XB_DATA_END] - xdp[XB_DATA]
    act = bpf_prog_run_xdp(b, xdp)
    # Due xdp_adjust_tail: DMA sync for_device cover max len CPU touch
    sync = xdp[XB_DATA_END] - xdp[XB_HARD_START] - off
    sync = max(sync, len_)
    lab_count_verdict(b, act)

    if act == XDP_PASS:
        b.r[R_STATS + S_RX_XDP_PASS] += 1
        return MVNETA_XDP_PASS                 # rx_packets/rx_bytes are counted on the skb path
    if act == XDP_REDIRECT:
        err = xdp_do_redirect(b, xdp)
        if err:
            mvneta_xdp_put_buff(b, xdp, sync)
            ret = MVNETA_XDP_DROPPED
        else:
            ret = MVNETA_XDP_REDIR
            b.r[R_STATS + S_RX_XDP_REDIRECT] += 1
    elif act == XDP_TX:
        ret = mvneta_xdp_xmit_back(b, xdp)
        if ret != MVNETA_XDP_TX:
            mvneta_xdp_put_buff(b, xdp, sync)
    else:
        if act != XDP_ABORTED and act != XDP_DROP:
            bpf_warn_invalid_xdp_action(b, act)    # default: fallthrough
        if act != XDP_DROP:
            trace_xdp_exception(b, xdp, act)       # case XDP_ABORTED: fallthrough
        mvneta_xdp_put_buff(b, xdp, sync)          # case XDP_DROP
        ret = MVNETA_XDP_DROPPED
        b.r[R_STATS + S_RX_XDP_DROP] += 1

    b.r[R_STATS + S_RX_BYTES] += frame_sz + xdp[XB_DATA_END] - xdp[XB_DATA] - data_len
    b.r[R_STATS + S_RX_PACKETS] += 1
    return ret
