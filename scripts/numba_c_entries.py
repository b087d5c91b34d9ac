"""A/B in one process: the numba backend's public calls at the course sizes through its C
entries (``numba.cfunc`` kernels called by ``fastnn._fastpath``) and through numba's
dispatchers, alternating, medians of 7 rounds (best of 3 batches of 2,000 calls each).

    python scripts/numba_c_entries.py
"""

from __future__ import annotations

import timeit

import numpy as np

from fastnn import logreg, mlp
from fastnn._backends import numba as numba_backend

ROUNDS, CALLS = 7, 2000


def use_c_entries(on: bool, fastpath=numba_backend._fastpath, entries=numba_backend._C_ENTRIES,
                  steps=numba_backend.mlp_descend) -> None:
    numba_backend._fastpath = fastpath if on else None
    numba_backend._C_ENTRIES = entries if on else {}
    numba_backend.mlp_descend = steps if on else numba_backend._mlp_descend


def course_calls(rng, dtype) -> dict:
    """The planar step and the course-size propagate, each a call of no arguments."""
    X = rng.standard_normal((2, 400)).astype(dtype)
    Y = (rng.random((1, 400)) > 0.5).astype(dtype)
    params = mlp.initialize_parameters(2, 4, 1, 2, dtype)
    w = np.zeros((2, 1), dtype)
    return {
        "train_step (2, 4, 400)": lambda: mlp.train_step(params, X, Y, 1e-3, backend="numba"),
        "propagate (2, 400)": lambda: logreg.propagate(w, 0.0, X, Y, backend="numba"),
    }


def main() -> None:
    rng = np.random.default_rng(0)
    times: dict = {}
    for dtype in (np.float64, np.float32):
        for name, call in course_calls(rng, dtype).items():
            for _ in range(ROUNDS):
                for on in (True, False):
                    use_c_entries(on)
                    call()
                    best = min(timeit.repeat(call, number=CALLS, repeat=3)) / CALLS
                    times.setdefault((name, dtype.__name__, on), []).append(best * 1e6)
    use_c_entries(True)
    for (name, dtype, on), samples in sorted(times.items()):
        path = "C entry   " if on else "dispatcher"
        print(f"{name:24s} {dtype:8s} {path} median {np.median(samples):6.2f} us")


if __name__ == "__main__":
    main()
