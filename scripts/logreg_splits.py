"""A/B of the ways numba's logistic regression can cut one pass (``propagate``) over short
rows: ranges of features streamed (two parallel regions around a serial one; what
``propagate`` runs), ranges of examples (one region), and -- the idea it rules out -- one pass
over ``X`` in blocks of ``BLOCK`` examples (each block's logits, then its ``dw`` terms
while the block is in L2), against the numpy backend and cython's (features) in one
process, interleaved, with the other rows' threads settled before each batch.

    python scripts/logreg_splits.py [n_x m] [float32]      # default 12288 209 float64

Prints medians over rounds of the best of 5 calls, and ratios to the numpy backend.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from numba import njit, prange

import fastnn
from fastnn._backends import _numba_math as nm
from fastnn._backends import numba as nb
from fastnn.bench.timing import median, settle

BLOCK = 64  # examples per block: 12288 x 64 float64 = 6.3 MB, in the 300 MiB L3 (2 MiB L2)


@njit(parallel=True, error_model="numpy", fastmath={"nsz", "contract", "arcp"})
def one_pass(w, b, X, Y, nt, block):
    """``(dw, db, cost)`` reading ``X`` once: each thread its range of examples, in blocks."""
    n_x, m = X.shape
    win = nb._window(X)
    ws = np.empty(nt * (block + 2 * win + n_x), X.dtype)
    Z = nb._view(ws, 0, (nt, 1, block))
    tail = nb._view(ws, nt * block, (nt, 1, win))
    Gm = nb._view(ws, nt * (block + win), (nt, 1, win))
    gw = nb._view(ws, nt * (block + 2 * win), (nt, 1, n_x))
    E = np.empty((nt, 1, block), X.dtype)
    gb = np.zeros(nt)
    cost = np.zeros(nt)
    W = w.reshape(1, -1)
    bb = b.reshape(1, 1)
    for t in prange(nt):
        c0, c1 = nb._split(m, nt, t)
        z = Z[t]
        g = gw[t]
        g[:] = 0
        j0 = c0
        while j0 < c1:
            L = min(block, c1 - j0)
            nb._forward(z, W, bb, X, j0, L, tail[t])
            e = E[t]
            for k in range(L):
                y = Y[0, j0 + k]
                a, ek, h = nm.logistic_parts(z[0, k], y)
                z[0, k] = a - y
                e[0, k] = ek
                gb[t] += np.float64(a - y)
                cost[t] += np.float64(h)
            cost[t] += nm.sum_log1p(e, L)
            nb._backward(g, z, Gm[t], X, j0, L)
            j0 += L
    for t in range(1, nt):
        gw[0] += gw[t]
    return gw[0, 0] / m, gb.sum() / m, cost.sum() / m


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv if a.isdigit()]
    n_x, m = sizes if len(sizes) == 2 else (12288, 209)
    dtype = np.float32 if "float32" in argv else np.float64
    rng = np.random.default_rng(0)
    X = rng.random((n_x, m)).astype(dtype)
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    w = (rng.standard_normal((n_x, 1)) * 1e-3).astype(dtype)
    b = np.array([0.1], dtype)
    nt = 2
    rows = {
        "numpy backend": lambda: fastnn.logreg.propagate(w, 0.1, X, Y, backend="numpy"),
        "cython backend": lambda: fastnn.logreg.propagate(w, 0.1, X, Y, backend="cython"),
        f"numba features x{nt}": lambda: nb._logreg_propagate_parallel(w, b, X, Y, nt, True),
        f"numba examples x{nt}": lambda: nb._logreg_propagate_parallel(w, b, X, Y, nt, False),
        "numba one thread": lambda: nb._logreg_propagate_serial(w, b, X, Y, 1, False),
        f"numba one pass x{nt}": lambda: one_pass(w, b, X, Y, nt, BLOCK),
    }
    reference, _ = rows["numpy backend"]()
    dw = one_pass(w, b, X, Y, nt, BLOCK)[0]
    assert np.allclose(dw, reference["dw"].ravel(), rtol=1e-4, atol=1e-7), "one pass: wrong dw"
    samples: dict[str, list[float]] = {name: [] for name in rows}
    for fn in rows.values():
        fn()
    for _ in range(15):
        for name, fn in rows.items():
            settle()
            fn()
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - start)
            samples[name].append(best)
    base = median(samples["numpy backend"])
    print(f"propagate ({n_x}, {m}) {np.dtype(dtype).name}, fastnn threads {fastnn.get_num_threads()}")
    for name, times in samples.items():
        t = median(times)
        print(f"  {name:22s} {t * 1e3:8.3f} ms   {base / t:5.2f}x numpy")


if __name__ == "__main__":
    main(sys.argv[1:])
