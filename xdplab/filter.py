"""The XDP buffer helpers of net/core/filter.c (Linux 6.1), on the simulator's xdp_buff.

Every function works on ``(mem, xdp, ...)``: ``mem`` is the board's page memory
``uint8[npages, 4096]`` and ``xdp`` the int64 ``xdp_buff`` array (``XB_*`` in
:mod:`xdplab.xdp_abi`).  Pointers in ``xdp`` are byte offsets inside page
``xdp[XB_PAGE]``; the hard end of the linear buffer is
``hard_start + frame_sz - SKB_SHARED_INFO_SIZE`` (``xdp_data_hard_end``); frags are
``(page, offset, size)`` triples from ``XB_FRAG0`` when ``XDP_FLAGS_HAS_FRAGS`` is set.

They return 0 (or a length) on success and ``-errno`` like the kernel, and are
``@kernel`` functions: the eBPF VM calls them for the helpers of the same name,
and the core may call them directly.

    bpf_xdp_adjust_head(mem, xdp, offset, touch)            -> 0 | -EINVAL
    bpf_xdp_adjust_meta(mem, xdp, offset)                   -> 0 | -ENOTSUPP | -EINVAL | -EACCES
    bpf_xdp_adjust_tail(mem, xdp, offset, frag_free, touch) -> 0 | -EINVAL | -EOPNOTSUPP
    bpf_xdp_get_buff_len(xdp)                               -> bytes in the linear part + frags
    bpf_xdp_load_bytes(mem, xdp, offset, buf, boff, n, touch)  -> 0 | -EFAULT | -EINVAL
    bpf_xdp_store_bytes(mem, xdp, offset, buf, boff, n, touch) -> 0 | -EFAULT | -EINVAL

``frag_free`` (int64[1 + MAX_SKB_FRAGS]) receives the pages of frags that a
shrinking bpf_xdp_adjust_tail released: ``frag_free[0]`` is the count (added to),
``frag_free[1:]`` the pages.  The kernel returns them at once with
``__xdp_return(page, &rxq->mem, false, NULL)``; the caller must do that.

``touch`` (int64[TOUCH_SIZE], the touch table of :mod:`xdplab.xdp_abi`) receives the
cache lines of packet memory each helper read or wrote (added to): the bytes copied by
load/store_bytes, the tail adjust_tail zeroes, the metadata adjust_head moves.  The board
hands them to the DMA model after the run (``xdplab.mm.cpu_touch_lines``), so that a
missing DMA sync is caught whoever wrote the packet.  ``bpf_xdp_adjust_meta`` only moves
``data_meta`` (6.1 copies nothing) and touches no byte.
"""

from __future__ import annotations

import numpy as np

from ._twospeed import kernel
from .xdp_abi import (ETH_HLEN, PAGE_SIZE, SKB_SHARED_INFO_SIZE, TOUCH_N, TOUCH_PAGES, XB_DATA, XB_DATA_END,
                      XB_DATA_META, XB_FLAGS, XB_FRAG0, XB_FRAG_STRIDE, XB_FRAGS_SIZE, XB_FRAME_SZ, XB_HARD_START,
                      XB_NR_FRAGS, XB_PAGE, XDP_FLAGS_HAS_FRAGS, XDP_FRAME_SIZE)

__all__ = ["bpf_xdp_adjust_head", "bpf_xdp_adjust_meta", "bpf_xdp_adjust_tail", "bpf_xdp_get_buff_len",
           "bpf_xdp_load_bytes", "bpf_xdp_store_bytes", "xdp_get_metalen", "XDP_METALEN_MAX",
           "XDP_RXQ_FRAG_SIZE", "pkt_lines", "xdp_touch"]

EINVAL = 22
EFAULT = 14
EACCES = 13
EOPNOTSUPP = 95
ENOTSUPP = 524
# xdp_metalen_invalid(): 6.1 allows at most 32 bytes of metadata (later kernels: 255).
XDP_METALEN_MAX = 32
# rxq->frag_size: mvneta and BPF_PROG_TEST_RUN both register PAGE_SIZE (it bounds how far
# bpf_xdp_adjust_tail may grow the last frag: frag_size - frag offset - frag size).
XDP_RXQ_FRAG_SIZE = PAGE_SIZE


@kernel(hot=True)
def pkt_lines(off, n):
    """The 64-byte cache lines of a page that bytes [off, off + n) lie in, as an int64 bit set
    (bit i: bytes [64 i, 64 i + 64)); ``off`` in [0, PAGE_SIZE), n >= 1.  (An int64, not
    xdplab.mm.line_mask's uint64: it travels in the VM's int64 slots.)"""
    return (np.int64(-1) << (off >> 6)) & ~(np.int64(-2) << ((off + n - 1) >> 6))


