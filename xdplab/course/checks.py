"""Checkers for the course's exercises.

Each checker takes the learner's function (the kernel function's signature),
plugs it into a python-mode :class:`xdplab.Board` with ``overrides=``, runs
traffic, and runs the *same* board and traffic with the 6.1 driver.  Any
difference is explained in the kernel's terms: which counter is off and what
it means, what the sanitizer said and where, which page leaked, and the fix.
When everything matches it says what the function got right.

``check(exercise_id, fn)`` prints the verdict (what a notebook calls);
``run_check`` returns a :class:`CheckResult` (what CI calls).  An unfinished
stub (raising ``NotImplementedError``) is reported as "not written yet",
never as an exception, so a notebook runs top to bottom.
"""

from __future__ import annotations

import copy
import functools
import inspect
import linecache
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import _layout as L
from ..board import Board, XdplabError
from ..cost import OPS
from ..errno import strerror
from ..mm import DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, PG_CPU, PGF_DMA_ADDR, PGF_WHERE, PG_RX_RING, PHYS_OFFSET
from ..nic.mvneta_hw import RXD_BUF_PHYS_ADDR, RXD_BUF_VIRT_ADDR, RXD_HW_OWN
from ..page_pool import (NUMA_NO_NODE, PP_ALIVE, PP_DESTROYING, PP_FLAG_DMA_MAP, PP_FLAG_DMA_SYNC_DEV, PPF_DMA_DIR,
                         PPF_FLAGS, PPF_MAX_LEN, PPF_NID, PPF_OFFSET, PPF_ORDER, PPF_POOL_SIZE, PPF_STATE,
                         PPF_USER_CNT, PPF_XDP_MEM_ID)
from ..sanitizer import SanitizerError, _san_report_raise
from ..trace import EV_XDP_EXCEPTION, TR_EV
from ..xdp import (REG_STATE_REGISTERED, RXQ_FRAG_SIZE, RXQ_MEM_ID, RXQ_MEM_TYPE, RXQ_NAPI_ID, RXQ_QUEUE_INDEX,
                   RXQ_REG_STATE)
from ..xdp_abi import MEM_TYPE_NAMES, MEM_TYPE_PAGE_POOL, PAGE_SIZE, XB_PAGE
from .._twospeed import PythonKernel

__all__ = ["EXERCISES", "CheckResult", "check", "run_check", "show_solution", "solution", "Exercise"]

OP_INDEX = {name: i for i, (name, _) in enumerate(OPS)}
DMA_DIR_NAMES = {0: "DMA_BIDIRECTIONAL", 1: "DMA_TO_DEVICE", 2: "DMA_FROM_DEVICE", 3: "DMA_NONE"}
SOLUTIONS_DIR = Path(__file__).resolve().parents[2] / "course" / "solutions"


# ================================================================ results

@dataclass
class CheckResult:
    """What a checker found: ``ok``, and the text it prints (``str(result)``)."""
    exercise: str
    function: str
    ok: bool
    status: str                       # "pass", "fail" or "unfinished"
    lines: list = field(default_factory=list)

    def __str__(self):
        head = {"pass": "PASS", "fail": "NOT YET", "unfinished": "NOT WRITTEN YET"}[self.status]
        return "\n".join([f"{self.exercise} · {self.function}: {head}"] + [f"  {x}" for x in self.lines])

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))

    @property
    def text(self) -> str:
        return str(self)


class _Unfinished(Exception):
    pass


class _Fail(Exception):
    """A checker found a problem: ``lines`` say what and why."""

    def __init__(self, *lines):
        super().__init__(lines[0] if lines else "")
        self.lines = [ln for ln in lines if ln]


@dataclass
class Exercise:
    id: str
    function: str
    chapter: str
    solution_file: str
    checker: object
    summary: str
    program: bool = False      # the learner writes an XDP program in C (%%bpf_c), not a driver function


# ================================================================ running boards

@functools.lru_cache(maxsize=None)
def _base():
    """A python namespace of the 6.1 kernels, to call originals from the checkers' fault injectors."""
    return PythonKernel({"san_report": _san_report_raise})


def _learner_frame(exc, fn):
    """(line number within fn, source line) of the deepest frame of the learner's function in exc's traceback."""
    if fn is None:
        return None
    code = fn.__code__
    found = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is code:
            found = tb.tb_lineno
        tb = tb.tb_next
    if found is None:
        return None
    src = linecache.getline(code.co_filename, found).strip()
    return found - code.co_firstlineno + 1, src


def _describe_exc(exc, fn, what):
    """Lines describing an exception raised while running the learner's driver."""
    loc = _learner_frame(exc, fn)
    where = f" at line {loc[0]} of your {fn.__name__}: `{loc[1]}`" if loc else ""
    if isinstance(exc, SanitizerError):
        first, *rest = str(exc).split("\n")
        return [f"✗ {what}: the sanitizer stopped the kernel{where}", f"    {first}"] + [f"    {r.strip()}" for r in rest]
    if isinstance(exc, XdplabError):
        return [f"✗ {what}: {exc}{where}"]
    return [f"✗ {what}: {type(exc).__name__}: {exc}{where}"]


def _raise_if_unfinished(exc):
    e = exc
    while e is not None:
        if isinstance(e, NotImplementedError):
            raise _Unfinished(str(e)) from exc
        e = e.__cause__ or e.__context__


@dataclass
class Snap:
    """Everything a checker compares after one scenario."""
    label: str
    board: Board | None = None
    exc: BaseException | None = None
    phase: str = ""
    ethtool: dict = field(default_factory=dict)
    netdev: dict = field(default_factory=dict)
    verdicts: dict = field(default_factory=dict)
    stack: dict = field(default_factory=dict)
    dmesg: list = field(default_factory=list)
    census: dict = field(default_factory=dict)
    pages_problem: str | None = None
    leak: BaseException | None = None
    ops: dict = field(default_factory=dict)
    run_ops: dict = field(default_factory=dict)   # operations during the traffic only
    tx: bytes = b""
    exceptions: int = -1                         # xdp:xdp_exception events (-1: the board did not trace)
    extra: dict = field(default_factory=dict)


def _label(prog, packets, rate, kind, size=64, size2=None):
    k = kind or ("ssh" if prog == "ssh-mirror" else "udp")
    what = {"udp": "UDP", "ssh": "TCP port-22", "tcp": "TCP"}[k]
    sz = f"{size}-byte" + (f" then {packets} {size2}-byte" if size2 else "")
    r = "line rate" if rate == "line" else f"{rate / 1000:.0f} kpps"
    p = f"xdp {prog}" if prog else "no XDP program"
    return f"{p}, {packets} {sz} {what} frames at {r}"


# ================================================================ the checkers' own XDP programs

def _lab_prog(name):
    """A small eBPF program the checkers attach (hand-assembled; the C is in the comment)."""
    from ..bpf import load_insns
    from ..bpf.insn import pack
    mov, movx, call, exit_, jne = 0xB7, 0xBF, 0x85, 0x95, 0x55
    ctx = [pack(movx, 6, 1), pack(movx, 1, 6)]                  # keep ctx in r6; r1 = ctx
    insns = {
        # return bpf_redirect(999, 0);  -- ifindex 999 does not exist: xdp_do_redirect() fails (-EINVAL)
        "redirect": [pack(mov, 1, imm=999), pack(mov, 2, imm=0), pack(call, imm=23), pack(exit_)],
        # bpf_xdp_adjust_tail(ctx, -1000); return XDP_DROP;  -- the frame is shorter after the program
        "shrink-drop": ctx + [pack(mov, 2, imm=-1000), pack(call, imm=65), pack(mov, 0, imm=1), pack(exit_)],
        # return bpf_xdp_adjust_meta(ctx, -8) ? XDP_DROP : XDP_PASS;  -- mvneta gives no metadata room
        "meta-test": ctx + [pack(mov, 2, imm=-8), pack(call, imm=54), pack(jne, 0, off=2, imm=0),
                            pack(mov, 0, imm=2), pack(exit_), pack(mov, 0, imm=1), pack(exit_)],
        # chapter 05, SEC("xdp.frags"): return XDP_DROP / XDP_ABORTED / XDP_PASS / XDP_TX on multi-buffer frames
        "frags-drop": [pack(mov, 0, imm=1), pack(exit_)],
        "frags-abort": [pack(mov, 0, imm=0), pack(exit_)],
        "frags-pass": [pack(mov, 0, imm=2), pack(exit_)],
        "frags-tx": [pack(mov, 0, imm=3), pack(exit_)],
        # bpf_xdp_adjust_tail(ctx, -2000); return XDP_DROP;  -- the last frag is released by the helper
        "frags-shrink-drop": ctx + [pack(mov, 2, imm=-2000), pack(call, imm=65), pack(mov, 0, imm=1), pack(exit_)],
    }.get(name)
    if name == "frags-count":              # xdp_frags.o: bpf_xdp_get_buff_len, bpf_xdp_load_bytes of the tail
        from ..bpf import load_object, prog_path
        return load_object(prog_path("xdp_frags.o")).programs["xdp_frags_count"]
    section = "xdp.frags" if name.startswith("frags-") else "xdp"
    return load_insns(insns, name=name.replace("-", "_"), section=section).programs[name.replace("-", "_")]


LAB_PROGS = ("redirect", "shrink-drop", "meta-test", "frags-drop", "frags-abort", "frags-pass", "frags-tx",
             "frags-shrink-drop", "frags-count")


def _snapshot(s: Snap, b: Board):
    s.ethtool = b.ethtool()
    s.netdev = b.netdev_stats()
    s.verdicts = b.verdicts()
    s.stack = b.stack_stats()
    s.dmesg = b.dmesg()
    s.census = b.page_census()
    s.ops = {name: int(b.state.r[L.R_OP_COUNT + i]) for i, (name, _) in enumerate(OPS)}
    n = min(int(b.state.r[L.R_WIRE_TX_N]), L.TXCAP_MAX)
    s.tx = bytes(b.state.txcap[:n, :64])
    if b.state.tr_ev.shape[0] != 0:            # the board records a trace
        if b.state.r[L.R_TR_LOST]:
            raise RuntimeError("xdplab bug: a checker's trace overflowed; give its board a larger trace=")
        n = int(b.state.r[L.R_TR_N])
        s.exceptions = int(np.count_nonzero(b.state.tr_ev[:n, TR_EV] == EV_XDP_EXCEPTION))


