"""How fast a program starts (issue 25, "start in seconds"): the JIT's translation per program
size, ``xdplab bpf run`` and ``%%bpf_c``, cold and warm.

    .venv/bin/python benchmarks/bench_jit_start.py [--rules 8,48,128] [--no-cli] [--no-magic]

Needs clang.  Every program is built with a new SALT (benchmarks/progs/bigfilter.c), so "cold" is a
program this machine never translated; "warm" is the same program again in a new process (its
translation loaded from the disk cache).  numba's own cache must be warm (``xdplab warmup --all``:
a cold one compiles the interpreter and the JIT's runtime, minutes, once per install); each figure
is wall seconds, with CPU seconds where they differ (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "benchmarks" / "progs" / "bigfilter.c"
PKT = ("aabbccddeeff112233445566" "0800" "4500003c0000000040110000" "0a0000010a000002" "04d2004300280000"
       + "00" * 260)                      # a DHCP request to port 67: the option walk runs

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from xdplab.bpf import load_object, test_run
import xdplab.bpf.jit as J
t_import = time.perf_counter() - t0
obj = load_object(sys.argv[1])
p = obj.programs["xdp_bigfilter"]
st = p.state
s, n = int(st.progs[p.index, 0]), int(st.progs[p.index, 1])
t = time.perf_counter()
J.jit_ir(st.code, s, n, tail_entry=False)
t_ir = time.perf_counter() - t
t, c = time.perf_counter(), time.process_time()
ok = p.jit()
t_jit, c_jit = time.perf_counter() - t, time.process_time() - c
pkt = bytes.fromhex(sys.argv[2])
a = test_run(p, pkt)
p.interpret()
b = test_run(p, pkt)
assert ok and (a.retval, a.insns, a.data_out) == (b.retval, b.insns, b.data_out)
print(json.dumps({"insns": n, "import": t_import, "ir": t_ir, "jit": t_jit, "jit_cpu": c_jit,
                  "level": J.opt_level(n)}))
"""


def build(rules: int, out: Path, salt: int) -> float:
    (out.parent / "rules.h").write_text("\n".join(f"RULE({i});" for i in range(rules)) + "\n")
    sys.path.insert(0, str(ROOT))
    from xdplab.bpf.progs import clang_command
    cmd = clang_command(SRC, out, [f"-DNRULES={rules}", f"-DSALT={salt}", f"-I{out.parent}"])
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def child(obj: Path) -> dict:
    r = subprocess.run([sys.executable, "-c", _CHILD, str(obj), PKT], capture_output=True, text=True)
    if r.returncode:
        sys.exit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def timed(cmd) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rules", default="8,48,128", help="sizes of bigfilter.c (NRULES), comma-separated")
    ap.add_argument("--no-cli", action="store_true")
    ap.add_argument("--no-magic", action="store_true")
    args = ap.parse_args()
    rnd = random.Random()
    tmp = Path(tempfile.mkdtemp(prefix="xdplab-jitstart-"))
    print("translation (a new program, then the same one in a new process):")
    print(f"{'rules':>5} {'insns':>6} {'level':>5} {'IR s':>6} {'cold s':>7} {'cold CPU s':>10} {'warm s':>7}")
    for rules in (int(x) for x in args.rules.split(",")):
        obj = tmp / f"big{rules}.o"
        build(rules, obj, rnd.randrange(1, 1 << 30))
        cold = child(obj)
        warm = child(obj)
        print(f"{rules:>5} {cold['insns']:>6} {cold['level']:>5} {cold['ir']:>6.2f} {cold['jit']:>7.2f} "
              f"{cold['jit_cpu']:>10.2f} {warm['jit']:>7.2f}", flush=True)
    xdplab = [sys.executable, "-m", "xdplab"]
    if not args.no_cli:
        obj = tmp / "cli.o"
        build(48, obj, rnd.randrange(1, 1 << 30))
        run = xdplab + ["bpf", "run", str(obj), "--packet-hex", PKT]
        print("\nxdplab bpf run (a new process each: Python, import, load, run), bigfilter 48 rules:")
        print(f"  first run of a new program (interpreted):        {timed(run):6.2f} s")
        print(f"  again:                                            {timed(run):6.2f} s")
        print(f"  --repeat 1000 (translates first, waits), new:    {timed(run + ['--repeat', '1000']):6.2f} s")
        print(f"  --repeat 1000 again (translation on disk):       {timed(run + ['--repeat', '1000']):6.2f} s")
        print(f"  xdp_drop.o, first run:                           "
              f"{timed(xdplab + ['bpf', 'run', str(ROOT / 'xdplab/progs/xdp_drop.o'), '--packet-hex', PKT]):6.2f} s")
    if not args.no_magic:
        from IPython.core.interactiveshell import InteractiveShell
        t = time.perf_counter()
        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "xdplab.bpf.magic")
        from xdplab.bpf import test_run
        t_load = time.perf_counter() - t
        print(f"\n%%bpf_c (an IPython shell; loading the extension and xdplab: {t_load:.2f} s):")
        cell = SRC.read_text().replace('#include "rules.h"', "\n".join(f"RULE({i});" for i in range(8)))
        for what in ("first cell", "edited cell", "edited cell"):
            salt = rnd.randrange(1, 1 << 30)
            t = time.perf_counter()
            with open(os.devnull, "w") as null:
                so, sys.stdout = sys.stdout, null
                try:
                    shell.run_cell_magic("bpf_c", "obj", f"#define SALT {salt}\n" + cell)
                finally:
                    sys.stdout = so
            r = test_run(shell.user_ns["obj"].programs["xdp_bigfilter"], bytes.fromhex(PKT))
            print(f"  {what}: clang + load + first run (interpreted, retval {r.retval}): "
                  f"{time.perf_counter() - t:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
