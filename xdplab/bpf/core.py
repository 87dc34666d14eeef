"""BpfObject / BpfProgram (what libbpf's bpf_object / bpf_program are to user space)
and test_run (BPF_PROG_TEST_RUN for XDP, net/bpf/test_run.c)."""

from __future__ import annotations

import os
import time
from typing import NamedTuple

import numpy as np

from ..xdp_abi import (ENV_CPU, ENV_ERR, ENV_HELPER_CALLS, ENV_INSN_BUDGET, ENV_INSNS, ENV_NOW_NS, ENV_PRANDOM,
                       ENV_RI_MAP_ID, ENV_RI_TGT_VALUE, ENV_SIZE, MAX_SKB_FRAGS, PAGE_SIZE,
                       SKB_SHARED_INFO_SIZE, XB_DATA, XB_DATA_END, XB_DATA_META, XB_FLAGS, XB_FRAG0,
                       XB_FRAG_STRIDE, XB_FRAGS_SIZE, XB_FRAGS_TRUESIZE, XB_FRAME_SZ, XB_HARD_START,
                       XB_INGRESS_IFINDEX, XB_MEM_TYPE, XB_NR_FRAGS, XB_PAGE, XB_RX_QUEUE_INDEX, XB_SIZE,
                       XDP_FLAGS_HAS_FRAGS, XDP_PACKET_HEADROOM, MEM_TYPE_PAGE_ORDER0, ETH_HLEN)
from .faults import format_fault
from .insn import disasm_one
from .loader import BpfLoadError, decode_programs, read_object
from .maps import Map
from .printk import read_trace_pipe
from .state import MAP_VBASE, PR_JIT, create_bpf_state, to_bpf_ref

__all__ = ["BpfObject", "BpfProgram", "load_object", "load_insns", "test_run", "TestRunResult", "create_env",
           "create_test_xdp"]


class BpfProgram:
    """One program of a loaded object.  ``state``/``index`` are what the simulator's
    NAPI loop passes to ``bpf_prog_run_xdp(state, index, mem, xdp, env)``."""

    def __init__(self, obj, index, d):
        self.object = obj
        self.index = index
        self.name = d.name
        self.section = d.section
        self.frags = d.frags
        self.attach = d.attach
        self.insns = d.insns
        self.line_info = d.line_info
        self.jit_error = ""
        self.load_error = d.error           # '' or why this program does not load (xdplab/bpf/README.md)
        self._verifier_error = getattr(d, "verifier_error", None)
        self.core_poison = d.core_poison    # insn -> why its CO-RE relocation failed (reached: a fault)

    def check_loaded(self):
        """Raise BpfLoadError (naming this program and the missing piece) if it did not load."""
        if self._verifier_error is not None:
            raise self._verifier_error
        if self.load_error:
            raise BpfLoadError(f"{os.path.basename(self.object.path)}: {self.load_error}")

    @property
    def state(self):
        return self.object.state

    @property
    def jited(self) -> bool:
        """True once ``jit()`` translated this program to native code (xdplab.bpf.jit)."""
        return int(self.state.progs[self.index, PR_JIT]) != 0

    def jit(self, wait: bool = True) -> bool:
        """Translate the program to native code (xdplab.bpf.jit): same results, counts and
        simulated clock, several times faster.  Runs that take ``object.vm_state`` (the board,
        ``test_run``) use it from then on.  Returns False, with the reason in ``jit_error``, for a
        program that stays interpreted.

        ``wait=False`` starts the translation in a background thread and returns at once
        (True): the program runs in the interpreter until the translation is ready, and its
        runs switch to it then (``state.progs[i, PR_JIT]``, which every run reads first: a switch
        between two packets, never inside one).  ``Board.attach`` does that for a program it is
        not told to translate or not, so a new program never waits for its translation; the
        LLVM work releases the GIL, so it goes on beside the simulator.  ``jit_wait()`` waits for
        it."""
        from .jit import JitUnsupported, bpf_prog_jit
        if self.load_error:
            self.jit_error = self.load_error
            return False
        self._jit_cancel = False
        if self.jited:
            return True
        if not wait:
            t = getattr(self, "_jit_thread", None)
            if t is None or not t.is_alive():
                import threading
                t = threading.Thread(target=self._jit_background, name=f"bpf-jit {self.name}", daemon=True)
                self._jit_thread = t
                t.start()
            return True
        self.jit_wait()
        if self.jited:
            return True
        try:
            bpf_prog_jit(self.state, self.index)
        except JitUnsupported as e:
            self.jit_error = f"{self.name}: not translated ({e}); it runs in the interpreter"
            return False
        return True

    def _jit_background(self):
        from .jit import JitUnsupported, bpf_prog_jit
        try:
            addr = bpf_prog_jit(self.state, self.index, switch=False)
        except JitUnsupported as e:
            self.jit_error = f"{self.name}: not translated ({e}); it runs in the interpreter"
            return
        if not self._jit_cancel:            # (interpret() since: it stays interpreted)
            self.state.progs[self.index, PR_JIT] = addr

    def jit_wait(self, timeout: float | None = None) -> bool:
        """Wait for a translation started by ``jit(wait=False)``; True once the program runs translated."""
        t = getattr(self, "_jit_thread", None)
        if t is not None:
            t.join(timeout)
        return self.jited

    def interpret(self):
        """Run this program in the interpreter again (its translation stays cached: ``jit()``
        switches back at no cost; a translation under way in the background is not switched to)."""
        self._jit_cancel = True
        self.state.progs[self.index, PR_JIT] = 0

    def __repr__(self):
        return (f"<BpfProgram {self.name!r} section {self.section!r}{' frags' if self.frags else ''} "
                f"{len(self.insns)} insns>")

    def source_line(self, i: int) -> str:
        """'; <C source> @ file:line' for instruction i (verifier-log style), '' without -g."""
        best = None
        for rec in self.line_info:
            if rec[0] <= i:
                best = rec
            else:
                break
        if best is None or not best[4]:
            return ""
        return f"; {best[4].strip()} @ {os.path.basename(best[1])}:{best[2]}"

    def disasm(self, source: bool = True) -> str:
        """The program as `bpftool prog dump xlated` would list it."""
        from .faults import _hname
        lines = []
        starts = {rec[0]: rec for rec in self.line_info}
        raw = self.insns
        i = 0
        while i < len(raw):
            if source and i in starts and starts[i][4]:
                lines.append(f"; {starts[i][4].strip()}")
            lines.append(f"{i:4d}: ({int(raw[i]) & 0xFF:02x}) {disasm_one(raw, i, _hname)}")
            i += 2 if (int(raw[i]) & 0xFF) == 0x18 else 1
        return "\n".join(lines)

    def test_run(self, packet, repeat=1, **kw):
        return test_run(self, packet, repeat=repeat, **kw)

    def format_fault(self, env) -> str:
        return format_fault(self, env)