def _scenario(overrides, prog="drop", packets=300, rate=100_000, kind=None, stop=True, injectors=None,
              before_run=None, fn=None, size=64, size2=None, max_polls=None, tx_gbps=None, **board_kw):
    """Run one board: open (with overrides), traffic, check_pages, stop. Never raises (except unfinished).

    ``size2``: then as many frames of that size; ``max_polls``: stop the traffic after that many NAPI
    polls (frames stay on the ring for the teardown); ``tx_gbps``: the MAC's TX rate (the link partner
    pauses us with 802.3x PAUSE frames), so that XDP_TX fills the TX ring."""
    s = Snap(_label(prog, packets, rate, kind, size, size2))
    ov = dict(overrides)
    if injectors:
        ov.update(injectors)
    s.phase = "ip link set dev eth0 up" + (f"; ip link set dev eth0 xdp {prog}: the attach restarts the port, "
                                           "mvneta_stop + mvneta_open" if prog else "")
    try:
        b = Board(_lab_prog(prog) if prog in LAB_PROGS else prog, mode="python", overrides=ov, **board_kw)
        s.board = b
        if tx_gbps is not None:
            b.state.f[L.F_GBPS] = tx_gbps
        if before_run:
            before_run(b)
        s.phase = "traffic"
        f0 = b.state.r[L.R_OP_COUNT:L.R_OP_COUNT + len(OPS)].copy()
        if packets:
            b.run(packets=packets, size=size, rate=rate, kind=kind, max_polls=max_polls)
            if size2:
                b.run(packets=packets, size=size2, rate=rate, kind=kind, max_polls=max_polls)
        _snapshot(s, b)
        s.run_ops = {name: int(b.state.r[L.R_OP_COUNT + i] - f0[i]) for i, (name, _) in enumerate(OPS)}
        _census_then_stop(s, b, "ip link set dev eth0 down" if stop else None)
    except _Unfinished:
        raise
    except Exception as e:  # noqa: BLE001  (anything the learner's code raises is reported)
        _raise_if_unfinished(e)
        s.exc = e
        if s.board is not None and not s.ethtool:
            try:
                _snapshot(s, s.board)
            except Exception:  # noqa: BLE001
                pass
    return s


@functools.lru_cache(maxsize=None)
def _reference(prog="drop", packets=300, rate=100_000, kind=None, inject=None, **board_kw):
    """The same scenario with the 6.1 driver (cached: the reference never changes within a process)."""
    inj = _make_injectors(inject)[0] if inject else None
    return _checked_reference(_scenario({}, prog=prog, packets=packets, rate=rate, kind=kind, injectors=inj,
                                        **board_kw), "the reference driver")


def _census_then_stop(s, b, stop_phase, teardown=None):
    """A scenario's end, the same for every chapter: the page census after the traffic (a problem is
    kept in ``s.pages_problem``), then, if ``stop_phase`` names it, ``teardown(b)`` and the port's
    stop, where the sanitizer reports what the learner's code leaked (``s.leak``)."""
    s.phase = "after traffic"
    try:
        b.check_pages()
    except AssertionError as e:
        s.pages_problem = str(e)
    if stop_phase is None:
        return
    s.phase = stop_phase
    try:
        if teardown is not None:
            teardown(b)
        b.stop()
    except SanitizerError as e:
        _raise_if_unfinished(e)
        s.leak = e


def _checked_reference(s, who):
    """A reference run's scenario, refused loudly if the lab's own 6.1 code failed it; its board is
    dropped (keep the counters, not the board's 16 MiB of pages)."""
    if s.exc or s.leak or s.pages_problem:
        raise RuntimeError(f"xdplab bug: {who} failed its own scenario {s.label}: "
                           f"{s.exc or s.leak or s.pages_problem}")
    s.board = None
    return s


def _in_napi():
    """Is the caller running inside mvneta_poll (the pool's NAPI context)?  (python-mode boards only)"""
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_name == "mvneta_poll":
            return True
        f = f.f_back
    return False


def _make_injectors(spec):
    """Fault injectors and watchers by name ("a+b" combines them); returns (overrides, state dict)."""
    st = {"on": False, "calls": 0, "failed": 0, "dirs": [], "direct_outside_napi": [], "teardowns": [],
          "census": [], "redirects": 0}
    ov = {}
    for one in (spec or "").split("+"):
        _make_injector(one, ov, st)
    return ov, st


def _make_injector(spec, ov, st):
    base = _base()
    if spec == "redirect_half":
        orig = base._funcs["xdp_do_redirect"]
        conv = base._funcs["xdp_convert_buff_to_frame"]
        give_back = base._funcs["xdp_return_frame_rx_napi"]

        def xdp_do_redirect(b, xdp):
            # every second redirect finds a target (the lab models none yet): the frame is queued, and the
            # target drops it at xdp_do_flush (a devmap whose device is busy frees it NAPI-direct)
            err = orig(b, xdp)
            st["redirects"] += 1
            if st["redirects"] % 2:
                return err
            frame = conv(b, xdp)
            if frame < 0:
                return -75                          # -EOVERFLOW: no room for the xdp_frame
            give_back(b, frame)
            return 0
        ov["xdp_do_redirect"] = xdp_do_redirect
    elif spec == "census":
        orig = base._funcs["bpf_prog_run_xdp"]

        def bpf_prog_run_xdp(b, xdp):
            where = int(b.pg[xdp[XB_PAGE], PGF_WHERE])
            if where != PG_CPU and len(st["census"]) < 3:
                st["census"].append((int(xdp[XB_PAGE]), where))
            return orig(b, xdp)
        ov["bpf_prog_run_xdp"] = bpf_prog_run_xdp
    elif spec == "teardown":
        orig_reset = base._funcs["_rxq_reset"]

        def _rxq_reset(b):
            if b.r[L.R_RXQ_CMD] != 0:   # mvneta_rxq_deinit of a started port, right after mvneta_rxq_drop_pkts: where 6.1
                st["teardowns"].append({  # frees the descriptor ring (mvneta_rxq_deinit)
                    "busy": int(b.r[L.R_RXQ_BUSY]), "give": int(b.r[L.R_RXQ_HW_GIVE]), "pool": int(b.r[L.R_RXQ_POOL]),
                    "own": b.rxd[:, RXD_HW_OWN].copy(), "phys": b.rxd[:, RXD_BUF_PHYS_ADDR].copy(),
                    "virt": b.rxd[:, RXD_BUF_VIRT_ADDR].copy()})
            return orig_reset(b)
        ov["_rxq_reset"] = _rxq_reset
        for name, pos in (("page_pool_put_page", 4), ("page_pool_put_full_page", 3),
                          ("page_pool_recycle_direct", None)):
            ov[name] = _direct_watch(name, pos, base._funcs[name], st)
    elif spec == "pp_alloc_fail":
        orig = base._funcs["page_pool_alloc_pages"]

        def page_pool_alloc_pages(b, pool, gfp):
            # like fail_page_alloc, at the pool: every 5th allocation fails, 40 times
            st["calls"] += 1
            if st["failed"] < 40 and st["calls"] % 5 == 0 and b.r[L.R_RUNNING]:
                st["failed"] += 1
                return -1
            return orig(b, pool, gfp)
        ov["page_pool_alloc_pages"] = page_pool_alloc_pages
    elif spec == "sync_dirs":
        orig = base._funcs["dma_sync_single_for_cpu"]

        def dma_sync_single_for_cpu(b, addr, size, dir):
            st["dirs"].append((int(dir), int(b.pp[b.r[L.R_RXQ_POOL], PPF_DMA_DIR]), int(size)))
            return orig(b, addr, size, dir)
        ov["dma_sync_single_for_cpu"] = dma_sync_single_for_cpu
    elif spec in ("fail_pp_create", "fail_rxq_reg", "fail_mem_model"):
        target = {"fail_pp_create": "page_pool_create", "fail_rxq_reg": "xdp_rxq_info_reg",
                  "fail_mem_model": "xdp_rxq_info_reg_mem_model"}[spec]
        errno = {"fail_pp_create": -12, "fail_rxq_reg": -22, "fail_mem_model": -12}[spec]
        orig = base._funcs[target]

        st["seen"] = 0

        def injector(b, *args):
            # only one call fails, by default the first: in mvneta_open that is rxq_def's (queue 0 is set up
            # first), the queue the learner's mvneta_create_page_pool builds; queues 1-7 then set up as
            # usual, so an error the learner's code swallows is not reported for it by another queue.
            # st["fail_at"] = 1 fails queue 1's instead (mvneta_setup_rxqs then tears queue 0 down).
            if st["on"]:
                k = st["seen"]
                st["seen"] += 1
                if k == st.get("fail_at", 0):
                    st["failed"] += 1
                    return errno
            return orig(b, *args)
        injector.__name__ = target
        ov[target] = injector
        st["errno"] = errno
        st["target"] = target
    elif spec:
        raise ValueError(spec)


def _direct_watch(name, pos, orig, st):
    """A wrapper of a page_pool put that records allow_direct=true outside the pool's NAPI context."""
    def watch(b, *args):
        direct = True if pos is None else bool(args[pos - 1])
        if direct and not _in_napi() and len(st["direct_outside_napi"]) < 3:
            st["direct_outside_napi"].append(name)
        return orig(b, *args)
    watch.__name__ = name
    return watch


# ================================================================ comparing

