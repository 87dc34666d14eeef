"""The lab's views: one per kernel concept, each built once and updated in place.

Every view takes a :class:`~xdplab_widgets.frames.Frames` (the trace replayed
once into per-frame arrays), builds its bqplot marks and ipywidgets in the
constructor, and exposes ``.widget`` plus ``update(i)``.  ``update`` only indexes
the precomputed arrays and sends what changed: a trait whose value is the one
already on screen is not sent again, and a mark's traits go in one message
(``hold_sync``).  Figures use ``animation_duration=0``: the player's tick is the
animation.

Sizes are chosen so that the four views of the RX path (ring, code, xdp_buff,
page_pool) fit together on a 1366x768 screen (``Lab``); every figure has a
minimum width, so that its plot area is never negative when it is first drawn.
"""

from __future__ import annotations

import html

import bqplot as bq
import ipywidgets as W
import numpy as np

from xdplab.nic.mvneta import MVNETA_SKB_HEADROOM
from xdplab.nic.mvneta_hw import MVNETA_MH_SIZE, MVNETA_RXD_FIRST_DESC, MVNETA_RXD_LAST_DESC
from xdplab.page_pool import PP_ALLOC_CACHE_REFILL, PP_ALLOC_CACHE_SIZE, PP_ETHTOOL_NAMES, PP_STAT_NAMES
from xdplab.xdp_abi import PAGE_SIZE, SKB_SHARED_INFO_SIZE, XDP_FRAME_SIZE

from .stepper import track
from .frames import (CODE_LISTINGS, COUNTER_NAMES, CTX_NAPI, CTX_SETUP, DESC_PROCESSING, DESC_STATE_NAMES,
                     NAPI_LISTINGS, Frames)

__all__ = ["RxRingView", "PagePoolView", "XdpBuffView", "NapiLoopView", "CodeView", "CountersView", "DESC_COLORS",
           "TxRingView", "TX_COLORS"]

#: colours of DESC_EMPTY, DESC_NIC, DESC_FILLED, DESC_PROCESSING, DESC_REFILL_FAILED
DESC_COLORS = ("#e8e8e8", "#6baed6", "#fd8d3c", "#d62728", "#636363")
_ACTION_NAMES = ("XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT", "invalid")
_TEXT = "font-size:12px;line-height:1.35"
_MONO = "font-family:monospace;font-size:12px;line-height:1.35"


def _fig(marks, axes=(), width="100%", height="300px", min_width="240px", margin=None, **kw):
    # no bqplot title (it needs a top margin): panels carry an HTML title.  min_width: a figure
    # narrower than its margins would draw its plot area with a negative width (a console error);
    # margin 0: width 100% plus the widgets' default 2 px margins would overflow its panel
    return bq.Figure(marks=list(marks), axes=list(axes), animation_duration=0,
                     fig_margin=margin or dict(top=10, bottom=25, left=45, right=10),
                     layout=W.Layout(width=width, height=height, min_width=min_width, margin="0"), **kw)


def _title(text):
    return W.HTML(f'<div style="font-size:13px;font-weight:bold;white-space:nowrap">{text}</div>')


def _swatches(names, colors):
    items = "".join(f'<span style="display:inline-block;margin-right:10px;white-space:nowrap"><span style="'
                    f'display:inline-block;width:10px;height:10px;background:{c};border:1px solid #999;'
                    f'vertical-align:middle"></span> {html.escape(n)}</span>' for n, c in zip(names, colors))
    return W.HTML(f'<div style="font-size:11px;line-height:1.4">{items}</div>')


class _Sent:
    """What each trait already shows, so that an update sends only what changed.

    ``silent``: the page applies the values itself (a player stepping in the browser, ``stepper.py``):
    the traits are set in Python and nothing is sent.
    """

    def __init__(self):
        self._last = {}
        self.silent = False

    def set(self, widget, **traits):
        """Assign the traits of ``widget`` that differ from what it shows, in one message."""
        key = id(widget)
        last = self._last.setdefault(key, {})
        todo = {}
        for name, value in traits.items():
            old = last.get(name, _MISSING)
            if old is _MISSING or not _same(old, value):
                todo[name] = value
        if not todo:
            return False
        with widget.hold_sync():
            for name, value in todo.items():
                setattr(widget, name, value)
                last[name] = value.copy() if isinstance(value, np.ndarray) else value
            if self.silent:
                # what hold_sync would send on exit: the page already shows it
                widget._states_to_send.clear()
        return True


def _record(state_at, n):
    """[(widget, trait, [value at frame 0, 1, ..., n-1])] from ``state_at(i)`` for every frame."""
    cols = {}
    for i in range(n):
        for w, traits in state_at(i):
            for name, v in traits.items():
                c = cols.get((id(w), name))
                if c is None:
                    c = cols[(id(w), name)] = (w, name, [None] * n)
                c[2][i] = v
    return list(cols.values())


class _View:
    """What every view has: ``state_at(i)`` says what its widgets show at frame i (a function of i
    alone), ``update(i)`` puts it on screen, ``tracks()`` gives it for every frame (``stepper.track``)."""

    def state_at(self, i: int):
        raise NotImplementedError

    def update(self, i: int):
        for w, traits in self.state_at(i):
            self._sent.set(w, **traits)

    def tracks(self) -> list:
        return [track(w, name, vals) for w, name, vals in _record(self.state_at, self.frames.n)]


_MISSING = object()


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and bool(np.array_equal(a, b))
    return a == b