class BpfObject:
    """A loaded object: programs, maps (global data included), license."""

    def __init__(self, elfobj, verify: bool = True):
        self.path = elfobj.path
        self.license = elfobj.license
        self._mapdefs = elfobj.maps
        self.core_relos = elfobj.core_relos       # the CO-RE relocations applied (xdplab.bpf.relo_core)
        code, starts, lens = decode_programs(elfobj.progs, elfobj.maps, verify=verify)
        if elfobj.progs and all(p.error for p in elfobj.progs):
            if len(elfobj.progs) == 1 and elfobj.progs[0].verifier_error is not None:
                raise elfobj.progs[0].verifier_error
            raise BpfLoadError(f"{os.path.basename(self.path)}: " + "\n".join(p.error for p in elfobj.progs))
        self.state = create_bpf_state(code, starts, lens, [int(p.frags) for p in elfobj.progs], elfobj.maps)
        self.programs = {}
        self._progs = []
        for i, d in enumerate(elfobj.progs):
            p = BpfProgram(self, i, d)
            if d.name in self.programs:
                raise BpfLoadError(f"{os.path.basename(self.path)}: two programs named {d.name!r}")
            self.programs[d.name] = p
            self._progs.append(p)
        self.maps = {}
        for i, d in enumerate(elfobj.maps):
            self.maps[d.name] = Map(self, i, d.name, d)
        self._vm_state = None
        from .fib import Fib
        self.fib = Fib(self.state)                   # bpf_fib_lookup's routes / neighbours / devices
        for i, d in enumerate(elfobj.maps):          # map-in-map slots set in the object (libbpf does it)
            for slot, tgt in sorted(getattr(d, "static_values", {}).items()):
                self._mapdefs[i].static_values = d.static_values
                self.maps[d.name].update(slot, self._map_by_index(tgt))

    @property
    def vm_state(self):
        """The state as one struct (a BpfStateRef over the same arrays): what the board's VM
        takes, and the only form in which runs use programs translated by ``jit()``."""
        if self._vm_state is None:
            self._vm_state = to_bpf_ref(self.state)
        return self._vm_state

    def __repr__(self):
        return (f"<BpfObject {os.path.basename(self.path)!r} programs {list(self.programs)} maps "
                f"{list(self.maps)} license {self.license!r}>")

    def __getitem__(self, name) -> BpfProgram:
        return self.program(name)

    def program(self, name: str | None = None) -> BpfProgram:
        """A program by function name or section name; the only one if name is None."""
        if name is None:
            if len(self._progs) == 1:
                return self._progs[0]
            raise KeyError(f"{os.path.basename(self.path)} has {len(self._progs)} programs; pick one of "
                           f"{self.describe_programs()}")
        if name in self.programs:
            self.programs[name].check_loaded()
            return self.programs[name]
        hits = [p for p in self._progs if p.section == name]
        if len(hits) == 1:
            hits[0].check_loaded()
            return hits[0]
        raise KeyError(f"no program or section {name!r} in {os.path.basename(self.path)}; available: "
                       f"{self.describe_programs()}")

    def describe_programs(self) -> str:
        return ", ".join(f"{p.name} (section {p.section}{', not loaded' if p.load_error else ''})"
                         for p in self._progs)

    @property
    def load_errors(self) -> dict:
        """{program name: why it did not load} for the programs xdplab refused (the others run)."""
        return {p.name: p.load_error for p in self._progs if p.load_error}

    def map_name(self, m: int) -> str:
        return self._mapdefs[m].name if 0 <= m < len(self._mapdefs) else f"#{m}"

    def _map_by_index(self, i):
        for mp in self.maps.values():
            if mp.index == i:
                return mp
        return i

    def _inner_mismatch(self, outer: int, inner: int) -> str:
        """Why map ``inner`` cannot go into map-in-map ``outer`` (bpf_map_meta_equal), or ''."""
        t, d = self._mapdefs[outer].inner, self._mapdefs[inner]
        for what, a, b in (("type", t.type, d.type), ("key_size", t.key_size, d.key_size),
                           ("value_size", t.value_size, d.value_size), ("max_entries", t.max_entries, d.max_entries),
                           ("map_flags", t.map_flags, d.map_flags)):
            if a != b:
                return f"{what} {b} != {a}"
        return ""

    def _prog_by_index(self, i):
        return self._progs[i] if 0 <= i < len(self._progs) else i

    # ------------------------------------------------------------ global variables
    def _global(self, name):
        for d in self._mapdefs:
            if name in d.variables:
                return d, d.variables[name]
        raise KeyError(f"no global variable {name!r}; globals: "
                       f"{', '.join(v for d in self._mapdefs for v in d.variables) or '(none)'}")

    def get_global(self, name: str, as_int: bool = True):
        d, (off, size) = self._global(name)
        m = self._mapdefs.index(d)
        base = int(self.state.maps[m, MAP_VBASE]) + off
        b = bytes(self.state.umem[base: base + size])
        return int.from_bytes(b, "little") if as_int else b

    def set_global(self, name: str, value):
        """Set a global (``const volatile`` in .rodata too, as libbpf's skeleton allows before load)."""
        d, (off, size) = self._global(name)
        m = self._mapdefs.index(d)
        b = value if isinstance(value, (bytes, bytearray)) else int(value).to_bytes(size, "little",
                                                                                  signed=int(value) < 0)
        if len(b) != size:
            raise ValueError(f"global {name!r} is {size} bytes, got {len(b)}")
        base = int(self.state.maps[m, MAP_VBASE]) + off
        self.state.umem[base: base + size] = np.frombuffer(bytes(b), dtype=np.uint8)

    def trace_pipe(self, consume: bool = True) -> list[str]:
        """Lines bpf_trace_printk() wrote (like `cat /sys/kernel/tracing/trace_pipe`)."""
        return read_trace_pipe(self.state, consume=consume)


