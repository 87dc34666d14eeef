"""One player driving every view from one trace: play/pause, step, jumps, speed, a position slider.

It behaves like a media player: *play* runs from where it is, *pause* keeps the
position, nothing rewinds by itself; play stops on the last event, and *play*
pressed there starts again from the first.  The kernel keeps the time: while
playing, a timer on the kernel's event loop advances ``speed`` events every
``interval_ms`` and updates every view, then the position slider and the event
line, in the same burst of messages, so the slider and the line never disagree
(a browser-side ``Play`` widget moved the slider first, and the line followed a
round trip later).  A frame that takes longer than the interval delays the next
one: play slows down, it never queues frames.  Without a running event loop
(plain Python, tests), ``tick()`` advances one frame by hand.
"""

from __future__ import annotations

import asyncio
import html
import time

import ipywidgets as W

from .frames import Frames

__all__ = ["Player", "SPEEDS"]

#: (label, events a frame advances)
SPEEDS = (("1 event", 1), ("5", 5), ("20", 20), ("100", 100), ("500", 500))


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Player:
    """Play / pause / step / speed over the frames of one trace, driving ``views`` together.

    Parameters
    ----------
    frames : the replayed trace.
    views : objects with ``update(i)`` (every view in this package).
    interval_ms : time between two frames while playing (40 ms: 25 frames per second).
    start : the frame shown first.
    """

    def __init__(self, frames: Frames, views=(), interval_ms: int = 40, start: int = 0):
        self.frames = frames
        self.views = list(views)
        self.interval_s = max(int(interval_ms), 1) / 1000.0
        self.last = frames.n - 1
        auto = W.Layout(width="auto")
        self.play_btn = W.ToggleButton(value=False, description="play", icon="play", layout=auto,
                                       tooltip="play / pause (pause keeps the position)")
        self.prev_btn = W.Button(description="◀ step", layout=auto, tooltip="previous event")
        self.next_btn = W.Button(description="step ▶", layout=auto, tooltip="next event")
        self.prev_poll_btn = W.Button(description="◀ poll", layout=auto, tooltip="back to the previous napi poll")
        self.poll_btn = W.Button(description="poll ▶", layout=auto, tooltip="jump to the next napi poll")
        self.pkt_btn = W.Button(description="packet ▶", layout=auto,
                                tooltip="jump to the next packet the program sees (bpf_prog_run_xdp)")
        self.speed = W.Dropdown(options=SPEEDS, value=1, description="speed", tooltip="events a frame advances",
                                layout=W.Layout(width="auto"), style={"description_width": "initial"})
        self.slider = W.IntSlider(value=0, min=0, max=self.last, step=1, description="event",
                                  continuous_update=True, readout=True,
                                  style={"description_width": "initial"},
                                  layout=W.Layout(flex="1 1 240px", min_width="160px"))
        self.event = W.HTML(layout=W.Layout(min_height="20px"))
        self.last_update_ms = 0.0
        self._i = -1
        self._moving = False          # the slider is being set by the player, not by the learner
        self._timer = None
        self._deadline = 0.0
        self._loop = _running_loop()  # the kernel's loop (a cell runs inside it)
        self.prev_btn.on_click(lambda _b: self.step(-1))
        self.next_btn.on_click(lambda _b: self.step(+1))
        self.prev_poll_btn.on_click(lambda _b: self.seek(self.frames.prev_frame(self._i, "napi_poll")))
        self.poll_btn.on_click(lambda _b: self.seek(self.frames.next_frame(self._i, "napi_poll")))
        self.pkt_btn.on_click(lambda _b: self.seek(self.frames.next_frame(self._i, "xdp_run")))
        self.play_btn.observe(self._on_play, "value")
        self.slider.observe(self._on_slider, "value")
        self.controls = W.HBox([self.play_btn, self.prev_btn, self.next_btn, self.prev_poll_btn, self.poll_btn,
                                self.pkt_btn, self.speed, self.slider],
                               layout=W.Layout(flex_flow="row wrap", align_items="center", width="100%"))
        self.widget = W.VBox([self.controls, self.event], layout=W.Layout(width="100%"))
        # names for the page (tests and styling find the player's parts by them)
        for w, cls in ((self.widget, "xdplab-player"), (self.play_btn, "xdplab-play"), (self.prev_btn, "xdplab-prev"),
                       (self.next_btn, "xdplab-step"), (self.slider, "xdplab-slider"), (self.event, "xdplab-event")):
            w.add_class(cls)
        self.seek(start)

    # ------------------------------------------------------------ position
    @property
    def value(self) -> int:
        """The frame on screen."""
        return int(self._i)

    @property
    def playing(self) -> bool:
        return bool(self.play_btn.value)

    def seek(self, i: int):
        """Move the player (and every view) to frame i."""
        self.show(max(0, min(int(i), self.last)))

    def step(self, k: int = 1):
        self.seek(self._i + k)

    def show(self, i: int):
        """Update every view to frame i, then the event line and the slider (one burst of messages)."""
        t0 = time.perf_counter()
        self._i = i
        for v in self.views:
            v.update(i)
        self.event.value = (f'<div style="font-family:monospace;font-size:12px;line-height:1.35">'
                            f'<b>event {i}</b> / {self.last} &nbsp; {html.escape(self.frames.describe(i))}</div>')
        if self.slider.value != i:
            self._moving = True
            try:
                self.slider.value = i
            finally:
                self._moving = False
        self.last_update_ms = (time.perf_counter() - t0) * 1000.0

    def _on_slider(self, change):
        if not self._moving and int(change["new"]) != self._i:
            self.show(int(change["new"]))

    # ------------------------------------------------------------ play / pause
    def _on_play(self, change):
        playing = bool(change["new"])
        self.play_btn.description = "pause" if playing else "play"
        self.play_btn.icon = "pause" if playing else "play"
        if not playing:
            self._cancel()
            return
        if self._i >= self.last:                  # at the end: play again from the start
            self.seek(0)
        self._deadline = time.perf_counter()
        self._schedule(0.0)

    def _schedule(self, delay: float):
        loop = _running_loop() or self._loop
        if loop is None or loop.is_closed():
            return                                # no event loop: tick() by hand
        self._cancel()
        self._timer = loop.call_later(delay, self.tick)

    def _cancel(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def tick(self) -> bool:
        """One frame of play: advance ``speed`` events; pause on the last one.  True while playing."""
        self._timer = None
        if not self.playing:
            return False
        self.seek(self._i + int(self.speed.value))
        if self._i >= self.last:
            self.play_btn.value = False
            return False
        # keep the pace on a fixed clock; a late frame moves the clock instead of bunching frames up
        now = time.perf_counter()
        self._deadline = max(self._deadline + self.interval_s, now)
        self._schedule(self._deadline - now)
        return True

    def pause(self):
        self.play_btn.value = False

    def play(self):
        self.play_btn.value = True

    def close(self):
        """Stop playing and close the player's widgets."""
        self.pause()
        for w in (self.play_btn, self.prev_btn, self.next_btn, self.prev_poll_btn, self.poll_btn, self.pkt_btn,
                  self.speed, self.slider, self.event, self.controls, self.widget):
            w.close()
