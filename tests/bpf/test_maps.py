"""User-space map API (bpftool-like) with the kernel's flag semantics and errors."""

import pytest
from conftest import PROGS, TPROGS

from xdplab.bpf import BPF_ANY, BPF_EXIST, BPF_NOEXIST, MapError, load_insns, load_object, test_run

import asm


def mk(t, ks=4, vs=8, n=4):
    return load_insns(asm.mov64(0, 2) + asm.exit_(), maps=[dict(name="m", type=t, key_size=ks, value_size=vs,
                                                                max_entries=n)]).maps["m"]


def test_array():
    m = mk(2)
    assert m.lookup(0, as_int=True) == 0
    m.update(1, 42)
    assert m.lookup(1, as_int=True) == 42
    with pytest.raises(MapError) as e:
        m.update(1, 5, BPF_NOEXIST)
    assert e.value.errno == 17
    with pytest.raises(MapError) as e:
        m.update(4, 5)
    assert e.value.errno == 7                      # E2BIG
    with pytest.raises(MapError) as e:
        m.delete(1)
    assert e.value.errno == 22                     # arrays: EINVAL
    with pytest.raises(MapError) as e:
        m.update(1, 5, 7)
    assert e.value.errno == 22
    with pytest.raises(KeyError):
        m.lookup(9)
    assert list(m.keys(as_int=True)) == [0, 1, 2, 3]
    with pytest.raises(ValueError):
        m.update(0, b"abc")


@pytest.mark.parametrize("t", [1, 5, 9])
def test_hash_flags(t):
    m = mk(t, n=3)
    m.update(b"\x01\0\0\0", 1)
    with pytest.raises(MapError) as e:
        m.update(1, 2, BPF_NOEXIST)
    assert e.value.errno == 17
    with pytest.raises(MapError) as e:
        m.update(7, 2, BPF_EXIST)
    assert e.value.errno == 2
    m.update(1, 3, BPF_EXIST)
    m.update(2, 3)
    m.update(3, 3)
    if t == 9:
        m.update(4, 4)                             # LRU: evicts the least recently used (key 1)
        assert 1 not in m.dump(as_int=True)
    else:
        with pytest.raises(MapError) as e:
            m.update(4, 4)
        assert e.value.errno == 7
        m.delete(1)
        m.update(4, 4)
    with pytest.raises(MapError) as e:
        m.delete(99)
    assert e.value.errno == 2
    assert len(m.dump()) == 3


def test_percpu_values_per_cpu():
    m = mk(6, n=2)
    m.update(0, [5, 6])
    assert m.lookup(0, as_int=True) == [5, 6]
    m.update(1, 9)
    assert m.lookup(1, as_int=True) == [9, 9]
    assert "value (CPU 01)" in m.format()
    h = mk(5, n=2)
    h.update(3, [1, 2])
    assert h.dump(as_int=True) == {3: [1, 2]}


def test_prog_array_devmap_cpumap_xskmap():
    obj = load_object(TPROGS / "tailcall.o")
    j = obj.maps["jmp"]
    j.update(1, obj.programs["xdp_drop_it"])
    assert j.lookup(1) is obj.programs["xdp_drop_it"]
    with pytest.raises(MapError):
        j.update(1, obj.programs["xdp_drop_it"], BPF_NOEXIST)
    j.delete(1)
    with pytest.raises(MapError) as e:
        j.delete(1)
    assert e.value.errno == 2
    d = load_object(PROGS / "redirect_map.o").maps["tx_port"]
    with pytest.raises(MapError) as e:
        d.update(0, 3, BPF_NOEXIST)
    assert e.value.errno == 17
    d.update(0, 3)
    assert d.lookup(0, as_int=True) == 3
    d.update(0, 0)                                     # ifindex 0 clears the slot
    assert d.get(0) is None
    c = load_object(PROGS / "redirect_cpu.o").maps["cpu_map"]
    with pytest.raises(MapError) as e:
        c.update(0, 20000)
    assert e.value.errno == 75                         # EOVERFLOW
    c.update(1, 192)
    assert c.lookup(1, as_int=True) == 192
    x = load_object(PROGS / "xsk_redirect.o").maps["xsks_map"]
    with pytest.raises(MapError) as e:
        x.update(0, 5, BPF_EXIST)
    assert e.value.errno == 2
    x.update(0, 5)
    assert x.dump(as_int=True) == {0: 5}


def test_redirect_helpers_write_redirect_info():
    from xdplab.xdp_abi import (ENV_RI_MAP_ID, ENV_RI_MAP_TYPE, ENV_RI_TGT_INDEX, ENV_RI_TGT_VALUE,
                                XDP_PASS, XDP_REDIRECT)
    obj = load_object(PROGS / "redirect_map.o")
    p = obj.programs["xdp_redirect_map"]
    assert test_run(p, bytes(60)).retval == XDP_PASS          # empty slot -> fallback from flags
    obj.maps["tx_port"].update(0, 7)
    r = test_run(p, bytes(60))
    assert r.retval == XDP_REDIRECT
    assert (r.env[ENV_RI_TGT_INDEX], r.env[ENV_RI_MAP_TYPE], r.env[ENV_RI_TGT_VALUE]) == (0, 14, 7)
    assert r.env[ENV_RI_MAP_ID] == obj.maps["tx_port"].id
    cpu = load_object(PROGS / "redirect_cpu.o")
    assert test_run(cpu.programs["xdp_redirect_cpu"], bytes(60)).retval == 0   # miss, flags 0 -> ABORTED
    cpu.maps["cpu_map"].update(1, 192)
    r = test_run(cpu.programs["xdp_redirect_cpu"], bytes(60))
    assert r.retval == XDP_REDIRECT and r.env[ENV_RI_TGT_VALUE] == 1 and r.env[ENV_RI_MAP_TYPE] == 16
    cpu.set_global("dest_cpu", 0)
    assert test_run(cpu.programs["xdp_redirect_cpu"], bytes(60)).retval == 0
    xsk = load_object(PROGS / "xsk_redirect.o")
    xsk.maps["xsks_map"].update(2, 11)
    assert test_run(xsk.programs["xdp_sock_prog"], bytes(60), rx_queue_index=2).retval == XDP_REDIRECT
    assert test_run(xsk.programs["xdp_sock_prog"], bytes(60), rx_queue_index=1).retval == XDP_PASS


def test_redirect_flags():
    from xdplab.xdp_abi import ENV_RI_MAP_ID
    # r1 = map; r2 = 0; r3 = flags; call redirect_map; exit
    for flags, want in [(0, 0), (1, 1), (2, 2), (3, 3), (4, 0), (0x20, 0)]:
        obj = load_insns(asm.ld_map(1, 0) + asm.mov64(2, 5) + asm.mov64(3, flags) + asm.call(51) + asm.exit_(),
                         maps=[dict(type=14, key_size=4, value_size=4, max_entries=4)])
        r = test_run(obj.programs["prog"], bytes(20))
        assert r.retval == want, flags
    obj = load_insns(asm.mov64(1, 3) + asm.mov64(2, 1) + asm.call(23) + asm.exit_())
    assert test_run(obj.programs["prog"], bytes(20)).retval == 0          # bpf_redirect: flags -> ABORTED
    obj = load_insns(asm.mov64(1, 3) + asm.mov64(2, 0) + asm.call(23) + asm.exit_())
    r = test_run(obj.programs["prog"], bytes(20))
    assert r.retval == 4 and r.env[ENV_RI_MAP_ID] == 0x7FFFFFFF
