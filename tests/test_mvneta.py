"""mvneta's XDP paths on the simulated board: every verdict, stats, setup rules, refill failure, conservation."""
import numpy as np
import pytest

from xdplab_testutil import npk
from xdplab import Board, SanitizerError, XdplabError
from xdplab import _layout as L
from xdplab.trace import EV_NAMES, trace_records
from xdplab.cost import OPS


def test_xdp_drop_counts_and_recycles_in_cache(mode):
    b = Board("drop", mode=mode)
    n = npk(mode, 20000, 600)
    r = b.run(packets=n, rate=200_000)           # below capacity: nothing discarded
    e = b.ethtool()
    assert r["hw_discard"] == 0 and r["rx_packets"] == n
    assert e["rx_xdp_drop"] == n and e["rx_xdp_pass"] == 0
    assert b.netdev_stats()["rx_packets"] == n   # counted even for XDP_DROP
    assert b.netdev_stats()["rx_dropped"] == 0   # ... and not as a drop
    # steady state: every frame's page goes back to the alloc cache and out again
    assert e["rx_pp_recycle_cached"] == n and e["rx_pp_recycle_ring"] == 0
    assert e["rx_pp_alloc_fast"] >= n - 64
    b.check_pages()


def test_line_rate_overload_discards_in_hardware(mode):
    b = Board("pass", mode=mode)
    n = npk(mode, 30000, 1500)
    r = b.run(packets=n)
    e = b.ethtool()
    assert r["hw_discard"] > 0
    assert e["good_frames_received"] == n
    assert e["rx_discard"] + e["rx_xdp_pass"] == n     # nothing lost silently
    b.check_pages()


def test_xdp_pass_builds_skbs_and_recycles_through_the_ring(mode):
    b = Board("pass", mode=mode)
    n = npk(mode, 5000, 400)
    b.run(packets=n, rate=100_000)
    e = b.ethtool()
    st = b.stack_stats()
    assert e["rx_xdp_pass"] == n and st["udp_delivered"] == n and st["skb_allocs"] == n
    # skb_mark_for_recycle: freed skbs return pages with allow_direct=false -> ptr_ring
    assert e["rx_pp_recycle_ring"] == n
    assert b.netdev_stats()["rx_packets"] == n
    b.check_pages()


def test_tc_drop_path(mode):
    b = Board(None, tc_drop=True, mode=mode)
    n = npk(mode, 3000, 300)
    b.run(packets=n, rate=50_000)
    assert b.stack_stats()["tc_ingress_drop"] == n
    assert b.ethtool()["rx_xdp_drop"] == 0
    b.check_pages()


def test_xdp_tx_ssh_mirror_sends_swapped_frames_back(mode):
    b = Board("ssh-mirror", mode=mode)
    n = npk(mode, 4000, 300)
    b.run(packets=n, rate=100_000)
    e = b.ethtool()
    assert e["rx_xdp_tx"] == n and e["rx_xdp_tx_errors"] == 0
    assert e["good_frames_sent"] == n and b.netdev_stats()["tx_packets"] == n
    s = b.state
    sent = bytes(s.txcap[0, :34])
    rx = bytes(s.frames[0, :34])
    assert sent[0:6] == rx[6:12] and sent[6:12] == rx[0:6]          # MACs swapped
    assert sent[26:30] == rx[30:34] and sent[30:34] == rx[26:30]    # IPv4 addresses swapped
    # TX completion in NAPI returns the frame's page NAPI-direct (alloc cache)
    assert e["rx_pp_recycle_cached"] >= n - 600
    b.check_pages()


def test_ssh_mirror_passes_other_traffic(mode):
    b = Board("ssh-mirror", mode=mode)
    b.run(packets=npk(mode, 2000, 200), rate=100_000, kind="udp")
    assert b.verdicts()["XDP_PASS"] == npk(mode, 2000, 200) and b.verdicts()["XDP_TX"] == 0


