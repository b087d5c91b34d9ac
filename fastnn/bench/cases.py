"""The benchmark cases: what is timed, on which data, by which rows.

One source of truth for ``fastnn bench`` and the pytest-benchmark suite in ``benches/``.
A :class:`Case` is one group of the table (one workload at one size and dtype); its rows
are the ways of doing that work: the course's baselines (the dot case only), every fastnn
backend through the public API (validation included: that is what users pay), and peers
(PyTorch, scikit-learn; see :mod:`fastnn.bench.peers`) when installed.

Work model (used for GFLOP/s, GB/s and to estimate slow rows from a small probe)
    flops count the matrix products only, 2 per multiply-add; element-wise work
    (``tanh``, ``exp``, bias adds) is not counted.  bytes count what a step must touch at
    least once: the data read once, the parameters read and written once.

    ========== ======================================= ======================================
    kind       flops per call                          bytes per call (itemsize times)
    ========== ======================================= ======================================
    dot        ``2 n``                                 ``2 n``
    propagate  ``4 n_x m``                             ``n_x m + m + 2 n_x``
    train_step ``4 n_h n_x m + 6 n_y n_h m``           ``n_x m + n_y m + 2 (#parameters)``
    nn_model   ``iterations *`` train_step's           (not reported)
    optimize   ``iterations *`` propagate's            (not reported)
    ========== ======================================= ======================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "BACKENDS",
    "Case",
    "Row",
    "Unavailable",
    "all_cases",
    "select_cases",
]

#: fastnn's own backends, in the order their rows appear after the baselines.
BACKENDS = ("numpy", "python", "numba", "cython")
#: The row every speed-up is measured against (besides the loop, in the dot case).
REFERENCE_ROW = "numpy"
LOOP_ROW = "loop"

#: Learning rate of the single-step rows: small, so that thousands of repeated in-place
#: steps keep the parameters sane.
STEP_LEARNING_RATE = 1e-3
#: The course's planar fit.
PLANAR_N_H, PLANAR_ITERATIONS, PLANAR_LEARNING_RATE, PLANAR_SEED = 4, 10_000, 1.2, 2
#: The logistic-regression fit at the cat-image shape.  Standard-normal features times
#: ``LOGREG_X_SCALE`` give, with the course's learning rate for the cat images, a
#: course-like cost curve (falling from log 2 over the 2,000 iterations, no instant
#: separation of the 209 examples in 12,288 dimensions).
LOGREG_ITERATIONS, LOGREG_LEARNING_RATE, LOGREG_X_SCALE = 2_000, 0.005, 0.1


class Unavailable(Exception):
    """A row cannot run here (a backend or peer is missing); the message says why."""


@dataclass(frozen=True)
class Row:
    """One way of doing a case's work.

    Parameters
    ----------
    name
        Short id (``"numba"``, ``"loop"``, ``"torch-autograd"``), unique within a case.
    label
        What the table prints.
    kind
        ``"baseline"`` (the course's loops and ``np.dot``), ``"backend"`` (a fastnn
        backend) or ``"peer"`` (another library).
    make
        ``make(case, data) -> callable``: a zero-argument callable doing one unit of the
        case's work on ``data`` (from :meth:`Case.build`); raises :class:`Unavailable`.
    scales_with_work
        False when the row's time does not follow the case's work model (an optimizer
        that stops at convergence): a probe on a smaller case then estimates it as is.
    blas_threads
        Run the row with the BLAS limited to this many threads (threadpoolctl), or as
        configured when ``None``.
    jit
        The row compiles on its first call at each shape (``jax.jit``, ``torch.compile``):
        the runner then warms it up on the case itself even where a probe ran first.
    """

    name: str
    label: str
    kind: str
    make: Callable[[Case, dict], Callable[[], Any]] = field(repr=False, compare=False)
    scales_with_work: bool = True
    blas_threads: int | None = None
    jit: bool = False


@dataclass(frozen=True)
class Case:
    """One benchmark group: a workload at one size and dtype.

    Parameters
    ----------
    kind
        ``"dot"``, ``"propagate"``, ``"train_step"``, ``"nn_model"`` or ``"optimize"``.
    dims
        Named sizes in display order, e.g. ``(("n_x", 2), ("n_h", 4), ("m", 400))``.
    dtype
        ``"float64"`` or ``"float32"``.
    iterations
        Gradient-descent iterations of a whole fit (1 for single-call cases).
    dataset
        ``"planar"`` for the course's flower data, ``"synthetic"`` for
        :func:`fastnn.datasets.make_classification`, ``"uniform"`` for the lecture's
        ``np.random.rand`` vectors.
    """

    kind: str
    dims: tuple[tuple[str, int], ...]
    dtype: str = "float64"
    iterations: int = 1
    dataset: str = "synthetic"

    # --- naming and sizes ---------------------------------------------------------------

    @property
    def name(self) -> str:
        """The group name: ``train_step[2x4x400,float64]``, ``nn_model[planar,n_h=4,10000it,float64]``."""
        if self.kind == "nn_model":
            parts = [self.dataset, f"n_h={self.dim('n_h')}"]
        else:
            parts = ["x".join(str(v) for _, v in self.dims)]
        if self.iterations > 1:
            parts.append(f"{self.iterations}it")
        parts.append(self.dtype)
        return f"{self.kind}[{','.join(parts)}]"

    def dim(self, key: str) -> int:
        return dict(self.dims)[key]

    @property
    def size_key(self) -> str:
        """The size a probe shrinks: the vector length, else the number of examples."""
        return "n" if self.kind == "dot" else "m"

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def is_fit(self) -> bool:
        return self.kind in ("nn_model", "optimize")

    @property
    def reports_rates(self) -> bool:
        """Whether the table shows GFLOP/s and GB/s (single steps) or GB/s only (dot)."""
        return self.kind in ("dot", "propagate", "train_step")

    @property
    def flops(self) -> float:
        """Floating-point operations per call (see the module docstring)."""
        d = dict(self.dims)
        if self.kind == "dot":
            return 2.0 * d["n"]
        if self.kind in ("propagate", "optimize"):
            return 4.0 * d["n_x"] * d["m"] * self.iterations
        n_y = d.get("n_y", 1)
        return (4.0 * d["n_h"] * d["n_x"] * d["m"] + 6.0 * n_y * d["n_h"] * d["m"]) * self.iterations

    @property
    def bytes(self) -> float | None:
        """Bytes a call must touch at least once (``None`` for whole fits)."""
        d = dict(self.dims)
        if self.kind == "dot":
            return 2.0 * d["n"] * self.itemsize
        if self.kind == "propagate":
            return float(d["n_x"] * d["m"] + d["m"] + 2 * d["n_x"]) * self.itemsize
        if self.kind == "train_step":
            n_y = d.get("n_y", 1)
            n_params = d["n_h"] * d["n_x"] + d["n_h"] + n_y * d["n_h"] + n_y
            return float(d["n_x"] * d["m"] + n_y * d["m"] + 2 * n_params) * self.itemsize
        return None

    def shrunk(self, max_flops: float) -> tuple[Case, float]:
        """A smaller case of the same kind and its work ratio ``self.flops / small.flops``.

        Whole fits lose iterations first, then every case loses examples (or vector
        length), until the work is at most ``max_flops`` (or nothing is left to cut).
        A row's time on the small case times the ratio estimates its time on this one.
        """
        small = self
        if small.flops > max_flops and small.iterations > 1:
            per_iteration = small.flops / small.iterations
            small = dataclasses.replace(small, iterations=max(1, int(max_flops // per_iteration)))
        size = small.dim(small.size_key)
        if small.flops > max_flops and size > 1:
            new_size = max(1, int(size * max_flops // small.flops))
            dims = tuple((k, new_size if k == small.size_key else v) for k, v in small.dims)
            dataset = "uniform" if small.kind == "dot" else "synthetic"
            small = dataclasses.replace(small, dims=dims, dataset=dataset)
        return small, self.flops / small.flops

    # --- data and rows ------------------------------------------------------------------

    def build(self) -> dict:
        """The case's data, the same on every call (fixed seeds)."""
        return _BUILDERS[self.kind](self)

    def rows(self) -> list[Row]:
        """Every row of this case, reference rows first (so ratios can be computed)."""
        from fastnn.bench import peers

        rows = list(_BASELINES if self.kind == "dot" else ())
        rows += [_backend_row(name) for name in BACKENDS]
        rows += peers.rows(self)
        return rows


