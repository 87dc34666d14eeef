"""The lab's views, headless: build each from a trace, move the player, assert on mark traits and text.

A small hand-made trace (``_synthetic_trace``) pins exact expectations for
every event kind; a real (python-mode) Board run checks the replay against the
simulator's own counters and occupancy snapshots.
"""

from __future__ import annotations

import asyncio
import html
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="the views need ipywidgets (pip install -e .[widgets])")
pytest.importorskip("bqplot", reason="the views need bqplot (pip install -e .[widgets])")

import bqplot as bq  # noqa: E402
import ipywidgets as W  # noqa: E402

from xdplab.nic.mvneta_hw import MVNETA_RXD_FIRST_DESC, MVNETA_RXD_LAST_DESC  # noqa: E402
from xdplab.trace import EV_NAMES, TR_A, TR_C, TR_EV, create_trace, trace_event  # noqa: E402
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
from xdplab_widgets.frames import (CODE_LISTINGS, CTX_IDLE, CTX_NAPI, CTX_SETUP, DESC_EMPTY,  # noqa: E402
                                   DESC_FILLED, DESC_NIC, DESC_PROCESSING, frames_from_trace)

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


STEPPINGS = ("browser", "kernel") if importlib.util.find_spec("anywidget") else ("kernel",)


def _page_ready(player):
    """What the page's stepper says once it holds the tracks (its message sets ``ready``)."""
    player.stepper.set_state({"ready": True})
    return player


@pytest.fixture(params=STEPPINGS)
def lab(synth, request):
    """The lab on the synthetic trace, once per way of stepping (the page ready): what Python sees is the same."""
    tr, at, frames = synth
    L = xw.Lab(frames, stepping=request.param)
    if request.param == "browser":
        _page_ready(L.player)
    return L, at, frames


@pytest.fixture()
def klab(synth):
    """The lab stepped by the kernel (its messages are what these tests watch)."""
    tr, at, frames = synth
    return xw.Lab(frames, stepping="kernel"), at, frames


def _lit(view, name, i):
    return CODE_LISTINGS[name][0][view.lit_line(name, i)]


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
    ptr = ring.pointers
    L.player.slider.value = at["nic1"]                 # the learner drags the slider
    assert list(ring.shown_colors[:3]) == [DESC_FILLED, DESC_FILLED, DESC_NIC]
    assert ptr.x[0] == 2 and ptr.y[0] < 0               # NIC pointer above descriptor 2 (row 0)
    L.player.seek(at["rx0"])
    assert ring.shown_colors[0] == DESC_PROCESSING and ring.shown_colors[1] == DESC_FILLED
    assert list(ptr.x[:2]) == [3, 1]                   # NIC writes 3, next_desc_to_proc 1
    assert "processing desc 0" in ring.caption.value and "rx_busy 3 " in ring.caption.value
    L.player.seek(at["done"])
    assert (ring.shown_colors == DESC_NIC).all()
    assert ptr.x[2] == 3                              # first_to_refill after refilling 0..2


def _lit_text(code_view):
    """The lit line in what the code panel shows."""
    v = code_view.code.value
    if "#ffe066" not in v:
        return None
    return html.unescape(v.split("#ffe066")[1].split(">", 1)[1].split("</span>")[0])


def test_code_view_lights_the_executing_line_and_budget(lab):
    L, at, _f = lab
    code = L.views["napi"]
    L.player.seek(at["rx0"])
    assert "while (desc_in_rx_ring" in _lit(code, "talk", at["rx0"])
    assert "rx_status = rx_desc->status" in _lit(code, "mvneta_rx_swbm", at["rx0"])
    assert code.shown_listing(at["rx0"]) == "mvneta_rx_swbm"
    assert "rx_status = rx_desc->status" in _lit_text(code)
    assert code.budget.value == 63 and code.budget.max == 64
    assert "left 63" in code.status.value
    L.player.seek(at["drop0"])
    assert "case XDP_DROP" in _lit(code, "talk", at["drop0"])
    assert "mvneta_run_xdp(pp" in _lit_text(code)
    code.choice.value = "talk"                          # the learner picks the talk's loop
    assert "case XDP_DROP" in _lit_text(code)
    L.player.seek(at["pass1"])
    assert "case XDP_PASS" in _lit_text(code)
    L.player.seek(at["tx2"])
    assert "case XDP_TX" in _lit_text(code) and code.budget.value == 61
    code.choice.value = "mvneta_rx_swbm"
    L.player.seek(at["refill1"])
    assert "mvneta_rx_refill_queue" in _lit_text(code)
    L.player.seek(at["done"])
    assert "return ps.rx_packets" in _lit_text(code)
    L.player.seek(at["txdone"])                         # after the poll: no line lit, NAPI idle
    assert _lit_text(code) is None and "no poll running" in code.status.value
    L.player.seek(at["nic0"])                           # the NIC receives before any poll: nothing runs
    assert _lit_text(code) is None and code.lit_line("mvneta_rx_swbm", at["nic0"]) == -1


def test_code_listings_fit_the_panel():
    """No line wider than the panel's 66 columns (tabs as 4 spaces): nothing is clipped; longer ones would wrap."""
    for name, (src, *_rest) in CODE_LISTINGS.items():
        wide = [s for s in src if len(s.replace("\t", "    ")) > 66]
        assert not wide, (name, wide)
    cv = xw.CodeView(frames_from_trace(_synthetic_trace()[0], rx_ring_size=RING))
    assert "white-space:pre-wrap" in cv.code.value


