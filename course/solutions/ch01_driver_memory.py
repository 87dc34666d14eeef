"""Reference solutions, chapter 01 (driver memory). The notebook's checkers accept these; see xdplab/course/checks.py."""

from xdplab.course.kit import *  # noqa: F401,F403


# mem_ex1
def mvneta_create_page_pool(b, size):
    """mvneta_create_page_pool(pp, rxq, size): the queue's page_pool, registered as its XDP memory model."""
    xdp_prog = b.r[R_PROG_KIND] != 0                      # READ_ONCE(pp->xdp_prog)
    b.r[R_RXQ_POOL] = page_pool_create(b,                 # rxq->page_pool = page_pool_create(&pp_params)
                                       0,                                      # .order
                                       PP_FLAG_DMA_MAP | PP_FLAG_DMA_SYNC_DEV,  # .flags
                                       size,                                   # .pool_size
                                       NUMA_NO_NODE,                           # .nid
                                       DMA_BIDIRECTIONAL if xdp_prog else DMA_FROM_DEVICE,  # .dma_dir
                                       b.r[R_RX_OFFSET],                       # .offset = pp->rx_offset_correction
                                       MVNETA_MAX_RX_BUF_SIZE)                 # .max_len
    if b.r[R_RXQ_POOL] < 0:                               # IS_ERR(rxq->page_pool)
        err = b.r[R_RXQ_POOL]                             # PTR_ERR(rxq->page_pool)
        b.r[R_RXQ_POOL] = -1                              # rxq->page_pool = NULL
        return err

    err = xdp_rxq_info_reg(b, 0, b.r[R_IFINDEX], 0, 0, PAGE_SIZE)   # __xdp_rxq_info_reg(.., rxq->id, 0, PAGE_SIZE)
    if err < 0:
        page_pool_destroy(b, b.r[R_RXQ_POOL])             # goto err_free_pp
        b.r[R_RXQ_POOL] = -1
        return err
    err = xdp_rxq_info_reg_mem_model(b, 0, MEM_TYPE_PAGE_POOL, b.r[R_RXQ_POOL])
    if err:
        xdp_rxq_info_unreg(b, 0)                          # err_unregister_rxq:
        page_pool_destroy(b, b.r[R_RXQ_POOL])             # err_free_pp:
        b.r[R_RXQ_POOL] = -1                              # rxq->page_pool = NULL
        return err
    return 0


# mem_ex2
def mvneta_rx_refill(b, i):
    """mvneta_rx_refill(pp, rx_desc, rxq, gfp): a page_pool page for RX descriptor i; 0 or -ENOMEM."""
    charge(b, C_REFILL_DESC)                              # the board's cycle model
    page = page_pool_alloc_pages(b, b.r[R_RXQ_POOL], 0)   # gfp_mask | __GFP_NOWARN
    if page < 0:
        return -ENOMEM
    phys_addr = page_pool_get_dma_addr(b, page) + b.r[R_RX_OFFSET]   # + pp->rx_offset_correction (256)
    mvneta_rx_desc_fill(b, i, phys_addr, page)
    return 0


# mem_ex3
def mvneta_rxq_drop_pkts(b):
    """mvneta_rxq_drop_pkts(pp, rxq): give every RX buffer back, unregister the memory model, destroy the pool."""
    rx_done = b.r[R_RXQ_BUSY]                             # mvneta_rxq_busy_desc_num_get
    if rx_done:
        mvneta_rxq_desc_num_update(b, rx_done, rx_done)
    pool = b.r[R_RXQ_POOL]
    for i in range(b.r[R_RXQ_SIZE]):
        page = b.rxd[i, RXD_BUF_VIRT_ADDR]
        if page < 0 or b.rxd[i, RXD_BUF_PHYS_ADDR] == 0:
            continue
        # the lab keeps the descriptor array across stop/open (the kernel frees it): forget the buffer
        b.rxd[i, RXD_BUF_PHYS_ADDR] = 0
        b.rxd[i, RXD_BUF_VIRT_ADDR] = -1
        page_pool_put_full_page(b, pool, page, False)    # not in NAPI: no direct recycling
    if xdp_rxq_info_is_reg(b, 0):
        xdp_rxq_info_unreg(b, 0)                          # drops the memory model's reference on the pool
    page_pool_destroy(b, pool)                            # drops the driver's: the pool is released
    b.r[R_RXQ_POOL] = -1
