"""Arrays that jitted kernels borrow from the board without reference counting.

numba counts references on every array it takes out of a struct: ``b.r`` in a
kernel is an ``NRT_incref`` call, and the matching ``NRT_decref`` follows when
the value dies.  numba's pruning pass removes such pairs only in straight-line
code, so in the driver's branchy per-packet path they cost more than the model
itself (measured: 6 ns per inlined kernel call, against 1 ns with the arrays in
locals).  The board's arrays are owned by the Python ``Board`` for as long as
its state ref exists, so the jitted view of them need not count: a
``BorrowedArray`` is an ordinary numba array (same layout, every array
operation applies) whose data model reports no meminfo, so numba emits no
reference counting for it.  Its meminfo is cleared when it is stored, so views
taken of it (``b.data[page]``) are ordinary arrays that count nothing either.

The price is the rule every borrow has: whoever builds the struct keeps the
arrays alive (``xdplab.board.to_ref`` pins them on the proxy).
"""

from __future__ import annotations

from numba.core import cgutils, types
from numba.core.datamodel import models
from numba.extending import intrinsic, lower_cast, overload, register_model

__all__ = ["BorrowedArray", "borrowed", "alias_domain", "borrow", "one_row", "window", "flat", "define_borrowed_proxy"]


class BorrowedArray(types.Array):
    """A ``types.Array`` that numba does not reference-count (see the module docstring).

    ``scope`` (a struct's alias domain and the field's name, see ``alias_domain``) marks the
    array as that field of a struct: its element loads and stores tell LLVM that they touch
    no other field's array.
    """

    scope = None                       # also what a type pickled before scopes existed reads

    def __init__(self, dtype, ndim, layout, readonly=False, aligned=True, scope=None):
        self.scope = scope
        tag = f", {scope[0]}.{scope[1]}" if scope else ""
        super().__init__(dtype, ndim, layout, readonly=readonly, aligned=aligned,
                         name=f"borrowed({dtype}, {ndim}d, {layout}{tag})")

    @property
    def key(self):
        return ("borrowed", self.scope) + super().key


@register_model(BorrowedArray)
class _BorrowedArrayModel(models.ArrayModel):
    def has_nrt_meminfo(self):
        return False

    def traverse(self, builder):
        return []                      # its meminfo member is not a reference this value owns


@lower_cast(types.Array, BorrowedArray)
def _cast_to_borrowed(context, builder, fromty, toty, val):
    # A borrowed value owns nothing: its meminfo is cleared, so that views taken of it
    # (``b.data[page]``) count against nothing either.  The owner's meminfo may be gone
    # once the struct is built; the data lives as long as the Python owner does.
    ary = context.make_array(fromty)(context, builder, val)
    ary.meminfo = cgutils.get_null_value(ary.meminfo.type)
    return ary._getvalue()


@lower_cast(BorrowedArray, types.Array)
def _cast_from_borrowed(context, builder, fromty, toty, val):
    return val                         # meminfo is NULL: an ordinary array that counts nothing


def borrowed(t, scope=None):
    """The borrowed twin of a numba array type, or of a NamedTuple of them (other types unchanged).

    ``scope=(domain, field)``: the array is that field of a struct whose array fields are
    registered with ``alias_domain`` (its element accesses carry alias metadata)."""
    if isinstance(t, types.Array) and not isinstance(t, BorrowedArray):
        if scope is not None and scope[0] not in _DOMAINS:
            raise ValueError(f"alias domain {scope[0]!r} is not registered (alias_domain)")
        return BorrowedArray(t.dtype, t.ndim, t.layout, readonly=not t.mutable, aligned=t.aligned, scope=scope)
    if isinstance(t, types.BaseNamedTuple):
        items = [borrowed(x) for x in t.types]
        if all(x == items[0] for x in items):
            return types.NamedUniTuple(items[0], len(items), t.instance_class)
        return types.NamedTuple(items, t.instance_class)
    return t


@lower_cast(types.BaseNamedTuple, types.BaseNamedTuple)
def _cast_named_tuple(context, builder, fromty, toty, val):
    # numba casts no NamedTuple to another; this one only adds borrowing to its members
    # (a NamedTuple of arrays stored in a borrowed struct, or passed through borrow())
    if fromty.instance_class is not toty.instance_class or len(fromty) != len(toty):
        raise NotImplementedError(f"cannot cast {fromty} to {toty}")
    items = cgutils.unpack_tuple(builder, val, len(fromty))
    return context.make_tuple(builder, toty, [context.cast(builder, v, f, t)
                                              for v, f, t in zip(items, fromty.types, toty.types)])


