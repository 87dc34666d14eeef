"""XDP core (net/core/xdp.c, include/net/xdp.h, Linux 6.1): rxq info, memory models, buffs and frames.

A driver tells the XDP core how its RX memory is managed by registering an
``xdp_rxq_info`` per queue and a *memory model* on it
(``xdp_rxq_info_reg_mem_model``).  Every path that later frees an XDP buffer
far from the driver (a redirected frame's TX completion, a CPUMAP kthread)
dispatches on that model: ``MEM_TYPE_PAGE_POOL`` pages go back to their pool.

An ``xdp_buff`` is an int64 array (layout ``XB_*`` in ``xdplab.xdp_abi``).  An
``xdp_frame`` lives where the kernel puts it: written into the first 40 bytes
of the buffer's headroom, so a frame handle is the bus-style address
``page * PAGE_SIZE + data_hard_start``.
"""

from __future__ import annotations

import numpy as np

from ._bytes import get_le, put_le
from ._twospeed import kernel
from .cost import C_XDP_FRAME_CONV, C_XDP_FRAME_TO_SKB, C_XDP_RETURN_FRAME, charge, cpu_now
from .errno import EFAULT, EINVAL, ENODEV, ENOMEM, ENOSPC, EOPNOTSUPP
from ._layout import R_MEM_ID_NEXT, R_XDP_NO_DIRECT, R_XDP_RXQ
from .mm import PGF_FRAG0, PGF_FRAG_NR, PGF_PP, PGF_WHERE, alloc_page, cpu_read, cpu_write, put_page
from .netstack import SKBF_DATA, SKBF_FRAG0, SKBF_LEN, SKBF_NR_FRAGS, build_skb, eth_type_trans
from .page_pool import page_pool_put_page, page_pool_release_page, page_pool_use_xdp_mem, page_pool_destroy
from .printk import printk
from .xdp_abi import (MEM_TYPE_MAX, MEM_TYPE_PAGE_ORDER0, MEM_TYPE_PAGE_POOL, MEM_TYPE_PAGE_SHARED,
                      PAGE_SIZE, SKB_SHARED_INFO_SIZE, XB_DATA, XB_DATA_END,
                      XB_DATA_META, XB_FLAGS, XB_FRAG0, XB_FRAGS_SIZE, XB_FRAG_STRIDE, XB_FRAME_SZ, XB_HARD_START, XB_INGRESS_IFINDEX, XB_MEM_ID, XB_MEM_TYPE, XB_NR_FRAGS,
                      XB_PAGE, XB_RX_QUEUE_INDEX, XB_RXQ, XB_SIZE, XDP_FLAGS_HAS_FRAGS, XDP_FRAME_SIZE)

__all__ = [
    "create_mem_ids", "create_xdp_buff",
    "xdp_rxq_info_reg", "xdp_rxq_info_reg_mem_model", "xdp_rxq_info_unreg", "xdp_rxq_info_unreg_mem_model",
    "xdp_rxq_info_is_reg", "xdp_rxq_info_unused", "xdp_init_buff", "xdp_prepare_buff", "xdp_data_hard_end",
    "xdp_convert_buff_to_frame", "xdp_frame_field", "xdp_return_frame", "xdp_return_frame_rx_napi",
    "xdp_return_buff", "xdp_return_page", "xdp_get_frame_len", "xdp_convert_frame_to_buff",
    "xdp_update_frame_from_buff", "xdpf_clone", "xdp_release_frame", "xdp_frame_pool_pages",
    "__xdp_build_skb_from_frame",
    "REG_STATE_NEW", "REG_STATE_REGISTERED", "REG_STATE_UNREGISTERED", "REG_STATE_UNUSED",
    "RXQ_DEV", "RXQ_QUEUE_INDEX", "RXQ_REG_STATE", "RXQ_MEM_TYPE", "RXQ_MEM_ID", "RXQ_NAPI_ID",
    "RXQ_FRAG_SIZE", "XDPF_DATA", "XDPF_LEN", "XDPF_HEADROOM", "XDPF_METASIZE", "XDPF_MEM_TYPE",
    "XDPF_MEM_ID", "XDPF_DEV_RX", "XDPF_FRAME_SZ", "XDPF_FLAGS", "MEM_ID_MIN", "MEM_ID_MAX",
]

