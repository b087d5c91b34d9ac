"""Resources: many small calls and long fits do not grow memory (tracemalloc for Python
allocations, RSS for everything else, the Cython extension's own buffers included)."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np

import fastnn
from fastnn import logreg, mlp

CALLS = {"python": 2_000, "numpy": 20_000, "numba": 100_000, "cython": 100_000}


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def planar():
    X, Y = fastnn.datasets.load_planar()
    return X, Y.astype(np.float64), mlp.initialize_parameters(2, 4, 1, random_state=2)


def test_many_small_calls_do_not_grow_memory(backend):
    X, Y, params = planar()
    w = np.zeros((2, 1))

    def calls(n):
        for _ in range(n):
            mlp.train_step(params, X, Y, 1e-3, backend=backend)
            logreg.propagate(w, 0.0, X, Y, backend=backend)

    n = CALLS[backend]
    calls(n // 10)  # warm up: compile, caches, first allocations
    gc.collect()
    rss_before = rss_bytes()
    tracemalloc.start()
    try:
        traced_before, _ = tracemalloc.get_traced_memory()
        calls(n)
        gc.collect()
        traced_after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = rss_bytes() - rss_before
    # a leak of even 16 bytes per call would show as >= 1.6 MB over 100,000 calls
    assert traced_after - traced_before < 64 * 1024, f"Python allocations grew by {traced_after - traced_before} bytes"
    assert rss_growth < 4 * 2**20, f"RSS grew by {rss_growth / 2**20:.1f} MiB over {n} calls"


def test_long_fits_do_not_grow_memory(fast_backend):
    X, Y, params = planar()
    mlp.gradient_descent(params, X, Y, 2_000, 1.2, backend=fast_backend)  # warm up: compile or load
    logreg.optimize(np.zeros((2, 1)), 0.0, X, Y, 10, 0.1, backend=fast_backend)  # both kernels
    gc.collect()
    rss_before = rss_bytes()
    for _ in range(5):
        mlp.gradient_descent(params, X, Y, 20_000, 1.2, backend=fast_backend)
        logreg.optimize(np.zeros((2, 1)), 0.0, X, Y, 5_000, 0.1, backend=fast_backend)
    gc.collect()
    rss_growth = rss_bytes() - rss_before
    assert rss_growth < 4 * 2**20, f"RSS grew by {rss_growth / 2**20:.1f} MiB over the fits"
