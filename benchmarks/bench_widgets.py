"""How long one player step takes on the Python side (not a test).

Builds the Lab on a Board run, with a comm that JSON-encodes every message the
way the kernel's session would (so trait serialization and encoding are
counted), then moves the slider: sequential steps (play at 1 event/tick),
random seeks, and 20-event jumps (play at speed 20).  The budget is 50 ms per
step (20 frames per second); the browser's rendering is not included.

    .venv/bin/python benchmarks/bench_widgets.py                 # python-mode board, 20000-event trace
    .venv/bin/python benchmarks/bench_widgets.py --mode jit --packets 5000
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
            p.slider.value = int(i)             # what the front-end's Play/slider does
            out.append((time.perf_counter() - t) * 1000.0)
        return out

    measure(range(1, 30))                       # warm-up
    m0, b0 = EncodingComm.messages, EncodingComm.sent_bytes
    start = n // 2
    seq = measure(range(start, min(n, start + args.steps)))
    msgs = (EncodingComm.messages - m0) / max(len(seq), 1)
    kb = (EncodingComm.sent_bytes - b0) / max(len(seq), 1) / 1024
    rnd = measure(rng.integers(0, n, args.steps))
    jump = measure(range(0, n, 20)[: args.steps])
    print(f"board: mode={args.mode} packets={args.packets} rx={r['rx_packets']} trace events={n} "
          f"(lost {int(b.trace.lost[0])})  run {t_run:.2f} s")
    print(f"replay into per-frame arrays: {t_frames * 1000:.1f} ms;  Lab build: {t_build * 1000:.1f} ms")
    print(f"step (next event):   {_stats(seq)}   {msgs:.1f} messages, {kb:.1f} KiB per step")
    print(f"random seek:         {_stats(rnd)}")
    print(f"speed 20 (20 events): {_stats(jump)}")
    worst = max(max(seq), max(rnd), max(jump))
    print(f"budget 50 ms per step: {'OK' if worst < 50 else 'EXCEEDED'} (worst {worst:.2f} ms)")
    return 0 if worst < 50 else 1


if __name__ == "__main__":
    sys.exit(main())
