"""Logistic regression, as in week 2 of "Neural Networks and Deep Learning".

Course layout: ``X`` is ``(n_x, m)`` with one column per example, ``Y`` is ``(1, m)`` of
0/1 labels, ``w`` is ``(n_x, 1)`` and ``b`` a float.  The model is

    Z = w.T X + b        A = sigmoid(Z)        (1, m)
    cost = (1/m) sum(softplus(Z) - Y Z)         (the log-loss, computed from the logits)
    dw = (1/m) X (A - Y).T   (n_x, 1)            db = (1/m) sum(A - Y)

Every function takes ``backend=`` (see :func:`fastnn.set_backend`) and ``check_finite=``.
"""

from __future__ import annotations

import math

import numpy as np

from fastnn import _validation as v
from fastnn._dispatch import resolve
from fastnn._fit import check_fit, check_step, cost_printer, descend, interrupted
from fastnn.tuning import get_num_threads

__all__ = ["forward", "initialize_with_zeros", "model", "optimize", "predict", "propagate"]

#: Costs are recorded (and printed) every this many iterations, as in the course.
COST_EVERY = 100
#: Doubles from this magnitude on round to inf in float32.
_F32_LIMIT = 3.4028235677973366e38


def initialize_with_zeros(dim: int, dtype=np.float64) -> tuple[np.ndarray, float]:
    """``w`` of zeros, shape ``(dim, 1)``, and ``b = 0.0``."""
    dim = v.count(dim, "dim")
    dtype = np.dtype(dtype)
    if dtype not in (v.F32, v.F64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return np.zeros((dim, 1), dtype=dtype), 0.0


_UNLABELLED = object()  # forward and predict take no labels


class _Inputs:
    """Validated ``w, b, X, Y`` in one computation dtype, ready for the kernels."""

    __slots__ = ("X", "Y", "b", "dtype", "w")

    def __init__(self, w, b, X, Y=_UNLABELLED, *, copy_w: bool = False) -> None:
        X = v.data_array(X)
        w = v.column(w, "w", X.shape[0], "X", X.shape)
        b = v.scalar(b, "b")
        self.dtype = dtype = v.compute_dtype(X, w)
        self.X = v.c_array(X, dtype)
        self.w = np.array(w, dtype=dtype, order="C") if copy_w else v.c_array(w, dtype)
        if dtype == v.F32 and math.isfinite(b) and not abs(b) < _F32_LIMIT:
            raise ValueError(
                f"b = {b!r} overflows float32, the computation dtype of float32 X and w; "
                "pass float64 data or a smaller b"
            )
        self.b = np.array([b], dtype=dtype)
        if Y is not _UNLABELLED:
            Y = v.label_array(v.labels(Y, X.shape[1], 1, x_shape=X.shape), dtype)
        self.Y = None if Y is _UNLABELLED else Y

    def named(self) -> dict:
        return {"w": self.w, "b": self.b, "X": self.X, "Y": self.Y}

    def check_finite(self) -> None:
        for name, arr in self.named().items():
            if arr is not None:
                v.check_finite(arr, name)


def forward(w, b, X, *, backend: str | None = None, check_finite: bool = True) -> np.ndarray:
    """``A = sigmoid(w.T X + b)``, shape ``(1, m)``."""
    kernels = resolve(backend)
    p = _Inputs(w, b, X)
    if check_finite:
        p.check_finite()
    return kernels.logreg_forward(p.w, float(p.b[0]), p.X)


def propagate(w, b, X, Y, *, backend: str | None = None, check_finite: bool = True):
    """One forward and backward pass: ``({"dw": (n_x, 1), "db": float}, cost)``."""
    kernels = resolve(backend)
    fast = getattr(kernels, "fast_logreg_arrays", v.fast_logreg_arrays)(w, X, Y) if type(b) is float else None
    if fast is not None and (fast[1].dtype is v.F64 or abs(b) < _F32_LIMIT):
        w, X, Y = fast
        dtype = X.dtype.type
        status, dw, db, cost = kernels.logreg_propagate(w, b, X, Y, get_num_threads())
        if status:
            named = {"w": w, "b": np.array([b], dtype=dtype), "X": X, "Y": Y}
            check_step(status, named, check_finite, "propagate")
        return {"dw": dw, "db": dtype(db)}, dtype(cost)

    p = _Inputs(w, b, X, Y)
    status, dw, db, cost = kernels.logreg_propagate(p.w, float(p.b[0]), p.X, p.Y, get_num_threads())
    check_step(status, p.named(), check_finite, "propagate")
    return {"dw": dw, "db": p.dtype.type(db)}, p.dtype.type(cost)


def optimize(
    w,
    b,
    X,
    Y,
    num_iterations: int = 100,
    learning_rate: float = 0.009,
    print_cost: bool = False,
    *,
    backend: str | None = None,
    check_finite: bool = True,
):
    """Gradient descent: ``(params {"w", "b"}, grads {"dw", "db"}, costs)``.

    ``costs`` holds the cost every 100 iterations (at iterations 0, 100, ...); ``grads``
    are those of the last iteration, computed before its update — as in the course.
    The caller's ``w`` is not modified.  A diverging run stops at its last finite step
    with a :class:`fastnn.DivergenceWarning`.
    """
    chunk, report = (COST_EVERY, cost_printer(COST_EVERY)) if print_cost else (None, None)
    w, b, dw, db, result = gradient_descent(
        w, b, X, Y, num_iterations, learning_rate, backend=backend, check_finite=check_finite,
        chunk=chunk, on_chunk=report, keep_every=COST_EVERY,
    )
    interrupted(result)
    costs = [float(c) for c in result.costs]
    return {"w": w, "b": b}, {"dw": dw, "db": db}, costs


def gradient_descent(
    w, b, X, Y, num_iterations, learning_rate, *, backend=None, check_finite=True, chunk=None,
    on_chunk=None, what="optimize", keep_every=1,
):
    """The engine of :func:`optimize` and :class:`fastnn.LogisticRegression`.

    Returns ``(w, b, dw, db, descent)`` with every ``keep_every``-th cost in
    ``descent.costs``; the loop runs in the backend's ``logreg_descend`` kernel, in chunks
    of at most ``chunk`` iterations reported to ``on_chunk(first_iteration, costs)``.
    """
    kernels = resolve(backend)
    num_iterations = v.count(num_iterations, "num_iterations")
    learning_rate = v.positive(learning_rate, "learning_rate")
    p = _Inputs(w, b, X, Y, copy_w=True)
    dw = np.full_like(p.w, np.nan)
    db = np.full(1, np.nan, dtype=p.dtype)
    n_threads = get_num_threads()

    def run(costs):
        return kernels.logreg_descend(
            p.w, p.b, p.X, p.Y, learning_rate, costs, dw, db, check_finite, n_threads
        )

    result = descend(run, num_iterations, 2.0 * p.X.size, chunk, on_chunk, keep_every)
    check_fit(result, p.named(), learning_rate, what)
    return p.w, p.dtype.type(p.b[0]), dw, p.dtype.type(db[0]), result


def predict(w, b, X, *, backend: str | None = None, check_finite: bool = True) -> np.ndarray:
    """Labels ``(1, m)`` of 0.0/1.0: 1.0 where ``sigmoid(w.T X + b) > 0.5``."""
    A = forward(w, b, X, backend=backend, check_finite=check_finite)
    return (A > 0.5).astype(A.dtype)


def model(
    X_train,
    Y_train,
    X_test,
    Y_test,
    num_iterations: int = 2000,
    learning_rate: float = 0.5,
    print_cost: bool = False,
    *,
    backend: str | None = None,
    check_finite: bool = True,
) -> dict:
    """The course's whole logistic-regression model: initialize, optimize, predict.

    Returns ``{"costs", "Y_prediction_test", "Y_prediction_train", "w", "b",
    "learning_rate", "num_iterations"}``.  With ``print_cost`` the costs and the train
    and test accuracies are printed as in the course.
    """
    X_train = v.data_array(X_train, "X_train")
    Y_train = v.labels(Y_train, X_train.shape[1], 1, "Y_train", X_train.shape)
    v.check_labels(Y_train, "Y_train")
    X_test = v.data_array(X_test, "X_test")
    if X_test.shape[0] != X_train.shape[0]:
        raise ValueError(
            f"X_test has shape {X_test.shape} but X_train has shape {X_train.shape}: "
            f"they must have the same number of features (rows)"
        )
    Y_test = v.labels(Y_test, X_test.shape[1], 1, "Y_test", X_test.shape)
    v.check_labels(Y_test, "Y_test")
    w, b = initialize_with_zeros(X_train.shape[0], v.compute_dtype(X_train))
    params, _grads, costs = optimize(
        w, b, X_train, Y_train, num_iterations, learning_rate, print_cost,
        backend=backend, check_finite=check_finite,
    )
    w, b = params["w"], params["b"]
    Y_prediction_test = predict(w, b, X_test, backend=backend, check_finite=check_finite)
    Y_prediction_train = predict(w, b, X_train, backend=backend, check_finite=check_finite)
    if print_cost:
        for name, pred, Y in (("train", Y_prediction_train, Y_train), ("test", Y_prediction_test, Y_test)):
            accuracy = 100 - np.mean(np.abs(pred - np.asarray(Y, dtype=float))) * 100
            print(f"{name} accuracy: {accuracy} %")
    return {
        "costs": costs,
        "Y_prediction_test": Y_prediction_test,
        "Y_prediction_train": Y_prediction_train,
        "w": w,
        "b": b,
        "learning_rate": learning_rate,
        "num_iterations": num_iterations,
    }
