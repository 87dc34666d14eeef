"""Pages, the page allocator and the DMA API on a non-coherent arm64 board.

Models (Linux 6.1): ``alloc_pages``/``alloc_pages_bulk_array_node`` for order 0,
``get_page``/``put_page`` with ``page_ref_count``, the fault-injection knobs of
``fail_page_alloc`` (``interval``, ``times``), and the dma-direct API of an
SoC without cache-coherent DMA (the Armada 3720):

* ``dma_map_page_attrs`` cleans the page for the device unless
  ``DMA_ATTR_SKIP_CPU_SYNC`` (page_pool always passes it);
* ``dma_sync_single_for_device`` cleans (``dc cvac``) the lines of the range;
* ``dma_sync_single_for_cpu`` invalidates (``dc ivac``) them, except for
  ``DMA_TO_DEVICE``.

Coherency is tracked per 64-byte cache line with two bitmasks per page (64
lines in a 4 KiB page): lines the device wrote that the CPU has not
invalidated (``dev_dirty``), and lines the CPU wrote that nobody cleaned
(``cpu_dirty``).  A CPU read of a ``dev_dirty`` line, a device read of a
``cpu_dirty`` line, or a device write over one, is a sanitizer report.
The CPU's accesses come from the driver, the stack and the XDP program: a
built-in one by bytes (``cpu_touch``, ``cpu_write``), an eBPF one by the lines the
VM saw it and its helpers touch (``cpu_touch_lines``).
"""

from __future__ import annotations

import numpy as np

from ._bytes import hweight64
from ._twospeed import kernel
from .cost import (C_DCACHE_CLEAN_LINE, C_DCACHE_INVAL_LINE, C_DMA_MAP, C_DMA_SYNC_CALL, C_DMA_UNMAP,
                   C_PAGE_ALLOC, C_PAGE_FREE, C_PKT_MISS, charge, charge_n)
from .sanitizer import san_report
from ._layout import (R_FAIL_CALLS, R_FAIL_FAILED, R_FAIL_INTERVAL, R_FAIL_TIMES, R_MM_ALLOC_FAILS, R_MM_ALLOCS,
                      R_MM_DMA_MAPS, R_MM_FREES, R_NR_FREE)
from .xdp_abi import MAX_SKB_FRAGS, PAGE_SHIFT, PAGE_SIZE

__all__ = [
    "create_pages", "alloc_page", "alloc_pages_bulk", "put_page", "get_page", "page_ref_count",
    "dma_map_page", "dma_unmap_page", "dma_map_single", "dma_unmap_single", "dma_sync_single_for_cpu", "dma_sync_single_for_device",
    "dma_sync_single_range_for_device", "dma_to_page", "cpu_read", "cpu_write", "dev_dma_write",
    "dev_dma_read", "line_mask", "cpu_touch", "cpu_touch_lines",
    "DMA_BIDIRECTIONAL", "DMA_TO_DEVICE", "DMA_FROM_DEVICE", "DMA_NONE", "DMA_ATTR_SKIP_CPU_SYNC",
    "PHYS_OFFSET", "PG_FREE", "PG_RX_RING", "PG_ALLOC_CACHE", "PG_PTR_RING", "PG_CPU", "PG_TX_RING",
    "PG_SKB", "PG_XDP_FRAME", "PG_CALLER", "PG_NAMES", "PGF_REFCNT", "PGF_PP", "PGF_WHERE",
    "PGF_DMA_ADDR", "PGF_DMA_DIR", "PGF_PFMEMALLOC", "PGF_FREE", "PGF_FRAG_NR", "PGF_FRAG0", "PGF_DMA_EXTRA", "NPGF",
    "LN_DEV_DIRTY", "LN_CPU_DIRTY", "LN_CACHED",
]

# enum dma_data_direction
DMA_BIDIRECTIONAL = 0
DMA_TO_DEVICE = 1
DMA_FROM_DEVICE = 2
DMA_NONE = 3
DMA_ATTR_SKIP_CPU_SYNC = 1 << 5

# Where the simulated DDR window for network buffers starts (bus address == physical
# address: the A3720 has no IOMMU in front of mvneta).  Any value with room for the
# pages below 4 GiB works: mvneta descriptors hold 32-bit buffer addresses.
PHYS_OFFSET = 0x10000000

