"""Hypothesis fuzzing of the loader and the VM: random bytecode, mutated objects, random
packets.  Nothing may crash or hang; every rejection is a BpfLoadError with a message.
Cases that once failed live in tests/bpf/corpus/ and are replayed first."""

import json
import os
from pathlib import Path

import numpy as np
from conftest import PROGS, TPROGS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xdplab.bpf import BpfLoadError, create_env, load_insns, load_object, test_run
from xdplab.xdp_abi import ENV_ERR

CORPUS = Path(__file__).resolve().parent / "corpus"
# 150 examples per property in CI (seconds); a fuzz campaign asks for more:
#   XDPLAB_FUZZ_EXAMPLES=40000 pytest tests/bpf/test_fuzz.py --hypothesis-seed=N
SET = settings(max_examples=int(os.environ.get("XDPLAB_FUZZ_EXAMPLES", "150")), deadline=None,
               suppress_health_check=[HealthCheck.too_slow])

# opcodes clang emits, so random programs get past the loader often enough
OPCODES = [0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77, 0x7f,
           0x87, 0x97, 0x9f, 0xa7, 0xaf, 0xb7, 0xbf, 0xc7, 0xcf, 0xd7, 0xdc, 0xd4, 0x04, 0x0c, 0xb4, 0xbc,
           0x05, 0x06, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x45, 0x55, 0x5d, 0x65, 0x75, 0xa5, 0xad, 0xb5, 0xc5,
           0xd5, 0x16, 0x56, 0x85, 0x95, 0x18, 0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72,
           0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xdb]

insn = st.tuples(st.sampled_from(OPCODES), st.integers(0, 11), st.integers(0, 11),
                 st.integers(-40, 40), st.one_of(st.integers(-3, 70), st.integers(-2**31, 2**31 - 1)))


def _pack(t):
    c, d, s, o, i = t
    if c == 0x85:
        i = i % 200
    return (c & 0xFF) | ((d & 0xF) << 8) | ((s & 0xF) << 12) | ((o & 0xFFFF) << 16) | ((i & 0xFFFFFFFF) << 32)


def _try_program(words, pkt):
    try:
        obj = load_insns(words + [0x95], maps=[dict(type=2, key_size=4, value_size=16, max_entries=4),
                                               dict(type=1, key_size=4, value_size=8, max_entries=4)])
    except BpfLoadError as e:
        assert str(e)
        return None
    r = test_run(obj.programs["prog"], pkt, env=create_env(budget=20000))
    if r.env[ENV_ERR]:
        assert r.fault and r.retval == 0
    return r


@SET
@given(st.lists(insn, min_size=1, max_size=40), st.binary(min_size=14, max_size=200))
def test_random_bytecode_never_crashes(prog, pkt):
    _try_program([_pack(t) for t in prog], pkt)


@SET
@given(st.binary(min_size=0, max_size=400))
def test_random_bytes_as_program(raw):
    raw = raw[: len(raw) // 8 * 8]
    try:
        load_insns(raw + bytes.fromhex("9500000000000000"))
    except BpfLoadError as e:
        assert str(e)


_BASES = [(PROGS / f).read_bytes() for f in ("xdp2.o", "ssh_mirror.o", "xdp_frags.o")] + \
    [(TPROGS / "globals.o").read_bytes()]


@SET
@given(st.sampled_from(range(len(_BASES))), st.lists(st.tuples(st.integers(0, 20000), st.integers(0, 255)),
                                                     min_size=1, max_size=12))
def test_mutated_objects(which, muts):
    raw = bytearray(_BASES[which])
    for pos, val in muts:
        raw[pos % len(raw)] = val
    try:
        obj = load_object(bytes(raw))
    except BpfLoadError as e:
        assert str(e)
        return
    for p in obj.programs.values():
        if p.load_error:                  # refused alone (its object's other programs load): says why
            assert p.name in p.load_error
            continue
        r = test_run(p, bytes(64), env=create_env(budget=50000))
        assert r.retval >= 0


# (base object, mutations) that once crashed test_mutated_objects: replayed on every run
_MUTATED_ONCE_FAILED = [
    (3, [(7676, 4)]),      # globals.o with a 16 GiB .data: the loader allocated it (MemoryError)
]


def test_mutated_objects_that_once_failed():
    for which, muts in _MUTATED_ONCE_FAILED:
        test_mutated_objects.hypothesis.inner_test(which, muts)


_OBJS = [load_object(PROGS / f) for f in ("ssh_mirror.o", "xdp2.o", "xdp_frags.o")] + \
    [load_object(TPROGS / f) for f in ("adjust.o", "hashmaps.o", "loop_csum.o", "atomics.o")]


@SET
@given(st.sampled_from(range(len(_OBJS))), st.binary(min_size=14, max_size=9000))
def test_random_packets_on_real_programs(which, pkt):
    obj = _OBJS[which]
    for p in obj.programs.values():
        r = test_run(p, pkt)
        assert r.fault == "", r.fault       # verified-style programs never fault


def test_corpus_replays():
    for f in sorted(CORPUS.glob("*.json")):
        case = json.loads(f.read_text())
        words = [int(w, 16) for w in case["insns"]]
        _try_program(words[:-1] if words and words[-1] == 0x95 else words, bytes.fromhex(case["packet"]))
    assert np  # numpy used by hypothesis-generated data paths
