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
    "redirect-cpu": (None, {}, "udp", "XDP_REDIRECT into a CPUMAP: CPU 0 picks a CPU (--program-mode), a kthread "
                                      "there builds the skbs, after its own program (--remote-action)"),
    "redirect": ("xdp_redirect.o", {}, "udp", "XDP_REDIRECT with bpf_redirect(ifindex of --target): out of eth0 through "
                                              "mvneta_xdp_xmit (xdp-bench redirect eth0 eth0)"),
    "redirect-map": ("redirect_devmap.o", {}, "udp", "XDP_REDIRECT through a DEVMAP (slot 0 = --target: eth0, or veth0 "
                                                     "whose peer veth1 in netns 'remote' drops)"),
}
REDIRECT_TARGETS = ("eth0", "veth0")
# the programs the redirect modes load from xdplab/progs (prebuilt, like xdp_drop.o)
_MODE_PROGS = {"redirect": "xdp_redirect_prog", "redirect-map": "xdp_redirect_devmap"}

# xdp-bench redirect-cpu's --program-mode -> the program of xdplab/progs/cpumap_rps.o
PROGRAM_MODES = {"no-touch": "redirect_cpu_fixed", "l4-hash": "redirect_cpu_hash",
                 "round-robin": "redirect_cpu_round_robin"}
REMOTE_ACTIONS = ("disabled", "pass", "drop", "redirect")


