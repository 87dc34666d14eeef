"""The course's checkers: each accepts its reference solution and rejects realistic wrong answers, saying why.

The wrong answers are the mistakes a kernel developer makes when porting a
driver to XDP (and the ones the talk warns about); each test checks that the
checker's explanation names the counter, the sanitizer report or the kernel
rule that gives the mistake away.
"""
import pytest

from xdplab.course import EXERCISES, run_check, solution
from xdplab.course.kit import *  # noqa: F401,F403


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_reference_solution_passes(exercise):
    if EXERCISES[exercise].program:
        import shutil
        if shutil.which("clang") is None:
            pytest.skip("a C exercise's reference is compiled with clang, which is not installed")
    r = run_check(exercise, solution(exercise))
    assert r.ok, str(r)
    assert r.status == "pass" and "✓" in str(r)


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_unfinished_stub_is_reported_not_raised(exercise):
    name = EXERCISES[exercise].function

    def stub(*args):
        raise NotImplementedError(f"write {name}")
    stub.__name__ = name
    r = run_check(exercise, stub)
    assert not r.ok and r.status == "unfinished"
    assert "NOT WRITTEN YET" in str(r) and f"Write {name}" in str(r)


def _rejects(exercise, fn, *needles):
    r = run_check(exercise, fn)
    text = str(r)
    assert not r.ok and r.status == "fail", text
    for n in needles:
        assert n in text, f"{n!r} not in:\n{text}"
    return text


# ------------------------------------------------------------------ 00: the lab

def test_rx_desc_fill_without_buf_virt_addr():
    def mvneta_rx_desc_fill(b, i, phys_addr, page):
        charge(b, C_DESC_WRITE)
        b.rxd[i, RXD_BUF_PHYS_ADDR] = phys_addr
        b.pg[page, PGF_WHERE] = PG_RX_RING
    _rejects("lab_ex1", mvneta_rx_desc_fill, "buf_virt_addr", "NULL")


def test_rxq_desc_num_update_single_write_truncates():
    def mvneta_rxq_desc_num_update(b, rx_done, rx_filled):
        # one write, whatever the counts: fine for a NAPI poll (<= 64), wrong at teardown
        mvreg_write(b, MVNETA_RXQ_STATUS_UPDATE_REG(0), rx_done | (rx_filled << MVNETA_RXQ_ADD_NON_OCCUPIED_SHIFT))
    _rejects("lab_ex2", mvneta_rxq_desc_num_update, "rx_done=256", "8 bits", "255")


def test_rxq_desc_num_update_two_writes_per_poll():
    def mvneta_rxq_desc_num_update(b, rx_done, rx_filled):
        while rx_done > 0 or rx_filled > 0:
            d = min(rx_done, 255)
            f = min(rx_filled, 255)
            mvreg_write(b, MVNETA_RXQ_STATUS_UPDATE_REG(0), d)
            mvreg_write(b, MVNETA_RXQ_STATUS_UPDATE_REG(0), f << MVNETA_RXQ_ADD_NON_OCCUPIED_SHIFT)
            rx_done -= d
            rx_filled -= f
    _rejects("lab_ex2", mvneta_rxq_desc_num_update, "register write", "one posted write")


# ------------------------------------------------------------------ 01: driver memory

def _create_pool(dma_dir=None, flags=PP_FLAG_DMA_MAP | PP_FLAG_DMA_SYNC_DEV, max_len=MVNETA_MAX_RX_BUF_SIZE,
                 unwind=True):
    def mvneta_create_page_pool(b, size):
        d = dma_dir if dma_dir is not None else (DMA_BIDIRECTIONAL if b.r[R_PROG_KIND] else DMA_FROM_DEVICE)
        pool = page_pool_create(b, 0, flags, size, NUMA_NO_NODE, d, b.r[R_RX_OFFSET], max_len)
        if pool < 0:
            return pool
        b.r[R_RXQ_POOL] = pool
        err = xdp_rxq_info_reg(b, 0, b.r[R_IFINDEX], 0, 0, PAGE_SIZE)
        if err < 0:
            if unwind:
                page_pool_destroy(b, pool)
                b.r[R_RXQ_POOL] = -1
            return err
        err = xdp_rxq_info_reg_mem_model(b, 0, MEM_TYPE_PAGE_POOL, pool)
        if err:
            if unwind:
                xdp_rxq_info_unreg(b, 0)
                page_pool_destroy(b, pool)
                b.r[R_RXQ_POOL] = -1
            return err
        return 0
    return mvneta_create_page_pool


