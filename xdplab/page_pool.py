"""page_pool: the recycling page allocator XDP drivers use (net/core/page_pool.c, Linux 6.1).

One pool per RX queue, used from that queue's NAPI context, so the fast paths
take no lock:

* **alloc cache** (``alloc.cache[PP_ALLOC_CACHE_SIZE]``): a stack only the NAPI
  context touches.  ``page_pool_alloc_pages`` pops from it; a driver recycling
  in NAPI context (``allow_direct``) pushes to it.
* **ptr_ring** (``pool_size`` slots): where pages come back from other contexts
  (an skb freed by the stack, a TX completion outside NAPI); the alloc side
  refills the cache from it ``PP_ALLOC_CACHE_REFILL`` pages at a time.
* **slow path**: ``PP_ALLOC_CACHE_REFILL`` fresh pages from the page allocator,
  DMA-mapped once (``PP_FLAG_DMA_MAP``) and kept mapped while they cycle.

With ``PP_FLAG_DMA_SYNC_DEV`` the pool syncs a recycled page for the device,
but only ``min(dma_sync_size, max_len)`` bytes from ``offset``: the bytes the
CPU may have dirtied.  That is the difference between 420 and 585 kpps of
XDP_DROP on the ESPRESSObin (Lorenzo Bianconi's 2019 series).

Pools live in slots of a ``PagePools`` table (a ``struct page_pool *`` is the
slot index), so that a pool being destroyed with pages in flight can outlive
the queue that created it.
"""

from __future__ import annotations

import numpy as np

from ._twospeed import kernel
from .cost import (C_PP_ALLOC_FAST, C_PP_ALLOC_SLOW, C_PP_RECYCLE_CACHE, C_PP_RECYCLE_RING,
                   C_PP_REFILL, C_PP_REFILL_PAGE, C_PP_RELEASE, charge, cpu_now)
from .errno import E2BIG, EINVAL, ENOMEM
from .mm import (PGF_DMA_ADDR, PGF_PFMEMALLOC, PGF_PP, PGF_REFCNT, PGF_WHERE, DMA_ATTR_SKIP_CPU_SYNC, DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, PG_ALLOC_CACHE, PG_CALLER,
                 PG_PTR_RING, alloc_page, dma_map_page, dma_sync_single_range_for_device,
                 dma_unmap_page, put_page)
from .printk import printk
from .sanitizer import san_report
from .trace import EV_PP_CREATE, EV_PP_DESTROY, board_trace, board_tracing
from ._layout import F_PP_DEFER, MAX_POOLS, R_CPU_CUR, R_IN_SOFTIRQ, R_PP_NDESTROYING, R_RXQ_BUSY
from .xdp_abi import PAGE_SIZE

__all__ = [
    "create_page_pools", "NPPF", "page_pool_create", "page_pool_alloc_pages",
    "page_pool_dev_alloc_pages", "page_pool_put_page", "page_pool_put_full_page",
    "page_pool_recycle_direct", "page_pool_release_page", "page_pool_return_page",
    "page_pool_get_dma_addr", "page_pool_get_dma_dir", "page_pool_destroy", "page_pool_release_retry",
    "page_pool_inflight", "page_pool_use_xdp_mem",
    "PP_FLAG_DMA_MAP", "PP_FLAG_DMA_SYNC_DEV", "PP_FLAG_PAGE_FRAG", "PP_FLAG_ALL",
    "PP_ALLOC_CACHE_SIZE", "PP_ALLOC_CACHE_REFILL", "PP_STAT_NAMES", "PP_ETHTOOL_NAMES",
    "MAX_POOLS", "NUMA_NO_NODE", "DEFER_TIME_NS", "DEFER_WARN_INTERVAL_NS",
    "PP_FREE_SLOT", "PP_ALIVE", "PP_DESTROYING", "PP_FREED",
]

PP_FLAG_DMA_MAP = 1 << 0       # the pool maps pages and keeps them mapped while recycling
PP_FLAG_DMA_SYNC_DEV = 1 << 1  # the pool syncs recycled pages for the device (needs max_len, offset)
PP_FLAG_PAGE_FRAG = 1 << 2     # page_pool_alloc_frag() users (6.1; not modelled by xdplab)
PP_FLAG_ALL = PP_FLAG_DMA_MAP | PP_FLAG_DMA_SYNC_DEV | PP_FLAG_PAGE_FRAG

