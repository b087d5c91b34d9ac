"""Vectorizable transcendental functions for the ``numba`` backend.

PyPI's llvmlite has no SVML, so ``math.exp`` or ``math.tanh`` inside a loop is a scalar
libm call (~10 ns) that also stops the loop vectorizer.  The functions here use only
arithmetic, comparisons (compiled to ``min``/``max``/blend, no branches) and bit casts,
so a loop calling them vectorizes (AVX-512 or AVX2) once LLVM inlines them.

Method (the classic one, after fdlibm/Cephes):

``exp(x)``
    ``k = rint(x / ln2)`` (by adding and subtracting ``1.5 * 2^52``: the integer lands in
    the low bits of the sum, no ``rint`` or float-to-int conversion),
    ``r = x - k ln2`` (Cody-Waite, two constants), so
    ``|r| <= ln2 / 2``; ``e^r = 1 + r + r^2 q(r)`` with ``q`` a near-minimax polynomial
    (Chebyshev fit, degree 9 in float64, 4 in float32); ``2^k`` is built from its bits
    (``(k + bias) << mantissa_bits``, an LLVM bitcast) as two factors, so subnormal
    results and overflow to ``inf`` come out right.
``expm1(x)``
    the same reduction: ``2^k (r + r^2 q(r)) + (2^k - 1)``, exact for ``k = 0``.
``tanh(x)``
    ``t = expm1(-2|x|)``, ``tanh|x| = -t / (2 + t)`` (accurate near 0, where the plain
    ``(1 - e) / (1 + e)`` cancels), ``|x|`` capped where tanh rounds to 1, sign by copysign.
``sigmoid(z)``
    ``e = exp(-|z|)``: ``1 / (1 + e)`` for ``z >= 0``, ``e / (1 + e)`` for ``z < 0``.
``log1p(x)``
    ``u = 1 + x`` with the rounding error ``c = (x - (u - 1)) / u`` added back;
    ``log u = k ln2 + log(1 + f)`` with ``f`` in ``[sqrt(2)/2 - 1, sqrt(2) - 1]`` taken
    from the bits of ``u`` and ``log(1 + f)`` from ``s = f / (2 + f)`` (fdlibm's ``Lg``
    polynomial).
``logistic_parts(z, y)``
    ``(sigmoid(z), e, h)`` for a label in {0, 1} from one ``exp``: the log-loss
    ``softplus((1 - 2y) z)`` is ``h + log1p(e)``.
``sum_log1p(E, n)``
    ``sum_k log1p(E[k])`` for ``E`` in ``[0, 1]`` (the loss terms of a row) as one
    ``log1p(S)``, ``1 + S = prod_k (1 + E[k])``.

Every function takes and returns ``float64`` or ``float32`` (computing in that precision)
and follows IEEE for special values: NaN propagates, ``exp(-inf) = 0``,
``exp(inf) = inf``, ``tanh(+-inf) = +-1``, ``sigmoid(+-inf) = 1/0``, ``log1p(-1) = -inf``.

These functions are compiled with ``fastmath={"contract"}`` only and inlined by LLVM
(``forceinline``), so each instruction keeps these flags whatever flags the kernel that
inlines them uses: the range reductions and the ``x - (u - 1)`` correction must not be
reassociated.  Accuracy (measured in ``tests/test_numba_math.py``): see its docstring.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

__all__ = [
    "exp",
    "expm1",
    "log1p",
    "logistic_parts",
    "sigmoid",
    "sum_log1p",
    "tanh",
]

#: Compile options of the kernels: cached on disk, NumPy's error model (no zero-division
#: check in every division, which would stop vectorization), the GIL released, and only
#: the fastmath flags that keep IEEE NaN/inf semantics (the finiteness checks rely on them).
JIT = {
    "cache": True,
    "error_model": "numpy",
    "fastmath": {"reassoc", "contract", "arcp", "nsz"},
    "nogil": True,
    "boundscheck": False,
}

#: The pieces the math functions are built from are inlined into them by numba (no compiled
#: function of their own: fewer to compile), so they run with the math functions' flags.
PART_OPTIONS = {"inline": "always", "error_model": "numpy"}

#: Kernel pieces inlined by numba into the kernels that call them: each kernel is one
#: compiled function over its helpers, instead of a chain of compiled functions that LLVM
#: would optimize again at every level (what makes numba's first call slow).
INLINE = {"inline": "always", "error_model": "numpy", "boundscheck": False}

#: What a function called only from other compiled code leaves out: an entry from Python or
#: C, which takes numba about as long to compile as a small helper itself.
NO_ENTRY = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}

#: Compile options of every math function (see the module docstring).
MATH_OPTIONS = {
    "cache": True,
    **NO_ENTRY,
    "error_model": "numpy",
    "fastmath": {"contract"},
    "nogil": True,
    "forceinline": True,  # LLVM alwaysinline: each instruction keeps these flags when inlined
}


#: The kernels' helpers (called from kernels only).
HELPER = {**JIT, **NO_ENTRY}

#: A column offset of 0 for the helpers, as an int64: a literal ``0`` in a call would
#: compile the helper a second time, for the literal.
START = np.int64(0)


# --- the host, as LLVM sees it (the backend's details) ----------------------------------


def _host_cpu() -> tuple[str, set]:
    import llvmlite.binding as llb

    try:
        return llb.get_host_cpu_name(), set(llb.get_host_cpu_features().flatten().split(","))
    except Exception:  # pragma: no cover - exotic hosts
        return "unknown", set()


HOST_CPU, HOST_FEATURES = _host_cpu()


# --- bit casts --------------------------------------------------------------------------


@intrinsic
def _i64_as_f64(typingctx, bits):
    """The float64 whose bits are the int64 ``bits``."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _f64_as_i64(typingctx, x):
    """The bits of the float64 ``x`` as an int64."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _i32_as_f32(typingctx, bits):
    """The float32 whose bits are the low 32 bits of the integer ``bits``.

    (Numba widens int32 arithmetic to int64; LLVM narrows it back through the truncation.)
    """
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        low = builder.trunc(args[0], ir.IntType(32)) if bits.bitwidth > 32 else args[0]
        return builder.bitcast(low, ir.FloatType())

    return types.float32(bits), codegen


@intrinsic
def _f32_as_i32(typingctx, x):
    """The bits of the float32 ``x`` as an int32."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


