"""Checkers of chapter 05 (multi-buffer): ``mbuf_ex1`` (``mvneta_swbm_add_rx_fragment``), ``mbuf_ex2``
(``mvneta_xdp_put_buff``: every page of a frags frame back) and ``mbuf_ex3`` (a frags-aware program).

Each plugs the learner's work into python-mode boards at MTU 9000 and compares them with the same
boards running the 6.1 driver (``xdplab.course.checks``' machinery: counters, page census, sanitizer,
``check_leaks`` at ``ip link set down``); a difference is explained in the kernel's terms.
"""

from __future__ import annotations

from ..board import Board, XdplabError
from ..sanitizer import SanitizerError
from ..mm import PG_CPU, PGF_WHERE
from ..xdp_abi import XB_FLAGS, XB_FRAG0, XB_FRAG_STRIDE, XB_NR_FRAGS, XDP_FLAGS_HAS_FRAGS
from .. import _layout as L
from .checks import (EXERCISES, Exercise, _base, _Fail, _describe_exc, _raise_if_unfinished, _Unfinished, _scenario,
                     _traffic)

__all__ = ["CHECKERS_05", "mbuf_ex3_reference_insns", "LEN_LIMIT", "EX3_SIZES"]

JUMBO = 9000
_J = dict(mtu=JUMBO, rate=10_000)         # the chapter's boards: MTU 9000, 10 kpps (9000-byte line rate: 13.9 k)


def _keys(diffs):
    return {k for k, _, _ in diffs}


def _leaked(s):
    return bool(s.census.get("cpu") or (s.pages_problem and "cpu=" in s.pages_problem) or s.leak is not None)


# ================================================================ mbuf_ex1: mvneta_swbm_add_rx_fragment

def _explain_add_frag(s, ref, diffs, exc):
    out = []
    keys = _keys(diffs)
    if isinstance(exc, SanitizerError) and exc.code == 3:
        out.append("    every buffer of a frame was written by the NIC: dma_sync_single_for_cpu(b, "
                   "b.rxd[i, RXD_BUF_PHYS_ADDR], len, page_pool_get_dma_dir(pool)) for each frag too, before "
                   "anything reads it (bpf_xdp_load_bytes walks the frags) and before clearing buf_phys_addr")
    if isinstance(exc, SanitizerError) and exc.code in (1, 14):
        out.append("    a page went back to the pool twice: when the buff has no frags yet (xdp_buff_has_frags() "
                   "false) the frame is new, so sinfo->nr_frags = 0 first — else the previous frame's frags are "
                   "still counted, and returned again with this one")
    if _leaked(s):
        out.append("    frag pages stayed in the driver's hands: set XDP_FLAGS_HAS_FRAGS "
                   "(xdp_buff_set_frags_flag) with the first frag — mvneta_xdp_put_buff, xdp_return_frame and "
                   "the skb path read skb_shared_info only when the flag says it is valid; and a buffer that "
                   "does not become a frag (only FCS bytes in it, or MAX_SKB_FRAGS reached) goes back at once "
                   "with page_pool_put_full_page(pool, page, true)")
    if {"rx_bytes", "tx_bytes"} & keys or "verdict XDP_DROP" in keys or "rx_discard" in keys:
        out.append("    the frame's length is off: a buffer carries len = min(size, MVNETA_MAX_RX_BUF_SIZE) bytes, "
                   "the last one ends with the 4-byte FCS (data_len = len - ETH_FCS_LEN, and <= 0 means no "
                   "frag); 6.1 sets sinfo->xdp_frags_size = *size once, at the first frag — all that is left of "
                   "the frame, FCS included (bpf_xdp_get_buff_len and skb->len count it) — and returns size - len")
    if s.pages_problem and not _leaked(s):
        out.append("    clear rx_desc->buf_phys_addr once the buffer is taken: mvneta_rx_refill_queue refills only "
                   "empty descriptors")
    return out


