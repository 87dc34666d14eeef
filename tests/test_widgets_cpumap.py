"""The CPUMAP views (issue 23 item 4): both CPUs' load, the cpumap rings and bulk queues, and where every
page went back, checked against the board's own numbers and against counts made here from the trace rows."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="the views need ipywidgets (pip install -e .[widgets])")
pytest.importorskip("bqplot", reason="the views need bqplot (pip install -e .[widgets])")

from test_widgets import xw  # noqa: E402  (xdplab_widgets, installed or from widgets/)
from xdplab import Board  # noqa: E402
from xdplab.bpf import load_object  # noqa: E402
from xdplab.trace import trace_records  # noqa: E402
from xdplab_widgets.cpuviews import (RECYCLE_KINDS, CpumapView, CpuView, board_wake_ns,  # noqa: E402
                                     cpu_load_state, cpumap_state)
from xdplab_widgets.stepper import decode_track  # noqa: E402

OBJ = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "xdplab", "progs", "cpumap_rps.o")
CACHE, RING, SKB = 0, 1, 4                      # RECYCLE_KINDS: alloc cache, ptr_ring, released as an skb


def _board(remote=None, qsize=16, packets=400, rate=None, cpus=(1,)):
    obj = load_object(OBJ)
    for i, c in enumerate(cpus):
        obj.maps["cpus_available"].update(i, c)
    obj.maps["cpus_count"].update(0, len(cpus))
    for c in cpus:
        obj.maps["cpu_map"].update(c, {"qsize": qsize, "bpf_prog": obj[remote] if remote else None})
    b = Board(obj["redirect_cpu_hash"], trace=200000, mode="python")
    kw = {"rate": rate} if rate else {}
    b.run(packets=packets, flows=16, **kw)
    assert b.trace.lost[0] == 0
    return b


@pytest.fixture(scope="module")
def line_rate():
    """qsize 16 at line rate, the remote program passes nothing back (none): enqueue drops, skbs on CPU 1."""
    return _board()


@pytest.fixture(scope="module")
def remote_drop():
    """The kthread's program drops every frame: pages recycled from CPU 1."""
    return _board(remote="cpumap_drop", qsize=64)


@pytest.fixture(scope="module")
def paced():
    """One frame every 50 us: CPU 1's kthread sleeps between frames and is woken by each flush."""
    return _board(qsize=64, packets=300, rate=20_000)


def _recycled_by_hand(b):
    """{(cpu, kind): pages} from pp_recycle rows after the latest page_pool_create, counted row by row."""
    recs = trace_records(b.trace)
    last = max(i for i, x in enumerate(recs) if x["event"] == "pp_create")
    out = {}
    for x in recs[last:]:
        if x["event"] == "pp_recycle":
            out[(x["cpu"], x["c"])] = out.get((x["cpu"], x["c"]), 0) + 1
    return out


@pytest.mark.parametrize("which", ["line_rate", "remote_drop"])
def test_cpumap_state_ends_where_the_board_is(which, request):
    b = request.getfixturevalue(which)
    f = xw.frames_from_board(b)
    st = cpumap_state(f, {1: 16})
    cm = b.cpumap_stats()
    assert st.cpus == (1,)
    e = st.entry(f.n - 1, 1)
    assert (e["enq_processed"], e["enq_drops"], e["kt_processed"], e["kt_drops"], e["kt_sched"]) == \
        (cm["enqueue_processed"], cm["enqueue_drops"], cm["kthread_processed"], cm["kthread_drops"],
         cm["kthread_sched"])
    assert (e["kt_pass"], e["kt_drop"], e["kt_redirect"]) == (cm["xdp_pass"], cm["xdp_drop"], cm["xdp_redirect"])
    assert e["ring"] == cm["ring_count"] == 0 and st.ring[:, 0].max() == cm["ring_high"]
    # where the pages went, by kind: the sum over the CPUs is the pool's own page_pool_stats
    pp = b.page_pool_stats()
    rec = st.recycle[f.n - 1]
    assert rec[:, CACHE].sum() == pp["cached"] and rec[:, RING].sum() == pp["ring"]
    assert rec[:, 2].sum() == pp["released_refcnt"] and rec[:, 3].sum() == pp["ring_full"]
    # ... and by CPU, as counted here from the rows: CPU 1 never recycles into the alloc cache
    hand = _recycled_by_hand(b)
    for c in (0, 1):
        for k in range(4):
            assert rec[c, k] == hand.get((c, k), 0), (c, RECYCLE_KINDS[k])
    assert rec[1, CACHE] == 0
    assert rec[0, CACHE] == cm["enqueue_drops"]           # a full ring: xdp_return_frame_rx_napi on CPU 0
    assert (cm["enqueue_drops"] > 0) == (which == "line_rate") and (cm["xdp_drop"] > 0) == (which == "remote_drop")
    assert rec[1, RING] == cm["xdp_drop"]                  # the kthread's drops: the ptr_ring, from CPU 1
    assert rec[1, SKB] == cm["skbs"] == cm["pages_released"] and rec[0, SKB] == 0


