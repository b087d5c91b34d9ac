# The scalar math of the kernels: one element at a time, inlined into their loops.
#
# Every function takes and returns ``floating`` (float or double) and computes in that
# precision, except the float64 sums.  Constants in ``floating`` arithmetic are written
# ``<floating>1``: a bare ``1`` is the C double ``1.0``, which turns a float32 expression
# into a float64 one (two half-width vector divisions and conversions instead of one).
# exp and tanh are fastnn_math.h's inline ones, so the loops calling them vectorize.

from cython cimport floating

cdef extern from "fastnn_math.h" nogil:
    double fnn_exp(double)
    float fnn_expf(float)
    double fnn_tanh(double)
    float fnn_tanhf(float)
    double log(double)
    double log1p(double)
    double fabs(double)
    float fabsf(float)
    double DBL_MAX
    float FLT_MAX


cdef inline floating exp(floating x) noexcept nogil:
    if floating is float:
        return fnn_expf(x)
    else:
        return fnn_exp(x)


cdef inline floating tanh(floating x) noexcept nogil:
    if floating is float:
        return fnn_tanhf(x)
    else:
        return fnn_tanh(x)


cdef inline floating absolute(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef inline double nonfinite(floating x) noexcept nogil:
    """1 when ``x`` is NaN or infinite, else 0 (a comparison: it vectorizes, and unlike
    ``x * 0`` it survives the build's -fno-signed-zeros)."""
    if floating is float:
        return 0 if fabsf(x) <= FLT_MAX else 1
    else:
        return 0 if fabs(x) <= DBL_MAX else 1


cdef inline floating sigmoid(floating z) noexcept nogil:
    """``1 / (1 + e^-z)`` from ``e = exp(-|z|)``: ``1 / (1 + e)`` for ``z >= 0``, ``e / (1 + e)``
    below (no overflow, no cancellation)."""
    cdef floating e = exp(-absolute(z))
    cdef floating s = <floating>1 / (<floating>1 + e)
    return s if z >= 0 else e * s


cdef inline floating logistic_parts(floating z, floating y, floating* e, floating* h) noexcept nogil:
    """``sigmoid(z)``, and into ``e``, ``h``: ``exp(-|z|)`` and ``max((1 - 2y) z, 0)``, so that
    the log-loss ``softplus(z) - y z = softplus((1 - 2y) z)`` of a label ``y`` in {0, 1} is
    ``h + log1p(e)``: one ``exp`` serves the sigmoid and the loss.  A NaN ``z`` gives NaNs."""
    cdef floating ez = exp(-absolute(z))
    cdef floating s = <floating>1 / (<floating>1 + ez)
    cdef floating t = (<floating>1 - <floating>2 * y) * z
    e[0] = ez
    h[0] = t if not t <= 0 else 0
    return s if z >= 0 else ez * s


cdef inline double sum_log1p(const floating* E, Py_ssize_t n) noexcept nogil:
    """``sum_k log1p(E[k])`` over ``k < n`` in float64, every ``E`` in ``[0, 1]``, as
    ``log1p(S)`` with ``1 + S = prod_k (1 + E[k])``: ``S <- S + e (1 + S)`` adds only
    positive terms (relative error about ``2n 2^-53``, which the log1p keeps).  Eight
    running products at a time (a vector's worth), one ``log1p`` per 512 terms
    (``1 + S < 2^512``) instead of one per term."""
    cdef double total = 0, s
    cdef double p[8]
    cdef Py_ssize_t j0 = 0, j, q, end, n8
    while j0 < n:
        end = min(n, j0 + 512)
        n8 = j0 + (end - j0) // 8 * 8
        for q in range(8):
            p[q] = 0
        for j in range(j0, n8, 8):
            for q in range(8):
                p[q] = p[q] + <double>E[j + q] * (1 + p[q])
        s = p[0]
        for q in range(1, 8):
            s = s + p[q] * (1 + s)
        for j in range(n8, end):
            s = s + <double>E[j] * (1 + s)
        total += log1p(s)
        j0 = end
    return total


# the hidden layer's activations, by their index in fastnn._backends.ACTIVATIONS
cdef enum:
    TANH = 0
    RELU = 1
    SIGMOID = 2