class RxRingView(_View):
    """The RX descriptor ring (``struct mvneta_rx_queue``, 512 descriptors) as a 16 x 32 grid.

    Descriptor 0 is top left; the ring wraps from the bottom right back to it.
    Colour = who owns the descriptor: the NIC with a fresh buffer, the NIC's
    filled frame waiting for the CPU (``rx_busy``), the one ``mvneta_rx_swbm`` is
    processing, or empty (buffer taken, or given back by ``mvneta_rxq_drop_pkts``
    when the port stops) until ``mvneta_rx_refill`` posts a new page.  Markers
    show the hardware write position and the driver's ``next_desc_to_proc`` and
    ``first_to_refill``.
    """

    POINTERS = ("NIC writes", "next_desc_to_proc", "first_to_refill")
    POINTER_COLORS = ("#000000", "#2ca02c", "#9467bd")

    def __init__(self, frames: Frames, cols: int = 32, height: str = "178px"):
        self.frames = frames
        self._sent = _Sent()
        n = frames.rx_ring_size
        self.cols = cols
        self.rows = (n + cols - 1) // cols
        idx = np.arange(n)
        sx = bq.LinearScale(min=-0.5, max=cols - 0.5, allow_padding=False)
        sy = bq.LinearScale(min=-0.9, max=self.rows - 0.5, reverse=True, allow_padding=False)
        sc = bq.ColorScale(min=0, max=len(DESC_COLORS) - 1, colors=list(DESC_COLORS))
        # one mark per row of the grid: an event changes one or two descriptors, and only their rows are
        # sent and restyled (one mark of 512 markers restyled all 512 on every step)
        state0 = frames.ring_state[0].astype(np.float32)
        self.row_marks = [
            bq.Scatter(x=(idx[r * cols:(r + 1) * cols] % cols).astype(np.float32),
                       y=np.full(min(cols, n - r * cols), r, np.float32), color=state0[r * cols:(r + 1) * cols],
                       marker="square", default_size=80, stroke="white", stroke_width=0.5,
                       scales={"x": sx, "y": sy, "color": sc})
            for r in range(self.rows)]
        self.pointers = bq.Scatter(x=np.zeros(3, np.float32), y=np.zeros(3, np.float32), marker="triangle-down",
                                   colors=list(self.POINTER_COLORS), default_size=45, stroke="white",
                                   scales={"x": sx, "y": sy})
        self.figure = _fig(self.row_marks + [self.pointers], height=height, min_width="300px",
                           margin=dict(top=2, bottom=2, left=2, right=2))
        self.caption = W.HTML()
        self.caption.add_class("xdplab-ring-caption")
        self.legend = _swatches(DESC_STATE_NAMES + self.POINTERS, DESC_COLORS + self.POINTER_COLORS)
        self.widget = W.VBox([_title(f"RX ring (rxq 0, {n} descriptors)"), self.caption, self.figure, self.legend],
                             layout=W.Layout(min_width="0"))
        self.update(0)

    @property
    def shown_colors(self) -> np.ndarray:
        """The descriptor states on screen (the rows' marks end to end)."""
        return np.concatenate([m.color for m in self.row_marks])

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

    def _rest_at(self, i: int):
        """The pointers and the caption at frame i."""
        f = self.frames
        pos = np.array([f.hw_pos[i], f.next_desc_to_proc[i], f.first_to_refill[i]])
        x, y = self._xy(pos)
        # stack the markers above the cell when several pointers share a descriptor
        off = np.array([0.0, 0.0, 0.0])
        off[1] = 0.25 if pos[1] == pos[0] else 0.0
        off[2] = 0.25 * ((pos[2] == pos[0]) + (pos[2] == pos[1]))
        p = int(f.proc_desc[i])
        return [(self.pointers, {"x": x.astype(np.float32), "y": (y - 0.45 - off).astype(np.float32)}),
                (self.caption, {"value": (
                    f'<div style="{_MONO}">rx_busy {int(f.rx_busy[i])} &middot; NIC writes {int(f.hw_pos[i])} '
                    f'&middot; next_desc_to_proc {int(f.next_desc_to_proc[i])} &middot; first_to_refill '
                    f'{int(f.first_to_refill[i])}{f" &middot; processing desc {p} ({self.desc_kind(i)})" if p >= 0 else ""}'
                    f'</div>')})]

    def state_at(self, i: int):
        colors = self.colors_at(i)
        return [(mark, {"color": colors[r * self.cols:(r + 1) * self.cols]}) for r, mark in enumerate(self.row_marks)] \
            + self._rest_at(i)

    def tracks(self) -> list:
        # the rows vectorised: each row's distinct states over the trace, one index per frame
        f = self.frames
        st = np.array(f.ring_state, np.int8, copy=True)
        hit = np.flatnonzero(f.proc_desc >= 0)
        st[hit, f.proc_desc[hit]] = DESC_PROCESSING
        out = []
        for r, mark in enumerate(self.row_marks):
            block = np.ascontiguousarray(st[:, r * self.cols:(r + 1) * self.cols])
            # a row changes at a few events: its distinct states from the frames where it changed
            chg = np.r_[True, np.any(block[1:] != block[:-1], axis=1)]
            seen, uniq, of_run = {}, [], []
            for j in np.flatnonzero(chg):
                k = seen.setdefault(block[j].tobytes(), len(uniq))
                if k == len(uniq):
                    uniq.append(block[j].astype(np.float32))
                of_run.append(k)
            index = np.asarray(of_run, np.int64)[np.cumsum(chg) - 1]
            out.append(track(mark, "color", (uniq, index)))
        return out + [track(w, name, vals) for w, name, vals in _record(self._rest_at, f.n)]

    def desc_kind(self, i: int) -> str:
        """Where the descriptor being processed at frame i sits in its frame: FIRST, LAST, FIRST+LAST (a
        one-buffer frame) or a middle buffer of a multi-buffer frame (from rx_desc->status)."""
        st = int(self.frames.proc_status[i])
        first, last = bool(st & MVNETA_RXD_FIRST_DESC), bool(st & MVNETA_RXD_LAST_DESC)
        return "FIRST+LAST" if first and last else "FIRST" if first else "LAST" if last else "middle"


