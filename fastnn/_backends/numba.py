"""The ``numba`` backend: fused, SIMD-friendly ``@njit`` kernels.

See :mod:`fastnn._backends` for the protocol and :mod:`fastnn._backends.numpy` for the
reference semantics (same formulas, same statuses).

Design
------
* **One call per step, no temporaries per step.**  ``mlp_descend`` and ``logreg_descend``
  run their whole iteration loop in compiled code; the buffers they need (activations,
  ``dZ``, gradient partial sums) are allocated once per call, privately, so concurrent
  calls from several Python threads never share memory.
* **No dispatcher on the hot path.**  The one-thread kernels of ``mlp_descend`` and
  ``logreg_propagate`` are also compiled as C functions of raw pointers (``numba.cfunc``,
  cached like the rest), which :mod:`fastnn._fastpath` calls on arrays it has checked,
  skipping numba's dispatcher (see "C entry points" below).  Other arrays take the
  dispatcher's path.  A small step whose entry has run once does not even pass through
  this module's Python: ``mlp_descend`` is the fast path's ``NumbaMlpDescent``, which
  calls the entry itself and hands every other call to :func:`_mlp_descend`.
* **Fused passes over blocks of examples.**  The examples (columns of ``X``) are cut in
  ranges, one per thread, and each range in blocks.  For a block: ``Z1 = W1 X + b1``
  (rows of ``X`` four at a time, two hidden units per pass); one pass computing
  ``A1 = g(Z1)`` and accumulating ``Z2 = W2 A1 + b2``; one pass computing
  ``A2 = sigmoid(Z2)``, the loss ``softplus((1 - 2y) z)`` (one ``exp`` for both, the
  ``log1p`` terms of a row summed as one ``log1p`` of their product),
  ``dZ2`` and ``db2``; one pass per hidden unit for ``dW2``, ``dZ1 = W2.T dZ2 * g'`` and
  ``db1``; and ``dW1 += dZ1 X.T`` (four dot products per pass).
* **Long, unit-stride inner loops.**  Every inner loop runs along the examples of a row,
  which LLVM's loop vectorizer handles best.  Its scalar remainder (``len % 32``
  elements; for ``m = 209`` it dominated) is replaced by one vector pass over the last 32
  (float32: 64) elements of the row, with the lanes already counted masked out.
  Inner loops index the 2-D arrays directly (no row views: each view costs two atomic
  reference-count updates) with unsigned column offsets (no negative-index wraparound);
  the step loop cuts its buffers from a workspace it receives as an argument, as
  borrowed views (``_tiles.borrowed``): no reference counting per step either.
* **BLAS where compute dominates.**  With ``n_h`` and ``n_x`` large (MNIST sizes), the two
  big products go to the BLAS that numba's ``np.dot`` uses (scipy's, via numba's
  ``numba_xxgemm``), everything around them stays fused.
* **Vectorized transcendentals** from :mod:`fastnn._backends._numba_math` (no SVML on
  PyPI); kernels ask LLVM for 512-bit vectors on AVX-512 hosts that do not slow down.
* **Threads only where they pay**: the multi-threaded variant of a kernel (compiled from
  the same Python function, ``prange`` being ``range`` in the serial one) runs above a
  size threshold, never below, and on one thread while no core is idle for a second one
  (:func:`fastnn._threads.cores_free`, as the Cython backend does).  The threading layer
  is a thread-safe one (``threadsafe``: TBB, else OpenMP) unless
  ``NUMBA_THREADING_LAYER`` says otherwise.  Mid-size training steps (``MLP_TEAM_FROM``
  up to ``MLP_THREADS_FROM``), where a numba parallel region costs more than it saves,
  run on :mod:`fastnn._fastpath`'s OpenMP team instead: each thread calls the C entry of
  its range of examples, one more call ends the step.
* ``error_model="numpy"`` (no zero-division checks that stop vectorization) and only the
  fastmath flags that keep IEEE NaN/inf semantics: the finiteness checks rely on them
  (``inf * 0`` is NaN; a sum of ``v * 0`` over values is 0 exactly when all are finite).

Numerics as the protocol says: cost from the logits, gradient ``sigmoid(z) - y``,
float32 accumulating the cost, ``db`` of logistic regression and ``dot`` in float64.
"""

from __future__ import annotations

import ctypes
import os
import threading
import types as pytypes

import numba
import numpy as np
from numba import carray, cfunc, njit, prange, types

from fastnn._backends import ACTIVATIONS, BAD_LABEL, NONFINITE, OK, RELU, TANH
from fastnn._backends import _numba_math as nm
from fastnn._backends import _numba_tiles as _tiles
from fastnn._backends._numpy_blas import NO_TRANS, ROW_MAJOR, TRANS, cblas_ddot, cblas_gemm
from fastnn._threads import cores_free

NAME = "numba"
VERSION = numba.__version__

# --- threading layer --------------------------------------------------------------------


def _thread_safe_layers() -> list[str]:
    """The thread-safe numba threading layers that load here ("tbb", "omp")."""
    found = []
    for name, module in (("tbb", "tbbpool"), ("omp", "omppool")):
        try:
            __import__(f"numba.np.ufunc.{module}")
        except Exception:  # ImportError, OSError: the layer's library is missing
            continue
        found.append(name)
    return found


_USER_LAYER = os.environ.get("NUMBA_THREADING_LAYER", "").strip()
_SAFE_LAYERS = _thread_safe_layers()
if not _USER_LAYER and numba.config.THREADING_LAYER == "default" and _SAFE_LAYERS:
    # numba's default prefers "workqueue", which aborts when two Python threads launch
    # parallel kernels at once; "threadsafe" picks TBB, else OpenMP
    numba.config.THREADING_LAYER = "threadsafe"
#: False when only the non-thread-safe workqueue layer is available: kernels stay serial.
_PARALLEL = bool(_USER_LAYER) or bool(_SAFE_LAYERS)
_MAX_THREADS = max(1, int(numba.config.NUMBA_NUM_THREADS))

# --- compile options --------------------------------------------------------------------

#: Allowed fastmath flags (DESIGN "Numerics"): none that assumes no NaN/inf.
FASTMATH = frozenset({"reassoc", "contract", "arcp", "nsz"})
ERROR_MODEL = "numpy"
_JIT = {"cache": True, "error_model": ERROR_MODEL, "fastmath": set(FASTMATH), "nogil": True,
        "boundscheck": False}
# Helpers are inlined at the Numba IR level: their loops are optimized (vectorized) once,
# in the kernel that calls them; a helper compiled on its own first came out scalar.
_INLINE = dict(_JIT, inline="always")
_prefer_wide_vectors = nm.kernel_attributes


def _variants(fn):
    """``(serial, parallel)`` dispatchers compiled from one Python function, UMAP-style.

    The copies get their own names: numba's cache files are named after the function.
    """

    serial = njit(**_JIT)(_renamed(fn, "_serial"))
    parallel = njit(parallel=True, **_JIT)(_renamed(fn, "_parallel")) if _PARALLEL else serial
    return serial, parallel


def _renamed(fn, suffix, **constants):
    """A copy of the Python function ``fn`` named ``fn.__name__ + suffix`` (numba's cache
    files are named after the function) whose globals also hold ``constants`` (numba
    freezes globals as compile-time constants)."""
    g = dict(fn.__globals__, **constants) if constants else fn.__globals__
    f = pytypes.FunctionType(fn.__code__, g, fn.__name__ + suffix, fn.__defaults__, fn.__closure__)
    f.__qualname__ = fn.__qualname__ + suffix
    f.__doc__ = fn.__doc__
    return f


def details() -> dict:
    import llvmlite

    from fastnn._threads import get_num_threads

    try:
        layer = numba.threading_layer()  # the one launched, if a kernel ran in parallel
    except ValueError:
        layer = None
    configured = _USER_LAYER or numba.config.THREADING_LAYER
    features = nm.HOST_FEATURES
    simd = next(
        (label for flag, label in (("+avx512f", "AVX-512"), ("+avx2", "AVX2"), ("+avx", "AVX"),
                                   ("+sse4.2", "SSE4.2"), ("+neon", "NEON"))
         if flag in features),
        "baseline",
    )
    return {
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "threading_layer": layer or f"{configured} (not launched yet)",
        "threading_layer_config": configured,
        "thread_safe_layers": list(_SAFE_LAYERS),
        "parallel": _PARALLEL,
        "max_threads": _MAX_THREADS,
        "num_threads": min(get_num_threads(), _MAX_THREADS),
        "cpu": nm.HOST_CPU,
        "simd": simd,
        "vector_width_bits": 512 if nm.WIDE_VECTORS else (256 if "+avx" in features else 128),
        "llvm_function_attributes": list(nm.KERNEL_ATTRIBUTES),
        "error_model": ERROR_MODEL,
        "fastmath": sorted(FASTMATH),
        "threads_from": {"dot": DOT_THREADS_FROM, "logreg_stream_bytes": LOGREG_STREAM_FROM,
                         "logreg": LOGREG_THREADS_FROM,
                         "logreg_examples_per_thread": LOGREG_MIN_EXAMPLES,
                         "mlp": MLP_THREADS_FROM, "mlp_team_work": MLP_TEAM_FROM},
        "blas": ("NumPy's OpenBLAS (cblas_?gemm64_, by symbol) for products with n_h >= 32"
                 if BLAS else "none found: register tiles for every product"),
        "blas_dot": ("NumPy's cblas_ddot64_ for a float64 dot from the threads' threshold"
                     if BLAS_DOT and _PARALLEL else "none: the own loop"),
        "c_entries": ("one-thread train_step and propagate called as C functions by "
                      "fastnn._fastpath; mid-size steps on its OpenMP team, one C call per "
                      "thread's range of examples" if _fastpath is not None
                      else "none (fastnn._fastpath not built): numba's dispatchers"),
    }


# --- small building blocks (inlined into the kernels) -----------------------------------


@njit(**_INLINE)
def _window(X):
    """Elements per unrolled vector iteration of LLVM's loops (4 x 512 bits)."""
    return 32 if X.itemsize == 8 else 64


@njit(**_INLINE)
def _split(n, parts, t):
    """``[lo, hi)`` of part ``t`` when ``n`` items are cut into ``parts`` near-equal parts."""
    return (t * n) // parts, ((t + 1) * n) // parts


@njit(**_INLINE)
def _u(i):
    """An unsigned index: numba emits no negative-index wraparound for it."""
    return np.uint64(i)


@njit(**_INLINE)
def _main_len(L, win):
    """Length of the part of a row of ``L`` covered by whole vector iterations."""
    return L - L % win if L >= win else L


@njit(**_INLINE)
def _bad_labels(Y):
    """True when a label is not exactly 0 or 1 (NaN included): ``sum |y (1 - y)| != 0``."""
    one = Y.dtype.type(1)
    acc = 0.0
    for j in range(Y.shape[0]):
        for k in range(Y.shape[1]):
            y = Y[j, k]
            acc += abs(y * (one - y))
    return acc != 0.0


