"""Reference solutions, chapter 00 (the lab). The notebook's checkers accept these; see xdplab/course/checks.py."""

from xdplab.course.kit import *  # noqa: F401,F403


# lab_ex1
def mvneta_rx_desc_fill(b, i, phys_addr, page):
    """mvneta_rx_desc_fill(rx_desc, phys_addr, virt_addr, rxq): post a buffer in RX descriptor i."""
    charge(b, C_DESC_WRITE)                  # the board's cycle model: a store to the uncached descriptor
    b.rxd[i, RXD_BUF_PHYS_ADDR] = phys_addr  # rx_desc->buf_phys_addr = phys_addr: where the NIC will DMA
    b.rxd[i, RXD_BUF_VIRT_ADDR] = page       # rxq->buf_virt_addr[i] = virt_addr: which page that is, for the CPU
    b.pg[page, PGF_WHERE] = PG_RX_RING       # the lab's page census (not kernel code)


# lab_ex2
def mvneta_rxq_desc_num_update(b, rx_done, rx_filled):
    """mvneta_rxq_desc_num_update(pp, rxq, rx_done, rx_filled): ack processed descriptors, hand refilled ones back."""
    if rx_done <= 0xff and rx_filled <= 0xff:
        val = rx_done | (rx_filled << MVNETA_RXQ_ADD_NON_OCCUPIED_SHIFT)
        mvreg_write(b, MVNETA_RXQ_STATUS_UPDATE_REG(0), val)
        return
    # Only 255 descriptors can be added at once
    while rx_done > 0 or rx_filled > 0:
        if rx_done <= 0xff:
            val = rx_done
            rx_done = 0
        else:
            val = 0xff
            rx_done -= 0xff
        if rx_filled <= 0xff:
            val |= rx_filled << MVNETA_RXQ_ADD_NON_OCCUPIED_SHIFT
            rx_filled = 0
        else:
            val |= 0xff << MVNETA_RXQ_ADD_NON_OCCUPIED_SHIFT
            rx_filled -= 0xff
        mvreg_write(b, MVNETA_RXQ_STATUS_UPDATE_REG(0), val)
