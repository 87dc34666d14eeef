"""eBPF VM speed: M instructions/s with every check on, N packets per jitted call.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_vm.py [--packets 4096] [--rounds 20]

Runs bpf_prog_run_xdp_batch (one call, N packets, no Python per packet) with the
interpreter, with the program translated to native code (xdplab.bpf.jit) and translated
without its packet proofs ("checked": every access checked as it runs, see
xdplab/bpf/_pkt_range.py), timed in alternation; and the interpreter's per-packet entry
bpf_prog_run_xdp from a jitted loop (to show its per-call cost).
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xdplab.bpf import bpf_prog_run_xdp_batch, create_env, load_object  # noqa: E402
from xdplab.bpf.core import create_test_xdp  # noqa: E402
from xdplab.bpf.jit import bpf_prog_jit  # noqa: E402
from xdplab.xdp_abi import ENV_INSNS, ENV_SIZE, XB_PAGE, XB_SIZE  # noqa: E402


def eth_ip(proto, l4, payload=b""):
    eth = bytes.fromhex("aabbccddeeff112233445566") + b"\x08\x00"
    ip = bytes([0x45, 0, 0, 40, 0, 0, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
    return eth + ip + l4 + payload


SSH = eth_ip(6, struct.pack("!HHIIHHHH", 22, 40000, 1, 0, 0x5010, 512, 0, 0), bytes(6))
UDP = eth_ip(17, struct.pack("!HHHH", 53, 5353, 8, 0), bytes(18))
BIG = bytes((i * 7) & 0xFF for i in range(1500))

CASES = [
    ("xdp_drop", ROOT / "xdplab/progs/xdp_drop.o", "xdp_drop", UDP),
    ("ssh_mirror (TX)", ROOT / "xdplab/progs/ssh_mirror.o", "ssh_mirror", SSH),
    ("xdp2 (PERCPU_ARRAY)", ROOT / "xdplab/progs/xdp2.o", "xdp_prog1", UDP),
    ("loop_csum 1500B", ROOT / "tests/bpf/progs/loop_csum.o", "xdp_loop_csum", BIG),
]


def make_batch(packet: bytes, n: int):
    mem1, xdp1 = create_test_xdp(packet)
    mem = np.zeros((n, mem1.shape[1]), dtype=np.uint8)
    mem[:] = mem1[0]
    xdps = np.repeat(xdp1[None, :], n, axis=0)
    xdps[:, XB_PAGE] = np.arange(n)
    envs = np.repeat(create_env()[None, :], n, axis=0)
    return mem, np.ascontiguousarray(xdps), np.ascontiguousarray(envs)


def bench(path, prog, packet, n, rounds):
    """Best of ``rounds`` for the interpreter and for the program translated by xdplab.bpf.jit,
    the two timed in alternation (this machine's speed drifts by phases: see CONTRIBUTING.md)."""
    obj = load_object(path)
    p = obj.programs[prog]
    mem, xdps, envs = make_batch(packet, n)
    rets = np.zeros(n, dtype=np.int64)
    bpf_prog_run_xdp_batch(p.state, p.index, mem, xdps, envs, rets)        # compile / warm
    jit_obj = load_object(path)                                              # its own maps and counters
    jp = jit_obj.programs[prog]
    jited = jp.jit()
    runs = [("interp", p.state, p.index)] + ([("jit", jit_obj.vm_state, jp.index)] if jited else [])
    if jited:                     # translated without the packet proofs: every access checked as it runs
        cp = load_object(path).programs[prog]
        bpf_prog_jit(cp.state, cp.index, prove=False)
        runs.append(("checked", cp.object.vm_state, cp.index))
    for _key, bs, idx in runs[1:]:
        bpf_prog_run_xdp_batch(bs, idx, mem, xdps, envs, rets)
    best = {}
    out = {}
    for _ in range(rounds):
        for key, bs, idx in runs:
            mem2, xdps2, envs2 = make_batch(packet, n)
            t0 = time.perf_counter()
            total = bpf_prog_run_xdp_batch(bs, idx, mem2, xdps2, envs2, rets)
            dt = time.perf_counter() - t0
            assert int(envs2[0, 11]) == 0, "fault during benchmark"
            if key not in best or dt < best[key]:
                best[key] = dt
            out[key] = (total, int(envs2[0, ENV_INSNS]), int(rets[0]))
    return best, out, jp.jit_error


def bench_per_call(path, prog, packet, n, rounds):
    """bpf_prog_run_xdp called once per packet from a jitted loop (how the NAPI loop calls it)."""
    import numba

    from xdplab.bpf import bpf_prog_run_xdp

    @numba.njit
    def napi_like(bs, idx, mem, xdps, envs, rets):
        t = 0
        for i in range(xdps.shape[0]):
            rets[i] = bpf_prog_run_xdp(bs, idx, mem, xdps[i], envs[i])
            t += envs[i, ENV_INSNS]
        return t

    obj = load_object(path)
    p = obj.programs[prog]
    mem, xdps, envs = make_batch(packet, n)
    rets = np.zeros(n, dtype=np.int64)
    napi_like(p.state, p.index, mem, xdps, envs, rets)
    best = None
    for _ in range(rounds):
        mem2, xdps2, envs2 = make_batch(packet, n)
        t0 = time.perf_counter()
        total = napi_like(p.state, p.index, mem2, xdps2, envs2, rets)
        dt = time.perf_counter() - t0
        best = dt if best is None or dt < best else best
    return total, best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=20)
    a = ap.parse_args(argv)
    print(f"{'program':24s} {'insns/pkt':>9s} {'ret':>3s} {'ns/pkt':>8s} {'M insns/s':>10s} "
          f"{'jit ns/pkt':>10s} {'jit M/s':>8s} {'jit/interp':>10s} {'checked M/s':>11s}")
    for label, path, prog, pkt in CASES:
        best, out, why = bench(path, prog, pkt, a.packets, a.rounds)
        total, per, ret = out["interp"]
        dt = best["interp"]
        line = f"{label:24s} {per:9d} {ret:3d} {dt / a.packets * 1e9:8.1f} {total / dt / 1e6:10.1f}"
        if "jit" in best:
            jt = best["jit"]
            jtotal, jper, jret = out["jit"]
            assert (jper, jret) == (per, ret), f"{label}: the JIT ran {jper} insns -> {jret}, the VM {per} -> {ret}"
            line += f" {jt / a.packets * 1e9:10.1f} {jtotal / jt / 1e6:8.1f} {dt / jt:10.2f}"
            ctotal, cper, cret = out["checked"]
            assert (cper, cret) == (per, ret), f"{label}: the JIT without proofs ran {cper} insns -> {cret}"
            line += f" {ctotal / best['checked'] / 1e6:11.1f}"
        else:
            line += f"  ({why})"
        print(line)
    print("per-call entry (bpf_prog_run_xdp from a jitted loop, one packet per call):")
    for label, path, prog, pkt in CASES[:3]:
        total, dt = bench_per_call(path, prog, pkt, a.packets, a.rounds)
        print(f"{label:24s} {'':9s} {'':3s} {dt / a.packets * 1e9:8.1f} {total / dt / 1e6:10.1f}")
    _ = (ENV_SIZE, XB_SIZE)


if __name__ == "__main__":
    main()
