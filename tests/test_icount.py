"""benchmarks/icount.py: the parts that need no valgrind (name demangling, callgrind parsing, attribution)."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "icount", Path(__file__).resolve().parent.parent / "benchmarks" / "icount.py")
icount = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(icount)


def test_short_names_numba_symbols():
    assert icount.short_name("_ZN6xdplab3nic6mvneta14mvneta_rx_swbmB4v212B54c8tJTC_2fWwGa") == \
        "xdplab.nic.mvneta.mvneta_rx_swbm"
    assert icount.short_name("NRT_incref") == "NRT_incref"
    assert icount.short_name("cfunc._ZN34xdplab_bpfjit_d3098aaecc461c9fb63a4progB3v35B52c8t") == \
        "cfunc.xdplab_bpfjit_d3098aaecc461c9fb63a.prog"


# a callgrind file as written with --dump-instr=yes --compress-pos=no --compress-strings=no:
# "address line cost", and after "calls=" a line with the callee's inclusive cost (not ours)
CALLGRIND = """\
version: 1
positions: instr line
events: Ir
ob=/usr/bin/python3.11
fn=main
0x401000 0 7
ob=???
fn=0x0000000000001000
0x1000 0 10
0x1004 0 5
cfn=0x0000000000002000
calls=3 0x2000 0
0x1008 0 999
0x100c 0 2
fn=0x0000000000002000
0x2000 0 4
0x3000 0 6
"""


def test_jit_costs_counts_only_unnamed_code_and_skips_inclusive_call_costs(tmp_path):
    p = tmp_path / "cg.out"
    p.write_text(CALLGRIND)
    assert icount._jit_costs(p) == {0x1000: 10, 0x1004: 5, 0x100c: 2, 0x2000: 4, 0x3000: 6}


def test_attribute_per_function_and_line():
    costs = {0x1000: 10, 0x1004: 5, 0x100c: 2, 0x2000: 4, 0x3000: 6}
    funcs = [(0x1000, 0x10, "_ZN6xdplab2mm9line_maskB2v1"), (0x2000, 0x8, "NRT_incref")]
    lines = [(0x1000, "mm.py:10"), (0x1008, "mm.py:11"), (0x2000, "nrt:0")]
    per_func, per_line = icount._attribute(costs, funcs, lines)
    # 0x3000 lies past the end of every function: not jitted code, not counted
    assert per_func == {"xdplab.mm.line_mask": 17, "NRT_incref": 4}
    assert per_line == {"mm.py:10": 15, "mm.py:11": 2, "nrt:0": 4}


def test_refuses_a_count_too_small_to_mean_anything(capsys):
    with pytest.raises(SystemExit):
        icount.main(["--packets", "10"])
    assert "--packets must be at least 1000" in capsys.readouterr().err
