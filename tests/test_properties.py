"""Property-based differential tests (hypothesis): random shapes (1x1, very tall, very
wide), dtypes, activations and values; every backend agrees with the float64 reference.

Bounded for CI by the ``ci`` profile (see conftest.py).  The long-run mode explores far
more examples:

    HYPOTHESIS_PROFILE=long pytest tests/test_properties.py
"""

from __future__ import annotations

import numpy as np
import reference as ref
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import fastnn
from fastnn import logreg, mlp

ACTIVATIONS = ("tanh", "relu", "sigmoid")
DTYPES = (np.float64, np.float32)
#: error allowed relative to the scale of the terms summed (the rounding-error bound)
TOL = {np.float64: 1e-11, np.float32: 2e-4}


@st.composite
def shapes(draw):
    """(n_x, n_h, n_y, m): small, very tall (n_x >> m) or very wide (m >> n_x)."""
    kind = draw(st.sampled_from(["small", "tall", "wide"]))
    if kind == "small":
        return draw(st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 3), st.integers(1, 12)))
    if kind == "tall":
        return draw(st.tuples(st.integers(50, 400), st.integers(1, 5), st.integers(1, 2), st.integers(1, 4)))
    return draw(st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 2), st.integers(200, 3000)))


def values(shape, dtype, bound):
    bound = float(np.asarray(bound, dtype=dtype))  # representable in the dtype
    return arrays(dtype, shape, elements=st.floats(-bound, bound, width=np.dtype(dtype).itemsize * 8))


@st.composite
def mlp_problems(draw):
    n_x, n_h, n_y, m = draw(shapes())
    dtype = draw(st.sampled_from(DTYPES))
    scale = 1.0 / np.sqrt(n_x)
    X = draw(values((n_x, m), dtype, 3.0))
    Y = draw(arrays(dtype, (n_y, m), elements=st.sampled_from([0.0, 1.0])))
    params = {
        "W1": draw(values((n_h, n_x), dtype, 2 * scale)),
        "b1": draw(values((n_h, 1), dtype, 1.0)),
        "W2": draw(values((n_y, n_h), dtype, 2.0)),
        "b2": draw(values((n_y, 1), dtype, 1.0)),
    }
    return X, Y, params, draw(st.sampled_from(ACTIVATIONS)), np.dtype(dtype)


def assert_within_bound(actual, expected, bound, dtype, what):
    err = np.abs(np.asarray(actual, dtype=np.float64) - expected)
    allowed = TOL[dtype.type] * (np.asarray(bound) + 1e-30)
    assert (err <= allowed).all(), f"{what}: max error {err.max():.3g}, allowed {allowed.min():.3g}"


@given(problem=mlp_problems())
def test_train_step_agrees_with_reference(fast_backend, problem):
    X, Y, params, activation, dtype = problem
    cost_ref, new_ref = ref.mlp_step(X, Y, params, 0.1, activation)
    # scales of the terms: |gradients| are bounded by sums of |dZ| |inputs|
    _, A1, _, _ = ref.mlp_forward(X, params, activation)
    m = X.shape[1]
    absX = np.abs(X.astype(float))
    bound_W1 = np.abs(params["W2"].astype(float)).T.sum(axis=1, keepdims=True) * absX.sum(axis=1) / m + np.abs(params["W1"])
    bound = {
        "W1": bound_W1 + 1.0,
        "b1": np.abs(params["b1"]) + 1.0 + np.abs(params["W2"]).T.sum(axis=1, keepdims=True),
        "W2": np.abs(params["W2"]) + 1.0 + np.abs(A1).sum(axis=1) / m,
        "b2": np.abs(params["b2"]) + 1.0,
    }
    cost = mlp.train_step(params, X, Y, learning_rate=0.1, activation=activation, backend=fast_backend)
    assert_within_bound(cost, cost_ref, abs(cost_ref) + 1.0, dtype, "cost")
    for name, new in new_ref.items():
        assert params[name].dtype == dtype
        assert_within_bound(params[name], new, bound[name], dtype, name)


@given(problem=mlp_problems())
def test_forward_agrees_with_reference(backend, problem):
    X, _, params, activation, dtype = problem
    if backend == "python" and X.size * params["W1"].shape[0] > 5000:
        return  # the loops are exercised by the small shapes
    A2, cache = mlp.forward_propagation(X, params, activation, backend=backend)
    Z1, _A1, _Z2, A2_ref = ref.mlp_forward(X, params, activation)
    bound_Z1 = np.abs(params["W1"].astype(float)) @ np.abs(X.astype(float)) + np.abs(params["b1"])
    assert_within_bound(cache["Z1"], Z1, bound_Z1, dtype, "Z1")
    assert_within_bound(A2, A2_ref, 1.0, dtype, "A2")


@given(
    z=arrays(np.float64, st.integers(1, 300), elements=st.floats(allow_nan=False, allow_infinity=False)),
    dtype=st.sampled_from(DTYPES).map(np.dtype),
)
def test_sigmoid_is_a_probability_and_matches(backend, z, dtype):
    with np.errstate(over="ignore"):
        z = z.astype(dtype)
    z = z[np.isfinite(z)]
    if z.size == 0:
        return
    s = fastnn.sigmoid(z, backend=backend)
    assert s.dtype == dtype and ((s >= 0) & (s <= 1)).all()
    expected = ref.expit(z.astype(np.float64))
    np.testing.assert_allclose(s, expected, rtol=TOL[dtype.type] / 10, atol=np.finfo(dtype).tiny)


@given(
    w=arrays(np.float64, st.integers(1, 5).map(lambda n: (n, 1)), elements=st.floats(-1e6, 1e6)),
    b=st.floats(-1e3, 1e3),
    m=st.integers(1, 40),
    seed=st.integers(0, 2**31 - 1),
)
def test_propagate_finite_for_any_finite_input(fast_backend, w, b, m, seed):
    """Huge logits never give NaN or inf: the loss comes from the logits."""
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((w.shape[0], m)) * 100
    Y = (rng.rand(1, m) > 0.5).astype(float)
    grads, cost = logreg.propagate(w, b, X, Y, backend=fast_backend)
    dw, _db, cost_ref = ref.logreg_propagate(w, b, X, Y)
    assert np.isfinite(cost) and np.isfinite(grads["dw"]).all() and np.isfinite(grads["db"])
    np.testing.assert_allclose(cost, cost_ref, rtol=1e-10)
    bound = np.abs(X).sum(axis=1, keepdims=True) / m
    assert_within_bound(grads["dw"], dw, bound, np.dtype(np.float64), "dw")
