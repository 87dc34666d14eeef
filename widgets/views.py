"""The lab's views: one per kernel concept, each built once and updated in place.

Every view takes a :class:`~xdplab_widgets.frames.Frames` (the trace replayed
once into per-frame arrays), builds its bqplot marks and ipywidgets in the
constructor, and exposes ``.widget`` plus ``update(i)``.  ``update`` only indexes
the precomputed arrays and assigns traits inside ``hold_sync()`` so each widget
sends one message per frame.  Figures use ``animation_duration=0``: the
player's tick is the animation.
"""

from __future__ import annotations

import html

import bqplot as bq
import ipywidgets as W
import numpy as np

from xdplab.nic.mvneta import MVNETA_SKB_HEADROOM
from xdplab.nic.mvneta_hw import MVNETA_MH_SIZE
from xdplab.page_pool import PP_ALLOC_CACHE_REFILL, PP_ALLOC_CACHE_SIZE, PP_ETHTOOL_NAMES, PP_STAT_NAMES
from xdplab.xdp_abi import PAGE_SIZE, SKB_SHARED_INFO_SIZE, XDP_FRAME_SIZE

from .frames import (COUNTER_NAMES, DESC_PROCESSING, DESC_STATE_NAMES, NAPI_LISTINGS, Frames)

__all__ = ["RxRingView", "PagePoolView", "XdpBuffView", "NapiLoopView", "CountersView", "DESC_COLORS"]

#: colours of DESC_EMPTY, DESC_NIC, DESC_FILLED, DESC_PROCESSING, DESC_REFILL_FAILED
DESC_COLORS = ("#e8e8e8", "#6baed6", "#fd8d3c", "#d62728", "#636363")
_ACTION_NAMES = ("XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT", "invalid")


def _fig(marks, axes=(), title="", width="100%", height="300px", margin=None, **kw):
    return bq.Figure(marks=list(marks), axes=list(axes), title=title, animation_duration=0,
                     fig_margin=margin or dict(top=30, bottom=30, left=50, right=20),
                     layout=W.Layout(width=width, height=height), **kw)


def _swatches(names, colors):
    items = "".join(f'<span style="display:inline-block;margin-right:12px"><span style="display:inline-block;'
                    f'width:11px;height:11px;background:{c};border:1px solid #999;vertical-align:middle"></span> '
                    f'{html.escape(n)}</span>' for n, c in zip(names, colors))
    return W.HTML(f'<div style="font-size:12px">{items}</div>')


