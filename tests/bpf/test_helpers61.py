"""Helpers Linux 6.1 offers XDP programs that xdplab once refused: bpf_map_lookup_percpu_elem,
bpf_jiffies64, bpf_ktime_get_tai_ns (tests/bpf/progs/percpu_clock.c).  Exact values in the VM
(interpreted and translated); the per-CPU lookups compared with the host kernel where bpf() works."""

import os
import struct

import pytest
from conftest import TPROGS, sample_packets

from xdplab.bpf import NR_CPUS, load_object, test_run
from xdplab.bpf.verifier import verify_program
from xdplab.bpf.vm import CONFIG_HZ, INITIAL_JIFFIES, TAI_AT_BOOT_NS

OBJ = TPROGS / "percpu_clock.o"
PROG = "xdp_percpu_clock"
NULL = 2**64 - 1                  # out[0] when the lookup gave NULL ((__u64)-1)


def frame(mapsel, key, cpusel, b3=0):
    return bytes([mapsel, key, cpusel, b3]) + bytes(56)


def _obj(jit):
    obj = load_object(OBJ)
    if jit:
        obj.programs[PROG].jit()
    return obj


def test_verified_not_refused():
    obj = load_object(OBJ)
    from xdplab.bpf.loader import read_object
    eo = read_object(OBJ)
    v = verify_program(eo.progs[0], eo.maps, raise_on_reject=False)
    assert v.verdict == "accept", v


def test_constants_are_debian12_arm64():
    assert CONFIG_HZ == 250
    assert INITIAL_JIFFIES == 2**32 - 300 * 250      # include/linux/jiffies.h, 64-bit jiffies


@pytest.mark.parametrize("jit", [False, True], ids=["interp", "jit"])
def test_clock_helpers_from_the_board_clock(jit):
    obj = _obj(jit)
    now = 1_234_567_890_123                               # 1234.57 s after boot
    r = test_run(obj.programs[PROG], frame(0, 0, 0), now_ns=now)
    assert r.fault == ""
    clk = obj.maps["clk"]
    assert clk.lookup(0, as_int=True) == 4_294_892_296 + 308_641    # INITIAL_JIFFIES + now // 4 ms
    assert clk.lookup(1, as_int=True) == 1_686_355_200_000_000_000 + now
    assert clk.lookup(1, as_int=True) == TAI_AT_BOOT_NS + now
    assert clk.lookup(2, as_int=True) == now
    # one tick later: one more jiffy; just before: the same
    test_run(obj.programs[PROG], frame(0, 0, 0), now_ns=now - now % 4_000_000 + 3_999_999)
    assert clk.lookup(0, as_int=True) == 4_294_892_296 + 308_641
    test_run(obj.programs[PROG], frame(0, 0, 0), now_ns=now - now % 4_000_000 + 4_000_000)
    assert clk.lookup(0, as_int=True) == 4_294_892_296 + 308_642
    assert obj.maps["out"].lookup(1, as_int=True) == 1 and obj.maps["out"].lookup(2, as_int=True) == 1


@pytest.mark.parametrize("jit", [False, True], ids=["interp", "jit"])
def test_lookup_percpu_elem(jit):
    obj = _obj(jit)
    prog = obj.programs[PROG]
    obj.maps["pa"].update(2, [5, 7])
    obj.maps["ph"].update(3, [40, 41])
    out = obj.maps["out"]

    def run(*f):
        r = test_run(prog, frame(*f))
        assert r.fault == ""
        return r.retval, out.lookup(0, as_int=True)
    assert run(0, 2, 1) == (3, 7)              # PERCPU_ARRAY key 2, CPU 1's copy (this CPU bumps CPU 0's)
    assert run(0, 2, 0) == (3, 7)              # CPU 0's: 5 + 2 bumps
    assert obj.maps["pa"].lookup(2, as_int=True) == [7, 7]
    assert run(0, 2, 2) == (2, NULL)             # cpu 0xffffff00 >= nr_cpu_ids: NULL
    assert run(0, 5, 0) == (2, NULL)             # key past max_entries: NULL
    assert run(1, 3, 1) == (3, 41)             # PERCPU_HASH
    assert run(1, 6, 0) == (3, 1)              # absent key: inserted with 1 on this CPU
    assert run(1, 6, 1) == (3, 0)              # ... and 0 on the other
    assert run(2, 4, 0) == (3, 1)              # LRU_PERCPU_HASH
    assert run(2, 4, 2) == (2, NULL)
    assert obj.maps["lph"].lookup(4, as_int=True) == [2, 0]