# 128: room for a full NAPI budget (64) of XDP_DROP recycles on top of a refill batch,
# so that a poll that drops everything never spills into the (locked) ptr_ring.
PP_ALLOC_CACHE_SIZE = 128
# 64: one NAPI budget's worth; the bulk size for ring->cache refills and slow-path allocations.
PP_ALLOC_CACHE_REFILL = 64
# ptr_ring size when pool_size is 0, and the sanity limit on pinned memory (page_pool_init).
PP_DEFAULT_RING = 1024
PP_MAX_RING = 32768
NUMA_NO_NODE = -1
DEFER_TIME_NS = 1_000_000_000            # DEFER_TIME = HZ: retry a stalled destroy every second
DEFER_WARN_INTERVAL_NS = 60_000_000_000  # DEFER_WARN_INTERVAL = 60 * HZ

PP_FREE_SLOT = 0
PP_ALIVE = 1
PP_DESTROYING = 2
PP_FREED = 3


# struct page_pool_stats, in the kernel's order
ST_FAST, ST_SLOW, ST_SLOW_HIGH_ORDER, ST_EMPTY, ST_REFILL, ST_WAIVE = range(6)
ST_CACHED, ST_CACHE_FULL, ST_RING, ST_RING_FULL, ST_RELEASED_REFCNT = range(6, 11)
PP_STAT_NAMES = ("fast", "slow", "slow_high_order", "empty", "refill", "waive",
                 "cached", "cache_full", "ring", "ring_full", "released_refcnt")
# page_pool_ethtool_stats_get_strings()
PP_ETHTOOL_NAMES = ("rx_pp_alloc_fast", "rx_pp_alloc_slow", "rx_pp_alloc_slow_ho", "rx_pp_alloc_empty",
                    "rx_pp_alloc_refill", "rx_pp_alloc_waive", "rx_pp_recycle_cached",
                    "rx_pp_recycle_cache_full", "rx_pp_recycle_ring", "rx_pp_recycle_ring_full",
                    "rx_pp_recycle_released_ref")


# columns of the pool table b.pp (int64[MAX_POOLS, NPPF]): struct page_pool
PPF_STATE = 0
PPF_ORDER = 1         # struct page_pool_params, then the pool's own fields
PPF_FLAGS = 2
PPF_POOL_SIZE = 3
PPF_NID = 4
PPF_DMA_DIR = 5
PPF_OFFSET = 6
PPF_MAX_LEN = 7
PPF_ALLOC_COUNT = 8   # alloc.count
PPF_RING_SIZE = 9
PPF_RING_PROD = 10
PPF_RING_CONS = 11
PPF_RING_COUNT = 12
PPF_HOLD_CNT = 13     # pages_state_hold_cnt
PPF_RELEASE_CNT = 14  # pages_state_release_cnt
PPF_USER_CNT = 15
PPF_XDP_MEM_ID = 16
PPF_STATS = 17        # struct page_pool_stats: 11 counters, ST_* order
NPPF = PPF_STATS + 11
# b.pps (int64[MAX_POOLS, PP_ALLOC_CACHE_SIZE + ring_max]): alloc.cache[] then the ptr_ring's slots


def create_page_pools(ring_max: int = 2048):
    """The pool table and its slot storage; ``ring_max`` bounds any pool's ptr_ring."""
    return np.zeros((MAX_POOLS, NPPF), np.int64), np.zeros((MAX_POOLS, PP_ALLOC_CACHE_SIZE + ring_max), np.int64)


