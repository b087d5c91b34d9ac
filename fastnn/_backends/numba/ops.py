"""The element-wise and vector ops of the numba backend: ``sigmoid``, ``dot`` (the
vectorization demo), the course's cost from probabilities, the parameter update."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from fastnn._backends.numba import math as nm
from fastnn._backends.numba.common import sgd
from fastnn._backends.numba.math import JIT


@njit(**JIT)
def sigmoid(z):
    """``1 / (1 + e^-z)`` of a 1-D array, a new array."""
    out = np.empty_like(z)
    for i in range(z.size):
        out[i] = nm.sigmoid(z[i])
    return out


@njit(**JIT)
def dot(a, b):
    """``sum_i a[i] b[i]``, accumulated in float64."""
    s = 0.0
    for i in range(a.size):
        s += np.float64(a[i]) * np.float64(b[i])
    return s


@njit(parallel=True, **JIT)
def dot_parallel(a, b, n_threads):
    """:func:`dot`, each of ``n_threads`` threads summing its own range (a slice: its loop
    starts at 0, which lets LLVM drop the negative-index check and vectorize it)."""
    n = a.size
    parts = np.empty(n_threads)
    for t in prange(n_threads):
        lo, hi = (t * n) // n_threads, ((t + 1) * n) // n_threads
        parts[t] = dot(a[lo:hi], b[lo:hi])
    s = 0.0
    for t in range(n_threads):
        s += parts[t]
    return s


@njit(**JIT)
def cross_entropy(A2, Y):
    """The course's ``-(1/m) sum(Y log A2 + (1 - Y) log(1 - A2))``, ``A2`` clipped to
    ``[eps, 1 - eps]`` of its dtype."""
    eps = np.finfo(A2.dtype).eps
    s = 0.0
    for o in range(A2.shape[0]):
        for i in range(A2.shape[1]):
            p = min(max(np.float64(A2[o, i]), eps), 1.0 - eps)
            y = np.float64(Y[o, i])
            s += y * math.log(p) + (1.0 - y) * math.log(1.0 - p)
    return -s / A2.shape[1]


@njit(**JIT)
def sgd_update(P, dP, lr):
    """A new array ``P - lr * dP``."""
    new = P.copy()
    sgd(new, dP, lr)
    return new
