"""An independent float64 reference for every kernel, written from the formulas.

It shares no code with fastnn: the logistic function is ``scipy.special.expit``, the loss
``np.logaddexp(0, (1 - 2y) z)`` (= softplus(z) - y z for y in {0, 1}), products ``@``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

ACTIVATIONS = {
    "tanh": (np.tanh, lambda A: 1.0 - A**2),
    "relu": (lambda Z: np.where(Z > 0, Z, 0.0), lambda A: (A > 0).astype(float)),
    "sigmoid": (expit, lambda A: A * (1.0 - A)),
}


def f64(*arrays):
    return tuple(np.asarray(a, dtype=np.float64) for a in arrays)


def log_loss(Z, Y):
    Z, Y = f64(Z, Y)
    return float(np.logaddexp(0.0, (1.0 - 2.0 * Y) * Z).sum() / Z.shape[1])


def logreg_propagate(w, b, X, Y):
    w, X, Y = f64(w, X, Y)
    m = X.shape[1]
    Z = w.T @ X + float(b)
    dZ = expit(Z) - Y
    return X @ dZ.T / m, float(dZ.sum() / m), log_loss(Z, Y)


def logreg_optimize(w, b, X, Y, num_iterations, learning_rate):
    w, X, Y = f64(w, X, Y)
    b = float(b)
    costs = []
    for _ in range(num_iterations):
        dw, db, cost = logreg_propagate(w, b, X, Y)
        costs.append(cost)
        w = w - learning_rate * dw
        b = b - learning_rate * db
    return w, b, dw, db, costs


def mlp_forward(X, params, activation="tanh"):
    X, W1, b1, W2, b2 = f64(X, params["W1"], params["b1"], params["W2"], params["b2"])
    g, _ = ACTIVATIONS[activation]
    Z1 = W1 @ X + b1
    A1 = g(Z1)
    Z2 = W2 @ A1 + b2
    return Z1, A1, Z2, expit(Z2)


def mlp_backward(X, Y, params, A1, A2, activation="tanh"):
    X, Y, W2, A1, A2 = f64(X, Y, params["W2"], A1, A2)
    _, g_prime = ACTIVATIONS[activation]
    m = X.shape[1]
    dZ2 = A2 - Y
    dZ1 = (W2.T @ dZ2) * g_prime(A1)
    return {
        "dW1": dZ1 @ X.T / m,
        "db1": dZ1.sum(axis=1, keepdims=True) / m,
        "dW2": dZ2 @ A1.T / m,
        "db2": dZ2.sum(axis=1, keepdims=True) / m,
    }


def mlp_step(X, Y, params, learning_rate, activation="tanh"):
    """(cost before the update, updated parameters) of one training step."""
    _Z1, A1, Z2, A2 = mlp_forward(X, params, activation)
    grads = mlp_backward(X, Y, params, A1, A2, activation)
    new = {k: np.asarray(params[k], float) - learning_rate * grads["d" + k] for k in ("W1", "b1", "W2", "b2")}
    return log_loss(Z2, Y), new


def course_cost(A2, Y):
    A2, Y = f64(A2, Y)
    return float(-(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)).sum() / A2.shape[1])
