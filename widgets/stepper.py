"""Stepping in the browser: every view's per-frame values sent once, a step applied by JavaScript.

A step through the kernel is a round trip: the click goes browser -> server ->
kernel, the kernel's handler sends the views' updates, and they come back
kernel -> server -> browser.  Measured in the browser test on this project's
2-core machine under load (7 jobs sharing it), each hop waits for its process to
be scheduled: the handler itself took 1-3 ms, the messages arrived 20-100 ms
after the click.  So the player steps in the browser instead:

* every view says what each of its widgets' traits shows at each frame
  (``state_at(i)``, a function of the frame alone); :func:`track` turns one
  trait's per-frame values into a *track*: its distinct values, sent once, and
  one index per frame;
* :class:`Stepper` (a small anywidget) holds the tracks.  In the browser it
  takes over the player's controls (step, jumps, play/pause, speed, the slider):
  a step sets every tracked trait on its widget's model in the page, which
  redraws the views at once, then moves the slider, whose new value goes to
  the kernel as any slider's does;
* the kernel follows: the Python views take the same values *without sending
  them* (the browser already shows them), so ``Player.value``, the views'
  traits and the screen agree; a seek from Python moves the slider, and the
  browser applies that frame.

Distinct values keep what is sent small: a descriptor row changes a few dozen
times in a trace, a caption's text is stored as a template and its numbers
(``rx_busy 3 ...``), the numbers of a template that never change folded back
into it.  :func:`decode_track` is the Python reading of what the page's code
decodes (tests compare it with ``state_at``).
"""

from __future__ import annotations

import re

import numpy as np

try:                                            # the lab extra installs it; without it the kernel steps
    import anywidget
    import traitlets as T
except ImportError:                             # pragma: no cover - depends on the environment
    anywidget = None

__all__ = ["Stepper", "track", "decode_track", "HAVE_STEPPER"]

HAVE_STEPPER = anywidget is not None

# a digit run that prints back as itself: no leading zero, at most 15 digits (exact as a float64)
_NUM = re.compile(r"(?<![0-9])(0|[1-9][0-9]{0,14})(?![0-9])")


def _split(s: str):
    """Literal parts and the integers between them (other digit runs stay in the literals)."""
    toks = _NUM.split(s)
    return tuple(toks[0::2]), [int(d) for d in toks[1::2]]


def _index_bytes(index: np.ndarray, count: int):
    dt = np.uint16 if count <= 0xFFFF else np.uint32
    return ("uint16" if dt is np.uint16 else "uint32"), np.ascontiguousarray(index, dt).tobytes()


def _array_meta(widget, trait, value):
    """(dtype, shape) the widget's own serializer would send ``value`` as (bqplot: int64 -> int32)."""
    to_json = widget.trait_metadata(trait, "to_json")
    j = to_json(value, widget) if to_json else None
    if isinstance(j, dict) and "dtype" in j and "value" in j:
        return str(j["dtype"]), tuple(int(x) for x in j.get("shape", np.shape(value)))
    return None


