"""Reliability at the edges: processes forked after threaded kernels, Ctrl-C during a fit,
dtypes that went through pickle, float32 overflow in every backend, huge learning rates,
arrays updated in place that share memory, and inputs that used to slip through."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from conftest import require_backend

import fastnn
from fastnn import logreg, mlp, tuning

COMPILED = ("numba", "cython")


def _problem(n_x=64, n_h=8, m=512, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, m)).astype(dtype)
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    return X, Y, mlp.initialize_parameters(n_x, n_h, 1, random_state=seed, dtype=dtype)


def _threaded_steps(backend):
    """A few training steps at a size that uses threads (forced: from 0 multiply-adds on)."""
    X, Y, params = _problem()
    with tuning.override(parallel_work=0):
        return [mlp.train_step(params, X, Y, 0.5, backend=backend) for _ in range(3)]


def _child(backend, queue):
    queue.put(_threaded_steps(backend))


# --- fork ---------------------------------------------------------------------------------


@pytest.mark.parametrize("child", ["numba", "cython", "numpy"])
@pytest.mark.parametrize("parent", COMPILED)
def test_a_forked_child_runs_after_threaded_kernels(parent, child):
    """GNU OpenMP's thread pool does not survive fork(): a child entering it hung (or numba
    killed it).  fastnn runs the child's kernels on one thread: same answer, no hang."""
    require_backend(parent)
    require_backend(child)
    with tuning.override(num_threads=2):
        _threaded_steps(parent)  # the parent's thread teams exist now
        expected = _threaded_steps(child)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(child, queue))
    process.start()
    try:
        got = queue.get(timeout=120)
    finally:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
    assert process.exitcode == 0
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def _report_threads(queue):
    queue.put(fastnn.get_num_threads())


def test_a_forked_child_has_one_thread():
    with tuning.override(num_threads=2):
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        process = ctx.Process(target=_report_threads, args=(queue,))
        process.start()
        assert queue.get(timeout=60) == 1
        process.join(timeout=30)
        assert fastnn.get_num_threads() == 2


# --- Ctrl-C -------------------------------------------------------------------------------


def _interrupt_after(seconds: float) -> list[float]:
    """Send this process SIGINT in ``seconds``; the list gets the time it was sent."""
    sent = []

    def fire():
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Timer(seconds, fire).start()
    return sent


@pytest.mark.slow
@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("fit", ["nn_model", "TwoLayerClassifier", "optimize"])
def test_ctrl_c_stops_a_fit_within_half_a_second(backend, fit):
    require_backend(backend)
    if fit == "optimize":
        X, Y, _ = _problem(12288, 1, 209)
        run = lambda n: logreg.optimize(np.zeros((12288, 1)), 0.0, X * 0.1, Y, n, 0.005, backend=backend)  # noqa: E731
    elif fit == "nn_model":
        X, Y = fastnn.datasets.load_planar()
        run = lambda n: mlp.nn_model(X, Y, 4, n, random_state=2, backend=backend)  # noqa: E731
    else:
        X, Y = fastnn.datasets.load_planar()
        clf = fastnn.TwoLayerClassifier(random_state=2, backend=backend)
        run = lambda n: clf.set_params(max_iter=n).fit(X.T, Y.ravel())  # noqa: E731
    run(1)  # the kernels compiled (numba, cold cache) before the signal: it is for a running fit
    # Ctrl-C as in an interactive Python: a shell starts a background job with SIGINT ignored
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        sent = _interrupt_after(1.0)
        with pytest.raises(KeyboardInterrupt):
            run(10**8 if fit != "optimize" else 10**6)
    finally:
        signal.signal(signal.SIGINT, previous)
    delay = time.perf_counter() - sent[0]
    # a kernel call lasts a fraction of a second (fastnn._fit.CHUNK_WORK); the bound leaves
    # room for a busy shared host (a fit in one call took 7-12 s to notice)
    assert delay < 1.0, f"KeyboardInterrupt {delay:.2f} s after SIGINT"
    if fit == "TwoLayerClassifier":  # the last completed step, fitted and usable
        assert 0 < clf.n_iter_ < 10**8 and len(clf.cost_history_) == clf.n_iter_
        assert all(np.isfinite(p).all() for p in clf.parameters_.values())
        assert clf.score(X.T, Y.ravel()) > 0.5


# --- dtypes through pickle ----------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "numba", "cython", "python"])
def test_unpickled_float32_stays_float32(backend):
    require_backend(backend)
    X, Y, params = _problem(3, 4, 50, np.float32)
    X, Y, params = pickle.loads(pickle.dumps((X, Y, params)))
    A2, cache = mlp.forward_propagation(X, params, backend=backend)
    assert A2.dtype == np.float32 and cache["Z1"].dtype == np.float32
    assert mlp.nn_model(X, Y, 3, 5, backend=backend)["W1"].dtype == np.float32
    grads, cost = logreg.propagate(np.zeros((3, 1), np.float32), 0.0, X, Y, backend=backend)
    assert grads["dw"].dtype == np.float32 and np.asarray(cost).dtype == np.float32
    clf = fastnn.LogisticRegression(max_iter=5, backend=backend).fit(X.T, Y.ravel())
    clf = pickle.loads(pickle.dumps(clf))
    assert clf.predict_proba(X.T).dtype == np.float32


