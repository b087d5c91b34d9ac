"""Concurrency: many Python threads calling the compiled kernels at once — each kernel with
its own internal threads above its size threshold — give exactly the single-caller answer
and never abort; results are reproducible for a fixed thread count.

(numba's default "workqueue" threading layer aborts on concurrent parallel launches; the
numba backend selects a thread-safe layer, which this test would catch.)
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import kernel_threads

import fastnn
from fastnn import logreg, mlp

#: (n_x, n_h, m): the course's small size (one thread inside), a mid size and one far above
#: the threading threshold (several threads inside)
SIZES = {"small": (2, 4, 400), "mid": (30, 16, 569), "large": (1024, 8, 1024)}
CALLERS = 6
CALLS_PER_CALLER = 4


def problem(size, seed):
    n_x, n_h, m = SIZES[size]
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_x, m))
    Y = (rng.rand(1, m) > 0.5).astype(float)
    params = mlp.initialize_parameters(n_x, n_h, 1, random_state=seed)
    params["W1"] *= 10
    return X, Y, params


def work(backend, X, Y, params):
    """A little of everything: train steps in place, propagate, dot, a short fit."""
    params = copy.deepcopy(params)
    costs = [mlp.train_step(params, X, Y, 0.5, backend=backend) for _ in range(3)]
    grads, cost = logreg.propagate(params["W1"][:1].T.copy(), 0.1, X, Y, backend=backend)
    d = fastnn.dot(X.ravel(), X.ravel()[::-1].copy(), backend=backend)
    fit = mlp.gradient_descent(params, X, Y, 5, 0.5, backend=backend)[0]
    return costs, params, grads["dw"], cost, d, fit


def assert_same(a, b):
    if isinstance(a, dict):
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("size", SIZES)
def test_concurrent_calls_match_one_caller(compiled_backend, size, two_kernel_threads):
    problems = [problem(size, seed) for seed in range(CALLERS)]
    expected = [work(compiled_backend, *p) for p in problems]
    jobs = [i % CALLERS for i in range(CALLERS * CALLS_PER_CALLER)]
    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        results = list(pool.map(lambda i: (i, work(compiled_backend, *problems[i])), jobs))
    for i, result in results:
        assert_same(result, expected[i])


def test_fixed_thread_count_is_reproducible(compiled_backend):
    X, Y, params = problem("large", 7)
    runs = []
    for n in (1, 2, 2, 1):
        with kernel_threads(n):
            runs.append(work(compiled_backend, X, Y, params))
    assert_same(runs[1], runs[2])  # same thread count: bitwise the same
    assert_same(runs[0], runs[3])
    # and a different split of the sums changes only the last bits
    np.testing.assert_allclose(runs[0][1]["W1"], runs[1][1]["W1"], rtol=1e-12, atol=1e-15)
