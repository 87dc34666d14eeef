"""The driver kit: every name a course exercise needs, in one import.

    from xdplab.course.kit import *

Kernel functions keep the kernel's names and take the board state ``b`` first
(``page_pool_alloc_pages(b, pool, gfp)``); pointers are ints (a ``struct page *``
is a page index, a ``struct page_pool *`` a pool index, a descriptor an index
into ``b.rxd``); struct fields are columns (``b.rxd[i, RXD_BUF_PHYS_ADDR]``,
``b.pg[page, PGF_DMA_ADDR]``, ``b.pp[pool, PPF_DMA_DIR]``); scalars of the port
and its queue are slots of ``b.r`` (``b.r[R_RXQ_POOL]`` is ``rxq->page_pool``).

When a checker plugs your function into a python-mode ``Board`` every kernel
name it calls resolves to the python copy of that kernel, so the sanitizer
raises at the faulting line of *your* code.

A few helpers are the lab's, not the kernel's, and say so: ``mvreg_write``
models the one NETA register the exercises write; ``lab_count_verdict`` keeps
the lab's per-verdict tally; ``charge`` is the board's cycle model (a stub that
has a ``charge(...)`` line wants you to keep it, so that your driver costs what
the 6.1 driver costs).
"""

from __future__ import annotations

from .. import board as _board  # noqa: F401  (registers every kernel before the python namespace is built)
from .._layout import (R_IFINDEX, R_MTU, R_PROG_ID, R_PROG_KIND, R_RX_OFFSET, R_RXQ_BUSY, R_RXQ_FIRST_TO_REFILL,
                       R_RXQ_HW_GIVE, R_RXQ_NEXT_DESC_TO_PROC, R_RXQ_POOL, R_RXQ_REFILL_NUM, R_RXQ_SIZE, R_STATS,
                       R_VERDICTS, R_WARNED_INVALID)
from .._twospeed import PythonKernel
from ..cost import C_DESC_READ, C_DESC_WRITE, C_MMIO_WRITE, C_REFILL_DESC, C_XDP_BUFF_PREP, C_XDP_STATS, charge
from ..errno import EINVAL, ENODEV, ENOMEM, EOPNOTSUPP
from ..mm import (DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_TO_DEVICE, PG_CPU, PG_RX_RING, PGF_DMA_ADDR, PGF_DMA_DIR,
                  PGF_PP, PGF_REFCNT, PGF_WHERE, dma_sync_single_for_cpu, dma_sync_single_for_device, page_ref_count)
from ..netstack import build_skb, napi_gro_receive, skb_mark_for_recycle
from ..nic.mvneta import (MVNETA_MAX_RXD, MVNETA_SKB_HEADROOM, MVNETA_XDP_DROPPED, MVNETA_XDP_PASS, MVNETA_XDP_REDIR,
                          MVNETA_XDP_TX, NAPI_POLL_WEIGHT, VERDICT_INVALID, mvneta_rx_desc_fill, mvneta_rx_refill,
                          mvneta_rxq_desc_num_update, mvneta_xdp_put_buff, mvneta_xdp_xmit_back, xdp_do_redirect)
from ..nic.mvneta_hw import (MVNETA_MAX_RX_BUF_SIZE, MVNETA_MH_SIZE, RXD_BUF_PHYS_ADDR, RXD_BUF_VIRT_ADDR,
                             RXD_DATA_SIZE, RXD_HW_OWN, RXD_STATUS)
from ..nic.mvneta_stats import (S_RX_BYTES, S_RX_PACKETS, S_RX_XDP_DROP, S_RX_XDP_PASS, S_RX_XDP_REDIRECT,
                                S_RX_XDP_TX, S_RX_XDP_TX_ERRORS)
from ..page_pool import (NUMA_NO_NODE, PP_FLAG_DMA_MAP, PP_FLAG_DMA_SYNC_DEV, PPF_ALLOC_COUNT, PPF_DMA_DIR,
                         PPF_FLAGS, PPF_MAX_LEN, PPF_OFFSET, PPF_POOL_SIZE, PPF_RING_COUNT, page_pool_alloc_pages,
                         page_pool_create, page_pool_destroy, page_pool_dev_alloc_pages, page_pool_get_dma_addr,
                         page_pool_get_dma_dir, page_pool_put_full_page, page_pool_put_page,
                         page_pool_recycle_direct)
from ..progs import bpf_prog_run_xdp
from ..xdp import (xdp_prepare_buff, xdp_rxq_info_is_reg, xdp_rxq_info_reg, xdp_rxq_info_reg_mem_model,
                   xdp_rxq_info_unreg)