# counters compared between the learner's board and the reference, and how a kernel developer reads them
COUNTER_MEANING = {
    "rx_packets": "ip -s link: frames the driver completed (XDP verdicts included)",
    "rx_bytes": "ip -s link: bytes of those frames",
    "rx_dropped": "ip -s link: skb allocation failures only",
    "tx_packets": "ip -s link: frames sent (XDP_TX included)",
    "rx_xdp_drop": "ethtool -S: XDP_DROP, XDP_ABORTED and invalid actions",
    "rx_xdp_pass": "ethtool -S: XDP_PASS",
    "rx_xdp_tx": "ethtool -S: XDP_TX frames queued on the TX ring",
    "refill_errors": "ethtool -S: mvneta_rx_refill failures",
    "rx_discard": "ethtool -S: frames the NIC had no RX buffer for",
    "good_frames_sent": "ethtool -S: frames the MAC sent",
}


def _diff(s: Snap, ref: Snap):
    """[(counter, learner, reference)] for every counter that differs."""
    out = []
    for group in ("netdev", "ethtool", "stack", "verdicts"):
        a, r = getattr(s, group), getattr(ref, group)
        for k in r:
            if a.get(k) != r[k] and not (group == "stack" and k in ("skb_allocs",)):
                if group == "verdicts":
                    k2 = f"verdict {k}"
                    out.append((k2, a.get(k), r[k]))
                else:
                    out.append((k, a.get(k), r[k]))
    return out


def _diff_lines(diffs, limit=8):
    lines = []
    for k, a, r in diffs[:limit]:
        m = COUNTER_MEANING.get(k)
        lines.append(f"    {k:<26} {a!s:>7}   (6.1 driver: {r})" + (f"  — {m}" if m else ""))
    if len(diffs) > limit:
        lines.append(f"    ... and {len(diffs) - limit} more counters differ")
    return lines


def _census_text(c):
    return ", ".join(f"{k} {v}" for k, v in c.items() if v)


# what a difference in one of the cycle model's operation counts usually means
_OP_HINTS = {
    "dcache_inval_line": "cache lines invalidated for the CPU: dma_sync_single_for_cpu() of what the NIC wrote",
    "dma_sync_call": "DMA syncs: one for the CPU per RX buffer, one for the device per recycled page",
    "dcache_clean_line": "cache lines cleaned for the device: the dma_sync_size of each recycle",
    "mmio_write": "NETA register writes (one posted write per poll while both counts fit in 8 bits)",
}


def _compare(s: Snap, ref: Snap, fn, explain=None, dmesg=True, ops_too=True):
    """Raise _Fail with an explanation if the learner's scenario differs from the reference.

    ``ops_too=False`` leaves out the cycle model's operation counts (``_traffic`` compares those last, so
    that a counter, a page or a sanitizer report explains a mistake first when there is one)."""
    if s.exc is not None:
        lines = _describe_exc(s.exc, fn, f"{s.label} ({s.phase})")
        if explain:
            lines += explain(s, ref, [], s.exc) or []
        raise _Fail(*lines)
    diffs = _diff(s, ref)
    extra = []
    if dmesg and s.dmesg != ref.dmesg:
        got = [m.split("] ", 1)[-1] for m in s.dmesg]
        want = [m.split("] ", 1)[-1] for m in ref.dmesg]
        if got != want:
            extra.append(("dmesg", got, want))
    ops = [(k, s.ops.get(k, 0), r) for k, r in ref.ops.items() if s.ops.get(k, 0) != r] if ops_too else []
    exc = s.exceptions >= 0 and ref.exceptions >= 0 and s.exceptions != ref.exceptions
    if diffs or extra or s.pages_problem or s.leak or s.census != ref.census or ops or exc:
        lines = [f"✗ {s.label}: the board does not end the way the 6.1 driver leaves it"]
        if diffs:
            lines += _diff_lines(diffs)
        for _, got, want in extra:
            lines.append(f"    dmesg: {len(got)} line(s), the 6.1 driver logs {len(want)}")
            for m in sorted(set(want) - set(got))[:2]:
                lines.append(f"      missing: {m}")
            for m in sorted(set(got) - set(want))[:2]:
                lines.append(f"      extra:   {m}")
        if s.census != ref.census:
            lines.append(f"    pages after the run: {_census_text(s.census)}  (6.1 driver: {_census_text(ref.census)})")
        if s.pages_problem:
            lines += ["    " + x.strip() for x in s.pages_problem.split("\n")]
        if s.leak is not None:
            lines += ["    at ip link set dev eth0 down: " + str(s.leak).split("\n")[0]] + \
                     ["      " + x.strip() for x in str(s.leak).split("\n")[1:]]
        if exc:
            lines.append(f"    xdp:xdp_exception tracepoint: {s.exceptions} event(s) (6.1 driver: {ref.exceptions}) "
                         "— "
                         "what perf record -e xdp:xdp_exception and xdpdump show an admin: one per aborted frame "
                         "and per invalid action, none for XDP_DROP")
        if ops:
            lines.append("    the work the board's cycle model counted (operations since ip link set up):")
            lines += [f"      {k:<20} {a:>8}   (6.1 driver: {r})" + (f"  — {_OP_HINTS[k]}" if k in _OP_HINTS else "")
                      for k, a, r in ops[:4]]
            lines.append("    each is a kernel operation with a cycle cost (xdplab.cost.OPS): keep the stub's "
                         "charge(...) lines, and do what the 6.1 function does — no cache line synced more or "
                         "less, no register written twice")
        if explain:
            lines += explain(s, ref, diffs, None) or []
        raise _Fail(*lines)


def _per_pkt(s: Snap, op):
    return s.run_ops.get(op, 0) / max(s.netdev.get("rx_packets", 0), 1)


def _traffic(fn, name, scenarios, explain=None, overrides=None):
    """Run each scenario (kwargs of _scenario) with the learner's fn and with the 6.1 driver; compare."""
    ok, refs = [], []
    for sc in scenarios:
        sc = dict(sc)
        inject = sc.pop("inject", None)
        ref = _reference(inject=inject, **sc)
        inj = _make_injectors(inject)[0] if inject else None
        s = _scenario(dict(overrides or {name: fn}), injectors=inj, fn=fn, **sc)
        _compare(s, ref, fn, explain, ops_too=False)
        ok.append(s)
        refs.append(ref)
    for s, ref in zip(ok, refs):
        _compare(s, ref, fn, explain)
    return ok


# ================================================================ checking the RX ring after open

def _check_ring(b: Board, fn, who):
    """Every descriptor holds a page_pool page at DMA address + 256; lines for what is wrong."""
    s = b.state
    n = int(s.r[L.R_RXQ_SIZE])
    off = int(s.r[L.R_RX_OFFSET])
    for i in range(n):
        phys = int(s.rxd[i, RXD_BUF_PHYS_ADDR])
        page = int(s.rxd[i, RXD_BUF_VIRT_ADDR])
        if phys == 0:
            raise _Fail(f"✗ after ip link set dev eth0 up, RX descriptor {i} has buf_phys_addr 0: the NIC has "
                        f"nowhere to DMA a frame",
                        f"    {who} must write rx_desc->buf_phys_addr (b.rxd[i, RXD_BUF_PHYS_ADDR])")
        if page < 0:
            raise _Fail(f"✗ RX descriptor {i} has buf_phys_addr {phys:#x} but rxq->buf_virt_addr[{i}] is NULL (-1)",
                        "    the RX loop reads the page from rxq->buf_virt_addr[index] "
                        "(b.rxd[i, RXD_BUF_VIRT_ADDR]): without it the CPU does not know which page the NIC "
                        "filled")
        p = (phys - PHYS_OFFSET) >> 12
        if p != page:
            raise _Fail(f"✗ RX descriptor {i}: buf_phys_addr {phys:#x} is in page {p} but buf_virt_addr says "
                        f"page {page}",
                        "    both fields must name the same page: the NIC writes through one, the CPU reads "
                        "through the other")
        got_off = phys - int(s.pg[page, PGF_DMA_ADDR])
        if got_off != off:
            raise _Fail(f"✗ RX descriptor {i}: buf_phys_addr = page_pool_get_dma_addr(page) + {got_off}; the "
                        f"6.1 driver posts page_pool_get_dma_addr(page) + {off}",
                        f"    {off} is pp->rx_offset_correction (MVNETA_SKB_HEADROOM = XDP_PACKET_HEADROOM): the "
                        "headroom in front of the frame where XDP writes the xdp_frame (XDP_TX, redirect) and "
                        "where bpf_xdp_adjust_head() grows the packet. The NIC writes at buf_phys_addr, so the "
                        "offset must be in it; the RX path expects the frame at 256 + 2 (Marvell header).")
    on_ring = int((s.pg[s.rxd[:n, RXD_BUF_VIRT_ADDR], PGF_WHERE] == PG_RX_RING).sum())   # rxq_def's ring
    if on_ring != n:
        raise _Fail(f"✗ the lab's page census counts {on_ring} of the RX ring's pages as on the ring, the ring "
                    f"holds {n}",
                    "    set b.pg[page, PGF_WHERE] = PG_RX_RING when you post a page (lab bookkeeping, not "
                    "kernel code: it lets check_pages() prove no page is lost)")


# ================================================================ exercises

def _check_rx_desc_fill(fn):
    lines = []
    ov = {"mvneta_rx_desc_fill": fn}
    s = _scenario(ov, prog=None, packets=0, stop=False, fn=fn)
    if s.exc:
        raise _Fail(*_describe_exc(s.exc, fn, "ip link set dev eth0 up (mvneta_rxq_fill)"))
    _check_ring(s.board, fn, "mvneta_rx_desc_fill")
    lines.append("✓ ip link set dev eth0 up: all 512 RX descriptors hold a page, buf_phys_addr and "
                 "buf_virt_addr name the same page, 256 bytes in (the headroom)")

    def explain(s, ref, diffs, exc):
        return ["    the RX loop finds a frame's page through rxq->buf_virt_addr[index]; check that both fields "
                "are written for the descriptor index you were given"]
    _traffic(fn, "mvneta_rx_desc_fill", [dict(prog="drop"), dict(prog="pass")], explain)
    lines.append("✓ xdp drop and xdp pass, 300 frames each: every counter and every page ends where the 6.1 "
                 "driver leaves it")
    return lines


