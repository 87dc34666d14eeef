"""Built-in XDP programs (numba) and the program dispatch the driver calls.

``bpf_prog_run_xdp(b, xdp)`` runs whatever is attached to the port: a built-in
program (the talk's xdp-drop, pass, abort, ssh-mirror, and one returning an
invalid action) or eBPF bytecode in the VM (``xdplab.bpf``).  Programs see the
packet through the ``xdp_buff`` array, like ``struct xdp_md``.

Each built-in charges the instructions its clang -O2 build executes on the
board (``bpf_insn``), so a built-in and the compiled object cost the same.

Both kinds tell the DMA model what they read and wrote of the packet: a built-in
with ``cpu_touch``/``cpu_write`` on its bytes, an eBPF program through the VM,
which records the head page's cache lines its loads and stores touched and, per
page, what its helpers read and wrote (``bpf_xdp_load_bytes``/``store_bytes``,
the tail ``bpf_xdp_adjust_tail`` zeroes, the metadata ``bpf_xdp_adjust_head``
moves); ``_bpf_run_vm`` hands them to ``cpu_touch_lines`` after the run.  So the
sanitizer catches a read of a line not synced for the CPU, or a write the driver
does not sync back for the device, whoever wrote the program.  (One it catches in
6.1 itself: a program that grows the tail and shrinks it back leaves zeroed lines
past ``max(before, after)``, the sync ``mvneta_run_xdp`` computes.)
"""

from __future__ import annotations

from ._twospeed import kernel

from ._layout import (R_BPF_FAULT_ENV, R_BPF_FAULTS, R_BPF_INTERP, R_BPF_INTERP_ADDR, R_CPU_CUR, R_OP_COUNT, R_PROG_ID,
                      R_PROG_KIND, R_PROG_REFCNT)
from .bpf._jitabi import call_interp, call_jit, data_addr, jit_prog_addr
from .bpf.state import CTL_FRAG_FREE, CTL_NEEDS_NOW, CTL_PKT_RD, CTL_PKT_WR, CTL_RESUME, CTL_TOUCH
from .bpf.vm import bpf_vm_run
from .xdp import xdp_return_page
from .cost import C_BPF_HELPER, C_BPF_INSN, C_BPF_INTERP_INSN, C_BPF_PROG_CALL, charge, charge_n, ktime_get_ns
from .mm import cpu_touch, cpu_touch_lines, cpu_write
from .xdp_abi import (ENV_CPU, ENV_ERR, ENV_HELPER_CALLS, ENV_INSNS, ENV_NOW_NS, ENV_SIZE, XB_DATA, XB_DATA_END, XB_MEM_ID, XB_MEM_TYPE, XB_PAGE,
                      XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX)

__all__ = ["BUILTIN_PROGS", "PROG_NONE", "PROG_BUILTIN", "PROG_BPF", "builtin_prog_id",
           "xdp_prog_builtin", "bpf_prog_run_xdp", "bpf_prog_put"]

PROG_NONE = 0
PROG_BUILTIN = 1
PROG_BPF = 2

# name -> (id, description)
BUILTIN_PROGS = {
    "pass": (0, "return XDP_PASS"),
    "drop": (1, "return XDP_DROP (the talk's xdp-drop.o)"),
    "abort": (2, "return XDP_ABORTED"),
    "ssh-mirror": (3, "the talk's ssh-mirror: swap MACs and IPv4 addresses of TCP port-22 frames, XDP_TX; "
                      "else XDP_PASS"),
    "invalid": (4, "return 7, an action no kernel defines"),
}
# instructions executed per run, as clang -O2 builds progs/*.c (counted with `xdplab bpf run`)
_INSNS_TRIVIAL = 2            # r0 = <action>; exit
_INSNS_SSH_MIRROR_TX = 44     # bounds checks, protocol checks, 12-byte MAC swap, 8-byte IP swap
_INSNS_SSH_MIRROR_PASS = 18   # bounds checks and the protocol/port tests that fail


def builtin_prog_id(name: str) -> int:
    try:
        return BUILTIN_PROGS[name][0]
    except KeyError:
        raise ValueError(f"unknown built-in XDP program {name!r}; built-ins are "
                         f"{', '.join(sorted(BUILTIN_PROGS))} (or pass a compiled object: prog='file.o')") from None


