# What the two models' kernels share: the label check, the output layer, the hidden layer
# (activation and gradient), the gradient means and the update (the numba backend's
# common.py and the hidden-layer helpers of its mlp.py).
#
# Finiteness is checked without a branch per element, by counting the values that are not
# finite (``scalar.nonfinite``): a count of 0 means all are.  Rows of a matrix with row
# stride ``ld`` start at ``A + r * ld``.

cimport numpy as cnp
from cython cimport floating

from scalar cimport RELU, TANH, logistic_parts, nonfinite, sigmoid, sum_log1p, tanh

cdef extern from "fastnn_math.h" nogil:
    int FASTNN_DEBUG
    int fastnn_max_threads()
    double fnn_sgd(double* P, const double* G, Py_ssize_t n, double lr, int apply)
    double fnn_sgdf(float* P, const float* G, Py_ssize_t n, float lr, int apply)

ctypedef fused real:  # float32 or float64 sums, whichever floating the arrays are
    float
    double

# kernel statuses: the values of fastnn._backends
cdef enum:
    OK = 0
    NONFINITE = 1
    BAD_LABEL = 2


cdef inline int team(object tuning, double work, int n_threads) except -1:
    """The threads a call of ``work`` multiply-adds runs on: ``tuning.threads_for`` (the
    policy of :mod:`fastnn.tuning`, read at each call) within OpenMP's limit, which
    ``threadpoolctl.threadpool_limits`` sets."""
    cdef int nt = 1
    if n_threads > 1:
        nt = tuning.threads_for(work, n_threads)
    return min(nt, fastnn_max_threads()) if nt > 1 else 1


cdef inline int expect(object a, str name, int t, Py_ssize_t rows, Py_ssize_t cols,
                       bint out) except -1:
    """In ``FASTNN_DEBUG`` builds (the calls are compiled out of others), a ``ValueError``
    unless ``a`` is a C-contiguous, aligned ndarray of type number ``t``, of shape
    ``(rows, cols)`` (-1: any; ``cols`` -2: 1-D of ``rows``), writable when ``out``: a bad
    call of a kernel raises instead of reading out of bounds."""
    cdef cnp.ndarray arr
    cdef bint ok = isinstance(a, cnp.ndarray)
    if ok:
        arr = <cnp.ndarray>a
        ok = (cnp.PyArray_TYPE(arr) == t and cnp.PyArray_IS_C_CONTIGUOUS(arr)
              and cnp.PyArray_ISALIGNED(arr) and (not out or cnp.PyArray_ISWRITEABLE(arr))
              and cnp.PyArray_NDIM(arr) == (1 if cols == -2 else 2)
              and (rows < 0 or cnp.PyArray_DIM(arr, 0) == rows)
              and (cols < 0 or cnp.PyArray_DIM(arr, 1) == cols))
    if not ok:
        shape = "k" if rows < 0 else str(rows)
        shape += "," if cols == -2 else ", " + ("k" if cols < 0 else str(cols))
        raise ValueError(f"fastnn cython kernel: {name} must be a C-contiguous"
                         f"{' writable' if out else ''} {'float32' if t == cnp.NPY_FLOAT else 'float64'}"
                         f" array of shape ({shape}); got {a!r:.60}")
    return 0


cdef inline bint bad_labels(const floating* Y, Py_ssize_t n) noexcept nogil:
    """Whether a label is not exactly 0 or 1 (NaN included): ``sum |y (1 - y)| != 0``."""
    cdef double acc = 0
    cdef Py_ssize_t i
    for i in range(n):
        acc += <double>abs(Y[i] * (<floating>1 - Y[i]))
    return acc != 0


cdef inline double output_layer(floating* Z2, Py_ssize_t ldz, const floating* Y, Py_ssize_t ldy,
                                Py_ssize_t c0, Py_ssize_t n, Py_ssize_t n_y, floating* E,
                                double* db2) noexcept nogil:
    """``dZ2 = sigmoid(Z2) - Y`` in place over ``Z2[:n_y, :n]`` (labels ``Y[:, c0:c0+n]``);
    adds ``sum(dZ2)`` to ``db2`` and returns the summed loss ``sum softplus((1-2Y) Z2)``.

    One ``exp`` per example serves both the sigmoid and the loss; the loss's ``log1p``
    terms of a row (kept in ``E``) are summed as one ``log1p`` of their product."""
    cdef double loss = 0, h_sum, d_sum
    cdef floating a, d, e, h
    cdef floating* z
    cdef const floating* y
    cdef Py_ssize_t o, i
    for o in range(n_y):
        z, y = Z2 + o * ldz, Y + o * ldy + c0
        h_sum = d_sum = 0
        for i in range(n):
            a = logistic_parts(z[i], y[i], &e, &h)
            d = a - y[i]
            z[i] = d
            E[i] = e
            h_sum += h
            d_sum += d
        loss += h_sum + sum_log1p(E, n)
        db2[o] += d_sum
    return loss


