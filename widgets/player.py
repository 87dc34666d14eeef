"""One player driving every view from one trace: Play + IntSlider (jslink'ed), step buttons, speed.

The browser's ``Play`` ticks the slider (``jslink``: no kernel round trip per
tick); the kernel observes the slider's ``value`` and calls ``update(i)`` on each
view, which only indexes precomputed arrays.  ``interval`` is 50 ms: 20 frames
per second.  Speed sets how many trace events one tick advances.
"""

from __future__ import annotations

import time

import ipywidgets as W

from .frames import Frames

__all__ = ["Player"]

SPEEDS = (("1 event", 1), ("5", 5), ("20", 20), ("100", 100), ("500", 500))


class Player:
    """Play / pause / step / speed over the frames of one trace, driving ``views`` together.

    Parameters
    ----------
    frames : the replayed trace.
    views : objects with ``update(i)`` (every view in this package).
    interval_ms : Play tick; 50 ms = 20 frames per second.
    """

    def __init__(self, frames: Frames, views=(), interval_ms: int = 50):
        self.frames = frames
        self.views = list(views)
        last = frames.n - 1
        self.play = W.Play(value=0, min=0, max=last, step=1, interval=int(interval_ms), description="play",
                           show_repeat=False)
        self.slider = W.IntSlider(value=0, min=0, max=last, step=1, description="event",
                                  continuous_update=True, layout=W.Layout(width="420px"))
        self.link = W.jslink((self.play, "value"), (self.slider, "value"))
        self.prev_btn = W.Button(description="◀ step", layout=W.Layout(width="70px"), tooltip="previous event")
        self.next_btn = W.Button(description="step ▶", layout=W.Layout(width="70px"), tooltip="next event")
        self.poll_btn = W.Button(description="next poll", layout=W.Layout(width="85px"),
                                 tooltip="jump to the next napi poll")
        self.pkt_btn = W.Button(description="next packet", layout=W.Layout(width="95px"),
                                tooltip="jump to the next bpf_prog_run_xdp")
        self.speed = W.Dropdown(options=SPEEDS, value=1, description="events/tick",
                                layout=W.Layout(width="190px"), style={"description_width": "initial"})
        self.event = W.HTML()
        self.last_update_ms = 0.0
        self.prev_btn.on_click(lambda _b: self.step(-1))
        self.next_btn.on_click(lambda _b: self.step(+1))
        self.poll_btn.on_click(lambda _b: self.seek(self.frames.next_frame(self.slider.value, "napi_poll")))
        self.pkt_btn.on_click(lambda _b: self.seek(self.frames.next_frame(self.slider.value, "xdp_run")))
        self.speed.observe(self._on_speed, "value")
        self.slider.observe(self._on_frame, "value")
        self.widget = W.VBox([W.HBox([self.play, self.prev_btn, self.next_btn, self.poll_btn, self.pkt_btn,
                                      self.speed]),
                              W.HBox([self.slider]), self.event])
        self.show(0)

    @property
    def value(self) -> int:
        return int(self.slider.value)

    def _on_speed(self, change):
        self.play.step = int(change["new"])
        self.slider.step = 1

    def _on_frame(self, change):
        self.show(int(change["new"]))

    def seek(self, i: int):
        """Move the player (and every view) to frame i."""
        self.slider.value = max(0, min(int(i), self.frames.n - 1))

    def step(self, k: int = 1):
        self.seek(self.slider.value + k)

    def show(self, i: int):
        """Update every view to frame i (what the slider observer does)."""
        t0 = time.perf_counter()
        for v in self.views:
            v.update(i)
        self.event.value = (f'<div style="font-family:monospace;font-size:12px">event {i} / {self.frames.n - 1}: '
                            f'{self.frames.describe(i)}</div>')
        self.last_update_ms = (time.perf_counter() - t0) * 1000.0
