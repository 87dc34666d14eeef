"""BPF_MAP_TYPE_QUEUE / STACK with bpf_map_push_elem, _pop_elem, _peek_elem
(kernel/bpf/queue_stack_maps.c), tests/bpf/progs/queue_stack.c: exact results in the VM
(interpreted and translated), the Python map API, and the same frames against the host kernel."""

import os
import random
import struct

import pytest
from conftest import TPROGS

from xdplab.bpf import BPF_EXIST, BpfLoadError, MapError, load_object, test_run
from xdplab.bpf.loader import read_object
from xdplab.bpf.verifier import verify_program

OBJ = TPROGS / "queue_stack.o"
PROG = "xdp_queue_stack"
PUSH_Q, POP_Q, PEEK_Q, PUSH_S, POP_S, PEEK_S, POP_Q_MV = range(7)
FLAGS = {0: 0, 1: 1, 2: 2, 4: 3}                 # the push flags -> byte 9 (the program maps 3 to 4)


def frame(op, value=0, flags=0):
    return bytes([op]) + struct.pack("<Q", value) + bytes([FLAGS[flags]]) + bytes(50)


def _obj(jit):
    obj = load_object(OBJ)
    if jit:
        obj.programs[PROG].jit()
    return obj


def _run(obj, op, value=0, flags=0):
    r = test_run(obj.programs[PROG], frame(op, value, flags))
    assert r.fault == ""
    out = obj.maps["out"]
    return out.lookup(0, as_int=True) - (1 << 64 if out.lookup(0, as_int=True) >> 63 else 0), \
        out.lookup(1, as_int=True), r


def test_verified_not_refused():
    eo = read_object(OBJ)
    v = verify_program(eo.progs[0], eo.maps, raise_on_reject=False)
    assert v.verdict == "accept", v


@pytest.mark.parametrize("jit", [False, True], ids=["interp", "jit"])
def test_queue_fifo_stack_lifo(jit):
    obj = _obj(jit)
    for v in (11, 12, 13, 14):
        assert _run(obj, PUSH_Q, v)[0] == 0
    assert _run(obj, PUSH_Q, 15)[0] == -7                 # full: -E2BIG
    assert _run(obj, PUSH_Q, 15, flags=BPF_EXIST)[0] == 0   # BPF_EXIST: the oldest (11) goes
    assert _run(obj, PUSH_Q, 16, flags=1)[0] == -22        # BPF_NOEXIST: -EINVAL
    assert _run(obj, PUSH_Q, 16, flags=4)[0] == -22        # an unknown flag
    assert obj.maps["q"].values(as_int=True) == [12, 13, 14, 15]
    assert _run(obj, PEEK_Q)[:2] == (0, 12)
    assert [_run(obj, POP_Q)[:2] for _ in range(5)] == [(0, 12), (0, 13), (0, 14), (0, 15), (-2, 0)]
    assert _run(obj, PEEK_Q)[:2] == (-2, 0)                # empty: -ENOENT, the value zeroed
    for v in (21, 22, 23):
        assert _run(obj, PUSH_S, v)[0] == 0
    assert _run(obj, PUSH_S, 24)[0] == -7
    assert _run(obj, PUSH_S, 24, flags=BPF_EXIST)[0] == 0  # drops the bottom (21), as the ring does
    assert obj.maps["s"].values(as_int=True) == [24, 23, 22]
    assert _run(obj, PEEK_S)[:2] == (0, 24)
    assert [_run(obj, POP_S)[:2] for _ in range(4)] == [(0, 24), (0, 23), (0, 22), (-2, 0)]
    # a pop into a map value (out[1])
    obj.maps["q"].push(0x0102030405060708)
    rc, v, r = _run(obj, POP_Q_MV)
    assert (rc, v, r.retval) == (0, 0x0102030405060708, 1)
    assert _run(obj, POP_Q_MV)[:2] == (-2, 0)


