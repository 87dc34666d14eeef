"""Real-world program features: perf event output, ring buffers, bpf_loop, bpf_csum_diff
as arm64 6.1 computes it, per-program refusals -- in the VM, and against the host kernel
(BPF_PROG_TEST_RUN, with real perf events and ring buffer pages) where bpf() works.
Programs: tests/bpf/progs/{perf_events,ringbuf,loop,csum_diff}.c.
"""

import os
import struct

import pytest
from conftest import TPROGS, eth, ipv4, sample_packets, tcp, udp

from xdplab.bpf import BpfLoadError, load_object, test_run
from xdplab.bpf.oracle import KernelObject, KernelRefused, bpf_available

_OK, _WHY = bpf_available()
needs_kernel = pytest.mark.skipif(not _OK, reason=f"kernel oracle unavailable: {_WHY}")


@pytest.fixture()
def on_cpu0():
    """BPF_PROG_TEST_RUN runs on the calling CPU: CPU 0, as the VM's runs (ENV_CPU 0)."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    yield
    os.sched_setaffinity(0, old)


def kobj(obj, programs=None):
    try:
        return KernelObject(obj, programs=programs)
    except KernelRefused as e:
        pytest.skip(f"host kernel refuses this comparison for its configuration: {e.reason}")


def ints(m, signed=True):
    """{key: value} of a map (or a kernel dump) as integers; keys signed where the map's are (rets)."""
    items = m.items() if hasattr(m, "items") else m
    ks = getattr(m, "name", "") == "rets"
    return {int.from_bytes(k, "little", signed=ks): int.from_bytes(v, "little", signed=signed) for k, v in items}


def frames():
    pk = [eth() + ipv4() + tcp(1000, 80), eth() + ipv4() + tcp(1000, 9), eth() + ipv4(proto=17) + udp(),
          eth(proto=0x86dd) + bytes(60), eth() + ipv4() + tcp(22, 1) + b"x" * 100]
    return pk + sample_packets(seed=3, n_random=8)


# ---------------------------------------------------------------------------------------- perf
def test_perf_event_output_records():
    obj = load_object(TPROGS / "perf_events.o")
    ev = obj.maps["events"]
    assert (ev.type_name, ev.key_size, ev.value_size, ev.max_entries) == ("perf_event_array", 4, 4, 2)
    pkt = eth() + ipv4() + tcp() + bytes(100)
    test_run(obj.programs["xdp_capture"], pkt, ingress_ifindex=3)
    test_run(obj.programs["xdp_capture"], pkt[:20])
    (a, b) = ev.records()
    assert a == {"cpu": 0, "data": struct.pack("<IHH", 3, len(pkt), 0x0800) + pkt[:64]}
    assert b == {"cpu": 0, "data": struct.pack("<IHH", 1, 20, 0x0800) + pkt[:20]}
    assert ev.records() == []                                   # consumed
    assert ints(obj.maps["rets"]) == {0: 2}
    # a full ring loses records: -ENOSPC, counted
    for _ in range(300):
        test_run(obj.programs["xdp_capture"], pkt)
    assert ev.lost > 0 and ints(obj.maps["rets"])[-28] == ev.lost
    assert len(ev.records()) == 300 - ev.lost


@needs_kernel
def test_perf_event_output_matches_kernel(on_cpu0):
    obj = load_object(TPROGS / "perf_events.o")
    with kobj(obj) as k:
        rd = k.open_perf("events", cpu=0)
        for pkt in frames():
            kr = k.test_run("xdp_capture", pkt)
            vr = test_run(obj.programs["xdp_capture"], pkt)
            assert (vr.retval, vr.data_out) == (kr[0], kr[1])
        krec = rd.records()
        vrec = obj.maps["events"].records()
        assert len(krec) == len(vrec) > 0
        for kk, vv in zip(krec, vrec):
            n = len(vv["data"])
            # the kernel pads a raw sample (with its u32 size) to 8 bytes
            assert kk["data"][:n] == vv["data"] and len(kk["data"]) == ((n + 4 + 7) & ~7) - 4
        kd = {int.from_bytes(a, "little", signed=True): int.from_bytes(b, "little") for a, b in k.dump("rets").items()}
        assert ints(obj.maps["rets"]) == kd