cdef inline void activate(floating* Z, Py_ssize_t ld, Py_ssize_t n_rows, Py_ssize_t n,
                          int act) noexcept nogil:
    """``A = g(Z)`` in place, rows ``< n_rows``, columns ``< n``."""
    cdef Py_ssize_t j, i
    cdef floating* z
    for j in range(n_rows):
        z = Z + j * ld
        if act == TANH:
            for i in range(n):
                z[i] = tanh(z[i])
        elif act == RELU:
            for i in range(n):
                z[i] = 0 if z[i] < 0 else z[i]  # NaN stays NaN
        else:
            for i in range(n):
                z[i] = sigmoid(z[i])


cdef inline void hidden_grad(const floating* W2, Py_ssize_t n_y, Py_ssize_t n_h,
                             const floating* dZ2, const floating* A1, Py_ssize_t ld, Py_ssize_t n,
                             int act, floating* dZ1, double* db1) noexcept nogil:
    """``dZ1 = W2.T dZ2 * g'(Z1)`` over ``n`` columns (``g'`` from ``A1 = g(Z1)``: ``1 - A1^2``,
    ``[A1 > 0]``, ``A1 (1 - A1)``); adds ``sum(dZ1)`` to ``db1``.  ``dZ2``, ``A1`` and ``dZ1``
    have row stride ``ld``.  One pass per output row, the last one applying ``g'``."""
    cdef Py_ssize_t j, o, i, last = n_y - 1
    cdef floating w, a, d
    cdef floating* dz
    cdef const floating* a1
    cdef const floating* dz2
    cdef double s
    for j in range(n_h):
        dz, a1 = dZ1 + j * ld, A1 + j * ld
        for o in range(last):  # the outputs before the last: dZ1 accumulates W2.T dZ2
            w, dz2 = W2[o * n_h + j], dZ2 + o * ld
            if o == 0:
                for i in range(n):
                    dz[i] = w * dz2[i]
            else:
                for i in range(n):
                    dz[i] += w * dz2[i]
        w, dz2 = W2[last * n_h + j], dZ2 + last * ld
        s = 0
        if act == TANH:
            for i in range(n):
                a = a1[i]
                d = ((dz[i] if last else 0) + w * dz2[i]) * (<floating>1 - a * a)
                dz[i] = d
                s += d
        elif act == RELU:
            for i in range(n):
                d = (dz[i] if last else 0) + w * dz2[i]
                d = d if a1[i] > 0 else 0
                dz[i] = d
                s += d
        else:
            for i in range(n):
                a = a1[i]
                d = ((dz[i] if last else 0) + w * dz2[i]) * (a * (<floating>1 - a))
                dz[i] = d
                s += d
        db1[j] += s


cdef inline double mean(const real* S, Py_ssize_t stride, int n_parts, Py_ssize_t n,
                        double scale, floating* G) noexcept nogil:
    """``G[i] = scale * sum_t S[t * stride + i]`` over ``n_parts`` partial sums (the threads'),
    rounded to ``G``'s dtype; returns how many ``G`` are not finite."""
    cdef double bad = 0, s
    cdef floating g
    cdef Py_ssize_t i
    cdef int t
    for i in range(n):
        s = S[i]
        for t in range(1, n_parts):
            s += S[t * stride + i]
        g = <floating>(s * scale)
        G[i] = g
        bad += nonfinite(g)
    return bad


cdef inline double sgd(floating* P, const floating* G, Py_ssize_t n, double lr, bint apply) noexcept nogil:
    """``P - lr * G`` (``lr`` in ``P``'s dtype), written into ``P`` when ``apply``; returns
    how many new values are not finite.  Compiled without reassociation (fastnn_math.h): ``lr * G`` rounds as
    written."""
    if floating is float:
        return fnn_sgdf(P, G, n, <float>lr, apply)
    else:
        return fnn_sgd(P, G, n, lr, apply)
