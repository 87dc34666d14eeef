"""The simulated ESPRESSObin: board state, and the ``Board`` a notebook drives.

``create_board_state`` builds every piece of kernel and device state as
NamedTuples of numpy arrays; kernels take it as their first argument ``b``.
``Board`` is a thin handle: it validates, calls kernels (jitted, or the
python copies with ``mode="python"``), raises what the sanitizer found, and
reads counters back under the kernel's names.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numba
import numpy as np
from numba.core import types
from numba.experimental import structref

from . import _layout as L
from ._borrowed import alias_domain, borrowed, define_borrowed_proxy
from . import sanitizer as _san
from . import sim as _sim  # noqa: F401  (registers sim_run)
from ._twospeed import JIT, PythonKernel
from .boards import ESPRESSOBIN
from .cost import OPS, cost_to_clock_units, cpu_clock
from .errno import strerror
from .mm import PG_FREE, PG_NAMES, PG_RX_RING, PGF_PP, PGF_REFCNT, PGF_WHERE, PGF_FREE, create_pages
from .netstack import MAX_SKBS, STACK_STAT_NAMES, create_skbs
from .nic.mvneta import (DMA_SYNC_FULL_AT_REFILL, DMA_SYNC_PAGE_POOL, MVNETA_MAX_RXD, MVNETA_MAX_TXD,
                         MVNETA_SKB_HEADROOM, VERDICT_INVALID, create_rx_descs, create_tx_descs)
from .nic.mvneta_hw import RXD_BUF_PHYS_ADDR, RXD_BUF_VIRT_ADDR, TXCAP_LEN, create_wire, mvneta_hw_parse
from .nic.mvneta_stats import ETHTOOL_STATS, NETDEV_STATS, STAT_NAMES
from .page_pool import (PP_ALIVE, PP_DESTROYING, PP_ETHTOOL_NAMES, PP_STAT_NAMES, PPF_ALLOC_COUNT, PPF_HOLD_CNT,
                        PPF_RELEASE_CNT, PPF_RING_COUNT, PPF_STATE, PPF_STATS, create_page_pools)
from .bpf._jitabi import jit_wanted
from .bpf.state import BpfState, to_bpf_ref
from .printk import KLOG_ROWS, format_log
from .progs import BUILTIN_PROGS, PROG_BPF, PROG_BUILTIN, PROG_NONE, builtin_prog_id
from .trace import Trace, create_trace
from .traffic import make_traffic
from .xdp import MEM_ID_MIN, create_mem_ids, create_xdp_buff
from .xdp_abi import ENV_SIZE, XDP_ACTION_NAMES

__all__ = ["BoardState", "BoardStateRef", "to_ref", "create_board_state", "Board", "RunResult", "XdplabError"]


class XdplabError(RuntimeError):
    """An operation the kernel would refuse; the message says why and what to do."""


def empty_bpf_state() -> BpfState:
    """VM state with no program and no map: what a board without eBPF carries."""
    from .bpf.state import create_bpf_state
    return create_bpf_state(np.zeros((1, 4), np.int64), [0], [0], [0], [])


class BoardState(NamedTuple):
    """All state of one board: a few arrays (numba compiles per array), slots named in ``xdplab._layout``."""
    data: np.ndarray      # uint8[npages, PAGE_SIZE]: page memory
    pg: np.ndarray        # int64[npages, NPGF]: struct page (xdplab.mm.PGF_*)
    lines: np.ndarray     # uint64[npages, 3]: cache-line coherency bitmasks (xdplab.mm.LN_*)
    r: np.ndarray         # int64[NR]: scalar registers (xdplab._layout.R_*)
    f: np.ndarray         # float64[NF]: clocks, cost profile, op counters (xdplab._layout.F_*)
    pp: np.ndarray        # int64[MAX_POOLS, NPPF]: page_pool table (xdplab.page_pool.PPF_*)
    pps: np.ndarray       # int64[MAX_POOLS, 128 + ring_max]: alloc caches and ptr_rings
    rxd: np.ndarray       # int64[rx_ring, NRXD]: RX descriptors (xdplab.nic.mvneta_hw.RXD_*)
    txd: np.ndarray       # int64[tx_ring, NTXD]: TX descriptors (TXD_*)
    txd_done: np.ndarray  # float64[tx_ring]: when the MAC finished sending each
    skb: np.ndarray       # int64[MAX_SKBS, NSKBF]: skbs (xdplab.netstack.SKBF_*)
    ids: np.ndarray       # int64[0x10000, 2]: mem id -> (allocator, type)
    xdp: np.ndarray       # int64[XB_SIZE]: the poll's struct xdp_buff
    env: np.ndarray       # int64[ENV_SIZE]: program run environment
    wire: np.ndarray      # float64[n, 2]: arrivals (time ns, template)
    frames: np.ndarray    # uint8[T, maxlen]: template frames incl. FCS
    txcap: np.ndarray     # uint8[TXCAP_MAX, TXCAP_LEN]: first bytes of sent frames
    tr_ev: np.ndarray     # int64[capacity, TR_COLS]: trace events
    tr_t: np.ndarray      # float64[capacity]: trace times
    klog: np.ndarray      # int64[KLOG_ROWS, 6]: kernel log, then sanitizer reports
    bpf: BpfState         # the attached eBPF object's VM state (an empty one without eBPF)


_ARRAY_FIELDS = tuple(f for f in BoardState._fields if f != "bpf")
alias_domain("board", _ARRAY_FIELDS)


@structref.register
class BoardStateType(types.StructRef):
    """numba's view of the board: one pointer to the same arrays (see BoardStateRef)."""

    def preprocess_fields(self, fields):
        # the arrays are borrowed from the Python Board: no reference counting in the kernels;
        # each is its own alias scope (distinct numpy arrays: see xdplab._borrowed)
        return tuple((name, borrowed(types.unliteral(t), scope=("board", name) if name in _ARRAY_FIELDS else None))
                     for name, t in fields)


