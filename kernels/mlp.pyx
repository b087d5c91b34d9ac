# cython: language_level=3, cdivision=True
"""The 2-layer network's fused training step, cython backend (``fastnn._cython.mlp``).

    Z1 = W1 X + b1         A1 = g(Z1)             g = tanh, relu or sigmoid
    Z2 = W2 A1 + b2        A2 = sigmoid(Z2)
    cost = (1/m) sum softplus((1 - 2Y) Z2)          (the log-loss, from the logits)
    dZ2 = A2 - Y           dW2 = dZ2 A1.T / m     db2 = sum(dZ2) / m
    dZ1 = W2.T dZ2 * g'(Z1)
                           dW1 = dZ1 X.T / m      db1 = sum(dZ1) / m

Shapes: ``X (n_x, m)``, ``Y (n_y, m)``, ``W1 (n_h, n_x)``, ``b1 (n_h, 1)``, ``W2 (n_y, n_h)``,
``b2 (n_y, 1)``.  :func:`block` is the step on one block of examples, written as the
equations above; the rest runs it over every block (each thread its own range of
examples and gradient sums, added after the parallel region), checks and applies the
update.  The block's width keeps its activations in L1 and its columns of ``X`` in cache
for the backward pass, so ``X`` is read from memory once per step.  The products are
``products.pxd``'s register tiles, or NumPy's BLAS when the layers are large enough for
it to win (then in one block of all the examples: the BLAS blocks for the caches itself,
and runs best on long products).  The design mirrors the numba backend
(``fastnn/_backends/numba/mlp.py``).

The ``def`` functions are the kernel protocol (:mod:`fastnn._backends`): they take plain
arrays, already validated, and read their data pointers (a typed memoryview per argument
would cost more than a whole step at the course's sizes).
"""

cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memset

from common cimport (BAD_LABEL, FASTNN_DEBUG, NONFINITE, OK, activate, bad_labels, expect,
                     hidden_grad, mean, output_layer, sgd, team)
from products cimport Cblas, add_outer, blas_add_outer, blas_linear, dgemm_t, even, linear, sgemm_t
from scalar cimport nonfinite, sigmoid

import numpy as np

from fastnn import tuning

cnp.import_array()

cdef Cblas cblas  # NumPy's OpenBLAS for the large layers (set_cblas), or none: tiles only


ctypedef struct Step:
    # sizes and choices of the call
    Py_ssize_t n_x, n_h, n_y, m, width  # width: examples per block
    int act, n_threads
    bint use_blas
    const void* X
    const void* Y
    void* params[4]  # W1, b1, W2, b2
    void* grads[4]   # dW1, db1, dW2, db2: the means (or the sums)
    # thread t's workspace: at ``bufs + t * slot`` (floating), Z1, Z2 and dZ1 of a block
    # (even rows x width), E (width), the sums of dW1 (even(n_h) x n_x) and of dW2
    # (even(n_y) x n_h), at offsets o_*; at ``dsums + t * dslot``, the float64 sums of db1
    # (n_h) and db2 (n_y) and the loss
    void* bufs
    double* dsums
    Py_ssize_t slot, dslot, o_Z2, o_dZ1, o_E, o_dW1, o_dW2