class LoopNeverEnds(Exception):
    """The learner's function ran far longer than the 6.1 function could."""


def _bounded(fn, *args, max_lines=200_000):
    """fn(*args), raising LoopNeverEnds after max_lines Python lines (a loop whose counter never reaches 0)."""
    left = [max_lines]

    def local(frame, event, arg):
        if event == "line":
            left[0] -= 1
            if left[0] < 0:
                raise LoopNeverEnds(f"still running after {max_lines} lines: a loop that never ends? (check that "
                                    "each pass takes its share off the counts it tests)")
        return local

    old = sys.gettrace()
    sys.settrace(lambda frame, event, arg: local)
    try:
        return fn(*args)
    finally:
        sys.settrace(old)


def _desc_num_cases():
    # a poll (<= 64 each, (0, 0) when the RX cause bit was left over), both fields at the 8-bit limit and one
    # past it, and the teardown's large acks, in each combination of which field overflows
    return [(40, 40), (64, 0), (0, 64), (0, 0), (255, 255), (256, 0), (256, 256), (300, 40), (40, 300), (0, 256),
            (300, 300), (510, 260)]


def _check_rxq_desc_num_update(fn):
    lines = []
    base = Board("drop", mode="python")
    mm = OP_INDEX["mmio_write"]
    pk_ref = _base()
    pk = PythonKernel({"san_report": _san_report_raise, "mvneta_rxq_desc_num_update": fn})
    for done, filled in _desc_num_cases():
        states = []
        for k in (pk_ref, pk):
            st = copy.deepcopy(base.state)
            st.r[L.R_RXQ_BUSY] = 510              # the NIC filled 510 descriptors, the driver owns them
            st.rxd[:, RXD_HW_OWN] = 0
            st.r[L.R_RXQ_HW_GIVE] = 2
            try:
                _bounded(k.mvneta_rxq_desc_num_update, st, done, filled)
            except Exception as e:  # noqa: BLE001
                _raise_if_unfinished(e)
                raise _Fail(*_describe_exc(e, fn, f"mvneta_rxq_desc_num_update(b, {done}, {filled})"))
            states.append(st)
        r, g = states
        busy_r, busy_g = int(r.r[L.R_RXQ_BUSY]), int(g.r[L.R_RXQ_BUSY])
        own_r, own_g = int(r.rxd[:, RXD_HW_OWN].sum()), int(g.rxd[:, RXD_HW_OWN].sum())
        w_r = int(r.r[L.R_OP_COUNT + mm] - base.state.r[L.R_OP_COUNT + mm])
        w_g = int(g.r[L.R_OP_COUNT + mm] - base.state.r[L.R_OP_COUNT + mm])
        call = f"mvneta_rxq_desc_num_update(b, rx_done={done}, rx_filled={filled})"
        big = done > 255 or filled > 255
        if busy_r != busy_g:
            raise _Fail(f"✗ {call}: the NIC still counts {510 - busy_g} descriptors as processed-and-acknowledged; "
                        f"it should be {done} (its busy count is {busy_g}, expected {busy_r})",
                        "    rx_done goes in bits 0-7 of MVNETA_RXQ_STATUS_UPDATE_REG(rxq->id)" +
                        (": each field is 8 bits wide, so more than 255 (MVNETA_RXQ_DEC_OCCUPIED_MAX) needs "
                         "several writes of at most 255 each" if big else ""),
                        "    a busy count that is too high makes the next poll process descriptors the driver has "
                        "already emptied (buf_phys_addr 0)")
        if own_r != own_g or not np.array_equal(r.rxd[:, RXD_HW_OWN], g.rxd[:, RXD_HW_OWN]):
            raise _Fail(f"✗ {call}: the NIC may now fill {own_g} descriptors, expected {own_r}",
                        "    rx_filled goes in bits 16-23 (<< MVNETA_RXQ_ADD_NON_OCCUPIED_SHIFT)" +
                        (": each field is 8 bits wide, so more than 255 (MVNETA_RXQ_ADD_NON_OCCUPIED_MAX) needs "
                         "several writes" if big else ""),
                        "    descriptors you refilled but never hand back stay empty for the NIC: it runs out and "
                        "counts rx_discard")
        if w_r != w_g:
            raise _Fail(f"✗ {call}: {w_g} register write(s), the 6.1 driver does it in {w_r}",
                        "    both counts travel in one posted write (rx_done | rx_filled << 16) while each fits "
                        "in 8 bits; above 255 the driver loops, 255 at a time. Every MMIO write costs the "
                        "in-order A53 a stall on the interconnect, once per poll.")
    lines.append("✓ " + ", ".join(f"({d}, {f})" for d, f in _desc_num_cases()) +
                 ": the NIC's busy count, the descriptors it owns and the number of register writes match the "
                 "6.1 driver (255 per write)")
    _traffic(fn, "mvneta_rxq_desc_num_update", [dict(prog="drop", rate="line"), dict(prog="pass")])
    lines.append("✓ xdp drop at line rate and xdp pass: every counter matches the 6.1 driver")
    return lines


def _pool_row(b):
    p = int(b.state.r[L.R_RXQ_POOL])
    return p, (b.state.pp[p] if p >= 0 else None)


def _rxq_row(b):
    return b.state.r[L.R_XDP_RXQ:L.R_XDP_RXQ + 7]


def _check_params(b, prog, fn):
    p, row = _pool_row(b)
    if p < 0 or row[PPF_STATE] != PP_ALIVE:
        alive = [i for i in range(len(b.state.pp)) if b.state.pp[i, PPF_STATE] == PP_ALIVE]
        raise _Fail("✗ after ip link set dev eth0 up, rxq->page_pool (b.r[R_RXQ_POOL]) is "
                    f"{p}" + (f" but pool {alive[0]} is alive" if alive else ""),
                    "    store the pool page_pool_create() returned in rxq->page_pool: mvneta_rx_refill allocates "
                    "from it")
    flags = int(row[PPF_FLAGS])
    want_dir = DMA_BIDIRECTIONAL if prog else DMA_FROM_DEVICE
    exp = [("order", int(row[PPF_ORDER]), 0, "mvneta posts one 4 KiB page per RX buffer"),
           ("flags", flags, PP_FLAG_DMA_MAP | PP_FLAG_DMA_SYNC_DEV, None),
           ("pool_size", int(row[PPF_POOL_SIZE]), int(b.state.r[L.R_RXQ_SIZE]),
            "the ptr_ring's size: one RX ring's worth of pages (rxq->size, 512) may come back through it"),
           ("nid", int(row[PPF_NID]), NUMA_NO_NODE, "NUMA_NO_NODE: allocate on the node the NAPI CPU runs on"),
           ("dma_dir", int(row[PPF_DMA_DIR]), want_dir, None),
           ("offset", int(row[PPF_OFFSET]), int(b.state.r[L.R_RX_OFFSET]),
            "where the NIC starts writing (pp->rx_offset_correction = 256): the pool's sync for the device "
            "starts there, the headroom is never synced"),
           ("max_len", int(row[PPF_MAX_LEN]), 3520,
            "MVNETA_MAX_RX_BUF_SIZE = PAGE_SIZE - 576 (256 headroom + 320 skb_shared_info): the most the NIC "
            "writes, and the most the pool ever syncs for the device")]
    for name, got, want, why in exp:
        if got == want:
            continue
        if name == "flags":
            missing = []
            if not flags & PP_FLAG_DMA_MAP:
                missing.append("PP_FLAG_DMA_MAP: the pool maps each page once, when it enters the pool, and keeps "
                               "the mapping while the page recycles (no dma_map/unmap per packet)")
            if not flags & PP_FLAG_DMA_SYNC_DEV:
                missing.append("PP_FLAG_DMA_SYNC_DEV: the pool syncs a recycled page for the device, only "
                               "min(dma_sync_size, max_len) bytes from offset — without it nobody cleans the cache "
                               "lines the CPU dirtied (XDP_TX rewrote the headers), and the NIC's next DMA into "
                               "that page races their eviction")
            raise _Fail(f"✗ page_pool_params.flags = {flags:#x}, the 6.1 driver uses PP_FLAG_DMA_MAP | "
                        f"PP_FLAG_DMA_SYNC_DEV = {PP_FLAG_DMA_MAP | PP_FLAG_DMA_SYNC_DEV:#x}",
                        *[f"    missing {m}" for m in missing])
        if name == "dma_dir":
            why = ("an XDP program is attached: XDP_TX sends the frame back out of the same page, so the device "
                   "reads it too — the pool must map it DMA_BIDIRECTIONAL" if prog else
                   "no program: the device only writes these pages (DMA_FROM_DEVICE); mvneta_xdp_setup restarts "
                   "the port when a program comes or goes, to recreate the pool with the other direction")
            raise _Fail(f"✗ page_pool_params.dma_dir = {DMA_DIR_NAMES.get(got, got)} with "
                        f"{'xdp ' + prog if prog else 'no XDP program'} attached; the 6.1 driver uses "
                        f"{DMA_DIR_NAMES[want]}", f"    {why}",
                        "    read the program from b.r[R_PROG_KIND] (READ_ONCE(pp->xdp_prog): non-zero when one "
                        "is attached)")
        raise _Fail(f"✗ page_pool_params.{name} = {got}, the 6.1 driver uses {want}", f"    {why}")
    r = _rxq_row(b)
    if r[RXQ_REG_STATE] != REG_STATE_REGISTERED:
        raise _Fail("✗ the queue's xdp_rxq_info is not registered",
                    "    __xdp_rxq_info_reg(&rxq->xdp_rxq, dev, rxq->id, napi_id 0, frag_size PAGE_SIZE): the "
                    "lab's xdp_rxq_info_reg(b, 0, b.r[R_IFINDEX], 0, 0, PAGE_SIZE). Programs read "
                    "ingress_ifindex and rx_queue_index from it, and the memory model hangs off it.")
    if r[RXQ_QUEUE_INDEX] != 0 or r[RXQ_FRAG_SIZE] != PAGE_SIZE or r[RXQ_NAPI_ID] != 0:
        raise _Fail(f"✗ xdp_rxq_info: queue_index {int(r[RXQ_QUEUE_INDEX])}, napi_id {int(r[RXQ_NAPI_ID])}, "
                    f"frag_size {int(r[RXQ_FRAG_SIZE])}; the 6.1 driver registers rxq->id 0, napi_id 0 and "
                    f"frag_size PAGE_SIZE (4096)",
                    "    napi_id (5.11+) is the NAPI instance busy polling would use; mvneta passes 0",
                    "    frag_size (5.18+) is the size of each buffer of a multi-buffer frame: "
                    "bpf_xdp_adjust_tail() computes a frag's tailroom from it")
    if r[RXQ_MEM_TYPE] != MEM_TYPE_PAGE_POOL or b.state.ids[int(r[RXQ_MEM_ID]), 0] != p:
        mt = int(r[RXQ_MEM_TYPE])
        raise _Fail(f"✗ the queue's memory model is {MEM_TYPE_NAMES[mt] if 0 <= mt < 4 else mt} "
                    f"(mem.id {int(r[RXQ_MEM_ID])}), not MEM_TYPE_PAGE_POOL with this pool",
                    "    xdp_rxq_info_reg_mem_model(b, 0, MEM_TYPE_PAGE_POOL, pool): a frame freed far from the "
                    "driver (XDP_TX completion, a redirect target, cpumap) is returned through rxq->mem — "
                    "with any other model it would be page_frag_free()d or put_page()d instead of going back "
                    "to the pool")
    if row[PPF_USER_CNT] != 2 or row[PPF_XDP_MEM_ID] != r[RXQ_MEM_ID]:
        raise _Fail(f"✗ the pool has {int(row[PPF_USER_CNT])} user reference(s), expected 2 (the driver's and "
                    "the memory model's)")


