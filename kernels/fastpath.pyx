# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled fast path of fastnn's validation layer (``fastnn._fastpath``).

The same predicates as ``fast_mlp_arrays`` and ``fast_logreg_arrays`` in
``fastnn/_validation.py`` (which define them and stand in when this module is not built):
are the arguments of a hot call (``train_step``, ``propagate``) exact ndarrays of one
float dtype, native byte order, C-contiguous, aligned and writable, with consistent
shapes?  Then they go to the kernel as they are; otherwise ``None`` sends the call down
the general path, which converts or explains.  In Python these checks cost ~2-3 us per
call, more than the whole training step of the course's network; here ~0.1 us.
"""

cimport numpy as cnp

cnp.import_array()

cdef int _READY = cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED | cnp.NPY_ARRAY_WRITEABLE


cdef inline bint _plain(object a, int typenum) noexcept:
    """``a`` is an exact 2-D ndarray of ``typenum``, native, C-contiguous, aligned, writable."""
    if type(a) is not cnp.ndarray:
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    return (
        cnp.PyArray_TYPE(arr) == typenum
        and cnp.PyArray_NDIM(arr) == 2
        and cnp.PyArray_ISNOTSWAPPED(arr)
        and (cnp.PyArray_FLAGS(arr) & _READY) == _READY
    )


cdef inline int _float_type(object X) noexcept:
    if type(X) is not cnp.ndarray:
        return -1
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>X)
    return t if t == cnp.NPY_DOUBLE or t == cnp.NPY_FLOAT else -1


def mlp_arrays(parameters, X, Y):
    """``(X, Y, W1, b1, W2, b2)`` when they need no conversion and their shapes agree, else None.

    Labels of another dtype (uint8, bool, ...) are left to the Python fast path (None).
    """
    if type(parameters) is not dict or len(<dict>parameters) != 4:
        return None
    cdef int t = _float_type(X)
    if t < 0:
        return None
    W1 = (<dict>parameters).get("W1")
    b1 = (<dict>parameters).get("b1")
    W2 = (<dict>parameters).get("W2")
    b2 = (<dict>parameters).get("b2")
    if not (_plain(X, t) and _plain(Y, t) and _plain(W1, t) and _plain(b1, t) and _plain(W2, t) and _plain(b2, t)):
        return None
    cdef cnp.npy_intp* x = cnp.PyArray_DIMS(<cnp.ndarray>X)
    cdef cnp.npy_intp* y = cnp.PyArray_DIMS(<cnp.ndarray>Y)
    cdef cnp.npy_intp* w1 = cnp.PyArray_DIMS(<cnp.ndarray>W1)
    cdef cnp.npy_intp* c1 = cnp.PyArray_DIMS(<cnp.ndarray>b1)
    cdef cnp.npy_intp* w2 = cnp.PyArray_DIMS(<cnp.ndarray>W2)
    cdef cnp.npy_intp* c2 = cnp.PyArray_DIMS(<cnp.ndarray>b2)
    cdef cnp.npy_intp n_x = x[0], m = x[1], n_h = w1[0], n_y = w2[0]
    if (
        n_x >= 1 and m >= 1 and n_h >= 1 and n_y >= 1
        and y[0] == n_y and y[1] == m
        and w1[1] == n_x
        and c1[0] == n_h and c1[1] == 1
        and w2[1] == n_h
        and c2[0] == n_y and c2[1] == 1
    ):
        return (X, Y, W1, b1, W2, b2)
    return None


def logreg_arrays(w, X, Y):
    """``(w, X, Y)`` when they need no conversion and their shapes agree, else None."""
    cdef int t = _float_type(X)
    if t < 0 or not (_plain(X, t) and _plain(w, t) and _plain(Y, t)):
        return None
    cdef cnp.npy_intp* x = cnp.PyArray_DIMS(<cnp.ndarray>X)
    cdef cnp.npy_intp* v = cnp.PyArray_DIMS(<cnp.ndarray>w)
    cdef cnp.npy_intp* y = cnp.PyArray_DIMS(<cnp.ndarray>Y)
    if x[0] >= 1 and x[1] >= 1 and v[0] == x[0] and v[1] == 1 and y[0] == 1 and y[1] == x[1]:
        return (w, X, Y)
    return None
