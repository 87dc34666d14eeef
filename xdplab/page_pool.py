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

from typing import NamedTuple

import numpy as np

from ._twospeed import kernel
from .cost import (C_PP_ALLOC_FAST, C_PP_ALLOC_SLOW, C_PP_RECYCLE_CACHE, C_PP_RECYCLE_RING,
                   C_PP_REFILL, C_PP_REFILL_PAGE, C_PP_RELEASE, charge, cpu_now)
from .errno import E2BIG, EINVAL, ENOMEM, EOPNOTSUPP
from .mm import (DMA_ATTR_SKIP_CPU_SYNC, DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, PG_ALLOC_CACHE, PG_CALLER,
                 PG_PTR_RING, alloc_page, dma_map_page, dma_sync_single_range_for_device,
                 dma_unmap_page, put_page)
from .printk import printk
from .sanitizer import san_report
from .trace import trace_event
from .xdp_abi import PAGE_SIZE

__all__ = [
    "PagePools", "create_page_pools", "page_pool_create", "page_pool_alloc_pages",
    "page_pool_dev_alloc_pages", "page_pool_put_page", "page_pool_put_full_page",
    "page_pool_recycle_direct", "page_pool_release_page", "page_pool_return_page",
    "page_pool_get_dma_addr", "page_pool_get_dma_dir", "page_pool_destroy", "page_pool_release_retry",
    "page_pool_inflight", "page_pool_use_xdp_mem", "skb_mark_for_recycle",
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
MAX_POOLS = 8

PP_FREE_SLOT = 0
PP_ALIVE = 1
PP_DESTROYING = 2
PP_FREED = 3

# params columns (struct page_pool_params)
PARAM_ORDER, PARAM_FLAGS, PARAM_POOL_SIZE, PARAM_NID, PARAM_DMA_DIR, PARAM_OFFSET, PARAM_MAX_LEN = range(7)

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


class PagePools(NamedTuple):
    state: np.ndarray         # int64[MAX_POOLS]: PP_FREE_SLOT / PP_ALIVE / PP_DESTROYING / PP_FREED
    params: np.ndarray        # int64[MAX_POOLS, 7]
    alloc_cache: np.ndarray   # int64[MAX_POOLS, PP_ALLOC_CACHE_SIZE]
    alloc_count: np.ndarray   # int64[MAX_POOLS]
    ring: np.ndarray          # int64[MAX_POOLS, ring_max]: ptr_ring slots
    ring_size: np.ndarray     # int64[MAX_POOLS]
    ring_prod: np.ndarray     # int64[MAX_POOLS]: producer index
    ring_cons: np.ndarray     # int64[MAX_POOLS]: consumer index
    ring_count: np.ndarray    # int64[MAX_POOLS]
    hold_cnt: np.ndarray      # int64[MAX_POOLS]: pages_state_hold_cnt
    release_cnt: np.ndarray   # int64[MAX_POOLS]: pages_state_release_cnt
    user_cnt: np.ndarray      # int64[MAX_POOLS]
    xdp_mem_id: np.ndarray    # int64[MAX_POOLS]: set by page_pool_use_xdp_mem (0 = none)
    stats: np.ndarray         # int64[MAX_POOLS, 11]
    defer: np.ndarray         # float64[MAX_POOLS, 3]: defer_start, next retry, defer_warn (ns)
    scratch: np.ndarray       # int64[PP_ALLOC_CACHE_REFILL]: bulk allocation buffer


def create_page_pools(ring_max: int = 2048) -> PagePools:
    """The table of page_pool slots; ``ring_max`` bounds any pool's ptr_ring."""
    z = lambda *s: np.zeros(s, np.int64)  # noqa: E731
    return PagePools(state=z(MAX_POOLS), params=z(MAX_POOLS, 7), alloc_cache=z(MAX_POOLS, PP_ALLOC_CACHE_SIZE),
                     alloc_count=z(MAX_POOLS), ring=z(MAX_POOLS, ring_max), ring_size=z(MAX_POOLS),
                     ring_prod=z(MAX_POOLS), ring_cons=z(MAX_POOLS), ring_count=z(MAX_POOLS),
                     hold_cnt=z(MAX_POOLS), release_cnt=z(MAX_POOLS), user_cnt=z(MAX_POOLS),
                     xdp_mem_id=z(MAX_POOLS), stats=z(MAX_POOLS, 11), defer=np.zeros((MAX_POOLS, 3)),
                     scratch=z(PP_ALLOC_CACHE_REFILL))


@kernel
def page_pool_create(b, order, flags, pool_size, nid, dma_dir, offset, max_len):
    """page_pool_create(&pp_params): a pool index, or -errno (page_pool_init's checks)."""
    pp = b.pools
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
    if order != 0:
        return -EOPNOTSUPP                  # xdplab models order-0 pools only (mvneta's kind)
    if ring_qsize > pp.ring.shape[1]:
        return -ENOMEM                      # ptr_ring_init failed (xdplab's ring_max)
    slot = -1
    for i in range(pp.state.shape[0]):
        if pp.state[i] == PP_FREE_SLOT or pp.state[i] == PP_FREED:
            slot = i
            break
    if slot < 0:
        return -ENOMEM
    pp.state[slot] = PP_ALIVE
    prm = pp.params[slot]
    prm[PARAM_ORDER] = order
    prm[PARAM_FLAGS] = flags
    prm[PARAM_POOL_SIZE] = pool_size
    prm[PARAM_NID] = nid
    prm[PARAM_DMA_DIR] = dma_dir
    prm[PARAM_OFFSET] = offset
    prm[PARAM_MAX_LEN] = max_len
    pp.alloc_count[slot] = 0
    pp.ring_size[slot] = ring_qsize
    pp.ring_prod[slot] = 0
    pp.ring_cons[slot] = 0
    pp.ring_count[slot] = 0
    pp.hold_cnt[slot] = 0
    pp.release_cnt[slot] = 0
    pp.user_cnt[slot] = 1                   # the driver's reference, dropped by page_pool_destroy
    pp.xdp_mem_id[slot] = 0
    pp.stats[slot, :] = 0
    pp.defer[slot, :] = 0.0
    return slot


@kernel
def page_pool_get_dma_addr(b, page):
    """page_pool_get_dma_addr: the bus address the pool mapped the page at."""
    return b.mem.dma_addr[page]


@kernel
def page_pool_get_dma_dir(b, pool):
    """page_pool_get_dma_dir: the pool's DMA direction."""
    return b.pools.params[pool, PARAM_DMA_DIR]


@kernel
def page_pool_inflight(b, pool):
    """page_pool_inflight: pages the pool handed out and has not had back (hold - release)."""
    return b.pools.hold_cnt[pool] - b.pools.release_cnt[pool]


@kernel
def _pp_trace(b, pool, page, how, d):
    pp = b.pools
    trace_event(b.trace, cpu_now(b.cpu), b.cpu.cur[0], 8 if how < 0 else 9, 0, page,
                -how - 1 if how < 0 else how, d, 0,
                b.rxq.busy[0], pp.alloc_count[pool], pp.ring_count[pool], pp.hold_cnt[pool] - pp.release_cnt[pool])


@kernel
def _ring_consume(pp, pool):
    if pp.ring_count[pool] == 0:
        return -1
    i = pp.ring_cons[pool]
    page = pp.ring[pool, i]
    i += 1
    if i == pp.ring_size[pool]:
        i = 0
    pp.ring_cons[pool] = i
    pp.ring_count[pool] -= 1
    return page


@kernel
def page_pool_dma_sync_for_device(b, pool, page, dma_sync_size):
    """Sync only what the CPU may have touched: min(dma_sync_size, max_len) bytes from offset."""
    prm = b.pools.params[pool]
    n = dma_sync_size
    if n < 0 or n > prm[PARAM_MAX_LEN]:     # dma_sync_size is unsigned: -1 means max_len
        n = prm[PARAM_MAX_LEN]
    dma_sync_single_range_for_device(b, b.mem.dma_addr[page], prm[PARAM_OFFSET], n, prm[PARAM_DMA_DIR])


@kernel
def _page_pool_dma_map(b, pool, page):
    prm = b.pools.params[pool]
    # the whole page, mapped once; SKIP_CPU_SYNC because the pool syncs max_len itself below
    dma_map_page(b, page, 0, PAGE_SIZE << prm[PARAM_ORDER], prm[PARAM_DMA_DIR], DMA_ATTR_SKIP_CPU_SYNC)
    if prm[PARAM_FLAGS] & PP_FLAG_DMA_SYNC_DEV:
        page_pool_dma_sync_for_device(b, pool, page, prm[PARAM_MAX_LEN])


@kernel
def page_pool_refill_alloc_cache(b, pool):
    """Move up to PP_ALLOC_CACHE_REFILL pages ptr_ring -> alloc cache; return the last one or -1."""
    pp = b.pools
    if pp.ring_count[pool] == 0:
        pp.stats[pool, ST_EMPTY] += 1
        return -1
    charge(b.cpu, C_PP_REFILL)
    while True:
        page = _ring_consume(pp, pool)
        if page < 0:
            break
        charge(b.cpu, C_PP_REFILL_PAGE)
        # every simulated page is on the board's single NUMA node: nothing is waived
        pp.alloc_cache[pool, pp.alloc_count[pool]] = page
        pp.alloc_count[pool] += 1
        b.mem.where[page] = PG_ALLOC_CACHE
        if pp.alloc_count[pool] >= PP_ALLOC_CACHE_REFILL:
            break
    if pp.alloc_count[pool] > 0:
        pp.alloc_count[pool] -= 1
        page = pp.alloc_cache[pool, pp.alloc_count[pool]]
        pp.stats[pool, ST_REFILL] += 1
        return page
    return -1


@kernel
def _page_pool_alloc_pages_slow(b, pool):
    """Bulk-allocate PP_ALLOC_CACHE_REFILL pages, map them, keep all but one in the cache."""
    pp = b.pools
    charge(b.cpu, C_PP_ALLOC_SLOW)
    if pp.params[pool, PARAM_ORDER] != 0:
        # order > 0 (one compound page): not modelled; the pool was refused at creation
        return -1
    if pp.alloc_count[pool] > 0:
        pp.alloc_count[pool] -= 1
        return pp.alloc_cache[pool, pp.alloc_count[pool]]
    nr = alloc_pages_bulk_into_cache(b, pool)
    if nr == 0:
        return -1
    pp.alloc_count[pool] -= 1
    pp.stats[pool, ST_SLOW] += 1
    return pp.alloc_cache[pool, pp.alloc_count[pool]]


@kernel
def alloc_pages_bulk_into_cache(b, pool):
    pp = b.pools
    flags = pp.params[pool, PARAM_FLAGS]
    nr = 0
    for _ in range(PP_ALLOC_CACHE_REFILL):
        page = alloc_page(b)
        if page < 0:
            break
        if flags & PP_FLAG_DMA_MAP:
            _page_pool_dma_map(b, pool, page)
        b.mem.pp[page] = pool                      # page_pool_set_pp_info
        b.mem.where[page] = PG_ALLOC_CACHE
        pp.alloc_cache[pool, pp.alloc_count[pool]] = page
        pp.alloc_count[pool] += 1
        pp.hold_cnt[pool] += 1                     # trace_page_pool_state_hold
        nr += 1
    return nr


@kernel
def page_pool_alloc_pages(b, pool, gfp):
    """page_pool_alloc_pages: a page (index) from cache, ring or page allocator; -1 if none."""
    pp = b.pools
    if pp.alloc_count[pool] > 0:                   # fast path
        pp.alloc_count[pool] -= 1
        page = pp.alloc_cache[pool, pp.alloc_count[pool]]
        pp.stats[pool, ST_FAST] += 1
        charge(b.cpu, C_PP_ALLOC_FAST)
        how = -1
    else:
        page = page_pool_refill_alloc_cache(b, pool)
        how = -2
        if page < 0:
            page = _page_pool_alloc_pages_slow(b, pool)
            how = -3
    if page >= 0:
        b.mem.where[page] = PG_CALLER
        _pp_trace(b, pool, page, how, 0)
    return page


@kernel
def page_pool_dev_alloc_pages(b, pool):
    """page_pool_dev_alloc_pages: page_pool_alloc_pages with GFP_ATOMIC | __GFP_NOWARN."""
    return page_pool_alloc_pages(b, pool, 0)


@kernel
def page_pool_release_page(b, pool, page):
    """page_pool_release_page (6.1; removed in 6.6): unmap and stop tracking; the page stays allocated."""
    pp = b.pools
    if b.mem.pp[page] != pool:
        san_report(b.san, 9, page, b.mem.pp[page], pool, b.mem.where[page])
        return
    charge(b.cpu, C_PP_RELEASE)
    if pp.params[pool, PARAM_FLAGS] & PP_FLAG_DMA_MAP:
        dma_unmap_page(b, b.mem.dma_addr[page], PAGE_SIZE << pp.params[pool, PARAM_ORDER],
                       pp.params[pool, PARAM_DMA_DIR], DMA_ATTR_SKIP_CPU_SYNC)
    b.mem.pp[page] = -1                            # page_pool_clear_pp_info
    pp.release_cnt[pool] += 1                      # trace_page_pool_state_release


@kernel
def page_pool_return_page(b, pool, page):
    """page_pool_return_page: release the pool's state and put the page (it is freed)."""
    page_pool_release_page(b, pool, page)
    b.mem.where[page] = PG_CALLER
    put_page(b, page)


@kernel
def page_pool_recycle_in_cache(b, pool, page):
    pp = b.pools
    if pp.alloc_count[pool] == PP_ALLOC_CACHE_SIZE:
        pp.stats[pool, ST_CACHE_FULL] += 1
        return False
    pp.alloc_cache[pool, pp.alloc_count[pool]] = page
    pp.alloc_count[pool] += 1
    pp.stats[pool, ST_CACHED] += 1
    b.mem.where[page] = PG_ALLOC_CACHE
    charge(b.cpu, C_PP_RECYCLE_CACHE)
    return True


@kernel
def page_pool_recycle_in_ring(b, pool, page):
    pp = b.pools
    charge(b.cpu, C_PP_RECYCLE_RING)
    if pp.ring_count[pool] == pp.ring_size[pool]:
        return False
    pp.ring[pool, pp.ring_prod[pool]] = page
    i = pp.ring_prod[pool] + 1
    if i == pp.ring_size[pool]:
        i = 0
    pp.ring_prod[pool] = i
    pp.ring_count[pool] += 1
    pp.stats[pool, ST_RING] += 1
    b.mem.where[page] = PG_PTR_RING
    return True


@kernel
def page_pool_put_page(b, pool, page, dma_sync_size, allow_direct):
    """page_pool_put_page(pool, page, dma_sync_size, allow_direct).

    Recycle if the pool holds the only reference: sync for the device
    (``min(dma_sync_size, max_len)`` bytes), then the alloc cache when
    ``allow_direct`` (caller is this pool's NAPI context), else the ptr_ring;
    a full ring releases the page.  A page someone else still references is
    released from the pool (``released_refcnt``) and put.
    """
    pp = b.pools
    m = b.mem
    if m.refcnt[page] <= 0:
        san_report(b.san, 2 if m.where[page] == 0 else 6, page, m.refcnt[page], 0, m.where[page])
        return
    if m.pp[page] != pool:
        san_report(b.san, 9, page, m.pp[page], pool, m.where[page])
        return
    if m.refcnt[page] == 1 and m.pfmemalloc[page] == 0:
        if pp.params[pool, PARAM_FLAGS] & PP_FLAG_DMA_SYNC_DEV:
            page_pool_dma_sync_for_device(b, pool, page, dma_sync_size)
        if allow_direct and page_pool_recycle_in_cache(b, pool, page):
            _pp_trace(b, pool, page, 0, dma_sync_size)
            return
        if page_pool_recycle_in_ring(b, pool, page):
            _pp_trace(b, pool, page, 1, dma_sync_size)
            return
        pp.stats[pool, ST_RING_FULL] += 1
        _pp_trace(b, pool, page, 3, dma_sync_size)
        page_pool_return_page(b, pool, page)
        return
    # fallback / non-XDP mode: someone else still holds the page
    pp.stats[pool, ST_RELEASED_REFCNT] += 1
    _pp_trace(b, pool, page, 2, dma_sync_size)
    page_pool_release_page(b, pool, page)
    put_page(b, page)


@kernel
def page_pool_put_full_page(b, pool, page, allow_direct):
    """page_pool_put_full_page: put with dma_sync_size = -1 (sync max_len)."""
    page_pool_put_page(b, pool, page, -1, allow_direct)


@kernel
def page_pool_recycle_direct(b, pool, page):
    """page_pool_recycle_direct: put_full_page from NAPI context (allow_direct)."""
    page_pool_put_page(b, pool, page, -1, True)


@kernel
def skb_mark_for_recycle(b, skb):
    """skb_mark_for_recycle: freeing the skb returns its pages to their page_pool (5.14+)."""
    b.stack.skb_pp_recycle[skb] = 1


@kernel
def page_pool_use_xdp_mem(b, pool, mem_id):
    """page_pool_use_xdp_mem: the XDP mem model takes a user reference on the pool."""
    b.pools.xdp_mem_id[pool] = mem_id
    b.pools.user_cnt[pool] += 1


@kernel
def _page_pool_scrub(b, pool):
    pp = b.pools
    while pp.alloc_count[pool] > 0:                # page_pool_empty_alloc_cache_once
        pp.alloc_count[pool] -= 1
        page = pp.alloc_cache[pool, pp.alloc_count[pool]]
        b.mem.where[page] = PG_CALLER
        page_pool_return_page(b, pool, page)
    while True:                                    # page_pool_empty_ring
        page = _ring_consume(pp, pool)
        if page < 0:
            break
        if b.mem.refcnt[page] != 1:
            printk(b.log, cpu_now(b.cpu), 4, b.mem.refcnt[page], 0, 0)
            san_report(b.san, 10, page, pool, b.mem.refcnt[page], 3)
        b.mem.where[page] = PG_CALLER
        page_pool_return_page(b, pool, page)


@kernel
def _page_pool_release(b, pool):
    """Scrub; free the pool if nothing is in flight.  Returns inflight."""
    _page_pool_scrub(b, pool)
    inflight = page_pool_inflight(b, pool)
    if inflight < 0:
        printk(b.log, cpu_now(b.cpu), 12, inflight, 0, 0)
    if inflight == 0:
        # page_pool_free -> pool->disconnect (mem_allocator_disconnect) -> mem id removed
        if b.pools.xdp_mem_id[pool] != 0:
            b.mem_ids.pool_of[b.pools.xdp_mem_id[pool]] = -1
        b.pools.state[pool] = PP_FREED
    return inflight


@kernel
def page_pool_destroy(b, pool):
    """page_pool_destroy: drop a user reference; the last one releases the pool (deferred if pages are in flight)."""
    pp = b.pools
    if pool < 0:
        return
    pp.user_cnt[pool] -= 1
    if pp.user_cnt[pool] > 0:
        return
    inflight = _page_pool_release(b, pool)
    if inflight == 0:
        return
    now = cpu_now(b.cpu)
    pp.state[pool] = PP_DESTROYING
    pp.defer[pool, 0] = now                        # defer_start
    pp.defer[pool, 1] = now + DEFER_TIME_NS        # schedule_delayed_work(DEFER_TIME)
    pp.defer[pool, 2] = now + DEFER_WARN_INTERVAL_NS
    san_report(b.san, 8, pool, inflight, 0, 0)


@kernel
def page_pool_release_retry(b, pool, now):
    """The deferred work: re-scrub, free when inflight reaches 0, warn every 60 s."""
    pp = b.pools
    if pp.state[pool] != PP_DESTROYING or now < pp.defer[pool, 1]:
        return
    inflight = _page_pool_release(b, pool)
    if inflight == 0:
        return
    if now >= pp.defer[pool, 2]:
        printk(b.log, now, 2, 0, inflight, np.int64((now - pp.defer[pool, 0]) // 1e9))
        pp.defer[pool, 2] = now + DEFER_WARN_INTERVAL_NS
    pp.defer[pool, 1] = now + DEFER_TIME_NS
