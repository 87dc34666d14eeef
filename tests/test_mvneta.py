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
    assert b.page_census()["rx_ring"] == 512
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
    assert b.page_census()["rx_ring"] == 512
    b.check_pages()


def test_refill_when_memory_runs_dry(mode):
    b = Board("pass", mode=mode, npages=640)          # 512 in the ring + 128: the stack starves it
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