def borrow(x):
    """``x`` (an array or a NamedTuple of arrays) as borrowed values; identity in Python.

    For a jitted entry point called from Python that passes state on to kernels the
    board also calls with its borrowed copy of that state: the caller holds the
    references for the whole call, and both callers share one compiled specialization.
    """
    return x


@intrinsic
def _to_borrowed(typingctx, x):
    out = borrowed(x)

    def codegen(context, builder, sig, args):
        return context.cast(builder, args[0], sig.args[0], sig.return_type)

    return out(x), codegen


@overload(borrow, jit_options={"forceinline": True})
def _borrow_jit(x):
    if borrowed(x) == x:
        return lambda x: x
    return lambda x: _to_borrowed(x)


def define_borrowed_proxy(py_class, struct_type, fields):
    """``structref.define_proxy``, except that jitted code borrows the struct instead of counting it.

    numba increfs a StructRef's meminfo each time a (possibly inlined) kernel
    takes it as an argument and decrefs it after; with branches in between the
    pairs are not pruned.  The Python proxy owns the struct for the whole of a
    call, so kernels need not count it: the model reports no meminfo, and
    unboxing lends the proxy's reference instead of taking one.  Boxing (the
    proxy's constructor) is numba's: the new proxy owns the new struct.
    """
    from numba.core import imputils
    from numba.core.imputils import lower_getattr_generic
    from numba.core.runtime.nrtdynmod import _meminfo_struct_type
    from numba.experimental import structref
    from numba.extending import NativeValue, box, unbox

    structref.define_constructor(py_class, struct_type, fields)

    @register_model(struct_type)
    class _BorrowedStructRefModel(models.StructRefModel):
        def has_nrt_meminfo(self):
            return False

        def traverse(self, builder):
            return []

    mip_type = types.MemInfoPointer(types.voidptr)

    @box(struct_type)
    def _box(typ, val, c):
        st = cgutils.create_struct_proxy(typ)(c.context, c.builder, value=val)
        boxed_meminfo = c.box(mip_type, st.meminfo)        # the proxy takes the struct's reference
        ctor = c.pyapi.unserialize(c.pyapi.serialize_object(py_class._numba_box_))
        ty = c.pyapi.unserialize(c.pyapi.serialize_object(typ))
        res = c.pyapi.call_function_objargs(ctor, [ty, boxed_meminfo])
        c.pyapi.decref(ctor)
        c.pyapi.decref(ty)
        c.pyapi.decref(boxed_meminfo)
        return res

    @lower_getattr_generic(struct_type)
    def _getattr(context, builder, typ, val, attr):
        # structref's own getattr, with both loads marked !invariant.load: the payload pointer
        # and the fields of a borrowed struct never change while a kernel runs (only a new ref
        # changes them).  Without the mark LLVM must assume that any array store may have
        # changed them, and reloads meminfo -> payload -> array -> element after every store:
        # three dependent loads for each ``b.r[X]`` in the driver's store-heavy path.
        md = builder.module.add_metadata([])
        st = cgutils.create_struct_proxy(typ)(context, builder, value=val)
        mi = builder.bitcast(st.meminfo, _meminfo_struct_type.as_pointer())
        raw = builder.load(cgutils.gep_inbounds(builder, mi, 0, 3))          # NRT_MemInfo.data
        raw.set_metadata("invariant.load", md)
        valtype = typ.get_data_type()
        data_ptr = builder.bitcast(raw, context.data_model_manager[valtype].get_value_type().as_pointer())
        payload = cgutils.create_struct_proxy(valtype)(context, builder, ref=data_ptr)
        index = payload._datamodel.get_field_position(attr)
        v = builder.load(payload._get_ptr_by_index(index))
        v.set_metadata("invariant.load", md)
        v = payload._cast_member_to_value(index, v)
        return imputils.impl_ret_borrowed(context, builder, typ.field_dict[attr], v)

    @unbox(struct_type)
    def _unbox(typ, obj, c):
        mi_obj = c.pyapi.object_getattr_string(obj, "_meminfo")
        mi = c.unbox(mip_type, mi_obj).value            # a new reference ...
        c.context.nrt.decref(c.builder, mip_type, mi)   # ... given back: the proxy holds the struct
        c.pyapi.decref(mi_obj)
        st = cgutils.create_struct_proxy(typ)(c.context, c.builder)
        st.meminfo = mi
        return NativeValue(st._getvalue())


# ---- alias scopes: the struct's arrays are distinct memory ----------------------------------------
# numba tells LLVM nothing about which arrays may overlap, so after a store into any array LLVM
# must reload every element it had read from any other array, and cannot keep a value such as
# an operation count (``b.r[R_OP_COUNT + op]``, extended by every cycle charge) in a register across the
# driver's stores into descriptors, pages and counters.  The arrays of one borrowed struct are
# distinct numpy arrays (the struct is built from them and never changes), so each array field
# gets an LLVM alias scope, and its scalar element loads and stores say that they touch none of
# the other fields' scopes (``!alias.scope`` / ``!noalias``).  Views and arrays that are not
# struct fields carry no metadata: LLVM keeps assuming they may overlap anything.

