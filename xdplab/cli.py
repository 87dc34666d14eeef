"""The ``xdplab`` command line: ``xdplab bench MODE``, ``xdplab bpf run``, ``xdplab warmup``, ``xdplab lab``."""

from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["main"]


def _rate(s: str):
    if s == "line":
        return "line"
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rate takes packets per second or 'line', got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"--rate must be positive, got {s}")
    return v


def _positive(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {v}")
    return v


def _bench(args) -> int:
    from .bench import format_human, run_bench
    prog = None
    if args.prog:
        from .bpf import load_object   # noqa: PLC0415 (the VM is only compiled when asked for)
        obj = load_object(args.prog)
        progs = list(obj.programs.values())
        if args.mode == "redirect-cpu":       # the CPU-selecting program; xdp/cpumap ones are --remote-action's
            progs = [p for p in progs if p.attach == "xdp"]
        if args.section:
            progs = [p for p in progs if p.section == args.section or p.name == args.section]
        if len(progs) != 1:
            names = ", ".join(f"{p.name} ({p.section})" for p in obj.programs.values())
            print(f"xdplab bench: {args.prog} has {len(obj.programs)} programs ({names}); choose one with --section",
                  file=sys.stderr)
            return 2
        prog = progs[0]
    res = run_bench(args.mode, packets=args.packets, size=args.size, rate=args.rate, seed=args.seed,
                    trace=args.trace, prog=prog, dma_sync=args.dma_sync, jit=False if args.no_jit else None,
                    bpf_jit_enable=args.bpf_jit_enable, cpus=args.cpu or [1], qsize=args.qsize,
                    remote_action=args.remote_action, program_mode=args.program_mode, flows=args.flows,
                    target=args.target)
    if args.json:
        print(json.dumps(res, sort_keys=True))
    else:
        print(format_human(res))
    return 0


def _warmup(args) -> int:
    from .warmup import warmup
    t = warmup(progress=not args.quiet, everything=args.all)
    if not args.quiet:
        total = sum(s for _, s in t)
        print(f"xdplab: the simulator is compiled and cached ({total:.0f} s); every chapter's jit cell starts warm",
              file=sys.stderr)
    return 0


def _lab(args) -> int:
    from pathlib import Path

    from .course.jupyter import lab_command
    course = Path(args.course)
    if not (course / "index.ipynb").exists():
        print(f"xdplab lab: no course at {course.resolve()} (index.ipynb missing): run it from the repository "
              "root or pass --course DIR", file=sys.stderr)
        return 2
    if not args.no_warmup:
        # (the eBPF VM and JIT too: a chapter's %%bpf_c or compiled program must not wait minutes)
        _warmup(argparse.Namespace(quiet=False, all=True))
    extra = args.jupyter_args[1:] if args.jupyter_args[:1] == ["--"] else args.jupyter_args
    cmd = lab_command(course, port=args.port, browser=False if args.no_browser else None, extra=extra)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)
    return 0   # not reached


