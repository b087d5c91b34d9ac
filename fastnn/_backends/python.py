"""The ``python`` backend: explicit ``for`` loops over Python floats — the "before" picture.

Arrays are turned into nested lists once per kernel call (``tolist``), every inner loop
works on Python floats with :mod:`math`, and results go back into arrays of the caller's
dtype.  No NumPy call appears inside a loop.  See :mod:`fastnn._backends` for the protocol.
"""

from __future__ import annotations

import math
import platform

import numpy as np

from fastnn._backends import BAD_LABEL, NONFINITE, OK, RELU, TANH

NAME = "python"
VERSION = platform.python_version()


def details() -> dict:
    return {"implementation": platform.python_implementation()}


# --- scalar math ------------------------------------------------------------------------


def _sigmoid(z: float) -> float:
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _softplus(s: float) -> float:
    """``log(1 + e^s)``, stable: ``s + log1p(e^-s)`` for s > 0, ``log1p(e^s)`` otherwise."""
    if s > 0.0:
        return s + math.log1p(math.exp(-s))
    return math.log1p(math.exp(s))


def _log_loss(z: float, y: float) -> float:
    """``softplus(z) - y z`` for a label in {0, 1}: ``softplus(-z)`` if y else ``softplus(z)``."""
    return _softplus(-z if y else z)


def _g(z: float, activation: int) -> float:
    if activation == TANH:
        return math.tanh(z)
    if activation == RELU:
        return z if z > 0.0 else 0.0
    return _sigmoid(z)


def _g_prime(a: float, activation: int) -> float:
    """``g'(z)`` in terms of ``a = g(z)``."""
    if activation == TANH:
        return 1.0 - a * a
    if activation == RELU:
        return 1.0 if a > 0.0 else 0.0
    return a * (1.0 - a)


#: Doubles below this magnitude round to a finite float32 (the midpoint between float32's
#: largest value and 2^128); the loops compute in Python floats, so a float32 result must
#: be checked against it to overflow where the other backends do.
_F32_LIMIT = 3.4028235677973366e38


def _finite(*values: float, dtype=np.float64) -> bool:
    """Whether every value is finite in ``dtype`` (float32: after rounding to float32)."""
    if dtype == np.float32:
        return all(abs(v) < _F32_LIMIT for v in values)  # False for NaN too
    return all(math.isfinite(v) for v in values)


def _bad_labels(Y: list[list[float]]) -> bool:
    return any(y != 0.0 and y != 1.0 for row in Y for y in row)


def _column(values: list[float], dtype) -> np.ndarray:
    return np.array(values, dtype=dtype).reshape(-1, 1)


# --- ops --------------------------------------------------------------------------------


def sigmoid(z: np.ndarray) -> np.ndarray:
    out = [_sigmoid(v) for v in z.ravel().tolist()]
    return np.array(out, dtype=z.dtype).reshape(z.shape)


def dot(a: np.ndarray, b: np.ndarray, n_threads: int = 1) -> float:
    a, b = a.tolist(), b.tolist()
    c = 0.0
    for i in range(len(a)):
        c += a[i] * b[i]
    return c


# --- logistic regression ----------------------------------------------------------------


def _logits(w: list[float], b: float, X: list[list[float]], m: int) -> list[float]:
    z = [b] * m
    for i, x_row in enumerate(X):
        wi = w[i]
        for k in range(m):
            z[k] += wi * x_row[k]
    return z


def logreg_forward(w, b, X):
    m = X.shape[1]
    z = _logits(w.ravel().tolist(), float(b), X.tolist(), m)
    return np.array([[_sigmoid(zk) for zk in z]], dtype=X.dtype)


def _logreg_gradients(w, b, X, Y, m):
    """Plain lists in, ``(dw, db, cost)`` out: one pass over the examples."""
    z = _logits(w, b, X, m)
    dz = [_sigmoid(z[k]) - Y[k] for k in range(m)]
    cost = 0.0
    for k in range(m):
        cost += _log_loss(z[k], Y[k])
    dw = []
    for x_row in X:
        s = 0.0
        for k in range(m):
            s += x_row[k] * dz[k]
        dw.append(s / m)
    db = 0.0
    for k in range(m):
        db += dz[k]
    return dw, db / m, cost / m