def test_aborted_traces_exception_and_counts_drop(mode):
    b = Board("abort", mode=mode, trace=5000)
    b.run(packets=npk(mode, 500, 100), rate=100_000)
    assert b.ethtool()["rx_xdp_drop"] == npk(mode, 500, 100)
    ev = [r["event"] for r in trace_records(b.trace)]
    assert ev.count("xdp_exception") == min(npk(mode, 500, 100), ev.count("xdp_verdict"))
    assert not [m for m in b.dmesg() if "XDP return value" in m]


def test_invalid_action_warns_once_and_drops(mode):
    b = Board("invalid", mode=mode)
    b.run(packets=npk(mode, 2000, 200), rate=100_000)
    warn = [m for m in b.dmesg() if "XDP return value" in m]
    assert len(warn) == 1 and "Illegal XDP return value 7" in warn[0] and "expect packet loss" in warn[0]
    assert b.ethtool()["rx_xdp_drop"] == npk(mode, 2000, 200)
    assert b.verdicts()["invalid"] == npk(mode, 2000, 200)


def test_redirect_without_target_fails_like_the_kernel():
    # no redirect map exists yet: xdp_do_redirect fails, the driver recycles, rx_xdp_redirect stays 0
    from xdplab.nic.mvneta import MVNETA_XDP_DROPPED
    assert MVNETA_XDP_DROPPED == 1


def test_xdp_setup_mtu_rule():
    b = Board(None, mtu=9000)
    with pytest.raises(XdplabError, match="does not support XDP frags"):
        b.attach("drop")
    b = Board("drop")
    with pytest.raises(XdplabError, match="-EINVAL.*frags"):
        b.set_mtu(9000)
    b.set_mtu(3520)


def test_xdp_setup_restarts_only_when_presence_flips():
    b = Board(None)
    pool_before = int(b.state.r[L.R_RXQ_POOL])
    b.attach("drop")                                  # none -> prog: stop/open, new pool (BIDIRECTIONAL)
    pool_prog = int(b.state.r[L.R_RXQ_POOL])
    assert pool_prog != pool_before or b.state.pp[pool_prog, 5] == 0   # DMA_BIDIRECTIONAL == 0
    ring = b.state.rxd[:, 3].copy()
    b.attach("pass")                                  # prog -> prog: atomic swap, same pool and buffers
    assert int(b.state.r[L.R_RXQ_POOL]) == pool_prog
    assert np.array_equal(ring, b.state.rxd[:, 3])
    b.detach()
    assert b.state.pp[int(b.state.r[L.R_RXQ_POOL]), 5] == 2            # DMA_FROM_DEVICE
    b.check_pages()


def test_stop_returns_every_page_and_open_refills(mode):
    b = Board("ssh-mirror", mode=mode)
    b.run(packets=npk(mode, 3000, 300))
    b.stop()                                          # raises on any leaked page
    assert b.page_census()["free"] == b.state.data.shape[0]
    b.open()
    assert b.page_census()["rx_ring"] == 8 * 512          # every RX queue's ring is full again
    b.check_pages()


def test_refill_under_allocation_failure(mode):
    # XDP_TX towards a slow peer: frames wait on the TX ring holding their pages, the pool needs
    # fresh pages, and the page allocator fails them (fail_page_alloc)
    b = Board("ssh-mirror", mode=mode)
    b.state.f[L.F_GBPS] = 0.01                      # the link now sends at 10 Mbit/s
    b.state.r[L.R_FAIL_INTERVAL] = 1                # every page allocation fails
    n = npk(mode, 6000, 2500)
    b.run(packets=n, rate=300_000)
    e = b.ethtool()
    assert e["refill_errors"] > 0 and e["rx_pp_alloc_empty"] > 0
    assert any("Can't refill queue 0" in m for m in b.dmesg())
    assert e["rx_discard"] > 0                      # the starved ring drops in hardware
    assert e["rx_discard"] + e["rx_xdp_tx"] + e["rx_xdp_tx_errors"] == n   # nothing lost silently
    b.check_pages()
    # pressure gone: TX drains, refill catches up with the descriptors it owes (refill_num)
    b.state.r[L.R_FAIL_INTERVAL] = 0
    b.state.f[L.F_GBPS] = 1.0
    b.run(packets=npk(mode, 3000, 600), rate=100_000)
    assert (b.state.rxd[:512, 2] != 0).sum() == 512         # rxq_def's ring is full again
    b.check_pages()