def _open_with_fault(overrides, spec, fn, what, fail_at=0):
    """ip link set dev eth0 up on a stopped port while the fault injector ``spec`` makes call number
    ``fail_at`` (0: rxq_def's) fail.  Returns (board, open's error text or None, injector state)."""
    inj, st = _make_injectors(spec)
    s = _scenario(overrides, prog="drop", packets=0, stop=False, injectors=inj, fn=fn)
    if s.exc:
        raise _Fail(*_describe_exc(s.exc, fn, "ip link set dev eth0 up"))
    b = s.board
    b.stop()
    st["on"], st["seen"], st["fail_at"] = True, 0, fail_at
    err = None
    try:
        b.open()
    except XdplabError as e:
        err = str(e)
    except Exception as e:  # noqa: BLE001
        _raise_if_unfinished(e)
        raise _Fail(*_describe_exc(e, fn, f"ip link set dev eth0 up when {what}"))
    st["on"] = False
    return b, err, st


def _check_create_page_pool(fn):
    lines = []
    ov = {"mvneta_create_page_pool": fn}
    for prog in (None, "drop"):
        s = _scenario(ov, prog=prog, packets=0, stop=False, fn=fn)
        if s.exc:
            raise _Fail(*_describe_exc(s.exc, fn, f"ip link set dev eth0 up with {prog or 'no program'}"))
        _check_params(s.board, prog, fn)
    lines.append("✓ page_pool_params: order 0, PP_FLAG_DMA_MAP | PP_FLAG_DMA_SYNC_DEV, pool_size 512, "
                 "NUMA_NO_NODE, DMA_FROM_DEVICE without a program and DMA_BIDIRECTIONAL with one, offset 256, "
                 "max_len 3520")
    lines.append("✓ xdp_rxq_info registered (queue 0, frag_size 4096) with MEM_TYPE_PAGE_POOL on this pool; "
                 "rxq->page_pool set")
    for spec, what in (("fail_pp_create", "page_pool_create() returns -ENOMEM"),
                       ("fail_rxq_reg", "__xdp_rxq_info_reg() returns -EINVAL"),
                       ("fail_mem_model", "xdp_rxq_info_reg_mem_model() returns -ENOMEM")):
        b, err, st = _open_with_fault(ov, spec, fn, what)
        want = strerror(st["errno"])
        if err is None or want not in err:
            raise _Fail(f"✗ when {what}, ip link set dev eth0 up " +
                        ("succeeded" if err is None else f"failed with something else: {err}"),
                        f"    return the error ({want}) so that mvneta_open fails: a queue without its pool "
                        "or memory model must not start (the lab's rule, stricter than 6.1: its "
                        "mvneta_rxq_hw_init ignores mvneta_rxq_fill's result and brings eth0 up anyway)")
        alive = [i for i in range(len(b.state.pp)) if b.state.pp[i, PPF_STATE] in (PP_ALIVE, PP_DESTROYING)]
        r = _rxq_row(b)
        if alive:
            raise _Fail(f"✗ when {what}, the open failed but page_pool {alive[0]} is still alive "
                        f"({int(b.state.pp[alive[0], PPF_USER_CNT])} user reference(s))",
                        "    unwind in reverse order: err_unregister_rxq: xdp_rxq_info_unreg(); err_free_pp: "
                        "page_pool_destroy(); rxq->page_pool = NULL. A pool leaked here pins its pages and its "
                        "DMA mappings until reboot.")
        if r[RXQ_REG_STATE] == REG_STATE_REGISTERED:
            raise _Fail(f"✗ when {what}, the open failed but the queue's xdp_rxq_info is still registered",
                        "    err_unregister_rxq: xdp_rxq_info_unreg(&rxq->xdp_rxq) before destroying the pool; "
                        "the next open would WARN \"Missing unregister, handled but fix driver\"")
        if int(b.state.r[L.R_RXQ_POOL]) != -1:
            raise _Fail(f"✗ when {what}, rxq->page_pool still points at pool {int(b.state.r[L.R_RXQ_POOL])} "
                        "after the open failed",
                        "    set it back to NULL (b.r[R_RXQ_POOL] = -1) on every error path")
        try:
            b.open()
            b.run(packets=100, rate=100_000)
            b.check_pages()
        except Exception as e:  # noqa: BLE001
            _raise_if_unfinished(e)
            raise _Fail(*_describe_exc(e, fn, f"ip link set dev eth0 up again after {what}"))
        if any("Missing unregister" in m for m in b.dmesg()):
            raise _Fail(f"✗ after {what}, the next open logged \"Missing unregister, handled but fix driver\"",
                        "    the failed open left the xdp_rxq_info registered: xdp_rxq_info_unreg() on the error "
                        "path")
    lines.append("✓ error unwinding: when page_pool_create, __xdp_rxq_info_reg or xdp_rxq_info_reg_mem_model "
                 "fails, the error is returned, nothing stays registered or alive, and the next open works")
    _traffic(fn, "mvneta_create_page_pool", [dict(prog="drop"), dict(prog="ssh-mirror")])
    lines.append("✓ xdp drop and ssh-mirror (XDP_TX), 300 frames each: every counter matches the 6.1 driver")
    return lines


def _explain_refill(s, ref, diffs, exc):
    out = []
    keys = {k for k, _, _ in diffs}
    if exc is not None or s.pages_problem or "refill_errors" in keys:
        if ref.ethtool.get("refill_errors"):
            out.append(f"    in this run page_pool_alloc_pages() returned -1 (NULL) {ref.ethtool['refill_errors']} "
                       "time(s): mvneta_rx_refill must then return -ENOMEM and leave the descriptor alone; "
                       "mvneta_rx_refill_queue counts refill_errors, logs \"Can't refill queue 0\" and retries at "
                       "the next poll")
    if "rx_xdp_tx" in keys or "not_ip_consumed" in keys:
        out.append("    the program did not find the packet where it looked: is the frame 256 + 2 bytes into the "
                   "page? (buf_phys_addr = page_pool_get_dma_addr(page) + rx_offset_correction)")
    return out


def _check_rx_refill(fn):
    lines = []
    ov = {"mvneta_rx_refill": fn}
    s = _scenario(ov, prog=None, packets=0, stop=False, fn=fn)
    if s.exc:
        raise _Fail(*_describe_exc(s.exc, fn, "ip link set dev eth0 up (mvneta_rxq_fill)"))
    _check_ring(s.board, fn, "mvneta_rx_refill")
    if s.board.page_pool_stats()["slow"] == 0:
        raise _Fail("✗ the ring is full but page_pool never allocated a page: take RX buffers from "
                    "page_pool_alloc_pages(b, b.r[R_RXQ_POOL], gfp)")
    lines.append("✓ ip link set dev eth0 up: 512 page_pool pages posted, each at page_pool_get_dma_addr(page) + "
                 "256 (the pool mapped them: no dma_map per refill)")
    _traffic(fn, "mvneta_rx_refill", [dict(prog="drop"), dict(prog="pass"), dict(prog="ssh-mirror")],
             _explain_refill)
    lines.append("✓ xdp drop, pass and ssh-mirror (XDP_TX), 300 frames each: counters and page_pool stats match "
                 "(drop recycles into the alloc cache, pass through the ptr_ring)")
    _traffic(fn, "mvneta_rx_refill", [dict(prog="pass", packets=400, rate="line", inject="pp_alloc_fail")],
             _explain_refill)
    lines.append("✓ page_pool_alloc_pages() failing every 5th call at line rate: you return -ENOMEM, "
                 "refill_errors and \"Can't refill queue 0\" match, no page is lost, the ring recovers")
    return lines


