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
from .cpumap import (CMF_COUNT, CMF_QSIZE, CMF_STATS, CPUMAP_STAT_NAMES, NR_CPUS, NCMF, cpumap_frames_held, create_cpumap)
from .errno import strerror
from .mm import PG_FREE, PG_NAMES, PG_RX_RING, PGF_FRAG_NR, PGF_PP, PGF_REFCNT, PGF_WHERE, PGF_FREE, create_pages
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
from .traffic import STAMP_OFF, make_traffic
from .bpf.maps import BPF_MAP_TYPE_CPUMAP
from .xdp import MEM_ID_MIN, create_mem_ids, create_xdp_buff
from .xdp_abi import ENV_SIZE, XB_SIZE, XDP_ACTION_NAMES
from .netdev import (ND_NAMES, ETH0_ROW as L_ETH0_ROW, LO_ROW as L_LO_ROW, ND_GRO, ND_HARD_HEADER_LEN, ND_IFINDEX, ND_KIND,
                     ND_KIND_LOOPBACK, ND_KIND_MVNETA, ND_KIND_VETH, ND_MTU, ND_NAPI, ND_NETNS, ND_PEER, ND_PROG,
                     ND_PROG_ID, ND_PROG_KIND, ND_RING_COUNT, ND_UP, VETH_RQ_STATS, VETH_TQ_STATS, create_netdevs)
from . import redirect as _redirect  # noqa: F401  (registers the redirect core, devmap and veth kernels)
from .netdev import netdev_frames_held

# where xdp_frames wait between polls; each holder lists its own (Board.check_pages counts them)
FRAME_HOLDERS = (cpumap_frames_held, netdev_frames_held)

