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

import numpy as np

from . import sanitizer as _san
from . import sim as _sim  # noqa: F401  (registers sim_run)
from ._twospeed import JIT, PythonKernel
from .boards import ESPRESSOBIN
from .cost import OPS, Cpu, create_cpu
from .errno import strerror
from .mm import PG_ALLOC_CACHE, PG_FREE, PG_NAMES, PG_PTR_RING, PG_RX_RING, Mem, create_mem
from .netstack import STACK_STAT_NAMES, Stack, create_stack
from .nic.mvneta import (DMA_SYNC_FULL_AT_REFILL, DMA_SYNC_PAGE_POOL, MVNETA_MAX_RXD, MVNETA_MAX_TXD, Port, RxQueue,
                         TxQueue, VERDICT_INVALID, create_port, create_rxq, create_txq)
from .nic.mvneta_hw import Wire, create_wire
from .nic.mvneta_stats import ETHTOOL_STATS, NETDEV_STATS, NSTATS, STAT_NAMES
from .page_pool import PP_ALIVE, PP_DESTROYING, PP_ETHTOOL_NAMES, PP_STAT_NAMES, PagePools, create_page_pools
from .printk import Log, create_log, format_log
from .progs import BUILTIN_PROGS, PROG_BPF, PROG_BUILTIN, PROG_NONE, builtin_prog_id
from .sanitizer import San, create_san
from .trace import Trace, create_trace
from .traffic import make_traffic
from .xdp import MemIds, create_mem_ids, create_xdp_buff, create_xdp_rxq_info
from .xdp_abi import ENV_SIZE, MAX_SKB_FRAGS, XDP_ACTION_NAMES

__all__ = ["BoardState", "FragTab", "create_board_state", "Board", "RunResult", "XdplabError"]


class XdplabError(RuntimeError):
    """An operation the kernel would refuse; the message says why and what to do."""


class FragTab(NamedTuple):
    """skb_shared_info frags of frames and skbs, keyed by head page (the kernel keeps them in its tailroom)."""
    nr: np.ndarray     # int64[npages]
    page: np.ndarray   # int64[npages, MAX_SKB_FRAGS]
    off: np.ndarray
    size: np.ndarray


class BoardState(NamedTuple):
    mem: Mem
    pools: PagePools
    mem_ids: MemIds
    xdp_rxq: np.ndarray     # int64[1, 7]: struct xdp_rxq_info of rxq 0
    rxq: RxQueue
    txq: TxQueue
    port: Port
    stats: np.ndarray       # int64[NSTATS]: netdev + ethtool counters
    stack: Stack
    cpu: Cpu
    trace: Trace
    san: San
    log: Log
    wire: Wire
    xdp: np.ndarray         # int64[XB_SIZE]: the poll's struct xdp_buff
    frag_tab: FragTab
    env: np.ndarray         # int64[ENV_SIZE]: program run environment (eBPF VM)


def _empty_wire():
    return create_wire(np.zeros(0), np.zeros(0, np.int64), np.zeros((1, 64), np.uint8), np.array([64]))


