"""Peer rows: PyTorch CPU and scikit-learn doing the same work as fastnn, when installed.

PyTorch rows run the course's math in eager mode on tensors sharing the case's NumPy
data (``torch.from_numpy``): ``torch`` writes the forward, backward and update by hand,
exactly as the fastnn kernels do; ``torch-autograd`` writes the forward and the loss
(``binary_cross_entropy_with_logits``, the same stable log-loss from the logits) and lets
autograd do the backward.  Both use PyTorch's own thread settings.

scikit-learn rows exist for the whole fits only: ``MLPClassifier`` configured as the
course's full-batch gradient descent exactly, and ``LogisticRegression()`` with its
defaults (L2-regularized, lbfgs) — not the same algorithm, but what a user would pick.

Every import happens inside a row's factory: ``fastnn.bench`` imports neither library.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from fastnn.bench.cases import Case, Row, Unavailable, initial_parameters, learning_rate

__all__ = ["PEERS", "describe", "peer_of", "rows"]

#: Peer libraries, by the name ``--peers`` takes.
PEERS = ("torch", "sklearn")


def _import(module: str, pip_name: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Unavailable(f"{pip_name} is not installed ({exc}); pip install {pip_name}") from None
    except Exception as exc:  # a broken install: say what it was
        raise Unavailable(f"import {module} failed: {type(exc).__name__}: {exc}") from None


def describe(names: tuple[str, ...] = PEERS) -> dict:
    """Version, thread count (PyTorch) or the reason it is missing, per peer in ``names``."""
    info = {}
    for name in names:
        module, pip_name = ("torch", "torch") if name == "torch" else ("sklearn", "scikit-learn")
        try:
            lib = _import(module, pip_name)
        except Unavailable as exc:
            info[name] = {"available": False, "reason": str(exc)}
            continue
        info[name] = {"available": True, "version": lib.__version__}
        if name == "torch":
            info[name]["threads"] = lib.get_num_threads()
    return info


# --- PyTorch ------------------------------------------------------------------------------


def _torch():
    return _import("torch", "torch")


def _tensors(data: dict, *names: str) -> list:
    torch = _torch()
    return [torch.from_numpy(np.ascontiguousarray(data[n])) for n in names]


def _torch_params(case: Case, requires_grad: bool = False) -> list:
    torch = _torch()
    params = initial_parameters(case)
    return [
        torch.from_numpy(params[k].copy()).requires_grad_(requires_grad) for k in ("W1", "b1", "W2", "b2")
    ]


def _torch_mlp_step_manual(torch, X, Y, params, lr: float):
    """One fused step written out: forward, cost from the logits, backward, update."""
    W1, b1, W2, b2 = params
    m = X.shape[1]
    Z1 = W1 @ X + b1
    A1 = torch.tanh(Z1)
    Z2 = W2 @ A1 + b2
    A2 = torch.sigmoid(Z2)
    cost = torch.nn.functional.binary_cross_entropy_with_logits(Z2, Y)
    dZ2 = A2 - Y
    dW2 = dZ2 @ A1.T / m
    db2 = dZ2.sum(dim=1, keepdim=True) / m
    dZ1 = (W2.T @ dZ2) * (1 - A1 * A1)
    dW1 = dZ1 @ X.T / m
    db1 = dZ1.sum(dim=1, keepdim=True) / m
    for P, dP in zip(params, (dW1, db1, dW2, db2), strict=True):
        P.sub_(lr * dP)
    return cost


def _torch_mlp_step_autograd(torch, X, Y, params, lr: float):
    W1, b1, W2, b2 = params
    A1 = torch.tanh(W1 @ X + b1)
    Z2 = W2 @ A1 + b2
    cost = torch.nn.functional.binary_cross_entropy_with_logits(Z2, Y)
    cost.backward()
    with torch.no_grad():
        for P in params:
            P.sub_(lr * P.grad)
            P.grad = None
    return cost


def _torch_logreg_grads_manual(torch, X, Y, w, b):
    m = X.shape[1]
    Z = w.T @ X + b
    A = torch.sigmoid(Z)
    cost = torch.nn.functional.binary_cross_entropy_with_logits(Z, Y)
    dZ = A - Y
    dw = X @ dZ.T / m
    db = dZ.sum() / m
    return dw, db, cost


def _torch_logreg_grads_autograd(torch, X, Y, w, b):
    cost = torch.nn.functional.binary_cross_entropy_with_logits(w.T @ X + b, Y)
    cost.backward()
    dw, db = w.grad, b.grad
    w.grad = b.grad = None
    return dw, db, cost


def _torch_row(autograd: bool) -> Callable[[Case, dict], Callable[[], Any]]:
    def make(case: Case, data: dict) -> Callable[[], Any]:
        torch = _torch()
        X, Y = _tensors(data, "X", "Y")
        lr = learning_rate(case)
        if case.kind in ("train_step", "nn_model"):
            step = _torch_mlp_step_autograd if autograd else _torch_mlp_step_manual
            return _torch_mlp(torch, case, X, Y, lr, step, autograd)
        grads = _torch_logreg_grads_autograd if autograd else _torch_logreg_grads_manual
        return _torch_logreg(torch, case, data, X, Y, lr, grads, autograd)

    return make


def _torch_mlp(torch, case, X, Y, lr, step, autograd):
    no_grad = torch.no_grad
    if case.kind == "train_step":
        params = _torch_params(case, autograd)

        def train_step():
            if autograd:
                return step(torch, X, Y, params, lr).item()
            with no_grad():
                return step(torch, X, Y, params, lr).item()

        return train_step

    iterations = case.iterations

    def nn_model():
        params = _torch_params(case, autograd)
        if autograd:
            for _ in range(iterations):
                step(torch, X, Y, params, lr)
        else:
            with no_grad():
                for _ in range(iterations):
                    step(torch, X, Y, params, lr)
        return params

    return nn_model


def _torch_logreg(torch, case, data, X, Y, lr, grads, autograd):
    dtype = X.dtype
    if case.kind == "propagate":
        w = torch.from_numpy(np.array(data["w"])).requires_grad_(autograd)
        b = torch.tensor(float(data["b"]), dtype=dtype, requires_grad=autograd)

        def propagate():
            if autograd:
                dw, db, cost = grads(torch, X, Y, w, b)
            else:
                with torch.no_grad():
                    dw, db, cost = grads(torch, X, Y, w, b)
            return {"dw": dw, "db": db.item()}, cost.item()

        return propagate

    n_x, iterations = case.dim("n_x"), case.iterations

    def optimize():
        w = torch.zeros((n_x, 1), dtype=dtype, requires_grad=autograd)
        b = torch.zeros((), dtype=dtype, requires_grad=autograd)
        costs = []
        for i in range(iterations):
            with torch.enable_grad() if autograd else torch.no_grad():
                dw, db, cost = grads(torch, X, Y, w, b)
            with torch.no_grad():
                w.sub_(lr * dw)
                b.sub_(lr * db)
            if i % 100 == 0:
                costs.append(cost.item())
        return w, b, costs

    return optimize


# --- scikit-learn -------------------------------------------------------------------------


def _sklearn_mlp(case: Case, data: dict) -> Callable[[], Any]:
    neural_network = _import("sklearn.neural_network", "scikit-learn")
    exceptions = _import("sklearn.exceptions", "scikit-learn")
    X = np.ascontiguousarray(data["X"].T)  # scikit-learn's layout: one row per example
    y = data["Y"].ravel()
    m = X.shape[0]

    def fit():
        clf = neural_network.MLPClassifier(
            hidden_layer_sizes=(case.dim("n_h"),),
            activation="tanh",
            solver="sgd",
            learning_rate_init=learning_rate(case),
            batch_size=m,
            momentum=0.0,
            alpha=0.0,
            max_iter=case.iterations,
            shuffle=False,
            tol=0.0,
            n_iter_no_change=10**9,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
            return clf.fit(X, y)

    return fit


def _sklearn_logreg(case: Case, data: dict) -> Callable[[], Any]:
    linear_model = _import("sklearn.linear_model", "scikit-learn")
    exceptions = _import("sklearn.exceptions", "scikit-learn")
    X = np.ascontiguousarray(data["X"].T)
    y = data["Y"].ravel()

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
            return linear_model.LogisticRegression().fit(X, y)

    return fit


_TORCH_KINDS = ("propagate", "train_step", "nn_model", "optimize")


def rows(case: Case) -> list[Row]:
    """The peer rows of ``case`` (whether or not the libraries are installed)."""
    out = []
    if case.kind in _TORCH_KINDS:
        out.append(Row("torch", "PyTorch eager, manual backward", "peer", _torch_row(autograd=False)))
        out.append(Row("torch-autograd", "PyTorch eager, autograd", "peer", _torch_row(autograd=True)))
    if case.kind == "nn_model":
        out.append(Row("sklearn-mlp", "scikit-learn MLPClassifier, full-batch SGD", "peer", _sklearn_mlp))
    if case.kind == "optimize":
        label = (
            "scikit-learn LogisticRegression() defaults: lbfgs, L2 C=1 "
            "(what users pick; not the same algorithm)"
        )
        out.append(Row("sklearn-lbfgs", label, "peer", _sklearn_logreg, scales_with_work=False))
    return out


def peer_of(row: Row) -> str | None:
    """The ``--peers`` name a row belongs to, or None for fastnn's own rows and baselines."""
    if row.kind != "peer":
        return None
    return "torch" if row.name.startswith("torch") else "sklearn"