@kernel
def page_pool_create(b, order, flags, pool_size, nid, dma_dir, offset, max_len):
    """page_pool_create(&pp_params): a pool index, or -errno (page_pool_init's checks).

    Any order is accepted, as 6.1's page_pool_init does; the lab's page allocator has no
    compound pages, so an order > 0 pool's first allocation fails with a dmesg line that says
    so.  Two -ENOMEM are the lab's limits standing in for the kernel's allocations: a ptr_ring
    larger than the board's ``ring_max`` (ptr_ring_init) and no free slot in the pool table
    (kzalloc)."""
    if flags & ~PP_FLAG_ALL:
        return -EINVAL                      # only known flags
    ring_qsize = PP_DEFAULT_RING
    if pool_size:
        ring_qsize = pool_size
    if ring_qsize > PP_MAX_RING:
        return -E2BIG                       # sanity limit on memory that can be pinned down
    if flags & PP_FLAG_DMA_MAP:
        # DMA_BIDIRECTIONAL for XDP_TX (the page is written back out), else FROM_DEVICE
        if dma_dir != DMA_FROM_DEVICE and dma_dir != DMA_BIDIRECTIONAL:
            return -EINVAL
    if flags & PP_FLAG_DMA_SYNC_DEV:
        if (flags & PP_FLAG_DMA_MAP) == 0:
            return -EINVAL                  # a page must be mapped to be synced
        if max_len == 0:
            return -EINVAL
    if ring_qsize > b.pps.shape[1] - PP_ALLOC_CACHE_SIZE:
        return -ENOMEM                      # ptr_ring_init failed (xdplab's ring_max)
    slot = -1
    for i in range(b.pp.shape[0]):
        if b.pp[i, PPF_STATE] == PP_FREE_SLOT or b.pp[i, PPF_STATE] == PP_FREED:
            slot = i
            break
    if slot < 0:
        return -ENOMEM
    b.pp[slot, PPF_STATE] = PP_ALIVE
    b.pp[slot, PPF_ORDER] = order
    b.pp[slot, PPF_FLAGS] = flags
    b.pp[slot, PPF_POOL_SIZE] = pool_size
    b.pp[slot, PPF_NID] = nid
    b.pp[slot, PPF_DMA_DIR] = dma_dir
    b.pp[slot, PPF_OFFSET] = offset
    b.pp[slot, PPF_MAX_LEN] = max_len
    b.pp[slot, PPF_ALLOC_COUNT] = 0
    b.pp[slot, PPF_RING_SIZE] = ring_qsize
    b.pp[slot, PPF_RING_PROD] = 0
    b.pp[slot, PPF_RING_CONS] = 0
    b.pp[slot, PPF_RING_COUNT] = 0
    b.pp[slot, PPF_HOLD_CNT] = 0
    b.pp[slot, PPF_RELEASE_CNT] = 0
    b.pp[slot, PPF_USER_CNT] = 1                   # the driver's reference, dropped by page_pool_destroy
    b.pp[slot, PPF_XDP_MEM_ID] = 0
    b.pp[slot, PPF_STATS:] = 0
    b.f[F_PP_DEFER + 3 * slot:F_PP_DEFER + 3 * slot + 3] = 0.0
    _pp_trace_pool(b, EV_PP_CREATE, slot, ring_qsize, dma_dir)
    return slot


@kernel(hot=True)
def page_pool_get_dma_addr(b, page):
    """page_pool_get_dma_addr: the bus address the pool mapped the page at."""
    return b.pg[page, PGF_DMA_ADDR]


@kernel(hot=True)
def page_pool_get_dma_dir(b, pool):
    """page_pool_get_dma_dir: the pool's DMA direction."""
    return b.pp[pool, PPF_DMA_DIR]


@kernel
def page_pool_inflight(b, pool):
    """page_pool_inflight: pages the pool handed out and has not had back (hold - release)."""
    return b.pp[pool, PPF_HOLD_CNT] - b.pp[pool, PPF_RELEASE_CNT]


@kernel(hot=True)
def _pp_trace(b, pool, page, how, d):
    if not board_tracing(b):                # tracing off: no snapshot to take
        return
    board_trace(b, cpu_now(b), b.r[R_CPU_CUR], 8 if how < 0 else 9, pool, page,
                -how - 1 if how < 0 else how, d, 0,
                b.r[R_RXQ_BUSY], b.pp[pool, PPF_ALLOC_COUNT], b.pp[pool, PPF_RING_COUNT], b.pp[pool, PPF_HOLD_CNT] - b.pp[pool, PPF_RELEASE_CNT])


@kernel
def _pp_trace_pool(b, ev, pool, x, y):
    """A pool's own event (pp_create, pp_destroy) with the pool's snapshot."""
    if not board_tracing(b):
        return
    board_trace(b, cpu_now(b), b.r[R_CPU_CUR], ev, pool, x, y, 0, 0, b.r[R_RXQ_BUSY], b.pp[pool, PPF_ALLOC_COUNT],
                b.pp[pool, PPF_RING_COUNT], b.pp[pool, PPF_HOLD_CNT] - b.pp[pool, PPF_RELEASE_CNT])


