"""``xdplab warmup``: compile, before the lab opens, every jitted path the course's chapters use.

numba compiles a kernel the first time it is called and keeps the machine code in its on-disk cache
(``cache=True``, in ``__pycache__`` beside the sources, or ``NUMBA_CACHE_DIR``).  Without this step the
first ``mode="jit"`` cell of a chapter pays the compile in the middle of the chapter.  ``make lab`` and
Binder's ``postBuild`` run it; a second run finds everything cached and takes seconds.

Each step is a tiny run of what a chapter runs; ``STEPS`` is the list, and
``tests/test_warmup.py`` checks that every ``Board(...)`` a chapter builds with the JIT is covered,
and that a new process after a warm-up compiles nothing (numba's own compile events).
"""

from __future__ import annotations

import sys
import time

__all__ = ["STEPS", "BOARDS", "BENCHES", "warmup"]


# The boards the chapters build with the JIT (mode="jit", no trace), as (program, Board options,
# traffic kind), plus the bench modes' programs. tests/test_warmup.py parses every chapter's
# Board(...) calls and checks that each is here.
BOARDS = (
    ("drop", {}, "udp"),                      # ch00, ch02: Board("drop")
    (None, {"tc_drop": True}, "udp"),         # ch02: Board(None, tc_drop=True)
    (None, {"tc_drop": True, "skb_recycle": False}, "udp"),   # ch02: the talk's 5.9 skb path
    ("drop", {"dma_sync": "full"}, "udp"),    # ch02: Board("drop", dma_sync="full")
    ("pass", {}, "udp"),                      # xdplab bench pass
    ("ssh-mirror", {}, "ssh"),                # xdplab bench tx
    ("abort", {}, "udp"),                     # xdplab bench abort
    (None, {"mtu": 9000}, "udp"),             # ch05: Board(None, mtu=9000), then attach("drop", frags=True)
)


def _board(prog, opts, kind):
    def step():
        from .board import Board
        b = Board(prog, **opts)
        b.run(packets=200, rate=100_000, kind=kind)
        b.run(packets=200, rate="line", kind=kind)
    return step


def _bpf_test_run():
    from .bpf import load_object, test_run
    from .bpf.progs import PROGS_DIR
    from .traffic import make_frame
    obj = load_object(PROGS_DIR / "xdp_drop.o")
    test_run(obj.programs[next(iter(obj.programs))], make_frame()[:-4])


def _label(prog, opts):
    args = [repr(prog)] + [f"{k}={v!r}" for k, v in opts.items()]
    return f"Board({', '.join(args)})"


def _bpf_on_board():
    from .board import Board
    from .bpf import load_object
    from .bpf.progs import PROGS_DIR
    obj = load_object(PROGS_DIR / "xdp_drop.o")
    Board(obj.programs[next(iter(obj.programs))], mode="jit").run(packets=200, rate=100_000)


# ch03 runs the redirect benchmarks (xdplab.bench.run_bench: an eBPF program on the board, a veth pair)
BENCHES = (
    ("redirect", {}),                           # ch03: bpf_redirect out of eth0 (xdplab bench redirect)
    ("redirect-map", {"target": "veth0"}),      # ch03: DEVMAP to veth0 (xdplab bench redirect-map --target veth0)
)


def _bench(mode, kw):
    def step():
        from .bench import run_bench
        run_bench(mode, packets=400, **kw)
    return step


def _bpf_jit():
    from .bpf import load_object, test_run
    from .bpf.progs import PROGS_DIR
    from .traffic import make_frame
    obj = load_object(PROGS_DIR / "xdp2.o")
    p = obj.programs[next(iter(obj.programs))]
    p.jit()                                 # the JIT's runtime (its slow paths) and LLVM's start
    test_run(p, make_frame()[:-4])


# What the chapters run (make lab compiles these before JupyterLab opens) ...
STEPS = tuple((_label(p, o), _board(p, o, k)) for p, o, k in BOARDS) + tuple(
    ("xdplab bench " + m + "".join(f" --{k} {v}" for k, v in kw.items()), _bench(m, kw)) for m, kw in BENCHES)
# ... and what the rest of the lab runs: the eBPF interpreter (compiled apart from the board, see
# xdplab.progs._bpf_run_interp) for xdplab bpf run, %%bpf_c and compiled programs on the board, and
# the JIT's runtime.  make lab (xdplab lab), Binder's postBuild and make test compile these too (--all).
MORE_STEPS = (
    ("eBPF VM: BPF_PROG_TEST_RUN (xdplab bpf run, %%bpf_c)", _bpf_test_run),
    ("eBPF VM on the board: Board(xdp_drop.o)", _bpf_on_board),
    ("eBPF JIT: xdp2.o translated", _bpf_jit),
)


def warmup(progress: bool = True, file=None, everything: bool = False) -> list[tuple[str, float]]:
    """Run every step (with ``everything``, MORE_STEPS too); returns (step, seconds).  With
    ``progress``, a tqdm bar on ``file`` (stderr)."""
    from tqdm.auto import tqdm
    file = file or sys.stderr
    times = []
    steps = STEPS + (MORE_STEPS if everything else ())
    with tqdm(steps, desc="compiling the simulator", unit="step", file=file, disable=not progress,
              bar_format="{desc}: {n_fmt}/{total_fmt} {bar} {elapsed} {postfix}") as bar:
        for what, step in bar:
            bar.set_postfix_str(what)
            t0 = time.perf_counter()
            step()
            times.append((what, time.perf_counter() - t0))
    return times