class PagePoolView(_View):
    """page_pool (``net/core/page_pool.c``): where the RX queue's pool keeps its pages, and its stats.

    Bars: the in-softirq alloc cache (at most 128 pages, ``PP_ALLOC_CACHE_SIZE``,
    refilled 64 at a time, ``PP_ALLOC_CACHE_REFILL``, from the ptr_ring or, when
    that is empty, by a bulk allocation from the page allocator: the slow path),
    the ptr_ring (its size dashed), and the pages in flight: posted in RX
    descriptors, held by skbs after ``XDP_PASS``, on the TX ring after ``XDP_TX``.
    The table gives each pool's ``struct page_pool_stats`` (what
    ``page_pool_get_stats`` reads for it) and the pages it took from and gave
    back to the page allocator: the RX queue's pool, and the one before it (a
    port restart destroys a pool and creates a new one, whose stats start at 0).
    """

    BARS = ("cache", "ptr_ring", "RX ring", "skbs", "TX ring")
    BAR_COLORS = ("#2ca02c", "#98df8a", "#6baed6", "#ff7f0e", "#9467bd")

    def __init__(self, frames: Frames, ptr_ring_size: int | None = None, height: str = "185px"):
        self.frames = frames
        self._sent = _Sent()
        f = frames
        if ptr_ring_size is None:
            ptr_ring_size = max((p.ring_size for p in f.pools), default=0) or f.rx_ring_size
        self.ptr_ring_size = int(ptr_ring_size)
        self._tables = {}
        ymax = float(max(self.ptr_ring_size, f.rx_ring_size, int(f.pp_in_skb.max(initial=0)),
                         int(f.pp_on_tx_ring.max(initial=0)), int(f.pp_ring.max(initial=0)), PP_ALLOC_CACHE_SIZE))
        k = len(self.BARS)
        sx = bq.OrdinalScale(domain=list(self.BARS))
        sy = bq.LinearScale(min=0.0, max=ymax * 1.12, allow_padding=False)
        self.bars = bq.Bars(x=list(self.BARS), y=np.zeros(k, np.float32), colors=list(self.BAR_COLORS),
                            scales={"x": sx, "y": sy}, padding=0.25, label_display=True,
                            label_display_format=".0f", label_display_vertical_offset=-4,
                            label_font_style={"font-size": "11px"})
        # capacities: the alloc cache (128) with its refill size (64), the ptr_ring
        lx = bq.LinearScale(min=-0.5, max=k - 0.5, allow_padding=False)
        self.caps = bq.Lines(x=np.array([[-0.45, 0.45], [-0.45, 0.45], [0.55, 1.45]]),
                             y=np.array([[PP_ALLOC_CACHE_SIZE] * 2, [PP_ALLOC_CACHE_REFILL] * 2,
                                         [self.ptr_ring_size] * 2], float),
                             colors=["#333", "#999", "#333"], line_style="dashed", scales={"x": lx, "y": sy})
        ax = bq.Axis(scale=sx, tick_style={"font-size": "10px"})
        step = 128 if ymax <= 1024 else 512
        ay = bq.Axis(scale=sy, side="left", label="pages", grid_lines="dashed", tick_format="d",
                     tick_values=np.arange(0, ymax * 1.12, step, dtype=float), tick_style={"font-size": "10px"})
        self.figure = _fig([self.bars, self.caps], [ax, ay], height=height, min_width="215px",
                           margin=dict(top=14, bottom=22, left=42, right=6))
        self.stats = W.HTML()
        self.stats.add_class("xdplab-pp")
        self.caption = W.HTML()
        self.caption.add_class("xdplab-pp-caption")
        self.widget = W.VBox([
            _title("page_pool of rxq 0"),
            W.HBox([W.Box([self.figure], layout=W.Layout(flex="1 1 auto", min_width="215px")),
                    W.Box([self.stats], layout=W.Layout(flex="0 0 auto"))]),
            self.caption], layout=W.Layout(min_width="0"))
        self.update(0)

    def values_at(self, i: int) -> np.ndarray:
        """alloc cache, ptr_ring, in RX ring, in skbs, on TX ring at frame i."""
        f = self.frames
        return np.array([f.pp_cache[i], f.pp_ring[i], f.pp_on_rx_ring[i], f.pp_in_skb[i], f.pp_on_tx_ring[i]],
                        np.float32)

    def pools_shown(self, i: int):
        """The pools the table shows at frame i: the RX queue's (if any), then the latest other one."""
        f = self.frames
        met = [p for p in f.pools if p.created <= i]
        cur = f.rxq_pool_at(i)
        shown = [cur] if cur is not None else []
        others = [p for p in met if p is not cur]
        if others:
            shown.append(others[-1])
        return shown[:2]

    def _table(self, i: int) -> str:
        pools = self.pools_shown(i)
        head = "".join(
            f'<th style="text-align:right;padding-left:10px">pool {p.number}<br><span style="font-weight:normal">'
            f'{"rxq 0" if p.alive(i) else "destroyed"}</span></th>' for p in pools)
        st = [p.stats_at(i) for p in pools]
        pages = [p.pages_at(i) for p in pools]
        rows = []
        for k, name in enumerate(PP_STAT_NAMES):
            # the group (alloc_stats / recycle_stats) as one narrow column down the side
            group = (f'<td rowspan="{6 if k == 0 else 5}" style="writing-mode:vertical-rl;transform:rotate(180deg);'
                     f'color:#777;padding:0">{"alloc" if k == 0 else "recycle"}</td>') if k in (0, 6) else ""
            sep = ' style="border-top:1px solid #ddd"' if k == 6 else ""
            rows.append(f"<tr{sep}>{group}<td>{name}</td>" + "".join(
                f"<td align='right'>{s[name]}</td>" for s in st) + "</tr>")
        for label, j in (("from allocator", 0), ("given back", 1), ("in flight", 2)):
            sep = ' style="border-top:1px solid #bbb"' if j == 0 else ""
            rows.append(f"<tr{sep}><td colspan='2'>{label}</td>" + "".join(
                f"<td align='right'>{pg[j]}</td>" for pg in pages) + "</tr>")
        if not pools:
            head = '<th style="text-align:right;padding-left:10px">no pool yet</th>'
        return (f'<style>.xdplab-pp td, .xdplab-pp th {{padding:0 0 0 4px}}</style>'
                f'<table style="font-family:monospace;font-size:11px;line-height:1.15;border-collapse:collapse">'
                f'<tr><th colspan="2" style="text-align:left">page_pool<br>_stats</th>{head}</tr>{"".join(rows)}</table>')

    def _table_at(self, i: int) -> str:
        # the table changes only with its pools' own events: built once per distinct state
        key = tuple((p.number, p._at(i), p.alive(i)) for p in self.pools_shown(i))
        s = self._tables.get(key)
        if s is None:
            s = self._tables[key] = self._table(i)
        return s

    def state_at(self, i: int):
        f = self.frames
        cur = f.rxq_pool_at(i)
        if cur is None:
            cap = "rxq 0 holds no pool: the port is down (mvneta_stop destroyed it)" if f.pools else "no pool yet"
        else:
            born = "before the trace began" if cur.created < 0 else f"created at event {cur.created}"
            cap = (f"pool {cur.number} ({born}): cache &le; {PP_ALLOC_CACHE_SIZE} (dashed; grey: refill "
                   f"{PP_ALLOC_CACHE_REFILL}), ptr_ring of {cur.ring_size or self.ptr_ring_size} (dashed)")
        return [(self.bars, {"y": self.values_at(i)}), (self.stats, {"value": self._table_at(i)}),
                (self.caption, {"value": f'<div style="font-size:11px;line-height:1.3">{cap}</div>'})]


