"""The lab's views, headless: build each from a trace, move the player, assert on mark traits and text.

A small hand-made trace (``_synthetic_trace``) pins exact expectations for
every event kind; a real (python-mode) Board run checks the replay against the
simulator's own counters and occupancy snapshots.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="the views need ipywidgets (pip install -e .[widgets])")
pytest.importorskip("bqplot", reason="the views need bqplot (pip install -e .[widgets])")

from xdplab.nic.mvneta_hw import MVNETA_RXD_FIRST_DESC, MVNETA_RXD_LAST_DESC  # noqa: E402
from xdplab.trace import EV_NAMES, TR_EV, create_trace, trace_event  # noqa: E402
from xdplab.xdp_abi import PAGE_SIZE, SKB_SHARED_INFO_SIZE, XDP_DROP, XDP_PASS, XDP_TX  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _import_widgets():
    """xdplab_widgets, installed or straight from widgets/ (pyproject maps the name to that folder)."""
    try:
        import xdplab_widgets
        return xdplab_widgets
    except ImportError:
        spec = importlib.util.spec_from_file_location("xdplab_widgets", ROOT / "widgets" / "__init__.py",
                                                      submodule_search_locations=[str(ROOT / "widgets")])
        mod = importlib.util.module_from_spec(spec)
        sys.modules["xdplab_widgets"] = mod
        spec.loader.exec_module(mod)
        return mod


xw = _import_widgets()
from xdplab_widgets.frames import (DESC_EMPTY, DESC_FILLED, DESC_NIC, DESC_PROCESSING,  # noqa: E402
                                   NAPI_LISTINGS, frames_from_trace)

EV = {n: i for i, n in enumerate(EV_NAMES)}
RING = 64
FIRST_LAST = MVNETA_RXD_FIRST_DESC | MVNETA_RXD_LAST_DESC
_add = trace_event.py_func


class _Tracer:
    """Builds a trace the way the simulator does (trace_event), keeping the page_pool snapshot consistent."""

    def __init__(self, cap=400):
        self.tr = create_trace(cap)
        self.t = 0.0
        self.busy = 0
        self.cache = 0
        self.ring = 0
        self.inflight = 0
        self.at = {}                                # label -> frame index

    def ev(self, name, a=0, b=0, c=0, d=0, e=0, cpu=0, label=None):
        self.t += 25.0
        if cpu < 0:                                 # hardware rows carry no page_pool snapshot
            _add(self.tr, self.t, cpu, EV[name], a, b, c, d, e, self.busy, 0, 0, 0)
        else:
            _add(self.tr, self.t, cpu, EV[name], a, b, c, d, e, self.busy, self.cache, self.ring, self.inflight)
        if label:
            self.at[label] = int(self.tr.n[0]) - 1


def _synthetic_trace():
    """64-descriptor ring: fill, three frames (XDP_DROP, XDP_PASS after adjust_head, XDP_TX), refill, TX done."""
    s = _Tracer()
    for desc in range(RING):                        # mvneta_rxq_fill: one slow alloc of 64, then the cache
        if desc == 0:
            s.cache, s.inflight = 63, 64
            s.ev("pp_alloc", 0, 100, 2)
        else:
            s.cache -= 1
            s.ev("pp_alloc", 0, 100 + desc, 0)
        s.ev("rx_refill", desc, 100 + desc, label="filled" if desc == RING - 1 else None)
    for desc in range(3):                           # the NIC DMAs three 64-byte frames (data_size 66 + FCS? 70)
        s.busy += 1
        s.ev("nic_rx", desc, 100 + desc, 70, FIRST_LAST, cpu=-1, label=f"nic{desc}")
    s.ev("irq")
    s.ev("napi_poll", 64, 3, label="poll")          # trace.py: budget in A, rx_todo in B
    # desc 0: XDP_DROP, recycled into the alloc cache
    s.ev("rx_desc", 0, 100, FIRST_LAST, 70, label="rx0")
    s.ev("dma_sync_for_cpu", 0, 100, 256, 70)
    s.ev("xdp_run", 1, 100, 258, 322, 259, label="run0")
    s.ev("xdp_verdict", 1, 100, XDP_DROP, 258, 322, label="drop0")
    s.cache += 1
    s.ev("pp_recycle", 0, 100, 0, 64, label="recycle0")
    # desc 1: the program pulls 14 bytes of header room (adjust_head -14), XDP_PASS, build_skb
    s.ev("rx_desc", 1, 101, FIRST_LAST, 70, label="rx1")
    s.ev("dma_sync_for_cpu", 1, 101, 256, 70)
    s.ev("xdp_run", 2, 101, 258, 322, 259)
    s.ev("xdp_verdict", 2, 101, XDP_PASS, 244, 322, label="pass1")
    s.inflight -= 1
    s.ev("skb_build", 7, 101, 244, 78, label="skb1")
    s.ev("skb_free", 7, 101, 0)
    # desc 2: XDP_TX
    s.ev("rx_desc", 2, 102, FIRST_LAST, 70, label="rx2")
    s.ev("dma_sync_for_cpu", 2, 102, 256, 70)
    s.ev("xdp_run", 3, 102, 258, 322, 259)
    s.ev("xdp_verdict", 3, 102, XDP_TX, 258, 322, label="tx2")
    s.ev("tx_submit", 0, 102, 2, 64, label="txsub")
    for desc in range(3):                           # mvneta_rx_refill_queue
        s.cache -= 1
        s.ev("pp_alloc", 0, 200 + desc, 0)
        s.ev("rx_refill", desc, 200 + desc, label=f"refill{desc}")
    s.busy -= 3                                     # mvneta_rxq_desc_num_update
    s.ev("napi_done", 3, 1, label="done")
    s.ev("tx_done", 0, 102, 2, label="txdone")
    return s.tr, s.at


@pytest.fixture(scope="module")
def synth():
    tr, at = _synthetic_trace()
    return tr, at, frames_from_trace(tr, rx_ring_size=RING)


@pytest.fixture()
def lab(synth):
    tr, at, frames = synth
    return xw.Lab(frames), at, frames


def _lit(view, name, i):
    return NAPI_LISTINGS[name][0][view.lit_line(name, i)]


# ---------------------------------------------------------------- replay (numpy only)

def test_replay_ring_states_and_pointers(synth):
    tr, at, f = synth
    assert f.n == int(tr.n[0])
    assert (f.ring_state[at["filled"]] == DESC_NIC).all()
    assert (f.ring_state[at["filled"] - 1][:RING - 1] == DESC_NIC).all()
    assert f.ring_state[at["filled"] - 1][RING - 1] == DESC_EMPTY          # not posted yet
    i = at["nic1"]
    assert list(f.ring_state[i][:3]) == [DESC_FILLED, DESC_FILLED, DESC_NIC]
    assert f.hw_pos[i] == 2 and f.rx_busy[i] == 2
    i = at["rx0"]
    assert f.proc_desc[i] == 0 and f.next_desc_to_proc[i] == 1 and f.ring_state[i][0] == DESC_EMPTY
    assert f.ring_counts(i)["being processed"] == 1
    i = at["done"]
    assert f.proc_desc[i] == -1 and (f.ring_state[i] == DESC_NIC).all() and f.first_to_refill[i] == 3


def test_replay_carries_page_pool_snapshot_over_hardware_rows(synth):
    tr, at, f = synth
    i = at["nic0"]
    assert tr.ev[i, 8] == 0                        # the raw hardware row has no snapshot...
    assert f.pp_cache[i] == f.pp_cache[i - 1] == 0 and f.pp_inflight[i] == 64   # ...the replay carries it


def test_replay_counters_and_stats(synth):
    _tr, at, f = synth
    end = f.n - 1
    assert {k: f.counter(k, end) for k in ("rx_packets", "rx_xdp_drop", "rx_xdp_pass", "rx_xdp_tx",
                                          "good_frames_received")} == \
        {"rx_packets": 3, "rx_xdp_drop": 1, "rx_xdp_pass": 1, "rx_xdp_tx": 1, "good_frames_received": 3}
    st = f.page_pool_stats(end)
    assert st["slow"] == 1 and st["empty"] == 1 and st["fast"] == RING - 1 + 3 and st["cached"] == 1
    assert f.pp_in_skb[at["skb1"]] == 1 and f.pp_in_skb[end] == 0
    assert f.pp_on_tx_ring[at["txsub"]] == 1 and f.pp_on_tx_ring[at["txdone"]] == 0
    assert f.budget[at["rx2"]] == 64 and f.rx_todo[at["rx2"]] == 3 and f.rx_proc[at["rx2"]] == 3


def test_replay_rejects_a_ring_smaller_than_the_trace(synth):
    tr, _at, _f = synth
    with pytest.raises(ValueError, match="rx_ring_size"):
        frames_from_trace(tr, rx_ring_size=32)
    with pytest.raises(ValueError, match="trace is empty"):
        frames_from_trace(create_trace(10))


# ---------------------------------------------------------------- views through the player

def test_ring_view_colors_and_pointers_follow_the_slider(lab):
    L, at, f = lab
    ring = L.views["ring"]
    grid, ptr = ring.grid, ring.pointers
    L.player.slider.value = at["nic1"]
    assert list(grid.color[:3]) == [DESC_FILLED, DESC_FILLED, DESC_NIC]
    assert ptr.x[0] == 2 and ptr.y[0] < 0               # NIC pointer above descriptor 2 (row 0)
    L.player.slider.value = at["rx0"]
    assert grid.color[0] == DESC_PROCESSING and grid.color[1] == DESC_FILLED
    assert list(ptr.x[:2]) == [3, 1]                   # NIC writes 3, next_desc_to_proc 1
    assert "processing desc 0" in ring.caption.value and "rx_busy (filled, not yet processed) = 3" in \
        ring.caption.value
    L.player.slider.value = at["done"]
    assert (grid.color == DESC_NIC).all()
    assert ptr.x[2] == 3                              # first_to_refill after refilling 0..2


def test_napi_view_lights_the_executing_line_and_budget(lab):
    L, at, _f = lab
    napi = L.views["napi"]
    L.player.slider.value = at["rx0"]
    assert "while (desc_in_rx_ring" in _lit(napi, "talk", at["rx0"])
    assert "rx_status = rx_desc->status" in _lit(napi, "mvneta_rx_swbm", at["rx0"])
    assert napi.budget.value == 63 and napi.budget.max == 64
    assert "budget left 63" in napi.status.value
    assert '<span style="background:#ffe066;font-weight:bold">' in napi.code["talk"].value
    L.player.slider.value = at["drop0"]
    assert "case XDP_DROP" in _lit(napi, "talk", at["drop0"])
    assert "case XDP_DROP" in napi.code["talk"].value.split("#ffe066")[1].split("</span>")[0]
    assert "mvneta_run_xdp(pp" in _lit(napi, "mvneta_rx_swbm", at["drop0"])
    L.player.slider.value = at["pass1"]
    assert "case XDP_PASS" in _lit(napi, "talk", at["pass1"])
    L.player.slider.value = at["tx2"]
    assert "case XDP_TX" in _lit(napi, "talk", at["tx2"]) and napi.budget.value == 61
    L.player.slider.value = at["refill1"]
    assert "mvneta_rx_refill_queue" in _lit(napi, "mvneta_rx_swbm", at["refill1"])
    L.player.slider.value = at["done"]
    assert "return ps.rx_packets" in _lit(napi, "mvneta_rx_swbm", at["done"])


def test_xdp_buff_view_moves_with_adjust_head(lab):
    L, at, _f = lab
    xb = L.views["xdp_buff"]
    names = list(xb.SEGMENTS)
    L.player.slider.value = at["run0"]
    data = xb.rects[0].x[names.index("data..data_end")]
    assert (data.min(), data.max()) == (258, 322)
    mh = xb.rects[0].x[names.index("Marvell header (2 B)")]
    assert (mh.min(), mh.max()) == (256, 258)
    frame = xb.rects[0].x[names.index("xdp_frame (40 B)")]
    assert (frame.min(), frame.max()) == (0, 40)
    shinfo = xb.rects[0].x[names.index("skb_shared_info (320 B)")]
    assert (shinfo.min(), shinfo.max()) == (PAGE_SIZE - SKB_SHARED_INFO_SIZE, PAGE_SIZE)
    assert list(xb.marks[0].x[:2]) == [258, 322] and xb.marks[0].x[2] < 0      # no data_meta label
    assert (xb.rects[1].x == xb.rects[0].x).all()                                  # the zoom shows the same
    L.player.slider.value = at["pass1"]                # bpf_xdp_adjust_head(ctx, -14)
    data = xb.rects[0].x[names.index("data..data_end")]
    assert (data.min(), data.max()) == (244, 322)
    mh = xb.rects[0].x[names.index("Marvell header (2 B)")]
    assert mh.min() == mh.max()                       # the new header bytes cover the Marvell header
    assert "XDP_PASS" in xb.caption.value and "headroom = data - data_hard_start = 244 B" in xb.caption.value
    L.player.slider.value = at["done"]
    assert "no packet in the driver's hands" in xb.caption.value     # the poll ended
    data = xb.rects[0].x[names.index("data..data_end")]
    assert data.min() == data.max()


def test_page_pool_view_bars_and_stats(lab):
    L, at, f = lab
    pp = L.views["page_pool"]
    bars = list(pp.BARS)
    L.player.slider.value = at["nic0"]                 # hardware row: snapshot carried, not zero
    assert pp.bars.y[bars.index("in RX ring")] == RING        # filled descriptors still hold their page
    assert pp.cache_bar.y[0] == 0
    assert "page allocator: 64 pages taken" in pp.stats.value
    L.player.slider.value = at["filled"] - 2
    assert pp.cache_bar.y[0] == 1 and list(pp.cache_label.text) == ["1"]
    L.player.slider.value = at["recycle0"]
    assert pp.cache_bar.y[0] == 1
    assert pp.bars.y[bars.index("ptr_ring")] == 0
    assert "<td>recycle cached</td><td align='right'>1</td>" in pp.stats.value
    L.player.slider.value = at["skb1"]
    assert pp.bars.y[bars.index("in skbs")] == 1
    L.player.slider.value = at["txsub"]
    assert pp.bars.y[bars.index("on TX ring")] == 1
    L.player.slider.value = at["done"]
    assert pp.bars.y[bars.index("in RX ring")] == RING


def test_counters_view_table_and_time_cursor(lab):
    L, at, f = lab
    cv = L.views["counters"]
    L.player.slider.value = at["drop0"]
    assert cv.values_at(at["drop0"])["rx_xdp_drop"] == 1
    assert "<td>rx_xdp_drop</td><td align='right'>1</td>" in cv.table.value
    assert "<td>rx_xdp_pass</td><td align='right'>0</td>" in cv.table.value
    assert list(cv.cursor.x) == [f.t_ns[at["drop0"]] / 1000.0] * 2
    L.player.slider.value = f.n - 1
    assert "<td>rx_xdp_tx</td><td align='right'>1</td>" in cv.table.value
    assert "<td>rx_pp_alloc_slow</td><td align='right'>1</td>" in cv.table.value
    assert cv.lines.y.shape == (3, len(f.tp_t_us)) and cv.lines.y[0].sum() > 0


def test_player_controls(lab):
    L, at, f = lab
    p = L.player
    assert (p.play.min, p.play.max, p.slider.max) == (0, f.n - 1, f.n - 1)
    assert (p.link.source, p.link.target) == ((p.play, "value"), (p.slider, "value"))
    p.seek(at["rx0"])
    p.next_btn.click()
    assert p.value == at["rx0"] + 1 and "dma_sync_for_cpu" in p.event.value
    p.prev_btn.click()
    assert p.value == at["rx0"]
    p.pkt_btn.click()
    assert p.value == at["run0"] and "xdp_run" in p.event.value
    p.seek(0)
    p.poll_btn.click()
    assert p.value == at["poll"]
    p.speed.value = 20
    assert p.play.step == 20
    p.seek(10 ** 9)
    assert p.value == f.n - 1


def test_views_update_in_place_one_message_per_widget(lab):
    """Marks are built once; each update sends one state message per changed widget (hold_sync)."""
    L, at, _f = lab
    ring = L.views["ring"]
    marks_before = [id(m) for m in ring.figure.marks]
    sent = []
    for name, w in (("grid", ring.grid), ("ptr", ring.pointers), ("bars", L.views["page_pool"].bars),
                    ("rects", L.views["xdp_buff"].rects[0])):
        w._send = (lambda n: (lambda msg, buffers=None: sent.append((n, sorted(msg.get("state", {}))))))(name)
    L.player.slider.value = at["tx2"]
    assert [id(m) for m in ring.figure.marks] == marks_before
    names = [n for n, _ in sent]
    assert names.count("grid") == 1 and names.count("ptr") == 1 and names.count("bars") == 1
    assert dict(sent)["ptr"] == ["x", "y"]


def test_lab_rejects_what_it_cannot_show():
    with pytest.raises(TypeError, match="Board"):
        xw.Lab(42)


# ---------------------------------------------------------------- a real run (python-mode Board)

def _run(prog):
    from xdplab import Board
    b = Board(prog=prog, trace=8000, mode="python", seed=0)
    n0 = int(b.trace.n[0])
    r = b.run(packets=300, size=64, rate="line")
    assert int(b.trace.lost[0]) == 0, "trace too small for this test"
    return b, n0, r


@pytest.fixture(scope="module")
def real_run():
    return _run("drop")


@pytest.mark.parametrize("prog", ["drop", "pass", "ssh-mirror", "abort"])
def test_real_run_replay_matches_the_simulators_counters(prog):
    b, n0, r = _run(prog)
    f = xw.frames_from_board(b)
    assert f.rx_ring_size == 512 and f.n == int(b.trace.n[0])
    end = f.n - 1
    delta = {k: int(f.pp_stats[end, i] - f.pp_stats[n0 - 1, i]) for i, k in enumerate(r["page_pool"])}
    assert delta == r["page_pool"]
    eth = b.ethtool()
    for k in ("rx_xdp_drop", "rx_xdp_pass", "rx_xdp_tx", "rx_xdp_redirect", "refill_errors", "rx_discard",
              "good_frames_received"):
        assert f.counter(k, end) == eth[k], k
    # at the end of every poll the replayed ring agrees with the simulator's rx_busy snapshot
    done = np.flatnonzero(f.ev[:, TR_EV] == EV["napi_done"])
    assert done.size > 3
    filled = (f.ring_state[done] == DESC_FILLED).sum(axis=1)
    assert (filled == f.rx_busy[done]).all()
    assert (f.proc_desc[done] == -1).all()
    if prog == "pass":                                          # XDP_PASS: pages leave the pool in skbs
        assert f.pp_in_skb.max() > 0 and f.counter("rx_xdp_pass", end) == 300
    if prog == "ssh-mirror":                                    # XDP_TX: frames sit on the TX ring
        assert f.pp_on_tx_ring.max() > 0 and f.counter("rx_xdp_tx", end) == 300


def test_real_run_lab_steps_through_a_packet(real_run):
    b, _n0, _r = real_run
    L = xw.Lab(b)
    p = L.player
    p.seek(p.frames.next_frame(0, "xdp_run"))
    xb = L.views["xdp_buff"]
    data = xb.rects[0].x[list(xb.SEGMENTS).index("data..data_end")]
    assert (data.min(), data.max()) == (258, 258 + 60)         # 64-byte frame minus FCS
    p.next_btn.click()                                          # the verdict
    assert "XDP_DROP" in xb.caption.value
    assert "case XDP_DROP" in _lit(L.views["napi"], "talk", p.value)
    assert p.last_update_ms < 50


# ---------------------------------------------------------------- the core never imports the UI

def test_importing_xdplab_pulls_in_no_ui():
    code = ("import sys, xdplab, xdplab.trace, xdplab.board\n"
            "bad = sorted(m for m in ('ipywidgets', 'bqplot', 'IPython', 'traitlets', 'xdplab_widgets')"
            " if m in sys.modules)\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"importing xdplab imported {out.stdout.strip()}"