def test_xdp_buff_view_moves_with_adjust_head(lab):
    L, at, _f = lab
    xb = L.views["xdp_buff"]
    names = list(xb.SEGMENTS)
    L.player.seek(at["run0"])
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
    L.player.seek(at["pass1"])                         # bpf_xdp_adjust_head(ctx, -14)
    data = xb.rects[0].x[names.index("data..data_end")]
    assert (data.min(), data.max()) == (244, 322)
    mh = xb.rects[0].x[names.index("Marvell header (2 B)")]
    assert mh.min() == mh.max()                       # the new header bytes cover the Marvell header
    assert "XDP_PASS" in xb.caption.value and "headroom = data - data_hard_start = 244 B" in xb.caption.value
    L.player.seek(at["done"])
    assert "no packet in the driver's hands" in xb.caption.value     # the poll ended
    data = xb.rects[0].x[names.index("data..data_end")]
    assert data.min() == data.max()


def test_page_pool_view_bars_and_stats(lab):
    L, at, f = lab
    pp = L.views["page_pool"]
    bars = list(pp.BARS)
    L.player.seek(at["nic0"])                          # hardware row: snapshot carried, not zero
    assert pp.bars.y[bars.index("RX ring")] == RING        # filled descriptors still hold their page
    assert pp.bars.y[bars.index("cache")] == 0
    assert "<td colspan='2'>from allocator</td><td align='right'>64</td>" in pp.stats.value
    L.player.seek(at["filled"] - 2)
    assert pp.bars.y[bars.index("cache")] == 1
    L.player.seek(at["recycle0"])
    assert pp.bars.y[bars.index("cache")] == 1
    assert pp.bars.y[bars.index("ptr_ring")] == 0
    assert "<td>cached</td><td align='right'>1</td>" in pp.stats.value
    L.player.seek(at["skb1"])
    assert pp.bars.y[bars.index("skbs")] == 1
    L.player.seek(at["txsub"])
    assert pp.bars.y[bars.index("TX ring")] == 1
    L.player.seek(at["done"])
    assert pp.bars.y[bars.index("RX ring")] == RING


def test_counters_view_table_and_time_cursor(lab):
    L, at, f = lab
    cv = L.views["counters"]
    L.counters_btn.value = True                        # drawn and updated only once opened
    L.player.seek(at["drop0"])
    assert cv.values_at(at["drop0"])["rx_xdp_drop"] == 1
    assert "<td>rx_xdp_drop</td><td align='right'>1</td>" in cv.table.value
    assert "<td>rx_xdp_pass</td><td align='right'>0</td>" in cv.table.value
    assert list(cv.cursor.x) == [f.t_ns[at["drop0"]] / 1000.0] * 2
    L.player.seek(f.n - 1)
    assert "<td>rx_xdp_tx</td><td align='right'>1</td>" in cv.table.value
    assert "<td>rx_pp_alloc_slow</td><td align='right'>1</td>" in cv.table.value
    assert cv.lines.y.shape == (3, len(f.tp_t_us)) and cv.lines.y[0].sum() > 0


def test_throughput_legend_is_beside_the_plot_not_over_it(lab):
    """A bqplot legend sits on the plot area and hid the NIC's line; the legend is HTML above the figure."""
    L, _at, _f = lab
    cv = L.views["counters"]
    assert not any(getattr(m, "display_legend", False) for m in cv.figure.marks)
    assert all(name in cv.legend.value for name in ("NIC rx", "XDP verdicts", "rx_discard"))
    assert cv.nic_halo.stroke_width > cv.lines.stroke_width      # the NIC's line shows under the verdicts'


def _widgets(w):
    yield w
    for c in getattr(w, "children", ()):
        yield from _widgets(c)


def test_lab_layout_fits_a_laptop_screen(lab):
    """The RX path's four panels in one 2 x 2 grid; no fixed-width button that would cut its label; every
    figure at least as wide as its margins (a narrower one draws a negative width: the console errors);
    the counters' figure is not on the page until it is opened (hidden, bqplot would size it at 0)."""
    L, _at, _f = lab
    assert [p.children[0] for p in L.grid.children] == [L.views[k].widget for k in
                                                         ("ring", "napi", "xdp_buff", "page_pool")]
    assert L.grid.layout.grid_template_columns.count("fr") == 2
    for w in _widgets(L.widget):
        if isinstance(w, (W.Button, W.ToggleButton)):
            assert w.layout.width in (None, "auto"), (w.description, w.layout.width)
    for w in _widgets(L.widget):
        if isinstance(w, bq.Figure):
            m = w.fig_margin
            assert w.layout.min_width and int(w.layout.min_width.rstrip("px")) > m["left"] + m["right"] + 50
    assert L.views["counters"].figure not in list(_widgets(L.widget))
    L.counters_btn.value = True
    assert L.views["counters"].figure in list(_widgets(L.widget))
    L.counters_btn.value = False
    assert L.views["counters"].figure not in list(_widgets(L.widget))


def test_player_controls(lab):
    L, at, f = lab
    p = L.player
    assert (p.slider.min, p.slider.max) == (0, f.n - 1)
    assert not any(isinstance(w, W.Play) for w in _widgets(p.widget))    # no browser-side clock, no stop
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
    p.seek(at["done"])
    p.prev_poll_btn.click()
    assert p.value == at["poll"]
    p.seek(10 ** 9)
    assert p.value == f.n - 1 and p.slider.value == f.n - 1


def test_player_plays_and_pauses_like_a_media_player(lab):
    """Play advances `speed` events a frame; pause keeps the position; play stops on the last event (no
    rewind); play pressed there starts from the first.  Without an event loop, tick() is the clock."""
    L, at, f = lab
    p = L.player
    p.seek(at["poll"])
    p.speed.value = 5
    p.play()
    assert p.playing and p.play_btn.description == "pause"
    assert p.tick() and p.value == at["poll"] + 5
    assert p.tick() and p.value == at["poll"] + 10
    p.pause()
    assert not p.playing and p.play_btn.description == "play" and p.value == at["poll"] + 10
    assert not p.tick() and p.value == at["poll"] + 10            # paused: the clock does nothing
    p.play()
    assert p.value == at["poll"] + 10                              # play resumes where pause left it
    p.speed.value = 500
    assert not p.tick() and p.value == f.n - 1 and not p.playing   # the end: stops there
    p.play()                                                       # play at the end: from the start
    assert p.value == 0 and p.playing
    p.pause()


