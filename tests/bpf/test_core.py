"""CO-RE: libbpf's relocations resolved against Linux 6.1's layouts (xdplab.bpf.relo_core).

The test programs (tests/bpf/progs/core_*.c) are built against a vmlinux.h-style header
(vmlinux_min.h) or declare their own preserve_access_index types; each relocation is checked
against the value libbpf computes for 6.1, and the relocated programs are run in the VM and,
where bpf() works, in the host kernel (whose layouts of these uapi types are 6.1's).
"""

import shutil
import struct
import subprocess

import pytest
from conftest import TPROGS, eth, ipv4, sample_packets, tcp, udp

from xdplab.bpf import BpfLoadError, load_object, test_run
from xdplab.bpf.btf import Btf
from xdplab.bpf.oracle import KernelError, KernelObject, KernelRefused, bpf_available
from xdplab.bpf.relo_core import KERNEL_BTF_PATH, POISON_HELPER, kernel_btf


def relos(obj):
    return {(r.kind_name, r.field or r.type_desc): (r.orig, r.new, r.poisoned) for r in obj.core_relos}


def test_kernel_btf_has_61_layouts():
    kb = kernel_btf()
    names = {t[1]: tid for tid, t in enumerate(kb.types) if t[0] == 4}
    for n, size in [("xdp_md", 24), ("ethhdr", 14), ("iphdr", 20), ("ipv6hdr", 40), ("tcphdr", 20),
                    ("udphdr", 8), ("icmphdr", 8), ("vlan_hdr", 4), ("in6_addr", 16), ("bpf_fib_lookup", 64)]:
        assert kb.sizeof(names[n]) == size, n


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang not installed")
def test_kernel_btf_is_what_the_script_builds():
    from xdplab.bpf.gen_kernel_btf import build_btf
    assert build_btf() == KERNEL_BTF_PATH.read_bytes(), \
        "linux61_xdp.h changed: run `python -m xdplab.bpf.gen_kernel_btf` and commit linux61_xdp.btf"


def test_vmlinux_h_program_byte_offsets():
    obj = load_object(TPROGS / "core_parse.o")
    r = relos(obj)
    assert r[("byte_off", "xdp_md.data")] == (0, 0, False)
    assert r[("byte_off", "xdp_md.data_end")] == (4, 4, False)
    assert r[("byte_off", "ethhdr.h_proto")] == (12, 12, False)
    assert r[("byte_off", "iphdr.protocol")] == (9, 9, False)
    # 6.1 has saddr inside an anonymous union (struct_group): matched by name through it
    assert r[("byte_off", "iphdr.saddr")] == (12, 12, False)
    assert r[("byte_off", "ipv6hdr.daddr.in6_u.u6_addr8[15]")] == (39, 39, False)
    assert r[("byte_off", "tcphdr.dest")] == (2, 2, False)
    # bitfields (BPF_CORE_READ_BITFIELD): load offset and size, shifts, signedness
    assert r[("byte_off", "tcphdr.doff")] == (12, 12, False)
    assert r[("byte_sz", "tcphdr.doff")] == (2, 2, False)
    assert r[("lshift_u64", "tcphdr.doff")] == (56, 56, False)
    assert r[("rshift_u64", "tcphdr.doff")] == (60, 60, False)
    assert r[("lshift_u64", "tcphdr.syn")] == (54, 54, False)
    assert r[("rshift_u64", "tcphdr.syn")] == (63, 63, False)
    assert r[("signed", "iphdr.ihl")] == (0, 0, False)
    assert r[("field_exists", "xdp_md.egress_ifindex")] == (1, 1, False)
    assert r[("enumval_exists", "xdp_action::XDP_REDIRECT")] == (1, 1, False)
    assert not obj.load_errors


def test_u64_xdp_md_fields_get_libbpfs_size_rewrite():
    obj = load_object(TPROGS / "core_u64.o")
    r = relos(obj)
    assert r[("byte_off", "xdp_md.data_end")] == (8, 4, False)
    assert r[("byte_off", "xdp_md.ingress_ifindex")] == (16, 12, False)
    assert r[("byte_off", "ethhdr___local.h_source[5]")] == (11, 11, False)     # flavour suffix dropped
    p = obj.programs["xdp_u64_ctx"]
    txt = p.disasm(source=False)
    assert "r3 = *(u32 *)(r1 +4)" in txt and "*(u64 *)(r1" not in txt
    pkt = eth() + ipv4() + tcp()
    assert test_run(p, pkt, mode="python").retval == 3            # h_source[5] == 0x66, ifindex 1
    assert test_run(p, pkt, ingress_ifindex=2, mode="python").retval == 2
    assert test_run(p, pkt[:14], mode="python").retval == 3