def test_python_api():
    obj = load_object(OBJ)
    q, s = obj.maps["q"], obj.maps["s"]
    assert (q.key_size, q.value_size, q.max_entries) == (0, 8, 4)
    for v in range(4):
        q.push(v)
    with pytest.raises(MapError, match="E2BIG") as e:
        q.push(9)
    assert e.value.errno == 7
    q.push(9, BPF_EXIST)
    assert q.peek(as_int=True) == 1 and q.values(as_int=True) == [1, 2, 3, 9]
    assert [q.pop(as_int=True) for _ in range(4)] == [1, 2, 3, 9]
    with pytest.raises(MapError) as e:
        q.pop()
    assert e.value.errno == 2
    with pytest.raises(MapError) as e:
        q.push(1, 1)
    assert e.value.errno == 22
    s.push(b"\x01" * 8)
    s.push(b"\x02" * 8)
    assert s.pop() == b"\x02" * 8 and s.values() == [b"\x01" * 8]
    assert q.dump() == {} and list(q.keys()) == []
    with pytest.raises(MapError, match="push"):
        q.update(0, 1)
    with pytest.raises(TypeError):
        obj.maps["out"].push(1)


def _compile(tmp_path, body):
    import shutil
    import subprocess
    from xdplab.bpf.progs import clang_command
    if shutil.which("clang") is None:
        pytest.skip("clang not installed")
    c = tmp_path / "a.c"
    c.write_text("#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n" + body +
                 "\nchar _license[] SEC(\"license\") = \"GPL\";\n")
    subprocess.run(clang_command(c, tmp_path / "a.o"), check=True)
    return tmp_path / "a.o"


def _kernel_says(o, line):
    """Where bpf() works, the host kernel's verifier refuses the object with the same line."""
    from xdplab.bpf.oracle import KernelError, KernelObject, KernelRefused, bpf_available
    if not bpf_available()[0]:
        return
    with pytest.raises(KernelError) as e:
        KernelObject(load_object(o, verify=False))
    if not isinstance(e.value, KernelRefused):    # (refused for the host's own configuration: no comparison)
        assert line in str(e.value)


def test_refusals(tmp_path):
    # a lookup on a queue: its key (key_size 0) is a zero-sized read, refused first (the host kernel
    # says the same); push on an array: check_map_func_compatibility (6.1)
    o = _compile(tmp_path, "struct { __uint(type, BPF_MAP_TYPE_QUEUE); __type(value, __u32); __uint(max_entries, 2); }"
                 " q SEC(\".maps\");\nSEC(\"xdp\") int p(struct xdp_md *c) { __u32 k = 0;"
                 " return bpf_map_lookup_elem(&q, &k) ? 1 : 2; }")
    with pytest.raises(BpfLoadError, match=r"invalid zero-sized read"):
        load_object(o)
    _kernel_says(o, "invalid zero-sized read")
    o = _compile(tmp_path, "struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u32);"
                 " __uint(max_entries, 2); } a SEC(\".maps\");\nSEC(\"xdp\") int p(struct xdp_md *c) { __u32 v = 0;"
                 " return bpf_map_push_elem(&a, &v, 0) ? 1 : 2; }")
    with pytest.raises(BpfLoadError, match=r"cannot pass map_type 2 into func bpf_map_push_elem#87"):
        load_object(o)
    _kernel_says(o, "cannot pass map_type 2 into func bpf_map_push_elem#87")
    o = _compile(tmp_path, "struct { __uint(type, BPF_MAP_TYPE_STACK); __type(key, __u32); __type(value, __u32);"
                 " __uint(max_entries, 2); } s SEC(\".maps\");\nSEC(\"xdp\") int p(struct xdp_md *c) { __u32 v;"
                 " return bpf_map_pop_elem(&s, &v) ? 1 : 2; }")
    with pytest.raises(BpfLoadError, match=r"map 's': a stack map has no key \(key_size 0"):
        load_object(o)
    # no pkt_access: the verifier refuses a packet pointer; loaded unverified, the VM refuses it too
    o = _compile(tmp_path, "struct { __uint(type, BPF_MAP_TYPE_QUEUE); __type(value, __u32); __uint(max_entries, 2); }"
                 " q SEC(\".maps\");\nSEC(\"xdp\") int p(struct xdp_md *c) { void *d = (void *)(long)c->data;"
                 " if (d + 4 > (void *)(long)c->data_end) return 2; return bpf_map_pop_elem(&q, d) ? 1 : 2; }")
    with pytest.raises(BpfLoadError, match=r"helper access to the packet is not allowed"):
        load_object(o)
    _kernel_says(o, "helper access to the packet is not allowed")
    obj = load_object(o, verify=False)
    r = test_run(obj.programs["p"], bytes(60))
    assert "helper access to the packet is not allowed" in r.fault


