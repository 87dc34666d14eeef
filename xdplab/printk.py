"""The kernel log (dmesg): kernels record a message code and numbers; Python formats them."""

from __future__ import annotations

import numpy as np

from ._layout import R_LOG_N
from ._twospeed import kernel

__all__ = ["printk", "format_log", "KLOG", "LOG_MAX", "KLOG_ROWS"]

LOG_MAX = 256
KLOG_ROWS = LOG_MAX + 64   # log rows, then the sanitizer's (xdplab.sanitizer.SAN_MAX)

# code: (level, format) — formats are the kernel's own strings where one exists
# netdev_err/netdev_info prefix their message with the driver and the device name: the A3720's
# first mvneta port is ethernet@30000 under internal-regs@d0000000 (armada-37xx.dtsi)
DEV = "mvneta d0030000.ethernet eth0:"
KLOG = {
    1: ("err", "Can't refill queue {a}. Done {b} from {c}"),      # a pr_err: no device prefix
    2: ("warn", "page_pool_release_retry() stalled pool shutdown {b} inflight {c} sec"),
    3: ("warn", "{s} XDP return value {a} on prog {prog} (id {b}) dev eth0, expect packet loss!"),
    4: ("crit", "page_pool_empty_ring() page_pool refcnt {a} violation"),
    5: ("warn", "Missing register, driver bug"),
    6: ("warn", "Driver BUG: missing reserved tailroom"),
    7: ("err", DEV + " bad rx status {a:08x} ({s2}), size={b}"),
    8: ("warn", "Missing unregister, handled but fix driver"),
    9: ("warn", "Driver BUG"),
    10: ("warn", "Driver promised not to register this"),
    11: ("info", DEV + " Illegal MTU {a} for XDP prog without frags"),
    12: ("warn", "Negative({a}) inflight packet-pages"),
    13: ("err", DEV + " mvneta_rxq_fill:rxq {a}, {b} of {c} buffs  filled"),
    14: ("err", DEV + " mvneta_setup_rxqs: can't create rxq={a}"),
    15: ("err", DEV + " unable to setup rxqs after MTU change"),
    16: ("warn", "xdplab: page_pool {a} has order {b}: the lab's page allocator hands out order-0 pages only, "
                 "so its allocation fails here (6.1 would allocate a compound page of {c} pages)"),
    # bpf_warn_invalid_xdp_action(NULL, prog, act) from a CPUMAP entry's program (xdplab.cpumap): no device
    40: ("warn", "{s} XDP return value {a} on prog cpumap prog (id {b}) dev N/A, expect packet loss!"),
}


@kernel
def printk(b, t_ns, code, x, y, z):
    """Append a message to the kernel log (kept: the first LOG_MAX; all are counted)."""
    i = b.r[R_LOG_N]
    if i < LOG_MAX:
        row = b.klog[i]
        row[0] = code
        row[1] = x
        row[2] = y
        row[3] = z
        row[5] = np.int64(t_ns * 1000.0)
    b.r[R_LOG_N] = i + 1


_ERRS = {0: "crc error", 1: "overrun error", 2: "max frame length error", 3: "resource error"}


def format_log(bs, prog_name: str = "xdp") -> list[str]:
    """dmesg: the board's kernel log as text."""
    out = []
    n = int(bs.r[R_LOG_N])
    for i in range(min(n, LOG_MAX)):
        code, a, b, c, _, t_ps = (int(x) for x in bs.klog[i, :6])
        level, fmt = KLOG.get(code, ("warn", "unknown message {a} {b} {c}"))
        s = "Illegal" if a > 4 else "Driver unsupported"
        msg = fmt.format(a=a, b=b, c=c, s=s, prog=prog_name, s2=_ERRS.get(c, "?"))
        out.append(f"[{t_ps / 1e12:12.6f}] {msg}")
    if n > LOG_MAX:
        out.append(f"... {n - LOG_MAX} more messages not kept")
    return out
