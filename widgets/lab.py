"""The whole lab on one trace: every view, driven by one player, sized for a 1366x768 screen."""

from __future__ import annotations

import ipywidgets as W
import numpy as np

from .frames import (EV, REDIRECT_EVENTS, Frames, board_netdev_names, board_tx_ring_size, frames_from_board,
                     frames_from_trace)
from .player import Player
from .cpuviews import CpumapView, CpuView, board_cpumap_qsize, board_wake_ns, has_cpumap, only_cpumap_redirects
from .views import CodeView, CountersView, PagePoolView, RedirectView, RxRingView, TxRingView, XdpBuffView

__all__ = ["Lab", "lab"]


class _WhenShown:
    """Updates a view only while it is on screen; brings it up to date when it appears."""

    def __init__(self, view):
        self.view = view
        self.shown = False
        self._i = 0

    def update(self, i: int):
        self._i = i
        if self.shown:
            self.view.update(i)

    def show(self, on: bool):
        self.shown = bool(on)
        if self.shown:
            self.view.update(self._i)


class Lab:
    """Every view of one trace under one player.

    The RX path on one screen, as a 2 x 2 grid under the player's controls:
    the RX ring and the code that runs (``mvneta_rx_swbm``, the talk's loop, or
    the port's setup), then the current packet's ``xdp_buff`` and the page_pool.
    ``ethtool -S`` and the throughput plot open below with their button (they are
    drawn when first opened, and updated only while open).  A trace with XDP_REDIRECT adds the
    per-device redirect panel, one with TX descriptors (XDP_TX, or frames redirected to eth0) eth0's
    TX ring, side by side below the grid; both mark the page the player follows.  A trace with CPUMAP
    tracepoints adds, under those, both CPUs' load over simulated time and the cpumap panel (rings,
    bulk queues, drops, where pages go back: ``cpuviews.py``).

    Build it from a Board that ran with ``trace=N``, or from a ``Trace`` /
    ``Frames``.  ``start`` is the first frame shown: an index, or an event name
    (``start="napi_poll"``: the first poll, after the port's setup).  ``Lab(board)``
    displays itself; ``.widget`` is the widget.
    """

    VIEWS = ("ring", "napi", "xdp_buff", "page_pool", "counters")

    def __init__(self, source, *, rx_ring_size: int | None = None, views=VIEWS, interval_ms: int = 40,
                 start=0, stepping: str = "auto", tx_ring_size: int | None = None):
        if isinstance(source, Frames):
            frames = source
        elif hasattr(source, "ev") and hasattr(source, "t_ns"):
            frames = frames_from_trace(source, rx_ring_size=rx_ring_size or 512)
        elif hasattr(source, "trace") and hasattr(source, "state"):
            frames = frames_from_board(source)
        else:
            raise TypeError(f"Lab needs an xdplab.Board (created with trace=N), an xdplab.trace.Trace or Frames, "
                            f"got {type(source).__name__}")
        self.frames = frames
        names = board_netdev_names(source) if hasattr(source, "devices") else None
        qsize = board_cpumap_qsize(source) if hasattr(source, "s") else None
        wake_ns = board_wake_ns(source) if hasattr(source, "s") else 0.0
        make = {"ring": RxRingView, "napi": CodeView, "xdp_buff": XdpBuffView, "page_pool": PagePoolView,
                "counters": CountersView, "redirect": lambda f: RedirectView(f, names),
                "cpus": lambda f: CpuView(f, wake_ns), "cpumap": lambda f: CpumapView(f, qsize),
                "tx": lambda f: TxRingView(f, tx_ring_size or _tx_ring_size(source, f))}
        auto = views is self.VIEWS or (isinstance(views, tuple) and views[:len(self.VIEWS)] == self.VIEWS)
        if views is self.VIEWS and _has_redirect(frames) and not only_cpumap_redirects(frames):
            # a trace with XDP_REDIRECT gets the per-device panel (not for redirects into a CPUMAP only: its
            # own panel shows them)
            views = tuple(views) + ("redirect",)
        if auto and _has_tx(frames):
            views = tuple(views) + ("tx",)        # a trace with TX descriptors gets eth0's TX ring
        if auto and has_cpumap(frames):
            views = tuple(views) + ("cpus", "cpumap")   # a CPUMAP: both CPUs' load and the cpumap panel
        unknown = set(views) - set(make)
        if unknown:
            raise ValueError(f"unknown views {sorted(unknown)}; choose from {list(make)}")
        if isinstance(start, str):
            start = max(frames.next_frame(-1, start), 0)     # no such event: the first frame
        self.views = {name: make[name](frames) for name in views}
        v = self.views
        driven = [v[k] for k in ("ring", "napi", "xdp_buff", "page_pool", "redirect", "tx", "cpus", "cpumap") if k in v]
        self._counters = _WhenShown(v["counters"]) if "counters" in v else None
        if self._counters is not None:
            driven.append(self._counters)
        self.player = Player(frames, driven, interval_ms=interval_ms, start=start, stepping=stepping)
        cell = W.Layout(min_width="0", overflow="hidden")
        boxes = {k: W.Box([v[k].widget], layout=cell) for k in ("ring", "napi", "xdp_buff", "page_pool") if k in v}
        panels = list(boxes.values())
        self.grid = W.GridBox(panels, layout=W.Layout(grid_template_columns="minmax(0, 1fr) minmax(0, 1fr)",
                                                      grid_gap="6px 16px", width="100%"))
        self.counters_box = W.Box([], layout=W.Layout(width="100%"))
        below = [W.Box([v[k].widget], layout=W.Layout(min_width="0", flex="1 1 0", overflow="hidden"))
                 for k in ("tx", "redirect") if k in v]
        if below:
            self.path_box = W.HBox(below, layout=W.Layout(width="100%", grid_gap="16px"))
            self.path_box.add_class("xdplab-path")
        parts = [self.player.widget, self.grid] + ([self.path_box] if below else []) + _cpumap_row(v) + \
            [self.counters_box]
        if self._counters is not None:
            self.counters_btn = W.ToggleButton(value=False, description="ethtool -S", icon="table",
                                               layout=W.Layout(width="auto"),
                                               tooltip="show ethtool -S eth0 and the throughput plot below")
            self.counters_btn.observe(self._on_counters, "value")
            self.player.controls.children = self.player.controls.children + (self.counters_btn,)
        self.widget = W.VBox(parts, layout=W.Layout(width="100%"))
        self.widget.add_class("xdplab-lab")
        self.grid.add_class("xdplab-grid")
        for k, box in boxes.items():
            box.add_class(f"xdplab-panel-{k}")
        if "napi" in v:
            v["napi"].code.add_class("xdplab-code")

    def _on_counters(self, change):
        on = bool(change["new"])
        # the figure is put on the page only when it is visible: drawn hidden, bqplot would lay its plot
        # area out with a negative width
        self.counters_box.children = (self.views["counters"].widget,) if on else ()
        self._counters.show(on)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def _has_redirect(frames) -> bool:
    import numpy as np
    return bool(np.isin(frames.ev[:, 1], [EV[k] for k in REDIRECT_EVENTS]).any())


def _cpumap_row(v) -> list:
    """The CPUMAP panels (CPU load, the cpumap) side by side under the grid, as the grid lays out its cells."""
    boxes = [W.Box([v[k].widget], layout=W.Layout(min_width="0", overflow="hidden")) for k in ("cpus", "cpumap")
             if k in v]
    if not boxes:
        return []
    row = W.GridBox(boxes, layout=W.Layout(grid_template_columns="minmax(0, 1fr) minmax(0, 1fr)",
                                           grid_gap="6px 16px", width="100%"))
    row.add_class("xdplab-cpumap-row")
    return [row]


def _has_tx(frames) -> bool:
    return bool((frames.ev[:, 1] == EV["tx_submit"]).any())


def _tx_ring_size(source, frames) -> int:
    if hasattr(source, "trace") and hasattr(source, "state"):
        return board_tx_ring_size(source)
    from xdplab.nic.mvneta import MVNETA_MAX_TXD
    used = frames.ev[np.isin(frames.ev[:, 1], [EV["tx_submit"], EV["tx_done"]]), 2]
    return max(MVNETA_MAX_TXD, int(used.max(initial=-1)) + 1)


def lab(source, **kw) -> Lab:
    """``Lab(source, **kw)``."""
    return Lab(source, **kw)