REG_STATE_NEW = 0
REG_STATE_REGISTERED = 1
REG_STATE_UNREGISTERED = 2
REG_STATE_UNUSED = 3

# struct xdp_rxq_info, as columns of an int64[nqueues, 7] table
RXQ_DEV, RXQ_QUEUE_INDEX, RXQ_REG_STATE, RXQ_MEM_TYPE, RXQ_MEM_ID, RXQ_NAPI_ID, RXQ_FRAG_SIZE = range(7)

# mem.id comes from a cyclic IDA in [1, 0xFFFE]: 0 means "no allocator", 0xFFFF is reserved
MEM_ID_MIN = 1
MEM_ID_MAX = 0xFFFE

# struct xdp_frame (6.1, 40 bytes) field offsets, as written into the headroom
XDPF_DATA = 0        # void *data (stored as the offset of data within the page)
XDPF_LEN = 8         # u16
XDPF_HEADROOM = 10   # u16: headroom after the frame struct
XDPF_METASIZE = 12   # u32
XDPF_MEM_TYPE = 16   # struct xdp_mem_info { u32 type; u32 id; }
XDPF_MEM_ID = 20
XDPF_DEV_RX = 24     # struct net_device * (stored as an ifindex)
XDPF_FRAME_SZ = 32   # u32
XDPF_FLAGS = 36      # u32


def create_mem_ids():
    """The mem_id_ht rhashtable as a table: row id = (allocator/pool, mem type), -1 if unused."""
    return np.full((0x10000, 2), -1, np.int64)


def create_xdp_buff() -> np.ndarray:
    """An empty ``struct xdp_buff``."""
    return np.zeros(XB_SIZE, np.int64)


@kernel
def xdp_rxq_info_reg(b, q, ifindex, queue_index, napi_id, frag_size):
    """__xdp_rxq_info_reg(xdp_rxq, dev, queue_index, napi_id, frag_size)."""
    r = b.r[R_XDP_RXQ + 7 * q:R_XDP_RXQ + 7 * q + 7]
    if ifindex == 0:
        printk(b, cpu_now(b), 9, 0, 0, 0)      # WARN(!dev, "Missing net_device from driver")
        return -ENODEV
    if r[RXQ_REG_STATE] == REG_STATE_UNUSED:
        printk(b, cpu_now(b), 10, 0, 0, 0)
        return -EINVAL
    if r[RXQ_REG_STATE] == REG_STATE_REGISTERED:
        printk(b, cpu_now(b), 8, 0, 0, 0)      # "Missing unregister, handled but fix driver"
        xdp_rxq_info_unreg(b, q)
    r[:] = 0                                            # xdp_rxq_info_init: memset 0
    r[RXQ_DEV] = ifindex
    r[RXQ_QUEUE_INDEX] = queue_index
    r[RXQ_NAPI_ID] = napi_id
    r[RXQ_FRAG_SIZE] = frag_size
    r[RXQ_REG_STATE] = REG_STATE_REGISTERED
    return 0


@kernel
def xdp_rxq_info_is_reg(b, q):
    return b.r[R_XDP_RXQ + 7 * q + RXQ_REG_STATE] == REG_STATE_REGISTERED


@kernel
def xdp_rxq_info_unused(b, q):
    """xdp_rxq_info_unused: the driver promises not to register this queue."""
    b.r[R_XDP_RXQ + 7 * q + RXQ_REG_STATE] = REG_STATE_UNUSED


@kernel
def _mem_id_cyclic_get(b):
    for _ in range(MEM_ID_MAX - MEM_ID_MIN + 1):
        i = b.r[R_MEM_ID_NEXT]
        b.r[R_MEM_ID_NEXT] = i + 1 if i < MEM_ID_MAX else MEM_ID_MIN
        if b.ids[i, 0] == -1 and b.ids[i, 1] == -1:
            return i
    return -ENOMEM


