# cython: language_level=3, cdivision=True
"""Logistic regression's fused pass, cython backend (``fastnn._cython.logreg``).

    Z = w.T X + b          A = sigmoid(Z)                   (1, m)
    cost = (1/m) sum softplus((1 - 2Y) Z)                    (the log-loss, from the logits)
    dZ = A - Y             dw = X dZ.T / m   (n_x, 1)      db = sum(dZ) / m

Shapes: ``X (n_x, m)``, ``Y (1, m)``, ``w (n_x, 1)``; ``b`` a float (``(1,)`` where it is
updated).  The pass is two streams over the rows of ``X``: the logits, then (the output
layer in between) one dot product per row for ``dw``, the second stream starting from
the rows the first read last, which are still in cache.  With threads, each takes its own
range of rows in both streams (each row of ``dw`` has one owner), and their partial
logits are added in between; on a large ``X`` the two streams are NumPy's BLAS
matrix-vector products instead (``fastnn.tuning.logreg_blas_for``).  The design mirrors the numba backend
(``fastnn/_backends/numba/logreg.py``); the ``def`` functions are the kernel protocol.
"""

cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from common cimport (BAD_LABEL, FASTNN_DEBUG, NONFINITE, OK, bad_labels, expect, mean, output_layer,
                     sgd, team)
from products cimport NO_TRANS, TRANS, Cblas, dgemv_t, matvec, sgemv_t
from scalar cimport nonfinite, sigmoid

from fastnn import tuning

cnp.import_array()

cdef Cblas cblas  # NumPy's OpenBLAS for a large X (set_cblas), or none: fastnn's loops only


cdef void add_logits(const floating* w, const floating* X, Py_ssize_t m, Py_ssize_t k0,
                     Py_ssize_t k1, floating* Z) noexcept nogil:
    """``Z[i] += sum_k w[k] X[k, i]`` over the rows ``k0 <= k < k1`` (four per pass)."""
    cdef Py_ssize_t k = k0, i
    cdef floating w0, w1, w2, w3
    cdef const floating* X0
    while k + 4 <= k1:
        w0, w1, w2, w3 = w[k], w[k + 1], w[k + 2], w[k + 3]
        X0 = X + k * m
        for i in range(m):
            Z[i] += w0 * X0[i] + w1 * X0[m + i] + w2 * X0[2 * m + i] + w3 * X0[3 * m + i]
        k += 4
    while k < k1:
        w0, X0 = w[k], X + k * m
        for i in range(m):
            Z[i] += w0 * X0[i]
        k += 1


cdef void row_dots(const floating* X, Py_ssize_t m, const floating* D, Py_ssize_t k0,
                   Py_ssize_t k1, floating* G) noexcept nogil:
    """``G[k] = sum_i X[k, i] D[i]`` for ``k0 <= k < k1``, four rows per pass, the last
    rows first."""
    cdef Py_ssize_t k = k1, i
    cdef floating s0, s1, s2, s3, d
    cdef const floating* X0
    while k - 4 >= k0:
        k -= 4
        X0 = X + k * m
        s0 = s1 = s2 = s3 = 0
        for i in range(m):
            d = D[i]
            s0 += X0[i] * d
            s1 += X0[m + i] * d
            s2 += X0[2 * m + i] * d
            s3 += X0[3 * m + i] * d
        G[k], G[k + 1], G[k + 2], G[k + 3] = s0, s1, s2, s3
    while k > k0:
        k -= 1
        X0 = X + k * m
        s0 = 0
        for i in range(m):
            s0 += X0[i] * D[i]
        G[k] = s0


ctypedef struct Pass:
    Py_ssize_t n_x, m
    int n_threads
    bint use_blas  # the two products as the BLAS's matrix-vector products
    void* Zt  # partial logits, one row of m per thread
    void* Z   # the logits, then dZ (m)
    void* E   # exp(-|Z|) (m)
    void* dw  # sum of X dZ.T (n_x)
    void* grads  # the gradient: dw (n_x), db (1)
    double db  # sum of dZ


