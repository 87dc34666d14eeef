"""The JIT's two LLVM pipelines on a large program (issue 25, "translation above 1500
instructions"): cold translation time and ns per run at level 2 (LLVM's O2) and level 0 (the
lighter pipeline past ``BIG_PROG``), against the interpreter and the host kernel.

    .venv/bin/python benchmarks/bench_jit_level.py [--rules 48,128,256] [--repeat 2000]

Needs clang.  The program is benchmarks/progs/bigfilter.c (an unrolled packet filter, a DHCP
relay's option walk, per-flow state): NRULES sets its size.  Each (size, level) is built with a
new SALT and translated in a new process, so every translation is cold (the process's numba
cache is warmed first, outside the timing).  The packet is bench_jit_start's DHCP request (the
option walk runs).  ns per run: ``test_run(..., repeat=N).duration_ns``, best of 3; the kernel's:
``BPF_PROG_TEST_RUN`` with ``repeat`` (JIT as the host has it).  A benchmark: nothing fails.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_jit_start import PKT, build  # noqa: E402

_CHILD = r"""
import json, sys, time
from xdplab.bpf import load_object, test_run
import xdplab.bpf.jit as J
level, repeat, want_ref = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
pkt = bytes.fromhex(sys.argv[2])
obj = load_object(sys.argv[1])
p = obj.programs["xdp_bigfilter"]
p.interpret()
ref = test_run(p, pkt)                          # warms numba's cache (the interpreter)
[f.address for f in J._NATIVE]                  # and the JIT's runtime, outside the timing
n = int(p.state.progs[p.index, 1])
J.opt_level = lambda n_insns: level
t, c = time.perf_counter(), time.process_time()
ok = p.jit()
t_jit, c_jit = time.perf_counter() - t, time.process_time() - c
a = test_run(p, pkt)
assert ok and (a.retval, a.insns, a.data_out) == (ref.retval, ref.insns, ref.data_out)
out = {"insns": n, "level": level, "jit_s": t_jit, "jit_cpu_s": c_jit, "run_insns": a.insns,
       "jit_ns": min(test_run(p, pkt, repeat=repeat).duration_ns for _ in range(3))}
if want_ref:
    p.interpret()
    out["interp_ns"] = min(test_run(p, pkt, repeat=max(1, repeat // 10)).duration_ns for _ in range(3))
    from xdplab.bpf.oracle import KernelObject, bpf_available
    ok, why = bpf_available()
    if ok:
        try:
            with KernelObject(obj, programs=["xdp_bigfilter"]) as ko:
                out["kernel_ns"] = min(ko.test_run("xdp_bigfilter", pkt, repeat=repeat)[2] for _ in range(3))
        except Exception as e:
            out["kernel"] = str(e).splitlines()[-1][:80]
    else:
        out["kernel"] = why
print(json.dumps(out))
"""


def child(obj: Path, level: int, repeat: int, ref: bool) -> dict:
    r = subprocess.run([sys.executable, "-c", _CHILD, str(obj), PKT, str(level), str(repeat), str(int(ref))],
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rules", default="48,128,256", help="sizes of bigfilter.c (NRULES), comma-separated")
    ap.add_argument("--repeat", type=int, default=2000)
    ap.add_argument("--levels", default="2,0")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    rnd = random.Random()
    tmp = Path(tempfile.mkdtemp(prefix="xdplab-jitlevel-"))
    rows = []
    if not a.json:
        print(f"{'rules':>5} {'insns':>6} {'level':>5} {'cold s':>7} {'CPU s':>6} {'ns/run':>8} {'interp':>8} "
              f"{'kernel':>8}  run insns")
    for rules in (int(x) for x in a.rules.split(",")):
        for k, level in enumerate(int(x) for x in a.levels.split(",")):
            obj = tmp / f"big{rules}_{level}" / "bigfilter.o"
            obj.parent.mkdir()
            build(rules, obj, rnd.randrange(1, 1 << 30))
            r = child(obj, level, a.repeat, ref=(k == 0))
            r["rules"] = rules
            rows.append(r)
            if not a.json:
                f = lambda key: f"{r[key]:8.0f}" if key in r else " " * 8  # noqa: E731
                print(f"{rules:>5} {r['insns']:>6} {level:>5} {r['jit_s']:>7.2f} {r['jit_cpu_s']:>6.2f} "
                      f"{r['jit_ns']:>8.0f} {f('interp_ns')} {f('kernel_ns')}  {r['run_insns']} "
                      f"{r.get('kernel', '')}", flush=True)
    if a.json:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