def _setup_redirect_cpu(b, prog, cpus, qsize, remote_action, program_mode, jit):
    """What xdp-bench redirect-cpu does before it starts: the CPU-selecting program on eth0, every
    --cpu in the CPUMAP with --qsize and the --remote-action program, cpus_available/cpus_count."""
    from .bpf import load_object
    from .bpf.progs import prog_path
    from .cpumap import NR_CPUS
    if not cpus:
        raise ValueError("redirect-cpu needs at least one --cpu (the board has CPUs 0 and 1)")
    for c in cpus:
        if not 0 <= c < NR_CPUS:
            raise ValueError(f"--cpu {c}: the ESPRESSObin has CPUs 0 and 1")
    if remote_action not in REMOTE_ACTIONS:
        raise ValueError(f"--remote-action must be one of {', '.join(REMOTE_ACTIONS)}, got {remote_action!r}")
    if prog is None:
        if program_mode not in PROGRAM_MODES:
            raise ValueError(f"--program-mode must be one of {', '.join(PROGRAM_MODES)}, got {program_mode!r}")
        obj = load_object(prog_path("cpumap_rps.o"))
        prog = obj[PROGRAM_MODES[program_mode]]
    obj = prog.object
    cms = [m for m in obj.maps.values() if m.type == 16]
    if len(cms) != 1:
        raise ValueError(f"--prog {obj.path}: redirect-cpu needs exactly one BPF_MAP_TYPE_CPUMAP in the object, "
                         f"found {len(cms)}")
    remote = None
    if remote_action != "disabled":
        cands = [p for p in obj.programs.values() if p.attach == "xdp/cpumap" and remote_action in p.name]
        if len(cands) != 1:
            raise ValueError(f"--remote-action {remote_action}: the object needs one SEC(\"xdp/cpumap\") program "
                             f"with {remote_action!r} in its name, found {[p.name for p in cands]}")
        remote = cands[0]
    if "cpus_available" in obj.maps:
        for i, c in enumerate(cpus):
            obj.maps["cpus_available"].update(i, c)
    if "cpus_count" in obj.maps:
        obj.maps["cpus_count"].update(0, len(cpus))
    for c in cpus:
        cms[0].update(c, {"qsize": qsize, "bpf_prog": remote} if cms[0].value_size >= 8 else qsize)
    b.attach(prog, jit=jit)


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
              bpf_jit_enable: int = 1, cpus=(1,), qsize: int = 2048, remote_action: str = "disabled",
              program_mode: str = "l4-hash", flows: int = 1, target: str = "eth0") -> dict:
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
    if mode == "redirect-cpu":
        _setup_redirect_cpu(b, prog, [int(c) for c in cpus], int(qsize), remote_action, program_mode, jit)
    elif mode in _MODE_PROGS:
        prog = _setup_redirect(b, mode, prog, target, jit)
    elif prog is not None:
        b.attach(prog, jit=jit)
    elif builtin is not None:
        # above one buffer, the built-in is loaded frags-aware (BPF_F_XDP_HAS_FRAGS), as mvneta requires
        b.attach(builtin, jit=jit, frags=True if mtu > ONE_BUFFER_MTU else None)
    # warm the jitted kernels on a tiny run so wall_seconds measures simulation, not compilation
    t0 = time.perf_counter()
    b.run(packets=64, size=size, rate=rate, kind=kind, flows=flows)
    compile_s = time.perf_counter() - t0
    r = b.run(packets=packets, size=size, rate=rate, kind=kind, flows=flows)
    out = {"mode": mode, "board": b.profile["name"], "prog": b.prog_name, "size": size,
           "rate": rate, "seed": seed, "dma_sync": dma_sync, "bpf_jit_enable": int(bool(bpf_jit_enable)),
           "flows": flows}
    if mode == "redirect-cpu":
        sim_s = r["sim_seconds"]
        out.update(cpus=[int(c) for c in cpus], qsize=int(qsize), remote_action=remote_action,
                   program_mode=program_mode if prog is None else "custom",
                   kthread={f"cpu{c}": b.cpumap_stats(c) for c in cpus},
                   cpumap_pps=(r["cpumap"]["kthread_processed"] / sim_s) if sim_s > 0 else 0.0)
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
    if "sim_rx_bytes_per_s" in res:
        lines.append(f"                {res['sim_rx_bytes_per_s'] * 8 / 1e6:>14,.1f} Mbit/s of frames"
                     + (f", {res['buffers_per_frame']} RX buffers a frame (MTU {res['mtu']}, frags)"
                        if res.get("buffers_per_frame", 1) > 1 else ""))
    for name in ("XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_ABORTED", "XDP_REDIRECT"):
        if v.get(name):
            lines.append(f"    {name.lower()[4:]:<12} {v[name] / res['sim_seconds']:>14,.0f} pkt/s")
    if v.get("invalid"):
        lines.append(f"    {'invalid':<12} {v['invalid'] / res['sim_seconds']:>14,.0f} pkt/s")
    if res["mode"] == "redirect-cpu":
        cm = res["cpumap"]
        t = res["sim_seconds"] or 1.0
        lines.append(f"  cpumap enqueue {cm['enqueue_processed'] / t:>14,.0f} pkt/s   drops {cm['enqueue_drops'] / t:,.0f} "
                     f"pkt/s (qsize {res['qsize']}, ring high-water {cm['ring_high']})")
        for c, st in res["kthread"].items():
            lines.append(f"  kthread {c:<6} processed {st['kthread_processed']:,}  sched {st['kthread_sched']:,}  "
                         f"xdp_pass {st['xdp_pass']:,}  xdp_drop {st['xdp_drop']:,}  xdp_redirect {st['xdp_redirect']:,}")
        lines.append(f"  remote CPUs   {res['cpumap_pps']:>14,.0f} pkt/s   (remote action {res['remote_action']})")
    lines.append(f"  cpu load: cpu0 {res['cpu0_busy']:.0%}, cpu1 {res['cpu1_busy']:.0%}")
    lines.append(f"  rx_discard (no descriptor) {res['hw_discard']:,}")
    for name, dev in sorted(res.get("devices", {}).items()):
        nd = dev["netdev"]
        lines.append(f"  {name:<8} rx {nd['rx_packets']:>10,}  tx {nd['tx_packets']:>10,}  "
                     f"tx_dropped {nd['tx_dropped']:,}")
    lines.append(f"  simulator: {res['wall_pps'] / 1e6:.1f} M offered frames/s, "
                 f"{res['wall_rx_pps'] / 1e6:.1f} M received frames/s of wall clock ({res['wall_seconds']:.3f} s)"
                 + (f", {res['wall_rx_bytes_per_s'] / 1e9:.2f} GB/s of frames" if "wall_rx_bytes_per_s" in res
                    else ""))
    return "\n".join(lines)
