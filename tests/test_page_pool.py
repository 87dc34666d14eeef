"""page_pool (net/core/page_pool.c, 6.1): creation checks, both caches, stats, DMA sync length, destroy."""
import numpy as np
import pytest

from xdplab import _layout as L
from xdplab._twospeed import JIT, PythonKernel
from xdplab.board import create_board_state, to_ref
from xdplab.cost import C_DCACHE_CLEAN_LINE
from xdplab.errno import E2BIG, EINVAL
from xdplab.mm import (DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_TO_DEVICE, PG_FREE, PG_PTR_RING, PGF_DMA_ADDR, PGF_PP,
                       PGF_REFCNT, PGF_WHERE)
from xdplab.page_pool import (PP_ALLOC_CACHE_REFILL, PP_ALLOC_CACHE_SIZE, PP_DESTROYING, PP_FLAG_DMA_MAP,
                              PP_FLAG_DMA_SYNC_DEV, PP_FREED, PP_STAT_NAMES, PPF_ALLOC_COUNT, PPF_STATE, PPF_STATS, PPF_USER_CNT)
from xdplab.sanitizer import SanitizerError, _san_report_raise, san_raise_pending

FLAGS = PP_FLAG_DMA_MAP | PP_FLAG_DMA_SYNC_DEV


class K:
    """Kernels of one speed, called on a board whose arrays the test reads directly.

    Jitted kernels get the StructRef over the arrays (what Board passes them);
    python copies get the NamedTuple itself.
    """

    def __init__(self, mode):
        self.mode = mode
        self.ns = JIT if mode == "jit" else PythonKernel({"san_report": _san_report_raise})
        self.refs = {}

    def __getattr__(self, name):
        fn = getattr(self.ns, name)

        def call(b, *args):
            if self.mode == "jit":
                key = id(b.r)
                if key not in self.refs:
                    self.refs[key] = (b, to_ref(b))
                b = self.refs[key][1]
            return fn(b, *args)
        return call


@pytest.fixture
def k(mode):
    return K(mode)


def stats(b, pool):
    return dict(zip(PP_STAT_NAMES, b.pp[pool, PPF_STATS:PPF_STATS + 11].tolist()))


def mk(k, b, pool_size=512, flags=FLAGS, dma_dir=DMA_FROM_DEVICE, max_len=3520):
    return k.page_pool_create(b, 0, flags, pool_size, -1, dma_dir, 256, max_len)


@pytest.mark.parametrize("args,err", [
    (dict(flags=1 << 5), -EINVAL),                               # unknown flag
    (dict(flags=PP_FLAG_DMA_SYNC_DEV), -EINVAL),                 # sync without map
    (dict(max_len=0), -EINVAL),                                  # sync needs max_len
    (dict(dma_dir=DMA_TO_DEVICE), -EINVAL),                      # map only FROM_DEVICE / BIDIRECTIONAL
    (dict(pool_size=40000), -E2BIG),                             # ptr_ring sanity limit 32768
])
def test_create_rejects_like_page_pool_init(k, args, err):
    b = create_board_state()
    assert mk(k, b, **args) == err


def test_create_accepts_any_order_as_page_pool_init_does(k):
    # 6.1's page_pool_init has no check on the order: the pool is created.  The lab's page
    # allocator has no compound pages, so the first allocation fails and dmesg says why
    from xdplab.printk import format_log
    b = create_board_state()
    pool = k.page_pool_create(b, 1, FLAGS, 512, -1, DMA_FROM_DEVICE, 256, 3520)
    assert pool >= 0 and b.pp[pool, PPF_STATE] != 0
    assert k.page_pool_alloc_pages(b, pool, 0) == -1
    assert any("has order 1" in m and "compound page of 2 pages" in m for m in format_log(b))
    assert b.r[L.R_NR_FREE] == b.data.shape[0]           # nothing taken from the page allocator