@kernel(hot=True)
def _swap_bytes(buf, a, c, n):
    for i in range(n):
        t = buf[a + i]
        buf[a + i] = buf[c + i]
        buf[c + i] = t


@kernel(hot=True)
def xdp_prog_builtin(b, prog_id, xdp):
    """Run built-in program ``prog_id`` on ``xdp``; returns the action."""
    if prog_id == 0:
        charge_n(b, C_BPF_INSN, _INSNS_TRIVIAL)
        return XDP_PASS
    if prog_id == 1:
        charge_n(b, C_BPF_INSN, _INSNS_TRIVIAL)
        return XDP_DROP
    if prog_id == 2:
        charge_n(b, C_BPF_INSN, _INSNS_TRIVIAL)
        return XDP_ABORTED
    if prog_id == 3:
        page = xdp[XB_PAGE]
        data = xdp[XB_DATA]
        end = xdp[XB_DATA_END]
        buf = b.data[page]
        # struct ethhdr + struct iphdr + struct tcphdr must be inside the packet
        if data + 14 + 20 + 20 > end:
            charge_n(b, C_BPF_INSN, 6)
            return XDP_PASS
        cpu_touch(b, page, data, 38, False)
        is_ip = buf[data + 12] == 0x08 and buf[data + 13] == 0x00
        ihl_ok = (buf[data + 14] & 0x0F) == 5    # ssh-mirror assumes no IP options
        is_tcp = buf[data + 23] == 6
        sport = (buf[data + 34] << 8) | buf[data + 35]
        dport = (buf[data + 36] << 8) | buf[data + 37]
        if not (is_ip and ihl_ok and is_tcp and (sport == 22 or dport == 22)):
            charge_n(b, C_BPF_INSN, _INSNS_SSH_MIRROR_PASS)
            return XDP_PASS
        _swap_bytes(buf, data, data + 6, 6)      # h_dest <-> h_source
        _swap_bytes(buf, data + 26, data + 30, 4)  # saddr <-> daddr
        cpu_write(b, page, data, 34)
        charge_n(b, C_BPF_INSN, _INSNS_SSH_MIRROR_TX)
        return XDP_TX
    charge_n(b, C_BPF_INSN, _INSNS_TRIVIAL)
    return 7


def _bpf_run_interp_native(b, xdp):
    """The jitted copy of ``_bpf_run_interp``: the interpreter through its address (``call_interp``),
    so that a board compiles without the VM (minutes of a cold compile) until a program needs it."""
    return call_interp(b.r[R_BPF_INTERP_ADDR], b.bpf, b.r[R_PROG_ID], data_addr(b.data), b.data.shape[0],
                       b.data.shape[1], data_addr(xdp), data_addr(b.env))


@kernel(jit_impl=_bpf_run_interp_native)
def _bpf_run_interp(b, xdp):
    """The interpreter, out of the per-packet path of translated programs (its set-up, ~40 loads
    and stores and a 700-byte stack frame, cost more than a short program).  It reads the VM
    state through ``b`` (borrowed: nothing counted); it also finishes a translated run that the
    budget handed over (CTL_RESUME).  Jitted, it is reached through a pointer that
    ``Board.attach`` sets (``R_BPF_INTERP_ADDR``)."""
    return bpf_vm_run(b.bpf, b.r[R_PROG_ID], b.data, xdp, b.env)


@kernel
def _bpf_run_done(b, xdp):
    """After a run whose helpers touched packet memory, that freed frags (a shrinking
    adjust_tail) or that faulted: what the helpers read and wrote goes to the DMA model (before
    any frag goes back: the CPU touched it first), the frags go back, and the first fault is
    kept for the error message."""
    env = b.env
    ctl = b.bpf.ctl
    for i in range(ctl[CTL_TOUCH]):
        row = CTL_TOUCH + 1 + 3 * i
        cpu_touch_lines(b, ctl[row], ctl[row + 1], ctl[row + 2])
    ctl[CTL_TOUCH] = 0
    nfree = b.bpf.ctl[CTL_FRAG_FREE]
    if nfree > 0:
        # frags a shrinking bpf_xdp_adjust_tail dropped: __xdp_return them (not NAPI-direct, as 6.1)
        for i in range(nfree):
            xdp_return_page(b, b.bpf.ctl[CTL_FRAG_FREE + 1 + i], xdp[XB_MEM_TYPE], xdp[XB_MEM_ID], False)
        b.bpf.ctl[CTL_FRAG_FREE] = 0
    if env[ENV_ERR] != 0:
        if b.r[R_BPF_FAULTS] == 0:
            for i in range(ENV_SIZE):
                b.r[R_BPF_FAULT_ENV + i] = env[i]
        b.r[R_BPF_FAULTS] += 1


