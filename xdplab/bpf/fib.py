"""The routes, neighbours and devices ``bpf_fib_lookup`` consults (the FIB and the neighbour
table of the board's network namespace), settable from Python: ``obj.fib``.

    obj.fib.add_route("10.1.0.0/16", dev=2, gw="192.168.1.254")
    obj.fib.add_neigh("192.168.1.254", dev=2, mac="02:00:00:00:00:fe")

The helper (:func:`xdplab.bpf.vm._fib_lookup`, net/core/filter.c ``bpf_xdp_fib_lookup`` in 6.1)
looks the destination up (longest prefix, then the lowest metric), checks the MTU
(``tot_len`` > MTU: ``BPF_FIB_LKUP_RET_FRAG_NEEDED`` with ``mtu_result``), takes the gateway
as the next hop, and the next hop's MAC from the neighbour table.  Return codes are the
kernel's: 0 success, ``BPF_FIB_LKUP_RET_BLACKHOLE`` / ``_UNREACHABLE`` / ``_PROHIBIT`` for those
route types, ``_NOT_FWDED`` (no route, or a local one), ``_FWD_DISABLED`` (forwarding off on
``params->ifindex``), ``_NO_NEIGH`` (no neighbour entry for the next hop), ``_FRAG_NEEDED``;
-EINVAL (plen < 64 or a flag other than DIRECT/OUTPUT, which is all 6.1 has), -EAFNOSUPPORT,
-ENODEV (no device ``params->ifindex``).

Simplifications, said here: one routing table (``BPF_FIB_LOOKUP_DIRECT`` or not: no policy
rules), no multipath, no lightweight tunnels, neighbour entries are always valid (no NUD
states), tos/flowinfo/l4 fields are not looked at.  The board's devices are there from the start:
lo (ifindex 1, MTU 65536) and eth0 (ifindex 2, MTU 1500), both forwarding (a router's setting:
Linux's default ``net.ipv4.ip_forward = 0`` would answer ``BPF_FIB_LKUP_RET_FWD_DISABLED``).
"""

from __future__ import annotations

import ipaddress

from .state import (CTL_FIB, CTL_FIB_DEV, CTL_FIB_NB, CTL_FIB_RT, FIB_DEV_COLS, FIB_MAX_DEVS, FIB_MAX_NEIGH,
                    FIB_MAX_ROUTES, FIB_NB_COLS, FIB_RT_COLS)

__all__ = ["Fib", "AF_INET", "AF_INET6", "BPF_FIB_LKUP_RET", "RTN_TYPES"]

AF_INET, AF_INET6 = 2, 10
BPF_FIB_LKUP_RET = {0: "SUCCESS", 1: "BLACKHOLE", 2: "UNREACHABLE", 3: "PROHIBIT", 4: "NOT_FWDED",
                    5: "FWD_DISABLED", 6: "UNSUPP_LWT", 7: "NO_NEIGH", 8: "FRAG_NEEDED"}
RTN_TYPES = {"unicast": 0, "blackhole": 1, "unreachable": 2, "prohibit": 3, "local": 4}
# route columns
RT_FAMILY, RT_HI, RT_LO, RT_PLEN, RT_DEV, RT_GW_FAMILY, RT_GW_HI, RT_GW_LO, RT_TYPE, RT_METRIC, RT_MTU = range(11)
NB_FAMILY, NB_HI, NB_LO, NB_DEV, NB_MAC = range(5)
DEV_IFINDEX, DEV_MAC, DEV_MTU, DEV_FWD4, DEV_FWD6 = range(5)
BOARD_MAC = "02:00:00:00:00:02"       # eth0's address in these tables (a locally administered one)


def _s64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