from ..xdp_abi import MAX_SKB_FRAGS, XB_FRAG0, XB_FRAG_STRIDE, XB_FRAGS_SIZE, XB_NR_FRAGS  # chapter 05: skb_shared_info
from ..xdp_abi import (ETH_FCS_LEN, MEM_TYPE_PAGE_POOL, MEM_TYPE_PAGE_SHARED, PAGE_SIZE, SKB_SHARED_INFO_SIZE,
                       XB_DATA, XB_DATA_END, XB_DATA_META, XB_FLAGS, XB_HARD_START, XB_PAGE, XDP_ABORTED, XDP_DROP,
                       XDP_FLAGS_HAS_FRAGS, XDP_PACKET_HEADROOM, XDP_PASS, XDP_REDIRECT, XDP_TX)

# ----------------------------------------------------------------- chapter 03: XDP_REDIRECT's targets
from .._layout import R_RUNNING, R_TXQ_COUNT, R_TXQ_SIZE
from ..cost import C_TXQ_LOCK
from ..errno import ENETDOWN, ENOSPC, ENXIO
from ..mm import PG_XDP_FRAME
from ..netdev import (ND_HARD_HEADER_LEN, ND_IFINDEX, ND_MTU, ND_NAPI, ND_PEER, ND_RING_COUNT, ND_DROPPED,
                      ND_RQ_PEER_TQ_XDP_XMIT, ND_RQ_PEER_TQ_XDP_XMIT_ERR, VETH_RING_SIZE, VLAN_HLEN)
from ..nic.mvneta import mvneta_txq_pend_desc_add, mvneta_xdp_submit_frame
from ..nic.mvneta_stats import S_TX_BYTES, S_TX_PACKETS, S_TX_XDP_XMIT, S_TX_XDP_XMIT_ERRORS
from ..nic.veth import __ptr_ring_produce, __veth_xdp_flush
from ..redirect import XDP_XMIT_FLAGS_MASK, XDP_XMIT_FLUSH, xdp_do_flush, xdp_do_flush_map
from ..xdp import xdp_get_frame_len, xdp_return_frame, xdp_return_frame_rx_napi

# ----------------------------------------------------------------- chapter 04: the CPUMAP kthread
# (kernel/bpf/cpumap.c; the lab's names of the file's static functions start with "_": _cm_trace is
# trace_xdp_cpumap_kthread's call, _cpu_map_bpf_prog_run_xdp is cpu_map_bpf_prog_run_xdp)
from .._layout import R_SKB_NR_FREE
from ..cost import C_CPUMAP_BATCH, C_PTR_RING_CONSUME, C_SCHED_SWITCH
from ..cpumap import (CMF_BATCH, CMF_COUNT, CMF_HEAD, CMF_PROG_KIND, CMF_QSIZE, CMF_RING, CMF_SCHED, CMF_STATE,
                      CMF_STATS, CMS_KT_DROPS, CMS_KT_EVENTS, CMS_KT_PROCESSED, CMS_KT_SCHED, CMS_RELEASED, CMS_SKBS,
                      CPU_MAP_BULK_SIZE, CPUMAP_BATCH, KT_RUNNING, KT_SLEEPING, NR_CPUS, PROG_NONE, _cm_trace,
                      _cpu_map_bpf_prog_run_xdp, cpu_map_kthread_pass)
from ..netstack import netif_receive_skb
from ..trace import EV_XDP_CPUMAP_KTHREAD

# ----------------------------------------------------------------- the NETA register the exercises write
# drivers/net/ethernet/marvell/mvneta.c
MVNETA_RXQ_STATUS_UPDATE_REG_BASE = 0x1480
MVNETA_RXQ_ADD_NON_OCCUPIED_SHIFT = 16
MVNETA_RXQ_ADD_NON_OCCUPIED_MAX = 255       # each field of the register is 8 bits wide
MVNETA_RXQ_DEC_OCCUPIED_MAX = 255


def MVNETA_RXQ_STATUS_UPDATE_REG(q):
    """The RX queue status update register of queue q (0x1480 + 4 q)."""
    return MVNETA_RXQ_STATUS_UPDATE_REG_BASE + (q << 2)


_K = None


def _k():
    """The python copy of the kernels the helpers below call (built once, after every kernel registered)."""
    global _K
    if _K is None:
        from ..sanitizer import _san_report_raise
        _K = PythonKernel({"san_report": _san_report_raise})
    return _K


