"""Wall-clock speed of the simulated board (one process, one run each; the machine is shared: compare ratios).

    python benchmarks/bench_board.py [--packets N]
"""

import argparse
import json
import sys
import time

sys.path.insert(0, ".")

from xdplab.bench import run_bench  # noqa: E402
from xdplab.bpf import load_object, prog_path  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=2_000_000)
    a = ap.parse_args()
    rows = []
    cases = [("drop", {}), ("drop", {"trace": 200_000}), ("tx", {}), ("pass", {}), ("tc-drop", {})]
    for name in ("xdp_drop", "xdp2"):
        obj = load_object(prog_path(name + ".o"))
        cases.append(("drop" if name == "xdp_drop" else "tx", {"prog": list(obj.programs.values())[0]}))
    for mode, kw in cases:
        t = time.perf_counter()
        r = run_bench(mode, packets=a.packets, **kw)
        label = mode + (" +trace" if kw.get("trace") else "") + (f" prog={kw['prog'].name}.o" if "prog" in kw else "")
        rows.append({"case": label, "sim_pps": round(r["sim_pps"]), "wall_pps_offered": round(r["wall_pps"]),
                     "wall_pps_received": round(r["wall_rx_pps"]), "warmup_s": round(r["warmup_seconds"], 2),
                     "total_s": round(time.perf_counter() - t, 2)})
        print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()