# --- float64 ----------------------------------------------------------------------------

_LN2_HI = 6.93147180369123816490e-01  # ln 2 with trailing zero bits: k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_SQRT2 = 1.4142135623730951
# q(r) ~ (e^r - 1 - r) / r^2 on [-ln2/2, ln2/2], Chebyshev fit (relative error of
# r + r^2 q below 4.1e-17 before rounding)
_Q0 = 0.5000000000000001
_Q1 = 0.16666666666666669
_Q2 = 0.04166666666662413
_Q3 = 0.008333333333330062
_Q4 = 0.0013888888917213717
_Q5 = 0.00019841269863053618
_Q6 = 2.4801521295954376e-05
_Q7 = 2.7557268459997064e-06
_Q8 = 2.7620088445409746e-07
_Q9 = 2.510038549551032e-08
# fdlibm's log: log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f)
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_EXP_LO = -746.0  # below: exp underflows to 0 (exp(-745.14) is the smallest subnormal / 2)
_EXP_HI = 710.0  # above: exp overflows (exp(709.79) is inf)
_TANH_CAP = 20.0  # tanh(20) rounds to 1 in float64
_INF = math.inf
_SHIFT = 6755399441055744.0  # 1.5 * 2^52
_SHIFT_BITS = 0x4338000000000000
_NAN = math.nan


@njit(**PART_OPTIONS)
def _expm1_poly64(r):
    """``e^r - 1 = r + r^2 q(r)`` for ``|r| <= ln2 / 2``, ``q`` by Estrin's scheme (its
    terms in parallel: a chain of four multiply-adds instead of Horner's nine)."""
    r2 = r * r
    r4 = r2 * r2
    q01 = _Q0 + r * _Q1
    q23 = _Q2 + r * _Q3
    q45 = _Q4 + r * _Q5
    q67 = _Q6 + r * _Q7
    q89 = _Q8 + r * _Q9
    q = (q01 + r2 * q23) + r4 * ((q45 + r2 * q67) + r4 * q89)
    return r + r2 * q


@njit(**PART_OPTIONS)
def _reduce64(x):
    """``(k, ki, r)`` with ``x = k ln2 + r``, ``|r| <= ln2/2``, ``k`` integer-valued and
    ``ki`` the same integer as an int64; ``x`` already in range.

    ``x / ln2 + 1.5 * 2^52`` (one FMA) rounds to the nearest integer in the low bits of
    the sum: subtracting the shift gives ``k``, subtracting its bits gives ``ki`` (no
    ``rint``, no float-to-int conversion; a NaN gives a NaN ``r``, which the result keeps).
    """
    kk = x * _INV_LN2 + _SHIFT
    k = kk - _SHIFT
    ki = _f64_as_i64(kk) - _SHIFT_BITS
    r = (x - k * _LN2_HI) - k * _LN2_LO
    return k, ki, r