@kernel
def xdp_touch(touch, page, off, n, write):
    """Record in the touch table that a helper read (``write`` 0) or wrote (1) bytes
    [off, off + n) of ``page``.  Rows merge by page; a full table (only a caller that never
    empties it can fill it: a frame has at most TOUCH_PAGES pages) records no more."""
    if n <= 0:
        return
    m = pkt_lines(off, n)
    c = touch[TOUCH_N]
    for i in range(c):
        if touch[1 + 3 * i] == page:
            touch[2 + 3 * i + write] |= m
            return
    if c < TOUCH_PAGES:
        touch[1 + 3 * c] = page
        touch[2 + 3 * c] = 0
        touch[3 + 3 * c] = 0
        touch[2 + 3 * c + write] = m
        touch[TOUCH_N] = c + 1


@kernel
def xdp_get_metalen(xdp):
    """xdp_get_metalen(): bytes of metadata in front of data (0 when meta is unsupported)."""
    if xdp[XB_DATA_META] > xdp[XB_DATA]:       # xdp_data_meta_unsupported()
        return 0
    return xdp[XB_DATA] - xdp[XB_DATA_META]


@kernel
def bpf_xdp_adjust_head(mem, xdp, offset, touch):
    """bpf_xdp_adjust_head(xdp, offset): move data by ``offset`` (negative = grow the
    head).  data must stay >= hard_start + sizeof(xdp_frame) + metalen and <=
    data_end - ETH_HLEN, else -EINVAL.  Metadata moves along with data (a memmove: its
    old bytes read, its new ones written, in ``touch``)."""
    metalen = xdp_get_metalen(xdp)
    data_start = xdp[XB_HARD_START] + XDP_FRAME_SIZE + metalen
    data = xdp[XB_DATA] + offset
    if data < data_start or data > xdp[XB_DATA_END] - ETH_HLEN:
        return -EINVAL
    if metalen:
        page = xdp[XB_PAGE]
        src = xdp[XB_DATA_META]
        dst = src + offset
        xdp_touch(touch, page, src, metalen, np.int64(0))
        xdp_touch(touch, page, dst, metalen, np.int64(1))
        if dst < src:
            for i in range(metalen):
                mem[page, dst + i] = mem[page, src + i]
        else:
            for i in range(metalen - 1, -1, -1):
                mem[page, dst + i] = mem[page, src + i]
    xdp[XB_DATA_META] += offset
    xdp[XB_DATA] = data
    return 0


@kernel
def bpf_xdp_adjust_meta(mem, xdp, offset):
    """bpf_xdp_adjust_meta(xdp, offset): move data_meta.  -ENOTSUPP if the driver
    marked meta invalid (mvneta does), -EINVAL outside [hard_start + sizeof(xdp_frame),
    data], -EACCES if the metadata length is not a multiple of 4 or exceeds 32."""
    meta = xdp[XB_DATA_META] + offset
    metalen = xdp[XB_DATA] - meta
    if xdp[XB_DATA_META] > xdp[XB_DATA]:
        return -ENOTSUPP
    if meta < xdp[XB_HARD_START] + XDP_FRAME_SIZE or meta > xdp[XB_DATA]:
        return -EINVAL
    if (metalen & 3) != 0 or metalen > XDP_METALEN_MAX:
        return -EACCES
    xdp[XB_DATA_META] = meta
    return 0


@kernel
def bpf_xdp_get_buff_len(xdp):
    """bpf_xdp_get_buff_len(xdp) = xdp_get_buff_len(): linear length + xdp_frags_size."""
    n = xdp[XB_DATA_END] - xdp[XB_DATA]
    if xdp[XB_FLAGS] & XDP_FLAGS_HAS_FRAGS:
        n += xdp[XB_FRAGS_SIZE]
    return n


@kernel
def _bpf_xdp_frags_increase_tail(mem, xdp, offset, touch):
    """bpf_xdp_frags_increase_tail(): only the last frag grows, into its tailroom."""
    if XDP_RXQ_FRAG_SIZE == 0 or XDP_RXQ_FRAG_SIZE > xdp[XB_FRAME_SZ]:
        return -EOPNOTSUPP
    f = XB_FRAG0 + (xdp[XB_NR_FRAGS] - 1) * XB_FRAG_STRIDE
    tailroom = XDP_RXQ_FRAG_SIZE - xdp[f + 2] - xdp[f + 1]
    if offset > tailroom:
        return -EINVAL
    page = xdp[f]
    start = xdp[f + 1] + xdp[f + 2]
    for i in range(offset):
        mem[page, start + i] = 0
    xdp_touch(touch, page, start, offset, np.int64(1))
    xdp[f + 2] += offset
    xdp[XB_FRAGS_SIZE] += offset
    return 0


