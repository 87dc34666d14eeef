"""xdplab bench: the JSON contract and clear errors."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from xdplab_testutil import ROOT

KEYS = {"mode", "board", "packets_offered", "rx_packets", "hw_discard", "verdicts", "sim_seconds", "sim_pps",
        "wall_seconds", "wall_pps", "ethtool", "page_pool"}


def xdplab(*args):
    return subprocess.run([sys.executable, "-m", "xdplab", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=900)


@pytest.mark.parametrize("mode", ["drop", "tc-drop", "tx"])
def test_bench_json(mode):
    p = xdplab("bench", mode, "--packets", "20000", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert KEYS <= set(r)
    assert r["mode"] == mode and r["packets_offered"] == 20000
    assert r["rx_packets"] + r["hw_discard"] == 20000
    assert set(r["verdicts"]) >= {"XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"}
    assert "rx_xdp_drop" in r["ethtool"] and "rx_pp_recycle_cached" in r["ethtool"]
    assert set(r["page_pool"]) >= {"fast", "slow", "cached", "ring", "released_refcnt"}
    if mode == "drop":
        assert r["verdicts"]["XDP_DROP"] == r["rx_packets"] == r["ethtool"]["rx_xdp_drop"]
    if mode == "tc-drop":
        assert r["verdicts"]["XDP_DROP"] == 0 and r["prog"] is None
    if mode == "tx":
        assert r["ethtool"]["rx_xdp_tx"] == r["rx_packets"]


def test_bench_human_output():
    p = xdplab("bench", "drop", "--packets", "5000")
    assert p.returncode == 0, p.stderr
    assert "receive total" in p.stdout and "pkt/s" in p.stdout and "drop" in p.stdout


@pytest.mark.parametrize("args,msg", [
    (["bench", "fly"], "invalid choice"),
    (["bench", "drop", "--packets", "0"], "positive"),
    (["bench", "drop", "--rate", "fast"], "--rate takes packets per second or 'line'"),
    (["bench", "drop", "--rate", "9e9", "--packets", "10"], "exceeds line rate"),
    (["bench", "drop", "--size", "10", "--packets", "10"], "frame size 10 out of range"),
])
def test_bench_errors(args, msg):
    p = xdplab(*args)
    assert p.returncode == 2
    assert msg in p.stderr
    assert "Traceback" not in p.stderr


_WALL = {"wall_seconds", "wall_pps", "wall_rx_pps", "warmup_seconds", "bpf_jit", "wall_rx_bytes_per_s",
         "wall_offered_bytes_per_s"}


@pytest.mark.parametrize("mode, obj, rate", [("drop", "xdp_drop.o", "line"), ("tx", "xdp2.o", "line"),
                                             ("tx", "ssh_mirror.o", "line"), ("drop", "xdp2.o", 200_000)])
def test_bench_prog_jit_is_the_interpreter_bit_for_bit(mode, obj, rate):
    """The board with a translated program (the default) and with the interpreter (--no-jit):
    every simulated number the same, cycles charged included; only wall-clock time differs."""
    from xdplab.bench import run_bench
    from xdplab.bpf import load_object
    res = {}
    for jit in (True, False):
        prog = load_object(Path(ROOT) / "xdplab" / "progs" / obj).program()
        res[jit] = run_bench(mode, packets=20000, rate=rate, prog=prog, jit=jit)
    assert res[True]["bpf_jit"] is True and res[False]["bpf_jit"] is False
    assert {k: v for k, v in res[True].items() if k not in _WALL} == \
        {k: v for k, v in res[False].items() if k not in _WALL}
    assert res[True]["rx_packets"] > 0


def test_bench_no_jit_flag():
    p = xdplab("bench", "drop", "--prog", "xdplab/progs/xdp_drop.o", "--packets", "2000", "--json", "--no-jit")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["bpf_jit"] is False
    p = xdplab("bench", "drop", "--prog", "xdplab/progs/xdp_drop.o", "--packets", "2000", "--json")
    assert json.loads(p.stdout)["bpf_jit"] is True


@pytest.mark.parametrize("args", [["redirect"], ["redirect-map"], ["redirect-map", "--target", "veth0"]])
def test_bench_redirect_modes(args):
    p = xdplab("bench", *args, "--packets", "20000", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert KEYS <= set(r) and r["mode"] == args[0]
    n = r["rx_packets"]
    assert r["verdicts"]["XDP_REDIRECT"] == n == r["ethtool"]["rx_xdp_redirect"]
    target = args[-1] if "--target" in args else "eth0"
    assert r["target"] == target
    assert r["devices"][target]["netdev"]["tx_packets"] == n          # the per-device section
    if target == "veth0":
        assert r["devices"]["veth1"]["ethtool"]["rx_queue_0_xdp_drops"] == n
    else:
        assert r["ethtool"]["tx_xdp_xmit"] == n
@pytest.mark.parametrize("mode", ["drop", "pass", "tx", "abort", "tc-drop"])
def test_bench_every_mode_takes_a_jumbo_size(mode):
    """--size above one RX buffer (3520 bytes): eth0 gets the MTU the frame needs, the built-in is
    loaded frags-aware, and the rates come per frame and per byte (the old keys stay)."""
    from xdplab.bench import run_bench
    r = run_bench(mode, packets=3000, size=9000, rate="line")
    assert r["mtu"] == 8982 and r["buffers_per_frame"] == 3
    assert r["rx_packets"] == 3000 and r["hw_discard"] == 0
    assert r["sim_rx_bytes_per_s"] == pytest.approx(r["sim_pps"] * 9000)
    assert r["sim_rx_buffers_per_s"] == pytest.approx(r["sim_pps"] * 3)
    for k in ("sim_pps", "wall_pps", "wall_rx_pps", "wall_rx_bytes_per_s", "wall_offered_bytes_per_s"):
        assert r[k] > 0
    assert r["netdev"]["rx_errors"] == 0


def test_bench_refuses_a_frame_above_max_mtu():
    p = xdplab("bench", "drop", "--size", "9700", "--packets", "10")
    assert p.returncode == 2 and "the largest frame mvneta receives is 9694 bytes" in p.stderr
    assert "Traceback" not in p.stderr
