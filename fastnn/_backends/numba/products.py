"""Register-tiled small matrix products: the tuning behind the fused steps' products.

The fused kernels multiply one block of examples at a time, the examples being the
columns of ``X`` (the course's layout).  Two products are needed:

``linear(W, b, X, c0, n, Out)``
    ``Out[:, :n] = W X[:, c0:c0+n] + b`` (the forward pass: ``Z1 = W1 X + b1``, ...).
``add_outer(D, X, c0, n, G)``
    ``G += D[:, :n] X[:, c0:c0+n].T`` (the gradients: ``dW1 += dZ1 X.T``, ...).

Why not plain ``np.dot``: at these sizes a BLAS call costs more than the arithmetic
(allocation and dispatch on a ``4 x 400`` block), and the blocks sit in L1 where a
hand-written loop runs at the core's multiply-add rate.  How: every inner loop runs
along the examples (unit stride: LLVM vectorizes it), and each pass over a row of the
output handles two output rows and (``linear``) four input rows, or (``add_outer``)
two by two dot products at once, so that one load of ``X`` feeds several multiply-adds
instead of one: the loops are bound by arithmetic, not by loads and stores.

Both take an odd number of output rows by pairing the last row with a padding row:
``Out`` and ``D``/``G`` have room for ``n_out`` rounded up to even (``even(n_out)``):
``linear`` writes the padding row of ``Out`` (the last row's weights again), ``add_outer``
reads that of ``D``, and neither result is read.  Column offsets are
unsigned, so numba emits no negative-index wrap-around in the inner loops.  (Indices are
clipped by conditional expressions, not ``min``: each builtin used is one more function
for numba to compile on a kernel's first call.)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastnn._backends.numba.math import HELPER


@njit(**HELPER)
def linear(W, b, X, c0, n, Out):
    """``Out[j, i] = b[j] + sum_k W[j, k] X[k, c0 + i]`` for ``j < n_out``, ``i < n``.

    ``W (n_out, n_in)``, ``b (n_out, 1)``, ``X (n_in, *)``, ``Out (even(n_out), >= n)``.
    Rows of ``X`` four at a time, the bias added in the first pass: one pass over ``Out``
    per four inputs, each row of ``X`` read once (``Out`` stays in L1).
    """
    n_out, n_in = W.shape
    zero = W.dtype.type(0)
    c = np.uint64(c0)
    for k in range(0, n_in, 4):  # each row of X is read once, for every output row
        # a last group of fewer than four rows reads the missing ones as zeros (zero
        # weights alone would not do: 0 * inf is NaN where the row's answer is inf)
        full = k + 4 <= n_in
        last = n_in - 1
        k1 = k + 1 if k + 1 < last else last
        k2 = k + 2 if k + 2 < last else last
        k3 = k + 3 if k + 3 < last else last
        for j in range(0, n_out, 2):
            j1 = j + 1 if j + 1 < n_out else j  # an odd last row pairs with Out's padding row
            a0, a1, a2, a3 = W[j, k], W[j, k1], W[j, k2], W[j, k3]
            d0, d1, d2, d3 = W[j1, k], W[j1, k1], W[j1, k2], W[j1, k3]
            first = k == 0
            for i in range(n):
                q = c + np.uint64(i)
                x0, x1, x2, x3 = X[k, q], X[k1, q], X[k2, q], X[k3, q]
                if not full:
                    x1 = x1 if k + 1 < n_in else zero
                    x2 = x2 if k + 2 < n_in else zero
                    x3 = x3 if k + 3 < n_in else zero
                u = a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3
                v = d0 * x0 + d1 * x1 + d2 * x2 + d3 * x3
                if first:
                    Out[j, i] = b[j, 0] + u
                    Out[j + 1, i] = b[j1, 0] + v
                else:
                    Out[j, i] += u
                    Out[j + 1, i] += v


@njit(**HELPER)
def add_outer(D, X, c0, n, G):
    """``G[j, k] += sum_i D[j, i] X[k, c0 + i]`` for ``j < even(n_out)``, ``k < n_in``.

    ``D (even(n_out), >= n)``, ``X (n_in, *)``, ``G (even(n_out), n_in)``: the padding
    rows of ``D`` and ``G`` are computed with the others (their result is not read).
    Each row of ``X`` is read once, the last rows first: after :func:`linear` on the same
    columns, those are the ones still in cache.
    """
    n_rows, n_in = G.shape
    c = np.uint64(c0)
    zero = G.dtype.type(0)
    for k in range(n_in - 1 - (n_in - 1) % 2, -1, -2):  # rows of X once each, the last first
        k1 = k + 1 if k + 1 < n_in else k  # an odd last row of X pairs with itself, added once
        for j in range(0, n_rows, 2):
            s00 = s01 = s10 = s11 = zero
            for i in range(n):
                q = c + np.uint64(i)
                x0, x1 = X[k, q], X[k1, q]
                e0, e1 = D[j, i], D[j + 1, i]
                s00 += e0 * x0
                s01 += e0 * x1
                s10 += e1 * x0
                s11 += e1 * x1
            G[j, k] += s00
            G[j + 1, k] += s10
            if k1 != k:
                G[j, k1] += s01
                G[j + 1, k1] += s11
