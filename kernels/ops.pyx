# cython: language_level=3, cdivision=True
"""The element-wise and vector ops of the cython backend (``fastnn._cython.ops``):
``sigmoid``, ``dot`` (the vectorization demo), the course's cost from probabilities, the
parameter update; the compiled fast checks of the validation layer; the build record.

    sigmoid(z) = 1 / (1 + e^-z)                      (element-wise; a new array)
    dot(a, b) = sum_i a[i] b[i]                      (accumulated in float64)
    mlp_cost(A2, Y) = -(1/m) sum(Y log P + (1 - Y) log(1 - P)),  P = clip(A2, eps, 1 - eps)
    sgd_update(P, dP, lr) = P - lr dP                (a new array)
"""

cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport free, malloc

from common cimport expect, sgd, team
from scalar cimport log, sigmoid as logistic

from fastnn import tuning
from fastnn._validation import _with_labels

cdef extern from "fastnn_math.h" nogil:
    const char* FASTNN_CFLAGS
    const char* FASTNN_SIMD
    const char* FASTNN_COMPILER
    const char* FASTNN_CYTHON_VERSION
    int FASTNN_OPENMP
    int FASTNN_DEBUG
    int FASTNN_LIBMVEC
    int fastnn_max_threads()
    double DBL_EPSILON
    float FLT_EPSILON

cnp.import_array()


cdef inline void* data(cnp.ndarray a) noexcept:
    return cnp.PyArray_DATA(a)


cdef inline int float_or_double(cnp.ndarray a) noexcept:
    return cnp.NPY_FLOAT if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT else cnp.NPY_DOUBLE


cdef void sigmoids(const floating* z, Py_ssize_t n, floating* out) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = logistic(z[i])


def sigmoid(cnp.ndarray z not None):
    """The logistic function, element-wise, stable for every finite ``z``: a new array of
    ``z``'s shape."""
    if FASTNN_DEBUG:
        expect(z.reshape(-1) if cnp.PyArray_IS_C_CONTIGUOUS(z) else z, "z", float_or_double(z),
               -1, -2, False)
    cdef cnp.npy_intp n = cnp.PyArray_SIZE(z)
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(z), cnp.PyArray_DIMS(z),
                                             cnp.PyArray_TYPE(z), 0)
    cdef int f64 = cnp.PyArray_TYPE(z) == cnp.NPY_DOUBLE
    cdef void* pz = data(z)
    cdef void* po = data(out)
    with nogil:
        if f64:
            sigmoids(<double*>pz, n, <double*>po)
        else:
            sigmoids(<float*>pz, n, <float*>po)
    return out


cdef double dot_range(const floating* a, const floating* b, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """``sum_{lo <= i < hi} a[i] b[i]`` in float64."""
    cdef double s = 0
    cdef Py_ssize_t i
    for i in range(lo, hi):
        s += <double>a[i] * <double>b[i]
    return s


cdef double dot_team(const floating* a, const floating* b, Py_ssize_t n, int nt,
                     double* parts) noexcept nogil:
    """:func:`dot_range` of the whole vectors, thread ``t`` summing the ``t``-th range."""
    cdef double s = 0
    cdef int t
    if nt == 1:
        return dot_range(a, b, 0, n)
    for t in prange(nt, schedule="static", num_threads=nt):
        parts[t] = dot_range(a, b, (t * n) // nt, ((t + 1) * n) // nt)
    for t in range(nt):
        s += parts[t]
    return s


def dot(cnp.ndarray a not None, cnp.ndarray b not None, int n_threads=1):
    """The inner product of two 1-D arrays of equal length, a Python float."""
    if FASTNN_DEBUG:
        expect(a, "a", float_or_double(a), -1, -2, False)
        expect(b, "b", cnp.PyArray_TYPE(a), a.shape[0], -2, False)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(a)
    cdef int nt = team(tuning, 8.0 * n, n_threads), f64 = cnp.PyArray_TYPE(a) == cnp.NPY_DOUBLE
    cdef double s
    cdef double* parts = <double*>malloc(nt * sizeof(double))
    cdef void* pa = data(a)
    cdef void* pb = data(b)
    if parts == NULL:
        raise MemoryError()
    with nogil:
        if f64:
            s = dot_team(<double*>pa, <double*>pb, n, nt, parts)
        else:
            s = dot_team(<float*>pa, <float*>pb, n, nt, parts)
    free(parts)
    return s


cdef double cross_entropy(const floating* A2, const floating* Y, Py_ssize_t n, double eps) noexcept nogil:
    """``sum(Y log P + (1 - Y) log(1 - P))``, ``P = clip(A2, eps, 1 - eps)``, in float64."""
    cdef double s = 0, p, y
    cdef Py_ssize_t i
    for i in range(n):
        p = min(max(<double>A2[i], eps), 1.0 - eps)
        y = Y[i]
        s += y * log(p) + (1.0 - y) * log(1.0 - p)
    return s


def mlp_cost(cnp.ndarray A2 not None, cnp.ndarray Y not None):
    """The course's cross-entropy from probabilities clipped to ``[eps, 1 - eps]`` of the
    dtype, averaged over the ``m`` examples and summed over the outputs: a float."""
    if FASTNN_DEBUG:
        expect(A2, "A2", float_or_double(A2), -1, -1, False)
        expect(Y, "Y", cnp.PyArray_TYPE(A2), A2.shape[0], A2.shape[1], False)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(A2), m = cnp.PyArray_DIM(A2, 1)
    cdef int f64 = cnp.PyArray_TYPE(A2) == cnp.NPY_DOUBLE
    cdef double s
    cdef void* pa = data(A2)
    cdef void* py = data(Y)
    with nogil:
        if f64:
            s = cross_entropy(<double*>pa, <double*>py, n, DBL_EPSILON)
        else:
            s = cross_entropy(<float*>pa, <float*>py, n, FLT_EPSILON)
    return -s / m


def sgd_update(cnp.ndarray P not None, cnp.ndarray dP not None, double learning_rate):
    """A new array ``P - learning_rate * dP`` (the rate in the arrays' dtype, as NumPy)."""
    if FASTNN_DEBUG:
        expect(P, "P", float_or_double(P), -1, -1, False)
        expect(dP, "dP", cnp.PyArray_TYPE(P), P.shape[0], P.shape[1], False)
    cdef cnp.ndarray new = cnp.PyArray_NewCopy(P, cnp.NPY_CORDER)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(P)
    cdef int f64 = cnp.PyArray_TYPE(P) == cnp.NPY_DOUBLE
    cdef void* pn = data(new)
    cdef void* pd = data(dP)
    with nogil:
        if f64:
            sgd(<double*>pn, <double*>pd, n, learning_rate, True)
        else:
            sgd(<float*>pn, <float*>pd, n, learning_rate, True)
    return new


# --- the validation layer's O(1) checks of the common case, compiled ------------------------
# fastnn/_validation.py's fast_mlp_arrays and fast_logreg_arrays (same contract, same
# results): exact ndarrays of one float dtype, native byte order, C-contiguous and aligned
# (the parameters a step updates also writable, not views, not the same array twice), with
# agreeing shapes, go to the kernels as they are; anything else gives None and takes the
# general path.  dtypes are compared by type number, not by identity (an unpickled float32
# array has an equal dtype that is another object).  Layer sizes of 0, which the kernels
# do not take, give None too.

cdef inline int float_type(object a) noexcept:
    """The type number of ``a``'s dtype when ``a`` is an exact ndarray of native float64 or
    float32, else -1."""
    if type(a) is not cnp.ndarray:
        return -1
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>a)
    if (t == cnp.NPY_DOUBLE or t == cnp.NPY_FLOAT) and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>a):
        return t
    return -1


