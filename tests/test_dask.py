"""The estimators on Dask arrays: the same answer as one machine, lazy predictions, clear
errors, and a worker lost mid-fit.  A ``LocalCluster`` of two worker processes on the
loopback interface, started once for the module."""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest
from conftest import IN_CI, require_backend

if not IN_CI:
    pytest.importorskip("distributed", reason="the dask extra is not installed (pip install fastnn[dask])")
import dask.array as da
from distributed import Client, LocalCluster

import fastnn

ESTIMATORS = {
    "LogisticRegression": lambda backend, **kw: fastnn.LogisticRegression(
        learning_rate=0.1, max_iter=kw.pop("max_iter", 40), backend=backend, **kw),
    "TwoLayerClassifier": lambda backend, **kw: fastnn.TwoLayerClassifier(
        n_hidden=kw.pop("n_hidden", 3), learning_rate=0.5, max_iter=kw.pop("max_iter", 40), random_state=0,
        backend=backend, **kw),
}


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


def data(n=700, n_features=6, chunks=(250, 250, 200), dtype=np.float64, labels=("no", "yes"), seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features)).astype(dtype)
    y = np.where(X[:, 0] - 0.5 * X[:, 1] + 0.3 * rng.standard_normal(n) > 0, labels[1], labels[0])
    return X, y, da.from_array(X, chunks=(chunks, n_features)), da.from_array(y, chunks=(chunks,))


def learned(est):
    if hasattr(est, "coef_"):
        return {"coef_": est.coef_, "intercept_": est.intercept_}
    return est.parameters_


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("backend", ["numpy", "numba", "cython", "python"])
def test_a_distributed_fit_is_the_in_memory_fit(client, name, backend):
    require_backend(backend)
    X, y, dX, dy = data(n=200 if backend == "python" else 700,
                        chunks=(70, 70, 60) if backend == "python" else (250, 250, 200))
    here = ESTIMATORS[name](backend).fit(X, y)
    there = ESTIMATORS[name](backend).fit(dX, dy)
    np.testing.assert_allclose(there.cost_history_, here.cost_history_, rtol=1e-9)
    for key, value in learned(here).items():
        np.testing.assert_allclose(learned(there)[key], value, rtol=1e-9, atol=1e-12, err_msg=key)
    assert there.n_iter_ == here.n_iter_ and list(there.classes_) == ["no", "yes"]


def test_wide_parameters_over_many_chunks(client):
    """Parameters too large to ride in every chunk's task (a key the tasks share) and more
    chunks than one task adds (a tree of additions): still the in-memory fit."""
    X, y, dX, dy = data(n=2000, n_features=600, chunks=(100,) * 20)
    here = ESTIMATORS["TwoLayerClassifier"]("numba", n_hidden=12, max_iter=10).fit(X, y)
    there = ESTIMATORS["TwoLayerClassifier"]("numba", n_hidden=12, max_iter=10).fit(dX, dy)
    np.testing.assert_allclose(there.cost_history_, here.cost_history_, rtol=1e-9)
    for key, value in here.parameters_.items():
        np.testing.assert_allclose(there.parameters_[key], value, rtol=1e-9, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_predictions_stay_lazy_and_agree(client, name):
    X, y, dX, dy = data()
    est = ESTIMATORS[name]("numba").fit(dX, dy)
    for method in ("predict", "predict_proba", "decision_function"):
        lazy = getattr(est, method)(dX)
        assert isinstance(lazy, da.Array), method
        expected = getattr(est, method)(X)
        if method == "predict":
            np.testing.assert_array_equal(lazy.compute(), expected)
        else:  # chunk by chunk: the BLAS may sum in another order
            np.testing.assert_allclose(lazy.compute(), expected, rtol=1e-12, atol=1e-15)
    assert est.score(dX, dy) == est.score(X, y)


def test_float32_and_uneven_chunks(client):
    X, y, dX, dy = data(dtype=np.float32, chunks=(13, 400, 287), labels=(0, 7))
    here = ESTIMATORS["TwoLayerClassifier"]("numba").fit(X, y)
    there = ESTIMATORS["TwoLayerClassifier"]("numba").fit(dX, dy)
    assert there.parameters_["W1"].dtype == np.float32 and there.predict_proba(dX).dtype == np.float32
    for key, value in here.parameters_.items():
        np.testing.assert_allclose(there.parameters_[key], value, rtol=2e-4, atol=1e-6)
    assert there.predict(dX).compute().tolist() == here.predict(X).tolist()


def test_bad_inputs_say_what_is_wrong(client):
    X, y, dX, dy = data()
    est = ESTIMATORS["LogisticRegression"]("numba")
    with pytest.raises(ValueError, match="chunked along the features"):
        est.fit(da.from_array(X, chunks=(250, 3)), dy)
    with pytest.raises(ValueError, match="chunked alike"):
        est.fit(dX, da.from_array(y, chunks=(100,)))
    with pytest.raises(ValueError, match="1 class"):
        est.fit(dX, da.from_array(np.full(700, "yes"), chunks=(dX.chunks[0],)))
    bad = X.copy()
    bad[612, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinity in chunk 2 \(samples 500 to 699\)"):
        est.fit(da.from_array(bad, chunks=(dX.chunks[0], 6)), dy)


def test_progress_bar(client, capsys):
    _, _, dX, dy = data()
    ESTIMATORS["LogisticRegression"]("numba", max_iter=5, verbose=True).fit(dX, dy)
    assert "LogisticRegression" in capsys.readouterr().err


@pytest.mark.slow
def test_a_worker_lost_mid_fit_gives_the_same_result(client):
    """Kill one worker process while the fit runs: Dask recomputes its chunks from their
    source and the fit ends as it would have."""
    X, y, dX, dy = data(n=4000, chunks=(1000, 1000, 1000, 1000))
    expected = ESTIMATORS["TwoLayerClassifier"]("numba", max_iter=400).fit(X, y)
    pids = list(client.run(os.getpid).values())
    killed = threading.Timer(2.0, os.kill, (pids[0], signal.SIGKILL))
    killed.start()
    got = ESTIMATORS["TwoLayerClassifier"]("numba", max_iter=400).fit(dX, dy)
    assert killed.finished.is_set(), "the fit ended before the worker was killed: nothing was tested"
    assert got.n_iter_ == 400
    for key, value in expected.parameters_.items():
        np.testing.assert_allclose(got.parameters_[key], value, rtol=1e-9, atol=1e-12)
