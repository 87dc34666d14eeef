"""Byte copies between rows of 2-D uint8 arrays, at memcpy speed in jitted code.

A numba loop over ``dst[r, i] = src[s, j]`` pays a negative-index wrap per
byte (numba cannot prove the index is non-negative), and a slice assignment
checks for overlap and broadcasting per call: both cost more than the 64-byte
frame being copied.  ``copy_bytes`` is a plain Python function (the python
speed and exercises use it as it is) with a numba overload that lowers to
``llvm.memcpy``.  The callers have already bounded every index (a frame fits
its buffer); the overload still checks them when ``NUMBA_BOUNDSCHECK=1``.
"""

from __future__ import annotations

import sys

import numpy as np

from llvmlite import ir
from numba import njit
from numba.core import cgutils, config, types
from numba.extending import intrinsic, overload

__all__ = ["copy_bytes", "put_le", "get_le", "put_le1", "get_le1", "hweight64", "prefetch"]


def copy_bytes(dst, drow, doff, src, srow, soff, n):
    """``dst[drow, doff:doff+n] = src[srow, soff:soff+n]`` (distinct arrays, n >= 0)."""
    dst[drow, doff:doff + n] = src[srow, soff:soff + n]


@intrinsic
def _memcpy_rows(typingctx, dst, drow, doff, src, srow, soff, n):
    sig = types.void(dst, drow, doff, src, srow, soff, n)

    def codegen(context, builder, sig, args):
        d = context.make_array(sig.args[0])(context, builder, args[0])
        s = context.make_array(sig.args[3])(context, builder, args[3])
        dptr = cgutils.get_item_pointer2(context, builder, d.data, cgutils.unpack_tuple(builder, d.shape),
                                         cgutils.unpack_tuple(builder, d.strides), sig.args[0].layout,
                                         [args[1], args[2]], wraparound=False)
        sptr = cgutils.get_item_pointer2(context, builder, s.data, cgutils.unpack_tuple(builder, s.shape),
                                         cgutils.unpack_tuple(builder, s.strides), sig.args[3].layout,
                                         [args[4], args[5]], wraparound=False)
        n = context.cast(builder, args[6], sig.args[6], types.int64)
        i64 = ir.IntType(64)
        # A frame of 32..64 bytes (a minimum-size frame is 64) is two 32-byte copies that may
        # overlap in the middle: two vector moves each, inline.  A call to libc's memmove for
        # it cost more than the copy (3-4 % of a drop run's samples).
        mid = builder.and_(builder.icmp_signed(">=", n, ir.Constant(i64, 32)),
                           builder.icmp_signed("<=", n, ir.Constant(i64, 64)))
        with builder.if_else(mid, likely=True) as (small, other):
            with small:
                cgutils.raw_memcpy(builder, dptr, sptr, ir.Constant(i64, 32), 1)
                tail = builder.sub(n, ir.Constant(i64, 32))
                cgutils.raw_memcpy(builder, builder.gep(dptr, [tail]), builder.gep(sptr, [tail]),
                                   ir.Constant(i64, 32), 1)
            with other:
                cgutils.raw_memcpy(builder, dptr, sptr, n, 1)
        return context.get_dummy_value()

    return sig, codegen


@overload(copy_bytes, jit_options={"forceinline": True})
def _copy_bytes_jit(dst, drow, doff, src, srow, soff, n):
    if config.BOUNDSCHECK:
        def impl(dst, drow, doff, src, srow, soff, n):
            if n < 0 or drow < 0 or drow >= dst.shape[0] or srow < 0 or srow >= src.shape[0] or doff < 0 \
                    or soff < 0 or doff + n > dst.shape[1] or soff + n > src.shape[1]:
                raise IndexError("copy_bytes: index out of bounds")
            _memcpy_rows(dst, drow, doff, src, srow, soff, n)
        return impl

    def impl(dst, drow, doff, src, srow, soff, n):
        _memcpy_rows(dst, drow, doff, src, srow, soff, n)
    return impl


