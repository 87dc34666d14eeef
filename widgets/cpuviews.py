"""CPUMAP on the board's two CPUs (issue 23): each CPU's load over simulated time, the cpumap rings,
and where every page went back, replayed from the trace and driven by the same player.

Two replays (numpy over the trace's rows, no loop over all rows) and two views:

* :func:`cpu_load_state`: each CPU's busy and idle time, split softirq / process context;
* :func:`cpumap_state`: per CPUMAP entry (its target CPU), the ptr_ring's fill, the bulk queue of
  each source CPU, the two tracepoints' counts, and ``pp_recycle`` counted by kind *and by CPU*;
* :class:`CpuView` and :class:`CpumapView` show them; :func:`has_cpumap` tells ``Lab`` to add them.

What the trace does not say is reconstructed, and said here:

* **busy time.**  Each row carries the simulated clock of the CPU that made it.  The time between two
  consecutive rows of one CPU is busy (charged to the context of the later row), except when that CPU
  slept in between.  The model has two ways to sleep, and the trace marks both: CPU 0 waits for the RX
  interrupt (the gap that ends at an ``irq`` row), and a kthread on another CPU sleeps in
  ``schedule()`` with an empty ring until the flush that wakes it (the gap before the first row of a
  pass whose ``xdp_cpumap_kthread`` reports ``sched`` = 1 is idle up to the last
  ``xdp_cpumap_enqueue`` towards that CPU, the flush that woke it, plus the wake-up's cost, which the
  waker pays: ``wake_ns``, from the board).  What a CPU charges after its last
  traced row before it sleeps (CPU 0: finishing the poll; the wake-up cost is charged to the waker) is
  counted as idle, and the time before a CPU's first row and after its last is not counted: the totals
  are a little under ``Board.cpu_load()``'s (tests bound the difference).
* **contexts.**  RX interrupts and NAPI run on CPU 0 only (the board has no RSS): a CPU 0 row inside a
  poll (``napi_poll`` .. ``napi_done``) or the ``irq`` is softirq; a CPUMAP kthread (every row of
  another CPU, and a CPU 0 kthread's pass between polls) and the port's setup are process context.
* **the ring's fill** after each tracepoint: ``xdp_cpumap_enqueue`` says it (E: frames in the ring
  after the flush), ``xdp_cpumap_kthread`` took ``processed`` frames (B) from it.
* **the bulk queue** (``CPU_MAP_BULK_SIZE`` = 8 per source CPU): a successful ``xdp:xdp_redirect``
  into the CPUMAP (its map id, map_index = the target CPU) adds a frame, that CPU's
  ``xdp_cpumap_enqueue`` towards the entry empties it.  A redirect from the kthread's own program into
  a CPUMAP is not traced as ``xdp_redirect`` (the lab's nested path) and is not counted.
* **released as skbs**: the kthread builds an skb around every frame that passed
  (``__xdp_build_skb_from_frame``) and 6.1's ``xdp_release_frame`` takes its page out of the pool.
  Per pass: the frames that passed (B without a program, E's low 16 bits with one) unless the pass had
  no skb heads (C, drops).  A multi-buffer frame releases each of its pages; the view counts frames.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import bqplot as bq
import ipywidgets as W
import numpy as np

from xdplab.trace import TR_A, TR_B, TR_C, TR_CPU, TR_D, TR_E, TR_EV

from .frames import CTX_NAPI, CTX_SETUP, EV, Frames
from .stepper import _index_bytes, track
from .views import _TEXT, _Sent, _View, _fig, _swatches, _title

__all__ = ["CpuLoadState", "cpu_load_state", "CpumapState", "cpumap_state", "CpuView", "CpumapView",
           "has_cpumap", "only_cpumap_redirects", "CPUMAP_EVENTS", "RECYCLE_KINDS", "board_cpumap_qsize", "board_wake_ns"]

NR_CPUS = 2                       # xdplab.cpumap.NR_CPUS: the A3720's two Cortex-A53
CPU_MAP_BULK_SIZE = 8             # xdplab.cpumap.CPU_MAP_BULK_SIZE
CPUMAP_EVENTS = ("xdp_cpumap_enqueue", "xdp_cpumap_kthread")
#: where a page went back, in the order of pp_recycle's C column, then the kthread's skbs
RECYCLE_KINDS = ("alloc cache (direct, lockless)", "ptr_ring (spinlock)", "released (refcnt)",
                 "released (ptr_ring full)", "left the pool as an skb (xdp_release_frame)")
CPU_COLORS = ("#1f77b4", "#ff7f0e")
CTX_SOFTIRQ, CTX_KTHREAD, CTX_OTHER = 0, 1, 2     # busy[..., k]: softirq, a kthread, other process context


def has_cpumap(frames: Frames) -> bool:
    """Does the trace hold a CPUMAP tracepoint (``xdp_cpumap_enqueue`` / ``xdp_cpumap_kthread``)?"""
    return bool(np.isin(frames.ev[:, TR_EV], [EV[k] for k in CPUMAP_EVENTS]).any())


def only_cpumap_redirects(frames: Frames) -> bool:
    """Are the trace's redirect events all ``xdp:xdp_redirect`` into a CPUMAP (no device, devmap or veth
    event)?  Then the CPUMAP panel says everything the per-device redirect panel would."""
    from .frames import REDIRECT_EVENTS
    code = frames.ev[:, TR_EV]
    cm = np.isin(code, [EV[k] for k in CPUMAP_EVENTS])
    if not cm.any():
        return False
    ids = np.unique(frames.ev[cm, TR_A])
    red = np.isin(code, [EV[k] for k in REDIRECT_EVENTS])
    mine = (code == EV["xdp_redirect"]) & np.isin(frames.ev[:, TR_D], ids) & (frames.ev[:, TR_B] == 0)
    return bool(red.any() and (mine | ~red).all())


def board_cpumap_qsize(board) -> dict:
    """{target CPU: qsize} of a board's CPUMAP entries now (the trace does not carry qsize)."""
    try:
        from xdplab.cpumap import CMF_QSIZE
        cm = board.s.cpumap
        return {c: int(cm[c, CMF_QSIZE]) for c in range(NR_CPUS) if int(cm[c, CMF_QSIZE]) > 0}
    except (AttributeError, ImportError, IndexError):
        return {}


