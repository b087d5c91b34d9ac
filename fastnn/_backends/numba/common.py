"""What the two models' kernels share: the output layer, the label check, gradient means,
the update.

Finiteness is checked without a branch per element: ``sum(v * 0)`` is 0 exactly when
every ``v`` is finite (``inf * 0`` and ``nan * 0`` are NaN), which the allowed fastmath
flags keep (no ``nnan``/``ninf``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastnn._backends import NONFINITE, OK
from fastnn._backends.numba import math as nm
from fastnn._backends.numba.math import HELPER, INLINE, NO_ENTRY


@njit(**INLINE)
def bad_labels(Y):
    """Whether a label is not exactly 0 or 1 (NaN included): ``sum |y (1 - y)| != 0``."""
    one = Y.dtype.type(1)
    acc = 0.0
    for o in range(Y.shape[0]):
        for i in range(Y.shape[1]):
            y = Y[o, i]
            acc += abs(y * (one - y))
    return acc != 0.0


@njit(**HELPER)
def output_layer(Z2, Y, c0, n, E, db2):
    """``dZ2 = sigmoid(Z2) - Y`` in place over ``Z2[:, :n]`` (labels ``Y[:, c0:c0+n]``);
    adds ``sum(dZ2)`` to ``db2`` and returns the summed loss ``sum softplus((1-2Y) Z2)``.

    One ``exp`` per example serves both the sigmoid and the loss; the loss's ``log1p``
    terms of a row are summed as one ``log1p`` of their product (``nm.sum_log1p``).
    """
    loss = 0.0
    c = np.uint64(c0)
    for o in range(Y.shape[0]):
        h_sum = 0.0
        d_sum = 0.0
        for i in range(n):
            y = Y[o, c + np.uint64(i)]
            a, e, h = nm.logistic_parts(Z2[o, i], y)
            Z2[o, i] = a - y
            E[i] = e
            h_sum += h
            d_sum += a - y
        loss += h_sum + nm.sum_log1p(E, n)
        db2[o, 0] += d_sum
    return loss


@njit(**HELPER)
def mean(S, scale, G):
    """``G = scale * sum_t S[t, :rows(G)]`` (the threads' partial sums, in ``G``'s dtype);
    returns ``sum(G * 0)``: 0 exactly when every element of ``G`` is finite."""
    bad = 0.0
    for j in range(G.shape[0]):
        for k in range(G.shape[1]):
            s = S[0, j, k]
            for t in range(1, S.shape[0]):
                s += S[t, j, k]
            g = G.dtype.type(s * scale)
            G[j, k] = g
            bad += g * 0.0
    return bad


#: The update's options: no reassociation, so that ``lr * G`` rounds as written (as
#: ``(lr * S) / m`` a huge learning rate could overflow where the step does not).
_UPDATE = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}, "nogil": True, **NO_ENTRY}


@njit(**_UPDATE)
def update_is_finite(P, G, lr):
    """``sum((P - lr * G) * 0)``: 0 when every new value is finite (nothing written)."""
    bad = 0.0
    lr_ = P.dtype.type(lr)
    for j in range(P.shape[0]):
        for k in range(P.shape[1]):
            bad += (P[j, k] - lr_ * G[j, k]) * 0.0
    return bad


@njit(**_UPDATE)
def sgd(P, G, lr):
    """``P -= lr * G``, the same arithmetic as :func:`update_is_finite`."""
    lr_ = P.dtype.type(lr)
    for j in range(P.shape[0]):
        for k in range(P.shape[1]):
            P[j, k] = P[j, k] - lr_ * G[j, k]


@njit(**INLINE)
def finish(loss, sums, scale, params, grads, lr, check, update):
    """``(status, cost)`` of a step: the cost ``loss * scale`` and the gradients ``sums *
    scale`` (into ``grads``), then, when ``update``, ``params -= lr * grads``.  With
    ``check``, nothing is applied when the cost, a gradient or a new parameter is not
    finite: the status says so."""
    cost = loss * scale
    bad = cost * 0.0
    for S, G in zip(sums, grads):
        bad += mean(S, scale, G)
    if check:
        for P, G in zip(params, grads):
            bad += update_is_finite(P, G, lr)
        if bad != 0.0:
            return NONFINITE, cost
    if update:
        for P, G in zip(params, grads):
            sgd(P, G, lr)
    return OK, cost
