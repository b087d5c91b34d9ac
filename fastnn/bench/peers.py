"""Peer rows: PyTorch, JAX and scikit-learn doing the same work as fastnn, when installed.

PyTorch rows run the course's math on tensors sharing the case's NumPy data
(``torch.from_numpy``), with PyTorch's own thread settings:

``torch``           eager mode; forward, backward and update written out, as fastnn's kernels do
``torch-autograd``  eager mode; forward and loss (``binary_cross_entropy_with_logits``: the
                    same stable log-loss from the logits), autograd for the backward
``torch-compile``   ``torch``'s step compiled by ``torch.compile`` (one compiled step per
                    call; a whole fit calls it once per iteration)

``jax-jit`` is one ``jax.jit``-compiled step per call (forward, loss from the logits,
``jax.value_and_grad``, update), its parameters kept on the device between calls; a whole
fit is one ``jax.lax.fori_loop`` inside one ``jax.jit``.  JAX runs in float64 for float64
cases (``jax_enable_x64``: inputs keep their dtype, so float32 rows stay float32) on XLA's
own thread pool, which ``--threads`` does not limit.  Both compilers compile on a row's
first call at each shape: the runner's untimed warm-up call (``Row.jit``).

scikit-learn rows exist for the whole fits only: ``MLPClassifier`` configured as the
course's full-batch gradient descent exactly, and ``LogisticRegression()`` with its
defaults (L2-regularized, lbfgs) — not the same algorithm, but what a user would pick.

Every import happens inside a row's factory: ``fastnn.bench`` imports none of these libraries.
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
PEERS = ("torch", "jax", "sklearn")
#: Module and pip name of each peer.
_MODULES = {"torch": ("torch", "torch"), "jax": ("jax", "jax[cpu]"), "sklearn": ("sklearn", "scikit-learn")}
#: How many shapes one compiled function may be specialized for (one per case and dtype).
TORCH_RECOMPILE_LIMIT = 64


def _import(module: str, pip_name: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Unavailable(f"{pip_name} is not installed ({exc}); pip install '{pip_name}'") from None
    except Exception as exc:  # a broken install: say what it was
        raise Unavailable(f"import {module} failed: {type(exc).__name__}: {exc}") from None


def describe(names: tuple[str, ...] = PEERS) -> dict:
    """Version, thread count (PyTorch) or the reason it is missing, per peer in ``names``."""
    info = {}
    for name in names:
        try:
            lib = _import(*_MODULES[name])
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


def _compiled(torch, fn: Callable) -> Callable:
    """``torch.compile(fn)``, one static-shape specialization per case; never a silent
    fallback to eager mode when the specializations run out."""
    config = torch._dynamo.config
    config.recompile_limit = max(config.recompile_limit, TORCH_RECOMPILE_LIMIT)
    config.fail_on_recompile_limit_hit = True
    return torch.compile(fn, dynamic=False)


def _torch_row(variant: str) -> Callable[[Case, dict], Callable[[], Any]]:
    """The factory of a PyTorch row: ``variant`` is ``"eager"``, ``"autograd"`` or ``"compile"``."""
    autograd = variant == "autograd"

    def make(case: Case, data: dict) -> Callable[[], Any]:
        torch = _torch()
        X, Y = _tensors(data, "X", "Y")
        lr = learning_rate(case)
        if case.kind in ("train_step", "nn_model"):
            step = _torch_mlp_step_autograd if autograd else _torch_mlp_step_manual
        else:
            step = _torch_logreg_grads_autograd if autograd else _torch_logreg_grads_manual
        if variant == "compile":
            step = _compiled(torch, step)
        if case.kind in ("train_step", "nn_model"):
            return _torch_mlp(torch, case, X, Y, lr, step, autograd)
        return _torch_logreg(torch, case, data, X, Y, lr, step, autograd)

    return make


def _torch_mlp(torch, case, X, Y, lr, step, autograd):
    grad_mode = torch.enable_grad if autograd else torch.no_grad
    if case.kind == "train_step":
        params = _torch_params(case, autograd)

        def train_step():
            with grad_mode():
                return step(torch, X, Y, params, lr).item()

        return train_step

    iterations = case.iterations

    def nn_model():
        params = _torch_params(case, autograd)
        with grad_mode():
            for _ in range(iterations):
                step(torch, X, Y, params, lr)
        return dict(zip(("W1", "b1", "W2", "b2"), params, strict=True))

    return nn_model


def _torch_logreg(torch, case, data, X, Y, lr, grads, autograd):
    dtype = X.dtype
    grad_mode = torch.enable_grad if autograd else torch.no_grad
    if case.kind == "propagate":
        w = torch.from_numpy(np.array(data["w"])).requires_grad_(autograd)
        b = torch.tensor(float(data["b"]), dtype=dtype, requires_grad=autograd)

        def propagate():
            with grad_mode():
                dw, db, cost = grads(torch, X, Y, w, b)
            return {"dw": dw, "db": db.item()}, cost.item()

        return propagate

    n_x, iterations = case.dim("n_x"), case.iterations

    def optimize():
        w = torch.zeros((n_x, 1), dtype=dtype, requires_grad=autograd)
        b = torch.zeros((), dtype=dtype, requires_grad=autograd)
        costs = []
        for i in range(iterations):
            with grad_mode():
                dw, db, cost = grads(torch, X, Y, w, b)
            with torch.no_grad():
                w.sub_(lr * dw)
                b.sub_(lr * db)
            if i % 100 == 0:
                costs.append(cost.item())
        return {"w": w, "b": b.item()}, costs

    return optimize


# --- JAX ----------------------------------------------------------------------------------


def _jax():
    jax = _import("jax", "jax[cpu]")
    if not jax.config.jax_enable_x64:  # float64 cases run in float64; float32 inputs stay float32
        jax.config.update("jax_enable_x64", True)
    return jax


def _log_loss(jnp, Z, Y):
    """The course's cost from the logits: ``mean(softplus(Z) - Y Z)``, stable for any ``Z``."""
    return jnp.mean(jnp.logaddexp(0.0, Z) - Y * Z)


