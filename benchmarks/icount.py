"""How many machine instructions does the simulator spend on one frame?  Counted, not timed.

    python benchmarks/icount.py                          # xdplab bench drop: per function
    python benchmarks/icount.py --prog xdplab/progs/xdp_drop.o
    python benchmarks/icount.py --lines                  # per source line (a debug-info build)
    python benchmarks/icount.py --tree /path/to/worktree # another checkout of xdplab

This machine's wall-clock speed comes in phases (see benchmarks/ab.py): a change worth 3 % is
below what timing resolves.  An instruction count is exact and the same on every run, so it
tells whether a change removed work, before ab.py tells whether the work removed was what
limited the speed.  (This VM exposes no hardware counters: ``perf stat -e instructions`` does
not work here, so the count comes from valgrind's callgrind, an instruction-level emulator.)

How:

1. A child process runs the board natively once, which compiles the kernels into a numba
   cache of their own.  They are compiled for a fixed CPU (``haswell``, with the features
   valgrind emulates), not for this host: numba keys its cache on the CPU, and callgrind
   reports a CPU of its own, so a host-specific cache would be compiled afresh under the
   emulator, which takes hours.  The code differs from the host's only where the host has
   instructions haswell lacks.
2. The same child runs again under callgrind, loads the cache, runs a warm-up, writes where
   each jitted function sits in memory (from the symbols of the cached object code), then
   runs ``--packets`` frames.
3. Instructions at addresses inside a jitted function are summed per function (``--lines``:
   per source line, from the object code's DWARF line table; numba then compiles with debug
   information, which changes the code a little: compare counts within one mode).

Counts are per received frame (frames that went through the driver's RX path) and per offered
frame (what ``wall_pps`` divides by: most offered frames at line rate are discarded by the
MAC, for a few instructions each).  Needs valgrind (``apt-get install valgrind``); takes
3-4 minutes for a cold cache, then about a minute per count (``--lines``: about 8).
"""

from __future__ import annotations

import argparse
import bisect
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _demangle import short_name  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# haswell and the instruction set extensions valgrind 3.19 emulates on amd64 (no AVX-512)
CPU_NAME = "haswell"
CPU_FEATURES = ("+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+f16c,+fma,+lzcnt,+mmx,+movbe,+popcnt,"
                "+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3")


# ------------------------------------------------------------------------------------------ child
def _child(args) -> None:
    """Runs inside the measured process: build the board, map the jitted code, run the frames."""
    import io

    from numba.core import codegen
    objects = []                                   # (library, object code) as loaded from the cache
    unserialize = codegen.CPUCodeLibrary._unserialize.__func__

    def keep_object(cls, cg, state):
        lib = unserialize(cls, cg, state)
        if state[1] == "object":
            objects.append((lib, state[2][0]))
        return lib
    codegen.CPUCodeLibrary._unserialize = classmethod(keep_object)

    from elftools.elf.elffile import ELFFile

    import xdplab
    from xdplab.board import Board
    tree = Path(os.environ["XDPLAB_ICOUNT_TREE"])
    if not Path(xdplab.__file__).resolve().is_relative_to(tree):
        raise SystemExit(f"icount: imported xdplab from {xdplab.__file__}, not from --tree {tree}")
    from xdplab.bench import MODES
    if args.mode not in MODES:
        raise SystemExit(f"icount: unknown mode {args.mode!r}; modes (as xdplab bench): {', '.join(MODES)}")
    builtin, opts, kind, _ = MODES[args.mode]       # the board xdplab bench MODE builds
    b = Board(**opts)
    if args.mode == "redirect-cpu":                 # as xdplab bench sets it up: l4-hash on eth0, CPU 1, qsize 2048
        from xdplab.bench import _setup_redirect_cpu
        _setup_redirect_cpu(b, None, [1], 2048, "disabled", "l4-hash", True)
    elif args.prog:
        from xdplab.bpf import load_object
        b.attach(next(iter(load_object(args.prog).programs.values())), jit=True)
    elif builtin is not None:
        b.attach(builtin)
    b.run(packets=64, size=args.size, kind=kind)  # every kernel of the run loaded (or compiled)

    funcs, lines = [], []
    for lib, obj in objects:
        elf = ELFFile(io.BytesIO(obj))
        bases = collections.Counter()
        for sym in elf.get_section_by_name(".symtab").iter_symbols():
            if sym["st_info"]["type"] != "STT_FUNC" or sym["st_shndx"] == "SHN_UNDEF" or not sym["st_size"]:
                continue
            try:
                addr = lib.get_pointer_to_function(sym.name)
            except Exception:                      # a local symbol: not resolvable by name
                continue
            if addr:
                funcs.append((addr, sym["st_size"], sym.name))
                bases[addr - sym["st_value"]] += 1
        if args.lines and bases and elf.has_dwarf_info():
            lines += _line_rows(elf, bases.most_common(1)[0][0])
    res = b.run(packets=args.packets, size=args.size, kind=kind)
    with open(args.child_out, "w") as f:
        json.dump({"funcs": funcs, "lines": lines, "rx_packets": res["rx_packets"],
                   "packets_offered": res["packets_offered"]}, f)