def track(widget, trait: str, values, *, cond=None) -> dict:
    """One trait's values per frame as a track (JSON with binary buffers, as a widget trait carries).

    ``values``: one value per frame (numpy arrays, strings, or JSON scalars), or a pair
    ``(distinct, index)`` already deduplicated.  ``cond``: ``(widget, trait, value)``: the track applies
    only while that widget's trait has that value (the code panel's choice of listing).
    """
    if isinstance(values, tuple) and len(values) == 2 and isinstance(values[1], np.ndarray):
        uniq, index = list(values[0]), np.asarray(values[1])
    else:
        seen, uniq, index = {}, [], np.empty(len(values), np.int64)
        for i, v in enumerate(values):
            if v is None:
                raise ValueError(f"{type(widget).__name__}.{trait} has no value at frame {i}")
            key = (v.dtype.str, v.shape, v.tobytes()) if isinstance(v, np.ndarray) else (type(v).__name__, v)
            k = seen.get(key)
            if k is None:
                k = seen[key] = len(uniq)
                uniq.append(v)
            index[i] = k
    itype, ibytes = _index_bytes(index, len(uniq))
    t = {"model": widget.model_id, "trait": trait, "itype": itype, "index": ibytes}
    if cond is not None:
        w, name, value = cond
        t["cond"] = {"model": w.model_id, "trait": name, "value": value}
    if uniq and isinstance(uniq[0], np.ndarray):
        meta = _array_meta(widget, trait, uniq[0])
        if meta is None:
            raise TypeError(f"{type(widget).__name__}.{trait}: no array serializer")
        dtype, shape = meta
        data = np.stack([np.asarray(u).reshape(shape) for u in uniq]).astype(dtype, copy=False)
        t.update(kind="array", dtype=dtype, shape=list(shape), count=len(uniq),
                 data=np.ascontiguousarray(data).tobytes())
    elif uniq and all(isinstance(u, str) for u in uniq):
        templates, tid, rows = {}, [], []
        for u in uniq:
            parts, nums = _split(u)
            k = templates.setdefault(parts, len(templates))
            tid.append(k)
            rows.append(nums)
        tpl = list(templates)
        tid = np.asarray(tid, np.int64)
        # numbers a template always has the same: back into its text (style sizes, fixed labels)
        nkeep = np.zeros(len(tpl), np.int64)
        kept = []
        for k, parts in enumerate(tpl):
            js = np.flatnonzero(tid == k)
            m = np.array([rows[j] for j in js], np.float64).reshape(len(js), len(parts) - 1)
            keep = np.flatnonzero(np.any(m != m[:1], axis=0))
            keep_set = set(keep.tolist())
            lit, cur = [], parts[0]
            for h in range(m.shape[1]):
                if h in keep_set:
                    lit.append(cur)
                    cur = parts[h + 1]
                else:
                    cur += str(int(m[0, h])) + parts[h + 1]
            lit.append(cur)
            tpl[k] = lit
            nkeep[k] = keep.size
            kept.append((js, m[:, keep]))
        # each distinct text's numbers, in the order of the distinct texts
        per = nkeep[tid]
        start = np.r_[0, np.cumsum(per)[:-1]] if per.size else per
        nums = np.empty(int(per.sum()), np.float64)
        for js, vals in kept:
            if vals.size:
                nums[(start[js][:, None] + np.arange(vals.shape[1])).ravel()] = vals.ravel()
        t.update(kind="text", templates=tpl, tid=tid.astype(np.uint32).tobytes(), nums=nums.tobytes(),
                 count=len(uniq))
    else:
        t.update(kind="json", values=[u.item() if isinstance(u, np.generic) else u for u in uniq],
                 count=len(uniq))
    return t


def decode_track(t: dict) -> list:
    """The value of each frame, decoded as the page's code decodes it (arrays as numpy)."""
    index = np.frombuffer(t["index"], np.uint16 if t["itype"] == "uint16" else np.uint32)
    if t["kind"] == "array":
        flat = np.frombuffer(t["data"], t["dtype"]).reshape([t["count"]] + t["shape"])
        uniq = list(flat)
    elif t["kind"] == "text":
        tid = np.frombuffer(t["tid"], np.uint32)
        nums = np.frombuffer(t["nums"], np.float64)
        uniq, o = [], 0
        for k in tid:
            parts = t["templates"][k]
            s = parts[0]
            for p in parts[1:]:
                s += str(int(nums[o])) + p
                o += 1
            uniq.append(s)
    else:
        uniq = t["values"]
    return [uniq[k] for k in index]


