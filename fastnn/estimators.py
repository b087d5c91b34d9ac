"""scikit-learn estimators over fastnn's kernels: :class:`LogisticRegression` and
:class:`TwoLayerClassifier`.

scikit-learn layout: ``X`` is ``(n_samples, n_features)``, ``y`` is ``(n_samples,)`` with any
two labels.  Each fit validates ``X`` once into Fortran order, so that ``X.T`` is the
course-layout ``(n_features, n_samples)`` C-contiguous *view* the kernels read — no copy
per iteration — and runs the whole iteration loop in the backend's ``*_descend`` kernel
(in chunks, with a progress bar when ``verbose``).

``X`` and ``y`` may also be Dask arrays chunked along the samples (``pip install
fastnn[dask]``): the fit then runs data-parallel on the active ``dask.distributed`` Client
(see :mod:`fastnn._dask`) and the predictions are lazy Dask arrays.

Needs scikit-learn (``pip install fastnn[sklearn]``): the estimators build on its
``BaseEstimator`` and input checks, and pass its ``check_estimator`` (binary-only tags).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from fastnn import _dask, logreg, mlp
from fastnn import _validation as v
from fastnn._fit import interrupted

__all__ = ["LogisticRegression", "TwoLayerClassifier"]

#: iterations per kernel call when a progress bar is shown
_PROGRESS_CHUNK = 100


class _BinaryClassifier(ClassifierMixin, BaseEstimator):
    """What both estimators share: input checks, label encoding, progress, predictions."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _dtype(self, X: np.ndarray) -> np.dtype:
        if self.dtype is None:
            return v.F32 if X.dtype == v.F32 else v.F64
        dtype = np.dtype(self.dtype)
        if dtype not in (v.F32, v.F64):
            raise ValueError(f"dtype must be None, float32 or float64, got {self.dtype!r}")
        return dtype

    def _validate_fit(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        """``(X.T, Y)``: course-layout data ``(n_features, n_samples)`` and 0/1 labels ``(1, n)``."""
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), order="F")
        check_classification_targets(y)
        self.classes_, Y = np.unique(y, return_inverse=True)
        if len(self.classes_) != 2:
            y_type = type_of_target(y, input_name="y", raise_unknown=True)
            raise ValueError(
                f"Only binary classification is supported. The type of the target is {y_type}: "
                f"y has {len(self.classes_)} class{'es' if len(self.classes_) != 1 else ''} "
                f"({self.classes_[:5].tolist()}); {type(self).__name__} needs 2."
            )
        dtype = self._dtype(X)
        X = np.asfortranarray(X, dtype=dtype)
        return X.T, Y.reshape(1, -1).astype(dtype)

    def _validate_predict(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=(np.float64, np.float32), order="F", reset=False)
        return np.asfortranarray(X, dtype=self.dtype_).T

    def _run(self, descend, max_iter: int):
        """Call ``descend(chunk, on_chunk)``, with a progress bar showing the cost if verbose."""
        if not self.verbose:
            return descend(None, None)
        from tqdm.auto import tqdm

        with tqdm(total=max_iter, desc=type(self).__name__, unit="it", leave=True) as bar:

            def on_chunk(first: int, costs: np.ndarray) -> None:
                bar.update(len(costs))
                bar.set_postfix(cost=f"{costs[-1]:.6f}", refresh=False)

            return descend(_PROGRESS_CHUNK, on_chunk)

    def _fit_dask(self, X, y, chunk_fn, activation: int):
        """The fit on Dask arrays (:mod:`fastnn._dask`), the same progress bar."""
        max_iter = v.count(self.max_iter, "max_iter")
        learning_rate = v.positive(self.learning_rate, "learning_rate")
        self.dtype_ = self._dtype(X)
        XT, Y, self.classes_ = _dask.prepare(X, y, self.dtype_)
        self.n_features_in_ = X.shape[1]
        params = self._start(X.shape[1])
        what = f"{type(self).__name__}.fit"
        args = (XT, Y, params, learning_rate, max_iter, chunk_fn, self.backend, activation)
        if self.verbose:
            from tqdm.auto import tqdm

            with tqdm(total=max_iter, desc=type(self).__name__, unit="it", leave=True) as bar:

                def on_step(_it: int, cost: float) -> None:
                    bar.update()
                    bar.set_postfix(cost=f"{cost:.6f}", refresh=False)

                costs, n_done = _dask.descend(*args, on_step, what)
        else:
            costs, n_done = _dask.descend(*args, None, what)
        self._store(params)
        self.cost_history_, self.n_iter_ = costs, n_done
        return self

    def _dask_scores(self, X, method: str, width: int | None = None, dtype=None):
        """``method`` (an in-memory one of this estimator) over every chunk, lazily."""
        check_is_fitted(self)
        fitted = self

        def score_block(block):
            return getattr(fitted, method)(block)

        return _dask.predict_blocks(X, score_block, width, self.dtype_ if dtype is None else dtype)

    def _finish(self, result) -> None:
        """The fit's history; after Ctrl-C (the fitted attributes set already: the last
        completed step's), ``KeyboardInterrupt`` again."""
        self.cost_history_ = result.costs.copy()
        self.n_iter_ = result.n_done
        interrupted(result)

    def predict_proba(self, X) -> np.ndarray:
        """``(n_samples, 2)``: the probabilities of ``classes_[0]`` and ``classes_[1]``."""
        if _dask.is_dask_array(X):
            return self._dask_scores(X, "predict_proba", 2)
        p = self._probability(self._validate_predict(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        """The predicted labels, from ``classes_``: ``classes_[1]`` where its probability > 0.5."""
        if _dask.is_dask_array(X):
            check_is_fitted(self)
            return self._dask_scores(X, "predict", dtype=self.classes_.dtype)
        p = self._probability(self._validate_predict(X))
        return self.classes_[(p > 0.5).astype(np.intp)]

    def decision_function(self, X) -> np.ndarray:
        """The output logits, shape ``(n_samples,)``; > 0 means ``classes_[1]``."""
        if _dask.is_dask_array(X):
            return self._dask_scores(X, "decision_function")
        return self._logits(self._validate_predict(X))

    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy (on Dask arrays: computed by Dask, chunk by chunk)."""
        if _dask.is_dask_array(X) and sample_weight is None:
            X, y = _dask.check_chunks(X, y)
            return float((self.predict(X) == y).mean().compute())
        return super().score(X, y, sample_weight)


class LogisticRegression(_BinaryClassifier):
    """Logistic regression trained by full-batch gradient descent, as in the course (week 2).

    Parameters
    ----------
    learning_rate : float, default 0.005
    max_iter : int, default 2000
        Gradient-descent iterations (all of them are run: there is no tolerance).
    backend : str or None
        A fastnn backend name (``None`` follows :func:`fastnn.set_backend` / ``use_backend``).
    dtype : None, float32 or float64
        Computation dtype; ``None`` keeps float32 ``X`` in float32, else float64.
    random_state : None or int
        Unused (the weights start at zero, as in the course); kept for a uniform API.
    verbose : bool
        Show a progress bar with the current cost.

    Attributes
    ----------
    coef_ : (1, n_features), intercept_ : (1,), classes_, n_iter_, cost_history_ (one cost
    per iteration, before its update), n_features_in_.
    """

    def __init__(
        self, learning_rate=0.005, max_iter=2000, *, backend=None, dtype=None, random_state=None,
        verbose=False,
    ):
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.backend = backend
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y):
        if _dask.is_dask_array(X):
            return self._fit_dask(X, y, _dask.logreg_chunk, 0)
        XT, Y = self._validate_fit(X, y)
        self.dtype_ = XT.dtype
        w, b = logreg.initialize_with_zeros(XT.shape[0], XT.dtype)

        def descend(chunk, on_chunk):
            return logreg.gradient_descent(
                w, b, XT, Y, self.max_iter, self.learning_rate, backend=self.backend,
                chunk=chunk, on_chunk=on_chunk, what=f"{type(self).__name__}.fit",
            )

        w, b, _dw, _db, result = self._run(descend, v.count(self.max_iter, "max_iter"))
        self.coef_ = w.T.copy()
        self.intercept_ = np.array([b], dtype=w.dtype)
        self._finish(result)
        return self

    def _start(self, n_features: int) -> tuple:
        return np.zeros((n_features, 1), self.dtype_), np.zeros((1, 1), self.dtype_)

    def _store(self, params: tuple) -> None:
        w, b = params
        self.coef_ = w.T.copy()
        self.intercept_ = b[0].copy()

    def _logits(self, XT: np.ndarray) -> np.ndarray:
        """``X coef_.T + intercept_``."""
        return (self.coef_ @ XT)[0] + self.intercept_[0]

    def _probability(self, XT: np.ndarray) -> np.ndarray:
        return logreg.forward(self.coef_.T, self.intercept_[0], XT, backend=self.backend)[0]


class TwoLayerClassifier(_BinaryClassifier):
    """The course's 2-layer network (one hidden layer, sigmoid output), full-batch gradient descent.

    Parameters
    ----------
    n_hidden : int, default 4
    activation : {"tanh", "relu", "sigmoid"}, default "tanh"
    learning_rate : float, default 1.2
    max_iter : int, default 10000
    backend, dtype, verbose
        As for :class:`LogisticRegression`.
    random_state : None, int, RandomState or Generator
        Draws the initial weights (``standard_normal * 0.01``); ``None`` draws fresh entropy.

    Attributes
    ----------
    parameters_ : dict of ``W1 (n_hidden, n_features)``, ``b1``, ``W2 (1, n_hidden)``, ``b2``;
    classes_, n_iter_, cost_history_, n_features_in_.
    """

    def __init__(
        self, n_hidden=4, activation="tanh", learning_rate=1.2, max_iter=10000, *, backend=None,
        dtype=None, random_state=None, verbose=False,
    ):
        self.n_hidden = n_hidden
        self.activation = activation
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.backend = backend
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y):
        if _dask.is_dask_array(X):
            return self._fit_dask(X, y, _dask.mlp_chunk, mlp.activation_index(self.activation))
        XT, Y = self._validate_fit(X, y)
        self.dtype_ = XT.dtype
        mlp.activation_index(self.activation)
        start = mlp.initialize_parameters(XT.shape[0], self.n_hidden, 1, self.random_state, XT.dtype)

        def descend(chunk, on_chunk):
            return mlp.gradient_descent(
                start, XT, Y, self.max_iter, self.learning_rate, self.activation,
                backend=self.backend, chunk=chunk, on_chunk=on_chunk, what=f"{type(self).__name__}.fit",
            )

        self.parameters_, result = self._run(descend, v.count(self.max_iter, "max_iter"))
        self._finish(result)
        return self

    def _start(self, n_features: int) -> tuple:
        params = mlp.initialize_parameters(n_features, self.n_hidden, 1, self.random_state, self.dtype_)
        return tuple(params[k] for k in mlp.PARAMETERS)

    def _store(self, params: tuple) -> None:
        self.parameters_ = dict(zip(mlp.PARAMETERS, params))

    def _logits(self, XT: np.ndarray) -> np.ndarray:
        """The output logits ``Z2``."""
        _, cache = mlp.forward_propagation(XT, self.parameters_, self.activation, backend=self.backend)
        return cache["Z2"][0]

    def _probability(self, XT: np.ndarray) -> np.ndarray:
        A2, _ = mlp.forward_propagation(XT, self.parameters_, self.activation, backend=self.backend)
        return A2[0]
