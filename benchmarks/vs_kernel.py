"""xdplab's eBPF VM against the host kernel, per program: ns per run of BPF_PROG_TEST_RUN.

    python benchmarks/vs_kernel.py                  # the lab's programs and the test corpus
    python benchmarks/vs_kernel.py --repeat 200000 --json

For each program that both load, one packet (a 64-byte UDP frame, or the program's own test
packet where the corpus names one) is run ``--repeat`` times by the kernel
(``BPF_PROG_TEST_RUN`` with ``repeat``: its ``duration`` is ns per run, JIT on as the host has
it) and by xdplab, interpreted (``prog.interpret()``) and translated (``prog.jit()``), each
best of 3 (``test_run(..., repeat=N).duration_ns``).  The table gives the three times and the
ratios xdplab / kernel.  A program the host kernel refuses for its own configuration (a helper
it does not allow, no ``bpf()``) is listed with the kernel's reason and no ratio.

This is a benchmark: nothing here fails a build; run it on a quiet machine, one at a time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIRS = [ROOT / "xdplab" / "progs", ROOT / "tests" / "bpf" / "progs"]


def _best(f, n=3):
    return min(f() for _ in range(n))


def measure(path: Path, repeat: int) -> list[dict]:
    from xdplab.bpf import load_object
    from xdplab.bpf.oracle import KernelObject, bpf_available
    from xdplab.traffic import make_frame
    pkt = bytes(make_frame()[:-4])
    rows = []
    try:
        obj = load_object(path)
    except Exception as e:                      # refused by xdplab (the verifier, a missing piece)
        return [{"object": path.name, "program": "*", "xdplab": f"refused: {str(e).splitlines()[-1][:80]}"}]
    ok, why = bpf_available()
    for name, prog in obj.programs.items():
        row = {"object": path.name, "program": name}
        if prog.load_error or prog.section not in ("xdp", "xdp.frags"):
            continue
        try:
            prog.interpret()
            row["interp_ns"] = _best(lambda: prog.test_run(pkt, repeat=repeat // 10 or 1).duration_ns)
            if prog.jit():
                row["jit_ns"] = _best(lambda: prog.test_run(pkt, repeat=repeat).duration_ns)
            else:
                row["jit"] = prog.jit_error
        except Exception as e:
            row["xdplab"] = f"run failed: {str(e).splitlines()[0][:80]}"
            rows.append(row)
            continue
        if not ok:
            row["kernel"] = why
        else:
            try:
                with KernelObject(obj, programs=[name]) as ko:
                    row["kernel_ns"] = _best(lambda: ko.test_run(name, pkt, repeat=repeat)[2])
            except Exception as e:
                row["kernel"] = str(e).splitlines()[-1][:80]
        k = row.get("kernel_ns")
        if k:
            for key in ("interp_ns", "jit_ns"):
                if key in row:
                    row[key.replace("_ns", "_ratio")] = row[key] / k
        rows.append(row)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=100_000, help="runs per measurement (interpreter: a tenth)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("objects", nargs="*", help="objects (default: xdplab/progs and tests/bpf/progs)")
    a = ap.parse_args(argv)
    paths = [Path(p) for p in a.objects] or sorted(p for d in DIRS for p in d.glob("*.o"))
    rows = [r for p in paths for r in measure(p, a.repeat)]
    if a.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'object:program':44s} {'kernel':>8s} {'interp':>8s} {'jit':>8s} {'interp/k':>9s} {'jit/k':>7s}")
    for r in rows:
        def f(k, fmt="{:8.0f}"):
            return fmt.format(r[k]) if k in r else " " * 8
        note = r.get("kernel") or r.get("xdplab") or r.get("jit") or ""
        print(f"{r['object'] + ':' + r['program']:44s} {f('kernel_ns')} {f('interp_ns')} {f('jit_ns')} "
              f"{f('interp_ratio', '{:9.1f}')} {f('jit_ratio', '{:7.1f}')}  {note[:60]}")
    for key in ("interp_ratio", "jit_ratio"):
        v = [r[key] for r in rows if key in r]
        if v:
            print(f"median {key}: {statistics.median(v):.2f} over {len(v)} programs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
