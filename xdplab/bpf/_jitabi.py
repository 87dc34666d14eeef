"""How jitted code calls a program that :mod:`xdplab.bpf.jit` translated to native code.

A translated program is a numba ``cfunc`` (C calling convention, cached on disk) with
the signature :data:`JIT_SIG`::

    int64 prog(BpfStateRef bs, int64 mem, int64 rows, int64 cols, int64 xdp, int64 env)

``bs`` is one pointer (the VM state as the board holds it); ``mem`` / ``xdp`` / ``env``
are the data addresses of the packet memory (``uint8[rows, cols]``), the ``xdp_buff``
row and the run environment row.  Six integer arguments travel in registers: a call
costs about what a call of any C function costs, not the ~100 words numba's own
convention passes for the same arrays.

Its address sits in column ``PR_JIT`` of ``bs.progs`` (0: interpret).  The interpreter
(``_bpf_vm_loop``) calls it for each packet when the address is set and the state is a
``BpfStateRef``; a translated program that cannot finish a run exactly (its instruction
budget would run out inside the next block) hands the run back with ``CTL_RESUME``, and
the interpreter goes on from there.
"""

from __future__ import annotations

import os

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic, overload
from numba.np.arrayobj import make_array, populate_array

from .._borrowed import BorrowedArray
from .state import PR_JIT, BpfStateType

__all__ = ["jit_wanted", "jit_prog_addr", "call_jit", "call_native", "call_interp", "data_addr", "array_at"]


def jit_wanted(default: bool | None) -> bool | None:
    """net.core.bpf_jit_enable, from ``XDPLAB_BPF_JIT``: "1" translates every program a board runs
    or ``xdplab bpf run`` runs, and waits for it; "0" none (not even ``xdplab bench --prog``'s);
    unset, ``default`` decides: the benchmarks and timing runs translate and wait, a board's
    program starts in the interpreter and is translated in the background (``Board.attach``), a
    short ``xdplab bpf run`` interprets."""
    v = os.environ.get("XDPLAB_BPF_JIT", "")
    return True if v == "1" else False if v == "0" else default


def jit_prog_addr(bs, prog_index):
    """The translated program's entry address, 0 to interpret.  Python speed always
    interprets (the plain-Python VM is the readable one)."""
    return 0


@overload(jit_prog_addr, jit_options={"forceinline": True})
def _jit_prog_addr(bs, prog_index):
    if isinstance(bs, BpfStateType):
        return lambda bs, prog_index: bs.progs[prog_index, PR_JIT]
    return lambda bs, prog_index: 0            # a NamedTuple state: no translated code can take it


@intrinsic
def call_jit(typingctx, addr, bs, mem, rows, cols, xdp, env):
    """``((JIT_SIG *) addr)(bs, mem, rows, cols, xdp, env)``.  (With a NamedTuple state it is
    never reached, see ``jit_prog_addr``, and compiles to 0.)"""

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        if not isinstance(bs, BpfStateType):
            return ir.Constant(i64, 0)
        fnty = ir.FunctionType(i64, [context.get_value_type(bs)] + [i64] * 5)
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(fn, list(args[1:]))

    return types.int64(types.int64, bs, types.int64, types.int64, types.int64, types.int64, types.int64), codegen


def _call_through(bs, nargs):
    """Typing and codegen of ``((int64 (*)(bs, int64 x nargs)) addr)(bs, ...)``: every argument after
    the state is cast to int64 and travels in a register."""
    i64 = types.int64

    def codegen(context, builder, sig, args):
        li64 = ir.IntType(64)
        fnty = ir.FunctionType(li64, [context.get_value_type(bs)] + [li64] * nargs)
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(fn, [args[1]] + [context.cast(builder, v, t, i64) for v, t in zip(args[2:], sig.args[2:])])
    return i64(i64, bs, *([i64] * nargs)), codegen


@intrinsic
def call_native(typingctx, addr, bs, a0, a1, a2, a3, a4):
    """``((int64 (*)(bs, int64 x 5)) addr)(bs, a0, ..., a4)``: how translated code calls the
    slow paths of xdplab.bpf.jit.  Through a pointer, so that their code (the helpers, the
    map code) is not linked into, and optimized again with, every translated program.  Six
    arguments, all in registers: the run's arrays wait in ``ctl[CTL_JIT_RUN:]``, stored by
    the program's prologue.  (Passed as arguments too, they pushed a call site's
    constants to the stack, and LLVM built those there once per run, for every site, in the
    program's prologue.)"""
    if not isinstance(bs, BpfStateType):
        return None
    return _call_through(bs, 5)


@intrinsic
def call_interp(typingctx, addr, bs, prog, mem, rows, cols, xdp, env):
    """``((INTERP_SIG *) addr)(bs, prog, mem, rows, cols, xdp, env)``: how the board calls the eBPF
    interpreter (``xdplab.bpf.vm.interp_entry_addr``).  Through a pointer, so that compiling the
    board does not compile the interpreter into it: a board whose programs are built in (every
    chapter's jit cell) never compiles the VM, and one with a compiled program compiles it once,
    in a cfunc of its own that the disk cache keeps, whatever the board's type (tracing or not)."""
    if not isinstance(bs, BpfStateType):
        return None
    return _call_through(bs, 6)


@intrinsic
def data_addr(typingctx, arr):
    """The address of ``arr``'s first element, as an int64."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, sig, args):
        a = make_array(sig.args[0])(context, builder, args[0])
        return builder.ptrtoint(a.data, ir.IntType(64))

    return types.int64(arr), codegen


@intrinsic
def _array_at(typingctx, addr, shape, dtype_ref):
    dt = dtype_ref.dtype if isinstance(dtype_ref, types.DTypeSpec) else dtype_ref.instance_type
    ndim = len(shape)
    out = BorrowedArray(dt, ndim, "C")

    def codegen(context, builder, sig, args):
        aryty = sig.return_type
        ary = make_array(aryty)(context, builder)
        itemsize = context.get_abi_sizeof(context.get_data_type(dt))
        dims = cgutils.unpack_tuple(builder, args[1], ndim)
        strides = []
        acc = ir.Constant(ir.IntType(64), itemsize)
        for d in reversed(dims):
            strides.insert(0, acc)
            acc = builder.mul(acc, d)
        data = builder.inttoptr(args[0], context.get_data_type(dt).as_pointer())
        populate_array(ary, data=data, shape=dims, strides=strides, itemsize=ir.Constant(ir.IntType(64), itemsize),
                       meminfo=None)
        return ary._getvalue()

    return out(addr, shape, dtype_ref), codegen


def array_at(addr, shape, dtype):
    """A borrowed C-order array of ``dtype`` over ``shape`` at ``addr`` (jitted code only)."""
    raise NotImplementedError("array_at builds arrays in jitted code only")


@overload(array_at, jit_options={"forceinline": True})
def _array_at_jit(addr, shape, dtype):
    return lambda addr, shape, dtype: _array_at(addr, shape, dtype)
