"""``mlp.train_step`` at one size on every backend named, on one and two kernel threads,
float64 and float32, in one process, interleaved (rows settled before each batch).

    python scripts/step_threads.py 12288 7 209 numba,cython,numpy

Prints the median over 9 rounds of the best of 5 calls.  For an A/B of two trees, run it
once per tree (``PYTHONPATH=tree``), alternating.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import fastnn
from fastnn.bench.timing import median, settle

ROUNDS, CALLS = 9, 5


def main(argv: list[str]) -> None:
    n_x, n_h, m = (int(a) for a in argv[:3])
    backends = argv[3].split(",") if len(argv) > 3 else ["numba", "cython", "numpy"]
    rng = np.random.default_rng(0)
    rows = []
    for dtype in (np.float64, np.float32):
        X = rng.standard_normal((n_x, m)).astype(dtype)
        Y = (rng.random((1, m)) > 0.5).astype(dtype)
        for backend in backends:
            for threads in (1, 2):
                params = fastnn.mlp.initialize_parameters(n_x, n_h, 1, random_state=0, dtype=dtype)
                name = f"{backend} {np.dtype(dtype).name} threads={threads}"
                rows.append((name, backend, X, Y, params, threads))
    samples: dict[str, list[float]] = {row[0]: [] for row in rows}
    before = fastnn.get_num_threads()
    try:
        for _ in range(ROUNDS):
            for name, backend, X, Y, params, threads in rows:
                fastnn.set_num_threads(threads)
                settle()
                fastnn.mlp.train_step(params, X, Y, 1e-9, backend=backend)
                best = float("inf")
                for _ in range(CALLS):
                    start = time.perf_counter()
                    fastnn.mlp.train_step(params, X, Y, 1e-9, backend=backend)
                    best = min(best, time.perf_counter() - start)
                samples[name].append(best)
    finally:
        fastnn.set_num_threads(before)
    print(f"train_step ({n_x}, {n_h}, {m})")
    for name, times in samples.items():
        print(f"  {name:30s} {median(times) * 1e6:9.1f} us")


if __name__ == "__main__":
    main(sys.argv[1:])
