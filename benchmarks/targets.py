"""The speed targets of issues 2 and 3, measured the way a user meets them: many times, spread out.

    python benchmarks/targets.py                 # 10 rounds of the four xdplab bench cases
    python benchmarks/targets.py --rounds 20 --json

Each round runs, in turn, each case as its own ``xdplab bench MODE --packets N --json`` process
(a new process, the numba cache warm, exactly the command the issues name) and records its
``wall_pps``.  Each round starts with ``xdplab bench drop`` as it comes (no options), timed
from start to exit ("a first xdplab bench in a new process with a warm numba cache: under 2 s
in all").  With ``--vm`` each round also runs
``benchmarks/bench_vm.py``'s lab programs (4096 packets per jitted call, best of 3) in the
interpreter, translated (xdplab.bpf.jit) and translated without the packet proofs (every
access checked as it runs), for the VM's "500 M eBPF instructions per second with all checks
on" (issue 3; the interpreter checks every access as it runs, the JIT proves the packet
accesses the kernel verifier would prove before the run and checks the rest).  The table
gives, per case, the target and the minimum, median and maximum over the rounds, and how many
rounds missed the target.

Why rounds and not one number: this machine's speed comes in phases (seconds to minutes, up to
2x) and its two virtual CPUs differ (benchmarks/ab.py).  One run says which phase it fell in;
the minimum over rounds spread over a minute or more is what a user may meet.  This is a
benchmark, not a test: nothing here fails a build.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGS = ROOT / "xdplab" / "progs"

# (label, xdplab bench arguments, target wall_pps in M frames/s, where the target is written)
CASES = [
    ("drop", ["drop"], 30.0, "issue 2"),
    ("drop, xdp_drop.o", ["drop", "--prog", str(PROGS / "xdp_drop.o")], 30.0, "issue 3"),
    ("tx, xdp2.o", ["tx", "--prog", str(PROGS / "xdp2.o")], 10.0, "issues 2 and 3"),
    ("drop, trace on", ["drop", "--trace", "100000"], 5.0, "issue 2"),
]
# (label, xdplab bench arguments, the case whose wall_pps in the same round it is compared with, the
# minimum ratio, where it is written): issue 22's "redirect-map at least 1/3 of drop's wall_pps in the
# same run" (DEVMAP slot 0 = eth0, out again through mvneta_xdp_xmit)
RATIO_CASES = [
    ("redirect-map / drop", ["redirect-map"], "drop", 1 / 3, "issue 22"),
]
FIRST_BENCH_S = 2.0             # issue 2: a first xdplab bench in a new process, warm cache, in all
VM_TARGET = 500.0               # issue 3: M eBPF instructions/s, every check on
VM_PROGS = ("ssh_mirror (TX)", "xdp2 (PERCPU_ARRAY)", "loop_csum 1500B")   # bench_vm.CASES labels


def _xdplab() -> list[str]:
    exe = Path(sys.executable).with_name("xdplab")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "xdplab"]


def run_case(args: list[str], packets: int) -> tuple[float, float]:
    """One ``xdplab bench ... --json`` process (``packets`` 0: the default): (wall_pps in M/s, the
    command's own wall time in s)."""
    t0 = time.perf_counter()
    more = ["--packets", str(packets)] if packets else []
    p = subprocess.run(_xdplab() + ["bench"] + args + more + ["--json"], capture_output=True, text=True, cwd=ROOT)
    took = time.perf_counter() - t0
    if p.returncode:
        raise SystemExit(f"targets: xdplab bench {' '.join(args)} failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout)["wall_pps"] / 1e6, took


def vm_round(packets: int = 4096) -> dict[str, float]:
    """One round of bench_vm.py's lab programs: M eBPF instructions/s, interpreter and translated."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_vm
    out = {}
    for label, path, prog, pkt in bench_vm.CASES:
        if label not in VM_PROGS:
            continue
        best, res, why = bench_vm.bench(path, prog, pkt, packets, 3)
        for key, name in (("interp", "interp"), ("jit", "jit"), ("checked", "jit no proofs")):
            if key in best:
                out[f"VM {name}, {label.split()[0]}"] = res[key][0] / best[key] / 1e6
    return out


def _row(case, unit, target, where, v, missed):
    return {"case": case, "unit": unit, "target": target, "target_of": where, "min": min(v),
            "median": statistics.median(v), "max": max(v), "under_target": missed, "runs": len(v)}


def summarize(samples: dict[str, list[float]], first: list[float]) -> list[dict]:
    """Rows of the table: per case its target and min / median / max over the rounds."""
    rows = []
    for label, _, target, where in CASES:
        v = samples[label]
        rows.append(_row(label, "M frames/s", target, where, v, sum(x < target for x in v)))
    rows.append(_row("first `xdplab bench drop`", "s", FIRST_BENCH_S, "issue 2", first,
                     sum(x >= FIRST_BENCH_S for x in first)))
    for label, _, _, ratio, where in RATIO_CASES:
        if label in samples:
            v = samples[label]
            rows.append(_row(label, "x", ratio, where, v, sum(x < ratio for x in v)))
    for label, v in samples.items():
        if label.startswith("VM "):
            rows.append(_row(label, "M insns/s", VM_TARGET, "issue 3", v, sum(x < VM_TARGET for x in v)))
    return rows


def format_table(rows: list[dict]) -> str:
    out = [f"{'case':28s} {'target':>14s} {'min':>7s} {'median':>7s} {'max':>7s}  missed"]
    for r in rows:
        cmp = ">=" if r["unit"] != "s" else "<="
        tgt = "1/3" if r["unit"] == "x" and abs(r["target"] - 1 / 3) < 1e-9 else format(r["target"], "g")
        out.append(f"{r['case']:28s} {cmp + ' ' + tgt + ' ' + r['unit']:>14s} "
                   f"{r['min']:7.2f} {r['median']:7.2f} {r['max']:7.2f}  {r['under_target']}/{r['runs']}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10, help="rounds of all cases (default 10)")
    ap.add_argument("--packets", type=int, default=5_000_000, help="frames offered per run (default 5000000)")
    ap.add_argument("--vm", action="store_true", help="also the eBPF VM's M instructions/s (bench_vm.py)")
    ap.add_argument("--json", action="store_true", help="print the rows and every sample as JSON")
    a = ap.parse_args(argv)
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")
    run_case(CASES[0][1], 1000)                      # the numba cache: compiled here if it was cold
    samples: dict[str, list[float]] = {c[0]: [] for c in CASES}
    first: list[float] = []
    for _ in range(a.rounds):
        first.append(run_case(["drop"], 0)[1])
        for label, args, _, _ in CASES:
            samples[label].append(run_case(args, a.packets)[0])
        for label, args, base, _, _ in RATIO_CASES:
            samples.setdefault(label, []).append(run_case(args, a.packets)[0] / samples[base][-1])
        if a.vm:
            for label, v in vm_round().items():
                samples.setdefault(label, []).append(v)
    rows = summarize(samples, first)
    if a.json:
        print(json.dumps({"rows": rows, "samples": samples, "first_bench_s": first,
                          "packets": a.packets}, indent=1))
    else:
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
