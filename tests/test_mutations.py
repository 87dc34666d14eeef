"""Mutation test of every exercise's checker (issue 21): each single-statement change of the reference solution
must be rejected, or be listed below as an equivalent mutant with the reason it cannot change what the driver
does.  A new exercise is covered as soon as it is in ``EXERCISES``; its survivors must be fixed in the checker
or listed here.  ``python -m xdplab.course.mutants <exercise>`` prints every mutant and whether it survives.
"""
import pytest

from xdplab.course import EXERCISES
from xdplab.course.mutants import mutants, survivors

_LOOP_SAME = ("the loop's one pass writes the same value: 255 goes through the else branch, which writes 0xff "
              "and subtracts 0xff, exactly what the if branch does")
_FAST_SAME = "255 then takes the loop, whose single pass writes the same rx_done | rx_filled << 16"
_DISJOINT = ("the fields do not overlap (rx_done in bits 0-7, rx_filled in bits 16-23, each at most 255 here), "
             "so | and ^ give the same value")

# exercise -> {mutant key: why it is harmless}
EQUIVALENT = {
    "lab_ex2": {
        "`if rx_done <= 255 and rx_filled <= 255:` -> `if rx_done <= 254 and rx_filled <= 255:`": _FAST_SAME,
        "`if rx_done <= 255 and rx_filled <= 255:` -> `if rx_done <= 255 and rx_filled <= 254:`": _FAST_SAME,
        "`val = rx_done | rx_filled << MVNETA_RXQ_ADD_NON_OCCUPIED_SHIFT` -> "
        "`val = rx_done ^ rx_filled << MVNETA_RXQ_ADD_NON_OCCUPIED_SHIFT`": _DISJOINT,
        "`if rx_done <= 255:` -> `if rx_done <= 254:`": _LOOP_SAME,
        "`if rx_filled <= 255:` -> `if rx_filled <= 254:`": _LOOP_SAME,
        "`val |= rx_filled << MVNETA_RXQ_ADD_NON_OCCUPIED_SHIFT` -> "
        "`val ^= rx_filled << MVNETA_RXQ_ADD_NON_OCCUPIED_SHIFT`": _DISJOINT,
        "`val |= 255 << MVNETA_RXQ_ADD_NON_OCCUPIED_SHIFT` -> `val ^= 255 << MVNETA_RXQ_ADD_NON_OCCUPIED_SHIFT`":
            _DISJOINT,
    },
    "mem_ex1": {
        "`b.r[R_RXQ_POOL] = page_pool_create(b, 0, PP_FLAG_DMA_MAP | PP_FLAG_DMA_SYNC_DEV, size, ...` -> "
        "`b.r[R_RXQ_POOL] = page_pool_create(b, 0, PP_FLAG_DMA_MAP ^ PP_FLAG_DMA_SYNC_DEV, size, ...`":
            "PP_FLAG_DMA_MAP (1) and PP_FLAG_DMA_SYNC_DEV (2) are different bits: | and ^ give the same flags",
        "`return 0` -> `return 1`":
            "the caller (6.1's mvneta_rxq_fill, and the lab's) tests err < 0: a positive return is success to it",
    },
    "mem_ex2": {
        "`page = page_pool_alloc_pages(b, b.r[R_RXQ_POOL], 0)` -> "
        "`page = page_pool_alloc_pages(b, b.r[R_RXQ_POOL], 1)`":
            "the lab's page allocator does not model gfp flags (6.1 passes the caller's GFP_KERNEL or GFP_ATOMIC "
            "| __GFP_NOWARN; the lab's mvneta_rx_refill has no gfp argument)",
    },
    "redir_ex1": {
        "`if ret & 255 != MVNETA_XDP_TX:` -> `if ret & 254 != MVNETA_XDP_TX:`":
            "mvneta_xdp_submit_frame returns MVNETA_XDP_TX (bit 1, the bytes above bit 8) or MVNETA_XDP_DROPPED "
            "(bit 0): masking bit 0 off turns DROPPED into 0, still not MVNETA_XDP_TX, so the loop stops the same",
    },
    "redir_ex2": {
        "`if rcv < 0:` -> `if rcv < 1:`":
            "row 0 of the device table is always eth0 (mvneta), never a veth's peer: a veth's peer row is 2 or more, "
            "or -1 once veth_dellink has cleared priv->peer",
    },
    "cpu_ex1": {
        "`stats = 0` -> `stats = 1`":
            "without a cpumap program stats is read only as stats >> 16 (the tracepoint's xdp_pass, xdp_drop, "
            "xdp_redirect), which is 0 for 0 and for 1 alike; with a program it is overwritten first",
        "`skb = -1` -> `skb = -2`": "any negative skb is \"no skb\" (the next test is skb < 0)",
    },
    "napi_ex2": {
        "`len_ = xdp[XB_DATA_END] - xdp[XB_HARD_START] - off` -> "
        "`len_ = xdp[XB_DATA_END] + xdp[XB_HARD_START] - off`":
            "the lab's xdp_buff holds offsets within the page and data_hard_start is offset 0: + 0 and - 0 agree",
        "`sync = xdp[XB_DATA_END] - xdp[XB_HARD_START] - off` -> "
        "`sync = xdp[XB_DATA_END] + xdp[XB_HARD_START] - off`":
            "the lab's xdp_buff holds offsets within the page and data_hard_start is offset 0: + 0 and - 0 agree",
        "`b.r[R_STATS + S_RX_PACKETS] += 1` -> `b.r[R_STATS - S_RX_PACKETS] += 1`":
            "S_RX_PACKETS is 0 (the first ethtool counter): R_STATS - 0 is the same slot",
    },
}