@kernel(hot=True)
def _bpf_run_vm(b, xdp):
    """Run the attached eBPF program, charging what it executed.

    A translated program (xdplab.bpf.jit) is called straight from here, inlined into the NAPI
    loop: what is left of a run of xdp_drop.o is its two instructions, this call, and the
    charges.  The interpreter and the after-work of rare runs (freed frags, a fault) are out of
    line."""
    env = b.env
    bs = b.bpf
    env[ENV_CPU] = b.r[R_CPU_CUR]
    if bs.ctl[CTL_NEEDS_NOW] != 0:             # a clock read sums the operation counts: only if used
        env[ENV_NOW_NS] = ktime_get_ns(b)
    env[ENV_ERR] = 0
    jaddr = jit_prog_addr(bs, b.r[R_PROG_ID])
    if jaddr != 0:
        act = call_jit(jaddr, bs, data_addr(b.data), b.data.shape[0], b.data.shape[1], data_addr(xdp),
                       data_addr(env))
        if bs.ctl[CTL_RESUME] != 0:
            act = _bpf_run_interp(b, xdp)
    else:
        act = _bpf_run_interp(b, xdp)
    charge_n(b, C_BPF_INSN, env[ENV_INSNS])
    charge_n(b, C_BPF_HELPER, env[ENV_HELPER_CALLS])
    if env[ENV_INSNS] > _INSNS_TRIVIAL + 2:
        # a program that does more than return a constant parses the packet: its first line is
        # read (the cost model counts the line once; what it read and wrote exactly follows)
        n = xdp[XB_DATA_END] - xdp[XB_DATA]
        cpu_touch(b, xdp[XB_PAGE], xdp[XB_DATA], 64 if n > 64 else n, False)
    # The lines of the head page the program's loads and stores touched (the VM records them),
    # as for a built-in program's bytes: a read of a line not synced for the CPU, or a write the
    # driver does not sync back for the device, is the sanitizer's whoever wrote the program
    rd = bs.ctl[CTL_PKT_RD]
    wr = bs.ctl[CTL_PKT_WR]
    if (rd | wr) != 0:
        cpu_touch_lines(b, xdp[XB_PAGE], rd, wr)
    if bs.ctl[CTL_FRAG_FREE] != 0 or env[ENV_ERR] != 0 or bs.ctl[CTL_TOUCH] != 0:
        _bpf_run_done(b, xdp)
    return act


@kernel(hot=True)
def bpf_prog_run_xdp(b, xdp):
    """bpf_prog_run_xdp(prog, xdp): run the port's program; returns its raw return value.

    With ``net.core.bpf_jit_enable=0`` (``Board(bpf_jit_enable=False)``) the board prices the run as
    6.1's interpreter (``___bpf_prog_run``) would take it: every instruction the program executed
    costs ``bpf_interp_insn`` on top of its JITed price.  Only the price changes; the simulator runs
    the program the same way either way."""
    charge(b, C_BPF_PROG_CALL)
    n0 = b.r[R_OP_COUNT + C_BPF_INSN]          # one call site each for the inlined runs
    if b.r[R_PROG_KIND] == PROG_BPF:
        act = _bpf_run_vm(b, xdp)
    else:
        act = xdp_prog_builtin(b, b.r[R_PROG_ID], xdp)
    if b.r[R_BPF_INTERP] != 0:
        # the instructions the run charged (bpf_insn) are the ones the interpreter dispatches
        charge_n(b, C_BPF_INTERP_INSN, b.r[R_OP_COUNT + C_BPF_INSN] - n0)
    return act


@kernel
def bpf_prog_put(b, prog):
    """bpf_prog_put: drop a reference on a program (a handle, a slot of ``R_PROG_REFCNT``); the
    last one frees it (the board forgets the handle)."""
    b.r[R_PROG_REFCNT + prog] -= 1