@kernel(hot=True)
def _ring_consume(b, pool):
    if b.pp[pool, PPF_RING_COUNT] == 0:
        return -1
    i = b.pp[pool, PPF_RING_CONS]
    page = b.pps[pool, PP_ALLOC_CACHE_SIZE + i]
    i += 1
    if i == b.pp[pool, PPF_RING_SIZE]:
        i = 0
    b.pp[pool, PPF_RING_CONS] = i
    b.pp[pool, PPF_RING_COUNT] -= 1
    return page


@kernel(hot=True)
def page_pool_dma_sync_for_device(b, pool, page, dma_sync_size):
    """Sync only what the CPU may have touched: min(dma_sync_size, max_len) bytes from offset."""
    n = dma_sync_size
    if n < 0 or n > b.pp[pool, PPF_MAX_LEN]:     # dma_sync_size is unsigned: -1 means max_len
        n = b.pp[pool, PPF_MAX_LEN]
    dma_sync_single_range_for_device(b, b.pg[page, PGF_DMA_ADDR], b.pp[pool, PPF_OFFSET], n, b.pp[pool, PPF_DMA_DIR])


@kernel
def _page_pool_dma_map(b, pool, page):
    # the whole page, mapped once; SKIP_CPU_SYNC because the pool syncs max_len itself below
    dma_map_page(b, page, 0, PAGE_SIZE << b.pp[pool, PPF_ORDER], b.pp[pool, PPF_DMA_DIR], DMA_ATTR_SKIP_CPU_SYNC)
    if b.pp[pool, PPF_FLAGS] & PP_FLAG_DMA_SYNC_DEV:
        page_pool_dma_sync_for_device(b, pool, page, b.pp[pool, PPF_MAX_LEN])


@kernel
def page_pool_refill_alloc_cache(b, pool):
    """Move up to PP_ALLOC_CACHE_REFILL pages ptr_ring -> alloc cache; return the last one or -1."""
    if b.pp[pool, PPF_RING_COUNT] == 0:
        b.pp[pool, PPF_STATS + ST_EMPTY] += 1
        return -1
    charge(b, C_PP_REFILL)
    while True:
        page = _ring_consume(b, pool)
        if page < 0:
            break
        charge(b, C_PP_REFILL_PAGE)
        # every simulated page is on the board's single NUMA node: nothing is waived
        b.pps[pool, b.pp[pool, PPF_ALLOC_COUNT]] = page
        b.pp[pool, PPF_ALLOC_COUNT] += 1
        b.pg[page, PGF_WHERE] = PG_ALLOC_CACHE
        if b.pp[pool, PPF_ALLOC_COUNT] >= PP_ALLOC_CACHE_REFILL:
            break
    if b.pp[pool, PPF_ALLOC_COUNT] > 0:
        b.pp[pool, PPF_ALLOC_COUNT] -= 1
        page = b.pps[pool, b.pp[pool, PPF_ALLOC_COUNT]]
        b.pp[pool, PPF_STATS + ST_REFILL] += 1
        return page
    return -1


@kernel
def _page_pool_alloc_pages_slow(b, pool):
    """Bulk-allocate PP_ALLOC_CACHE_REFILL pages, map them, keep all but one in the cache."""
    charge(b, C_PP_ALLOC_SLOW)
    if b.pp[pool, PPF_ORDER] != 0:
        # __page_pool_alloc_page_order: one compound page of 2**order pages, which the lab's page
        # allocator cannot hand out (order 0 only): a failed allocation, and dmesg says why
        printk(b, cpu_now(b), 16, pool, b.pp[pool, PPF_ORDER], 1 << b.pp[pool, PPF_ORDER])
        return -1
    if b.pp[pool, PPF_ALLOC_COUNT] > 0:
        b.pp[pool, PPF_ALLOC_COUNT] -= 1
        return b.pps[pool, b.pp[pool, PPF_ALLOC_COUNT]]
    nr = alloc_pages_bulk_into_cache(b, pool)
    if nr == 0:
        return -1
    b.pp[pool, PPF_ALLOC_COUNT] -= 1
    b.pp[pool, PPF_STATS + ST_SLOW] += 1
    return b.pps[pool, b.pp[pool, PPF_ALLOC_COUNT]]