cdef void partial_logits(const floating* w, const floating* X, const Pass* p, int t) noexcept nogil:
    """Thread ``t``'s rows' part of ``w.T X``."""
    cdef floating* Zt = <floating*>p.Zt + t * p.m
    memset(Zt, 0, p.m * sizeof(floating))
    add_logits(w, X, p.m, (t * p.n_x) // p.n_threads, ((t + 1) * p.n_x) // p.n_threads, Zt)


cdef double gradient_sums(const floating* w, double b, const floating* X, const floating* Y,
                          Pass* p) noexcept nogil:
    """One pass: the summed loss; ``dw = X dZ.T`` and ``db = sum(dZ)`` (not divided by ``m``)
    into ``p``."""
    cdef floating* Zt = <floating*>p.Zt
    cdef floating* Z = <floating*>p.Z
    cdef floating z
    cdef Py_ssize_t n_x = p.n_x, m = p.m, i
    cdef int t, nt = p.n_threads
    cdef double loss
    if p.use_blas:
        matvec(&cblas, TRANS, n_x, m, X, w, Zt)  # w.T X, as X.T w
    elif nt == 1:
        partial_logits(w, X, p, 0)
    else:
        for t in prange(nt, schedule="static", num_threads=nt):
            partial_logits(w, X, p, t)
    for i in range(m):  # Z = w.T X + b
        z = <floating>b
        for t in range(nt):
            z = z + Zt[t * m + i]
        Z[i] = z
    p.db = 0
    loss = output_layer(Z, m, Y, m, 0, m, 1, <floating*>p.E, &p.db)  # A = sigmoid(Z), dZ = A - Y
    if p.use_blas:  # dw = X dZ.T
        matvec(&cblas, NO_TRANS, n_x, m, X, Z, <floating*>p.dw)
    elif nt == 1:
        row_dots(X, m, Z, 0, n_x, <floating*>p.dw)
    else:
        for t in prange(nt, schedule="static", num_threads=nt):
            row_dots(X, m, Z, (t * n_x) // nt, ((t + 1) * n_x) // nt, <floating*>p.dw)
    return loss


cdef int descend(floating* w, floating* b, const floating* X, const floating* Y, double lr,
                 double* costs, Py_ssize_t n_steps, bint check, Pass* p, floating* dw,
                 floating* db, Py_ssize_t* done) noexcept nogil:
    """``n_steps`` steps of gradient descent on ``w``, ``b`` in place; ``costs[i]`` is step
    ``i``'s cost, ``dw``, ``db`` get the last applied step's gradients.  With ``check``, a
    step whose cost, gradients or new parameters are not finite is not applied and the
    loop stops.  The status, and the steps applied in ``done``."""
    cdef floating* G = <floating*>p.grads  # dw, then db
    cdef Py_ssize_t it, n_x = p.n_x
    cdef double loss, scale = 1.0 / p.m, bad, cost
    done[0] = 0
    if bad_labels(Y, p.m):
        return BAD_LABEL
    for it in range(n_steps):
        loss = gradient_sums(w, b[0], X, Y, p)
        cost = loss * scale
        bad = nonfinite(cost) + mean(<floating*>p.dw, 0, 1, n_x, scale, G)
        bad += mean(&p.db, 0, 1, 1, scale, G + n_x)
        if check:
            bad += sgd(w, G, n_x, lr, False) + sgd(b, G + n_x, 1, lr, False)
            if bad != 0:
                return NONFINITE
        sgd(w, G, n_x, lr, True)
        sgd(b, G + n_x, 1, lr, True)
        costs[it] = cost
        memcpy(dw, G, n_x * sizeof(floating))
        db[0] = G[n_x]
        done[0] = it + 1
    return OK


cdef int propagate(const floating* w, double b, const floating* X, const floating* Y, Pass* p,
                   floating* dw, double* db, double* cost) noexcept nogil:
    """The status, the gradients (into ``dw``, ``db``) and the cost of one pass."""
    cdef double scale = 1.0 / p.m, bad
    if bad_labels(Y, p.m):
        return BAD_LABEL
    cost[0] = gradient_sums(w, b, X, Y, p) * scale
    db[0] = p.db * scale
    bad = nonfinite(cost[0]) + nonfinite(db[0]) + mean(<floating*>p.dw, 0, 1, p.n_x, scale, dw)
    bad += sgd(<floating*>w, dw, p.n_x, 0.0, False)  # w finite
    return NONFINITE if bad != 0 else OK


# --- the protocol ------------------------------------------------------------------------

cdef inline void* data(cnp.ndarray a) noexcept:
    return cnp.PyArray_DATA(a)


cdef int check_arrays(cnp.ndarray w, cnp.ndarray X, Y) except -1:
    """``FASTNN_DEBUG`` builds: ``w``, ``X`` (and ``Y`` unless None) agree (``common.expect``)."""
    cdef int t = cnp.NPY_FLOAT if cnp.PyArray_TYPE(X) == cnp.NPY_FLOAT else cnp.NPY_DOUBLE
    expect(X, "X", t, -1, -1, False)
    expect(w, "w", t, X.shape[0], 1, False)
    if Y is not None:
        expect(Y, "Y", t, 1, X.shape[1], False)
    if X.shape[0] * X.shape[1] == 0:
        raise ValueError("fastnn cython kernel: X has no rows or no examples")
    return t


cdef int prepare(Pass* p, cnp.ndarray X, int n_threads, bint may_use_blas) except -1:
    """Fill ``p`` for a pass over ``X``: threads or BLAS, workspace (``free(p.Zt)`` frees it)."""
    p.n_x, p.m = cnp.PyArray_DIM(X, 0), cnp.PyArray_DIM(X, 1)
    cdef double work = 4.0 * p.n_x * p.m
    p.use_blas = (may_use_blas and cblas.dgemv != NULL and work >= tuning.PARALLEL_WORK
                  and tuning.logreg_blas_for(p.n_x, p.m))
    p.n_threads = 1 if p.use_blas else team(tuning, work, n_threads)
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(X)
    p.Zt = malloc(((p.n_threads + 2) * p.m + 2 * p.n_x + 1) * isz)
    if p.Zt == NULL:
        raise MemoryError()
    p.Z = <char*>p.Zt + p.n_threads * p.m * isz
    p.E = <char*>p.Z + p.m * isz
    p.dw = <char*>p.E + p.m * isz
    p.grads = <char*>p.dw + p.n_x * isz
    return 0


def logreg_propagate(cnp.ndarray w not None, double b, cnp.ndarray X not None,
                     cnp.ndarray Y not None, int n_threads=1):
    """``(status, dw, db, cost)``: the gradients ``dw = X dZ.T / m`` (``(n_x, 1)``), ``db``
    and the mean cost of one pass (``db`` and ``cost`` Python floats)."""
    cdef Pass p
    cdef double db = 0, cost = 0
    cdef int status, f64 = cnp.PyArray_TYPE(X) == cnp.NPY_DOUBLE
    if FASTNN_DEBUG:
        check_arrays(w, X, Y)
    cdef cnp.ndarray dw = cnp.PyArray_EMPTY(2, cnp.PyArray_DIMS(w), cnp.PyArray_TYPE(X), 0)
    cdef void* pw = data(w)
    cdef void* px = data(X)
    cdef void* py = data(Y)
    cdef void* pd = data(dw)
    prepare(&p, X, n_threads, True)
    with nogil:
        if f64:
            status = propagate(<double*>pw, b, <double*>px, <double*>py, &p, <double*>pd, &db, &cost)
        else:
            status = propagate(<float*>pw, b, <float*>px, <float*>py, &p, <float*>pd, &db, &cost)
    free(p.Zt)
    return (status, dw, db, cost) if status != BAD_LABEL else (status, None, 0.0, 0.0)


def logreg_descend(cnp.ndarray w not None, cnp.ndarray b not None, cnp.ndarray X not None,
                   cnp.ndarray Y not None, double learning_rate, cnp.ndarray costs not None,
                   cnp.ndarray dw not None, cnp.ndarray db not None, bint check, int n_threads=1):
    """``len(costs)`` steps of gradient descent on ``w`` and ``b`` (``(1,)``) in place:
    ``(status, n_done)``."""
    cdef Pass p
    cdef Py_ssize_t done = 0, n_steps = cnp.PyArray_SIZE(costs)
    cdef int status, f64 = cnp.PyArray_TYPE(X) == cnp.NPY_DOUBLE, t
    if FASTNN_DEBUG:
        t = check_arrays(w, X, Y)
        expect(w, "w", t, -1, -1, True)
        expect(b, "b", t, 1, -2, True)
        expect(dw, "dw", t, X.shape[0], 1, True)
        expect(db, "db", t, 1, -2, True)
        expect(costs, "costs", cnp.NPY_DOUBLE, -1, -2, True)
    cdef void* q[6]
    q[:] = [data(w), data(b), data(X), data(Y), data(dw), data(db)]
    cdef double* pc = <double*>data(costs)
    prepare(&p, X, n_threads, False)
    with nogil:
        if f64:
            status = descend(<double*>q[0], <double*>q[1], <double*>q[2], <double*>q[3],
                             learning_rate, pc, n_steps, check, &p, <double*>q[4], <double*>q[5], &done)
        else:
            status = descend(<float*>q[0], <float*>q[1], <float*>q[2], <float*>q[3],
                             learning_rate, pc, n_steps, check, &p, <float*>q[4], <float*>q[5], &done)
    free(p.Zt)
    return status, done


def set_cblas(size_t dgemv_address, size_t sgemv_address):
    """A large ``propagate``'s products by NumPy's ILP64 ``cblas_?gemv`` at these addresses."""
    if (dgemv_address == 0) != (sgemv_address == 0):
        raise ValueError("set_cblas: give both addresses or neither")
    cblas.dgemv = <dgemv_t>dgemv_address
    cblas.sgemv = <sgemv_t>sgemv_address


cdef void forward(const floating* w, double b, const floating* X, Py_ssize_t n_x, Py_ssize_t m,
                  floating* A) noexcept nogil:
    cdef Py_ssize_t i
    memset(A, 0, m * sizeof(floating))
    add_logits(w, X, m, 0, n_x, A)
    for i in range(m):
        A[i] = sigmoid(A[i] + <floating>b)


def logreg_forward(cnp.ndarray w not None, double b, cnp.ndarray X not None):
    """``A = sigmoid(w.T X + b)``, shape ``(1, m)``."""
    if FASTNN_DEBUG:
        check_arrays(w, X, None)
    cdef Py_ssize_t n_x = cnp.PyArray_DIM(X, 0), m = cnp.PyArray_DIM(X, 1)
    cdef cnp.npy_intp dims[2]
    dims[0], dims[1] = 1, m
    cdef cnp.ndarray A = cnp.PyArray_EMPTY(2, dims, cnp.PyArray_TYPE(X), 0)
    cdef int f64 = cnp.PyArray_TYPE(X) == cnp.NPY_DOUBLE
    cdef void* pw = data(w)
    cdef void* px = data(X)
    cdef void* pa = data(A)
    with nogil:
        if f64:
            forward(<double*>pw, b, <double*>px, n_x, m, <double*>pa)
        else:
            forward(<float*>pw, b, <float*>px, n_x, m, <float*>pa)
    return A