_DOMAINS: dict[str, tuple[str, ...]] = {}


def alias_domain(domain: str, fields) -> None:
    """Declare the array fields of one struct as memory that never overlaps (one scope each)."""
    fields = tuple(fields)
    if len(set(fields)) != len(fields):
        raise ValueError(f"alias domain {domain!r}: duplicate field names")
    if _DOMAINS.get(domain, fields) != fields:
        raise ValueError(f"alias domain {domain!r} is already registered with other fields")
    _DOMAINS[domain] = fields


def _alias_md(module, scope):
    from llvmlite import ir
    domain, field = scope
    dom = module.add_metadata([ir.MetaDataString(module, f"xdplab.{domain}")])

    def node(f):
        return module.add_metadata([ir.MetaDataString(module, f"xdplab.{domain}.{f}"), dom])

    own = module.add_metadata([node(field)])
    others = module.add_metadata([node(f) for f in _DOMAINS[domain] if f != field])
    return own, others


def _scalar_access(builder, aryty, idxty, idx):
    """(index types, index values) when ``ary[idx]`` names one integer or float element, else None."""
    if not isinstance(aryty.dtype, (types.Integer, types.Float)):
        return None
    if isinstance(idxty, types.BaseTuple):
        if not all(isinstance(t, types.Integer) for t in idxty.types) or len(idxty) != aryty.ndim:
            return None
        index_types = idxty.types
        indices = cgutils.unpack_tuple(builder, idx, count=len(idxty))
    elif isinstance(idxty, types.Integer) and aryty.ndim == 1:
        index_types, indices = (idxty,), (idx,)
    else:
        return None
    return index_types, indices


def _element_ptr(context, builder, aryty, ary, index_types, indices):
    # A board field's element, without numba's negative-index wraparound: the board's indices
    # (a page, a pool, a descriptor) are never negative, and the wrap is a compare and an add
    # at each of the ~100 variable-index accesses per frame.  A negative index is a bug here:
    # numba's bounds check (NUMBA_BOUNDSCHECK=1, one CI run) reports it instead of wrapping it.
    from numba.np.arrayobj import make_array
    a = make_array(aryty)(context, builder, ary)
    shapes = cgutils.unpack_tuple(builder, a.shape, aryty.ndim)
    inds = [context.cast(builder, v, t, types.intp) for t, v in zip(index_types, indices)]
    if context.enable_boundscheck:
        for axis, (ind, dimlen) in enumerate(zip(inds, shapes)):
            cgutils.do_boundscheck(context, builder, ind, dimlen, axis)
    return cgutils.get_item_pointer(context, builder, aryty, a, inds, wraparound=False, boundscheck=False)


def _tag(module, inst, scope):
    own, others = _alias_md(module, scope)
    inst.set_metadata("alias.scope", own)
    inst.set_metadata("noalias", others)
    return inst


def _install_alias_lowering():
    import operator

    from numba.core.imputils import lower_builtin
    from numba.np import arrayobj

    def _getitem(context, builder, sig, args):
        aryty, idxty = sig.args
        acc = _scalar_access(builder, aryty, idxty, args[1]) if aryty.scope else None
        if acc is None:
            if isinstance(idxty, types.BaseTuple):
                return arrayobj.getitem_array_tuple(context, builder, sig, args)
            return arrayobj.getitem_arraynd_intp(context, builder, sig, args)
        ptr = _element_ptr(context, builder, aryty, args[0], *acc)
        return _tag(builder.module, builder.load(ptr, align=None if aryty.aligned else 1), aryty.scope)

    def _setitem(context, builder, sig, args):
        aryty, idxty, valty = sig.args
        acc = None
        if aryty.scope and isinstance(valty, (types.Integer, types.Float, types.Boolean)):
            acc = _scalar_access(builder, aryty, idxty, args[1])
        if acc is None:
            return arrayobj.setitem_array(context, builder, sig, args)
        ptr = _element_ptr(context, builder, aryty, args[0], *acc)
        val = context.cast(builder, args[2], valty, aryty.dtype)
        _tag(builder.module, builder.store(val, ptr, align=None if aryty.aligned else 1), aryty.scope)
        return context.get_dummy_value()

    lower_builtin(operator.getitem, BorrowedArray, types.Integer)(_getitem)
    lower_builtin(operator.getitem, BorrowedArray, types.BaseTuple)(_getitem)
    lower_builtin(operator.setitem, BorrowedArray, types.Any, types.Any)(_setitem)


