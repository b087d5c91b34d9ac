"""fastnn: logistic regression and the 2-layer network of "Neural Networks and Deep Learning",
in four interchangeable backends (python loops, NumPy, Numba, Cython) behind one dispatch
interface, with a benchmark suite that measures what vectorization and compilation buy.

>>> import fastnn
>>> with fastnn.use_backend("numpy"):
...     X, Y = [[1.0, 2.0, -1.0], [3.0, 4.0, -3.2]], [[1, 0, 1]]
...     grads, cost = fastnn.logreg.propagate([[1.0], [2.0]], 2.0, X, Y)
>>> round(float(cost), 6)
5.801545

``import fastnn`` loads no backend: each loads on first use.
"""

from __future__ import annotations

from fastnn import datasets, logreg, mlp
from fastnn._dispatch import (
    BackendInfo,
    BackendUnavailableError,
    backends,
    get_backend,
    register_backend,
    set_backend,
    use_backend,
)
from fastnn._fit import DivergenceWarning
from fastnn._ops import dot, sigmoid
from fastnn.tuning import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "BackendInfo",
    "BackendUnavailableError",
    "DivergenceWarning",
    "LogisticRegression",
    "TwoLayerClassifier",
    "backends",
    "datasets",
    "dot",
    "get_backend",
    "get_num_threads",
    "logreg",
    "mlp",
    "register_backend",
    "set_backend",
    "set_num_threads",
    "sigmoid",
    "use_backend",
]

_LAZY = {"LogisticRegression": "fastnn.estimators", "TwoLayerClassifier": "fastnn.estimators"}


def __getattr__(name: str):
    # the estimators need scikit-learn: imported on first access, not with fastnn
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")
