"""Extreme values in every backend and dtype: logits of +-1e3 and +-1e300 (float32: its
largest finite range) give finite cost and gradients; a diverging fit is detected and
reported per the documented policy (fastnn._fit) instead of returning NaN weights."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import logreg, mlp


def huge(dtype):
    return [1e3, 1e30] if np.dtype(dtype) == np.float32 else [1e3, 1e300]


@pytest.mark.parametrize("sign", [1, -1])
def test_huge_output_logits_give_finite_training(backend, dtype, sign):
    X = np.array([[1.0, -1.0, 0.5, -0.5]], dtype=dtype)
    Y = np.array([[1, 0, 0, 1]], dtype=dtype)
    for scale in huge(dtype):
        params = {
            "W1": np.array([[1.0]], dtype=dtype),
            "b1": np.zeros((1, 1), dtype=dtype),
            "W2": np.array([[sign * scale]], dtype=dtype),  # A1 = tanh(x) in (-1, 1): |Z2| ~ scale
            "b2": np.zeros((1, 1), dtype=dtype),
        }
        A2, cache = mlp.forward_propagation(X, params, backend=backend)
        assert np.isfinite(cache["Z2"]).all() and ((A2 >= 0) & (A2 <= 1)).all()
        grads = mlp.backward_propagation(params, cache, X, Y, backend=backend)
        assert all(np.isfinite(g).all() for g in grads.values())
        cost = mlp.train_step(params, X, Y, learning_rate=1e-9, backend=backend)
        assert np.isfinite(cost) and cost > 0.1 * scale  # two examples are wrong by ~|Z2|
        assert all(np.isfinite(p).all() for p in params.values())


def test_huge_hidden_logits(backend, dtype):
    X = np.array([[1.0, -1.0, 2.0]], dtype=dtype)
    Y = np.array([[1, 0, 1]], dtype=dtype)
    for activation in ("tanh", "relu", "sigmoid"):
        for scale in huge(dtype):
            params = {"W1": np.array([[scale], [-scale]], dtype=dtype), "b1": np.zeros((2, 1), dtype=dtype),
                      "W2": np.array([[0.5, -0.5]], dtype=dtype), "b2": np.zeros((1, 1), dtype=dtype)}
            if activation == "relu":  # relu passes |Z1| ~ scale on: keep Z2 finite
                params["W2"] = np.array([[1.0 / scale, -1.0 / scale]], dtype=dtype)
            A2, cache = mlp.forward_propagation(X, params, activation, backend=backend)
            assert np.isfinite(cache["A1"]).all() and np.isfinite(A2).all()
            grads = mlp.backward_propagation(params, cache, X, Y, activation, backend=backend)
            assert all(np.isfinite(g).all() for g in grads.values()), (activation, scale)


def test_sigmoid_saturates_without_nan(backend, dtype):
    big = np.finfo(dtype).max
    z = np.array([-big, -1e4, -745.0, -89.0, 89.0, 745.0, 1e4, big], dtype=dtype)
    s = fastnn.sigmoid(z, backend=backend)
    assert np.isfinite(s).all()
    np.testing.assert_array_equal(s[[0, 1, -2, -1]], [0.0, 0.0, 1.0, 1.0])


def test_diverging_nn_model_warns_and_keeps_finite_parameters(fast_backend):
    X, Y = fastnn.datasets.load_planar()
    X = X * 1e100  # relu is unbounded: the updates blow up within a few steps
    with pytest.warns(fastnn.DivergenceWarning, match=r"nn_model diverged.*iteration \d+.*learning_rate=1e\+200"):
        params = mlp.nn_model(X, Y, 4, num_iterations=200, learning_rate=1e200, random_state=0,
                              activation="relu", backend=fast_backend)
    assert all(np.isfinite(p).all() for p in params.values())


def test_diverging_optimize_warns_and_keeps_finite_parameters(backend):
    X = np.array([[1e150, -2e150, 3e150]])
    Y = np.array([[1, 0, 1]])
    with pytest.warns(fastnn.DivergenceWarning, match="optimize diverged"):
        params, _grads, costs = logreg.optimize(np.zeros((1, 1)), 0.0, X, Y, 50, 1e200, backend=backend)
    assert np.isfinite(params["w"]).all() and np.isfinite(params["b"])
    assert all(np.isfinite(costs))


def test_overflowing_single_step_raises_and_leaves_parameters(backend):
    X = np.array([[1e10, -1e10]])
    Y = np.array([[1.0, 0.0]])
    # finite logits (Z1 = +-1) and gradients (dW1 ~ 1e9), but learning_rate * dW1 overflows
    params = {"W1": np.array([[1e-10]]), "b1": np.zeros((1, 1)), "W2": np.array([[-1.0]]), "b2": np.zeros((1, 1))}
    before = copy.deepcopy(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's own overflow notes
        with pytest.raises(FloatingPointError, match="train_step: the result is not finite although every input is"):
            mlp.train_step(params, X, Y, learning_rate=1e300, backend=backend)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
