"""Chapter 04's checkers (xdplab/course/checks_04.py) accept the reference solutions and reject the realistic
wrong answers, saying why in the kernel's terms.

cpu_ex1 (``cpu_map_kthread_pass``) is also mutation-tested in tests/test_mutations.py; cpu_ex2 (``xdp_rps``, C)
has its C mutants there too.
"""
import shutil

import pytest

from xdplab.course import run_check, solution
from xdplab.course.checks import SOLUTIONS_DIR
from xdplab.course.kit import *  # noqa: F401,F403


def _rejects(exercise, fn, *needles):
    r = run_check(exercise, fn)
    text = str(r)
    assert not r.ok and r.status == "fail", text
    for n in needles:
        assert n in text, f"{n!r} not in:\n{text}"
    return text


def test_references_pass():
    for ex in ("cpu_ex1",) + (("cpu_ex2",) if shutil.which("clang") else ()):
        r = run_check(ex, solution(ex))
        assert r.ok, str(r)


def _pass(batch=CPUMAP_BATCH, clear_sched=True, clear_slot=True, compact=True, free_dropped="frame", bulk=True):
    """cpu_map_kthread_pass variants: ``batch`` frames per pass at most; ``clear_sched``: report sched once;
    ``clear_slot``: NULL the consumed slot; ``compact``: build skbs only from the frames the program passed;
    ``free_dropped``: "frame" (xdp_return_frame), "napi" (xdp_return_frame_rx_napi), "leak";
    ``bulk``: check that the slab has skb heads for the whole batch (kmem_cache_alloc_bulk: all or none)."""
    def cpu_map_kthread_pass(b, e):
        cm = b.cpumap
        charge(b, C_CPUMAP_BATCH)
        sched = cm[e, CMF_SCHED]
        if clear_sched:
            cm[e, CMF_SCHED] = 0
        if sched:
            charge(b, C_SCHED_SWITCH)
        n = min(cm[e, CMF_COUNT], batch)
        qsize = cm[e, CMF_QSIZE]
        for i in range(n):
            charge(b, C_PTR_RING_CONSUME)
            h = cm[e, CMF_HEAD]
            cm[e, CMF_BATCH + i] = cm[e, CMF_RING + h]
            if clear_slot:
                cm[e, CMF_RING + h] = 0
            cm[e, CMF_HEAD] = h + 1 if h + 1 < qsize else 0
        cm[e, CMF_COUNT] -= n
        nframes = n
        stats = 0
        if cm[e, CMF_PROG_KIND] != PROG_NONE:
            stats = _cpu_map_bpf_prog_run_xdp(b, e, n)
            if compact:
                nframes = stats & 0xFFFF
        drops = 0
        if bulk and nframes > 0 and b.r[R_SKB_NR_FREE] < nframes:
            drops = nframes
        for i in range(nframes):
            frame = cm[e, CMF_BATCH + i]
            skb = -1
            if drops == 0:
                skb = cpumap_build_skb(b, frame, e)
            if skb < 0:
                if free_dropped == "frame":
                    xdp_return_frame(b, frame)
                elif free_dropped == "napi":
                    xdp_return_frame_rx_napi(b, frame)
                continue
            cm[e, CMF_STATS + CMS_SKBS] += 1
            netif_receive_skb(b, skb)
        cm[e, CMF_STATS + CMS_KT_PROCESSED] += n
        cm[e, CMF_STATS + CMS_KT_DROPS] += drops
        cm[e, CMF_STATS + CMS_KT_SCHED] += sched
        cm[e, CMF_STATS + CMS_KT_EVENTS] += 1
        _cm_trace(b, EV_XDP_CPUMAP_KTHREAD, e, n, drops, sched, stats >> 16)
    return cpu_map_kthread_pass


def test_the_variant_factory_makes_the_reference():
    assert run_check("cpu_ex1", _pass()).ok


def test_one_frame_per_wakeup():
    _rejects("cpu_ex1", _pass(batch=1), "at most 1 frame(s) per pass", "CPUMAP_BATCH (8)",
             "__ptr_ring_consume_batched", "xdp:xdp_cpumap_kthread")