def test_slider_and_event_line_move_together(klab):
    """Each frame sends the views, then the event line and the slider, in one burst: the slider never
    shows a position the event line has not reached (a browser-side Play moved the slider first)."""
    L, at, _f = klab
    p = L.player
    p.seek(at["rx0"])
    sent = []
    for name, w in (("event", p.event), ("slider", p.slider), ("xdp_buff", L.views["xdp_buff"].rects[0])):
        w._send = (lambda n: (lambda msg, buffers=None: sent.append(n)))(name)
    p.speed.value = 1
    p.play()
    p.tick()                                           # rx_desc -> dma_sync_for_cpu: the xdp_buff appears
    p.pause()
    assert sent == ["xdp_buff", "event", "slider"]
    assert p.slider.value == p.value and f"event {p.value}</b>" in p.event.value


def test_player_plays_on_the_kernels_event_loop(synth):
    """Inside a running asyncio loop (the kernel's), play advances by itself, and pause stops it there."""
    _tr, at, frames = synth
    L = xw.Lab(frames, stepping="kernel")

    async def run():
        p = L.player
        p.seek(at["poll"])
        p.play()
        await asyncio.sleep(1.0)
        p.pause()
        v = p.value
        await asyncio.sleep(0.3)
        return v, p.value

    v, later = asyncio.run(run())
    assert v >= at["poll"] + 2 and later == v


def test_views_send_only_what_changed(klab):
    """Marks are built once; an update sends one message per widget whose content changed, none for the rest."""
    L, at, _f = klab
    ring = L.views["ring"]
    marks_before = [id(m) for m in ring.figure.marks]
    L.player.seek(at["nic0"])
    sent = []
    for name, w in (("grid", ring.row_marks[0]), ("row1", ring.row_marks[1]), ("ptr", ring.pointers),
                    ("bars", L.views["page_pool"].bars),
                    ("rects", L.views["xdp_buff"].rects[0]), ("code", L.views["napi"].code)):
        w._send = (lambda n: (lambda msg, buffers=None: sent.append((n, sorted(msg.get("state", {}))))))(name)
    L.player.seek(at["nic1"])                         # the NIC fills desc 1: only the ring's first row changes
    assert [n for n, _ in sent] == ["grid", "ptr"] and dict(sent)["ptr"] == ["x"]     # y: same row
    sent.clear()
    L.player.seek(at["tx2"])
    assert [id(m) for m in ring.figure.marks] == marks_before
    names = [n for n, _ in sent]
    assert all(names.count(k) == 1 for k in ("grid", "bars", "rects", "code"))


def test_lab_starts_where_asked(synth):
    _tr, at, frames = synth
    assert xw.Lab(frames).player.value == 0
    assert xw.Lab(frames, start="napi_poll").player.value == at["poll"]
    assert xw.Lab(frames, start=at["rx1"]).player.value == at["rx1"]


# ---------------------------------------------------------------- stepping in the browser

needs_anywidget = pytest.mark.skipif("browser" not in STEPPINGS, reason="stepping in the browser needs anywidget")


def _tracks_by_trait(player):
    """(model id, trait) -> [(condition, value per frame)] as the page decodes the player's tracks."""
    from xdplab_widgets.stepper import decode_track
    out = {}
    for t in player.stepper.tracks:
        cond = t.get("cond")
        out.setdefault((t["model"], t["trait"]), []).append(
            (None if cond is None else (cond["model"], cond["trait"], cond["value"]), decode_track(t)))
    return out


def _same(a, b):
    if isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a, dtype=b.dtype), b)
    return a == b


@needs_anywidget
@pytest.mark.parametrize("src", ["synth", "real"])
def test_tracks_hold_what_every_view_shows_at_every_frame(synth, real_run, src):
    """What the page applies at frame i is exactly what the kernel's views hold at frame i: every tracked
    trait, every frame, both listings of the code panel (each under its button), the event line."""
    frames = synth[2] if src == "synth" else xw.frames_from_board(real_run[0])
    L = xw.Lab(frames, stepping="browser")
    p = L.player
    tracks = _tracks_by_trait(p)
    code = L.views["napi"]
    listings = [v for _label, v in code.choice.options]
    checked = set()
    for i in range(frames.n):
        for k, listing in enumerate(listings):
            states = [(p.event, {"value": p.event_html(i)})]
            for name, v in L.views.items():
                states += v.state_at(i, choice=listing) if name == "napi" else v.state_at(i)
            for w, traits in states:
                for trait, want in traits.items():
                    cands = tracks[(w.model_id, trait)]
                    got = [vals[i] for cond, vals in cands
                           if cond is None or cond == (code.choice.model_id, "index", k)]
                    assert len(got) == 1, (type(w).__name__, trait, i, listing)
                    assert _same(got[0], want), (type(w).__name__, trait, i, listing, got[0], want)
                    checked.add((w.model_id, trait))
    assert checked == set(tracks)           # no track for a trait no view shows


