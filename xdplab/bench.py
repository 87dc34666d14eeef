"""``xdplab bench MODE``: an xdp-bench-like experiment on the simulated board.

Modes name the experiment the way xdp-tools' ``xdp-bench`` does; ``tc-drop``
is the talk's comparison point (no XDP program, a clsact ingress matchall
filter with action gact drop).
"""

from __future__ import annotations

import time

from .board import Board
from .bpf._jitabi import jit_wanted

__all__ = ["MODES", "run_bench", "format_human"]

# mode -> (program, Board options, traffic kind, what it shows)
MODES = {
    "drop": ("drop", {}, "udp", "XDP_DROP every frame (the talk's xdp-drop.o)"),
    "pass": ("pass", {}, "udp", "XDP_PASS every frame to the stack (build_skb, GRO, UDP delivery)"),
    "tx": ("ssh-mirror", {}, "ssh", "XDP_TX: the talk's ssh-mirror swaps addresses and sends TCP/22 frames back"),
    "abort": ("abort", {}, "udp", "XDP_ABORTED: dropped, with the xdp_exception tracepoint"),
    "tc-drop": (None, {"tc_drop": True}, "udp", "no XDP; tc ingress matchall action gact drop"),
}


ETH_OVERHEAD = 14 + 4          # Ethernet header + FCS: a frame of `size` bytes needs MTU size - 18
MAX_MTU = 9676                 # mvneta's max_mtu
ONE_BUFFER_MTU = 3520          # MVNETA_MAX_RX_BUF_SIZE: above it a frame spans buffers (frags)


def bench_mtu(size: int) -> int:
    """The MTU the bench gives eth0 for ``size``-byte frames: 1500, or just enough for a jumbo frame."""
    mtu = max(1500, int(size) - ETH_OVERHEAD)
    if mtu > MAX_MTU:
        raise ValueError(f"--size {size}: the largest frame mvneta receives is {MAX_MTU + ETH_OVERHEAD} bytes "
                         f"(max_mtu {MAX_MTU} + Ethernet header and FCS)")
    return mtu


def buffers_per_frame(size: int) -> int:
    """RX buffers (descriptors) a ``size``-byte frame takes: data_size = 2-byte Marvell header + frame,
    in buffers of MVNETA_MAX_RX_BUF_SIZE (3520) bytes."""
    return -(-(int(size) + 2) // ONE_BUFFER_MTU)


def run_bench(mode: str, packets: int = 1_000_000, size: int = 64, rate="line", seed: int = 0,
              trace: int = 0, prog=None, dma_sync: str = "page_pool", jit: bool | None = None,
              bpf_jit_enable: int = 1) -> dict:
    """Run one experiment; returns the JSON-able result (keys as documented for ``--json``).

    ``bpf_jit_enable=0`` prices the program as 6.1's eBPF interpreter runs it (the board's
    ``net.core.bpf_jit_enable``); ``jit`` is the simulator's own translation, which changes only
    how fast the simulation runs."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
    builtin, opts, kind, _ = MODES[mode]
    if jit is None:                       # a benchmark translates --prog unless XDPLAB_BPF_JIT=0
        jit = jit_wanted(True)
    mtu = bench_mtu(size)
    b = Board(trace=trace, seed=seed, dma_sync=dma_sync, bpf_jit_enable=bpf_jit_enable, mtu=mtu, **opts)
    if prog is not None:
        b.attach(prog, jit=jit)
    elif builtin is not None:
        # above one buffer, the built-in is loaded frags-aware (BPF_F_XDP_HAS_FRAGS), as mvneta requires
        b.attach(builtin, jit=jit, frags=True if mtu > ONE_BUFFER_MTU else None)
    # warm the jitted kernels on a tiny run so wall_seconds measures simulation, not compilation
    t0 = time.perf_counter()
    b.run(packets=64, size=size, rate=rate, kind=kind)
    compile_s = time.perf_counter() - t0
    r = b.run(packets=packets, size=size, rate=rate, kind=kind)
    out = {"mode": mode, "board": b.profile["name"], "prog": b.prog_name, "size": size,
           "rate": rate, "seed": seed, "dma_sync": dma_sync, "bpf_jit_enable": int(bool(bpf_jit_enable))}
    out.update(r)
    # per frame and per byte: the board's work grows with the buffers a frame takes, the link's with its bytes
    out["mtu"] = mtu
    out["buffers_per_frame"] = buffers_per_frame(size)
    rx = r["rx_packets"]
    out["sim_rx_bytes_per_s"] = rx * size / r["sim_seconds"] if r["sim_seconds"] > 0 else 0.0
    out["wall_rx_bytes_per_s"] = rx * size / r["wall_seconds"] if r["wall_seconds"] > 0 else 0.0
    out["wall_offered_bytes_per_s"] = packets * size / r["wall_seconds"] if r["wall_seconds"] > 0 else 0.0
    out["sim_rx_buffers_per_s"] = r["sim_pps"] * out["buffers_per_frame"]
    out["warmup_seconds"] = compile_s
    out["trace_events"] = int(b.trace.n[0]) if trace else 0
    out["bpf_jit"] = bool(b.bpf_jited)         # --prog translated to native code (xdplab.bpf.jit)
    return out


def format_human(res: dict) -> str:
    """A summary shaped like xdp-bench's output."""
    v = res["verdicts"]
    lines = [f"Summary of {res['mode']} on {res['board']}",
             f"  prog {res['prog'] or '(none: tc ingress drop)' if res['mode'] == 'tc-drop' else res['prog']}, "
             f"{res['size']}-byte frames, offered {res['packets_offered']:,} at {res['rate']}"
             + (", net.core.bpf_jit_enable=0 (interpreter)" if res.get("bpf_jit_enable") == 0 else ""),
             f"  receive total {res['sim_pps']:>14,.0f} pkt/s   (simulated board time {res['sim_seconds']:.3f} s)"]
    if "sim_rx_bytes_per_s" in res:
        lines.append(f"                {res['sim_rx_bytes_per_s'] * 8 / 1e6:>14,.1f} Mbit/s of frames"
                     + (f", {res['buffers_per_frame']} RX buffers a frame (MTU {res['mtu']}, frags)"
                        if res.get("buffers_per_frame", 1) > 1 else ""))
    for name in ("XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_ABORTED", "XDP_REDIRECT"):
        if v.get(name):
            lines.append(f"    {name.lower()[4:]:<12} {v[name] / res['sim_seconds']:>14,.0f} pkt/s")
    if v.get("invalid"):
        lines.append(f"    {'invalid':<12} {v['invalid'] / res['sim_seconds']:>14,.0f} pkt/s")
    lines.append(f"  rx_discard (no descriptor) {res['hw_discard']:,}")
    lines.append(f"  simulator: {res['wall_pps'] / 1e6:.1f} M offered frames/s, "
                 f"{res['wall_rx_pps'] / 1e6:.1f} M received frames/s of wall clock ({res['wall_seconds']:.3f} s)"
                 + (f", {res['wall_rx_bytes_per_s'] / 1e9:.2f} GB/s of frames" if "wall_rx_bytes_per_s" in res
                    else ""))
    return "\n".join(lines)
