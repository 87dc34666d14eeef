"""Reference solutions, chapter 05 (multi-buffer). The notebook's checkers accept these; see
xdplab/course/checks_05.py.  The frags-aware program of mbuf_ex3 is ch05_xdp_len_filter.c."""

from xdplab.course.kit import *  # noqa: F401,F403


# mbuf_ex1
def mvneta_swbm_add_rx_fragment(b, i, xdp, size, page):
    """mvneta_swbm_add_rx_fragment(pp, rx_desc, rxq, xdp, &size, page): a non-first buffer of a frame becomes
    a frag in the skb_shared_info at the end of the head buffer; returns the size left."""
    if size > MVNETA_MAX_RX_BUF_SIZE:
        ln = MVNETA_MAX_RX_BUF_SIZE
        data_len = ln
    else:
        ln = size
        data_len = ln - ETH_FCS_LEN               # the last buffer ends with the 4-byte FCS
    dma_dir = page_pool_get_dma_dir(b, b.r[R_RXQ_POOL])
    charge(b, C_DESC_READ)                        # the board's cycle model: rx_desc->buf_phys_addr
    dma_sync_single_for_cpu(b, b.rxd[i, RXD_BUF_PHYS_ADDR], ln, dma_dir)
    charge(b, C_DESC_WRITE)                       # the board's cycle model
    b.rxd[i, RXD_BUF_PHYS_ADDR] = 0               # the descriptor is empty: the refill will fill it
    b.pg[page, PGF_WHERE] = PG_CPU                # the lab's page census
    if not xdp_buff_has_frags(xdp):
        xdp[XB_NR_FRAGS] = 0                      # sinfo->nr_frags = 0: the first frag of this frame
    nr = xdp[XB_NR_FRAGS]
    if data_len > 0 and nr < MAX_SKB_FRAGS:
        k = XB_FRAG0 + nr * XB_FRAG_STRIDE        # skb_frag_t *frag = &sinfo->frags[sinfo->nr_frags++]
        xdp[k] = page                             # __skb_frag_set_page, skb_frag_off_set, skb_frag_size_set
        xdp[k + 1] = b.r[R_RX_OFFSET]
        xdp[k + 2] = data_len
        xdp[XB_NR_FRAGS] = nr + 1
        if not xdp_buff_has_frags(xdp):
            xdp[XB_FRAGS_SIZE] = size             # sinfo->xdp_frags_size = *size (what is left, FCS included)
            xdp_buff_set_frags_flag(xdp)
    else:
        page_pool_put_full_page(b, b.r[R_RXQ_POOL], page, True)
    return size - ln


# mbuf_ex2
def mvneta_xdp_put_buff(b, xdp, sync_len):
    """mvneta_xdp_put_buff(pp, rxq, xdp, sync_len): every frag back to the pool, then the head."""
    pool = b.r[R_RXQ_POOL]
    if xdp_buff_has_frags(xdp):
        for i in range(xdp[XB_NR_FRAGS]):
            page_pool_put_full_page(b, pool, xdp[XB_FRAG0 + i * XB_FRAG_STRIDE], True)
    page_pool_put_page(b, pool, xdp[XB_PAGE], sync_len, True)