@njit(**PART_OPTIONS)
def _clamp64(x, lo, hi):
    """``x`` limited to ``[lo, hi]``; NaN stays NaN (the comparisons are false for it)."""
    x = lo if x < lo else x
    return hi if x > hi else x


@njit(**PART_OPTIONS)
def _pow2_halves64(ki):
    """``(2^(ki//2), 2^(ki - ki//2))``: two normal factors for ``ki`` in ``[-2044, 2046]``."""
    k1 = ki >> 1
    k2 = ki - k1
    return _i64_as_f64((k1 + 1023) << 52), _i64_as_f64((k2 + 1023) << 52)


@njit(**MATH_OPTIONS)
def exp64(x):
    _, ki, r = _reduce64(_clamp64(x, _EXP_LO, _EXP_HI))
    s1, s2 = _pow2_halves64(ki)
    return ((1.0 + _expm1_poly64(r)) * s1) * s2


@njit(**MATH_OPTIONS)
def expm1_64(x):
    # below -40, expm1 rounds to -1
    _, ki, r = _reduce64(_clamp64(x, -40.0, _EXP_HI))
    s1, s2 = _pow2_halves64(ki)
    p = _expm1_poly64(r)
    # 2^k p + (2^k - 1): one rounding, and k = 0 gives p itself; for k > 56 the -1 is
    # below half an ulp, and 2^k alone may overflow where 2^k (1 + p) does not
    t = s1 * s2
    small = (t * p) + (t - 1.0)
    large = ((1.0 + p) * s1) * s2
    y = large if ki > 56 else small
    return x if x == 0.0 else y  # -0 stays -0 (the reduction turns it into +0)


@njit(**MATH_OPTIONS)
def tanh64(x):
    a = abs(x)
    a = _TANH_CAP if a > _TANH_CAP else a  # NaN stays NaN, inf becomes the cap
    # expm1(-2a) for 0 <= 2a <= 40: k in [-58, 0], a single normal 2^k, no cancellation
    _, ki, r = _reduce64(-2.0 * a)
    s = _i64_as_f64((ki + 1023) << 52)
    t = s * _expm1_poly64(r) + (s - 1.0)
    return math.copysign(-t / (2.0 + t), x)


@njit(**PART_OPTIONS)
def logistic64(z):
    """``(e, 1 / (1 + e))`` with ``e = exp(-|z|)``: the pieces of sigmoid and softplus."""
    e = exp64(-abs(z))
    return e, 1.0 / (1.0 + e)


@njit(**MATH_OPTIONS)
def sigmoid64(z):
    e, s = logistic64(z)
    return s if z >= 0.0 else e * s


@njit(**PART_OPTIONS)
def _log_poly64(f):
    """``log(1 + f)`` for ``f`` in ``[sqrt(2)/2 - 1, sqrt(2) - 1]``."""
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    return f - (hfsq - s * (hfsq + (t1 + t2)))


@njit(**MATH_OPTIONS)
def log1p64(x):
    u = 1.0 + x
    # u - 1 is exact for u in [0.5, 2]; elsewhere c is below an ulp of the result
    c = (x - (u - 1.0)) / u
    bits = _f64_as_i64(u)
    # scale u to m in [sqrt(2)/2, sqrt(2)): exponent from the bits, offset by sqrt(2)/2's
    hx = bits + (0x3FF0000000000000 - 0x3FE6A09E00000000)
    k = np.float64((hx >> 52) - 1023)
    m = _i64_as_f64((hx & 0x000FFFFFFFFFFFFF) + 0x3FE6A09E00000000)
    y = k * _LN2_HI + (_log_poly64(m - 1.0) + (k * _LN2_LO + c))
    y = x if u == 1.0 else y  # tiny x (and +-0, keeping the sign): log1p(x) = x
    y = -_INF if u == 0.0 else y
    y = _NAN if u < 0.0 else y
    y = _INF if u == _INF else y
    return x if x != x else y


@njit(**MATH_OPTIONS)
def logistic_parts64(z, y):
    """``(sigmoid(z), e, h)`` for a label ``y`` in {0, 1}, with ``e = exp(-|z|)`` and
    ``h = max((1 - 2y) z, 0)``: the log-loss ``softplus((1 - 2y) z)`` is ``h + log1p(e)``.

    ``softplus(z) - y z`` equals ``softplus(s)`` with ``s = (1 - 2y) z``, and ``|s| = |z|``,
    so the ``e`` of the sigmoid serves the loss too: one ``exp``.  The kernels sum the
    ``log1p(e)`` of a whole row at once (:func:`sum_log1p`); a NaN ``z`` gives NaNs.
    """
    e, inv_u = logistic64(z)
    a = inv_u if z >= 0.0 else e * inv_u
    s = (1.0 - 2.0 * y) * z
    h = s if s > 0.0 else 0.0
    h = s if s != s else h
    return a, e, h