def test_the_lesson_shows_in_the_recycle_table(remote_drop):
    b = remote_drop
    f = xw.frames_from_board(b)
    v = CpumapView(f, {1: 64})
    html_ = v.state_at(f.n - 1)[2][1]["value"]
    cm = b.cpumap_stats()
    assert cm["xdp_drop"] > 0 and cm["enqueue_drops"] == 0
    # the ptr_ring row: 0 on CPU 0, the kthread's drops on CPU 1; the alloc cache row: nothing from CPU 1
    assert f"<td style='text-align:left'>ptr_ring (spinlock)</td><td>0</td><td>{cm['xdp_drop']}</td>" in html_
    assert "<td style='text-align:left'>alloc cache (direct, lockless)</td><td>0</td><td>0</td>" in html_


def test_ring_fill_and_bulk_queue_follow_the_tracepoints(line_rate):
    """Replayed here row by row, independently: the fill the enqueue tracepoint reports, what the kthread
    took, and the bulk queue that each redirect fills and each enqueue tracepoint empties."""
    b = line_rate
    f = xw.frames_from_board(b)
    st = cpumap_state(f)
    recs = trace_records(b.trace)
    map_id = next(x["a"] for x in recs if x["event"] == "xdp_cpumap_enqueue")
    ring, bq, full_flushes = 0, 0, 0
    for i, x in enumerate(recs):
        if x["event"] == "xdp_cpumap_enqueue":
            assert x["cpu"] == 0 and x["d"] == 1
            ring += x["b"] - x["c"]
            assert ring == x["e"]                         # frames in the ring after the flush
            full_flushes += bq == 8
            bq = 0
        elif x["event"] == "xdp_cpumap_kthread":
            assert x["cpu"] == 1
            ring -= x["b"]
        elif x["event"] == "xdp_redirect" and x["d"] == map_id and x["c"] == 0:
            bq += 1
        assert st.ring[i, 0] == ring and st.bq[i, 0, 0] == bq and st.bq[i, 1, 0] == 0, i
    assert full_flushes > 0 and st.bq[:, 0, 0].max() == 8
    assert st.ring[:, 0].max() == 16                     # qsize 16 at line rate: the ring fills, frames drop


def test_cpu_load_matches_the_boards_clocks(paced):
    b = paced
    f = xw.frames_from_board(b)
    ls = cpu_load_state(f, wake_ns=board_wake_ns(b))
    view = ls.at(f.n - 1)
    board = b.cpu_load()
    # CPU 1 (the kthread): exact but for what it did before its first row; CPU 0: its tail after a poll's
    # last row counts as idle (the module's notes)
    assert view[1]["busy_ns"] == pytest.approx(board[1]["busy_ns"], rel=0.01)
    assert view[0]["busy_ns"] == pytest.approx(board[0]["busy_ns"], rel=0.04)
    assert view[0]["busy_ns"] > 1.5 * view[1]["busy_ns"]      # not the other CPU's
    # the kthread runs in process context, NAPI in softirq on CPU 0
    assert view[1]["softirq_ns"] == 0 and view[1]["process_ns"] == view[1]["kthread_ns"] > 0
    assert view[0]["softirq_ns"] > 0 and view[0]["kthread_ns"] == 0
    # CPU 1 slept between frames: its idle is most of the window, and what is binned adds up to the busy time
    assert view[1]["idle_ns"] > 5 * view[1]["busy_ns"]
    width = ls.bin_edges_ns[1] - ls.bin_edges_ns[0]
    in_window = ls.bin_busy[:, 1].sum() * width
    assert in_window == pytest.approx(view[1]["busy_ns"], rel=0.02)
    assert (ls.bin_busy >= 0).all() and (ls.bin_busy <= 1.0 + 1e-9).all()
    # cumulative, per frame: never decreasing, and CPU 1's moves only at CPU 1's rows
    busy1 = ls.busy[:, 1].sum(axis=1)
    assert (np.diff(busy1) >= 0).all()
    moved = np.flatnonzero(np.diff(busy1) > 0) + 1
    assert (f.ev[moved, 0] == 1).all()