class RxRingView:
    """The RX descriptor ring (``struct mvneta_rx_queue``, 512 descriptors) as a 16 x 32 grid.

    Descriptor 0 is top left; the ring wraps from the bottom right back to it.
    Colour = who owns the descriptor: the NIC with a fresh buffer, the NIC's
    filled frame waiting for the CPU (``rx_busy``), the one ``mvneta_rx_swbm`` is
    processing, or empty (buffer taken) until ``mvneta_rx_refill_queue`` posts a
    new page.  Markers show the hardware write position and the driver's
    ``next_desc_to_proc`` and ``first_to_refill``.
    """

    POINTERS = ("NIC writes", "next_desc_to_proc", "first_to_refill")
    POINTER_COLORS = ("#000000", "#2ca02c", "#9467bd")

    def __init__(self, frames: Frames, cols: int = 32):
        self.frames = frames
        n = frames.rx_ring_size
        self.cols = cols
        self.rows = (n + cols - 1) // cols
        idx = np.arange(n)
        sx = bq.LinearScale(min=-0.5, max=cols - 0.5)
        sy = bq.LinearScale(min=-0.9, max=self.rows - 0.5, reverse=True)
        sc = bq.ColorScale(min=0, max=len(DESC_COLORS) - 1, colors=list(DESC_COLORS))
        self.grid = bq.Scatter(x=(idx % cols).astype(np.float32), y=(idx // cols).astype(np.float32),
                               color=frames.ring_state[0].astype(np.float32), marker="square", default_size=150,
                               stroke="white", stroke_width=0.5,
                               scales={"x": sx, "y": sy, "color": sc})
        self.pointers = bq.Scatter(x=np.zeros(3, np.float32), y=np.zeros(3, np.float32), marker="triangle-down",
                                   colors=list(self.POINTER_COLORS), default_size=70, stroke="white",
                                   scales={"x": sx, "y": sy})
        self.figure = _fig([self.grid, self.pointers], title="RX ring (rxq 0)", height="330px",
                           margin=dict(top=30, bottom=5, left=5, right=5))
        self.caption = W.HTML()
        self.legend = _swatches(DESC_STATE_NAMES + self.POINTERS, DESC_COLORS + self.POINTER_COLORS)
        self.widget = W.VBox([self.figure, self.legend, self.caption])
        self.update(0)

    def colors_at(self, i: int) -> np.ndarray:
        """Descriptor states at frame i with the processing overlay (float32, as sent to the figure)."""
        f = self.frames
        s = f.ring_state[i].astype(np.float32)
        p = int(f.proc_desc[i])
        if p >= 0:
            s[p] = DESC_PROCESSING
        return s

    def _xy(self, desc):
        return desc % self.cols, desc // self.cols

    def update(self, i: int):
        f = self.frames
        pos = np.array([f.hw_pos[i], f.next_desc_to_proc[i], f.first_to_refill[i]])
        x, y = self._xy(pos)
        # stack the markers above the cell when several pointers share a descriptor
        off = np.array([0.0, 0.0, 0.0])
        off[1] = 0.25 if pos[1] == pos[0] else 0.0
        off[2] = 0.25 * ((pos[2] == pos[0]) + (pos[2] == pos[1]))
        with self.grid.hold_sync():
            self.grid.color = self.colors_at(i)
        with self.pointers.hold_sync():
            self.pointers.x = x.astype(np.float32)
            self.pointers.y = (y - 0.45 - off).astype(np.float32)
        p = int(f.proc_desc[i])
        self.caption.value = (
            f'<div style="font-size:12px;font-family:monospace">rx_busy (filled, not yet processed) = '
            f'{int(f.rx_busy[i])} &nbsp; NIC writes desc {int(f.hw_pos[i])} &nbsp; next_desc_to_proc = '
            f'{int(f.next_desc_to_proc[i])} &nbsp; first_to_refill = {int(f.first_to_refill[i])}'
            f'{f" &nbsp; processing desc {p}" if p >= 0 else ""}</div>')


class PagePoolView:
    """page_pool (``net/core/page_pool.c``): where the pool's pages are, and its stats.

    Left, the in-softirq alloc cache: a stack of at most 128 pages
    (``PP_ALLOC_CACHE_SIZE``), refilled 64 at a time (``PP_ALLOC_CACHE_REFILL``)
    from the ptr_ring or, when that is empty, by a bulk allocation from the page
    allocator (the slow path).  Right, the ptr_ring (512 here) and the pages in
    flight: posted in RX descriptors, held by skbs after ``XDP_PASS``, or on the
    TX ring after ``XDP_TX``.  Beside them, ``struct page_pool_stats`` as counted
    from the trace, and what the pool took from and gave back to the page allocator.
    """

    BARS = ("ptr_ring", "in RX ring", "in skbs", "on TX ring")
    BAR_COLORS = ("#98df8a", "#6baed6", "#ff7f0e", "#9467bd")

    def __init__(self, frames: Frames, ptr_ring_size: int = 512):
        self.frames = frames
        f = frames
        # the alloc cache as a stack: one bar, 0..128, with the refill size marked
        sx_c = bq.OrdinalScale(domain=["alloc.cache"])
        sy_c = bq.LinearScale(min=0.0, max=float(PP_ALLOC_CACHE_SIZE))
        self.cache_bar = bq.Bars(x=["alloc.cache"], y=np.zeros(1, np.float32), colors=["#2ca02c"],
                                 scales={"x": sx_c, "y": sy_c}, padding=0.15)
        self.cache_refill = bq.Lines(x=np.array([-0.5, 0.5]), y=[PP_ALLOC_CACHE_REFILL] * 2, colors=["#555"],
                                     line_style="dashed", labels=["refill 64"], display_legend=False,
                                     scales={"x": bq.LinearScale(min=-0.5, max=0.5), "y": sy_c})
        self.cache_label = bq.Label(x=["alloc.cache"], y=np.zeros(1), text=["0"], y_offset=-6, align="middle",
                                    default_size=12, colors=["#222"], scales={"x": sx_c, "y": sy_c})
        ay_c = bq.Axis(scale=sy_c, side="left", tick_values=np.array([0, 32, 64, 96, 128]), label="pages")
        self.cache_figure = _fig([self.cache_bar, self.cache_refill, self.cache_label],
                                 [bq.Axis(scale=sx_c), ay_c], title="alloc cache",
                                 width="170px", height="300px", margin=dict(top=30, bottom=30, left=45, right=10))
        # everything else on one scale: the ptr_ring's and the RX ring's sizes bound it
        ymax = float(max(ptr_ring_size, f.rx_ring_size, int(f.pp_in_skb.max(initial=0)),
                         int(f.pp_on_tx_ring.max(initial=0))))
        sx = bq.OrdinalScale(domain=list(self.BARS))
        sy = bq.LinearScale(min=0.0, max=ymax * 1.08)
        self.bars = bq.Bars(x=list(self.BARS), y=np.zeros(len(self.BARS), np.float32), colors=list(self.BAR_COLORS),
                            scales={"x": sx, "y": sy}, padding=0.3)
        self.ring_cap = bq.Lines(x=np.array([-0.5, 0.5]), y=[ptr_ring_size] * 2, colors=["#333"],
                                 line_style="dashed", scales={"x": bq.LinearScale(min=-0.5, max=len(self.BARS) - 0.5),
                                                              "y": sy})
        self.labels = bq.Label(x=list(self.BARS), y=np.zeros(len(self.BARS)), text=[""] * len(self.BARS),
                               y_offset=-6, align="middle", default_size=12, colors=["#222"],
                               scales={"x": sx, "y": sy})
        ax = bq.Axis(scale=sx)
        ay = bq.Axis(scale=sy, side="left", label="pages", grid_lines="dashed")
        self.figure = _fig([self.bars, self.ring_cap, self.labels], [ax, ay], title="page_pool: ptr_ring and pages in flight",
                           height="300px")
        self.stats = W.HTML()
        self.widget = W.HBox([self.cache_figure, W.Box([self.figure], layout=W.Layout(flex="3")),
                              W.Box([self.stats], layout=W.Layout(flex="1", min_width="250px"))])
        self.update(0)

    def values_at(self, i: int) -> np.ndarray:
        """ptr_ring, in RX ring, in skbs, on TX ring at frame i."""
        f = self.frames
        return np.array([f.pp_ring[i], f.pp_on_rx_ring[i], f.pp_in_skb[i], f.pp_on_tx_ring[i]], np.float32)

    def update(self, i: int):
        f = self.frames
        v = self.values_at(i)
        c = float(f.pp_cache[i])
        with self.cache_bar.hold_sync():
            self.cache_bar.y = np.array([c], np.float32)
        with self.cache_label.hold_sync():
            self.cache_label.y = np.array([c])
            self.cache_label.text = np.array([str(int(c))])
        with self.bars.hold_sync():
            self.bars.y = v
        with self.labels.hold_sync():
            self.labels.y = v
            self.labels.text = np.array([str(int(x)) for x in v])
        s = f.pp_stats[i]
        rows = "".join(f"<tr><td>{'alloc' if k < 6 else 'recycle'} {n}</td><td align='right'>{int(s[k])}</td></tr>"
                       for k, n in enumerate(PP_STAT_NAMES))
        self.stats.value = (
            f'<div style="font-size:12px;font-family:monospace"><b>page_pool_stats</b><table>{rows}</table>'
            f'in flight (hold - release): {int(f.pp_inflight[i])}<br>'
            f'page allocator: {int(f.pages_from_allocator[i])} pages taken (slow path, 64 a time), '
            f'{int(f.pages_to_allocator[i])} given back</div>')


class XdpBuffView:
    """The current packet's ``struct xdp_buff`` in its 4096-byte page (mvneta, order-0 pages).

    From ``data_hard_start``: the 40 bytes an ``xdp_frame`` takes if the packet
    is converted (``XDP_TX``/``XDP_REDIRECT``), the rest of the 256-byte
    headroom (``XDP_PACKET_HEADROOM``), the 2-byte Marvell header the NIC writes
    before the frame, ``data``..``data_end`` (moved by ``bpf_xdp_adjust_head`` /
    ``bpf_xdp_adjust_tail``), the tailroom, and the 320-byte
    ``skb_shared_info`` that ``build_skb`` needs at the end of the page.  The
    top figure is the whole page, the bottom one zooms on its first bytes.
    """

    SEGMENTS = ("xdp_frame (40 B)", "headroom", "Marvell header (2 B)", "data_meta", "data..data_end", "tailroom",
                "skb_shared_info (320 B)")
    SEG_COLORS = ("#9467bd", "#dadaeb", "#8c564b", "#e377c2", "#d62728", "#c6dbef", "#7f7f7f")
    STAGES = ("between packets", "mvneta_swbm_rx_frame: synced for the CPU, xdp_buff prepared",
              "bpf_prog_run_xdp: the program runs", "verdict returned", "build_skb (XDP_PASS / no program)")
    ZOOM = 640

    def __init__(self, frames: Frames):
        self.frames = frames
        k = len(self.SEGMENTS)
        y = np.tile(np.array([0.25, 0.25, 0.75, 0.75, 0.25], np.float32), (k, 1))
        self.rects, self.marks, figs = [], [], []
        end_hard = PAGE_SIZE - SKB_SHARED_INFO_SIZE
        for title, hi, ticks in (("xdp_buff: the page", PAGE_SIZE, [0, 256, 1024, 2048, 3072, end_hard, PAGE_SIZE]),
                                 (f"first {self.ZOOM} bytes", self.ZOOM, [0, 40, 128, 256, 384, 512, self.ZOOM])):
            sx = bq.LinearScale(min=0.0, max=float(hi))
            sy = bq.LinearScale(min=0.0, max=1.0)
            r = bq.Lines(x=np.zeros((k, 5), np.float32), y=y, fill="inside", colors=list(self.SEG_COLORS),
                         fill_colors=list(self.SEG_COLORS), fill_opacities=[0.85] * k, stroke_width=1,
                         scales={"x": sx, "y": sy})
            m = bq.Label(x=np.zeros(3), y=np.array([0.82, 0.05, 0.82]), text=["data", "data_end", "data_meta"],
                         default_size=11, align="middle", colors=["#000"], scales={"x": sx, "y": sy})
            ax = bq.Axis(scale=sx, tick_values=np.array(ticks, float), tick_format="d")
            figs.append(_fig([r, m], [ax], title=title, height="130px",
                             margin=dict(top=25, bottom=25, left=25, right=25)))
            self.rects.append(r)
            self.marks.append(m)
        self.figure, self.zoom_figure = figs
        self.legend = _swatches(self.SEGMENTS, self.SEG_COLORS)
        self.caption = W.HTML()
        self.widget = W.VBox([self.figure, self.zoom_figure, self.legend, self.caption])
        self.update(0)

    @staticmethod
    def _rect(x0, x1):
        return [x0, x1, x1, x0, x0]

    def segments_at(self, i: int):
        """(start, end) byte offsets of each of SEGMENTS at frame i (empty segments have start == end)."""
        f = self.frames
        hs = 0                                   # mvneta: data_hard_start is the page start
        end_hard = PAGE_SIZE - SKB_SHARED_INFO_SIZE
        if f.xb_stage[i] == 0:
            z = [(0, 0)] * len(self.SEGMENTS)
            z[-1] = (end_hard, PAGE_SIZE)
            return z
        data, data_end = int(f.xb_data[i]), int(f.xb_data_end[i])
        meta = int(f.xb_data_meta[i])
        meta_seg = (meta, data) if meta <= data else (data, data)     # data_meta > data: no metadata
        frame_end = hs + XDP_FRAME_SIZE
        head_end = max(frame_end, min(data, meta_seg[0]))
        mh0 = hs + MVNETA_SKB_HEADROOM
        mh1 = mh0 + MVNETA_MH_SIZE
        # the Marvell header stays where the NIC wrote it until the program moves data over it
        mh = (mh0, mh1) if meta_seg[0] >= mh1 else (mh0, mh0)
        # drawn in this order: later segments cover earlier ones
        return [(hs, frame_end), (frame_end, head_end), mh, meta_seg, (data, data_end), (data_end, end_hard),
                (end_hard, PAGE_SIZE)]

    def update(self, i: int):
        f = self.frames
        seg = self.segments_at(i)
        xs = np.array([self._rect(a, b) for a, b in seg], np.float32)
        st = int(f.xb_stage[i])
        data, data_end = int(f.xb_data[i]), int(f.xb_data_end[i])
        meta = int(f.xb_data_meta[i])
        # labels: data above, data_end below (they are often a few pixels apart), data_meta only when valid
        lx = np.array([data, data_end, meta if meta < data else -1000], np.float32) if st else \
            np.full(3, -1000, np.float32)
        for r, m in zip(self.rects, self.marks):
            with r.hold_sync():
                r.x = xs
            with m.hold_sync():
                m.x = lx
        act = int(f.xb_action[i])
        verdict = f" &nbsp; verdict: <b>{_ACTION_NAMES[act]}</b>" if st >= 3 and act >= 0 else ""
        txt = (f"page {int(f.xb_page[i])}: headroom = data - data_hard_start = {data} B, "
               f"len = data_end - data = {data_end - data} B, "
               f"tailroom = {PAGE_SIZE - SKB_SHARED_INFO_SIZE - data_end} B" if st
               else "no packet in the driver's hands")
        self.caption.value = (f'<div style="font-size:12px;font-family:monospace">{self.STAGES[st]}{verdict}<br>'
                              f'{txt}</div>')


class NapiLoopView:
    """The NAPI RX loop as code, the line being executed lit, and the budget left.

    Left: the talk's generic driver loop (``while (desc_in_rx_ring &&
    budget_left--)``); right: what mvneta does in Linux 6.1
    (``mvneta_rx_swbm``).  ``budget`` is NAPI's weight (64), ``rx_todo`` what
    ``mvneta_rxq_busy_desc_num_get`` read, ``rx_proc`` the descriptors taken so
    far in this poll.
    """

    #: lines of each listing shown at once (a window that follows the lit line); None = all
    WINDOW = {"talk": None, "mvneta_rx_swbm": 24}
    TITLES = {"talk": "the talk's driver loop", "mvneta_rx_swbm": "mvneta_rx_swbm() (Linux 6.1)"}

    def __init__(self, frames: Frames, listings=("talk", "mvneta_rx_swbm")):
        self.frames = frames
        self.listings = tuple(listings)
        # every (listing, lit line) rendered once; update() only picks one string
        self._html = {name: self._render(name) for name in self.listings}
        self.code = {name: W.HTML() for name in self.listings}
        self.budget = W.IntProgress(min=0, max=64, description="budget left", style={"bar_color": "#2ca02c"})
        self.status = W.HTML()
        boxes = [W.VBox([W.HTML(f"<b>{self.TITLES.get(n, n)}</b>"), self.code[n]],
                        layout=W.Layout(overflow="auto")) for n in self.listings]
        self.widget = W.VBox([W.HBox([self.budget, self.status]), *boxes])
        self.update(0)

    def _render(self, name):
        src = NAPI_LISTINGS[name][0]
        esc = [html.escape(s.replace("\t", "    ")) for s in src]
        win = self.WINDOW.get(name) or len(src)
        pages = []
        for lit in range(-1, len(src)):
            lo = min(max(0, lit - win // 3), max(0, len(src) - win))
            rows = []
            for k in range(lo, min(len(src), lo + win)):
                num = f'<span style="color:#999">{k + 1:3d} </span>'
                body = (f'<span style="background:#ffe066;font-weight:bold">{esc[k]}</span>' if k == lit
                        else esc[k])
                rows.append(num + body)
            pages.append('<pre style="font-size:11px;line-height:1.3;margin:0;white-space:pre;overflow-x:auto">'
                         + "\n".join(rows) + "</pre>")
        return pages

    def lit_line(self, name: str, i: int) -> int:
        return int(self.frames.napi_line[name][i])

    def update(self, i: int):
        f = self.frames
        for name in self.listings:
            v = self._html[name][self.lit_line(name, i) + 1]
            if self.code[name].value != v:
                self.code[name].value = v
        budget = int(f.budget[i])
        left = budget - int(f.rx_proc[i])
        with self.budget.hold_sync():
            self.budget.max = max(budget, 1)
            self.budget.value = max(left, 0)
        self.status.value = (f'<span style="font-family:monospace;font-size:12px">poll #{int(f.poll_index[i])}: '
                             f'budget {budget}, rx_todo {int(f.rx_todo[i])}, rx_proc {int(f.rx_proc[i])}, '
                             f'budget left {left}</span>')


class CountersView:
    """``ethtool -S eth0`` (mvneta's XDP counters and page_pool's ``rx_pp_*``) and throughput over simulated time.

    The counters are counted from the trace at the current frame; the plot
    shows frames received by the NIC, frames the XDP program handled, and frames
    the NIC discarded because no descriptor was free, per second of simulated
    time, with the current frame's time marked.
    """

    MVNETA = ("good_frames_received", "rx_discard", "rx_packets", "rx_xdp_drop", "rx_xdp_pass", "rx_xdp_tx",
              "rx_xdp_tx_errors", "rx_xdp_redirect", "refill_errors")
    SHOWN = MVNETA + PP_ETHTOOL_NAMES

    def __init__(self, frames: Frames):
        self.frames = frames
        f = frames
        self._cols = np.array([COUNTER_NAMES.index(k) for k in self.SHOWN])
        self.table = W.HTML()
        ymax = float(max(f.tp_rx_pps.max(initial=0), f.tp_xdp_pps.max(initial=0), f.tp_discard_pps.max(initial=0),
                         1.0)) * 1.1 / 1e6
        sx = bq.LinearScale(min=float(f.tp_t_us[0]), max=float(f.tp_t_us[-1]))
        sy = bq.LinearScale(min=0.0, max=ymax)
        self.lines = bq.Lines(x=f.tp_t_us, y=np.vstack([f.tp_rx_pps, f.tp_xdp_pps, f.tp_discard_pps]) / 1e6,
                              colors=["#1f77b4", "#d62728", "#7f7f7f"], labels=["NIC rx", "XDP verdicts", "rx_discard"],
                              display_legend=True, scales={"x": sx, "y": sy})
        self.cursor = bq.Lines(x=np.array([f.t_ns[0] / 1000] * 2), y=np.array([0.0, ymax]), colors=["#000"],
                               line_style="dashed", scales={"x": sx, "y": sy})
        ax = bq.Axis(scale=sx, label="simulated time (us)", num_ticks=6, tick_format=".0f")
        ay = bq.Axis(scale=sy, side="left", label="Mpps", num_ticks=5, tick_format=".2f")
        self.figure = _fig([self.lines, self.cursor], [ax, ay], title="throughput (while frames arrive)",
                           height="260px", legend_location="top-right")
        self.widget = W.HBox([W.Box([self.table], layout=W.Layout(min_width="470px")),
                              W.Box([self.figure], layout=W.Layout(flex="1"))])
        self.update(0)

    def values_at(self, i: int) -> dict:
        return dict(zip(self.SHOWN, (int(x) for x in self.frames.counters[i, self._cols])))

    def update(self, i: int):
        f = self.frames
        v = self.values_at(i)

        def table(keys):
            return "<table>" + "".join(f"<tr><td>{k}</td><td align='right'>{v[k]}</td></tr>" for k in keys) + \
                "</table>"
        self.table.value = (f'<div style="font-size:12px;font-family:monospace"><b>ethtool -S eth0</b>'
                            f'<div style="display:flex;gap:14px">{table(self.MVNETA)}{table(PP_ETHTOOL_NAMES)}'
                            f'</div></div>')
        t = float(f.t_ns[i]) / 1000.0
        with self.cursor.hold_sync():
            self.cursor.x = np.array([t, t])