def put_le(a, row, off, v, n):
    """``a[row, off:off+n]`` = the ``n`` low bytes of ``v``, little-endian (how the kernel's
    structs in a page, such as the xdp_frame in the headroom, hold their fields)."""
    for i in range(n):
        a[row, off + i] = (v >> (8 * i)) & 0xFF


def get_le(a, row, off, n):
    """The ``n``-byte little-endian unsigned value at ``a[row, off]`` (8 bytes: the int64)."""
    v = np.int64(0)
    for i in range(n):
        v |= np.int64(a[row, off + i]) << (8 * i)
    return v


def put_le1(a, off, v, n):
    """``put_le`` for a 1-D byte array: ``a[off:off+n]`` = the ``n`` low bytes of ``v``."""
    for i in range(n):
        a[off + i] = (v >> (8 * i)) & 0xFF


def get_le1(a, off, n):
    """``get_le`` for a 1-D byte array: the ``n``-byte little-endian value at ``a[off]``."""
    v = np.int64(0)
    for i in range(n):
        v |= np.int64(a[off + i]) << (8 * i)
    return v


def _field_ptr(context, builder, aryty, ary, row, off):
    # a 1-D array ignores ``row`` (the 1-D entry points pass 0)
    a = context.make_array(aryty)(context, builder, ary)
    return cgutils.get_item_pointer2(context, builder, a.data, cgutils.unpack_tuple(builder, a.shape),
                                     cgutils.unpack_tuple(builder, a.strides), aryty.layout,
                                     [row, off] if aryty.ndim == 2 else [off], wraparound=False)


@intrinsic
def _store_le(typingctx, a, row, off, v, n):
    # one unaligned store of 1, 2, 4 or 8 bytes (n is a constant where it is inlined: the
    # compares fold); a byte loop stored each byte with its shift and mask
    sig = types.void(a, row, off, v, n)

    def codegen(context, builder, sig, args):
        ptr = _field_ptr(context, builder, sig.args[0], args[0], args[1], args[2])
        val = context.cast(builder, args[3], sig.args[3], types.int64)
        n = context.cast(builder, args[4], sig.args[4], types.int64)
        i64 = ir.IntType(64)
        for k in (1, 2, 4, 8):
            with builder.if_then(builder.icmp_signed("==", n, ir.Constant(i64, k))):
                ik = ir.IntType(8 * k)
                builder.store(builder.trunc(val, ik) if k < 8 else val, builder.bitcast(ptr, ik.as_pointer()), align=1)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _load_le(typingctx, a, row, off, n):
    sig = types.int64(a, row, off, n)

    def codegen(context, builder, sig, args):
        ptr = _field_ptr(context, builder, sig.args[0], args[0], args[1], args[2])
        n = context.cast(builder, args[3], sig.args[3], types.int64)
        i64 = ir.IntType(64)
        out = cgutils.alloca_once_value(builder, ir.Constant(i64, 0))
        for k in (1, 2, 4, 8):
            with builder.if_then(builder.icmp_signed("==", n, ir.Constant(i64, k))):
                ik = ir.IntType(8 * k)
                v = builder.load(builder.bitcast(ptr, ik.as_pointer()), align=1)
                builder.store(builder.zext(v, i64) if k < 8 else v, out)
        return builder.load(out)

    return sig, codegen


def _le_ok(a, n, ndim=2):
    # one machine access stands for the byte loop only on a little-endian host, for uint8 rows
    return (sys.byteorder == "little" and isinstance(a, types.Array) and a.ndim == ndim
            and a.dtype == types.uint8 and isinstance(n, types.Integer))


def _le_check(name):
    # NUMBA_BOUNDSCHECK=1: the range is checked, as numba checks an index (the callers bound it).
    # ``row`` is ignored for a 1-D array (its entry points pass 0).
    def check(a, row, off, n):
        if a.ndim == 2 and (row < 0 or row >= a.shape[0]):
            raise IndexError(name + ": index out of bounds")
        if off < 0 or off + n > a.shape[a.ndim - 1]:
            raise IndexError(name + ": index out of bounds")

    def nocheck(a, row, off, n):
        pass
    return njit(inline="always")(check if config.BOUNDSCHECK else nocheck)