def test_refill_when_memory_runs_dry(mode):
    b = Board("pass", mode=mode, npages=8 * 512 + 128)  # the 8 rings + 128: the stack starves it
    n = npk(mode, 5000, 800)
    b.run(packets=n)
    e = b.ethtool()
    assert e["rx_discard"] + e["rx_xdp_pass"] == n
    b.check_pages()


@pytest.mark.parametrize("prog", ["drop", "pass", "ssh-mirror", "abort", "invalid", None])
def test_page_conservation_at_every_poll(mode, prog):
    b = Board(prog, mode=mode, tc_drop=(prog is None))
    kind = "ssh" if prog == "ssh-mirror" else "udp"
    b.run(packets=0)
    from xdplab.traffic import make_traffic
    b._set_wire(*make_traffic(npk(mode, 1500, 300), kind=kind))
    polls = 0
    while b._call("sim_run", 1):
        polls += 1
        b.check_pages()
    assert polls > 3
    b.stop()


def test_budget_and_napi_complete(mode):
    b = Board("drop", mode=mode, trace=20000)
    b.run(packets=npk(mode, 3000, 400))
    recs = trace_records(b.trace)
    done = [r for r in recs if r["event"] == "napi_done"]
    assert all(r["a"] <= 64 for r in done)                         # NAPI budget
    assert any(r["a"] == 64 and r["b"] == 0 for r in done)         # full budget: stays scheduled
    assert done[-1]["b"] == 1                                      # drained: napi_complete_done
    refills = [r for r in recs if r["event"] == "rx_refill"]
    per_poll = np.diff([i for i, r in enumerate(recs) if r["event"] == "napi_poll"])
    assert refills and max(per_poll) > 0


def test_trace_off_records_nothing_and_is_bounded():
    b = Board("drop")
    b.run(packets=1000)
    assert b.trace.n[0] == 0
    b = Board("drop", trace=3000)
    b.run(packets=1000)
    assert b.trace.n[0] == 3000 and b.trace.lost[0] > 0
    assert set(EV_NAMES[int(e)] for e in b.trace.ev[:3000, 1]) >= {"nic_rx", "irq", "napi_poll", "xdp_verdict"}


def test_two_speeds_identical(tmp_path):
    out = []
    for mode in ("jit", "python"):
        b = Board("ssh-mirror", mode=mode, trace=4000, seed=3)
        b.run(packets=300, flows=4)
        b.run(packets=200, kind="udp")
        out.append((b.ethtool(), b.netdev_stats(), b.verdicts(), b.state.tr_ev[:int(b.trace.n[0])].copy(),
                    b.state.tr_t[:int(b.trace.n[0])].copy(), b.state.f.copy(), bytes(b.state.txcap)))
    a, c = out
    assert a[0] == c[0] and a[1] == c[1] and a[2] == c[2]
    assert np.array_equal(a[3], c[3]) and np.allclose(a[4], c[4], rtol=0, atol=1e-6)
    assert np.allclose(a[5], c[5], rtol=1e-12) and a[6] == c[6]


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="unknown built-in XDP program 'dorp'"):
        Board("dorp")
    b = Board("drop")
    with pytest.raises(ValueError, match="exceeds line rate"):
        b.run(packets=10, rate=2e6)
    with pytest.raises(ValueError, match="frame size 20"):
        b.run(packets=10, size=20)
    with pytest.raises(ValueError, match="mode must be"):
        Board("drop", mode="fast")


