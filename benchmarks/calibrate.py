"""Fit the ESPRESSObin profile's three free numbers to the talk's three figures.

Each experiment runs at 1 GbE line rate with 64-byte frames, so CPU 0 is busy
all the time and its rate is ``hz / cycles per frame``.  Cycles per frame are
linear in the costs: ``IPC_SCALE * A + LINE_OP * B + DESC_READ * C + D``,
where A, B, C, D come from the operation counts the experiment performed
(A: instruction-bound base costs, B: cache-line operations, C: skbs through
descriptor reads, D: memory-bound costs).  Three experiments, three unknowns.

    python benchmarks/calibrate.py            # prints the fit and the rates it gives
"""

import sys

import numpy as np

sys.path.insert(0, ".")

from xdplab import Board  # noqa: E402
from xdplab import _layout as L  # noqa: E402
from xdplab.boards import espressobin as E  # noqa: E402
from xdplab.cost import OPS  # noqa: E402

TARGETS = [("XDP_DROP", dict(prog="drop"), 585e3),
           ("tc ingress drop", dict(prog=None, tc_drop=True), 185e3),
           ("XDP_DROP, full-buffer sync at refill", dict(prog="drop", dma_sync="full"), 420e3)]
N = 400_000


def op_counts(opts):
    b = Board(opts.pop("prog"), **opts)
    b.run(packets=20_000)                      # warm up: steady state
    r0 = b.state.r.copy()
    rx0 = b.netdev_stats()["rx_packets"]
    r = b.run(packets=N)
    rx = b.netdev_stats()["rx_packets"] - rx0
    counts = (b.state.r[L.R_OP_COUNT:L.R_OP_COUNT + len(OPS)] - r0[L.R_OP_COUNT:L.R_OP_COUNT + len(OPS)]) / rx
    return counts, r["sim_pps"]


def main():
    rows, rhs, rates = [], [], []
    for name, opts, target in TARGETS:
        n, pps = op_counts(dict(opts))
        a = b = c = d = 0.0
        for i, (op, _) in enumerate(OPS):
            kind, base = E.ESPRESSOBIN["kinds"][op], E.ESPRESSOBIN["base"][op]
            if op in ("dcache_clean_line", "dcache_inval_line"):
                b += n[i]
            elif op == "desc_read":
                c += n[i]
            elif kind == "insn":
                a += n[i] * base
            else:
                d += n[i] * base
        rows.append([a, b, c])
        rhs.append(E.HZ / target - d)
        rates.append((name, pps, target))
    sol = np.linalg.solve(np.array(rows), np.array(rhs))
    print("current profile gives:")
    for name, pps, target in rates:
        print(f"  {name:<40} {pps:>10,.0f} pkt/s   (target {target:,.0f}, {100 * (pps / target - 1):+.1f}%)")
    print(f"fit: IPC_SCALE = {sol[0]:.4f}   LINE_OP = {sol[1]:.3f}   DESC_READ = {sol[2]:.1f}")
    if (sol <= 0).any():
        print("a fitted value is not positive: the base costs cannot explain the targets", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