def test_equivalent_mutants_name_real_exercises():
    assert set(EQUIVALENT) <= set(EXERCISES)
    for ex, d in EQUIVALENT.items():
        keys = {m.key for m in mutants(ex)}
        assert set(d) <= keys, f"{ex}: listed mutants the generator no longer makes: {set(d) - keys}"
        assert all(len(why) > 20 for why in d.values())


def test_the_generator_makes_each_kind_of_mutant():
    keys = [m.key for ex in EXERCISES for m in mutants(ex)]
    assert any(k.startswith("delete `") for k in keys)
    assert "`page_pool_put_full_page(b, pool, page, False)` -> `page_pool_put_full_page(b, pool, page, True)`" \
        in [m.key for m in mutants("mem_ex3")]                                      # boolean argument flipped
    assert "`sync = max(sync, len_)` -> `sync = min(sync, len_)`" in [m.key for m in mutants("napi_ex2")]
    assert "`if ret != MVNETA_XDP_TX:` -> `if ret == MVNETA_XDP_TX:`" in [m.key for m in mutants("napi_ex2")]
    assert "`if err:` -> `if not err:`" in [m.key for m in mutants("napi_ex2")]
    assert "`b.r[R_STATS + S_RX_XDP_REDIRECT] += 1` -> `b.r[R_STATS + S_RX_XDP_REDIRECT] += 2`" \
        in [m.key for m in mutants("napi_ex2")]                                     # constant +1
    for ex in EXERCISES:                                 # every mutant is a function the checker can run
        for m in mutants(ex):
            assert m.function().__name__ == EXERCISES[ex].function


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_checker_rejects_every_mutant(exercise):
    ms = mutants(exercise)
    surv = survivors(exercise)
    allowed = EQUIVALENT.get(exercise, {})
    holes = [f"line {m.line}: {m.key}" for m, _ in surv if m.key not in allowed]
    assert not holes, f"{exercise}: the checker accepts {len(holes)} mutant(s) of the solution:\n  " + \
        "\n  ".join(holes)
    stale = set(allowed) - {m.key for m, _ in surv}
    assert not stale, f"{exercise}: listed as equivalent but now rejected (drop them from EQUIVALENT): {stale}"
    print(f"{exercise}: {len(ms)} mutants, {len(ms) - len(surv)} rejected, {len(surv)} equivalent (listed)")


