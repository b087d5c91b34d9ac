"""One case table, every backend x dtype (x activation): agreement with the float64 reference.

Tolerances (``tolerances.py``): ~1e-12 relative in float64 for single ops, ~1e-5 in float32;
whole fits compound rounding, so they get a looser bound.  float32 inputs are compared with
the reference computed in float64 from the same (float32-rounded) values.
"""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from tolerances import FIT_RTOL, assert_close

import fastnn
from fastnn import logreg, mlp

#: (n_x, n_h, n_y, m): a 1x1 net, the course's planar size, tall, wide, several outputs, and
#: a block of X larger than the L2 cache (the products take its rows in chunks)
CASES = [(1, 1, 1, 1), (2, 4, 1, 400), (3, 5, 2, 7), (50, 3, 1, 9), (1, 2, 1, 1000), (13, 7, 3, 64),
         (1500, 5, 1, 51)]
CASE_IDS = [f"{n_x}x{n_h}x{n_y}x{m}" for n_x, n_h, n_y, m in CASES]
ACTIVATIONS = ("tanh", "relu", "sigmoid")


def make_case(n_x, n_h, n_y, m, dtype, seed=0, scale=1.0):
    """Data, labels and parameters whose logits span a few units (no saturation)."""
    rng = np.random.RandomState(seed)
    X = (rng.standard_normal((n_x, m)) * scale).astype(dtype)
    Y = (rng.rand(n_y, m) > 0.5).astype(dtype)
    params = {
        "W1": (rng.standard_normal((n_h, n_x)) / np.sqrt(n_x)).astype(dtype),
        "b1": (0.1 * rng.standard_normal((n_h, 1))).astype(dtype),
        "W2": (rng.standard_normal((n_y, n_h)) / np.sqrt(n_h)).astype(dtype),
        "b2": (0.1 * rng.standard_normal((n_y, 1))).astype(dtype),
    }
    w = (rng.standard_normal((n_x, 1)) / np.sqrt(n_x)).astype(dtype)
    b = float(np.asarray(0.3, dtype=dtype))
    return X, Y, params, w, b


@pytest.fixture(params=CASES, ids=CASE_IDS)
def case(request):
    return request.param


def _skip_slow(backend, m, n_x=1, n_h=1):
    if backend == "python" and m * max(n_x, 1) * max(n_h, 1) > 20000:
        pytest.skip("the python loops are covered by the smaller cases")


# --- ops --------------------------------------------------------------------------------


def test_sigmoid(backend, dtype):
    z = np.array([-750.0, -40.0, -1.0, -1e-300, 0.0, 1e-8, 0.5, 3.0, 36.0, 800.0]).astype(dtype)
    out = fastnn.sigmoid(z, backend=backend)
    assert out.dtype == dtype and out.shape == z.shape
    assert_close(out, ref.expit(z.astype(np.float64)), dtype)


def test_sigmoid_keeps_shape(backend, dtype):
    z = np.linspace(-5, 5, 24).reshape(2, 3, 4).astype(dtype)
    out = fastnn.sigmoid(z, backend=backend)
    assert out.shape == (2, 3, 4) and out.dtype == dtype
    assert isinstance(fastnn.sigmoid(0.0, backend=backend), np.floating)


@pytest.mark.parametrize("n", [1, 7, 1000, 100_003])
def test_dot(backend, dtype, n):
    if backend == "python" and n > 1000:
        pytest.skip("the python loop is covered by the smaller sizes")
    rng = np.random.RandomState(n)
    a, b = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    got = fastnn.dot(a, b, backend=backend)
    assert got.dtype == dtype
    expected = float(np.dot(a.astype(np.float64), b.astype(np.float64)))
    scale = float(np.abs(a.astype(float)) @ np.abs(b.astype(float)))  # the rounding error bound's scale
    tol = {np.float64: 1e-13, np.float32: 1e-6}[dtype.type]
    assert abs(float(got) - expected) <= tol * scale


# --- logistic regression ------------------------------------------------------------------


def test_logreg_forward(backend, dtype, case):
    n_x, _, _, m = case
    _skip_slow(backend, m, n_x)
    X, _, _, w, b = make_case(*case, dtype)
    A = logreg.forward(w, b, X, backend=backend)
    assert A.dtype == dtype and A.shape == (1, m)
    assert_close(A, ref.expit(ref.f64(w)[0].T @ X.astype(float) + b), dtype)


def test_logreg_propagate(backend, dtype, case):
    n_x, _, _, m = case
    _skip_slow(backend, m, n_x)
    X, Y, _, w, b = make_case(*case, dtype)
    Y = Y[:1]
    grads, cost = logreg.propagate(w, b, X, Y, backend=backend)
    dw, db, expected_cost = ref.logreg_propagate(w, b, X, Y)
    assert grads["dw"].dtype == dtype and grads["dw"].shape == (n_x, 1)
    assert_close(grads["dw"], dw, dtype, what="dw")
    assert_close(grads["db"], db, dtype, what="db")
    assert_close(cost, expected_cost, dtype, what="cost")