def test_create_page_pool_from_device_with_a_program():
    # the talk's 2020 slide chose the direction at creation; a driver that hard-codes FROM_DEVICE breaks XDP_TX
    _rejects("mem_ex1", _create_pool(dma_dir=DMA_FROM_DEVICE), "DMA_BIDIRECTIONAL", "XDP_TX")


def test_create_page_pool_without_sync_dev():
    _rejects("mem_ex1", _create_pool(flags=PP_FLAG_DMA_MAP), "PP_FLAG_DMA_SYNC_DEV", "dirtied")


def test_create_page_pool_max_len_page_size():
    _rejects("mem_ex1", _create_pool(max_len=PAGE_SIZE), "max_len", "3520")


def test_create_page_pool_without_error_unwinding():
    _rejects("mem_ex1", _create_pool(unwind=False), "still alive", "page_pool_destroy")


def test_rx_refill_without_headroom():
    def mvneta_rx_refill(b, i):
        charge(b, C_REFILL_DESC)
        page = page_pool_alloc_pages(b, b.r[R_RXQ_POOL], 0)
        if page < 0:
            return -ENOMEM
        mvneta_rx_desc_fill(b, i, page_pool_get_dma_addr(b, page), page)
        return 0
    _rejects("mem_ex2", mvneta_rx_refill, "page_pool_get_dma_addr(page) + 0", "headroom", "bpf_xdp_adjust_head")


def test_rx_refill_ignoring_allocation_failure():
    def mvneta_rx_refill(b, i):
        charge(b, C_REFILL_DESC)
        page = page_pool_alloc_pages(b, b.r[R_RXQ_POOL], 0)
        mvneta_rx_desc_fill(b, i, page_pool_get_dma_addr(b, page) + b.r[R_RX_OFFSET], page)
        return 0
    _rejects("mem_ex2", mvneta_rx_refill, "-ENOMEM", "refill_errors")


def test_rxq_drop_pkts_forgets_the_ring():
    def mvneta_rxq_drop_pkts(b):
        if xdp_rxq_info_is_reg(b, 0):
            xdp_rxq_info_unreg(b, 0)
        page_pool_destroy(b, b.r[R_RXQ_POOL])
        b.r[R_RXQ_POOL] = -1
    _rejects("mem_ex3", mvneta_rxq_drop_pkts, "page_pool destroyed with pages in flight",
             "page_pool_put_full_page(pool, page, false)")


def test_rxq_drop_pkts_forgets_unreg():
    def mvneta_rxq_drop_pkts(b):
        pool = b.r[R_RXQ_POOL]
        for i in range(b.r[R_RXQ_SIZE]):
            page = b.rxd[i, RXD_BUF_VIRT_ADDR]
            if page < 0 or b.rxd[i, RXD_BUF_PHYS_ADDR] == 0:
                continue
            b.rxd[i, RXD_BUF_PHYS_ADDR] = 0
            b.rxd[i, RXD_BUF_VIRT_ADDR] = -1
            page_pool_put_full_page(b, pool, page, False)
        page_pool_destroy(b, pool)
        b.r[R_RXQ_POOL] = -1
    _rejects("mem_ex3", mvneta_rxq_drop_pkts, "page leaked", "xdp_rxq_info_unreg", "memory model")


# ------------------------------------------------------------------ 02: NAPI and verdicts