def _explain_teardown(s, ref, diffs, exc):
    b = s.board
    out = []
    err = s.leak or exc
    if isinstance(err, SanitizerError) and err.code == 8:
        out.append("    the RX ring still held its pages when the pool was destroyed: put each one back with "
                   "page_pool_put_full_page(pool, page, false) first (not NAPI context: allow_direct false), "
                   "then unregister and destroy. A destroyed pool with pages in flight is not freed: it retries "
                   "every second and warns every 60 s (\"stalled pool shutdown\")")
    if b is None:
        return out
    st = b.state
    r = _rxq_row(b)
    alive = [i for i in range(len(st.pp)) if st.pp[i, PPF_STATE] in (PP_ALIVE, PP_DESTROYING)]
    if isinstance(err, SanitizerError) and err.code == 8:
        pass
    elif alive and r[RXQ_REG_STATE] == REG_STATE_REGISTERED:
        p = alive[0]
        out.append(f"    page_pool {p} is still alive after ip link set dev eth0 down, with "
                   f"{int(st.pp[p, PPF_USER_CNT])} user reference(s): the XDP memory model holds one "
                   "(page_pool_use_xdp_mem at xdp_rxq_info_reg_mem_model); xdp_rxq_info_unreg() drops it, "
                   "page_pool_destroy() drops the driver's. Its pages stay in its caches forever.")
    elif alive:
        p = alive[0]
        out.append(f"    page_pool {p} is still alive after ip link set dev eth0 down: xdp_rxq_info_unreg() "
                   "dropped the memory model's reference, but the driver's own was never dropped: call "
                   "page_pool_destroy(pool)")
    if st.r[L.R_RUNNING] == 0:
        held = [i for i in range(int(st.r[L.R_RXQ_SIZE]))
                if st.rxd[i, RXD_BUF_PHYS_ADDR] != 0 and st.rxd[i, RXD_BUF_VIRT_ADDR] >= 0
                and st.pg[int(st.rxd[i, RXD_BUF_VIRT_ADDR]), PGF_WHERE] == PG_RX_RING]
        if held:
            out.append(f"    {len(held)} page(s) are still on the RX ring (descriptor {held[0]} first)")
    return out


def _check_rxq_drop_pkts(fn):
    ov = {"mvneta_rxq_drop_pkts": fn}
    lines = _check_teardown_state(fn)
    lines += _check_failed_open(fn)
    for prog in ("pass", "ssh-mirror"):
        ref = _reference(prog=prog)
        s = _scenario(ov, prog=prog, fn=fn)
        _compare(s, ref, fn, _explain_teardown)
    lines.append("✓ ip link set dev eth0 down after xdp pass and ssh-mirror traffic: every RX page went back "
                 "to the pool, the pool was released, every page is back in the page allocator")
    s = _scenario(ov, prog="drop", stop=True, fn=fn)
    if s.exc or s.leak:
        _compare(s, _reference(prog="drop"), fn, _explain_teardown)
    b = s.board
    try:
        b.open()
        b.run(packets=200, rate=100_000)
        b.stop()
        b.open()
        b.attach("pass")
        b.run(packets=100, rate=100_000)
        b.detach()
        b.stop()
    except Exception as e:  # noqa: BLE001
        _raise_if_unfinished(e)
        raise _Fail(*_describe_exc(e, fn, "down, up, traffic, down, up, attach xdp pass (mvneta_stop + mvneta_open), "
                                          "detach, down"), *_explain_teardown(Snap("", board=b), None, [], e))
    if any("Missing unregister" in m for m in b.dmesg()):
        raise _Fail("✗ the next ip link set dev eth0 up logged \"Missing unregister, handled but fix driver\"",
                    "    xdp_rxq_info_unreg() belongs in the teardown")
    alive = [i for i in range(len(b.state.pp)) if b.state.pp[i, PPF_STATE] in (PP_ALIVE, PP_DESTROYING)]
    if alive:
        raise _Fail(f"✗ after four stop/open cycles page_pool {alive[0]} is still alive",
                    *_explain_teardown(Snap("", board=b), None, [], None))
    lines.append("✓ down/up cycles and program attach/detach (which restart the port): no pool, page or "
                 "registration outlives its queue")
    return lines


def _failed_open_unwind(overrides, fn=None):
    """ip link set up when queue 1's page_pool cannot be created: mvneta_setup_rxqs tears rxq_def down
    again (mvneta_rxq_deinit -> mvneta_rxq_drop_pkts).  Returns (open's error, rxq_def's xdp_rxq_info
    still registered, pools still alive)."""
    b, err, _ = _open_with_fault(overrides, "fail_pp_create", fn, "rxq 1's page_pool_create fails", fail_at=1)
    alive = [i for i in range(len(b.state.pp)) if b.state.pp[i, PPF_STATE] in (PP_ALIVE, PP_DESTROYING)]
    return err, bool(_rxq_row(b)[RXQ_REG_STATE] == REG_STATE_REGISTERED), alive


def _check_failed_open(fn):
    ref = _failed_open_unwind({})
    if ref[0] is None or ref[1] or ref[2]:
        raise RuntimeError(f"xdplab bug: the reference unwinding of a failed open went wrong: {ref}")
    err, reg, alive = _failed_open_unwind({"mvneta_rxq_drop_pkts": fn}, fn)
    what = "ip link set dev eth0 up when rxq 1's page_pool_create fails (mvneta_setup_rxqs tears rxq 0 down)"
    if reg:
        raise _Fail(f"✗ {what}: rxq 0's xdp_rxq_info is still registered after your teardown",
                    "    xdp_rxq_info_unreg(&rxq->xdp_rxq) when this queue's info is registered "
                    "(xdp_rxq_info_is_reg(b, 0): queue 0, the one being torn down)")
    if alive:
        raise _Fail(f"✗ {what}: page_pool {alive[0]} is still alive after your teardown",
                    "    page_pool_destroy(rxq->page_pool) once every page is back, then rxq->page_pool = NULL")
    return [f"✓ {what}: rxq 0's registration and pool are gone"]


def _check_teardown_state(fn):
    """ip link set down while frames wait on the ring and descriptors wait for a refill: what the NIC and the
    descriptor ring look like when the teardown returns, and in which context pages went back."""
    sc = dict(prog="pass", packets=400, rate="line", max_polls=3)
    ref_inj, ref_st = _make_injectors("teardown+pp_alloc_fail")
    ref = _scenario({}, injectors=ref_inj, **sc)
    if ref.exc or ref.leak or not ref_st["teardowns"] or ref_st["direct_outside_napi"]:
        raise RuntimeError(f"xdplab bug: the reference teardown failed: {ref.exc or ref.leak or ref_st}")
    inj, st = _make_injectors("teardown+pp_alloc_fail")
    s = _scenario({"mvneta_rxq_drop_pkts": fn}, injectors=inj, fn=fn, **sc)
    if s.exc is not None or s.leak is not None or s.pages_problem or s.census != ref.census:
        _compare(s, ref, fn, _explain_teardown, ops_too=False)     # a leak first: it explains the most
    what = ("ip link set dev eth0 down with frames still on the RX ring and descriptors "
            "still waiting for a refill (xdp pass at line rate, page_pool_alloc_pages failing, stopped after 3 polls)")
    if st["direct_outside_napi"]:
        raise _Fail(f"✗ {what}: {st['direct_outside_napi'][0]}(..., allow_direct=true) outside NAPI",
                    "    allow_direct=true promises that the caller is the pool's own NAPI poll, the only context "
                    "allowed to touch the pool's alloc cache without a lock. ip link set down (and the port restart "
                    "of a program attach) runs in process context: page_pool_put_full_page(pool, page, false). "
                    "(6.1's __page_pool_put_page also tests in_serving_softirq() and takes the ptr_ring from "
                    "process context, so this call does no harm in 6.1 itself; the flag is still the caller's "
                    "promise, which the lab checks: a put from another CPU's softirq would pass 6.1's test.)")
    if not st["teardowns"]:
        raise _Fail(f"✗ {what}: mvneta_stop did not finish")
    t, r = st["teardowns"][-1], ref_st["teardowns"][-1]       # [0] is the restart of the program attach
    if t["busy"] != r["busy"]:
        raise _Fail(f"✗ {what}: after your teardown the NIC still counts {t['busy']} descriptors as occupied "
                    f"(6.1: {r['busy']})",
                    "    ack them first: rx_done = mvneta_rxq_busy_desc_num_get() (b.r[R_RXQ_BUSY]); "
                    "mvneta_rxq_desc_num_update(b, rx_done, rx_done). The counter lives in the NIC, not in the "
                    "ring the kernel frees: left as it is, the next ip link set up starts with a busy count the "
                    "new ring does not have, and the first poll processes descriptors that hold no frame")
    if t["give"] != r["give"] or not np.array_equal(t["own"], r["own"]):
        raise _Fail(f"✗ {what}: the NIC may fill {int(t['own'].sum())} descriptors after your teardown, "
                    f"6.1 leaves it {int(r['own'].sum())}",
                    "    mvneta_rxq_desc_num_update(b, rx_done, rx_done): the descriptors acked as processed are "
                    "also handed back as free (non-occupied), so the NIC's two counters stay consistent")
    if t["pool"] != r["pool"]:
        raise _Fail(f"✗ {what}: after your teardown rxq->page_pool (b.r[R_RXQ_POOL]) is {t['pool']}, 6.1 sets it "
                    f"to NULL ({r['pool']})",
                    "    the pool is destroyed: whatever looks at the queue while the port is down (ethtool -S "
                    "sums the queues' page_pool stats) must find NULL, not a freed pool — and pool 0 is a "
                    "valid index in the lab")
    held = [i for i in range(len(t["phys"])) if t["phys"][i] != r["phys"][i] or t["virt"][i] != r["virt"][i]]
    if held:
        i = held[0]
        raise _Fail(f"✗ {what}: after your teardown RX descriptor {i} still says buf_phys_addr "
                    f"{int(t['phys'][i]):#x}, buf_virt_addr {int(t['virt'][i])} ({len(held)} descriptor(s) like it)",
                    "    the page it names went back to the pool, and the pool is gone. The kernel frees the "
                    "descriptor ring here; the lab keeps it across stop/open, so empty each descriptor you give "
                    "back (b.rxd[i, RXD_BUF_PHYS_ADDR] = 0, b.rxd[i, RXD_BUF_VIRT_ADDR] = -1): a stale entry is "
                    "put a second time by the next teardown if the next open cannot fill the whole ring")
    _compare(s, ref, fn, _explain_teardown)
    return [f"✓ {what}: busy descriptors acked and handed back, every descriptor emptied, every page put with "
            "allow_direct=false (process context)"]