cdef double block(const floating* X, const floating* Y, Py_ssize_t c0, Py_ssize_t n,
                  const floating* W1, const floating* b1, const floating* W2, const floating* b2,
                  const Step* s, floating* ws, double* sums) noexcept nogil:
    """The step on examples ``c0 .. c0+n``: adds their gradient sums to the thread's ``ws``
    (dW1, dW2) and ``sums`` (db1, db2), returns their summed loss."""
    cdef Py_ssize_t n_x = s.n_x, n_h = s.n_h, n_y = s.n_y, m = s.m, ld = s.width
    cdef floating* Z1 = ws
    cdef floating* Z2 = ws + s.o_Z2
    cdef floating* dZ1 = ws + s.o_dZ1
    cdef floating* dW1 = ws + s.o_dW1
    cdef floating* dW2 = ws + s.o_dW2
    cdef double* db1 = sums
    cdef double* db2 = sums + n_h
    cdef floating* A1
    cdef floating* dZ2
    cdef double loss
    if s.use_blas:
        blas_linear(&cblas, W1, b1, n_h, n_x, X, m, c0, n, Z1, ld)  # Z1 = W1 X + b1
    else:
        linear(W1, b1, n_h, n_x, X, m, c0, n, Z1, ld)
    activate(Z1, ld, n_h, n, s.act)  # A1 = g(Z1)
    A1 = Z1
    linear(W2, b2, n_y, n_h, A1, ld, 0, n, Z2, ld)  # Z2 = W2 A1 + b2
    loss = output_layer(Z2, ld, Y, m, c0, n, n_y, ws + s.o_E, db2)  # A2 = sigmoid(Z2), dZ2 = A2 - Y, db2
    dZ2 = Z2
    add_outer(dZ2, ld, even(n_y), A1, ld, n_h, 0, n, dW2)  # dW2 = dZ2 A1.T
    hidden_grad(W2, n_y, n_h, dZ2, A1, ld, n, s.act, dZ1, db1)  # dZ1 = W2.T dZ2 * g'(Z1), db1
    if s.use_blas:
        blas_add_outer(&cblas, dZ1, ld, even(n_h), X, m, n_x, c0, n, dW1)  # dW1 = dZ1 X.T
    else:
        add_outer(dZ1, ld, even(n_h), X, m, n_x, c0, n, dW1)
    return loss


cdef void thread_sums(const floating* X, const floating* Y, const Step* s, int t) noexcept nogil:
    """Thread ``t``'s range of examples, block by block, into its own slot of the workspace."""
    cdef floating* ws = <floating*>s.bufs + t * s.slot
    cdef double* sums = s.dsums + t * s.dslot
    cdef Py_ssize_t c0 = (t * s.m) // s.n_threads, hi = ((t + 1) * s.m) // s.n_threads
    cdef double loss = 0
    memset(ws + s.o_dW1, 0, (even(s.n_h) * s.n_x + even(s.n_y) * s.n_h) * sizeof(floating))
    memset(sums, 0, (s.n_h + s.n_y) * sizeof(double))
    if s.n_h % 2:  # dZ1's padding row, read by add_outer
        memset(ws + s.o_dZ1 + s.n_h * s.width, 0, s.width * sizeof(floating))
    while c0 < hi:
        loss += block(X, Y, c0, min(s.width, hi - c0), <floating*>s.params[0],
                      <floating*>s.params[1], <floating*>s.params[2], <floating*>s.params[3],
                      s, ws, sums)
        c0 += s.width
    sums[s.n_h + s.n_y] = loss


cdef double gradient_sums(const floating* X, const floating* Y, const Step* s) noexcept nogil:
    """One pass over every example, thread ``t`` on the ``t``-th range; the summed loss."""
    cdef int t
    cdef double loss = 0
    if s.n_threads == 1:
        thread_sums(X, Y, s, 0)
    else:
        for t in prange(s.n_threads, schedule="static", num_threads=s.n_threads):
            thread_sums(X, Y, s, t)
    for t in range(s.n_threads):
        loss += s.dsums[t * s.dslot + s.n_h + s.n_y]
    return loss


cdef int finish(const Step* s, floating** P, floating** G, double loss, double scale, double lr,
                bint check, bint update, double* cost) noexcept nogil:
    """The cost ``loss * scale``, the gradients (the threads' sums times ``scale``) into
    ``G``, then, when ``update``, ``P -= lr * G``.  With ``check``, nothing is applied when
    the cost, a gradient or a new parameter is not finite: the status says so."""
    cdef Py_ssize_t size[4]
    cdef floating* bufs = <floating*>s.bufs
    cdef double bad
    cdef int q
    size[0], size[1], size[2], size[3] = s.n_h * s.n_x, s.n_h, s.n_y * s.n_h, s.n_y
    cost[0] = loss * scale
    bad = nonfinite(cost[0])
    bad += mean(bufs + s.o_dW1, s.slot, s.n_threads, size[0], scale, G[0])
    bad += mean(s.dsums, s.dslot, s.n_threads, size[1], scale, G[1])
    bad += mean(bufs + s.o_dW2, s.slot, s.n_threads, size[2], scale, G[2])
    bad += mean(s.dsums + s.n_h, s.dslot, s.n_threads, size[3], scale, G[3])
    if check:
        for q in range(4):
            bad += sgd(P[q], G[q], size[q], lr, False)
        if bad != 0:
            return NONFINITE
    if update:
        for q in range(4):
            sgd(P[q], G[q], size[q], lr, True)
    return OK