@kernel
def alloc_pages_bulk_into_cache(b, pool):
    flags = b.pp[pool, PPF_FLAGS]
    nr = 0
    for _ in range(PP_ALLOC_CACHE_REFILL):
        page = alloc_page(b)
        if page < 0:
            break
        if flags & PP_FLAG_DMA_MAP:
            _page_pool_dma_map(b, pool, page)
        b.pg[page, PGF_PP] = pool                      # page_pool_set_pp_info
        b.pg[page, PGF_WHERE] = PG_ALLOC_CACHE
        b.pps[pool, b.pp[pool, PPF_ALLOC_COUNT]] = page
        b.pp[pool, PPF_ALLOC_COUNT] += 1
        b.pp[pool, PPF_HOLD_CNT] += 1                     # trace_page_pool_state_hold
        nr += 1
    return nr


@kernel(hot=True)
def page_pool_alloc_pages(b, pool, gfp):
    """page_pool_alloc_pages: a page (index) from cache, ring or page allocator; -1 if none.

    The fast path (the alloc cache) is inlined into the driver, as the kernel's
    ``__page_pool_get_cached`` is; the rest is ``__page_pool_alloc_pages_slow``.
    """
    if b.pp[pool, PPF_ALLOC_COUNT] > 0:                   # fast path
        b.pp[pool, PPF_ALLOC_COUNT] -= 1
        page = b.pps[pool, b.pp[pool, PPF_ALLOC_COUNT]]
        b.pp[pool, PPF_STATS + ST_FAST] += 1
        charge(b, C_PP_ALLOC_FAST)
        b.pg[page, PGF_WHERE] = PG_CALLER
        _pp_trace(b, pool, page, -1, 0)
        return page
    return _page_pool_alloc_pages_cold(b, pool)


@kernel
def _page_pool_alloc_pages_cold(b, pool):
    # the alloc cache is empty: refill it from the ptr_ring, else from the page allocator
    page = page_pool_refill_alloc_cache(b, pool)
    how = -2
    if page < 0:
        page = _page_pool_alloc_pages_slow(b, pool)
        how = -3
    if page >= 0:
        b.pg[page, PGF_WHERE] = PG_CALLER
        _pp_trace(b, pool, page, how, 0)
    return page


@kernel(hot=True)
def page_pool_dev_alloc_pages(b, pool):
    """page_pool_dev_alloc_pages: page_pool_alloc_pages with GFP_ATOMIC | __GFP_NOWARN."""
    return page_pool_alloc_pages(b, pool, 0)


@kernel
def page_pool_release_page(b, pool, page):
    """page_pool_release_page (6.1; removed in 6.6): unmap and stop tracking; the page stays allocated."""
    if b.pg[page, PGF_PP] != pool:
        san_report(b, 9, page, b.pg[page, PGF_PP], pool, b.pg[page, PGF_WHERE])
        return
    charge(b, C_PP_RELEASE)
    if b.pp[pool, PPF_FLAGS] & PP_FLAG_DMA_MAP:
        dma_unmap_page(b, b.pg[page, PGF_DMA_ADDR], PAGE_SIZE << b.pp[pool, PPF_ORDER],
                       b.pp[pool, PPF_DMA_DIR], DMA_ATTR_SKIP_CPU_SYNC)
    b.pg[page, PGF_PP] = -1                            # page_pool_clear_pp_info
    b.pp[pool, PPF_RELEASE_CNT] += 1                      # trace_page_pool_state_release


@kernel
def page_pool_return_page(b, pool, page):
    """page_pool_return_page: release the pool's state and put the page (it is freed)."""
    page_pool_release_page(b, pool, page)
    b.pg[page, PGF_WHERE] = PG_CALLER
    put_page(b, page)


@kernel(hot=True)
def page_pool_recycle_in_cache(b, pool, page):
    if b.pp[pool, PPF_ALLOC_COUNT] == PP_ALLOC_CACHE_SIZE:
        b.pp[pool, PPF_STATS + ST_CACHE_FULL] += 1
        return False
    b.pps[pool, b.pp[pool, PPF_ALLOC_COUNT]] = page
    b.pp[pool, PPF_ALLOC_COUNT] += 1
    b.pp[pool, PPF_STATS + ST_CACHED] += 1
    b.pg[page, PGF_WHERE] = PG_ALLOC_CACHE
    charge(b, C_PP_RECYCLE_CACHE)
    return True