@needs_anywidget
def test_track_text_templates_round_trip():
    """Texts are sent as templates and numbers: whatever the digits, the page rebuilds the very string."""
    from xdplab_widgets.stepper import decode_track, track
    w = W.HTML()
    vals = ["rx_busy 3 of 512", "rx_busy 17 of 512", "007 and 0 and 10", "x" * 3, "",
            "12345678901234567890 big", "rx_busy 3 of 512", "a1b22c333", "font-size:12px 4", "font-size:12px 5"]
    t = track(w, "value", vals)
    assert decode_track(t) == vals
    assert t["count"] == len(set(vals))
    assert "512" in "".join(t["templates"][0])              # a number that never changes stays in the text
    ints = track(W.IntProgress(), "value", [0, 5, 5, 64, 0])
    assert ints["kind"] == "json" and decode_track(ints) == [0, 5, 5, 64, 0]


@needs_anywidget
def test_browser_stepping_sends_the_views_nothing(lab):
    """Stepping in the browser, the kernel's views take each frame's values without sending them (the
    page has them): a seek from Python sends the slider alone, and a slider the page moved sends nothing
    back; Python still reads the frame on screen."""
    L, at, f = lab
    p = L.player
    if p.stepping != "browser":
        pytest.skip("kernel stepping: see test_views_send_only_what_changed")
    ring, xb, code = L.views["ring"], L.views["xdp_buff"], L.views["napi"]
    sent = []
    watched = [("event", p.event), ("slider", p.slider), ("code", code.code), ("rects", xb.rects[0]),
               ("caption", ring.caption)] + [(f"row{r}", m) for r, m in enumerate(ring.row_marks)]
    for name, w in watched:
        # ipywidgets 8 echoes a front-end's change to every front-end (method "echo_update"): not ours
        w._send = (lambda n: (lambda msg, buffers=None: sent.append(n) if msg.get("method") == "update"
                              else None))(name)
    p.seek(at["rx0"])
    assert sent == ["slider"]
    assert np.array_equal(ring.shown_colors, ring.colors_at(at["rx0"])) and f"event {at['rx0']}</b>" in p.event.value
    sent.clear()
    p.slider.set_state({"value": at["nic1"]})              # as the page's message sets it
    assert sent == [] and p.value == at["nic1"] and p.slider.value == at["nic1"]
    assert np.array_equal(ring.shown_colors, ring.colors_at(at["nic1"]))
    assert f"event {at['nic1']}</b>" in p.event.value
    p.slider.set_state({"value": at["rx0"]})
    code.choice.value = "talk"                              # the page switches listings by itself
    assert sent == [] and _lit_text(code) == _lit(code, "talk", at["rx0"]).strip()


@needs_anywidget
def test_browser_stepping_play_is_the_pages(synth):
    """Play pressed in the page: the page keeps the time (no kernel timer, no seek back from the kernel
    even at the end, the page went back itself); play() from Python at the end still starts from 0."""
    _tr, at, frames = synth
    p = _page_ready(xw.Lab(frames, stepping="browser").player)

    async def run():
        p.seek(at["poll"])
        p.play_btn.set_state({"value": True})               # the page's play
        await asyncio.sleep(0.3)
        return p.value, p._timer

    assert asyncio.run(run()) == (at["poll"], None)
    assert p.play_btn.description == "pause"
    p.play_btn.set_state({"value": False})
    p.seek(frames.n - 1)
    p.play_btn.set_state({"value": True})
    assert p.value == frames.n - 1
    p.pause()
    p.play()
    assert p.value == 0 and p.playing
    p.pause()


@needs_anywidget
def test_until_the_page_holds_the_tracks_the_kernel_steps(synth):
    """stepping="browser" in a front-end that has not run (or cannot run) the stepper's code: the kernel
    sends every view's change and plays on its own clock, as with stepping="kernel"."""
    _tr, at, frames = synth
    L = xw.Lab(frames, stepping="browser")
    p, ring = L.player, L.views["ring"]
    assert not p.page_steps
    sent = []
    for name, w in (("row0", ring.row_marks[0]), ("event", p.event), ("slider", p.slider)):
        w._send = (lambda n: (lambda msg, buffers=None: sent.append(n) if msg.get("method") == "update"
                              else None))(name)
    p.seek(at["nic0"])
    p.seek(at["nic1"])                                    # desc 1 filled: row 0 changes
    assert sent.count("row0") >= 1 and sent[-2:] == ["event", "slider"]

    async def run():
        p.seek(at["poll"])
        p.play_btn.set_state({"value": True})              # the page's play, no stepper there: the kernel plays
        await asyncio.sleep(0.5)
        p.pause()
        return p.value

    assert asyncio.run(run()) > at["poll"]
    _page_ready(p)
    assert p.page_steps and ring._sent.silent


@needs_anywidget
def test_in_a_kernel_the_tracks_are_built_after_the_cell(synth):
    """Inside a running event loop (a kernel), Lab() returns at once and the tracks follow a few turns of
    the loop later, the same as built at once."""
    _tr, _at, frames = synth

    async def run():
        L = xw.Lab(frames, stepping="browser")
        at_once = list(L.player.stepper.tracks)
        for _ in range(100):
            await asyncio.sleep(0)
            if L.player.stepper.tracks:
                break
        return at_once, L

    at_once, L = asyncio.run(run())
    assert at_once == [] and not L.player.page_steps
    assert L.player.stepper.tracks == L.player.tracks()