_put_le_check = _le_check("put_le")
_get_le_check = _le_check("get_le")


@overload(put_le, jit_options={"forceinline": True})
def _put_le_jit(a, row, off, v, n):
    if not _le_ok(a, n):
        return None

    def impl(a, row, off, v, n):
        _put_le_check(a, row, off, n)
        if n == 1 or n == 2 or n == 4 or n == 8:
            _store_le(a, row, off, v, n)
        else:
            for i in range(n):
                a[row, off + i] = (v >> (8 * i)) & 0xFF
    return impl


@overload(get_le, jit_options={"forceinline": True})
def _get_le_jit(a, row, off, n):
    if not _le_ok(a, n):
        return None

    def impl(a, row, off, n):
        _get_le_check(a, row, off, n)
        if n == 1 or n == 2 or n == 4 or n == 8:
            return _load_le(a, row, off, n)
        v = np.int64(0)
        for i in range(n):
            v |= np.int64(a[row, off + i]) << (8 * i)
        return v
    return impl


@overload(put_le1, jit_options={"forceinline": True})
def _put_le1_jit(a, off, v, n):
    if not _le_ok(a, n, 1):
        return None

    def impl(a, off, v, n):
        _put_le_check(a, 0, off, n)
        if n == 1 or n == 2 or n == 4 or n == 8:
            _store_le(a, 0, off, v, n)
        else:
            for i in range(n):
                a[off + i] = (v >> (8 * i)) & 0xFF
    return impl


@overload(get_le1, jit_options={"forceinline": True})
def _get_le1_jit(a, off, n):
    if not _le_ok(a, n, 1):
        return None

    def impl(a, off, n):
        _get_le_check(a, 0, off, n)
        if n == 1 or n == 2 or n == 4 or n == 8:
            return _load_le(a, 0, off, n)
        v = np.int64(0)
        for i in range(n):
            v |= np.int64(a[off + i]) << (8 * i)
        return v
    return impl


def hweight64(x):
    """The kernel's hweight64: how many bits of the 64-bit ``x`` are set."""
    return bin(int(x) & 0xFFFFFFFFFFFFFFFF).count("1")


@intrinsic
def _ctpop64(typingctx, x):
    def codegen(context, builder, sig, args):
        v = context.cast(builder, args[0], sig.args[0], types.uint64)
        return builder.zext(builder.ctpop(v), context.get_value_type(types.int64))   # one popcnt instruction
    return types.int64(x), codegen


@overload(hweight64, jit_options={"forceinline": True})
def _hweight64_jit(x):
    if isinstance(x, types.Integer):
        return lambda x: _ctpop64(x)


def prefetch(a, row, col):
    """A hint that ``a[row, col]`` will be read soon (a 2-D array): nothing in Python, an
    ``llvm.prefetch`` (read, keep in all cache levels) in jitted code.  Never faults, so any
    row/col may be passed; it changes no value, only when a cache line arrives."""


@intrinsic
def _prefetch2(typingctx, a, row, col):
    sig = types.void(a, row, col)

    def codegen(context, builder, sig, args):
        ar = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer2(context, builder, ar.data, cgutils.unpack_tuple(builder, ar.shape),
                                        cgutils.unpack_tuple(builder, ar.strides), sig.args[0].layout,
                                        [args[1], args[2]], wraparound=False)
        vp = builder.bitcast(ptr, cgutils.voidptr_t)
        name = "llvm.prefetch.p0" if getattr(vp.type, "is_opaque", False) else "llvm.prefetch.p0i8"
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [vp.type, i32, i32, i32]),
                                            name)
        builder.call(fn, [vp, i32(0), i32(3), i32(1)])      # read, high locality, data cache
        return context.get_dummy_value()

    return sig, codegen


@overload(prefetch, jit_options={"forceinline": True})
def _prefetch_jit(a, row, col):
    def impl(a, row, col):
        _prefetch2(a, row, col)
    return impl
