"""Loader: sections, programs, license, maps (BTF and legacy), global data, relocations,
BPF-to-BPF calls, and clear errors for what is not supported."""

import struct

import numpy as np
import pytest
from conftest import PROGS, TPROGS

from xdplab.bpf import BpfLoadError, load_insns, load_object
from xdplab.bpf.maps import (BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_CPUMAP, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_HASH,
                             BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH,
                             BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_XSKMAP)
import asm


def test_all_lab_programs_load():
    names = {}
    for f in sorted(PROGS.glob("*.o")):
        obj = load_object(f)
        assert obj.license == "GPL"
        names[f.stem] = obj
    assert set(names) >= {"xdp_drop", "xdp_pass", "xdp_abort", "ssh_mirror", "xdp2", "redirect_map",
                          "redirect_cpu", "xsk_redirect", "xdp_frags"}
    assert names["xdp_frags"].programs["xdp_frags_count"].frags
    assert names["xdp_frags"].programs["xdp_frags_count"].section == "xdp.frags"
    assert not names["ssh_mirror"].programs["ssh_mirror"].frags


def test_btf_maps_read_from_btf():
    m = load_object(PROGS / "xdp2.o").maps["rxcnt"]
    assert (m.type, m.key_size, m.value_size, m.max_entries) == (BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 256)
    assert load_object(PROGS / "redirect_map.o").maps["tx_port"].type == BPF_MAP_TYPE_DEVMAP
    assert load_object(PROGS / "redirect_cpu.o").maps["cpu_map"].type == BPF_MAP_TYPE_CPUMAP
    assert load_object(PROGS / "xsk_redirect.o").maps["xsks_map"].type == BPF_MAP_TYPE_XSKMAP
    h = load_object(TPROGS / "hashmaps.o").maps
    assert [h[n].type for n in ("h", "ph", "lru", "out")] == [BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_HASH,
                                                              BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_ARRAY]
    pa = load_object(TPROGS / "tailcall.o").maps["jmp"]
    assert (pa.type, pa.key_size, pa.value_size, pa.max_entries) == (BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4)


def test_legacy_maps_custom_section_license():
    obj = load_object(TPROGS / "legacy_maps.o")
    assert obj.license == "Dual BSD/GPL"
    p = obj.programs["count_ifindex"]
    assert p.section == "my_custom_section" and not p.frags
    m = obj.maps["counters"]
    assert (m.type, m.key_size, m.value_size, m.max_entries) == (BPF_MAP_TYPE_ARRAY, 4, 8, 4)
    from xdplab.bpf import test_run
    test_run(p, bytes(60), ingress_ifindex=5)
    assert m.lookup(1, as_int=True) == 1


def test_global_data_and_subprograms():
    obj = load_object(TPROGS / "globals.o")
    assert set(obj.programs) == {"xdp_globals", "xdp_second"}
    assert set(obj.maps) == {".rodata", ".data", ".bss"}
    assert obj.get_global("bytes_seen") == 7 and obj.get_global("verdict_odd") == 1
    from xdplab.bpf import test_run
    r = test_run(obj.programs["xdp_globals"], bytes(60))
    assert r.retval == 1 and obj.get_global("frames") == 1 and obj.get_global("bytes_seen") == 67
    obj.set_global("verdict_odd", 3)                     # like a skeleton's rodata before load
    assert test_run(obj.programs["xdp_globals"], bytes(60)).retval == 2   # frames=2 -> even
    assert test_run(obj.programs["xdp_globals"], bytes(60)).retval == 3
    assert "bpf_trace_printk: frame 1 len 60" in obj.trace_pipe()[0]


def test_section_names():
    from xdplab.bpf.loader import section_frags
    assert section_frags("xdp") == (False, "xdp")
    assert section_frags("xdp.frags") == (True, "xdp")
    assert section_frags("xdp/cpumap") == (False, "xdp/cpumap")
    assert section_frags("xdp.frags/devmap") == (True, "xdp/devmap")
    assert section_frags("xdp.frags/cpumap") == (True, "xdp/cpumap")
    assert section_frags("whatever") == (False, "xdp")


def test_source_lines_in_disasm():
    p = load_object(PROGS / "ssh_mirror.o").programs["ssh_mirror"]
    txt = p.disasm()
    assert "data_end" in txt and "exit" in txt
    assert p.source_line(5).endswith("ssh_mirror.c:26")


@pytest.mark.parametrize("data, msg", [
    (b"hello", "not an ELF file"),
    (b"\x7fELF" + bytes(60), "malformed ELF"),
])
def test_garbage_rejected(data, msg):
    with pytest.raises(BpfLoadError, match=msg):
        load_object(data)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="clang"):
        load_object("/nonexistent/prog.o")