@needs_anywidget
def test_stepper_knows_the_controls_and_the_jumps(synth):
    _tr, at, frames = synth
    L = xw.Lab(frames, stepping="browser")
    p, st = L.player, L.player.stepper
    assert st in list(_widgets(L.widget))
    assert st.refs == {"slider": p.slider.model_id, "play": p.play_btn.model_id, "next": p.next_btn.model_id,
                       "prev": p.prev_btn.model_id, "poll": p.poll_btn.model_id,
                       "prev_poll": p.prev_poll_btn.model_id, "pkt": p.pkt_btn.model_id,
                       "speed": p.speed.model_id}
    assert st.speeds == [k for _label, k in xw.player.SPEEDS] and st.last == frames.n - 1
    polls = np.frombuffer(st.jumps["napi_poll"], np.int32)
    assert list(polls) == [i for i in range(frames.n) if EV_NAMES[frames.ev[i, TR_EV]] == "napi_poll"]
    assert frames.next_frame(-1, "napi_poll") == polls[0]
    assert "0x" not in repr(st)                             # no address in a notebook's text output
    with pytest.raises(ValueError, match="stepping"):
        xw.Lab(frames, stepping="page")


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
    # ethtool -S's rx_pp_*: the RX queue's pool only (the one destroyed at attach no longer counts)
    assert {k: f.counter(k, end) for k in eth if k.startswith("rx_pp_")} == \
        {k: v for k, v in eth.items() if k.startswith("rx_pp_")}
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


def xw_pp_names():
    from xdplab.page_pool import PP_STAT_NAMES
    return PP_STAT_NAMES


def test_real_run_attach_restarts_the_port_as_the_kernel_does(real_run):
    """Board("drop"): ip link set up (pool 1 fills the ring), then the attach restarts the port:
    mvneta_stop gives every page back to pool 1, page_pool_destroy returns them to the page allocator,
    mvneta_open creates pool 2 and fills the ring again.  The player shows that, in that order."""
    b, _n0, _r = real_run
    f = xw.frames_from_board(b)
    code = f.ev[:, TR_EV]
    setup = f.next_frame(-1, "xdp_setup")
    poll = f.next_frame(-1, "napi_poll")
    names = [EV_NAMES[c] for c in code[setup:poll]]
    order = [n for k, n in enumerate(names) if k == 0 or n != names[k - 1]]
    assert order[:2] == ["xdp_setup", "port_stop"] and order[-1] in ("port_up", "nic_rx", "irq")
    story = [n for n in order if n in ("xdp_setup", "port_stop", "pp_destroy", "port_open", "pp_create",
                                       "port_up")]
    assert story == ["xdp_setup", "port_stop", "pp_destroy", "port_open", "pp_create", "port_up"]
    stop, destroy = f.next_frame(setup, "port_stop"), f.next_frame(setup, "pp_destroy")
    drop = stop + 1 + np.flatnonzero(code[stop + 1:destroy] == EV["pp_recycle"])     # mvneta_rxq_drop_pkts
    assert drop.size == 512 and (f.ev[drop, 4] == 1).all()                          # each into the ptr_ring
    # the pages move: RX ring -> ptr_ring -> page allocator; never in two places at once
    assert (f.pp_ring + f.pp_on_rx_ring <= 512).all()
    assert (f.pp_ring[drop] + f.pp_on_rx_ring[drop] == 512).all() and f.pp_on_rx_ring[drop[-1]] == 0
    assert (np.diff(f.pp_on_rx_ring[drop]) == -1).all()                  # one descriptor emptied per page
    assert f.pp_ring[destroy - 1] == 512 and f.pp_ring[destroy] == 0 and f.ev[destroy, 3] == 512
    # two pools, each with its own stats and pages; ethtool -S counts the live one only
    assert len(f.pools) == 2
    p1, p2 = f.pools
    assert (p1.created, p1.destroyed) == (f.next_frame(-1, "pp_create"), destroy)
    assert p1.pages_at(destroy) == (512, 512, 0) and p1.stats_at(destroy)["ring"] == 512
    end = f.n - 1
    assert p2.created > destroy and p2.alive(end) and p2.pages_at(end) == (512, 0, 512)
    assert p2.stats_at(end) == b.page_pool_stats()                      # rxq_def's pool
    # ethtool -S's rx_pp_*: the 8 RX queues' current pools (the 7 idle ones are not traced: their counts come
    # from the board, see frames_from_trace's idle_pp_stats)
    assert f.page_pool_stats(end) == {k: int(v) for k, v in zip(xw_pp_names(), b._pp_stats_array())}
    assert f.rxq_pool_at(destroy) is None and f.rxq_pool_at(end) is p2
    # the code panel shows the setup code there, never the NAPI loop
    L = xw.Lab(f)
    cv, pp = L.views["napi"], L.views["page_pool"]
    for i in range(setup, f.next_frame(setup, "port_up") + 1):
        assert f.ctx[i] == CTX_SETUP and f.napi_line["mvneta_rx_swbm"][i] == -1 and f.napi_line["talk"][i] == -1
        assert f.napi_line["setup"][i] >= 0
    expect = {"xdp_setup": "need_update", "port_stop": "mvneta_stop_dev", "pp_recycle": "page_pool_put_full_page",
              "pp_destroy": "page_pool_destroy", "port_open": "mvneta_setup_rxqs", "pp_create": "mvneta_create_page_pool",
              "rx_refill": "mvneta_rx_refill(pp", "port_up": "mvneta_start_dev"}
    for ev, needle in expect.items():
        i = f.next_frame(setup - 1, ev)
        L.player.seek(i)
        assert cv.shown_listing(i) == "setup" and needle in _lit_text(cv), (ev, _lit_text(cv))
        assert "process context" in cv.status.value
    L.player.seek(destroy)
    assert "pool 1<br><span style=\"font-weight:normal\">destroyed" in pp.stats.value
    assert "<td colspan='2'>given back</td><td align='right'>512</td>" in pp.stats.value
    L.player.seek(end)
    assert "<td colspan='2'>given back</td><td align='right'>0</td><td align='right'>512</td>" in pp.stats.value
    assert f.ctx[poll] == CTX_NAPI and f.ctx[f.next_frame(poll, "napi_done") + 1] in (CTX_IDLE, CTX_NAPI)


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


# ---------------------------------------------------------------- the course's player cells

