"""Register-tiled products of the first layer for the ``numba`` backend, in LLVM IR.

The two products that touch ``X`` -- the forward ``Z = W X + b`` and the backward
``dW += G X.T`` -- are the only loops of a training step whose cost grows with
``n_x n_h m``.  Written as plain Python loops, LLVM vectorizes them along the examples
but keeps the partial sums in memory (a load and a store per multiply-add).  The
functions here are :func:`numba.extending.intrinsic` s that emit the loops directly as
LLVM vector IR (64-byte vectors: 8 doubles or 16 floats, one zmm register on AVX-512,
split by LLVM on narrower targets): a tile of partial sums stays in registers and every
vector of ``X`` loaded feeds several FMAs (plain IEEE ``llvm.fma``: no reassociation).

Layouts: every array is C-contiguous and 2-D; a block of examples is the columns
``[c0, c0 + L)`` of ``X``; ``L`` must be at least the vector length (:data:`lanes`).

``fwd_HTxNV(Z, W, b, X, h0, c0, L, i0, i1)``
    ``Z[h, :L] = b[h] + sum_{i0 <= i < i1} W[h, i] X[i, c0:c0 + L]`` for the ``HT`` rows
    ``h0 <= h < h0 + HT``; ``NV`` vectors of examples per tile (``HT * NV`` accumulators).
    The columns past the last whole vector are done as one more vector ending at ``L``
    (the lanes it shares with the previous one are recomputed, bit for bit the same).
``fwdacc_HTxNV(Z, W, X, h0, c0, L, i0, i1)``
    The same without the bias, added to ``Z`` (partial sums over row ranges of ``X``); the
    last vector adds only its new lanes.
``bwd_HTxIT(A, G, X, h0, i0, c0, L)``
    ``A[h, i] += sum_{k < L} G[h, k] X[i, c0 + k]`` for the ``HT x IT`` pairs
    ``h0 <= h < h0 + HT``, ``i0 <= i < i0 + IT``: one vector accumulator per pair, the
    lanes summed at the end (a fixed tree: the result does not depend on the target).
    The tail is one more vector ending at ``L`` with the lanes already counted zeroed in
    ``X``'s vector.

Every result depends only on the operands and the fixed order of operations: repeated
calls give bit-identical results.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["VECTOR_BYTES", "bwd", "fwd", "fwdacc", "lanes", "view"]

#: Bytes per vector: 8 doubles or 16 floats.
VECTOR_BYTES = 64

_I32 = ir.IntType(32)
_I64 = ir.IntType(64)


def lanes(itemsize: int) -> int:
    """Elements per vector for an item size in bytes."""
    return VECTOR_BYTES // itemsize


# --- IR helpers -------------------------------------------------------------------------


class _Array:
    """Data pointer and row length (elements) of a C-contiguous 2-D array argument."""

    def __init__(self, context, builder, aryty, value):
        ary = context.make_array(aryty)(context, builder, value)
        self.data = ary.data
        self.shape = cgutils.unpack_tuple(builder, ary.shape, aryty.ndim)
        self.ld = self.shape[-1]

    def ptr(self, builder, row, col):
        """Address of element ``[row, col]``."""
        return builder.gep(self.data, [builder.add(builder.mul(row, self.ld), col)])


def _vtype(context, dtype):
    elem = context.get_value_type(dtype)
    return ir.VectorType(elem, lanes(dtype.bitwidth // 8)), elem


def _block(context, builder, dtype, L):
    """What both emitters start from: the vector type ``V``, its lanes ``vl``, the element
    alignment, a zero vector, and a block of ``L`` columns as ``n_vec`` whole vectors plus
    ``rem`` columns."""
    V, elem = _vtype(context, dtype)
    vl = V.count
    zero = ir.Constant(V, [ir.Constant(elem, 0.0)] * vl)
    return V, vl, dtype.bitwidth // 8, zero, builder.sdiv(L, _I64(vl)), builder.srem(L, _I64(vl))


def _load_vec(builder, V, ptr, align):
    return builder.load(builder.bitcast(ptr, V.as_pointer()), align=align)


def _store_vec(builder, value, ptr, align):
    builder.store(value, builder.bitcast(ptr, value.type.as_pointer()), align=align)


def _fma(builder, a, b, c):
    """``a * b + c`` with one rounding (``llvm.fma`` on vectors)."""
    V = a.type
    name = f"llvm.fma.v{V.count}{'f64' if isinstance(V.element, ir.DoubleType) else 'f32'}"
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(V, [V, V, V]), name)
    return builder.call(fn, [a, b, c])


def _splat(builder, V, scalar):
    n = V.count
    v = builder.insert_element(ir.Constant(V, ir.Undefined), scalar, _I32(0))
    zeros = ir.Constant(ir.VectorType(_I32, n), [0] * n)
    return builder.shuffle_vector(v, ir.Constant(V, ir.Undefined), zeros)


def _hsum(builder, v):
    """Sum of the lanes by a fixed tree: halves added pairwise until one lane is left."""
    n = v.type.count
    while n > 1:
        half = n // 2
        undef = ir.Constant(v.type, ir.Undefined)
        lo = builder.shuffle_vector(v, undef, ir.Constant(ir.VectorType(_I32, half), list(range(half))))
        hi = builder.shuffle_vector(v, undef, ir.Constant(ir.VectorType(_I32, half), list(range(half, n))))
        v = builder.fadd(lo, hi)
        n = half
    return builder.extract_element(v, _I32(0))


def _tail_mask(builder, V, skip):
    """``<lane >= skip>`` for each lane: the lanes of the last (overlapping) vector that are new."""
    n = V.count
    idx = ir.Constant(ir.VectorType(_I64, n), list(range(n)))
    s = builder.insert_element(ir.Constant(ir.VectorType(_I64, n), ir.Undefined), skip, _I32(0))
    s = builder.shuffle_vector(s, ir.Constant(ir.VectorType(_I64, n), ir.Undefined),
                               ir.Constant(ir.VectorType(_I32, n), [0] * n))
    return builder.icmp_signed(">=", idx, s)


def _i64(builder, value):
    return value if value.type == _I64 else builder.sext(value, _I64)


def _check_arrays(*arys):
    for a in arys:
        if not (isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C"):
            return False
    dt = arys[0].dtype
    return dt in (types.float32, types.float64) and all(a.dtype == dt for a in arys)


# --- forward: Z = W X + b ---------------------------------------------------------------


def _emit_fwd(context, builder, dtype, Z, W, b, X, h0, c0, L, i0, i1, HT, NV, accumulate):
    V, vl, align, zero, n_vec, rem = _block(context, builder, dtype, L)
    n_groups = builder.sdiv(n_vec, _I64(NV))

    def tile(col, nv, skip=None):
        """Columns ``[col, col + nv * vl)`` of the block (``skip``: lanes of the single
        vector already done, for the overlapping last vector)."""
        accs = [[cgutils.alloca_once(builder, V) for _ in range(nv)] for _ in range(HT)]
        for a in range(HT):
            if accumulate:
                init = zero
            else:
                init = _splat(builder, V, builder.load(b.ptr(builder, builder.add(h0, _I64(a)), _I64(0))))
            for v in range(nv):
                builder.store(init, accs[a][v])
        with cgutils.for_range(builder, i1, start=i0) as loop:
            i = loop.index
            xs = [_load_vec(builder, V, X.ptr(builder, i, builder.add(c0, builder.add(col, _I64(v * vl)))),
                            align)
                  for v in range(nv)]
            for a in range(HT):
                w = _splat(builder, V, builder.load(W.ptr(builder, builder.add(h0, _I64(a)), i)))
                for v in range(nv):
                    builder.store(_fma(builder, w, xs[v], builder.load(accs[a][v])), accs[a][v])
        mask = None if skip is None or not accumulate else _tail_mask(builder, V, skip)
        for a in range(HT):
            row = builder.add(h0, _I64(a))
            for v in range(nv):
                p = Z.ptr(builder, row, builder.add(col, _I64(v * vl)))
                acc = builder.load(accs[a][v])
                if accumulate:
                    old = _load_vec(builder, V, p, align)
                    new = builder.fadd(old, acc)
                    acc = new if mask is None else builder.select(mask, new, old)
                _store_vec(builder, acc, p, align)

    with cgutils.for_range(builder, n_groups) as loop:
        tile(builder.mul(loop.index, _I64(NV * vl)), NV)
    with cgutils.for_range(builder, n_vec, start=builder.mul(n_groups, _I64(NV))) as loop:
        tile(builder.mul(loop.index, _I64(vl)), 1)
    has_tail = builder.icmp_signed(">", rem, _I64(0))
    with builder.if_then(has_tail, likely=False):
        tile(builder.sub(L, _I64(vl)), 1, skip=builder.sub(_I64(vl), rem))


def _make_fwd(HT, NV, accumulate):
    if accumulate:

        @intrinsic
        def kernel(typingctx, Z, W, X, h0, c0, L, i0, i1):
            if not _check_arrays(Z, W, X):
                return None
            sig = types.void(Z, W, X, h0, c0, L, i0, i1)

            def codegen(context, builder, signature, args):
                za, wa, xa = (_Array(context, builder, t, v) for t, v in zip(signature.args[:3], args[:3]))
                h0_, c0_, L_, i0_, i1_ = (_i64(builder, v) for v in args[3:])
                _emit_fwd(context, builder, signature.args[0].dtype, za, wa, None, xa,
                          h0_, c0_, L_, i0_, i1_, HT, NV, True)
                return context.get_dummy_value()

            return sig, codegen

    else:

        @intrinsic
        def kernel(typingctx, Z, W, b, X, h0, c0, L, i0, i1):
            if not _check_arrays(Z, W, b, X):
                return None
            sig = types.void(Z, W, b, X, h0, c0, L, i0, i1)

            def codegen(context, builder, signature, args):
                za, wa, ba, xa = (_Array(context, builder, t, v)
                                  for t, v in zip(signature.args[:4], args[:4]))
                h0_, c0_, L_, i0_, i1_ = (_i64(builder, v) for v in args[4:])
                _emit_fwd(context, builder, signature.args[0].dtype, za, wa, ba, xa,
                          h0_, c0_, L_, i0_, i1_, HT, NV, False)
                return context.get_dummy_value()

            return sig, codegen

    kernel.__name__ = f"{'fwdacc' if accumulate else 'fwd'}_{HT}x{NV}"
    return kernel


# --- backward: A += G X.T ---------------------------------------------------------------


def _emit_bwd(context, builder, dtype, A, G, X, h0, i0, c0, L, HT, IT):
    V, vl, align, zero, n_vec, rem = _block(context, builder, dtype, L)
    accs = [[cgutils.alloca_once(builder, V) for _ in range(IT)] for _ in range(HT)]
    for a in range(HT):
        for c in range(IT):
            builder.store(zero, accs[a][c])

    def step(k, mask=None):
        gs = [_load_vec(builder, V, G.ptr(builder, builder.add(h0, _I64(a)), k), align) for a in range(HT)]
        xs = []
        for c in range(IT):
            x = _load_vec(builder, V, X.ptr(builder, builder.add(i0, _I64(c)), builder.add(c0, k)), align)
            xs.append(x if mask is None else builder.select(mask, x, zero))
        for a in range(HT):
            for c in range(IT):
                builder.store(_fma(builder, gs[a], xs[c], builder.load(accs[a][c])), accs[a][c])

    with cgutils.for_range(builder, n_vec) as loop:
        step(builder.mul(loop.index, _I64(vl)))
    has_tail = builder.icmp_signed(">", rem, _I64(0))
    with builder.if_then(has_tail, likely=False):
        step(builder.sub(L, _I64(vl)), _tail_mask(builder, V, builder.sub(_I64(vl), rem)))
    for a in range(HT):
        for c in range(IT):
            p = A.ptr(builder, builder.add(h0, _I64(a)), builder.add(i0, _I64(c)))
            builder.store(builder.fadd(builder.load(p), _hsum(builder, builder.load(accs[a][c]))), p)


def _make_bwd(HT, IT):
    @intrinsic
    def kernel(typingctx, A, G, X, h0, i0, c0, L):
        if not _check_arrays(A, G, X):
            return None
        sig = types.void(A, G, X, h0, i0, c0, L)

        def codegen(context, builder, signature, args):
            aa, ga, xa = (_Array(context, builder, t, v) for t, v in zip(signature.args[:3], args[:3]))
            h0_, i0_, c0_, L_ = (_i64(builder, v) for v in args[3:])
            _emit_bwd(context, builder, signature.args[0].dtype, aa, ga, xa, h0_, i0_, c0_, L_, HT, IT)
            return context.get_dummy_value()

        return sig, codegen

    kernel.__name__ = f"bwd_{HT}x{IT}"
    return kernel


#: The tile shapes, by (rows, vectors) / (rows, rows): at most 24 vector accumulators.
#: Forward, one shape per number of hidden units up to 8 (a layer is read once per 8).
FWD_SHAPES = ((8, 3), (7, 3), (6, 3), (5, 4), (4, 4), (3, 4), (2, 4), (1, 4))
fwd = {(ht, nv): _make_fwd(ht, nv, False) for ht, nv in FWD_SHAPES}
fwdacc = {(ht, nv): _make_fwd(ht, nv, True) for ht, nv in FWD_SHAPES}
bwd = {(ht, it): _make_bwd(ht, it) for ht in (4, 3, 2, 1) for it in (8, 4, 2, 1) if ht * it <= 16}


# --- workspace views --------------------------------------------------------------------


@intrinsic
def view(typingctx, ws, off, shape):
    """The C-contiguous array of ``shape`` (a tuple of 1 to 3 ints) whose data start at
    element ``off`` of the C-contiguous array ``ws`` (flat index; sharing its memory; the
    caller keeps it in bounds).  Unlike ``ws[off:off + n].reshape(shape)`` it calls no reshape helper: the
    view is a struct filled in place (numba's reshape costs ~80 ns per call, and a kernel
    cuts a dozen buffers per call from one workspace)."""
    if not (isinstance(ws, types.Array) and ws.layout == "C"
            and isinstance(shape, types.UniTuple) and isinstance(shape.dtype, types.Integer)
            and 1 <= shape.count <= 3 and isinstance(off, types.Integer)):
        return None
    retty = types.Array(ws.dtype, shape.count, "C")
    sig = retty(ws, off, shape)

    def codegen(context, builder, signature, args):
        from numba.core.imputils import impl_ret_borrowed
        from numba.np.arrayobj import make_array, populate_array

        wsty, _, shty = signature.args
        src = make_array(wsty)(context, builder, args[0])
        dims = [_i64(builder, d) for d in cgutils.unpack_tuple(builder, args[2], shty.count)]
        itemsize = context.get_abi_sizeof(context.get_data_type(wsty.dtype))
        strides = []
        acc = _I64(itemsize)
        for d in reversed(dims):
            strides.append(acc)
            acc = builder.mul(acc, d)
        strides.reverse()
        out = make_array(retty)(context, builder)
        populate_array(out, data=builder.gep(src.data, [_i64(builder, args[1])]), shape=dims,
                       strides=strides, itemsize=_I64(itemsize), meminfo=src.meminfo, parent=None)
        return impl_ret_borrowed(context, builder, retty, out._getvalue())

    return sig, codegen


@intrinsic
def borrowed(typingctx, ws):
    """``ws`` itself without its reference to its memory's owner (numba's meminfo): the
    views :func:`view` cuts from it then cost no atomic reference counting (numba's
    ``NRT_incref``/``NRT_decref`` are locked instructions, ~0.4 us of a planar training
    step's 4.9 us).  Only for an array the caller keeps alive for as long as the views are
    used: an argument of the function that cuts and uses them, never one it allocates."""
    if not (isinstance(ws, types.Array) and ws.layout == "C"):
        return None

    def codegen(context, builder, signature, args):
        from numba.np.arrayobj import make_array

        arr = make_array(signature.args[0])(context, builder, args[0])
        arr.meminfo = cgutils.get_null_value(arr.meminfo.type)
        return arr._getvalue()  # no reference: nothing to give back

    return ws(ws), codegen