def test_lookup_percpu_elem_refuses_a_plain_array():
    """check_map_func_compatibility: only per-CPU arrays and hashes (the kernel's message)."""
    import subprocess
    from xdplab.bpf.progs import clang_command
    from xdplab.bpf import BpfLoadError
    import shutil
    import tempfile
    if shutil.which("clang") is None:
        pytest.skip("clang not installed")
    src = ("#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n"
           "struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u64);"
           " __uint(max_entries, 1); } a SEC(\".maps\");\n"
           "SEC(\"xdp\") int p(struct xdp_md *ctx) { __u32 k = 0; __u64 *v = bpf_map_lookup_percpu_elem(&a, &k, 0);"
           " return v ? *v & 3 : 2; }\nchar _license[] SEC(\"license\") = \"GPL\";\n")
    with tempfile.TemporaryDirectory() as d:
        c = os.path.join(d, "a.c")
        o = os.path.join(d, "a.o")
        open(c, "w").write(src)
        subprocess.run(clang_command(c, o), check=True)
        with pytest.raises(BpfLoadError, match=r"cannot pass map_type 2 into func bpf_map_lookup_percpu_elem#195"):
            load_object(o)
        from xdplab.bpf.oracle import KernelError, KernelObject, bpf_available
        if bpf_available()[0]:                    # the host kernel says the same
            with pytest.raises(KernelError, match=r"cannot pass map_type 2 into func bpf_map_lookup_percpu_elem#195"):
                KernelObject(load_object(o, verify=False))


@pytest.mark.kernel
@pytest.mark.parametrize("jit", [False, True], ids=["interp", "jit"])
def test_percpu_elem_matches_kernel(jit):
    from xdplab.bpf.oracle import KernelObject, KernelRefused, bpf_available, possible_cpus
    ok, why = bpf_available()
    if not ok:
        pytest.skip(f"kernel oracle unavailable: {why}")
    if possible_cpus() < NR_CPUS:
        pytest.skip(f"the host has {possible_cpus()} possible CPUs, the board {NR_CPUS}")
    obj = _obj(jit)
    obj.maps["pa"].update(1, [9, 11])
    obj.maps["ph"].update(2, [3, 4])
    obj.maps["lph"].update(5, [6, 8])
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})                  # this CPU's copies are CPU 0's, as in the VM
    try:
        try:
            k = KernelObject(obj)
        except KernelRefused as e:
            pytest.skip(f"host kernel refuses this comparison for its configuration: {e.reason}")
        packets = [frame(m, key, c, 7) for m in range(3) for key in range(8) for c in range(3)]
        packets += sample_packets(seed=195)
        with k:
            for i, pkt in enumerate(packets):
                kr = k.test_run(PROG, pkt)
                vr = test_run(obj.programs[PROG], pkt)
                assert vr.fault == ""
                assert (vr.retval, vr.data_out) == (kr[0], kr[1]), f"packet {i}: {pkt[:4].hex()}"
                assert obj.maps["out"].lookup(0) == k.lookup("out", struct.pack("<I", 0)), f"packet {i}"
            for name in ("pa", "ph", "lph", "out"):
                vm = {kk: (v[:NR_CPUS] if isinstance(v, list) else v) for kk, v in obj.maps[name].items()}
                kern = {kk: (v[:NR_CPUS] if isinstance(v, list) else v) for kk, v in k.dump(name).items()}
                assert vm == kern, name
    finally:
        os.sched_setaffinity(0, old)