def _check_add_rx_fragment(fn):
    name = "mvneta_swbm_add_rx_fragment"
    lines = []
    _traffic(fn, name, [dict(prog="frags-drop", packets=12, size=JUMBO, **_J),
                        dict(prog="frags-pass", packets=8, size=JUMBO, size2=64, **_J)], _explain_add_frag)
    lines.append("✓ 9000-byte frames (three buffers: 3518 + 3520 + 1958 bytes of frame) dropped and passed to "
                 "the stack: every frag page returned, skb->len = 3518 + xdp_frags_size, then 64-byte frames "
                 "(linear) after them")
    _traffic(fn, name, [dict(prog="frags-count", packets=8, size=4000, **_J),
                        dict(prog="frags-tx", packets=8, size=JUMBO, **_J),
                        dict(prog="frags-shrink-drop", packets=8, size=JUMBO, **_J)], _explain_add_frag)
    lines.append("✓ a program that reads the last bytes across frags (bpf_xdp_load_bytes: every buffer synced for "
                 "the CPU), XDP_TX (one TX descriptor per frag, tx_bytes their sizes) and bpf_xdp_adjust_tail "
                 "shrinking a frag away")
    _traffic(fn, name, [dict(prog="frags-pass", packets=8, size=3520, size2=3523, mtu=3500, rate=20_000)],
             _explain_add_frag)
    seen = []
    orig = _base()._funcs["bpf_prog_run_xdp"]

    def bpf_prog_run_xdp(b, xdp):            # what the program is handed: every frag where the NIC wrote it
        if xdp[XB_FLAGS] & XDP_FLAGS_HAS_FRAGS:
            for k in range(xdp[XB_NR_FRAGS]):
                f = XB_FRAG0 + k * XB_FRAG_STRIDE
                page, off = int(xdp[f]), int(xdp[f + 1])
                if (off != b.r[L.R_RX_OFFSET] or b.pg[page, PGF_WHERE] != PG_CPU) and len(seen) < 3:
                    seen.append((k, page, off, int(b.pg[page, PGF_WHERE])))
        return orig(b, xdp)
    s = _scenario({name: fn, "bpf_prog_run_xdp": bpf_prog_run_xdp}, prog="frags-drop", packets=4, size=JUMBO,
                  fn=fn, **_J)
    if s.exc:
        raise _Fail(*_describe_exc(s.exc, fn, s.label))
    if seen:
        k, page, off, where = seen[0]
        lines_ = [f"✗ {s.label}: when the program ran, frags[{k}] was {{page {page}, offset {off}}}, and the lab's "
                  f"page census placed that page at {where} (PG_CPU is {PG_CPU})"]
        if off != 256:
            lines_.append("    the NIC wrote the buffer at page + rx_offset_correction (256: the descriptor's "
                          "buf_phys_addr is the pool's DMA address + 256), so the frag's offset is b.r[R_RX_OFFSET] "
                          "(skb_frag_off_set(frag, pp->rx_offset_correction))")
        if where != PG_CPU:
            lines_.append("    b.pg[page, PGF_WHERE] = PG_CPU once the descriptor is emptied (lab bookkeeping, not "
                          "kernel code: check_pages() and the player know where every page is from it)")
        raise _Fail(*lines_)
    lines.append("✓ each frag handed to the program at the offset the NIC wrote it (256), its page the CPU's")
    lines.append("✓ MTU 3500: a second buffer of 2 FCS bytes only is no frag (the page goes back, the frame stays "
                 "linear), a second buffer of 5 bytes is a frag of 1")
    return lines


# ================================================================ mbuf_ex2: mvneta_xdp_put_buff