class BoardStateRef(structref.StructRefProxy):
    """The board state as jitted kernels take it.

    A NamedTuple of arrays is passed to a jitted function as all of its arrays,
    one by one (~8 ns per array per call); a StructRef is passed as one pointer.
    Both hold the *same* arrays: ``Board.s`` (NamedTuple) is what Python and
    the python-speed kernels use, ``Board.sj`` (this) what jitted kernels get.
    """


# kernels borrow the struct from its proxy as they borrow its arrays (xdplab._borrowed)
define_borrowed_proxy(BoardStateRef, BoardStateType, list(BoardState._fields))


@numba.njit(cache=True)
def _new_board_ref(data, pg, lines, r, f, pp, pps, rxd, txd, txd_done, skb, ids, xdp, env, wire, frames, txcap, tr_ev, tr_t, klog, bpf):
    # StructRefProxy.__new__ would compile its constructor afresh in every process (~1.3 s);
    # this one is cached with the kernels
    return BoardStateRef(data, pg, lines, r, f, pp, pps, rxd, txd, txd_done, skb, ids, xdp, env, wire, frames, txcap, tr_ev, tr_t, klog, bpf)


assert _new_board_ref.py_func.__code__.co_varnames[:len(BoardState._fields)] == BoardState._fields


def to_ref(s: BoardState) -> BoardStateRef:
    """The StructRef over the same arrays as ``s`` (which it keeps alive: the struct only borrows them)."""
    bpf = to_bpf_ref(s.bpf)                  # the VM state as one more borrowed struct
    ref = _new_board_ref(*s._replace(bpf=bpf))
    ref._owner = (s, bpf)
    return ref


# 16 MiB of RX buffers (8 queues x 512 pages, what 6.1's mvneta posts at open) and as much again
# for the pools' caches, the stack and XDP_TX
DEFAULT_NPAGES = 8192