def test_busy_time_is_the_sum_of_the_charges():
    # busy = clock - idle jumps (R_IDLE); it must equal the cycles charged, op by op: exactly, as
    # both are integers in CLOCK_UNIT_NS (the clock is fixed point)
    from xdplab import _layout as L
    b = Board("drop")
    low = b.run(20000, rate=100000)
    assert 0.05 < low["cpu0_busy"] < 0.6                 # 100 kpps: mostly idle
    high = b.run(20000)
    assert high["cpu0_busy"] > 0.99                       # line rate: the CPU never idles
    r = b.state.r
    n = len(OPS)
    charged = int((r[L.R_OP_COUNT:L.R_OP_COUNT + n] * r[L.R_COST_FX:L.R_COST_FX + n]).sum())
    assert b.clock_fx(0) - r[L.R_IDLE] == charged
    # and the breakdown in cycles agrees with it (the clock rounds each cost to CLOCK_UNIT_NS)
    cycles = sum(c for _, c, _ in b.cost_breakdown(per_packet=False))
    assert abs(cycles * 1e9 / b.state.f[L.F_HZ] - charged * L.CLOCK_UNIT_NS) <= 1e-6 * charged * L.CLOCK_UNIT_NS


@pytest.mark.parametrize("mode", ["jit", "python"])
def test_tracing_and_plain_boards_keep_the_same_clock(mode):
    # a plain board derives the unsettled cycles from the op counts, a tracing board sums them as
    # it charges (xdplab.cost.cpu_clock): the two must agree exactly, settled or not
    plain, tracing = Board("drop", mode=mode), Board("drop", mode=mode, trace=50000)
    assert plain.clock_fx(0) == tracing.clock_fx(0) > 0     # open()'s work, not settled yet
    rp, rt = plain.run(npk(mode, 3000, 500)), tracing.run(npk(mode, 3000, 500))
    assert plain.clock_fx(0) == tracing.clock_fx(0)
    assert (rp["sim_pps"], rp["rx_packets"]) == (rt["sim_pps"], rt["rx_packets"])


@pytest.mark.parametrize("mode", ["jit", "python"])
def test_clock_read_is_exact_for_any_count(mode):
    # a plain board's clock read is R_CLOCK + sum((count - snapshot) * cost), exact for any
    # count (a read whose products or deltas pass 32 bits included)
    from xdplab import _layout as L
    b = Board("drop", mode=mode)
    r = b.state.r
    n = len(OPS)

    def expected():
        d = r[L.R_OP_COUNT:L.R_OP_COUNT + n].astype(object) - r[L.R_OP_SNAP:L.R_OP_SNAP + n].astype(object)
        return int(r[L.R_CLOCK]) + int((d * r[L.R_COST_FX:L.R_COST_FX + n].astype(object)).sum())
    for extra in (0, 12345, (1 << 32) - 1, 1 << 32, 3 << 33):
        r[L.R_OP_COUNT + 2] += extra                       # as if that many MMIO reads were charged
        assert b._call("cpu_clock", 0) == expected(), extra
        r[L.R_OP_COUNT + 2] -= extra


@pytest.mark.parametrize("mode", ["jit", "python"])
def test_mib_counts_every_offered_frame_in_its_size_bucket(mode):
    # at line rate most frames are discarded by the MAC (ring full); kept or discarded, each is
    # a good frame of its size bucket (_rx_one and _rx_discards count the same MIB counters)
    b = Board("drop", mode=mode)
    buckets = ["frames_64_octets", "frames_65_to_127_octets", "frames_128_to_255_octets",
               "frames_256_to_511_octets", "frames_512_to_1023_octets", "frames_1024_to_max_octets"]
    n = 3000                                    # more than the ring holds: at 64 B the MAC discards
    for size, want in ((64, 0), (100, 1), (300, 3), (1500, 5)):
        e0 = b.ethtool()
        b.run(n, size=size)
        d = {k: v - e0[k] for k, v in b.ethtool().items()}
        assert (d["rx_discard"] > 0) == (size <= 100)      # the board keeps up with 300 B at line rate
        assert d["good_frames_received"] == n
        assert [d[k] for k in buckets] == [n if i == want else 0 for i in range(6)]
        assert d["good_octets_received"] % n == 0 and d["good_octets_received"] // n in (size, size - 4)


