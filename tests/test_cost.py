"""The cost model: every uncached access priced, one named 'unattributed' row, costs inside their
evidence, the three calibration figures reproduced within the stated tolerance, and the two what-ifs
(the 5.9 skb path, net.core.bpf_jit_enable=0)."""
import sys
from pathlib import Path

import numpy as np
import pytest

from xdplab import Board
from xdplab import _layout as L
from xdplab.boards import espressobin as E
from xdplab.cost import OPS

from xdplab_testutil import ROOT, npk

OPN = [n for n, _ in OPS]
XDP1 = str(Path(ROOT) / "benchmarks" / "progs" / "xdp1.o")
XDP2 = str(Path(ROOT) / "xdplab" / "progs" / "xdp2.o")


def count(b, op):
    return int(b.state.r[L.R_OP_COUNT + OPN.index(op)])


def cost(op):
    return float(E.ESPRESSOBIN["cost"][OPN.index(op)])


def counts(b):
    return b.state.r[L.R_OP_COUNT:L.R_OP_COUNT + len(OPS)].copy()


def load(path):
    from xdplab.bpf import load_object
    return list(load_object(path).programs.values())[0]


# ------------------------------------------------------------------ every uncached access is priced

def test_the_refill_loop_reads_each_descriptor_it_checks():
    # mvneta_rx_refill_queue tests rx_desc->buf_phys_addr of every descriptor it walks: an uncached
    # load, also when the descriptor still holds a buffer and nothing is refilled
    b = Board("drop", mode="python")
    before, refills = count(b, "desc_read"), count(b, "refill_desc")
    b.state.r[L.R_RXQ_REFILL_NUM] = 5
    assert b._call("mvneta_rx_refill_queue") == 5
    assert count(b, "desc_read") - before == 5
    assert count(b, "refill_desc") == refills                      # every descriptor held a buffer


@pytest.mark.parametrize("mode", ["jit", "python"])
def test_rx_reads_three_descriptor_fields_and_the_refill_one(mode):
    # status, data_size, buf_phys_addr (for the sync) per 64-byte frame, and the refill's check
    b = Board("drop", mode=mode)
    b.run(npk(mode, 2000, 100), rate=50_000)
    c0 = counts(b)
    rx0 = b.netdev_stats()["rx_packets"]
    b.run(npk(mode, 3000, 200), rate=50_000)
    rx = b.netdev_stats()["rx_packets"] - rx0
    d = counts(b) - c0
    assert rx > 0
    assert d[OPN.index("desc_read")] == 4 * rx
    assert d[OPN.index("desc_write")] == 2 * rx                      # buf_phys_addr = 0, then the refill's


@pytest.mark.parametrize("mode", ["jit", "python"])
def test_xdp_tx_prices_the_completion_read_and_the_command_read_back(mode):
    # per XDP_TX frame: mvneta_txq_bufs_free reads tx_desc->buf_phys_addr (IS_TSO_HEADER), and
    # mvneta_xdp_submit_frame's `tx_desc->command |= L_DESC | Z_PAD` reads the command back
    b = Board("ssh-mirror", mode=mode)
    c0 = counts(b)                                  # after open and attach (ring fill: 512 writes each)
    r = b.run(npk(mode, 3000, 200), rate=50_000, kind="ssh")
    d = dict(zip(OPN, counts(b) - c0))
    rx, tx = r["rx_packets"], b.netdev_stats()["tx_packets"]
    done = d["tx_done_desc"]
    assert rx > 0 and tx == rx and 0 < done <= tx
    assert d["desc_read"] == 4 * rx + tx + done
    assert d["desc_write"] == 2 * rx + 4 * tx                        # 3 fields + the command again
    assert d["mmio_write"] >= tx                                      # a doorbell per XDP_TX frame


# ------------------------------------------------------------------ unattributed: one named row