def mvreg_write(b, reg, val):
    """mvreg_write(pp, reg, val): a posted write to a NETA register (the lab's model of the hardware).

    Only ``MVNETA_RXQ_STATUS_UPDATE_REG(0)`` is modelled.  The NIC reads two
    8-bit fields from it: bits 0-7, descriptors the driver has processed (the
    NIC's busy count drops by that many), and bits 16-23, descriptors the driver
    hands back with a fresh buffer (the NIC may fill that many more, from where
    it last stopped).  Higher bits are ignored, as the hardware does.
    """
    if reg != MVNETA_RXQ_STATUS_UPDATE_REG(0):
        raise ValueError(f"mvreg_write: only MVNETA_RXQ_STATUS_UPDATE_REG(0) = {MVNETA_RXQ_STATUS_UPDATE_REG(0):#x} "
                         f"is modelled, got {reg:#x}")
    k = _k()
    k.charge(b, C_MMIO_WRITE)
    val = int(val)
    done = val & 0xFF
    filled = (val >> MVNETA_RXQ_ADD_NON_OCCUPIED_SHIFT) & 0xFF
    b.r[R_RXQ_BUSY] -= done
    n = b.r[R_RXQ_SIZE]
    g = b.r[R_RXQ_HW_GIVE]
    for _ in range(filled):
        b.rxd[g, RXD_HW_OWN] = 1
        g = g + 1 if g + 1 < n else 0
    b.r[R_RXQ_HW_GIVE] = g


def bpf_warn_invalid_xdp_action(b, act):
    """bpf_warn_invalid_xdp_action(dev, prog, act): pr_warn_once "... XDP return value %u ... expect packet loss!"."""
    k = _k()
    if b.r[R_WARNED_INVALID] == 0:
        b.r[R_WARNED_INVALID] = 1
        k.printk(b, k.cpu_now(b), 3, act, b.r[R_PROG_ID], 0)


def trace_xdp_exception(b, xdp, act):
    """trace_xdp_exception(dev, prog, act): the xdp:xdp_exception tracepoint (an event in the lab's trace)."""
    _k()._tr(b, 17, b.r[R_RXQ_NEXT_DESC_TO_PROC], xdp[XB_PAGE], act, 0, 0)


def lab_count_verdict(b, act):
    """The lab's per-verdict tally (``Board.verdicts()``) and the cost of the stats update. Not kernel code."""
    _k().charge(b, C_XDP_STATS)
    if 0 <= act <= XDP_REDIRECT:
        b.r[R_VERDICTS + act] += 1
    else:
        b.r[R_VERDICTS + VERDICT_INVALID] += 1


# ----------------------------------------------------------------- chapter 04: the kthread's skb
def cpumap_build_skb(b, frame, e):
    """The kthread's skb around one frame of entry ``e`` (CPU ``e``): ``__xdp_build_skb_from_frame`` — no copy;
    in 6.1 it calls ``xdp_release_frame``, so a page_pool page is unmapped and leaves its pool — plus the lab's
    count of the pages released (``Board.cpumap_stats()["pages_released"]``).  Returns the skb, or -1 when
    there is none.  A lab helper around the kernel function (its bookkeeping is the lab's, not the kernel's)."""
    k = _k()
    build = getattr(k, "_xdp_build_skb_from_frame", None)
    if build is not None:                     # this lab's cpumap.py counts the released pages itself
        return build(b, frame, e)
    nrel = k.xdp_frame_pool_pages(b, frame)   # the pages xdp_release_frame takes out of their pool
    skb = getattr(k, "__xdp_build_skb_from_frame")(b, frame)
    if skb >= 0:
        b.cpumap[e, CMF_STATS + CMS_RELEASED] += nrel
    return skb


# ----------------------------------------------------------------- include/net/xdp.h (chapter 05)
def xdp_buff_has_frags(xdp):
    """xdp_buff_has_frags(xdp): does the buff carry frags (XDP_FLAGS_HAS_FRAGS)?"""
    return bool(xdp[XB_FLAGS] & XDP_FLAGS_HAS_FRAGS)


def xdp_buff_set_frags_flag(xdp):
    """xdp_buff_set_frags_flag(xdp)."""
    xdp[XB_FLAGS] |= XDP_FLAGS_HAS_FRAGS


def xdp_buff_clear_frags_flag(xdp):
    """xdp_buff_clear_frags_flag(xdp)."""
    xdp[XB_FLAGS] &= ~XDP_FLAGS_HAS_FRAGS


__all__ = [n for n in dir() if not n.startswith("_") and n not in ("annotations",)] + [
    "__ptr_ring_produce", "__veth_xdp_flush",
    "_cm_trace", "_cpu_map_bpf_prog_run_xdp"]   # the kernel's own names; cpumap.c's statics
