"""Where the jitted simulator spends its time, per kernel: perf + a perf map of numba's code.

    python benchmarks/profile_jit.py drop --packets 3000000 [--rate 500000]

perf cannot name JIT code by itself; it reads ``/tmp/perf-PID.map``.  This
script compiles the board into a fresh numba cache directory (a library loaded
from the cache no longer has the LLVM module that lists its functions), writes
the map from the compiled library's symbols, and samples only the simulation
loop (``sim_run``) with ``perf record -e cpu-clock`` (a software clock: works
in VMs without hardware counters).  Needs ``perf`` (Debian: linux-perf) and
root or ``kernel.perf_event_paranoid <= 1``.  The compile takes 1.5-2.5 min.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _demangle import short_name  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", nargs="?", default="drop")
    ap.add_argument("--packets", type=int, default=3_000_000)
    ap.add_argument("--rate", default="line")
    ap.add_argument("--prog", help="a compiled XDP object to attach instead of the mode's built-in")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    if shutil.which("perf") is None:
        print("perf not found: apt-get install linux-perf", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="xdplab-prof-")
    os.environ["NUMBA_CACHE_DIR"] = work               # before numba compiles anything
    perf_map = f"/tmp/perf-{os.getpid()}.map"
    try:
        return _profile(args, work, perf_map)
    finally:
        shutil.rmtree(work, ignore_errors=True)        # a fresh cache of the whole simulator: ~100 MB
        if os.path.exists(perf_map):
            os.unlink(perf_map)


def _profile(args, work, perf_map) -> int:
    from xdplab.board import Board
    from xdplab._twospeed import _REGISTRY
    from xdplab.bench import MODES

    prog, kw, kind, _ = MODES[args.mode]
    if args.prog:
        from xdplab.bpf import load_object
        prog = next(iter(load_object(args.prog).programs.values()))   # its first program
    def make_board():
        if args.mode == "redirect-cpu":                     # as xdplab bench sets it up (l4-hash, CPU 1)
            from xdplab.bench import _setup_redirect_cpu
            b = Board(None, **kw)
            _setup_redirect_cpu(b, None, [1], 2048, "disabled", "l4-hash", True)
            return b
        return Board(prog, **kw)

    make_board().run(2000, kind=kind)                       # compile everything sim_run calls
    lib = next(iter(_REGISTRY["sim_run"][1].overloads.values())).library
    syms = {}
    for fn in lib._final_module.functions:
        if not fn.is_declaration:
            addr = lib.get_pointer_to_function(fn.name)
            if addr:
                syms[addr] = fn.name
    addrs = sorted(syms)
    with open(perf_map, "w") as f:
        for i, a in enumerate(addrs):
            size = min((addrs[i + 1] - a) if i + 1 < len(addrs) else 4096, 1 << 20)
            f.write(f"{a:x} {size:x} {short_name(syms[a])}\n")
    board = make_board()
    rate = args.rate if args.rate == "line" else float(args.rate)
    data = os.path.join(work, "perf.data")
    import xdplab.board as xb
    orig = xb.Board._call
    rec = {}

    def _call(self, name, *a, **k):
        if name != "sim_run":
            return orig(self, name, *a, **k)
        rec["p"] = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "5000", "-p", str(os.getpid()),
                                     "-o", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)                                     # perf attaches
        try:
            return orig(self, name, *a, **k)
        finally:
            rec["p"].send_signal(2)
            rec["p"].wait()

    xb.Board._call = _call
    r = board.run(args.packets, rate=rate, kind=kind)
    print(f"{args.mode}: {r['rx_packets'] / r['wall_seconds'] / 1e6:.2f} M received frames/s under perf "
          f"({r['wall_seconds'] * 1e9 / max(r['rx_packets'], 1):.0f} ns each)")
    rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "sym", "--stdio"],
                         capture_output=True, text=True).stdout
    rows = [ln for ln in rep.splitlines() if ln.strip() and not ln.startswith("#")]
    print("\n".join(rows[:args.top]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