def test_skb_heads_one_at_a_time():
    # build_skb per frame while heads last: 6.1 allocates the batch's heads in bulk, all or none
    _rejects("cpu_ex1", _pass(bulk=False), "kthread_drops", "kmem_cache_alloc_bulk gives all the skb heads of a "
             "batch or none")


def test_napi_return_from_the_kthread_is_harmless_in_6_1():
    """xdp_return_frame_rx_napi from the kthread is no mistake 6.1 lets through: page_pool recycles into its
    alloc cache only while the CPU serves a softirq (in_serving_softirq()), which a kthread with bottom halves
    disabled does not, so the page takes the ptr_ring either way.  The checker accepts it (the chapter says so)."""
    assert run_check("cpu_ex1", _pass(free_dropped="napi")).ok


def test_leaks_the_frame_it_has_no_skb_for():
    _rejects("cpu_ex1", _pass(free_dropped="leak"), "xdp_return_frame", "a frame without an skb head")


def test_sched_never_cleared():
    _rejects("cpu_ex1", _pass(clear_sched=False), "kthread_sched", "schedule()", "then clear it")


def test_skbs_for_frames_the_program_dropped():
    _rejects("cpu_ex1", _pass(compact=False), "stats & 0xFFFF")


def test_consumed_slot_left_filled():
    _rejects("cpu_ex1", _pass(clear_slot=False), "NULL", "__ptr_ring_produce")


# ---------------------------------------------------------------- cpu_ex2: the C program
def _c(old, new):
    from xdplab.bpf import load_object
    from xdplab.bpf.progs import ClangMissing, compile_c
    src = (SOLUTIONS_DIR / "ch04_xdp_rps.c").read_text()
    assert old in src
    try:
        return load_object(compile_c(src.replace(old, new)))
    except ClangMissing:
        pytest.skip("clang is not installed")


_HASH = "\thash = iph->saddr ^ iph->daddr ^ iph->protocol;\n"


def test_stub_sends_everything_to_cpu0():
    from xdplab.bpf import load_object, prog_path
    _rejects("cpu_ex2", load_object(prog_path("xdp_rps_stub.o")), "CPU 1 did 0%", "only the UDP source port differs",
             "5-tuple")


def test_hash_of_the_addresses_only():
    _rejects("cpu_ex2", _c("\tif (iph->protocol == IPPROTO_UDP || iph->protocol == IPPROTO_TCP)\n"
                           "\t\thash ^= udp->source", "\tif (0)\n\t\thash ^= udp->source"),
             "only the UDP source port differs", "skb_get_hash")


def test_random_cpu_per_frame_reorders():
    _rejects("cpu_ex2", _c("bpf_redirect_map(&cpu_map, hash & 1, 0)", "bpf_redirect_map(&cpu_map, "
                           "bpf_get_prandom_u32() & 1, 0)"), "after a later frame of their flow",
             "both CPUs", "the two run concurrently")


def test_hash_over_the_payload_reorders():
    # the first payload word is the generator's stamp (flow id, then sequence number): it varies within a flow
    _rejects("cpu_ex2", _c(_HASH, _HASH + "\tif ((void *)(udp + 1) + 8 <= data_end)\n"
                                  "\t\thash ^= *(__u32 *)((void *)(udp + 1) + 4);\n"),
             "after a later frame of their flow", "never per frame")


def test_a_cpu_with_no_entry():
    _rejects("cpu_ex2", _c("hash & 1, 0)", "2, 0)"), "XDP_ABORTED", "bpf_redirect_map(&cpu_map, cpu, 0)")


def test_unfinished_c_stub_does_not_name_chapter_05s_section():
    # the unfinished message of a C exercise used to say SEC("xdp.frags") (chapter 05's) for every C exercise
    def xdp_rps():
        raise NotImplementedError("write xdp_rps")
    r = run_check("cpu_ex2", xdp_rps)
    assert r.status == "unfinished" and "Write xdp_rps in the %%bpf_c cell" in str(r)
    assert "xdp.frags" not in str(r)