def _explain_put_buff(s, ref, diffs, exc):
    out = []
    keys = _keys(diffs)
    if isinstance(exc, SanitizerError) and exc.code in (1, 2, 6, 14):
        out.append("    a page went back to the pool twice: walk the frags only if xdp_buff_has_frags(xdp) — "
                   "sinfo->nr_frags is valid only while XDP_FLAGS_HAS_FRAGS is set (the driver clears the flag "
                   "for each new frame, not the count), so a linear frame after a jumbo one still carries the "
                   "old nr_frags and pages that are no longer its own")
    if _leaked(s):
        out.append("    a frags frame is its head page *and* every page in skb_shared_info: XDP_DROP, XDP_ABORTED "
                   "and a failed XDP_TX must return each frag (page_pool_put_full_page(pool, frag page, true)) "
                   "and then the head (page_pool_put_page(pool, page, sync_len, true)) — kmemleak reports the "
                   "frag pages at ip link set down otherwise")
    if ("rx_pp_recycle_ring" in keys or "rx_pp_recycle_cached" in keys) and not _leaked(s):
        out.append("    in NAPI context the driver owns the pool's alloc cache: allow_direct = true for the frags "
                   "and for the head (the ptr_ring is for pages returned from elsewhere)")
    if s.ops != ref.ops and not out:
        out.append("    the head goes back with page_pool_put_page(pool, page, sync_len, true): the pool syncs "
                   "for the device only as far as the frame reached (sync_len); each frag with "
                   "page_pool_put_full_page (the whole buffer: mvneta does not track how far the CPU wrote "
                   "into a frag)")
    return out


def _check_put_buff(fn):
    name = "mvneta_xdp_put_buff"
    lines = []
    _traffic(fn, name, [dict(prog="frags-drop", packets=10, size=JUMBO, size2=64, **_J),
                        dict(prog="frags-abort", packets=8, size=JUMBO, **_J)], _explain_put_buff)
    lines.append("✓ XDP_DROP and XDP_ABORTED of 9000-byte frames: the head and both frags back to the alloc "
                 "cache; 64-byte frames after them return their head only (the stale nr_frags ignored)")
    _traffic(fn, name, [dict(prog="frags-tx", packets=30, size=JUMBO, tx_ring=64, tx_gbps=0.005, **_J),
                        dict(prog="frags-shrink-drop", packets=8, size=JUMBO, **_J),
                        dict(prog="drop", packets=30)], _explain_put_buff)
    lines.append("✓ XDP_TX with the TX ring full (rx_xdp_tx_errors: the frame's three buffers back), a frag "
                 "released by bpf_xdp_adjust_tail before the drop, and 64-byte XDP_DROP at MTU 1500 (the head "
                 "synced only as far as the frame reached)")
    return lines


# ================================================================ mbuf_ex3: a frags-aware program

LEN_LIMIT = 4000
# frame sizes (FCS included) around the limit: bpf_xdp_get_buff_len gives size - 4 for a one-buffer frame, and
# for a multi-buffer one the size itself (6.1's mvneta counts the FCS into xdp_frags_size)
EX3_SIZES = (64, 1500, 3999, 4000, 4001, 4004, 9000)


def mbuf_ex3_reference_insns():
    """The checker's reference: SEC("xdp.frags") return bpf_xdp_get_buff_len(ctx) > 4000 ? XDP_DROP : XDP_PASS;"""
    from ..bpf import load_insns
    from ..bpf.insn import pack
    insns = [pack(0x85, imm=188),                        # r0 = bpf_xdp_get_buff_len(ctx)
             pack(0x25, 0, off=2, imm=LEN_LIMIT),        # if r0 > 4000 goto drop
             pack(0xB7, 0, imm=2), pack(0x95),           # return XDP_PASS
             pack(0xB7, 0, imm=1), pack(0x95)]           # drop: return XDP_DROP
    return load_insns(insns, name="len_filter_ref", section="xdp.frags").programs["len_filter_ref"]


def _as_program(obj):
    if hasattr(obj, "programs") and not hasattr(obj, "index"):
        progs = list(obj.programs.values())
        if len(progs) != 1:
            raise _Fail(f"✗ the object holds {len(progs)} programs ({', '.join(p.name for p in progs)}): "
                        "write one XDP program in the cell")
        return progs[0]
    if hasattr(obj, "state") and hasattr(obj, "index"):
        return obj
    raise _Fail(f"✗ expected the program %%bpf_c loaded (a BpfObject), got {type(obj).__name__}")


def _run_len_filter(prog):
    """Verdicts per size: {size: (passed, dropped)} for 3 frames of each size at MTU 9000 (python mode)."""
    out = {}
    b = Board(None, mode="python", mtu=JUMBO)
    b.attach(prog)
    for size in EX3_SIZES:
        v0 = b.verdicts()
        b.run(packets=3, size=size, rate=10_000)
        v = b.verdicts()
        out[size] = (v["XDP_PASS"] - v0["XDP_PASS"], v["XDP_DROP"] - v0["XDP_DROP"],
                     sum(v.values()) - sum(v0.values()))
    b.check_pages()
    b.stop()
    return out


