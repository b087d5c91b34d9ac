"""The 2-layer network's fused training step, numba backend.

    Z1 = W1 X + b1         A1 = g(Z1)             g = tanh, relu or sigmoid
    Z2 = W2 A1 + b2        A2 = sigmoid(Z2)
    cost = (1/m) sum softplus((1 - 2Y) Z2)          (the log-loss, from the logits)
    dZ2 = A2 - Y           dW2 = dZ2 A1.T / m     db2 = sum(dZ2) / m
    dZ1 = W2.T dZ2 * g'(Z1)
                           dW1 = dZ1 X.T / m      db1 = sum(dZ1) / m

Shapes: ``X (n_x, m)``, ``Y (n_y, m)``, ``W1 (n_h, n_x)``, ``b1 (n_h, 1)``, ``W2 (n_y, n_h)``,
``b2 (n_y, 1)``.  :func:`block` is the step on one block of examples, written as the
equations above; the rest runs it over every block (each thread its own range of
examples and gradient sums), checks and applies the update.  The block's width keeps its
activations in L1 and its columns of ``X`` in cache for the backward pass, so ``X`` is read
from memory once per step.  The products are :mod:`.products`' register tiles, or the
BLAS (:mod:`.blas`) when the layers are large enough for it to win.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from fastnn._backends import BAD_LABEL, OK, RELU, TANH
from fastnn._backends.numba import blas
from fastnn._backends.numba import math as nm
from fastnn._backends.numba.common import bad_labels, finish, output_layer
from fastnn._backends.numba.math import HELPER, INLINE, JIT, START
from fastnn._backends.numba.products import add_outer, linear


@njit(**HELPER)
def activate(Z, n_rows, n, act):
    """``A = g(Z)`` in place, rows ``< n_rows``, columns ``< n``."""
    zero = Z.dtype.type(0)
    for j in range(n_rows):
        if act == TANH:
            for i in range(n):
                Z[j, i] = nm.tanh(Z[j, i])
        elif act == RELU:
            for i in range(n):
                z = Z[j, i]
                Z[j, i] = zero if z < zero else z  # NaN stays NaN
        else:
            for i in range(n):
                Z[j, i] = nm.sigmoid(Z[j, i])


@njit(**HELPER)
def hidden_grad(W2, dZ2, A1, n, act, dZ1, db1):
    """``dZ1 = W2.T dZ2 * g'(Z1)`` over ``n`` columns (``g'`` from ``A1 = g(Z1)``); adds
    ``sum(dZ1)`` to ``db1``.  One pass per output row, the last one applying ``g'``."""
    n_y, n_h = W2.shape
    one, zero = A1.dtype.type(1), A1.dtype.type(0)
    last = n_y - 1
    for j in range(n_h):
        for o in range(last):  # the outputs before the last: dZ1 accumulates W2.T dZ2
            w = W2[o, j]
            for i in range(n):
                dZ1[j, i] = (dZ1[j, i] if o else zero) + w * dZ2[o, i]
        w = W2[last, j]
        s = 0.0
        if act == TANH:
            for i in range(n):
                a = A1[j, i]
                d = ((dZ1[j, i] if last else zero) + w * dZ2[last, i]) * (one - a * a)
                dZ1[j, i] = d
                s += d
        elif act == RELU:
            for i in range(n):
                d = (dZ1[j, i] if last else zero) + w * dZ2[last, i]
                d = d if A1[j, i] > zero else zero
                dZ1[j, i] = d
                s += d
        else:
            for i in range(n):
                a = A1[j, i]
                d = ((dZ1[j, i] if last else zero) + w * dZ2[last, i]) * (a * (one - a))
                dZ1[j, i] = d
                s += d
        db1[j, 0] += s


@njit(**INLINE)
def block(X, Y, c0, n, W1, b1, W2, b2, act, use_blas, bufs, sums):
    """The step on examples ``c0 .. c0+n``: adds their gradient sums to ``sums`` (``dW1``,
    ``db1``, ``dW2``, ``db2``) and returns their summed loss.  ``bufs`` holds the block's
    activations."""
    Z1, Z2, dZ1, E = bufs
    dW1, db1, dW2, db2 = sums
    n_h = W1.shape[0]
    if use_blas:
        blas.linear(W1, b1, X, c0, n, Z1)  # Z1 = W1 X + b1
    else:
        linear(W1, b1, X, c0, n, Z1)
    activate(Z1, n_h, n, act)  # A1 = g(Z1)
    A1 = Z1
    linear(W2, b2, A1, START, n, Z2)  # Z2 = W2 A1 + b2
    loss = output_layer(Z2, Y, c0, n, E[0], db2)  # A2 = sigmoid(Z2), dZ2 = A2 - Y, db2
    dZ2 = Z2
    add_outer(dZ2, A1, START, n, dW2)  # dW2 = dZ2 A1.T
    hidden_grad(W2, dZ2, A1, n, act, dZ1, db1)  # dZ1 = W2.T dZ2 * g'(Z1), db1
    if use_blas:
        blas.add_outer(dZ1, X, c0, n, dW1)  # dW1 = dZ1 X.T
    else:
        add_outer(dZ1, X, c0, n, dW1)
    return loss