# Where a page is: every page is in exactly one place (the conservation invariant).
PG_FREE = 0          # in the page allocator
PG_RX_RING = 1       # posted to the NIC in an RX descriptor
PG_ALLOC_CACHE = 2   # page_pool alloc cache
PG_PTR_RING = 3      # page_pool ptr_ring
PG_CPU = 4           # being processed by the driver (an xdp_buff)
PG_TX_RING = 5       # on the TX ring (XDP_TX, ndo_xdp_xmit)
PG_SKB = 6           # owned by an skb in the network stack
PG_XDP_FRAME = 7     # an xdp_frame queued for redirect
PG_CALLER = 8        # returned by an allocator to a caller that has not stored it yet
PG_NAMES = ("free", "rx_ring", "alloc_cache", "ptr_ring", "cpu", "tx_ring", "skb", "xdp_frame", "caller")

_ALL_LINES = np.uint64(0xFFFFFFFFFFFFFFFF)


# columns of the page table b.pg (int64[npages, NPGF]): struct page, as far as xdplab needs it
PGF_REFCNT = 0       # page_ref_count
PGF_PP = 1           # page->pp: owning page_pool, -1 if none
PGF_WHERE = 2        # PG_*
PGF_DMA_ADDR = 3     # mapped bus address (page_pool_get_dma_addr), 0 if unmapped
PGF_DMA_DIR = 4      # direction it was mapped with, DMA_NONE if unmapped
PGF_PFMEMALLOC = 5
PGF_FREE = 6         # storage of the allocator's free stack (slot i holds a free page)
PGF_FRAG_NR = 7      # skb_shared_info.nr_frags of a frame/skb whose head is this page
PGF_FRAG0 = 8        # frags: (page, offset, size) x MAX_SKB_FRAGS
# streaming mappings (dma_map_single) of a page that already has its main mapping (a page_pool page
# that ndo_xdp_xmit maps again for DMA_TO_DEVICE): without an IOMMU both are the same bus address,
# and the page's own mapping must survive the second one's dma_unmap_single
PGF_DMA_EXTRA = PGF_FRAG0 + 3 * MAX_SKB_FRAGS
NPGF = PGF_DMA_EXTRA + 1
# columns of b.lines (uint64[npages, 3]): one bit per 64-byte cache line of the page
LN_DEV_DIRTY = 0     # written by the device, not yet invalidated for the CPU
LN_CPU_DIRTY = 1     # written by the CPU, not yet cleaned for the device
LN_CACHED = 2        # present in the CPU's cache (a touch of another line misses to DDR)


def create_pages(npages: int = 4096):
    """``npages`` 4 KiB pages (default 16 MiB): (data, pg, lines) for the board state."""
    npages = int(npages)
    if not 64 <= npages <= 262144:
        raise ValueError(f"npages must be in [64, 262144] (256 KiB .. 1 GiB), got {npages}")
    pg = np.zeros((npages, NPGF), np.int64)
    pg[:, PGF_PP] = -1
    pg[:, PGF_DMA_DIR] = DMA_NONE
    pg[:, PGF_FREE] = np.arange(npages - 1, -1, -1)   # page 0 is handed out first
    return np.zeros((npages, PAGE_SIZE), np.uint8), pg, np.zeros((npages, 3), np.uint64)


@kernel(hot=True)
def line_mask(off, length):
    """Bitmask of the 64-byte cache lines of a page that bytes [off, off+length) touch."""
    if length <= 0:
        return np.uint64(0)
    first = max(off >> 6, 0)                    # (clamped to the page: a bad range is the
    last = min((off + length - 1) >> 6, 63)     # sanitizer's to report, not this mask's)
    if last < first:
        return np.uint64(0)
    # the lines from ``first`` up, and the lines up to ``last``: two shifts, no branch on the width
    return (_ALL_LINES << np.uint64(first)) & (_ALL_LINES >> np.uint64(63 - last))