def _cell(nb, cell_id):
    cells = [c for c in json.loads((ROOT / "course" / nb).read_text())["cells"] if c.get("id") == cell_id]
    assert len(cells) == 1
    return "".join(cells[0]["source"])


def test_chapter_00_player_starts_at_the_first_poll(real_run):
    b, _n0, _r = real_run
    ns = {"board": b}
    exec(_cell("00-the-lab.ipynb", "00-05"), ns)
    lab = ns["lab"]
    assert lab.player.value == lab.frames.next_frame(-1, "napi_poll")


def test_chapter_01_watch_it_lands_on_an_xdp_drop_recycle(real_run):
    """The first pp_recycle of a drop board is the attach's restart (mvneta_rxq_drop_pkts); "Watch it"
    must show page_pool_recycle_direct after an XDP_DROP verdict, in a poll, into the alloc cache."""
    b, _n0, _r = real_run
    ns = {"board": b}
    exec(_cell("01-driver-memory.ipynb", "01-14"), ns)
    lab = ns["lab"]
    f, i = lab.frames, lab.player.value
    assert EV_NAMES[f.ev[i, TR_EV]] == "pp_recycle" and f.ev[i, 4] == 0     # into the alloc cache
    verdict = f.prev_frame(i, "xdp_verdict")
    assert f.ev[verdict, 4] == XDP_DROP and f.ctx[i] == CTX_NAPI
    assert f.prev_frame(i, "napi_poll") < verdict


# ---------------------------------------------------------------- the core never imports the UI

