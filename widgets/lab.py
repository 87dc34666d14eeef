"""The whole lab on one trace: every view, driven by one player."""

from __future__ import annotations

import ipywidgets as W

from .frames import Frames, frames_from_board, frames_from_trace
from .player import Player
from .views import CountersView, NapiLoopView, PagePoolView, RxRingView, XdpBuffView

__all__ = ["Lab", "lab"]


class Lab:
    """Every view of one trace (RX ring, NAPI loop, xdp_buff, page_pool, ethtool -S) under one player.

    Build it from a Board that ran with ``trace=N``, or from a ``Trace`` /
    ``Frames``.  ``Lab(board).widget`` is what a notebook displays (the ``Lab``
    object also displays itself).
    """

    VIEWS = ("ring", "napi", "xdp_buff", "page_pool", "counters")

    def __init__(self, source, *, rx_ring_size: int | None = None, views=VIEWS, interval_ms: int = 50):
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
        make = {"ring": RxRingView, "napi": NapiLoopView, "xdp_buff": XdpBuffView, "page_pool": PagePoolView,
                "counters": CountersView}
        unknown = set(views) - set(make)
        if unknown:
            raise ValueError(f"unknown views {sorted(unknown)}; choose from {list(make)}")
        self.views = {name: make[name](frames) for name in views}
        self.player = Player(frames, list(self.views.values()), interval_ms=interval_ms)
        v = self.views
        half = W.Layout(width="50%", min_width="0")
        top = [W.Box([v[k].widget], layout=half) for k in ("ring", "napi") if k in v]
        rest = [v[k].widget for k in ("xdp_buff", "page_pool", "counters") if k in v]
        self.widget = W.VBox([self.player.widget, W.HBox(top), *rest], layout=W.Layout(width="100%"))

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def lab(source, **kw) -> Lab:
    """``Lab(source, **kw)``."""
    return Lab(source, **kw)