def _addr(a) -> tuple[int, int, int]:
    ip = ipaddress.ip_address(a) if not isinstance(a, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else a
    n = int(ip)
    if ip.version == 4:
        return AF_INET, 0, n
    return AF_INET6, _s64(n >> 64), _s64(n)


def _mac(m) -> int:
    if isinstance(m, int):
        return m
    b = bytes.fromhex(m.replace(":", "").replace("-", "")) if isinstance(m, str) else bytes(m)
    if len(b) != 6:
        raise ValueError(f"a MAC address has 6 bytes, got {m!r}")
    return int.from_bytes(b, "little")           # stored as the bytes in memory order


class Fib:
    """The object's FIB (routes), neighbour table and devices, as bpf_fib_lookup sees them."""

    def __init__(self, state, defaults: bool = True):
        self._ctl = state.ctl
        if defaults:
            self.add_dev(1, "00:00:00:00:00:00", mtu=65536)
            self.add_dev(2, BOARD_MAC, mtu=1500)

    # ---------------------------------------------------------------- devices
    def add_dev(self, ifindex: int, mac, mtu: int = 1500, forwarding: bool = True, forwarding6: bool | None = None):
        """A network device (or replace one): its MAC (smac of a lookup), MTU and forwarding."""
        c = self._ctl
        n = int(c[CTL_FIB + 2])
        row = next((i for i in range(n) if c[CTL_FIB_DEV + i * FIB_DEV_COLS + DEV_IFINDEX] == ifindex), n)
        if row >= FIB_MAX_DEVS:
            raise ValueError(f"at most {FIB_MAX_DEVS} devices")
        b = CTL_FIB_DEV + row * FIB_DEV_COLS
        c[b + DEV_IFINDEX], c[b + DEV_MAC], c[b + DEV_MTU] = ifindex, _mac(mac), mtu
        c[b + DEV_FWD4] = int(forwarding)
        c[b + DEV_FWD6] = int(forwarding if forwarding6 is None else forwarding6)
        c[CTL_FIB + 2] = max(n, row + 1)

    def set_forwarding(self, ifindex: int, on: bool, family: int | None = None):
        """net.ipv4/ipv6.conf.<dev>.forwarding for one device."""
        c = self._ctl
        for i in range(int(c[CTL_FIB + 2])):
            b = CTL_FIB_DEV + i * FIB_DEV_COLS
            if c[b + DEV_IFINDEX] == ifindex:
                if family in (None, AF_INET):
                    c[b + DEV_FWD4] = int(on)
                if family in (None, AF_INET6):
                    c[b + DEV_FWD6] = int(on)
                return
        raise KeyError(f"no device with ifindex {ifindex} (add it with add_dev)")

    # ---------------------------------------------------------------- routes
    def add_route(self, prefix: str, dev: int | None = None, gw=None, metric: int = 0, type: str = "unicast",
                  mtu: int = 0):
        """``ip route add PREFIX [via GW] dev DEV [metric M] [mtu lock MTU]``; ``type``: unicast,
        blackhole, unreachable, prohibit, local."""
        net = ipaddress.ip_network(prefix, strict=False)
        fam, hi, lo = _addr(net.network_address)
        if type not in RTN_TYPES:
            raise ValueError(f"route type {type!r}: one of {', '.join(RTN_TYPES)}")
        if RTN_TYPES[type] == 0 and dev is None:
            raise ValueError("a unicast route needs dev=IFINDEX")
        c = self._ctl
        n = int(c[CTL_FIB])
        if n >= FIB_MAX_ROUTES:
            raise ValueError(f"at most {FIB_MAX_ROUTES} routes")
        b = CTL_FIB_RT + n * FIB_RT_COLS
        c[b: b + FIB_RT_COLS] = 0
        c[b + RT_FAMILY], c[b + RT_HI], c[b + RT_LO], c[b + RT_PLEN] = fam, hi, lo, net.prefixlen
        c[b + RT_DEV] = dev or 0
        if gw is not None:
            gf, gh, gl = _addr(gw)
            c[b + RT_GW_FAMILY], c[b + RT_GW_HI], c[b + RT_GW_LO] = gf, gh, gl
        c[b + RT_TYPE], c[b + RT_METRIC], c[b + RT_MTU] = RTN_TYPES[type], metric, mtu
        c[CTL_FIB] = n + 1

    def add_neigh(self, ip, dev: int, mac):
        """``ip neigh add IP lladdr MAC dev DEV`` (a valid entry)."""
        fam, hi, lo = _addr(ip)
        c = self._ctl
        n = int(c[CTL_FIB + 1])
        if n >= FIB_MAX_NEIGH:
            raise ValueError(f"at most {FIB_MAX_NEIGH} neighbours")
        b = CTL_FIB_NB + n * FIB_NB_COLS
        c[b + NB_FAMILY], c[b + NB_HI], c[b + NB_LO], c[b + NB_DEV], c[b + NB_MAC] = fam, hi, lo, dev, _mac(mac)
        c[CTL_FIB + 1] = n + 1

    def clear(self, routes: bool = True, neigh: bool = True):
        if routes:
            self._ctl[CTL_FIB] = 0
        if neigh:
            self._ctl[CTL_FIB + 1] = 0

    def __repr__(self):
        c = self._ctl
        return (f"<Fib {int(c[CTL_FIB])} routes, {int(c[CTL_FIB + 1])} neighbours, {int(c[CTL_FIB + 2])} "
                f"devices>")
