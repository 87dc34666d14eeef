"""bpf_trace_printk (kernel/trace/bpf_trace.c + bpf_bprintf_prepare in kernel/bpf/helpers.c).

The jitted side formats the message and appends a record to the object's trace
ring (``BpfState.trace``): ``len:u16, cpu:u8, 0:u8, now_ns:i64, text[len]``.
:func:`read_trace_pipe` consumes the records and renders them the way
``/sys/kernel/tracing/trace_pipe`` shows them::

    <idle>-0       [000] ..s2.   12.345678: bpf_trace_printk: hello 42

Supported conversions (those bpf_bprintf_prepare accepts): ``%d %i %u %x %X %c %s %%``
with ``l``/``ll``, flags ``0 + - space`` and a width, ``%p %pK %px``, ``%pI4 %pi4 %pI6``.
At most 3 arguments (``bpf_trace_printk``) or ``data_len / 8`` of them, up to 12
(``bpf_trace_vprintk``, what libbpf's ``bpf_printk`` calls with more than 3); anything else
makes the helper return -EINVAL, like the kernel.
"""

from __future__ import annotations

import numpy as np

from .._twospeed import kernel
from ..filter import pkt_lines
from ..xdp_abi import ENV_CPU, ENV_NOW_NS, XB_PAGE
from .state import (CTL_PKT_RD, CTL_REGS, CTL_TRACE_LOST, CTL_TRACE_N, CTL_TRACE_POS, K_MAPVAL, K_PKT, K_STACK, MAP_MAX_ENTRIES,
                    MAP_NCOPIES, MAP_VALUE_SIZE, MAP_VBASE, MAP_VSHIFT, PTR_MASK, PTR_SHIFT, SCRATCH_OFF,
                    TRACE_OFF, TRACE_SIZE)

__all__ = ["bpf_trace_printk", "read_trace_pipe", "BPF_TRACE_PRINTK_SIZE"]

BPF_TRACE_PRINTK_SIZE = 1024
EINVAL = 22
_REC_HDR = 12


@kernel
def _tp_put(tr, pos, end, c):
    if pos < end:
        tr[pos] = c
    return pos + 1


@kernel
def _tp_num(tr, pos, end, v, base, upper, is_signed, width, zero, left, plus, space):
    """Format integer v (already truncated to its C type) at tr[pos:]."""
    neg = False
    u = np.uint64(v)
    if is_signed and v < 0:
        neg = True
        u = np.uint64(0) - np.uint64(v)
    digits = np.zeros(24, dtype=np.uint8)
    nd = 0
    if u == 0:
        digits[0] = 48
        nd = 1
    while u != 0:
        d = np.int64(u % np.uint64(base))
        u = u // np.uint64(base)
        if d < 10:
            digits[nd] = 48 + d
        else:
            digits[nd] = (65 if upper else 97) + d - 10
        nd += 1
    sign = 0
    if neg:
        sign = 45
    elif plus and is_signed:
        sign = 43
    elif space and is_signed:
        sign = 32
    total = nd + (1 if sign else 0)
    pad = width - total if width > total else 0
    if not left and not zero:
        for _ in range(pad):
            pos = _tp_put(tr, pos, end, np.int64(32))
    if sign:
        pos = _tp_put(tr, pos, end, sign)
    if not left and zero:
        for _ in range(pad):
            pos = _tp_put(tr, pos, end, np.int64(48))
    for i in range(nd - 1, -1, -1):
        pos = _tp_put(tr, pos, end, np.int64(digits[i]))
    if left:
        for _ in range(pad):
            pos = _tp_put(tr, pos, end, np.int64(32))
    return pos


@kernel
def _tp_byte_at(mp, umem, ctl, mem, xdp, ptr, i, stack_top):
    """Byte i behind a tagged pointer for %s / %pI4, or -1 if unreadable (the kernel's
    copy_from_kernel_nofault fails).  A packet byte read is a line read (ctl[CTL_PKT_RD])."""
    kind = ptr >> PTR_SHIFT
    if kind == K_PKT:
        o = (ptr & PTR_MASK) + i
        lo = xdp[3]
        if xdp[2] < lo:
            lo = xdp[2]
        if o < lo or o >= xdp[4]:
            return -1
        ctl[CTL_PKT_RD] |= pkt_lines(o, np.int64(1))
        return np.int64(mem[xdp[XB_PAGE], o])
    if kind == K_STACK:
        o = (ptr & PTR_MASK) + i
        if o >= stack_top:
            return -1
        return np.int64(umem[o])
    if kind == K_MAPVAL:
        m = (ptr >> 32) & 0xFFFF
        o = (ptr & 0xFFFFFFFF) + i
        if m >= mp.shape[0]:
            return -1
        sh = mp[m, MAP_VSHIFT]
        if (o & ((1 << sh) - 1)) >= mp[m, MAP_VALUE_SIZE] or \
                o >= (mp[m, MAP_MAX_ENTRIES] * mp[m, MAP_NCOPIES]) << sh:
            return -1
        return np.int64(umem[mp[m, MAP_VBASE] + o])
    return -1