def test_logreg_optimize(backend, dtype, case):
    n_x, _, _, m = case
    _skip_slow(backend, m * 30, n_x)
    X, Y, _, w, b = make_case(*case, dtype)
    Y = Y[:1]
    params, grads, costs = logreg.optimize(w, b, X, Y, num_iterations=250, learning_rate=0.05, backend=backend)
    w_ref, b_ref, dw_ref, _db_ref, costs_ref = ref.logreg_optimize(w, b, X, Y, 250, 0.05)
    rtol = FIT_RTOL[dtype]
    assert params["w"].dtype == dtype
    assert_close(params["w"], w_ref, dtype, rtol, "w")
    assert_close(params["b"], b_ref, dtype, rtol, "b")
    assert_close(grads["dw"], dw_ref, dtype, rtol, "dw")
    assert_close(costs, costs_ref[::100], dtype, rtol, "costs")


# --- the 2-layer network ------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_propagation(backend, dtype, case, activation):
    n_x, n_h, _, m = case
    _skip_slow(backend, m, n_x, n_h)
    X, _, params, _, _ = make_case(*case, dtype)
    A2, cache = mlp.forward_propagation(X, params, activation, backend=backend)
    for name, expected in zip(("Z1", "A1", "Z2", "A2"), ref.mlp_forward(X, params, activation)):
        assert cache[name].dtype == dtype
        assert_close(cache[name], expected, dtype, what=name)
    assert A2 is cache["A2"] or np.array_equal(A2, cache["A2"])


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_propagation(backend, dtype, case, activation):
    n_x, n_h, _, m = case
    _skip_slow(backend, m, n_x, n_h)
    X, Y, params, _, _ = make_case(*case, dtype)
    _, A1, _, A2 = (a.astype(dtype) for a in ref.mlp_forward(X, params, activation))
    grads = mlp.backward_propagation(params, {"A1": A1, "A2": A2}, X, Y, activation, backend=backend)
    expected = ref.mlp_backward(X, Y, params, A1, A2, activation)
    for name in ("dW1", "db1", "dW2", "db2"):
        assert grads[name].dtype == dtype and grads[name].shape == expected[name].shape
        assert_close(grads[name], expected[name], dtype, what=name)


def test_compute_cost(backend, dtype, case):
    _, _, n_y, m = case
    rng = np.random.RandomState(3)
    A2 = rng.uniform(0.01, 0.99, (n_y, m)).astype(dtype)
    Y = (rng.rand(n_y, m) > 0.5).astype(dtype)
    cost = mlp.compute_cost(A2, Y, backend=backend)
    assert type(cost) is float
    assert_close(cost, ref.course_cost(A2, Y), dtype)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_train_step(backend, dtype, case, activation):
    n_x, n_h, _, m = case
    _skip_slow(backend, m, n_x, n_h)
    X, Y, params, _, _ = make_case(*case, dtype)
    expected_cost, expected = ref.mlp_step(X, Y, params, 0.5, activation)
    arrays = {k: params[k] for k in params}
    cost = mlp.train_step(params, X, Y, learning_rate=0.5, activation=activation, backend=backend)
    assert type(cost) is float
    assert_close(cost, expected_cost, dtype, what="cost")
    for name in expected:
        assert params[name] is arrays[name]  # updated in place, same arrays
        assert params[name].dtype == dtype
        assert_close(params[name], expected[name], dtype, what=name)


def test_update_parameters(backend, dtype):
    _, _, params, _, _ = make_case(3, 4, 2, 5, dtype)
    grads = {"d" + k: np.full_like(v, 0.25) for k, v in params.items()}
    new = mlp.update_parameters(params, grads, 0.4, backend=backend)
    for k, v in params.items():
        assert new[k].dtype == dtype and new[k] is not v
        assert_close(new[k], v.astype(float) - 0.1, dtype, what=k)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_nn_model_matches_repeated_steps(backend, dtype, activation):
    X, Y, _, _, _ = make_case(3, 5, 1, 40, dtype, seed=4)
    p = mlp.nn_model(X, Y, 5, num_iterations=60, learning_rate=0.5, random_state=0, activation=activation, backend=backend)
    q = {k: v.astype(np.float64) for k, v in mlp.initialize_parameters(3, 5, 1, random_state=0, dtype=dtype).items()}
    for _ in range(60):
        _, q = ref.mlp_step(X, Y, q, 0.5, activation)
    for k in q:
        assert p[k].dtype == dtype
        assert_close(p[k], q[k], dtype, FIT_RTOL[dtype], k)


def test_predict(backend, dtype):
    X, _, params, w, b = make_case(4, 3, 2, 30, dtype)
    _, _, _, A2 = ref.mlp_forward(X, params)
    np.testing.assert_array_equal(mlp.predict(params, X, backend=backend), A2 > 0.5)
    A = ref.expit(ref.f64(w)[0].T @ X.astype(float) + b)
    pred = logreg.predict(w, b, X, backend=backend)
    assert pred.dtype == dtype
    np.testing.assert_array_equal(pred, (A > 0.5).astype(float))


def test_large_logits_stay_finite(backend, dtype):
    """Logits of +-1e3 and beyond: finite cost and gradients (the loss comes from the logits)."""
    X = np.array([[1.0, -1.0, 1.0, -1.0]], dtype=dtype)
    Y = np.array([[1, 0, 0, 1]], dtype=dtype)
    for scale in (1e3, 1e30 if dtype == np.float32 else 1e300):
        w = np.array([[scale]], dtype=dtype)
        grads, cost = logreg.propagate(w, 0.0, X, Y, backend=backend)
        assert np.isfinite(cost) and np.isfinite(grads["dw"]).all() and np.isfinite(grads["db"])
        assert_close(cost, 0.5 * float(scale), dtype)  # two right (loss ~0), two wrong (loss ~|z|)