# ---------------------------------------------------------------- Linux 6.1 details (issue 20)

def _mem_ids(b):
    # each queue's pool, by the xdp mem id its registration got (pool slots are reused)
    return [int(b.state.pp[p, 16]) for p in b.state.r[L.R_RXQ_POOL:L.R_RXQ_POOL + 8]]


def _ring_pages(b, q):
    n = b.rx_ring
    rows = b.state.rxd[q * n:(q + 1) * n]
    return [int(p) for p, phys in zip(rows[:, 3], rows[:, 2]) if phys != 0]


def test_the_mac_drops_frames_longer_than_the_mtu_allows(mode):
    # mvneta_start_dev programs MVNETA_RX_PKT_SIZE(1500) = 1536 into the MAC: it accepts 1534 bytes
    # (FCS included); a 4000-byte frame is not a good multi-buffer frame for a program without
    # frags support but a "max frame length" error: rx_errors, oversize_received, dmesg
    b = Board("drop", mode=mode)
    assert int(b.state.r[L.R_PKT_SIZE]) == 1536 and int(b.state.r[L.R_MAX_RX_SIZE]) == 1534
    n = npk(mode, 400, 40)
    r = b.run(packets=n, size=4000, rate=20_000)
    assert sum(r["verdicts"].values()) == 0                 # the program never saw them
    e, ns = b.ethtool(), b.netdev_stats()
    assert ns["rx_errors"] == n and ns["rx_packets"] == 0 and e["rx_xdp_drop"] == 0
    assert e["oversize_received"] == n and e["bad_octets_received"] == n * 4000
    assert e["good_frames_received"] == 0
    log = [m for m in b.dmesg() if "bad rx status" in m]
    assert log and "mvneta d0030000.ethernet eth0: bad rx status" in log[0]
    assert "(max frame length error), size=1536" in log[0]
    b.check_pages()
    # the largest frame the MAC takes at MTU 1500, and one byte more
    r = b.run(packets=10, size=1534, rate=20_000)
    assert r["verdicts"]["XDP_DROP"] == 10
    r = b.run(packets=10, size=1535, rate=20_000)
    assert sum(r["verdicts"].values()) == 0 and b.netdev_stats()["rx_errors"] == n + 10
    b.check_pages()


def test_oversize_frames_discarded_with_a_full_ring_are_counted_as_oversize(mode):
    # at line rate the ring fills and the MAC discards (rx_discard); an oversize frame is
    # still counted as oversize, not as a good frame, whichever path the MAC took
    b = Board(None, mode=mode, tc_drop=True)
    n = npk(mode, 3000, 1200)
    b.run(packets=n, size=1600)
    e = b.ethtool()
    assert e["oversize_received"] == n and e["good_frames_received"] == 0
    assert e["bad_octets_received"] == n * 1600 and e["good_octets_received"] == 0
    assert e["frames_1024_to_max_octets"] == 0
    b.check_pages()


