"""`python -m xdplab.bpf.cli bpf run ...` (the twin of `bpftool prog run`)."""

import json
import os
import subprocess
import sys

import dpkt
from conftest import PROGS, ROOT, eth, ipv4, tcp

from xdplab.bpf.cli import main

SSH = eth() + ipv4() + tcp(22, 1234)


def test_run_hex(capsys):
    assert main(["bpf", "run", str(PROGS / "ssh_mirror.o"), "--packet-hex", SSH.hex()]) == 0
    out = capsys.readouterr().out
    assert '"retval": 3' in out and '"data_size_out": 54' in out and '"duration_ns"' in out
    assert SSH[6:12].hex() + SSH[0:6].hex() in out


def test_run_pcap_json(tmp_path, capsys):
    p = tmp_path / "t.pcap"
    with open(p, "wb") as f:
        w = dpkt.pcap.Writer(f)
        w.writepkt(SSH, ts=0)
        w.writepkt(eth() + ipv4() + tcp(80, 81), ts=1)
    assert main(["bpf", "run", str(PROGS / "ssh_mirror.o"), "--pcap", str(p), "--json", "--repeat", "3"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["retval"] for r in rows] == [3, 2]
    assert rows[1]["data_out"] == (eth() + ipv4() + tcp(80, 81)).hex()


def test_errors(capsys, tmp_path):
    assert main(["bpf", "run", "/nope.o", "--packet-hex", "00"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["bpf", "run", str(PROGS / "ssh_mirror.o"), "--packet-hex", "xyz"]) == 2
    assert "not valid hex" in capsys.readouterr().err
    assert main(["bpf", "run", str(PROGS / "ssh_mirror.o"), "-s", "nope", "--packet-hex", "00"]) == 2
    assert "available: ssh_mirror (section xdp)" in capsys.readouterr().err
    assert main(["bpf", "run", str(PROGS / "ssh_mirror.o"), "--pcap", str(tmp_path / "x.pcap")]) == 2
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a pcap at all")
    assert main(["bpf", "run", str(PROGS / "ssh_mirror.o"), "--pcap", str(bad)]) == 2
    assert "not a pcap" in capsys.readouterr().err
    assert main(["bpf", "run", str(PROGS / "ssh_mirror.o"), "--packet-hex", "0011"]) == 1
    assert "ETH_HLEN" in capsys.readouterr().err


def test_module_entry_point():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "xdplab.bpf.cli", "bpf", "run", str(PROGS / "xdp_drop.o"),
                        "--packet-hex", "00" * 60], capture_output=True, text=True, env=env, cwd=str(ROOT))
    assert r.returncode == 0, r.stderr
    assert '"retval": 1' in r.stdout


def test_run_jit_same_output(capsys):
    """--jit translates the program first (xdplab.bpf.jit): the same output but for duration_ns,
    for a program with bpf-to-bpf calls too."""
    outs = []
    for flag in ("--no-jit", "--jit"):
        assert main(["bpf", "run", str(PROGS / "xdp2.o"), "--packet-hex", SSH.hex(), "--json", flag]) == 0
        row = json.loads(capsys.readouterr().out)
        row.pop("duration_ns")
        outs.append((row.pop("jited"), row))
    assert [j for j, _ in outs] == [False, True]
    assert outs[0][1] == outs[1][1] and outs[0][1]["retval"] == 3
    outs = []
    for flag in ("--no-jit", "--jit"):
        assert main(["bpf", "run", str(ROOT / "tests/bpf/progs/globals.o"), "-s", "xdp_globals", "--packet-hex",
                     SSH.hex(), "--json", flag]) == 0
        cap = capsys.readouterr()
        row = json.loads(cap.out)
        row.pop("duration_ns")
        outs.append((row.pop("jited"), row, cap.err))
    assert outs[0] == (False, outs[1][1], "") and outs[1][0] is True and outs[1][2] == ""


def test_a_timing_run_translates_by_default(capsys, monkeypatch):
    """As bpftool prog run times the kernel's JIT-compiled code, --repeat >= JIT_REPEAT runs the
    translation unless told not to; a single run interprets (no compile wait)."""
    from xdplab.bpf.cli import JIT_REPEAT
    monkeypatch.delenv("XDPLAB_BPF_JIT", raising=False)
    jited = {}
    for repeat, extra in ((1, []), (JIT_REPEAT, []), (JIT_REPEAT, ["--no-jit"])):
        assert main(["bpf", "run", str(PROGS / "ssh_mirror.o"), "--packet-hex", SSH.hex(), "--json",
                     "--repeat", str(repeat)] + extra) == 0
        row = json.loads(capsys.readouterr().out)
        assert row["retval"] == 3 and row["insns"] == 66
        jited[(repeat, bool(extra))] = row["jited"]
    assert jited == {(1, False): False, (JIT_REPEAT, False): True, (JIT_REPEAT, True): False}