def main(argv=None) -> int:
    from .bench import MODES
    p = argparse.ArgumentParser(prog="xdplab", description="XDP driver lab on a simulated ESPRESSObin")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench", help="run an xdp-bench-like experiment on the simulated board",
                       description="; ".join(f"{k}: {v[3]}" for k, v in MODES.items()))
    b.add_argument("mode", choices=list(MODES))
    b.add_argument("--packets", type=_positive, default=1_000_000, help="frames offered (default 1000000)")
    b.add_argument("--size", type=int, default=64, help="frame size in bytes incl. FCS (default 64); above 1518 eth0 gets MTU size-18, and above "
                        "3538 frames span RX buffers (multi-buffer: the built-in programs load frags-aware)")
    b.add_argument("--rate", type=_rate, default="line", help="packets per second, or 'line' (default)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--trace", type=int, default=0, metavar="EVENTS", help="record up to EVENTS trace events")
    b.add_argument("--dma-sync", choices=("page_pool", "full"), default="page_pool",
                   help="'full': sync the whole RX buffer at every refill (the pre-2019 driver)")
    b.add_argument("--prog", metavar="OBJ.o", help="run this compiled XDP program instead of the mode's built-in")
    b.add_argument("--section", help="program section in --prog (when it has several)")
    b.add_argument("--no-jit", action="store_true",
                   help="run --prog in the eBPF interpreter instead of translating it to native code "
                        "(same results, slower; XDPLAB_BPF_JIT=0 makes it the default)")
    b.add_argument("--bpf-jit-enable", type=int, choices=(0, 1), default=1, metavar="{0,1}",
                   help="the board's net.core.bpf_jit_enable: 0 prices the program as 6.1's eBPF interpreter "
                        "runs it (default 1, the arm64 JIT); --no-jit is the simulator's speed, not the board's")
    b.add_argument("--flows", type=_positive, default=1, help="distinct 5-tuples in the traffic (default 1)")
    rc = b.add_argument_group("redirect-cpu (xdp-bench redirect-cpu)")
    rc.add_argument("--cpu", type=int, action="append", metavar="CPU",
                    help="a CPU to redirect to (repeat for several; default 1)")
    rc.add_argument("--qsize", type=_positive, default=2048, help="the CPUMAP's ring size per CPU (default 2048)")
    rc.add_argument("--remote-action", choices=("disabled", "pass", "drop", "redirect"), default="disabled",
                    help="the CPUMAP program on the remote CPU: none (disabled, skbs to the stack), XDP_PASS, "
                         "XDP_DROP, or bpf_redirect back out of eth0")
    rc.add_argument("--program-mode", choices=("no-touch", "l4-hash", "round-robin"), default="l4-hash",
                    help="how the XDP program picks the CPU (default l4-hash; --prog: your own program)")
    b.add_argument("--target", choices=("eth0", "veth0"), default="eth0",
                   help="redirect modes: where the frames go (default eth0; veth0: a veth pair with veth1 in netns "
                        "'remote' dropping them)")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(func=_bench)
    w = sub.add_parser("warmup", help="compile every jitted path the course uses (numba caches it)",
                       description="Compile, with a progress bar, every jitted path the chapters use, so that "
                                   "no cell waits for the compiler. make lab runs it; a second run takes seconds.")
    w.add_argument("--quiet", action="store_true", help="no progress bar")
    w.add_argument("--all", action="store_true",
                   help="also the eBPF VM (xdplab bpf run, %%%%bpf_c, compiled programs on the board)")
    w.set_defaults(func=_warmup)
    la = sub.add_parser("lab", help="compile the simulator, then open JupyterLab on the course index",
                        description="What `make lab` runs: xdplab warmup, then jupyter-lab rooted at the course, "
                                    "opening index.ipynb (--allow-root for root, --no-browser without a display). "
                                    "Arguments after -- go to jupyter-lab.")
    la.add_argument("--course", default="course", help="the course folder (default: course)")
    la.add_argument("--port", type=_positive, help="port (default: jupyter's, 8888 or the next free one)")
    la.add_argument("--no-browser", action="store_true", help="do not open a browser (the default without a display)")
    la.add_argument("--no-warmup", action="store_true", help="skip the compile step")
    la.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="-- then options for jupyter-lab")
    la.set_defaults(func=_lab)
    try:
        from .bpf.cli import add_bpf_parser
    except ImportError:
        add_bpf_parser = None
    if add_bpf_parser is not None:
        add_bpf_parser(sub)
    args = p.parse_args(argv)
    from .board import XdplabError
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, XdplabError) as e:
        print(f"xdplab {args.cmd}: {e}", file=sys.stderr)
        return 2


def run() -> None:
    """The ``xdplab`` command: ``main``, then exit without the interpreter's teardown.

    Tearing down numba's compiled libraries and their Python objects takes
    ~0.3 s, a sixth of a short ``xdplab bench``; the command has printed and
    flushed everything by then, and holds no file or resource to close.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 1)


if __name__ == "__main__":
    sys.exit(main())
