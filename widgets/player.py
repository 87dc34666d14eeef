"""One player driving every view from one trace: play/pause, step, jumps, speed, a position slider.

It behaves like a media player: *play* runs from where it is, *pause* keeps the
position, nothing rewinds by itself; play stops on the last event, and *play*
pressed there starts again from the first.  A frame that takes longer than the
interval delays the next one: play slows down, it never queues frames.

Two ways to step (``stepping=``):

* ``"browser"`` (the default when anywidget is installed, as the lab extra does):
  every view's values for every frame are sent to the page once
  (``stepper.py``), and the page steps and plays by itself, without waiting
  for the kernel: a step reaches the screen in one frame of the browser's.
  The kernel follows the slider (at once after a step, every half second
  while the page plays, and on pause): ``value``, ``seek``, ``step``,
  ``play``, ``pause`` work from Python as before, and the views' traits hold
  what the page shows (set without being sent again).  A view without
  ``tracks()`` is still updated by the kernel.  Until the page says it holds
  the tracks (``stepper.ready``), and in a front-end that cannot run the
  stepper's code, the kernel steps as below.
* ``"kernel"``: the kernel keeps the time: while playing, a timer on the
  kernel's event loop advances ``speed`` events every ``interval_ms`` and
  updates every view, then the slider and the event line, in the same burst
  of messages, so the slider and the line never disagree.

Without a running event loop (plain Python, tests), ``tick()`` advances one
frame by hand, whichever the stepping.
"""

from __future__ import annotations

import asyncio
import html
import time

import ipywidgets as W
import numpy as np
import traitlets as T

from xdplab.trace import TR_EV

from .frames import EV, Frames
from .stepper import HAVE_STEPPER, Stepper, track

__all__ = ["Player", "SPEEDS", "STEPPINGS"]

#: (label, events a frame advances)
SPEEDS = (("1 event", 1), ("5", 5), ("20", 20), ("100", 100), ("500", 500))
#: who steps: the page (frames sent once) or the kernel (a round trip a step)
STEPPINGS = ("browser", "kernel")
#: the events the jump buttons go to
JUMPS = ("napi_poll", "xdp_run")


class _PositionSlider(W.IntSlider):
    """The position slider.  Its value is not echoed back to the page that moved it (ipywidgets 8 echoes a
    front-end's change to every front-end): playing in the page, the kernel hears the position every
    half second, and an echo of an older position would move the page back."""

    value = T.CInt(0, help="the frame shown").tag(sync=True, echo_update=False)


def _views_of(v):
    """The view itself behind a wrapper (the lab's ``_WhenShown``)."""
    return getattr(v, "view", v)


