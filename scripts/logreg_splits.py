"""A/B of the two ways numba's logistic regression can thread one pass (``propagate``) over
short rows: ranges of features streamed (two parallel regions around a serial one) or
ranges of examples (one region), against the numpy backend and cython's (features) in
one process, interleaved, with the other rows' threads settled before each batch.

    python scripts/logreg_splits.py [n_x m] [float32]      # default 12288 209 float64

Prints medians over rounds of the best of 5 calls, and ratios to the numpy backend.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import fastnn
from fastnn._backends import numba as nb
from fastnn.bench.timing import median, settle


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
    }
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