@njit(**MATH_OPTIONS)
def sum_log1p(E, n):
    """``sum_k log1p(E[k])`` over ``k < n`` in float64, every ``E`` in ``[0, 1]`` (float64 or
    float32), as ``log1p(S)`` with ``1 + S = prod_k (1 + E[k])``.

    ``S <- S + e (1 + S)`` adds only positive terms, so its relative error stays below about
    ``2n 2^-53``, which the log1p keeps.  Eight running products (one vector of float64),
    chunks of at most 512 terms (``1 + S < 2^512``): one scalar ``log1p`` per chunk instead
    of one per element.
    """
    total = 0.0
    j0 = 0
    while j0 < n:
        end = n if n < j0 + 512 else j0 + 512
        n8 = j0 + (end - j0) // 8 * 8
        p0 = p1 = p2 = p3 = p4 = p5 = p6 = p7 = 0.0
        for j in range(j0, n8, 8):  # p <- p + e (1 + p): (1 + p)(1 + e) - 1, no 1 + e formed
            p0 += np.float64(E[j]) * (1.0 + p0)
            p1 += np.float64(E[j + 1]) * (1.0 + p1)
            p2 += np.float64(E[j + 2]) * (1.0 + p2)
            p3 += np.float64(E[j + 3]) * (1.0 + p3)
            p4 += np.float64(E[j + 4]) * (1.0 + p4)
            p5 += np.float64(E[j + 5]) * (1.0 + p5)
            p6 += np.float64(E[j + 6]) * (1.0 + p6)
            p7 += np.float64(E[j + 7]) * (1.0 + p7)
        s = p0
        for p in (p1, p2, p3, p4, p5, p6, p7):
            s += p * (1.0 + s)
        for j in range(n8, end):
            s += np.float64(E[j]) * (1.0 + s)
        total += log1p64(s)
        j0 = end
    return total


# --- float32 ----------------------------------------------------------------------------

_f = np.float32
_LN2_HI_F = _f(6.9313812256e-01)  # 16 significant bits: k * _LN2_HI_F is exact
_LN2_LO_F = _f(9.0580006145e-06)
_INV_LN2_F = _f(1.4426950216e00)
_SQRT2_F = _f(1.4142135623730951)
_QF0 = _f(0.5)
_QF1 = _f(0.16666576989698775)
_QF2 = _f(0.041666554617204574)
_QF3 = _f(0.008363179052722578)
_QF4 = _f(0.0013926183587713494)
# fdlibm's logf
_LGF1 = _f(0.66666662693)
_LGF2 = _f(0.40000972152)
_LGF3 = _f(0.28498786688)
_LGF4 = _f(0.24279078841)
_EXP_LO_F = _f(-104.0)  # expf(-103.98) is the smallest subnormal / 2
_EXP_HI_F = _f(89.0)  # expf(88.73) is inf
_TANH_CAP_F = _f(10.0)  # tanhf(10) rounds to 1
_ZERO_F = _f(0.0)
_HALF_F = _f(0.5)
_ONE_F = _f(1.0)
_TWO_F = _f(2.0)
_M2_F = _f(-2.0)
_M20_F = _f(-20.0)
_INF_F = _f(np.inf)
_SHIFT_F = _f(12582912.0)  # 1.5 * 2^23
_NAN_F = _f(np.nan)


@njit(**PART_OPTIONS)
def _expm1_poly32(r):
    q = _QF3 + r * _QF4
    q = _QF2 + r * q
    q = _QF1 + r * q
    q = _QF0 + r * q
    return r + (r * r) * q


@njit(**PART_OPTIONS)
def _reduce32(x):
    """As :func:`_reduce64`, with the float32 shift ``1.5 * 2^23``."""
    kk = x * _INV_LN2_F + _SHIFT_F
    k = kk - _SHIFT_F
    ki = _f32_as_i32(kk) - np.int32(0x4B400000)
    r = (x - k * _LN2_HI_F) - k * _LN2_LO_F
    return k, ki, r


@njit(**PART_OPTIONS)
def _clamp32(x, lo, hi):
    x = lo if x < lo else x
    return hi if x > hi else x


@njit(**PART_OPTIONS)
def _pow2_halves32(ki):
    k1 = ki >> np.int32(1)
    k2 = ki - k1
    return (_i32_as_f32((k1 + np.int32(127)) << np.int32(23)),
            _i32_as_f32((k2 + np.int32(127)) << np.int32(23)))