@needs_kernel
def test_perf_event_output_without_a_reader_is_enoent(on_cpu0):
    """No perf event in the slot: -ENOENT, as in the kernel (the VM's slot 0 closed)."""
    obj = load_object(TPROGS / "perf_events.o")
    obj.state.elems[int(obj.state.maps[obj.maps["events"].index, 10]), 0] = 0    # MAP_EBASE: no reader
    with kobj(obj) as k:
        pkt = eth() + ipv4() + tcp()
        k.test_run("xdp_capture", pkt)
        test_run(obj.programs["xdp_capture"], pkt)
        kr = {int.from_bytes(a, "little", signed=True): int.from_bytes(b, "little") for a, b in k.dump("rets").items()}
        assert ints(obj.maps["rets"]) == kr == {-2: 1}


# ---------------------------------------------------------------------------------------- ringbuf
def test_ringbuf_reserve_submit_discard_output():
    obj = load_object(TPROGS / "ringbuf.o")
    rb = obj.maps["rb"]
    assert (rb.type_name, rb.key_size, rb.value_size, rb.max_entries) == ("ringbuf", 0, 0, 4096)
    p = obj.programs["xdp_ringbuf"]
    syn = eth() + ipv4(src=(1, 2, 3, 4)) + tcp(1000, 80)
    test_run(p, syn)
    test_run(p, eth() + ipv4() + tcp(1000, 9))                 # discarded
    u = eth() + ipv4(proto=17) + udp()
    test_run(p, u)
    assert test_run(p, u).fault == ""
    assert ints(obj.maps["avail"]) == {0: 24 + 24 + 32 + 32, 1: 4096, 2: 0, 3: 0}
    recs = rb.records()
    assert recs == [{"data": bytes([1, 2, 3, 4, 10, 0, 0, 2]) + struct.pack("!HH", 1000, 80) + bytes([0x10, 0, 0, 0])},
                    {"data": u[14:34]}, {"data": u[14:34]}]
    # full: reserve gives NULL, output -EAGAIN (the ring never fills to its last byte)
    for _ in range(200):
        test_run(p, u)
    assert ints(obj.maps["avail"])[2] == -11
    test_run(p, syn)                     # 127 records of 32 bytes: 24 more still fit (4088 < 4096)
    assert ints(obj.maps["avail"]) == {0: 4088, 1: 4096, 2: -11, 3: 0}
    test_run(p, syn)
    assert ints(obj.maps["avail"])[3] == -1


def test_ringbuf_output_of_packet_memory_is_refused():
    obj = load_object(TPROGS / "ringbuf.o")
    r = test_run(obj.programs["xdp_ringbuf_pkt"], eth() + ipv4())
    assert "helper access to the packet is not allowed" in r.fault and r.retval == 0


@needs_kernel
def test_kernel_refuses_ringbuf_output_of_packet_memory():
    from xdplab.bpf.oracle import KernelError
    with pytest.raises(KernelError, match="helper access to the packet is not allowed"):
        KernelObject(load_object(TPROGS / "ringbuf.o"), programs=["xdp_ringbuf_pkt"])


@needs_kernel
def test_ringbuf_matches_kernel():
    obj = load_object(TPROGS / "ringbuf.o")
    with kobj(obj, programs=["xdp_ringbuf"]) as k:
        for pkt in frames():
            kr = k.test_run("xdp_ringbuf", pkt)
            vr = test_run(obj.programs["xdp_ringbuf"], pkt)
            assert (vr.retval, vr.data_out) == (kr[0], kr[1])
            kd = {int.from_bytes(a, "little"): int.from_bytes(b, "little", signed=True)
                  for a, b in k.dump("avail").items()}
            assert ints(obj.maps["avail"]) == kd
        assert k.ringbuf_records("rb") == obj.maps["rb"].records()


# ---------------------------------------------------------------------------------------- bpf_loop
def test_bpf_loop_callbacks():
    obj = load_object(TPROGS / "loop.o")
    p = obj.programs["xdp_loop"]
    assert not p.jit(), "bpf_loop stays interpreted"
    assert "bpf_loop" in p.jit_error
    r = test_run(p, bytes([5, 1, 2, 3, 4, 5, 6]) + bytes(20))
    assert (r.retval, r.fault) == (1, "")
    assert ints(obj.maps["out"]) == {0: 5, 1: 15, 2: 7, 3: 993}
    r = test_run(p, bytes([200]) + bytes(range(1, 60)))         # stops at the frame's end: i + 1
    assert ints(obj.maps["out"])[0] == 61 and ints(obj.maps["out"])[1] == 200 + sum(range(1, 60))
    r = test_run(p, bytes([3, 7, 0, 9]) + bytes(20))             # stops at a zero byte
    assert ints(obj.maps["out"])[0] == 3 and ints(obj.maps["out"])[1] == 3 + 7      # i = 2 returned 1