@kernel(hot=True)
def page_pool_recycle_in_ring(b, pool, page):
    charge(b, C_PP_RECYCLE_RING)
    if b.pp[pool, PPF_RING_COUNT] == b.pp[pool, PPF_RING_SIZE]:
        return False
    b.pps[pool, PP_ALLOC_CACHE_SIZE + b.pp[pool, PPF_RING_PROD]] = page
    i = b.pp[pool, PPF_RING_PROD] + 1
    if i == b.pp[pool, PPF_RING_SIZE]:
        i = 0
    b.pp[pool, PPF_RING_PROD] = i
    b.pp[pool, PPF_RING_COUNT] += 1
    b.pp[pool, PPF_STATS + ST_RING] += 1
    b.pg[page, PGF_WHERE] = PG_PTR_RING
    return True


@kernel(hot=True)
def page_pool_put_page(b, pool, page, dma_sync_size, allow_direct):
    """page_pool_put_page(pool, page, dma_sync_size, allow_direct).

    Recycle if the pool holds the only reference: sync for the device
    (``min(dma_sync_size, max_len)`` bytes), then the alloc cache when
    ``allow_direct`` and in softirq (the pool's NAPI context), else the ptr_ring;
    a full ring releases the page.  A page someone else still references is
    released from the pool (``released_refcnt``) and put.
    """
    if b.pg[page, PGF_REFCNT] <= 0:
        san_report(b, 2 if b.pg[page, PGF_WHERE] == 0 else 6, page, b.pg[page, PGF_REFCNT], 0, b.pg[page, PGF_WHERE])
        return
    if b.pg[page, PGF_PP] != pool:
        san_report(b, 9, page, b.pg[page, PGF_PP], pool, b.pg[page, PGF_WHERE])
        return
    if b.pg[page, PGF_WHERE] == PG_ALLOC_CACHE or b.pg[page, PGF_WHERE] == PG_PTR_RING:
        san_report(b, 14, page, pool, 0, b.pg[page, PGF_WHERE])
        return
    # page_pool_put_defragged_page: what __page_pool_put_page could not keep goes to the ring
    if _page_pool_put_page(b, pool, page, dma_sync_size, allow_direct):
        _page_pool_put_page_ring(b, pool, page, dma_sync_size)


@kernel(hot=True)
def _page_pool_put_page(b, pool, page, dma_sync_size, allow_direct):
    """__page_pool_put_page: True if the page is still to be recycled (via the ptr_ring).

    The alloc cache belongs to the pool's NAPI context: a put goes there only when the caller
    allows it (``allow_direct``) and the CPU is serving a softirq (``in_serving_softirq()``,
    ``b.r[R_IN_SOFTIRQ]``: set while NAPI polls); anywhere else it goes to the ptr_ring."""
    if b.pg[page, PGF_REFCNT] == 1 and b.pg[page, PGF_PFMEMALLOC] == 0:
        if b.pp[pool, PPF_FLAGS] & PP_FLAG_DMA_SYNC_DEV:
            page_pool_dma_sync_for_device(b, pool, page, dma_sync_size)
        if allow_direct and b.r[R_IN_SOFTIRQ] != 0 and page_pool_recycle_in_cache(b, pool, page):
            _pp_trace(b, pool, page, 0, dma_sync_size)
            return False
        return True
    # fallback / non-XDP mode: someone else still holds the page
    _page_pool_put_page_released(b, pool, page, dma_sync_size)
    return False


@kernel
def _page_pool_put_page_ring(b, pool, page, dma_sync_size):
    if page_pool_recycle_in_ring(b, pool, page):
        _pp_trace(b, pool, page, 1, dma_sync_size)
        return
    b.pp[pool, PPF_STATS + ST_RING_FULL] += 1
    _pp_trace(b, pool, page, 3, dma_sync_size)
    page_pool_return_page(b, pool, page)


@kernel
def _page_pool_put_page_released(b, pool, page, dma_sync_size):
    b.pp[pool, PPF_STATS + ST_RELEASED_REFCNT] += 1
    _pp_trace(b, pool, page, 2, dma_sync_size)
    page_pool_release_page(b, pool, page)
    put_page(b, page)


@kernel(hot=True)
def page_pool_put_full_page(b, pool, page, allow_direct):
    """page_pool_put_full_page: put with dma_sync_size = -1 (sync max_len)."""
    page_pool_put_page(b, pool, page, -1, allow_direct)