def _jax_mlp(jax, case: Case, data: dict) -> Callable[[], Any]:
    jnp = jax.numpy
    X, Y = jax.device_put(data["X"]), jax.device_put(data["Y"])
    lr = learning_rate(case)

    def cost(params, X, Y):
        W1, b1, W2, b2 = params
        A1 = jnp.tanh(W1 @ X + b1)
        return _log_loss(jnp, W2 @ A1 + b2, Y)

    def step(params, X, Y):
        value, grads = jax.value_and_grad(cost)(params, X, Y)
        return [P - lr * dP for P, dP in zip(params, grads, strict=True)], value

    start = [jax.device_put(initial_parameters(case)[k]) for k in ("W1", "b1", "W2", "b2")]
    if case.kind == "train_step":
        jitted = jax.jit(step)
        state = {"params": start}

        def train_step():
            state["params"], value = jax.block_until_ready(jitted(state["params"], X, Y))
            return float(value)

        return train_step

    iterations = case.iterations
    fit = jax.jit(
        lambda params, X, Y: jax.lax.fori_loop(0, iterations, lambda i, p: step(p, X, Y)[0], params)
    )

    def nn_model():
        return dict(zip(("W1", "b1", "W2", "b2"), jax.block_until_ready(fit(start, X, Y)), strict=True))

    return nn_model


def _jax_logreg(jax, case: Case, data: dict) -> Callable[[], Any]:
    jnp = jax.numpy
    X, Y = jax.device_put(data["X"]), jax.device_put(data["Y"])
    lr = learning_rate(case)
    value_and_grads = jax.value_and_grad(lambda w, b, X, Y: _log_loss(jnp, w.T @ X + b, Y), argnums=(0, 1))
    if case.kind == "propagate":
        w, b = jax.device_put(data["w"]), jnp.asarray(data["b"], dtype=case.dtype)
        jitted = jax.jit(value_and_grads)

        def propagate():
            value, (dw, db) = jax.block_until_ready(jitted(w, b, X, Y))
            return {"dw": dw, "db": float(db)}, float(value)

        return propagate

    iterations = case.iterations

    def body(i, carry):
        w, b, costs = carry
        value, (dw, db) = value_and_grads(w, b, X, Y)
        costs = jnp.where(i % 100 == 0, costs.at[i // 100].set(value), costs)
        return w - lr * dw, b - lr * db, costs

    start = (
        jnp.zeros((case.dim("n_x"), 1), case.dtype),
        jnp.zeros((), case.dtype),
        jnp.zeros((iterations + 99) // 100, case.dtype),
    )
    fit = jax.jit(lambda start: jax.lax.fori_loop(0, iterations, body, start))

    def optimize():
        w, b, costs = jax.block_until_ready(fit(start))
        return {"w": w, "b": float(b)}, [float(c) for c in costs]

    return optimize


def _jax_row(case: Case, data: dict) -> Callable[[], Any]:
    jax = _jax()
    if case.kind in ("train_step", "nn_model"):
        return _jax_mlp(jax, case, data)
    return _jax_logreg(jax, case, data)


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


_MODEL_KINDS = ("propagate", "train_step", "nn_model", "optimize")


def rows(case: Case) -> list[Row]:
    """The peer rows of ``case`` (whether or not the libraries are installed)."""
    out = []
    if case.kind in _MODEL_KINDS:
        out += [
            Row("torch", "PyTorch eager, manual backward", "peer", _torch_row("eager")),
            Row("torch-autograd", "PyTorch eager, autograd", "peer", _torch_row("autograd")),
            Row("torch-compile", "torch.compile of the manual step", "peer", _torch_row("compile"), jit=True),
            Row("jax-jit", "JAX, jax.jit step (fits: one fori_loop)", "peer", _jax_row, jit=True),
        ]
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
    return next(name for name in PEERS if row.name.startswith(name))