@needs_kernel
def test_bpf_loop_matches_kernel():
    obj = load_object(TPROGS / "loop.o")
    with kobj(obj) as k:
        for pkt in frames() + [bytes([n]) + bytes(range(1, 255)) for n in (0, 1, 17, 255)]:
            kr = k.test_run("xdp_loop", pkt)
            vr = test_run(obj.programs["xdp_loop"], pkt)
            assert vr.fault == ""
            assert (vr.retval, vr.data_out) == (kr[0], kr[1])
            assert ints(obj.maps["out"]) == {int.from_bytes(a, "little"): int.from_bytes(b, "little", signed=True)
                                             for a, b in k.dump("out").items()}


# ---------------------------------------------------------------------------------------- csum_diff
def _words16(b):
    return [int.from_bytes(b[i:i + 2], "little") for i in range(0, len(b), 2)]


def csum_arm64_61(frm: bytes, to: bytes, seed: int) -> int:
    """arm64 6.1, written out independently of the VM: the 16-bit ones'-complement sum of
    ~from and to (do_csum), plus the seed with the carry added back (lib/checksum.c)."""
    inv = bytes(x ^ 0xFF for x in frm)
    s = sum(_words16(inv + to))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    r = s + seed
    return (r & 0xFFFFFFFF) + 1 if r > 0xFFFFFFFF else r


def test_csum_diff_known_vectors():
    obj = load_object(TPROGS / "csum_diff.o")
    pkt = bytes(range(1, 21)) + bytes(10)
    test_run(obj.programs["xdp_csum_diff"], pkt)
    got = ints(obj.maps["res"], signed=False)
    assert got[1] == 0x3430                       # 0x0a09 + 0x0c0b + 0x0e0d + 0x100f
    assert got[3] == 0x1010                       # ~0x04030201 + 0x0c0b0a09, folded to 16 bits
    seed = 0x14131211
    assert got[0] == csum_arm64_61(pkt[:8], pkt[8:16], seed) == 0x14133231
    assert got[2] == csum_arm64_61(pkt[:8], b"", seed)
    # a seed that carries out of 32 bits: the carry comes back in
    pkt2 = bytes(16) + b"\xff\xff\xff\xff"
    test_run(obj.programs["xdp_csum_diff"], pkt2)
    assert ints(obj.maps["res"], signed=False)[2] == csum_arm64_61(bytes(8), b"", 0xFFFFFFFF) == 0xFFFF


@needs_kernel
def test_csum_diff_against_host_kernel():
    """The host kernel is x86-64 (6.18 here): since 6.13 it folds the result to 16 bits whatever
    the seed, so its raw value differs from arm64 6.1's whenever the seed is not 0; both are the
    same ones'-complement number (equal modulo 0xffff), which is all a program that folds sees.
    Noted on this host (x86-64, 6.18): for bytes 1..20, res = [0x4644, 0x3430, 0x1214, 0x1010] in
    the kernel, [0x14133231, 0x3430, 0x1413FE00, 0x1010] on arm64 6.1 (0x14133231 = 0x4644 mod 0xffff)."""
    obj = load_object(TPROGS / "csum_diff.o")
    with kobj(obj) as k:
        for pkt in [bytes(range(1, 21)) + bytes(10), bytes(16) + b"\xff" * 4, bytes(20), b"\xff" * 20,
                    bytes(range(200, 220)) + bytes(10)]:
            k.test_run("xdp_csum_diff", pkt)
            test_run(obj.programs["xdp_csum_diff"], pkt)
            kr = {int.from_bytes(a, "little"): int.from_bytes(b, "little") for a, b in k.dump("res").items()}
            vm = ints(obj.maps["res"], signed=False)
            if pkt[:2] == b"\x01\x02" and os.uname().release.split(".")[:2] >= ["6", "13"]:
                assert [kr[i] for i in range(4)] == [0x4644, 0x3430, 0x1214, 0x1010]
                assert [vm[i] for i in range(4)] == [0x14133231, 0x3430, 0x1413FE00, 0x1010]
            for i in range(4):
                assert vm[i] % 0xFFFF == kr[i] % 0xFFFF, (pkt.hex(), i, hex(vm[i]), hex(kr[i]))
                if os.uname().release.split(".")[:2] >= ["6", "13"]:
                    assert kr[i] <= 0xFFFF


