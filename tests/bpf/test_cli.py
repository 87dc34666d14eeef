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


TP = ROOT / "tests/bpf/progs"


def test_map_prefill_and_dump(capsys, tmp_path):
    """--map fills maps before the run (ints, hex bytes, a map-in-map's inner map by name);
    --json rows carry the maps after the run; the text output ends with them."""
    args = ["bpf", "run", str(TP / "map_in_map.o"), "--packet-hex", "020307" + "00" * 20]
    assert main(args + ["--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["retval"] == 2 and {"retval", "data_out", "data_size_out", "duration_ns", "insns", "fault",
                                   "jited", "maps", "records", "trace"} <= set(row)
    assert row["maps"]["inner_b"][3] == {"key": "03000000", "value": "0100000000000000"}
    assert row["maps"]["outer"] == [{"key": "00000000", "value": "inner_a"}, {"key": "02000000", "value": "inner_b"}]
    assert main(args + ["--json", "--map", "by_key", "7=inner_c", "--map", "inner_c", "3=0x10",
                        "--map", "inner_a", "hex:01000000=hex:0200000000000000"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["retval"] == 3
    assert row["maps"]["inner_c"][3]["value"] == (0x10 + 100).to_bytes(8, "little").hex()
    assert row["maps"]["inner_a"][1]["value"] == "0200000000000000"
    spec = tmp_path / "maps.json"
    spec.write_text(json.dumps({"by_key": {"7": "inner_c"}, "inner_c": {"0x3": 5}}))
    assert main(args + ["--maps-json", str(spec)]) == 0
    out = capsys.readouterr().out
    assert '"retval": 3' in out and "map inner_c (array):" in out
    assert "key: 03 00 00 00  value: 69 00 00 00 00 00 00 00" in out       # 5 + 100
    assert main(args + ["--map", "nope", "1=2"]) == 2
    assert "no map 'nope'" in capsys.readouterr().err
    assert main(args + ["--map", "inner_a", "1=hex:0102"]) == 2
    assert "2 bytes, the map's are 8" in capsys.readouterr().err
    assert main(args + ["--map", "outer", "1=5"]) == 2
    assert "holds maps: give a map name" in capsys.readouterr().err


def test_records_and_trace(capsys):
    pkt = (eth() + ipv4() + tcp()).hex()
    assert main(["bpf", "run", str(TP / "perf_events.o"), "--packet-hex", pkt, "--json", "--repeat", "2"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert len(row["records"]) == 2 and row["records"][0]["map"] == "events" and row["records"][0]["cpu"] == 0
    assert row["records"][0]["data"].endswith(pkt)
    assert main(["bpf", "run", str(TP / "ringbuf.o"), "-s", "xdp_ringbuf", "--packet-hex", pkt]) == 0
    out = capsys.readouterr().out
    assert "record rb: 0a0000010a000002" in out
    assert main(["bpf", "run", str(TP / "globals.o"), "-s", "xdp_globals", "--packet-hex", "00" * 60,
                 "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert len(row["trace"]) == 1 and "frame 1 len 60" in row["trace"][0]


def test_section_picks_one_program_and_names_a_refused_one(capsys):
    """fib_router.o's xdp_strncmp calls bpf_strncmp (not in xdplab): the router runs, and
    asking for the refused one names it and the missing helper."""
    pkt = (eth() + ipv4() + tcp()).hex()
    assert main(["bpf", "run", str(TP / "fib_router.o"), "-s", "xdp_router", "--packet-hex", pkt]) == 0
    assert '"retval": 2' in capsys.readouterr().out
    assert main(["bpf", "run", str(TP / "fib_router.o"), "-s", "xdp_strncmp", "--packet-hex", pkt]) == 2
    err = capsys.readouterr().err
    assert "program 'xdp_strncmp' (section xdp): helper bpf_strncmp#182 is not available" in err