# mbuf_ex3 is a C program (Exercise.program): its mutants are the C changes a learner makes, compiled with clang;
# each must be rejected
_LEN_FILTER_MUTANTS = {
    "SEC(\"xdp.frags\") -> SEC(\"xdp\")": ('SEC("xdp.frags")', 'SEC("xdp")'),
    "> 4000 -> >= 4000": ("> 4000", ">= 4000"),
    "> 4000 -> > 4001": ("> 4000", "> 4001"),
    "> 4000 -> > 3999": ("> 4000", "> 3999"),
    "> -> <": ("> 4000", "< 4000"),
    "XDP_DROP -> XDP_PASS": ("return XDP_DROP", "return XDP_PASS"),
    "XDP_PASS -> XDP_DROP": ("return XDP_PASS", "return XDP_DROP"),
    "XDP_DROP -> XDP_ABORTED": ("return XDP_DROP", "return XDP_ABORTED"),
    "bpf_xdp_get_buff_len(ctx) -> data_end - data": (
        "bpf_xdp_get_buff_len(ctx)", "((long)ctx->data_end - (long)ctx->data)"),
}


@pytest.mark.parametrize("key", sorted(_LEN_FILTER_MUTANTS))
def test_len_filter_checker_rejects_every_c_mutant(key):
    from xdplab.bpf import load_object
    from xdplab.bpf.progs import ClangMissing, compile_c
    from xdplab.course import run_check
    from xdplab.course.checks import SOLUTIONS_DIR
    src = (SOLUTIONS_DIR / EXERCISES["mbuf_ex3"].solution_file).read_text()
    old, new = _LEN_FILTER_MUTANTS[key]
    assert old in src
    try:
        obj = load_object(compile_c(src.replace(old, new)))
    except ClangMissing:
        pytest.skip("clang is not installed")
    r = run_check("mbuf_ex3", obj)
    assert not r.ok and r.status == "fail", f"the mbuf_ex3 checker accepts the C mutant {key}:\n{r}"


# cpu_ex2 is a C program too: the CPU-selection mistakes, each must be rejected
_RPS_MUTANTS = {
    "every frame to CPU 0": ("hash & 1, 0)", "0, 0)"),
    "every frame to CPU 1": ("hash & 1, 0)", "1, 0)"),
    "a CPU with no entry (2)": ("hash & 1, 0)", "2, 0)"),
    "no ports in the hash": ("hash ^= udp->source ^ ((__u32)udp->dest << 16);", "hash ^= 0;"),
    "a random CPU per frame": ("hash & 1, 0)", "bpf_get_prandom_u32() & 1, 0)"),
    "the stamp (payload) in the hash": ("\thash ^= hash >> 16;\n",
                                        "\tif ((void *)(udp + 1) + 8 <= data_end)\n"
                                        "\t\thash ^= *(__u32 *)((void *)(udp + 1) + 4);\n\thash ^= hash >> 16;\n"),
    "XDP_PASS for what it cannot parse, and no redirect": ("return bpf_redirect_map(&cpu_map, hash & 1, 0);",
                                                           "return XDP_PASS;"),
    # bit 0 of the loaded (big-endian) source port is bit 0 of its high byte: 0x03 for ports 1000..1015
    "no fold: bit 0 of the unfolded hash": ("\thash ^= hash >> 16;\n\thash ^= hash >> 8;\n", ""),
}


@pytest.mark.parametrize("key", sorted(_RPS_MUTANTS))
def test_rps_checker_rejects_every_c_mutant(key):
    from xdplab.bpf import load_object
    from xdplab.bpf.progs import ClangMissing, compile_c
    from xdplab.course import run_check
    from xdplab.course.checks import SOLUTIONS_DIR
    src = (SOLUTIONS_DIR / EXERCISES["cpu_ex2"].solution_file).read_text()
    old, new = _RPS_MUTANTS[key]
    assert old in src
    try:
        obj = load_object(compile_c(src.replace(old, new)))
    except ClangMissing:
        pytest.skip("clang is not installed")
    r = run_check("cpu_ex2", obj)
    assert not r.ok and r.status == "fail", f"the cpu_ex2 checker accepts the C mutant {key}:\n{r}"