@kernel
def xdp_rxq_info_reg_mem_model(b, q, mem_type, allocator):
    """xdp_rxq_info_reg_mem_model(xdp_rxq, type, allocator); allocator -1 means NULL."""
    r = b.r[R_XDP_RXQ + 7 * q:R_XDP_RXQ + 7 * q + 7]
    if r[RXQ_REG_STATE] != REG_STATE_REGISTERED:
        printk(b, cpu_now(b), 5, 0, 0, 0)      # WARN "Missing register, driver bug"
        return -EFAULT
    if mem_type < 0 or mem_type >= MEM_TYPE_MAX:
        return -EOPNOTSUPP
    r[RXQ_MEM_TYPE] = mem_type
    if allocator < 0:
        if mem_type == MEM_TYPE_PAGE_POOL:
            return -EINVAL                              # a page_pool model needs its pool
        return 0
    i = _mem_id_cyclic_get(b)
    if i < 0:
        return i
    r[RXQ_MEM_ID] = i
    b.ids[i, 0] = allocator
    b.ids[i, 1] = mem_type
    if mem_type == MEM_TYPE_PAGE_POOL:
        page_pool_use_xdp_mem(b, allocator, i)          # the model holds a pool reference
    return 0


@kernel
def xdp_rxq_info_unreg_mem_model(b, q):
    """xdp_rxq_info_unreg_mem_model: for page_pool, drop the model's pool reference."""
    r = b.r[R_XDP_RXQ + 7 * q:R_XDP_RXQ + 7 * q + 7]
    if r[RXQ_REG_STATE] != REG_STATE_REGISTERED:
        return
    i = r[RXQ_MEM_ID]
    if i == 0:
        return
    if r[RXQ_MEM_TYPE] == MEM_TYPE_PAGE_POOL:
        pool = b.ids[i, 0]
        b.ids[i, 1] = -1
        if pool >= 0:
            page_pool_destroy(b, pool)   # mem_allocator_disconnect clears pool_of when it is freed
    else:
        b.ids[i, 0] = -1
        b.ids[i, 1] = -1


@kernel
def xdp_rxq_info_unreg(b, q):
    """xdp_rxq_info_unreg."""
    r = b.r[R_XDP_RXQ + 7 * q:R_XDP_RXQ + 7 * q + 7]
    if r[RXQ_REG_STATE] == REG_STATE_UNUSED:
        return
    if r[RXQ_REG_STATE] != REG_STATE_REGISTERED:
        printk(b, cpu_now(b), 9, 0, 0, 0)      # WARN "Driver BUG"
        return
    xdp_rxq_info_unreg_mem_model(b, q)
    r[RXQ_REG_STATE] = REG_STATE_UNREGISTERED
    r[RXQ_DEV] = 0


@kernel(hot=True)
def xdp_init_buff(b, xdp, frame_sz, q):
    """xdp_init_buff(xdp, frame_sz, rxq)."""
    xdp[XB_FRAME_SZ] = frame_sz
    xdp[XB_RXQ] = q
    xdp[XB_FLAGS] = 0
    xdp[XB_INGRESS_IFINDEX] = b.r[R_XDP_RXQ + 7 * q + RXQ_DEV]
    xdp[XB_RX_QUEUE_INDEX] = b.r[R_XDP_RXQ + 7 * q + RXQ_QUEUE_INDEX]
    xdp[XB_MEM_TYPE] = b.r[R_XDP_RXQ + 7 * q + RXQ_MEM_TYPE]
    xdp[XB_MEM_ID] = b.r[R_XDP_RXQ + 7 * q + RXQ_MEM_ID]


