"""Traffic sources: frames built with dpkt, arrival times from a rate, seeded.

``pktgen``-like UDP flood (the talk's DDoS test: 64-byte frames at line rate)
and TCP port-22 frames for the ssh-mirror.  Sizes count the whole Ethernet
frame including the 4-byte FCS, as pktgen's ``-s 64`` does.
"""

from __future__ import annotations

import zlib

import dpkt
import numpy as np

from .nic.mvneta_hw import ETH_WIRE_OVERHEAD

__all__ = ["make_frame", "make_traffic", "line_rate_pps", "flow_tuple", "KINDS", "STAMP_OFF"]

KINDS = ("udp", "ssh", "tcp")
SRC_MAC = bytes.fromhex("e0d55e65ac83")     # the MAC in the talk's pktgen command line
DST_MAC = bytes.fromhex("f0ad4e0a1b2c")     # an address for the ESPRESSObin's eth0 (Globalscale OUI)


# the stamp Board.run(stamp=True) has the MAC write into each UDP frame, as pktgen writes its
# pktgen_hdr (magic, seq_num, time) into the payload: the flow id (u32 LE) and the frame's sequence
# number on the wire (u32 LE), right after the Ethernet, IPv4 and UDP headers
STAMP_OFF = 14 + 20 + 8


def flow_tuple(f: int, kind: str = "udp") -> tuple:
    """Flow ``f``'s 5-tuple (saddr, daddr, sport, dport, protocol), as ``make_traffic`` builds it:
    pktgen's udp_src_min..max range, one source port per flow."""
    proto = 17 if kind == "udp" else 6
    dport = 9 if kind == "udp" else (22 if kind == "ssh" else 9)
    sport = 1000 + f if kind == "udp" else 40000 + (1000 + f) % 20000
    return ("192.168.200.10", "192.168.200.1", sport, dport, proto)


def line_rate_pps(size: int, gbps: float = 1.0) -> float:
    """Frames per second a link carries at ``size`` bytes per frame (incl. FCS): 1.488 M at 64 B on 1 GbE."""
    return gbps * 1e9 / ((size + ETH_WIRE_OVERHEAD) * 8)


def make_frame(kind: str = "udp", size: int = 64, sport: int = 9, dport: int = 9,
               src_ip: str = "192.168.200.10", dst_ip: str = "192.168.200.1") -> bytes:
    """One Ethernet frame of ``size`` bytes including the FCS (computed)."""
    if kind not in KINDS:
        raise ValueError(f"unknown traffic kind {kind!r}: use one of {KINDS}")
    hdr = 14 + 20 + (8 if kind == "udp" else 20)
    if not 64 <= size <= 9728:
        raise ValueError(f"frame size {size} out of range: Ethernet frames are 64..1518 bytes "
                         f"(with FCS), jumbo frames up to 9728")
    payload = b"\x00" * max(0, size - 4 - hdr)
    if kind == "udp":
        l4 = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
        proto = dpkt.ip.IP_PROTO_UDP
    else:
        p = 22 if kind == "ssh" else dport
        l4 = dpkt.tcp.TCP(sport=40000 + sport % 20000, dport=p, flags=dpkt.tcp.TH_ACK, data=payload)
        proto = dpkt.ip.IP_PROTO_TCP
    ip = dpkt.ip.IP(src=bytes(map(int, src_ip.split("."))), dst=bytes(map(int, dst_ip.split("."))),
                    p=proto, ttl=64, data=l4)
    eth = dpkt.ethernet.Ethernet(src=SRC_MAC, dst=DST_MAC, type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
    raw = bytes(eth)
    raw = raw[: size - 4] + b"\x00" * max(0, size - 4 - len(raw))
    return raw + zlib.crc32(raw).to_bytes(4, "little")


def _sizes(size):
    """``size`` as a tuple of frame sizes: one int, or a mix (a list/tuple of ints)."""
    if isinstance(size, (list, tuple, np.ndarray)):
        sizes = tuple(int(x) for x in size)
        if not sizes:
            raise ValueError("size: an empty mix; give one size or a list of sizes such as [64, 9000]")
        return sizes
    return (int(size),)


def make_traffic(packets: int, size=64, rate="line", kind: str = "udp", flows: int = 1,
                 seed: int = 0, gbps: float = 1.0, start_ns: float = 0.0):
    """Arrival times and frames for ``packets`` frames; returns (arrival_ns, tmpl, frames, frame_len).

    ``rate`` is frames per second or ``"line"``.  With several ``flows`` (distinct 5-tuples,
    ``flow_tuple``: the source port differs) each frame's flow is drawn from the seeded
    generator; ``tmpl[k]`` is frame k's flow.
    ``size`` is one frame size, or a mix (``[64, 9000]``): each frame's size is then
    drawn from the list with equal weight (repeat a size to weight it), from the same
    seeded generator.  At ``"line"`` a mix is sent back to back, each frame taking its
    own time on the wire; a numeric rate must not exceed the line rate of the mix's
    mean size.
    """
    packets = int(packets)
    if packets < 0:
        raise ValueError(f"packets must be >= 0, got {packets}")
    sizes = _sizes(size)
    mean = float(np.mean(sizes))
    line = line_rate_pps(mean, gbps)
    if isinstance(rate, str):
        if rate != "line":
            raise ValueError(f"rate must be a number of frames per second or 'line', got {rate!r}")
        pps = line
    else:
        pps = float(rate)
        if not pps > 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if pps > line * 1.000001:
            what = f"{sizes[0]}-byte frames" if len(sizes) == 1 else f"a mix of mean size {mean:.0f} bytes"
            raise ValueError(f"rate {pps:.0f} pps exceeds line rate {line:.0f} pps for {what} "
                             f"on {gbps:g} GbE; use rate='line'")
    flows = int(flows)
    if not 1 <= flows <= 1024:
        raise ValueError(f"flows must be in [1, 1024], got {flows}")
    if flows * len(sizes) > 1024:
        raise ValueError(f"flows x sizes must be at most 1024 templates, got {flows} x {len(sizes)}")
    rng = np.random.default_rng(seed)
    frames_l = [make_frame(kind, sz, sport=1000 + f) for sz in sizes for f in range(flows)]
    maxlen = max(len(f) for f in frames_l)
    frames = np.zeros((len(frames_l), maxlen), np.uint8)
    for i, f in enumerate(frames_l):
        frames[i, : len(f)] = np.frombuffer(f, np.uint8)
    frame_len = np.array([len(f) for f in frames_l], np.int64)
    tmpl = rng.integers(0, flows, packets) if flows > 1 else np.zeros(packets, np.int64)
    if len(sizes) == 1:
        arrival = start_ns + (np.arange(packets, dtype=np.float64) + 1.0) * (1e9 / pps)
    else:
        which = rng.integers(0, len(sizes), packets)
        tmpl = which * flows + tmpl
        if isinstance(rate, str):
            # back to back: each frame occupies the wire for its own size (preamble, IFG included)
            wire_ns = (frame_len[tmpl] + ETH_WIRE_OVERHEAD) * 8 / gbps
            arrival = start_ns + np.cumsum(wire_ns)
        else:
            arrival = start_ns + (np.arange(packets, dtype=np.float64) + 1.0) * (1e9 / pps)
    return arrival, tmpl.astype(np.int64), frames, frame_len
