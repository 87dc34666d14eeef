"""What KASAN, kmemleak, page refcount checks and CONFIG_DMA_API_DEBUG would say.

Kernels call :func:`san_report` with a code and up to three arguments.  The
jitted version records the report (the first ``SAN_MAX`` of them) and the
Python wrapper that made the call raises :class:`SanitizerError` afterwards;
the python-speed namespace replaces ``san_report`` with one that raises at
once, so a learner's traceback points at the line that did it.
"""

from __future__ import annotations

from ._layout import R_SAN_N, R_SAN_SEEN
from ._twospeed import kernel
from .printk import LOG_MAX

__all__ = ["san_report", "SanitizerError", "san_message", "san_raise_pending", "san_reports", "SAN_CODES",
           "SAN_MAX"]

SAN_MAX = 64

# code: (title, explanation with {a} {b} {c}, fix)
SAN_CODES = {
    1: ("double free",
        "page {a} was returned to the page allocator but its refcount was already 0",
        "each page_pool_alloc_pages()/alloc_pages() is matched by exactly one put: check for a "
        "second page_pool_put_page()/put_page() on the same page on this path"),
    2: ("use after free",
        "page {a} was used by '{where}' after it was freed to the page allocator",
        "do not touch a page after page_pool_put_page()/put_page(); take what you need from it first"),
    3: ("CPU read of a DMA buffer before dma_sync_single_for_cpu()",
        "page {a}: the CPU read bytes [{b}, {c}) that the NIC wrote by DMA, but those cache lines were "
        "never invalidated (the ESPRESSObin's DMA is not cache-coherent: the CPU may read stale data)",
        "call dma_sync_single_for_cpu(dev, rx_desc->buf_phys_addr, rx_desc->data_size, "
        "page_pool_get_dma_dir(pool)) before looking at the packet"),
    4: ("device read stale data (missing dma_sync_single_for_device)",
        "page {a}: the NIC transmitted bytes [{b}, {c}) that the CPU wrote, but those cache lines "
        "were never cleaned to memory",
        "sync the frame for the device before ringing the TX doorbell "
        "(dma_sync_single_for_device(..., DMA_BIDIRECTIONAL) for XDP_TX)"),
    5: ("device wrote over dirty cache lines (missing sync for device)",
        "page {a}: the NIC wrote bytes [{b}, {c}) of a buffer whose cache lines the CPU had dirtied "
        "and nobody cleaned; a later eviction will corrupt the received frame",
        "recycle through page_pool_put_page() with a dma_sync_size covering what the CPU touched "
        "(PP_FLAG_DMA_SYNC_DEV), or sync the buffer for the device before refilling the descriptor"),
    6: ("refcount underflow",
        "page {a}: put_page() on a page whose refcount is {b}",
        "a page reference was dropped twice; pair every get_page() with one put_page()"),
    7: ("page leaked",
        "page {a} is still held ({where}) after the device was stopped and its page_pool destroyed",
        "return every page: mvneta_stop() must put every RX-ring page back with "
        "page_pool_put_full_page(), and every skb/frame must be freed"),
    8: ("page_pool destroyed with pages in flight",
        "page_pool {a} was destroyed while {b} page(s) were still in flight",
        "the pool stays alive (deferred release, retried every second, warned every 60 s) until "
        "they come back; free the skbs/frames that hold them"),
    9: ("put to the wrong page_pool",
        "page {a} belongs to page_pool {b} but was put to page_pool {c}",
        "recycle a page into the pool it came from (page->pp)"),
    10: ("page_pool refcnt violation",
         "page {a} in page_pool {b}'s ptr_ring has refcount {c} (must be 1)",
         "only pages whose last reference the pool holds may be recycled"),
    11: ("DMA unmap of an unmapped page",
         "page {a} was unmapped but has no DMA mapping",
         "unmap each mapping exactly once"),
    12: ("descriptor refilled twice",
         "RX descriptor {b} already holds page {c}; refilling it with page {a} leaks that page",
         "only refill descriptors whose buf_phys_addr is 0 (consumed by the RX loop)"),
    14: ("page recycled twice",
         "page {a} was put back to page_pool {b} while it already sits in the pool ({where})",
         "a page is returned exactly once: on XDP_DROP/ABORTED the driver recycles it, on XDP_TX the "
         "TX completion does, on XDP_PASS the skb's free does"),
    13: ("sync of an unmapped DMA address",
         "dma_sync_single_* on DMA address {a:#x}, which maps no page",
         "sync only addresses returned by dma_map_page()/page_pool_get_dma_addr()"),
}
SAN_WHERE = ("the page allocator (free)", "the RX ring", "the page_pool alloc cache", "the page_pool ptr_ring",
             "the CPU (driver/XDP)", "the TX ring", "an skb", "an xdp_frame in flight", "a caller")


@kernel
def san_report(b, code, x, y, z, where):
    """Record a sanitizer report (the python namespace raises instead)."""
    i = b.r[R_SAN_N]
    if i < SAN_MAX:
        row = b.klog[LOG_MAX + i]
        row[0] = code
        row[1] = x
        row[2] = y
        row[3] = z
        row[4] = where
    b.r[R_SAN_N] = i + 1


class SanitizerError(RuntimeError):
    """A driver bug the sanitizer caught. ``.code`` and ``.title`` identify it."""

    def __init__(self, code, a=0, b=0, c=0, where=0):
        self.code, self.a, self.b, self.c, self.where = int(code), int(a), int(b), int(c), int(where)
        self.title = SAN_CODES.get(self.code, ("unknown",))[0]
        super().__init__(san_message(code, a, b, c, where))


def san_message(code, a=0, b=0, c=0, where=0) -> str:
    title, what, fix = SAN_CODES.get(int(code), ("unknown report", "code {a}", "report this as an xdplab bug"))
    w = SAN_WHERE[int(where)] if 0 <= int(where) < len(SAN_WHERE) else str(where)
    return f"xdplab sanitizer: {title}\n  {what.format(a=a, b=b, c=c, where=w)}\n  fix: {fix.format(a=a, b=b, c=c)}"


def san_reports(b) -> list:
    """All recorded reports as (code, a, b, c, where) tuples."""
    n = min(int(b.r[R_SAN_N]), SAN_MAX)
    return [tuple(int(v) for v in b.klog[LOG_MAX + i, :5]) for i in range(n)]


def san_raise_pending(b) -> None:
    """Raise the first report not raised yet (called by Python wrappers after a jitted call)."""
    n = int(b.r[R_SAN_N])
    s = int(b.r[R_SAN_SEEN])
    if n > s:
        b.r[R_SAN_SEEN] = n
        i = min(s, SAN_MAX - 1)
        err = SanitizerError(*(int(v) for v in b.klog[LOG_MAX + i, :5]))
        if n - s > 1:
            err.args = (err.args[0] + f"\n  ({n - s - 1} more report(s) after this one: Board.sanitizer_reports())",)
        raise err


def _san_report_raise(b, code, x, y, z, where):
    """Python-speed san_report: record, then raise at the faulting line."""
    i = b.r[R_SAN_N]
    if i < SAN_MAX:
        b.klog[LOG_MAX + i, :5] = (code, x, y, z, where)
    b.r[R_SAN_N] = i + 1
    b.r[R_SAN_SEEN] = b.r[R_SAN_N]
    raise SanitizerError(code, x, y, z, where)