@kernel(hot=True)
def _should_fail_alloc_page(b):
    """fail_page_alloc: every ``interval``-th call fails, at most ``times`` times."""
    r = b.r
    r[R_FAIL_CALLS] += 1
    interval = r[R_FAIL_INTERVAL]
    if interval <= 0:
        return False
    if r[R_FAIL_TIMES] >= 0 and r[R_FAIL_FAILED] >= r[R_FAIL_TIMES]:
        return False
    if r[R_FAIL_CALLS] % interval == 0:
        r[R_FAIL_FAILED] += 1
        return True
    return False


@kernel
def alloc_page(b):
    """alloc_pages(GFP_ATOMIC, 0): one page with refcount 1, or -1 (-ENOMEM)."""
    if _should_fail_alloc_page(b) or b.r[R_NR_FREE] == 0:
        b.r[R_MM_ALLOC_FAILS] += 1
        return -1
    b.r[R_NR_FREE] -= 1
    p = b.pg[b.r[R_NR_FREE], PGF_FREE]
    if b.pg[p, PGF_REFCNT] != 0:
        san_report(b, 2, p, 0, 0, b.pg[p, PGF_WHERE])
    b.pg[p, PGF_REFCNT] = 1
    b.pg[p, PGF_PP] = -1
    b.pg[p, PGF_WHERE] = PG_CALLER
    b.r[R_MM_ALLOCS] += 1
    charge(b, C_PAGE_ALLOC)
    return p


@kernel
def alloc_pages_bulk(b, nr, out):
    """alloc_pages_bulk_array_node: up to ``nr`` pages into ``out``; returns how many."""
    got = 0
    for _ in range(nr):
        p = alloc_page(b)
        if p < 0:
            break
        out[got] = p
        got += 1
    return got


@kernel(hot=True)
def get_page(b, p):
    """get_page: take one more reference."""
    if b.pg[p, PGF_REFCNT] <= 0:
        san_report(b, 2, p, 0, 0, b.pg[p, PGF_WHERE])
    b.pg[p, PGF_REFCNT] += 1


@kernel
def page_ref_count(b, p):
    return b.pg[p, PGF_REFCNT]


@kernel
def put_page(b, p):
    """put_page: drop a reference; the last one frees the page to the allocator."""
    r = b.pg[p, PGF_REFCNT]
    if r <= 0:
        san_report(b, 1 if b.pg[p, PGF_WHERE] == PG_FREE else 6, p, r, 0, b.pg[p, PGF_WHERE])
        return
    b.pg[p, PGF_REFCNT] = r - 1
    if r == 1:
        b.pg[p, PGF_PP] = -1
        b.pg[p, PGF_WHERE] = PG_FREE
        b.lines[p, LN_DEV_DIRTY] = np.uint64(0)
        b.lines[p, LN_CPU_DIRTY] = np.uint64(0)
        b.pg[b.r[R_NR_FREE], PGF_FREE] = p
        b.r[R_NR_FREE] += 1
        b.r[R_MM_FREES] += 1
        charge(b, C_PAGE_FREE)


@kernel(hot=True)
def dma_to_page(b, addr):
    """The page a bus address points into, or -1."""
    p = (addr - PHYS_OFFSET) >> PAGE_SHIFT
    if addr < PHYS_OFFSET or p >= b.data.shape[0]:
        return -1
    return p


@kernel(hot=True)
def _sync_for_device_lines(b, p, mask):
    # arm64 arch_sync_dma_for_device: dcache_clean_poc, whatever the direction
    charge_n(b, C_DCACHE_CLEAN_LINE, hweight64(mask))
    b.lines[p, LN_CPU_DIRTY] &= ~mask


@kernel(hot=True)
def _sync_for_cpu_lines(b, p, mask, dir):
    # arm64 arch_sync_dma_for_cpu: nothing for DMA_TO_DEVICE, else dcache_inval_poc
    if dir == DMA_TO_DEVICE:
        return
    charge_n(b, C_DCACHE_INVAL_LINE, hweight64(mask))
    b.lines[p, LN_DEV_DIRTY] &= ~mask
    b.lines[p, LN_CACHED] &= ~mask