_install_alias_lowering()


# ---- views that count nothing ------------------------------------------------------------------
# A view (``a[None, :]``, ``a[i:j]``, ``a.reshape(n)``) is an ordinary numba array: numba emits
# an NRT_incref/NRT_decref *call* for it even where its meminfo is NULL (a view of a borrowed
# array), and prunes such pairs only in straight-line code.  In the eBPF VM, inlined into the
# board's per-packet path, those calls (and the spills around them) cost more than a short
# program.  These views are typed as borrowed: no call is emitted.  The caller keeps the base
# array alive for as long as the view is used (the board and the VM's entry points do, for the
# whole call).

def one_row(a):
    """``a[None, :]``: a 1-D array as a 2-D array of one row, sharing its memory."""
    return a[None, :]


def window(a, start, n):
    """``a[start:start + n]`` of a 1-D array, sharing its memory; IndexError outside ``a``."""
    if start < 0 or n < 0 or start + n > a.shape[0]:
        raise IndexError("window outside the array")
    return a[start:start + n]


def flat(a):
    """A C-contiguous 2-D array as the 1-D array of its elements, sharing its memory."""
    if a.ndim != 2 or not a.flags.c_contiguous:
        raise ValueError("flat() takes a C-contiguous 2-D array")
    return a.reshape(a.size)


def _view_type(a, ndim):
    return BorrowedArray(a.dtype, ndim, "C" if a.layout == "C" else "A", readonly=not a.mutable,
                         aligned=a.aligned)


def _populate(context, builder, rtype, data, shape, strides, itemsize):
    from numba.np.arrayobj import populate_array
    dst = context.make_array(rtype)(context, builder)
    populate_array(dst, data=data, shape=shape, strides=strides, itemsize=itemsize, meminfo=None)
    return dst._getvalue()


@intrinsic
def _one_row(typingctx, a):
    if not (isinstance(a, types.Array) and a.ndim == 1):
        return None

    def codegen(context, builder, sig, args):
        src = context.make_array(sig.args[0])(context, builder, args[0])
        (n,) = cgutils.unpack_tuple(builder, src.shape, 1)
        (st,) = cgutils.unpack_tuple(builder, src.strides, 1)
        return _populate(context, builder, sig.return_type, src.data, [n.type(1), n], [builder.mul(n, st), st],
                         src.itemsize)

    return _view_type(a, 2)(a), codegen


@intrinsic
def _window(typingctx, a, start, n):
    if not (isinstance(a, types.Array) and a.ndim == 1):
        return None

    def codegen(context, builder, sig, args):
        src = context.make_array(sig.args[0])(context, builder, args[0])
        (size,) = cgutils.unpack_tuple(builder, src.shape, 1)
        (st,) = cgutils.unpack_tuple(builder, src.strides, 1)
        i = context.cast(builder, args[1], sig.args[1], types.intp)
        k = context.cast(builder, args[2], sig.args[2], types.intp)
        zero = i.type(0)
        bad = builder.or_(builder.or_(builder.icmp_signed("<", i, zero), builder.icmp_signed("<", k, zero)),
                          builder.icmp_signed(">", builder.add(i, k), size))
        with cgutils.if_unlikely(builder, bad):
            # raised the way numba's own bounds checks raise: a branch, no reference counting
            context.call_conv.return_user_exc(builder, IndexError, ("window outside the array",))
        data = builder.inttoptr(builder.add(builder.ptrtoint(src.data, st.type), builder.mul(i, st)),
                                src.data.type)
        return _populate(context, builder, sig.return_type, data, [k], [st], src.itemsize)

    return _view_type(a, 1)(a, start, n), codegen


@intrinsic
def _flat(typingctx, a):
    if not (isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C"):
        return None

    def codegen(context, builder, sig, args):
        src = context.make_array(sig.args[0])(context, builder, args[0])
        r, c = cgutils.unpack_tuple(builder, src.shape, 2)
        return _populate(context, builder, sig.return_type, src.data, [builder.mul(r, c)], [src.itemsize],
                         src.itemsize)

    return _view_type(a, 1)(a), codegen


@overload(one_row, jit_options={"forceinline": True})
def _one_row_jit(a):
    return lambda a: _one_row(a)


@overload(window, jit_options={"forceinline": True})
def _window_jit(a, start, n):
    return lambda a, start, n: _window(a, start, n)


@overload(flat, jit_options={"forceinline": True})
def _flat_jit(a):
    if not (isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C"):
        raise TypeError("flat() takes a C-contiguous 2-D array")
    return lambda a: _flat(a)
