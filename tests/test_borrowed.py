"""The jit-only helpers behind the fast path: borrowed board arrays and memcpy copies."""

import gc
import sys

import numba
import numpy as np
import pytest

from xdplab._borrowed import BorrowedArray, borrow, borrowed, flat, one_row, window
from xdplab._bytes import copy_bytes, get_le, get_le1, hweight64, put_le, put_le1
from xdplab.board import Board, to_ref


@numba.njit
def _touch(b, page):
    row = b.data[page]            # a view of a borrowed array: counts nothing, reads the same memory
    row[5] = 7
    b.r[0] += 1
    return b.data[page][5] + b.data[page, 5]


def test_borrowed_fields_share_memory_and_hold_no_reference():
    board = Board("drop")
    s = board.s
    data = s.data
    r0 = int(s.r[0])
    _touch(to_ref(s), 3)                                # (compiles)
    n0 = sys.getrefcount(data)
    refs = [to_ref(s) for _ in range(10)]
    for ref in refs:
        got = _touch(ref, 4)
    n1 = sys.getrefcount(data)
    del refs, ref
    gc.collect()
    n2 = sys.getrefcount(data)
    assert got == 14 and data[4, 5] == 7 and s.r[0] == r0 + 11    # the kernels wrote the board's own memory
    # the structs borrow: only the proxies' pin (the NamedTuple) holds the arrays, and nothing leaks
    assert (n1 - n0, n2 - n0) == (0, 0)


def test_borrowed_type_mapping():
    t = numba.typeof(np.zeros((2, 3), np.uint8))
    bt = borrowed(t)
    assert isinstance(bt, BorrowedArray) and bt.dtype == t.dtype and bt.ndim == 2 and bt.layout == t.layout
    assert borrowed(bt) is bt and borrowed(numba.types.int64) is numba.types.int64


def test_many_boards_run_and_die():
    # boards built and dropped in a loop (the course does this): no crash, no stale memory
    for i in range(20):
        b = Board("drop", seed=i)
        r = b.run(200)
        assert r["rx_packets"] + r["hw_discard"] == 200
        del b
        gc.collect()


@numba.njit
def _copy_jit(d, s, drow, doff, srow, soff, n):
    copy_bytes(d, drow, doff, s, srow, soff, n)


@numba.njit
def _le_jit(a, row, off, v, n):
    put_le(a, row, off, v, n)
    return get_le(a, row, off, n)


@numba.njit
def _le1_jit(a, off, v, n):
    put_le1(a, off, v, n)
    return get_le1(a, off, n)


def test_put_le1_get_le1_both_speeds():
    # the 1-D twins (the eBPF VM's stack and map values): the same bytes and values
    rng = np.random.default_rng(3)
    a1 = np.zeros(40, np.uint8)
    a2 = a1.copy()
    for _ in range(200):
        n = int(rng.choice([1, 2, 3, 4, 8]))
        off = int(rng.integers(0, 40 - n + 1))
        v = np.int64(rng.integers(-2**63, 2**63 - 1))
        put_le1(a1, off, v, n)
        got = _le1_jit(a2, off, v, n)
        assert (a1 == a2).all() and got == get_le1(a1, off, n), (n, off)
        assert got == (int(v) & ((1 << 8 * n) - 1) if n < 8 else v)
    assert get_le1(np.array([1, 2, 3, 4], np.uint8), 0, 4) == 0x04030201


def test_put_le_get_le_both_speeds():
    # the jitted versions are one unaligned machine access for 1, 2, 4 and 8 bytes (a byte loop
    # otherwise): the same bytes and values as the plain Python loops, at any offset
    rng = np.random.default_rng(2)
    a1 = np.zeros((3, 40), np.uint8)
    a2 = a1.copy()
    for _ in range(200):
        n = int(rng.choice([1, 2, 3, 4, 8]))
        row, off = int(rng.integers(0, 3)), int(rng.integers(0, 40 - n + 1))
        v = np.int64(rng.integers(-2**63, 2**63 - 1))
        put_le(a1, row, off, v, n)
        got = _le_jit(a2, row, off, v, n)
        assert (a1 == a2).all() and got == get_le(a1, row, off, n), (n, off)
        assert got == (int(v) & ((1 << 8 * n) - 1) if n < 8 else v)
    assert get_le(np.array([[1, 2, 3, 4]], np.uint8), 0, 0, 4) == 0x04030201     # little-endian