def _rx_frame(sync=True, headroom_mh=True, fcs=True, clear=True, dir_from_pool=True):
    def mvneta_swbm_rx_frame(b, i, xdp, size, page):
        data_len = -MVNETA_MH_SIZE
        if size > MVNETA_MAX_RX_BUF_SIZE:
            ln = MVNETA_MAX_RX_BUF_SIZE
            data_len += ln
        else:
            ln = size
            data_len += ln - (ETH_FCS_LEN if fcs else 0)
        size -= ln
        d = page_pool_get_dma_dir(b, b.r[R_RXQ_POOL]) if dir_from_pool else DMA_FROM_DEVICE
        charge(b, C_DESC_READ)                # rx_desc->buf_phys_addr: the stub's cycle-model line
        if sync:
            dma_sync_single_for_cpu(b, b.rxd[i, RXD_BUF_PHYS_ADDR], ln, d)
        charge(b, C_DESC_WRITE)
        if clear:
            b.rxd[i, RXD_BUF_PHYS_ADDR] = 0
        b.pg[page, PGF_WHERE] = PG_CPU
        charge(b, C_XDP_BUFF_PREP)
        xdp[XB_FLAGS] &= ~XDP_FLAGS_HAS_FRAGS
        xdp_prepare_buff(xdp, page, 0, b.r[R_RX_OFFSET] + (MVNETA_MH_SIZE if headroom_mh else 0), data_len, False)
        return size
    return mvneta_swbm_rx_frame


def test_rx_frame_without_sync_for_cpu():
    _rejects("napi_ex1", _rx_frame(sync=False), "dma_sync_single_for_cpu", "not cache-coherent")


def test_rx_frame_forgets_the_marvell_header():
    _rejects("napi_ex1", _rx_frame(headroom_mh=False), "rx_xdp_tx", "MVNETA_MH_SIZE")


def test_rx_frame_counts_the_fcs():
    _rejects("napi_ex1", _rx_frame(fcs=False), "rx_bytes", "ETH_FCS_LEN")


def test_rx_frame_sync_direction_not_from_the_pool():
    _rejects("napi_ex1", _rx_frame(dir_from_pool=False), "different direction", "page_pool_get_dma_dir")


def test_rx_frame_does_not_clear_buf_phys_addr():
    _rejects("napi_ex1", _rx_frame(clear=False), "buf_phys_addr")


def _run_xdp(count_rx=True, put_drop=True, abort_falls=True, direct=True, sync_full=False, warn=True):
    def mvneta_run_xdp(b, xdp, frame_sz):
        off = b.r[R_RX_OFFSET]
        len_ = xdp[XB_DATA_END] - xdp[XB_HARD_START] - off
        data_len = xdp[XB_DATA_END] - xdp[XB_DATA]
        act = bpf_prog_run_xdp(b, xdp)
        sync = max(xdp[XB_DATA_END] - xdp[XB_HARD_START] - off, len_)
        if sync_full:
            sync = -1
        lab_count_verdict(b, act)
        if act == XDP_PASS:
            b.r[R_STATS + S_RX_XDP_PASS] += 1
            return MVNETA_XDP_PASS
        if act == XDP_TX:
            ret = mvneta_xdp_xmit_back(b, xdp)
            if ret != MVNETA_XDP_TX:
                mvneta_xdp_put_buff(b, xdp, sync)
        elif act == XDP_ABORTED and not abort_falls:
            trace_xdp_exception(b, xdp, act)
            ret = MVNETA_XDP_DROPPED
        else:
            if act not in (XDP_ABORTED, XDP_DROP) and warn:
                bpf_warn_invalid_xdp_action(b, act)
            if act != XDP_DROP:
                trace_xdp_exception(b, xdp, act)
            if put_drop:
                if direct:
                    mvneta_xdp_put_buff(b, xdp, sync)
                else:
                    page_pool_put_page(b, b.r[R_RXQ_POOL], xdp[XB_PAGE], sync, False)
            ret = MVNETA_XDP_DROPPED
            b.r[R_STATS + S_RX_XDP_DROP] += 1
        if count_rx:
            b.r[R_STATS + S_RX_BYTES] += frame_sz + xdp[XB_DATA_END] - xdp[XB_DATA] - data_len
            b.r[R_STATS + S_RX_PACKETS] += 1
        return ret
    return mvneta_run_xdp