@kernel(hot=True)
def xdp_prepare_buff(xdp, page, hard_start, headroom, data_len, meta_valid):
    """xdp_prepare_buff(xdp, hard_start, headroom, data_len, meta_valid)."""
    xdp[XB_PAGE] = page
    xdp[XB_HARD_START] = hard_start
    data = hard_start + headroom
    xdp[XB_DATA] = data
    xdp[XB_DATA_END] = data + data_len
    # xdp_set_data_meta_invalid: data_meta = data + 1
    xdp[XB_DATA_META] = data if meta_valid else data + 1


@kernel(hot=True)
def xdp_data_hard_end(xdp):
    """xdp_data_hard_end: the end of usable data, before the tailroom's skb_shared_info."""
    return xdp[XB_HARD_START] + xdp[XB_FRAME_SZ] - SKB_SHARED_INFO_SIZE


@kernel
def xdp_convert_buff_to_frame(b, xdp):
    """xdp_convert_buff_to_frame: write the xdp_frame into the headroom; its handle, or -1 (NULL).

    A frags buff's ``skb_shared_info`` is already where the frame needs it in the kernel (the
    tailroom of the head buffer, which a frame shares with its buff).  The lab keeps a buff's frags
    in the ``xdp`` array and a frame's in the head page's side table (``PGF_FRAG*``), so the
    conversion copies them across: the one place a frame gets its frags."""
    charge(b, C_XDP_FRAME_CONV)
    page = xdp[XB_PAGE]
    n = 0
    if xdp[XB_FLAGS] & XDP_FLAGS_HAS_FRAGS:
        n = xdp[XB_NR_FRAGS]
        for i in range(n):
            k = XB_FRAG0 + i * XB_FRAG_STRIDE
            b.pg[page, PGF_FRAG0 + 3 * i] = xdp[k]
            b.pg[page, PGF_FRAG0 + 3 * i + 1] = xdp[k + 1]
            b.pg[page, PGF_FRAG0 + 3 * i + 2] = xdp[k + 2]
    b.pg[page, PGF_FRAG_NR] = n
    hs = xdp[XB_HARD_START]
    headroom = xdp[XB_DATA] - hs
    metasize = xdp[XB_DATA] - xdp[XB_DATA_META]
    if metasize < 0:
        metasize = 0
    if headroom - metasize < XDP_FRAME_SIZE:
        b.pg[page, PGF_FRAG_NR] = 0
        return -1                                       # no room for the frame struct
    if xdp[XB_DATA_END] > xdp_data_hard_end(xdp):
        printk(b, cpu_now(b), 6, 0, 0, 0)      # "Driver BUG: missing reserved tailroom"
        b.pg[page, PGF_FRAG_NR] = 0
        return -1
    d = b.data
    put_le(d, page, hs + XDPF_DATA, xdp[XB_DATA], 8)
    put_le(d, page, hs + XDPF_LEN, xdp[XB_DATA_END] - xdp[XB_DATA], 2)
    put_le(d, page, hs + XDPF_HEADROOM, headroom - XDP_FRAME_SIZE, 2)
    put_le(d, page, hs + XDPF_METASIZE, metasize, 4)
    put_le(d, page, hs + XDPF_MEM_TYPE, xdp[XB_MEM_TYPE], 4)
    put_le(d, page, hs + XDPF_MEM_ID, xdp[XB_MEM_ID], 4)
    put_le(d, page, hs + XDPF_DEV_RX, xdp[XB_INGRESS_IFINDEX], 8)
    put_le(d, page, hs + XDPF_FRAME_SZ, xdp[XB_FRAME_SZ], 4)
    put_le(d, page, hs + XDPF_FLAGS, xdp[XB_FLAGS], 4)
    cpu_write(b, page, hs, XDP_FRAME_SIZE)
    return page * PAGE_SIZE + hs


@kernel(hot=True)
def xdp_frame_field(b, frame, field):
    """Read a field (XDPF_* offset) of the xdp_frame at handle ``frame``."""
    page = frame // PAGE_SIZE
    off = frame % PAGE_SIZE
    n = 8 if field == XDPF_DATA or field == XDPF_DEV_RX else (2 if field == XDPF_LEN or field == XDPF_HEADROOM else 4)
    return get_le(b.data, page, off + field, n)