@kernel(hot=True)
def page_pool_recycle_direct(b, pool, page):
    """page_pool_recycle_direct: put_full_page from NAPI context (allow_direct)."""
    page_pool_put_page(b, pool, page, -1, True)


@kernel
def page_pool_use_xdp_mem(b, pool, mem_id):
    """page_pool_use_xdp_mem: the XDP mem model takes a user reference on the pool."""
    b.pp[pool, PPF_XDP_MEM_ID] = mem_id
    b.pp[pool, PPF_USER_CNT] += 1


@kernel
def _page_pool_scrub(b, pool):
    while b.pp[pool, PPF_ALLOC_COUNT] > 0:                # page_pool_empty_alloc_cache_once
        b.pp[pool, PPF_ALLOC_COUNT] -= 1
        page = b.pps[pool, b.pp[pool, PPF_ALLOC_COUNT]]
        b.pg[page, PGF_WHERE] = PG_CALLER
        page_pool_return_page(b, pool, page)
    while True:                                    # page_pool_empty_ring
        page = _ring_consume(b, pool)
        if page < 0:
            break
        if b.pg[page, PGF_REFCNT] != 1:
            printk(b, cpu_now(b), 4, b.pg[page, PGF_REFCNT], 0, 0)
            san_report(b, 10, page, pool, b.pg[page, PGF_REFCNT], 3)
        b.pg[page, PGF_WHERE] = PG_CALLER
        page_pool_return_page(b, pool, page)


@kernel
def _page_pool_release(b, pool):
    """Scrub; free the pool if nothing is in flight.  Returns inflight."""
    _page_pool_scrub(b, pool)
    inflight = page_pool_inflight(b, pool)
    if inflight < 0:
        printk(b, cpu_now(b), 12, inflight, 0, 0)
    if inflight == 0:
        # page_pool_free -> pool->disconnect (mem_allocator_disconnect) -> mem id removed
        if b.pp[pool, PPF_XDP_MEM_ID] != 0:
            b.ids[b.pp[pool, PPF_XDP_MEM_ID], 0] = -1
        b.pp[pool, PPF_STATE] = PP_FREED
    return inflight


@kernel
def page_pool_destroy(b, pool):
    """page_pool_destroy: drop a user reference; the last one releases the pool (deferred if pages are in flight)."""
    if pool < 0:
        return
    b.pp[pool, PPF_USER_CNT] -= 1
    if b.pp[pool, PPF_USER_CNT] > 0:
        return
    released = b.pp[pool, PPF_RELEASE_CNT]
    inflight = _page_pool_release(b, pool)
    _pp_trace_pool(b, EV_PP_DESTROY, pool, b.pp[pool, PPF_RELEASE_CNT] - released, inflight)
    if inflight == 0:
        return
    now = cpu_now(b)
    b.pp[pool, PPF_STATE] = PP_DESTROYING
    b.r[R_PP_NDESTROYING] += 1
    b.f[F_PP_DEFER + 3 * pool + 0] = now                        # defer_start
    b.f[F_PP_DEFER + 3 * pool + 1] = now + DEFER_TIME_NS        # schedule_delayed_work(DEFER_TIME)
    b.f[F_PP_DEFER + 3 * pool + 2] = now + DEFER_WARN_INTERVAL_NS
    san_report(b, 8, pool, inflight, 0, 0)


@kernel
def page_pool_release_retry(b, pool, now):
    """The deferred work: re-scrub, free when inflight reaches 0, warn every 60 s."""
    if b.pp[pool, PPF_STATE] != PP_DESTROYING or now < b.f[F_PP_DEFER + 3 * pool + 1]:
        return
    inflight = _page_pool_release(b, pool)
    if inflight == 0:
        b.r[R_PP_NDESTROYING] -= 1
        return
    if now >= b.f[F_PP_DEFER + 3 * pool + 2]:
        printk(b, now, 2, 0, inflight, np.int64((now - b.f[F_PP_DEFER + 3 * pool + 0]) // 1e9))
        b.f[F_PP_DEFER + 3 * pool + 2] = now + DEFER_WARN_INTERVAL_NS
    b.f[F_PP_DEFER + 3 * pool + 1] = now + DEFER_TIME_NS
