"""Data sets: the course's planar "flower" data and synthetic data of benchmark shapes.

All generators draw from their own ``RandomState``; NumPy's global RNG is never touched.
"""

from __future__ import annotations

import numpy as np

from fastnn import _validation as v

__all__ = ["load_planar", "make_classification"]


def load_planar(random_state: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The course's planar "flower": ``X (2, 400)`` float64 and ``Y (1, 400)`` uint8 labels.

    Two petal-shaped classes of 200 points each: for class ``j``, angles
    ``t = linspace(3.12 j, 3.12 (j + 1), 200) + 0.2 randn(200)`` and radii
    ``r = 4 sin(4 t) + 0.2 randn(200)``, point ``(r sin t, r cos t)``.  The draws are made
    in the course's order from ``RandomState(random_state)``, so the default reproduces
    the course's data set (``load_planar_dataset()`` seeds 1) exactly.
    """
    rng = np.random.RandomState(random_state)
    m, a = 400, 4
    N = m // 2
    X = np.zeros((m, 2))
    Y = np.zeros((m, 1), dtype=np.uint8)
    for j in range(2):
        ix = slice(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + rng.randn(N) * 0.2
        r = a * np.sin(4 * t) + rng.randn(N) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X.T.copy(), Y.T.copy()


def make_classification(
    n_x: int, m: int, n_y: int = 1, random_state: int = 0, dtype=np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic data of any benchmark shape: ``X (n_x, m)`` standard normal, ``Y (n_y, m)``.

    Labels come from a random linear rule plus 10% label noise, so the data set is neither
    trivial nor random.  ``make_classification(12288, 209)`` has the course's cat-image
    shape (64 x 64 x 3 pixels, 209 training images).
    """
    n_x, m, n_y = v.count(n_x, "n_x"), v.count(m, "m"), v.count(n_y, "n_y")
    rng = np.random.RandomState(random_state)
    X = rng.standard_normal((n_x, m))
    w = rng.standard_normal((n_y, n_x)) / np.sqrt(n_x)
    Y = (w @ X + 0.3 * rng.standard_normal((n_y, m))) > 0
    return X.astype(dtype), Y.astype(dtype)