cdef int descend(const floating* X, const floating* Y, const Step* s, double lr, double* costs,
                 Py_ssize_t n_steps, bint check, Py_ssize_t* done) noexcept nogil:
    """``n_steps`` fused steps: ``costs[i]`` is step ``i``'s cost (before its update); the
    status, and the steps applied in ``done``."""
    cdef Py_ssize_t it
    cdef int status
    cdef double cost
    done[0] = 0
    if bad_labels(Y, s.n_y * s.m):
        return BAD_LABEL
    for it in range(n_steps):
        status = finish(s, <floating**>s.params, <floating**>s.grads, gradient_sums(X, Y, s),
                        1.0 / s.m, lr, check, True, &cost)
        if status != OK:
            return status
        costs[it] = cost
        done[0] = it + 1
    return OK


cdef int gradients(const floating* X, const floating* Y, const Step* s, double* loss) noexcept nogil:
    """The gradients of one pass, summed over the examples (not divided by ``m``)."""
    if bad_labels(Y, s.n_y * s.m):
        return BAD_LABEL
    return finish(s, <floating**>s.params, <floating**>s.grads, gradient_sums(X, Y, s), 1.0, 0.0,
                  True, False, loss)


# --- the protocol ------------------------------------------------------------------------

cdef inline void* data(cnp.ndarray a) noexcept:
    return cnp.PyArray_DATA(a)


cdef int check_layers(cnp.ndarray X, Y, W1, b1, W2, b2, int act, bint out) except -1:
    """``FASTNN_DEBUG`` builds: the arrays of the two layers agree (``common.expect``);
    all but ``X`` and ``W2`` may be None (not used by the call)."""
    cdef int t = cnp.NPY_FLOAT if cnp.PyArray_TYPE(X) == cnp.NPY_FLOAT else cnp.NPY_DOUBLE
    expect(X, "X", t, -1, -1, False)
    expect(W2, "W2", t, -1, -1, out)
    cdef Py_ssize_t n_x = X.shape[0], m = X.shape[1], n_y = W2.shape[0], n_h = W2.shape[1]
    if b2 is not None:
        expect(b2, "b2", t, n_y, 1, out)
    if W1 is not None:
        expect(W1, "W1", t, n_h, n_x, out)
        expect(b1, "b1", t, n_h, 1, out)
    if Y is not None:
        expect(Y, "Y", t, n_y, m, False)
    if not 0 <= act <= 2 or n_x * m * n_h * n_y == 0:
        raise ValueError(f"fastnn cython kernel: activation {act} or a size of 0")
    return 0


cdef bint use_blas(Py_ssize_t n_x, Py_ssize_t n_h, Py_ssize_t m) except -1:
    """Whether the first layer's products go to the BLAS (``fastnn.tuning.blas_for``)."""
    return cblas.dgemm != NULL and tuning.blas_for(n_x, n_h, m)