@njit(**MATH_OPTIONS)
def exp32(x):
    _, ki, r = _reduce32(_clamp32(x, _EXP_LO_F, _EXP_HI_F))
    s1, s2 = _pow2_halves32(ki)
    return ((_ONE_F + _expm1_poly32(r)) * s1) * s2


@njit(**MATH_OPTIONS)
def expm1_32(x):
    _, ki, r = _reduce32(_clamp32(x, _M20_F, _EXP_HI_F))  # expm1f rounds to -1 below -20
    s1, s2 = _pow2_halves32(ki)
    p = _expm1_poly32(r)
    t = s1 * s2
    small = (t * p) + (t - _ONE_F)
    large = ((_ONE_F + p) * s1) * s2
    y = large if ki > np.int32(25) else small
    return x if x == _ZERO_F else y


@njit(**MATH_OPTIONS)
def tanh32(x):
    a = abs(x)
    a = _TANH_CAP_F if a > _TANH_CAP_F else a
    _, ki, r = _reduce32(_M2_F * a)
    s = _i32_as_f32((ki + np.int32(127)) << np.int32(23))
    t = s * _expm1_poly32(r) + (s - _ONE_F)
    return math.copysign(-t / (_TWO_F + t), x)


@njit(**PART_OPTIONS)
def logistic32(z):
    e = exp32(-abs(z))
    return e, _ONE_F / (_ONE_F + e)


@njit(**MATH_OPTIONS)
def sigmoid32(z):
    e, s = logistic32(z)
    return s if z >= _ZERO_F else e * s


@njit(**PART_OPTIONS)
def _log_poly32(f):
    hfsq = _HALF_F * f * f
    s = f / (_TWO_F + f)
    z = s * s
    w = z * z
    t1 = w * (_LGF2 + w * _LGF4)
    t2 = z * (_LGF1 + w * _LGF3)
    return f - (hfsq - s * (hfsq + (t1 + t2)))


@njit(**MATH_OPTIONS)
def log1p32(x):
    u = _ONE_F + x
    c = (x - (u - _ONE_F)) / u
    bits = _f32_as_i32(u)
    hx = bits + np.int32(0x3F800000 - 0x3F3504F3)
    k = np.float32((hx >> np.int32(23)) - np.int32(127))
    m = _i32_as_f32((hx & np.int32(0x007FFFFF)) + np.int32(0x3F3504F3))
    y = k * _LN2_HI_F + (_log_poly32(m - _ONE_F) + (k * _LN2_LO_F + c))
    y = x if u == _ONE_F else y
    y = -_INF_F if u == _ZERO_F else y
    y = _NAN_F if u < _ZERO_F else y
    y = _INF_F if u == _INF_F else y
    return x if x != x else y


@njit(**MATH_OPTIONS)
def logistic_parts32(z, y):
    e, inv_u = logistic32(z)
    a = inv_u if z >= _ZERO_F else e * inv_u
    s = (_ONE_F - _TWO_F * y) * z
    h = s if s > _ZERO_F else _ZERO_F
    h = s if s != s else h
    return a, e, h


# --- precision-generic names (what the kernels call) ------------------------------------


def _generic(name, f64, f32, nargs):
    """A function callable from ``@njit`` code that picks the float64 or float32 version by
    its first argument's type: that version's own code, no wrapper (one less to compile)."""

    def stub(*args):
        raise TypeError(f"fastnn's numba {name} is callable from @njit code only")

    stub.__name__ = stub.__qualname__ = name
    stub.__doc__ = f"``{name}`` in the precision of its first argument (float64 or float32)."

    def pick(x):
        if x == types.float32:
            return f32
        if x == types.float64:
            return f64
        return None

    if nargs == 1:

        @overload(stub, jit_options=MATH_OPTIONS, strict=False)
        def _ov1(x):
            fn = pick(x)
            return None if fn is None else fn.py_func

    else:

        @overload(stub, jit_options=MATH_OPTIONS, strict=False)
        def _ov2(x, y):
            fn = pick(x)
            return None if fn is None else fn.py_func

    return stub


exp = _generic("exp", exp64, exp32, 1)
expm1 = _generic("expm1", expm1_64, expm1_32, 1)
tanh = _generic("tanh", tanh64, tanh32, 1)
sigmoid = _generic("sigmoid", sigmoid64, sigmoid32, 1)
log1p = _generic("log1p", log1p64, log1p32, 1)
logistic_parts = _generic("logistic_parts", logistic_parts64, logistic_parts32, 2)
