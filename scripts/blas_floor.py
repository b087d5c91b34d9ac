"""How close a training step with large layers is to its two BLAS products: one
``mlp.train_step`` per backend against ``W1 @ X`` and ``dZ1 @ X.T`` alone (NumPy's
OpenBLAS, into preallocated outputs) at the same sizes, in one process, interleaved, with
the other rows' threads settled before each batch.

    python scripts/blas_floor.py [n_x n_h m] [float32]      # default 784 128 1000 float64

The products are what NumPy, numba and cython all hand to the same BLAS; a backend's step
cannot be faster than them, so ``numpy step / products`` is the ceiling of its speed-up.
Prints medians over rounds of the best of 5 calls, and the BLAS library (threadpoolctl).
"""

from __future__ import annotations

import sys
import time

import numpy as np
from threadpoolctl import threadpool_info

import fastnn
from fastnn.bench.timing import median, settle


def best_of(fn, calls=5):
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv):
    sizes = [int(a) for a in argv if a.isdigit()] or [784, 128, 1000]
    n_x, n_h, m = sizes
    dtype = np.dtype("float32" if "float32" in argv else "float64")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_x, m)).astype(dtype)
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    W1 = (rng.standard_normal((n_h, n_x)) * 0.01).astype(dtype)
    dZ1 = rng.standard_normal((n_h, m)).astype(dtype)
    Z1, dW1 = np.empty((n_h, m), dtype), np.empty((n_h, n_x), dtype)

    def products():
        np.dot(W1, X, out=Z1)
        np.dot(dZ1, X.T, out=dW1)

    rows = {"two BLAS products": products}
    for backend in ("numpy", "numba", "cython"):
        params = fastnn.mlp.initialize_parameters(n_x, n_h, 1, random_state=0, dtype=dtype)
        rows[f"{backend} train_step"] = (
            lambda p=params, b=backend: fastnn.mlp.train_step(p, X, Y, 1e-9, backend=b)
        )
    for fn in rows.values():
        fn()  # compile, warm the caches
    samples = {name: [] for name in rows}
    for _ in range(9):
        for name, fn in rows.items():
            settle()
            samples[name].append(best_of(fn))
    blas = [f"{lib['internal_api']} {lib['version']} ({lib.get('architecture')}, "
            f"{lib['num_threads']} threads)" for lib in threadpool_info() if lib["user_api"] == "blas"]
    print(f"({n_x}, {n_h}, {m}) {dtype.name}; BLAS: {'; '.join(blas)}")
    floor = median(samples["two BLAS products"])
    numpy_step = median(samples["numpy train_step"])
    for name in rows:
        t = median(samples[name])
        print(f"  {name:20s} {t * 1e3:8.3f} ms   {t / floor:5.2f}x the products")
    print(f"  ceiling of a speed-up over the numpy backend: {numpy_step / floor:.3f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