def load_insns(insns, name: str = "prog", maps=(), section: str = "xdp", license: str = "GPL",
               verify: bool = True) -> BpfObject:
    """An object from raw instructions (uint64 each, or 8-byte records as bytes), like
    BPF_PROG_LOAD of a hand-written program.  ``maps`` are MapDef-like dicts
    (type, key_size, value_size, max_entries); LD_IMM64 with src=1 refers to them by index."""
    from .loader import ElfObject, MapDef, ProgDef, _check_map_memory, _make_map, section_frags
    if isinstance(insns, (bytes, bytearray)):
        if len(insns) % 8:
            raise BpfLoadError(f"program '{name}': {len(insns)} bytes is not a whole number of instructions")
        raw = np.frombuffer(bytes(insns), dtype="<u8").astype(np.uint64)
    else:
        raw = np.array([int(v) & 0xFFFFFFFFFFFFFFFF for v in insns], dtype=np.uint64)
    mds = []
    for i, m in enumerate(maps):
        m = dict(m)
        mds.append(_make_map("<insns>", m.get("name", f"map{i}"), m["type"], m["key_size"], m["value_size"],
                             m["max_entries"], m.get("map_flags", 0), ".maps"))
    _check_map_memory("<insns>", mds)
    frags, attach = section_frags(section)
    pd = ProgDef(name=name, section=section, insns=raw, frags=frags, attach=attach)
    return BpfObject(ElfObject(path=f"<{name}>", license=license, maps=mds, progs=[pd]), verify=verify)