def test_run_xdp_drop_not_counted_in_rx_packets():
    _rejects("napi_ex2", _run_xdp(count_rx=False), "rx_packets", "even for XDP_DROP")


def test_run_xdp_drop_leaks_the_page():
    _rejects("napi_ex2", _run_xdp(put_drop=False), "stayed in the driver's hands", "mvneta_xdp_put_buff")


def test_run_xdp_aborted_does_not_fall_through():
    _rejects("napi_ex2", _run_xdp(abort_falls=False), "XDP_ABORTED", "fall through")


def test_run_xdp_recycles_through_the_ring():
    _rejects("napi_ex2", _run_xdp(direct=False), "ptr_ring", "allow_direct")


def test_run_xdp_syncs_the_whole_buffer():
    _rejects("napi_ex2", _run_xdp(sync_full=True), "cache lines", "420 kpps")


def test_run_xdp_invalid_action_not_warned():
    _rejects("napi_ex2", _run_xdp(warn=False), "Illegal XDP return value", "pr_warn_once")


# ------------------------------------------------------------------ issue 21: wrong answers the checkers used to accept

def _drop_pkts(ack=True, direct=False, clear=True):
    def mvneta_rxq_drop_pkts(b):
        rx_done = b.r[R_RXQ_BUSY]
        if rx_done and ack:
            mvneta_rxq_desc_num_update(b, rx_done, rx_done)
        pool = b.r[R_RXQ_POOL]
        for i in range(b.r[R_RXQ_SIZE]):
            page = b.rxd[i, RXD_BUF_VIRT_ADDR]
            if page < 0 or b.rxd[i, RXD_BUF_PHYS_ADDR] == 0:
                continue
            if clear:
                b.rxd[i, RXD_BUF_PHYS_ADDR] = 0
                b.rxd[i, RXD_BUF_VIRT_ADDR] = -1
            page_pool_put_full_page(b, pool, page, direct)
        if xdp_rxq_info_is_reg(b, 0):
            xdp_rxq_info_unreg(b, 0)
        page_pool_destroy(b, pool)
        b.r[R_RXQ_POOL] = -1
    return mvneta_rxq_drop_pkts


def test_rxq_drop_pkts_without_the_ack_of_busy_descriptors():
    _rejects("mem_ex3", _drop_pkts(ack=False), "occupied", "mvneta_rxq_desc_num_update(b, rx_done, rx_done)")


def test_rxq_drop_pkts_recycles_direct_outside_napi():
    _rejects("mem_ex3", _drop_pkts(direct=True), "allow_direct=true) outside NAPI", "process context")


def test_rxq_drop_pkts_leaves_descriptors_pointing_at_freed_pages():
    _rejects("mem_ex3", _drop_pkts(clear=False), "still says buf_phys_addr", "RXD_BUF_VIRT_ADDR] = -1")


def _run_xdp_verdicts(put_on_tx_error=True, redirect_counts_failures=False):
    def mvneta_run_xdp(b, xdp, frame_sz):
        off = b.r[R_RX_OFFSET]
        len_ = xdp[XB_DATA_END] - xdp[XB_HARD_START] - off
        data_len = xdp[XB_DATA_END] - xdp[XB_DATA]
        act = bpf_prog_run_xdp(b, xdp)
        sync = max(xdp[XB_DATA_END] - xdp[XB_HARD_START] - off, len_)
        lab_count_verdict(b, act)
        if act == XDP_PASS:
            b.r[R_STATS + S_RX_XDP_PASS] += 1
            return MVNETA_XDP_PASS
        if act == XDP_REDIRECT:
            err = xdp_do_redirect(b, xdp)
            if redirect_counts_failures:
                b.r[R_STATS + S_RX_XDP_REDIRECT] += 1
            if err:
                mvneta_xdp_put_buff(b, xdp, sync)
                ret = MVNETA_XDP_DROPPED
            else:
                ret = MVNETA_XDP_REDIR
                if not redirect_counts_failures:
                    b.r[R_STATS + S_RX_XDP_REDIRECT] += 1
        elif act == XDP_TX:
            ret = mvneta_xdp_xmit_back(b, xdp)
            if ret != MVNETA_XDP_TX and put_on_tx_error:
                mvneta_xdp_put_buff(b, xdp, sync)
        else:
            if act != XDP_ABORTED and act != XDP_DROP:
                bpf_warn_invalid_xdp_action(b, act)
            if act != XDP_DROP:
                trace_xdp_exception(b, xdp, act)
            mvneta_xdp_put_buff(b, xdp, sync)
            ret = MVNETA_XDP_DROPPED
            b.r[R_STATS + S_RX_XDP_DROP] += 1
        b.r[R_STATS + S_RX_BYTES] += frame_sz + xdp[XB_DATA_END] - xdp[XB_DATA] - data_len
        b.r[R_STATS + S_RX_PACKETS] += 1
        return ret
    return mvneta_run_xdp