def test_running_mtu_change_recreates_queues_and_pools(mode):
    b = Board(None, mode=mode)
    old, frees = _mem_ids(b), int(b.state.r[L.R_MM_FREES])
    b.set_mtu(9000)
    new = _mem_ids(b)
    assert len(set(new)) == 8 and all(p > 0 for p in new) and not set(new) & set(old)
    assert int(b.state.r[L.R_MM_FREES]) - frees == 8 * 512  # the old pools gave every page back
    assert int(b.state.r[L.R_PKT_SIZE]) == 9024 and int(b.state.r[L.R_MAX_RX_SIZE]) == 9022
    assert all(len(_ring_pages(b, q)) == 512 for q in range(8))
    n = npk(mode, 200, 20)
    b.run(packets=n, size=9000, rate=10_000)
    assert b.netdev_stats()["rx_packets"] == n and b.netdev_stats()["rx_errors"] == 0
    b.check_pages()
    # a port that is down only takes the number: the MAC gets it at the next open
    b.stop()
    b.set_mtu(1500)
    assert int(b.state.r[L.R_MAX_RX_SIZE]) == 9022
    b.open()
    assert int(b.state.r[L.R_MAX_RX_SIZE]) == 1534
    b.check_pages()


def test_all_eight_queues_are_set_up_with_their_own_pool(mode):
    b = Board(None, mode=mode)
    s = b.state
    assert int(s.r[L.R_RXQ_CMD]) == 0xFF and int(s.r[L.R_TXQ_CMD]) == 0xFF
    pools = [int(p) for p in s.r[L.R_RXQ_POOL:L.R_RXQ_POOL + 8]]
    assert len(set(pools)) == 8 and all(p >= 0 for p in pools)
    ids = _mem_ids(b)
    for q in range(8):
        pages = _ring_pages(b, q)
        assert len(pages) == 512 and all(s.pg[p, 1] == pools[q] for p in pages)   # page->pp
        row = s.r[L.R_XDP_RXQ + 7 * q:L.R_XDP_RXQ + 7 * q + 7]
        assert row[1] == q and row[2] == 1                   # queue_index, REG_STATE_REGISTERED
    # ethtool -S rx_pp_*: mvneta_ethtool_pp_stats sums the 8 pools (512 pages = 8 bulk allocations each)
    assert b.ethtool()["rx_pp_alloc_slow"] == 8 * 8
    # a program attach restarts the port: 8 new pools, filled, and the counters are theirs only
    b.attach("drop")
    again = [int(p) for p in s.r[L.R_RXQ_POOL:L.R_RXQ_POOL + 8]]
    assert not set(_mem_ids(b)) & set(ids) and all(s.pp[p, 5] == 0 for p in again)   # DMA_BIDIRECTIONAL
    assert all(len(_ring_pages(b, q)) == 512 for q in range(8))
    assert b.ethtool()["rx_pp_alloc_slow"] == 8 * 8
    # traffic stays on rxq_def: the other rings are untouched
    before = s.rxd[512:].copy()
    b.run(packets=npk(mode, 2000, 200), rate=100_000)
    assert np.array_equal(before, s.rxd[512:])
    b.detach()
    assert all(len(_ring_pages(b, q)) == 512 for q in range(8))
    b.check_pages()
    b.stop()


def test_open_succeeds_with_an_empty_ring_as_in_6_1(mode):
    # 6.1's mvneta_rxq_hw_init ignores mvneta_rxq_fill's result: with no page to be had,
    # ip link set up still succeeds, every ring is empty, and dmesg says so
    b = Board(None, mode=mode)
    b.stop()
    b.state.r[L.R_FAIL_INTERVAL] = 1                 # every page allocation fails
    b.open()
    assert b.state.r[L.R_RUNNING] == 1 and b.page_census()["rx_ring"] == 0
    log = b.dmesg()
    assert "mvneta d0030000.ethernet eth0: mvneta_rxq_fill:rxq 0, 0 of 512 buffs  filled" in log[-8]
    assert all(f"mvneta_rxq_fill:rxq {q}, 0 of 512 buffs  filled" in log[-8 + q] for q in range(8))
    r = b.run(packets=100, rate=10_000)
    assert r["hw_discard"] == 100 and r["rx_packets"] == 0    # the MAC has no descriptor, ever
    b.state.r[L.R_FAIL_INTERVAL] = 0
    b.check_pages()


