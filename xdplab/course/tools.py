"""Small measuring helpers the chapters use (plain Python over a Board's counters)."""

from __future__ import annotations

from .. import _layout as L
from ..boards.espressobin import HZ
from ..cost import OPS

__all__ = ["run_with_costs", "format_costs", "kpps"]


def kpps(pps: float) -> str:
    """'585 kpps' (rounded: the talk's figures are given to the kpps)."""
    return f"{pps / 1000:.0f} kpps"


def run_with_costs(board, **run_kw):
    """``board.run(**run_kw)``, plus where CPU 0's cycles went during that run only.

    Returns (result, rows) with rows = [(operation, cycles per received frame, operations per frame)],
    largest first.  ``Board.cost_breakdown()`` covers everything since the board was created
    (including ``ip link set dev eth0 up``); this covers the run.
    """
    f, reg = board.state.f, board.state.r
    n = len(OPS)
    cnt0 = reg[L.R_OP_COUNT:L.R_OP_COUNT + n].copy()
    r = board.run(**run_kw)
    rx = max(int(r["rx_packets"]), 1)
    cnt = reg[L.R_OP_COUNT:L.R_OP_COUNT + n] - cnt0
    cyc = cnt * f[L.F_COST:L.F_COST + n]
    rows = [(OPS[i][0], float(cyc[i]) / rx, float(cnt[i]) / rx) for i in range(n) if cnt[i]]
    return r, sorted(rows, key=lambda x: -x[1])


def format_costs(rows, top: int = 8, hz: float = HZ) -> str:
    """The rows as a table: cycles per frame, operations per frame, share of the total."""
    total = sum(c for _, c, _ in rows)
    out = [f"{'operation':<20} {'cycles/frame':>12} {'ops/frame':>10} {'share':>6}"]
    for name, c, k in rows[:top]:
        out.append(f"{name:<20} {c:>12.0f} {k:>10.2f} {100 * c / total:>5.0f}%")
    rest = sum(c for _, c, _ in rows[top:])
    if rest:
        out.append(f"{'(the rest)':<20} {rest:>12.0f} {'':>10} {100 * rest / total:>5.0f}%")
    out.append(f"{'total':<20} {total:>12.0f} {'':>10}   -> at most {hz / total / 1000:.0f} kpps on one "
               f"{hz / 1e9:.1f} GHz core")
    return "\n".join(out)