def create_board_state(npages: int = 4096, trace: int = 0, rx_ring: int = MVNETA_MAX_RXD,
                       tx_ring: int = MVNETA_MAX_TXD, profile=ESPRESSOBIN, mtu: int = 1500) -> BoardState:
    """Every piece of state of a fresh board, port down."""
    if not 64 <= rx_ring <= 4096:
        raise ValueError(f"rx_ring must be in [64, 4096] (mvneta's default is 512), got {rx_ring}")
    if not 64 <= tx_ring <= 4096:
        raise ValueError(f"tx_ring must be in [64, 4096] (mvneta's default is 1024), got {tx_ring}")
    mem = create_mem(npages)
    n = mem.data.shape[0]
    return BoardState(
        mem=mem, pools=create_page_pools(ring_max=max(2048, rx_ring)), mem_ids=create_mem_ids(),
        xdp_rxq=create_xdp_rxq_info(1), rxq=create_rxq(rx_ring), txq=create_txq(tx_ring),
        port=create_port(mtu=mtu), stats=np.zeros(NSTATS, np.int64), stack=create_stack(),
        cpu=create_cpu(profile["cost"], profile["hz"], profile["ncpu"]), trace=create_trace(trace),
        san=create_san(), log=create_log(), wire=_empty_wire(), xdp=create_xdp_buff(),
        frag_tab=FragTab(nr=np.zeros(n, np.int64), page=np.zeros((n, MAX_SKB_FRAGS), np.int64),
                         off=np.zeros((n, MAX_SKB_FRAGS), np.int64), size=np.zeros((n, MAX_SKB_FRAGS), np.int64)),
        env=np.zeros(ENV_SIZE, np.int64))


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
    """

    def __init__(self, prog=None, *, mode: str = "jit", trace: int = 0, npages: int = 4096,
                 rx_ring: int = MVNETA_MAX_RXD, tx_ring: int = MVNETA_MAX_TXD, mtu: int = 1500,
                 tc_drop: bool = False, dma_sync: str = "page_pool", overrides: dict | None = None,
                 seed: int = 0, profile=ESPRESSOBIN):
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
        self.s.port.dma_sync_mode[0] = DMA_SYNC_FULL_AT_REFILL if dma_sync == "full" else DMA_SYNC_PAGE_POOL
        self.s.stack.tc_drop[0] = int(bool(tc_drop))
        self.prog_name = None
        self.bpf_prog = None
        self._call("mvneta_open", what="ip link set dev eth0 up")
        if prog is not None:
            self.attach(prog)

    # ------------------------------------------------------------ calling kernels
    def _call(self, name, *args, what=None):
        fn = getattr(self.k, name)
        ret = fn(self.s, *args)
        _san.san_raise_pending(self.s.san)
        if what is not None and isinstance(ret, (int, np.integer)) and ret < 0:
            raise XdplabError(f"{what}: {name}() returned {strerror(ret)}")
        return ret

    @property
    def state(self) -> BoardState:
        return self.s

    @property
    def trace(self) -> Trace:
        return self.s.trace

    # ------------------------------------------------------------ program attach
    def attach(self, prog):
        """ip link set dev eth0 xdp ...: attach a program (mvneta_xdp_setup)."""
        if isinstance(prog, str):
            kind, pid, frags, name = PROG_BUILTIN, builtin_prog_id(prog), 0, prog
            self.bpf_prog = None
        elif hasattr(prog, "state") and hasattr(prog, "index"):
            kind, pid, frags, name = PROG_BPF, int(prog.index), int(bool(getattr(prog, "frags", False))), prog.name
            self.bpf_prog = prog
            raise XdplabError("eBPF programs on the board need xdplab.bpf (issue 3), not wired in yet")
        else:
            raise TypeError(f"prog must be a built-in name ({', '.join(sorted(BUILTIN_PROGS))}) or a program "
                            f"from xdplab.bpf.load_object(), got {type(prog).__name__}")
        ret = self._call("mvneta_xdp_setup", kind, pid, frags)
        if ret < 0:
            raise XdplabError(
                f"mvneta_xdp_setup: {strerror(ret)}: prog does not support XDP frags and MTU "
                f"{int(self.s.port.mtu[0])} > 3520 (MVNETA_MAX_RX_BUF_SIZE); lower the MTU or use an "
                f"xdp.frags program" if ret == -95 else f"mvneta_xdp_setup: {strerror(ret)}")
        self.prog_name = name

    def detach(self):
        """ip link set dev eth0 xdp off."""
        self._call("mvneta_xdp_setup", PROG_NONE, 0, 0, what="ip link set dev eth0 xdp off")
        self.prog_name = None
        self.bpf_prog = None

    def set_mtu(self, mtu: int):
        ret = self._call("mvneta_change_mtu", int(mtu))
        if ret < 0:
            raise XdplabError(f"ip link set dev eth0 mtu {mtu}: {strerror(ret)}"
                              + (": the attached XDP program does not support frags (MTU > 3520)"
                                 if self.s.port.prog_kind[0] else ": MTU must be in [68, 9676]"))

    def stop(self):
        """ip link set dev eth0 down (mvneta_stop): every page back, the pool destroyed."""
        self._call("mvneta_stop")

    def open(self):
        """ip link set dev eth0 up (mvneta_open)."""
        self._call("mvneta_open", what="ip link set dev eth0 up")

    # ------------------------------------------------------------ traffic
    def run(self, packets: int = 10000, size: int = 64, rate="line", kind: str | None = None,
            flows: int = 1, max_polls: int | None = None) -> RunResult:
        """Send ``packets`` frames of ``size`` bytes at ``rate`` (pps or "line") and run until handled."""
        if not self.s.port.running[0]:
            raise XdplabError("eth0 is down: call Board.open() first")
        if kind is None:
            kind = "ssh" if self.prog_name == "ssh-mirror" else "udp"
        start = float(self.s.cpu.now_ns.max())
        arr, tmpl, frames, flen = make_traffic(packets, size=size, rate=rate, kind=kind, flows=flows,
                                               seed=self.seed, start_ns=start)
        if size + 2 > 3520 and self.s.port.mtu[0] <= 3520:
            pass  # the NIC still receives it (oversize frames are split over descriptors)
        self.s = self.s._replace(wire=create_wire(arr, tmpl, frames, flen))
        before = self.counters()
        t0 = time.perf_counter()
        polls = self._call("sim_run", int(max_polls) if max_polls is not None else 1 << 62)
        wall = time.perf_counter() - t0
        after = self.counters()
        return self._result(before, after, packets, arr, wall, polls)

    def counters(self) -> dict:
        s = self.s
        return {"stats": s.stats.copy(), "verdicts": s.port.verdicts.copy(), "t": float(s.cpu.now_ns[0]),
                "pp": self._pp_stats_array().copy(), "busy": float(s.cpu.busy_ns[0])}

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
        # page_pool_get_stats summed over the queue's pools (live and destroyed ones keep counting)
        return self.s.pools.stats.sum(axis=0)

    def ethtool(self) -> dict:
        """ethtool -S eth0."""
        out = {k: int(self.s.stats[i]) for i, k in enumerate(STAT_NAMES) if k in ETHTOOL_STATS}
        out.update(zip(PP_ETHTOOL_NAMES, (int(x) for x in self._pp_stats_array())))
        return out

    def netdev_stats(self) -> dict:
        """ip -s link show eth0."""
        return {k: int(self.s.stats[i]) for i, k in enumerate(STAT_NAMES) if k in NETDEV_STATS}

    def page_pool_stats(self, pool: int | None = None) -> dict:
        """struct page_pool_stats of the RX queue's pool (or a given pool slot)."""
        p = int(self.s.rxq.pool[0]) if pool is None else int(pool)
        if p < 0:
            return dict(zip(PP_STAT_NAMES, (int(x) for x in self._pp_stats_array())))
        return dict(zip(PP_STAT_NAMES, (int(x) for x in self.s.pools.stats[p])))

    def verdicts(self) -> dict:
        v = self.s.port.verdicts
        out = {XDP_ACTION_NAMES[i]: int(v[i]) for i in range(5)}
        out["invalid"] = int(v[VERDICT_INVALID])
        return out

    def stack_stats(self) -> dict:
        return dict(zip(STACK_STAT_NAMES, (int(x) for x in self.s.stack.stat)))

    def dmesg(self) -> list[str]:
        return format_log(self.s.log, self.prog_name or "xdp")

    def sanitizer_reports(self) -> list[str]:
        san = self.s.san
        return [_san.san_message(*san.rep[i]) for i in range(min(int(san.n[0]), san.rep.shape[0]))]

    def cost_breakdown(self, per_packet: bool = True) -> list[tuple[str, float, int]]:
        """(operation, cycles [per received packet], count) sorted by cycles, for CPU 0's work."""
        c = self.s.cpu
        rx = max(int(self.s.stats[STAT_NAMES.index("rx_packets")]), 1) if per_packet else 1
        rows = [(OPS[i][0], float(c.op_cycles[i]) / rx, int(c.op_count[i])) for i in range(len(OPS))
                if c.op_count[i]]
        return sorted(rows, key=lambda r: -r[1])

    def page_census(self) -> dict:
        """How many pages are where (PG_*), for the conservation invariant."""
        w = self.s.mem.where
        return {PG_NAMES[i]: int((w == i).sum()) for i in range(len(PG_NAMES))}

    def check_pages(self):
        """Assert every page is in exactly one place and each place's count agrees with its structure."""
        s = self.s
        m = s.mem
        census = self.page_census()
        problems = []
        if census["free"] != int(m.nr_free[0]):
            problems.append(f"{census['free']} pages marked free but the allocator holds {int(m.nr_free[0])}")
        free = set(m.free_list[: int(m.nr_free[0])].tolist())
        if len(free) != int(m.nr_free[0]):
            problems.append("a page is on the allocator's free list twice")
        if any(m.where[p] != PG_FREE or m.refcnt[p] != 0 for p in free):
            problems.append("a page on the free list is in use or has a refcount")
        ring = {int(s.rxq.buf_virt_addr[i]) for i in range(int(s.rxq.size[0])) if s.rxq.buf_phys_addr[i] != 0}
        if census["rx_ring"] != len(ring) or any(m.where[p] != PG_RX_RING for p in ring):
            problems.append(f"{census['rx_ring']} pages marked rx_ring but {len(ring)} descriptors hold a buffer")
        pools = s.pools
        live = [p for p in range(len(pools.state)) if pools.state[p] in (PP_ALIVE, PP_DESTROYING)]
        cache = sum(int(pools.alloc_count[p]) for p in live)
        ringc = sum(int(pools.ring_count[p]) for p in live)
        if census["alloc_cache"] != cache:
            problems.append(f"{census['alloc_cache']} pages marked alloc_cache, caches hold {cache}")
        if census["ptr_ring"] != ringc:
            problems.append(f"{census['ptr_ring']} pages marked ptr_ring, rings hold {ringc}")
        inflight = sum(int(pools.hold_cnt[p] - pools.release_cnt[p]) for p in live)
        owned = int((m.pp >= 0).sum())
        if owned != inflight:
            problems.append(f"{owned} pages carry page->pp but the pools count {inflight} in flight")
        if census["cpu"] or census["caller"]:
            problems.append(f"pages left in the driver's hands between polls: cpu={census['cpu']} "
                            f"caller={census['caller']}")
        if problems:
            raise AssertionError("page conservation violated:\n  " + "\n  ".join(problems))
        return census