class XdpBuffView(_View):
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

    def __init__(self, frames: Frames, height: str = "55px"):
        self.frames = frames
        self._sent = _Sent()
        k = len(self.SEGMENTS)
        y = np.tile(np.array([0.2, 0.2, 0.8, 0.8, 0.2], np.float32), (k, 1))
        self.rects, self.marks, figs = [], [], []
        for hi, ticks in ((PAGE_SIZE, [0, 256, 1024, 2048, 3072, PAGE_SIZE]),
                          (self.ZOOM, [0, 40, 128, 256, 384, 512, self.ZOOM])):
            sx = bq.LinearScale(min=0.0, max=float(hi), allow_padding=False)
            sy = bq.LinearScale(min=0.0, max=1.0, allow_padding=False)
            r = bq.Lines(x=np.zeros((k, 5), np.float32), y=y, fill="inside", colors=list(self.SEG_COLORS),
                         fill_colors=list(self.SEG_COLORS), fill_opacities=[0.85] * k, stroke_width=1,
                         scales={"x": sx, "y": sy})
            m = bq.Label(x=np.zeros(3), y=np.array([0.83, 0.02, 0.83]), text=["data", "data_end", "data_meta"],
                         default_size=10, align="middle", colors=["#000"], scales={"x": sx, "y": sy})
            ax = bq.Axis(scale=sx, tick_values=np.array(ticks, float), tick_format="d",
                         tick_style={"font-size": "10px"})
            figs.append(_fig([r, m], [ax], height=height, min_width="280px",
                             margin=dict(top=4, bottom=18, left=16, right=16)))
            self.rects.append(r)
            self.marks.append(m)
        self.figure, self.zoom_figure = figs
        self.legend = _swatches(self.SEGMENTS, self.SEG_COLORS)
        self.caption = W.HTML()
        self.caption.add_class("xdplab-xdp-caption")
        self.widget = W.VBox([_title(f"xdp_buff: the page, then its first {self.ZOOM} bytes"), self.figure,
                              self.zoom_figure, self.legend, self.caption], layout=W.Layout(min_width="0"))
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

    def state_at(self, i: int):
        f = self.frames
        seg = self.segments_at(i)
        xs = np.array([self._rect(a, b) for a, b in seg], np.float32)
        st = int(f.xb_stage[i])
        data, data_end = int(f.xb_data[i]), int(f.xb_data_end[i])
        meta = int(f.xb_data_meta[i])
        # labels: data above, data_end below (they are often a few pixels apart), data_meta only when valid
        lx = np.array([data, data_end, meta if meta < data else -1000], np.float32) if st else \
            np.full(3, -1000, np.float32)
        act = int(f.xb_action[i])
        verdict = f" &middot; verdict <b>{_ACTION_NAMES[act]}</b>" if st >= 3 and act >= 0 else ""
        txt = (f"page {int(f.xb_page[i])}: headroom = data - data_hard_start = {data} B, "
               f"len = {data_end - data} B, tailroom = {PAGE_SIZE - SKB_SHARED_INFO_SIZE - data_end} B" if st
               else "no packet in the driver's hands")
        frags = self.shared_info_text(i) if st else ""
        cap = (f'<div style="{_TEXT}">{self.STAGES[st]}{verdict}<br>'
               f'<span style="font-family:monospace">{txt}{frags}</span></div>')
        return [x for r, m in zip(self.rects, self.marks) for x in ((r, {"x": xs}), (m, {"x": lx}))] + \
            [(self.caption, {"value": cap})]

    def shared_info_text(self, i: int) -> str:
        """The skb_shared_info at the end of the page: the frame's frags (page, size), or '' for a linear frame."""
        f = self.frames
        nr = int(f.xb_nr_frags[i])
        if nr == 0:
            return ""
        parts = ", ".join(f"frags[{j}] page {int(f.xb_frag_page[i, j])} {int(f.xb_frag_size[i, j])} B"
                          for j in range(nr))
        return (f"<br>skb_shared_info (XDP_FLAGS_HAS_FRAGS): nr_frags {nr}, xdp_frags_size "
                f"{int(f.xb_frags_size[i])} B: {parts}")