@kernel
def _bpf_xdp_frags_shrink_tail(mem, xdp, offset, frag_free):
    """bpf_xdp_frags_shrink_tail(): drop bytes from the end, releasing emptied frags."""
    if offset > bpf_xdp_get_buff_len(xdp) - ETH_HLEN:
        return -EINVAL
    n_free = 0
    len_free = 0
    i = xdp[XB_NR_FRAGS] - 1
    while i >= 0 and offset > 0:
        f = XB_FRAG0 + i * XB_FRAG_STRIDE
        size = xdp[f + 2]
        shrink = offset if offset < size else size
        len_free += shrink
        offset -= shrink
        if size == shrink:
            c = frag_free[0]
            if c < frag_free.shape[0] - 1:
                frag_free[1 + c] = xdp[f]
                frag_free[0] = c + 1
            xdp[f + 2] = 0
            n_free += 1
        else:
            xdp[f + 2] = size - shrink
            break
        i -= 1
    xdp[XB_NR_FRAGS] -= n_free
    xdp[XB_FRAGS_SIZE] -= len_free
    if xdp[XB_NR_FRAGS] == 0:
        xdp[XB_FLAGS] &= ~XDP_FLAGS_HAS_FRAGS
        xdp[XB_DATA_END] -= offset
    return 0


@kernel
def bpf_xdp_adjust_tail(mem, xdp, offset, frag_free, touch):
    """bpf_xdp_adjust_tail(xdp, offset): move data_end (linear) or the end of the last
    frag.  Linear: data_end + offset must stay <= the hard end (frame_sz minus the
    skb_shared_info tailroom) and >= data + ETH_HLEN, else -EINVAL; grown bytes are
    zeroed (a memset: written, in ``touch``).  With frags see
    _bpf_xdp_frags_{increase,shrink}_tail."""
    if xdp[XB_FLAGS] & XDP_FLAGS_HAS_FRAGS:
        if offset < 0:
            return _bpf_xdp_frags_shrink_tail(mem, xdp, -offset, frag_free)
        return _bpf_xdp_frags_increase_tail(mem, xdp, offset, touch)
    hard_end = xdp[XB_HARD_START] + xdp[XB_FRAME_SZ] - SKB_SHARED_INFO_SIZE
    data_end = xdp[XB_DATA_END] + offset
    if data_end > hard_end:
        return -EINVAL
    if xdp[XB_FRAME_SZ] > PAGE_SIZE:          # the kernel WARNs: driver bug
        return -EINVAL
    if data_end < xdp[XB_DATA] + ETH_HLEN:
        return -EINVAL
    if offset > 0:
        page = xdp[XB_PAGE]
        start = xdp[XB_DATA_END]
        for i in range(offset):
            mem[page, start + i] = 0
        xdp_touch(touch, page, start, offset, np.int64(1))
    xdp[XB_DATA_END] = data_end
    return 0


@kernel
def _bpf_xdp_copy(mem, xdp, offset, buf, boff, n, to_packet, touch):
    """bpf_xdp_pointer() + bpf_xdp_copy_buf(): copy n bytes between the frame (from
    byte ``offset`` of data, across frags) and buf[boff:]; each piece of the frame read
    or written goes to ``touch``."""
    if offset > 0xFFFF or n > 0xFFFF or offset < 0 or n < 0:
        return -EFAULT
    if offset + n > bpf_xdp_get_buff_len(xdp):
        return -EINVAL
    page = xdp[XB_PAGE]
    lin = xdp[XB_DATA_END] - xdp[XB_DATA]
    done = 0
    # linear part
    if offset < lin:
        k = lin - offset
        if k > n:
            k = n
        p = xdp[XB_DATA] + offset
        if to_packet:
            for i in range(k):
                mem[page, p + i] = buf[boff + i]
        else:
            for i in range(k):
                buf[boff + i] = mem[page, p + i]
        xdp_touch(touch, page, p, k, to_packet)
        done = k
        offset = 0
    else:
        offset -= lin
    fi = 0
    while done < n and fi < xdp[XB_NR_FRAGS]:
        f = XB_FRAG0 + fi * XB_FRAG_STRIDE
        fsize = xdp[f + 2]
        if offset < fsize:
            k = fsize - offset
            if k > n - done:
                k = n - done
            fp = xdp[f]
            p = xdp[f + 1] + offset
            if to_packet:
                for i in range(k):
                    mem[fp, p + i] = buf[boff + done + i]
            else:
                for i in range(k):
                    buf[boff + done + i] = mem[fp, p + i]
            xdp_touch(touch, fp, p, k, to_packet)
            done += k
            offset = 0
        else:
            offset -= fsize
        fi += 1
    return 0


@kernel
def bpf_xdp_load_bytes(mem, xdp, offset, buf, boff, n, touch):
    """bpf_xdp_load_bytes(xdp, offset, buf, len): copy out of the frame, across frags.
    offset or len > 0xffff -> -EFAULT; offset + len > frame length -> -EINVAL."""
    return _bpf_xdp_copy(mem, xdp, offset, buf, boff, n, np.int64(0), touch)


@kernel
def bpf_xdp_store_bytes(mem, xdp, offset, buf, boff, n, touch):
    """bpf_xdp_store_bytes(xdp, offset, buf, len): copy into the frame, across frags."""
    return _bpf_xdp_copy(mem, xdp, offset, buf, boff, n, np.int64(1), touch)