@kernel
def xdp_return_page(b, page, mem_type, mem_id, napi_direct):
    """__xdp_return for one page, dispatching on the memory model."""
    charge(b, C_XDP_RETURN_FRAME)
    if mem_type == MEM_TYPE_PAGE_POOL:
        if napi_direct and b.r[R_XDP_NO_DIRECT] != 0:
            napi_direct = False             # xdp_return_frame_no_direct(): veth's NAPI, not the pool's
        # 6.1 finds the pool through page->pp
        page_pool_put_page(b, b.pg[page, PGF_PP], page, -1, napi_direct)
    elif mem_type == MEM_TYPE_PAGE_SHARED or mem_type == MEM_TYPE_PAGE_ORDER0:
        put_page(b, page)                               # page_frag_free / put_page
    else:
        # MEM_TYPE_XSK_BUFF_POOL frames never exist (converted to ORDER0 copies); WARN
        printk(b, cpu_now(b), 9, mem_type, 0, 0)


@kernel
def _xdp_return_frame(b, frame, napi_direct):
    page = frame // PAGE_SIZE
    mem_type = xdp_frame_field(b, frame, XDPF_MEM_TYPE)
    mem_id = xdp_frame_field(b, frame, XDPF_MEM_ID)
    flags = xdp_frame_field(b, frame, XDPF_FLAGS)
    if flags & XDP_FLAGS_HAS_FRAGS:
        # frags live in the skb_shared_info at the end of the buffer: b.frags side table
        n = b.pg[page, PGF_FRAG_NR]
        for i in range(n):
            xdp_return_page(b, b.pg[page, PGF_FRAG0 + 3 * i], mem_type, mem_id, napi_direct)
        b.pg[page, PGF_FRAG_NR] = 0
    xdp_return_page(b, page, mem_type, mem_id, napi_direct)


@kernel
def xdp_return_frame(b, frame):
    """xdp_return_frame: give a frame's pages back to their memory model (not NAPI-direct)."""
    _xdp_return_frame(b, frame, False)


@kernel
def xdp_return_frame_rx_napi(b, frame):
    """xdp_return_frame_rx_napi: the same from the RX NAPI context (direct recycling allowed)."""
    _xdp_return_frame(b, frame, True)


@kernel
def xdp_return_buff(b, xdp):
    """xdp_return_buff: give an xdp_buff's pages back (NAPI-direct)."""
    if xdp[XB_FLAGS] & XDP_FLAGS_HAS_FRAGS:
        for i in range(xdp[XB_NR_FRAGS]):
            xdp_return_page(b, xdp[XB_FRAG0 + i * XB_FRAG_STRIDE], xdp[XB_MEM_TYPE], xdp[XB_MEM_ID], True)
    xdp_return_page(b, xdp[XB_PAGE], xdp[XB_MEM_TYPE], xdp[XB_MEM_ID], True)


@kernel
def xdp_get_frame_len(b, frame):
    """xdp_get_frame_len: the frame's bytes, its frags included (6.1)."""
    n = xdp_frame_field(b, frame, XDPF_LEN)
    if xdp_frame_field(b, frame, XDPF_FLAGS) & XDP_FLAGS_HAS_FRAGS:
        page = frame // PAGE_SIZE
        for i in range(b.pg[page, PGF_FRAG_NR]):
            n += b.pg[page, PGF_FRAG0 + 3 * i + 2]
    return n