def test_unattributed_is_one_named_row_per_received_frame():
    assert [n for n in OPN if "unattributed" in n] == ["unattributed"]
    assert E.ESPRESSOBIN["kinds"]["unattributed"] == "fit"
    assert cost("unattributed") == pytest.approx(E.UNATTRIBUTED)
    b = Board("drop")
    b.run(5000)
    rows = {name: (c, n) for name, c, n in b.cost_breakdown(per_packet=False)}
    rx = b.netdev_stats()["rx_packets"]
    assert rows["unattributed"][1] == rx
    assert rows["unattributed"][0] == pytest.approx(rx * E.UNATTRIBUTED)
    # every other row is an operation with evidence behind it: none is a fit
    assert [n for n in OPN if E.ESPRESSOBIN["kinds"][n] == "fit"] == ["unattributed"]


# ------------------------------------------------------------------ costs inside their evidence

def test_costs_are_inside_their_evidence():
    for op, (lo, hi) in E.RANGES.items():
        assert lo <= cost(op) <= hi, op
    # an uncached descriptor load is one DDR round trip (~175 ns), not the 1.35 us of the old fit
    assert cost("desc_read") < 250
    assert E.IPC_RANGE[0] <= E.IPC_SCALE <= E.IPC_RANGE[1]
    assert E.UNATTRIBUTED > 0
    # the kinds say how each cost is made, and only the fitted ones are fits
    assert set(E.ESPRESSOBIN["kinds"].values()) <= {"insn", "ns", "cycles", "assumed", "fit"}


# ------------------------------------------------------------------ the calibration

TOLERANCE = 0.08      # benchmarks/calibrate.py: residuals +5.5 %, +0.5 %, -7.0 % (2 numbers, 3 figures)


def _per_frame(b, kind="udp", n=200_000):
    # as benchmarks/calibrate.py measures them (the counts a frame depend a little on the run's length:
    # the slow allocations, the polls)
    b.run(20_000, kind=kind)
    c0 = counts(b)
    rx0 = b.netdev_stats()["rx_packets"]
    r = b.run(n, kind=kind)
    rx = b.netdev_stats()["rx_packets"] - rx0
    return (counts(b) - c0) / rx, r


def test_the_three_figures_are_reproduced_on_their_drivers():
    # 585 kpps: the talk's XDP_DROP; 185 kpps: the talk's tc drop on the 5.9 driver (page released
    # after build_skb); 420 kpps: the 2019 driver, xdp1, the whole buffer synced at refill, and
    # its xdp_return_buff path (a measured share added per frame: the lab has no such path)
    _, r = _per_frame(Board("drop"))
    assert r["sim_pps"] == pytest.approx(585e3, rel=TOLERANCE)
    _, r = _per_frame(Board(None, tc_drop=True, skb_recycle=False))
    assert r["sim_pps"] == pytest.approx(185e3, rel=TOLERANCE)
    c, r = _per_frame(Board(load(XDP1), dma_sync="full"))
    cyc = float(c @ E.ESPRESSOBIN["cost"]) + E.XDP_RETURN_BUFF_2019
    assert E.HZ / cyc == pytest.approx(420e3, rel=TOLERANCE)


def test_the_profile_holds_what_calibrate_fits():
    sys.path.insert(0, str(Path(ROOT) / "benchmarks"))
    import calibrate
    rows = []
    for _, make, kind, target, extra, _ in calibrate.FIGURES:
        c, _ = _per_frame(make(), kind)
        rows.append((calibrate.split(c), extra, target))
    ipc, unattr = calibrate.fit(rows)
    assert ipc == pytest.approx(E.IPC_SCALE, abs=2e-3)
    assert unattr == pytest.approx(E.UNATTRIBUTED, abs=1.0)


# ------------------------------------------------------------------ the 5.9 skb path