def _ffill(mask, values, initial):
    n = mask.shape[0]
    idx = np.where(mask, np.arange(n), -1)
    np.maximum.accumulate(idx, out=idx)
    out = np.asarray(values)[np.maximum(idx, 0)]
    return np.where(idx >= 0, out, initial)


def _bfill(mask, values, initial):
    """values[first index >= i where mask], or ``initial`` after the last."""
    return _ffill(mask[::-1], np.asarray(values)[::-1], initial)[::-1]


# ---------------------------------------------------------------- the CPUs' load
@dataclass(frozen=True)
class CpuLoadState:
    """Each CPU's time as the trace shows it (see the module's notes).

    ``busy[i, c, k]``: ns CPU ``c`` spent busy in context ``k`` up to frame ``i``: 0 softirq (and the RX
    interrupt), 1 a CPUMAP kthread, 2 other process context (the port's setup: ``ip link``, attaching);
    ``idle[i, c]``: ns it slept; ``clock[i, c]``: its clock at its last row up to frame ``i`` (nan
    before its first); ``first[c]``: the time of its first row.  ``bin_t_us`` / ``bin_busy``: the busy
    fraction per bin of simulated time, ``bin_busy[k, c, ctx]``, from the first frame's arrival on.
    """

    busy: np.ndarray
    idle: np.ndarray
    clock: np.ndarray
    first: np.ndarray
    kthread_row: np.ndarray   # bool[n]: the row belongs to a CPUMAP kthread's pass
    softirq_row: np.ndarray   # bool[n]: the row runs in (hard or soft) interrupt context
    bin_edges_ns: np.ndarray
    bin_t_us: np.ndarray
    bin_busy: np.ndarray

    def at(self, i: int) -> list:
        """Per CPU at frame i: {busy_ns, softirq_ns, process_ns (kthread_ns + other_ns), idle_ns, clock_ns, load}."""
        out = []
        for c in range(NR_CPUS):
            s, kt, o = (float(x) for x in self.busy[i, c])
            p = kt + o
            clk = float(self.clock[i, c])
            span = clk - float(self.first[c]) if np.isfinite(clk) else 0.0
            out.append({"cpu": c, "busy_ns": s + p, "softirq_ns": s, "process_ns": p, "kthread_ns": kt, "other_ns": o,
                        "idle_ns": float(self.idle[i, c]), "clock_ns": clk if np.isfinite(clk) else 0.0,
                        "load": (s + p) / span if span > 0 else 0.0})
        return out


def _interval_cum(starts, ends):
    """A piecewise-linear cumulative function through disjoint, increasing intervals: (xp, fp)."""
    ln = ends - starts
    cum = np.cumsum(ln)
    xp = np.empty(2 * starts.size)
    fp = np.empty(2 * starts.size)
    xp[0::2], xp[1::2] = starts, ends
    fp[0::2], fp[1::2] = cum - ln, cum
    return np.maximum.accumulate(xp) if xp.size else xp, fp


def board_wake_ns(board) -> float:
    """What the board charges for ``wake_up_process`` of a sleeping kthread (``cpumap_wake``), in ns: the
    waker (CPU 0) pays it, and the woken CPU's clock starts after it."""
    try:
        from xdplab import _layout as L
        from xdplab.cost import C_CPUMAP_WAKE
        return float(board.s.r[L.R_COST_FX + C_CPUMAP_WAKE]) * L.CLOCK_UNIT_NS
    except (AttributeError, ImportError, IndexError):
        return 0.0