def test_direct_recycling_needs_the_softirq(k):
    # __page_pool_put_page: allow_direct && in_serving_softirq(); from process context (a
    # teardown, a workqueue) allow_direct alone does not reach the alloc cache
    b = create_board_state()
    pool = mk(k, b)
    p, q = k.page_pool_alloc_pages(b, pool, 0), k.page_pool_alloc_pages(b, pool, 0)
    cache = b.pp[pool, PPF_ALLOC_COUNT]
    k.page_pool_put_full_page(b, pool, p, True)
    assert stats(b, pool)["ring"] == 1 and stats(b, pool)["cached"] == 0
    assert b.pg[p, PGF_WHERE] == PG_PTR_RING and b.pp[pool, PPF_ALLOC_COUNT] == cache
    b.r[L.R_IN_SOFTIRQ] = 1                               # as when NAPI polls
    k.page_pool_put_full_page(b, pool, q, True)
    assert stats(b, pool)["cached"] == 1 and b.pp[pool, PPF_ALLOC_COUNT] == cache + 1


def test_alloc_slow_then_fast_then_refill(k):
    b = create_board_state()
    pool = mk(k, b)
    assert pool >= 0
    first = k.page_pool_alloc_pages(b, pool, 0)
    s = stats(b, pool)
    assert s["slow"] == 1 and s["fast"] == 0
    # one bulk of 64 from the page allocator: one returned, 63 left in the cache
    assert b.r[L.R_NR_FREE] == b.data.shape[0] - PP_ALLOC_CACHE_REFILL
    got = [first] + [k.page_pool_alloc_pages(b, pool, 0) for _ in range(63)]
    assert stats(b, pool)["fast"] == 63 and len(set(got)) == 64
    # the pool mapped each page once and synced max_len for the device
    assert all(b.pg[p, PGF_DMA_ADDR] != 0 for p in got)
    # return them from outside NAPI: they go to the ptr_ring
    for p in got:
        k.page_pool_put_full_page(b, pool, p, False)
    s = stats(b, pool)
    assert s["ring"] == 64 and s["cached"] == 0
    assert all(b.pg[p, PGF_WHERE] == PG_PTR_RING for p in got)
    # next alloc finds the cache empty and refills up to 64 from the ring
    p = k.page_pool_alloc_pages(b, pool, 0)
    s = stats(b, pool)
    assert s["refill"] == 1 and s["slow"] == 1 and p in got
    assert b.pp[pool, PPF_ALLOC_COUNT] == PP_ALLOC_CACHE_REFILL - 1


def test_recycle_direct_cache_full_and_ring_full(k):
    b = create_board_state()
    pool = mk(k, b, pool_size=64)
    pages = [k.page_pool_alloc_pages(b, pool, 0) for _ in range(64 * 4)]
    b.r[L.R_IN_SOFTIRQ] = 1                           # in NAPI (softirq)
    for p in pages:                                   # NAPI-direct: cache first
        k.page_pool_put_page(b, pool, p, -1, True)
    s = stats(b, pool)
    assert s["cached"] == PP_ALLOC_CACHE_SIZE
    assert s["cache_full"] == len(pages) - PP_ALLOC_CACHE_SIZE
    assert s["ring"] == 64                            # ptr_ring of pool_size slots
    assert s["ring_full"] == len(pages) - PP_ALLOC_CACHE_SIZE - 64
    # ring_full pages were released from the pool and freed
    released = [p for p in pages if b.pg[p, PGF_WHERE] == PG_FREE]
    assert len(released) == s["ring_full"] and all(b.pg[p, PGF_PP] == -1 for p in released)


def test_released_refcnt_when_someone_else_holds_the_page(k):
    b = create_board_state()
    pool = mk(k, b)
    p = k.page_pool_alloc_pages(b, pool, 0)
    k.get_page(b, p)                                  # e.g. an skb clone
    k.page_pool_put_full_page(b, pool, p, True)
    assert stats(b, pool)["released_refcnt"] == 1
    assert b.pg[p, PGF_REFCNT] == 1 and b.pg[p, PGF_PP] == -1 and b.pg[p, PGF_WHERE] != PG_FREE
    k.put_page(b, p)
    assert b.pg[p, PGF_WHERE] == PG_FREE


@pytest.mark.parametrize("dma_sync_size,lines", [(62, 1), (200, 4), (-1, 55), (100000, 55)])
def test_recycle_syncs_only_dma_sync_size_bounded_by_max_len(k, dma_sync_size, lines):
    b = create_board_state()
    pool = mk(k, b)
    p = k.page_pool_alloc_pages(b, pool, 0)
    before = b.r[L.R_OP_COUNT + C_DCACHE_CLEAN_LINE]
    k.page_pool_put_page(b, pool, p, dma_sync_size, True)
    # from offset 256: min(size, max_len=3520) bytes; 3520 bytes from 256 end at 3776 = 55 lines
    assert b.r[L.R_OP_COUNT + C_DCACHE_CLEAN_LINE] - before == lines