def test_copy_bytes_both_speeds():
    rng = np.random.default_rng(1)
    src = rng.integers(0, 256, (4, 100), dtype=np.uint8)
    cases = [(0, 0, 0, 0, 100), (1, 7, 3, 13, 64), (2, 99, 1, 0, 1), (3, 5, 2, 9, 0)]
    # every length around the inline copy of 32..64 bytes (two overlapping 32-byte moves)
    cases += [(n % 4, 3, (n + 1) % 4, 30, n) for n in (15, 16, 31, 32, 33, 47, 63, 65, 70)]
    for drow, doff, srow, soff, n in cases:
        d1 = np.zeros((4, 100), np.uint8)
        d2 = np.zeros((4, 100), np.uint8)
        copy_bytes(d1, drow, doff, src, srow, soff, n)
        _copy_jit(d2, src, drow, doff, srow, soff, n)
        assert (d1 == d2).all(), n
        assert (d1[drow, doff:doff + n] == src[srow, soff:soff + n]).all()


@pytest.mark.skipif(not numba.config.BOUNDSCHECK, reason="bounds are checked only with NUMBA_BOUNDSCHECK=1")
def test_copy_bytes_boundscheck():
    d = np.zeros((2, 10), np.uint8)
    with pytest.raises(IndexError):
        _copy_jit(d, d.copy(), 0, 5, 0, 0, 6)


_NRT_BALANCE = r'''
import gc, numba
from numba.core.runtime import rtsys
from xdplab.board import Board, to_ref

@numba.njit
def touch(b, page):
    row = b.data[page]
    row[5] = 7
    return b.data[page, 5] + b.bpf.ctl[0]

s = Board("drop").s
touch(to_ref(s), 3)
gc.collect()
a0 = rtsys.get_allocation_stats()
for i in range(50):
    r = to_ref(s)
    for j in range(3):
        touch(r, 3)
    del r
gc.collect()
a1 = rtsys.get_allocation_stats()
print(a1.alloc - a0.alloc, a1.free - a0.free, a1.mi_alloc - a0.mi_alloc, a1.mi_free - a0.mi_free)
'''


