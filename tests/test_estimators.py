"""The scikit-learn estimators: sklearn's own estimator checks, a real data set, the
course equivalence, and zero-copy use of the kernels."""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import fastnn
from fastnn import _dispatch
from fastnn._backends import KERNELS
from fastnn._backends import numpy as numpy_backend

ESTIMATORS = [fastnn.LogisticRegression, fastnn.TwoLayerClassifier]


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_check_estimator(fast_backend, Estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastnn.DivergenceWarning)
        check_estimator(Estimator(backend=fast_backend))


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_breast_cancer_training_accuracy(fast_backend, Estimator):
    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), Estimator(backend=fast_backend, random_state=0)).fit(X, y)
    assert model.score(X, y) >= 0.97


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_any_two_labels_and_probabilities(fast_backend, Estimator):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((60, 3))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] > 0, "spam", "ham")
    est = Estimator(backend=fast_backend, max_iter=300, learning_rate=0.5, random_state=0).fit(X, y)
    assert list(est.classes_) == ["ham", "spam"]
    proba = est.predict_proba(X)
    assert proba.shape == (60, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    pred = est.predict(X)
    assert set(pred) <= {"ham", "spam"} and (pred == y).mean() > 0.9
    np.testing.assert_array_equal(pred, est.classes_[(est.decision_function(X) > 0).astype(int)])
    assert est.n_iter_ == 300 and est.cost_history_.shape == (300,)
    assert est.cost_history_[-1] < est.cost_history_[0]


def test_two_layer_classifier_is_nn_model(fast_backend):
    X, Y = fastnn.datasets.load_planar()
    params = fastnn.mlp.nn_model(X, Y, 4, num_iterations=500, random_state=2, backend=fast_backend)
    est = fastnn.TwoLayerClassifier(max_iter=500, random_state=2, backend=fast_backend).fit(X.T, Y[0])
    for k in params:
        np.testing.assert_allclose(est.parameters_[k], params[k], rtol=1e-12, atol=1e-15)


def test_logistic_regression_is_optimize(fast_backend):
    rng = np.random.RandomState(1)
    X, y = rng.standard_normal((50, 4)), rng.rand(50) > 0.5
    est = fastnn.LogisticRegression(max_iter=200, learning_rate=0.1, backend=fast_backend).fit(X, y)
    w, b = fastnn.logreg.initialize_with_zeros(4)
    params, _, costs = fastnn.logreg.optimize(w, b, X.T, y[None], 200, 0.1, backend=fast_backend)
    np.testing.assert_allclose(est.coef_, params["w"].T, rtol=1e-12)
    np.testing.assert_allclose(est.intercept_, [params["b"]], rtol=1e-12)
    np.testing.assert_allclose(est.cost_history_[::100], costs, rtol=1e-12)


def test_float32(fast_backend):
    rng = np.random.RandomState(2)
    X, y = rng.standard_normal((40, 3)).astype(np.float32), rng.rand(40) > 0.5
    est = fastnn.TwoLayerClassifier(max_iter=50, random_state=0, backend=fast_backend).fit(X, y)
    assert est.parameters_["W1"].dtype == np.float32
    est64 = fastnn.TwoLayerClassifier(max_iter=50, random_state=0, dtype="float64", backend=fast_backend).fit(X, y)
    assert est64.parameters_["W1"].dtype == np.float64


@pytest.fixture
def spy_backend(monkeypatch):
    """A numpy-computing backend that records the X each descend kernel receives."""
    monkeypatch.setattr(_dispatch, "_registry", dict(_dispatch._registry))
    monkeypatch.setattr(_dispatch, "_loaded", dict(_dispatch._loaded))
    seen = []
    kernels = {k: getattr(numpy_backend, k) for k in KERNELS}

    def logreg_descend(w, b, X, *args):
        seen.append(X)
        return numpy_backend.logreg_descend(w, b, X, *args)

    def mlp_descend(X, *args):
        seen.append(X)
        return numpy_backend.mlp_descend(X, *args)

    kernels.update(logreg_descend=logreg_descend, mlp_descend=mlp_descend)
    fastnn.register_backend("xspy", types.SimpleNamespace(NAME="xspy", **kernels))
    return seen


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_fit_hands_the_kernel_a_transposed_view(spy_backend, Estimator):
    X = np.asfortranarray(np.random.RandomState(3).standard_normal((30, 4)))
    y = np.arange(30) % 2
    Estimator(backend="xspy", max_iter=250, verbose=True, random_state=0).fit(X, y)  # verbose: chunks of 100
    assert len(spy_backend) == 3
    for XT in spy_backend:
        assert XT.shape == (4, 30) and XT.flags.c_contiguous
        assert np.shares_memory(XT, X)  # the caller's data itself, not a copy


def test_verbose_shows_progress_with_the_cost(fast_backend, capsys):
    X, y = np.random.RandomState(4).standard_normal((30, 2)), np.arange(30) % 2
    fastnn.TwoLayerClassifier(max_iter=1000, verbose=True, random_state=0, backend=fast_backend).fit(X, y)
    err = capsys.readouterr().err
    assert "TwoLayerClassifier" in err and "cost=" in err and "1000/1000" in err


def test_divergence_warns_and_keeps_finite_parameters(fast_backend):
    X = np.random.RandomState(5).standard_normal((20, 2)) * 1e100  # step 0 fine, step 1 overflows
    y = np.arange(20) % 2
    with pytest.warns(fastnn.DivergenceWarning, match="diverged"):
        est = fastnn.LogisticRegression(learning_rate=1e200, max_iter=50, backend=fast_backend).fit(X, y)
    assert np.isfinite(est.coef_).all() and np.isfinite(est.intercept_).all()
    assert 1 <= est.n_iter_ < 50 and np.isfinite(est.cost_history_).all()