@kernel
def xdp_convert_frame_to_buff(b, frame, xdp):
    """xdp_convert_frame_to_buff(frame, xdp): an xdp_buff over a frame's buffer (veth's NAPI, a devmap
    program), its memory model the frame's (the receiver sets ``xdp->rxq->mem = frame->mem``)."""
    page = frame // PAGE_SIZE
    hs = frame % PAGE_SIZE
    data = xdp_frame_field(b, frame, XDPF_DATA)
    xdp[XB_PAGE] = page
    xdp[XB_HARD_START] = hs
    xdp[XB_DATA] = data
    xdp[XB_DATA_END] = data + xdp_frame_field(b, frame, XDPF_LEN)
    xdp[XB_DATA_META] = data - xdp_frame_field(b, frame, XDPF_METASIZE)
    xdp[XB_FRAME_SZ] = xdp_frame_field(b, frame, XDPF_FRAME_SZ)
    xdp[XB_FLAGS] = xdp_frame_field(b, frame, XDPF_FLAGS)
    xdp[XB_MEM_TYPE] = xdp_frame_field(b, frame, XDPF_MEM_TYPE)
    xdp[XB_MEM_ID] = xdp_frame_field(b, frame, XDPF_MEM_ID)
    n = 0
    size = 0
    if xdp[XB_FLAGS] & XDP_FLAGS_HAS_FRAGS:
        n = b.pg[page, PGF_FRAG_NR]
        for i in range(n):
            k = XB_FRAG0 + i * XB_FRAG_STRIDE
            xdp[k] = b.pg[page, PGF_FRAG0 + 3 * i]
            xdp[k + 1] = b.pg[page, PGF_FRAG0 + 3 * i + 1]
            xdp[k + 2] = b.pg[page, PGF_FRAG0 + 3 * i + 2]
            size += xdp[k + 2]
    xdp[XB_NR_FRAGS] = n
    xdp[XB_FRAGS_SIZE] = size


@kernel
def xdp_update_frame_from_buff(b, xdp, frame):
    """xdp_update_frame_from_buff: a program's head/tail/meta adjustments written back into the
    frame (XDP_PASS of a veth or devmap program). 0 or -ENOSPC."""
    hs = xdp[XB_HARD_START]
    headroom = xdp[XB_DATA] - hs
    metasize = xdp[XB_DATA] - xdp[XB_DATA_META]
    if metasize < 0:
        metasize = 0
    if headroom - metasize < XDP_FRAME_SIZE:
        return -ENOSPC
    if xdp[XB_DATA_END] > xdp_data_hard_end(xdp):
        printk(b, cpu_now(b), 6, 0, 0, 0)      # "Driver BUG: missing reserved tailroom"
        return -ENOSPC
    d = b.data
    page = frame // PAGE_SIZE
    put_le(d, page, hs + XDPF_DATA, xdp[XB_DATA], 8)
    put_le(d, page, hs + XDPF_LEN, xdp[XB_DATA_END] - xdp[XB_DATA], 2)
    put_le(d, page, hs + XDPF_HEADROOM, headroom - XDP_FRAME_SIZE, 2)
    put_le(d, page, hs + XDPF_METASIZE, metasize, 4)
    put_le(d, page, hs + XDPF_FRAME_SZ, xdp[XB_FRAME_SZ], 4)
    put_le(d, page, hs + XDPF_FLAGS, xdp[XB_FLAGS], 4)
    cpu_write(b, page, hs, XDP_FRAME_SIZE)
    return 0


@kernel
def xdpf_clone(b, frame):
    """xdpf_clone: a copy of a linear frame in a fresh page (dev_alloc_page), MEM_TYPE_PAGE_ORDER0,
    frame_sz PAGE_SIZE; -1 (NULL) if it does not fit a page or no page is free.  BPF_F_BROADCAST
    sends the clones to all but the last device of the map."""
    headroom = xdp_frame_field(b, frame, XDPF_HEADROOM) + XDP_FRAME_SIZE
    total = headroom + xdp_frame_field(b, frame, XDPF_LEN)
    if total > PAGE_SIZE:
        return -1
    np_ = alloc_page(b)
    if np_ < 0:
        return -1
    page = frame // PAGE_SIZE
    off = frame % PAGE_SIZE
    for i in range(total):                              # memcpy(addr, xdpf, totalsize)
        b.data[np_, i] = b.data[page, off + i]
    cpu_read(b, page, off, total)
    cpu_write(b, np_, 0, total)
    put_le(b.data, np_, XDPF_DATA, headroom, 8)
    put_le(b.data, np_, XDPF_FRAME_SZ, PAGE_SIZE, 4)
    put_le(b.data, np_, XDPF_MEM_TYPE, MEM_TYPE_PAGE_ORDER0, 4)
    put_le(b.data, np_, XDPF_MEM_ID, 0, 4)
    b.pg[np_, PGF_FRAG_NR] = 0
    return np_ * PAGE_SIZE