@pytest.mark.kernel
@pytest.mark.parametrize("jit", [False, True], ids=["interp", "jit"])
def test_matches_kernel(jit):
    from xdplab.bpf.oracle import KernelObject, KernelRefused, bpf_available
    ok, why = bpf_available()
    if not ok:
        pytest.skip(f"kernel oracle unavailable: {why}")
    obj = _obj(jit)
    obj.maps["q"].push(77)
    try:
        k = KernelObject(obj)
    except KernelRefused as e:
        pytest.skip(f"host kernel refuses this comparison for its configuration: {e.reason}")
    rnd = random.Random(87)
    seen = set()
    with k:
        k.push("q", struct.pack("<Q", 77))
        for i in range(300):
            op = rnd.choice([PUSH_Q, PUSH_Q, POP_Q, PEEK_Q, PUSH_S, PUSH_S, POP_S, PEEK_S, POP_Q_MV])
            pkt = frame(op, rnd.getrandbits(64), rnd.choice([0, 0, 0, 1, 2, 2, 4]))
            kr = k.test_run(PROG, pkt)
            vr = test_run(obj.programs[PROG], pkt)
            assert vr.fault == ""
            assert (vr.retval, vr.data_out) == (kr[0], kr[1]), f"frame {i}: op {op}"
            assert obj.maps["out"].dump() == k.dump("out"), f"frame {i}: op {op}"
            seen.add(struct.unpack("<q", k.lookup("out", bytes(4)))[0])
        assert {0, -2, -7, -22} <= seen              # pushed, empty, full, bad flags: all compared
        for name in ("q", "s"):
            kern = []
            while (v := k.pop(name)) is not None:
                kern.append(v)
            assert obj.maps[name].values() == kern, name


def test_cli_shows_queue_and_stack(capsys):
    import json
    from xdplab.bpf.cli import main
    assert main(["bpf", "run", str(OBJ), "--json", "--packet-hex", frame(PUSH_S, 6).hex()]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert row["maps"]["s"] == [{"value": (6).to_bytes(8, "little").hex()}] and row["maps"]["q"] == []
    obj = load_object(OBJ)
    obj.maps["q"].push(1)
    assert obj.maps["q"].format() == "value: 01 00 00 00 00 00 00 00\nFound 1 elements"


def test_kernels_agree_at_both_speeds():
    """maps.bpf_queue_stack_push / _get: the jitted and the plain-Python copies give the same
    return codes, values and rings on the same random sequence."""
    import numpy as np
    from xdplab._twospeed import JIT, PythonKernel

    def drive(k):
        obj = load_object(OBJ)
        rnd = random.Random(23)
        res = []
        for i in range(400):
            m = obj.maps[rnd.choice("qs")].index
            if rnd.random() < 0.55:
                v = np.frombuffer(rnd.getrandbits(64).to_bytes(8, "little"), np.uint8).copy()
                res.append(int(k.bpf_queue_stack_push(obj.state, m, v, 0, rnd.choice([0, 0, 2, 1, 4]))))
            else:
                out = np.full(8, 0xAA, np.uint8)
                res.append((int(k.bpf_queue_stack_get(obj.state, m, out, 0, rnd.randint(0, 1))), bytes(out)))
        return res, obj.maps["q"].values(), obj.maps["s"].values()

    a, b = drive(JIT), drive(PythonKernel())
    assert a == b
    codes = {r if isinstance(r, int) else r[0] for r in a[0]}
    assert {0, -2, -7, -22} <= codes
