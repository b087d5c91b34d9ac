"""The ``numpy`` backend: the course's vectorized formulas, made numerically stable.

Every kernel is a handful of whole-array NumPy calls (``np.dot``, broadcasting); the
iteration loops of ``*_descend`` are Python loops around them, as in the course.
See :mod:`fastnn._backends` for the protocol.
"""

from __future__ import annotations

import numpy as np

from fastnn._backends import BAD_LABEL, NONFINITE, OK, RELU, TANH

NAME = "numpy"
VERSION = np.__version__

#: Non-finite values are reported by status (and then by fastnn's own errors and
#: warnings), so NumPy's floating-point warnings would only repeat them.
_quiet = np.errstate(over="ignore", invalid="ignore", divide="ignore")


def details() -> dict:
    from threadpoolctl import threadpool_info

    blas = [
        {k: info.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]
    return {"blas": blas}


# --- scalar-free building blocks --------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Stable logistic: ``1 / (1 + e^-z)`` for z >= 0, ``e^z / (1 + e^z)`` for z < 0."""
    e = np.exp(-np.abs(z))
    s = 1.0 / (1.0 + e)
    return np.where(z >= 0, s, e * s)


def _log_loss_sum(Z: np.ndarray, Y: np.ndarray) -> float:
    """``sum(softplus(Z) - Y*Z)`` from the logits, in float64.

    For labels in {0, 1} this is ``softplus(S)`` with ``S = (1 - 2Y) Z``, and
    ``softplus(s) = max(s, 0) + log1p(e^-|s|)`` is exact to rounding for every finite s.
    """
    S = (1.0 - 2.0 * Y) * Z
    loss = np.maximum(S, 0.0) + np.log1p(np.exp(-np.abs(S)))
    return float(np.sum(loss, dtype=np.float64))


def _bad_labels(Y: np.ndarray) -> bool:
    """True when a label is not exactly 0 or 1 (NaN included): ``y (1 - y) != 0``."""
    return bool(np.any(Y * (1.0 - Y)))


def _all_finite(cost: float, *arrays) -> bool:
    return np.isfinite(cost) and all(np.isfinite(a).all() for a in arrays)


def _activation(Z1: np.ndarray, activation: int) -> np.ndarray:
    if activation == TANH:
        return np.tanh(Z1)
    if activation == RELU:
        return np.maximum(Z1, 0.0)
    return _sigmoid(Z1)


def _activation_grad(A1: np.ndarray, activation: int) -> np.ndarray:
    """``g'(Z1)`` written in terms of ``A1 = g(Z1)``."""
    if activation == TANH:
        return 1.0 - A1 * A1
    if activation == RELU:
        return (A1 > 0).astype(A1.dtype)
    return A1 * (1.0 - A1)


# --- ops --------------------------------------------------------------------------------


def sigmoid(z: np.ndarray) -> np.ndarray:
    return _sigmoid(z)


@_quiet
def dot(a: np.ndarray, b: np.ndarray, n_threads: int = 1) -> float:
    return float(np.dot(a, b))


# --- logistic regression ----------------------------------------------------------------


def logreg_forward(w: np.ndarray, b: float, X: np.ndarray) -> np.ndarray:
    return _sigmoid(np.dot(w.T, X) + w.dtype.type(b))


def _logreg_gradients(w, b, X, Y):
    m = X.shape[1]
    Z = np.dot(w.T, X) + w.dtype.type(b)
    dZ = _sigmoid(Z) - Y
    dw = np.dot(X, dZ.T) / m
    db = float(np.sum(dZ, dtype=np.float64)) / m
    cost = _log_loss_sum(Z, Y) / m
    return dw, db, cost


@_quiet
def logreg_propagate(w, b, X, Y, n_threads=1):
    if _bad_labels(Y):
        return BAD_LABEL, None, 0.0, 0.0
    dw, db, cost = _logreg_gradients(w, b, X, Y)
    status = OK if _all_finite(cost + db, dw) else NONFINITE
    return status, dw, db, cost


@_quiet
def logreg_descend(w, b, X, Y, learning_rate, costs, dw, db, check, n_threads=1):
    if _bad_labels(Y):
        return BAD_LABEL, 0
    for i in range(len(costs)):
        grad_w, grad_b, cost = _logreg_gradients(w, b[0], X, Y)
        new_w = w - learning_rate * grad_w
        new_b = b[0] - learning_rate * grad_b
        # new = old - lr * grad is finite only if old and grad are: checking it is enough
        if check and not _all_finite(cost + new_b, new_w):
            return NONFINITE, i
        costs[i] = cost
        dw[...] = grad_w
        db[0] = grad_b
        w[...] = new_w
        b[0] = new_b
    return OK, len(costs)


# --- two-layer network ------------------------------------------------------------------


def mlp_forward(X, W1, b1, W2, b2, activation, n_threads=1):
    Z1 = np.dot(W1, X) + b1
    A1 = _activation(Z1, activation)
    Z2 = np.dot(W2, A1) + b2
    A2 = _sigmoid(Z2)
    return Z1, A1, Z2, A2


def mlp_cost(A2, Y):
    eps = np.finfo(A2.dtype).eps
    P = np.clip(A2, eps, 1.0 - eps)
    logprobs = Y * np.log(P) + (1.0 - Y) * np.log(1.0 - P)
    return -float(np.sum(logprobs, dtype=np.float64)) / A2.shape[1]


def _backward(X, Y, W2, A1, A2, activation, m):
    """The gradients divided by ``m`` (the number of examples: the means, as the course
    writes them; 1: the sums)."""
    dZ2 = A2 - Y
    dW2 = np.dot(dZ2, A1.T) / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = np.dot(W2.T, dZ2) * _activation_grad(A1, activation)
    dW1 = np.dot(dZ1, X.T) / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return dW1, db1, dW2, db2


def mlp_backward(X, Y, W2, A1, A2, activation, n_threads=1):
    return _backward(X, Y, W2, A1, A2, activation, X.shape[1])


def sgd_update(P, dP, learning_rate):
    return P - learning_rate * dP


@_quiet
def mlp_gradients(X, Y, W1, b1, W2, b2, activation, n_threads=1):
    if _bad_labels(Y):
        return BAD_LABEL, 0.0, None
    _Z1, A1, Z2, A2 = mlp_forward(X, W1, b1, W2, b2, activation)
    loss = _log_loss_sum(Z2, Y)
    grads = _backward(X, Y, W2, A1, A2, activation, 1)
    return (OK if _all_finite(loss, *grads) else NONFINITE), loss, grads


@_quiet
def mlp_descend(X, Y, W1, b1, W2, b2, learning_rate, activation, costs, check, n_threads=1):
    if _bad_labels(Y):
        return BAD_LABEL, 0
    m = X.shape[1]
    params = (W1, b1, W2, b2)
    for i in range(len(costs)):
        _Z1, A1, Z2, A2 = mlp_forward(X, W1, b1, W2, b2, activation)
        cost = _log_loss_sum(Z2, Y) / m
        grads = mlp_backward(X, Y, W2, A1, A2, activation)
        new = [P - learning_rate * dP for P, dP in zip(params, grads)]
        if check and not _all_finite(cost, *new):
            return NONFINITE, i
        costs[i] = cost
        for P, P_new in zip(params, new):
            P[...] = P_new
    return OK, len(costs)