def load_object(path, verify: bool = True) -> BpfObject:
    """bpf_object__open + load: parse, relocate, decode and validate ``path`` (a clang
    -target bpf object, or its bytes).  Raises BpfLoadError with the reason and fix; a
    program the kernel's verifier rejects raises its subclass BpfVerifierError with the
    verifier's message (``verify=False`` skips that walk, e.g. to load such a program into
    the kernel oracle and see its own log)."""
    return BpfObject(read_object(path), verify=verify)


# ------------------------------------------------------------------------------ test run
def create_env(cpu=0, now_ns=0, seed=0x5EED, budget=0) -> np.ndarray:
    env = np.zeros(ENV_SIZE, dtype=np.int64)
    env[ENV_CPU] = cpu
    env[ENV_NOW_NS] = now_ns
    env[ENV_PRANDOM] = seed
    env[ENV_INSN_BUDGET] = budget
    env[ENV_RI_TGT_VALUE] = -1
    return env


TEST_RUN_HEADROOM = XDP_PACKET_HEADROOM                                  # bpf_prog_test_run_xdp
TEST_RUN_MAX_LINEAR = PAGE_SIZE - XDP_PACKET_HEADROOM - SKB_SHARED_INFO_SIZE   # 3520


def create_test_xdp(packet: bytes, ingress_ifindex=1, rx_queue_index=0):
    """The buffer geometry of BPF_PROG_TEST_RUN for XDP (6.x): a zeroed page, data at
    XDP_PACKET_HEADROOM (256), data_meta = data (valid), frame_sz = PAGE_SIZE
    (rxq->frag_size), linear part at most 4096 - 256 - 320 = 3520 bytes, the rest in
    4096-byte frag pages at offset 0; rxq = loopback queue 0 (ifindex 1).
    Returns (mem, xdp)."""
    n = len(packet)
    if n < ETH_HLEN:
        raise ValueError(f"BPF_PROG_TEST_RUN: -EINVAL: data_size_in {n} < ETH_HLEN (14)")
    lin = min(n, TEST_RUN_MAX_LINEAR)
    rest = n - lin
    nfr = (rest + PAGE_SIZE - 1) // PAGE_SIZE
    if nfr > MAX_SKB_FRAGS:
        raise ValueError(f"BPF_PROG_TEST_RUN: -ENOMEM: {n} bytes need {nfr} frags (MAX_SKB_FRAGS is 17)")
    mem = np.zeros((1 + MAX_SKB_FRAGS, PAGE_SIZE), dtype=np.uint8)
    pkt = np.frombuffer(bytes(packet), dtype=np.uint8)
    mem[0, TEST_RUN_HEADROOM: TEST_RUN_HEADROOM + lin] = pkt[:lin]
    xdp = np.zeros(XB_SIZE, dtype=np.int64)
    xdp[XB_PAGE] = 0
    xdp[XB_HARD_START] = 0
    xdp[XB_DATA] = TEST_RUN_HEADROOM
    xdp[XB_DATA_META] = TEST_RUN_HEADROOM
    xdp[XB_DATA_END] = TEST_RUN_HEADROOM + lin
    xdp[XB_FRAME_SZ] = PAGE_SIZE
    xdp[XB_INGRESS_IFINDEX] = ingress_ifindex
    xdp[XB_RX_QUEUE_INDEX] = rx_queue_index
    xdp[XB_MEM_TYPE] = MEM_TYPE_PAGE_ORDER0
    pos = lin
    for i in range(nfr):
        k = min(PAGE_SIZE, n - pos)
        mem[1 + i, :k] = pkt[pos: pos + k]
        f = XB_FRAG0 + i * XB_FRAG_STRIDE
        xdp[f], xdp[f + 1], xdp[f + 2] = 1 + i, 0, k
        pos += k
    if nfr:
        xdp[XB_NR_FRAGS] = nfr
        xdp[XB_FRAGS_SIZE] = rest
        xdp[XB_FRAGS_TRUESIZE] = nfr * PAGE_SIZE
        xdp[XB_FLAGS] |= XDP_FLAGS_HAS_FRAGS
    return mem, xdp


