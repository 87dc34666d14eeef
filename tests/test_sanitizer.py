"""The python-speed sanitizer catches driver bugs at the faulting line, with the fix in the message."""
import pytest

from xdplab import Board, SanitizerError
from xdplab.mm import DMA_BIDIRECTIONAL, PG_CPU, PGF_WHERE
from xdplab.nic.mvneta_hw import MVNETA_MAX_RX_BUF_SIZE, MVNETA_MH_SIZE, RXD_BUF_PHYS_ADDR
from xdplab.page_pool import page_pool_get_dma_dir, page_pool_put_page
from xdplab.xdp import xdp_prepare_buff
from xdplab.xdp_abi import ETH_FCS_LEN, XB_PAGE, XDP_FLAGS_HAS_FRAGS, XB_FLAGS
from xdplab import _layout as L


def rx_frame_without_sync(b, i, xdp, size, page):
    """mvneta_swbm_rx_frame that forgot dma_sync_single_for_cpu."""
    ln = min(size, MVNETA_MAX_RX_BUF_SIZE)
    data_len = ln - MVNETA_MH_SIZE - (ETH_FCS_LEN if size <= MVNETA_MAX_RX_BUF_SIZE else 0)
    b.rxd[i, RXD_BUF_PHYS_ADDR] = 0
    b.pg[page, PGF_WHERE] = PG_CPU
    xdp[XB_FLAGS] &= ~XDP_FLAGS_HAS_FRAGS
    xdp_prepare_buff(xdp, page, 0, b.r[L.R_RX_OFFSET] + MVNETA_MH_SIZE, data_len, False)
    return size - ln


def test_read_before_sync_for_cpu():
    b = Board("ssh-mirror", mode="python", overrides={"mvneta_swbm_rx_frame": rx_frame_without_sync})
    with pytest.raises(SanitizerError) as e:
        b.run(packets=50)
    msg = str(e.value)
    assert "CPU read of a DMA buffer before dma_sync_single_for_cpu()" in msg
    assert "fix: call dma_sync_single_for_cpu(dev, rx_desc->buf_phys_addr, rx_desc->data_size" in msg


def put_buff_twice(b, xdp, sync_len):
    pool = b.r[L.R_RXQ_POOL]
    page_pool_put_page(b, pool, xdp[XB_PAGE], sync_len, True)
    page_pool_put_page(b, pool, xdp[XB_PAGE], sync_len, True)


def test_double_recycle_in_the_drop_path():
    b = Board("drop", mode="python", overrides={"mvneta_xdp_put_buff": put_buff_twice})
    with pytest.raises(SanitizerError, match="page recycled twice"):
        b.run(packets=20)


def drop_pkts_that_forgets_the_ring(b):
    """mvneta_rxq_drop_pkts without the loop over the ring."""
    from xdplab.page_pool import page_pool_destroy
    from xdplab.xdp import xdp_rxq_info_is_reg, xdp_rxq_info_unreg
    if xdp_rxq_info_is_reg(b, 0):
        xdp_rxq_info_unreg(b, 0)
    page_pool_destroy(b, b.r[L.R_RXQ_POOL])
    b.r[L.R_RXQ_POOL] = -1


def test_leak_at_teardown_names_the_holder():
    b = Board(None, mode="python", overrides={"mvneta_rxq_drop_pkts": drop_pkts_that_forgets_the_ring})
    b.run(packets=100)
    with pytest.raises(SanitizerError) as e:
        b.stop()
    assert "page_pool destroyed with pages in flight" in str(e.value)
    with pytest.raises(SanitizerError) as e:
        b.check_leaks()
    assert "page leaked" in str(e.value) and "the RX ring" in str(e.value)
    assert "put every RX-ring page back with page_pool_put_full_page()" in str(e.value)


def test_jit_records_and_raises_after_the_call():
    # same bug, jitted kernels: the report is raised by the Python wrapper after the run
    b = Board("drop")
    b.state.r[L.R_SAN_N] = 0
    pool = int(b.state.r[L.R_RXQ_POOL])
    p = b._call("page_pool_alloc_pages", pool, 0)
    b._call("page_pool_recycle_direct", pool, p)
    with pytest.raises(SanitizerError, match="recycled twice"):
        b._call("page_pool_recycle_direct", pool, p)


def refill_queue_without_the_empty_check(b):
    """mvneta_rx_refill_queue that refills descriptors whether or not they still hold a buffer."""
    from xdplab.nic.mvneta import mvneta_rx_refill
    n = b.r[L.R_RXQ_SIZE]
    curr = b.r[L.R_RXQ_FIRST_TO_REFILL]
    i = 0
    while i < b.r[L.R_RXQ_REFILL_NUM] and i < 64:
        mvneta_rx_refill(b, (curr + 1) % n)          # off by one: the next, still armed, descriptor
        curr = curr + 1 if curr + 1 < n else 0
        i += 1
    b.r[L.R_RXQ_REFILL_NUM] -= i
    b.r[L.R_RXQ_FIRST_TO_REFILL] = curr
    return i


def test_refilling_an_armed_descriptor_is_caught():
    b = Board("drop", mode="python", overrides={"mvneta_rx_refill_queue": refill_queue_without_the_empty_check})
    with pytest.raises(SanitizerError, match="descriptor refilled twice"):
        b.run(packets=100)
