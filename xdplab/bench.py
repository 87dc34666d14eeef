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
    "redirect": ("xdp_redirect.o", {}, "udp", "XDP_REDIRECT with bpf_redirect(ifindex of --target): out of eth0 through "
                                              "mvneta_xdp_xmit (xdp-bench redirect eth0 eth0)"),
    "redirect-map": ("redirect_devmap.o", {}, "udp", "XDP_REDIRECT through a DEVMAP (slot 0 = --target: eth0, or veth0 "
                                                     "whose peer veth1 in netns 'remote' drops)"),
}
REDIRECT_TARGETS = ("eth0", "veth0")
# the programs the redirect modes load from xdplab/progs (prebuilt, like xdp_drop.o)
_MODE_PROGS = {"redirect": "xdp_redirect_prog", "redirect-map": "xdp_redirect_devmap"}


def run_bench(mode: str, packets: int = 1_000_000, size: int = 64, rate="line", seed: int = 0,
              trace: int = 0, prog=None, dma_sync: str = "page_pool", jit: bool | None = None,
              bpf_jit_enable: int = 1, target: str = "eth0") -> dict:
    """Run one experiment; returns the JSON-able result (keys as documented for ``--json``).

    ``bpf_jit_enable=0`` prices the program as 6.1's eBPF interpreter runs it (the board's
    ``net.core.bpf_jit_enable``); ``jit`` is the simulator's own translation, which changes only
    how fast the simulation runs."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
    builtin, opts, kind, _ = MODES[mode]
    if jit is None:                       # a benchmark translates --prog unless XDPLAB_BPF_JIT=0
        jit = jit_wanted(True)
    b = Board(trace=trace, seed=seed, dma_sync=dma_sync, bpf_jit_enable=bpf_jit_enable, **opts)
    if mode in _MODE_PROGS:
        prog = _setup_redirect(b, mode, prog, target, jit)
    elif prog is not None or builtin is not None:
        b.attach(prog if prog is not None else builtin, jit=jit)
    # warm the jitted kernels on a tiny run so wall_seconds measures simulation, not compilation
    t0 = time.perf_counter()
    b.run(packets=64, size=size, rate=rate, kind=kind)
    compile_s = time.perf_counter() - t0
    r = b.run(packets=packets, size=size, rate=rate, kind=kind)
    out = {"mode": mode, "board": b.profile["name"], "prog": b.prog_name, "size": size,
           "rate": rate, "seed": seed, "dma_sync": dma_sync, "bpf_jit_enable": int(bool(bpf_jit_enable))}
    out.update(r)
    out["warmup_seconds"] = compile_s
    out["trace_events"] = int(b.trace.n[0]) if trace else 0
    out["bpf_jit"] = bool(b.bpf_jited)         # --prog translated to native code (xdplab.bpf.jit)
    if mode in _MODE_PROGS:
        out["target"] = target
    return out


def _setup_redirect(b, mode, prog, target, jit):
    """The redirect modes' board: the target device (eth0, or veth0 with veth1 in netns 'remote'
    dropping what arrives, since a veth peer without XDP program or GRO refuses frames) and the
    program: bpf_redirect(target's ifindex) (.rodata ifindex_out), or slot 0 of the object's DEVMAP."""
    from pathlib import Path
    from .bpf import load_object
    if target not in REDIRECT_TARGETS:
        raise ValueError(f"--target must be one of {', '.join(REDIRECT_TARGETS)}, got {target!r}")
    if prog is None:
        obj = load_object(Path(__file__).resolve().parent / "progs" / MODES[mode][0])
        prog = obj.programs[_MODE_PROGS[mode]]
    obj = prog.object
    if target == "veth0":
        b.ip("netns add remote")
        b.ip("link add veth0 type veth peer name veth1 netns remote")
        b.ip("link set veth0 up")
        b.ip("-n remote link set veth1 up")
        b.dev("veth1", "remote").attach("drop")
    ifindex = b.dev(target).ifindex
    if mode == "redirect":
        try:
            obj.set_global("ifindex_out", ifindex)   # before attach: as libbpf sets .rodata before load
        except (KeyError, ValueError):
            pass                                     # a --prog without ifindex_out redirects where it says
    else:
        devmaps = [m for m in obj.maps.values() if m.type_name in ("devmap", "devmap_hash")]
        if not devmaps:
            raise ValueError(f"redirect-map: {prog.name} has no DEVMAP to put {target} in")
        devmaps[0].update(0, ifindex)
    b.attach(prog, jit=jit)
    return prog


def format_human(res: dict) -> str:
    """A summary shaped like xdp-bench's output."""
    v = res["verdicts"]
    lines = [f"Summary of {res['mode']} on {res['board']}",
             f"  prog {res['prog'] or '(none: tc ingress drop)' if res['mode'] == 'tc-drop' else res['prog']}, "
             f"{res['size']}-byte frames, offered {res['packets_offered']:,} at {res['rate']}"
             + (", net.core.bpf_jit_enable=0 (interpreter)" if res.get("bpf_jit_enable") == 0 else ""),
             f"  receive total {res['sim_pps']:>14,.0f} pkt/s   (simulated board time {res['sim_seconds']:.3f} s)"]
    for name in ("XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_ABORTED", "XDP_REDIRECT"):
        if v.get(name):
            lines.append(f"    {name.lower()[4:]:<12} {v[name] / res['sim_seconds']:>14,.0f} pkt/s")
    if v.get("invalid"):
        lines.append(f"    {'invalid':<12} {v['invalid'] / res['sim_seconds']:>14,.0f} pkt/s")
    lines.append(f"  rx_discard (no descriptor) {res['hw_discard']:,}")
    for name, dev in sorted(res.get("devices", {}).items()):
        nd = dev["netdev"]
        lines.append(f"  {name:<8} rx {nd['rx_packets']:>10,}  tx {nd['tx_packets']:>10,}  "
                     f"tx_dropped {nd['tx_dropped']:,}")
    lines.append(f"  simulator: {res['wall_pps'] / 1e6:.1f} M offered frames/s, "
                 f"{res['wall_rx_pps'] / 1e6:.1f} M received frames/s of wall clock ({res['wall_seconds']:.3f} s)")
    return "\n".join(lines)