def frame_bytes(mem, xdp) -> bytes:
    """data_meta..data_end of the head plus every frag (what test_run copies to data_out)."""
    page = int(xdp[XB_PAGE])
    lo = int(min(xdp[XB_DATA_META], xdp[XB_DATA]))
    out = bytes(mem[page, lo: int(xdp[XB_DATA_END])])
    if int(xdp[XB_FLAGS]) & XDP_FLAGS_HAS_FRAGS:
        for i in range(int(xdp[XB_NR_FRAGS])):
            f = XB_FRAG0 + i * XB_FRAG_STRIDE
            out += bytes(mem[int(xdp[f]), int(xdp[f + 1]): int(xdp[f + 1]) + int(xdp[f + 2])])
    return out


class TestRunResult(NamedTuple):
    retval: int
    data_out: bytes
    data_size_out: int
    duration_ns: int          # wall-clock ns per run (this machine, not the board)
    insns: int                # instructions of the last run
    helper_calls: int
    fault: str                # '' or the verifier-style message
    env: np.ndarray
    xdp: np.ndarray


def test_run(prog: BpfProgram, packet, repeat: int = 1, *, cpu: int = 0, now_ns: int = 0, seed: int = 0x5EED,
             budget: int = 0, ingress_ifindex: int = 1, rx_queue_index: int = 0, mode: str = "jit",
             env=None) -> TestRunResult:
    """BPF_PROG_TEST_RUN for XDP (`bpftool prog run`): run ``prog`` on ``packet``
    ``repeat`` times in the kernel's test-run buffer geometry (see create_test_xdp).
    ``mode='python'`` runs the python copy of the VM (slow; same results)."""
    if not isinstance(prog, BpfProgram):
        raise TypeError(f"test_run needs a BpfProgram (obj.programs[name]), got {type(prog).__name__}")
    prog.check_loaded()
    repeat = max(1, int(repeat))
    mem, xdp = create_test_xdp(bytes(packet), ingress_ifindex, rx_queue_index)
    if env is None:
        env = create_env(cpu=cpu, now_ns=now_ns, seed=seed, budget=budget)
    if mode == "jit":
        from .vm import bpf_test_run_xdp
        bs = prog.object.vm_state if prog.jited else prog.state
        bpf_test_run_xdp(bs, prog.index, mem, xdp, env, 0)    # load/compile first: repeat 0 runs nothing
        t0 = time.perf_counter_ns()
        ret = bpf_test_run_xdp(bs, prog.index, mem, xdp, env, repeat)
        dt = time.perf_counter_ns() - t0
    else:
        from .._twospeed import PythonKernel
        k = PythonKernel()
        t0 = time.perf_counter_ns()
        with np.errstate(over="ignore"):
            ret = k.bpf_test_run_xdp(prog.state, prog.index, mem, xdp, env, repeat)
        dt = time.perf_counter_ns() - t0
    out = frame_bytes(mem, xdp)
    fault = format_fault(prog, env) if env[ENV_ERR] else ""
    ret = int(ret) & 0xFFFFFFFF          # the kernel reports retval as u32
    return TestRunResult(retval=ret, data_out=out, data_size_out=len(out), duration_ns=dt // repeat,
                         insns=int(env[ENV_INSNS]) // repeat if repeat else 0,
                         helper_calls=int(env[ENV_HELPER_CALLS]), fault=fault, env=env, xdp=xdp)


_ = (ENV_RI_MAP_ID,)

# not a pytest test, despite the name (test modules import it)
test_run.__test__ = False
TestRunResult.__test__ = False
