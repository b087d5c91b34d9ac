"""numba against cython on the course's small steps, in one process, interleaved: one
``mlp_descend`` call of one step (the fixed cost of a call) and a 2,000-step call (the
cost of a step inside a fit, as in ``nn_model``), at (2, 4, 8) and the planar (2, 4, 400),
float64 and float32.  Medians of 7 rounds (best of 5 batches); the numba/cython ratio
of each row is taken in the same process.

    python scripts/small_steps.py
"""

from __future__ import annotations

import time

import numpy as np

from fastnn import mlp
from fastnn._backends import cython as cython_backend
from fastnn._backends import numba as numba_backend

ROUNDS, BATCHES = 7, 5
BACKENDS = {"numba": numba_backend, "cython": cython_backend}


def net(m: int, dtype):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2, m)).astype(dtype)
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    p = mlp.initialize_parameters(2, 4, 1, random_state=2, dtype=dtype)
    return X, Y, [p[k] for k in ("W1", "b1", "W2", "b2")]


def per_step(backend, X, Y, params, n_steps: int) -> float:
    """Best of the batches, in us per step (a tiny learning rate: the net hardly moves)."""
    costs = np.empty(n_steps)
    calls = 2000 if n_steps == 1 else 3

    def run():
        backend.mlp_descend(X, Y, *params, 1e-9, 0, costs, True, 1)

    run()
    best = np.inf
    for _ in range(BATCHES):
        t = time.perf_counter()
        for _ in range(calls):
            run()
        best = min(best, (time.perf_counter() - t) / calls / n_steps)
    return best * 1e6


def main() -> None:
    for dtype in (np.float64, np.float32):
        for m in (8, 400):
            X, Y, params = net(m, dtype)
            for n_steps, label in ((1, "one-step call"), (2000, "step in a fit ")):
                times = {name: [] for name in BACKENDS}
                for _ in range(ROUNDS):
                    for name, backend in BACKENDS.items():
                        times[name].append(per_step(backend, X, Y, params, n_steps))
                numba, cython = (np.median(times[name]) for name in BACKENDS)
                print(f"{np.dtype(dtype).name:8s} (2, 4, {m:3d}) {label}  numba {numba:6.3f} us  "
                      f"cython {cython:6.3f} us  numba/cython {numba / cython:.2f}")


if __name__ == "__main__":
    main()
