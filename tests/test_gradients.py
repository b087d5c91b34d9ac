"""Finite-difference checks: every backend's gradients are the derivatives of its own cost.

Central differences in float64 with step h = 1e-6 (truncation error O(h^2) ~ 1e-12, rounding
~ eps/h ~ 1e-10): agreement to 1e-6 relative proves the analytic gradient right, and a wrong
sign, factor or transpose anywhere would fail by orders of magnitude.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastnn import logreg, mlp

H = 1e-6
RTOL = 1e-6


def numerical_gradient(f, x: np.ndarray) -> np.ndarray:
    """d f / d x by central differences, perturbing ``x`` in place one entry at a time."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        saved = x[idx]
        x[idx] = saved + H
        up = f()
        x[idx] = saved - H
        down = f()
        x[idx] = saved
        grad[idx] = (up - down) / (2 * H)
    return grad


def assert_gradient(analytic, numeric, name):
    scale = max(np.abs(numeric).max(), 1e-8)
    np.testing.assert_allclose(analytic, numeric, rtol=RTOL, atol=RTOL * scale, err_msg=name)


def test_logreg_gradients(backend):
    rng = np.random.RandomState(0)
    X, Y = rng.standard_normal((3, 25)), (rng.rand(1, 25) > 0.5)
    w, b = rng.standard_normal((3, 1)), np.array([0.2])
    grads, _ = logreg.propagate(w, b[0], X, Y, backend=backend)

    def cost():
        return float(logreg.propagate(w, b[0], X, Y, backend=backend)[1])

    assert_gradient(grads["dw"], numerical_gradient(cost, w), "dw")
    assert_gradient(grads["db"], numerical_gradient(cost, b)[0], "db")


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("n_y", [1, 2])
def test_mlp_gradients(backend, activation, n_y):
    rng = np.random.RandomState(1)
    X, Y = rng.standard_normal((3, 20)), (rng.rand(n_y, 20) > 0.5)
    params = {
        "W1": rng.standard_normal((4, 3)),
        "b1": rng.standard_normal((4, 1)) * 0.5,
        "W2": rng.standard_normal((n_y, 4)),
        "b2": rng.standard_normal((n_y, 1)) * 0.5,
    }
    _, cache = mlp.forward_propagation(X, params, activation, backend=backend)
    if activation == "relu":  # keep clear of the kink at 0, where the derivative jumps
        assert np.abs(cache["Z1"]).min() > 10 * H
    grads = mlp.backward_propagation(params, cache, X, Y, activation, backend=backend)

    def cost():
        A2, _ = mlp.forward_propagation(X, params, activation, backend=backend)
        return mlp.compute_cost(A2, Y, backend=backend)

    for name in ("W1", "b1", "W2", "b2"):
        assert_gradient(grads["d" + name], numerical_gradient(cost, params[name]), "d" + name)


def test_train_step_descends_its_own_gradient(backend):
    """train_step's update is -learning_rate times the finite-difference gradient."""
    rng = np.random.RandomState(2)
    X, Y = rng.standard_normal((2, 30)), (rng.rand(1, 30) > 0.5)
    params = {"W1": rng.standard_normal((3, 2)), "b1": np.zeros((3, 1)), "W2": rng.standard_normal((1, 3)), "b2": np.zeros((1, 1))}
    before = {k: v.copy() for k, v in params.items()}

    def cost():
        A2, _ = mlp.forward_propagation(X, params, backend=backend)
        return mlp.compute_cost(A2, Y, backend=backend)

    numeric = {k: numerical_gradient(cost, params[k]) for k in params}
    mlp.train_step(params, X, Y, learning_rate=0.1, backend=backend)
    for k in params:
        assert_gradient((before[k] - params[k]) / 0.1, numeric[k], k)