class CodeView(_View):
    """The code that runs, the line being executed lit.

    While a NAPI poll runs: the RX loop, as mvneta does it in Linux 6.1
    (``mvneta_rx_swbm``) or as the talk's generic driver loop (``while
    (desc_in_rx_ring && budget_left--)``), chosen with the buttons; ``budget``
    is NAPI's weight (64), ``rx_todo`` what ``mvneta_rxq_busy_desc_num_get`` read,
    ``rx_proc`` the descriptors taken so far in this poll.  While the port is set
    up (``ip link set ... up``, or a program attached to a running port, which
    restarts it): ``mvneta_xdp_setup``, ``mvneta_stop`` and ``mvneta_open`` down to
    the RX queue's page_pool.  Between polls no line is lit: NAPI waits for the
    interrupt while the NIC fills descriptors.
    """

    WINDOW = 15          # lines shown at once: a window that follows the lit line
    TITLES = {"talk": "the talk's driver loop", "mvneta_rx_swbm": "mvneta_rx_swbm() (Linux 6.1)",
              "setup": "port setup: mvneta_xdp_setup / mvneta_stop / mvneta_open (Linux 6.1)"}
    CHOICES = (("mvneta_rx_swbm", "mvneta_rx_swbm"), ("talk's loop", "talk"))

    def __init__(self, frames: Frames, listings=("mvneta_rx_swbm", "talk"), window: int | None = None):
        self.frames = frames
        self._sent = _Sent()
        self.window = int(window or self.WINDOW)
        self.listings = tuple(x for x in listings if x in NAPI_LISTINGS) or ("mvneta_rx_swbm",)
        # every (listing, lit line) rendered once; update() only picks one string
        self._html = {name: self._render(name) for name in set(self.listings) | {"setup"}}
        self.choice = W.ToggleButtons(options=[(t, v) for t, v in self.CHOICES if v in self.listings],
                                      value=self.listings[0], style={"button_width": "auto"},
                                      tooltips=["mvneta's NAPI loop, Linux 6.1", "the NetDev 0x14 talk's slide"],
                                      layout=W.Layout(width="auto"))
        self.title = W.HTML()
        self.budget = W.IntProgress(min=0, max=64, value=0, description="budget",
                                    style={"bar_color": "#2ca02c", "description_width": "50px"},
                                    layout=W.Layout(width="170px", flex="0 0 auto"))
        self.status = W.HTML(layout=W.Layout(flex="1 1 auto", min_width="0"))
        self.code = W.HTML()
        self._i = 0
        self.choice.observe(lambda _c: self.update(self._i), "value")
        self.widget = W.VBox([
            W.HBox([self.title, self.choice], layout=W.Layout(justify_content="space-between",
                                                             align_items="center", flex_flow="row wrap")),
            W.HBox([self.budget, self.status], layout=W.Layout(align_items="center")),
            self.code], layout=W.Layout(min_width="0"))
        self.update(0)

    def _render(self, name):
        src = CODE_LISTINGS[name][0]
        esc = [html.escape(s.replace("\t", "    ")) for s in src]
        win = min(self.window, len(src))
        pages = []
        # pre-wrap: a line longer than the panel wraps instead of being clipped
        pre = (f'<pre style="font-size:11px;line-height:1.3;margin:0;white-space:pre-wrap;'
               f'height:{1.3 * win:.1f}em;overflow:hidden">')
        for lit in range(-1, len(src)):
            lo = min(max(0, lit - win // 3), max(0, len(src) - win))
            rows = []
            for k in range(lo, min(len(src), lo + win)):
                num = f'<span style="color:#999">{k + 1:3d} </span>'
                body = (f'<span style="background:#ffe066;font-weight:bold">{esc[k]}</span>' if k == lit
                        else esc[k])
                rows.append(num + body)
            pages.append(pre + "\n".join(rows) + "</pre>")
        return pages

    def shown_listing(self, i: int) -> str:
        """Which listing the panel shows at frame i: the setup code while the port is set up, else the
        NAPI loop chosen with the buttons."""
        return "setup" if self.frames.ctx[i] == CTX_SETUP else self.choice.value

    def lit_line(self, name: str, i: int) -> int:
        """Line of listing ``name`` executing at frame i (-1: that code is not running)."""
        return int(self.frames.napi_line[name][i])

    def update(self, i: int):
        self._i = i
        super().update(i)

    def _listing_at(self, i: int, choice: str):
        name = "setup" if self.frames.ctx[i] == CTX_SETUP else choice
        return [(self.code, {"value": self._html[name][self.lit_line(name, i) + 1]}),
                (self.title, {"value": f'<div style="font-size:13px;font-weight:bold">{self.TITLES[name]}</div>'})]

    def _status_at(self, i: int):
        f = self.frames
        ctx = int(f.ctx[i])
        budget = int(f.budget[i])
        left = budget - int(f.rx_proc[i])
        if ctx == CTX_NAPI:
            status = (f"poll #{int(f.poll_index[i])}: budget {budget}, rx_todo {int(f.rx_todo[i])}, "
                      f"rx_proc {int(f.rx_proc[i])}, left {left}")
            bar = {"max": max(budget, 1), "value": max(left, 0)}
        else:
            status = ("process context, no poll: NAPI is disabled while the port is set up" if ctx == CTX_SETUP
                      else f"no poll running: NAPI waits for mvneta_isr (rx_busy {int(f.rx_busy[i])})")
            # the bar's length: the last poll's budget (NAPI's weight), empty
            bar = {"max": max(budget, 1), "value": 0}
        return [(self.budget, bar), (self.status, {"value": f'<div style="{_MONO};padding-left:6px">{status}</div>'})]

    def state_at(self, i: int, choice: str | None = None):
        return self._listing_at(i, choice or self.choice.value) + self._status_at(i)

    def tracks(self) -> list:
        """The status for every frame; the code and its title once per listing the buttons offer, each
        applied while its button is the one chosen."""
        n = self.frames.n
        out = [track(w, name, vals) for w, name, vals in _record(self._status_at, n)]
        for k, (_label, listing) in enumerate(self.choice.options):
            for w, name, vals in _record(lambda i: self._listing_at(i, listing), n):
                out.append(track(w, name, vals, cond=(self.choice, "index", k)))
        return out


#: the former name (the view shows more than the NAPI loop now)
NapiLoopView = CodeView


class CountersView(_View):
    """``ethtool -S eth0`` (mvneta's XDP counters and page_pool's ``rx_pp_*``) and throughput over simulated time.

    The counters are counted from the trace at the current frame; ``rx_pp_*``
    sum the RX queue's current pool (``mvneta_ethtool_pp_stats``), so a port
    restart starts them again from 0.  The plot shows frames received by the
    NIC, frames the XDP program handled, and frames the NIC discarded because
    no descriptor was free, per second of simulated time, with the current
    frame's time marked.  The legend is beside the plot, not over the lines.
    """

    MVNETA = ("good_frames_received", "rx_discard", "rx_packets", "rx_xdp_drop", "rx_xdp_pass", "rx_xdp_tx",
              "rx_xdp_tx_errors", "rx_xdp_redirect", "refill_errors")
    SHOWN = MVNETA + PP_ETHTOOL_NAMES
    LINES = ("NIC rx (good_frames_received)", "XDP verdicts", "rx_discard")
    LINE_COLORS = ("#1f77b4", "#d62728", "#7f7f7f")

    def __init__(self, frames: Frames):
        self.frames = frames
        self._sent = _Sent()
        f = frames
        self._cols = np.array([COUNTER_NAMES.index(k) for k in self.SHOWN])
        self._tables = {}
        self.table = W.HTML()
        ymax = float(max(f.tp_rx_pps.max(initial=0), f.tp_xdp_pps.max(initial=0), f.tp_discard_pps.max(initial=0),
                         1.0)) * 1.1 / 1e6
        sx = bq.LinearScale(min=float(f.tp_t_us[0]), max=float(f.tp_t_us[-1]))
        sy = bq.LinearScale(min=0.0, max=ymax)
        # the NIC's line also drawn wide and pale underneath: visible where the verdicts' line covers it
        self.nic_halo = bq.Lines(x=f.tp_t_us, y=f.tp_rx_pps / 1e6, colors=[self.LINE_COLORS[0]], opacities=[0.35],
                                 stroke_width=7, scales={"x": sx, "y": sy})
        self.lines = bq.Lines(x=f.tp_t_us, y=np.vstack([f.tp_rx_pps, f.tp_xdp_pps, f.tp_discard_pps]) / 1e6,
                              colors=list(self.LINE_COLORS), labels=list(self.LINES), display_legend=False,
                              stroke_width=2, scales={"x": sx, "y": sy})
        self.cursor = bq.Lines(x=np.array([f.t_ns[0] / 1000] * 2), y=np.array([0.0, ymax]), colors=["#000"],
                               line_style="dotted", scales={"x": sx, "y": sy})
        ax = bq.Axis(scale=sx, label="simulated time (us)", num_ticks=6, tick_format=".0f")
        ay = bq.Axis(scale=sy, side="left", label="Mpps", num_ticks=5, tick_format=".2f")
        self.figure = _fig([self.nic_halo, self.lines, self.cursor], [ax, ay], height="240px",
                           min_width="320px", margin=dict(top=10, bottom=40, left=55, right=15))
        self.legend = _swatches(self.LINES, self.LINE_COLORS)
        self.widget = W.HBox([W.Box([self.table], layout=W.Layout(flex="0 0 auto")),
                              W.VBox([_title("throughput while frames arrive"), self.legend, self.figure],
                                     layout=W.Layout(flex="1 1 auto", min_width="320px"))])
        self.update(0)

    def values_at(self, i: int) -> dict:
        return dict(zip(self.SHOWN, (int(x) for x in self.frames.counters[i, self._cols])))

    def _table_at(self, i: int) -> str:
        key = self.frames.counters[i, self._cols].tobytes()
        s = self._tables.get(key)
        if s is None:
            v = self.values_at(i)

            def table(keys):
                return "<table>" + "".join(f"<tr><td>{k}</td><td align='right'>{v[k]}</td></tr>" for k in keys) + \
                    "</table>"
            s = self._tables[key] = (
                f'<div style="font-family:monospace;font-size:11px"><b>ethtool -S eth0</b>'
                f'<div style="display:flex;gap:14px">{table(self.MVNETA)}{table(PP_ETHTOOL_NAMES)}</div></div>')
        return s

    def state_at(self, i: int):
        t = float(self.frames.t_ns[i]) / 1000.0
        return [(self.table, {"value": self._table_at(i)}), (self.cursor, {"x": np.array([t, t])})]



class RedirectView(_View):
    """XDP_REDIRECT per device: the devmap bulk queue, the veth ring, what was sent and dropped.

    One row per device the trace's redirect events name (by ifindex; ``names`` from the board):
    frames its program redirected (``xdp:xdp_redirect``) or failed to (``xdp_redirect_err``), frames
    waiting in the devmap bulk queue towards it (up to ``DEV_MAP_BULK_SIZE`` = 16, drawn as cells),
    in its veth ring (``VETH_RING_SIZE`` = 256), and what ``xdp:xdp_devmap_xmit`` says was sent to it
    or dropped; below, eth0's TX completions of redirected frames (``MVNETA_TYPE_XDP_NDO``: unmapped,
    the frame returned to its page_pool).  Read from the trace only (``frames.redirect_state``).
    The page the player follows (``frames.followed_page``) is marked where it waits: its slot in a
    bulk queue outlined, or the veth ring that holds it in brackets (``frames.redirect_page_places``).
    """

    BULK = 16

    def __init__(self, frames: Frames, names: dict | None = None):
        from .frames import redirect_state
        self.frames = frames
        self._sent = _Sent()
        self.state = redirect_state(frames, names)
        self._follow = None                     # (followed page, where it waits), built on first use
        self.table = W.HTML()
        self._cache = {}
        self.widget = W.VBox([_title("XDP_REDIRECT: devmap bulk queues and veth rings, per device"), self.table])
        self.update(0)

    def _name(self, ix):
        nm = self.state.names.get(ix)
        return f"{ix}: {nm}" if nm else f"ifindex {ix}"

    def values_at(self, i: int) -> dict:
        return self.state.row(i)

    def followed_at(self, i: int):
        """(page, device column or -1, 1 bulk queue / 2 veth ring / 0 neither, slot) of the page the
        player follows at frame i (``frames.followed_page``, ``frames.redirect_page_places``)."""
        if self._follow is None:
            from .frames import followed_page, redirect_page_places
            page = followed_page(self.frames)
            self._follow = (page, redirect_page_places(self.frames, self.state.ifindexes, page))
        page, places = self._follow
        k, where, slot = (int(x) for x in places[i])
        return int(page[i]), k, where, slot

    def _html_at(self, i: int) -> str:
        st = self.state
        fol = self.followed_at(i) if st.active else (-1, -1, 0, 0)
        key = (tuple(int(getattr(st, k)[i].sum()) if st.active else 0 for k in ("bq", "ring", "sent", "drops",
                                                                                  "redirected", "redirect_err"))
               + (st.bq[i].tobytes(), st.ring[i].tobytes(), int(st.ndo_done[i])) + fol)
        s = self._cache.get(key)
        if s is not None:
            return s
        rows = []
        page, fk, fwhere, fslot = fol
        for c, (ix, v) in enumerate(self.values_at(i).items()):
            def cell(k):
                mark = fk == c and fwhere == 1 and k == fslot     # the followed page's slot: outlined
                return (f'<span style="display:inline-block;width:7px;height:10px;margin-right:1px;box-sizing:'
                        f'border-box;{"border:2px solid #000;" if mark else ""}'
                        f'background:{"#ff7f0e" if k < v["bq"] else "#eee"}"></span>')
            cells = "".join(cell(k) for k in range(self.BULK))
            ring = f"<b>[{v['ring']}]</b>" if fk == c and fwhere == 2 else f"{v['ring']}"
            rows.append(f"<tr><td>{html.escape(self._name(ix))}</td><td align='right'>{v['redirected']}</td>"
                        f"<td align='right'>{v['redirect_err']}</td><td>{cells} {v['bq']}</td>"
                        f"<td align='right'>{ring}</td><td align='right'>{v['sent']}</td>"
                        f"<td align='right'>{v['drops']}</td></tr>")
        where = ""
        if page >= 0 and fwhere:
            name = html.escape(self._name(st.ifindexes[fk]))
            where = (f"<br>followed page {page}: in the devmap bulk queue towards {name} (slot {fslot + 1} of "
                     f"{self.BULK}, outlined)" if fwhere == 1 else
                     f"<br>followed page {page}: in the veth ring of {name} (in brackets)")
        if not rows:
            rows.append("<tr><td colspan=7>no redirect in this trace</td></tr>")
        s = self._cache[key] = (
            '<div style="font-family:monospace;font-size:11px"><table>'
            "<tr><th>device</th><th>redirected</th><th>redirect_err</th><th>devmap bulk queue (16)</th>"
            "<th>veth ring</th><th>devmap_xmit sent</th><th>drops</th></tr>" + "".join(rows) +
            f"</table>eth0 TX completions of redirected frames (MVNETA_TYPE_XDP_NDO, pages going home): "
            f"{int(st.ndo_done[i])}{where}</div>")
        return s

    def state_at(self, i: int):
        return [(self.table, {"value": self._html_at(i)})]


# ---------------------------------------------------------------- the TX ring (issues 22 item 5, 24 item 4)
#: colours of TX_FREE; SKB / XDP_TX / XDP_NDO queued (pale); the same on the MAC (full); TX_SENT
TX_COLORS = ("#e8e8e8", "#c6dbef", "#fdd0a2", "#dadaeb", "#3182bd", "#e6550d", "#756bb1", "#636363")


class TxRingView(_View):
    """eth0's TX descriptor ring (``struct mvneta_tx_queue``, txq 0) as a grid, replayed from the trace.

    Colour = who holds the descriptor and what buffer it carries (``buf->type``): free; queued by
    ``mvneta_xdp_submit_frame`` as ``MVNETA_TYPE_XDP_TX`` (this port's page_pool page, sent back by
    XDP_TX), ``MVNETA_TYPE_XDP_NDO`` (a frame redirected in through ``ndo_xdp_xmit``, mapped with
    ``dma_map_single``) or ``MVNETA_TYPE_SKB``, pale while it only sits in ``txq->pending`` (the doorbell,
    ``mvneta_txq_pend_desc_add``, not yet rung), full once the MAC took it; dark grey once the MAC has
    sent it, until ``mvneta_txq_done`` reclaims it (unmap for XDP_NDO, ``xdp_return_frame`` /
    ``xdp_return_frame_rx_napi``: the page goes home to its page_pool, or is freed).  A multi-buffer
    frame takes one descriptor per buffer (head and frags).  Black outlines: the descriptors of the
    page the player follows (``followed_page``), every buffer of its frame.  The lab's stack sends no
    skb through eth0, so SKB descriptors appear only in traces that have them.
    """

    MAX_MARKED = 18          # MAX_SKB_FRAGS + 1: the most descriptors one frame takes

    def __init__(self, frames: Frames, tx_ring_size: int = 1024, cols: int | None = None, height: str = "150px"):
        from .frames import TX_STATE_NAMES, followed_page, tx_ring_state
        self.frames = frames
        self._sent = _Sent()
        self.state = tx_ring_state(frames, tx_ring_size)
        self.page = followed_page(frames)
        n = self.state.size
        self.cols = int(cols or (32 if n <= 512 else 64))
        self.rows = (n + self.cols - 1) // self.cols
        idx = np.arange(n)
        sx = bq.LinearScale(min=-0.5, max=self.cols - 0.5, allow_padding=False)
        sy = bq.LinearScale(min=-0.6, max=self.rows - 0.5, reverse=True, allow_padding=False)
        sc = bq.ColorScale(min=0, max=len(TX_COLORS) - 1, colors=list(TX_COLORS))
        c = self.cols
        self.row_marks = [
            bq.Scatter(x=(idx[r * c:(r + 1) * c] % c).astype(np.float32), y=np.full(min(c, n - r * c), r, np.float32),
                       color=np.zeros(min(c, n - r * c), np.float32), marker="square", default_size=40,
                       stroke="white", stroke_width=0.5, scales={"x": sx, "y": sy, "color": sc})
            for r in range(self.rows)]
        self.marked = bq.Scatter(x=np.full(self.MAX_MARKED, -10, np.float32), y=np.full(self.MAX_MARKED, -10, np.float32),
                                 marker="square", default_size=70, fill=False, stroke="black", stroke_width=2,
                                 colors=["black"], scales={"x": sx, "y": sy})
        self.figure = _fig(self.row_marks + [self.marked], height=height, min_width="300px",
                           margin=dict(top=2, bottom=2, left=2, right=2))
        self.caption = W.HTML()
        self.caption.add_class("xdplab-txring-caption")
        self.legend = _swatches(TX_STATE_NAMES, TX_COLORS)
        self.widget = W.VBox([_title(f"TX ring (eth0 txq 0, {n} descriptors)"), self.caption, self.figure,
                              self.legend], layout=W.Layout(min_width="0"))
        self.update(0)

    def colors_at(self, i: int) -> np.ndarray:
        return self.state.at(i).astype(np.float32)

    def shown_color(self, desc: int) -> float:
        """The state on screen of descriptor ``desc`` (its row mark's colour)."""
        return float(self.row_marks[desc // self.cols].color[desc % self.cols])

    def marked_descs(self, i: int) -> np.ndarray:
        """Descriptors outlined at frame i: those holding the followed page's frame."""
        return self.state.descs_of_page(i, int(self.page[i]))[:self.MAX_MARKED]

    def values_at(self, i: int) -> dict:
        s = self.state
        from .frames import TX_TYPE_NAMES
        out = {"count": int(s.count[i]), "pending": int(s.pending[i]), "doorbells": int(s.doorbells[i]),
               "last_doorbell": int(s.last_doorbell[i]), "frames_sent": int(s.frames_sent[i])}
        for k, t in enumerate(TX_TYPE_NAMES):
            out[f"submitted_{t}"] = int(s.submitted[i, k])
            out[f"done_{t}"] = int(s.done[i, k])
        return out

    def _rest_at(self, i: int):
        d = self.marked_descs(i)
        x = np.full(self.MAX_MARKED, -10, np.float32)
        y = np.full(self.MAX_MARKED, -10, np.float32)
        x[:d.size] = d % self.cols
        y[:d.size] = d // self.cols
        v = self.values_at(i)
        pg = int(self.page[i])
        follow = (f" &middot; page {pg}: desc {', '.join(str(int(k)) for k in d)}" if d.size else "")
        cap = (f'<div style="{_MONO}">txq->count {v["count"]} &middot; pending (doorbell not rung) {v["pending"]} '
               f'&middot; doorbells {v["doorbells"]} (last announced {v["last_doorbell"]})<br>'
               f'queued XDP_TX {v["submitted_XDP_TX"]}, XDP_NDO {v["submitted_XDP_NDO"]} &middot; reclaimed XDP_TX '
               f'{v["done_XDP_TX"]}, XDP_NDO {v["done_XDP_NDO"]} (descriptors){follow}</div>')
        return [(self.marked, {"x": x, "y": y}), (self.caption, {"value": cap})]

    def state_at(self, i: int):
        colors = self.colors_at(i)
        c = self.cols
        return [(m, {"color": colors[r * c:(r + 1) * c]}) for r, m in enumerate(self.row_marks)] + self._rest_at(i)

    def tracks(self) -> list:
        # each row: its distinct states, one index per frame (the snapshots are per change already)
        s = self.state
        c = self.cols
        out = []
        base = np.where(s.index >= 0, s.index + 1, 0)          # 0: the all-free ring before any TX event
        snaps = np.vstack([np.zeros((1, s.size), np.uint8), s.states])
        for r, mark in enumerate(self.row_marks):
            block = snaps[:, r * c:(r + 1) * c]
            seen, uniq, of_snap = {}, [], np.empty(block.shape[0], np.int64)
            for j in range(block.shape[0]):
                k = seen.setdefault(block[j].tobytes(), len(uniq))
                if k == len(uniq):
                    uniq.append(block[j].astype(np.float32))
                of_snap[j] = k
            out.append(track(mark, "color", (uniq, of_snap[base])))
        return out + [track(w, name, vals) for w, name, vals in _record(self._rest_at, self.frames.n)]