def _check_len_filter(obj):
    if callable(obj) and not hasattr(obj, "programs") and not hasattr(obj, "index"):
        try:
            obj = obj()
        except Exception as e:  # noqa: BLE001
            _raise_if_unfinished(e)
            raise _Fail(f"✗ {type(e).__name__}: {e}") from None
    prog = _as_program(obj)
    if not getattr(prog, "frags", False):
        try:
            Board(None, mode="python", mtu=JUMBO).attach(prog)
            err = "attached"
        except XdplabError as e:
            err = str(e)
        raise _Fail(f"✗ ip link set dev eth0 mtu 9000 xdp obj ...: {err}",
                    f"    section {prog.section!r}: a program that does not say it handles frags sees only the "
                    "first buffer of a jumbo frame, so mvneta_xdp_setup refuses it while the MTU needs more than "
                    "one buffer (6.1: -EOPNOTSUPP, extack \"prog does not support XDP frags\"). Put it in "
                    "SEC(\"xdp.frags\"): libbpf then loads it with BPF_F_XDP_HAS_FRAGS")
    try:
        got = _run_len_filter(prog)
    except _Fail:
        raise
    except Exception as e:  # noqa: BLE001
        _raise_if_unfinished(e)
        raise _Fail(*_describe_exc(e, None, "the program on jumbo frames")) from None
    want = _run_len_filter(mbuf_ex3_reference_insns())
    bad = [(sz, got[sz], want[sz]) for sz in EX3_SIZES if got[sz] != want[sz]]
    if bad:
        lines = ["✗ frames of each size (FCS included), 3 of each at MTU 9000: (passed, dropped, all verdicts)"]
        for sz, g, w in bad:
            lines.append(f"    {sz:>5} bytes: {g}   (expected {w})")
        sizes = {sz for sz, _, _ in bad}
        if sizes & {4001, 4004, 9000} and not sizes & {64, 1500, 3999}:
            lines.append("    the frames longer than 4000 bytes were not dropped: data_end - data is the linear "
                         "part only (3518 bytes of a jumbo frame: the first buffer); the frame's length across "
                         "its frags is bpf_xdp_get_buff_len(ctx)")
        if 4000 in sizes and len(sizes) == 1:
            lines.append("    a frame of exactly 4000 bytes (bpf_xdp_get_buff_len() == 4000) is not longer than "
                         "4000: it passes")
        if any(g[2] != w[2] for _, g, w in bad) or any(g[0] + g[1] != g[2] for _, g, _ in bad):
            lines.append("    return XDP_PASS or XDP_DROP, nothing else")
        raise _Fail(*lines)
    return ["✓ SEC(\"xdp.frags\"): mvneta takes it at MTU 9000",
            "✓ every frame measured whole with bpf_xdp_get_buff_len: 64 .. 4000 bytes passed, 4001 .. 9000 dropped "
            "(4000 and 4001 are two-buffer frames: the length counts the FCS, as 6.1's mvneta fills xdp_frags_size)"]


CHECKERS_05 = {
    "mbuf_ex1": Exercise("mbuf_ex1", "mvneta_swbm_add_rx_fragment", "05-multi-buffer", "ch05_multi_buffer.py",
                         _check_add_rx_fragment, "make a non-first RX buffer a frag of the xdp_buff"),
    "mbuf_ex2": Exercise("mbuf_ex2", "mvneta_xdp_put_buff", "05-multi-buffer", "ch05_multi_buffer.py",
                         _check_put_buff, "return every page of a frags frame"),
    "mbuf_ex3": Exercise("mbuf_ex3", "xdp_len_filter", "05-multi-buffer", "ch05_xdp_len_filter.c",
                         _check_len_filter, "a frags-aware program: drop frames longer than 4000 bytes",
                         program=True),
}
EXERCISES.update(CHECKERS_05)