# --- data ---------------------------------------------------------------------------------


def _course_data(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """``X (n_x, m)`` and ``Y (1, m)``, both in the case's dtype: labels of another dtype
    would be converted (and checked) on every call."""
    from fastnn import datasets

    if case.dataset == "planar":
        X, Y = datasets.load_planar()
    else:
        X, Y = datasets.make_classification(case.dim("n_x"), case.dim("m"), random_state=0)
    return np.ascontiguousarray(X, dtype=case.dtype), np.ascontiguousarray(Y, dtype=case.dtype)


def _build_dot(case: Case) -> dict:
    n = case.dim("n")
    rng = np.random.RandomState(0)
    a = rng.rand(n).astype(case.dtype)  # the lecture: a = np.random.rand(1000000)
    b = rng.rand(n).astype(case.dtype)
    return {"a": a, "b": b, "a_list": a.tolist(), "b_list": b.tolist()}


def _build_propagate(case: Case) -> dict:
    X, Y = _course_data(case)
    w = np.random.RandomState(1).standard_normal((case.dim("n_x"), 1)).astype(case.dtype) * 0.01
    return {"X": X, "Y": Y, "w": w, "b": 0.0}


def _build_train_step(case: Case) -> dict:
    X, Y = _course_data(case)
    return {"X": X, "Y": Y}


def _build_optimize(case: Case) -> dict:
    X, Y = _course_data(case)
    return {"X": X * np.asarray(LOGREG_X_SCALE, dtype=X.dtype), "Y": Y}


_BUILDERS = {
    "dot": _build_dot,
    "propagate": _build_propagate,
    "train_step": _build_train_step,
    "nn_model": _build_train_step,
    "optimize": _build_optimize,
}


def initial_parameters(case: Case) -> dict:
    """Fresh 2-layer parameters for a row (each row trains its own copy)."""
    from fastnn import mlp

    d = dict(case.dims)
    return mlp.initialize_parameters(
        d["n_x"], d["n_h"], d.get("n_y", 1), random_state=PLANAR_SEED, dtype=case.dtype
    )


def learning_rate(case: Case) -> float:
    """The learning rate a case's rows use."""
    return {"nn_model": PLANAR_LEARNING_RATE, "optimize": LOGREG_LEARNING_RATE}.get(
        case.kind, STEP_LEARNING_RATE
    )


# --- baselines: the lecture's experiment --------------------------------------------------


def _loop_over(a_key: str, b_key: str) -> Callable[[Case, dict], Callable[[], float]]:
    """The lecture's ``for i in range(n): c += a[i]*b[i]`` over ``data[a_key]``, ``data[b_key]``."""

    def make(case: Case, data: dict) -> Callable[[], float]:
        a, b = data[a_key], data[b_key]
        n = len(a)

        def loop() -> float:
            c = 0
            for i in range(n):
                c += a[i] * b[i]
            return c

        return loop

    return make


def _np_dot(case: Case, data: dict) -> Callable[[], float]:
    a, b = data["a"], data["b"]
    return lambda: np.dot(a, b)


#: The single-threaded ``np.dot``: what ``--check`` compares with the loop, and the
#: headline's figure when it is the steadier of the two ``np.dot`` rows.  A multi-threaded
#: BLAS call waits for its slowest thread, and on a busy shared machine a neighbour can
#: hold that thread's core for a whole scheduler slice per call.
NP_DOT_1T_ROW = "np.dot-1t"

_BASELINES = (
    Row(LOOP_ROW, "loop over the arrays (lecture)", "baseline", _loop_over("a", "b")),
    Row("list-loop", "loop over Python lists", "baseline", _loop_over("a_list", "b_list")),
    Row("np.dot", "np.dot, all BLAS threads", "baseline", _np_dot),
    Row(NP_DOT_1T_ROW, "np.dot, one BLAS thread (threadpoolctl)", "baseline", _np_dot, blas_threads=1),
)


# --- fastnn backends, through the public API ----------------------------------------------


def _require_backend(name: str) -> None:
    from fastnn import BackendUnavailableError
    from fastnn._dispatch import resolve

    try:
        resolve(name)
    except BackendUnavailableError as exc:
        raise Unavailable(exc.reason) from None


def _fastnn_call(case: Case, data: dict, backend: str) -> Callable[[], Any]:
    from fastnn import dot, logreg, mlp

    _require_backend(backend)
    lr = learning_rate(case)
    if case.kind == "dot":
        a, b = data["a"], data["b"]
        return lambda: dot(a, b, backend=backend)
    X, Y = data["X"], data["Y"]
    if case.kind == "propagate":
        w, b = data["w"], data["b"]
        return lambda: logreg.propagate(w, b, X, Y, backend=backend)
    if case.kind == "train_step":
        params = initial_parameters(case)
        return lambda: mlp.train_step(params, X, Y, lr, backend=backend)
    if case.kind == "nn_model":
        n_h, its = case.dim("n_h"), case.iterations
        return lambda: mlp.nn_model(X, Y, n_h, its, lr, random_state=PLANAR_SEED, backend=backend)
    if case.kind == "optimize":
        w, b = logreg.initialize_with_zeros(case.dim("n_x"), dtype=case.dtype)
        its = case.iterations
        return lambda: logreg.optimize(w, b, X, Y, its, lr, backend=backend)
    raise ValueError(f"unknown case kind {case.kind!r}")


def _backend_row(name: str) -> Row:
    def make(case: Case, data: dict) -> Callable[[], Any]:
        return _fastnn_call(case, data, name)

    return Row(name, f"fastnn {name}", "backend", make)


# --- the case list ------------------------------------------------------------------------


def all_cases() -> list[Case]:
    """Every case, in table order: the lecture's dot, propagate, train_step, whole fits."""
    cases = [Case("dot", (("n", 1_000_000),), "float64", dataset="uniform")]
    for n_x, m in ((2, 400), (30, 569), (12288, 209)):
        dataset = "planar" if (n_x, m) == (2, 400) else "synthetic"
        cases.append(Case("propagate", (("n_x", n_x), ("m", m)), "float64", dataset=dataset))
    for dtype in ("float64", "float32"):
        for n_x, n_h, m in ((2, 4, 400), (2, 4, 4000), (30, 16, 569), (12288, 7, 209), (784, 128, 1000)):
            dataset = "planar" if (n_x, m) == (2, 400) else "synthetic"
            dims = (("n_x", n_x), ("n_h", n_h), ("m", m))
            cases.append(Case("train_step", dims, dtype, dataset=dataset))
    planar_dims = (("n_x", 2), ("n_h", PLANAR_N_H), ("m", 400))
    cases.append(Case("nn_model", planar_dims, "float64", PLANAR_ITERATIONS, "planar"))
    cases.append(Case("optimize", (("n_x", 12288), ("m", 209)), "float64", LOGREG_ITERATIONS))
    return cases


def select_cases(patterns: Iterable[str] | None = None, cases: Sequence[Case] | None = None) -> list[Case]:
    """The cases whose name contains any of ``patterns`` (all of them when there is none)."""
    cases = all_cases() if cases is None else list(cases)
    patterns = [p for p in (patterns or ()) if p]
    if not patterns:
        return cases
    return [c for c in cases if any(p in c.name for p in patterns)]