# ---------------------------------------------------------------- the page's side
_ESM = r"""
// xdplab player: steps in the page.  Tracks: per trait, its distinct values and one index per frame.
const typed = {uint16: Uint16Array, uint32: Uint32Array};
function copyOut(dv, Type) {               // a typed array over its own buffer (offsets may be unaligned)
  const b = dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength);
  return new Type(b);
}
async function loadTracks(model, wm) {
  const out = [];
  for (const t of model.get("tracks")) {
    const m = await wm.get_model(t.model);
    const ser = (m.constructor.serializers || {})[t.trait];
    const r = {m, trait: t.trait, idx: copyOut(t.index, typed[t.itype]), cache: new Array(t.count), t, ser, wm};
    if (t.kind === "text") {
      r.tid = copyOut(t.tid, Uint32Array);
      const nums = copyOut(t.nums, Float64Array);
      r.off = new Uint32Array(t.count);
      let o = 0;
      for (let k = 0; k < t.count; k++) { r.off[k] = o; o += t.templates[r.tid[k]].length - 1; }
      r.nums = nums;
    } else if (t.kind === "array") {
      r.size = t.shape.reduce((a, b) => a * b, 1) * ({float32: 4, float64: 8, int32: 4, uint32: 4, int16: 2,
                                                       uint16: 2, int8: 1, uint8: 1}[t.dtype]);
    }
    if (t.cond) {
      r.cm = await wm.get_model(t.cond.model);
    }
    out.push(r);
  }
  return out;
}
function valueOf(r, k) {
  let v = r.cache[k];
  if (v !== undefined) return v;
  const t = r.t;
  if (t.kind === "text") {
    const parts = t.templates[r.tid[k]];
    let s = parts[0], o = r.off[k];
    for (let h = 1; h < parts.length; h++) s += String(r.nums[o++]) + parts[h];
    v = s;
  } else if (t.kind === "array") {
    const b = t.data.buffer.slice(t.data.byteOffset + k * r.size, t.data.byteOffset + (k + 1) * r.size);
    v = {value: new DataView(b), dtype: t.dtype, shape: t.shape};
  } else {
    v = t.values[k];
  }
  if (r.ser && r.ser.deserialize) v = r.ser.deserialize(v, r.wm);
  r.cache[k] = v;
  return v;
}
function applyFrame(S, i) {
  for (const r of S.tracks) {
    if (r.cm && r.cm.get(r.t.cond.trait) !== r.t.cond.value) continue;
    const v = valueOf(r, r.idx[i]);
    if (r.m.get(r.trait) !== v) r.m.set(r.trait, v);
  }
}
function bsearch(a, x) {                     // first index with a[k] > x
  let lo = 0, hi = a.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (a[mid] > x) hi = mid; else lo = mid + 1; }
  return lo;
}
async function initialize({ model }) {
  const wm = model.widget_manager;
  const S = {tracks: [], frame: -1, timer: null, deadline: 0, busy: false, synced: 0, unsynced: false};
  const refs = model.get("refs");
  const M = {};
  for (const [k, id] of Object.entries(refs)) M[k] = await wm.get_model(id);
  const last = () => model.get("last");
  const jumps = {};
  const loadJumps = () => { for (const [k, dv] of Object.entries(model.get("jumps"))) jumps[k] = copyOut(dv, Int32Array); };
  loadJumps();
  // the kernel learns the position from the slider: at once after a step, at most every SYNC_MS while
  // playing (each message makes the kernel busy then idle, and the page redraws its status), and on pause
  const SYNC_MS = 500;
  const sync = () => { S.synced = performance.now(); S.unsynced = false; S.busy = true;
                       try { M.slider.save_changes(); } finally { S.busy = false; } };
  const show = (i, playing) => {             // the views, then the event line's and the slider's
    i = Math.max(0, Math.min(i, last()));
    S.frame = i;
    applyFrame(S, i);
    if (M.slider.get("value") !== i) {
      S.busy = true;
      try { M.slider.set("value", i); } finally { S.busy = false; }
      if (!playing || performance.now() - S.synced >= SYNC_MS) sync();
      else S.unsynced = true;
    }
  };
  const setPlayLabel = (on) => M.play.set({description: on ? "pause" : "play", icon: on ? "pause" : "play"});
  const speed = () => model.get("speeds")[M.speed.get("index")] || 1;
  const tick = () => {
    S.timer = null;
    if (!M.play.get("value")) return;
    show(S.frame + speed(), true);
    if (S.frame >= last()) { M.play.set("value", false); M.play.save_changes(); return; }
    const now = performance.now();
    S.deadline = Math.max(S.deadline + model.get("interval_ms"), now);
    S.timer = setTimeout(tick, S.deadline - now);
  };
  const onPlay = () => {
    const on = !!M.play.get("value");
    setPlayLabel(on);
    if (S.timer !== null) { clearTimeout(S.timer); S.timer = null; }
    if (!on) { if (S.unsynced) sync(); return; }
    if (S.frame >= last()) show(0);       // play at the end: from the start
    S.deadline = performance.now();
    S.timer = setTimeout(tick, 0);
  };
  const jump = (name, dir) => {
    const a = jumps[name];
    if (!a) return;
    const k = bsearch(a, S.frame);
    if (dir > 0) { if (k < a.length) show(a[k]); }
    else { let j = k - 1; while (j >= 0 && a[j] >= S.frame) j--; if (j >= 0) show(a[j]); }
  };
  const clicks = {next: () => show(S.frame + 1), prev: () => show(S.frame - 1),
                  poll: () => jump("napi_poll", 1), prev_poll: () => jump("napi_poll", -1),
                  pkt: () => jump("xdp_run", 1)};
  const takeOver = () => {                   // the controls act here from now on
    for (const [k, fn] of Object.entries(clicks)) {
      const m = M[k];
      if (!m) continue;
      const send = m.send.bind(m);
      // a click on this button steps here; the kernel learns the new position from the slider
      m.send = (content, callbacks, buffers) => (content && content.event === "click") ? fn()
                                                                                        : send(content, callbacks, buffers);
    }
    M.slider.on("change:value", () => { if (!S.busy && M.slider.get("value") !== S.frame) show(M.slider.get("value")); });
    M.play.on("change:value", onPlay);
  };
  const watched = new Set();
  // the tracks come with the widget, or a moment later (the kernel builds them after the cell has run):
  // until the page holds them the kernel steps, and ``ready`` tells it when to stop
  const load = async () => {
    if (!(model.get("tracks") || []).length) return;
    S.tracks = await loadTracks(model, wm);
    for (const r of S.tracks) {
      if (r.cm && !watched.has(r.cm)) { watched.add(r.cm); r.cm.on("change", () => applyFrame(S, S.frame)); }
    }
    if (!S.installed) { takeOver(); S.installed = true; }
    S.frame = -1;
    show(M.slider.get("value"));
    model.set("ready", true);
    model.save_changes();
  };
  model.on("change:tracks", load);
  model.on("change:jumps", loadJumps);
  await load();
}
function render({ model, el }) {
  el.style.display = "none";
  const mark = () => el.classList.toggle("xdplab-stepper-ready", !!model.get("ready"));
  mark();
  model.on("change:ready", mark);
}
export default { initialize, render };
"""

if HAVE_STEPPER:
    class Stepper(anywidget.AnyWidget):
        """Holds a player's tracks in the page and steps there (see the module's docstring)."""

        _esm = _ESM
        refs = T.Dict().tag(sync=True)          # control name -> model id (slider, play, next, ...)
        tracks = T.List().tag(sync=True)
        jumps = T.Dict().tag(sync=True)          # event name -> int32 frames (the jump buttons)
        speeds = T.List().tag(sync=True)         # events a frame advances, per index of the speed list
        last = T.Int(0).tag(sync=True)
        interval_ms = T.Int(40).tag(sync=True)
        ready = T.Bool(False).tag(sync=True)     # set by the page once it holds the tracks

        def __repr__(self):                      # stable: no address in a notebook's text output
            return f"Stepper(last={self.last}, tracks={len(self.tracks)})"
else:                                            # pragma: no cover
    Stepper = None