@kernel(hot=True)
def xdp_frame_pool_pages(b, frame):
    """How many pages of this frame (head and frags) ``xdp_release_frame`` takes out of their pool:
    all of them for a ``MEM_TYPE_PAGE_POOL`` frame, none otherwise."""
    if xdp_frame_field(b, frame, XDPF_MEM_TYPE) != MEM_TYPE_PAGE_POOL:
        return 0
    if xdp_frame_field(b, frame, XDPF_FLAGS) & XDP_FLAGS_HAS_FRAGS:
        return 1 + b.pg[frame // PAGE_SIZE, PGF_FRAG_NR]
    return 1


@kernel(hot=True)
def xdp_release_frame(b, frame):
    """xdp_release_frame (6.1): a page_pool frame's pages are released from their pool
    (page_pool_release_page: unmapped, no longer counted), before the stack owns them."""
    if xdp_frame_field(b, frame, XDPF_MEM_TYPE) != MEM_TYPE_PAGE_POOL:
        return
    page = frame // PAGE_SIZE
    if xdp_frame_field(b, frame, XDPF_FLAGS) & XDP_FLAGS_HAS_FRAGS:
        for i in range(b.pg[page, PGF_FRAG_NR]):
            fp = b.pg[page, PGF_FRAG0 + 3 * i]
            page_pool_release_page(b, b.pg[fp, PGF_PP], fp)
    page_pool_release_page(b, b.pg[page, PGF_PP], page)


@kernel(hot=True)
def __xdp_build_skb_from_frame(b, frame):
    """__xdp_build_skb_from_frame (6.1, net/core/xdp.c): an skb around the frame's buffer, no copy
    (CPUMAP's kthread and veth's XDP_PASS both use it); -1 if no skb.  Hot: inlined into the kthread's
    per-frame path (one call site there).  In 6.1 it ends with
    ``xdp_release_frame`` ("until page_pool get SKB return path, release DMA here"): a page_pool
    page leaves its pool and the stack frees it to the page allocator; later kernels mark the skb
    for recycling instead."""
    charge(b, C_XDP_FRAME_TO_SKB)
    page = frame // PAGE_SIZE
    hs = frame % PAGE_SIZE
    skb = build_skb(b, page, hs + xdp_frame_field(b, frame, XDPF_FRAME_SZ))
    if skb < 0:
        return -1
    headroom = XDP_FRAME_SIZE + xdp_frame_field(b, frame, XDPF_HEADROOM)
    b.skb[skb, SKBF_DATA] = hs + headroom                       # skb_reserve
    b.skb[skb, SKBF_LEN] = xdp_frame_field(b, frame, XDPF_LEN)  # __skb_put
    if xdp_frame_field(b, frame, XDPF_FLAGS) & XDP_FLAGS_HAS_FRAGS:
        n = b.pg[page, PGF_FRAG_NR]
        for i in range(n):                       # xdp_update_skb_shared_info
            b.skb[skb, SKBF_FRAG0 + i] = b.pg[page, PGF_FRAG0 + 3 * i]
            b.skb[skb, SKBF_LEN] += b.pg[page, PGF_FRAG0 + 3 * i + 2]
            b.pg[b.pg[page, PGF_FRAG0 + 3 * i], PGF_WHERE] = b.pg[page, PGF_WHERE]
        b.skb[skb, SKBF_NR_FRAGS] = n
    eth_type_trans(b, skb)                       # skb->protocol = eth_type_trans(skb, dev)
    xdp_release_frame(b, frame)
    b.pg[page, PGF_FRAG_NR] = 0                  # xdp_scrub_frame
    return skb
