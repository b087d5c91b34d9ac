"""Logistic regression's fused pass, numba backend.

    Z = w.T X + b          A = sigmoid(Z)                   (1, m)
    cost = (1/m) sum softplus((1 - 2Y) Z)                    (the log-loss, from the logits)
    dZ = A - Y             dw = X dZ.T / m   (n_x, 1)      db = sum(dZ) / m

Shapes: ``X (n_x, m)``, ``Y (1, m)``, ``w (n_x, 1)``; ``b`` a float (``(1,)`` where it is
updated).  The pass is two streams
over the rows of ``X``: the logits, then (the output layer in between) one dot product
per row for ``dw``, the second stream starting from the rows the first read last, which
are still in cache.  With threads, each takes its own range of rows in both streams
(each row of ``dw`` has one owner), and their partial logits are added in between.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from fastnn._backends import BAD_LABEL, OK
from fastnn._backends._numpy_blas import NO_TRANS, TRANS
from fastnn._backends.numba import blas
from fastnn._backends.numba import math as nm
from fastnn._backends.numba.common import bad_labels, finish, output_layer
from fastnn._backends.numba.math import HELPER, INLINE, JIT, START
from fastnn._backends.numba.mlp import zero


@njit(**HELPER)
def add_logits(w, X, k0, k1, Z):
    """``Z[i] += sum_k w[k] X[k, i]`` over the rows ``k0 <= k < k1`` (four per pass)."""
    m = X.shape[1]
    k = k0
    while k + 4 <= k1:
        w0, w1, w2, w3 = w[k, 0], w[k + 1, 0], w[k + 2, 0], w[k + 3, 0]
        for i in range(m):
            Z[i] += w0 * X[k, i] + w1 * X[k + 1, i] + w2 * X[k + 2, i] + w3 * X[k + 3, i]
        k += 4
    for r in range(k, k1):
        w0 = w[r, 0]
        for i in range(m):
            Z[i] += w0 * X[r, i]


@njit(**HELPER)
def row_dots(X, D, k0, k1, G):
    """``G[k, 0] = sum_i X[k, i] D[i]`` for ``k0 <= k < k1``, four rows per pass, the last
    rows first."""
    m = X.shape[1]
    zero = G.dtype.type(0)
    k = k1
    while k - 4 >= k0:
        k -= 4
        s0 = s1 = s2 = s3 = zero
        for i in range(m):
            d = D[i]
            s0 += X[k, i] * d
            s1 += X[k + 1, i] * d
            s2 += X[k + 2, i] * d
            s3 += X[k + 3, i] * d
        G[k, 0], G[k + 1, 0], G[k + 2, 0], G[k + 3, 0] = s0, s1, s2, s3
    while k > k0:
        k -= 1
        s0 = zero
        for i in range(m):
            s0 += X[k, i] * D[i]
        G[k, 0] = s0


@njit(**INLINE)
def gradient_sums(w, b0, X, Y, n_threads, use_blas, ws):
    """One pass: the summed loss; ``dw = X dZ.T`` and ``db = sum(dZ)`` (not divided by
    ``m``) into the workspace's sums.  (``prange``: threads in :func:`descend_parallel`;
    ``use_blas``: the two products as NumPy's BLAS matrix-vector products.)"""
    Zt, Z, E, sums = ws
    dw, db = sums[0][0], sums[1][0]
    n_x, m = X.shape
    if use_blas:
        blas.matvec(TRANS, X, w, Zt[0])  # Z = w.T X, as X.T w
    else:
        zero(Zt)
        for t in prange(n_threads):
            add_logits(w, X, (t * n_x) // n_threads, ((t + 1) * n_x) // n_threads, Zt[t])
    for i in range(m):
        z = b0
        for t in range(n_threads):
            z += Zt[t, i]
        Z[0, i] = z
    db[0, 0] = 0
    loss = output_layer(Z, Y, START, m, E, db)  # A = sigmoid(Z), dZ = A - Y (in Z), db
    if use_blas:
        blas.matvec(NO_TRANS, X, Z, dw)  # dw = X dZ.T
    else:
        for t in prange(n_threads):
            row_dots(X, Z[0], (t * n_x) // n_threads, ((t + 1) * n_x) // n_threads, dw)
    return loss


@njit(**HELPER)
def workspace(X, n_threads):
    """``(partial logits per thread, Z, E, (dw, db) sums)``, each written before it is read."""
    n_x, m = X.shape
    sums = (np.empty((1, n_x, 1), X.dtype), np.empty((1, 1, 1), X.dtype))
    return np.empty((n_threads, m), X.dtype), np.empty((1, m), X.dtype), np.empty((1, m), X.dtype)[0], sums


@njit(**INLINE)
def _descend(w, b, X, Y, lr, costs, check, n_threads, dw, db):
    """``len(costs)`` steps of gradient descent on ``w``, ``b`` in place; ``costs[i]`` is
    step ``i``'s cost, ``dw``, ``db`` get the last step's gradients.  With ``check``, a
    step whose cost, gradients or new parameters are not finite is not applied and the
    loop stops.  Returns ``(status, steps applied)``."""
    if bad_labels(Y):
        return BAD_LABEL, 0
    ws = workspace(X, n_threads)
    scale = 1.0 / X.shape[1]
    params, grads = (w, b.reshape((1, 1))), (dw, db.reshape((1, 1)))
    for it in range(len(costs)):
        loss = gradient_sums(w, b[0], X, Y, n_threads, False, ws)
        status, cost = finish(loss, ws[3], scale, params, grads, lr, check, True)
        if status != OK:
            return status, it
        costs[it] = cost
    return OK, len(costs)


@njit(**INLINE)
def _propagate(w, b, X, Y, scale, n_threads, use_blas):
    """``(status, cost, dw, db)`` of one pass, times ``scale``: ``1 / m`` for
    ``propagate``, 1 for the sums of one chunk of a data set."""
    dw, db = np.empty(w.shape, w.dtype), np.empty((1, 1), w.dtype)
    if bad_labels(Y):
        return BAD_LABEL, 0.0, dw, 0.0
    ws = workspace(X, n_threads)
    loss = gradient_sums(w, b, X, Y, n_threads, use_blas, ws)
    status, cost = finish(loss, ws[3], scale, (w,), (dw, db), 0.0, True, False)
    return status, cost, dw, float(db[0, 0])


# --- entry points, each compiled on first use ------------------------------------------


@njit(**JIT)
def descend(w, b, X, Y, lr, costs, check, dw, db):
    """:func:`_descend` on one thread."""
    return _descend(w, b, X, Y, lr, costs, check, 1, dw, db)


@njit(parallel=True, **JIT)
def descend_parallel(w, b, X, Y, lr, costs, check, n_threads, dw, db):
    """:func:`_descend`, the rows of ``X`` shared among ``n_threads`` threads."""
    return _descend(w, b, X, Y, lr, costs, check, n_threads, dw, db)


@njit(**JIT)
def propagate(w, b, X, Y, scale):
    """:func:`_propagate` on one thread."""
    return _propagate(w, b, X, Y, scale, 1, False)


@njit(parallel=True, **JIT)
def propagate_parallel(w, b, X, Y, scale, n_threads):
    """:func:`_propagate` on ``n_threads`` threads."""
    return _propagate(w, b, X, Y, scale, n_threads, False)


@njit(**JIT)
def propagate_blas(w, b, X, Y, scale):
    """:func:`_propagate` with the products in the BLAS (which has its own threads)."""
    return _propagate(w, b, X, Y, scale, 1, True)


@njit(**JIT)
def forward(w, b, X):
    """``A = sigmoid(w.T X + b)``, shape ``(1, m)``."""
    m = X.shape[1]
    Z = np.empty((1, m), X.dtype)
    zero(Z)
    add_logits(w, X, START, X.shape[0], Z[0])
    A = np.empty((1, m), X.dtype)
    for i in range(m):
        A[0, i] = nm.sigmoid(Z[0, i] + b)
    return A