# --- overflow and huge learning rates, the same in every backend -------------------------


def _optimize(backend, X, Y, lr, iterations=50):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        params, _grads, costs = logreg.optimize(np.zeros((X.shape[0], 1), X.dtype), 0.0, X, Y,
                                               iterations, lr, backend=backend)
    diverged = any(issubclass(w.category, fastnn.DivergenceWarning) for w in caught)
    return params, costs, diverged


@pytest.mark.parametrize("backend", ["python", "numba", "cython"])
def test_float32_overflow_is_seen_by_every_backend(backend):
    """The python backend computes in Python floats: a float32 fit must still stop where
    float32 overflows, with the same DivergenceWarning as the numpy backend."""
    require_backend(backend)
    rng = np.random.default_rng(4)
    X = (rng.standard_normal((3, 40)) * 1e30).astype(np.float32)
    Y = (rng.random((1, 40)) > 0.5).astype(np.float32)
    params, costs, diverged = _optimize(backend, X, Y, 1e5, 200)
    ref_params, ref_costs, ref_diverged = _optimize("numpy", X, Y, 1e5, 200)
    assert diverged and ref_diverged and len(costs) == len(ref_costs)
    assert np.isfinite(params["w"]).all()
    np.testing.assert_allclose(params["w"], ref_params["w"], rtol=1e-5)


@pytest.mark.parametrize("backend", ["python", "numba", "cython"])
def test_a_learning_rate_near_the_largest_float_takes_the_same_steps(backend):
    require_backend(backend)
    X, Y, _ = _problem(5, 1, 30)
    params, costs, diverged = _optimize(backend, X, Y, 1e308, 10**12)  # no 10^12 history either
    ref_params, ref_costs, ref_diverged = _optimize("numpy", X, Y, 1e308, 10**12)
    assert costs and len(costs) == len(ref_costs) and diverged == ref_diverged
    assert np.isfinite(params["w"]).all()
    np.testing.assert_allclose(params["w"], ref_params["w"], rtol=1e-12)


# --- arrays that share memory -------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_parameters_sharing_memory_are_refused(backend):
    X, Y, params = _problem(3, 2, 20)
    twin = dict(params, b2=params["b1"][:1])  # a view of b1
    with pytest.raises(ValueError, match="b1 and b2 share memory"):
        mlp.train_step(twin, X, Y, backend=backend)
    square = mlp.initialize_parameters(3, 3, 3, random_state=0)
    square["W2"] = square["W1"]  # the very same array twice
    with pytest.raises(ValueError, match="W1 and W2 share memory"):
        mlp.train_step(square, X, (np.random.rand(3, 20) > 0.5).astype(float), backend=backend)
    before = {k: v.copy() for k, v in params.items()}
    assert all(np.array_equal(params[k], before[k]) for k in params)


# --- inputs that used to slip through -----------------------------------------------------


def test_strings_inside_object_arrays_are_refused():
    X, Y, _ = _problem(2, 1, 3)
    with pytest.raises(TypeError, match="w must be an array of numbers"):
        logreg.propagate(np.array([["1.5"], ["2"]], dtype=object), 0.0, X, Y)


def test_a_torch_tensor_that_requires_grad_says_detach():
    torch = pytest.importorskip("torch")
    X, Y, _ = _problem(2, 1, 3)
    with pytest.raises(TypeError, match="detach"):
        logreg.propagate(torch.ones((2, 1), requires_grad=True), 0.0, X, Y)


def test_huge_numbers_name_their_argument():
    X, Y, _ = _problem(2, 1, 3)
    with pytest.raises(ValueError, match="learning_rate is too large"):
        logreg.optimize(np.zeros((2, 1)), 0.0, X, Y, learning_rate=10**400)
    with pytest.raises(ValueError, match="n_h=100000000000000000000"):
        mlp.initialize_parameters(2, 10**20, 1)
    with pytest.raises(ValueError, match=r"b = 1e\+300 overflows float32"):
        logreg.propagate(np.zeros((2, 1), np.float32), 1e300, X.astype(np.float32), Y)


def test_big_endian_parameters_are_updated_in_place():
    X, Y, params = _problem(3, 2, 20)
    swapped = {k: v.astype(v.dtype.newbyteorder(">")) for k, v in params.items()}
    expected = mlp.train_step(params, X, Y)
    assert mlp.train_step(swapped, X, Y) == expected
    for k in params:
        assert swapped[k].dtype.byteorder == ">"
        np.testing.assert_array_equal(swapped[k], params[k])


# --- the command line ---------------------------------------------------------------------


def _fastnn(*args, **env):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "fastnn", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env})


def test_bench_refuses_an_unwritable_output_before_running(tmp_path):
    run = _fastnn("bench", "--json", str(tmp_path / "missing" / "run.json"))
    assert run.returncode == 2 and "does not exist" in run.stderr and "fastnn bench --" not in run.stdout
    assert not (tmp_path / "missing").exists()
    run = _fastnn("bench", "--plot", str(tmp_path / "nowhere" / "chart.png"))
    assert run.returncode == 2 and "--plot" in run.stderr


def test_info_reports_a_bad_fastnn_backend():
    run = _fastnn("info", FASTNN_BACKEND="bogus")
    assert run.returncode == 0, run.stderr
    assert "default backend: unknown fastnn backend 'bogus' (from $FASTNN_BACKEND)" in run.stdout