@njit(**_INLINE)
def _linear(out, W, b, X, c0, c1, tail):
    """``out[h, :L] = W[h] X[:, c0:c1] + b[h]``, ``L = c1 - c0``.

    Rows of ``X`` are taken four at a time: one pass over ``out[h]`` per four rows (the
    first pass writes the bias), four FMAs per load and store of ``out``, and two hidden
    units per pass so that each load of ``X`` feeds two FMAs.  Columns past the last
    whole vector iteration (``L % win`` of them) are computed over the window
    ``[L - win, L)`` into ``tail`` -- one more vector iteration instead of a scalar
    remainder loop -- and copied into ``out`` at the end.  (The loops are written out:
    each call of a helper taking arrays costs reference-count updates.)
    """
    n_x = X.shape[0]
    n_h = out.shape[0]
    L = c1 - c0
    win = tail.shape[1]
    Lm = _main_len(L, win)
    has_tail = Lm < L
    o = max(L - win, 0)
    c = _u(c0)
    ct = _u(c0 + o)
    zero = out.dtype.type(0)
    i = 0
    while i < n_x:
        n = min(4, n_x - i)
        first = i == 0
        h = 0
        if n == 4:
            while h + 1 < n_h:
                bh, bg = (b[h, 0], b[h + 1, 0]) if first else (zero, zero)
                w0, w1, w2, w3 = W[h, i], W[h, i + 1], W[h, i + 2], W[h, i + 3]
                v0, v1, v2, v3 = W[h + 1, i], W[h + 1, i + 1], W[h + 1, i + 2], W[h + 1, i + 3]
                for k in range(Lm):
                    q = c + _u(k)
                    x0, x1, x2, x3 = X[i, q], X[i + 1, q], X[i + 2, q], X[i + 3, q]
                    out[h, k] = (bh if first else out[h, k]) + (
                        w0 * x0 + w1 * x1 + w2 * x2 + w3 * x3)
                    out[h + 1, k] = (bg if first else out[h + 1, k]) + (
                        v0 * x0 + v1 * x1 + v2 * x2 + v3 * x3)
                if has_tail:
                    for k in range(win):
                        q = ct + _u(k)
                        x0, x1, x2, x3 = X[i, q], X[i + 1, q], X[i + 2, q], X[i + 3, q]
                        tail[h, k] = (zero if first else tail[h, k]) + (
                            w0 * x0 + w1 * x1 + w2 * x2 + w3 * x3)
                        tail[h + 1, k] = (zero if first else tail[h + 1, k]) + (
                            v0 * x0 + v1 * x1 + v2 * x2 + v3 * x3)
                h += 2
        rest = h  # the units left: all, or the odd last one
        for h in range(rest, n_h):
            bh = b[h, 0] if first else zero
            if n == 4:
                w0, w1, w2, w3 = W[h, i], W[h, i + 1], W[h, i + 2], W[h, i + 3]
                for k in range(Lm):
                    q = c + _u(k)
                    out[h, k] = (bh if first else out[h, k]) + (
                        w0 * X[i, q] + w1 * X[i + 1, q] + w2 * X[i + 2, q] + w3 * X[i + 3, q])
                if has_tail:
                    for k in range(win):
                        q = ct + _u(k)
                        tail[h, k] = (zero if first else tail[h, k]) + (
                            w0 * X[i, q] + w1 * X[i + 1, q] + w2 * X[i + 2, q] + w3 * X[i + 3, q])
            elif n == 3:
                w0, w1, w2 = W[h, i], W[h, i + 1], W[h, i + 2]
                for k in range(Lm):
                    q = c + _u(k)
                    out[h, k] = (bh if first else out[h, k]) + (
                        w0 * X[i, q] + w1 * X[i + 1, q] + w2 * X[i + 2, q])
                if has_tail:
                    for k in range(win):
                        q = ct + _u(k)
                        tail[h, k] = (zero if first else tail[h, k]) + (
                            w0 * X[i, q] + w1 * X[i + 1, q] + w2 * X[i + 2, q])
            elif n == 2:
                w0, w1 = W[h, i], W[h, i + 1]
                for k in range(Lm):
                    q = c + _u(k)
                    out[h, k] = (bh if first else out[h, k]) + (w0 * X[i, q] + w1 * X[i + 1, q])
                if has_tail:
                    for k in range(win):
                        q = ct + _u(k)
                        tail[h, k] = (zero if first else tail[h, k]) + (
                            w0 * X[i, q] + w1 * X[i + 1, q])
            else:
                w0 = W[h, i]
                for k in range(Lm):
                    out[h, k] = (bh if first else out[h, k]) + w0 * X[i, c + _u(k)]
                if has_tail:
                    for k in range(win):
                        tail[h, k] = (zero if first else tail[h, k]) + w0 * X[i, ct + _u(k)]
        i += n
    if has_tail:
        for h in range(n_h):
            bh = b[h, 0]
            for k in range(Lm, L):
                out[h, k] = bh + tail[h, k - o]


@njit(**_INLINE)
def _grad_rows(acc, G, Gm, X, c0, c1):
    """``acc += G[:, :L] X[:, c0:c1].T`` (rows of ``X`` four at a time: four dot products
    per pass over ``G[h]``; two hidden units per pass).

    Columns past the last whole vector iteration come from the window ``[L - win, L)``,
    with ``Gm[h]`` = that window of ``G[h]``, its lanes already counted zeroed.
    """
    n_x = X.shape[0]
    n_h = G.shape[0]
    L = c1 - c0
    win = Gm.shape[1]
    Lm = _main_len(L, win)
    has_tail = Lm < L
    o = max(L - win, 0)
    c = _u(c0)
    ct = _u(c0 + o)
    zero = G.dtype.type(0)
    if has_tail:
        skip = win - L % win
        for h in range(n_h):
            for k in range(win):
                Gm[h, k] = zero if k < skip else G[h, o + k]
    i = 0
    while i < n_x:
        n = min(4, n_x - i)
        h = 0
        if n == 4:
            while h + 1 < n_h:
                s0 = s1 = s2 = s3 = r0 = r1 = r2 = r3 = zero
                for k in range(Lm):
                    q = c + _u(k)
                    x0, x1, x2, x3 = X[i, q], X[i + 1, q], X[i + 2, q], X[i + 3, q]
                    g = G[h, k]
                    f = G[h + 1, k]
                    s0 += g * x0
                    s1 += g * x1
                    s2 += g * x2
                    s3 += g * x3
                    r0 += f * x0
                    r1 += f * x1
                    r2 += f * x2
                    r3 += f * x3
                if has_tail:
                    for k in range(win):
                        q = ct + _u(k)
                        x0, x1, x2, x3 = X[i, q], X[i + 1, q], X[i + 2, q], X[i + 3, q]
                        g = Gm[h, k]
                        f = Gm[h + 1, k]
                        s0 += g * x0
                        s1 += g * x1
                        s2 += g * x2
                        s3 += g * x3
                        r0 += f * x0
                        r1 += f * x1
                        r2 += f * x2
                        r3 += f * x3
                acc[h, i] += s0
                acc[h, i + 1] += s1
                acc[h, i + 2] += s2
                acc[h, i + 3] += s3
                acc[h + 1, i] += r0
                acc[h + 1, i + 1] += r1
                acc[h + 1, i + 2] += r2
                acc[h + 1, i + 3] += r3
                h += 2
        rest = h  # the units left: all, or the odd last one
        for h in range(rest, n_h):
            s0 = s1 = s2 = s3 = zero
            if n == 4:
                for k in range(Lm):
                    q = c + _u(k)
                    g = G[h, k]
                    s0 += g * X[i, q]
                    s1 += g * X[i + 1, q]
                    s2 += g * X[i + 2, q]
                    s3 += g * X[i + 3, q]
                if has_tail:
                    for k in range(win):
                        q = ct + _u(k)
                        g = Gm[h, k]
                        s0 += g * X[i, q]
                        s1 += g * X[i + 1, q]
                        s2 += g * X[i + 2, q]
                        s3 += g * X[i + 3, q]
                acc[h, i + 3] += s3
                acc[h, i + 2] += s2
                acc[h, i + 1] += s1
            elif n == 3:
                for k in range(Lm):
                    q = c + _u(k)
                    g = G[h, k]
                    s0 += g * X[i, q]
                    s1 += g * X[i + 1, q]
                    s2 += g * X[i + 2, q]
                if has_tail:
                    for k in range(win):
                        q = ct + _u(k)
                        g = Gm[h, k]
                        s0 += g * X[i, q]
                        s1 += g * X[i + 1, q]
                        s2 += g * X[i + 2, q]
                acc[h, i + 2] += s2
                acc[h, i + 1] += s1
            elif n == 2:
                for k in range(Lm):
                    q = c + _u(k)
                    g = G[h, k]
                    s0 += g * X[i, q]
                    s1 += g * X[i + 1, q]
                if has_tail:
                    for k in range(win):
                        q = ct + _u(k)
                        g = Gm[h, k]
                        s0 += g * X[i, q]
                        s1 += g * X[i + 1, q]
                acc[h, i + 1] += s1
            else:
                for k in range(Lm):
                    s0 += G[h, k] * X[i, c + _u(k)]
                if has_tail:
                    for k in range(win):
                        s0 += Gm[h, k] * X[i, ct + _u(k)]
            acc[h, i] += s0
        i += n


@njit(**_INLINE)
def _relu(z):
    """``max(z, 0)`` keeping NaN (as ``np.maximum``)."""
    return z - z if z <= 0 else z  # z - z: a zero of z's precision


@njit(**_INLINE)
def _activate(z, out, act):
    """``out[k] = g(z[k])`` for 1-D arrays (``z`` may be ``out``)."""
    if act == TANH:
        for k in range(z.size):
            out[k] = nm.tanh(z[k])
    elif act == RELU:
        for k in range(z.size):
            out[k] = _relu(z[k])
    else:
        for k in range(z.size):
            out[k] = nm.sigmoid(z[k])


@njit(**_INLINE)
def _activate_rows(Z, L, act, W2, b2, D):
    """``Z[h, :L] = g(Z[h, :L])`` in place, and ``D[j, :L] = W2 A1 + b2`` in the same pass
    (the output layer's logits accumulate while each row of ``A1`` is hot).

    One hidden unit per pass: the transcendental loop vectorizes best alone (measured: two
    units per pass, for two independent chains, came out slower).
    """
    n_y, n_h = W2.shape
    for j in range(n_y):
        bj = b2[j, 0]
        for k in range(L):
            D[j, k] = bj
    for h in range(n_h):
        if n_y == 1:
            w = W2[0, h]
            if act == TANH:
                for k in range(L):
                    a = nm.tanh(Z[h, k])
                    Z[h, k] = a
                    D[0, k] += w * a
            elif act == RELU:
                for k in range(L):
                    a = _relu(Z[h, k])
                    Z[h, k] = a
                    D[0, k] += w * a
            else:
                for k in range(L):
                    a = nm.sigmoid(Z[h, k])
                    Z[h, k] = a
                    D[0, k] += w * a
        else:
            if act == TANH:
                for k in range(L):
                    Z[h, k] = nm.tanh(Z[h, k])
            elif act == RELU:
                for k in range(L):
                    Z[h, k] = _relu(Z[h, k])
            else:
                for k in range(L):
                    Z[h, k] = nm.sigmoid(Z[h, k])
            for j in range(n_y):
                w = W2[j, h]
                for k in range(L):
                    D[j, k] += w * Z[h, k]


