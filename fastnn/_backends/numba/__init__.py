"""The ``numba`` backend: fused ``@njit`` kernels, numba and NumPy only.

The kernel protocol (:mod:`fastnn._backends`) is defined here; each function picks the
compiled kernel that fits the call and hands it the arrays:

* :mod:`.logreg` -- logistic regression's fused pass and its descent loop;
* :mod:`.mlp` -- the 2-layer network's fused step (and the course's unfused pieces);
* :mod:`.ops` -- ``sigmoid``, ``dot``, the course's cost, the update;
* :mod:`.math` -- vectorizable ``exp``/``tanh``/``sigmoid``/``log1p`` (PyPI's numba has no
  SVML), tuning: :mod:`.products` (register-tiled small products), :mod:`.blas` (NumPy's
  BLAS for the large ones).

Every kernel is compiled on its first call, for that call's dtype and way of running
(one thread, a thread team, the BLAS), and cached on disk (``NUMBA_CACHE_DIR``);
``fastnn warmup`` compiles them all ahead of time.  Threads follow
:mod:`fastnn.tuning`.  The threading layer is a thread-safe one (``threadsafe``: TBB, else
OpenMP) unless ``NUMBA_THREADING_LAYER`` says otherwise: numba's default would abort when
two Python threads run threaded kernels at once.
"""

from __future__ import annotations

import os

import numba

from fastnn import tuning
from fastnn._backends.numba import blas, logreg, mlp, ops
from fastnn._validation import fast_logreg_arrays, fast_mlp_arrays  # noqa: F401

NAME = "numba"
VERSION = numba.__version__

_USER_LAYER = os.environ.get("NUMBA_THREADING_LAYER", "").strip()
if not _USER_LAYER and numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "threadsafe"


def _threads(work: float, n_threads: int) -> int:
    nt = tuning.threads_for(work, n_threads)
    return nt if nt == 1 else min(nt, numba.get_num_threads())


def details() -> dict:
    import llvmlite

    from fastnn._backends.numba.math import HOST_CPU, HOST_FEATURES

    try:
        layer = numba.threading_layer()  # the one launched, if a kernel ran threaded
    except ValueError:
        layer = f"{numba.config.THREADING_LAYER} (not launched yet)"
    simd = next((label for flag, label in (("+avx512f", "AVX-512"), ("+avx2", "AVX2"), ("+avx", "AVX"),
                                           ("+sse4.2", "SSE4.2"), ("+neon", "NEON"))
                 if flag in HOST_FEATURES), "baseline")
    return {
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "threading_layer": layer,
        "max_threads": numba.config.NUMBA_NUM_THREADS,
        "cpu": HOST_CPU,
        "simd": simd,
        "blas": "NumPy's OpenBLAS for the large layers" if blas.AVAILABLE else "none found: register tiles",
        "cache_dir": numba.config.CACHE_DIR or "__pycache__ beside the sources",
    }


# --- ops --------------------------------------------------------------------------------


def sigmoid(z):
    return ops.sigmoid(z)


def dot(a, b, n_threads=1):
    nt = _threads(8 * a.size, n_threads)
    return ops.dot(a, b) if nt == 1 else ops.dot_parallel(a, b, nt)


def mlp_cost(A2, Y):
    return ops.cross_entropy(A2, Y)


def sgd_update(P, dP, learning_rate):
    return ops.sgd_update(P, dP, learning_rate)


# --- logistic regression ----------------------------------------------------------------


def logreg_forward(w, b, X):
    return logreg.forward(w, b, X)


def logreg_propagate(w, b, X, Y, n_threads=1):
    (n_x, m), scale = X.shape, 1.0 / X.shape[1]
    if 4 * n_x * m >= tuning.PARALLEL_WORK and blas.AVAILABLE and tuning.logreg_blas_for(n_x, m):
        status, cost, dw, db = logreg.propagate_blas(w, b, X, Y, scale)
    elif (nt := _threads(4 * n_x * m, n_threads)) == 1:
        status, cost, dw, db = logreg.propagate(w, b, X, Y, scale)
    else:
        status, cost, dw, db = logreg.propagate_parallel(w, b, X, Y, scale, nt)
    return status, dw, db, cost


def logreg_descend(w, b, X, Y, learning_rate, costs, dw, db, check, n_threads=1):
    nt = _threads(4 * X.size, n_threads)
    if nt == 1:
        return logreg.descend(w, b, X, Y, learning_rate, costs, check, dw, db)
    return logreg.descend_parallel(w, b, X, Y, learning_rate, costs, check, nt, dw, db)


# --- two-layer network ------------------------------------------------------------------


def mlp_forward(X, W1, b1, W2, b2, activation, n_threads=1):
    return mlp.forward(X, W1, b1, W2, b2, activation)


def mlp_backward(X, Y, W2, A1, A2, activation, n_threads=1):
    return mlp.backward(X, Y, W2, A1, A2, activation)


def mlp_descend(X, Y, W1, b1, W2, b2, learning_rate, activation, costs, check, n_threads=1):
    (n_x, m), n_h = X.shape, W1.shape[0]
    work = n_h * m * (2 * n_x + 16)  # multiply-adds of a step, as tuning.PARALLEL_WORK counts them
    if work < tuning.PARALLEL_WORK and n_x * n_h * m < tuning.BLAS_WORK:
        # the course's sizes, checked first: one thread, register tiles
        return mlp.descend(X, Y, W1, b1, W2, b2, learning_rate, activation, costs, check, tuning.BLOCK_BYTES)
    if blas.AVAILABLE and tuning.blas_for(n_x, n_h, m):
        return mlp.descend_blas(X, Y, W1, b1, W2, b2, learning_rate, activation, costs, check, 1 << 60)
    nt = _threads(work, n_threads)
    if nt == 1:
        return mlp.descend(X, Y, W1, b1, W2, b2, learning_rate, activation, costs, check, tuning.BLOCK_BYTES)
    return mlp.descend_parallel(
        X, Y, W1, b1, W2, b2, learning_rate, activation, costs, check, tuning.BLOCK_BYTES, nt
    )


def mlp_gradients(X, Y, W1, b1, W2, b2, activation, n_threads=1):
    status, loss, grads = mlp.gradients(X, Y, W1, b1, W2, b2, activation, tuning.BLOCK_BYTES)
    return status, loss, grads