def test_a_pool_that_cannot_be_created_fails_the_open_the_labs_rule():
    # stricter than 6.1 (which would bring eth0 up with rxq->page_pool NULL): the error names it
    def fail_create(b, *args):
        return -12
    with pytest.raises(XdplabError, match="the lab fails the open here; 6.1's mvneta_rxq_hw_init ignores"):
        Board(None, mode="python", overrides={"page_pool_create": fail_create})


def test_refill_failure_is_a_pr_err_without_device_prefix(mode):
    b = Board("ssh-mirror", mode=mode)
    b.state.f[L.F_GBPS] = 0.01
    b.state.r[L.R_FAIL_INTERVAL] = 1
    b.run(packets=npk(mode, 3000, 2500), rate=300_000)
    refill = [m for m in b.dmesg() if "Can't refill queue 0" in m]
    assert refill and "mvneta" not in refill[0] and "] Can't refill queue 0. Done 0 from " in refill[0]


def test_redirects_end_with_xdp_do_flush_map():
    # 6.1's mvneta_rx_swbm still calls xdp_do_flush_map() after a poll that redirected
    from xdplab.xdp_abi import XDP_REDIRECT
    calls = []
    b = Board("drop", mode="python", overrides={
        "bpf_prog_run_xdp": lambda b, xdp: XDP_REDIRECT,
        "xdp_do_redirect": lambda b, xdp: 0,
        "xdp_do_flush_map": lambda b: calls.append(int(b.r[L.R_POLLS])),
    })
    r = b.run(packets=100, rate=10_000)
    assert r["verdicts"]["XDP_REDIRECT"] == 100 and b.ethtool()["rx_xdp_redirect"] == 100
    assert 0 < len(calls) == len(set(calls)) <= r["polls"]          # once per poll that redirected


def test_skb_len_of_a_frags_frame_counts_the_fcs_as_6_1_does(mode):
    # mvneta_swbm_build_skb: xdp_update_skb_shared_info(skb, nr_frags, sinfo->xdp_frags_size, ...)
    # grows skb->len by xdp_frags_size, which mvneta set to the size still to come with the FCS
    b = Board(None, mode=mode, mtu=9000)
    n = npk(mode, 100, 10)
    b.run(packets=n, size=9000, rate=10_000)
    assert b.netdev_stats()["rx_packets"] == n
    # linear 3520 - 2 (MH) + xdp_frags_size (9002 - 3520, FCS included) = 9000, not 8996
    assert b.netdev_stats()["rx_bytes"] == n * 9000
    b.check_pages()


def test_xdp_setup_swaps_the_program_and_puts_the_old_one(mode):
    # old_prog = xchg(&pp->xdp_prog, prog); if (old_prog) bpf_prog_put(old_prog);
    b = Board("drop", mode=mode)
    assert b.prog_refcnt("drop") == 1
    pools = [int(p) for p in b.state.r[L.R_RXQ_POOL:L.R_RXQ_POOL + 8]]
    b.attach("pass")                                 # a swap: no restart, the old program put
    assert b.prog_refcnt("drop") == 0 and b.prog_refcnt("pass") == 1
    assert [int(p) for p in b.state.r[L.R_RXQ_POOL:L.R_RXQ_POOL + 8]] == pools
    b.set_mtu(3520)
    b.state.r[L.R_MTU] = 9000                        # (as if the MTU were jumbo: the attach is refused)
    with pytest.raises(XdplabError, match="does not support XDP frags"):
        b.attach("drop")
    assert b.prog_refcnt("drop") == 0 and b.prog_refcnt("pass") == 1   # refused: its reference dropped
    b.state.r[L.R_MTU] = 1500
    b.detach()
    assert b.prog_refcnt("pass") == 0
    assert b.run(packets=50, rate=10_000)["verdicts"]["XDP_PASS"] == 0
