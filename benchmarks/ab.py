"""Is B faster than A?  Two revisions measured in turns, in one window of time.

    python benchmarks/ab.py main HEAD               # two commits (or branches, tags)
    python benchmarks/ab.py main .                  # '.' is the working tree, uncommitted edits included
    python benchmarks/ab.py main . --suite board --procs 2

Two things move this machine's numbers besides the code.  Time: its speed comes in
phases lasting seconds to minutes (the same command gives 250 or 400 M eBPF
instructions/s, 21 or 34 M frames/s).  And the CPU: the two virtual CPUs are not
equally fast, and a process tends to stay on one, so one process of the same code
ran 10-20 % faster than another for its whole life.  Best-of-N of A, then of B,
measures both of those, not the code.

Here both revisions run pinned to one CPU (``--cpu``), each in ``--procs`` fresh
processes (its own numba cache, compiled once), a process of A next to one of B,
and the two take turns: one short measurement of A, one of B, then B, A, and so on.
Neighbouring measurements share a phase; the median of their ratios B/A over all
pairs is the answer.  Pinned, A against A gave 0.985-1.03 (one pair, 20 turns);
unpinned, 0.95-1.05 took 6 pairs and single pairs went up to 1.22.  Differences
under ~3 % are not resolved.

Suites: ``vm`` (benchmarks/bench_vm.py's programs: M instructions/s of
bpf_prog_run_xdp_batch) and ``board`` (``xdplab bench``'s simulator: wall-clock M
frames/s for drop, drop with xdp_drop.o, tx with xdp2.o).  A revision is checked
out with ``git worktree`` under a temporary directory that is removed afterwards;
the first turn of each compiles (1-3 min for the board).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# the board suite's runs: (xdplab bench mode, compiled program or None for the mode's built-in)
BOARD_CASES = [("drop", None), ("drop", "xdplab/progs/xdp_drop.o"), ("tx", "xdplab/progs/xdp2.o")]
SUITES = {
    "vm": ["xdp_drop", "ssh_mirror", "xdp2", "loop_csum"],         # benchmarks/bench_vm.py's CASES, in order
    "board": [f"{mode} {Path(obj).name}" if obj else mode for mode, obj in BOARD_CASES],
}


# ---- the measuring side: runs inside the revision's tree, answers one line per "go" -------------------

def _child_vm():
    import numpy as np

    sys.path.insert(0, os.getcwd())
    from benchmarks.bench_vm import CASES, make_batch
    from xdplab.bpf import bpf_prog_run_xdp_batch, load_object

    runs = []
    for label, path, prog, pkt in CASES:
        p = load_object(path).programs[prog]
        n = 256 if label.startswith("loop") else 4096          # ~1 ms per call either way
        mem, xdps, envs = make_batch(pkt, n)
        rets = np.zeros(n, dtype=np.int64)
        bpf_prog_run_xdp_batch(p.state, p.index, mem, xdps, envs, rets)
        runs.append((p, mem, xdps, envs, rets))

    def measure():
        out = []
        for p, mem, xdps, envs, rets in runs:
            best = None
            for _ in range(3):
                t0 = time.perf_counter()
                total = bpf_prog_run_xdp_batch(p.state, p.index, mem, xdps, envs, rets)
                dt = time.perf_counter() - t0
                best = dt if best is None or dt < best else best
            out.append(total / best / 1e6)
        return out
    return measure


def _child_board():
    sys.path.insert(0, os.getcwd())
    from xdplab.bench import MODES
    from xdplab.board import Board
    from xdplab.bpf import load_object
    from xdplab.bpf._jitabi import jit_wanted

    boards = []
    for mode, obj in BOARD_CASES:
        builtin, opts, kind, _ = MODES[mode]
        prog = next(iter(load_object(obj).programs.values())) if obj else builtin
        b = Board(**opts)
        b.attach(prog, jit=jit_wanted(True))   # as `xdplab bench` does: a compiled program is translated
        b.run(packets=64, kind=kind)
        boards.append((b, kind))
    n = 1_000_000

    def measure():
        return [n / b.run(packets=n, kind=kind)["wall_seconds"] / 1e6 for b, kind in boards]
    return measure


def child(suite: str, cpu: int) -> None:
    if cpu >= 0:
        os.sched_setaffinity(0, {cpu})
    measure = _child_vm() if suite == "vm" else _child_board()
    print("ready", flush=True)
    for _ in sys.stdin:
        print(" ".join(f"{x:.3f}" for x in measure()), flush=True)


# ---- the comparing side ---------------------------------------------------------------------------------

def _checkout(rev: str, tmp: Path) -> Path:
    if rev == ".":
        return ROOT
    dest = tmp / ("rev-" + rev.replace("/", "_"))
    r = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(dest), rev],
                       check=False, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"ab.py: cannot check out {rev!r}: {r.stderr.strip()}\n"
                         f"fix: give a commit, branch or tag of this repository, or '.' for the working tree")
    return dest


def _start(tree: Path, suite: str, cache: Path, cpu: int):
    env = dict(os.environ, PYTHONPATH=str(tree), NUMBA_CACHE_DIR=str(cache))
    p = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", suite, "--cpu", str(cpu)],
                         cwd=tree, env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    if line != "ready":
        p.kill()
        raise SystemExit(f"ab.py: the measuring process in {tree} did not start (it said {line!r}); "
                         f"run the suite there by hand to see why")
    return p


def compare(rev_a: str, rev_b: str, suite: str, rounds: int, procs: int, cpu: int = -1):
    """Per case: (name, median of A, median of B, median of the B/A ratios, their 10th and 90th
    percentiles); ``procs`` fresh process pairs, ``rounds`` turns each."""
    tmp = Path(tempfile.mkdtemp(prefix="xdplab-ab-"))
    live = []
    try:
        trees = [_checkout(rev_a, tmp), _checkout(rev_b, tmp)]
        res = [[], []]
        ratios = []
        for k in range(procs):
            pair = []
            for i, t in enumerate(trees):
                if k == 0:
                    print(f"compiling {[rev_a, rev_b][i]} in {t} ...", file=sys.stderr, flush=True)
                pair.append(_start(t, suite, tmp / f"cache{i}", cpu))
                live.append(pair[-1])
            for r in range(rounds):
                row = [None, None]
                for i in ((0, 1) if r % 2 == 0 else (1, 0)):     # A B, B A, ...: neither always goes first
                    pair[i].stdin.write("go\n")
                    pair[i].stdin.flush()
                    row[i] = [float(x) for x in pair[i].stdout.readline().split()]
                    res[i].append(row[i])
                ratios.append([y / x for x, y in zip(*row)])
            for p in pair:
                p.stdin.close()
                p.wait()
                live.remove(p)
        out = []
        for c, name in enumerate(SUITES[suite]):
            rc = sorted(r[c] for r in ratios)
            out.append((name, statistics.median(r[c] for r in res[0]), statistics.median(r[c] for r in res[1]),
                        statistics.median(rc), rc[len(rc) // 10], rc[(9 * len(rc)) // 10]))
        return out
    finally:
        for p in live:
            p.kill()
        for d in tmp.iterdir():
            if d.name.startswith("rev-"):
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(d)], check=False,
                               capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rev_a", nargs="?")
    ap.add_argument("rev_b", nargs="?")
    ap.add_argument("--suite", choices=sorted(SUITES), default="vm")
    ap.add_argument("--procs", type=int, default=3, help="fresh process pairs (default 3)")
    ap.add_argument("--rounds", type=int, default=12, help="turns of each in each process (default 12)")
    ap.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)),
                    help="the CPU both run on (default: the last one; -1: wherever the scheduler puts them)")
    ap.add_argument("--child", choices=sorted(SUITES), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        child(a.child, a.cpu)
        return 0
    if not a.rev_a or not a.rev_b:
        ap.error("give two revisions, e.g. 'main .'")
    if a.rounds < 1 or a.procs < 1:
        ap.error("--rounds and --procs must be at least 1")
    unit = "M insns/s" if a.suite == "vm" else "M frames/s"
    print(f"{'case':18s} {'A median':>10s} {'B median':>10s} {'B/A':>7s} {'10%-90%':>13s}   ({unit}; "
          f"A = {a.rev_a}, B = {a.rev_b}; {a.procs} process pairs x {a.rounds} turns)")
    if a.cpu >= 0 and a.cpu not in os.sched_getaffinity(0):
        ap.error(f"--cpu {a.cpu}: this process may run on CPUs {sorted(os.sched_getaffinity(0))} only")
    for name, ma, mb, ratio, lo, hi in compare(a.rev_a, a.rev_b, a.suite, a.rounds, a.procs, a.cpu):
        print(f"{name:18s} {ma:10.1f} {mb:10.1f} {ratio:7.3f} {lo:6.2f}-{hi:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