@njit(**_INLINE)
def _output_layer(L, Y, c0, D, sums, E):
    """``D[j, :L]``: logits ``Z2`` in, ``dZ2 = sigmoid(Z2) - Y`` out; returns the summed
    loss (float64) and adds ``sum_k dZ2[j, k]`` to ``sums[j]``.  ``E[0, :L]`` is scratch.

    One ``e = exp(-|z|)`` per element serves the sigmoid and the loss
    ``softplus((1 - 2y) z) = max((1 - 2y) z, 0) + log1p(e)``; the ``e`` of a row are kept in
    ``E`` and their log1p summed at once (:func:`~fastnn._backends._numba_math.sum_log1p`).
    """
    c = _u(c0)
    cost = 0.0
    for j in range(D.shape[0]):
        s = D.dtype.type(0)
        hinge = 0.0
        for k in range(L):
            y = Y[j, c + _u(k)]
            p, e, h = nm.logistic_parts(D[j, k], y)
            d = p - y
            D[j, k] = d
            E[0, k] = e
            s += d
            hinge += np.float64(h)
        sums[j] += s
        cost += hinge + nm.sum_log1p(E, L)
    return cost


@njit(**_INLINE)
def _hidden_backward(A1, L, D, W2, act, G, gW2, gb1):
    """``G[h, :L] = (W2.T dZ2)[h] * g'(A1[h])``; ``gW2 += dZ2 A1.T``; ``gb1 += sum(G)``."""
    n_y, n_h = W2.shape
    one = G.dtype.type(1)
    zero = G.dtype.type(0)
    for h in range(n_h):
        if n_y == 1:
            w = W2[0, h]
            sw = zero
            sb = zero
            if act == TANH:
                for k in range(L):
                    a = A1[h, k]
                    d = D[0, k]
                    sw += d * a
                    g = w * d * (one - a * a)
                    G[h, k] = g
                    sb += g
            elif act == RELU:
                for k in range(L):
                    a = A1[h, k]
                    d = D[0, k]
                    sw += d * a
                    g = w * d if a > zero else zero
                    G[h, k] = g
                    sb += g
            else:
                for k in range(L):
                    a = A1[h, k]
                    d = D[0, k]
                    sw += d * a
                    g = w * d * (a * (one - a))
                    G[h, k] = g
                    sb += g
            gW2[0, h] += sw
            gb1[h] += sb
        else:
            for k in range(L):
                G[h, k] = zero
            for j in range(n_y):
                w = W2[j, h]
                sw = zero
                for k in range(L):
                    d = D[j, k]
                    sw += d * A1[h, k]
                    G[h, k] += w * d
                gW2[j, h] += sw
            sb = zero
            if act == TANH:
                for k in range(L):
                    a = A1[h, k]
                    g = G[h, k] * (one - a * a)
                    G[h, k] = g
                    sb += g
            elif act == RELU:
                for k in range(L):
                    g = G[h, k] if A1[h, k] > zero else zero
                    G[h, k] = g
                    sb += g
            else:
                for k in range(L):
                    a = A1[h, k]
                    g = G[h, k] * (a * (one - a))
                    G[h, k] = g
                    sb += g
            gb1[h] += sb


# --- register-tiled products of the first layer (fastnn._backends._numba_tiles) ---------

_F8, _F7, _F6, _F5, _F4, _F3, _F2, _F1 = (_tiles.fwd[k] for k in _tiles.FWD_SHAPES)
_A8, _A7, _A6, _A5, _A4, _A3, _A2, _A1 = (_tiles.fwdacc[k] for k in _tiles.FWD_SHAPES)
_B44, _B42, _B41 = (_tiles.bwd[k] for k in ((4, 4), (4, 2), (4, 1)))
_B34, _B32, _B31 = (_tiles.bwd[k] for k in ((3, 4), (3, 2), (3, 1)))
_B28, _B24, _B22, _B21 = (_tiles.bwd[k] for k in ((2, 8), (2, 4), (2, 2), (2, 1)))
_B18, _B14, _B12, _B11 = (_tiles.bwd[k] for k in ((1, 8), (1, 4), (1, 2), (1, 1)))
#: Bytes of ``X`` (rows times the block's examples) the tiles of one chunk of rows reuse
#: from the L2 cache: ``X`` is read once from memory per pass, however many tiles.
CHUNK_BYTES = 256 * 1024


@njit(**_INLINE)
def _lanes(X):
    """Elements per 64-byte vector (the tiles' vector length)."""
    return 8 if X.itemsize == 8 else 16