def _explain_rx_frame(s, ref, diffs, exc):
    out = []
    keys = {k for k, _, _ in diffs}
    if isinstance(exc, SanitizerError) and exc.code == 3:
        out.append("    the ESPRESSObin's DMA is not cache-coherent: before the CPU (the XDP program, "
                   "eth_type_trans) reads what the NIC wrote, dma_sync_single_for_cpu(dev, "
                   "rx_desc->buf_phys_addr, len, page_pool_get_dma_dir(pool)) must invalidate those cache lines")
    if isinstance(exc, SanitizerError) and exc.code == 13:
        out.append("    you synced after clearing buf_phys_addr (or synced address 0): take the address from the "
                   "descriptor, sync, then clear it")
    if "rx_xdp_tx" in keys or "not_ip_consumed" in keys or "udp_delivered" in keys:
        out.append("    the program and the stack did not find the Ethernet header at data: data must be "
                   "page + rx_offset_correction (256) + MVNETA_MH_SIZE (2) — the NIC prepends a 2-byte Marvell "
                   "header to every frame (xdp_prepare_buff(xdp, page, 0, 256 + 2, data_len, false))")
    if ({"rx_bytes", "tx_bytes"} & keys) and not ({"rx_xdp_tx", "not_ip_consumed"} & keys):
        out.append("    the frame's length (rx_bytes of the skb, tx_bytes of the XDP_TX frame) is off: data_len = data_size - MVNETA_MH_SIZE - ETH_FCS_LEN for a frame "
                   "that ends in this buffer (data_size counts the Marvell header and the 4-byte FCS)")
    if {"verdict XDP_PASS", "verdict XDP_DROP"} & keys and s.label.startswith("xdp meta-test"):
        out.append("    bpf_xdp_adjust_meta() succeeded: mvneta reserves no metadata area, so 6.1 prepares the "
                   "buffer with meta_valid = false (xdp_prepare_buff(..., false)) and the helper fails")
    if s.pages_problem or "rx_discard" in keys:
        out.append("    after taking the buffer, clear rx_desc->buf_phys_addr: mvneta_rx_refill_queue only "
                   "refills descriptors whose buf_phys_addr is 0, and steps over the others as if their buffer "
                   "were still there (the error path)")
    return out


def _check_swbm_rx_frame(fn):
    lines = []
    name = "mvneta_swbm_rx_frame"
    _traffic(fn, name, [dict(prog="drop"), dict(prog="ssh-mirror"), dict(prog="pass"), dict(prog=None)],
             _explain_rx_frame)
    lines.append("✓ xdp drop, ssh-mirror (reads and rewrites headers), pass (build_skb, the stack) and no "
                 "program: the CPU reads only synced lines, the program finds the Ethernet header at 256 + 2, "
                 "counters match")
    inj, st = _make_injectors("sync_dirs")
    ov = {name: fn} | inj
    for prog in ("ssh-mirror", None):
        st["dirs"].clear()
        s = _scenario(ov, prog=prog, packets=50, fn=fn)
        if s.exc:
            raise _Fail(*_describe_exc(s.exc, fn, s.label))
        bad = [(d, p, n) for d, p, n in st["dirs"] if d != p]
        if bad:
            d, p, n = bad[0]
            raise _Fail(f"✗ {s.label}: dma_sync_single_for_cpu(..., {DMA_DIR_NAMES.get(d, d)}) on a page the pool "
                        f"mapped {DMA_DIR_NAMES.get(p, p)}",
                        "    CONFIG_DMA_API_DEBUG: \"device driver syncs DMA memory with different direction\". "
                        "Sync with the direction the page was mapped with: page_pool_get_dma_dir(pool) "
                        "(DMA_BIDIRECTIONAL while a program is attached, DMA_FROM_DEVICE otherwise)")
        short = [(d, p, n) for d, p, n in st["dirs"] if n < 66]
        if short:
            raise _Fail(f"✗ {s.label}: dma_sync_single_for_cpu of {short[0][2]} bytes for a 66-byte data_size",
                        "    sync what the NIC wrote: len = min(data_size, MVNETA_MAX_RX_BUF_SIZE), Marvell "
                        "header and FCS included")
    lines.append("✓ dma_sync_single_for_cpu with the pool's direction (DMA_BIDIRECTIONAL with a program, "
                 "DMA_FROM_DEVICE without) and the descriptor's whole data_size")
    _traffic(fn, name, [dict(prog="meta-test", packets=50),
                        dict(prog=None, packets=30, size=4000, size2=64, mtu=9000, rate=20_000)], _explain_rx_frame)
    lines.append("✓ bpf_xdp_adjust_meta is refused as on mvneta (meta_valid false); 4000-byte frames at MTU 9000 "
                 "(a first buffer of MVNETA_MAX_RX_BUF_SIZE, then fragments) and 64-byte frames after them (the "
                 "frags flag cleared)")
    inj, st = _make_injectors("census")
    s = _scenario({name: fn} | inj, prog="drop", packets=50, fn=fn)
    if s.exc:
        raise _Fail(*_describe_exc(s.exc, fn, s.label))
    if st["census"]:
        page, where = st["census"][0]
        raise _Fail(f"✗ {s.label}: the program ran on page {page} while the lab's page census still placed it "
                    f"at {where} (PG_CPU is {PG_CPU})",
                    "    b.pg[page, PGF_WHERE] = PG_CPU once the descriptor is emptied: the CPU owns the page now "
                    "(lab bookkeeping, not kernel code: it is how check_pages() and the player know where every "
                    "page is)")
    return lines


def _explain_run_xdp(s, ref, diffs, exc):
    out = []
    keys = {k for k, _, _ in diffs}
    prog = s.label.split(",")[0].replace("xdp ", "")
    verdict = {"drop": "XDP_DROP", "abort": "XDP_ABORTED", "invalid": "an invalid action (7)", "pass": "XDP_PASS",
               "ssh-mirror": "XDP_TX", "redirect": "XDP_REDIRECT",
               "shrink-drop": "XDP_DROP after bpf_xdp_adjust_tail"}.get(prog, prog)
    if isinstance(exc, SanitizerError) and exc.code == 14:
        out.append(f"    after {verdict} the page went back to the pool twice: mvneta_xdp_put_buff() recycles "
                   "it, so return MVNETA_XDP_DROPPED (the RX loop then leaves it alone); only XDP_PASS returns "
                   "MVNETA_XDP_PASS, which makes the loop build an skb around the page")
    if s.census.get("cpu") or (s.pages_problem and "cpu=" in s.pages_problem):
        if prog == "redirect":
            out.append("    after a failed XDP_REDIRECT the page stayed in the driver's hands: when xdp_do_redirect() "
                       "returns an error nobody took the frame — recycle it with mvneta_xdp_put_buff(b, xdp, sync) "
                       "and return MVNETA_XDP_DROPPED")
        elif prog == "ssh-mirror" and ref.ethtool.get("rx_xdp_tx_errors"):
            out.append(f"    the TX ring was full {ref.ethtool['rx_xdp_tx_errors']} times (rx_xdp_tx_errors): when "
                       "mvneta_xdp_xmit_back() does not return MVNETA_XDP_TX the frame was not queued and the "
                       "page is still yours — recycle it with mvneta_xdp_put_buff(b, xdp, sync)")
        else:
            out.append(f"    after {verdict} the page stayed in the driver's hands: nobody will ever return it. "
                       "XDP_DROP, XDP_ABORTED and invalid actions recycle it with mvneta_xdp_put_buff(b, xdp, sync) "
                       "→ page_pool_put_page(pool, page, sync, allow_direct=true), straight into the alloc cache")
    if "rx_xdp_redirect" in keys:
        out.append("    count rx_xdp_redirect only when xdp_do_redirect() returned 0 (the frame is the target's "
                   "now, MVNETA_XDP_REDIR); a failed redirect is recycled and returns MVNETA_XDP_DROPPED, and no "
                   "XDP counter of mvneta counts it (the core's xdp:xdp_redirect_err tracepoint does)")
    if s.exceptions >= 0 and ref.exceptions >= 0 and s.exceptions != ref.exceptions:
        out.append("    trace_xdp_exception(b, xdp, act) for XDP_ABORTED and for invalid actions (they fall "
                   "through to it), never for XDP_DROP")
    if s.ops.get("dcache_clean_line", 0) != ref.ops.get("dcache_clean_line", 0) and not s.census.get("cpu"):
        out += list(_SYNC_HINT)
    if "rx_xdp_drop" in keys and prog in ("abort", "invalid"):
        out.append("    XDP_ABORTED and invalid actions fall through to XDP_DROP: the frame is dropped and "
                   "counted in rx_xdp_drop (plus trace_xdp_exception; invalid ones also "
                   "bpf_warn_invalid_xdp_action, once)")
    if "rx_packets" in keys:
        d = dict((k, (a, r)) for k, a, r in diffs)["rx_packets"]
        if prog == "pass" and d[0] > d[1]:
            out.append("    XDP_PASS frames are counted once, on the skb path in mvneta_rx_swbm (rx_packets, "
                       "rx_bytes += skb->len); mvneta_run_xdp counts only the frames it consumes")
        else:
            out.append("    the talk: \"netdev stats: always increment rx packets counters even for XDP_DROP\" — "
                       "every frame mvneta_run_xdp consumes (drop, abort, invalid, tx, redirect) is rx_packets++ "
                       "and rx_bytes += frame_sz + (data_end - data) - data_len; a sysadmin's ip -s link must "
                       "show the traffic an XDP program dropped")
    elif "rx_bytes" in keys:
        out.append("    rx_bytes += frame_sz + xdp->data_end - xdp->data - data_len: the frame's size "
                   "(Marvell header included, FCS not) corrected by what the program added or cut")
    if "rx_xdp_tx" in keys or "tx_packets" in keys:
        d = dict((k, (a, r)) for k, a, r in diffs).get("rx_xdp_tx", (0, 0))
        if d[0] > d[1]:
            out.append("    mvneta_xdp_xmit_back() counts rx_xdp_tx, tx_packets and tx_bytes itself (or "
                       "rx_xdp_tx_errors when the TX ring is full): do not count them again")
        else:
            out.append("    XDP_TX: mvneta_xdp_xmit_back(b, xdp) converts the buff to an xdp_frame and queues it; "
                       "if it does not return MVNETA_XDP_TX, recycle with mvneta_xdp_put_buff(b, xdp, sync)")
    if "rx_xdp_pass" in keys:
        out.append("    XDP_PASS: count rx_xdp_pass and return MVNETA_XDP_PASS; the RX loop builds the skb")
    if any(k.startswith("dmesg") for k in keys) or (prog == "invalid" and s.dmesg != ref.dmesg):
        n = sum("XDP return value" in m for m in s.dmesg)
        out.append(f"    the kernel log has {n} \"Illegal XDP return value\" warning(s): "
                   "bpf_warn_invalid_xdp_action() warns once (pr_warn_once), then the invalid action falls "
                   "through to XDP_ABORTED and XDP_DROP")
    if not out and s.ethtool.get("rx_pp_recycle_ring", 0) > ref.ethtool.get("rx_pp_recycle_ring", 0):
        out.append("    pages went back through the ptr_ring (rx_pp_recycle_ring) instead of the alloc cache: in "
                   "NAPI context the driver owns the pool's alloc cache — allow_direct=true "
                   "(mvneta_xdp_put_buff does that)")
    return out