# ---------------------------------------------------------------------------------------- map-in-map
def test_map_in_map_static_slots_and_user_updates():
    obj = load_object(TPROGS / "map_in_map.o")
    outer, by_key = obj.maps["outer"], obj.maps["by_key"]
    assert {k: v.name for k, v in outer.items(as_int=False)} == {b"\0\0\0\0": "inner_a", b"\2\0\0\0": "inner_b"}
    p = obj.programs["xdp_map_in_map"]
    assert test_run(p, bytes([0, 1, 7]) + bytes(20)).retval == 2
    assert test_run(p, bytes([1, 1, 7]) + bytes(20)).retval == 1           # empty slot: NULL -> drop
    assert test_run(p, bytes([2, 3, 7]) + bytes(20)).retval == 2
    by_key.update(7, obj.maps["inner_c"])
    assert test_run(p, bytes([2, 3, 7]) + bytes(20)).retval == 3
    assert obj.maps["inner_a"].dump(as_int=True) == {0: 0, 1: 1, 2: 0, 3: 0}
    assert obj.maps["inner_b"].dump(as_int=True) == {0: 0, 1: 0, 2: 0, 3: 2}
    assert obj.maps["inner_c"].dump(as_int=True)[3] == 100
    assert "value: map 'inner_a'" in outer.format()
    with pytest.raises(OSError, match="holds maps of the same object"):
        outer.update(1, 5)


@needs_kernel
def test_map_in_map_matches_kernel():
    obj = load_object(TPROGS / "map_in_map.o")
    obj.maps["by_key"].update(7, obj.maps["inner_c"])
    obj.maps["by_key"].update(9, "inner_a")
    pk = [bytes([a, b, c]) + bytes(20) for a in range(4) for b in range(4) for c in (7, 8, 9)]
    with kobj(obj) as k:
        for pkt in pk + frames():
            kr = k.test_run("xdp_map_in_map", pkt)
            vr = test_run(obj.programs["xdp_map_in_map"], pkt)
            assert (vr.retval, vr.data_out) == (kr[0], kr[1])
        for name in ("inner_a", "inner_b", "inner_c"):
            assert dict(obj.maps[name].items()) == k.dump(name)


# ---------------------------------------------------------------------------------------- fib_lookup
def _last(obj):
    return ints(obj.maps["last"])


def test_fib_lookup_return_codes_and_outputs():
    obj = load_object(TPROGS / "fib_router.o")
    p = obj.programs["xdp_router"]
    pkt = eth() + ipv4(dst=(10, 1, 2, 3), total=40) + tcp()
    r = test_run(p, pkt, ingress_ifindex=2)
    assert (r.retval, _last(obj)[0]) == (2, 4)                       # no route: NOT_FWDED
    obj.fib.add_route("10.1.0.0/16", dev=2, gw="192.168.1.254", metric=7)
    obj.fib.add_route("10.0.0.0/8", dev=1)
    r = test_run(p, pkt, ingress_ifindex=2)
    gw = int.from_bytes(bytes([192, 168, 1, 254]), "little")
    assert _last(obj) == {0: 7, 1: 2, 2: 40, 3: gw}                  # NO_NEIGH, with ifindex, gw filled
    obj.fib.add_neigh("192.168.1.254", dev=2, mac="02:00:00:00:00:fe")
    r = test_run(p, pkt, ingress_ifindex=2)
    assert r.retval == 4 and r.env[3] == 2                            # XDP_REDIRECT to ifindex 2
    assert _last(obj) == {0: 0, 1: 2, 2: 1500, 3: gw}                # mtu_result: the device's MTU
    assert r.data_out[:12] == bytes.fromhex("0200000000fe" "020000000002")
    assert r.data_out[14 + 8] == 63                                   # TTL decremented
    # longest prefix wins: 10.9.9.9 goes via the /8 on lo, no neighbour there
    test_run(p, eth() + ipv4(dst=(10, 9, 9, 9)) + tcp(), ingress_ifindex=2)
    assert _last(obj)[0] == 7 and _last(obj)[1] == 1
    # MTU: a 2000-byte IPv4 total length through a 1500 MTU
    test_run(p, eth() + ipv4(dst=(10, 1, 2, 3), total=2000) + tcp(), ingress_ifindex=2)
    assert _last(obj)[0] == 8 and _last(obj)[2] == 1500              # FRAG_NEEDED, mtu_result
    # route types, forwarding off, an unknown device
    obj.fib.add_route("10.1.2.0/24", type="blackhole")
    test_run(p, pkt, ingress_ifindex=2)
    assert _last(obj)[0] == 1                                         # BLACKHOLE
    obj.fib.add_route("10.1.2.3/32", type="prohibit")
    test_run(p, pkt, ingress_ifindex=2)
    assert _last(obj)[0] == 3                                         # PROHIBIT
    obj.fib.set_forwarding(2, False)
    test_run(p, pkt, ingress_ifindex=2)
    assert _last(obj)[0] == 5                                         # FWD_DISABLED
    test_run(p, pkt, ingress_ifindex=9)
    assert _last(obj)[0] == -19                                       # -ENODEV