def test_missing_field_poisons_only_what_reaches_it():
    obj = load_object(TPROGS / "core_u64.o")
    r = relos(obj)
    assert r[("field_exists", "bpf_fib_lookup___new.tbid")] == (1, 0, False)
    assert r[("byte_off", "bpf_fib_lookup___new.tbid")][2] is True
    pkt = eth() + ipv4() + udp()
    g = test_run(obj.programs["xdp_guarded"], pkt, mode="python")
    assert (g.retval, g.fault) == (2, "")                       # the guard skips the poisoned load
    u = test_run(obj.programs["xdp_unguarded"], pkt, mode="python")
    assert u.retval == 0
    assert f"invalid func unknown#{POISON_HELPER}" in u.fault
    assert "<byte_off> struct bpf_fib_lookup___new.tbid (0:0)" in u.fault
    assert "has no field bpf_fib_lookup___new.tbid" in u.fault


def test_local_type_id_needs_no_kernel_btf():
    obj = load_object(TPROGS / "core_typeid.o")
    (rel,) = obj.core_relos
    assert rel.kind_name == "local_type_id" and rel.type_desc == "struct event"
    test_run(obj.programs["xdp_type_id"], eth() + ipv4(), mode="python")
    tid = obj.maps["type_ids"].lookup(0, as_int=True)
    assert tid == rel.new
    with open(TPROGS / "core_typeid.o", "rb") as f:
        from elftools.elf.elffile import ELFFile
        btf = Btf(ELFFile(f).get_section_by_name(".BTF").data())
    assert btf.type(tid)[1] == "event"


def test_unmatched_relocation_error_names_type_and_field(tmp_path):
    """An inconsistent record (the insn does not hold the local value) is a load error naming it."""
    raw = bytearray((TPROGS / "core_u64.o").read_bytes())
    # make the first program's data_end load use offset 12 instead of 8: libbpf refuses
    i = raw.find(bytes([0x79, 0x13, 0x08, 0x00]))
    assert i > 0
    raw[i + 2] = 12
    with pytest.raises(BpfLoadError, match=r"CO-RE: xdp insn 1 \(CO-RE relocation #0\): unexpected insn offset"):
        load_object(bytes(raw))


def _packets():
    pk = sample_packets(seed=11, n_random=20)
    syn = bytearray(tcp(1000, 22))
    syn[13] = 0x02
    pk += [eth() + ipv4() + bytes(syn), eth() + ipv4(proto=17) + udp(ln=77)]
    return pk


@pytest.mark.parametrize("fname, prog", [("core_parse.o", "xdp_core_parse"), ("core_u64.o", "xdp_u64_ctx"),
                                         ("core_u64.o", "xdp_guarded"), ("core_typeid.o", "xdp_type_id")])
def test_core_programs_match_kernel(fname, prog):
    ok, why = bpf_available()
    if not ok:
        pytest.skip(f"kernel oracle unavailable: {why}")
    obj = load_object(TPROGS / fname)
    try:
        k = KernelObject(obj, programs=[prog])
    except KernelRefused as e:
        pytest.skip(f"host kernel refuses this comparison for its configuration: {e.reason}")
    with k:
        for pkt in _packets():
            kr = k.test_run(prog, pkt)
            vr = test_run(obj.programs[prog], pkt)
            assert vr.fault == ""
            assert (vr.retval, vr.data_out) == (kr[0], kr[1])
        for name, m in obj.maps.items():
            assert dict(m.items()) == k.dump(name)


def test_kernel_also_refuses_a_reachable_poisoned_insn():
    ok, why = bpf_available()
    if not ok:
        pytest.skip(f"kernel oracle unavailable: {why}")
    obj = load_object(TPROGS / "core_u64.o")
    with pytest.raises(KernelError, match=f"invalid func unknown#{POISON_HELPER}"):
        KernelObject(obj, programs=["xdp_unguarded"])