def test_run_xdp_leaks_the_page_when_the_tx_ring_is_full():
    _rejects("napi_ex2", _run_xdp_verdicts(put_on_tx_error=False), "TX ring was full", "rx_xdp_tx_errors",
             "mvneta_xdp_put_buff(b, xdp, sync)")


def test_run_xdp_counts_failed_redirects():
    _rejects("napi_ex2", _run_xdp_verdicts(redirect_counts_failures=True), "rx_xdp_redirect",
             "only when xdp_do_redirect() returned 0")


def test_rxq_desc_num_update_that_never_ends_is_reported():
    def mvneta_rxq_desc_num_update(b, rx_done, rx_filled):
        while rx_done > 0 or rx_filled > 0:          # forgets to take its share off the counts
            mvreg_write(b, MVNETA_RXQ_STATUS_UPDATE_REG(0), min(rx_done, 255))
    _rejects("lab_ex2", mvneta_rxq_desc_num_update, "LoopNeverEnds", "a loop that never ends")


# ------------------------------------------------------------------ 05: multi-buffer

def _add_frag(set_flag=True, fcs=True, reset=True, put_empty=True, frags_size="size"):
    def mvneta_swbm_add_rx_fragment(b, i, xdp, size, page):
        if size > MVNETA_MAX_RX_BUF_SIZE:
            ln = MVNETA_MAX_RX_BUF_SIZE
            data_len = ln
        else:
            ln = size
            data_len = ln - (ETH_FCS_LEN if fcs else 0)
        charge(b, C_DESC_READ)
        dma_sync_single_for_cpu(b, b.rxd[i, RXD_BUF_PHYS_ADDR], ln, page_pool_get_dma_dir(b, b.r[R_RXQ_POOL]))
        charge(b, C_DESC_WRITE)
        b.rxd[i, RXD_BUF_PHYS_ADDR] = 0
        b.pg[page, PGF_WHERE] = PG_CPU
        if reset and not xdp_buff_has_frags(xdp):
            xdp[XB_NR_FRAGS] = 0
        nr = xdp[XB_NR_FRAGS]
        if data_len > 0 and nr < MAX_SKB_FRAGS:
            k = XB_FRAG0 + nr * XB_FRAG_STRIDE
            xdp[k], xdp[k + 1], xdp[k + 2] = page, b.r[R_RX_OFFSET], data_len
            xdp[XB_NR_FRAGS] = nr + 1
            if frags_size == "sum":
                xdp[XB_FRAGS_SIZE] = (xdp[XB_FRAGS_SIZE] if xdp_buff_has_frags(xdp) else 0) + data_len
            if not xdp_buff_has_frags(xdp):
                if frags_size == "size":
                    xdp[XB_FRAGS_SIZE] = size
                if set_flag:
                    xdp_buff_set_frags_flag(xdp)
        elif put_empty:
            page_pool_put_full_page(b, b.r[R_RXQ_POOL], page, True)
        return size - ln
    return mvneta_swbm_add_rx_fragment