def test_wrong_machine():
    raw = bytearray((PROGS / "xdp_drop.o").read_bytes())
    raw[18:20] = struct.pack("<H", 62)          # EM_X86_64
    with pytest.raises(BpfLoadError, match="not BPF"):
        load_object(bytes(raw))


@pytest.mark.parametrize("insns, msg", [
    (asm.mov64(0, 1), "last insn is not an exit"),
    (asm.call(9) + asm.exit_(), "bpf_skb_store_bytes#9 is not available"),
    (asm.call(100000) + asm.exit_(), "invalid func unknown#100000"),
    (asm.ja(5) + asm.exit_(), "jump out of range"),
    (asm.alu("div", 0, imm=0) + asm.exit_(), "division by zero"),
    (asm.alu("lsh", 0, imm=64) + asm.exit_(), "invalid shift 64"),
    (asm.mov64(10, 0) + asm.exit_(), "frame pointer is read only"),
    ([0x20] + asm.exit_(), "legacy packet access"),
    (asm.ld_map(1, 3) + asm.exit_(), "not pointing to valid bpf_map"),
    ([0xff] + asm.exit_(), "unknown opcode"),
])
def test_verifier_like_rejections(insns, msg):
    with pytest.raises(BpfLoadError, match=msg):
        load_insns(insns)


def test_unsupported_map_type_named():
    # a program that uses the map is refused, naming the map type ...
    with pytest.raises(BpfLoadError, match="uses map 'map0': type BPF_MAP_TYPE_LPM_TRIE is not supported"):
        load_insns(asm.ld_map(1, 0) + asm.mov64(0, 2) + asm.exit_(),
                   maps=[dict(type=11, key_size=8, value_size=8, max_entries=16)])
    # ... one that does not use it loads (the kernel would create the map; xdplab cannot)
    obj = load_insns(asm.mov64(0, 2) + asm.exit_(), maps=[dict(type=11, key_size=8, value_size=8,
                                                                max_entries=16)])
    with pytest.raises(OSError, match="LPM_TRIE is not supported"):
        obj.maps["map0"].lookup(0)


def test_no_common_lru_accepted():
    lru = dict(type=9, key_size=4, value_size=8, max_entries=5, map_flags=2)
    obj = load_insns(asm.ld_map(1, 0) + asm.mov64(0, 2) + asm.exit_(), maps=[lru])
    assert obj.maps["map0"].max_entries == 6          # rounded up to a multiple of the 2 CPUs
    with pytest.raises(BpfLoadError, match="BPF_F_NO_COMMON_LRU .* for LRU hash maps only"):
        load_insns(asm.mov64(0, 2) + asm.exit_(), maps=[dict(lru, type=1)])


def test_oversized_global_data_and_maps_are_load_errors():
    # a .data section claiming 16 GiB (a mutated globals.o, found by test_fuzz): the kernel's
    # array map refuses a value over KMALLOC_MAX_SIZE; the loader used to allocate it
    raw = bytearray((TPROGS / "globals.o").read_bytes())
    raw[7676] = 4
    with pytest.raises(BpfLoadError, match=r"section \.data: 17179869192 bytes of global data.*KMALLOC_MAX_SIZE"):
        load_object(bytes(raw))
    # maps that are each allowed but too big together: the biggest is named, with the fix
    maps = [dict(name="small", type=BPF_MAP_TYPE_ARRAY, key_size=4, value_size=8, max_entries=16),
            dict(name="huge", type=BPF_MAP_TYPE_PERCPU_ARRAY, key_size=4, value_size=65536, max_entries=1 << 20)]
    with pytest.raises(BpfLoadError, match="map 'huge' alone takes 131072 MiB.*lower its max_entries"):
        load_insns(asm.mov64(0, 2) + asm.exit_(), maps=maps)
    maps[1]["max_entries"] = 1024           # 128 MiB with its two per-CPU copies: loads
    assert load_insns(asm.mov64(0, 2) + asm.exit_(), maps=maps).maps


def test_mutated_objects_never_crash():
    rnd = np.random.default_rng(7)
    base = (PROGS / "xdp2.o").read_bytes()
    for _ in range(200):
        raw = bytearray(base)
        for _ in range(rnd.integers(1, 8)):
            raw[rnd.integers(0, len(raw))] = rnd.integers(0, 256)
        try:
            load_object(bytes(raw))
        except BpfLoadError as e:
            assert str(e)
