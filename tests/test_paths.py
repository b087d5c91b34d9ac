"""Every way a compiled backend runs a step -- one thread, a thread team, the BLAS for the
large products, many small blocks of examples -- gives the float64 reference in both
dtypes.  The paths are forced on small data through the documented tuning interface
(:mod:`fastnn.tuning`), so they are tested in seconds; the thread choice itself is
deterministic (it depends on the sizes only)."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from conftest import require_backend
from tolerances import FIT_RTOL, assert_close

import fastnn
from fastnn import logreg, mlp, tuning
from fastnn._dispatch import resolve

#: name -> tuning overrides forcing that path (a thread team needs num_threads=2)
PATHS = {
    "one-thread": {"parallel_work": 1 << 62, "blas_work": 1 << 62},
    "threads": {"parallel_work": 0, "num_threads": 2, "blas_work": 1 << 62, "blas_min_dim": 1 << 62},
    "blas": {"blas_work": 0, "blas_min_dim": 1, "blas_min_hidden": 1, "parallel_work": 0},
    "small-blocks": {"block_bytes": 0, "parallel_work": 1 << 62, "blas_work": 1 << 62},
    "small-blocks-threads": {"block_bytes": 0, "parallel_work": 0, "num_threads": 2, "blas_work": 1 << 62,
                             "blas_min_dim": 1 << 62},
}
#: (n_x, n_h, n_y, m): odd sizes everywhere (rows not a multiple of 4, a last block shorter
#: than a vector), a tall one, several outputs
SIZES = [(37, 5, 1, 203), (3, 7, 2, 61), (130, 3, 1, 33)]


@pytest.fixture(params=PATHS)
def path(request):
    with tuning.override(**PATHS[request.param]):
        yield request.param


@pytest.fixture(params=["numba", "cython"])
def backend(request):
    return require_backend(request.param)


def make(n_x, n_h, n_y, m, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, m)).astype(dtype)
    Y = (rng.random((n_y, m)) > 0.5).astype(dtype)
    params = {
        "W1": (rng.standard_normal((n_h, n_x)) / np.sqrt(n_x)).astype(dtype),
        "b1": (0.1 * rng.standard_normal((n_h, 1))).astype(dtype),
        "W2": (rng.standard_normal((n_y, n_h)) / np.sqrt(n_h)).astype(dtype),
        "b2": (0.1 * rng.standard_normal((n_y, 1))).astype(dtype),
    }
    return X, Y, params


@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_train_step(backend, path, dtype, size, activation):
    X, Y, params = make(*size, dtype)
    expected_cost, expected = ref.mlp_step(X, Y, params, 0.5, activation)
    cost = mlp.train_step(params, X, Y, 0.5, activation, backend=backend)
    assert_close(cost, expected_cost, dtype, what="cost")
    for k in params:
        assert params[k].dtype == dtype
        assert_close(params[k], expected[k], dtype, what=k)


def test_fit(backend, path, dtype):
    X, Y, params = make(*SIZES[0], dtype)
    got, _ = mlp.gradient_descent(params, X, Y, 30, 0.5, "tanh", backend=backend)
    expected = params
    for _ in range(30):
        _, expected = ref.mlp_step(X, Y, expected, 0.5)
    for k in expected:
        assert_close(got[k], expected[k], dtype, FIT_RTOL[dtype], k)


@pytest.mark.parametrize("size", [(37, 203), (5, 1000), (300, 17)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_propagate_and_optimize(backend, path, dtype, size):
    n_x, m = size
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n_x, m)).astype(dtype)
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    w = (rng.standard_normal((n_x, 1)) / np.sqrt(n_x)).astype(dtype)
    grads, cost = logreg.propagate(w, 0.25, X, Y, backend=backend)
    dw, db, expected_cost = ref.logreg_propagate(w, 0.25, X, Y)
    assert_close(grads["dw"], dw, dtype, what="dw")
    assert_close(grads["db"], db, dtype, what="db")
    assert_close(cost, expected_cost, dtype, what="cost")
    params, grads, costs = logreg.optimize(w, 0.25, X, Y, 120, 0.1, backend=backend)
    w_ref, b_ref, dw_ref, _, costs_ref = ref.logreg_optimize(w, 0.25, X, Y, 120, 0.1)
    assert_close(params["w"], w_ref, dtype, FIT_RTOL[dtype], "w")
    assert_close(params["b"], b_ref, dtype, FIT_RTOL[dtype], "b")
    assert_close(grads["dw"], dw_ref, dtype, FIT_RTOL[dtype], "dw")
    assert_close(costs, costs_ref[::100], dtype, FIT_RTOL[dtype], "costs")


def test_dot(backend, path, dtype):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(100_003).astype(dtype), rng.standard_normal(100_003).astype(dtype)
    expected = float(np.dot(a.astype(np.float64), b.astype(np.float64)))
    scale = float(np.abs(a.astype(float)) @ np.abs(b.astype(float)))
    tol = 1e-13 if dtype == np.float64 else 1e-6  # the float32 result is rounded to float32
    assert abs(float(fastnn.dot(a, b, backend=backend)) - expected) <= tol * scale


@pytest.mark.parametrize("name", ["numpy", "python", "numba", "cython"])
def test_gradients_kernel_sums_over_the_examples(name, dtype):
    """``mlp_gradients``: the loss and gradients summed over the examples (the partial sums
    of one chunk of a data set), in every backend."""
    kernels = resolve(require_backend(name))
    X, Y, params = make(5, 3, 1, 41, dtype)
    status, loss, grads = kernels.mlp_gradients(X, Y, *(params[k] for k in ("W1", "b1", "W2", "b2")), 0, 1)
    assert status == 0
    m = X.shape[1]
    _Z1, A1, Z2, A2 = ref.mlp_forward(X, params)
    expected = ref.mlp_backward(X, Y, params, A1, A2)
    assert_close(loss, ref.log_loss(Z2, Y) * m, dtype, what="loss")
    for got, key in zip(grads, ("dW1", "db1", "dW2", "db2")):
        assert_close(got, expected[key] * m, dtype, what=key)


def test_same_threads_same_bits(backend, dtype):
    """A thread team splits the sums the same way every time: bitwise reproducible."""
    X, Y, params = make(64, 8, 1, 999, dtype)
    results = []
    for _ in range(3):
        p = {k: v.copy() for k, v in params.items()}
        with tuning.override(parallel_work=0, num_threads=2):
            mlp.gradient_descent(p, X, Y, 5, 0.5, backend=backend)
            results.append(mlp.gradient_descent(p, X, Y, 5, 0.5, backend=backend)[0])
    for r in results[1:]:
        for k in r:
            np.testing.assert_array_equal(r[k], results[0][k])


def test_override_restores_and_refuses_unknown_knobs():
    before = tuning.settings()
    with tuning.override(parallel_work=0, num_threads=1):
        assert tuning.PARALLEL_WORK == 0 and fastnn.get_num_threads() == 1
    assert tuning.settings() == before
    with pytest.raises(TypeError, match="unknown tuning knob"):
        with tuning.override(parallel_threads=3):
            pass
    assert tuning.threads_for(tuning.PARALLEL_WORK, 4) == 4
    assert tuning.threads_for(tuning.PARALLEL_WORK - 1, 4) == 1