def test_cpu_view_marks_the_current_frames_time(paced):
    f = xw.frames_from_board(paced)
    v = CpuView(f, board_wake_ns(paced))
    for i in (0, f.n // 3, f.n - 1):
        v.update(i)
        x = v.cursor.x
        assert x[0] == x[1] == pytest.approx(f.t_ns[i] / 1000.0, abs=v._span_us / 1000)
    st = v.state.at(f.n - 1)
    assert (f"<td>CPU 1</td><td>{round(st[1]['busy_ns'] / 1000)}</td><td>0</td>"
            f"<td>{round(st[1]['kthread_ns'] / 1000)}</td><td>0</td>") in v.table.value


def test_a_kthread_on_cpu_0_runs_in_process_context_between_polls():
    """cpus=(0,): the kthread shares CPU 0 with NAPI; its passes (between polls) are process context, and CPU 1
    never runs."""
    b = _board(qsize=64, packets=200, rate=200_000, cpus=(0,))
    f = xw.frames_from_board(b)
    ls = cpu_load_state(f, wake_ns=board_wake_ns(b))
    view = ls.at(f.n - 1)
    board = b.cpu_load()
    assert view[0]["busy_ns"] == pytest.approx(board[0]["busy_ns"], rel=0.04) and board[1]["busy_ns"] == 0
    assert view[0]["softirq_ns"] > 0 and view[0]["kthread_ns"] > 0 and view[1]["busy_ns"] == 0
    kt = f.ev[:, 1] == xw.frames.EV["xdp_cpumap_kthread"]
    assert ls.kthread_row[kt].all() and not ls.softirq_row[kt].any()
    assert not ls.kthread_row[f.ev[:, 1] == xw.frames.EV["xdp_run"]].any()    # the XDP program runs in NAPI
    assert "CPU 0 kthread" in CpuView(f).labels
    st = cpumap_state(f)
    assert st.cpus == (0,) and st.recycle[f.n - 1, 0, SKB] == b.cpumap_stats()["skbs"] > 0


@pytest.mark.parametrize("which", ["line_rate", "paced"])
def test_views_tracks_hold_what_state_at_says(which, request):
    """The stepper contract: each tracked trait, decoded as the page decodes it, is state_at(i) at every frame."""
    b = request.getfixturevalue(which)
    f = xw.frames_from_board(b)
    for v in (CpuView(f, board_wake_ns(b)), CpumapView(f, {1: 16})):
        tracks = {(t["model"], t["trait"]): decode_track(t) for t in v.tracks()}
        seen = set()
        for i in range(f.n):
            for w, traits in v.state_at(i):
                for trait, want in traits.items():
                    got = tracks[(w.model_id, trait)][i]
                    if isinstance(want, np.ndarray):
                        assert np.array_equal(np.asarray(got, want.dtype), want), (type(v).__name__, trait, i)
                    else:
                        assert got == want, (type(v).__name__, trait, i)
                    seen.add((w.model_id, trait))
        assert seen == set(tracks)


def test_lab_shows_the_cpumap_views_when_the_trace_has_cpumap(line_rate):
    lab = xw.Lab(line_rate, stepping="kernel")
    assert "cpus" in lab.views and "cpumap" in lab.views
    assert "redirect" not in lab.views          # redirects into the CPUMAP only: its own panel shows them
    assert lab.views["cpus"] in lab.player.views and lab.views["cpumap"] in lab.player.views
    assert lab.views["cpumap"].state.qsize == {1: 16}               # from the board
    i = lab.frames.next_frame(0, "xdp_cpumap_enqueue")
    lab.player.seek(i)
    assert lab.views["cpumap"].cursor.x[0] == pytest.approx(lab.frames.t_ns[i] / 1000.0,
                                                            abs=lab.views["cpumap"]._span_us / 1000)
    st = lab.views["cpumap"].state
    e = st.entry(i, 1)
    assert (f"<tr><td>xdp_cpumap_enqueue</td><td>processed {e['enq_processed']}, drops {e['enq_drops']}</td></tr>"
            in lab.views["cpumap"].table.value) and e["enq_processed"] > 0
    assert f"</span> {e['ring']} / 16</td></tr>" in lab.views["cpumap"].table.value
    # the kthread's program redirects back out of eth0: a device redirect, both panels
    back = _board(remote="cpumap_redirect", qsize=64, packets=200, rate=200_000)
    assert {"cpus", "cpumap", "redirect"} <= set(xw.Lab(back, stepping="kernel").views)
    plain = Board("drop", mode="python", trace=5000)
    plain.run(packets=50, rate=100_000)
    assert "cpus" not in xw.Lab(plain, stepping="kernel").views