@njit(**HELPER)
def zero(S):
    """``S[...] = 0`` (C-contiguous ``S``), a call compiled serial: in a ``parallel=True``
    kernel numba makes a fill a thread-team loop (a launch each time); a loop, not ``fill``
    (one more function to compile)."""
    flat = S.reshape(S.size)
    for i in range(flat.size):
        flat[i] = 0


@njit(**INLINE)
def gradient_sums(X, Y, W1, b1, W2, b2, act, use_blas, n_threads, ws, losses):
    """One pass over every example: thread ``t`` takes the ``t``-th range of examples, block
    by block, into its own slot of the workspace ``ws``; returns the summed loss.  (The
    ``prange`` is a thread team in :func:`descend_parallel`, a plain loop elsewhere.)"""
    bufs, sums, _ = ws
    m = X.shape[1]
    width = bufs[0].shape[2]
    for S in sums:
        zero(S)
    for t in prange(n_threads):
        mine = (bufs[0][t], bufs[1][t], bufs[2][t], bufs[3][t])
        my_sums = (sums[0][t], sums[1][t], sums[2][t], sums[3][t])
        lo, hi = (t * m) // n_threads, ((t + 1) * m) // n_threads
        loss = 0.0
        for c0 in range(lo, hi, width):
            n = width if width < hi - c0 else hi - c0
            loss += block(X, Y, c0, n, W1, b1, W2, b2, act, use_blas, mine, my_sums)
        losses[t] = loss
    loss = 0.0
    for t in range(n_threads):
        loss += losses[t]
    return loss