@kernel
def bpf_trace_printk(bs, mem, xdp, env, fmt_size, stack_top, nmax, vbase):
    """bpf_trace_printk(fmt, fmt_size, arg1, arg2, arg3) with fmt already copied to
    bs.scratch[0:fmt_size] (``nmax`` 3, ``vbase`` -1: the arguments are R3-R5), or
    bpf_trace_vprintk(fmt, fmt_size, data, data_len) (``nmax`` data_len / 8 u64 arguments copied
    to umem[vbase:]).  Returns the message length or -EINVAL."""
    fmt = bs.umem[SCRATCH_OFF:SCRATCH_OFF + fmt_size]
    if fmt[fmt_size - 1] != 0:
        return -EINVAL
    tr = bs.umem[TRACE_OFF:TRACE_OFF + TRACE_SIZE]
    start = bs.ctl[CTL_TRACE_POS]
    pos = start + _REC_HDR
    cap = TRACE_SIZE
    end = pos + BPF_TRACE_PRINTK_SIZE - 1
    if end > cap:
        end = cap
    full = start + _REC_HDR + 1 > cap
    nargs = 0
    out0 = pos
    i = 0
    while i < fmt_size and fmt[i] != 0:
        c = fmt[i]
        if c != 37:                       # '%'
            pos = _tp_put(tr, pos, end, np.int64(c))
            i += 1
            continue
        i += 1
        if i < fmt_size and fmt[i] == 37:
            pos = _tp_put(tr, pos, end, np.int64(37))
            i += 1
            continue
        if nargs == nmax:
            return -EINVAL
        if vbase < 0:
            arg = bs.ctl[CTL_REGS + 3 + nargs]
        else:
            arg = np.int64(0)
            for k in range(7, -1, -1):
                arg = (arg << 8) | np.int64(bs.umem[vbase + 8 * nargs + k])
        nargs += 1
        zero = np.int64(0)
        left = np.int64(0)
        plus = np.int64(0)
        space = np.int64(0)
        while i < fmt_size and (fmt[i] == 48 or fmt[i] == 43 or fmt[i] == 45 or fmt[i] == 32):
            if fmt[i] == 48:
                zero = np.int64(1)
            elif fmt[i] == 43:
                plus = np.int64(1)
            elif fmt[i] == 45:
                left = np.int64(1)
            else:
                space = np.int64(1)
            i += 1
        width = 0
        while i < fmt_size and fmt[i] >= 48 and fmt[i] <= 57:
            width = width * 10 + (fmt[i] - 48)
            i += 1
        if i >= fmt_size:
            return -EINVAL
        c = fmt[i]
        if c == 112:                      # 'p'
            c1 = fmt[i + 1] if i + 1 < fmt_size else 0
            c2 = fmt[i + 2] if i + 2 < fmt_size else 0
            if (c1 == 73 or c1 == 105) and c2 == 52:          # %pI4 / %pi4
                for k in range(4):
                    b = _tp_byte_at(bs.maps, bs.umem, bs.ctl, mem, xdp, arg, k, stack_top)
                    if b < 0:
                        b = 0
                    if c1 == 105:
                        pos = _tp_num(tr, pos, end, b, np.int64(10), np.int64(0), np.int64(0), np.int64(3), np.int64(1), np.int64(0), np.int64(0), np.int64(0))
                    else:
                        pos = _tp_num(tr, pos, end, b, np.int64(10), np.int64(0), np.int64(0), np.int64(0), np.int64(0), np.int64(0), np.int64(0), np.int64(0))
                    if k < 3:
                        pos = _tp_put(tr, pos, end, np.int64(46))
                i += 3
                continue
            if (c1 == 73 or c1 == 105) and c2 == 54:          # %pI6
                for k in range(8):
                    b0 = _tp_byte_at(bs.maps, bs.umem, bs.ctl, mem, xdp, arg, 2 * k, stack_top)
                    b1 = _tp_byte_at(bs.maps, bs.umem, bs.ctl, mem, xdp, arg, 2 * k + 1, stack_top)
                    wv = ((b0 if b0 > 0 else 0) << 8) | (b1 if b1 > 0 else 0)
                    pos = _tp_num(tr, pos, end, wv, np.int64(16), np.int64(0), np.int64(0), np.int64(4), np.int64(1), np.int64(0), np.int64(0), np.int64(0))
                    if k < 7:
                        pos = _tp_put(tr, pos, end, np.int64(58))
                i += 3
                continue
            if c1 == 75 or c1 == 120:                         # %pK %px
                i += 1
            pos = _tp_put(tr, pos, end, np.int64(48))
            pos = _tp_put(tr, pos, end, np.int64(120))
            pos = _tp_num(tr, pos, end, arg, np.int64(16), np.int64(0), np.int64(0), np.int64(16), np.int64(1), np.int64(0), np.int64(0), np.int64(0))
            i += 1
            continue
        if c == 115:                                          # %s
            k = 0
            while k < 512:
                b = _tp_byte_at(bs.maps, bs.umem, bs.ctl, mem, xdp, arg, k, stack_top)
                if b <= 0:
                    break
                pos = _tp_put(tr, pos, end, b)
                k += 1
            i += 1
            continue
        if c == 99:                                           # %c
            pos = _tp_put(tr, pos, end, arg & 0xFF)
            i += 1
            continue
        nl = 0
        while i < fmt_size and fmt[i] == 108 and nl < 2:       # 'l', 'll'
            nl += 1
            i += 1
        if i >= fmt_size:
            return -EINVAL
        c = fmt[i]
        v = arg
        if nl == 0:
            v = arg & 0xFFFFFFFF
            if c == 100 or c == 105:
                v = (v << 32) >> 32
        if c == 100 or c == 105:
            pos = _tp_num(tr, pos, end, v, np.int64(10), np.int64(0), np.int64(1), width, zero, left, plus, space)
        elif c == 117:
            pos = _tp_num(tr, pos, end, v, np.int64(10), np.int64(0), np.int64(0), width, zero, left, plus, space)
        elif c == 120 or c == 88:
            pos = _tp_num(tr, pos, end, v, np.int64(16), np.int64(1 if c == 88 else 0), np.int64(0), width, zero, left, plus, space)
        else:
            return -EINVAL
        i += 1
    n = pos - out0
    stored = n
    if out0 + stored > end:
        stored = end - out0
    if full or stored < 0:
        bs.ctl[CTL_TRACE_LOST] += 1
        return n
    if stored < n and end >= cap:
        bs.ctl[CTL_TRACE_LOST] += 1        # ring full: record lost (reader must drain)
        return n
    tr[start] = stored & 0xFF
    tr[start + 1] = (stored >> 8) & 0xFF
    tr[start + 2] = env[ENV_CPU] & 0xFF
    tr[start + 3] = 0
    t = env[ENV_NOW_NS]
    for k in range(8):
        tr[start + 4 + k] = (t >> (8 * k)) & 0xFF
    bs.ctl[CTL_TRACE_POS] = out0 + stored
    bs.ctl[CTL_TRACE_N] += 1
    return n


def read_trace_pipe(state, comm: str = "<idle>", pid: int = 0, consume: bool = True) -> list[str]:
    """The lines a `cat /sys/kernel/tracing/trace_pipe` would show, oldest first."""
    tr = state.umem[TRACE_OFF:TRACE_OFF + TRACE_SIZE]
    end = int(state.ctl[CTL_TRACE_POS])
    lines = []
    p = 0
    while p + _REC_HDR <= end:
        n = int(tr[p]) | (int(tr[p + 1]) << 8)
        cpu = int(tr[p + 2])
        t = int(np.frombuffer(bytes(tr[p + 4:p + 12]), dtype="<i8")[0])
        text = bytes(tr[p + _REC_HDR:p + _REC_HDR + n]).decode("latin-1")
        task = f"{comm}-{pid}"
        lines.append(f"{task:>16s} [{cpu:03d}] ..s2. {t // 1_000_000_000:5d}.{(t // 1000) % 1_000_000:06d}: "
                     f"bpf_trace_printk: {text}")
        p += _REC_HDR + n
    if consume:
        state.ctl[CTL_TRACE_POS] = 0
    return lines