@kernel
def dma_map_page(b, p, offset, size, dir, attrs):
    """dma_map_page_attrs: map [offset, offset+size) of page p; returns the bus address."""
    charge(b, C_DMA_MAP)
    addr = PHYS_OFFSET + (p << PAGE_SHIFT) + offset
    b.pg[p, PGF_DMA_ADDR] = PHYS_OFFSET + (p << PAGE_SHIFT)
    b.pg[p, PGF_DMA_DIR] = dir
    b.r[R_MM_DMA_MAPS] += 1
    if (attrs & DMA_ATTR_SKIP_CPU_SYNC) == 0:
        _sync_for_device_lines(b, p, line_mask(offset, size))
    return addr


@kernel
def dma_unmap_page(b, addr, size, dir, attrs):
    """dma_unmap_page_attrs."""
    p = dma_to_page(b, addr)
    if p < 0 or b.pg[p, PGF_DMA_DIR] == DMA_NONE:
        san_report(b, 11, p, 0, 0, 0)
        return
    charge(b, C_DMA_UNMAP)
    if (attrs & DMA_ATTR_SKIP_CPU_SYNC) == 0:
        _sync_for_cpu_lines(b, p, line_mask(addr & (PAGE_SIZE - 1), size), dir)
    b.pg[p, PGF_DMA_ADDR] = 0
    b.pg[p, PGF_DMA_DIR] = DMA_NONE


@kernel
def dma_map_single(b, p, offset, size, dir):
    """dma_map_single(dev, page_address(p) + offset, size, dir): a streaming mapping of a buffer
    the device did not allocate (ndo_xdp_xmit's frames).  Returns the bus address.

    A page that is already mapped (a page_pool page: its pool keeps a mapping for its whole life)
    gets a second mapping of the same bus address (no IOMMU on the A3720), counted in
    ``PGF_DMA_EXTRA`` so that its ``dma_unmap_single`` leaves the pool's mapping in place."""
    if b.pg[p, PGF_DMA_DIR] == DMA_NONE:
        return dma_map_page(b, p, offset, size, dir, 0)
    charge(b, C_DMA_MAP)
    b.pg[p, PGF_DMA_EXTRA] += 1
    b.r[R_MM_DMA_MAPS] += 1
    _sync_for_device_lines(b, p, line_mask(offset, size))
    return PHYS_OFFSET + (p << PAGE_SHIFT) + offset


@kernel
def dma_unmap_single(b, addr, size, dir):
    """dma_unmap_single: end a streaming mapping made by ``dma_map_single``."""
    p = dma_to_page(b, addr)
    if p >= 0 and b.pg[p, PGF_DMA_EXTRA] > 0:
        charge(b, C_DMA_UNMAP)
        b.pg[p, PGF_DMA_EXTRA] -= 1
        _sync_for_cpu_lines(b, p, line_mask(addr & (PAGE_SIZE - 1), size), dir)
        return
    dma_unmap_page(b, addr, size, dir, 0)


@kernel(hot=True)
def dma_sync_single_for_cpu(b, addr, size, dir):
    """dma_sync_single_for_cpu: make what the device wrote visible to the CPU."""
    p = dma_to_page(b, addr)
    if p < 0 or b.pg[p, PGF_DMA_DIR] == DMA_NONE:
        san_report(b, 13, addr, 0, 0, 0)
        return
    charge(b, C_DMA_SYNC_CALL)
    _sync_for_cpu_lines(b, p, line_mask(addr & (PAGE_SIZE - 1), size), dir)


@kernel(hot=True)
def dma_sync_single_for_device(b, addr, size, dir):
    """dma_sync_single_for_device: write back what the CPU wrote before the device reads."""
    p = dma_to_page(b, addr)
    if p < 0 or b.pg[p, PGF_DMA_DIR] == DMA_NONE:
        san_report(b, 13, addr, 0, 0, 0)
        return
    charge(b, C_DMA_SYNC_CALL)
    _sync_for_device_lines(b, p, line_mask(addr & (PAGE_SIZE - 1), size))


@kernel(hot=True)
def dma_sync_single_range_for_device(b, addr, offset, size, dir):
    """dma_sync_single_range_for_device: the same, at ``addr + offset``."""
    dma_sync_single_for_device(b, addr + offset, size, dir)