def test_no_sync_without_pp_flag_dma_sync_dev(k):
    b = create_board_state()
    pool = mk(k, b, flags=PP_FLAG_DMA_MAP, dma_dir=DMA_BIDIRECTIONAL)
    p = k.page_pool_alloc_pages(b, pool, 0)
    before = b.r[L.R_OP_COUNT + C_DCACHE_CLEAN_LINE]
    k.page_pool_put_page(b, pool, p, -1, True)
    assert b.r[L.R_OP_COUNT + C_DCACHE_CLEAN_LINE] == before


def test_double_recycle_is_caught(mode, k):
    b = create_board_state()
    pool = mk(k, b)
    p = k.page_pool_alloc_pages(b, pool, 0)
    b.r[L.R_IN_SOFTIRQ] = 1                           # in NAPI (softirq)
    k.page_pool_recycle_direct(b, pool, p)
    if mode == "python":
        with pytest.raises(SanitizerError, match="recycled twice"):
            k.page_pool_recycle_direct(b, pool, p)
    else:
        k.page_pool_recycle_direct(b, pool, p)
        with pytest.raises(SanitizerError, match="recycled twice"):
            san_raise_pending(b)
    assert stats(b, pool)["cached"] == 1


def test_destroy_with_pages_in_flight_defers_then_frees(mode, k):
    b = create_board_state()
    pool = mk(k, b)
    held = k.page_pool_alloc_pages(b, pool, 0)
    k.page_pool_put_full_page(b, pool, k.page_pool_alloc_pages(b, pool, 0), True)
    if mode == "python":
        with pytest.raises(SanitizerError, match="in flight"):
            k.page_pool_destroy(b, pool)
    else:
        k.page_pool_destroy(b, pool)
        with pytest.raises(SanitizerError, match="1 page\\(s\\) were still in flight"):
            san_raise_pending(b)
    assert b.pp[pool, PPF_STATE] == PP_DESTROYING
    # the scrub emptied the cache; only the held page is in flight
    assert k.page_pool_inflight(b, pool) == 1
    # a second later the retry still waits; the page comes back; the next retry frees the pool
    k.page_pool_release_retry(b, pool, k.cpu_now(b) + 1.5e9)
    assert b.pp[pool, PPF_STATE] == PP_DESTROYING
    k.page_pool_put_full_page(b, pool, held, False)
    k.page_pool_release_retry(b, pool, k.cpu_now(b) + 3e9)
    assert b.pp[pool, PPF_STATE] == PP_FREED
    assert b.r[L.R_NR_FREE] == b.data.shape[0]


def test_stalled_shutdown_warns_every_60s(k):
    b = create_board_state()
    pool = mk(k, b)
    k.page_pool_alloc_pages(b, pool, 0)
    b.r[L.R_SAN_N] = 0
    try:
        k.page_pool_destroy(b, pool)
    except SanitizerError:
        pass
    t0 = k.cpu_now(b)
    for s in range(1, 130):
        k.page_pool_release_retry(b, pool, t0 + s * 1e9 + 1)
    from xdplab.printk import format_log
    warns = [m for m in format_log(b) if "stalled pool shutdown" in m]
    assert len(warns) == 2 and "1 inflight 60 sec" in warns[0] and "inflight 12" in warns[1]


def test_user_cnt_xdp_mem_model_holds_a_reference(k):
    b = create_board_state()
    pool = mk(k, b)
    assert k.xdp_rxq_info_reg(b, 0, 2, 0, 0, 4096) == 0
    assert k.xdp_rxq_info_reg_mem_model(b, 0, 2, pool) == 0
    assert b.pp[pool, PPF_USER_CNT] == 2
    k.page_pool_destroy(b, pool)                      # the driver's reference
    assert b.pp[pool, PPF_STATE] != PP_FREED          # the mem model still holds one
    k.xdp_rxq_info_unreg(b, 0)                        # ... and drops it: the pool goes
    assert b.pp[pool, PPF_STATE] == PP_FREED
    assert np.all(b.ids[:, 0] == -1)