def test_borrowed_struct_is_freed_with_its_proxy():
    # kernels borrow the StructRef from its proxy: every struct the proxies made is freed again
    import os
    import subprocess
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    out = subprocess.run([sys.executable, "-c", _NRT_BALANCE], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    alloc, free, mi_alloc, mi_free = map(int, out.stdout.split())
    assert alloc > 0 and (alloc, mi_alloc) == (free, mi_free)


def _nt_walk(s, n):
    t = s
    for i in range(n):                # branches: numba's pruning of incref/decref pairs gives up here
        if t.ctl[i] > 2:
            t.ctl[i + 1] += t.umem[i]
        else:
            t.umem64[0] += 1
    return t.ctl[0]


def _nt_walk_borrowed(s, n):
    t = borrow(s)                     # a NamedTuple of borrowed arrays: no reference counting
    for i in range(n):
        if t.ctl[i] > 2:
            t.ctl[i + 1] += t.umem[i]
        else:
            t.umem64[0] += 1
    return t.ctl[0]


_nt_walk = numba.njit(_nt_walk)
_nt_walk_borrowed = numba.njit(_nt_walk_borrowed)


@numba.njit
def _nt_sum_and_bump(s):
    t = borrow(s)
    t.ctl[0] += 1
    return t.ctl[0] + t.umem[3]


def test_borrow_named_tuple_writes_through_and_counts_nothing():
    from xdplab.board import empty_bpf_state
    s = empty_bpf_state()
    s.umem[3] = 40
    before = [sys.getrefcount(a) for a in s]
    assert _nt_sum_and_bump(s) == 41 and _nt_sum_and_bump.py_func(s) == 42
    assert s.ctl[0] == 2                                  # both speeds wrote the caller's array
    assert [sys.getrefcount(a) for a in s] == before
    t = numba.typeof(s)
    bt = borrowed(t)
    assert type(bt) is type(t) and bt.instance_class is type(s)
    assert all(isinstance(x, BorrowedArray) for x in bt.types)
    # what borrow() is for: the same branchy walk counts references without it, none with it
    _nt_walk(s, 3)                                           # (compiles each for the state's type)
    _nt_walk_borrowed(s, 3)
    counted = _nt_walk.inspect_llvm(_nt_walk.signatures[0])
    borrowed_ = _nt_walk_borrowed.inspect_llvm(_nt_walk_borrowed.signatures[0])
    assert "call void @NRT_incref" in counted
    assert "call void @NRT_incref" not in borrowed_


def test_board_bpf_state_is_borrowed():
    from xdplab.board import BoardStateType  # noqa: F401  (the struct type the kernels see)
    b = Board("drop")
    ty = numba.typeof(b.sj)
    bpf_t = dict(ty.field_dict)["bpf"]                   # a borrowed struct of borrowed arrays
    from xdplab.bpf.state import BpfState, BpfStateType
    assert isinstance(bpf_t, BpfStateType)
    assert list(bpf_t.field_dict) == list(BpfState._fields)
    assert all(isinstance(t, BorrowedArray) for t in bpf_t.field_dict.values())


@numba.njit
def _hw(x):
    return hweight64(x)


@pytest.mark.parametrize("x", [0, 1, 0b1011, (1 << 63) | 5, 0xFFFFFFFFFFFFFFFF])
def test_hweight64_both_speeds(x):
    want = bin(x).count("1")
    assert hweight64(x) == want
    assert _hw(np.uint64(x)) == want


def _touch_llvm():
    """The LLVM IR of ``_touch`` compiled for a board's struct."""
    ref = to_ref(Board("drop").s)
    _touch(ref, 2)
    sig = [s for s in _touch.signatures if s[0] == numba.typeof(ref)][0]
    return _touch.inspect_llvm(sig)


def test_struct_fields_are_invariant_loads():
    # the board's array pointers never change while a kernel runs: marked so, LLVM keeps them in
    # registers across the driver's stores instead of reloading meminfo -> payload -> field
    assert "!invariant.load" in _touch_llvm()


@numba.njit
def _views(a, b, c):
    r = one_row(a)
    w = window(b, 2, 3)
    f = flat(c)
    r[0, 1] += 10
    w[0] = 7
    f[4] = 9
    return r.shape[0], r.shape[1], w.shape[0], r[0, 3], w[2], f.shape[0], f[5]


def test_one_row_window_flat_share_memory_at_both_speeds():
    for fn in (_views, _views.py_func):
        a = np.arange(5, dtype=np.int64)
        b = np.arange(8, dtype=np.int64)
        c = np.arange(12, dtype=np.int64).reshape(3, 4)
        assert fn(a, b, c) == (1, 5, 3, 3, 4, 12, 5)
        assert a[1] == 11 and b[2] == 7 and c[1, 0] == 9      # written through to the bases


@pytest.mark.parametrize("start,n", [(-1, 2), (7, 2), (0, 9), (3, -1)])
def test_window_outside_is_an_index_error(start, n):
    b = np.arange(8, dtype=np.int64)
    for fn in (window, numba.njit(lambda a, s, k: window(a, s, k)[0])):
        with pytest.raises(IndexError, match="window outside"):
            fn(b, start, n)


def test_flat_wants_c_contiguous_2d():
    with pytest.raises(ValueError, match="C-contiguous 2-D"):
        flat(np.zeros((4, 4))[:, ::2])
    with pytest.raises((TypeError, numba.core.errors.TypingError), match="C-contiguous 2-D"):
        numba.njit(lambda a: flat(a)[0])(np.zeros((4, 4))[:, ::2])


def test_no_kernel_assigns_a_struct_field():
    # The struct loads are !invariant.load (xdplab._borrowed.define_borrowed_proxy): LLVM may keep
    # a field from before an assignment.  So kernels never rebind a field (b.data = ...); Python
    # builds a new ref to change one (Board._replace).  Element stores (b.r[X] = ...) are fine.
    import inspect
    import re
    import xdplab.bpf  # noqa: F401  (registers the VM's kernels)
    from xdplab._twospeed import _REGISTRY
    bad = re.compile(r"^\s*(b|bs)\.\w+\s*(=|\+=|-=|\|=|&=)(?!=)", re.M)
    offenders = []
    for name, (fn, _jf) in _REGISTRY.items():
        src = inspect.getsource(fn)
        offenders += [f"{name}: {m.group(0).strip()}" for m in bad.finditer(src)]
    assert not offenders, offenders
    assert bad.search("    b.data = x\n") and not bad.search("    b.r[3] = 1\n")   # the scan can fail


@numba.njit
def _plain(a):
    a[0] = a[1]


def test_board_arrays_carry_alias_scopes():
    # each board array is its own LLVM alias scope (xdplab._borrowed.alias_domain): its element
    # loads and stores say that they touch no other board array, so LLVM may keep the clock
    # in a register across the driver's stores into b.r, b.rxd, b.pg ...
    import re
    llvm = _touch_llvm()
    assert re.search(r"store i64 [^\n]*!alias\.scope ![0-9]+, !noalias ![0-9]+", llvm)   # b.r[0] += 1
    assert '!"xdplab.board.r"' in llvm and '!"xdplab.board.f"' in llvm
    # a view of a board array (b.data[page]) and a plain array claim nothing
    assert not re.search(r"store i8 7[^\n]*alias", llvm)
    _plain(np.arange(3))
    assert "alias.scope" not in next(iter(_plain.inspect_llvm().values()))


def test_alias_scope_must_be_registered():
    from numba.core import types
    with pytest.raises(ValueError, match="not registered"):
        borrowed(types.int64[:], scope=("nowhere", "r"))
    t_r = BorrowedArray(types.int64, 1, "C", scope=("board", "r"))
    t_xdp = BorrowedArray(types.int64, 1, "C", scope=("board", "xdp"))
    assert t_r != t_xdp and t_r != borrowed(types.int64[::1])       # one type per field