@njit(**HELPER)
def workspace(X, W1, W2, block_bytes, n_threads):
    """``(bufs, sums, grads)``: per-thread activations ``(Z1, Z2, dZ1, E)`` of a block and
    gradient sums ``(dW1, db1, dW2, db2)`` (a leading axis for the thread; row counts
    rounded up to even for :mod:`.products`), and room for the gradients.  A block is as
    wide as ``block_bytes`` allows for ``Z1`` and ``dZ1`` (a multiple of 16 examples, at
    least 16, at most a thread's share).  Only the padding row of ``dZ1`` needs zeros."""
    dtype = X.dtype
    (n_x, m), n_h, n_y = X.shape, W1.shape[0], W2.shape[0]
    eh, ey = n_h + n_h % 2, n_y + n_y % 2
    share = -(-m // n_threads)
    width = block_bytes // (2 * eh * X.itemsize) // 16 * 16
    width = 16 if width < 16 else width  # (no max/min: see products' note on builtins)
    width = share if share < width else width
    bufs = (np.empty((n_threads, eh, width), dtype), np.empty((n_threads, ey, width), dtype),
            np.empty((n_threads, eh, width), dtype), np.empty((n_threads, 1, width), dtype))
    sums = (np.empty((n_threads, eh, n_x), dtype), np.empty((n_threads, n_h, 1), dtype),
            np.empty((n_threads, ey, n_h), dtype), np.empty((n_threads, n_y, 1), dtype))
    grads = (np.empty((n_h, n_x), dtype), np.empty((n_h, 1), dtype), np.empty((n_y, n_h), dtype),
             np.empty((n_y, 1), dtype))
    # dZ1's padding row (odd n_h) is read by add_outer and never written: zero it once
    for i in range(n_threads * width * (eh - n_h)):
        bufs[2][i // width, n_h, i % width] = 0
    return bufs, sums, grads


@njit(**INLINE)
def _descend(X, Y, W1, b1, W2, b2, lr, act, costs, check, block_bytes, n_threads, use_blas):
    """``len(costs)`` fused steps: ``costs[i]`` is step ``i``'s cost (before its update).
    With ``check``, a step whose cost, gradients or new parameters are not finite is not
    applied and the loop stops.  Returns ``(status, steps applied)``."""
    if bad_labels(Y):
        return BAD_LABEL, 0
    ws = workspace(X, W1, W2, block_bytes, n_threads)
    losses = np.empty(n_threads)  # each thread writes its own
    params = (W1, b1, W2, b2)
    scale = 1.0 / X.shape[1]
    for it in range(len(costs)):
        loss = gradient_sums(X, Y, W1, b1, W2, b2, act, use_blas, n_threads, ws, losses)
        status, cost = finish(loss, ws[1], scale, params, ws[2], lr, check, True)
        if status != OK:
            return status, it
        costs[it] = cost
    return OK, len(costs)


# --- entry points: one per way of running the step, each compiled on first use --------


@njit(**JIT)
def descend(X, Y, W1, b1, W2, b2, lr, act, costs, check, block_bytes):
    """:func:`_descend` on one thread, the products by register tiles."""
    return _descend(X, Y, W1, b1, W2, b2, lr, act, costs, check, block_bytes, 1, False)


@njit(parallel=True, **JIT)
def descend_parallel(X, Y, W1, b1, W2, b2, lr, act, costs, check, block_bytes, n_threads):
    """:func:`_descend`, the examples shared among ``n_threads`` threads."""
    return _descend(X, Y, W1, b1, W2, b2, lr, act, costs, check, block_bytes, n_threads, False)


@njit(**JIT)
def descend_blas(X, Y, W1, b1, W2, b2, lr, act, costs, check, block_bytes):
    """:func:`_descend` with the two big products in the BLAS (which has its own threads)."""
    return _descend(X, Y, W1, b1, W2, b2, lr, act, costs, check, block_bytes, 1, True)


@njit(**JIT)
def gradients(X, Y, W1, b1, W2, b2, act, block_bytes):
    """``(status, summed loss, (dW1, db1, dW2, db2))`` of one pass, the gradients summed over
    the examples, not divided by ``m``: the partial sums of one chunk of a data set."""
    ws = workspace(X, W1, W2, block_bytes, 1)
    if bad_labels(Y):
        return BAD_LABEL, 0.0, ws[2]
    loss = gradient_sums(X, Y, W1, b1, W2, b2, act, False, 1, ws, np.empty(1))
    status, loss = finish(loss, ws[1], 1.0, (W1, b1, W2, b2), ws[2], 0.0, True, False)
    return status, loss, ws[2]


# --- the course's unfused functions (forward_propagation, backward_propagation) --------


@njit(**JIT)
def forward(X, W1, b1, W2, b2, act):
    """``(Z1, A1, Z2, A2)`` of the whole batch."""
    m, n_h, n_y = X.shape[1], W1.shape[0], W2.shape[0]
    Z1 = np.empty((n_h + n_h % 2, m), X.dtype)
    Z2 = np.empty((n_y + n_y % 2, m), X.dtype)
    linear(W1, b1, X, START, m, Z1)
    A1 = Z1[:n_h].copy()
    activate(A1, n_h, m, act)
    linear(W2, b2, A1, START, m, Z2)
    A2 = Z2[:n_y].copy()
    for o in range(n_y):
        for i in range(m):
            A2[o, i] = nm.sigmoid(A2[o, i])
    return Z1[:n_h], A1, Z2[:n_y], A2


@njit(**JIT)
def backward(X, Y, W2, A1, A2, act):
    """``(dW1, db1, dW2, db2)`` from the forward pass's ``A1``, ``A2``."""
    (n_x, m), (n_y, n_h) = X.shape, W2.shape
    eh, ey = n_h + n_h % 2, n_y + n_y % 2
    inv_m = 1.0 / m
    dZ2 = np.zeros((ey, m), X.dtype)
    db2 = np.zeros((n_y, 1))
    for o in range(n_y):
        for i in range(m):
            dZ2[o, i] = A2[o, i] - Y[o, i]
            db2[o, 0] += dZ2[o, i]
    dW2 = np.zeros((ey, n_h), X.dtype)
    add_outer(dZ2, A1, START, m, dW2)
    dZ1 = np.empty((eh, m), X.dtype)
    db1 = np.zeros((n_h, 1))
    hidden_grad(W2, dZ2, A1, m, act, dZ1, db1)
    dW1 = np.zeros((eh, n_x), X.dtype)
    add_outer(dZ1, X, START, m, dW1)
    dtype = X.dtype
    return ((dW1[:n_h] * inv_m).astype(dtype), (db1 * inv_m).astype(dtype),
            (dW2[:n_y] * inv_m).astype(dtype), (db2 * inv_m).astype(dtype))