def create_board_state(npages: int = DEFAULT_NPAGES, trace: int = 0, rx_ring: int = MVNETA_MAX_RXD,
                       tx_ring: int = MVNETA_MAX_TXD, profile=ESPRESSOBIN, mtu: int = 1500) -> BoardState:
    """Every piece of state of a fresh board, port down."""
    if not 64 <= rx_ring <= 4096:
        raise ValueError(f"rx_ring must be in [64, 4096] (mvneta's default is 512), got {rx_ring}")
    if not 64 <= tx_ring <= 4096:
        raise ValueError(f"tx_ring must be in [64, 4096] (mvneta's default is 1024), got {tx_ring}")
    cost = np.asarray(profile["cost"], np.float64)
    if cost.shape != (len(OPS),):
        raise ValueError(f"cost profile must have {len(OPS)} entries (xdplab.cost.OPS), got {cost.shape}")
    data, pg, lines = create_pages(npages)
    pp, pps = create_page_pools(ring_max=max(2048, rx_ring))
    tr = create_trace(trace)
    r = np.zeros(L.NR, np.int64)
    f = np.zeros(L.NF)
    r[L.R_NR_FREE] = data.shape[0]
    r[L.R_FAIL_TIMES] = -1
    r[L.R_RXQ_SIZE] = rx_ring
    r[L.R_RXQ_POOL:L.R_RXQ_POOL + L.RXQ_NUMBER] = -1
    r[L.R_TXQ_SIZE] = tx_ring
    r[L.R_IFINDEX] = 2                       # eth0 (lo is 1)
    r[L.R_MTU] = mtu
    r[L.R_RX_OFFSET] = MVNETA_SKB_HEADROOM
    r[L.R_IRQ_ON] = 1
    r[L.R_COAL_PKTS] = 32                    # MVNETA_RX_COAL_PKTS
    r[L.R_COAL_USEC] = 100                   # MVNETA_RX_COAL_USEC
    r[L.R_SKB_NR_FREE] = MAX_SKBS
    r[L.R_MEM_ID_NEXT] = MEM_ID_MIN
    f[L.F_HZ] = profile["hz"]
    f[L.F_GBPS] = 1.0
    f[L.F_COST:L.F_COST + len(OPS)] = cost
    r[L.R_COST_FX:L.R_COST_FX + len(OPS)] = cost_to_clock_units(cost, profile["hz"])
    return BoardState(
        data=data, pg=pg, lines=lines, r=r, f=f, pp=pp, pps=pps, rxd=create_rx_descs(rx_ring),
        txd=create_tx_descs(tx_ring), txd_done=np.zeros(tx_ring), skb=create_skbs(), ids=create_mem_ids(),
        xdp=create_xdp_buff(), env=np.zeros(ENV_SIZE, np.int64), wire=create_wire(np.zeros(0), np.zeros(0)),
        frames=np.zeros((1, 64), np.uint8), txcap=np.zeros((L.TXCAP_MAX, TXCAP_LEN), np.uint8),
        tr_ev=tr.ev, tr_t=tr.t_ns, klog=np.zeros((KLOG_ROWS, 6), np.int64), bpf=empty_bpf_state())


class RunResult(dict):
    """What one ``Board.run`` did (a dict; keys as in ``xdplab bench --json``)."""

    def __repr__(self):
        keys = ("packets_offered", "rx_packets", "hw_discard", "sim_pps")
        return "RunResult(" + ", ".join(f"{k}={self[k]!r}" for k in keys if k in self) + ", ...)"