def _line_rows(elf, base):
    """(address, "file:line") rows of an object's DWARF line table, its text loaded at ``base``."""
    from elftools.elf import relocation

    apply = relocation.RelocationHandler._do_apply_relocation

    def lenient(self, stream, reloc, symtab):
        # numba's objects carry R_X86_64_PC64 in .debug_info, which pyelftools cannot apply;
        # the line table needs only R_X86_64_64, which it can
        try:
            apply(self, stream, reloc, symtab)
        except Exception:
            pass
    relocation.RelocationHandler._do_apply_relocation = lenient
    try:
        dwarf = elf.get_dwarf_info()
        rows = []
        for cu in dwarf.iter_CUs():
            prog = dwarf.line_program_for_CU(cu)
            if prog is None:
                continue
            files = prog["file_entry"]
            for entry in prog.get_entries():
                st = entry.state
                if st is None or st.end_sequence:
                    continue
                name = files[st.file - 1].name.decode() if 0 < st.file <= len(files) else "?"
                rows.append((base + st.address, f"{name}:{st.line}"))
        return rows
    finally:
        relocation.RelocationHandler._do_apply_relocation = apply


# ----------------------------------------------------------------------------------------- parent
def _jit_costs(callgrind_out: Path):
    """Instruction counts per address in code that belongs to no file (JIT code): {addr: Ir}."""
    costs = collections.Counter()
    ob, after_call = None, False
    with open(callgrind_out) as f:
        for line in f:
            if line.startswith("ob="):
                ob = line.strip()
            elif line.startswith("calls="):
                after_call = True                  # the next line is the call's inclusive cost
            elif line.startswith("0x"):
                if after_call:
                    after_call = False
                elif ob == "ob=???":
                    p = line.split()
                    costs[int(p[0], 16)] += int(p[-1])
    return costs


def _attribute(costs, funcs, lines):
    funcs = sorted(funcs)
    starts = [a for a, _, _ in funcs]
    rows = sorted(lines)
    row_at = [a for a, _ in rows]
    per_func, per_line = collections.Counter(), collections.Counter()
    for addr, n in costs.items():
        i = bisect.bisect_right(starts, addr) - 1
        if i < 0 or addr >= funcs[i][0] + funcs[i][1]:
            continue                               # not jitted code (the interpreter's stubs)
        per_func[short_name(funcs[i][2])] += n
        if rows:
            j = bisect.bisect_right(row_at, addr) - 1
            per_line[rows[j][1] if j >= 0 else "?"] += n
    return per_func, per_line


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", default="drop", help="the experiment, as xdplab bench MODE (default drop)")
    ap.add_argument("--prog", help="a compiled XDP object to attach (translated, as xdplab bench does)")
    ap.add_argument("--packets", type=int, default=200000, help="frames offered in the counted run")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--lines", action="store_true", help="per source line (compiles with debug info)")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--tree", default=str(ROOT), help="the xdplab checkout to measure")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    if args.packets < 1000:
        ap.error("--packets must be at least 1000 (the warm-up run's counts would show)")
    if shutil.which("valgrind") is None:
        print("icount: valgrind is not installed; install it with: apt-get install valgrind", file=sys.stderr)
        return 2

    tree = Path(args.tree).resolve()
    env = dict(os.environ, PYTHONPATH=str(tree), XDPLAB_ICOUNT_TREE=str(tree), NUMBA_CPU_NAME=CPU_NAME,
               NUMBA_CPU_FEATURES=CPU_FEATURES)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "xdplab-icount"
    if args.lines:
        env.update(NUMBA_DEBUGINFO="1", NUMBA_BOUNDSCHECK="0")
        cache = cache.with_name(cache.name + "-lines")
    env["NUMBA_CACHE_DIR"] = str(cache)          # xdplab keys a subdirectory on its sources
    with tempfile.TemporaryDirectory(prefix="icount-") as tmp:
        out = Path(tmp) / "child.json"
        child = [sys.executable, str(Path(__file__).resolve()), "--child", "--child-out", str(out),
                 "--mode", args.mode, "--packets", str(args.packets), "--size", str(args.size)]
        if args.prog:
            child += ["--prog", str(Path(args.prog).resolve())]
        if args.lines:
            child.append("--lines")
        warm = subprocess.run(child + ["--packets", "1000"], env=env, capture_output=True, text=True)
        if warm.returncode:
            print(warm.stderr[-3000:], file=sys.stderr)
            print("icount: the native run failed (above)", file=sys.stderr)
            return 1
        cg = Path(tmp) / "callgrind.out"
        run = subprocess.run(["valgrind", "--tool=callgrind", "--dump-instr=yes", "--compress-pos=no",
                              "--compress-strings=no", f"--callgrind-out-file={cg}"] + child,
                             env=env, capture_output=True, text=True)
        if run.returncode or not out.exists():
            print(run.stderr[-3000:], file=sys.stderr)
            print("icount: the run under callgrind failed (above)", file=sys.stderr)
            return 1
        info = json.loads(out.read_text())
        per_func, per_line = _attribute(_jit_costs(cg), info["funcs"], info["lines"])
    rx, offered = info["rx_packets"], info["packets_offered"]
    total = sum(per_func.values())
    result = {"mode": args.mode, "prog": args.prog, "packets_offered": offered, "rx_packets": rx,
              "insns_per_rx_frame": total / rx if rx else None, "insns_per_offered_frame": total / offered,
              "per_function": {k: v / rx for k, v in per_func.most_common()} if rx else {},
              "per_line": {k: v / rx for k, v in per_line.most_common(args.top)} if rx else {}}
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    what = f"--prog {args.prog}" if args.prog else args.mode
    print(f"xdplab bench {what}: {offered} frames offered, {rx} received")
    print(f"  jitted instructions per received frame: {result['insns_per_rx_frame']:.1f}, "
          f"per offered frame: {result['insns_per_offered_frame']:.1f}")
    print("  per received frame, by function:")
    for k, v in list(result["per_function"].items())[:args.top]:
        if v >= 0.05:                              # set-up and teardown, spread over the run
            print(f"    {v:8.1f}  {k}")
    if per_line:
        print("  per received frame, by source line (line 0: code the compiler made, spills and moves):")
        for k, v in result["per_line"].items():
            print(f"    {v:8.1f}  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