@njit(**_INLINE)
def _chunk_rows(X, L):
    """Rows of ``X`` per chunk for a block of ``L`` examples (a multiple of 8, >= 8)."""
    return max(8, (CHUNK_BYTES // (L * X.itemsize)) // 8 * 8)


@njit(**_INLINE)
def _forward_tile(Z, W, b, X, h, n, c0, L, i0, i1):
    """The ``n <= 8`` rows ``h..h + n`` of ``Z``: from the first chunk of rows of ``X``
    (``i0 == 0``) with the bias, from the others their partial sums added."""
    if i0 == 0:
        if n == 8:
            _F8(Z, W, b, X, h, c0, L, i0, i1)
        elif n == 7:
            _F7(Z, W, b, X, h, c0, L, i0, i1)
        elif n == 6:
            _F6(Z, W, b, X, h, c0, L, i0, i1)
        elif n == 5:
            _F5(Z, W, b, X, h, c0, L, i0, i1)
        elif n == 4:
            _F4(Z, W, b, X, h, c0, L, i0, i1)
        elif n == 3:
            _F3(Z, W, b, X, h, c0, L, i0, i1)
        elif n == 2:
            _F2(Z, W, b, X, h, c0, L, i0, i1)
        else:
            _F1(Z, W, b, X, h, c0, L, i0, i1)
    elif n == 8:
        _A8(Z, W, X, h, c0, L, i0, i1)
    elif n == 7:
        _A7(Z, W, X, h, c0, L, i0, i1)
    elif n == 6:
        _A6(Z, W, X, h, c0, L, i0, i1)
    elif n == 5:
        _A5(Z, W, X, h, c0, L, i0, i1)
    elif n == 4:
        _A4(Z, W, X, h, c0, L, i0, i1)
    elif n == 3:
        _A3(Z, W, X, h, c0, L, i0, i1)
    elif n == 2:
        _A2(Z, W, X, h, c0, L, i0, i1)
    else:
        _A1(Z, W, X, h, c0, L, i0, i1)


@njit(**_INLINE)
def _forward_tiles(Z, W, b, X, c0, L, chunk):
    """``Z[:, :L] = W X[:, c0:c0 + L] + b`` by register tiles (needs ``L >= lanes``).

    The rows of ``X`` go in chunks of ``chunk`` (the bias is added by the first chunk, the
    others add their partial sums), and within a chunk one tile per 8 hidden units (or
    fewer, the last)."""
    n_h, n_x = W.shape
    i0 = 0
    while i0 < n_x:
        i1 = min(i0 + chunk, n_x)
        h = 0
        while h < n_h:
            n = min(8, n_h - h)
            _forward_tile(Z, W, b, X, h, n, c0, L, i0, i1)
            h += n
        i0 = i1


@njit(**_INLINE)
def _backward_tile(acc, G, X, h, n, i, r, c0, L):
    """``acc[h:h + n, i:i + r] += G[h:h + n, :L] X[i:i + r, c0:c0 + L].T``: the tile of
    ``n <= 4`` hidden units by ``r`` rows of ``X`` (``r`` in 4, 2, 1; also 8 when ``n <= 2``)."""
    if n == 4:
        if r == 4:
            _B44(acc, G, X, h, i, c0, L)
        elif r == 2:
            _B42(acc, G, X, h, i, c0, L)
        else:
            _B41(acc, G, X, h, i, c0, L)
    elif n == 3:
        if r == 4:
            _B34(acc, G, X, h, i, c0, L)
        elif r == 2:
            _B32(acc, G, X, h, i, c0, L)
        else:
            _B31(acc, G, X, h, i, c0, L)
    elif n == 2:
        if r == 8:
            _B28(acc, G, X, h, i, c0, L)
        elif r == 4:
            _B24(acc, G, X, h, i, c0, L)
        elif r == 2:
            _B22(acc, G, X, h, i, c0, L)
        else:
            _B21(acc, G, X, h, i, c0, L)
    elif r == 8:
        _B18(acc, G, X, h, i, c0, L)
    elif r == 4:
        _B14(acc, G, X, h, i, c0, L)
    elif r == 2:
        _B12(acc, G, X, h, i, c0, L)
    else:
        _B11(acc, G, X, h, i, c0, L)


@njit(**_INLINE)
def _backward_tiles(acc, G, X, c0, L, chunk):
    """``acc += G[:, :L] X[:, c0:c0 + L].T`` by register tiles (needs ``L >= lanes``), the
    rows of ``X`` in chunks of ``chunk``, the last chunk first: the rows the forward pass
    read last are the ones still in the L2 cache.  Within a chunk, tiles of 4 hidden units
    (the last 3, 2 or 1) by the most rows that fit: 4 (8 for tiles of 1 or 2 units), then
    2, then 1."""
    n_h, n_x = acc.shape
    q = (n_x + chunk - 1) // chunk
    while q > 0:
        q -= 1
        i0 = q * chunk
        i1 = min(i0 + chunk, n_x)
        h = 0
        while h < n_h:
            n = min(4, n_h - h)
            i = i0
            while i < i1:
                left = i1 - i
                r = 8 if n <= 2 and left >= 8 else 4 if left >= 4 else 2 if left >= 2 else 1
                _backward_tile(acc, G, X, h, n, i, r, c0, L)
                i += r
            h += n


@njit(**_INLINE)
def _forward(Z, W, b, X, c0, L, tail):
    """``Z[:, :L] = W X[:, c0:c0 + L] + b``: tiles, or rows for a block shorter than a vector."""
    if L >= _lanes(X):
        _forward_tiles(Z, W, b, X, c0, L, _chunk_rows(X, L))
    else:
        _linear(Z, W, b, X, c0, c0 + L, tail)


@njit(**_INLINE)
def _backward(acc, G, Gm, X, c0, L):
    """``acc += G[:, :L] X[:, c0:c0 + L].T``: tiles, or rows for a short block."""
    if L >= _lanes(X):
        _backward_tiles(acc, G, X, c0, L, _chunk_rows(X, L))
    else:
        _grad_rows(acc, G, Gm, X, c0, c0 + L)


# --- BLAS: NumPy's own (OpenBLAS), called by symbol (see _numpy_blas) -----------------


def _register_blas() -> tuple[bool, bool]:
    """Make NumPy's ``cblas_?gemm64_`` (and ``cblas_ddot64_``) callable from kernels."""
    import llvmlite.binding as llb

    found, ddot = cblas_gemm(), cblas_ddot()
    if found is not None:
        llb.add_symbol("fastnn_cblas_dgemm64", found[0])
        llb.add_symbol("fastnn_cblas_sgemm64", found[1])
    if ddot:
        llb.add_symbol("fastnn_cblas_ddot64", ddot)
    return found is not None, bool(ddot)


#: False when NumPy's BLAS is not found (not a scipy-openblas wheel): the big products
#: then use the register tiles too, and a long dot the threaded loop.
BLAS, BLAS_DOT = _register_blas()
_i64, _int, _ptr = types.int64, types.intc, types.voidptr
_cblas_ddot = types.ExternalFunction("fastnn_cblas_ddot64", types.float64(_i64, _ptr, _i64, _ptr, _i64))
_cblas_dgemm = types.ExternalFunction("fastnn_cblas_dgemm64", types.void(
    _int, _int, _int, _i64, _i64, _i64, types.float64, _ptr, _i64, _ptr, _i64, types.float64, _ptr, _i64))
_cblas_sgemm = types.ExternalFunction("fastnn_cblas_sgemm64", types.void(
    _int, _int, _int, _i64, _i64, _i64, types.float32, _ptr, _i64, _ptr, _i64, types.float32, _ptr, _i64))
_ROW_MAJOR, _N, _T = ROW_MAJOR, NO_TRANS, TRANS


@njit(**_INLINE)
def _gemm(transa, transb, M, N, K, A, lda, B, ldb, C, ldc):
    """Row-major ``C[:M, :N] = op(A) op(B)`` (CBLAS ``xgemm``, ``beta = 0``)."""
    if A.itemsize == 8:
        _cblas_dgemm(_ROW_MAJOR, transa, transb, M, N, K, 1.0, A.ctypes, lda, B.ctypes, ldb,
                     0.0, C.ctypes, ldc)
    else:
        _cblas_sgemm(_ROW_MAJOR, transa, transb, M, N, K, np.float32(1.0), A.ctypes, lda,
                     B.ctypes, ldb, np.float32(0.0), C.ctypes, ldc)


@njit(**_INLINE)
def _use_blas(n_x, n_h, m):
    """The big products go to the BLAS when they are big in every direction."""
    return BLAS and n_h >= 32 and n_x >= 64 and m >= 64 and n_h * n_x * m >= (1 << 22)


_use_blas_py = _use_blas.py_func


# --- kernel variants --------------------------------------------------------------------

#: Defaults of the compile-time constants of the specialized kernels (each variant is a
#: copy of the function with its own values; see :func:`_specialized`).
_ACT, _CHECK = TANH, True
#: The steps of ``_mlp_descend_impl`` (``_mlp_steps`` specialized alike), in each copy.
_STEPS = None


def _specialized(fn, suffix, parallel=False, **constants):
    """A dispatcher compiled from a copy of ``fn`` whose globals also hold ``constants``:
    a kernel specialized on its activation and its check compiles only the branches it
    runs (less to compile, fewer arguments to pass per call)."""
    return njit(parallel=parallel and _PARALLEL, **_JIT)(_renamed(fn, suffix, **constants))


_KERNELS: dict = {}


def _kernel(impl, mode, act=TANH, check=True):
    """The variant of ``impl`` for ``mode`` ("serial", "parallel", "blas"), an activation
    index and a check flag, created (not compiled: numba compiles on the first call) once."""
    key = (impl.__name__, mode, act, bool(check))
    k = _KERNELS.get(key)
    if k is None:
        suffix = f"_{mode}_{ACTIVATIONS[act]}{'_check' if check else ''}"
        constants = {"_ACT": act, "_CHECK": bool(check)}
        parallel = mode == "parallel"
        if impl is _mlp_descend_impl:  # it allocates; its steps (the prange) are _STEPS's
            constants["_STEPS"] = _kernel(_mlp_steps, mode, act, check)
            parallel = False
        k = _KERNELS[key] = _specialized(impl, suffix, parallel, **constants)
    return k


# --- C entry points ---------------------------------------------------------------------
# The one-thread kernels of mlp_descend and logreg_propagate are also compiled as C
# functions of raw pointers (``numba.cfunc``), which fastnn._fastpath calls on arrays it
# has checked, skipping numba's dispatcher (typing and unboxing the arguments, boxing the
# result): 1.3-2 us of a 5-13 us call at the course sizes (scripts/numba_c_entries.py).
# Without the compiled fast path, or for arrays it does not take, the same kernels run
# through their dispatchers.

try:
    from fastnn import _fastpath
except ImportError:  # not built (a source checkout without pip install): the dispatchers
    _fastpath = None

#: numba's element type by NumPy type number (the dtype's ``num``).
_C_TYPES = {np.dtype(np.float64).num: types.float64, np.dtype(np.float32).num: types.float32}
#: The kernel a C entry point calls (each entry is a copy of its template, with its own).
_KERNEL = None


def _c_mlp_descend(X, Y, W1, b1, W2, b2, n_x, n_h, n_y, m, lr, costs, n):
    """``1 +`` the serial step kernel ``_KERNEL``'s result on raw pointers (numba's C
    functions return 0 when the code inside raised)."""
    return 1 + _KERNEL(carray(X, (n_x, m)), carray(Y, (n_y, m)), carray(W1, (n_h, n_x)),
                       carray(b1, (n_h, 1)), carray(W2, (n_y, n_h)), carray(b2, (n_y, 1)), lr,
                       carray(costs, (n,)), 1)


def _c_logreg_propagate(w, b, X, Y, n_x, m, dw, out):
    """``1 +`` the status of one pass on one thread (:func:`_logreg_pass`) on raw
    pointers: ``dw`` (n_x) and ``out`` (db, cost) written, nothing on a bad label."""
    _prefer_wide_vectors()
    Ya = carray(Y, (1, m))
    if _bad_labels(Ya):
        return 1 + BAD_LABEL
    status, db, cost = _logreg_pass(carray(w, (n_x, 1)), carray(b, (1,)), carray(X, (n_x, m)), Ya, 1,
                                    False, carray(dw, (n_x,)))
    out[0] = db
    out[1] = cost
    return 1 + status


def _c_mlp_chunk(X, Y, W1, b1, W2, b2, n_x, n_h, n_y, m, ws, nt, t):
    """The loss of thread ``t``'s range of examples (of ``nt``); its gradient sums written
    to its part of the workspace ``ws`` (:func:`_mlp_workspace`).  The activation ``_ACT``
    is the entry's constant.  One of the ``nt`` calls of a step on fastnn._fastpath's team."""
    _prefer_wide_vectors()
    Xa = carray(X, (n_x, m))
    win = _window(Xa)
    L = _mlp_block_len(m, nt)
    A, G, D, T, Gm, gW1, gW2, gb1, gb2 = _mlp_workspace(
        carray(ws, (_mlp_ws_size(nt, n_x, n_h, n_y, L, win),)), nt, n_x, n_h, n_y, L, win)
    c0, c1 = _split(m, nt, t)
    return _mlp_range(Xa, carray(Y, (n_y, m)), carray(W1, (n_h, n_x)), carray(b1, (n_h, 1)),
                      carray(W2, (n_y, n_h)), carray(b2, (n_y, 1)), _ACT, c0, c1, A[t], D[t],
                      G[t], T[t], Gm[t], gW1[t], gb1[t], gW2[t], gb2[t])


def _c_mlp_apply(X, Y, W1, b1, W2, b2, n_x, n_h, n_y, m, ws, nt, parts, lr, first, out):
    """``1 +`` the status of a step's end, after its ``nt`` chunks: on the ``first`` step the
    labels are checked (nothing written when one is not 0 or 1); the threads' sums are
    added, the cost ``sum(parts) / m`` goes to ``out[0]`` and ``P -= lr * (S / m)`` is applied
    (with the check ``_CHECK``, nothing is written unless all is finite)."""
    _prefer_wide_vectors()
    if first and _bad_labels(carray(Y, (n_y, m))):
        return 1 + BAD_LABEL
    Xa = carray(X, (n_x, m))
    win = _window(Xa)
    L = _mlp_block_len(m, nt)
    _, _, _, _, _, gW1, gW2, gb1, gb2 = _mlp_workspace(
        carray(ws, (_mlp_ws_size(nt, n_x, n_h, n_y, L, win),)), nt, n_x, n_h, n_y, L, win)
    cost = _mlp_reduce(carray(parts, (nt,)), gW1, gb1, gW2, gb2, nt) / m
    carray(out, (1,))[0] = cost
    dt = Xa.dtype
    params = (carray(W1, (n_h * n_x,)), carray(b1, (n_h,)), carray(W2, (n_y * n_h,)), carray(b2, (n_y,)))
    sums = (_flat(gW1[0]), gb1[0], _flat(gW2[0]), gb2[0])
    return 1 + (OK if _apply_step(params, sums, cost, dt.type(lr), dt.type(m), _CHECK) else NONFINITE)


#: key (template, typenum, kernel arguments) -> the C function's address, 0 for none.
_C_ENTRIES: dict = {}
#: The compiled C functions: their code lives as long as they do.
_C_FUNCTIONS: list = []


def _c_entry(key):
    """The address of the C function for ``key``, compiled (or loaded from numba's cache)
    on first use; 0 when there is none."""
    address = _C_ENTRIES.get(key)
    if address is None:
        address = _C_ENTRIES[key] = _compile_c_entry(*key)
    return address


def _compile_c_entry(template, typenum, *kernel_key):
    dt = _C_TYPES.get(typenum)
    if _fastpath is None or dt is None:
        return 0
    p, i64, f64 = types.CPointer(dt), types.int64, types.float64
    pf = types.CPointer(f64)
    if template == "mlp_chunk":
        act, = kernel_key
        sig = f64(p, p, p, p, p, p, i64, i64, i64, i64, p, i64, i64)
        fn, constants, name = _c_mlp_chunk, {"_ACT": act}, ACTIVATIONS[act]
    elif template == "mlp_apply":
        check, = kernel_key
        sig = i64(p, p, p, p, p, p, i64, i64, i64, i64, p, i64, pf, f64, i64, pf)
        fn, constants, name = _c_mlp_apply, {"_CHECK": bool(check)}, "check" if check else "nocheck"
    elif template == "mlp_descend":
        kernel = _kernel(_mlp_descend_impl, "serial", *kernel_key)
        sig = i64(p, p, p, p, p, p, i64, i64, i64, i64, f64, pf, i64)
        fn, constants, name = _c_mlp_descend, {"_KERNEL": kernel}, kernel.py_func.__name__
    else:
        sig = i64(p, p, p, p, i64, i64, p, pf)
        fn, constants, name = _c_logreg_propagate, {}, "one_pass"
    # numba's cache tells functions apart by name, not by globals: the name holds the constants
    options = {k: v for k, v in _JIT.items() if k != "nogil"}
    c_function = cfunc(sig, **options)(_renamed(fn, f"_{name}_{dt}", **constants))
    _C_FUNCTIONS.append(c_function)
    return c_function.address


# --- workspace --------------------------------------------------------------------------


_view = _tiles.view


@njit(**_INLINE)
def _flat(a):
    """``a`` (C-contiguous) as a 1-D view, without numba's reshape helper."""
    return _view(a, 0, (a.size,))


@njit(**_INLINE)
def _whole_lines(n, X):
    """``n`` elements of ``X``'s dtype rounded up to whole 64-byte cache lines."""
    v = _lanes(X)
    return (n + v - 1) // v * v


@njit(**_INLINE)
def _line_aligned(n, X):
    """An empty vector of ``n`` elements of ``X``'s dtype that starts a cache line (numba
    aligns arrays to 32 bytes).  Rows of whole lines cut from it never share a line, so
    threads writing their own rows do not take turns owning one (false sharing: numba's
    two-thread logistic-regression pass at (12288, 209) took 0.36-0.39 ms with the
    threads' tail windows sharing lines, 0.26-0.27 ms without; cython's 0.24)."""
    ws = np.empty(n + _lanes(X), X.dtype)
    a = (-ws.ctypes.data) % 64 // X.itemsize
    return ws[a:a + n]


# --- ops --------------------------------------------------------------------------------


@njit(**_JIT)
def _sigmoid(z):
    _prefer_wide_vectors()
    out = np.empty_like(z)
    for k in range(z.size):
        out[k] = nm.sigmoid(z[k])
    return out


def sigmoid(z):
    return _sigmoid(z)


def _dot_impl(a, b, nt):
    """``sum a[k] b[k]`` in float64, cut in ``nt`` contiguous parts (one per thread)."""
    _prefer_wide_vectors()
    n = a.size
    parts = np.zeros(nt)
    for t in prange(nt):
        _prefer_wide_vectors()
        lo, hi = _split(n, nt, t)
        c = _u(lo)
        s = 0.0
        for k in range(hi - lo):
            q = c + _u(k)
            s += np.float64(a[q]) * np.float64(b[q])
        parts[t] = s
    return parts.sum()


_dot_serial, _dot_parallel = _variants(_dot_impl)
#: Sizes from which a kernel uses several threads.  Measured on a 2-core AVX-512 host
#: (shared, noisy): ``dot`` of 1e6 doubles 580 us on one thread, 300 us on two (np.dot:
#: 307 us); the training steps did not gain below these sizes (a parallel region costs
#: ~10 us and, on an oversubscribed host, much more).
DOT_THREADS_FROM = 1 << 18


_gettid = types.ExternalFunction("gettid", types.int32())  # glibc's, found in the process


@njit(parallel=_PARALLEL, cache=True, nogil=True)
def _thread_ids(n):
    """The (Linux) thread ids that run ``n`` iterations of a ``prange``: the pool's."""
    ids = np.zeros(n, np.int64)
    for i in prange(n):
        ids[i] = _gettid()
    return ids


def _pool_threads():
    """The thread ids of numba's workers (for :func:`fastnn._threads.cores_free`)."""
    return set(_thread_ids(numba.get_num_threads()).tolist())


def _has_gettid() -> bool:
    try:
        return hasattr(ctypes.CDLL(None), "gettid")
    except (OSError, TypeError):  # no C library of the process to open (not Linux)
        return False


#: C libraries before glibc 2.30 have no ``gettid``: the check then knows only the caller.
_POOL_THREADS = _pool_threads if _has_gettid() else None


def _on_free_cores(kernel, *args):
    """Call a parallel kernel on all its threads while another core is idle, else on one
    thread (its ``nt`` chunks unchanged: bitwise the same result; see ``cores_free``)."""
    if cores_free(_POOL_THREADS):
        return kernel(*args)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)  # this Python thread's setting only (numba's TLS)
        return kernel(*args)
    finally:
        numba.set_num_threads(threads)


#: Multiply-adds with ``X`` per call of a threaded descent (about 25 ms on two threads):
#: a longer fit runs in calls of fewer iterations, each on the threads the free-core check
#: allows when it starts.  Decided once, a 1 s fit ran on one thread because another
#: library's pool was still spinning as it started (``fastnn bench``'s quick ``optimize``,
#: numba 0.75x-1.02x of NumPy in three runs, ``scripts/numba_region_log.py``).
DESCENT_CHUNK_WORK = 1 << 28


def _in_chunks(run, costs, step_work):
    """A descent of ``costs.size`` steps as calls ``run(part) -> (status, n_done)``, each
    for a slice ``part`` of ``costs`` of about ``DESCENT_CHUNK_WORK / step_work`` steps;
    stops at the first status that is not OK.  Returns ``(status, steps done)``."""
    per = max(1, DESCENT_CHUNK_WORK // max(1, step_work))
    status, done = OK, 0
    while done < costs.size:
        status, n = run(costs[done:done + per])
        done += n
        if status != OK:
            break
    return status, done


@njit(**_JIT)
def _blas_dot(a, b):
    """NumPy's ``cblas_ddot`` on two contiguous float64 vectors (its threads, its pool)."""
    return _cblas_ddot(a.size, a.ctypes, 1, b.ctypes, 1)


def dot(a, b, n_threads=1):
    nt = min(n_threads, _MAX_THREADS)
    if nt > 1 and _PARALLEL and a.size >= DOT_THREADS_FROM:
        if BLAS_DOT and a.dtype == b.dtype == np.float64 and a.flags.c_contiguous and b.flags.c_contiguous:
            return float(_blas_dot(a, b))  # one thread pool in the process: NumPy's
        return float(_on_free_cores(_dot_parallel, a, b, nt))
    return float(_dot_serial(a, b, 1))


# --- logistic regression ----------------------------------------------------------------


@njit(**_JIT)
def _logreg_forward(w, b, X):
    _prefer_wide_vectors()
    m = X.shape[1]
    A = np.empty((1, m), X.dtype)
    tail = np.empty((1, _window(X)), X.dtype)
    _forward(A, w.reshape(1, -1), b.reshape(1, 1), X, 0, m, tail)
    for k in range(m):
        A[0, k] = nm.sigmoid(A[0, k])
    return A


def logreg_forward(w, b, X):
    return _logreg_forward(w, b, X)


@njit(**_INLINE)
def _logreg_grads(w, b, X, Y, nt, Z, tail, gw, gb, Gm, parts, E):
    """One forward and backward pass over the examples, cut in ``nt`` column ranges.

    Per thread ``t`` (every buffer has a leading thread axis): ``Z[t]`` holds the logits,
    then ``dZ = A - Y``; ``gw[t]`` the partial ``X dZ.T``, ``gb[t]`` the partial
    ``sum(dZ)`` (float64).  Returns the summed loss (float64); the sums (not yet divided
    by m) end in ``gw[0]``, ``gb[0]``; ``E[t]`` is scratch for the loss (as in
    :func:`_output_layer`).
    """
    m = X.shape[1]
    W = w.reshape(1, -1)  # w (n_x, 1) as the row (1, n_x)
    bb = b.reshape(1, 1)
    for t in prange(nt):
        _prefer_wide_vectors()
        c0, c1 = _split(m, nt, t)
        L = c1 - c0
        z = Z[t]
        _forward(z, W, bb, X, c0, L, tail[t])
        c = _u(c0)
        s = 0.0
        cost = 0.0
        e = E[t]
        for k in range(L):
            y = Y[0, c + _u(k)]
            a, ek, h = nm.logistic_parts(z[0, k], y)
            dz = a - y
            z[0, k] = dz
            e[0, k] = ek
            s += np.float64(dz)
            cost += np.float64(h)
        cost += nm.sum_log1p(e, L)
        gb[t] = s
        g = gw[t]
        g[:] = 0
        _backward(g, z, Gm[t], X, c0, L)
        parts[t] = cost
    for t in range(1, nt):
        gw[0] += gw[t]
        gb[0] += gb[t]
    return parts.sum()


@njit(**_INLINE)
def _add_row_logits(z, w, X, r0, r1):
    """``z[:m] += sum_{r0 <= i < r1} w[i] X[i]`` (``w`` a vector): four rows of ``X`` per
    pass over ``z``, in plain loops LLVM vectorizes with their own remainder -- for one
    output row ~10% faster than :func:`_linear`'s window for the row's last columns (its
    extra vector pass and copy cost more than the remainder loop: (12288, 209) float64
    on two threads, 140 against 157 us)."""
    m = X.shape[1]
    i = r0
    while i + 4 <= r1:
        w0, w1, w2, w3 = w[i], w[i + 1], w[i + 2], w[i + 3]
        for k in range(m):
            z[k] += w0 * X[i, k] + w1 * X[i + 1, k] + w2 * X[i + 2, k] + w3 * X[i + 3, k]
        i += 4
    while i < r1:
        w0 = w[i]
        for k in range(m):
            z[k] += w0 * X[i, k]
        i += 1


@njit(**_INLINE)
def _row_dot_each(g, dz, X, r0, r1):
    """``g[i] = X[i] dz[:m].T`` for ``r0 <= i < r1``, one row at a time."""
    m = X.shape[1]
    zero = X.dtype.type(0)
    for i in range(r0, r1):
        s = zero
        for k in range(m):
            s += X[i, k] * dz[k]
        g[i] = s


@njit(**_INLINE)
def _row_dots(g, dz, X, r0, r1):
    """``g[i] = X[i] dz[:m].T`` for ``r0 <= i < r1``: four dot products per pass over
    ``dz`` (plain loops, as :func:`_add_row_logits`: 125 against :func:`_grad_rows`' 140 us),
    the last ``(r1 - r0) % 4`` rows one at a time."""
    m = X.shape[1]
    zero = X.dtype.type(0)
    r4 = r0 + (r1 - r0) // 4 * 4
    for i in range(r0, r4, 4):
        s0 = s1 = s2 = s3 = zero
        for k in range(m):
            d = dz[k]
            s0 += X[i, k] * d
            s1 += X[i + 1, k] * d
            s2 += X[i + 2, k] * d
            s3 += X[i + 3, k] * d
        g[i], g[i + 1], g[i + 2], g[i + 3] = s0, s1, s2, s3
    _row_dot_each(g, dz, X, r4, r1)


@njit(**_INLINE)
def _stream_logits(w, X, nt, Z):
    """``Z[t, 0] = w[r0:r1].T X[r0:r1]`` (no bias): thread ``t`` streams the rows
    ``r0..r1`` of ``X``."""
    n_x = X.shape[0]
    wf = _flat(w)
    for t in prange(nt):
        _prefer_wide_vectors()
        r0, r1 = _split(n_x, nt, t)
        z = Z[t, 0]
        z[:] = 0
        _add_row_logits(z, wf, X, r0, r1)


@njit(**_INLINE)
def _stream_output(Z, b, Y, nt, dz, E):
    """The threads' partial logits summed into ``Z[0]``, then ``dz = sigmoid(z + b) - y``
    (``dz`` may be ``Z[0, 0]`` itself; ``E[0, :m]`` scratch for the loss, as in
    :func:`_output_layer`); returns ``(sum(dz), sum of the losses)`` in float64."""
    z = Z[0]
    m = Y.shape[1]  # Z's rows may be longer (whole cache lines)
    for t in range(1, nt):
        zt = Z[t]
        for k in range(m):
            z[0, k] += zt[0, k]
    bias = b[0]
    s = 0.0
    cost = 0.0
    for k in range(m):
        y = Y[0, k]
        a, ek, h = nm.logistic_parts(z[0, k] + bias, y)
        d = a - y
        dz[k] = d
        E[0, k] = ek
        s += np.float64(d)
        cost += np.float64(h)
    return s, cost + nm.sum_log1p(E, m)


#: Bytes of a row of ``X`` up to which the streamed backward reads one row at a time
#: (:func:`_row_dot_each`): one sequential stream per thread.  Four short rows at a time
#: (:func:`_row_dots`) are four streams that restart every four rows; over long rows from
#: DRAM, four streams keep more lines in flight.  Measured (``/tmp`` njit kernels, two
#: threads, µs, one row / four): (12288, 209) float64 93–105 / 112–116, float32 63–69 /
#: 76 (the whole ``propagate`` 3–5% faster in float64, 8–10% in float32, means of 70 calls);
#: (8192, 1000) float32 290 / 296–323; (2048, 4000) float64 1011–1064 / 871–901, float32
#: 300–308 / 273–297.  Both in one loop (the four-row pass then one row at a time) lost
#: the gain: each gets its own parallel region.
ONE_ROW_DOTS_MAX_ROW = 4 << 10


@njit(**_INLINE)
def _logreg_stream(w, b, X, Y, nt, Z, tail, gw, gb, Gm, parts, E):
    """:func:`_logreg_grads` in two passes streaming ``X`` row by row (inputs much larger
    than the L2 cache, few examples), each thread a range of features (rows of ``X``):

        Z[t] = w[r0:r1].T X[r0:r1]      partial logits, summed in thread order, + b
        dZ, loss, db                    on the whole row of m examples (one thread)
        dw[r0:r1] = X[r0:r1] dZ.T       each thread its own features of ``dw``

    Every row of ``X`` is read in full, contiguously, by one thread (the example-range
    split reads a short piece of every row in each thread).  Same outputs as
    :func:`_logreg_grads`; ``gw[0]`` and ``gb[0]`` hold the sums.
    """
    n_x = X.shape[0]
    _stream_logits(w, X, nt, Z)
    dz = Z[0, 0]
    gb[0], cost = _stream_output(Z, b, Y, nt, dz, E[0])  # dZ in place of the logits
    g = gw[0, 0]
    if X.shape[1] * X.itemsize <= ONE_ROW_DOTS_MAX_ROW:
        for t in prange(nt):
            _prefer_wide_vectors()
            r0, r1 = _split(n_x, nt, t)
            _row_dot_each(g, dz, X, r0, r1)
    else:
        for t in prange(nt):
            _prefer_wide_vectors()
            r0, r1 = _split(n_x, nt, t)
            _row_dots(g, dz, X, r0, r1)
    return cost


@njit(**_INLINE)
def _logreg_sums(w, b, X, Y, nt, stream, Z, tail, gw, gb, Gm, parts, E):
    """The loss sum (float64), with the gradient sums in ``gw[0]``, ``gb[0]``: by ranges of
    examples (:func:`_logreg_grads`) or, with ``stream``, of features (:func:`_logreg_stream`)."""
    if stream:
        return _logreg_stream(w, b, X, Y, nt, Z, tail, gw, gb, Gm, parts, E)
    return _logreg_grads(w, b, X, Y, nt, Z, tail, gw, gb, Gm, parts, E)


@njit(**_INLINE)
def _logreg_buffers(X, nt, stream):
    """The threads' rows (leading axis ``t``): logits ``Z``, the row-tail windows ``tail``
    and ``Gm``, the loss's ``E``, each of whole cache lines (no two threads' rows share
    a line, see :func:`_line_aligned`), then the gradient sums ``gw`` (n_x each)."""
    n_x, m = X.shape
    win = _window(X)
    Lmax = _whole_lines(m if stream else (m + nt - 1) // nt, X)
    ws = _line_aligned(nt * (2 * Lmax + 2 * win + n_x), X)
    Z = _view(ws, 0, (nt, 1, Lmax))
    tail = _view(ws, nt * Lmax, (nt, 1, win))
    Gm = _view(ws, nt * (Lmax + win), (nt, 1, win))
    E = _view(ws, nt * (Lmax + 2 * win), (nt, 1, Lmax))  # the exp(-|z|) of the loss
    gw = _view(ws, nt * (2 * Lmax + 2 * win), (nt, 1, n_x))
    sums = np.empty(2 * nt)  # float64: the threads' db and loss sums
    return Z, tail, gw, sums[:nt], Gm, sums[nt:], E


@njit(**_INLINE)
def _logreg_pass(w, b, X, Y, nt, stream, dw):
    """One forward and backward pass: ``dw`` (a vector of n_x) written, ``(status, db,
    cost)`` returned; the status is NONFINITE unless every value is finite."""
    m = X.shape[1]
    mf = X.dtype.type(m)
    Z, tail, gw, gb, Gm, parts, E = _logreg_buffers(X, nt, stream)
    cost = _logreg_sums(w, b, X, Y, nt, stream, Z, tail, gw, gb, Gm, parts, E) / m
    g = gw[0, 0]
    db = gb[0] / m
    probe = (cost + db) * 0.0  # NaN unless every value is finite
    for i in range(dw.size):
        dw[i] = g[i] / mf
        probe += np.float64(dw[i]) * 0.0
    return (OK if probe == 0.0 else NONFINITE), db, cost


def _logreg_propagate_impl(w, b, X, Y, nt, stream):
    _prefer_wide_vectors()
    if _bad_labels(Y):
        return BAD_LABEL, np.empty((0, 1), X.dtype), 0.0, 0.0
    dw = np.empty((X.shape[0], 1), X.dtype)
    status, db, cost = _logreg_pass(w, b, X, Y, nt, stream, dw[:, 0])
    return status, dw, db, cost


_logreg_propagate_serial, _logreg_propagate_parallel = _variants(_logreg_propagate_impl)
#: Bytes of ``X`` from which logistic regression streams ``X`` on several threads, each
#: a range of features, when a row of ``X`` is at most ``LOGREG_STREAM_MAX_ROW`` bytes
#: (the logits of all the examples stay in L1/L2).
LOGREG_STREAM_FROM = 4 << 20
LOGREG_STREAM_MAX_ROW = 64 << 10
#: Elements of ``X`` from which longer rows use several threads, each a range of examples.
LOGREG_THREADS_FROM = 1 << 23
#: Examples per thread, at least, for a split by ranges of examples.
LOGREG_MIN_EXAMPLES = 64


def _logreg_mode(X, n_threads):
    """``(nt, stream)``: the threads (one for small inputs) and the split (features or
    examples) of a logistic-regression kernel; nothing here depends on the load.

    Short rows from ``LOGREG_STREAM_FROM`` bytes stream the features: the descent's one
    pass over ``X`` per step, and one pass alone (``propagate``) too -- its two parallel
    regions around a serial one are faster than one region over ranges of examples, each
    thread reading a short piece of every row (``scripts/logreg_splits.py`` at
    (12288, 209), 2 threads: 0.262 against 0.324 ms in float64, 0.129 against 0.145 ms in
    float32; cython 0.265 and 0.128 ms).
    """
    n_x, m = X.shape
    if X.nbytes < LOGREG_STREAM_FROM:
        return 1, False
    threads = min(n_threads, _MAX_THREADS) if _PARALLEL else 1
    if m * X.itemsize <= LOGREG_STREAM_MAX_ROW:  # one thread too: the descent's one pass
        return max(1, min(threads, n_x // 64)), True
    if X.size >= LOGREG_THREADS_FROM:
        return max(1, min(threads, m // LOGREG_MIN_EXAMPLES)), False
    return 1, False


def _logreg_propagate(w, b, X, Y, n_threads=1):
    """The protocol's ``logreg_propagate``: every pass :data:`logreg_propagate` does not run itself."""
    if n_threads == 1 or X.nbytes < LOGREG_STREAM_FROM:  # the common case, fast
        key = ("logreg_propagate", X.dtype.num)
        address = _C_ENTRIES.get(key)
        if address is None:
            address = _c_entry(key)
        result = address and _fastpath.numba_logreg_propagate(address, key[1], w, b, X, Y)
        if result and _small_passes is not None:
            _small_passes.register(key[1], address)  # its next passes skip this function
        if result and result[0] != BAD_LABEL:
            return result
        status, dw, db, cost = result or _logreg_propagate_serial(w, b, X, Y, 1, False)
    else:
        nt, stream = _logreg_mode(X, n_threads)
        if nt > 1:
            status, dw, db, cost = _on_free_cores(_logreg_propagate_parallel, w, b, X, Y, nt, stream)
        else:
            status, dw, db, cost = _logreg_propagate_serial(w, b, X, Y, 1, False)
    if status == BAD_LABEL:
        return BAD_LABEL, None, 0.0, 0.0
    return status, dw, db, cost  # numba returns Python ints and floats


#: One-thread passes whose C entry has run once go from fastnn._fastpath straight to it
#: (``NumbaLogregPropagate``), the rest to :func:`_logreg_propagate`.  Measured (timeit, a
#: (2, 8) pass in the backend's function): 0.59 us through the Python function, 0.39 us
#: in the C entry's call.
_small_passes = (
    None if _fastpath is None else _fastpath.NumbaLogregPropagate(_logreg_propagate, LOGREG_STREAM_FROM)
)
#: The protocol's ``logreg_propagate``.
logreg_propagate = _logreg_propagate if _small_passes is None else _small_passes


@njit(**_INLINE)
def _descent_rows(X, r0, r1, dz, w, lr, dw, w_new, z, logits):
    """One step of gradient descent on the rows ``r0..r1`` of ``X``, each read once (four
    at a time; the loops of :func:`_row_dots` and :func:`_add_row_logits` written out
    together: calling them per four rows measured ~15% slower in float64)::

        dw[k] = X[k] dz.T / m      w_new[k] = w[k] - lr dw[k]
        z[:m] = sum_k w_new[k] X[k]      with ``logits``: the next step's partial logits,
                                         while the rows are still in L1
    """
    m = X.shape[1]
    mf = X.dtype.type(m)
    zero = X.dtype.type(0)
    if logits:
        z[:] = zero
    k = r0
    while k < r1:
        if k + 4 <= r1:
            s0 = s1 = s2 = s3 = zero
            for j in range(m):
                d = dz[j]
                s0 += X[k, j] * d
                s1 += X[k + 1, j] * d
                s2 += X[k + 2, j] * d
                s3 += X[k + 3, j] * d
            dw[k], dw[k + 1], dw[k + 2], dw[k + 3] = s0 / mf, s1 / mf, s2 / mf, s3 / mf
            v0 = w[k] - lr * dw[k]
            v1 = w[k + 1] - lr * dw[k + 1]
            v2 = w[k + 2] - lr * dw[k + 2]
            v3 = w[k + 3] - lr * dw[k + 3]
            w_new[k], w_new[k + 1], w_new[k + 2], w_new[k + 3] = v0, v1, v2, v3
            if logits:
                for j in range(m):
                    z[j] += v0 * X[k, j] + v1 * X[k + 1, j] + v2 * X[k + 2, j] + v3 * X[k + 3, j]
            k += 4
        else:
            s0 = zero
            for j in range(m):
                s0 += X[k, j] * dz[j]
            dw[k] = s0 / mf
            v0 = w[k] - lr * dw[k]
            w_new[k] = v0
            if logits:
                for j in range(m):
                    z[j] += v0 * X[k, j]
            k += 1


@njit(**_INLINE)
def _logreg_descend_stream(w, b, X, Y, lr, costs, dw, db, check, nt):
    """:func:`_logreg_descend_impl` reading ``X`` once per step (inputs much larger than the
    L2 cache, short rows), each thread a range of features: the pass computing step i's
    ``dw`` row by row also computes, from the updated rows of ``w``, step i + 1's logits
    (:func:`_descent_rows`) -- one pass over ``X`` per step instead of two."""
    n_x, m = X.shape
    dt = X.dtype
    Z, _, _, _, _, _, E = _logreg_buffers(X, nt, True)
    dz = np.empty(m, dt)
    w_new = np.empty(n_x, dt)
    g = np.empty(n_x, dt)
    wf = w.reshape(-1)
    dwf = dw.reshape(-1)
    _stream_logits(w, X, nt, Z)
    for it in range(costs.size):
        s, cost = _stream_output(Z, b, Y, nt, dz, E[0])
        cost /= m
        grad_b = s / m
        new_b = np.float64(b[0]) - np.float64(lr) * grad_b
        logits = it + 1 < costs.size
        for t in prange(nt):
            _prefer_wide_vectors()
            r0, r1 = _split(n_x, nt, t)
            _descent_rows(X, r0, r1, dz, wf, lr, g, w_new, Z[t, 0], logits)
        if check:
            # NaN unless the cost and every new parameter (in the dtype) are finite
            probe = (cost + np.float64(dt.type(new_b))) * 0.0
            for i in range(n_x):
                probe += np.float64(w_new[i]) * 0.0
            if probe != 0.0:
                return NONFINITE, it
        costs[it] = cost
        for i in range(n_x):
            dwf[i] = g[i]
            wf[i] = w_new[i]
        db[0] = grad_b
        b[0] = new_b
    return OK, costs.size


def _logreg_descend_impl(w, b, X, Y, lr, costs, dw, db, check, nt, stream):
    _prefer_wide_vectors()
    if _bad_labels(Y):
        return BAD_LABEL, 0
    if stream:
        return _logreg_descend_stream(w, b, X, Y, lr, costs, dw, db, check, nt)
    n_x, m = X.shape
    mf = X.dtype.type(m)
    Z, tail, gw, gb, Gm, parts, E = _logreg_buffers(X, nt, False)
    wf = w.reshape(-1)
    dwf = dw.reshape(-1)
    g = gw[0, 0]
    for it in range(costs.size):
        cost = _logreg_grads(w, b, X, Y, nt, Z, tail, gw, gb, Gm, parts, E) / m
        grad_b = gb[0] / m
        new_b = np.float64(b[0]) - np.float64(lr) * grad_b
        if check:
            # NaN unless the cost and every new parameter (in the dtype) are finite
            probe = (cost + np.float64(X.dtype.type(new_b))) * 0.0
            for i in range(n_x):
                probe += np.float64(wf[i] - lr * (g[i] / mf)) * 0.0
            if probe != 0.0:
                return NONFINITE, it
        costs[it] = cost
        for i in range(n_x):
            gi = g[i] / mf
            dwf[i] = gi
            wf[i] = wf[i] - lr * gi
        db[0] = grad_b
        b[0] = new_b
    return OK, costs.size


_logreg_descend_serial, _logreg_descend_parallel = _variants(_logreg_descend_impl)


def logreg_descend(w, b, X, Y, learning_rate, costs, dw, db, check, n_threads=1):
    nt, stream = _logreg_mode(X, n_threads)
    lr, check = X.dtype.type(learning_rate), bool(check)
    if nt == 1:
        status, n_done = _logreg_descend_serial(w, b, X, Y, lr, costs, dw, db, check, 1, stream)
        return int(status), int(n_done)

    def run(part):
        return _on_free_cores(_logreg_descend_parallel, w, b, X, Y, lr, part, dw, db, check, nt, stream)

    status, n_done = _in_chunks(run, costs, X.size)
    return int(status), int(n_done)


# --- two-layer network ------------------------------------------------------------------


@njit(**_JIT)
def _mlp_forward(X, W1, b1, W2, b2, act):
    _prefer_wide_vectors()
    n_x, m = X.shape
    n_h = W1.shape[0]
    n_y = W2.shape[0]
    win = _window(X)
    Z1 = np.empty((n_h, m), X.dtype)
    if _use_blas(n_x, n_h, m):
        _gemm(_N, _N, n_h, m, n_x, W1, n_x, X, m, Z1, m)
        for h in range(n_h):
            bh = b1[h, 0]
            for k in range(m):
                Z1[h, k] += bh
    else:
        _forward(Z1, W1, b1, X, 0, m, np.empty((n_h, win), X.dtype))
    A1 = np.empty_like(Z1)
    _activate(Z1.reshape(-1), A1.reshape(-1), act)
    Z2 = np.empty((n_y, m), X.dtype)
    _forward(Z2, W2, b2, A1, 0, m, np.empty((n_y, win), X.dtype))
    A2 = np.empty_like(Z2)
    z2 = Z2.reshape(-1)
    a2 = A2.reshape(-1)
    for k in range(z2.size):
        a2[k] = nm.sigmoid(z2[k])
    return Z1, A1, Z2, A2


def mlp_forward(X, W1, b1, W2, b2, activation, n_threads=1):
    return _mlp_forward(X, W1, b1, W2, b2, activation)


@njit(**_JIT)
def _mlp_cost(A2, Y, eps):
    _prefer_wide_vectors()
    one = A2.dtype.type(1)
    lo = A2.dtype.type(eps)
    hi = one - lo
    a2 = A2.reshape(-1)
    y = Y.reshape(-1)
    total = 0.0
    for k in range(a2.size):
        p = a2[k]
        p = lo if p < lo else p
        p = hi if p > hi else p
        total += np.float64(y[k] * nm.log(p) + (one - y[k]) * nm.log(one - p))
    return -total / A2.shape[1]


def mlp_cost(A2, Y):
    return float(_mlp_cost(A2, Y, float(np.finfo(A2.dtype).eps)))


@njit(**_JIT)
def _mlp_backward(X, Y, W2, A1, A2, act):
    _prefer_wide_vectors()
    n_x, m = X.shape
    n_h = A1.shape[0]
    n_y = A2.shape[0]
    mf = X.dtype.type(m)
    D = A2 - Y
    G = np.empty((n_h, m), X.dtype)
    dW2 = np.zeros((n_y, n_h), X.dtype)
    db1 = np.zeros(n_h, X.dtype)
    _hidden_backward(A1, m, D, W2, act, G, dW2, db1)
    dW1 = np.zeros((n_h, n_x), X.dtype)
    if _use_blas(n_x, n_h, m):
        _gemm(_N, _T, n_h, n_x, m, G, m, X, m, dW1, n_x)
    else:
        _backward(dW1, G, np.empty((n_h, _window(X)), X.dtype), X, 0, m)
    db2 = np.empty((n_y, 1), X.dtype)
    for j in range(n_y):
        s = D.dtype.type(0)
        for k in range(m):
            s += D[j, k]
        db2[j, 0] = s / mf
    return dW1 / mf, (db1 / mf).reshape(-1, 1), dW2 / mf, db2


def mlp_backward(X, Y, W2, A1, A2, activation, n_threads=1):
    return _mlp_backward(X, Y, W2, A1, A2, activation)


@njit(**_JIT)
def _sgd_update(P, dP, lr):
    _prefer_wide_vectors()
    out = np.empty_like(P)
    p = P.reshape(-1)
    d = dP.reshape(-1)
    o = out.reshape(-1)
    for k in range(p.size):
        o[k] = p[k] - lr * d[k]
    return out


def sgd_update(P, dP, learning_rate):
    return _sgd_update(P, dP, P.dtype.type(learning_rate))


@njit(**_INLINE)
def _mlp_block(X, Y, W1, b1, W2, b2, act, b0, L, a, d, g, tl, gm, gw1, gb1, gw2, gb2):
    """Loss (float64) of the examples ``[b0, b0 + L)``; their gradient sums added to
    ``gw1``... (``a`` holds ``Z1`` then ``A1``, ``d`` ``Z2`` then ``dZ2``, ``g`` ``dZ1``)."""
    _forward(a, W1, b1, X, b0, L, tl)
    _activate_rows(a, L, act, W2, b2, d)
    cost = _output_layer(L, Y, b0, d, gb2, g)  # g: scratch until dZ1
    _hidden_backward(a, L, d, W2, act, g, gw2, gb1)
    _backward(gw1, g, gm, X, b0, L)
    return cost


@njit(**_INLINE)
def _apply_step(params, sums, cost, rate, mf, check):
    """``P -= rate * (S / m)`` for every parameter ``P`` and gradient sum ``S`` (1-D views);
    with ``check``, nothing is written and False returned unless the cost and every new
    parameter (in the dtype) are finite."""
    if check:
        probe = cost * 0.0  # NaN unless every value is finite
        for q in range(len(params)):
            P = params[q]
            S = sums[q]
            for k in range(P.size):
                probe += np.float64(P[k] - rate * (S[k] / mf)) * 0.0
        if probe != 0.0:
            return False
    for q in range(len(params)):
        P = params[q]
        S = sums[q]
        for k in range(P.size):
            P[k] = P[k] - rate * (S[k] / mf)
    return True


@njit(**_INLINE)
def _mlp_block_len(m, nt):
    """Examples a block buffer holds: each thread's range is cut in blocks of about
    ``BLOCK_EXAMPLES`` (at most twice as many)."""
    return max(min(BLOCK_EXAMPLES * 2, (m + nt - 1) // nt), 1)


@njit(**_INLINE)
def _mlp_ws_size(nt, n_x, n_h, n_y, L, win):
    """Elements of the workspace :func:`_mlp_workspace` cuts (``L`` examples per block)."""
    return nt * ((2 * n_h + n_y) * L + (max(n_h, n_y) + n_h) * win + (n_x + 1 + n_y) * n_h + n_y)


@njit(**_INLINE)
def _mlp_workspace(ws, nt, n_x, n_h, n_y, L, win):
    """Views of ``ws`` with a leading thread axis: ``A[t]`` holds ``Z1`` then ``A1`` of a
    block, ``G[t]`` its ``dZ1``, ``D[t]`` its ``Z2`` then ``dZ2``, ``T[t]``/``Gm[t]`` the
    row-tail windows of blocks shorter than a vector, ``gW1[t]``, ``gW2[t]``, ``gb1[t]``,
    ``gb2[t]`` the thread's partial gradient sums."""
    n_t = max(n_h, n_y)
    A = _view(ws, 0, (nt, n_h, L))
    o = nt * n_h * L
    G = _view(ws, o, (nt, n_h, L))
    o += nt * n_h * L
    D = _view(ws, o, (nt, n_y, L))
    o += nt * n_y * L
    T = _view(ws, o, (nt, n_t, win))
    o += nt * n_t * win
    Gm = _view(ws, o, (nt, n_h, win))
    o += nt * n_h * win
    gW1 = _view(ws, o, (nt, n_h, n_x))
    o += nt * n_h * n_x
    gW2 = _view(ws, o, (nt, n_y, n_h))
    o += nt * n_y * n_h
    gb1 = _view(ws, o, (nt, n_h))
    o += nt * n_h
    gb2 = _view(ws, o, (nt, n_y))
    return A, G, D, T, Gm, gW1, gW2, gb1, gb2


@njit(**_INLINE)
def _mlp_range(X, Y, W1, b1, W2, b2, act, c0, c1, A, D, G, T, Gm, gw1, gb1, gw2, gb2):
    """Loss (float64) of the examples ``[c0, c1)``, in blocks of about ``BLOCK_EXAMPLES``;
    their gradient sums written to ``gw1``, ``gb1``, ``gw2``, ``gb2`` (one thread's part)."""
    zero = X.dtype.type(0)
    gw1[:] = zero
    gb1[:] = zero
    gw2[:] = zero
    gb2[:] = zero
    n_blocks = max(1, (c1 - c0) // BLOCK_EXAMPLES)
    cost = 0.0
    for blk in range(n_blocks):
        lo, hi = _split(c1 - c0, n_blocks, blk)
        cost += _mlp_block(X, Y, W1, b1, W2, b2, act, c0 + lo, hi - lo, A, D, G, T, Gm, gw1, gb1, gw2, gb2)
    return cost


@njit(**_INLINE)
def _mlp_reduce(parts, gW1, gb1, gW2, gb2, nt):
    """The threads' partial sums added into thread 0's, in thread order; returns the summed
    loss ``sum(parts)``."""
    total = parts[0]
    for t in range(1, nt):
        total += parts[t]
        gW1[0] += gW1[t]
        gb1[0] += gb1[t]
        gW2[0] += gW2[t]
        gb2[0] += gb2[t]
    return total


def _mlp_descend_impl(X, Y, W1, b1, W2, b2, lr, costs, nt):
    """``len(costs)`` training steps; returns ``n_done * 4 + status``.

    The examples are cut in ``nt`` ranges (one per thread, :func:`_mlp_range`) and each
    range in blocks; every buffer has a leading thread axis (:func:`_mlp_workspace`), the
    partial sums are added in thread order.  The workspace is allocated once per call and
    the steps run in ``_STEPS`` (:func:`_mlp_steps`).  The activation ``_ACT`` and the
    check ``_CHECK`` are compile-time constants.
    """
    _prefer_wide_vectors()
    if _bad_labels(Y):
        return BAD_LABEL
    n_x, m = X.shape
    n_h = W1.shape[0]
    n_y = W2.shape[0]
    dt = X.dtype
    rate = dt.type(lr)  # the update in the data's precision, as NumPy's
    mf = dt.type(m)
    L = _mlp_block_len(m, nt)
    ws = np.empty(_mlp_ws_size(nt, n_x, n_h, n_y, L, _window(X)), dt)
    return _STEPS(X, Y, W1, b1, W2, b2, rate, mf, costs, nt, ws, np.empty(nt))


def _mlp_steps(X, Y, W1, b1, W2, b2, rate, mf, costs, nt, ws, parts):
    """The steps of :func:`_mlp_descend_impl` in its workspace ``ws`` and ``parts``
    (arguments: alive for the whole call, so the views need no reference counting)."""
    _prefer_wide_vectors()
    n_x, m = X.shape
    n_h = W1.shape[0]
    n_y = W2.shape[0]
    win = _window(X)
    L = _mlp_block_len(m, nt)
    A, G, D, T, Gm, gW1, gW2, gb1, gb2 = _mlp_workspace(_tiles.borrowed(ws), nt, n_x, n_h, n_y, L, win)
    params = (_flat(W1), _flat(b1), _flat(W2), _flat(b2))
    sums = (_flat(gW1[0]), gb1[0], _flat(gW2[0]), gb2[0])
    for it in range(costs.size):
        for t in prange(nt):
            _prefer_wide_vectors()
            c0, c1 = _split(m, nt, t)
            parts[t] = _mlp_range(X, Y, W1, b1, W2, b2, _ACT, c0, c1, A[t], D[t], G[t], T[t],
                                  Gm[t], gW1[t], gb1[t], gW2[t], gb2[t])
        cost = _mlp_reduce(parts, gW1, gb1, gW2, gb2, nt) / m
        if not _apply_step(params, sums, cost, rate, mf, _CHECK):
            return it * 4 + NONFINITE
        costs[it] = cost
    return costs.size * 4 + OK


def _mlp_descend_blas_impl(X, Y, W1, b1, W2, b2, lr, costs, nt):
    """:func:`_mlp_descend_impl` with the two big products ``W1 X`` and ``dZ1 X.T`` by the
    BLAS (its own threads), on all the examples at once; everything else fused around."""
    _prefer_wide_vectors()
    if _bad_labels(Y):
        return BAD_LABEL
    n_x, m = X.shape
    n_h = W1.shape[0]
    n_y = W2.shape[0]
    dt = X.dtype
    rate = dt.type(lr)
    mf = dt.type(m)
    ws = np.empty((2 * n_h + n_y) * m + (n_x + 1 + n_y) * n_h + n_y, dt)
    A = _view(ws, 0, (n_h, m))
    G = _view(ws, n_h * m, (n_h, m))
    D = _view(ws, 2 * n_h * m, (n_y, m))
    o = (2 * n_h + n_y) * m
    gW1 = _view(ws, o, (n_h, n_x))
    gW2 = _view(ws, o + n_h * n_x, (n_y, n_h))
    gb1 = _view(ws, o + (n_x + n_y) * n_h, (n_h,))
    gb2 = _view(ws, o + (n_x + n_y + 1) * n_h, (n_y,))
    params = (_flat(W1), _flat(b1), _flat(W2), _flat(b2))
    sums = (_flat(gW1), gb1, _flat(gW2), gb2)
    zero = dt.type(0)
    for it in range(costs.size):
        _gemm(_N, _N, n_h, m, n_x, W1, n_x, X, m, A, m)
        for h in range(n_h):
            bh = b1[h, 0]
            for k in range(m):
                A[h, k] += bh
        gW2[:] = zero
        gb1[:] = zero
        gb2[:] = zero
        _activate_rows(A, m, _ACT, W2, b2, D)
        cost = _output_layer(m, Y, 0, D, gb2, G) / m  # G: scratch until dZ1
        _hidden_backward(A, m, D, W2, _ACT, G, gW2, gb1)
        _gemm(_N, _T, n_h, n_x, m, G, m, X, m, gW1, n_x)
        if not _apply_step(params, sums, cost, rate, mf, _CHECK):
            return it * 4 + NONFINITE
        costs[it] = cost
    return costs.size * 4 + OK


#: Multiply-adds per step (n_x n_h m) from which the 2-layer step uses several threads
#: (each thread takes a range of examples; the partial gradients are summed).
MLP_THREADS_FROM = 1 << 21
#: Examples per block within a thread's range.
BLOCK_EXAMPLES = 4096


#: Work per step, ``m n_h (2 n_x + 2 n_y + 16)`` (cython's measure), from which steps below
#: ``MLP_THREADS_FROM`` run on fastnn._fastpath's OpenMP team: ``nt`` calls of the C entry
#: of a range of examples (``_c_mlp_chunk``), then one of the step's end (``_c_mlp_apply``).
MLP_TEAM_FROM = 150_000
#: Examples per thread, at least, on the team.
MLP_TEAM_MIN_EXAMPLES = 64


def _team_descend(X, Y, W1, b1, W2, b2, learning_rate, activation, costs, check, nt):
    """``(status, n_done)`` of the steps on the team, or None where it cannot run them."""
    typenum = X.dtype.num
    chunk = _C_ENTRIES.get(("mlp_chunk", typenum, activation))
    if chunk is None:
        chunk = _c_entry(("mlp_chunk", typenum, activation))
    end = _C_ENTRIES.get(("mlp_apply", typenum, check))
    if end is None:
        end = _c_entry(("mlp_apply", typenum, check))
    if not (chunk and end):
        return None
    ws = _team_workspace(X, W1.shape[0], W2.shape[0], nt)
    r = _fastpath.numba_mlp_descend_team(chunk, end, typenum, X, Y, W1, b1, W2, b2, learning_rate, costs,
                                         ws, nt)
    return None if r is None else (r & 3, r >> 2)


#: (n_x, m, n_h, n_y, nt, itemsize) -> elements of a team step's workspace
_TEAM_WS_SIZES: dict = {}
#: the calling thread's team workspace, kept for its next step
_team_buffers = threading.local()


def _team_workspace(X, n_h, n_y, nt):
    """The calling thread's workspace for steps on the team, at least as large as the C
    entries' layout (:func:`_mlp_workspace`) needs.  The sizes are computed once per shape
    and the buffer kept: computing them in Python and allocating took 2.6 us a step at
    (30, 16, 569) (now 1.0), serial time in every step of ~40 us."""
    n_x, m = X.shape
    key = (n_x, m, n_h, n_y, nt, X.itemsize)
    size = _TEAM_WS_SIZES.get(key)
    if size is None:
        if len(_TEAM_WS_SIZES) >= 1024:
            _TEAM_WS_SIZES.clear()
        L = _mlp_block_len.py_func(m, nt)  # the sizes the entries compute, in Python
        size = _TEAM_WS_SIZES[key] = _mlp_ws_size.py_func(nt, n_x, n_h, n_y, L, _window.py_func(X))
    ws = getattr(_team_buffers, "ws", None)
    if ws is None or ws.dtype != X.dtype or ws.size < size:
        ws = _team_buffers.ws = np.empty(size, X.dtype)
    return ws


def _mlp_descend(X, Y, W1, b1, W2, b2, learning_rate, activation, costs, check, n_threads=1):
    """The protocol's ``mlp_descend``: every step :data:`mlp_descend` does not run itself."""
    n_x, m = X.shape
    n_h = W1.shape[0]
    if n_x * n_h * m < MLP_THREADS_FROM:  # the common case, fast: one thread, no BLAS
        check = 1 if check else 0
        nt = min(n_threads, m // MLP_TEAM_MIN_EXAMPLES, 64)
        if nt > 1 and _fastpath is not None and m * n_h * (2 * n_x + 2 * W2.shape[0] + 16) >= MLP_TEAM_FROM:
            r = _team_descend(X, Y, W1, b1, W2, b2, learning_rate, activation, costs, check, nt)
            if r is not None:
                return r
        key = ("mlp_descend", X.dtype.num, activation, check)
        address = _C_ENTRIES.get(key)
        if address is None:
            address = _c_entry(key)
        if address:
            r = _fastpath.numba_mlp_descend(address, key[1], X, Y, W1, b1, W2, b2, learning_rate, costs)
            if r is not None:
                if _small_steps is not None:
                    _small_steps.register(*key[1:], address)  # its next steps skip this function
                return r & 3, r >> 2
        kernel = _SERIAL[activation][check] or _serial_kernel(activation, check)
        r = kernel(X, Y, W1, b1, W2, b2, learning_rate, costs, 1)
        return r & 3, r >> 2
    if _use_blas_py(n_x, n_h, m):
        mode, nt = "blas", 1  # the BLAS threads itself
    else:
        nt = min(n_threads, _MAX_THREADS, m // 64 or 1)
        mode = "parallel" if nt > 1 and _PARALLEL else "serial"
        nt = nt if mode == "parallel" else 1
    impl = _mlp_descend_blas_impl if mode == "blas" else _mlp_descend_impl
    kernel = _kernel(impl, mode, activation, check)
    if mode != "parallel":
        r = kernel(X, Y, W1, b1, W2, b2, learning_rate, costs, nt)
        return r & 3, r >> 2

    def run(part):
        r = _on_free_cores(kernel, X, Y, W1, b1, W2, b2, learning_rate, part, nt)
        return r & 3, r >> 2

    return _in_chunks(run, costs, n_x * n_h * m)


#: Steps below the team's threshold whose C entry has run once go from fastnn._fastpath
#: straight to it (``NumbaMlpDescent``), the rest to :func:`_mlp_descend`.  Measured
#: (timeit, a (2, 4, 8) step): 3.0 us through the Python function, of which 1.4 us in the
#: C entry's call; 1.44 us now.
_small_steps = None if _fastpath is None else _fastpath.NumbaMlpDescent(_mlp_descend, MLP_TEAM_FROM)
#: The protocol's ``mlp_descend``.
mlp_descend = _mlp_descend if _small_steps is None else _small_steps


#: The serial kernels by activation and check, filled on first use (the hot path's table).
_SERIAL = [[None, None] for _ in ACTIVATIONS]


def _serial_kernel(activation, check):
    k = _SERIAL[activation][check] = _kernel(_mlp_descend_impl, "serial", activation, check)
    return k