class Board:
    """An ESPRESSObin with mvneta's eth0 up, optionally with an XDP program attached.

    Parameters
    ----------
    prog : None, a built-in name (``"drop"``, ``"pass"``, ``"abort"``, ``"ssh-mirror"``,
        ``"invalid"``) or a loaded eBPF program.
    mode : ``"jit"`` (fast) or ``"python"`` (the same kernels as plain Python, with the
        sanitizer raising at the faulting line; ``overrides`` replaces kernel functions).
    trace : events to record (0 = off).
    tc_drop : install ``tc filter add dev eth0 ingress matchall action gact drop``.
    dma_sync : ``"page_pool"`` (6.1) or ``"full"`` (pre-2019: the whole buffer synced at refill).
    skb_recycle : ``True`` (6.1: ``skb_mark_for_recycle``) or ``False`` (the talk's 5.9 driver:
        ``page_pool_release_page()`` after ``build_skb``; the stack frees the page, the refill
        allocates, maps and syncs a new one).
    bpf_jit_enable : the board's ``net.core.bpf_jit_enable``: ``1`` (6.1's default, the arm64 JIT)
        or ``0`` (programs priced as ``___bpf_prog_run`` runs them; they run the same).
    """

    def __init__(self, prog=None, *, mode: str = "jit", trace: int = 0, npages: int = DEFAULT_NPAGES,
                 rx_ring: int = MVNETA_MAX_RXD, tx_ring: int = MVNETA_MAX_TXD, mtu: int = 1500,
                 tc_drop: bool = False, dma_sync: str = "page_pool", overrides: dict | None = None,
                 seed: int = 0, profile=ESPRESSOBIN, skb_recycle: bool = True, bpf_jit_enable=True):
        if mode not in ("jit", "python"):
            raise ValueError(f"mode must be 'jit' or 'python', got {mode!r}")
        if overrides and mode != "python":
            raise ValueError("overrides replace kernel functions in the python copy: use mode='python'")
        if dma_sync not in ("page_pool", "full"):
            raise ValueError(f"dma_sync must be 'page_pool' (Linux 6.1) or 'full' (whole buffer at refill), "
                             f"got {dma_sync!r}")
        self.mode = mode
        if mode == "jit":
            self.k = JIT
        else:
            # the python copy raises sanitizer reports at the faulting line
            self.k = PythonKernel({"san_report": _san._san_report_raise} | dict(overrides or {}))
        self.profile = profile
        self.seed = int(seed)
        self.s = create_board_state(npages=npages, trace=trace, rx_ring=rx_ring, tx_ring=tx_ring,
                                    profile=profile, mtu=mtu)
        self.sj = to_ref(self.s) if mode == "jit" else None
        self.s.r[L.R_DMA_SYNC_MODE] = DMA_SYNC_FULL_AT_REFILL if dma_sync == "full" else DMA_SYNC_PAGE_POOL
        self.s.r[L.R_TC_DROP] = int(bool(tc_drop))
        # skb_recycle=False: the 5.9 driver (the talk's tc drop figure), page_pool_release_page() after
        # build_skb instead of 6.1's skb_mark_for_recycle(): every skb frees its page, every refill
        # allocates, maps and syncs a new one
        self.s.r[L.R_SKB_RELEASE] = 0 if skb_recycle else 1
        # bpf_jit_enable: net.core.bpf_jit_enable; 0 prices programs as 6.1's interpreter runs them
        # (a cost what-if: the simulator's own speed is `attach(jit=...)`, a different thing)
        if bpf_jit_enable not in (0, 1, True, False):
            raise ValueError(f"bpf_jit_enable must be 1 (the arm64 JIT, 6.1's default) or 0 (the interpreter), "
                             f"got {bpf_jit_enable!r}")
        self.s.r[L.R_BPF_INTERP] = 0 if bpf_jit_enable else 1
        self.prog_name = None
        self.bpf_prog = None
        self._prog_handles = {}                 # program (built-in name or object) -> handle
        self.open()
        if prog is not None:
            self.attach(prog)

    # ------------------------------------------------------------ calling kernels
    def _call(self, name, *args, what=None):
        fn = getattr(self.k, name)
        if self.mode == "jit":
            ret = fn(self.sj, *args)
        else:
            with np.errstate(over="ignore"):      # the python copies wrap 64-bit arithmetic like C
                ret = fn(self.s, *args)
        _san.san_raise_pending(self.s)
        if what is not None and isinstance(ret, (int, np.integer)) and ret < 0:
            raise XdplabError(f"{what}: {name}() returned {strerror(ret)}")
        return ret

    def _replace(self, **arrays):
        """Swap some of the board's arrays (e.g. a new traffic source)."""
        self.s = self.s._replace(**arrays)
        if self.mode == "jit":
            self.sj = to_ref(self.s)

    @property
    def state(self) -> BoardState:
        return self.s

    @property
    def trace(self) -> Trace:
        s = self.s
        return Trace(ev=s.tr_ev, t_ns=s.tr_t, n=s.r[L.R_TR_N:L.R_TR_N + 1], lost=s.r[L.R_TR_LOST:L.R_TR_LOST + 1])

    # ------------------------------------------------------------ program attach
    @property
    def bpf_jited(self) -> bool:
        """True while the attached eBPF program runs translated to native code (xdplab.bpf.jit).
        Attached without ``jit=``, it becomes True when the background translation is ready."""
        p = self.bpf_prog
        return self.mode == "jit" and p is not None and bool(getattr(p, "jited", False))

    def attach(self, prog, jit=None):
        """ip link set dev eth0 xdp ...: attach a program (mvneta_xdp_setup).

        ``jit=True`` translates an eBPF program to native code first and waits for it
        (``prog.jit()``, as the kernel's JIT does at load): the same results, counts and
        simulated clock, several times faster, after a fraction of a second to a few seconds of
        compiling the first time (then cached on disk).  ``jit=False`` interprets it
        (``prog.interpret()``).  ``None`` follows ``XDPLAB_BPF_JIT`` ("1": as True, "0": as
        False), and when that is unset runs the program at once in the interpreter while it is
        translated in the background (``prog.jit(wait=False)``): the runs switch to the
        translation between two packets when it is ready.  Python mode always interprets.  (The
        board's price of a run is the same either way: ``bpf_jit_enable`` decides that.)"""
        old = (self.bpf_prog, None, self.s.bpf)
        if isinstance(prog, str):
            kind, pid, frags, name = PROG_BUILTIN, builtin_prog_id(prog), 0, prog
            self.bpf_prog = None
        elif hasattr(prog, "state") and hasattr(prog, "index"):
            kind, pid, frags, name = PROG_BPF, int(prog.index), int(bool(getattr(prog, "frags", False))), prog.name
            self.bpf_prog = prog
            if jit is None:
                jit = jit_wanted(None)
            if hasattr(prog, "jit"):
                if jit and self.mode == "jit":
                    prog.jit()
                elif jit is False:
                    prog.interpret()
                elif jit is None and self.mode == "jit":
                    prog.jit(wait=False)         # interpreter first, translated in the background
            self._replace(bpf=prog.state)
            if self.mode == "jit" and self.s.r[L.R_BPF_INTERP_ADDR] == 0:
                # the interpreter, compiled apart from the board (call_interp): only now, for a board
                # that runs a compiled program (also a translated one: it finishes handed-over runs)
                from .bpf.vm import interp_entry_addr
                self.s.r[L.R_BPF_INTERP_ADDR] = interp_entry_addr()
        else:
            raise TypeError(f"prog must be a built-in name ({', '.join(sorted(BUILTIN_PROGS))}) or a program "
                            f"from xdplab.bpf.load_object(), got {type(prog).__name__}")
        handle = self._bpf_prog_get(prog)
        ret = self._call("mvneta_xdp_setup", handle, kind, pid, frags)
        if ret < 0:
            self._call("bpf_prog_put", handle)    # dev_xdp_install: the driver refused it
            self.bpf_prog = old[0]
            if old[2] is not self.s.bpf:
                self._replace(bpf=old[2])      # the attached program keeps its VM state
            raise XdplabError(
                f"mvneta_xdp_setup: {strerror(ret)}: prog does not support XDP frags and MTU "
                f"{int(self.s.r[L.R_MTU])} > 3520 (MVNETA_MAX_RX_BUF_SIZE); lower the MTU or use an "
                f"xdp.frags program" if ret == -95 else f"mvneta_xdp_setup: {strerror(ret)}")
        self.prog_name = name

    def detach(self):
        """ip link set dev eth0 xdp off."""
        self._call("mvneta_xdp_setup", 0, PROG_NONE, 0, 0, what="ip link set dev eth0 xdp off")
        self.prog_name = None
        self.bpf_prog = None

    def _bpf_prog_get(self, prog) -> int:
        """A handle for ``prog`` holding one more reference: the one dev_xdp_install hands the
        driver (which owns it until it bpf_prog_put()s the program it replaces)."""
        r = self.s.r
        h = self._prog_handles.get(prog)
        if h is None or r[L.R_PROG_REFCNT + h] <= 0:
            live = {v for v in self._prog_handles.values() if r[L.R_PROG_REFCNT + v] > 0}
            free = [i for i in range(1, L.MAX_PROGS) if i not in live]
            if not free:
                raise XdplabError(f"more than {L.MAX_PROGS - 1} programs referenced at once")
            h = free[0]
            self._prog_handles = {k: v for k, v in self._prog_handles.items() if v != h}
            self._prog_handles[prog] = h
        r[L.R_PROG_REFCNT + h] += 1
        return h

    def prog_refcnt(self, prog) -> int:
        """The references the board holds on ``prog`` (a built-in name or a loaded program):
        1 while eth0 runs it, 0 once mvneta_xdp_setup has swapped it out and put it."""
        h = self._prog_handles.get(prog)
        return 0 if h is None else int(self.s.r[L.R_PROG_REFCNT + h])

    def set_mtu(self, mtu: int):
        """ip link set dev eth0 mtu N (mvneta_change_mtu): on a running port every queue and its
        page_pool is re-created and the MAC gets the new maximum frame size."""
        ret = self._call("mvneta_change_mtu", int(mtu))
        if ret < 0:
            if not 68 <= int(mtu) <= 9676:
                why = ": MTU must be in [68, 9676]"
            elif self.s.r[L.R_PROG_KIND] and not self.s.r[L.R_PROG_FRAGS]:
                why = ": the attached XDP program does not support frags (MTU > 3520)"
            else:
                why = (": unable to setup rxqs after MTU change (an RX queue's page_pool could not be set up; "
                       "eth0 is left down)")
            raise XdplabError(f"ip link set dev eth0 mtu {mtu}: {strerror(ret)}" + why)

    def stop(self):
        """ip link set dev eth0 down (mvneta_stop): every page back, the pool destroyed; leaks are reported."""
        self._call("mvneta_stop")
        self.check_leaks()

    def check_leaks(self):
        """kmemleak for pages: with the port down, every page must be back in the page allocator."""
        if self.s.r[L.R_RUNNING]:
            raise XdplabError("check_leaks() needs the port down: call Board.stop() first")
        held = np.nonzero(self.s.pg[:, PGF_WHERE] != PG_FREE)[0]
        if len(held):
            p = int(held[0])
            err = _san.SanitizerError(7, p, 0, 0, int(self.s.pg[p, PGF_WHERE]))
            if len(held) > 1:
                err.args = (err.args[0] + f"\n  ({len(held) - 1} more page(s) held: Board.page_census())",)
            raise err

    def open(self):
        """ip link set dev eth0 up (mvneta_open).

        As in 6.1, a ring the page allocator cannot fill does not fail it (dmesg says how many
        buffers each queue got).  A queue whose page_pool or memory model cannot be set up does:
        that is the lab being stricter than 6.1, whose mvneta_rxq_hw_init ignores the error and
        brings the port up with that queue's rxq->page_pool NULL."""
        ret = self._call("mvneta_open")
        if ret < 0:
            raise XdplabError(f"ip link set dev eth0 up: mvneta_open() returned {strerror(ret)}: an RX queue's "
                              f"page_pool or xdp_rxq_info could not be set up (the lab fails the open here; "
                              f"6.1's mvneta_rxq_hw_init ignores mvneta_rxq_fill's error and brings eth0 up "
                              f"with that queue unusable)")

    # ------------------------------------------------------------ traffic
    def _set_wire(self, arr, tmpl, frames, flen):
        """Put traffic on the link (xdplab.traffic.make_traffic's arrays): frame k arrives at
        ``arr[k]`` and is template ``tmpl[k]``, whose bytes are ``frames[tmpl[k]]``."""
        if len(flen) > L.MAX_FLOWS:
            raise ValueError(f"at most {L.MAX_FLOWS} flows")
        self._replace(wire=create_wire(arr, tmpl), frames=frames)
        self.s.r[L.R_WIRE_FLEN:L.R_WIRE_FLEN + len(flen)] = flen
        self.s.r[L.R_WIRE_RXST:L.R_WIRE_RXST + len(flen)] = mvneta_hw_parse(frames)
        self.s.r[L.R_WIRE_NEXT] = 0

    def run(self, packets: int = 10000, size: int = 64, rate="line", kind: str | None = None,
            flows: int = 1, max_polls: int | None = None) -> RunResult:
        """Send ``packets`` frames of ``size`` bytes at ``rate`` (pps or "line") and run until handled."""
        if not self.s.r[L.R_RUNNING]:
            raise XdplabError("eth0 is down: call Board.open() first")
        if kind is None:
            kind = "ssh" if self.prog_name in ("ssh-mirror", "ssh_mirror") else "udp"
        start = max(self.clock_fx(0), self.clock_fx(1)) * L.CLOCK_UNIT_NS
        arr, tmpl, frames, flen = make_traffic(packets, size=size, rate=rate, kind=kind, flows=flows,
                                               seed=self.seed, start_ns=start)
        self._set_wire(arr, tmpl, frames, flen)
        before = self.counters()
        t0 = time.perf_counter()
        polls = self._call("sim_run", int(max_polls) if max_polls is not None else 1 << 62)
        wall = time.perf_counter() - t0
        self._raise_bpf_fault()
        after = self.counters()
        return self._result(before, after, packets, arr, wall, polls)

    def _raise_bpf_fault(self):
        n = int(self.s.r[L.R_BPF_FAULTS])
        if n and self.bpf_prog is not None:
            from .bpf import format_fault
            env = self.s.r[L.R_BPF_FAULT_ENV:L.R_BPF_FAULT_ENV + ENV_SIZE].copy()
            self.s.r[L.R_BPF_FAULTS] = 0
            raise XdplabError(f"the XDP program {self.prog_name!r} faulted on {n} packet(s) (each was "
                              f"handled as XDP_ABORTED); the first:\n{format_fault(self.bpf_prog, env)}")

    def counters(self) -> dict:
        s = self.s
        return {"stats": s.r[L.R_STATS:L.R_STATS + len(STAT_NAMES)].copy(),
                "verdicts": s.r[L.R_VERDICTS:L.R_VERDICTS + 6].copy(),
                "t": float(self.clock_fx(0)) * L.CLOCK_UNIT_NS,
                "pp": self._pp_stats_array().copy(),
                "busy": float(self.clock_fx(0) - s.r[L.R_IDLE]) * L.CLOCK_UNIT_NS}

    def clock_fx(self, cpu: int = 0) -> int:
        """CPU ``cpu``'s clock in CLOCK_UNIT_NS (xdplab.cost.cpu_clock: the charges not yet
        settled into ``r[R_CLOCK + cpu]`` included)."""
        return int(cpu_clock.py_func(self.s, cpu))

    def _result(self, before, after, packets, arr, wall, polls):
        d = {k: after["stats"][i] - before["stats"][i] for i, k in enumerate(STAT_NAMES)}
        v = after["verdicts"] - before["verdicts"]
        verdicts = {XDP_ACTION_NAMES[i]: int(v[i]) for i in range(5)}
        verdicts["invalid"] = int(v[VERDICT_INVALID])
        t_start = float(arr[0]) if len(arr) else after["t"]
        sim_s = max(after["t"] - t_start, 0.0) / 1e9
        rx = int(d["rx_packets"])
        return RunResult(
            packets_offered=int(packets), rx_packets=rx, hw_discard=int(d["rx_discard"]), verdicts=verdicts,
            sim_seconds=sim_s, sim_pps=(rx / sim_s) if sim_s > 0 else 0.0, wall_seconds=wall,
            wall_pps=(packets / wall) if wall > 0 else 0.0, wall_rx_pps=(rx / wall) if wall > 0 else 0.0,
            polls=int(polls), cpu0_busy=(after["busy"] - before["busy"]) / 1e9 / sim_s if sim_s > 0 else 0.0,
            ethtool={k: int(d[k]) for k in ETHTOOL_STATS} | dict(zip(
                PP_ETHTOOL_NAMES, (int(x) for x in after["pp"] - before["pp"]))),
            netdev={k: int(d[k]) for k in NETDEV_STATS},
            page_pool=dict(zip(PP_STAT_NAMES, (int(x) for x in after["pp"] - before["pp"]))))

    # ------------------------------------------------------------ reading state back
    def _pp_stats_array(self):
        # mvneta_ethtool_pp_stats: page_pool_get_stats summed over the 8 RX queues' current pools (a
        # destroyed pool's counters go with it: a restart starts them again from 0)
        pools = [int(p) for p in self.s.r[L.R_RXQ_POOL:L.R_RXQ_POOL + L.RXQ_NUMBER] if p >= 0]
        return self.s.pp[pools][:, PPF_STATS:PPF_STATS + 11].sum(axis=0)

    @property
    def rx_ring(self) -> int:
        """RX ring size of each queue (``ethtool -g eth0``'s RX)."""
        return int(self.s.r[L.R_RXQ_SIZE])

    def _stat(self, name):
        return int(self.s.r[L.R_STATS + STAT_NAMES.index(name)])

    def ethtool(self) -> dict:
        """ethtool -S eth0."""
        out = {k: self._stat(k) for k in ETHTOOL_STATS}
        out.update(zip(PP_ETHTOOL_NAMES, (int(x) for x in self._pp_stats_array())))
        return out

    def netdev_stats(self) -> dict:
        """ip -s link show eth0."""
        return {k: self._stat(k) for k in NETDEV_STATS}

    def page_pool_stats(self, pool: int | None = None) -> dict:
        """struct page_pool_stats of rxq_def's pool (or a given pool slot); the sum over the
        queues' pools when the port is down."""
        p = int(self.s.r[L.R_RXQ_POOL]) if pool is None else int(pool)
        if p < 0:
            return dict(zip(PP_STAT_NAMES, (int(x) for x in self._pp_stats_array())))
        return dict(zip(PP_STAT_NAMES, (int(x) for x in self.s.pp[p, PPF_STATS:PPF_STATS + 11])))

    def verdicts(self) -> dict:
        v = self.s.r[L.R_VERDICTS:L.R_VERDICTS + 6]
        out = {XDP_ACTION_NAMES[i]: int(v[i]) for i in range(5)}
        out["invalid"] = int(v[VERDICT_INVALID])
        return out

    def stack_stats(self) -> dict:
        return dict(zip(STACK_STAT_NAMES, (int(x) for x in self.s.r[L.R_STACK_STATS:L.R_STACK_STATS + len(STACK_STAT_NAMES)])))

    def dmesg(self) -> list[str]:
        return format_log(self.s, self.prog_name or "xdp")

    def sanitizer_reports(self) -> list[str]:
        return [_san.san_message(*rep) for rep in _san.san_reports(self.s)]

    def cost_breakdown(self, per_packet: bool = True) -> list[tuple[str, float, int]]:
        """(operation, cycles [per received packet], count) sorted by cycles, for the work done so far.

        Every row is an operation the driver, page_pool or the stack performed, priced from evidence
        (``xdplab/boards/espressobin.py`` says which), except ``unattributed``: the cycles per
        received frame that the board's calibration figures need and no evidence explains."""
        f, r = self.s.f, self.s.r
        rx = max(self._stat("rx_packets"), 1) if per_packet else 1
        # cycles = count x cost: a profile's costs are constant while the board runs
        rows = [(OPS[i][0], float(r[L.R_OP_COUNT + i] * f[L.F_COST + i]) / rx, int(r[L.R_OP_COUNT + i]))
                for i in range(len(OPS)) if r[L.R_OP_COUNT + i]]
        return sorted(rows, key=lambda r: -r[1])

    def page_census(self) -> dict:
        """How many pages are where (PG_*), for the conservation invariant."""
        w = self.s.pg[:, PGF_WHERE]
        return {PG_NAMES[i]: int((w == i).sum()) for i in range(len(PG_NAMES))}

    def check_pages(self):
        """Assert every page is in exactly one place and each place's count agrees with its structure."""
        s = self.s
        census = self.page_census()
        problems = []
        nr_free = int(s.r[L.R_NR_FREE])
        if census["free"] != nr_free:
            problems.append(f"{census['free']} pages marked free but the allocator holds {nr_free}")
        free = set(s.pg[:nr_free, PGF_FREE].tolist())
        if len(free) != nr_free:
            problems.append("a page is on the allocator's free list twice")
        if any(s.pg[p, PGF_WHERE] != PG_FREE or s.pg[p, PGF_REFCNT] != 0 for p in free):
            problems.append("a page on the free list is in use or has a refcount")
        ring = {int(s.rxd[i, RXD_BUF_VIRT_ADDR]) for i in range(len(s.rxd)) if s.rxd[i, RXD_BUF_PHYS_ADDR] != 0}
        if census["rx_ring"] != len(ring) or any(s.pg[p, PGF_WHERE] != PG_RX_RING for p in ring):
            problems.append(f"{census['rx_ring']} pages marked rx_ring but {len(ring)} descriptors hold a buffer")
        live = [p for p in range(len(s.pp)) if s.pp[p, PPF_STATE] in (PP_ALIVE, PP_DESTROYING)]
        cache = sum(int(s.pp[p, PPF_ALLOC_COUNT]) for p in live)
        ringc = sum(int(s.pp[p, PPF_RING_COUNT]) for p in live)
        if census["alloc_cache"] != cache:
            problems.append(f"{census['alloc_cache']} pages marked alloc_cache, caches hold {cache}")
        if census["ptr_ring"] != ringc:
            problems.append(f"{census['ptr_ring']} pages marked ptr_ring, rings hold {ringc}")
        inflight = sum(int(s.pp[p, PPF_HOLD_CNT] - s.pp[p, PPF_RELEASE_CNT]) for p in live)
        owned = int((s.pg[:, PGF_PP] >= 0).sum())
        if owned != inflight:
            problems.append(f"{owned} pages carry page->pp but the pools count {inflight} in flight")
        if census["cpu"] or census["caller"]:
            problems.append(f"pages left in the driver's hands between polls: cpu={census['cpu']} "
                            f"caller={census['caller']}")
        if problems:
            raise AssertionError("page conservation violated:\n  " + "\n  ".join(problems))
        return census
