"""The kernel log (dmesg): kernels record a message code and numbers; Python formats them."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._twospeed import kernel

__all__ = ["Log", "create_log", "printk", "format_log", "KLOG"]

LOG_MAX = 256

# code: (level, format) — formats are the kernel's own strings where one exists
KLOG = {
    1: ("err", "mvneta f1010000.ethernet eth0: Can't refill queue {a}. Done {b} from {c}"),
    2: ("warn", "page_pool_release_retry() stalled pool shutdown {b} inflight {c} sec"),
    3: ("warn", "{s} XDP return value {a} on prog {prog} (id {b}) dev eth0, expect packet loss!"),
    4: ("crit", "page_pool_empty_ring() page_pool refcnt {a} violation"),
    5: ("warn", "Missing register, driver bug"),
    6: ("warn", "Driver BUG: missing reserved tailroom"),
    7: ("err", "mvneta f1010000.ethernet eth0: bad rx status {a:08x} ({s2}), size={b}"),
    8: ("warn", "Missing unregister, handled but fix driver"),
    9: ("warn", "Driver BUG"),
    10: ("warn", "Driver promised not to register this"),
    11: ("info", "mvneta f1010000.ethernet eth0: Illegal MTU {a} for XDP prog without frags"),
    12: ("warn", "Negative({a}) inflight packet-pages"),
}


class Log(NamedTuple):
    ent: np.ndarray   # int64[LOG_MAX, 5]: code, a, b, c, suppressed-count
    t_ns: np.ndarray  # float64[LOG_MAX]
    n: np.ndarray     # int64[1]
    once: np.ndarray  # int64[16]: pr_*_once flags


def create_log() -> Log:
    return Log(ent=np.zeros((LOG_MAX, 5), np.int64), t_ns=np.zeros(LOG_MAX), n=np.zeros(1, np.int64),
               once=np.zeros(16, np.int64))


@kernel
def printk(log, t_ns, code, a, b, c):
    """Append a message; a full log keeps counting (like a ring that stops at LOG_MAX)."""
    i = log.n[0]
    if i < log.ent.shape[0]:
        log.ent[i, 0] = code
        log.ent[i, 1] = a
        log.ent[i, 2] = b
        log.ent[i, 3] = c
        log.t_ns[i] = t_ns
    log.n[0] = i + 1


_ERRS = {0: "crc error", 1: "overrun error", 2: "max frame length error", 3: "resource error"}


def format_log(log: Log, prog_name: str = "xdp") -> list[str]:
    out = []
    for i in range(min(int(log.n[0]), LOG_MAX)):
        code, a, b, c, _ = (int(x) for x in log.ent[i])
        level, fmt = KLOG.get(code, ("warn", "unknown message {a} {b} {c}"))
        s = "Illegal" if a > 4 else "Driver unsupported"
        msg = fmt.format(a=a, b=b, c=c, s=s, prog=prog_name, s2=_ERRS.get(c, "?"))
        out.append(f"[{log.t_ns[i] / 1e9:12.6f}] {msg}")
    if int(log.n[0]) > LOG_MAX:
        out.append(f"... {int(log.n[0]) - LOG_MAX} more messages not kept")
    return out