def logreg_propagate(w, b, X, Y, n_threads=1):
    Yl = Y.tolist()
    if _bad_labels(Yl):
        return BAD_LABEL, None, 0.0, 0.0
    m = X.shape[1]
    dw, db, cost = _logreg_gradients(w.ravel().tolist(), float(b), X.tolist(), Yl[0], m)
    status = OK if _finite(cost, db, *dw, dtype=X.dtype) else NONFINITE
    return status, _column(dw, X.dtype), db, cost


def logreg_descend(w, b, X, Y, learning_rate, costs, dw, db, check, n_threads=1):
    Yl = Y.tolist()
    if _bad_labels(Yl):
        return BAD_LABEL, 0
    m = X.shape[1]
    Xl, y = X.tolist(), Yl[0]
    w_cur, b_cur = w.ravel().tolist(), float(b[0])
    n_done = 0
    for i in range(len(costs)):
        grad_w, grad_b, cost = _logreg_gradients(w_cur, b_cur, Xl, y, m)
        new_w = [w_cur[j] - learning_rate * grad_w[j] for j in range(len(w_cur))]
        new_b = b_cur - learning_rate * grad_b
        if check and not _finite(cost, new_b, *new_w, *grad_w, grad_b, dtype=X.dtype):
            break
        costs[i] = cost
        dw[:, 0] = grad_w
        db[0] = grad_b
        w_cur, b_cur = new_w, new_b
        n_done = i + 1
    w[:, 0] = w_cur
    b[0] = b_cur
    return (OK if n_done == len(costs) else NONFINITE), n_done


# --- two-layer network ------------------------------------------------------------------


def _matmul_bias(W: list[list[float]], A: list[list[float]], bias: list[float], m: int):
    """``W A + bias`` for lists: ``W (p, q)``, ``A (q, m)``, ``bias (p,)``."""
    out = []
    for j, w_row in enumerate(W):
        row = [bias[j]] * m
        for i, a_row in enumerate(A):
            wji = w_row[i]
            for k in range(m):
                row[k] += wji * a_row[k]
        out.append(row)
    return out


def _forward(X, W1, b1, W2, b2, activation, m):
    Z1 = _matmul_bias(W1, X, b1, m)
    A1 = [[_g(z, activation) for z in row] for row in Z1]
    Z2 = _matmul_bias(W2, A1, b2, m)
    A2 = [[_sigmoid(z) for z in row] for row in Z2]
    return Z1, A1, Z2, A2


def _outer_mean(D: list[list[float]], A: list[list[float]], d: int):
    """``D A.T / d`` for lists: ``D (p, m)``, ``A (q, m)`` -> ``(p, q)``."""
    out = []
    for d_row in D:
        row = []
        for a_row in A:
            s = 0.0
            for k in range(len(d_row)):
                s += d_row[k] * a_row[k]
            row.append(s / d)
        out.append(row)
    return out


def _row_means(D: list[list[float]], d: int) -> list[float]:
    means = []
    for d_row in D:
        s = 0.0
        for v in d_row:
            s += v
        means.append(s / d)
    return means


def _backward(X, Y, W2, A1, A2, activation, m, mean=True):
    n_h = len(A1)
    dZ2 = [[A2[j][k] - Y[j][k] for k in range(m)] for j in range(len(A2))]
    d = m if mean else 1
    dW2 = _outer_mean(dZ2, A1, d)
    db2 = _row_means(dZ2, d)
    dZ1 = []
    for h in range(n_h):
        row = []
        for k in range(m):
            s = 0.0
            for j in range(len(dZ2)):
                s += W2[j][h] * dZ2[j][k]
            row.append(s * _g_prime(A1[h][k], activation))
        dZ1.append(row)
    dW1 = _outer_mean(dZ1, X, d)
    db1 = _row_means(dZ1, d)
    return dW1, db1, dW2, db2


def _arrays(dtype, *nested):
    return tuple(np.array(v, dtype=dtype) for v in nested)