cdef inline bint plain(object a, Py_ssize_t rows, Py_ssize_t cols, bint param) noexcept:
    """``a`` is an exact 2-D ndarray, C-contiguous and aligned, of shape ``(rows, cols)``
    (-1: any); a ``param`` also writable and not a view."""
    if type(a) is not cnp.ndarray:
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if cnp.PyArray_NDIM(arr) != 2 or not (cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_ISALIGNED(arr)):
        return False
    if param and (not cnp.PyArray_ISWRITEABLE(arr) or cnp.PyArray_BASE(arr) != NULL):
        return False
    return ((rows < 0 or cnp.PyArray_DIM(arr, 0) == rows)
            and (cols < 0 or cnp.PyArray_DIM(arr, 1) == cols))


cdef inline Py_ssize_t dim(object a, int i) noexcept:
    return cnp.PyArray_DIM(<cnp.ndarray>a, i)


def fast_mlp_arrays(parameters, X, Y):
    """``(X, Y, W1, b1, W2, b2)`` when they need no conversion and their shapes agree, else
    None (labels of another dtype are cast as :func:`fastnn._validation.fast_mlp_arrays`
    does)."""
    if type(parameters) is not dict or len(<dict>parameters) != 4:
        return None
    cdef int t = float_type(X)
    W1, b1 = (<dict>parameters).get("W1"), (<dict>parameters).get("b1")
    W2, b2 = (<dict>parameters).get("W2"), (<dict>parameters).get("b2")
    if t < 0 or float_type(W1) != t or float_type(b1) != t or float_type(W2) != t or float_type(b2) != t:
        return None
    if not plain(X, -1, -1, False) or not plain(W1, -1, dim(X, 0), True) or not plain(W2, -1, -1, True):
        return None
    cdef Py_ssize_t n_h = dim(W1, 0), n_y = dim(W2, 0)
    if not (plain(b1, n_h, 1, True) and plain(W2, n_y, n_h, True) and plain(b2, n_y, 1, True)
            and plain(Y, n_y, dim(X, 1), False) and dim(X, 0) * dim(X, 1) * n_h * n_y != 0):
        return None
    if (W1 is b1 or W1 is W2 or W1 is b2 or b1 is W2 or b1 is b2 or W2 is b2 or X is W1 or X is b1
            or X is W2 or X is b2 or Y is W1 or Y is b1 or Y is W2 or Y is b2):
        return None
    if float_type(Y) == t:
        return X, Y, W1, b1, W2, b2
    return _with_labels((X, Y, W1, b1, W2, b2), 1, X.dtype)


def fast_logreg_arrays(w, X, Y):
    """``(w, X, Y)`` when they need no conversion and their shapes agree, else None."""
    cdef int t = float_type(X)
    if t < 0 or float_type(w) != t or not plain(X, -1, -1, False):
        return None
    if not plain(w, dim(X, 0), 1, False) or not plain(Y, 1, dim(X, 1), False) or dim(X, 0) * dim(X, 1) == 0:
        return None
    if float_type(Y) == t:
        return w, X, Y
    return _with_labels((w, X, Y), 2, X.dtype)


def build_info():
    """How the extensions were built: Cython, compiler, flags, OpenMP, debug, SIMD,
    libmvec, OpenMP's thread limit."""
    return {
        "cython": FASTNN_CYTHON_VERSION.decode(),
        "compiler": FASTNN_COMPILER.decode(),
        "cflags": FASTNN_CFLAGS.decode(),
        "openmp": bool(FASTNN_OPENMP),
        "debug": bool(FASTNN_DEBUG),
        "simd": FASTNN_SIMD.decode(),
        "libmvec": bool(FASTNN_LIBMVEC),
        "max_threads": fastnn_max_threads(),
    }