def test_fib_lookup_ipv6():
    obj = load_object(TPROGS / "fib_router.o")
    p = obj.programs["xdp_router"]
    dst = bytes.fromhex("20010db8000000010000000000000042")
    pkt = eth(proto=0x86DD) + bytes([0x60, 0, 0, 0, 0, 20, 6, 64]) + bytes(15) + b"\x01" + dst + tcp()
    obj.fib.add_route("2001:db8:0:1::/64", dev=2)
    obj.fib.add_neigh("2001:db8:0:1::42", dev=2, mac="02:00:00:00:00:42")
    r = test_run(p, pkt, ingress_ifindex=2)
    assert _last(obj)[0] == 0 and r.retval == 4
    assert r.data_out[:6] == bytes.fromhex("020000000042") and r.data_out[14 + 7] == 63


def test_refusal_is_per_program():
    """fib_router.o's second program calls bpf_strncmp (not in xdplab): it alone does not
    load, and asking for it names it and the helper; the router loads and runs."""
    obj = load_object(TPROGS / "fib_router.o")
    assert list(obj.load_errors) == ["xdp_strncmp"]
    assert "bpf_strncmp#182 is not available" in obj.load_errors["xdp_strncmp"]
    with pytest.raises(BpfLoadError, match=r"program 'xdp_strncmp' \(section xdp\): helper bpf_strncmp#182"):
        obj.program("xdp_strncmp")
    with pytest.raises(BpfLoadError, match="xdp_strncmp"):
        test_run(obj.programs["xdp_strncmp"], eth() + ipv4())
    assert test_run(obj.program("xdp_router"), eth() + ipv4() + tcp(), ingress_ifindex=2).fault == ""


# ---------------------------------------------------------------------------------------- translated
@pytest.mark.parametrize("fname, prog, setup", [
    ("perf_events.o", "xdp_capture", None), ("ringbuf.o", "xdp_ringbuf", None),
    ("map_in_map.o", "xdp_map_in_map", "mim"), ("fib_router.o", "xdp_router", "fib"),
    ("csum_diff.o", "xdp_csum_diff", None), ("core_parse.o", "xdp_core_parse", None)])
def test_translated_programs_match_the_interpreter(fname, prog, setup):
    """The new helpers reach translated code through the interpreter's helper call: same
    verdicts, frames, maps and records."""
    def run(jit):
        obj = load_object(TPROGS / fname)
        if setup == "mim":
            obj.maps["by_key"].update(7, obj.maps["inner_c"])
        if setup == "fib":
            obj.fib.add_route("10.0.0.0/8", dev=2, gw="192.168.1.1")
            obj.fib.add_neigh("192.168.1.1", dev=2, mac="02:00:00:00:00:01")
        p = obj.programs[prog]
        if jit:
            assert p.jit(), p.jit_error
        res = [(r.retval, r.data_out, r.fault) for r in (test_run(p, pkt, ingress_ifindex=2) for pkt in
                                                           frames() + [bytes([2, 3, 7]) + bytes(40)])]
        maps = {n: (m.records() if m.type in (4, 27) else dict(m.items())) for n, m in obj.maps.items()
                if m.type not in (12, 13)}
        return res, maps
    assert run(False) == run(True)


@needs_kernel
def test_fib_lookup_matches_kernel():
    """fib_router.o in the kernel, in a network namespace of its own (a veth, routes via
    gateways, blackhole/prohibit/unreachable routes, neighbours, IPv6), and in the VM with
    obj.fib set to the same: the same return codes, outputs and rewritten frames."""
    import json
    import shutil
    import subprocess
    import sys
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (iproute2) to give the kernel routes of its own")
    probe = subprocess.run(["unshare", "-n", "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a network namespace with a veth here: {probe.stderr.strip()}")
    r = subprocess.run(["unshare", "-n", sys.executable, str(TPROGS.parent / "fib_netns.py")],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = json.loads(r.stdout)
    assert len(rows) == 16
    for row in rows:
        assert row["fault"] == ""
        k, v = row["kernel"], row["vm"]
        k[2] = {int(a): b for a, b in k[2].items()}
        v[2] = {int(a): b for a, b in v[2].items()}
        assert v == k, row["frame"]
    codes = sorted({row["kernel"][2][0] for row in rows})
    assert codes == [0, 1, 2, 3, 4, 7, 8]        # success, blackhole, unreachable, prohibit, not fwded, no neigh, frag