def mlp_forward(X, W1, b1, W2, b2, activation, n_threads=1):
    m = X.shape[1]
    lists = _forward(
        X.tolist(), W1.tolist(), b1.ravel().tolist(), W2.tolist(), b2.ravel().tolist(),
        activation, m,
    )
    return _arrays(X.dtype, *lists)


def mlp_cost(A2, Y):
    eps = float(np.finfo(A2.dtype).eps)
    m = A2.shape[1]
    total = 0.0
    for a_row, y_row in zip(A2.tolist(), Y.tolist()):
        for a, y in zip(a_row, y_row):
            p = min(max(a, eps), 1.0 - eps)
            total += y * math.log(p) + (1.0 - y) * math.log(1.0 - p)
    return -total / m


def mlp_backward(X, Y, W2, A1, A2, activation, n_threads=1):
    m = X.shape[1]
    dW1, db1, dW2, db2 = _backward(
        X.tolist(), Y.tolist(), W2.tolist(), A1.tolist(), A2.tolist(), activation, m
    )
    dtype = X.dtype
    return _arrays(dtype, dW1)[0], _column(db1, dtype), _arrays(dtype, dW2)[0], _column(db2, dtype)


def sgd_update(P, dP, learning_rate):
    out = [p - learning_rate * d for p, d in zip(P.ravel().tolist(), dP.ravel().tolist())]
    return np.array(out, dtype=P.dtype).reshape(P.shape)


def mlp_gradients(X, Y, W1, b1, W2, b2, activation, n_threads=1):
    Yl = Y.tolist()
    if _bad_labels(Yl):
        return BAD_LABEL, 0.0, None
    m = X.shape[1]
    Xl = X.tolist()
    params = (W1.tolist(), b1.ravel().tolist(), W2.tolist(), b2.ravel().tolist())
    _Z1, A1, Z2, A2 = _forward(Xl, *params, activation, m)
    loss = 0.0
    for z_row, y_row in zip(Z2, Yl):
        for k in range(m):
            loss += _log_loss(z_row[k], y_row[k])
    dW1, db1, dW2, db2 = _backward(Xl, Yl, W2.tolist(), A1, A2, activation, m, mean=False)
    status = OK if _finite(loss, *_flat([dW1, db1, dW2, db2]), dtype=X.dtype) else NONFINITE
    dtype = X.dtype
    grads = (_arrays(dtype, dW1)[0], _column(db1, dtype), _arrays(dtype, dW2)[0], _column(db2, dtype))
    return status, loss, grads


def mlp_descend(X, Y, W1, b1, W2, b2, learning_rate, activation, costs, check, n_threads=1):
    Yl = Y.tolist()
    if _bad_labels(Yl):
        return BAD_LABEL, 0
    m = X.shape[1]
    Xl = X.tolist()
    params = [W1.tolist(), b1.ravel().tolist(), W2.tolist(), b2.ravel().tolist()]
    n_done = 0
    for i in range(len(costs)):
        W1l, b1l, W2l, b2l = params
        _Z1, A1, Z2, A2 = _forward(Xl, W1l, b1l, W2l, b2l, activation, m)
        cost = 0.0
        for z_row, y_row in zip(Z2, Yl):
            for k in range(m):
                cost += _log_loss(z_row[k], y_row[k])
        cost /= m
        grads = _backward(Xl, Yl, W2l, A1, A2, activation, m)
        new = [_step(P, dP, learning_rate) for P, dP in zip(params, grads)]
        if check and not _finite(cost, *_flat(new), *_flat(grads), dtype=X.dtype):
            break
        costs[i] = cost
        params = new
        n_done = i + 1
    for out, value in zip((W1, b1, W2, b2), params):
        out[...] = np.array(value, dtype=out.dtype).reshape(out.shape)
    return (OK if n_done == len(costs) else NONFINITE), n_done


def _step(P, dP, learning_rate):
    """``P - learning_rate * dP`` for a list or a list of lists."""
    if P and isinstance(P[0], list):
        return [_step(p, d, learning_rate) for p, d in zip(P, dP)]
    return [p - learning_rate * d for p, d in zip(P, dP)]


def _flat(nested):
    for v in nested:
        if isinstance(v, list):
            yield from _flat(v)
        else:
            yield v
