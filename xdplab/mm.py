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
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._twospeed import kernel
from .cost import (C_DCACHE_CLEAN_LINE, C_DCACHE_INVAL_LINE, C_DMA_MAP, C_DMA_SYNC_CALL, C_DMA_UNMAP,
                   C_PAGE_ALLOC, C_PAGE_FREE, C_PKT_MISS, charge, charge_n)
from .sanitizer import san_report
from .xdp_abi import PAGE_SHIFT, PAGE_SIZE

__all__ = [
    "Mem", "create_mem", "alloc_page", "alloc_pages_bulk", "put_page", "get_page", "page_ref_count",
    "dma_map_page", "dma_unmap_page", "dma_sync_single_for_cpu", "dma_sync_single_for_device",
    "dma_sync_single_range_for_device", "dma_to_page", "cpu_read", "cpu_write", "dev_dma_write",
    "dev_dma_read", "line_mask", "cpu_touch",
    "DMA_BIDIRECTIONAL", "DMA_TO_DEVICE", "DMA_FROM_DEVICE", "DMA_NONE", "DMA_ATTR_SKIP_CPU_SYNC",
    "PHYS_OFFSET", "PG_FREE", "PG_RX_RING", "PG_ALLOC_CACHE", "PG_PTR_RING", "PG_CPU", "PG_TX_RING",
    "PG_SKB", "PG_XDP_FRAME", "PG_CALLER", "PG_NAMES",
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


class Mem(NamedTuple):
    data: np.ndarray       # uint8[npages, PAGE_SIZE]: the bytes
    refcnt: np.ndarray     # int64[npages]: page_ref_count
    pp: np.ndarray         # int64[npages]: page->pp (pool index), -1 if not a page_pool page
    where: np.ndarray      # int64[npages]: PG_*
    dma_addr: np.ndarray   # int64[npages]: mapped bus address, 0 if unmapped
    dma_dir: np.ndarray    # int64[npages]: direction it was mapped with, DMA_NONE if unmapped
    dev_dirty: np.ndarray  # uint64[npages]: lines written by the device, not invalidated for the CPU
    cpu_dirty: np.ndarray  # uint64[npages]: lines written by the CPU, not cleaned for the device
    cached: np.ndarray     # uint64[npages]: lines present in the CPU's cache (a touch elsewhere misses)
    pfmemalloc: np.ndarray # uint8[npages]
    free_list: np.ndarray  # int64[npages]: stack of free pages
    nr_free: np.ndarray    # int64[1]
    fail: np.ndarray       # int64[4]: fail_page_alloc interval, times (-1 = no limit), calls, failures
    stat: np.ndarray       # int64[4]: allocs, frees, failures, dma maps


def create_mem(npages: int = 4096) -> Mem:
    """``npages`` 4 KiB pages of memory the networking code can allocate (default 16 MiB)."""
    npages = int(npages)
    if not 64 <= npages <= 262144:
        raise ValueError(f"npages must be in [64, 262144] (256 KiB .. 1 GiB), got {npages}")
    free = np.arange(npages - 1, -1, -1, dtype=np.int64)   # page 0 handed out first
    return Mem(data=np.zeros((npages, PAGE_SIZE), np.uint8), refcnt=np.zeros(npages, np.int64),
               pp=np.full(npages, -1, np.int64), where=np.zeros(npages, np.int64),
               dma_addr=np.zeros(npages, np.int64), dma_dir=np.full(npages, DMA_NONE, np.int64),
               dev_dirty=np.zeros(npages, np.uint64), cpu_dirty=np.zeros(npages, np.uint64),
               cached=np.zeros(npages, np.uint64),
               pfmemalloc=np.zeros(npages, np.uint8), free_list=free,
               nr_free=np.array([npages], np.int64), fail=np.array([0, -1, 0, 0], np.int64),
               stat=np.zeros(4, np.int64))


@kernel
def line_mask(off, length):
    """Bitmask of the 64-byte cache lines of a page that bytes [off, off+length) touch."""
    if length <= 0:
        return np.uint64(0)
    first = off >> 6
    last = (off + length - 1) >> 6
    if first < 0:
        first = 0
    if last > 63:
        last = 63
    n = last - first + 1
    if n <= 0:
        return np.uint64(0)
    if n >= 64:
        return _ALL_LINES
    return ((np.uint64(1) << np.uint64(n)) - np.uint64(1)) << np.uint64(first)


@kernel
def _popcount(x):
    c = 0
    while x:
        x &= x - np.uint64(1)
        c += 1
    return c


@kernel
def _should_fail_alloc_page(m):
    """fail_page_alloc: every ``interval``-th call fails, at most ``times`` times."""
    m.fail[2] += 1
    interval = m.fail[0]
    if interval <= 0:
        return False
    if m.fail[1] >= 0 and m.fail[3] >= m.fail[1]:
        return False
    if m.fail[2] % interval == 0:
        m.fail[3] += 1
        return True
    return False


@kernel
def alloc_page(b):
    """alloc_pages(GFP_ATOMIC, 0): one page with refcount 1, or -1 (-ENOMEM)."""
    m = b.mem
    if _should_fail_alloc_page(m) or m.nr_free[0] == 0:
        m.stat[2] += 1
        return -1
    m.nr_free[0] -= 1
    p = m.free_list[m.nr_free[0]]
    if m.refcnt[p] != 0:
        san_report(b.san, 2, p, 0, 0, m.where[p])
    m.refcnt[p] = 1
    m.pp[p] = -1
    m.where[p] = PG_CALLER
    m.stat[0] += 1
    charge(b.cpu, C_PAGE_ALLOC)
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


@kernel
def get_page(b, p):
    """get_page: take one more reference."""
    if b.mem.refcnt[p] <= 0:
        san_report(b.san, 2, p, 0, 0, b.mem.where[p])
    b.mem.refcnt[p] += 1


@kernel
def page_ref_count(b, p):
    return b.mem.refcnt[p]


@kernel
def put_page(b, p):
    """put_page: drop a reference; the last one frees the page to the allocator."""
    m = b.mem
    r = m.refcnt[p]
    if r <= 0:
        san_report(b.san, 1 if m.where[p] == PG_FREE else 6, p, r, 0, m.where[p])
        return
    m.refcnt[p] = r - 1
    if r == 1:
        m.pp[p] = -1
        m.where[p] = PG_FREE
        m.dev_dirty[p] = np.uint64(0)
        m.cpu_dirty[p] = np.uint64(0)
        m.free_list[m.nr_free[0]] = p
        m.nr_free[0] += 1
        m.stat[1] += 1
        charge(b.cpu, C_PAGE_FREE)


@kernel
def dma_to_page(b, addr):
    """The page a bus address points into, or -1."""
    p = (addr - PHYS_OFFSET) >> PAGE_SHIFT
    if addr < PHYS_OFFSET or p >= b.mem.data.shape[0]:
        return -1
    return p


@kernel
def _sync_for_device_lines(b, p, mask):
    # arm64 arch_sync_dma_for_device: dcache_clean_poc, whatever the direction
    m = b.mem
    charge_n(b.cpu, C_DCACHE_CLEAN_LINE, _popcount(mask))
    m.cpu_dirty[p] &= ~mask


@kernel
def _sync_for_cpu_lines(b, p, mask, dir):
    # arm64 arch_sync_dma_for_cpu: nothing for DMA_TO_DEVICE, else dcache_inval_poc
    if dir == DMA_TO_DEVICE:
        return
    m = b.mem
    charge_n(b.cpu, C_DCACHE_INVAL_LINE, _popcount(mask))
    m.dev_dirty[p] &= ~mask
    m.cached[p] &= ~mask


@kernel
def dma_map_page(b, p, offset, size, dir, attrs):
    """dma_map_page_attrs: map [offset, offset+size) of page p; returns the bus address."""
    m = b.mem
    charge(b.cpu, C_DMA_MAP)
    addr = PHYS_OFFSET + (p << PAGE_SHIFT) + offset
    m.dma_addr[p] = PHYS_OFFSET + (p << PAGE_SHIFT)
    m.dma_dir[p] = dir
    m.stat[3] += 1
    if (attrs & DMA_ATTR_SKIP_CPU_SYNC) == 0:
        _sync_for_device_lines(b, p, line_mask(offset, size))
    return addr


@kernel
def dma_unmap_page(b, addr, size, dir, attrs):
    """dma_unmap_page_attrs."""
    m = b.mem
    p = dma_to_page(b, addr)
    if p < 0 or m.dma_dir[p] == DMA_NONE:
        san_report(b.san, 11, p, 0, 0, 0)
        return
    charge(b.cpu, C_DMA_UNMAP)
    if (attrs & DMA_ATTR_SKIP_CPU_SYNC) == 0:
        _sync_for_cpu_lines(b, p, line_mask(addr & (PAGE_SIZE - 1), size), dir)
    m.dma_addr[p] = 0
    m.dma_dir[p] = DMA_NONE


@kernel
def dma_sync_single_for_cpu(b, addr, size, dir):
    """dma_sync_single_for_cpu: make what the device wrote visible to the CPU."""
    p = dma_to_page(b, addr)
    if p < 0 or b.mem.dma_dir[p] == DMA_NONE:
        san_report(b.san, 13, addr, 0, 0, 0)
        return
    charge(b.cpu, C_DMA_SYNC_CALL)
    _sync_for_cpu_lines(b, p, line_mask(addr & (PAGE_SIZE - 1), size), dir)


@kernel
def dma_sync_single_for_device(b, addr, size, dir):
    """dma_sync_single_for_device: write back what the CPU wrote before the device reads."""
    p = dma_to_page(b, addr)
    if p < 0 or b.mem.dma_dir[p] == DMA_NONE:
        san_report(b.san, 13, addr, 0, 0, 0)
        return
    charge(b.cpu, C_DMA_SYNC_CALL)
    _sync_for_device_lines(b, p, line_mask(addr & (PAGE_SIZE - 1), size))


@kernel
def dma_sync_single_range_for_device(b, addr, offset, size, dir):
    """dma_sync_single_range_for_device: the same, at ``addr + offset``."""
    dma_sync_single_for_device(b, addr + offset, size, dir)


@kernel
def cpu_read(b, p, off, length):
    """The CPU reads bytes of page p: stale lines not invalidated since a device write are a bug."""
    m = b.mem
    if m.where[p] == PG_FREE:
        san_report(b.san, 2, p, off, off + length, PG_CPU)
        return
    bad = m.dev_dirty[p] & line_mask(off, length)
    if bad:
        san_report(b.san, 3, p, off, off + length, m.where[p])
        m.dev_dirty[p] &= ~bad   # report each stale read once


@kernel
def cpu_write(b, p, off, length):
    """The CPU writes bytes of page p: those lines are dirty in its cache until cleaned."""
    m = b.mem
    if m.where[p] == PG_FREE:
        san_report(b.san, 2, p, off, off + length, PG_CPU)
        return
    m.cpu_dirty[p] |= line_mask(off, length)


@kernel
def dev_dma_write(b, p, off, length):
    """The device writes bytes of page p by DMA (the caller copies the bytes)."""
    m = b.mem
    mask = line_mask(off, length)
    bad = m.cpu_dirty[p] & mask
    if bad:
        san_report(b.san, 5, p, off, off + length, m.where[p])
        m.cpu_dirty[p] &= ~bad
    m.dev_dirty[p] |= mask


@kernel
def dev_dma_read(b, p, off, length):
    """The device reads bytes of page p by DMA (TX)."""
    m = b.mem
    bad = m.cpu_dirty[p] & line_mask(off, length)
    if bad:
        san_report(b.san, 4, p, off, off + length, m.where[p])
        m.cpu_dirty[p] &= ~bad


@kernel
def cpu_touch(b, p, off, length, write):
    """The CPU reads (and with ``write`` writes) bytes of page p, paying a DDR access per line not cached."""
    cpu_read(b, p, off, length)
    m = b.mem
    mask = line_mask(off, length)
    miss = mask & ~m.cached[p]
    if miss:
        charge_n(b.cpu, C_PKT_MISS, _popcount(miss))
        m.cached[p] |= miss
    if write:
        cpu_write(b, p, off, length)