def _check_run_xdp(fn):
    lines = []
    name = "mvneta_run_xdp"
    progs = ["drop", "abort", "invalid", "pass", "ssh-mirror"]
    # drop, abort and invalid record a trace: the xdp:xdp_exception events are compared too
    oks = _traffic(fn, name, [dict(prog=p, packets=200, **({"trace": 8000} if p in ("drop", "abort", "invalid")
                                                            else {})) for p in progs], _explain_run_xdp)
    lines.append("✓ XDP_DROP, XDP_ABORTED, invalid action, XDP_PASS, XDP_TX (200 frames each): ethtool -S, "
                 "ip -s link, dmesg, xdp:xdp_exception events and every page match the 6.1 driver")
    s, ref = oks[0], _reference(prog="drop", packets=200, trace=8000)
    if s.ethtool["rx_pp_recycle_ring"] != ref.ethtool["rx_pp_recycle_ring"]:
        raise _Fail("✗ XDP_DROP recycled through the ptr_ring", *_explain_run_xdp(s, ref, [], None))
    cl, cr = _per_pkt(s, "dcache_clean_line"), _per_pkt(ref, "dcache_clean_line")
    if cl > cr + 0.01:
        raise _Fail(f"✗ XDP_DROP: the pool cleaned {cl:.1f} cache lines per frame for the device, the 6.1 driver "
                    f"{cr:.1f}", *_SYNC_HINT)
    lines.append("✓ XDP_DROP recycles into the alloc cache (allow_direct) and syncs only as far as the frame "
                 "reaches (dma_sync_size = sync)")
    full = _reference(prog="ssh-mirror", packets=500, tx_ring=434, tx_gbps=0.005)
    if not full.ethtool["rx_xdp_tx_errors"]:
        raise RuntimeError("xdplab bug: the TX-ring-full scenario did not fill the TX ring")
    _traffic(fn, name, [dict(prog="ssh-mirror", packets=500, tx_ring=434, tx_gbps=0.005)], _explain_run_xdp)
    lines.append(f"✓ XDP_TX with the TX ring full (434 descriptors, the MAC paused to 5 Mbit/s): "
                 f"{full.ethtool['rx_xdp_tx_errors']} frames mvneta_xdp_xmit_back() could not queue went back "
                 "to the pool")
    _traffic(fn, name, [dict(prog="redirect", packets=100, inject="redirect_half")], _explain_run_xdp)
    lines.append("✓ XDP_REDIRECT, half of them to a target that takes the frame and half failing (-EINVAL): "
                 "rx_xdp_redirect counts only the redirects that succeeded, every failed one is recycled")
    _traffic(fn, name, [dict(prog="shrink-drop", packets=40, size=1500, rate=20_000)], _explain_run_xdp)
    lines.append("✓ a program that cuts 1000 bytes off 1500-byte frames (bpf_xdp_adjust_tail): the sync for the "
                 "device still covers the frame as it arrived (max of before and after)")
    return lines


_SYNC_HINT = ("    pass the sync length to the recycle: sync = max(data_end - data_hard_start - "
              "rx_offset_correction, before and after the program) — how far the frame reaches into the buffer, "
              "FCS excluded, whatever the program did (a program that only reads is synced the same). "
              "page_pool_put_page(..., -1, ...) syncs max_len (3520 bytes, 55 lines) for every dropped frame: "
              "the talk's 420 kpps instead of 585",)


EXERCISES = {
    "lab_ex1": Exercise("lab_ex1", "mvneta_rx_desc_fill", "00-the-lab", "ch00_the_lab.py", _check_rx_desc_fill,
                        "post a buffer in an RX descriptor"),
    "lab_ex2": Exercise("lab_ex2", "mvneta_rxq_desc_num_update", "00-the-lab", "ch00_the_lab.py",
                        _check_rxq_desc_num_update, "tell the NIC what was processed and what was refilled"),
    "mem_ex1": Exercise("mem_ex1", "mvneta_create_page_pool", "01-driver-memory", "ch01_driver_memory.py",
                        _check_create_page_pool, "create the queue's page_pool and register the memory model"),
    "mem_ex2": Exercise("mem_ex2", "mvneta_rx_refill", "01-driver-memory", "ch01_driver_memory.py",
                        _check_rx_refill, "refill an RX descriptor from page_pool"),
    "mem_ex3": Exercise("mem_ex3", "mvneta_rxq_drop_pkts", "01-driver-memory", "ch01_driver_memory.py",
                        _check_rxq_drop_pkts, "tear the queue down without leaking a page"),
    "napi_ex1": Exercise("napi_ex1", "mvneta_swbm_rx_frame", "02-napi-and-verdicts", "ch02_napi_and_verdicts.py",
                         _check_swbm_rx_frame, "turn the first RX buffer into an xdp_buff"),
    "napi_ex2": Exercise("napi_ex2", "mvneta_run_xdp", "02-napi-and-verdicts", "ch02_napi_and_verdicts.py",
                         _check_run_xdp, "act on the program's verdict"),
}


# one checker module per chapter from chapter 03 on (the ones above are chapters 00-02's)
from .ch03 import EXERCISES as _CH03_EXERCISES  # noqa: E402

EXERCISES.update(_CH03_EXERCISES)


# ================================================================ entry points

def run_check(exercise: str, fn) -> CheckResult:
    """Check ``fn`` for an exercise; never raises for a mistake in ``fn``."""
    ex = EXERCISES[exercise]
    if ex.program:
        try:
            lines = ex.checker(fn)
        except _Unfinished as e:
            return CheckResult(exercise, ex.function, False, "unfinished",
                               [f"the stub still raises NotImplementedError({str(e)!r}).",
                                f"Write {ex.function} in the %%bpf_c cell, run it, then run this "
                                "one again."])
        except _Fail as f:
            return CheckResult(exercise, ex.function, False, "fail", f.lines)
        return CheckResult(exercise, ex.function, True, "pass", lines)
    if not callable(fn):
        return CheckResult(exercise, ex.function, False, "fail",
                           [f"✗ expected a function {ex.function}(...), got {type(fn).__name__}"])
    if fn.__name__ != ex.function:
        note = [f"(your function is called {fn.__name__}; it replaces the kernel's {ex.function})"]
    else:
        note = []
    try:
        lines = ex.checker(fn)
    except _Unfinished as e:
        return CheckResult(exercise, ex.function, False, "unfinished",
                           [f"the stub still raises NotImplementedError({str(e)!r}).",
                            f"Write {ex.function} in the exercise cell, run that cell, then run this one again. "
                            "The hints below unfold one at a time."])
    except _Fail as f:
        return CheckResult(exercise, ex.function, False, "fail", note + f.lines)
    return CheckResult(exercise, ex.function, True, "pass", note + lines)


def check(exercise: str, fn) -> None:
    """Check ``fn`` and print what the checker found (what a notebook's check cell calls)."""
    print(run_check(exercise, fn))


def solution(exercise: str):
    """The reference solution's function (from course/solutions/)."""
    import importlib.util
    ex = EXERCISES[exercise]
    path = SOLUTIONS_DIR / ex.solution_file
    if not path.exists():
        raise FileNotFoundError(f"reference solutions are in the repository's course/solutions/ ({path} not found)")
    if ex.program:                     # a C program: compiled with clang (xdplab.bpf.progs.ClangMissing without)
        from ..bpf import load_object
        from ..bpf.progs import compile_c
        return load_object(compile_c(path.read_text()))
    modname = f"_xdplab_solution_{path.stem}"
    mod = sys.modules.get(modname)
    if mod is None:
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        spec.loader.exec_module(mod)
    return getattr(mod, ex.function)


def show_solution(exercise: str) -> None:
    """Print the reference solution (after the hints, when you are stuck)."""
    ex = EXERCISES[exercise]
    if ex.program:
        print((SOLUTIONS_DIR / ex.solution_file).read_text())
        return
    print(inspect.getsource(solution(exercise)))