__all__ = ["BoardState", "BoardStateRef", "to_ref", "create_board_state", "Board", "NetDev", "RunResult", "XdplabError"]


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
    cpumap: np.ndarray    # int64[NR_CPUS + 1, NCMF + qsize]: the CPUMAP's entries and rings (xdplab.cpumap)
    nd: np.ndarray        # int64[MAX_NETDEV, NDF]: struct net_device of each device (xdplab.netdev.ND_*)
    ndq: np.ndarray       # int64[MAX_NETDEV, NNDQ]: their frame queues (devmap bulk queue, veth ring ...)
    xdpx: np.ndarray      # int64[2, XB_SIZE]: the xdp_buffs of veth's NAPI (0) and of a devmap program (1)
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
def _new_board_ref(data, pg, lines, r, f, pp, pps, rxd, txd, txd_done, skb, ids, xdp, env, wire, frames, txcap, tr_ev, tr_t, klog, cpumap, nd, ndq, xdpx, bpf):
    # StructRefProxy.__new__ would compile its constructor afresh in every process (~1.3 s);
    # this one is cached with the kernels
    return BoardStateRef(data, pg, lines, r, f, pp, pps, rxd, txd, txd_done, skb, ids, xdp, env, wire, frames, txcap, tr_ev, tr_t, klog, cpumap, nd, ndq, xdpx, bpf)


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
    nd, ndq = create_netdevs()
    f[L.F_HZ] = profile["hz"]
    f[L.F_GBPS] = 1.0
    f[L.F_COST:L.F_COST + len(OPS)] = cost
    r[L.R_COST_FX:L.R_COST_FX + len(OPS)] = cost_to_clock_units(cost, profile["hz"])
    return BoardState(
        data=data, pg=pg, lines=lines, r=r, f=f, pp=pp, pps=pps, rxd=create_rx_descs(rx_ring),
        txd=create_tx_descs(tx_ring), txd_done=np.zeros(tx_ring), skb=create_skbs(), ids=create_mem_ids(),
        xdp=create_xdp_buff(), env=np.zeros(ENV_SIZE, np.int64), wire=create_wire(np.zeros(0), np.zeros(0)),
        frames=np.zeros((1, 64), np.uint8), txcap=np.zeros((L.TXCAP_MAX, TXCAP_LEN), np.uint8),
        tr_ev=tr.ev, tr_t=tr.t_ns, klog=np.zeros((KLOG_ROWS, 6), np.int64), cpumap=create_cpumap(), nd=nd, ndq=ndq,
        xdpx=np.zeros((2, XB_SIZE), np.int64), bpf=empty_bpf_state())


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
        self._cpumap_cfg = {}                   # the CPUMAP entries the board runs: cpu -> (qsize, fd, map id)
        self._netdev_init()
        self._dev_prog_names = {}
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

    def attach(self, prog, jit=None, frags=None):
        """ip link set dev eth0 xdp ...: attach a program (mvneta_xdp_setup).

        ``frags``: for a built-in program (a name), load it frags-aware, as a program in an
        ``xdp.frags`` section is (``BPF_F_XDP_HAS_FRAGS``): it may then see multi-buffer frames,
        and mvneta accepts it at an MTU above 3520.  A compiled program's section decides (its
        ``frags`` attribute); passing ``frags`` for it is an error.

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
            kind, pid, name = PROG_BUILTIN, builtin_prog_id(prog), prog
            frags = int(bool(frags))
            self.bpf_prog = None
        elif hasattr(prog, "state") and hasattr(prog, "index"):
            if frags is not None:
                raise ValueError(f"frags= is for built-in programs: {prog.name!r} is frags-aware if its "
                                 f"section is xdp.frags (SEC(\"xdp.frags\")), and it is "
                                 f"{'' if getattr(prog, 'frags', False) else 'not '}")
            if hasattr(prog, "check_loaded"):
                prog.check_loaded()          # a program xdplab refused (its object's others load)
            kind, pid, frags, name = PROG_BPF, int(prog.index), int(bool(getattr(prog, "frags", False))), prog.name
            if any(int(self.s.nd[r, ND_PROG_KIND]) == PROG_BPF for r in self._dev_rows.values()) and \
                    prog.state is not self.s.bpf:
                raise XdplabError(f"{prog.name!r} comes from another eBPF object than the program(s) on the "
                                  f"veth devices: the lab runs one object's programs per board")
            import weakref
            if getattr(prog, "object", None) is not None:
                prog.object._xdplab_board = weakref.ref(self)
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
            flows: int = 1, max_polls: int | None = None, stamp: bool = False, burst: bool = False) -> RunResult:
        """Send ``packets`` frames of ``size`` bytes at ``rate`` (pps or "line") and run until handled.

        ``size`` may be a mix (``[64, 9000]``: each frame's size drawn from the list, seeded).
        ``flows`` distinct 5-tuples (xdplab.traffic.flow_tuple), each frame's drawn from the seeded
        generator.  ``stamp=True`` writes a pktgen-like stamp into each UDP payload (flow id and
        sequence number, at byte ``STAMP_OFF`` of the frame) and the socket checks it: a frame
        that arrives after a later frame of its flow counts in ``stack_stats()["udp_reordered"]``.
        ``burst=True``: every frame is on the ring when the first interrupt fires (a link partner's
        queue released at once): the NAPI budget then ends in the middle of multi-buffer frames."""
        if not self.s.r[L.R_RUNNING]:
            raise XdplabError("eth0 is down: call Board.open() first")
        if kind is None:
            kind = "ssh" if self.prog_name in ("ssh-mirror", "ssh_mirror") else "udp"
        if stamp and (kind != "udp" or size < STAMP_OFF + 8 + 4):
            raise ValueError(f"stamp=True needs UDP frames of at least {STAMP_OFF + 12} bytes (the stamp is 8 "
                             f"bytes of payload at offset {STAMP_OFF}), got kind={kind!r} size={size}")
        self._sync_cpumap()
        start = max(self.clock_fx(0), self.clock_fx(1)) * L.CLOCK_UNIT_NS
        arr, tmpl, frames, flen = make_traffic(packets, size=size, rate=rate, kind=kind, flows=flows,
                                               seed=self.seed, start_ns=start)
        if burst and len(arr):
            arr[:] = arr[0]
        self._set_wire(arr, tmpl, frames, flen)
        self.s.r[L.R_WIRE_SEQ_OFF] = STAMP_OFF if stamp else 0
        self.s.r[L.R_FLOW_LAST_SEQ:L.R_FLOW_LAST_SEQ + L.MAX_FLOWS] = -1
        before = self.counters()
        dev_before = self._dev_counters()
        t0 = time.perf_counter()
        polls = self._call("sim_run", int(max_polls) if max_polls is not None else 1 << 62)
        wall = time.perf_counter() - t0
        self._raise_bpf_fault()
        after = self.counters()
        res = self._result(before, after, packets, arr, wall, polls)
        if len(dev_before) > 1 or res["verdicts"]["XDP_REDIRECT"]:
            # the per-device section: what each device's ethtool -S and ip -s link counted in this run
            dev_after = self._dev_counters()
            res["devices"] = {name: {sec: {k: v - dev_before[name][sec].get(k, 0) for k, v in vals.items()
                                           if isinstance(v, int) and k != "peer_ifindex"}
                                     for sec, vals in dev_after[name].items()}
                              for name in dev_after}
        return res

    def _raise_bpf_fault(self):
        n = int(self.s.r[L.R_BPF_FAULTS])
        if n and self.bpf_prog is not None:
            from .bpf import format_fault
            env = self.s.r[L.R_BPF_FAULT_ENV:L.R_BPF_FAULT_ENV + ENV_SIZE].copy()
            self.s.r[L.R_BPF_FAULTS] = 0
            cm_prog = int(self.s.r[L.R_CPUMAP_SAVE + 4])
            self.s.r[L.R_CPUMAP_SAVE + 4] = 0
            if cm_prog > 0:
                prog = self.bpf_prog.object._prog_by_index(cm_prog - 1)
                raise XdplabError(f"the CPUMAP program {prog.name!r} faulted on {n} packet(s) on the kthread's CPU "
                                  f"(each was dropped as 6.1's cpumap drops XDP_ABORTED: bpf_warn_invalid_xdp_action, "
                                  f"no trace_xdp_exception; the counters and Board.cpumap_stats() are up to date); "
                                  f"the first:\n{format_fault(prog, env)}")
            raise XdplabError(f"the XDP program {self.prog_name!r} faulted on {n} packet(s) (each was "
                              f"handled as XDP_ABORTED); the first:\n{format_fault(self.bpf_prog, env)}")

    def counters(self) -> dict:
        s = self.s
        return {"stats": s.r[L.R_STATS:L.R_STATS + len(STAT_NAMES)].copy(),
                "verdicts": s.r[L.R_VERDICTS:L.R_VERDICTS + 6].copy(),
                # the run ends when the later of the two CPUs is done (CPU 1 only works for a CPUMAP)
                "t": float(max(self.clock_fx(0), self.clock_fx(1))) * L.CLOCK_UNIT_NS,
                "pp": self._pp_stats_array().copy(),
                "busy": float(self.clock_fx(0) - s.r[L.R_IDLE]) * L.CLOCK_UNIT_NS,
                "busy1": float(self.clock_fx(1) - s.r[L.R_IDLE + 1]) * L.CLOCK_UNIT_NS,
                "pp_release": self._pp_release_cnt(),
                "cpumap": s.cpumap[:NR_CPUS, CMF_STATS:CMF_STATS + len(CPUMAP_STAT_NAMES)].sum(axis=0)}

    def _pp_release_cnt(self) -> int:
        # pages_state_release_cnt of the queues' current pools: pages that left their pool
        from .page_pool import PPF_RELEASE_CNT as _rel
        pools = [int(p) for p in self.s.r[L.R_RXQ_POOL:L.R_RXQ_POOL + L.RXQ_NUMBER] if p >= 0]
        return int(self.s.pp[pools, _rel].sum()) if pools else 0

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
            cpu1_busy=(after["busy1"] - before["busy1"]) / 1e9 / sim_s if sim_s > 0 else 0.0,
            cpu_busy_ns=[after["busy"] - before["busy"], after["busy1"] - before["busy1"]],
            cpumap=dict(zip(CPUMAP_STAT_NAMES, (int(x) for x in after["cpumap"] - before["cpumap"])))
            | {"pages_state_release_cnt": after["pp_release"] - before["pp_release"],
               "ring_high": int(after["cpumap"][CPUMAP_STAT_NAMES.index("ring_high")])},
            ethtool={k: int(d[k]) for k in ETHTOOL_STATS} | dict(zip(
                PP_ETHTOOL_NAMES, (int(x) for x in after["pp"] - before["pp"]))),
            netdev={k: int(d[k]) for k in NETDEV_STATS},
            page_pool=dict(zip(PP_STAT_NAMES, (int(x) for x in after["pp"] - before["pp"]))))

    # ------------------------------------------------------------ CPUMAP (xdplab.cpumap)
    def _cpumap_map(self):
        """The attached object's BPF_MAP_TYPE_CPUMAP (the lab runs one per board), or None."""
        obj = getattr(self.bpf_prog, "object", None)
        if obj is None:
            return None
        cms = [m for m in obj.maps.values() if m.type == BPF_MAP_TYPE_CPUMAP]
        if len(cms) > 1:
            raise XdplabError(f"{len(cms)} CPUMAPs in the attached object ({', '.join(m.name for m in cms)}): the "
                              f"lab models one CPUMAP per board; keep one")
        return cms[0] if cms else None

    def _sync_cpumap(self):
        """cpu_map_update_elem / cpu_map_delete_elem take effect on the board.

        The kernel allocates an entry (ring, kthread) in the update itself; the lab does it here,
        before each run, for every entry whose value changed since: the old entry's bulk queues
        are flushed and its kthread empties its ring (as kthread_stop waits for), then the new one
        starts and sleeps.  Between runs every ring is empty, so the effect is the same."""
        m = self._cpumap_map()
        want = {}
        if m is not None:
            for cpu in range(min(m.max_entries, NR_CPUS)):
                v = m.get(cpu)
                if v is None:
                    continue
                fd = int.from_bytes(v[4:8], "little", signed=True) if len(v) >= 8 else 0
                want[cpu] = (int.from_bytes(v[:4], "little"), fd if fd > 0 else 0, int(m.id))
        if want == self._cpumap_cfg:
            return
        qmax = max([q for q, _, _ in want.values()] + [1])
        cm = self.s.cpumap
        if NCMF + qmax > cm.shape[1]:
            grown = create_cpumap(qmax)
            grown[:, :cm.shape[1]] = cm
            self._replace(cpumap=grown)
        for cpu in range(NR_CPUS):
            old, new = self._cpumap_cfg.get(cpu), want.get(cpu)
            if old == new:
                continue
            if old is not None:
                self._call("cpu_map_entry_free", cpu)
            if new is not None:
                qsize, fd, map_id = new
                kind, pid = PROG_NONE, 0
                if fd > 0:
                    prog = m._obj._prog_by_index(fd - 1)
                    kind, pid = PROG_BPF, fd - 1
                    if self.bpf_jited and hasattr(prog, "jit"):
                        prog.jit()
                self._call("cpu_map_entry_alloc", cpu, qsize, map_id, kind, pid)
        self.s.r[L.R_CPUMAP_ACTIVE] = len(want)
        self.s.r[L.R_CPUMAP_MAP_ID] = int(m.id) if m is not None else 0
        self._cpumap_cfg = want

    def cpumap_stats(self, cpu: int | None = None) -> dict:
        """What the CPUMAP's two tracepoints reported so far, summed (one entry's, or all): the
        ``xdp:xdp_cpumap_enqueue`` fields (processed, drops), the ``xdp:xdp_cpumap_kthread`` ones
        (processed, drops, sched, xdp_pass, xdp_drop, xdp_redirect), and the lab's extras: wake-ups,
        the ring's high-water mark, skbs handed to the stack, page_pool pages released."""
        rows = range(NR_CPUS) if cpu is None else [int(cpu)]
        st = self.s.cpumap[list(rows), CMF_STATS:CMF_STATS + len(CPUMAP_STAT_NAMES)]
        out = dict(zip(CPUMAP_STAT_NAMES, (int(x) for x in st.sum(axis=0))))
        out["ring_high"] = int(st[:, CPUMAP_STAT_NAMES.index("ring_high")].max())
        out["ring_count"] = int(self.s.cpumap[list(rows), CMF_COUNT].sum())
        return out

    def cpu_load(self) -> list[dict]:
        """Per CPU since boot: clock, busy and idle time (ns) and the busy share."""
        out = []
        for c in range(NR_CPUS):
            t = self.clock_fx(c) * L.CLOCK_UNIT_NS
            idle = float(self.s.r[L.R_IDLE + c]) * L.CLOCK_UNIT_NS
            out.append({"cpu": c, "clock_ns": t, "busy_ns": t - idle, "idle_ns": idle,
                        "load": (t - idle) / t if t > 0 else 0.0})
        return out


    # ------------------------------------------------------------ net devices (issue 22)
    def _dev_counters(self) -> dict:
        """{name: {"ethtool": ..., "netdev": ...}} of every device but lo (what RunResult['devices'] diffs)."""
        return {d.name: {"ethtool": d.ethtool(), "netdev": d.netdev_stats()} for d in self.devices()
                if d.kind != "loopback"}

    def _netdev_init(self):
        # (netns, name) -> row of b.nd; netns 0 is the root namespace, others are Board.netns_add()'s
        self._dev_rows = {(0, "eth0"): L_ETH0_ROW, (0, "lo"): L_LO_ROW}
        self._netns_names = ["init_net"]

    def netns_add(self, name: str) -> int:
        """ip netns add NAME: a network namespace (with its own lo, ifindex 1); returns its number."""
        if name in self._netns_names:
            raise XdplabError(f"ip netns add {name}: Cannot create namespace file \"/var/run/netns/{name}\": "
                              f"File exists")
        ns = len(self._netns_names)
        self._netns_names.append(name)
        row = self._free_dev_row(f"ip netns add {name}")
        nd = self.s.nd
        nd[row, :] = 0
        nd[row, ND_PEER] = -1
        nd[row, ND_IFINDEX] = 1
        nd[row, ND_KIND] = ND_KIND_LOOPBACK
        nd[row, ND_NETNS] = ns
        nd[row, ND_UP] = 0                    # a new namespace's lo is down until `ip -n NS link set lo up`
        nd[row, ND_MTU] = 65536
        self._dev_rows[(ns, "lo")] = row
        return ns

    def _netns(self, netns) -> int:
        if netns is None or netns == 0 or netns == "init_net":
            return 0
        if isinstance(netns, str) and netns in self._netns_names:
            return self._netns_names.index(netns)
        raise XdplabError(f"Cannot open network namespace \"{netns}\": No such file or directory "
                          f"(create it first: Board.ip('netns add {netns}'))")

    def _free_dev_row(self, what):
        used = set(self._dev_rows.values())
        for r in range(L.MAX_NETDEV):
            if r not in used:
                return r
        raise XdplabError(f"{what}: the board holds at most {L.MAX_NETDEV} net devices")

    def _new_ifindex(self, ns):
        # dev_new_index(net): the next free ifindex of that namespace (6.1 counts per netns)
        used = {int(self.s.nd[r, ND_IFINDEX]) for (n, _), r in self._dev_rows.items() if n == ns}
        i = 1
        while i in used:
            i += 1
        return i

    def veth_add(self, name: str, peer: str, peer_netns=None, netns=None):
        """ip link add NAME type veth peer name PEER [netns PEER_NETNS]: a veth pair, both down, GRO off,
        MTU 1500.  The peer is registered first (6.1's veth_newlink), so in a fresh namespace it gets
        ifindex 2 and NAME the next free ifindex of its own namespace.  Returns (dev, peer)."""
        ns, pns = self._netns(netns), self._netns(peer_netns)
        for n, nm in ((ns, name), (pns, peer)):
            if (n, nm) in self._dev_rows:
                raise XdplabError(f"ip link add {name} type veth peer name {peer}: RTNETLINK answers: File exists "
                                  f"({nm} already exists in {self._netns_names[n]})")
        nd = self.s.nd
        rows = []
        for n, nm in ((pns, peer), (ns, name)):
            r = self._free_dev_row(f"ip link add {name} type veth")
            nd[r, :] = 0
            nd[r, ND_IFINDEX] = self._new_ifindex(n)
            nd[r, ND_KIND] = ND_KIND_VETH
            nd[r, ND_NETNS] = n
            nd[r, ND_MTU] = 1500
            nd[r, ND_HARD_HEADER_LEN] = 14
            self._dev_rows[(n, nm)] = r
            rows.append(r)
        rp, rd = rows
        nd[rd, ND_PEER] = rp
        nd[rp, ND_PEER] = rd
        return self.dev(name, netns), self.dev(peer, peer_netns)

    def ip(self, cmd: str):
        """A few iproute2 commands, as the talk's recipe types them::

            b.ip("netns add remote")
            b.ip("link add veth0 type veth peer name veth1 netns remote")
            b.ip("link set veth0 up");  b.ip("-n remote link set veth1 up")
            b.ip("link set dev veth0 mtu 1400")
            b.ip("-n remote link set dev veth1 xdp off")

        (``xdp obj FILE`` is ``Board.dev(name).attach(prog)``.)"""
        w = cmd.split()
        ns = None
        if len(w) >= 2 and w[0] in ("-n", "-netns"):
            ns, w = w[1], w[2:]
        if w[:2] == ["netns", "add"] and len(w) == 3:
            return self.netns_add(w[2])
        if w[:2] == ["link", "add"] and len(w) >= 7 and w[3:6] == ["type", "veth", "peer"] and w[6] == "name":
            rest = w[8:]
            pns = rest[1] if rest[:1] == ["netns"] and len(rest) == 2 else None
            if rest and pns is None:
                raise XdplabError(f"ip {cmd}: the lab understands 'link add A type veth peer name B [netns NS]'")
            return self.veth_add(w[2], w[7], peer_netns=pns, netns=ns)
        if w[:2] == ["link", "set"]:
            w = w[2:]
            if w[:1] == ["dev"]:
                w = w[1:]
            if len(w) >= 2:
                dev = self.dev(w[0], ns)
                if w[1:] == ["up"]:
                    return dev.up()
                if w[1:] == ["down"]:
                    return dev.down()
                if w[1] == "mtu" and len(w) == 3:
                    return dev.set_mtu(int(w[2]))
                if w[1:] == ["xdp", "off"]:
                    return dev.detach()
        raise XdplabError(f"ip {cmd}: not a command the lab models (netns add, link add ... type veth peer name "
                          f"..., link set [dev] NAME up|down|mtu N|xdp off)")

    def dev(self, name: str, netns=None) -> "NetDev":
        """The device ``name`` of namespace ``netns`` (None: the root namespace): ``b.dev("veth0")``,
        ``b.dev("veth1", "remote")``."""
        ns = self._netns(netns)
        row = self._dev_rows.get((ns, name))
        if row is None:
            elsewhere = [self._netns_names[k] for (k, n) in self._dev_rows if n == name and k != ns]
            if elsewhere:
                raise XdplabError(f"Device \"{name}\" does not exist in {self._netns_names[ns]}: it is in network "
                                  f"namespace {elsewhere[0]!r} (use Board.dev({name!r}, netns={elsewhere[0]!r}))")
            have = sorted(n for (k, n) in self._dev_rows if k == ns)
            raise XdplabError(f"Device \"{name}\" does not exist in {self._netns_names[ns]} (it has "
                              f"{', '.join(have)}; create a veth pair with Board.ip('link add ... type veth ...'))")
        return NetDev(self, row, name, ns)

    def devices(self) -> list:
        """Every device, root namespace first (`ip -all link`)."""
        return [NetDev(self, r, nm, ns) for (ns, nm), r in sorted(self._dev_rows.items(),
                                                                   key=lambda kv: (kv[0][0], self.s.nd[kv[1], ND_IFINDEX]))]

    def netdev_ifindexes(self, netns=0) -> set:
        """The ifindexes of namespace ``netns`` (what dev_get_by_index can find there)."""
        ns = self._netns(netns)
        return {int(self.s.nd[r, ND_IFINDEX]) for (n, _), r in self._dev_rows.items() if n == ns}

    def _bind_object(self, prog):
        """The board runs one eBPF object's programs (its VM state is the board's ``bpf``): a
        program for another device must come from the object already on the board, if any."""
        obj = getattr(prog, "object", None)
        cur = self.s.bpf
        in_use = self.bpf_prog is not None or any(
            int(self.s.nd[r, ND_PROG_KIND]) == PROG_BPF for r in self._dev_rows.values())
        if in_use and prog.state is not cur:
            raise XdplabError(f"{prog.name!r} comes from another eBPF object than the program(s) already on the "
                              f"board: the lab runs one object's programs per board (put them in one .c file, or "
                              f"detach the others first)")
        if obj is not None:
            import weakref
            obj._xdplab_board = weakref.ref(self)      # Map.update checks DEVMAP devices against it
        if prog.state is not cur:
            self._replace(bpf=prog.state)
        if self.mode == "jit" and self.s.r[L.R_BPF_INTERP_ADDR] == 0:
            from .bpf.vm import interp_entry_addr
            self.s.r[L.R_BPF_INTERP_ADDR] = interp_entry_addr()

    def tracepoints(self, name: str | None = None) -> list[dict]:
        """The recorded redirect tracepoints with the kernel's field names (``Board(trace=N)``):
        ``xdp:xdp_redirect``, ``xdp:xdp_redirect_err`` (prog_id, act, ifindex, err, to_ifindex,
        map_id, map_index), ``xdp:xdp_devmap_xmit`` (from_ifindex, to_ifindex, sent, drops, err),
        ``xdp:xdp_bulk_tx`` (ifindex, sent, drops, err), ``xdp:xdp_exception`` (act).  ``name`` picks
        one ("xdp:xdp_redirect_err" or "xdp_redirect_err").  ``prog_id`` is the receiving device's
        program as attached now (the lab does not record it per event)."""
        from .trace import trace_records
        fields = {"xdp_redirect": ("ifindex", "to_ifindex", "err", "map_id", "map_index"),
                  "xdp_redirect_err": ("ifindex", "to_ifindex", "err", "map_id", "map_index"),
                  "xdp_devmap_xmit": ("from_ifindex", "to_ifindex", "sent", "drops", "err"),
                  "xdp_bulk_tx": ("ifindex", "sent", "drops", "err"),
                  "xdp_exception": ("rx_desc", "page", "act")}
        want = None if name is None else name.split(":")[-1]
        out = []
        for rec in trace_records(self.trace):
            ev = rec["event"]
            if ev not in fields or (want is not None and ev != want):
                continue
            d = {"name": "xdp:" + ev, "t_ns": rec["t_ns"], "cpu": rec["cpu"]}
            d.update(zip(fields[ev], (rec[k] for k in "abcde")))
            if ev.startswith("xdp_redirect"):
                d["act"] = "XDP_REDIRECT"
                row = self._row_of_ifindex(d["ifindex"])
                d["prog_id"] = int(self.s.nd[row, ND_PROG_ID]) if row not in (None, L_ETH0_ROW) else int(
                    self.s.r[L.R_PROG_ID])
            out.append(d)
        return out

    def _row_of_ifindex(self, ifindex, ns=0):
        for (n, _), r in self._dev_rows.items():
            if n == ns and int(self.s.nd[r, ND_IFINDEX]) == ifindex:
                return r
        return None

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
        n = len(STACK_STAT_NAMES) - 1          # udp_reordered: flow_order()
        return dict(zip(STACK_STAT_NAMES[:n], (int(x) for x in self.s.r[L.R_STACK_STATS:L.R_STACK_STATS + n])))

    def flow_order(self) -> dict:
        """What the receiving socket saw of the generator's stamps (``Board.run(stamp=True)``): UDP
        frames delivered, and those that arrived after a later frame of their flow (reordered)."""
        st = self.s.r[L.R_STACK_STATS:L.R_STACK_STATS + len(STACK_STAT_NAMES)]
        return {"udp_delivered": int(st[STACK_STAT_NAMES.index("udp_delivered")]),
                "udp_reordered": int(st[STACK_STAT_NAMES.index("udp_reordered")])}

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
        # every holder of xdp_frames between polls reports its own (FRAME_HOLDERS)
        held = [f for holder in FRAME_HOLDERS for f in holder(s)]
        nfr = sum(1 + int(s.pg[f // 4096, PGF_FRAG_NR]) for f in held)
        if census["xdp_frame"] != nfr:
            problems.append(f"{census['xdp_frame']} pages marked xdp_frame but the CPUMAP's rings and bulk queues "
                            f"and the devices' bulk queues and veth rings hold {nfr}")
        if census["cpu"] or census["caller"]:
            problems.append(f"pages left in the driver's hands between polls: cpu={census['cpu']} "
                            f"caller={census['caller']}")
        if problems:
            raise AssertionError("page conservation violated:\n  " + "\n  ".join(problems))
        return census


class NetDev:
    """One net device of a board (``Board.dev(name, netns)``), driven like ``ip link`` / ``ethtool``.

    ``name``, ``ifindex``, ``netns`` (None: the root namespace), ``kind`` ("mvneta", "veth",
    "loopback"), ``is_up``, ``mtu``, ``peer`` (a veth's other end), ``has_ndo_xdp_xmit`` (can
    it be a redirect target), ``napi`` (a veth RX queue's NAPI exists: the device is up and
    has an XDP program or GRO), ``gro``, ``xdp_prog`` (name of the attached program);
    ``up()``, ``down()``, ``set_mtu(n)``, ``set_gro(on)`` (``ethtool -K dev gro on``),
    ``attach(prog)``, ``detach()``, ``ethtool()`` (``ethtool -S``), ``netdev_stats()``
    (``ip -s link``), ``ring_count`` (frames waiting in a veth's ptr_ring).  eth0's methods are
    the ``Board``'s own (``attach``, ``open``/``stop``, ``set_mtu`` ...)."""

    def __init__(self, board, row, name, netns):
        self._b = board
        self.row = row
        self.name = name
        self._ns = netns

    def __repr__(self):
        st = "UP" if self.is_up else "DOWN"
        peer = f"@{self.peer.name}" if self.peer is not None else ""
        return (f"<NetDev {self.ifindex}: {self.name}{peer} ({self.kind}, netns {self.netns or 'init_net'}) "
                f"mtu {self.mtu} {st}" + (f" xdp {self.xdp_prog}" if self.xdp_prog else "") + ">")

    def __eq__(self, other):
        return isinstance(other, NetDev) and other._b is self._b and other.row == self.row

    def __hash__(self):
        return hash((id(self._b), self.row))

    @property
    def _nd(self):
        return self._b.s.nd[self.row]

    @property
    def ifindex(self) -> int:
        return int(self._nd[ND_IFINDEX])

    @property
    def netns(self):
        return None if self._ns == 0 else self._b._netns_names[self._ns]

    @property
    def kind(self) -> str:
        return {ND_KIND_MVNETA: "mvneta", ND_KIND_VETH: "veth", ND_KIND_LOOPBACK: "loopback"}[int(self._nd[ND_KIND])]

    @property
    def is_up(self) -> bool:
        if self.kind == "mvneta":
            return bool(self._b.s.r[L.R_RUNNING])
        return bool(self._nd[ND_UP])

    @property
    def mtu(self) -> int:
        return int(self._b.s.r[L.R_MTU]) if self.kind == "mvneta" else int(self._nd[ND_MTU])

    @property
    def peer(self):
        p = int(self._nd[ND_PEER])
        if p < 0:
            return None
        for (ns, nm), r in self._b._dev_rows.items():
            if r == p:
                return NetDev(self._b, r, nm, ns)
        return None

    @property
    def has_ndo_xdp_xmit(self) -> bool:
        return self.kind in ("mvneta", "veth")

    @property
    def napi(self) -> bool:
        if self.kind == "mvneta":
            return self.is_up
        return bool(self._nd[ND_NAPI])

    @property
    def gro(self) -> bool:
        return True if self.kind == "mvneta" else bool(self._nd[ND_GRO])

    @property
    def ring_count(self) -> int:
        return int(self._nd[ND_RING_COUNT])

    @property
    def xdp_prog(self):
        if self.kind == "mvneta":
            return self._b.prog_name
        return getattr(self, "_prog_name", None) or self._b._dev_prog_names.get(self.row)

    def _veth_only(self, what):
        if self.kind != "veth":
            raise XdplabError(f"{what} on {self.name}: the lab models this for veth devices "
                              f"(eth0: use the Board's own methods)")

    def up(self):
        """ip link set dev NAME up (veth_open: the RX queue's NAPI if a program or GRO wants it)."""
        if self.kind == "mvneta":
            return self._b.open()
        self._nd[ND_UP] = 1
        self._b._call("veth_napi_update", self.row)

    def down(self):
        """ip link set dev NAME down (veth_close: NAPI off, frames left in the ring returned)."""
        if self.kind == "mvneta":
            self._b._call("mvneta_stop")
            return
        self._nd[ND_UP] = 0
        self._b._call("veth_napi_update", self.row)

    def set_mtu(self, mtu: int):
        """ip link set dev NAME mtu N."""
        if self.kind == "mvneta":
            return self._b.set_mtu(mtu)
        self._veth_only("set_mtu")
        if not 68 <= int(mtu) <= 65535:
            raise XdplabError(f"ip link set dev {self.name} mtu {mtu}: Error: mtu must be in [68, 65535]")
        self._nd[ND_MTU] = int(mtu)

    def set_gro(self, on: bool = True):
        """ethtool -K NAME gro on|off: a veth without XDP program gets its NAPI (and can receive
        redirected frames) only with GRO on."""
        self._veth_only("ethtool -K gro")
        self._nd[ND_GRO] = int(bool(on))
        self._b._call("veth_napi_update", self.row)

    def attach(self, prog, jit=None):
        """ip link set dev NAME xdp ...: a built-in name or a program of the board's eBPF object
        (veth_xdp_set).  A program without frags support is refused while the peer's MTU exceeds
        3504 (PAGE_SIZE - VETH_XDP_HEADROOM - skb_shared_info - the peer's 14-byte header: -ERANGE)."""
        if self.kind == "mvneta":
            return self._b.attach(prog, jit=jit)
        self._veth_only("attach")
        b = self._b
        if isinstance(prog, str):
            kind, pid, frags, name = PROG_BUILTIN, builtin_prog_id(prog), 0, prog
        elif hasattr(prog, "state") and hasattr(prog, "index"):
            kind, pid, frags, name = PROG_BPF, int(prog.index), int(bool(getattr(prog, "frags", False))), prog.name
            if jit is None:
                jit = jit_wanted(None)
            if hasattr(prog, "jit"):
                if jit and b.mode == "jit":
                    prog.jit()
                elif jit is False:
                    prog.interpret()
            b._bind_object(prog)
        else:
            raise TypeError(f"prog must be a built-in name ({', '.join(sorted(BUILTIN_PROGS))}) or a program "
                            f"from xdplab.bpf.load_object(), got {type(prog).__name__}")
        peer = self.peer
        if peer is not None and not frags and peer.mtu > 4096 - 258 - 320 - 14:
            raise XdplabError(f"ip link set dev {self.name} xdp: {strerror(-34)}: Peer MTU is too large to set "
                              f"XDP ({peer.name} has MTU {peer.mtu} > 3504; lower it, or use an xdp.frags program)")
        h = b._bpf_prog_get(prog)
        b._call("veth_xdp_set", self.row, h, kind, pid, frags, what=f"ip link set dev {self.name} xdp")
        b._dev_prog_names[self.row] = name

    def detach(self):
        """ip link set dev NAME xdp off."""
        if self.kind == "mvneta":
            return self._b.detach()
        self._veth_only("detach")
        self._b._call("veth_xdp_set", self.row, 0, PROG_NONE, 0, 0)
        self._b._dev_prog_names.pop(self.row, None)

    def inject(self, packets: int = 1000, size=64, rate=None, kind: str = "udp", flows: int = 1,
               max_sends: int | None = None) -> "RunResult":
        """Send traffic INTO this veth from its namespace's stack, as the talk's test recipe does
        ("inject into veth1"): a sender on CPU 0 (an AF_PACKET socket's ``packet_snd``: an skb with
        a kmalloc'ed head, ``dev_queue_xmit``) hands each frame to ``veth_xmit``; the frame crosses to
        the peer (its ptr_ring and NAPI when the peer has an XDP program, else its stack) and the
        peer's program runs on it (``veth_xdp_rcv_skb``, after the copy 6.1 makes of such an skb).

        ``packets``, ``size`` (bytes with the 4-byte FCS, which a software sender does not send:
        ``size - 4`` bytes go out), ``kind`` and ``flows`` as ``Board.run`` (the same generator,
        ``xdplab.traffic``); ``rate`` in frames/s, or None: back to back, as fast as CPU 0 sends.
        Returns a ``RunResult`` like ``Board.run`` (eth0's counters, ``devices``: every device's
        ``ethtool -S`` and ``ip -s link`` over the run) plus ``injected`` (frames sent) and
        ``inject_errors`` (sends without a page or skb for the frame: -ENOBUFS).  The sender's frames
        do not pass eth0's MAC (its wire is idle during ``inject``); eth0 takes its TX-completion
        interrupts.  Not run during ``inject``: CPUMAP kthreads (frames a program redirects into a
        CPUMAP wait in its ring until the next ``Board.run``)."""
        b = self._b
        where = f"{'ip -n ' + self.netns + ' ' if self.netns else ''}link set {self.name} up"
        if self.kind != "veth":
            raise XdplabError(f"inject into {self.name}: the lab sends into veth devices only ({self.name} is "
                              f"{self.kind}; eth0's traffic comes from the wire: Board.run())")
        if not self.is_up:
            raise XdplabError(f"inject into {self.name}: the device is down (packet_snd: {strerror(-100)}); "
                              f"bring it up first: Board.ip({where!r})")
        sizes = size if isinstance(size, (list, tuple, np.ndarray)) else [size]
        mx = max(int(x) for x in sizes) - 4
        if mx > self.mtu + 14:
            raise XdplabError(f"inject into {self.name}: a {mx + 4}-byte frame is {mx} bytes without FCS, more "
                              f"than MTU {self.mtu} + 14 ({strerror(-90)}); raise the MTU "
                              f"(NetDev.set_mtu) or send smaller frames")
        from .nic.veth import VETH_MAX_HEAD_SIZE
        if mx > VETH_MAX_HEAD_SIZE:
            raise XdplabError(f"inject into {self.name}: frames above {VETH_MAX_HEAD_SIZE + 4} bytes would need "
                              f"veth_convert_skb_to_xdp_buff's copy into frag pages, which the lab does not model; "
                              f"send frames of at most {VETH_MAX_HEAD_SIZE + 4} bytes")
        start = max(b.clock_fx(0), b.clock_fx(1)) * L.CLOCK_UNIT_NS
        arr, tmpl, frames, flen = make_traffic(packets, size=size, rate="line" if rate is None else rate,
                                               kind=kind, flows=flows, seed=b.seed, start_ns=start)
        if rate is None:
            arr[:] = start                      # back to back: each send as soon as the CPU is free
        b._set_wire(arr, tmpl, frames, flen)
        b.s.r[L.R_WIRE_NEXT] = len(arr)         # eth0's MAC receives none of it
        b.s.r[L.R_INJ_NEXT] = 0
        b.s.r[L.R_WIRE_SEQ_OFF] = 0
        errs0 = int(b.s.r[L.R_INJ_ERRS])
        before = b.counters()
        dev_before = b._dev_counters()
        t0 = time.perf_counter()
        sends = b._call("sim_inject", self.row, int(max_sends) if max_sends is not None else 1 << 62)
        wall = time.perf_counter() - t0
        b._raise_bpf_fault()
        after = b.counters()
        res = b._result(before, after, packets, arr, wall, sends)
        dev_after = b._dev_counters()
        res["devices"] = {name: {sec: {k: v - dev_before[name][sec].get(k, 0) for k, v in vals.items()
                                       if isinstance(v, int) and k != "peer_ifindex"}
                                 for sec, vals in dev_after[name].items()}
                          for name in dev_after}
        res["injected"] = int(sends) - (int(b.s.r[L.R_INJ_ERRS]) - errs0)
        res["inject_errors"] = int(b.s.r[L.R_INJ_ERRS]) - errs0
        sim_s = res["sim_seconds"]
        res["sim_pps"] = res["injected"] / sim_s if sim_s > 0 else 0.0
        return res

    def ethtool(self) -> dict:
        """ethtool -S NAME (veth_get_ethtool_stats, 6.1: peer_ifindex, rx_queue_0_*, tx_queue_0_*,
        the latter the peer RX queue's peer_tq_* counters)."""
        if self.kind == "mvneta":
            return self._b.ethtool()
        if self.kind != "veth":
            return {}
        nd = self._b.s.nd
        r = self.row
        p = int(nd[r, ND_PEER])
        out = {"peer_ifindex": int(nd[p, ND_IFINDEX]) if p >= 0 else 0}
        base = ND_NAMES.index("rq_xdp_packets")
        for i, k in enumerate(VETH_RQ_STATS):
            out[f"rx_queue_0_{k}"] = int(nd[r, base + i])
        for i, k in enumerate(VETH_TQ_STATS):
            out[f"tx_queue_0_{k}"] = int(nd[p, base + 7 + i]) if p >= 0 else 0
        return out

    def netdev_stats(self) -> dict:
        """ip -s link show NAME (veth_get_stats64, 6.1: this end's RX queue and the peer's)."""
        if self.kind == "mvneta":
            return self._b.netdev_stats()
        nd = self._b.s.nd
        r = self.row
        z = dict.fromkeys(("rx_packets", "rx_bytes", "rx_errors", "rx_dropped", "tx_packets", "tx_bytes",
                           "tx_dropped"), 0)
        if self.kind != "veth":
            return z
        g = lambda row, n: int(nd[row, ND_NAMES.index(n)])   # noqa: E731
        z["tx_dropped"] = g(r, "dropped") + g(r, "rq_xdp_tx_err")
        z["tx_packets"], z["tx_bytes"] = g(r, "lstats_packets"), g(r, "lstats_bytes")
        # + dev_get_stats' core_stats (rx_dropped: __dev_forward_skb refused an skb for this device)
        z["rx_dropped"] = g(r, "rq_rx_drops") + g(r, "rq_peer_tq_xdp_xmit_err") + g(r, "core_rx_dropped")
        z["rx_bytes"], z["rx_packets"] = g(r, "rq_xdp_bytes"), g(r, "rq_xdp_packets")
        p = int(nd[r, ND_PEER])
        if p >= 0:
            z["rx_bytes"] += g(p, "lstats_bytes")
            z["rx_packets"] += g(p, "lstats_packets")
            z["tx_dropped"] += g(p, "rq_peer_tq_xdp_xmit_err")
            z["rx_dropped"] += g(p, "rq_xdp_tx_err")
            z["tx_bytes"] += g(p, "rq_xdp_bytes")
            z["tx_packets"] += g(p, "rq_xdp_packets")
        return z