@kernel(hot=True)
def cpu_read(b, p, off, length):
    """The CPU reads bytes of page p: stale lines not invalidated since a device write are a bug."""
    if b.pg[p, PGF_WHERE] == PG_FREE:
        san_report(b, 2, p, off, off + length, PG_CPU)
        return
    bad = b.lines[p, LN_DEV_DIRTY] & line_mask(off, length)
    if bad:
        san_report(b, 3, p, off, off + length, b.pg[p, PGF_WHERE])
        b.lines[p, LN_DEV_DIRTY] &= ~bad   # report each stale read once


@kernel(hot=True)
def cpu_write(b, p, off, length):
    """The CPU writes bytes of page p: those lines are dirty in its cache until cleaned."""
    if b.pg[p, PGF_WHERE] == PG_FREE:
        san_report(b, 2, p, off, off + length, PG_CPU)
        return
    b.lines[p, LN_CPU_DIRTY] |= line_mask(off, length)


@kernel(hot=True)
def dev_dma_write(b, p, off, length):
    """The device writes bytes of page p by DMA (the caller copies the bytes)."""
    mask = line_mask(off, length)
    bad = b.lines[p, LN_CPU_DIRTY] & mask
    if bad:
        san_report(b, 5, p, off, off + length, b.pg[p, PGF_WHERE])
        b.lines[p, LN_CPU_DIRTY] &= ~bad
    b.lines[p, LN_DEV_DIRTY] |= mask


@kernel(hot=True)
def dev_dma_read(b, p, off, length):
    """The device reads bytes of page p by DMA (TX)."""
    bad = b.lines[p, LN_CPU_DIRTY] & line_mask(off, length)
    if bad:
        san_report(b, 4, p, off, off + length, b.pg[p, PGF_WHERE])
        b.lines[p, LN_CPU_DIRTY] &= ~bad


@kernel(hot=True)
def cpu_touch(b, p, off, length, write):
    """The CPU reads (and with ``write`` writes) bytes of page p, paying a DDR access per line not cached."""
    cpu_read(b, p, off, length)
    mask = line_mask(off, length)
    miss = mask & ~b.lines[p, LN_CACHED]
    if miss:
        charge_n(b, C_PKT_MISS, hweight64(miss))
        b.lines[p, LN_CACHED] |= miss
    if write:
        cpu_write(b, p, off, length)


@kernel
def _lines_span(mask):
    """[first byte, end) of the lines in ``mask`` (uint64, not 0): for a report's byte range."""
    first = 0
    while ((mask >> np.uint64(first)) & np.uint64(1)) == 0:
        first += 1
    last = 63
    while ((mask >> np.uint64(last)) & np.uint64(1)) == 0:
        last -= 1
    return first * 64, last * 64 + 64


@kernel
def _cpu_read_lines_report(b, p, bad):
    lo, hi = _lines_span(bad)
    san_report(b, 3, p, lo, hi, b.pg[p, PGF_WHERE])
    b.lines[p, LN_DEV_DIRTY] &= ~bad          # report each stale read once


@kernel(hot=True)
def cpu_touch_lines(b, p, rd, wr):
    """An eBPF program's accesses to page p, as sets of 64-byte lines (int64, bit i = line i,
    as the VM records them: xdplab.bpf.state.CTL_PKT_RD and the touch table): what
    ``cpu_touch`` and ``cpu_write`` do for a built-in program's bytes, line by line.  Reads of
    lines not invalidated since a device write are reported (the range is whole lines: the
    VM keeps lines, not bytes), each line not cached costs a DDR access, written lines are
    dirty until cleaned."""
    mrd = np.uint64(rd)
    if b.pg[p, PGF_WHERE] == PG_FREE:
        san_report(b, 2, p, 0, 0, PG_CPU)
        return
    bad = b.lines[p, LN_DEV_DIRTY] & mrd
    if bad:
        _cpu_read_lines_report(b, p, bad)
    miss = mrd & ~b.lines[p, LN_CACHED]
    if miss:
        charge_n(b, C_PKT_MISS, hweight64(miss))
        b.lines[p, LN_CACHED] |= miss
    b.lines[p, LN_CPU_DIRTY] |= np.uint64(wr)