def test_add_rx_fragment_without_the_frags_flag_leaks_the_frag_pages():
    _rejects("mbuf_ex1", _add_frag(set_flag=False), "XDP_FLAGS_HAS_FRAGS", "skb_shared_info")


def test_add_rx_fragment_without_fcs_on_the_last_buffer():
    _rejects("mbuf_ex1", _add_frag(fcs=False), "ETH_FCS_LEN", "tx_bytes")


def test_add_rx_fragment_with_frags_size_as_the_sum_of_the_frags():
    # what one would write from the struct's comment; 6.1's mvneta stores *size (FCS included) instead
    _rejects("mbuf_ex1", _add_frag(frags_size="sum"), "xdp_frags_size = *size", "FCS included")


def test_add_rx_fragment_keeps_an_fcs_only_buffer():
    _rejects("mbuf_ex1", _add_frag(put_empty=False), "page_pool_put_full_page(pool, page, true)", "only FCS")


def _put_buff(frags=True, check_flag=True, direct=True):
    def mvneta_xdp_put_buff(b, xdp, sync_len):
        pool = b.r[R_RXQ_POOL]
        if frags and (xdp_buff_has_frags(xdp) or not check_flag):
            for i in range(xdp[XB_NR_FRAGS]):
                page_pool_put_full_page(b, pool, xdp[XB_FRAG0 + i * XB_FRAG_STRIDE], direct)
        page_pool_put_page(b, pool, xdp[XB_PAGE], sync_len, True)
    return mvneta_xdp_put_buff


def test_put_buff_returning_the_head_only_leaks_the_frags():
    _rejects("mbuf_ex2", _put_buff(frags=False), "return each frag", "kmemleak")


def test_put_buff_trusting_a_stale_nr_frags_frees_twice():
    _rejects("mbuf_ex2", _put_buff(check_flag=False), "twice", "xdp_buff_has_frags", "nr_frags")


def test_put_buff_frags_through_the_ptr_ring():
    _rejects("mbuf_ex2", _put_buff(direct=False), "allow_direct = true")


_LEN_FILTER = """#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("{sec}")
int xdp_len_filter(struct xdp_md *ctx)
{{
	{body}
}}
char _license[] SEC("license") = "GPL";
"""


def _len_filter(sec="xdp.frags", body="if (bpf_xdp_get_buff_len(ctx) > 4000) return XDP_DROP; return XDP_PASS;"):
    from xdplab.bpf import load_object
    from xdplab.bpf.progs import ClangMissing, compile_c
    try:
        return load_object(compile_c(_LEN_FILTER.format(sec=sec, body=body)))
    except ClangMissing:
        pytest.skip("clang is not installed")


def test_len_filter_the_reference_is_the_checker_s():
    assert run_check("mbuf_ex3", _len_filter()).ok


def test_len_filter_without_frags_section_is_refused_by_mvneta():
    _rejects("mbuf_ex3", _len_filter(sec="xdp"), "-EOPNOTSUPP", "prog does not support XDP frags", 'SEC("xdp.frags")')


def test_len_filter_measuring_the_linear_part_only():
    body = ("void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;"
            " if (end - data > 4000) return XDP_DROP; return XDP_PASS;")
    _rejects("mbuf_ex3", _len_filter(body=body), "linear", "bpf_xdp_get_buff_len")


def test_len_filter_off_by_one():
    _rejects("mbuf_ex3", _len_filter(body="if (bpf_xdp_get_buff_len(ctx) >= 4000) return XDP_DROP; return XDP_PASS;"),
             "exactly 4000")


def test_add_rx_fragment_with_a_frag_offset_of_zero():
    base = solution("mbuf_ex1")

    def mvneta_swbm_add_rx_fragment(b, i, xdp, size, page):
        left = base(b, i, xdp, size, page)
        if xdp_buff_has_frags(xdp):
            xdp[XB_FRAG0 + (xdp[XB_NR_FRAGS] - 1) * XB_FRAG_STRIDE + 1] = 0     # skb_frag_off_set(frag, 0)
        return left
    _rejects("mbuf_ex1", mvneta_swbm_add_rx_fragment, "rx_offset_correction", "offset 0")