@pytest.mark.parametrize("mode", ["jit", "python"])
def test_skb_recycle_false_is_the_5_9_driver(mode):
    # 5.9: page_pool_release_page() after build_skb: every skb frees its page to the page allocator,
    # every refill allocates, maps and syncs a new one; 6.1 recycles through the ptr_ring instead
    old, new = Board(None, tc_drop=True, skb_recycle=False, mode=mode), Board(None, tc_drop=True, mode=mode)
    n = npk(mode, 4000, 300)
    for b in (old, new):
        b.run(n, rate=50_000)
    rx = old.netdev_stats()["rx_packets"]
    assert rx == new.netdev_stats()["rx_packets"] > 0
    assert count(old, "pp_release") == rx and count(old, "page_free") == rx
    assert count(old, "page_alloc") >= rx and count(old, "dma_map") >= rx
    assert count(new, "pp_release") == 0 and count(new, "page_free") == 0
    assert count(new, "pp_recycle_ring") == rx
    assert old.page_pool_stats()["ring"] == 0
    busy = [b.clock_fx(0) - b.state.r[L.R_IDLE] for b in (old, new)]
    assert busy[0] > busy[1]                       # the 5.9 path costs more per frame
    for b in (old, new):
        b.check_pages()
        b.stop()                                   # nothing leaks either way


# ------------------------------------------------------------------ the interpreter what-if

@pytest.mark.parametrize("mode", ["jit", "python"])
@pytest.mark.parametrize("prog", ["drop", "xdp2"])
def test_bpf_jit_enable_0_prices_every_instruction_as_the_interpreter(mode, prog):
    def make(**kw):
        return Board(prog if prog == "drop" else load(XDP2), mode=mode, **kw)
    jit, interp = make(), make(bpf_jit_enable=0)
    kind = "udp"
    n = npk(mode, 3000, 150)
    rj, ri = jit.run(n, rate=50_000, kind=kind), interp.run(n, rate=50_000, kind=kind)
    assert rj["verdicts"] == ri["verdicts"] and rj["rx_packets"] == ri["rx_packets"] > 0
    cj, ci = counts(jit), counts(interp)
    k = OPN.index("bpf_interp_insn")
    assert cj[k] == 0 and ci[k] == ci[OPN.index("bpf_insn")] > 0
    assert np.array_equal(np.delete(cj, k), np.delete(ci, k))       # the same work, priced differently
    # the busy time differs by exactly the interpreter's price of those instructions
    r = jit.state.r
    fx = r[L.R_COST_FX + k]
    busy = [b.clock_fx(0) - b.state.r[L.R_IDLE] for b in (jit, interp)]
    assert busy[1] - busy[0] == ci[k] * fx
    assert cost("bpf_interp_insn") > 5 * cost("bpf_insn")


def test_bpf_jit_enable_rejects_other_values():
    with pytest.raises(ValueError, match="bpf_jit_enable must be 1"):
        Board("drop", bpf_jit_enable=2)


def test_bench_cli_bpf_jit_enable_0_is_slower_by_the_interpreter():
    import json
    import subprocess
    runs = {}
    for v in ("1", "0"):
        p = subprocess.run([sys.executable, "-m", "xdplab", "bench", "drop", "--packets", "20000",
                            "--bpf-jit-enable", v, "--json"], capture_output=True, text=True, cwd=ROOT, timeout=900)
        assert p.returncode == 0, p.stderr
        runs[v] = json.loads(p.stdout)
    assert runs["1"]["bpf_jit_enable"] == 1 and runs["0"]["bpf_jit_enable"] == 0
    assert runs["0"]["sim_pps"] < runs["1"]["sim_pps"]
    # xdp-drop.o: 2 instructions a frame, each priced bpf_interp_insn more
    per_frame = E.HZ / runs["0"]["sim_pps"] - E.HZ / runs["1"]["sim_pps"]
    assert per_frame == pytest.approx(2 * cost("bpf_interp_insn"), rel=0.02)
    p = subprocess.run([sys.executable, "-m", "xdplab", "bench", "drop", "--bpf-jit-enable", "2"],
                       capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert p.returncode == 2 and "invalid choice" in p.stderr