def test_importing_xdplab_pulls_in_no_ui():
    code = ("import sys, xdplab, xdplab.trace, xdplab.board\n"
            "bad = sorted(m for m in ('ipywidgets', 'bqplot', 'IPython', 'traitlets', 'xdplab_widgets')"
            " if m in sys.modules)\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"importing xdplab imported {out.stdout.strip()}"


# ---------------------------------------------------------------- XDP_REDIRECT (issue 22 item 5)

@pytest.fixture(scope="module")
def redirect_board():
    """eth0 -> DEVMAP -> veth0 -> veth1 (xdp drop), traced."""
    from xdplab import Board
    from xdplab.bpf import load_object
    from xdplab.bpf.progs import PROGS_DIR
    obj = load_object(PROGS_DIR / "redirect_devmap.o")
    b = Board(obj.programs["xdp_redirect_devmap"], mode="python", trace=40000)
    b.ip("netns add remote")
    v0, v1 = b.ip("link add veth0 type veth peer name veth1 netns remote")
    b.ip("link set veth0 up")
    b.ip("-n remote link set veth1 up")
    obj.maps["tx_port"].update(0, v0.ifindex)
    v1.attach("drop")
    r = b.run(packets=200, rate="line")
    return b, r


def test_redirect_state_follows_the_bulk_queue_and_the_veth_ring(redirect_board):
    from xdplab_widgets.frames import board_netdev_names, frames_from_board, redirect_state
    b, r = redirect_board
    f = frames_from_board(b)
    names = board_netdev_names(b)
    st = redirect_state(f, names)
    v0, v1 = b.dev("veth0"), b.dev("veth1", "remote")
    k0, k1 = st.ifindexes.index(v0.ifindex), st.ifindexes.index(2)
    assert names[v0.ifindex] == "veth0" and "veth1@remote" in names[2] and "eth0" in names[2]
    # what the trace replays ends where the board's counters are
    assert st.redirected[-1, k1] == r["ethtool"]["rx_xdp_redirect"] == 200      # from eth0 (ifindex 2)
    assert st.sent[-1, k0] == r["devices"]["veth0"]["ethtool"]["tx_queue_0_xdp_xmit"] == 200
    assert st.drops[-1, k0] == 0 and st.bq[-1].sum() == 0 and st.ring[-1].sum() == 0
    # at line rate the bulk queue fills to 16 before xdp_devmap_xmit empties it, and frames wait in veth1's ring
    assert st.bq[:, k0].max() == 16 and set(np.unique(st.bq[:, k0])) == set(range(17))
    assert st.ring[:, k1].max() > 0
    i = f.next_frame(0, "xdp_devmap_xmit")
    assert st.bq[i, k0] == 0 and st.bq[i - 1, k0] > 0


def test_redirect_view_in_the_lab_and_the_stepper(redirect_board):
    from xdplab_widgets import Lab
    b, _ = redirect_board
    lab = Lab(b)
    assert "redirect" in lab.views
    v = lab.views["redirect"]
    i = lab.frames.next_frame(0, "bq_enqueue")
    assert "veth0" in v.state_at(i)[0][1]["value"] and "devmap bulk queue" in v.state_at(i)[0][1]["value"]
    # the browser-side stepper collects the view's values for every frame
    tr = v.tracks()
    assert tr and tr[0]["trait"] == "value" and tr[0]["model"] == v.table.model_id
    # a trace without a redirect gets no redirect panel
    from xdplab import Board
    plain = Board("drop", mode="python", trace=5000)
    plain.run(packets=50, rate=100_000)
    assert "redirect" not in Lab(plain).views
def test_a_multi_buffer_frame_in_the_views():
    """Jumbo frames (issue 24): the ring view says where each descriptor sits in its frame (FIRST, middle,
    LAST), the xdp_buff view shows the skb_shared_info the frags went to, read from the trace only."""
    from xdplab import Board
    from xdplab_widgets import Lab
    b = Board(None, trace=8000, mode="python", mtu=9000)
    b.attach("drop", frags=True)
    b.run(packets=3, size=9000, rate=10_000)
    f = xw.frames_from_board(b)
    add = np.flatnonzero(f.ev[:, TR_EV] == EV["rx_add_frag"])
    assert add.size == 6                                          # two frags a frame
    run = np.flatnonzero(f.ev[:, TR_EV] == EV["xdp_run"])
    i = int(run[-1])
    assert f.xb_nr_frags[i] == 2 and f.xb_frags_size[i] == 5482
    assert list(f.xb_frag_size[i, :2]) == [3520, 1958] and (f.xb_frag_page[i, :2] >= 0).all()
    lab = Lab(b)
    lab.player.seek(i)
    xb = lab.views["xdp_buff"]
    assert "nr_frags 2, xdp_frags_size 5482 B" in xb.caption.value and "1958 B" in xb.caption.value
    ring = lab.views["ring"]
    kinds = [ring.desc_kind(int(k)) for k in np.flatnonzero(f.ev[:, TR_EV] == EV["rx_desc"])[-3:]]
    assert kinds == ["FIRST", "middle", "LAST"]
    # the next frame's FIRST descriptor starts a linear xdp_buff again
    nxt = np.flatnonzero(f.ev[:, TR_EV] == EV["rx_desc"])[-6]
    assert f.xb_nr_frags[nxt] == 0


# ---------------------------------------------------------------- the TX ring (issues 22 item 5, 24 item 4)

def _tx_snapshot(b):
    """The board's TX queue now: (descriptors in use from txq->get to txq->put, txq->pending)."""
    from xdplab import _layout as L
    r = b.state.r
    size, get, cnt = int(r[L.R_TXQ_SIZE]), int(r[L.R_TXQ_GET]), int(r[L.R_TXQ_COUNT])
    return sorted((get + k) % size for k in range(cnt)), int(r[L.R_TXQ_UNANNOUNCED])


def test_tx_ring_state_matches_the_boards_tx_queue_and_ethtool():
    """XDP_TX (ssh-mirror): after each of three runs, the replayed ring holds exactly the descriptors the
    board's txq holds (txq->get .. txq->put), none of them queued unannounced; what it counts as
    submitted and reclaimed is what the trace's events and ethtool -S say."""
    from xdplab import Board
    from xdplab_widgets.frames import TX_FREE, TX_ON_NIC, TX_QUEUED, TX_SENT, board_tx_ring_size, tx_ring_state
    b = Board(prog="ssh-mirror", trace=20000, mode="python", seed=1, tx_ring=128)
    ends, snaps = [], []
    for packets, rate in ((40, 50_000), (150, "line"), (60, 200_000)):
        b.run(packets=packets, size=64, rate=rate)
        ends.append(int(b.trace.n[0]) - 1)
        snaps.append(_tx_snapshot(b))
    assert int(b.trace.lost[0]) == 0
    f = xw.frames_from_board(b)
    assert board_tx_ring_size(b) == 128
    st = tx_ring_state(f, 128)
    code = f.ev[:, TR_EV]
    for i, (used, unannounced) in zip(ends, snaps):
        s = st.at(i)
        assert sorted(np.flatnonzero(s != TX_FREE).tolist()) == used
        assert int(st.count[i]) == len(used) and int(st.pending[i]) == unannounced == 0
        # an independent count over the trace's rows
        assert int(st.count[i]) == int((code[:i + 1] == EV["tx_submit"]).sum() - (code[:i + 1] == EV["tx_done"]).sum())
    # some frame shows every state an XDP_TX descriptor goes through
    seen = set(np.unique(st.states).tolist())
    assert {TX_FREE, TX_QUEUED + 1, TX_ON_NIC + 1, TX_SENT} <= seen
    e = b.ethtool()
    assert int(st.frames_sent[-1]) == e["rx_xdp_tx"] == 250 and int(st.submitted[-1, 1]) == 250
    assert int(st.submitted[-1, 2]) == e["tx_xdp_xmit"] == 0
    # XDP_TX rings the doorbell once per frame (mvneta_xdp_xmit_back): one descriptor announced each time
    assert int(st.doorbells[-1]) == 250 and set(f.ev[code == EV["tx_doorbell"], TR_A].tolist()) == {1}
    # a descriptor shown as sent has its completion time behind it; one the MAC holds has not
    t = np.maximum.accumulate(f.t_ns)
    hw = np.flatnonzero(code == EV["tx_hw_sent"])
    done_at = {}
    for j in hw:
        done_at[int(f.ev[j, TR_A])] = int(f.ev[j, TR_C])
        s = st.at(int(j))
        for d in np.flatnonzero(s == TX_SENT):
            assert done_at[int(d)] <= t[j] + 1
        for d in np.flatnonzero(s == TX_ON_NIC + 1):
            assert done_at[int(d)] > t[j] - 1


def test_tx_ring_view_in_the_lab_for_xdp_tx_and_its_tracks():
    from xdplab import Board
    b = Board(prog="ssh-mirror", trace=6000, mode="python", seed=0)
    b.run(packets=40, size=64, rate=100_000)
    L = xw.Lab(b)
    assert "tx" in L.views and "redirect" not in L.views
    v = L.views["tx"]
    assert isinstance(v, xw.TxRingView) and v.state.size == 1024 and v.cols == 64
    i = L.frames.next_frame(0, "tx_submit")
    L.player.seek(i)
    # the XDP_TX descriptor, queued, outlined as the followed page's; the caption says the doorbell is due
    assert v.shown_color(0) == 2.0       # TX_QUEUED + XDP_TX
    assert list(v.marked_descs(i)) == [0] and int(L.frames.ev[i, 3]) == int(v.page[i])
    assert "pending (doorbell not rung) 1" in v.caption.value
    j = L.frames.next_frame(i, "tx_doorbell")
    assert j > i and "pending (doorbell not rung) 1" in v.state_at(j - 1)[-1][1]["value"]
    assert "pending (doorbell not rung) 0" in v.state_at(j)[-1][1]["value"]
    k = L.frames.next_frame(i, "tx_done")
    L.player.seek(k)
    assert v.shown_color(0) == 0.0 and "reclaimed XDP_TX 1" in v.caption.value
    # state_at and the packed tracks agree at every frame, every trait
    from xdplab_widgets.stepper import decode_track
    tracks = {(t["model"], t["trait"]): decode_track(t) for t in v.tracks()}
    checked = set()
    for i in range(L.frames.n):
        for w, traits in v.state_at(i):
            for trait, want in traits.items():
                got = tracks[(w.model_id, trait)][i]
                assert _same(got, want), (type(w).__name__, trait, i)
                checked.add((w.model_id, trait))
    assert checked == set(tracks)


def test_a_frags_xdp_tx_frame_takes_one_descriptor_per_buffer_in_the_view():
    """A 9000-byte frame sent back by an xdp.frags program: three TX descriptors (head 3518 B, frags
    3520 B and 1958 B), FIRST on the head, LAST on the last frag, all outlined when the player follows
    any of its pages; one frame for rx_xdp_tx."""
    from xdplab import Board
    from xdplab.bpf import load_insns
    from xdplab.bpf.insn import pack
    from xdplab_widgets.frames import TX_QUEUED, tx_ring_state
    prog = load_insns([pack(0xB7, 0, imm=XDP_TX), pack(0x95)], name="tx_frags", section="xdp.frags").programs["tx_frags"]
    b = Board(None, trace=8000, mode="python", mtu=9000)
    b.attach(prog)
    b.run(packets=2, size=9000, rate=10_000)
    f = xw.frames_from_board(b)
    sub = np.flatnonzero(f.ev[:, TR_EV] == EV["tx_submit"])
    assert sub.size == 6
    assert f.ev[sub[:3], 5].tolist() == [3518, 3520, 1958]
    assert f.ev[sub[:3], 6].tolist() == [4 | 1, 4, 4 | 2]                   # FIRST, middle, LAST
    st = tx_ring_state(f, 1024)
    i = int(sub[2])                                                          # the frame's last buffer queued
    s = st.at(i)
    assert np.flatnonzero(s != 0).tolist() == [0, 1, 2] and set(s[:3].tolist()) == {TX_QUEUED + 1}
    pages = f.ev[sub[:3], 3].tolist()
    assert len(set(pages)) == 3
    for p in pages:
        assert st.descs_of_page(i, p).tolist() == [0, 1, 2]
    assert int(st.frames_sent[-1]) == b.ethtool()["rx_xdp_tx"] == 2 and int(st.submitted[-1, 1]) == 6
    # the TX completion names the frame's head page only (buf->xdpf is NULL on the frags' descriptors)
    done = np.flatnonzero(f.ev[:, TR_EV] == EV["tx_done"])
    assert f.ev[done[:3], 3].tolist() == [pages[0], -1, -1]
    b.check_pages()


def test_redirect_to_eth0_in_both_views():
    """eth0 -> DEVMAP -> eth0 (xdp-bench redirect-map eth0 eth0): mvneta_xdp_xmit queues MVNETA_TYPE_XDP_NDO
    descriptors; the TX ring view counts what ethtool's tx_xdp_xmit counts, the redirect panel sits beside
    it, and both mark the page the player follows while it waits in the bulk queue and on the ring."""
    from xdplab import Board
    from xdplab.bpf import load_object
    from xdplab.bpf.progs import PROGS_DIR
    from xdplab_widgets.frames import TX_ON_NIC, TX_QUEUED
    obj = load_object(PROGS_DIR / "redirect_devmap.o")
    b = Board(obj.programs["xdp_redirect_devmap"], mode="python", trace=20000)
    obj.maps["tx_port"].update(0, 2)
    r = b.run(packets=100, rate="line")
    assert int(b.trace.lost[0]) == 0
    e = r["ethtool"]
    assert e["tx_xdp_xmit"] == 100
    L = xw.Lab(b)
    assert {"tx", "redirect"} <= set(L.views)
    v, rv = L.views["tx"], L.views["redirect"]
    st = v.state
    assert int(st.submitted[-1, 2]) == int(st.frames_sent[-1]) == e["tx_xdp_xmit"] and int(st.submitted[-1, 1]) == 0
    assert sorted(np.flatnonzero(st.at(L.frames.n - 1)).tolist()) == _tx_snapshot(b)[0]
    # ndo_xdp_xmit from the bulk flush announces the whole bulk with one doorbell
    code = L.frames.ev[:, TR_EV]
    bells = L.frames.ev[code == EV["tx_doorbell"], TR_A]
    assert bells.max() > 1 and bells.sum() == 100
    # NDO descriptors, queued then on the MAC
    assert {TX_QUEUED + 2, TX_ON_NIC + 2} <= set(np.unique(st.states).tolist())
    # follow one page: enqueued into the bulk queue, then on the TX ring, then home
    i = L.frames.next_frame(0, "bq_enqueue")
    page = int(L.frames.ev[i, 3])
    L.player.seek(i)
    assert f"followed page {page}: in the devmap bulk queue towards 2: eth0 (slot 1 of 16" in rv.table.value
    assert rv.table.value.count("border:2px solid #000") == 1
    i2 = L.frames.next_frame(i, "bq_enqueue")
    assert rv.followed_at(i2)[1:] == (0, 1, 1) and int(L.frames.ev[i2, 3]) != page
    j = next(int(k) for k in np.flatnonzero(code == EV["tx_submit"]) if int(L.frames.ev[k, 3]) == page)
    L.player.seek(j)
    assert v.marked_descs(j).tolist() == [int(L.frames.ev[j, 2])]
    assert "tx" in [k for k in ("tx", "redirect") if k in L.views] and L.path_box.children[0].children[0] is v.widget
    b.check_pages()