def cpu_load_state(frames: Frames, bins: int | None = None, wake_ns: float = 0.0) -> CpuLoadState:
    """Replay each CPU's busy and idle time from ``frames`` (see the module's notes).  ``wake_ns``: the
    board's wake-up cost (:func:`board_wake_ns`), the time from the waking flush's tracepoint to the
    moment the woken CPU's clock starts."""
    ev, t, n = frames.ev, frames.t_ns, frames.n
    code, cpu = ev[:, TR_EV], ev[:, TR_CPU]
    b_, d_ = ev[:, TR_B], ev[:, TR_D]
    kt = code == EV["xdp_cpumap_kthread"]
    enq = code == EV["xdp_cpumap_enqueue"]
    irq = code == EV["irq"]
    ctx = frames.ctx
    # ---- which rows a kthread runs: every row of CPU 1 (no RX interrupt there), and on CPU 0 the rows
    # outside a poll whose next CPU 0 row of a known activity is a kthread's tracepoint
    on0 = cpu == 0
    anchor = on0 & (kt | irq | np.isin(code, [EV[k] for k in ("napi_poll", "napi_done", "veth_poll", "xdp_setup",
                                                              "port_stop", "port_open", "port_up")]))
    next_is_kt = _bfill(anchor, kt, False)
    kthread_row = (cpu >= 1) | (on0 & (ctx != CTX_NAPI) & next_is_kt & (ctx != CTX_SETUP))
    softirq_row = on0 & ~kthread_row & ((ctx == CTX_NAPI) | irq)
    busy = np.zeros((n, NR_CPUS, 3))
    idle = np.zeros((n, NR_CPUS))
    clock = np.full((n, NR_CPUS), np.nan)
    first = np.full(NR_CPUS, np.nan)
    spans = {}
    for c in range(NR_CPUS):
        rows = np.flatnonzero(cpu == c)
        if rows.size == 0:
            continue
        tt = np.maximum.accumulate(t[rows])
        first[c] = tt[0]
        gap = np.r_[0.0, np.diff(tt)]
        if c == 0:
            # idle until the interrupt (sim_run's cpu_idle_until, then mvneta_isr)
            sleep = np.where(irq[rows], gap, 0.0)
        else:
            # a pass after schedule(): idle from the previous row to the flush that woke the kthread
            prev_kt = np.r_[False, kt[rows][:-1]]
            sched = _bfill(kt[rows], d_[rows], 0)
            wake_t = _ffill(enq & (d_ == c), t + float(wake_ns), -np.inf)[rows]
            prev_t = np.r_[tt[0], tt[:-1]]
            sleep = np.where(prev_kt & (sched != 0), np.clip(wake_t - prev_t, 0.0, gap), 0.0)
        work = gap - sleep
        k = np.where(softirq_row[rows], CTX_SOFTIRQ, np.where(kthread_row[rows], CTX_KTHREAD, CTX_OTHER))
        for ctx_k in (CTX_SOFTIRQ, CTX_KTHREAD, CTX_OTHER):
            inc = np.zeros(n)
            inc[rows] = np.where(k == ctx_k, work, 0.0)
            busy[:, c, ctx_k] = np.cumsum(inc)
            sel = (k == ctx_k) & (work > 0)
            spans[(c, ctx_k)] = _interval_cum(tt[sel] - work[sel], tt[sel])
        inc = np.zeros(n)
        inc[rows] = sleep
        idle[:, c] = np.cumsum(inc)
        mark = np.zeros(n, bool)
        mark[rows] = True
        tc = np.zeros(n)
        tc[rows] = tt
        clock[:, c] = _ffill(mark, tc, np.nan)
    # ---- busy fraction per bin of simulated time
    # over the window in which frames arrive and are handled (the port's setup before is not traffic)
    cpu_t = t[cpu >= 0]
    arrive = t[(code == EV["nic_rx"]) | (code == EV["hw_discard"])]
    t0, t1 = (float(cpu_t.min()), float(cpu_t.max())) if cpu_t.size else (0.0, 1.0)
    if arrive.size:
        t0 = max(t0, float(arrive.min()))
    if t1 <= t0:
        t1 = t0 + 1.0
    if bins is None:
        bins = int(np.clip(cpu_t.size // 40, 10, 150))
    edges = np.linspace(t0, t1, bins + 1)
    width = edges[1] - edges[0]
    bin_busy = np.zeros((bins, NR_CPUS, 3))
    for (c, k), (xp, fp) in spans.items():
        if xp.size:
            cum = np.interp(edges, xp, fp, left=0.0, right=float(fp[-1]))
            bin_busy[:, c, k] = np.diff(cum) / width
    return CpuLoadState(busy=busy, idle=idle, clock=clock, first=first, kthread_row=kthread_row,
                        softirq_row=softirq_row, bin_edges_ns=edges, bin_t_us=(edges[:-1] + edges[1:]) / 2000.0,
                        bin_busy=bin_busy)


# ---------------------------------------------------------------- the CPUMAP
@dataclass(frozen=True)
class CpumapState:
    """Per-frame state of the CPUMAP, replayed from its tracepoints (see the module's notes).

    ``cpus``: the target CPUs (entries) the trace names; for frame ``i`` and entry column ``k``:
    ``ring[i, k]`` frames in its ptr_ring, ``bq[i, s, k]`` frames in source CPU ``s``'s bulk queue
    towards it, and what its two tracepoints said so far (``enq_*``, ``kt_*``).  ``recycle[i, c, j]``:
    pages CPU ``c`` gave back by kind ``j`` of :data:`RECYCLE_KINDS` (the last kind: frames the
    kthread on CPU ``c`` turned into skbs, whose pages left the pool), counted since the latest
    ``page_pool_create`` (the RX queue's pool: a port restart starts them at 0, as ``ethtool -S``).  ``ring_t_us`` / ``ring_fill``:
    per entry, the fill after each change against the time of the CPU that changed it (sorted).
    """

    cpus: tuple
    map_ids: tuple
    qsize: dict
    ring: np.ndarray
    bq: np.ndarray
    enq_processed: np.ndarray
    enq_drops: np.ndarray
    enq_bulks: np.ndarray
    kt_processed: np.ndarray
    kt_drops: np.ndarray
    kt_sched: np.ndarray
    kt_pass: np.ndarray
    kt_drop: np.ndarray
    kt_redirect: np.ndarray
    recycle: np.ndarray
    ring_t_us: tuple
    ring_fill: tuple

    @property
    def active(self) -> bool:
        return len(self.cpus) > 0

    def entry(self, i: int, cpu: int) -> dict:
        """What the view shows of the entry for CPU ``cpu`` at frame i."""
        k = self.cpus.index(cpu)
        out = {"ring": int(self.ring[i, k]), "qsize": self.qsize.get(cpu, 0)}
        for s in range(NR_CPUS):
            out[f"bq_cpu{s}"] = int(self.bq[i, s, k])
        for name in ("enq_processed", "enq_drops", "enq_bulks", "kt_processed", "kt_drops", "kt_sched", "kt_pass",
                     "kt_drop", "kt_redirect"):
            out[name] = int(getattr(self, name)[i, k])
        return out

    def recycled(self, i: int) -> dict:
        """{kind: [CPU 0, CPU 1]} of the pages given back so far at frame i."""
        return {kind: [int(self.recycle[i, c, j]) for c in range(NR_CPUS)] for j, kind in enumerate(RECYCLE_KINDS)}


def cpumap_state(frames: Frames, qsize: dict | None = None) -> CpumapState:
    """Replay the CPUMAP's tracepoints and ``pp_recycle`` by CPU from ``frames`` (vectorised)."""
    ev, t, n = frames.ev, frames.t_ns, frames.n
    code, cpu = ev[:, TR_EV], ev[:, TR_CPU]
    a, b, c, d, e = (ev[:, k] for k in (TR_A, TR_B, TR_C, TR_D, TR_E))
    enq = code == EV["xdp_cpumap_enqueue"]
    kt = code == EV["xdp_cpumap_kthread"]
    map_ids = tuple(sorted(int(x) for x in np.unique(a[enq | kt])))
    cpus = tuple(sorted(set(int(x) for x in np.unique(d[enq])) | set(int(x) for x in np.unique(cpu[kt]))))
    m = len(cpus)
    z = lambda: np.zeros((n, m), np.int32)         # noqa: E731
    ring, bq = z(), np.zeros((n, NR_CPUS, m), np.int32)
    st = {k: z() for k in ("enq_processed", "enq_drops", "enq_bulks", "kt_processed", "kt_drops", "kt_sched",
                           "kt_pass", "kt_drop", "kt_redirect")}
    redir = (code == EV["xdp_redirect"]) & np.isin(d, map_ids) & (c == 0) & (b == 0)
    has_prog = e != 0                                # the kthread's E packs its program's verdicts (0: none)
    nframes = np.where(has_prog, e & 0xFFFF, b)
    skb_frames = np.where(kt & (c == 0), nframes, 0)
    ring_t, ring_f = [], []
    for k, tc in enumerate(cpus):
        to = enq & (d == tc)
        mine = kt & (cpu == tc)
        delta = np.where(to, b - c, 0) - np.where(mine, b, 0)
        fill = np.cumsum(delta)
        hits = np.flatnonzero(to)
        if hits.size:                                # a trace that began with frames in the ring
            fill += int(e[hits[0]]) - int(fill[hits[0]])
        ring[:, k] = np.maximum(fill, 0)
        st["enq_processed"][:, k] = np.cumsum(np.where(to, b, 0))
        st["enq_drops"][:, k] = np.cumsum(np.where(to, c, 0))
        st["enq_bulks"][:, k] = np.cumsum(to)
        st["kt_processed"][:, k] = np.cumsum(np.where(mine, b, 0))
        st["kt_drops"][:, k] = np.cumsum(np.where(mine, c, 0))
        st["kt_sched"][:, k] = np.cumsum(np.where(mine, d, 0))
        st["kt_pass"][:, k] = np.cumsum(np.where(mine & has_prog, e & 0xFFFF, 0))
        st["kt_drop"][:, k] = np.cumsum(np.where(mine & has_prog, (e >> 16) & 0xFFFF, 0))
        st["kt_redirect"][:, k] = np.cumsum(np.where(mine & has_prog, (e >> 32) & 0xFFFF, 0))
        for s in range(NR_CPUS):
            add = np.cumsum(redir & (e == tc) & (cpu == s))
            reset = to & (cpu == s)
            bq[:, s, k] = add - _ffill(reset, add, 0)
        chg = np.flatnonzero(to | mine)
        order = np.argsort(t[chg], kind="stable")
        ring_t.append((t[chg][order] / 1000.0).astype(np.float64))
        ring_f.append(ring[chg, k][order].astype(np.float64))
    rec = code == EV["pp_recycle"]
    recycle = np.zeros((n, NR_CPUS, len(RECYCLE_KINDS)), np.int32)
    for cc in range(NR_CPUS):
        for j in range(4):
            recycle[:, cc, j] = np.cumsum(rec & (cpu == cc) & (c == j))
        recycle[:, cc, 4] = np.cumsum(np.where(cpu == cc, skb_frames, 0))
    # counted from the latest page_pool_create on (the RX queue's pool: its stats start at 0, as ethtool -S's)
    last_create = _ffill(code == EV["pp_create"], np.arange(n), -1)
    recycle -= np.where((last_create >= 0)[:, None, None], recycle[np.maximum(last_create, 0)], 0)
    if not qsize:
        qsize = {}
    return CpumapState(cpus=cpus, map_ids=map_ids, qsize={int(k): int(v) for k, v in qsize.items()}, ring=ring,
                       bq=bq, recycle=recycle, ring_t_us=tuple(ring_t), ring_fill=tuple(ring_f), **st)


# ---------------------------------------------------------------- views
def _dedup_rows(keys: np.ndarray):
    """(distinct rows in order of appearance, index per frame): the rows change at a few frames, so only
    the frames where they change are looked up (np.unique over rows sorts them all, 10x slower)."""
    n = keys.shape[0]
    if keys.shape[1] == 0 or n == 0:
        return keys[:1], np.zeros(n, np.int64)
    chg = np.r_[True, np.any(keys[1:] != keys[:-1], axis=1)]
    seen, uniq, of_run = {}, [], []
    for j in np.flatnonzero(chg):
        row = keys[j]
        k = seen.setdefault(row.tobytes(), len(uniq))
        if k == len(uniq):
            uniq.append(row)
        of_run.append(k)
    return np.array(uniq), np.asarray(of_run, np.int64)[np.cumsum(chg) - 1]


class _NumText:
    """A text that is one template with integers in it, the integers given per frame (``keys[i]``).

    ``render(values)`` writes the text around its values with ``f"{v}"`` only (no arithmetic on them:
    what is derived, a percentage or a width, is a key of its own).  Rendered once with placeholders,
    it gives the template; ``at(i)`` fills it with frame i's numbers, and ``track(widget)`` is the
    stepper's text track (``stepper.track``'s format: one template, the distinct rows of numbers, one
    index per frame) without rendering or parsing a text per frame."""

    def __init__(self, render, keys: np.ndarray):
        self.keys = np.ascontiguousarray(keys, np.int64)
        k = self.keys.shape[1]
        text = render([f"\x00{j}\x00" for j in range(k)])
        self.parts = re.split("\x00[0-9]+\x00", text)
        order = [int(x) for x in re.findall("\x00([0-9]+)\x00", text)]
        if order != list(range(k)):
            raise ValueError(f"render must write each of its {k} values once, in order (got {order})")

    def at(self, i: int) -> str:
        p = self.parts
        return "".join(p[j] + str(int(v)) for j, v in enumerate(self.keys[i])) + p[-1]

    def track(self, widget) -> dict:
        uniq, inv = _dedup_rows(self.keys)
        itype, ibytes = _index_bytes(np.asarray(inv).reshape(-1), len(uniq))
        return {"model": widget.model_id, "trait": "value", "itype": itype, "index": ibytes, "kind": "text",
                "templates": [list(self.parts)], "tid": np.zeros(len(uniq), np.uint32).tobytes(),
                "nums": np.ascontiguousarray(uniq, np.float64).tobytes(), "count": len(uniq)}


def _cursor_at(t_ns, span_us):
    """The time cursor's x (us), on a grid of 1/2000 of the plot's width (what a pixel can show)."""
    q = max(span_us / 2000.0, 1e-9)
    x = np.round(np.asarray(t_ns, np.float64) / 1000.0 / q) * q
    return x


class CpuView(_View):
    """CPU 0 and CPU 1 over simulated time: the busy fraction of each, and the current frame's time.

    The board takes every RX interrupt on CPU 0 (no RSS): NAPI runs there in softirq.  With a CPUMAP,
    the kthread that builds the skbs runs on its target CPU in process context.  Solid lines: each
    CPU's busy share per bin of simulated time from the first frame's arrival (dashed: its kthread's part,
    drawn when a CPU runs a kthread and something else).  The table gives each CPU's busy time so far, split by context (softirq; a CPUMAP kthread;
    the port's setup, in process context too), its idle time and load.
    Replayed from the trace (:func:`cpu_load_state`, whose notes say what is approximated).
    """

    def __init__(self, frames: Frames, wake_ns: float = 0.0, height: str = "190px"):
        self.frames = frames
        self._sent = _Sent()
        self.state = st = cpu_load_state(frames, wake_ns=wake_ns)
        x = st.bin_t_us
        tot = st.bin_busy.sum(axis=2)
        ys, colors, styles, labels = [], [], [], []
        for cc in range(NR_CPUS):
            if not np.isfinite(st.first[cc]):
                continue
            ys.append(tot[:, cc])
            colors.append(CPU_COLORS[cc])
            styles.append("solid")
            labels.append(f"CPU {cc} busy")
            both = st.bin_busy[:, cc, CTX_KTHREAD].any() and (st.bin_busy[:, cc, CTX_SOFTIRQ].any() or
                                                             st.bin_busy[:, cc, CTX_OTHER].any())
            if both:
                ys.append(st.bin_busy[:, cc, CTX_KTHREAD])
                colors.append(CPU_COLORS[cc])
                styles.append("dashed")
                labels.append(f"CPU {cc} kthread")
        self.labels = labels
        sx = bq.LinearScale(min=float(x[0]), max=float(x[-1]))
        sy = bq.LinearScale(min=0.0, max=1.05, allow_padding=False)
        self._span_us = float(x[-1] - x[0]) or 1.0
        self.lines = [bq.Lines(x=x, y=y, colors=[col], line_style=sty, stroke_width=2, scales={"x": sx, "y": sy})
                      for y, col, sty in zip(ys, colors, styles)]
        self.cursor = bq.Lines(x=np.array([x[0], x[0]]), y=np.array([0.0, 1.05]), colors=["#000"],
                               line_style="dotted", scales={"x": sx, "y": sy})
        ax = bq.Axis(scale=sx, label="simulated time (us)", num_ticks=6, tick_format=".0f")
        ay = bq.Axis(scale=sy, side="left", label="busy", tick_values=np.array([0.0, 0.25, 0.5, 0.75, 1.0]),
                     tick_format=".0%")
        self.figure = _fig(self.lines + [self.cursor], [ax, ay], height=height, min_width="260px",
                           margin=dict(top=8, bottom=36, left=48, right=10))
        self.table = W.HTML()
        self.table.add_class("xdplab-cpus")
        style = W.HTML("<style>.xdplab-cpus-t {font-family:monospace;font-size:11px;line-height:1.25;"
                       "border-collapse:collapse} .xdplab-cpus-t td, .xdplab-cpus-t th {padding:0 0 0 10px;"
                       "white-space:nowrap;text-align:right} .xdplab-cpus-t td:first-child {padding-left:0;"
                       "text-align:left}</style>")
        self.widget = W.VBox([_title("CPU 0 and CPU 1: busy over simulated time"),
                              _swatches(labels, colors), self.figure, self.table, style],
                             layout=W.Layout(min_width="0"))
        self._cursor_x = _cursor_at(frames.t_ns, self._span_us)
        self._text = _NumText(self._render, self._keys())
        self.update(0)

    def values_at(self, i: int) -> list:
        """Per CPU at frame i (:meth:`CpuLoadState.at`)."""
        return self.state.at(i)

    def _keys(self) -> np.ndarray:
        """The numbers the table shows, per frame and CPU: busy, softirq, kthread, other, idle (whole us), load
        (%, one decimal: its integer part and its tenths)."""
        st = self.state
        us = lambda a: np.round(np.nan_to_num(a) / 1000.0).astype(np.int64)   # noqa: E731
        span = np.nan_to_num(st.clock - st.first[None, :])
        busy = st.busy.sum(axis=2)
        load = np.where(span > 0, np.round(1000.0 * busy / np.where(span > 0, span, 1.0)), 0).astype(np.int64)
        cols = []
        for cc in range(NR_CPUS):
            cols += [us(busy[:, cc])] + [us(st.busy[:, cc, k]) for k in range(3)] + \
                [us(st.idle[:, cc]), load[:, cc] // 10, load[:, cc] % 10]
        return np.stack(cols, axis=1)

    @staticmethod
    def _render(v) -> str:
        w = 7
        rows = "".join(f"<tr><td>CPU {cc}</td>" + "".join(f"<td>{v[w * cc + k]}</td>" for k in range(5)) +
                       f"<td>{v[w * cc + 5]}.{v[w * cc + 6]} %</td></tr>" for cc in range(NR_CPUS))
        return ("<table class='xdplab-cpus-t'><tr><th></th><th>busy us</th><th>softirq</th><th>kthread</th>"
                f"<th>setup</th><th>idle us</th><th>load</th></tr>{rows}</table>")

    def state_at(self, i: int):
        x = float(self._cursor_x[i])
        return [(self.cursor, {"x": np.array([x, x])}), (self.table, {"value": self._text.at(i)})]

    def tracks(self) -> list:
        x = self._cursor_x
        ux, inv = np.unique(x, return_inverse=True)
        cur = track(self.cursor, "x", ([np.array([v, v]) for v in ux], np.asarray(inv).reshape(-1)))
        return [cur, self._text.track(self.table)]


class CpumapView(_View):
    """The CPUMAP (``kernel/bpf/cpumap.c``): rings, bulk queues, drops, and where every page went back.

    Per entry (its target CPU): the ptr_ring's fill over simulated time (from the first frame's arrival)
    against its ``qsize`` (dashed),
    and at the current frame: the fill, each source CPU's bulk queue (``CPU_MAP_BULK_SIZE`` = 8, drawn
    as cells), what ``xdp:xdp_cpumap_enqueue`` (processed, drops: the ring was full) and
    ``xdp:xdp_cpumap_kthread`` (processed, drops: no skb, sched, the program's verdicts) said so far.
    Below, the pages given back, by kind and by CPU: in 6.1 the kthread gives frames back with
    ``xdp_return_frame`` (its program runs under ``xdp_set_return_frame_no_direct``), so a page recycled
    from CPU 1 goes to the pool's ptr_ring and never the lockless alloc cache, which belongs to CPU 0's NAPI; a page that becomes an skb on CPU 1
    leaves the pool (``xdp_release_frame``).  Read from the trace only (:func:`cpumap_state`);
    ``qsize`` comes from the board (the trace does not carry it).
    """

    def __init__(self, frames: Frames, qsize: dict | None = None, height: str = "150px"):
        self.frames = frames
        self._sent = _Sent()
        self.state = st = cpumap_state(frames, qsize)
        t_all = frames.t_ns[frames.ev[:, TR_CPU] >= 0]
        t0 = float(t_all.min()) / 1000.0 if t_all.size else 0.0
        code = frames.ev[:, TR_EV]
        arrive = frames.t_ns[(code == EV["nic_rx"]) | (code == EV["hw_discard"])]
        if arrive.size:                       # from the first frame's arrival: the port's setup is no traffic
            t0 = max(t0, float(arrive.min()) / 1000.0)
        t1 = float(t_all.max()) / 1000.0 if t_all.size else 1.0
        t1 = t1 if t1 > t0 else t0 + 1.0
        self._span_us = t1 - t0
        ymax = float(max([st.qsize.get(cc, 0) for cc in st.cpus] +
                         [float(f.max(initial=0)) for f in st.ring_fill] + [8.0]))
        sx = bq.LinearScale(min=t0, max=t1)
        sy = bq.LinearScale(min=0.0, max=ymax * 1.1, allow_padding=False)
        self.fill_lines = []
        colors, labels = [], []
        for k, cc in enumerate(st.cpus):
            xs, ys = st.ring_t_us[k], st.ring_fill[k]
            if xs.size == 0:
                xs, ys = np.array([t0]), np.array([0.0])
            col = CPU_COLORS[cc % len(CPU_COLORS)]
            self.fill_lines.append(bq.Lines(x=xs, y=ys, colors=[col], stroke_width=1.5, interpolation="step-after",
                                            scales={"x": sx, "y": sy}))
            colors.append(col)
            labels.append(f"ptr_ring of CPU {cc}")
            q = st.qsize.get(cc, 0)
            if q:
                self.fill_lines.append(bq.Lines(x=np.array([t0, t1]), y=np.array([q, q], float), colors=[col],
                                                line_style="dashed", scales={"x": sx, "y": sy}))
        self.cursor = bq.Lines(x=np.array([t0, t0]), y=np.array([0.0, ymax * 1.1]), colors=["#000"],
                               line_style="dotted", scales={"x": sx, "y": sy})
        ax = bq.Axis(scale=sx, label="simulated time (us)", num_ticks=6, tick_format=".0f")
        ay = bq.Axis(scale=sy, side="left", label="frames", num_ticks=4, tick_format="d")
        self.figure = _fig(self.fill_lines + [self.cursor], [ax, ay], height=height, min_width="260px",
                           margin=dict(top=8, bottom=36, left=48, right=10))
        self.table = W.HTML()
        self.table.add_class("xdplab-cpumap")
        self.recycle = W.HTML()
        self.recycle.add_class("xdplab-cpumap-recycle")
        lesson = W.HTML(f'<div style="{_TEXT};font-size:11px">6.1: the kthread gives frames back with '
                        "xdp_return_frame, not the NAPI-direct variant (its program runs under "
                        "xdp_set_return_frame_no_direct), so a page recycled from CPU 1 goes to the ptr_ring, never "
                        "the lockless alloc cache of CPU 0's NAPI; a frame that becomes an skb on CPU 1 leaves the "
                        "pool (xdp_release_frame).</div>" + self._STYLE)
        self.widget = W.VBox([_title("CPUMAP: the ptr_ring per target CPU, its drops, where pages go back"),
                              _swatches(labels + ["qsize (dashed)"], colors + ["#fff"]), self.figure,
                              self.table, self.recycle, lesson], layout=W.Layout(min_width="0"))
        self._cursor_x = _cursor_at(frames.t_ns, self._span_us)
        # the source CPUs whose bulk queues are shown: those that enqueue (CPU 0's NAPI; CPU 1 only when a
        # kthread's program redirects into the CPUMAP)
        srcs = set(int(x) for x in np.unique(frames.ev[frames.ev[:, TR_EV] == EV["xdp_cpumap_enqueue"], TR_CPU]))
        srcs |= {s for s in range(NR_CPUS) if st.bq[:, s].any()}
        self.sources = tuple(sorted(x for x in srcs if 0 <= x < NR_CPUS)) or (0,)
        self._entry = _NumText(self._entry_html, self._entry_keys())
        self._recycled = _NumText(self._recycle_html, self._recycle_keys())
        self.update(0)

    def values_at(self, i: int) -> dict:
        """{"entries": {cpu: CpumapState.entry}, "recycled": CpumapState.recycled} at frame i."""
        st = self.state
        return {"entries": {cc: st.entry(i, cc) for cc in st.cpus}, "recycled": st.recycled(i)}

    # the two texts, each from one numeric row per frame (distinct rows rendered once for the stepper)
    _ENTRY_COLS = ("ring", "enq_processed", "enq_drops", "kt_processed", "kt_drops", "kt_sched", "kt_pass",
                   "kt_drop", "kt_redirect")

    def _groups(self) -> list:
        """The table's rows: (label, how many numbers each entry has in it)."""
        return ([("ptr_ring", 2)] + [(f"bulk queue of CPU {s}", 3) for s in self.sources] +
                [("xdp_cpumap_enqueue", 2), ("xdp_cpumap_kthread", 3), ("kthread's program", 3)])

    def _entry_keys(self) -> np.ndarray:
        """The numbers of the table in the order it shows them: row by row, entry by entry.  Per entry: the
        ring bar's width (%) and fill; per source CPU its bulk queue's cells on and off (px) and count;
        enqueue processed, drops; kthread processed, drops, sched; the program's pass, drop, redirect."""
        st = self.state
        per = []
        for k, cc in enumerate(st.cpus):
            q = st.qsize.get(cc, 0)
            f = [np.minimum(100, 100 * st.ring[:, k] // q) if q else np.zeros(self.frames.n, np.int64), st.ring[:, k]]
            for s in self.sources:
                f += [7 * st.bq[:, s, k], 7 * (CPU_MAP_BULK_SIZE - st.bq[:, s, k]), st.bq[:, s, k]]
            f += [getattr(st, name)[:, k] for name in self._ENTRY_COLS[1:]]
            per.append(f)
        cols, o = [], 0
        for _label, width in self._groups():
            for f in per:
                cols += f[o:o + width]
            o += width
        if not cols:
            return np.zeros((self.frames.n, 0), np.int64)
        return np.stack(cols, axis=1).astype(np.int64)

    def _entry_html(self, v) -> str:
        # one column per entry, one row per quantity: narrow enough for half the lab's width.  Short: the
        # stepper sends each distinct row of numbers once; styles are in the panel's <style>
        st = self.state
        m = len(st.cpus)
        if not m:
            return "<table class='xc-t'><tr><td>no CPUMAP tracepoint in this trace</td></tr></table>"
        head = "<tr><th></th>" + "".join(f"<th>entry of CPU {cc}</th>" for cc in st.cpus) + "</tr>"
        rows, o = [], 0
        for label, width in self._groups():
            cells = []
            for k, cc in enumerate(st.cpus):
                e = v[o + k * width:o + (k + 1) * width]
                if label == "ptr_ring":
                    q = st.qsize.get(cc, 0)
                    cells.append(f"<span class='xc-bar'><span style='width:{e[0]}%;background:"
                                 f"{CPU_COLORS[cc % 2]}'></span></span> {e[1]}" + (f" / {q}" if q else ""))
                elif label.startswith("bulk queue"):
                    cells.append(f"<span class='xc-on' style='width:{e[0]}px'></span><span class='xc-off' "
                                 f"style='width:{e[1]}px'></span> {e[2]} / {CPU_MAP_BULK_SIZE}")
                elif label == "xdp_cpumap_enqueue":
                    cells.append(f"processed {e[0]}, drops {e[1]}")
                elif label == "xdp_cpumap_kthread":
                    cells.append(f"processed {e[0]}, drops {e[1]}, sched {e[2]}")
                else:
                    cells.append(f"pass {e[0]}, drop {e[1]}, redirect {e[2]}")
            o += m * width
            rows.append(f"<tr><td>{label}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return "<table class='xc-t'>" + head + "".join(rows) + "</table>"

    _STYLE = ("<style>.xc-t {font-family:monospace;font-size:11px;line-height:1.25;border-collapse:collapse} "
              ".xc-t td, .xc-t th {padding:0 0 0 8px;white-space:nowrap} .xc-t td {text-align:right} "
              ".xc-t td:first-child, .xc-t th:first-child {text-align:left;padding-left:0} "
              ".xc-bar {display:inline-block;width:80px;height:10px;background:#eee;vertical-align:middle} "
              ".xc-bar span {display:block;height:10px} .xc-on, .xc-off {display:inline-block;height:10px;"
              "vertical-align:middle} .xc-on {background:#ff7f0e} .xc-off {background:#eee}</style>")

    def _recycle_keys(self) -> np.ndarray:
        r = self.state.recycle
        return r.transpose(0, 2, 1).reshape(r.shape[0], -1).astype(np.int64)   # per kind: CPU 0, CPU 1

    @staticmethod
    def _recycle_html(v) -> str:
        rows = "".join(f"<tr><td style='text-align:left'>{html.escape(kind)}</td>" + "".join(
            f"<td>{v[j * NR_CPUS + cc]}</td>" for cc in range(NR_CPUS)) + "</tr>" for j, kind in enumerate(RECYCLE_KINDS))
        return ("<table class='xc-t'><tr><th style='text-align:left'>pages given back (this pool)</th>"
                f"<th>CPU 0 (NAPI)</th><th>CPU 1 (kthread)</th></tr>{rows}</table>")

    def state_at(self, i: int):
        x = float(self._cursor_x[i])
        return [(self.cursor, {"x": np.array([x, x])}), (self.table, {"value": self._entry.at(i)}),
                (self.recycle, {"value": self._recycled.at(i)})]

    def tracks(self) -> list:
        x = self._cursor_x
        ux, inv = np.unique(x, return_inverse=True)
        cur = track(self.cursor, "x", ([np.array([v, v]) for v in ux], np.asarray(inv).reshape(-1)))
        return [cur, self._entry.track(self.table), self._recycled.track(self.recycle)]
