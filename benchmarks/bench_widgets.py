"""How long one player step takes on the Python side (not a test).

Builds the Lab on a Board run, with a comm that JSON-encodes every message the
way the kernel's session would (so trait serialization and encoding are
counted), then moves the slider (the learner dragging it: sequential steps,
random seeks) and plays (the player's clock, ``tick()``, at 1 and 20 events a
frame), counting the messages and bytes each frame sends.  The budget is the
play interval, 40 ms a frame (25 frames per second); the browser's rendering is
not included: tests/browser/test_lab_browser.py measures it (``-k player -s``).

    .venv/bin/python benchmarks/bench_widgets.py                 # python-mode board, 20000-event trace
    .venv/bin/python benchmarks/bench_widgets.py --mode jit --packets 5000
    .venv/bin/python benchmarks/bench_widgets.py --mode jit --packets 20000 --trace 1000000 --cpumap
                                          # XDP on CPU 0 spreads 16 flows to CPU 1's CPUMAP kthread
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import comm
from comm.base_comm import BaseComm


class EncodingComm(BaseComm):
    """A comm that encodes each message as the kernel would, and counts bytes."""

    sent_bytes = 0
    messages = 0

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        EncodingComm.sent_bytes += len(json.dumps(data, default=str)) + sum(memoryview(b).nbytes
                                                                            for b in (buffers or ()))
        EncodingComm.messages += 1


def _stats(ms):
    ms = sorted(ms)
    return (f"median {statistics.median(ms):.2f} ms  p95 {ms[int(0.95 * (len(ms) - 1))]:.2f} ms  "
            f"max {ms[-1]:.2f} ms  (n={len(ms)})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", default="python", choices=("python", "jit"))
    ap.add_argument("--packets", type=int, default=2600)
    ap.add_argument("--trace", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--cpumap", action="store_true",
                    help="cpumap_rps.o's redirect_cpu_hash to CPU 1 (qsize 192), 16 flows: the Lab adds its CPU "
                         "and CPUMAP views")
    args = ap.parse_args(argv)

    comm.create_comm = lambda **kw: EncodingComm(**kw)
    try:
        import xdplab_widgets as xw
    except ImportError:                         # not installed: use the folder pyproject maps the name to
        raise SystemExit("xdplab_widgets is not importable: pip install -e .[widgets] "
                         "(or put a xdplab_widgets -> widgets/ symlink on PYTHONPATH)")
    import numpy as np
    from xdplab import Board

    t0 = time.perf_counter()
    if args.cpumap:
        from xdplab.bpf import load_object
        obj = load_object(Path(__file__).resolve().parents[1] / "xdplab" / "progs" / "cpumap_rps.o")
        obj.maps["cpus_available"].update(0, 1)
        obj.maps["cpus_count"].update(0, 1)
        obj.maps["cpu_map"].update(1, {"qsize": 192})
        b = Board(prog=obj["redirect_cpu_hash"], trace=args.trace, mode=args.mode, seed=0)
        r = b.run(packets=args.packets, size=64, rate="line", flows=16)
    else:
        b = Board(prog="drop", trace=args.trace, mode=args.mode, seed=0)
        r = b.run(packets=args.packets, size=64, rate="line")
    t_run = time.perf_counter() - t0
    t0 = time.perf_counter()
    frames = xw.frames_from_board(b)
    t_frames = time.perf_counter() - t0
    t0 = time.perf_counter()
    lab = xw.Lab(frames)
    t_build = time.perf_counter() - t0
    p = lab.player
    n = frames.n
    rng = np.random.default_rng(0)

    def measure(targets):
        out = []
        for i in targets:
            t = time.perf_counter()
            p.slider.value = int(i)             # what the front-end's slider does
            out.append((time.perf_counter() - t) * 1000.0)
        return out

    def play(speed, frames):
        p.seek(n // 2)
        p.speed.value = speed
        p.play()                                # no event loop here: tick() is the clock
        out = []
        m0, b0 = EncodingComm.messages, EncodingComm.sent_bytes
        for _ in range(frames):
            t = time.perf_counter()
            if not p.tick():
                break
            out.append((time.perf_counter() - t) * 1000.0)
        p.pause()
        k = max(len(out), 1)
        return out, (EncodingComm.messages - m0) / k, (EncodingComm.sent_bytes - b0) / k / 1024

    measure(range(1, 30))                       # warm-up
    m0, b0 = EncodingComm.messages, EncodingComm.sent_bytes
    start = n // 2
    seq = measure(range(start, min(n, start + args.steps)))
    msgs = (EncodingComm.messages - m0) / max(len(seq), 1)
    kb = (EncodingComm.sent_bytes - b0) / max(len(seq), 1) / 1024
    rnd = measure(rng.integers(0, n, args.steps))
    play1, m1, k1 = play(1, args.steps)
    play20, m20, k20 = play(20, args.steps)
    budget = p.interval_s * 1000.0
    print(f"board: mode={args.mode} packets={args.packets} rx={r['rx_packets']} trace events={n} "
          f"(lost {int(b.trace.lost[0])})  run {t_run:.2f} s")
    print(f"replay into per-frame arrays: {t_frames * 1000:.1f} ms;  Lab build: {t_build * 1000:.1f} ms "
          f"({', '.join(lab.views)})")
    print(f"slider, next event:  {_stats(seq)}   {msgs:.1f} messages, {kb:.1f} KiB per step")
    print(f"slider, random seek: {_stats(rnd)}")
    print(f"play, 1 event/frame:   {_stats(play1)}   {m1:.1f} messages, {k1:.1f} KiB per frame")
    print(f"play, 20 events/frame: {_stats(play20)}   {m20:.1f} messages, {k20:.1f} KiB per frame")
    worst = max(max(seq), max(rnd), max(play1), max(play20))
    print(f"budget {budget:.0f} ms per frame (the play interval): {'OK' if worst < budget else 'EXCEEDED'} "
          f"(worst {worst:.2f} ms)")
    return 0 if worst < budget else 1


if __name__ == "__main__":
    sys.exit(main())