def _from_page(widget, name: str) -> bool:
    """Is the change of ``widget.name`` being handled one the page sent?  (ipywidgets holds a property
    lock on the traits it sets from a front-end message while their observers run.)"""
    return name in getattr(widget, "_property_lock", {})


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
    stepping : "browser", "kernel" or "auto" (browser when anywidget is installed): see the module.
    """

    def __init__(self, frames: Frames, views=(), interval_ms: int = 40, start: int = 0, stepping: str = "auto"):
        if stepping == "auto":
            stepping = "browser" if HAVE_STEPPER else "kernel"
        if stepping not in STEPPINGS:
            raise ValueError(f"stepping={stepping!r}: choose 'browser', 'kernel' or 'auto'")
        if stepping == "browser" and not HAVE_STEPPER:
            raise ImportError("stepping='browser' needs anywidget (pip install anywidget, or the lab extra: "
                              "pip install -e '.[lab]'); stepping='kernel' works without it")
        self.stepping = stepping
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
        self.slider = _PositionSlider(value=0, min=0, max=self.last, step=1, description="event",
                                  continuous_update=True,
                                  # no readout: ipywidgets measures it (a forced layout of the whole page)
                                  # on every move; the event line below says the number
                                  readout=False,
                                  style={"description_width": "initial"},
                                  layout=W.Layout(flex="1 1 240px", min_width="160px"))
        self.event = W.HTML(layout=W.Layout(min_height="20px"))
        self.last_update_ms = 0.0
        self._i = -1
        self._moving = False          # the slider is being set by the player, not by the learner
        self._timer = None
        self._deadline = 0.0
        self._loop = _running_loop()  # the kernel's loop (a cell runs inside it)
        self._closed = False
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
        self.stepper = None
        if stepping == "browser":
            # the views' values go to the page once; once the page says it holds them (``ready``), Python
            # keeps its copy without sending it again.  Until then (or in a front-end that cannot run the
            # stepper's code) the kernel steps as with stepping="kernel".
            self.stepper = Stepper(
                refs={k: w.model_id for k, w in (("slider", self.slider), ("play", self.play_btn),
                                                 ("next", self.next_btn), ("prev", self.prev_btn),
                                                 ("poll", self.poll_btn), ("prev_poll", self.prev_poll_btn),
                                                 ("pkt", self.pkt_btn), ("speed", self.speed))},
                last=self.last, interval_ms=int(self.interval_s * 1000),
                speeds=[k for _label, k in SPEEDS],
                jumps={name: np.flatnonzero(frames.ev[:, TR_EV] == EV[name]).astype(np.int32).tobytes()
                       for name in JUMPS})
            self.stepper.observe(self._on_ready, "ready")
            self.stepper.add_class("xdplab-stepper")
            if self._loop is None:
                self.stepper.tracks = self.tracks()
            else:
                # in a kernel: build them once the cell has run (a second or more for a long trace), one view
                # per turn of the event loop; the page steps from the moment it holds them
                self._loop.call_soon(self._build_tracks, 0, [])
        parts = [self.controls, self.event] + ([self.stepper] if self.stepper is not None else [])
        self.widget = W.VBox(parts, layout=W.Layout(width="100%"))
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

    @property
    def page_steps(self) -> bool:
        """Is the page stepping (stepping="browser", and the page holds the tracks)?"""
        return self.stepper is not None and bool(self.stepper.ready)

    def _on_ready(self, change):
        for v in self.views:
            if hasattr(_views_of(v), "tracks"):
                _views_of(v)._sent.silent = bool(change["new"])

    def event_html(self, i: int) -> str:
        """The event line at frame i."""
        return (f'<div style="font-family:monospace;font-size:12px;line-height:1.35">'
                f'<b>event {i}</b> / {self.last} &nbsp; {html.escape(self.frames.describe(i))}</div>')

    def _tracked(self):
        return [_views_of(v) for v in self.views if hasattr(_views_of(v), "tracks")]

    def tracks(self) -> list:
        """Every tracked view's values for every frame, then the event line's (``stepper.track``)."""
        out = []
        for v in self._tracked():
            out += v.tracks()
        out.append(self._event_track())
        return out

    def _event_track(self):
        return track(self.event, "value", [self.event_html(i) for i in range(self.frames.n)])

    def _build_tracks(self, k: int, done: list):
        """tracks(), one view per call, on the event loop; sent to the page at the end."""
        if self.stepper is None or self._closed:
            return
        views = self._tracked()
        if k < len(views):
            done += views[k].tracks()
            self._loop.call_soon(self._build_tracks, k + 1, done)
        else:
            self.stepper.tracks = done + [self._event_track()]

    def show(self, i: int):
        """Update every view to frame i, then the event line and the slider (one burst of messages;
        stepping in the browser, only the slider's, and only when the page did not move it)."""
        t0 = time.perf_counter()
        self._i = i
        for v in self.views:
            v.update(i)
        with self.event.hold_sync():
            self.event.value = self.event_html(i)
            if self.page_steps:
                self.event._states_to_send.clear()         # the page has it
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
        if self.page_steps and _from_page(self.play_btn, "value"):
            return                                # the page plays (and went back to the start itself)
        if self._i >= self.last:                  # at the end: play again from the start
            self.seek(0)
        if self.page_steps:
            return                                # the page keeps the time; tick() still works by hand
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
        self._closed = True
        self.pause()
        for w in (self.play_btn, self.prev_btn, self.next_btn, self.prev_poll_btn, self.poll_btn, self.pkt_btn,
                  self.speed, self.slider, self.event, self.controls, self.widget, self.stepper):
            if w is not None:
                w.close()