cdef int prepare(Step* s, cnp.ndarray X, cnp.ndarray Y, cnp.ndarray W1, cnp.ndarray b1,
                 cnp.ndarray W2, cnp.ndarray b2, int act, int n_threads) except -1:
    """Fill ``s`` for a fused step on these arrays: threads, BLAS or tiles, the workspace
    (``release`` frees it).  A block is as wide as ``tuning.BLOCK_BYTES`` allows for its
    ``Z1`` and ``dZ1`` (a multiple of 16 examples, at least 16, at most a thread's share),
    except with the BLAS, which is efficient on long products: there one block holds all
    the examples.  The gradients go to a part of the workspace."""
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(X), eh, ey, share, n_grads
    s.n_x, s.m = cnp.PyArray_DIM(X, 0), cnp.PyArray_DIM(X, 1)
    s.n_h, s.n_y = cnp.PyArray_DIM(W1, 0), cnp.PyArray_DIM(W2, 0)
    s.act = act
    eh, ey = even(s.n_h), even(s.n_y)
    s.use_blas = use_blas(s.n_x, s.n_h, s.m)
    # the BLAS has its own threads; ours take a share of the examples each
    s.n_threads = 1 if s.use_blas else team(tuning, <double>s.n_h * s.m * (2 * s.n_x + 16), n_threads)
    share = (s.m + s.n_threads - 1) // s.n_threads
    s.width = min(max(16, tuning.BLOCK_BYTES // (2 * max(eh, 2) * isz) // 16 * 16), share)
    if s.use_blas:  # the BLAS's own blocking wants long products: one block of all examples
        s.width = s.m
    s.o_Z2 = eh * s.width
    s.o_dZ1 = s.o_Z2 + ey * s.width
    s.o_E = s.o_dZ1 + eh * s.width
    s.o_dW1 = s.o_E + s.width
    s.o_dW2 = s.o_dW1 + eh * s.n_x
    s.slot = (s.o_dW2 + ey * s.n_h + 15) // 16 * 16  # 64-byte aligned slots
    s.dslot = (s.n_h + s.n_y + 1 + 7) // 8 * 8
    n_grads = s.n_h * s.n_x + s.n_h + s.n_y * s.n_h + s.n_y
    s.bufs = malloc((s.n_threads * s.slot + n_grads) * isz)
    s.dsums = <double*>malloc(s.n_threads * s.dslot * sizeof(double))
    if s.bufs == NULL or s.dsums == NULL:
        release(s)
        raise MemoryError()
    s.X, s.Y = data(X), data(Y)
    s.params[0], s.params[1], s.params[2], s.params[3] = data(W1), data(b1), data(W2), data(b2)
    s.grads[0] = <char*>s.bufs + s.n_threads * s.slot * isz
    s.grads[1] = <char*>s.grads[0] + s.n_h * s.n_x * isz
    s.grads[2] = <char*>s.grads[1] + s.n_h * isz
    s.grads[3] = <char*>s.grads[2] + s.n_y * s.n_h * isz
    return 0


cdef void release(Step* s) noexcept:
    free(s.bufs)
    free(s.dsums)


def mlp_descend(cnp.ndarray X not None, cnp.ndarray Y not None, cnp.ndarray W1 not None,
                cnp.ndarray b1 not None, cnp.ndarray W2 not None, cnp.ndarray b2 not None,
                double learning_rate, int activation, cnp.ndarray costs not None, bint check,
                int n_threads=1):
    """``len(costs)`` fused training steps on the parameters in place; ``costs[i]`` is step
    ``i``'s cost (before its update).  With ``check``, a step whose cost, gradients or new
    parameters are not finite is not applied and the loop stops: ``(status, n_done)``."""
    cdef Step s
    cdef Py_ssize_t done = 0, n_steps = cnp.PyArray_SIZE(costs)
    cdef double* pc = <double*>data(costs)
    cdef int status, f64 = cnp.PyArray_TYPE(X) == cnp.NPY_DOUBLE
    if FASTNN_DEBUG:
        check_layers(X, Y, W1, b1, W2, b2, activation, True)
        expect(costs, "costs", cnp.NPY_DOUBLE, -1, -2, True)
    prepare(&s, X, Y, W1, b1, W2, b2, activation, n_threads)
    with nogil:
        if f64:
            status = descend(<double*>s.X, <double*>s.Y, &s, learning_rate, pc, n_steps, check, &done)
        else:
            status = descend(<float*>s.X, <float*>s.Y, &s, learning_rate, pc, n_steps, check, &done)
    release(&s)
    return status, done


def mlp_gradients(cnp.ndarray X not None, cnp.ndarray Y not None, cnp.ndarray W1 not None,
                  cnp.ndarray b1 not None, cnp.ndarray W2 not None, cnp.ndarray b2 not None,
                  int activation, int n_threads=1):
    """``(status, loss, (dW1, db1, dW2, db2))`` of one pass, the loss and the gradients summed
    over the examples (not divided by ``m``): the partial sums of one chunk of a data set."""
    cdef Step s
    cdef double loss = 0
    cdef int status, q, f64 = cnp.PyArray_TYPE(X) == cnp.NPY_DOUBLE
    if FASTNN_DEBUG:
        check_layers(X, Y, W1, b1, W2, b2, activation, False)
    grads = tuple([np.empty_like(P) for P in (W1, b1, W2, b2)])
    prepare(&s, X, Y, W1, b1, W2, b2, activation, n_threads)
    for q in range(4):
        s.grads[q] = data(grads[q])
    with nogil:
        if f64:
            status = gradients(<double*>s.X, <double*>s.Y, &s, &loss)
        else:
            status = gradients(<float*>s.X, <float*>s.Y, &s, &loss)
    release(&s)
    return (status, loss, grads) if status != BAD_LABEL else (status, 0.0, None)


def set_cblas(size_t dgemm_address, size_t sgemm_address):
    """Route the large layers' products to the CBLAS ``cblas_dgemm``/``cblas_sgemm`` with
    64-bit integers (NumPy's OpenBLAS) at these addresses; ``(0, 0)``: tiles for every size."""
    if (dgemm_address == 0) != (sgemm_address == 0):
        raise ValueError("set_cblas: give both addresses or neither")
    cblas.dgemm = <dgemm_t>dgemm_address
    cblas.sgemm = <sgemm_t>sgemm_address


# --- the course's unfused functions (forward_propagation, backward_propagation) ---------

cdef void forward(const floating* X, const floating* W1, const floating* b1, const floating* W2,
                  const floating* b2, Py_ssize_t n_x, Py_ssize_t n_h, Py_ssize_t n_y, Py_ssize_t m,
                  int act, bint use_blas, floating* Z1, floating* A1,
                  floating* Z2, floating* A2) noexcept nogil:
    """``Z1``, ``A1``, ``Z2`` (room for even rows), ``A2`` of the whole batch."""
    cdef Py_ssize_t i
    if use_blas:
        blas_linear(&cblas, W1, b1, n_h, n_x, X, m, 0, m, Z1, m)
    else:
        linear(W1, b1, n_h, n_x, X, m, 0, m, Z1, m)
    for i in range(n_h * m):
        A1[i] = Z1[i]
    activate(A1, m, n_h, m, act)
    linear(W2, b2, n_y, n_h, A1, m, 0, m, Z2, m)
    for i in range(n_y * m):
        A2[i] = sigmoid(Z2[i])


def mlp_forward(cnp.ndarray X not None, cnp.ndarray W1 not None, cnp.ndarray b1 not None,
                cnp.ndarray W2 not None, cnp.ndarray b2 not None, int activation, int n_threads=1):
    """``(Z1, A1, Z2, A2)``: ``Z1 = W1 X + b1``, ``A1 = g(Z1)``, ``Z2 = W2 A1 + b2``,
    ``A2 = sigmoid(Z2)``."""
    if FASTNN_DEBUG:
        check_layers(X, None, W1, b1, W2, b2, activation, False)
    cdef Py_ssize_t n_x = cnp.PyArray_DIM(X, 0), m = cnp.PyArray_DIM(X, 1)
    cdef Py_ssize_t n_h = cnp.PyArray_DIM(W1, 0), n_y = cnp.PyArray_DIM(W2, 0)
    Z1, A1 = np.empty((even(n_h), m), X.dtype), np.empty((n_h, m), X.dtype)
    Z2, A2 = np.empty((even(n_y), m), X.dtype), np.empty((n_y, m), X.dtype)
    cdef void* p[9]
    p[:] = [data(X), data(W1), data(b1), data(W2), data(b2), data(Z1), data(A1), data(Z2), data(A2)]
    cdef bint f64 = cnp.PyArray_TYPE(X) == cnp.NPY_DOUBLE, blas = use_blas(n_x, n_h, m)
    with nogil:
        if f64:
            forward(<double*>p[0], <double*>p[1], <double*>p[2], <double*>p[3], <double*>p[4],
                    n_x, n_h, n_y, m, activation, blas, <double*>p[5], <double*>p[6],
                    <double*>p[7], <double*>p[8])
        else:
            forward(<float*>p[0], <float*>p[1], <float*>p[2], <float*>p[3], <float*>p[4],
                    n_x, n_h, n_y, m, activation, blas, <float*>p[5], <float*>p[6],
                    <float*>p[7], <float*>p[8])
    return Z1[:n_h], A1, Z2[:n_y], A2


cdef void backward(const floating* X, const floating* Y, const floating* W2, const floating* A1,
                   const floating* A2, Py_ssize_t n_x, Py_ssize_t n_h, Py_ssize_t n_y,
                   Py_ssize_t m, int act, bint use_blas, floating* ws, double* dsums,
                   floating** G) noexcept nogil:
    """The gradients from the forward pass's ``A1``, ``A2``, into ``G``; ``ws`` holds ``dZ2``
    (even(n_y) x m), ``dZ1`` (even(n_h) x m) and the sums of ``dW2``, ``dW1``, zeroed."""
    cdef floating* dZ2 = ws
    cdef floating* dZ1 = dZ2 + even(n_y) * m
    cdef floating* dW2 = dZ1 + even(n_h) * m
    cdef floating* dW1 = dW2 + even(n_y) * n_h
    cdef Py_ssize_t i, o
    cdef double scale = 1.0 / m
    for o in range(n_y):
        for i in range(m):
            dZ2[o * m + i] = A2[o * m + i] - Y[o * m + i]  # dZ2 = A2 - Y
            dsums[n_h + o] += dZ2[o * m + i]
    add_outer(dZ2, m, even(n_y), A1, m, n_h, 0, m, dW2)  # dW2 = dZ2 A1.T
    hidden_grad(W2, n_y, n_h, dZ2, A1, m, m, act, dZ1, dsums)  # dZ1 = W2.T dZ2 * g'(Z1)
    if use_blas:  # dW1 = dZ1 X.T
        blas_add_outer(&cblas, dZ1, m, even(n_h), X, m, n_x, 0, m, dW1)
    else:
        add_outer(dZ1, m, even(n_h), X, m, n_x, 0, m, dW1)
    mean(dW1, 0, 1, n_h * n_x, scale, G[0])
    mean(dsums, 0, 1, n_h, scale, G[1])
    mean(dW2, 0, 1, n_y * n_h, scale, G[2])
    mean(dsums + n_h, 0, 1, n_y, scale, G[3])


def mlp_backward(cnp.ndarray X not None, cnp.ndarray Y not None, cnp.ndarray W2 not None,
                 cnp.ndarray A1 not None, cnp.ndarray A2 not None, int activation, int n_threads=1):
    """``(dW1, db1, dW2, db2)`` from the forward pass's ``A1``, ``A2`` (the means over the
    examples)."""
    cdef Py_ssize_t n_x = cnp.PyArray_DIM(X, 0), m = cnp.PyArray_DIM(X, 1)
    cdef Py_ssize_t n_y = cnp.PyArray_DIM(W2, 0), n_h = cnp.PyArray_DIM(W2, 1)
    if FASTNN_DEBUG:
        check_layers(X, Y, None, None, W2, None, activation, False)
        expect(A1, "A1", cnp.PyArray_TYPE(X), n_h, m, False)
        expect(A2, "A2", cnp.PyArray_TYPE(X), n_y, m, False)
    grads = (np.empty((n_h, n_x), X.dtype), np.empty((n_h, 1), X.dtype),
             np.empty((n_y, n_h), X.dtype), np.empty((n_y, 1), X.dtype))
    cdef void* G[4]
    G[:] = [data(grads[0]), data(grads[1]), data(grads[2]), data(grads[3])]
    cdef Py_ssize_t size = (even(n_y) + even(n_h)) * m + even(n_y) * n_h + even(n_h) * n_x
    cdef void* ws = calloc(size, cnp.PyArray_ITEMSIZE(X))
    cdef double* dsums = <double*>calloc(n_h + n_y, sizeof(double))
    cdef void* p[5]
    p[:] = [data(X), data(Y), data(W2), data(A1), data(A2)]
    if ws == NULL or dsums == NULL:
        free(ws)
        free(dsums)
        raise MemoryError()
    cdef bint f64 = cnp.PyArray_TYPE(X) == cnp.NPY_DOUBLE, blas = use_blas(n_x, n_h, m)
    with nogil:
        if f64:
            backward(<double*>p[0], <double*>p[1], <double*>p[2], <double*>p[3], <double*>p[4],
                     n_x, n_h, n_y, m, activation, blas, <double*>ws, dsums, <double**>G)
        else:
            backward(<float*>p[0], <float*>p[1], <float*>p[2], <float*>p[3], <float*>p[4],
                     n_x, n_h, n_y, m, activation, blas, <float*>ws, dsums, <float**>G)
    free(ws)
    free(dsums)
    return grads
